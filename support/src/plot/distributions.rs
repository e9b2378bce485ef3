//! Distributions of values: [`jointplot`] and [`histogram`].

use plotters::chart::ChartBuilder;
use plotters::element::{Circle, Rectangle, Text};
use plotters::style::{Color, WHITE};

use super::figure::render;
use super::{finite_values, plot_err, text, tick_label, Figure, Numeric, TAB_BLUE};
use crate::error::{Error, Result};

use super::charts::*;

/// The `q`-th quantile (0..=1) of sorted values, interpolated linearly like numpy's default.
pub(super) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * (pos - i as f64)
}

/// Number of bins by numpy's `bins="auto"` (numpy 2): the narrower of the Sturges width and the
/// Freedman-Diaconis width, the latter held to at least half the square-root rule's (1 to 100 bins).
pub(super) fn auto_bins(values: &[f64]) -> usize {
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
pub(super) fn bin_counts(values: &[f64], lo: f64, hi: f64, bins: usize) -> Vec<u64> {
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
pub(super) fn bin_range(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        (lo, hi)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// Scatter plot of `y` against `x` with a histogram of each on the margins, like seaborn's
/// `jointplot`, and the number of points in the top right corner.
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
        // The number of points in the empty corner above the right-hand histogram.
        let corner = root.clone().shrink((main_side, 0), (marginal, marginal));
        let count = format!("{} images", xs.len());
        corner
            .draw(&Text::new(count, (8, marginal as i32 / 2 - 8), text(14.0)))
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
