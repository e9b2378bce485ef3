//! Charts: [`jointplot`], [`histogram`], [`learning_curves`], [`confusion_matrix_plot`] and
//! [`roc_curve_plot`].

use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontTransform, RGBColor, ShapeStyle, BLACK, WHITE};

use super::canvas::Canvas;
use super::figure::{render, Area};
use super::{
    finite_values, plot_err, text, tick_label, Colormap, Figure, Numeric, TAB_BLUE, TAB_ORANGE,
    TAB_RED,
};
use crate::error::{Error, Result};

/// Light grey of the grid lines.
pub(super) const GRID: RGBColor = RGBColor(225, 225, 225);

/// `(lo, hi)` widened by 5 % on each side (or by 0.5 when all values are equal).
fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// Smallest and largest value of a non-empty slice.
fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// The `q`-th quantile (0..=1) of sorted values, interpolated linearly like numpy's default.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * (pos - i as f64)
}

/// Number of bins by numpy's `bins="auto"` (numpy 2): the narrower of the Sturges width and the
/// Freedman-Diaconis width, the latter held to at least half the square-root rule's (1 to 100 bins).
fn auto_bins(values: &[f64]) -> usize {
    let (lo, hi) = min_max(values);
    if hi <= lo {
        return 1;
    }
    let n = values.len() as f64;
    let sturges = (hi - lo) / (n.log2() + 1.0);
    let sqrt_rule = (hi - lo) / n.sqrt();
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let iqr = quantile(&sorted, 0.75) - quantile(&sorted, 0.25);
    let fd = 2.0 * iqr / n.cbrt();
    let width = fd.max(sqrt_rule / 2.0).min(sturges);
    (((hi - lo) / width).ceil() as usize).clamp(1, 100)
}

/// Counts of `values` in `bins` equal bins over `[lo, hi]`, the last bin closed like numpy's `histogram`.
fn bin_counts(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<u64> {
    let mut counts = vec![0u64; bins];
    let width = (hi - lo) / bins as f64;
    for &v in values {
        let i = if width > 0.0 {
            (((v - lo) / width).floor() as usize).min(bins - 1)
        } else {
            bins / 2
        };
        counts[i] += 1;
    }
    counts
}

/// Bin edges for a histogram of values in `[lo, hi]`, widened to width 1 when all values are equal.
fn bin_range(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// Scatter plot of `y` against `x` with a histogram of each on the margins, like seaborn's `jointplot`.
///
/// Any primitive numbers work (e.g. image widths and heights as `usize`).
pub fn jointplot<X: Numeric, Y: Numeric>(
    x: &[X],
    y: &[Y],
    x_label: &str,
    y_label: &str,
) -> Result<Figure> {
    let xs = finite_values(x, "x")?;
    let ys = finite_values(y, "y")?;
    if xs.len() != ys.len() {
        return Err(Error::invalid(
            "y",
            format!("{} values", ys.len()),
            format!("as many values as x ({})", xs.len()),
        ));
    }
    let (x_lo, x_hi) = min_max(&xs);
    let (y_lo, y_hi) = min_max(&ys);
    let (x0, x1) = padded(x_lo, x_hi);
    let (y0, y1) = padded(y_lo, y_hi);
    let (bx0, bx1) = bin_range(x_lo, x_hi);
    let (by0, by1) = bin_range(y_lo, y_hi);
    let x_bins = auto_bins(&xs);
    let y_bins = auto_bins(&ys);
    let x_counts = bin_counts(&xs, bx0, bx1, x_bins);
    let y_counts = bin_counts(&ys, by0, by1, y_bins);
    let (size, marginal, left, bottom) = (640u32, 110u32, 85u32, 50u32);
    let main_side = size - marginal;
    render(size, size, |root| {
        let top = root.clone().shrink((0, 0), (main_side, marginal));
        let main = root.clone().shrink((0, marginal), (main_side, main_side));
        let right = root
            .clone()
            .shrink((main_side, marginal), (marginal, main_side));

        let mut chart = ChartBuilder::on(&main)
            .margin(0)
            .margin_left(10)
            .x_label_area_size(bottom)
            .y_label_area_size(left)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        let fmt = |v: &f64| tick_label(*v);
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .max_light_lines(0)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .x_desc(x_label)
            .y_desc(y_label)
            .label_style(text(12.0))
            .axis_desc_style(text(15.0))
            .draw()
            .map_err(plot_err)?;
        let dot = TAB_BLUE.mix(0.5).filled();
        chart
            .draw_series(
                xs.iter()
                    .zip(&ys)
                    .map(|(&a, &b)| Circle::new((a, b), 3, dot)),
            )
            .map_err(plot_err)?;

        // Marginal histograms share the main chart's x (top) and y (right) ranges.
        let bar = TAB_BLUE.mix(0.75).filled();
        let x_max = x_counts.iter().copied().max().unwrap_or(1) as f64;
        let mut top_chart = ChartBuilder::on(&top)
            .margin_left(10)
            .margin_top(10)
            .margin_bottom(4)
            .y_label_area_size(left)
            .build_cartesian_2d(x0..x1, 0.0..x_max * 1.05)
            .map_err(plot_err)?;
        let x_width = (bx1 - bx0) / x_bins as f64;
        top_chart
            .draw_series(x_counts.iter().enumerate().map(|(i, &c)| {
                let a = bx0 + i as f64 * x_width;
                Rectangle::new([(a, 0.0), (a + x_width, c as f64)], bar)
            }))
            .map_err(plot_err)?;
        top_chart
            .draw_series(x_counts.iter().enumerate().map(|(i, &c)| {
                let a = bx0 + i as f64 * x_width;
                Rectangle::new([(a, 0.0), (a + x_width, c as f64)], WHITE.stroke_width(1))
            }))
            .map_err(plot_err)?;
        let y_max = y_counts.iter().copied().max().unwrap_or(1) as f64;
        let mut right_chart = ChartBuilder::on(&right)
            .margin_left(4)
            .margin_right(10)
            .x_label_area_size(bottom)
            .build_cartesian_2d(0.0..y_max * 1.05, y0..y1)
            .map_err(plot_err)?;
        let y_width = (by1 - by0) / y_bins as f64;
        right_chart
            .draw_series(y_counts.iter().enumerate().map(|(i, &c)| {
                let a = by0 + i as f64 * y_width;
                Rectangle::new([(0.0, a), (c as f64, a + y_width)], bar)
            }))
            .map_err(plot_err)?;
        right_chart
            .draw_series(y_counts.iter().enumerate().map(|(i, &c)| {
                let a = by0 + i as f64 * y_width;
                Rectangle::new([(0.0, a), (c as f64, a + y_width)], WHITE.stroke_width(1))
            }))
            .map_err(plot_err)?;
        Ok(())
    })
}

/// Histogram of `values` in `bins` equal-width bins (`0` picks the number like numpy's `bins="auto"`).
///
/// `label` names the values on the x axis; the y axis counts them.
pub fn histogram<T: Numeric>(values: &[T], bins: usize, label: &str) -> Result<Figure> {
    let vs = finite_values(values, "values")?;
    if bins > 10_000 {
        return Err(Error::invalid("bins", bins, "0 (auto) to 10000"));
    }
    let bins = if bins == 0 { auto_bins(&vs) } else { bins };
    let (lo, hi) = min_max(&vs);
    let (b0, b1) = bin_range(lo, hi);
    let counts = bin_counts(&vs, b0, b1, bins);
    let (x0, x1) = padded(b0, b1);
    let top = counts.iter().copied().max().unwrap_or(1) as f64 * 1.05;
    render(640, 440, |root| {
        let mut chart = ChartBuilder::on(root)
            .margin(14)
            .x_label_area_size(50)
            .y_label_area_size(65)
            .build_cartesian_2d(x0..x1, 0.0..top)
            .map_err(plot_err)?;
        let fmt = |v: &f64| tick_label(*v);
        chart
            .configure_mesh()
            .disable_x_mesh()
            .bold_line_style(GRID)
            .max_light_lines(0)
            .x_label_formatter(&fmt)
            .y_label_formatter(&fmt)
            .y_labels(if top < 10.0 {
                top.ceil() as usize + 1
            } else {
                10
            })
            .x_desc(label)
            .y_desc("count")
            .label_style(text(12.0))
            .axis_desc_style(text(15.0))
            .draw()
            .map_err(plot_err)?;
        let width = (b1 - b0) / bins as f64;
        let bar = TAB_BLUE.mix(0.8).filled();
        let edge = WHITE.stroke_width(1);
        for (i, &c) in counts.iter().enumerate() {
            let a = b0 + i as f64 * width;
            let corners = [(a, 0.0), (a + width, c as f64)];
            chart
                .draw_series([Rectangle::new(corners, bar), Rectangle::new(corners, edge)])
                .map_err(plot_err)?;
        }
        Ok(())
    })
}

/// One metric per epoch on training and validation data, e.g. Keras' `loss` and `val_loss`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Curve {
    /// The metric's name, the panel title ("loss", "accuracy", "AUC").
    pub name: String,
    /// Value after each epoch on the training data.
    pub train: Vec<f32>,
    /// Value after each epoch on the validation data (empty when there is none).
    pub validation: Vec<f32>,
}

impl Curve {
    /// A curve from its name and per-epoch values.
    pub fn new(
        name: impl Into<String>,
        train: impl Into<Vec<f32>>,
        validation: impl Into<Vec<f32>>,
    ) -> Self {
        Curve {
            name: name.into(),
            train: train.into(),
            validation: validation.into(),
        }
    }
}

/// Learning curves: one panel per [`Curve`], training (blue) and validation (orange) per epoch.
pub fn learning_curves(curves: &[Curve]) -> Result<Figure> {
    if curves.is_empty() {
        return Err(Error::invalid("curves", "none", "at least one curve"));
    }
    if curves.len() > 8 {
        return Err(Error::invalid("curves", curves.len(), "at most 8 panels"));
    }
    let mut checked = Vec::with_capacity(curves.len());
    for c in curves {
        let train = finite_values(&c.train, "train")
            .map_err(|e| Error::Plot(format!("curve '{}': {e}", c.name)))?;
        let validation = if c.validation.is_empty() {
            Vec::new()
        } else {
            finite_values(&c.validation, "validation")
                .map_err(|e| Error::Plot(format!("curve '{}': {e}", c.name)))?
        };
        if !validation.is_empty() && validation.len() != train.len() {
            return Err(Error::invalid(
                "validation",
                format!("{} epochs in curve '{}'", validation.len(), c.name),
                format!("none or as many epochs as train ({})", train.len()),
            ));
        }
        checked.push((c.name.as_str(), train, validation));
    }
    let (panel_w, panel_h) = (440u32, 340u32);
    render(panel_w * curves.len() as u32, panel_h, |root| {
        for ((name, train, validation), area) in
            checked.iter().zip(root.split_evenly((1, curves.len())))
        {
            draw_curve(&area, name, train, validation)?;
        }
        Ok(())
    })
}

/// Draws one learning-curve panel.
fn draw_curve(area: &Area<'_>, name: &str, train: &[f64], validation: &[f64]) -> Result<()> {
    let epochs = train.len();
    let all: Vec<f64> = train.iter().chain(validation).copied().collect();
    let (lo, hi) = min_max(&all);
    let (y0, y1) = padded(lo, hi);
    let (x0, x1) = if epochs > 1 {
        padded(1.0, epochs as f64)
    } else {
        (0.5, 1.5)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(name, text(17.0))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(plot_err)?;
    let fmt = |v: &f64| tick_label(*v);
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .max_light_lines(0)
        .x_labels(epochs.clamp(2, 10))
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_desc("epoch")
        .label_style(text(12.0))
        .axis_desc_style(text(14.0))
        .draw()
        .map_err(plot_err)?;
    for (values, color, label) in [
        (train, TAB_BLUE, "train"),
        (validation, TAB_ORANGE, "validation"),
    ] {
        if values.is_empty() {
            continue;
        }
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_err)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(plot_err)?;
    }
    // The legend goes in the upper right unless the curves end high (e.g. accuracy), then lower right.
    let end_high = [train.last(), validation.last()]
        .into_iter()
        .flatten()
        .any(|&v| v > (y0 + y1) / 2.0);
    let corner = if end_high {
        SeriesLabelPosition::LowerRight
    } else {
        SeriesLabelPosition::UpperRight
    };
    draw_legend(&mut chart, corner, 13.0)
}

/// A confusion-matrix heat map (rows: true class, columns: predicted) with counts and each count's share of its true class.
///
/// Takes `[[tn, fp], [fn, tp]]` or a `&`[`ConfusionMatrix`](crate::cnn::metrics::ConfusionMatrix);
/// `class_names` are the names of class 0 and class 1.
pub fn confusion_matrix_plot(
    matrix: impl Into<[[u64; 2]; 2]>,
    class_names: [&str; 2],
) -> Result<Figure> {
    let m = matrix.into();
    let max = m.iter().flatten().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(Error::invalid(
            "matrix",
            "all counts 0",
            "at least one counted sample",
        ));
    }
    let (cell, left, top, bottom, right) = (150i32, 140i32, 46i32, 64i32, 24i32);
    let width = (left + 2 * cell + right) as u32;
    let height = (top + 2 * cell + bottom) as u32;
    render(width, height, |root| {
        root.draw(&Text::new(
            "Confusion matrix",
            (left + cell, 12),
            text(18.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_err)?;
        for (r, row) in m.iter().enumerate() {
            let row_total: u64 = row.iter().sum();
            for (c, &count) in row.iter().enumerate() {
                let (x, y) = (left + c as i32 * cell, top + r as i32 * cell);
                let level = count as f32 / max as f32;
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    Colormap::Blues.color(level).filled(),
                ))
                .map_err(plot_err)?;
                let ink = if level > 0.5 { WHITE } else { BLACK };
                let centre = (x + cell / 2, y + cell / 2);
                root.draw(&Text::new(
                    count.to_string(),
                    (centre.0, centre.1 - 4),
                    text(26.0)
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Bottom)),
                ))
                .map_err(plot_err)?;
                let share = if row_total == 0 {
                    "-".to_string()
                } else {
                    format!(
                        "{:.1}% of {}",
                        100.0 * count as f64 / row_total as f64,
                        class_names[r]
                    )
                };
                root.draw(&Text::new(
                    share,
                    (centre.0, centre.1 + 6),
                    text(13.0)
                        .color(&ink)
                        .pos(Pos::new(HPos::Center, VPos::Top)),
                ))
                .map_err(plot_err)?;
            }
        }
        root.draw(&Rectangle::new(
            [(left, top), (left + 2 * cell, top + 2 * cell)],
            ShapeStyle::from(&BLACK).stroke_width(1),
        ))
        .map_err(plot_err)?;
        for (i, name) in class_names.iter().enumerate() {
            let mid = cell / 2 + i as i32 * cell;
            root.draw(&Text::new(
                name.to_string(),
                (left + mid, top + 2 * cell + 6),
                text(14.0).pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(plot_err)?;
            root.draw(&Text::new(
                name.to_string(),
                (left - 8, top + mid),
                text(14.0).pos(Pos::new(HPos::Right, VPos::Center)),
            ))
            .map_err(plot_err)?;
        }
        root.draw(&Text::new(
            "Predicted label",
            (left + cell, top + 2 * cell + 34),
            text(15.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new(
            "True label",
            (10, top + cell),
            text(15.0)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_err)?;
        Ok(())
    })
}

/// The ROC curve from [`roc_curve`](crate::cnn::metrics::roc_curve)'s `fpr` and `tpr`, with
/// its AUC in the legend (pass `f64::NAN` to leave it out) and the chance diagonal dashed.
pub fn roc_curve_plot(fpr: &[f64], tpr: &[f64], auc: f64) -> Result<Figure> {
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
    render(500, 480, |root| {
        let mut chart = unit_square_chart(
            root,
            "ROC curve",
            (
                "False positive rate (1 - specificity)",
                "True positive rate (sensitivity)",
            ),
            "chance",
        )?;
        chart
            .draw_series(LineSeries::new(
                xs.iter().copied().zip(ys.iter().copied()),
                TAB_RED.stroke_width(2),
            ))
            .map_err(plot_err)?
            .label(if auc.is_nan() {
                "ROC".to_string()
            } else {
                format!("ROC (AUC = {auc:.3})")
            })
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], TAB_RED.stroke_width(2)));
        draw_legend(&mut chart, SeriesLabelPosition::LowerRight, 14.0)
    })
}

/// The chart type of every figure with two numeric axes.
pub(super) type XyChart<'a, 'b> =
    ChartContext<'a, Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A chart with probabilities or rates on both axes ([0, 1], a little margin), its grid, tick
/// labels and axis titles drawn, and the diagonal dashed and labelled `diagonal` in the legend:
/// the frame of the ROC curve and of the reliability diagram.
pub(super) fn unit_square_chart<'a, 'b>(
    area: &'a Area<'b>,
    title: &str,
    (x_desc, y_desc): (&str, &str),
    diagonal: &str,
) -> Result<XyChart<'a, 'b>> {
    let mut chart = ChartBuilder::on(area)
        .caption(title, text(18.0))
        .margin(14)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.01..1.01, -0.01..1.01)
        .map_err(plot_err)?;
    let fmt = |v: &f64| tick_label(*v);
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .max_light_lines(0)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style(text(12.0))
        .axis_desc_style(text(14.0))
        .draw()
        .map_err(plot_err)?;
    let grey = RGBColor(130, 130, 130);
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, 0.0), (1.0, 1.0)],
            8,
            6,
            grey.stroke_width(1),
        ))
        .map_err(plot_err)?
        .label(diagonal)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], grey.stroke_width(1)));
    Ok(chart)
}

/// Draws the legend of `chart` in `corner`, on a translucent white box, in `size`-pixel text.
pub(super) fn draw_legend<'a, 'b: 'a>(
    chart: &mut XyChart<'a, 'b>,
    corner: SeriesLabelPosition,
    size: f64,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(corner)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font(text(size))
        .draw()
        .map_err(plot_err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::metrics::ConfusionMatrix;
    use crate::plot::figure::tests::decode;

    /// Whether a pixel is a shade of matplotlib's blue (drawn over white, any opacity).
    fn bluish(p: [u8; 3]) -> bool {
        i32::from(p[2]) > i32::from(p[0]) + 40
    }

    /// Count of bluish pixels in column `x` between rows `y0..y1`.
    fn blue_in_column(img: &image::RgbImage, x: u32, y0: u32, y1: u32) -> usize {
        (y0..y1).filter(|&y| bluish(img.get_pixel(x, y).0)).count()
    }

    #[test]
    fn bins_follow_numpy() {
        // np.histogram([0, 1, 2, 3, 4], 2) -> [2, 3]: the last bin is closed.
        assert_eq!(
            bin_counts(&[0.0, 1.0, 2.0, 3.0, 4.0], 0.0, 4.0, 2),
            vec![2, 3]
        );
        // len(np.histogram_bin_edges(np.arange(1, 101), "auto")) - 1 == 8
        let ramp: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(auto_bins(&ramp), 8);
        // ... and 5 for [1, 1, 1, 1, 2, 50] (the square-root floor on the FD width).
        assert_eq!(auto_bins(&[1.0, 1.0, 1.0, 1.0, 2.0, 50.0]), 5);
        assert_eq!(auto_bins(&[3.0, 3.0]), 1);
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), 2.5);
    }

    #[test]
    fn histogram_bars_stand_where_values_are() {
        // Bin 0 holds 3 values, bin 9 one, bins 1..=8 none.
        let fig = histogram(&[0.0f64, 0.0, 0.0, 10.0], 10, "value").unwrap();
        assert_eq!(fig.size(), (640, 440));
        let px = decode(&fig);
        // Plot area x: 79..626 px for x in -0.5..10.5.
        let col = |x: f64| (79.0 + (x + 0.5) / 11.0 * 547.0) as u32;
        assert!(
            blue_in_column(&px, col(0.5), 14, 390) > 100,
            "tall first bar"
        );
        assert!(
            blue_in_column(&px, col(9.5), 14, 390) > 20,
            "short last bar"
        );
        assert_eq!(
            blue_in_column(&px, col(5.0), 14, 390),
            0,
            "empty middle bins"
        );
        // The x-axis label is drawn below the ticks.
        let ink = (250..450)
            .flat_map(|x| (400..440).map(move |y| (x, y)))
            .filter(|&(x, y)| px.get_pixel(x, y).0 != [255, 255, 255])
            .count();
        assert!(ink > 30, "axis label drawn");
    }

    #[test]
    fn histogram_rejects_bad_input() {
        assert!(matches!(
            histogram::<f64>(&[], 10, "x"),
            Err(Error::InvalidArgument { name: "values", .. })
        ));
        assert!(histogram(&[1.0f32, f32::NAN], 10, "x").is_err());
        assert!(histogram(&[1.0f32], 1_000_000, "x").is_err());
        // One distinct value still draws (a bin of width 1 around it).
        assert!(histogram(&[5u32, 5, 5], 0, "x").is_ok());
    }

    #[test]
    fn jointplot_draws_points_and_margins() {
        // Points only in the lower-left corner of the data range except one far point.
        let x = [1.0f32, 1.1, 1.2, 10.0];
        let y = [1.0f32, 1.2, 1.1, 10.0];
        let fig = jointplot(&x, &y, "width", "height").unwrap();
        let px = decode(&fig);
        // Main plot: x 95..530, y 110..590 (margin 10, left label 85, bottom 50, marginals 110).
        let main_blue = (95..530)
            .flat_map(|x| (110..590).map(move |y| (x, y)))
            .filter(|&(x, y)| bluish(px.get_pixel(x, y).0))
            .count();
        assert!(main_blue > 40, "scatter points drawn: {main_blue}");
        // Top marginal histogram has bars; its middle (no data near x = 5.5) is empty.
        assert!(blue_in_column(&px, 130, 0, 110) > 10);
        assert_eq!(blue_in_column(&px, 307, 0, 110), 0);
        let e = jointplot(&[1.0f64, 2.0], &[1.0f64], "a", "b").unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { name: "y", .. }));
        assert!(jointplot(&[f64::NAN], &[1.0f64], "a", "b").is_err());
        assert!(jointplot::<f64, f64>(&[], &[], "a", "b").is_err());
    }

    #[test]
    fn learning_curves_one_panel_per_metric() {
        let loss = Curve::new("loss", vec![0.7, 0.5, 0.4], vec![0.6, 0.5, 0.45]);
        let acc = Curve::new("accuracy", vec![0.6, 0.7, 0.8], Vec::new());
        let fig = learning_curves(&[loss.clone(), acc]).unwrap();
        assert_eq!(fig.size(), (880, 340));
        let px = decode(&fig);
        let orange = |p: [u8; 3]| p[0] > 200 && p[1] > 90 && p[1] < 160 && p[2] < 60;
        let count = |x0: u32, x1: u32, f: &dyn Fn([u8; 3]) -> bool| {
            (x0..x1)
                .flat_map(|x| (0..340).map(move |y| (x, y)))
                .filter(|&(x, y)| f(px.get_pixel(x, y).0))
                .count()
        };
        assert!(
            count(0, 440, &orange) > 50,
            "validation line in the loss panel"
        );
        assert_eq!(
            count(440, 880, &orange),
            0,
            "no validation in the accuracy panel"
        );
        // The panel title is drawn: another name changes the pixels.
        let renamed = Curve {
            name: "cross-entropy".into(),
            ..loss.clone()
        };
        let a = learning_curves(std::slice::from_ref(&loss)).unwrap();
        let b = learning_curves(&[renamed]).unwrap();
        assert_ne!(a.png_bytes(), b.png_bytes());
    }

    #[test]
    fn learning_curves_reject_bad_input() {
        assert!(learning_curves(&[]).is_err());
        let short = Curve::new("loss", vec![0.5, 0.4], vec![0.5]);
        assert!(matches!(
            learning_curves(&[short]),
            Err(Error::InvalidArgument {
                name: "validation",
                ..
            })
        ));
        let nan = Curve::new("loss", vec![0.5, f32::NAN], Vec::new());
        let e = learning_curves(&[nan]).unwrap_err();
        assert!(
            matches!(&e, Error::Plot(m) if m.contains("curve 'loss'")),
            "{e}"
        );
        let empty = Curve::new("loss", Vec::new(), Vec::new());
        assert!(learning_curves(&[empty]).is_err());
    }

    #[test]
    fn confusion_matrix_cells_are_shaded_by_count() {
        let cm = ConfusionMatrix {
            tn: 50,
            fp: 0,
            fn_: 10,
            tp: 100,
        };
        let fig = confusion_matrix_plot(&cm, ["NORMAL", "PNEUMONIA"]).unwrap();
        let px = decode(&fig);
        // Cells are 150 px, starting at (140, 46); sample near each cell's corner.
        let cell = |r: u32, c: u32| px.get_pixel(140 + c * 150 + 6, 46 + r * 150 + 6).0;
        let dark = Colormap::Blues.color(1.0);
        let light = Colormap::Blues.color(0.0);
        assert_eq!(
            cell(1, 1),
            [dark.0, dark.1, dark.2],
            "tp is the largest count"
        );
        assert_eq!(cell(0, 1), [light.0, light.1, light.2], "fp = 0");
        let mid = Colormap::Blues.color(0.5);
        assert_eq!(cell(0, 0), [mid.0, mid.1, mid.2], "tn = half the largest");
        // White count text is drawn on the dark cell.
        let white_text = (140 + 150..140 + 300)
            .flat_map(|x| (46 + 150..46 + 300).map(move |y| (x, y)))
            .filter(|&(x, y)| px.get_pixel(x, y).0 == [255, 255, 255])
            .count();
        assert!(white_text > 30, "{white_text}");
        assert!(matches!(
            confusion_matrix_plot([[0, 0], [0, 0]], ["a", "b"]),
            Err(Error::InvalidArgument { name: "matrix", .. })
        ));
    }

    #[test]
    fn roc_plot_traces_the_curve() {
        // A perfect classifier: the curve runs up the left edge and along the top.
        let fig = roc_curve_plot(&[0.0, 0.0, 1.0], &[0.0, 1.0, 1.0], 1.0).unwrap();
        let px = decode(&fig);
        let red = |p: [u8; 3]| p[0] > 150 && p[1] < 90 && p[2] < 90;
        // Plot area: x 74..486, y ~ 14+caption..430; the top line runs at y = 1.
        let top_row_red = (0..480)
            .filter(|&y| (200..400).all(|x| red(px.get_pixel(x, y).0)))
            .count();
        assert!(top_row_red >= 1, "a red line across the top");
        let centre_red = (200..300)
            .flat_map(|x| (200..300).map(move |y| (x, y)))
            .filter(|&(x, y)| red(px.get_pixel(x, y).0))
            .count();
        assert_eq!(centre_red, 0, "nothing red in the middle");
    }

    #[test]
    fn roc_plot_rejects_bad_input() {
        let bad = |fpr: &[f64], tpr: &[f64], auc: f64| roc_curve_plot(fpr, tpr, auc).is_err();
        assert!(bad(&[0.0, 1.0], &[0.0], 0.5));
        assert!(bad(&[0.0], &[0.0], 0.5));
        assert!(bad(&[0.0, 1.5], &[0.0, 1.0], 0.5));
        assert!(bad(&[0.0, f64::NAN], &[0.0, 1.0], 0.5));
        assert!(
            !bad(&[0.0, 1.0], &[0.0, 1.0], f64::NAN),
            "NaN AUC: legend without it"
        );
        assert!(bad(&[0.0, 1.0], &[0.0, 1.0], 1.2));
    }
}
