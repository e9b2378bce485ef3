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
    finite_values, plot_err, text, tick_label, Colormap, Figure, Numeric, TAB_BLUE, TAB_GREEN,
    TAB_ORANGE, TAB_RED,
};
use crate::error::{Error, Result};
use crate::metrics::{auc, roc_curve, BinaryLabel, ConfusionMatrix, Threshold};

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
        draw_grid(&mut chart, (x_label, y_label), 15.0)?;
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

/// Epochs to mark on [`learning_curves_with`]: the best epoch (whose weights were kept) and the
/// epoch at which early stopping ended training; [`History::epoch_marks`](crate::history::History::epoch_marks)
/// fills them from a training run.
///
/// `EpochMarks::new().best_epoch(7).monitor("val_loss", 0.2134).stopped_at(11)` draws a dashed
/// line at epoch 7, "best epoch 7 (val_loss 0.2134)" in the legend, and a dotted line at
/// epoch 11, "early stop at epoch 11: no better val_loss for 4 epochs".
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EpochMarks {
    /// The best epoch, 1-based (Keras's `EarlyStopping(restore_best_weights=True)` keeps its weights).
    pub best_epoch: Option<usize>,
    /// The metric that picked the best epoch and its value there, e.g. `("val_loss", 0.2134)`.
    pub monitor: Option<(String, f64)>,
    /// The last epoch run, when early stopping ended training before the epoch limit.
    pub stopped_at: Option<usize>,
}

impl EpochMarks {
    /// No marks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Marks `epoch` (1-based) as the best.
    pub fn best_epoch(mut self, epoch: usize) -> Self {
        self.best_epoch = Some(epoch);
        self
    }

    /// Names the metric that picked the best epoch and its value there.
    pub fn monitor(mut self, name: impl Into<String>, value: f64) -> Self {
        self.monitor = Some((name.into(), value));
        self
    }

    /// Marks `epoch` (1-based) as the one where early stopping ended training.
    pub fn stopped_at(mut self, epoch: usize) -> Self {
        self.stopped_at = Some(epoch);
        self
    }

    /// Checks the marks against curves of `epochs` epochs.
    fn check(&self, epochs: usize) -> Result<()> {
        let expected = format!("an epoch from 1 to {epochs} (the curves' epochs)");
        for (name, epoch) in [
            ("best_epoch", self.best_epoch),
            ("stopped_at", self.stopped_at),
        ] {
            if let Some(e) = epoch.filter(|e| !(1..=epochs).contains(e)) {
                return Err(Error::invalid(name, e, expected.clone()));
            }
        }
        if let Some((name, value)) = &self.monitor {
            if self.best_epoch.is_none() {
                return Err(Error::invalid(
                    "monitor",
                    name,
                    "a monitored metric together with best_epoch",
                ));
            }
            if !value.is_finite() {
                return Err(Error::invalid("monitor", value, "a finite value"));
            }
        }
        Ok(())
    }

    /// The legend text of the best-epoch line.
    fn best_label(&self, best: usize) -> String {
        match &self.monitor {
            Some((name, value)) => format!("best epoch {best} ({name} {value:.4})"),
            None => format!("best epoch {best}"),
        }
    }

    /// The legend text of the early-stop line.
    fn stop_label(&self, stop: usize) -> String {
        match (self.best_epoch, &self.monitor) {
            (Some(best), Some((name, _))) if stop > best => {
                let n = stop - best;
                let epochs = if n == 1 { "epoch" } else { "epochs" };
                format!("early stop at epoch {stop}: no better {name} for {n} {epochs}")
            }
            _ => format!("early stop at epoch {stop}"),
        }
    }
}

/// Colour of the best-epoch line.
const BEST_EPOCH: RGBColor = RGBColor(40, 40, 40);
/// Colour of the early-stop line.
const EARLY_STOP: RGBColor = RGBColor(130, 130, 130);

/// How the sample of a legend entry is drawn.
#[derive(Clone, Copy)]
enum Sample {
    /// A line with a dot in the middle, like the curves.
    LineWithDot(RGBColor),
    /// A dashed line (the best epoch).
    Dashed(RGBColor),
    /// A dotted line (the early stop).
    Dotted(RGBColor),
}

/// Width of a legend sample, the gap after it, and the gap between entries, in pixels.
const SAMPLE_W: i32 = 26;
const SAMPLE_GAP: i32 = 6;
const ENTRY_GAP: i32 = 22;
/// Text size and row height of the legend above learning curves.
const STRIP_TEXT: f64 = 13.0;
const STRIP_ROW: i32 = 22;

/// The legend entries laid out in centred rows no wider than `width`: each entry's left x and row.
fn strip_layout(entries: &[(Sample, String)], width: i32) -> Result<Vec<(i32, usize)>> {
    let mut widths = Vec::with_capacity(entries.len());
    for (_, label) in entries {
        let (w, _) = super::canvas::text_box(label, STRIP_TEXT).map_err(plot_err)?;
        widths.push(SAMPLE_W + SAMPLE_GAP + w as i32);
    }
    // Fill rows greedily, then centre each row.
    let mut rows: Vec<Vec<usize>> = vec![Vec::new()];
    let mut used = 0;
    for (i, &w) in widths.iter().enumerate() {
        let row = rows.last_mut().expect("rows start with one");
        let extra = if row.is_empty() { w } else { ENTRY_GAP + w };
        if !row.is_empty() && used + extra > width {
            rows.push(vec![i]);
            used = w;
        } else {
            row.push(i);
            used += extra;
        }
    }
    let mut placed = vec![(0, 0); entries.len()];
    for (r, row) in rows.iter().enumerate() {
        let total: i32 =
            row.iter().map(|&i| widths[i]).sum::<i32>() + ENTRY_GAP * (row.len() as i32 - 1);
        let mut x = (width - total).max(0) / 2;
        for &i in row {
            placed[i] = (x, r);
            x += widths[i] + ENTRY_GAP;
        }
    }
    Ok(placed)
}

/// Draws one legend sample centred vertically on `y`, starting at `x`.
fn draw_sample(area: &Area<'_>, sample: Sample, x: i32, y: i32) -> Result<()> {
    let segment = |a: i32, b: i32, color: RGBColor| {
        area.draw(&PathElement::new(
            vec![(x + a, y), (x + b, y)],
            color.stroke_width(2),
        ))
        .map_err(plot_err)
    };
    match sample {
        Sample::LineWithDot(color) => {
            segment(0, SAMPLE_W, color)?;
            area.draw(&Circle::new((x + SAMPLE_W / 2, y), 3, color.filled()))
                .map_err(plot_err)?;
        }
        Sample::Dashed(color) => {
            for a in [0, 10, 20] {
                segment(a, (a + 6).min(SAMPLE_W), color)?;
            }
        }
        Sample::Dotted(color) => {
            for a in (0..SAMPLE_W).step_by(5) {
                segment(a, a + 2, color)?;
            }
        }
    }
    Ok(())
}

/// Learning curves: one panel per [`Curve`], training (blue) and validation (orange) per
/// epoch, under one legend for the whole figure.
///
/// [`learning_curves_with`] also marks the best epoch and the early stop.
pub fn learning_curves(curves: &[Curve]) -> Result<Figure> {
    learning_curves_with(curves, &EpochMarks::default())
}

/// [`learning_curves`] with the best epoch (a dashed line in every panel) and the early stop
/// (a dotted line) marked and named in the legend:
/// `plot::learning_curves_with(&history.curves(), &history.epoch_marks())`.
///
/// Panels sit side by side up to three, then in rows; the figure is at most 960 px wide, so it
/// shows at its size in JupyterLab's output area.
pub fn learning_curves_with(curves: &[Curve], marks: &EpochMarks) -> Result<Figure> {
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
    let epochs = checked.iter().map(|c| c.1.len()).max().unwrap_or(0);
    marks.check(epochs)?;

    let mut entries = vec![(Sample::LineWithDot(TAB_BLUE), "train".to_string())];
    if checked.iter().any(|c| !c.2.is_empty()) {
        entries.push((Sample::LineWithDot(TAB_ORANGE), "validation".to_string()));
    }
    if let Some(best) = marks.best_epoch {
        entries.push((Sample::Dashed(BEST_EPOCH), marks.best_label(best)));
    }
    if let Some(stop) = marks.stopped_at {
        entries.push((Sample::Dotted(EARLY_STOP), marks.stop_label(stop)));
    }

    let n = curves.len() as u32;
    let rows = n.div_ceil(3);
    let cols = n.div_ceil(rows);
    let panel_w = (960 / cols).min(560);
    let panel_h = 320u32;
    let width = panel_w * cols;
    let placed = strip_layout(&entries, width as i32 - 20)?;
    let strip_rows = placed.iter().map(|p| p.1).max().unwrap_or(0) as i32 + 1;
    let strip_h = (8 + strip_rows * STRIP_ROW) as u32;
    render(width, strip_h + panel_h * rows, |root| {
        let (strip, panels) = root.split_vertically(strip_h);
        for ((sample, label), &(x, row)) in entries.iter().zip(&placed) {
            let (x, y) = (10 + x, 8 + row as i32 * STRIP_ROW + STRIP_ROW / 2);
            draw_sample(&strip, *sample, x, y)?;
            strip
                .draw(&Text::new(
                    label.clone(),
                    (x + SAMPLE_W + SAMPLE_GAP, y),
                    text(STRIP_TEXT).pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(plot_err)?;
        }
        let areas = panels.split_evenly((rows as usize, cols as usize));
        for ((name, train, validation), area) in checked.iter().zip(&areas) {
            draw_curve(area, name, train, validation, marks)?;
        }
        Ok(())
    })
}

/// Draws one learning-curve panel, with the epoch marks as vertical lines behind the curves.
fn draw_curve(
    area: &Area<'_>,
    name: &str,
    train: &[f64],
    validation: &[f64],
    marks: &EpochMarks,
) -> Result<()> {
    let all: Vec<f64> = train.iter().chain(validation).copied().collect();
    let (lo, hi) = min_max(&all);
    let (y0, y1) = padded(lo, hi);
    let mut chart = curve_chart(area, name, train.len(), (y0, y1))?;
    let vertical = |epoch: usize, color: RGBColor, dash: u32, gap: u32| {
        let x = epoch as f64;
        DashedLineSeries::new([(x, y0), (x, y1)], dash, gap, color.stroke_width(2))
    };
    if let Some(stop) = marks.stopped_at {
        chart
            .draw_series(vertical(stop, EARLY_STOP, 2, 4))
            .map_err(plot_err)?;
    }
    if let Some(best) = marks.best_epoch {
        chart
            .draw_series(vertical(best, BEST_EPOCH, 7, 5))
            .map_err(plot_err)?;
    }
    for (values, color) in [(train, TAB_BLUE), (validation, TAB_ORANGE)] {
        let points: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| ((i + 1) as f64, v))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
            .map_err(plot_err)?;
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// The frame of a learning-curve panel: epochs `1..=epochs` across, values `y0..y1` up, with
/// its grid, ticks and titles drawn.
fn curve_chart<'a, 'b>(
    area: &'a Area<'b>,
    name: &str,
    epochs: usize,
    (y0, y1): (f64, f64),
) -> Result<XyChart<'a, 'b>> {
    let (x0, x1) = if epochs > 1 {
        padded(1.0, epochs as f64)
    } else {
        (0.5, 1.5)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(name, text(16.0))
        .margin(10)
        .margin_right(16)
        .x_label_area_size(42)
        .y_label_area_size(58)
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
    Ok(chart)
}

/// A confusion-matrix heat map (rows: true class, columns: predicted) with counts and each count's share of its true class.
///
/// Takes `[[tn, fp], [fn, tp]]` or a `&`[`ConfusionMatrix`](crate::metrics::ConfusionMatrix);
/// `class_names` are the names of class 0 and class 1.
///
/// [`confusion_matrix_at`] also states the threshold the predictions were made at.
pub fn confusion_matrix_plot(
    matrix: impl Into<[[u64; 2]; 2]>,
    class_names: [&str; 2],
) -> Result<Figure> {
    confusion_figure(matrix.into(), class_names, "Confusion matrix")
}

/// [`confusion_matrix_plot`] of predictions `prob >= threshold`, the threshold in the title:
/// `plot::confusion_matrix_at(&at_chosen.confusion, ["NORMAL", "PNEUMONIA"], at_chosen.threshold)`.
pub fn confusion_matrix_at(
    matrix: impl Into<[[u64; 2]; 2]>,
    class_names: [&str; 2],
    threshold: Threshold,
) -> Result<Figure> {
    confusion_figure(
        matrix.into(),
        class_names,
        &format!(
            "Confusion matrix at threshold {}",
            threshold_text(threshold)
        ),
    )
}

/// A threshold as the figures print it: up to 3 decimals, no trailing zeros ("0.5", "0.223").
fn threshold_text(t: Threshold) -> String {
    tick_label((f64::from(t.get()) * 1000.0).round() / 1000.0)
}

/// Draws a binary confusion matrix under `title`.
fn confusion_figure(m: [[u64; 2]; 2], class_names: [&str; 2], title: &str) -> Result<Figure> {
    let rows: Vec<Vec<u64>> = m.iter().map(|r| r.to_vec()).collect();
    confusion_grid(&rows, &class_names, title)
}

/// A K x K confusion-matrix heat map, like scikit-learn's `ConfusionMatrixDisplay`: rows are
/// true classes, columns predicted ones, each cell its count and its share of the true class.
///
/// `plot::multiclass_confusion_matrix(&cm, &["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"])`
/// with `cm` a [`MulticlassConfusion`](crate::metrics::multiclass::MulticlassConfusion); the title
/// says the classes are predicted as the most probable one.
pub fn multiclass_confusion_matrix(
    cm: &crate::metrics::multiclass::MulticlassConfusion,
    class_names: &[&str],
) -> Result<Figure> {
    if class_names.len() != cm.classes() {
        return Err(Error::invalid(
            "class_names",
            format!("{} names", class_names.len()),
            format!("one name per class ({} classes)", cm.classes()),
        ));
    }
    confusion_grid(
        cm.counts(),
        class_names,
        "Confusion matrix (predicted: the most probable class)",
    )
}

/// Draws a square confusion matrix of any size under `title`; cells widen to fit their text.
fn confusion_grid(m: &[Vec<u64>], class_names: &[&str], title: &str) -> Result<Figure> {
    let k = m.len();
    let max = m.iter().flatten().copied().max().unwrap_or(0);
    if max == 0 {
        return Err(Error::invalid(
            "matrix",
            "all counts 0",
            "at least one counted sample",
        ));
    }
    let width_of = |s: &str, size: f64| -> Result<i32> {
        Ok(super::canvas::text_box(s, size).map_err(plot_err)?.0 as i32)
    };
    // Cells are 150 px unless a class name or a "100.0% of NAME" line needs more; the left
    // margin holds the row names beside the rotated "True label".
    let (mut cell, mut name_w) = (150i32, 0i32);
    for name in class_names {
        name_w = name_w.max(width_of(name, 14.0)?);
        cell = cell.max(width_of(name, 14.0)? + 16);
        cell = cell.max(width_of(&format!("100.0% of {name}"), 13.0)? + 16);
    }
    let (left, top, bottom, right) = (140i32.max(name_w + 44), 46i32, 64i32, 24i32);
    let k_i = k as i32;
    let width = (left + k_i * cell + right) as u32;
    let height = (top + k_i * cell + bottom) as u32;
    render(width, height, |root| {
        // Centred over the matrix, moved left if a long title would run off the figure.
        let (title_w, _) = super::canvas::text_box(title, 18.0).map_err(plot_err)?;
        let centre = (left + k_i * cell / 2).min(width as i32 - 8 - title_w as i32 / 2);
        root.draw(&Text::new(
            title.to_string(),
            (centre.max(title_w as i32 / 2 + 8), 12),
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
            [(left, top), (left + k_i * cell, top + k_i * cell)],
            ShapeStyle::from(&BLACK).stroke_width(1),
        ))
        .map_err(plot_err)?;
        for (i, name) in class_names.iter().enumerate() {
            let mid = cell / 2 + i as i32 * cell;
            root.draw(&Text::new(
                name.to_string(),
                (left + mid, top + k_i * cell + 6),
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
            (left + k_i * cell / 2, top + k_i * cell + 34),
            text(15.0).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new(
            "True label",
            (10, top + k_i * cell / 2),
            text(15.0)
                .transform(FontTransform::Rotate270)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(plot_err)?;
        Ok(())
    })
}

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
    fn check(&self) -> Result<()> {
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
const POINT_COLORS: [RGBColor; 3] = [BLACK, TAB_RED, TAB_GREEN];

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
            "ROC curve",
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
const CLASS_COLORS: [RGBColor; 6] = [
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
struct Bounds {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
}

impl Bounds {
    /// A `w` x `h` rectangle with its top left at `(x, y)`.
    fn at(x: i32, y: i32, w: i32, h: i32) -> Bounds {
        Bounds {
            left: x,
            top: y,
            right: x + w,
            bottom: y + h,
        }
    }

    /// Whether the rectangles share a pixel.
    fn overlaps(&self, o: &Bounds) -> bool {
        self.left < o.right && o.left < self.right && self.top < o.bottom && o.top < self.bottom
    }

    /// Whether `o` lies inside this rectangle.
    fn holds(&self, o: &Bounds) -> bool {
        o.left >= self.left && o.right <= self.right && o.top >= self.top && o.bottom <= self.bottom
    }
}

/// Whether the polyline through `pixels` passes through the rectangle `b` (plus `pad` pixels).
fn crosses(pixels: &[(i32, i32)], b: &Bounds, pad: i32) -> bool {
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
fn draw_points(
    root: &Area<'_>,
    chart: &XyChart<'_, '_>,
    points: &[OperatingPoint],
    curve: &[(i32, i32)],
    plot: Bounds,
    legend: Bounds,
) -> Result<()> {
    const PAD: i32 = 5;
    const OFFSET: i32 = 10;
    const MARKER: i32 = 7;
    let (size1, size2) = (13.0, 12.0);
    let centres: Vec<(i32, i32)> = points
        .iter()
        .map(|p| chart.backend_coord(&(p.fpr, p.tpr)))
        .collect();
    let markers: Vec<Bounds> = centres
        .iter()
        .map(|&(x, y)| Bounds::at(x - MARKER, y - MARKER, 2 * MARKER + 1, 2 * MARKER + 1))
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
    // Markers last, over the leaders: a white ring around a dot in the point's colour.
    for (i, &(cx, cy)) in centres.iter().enumerate() {
        root.draw(&Circle::new((cx, cy), 7, WHITE.filled()))
            .map_err(plot_err)?;
        root.draw(&Circle::new((cx, cy), 5, POINT_COLORS[i].filled()))
            .map_err(plot_err)?;
    }
    Ok(())
}

/// The chart type of every figure with two numeric axes.
pub(super) type XyChart<'a, 'b> =
    ChartContext<'a, Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws an x-y chart's grid (major lines only), tick labels (12 px) and axis titles
/// (`desc_size` px): the frame every line and scatter chart here shares.
fn draw_grid(
    chart: &mut XyChart<'_, '_>,
    (x_desc, y_desc): (&str, &str),
    desc_size: f64,
) -> Result<()> {
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
        .axis_desc_style(text(desc_size))
        .draw()
        .map_err(plot_err)
}

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
    draw_grid(&mut chart, (x_desc, y_desc), 14.0)?;
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
    use crate::plot::figure::tests::{decode, save_for_review};

    /// A checked threshold.
    fn t(value: f32) -> Threshold {
        Threshold::new(value).unwrap()
    }

    /// Asserts that a threshold of `value` cannot be made: no figure can be asked for at it.
    fn assert_threshold_refused(value: f32) {
        let e = Threshold::new(value).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    name: "threshold",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("[0, 1]"), "{e}");
    }

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

    /// Whether a pixel is matplotlib's orange (the validation curves).
    fn orange(p: [u8; 3]) -> bool {
        p[0] > 200 && p[1] > 90 && p[1] < 160 && p[2] < 60
    }

    /// Count of pixels satisfying `f` in the rectangle `x` x `y`.
    fn count(
        img: &image::RgbImage,
        x: std::ops::Range<u32>,
        y: std::ops::Range<u32>,
        f: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        x.flat_map(|i| y.clone().map(move |j| (i, j)))
            .filter(|&(i, j)| f(img.get_pixel(i, j).0))
            .count()
    }

    #[test]
    fn learning_curves_one_panel_per_metric() {
        let loss = Curve::new("loss", vec![0.7, 0.5, 0.4], vec![0.6, 0.5, 0.45]);
        let acc = Curve::new("accuracy", vec![0.6, 0.7, 0.8], Vec::new());
        let fig = learning_curves(&[loss.clone(), acc]).unwrap();
        // Two panels of 480 px: no wider than 960, to show at its size in JupyterLab.
        let (w, h) = fig.size();
        assert_eq!(w, 960);
        let top = h - 320; // the legend strip above the panels
        assert!((20..60).contains(&top), "legend strip {top} px");
        let px = decode(&fig);
        assert!(
            count(&px, 0..480, top..h, orange) > 50,
            "validation line in the loss panel"
        );
        assert_eq!(
            count(&px, 480..960, top..h, orange),
            0,
            "no validation in the accuracy panel"
        );
        assert!(count(&px, 0..960, 0..top, orange) > 10, "legend entry");
        // The panel title is drawn: another name changes the pixels.
        let renamed = Curve {
            name: "cross-entropy".into(),
            ..loss.clone()
        };
        let a = learning_curves(std::slice::from_ref(&loss)).unwrap();
        let b = learning_curves(&[renamed]).unwrap();
        assert_ne!(a.png_bytes(), b.png_bytes());
        // Three panels side by side, eight in three rows.
        let three = vec![loss.clone(); 3];
        assert_eq!(learning_curves(&three).unwrap().width(), 960);
        let eight = vec![loss; 8];
        let fig = learning_curves(&eight).unwrap();
        assert_eq!(fig.width(), 960);
        assert!(fig.height() > 3 * 320);
    }

    /// The columns of `img` (within rows `y`) holding at least `min` pixels that satisfy `f`.
    fn columns_with(
        img: &image::RgbImage,
        y: std::ops::Range<u32>,
        min: usize,
        f: impl Fn([u8; 3]) -> bool + Copy,
    ) -> Vec<u32> {
        (0..img.width())
            .filter(|&x| count(img, x..x + 1, y.clone(), f) >= min)
            .collect()
    }

    #[test]
    fn learning_curves_mark_the_best_epoch_and_the_early_stop() {
        let train: Vec<f32> = (0..10).map(|i| 0.7 - 0.04 * i as f32).collect();
        let val: Vec<f32> = (0..10)
            .map(|i| 0.5 + 0.01 * (i as f32 - 3.0).powi(2))
            .collect();
        let loss = Curve::new("loss", train, val);
        let marks = EpochMarks::new()
            .best_epoch(4)
            .monitor("val_loss", 0.5)
            .stopped_at(10);
        let fig = learning_curves_with(std::slice::from_ref(&loss), &marks).unwrap();
        save_for_review(&fig, "learning_curves_marked.png");
        let plain = learning_curves(std::slice::from_ref(&loss)).unwrap();
        let px = decode(&fig);
        let (w, h) = fig.size();
        assert_eq!(w, 560);
        let top = h - 320;
        // Where the panel's frame, built the same way on a throwaway figure of the panel's
        // size, puts an epoch.
        let column = |epoch: usize| {
            let mut x = 0;
            render(w, h - top, |area| {
                let chart = curve_chart(area, "loss", 10, (0.0, 1.0))?;
                x = chart.backend_coord(&(epoch as f64, 0.5)).0;
                Ok(())
            })
            .unwrap();
            f64::from(x)
        };
        let dark = |p: [u8; 3]| p == [40, 40, 40];
        let grey = |p: [u8; 3]| p == [130, 130, 130];
        let best = columns_with(&px, top..h, 40, dark);
        assert!(!best.is_empty(), "a dashed line at the best epoch");
        for x in &best {
            assert!((f64::from(*x) - column(4)).abs() <= 1.0, "best at {x}");
        }
        let stop = columns_with(&px, top..h, 20, grey);
        assert!(!stop.is_empty(), "a dotted line at the early stop");
        for x in &stop {
            assert!((f64::from(*x) - column(10)).abs() <= 1.0, "stop at {x}");
        }
        // Without marks: no such lines, and a legend strip with fewer entries.
        let plain_px = decode(&plain);
        let plain_top = plain.height() - 320;
        assert!(columns_with(&plain_px, plain_top..plain.height(), 40, dark).is_empty());
        assert!(plain.height() <= fig.height());
        // The legend names them.
        assert_eq!(marks.best_label(4), "best epoch 4 (val_loss 0.5000)");
        assert_eq!(
            marks.stop_label(10),
            "early stop at epoch 10: no better val_loss for 6 epochs"
        );
        assert_eq!(EpochMarks::new().stop_label(5), "early stop at epoch 5");
        let one = EpochMarks::new().best_epoch(4).monitor("val_loss", 0.5);
        assert_eq!(
            one.stop_label(5),
            "early stop at epoch 5: no better val_loss for 1 epoch"
        );
    }

    #[test]
    fn learning_curves_refuse_marks_off_the_curves() {
        let loss = Curve::new("loss", vec![0.5, 0.4, 0.3], vec![0.5, 0.45, 0.4]);
        let curves = std::slice::from_ref(&loss);
        let refused = |marks: EpochMarks, name: &str| {
            let e = learning_curves_with(curves, &marks).unwrap_err();
            assert!(
                matches!(&e, Error::InvalidArgument { name: n, .. } if *n == name),
                "{e}"
            );
            e.to_string()
        };
        let e = refused(EpochMarks::new().best_epoch(0), "best_epoch");
        assert!(e.contains("from 1 to 3"), "{e}");
        refused(EpochMarks::new().best_epoch(4), "best_epoch");
        refused(EpochMarks::new().stopped_at(9), "stopped_at");
        refused(EpochMarks::new().monitor("val_loss", 0.4), "monitor");
        refused(
            EpochMarks::new()
                .best_epoch(2)
                .monitor("val_loss", f64::NAN),
            "monitor",
        );
        assert!(
            learning_curves_with(curves, &EpochMarks::new().best_epoch(3).stopped_at(3)).is_ok()
        );
    }

    #[test]
    fn history_marks_its_best_epoch_and_early_stop() {
        use crate::history::{EpochLog, History};
        let log = |epoch: usize, val_loss: f32| EpochLog {
            epoch,
            loss: 0.5,
            accuracy: 0.8,
            auc: 0.9,
            val_loss,
            val_accuracy: 0.8,
            val_auc: 0.9,
            seconds: 1.0,
            images_per_second: 100.0,
        };
        let mut history = History {
            epochs: vec![log(1, 0.6), log(2, 0.4), log(3, 0.5), log(4, 0.55)],
            best_epoch: 2,
            stopped_early: true,
            ..History::default()
        };
        let marks = history.epoch_marks();
        assert_eq!(marks.best_epoch, Some(2));
        assert_eq!(marks.stopped_at, Some(4));
        let (name, value) = marks.monitor.clone().unwrap();
        assert_eq!(name, "val_loss");
        assert!((value - 0.4).abs() < 1e-6);
        assert!(learning_curves_with(&history.curves(), &marks).is_ok());
        // Ran to the epoch limit: nothing stopped it.
        history.stopped_early = false;
        assert_eq!(history.epoch_marks().stopped_at, None);
        assert_eq!(History::default().epoch_marks(), EpochMarks::new());
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
    fn multiclass_confusion_matrix_widens_cells_for_long_names() {
        use crate::metrics::multiclass::MulticlassConfusion;
        let truth = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2];
        let predicted = [0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 0];
        let cm = MulticlassConfusion::from_labels(&truth, &predicted, 3).unwrap();
        let names = ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"];
        let fig = multiclass_confusion_matrix(&cm, &names).unwrap();
        save_for_review(&fig, "confusion_3_classes.png");
        // Wider than three 150-px cells: "100.0% of PNEUMONIA_BACTERIA" needs more.
        assert!(fig.width() > 140 + 3 * 150 + 24, "{}", fig.width());
        assert!(fig.width() <= 960, "{}", fig.width());
        let binary = confusion_matrix_plot([[1, 2], [3, 4]], ["NORMAL", "PNEUMONIA"]).unwrap();
        assert_eq!(binary.size(), (140 + 2 * 150 + 24, 46 + 2 * 150 + 64));
        // The darkest cell is the largest count (truth 2, predicted 2: 4 images), bottom right.
        let px = decode(&fig);
        let (w, h) = (fig.width(), fig.height());
        let dark = Colormap::Blues.color(1.0);
        // Inside the bottom-right cell, near the matrix's corner (24 px right, 64 px bottom margins).
        let corner = |x: u32, y: u32| px.get_pixel(w - 24 - x, h - 64 - y).0;
        assert_eq!(corner(6, 6), [dark.0, dark.1, dark.2]);

        assert!(multiclass_confusion_matrix(&cm, &names[..2]).is_err());
    }

    #[test]
    fn one_vs_rest_roc_draws_a_curve_per_class() {
        // Overlapping scores, so each curve is a different staircase.
        let truth = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2];
        let probs = ndarray::array![
            [0.8f32, 0.1, 0.1],
            [0.6, 0.3, 0.1],
            [0.3, 0.5, 0.2],
            [0.4, 0.2, 0.4],
            [0.2, 0.7, 0.1],
            [0.3, 0.4, 0.3],
            [0.5, 0.3, 0.2],
            [0.1, 0.45, 0.45],
            [0.1, 0.2, 0.7],
            [0.2, 0.5, 0.3],
            [0.35, 0.3, 0.35],
            [0.1, 0.3, 0.6]
        ];
        let names = ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"];
        let fig = roc_one_vs_rest(&truth, probs.view(), &names).unwrap();
        save_for_review(&fig, "roc_one_vs_rest.png");
        let px = decode(&fig);
        let all = (0..fig.width()).flat_map(|x| (0..fig.height()).map(move |y| (x, y)));
        let has = |c: RGBColor| {
            all.clone()
                .any(|(x, y)| px.get_pixel(x, y).0 == [c.0, c.1, c.2])
        };
        for color in &CLASS_COLORS[..3] {
            assert!(has(*color), "{color:?}");
        }
        assert!(!has(CLASS_COLORS[3]), "no fourth curve");
        assert!(roc_one_vs_rest(&truth, probs.view(), &names[..2]).is_err());
        assert!(roc_one_vs_rest(&[0; 12], probs.view(), &names).is_err());
    }

    #[test]
    fn confusion_matrix_title_states_the_threshold() {
        let cm = ConfusionMatrix {
            tn: 180,
            fp: 54,
            fn_: 9,
            tp: 381,
        };
        let names = ["NORMAL", "PNEUMONIA"];
        let plain = confusion_matrix_plot(&cm, names).unwrap();
        let at = confusion_matrix_at(&cm, names, t(0.2234)).unwrap();
        save_for_review(&at, "confusion_at.png");
        assert_eq!(plain.size(), at.size());
        // The title row (y 12..34) holds more ink: the threshold follows "Confusion matrix".
        let ink = |f: &Figure| {
            let px = decode(f);
            let cols: Vec<u32> = (0..f.width())
                .filter(|&x| (12..34).any(|y| px.get_pixel(x, y).0 != [255, 255, 255]))
                .collect();
            (cols[0], *cols.last().unwrap())
        };
        let (a0, a1) = ink(&plain);
        let (b0, b1) = ink(&at);
        assert!(b1 - b0 > a1 - a0 + 100, "{a0}..{a1} vs {b0}..{b1}");
        assert!(b1 < at.width() - 4, "the title stays in the figure");
        assert_eq!(threshold_text(t(0.2234)), "0.223");
        assert_eq!(threshold_text(Threshold::HALF), "0.5");
        for bad in [1.5, -0.1, f32::NAN, f32::INFINITY] {
            assert_threshold_refused(bad);
        }
    }

    /// Whether a pixel is matplotlib's blue (the ROC curve).
    fn blue(p: [u8; 3]) -> bool {
        i32::from(p[2]) > i32::from(p[0]) + 80 && p[2] > 150
    }

    #[test]
    fn roc_plot_traces_the_curve() {
        // A perfect classifier: the curve runs up the left edge and along the top.
        let fig = roc_curve_plot(&[0.0, 0.0, 1.0], &[0.0, 1.0, 1.0], 1.0).unwrap();
        let px = decode(&fig);
        // Plot area: x 74..486, y ~ 14+caption..430; the top line runs at y = 1.
        let top_row_blue = (0..480)
            .filter(|&y| (200..400).all(|x| blue(px.get_pixel(x, y).0)))
            .count();
        assert!(top_row_blue >= 1, "a blue line across the top");
        let centre_blue = count(&px, 200..300, 200..300, blue);
        assert_eq!(centre_blue, 0, "nothing blue in the middle");
    }

    /// Where the unit-square chart of a `w` x `h` figure puts `(x, y)`: the frame the ROC curve
    /// is drawn in, built the same way on a throwaway figure.
    fn unit_square_pixel(w: u32, h: u32, x: f64, y: f64) -> (i32, i32) {
        let mut at = (0, 0);
        render(w, h, |root| {
            let chart = unit_square_chart(root, "ROC curve", ("a", "b"), "chance")?;
            at = chart.backend_coord(&(x, y));
            Ok(())
        })
        .unwrap();
        at
    }

    /// The centroid of the pixels satisfying `f` within `r` of `c`, and how many there are.
    fn centroid(
        img: &image::RgbImage,
        c: (i32, i32),
        r: i32,
        f: impl Fn([u8; 3]) -> bool,
    ) -> ((f64, f64), usize) {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0usize);
        for y in c.1 - r..=c.1 + r {
            for x in c.0 - r..=c.0 + r {
                if f(img.get_pixel(x as u32, y as u32).0) {
                    sx += f64::from(x);
                    sy += f64::from(y);
                    n += 1;
                }
            }
        }
        ((sx / n.max(1) as f64, sy / n.max(1) as f64), n)
    }

    fn red(p: [u8; 3]) -> bool {
        p[0] > 180 && p[1] < 80 && p[2] < 80
    }

    /// Labels and probabilities whose ROC curve passes through (0.25, 0.75) at threshold 0.5
    /// and through (0.5, 1.0) at threshold 0.3.
    fn scored() -> (Vec<u8>, Vec<f32>) {
        let labels = vec![0, 0, 0, 0, 1, 1, 1, 1];
        let probs = vec![0.1, 0.2, 0.35, 0.6, 0.3, 0.55, 0.7, 0.9];
        (labels, probs)
    }

    #[test]
    fn operating_points_come_from_predictions_and_are_checked() {
        let (labels, probs) = scored();
        let p = OperatingPoint::from_predictions(&labels, &probs, Threshold::HALF, "").unwrap();
        assert_eq!((p.fpr, p.tpr), (0.25, 0.75));
        assert_eq!(p.label, "threshold 0.5");
        assert_eq!((p.sensitivity(), p.specificity()), (0.75, 0.75));
        let q = OperatingPoint::from_predictions(&labels, &probs, t(0.3), "validation").unwrap();
        assert_eq!((q.fpr, q.tpr, q.label.as_str()), (0.5, 1.0, "validation"));
        // Bad thresholds are refused where they are made, naming the threshold and the range.
        for bad in [1.5, -0.5, f32::NAN, f32::INFINITY] {
            assert_threshold_refused(bad);
        }
        let half = Threshold::HALF;
        let e = OperatingPoint::from_predictions(&[1u8, 1], &[0.2, 0.8], half, "x").unwrap_err();
        assert!(e.to_string().contains("both classes"), "{e}");
        assert!(OperatingPoint::from_predictions(&labels, &probs[..3], half, "x").is_err());
        let e = OperatingPoint::new("x", half, 1.2, 0.5).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { name: "fpr", .. }),
            "{e}"
        );
        assert!(OperatingPoint::new("x", half, 0.2, f64::NAN).is_err());
        // Points built by hand are checked again when drawn.
        let mut hand = p.clone();
        hand.tpr = 2.0;
        let e = roc_curve_with_points(&[0.0, 1.0], &[0.0, 1.0], 0.5, &[hand]).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { name: "tpr", .. }),
            "{e}"
        );
        let four = vec![p; 4];
        assert!(roc_curve_with_points(&[0.0, 1.0], &[0.0, 1.0], 0.5, &four).is_err());
    }

    #[test]
    fn roc_marks_operating_points_where_the_chart_puts_them() {
        let (labels, probs) = scored();
        let fig = roc_from_predictions(
            &labels,
            &probs,
            &[
                (Threshold::HALF, "threshold 0.5"),
                (t(0.3), "validation threshold 0.3"),
            ],
        )
        .unwrap();
        save_for_review(&fig, "roc_points.png");
        let px = decode(&fig);
        // The black dot of threshold 0.5 at (0.25, 0.75), the red one of 0.3 at (0.5, 1).
        let black = |p: [u8; 3]| p[0] < 40 && p[1] < 40 && p[2] < 40;
        for (at, colour) in [((0.25, 0.75), 0), ((0.5, 1.0), 1)] {
            let c = unit_square_pixel(500, 480, at.0, at.1);
            let ((x, y), n) = if colour == 0 {
                centroid(&px, c, 6, black)
            } else {
                centroid(&px, c, 6, red)
            };
            assert!(n >= 60, "a filled dot at {c:?}: {n} pixels");
            assert!(
                (x - f64::from(c.0)).abs() <= 1.0 && (y - f64::from(c.1)).abs() <= 1.0,
                "dot centred on {c:?}, found ({x:.1}, {y:.1})"
            );
            // A white ring keeps the dot apart from the curve.
            let (ring, _) = (c.0 + 6, c.1);
            assert_eq!(px.get_pixel(ring as u32, c.1 as u32).0, [255, 255, 255]);
        }
        // The red label (line 1) is drawn near its point; the plain curve has no red at all.
        let c = unit_square_pixel(500, 480, 0.5, 1.0);
        let red_text = count(&px, 0..500, 0..480, red) - centroid(&px, c, 6, red).1;
        assert!(red_text > 50, "red label text: {red_text} px");
        let plain = roc_curve_plot(&[0.0, 0.25, 0.5, 1.0], &[0.0, 0.75, 1.0, 1.0], 0.8).unwrap();
        assert_eq!(count(&decode(&plain), 0..500, 0..480, red), 0);
    }

    #[test]
    fn roc_labels_avoid_the_curve_and_each_other() {
        // Two points close together on a curve hugging the top-left corner.
        let fpr = [0.0, 0.05, 0.1, 0.12, 0.3, 1.0];
        let tpr = [0.0, 0.8, 0.9, 0.93, 0.98, 1.0];
        let points = [
            OperatingPoint::new("threshold 0.5", Threshold::HALF, 0.1, 0.9).unwrap(),
            OperatingPoint::new("validation threshold 0.42", t(0.42), 0.12, 0.93).unwrap(),
        ];
        let fig = roc_curve_with_points(&fpr, &tpr, 0.95, &points).unwrap();
        save_for_review(&fig, "roc_close_points.png");
        // A curve through the lower right forces labels above and left.
        let fpr2 = [0.0, 0.6, 0.85, 1.0];
        let tpr2 = [0.0, 0.3, 0.5, 1.0];
        let low = [OperatingPoint::new("", Threshold::HALF, 0.85, 0.5).unwrap()];
        let fig2 = roc_curve_with_points(&fpr2, &tpr2, 0.4, &low).unwrap();
        save_for_review(&fig2, "roc_poor.png");
        // The placement rule itself: a box on the polyline crosses it, one beside it does not.
        let line = [(0, 100), (100, 0)];
        assert!(crosses(&line, &Bounds::at(40, 40, 20, 20), 0));
        assert!(!crosses(&line, &Bounds::at(70, 70, 20, 20), 3));
        assert!(crosses(
            &[(50, 0), (50, 100)],
            &Bounds::at(40, 40, 20, 20),
            0
        ));
        assert!(Bounds::at(0, 0, 10, 10).overlaps(&Bounds::at(9, 9, 5, 5)));
        assert!(!Bounds::at(0, 0, 10, 10).overlaps(&Bounds::at(10, 0, 5, 5)));
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
