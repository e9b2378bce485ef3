//! [`EvaluationReport`]: everything a reviewer asks of a binary classifier's test results in one
//! serialisable value: counts, the confusion matrix, metrics with bootstrap confidence
//! intervals, the ROC AUC with DeLong's interval too, the Brier score, the ECE and the
//! reliability bins, and optionally one record per image.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::binary::{BinaryLabel, ConfusionMatrix};
use super::calibration::{
    brier_score, ece_from_bins, reliability_bins, ReliabilityBin, DEFAULT_BINS,
};
use super::decision::Threshold;
use super::intervals::{
    bootstrap_intervals, delong, f64_or_nan, BootstrapIntervals, BootstrapOptions, Interval,
};
use crate::error::{Error, Result};

/// One evaluated image: its file name, true label and predicted probability of class 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// File name (or path) of the image.
    pub file: String,
    /// True label: 0 (NORMAL) or 1 (PNEUMONIA).
    pub label: u8,
    /// Predicted probability of class 1.
    pub probability: f32,
}

/// A binary classifier's results on one data set at one threshold, with uncertainty.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationReport {
    /// Names of class 0 and class 1.
    pub class_names: [String; 2],
    /// Number of images evaluated.
    pub images: u64,
    /// Number of images of class 0 and of class 1.
    pub class_counts: [u64; 2],
    /// The threshold: predicted class 1 when `probability >= threshold`.
    pub threshold: Threshold,
    /// Outcome counts at the threshold.
    pub confusion: ConfusionMatrix,
    /// The bootstrap's settings.
    pub bootstrap: BootstrapOptions,
    /// Accuracy, sensitivity, specificity, precision, F1 and ROC AUC with bootstrap intervals.
    pub metrics: BootstrapIntervals,
    /// ROC AUC with DeLong's normal-approximation interval (`NaN` with fewer than 2 images of a class).
    pub roc_auc_delong: Interval,
    /// Brier score: mean squared error of the probabilities.
    #[serde(deserialize_with = "f64_or_nan")]
    pub brier_score: f64,
    /// Expected calibration error over [`calibration_bins`](Self::calibration_bins).
    #[serde(deserialize_with = "f64_or_nan")]
    pub ece: f64,
    /// Reliability-diagram bins (equal width over [0, 1]).
    pub calibration_bins: Vec<ReliabilityBin>,
    /// One record per image, when attached with [`with_images`](Self::with_images).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_image: Vec<ImageRecord>,
}

impl EvaluationReport {
    /// Evaluates probabilities against labels at `threshold`, with [`DEFAULT_BINS`] calibration bins.
    ///
    /// Probabilities must lie in [0, 1]. Metrics undefined on these data (e.g. sensitivity
    /// without positives) are `NaN`; so is DeLong's interval with fewer than two images of a class.
    pub fn new<L: BinaryLabel>(
        labels: &[L],
        probs: &[f32],
        threshold: Threshold,
        class_names: [&str; 2],
        options: &BootstrapOptions,
    ) -> Result<Self> {
        let confusion = ConfusionMatrix::at_threshold(labels, probs, threshold)?;
        let metrics = bootstrap_intervals(labels, probs, threshold, options)?;
        let calibration_bins = reliability_bins(labels, probs, DEFAULT_BINS)?;
        let roc_auc_delong = match delong(labels, probs) {
            Ok(d) => d.interval(options.confidence())?,
            Err(_) => Interval::UNDEFINED,
        };
        Ok(EvaluationReport {
            class_names: class_names.map(str::to_string),
            images: confusion.total(),
            class_counts: [confusion.negatives(), confusion.positives()],
            threshold,
            confusion,
            bootstrap: *options,
            metrics,
            roc_auc_delong,
            brier_score: brier_score(labels, probs)?,
            ece: ece_from_bins(&calibration_bins),
            calibration_bins,
            per_image: Vec::new(),
        })
    }

    /// Attaches one record per image, checking there are as many as images of each class.
    pub fn with_images(mut self, records: Vec<ImageRecord>) -> Result<Self> {
        let positives = records.iter().filter(|r| r.label == 1).count() as u64;
        let negatives = records.iter().filter(|r| r.label == 0).count() as u64;
        if [negatives, positives] != self.class_counts || records.len() as u64 != self.images {
            return Err(Error::invalid(
                "records",
                format!(
                    "{} records ({negatives} of class 0, {positives} of class 1)",
                    records.len()
                ),
                format!(
                    "one record per evaluated image ({} of class 0, {} of class 1)",
                    self.class_counts[0], self.class_counts[1]
                ),
            ));
        }
        self.per_image = records;
        Ok(self)
    }
}

/// A confidence level as a percentage without trailing zeros: 0.95 -> "95", 0.999 -> "99.9".
fn percent(confidence: f64) -> String {
    let s = format!("{:.4}", confidence * 100.0);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `0.931` with 3 decimals, or `undefined` for `NaN`.
fn value(v: f64) -> String {
    if v.is_nan() {
        "undefined".to_string()
    } else {
        format!("{v:.3}")
    }
}

/// `[0.911, 0.950]`, or empty when the interval is undefined.
fn range(i: &Interval) -> String {
    if i.low.is_nan() || i.high.is_nan() {
        String::new()
    } else {
        format!("[{:.3}, {:.3}]", i.low, i.high)
    }
}

impl fmt::Display for EvaluationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [n0, n1] = &self.class_names;
        let c = &self.confusion;
        writeln!(
            f,
            "at threshold {:.3}: {} images ({} {n0}, {} {n1})",
            self.threshold, self.images, self.class_counts[0], self.class_counts[1]
        )?;
        writeln!(
            f,
            "confusion: tn {}  fp {}  fn {}  tp {}",
            c.tn, c.fp, c.fn_, c.tp
        )?;
        writeln!(
            f,
            "{:<13} {:<7} {}% CI (stratified bootstrap, {} resamples)",
            "metric",
            "value",
            percent(self.bootstrap.confidence()),
            self.bootstrap.resamples()
        )?;
        let m = &self.metrics;
        for (name, i) in [
            ("accuracy", &m.accuracy),
            ("sensitivity", &m.sensitivity),
            ("specificity", &m.specificity),
            ("precision", &m.precision),
            ("F1", &m.f1),
        ] {
            writeln!(f, "{name:<13} {:<7} {}", value(i.estimate), range(i))?;
        }
        let delong = range(&self.roc_auc_delong);
        let delong = if delong.is_empty() {
            delong
        } else {
            format!("  DeLong {delong}")
        };
        writeln!(
            f,
            "{:<13} {:<7} {}{delong}",
            "ROC AUC",
            value(m.roc_auc.estimate),
            range(&m.roc_auc)
        )?;
        writeln!(f, "{:<13} {}", "Brier score", value(self.brier_score))?;
        write!(
            f,
            "{:<13} {}",
            format!("ECE ({} bins)", self.calibration_bins.len()),
            value(self.ece)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// 234 negatives and 390 positives (the test split's counts) with overlapping scores.
    fn test_split() -> (Vec<u8>, Vec<f32>) {
        let mut rng = StdRng::seed_from_u64(3);
        let mut labels = vec![0u8; 234];
        labels.extend(vec![1u8; 390]);
        let probs = labels
            .iter()
            .map(|&l| {
                let z = rng.gen_range(-3.0f32..2.0) + 2.5 * f32::from(l);
                crate::metrics::loss::sigmoid(z)
            })
            .collect();
        (labels, probs)
    }

    fn report() -> EvaluationReport {
        let (labels, probs) = test_split();
        let options = BootstrapOptions::new(500, 0.95, 1).unwrap();
        EvaluationReport::new(
            &labels,
            &probs,
            Threshold::HALF,
            ["NORMAL", "PNEUMONIA"],
            &options,
        )
        .unwrap()
    }

    #[test]
    fn report_holds_the_figures() {
        let r = report();
        assert_eq!((r.images, r.class_counts), (624, [234, 390]));
        assert_eq!(r.confusion.total(), 624);
        assert_eq!(r.calibration_bins.len(), DEFAULT_BINS);
        assert_eq!(r.calibration_bins.iter().map(|b| b.count).sum::<u64>(), 624);
        assert!(r.roc_auc_delong.contains(r.metrics.roc_auc.estimate));
        // The same statistic, summed in another order.
        assert!((r.roc_auc_delong.estimate - r.metrics.roc_auc.estimate).abs() < 1e-12);
        assert!(
            r.brier_score > 0.0 && r.brier_score < 0.25,
            "{}",
            r.brier_score
        );
    }

    #[test]
    fn display_prints_the_table() {
        let r = report();
        let text = r.to_string();
        let m = &r.metrics;
        for want in [
            "at threshold 0.500: 624 images (234 NORMAL, 390 PNEUMONIA)".to_string(),
            "95% CI (stratified bootstrap, 500 resamples)".to_string(),
            format!(
                "tn {}  fp {}  fn {}  tp {}",
                r.confusion.tn, r.confusion.fp, r.confusion.fn_, r.confusion.tp
            ),
            format!(
                "accuracy      {:.3}   [{:.3}, {:.3}]",
                m.accuracy.estimate, m.accuracy.low, m.accuracy.high
            ),
            format!(
                "F1            {:.3}   [{:.3}, {:.3}]",
                m.f1.estimate, m.f1.low, m.f1.high
            ),
            format!(
                "DeLong [{:.3}, {:.3}]",
                r.roc_auc_delong.low, r.roc_auc_delong.high
            ),
            format!(
                "ROC AUC       {:.3}   [{:.3}, {:.3}]",
                m.roc_auc.estimate, m.roc_auc.low, m.roc_auc.high
            ),
            format!("Brier score   {:.3}", r.brier_score),
            format!("ECE (10 bins) {:.3}", r.ece),
        ] {
            assert!(text.contains(&want), "missing {want:?} in\n{text}");
        }
        for name in ["sensitivity", "specificity", "precision"] {
            assert!(
                text.lines().any(|l| l.starts_with(name)),
                "{name} in\n{text}"
            );
        }
    }

    #[test]
    fn json_round_trips_with_nan() {
        let (labels, probs) = test_split();
        let files = (0..labels.len()).map(|i| format!("img-{i}.jpeg"));
        let records = files
            .zip(&labels)
            .zip(&probs)
            .map(|((file, &label), &probability)| ImageRecord {
                file,
                label,
                probability,
            })
            .collect();
        let r = report().with_images(records).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        let back: EvaluationReport = serde_json::from_str(&json).unwrap();
        // Compared without assert_eq!, whose message would print all 624 records.
        assert!(back == r, "JSON changed the report");
        assert!(json.contains(r#""fn":"#) && json.contains("img-623.jpeg"));
        // One class only: NaN metrics serialise as null and come back as NaN.
        let opts = BootstrapOptions::new(50, 0.9, 2).unwrap();
        let one = EvaluationReport::new(
            &[1u8, 1, 1],
            &[0.2, 0.7, 0.9],
            Threshold::HALF,
            ["N", "P"],
            &opts,
        )
        .unwrap();
        assert!(one.metrics.specificity.estimate.is_nan() && one.roc_auc_delong.low.is_nan());
        let json = serde_json::to_string(&one).unwrap();
        assert!(
            json.contains("null") && !json.contains("per_image"),
            "{json}"
        );
        let back: EvaluationReport = serde_json::from_str(&json).unwrap();
        assert!(back.metrics.specificity.estimate.is_nan());
        assert_eq!(back.metrics.sensitivity, one.metrics.sensitivity);
        let text = one.to_string();
        assert!(text.contains("specificity   undefined"), "{text}");
        assert!(text.contains("90% CI"), "{text}");
    }

    #[test]
    fn records_must_match_the_images() {
        let r = report();
        let record = ImageRecord {
            file: "a.jpeg".into(),
            label: 1,
            probability: 0.9,
        };
        let e = r.with_images(vec![record]).unwrap_err();
        assert!(
            matches!(
                e,
                Error::InvalidArgument {
                    name: "records",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn bad_inputs_are_errors() {
        let opts = BootstrapOptions::default();
        assert!(
            EvaluationReport::new(&[0u8, 1], &[0.2, 1.5], Threshold::HALF, ["N", "P"], &opts)
                .is_err()
        );
        assert!(EvaluationReport::new::<u8>(&[], &[], Threshold::HALF, ["N", "P"], &opts).is_err());
    }

    #[test]
    fn an_evaluation_at_a_threshold_outside_zero_to_one_cannot_be_made() {
        // At 1.7 every image would be predicted class 0: the threshold is refused where it is
        // made, so no report can be asked for at it, nor read back holding it.
        let e = Threshold::new(1.7).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidArgument { name: "threshold", value, .. } if value == "1.7"),
            "{e}"
        );
        let mut json = serde_json::to_value(report()).unwrap();
        json["threshold"] = serde_json::json!(1.7);
        let e = serde_json::from_value::<EvaluationReport>(json).unwrap_err();
        assert!(e.to_string().contains("invalid threshold = 1.7"), "{e}");
    }

    #[test]
    fn percent_is_tidy() {
        assert_eq!(percent(0.95), "95");
        assert_eq!(percent(0.999), "99.9");
        assert_eq!(percent(0.5), "50");
    }
}
