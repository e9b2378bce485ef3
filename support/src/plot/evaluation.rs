//! Evaluation figures: [`reliability_diagram`] (calibration per probability bin, with the bin
//! counts underneath) and [`score_distributions`] (predicted probabilities per true class, per
//! split, with decision thresholds marked).

use plotters::chart::{ChartBuilder, SeriesLabelPosition};
use plotters::element::{Circle, PathElement, Rectangle, Text};
use plotters::series::{AreaSeries, DashedLineSeries, LineSeries};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, RGBColor, BLACK, WHITE};

use super::charts::{draw_legend, unit_square_chart, GRID};
use super::figure::{render, Area};
use super::{plot_err, text, tick_label, Figure, TAB_BLUE, TAB_GREEN, TAB_ORANGE, TAB_RED};
use crate::error::{Error, Result};
use crate::metrics::calibration::{ece_from_bins, reliability_bins, ReliabilityBin};
use crate::metrics::{check_inputs, BinaryLabel, Threshold};

/// Colours of the series of a reliability diagram, in order.
const SERIES_COLORS: [RGBColor; 3] = [TAB_BLUE, TAB_ORANGE, TAB_RED];

/// Colours of threshold lines, in order.
const THRESHOLD_COLORS: [RGBColor; 3] = [BLACK, TAB_RED, TAB_GREEN];

/// Equal-width bins over [0, 1] of [`score_distributions`]' histograms.
pub const SCORE_BINS: usize = 20;

/// Checks the bins of one reliability series: a non-empty series, edges and values in [0, 1].
fn check_bins(name: &str, bins: &[ReliabilityBin]) -> Result<u64> {
    let bad = |what: String| {
        Error::invalid(
            "bins",
            format!("{what} in series '{name}'"),
            "bins from reliability_bins: edges and values in [0, 1], at least one image",
        )
    };
    let unit = |v: f64| (0.0..=1.0).contains(&v);
    for (k, b) in bins.iter().enumerate() {
        if !(unit(b.lower) && unit(b.upper) && b.lower < b.upper) {
            return Err(bad(format!("edges [{}, {}] of bin {k}", b.lower, b.upper)));
        }
        if b.count > 0 && !(unit(b.mean_predicted) && unit(b.fraction_positive)) {
            return Err(bad(format!(
                "mean {} and fraction {} in bin {k}",
                b.mean_predicted, b.fraction_positive
            )));
        }
    }
    let n: u64 = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return Err(bad("no image".to_string()));
    }
    Ok(n)
}

/// One validated series of a reliability diagram.
struct BinSeries<'a> {
    name: &'a str,
    bins: &'a [ReliabilityBin],
    images: u64,
    ece: f64,
}

/// The sample line of a legend entry, `width` pixels thick.
fn legend_line(color: RGBColor, width: u32) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(width))
}

/// Reliability diagram: fraction of positives against mean predicted probability per bin, the
/// diagonal of perfect calibration dashed, and the number of images per bin as bars underneath.
///
/// Takes one to three named series of [`reliability_bins`], e.g. before and after temperature
/// scaling: `reliability_diagram(&[("uncalibrated", &before), ("T = 1.8", &after)])`. The
/// title gives the ECE and number of images of a single series; with several, the legend does.
/// Empty bins are left out of the curve.
pub fn reliability_diagram<S: AsRef<str>, B: AsRef<[ReliabilityBin]>>(
    series: &[(S, B)],
) -> Result<Figure> {
    if series.is_empty() || series.len() > SERIES_COLORS.len() {
        return Err(Error::invalid(
            "series",
            series.len(),
            format!("1 to {} series of bins", SERIES_COLORS.len()),
        ));
    }
    let mut checked = Vec::with_capacity(series.len());
    for (name, bins) in series {
        let (name, bins) = (name.as_ref(), bins.as_ref());
        checked.push(BinSeries {
            name,
            bins,
            images: check_bins(name, bins)?,
            ece: ece_from_bins(bins),
        });
    }
    let first = &checked[0];
    let same_n = checked.iter().all(|s| s.images == first.images);
    let title = match (checked.len(), same_n) {
        (1, _) => format!(
            "Reliability diagram: ECE {:.3}, {} images",
            first.ece, first.images
        ),
        (_, true) => format!("Reliability diagram, {} images", first.images),
        (_, false) => "Reliability diagram".to_string(),
    };
    let label = |s: &BinSeries<'_>| match (checked.len(), same_n) {
        (1, _) => s.name.to_string(),
        (_, true) => format!("{}: ECE {:.3}", s.name, s.ece),
        (_, false) => format!("{}: ECE {:.3}, {} images", s.name, s.ece, s.images),
    };
    let max_count = checked
        .iter()
        .flat_map(|s| s.bins.iter().map(|b| b.count))
        .max()
        .unwrap_or(1) as f64;
    let (width, height, counts_height) = (560u32, 640u32, 190u32);
    render(width, height, |root| {
        let (top, bottom) = root.split_vertically(height - counts_height);
        let mut chart = unit_square_chart(
            &top,
            &title,
            ("mean predicted probability", "fraction positive"),
            "perfect calibration",
        )?;
        for (series, color) in checked.iter().zip(SERIES_COLORS) {
            let points: Vec<(f64, f64)> = series
                .bins
                .iter()
                .filter(|b| b.count > 0)
                .map(|b| (b.mean_predicted, b.fraction_positive))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(label(series))
                .legend(legend_line(color, 2));
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(plot_err)?;
        }
        draw_legend(&mut chart, SeriesLabelPosition::UpperLeft, 13.0)?;
        draw_bin_counts(&bottom, &checked, max_count)
    })
}

/// The bar chart of images per bin under a reliability diagram, one bar per series in each bin.
fn draw_bin_counts(area: &Area<'_>, series: &[BinSeries<'_>], max_count: f64) -> Result<()> {
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .margin_top(4)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.01..1.01, 0.0..max_count * 1.08)
        .map_err(plot_err)?;
    let fmt = |v: &f64| tick_label(*v);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .max_light_lines(0)
        .y_labels(4)
        .x_label_formatter(&fmt)
        .y_label_formatter(&fmt)
        .x_desc("predicted probability (bins)")
        .y_desc("images")
        .label_style(text(12.0))
        .axis_desc_style(text(14.0))
        .draw()
        .map_err(plot_err)?;
    let share = series.len() as f64;
    for (s, (one, color)) in series.iter().zip(SERIES_COLORS).enumerate() {
        let bars = one.bins.iter().map(|b| {
            let w = (b.upper - b.lower) / share;
            let x = b.lower + s as f64 * w;
            [(x, 0.0), (x + w, b.count as f64)]
        });
        let bars: Vec<_> = bars.collect();
        chart
            .draw_series(
                bars.iter()
                    .map(|&c| Rectangle::new(c, color.mix(0.8).filled())),
            )
            .map_err(plot_err)?;
        chart
            .draw_series(
                bars.iter()
                    .map(|&c| Rectangle::new(c, WHITE.stroke_width(1))),
            )
            .map_err(plot_err)?;
    }
    Ok(())
}

/// Predicted probabilities and true labels of one data split, for [`score_distributions`].
#[derive(Debug, Clone, Copy)]
pub struct ScoreSplit<'a, L> {
    /// The split's name, e.g. "validation" or "test".
    pub name: &'a str,
    /// True labels, 0 or 1.
    pub labels: &'a [L],
    /// Predicted probabilities of class 1, in [0, 1].
    pub probs: &'a [f32],
}

impl<'a, L: BinaryLabel> ScoreSplit<'a, L> {
    /// A split from its name, labels and probabilities.
    pub fn new(name: &'a str, labels: &'a [L], probs: &'a [f32]) -> Self {
        ScoreSplit {
            name,
            labels,
            probs,
        }
    }

    /// Per class: the number of images and the percentage of them in each of [`SCORE_BINS`] bins (empty without images).
    fn class_shares(&self) -> Result<[(usize, Vec<f64>); 2]> {
        let truth = check_inputs(self.labels, self.probs)?;
        let share = |class: bool| -> Result<(usize, Vec<f64>)> {
            let probs: Vec<f32> = truth
                .iter()
                .zip(self.probs)
                .filter(|(&t, _)| t == class)
                .map(|(_, &p)| p)
                .collect();
            if probs.is_empty() {
                return Ok((0, Vec::new()));
            }
            let labels = vec![u8::from(class); probs.len()];
            let bins = reliability_bins(&labels, &probs, SCORE_BINS)?;
            let n = probs.len() as f64;
            let shares = bins.iter().map(|b| 100.0 * b.count as f64 / n).collect();
            Ok((probs.len(), shares))
        };
        Ok([share(false)?, share(true)?])
    }
}

/// Histograms (filled step outlines) of the predicted probability per true class, one panel
/// per split, with a dashed vertical line and a label at each threshold.
///
/// Heights are the percentage of the class's images in each of [`SCORE_BINS`] bins, so classes
/// and splits of different sizes compare; all panels share the y scale. Shows, e.g., why a
/// threshold chosen on validation data misses on a test split whose scores have shifted:
/// `thresholds = &[(Threshold::HALF, "0.5"), (chosen, "validation threshold 0.22")]`.
pub fn score_distributions<L: BinaryLabel>(
    splits: &[ScoreSplit<'_, L>],
    class_names: [&str; 2],
    thresholds: &[(Threshold, &str)],
) -> Result<Figure> {
    score_distributions_with(splits, class_names, thresholds, ScoreScale::Linear)
}

/// How [`score_distributions_with`] draws the share of a class per bin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreScale {
    /// A linear axis from 0.
    Linear,
    /// A logarithmic axis from 0.1% (emptier bins are drawn at 0.1%), so that a tail of a few
    /// percent (normal X-rays scored above the threshold) reads beside end bins that hold most
    /// of a class.
    Log,
}

/// The floor of [`ScoreScale::Log`], in percent of a class.
const LOG_FLOOR: f64 = 0.1;

/// [`score_distributions`] with the y axis drawn on `scale`.
pub fn score_distributions_with<L: BinaryLabel>(
    splits: &[ScoreSplit<'_, L>],
    class_names: [&str; 2],
    thresholds: &[(Threshold, &str)],
    scale: ScoreScale,
) -> Result<Figure> {
    if splits.is_empty() || splits.len() > 4 {
        return Err(Error::invalid("splits", splits.len(), "1 to 4 splits"));
    }
    if thresholds.len() > THRESHOLD_COLORS.len() {
        return Err(Error::invalid(
            "thresholds",
            thresholds.len(),
            format!("at most {} thresholds", THRESHOLD_COLORS.len()),
        ));
    }
    let mut shares = Vec::with_capacity(splits.len());
    for split in splits {
        shares.push(
            split
                .class_shares()
                .map_err(|e| Error::Plot(format!("split '{}': {e}", split.name)))?,
        );
    }
    let highest = shares
        .iter()
        .flatten()
        .flat_map(|(_, s)| s)
        .fold(0.0f64, |a, &b| a.max(b))
        .max(1.0);
    let axis = match scale {
        // Headroom for the legend and threshold labels.
        ScoreScale::Linear => YAxis::linear(highest * 1.45),
        ScoreScale::Log => YAxis::log(highest * 8.0),
    };
    let (width, panel_height) = (720u32, 300u32);
    render(width, panel_height * splits.len() as u32, |root| {
        let panels = root.split_evenly((splits.len(), 1));
        for ((split, class_shares), area) in splits.iter().zip(&shares).zip(&panels) {
            draw_score_panel(area, split, class_shares, class_names, thresholds, axis)?;
        }
        Ok(())
    })
}

/// A pixel rectangle `(left, top, right, bottom)` in a chart's plotting area.
type PixelBox = (i32, i32, i32, i32);

/// Where plotters draws an upper-right legend of these lines in a plotting area `plot_w` wide:
/// its series-label layout (0.3.7) is the widest line plus a 30-pixel swatch and 10-pixel
/// margins, lines 1.25 font heights apart, 5 pixels from the corner. Two pixels of slack
/// cover the difference between our font measure and plotters'.
fn legend_box(lines: &[String], size: f64, plot_w: i32) -> Result<PixelBox> {
    let mut widest = 0;
    let mut height = 0;
    for line in lines {
        let (w, h) = super::canvas::text_box(line, size).map_err(plot_err)?;
        widest = widest.max(w as i32);
        height = height.max(h as i32);
    }
    let w = widest + 30 + 2 * 10;
    let h = (f64::from(height) * 1.25 * lines.len() as f64).ceil() as i32 + 2 * 10;
    Ok((plot_w - w - 5 - 2, 5 - 2, plot_w - 5 + 2, 5 + h + 2))
}

/// A threshold's label: the line's x, the row's top and the label's size, in plotting-area
/// pixels.
struct LabelSpot {
    line_x: i32,
    top: i32,
    size: (i32, i32),
}

impl LabelSpot {
    /// The label's top-left corner: beside its line on the preferred side (right when
    /// `prefer_right`), else on the other, where it stays inside the plot and off the legend;
    /// if neither side is clear, on the preferred side just below the legend.
    fn place(&self, plot_w: i32, legend: PixelBox, prefer_right: bool) -> (i32, i32) {
        let (w, h) = self.size;
        let right = self.line_x + 4;
        let left = self.line_x - 4 - w;
        let fits = |x: i32, y: i32| {
            let inside = x >= 2 && x + w <= plot_w - 2;
            let (l, t, r, b) = legend;
            let clear = x + w < l || x > r || y + h < t || y > b;
            inside && clear
        };
        let sides = if prefer_right {
            [right, left]
        } else {
            [left, right]
        };
        if let Some(&x) = sides.iter().find(|&&x| fits(x, self.top)) {
            return (x, self.top);
        }
        let x = sides[0].clamp(2, (plot_w - 2 - w).max(2));
        (x, self.top.max(legend.3 + 2))
    }
}

/// One panel of [`score_distributions`].
/// The y axis of a score panel: percent of a class, linear from 0, or log10 of it from
/// [`LOG_FLOOR`] (drawn as linear coordinates `log10(share)`, labelled in percent).
#[derive(Debug, Clone, Copy)]
struct YAxis {
    log: bool,
    bottom: f64,
    top: f64,
}

impl YAxis {
    fn linear(top: f64) -> Self {
        YAxis {
            log: false,
            bottom: 0.0,
            top,
        }
    }
    fn log(top_percent: f64) -> Self {
        YAxis {
            log: true,
            bottom: LOG_FLOOR.log10(),
            top: top_percent.log10(),
        }
    }
    /// The coordinate of a share in percent.
    fn y(self, share: f64) -> f64 {
        if self.log {
            share.max(LOG_FLOOR).log10()
        } else {
            share
        }
    }
    /// A tick label, in percent.
    fn label(self, y: f64) -> String {
        if self.log {
            tick_label(10f64.powf(y))
        } else {
            tick_label(y)
        }
    }
    /// The point `fraction` of the way up the axis.
    fn at(self, fraction: f64) -> f64 {
        self.bottom + (self.top - self.bottom) * fraction
    }
}

fn draw_score_panel<L: BinaryLabel>(
    area: &Area<'_>,
    split: &ScoreSplit<'_, L>,
    class_shares: &[(usize, Vec<f64>); 2],
    class_names: [&str; 2],
    thresholds: &[(Threshold, &str)],
    axis: YAxis,
) -> Result<()> {
    let caption = format!(
        "{}: {} {}, {} {}",
        split.name, class_shares[0].0, class_names[0], class_shares[1].0, class_names[1]
    );
    let mut chart = ChartBuilder::on(area)
        .caption(caption, text(16.0))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..1.0, axis.bottom..axis.top)
        .map_err(plot_err)?;
    let fmt = |v: &f64| tick_label(*v);
    let y_fmt = |v: &f64| axis.label(*v);
    // A log axis gets its ticks at the powers of ten: 0.1, 1, 10, 100 (percent).
    let y_ticks = if axis.log {
        (axis.top - axis.bottom).round() as usize + 1
    } else {
        5
    };
    let y_desc = if axis.log {
        format!("% of class, log scale ({SCORE_BINS} bins)")
    } else {
        format!("% of class ({SCORE_BINS} bins)")
    };
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .max_light_lines(0)
        .y_labels(y_ticks)
        .x_label_formatter(&fmt)
        .y_label_formatter(&y_fmt)
        .x_desc(format!("predicted probability of {}", class_names[1]))
        .y_desc(y_desc)
        .label_style(text(12.0))
        .axis_desc_style(text(14.0))
        .draw()
        .map_err(plot_err)?;
    // One size for the legend and the threshold labels, which must be placed around it.
    const LABEL_SIZE: f64 = 13.0;
    let bin_width = 1.0 / SCORE_BINS as f64;
    let mut legend_lines = Vec::with_capacity(2);
    for (((n, shares), name), color) in class_shares
        .iter()
        .zip(class_names)
        .zip([TAB_BLUE, TAB_ORANGE])
    {
        if *n == 0 {
            continue;
        }
        // Step outline: up and across each bin, back to the axis after the last.
        let mut outline = vec![(0.0, axis.bottom)];
        for (k, &h) in shares.iter().enumerate() {
            outline.push((k as f64 * bin_width, axis.y(h)));
            outline.push(((k + 1) as f64 * bin_width, axis.y(h)));
        }
        outline.push((1.0, axis.bottom));
        let line = format!("true {name} ({n})");
        chart
            .draw_series(
                AreaSeries::new(outline, axis.bottom, color.mix(0.25))
                    .border_style(color.stroke_width(2)),
            )
            .map_err(plot_err)?
            .label(line.clone())
            .legend(legend_line(color, 2));
        legend_lines.push(line);
    }
    for (&(t, _), color) in thresholds.iter().zip(THRESHOLD_COLORS) {
        let x = f64::from(t.get());
        chart
            .draw_series(DashedLineSeries::new(
                [(x, axis.bottom), (x, axis.top)],
                7,
                5,
                color.stroke_width(2),
            ))
            .map_err(plot_err)?;
    }
    // Labels after all the lines, on a white backing, so that a nearby threshold's line does
    // not run through them. They stack downwards from the top, beside their line, on the side
    // with more room unless that side runs into the legend (drawn last, upper right).
    let root = chart.plotting_area().strip_coord_spec();
    let (ox, oy) = root.get_base_pixel();
    let (plot_w, _) = root.dim_in_pixel();
    let legend = legend_box(&legend_lines, LABEL_SIZE, plot_w as i32)?;
    for (row, (&(t, label), color)) in thresholds.iter().zip(THRESHOLD_COLORS).enumerate() {
        let x = f64::from(t.get());
        let (w, h) = super::canvas::text_box(label, LABEL_SIZE).map_err(plot_err)?;
        let (ax, ay) = chart.backend_coord(&(x, axis.at(0.97 - 0.09 * row as f64)));
        let spot = LabelSpot {
            line_x: ax - ox,
            top: ay - oy,
            size: (w as i32, h as i32),
        };
        let (left, top_px) = spot.place(plot_w as i32, legend, x <= 0.6);
        root.draw(&Rectangle::new(
            [(left - 2, top_px), (left + w as i32 + 1, top_px + h as i32)],
            WHITE.mix(0.85).filled(),
        ))
        .map_err(plot_err)?;
        root.draw(&Text::new(
            label.to_string(),
            (left, top_px),
            text(LABEL_SIZE)
                .color(&color)
                .pos(Pos::new(HPos::Left, VPos::Top)),
        ))
        .map_err(plot_err)?;
    }
    draw_legend(&mut chart, SeriesLabelPosition::UpperRight, LABEL_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::calibration::{apply_temperature, reliability_bins};
    use crate::plot::figure::tests::decode;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// An over-confident classifier's labels and probabilities: true logit z, reported sigmoid(2z).
    fn overconfident(n: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut labels = Vec::with_capacity(n);
        let mut probs = Vec::with_capacity(n);
        for _ in 0..n {
            let z: f64 = rng.gen_range(-3.0..3.0);
            labels.push(u8::from(rng.gen::<f64>() < 1.0 / (1.0 + (-z).exp())));
            probs.push((1.0 / (1.0 + (-2.0 * z).exp())) as f32);
        }
        (labels, probs)
    }

    /// A split whose logits are normal per class: `(count, mean, sd)` for class 0 and class 1.
    fn split_scores(classes: [(usize, f64, f64); 2], seed: u64) -> (Vec<u8>, Vec<f32>) {
        use rand_distr::{Distribution, Normal};
        let mut rng = StdRng::seed_from_u64(seed);
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        for (label, (n, mean, sd)) in classes.into_iter().enumerate() {
            let dist = Normal::new(mean, sd).unwrap();
            for _ in 0..n {
                labels.push(label as u8);
                probs.push((1.0 / (1.0 + (-dist.sample(&mut rng)).exp())) as f32);
            }
        }
        (labels, probs)
    }

    /// Number of pixels in the rectangle `x0..x1` x `y0..y1` that satisfy `f`.
    fn count(
        img: &image::RgbImage,
        x: (u32, u32),
        y: (u32, u32),
        f: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        (x.0..x.1)
            .flat_map(|i| (y.0..y.1).map(move |j| (i, j)))
            .filter(|&(i, j)| f(img.get_pixel(i, j).0))
            .count()
    }

    /// matplotlib's orange, also lightened to 80% over white (the count bars).
    fn orange(p: [u8; 3]) -> bool {
        p[0] > 200 && p[1] > 90 && p[1] < 170 && p[2] < 80
    }

    fn blue(p: [u8; 3]) -> bool {
        i32::from(p[2]) > i32::from(p[0]) + 60
    }

    /// Writes a figure into the folder named by `XRAY_TEST_FIGURES`, when set, for a look by eye.
    fn save(fig: &Figure, name: &str) {
        if let Some(dir) = std::env::var_os("XRAY_TEST_FIGURES") {
            fig.save(std::path::Path::new(&dir).join(name)).unwrap();
        }
    }

    #[test]
    fn reliability_diagram_draws_curves_and_counts() {
        let (labels, probs) = overconfident(624, 1);
        let before = reliability_bins(&labels, &probs, 10).unwrap();
        let t = crate::metrics::calibration::fit_temperature(&labels, &probs).unwrap();
        let after = reliability_bins(&labels, &apply_temperature(&probs, t).unwrap(), 10).unwrap();
        let label = format!("temperature {t:.2}");
        let fig =
            reliability_diagram(&[("uncalibrated", &before), (label.as_str(), &after)]).unwrap();
        save(&fig, "reliability_two.png");
        assert_eq!(fig.size(), (560, 640));
        let px = decode(&fig);
        // Both series are drawn, in the diagram and in the bars below it (from y = 450).
        assert!(count(&px, (0, 560), (0, 450), blue) > 200);
        assert!(count(&px, (0, 560), (0, 450), orange) > 200);
        assert!(count(&px, (0, 560), (450, 640), blue) > 300);
        assert!(count(&px, (0, 560), (450, 640), orange) > 300);
        let one = reliability_diagram(&[("test", &before)]).unwrap();
        save(&one, "reliability_one.png");
        assert_eq!(count(&decode(&one), (0, 560), (0, 640), orange), 0);
    }

    #[test]
    fn reliability_diagram_rejects_bad_bins() {
        let none: [(&str, Vec<ReliabilityBin>); 0] = [];
        assert!(reliability_diagram(&none).is_err());
        let empty = reliability_bins(&[1u8], &[0.5], 4).unwrap();
        let zero: Vec<ReliabilityBin> = empty
            .iter()
            .map(|b| ReliabilityBin { count: 0, ..*b })
            .collect();
        assert!(matches!(
            reliability_diagram(&[("x", &zero)]),
            Err(Error::InvalidArgument { name: "bins", .. })
        ));
        let mut bad = empty.clone();
        bad[2].fraction_positive = 1.5;
        assert!(reliability_diagram(&[("x", &bad)]).is_err());
        let four = [("a", &empty), ("b", &empty), ("c", &empty), ("d", &empty)];
        assert!(reliability_diagram(&four).is_err());
    }

    #[test]
    fn score_distributions_draw_classes_and_thresholds() {
        // On validation the classes separate well; on test the NORMAL scores have shifted up
        // (another hospital, another scanner), so thresholds tuned on validation misfire there.
        let (vl, vp) = split_scores([(200, -3.5, 1.5), (400, 3.0, 1.8)], 2);
        let (tl, tp) = split_scores([(234, -0.5, 2.0), (390, 3.5, 1.8)], 3);
        let splits = [
            ScoreSplit::new("validation", &vl, &vp),
            ScoreSplit::new("test", &tl, &tp),
        ];
        let thresholds = [
            (Threshold::HALF, "0.5"),
            (Threshold::new(0.22).unwrap(), "validation threshold 0.22"),
        ];
        let fig = score_distributions(&splits, ["NORMAL", "PNEUMONIA"], &thresholds).unwrap();
        save(&fig, "score_distributions.png");
        assert_eq!(fig.size(), (720, 600));
        let px = decode(&fig);
        for panel in [(0, 300), (300, 600)] {
            assert!(
                count(&px, (0, 720), panel, blue) > 300,
                "NORMAL drawn in {panel:?}"
            );
            assert!(
                count(&px, (0, 720), panel, orange) > 300,
                "PNEUMONIA drawn in {panel:?}"
            );
        }
        // The 0.22 threshold is red: a vertical red line in each panel.
        let red = |p: [u8; 3]| p[0] > 180 && p[1] < 80 && p[2] < 80;
        let columns = (0..720u32)
            .filter(|&x| count(&px, (x, x + 1), (0, 600), red) > 150)
            .count();
        assert!(
            (1..=4).contains(&columns),
            "one dashed red line: {columns} columns"
        );
    }

    #[test]
    fn close_thresholds_do_not_run_through_each_others_labels() {
        let (labels, probs) = split_scores([(100, -2.0, 1.5), (100, 2.0, 1.5)], 4);
        let splits = [ScoreSplit::new("test", &labels, &probs)];
        let thresholds = [
            (Threshold::HALF, "0.5"),
            (Threshold::new(0.51).unwrap(), "validation threshold 0.51"),
        ];
        let fig = score_distributions(&splits, ["NORMAL", "PNEUMONIA"], &thresholds).unwrap();
        save(&fig, "score_close_thresholds.png");
        let px = decode(&fig);
        let red = |p: [u8; 3]| p[0] > 180 && p[1] < 80 && p[2] < 80;
        // The red line of 0.51, and where it runs: dashes of 7 px and gaps of 5 px...
        let x = (0..720u32)
            .max_by_key(|&x| count(&px, (x, x + 1), (0, 300), red))
            .unwrap();
        let rows: Vec<u32> = (0..300).filter(|&y| red(px.get_pixel(x, y).0)).collect();
        assert!(rows.len() > 100, "a red line at x = {x}");
        // ...except behind the "0.5" label at the top, which its white backing covers.
        let widest_gap = rows.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        assert!(
            widest_gap >= 12,
            "the line runs through the label: gaps of {widest_gap} px"
        );
    }

    /// Red label pixels in the top panel, leaving out the columns of the dashed red line.
    fn red_label_pixels(px: &image::RgbImage) -> usize {
        let red = |p: [u8; 3]| p[0] > 180 && p[1] < 80 && p[2] < 80;
        (0..720u32)
            .map(|x| count(px, (x, x + 1), (0, 300), red))
            .filter(|&n| n < 60)
            .sum()
    }

    #[test]
    fn a_threshold_label_near_the_legend_moves_clear_of_it() {
        // Notebook 04's seed 42 chose 0.556 on validation: drawn to the right of its line, its
        // label ran under the legend and read "validation threshold 0.5".
        let (labels, probs) = split_scores([(100, -2.0, 1.5), (100, 2.0, 1.5)], 5);
        let splits = [ScoreSplit::new("test", &labels, &probs)];
        let drawn = |t: f32, label: &str| {
            score_distributions(
                &splits,
                ["NORMAL", "PNEUMONIA"],
                &[
                    (Threshold::HALF, "0.5"),
                    (Threshold::new(t).unwrap(), label),
                ],
            )
            .unwrap()
        };
        let clear = red_label_pixels(&decode(&drawn(0.3, "validation threshold 0.556")));
        let near = drawn(0.556, "validation threshold 0.556");
        save(&near, "score_label_near_legend.png");
        let shown = red_label_pixels(&decode(&near));
        assert!(clear > 100, "the label is drawn: {clear} red pixels");
        assert!(
            shown * 100 >= clear * 97,
            "the label near the legend shows {shown} red pixels, in the open {clear}"
        );
    }

    #[test]
    fn label_spots_avoid_the_legend_and_the_edges() {
        let legend = (500, 3, 640, 60);
        let spot = |line_x, top| LabelSpot {
            line_x,
            top,
            size: (170, 16),
        };
        // Room on the right: stays there.
        assert_eq!(spot(100, 10).place(640, legend, true), (104, 10));
        // The right side runs into the legend: the left.
        assert_eq!(spot(350, 10).place(640, legend, true), (176, 10));
        // Below the legend the right side is free again.
        assert_eq!(spot(350, 80).place(640, legend, true), (354, 80));
        // Near the right edge the left is preferred and free.
        assert_eq!(spot(600, 100).place(640, legend, false), (426, 100));
        // Neither side clear (too close to the left edge for the left side, the legend on
        // the right; a label this wide): below the legend.
        let wide = LabelSpot {
            line_x: 150,
            top: 10,
            size: (400, 16),
        };
        assert_eq!(wide.place(640, legend, true), (154, 62));
    }

    #[test]
    fn score_distributions_reject_bad_input() {
        let labels = [0u8, 1];
        let ok = [ScoreSplit::new("a", &labels, &[0.2, 0.8])];
        assert!(score_distributions(&ok, ["N", "P"], &[]).is_ok());
        assert!(score_distributions::<u8>(&[], ["N", "P"], &[]).is_err());
        // A threshold of 1.5 cannot be made, so it cannot be drawn.
        assert!(Threshold::new(1.5).is_err());
        let bad = [ScoreSplit::new("b", &labels, &[0.2, 1.8])];
        let e = score_distributions(&bad, ["N", "P"], &[]).unwrap_err();
        assert!(e.to_string().contains("split 'b'"), "{e}");
        let short = [ScoreSplit::new("c", &labels, &[0.2])];
        assert!(score_distributions(&short, ["N", "P"], &[]).is_err());
        // One class only still draws.
        let one = [ScoreSplit::new("d", &[1u8, 1], &[0.6, 0.9])];
        assert!(score_distributions(&one, ["N", "P"], &[(Threshold::HALF, "0.5")]).is_ok());
    }
}
