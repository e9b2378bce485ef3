//! Confusion matrices: [`confusion_matrix_plot`], [`confusion_matrix_at`] and
//! [`multiclass_confusion_matrix`].

use plotters::element::{Rectangle, Text};
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{Color, FontTransform, ShapeStyle, BLACK, WHITE};

use super::figure::render;
use super::{plot_err, text, Colormap, Figure};
use crate::error::{Error, Result};
use crate::metrics::Threshold;

use super::charts::*;

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

/// Draws a binary confusion matrix under `title`.
pub(super) fn confusion_figure(
    m: [[u64; 2]; 2],
    class_names: [&str; 2],
    title: &str,
) -> Result<Figure> {
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
pub(super) fn confusion_grid(m: &[Vec<u64>], class_names: &[&str], title: &str) -> Result<Figure> {
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
