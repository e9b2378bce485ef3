//! [`Figure`]: a rendered PNG that saves atomically and shows inline in evcxr; and the scale
//! figures are drawn at ([`set_figure_scale`], [`with_figure_scale`]).
//!
//! Every figure is laid out in layout pixels (CSS pixels in a browser) and drawn `scale` times
//! larger: at scale 2 a figure laid out as 640x440 is a 1280x880 PNG with the same layout, every
//! line, marker and glyph at twice the resolution. In evcxr a scaled figure shows through an
//! HTML `<img>` whose `width` and `height` are the layout size, so it takes the same room as at
//! scale 1 and is crisp on a HiDPI screen (matplotlib's `figure.dpi` with the "retina" format).
//!
//! The scale is the innermost [`with_figure_scale`] on this thread, else the environment
//! variable [`FIGURE_SCALE_ENV`], else 1. The environment variable is the process-wide setting
//! because evcxr gives every notebook cell its own copy of every Rust `static`: a setting kept
//! in a static by one cell would be invisible to the next, while the environment is shared by
//! all cells of a kernel.

use std::cell::Cell;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::style::WHITE;
use plotters_bitmap::bitmap_pixel::RGBPixel;
use plotters_bitmap::BitMapBackend;

use super::canvas::{Canvas, MAX_SCALE};
use super::{ensure_font, plot_err};
use crate::error::{Error, Result};

/// The drawing area every figure function draws on.
pub(crate) type Area<'a> = DrawingArea<Canvas<'a>, Shift>;

/// Largest width or height of a figure, in pixels (a guard against absurd buffers).
pub(crate) const MAX_SIDE: u32 = 8192;

/// The environment variable holding the figure scale of the process: `1` (the default) to `4`.
///
/// Set it with [`set_figure_scale`], or before starting Jupyter (`XRAY_FIGURE_SCALE=2 jupyter lab`).
pub const FIGURE_SCALE_ENV: &str = "XRAY_FIGURE_SCALE";

/// Refuses scales outside 1 to 4.
fn check_scale(scale: u32) -> Result<u32> {
    if (1..=MAX_SCALE).contains(&scale) {
        Ok(scale)
    } else {
        Err(Error::invalid(
            "figure scale",
            scale,
            format!("1 (plain) to {MAX_SCALE}, e.g. 2 for HiDPI screens"),
        ))
    }
}

/// The scale an environment value asks for: 1 when unset or empty, an error naming the
/// variable when it is no whole number from 1 to 4.
fn scale_from_env(value: Option<&str>) -> Result<u32> {
    let bad = |v: &str| {
        Error::invalid(
            FIGURE_SCALE_ENV,
            format!("{v:?}"),
            format!("a whole number from 1 to {MAX_SCALE} (2 for HiDPI screens), or unset"),
        )
    };
    match value.map(str::trim) {
        None | Some("") => Ok(1),
        Some(v) => v
            .parse::<u32>()
            .ok()
            .and_then(|n| check_scale(n).ok())
            .ok_or_else(|| bad(v)),
    }
}

/// Sets the scale of every figure drawn afterwards in this process, by setting
/// [`FIGURE_SCALE_ENV`]: `2` draws figures at twice the resolution for HiDPI ("retina")
/// screens, at the same size on the page; `1` is the default.
///
/// Like matplotlib's `rcParams["figure.dpi"]`. In a notebook, call it once in a setup cell:
/// unlike a `static`, the environment is shared by all of evcxr's cells. Set it before drawing
/// from several threads (changing the environment while other threads read it is unsafe on some
/// platforms). Scales outside 1 to 4 are refused with [`Error::InvalidArgument`].
pub fn set_figure_scale(scale: u32) -> Result<()> {
    std::env::set_var(FIGURE_SCALE_ENV, check_scale(scale)?.to_string());
    Ok(())
}

thread_local! {
    /// The scales of the [`with_figure_scale`] calls running on this thread, innermost last.
    static SCALE_OVERRIDE: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Runs `draw` with figures drawn at `scale` on this thread, whatever the process-wide setting:
/// `with_figure_scale(2, || plot::histogram(&sizes, 0, "width"))?`.
///
/// Like matplotlib's `rc_context`; the `xray` CLI draws through it so that its figures follow
/// its own option. Scales outside 1 to 4 are refused with [`Error::InvalidArgument`] before
/// `draw` runs.
pub fn with_figure_scale<T>(scale: u32, draw: impl FnOnce() -> T) -> Result<T> {
    let scale = check_scale(scale)?;
    /// Puts the previous override back, also when `draw` panics.
    struct Restore(Option<u32>);
    impl Drop for Restore {
        fn drop(&mut self) {
            SCALE_OVERRIDE.with(|s| s.set(self.0));
        }
    }
    let _restore = Restore(SCALE_OVERRIDE.with(|s| s.replace(Some(scale))));
    Ok(draw())
}

/// The scale the next figure is drawn at: the innermost [`with_figure_scale`] on this thread,
/// else [`FIGURE_SCALE_ENV`], else 1. Errors when the environment variable holds no scale.
pub fn figure_scale() -> Result<u32> {
    match SCALE_OVERRIDE.with(Cell::get) {
        Some(scale) => Ok(scale),
        None => scale_from_env(std::env::var(FIGURE_SCALE_ENV).ok().as_deref()),
    }
}

/// A finished figure: PNG bytes, the image size, and the scale it was drawn at.
#[derive(Clone, PartialEq, Eq)]
pub struct Figure {
    png: Vec<u8>,
    width: u32,
    height: u32,
    scale: u32,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Figure {{ {}x{} px at scale {}, {} PNG bytes }}",
            self.width,
            self.height,
            self.scale,
            self.png.len()
        )
    }
}

impl Figure {
    /// Width of the PNG in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height of the PNG in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)` of the PNG in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    /// How many PNG pixels each layout pixel took: 1, or 2 for a HiDPI figure.
    pub fn scale(&self) -> u32 {
        self.scale
    }

    /// `(width, height)` of the layout: the size the figure takes on a page, whatever its scale.
    pub fn display_size(&self) -> (u32, u32) {
        (self.width / self.scale, self.height / self.scale)
    }

    /// The encoded PNG file.
    pub fn png_bytes(&self) -> &[u8] {
        &self.png
    }

    /// Writes the PNG to `path` atomically: a temporary file in the same folder, then a rename.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let name = path
            .file_name()
            .ok_or_else(|| Error::invalid("path", path.display(), "a file path, e.g. roc.png"))?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.tmp", std::process::id()));
        let tmp = path.with_file_name(tmp_name);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&self.png)?;
            file.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::io(&tmp, e));
        }
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            Error::io(path, e)
        })
    }

    /// Prints the figure in evcxr's rich-output protocol, so a cell ending with a `Figure` shows it.
    ///
    /// At scale 1 the output is the PNG (`image/png`). A scaled figure is an HTML `<img>` of the
    /// PNG with `width` and `height` set to its layout size (`text/html`; evcxr passes no
    /// metadata with `image/png`, which is how IPython sizes its "retina" PNGs), so it shows at
    /// the size of its 1x version, crisp on a HiDPI screen. JupyterLab shows it also in an
    /// untrusted notebook (its sanitizer keeps `<img>` with a `data:` source, `width` and
    /// `height`), and nbconvert's HTML puts the `<img>` in as it is.
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_content());
    }

    /// The text [`evcxr_display`](Self::evcxr_display) prints.
    fn evcxr_content(&self) -> String {
        let png = base64::engine::general_purpose::STANDARD.encode(&self.png);
        if self.scale == 1 {
            return format!("EVCXR_BEGIN_CONTENT image/png\n{png}\nEVCXR_END_CONTENT");
        }
        let (w, h) = self.display_size();
        format!(
            "EVCXR_BEGIN_CONTENT text/html\n<img src=\"data:image/png;base64,{png}\" width=\"{w}\" height=\"{h}\" alt=\"figure, {w}x{h}, drawn at {}x\">\nEVCXR_END_CONTENT",
            self.scale
        )
    }
}

/// Draws a `width` x `height` figure (layout pixels) on a white background with `draw` and
/// encodes it as PNG, at the current [`figure_scale`].
pub(crate) fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<Figure> {
    ensure_font()?;
    let scale = figure_scale()?;
    let too_big = |side: u32| u64::from(side) * u64::from(scale) > u64::from(MAX_SIDE);
    if width == 0 || height == 0 || too_big(width) || too_big(height) {
        return Err(Error::invalid(
            "figure size",
            format!("{width}x{height} at scale {scale}"),
            format!("1 to {MAX_SIDE} pixels per side once scaled"),
        ));
    }
    let (width, height) = (width * scale, height * scale);
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buf, (width, height))
            .map_err(plot_err)?;
        let root = Canvas::new(backend, scale).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let img = image::RgbImage::from_raw(width, height, buf)
        .ok_or_else(|| Error::Plot("pixel buffer does not match the figure size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(plot_err)?;
    Ok(Figure {
        png,
        width,
        height,
        scale,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use plotters::style::RED;

    /// Decodes a figure back to RGB pixels, checking the size it claims.
    /// Writes a figure into the folder named by `XRAY_TEST_FIGURES`, when set, for a look by eye.
    pub(crate) fn save_for_review(fig: &Figure, name: &str) {
        if let Some(dir) = std::env::var_os("XRAY_TEST_FIGURES") {
            fig.save(std::path::Path::new(&dir).join(name)).unwrap();
        }
    }

    pub(crate) fn decode(fig: &Figure) -> image::RgbImage {
        let img = image::load_from_memory(fig.png_bytes())
            .expect("figures are valid PNGs")
            .to_rgb8();
        assert_eq!(img.dimensions(), fig.size());
        img
    }

    #[test]
    fn render_encodes_png_of_the_size_asked() {
        let fig = render(40, 30, |root| {
            root.draw_pixel((5, 7), &RED).map_err(plot_err)?;
            Ok(())
        })
        .unwrap();
        let img = decode(&fig);
        assert_eq!(img.get_pixel(5, 7).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(6, 7).0, [255, 255, 255]);
        assert_eq!(&fig.png_bytes()[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn bad_sizes_are_errors() {
        assert!(matches!(
            render(0, 10, |_| Ok(())),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(render(MAX_SIDE + 1, 10, |_| Ok(())).is_err());
    }

    #[test]
    fn save_is_atomic_and_round_trips() {
        let fig = render(8, 8, |_| Ok(())).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fig.png");
        fig.save(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), fig.png_bytes());
        // Only the final file remains: the temporary one was renamed.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let missing = dir.path().join("no/such/dir/fig.png");
        assert!(matches!(fig.save(&missing), Err(Error::Io { .. })));
    }

    #[test]
    fn evcxr_content_wraps_base64_png() {
        let fig = render(4, 4, |_| Ok(())).unwrap();
        let text = fig.evcxr_content();
        let body = text
            .strip_prefix("EVCXR_BEGIN_CONTENT image/png\n")
            .and_then(|t| t.strip_suffix("\nEVCXR_END_CONTENT"))
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(body)
            .unwrap();
        assert_eq!(bytes, fig.png_bytes());
    }

    #[test]
    fn scale_comes_from_the_environment_value() {
        assert_eq!(scale_from_env(None).unwrap(), 1);
        assert_eq!(scale_from_env(Some("")).unwrap(), 1);
        assert_eq!(scale_from_env(Some("2")).unwrap(), 2);
        assert_eq!(scale_from_env(Some(" 4 ")).unwrap(), 4);
        for bad in ["0", "5", "1.5", "two", "-1"] {
            let e = scale_from_env(Some(bad)).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidArgument { name, .. } if *name == FIGURE_SCALE_ENV),
                "{bad}: {e}"
            );
            assert!(e.to_string().contains("1 to 4"), "{e}");
        }
    }

    #[test]
    fn with_figure_scale_nests_and_restores() {
        let outer = figure_scale().unwrap();
        let inner = with_figure_scale(2, || {
            let nested = with_figure_scale(3, || figure_scale().unwrap()).unwrap();
            (nested, figure_scale().unwrap())
        })
        .unwrap();
        assert_eq!(inner, (3, 2));
        assert_eq!(figure_scale().unwrap(), outer);
        // Restored after a panic too.
        let caught = std::panic::catch_unwind(|| with_figure_scale(4, || panic!("in a figure")));
        assert!(caught.is_err());
        assert_eq!(figure_scale().unwrap(), outer);
        for bad in [0, 5] {
            let e = with_figure_scale(bad, || ()).unwrap_err();
            assert!(matches!(
                e,
                Error::InvalidArgument {
                    name: "figure scale",
                    ..
                }
            ));
            assert!(set_figure_scale(bad).is_err());
        }
    }

    #[test]
    fn scaled_render_is_bigger_with_the_same_layout() {
        let draw = |root: &Area<'_>| -> Result<()> {
            root.draw_pixel((5, 7), &RED).map_err(plot_err)?;
            Ok(())
        };
        let fig = with_figure_scale(2, || render(40, 30, draw))
            .unwrap()
            .unwrap();
        assert_eq!(fig.size(), (80, 60));
        assert_eq!(fig.display_size(), (40, 30));
        assert_eq!(fig.scale(), 2);
        let img = decode(&fig);
        // Layout pixel (5, 7) is the 2x2 block at (10, 14).
        for (x, y) in [(10, 14), (11, 14), (10, 15), (11, 15)] {
            assert_eq!(img.get_pixel(x, y).0, [255, 0, 0], "({x}, {y})");
        }
        for (x, y) in [(9, 14), (12, 14), (10, 13), (10, 16)] {
            assert_eq!(img.get_pixel(x, y).0, [255, 255, 255], "({x}, {y})");
        }
        // The size guard applies to the scaled bitmap.
        assert!(
            with_figure_scale(4, || render(MAX_SIDE / 2, 10, |_| Ok(())))
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn scaled_figures_show_as_html_img_at_layout_size() {
        let fig = with_figure_scale(2, || render(40, 30, |_| Ok(())))
            .unwrap()
            .unwrap();
        let text = fig.evcxr_content();
        let html = text
            .strip_prefix("EVCXR_BEGIN_CONTENT text/html\n")
            .and_then(|t| t.strip_suffix("\nEVCXR_END_CONTENT"))
            .unwrap();
        assert!(
            !html.contains('\n'),
            "one line: evcxr reads the content line by line"
        );
        assert!(
            html.starts_with("<img src=\"data:image/png;base64,"),
            "{html}"
        );
        assert!(html.contains(" width=\"40\" height=\"30\""), "{html}");
        let b64 = html
            .trim_start_matches("<img src=\"data:image/png;base64,")
            .split('"')
            .next()
            .unwrap();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(bytes, fig.png_bytes());
        assert!(format!("{fig:?}").starts_with("Figure { 80x60 px at scale 2, "));
    }
}
