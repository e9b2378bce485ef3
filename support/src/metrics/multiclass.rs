//! Metrics for K classes, as scikit-learn computes them: the K x K confusion matrix (counts and
//! row percentages), per-class precision, recall and F1 in `classification_report`'s format,
//! one-vs-rest ROC AUC and its macro average, and a two-class view of a K-class model (for
//! example bacterial against viral among the pneumonia images, as Kermany et al. 2018 report it).
//!
//! Labels are class indices `0..K`; predicted probabilities are an `N x K` array whose rows sum
//! to 1 (a softmax output). The predicted class of a row is its largest probability, the first
//! one on a tie (NumPy's `argmax`).

use ndarray::{ArrayView2, Axis};

use crate::error::{Error, Result};

use super::binary::{ratio, roc_auc_score};
use super::intervals::{percentile_interval, BootstrapOptions, Interval};
use super::table::{format_report, ReportRow};

/// Counts of a K-class classifier's outcomes: `counts[truth][predicted]`, as scikit-learn's
/// `confusion_matrix` lays them out (rows are true classes, columns predicted ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MulticlassConfusion {
    counts: Vec<Vec<u64>>,
}

impl MulticlassConfusion {
    /// Counts outcomes from true and predicted class indices, both in `0..classes`.
    pub fn from_labels(truth: &[usize], predicted: &[usize], classes: usize) -> Result<Self> {
        check_classes(classes)?;
        check_labels(truth, classes)?;
        if predicted.len() != truth.len() {
            return Err(Error::invalid(
                "predicted",
                format!("{} values", predicted.len()),
                format!("one prediction per label ({} labels)", truth.len()),
            ));
        }
        if let Some((i, p)) = predicted.iter().enumerate().find(|(_, &p)| p >= classes) {
            return Err(Error::invalid(
                "predicted",
                format!("class {p} at index {i}"),
                format!("class indices 0..{classes}"),
            ));
        }
        let mut counts = vec![vec![0u64; classes]; classes];
        for (&t, &p) in truth.iter().zip(predicted) {
            counts[t][p] += 1;
        }
        Ok(MulticlassConfusion { counts })
    }

    /// Counts outcomes when each sample is predicted as its most probable class.
    pub fn from_probabilities(truth: &[usize], probs: ArrayView2<f32>) -> Result<Self> {
        check_probabilities(truth, probs)?;
        MulticlassConfusion::from_labels(truth, &predicted_classes(probs), probs.ncols())
    }

    /// The number of classes, K.
    pub fn classes(&self) -> usize {
        self.counts.len()
    }

    /// The counts, `counts()[truth][predicted]`.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Each row as percentages of its true class (rows sum to 100; an empty row is all `NaN`).
    pub fn row_percentages(&self) -> Vec<Vec<f64>> {
        self.counts
            .iter()
            .map(|row| {
                let total: u64 = row.iter().sum();
                row.iter().map(|&c| 100.0 * ratio(c, total)).collect()
            })
            .collect()
    }

    /// Number of samples counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// How many samples of class `c` there are (its row sum, scikit-learn's "support").
    pub fn support(&self, c: usize) -> u64 {
        self.counts[c].iter().sum()
    }

    /// How many samples were predicted as class `c` (its column sum).
    pub fn predicted_as(&self, c: usize) -> u64 {
        self.counts.iter().map(|row| row[c]).sum()
    }

    /// Fraction of samples classified correctly; `NaN` for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        let correct = (0..self.classes()).map(|c| self.counts[c][c]).sum();
        ratio(correct, self.total())
    }

    /// Of the samples predicted as `c`, the fraction that are; `NaN` when none is.
    pub fn precision(&self, c: usize) -> f64 {
        ratio(self.counts[c][c], self.predicted_as(c))
    }

    /// Of the samples of class `c`, the fraction predicted as `c`; `NaN` without samples of `c`.
    pub fn recall(&self, c: usize) -> f64 {
        ratio(self.counts[c][c], self.support(c))
    }

    /// The harmonic mean of precision and recall of class `c`: 2tp / (2tp + fp + fn).
    pub fn f1(&self, c: usize) -> f64 {
        let tp = self.counts[c][c];
        let wrong = self.support(c) + self.predicted_as(c) - 2 * tp;
        ratio(2 * tp, 2 * tp + wrong)
    }

    /// scikit-learn's `classification_report(y_true, y_pred, target_names=class_names,
    /// digits=digits)`, byte for byte: per-class precision, recall, F1 and support, then
    /// accuracy, the macro and the support-weighted averages.
    ///
    /// Undefined values (0/0) print as 0 like scikit-learn's default, and a note under the
    /// table names each one.
    pub fn report(&self, class_names: &[&str], digits: usize) -> Result<String> {
        if class_names.len() != self.classes() {
            return Err(Error::invalid(
                "class_names",
                format!("{} names", class_names.len()),
                format!("one name per class ({} classes)", self.classes()),
            ));
        }
        let rows: Vec<ReportRow> = class_names
            .iter()
            .enumerate()
            .map(|(c, name)| ReportRow {
                name,
                precision: self.precision(c),
                recall: self.recall(c),
                f1: self.f1(c),
                support: self.support(c),
            })
            .collect();
        Ok(format_report(&rows, self.accuracy(), digits))
    }
}

/// The most probable class of each row (the first on a tie, like NumPy's `argmax`).
pub fn predicted_classes(probs: ArrayView2<f32>) -> Vec<usize> {
    probs
        .axis_iter(Axis(0))
        .map(|row| {
            let mut best = 0;
            for (c, &p) in row.iter().enumerate() {
                if p > row[best] {
                    best = c;
                }
            }
            best
        })
        .collect()
}

/// One-vs-rest ROC AUC of each class: class `c`'s samples against all others, scored by
/// column `c` (scikit-learn's `roc_auc_score(y == c, probs[:, c])`). Errors when a class has
/// no samples or all samples are of one class.
pub fn one_vs_rest_roc_auc(truth: &[usize], probs: ArrayView2<f32>) -> Result<Vec<f64>> {
    check_probabilities(truth, probs)?;
    (0..probs.ncols())
        .map(|c| {
            let is_c: Vec<bool> = truth.iter().map(|&t| t == c).collect();
            let scores: Vec<f32> = probs.column(c).to_vec();
            roc_auc_score(&is_c, &scores)
        })
        .collect()
}

/// The unweighted mean of the one-vs-rest AUCs: scikit-learn's
/// `roc_auc_score(y, probs, multi_class="ovr", average="macro")`.
pub fn macro_roc_auc(truth: &[usize], probs: ArrayView2<f32>) -> Result<f64> {
    let aucs = one_vs_rest_roc_auc(truth, probs)?;
    Ok(aucs.iter().sum::<f64>() / aucs.len() as f64)
}

/// A two-class view of a K-class model: the samples whose true class is `positive` or
/// `negative`, labelled 1 and 0, each scored `p[positive] / (p[positive] + p[negative])` (the
/// model's probability renormalised over the two classes). This is how a three-class model is
/// compared with a binary model trained on those two classes only, e.g. bacterial against
/// viral among the pneumonia images.
pub fn two_class_view(
    truth: &[usize],
    probs: ArrayView2<f32>,
    positive: usize,
    negative: usize,
) -> Result<(Vec<u8>, Vec<f32>)> {
    check_probabilities(truth, probs)?;
    let k = probs.ncols();
    if positive >= k || negative >= k || positive == negative {
        return Err(Error::invalid(
            "positive/negative classes",
            format!("{positive} and {negative}"),
            format!("two different class indices in 0..{k}"),
        ));
    }
    let mut labels = Vec::new();
    let mut scores = Vec::new();
    for (&t, row) in truth.iter().zip(probs.axis_iter(Axis(0))) {
        if t != positive && t != negative {
            continue;
        }
        let (p, n) = (row[positive], row[negative]);
        labels.push(u8::from(t == positive));
        // Both zero cannot come from a softmax; call it a coin toss rather than divide by zero.
        scores.push(if p + n > 0.0 { p / (p + n) } else { 0.5 });
    }
    Ok((labels, scores))
}

/// Accuracy and macro ROC AUC of a K-class model with stratified bootstrap intervals (the
/// percentile method, as [`bootstrap_intervals`](super::intervals::bootstrap_intervals) does for
/// two classes): each resample draws, within every true class, as many samples as it has, with
/// replacement. Resample `i` draws from an RNG keyed by `(options.seed(), i)`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MulticlassIntervals {
    /// Accuracy of the most probable class.
    pub accuracy: Interval,
    /// The unweighted mean of the one-vs-rest ROC AUCs.
    pub macro_roc_auc: Interval,
}

impl MulticlassIntervals {
    /// The intervals for true classes `truth` and probabilities `probs` (N x K).
    pub fn new(
        truth: &[usize],
        probs: ArrayView2<f32>,
        options: &BootstrapOptions,
    ) -> Result<MulticlassIntervals> {
        use rand::{Rng, SeedableRng};
        use rayon::prelude::*;
        let accuracy = MulticlassConfusion::from_probabilities(truth, probs)?.accuracy();
        let auc = macro_roc_auc(truth, probs)?;
        let k = probs.ncols();
        let strata: Vec<Vec<usize>> = (0..k)
            .map(|c| (0..truth.len()).filter(|&i| truth[i] == c).collect())
            .collect();
        let resampled: Vec<(f64, f64)> = (0..options.resamples() as u64)
            .into_par_iter()
            .map(|index| {
                let mut key = [0u8; 32];
                key[..8].copy_from_slice(&options.seed().to_le_bytes());
                key[8..16].copy_from_slice(&index.to_le_bytes());
                let mut rng = rand::rngs::StdRng::from_seed(key);
                let picks: Vec<usize> = strata
                    .iter()
                    .flat_map(|s| {
                        (0..s.len())
                            .map(|_| s[rng.gen_range(0..s.len())])
                            .collect::<Vec<_>>()
                    })
                    .collect();
                let t: Vec<usize> = picks.iter().map(|&i| truth[i]).collect();
                let p = probs.select(Axis(0), &picks);
                let acc = MulticlassConfusion::from_probabilities(&t, p.view())
                    .map_or(f64::NAN, |cm| cm.accuracy());
                (acc, macro_roc_auc(&t, p.view()).unwrap_or(f64::NAN))
            })
            .collect();
        let confidence = options.confidence();
        Ok(MulticlassIntervals {
            accuracy: percentile_interval(accuracy, resampled.iter().map(|r| r.0), confidence),
            macro_roc_auc: percentile_interval(auc, resampled.iter().map(|r| r.1), confidence),
        })
    }
}

/// What `xray evaluate` reports for a K-class model: counts, the confusion matrix, accuracy and
/// macro ROC AUC with bootstrap intervals, each class's one-vs-rest ROC AUC, and scikit-learn's
/// classification report; printed as text by `Display`, or serialised as JSON.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MulticlassReport {
    /// Class names, in label order.
    pub class_names: Vec<String>,
    /// Images evaluated.
    pub images: u64,
    /// Images of each class.
    pub class_counts: Vec<u64>,
    /// `confusion[truth][predicted]`, predicting the most probable class.
    pub confusion: Vec<Vec<u64>>,
    /// The bootstrap's settings.
    pub bootstrap: BootstrapOptions,
    /// Accuracy and macro ROC AUC with their intervals.
    pub intervals: MulticlassIntervals,
    /// One-vs-rest ROC AUC of each class.
    pub one_vs_rest_roc_auc: Vec<f64>,
    /// Precision of each class.
    pub precision: Vec<f64>,
    /// Recall (sensitivity) of each class.
    pub recall: Vec<f64>,
    /// F1 of each class.
    pub f1: Vec<f64>,
    /// scikit-learn's `classification_report` text (3 digits).
    pub classification_report: String,
}

impl MulticlassReport {
    /// The report for true classes `truth` and probabilities `probs` (N x K) of classes `class_names`.
    pub fn new(
        truth: &[usize],
        probs: ArrayView2<f32>,
        class_names: &[&str],
        options: &BootstrapOptions,
    ) -> Result<MulticlassReport> {
        let cm = MulticlassConfusion::from_probabilities(truth, probs)?;
        let k = cm.classes();
        Ok(MulticlassReport {
            class_names: class_names.iter().map(|n| n.to_string()).collect(),
            images: cm.total(),
            class_counts: (0..k).map(|c| cm.support(c)).collect(),
            classification_report: cm.report(class_names, 3)?,
            confusion: cm.counts().to_vec(),
            bootstrap: *options,
            intervals: MulticlassIntervals::new(truth, probs, options)?,
            one_vs_rest_roc_auc: one_vs_rest_roc_auc(truth, probs)?,
            precision: (0..k).map(|c| cm.precision(c)).collect(),
            recall: (0..k).map(|c| cm.recall(c)).collect(),
            f1: (0..k).map(|c| cm.f1(c)).collect(),
        })
    }
}

impl std::fmt::Display for MulticlassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let counts: Vec<String> = self
            .class_names
            .iter()
            .zip(&self.class_counts)
            .map(|(n, c)| format!("{c} {n}"))
            .collect();
        writeln!(f, "{} images ({})", self.images, counts.join(", "))?;
        writeln!(
            f,
            "{:<15} {:<7} {:.0}% CI (stratified bootstrap, {} resamples)",
            "metric",
            "value",
            self.bootstrap.confidence() * 100.0,
            self.bootstrap.resamples()
        )?;
        for (name, i) in [
            ("accuracy", &self.intervals.accuracy),
            ("macro ROC AUC", &self.intervals.macro_roc_auc),
        ] {
            writeln!(
                f,
                "{name:<15} {:<7.3} [{:.3}, {:.3}]",
                i.estimate, i.low, i.high
            )?;
        }
        let aucs: Vec<String> = self
            .class_names
            .iter()
            .zip(&self.one_vs_rest_roc_auc)
            .map(|(n, a)| format!("{n} {a:.3}"))
            .collect();
        writeln!(f, "one-vs-rest ROC AUC: {}", aucs.join(", "))?;
        writeln!(f)?;
        write!(f, "{}", self.classification_report)?;
        writeln!(f)?;
        let width = self
            .class_names
            .iter()
            .map(|n| n.len())
            .max()
            .unwrap_or(0)
            .max(10);
        writeln!(
            f,
            "confusion matrix (rows: true class, columns: predicted; count and row %):"
        )?;
        write!(f, "{:>width$}", "")?;
        for name in &self.class_names {
            write!(f, "  {name:>width$}")?;
        }
        writeln!(f)?;
        for (name, row) in self.class_names.iter().zip(&self.confusion) {
            let total: u64 = row.iter().sum();
            write!(f, "{name:>width$}")?;
            for &count in row {
                let cell = format!(
                    "{count} ({:.1}%)",
                    100.0 * count as f64 / total.max(1) as f64
                );
                write!(f, "  {cell:>width$}")?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}

/// At least two classes.
fn check_classes(classes: usize) -> Result<()> {
    if classes < 2 {
        return Err(Error::invalid("classes", classes, "at least 2"));
    }
    Ok(())
}

/// A non-empty list of class indices in `0..classes`.
fn check_labels(truth: &[usize], classes: usize) -> Result<()> {
    if truth.is_empty() {
        return Err(Error::invalid(
            "labels",
            "[] (empty)",
            "at least one sample",
        ));
    }
    if let Some((i, t)) = truth.iter().enumerate().find(|(_, &t)| t >= classes) {
        return Err(Error::invalid(
            "labels",
            format!("class {t} at index {i}"),
            format!("class indices 0..{classes}"),
        ));
    }
    Ok(())
}

/// One row of finite probabilities per label, at least two columns, each label a column index.
fn check_probabilities(truth: &[usize], probs: ArrayView2<f32>) -> Result<()> {
    check_classes(probs.ncols())?;
    check_labels(truth, probs.ncols())?;
    if probs.nrows() != truth.len() {
        return Err(Error::invalid(
            "probs",
            format!("{} rows", probs.nrows()),
            format!("one row per label ({} labels)", truth.len()),
        ));
    }
    if let Some(((i, c), p)) = probs.indexed_iter().find(|(_, p)| !p.is_finite()) {
        return Err(Error::invalid(
            "probs",
            format!("{p} at row {i}, column {c}"),
            "finite numbers (no NaN or infinity)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};
    use serde::Deserialize;

    /// One case of `tests/fixtures/multiclass.json`, made by scikit-learn.
    #[derive(Deserialize)]
    struct Case {
        name: String,
        class_names: Vec<String>,
        labels: Vec<usize>,
        probs: Vec<Vec<f32>>,
        predicted: Vec<usize>,
        confusion_matrix: Vec<Vec<u64>>,
        reports: std::collections::BTreeMap<String, String>,
        auc_per_class: Vec<f64>,
        macro_auc: f64,
    }

    #[derive(Deserialize)]
    struct Fixture {
        cases: Vec<Case>,
    }

    fn fixture() -> Vec<Case> {
        // Written once by tools/make_multiclass_fixture.py with scikit-learn.
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/multiclass.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        serde_json::from_str::<Fixture>(&text).unwrap().cases
    }

    fn as_array(rows: &[Vec<f32>]) -> Array2<f32> {
        let k = rows[0].len();
        Array2::from_shape_vec((rows.len(), k), rows.concat()).unwrap()
    }

    #[test]
    fn matches_scikit_learn_byte_for_byte() {
        let cases = fixture();
        assert_eq!(cases.len(), 3);
        for case in cases {
            let probs = as_array(&case.probs);
            assert_eq!(
                predicted_classes(probs.view()),
                case.predicted,
                "{}",
                case.name
            );
            let cm = MulticlassConfusion::from_probabilities(&case.labels, probs.view()).unwrap();
            assert_eq!(cm.counts(), &case.confusion_matrix[..], "{}", case.name);
            let names: Vec<&str> = case.class_names.iter().map(String::as_str).collect();
            for (digits, expected) in &case.reports {
                let ours = cm.report(&names, digits.parse().unwrap()).unwrap();
                // Ours adds a note under the table for each 0/0; scikit-learn warns instead.
                let table = ours.split("\nnote: ").next().unwrap();
                assert_eq!(table, expected, "{} with {digits} digits", case.name);
            }
            let aucs = one_vs_rest_roc_auc(&case.labels, probs.view()).unwrap();
            for (ours, theirs) in aucs.iter().zip(&case.auc_per_class) {
                assert!(
                    (ours - theirs).abs() < 1e-12,
                    "{}: {ours} vs {theirs}",
                    case.name
                );
            }
            let macro_auc = macro_roc_auc(&case.labels, probs.view()).unwrap();
            assert!((macro_auc - case.macro_auc).abs() < 1e-12, "{}", case.name);
        }
    }

    #[test]
    fn never_predicted_class_is_noted() {
        let cm = MulticlassConfusion::from_labels(&[0, 1, 2, 2], &[0, 1, 1, 0], 3).unwrap();
        assert!(cm.precision(2).is_nan());
        assert_eq!(cm.recall(2), 0.0);
        let report = cm.report(&["a", "b", "c"], 2).unwrap();
        assert!(report.contains("note: precision of c is undefined (no sample predicted as it)"));
    }

    #[test]
    fn counts_and_rates_by_hand() {
        // truth: 0 0 0 1 1 2; predicted: 0 1 0 1 2 2
        let cm =
            MulticlassConfusion::from_labels(&[0, 0, 0, 1, 1, 2], &[0, 1, 0, 1, 2, 2], 3).unwrap();
        assert_eq!(
            cm.counts(),
            &[vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]][..]
        );
        assert_eq!(cm.total(), 6);
        assert!((cm.accuracy() - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(cm.precision(1), 0.5);
        assert_eq!(cm.recall(0), 2.0 / 3.0);
        assert!((cm.f1(2) - 2.0 / 3.0).abs() < 1e-12);
        let pct = cm.row_percentages();
        assert!((pct[0][0] - 200.0 / 3.0).abs() < 1e-9);
        assert_eq!(pct[1], vec![0.0, 50.0, 50.0]);
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        let p = array![[0.2f32, 0.4, 0.4], [0.5, 0.25, 0.25], [0.1, 0.1, 0.8]];
        assert_eq!(predicted_classes(p.view()), vec![1, 0, 2]);
    }

    #[test]
    fn two_class_view_renormalises_over_the_two_classes() {
        let p = array![
            [0.8f32, 0.1, 0.1],
            [0.1, 0.6, 0.3],
            [0.0, 0.25, 0.75],
            [0.5, 0.5, 0.0]
        ];
        let (labels, scores) = two_class_view(&[0, 1, 2, 1], p.view(), 1, 2).unwrap();
        // The NORMAL sample (class 0) is left out; bacteria (1) is the positive class.
        assert_eq!(labels, vec![1, 0, 1]);
        assert!((scores[0] - 2.0 / 3.0).abs() < 1e-6);
        assert!((scores[1] - 0.25).abs() < 1e-6);
        assert_eq!(scores[2], 1.0);
        assert!(two_class_view(&[0], array![[1.0f32, 0.0]].view(), 1, 1).is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert!(MulticlassConfusion::from_labels(&[0, 3], &[0, 1], 3).is_err());
        assert!(MulticlassConfusion::from_labels(&[0, 1], &[0, 5], 3).is_err());
        assert!(MulticlassConfusion::from_labels(&[0, 1], &[0], 3).is_err());
        assert!(MulticlassConfusion::from_labels(&[], &[], 3).is_err());
        assert!(MulticlassConfusion::from_labels(&[0], &[0], 1).is_err());
        let p = array![[0.5f32, f32::NAN], [0.5, 0.5]];
        assert!(macro_roc_auc(&[0, 1], p.view()).is_err());
        let p = array![[0.5f32, 0.5]];
        assert!(macro_roc_auc(&[0, 1], p.view()).is_err());
        let cm = MulticlassConfusion::from_labels(&[0, 1], &[0, 1], 2).unwrap();
        assert!(cm.report(&["only one name"], 2).is_err());
    }

    #[test]
    fn bootstrap_intervals_hold_the_estimate_and_follow_the_seed() {
        let truth = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2];
        let probs = array![
            [0.8, 0.1, 0.1],
            [0.6, 0.3, 0.1],
            [0.2, 0.5, 0.3],
            [0.1, 0.8, 0.1],
            [0.3, 0.4, 0.3],
            [0.5, 0.3, 0.2],
            [0.1, 0.2, 0.7],
            [0.2, 0.2, 0.6],
            [0.3, 0.4, 0.3],
            [0.7, 0.2, 0.1],
            [0.2, 0.6, 0.2],
            [0.1, 0.1, 0.8]
        ];
        let options = BootstrapOptions::new(500, 0.9, 7).unwrap();
        let a = MulticlassIntervals::new(&truth, probs.view(), &options).unwrap();
        assert!((a.accuracy.estimate - 9.0 / 12.0).abs() < 1e-12);
        let auc = macro_roc_auc(&truth, probs.view()).unwrap();
        assert_eq!(a.macro_roc_auc.estimate, auc);
        for i in [a.accuracy, a.macro_roc_auc] {
            assert!(i.low < i.estimate && i.estimate < i.high, "{i}");
        }
        assert_eq!(
            a,
            MulticlassIntervals::new(&truth, probs.view(), &options).unwrap()
        );
        let b = MulticlassIntervals::new(&truth, probs.view(), &options.with_seed(8)).unwrap();
        assert_ne!(a, b, "another seed, other resamples");
        // A perfect classifier: every resample is perfect too.
        let perfect = MulticlassIntervals::new(
            &[0, 1, 2, 1],
            array![
                [1.0, 0.0, 0.0],
                [0.0, 1.0, 0.0],
                [0.0, 0.0, 1.0],
                [0.0, 0.9, 0.1]
            ]
            .view(),
            &options,
        )
        .unwrap();
        assert_eq!((perfect.accuracy.low, perfect.accuracy.high), (1.0, 1.0));
        let report =
            MulticlassReport::new(&truth, probs.view(), &["a", "b", "c"], &options).unwrap();
        let text = report.to_string();
        assert!(text.contains("12 images (4 a, 4 b, 4 c)"), "{text}");
        assert!(text.contains("accuracy        0.750"), "{text}");
        assert_eq!(report.confusion[0], [3, 1, 0]);
    }
}
