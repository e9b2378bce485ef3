//! The stress-validation chart: [`stress_chart`], accuracy and specificity with their
//! intervals under each acquisition change, against the unchanged images.

use plotters::chart::{ChartBuilder, SeriesLabelPosition};
use plotters::element::{Circle, PathElement, TriangleMarker};
use plotters::series::DashedLineSeries;
use plotters::style::{Color, RGBColor};

use super::charts::{draw_legend, GRID};
use super::figure::render;
use super::{plot_err, text, tick_label, Figure, TAB_BLUE, TAB_ORANGE};
use crate::error::{Error, Result};
use crate::metrics::intervals::Interval;

/// A metric the chart draws: its name, colour, vertical offset in its row, and how to read it.
type Series = (&'static str, RGBColor, f64, fn(&StressPoint) -> Interval);

/// One row of [`stress_chart`]: a change's name and two metrics with their intervals.
#[derive(Debug, Clone, Copy)]
pub struct StressPoint<'a> {
    /// The change ("unchanged" first).
    pub name: &'a str,
    /// Accuracy at the chart's threshold.
    pub accuracy: Interval,
    /// Specificity at the chart's threshold.
    pub specificity: Interval,
}

/// A dot-and-whisker chart: one row per change (the first, the unchanged images, on top), the
/// accuracy (blue dot) and specificity (orange triangle) with their intervals as whiskers, and
/// dashed vertical lines at the unchanged images' values, so that a change's cost reads as the
/// distance from its line. `title` says what, on which images, at which threshold.
pub fn stress_chart(points: &[StressPoint<'_>], title: &str) -> Result<Figure> {
    if points.is_empty() {
        return Err(Error::invalid(
            "stress points",
            "none",
            "at least the unchanged row",
        ));
    }
    let finite = |i: &Interval| {
        [i.estimate, i.low, i.high]
            .into_iter()
            .filter(|v| v.is_finite())
    };
    let lowest = points
        .iter()
        .flat_map(|p| finite(&p.accuracy).chain(finite(&p.specificity)))
        .fold(1.0f64, f64::min);
    // Room on the left for the legend, below the lowest whisker.
    let x_lo = ((lowest - 0.08) * 20.0).floor() / 20.0;
    let n = points.len();
    let (width, height) = (760u32, 110 + 30 * n as u32);
    let y_of = |i: usize| (n - 1 - i) as f64;
    render(width, height, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(title, text(16.0))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(150)
            .build_cartesian_2d(x_lo.max(0.0)..1.0, -0.6..(n as f64 - 0.4))
            .map_err(plot_err)?;
        let x_fmt = |v: &f64| tick_label(*v);
        let y_fmt = |v: &f64| {
            let k = v.round();
            if (v - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < n {
                points[n - 1 - k as usize].name.to_string()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .max_light_lines(0)
            .y_labels(n)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc("value on the changed images (95% interval)")
            .label_style(text(12.0))
            .axis_desc_style(text(13.0))
            .draw()
            .map_err(plot_err)?;
        let series: [Series; 2] = [
            ("accuracy", TAB_BLUE, 0.13, |p| p.accuracy),
            ("specificity", TAB_ORANGE, -0.13, |p| p.specificity),
        ];
        for (label, color, offset, metric) in series {
            let base = metric(&points[0]).estimate;
            if base.is_finite() {
                chart
                    .draw_series(DashedLineSeries::new(
                        [(base, -0.6), (base, n as f64 - 0.4)],
                        6,
                        4,
                        color.mix(0.7).stroke_width(1),
                    ))
                    .map_err(plot_err)?;
            }
            chart
                .draw_series(points.iter().enumerate().filter_map(|(i, p)| {
                    let m = metric(p);
                    (m.low.is_finite() && m.high.is_finite()).then(|| {
                        let y = y_of(i) + offset;
                        PathElement::new(vec![(m.low, y), (m.high, y)], color.stroke_width(2))
                    })
                }))
                .map_err(plot_err)?;
            let dots: Vec<(f64, f64)> = points
                .iter()
                .enumerate()
                .map(|(i, p)| (metric(p).estimate, y_of(i) + offset))
                .filter(|(x, _)| x.is_finite())
                .collect();
            let drawn = if label == "accuracy" {
                chart.draw_series(dots.iter().map(|&at| Circle::new(at, 4, color.filled())))
            } else {
                chart.draw_series(
                    dots.iter()
                        .map(|&at| TriangleMarker::new(at, 5, color.filled())),
                )
            };
            let entry = drawn
                .map_err(plot_err)?
                .label(format!("{label} (dashed: unchanged)"));
            if label == "accuracy" {
                entry.legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
            } else {
                entry.legend(move |(x, y)| TriangleMarker::new((x + 8, y), 5, color.filled()));
            }
        }
        draw_legend(&mut chart, SeriesLabelPosition::LowerLeft, 12.0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::figure::tests::{decode, save_for_review};

    fn interval(estimate: f64) -> Interval {
        Interval {
            estimate,
            low: estimate - 0.03,
            high: (estimate + 0.03).min(1.0),
        }
    }

    #[test]
    fn the_chart_has_a_row_per_change_and_refuses_nothing_to_draw() {
        let points = [
            StressPoint {
                name: "unchanged",
                accuracy: interval(0.95),
                specificity: interval(0.94),
            },
            StressPoint {
                name: "gamma 1.5",
                accuracy: interval(0.83),
                specificity: interval(0.54),
            },
            StressPoint {
                name: "framing x0.87",
                accuracy: interval(0.9),
                specificity: Interval::UNDEFINED,
            },
        ];
        let fig = stress_chart(
            &points,
            "Stress validation, validation patients, threshold 0.43",
        )
        .unwrap();
        save_for_review(&fig, "stress_chart");
        assert_eq!(fig.size(), (760, 110 + 90));
        let img = decode(&fig);
        let orange = img
            .pixels()
            .filter(|p| p.0 == [TAB_ORANGE.0, TAB_ORANGE.1, TAB_ORANGE.2])
            .count();
        assert!(orange > 50, "the specificity markers are drawn: {orange}");
        assert!(stress_chart(&[], "empty").is_err());
    }
}
