//! Learning curves: [`learning_curves`], with the best epoch and the early stop marked
//! ([`learning_curves_with`]).

use plotters::chart::ChartBuilder;
use plotters::element::{Circle, PathElement, Text};
use plotters::series::{DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBColor};

use super::figure::{render, Area};
use super::{finite_values, plot_err, text, tick_label, Figure, TAB_BLUE, TAB_ORANGE};
use crate::error::{Error, Result};

use super::charts::*;

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
    pub(super) fn check(&self, epochs: usize) -> Result<()> {
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
    pub(super) fn best_label(&self, best: usize) -> String {
        match &self.monitor {
            Some((name, value)) => format!("best epoch {best} ({name} {value:.4})"),
            None => format!("best epoch {best}"),
        }
    }

    /// The legend text of the early-stop line.
    pub(super) fn stop_label(&self, stop: usize) -> String {
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
pub(super) const BEST_EPOCH: RGBColor = RGBColor(40, 40, 40);
/// Colour of the early-stop line.
pub(super) const EARLY_STOP: RGBColor = RGBColor(130, 130, 130);

/// How the sample of a legend entry is drawn.
#[derive(Clone, Copy)]
pub(super) enum Sample {
    /// A line with a dot in the middle, like the curves.
    LineWithDot(RGBColor),
    /// A dashed line (the best epoch).
    Dashed(RGBColor),
    /// A dotted line (the early stop).
    Dotted(RGBColor),
}

/// Width of a legend sample, the gap after it, and the gap between entries, in pixels.
pub(super) const SAMPLE_W: i32 = 26;
pub(super) const SAMPLE_GAP: i32 = 6;
pub(super) const ENTRY_GAP: i32 = 22;
/// Text size and row height of the legend above learning curves.
pub(super) const STRIP_TEXT: f64 = 13.0;
pub(super) const STRIP_ROW: i32 = 22;

/// The legend entries laid out in centred rows no wider than `width`: each entry's left x and row.
pub(super) fn strip_layout(entries: &[(Sample, String)], width: i32) -> Result<Vec<(i32, usize)>> {
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
pub(super) fn draw_sample(area: &Area<'_>, sample: Sample, x: i32, y: i32) -> Result<()> {
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
pub(super) fn draw_curve(
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
pub(super) fn curve_chart<'a, 'b>(
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
