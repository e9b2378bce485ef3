//! ROC curves: [`roc_curve_plot`], with operating points ([`roc_curve_with_points`],
//! [`roc_from_predictions`]), and one curve per class ([`roc_one_vs_rest`]).

use plotters::chart::SeriesLabelPosition;
use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::series::LineSeries;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBColor, BLACK, WHITE};

use super::figure::{render, Area};
use super::{finite_values, plot_err, text, Figure, TAB_BLUE, TAB_GREEN, TAB_ORANGE, TAB_RED};
use crate::error::{Error, Result};
use crate::metrics::{auc, roc_curve, BinaryLabel, ConfusionMatrix, Threshold};

use super::charts::*;

/// One operating point of a classifier: predicting positive when `prob >= threshold` gives
/// these false and true positive rates. [`roc_curve_with_points`] marks it on the ROC curve.
///
/// Make it from predictions with [`OperatingPoint::from_predictions`], or from known rates with
/// [`OperatingPoint::new`].
#[derive(Debug, Clone, PartialEq)]
pub struct OperatingPoint {
    /// The name shown beside the point, e.g. "threshold 0.5" or "validation threshold 0.223".
    pub label: String,
    /// The decision threshold.
    pub threshold: Threshold,
    /// False positive rate at the threshold, 1 - specificity.
    pub fpr: f64,
    /// True positive rate at the threshold, the sensitivity.
    pub tpr: f64,
}

impl OperatingPoint {
    /// A point from its rates, checked: `fpr` and `tpr` finite and in [0, 1]. An empty `label`
    /// becomes "threshold 0.5" (the threshold, up to 3 decimals).
    pub fn new(label: impl Into<String>, threshold: Threshold, fpr: f64, tpr: f64) -> Result<Self> {
        let mut label = label.into();
        if label.is_empty() {
            label = format!("threshold {}", threshold_text(threshold));
        }
        let point = OperatingPoint {
            label,
            threshold,
            fpr,
            tpr,
        };
        point.check()?;
        Ok(point)
    }

    /// The point of predicting positive when `prob >= threshold`, from true labels and
    /// predicted probabilities (like the confusion matrix at that threshold). Errors when the
    /// inputs do not match, or when the labels hold only one class (a rate would divide by zero).
    pub fn from_predictions<L: BinaryLabel>(
        labels: &[L],
        probs: &[f32],
        threshold: Threshold,
        label: impl Into<String>,
    ) -> Result<Self> {
        let cm = ConfusionMatrix::at_threshold(labels, probs, threshold)?;
        if cm.positives() == 0 || cm.negatives() == 0 {
            return Err(Error::invalid(
                "labels",
                format!("{} positives, {} negatives", cm.positives(), cm.negatives()),
                "both classes (the ROC rates divide by each class's count)",
            ));
        }
        let fpr = cm.fp as f64 / cm.negatives() as f64;
        let tpr = cm.tp as f64 / cm.positives() as f64;
        Self::new(label, threshold, fpr, tpr)
    }

    /// The sensitivity (recall of the positive class), the same as `tpr`.
    pub fn sensitivity(&self) -> f64 {
        self.tpr
    }

    /// The specificity (recall of the negative class), `1 - fpr`.
    pub fn specificity(&self) -> f64 {
        1.0 - self.fpr
    }

    /// Checks the rates.
    pub(super) fn check(&self) -> Result<()> {
        for (name, v) in [("fpr", self.fpr), ("tpr", self.tpr)] {
            if !(v.is_finite() && (0.0..=1.0).contains(&v)) {
                return Err(Error::invalid(
                    name,
                    format!("{v} at the point '{}'", self.label),
                    "a rate in [0, 1]",
                ));
            }
        }
        Ok(())
    }
}

/// Colours of the operating points, in order (the threshold colours of
/// [`score_distributions`](super::score_distributions)).
pub(super) const POINT_COLORS: [RGBColor; 3] = [BLACK, TAB_RED, TAB_GREEN];

/// The ROC curve from [`roc_curve`](crate::metrics::roc_curve)'s `fpr` and `tpr`, with
/// its AUC in the legend (pass `f64::NAN` to leave it out) and the chance diagonal dashed.
///
/// [`roc_curve_with_points`] also marks operating points; [`roc_from_predictions`] draws it
/// all from labels and probabilities.
pub fn roc_curve_plot(fpr: &[f64], tpr: &[f64], auc: f64) -> Result<Figure> {
    roc_curve_with_points(fpr, tpr, auc, &[])
}

/// The ROC curve from labels and predicted probabilities, like scikit-learn's
/// `RocCurveDisplay.from_predictions`, with its AUC and the operating point at each
/// `(threshold, label)` marked:
/// `plot::roc_from_predictions(&labels, &probs, &[(Threshold::HALF, "threshold 0.5"), (t, "validation threshold")])`.
///
/// An empty label becomes "threshold" and the threshold. Errors like [`roc_curve`](crate::metrics::roc_curve)
/// and [`OperatingPoint::from_predictions`].
pub fn roc_from_predictions<L: BinaryLabel>(
    labels: &[L],
    probs: &[f32],
    thresholds: &[(Threshold, &str)],
) -> Result<Figure> {
    let (fpr, tpr, _) = roc_curve(labels, probs)?;
    let points = thresholds
        .iter()
        .map(|&(t, label)| OperatingPoint::from_predictions(labels, probs, t, label))
        .collect::<Result<Vec<_>>>()?;
    roc_curve_with_points(&fpr, &tpr, auc(&fpr, &tpr), &points)
}

/// [`roc_curve_plot`] with up to 3 operating points marked on the curve (black, red, green) and
/// labelled beside it: the point's label, then its sensitivity and specificity.
///
/// Labels go below and right of their point (under the curve, where a ROC curve leaves room),
/// else above and left, stacked so they do not overlap each other or the legend.
pub fn roc_curve_with_points(
    fpr: &[f64],
    tpr: &[f64],
    auc: f64,
    points: &[OperatingPoint],
) -> Result<Figure> {
    roc_curve_titled(fpr, tpr, auc, points, "ROC curve")
}

/// [`roc_curve_with_points`] under `title`, e.g. the task, the positive class and the number of
/// images: `ROC curve: PNEUMONIA against NORMAL, 624 test images`.
pub fn roc_curve_titled(
    fpr: &[f64],
    tpr: &[f64],
    auc: f64,
    points: &[OperatingPoint],
    title: &str,
) -> Result<Figure> {
    let xs = finite_values(fpr, "fpr")?;
    let ys = finite_values(tpr, "tpr")?;
    if xs.len() != ys.len() {
        return Err(Error::invalid(
            "tpr",
            format!("{} values", ys.len()),
            format!("as many values as fpr ({})", xs.len()),
        ));
    }
    if xs.len() < 2 {
        return Err(Error::invalid("fpr", "1 point", "at least 2 points"));
    }
    for (name, values) in [("fpr", &xs), ("tpr", &ys)] {
        if let Some(v) = values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::invalid(name, v, "rates in [0, 1]"));
        }
    }
    if !auc.is_nan() && !(0.0..=1.0).contains(&auc) {
        return Err(Error::invalid(
            "auc",
            auc,
            "a number in [0, 1], or NaN when unknown",
        ));
    }
    if points.len() > POINT_COLORS.len() {
        return Err(Error::invalid(
            "points",
            points.len(),
            format!("at most {} operating points", POINT_COLORS.len()),
        ));
    }
    for p in points {
        p.check()?;
    }
    let curve_label = if auc.is_nan() {
        "ROC".to_string()
    } else {
        format!("ROC (AUC = {auc:.3})")
    };
    render(500, 480, |root| {
        let mut chart = unit_square_chart(
            root,
            title,
            (
                "False positive rate (1 - specificity)",
                "True positive rate (sensitivity)",
            ),
            "chance",
        )?;
        let curve: Vec<(f64, f64)> = xs.iter().copied().zip(ys.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(curve.clone(), TAB_BLUE.stroke_width(2)))
            .map_err(plot_err)?
            .label(curve_label.as_str())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TAB_BLUE.stroke_width(2)));
        let legend_size = 14.0;
        if !points.is_empty() {
            let pixels: Vec<(i32, i32)> = curve.iter().map(|p| chart.backend_coord(p)).collect();
            let (xr, yr) = chart.plotting_area().get_pixel_range();
            let plot = Bounds {
                left: xr.start,
                top: yr.start,
                right: xr.end,
                bottom: yr.end,
            };
            // plotters puts the legend box in the lower right corner, 10 px in from the edges.
            let mut legend_w = 0;
            for label in ["chance", curve_label.as_str()] {
                let (w, _) = super::canvas::text_box(label, legend_size).map_err(plot_err)?;
                legend_w = legend_w.max(w as i32);
            }
            let legend = Bounds {
                left: plot.right - 10 - legend_w - 45,
                top: plot.bottom - 10 - 2 * 22 - 10,
                right: plot.right,
                bottom: plot.bottom,
            };
            draw_points(root, &chart, points, &pixels, plot, legend)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, legend_size)
    })
}

/// Colours of the one-vs-rest curves, in class order (matplotlib's "tab10" cycle).
pub(super) const CLASS_COLORS: [RGBColor; 6] = [
    TAB_BLUE,
    TAB_ORANGE,
    TAB_GREEN,
    TAB_RED,
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// One ROC curve per class, that class against all others (scikit-learn's one-vs-rest), each
/// with its AUC in the legend and the macro average in the title:
/// `plot::roc_one_vs_rest(&labels, probs.view(), &class_names)` with `probs` the `N x K`
/// softmax output. At most 6 classes; errors like
/// [`one_vs_rest_roc_auc`](crate::metrics::multiclass::one_vs_rest_roc_auc).
pub fn roc_one_vs_rest(
    truth: &[usize],
    probs: ndarray::ArrayView2<f32>,
    class_names: &[&str],
) -> Result<Figure> {
    let aucs = crate::metrics::multiclass::one_vs_rest_roc_auc(truth, probs)?;
    if class_names.len() != aucs.len() {
        return Err(Error::invalid(
            "class_names",
            format!("{} names", class_names.len()),
            format!("one name per class ({} classes)", aucs.len()),
        ));
    }
    if aucs.len() > CLASS_COLORS.len() {
        return Err(Error::invalid(
            "classes",
            aucs.len(),
            format!("at most {} classes in one figure", CLASS_COLORS.len()),
        ));
    }
    let macro_auc = aucs.iter().sum::<f64>() / aucs.len() as f64;
    let title = format!("ROC curves, each class against the rest (macro AUC = {macro_auc:.3})");
    render(560, 500, |root| {
        let mut chart = unit_square_chart(
            root,
            &title,
            (
                "False positive rate (1 - specificity)",
                "True positive rate (sensitivity)",
            ),
            "chance",
        )?;
        for (c, (&name, &class_auc)) in class_names.iter().zip(&aucs).enumerate() {
            let is_c: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            let (fpr, tpr, _) = roc_curve(&is_c, &probs.column(c).to_vec())?;
            let color = CLASS_COLORS[c];
            chart
                .draw_series(LineSeries::new(
                    fpr.into_iter().zip(tpr),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(format!("{name} (AUC = {class_auc:.3})"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 14.0)
    })
}

/// A rectangle in pixels, right and bottom exclusive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Bounds {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
}

impl Bounds {
    /// A `w` x `h` rectangle with its top left at `(x, y)`.
    pub(super) fn at(x: i32, y: i32, w: i32, h: i32) -> Bounds {
        Bounds {
            left: x,
            top: y,
            right: x + w,
            bottom: y + h,
        }
    }

    /// Whether the rectangles share a pixel.
    pub(super) fn overlaps(&self, o: &Bounds) -> bool {
        self.left < o.right && o.left < self.right && self.top < o.bottom && o.top < self.bottom
    }

    /// Whether `o` lies inside this rectangle.
    pub(super) fn holds(&self, o: &Bounds) -> bool {
        o.left >= self.left && o.right <= self.right && o.top >= self.top && o.bottom <= self.bottom
    }
}

/// Whether the polyline through `pixels` passes through the rectangle `b` (plus `pad` pixels).
pub(super) fn crosses(pixels: &[(i32, i32)], b: &Bounds, pad: i32) -> bool {
    let (l, r) = (f64::from(b.left - pad), f64::from(b.right + pad));
    let (t, btm) = (f64::from(b.top - pad), f64::from(b.bottom + pad));
    pixels.windows(2).any(|w| {
        let ((x0, y0), (x1, y1)) = (
            (f64::from(w[0].0), f64::from(w[0].1)),
            (f64::from(w[1].0), f64::from(w[1].1)),
        );
        if x0.max(x1) < l || x0.min(x1) > r {
            return false;
        }
        // The segment's y range over its part within [l, r].
        let y_at = |x: f64| {
            if x1 == x0 {
                y0
            } else {
                y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            }
        };
        let (ya, yb) = if x1 == x0 {
            (y0, y1)
        } else {
            (y_at(x0.min(x1).max(l)), y_at(x0.max(x1).min(r)))
        };
        ya.min(yb) <= btm && ya.max(yb) >= t
    })
}

/// Marks the operating points on the curve and places their two-line labels where they cover
/// neither the curve, the other labels and markers, nor the legend.
pub(super) fn draw_points(
    root: &Area<'_>,
    chart: &XyChart<'_, '_>,
    points: &[OperatingPoint],
    curve: &[(i32, i32)],
    plot: Bounds,
    legend: Bounds,
) -> Result<()> {
    const PAD: i32 = 5;
    const OFFSET: i32 = 10;
    // The largest marker's outer radius (see the markers below).
    let marker = 7 + 4 * points.len().saturating_sub(1) as i32;
    let (size1, size2) = (13.0, 12.0);
    let centres: Vec<(i32, i32)> = points
        .iter()
        .map(|p| chart.backend_coord(&(p.fpr, p.tpr)))
        .collect();
    let markers: Vec<Bounds> = centres
        .iter()
        .map(|&(x, y)| Bounds::at(x - marker, y - marker, 2 * marker + 1, 2 * marker + 1))
        .collect();
    let inside = Bounds {
        left: plot.left + 4,
        top: plot.top + 4,
        right: plot.right - 4,
        bottom: plot.bottom - 4,
    };
    // Highest point first, so labels stack downwards in the order of the points.
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_by_key(|&i| (centres[i].1, centres[i].0));
    let mut placed: Vec<(usize, Bounds, [String; 2])> = Vec::new();
    for &i in &order {
        let p = &points[i];
        let lines = [
            p.label.clone(),
            format!(
                "sensitivity {:.3}, specificity {:.3}",
                p.sensitivity(),
                p.specificity()
            ),
        ];
        let (w1, h1) = super::canvas::text_box(&lines[0], size1).map_err(plot_err)?;
        let (w2, h2) = super::canvas::text_box(&lines[1], size2).map_err(plot_err)?;
        let (w, h) = (w1.max(w2) as i32 + 2 * PAD, (h1 + h2) as i32 + 2 * PAD + 2);
        let (cx, cy) = centres[i];
        let free = |b: &Bounds| {
            inside.holds(b)
                && !b.overlaps(&legend)
                && !crosses(curve, b, 3)
                && !markers.iter().any(|m| m.overlaps(b))
                && !placed.iter().any(|(_, o, _)| o.overlaps(b))
        };
        // Below and right of the point, moved down past anything in the way; else above and
        // left, moved up; else right-aligned in the plot below the curve.
        let below_right = (0..200).map(|d| Bounds::at(cx + OFFSET, cy + OFFSET + d, w, h));
        let above_left = (0..200).map(|d| Bounds::at(cx - OFFSET - w, cy - OFFSET - h - d, w, h));
        let below_inside = (0..300).map(|d| Bounds::at(inside.right - w, cy + OFFSET + d, w, h));
        let spot = below_right
            .chain(above_left)
            .chain(below_inside)
            .find(|b| free(b))
            .unwrap_or_else(|| {
                // Nowhere free: inside the plot near the point, overlapping what it must.
                let x = (cx + OFFSET).min(inside.right - w).max(inside.left);
                let y = (cy + OFFSET).min(inside.bottom - h).max(inside.top);
                Bounds::at(x, y, w, h)
            });
        placed.push((i, spot, lines));
    }
    for (i, b, lines) in &placed {
        let color = POINT_COLORS[*i];
        let (cx, cy) = centres[*i];
        // A leader from the marker to the nearest point of its label.
        let near = (cx.clamp(b.left, b.right - 1), cy.clamp(b.top, b.bottom - 1));
        root.draw(&PathElement::new(
            vec![(cx, cy), near],
            color.mix(0.6).stroke_width(1),
        ))
        .map_err(plot_err)?;
        root.draw(&Rectangle::new(
            [(b.left, b.top), (b.right - 1, b.bottom - 1)],
            WHITE.mix(0.9).filled(),
        ))
        .map_err(plot_err)?;
        root.draw(&Rectangle::new(
            [(b.left, b.top), (b.right - 1, b.bottom - 1)],
            color.mix(0.5).stroke_width(1),
        ))
        .map_err(plot_err)?;
        let (_, h1) = super::canvas::text_box(&lines[0], size1).map_err(plot_err)?;
        root.draw(&Text::new(
            lines[0].clone(),
            (b.left + PAD, b.top + PAD),
            text(size1)
                .color(&color)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new(
            lines[1].clone(),
            (b.left + PAD, b.top + PAD + h1 as i32 + 2),
            text(size2).pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(plot_err)?;
    }
    // Markers last, over the leaders: a white ring around a dot in the point's colour, each
    // point's dot 4 px larger than the next one's, so that points that coincide (0.5 and a
    // validation threshold with the same counts) stay visible as rings around one another.
    for (i, &(cx, cy)) in centres.iter().enumerate() {
        let radius = 5 + 4 * (centres.len() - 1 - i) as i32;
        root.draw(&Circle::new((cx, cy), radius + 2, WHITE.filled()))
            .map_err(plot_err)?;
        root.draw(&Circle::new((cx, cy), radius, POINT_COLORS[i].filled()))
            .map_err(plot_err)?;
    }
    Ok(())
}
