//! The text of a classification report, laid out as scikit-learn's `classification_report`.

/// One row of a classification report: a class (or an average) and its scores.
pub(crate) struct ReportRow<'a> {
    pub name: &'a str,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// Formats per-class rows as scikit-learn's `classification_report` does, with its accuracy,
/// macro-average and weighted-average lines; `NaN` scores print as 0 with a note.
pub(crate) fn format_report(rows: &[ReportRow], accuracy: f64, digits: usize) -> String {
    let mut notes = Vec::new();
    let mut shown = |value: f64, what: &str, name: &str, why: &str| {
        if value.is_nan() {
            notes.push(format!("{what} of {name} is undefined ({why}): shown as 0"));
            0.0
        } else {
            value
        }
    };
    let rows: Vec<ReportRow> = rows
        .iter()
        .map(|r| ReportRow {
            name: r.name,
            precision: shown(
                r.precision,
                "precision",
                r.name,
                "no sample predicted as it",
            ),
            recall: shown(r.recall, "recall", r.name, "no sample of it"),
            f1: shown(
                r.f1,
                "f1-score",
                r.name,
                "no sample of it or predicted as it",
            ),
            support: r.support,
        })
        .collect();
    let total: u64 = rows.iter().map(|r| r.support).sum();
    let k = rows.len() as f64;
    let average = |pick: fn(&ReportRow) -> f64, weighted: bool| -> f64 {
        if weighted {
            if total == 0 {
                0.0
            } else {
                rows.iter().map(|r| pick(r) * r.support as f64).sum::<f64>() / total as f64
            }
        } else {
            rows.iter().map(pick).sum::<f64>() / k
        }
    };
    // scikit-learn's layout: names right-aligned to the longest name (at least
    // "weighted avg"), then four 9-wide columns, each preceded by a space.
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    let width = name_width.max("weighted avg".len()).max(digits);
    let mut out = format!(
        "{:>width$}  {:>9} {:>9} {:>9} {:>9}\n\n",
        "", "precision", "recall", "f1-score", "support"
    );
    let line = |out: &mut String, r: &ReportRow| {
        let (name, p, rc, f, s) = (r.name, r.precision, r.recall, r.f1, r.support);
        out.push_str(&format!(
            "{name:>width$}  {p:>9.digits$} {rc:>9.digits$} {f:>9.digits$} {s:>9}\n"
        ));
    };
    for r in &rows {
        line(&mut out, r);
    }
    out.push('\n');
    let accuracy = if total == 0 { 0.0 } else { accuracy };
    out.push_str(&format!(
        "{:>width$}  {:>9} {:>9} {accuracy:>9.digits$} {total:>9}\n",
        "accuracy", "", ""
    ));
    for (name, weighted) in [("macro avg", false), ("weighted avg", true)] {
        let r = ReportRow {
            name,
            precision: average(|r| r.precision, weighted),
            recall: average(|r| r.recall, weighted),
            f1: average(|r| r.f1, weighted),
            support: total,
        };
        line(&mut out, &r);
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str("note: ");
            out.push_str(&note);
            out.push('\n');
        }
    }
    out
}
