//! Figures for the notebooks and the CLI, drawn with plotters into PNG bytes: [`imshow`],
//! [`image_grid`], [`saliency_overlay`], [`augmentation_grid`], [`fill_mode_grid`],
//! [`jointplot`], [`histogram`], [`learning_curves`] (with the best epoch and early stop:
//! [`learning_curves_with`]), [`confusion_matrix_plot`] (with its threshold:
//! [`confusion_matrix_at`]), [`roc_curve_plot`] (with operating points:
//! [`roc_curve_with_points`], [`roc_from_predictions`]), [`reliability_diagram`],
//! [`score_distributions`] and [`stress_chart`].
//!
//! Every function returns a [`Figure`]; it shows inline in evcxr when it is a cell's last
//! expression, and [`Figure::save`] writes it as a PNG.
//!
//! Sizes: figures are laid out in pixels as a browser counts them, about matplotlib's default
//! 640x480 (6.4 x 4.8 in at 100 dpi) for one panel and at most 960 wide, so that JupyterLab
//! shows them at their own size (its output area is about 1000 px wide with the file browser
//! open on a 1440-px-wide screen; wider images are shrunk, and their text with them); text is
//! 12 to 18 px, matplotlib's 10 to 12 pt at 100 dpi. For HiDPI screens, draw at scale 2
//! ([`set_figure_scale`] for the whole kernel, [`with_figure_scale`] for some figures): the
//! same layout at twice the resolution, shown at the same size. Text uses DejaVu Sans, shipped in
//! `support/assets/` (licence in `DejaVu-LICENSE.txt`), so a fresh machine needs no fonts
//! installed: every figure draws on the `canvas` module's backend, which lays text out and
//! rasterises it itself with the font's advances and kerning (plotters' own text drawing
//! misplaces glyphs, see that module).
//! Bad data (empty, mismatched lengths, NaN) gives [`Error::InvalidArgument`]; a failure of
//! the drawing itself gives [`Error::Plot`].

mod augmentation;
mod canvas;
mod charts;
mod confusion;
mod curves;
mod distributions;
mod figure;
mod images;
mod roc;
mod stress;

pub use augmentation::{augmentation_grid, fill_mode_grid};
pub use confusion::{confusion_matrix_at, confusion_matrix_plot, multiclass_confusion_matrix};
pub use curves::{learning_curves, learning_curves_with, Curve, EpochMarks};
pub use distributions::{histogram, jointplot};
pub use figure::{figure_scale, set_figure_scale, with_figure_scale, Figure, FIGURE_SCALE_ENV};
pub(crate) use images::image_beside_saliency;
pub use images::{
    image_grid, image_grid_with, imshow, saliency_overlay, saliency_overlay_with, ImshowOptions,
};
pub use roc::{
    roc_curve_plot, roc_curve_titled, roc_curve_with_points, roc_from_predictions, roc_one_vs_rest,
    OperatingPoint,
};
pub use stress::{stress_chart, StressPoint};

use std::sync::OnceLock;

use plotters::style::{FontStyle, IntoFont, RGBColor, TextStyle, BLACK};

use crate::error::{Error, Result};

/// DejaVu Sans (Bitstream Vera licence, see `support/assets/DejaVu-LICENSE.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The font family name plotters' default text styles ask for.
const FAMILY: &str = "sans-serif";

/// Registers the bundled font with plotters once per copy of this static.
///
/// Text is drawn by [`canvas::Canvas`], but plotters still measures legend boxes with its own
/// font code, which needs the font registered. evcxr compiles each notebook cell with its own
/// copy of every static, so this runs lazily from every drawing entry point instead of once in
/// a setup cell.
fn ensure_font() -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS)
                .map_err(|_| "the bundled DejaVu Sans font could not be parsed".to_string())
        })
        .clone()
        .map_err(Error::Plot)
}

/// Turns a plotters error into the crate's [`Error::Plot`].
fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::Plot(e.to_string())
}

/// A black text style at `size` pixels (the font's ascent to descent), drawn in the bundled font.
fn text(size: f64) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font()).color(&BLACK)
}

/// matplotlib's default colour cycle ("tab10"): blue.
const TAB_BLUE: RGBColor = RGBColor(31, 119, 180);
/// matplotlib's "tab10" orange.
const TAB_ORANGE: RGBColor = RGBColor(255, 127, 14);
/// matplotlib's "tab10" red.
const TAB_RED: RGBColor = RGBColor(214, 39, 40);
/// matplotlib's "tab10" green.
const TAB_GREEN: RGBColor = RGBColor(44, 160, 44);

/// How grey values in [0, 1] become colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Colormap {
    /// Black (0) to white (1), matplotlib's `gray`.
    #[default]
    Gray,
    /// matplotlib's perceptually uniform `viridis` (dark purple to yellow).
    Viridis,
    /// matplotlib's `jet` (dark blue, cyan, yellow, dark red); saliency maps use `Viridis`.
    Jet,
    /// matplotlib's `Blues` (near white to dark blue), used for confusion matrices.
    Blues,
}

/// The colour map of saliency heat maps: matplotlib's perceptually uniform `viridis` (dark
/// purple for low saliency, yellow for high), whose lightness grows steadily with the value, so
/// that a brighter tint always means a more salient pixel (`jet`'s bright cyan and yellow sit
/// in the middle of its range and read as peaks that are not there).
pub const SALIENCY_COLORMAP: Colormap = Colormap::Viridis;

/// matplotlib's `viridis` sampled at 0, 1/16, ..., 1 and rounded to 8 bits: the values of
/// `matplotlib.colormaps["viridis"](i / 16)` (from the listed data in matplotlib's
/// `_cm_listed.py`, by van der Walt and Smith); colours in between are interpolated linearly.
const VIRIDIS: [[u8; 3]; 17] = [
    [68, 1, 84],
    [72, 24, 106],
    [71, 45, 123],
    [66, 64, 134],
    [59, 82, 139],
    [51, 99, 141],
    [44, 114, 142],
    [38, 130, 142],
    [33, 145, 140],
    [31, 160, 136],
    [40, 174, 128],
    [63, 188, 115],
    [94, 201, 98],
    [132, 212, 75],
    [173, 220, 48],
    [216, 226, 25],
    [253, 231, 37],
];

/// ColorBrewer's 9-class "Blues" (Cynthia Brewer, colorbrewer2.org), the anchors of matplotlib's `Blues`.
const BLUES: [[u8; 3]; 9] = [
    [247, 251, 255],
    [222, 235, 247],
    [198, 219, 239],
    [158, 202, 225],
    [107, 174, 214],
    [66, 146, 198],
    [33, 113, 181],
    [8, 81, 156],
    [8, 48, 107],
];

/// Linear interpolation of `v` in [0, 1] along evenly spaced anchor colours.
fn interpolate(v: f32, anchors: &[[u8; 3]]) -> RGBColor {
    let pos = v * (anchors.len() - 1) as f32;
    let i = (pos.floor() as usize).min(anchors.len() - 2);
    let t = pos - i as f32;
    let mix = |c: usize| {
        let a = f32::from(anchors[i][c]);
        let b = f32::from(anchors[i + 1][c]);
        (a + (b - a) * t).round() as u8
    };
    RGBColor(mix(0), mix(1), mix(2))
}

/// matplotlib's `_jet_data` (`matplotlib/_cm.py`): (position, value) knots per channel.
const JET_RED: [(f32, f32); 5] = [
    (0.0, 0.0),
    (0.35, 0.0),
    (0.66, 1.0),
    (0.89, 1.0),
    (1.0, 0.5),
];
const JET_GREEN: [(f32, f32); 6] = [
    (0.0, 0.0),
    (0.125, 0.0),
    (0.375, 1.0),
    (0.64, 1.0),
    (0.91, 0.0),
    (1.0, 0.0),
];
const JET_BLUE: [(f32, f32); 5] = [
    (0.0, 0.5),
    (0.11, 1.0),
    (0.34, 1.0),
    (0.65, 0.0),
    (1.0, 0.0),
];

/// Linear interpolation of `v` in [0, 1] between knots sorted by position from 0 to 1.
fn piecewise(v: f32, knots: &[(f32, f32)]) -> f32 {
    for w in knots.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if v <= x1 {
            return y0 + (y1 - y0) * ((v - x0) / (x1 - x0)).clamp(0.0, 1.0);
        }
    }
    knots.last().map_or(0.0, |k| k.1)
}

impl Colormap {
    /// The colour of `v`, clamped to [0, 1] (NaN maps like 0).
    pub fn color(self, v: f32) -> RGBColor {
        let v = if v.is_nan() { 0.0 } else { v.clamp(0.0, 1.0) };
        let to_u8 = |x: f32| (x * 255.0).round().clamp(0.0, 255.0) as u8;
        match self {
            Colormap::Gray => {
                let g = to_u8(v);
                RGBColor(g, g, g)
            }
            Colormap::Viridis => interpolate(v, &VIRIDIS),
            Colormap::Blues => interpolate(v, &BLUES),
            Colormap::Jet => RGBColor(
                to_u8(piecewise(v, &JET_RED)),
                to_u8(piecewise(v, &JET_GREEN)),
                to_u8(piecewise(v, &JET_BLUE)),
            ),
        }
    }
}

/// A pixel type `imshow` accepts: `f32`/`f64` in [0, 1], or `u8`/`u16` over their full range.
pub trait Pixel: Copy {
    /// The value scaled to [0, 1] (floats are passed through and clamped when drawn).
    fn to_unit(self) -> f32;
}

impl Pixel for f32 {
    fn to_unit(self) -> f32 {
        self
    }
}

impl Pixel for f64 {
    fn to_unit(self) -> f32 {
        self as f32
    }
}

impl Pixel for u8 {
    fn to_unit(self) -> f32 {
        f32::from(self) / 255.0
    }
}

impl Pixel for u16 {
    fn to_unit(self) -> f32 {
        f32::from(self) / 65535.0
    }
}

/// A number a chart can plot: any primitive integer or float, converted to `f64`.
pub trait Numeric: Copy {
    /// The value as `f64` (large 64-bit integers may round).
    fn to_f64(self) -> f64;
}

macro_rules! numeric {
    ($($t:ty),*) => {$(
        impl Numeric for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}
numeric!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize, f32, f64);

/// Converts numbers to f64 and rejects empty input and NaN or infinite values.
fn finite_values<T: Numeric>(values: &[T], name: &'static str) -> Result<Vec<f64>> {
    if values.is_empty() {
        return Err(Error::invalid(name, "[] (empty)", "at least one value"));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let v = v.to_f64();
            if v.is_finite() {
                Ok(v)
            } else {
                Err(Error::invalid(
                    name,
                    format!("{v} at index {i}"),
                    "finite numbers (no NaN or infinity)",
                ))
            }
        })
        .collect()
}

/// A "nice" tick label: integers without decimals, others with up to 3 significant decimals.
fn tick_label(v: f64) -> String {
    let v = v + 0.0; // turns -0.0 into 0.0
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

mod evaluation;
pub use evaluation::{
    reliability_diagram, score_distributions, score_distributions_with, ScoreScale, ScoreSplit,
    SCORE_BINS,
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viridis_matches_matplotlib_anchors() {
        assert_eq!(Colormap::Viridis.color(0.0), RGBColor(68, 1, 84));
        assert_eq!(Colormap::Viridis.color(0.5), RGBColor(33, 145, 140));
        assert_eq!(Colormap::Viridis.color(1.0), RGBColor(253, 231, 37));
        // Halfway between the anchors at 0 and 1/16.
        assert_eq!(Colormap::Viridis.color(1.0 / 32.0), RGBColor(70, 13, 95));
        // Out of range clamps.
        assert_eq!(Colormap::Viridis.color(7.0), RGBColor(253, 231, 37));
    }

    #[test]
    fn gray_and_jet_ramps() {
        assert_eq!(Colormap::Gray.color(0.0), RGBColor(0, 0, 0));
        assert_eq!(Colormap::Gray.color(0.5), RGBColor(128, 128, 128));
        assert_eq!(Colormap::Gray.color(f32::NAN), RGBColor(0, 0, 0));
        // matplotlib's jet, interpolated between its knots.
        assert_eq!(Colormap::Jet.color(0.0), RGBColor(0, 0, 128));
        assert_eq!(Colormap::Jet.color(0.25), RGBColor(0, 128, 255));
        assert_eq!(Colormap::Jet.color(0.5), RGBColor(123, 255, 123));
        assert_eq!(Colormap::Jet.color(1.0), RGBColor(128, 0, 0));
        assert_eq!(Colormap::Blues.color(0.0), RGBColor(247, 251, 255));
        assert_eq!(Colormap::Blues.color(1.0), RGBColor(8, 48, 107));
    }

    #[test]
    fn pixels_scale_to_unit() {
        assert_eq!(255u8.to_unit(), 1.0);
        assert_eq!(0u16.to_unit(), 0.0);
        assert_eq!(0.25f64.to_unit(), 0.25);
    }

    #[test]
    fn finite_values_rejects_nan_and_empty() {
        assert!(finite_values::<f64>(&[], "x").is_err());
        let e = finite_values(&[1.0, f64::NAN], "x").unwrap_err();
        assert!(e.to_string().contains("NaN at index 1"), "{e}");
        assert_eq!(finite_values(&[1u32, 2], "x").unwrap(), vec![1.0, 2.0]);
        assert_eq!(finite_values(&[3usize], "x").unwrap(), vec![3.0]);
    }

    #[test]
    fn tick_labels_are_tidy() {
        assert_eq!(tick_label(-0.0), "0");
        assert_eq!(tick_label(50.0), "50");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
    }

    /// Every figure function, drawn on small fixed data: (name, figure).
    fn every_figure() -> Vec<(&'static str, Figure)> {
        use crate::metrics::calibration::reliability_bins;
        use crate::metrics::Threshold;
        let labels: Vec<u8> = (0..40).map(|i| u8::from(i % 3 != 0)).collect();
        let probs: Vec<f32> = (0..40)
            .map(|i| {
                let base = if i % 3 != 0 { 0.65 } else { 0.3 };
                base + 0.3 * ((i * 7 % 11) as f32 / 11.0 - 0.5)
            })
            .collect();
        let (fpr, tpr, _) = crate::metrics::roc_curve(&labels, &probs).unwrap();
        let image = ndarray::Array2::from_shape_fn((48, 64), |(y, x)| ((x + y) % 17) as f32 / 16.0);
        let heat = ndarray::Array2::from_shape_fn((48, 64), |(y, x)| (x * y) as f32 / 3000.0);
        let loss = Curve::new(
            "loss",
            vec![0.7, 0.5, 0.45, 0.44],
            vec![0.6, 0.5, 0.52, 0.55],
        );
        let marks = EpochMarks::new()
            .best_epoch(2)
            .monitor("val_loss", 0.5)
            .stopped_at(4);
        let bins = reliability_bins(&labels, &probs, 10).unwrap();
        vec![
            (
                "histogram",
                histogram(&[1.0, 2.0, 2.5, 3.0, 7.0], 0, "width").unwrap(),
            ),
            (
                "jointplot",
                jointplot(&[1, 2, 3, 9], &[2, 1, 4, 8], "w", "h").unwrap(),
            ),
            (
                "learning_curves",
                learning_curves_with(&[loss.clone(), loss], &marks).unwrap(),
            ),
            (
                "confusion",
                confusion_matrix_at(
                    [[20, 6], [3, 30]],
                    ["NORMAL", "PNEUMONIA"],
                    Threshold::new(0.42).unwrap(),
                )
                .unwrap(),
            ),
            (
                "roc",
                roc_from_predictions(
                    &labels,
                    &probs,
                    &[
                        (Threshold::HALF, "threshold 0.5"),
                        (Threshold::new(0.4).unwrap(), ""),
                    ],
                )
                .unwrap(),
            ),
            ("roc_plain", roc_curve_plot(&fpr, &tpr, f64::NAN).unwrap()),
            (
                "reliability",
                reliability_diagram(&[("test", &bins)]).unwrap(),
            ),
            (
                "scores",
                score_distributions(
                    &[ScoreSplit::new("test", &labels, &probs)],
                    ["NORMAL", "PNEUMONIA"],
                    &[(Threshold::HALF, "0.5")],
                )
                .unwrap(),
            ),
            (
                "imshow",
                imshow(&image, &ImshowOptions::new().title("an image").axes(true)).unwrap(),
            ),
            (
                "image_grid",
                image_grid([&image, &image], &["one", "two"], 2).unwrap(),
            ),
            (
                "saliency",
                saliency_overlay(&image, &heat, Some("saliency")).unwrap(),
            ),
        ]
    }

    /// The 2x image averaged over 2x2 blocks, back to the 1x size.
    fn halve(img: &image::RgbImage) -> image::RgbImage {
        image::RgbImage::from_fn(img.width() / 2, img.height() / 2, |x, y| {
            let mut sum = [0u32; 3];
            for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                let p = img.get_pixel(2 * x + dx, 2 * y + dy).0;
                for c in 0..3 {
                    sum[c] += u32::from(p[c]);
                }
            }
            image::Rgb(sum.map(|v| (v / 4) as u8))
        })
    }

    /// The share of pixels of `a` with no pixel within 1 pixel in `b` of about the same colour
    /// (a pixel half covered by a line's edge is within 128 of both the line and the paper).
    fn unmatched(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
        let (w, h) = a.dimensions();
        let close = |p: [u8; 3], q: [u8; 3]| (0..3).all(|c| p[c].abs_diff(q[c]) <= 128);
        let lonely = a
            .enumerate_pixels()
            .filter(|(x, y, p)| {
                let near = (x.saturating_sub(1)..(x + 2).min(w))
                    .flat_map(|i| (y.saturating_sub(1)..(y + 2).min(h)).map(move |j| (i, j)));
                !near
                    .into_iter()
                    .any(|(i, j)| close(p.0, b.get_pixel(i, j).0))
            })
            .count();
        lonely as f64 / f64::from(w * h)
    }

    /// The bounding box of the non-white pixels.
    fn ink_box(img: &image::RgbImage) -> (u32, u32, u32, u32) {
        let mut b = (u32::MAX, u32::MAX, 0, 0);
        for (x, y, p) in img.enumerate_pixels() {
            if p.0.iter().any(|&c| c < 200) {
                b = (b.0.min(x), b.1.min(y), b.2.max(x), b.3.max(y));
            }
        }
        b
    }

    #[test]
    fn every_figure_draws_the_same_layout_at_scale_2() {
        let one = with_figure_scale(1, every_figure).unwrap();
        let two = with_figure_scale(2, every_figure).unwrap();
        for ((name, a), (_, b)) in one.iter().zip(&two) {
            figure::tests::save_for_review(b, &format!("scale2_{name}.png"));
            assert_eq!(b.size(), (2 * a.width(), 2 * a.height()), "{name}");
            assert_eq!((b.scale(), b.display_size()), (2, a.size()), "{name}");
            let (pa, pb) = (figure::tests::decode(a), figure::tests::decode(b));
            // Averaged back to 1x, the 2x figure is the 1x figure up to anti-aliasing and half a
            // pixel: every pixel of each has a close match within one pixel in the other.
            let half = halve(&pb);
            let share = unmatched(&pa, &half).max(unmatched(&half, &pa));
            assert!(
                share < 0.002,
                "{name}: {:.3}% of pixels unmatched",
                100.0 * share
            );
            // The ink reaches the same place, at twice the coordinates.
            let (ba, bb) = (ink_box(&pa), ink_box(&pb));
            for (i, (u, v)) in [(ba.0, bb.0), (ba.1, bb.1), (ba.2, bb.2), (ba.3, bb.3)]
                .into_iter()
                .enumerate()
            {
                let d = i64::from(v) - 2 * i64::from(u);
                assert!(
                    (-3..=3).contains(&d),
                    "{name}: ink edge {i}: {u} at 1x, {v} at 2x"
                );
            }
        }
    }
}
