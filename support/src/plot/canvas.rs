//! [`Canvas`], the drawing backend every figure draws on: plotters' bitmap backend for lines,
//! shapes and pixels, with text laid out and rasterised here from the bundled font.
//!
//! plotters' own `ab_glyph` text path (0.3.7) draws each glyph's coverage box at the pen
//! position truncated to whole pixels, ignoring where the glyph's outline starts (its left side
//! bearing), and puts the baseline half a font size below the anchor. The blank between two
//! letters is then the first letter's two bearings instead of its right and the next letter's
//! left bearing ("NORM AL", "Sm oothGrad"), a letter with a wide left bearing slides into the
//! one before it ("Tue label"; rotated titles are turned copies of the same drawing), and
//! capitals stick out above their box. Here a line is laid out with the font's advances and
//! kerning, each glyph is rasterised at its subpixel pen position into one coverage buffer,
//! and that buffer is turned by whole quarter turns about the anchor, pixel squares and all,
//! before it is blended in.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, Glyph, OutlinedGlyph, PxScale, ScaleFont};
use plotters::style::FontTransform;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};
use plotters_bitmap::bitmap_pixel::RGBPixel;
use plotters_bitmap::{BitMapBackend, BitMapBackendError};

use super::DEJAVU_SANS;

/// The bundled font could not be read (it is compiled in, so this means a broken build).
#[derive(Debug, thiserror::Error)]
#[error("the bundled DejaVu Sans font could not be parsed")]
pub(crate) struct BadFont;

/// The bundled font, parsed once per copy of this static.
fn font() -> Result<&'static FontRef<'static>, BadFont> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(DEJAVU_SANS).ok())
        .as_ref()
        .ok_or(BadFont)
}

/// Width of one line of text in the bundled font at `size` px (advances and kerning), in
/// pixels: the width the canvas draws it at. An estimate when the font cannot be read (drawing
/// then fails with its own error).
pub(crate) fn text_width(line: &str, size: f64) -> f64 {
    match font() {
        Ok(font) => f64::from(Line::new(font, size, line).width),
        Err(_) => line.chars().count() as f64 * size * 0.65,
    }
}

/// One line of text laid out in the bundled font, the pen starting at x = 0 on a baseline at y = 0.
struct Line {
    /// The glyphs at their (subpixel) pen positions.
    glyphs: Vec<Glyph>,
    /// How far the pen travels: the sum of the advances and kerning, in pixels.
    width: f32,
    /// The font's ascent: from the top of the line box down to the baseline, in pixels.
    ascent: f32,
    /// The line box's height, ascent to descent, in pixels.
    height: f32,
}

impl Line {
    /// Lays out `text` at `size` px (the font's ascent to descent, as in plotters), skipping
    /// control characters.
    fn new(font: &FontRef<'static>, size: f64, text: &str) -> Line {
        let scaled = font.as_scaled(PxScale::from(size as f32));
        let mut glyphs = Vec::with_capacity(text.len());
        let mut pen = 0.0f32;
        let mut previous = None;
        for c in text.chars().filter(|c| !c.is_control()) {
            let id = scaled.glyph_id(c);
            if let Some(p) = previous {
                pen += scaled.kern(p, id);
            }
            glyphs.push(id.with_scale_and_position(scaled.scale(), point(pen, 0.0)));
            pen += scaled.h_advance(id);
            previous = Some(id);
        }
        Line {
            glyphs,
            width: pen,
            ascent: scaled.ascent(),
            height: scaled.ascent() - scaled.descent(),
        }
    }

    /// The line box in whole pixels, unturned: (width, height).
    fn box_size(&self) -> (u32, u32) {
        (self.width.ceil() as u32, self.height.ceil() as u32)
    }

    /// Where the pen starts, relative to the anchor, for text anchored at `h` and `v`: whole
    /// pixels, the baseline rounded up the page so that the ink stays inside the line box.
    fn origin(&self, h: HPos, v: VPos) -> (f32, f32) {
        let x = match h {
            HPos::Left => 0.0,
            HPos::Center => -self.width / 2.0,
            HPos::Right => -self.width,
        };
        let top = match v {
            VPos::Top => 0.0,
            VPos::Center => -self.height / 2.0,
            VPos::Bottom => -self.height,
        };
        (x.round(), (top + self.ascent).floor())
    }

    /// The line's anti-aliased coverage with the pen starting at `origin`.
    fn coverage(&self, font: &FontRef<'static>, origin: (f32, f32)) -> Coverage {
        let shift = point(origin.0, origin.1);
        let outlined: Vec<OutlinedGlyph> = self
            .glyphs
            .iter()
            .filter_map(|g| {
                let mut g = g.clone();
                g.position += shift;
                font.outline_glyph(g)
            })
            .collect();
        let Some(first) = outlined.first().map(OutlinedGlyph::px_bounds) else {
            return Coverage::default();
        };
        let bounds = outlined
            .iter()
            .map(OutlinedGlyph::px_bounds)
            .fold(first, |a, b| ab_glyph::Rect {
                min: point(a.min.x.min(b.min.x), a.min.y.min(b.min.y)),
                max: point(a.max.x.max(b.max.x), a.max.y.max(b.max.y)),
            });
        let (left, top) = (bounds.min.x as i32, bounds.min.y as i32);
        let width = (bounds.max.x as i32 - left) as usize;
        let height = (bounds.max.y as i32 - top) as usize;
        let mut alpha = vec![0.0f32; width * height];
        for glyph in &outlined {
            let b = glyph.px_bounds();
            let (dx, dy) = (
                (b.min.x as i32 - left) as usize,
                (b.min.y as i32 - top) as usize,
            );
            glyph.draw(|x, y, c| alpha[(dy + y as usize) * width + dx + x as usize] += c);
        }
        Coverage {
            left,
            top,
            width,
            alpha,
        }
    }
}

/// The box `text` takes at `size` px, in layout pixels: (width, height), as the canvas measures
/// it for plotters; for laying figures out before drawing.
pub(crate) fn text_box(text: &str, size: f64) -> Result<(u32, u32), BadFont> {
    Ok(Line::new(font()?, size, text).box_size())
}

/// Coverage (0 to 1, overlapping glyphs add up) on a pixel grid whose first pixel is `(left, top)`.
#[derive(Default)]
struct Coverage {
    left: i32,
    top: i32,
    width: usize,
    alpha: Vec<f32>,
}

impl Coverage {
    /// The covered pixels and their coverage, capped at 1.
    fn pixels(&self) -> impl Iterator<Item = ((i32, i32), f32)> + '_ {
        self.alpha
            .iter()
            .enumerate()
            .filter(|(_, &a)| a > 0.0)
            .map(|(i, &a)| {
                let (x, y) = (i % self.width, i / self.width);
                ((self.left + x as i32, self.top + y as i32), a.min(1.0))
            })
    }
}

/// Where text pixel `(x, y)` lands when the text turns about its anchor (a pixel corner):
/// the whole pixel square is turned, so a quarter turn moves no ink off its place.
fn turn(transform: &FontTransform, (x, y): (i32, i32)) -> (i32, i32) {
    match transform {
        FontTransform::None => (x, y),
        FontTransform::Rotate90 => (-y - 1, x),
        FontTransform::Rotate180 => (-x - 1, -y - 1),
        FontTransform::Rotate270 => (y, -x - 1),
    }
}

/// plotters' RGB bitmap backend with text drawn by this module instead of plotters' font code,
/// drawing every figure `scale` times larger than its layout (HiDPI).
///
/// Every text style draws in the bundled DejaVu Sans whatever family it names, so figures look
/// the same on every machine. Figures lay out in layout pixels (CSS pixels in a browser):
/// [`get_size`](DrawingBackend::get_size) and text sizes are in those, and this backend
/// multiplies every coordinate, line width, radius and font size by `scale` as it draws into a
/// bitmap `scale` times as wide and high. So a 2x figure has exactly the layout of the 1x one
/// with every line, marker and glyph drawn at twice the resolution; at scale 1 every call goes
/// straight to the bitmap backend.
pub(crate) struct Canvas<'a> {
    inner: BitMapBackend<'a, RGBPixel>,
    scale: i32,
}

impl<'a> Canvas<'a> {
    /// Wraps a bitmap backend `scale` times the size of the layout (1 to [`MAX_SCALE`]).
    pub(crate) fn new(inner: BitMapBackend<'a, RGBPixel>, scale: u32) -> Self {
        Canvas {
            inner,
            scale: scale.clamp(1, MAX_SCALE) as i32,
        }
    }

    /// The bitmap pixel at the top left of layout pixel `p`.
    fn corner(&self, p: BackendCoord) -> BackendCoord {
        (p.0 * self.scale, p.1 * self.scale)
    }

    /// The bitmap pixel at the centre of layout pixel `p` (lines and circles run through it).
    fn centre(&self, p: BackendCoord) -> BackendCoord {
        let half = self.scale / 2;
        (p.0 * self.scale + half, p.1 * self.scale + half)
    }

    /// The bitmap stroke of a line `width` layout pixels wide (more than 1), and where it runs
    /// for a line through layout pixel `p`. plotters turns a wide line into a polygon that
    /// covers about `width + 1` pixels across, `width / 2` (rounded down) of them before `p`.
    /// The bitmap stroke is `scale * width`: a stroke that covered exactly `scale` times those
    /// pixels would be odd, its polygon's corners would fall on half pixels, and plotters
    /// rounds those by the line's direction, which leaves jogs where a polyline turns.
    fn wide(&self, p: BackendCoord, width: u32) -> (BackendCoord, u32) {
        let s = self.scale;
        let stroke = s as u32 * width;
        let offset = (stroke / 2) as i32 - s * (width / 2) as i32;
        ((p.0 * s + offset, p.1 * s + offset), stroke)
    }
}

/// The largest scale a [`Canvas`] draws at.
pub(crate) const MAX_SCALE: u32 = 4;

/// A line or fill style with another stroke width (the scaled one).
struct Stroke<'s, S> {
    style: &'s S,
    width: u32,
}

impl<S: BackendStyle> BackendStyle for Stroke<'_, S> {
    fn color(&self) -> BackendColor {
        self.style.color()
    }

    fn stroke_width(&self) -> u32 {
        self.width
    }
}

/// A text error in plotters' terms.
fn font_error(e: BadFont) -> DrawingErrorKind<BitMapBackendError> {
    DrawingErrorKind::FontError(Box::new(e))
}

impl DrawingBackend for Canvas<'_> {
    type ErrorType = BitMapBackendError;

    fn get_size(&self) -> (u32, u32) {
        let (w, h) = self.inner.get_size();
        (w / self.scale as u32, h / self.scale as u32)
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.draw_pixel(point, color);
        }
        // A layout pixel is a block of scale x scale bitmap pixels (the rectangle's right and
        // bottom edges are exclusive in the bitmap's fill).
        let (x, y) = self.corner(point);
        let block = (x + self.scale, y + self.scale);
        self.inner.draw_rect((x, y), block, &color, true)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.draw_line(from, to, style);
        }
        let s = self.scale;
        if style.stroke_width() == 1 && (from.0 == to.0 || from.1 == to.1) {
            // A hairline along an axis covers whole layout pixels: fill their blocks exactly,
            // so grid lines and frames stay as sharp as at 1x.
            let (x0, y0) = self.corner((from.0.min(to.0), from.1.min(to.1)));
            let (x1, y1) = self.corner((from.0.max(to.0), from.1.max(to.1)));
            return self
                .inner
                .draw_rect((x0, y0), (x1 + s, y1 + s), &style.color(), true);
        }
        if style.stroke_width() == 1 {
            // A slanted hairline: plotters draws one pixel per step along its longer axis, so
            // draw `scale` such lines side by side across it.
            let along_x = (to.0 - from.0).abs() >= (to.1 - from.1).abs();
            let (a, b) = (self.centre(from), self.centre(to));
            for k in 0..s {
                let d = k - s / 2;
                let (da, db) = if along_x {
                    ((a.0, a.1 + d), (b.0, b.1 + d))
                } else {
                    ((a.0 + d, a.1), (b.0 + d, b.1))
                };
                self.inner.draw_line(da, db, style)?;
            }
            return Ok(());
        }
        let ((a, width), (b, _)) = (
            self.wide(from, style.stroke_width()),
            self.wide(to, style.stroke_width()),
        );
        self.inner.draw_line(a, b, &Stroke { style, width })
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.draw_rect(upper_left, bottom_right, style, fill);
        }
        if fill {
            // Exclusive right and bottom edges, as in the bitmap's own fill.
            let (a, b) = (self.corner(upper_left), self.corner(bottom_right));
            return self.inner.draw_rect(a, b, style, true);
        }
        let (l, t) = (
            upper_left.0.min(bottom_right.0),
            upper_left.1.min(bottom_right.1),
        );
        let (r, b) = (
            upper_left.0.max(bottom_right.0),
            upper_left.1.max(bottom_right.1),
        );
        for (from, to) in [
            ((l, t), (r, t)),
            ((r, t), (r, b)),
            ((l, b), (r, b)),
            ((l, t), (l, b)),
        ] {
            self.draw_line(from, to, style)?;
        }
        Ok(())
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.draw_path(path, style);
        }
        let width = style.stroke_width();
        if width == 1 {
            // A hairline is its segments, as plotters draws it at 1x (axes and ticks are such).
            let points: Vec<BackendCoord> = path.into_iter().collect();
            for pair in points.windows(2) {
                self.draw_line(pair[0], pair[1], style)?;
            }
            return Ok(());
        }
        let stroke = self.wide((0, 0), width).1;
        let points: Vec<BackendCoord> = path.into_iter().map(|p| self.wide(p, width).0).collect();
        self.inner.draw_path(
            points,
            &Stroke {
                style,
                width: stroke,
            },
        )
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.draw_circle(center, radius, style, fill);
        }
        let stroke = Stroke {
            style,
            width: style.stroke_width() * self.scale as u32,
        };
        self.inner.draw_circle(
            self.centre(center),
            radius * self.scale as u32,
            &stroke,
            fill,
        )
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.fill_polygon(vert, style);
        }
        // Polygon vertices are pixel corners.
        let points: Vec<BackendCoord> = vert.into_iter().map(|p| self.corner(p)).collect();
        self.inner.fill_polygon(points, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        if self.scale == 1 {
            return self.inner.blit_bitmap(pos, size, src);
        }
        // Each source pixel becomes a scale x scale block.
        let s = self.scale as usize;
        let (w, h) = (size.0 as usize, size.1 as usize);
        let mut big = Vec::with_capacity(w * h * s * s * 3);
        for row in src.chunks_exact(w * 3).take(h) {
            let mut line = Vec::with_capacity(w * s * 3);
            for px in row.chunks_exact(3) {
                for _ in 0..s {
                    line.extend_from_slice(px);
                }
            }
            for _ in 0..s {
                big.extend_from_slice(&line);
            }
        }
        let factor = self.scale as u32;
        self.inner
            .blit_bitmap(self.corner(pos), (size.0 * factor, size.1 * factor), &big)
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<BitMapBackendError>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let font = font().map_err(font_error)?;
        // Laid out and rasterised at the bitmap's resolution, anchored at the layout pixel's corner.
        let line = Line::new(font, style.size() * f64::from(self.scale), text);
        let anchor = style.anchor();
        let coverage = line.coverage(font, line.origin(anchor.h_pos, anchor.v_pos));
        let transform = style.transform();
        let pos = self.corner(pos);
        for (p, a) in coverage.pixels() {
            let (x, y) = turn(&transform, p);
            let ink = BackendColor {
                alpha: color.alpha * f64::from(a),
                rgb: color.rgb,
            };
            self.inner.draw_pixel((pos.0 + x, pos.1 + y), ink)?;
        }
        Ok(())
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<BitMapBackendError>> {
        Ok(Line::new(font().map_err(font_error)?, style.size(), text).box_size())
    }
}

#[cfg(test)]
mod tests {
    use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
    use plotters::element::Text;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    use plotters::style::FontTransform;

    use super::turn;
    use crate::plot::figure::render;
    use crate::plot::figure::tests::decode;
    use crate::plot::{plot_err, text, DEJAVU_SANS};

    /// Words from the figures, the ones the bug report names first.
    const WORDS: [&str; 9] = [
        "NORMAL",
        "PNEUMONIA",
        "SmoothGrad",
        "True label",
        "True positive rate (sensitivity)",
        "False positive rate (1 - specificity)",
        "Predicted label",
        "Confusion matrix",
        "ROC (AUC = 0.971)",
    ];

    /// Largest distance, in pixels, between an ink edge drawn and where the font puts it.
    ///
    /// An edge is read from how far the ink reaches into its outermost column: exact for a
    /// vertical stem, up to about half a pixel short where the outline ends in a corner or a
    /// slant ("A", "1", "v"). plotters' own text path was off by 1 to 2 pixels.
    const TOLERANCE: f32 = 0.5;

    /// The font's own layout of `line` at `size` px, computed here from its advances, kerning
    /// and glyph outlines: each glyph's ink span `[left, right]` along the line from the pen
    /// start, and the height of the line box (ascent to descent).
    fn font_layout(line: &str, size: f32) -> (Vec<(f32, f32)>, f32) {
        let font = FontRef::try_from_slice(DEJAVU_SANS).unwrap();
        let scaled = font.as_scaled(PxScale::from(size));
        let k = scaled.h_scale_factor();
        let (mut pen, mut prev, mut spans) = (0.0, None, Vec::new());
        for c in line.chars() {
            let id = font.glyph_id(c);
            if let Some(p) = prev {
                pen += font.kern_unscaled(p, id) * k;
            }
            if let Some(outline) = font.outline(id) {
                spans.push((
                    pen + outline.bounds.min.x * k,
                    pen + outline.bounds.max.x * k,
                ));
            }
            pen += font.h_advance_unscaled(id) * k;
            prev = Some(id);
        }
        let height = (font.ascent_unscaled() - font.descent_unscaled()) * scaled.v_scale_factor();
        (spans, height)
    }

    /// The blank stretches between the glyphs' ink spans, left to right.
    fn gaps(spans: &[(f32, f32)]) -> Vec<(f32, f32)> {
        let mut sorted = spans.to_vec();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut gaps = Vec::new();
        let mut right = sorted[0].1;
        for &(l, r) in &sorted[1..] {
            if l > right {
                gaps.push((right, l));
            }
            right = right.max(r);
        }
        gaps
    }

    /// plotters' transform for text turned clockwise by `degrees` (0, 90, 180 or 270).
    fn turned(degrees: u16) -> FontTransform {
        match degrees {
            0 => FontTransform::None,
            90 => FontTransform::Rotate90,
            180 => FontTransform::Rotate180,
            _ => FontTransform::Rotate270,
        }
    }

    /// Ink drawn for `line` at `size` px, anchored left and top at the middle of a white
    /// figure, read back in the text's own frame: `ink[r][c]` is the darkness (0 to 1) of text
    /// pixel `(c - margin, r - margin)`, for `c` in `0..columns + 2 * margin`; and how many
    /// inked pixels fall outside that window.
    fn rendered_ink(
        line: &str,
        size: f64,
        degrees: u16,
        columns: i32,
        margin: i32,
    ) -> (Vec<Vec<f32>>, usize) {
        let (w, h) = (640u32, 640u32);
        let anchor = (320, 320);
        let fig = render(w, h, |root| {
            root.draw(&Text::new(
                line.to_string(),
                anchor,
                text(size)
                    .transform(turned(degrees))
                    .pos(Pos::new(HPos::Left, VPos::Top)),
            ))
            .map_err(plot_err)
        })
        .unwrap();
        let img = decode(&fig);
        let dark = |p: [u8; 3]| f32::from(255 - p[0].min(p[1]).min(p[2])) / 255.0;
        let rows = size.ceil() as i32 + 2 * margin;
        let mut ink = vec![vec![0.0f32; (columns + 2 * margin) as usize]; rows as usize];
        let mut seen = 0usize;
        for (r, row) in ink.iter_mut().enumerate() {
            for (c, cell) in row.iter_mut().enumerate() {
                let (dx, dy) = turn(&turned(degrees), (c as i32 - margin, r as i32 - margin));
                let (x, y) = (anchor.0 + dx, anchor.1 + dy);
                *cell = dark(img.get_pixel(x as u32, y as u32).0);
                seen += usize::from(*cell > 0.0);
            }
        }
        let total = img.pixels().filter(|p| dark(p.0) > 0.0).count();
        (ink, total - seen)
    }

    /// Checks that every glyph's ink of `line` sits where the font's layout puts it, and
    /// that the ink stays inside the line box, for text turned by `degrees`.
    fn check_placement(line: &str, size: f64, degrees: u16) -> Vec<String> {
        let (spans, box_height) = font_layout(line, size as f32);
        let margin = 4;
        let columns = spans.iter().fold(0.0f32, |m, s| m.max(s.1)).ceil() as i32;
        let (ink, outside) = rendered_ink(line, size, degrees, columns, margin);
        let what = format!("{line:?} at {size} px, {degrees} degrees");
        let mut problems = Vec::new();
        if outside > 0 {
            problems.push(format!(
                "{what}: {outside} inked pixels off the text's own frame"
            ));
        }

        // Across the line: all ink lies within the line box (ascent to descent) below the anchor.
        let inked_rows: Vec<i32> = (0..ink.len())
            .filter(|&r| ink[r].iter().any(|&d| d > 0.0))
            .map(|r| r as i32 - margin)
            .collect();
        let (top, bottom) = (inked_rows[0], *inked_rows.last().unwrap() + 1);
        if top < 0 || bottom as f32 > box_height.ceil() {
            problems.push(format!(
                "{what}: ink rows {top}..{bottom} outside the line box 0..{box_height:.1}"
            ));
        }

        // Along the line: columns with no ink at all, and how far ink reaches into a column.
        let reach: Vec<f32> = (0..ink[0].len())
            .map(|c| ink.iter().map(|row| row[c]).fold(0.0, f32::max))
            .collect();
        // Column `c` of the window covers [c - margin, c - margin + 1) along the line.
        let at = |c: usize| c as f32 - margin as f32;
        let first = reach.iter().position(|&d| d > 0.0).unwrap();
        let last = reach.iter().rposition(|&d| d > 0.0).unwrap();
        let mut near = |name: &str, drawn: f32, font: f32| {
            if (drawn - font).abs() > TOLERANCE {
                problems.push(format!(
                    "{what}: {name} at {drawn:.2} px, the font puts it at {font:.2}"
                ));
            }
        };
        // The whole line's ink edges (a column's ink reaches in from the glyph's side).
        near("left ink edge", at(first + 1) - reach[first], spans[0].0);
        let right = spans.iter().fold(f32::MIN, |m, s| m.max(s.1));
        near("right ink edge", at(last) + reach[last], right);
        // Blank runs inside the line must be the font's gaps between glyphs, edge for edge.
        let mut drawn_gaps = Vec::new();
        let mut c = first;
        while c < last {
            if reach[c] == 0.0 {
                let start = c;
                while reach[c] == 0.0 {
                    c += 1;
                }
                let left = at(start - 1) + reach[start - 1];
                let right = at(c + 1) - reach[c];
                drawn_gaps.push((left, right));
            }
            c += 1;
        }
        let expected = gaps(&spans);
        let same = |a: &(f32, f32), b: &(f32, f32)| {
            (a.0 - b.0).abs() <= TOLERANCE && (a.1 - b.1).abs() <= TOLERANCE
        };
        for g in &drawn_gaps {
            if !expected.iter().any(|e| same(e, g)) {
                problems.push(format!(
                    "{what}: blank {g:.2?} px is no gap of the font's layout {expected:.2?}"
                ));
            }
        }
        // Every gap of the font's layout that holds a whole pixel column must show up.
        for e in &expected {
            let whole_column = (e.1 - 0.02).floor() - (e.0 + 0.02).ceil() >= 1.0;
            if whole_column && !drawn_gaps.iter().any(|g| same(e, g)) {
                problems.push(format!(
                    "{what}: the font's gap {e:.2?} px is missing (blanks drawn: {drawn_gaps:.2?})"
                ));
            }
        }
        problems
    }

    /// The bug report's words and the figures' titles, flat and turned, at the figures' sizes.
    #[test]
    fn glyphs_sit_where_the_font_puts_them_horizontal_and_rotated() {
        let mut problems = Vec::new();
        for degrees in [0, 90, 180, 270] {
            for size in [12.0, 14.0, 15.0, 18.0] {
                for line in WORDS {
                    problems.extend(check_placement(line, size, degrees));
                }
            }
        }
        assert!(
            problems.is_empty(),
            "{} misplaced glyphs or gaps, e.g.\n{}",
            problems.len(),
            problems[..problems.len().min(12)].join("\n")
        );
    }
}
