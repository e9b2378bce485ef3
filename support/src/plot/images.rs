//! Images: [`imshow`] (one image, matplotlib-like pixel axes), [`image_grid`] (many images with
//! titles) and [`saliency_overlay`] (grey X-ray under a semi-transparent heat map), each with an
//! optional colour bar ([`ImshowOptions::colorbar`]) labelled with the values its colours stand for.

use ndarray::ArrayView2;
use plotters::chart::ChartBuilder;
use plotters::element::{PathElement, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{RGBColor, BLACK};

use super::canvas::text_width;
use super::figure::{render, Area, MAX_SIDE};
use super::{plot_err, text, tick_label, Colormap, Figure, Pixel, SALIENCY_COLORMAP};
use crate::error::{Error, Result};

/// Settings of [`imshow`] (and [`image_grid_with`](super::image_grid_with),
/// [`saliency_overlay_with`](super::saliency_overlay_with)): colormap, title, axes, size, value
/// range, colour bar.
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
    /// A colour bar right of the image with value labels, like matplotlib's `colorbar()`
    /// (default off): the colormap from `vmin` (bottom) to `vmax` (top); over a saliency overlay
    /// it shows the heat map's colours and the saliency values instead.
    pub colorbar: bool,
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
            colorbar: false,
        }
    }
}

impl ImshowOptions {
    /// The defaults: grey, no title, axes on, 400 px, values 0..1, no colour bar.
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

    /// Turns the colour bar with value labels on or off.
    pub fn colorbar(mut self, on: bool) -> Self {
        self.colorbar = on;
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

/// Gap between an image and its colour bar, in pixels.
const BAR_GAP: u32 = 12;
/// Width of a colour bar's colour strip, in pixels.
const BAR_WIDTH: u32 = 14;
/// Length of a colour bar's tick marks, in pixels.
const BAR_TICK: u32 = 4;
/// Size of a colour bar's value labels, in pixels.
const BAR_LABEL_SIZE: f64 = 12.0;

/// A colour bar: `colormap` from 0 (bottom) to 1 (top), labelled with values from `lo` to `hi`.
#[derive(Debug, Clone, Copy)]
struct ColorBar {
    colormap: Colormap,
    lo: f32,
    hi: f32,
}

impl ColorBar {
    /// The labelled values: (position from 0 at the bottom to 1 at the top, label).
    fn ticks(&self) -> Vec<(f64, String)> {
        let (lo, hi) = (f64::from(self.lo), f64::from(self.hi));
        if hi <= lo {
            return vec![(0.0, value_label(lo, 0.0))];
        }
        let step = nice_step(hi - lo);
        // The tolerance lets an end that is a tick but for f32 rounding (2e-5) keep its label.
        let first = (lo / step - 1e-6).ceil() as i64;
        let last = (hi / step + 1e-6).floor() as i64;
        (first..=last)
            .map(|k| {
                let v = k as f64 * step;
                (((v - lo) / (hi - lo)).clamp(0.0, 1.0), value_label(v, step))
            })
            .collect()
    }

    /// Width the bar takes right of its image, labels included, in pixels.
    fn width(&self) -> u32 {
        let labels = self
            .ticks()
            .iter()
            .map(|(_, label)| text_width(label, BAR_LABEL_SIZE))
            .fold(0.0, f64::max);
        BAR_GAP + BAR_WIDTH + BAR_TICK + 3 + labels.ceil() as u32 + 6
    }

    /// Draws the bar with its top-left corner at `(x, y)`, `height` pixels tall, and its labels.
    fn draw(&self, area: &Area<'_>, x: i32, y: i32, height: u32) -> Result<()> {
        let w = BAR_WIDTH as i32;
        for j in 0..height {
            let v = 1.0 - (j as f32 + 0.5) / height as f32;
            let color = self.colormap.color(v);
            for i in 0..w {
                area.draw_pixel((x + i, y + j as i32), &color)
                    .map_err(plot_err)?;
            }
        }
        let bottom = y + height as i32;
        area.draw(&PathElement::new(
            vec![
                (x - 1, y - 1),
                (x + w, y - 1),
                (x + w, bottom),
                (x - 1, bottom),
                (x - 1, y - 1),
            ],
            BLACK,
        ))
        .map_err(plot_err)?;
        let style = text(BAR_LABEL_SIZE).pos(Pos::new(HPos::Left, VPos::Center));
        for (position, label) in self.ticks() {
            let ty = y + ((1.0 - position) * f64::from(height.saturating_sub(1))).round() as i32;
            let tick_end = x + w + BAR_TICK as i32;
            area.draw(&PathElement::new(vec![(x + w, ty), (tick_end, ty)], BLACK))
                .map_err(plot_err)?;
            area.draw(&Text::new(label, (tick_end + 3, ty), style.clone()))
                .map_err(plot_err)?;
        }
        Ok(())
    }
}

/// A tick spacing of 1, 2 or 5 times a power of ten that splits `span` into at most 6 steps.
fn nice_step(span: f64) -> f64 {
    let magnitude = 10f64.powf((span / 6.0).log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&step| span / step <= 6.0 + 1e-9)
        .unwrap_or(10.0 * magnitude)
}

/// A colour-bar label for `v` on ticks `step` apart (0 for a lone value): as many decimals as
/// the step needs; scientific notation for values that would need more than four decimals or
/// have more than five digits.
fn value_label(v: f64, step: f64) -> String {
    let v = if v.abs() < step * 1e-6 { 0.0 } else { v };
    let reference = if step > 0.0 { step } else { v.abs() };
    if v == 0.0 {
        return "0".into();
    }
    if reference < 1e-4 || v.abs() >= 1e5 {
        return format!("{v:.1e}");
    }
    if step > 0.0 {
        let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
        format!("{v:.decimals$}")
    } else {
        tick_label(v)
    }
}

/// Width of the widest line of `title` at `size` px.
fn title_width(title: &str, size: f64) -> f64 {
    title
        .lines()
        .map(|line| text_width(line, size))
        .fold(0.0, f64::max)
}

/// Everything one image panel needs.
struct Panel<'a> {
    image: &'a Gray,
    colormap: Colormap,
    vmin: f32,
    vmax: f32,
    title: Option<&'a str>,
    title_size: f64,
    /// Title lines to leave room for even when `title` has fewer, so that the images of a
    /// grid whose titles differ in length line up.
    title_room: usize,
    axes: bool,
    overlay: Option<Overlay<'a>>,
    colorbar: Option<ColorBar>,
}

/// Pixel margins around an image panel: (left, right, top, bottom), title and colour bar
/// excluded; a colour bar needs room above and below for its end labels.
fn panel_margins(axes: bool, colorbar: bool) -> (u32, u32, u32, u32) {
    match (axes, colorbar) {
        (true, _) => (44, 14, 8, 30),
        (false, false) => (4, 4, 4, 4),
        (false, true) => (4, 4, 8, 8),
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

/// Draws one panel in `area`: title on top, the image as large as fits with its aspect kept,
/// optional axes, and the optional colour bar right of the image.
fn draw_panel(area: &Area<'_>, panel: &Panel<'_>) -> Result<()> {
    let (aw, ah) = area.dim_in_pixel();
    let (left, right, top, bottom) = panel_margins(panel.axes, panel.colorbar.is_some());
    let bar_w = panel.colorbar.as_ref().map_or(0, ColorBar::width);
    let title_h = title_height(
        title_lines(panel.title).max(panel.title_room),
        panel.title_size,
    );
    if let Some(title) = panel.title {
        draw_lines(area, title, 4, panel.title_size)?;
    }
    let avail_w = aw.saturating_sub(left + right + bar_w);
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
    if let Some(bar) = &panel.colorbar {
        bar.draw(area, x0 + (pw + BAR_GAP) as i32, y0, ph)?;
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

/// A figure of one panel whose image's longer side is `options.size`: imshow and the overlay.
fn single_panel(
    img: &Gray,
    options: &ImshowOptions,
    overlay: Option<Overlay<'_>>,
    colorbar: Option<ColorBar>,
) -> Result<Figure> {
    let (pw, ph) = fitted(img.width, img.height, options.size);
    let (left, right, top, bottom) = panel_margins(options.axes, colorbar.is_some());
    let bar_w = colorbar.as_ref().map_or(0, ColorBar::width);
    let title_size = 16.0;
    let title = options.title.as_deref().filter(|t| !t.is_empty());
    let title_h = title_height(title_lines(title), title_size);
    let title_w = title.map_or(0.0, |t| title_width(t, title_size)).ceil() as u32 + 8;
    let width = (pw + left + right + bar_w).max(120).max(title_w);
    let height = ph + title_h + top + bottom;
    render(width, height, |root| {
        draw_panel(
            root,
            &Panel {
                image: img,
                colormap: options.colormap,
                vmin: options.vmin,
                vmax: options.vmax,
                title,
                title_size,
                title_room: 0,
                axes: options.axes,
                overlay,
                colorbar,
            },
        )
    })
}

/// Shows one image like matplotlib's `imshow`: values in [`vmin`, `vmax`] (default [0, 1];
/// `u8` pixels are scaled from 0..255) through a colormap, aspect ratio kept, optional title,
/// pixel-index axes (row 0 at the top) and colour bar.
///
/// ```no_run
/// # use support::plot::{imshow, ImshowOptions, Colormap};
/// let img = ndarray::Array2::<f32>::zeros((130, 130));
/// let fig = imshow(&img, &ImshowOptions::new().title("NORMAL").colormap(Colormap::Viridis).colorbar(true))?;
/// # Ok::<(), support::Error>(())
/// ```
pub fn imshow<'a, P: Pixel + 'a>(
    image: impl Into<ArrayView2<'a, P>>,
    options: &ImshowOptions,
) -> Result<Figure> {
    options.check()?;
    let img = Gray::from_view(image.into(), "image")?;
    let colorbar = options.colorbar.then_some(ColorBar {
        colormap: options.colormap,
        lo: options.vmin,
        hi: options.vmax,
    });
    single_panel(&img, options, None, colorbar)
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
/// whole grid, and `colormap`, `axes`, `vmin`/`vmax` and `colorbar` apply to every image.
/// Cells widen to fit their longest title line.
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
    let widest_title = titles
        .iter()
        .map(|t| title_width(t.as_ref(), cell_title_size))
        .fold(0.0, f64::max);
    let colorbar = options.colorbar.then_some(ColorBar {
        colormap: options.colormap,
        lo: options.vmin,
        hi: options.vmax,
    });
    let bar_w = colorbar.as_ref().map_or(0, ColorBar::width);
    let (left, right, top, bottom) = panel_margins(options.axes, colorbar.is_some());
    let cell_w = (options.size + left + right + bar_w + 16).max(widest_title.ceil() as u32 + 20);
    let cell_h = options.size + title_height(max_lines, cell_title_size) + top + bottom + 14;
    let suptitle_size = 18.0;
    let suptitle = options.title.as_deref().filter(|t| !t.is_empty());
    let suptitle_h = title_height(title_lines(suptitle), suptitle_size);
    let suptitle_w = suptitle
        .map_or(0.0, |t| title_width(t, suptitle_size))
        .ceil() as u64
        + 16;
    let width = (cell_w as u64 * columns as u64).max(suptitle_w);
    let height = cell_h as u64 * rows as u64 + u64::from(suptitle_h);
    if width > u64::from(MAX_SIDE) || height > u64::from(MAX_SIDE) {
        return Err(Error::invalid(
            "images",
            format!("{} images in {columns} columns of {} px", images.len(), options.size),
            format!("a grid of at most {MAX_SIDE} px per side: use more columns, fewer images or a smaller size"),
        ));
    }
    render(width as u32, height as u32, |root| {
        let grid_area = if let Some(t) = suptitle {
            draw_lines(root, t, 4, suptitle_size)?;
            root.clone().margin(suptitle_h, 0, 0, 0)
        } else {
            root.clone()
        };
        // Cells keep their width when a long suptitle makes the figure wider: centre the grid.
        let spare = (width - cell_w as u64 * columns as u64) as u32;
        let grid_area = grid_area.margin(0, 0, spare / 2, spare - spare / 2);
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
                    title_room: max_lines,
                    axes: options.axes,
                    overlay: None,
                    colorbar,
                },
            )?;
        }
        Ok(())
    })
}

/// Opacity of a saliency overlay's hottest pixels.
const OVERLAY_ALPHA: f32 = 0.6;

/// Checks a saliency map against its image and scales it to [0, 1] by its own range; returns
/// the heat and that range (lo, hi).
fn saliency_heat(img: &Gray, saliency: ArrayView2<'_, f32>) -> Result<(Gray, f32, f32)> {
    let sal = Gray::from_view(saliency, "saliency")?;
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
    Ok((heat, lo, hi))
}

/// A grey X-ray with a saliency map laid over it as a semi-transparent [`SALIENCY_COLORMAP`]
/// heat map.
///
/// `saliency` has the image's shape; it is scaled to [0, 1] by its own minimum and maximum,
/// and each pixel's opacity grows with its saliency (up to 60 %), so unimportant regions show
/// the plain X-ray. A constant saliency map draws no heat. No axes, no colour bar: see
/// [`saliency_overlay_with`] for those.
pub fn saliency_overlay<'a, 'b, P: Pixel + 'a>(
    image: impl Into<ArrayView2<'a, P>>,
    saliency: impl Into<ArrayView2<'b, f32>>,
    title: Option<&str>,
) -> Result<Figure> {
    let mut options = ImshowOptions::new().axes(false);
    options.title = title.map(str::to_string);
    saliency_overlay_with(image, saliency, &options)
}

/// [`saliency_overlay`] with options: `colormap`, `vmin`/`vmax`, `size`, `axes` and `title`
/// apply to the X-ray underneath; with `colorbar` a bar shows the heat map's colours (at full
/// strength) labelled with the saliency values they stand for, from the map's minimum to its
/// maximum.
///
/// ```no_run
/// # use support::plot::{saliency_overlay_with, ImshowOptions};
/// # let (xray, saliency) = (ndarray::Array2::<f32>::zeros((130, 130)), ndarray::Array2::<f32>::zeros((130, 130)));
/// let fig = saliency_overlay_with(&xray, &saliency, &ImshowOptions::new().axes(false).colorbar(true))?;
/// # Ok::<(), support::Error>(())
/// ```
pub fn saliency_overlay_with<'a, 'b, P: Pixel + 'a>(
    image: impl Into<ArrayView2<'a, P>>,
    saliency: impl Into<ArrayView2<'b, f32>>,
    options: &ImshowOptions,
) -> Result<Figure> {
    options.check()?;
    let img = Gray::from_view(image.into(), "image")?;
    let (heat, lo, hi) = saliency_heat(&img, saliency.into())?;
    let colorbar = options.colorbar.then_some(ColorBar {
        colormap: SALIENCY_COLORMAP,
        lo,
        hi,
    });
    let overlay = Overlay {
        heat: &heat,
        colormap: SALIENCY_COLORMAP,
        max_alpha: OVERLAY_ALPHA,
    };
    single_panel(&img, options, Some(overlay), colorbar)
}

/// Two panels side by side under a common title: `image` alone (left), and `image` under the
/// `saliency` heat map with a colour bar of its values (right); each image's longer side is
/// `size` px. Panel titles are `titles`, the common title `suptitle` (lines split on `\n`).
pub(crate) fn image_beside_saliency(
    image: ArrayView2<'_, f32>,
    saliency: ArrayView2<'_, f32>,
    titles: [&str; 2],
    suptitle: &str,
    size: u32,
) -> Result<Figure> {
    let img = Gray::from_view(image, "image")?;
    let (heat, lo, hi) = saliency_heat(&img, saliency)?;
    let bar = ColorBar {
        colormap: SALIENCY_COLORMAP,
        lo,
        hi,
    };
    let (pw, ph) = fitted(img.width, img.height, size);
    let (left, right, top, bottom) = panel_margins(false, true);
    let title_size = 15.0;
    let suptitle_size = 17.0;
    let room = titles
        .iter()
        .map(|t| title_lines(Some(t)))
        .max()
        .unwrap_or(0);
    let panel_title_h = title_height(room, title_size);
    let suptitle_h = title_height(title_lines(Some(suptitle)), suptitle_size);
    let fit_title = |t: &str, s: f64| title_width(t, s).ceil() as u32 + 8;
    // The left panel ends in a blank strip that separates the two images.
    let gap = 16;
    let left_w = (pw + left + right).max(fit_title(titles[0], title_size)) + gap;
    let right_w = (pw + left + right + bar.width()).max(fit_title(titles[1], title_size));
    let width = (left_w + right_w).max(fit_title(suptitle, suptitle_size) + 8);
    let height = suptitle_h + panel_title_h + top + ph + bottom;
    render(width, height, |root| {
        draw_lines(root, suptitle, 4, suptitle_size)?;
        let spare = width - left_w - right_w;
        let row = root
            .clone()
            .margin(suptitle_h, 0, spare / 2, spare - spare / 2);
        let (left_area, right_area) = row.split_horizontally(left_w);
        let panel = |title, overlay, colorbar| Panel {
            image: &img,
            colormap: Colormap::Gray,
            vmin: 0.0,
            vmax: 1.0,
            title: Some(title),
            title_size,
            title_room: room,
            axes: false,
            overlay,
            colorbar,
        };
        let left_area = left_area.margin(0, 0, 0, gap);
        draw_panel(&left_area, &panel(titles[0], None, None))?;
        let overlay = Overlay {
            heat: &heat,
            colormap: SALIENCY_COLORMAP,
            max_alpha: OVERLAY_ALPHA,
        };
        draw_panel(&right_area, &panel(titles[1], Some(overlay), Some(bar)))
    })
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

    /// A colour as the bytes of a decoded pixel.
    fn rgb(c: RGBColor) -> [u8; 3] {
        [c.0, c.1, c.2]
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
        assert_eq!(hot, [203, 190, 73], "60 % of viridis(1) = yellow over grey");
        let wrong = Array2::<f32>::zeros((10, 50));
        assert!(matches!(
            saliency_overlay(&img, &wrong, None),
            Err(Error::InvalidArgument {
                name: "saliency",
                ..
            })
        ));
    }

    #[test]
    fn colour_bar_ticks_are_round_numbers_with_tidy_labels() {
        let ticks = |lo: f32, hi: f32| -> Vec<String> {
            ColorBar {
                colormap: Colormap::Gray,
                lo,
                hi,
            }
            .ticks()
            .into_iter()
            .map(|t| t.1)
            .collect()
        };
        assert_eq!(ticks(0.0, 1.0), ["0", "0.2", "0.4", "0.6", "0.8", "1.0"]);
        assert_eq!(ticks(0.0, 255.0), ["0", "50", "100", "150", "200", "250"]);
        assert_eq!(ticks(0.0003, 0.0471), ["0.01", "0.02", "0.03", "0.04"]);
        assert_eq!(ticks(-2.5, 2.5), ["-2", "-1", "0", "1", "2"]);
        assert_eq!(
            ticks(0.0, 2e-5),
            ["0", "5.0e-6", "1.0e-5", "1.5e-5", "2.0e-5"]
        );
        // A constant map: one label.
        assert_eq!(ticks(0.25, 0.25), ["0.25"]);
        // Positions run from 0 at vmin to 1 at vmax.
        let bar = ColorBar {
            colormap: Colormap::Gray,
            lo: 0.0,
            hi: 255.0,
        };
        let positions: Vec<f64> = bar.ticks().iter().map(|t| t.0).collect();
        assert_eq!(positions[0], 0.0);
        assert!((positions[5] - 250.0 / 255.0).abs() < 1e-12);
    }

    #[test]
    fn imshow_colour_bar_shows_the_colormap_and_its_values() {
        let img = square(100, 100);
        let plain = imshow(&img, &ImshowOptions::new().axes(false)).unwrap();
        let options = ImshowOptions::new()
            .axes(false)
            .colormap(Colormap::Viridis)
            .colorbar(true);
        let fig = imshow(&img, &options).unwrap();
        let bar = ColorBar {
            colormap: Colormap::Viridis,
            lo: 0.0,
            hi: 1.0,
        };
        assert_eq!(fig.width(), plain.width() + bar.width());
        let px = decode(&fig);
        // The image at 400 px from (4, 8), then the bar 12 px right of it.
        assert_eq!(px.get_pixel(4 + 50, 8 + 50).0, [253, 231, 37]);
        let x = 4 + 400 + BAR_GAP + BAR_WIDTH / 2;
        let viridis = |v: f32| rgb(Colormap::Viridis.color(v));
        assert_eq!(
            px.get_pixel(x, 8).0,
            viridis(1.0 - 0.5 / 400.0),
            "vmax at the top"
        );
        assert_eq!(
            px.get_pixel(x, 8 + 399).0,
            [68, 1, 84],
            "vmin at the bottom"
        );
        assert_eq!(px.get_pixel(x, 8 + 200).0, viridis(1.0 - 200.5 / 400.0));
        // Six value labels right of the bar: ink beside the top, middle and bottom ticks.
        let labels_x = 4 + 400 + BAR_GAP + BAR_WIDTH + BAR_TICK;
        let (w, _) = fig.size();
        for y in [8, 8 + 160, 8 + 399] {
            assert!(
                inked(&px, labels_x..w, y - 4..y + 4) > 10,
                "label ink near y = {y}"
            );
        }
        // With axes too, and in a grid, the bar fits beside each image.
        assert!(imshow(&img, &options.clone().axes(true)).is_ok());
        let grid =
            image_grid_with([img.view(), img.view()], &["a", "b"], 2, &options.size(100)).unwrap();
        assert!(grid.width() >= 2 * (100 + bar.width()));
    }

    #[test]
    fn saliency_colour_bar_is_labelled_with_saliency_values() {
        let img = Array2::<f32>::from_elem((50, 50), 0.5);
        let sal = Array2::from_shape_fn((50, 50), |(r, _)| 0.002 * r as f32 / 49.0);
        let fig =
            saliency_overlay_with(&img, &sal, &ImshowOptions::new().axes(false).colorbar(true))
                .unwrap();
        let px = decode(&fig);
        // viridis over grey: the bottom row (saliency max) yellow-tinted, the top row plain grey.
        assert_eq!(px.get_pixel(4 + 200, 8).0, [128, 128, 128]);
        assert_eq!(px.get_pixel(4 + 200, 8 + 399).0, [203, 190, 73]);
        // The bar shows viridis at full strength: yellow at the top, dark purple at the bottom.
        let x = 4 + 400 + BAR_GAP + BAR_WIDTH / 2;
        let top = px.get_pixel(x, 8).0;
        let bottom = px.get_pixel(x, 8 + 399).0;
        assert!(top[0] >= 240 && top[1] >= 220 && top[2] < 60, "{top:?}");
        assert!(
            bottom[0] < 80 && bottom[1] < 20 && bottom[2] >= 80,
            "{bottom:?}"
        );
        let bar = ColorBar {
            colormap: SALIENCY_COLORMAP,
            lo: 0.0,
            hi: 0.002,
        };
        let labels: Vec<String> = bar.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0", "0.0005", "0.0010", "0.0015", "0.0020"]);
        assert_eq!(fig.width(), 4 + 400 + 4 + bar.width());
        // The plain overlay keeps its old size (no bar).
        let plain = saliency_overlay(&img, &sal, None).unwrap();
        assert_eq!(plain.size(), (408, 408));
    }

    #[test]
    fn image_beside_saliency_draws_both_panels_and_the_bar() {
        let img = Array2::<f32>::from_elem((40, 40), 0.5);
        let mut sal = Array2::<f32>::zeros((40, 40));
        sal.slice_mut(ndarray::s![..20, ..20]).fill(1.0);
        let fig = image_beside_saliency(img.view(), sal.view(), ["a", "b"], "t\nu", 100).unwrap();
        let px = decode(&fig);
        let bar = ColorBar {
            colormap: SALIENCY_COLORMAP,
            lo: 0.0,
            hi: 1.0,
        };
        // Two title lines (17 px), one panel-title line (15 px), 8 px margin, 100 px images.
        let suptitle_h = (2.0f64 * 17.0 * 1.2).ceil() as u32 + 6;
        let panel_title_h = (15.0f64 * 1.2).ceil() as u32 + 6;
        assert_eq!(
            fig.size(),
            (
                108 + 16 + 108 + bar.width(),
                suptitle_h + panel_title_h + 8 + 100 + 8
            )
        );
        let y = suptitle_h + panel_title_h + 8;
        // Left: plain grey everywhere, including the salient quarter.
        assert_eq!(px.get_pixel(4 + 10, y + 10).0, [128, 128, 128]);
        assert_eq!(px.get_pixel(4 + 90, y + 90).0, [128, 128, 128]);
        // A blank gap, then right (from x = 108 + 16 + 4): the salient quarter tinted, the rest grey.
        assert_eq!(inked(&px, 108..108 + 16 + 4, y..y + 100), 0);
        let x = 128;
        assert_eq!(px.get_pixel(x + 10, y + 10).0, [203, 190, 73]);
        assert_eq!(px.get_pixel(x + 90, y + 90).0, [128, 128, 128]);
        // The bar right of the right image; titles above the panels.
        let bar_x = x + 100 + BAR_GAP + BAR_WIDTH / 2;
        assert_eq!(
            px.get_pixel(bar_x, y).0,
            rgb(SALIENCY_COLORMAP.color(1.0 - 0.5 / 100.0))
        );
        let (w, _) = fig.size();
        assert!(inked(&px, 0..w, 0..suptitle_h) > 20, "figure title");
        assert!(
            inked(&px, 0..108, suptitle_h..y - 8) > 5,
            "left panel title"
        );
        assert!(
            inked(&px, 124..w, suptitle_h..y - 8) > 5,
            "right panel title"
        );
        let wrong = Array2::<f32>::zeros((10, 40));
        assert!(image_beside_saliency(img.view(), wrong.view(), ["a", "b"], "t", 100).is_err());
    }

    #[test]
    fn grid_cells_widen_to_fit_long_titles() {
        let img = square(20, 20);
        let short = image_grid([img.view(), img.view()], &["a", "b"], 2).unwrap();
        let long_title = "a title far wider than the two hundred pixels of its image";
        let long = image_grid([img.view(), img.view()], &[long_title, "b"], 2).unwrap();
        assert_eq!(short.width(), 2 * 224);
        let needed = title_width(long_title, 14.0);
        assert!(
            f64::from(long.width() / 2) >= needed + 20.0,
            "{} vs {needed}",
            long.width()
        );
        // A figure title wider than the grid widens the figure and keeps the grid centred.
        let wide = image_grid_with(
            [img.view()],
            &["a"],
            1,
            &ImshowOptions::new().axes(false).size(200).title(long_title),
        )
        .unwrap();
        assert!(f64::from(wide.width()) >= title_width(long_title, 18.0));
        let px = decode(&wide);
        let row = wide.height() - 60;
        let dark: Vec<u32> = (0..wide.width())
            .filter(|&x| px.get_pixel(x, row).0 != [255, 255, 255])
            .collect();
        let centre = (dark[0] + dark[dark.len() - 1]) / 2;
        assert!((i64::from(centre) - i64::from(wide.width() / 2)).abs() <= 2);
    }

    #[test]
    fn text_width_follows_the_font() {
        assert_eq!(text_width("", 14.0), 0.0);
        let one = text_width("0", 14.0);
        // A DejaVu Sans digit advances 1303 font units; the size is ascent (1901) to descent
        // (483) as in plotters.
        assert!((one - 1303.0 / 2384.0 * 14.0).abs() < 0.05, "{one}");
        assert!((text_width("0000", 14.0) - 4.0 * one).abs() < 1e-3);
        assert!((title_width("00\n0000", 14.0) - 4.0 * one).abs() < 1e-3);
    }
}
