//! What every chart shares: the grid, the unit-square axes with a legend, padded ranges, and
//! the threshold's label.

use plotters::chart::{ChartBuilder, ChartContext, SeriesLabelPosition};
use plotters::coord::cartesian::Cartesian2d;
use plotters::coord::types::RangedCoordf64;
use plotters::element::PathElement;
use plotters::series::DashedLineSeries;
use plotters::style::{Color, RGBColor, WHITE};

use super::canvas::Canvas;
use super::figure::Area;
use super::{plot_err, text, tick_label};
use crate::error::Result;
use crate::metrics::Threshold;

/// Light grey of the grid lines.
pub(super) const GRID: RGBColor = RGBColor(225, 225, 225);

/// `(lo, hi)` widened by 5 % on each side (or by 0.5 when all values are equal).
pub(super) fn padded(lo: f64, hi: f64) -> (f64, f64) {
    if hi > lo {
        let pad = (hi - lo) * 0.05;
        (lo - pad, hi + pad)
    } else {
        (lo - 0.5, hi + 0.5)
    }
}

/// Smallest and largest value of a non-empty slice.
pub(super) fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        })
}

/// A threshold as the figures print it: up to 3 decimals, no trailing zeros ("0.5", "0.223").
pub(super) fn threshold_text(t: Threshold) -> String {
    tick_label((f64::from(t.get()) * 1000.0).round() / 1000.0)
}

/// Draws an x-y chart's grid (major lines only), tick labels (12 px) and axis titles
/// (`desc_size` px): the frame every line and scatter chart here shares.
pub(super) fn draw_grid(
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

/// The chart type of every figure with two numeric axes.
pub(super) type XyChart<'a, 'b> =
    ChartContext<'a, Canvas<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

#[cfg(test)]
mod tests {
    use super::super::{confusion::*, curves::*, distributions::*, roc::*};
    use super::*;
    use crate::error::Error;
    use crate::metrics::ConfusionMatrix;
    use crate::plot::figure::render;
    use crate::plot::figure::tests::{decode, save_for_review};
    use crate::plot::{Colormap, Figure};

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
        // The count ("4 images") in the top right corner, which is otherwise blank.
        let dark = |p: [u8; 3]| p.iter().all(|&c| c < 100);
        let corner_ink = (530..640)
            .flat_map(|x| (0..110).map(move |y| (x, y)))
            .filter(|&(x, y)| dark(px.get_pixel(x, y).0))
            .count();
        assert!(
            corner_ink > 20,
            "the count is written: {corner_ink} dark pixels"
        );
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
            // A white ring keeps the dot apart from the curve; the first point's dot is the
            // larger (radius 9 against 5), so that coinciding points stay apart.
            let radius = if colour == 0 { 9 } else { 5 };
            let ring = c.0 + radius + 1;
            assert_eq!(px.get_pixel(ring as u32, c.1 as u32).0, [255, 255, 255]);
        }
        // The red label (line 1) is drawn near its point; the plain curve has no red at all.
        let c = unit_square_pixel(500, 480, 0.5, 1.0);
        let red_text = count(&px, 0..500, 0..480, red) - centroid(&px, c, 6, red).1;
        assert!(red_text > 50, "red label text: {red_text} px");
        let plain = roc_curve_plot(&[0.0, 0.25, 0.5, 1.0], &[0.0, 0.75, 1.0, 1.0], 0.8).unwrap();
        assert_eq!(count(&decode(&plain), 0..500, 0..480, red), 0);
        // Two thresholds with the same counts mark one spot: both stay visible, the second's
        // red dot inside the first's black ring.
        let same = roc_from_predictions(
            &labels,
            &probs,
            &[
                (Threshold::HALF, "threshold 0.5"),
                (t(0.45), "validation threshold 0.45"),
            ],
        )
        .unwrap();
        let px = decode(&same);
        let c = unit_square_pixel(500, 480, 0.25, 0.75);
        assert!(
            black(px.get_pixel((c.0 + 8) as u32, c.1 as u32).0),
            "the outer ring"
        );
        assert!(red(px.get_pixel(c.0 as u32, c.1 as u32).0), "the inner dot");
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
