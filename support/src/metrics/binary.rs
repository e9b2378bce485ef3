//! Binary classification metrics, as scikit-learn computes them: confusion matrix, accuracy,
//! precision, recall, specificity, F1, ROC curve and AUC, `classification_report`, and a
//! decision threshold chosen by Youden's J.
//!
//! Labels are binary: `0` = NORMAL (negative), `1` = PNEUMONIA (positive). Any label type that
//! implements [`BinaryLabel`] works (`u8`, `usize`, `f32`, `bool`, ...). Scores are predicted
//! probabilities of the positive class; a sample is predicted positive when
//! `prob >= threshold`, the same rule [`roc_curve`]'s thresholds follow (scikit-learn's rule).
//!
//! Undefined ratios (0/0, e.g. precision when nothing is predicted positive) are `NaN` in
//! [`ConfusionMatrix`]'s methods; [`classification_report`] prints them as 0.00 the way
//! scikit-learn does (its default `zero_division="warn"`) and says so in a note under the
//! table. ROC functions need both classes and return [`Error::InvalidArgument`] otherwise.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::decision::Threshold;
use crate::error::{Error, Result};

use super::table::{format_report, ReportRow};

/// A label of a binary problem: converts to `Some(false)` for 0, `Some(true)` for 1, `None` otherwise.
pub trait BinaryLabel: Copy {
    /// `Some(true)` for the positive class (1), `Some(false)` for the negative class (0), `None` for anything else.
    fn as_class(self) -> Option<bool>;
}

impl BinaryLabel for bool {
    fn as_class(self) -> Option<bool> {
        Some(self)
    }
}

macro_rules! int_label {
    ($($t:ty),*) => {$(
        impl BinaryLabel for $t {
            fn as_class(self) -> Option<bool> {
                match self {
                    0 => Some(false),
                    1 => Some(true),
                    _ => None,
                }
            }
        }
    )*};
}
int_label!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

macro_rules! float_label {
    ($($t:ty),*) => {$(
        impl BinaryLabel for $t {
            fn as_class(self) -> Option<bool> {
                if self == 0.0 {
                    Some(false)
                } else if self == 1.0 {
                    Some(true)
                } else {
                    None
                }
            }
        }
    )*};
}
float_label!(f32, f64);

/// Checks labels against scores (same non-zero length, labels 0/1, scores finite) and returns the labels as bools.
pub(crate) fn check_inputs<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<Vec<bool>> {
    if labels.is_empty() {
        return Err(Error::invalid(
            "labels",
            "[] (empty)",
            "at least one sample",
        ));
    }
    if labels.len() != probs.len() {
        return Err(Error::invalid(
            "probs",
            format!("{} values", probs.len()),
            format!("one probability per label ({} labels)", labels.len()),
        ));
    }
    if let Some((i, p)) = probs.iter().enumerate().find(|(_, p)| !p.is_finite()) {
        return Err(Error::invalid(
            "probs",
            format!("{p} at index {i}"),
            "finite numbers (no NaN or infinity)",
        ));
    }
    to_classes(labels)
}

/// Converts labels to bools, or names the first label that is neither 0 nor 1.
fn to_classes<L: BinaryLabel>(labels: &[L]) -> Result<Vec<bool>> {
    labels
        .iter()
        .enumerate()
        .map(|(i, l)| {
            l.as_class().ok_or_else(|| {
                Error::invalid(
                    "labels",
                    format!("a label other than 0 or 1 at index {i}"),
                    "binary labels: 0 (NORMAL) or 1 (PNEUMONIA)",
                )
            })
        })
        .collect()
}

/// Counts of a binary classifier's outcomes; the positive class is 1 (PNEUMONIA).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    /// True negatives: label 0, predicted 0.
    pub tn: u64,
    /// False positives: label 0, predicted 1.
    pub fp: u64,
    /// False negatives: label 1, predicted 0 (`fn` is a Rust keyword, hence the underscore; `"fn"` in JSON).
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// True positives: label 1, predicted 1.
    pub tp: u64,
}

/// `a / b` as f64, `NaN` when `b` is 0.
pub(super) fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        f64::NAN
    } else {
        a as f64 / b as f64
    }
}

impl ConfusionMatrix {
    /// Counts outcomes from true labels and predicted labels (both 0 or 1).
    pub fn from_predictions<L: BinaryLabel, P: BinaryLabel>(
        labels: &[L],
        predictions: &[P],
    ) -> Result<Self> {
        if labels.is_empty() {
            return Err(Error::invalid(
                "labels",
                "[] (empty)",
                "at least one sample",
            ));
        }
        if labels.len() != predictions.len() {
            return Err(Error::invalid(
                "predictions",
                format!("{} values", predictions.len()),
                format!("one prediction per label ({} labels)", labels.len()),
            ));
        }
        let truth = to_classes(labels)?;
        let predicted = to_classes(predictions)?;
        let mut cm = ConfusionMatrix::default();
        for (t, p) in truth.into_iter().zip(predicted) {
            cm.add(t, p);
        }
        Ok(cm)
    }

    /// Counts outcomes when a sample is predicted positive if `prob >= threshold`.
    pub fn at_threshold<L: BinaryLabel>(
        labels: &[L],
        probs: &[f32],
        threshold: Threshold,
    ) -> Result<Self> {
        let truth = check_inputs(labels, probs)?;
        let mut cm = ConfusionMatrix::default();
        for (t, &p) in truth.into_iter().zip(probs) {
            cm.add(t, threshold.predicts_positive(p));
        }
        Ok(cm)
    }

    /// Adds one sample.
    fn add(&mut self, truth: bool, predicted: bool) {
        match (truth, predicted) {
            (false, false) => self.tn += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (true, true) => self.tp += 1,
        }
    }

    /// The matrix laid out like scikit-learn's `confusion_matrix`: rows are true classes, columns predicted, `[[tn, fp], [fn, tp]]`.
    pub fn as_array(&self) -> [[u64; 2]; 2] {
        [[self.tn, self.fp], [self.fn_, self.tp]]
    }

    /// Number of samples counted.
    pub fn total(&self) -> u64 {
        self.tn + self.fp + self.fn_ + self.tp
    }

    /// Number of positive (label 1) samples.
    pub fn positives(&self) -> u64 {
        self.tp + self.fn_
    }

    /// Number of negative (label 0) samples.
    pub fn negatives(&self) -> u64 {
        self.tn + self.fp
    }

    /// Fraction of samples classified correctly; `NaN` for an empty matrix.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }

    /// tp / (tp + fp): of the samples called positive, the fraction that are; `NaN` when none is called positive.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// tp / (tp + fn), also called sensitivity or true positive rate; `NaN` without positive samples.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.positives())
    }

    /// Sensitivity, the same number as [`recall`](Self::recall).
    pub fn sensitivity(&self) -> f64 {
        self.recall()
    }

    /// tn / (tn + fp), the true negative rate (the recall of class 0); `NaN` without negative samples.
    pub fn specificity(&self) -> f64 {
        ratio(self.tn, self.negatives())
    }

    /// Precision of class 0: tn / (tn + fn), the negative predictive value; `NaN` when nothing is called negative.
    pub fn negative_predictive_value(&self) -> f64 {
        ratio(self.tn, self.tn + self.fn_)
    }

    /// Harmonic mean of precision and recall, 2tp / (2tp + fp + fn); `NaN` when tp + fp + fn is 0.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// The confusion matrix with the classes swapped, so class 0 is the positive one.
    fn swapped(&self) -> Self {
        ConfusionMatrix {
            tn: self.tp,
            fp: self.fn_,
            fn_: self.fp,
            tp: self.tn,
        }
    }

    /// A report formatted like scikit-learn's `classification_report` with `digits` decimals.
    ///
    /// Undefined precision, recall or F1 (0/0) is printed as 0 like scikit-learn's default, and a
    /// note under the table names each such value.
    pub fn report(&self, class_names: [&str; 2], digits: usize) -> String {
        let rows: Vec<ReportRow> = [(class_names[0], self.swapped()), (class_names[1], *self)]
            .into_iter()
            .map(|(name, cm)| ReportRow {
                name,
                precision: cm.precision(),
                recall: cm.recall(),
                f1: cm.f1(),
                support: cm.positives(),
            })
            .collect();
        format_report(&rows, self.accuracy(), digits)
    }
}

impl From<&ConfusionMatrix> for [[u64; 2]; 2] {
    fn from(cm: &ConfusionMatrix) -> Self {
        cm.as_array()
    }
}

impl fmt::Display for ConfusionMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = [self.tn, self.fp, self.fn_, self.tp]
            .iter()
            .map(|v| v.to_string().len())
            .max()
            .unwrap_or(1)
            .max(6);
        writeln!(f, "{:>12} {:>w$} {:>w$}", "", "pred 0", "pred 1")?;
        writeln!(f, "{:>12} {:>w$} {:>w$}", "true 0", self.tn, self.fp)?;
        write!(f, "{:>12} {:>w$} {:>w$}", "true 1", self.fn_, self.tp)
    }
}

/// scikit-learn's `classification_report` for predictions `prob >= threshold`, with 2 decimals.
///
/// `class_names` are the names of class 0 and class 1, e.g. `["NORMAL", "PNEUMONIA"]`.
pub fn classification_report<L: BinaryLabel>(
    labels: &[L],
    probs: &[f32],
    threshold: Threshold,
    class_names: [&str; 2],
) -> Result<String> {
    Ok(ConfusionMatrix::at_threshold(labels, probs, threshold)?.report(class_names, 2))
}

/// Counts positives and negatives and errors out unless both classes are present.
pub(crate) fn both_classes(truth: &[bool], what: &'static str) -> Result<(u64, u64)> {
    let pos = truth.iter().filter(|&&t| t).count() as u64;
    let neg = truth.len() as u64 - pos;
    if pos == 0 || neg == 0 {
        let only = if pos == 0 {
            "0 (NORMAL)"
        } else {
            "1 (PNEUMONIA)"
        };
        return Err(Error::invalid(
            "labels",
            format!("only class {only} among {} samples", truth.len()),
            format!("both classes present: {what} is undefined with one class"),
        ));
    }
    Ok((pos, neg))
}

/// The ROC curve like scikit-learn's `roc_curve(..., drop_intermediate=False)`: `(fpr, tpr, thresholds)`.
///
/// `thresholds` are the distinct scores in decreasing order, preceded by `+inf` (the point
/// (0, 0)); point `i` is the false and true positive rate when predicting positive for
/// `prob >= thresholds[i]`. Tied scores give one point, so ties make a diagonal step. Errors
/// when labels hold only one class (the rates would divide by zero).
pub fn roc_curve<L: BinaryLabel>(
    labels: &[L],
    probs: &[f32],
) -> Result<(Vec<f64>, Vec<f64>, Vec<f32>)> {
    let truth = check_inputs(labels, probs)?;
    let (pos, neg) = both_classes(&truth, "the ROC curve")?;
    let mut order: Vec<usize> = (0..probs.len()).collect();
    // Scores are finite (checked), so total_cmp orders them like `>`; descending.
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    let mut fpr = vec![0.0];
    let mut tpr = vec![0.0];
    let mut thresholds = vec![f32::INFINITY];
    let (mut tp, mut fp) = (0u64, 0u64);
    for (k, &i) in order.iter().enumerate() {
        if truth[i] {
            tp += 1;
        } else {
            fp += 1;
        }
        // Emit a point after the last sample of each group of equal scores.
        let last_of_group = order.get(k + 1).is_none_or(|&j| probs[j] != probs[i]);
        if last_of_group {
            fpr.push(fp as f64 / neg as f64);
            tpr.push(tp as f64 / pos as f64);
            thresholds.push(probs[i]);
        }
    }
    Ok((fpr, tpr, thresholds))
}

/// Area under the ROC curve by the trapezoid rule, like scikit-learn's `roc_auc_score`.
///
/// Equals the probability that a random positive scores above a random negative, ties
/// counting half (the Mann-Whitney U statistic over positives x negatives). Errors when labels
/// hold only one class.
pub fn roc_auc_score<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<f64> {
    let (fpr, tpr, _) = roc_curve(labels, probs)?;
    Ok(auc(&fpr, &tpr))
}

/// Trapezoid area under a curve given by points in increasing x (as `roc_curve` returns them).
pub fn auc(x: &[f64], y: &[f64]) -> f64 {
    x.windows(2)
        .zip(y.windows(2))
        .map(|(xs, ys)| (xs[1] - xs[0]) * (ys[0] + ys[1]) / 2.0)
        .sum()
}

/// The decision threshold with the highest Youden's J = sensitivity + specificity - 1 (= tpr - fpr).
///
/// Choose it on validation data, never on the test set it is then used on. Candidates are
/// the ROC curve's finite thresholds (the observed scores), so the result is one of `probs`
/// and predicting `prob >= threshold` reaches that J; on a tie the highest threshold wins.
/// Errors when labels hold only one class, or when that score is not a probability in [0, 1].
pub fn best_threshold<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<Threshold> {
    let (fpr, tpr, thresholds) = roc_curve(labels, probs)?;
    let mut best = (f64::NEG_INFINITY, thresholds[thresholds.len() - 1]);
    // Index 0 is the +inf threshold (predict nothing positive), skipped so the result is a real score.
    for i in 1..thresholds.len() {
        let j = tpr[i] - fpr[i];
        if j > best.0 {
            best = (j, thresholds[i]);
        }
    }
    Threshold::new(best.1)
}

/// All metrics of a classifier on one data set at one threshold, printable as a summary.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// Names of class 0 and class 1.
    pub class_names: [String; 2],
    /// The threshold applied: predicted positive when `prob >= threshold`.
    pub threshold: Threshold,
    /// Outcome counts at `threshold`.
    pub confusion: ConfusionMatrix,
    /// Fraction classified correctly.
    pub accuracy: f64,
    /// Precision of the positive class (`NaN` when nothing is predicted positive).
    pub precision: f64,
    /// Recall (sensitivity) of the positive class (`NaN` without positives).
    pub recall: f64,
    /// Specificity, the recall of the negative class (`NaN` without negatives).
    pub specificity: f64,
    /// F1 of the positive class (`NaN` when undefined).
    pub f1: f64,
    /// ROC AUC; `None` when the labels hold only one class.
    pub roc_auc: Option<f64>,
    /// The ROC curve `(fpr, tpr, thresholds)`; `None` when the labels hold only one class.
    pub roc: Option<(Vec<f64>, Vec<f64>, Vec<f32>)>,
    /// scikit-learn style classification report.
    pub report: String,
}

impl Evaluation {
    /// Evaluates probabilities against labels at `threshold` (e.g. 0.5, or [`best_threshold`] from validation data).
    pub fn new<L: BinaryLabel>(
        labels: &[L],
        probs: &[f32],
        threshold: Threshold,
        class_names: [&str; 2],
    ) -> Result<Self> {
        let confusion = ConfusionMatrix::at_threshold(labels, probs, threshold)?;
        let truth = check_inputs(labels, probs)?;
        let roc = if both_classes(&truth, "ROC").is_ok() {
            Some(roc_curve(labels, probs)?)
        } else {
            None
        };
        Ok(Evaluation {
            class_names: class_names.map(str::to_string),
            threshold,
            accuracy: confusion.accuracy(),
            precision: confusion.precision(),
            recall: confusion.recall(),
            specificity: confusion.specificity(),
            f1: confusion.f1(),
            roc_auc: roc.as_ref().map(|(fpr, tpr, _)| auc(fpr, tpr)),
            roc,
            report: confusion.report(class_names, 2),
            confusion,
        })
    }
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [n0, n1] = &self.class_names;
        writeln!(
            f,
            "threshold {:.3} (predict {n1} when p >= threshold), {} samples: {} {n0}, {} {n1}",
            self.threshold,
            self.confusion.total(),
            self.confusion.negatives(),
            self.confusion.positives()
        )?;
        writeln!(
            f,
            "confusion matrix (rows: true class, columns: predicted):"
        )?;
        writeln!(f, "{}", self.confusion)?;
        writeln!(f, "accuracy    {:.4}", self.accuracy)?;
        writeln!(f, "precision   {:.4}", self.precision)?;
        writeln!(f, "recall      {:.4}  (sensitivity)", self.recall)?;
        writeln!(f, "specificity {:.4}", self.specificity)?;
        writeln!(f, "f1          {:.4}", self.f1)?;
        match self.roc_auc {
            Some(a) => writeln!(f, "ROC AUC     {a:.4}")?,
            None => writeln!(f, "ROC AUC     undefined (only one class in the labels)")?,
        }
        writeln!(f)?;
        write!(f, "{}", self.report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-computed example (also checked against scikit-learn 1.9):
    // scores sorted: 0.9(1) 0.8(1) 0.6(0) 0.4(1) 0.4(0) 0.35(1) 0.1(0); P = 4, N = 3.
    const Y: [u8; 7] = [0, 0, 1, 1, 1, 0, 1];
    const P: [f32; 7] = [0.1, 0.4, 0.35, 0.8, 0.4, 0.6, 0.9];

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn confusion_matrix_at_half() {
        // >= 0.5: predicted 1 for 0.8, 0.6, 0.9 -> tp = 2 (0.8, 0.9), fp = 1 (0.6).
        let cm = ConfusionMatrix::at_threshold(&Y, &P, Threshold::HALF).unwrap();
        assert_eq!(
            cm,
            ConfusionMatrix {
                tn: 2,
                fp: 1,
                fn_: 2,
                tp: 2
            }
        );
        assert_eq!(cm.as_array(), [[2, 1], [2, 2]]);
        assert!(close(cm.accuracy(), 4.0 / 7.0));
        assert!(close(cm.precision(), 2.0 / 3.0));
        assert!(close(cm.recall(), 0.5));
        assert!(close(cm.specificity(), 2.0 / 3.0));
        assert!(close(cm.f1(), 4.0 / 7.0));
        assert!(close(cm.negative_predictive_value(), 0.5));
    }

    #[test]
    fn threshold_is_inclusive() {
        // Both 0.4 scores become positive at 0.4 exactly.
        let cm = ConfusionMatrix::at_threshold(&Y, &P, Threshold::new(0.4).unwrap()).unwrap();
        assert_eq!(
            cm,
            ConfusionMatrix {
                tn: 1,
                fp: 2,
                fn_: 1,
                tp: 3
            }
        );
    }

    #[test]
    fn from_predictions_counts_each_cell() {
        let cm = ConfusionMatrix::from_predictions(
            &[0u8, 0, 1, 1, 1],
            &[true, false, false, true, true],
        )
        .unwrap();
        assert_eq!(
            cm,
            ConfusionMatrix {
                tn: 1,
                fp: 1,
                fn_: 1,
                tp: 2
            }
        );
        let err = ConfusionMatrix::from_predictions(&[0u8, 1], &[1u8]).unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidArgument {
                name: "predictions",
                ..
            }
        ));
    }

    #[test]
    fn label_types_convert() {
        assert_eq!(1.0f32.as_class(), Some(true));
        assert_eq!(0usize.as_class(), Some(false));
        assert_eq!(2u8.as_class(), None);
        assert_eq!(0.5f64.as_class(), None);
        let err =
            ConfusionMatrix::at_threshold(&[0u8, 2], &[0.1, 0.2], Threshold::HALF).unwrap_err();
        assert!(
            matches!(err, Error::InvalidArgument { name: "labels", .. }),
            "{err}"
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let e = ConfusionMatrix::at_threshold::<u8>(&[], &[], Threshold::HALF).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { name: "labels", .. }));
        let e = roc_curve(&[0u8, 1], &[0.1]).unwrap_err();
        assert!(matches!(e, Error::InvalidArgument { name: "probs", .. }));
        let e = roc_auc_score(&[0u8, 1], &[0.1, f32::NAN]).unwrap_err();
        assert!(e.to_string().contains("NaN at index 1"), "{e}");
    }

    #[test]
    fn roc_curve_merges_ties() {
        let (fpr, tpr, th) = roc_curve(&Y, &P).unwrap();
        assert_eq!(th, vec![f32::INFINITY, 0.9, 0.8, 0.6, 0.4, 0.35, 0.1]);
        let want_fpr = [0.0, 0.0, 0.0, 1.0 / 3.0, 2.0 / 3.0, 2.0 / 3.0, 1.0];
        let want_tpr = [0.0, 0.25, 0.5, 0.5, 0.75, 1.0, 1.0];
        assert_eq!(fpr.len(), want_fpr.len());
        for i in 0..fpr.len() {
            assert!(close(fpr[i], want_fpr[i]), "fpr[{i}] = {}", fpr[i]);
            assert!(close(tpr[i], want_tpr[i]), "tpr[{i}] = {}", tpr[i]);
        }
    }

    #[test]
    fn auc_by_hand() {
        // Trapezoids: 1/3 * 0.5 + 1/3 * (0.5 + 0.75) / 2 + 1/3 * 1 = 17/24.
        assert!(close(roc_auc_score(&Y, &P).unwrap(), 17.0 / 24.0));
        // Perfect, reversed and all-tied scores.
        assert!(close(
            roc_auc_score(&[0u8, 0, 1, 1], &[0.1, 0.2, 0.8, 0.9]).unwrap(),
            1.0
        ));
        assert!(close(
            roc_auc_score(&[0u8, 0, 1, 1], &[0.9, 0.8, 0.2, 0.1]).unwrap(),
            0.0
        ));
        assert!(close(
            roc_auc_score(&[0u8, 1, 0, 1], &[0.5; 4]).unwrap(),
            0.5
        ));
    }

    /// The Mann-Whitney statistic: P(score of positive > score of negative), ties half.
    fn mann_whitney(labels: &[u8], probs: &[f32]) -> f64 {
        let mut wins = 0.0;
        let mut pairs = 0.0;
        for (i, &li) in labels.iter().enumerate() {
            for (j, &lj) in labels.iter().enumerate() {
                if li == 1 && lj == 0 {
                    pairs += 1.0;
                    if probs[i] > probs[j] {
                        wins += 1.0;
                    } else if probs[i] == probs[j] {
                        wins += 0.5;
                    }
                }
            }
        }
        wins / pairs
    }

    #[test]
    fn auc_equals_mann_whitney_on_random_data() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for round in 0..50 {
            let n = rng.gen_range(2..200);
            let mut labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..2)).collect();
            labels[0] = 0;
            labels[1] = 1;
            // Rounded scores make many ties; label-dependent shift makes AUC differ from 0.5.
            let probs: Vec<f32> = labels
                .iter()
                .map(|&l| {
                    let s: f32 = rng.gen::<f32>() * 0.8 + 0.2 * l as f32;
                    (s * 10.0).round() / 10.0
                })
                .collect();
            let a = roc_auc_score(&labels, &probs).unwrap();
            let u = mann_whitney(&labels, &probs);
            assert!((a - u).abs() < 1e-9, "round {round}: auc {a} vs U {u}");
        }
    }

    #[test]
    fn one_class_is_an_error_for_roc() {
        let e = roc_auc_score(&[1u8, 1, 1], &[0.2, 0.5, 0.9]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("only class 1 (PNEUMONIA)"), "{msg}");
        assert!(roc_curve(&[0u8, 0], &[0.2, 0.5]).is_err());
        assert!(best_threshold(&[0u8, 0], &[0.2, 0.5]).is_err());
    }

    #[test]
    fn undefined_ratios_are_nan() {
        // All negative labels, all predicted negative: recall, precision and F1 are 0/0.
        let cm =
            ConfusionMatrix::at_threshold(&[0u8, 0, 0], &[0.1, 0.2, 0.3], Threshold::HALF).unwrap();
        assert!(cm.recall().is_nan());
        assert!(cm.precision().is_nan());
        assert!(cm.f1().is_nan());
        assert!(close(cm.specificity(), 1.0));
        assert!(close(cm.accuracy(), 1.0));
    }

    #[test]
    fn report_matches_scikit_learn() {
        // Output of sklearn.metrics.classification_report for Y and P >= 0.5.
        let want = "              precision    recall  f1-score   support\n\n      NORMAL       0.50      0.67      0.57         3\n   PNEUMONIA       0.67      0.50      0.57         4\n\n    accuracy                           0.57         7\n   macro avg       0.58      0.58      0.57         7\nweighted avg       0.60      0.57      0.57         7\n";
        let got = classification_report(&Y, &P, Threshold::HALF, ["NORMAL", "PNEUMONIA"]).unwrap();
        assert_eq!(got, want, "\n{got}");
    }

    #[test]
    fn report_notes_undefined_values() {
        let cm = ConfusionMatrix {
            tn: 3,
            fp: 0,
            fn_: 2,
            tp: 0,
        };
        let r = cm.report(["NORMAL", "PNEUMONIA"], 3);
        let line = r
            .lines()
            .find(|l| l.trim_start().starts_with("PNEUMONIA"))
            .unwrap();
        assert_eq!(
            line,
            "   PNEUMONIA      0.000     0.000     0.000         2"
        );
        assert!(
            r.contains("note: precision of PNEUMONIA is undefined"),
            "{r}"
        );
        assert!(!r.contains("recall of PNEUMONIA is undefined"), "{r}");
        // Wide class names widen the first column.
        let r = cm.report(["a very long class name", "b"], 2);
        assert!(r
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("a very long class name "));
    }

    #[test]
    fn youden_threshold_by_hand() {
        // J per threshold: 0.9: .25, 0.8: .5, 0.6: .5-1/3, 0.4: .75-2/3, 0.35: 1-2/3 = 1/3, 0.1: 0.
        assert_eq!(best_threshold(&Y, &P).unwrap().get(), 0.8);
        // Perfectly separable: the lowest positive score gives J = 1.
        assert_eq!(
            best_threshold(&[0u8, 0, 1, 1], &[0.1, 0.3, 0.6, 0.7])
                .unwrap()
                .get(),
            0.6
        );
        // Ties in J: (0.9 -> tpr .5, fpr 0), (0.5 -> tpr 1, fpr .5): J both .5, highest wins.
        assert_eq!(
            best_threshold(&[1u8, 0, 1, 0], &[0.9, 0.5, 0.5, 0.1])
                .unwrap()
                .get(),
            0.9
        );
    }

    #[test]
    fn evaluation_bundles_everything() {
        let e = Evaluation::new(&Y, &P, Threshold::HALF, ["NORMAL", "PNEUMONIA"]).unwrap();
        assert_eq!(e.confusion.tp, 2);
        assert!(close(e.roc_auc.unwrap(), 17.0 / 24.0));
        assert!(close(e.recall, 0.5));
        let text = e.to_string();
        assert!(text.contains("ROC AUC     0.7083"), "{text}");
        assert!(text.contains("weighted avg"), "{text}");
        let one = Evaluation::new(
            &[1u8, 1],
            &[0.2, 0.9],
            Threshold::HALF,
            ["NORMAL", "PNEUMONIA"],
        )
        .unwrap();
        assert!(one.roc_auc.is_none() && one.roc.is_none());
        assert!(one.to_string().contains("undefined (only one class"));
    }
}
