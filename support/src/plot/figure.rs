//! [`Figure`]: a rendered PNG that saves atomically and shows inline in evcxr.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use plotters::coord::Shift;
use plotters::drawing::{DrawingArea, IntoDrawingArea};
use plotters::style::WHITE;
use plotters_bitmap::bitmap_pixel::RGBPixel;
use plotters_bitmap::BitMapBackend;

use super::canvas::Canvas;
use super::{ensure_font, plot_err};
use crate::error::{Error, Result};

/// The drawing area every figure function draws on.
pub(crate) type Area<'a> = DrawingArea<Canvas<'a>, Shift>;

/// Largest width or height of a figure, in pixels (a guard against absurd buffers).
pub(crate) const MAX_SIDE: u32 = 8192;

/// A finished figure: PNG bytes and the image size.
#[derive(Clone, PartialEq, Eq)]
pub struct Figure {
    png: Vec<u8>,
    width: u32,
    height: u32,
}

impl std::fmt::Debug for Figure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Figure {{ {}x{} px, {} PNG bytes }}",
            self.width,
            self.height,
            self.png.len()
        )
    }
}

impl Figure {
    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.width, self.height)
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
    pub fn evcxr_display(&self) {
        println!("{}", self.evcxr_content());
    }

    /// The text [`evcxr_display`](Self::evcxr_display) prints.
    fn evcxr_content(&self) -> String {
        format!(
            "EVCXR_BEGIN_CONTENT image/png\n{}\nEVCXR_END_CONTENT",
            base64::engine::general_purpose::STANDARD.encode(&self.png)
        )
    }
}

/// Draws a `width` x `height` figure on a white background with `draw` and encodes it as PNG.
pub(crate) fn render(
    width: u32,
    height: u32,
    draw: impl FnOnce(&Area<'_>) -> Result<()>,
) -> Result<Figure> {
    ensure_font()?;
    if width == 0 || height == 0 || width > MAX_SIDE || height > MAX_SIDE {
        return Err(Error::invalid(
            "figure size",
            format!("{width}x{height}"),
            format!("1 to {MAX_SIDE} pixels per side"),
        ));
    }
    let mut buf = vec![255u8; width as usize * height as usize * 3];
    {
        let backend = BitMapBackend::<RGBPixel>::with_buffer_and_format(&mut buf, (width, height))
            .map_err(plot_err)?;
        let root = Canvas::new(backend).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        draw(&root)?;
        root.present().map_err(plot_err)?;
    }
    let img = image::RgbImage::from_raw(width, height, buf)
        .ok_or_else(|| Error::Plot("pixel buffer does not match the figure size".into()))?;
    let mut png = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .map_err(plot_err)?;
    Ok(Figure { png, width, height })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use plotters::style::RED;

    /// Decodes a figure back to RGB pixels, checking the size it claims.
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
}
