//! Images: [`imshow`] (one image, matplotlib-like pixel axes), [`image_grid`] (many images with
//! titles) and [`saliency_overlay`] (grey X-ray under a semi-transparent heat map).

use ndarray::ArrayView2;
use plotters::chart::ChartBuilder;
use plotters::element::{PathElement, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{RGBColor, BLACK};

use super::figure::{render, Area, MAX_SIDE};
use super::{plot_err, text, tick_label, Colormap, Figure, Pixel};
use crate::error::{Error, Result};

/// Settings of [`imshow`] (and [`image_grid_with`](super::image_grid_with)): colormap, title, axes, size, value range.
#[derive(Debug, Clone, PartialEq)]
pub struct ImshowOptions {
    /// How values become colours; grey by default.
    pub colormap: Colormap,
    /// A title above the image (lines split on `\n`).
    pub title: Option<String>,
    /// Pixel-index ticks on the left and bottom, like matplotlib's `imshow` (default on).
    pub axes: bool,
    /// Length in pixels of the image's longer side on the figure (default 400).
    pub size: u32,
    /// Values drawn as the colormap's lowest colour (default 0.0; matplotlib's `vmin`).
    pub vmin: f32,
    /// Values drawn as the colormap's highest colour (default 1.0; matplotlib's `vmax`).
    pub vmax: f32,
}

impl Default for ImshowOptions {
    fn default() -> Self {
        ImshowOptions {
            colormap: Colormap::Gray,
            title: None,
            axes: true,
            size: 400,
            vmin: 0.0,
            vmax: 1.0,
        }
    }
}

impl ImshowOptions {
    /// The defaults: grey, no title, axes on, 400 px, values 0..1.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the colormap.
    pub fn colormap(mut self, colormap: Colormap) -> Self {
        self.colormap = colormap;
        self
    }

    /// Sets the title.
    pub fn title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Turns the pixel axes on or off.
    pub fn axes(mut self, axes: bool) -> Self {
        self.axes = axes;
        self
    }

    /// Sets the drawn length of the image's longer side, in pixels.
    pub fn size(mut self, size: u32) -> Self {
        self.size = size;
        self
    }

    /// Sets the value range mapped onto the colormap (`vmin`, `vmax`).
    pub fn range(mut self, vmin: f32, vmax: f32) -> Self {
        self.vmin = vmin;
        self.vmax = vmax;
        self
    }

    /// Checks size and value range.
    fn check(&self) -> Result<()> {
        if self.size == 0 || self.size > MAX_SIDE / 2 {
            return Err(Error::invalid(
                "size",
                self.size,
                format!("1 to {} pixels", MAX_SIDE / 2),
            ));
        }
        if !(self.vmin.is_finite() && self.vmax.is_finite() && self.vmin < self.vmax) {
            return Err(Error::invalid(
                "vmin/vmax",
                format!("{}/{}", self.vmin, self.vmax),
                "finite numbers with vmin < vmax",
            ));
        }
        Ok(())
    }
}

/// A grey image as f32 values, row-major.
struct Gray {
    width: usize,
    height: usize,
    pixels: Vec<f32>,
}

impl Gray {
    /// Copies a view, rejecting empty images and NaN values.
    fn from_view<P: Pixel>(view: ArrayView2<'_, P>, name: &'static str) -> Result<Self> {
        let (height, width) = view.dim();
        if width == 0 || height == 0 {
            return Err(Error::invalid(
                name,
                format!("{height}x{width} (rows x columns)"),
                "an image with at least one pixel",
            ));
        }
        let pixels: Vec<f32> = view.iter().map(|p| p.to_unit()).collect();
        if let Some(i) = pixels.iter().position(|v| v.is_nan()) {
            return Err(Error::invalid(
                name,
                format!("NaN at row {}, column {}", i / width, i % width),
                "numbers (no NaN)",
            ));
        }
        Ok(Gray {
            width,
            height,
            pixels,
        })
    }

    /// Resamples to `w` x `h`: box average where it shrinks, nearest pixel where it grows.
    fn resample(&self, w: usize, h: usize) -> Vec<f32> {
        let cols = source_spans(self.width, w);
        let rows = source_spans(self.height, h);
        let mut out = Vec::with_capacity(w * h);
        for &(r0, r1) in &rows {
            for &(c0, c1) in &cols {
                let mut sum = 0.0f64;
                for r in r0..r1 {
                    let row = &self.pixels[r * self.width..(r + 1) * self.width];
                    sum += row[c0..c1].iter().map(|&v| f64::from(v)).sum::<f64>();
                }
                out.push((sum / ((r1 - r0) * (c1 - c0)) as f64) as f32);
            }
        }
        out
    }
}

/// For each of `to` output pixels, the half-open range of the `from` source pixels it covers (never empty).
fn source_spans(from: usize, to: usize) -> Vec<(usize, usize)> {
    let step = from as f64 / to as f64;
    (0..to)
        .map(|i| {
            if step <= 1.0 {
                let s = (((i as f64 + 0.5) * step) as usize).min(from - 1);
                (s, s + 1)
            } else {
                let s = ((i as f64 * step).round() as usize).min(from - 1);
                let e = (((i + 1) as f64 * step).round() as usize).clamp(s + 1, from);
                (s, e)
            }
        })
        .collect()
}

/// A heat map drawn over a panel: values in [0, 1], opacity `max_alpha * value`.
struct Overlay<'a> {
    heat: &'a Gray,
    colormap: Colormap,
    max_alpha: f32,
}

/// Everything one image panel needs.
struct Panel<'a> {
    image: &'a Gray,
    colormap: Colormap,
    vmin: f32,
    vmax: f32,
    title: Option<&'a str>,
    title_size: f64,
    axes: bool,
    overlay: Option<Overlay<'a>>,
}

/// Pixel margins around an image panel: (left, right, top, bottom), title excluded.
fn panel_margins(axes: bool) -> (u32, u32, u32, u32) {
    if axes {
        (44, 14, 8, 30)
    } else {
        (4, 4, 4, 4)
    }
}

/// Height of a title block with `lines` lines at `size` px.
fn title_height(lines: usize, size: f64) -> u32 {
    if lines == 0 {
        0
    } else {
        (lines as f64 * size * 1.2).ceil() as u32 + 6
    }
}

/// Lines of an optional title (none for `None` or an empty string).
fn title_lines(title: Option<&str>) -> usize {
    title.map_or(0, |t| if t.is_empty() { 0 } else { t.lines().count() })
}

/// Size of the image drawn for an image of `w` x `h` whose longer side becomes `size`.
fn fitted(w: usize, h: usize, size: u32) -> (u32, u32) {
    let scale = f64::from(size) / w.max(h) as f64;
    let fit = |n: usize| ((n as f64 * scale).round() as u32).max(1);
    (fit(w), fit(h))
}

/// Draws centred multi-line text with its top at `top`.
fn draw_lines(area: &Area<'_>, lines: &str, top: i32, size: f64) -> Result<()> {
    let (w, _) = area.dim_in_pixel();
    let style = text(size).pos(Pos::new(HPos::Center, VPos::Top));
    for (i, line) in lines.lines().enumerate() {
        let y = top + (i as f64 * size * 1.2).round() as i32;
        area.draw(&Text::new(
            line.to_string(),
            (w as i32 / 2, y),
            style.clone(),
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// Draws one panel in `area`: title on top, the image as large as fits with its aspect kept, optional axes.
fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> Result<()> {
    let (aw, ah) = area.dim_in_pixel();
    let (left, right, top, bottom) = panel_margins(panel.axes);
    let title_h = title_height(title_lines(panel.title), panel.title_size);
    if let Some(title) = panel.title {
        draw_lines(area, title, 4, panel.title_size)?;
    }
    let avail_w = aw.saturating_sub(left + right);
    let avail_h = ah.saturating_sub(title_h + top + bottom);
    if avail_w == 0 || avail_h == 0 {
        return Err(Error::Plot(format!(
            "a {aw}x{ah} px panel leaves no room for the image"
        )));
    }
    let img = panel.image;
    let scale = (f64::from(avail_w) / img.width as f64).min(f64::from(avail_h) / img.height as f64);
    let pw = ((img.width as f64 * scale).round() as u32).clamp(1, avail_w);
    let ph = ((img.height as f64 * scale).round() as u32).clamp(1, avail_h);
    let x0 = (left + (avail_w - pw) / 2) as i32;
    let y0 = (title_h + top + (avail_h - ph) / 2) as i32;

    let values = img.resample(pw as usize, ph as usize);
    let heat = panel
        .overlay
        .as_ref()
        .map(|o| o.heat.resample(pw as usize, ph as usize));
    let span = panel.vmax - panel.vmin;
    for (i, &v) in values.iter().enumerate() {
        let mut color = panel.colormap.color((v - panel.vmin) / span);
        if let (Some(o), Some(heat)) = (&panel.overlay, &heat) {
            let h = heat[i].clamp(0.0, 1.0);
            color = blend(color, o.colormap.color(h), o.max_alpha * h);
        }
        let (x, y) = ((i % pw as usize) as i32, (i / pw as usize) as i32);
        area.draw_pixel((x0 + x, y0 + y), &color)
            .map_err(plot_err)?;
    }

    if panel.axes {
        let sub = area
            .clone()
            .shrink((x0 - left as i32, y0), (pw + left, ph + bottom));
        let (w, h) = (img.width as f64, img.height as f64);
        let mut chart = ChartBuilder::on(&sub)
            .x_label_area_size(bottom)
            .y_label_area_size(left)
            .build_cartesian_2d(-0.5..w - 0.5, -(h - 0.5)..0.5)
            .map_err(plot_err)?;
        let x_fmt = |v: &f64| tick_label(*v);
        let y_fmt = |v: &f64| tick_label(-*v);
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(6)
            .y_labels(6)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .label_style(text(12.0))
            .draw()
            .map_err(plot_err)?;
        // The frame (matplotlib's spines) around the image.
        let (x1, y1) = (x0 + pw as i32, y0 + ph as i32);
        area.draw(&PathElement::new(
            vec![
                (x0 - 1, y0 - 1),
                (x1, y0 - 1),
                (x1, y1),
                (x0 - 1, y1),
                (x0 - 1, y0 - 1),
            ],
            BLACK,
        ))
        .map_err(plot_err)?;
    }
    Ok(())
}

/// `base` covered by `top` with opacity `alpha` in [0, 1].
fn blend(base: RGBColor, top: RGBColor, alpha: f32) -> RGBColor {
    let a = alpha.clamp(0.0, 1.0);
    let mix = |b: u8, t: u8| (f32::from(b) * (1.0 - a) + f32::from(t) * a).round() as u8;
    RGBColor(mix(base.0, top.0), mix(base.1, top.1), mix(base.2, top.2))
}

/// Shows one image like matplotlib's `imshow`: values in [`vmin`, `vmax`] (default [0, 1];
/// `u8` pixels are scaled from 0..255) through a colormap, aspect ratio kept, optional title
/// and pixel-index axes (row 0 at the top).
///
/// ```no_run
/// # use support::plot::{imshow, ImshowOptions, Colormap};
/// let img = ndarray::Array2::<f32>::zeros((130, 130));
/// let fig = imshow(&img, &ImshowOptions::new().title("NORMAL").colormap(Colormap::Viridis))?;
/// # Ok::<(), support::Error>(())
/// ```
pub fn imshow<'a, P: Pixel + 'a>(
    image: impl Into<ArrayView2<'a, P>>,
    options: &ImshowOptions,
) -> Result<Figure> {
    options.check()?;
    let img = Gray::from_view(image.into(), "image")?;
    let (pw, ph) = fitted(img.width, img.height, options.size);
    let (left, right, top, bottom) = panel_margins(options.axes);
    let title_size = 16.0;
    let title_h = title_height(title_lines(options.title.as_deref()), title_size);
    let width = (pw + left + right).max(120);
    let height = ph + title_h + top + bottom;
    render(width, height, |root| {
        draw_panel(
            root,
            &Panel {
                image: &img,
                colormap: options.colormap,
                vmin: options.vmin,
                vmax: options.vmax,
                title: options.title.as_deref().filter(|t| !t.is_empty()),
                title_size,
                axes: options.axes,
                overlay: None,
            },
        )
    })
}

/// Shows many images in a grid, `columns` wide, each with its title (grey, no axes, 200 px).
///
/// `titles` is empty (no titles) or holds one title per image; a title may have several
/// lines (`"NORMAL\np = 0.93"`). Without titles pass `&[] as &[&str]`.
pub fn image_grid<'a, P, V, T>(
    images: impl IntoIterator<Item = V>,
    titles: &[T],
    columns: usize,
) -> Result<Figure>
where
    P: Pixel + 'a,
    V: Into<ArrayView2<'a, P>>,
    T: AsRef<str>,
{
    image_grid_with(
        images,
        titles,
        columns,
        &ImshowOptions::new().axes(false).size(200),
    )
}

/// [`image_grid`] with options: `size` is each cell's image size, `title` a title over the
/// whole grid, and `colormap`, `axes`, `vmin`/`vmax` apply to every image.
pub fn image_grid_with<'a, P, V, T>(
    images: impl IntoIterator<Item = V>,
    titles: &[T],
    columns: usize,
    options: &ImshowOptions,
) -> Result<Figure>
where
    P: Pixel + 'a,
    V: Into<ArrayView2<'a, P>>,
    T: AsRef<str>,
{
    options.check()?;
    let images: Vec<Gray> = images
        .into_iter()
        .map(|v| Gray::from_view(v.into(), "images"))
        .collect::<Result<_>>()?;
    if images.is_empty() {
        return Err(Error::invalid("images", "none", "at least one image"));
    }
    if !titles.is_empty() && titles.len() != images.len() {
        return Err(Error::invalid(
            "titles",
            format!("{} titles", titles.len()),
            format!("none or one per image ({} images)", images.len()),
        ));
    }
    if columns == 0 {
        return Err(Error::invalid("columns", 0, "at least 1"));
    }
    let columns = columns.min(images.len());
    let rows = images.len().div_ceil(columns);
    let cell_title_size = 14.0;
    let max_lines = titles
        .iter()
        .map(|t| title_lines(Some(t.as_ref())))
        .max()
        .unwrap_or(0);
    let (left, right, top, bottom) = panel_margins(options.axes);
    let cell_w = options.size + left + right + 16;
    let cell_h = options.size + title_height(max_lines, cell_title_size) + top + bottom + 14;
    let suptitle_size = 18.0;
    let suptitle_h = title_height(title_lines(options.title.as_deref()), suptitle_size);
    let width = cell_w as u64 * columns as u64;
    let height = cell_h as u64 * rows as u64 + u64::from(suptitle_h);
    if width > u64::from(MAX_SIDE) || height > u64::from(MAX_SIDE) {
        return Err(Error::invalid(
            "images",
            format!("{} images in {columns} columns of {} px", images.len(), options.size),
            format!("a grid of at most {MAX_SIDE} px per side: use more columns, fewer images or a smaller size"),
        ));
    }
    render(width as u32, height as u32, |root| {
        let grid_area = if let Some(t) = options.title.as_deref().filter(|t| !t.is_empty()) {
            draw_lines(root, t, 4, suptitle_size)?;
            root.clone().margin(suptitle_h, 0, 0, 0)
        } else {
            root.clone()
        };
        let cells = grid_area.split_evenly((rows, columns));
        for (i, (img, cell)) in images.iter().zip(cells.iter()).enumerate() {
            let title = titles.get(i).map(|t| t.as_ref()).filter(|t| !t.is_empty());
            draw_panel(
                cell,
                &Panel {
                    image: img,
                    colormap: options.colormap,
                    vmin: options.vmin,
                    vmax: options.vmax,
                    title,
                    title_size: cell_title_size,
                    axes: options.axes,
                    overlay: None,
                },
            )?;
        }
        Ok(())
    })
}

/// A grey X-ray with a saliency map laid over it as a semi-transparent `jet` heat map.
///
/// `saliency` has the image's shape; it is scaled to [0, 1] by its own minimum and maximum,
/// and each pixel's opacity grows with its saliency (up to 60 %), so unimportant regions show
/// the plain X-ray. A constant saliency map draws no heat.
pub fn saliency_overlay<'a, 'b, P: Pixel + 'a>(
    image: impl Into<ArrayView2<'a, P>>,
    saliency: impl Into<ArrayView2<'b, f32>>,
    title: Option<&str>,
) -> Result<Figure> {
    let img = Gray::from_view(image.into(), "image")?;
    let sal = Gray::from_view(saliency.into(), "saliency")?;
    if (sal.height, sal.width) != (img.height, img.width) {
        return Err(Error::invalid(
            "saliency",
            format!("shape {}x{}", sal.height, sal.width),
            format!("the image's shape {}x{}", img.height, img.width),
        ));
    }
    if let Some(v) = sal.pixels.iter().find(|v| v.is_infinite()) {
        return Err(Error::invalid("saliency", v, "finite numbers"));
    }
    let (lo, hi) = sal
        .pixels
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let heat = Gray {
        width: sal.width,
        height: sal.height,
        pixels: sal
            .pixels
            .iter()
            .map(|&v| if hi > lo { (v - lo) / (hi - lo) } else { 0.0 })
            .collect(),
    };
    let options = ImshowOptions::new().axes(false);
    let (pw, ph) = fitted(img.width, img.height, options.size);
    let (left, right, top, bottom) = panel_margins(false);
    let title_size = 16.0;
    let title = title.filter(|t| !t.is_empty());
    let title_h = title_height(title_lines(title), title_size);
    render(
        (pw + left + right).max(120),
        ph + title_h + top + bottom,
        |root| {
            draw_panel(
                root,
                &Panel {
                    image: &img,
                    colormap: Colormap::Gray,
                    vmin: 0.0,
                    vmax: 1.0,
                    title,
                    title_size,
                    axes: false,
                    overlay: Some(Overlay {
                        heat: &heat,
                        colormap: Colormap::Jet,
                        max_alpha: 0.6,
                    }),
                },
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::figure::tests::decode;
    use ndarray::Array2;

    /// A test image: black with a white square in the top-left quarter.
    fn square(h: usize, w: usize) -> Array2<f32> {
        Array2::from_shape_fn(
            (h, w),
            |(r, c)| if r < h / 2 && c < w / 2 { 1.0 } else { 0.0 },
        )
    }

    /// Count of pixels in a region that are not the white background.
    fn inked(img: &image::RgbImage, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> usize {
        y.flat_map(|yy| x.clone().map(move |xx| (xx, yy)))
            .filter(|&(xx, yy)| img.get_pixel(xx, yy).0 != [255, 255, 255])
            .count()
    }

    #[test]
    fn spans_cover_source() {
        assert_eq!(source_spans(4, 2), vec![(0, 2), (2, 4)]);
        assert_eq!(source_spans(2, 4), vec![(0, 1), (0, 1), (1, 2), (1, 2)]);
        assert_eq!(
            source_spans(5, 5),
            vec![(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
        );
        // Box average of a 4x4 checkerboard halves to grey.
        let g = Gray {
            width: 4,
            height: 4,
            pixels: (0..16).map(|i| ((i / 4 + i % 4) % 2) as f32).collect(),
        };
        assert_eq!(g.resample(2, 2), vec![0.5; 4]);
    }

    #[test]
    fn imshow_keeps_aspect_and_draws_pixels_where_data_is() {
        let img = square(100, 200);
        let fig = imshow(&img, &ImshowOptions::new().axes(false)).unwrap();
        // 200x100 image at size 400 -> 400x200 drawn, plus 4 px margins.
        assert_eq!(fig.size(), (408, 208));
        let px = decode(&fig);
        assert_eq!(px.get_pixel(4 + 50, 4 + 50).0, [255, 255, 255]); // white square
        assert_eq!(px.get_pixel(4 + 300, 4 + 150).0, [0, 0, 0]); // black elsewhere
        assert_eq!(px.get_pixel(4 + 300, 4 + 50).0, [0, 0, 0]);
    }

    #[test]
    fn imshow_u8_and_viridis() {
        let img = Array2::<u8>::from_elem((10, 10), 255);
        let fig = imshow(
            img.view(),
            &ImshowOptions::new().axes(false).colormap(Colormap::Viridis),
        )
        .unwrap();
        let px = decode(&fig);
        assert_eq!(px.get_pixel(200, 200).0, [253, 231, 37]);
    }

    #[test]
    fn imshow_title_and_axes_render_text() {
        let img = square(64, 64);
        let plain = decode(&imshow(&img, &ImshowOptions::new().axes(false)).unwrap());
        let titled = imshow(&img, &ImshowOptions::new().axes(false).title("PNEUMONIA")).unwrap();
        let titled_px = decode(&titled);
        assert!(titled.height() > plain.height());
        let w = titled.width();
        assert!(inked(&titled_px, 0..w, 0..20) > 50, "title glyphs drawn");
        // With axes: tick labels appear left of and below the image.
        let axed = imshow(&img, &ImshowOptions::new()).unwrap();
        let axed_px = decode(&axed);
        let (w, h) = axed.size();
        assert!(inked(&axed_px, 0..40, 0..h) > 50, "y tick labels drawn");
        assert!(
            inked(&axed_px, 44..w, h - 22..h) > 50,
            "x tick labels drawn"
        );
    }

    #[test]
    fn imshow_rejects_bad_input() {
        let empty = Array2::<f32>::zeros((0, 5));
        assert!(matches!(
            imshow(&empty, &ImshowOptions::new()),
            Err(Error::InvalidArgument { name: "image", .. })
        ));
        let mut nan = Array2::<f32>::zeros((3, 3));
        nan[[1, 2]] = f32::NAN;
        let e = imshow(&nan, &ImshowOptions::new()).unwrap_err();
        assert!(e.to_string().contains("row 1, column 2"), "{e}");
        let e = imshow(&square(4, 4), &ImshowOptions::new().range(1.0, 0.0)).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidArgument {
                name: "vmin/vmax",
                ..
            }
        ));
        assert!(imshow(&square(4, 4), &ImshowOptions::new().size(0)).is_err());
    }

    #[test]
    fn grid_places_images_in_cells() {
        let white = Array2::<f32>::ones((20, 20));
        let black = Array2::<f32>::zeros((20, 20));
        let imgs = [white.view(), black.view(), black.view()];
        let fig = image_grid(imgs, &["a", "b\nsecond line", "c"], 2).unwrap();
        // 2 columns, 2 rows.
        let px = decode(&fig);
        let (cw, ch) = (fig.width() / 2, fig.height() / 2);
        // Centre of each cell's image area lies below the title: sample the lower middle.
        let probe = |col: u32, row: u32| px.get_pixel(col * cw + cw / 2, row * ch + ch * 3 / 4).0;
        assert_eq!(probe(0, 0), [255, 255, 255]);
        assert_eq!(probe(1, 0), [0, 0, 0]);
        assert_eq!(probe(0, 1), [0, 0, 0]);
        // The fourth cell is empty background.
        assert_eq!(inked(&px, cw..2 * cw, ch..2 * ch), 0);
    }

    #[test]
    fn grid_rejects_bad_input() {
        let img = Array2::<f32>::zeros((5, 5));
        let e = image_grid([img.view()], &["a", "b"], 2).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { name: "titles", .. }));
        let e = image_grid([img.view()], &[] as &[&str], 0).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidArgument {
                name: "columns",
                ..
            }
        ));
        let none: Vec<ArrayView2<f32>> = Vec::new();
        assert!(image_grid(none, &[] as &[&str], 3).is_err());
        let many = vec![img.view(); 2000];
        assert!(image_grid(many, &[] as &[&str], 1).is_err());
    }

    #[test]
    fn saliency_colours_only_salient_pixels() {
        let img = Array2::<f32>::from_elem((50, 50), 0.5);
        let mut sal = Array2::<f32>::zeros((50, 50));
        for r in 0..25 {
            for c in 0..25 {
                sal[[r, c]] = 1.0;
            }
        }
        let fig = saliency_overlay(&img, &sal, None).unwrap();
        let px = decode(&fig);
        let hot = px.get_pixel(4 + 50, 4 + 50).0;
        let calm = px.get_pixel(4 + 350, 4 + 350).0;
        assert_eq!(calm, [128, 128, 128], "no heat: plain grey");
        assert_eq!(hot, [128, 51, 51], "60 % of jet(1) = dark red over grey");
        let wrong = Array2::<f32>::zeros((10, 50));
        assert!(matches!(
            saliency_overlay(&img, &wrong, None),
            Err(Error::InvalidArgument {
                name: "saliency",
                ..
            })
        ));
    }
}
