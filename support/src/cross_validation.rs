//! Patient-grouped k-fold cross-validation on the training folder: compare configurations
//! without touching the test split.
//!
//! Each fold trains a fresh model with [`fit`](crate::training::fit)'s loop on the other folds'
//! patients (early stopping on the fold itself, as `fit` does on its validation split) and
//! measures the returned weights on the held-out fold. The spread over folds is what a
//! difference between two configurations has to beat.

use std::fmt;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::dataset::{patient_folds, patients_per_class};
use crate::ensemble::Ensemble;
use crate::error::Result;
use crate::metrics::intervals::BootstrapOptions;
use crate::metrics::Threshold;
use crate::model::{Model, ModelConfig};
use crate::saved_model::SavedModel;
use crate::stress::{stress_test, AcquisitionChange, StressReport};
use crate::training::{self, FitOptions, Progress, RunSettings};

/// What one fold's model did on its held-out patients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldResult {
    /// 1-based fold number.
    pub fold: usize,
    /// Images trained on.
    pub train_images: usize,
    /// Images held out and measured.
    pub val_images: usize,
    /// Epochs run before early stopping (or the limit).
    pub epochs_run: usize,
    /// The epoch whose weights were kept.
    pub best_epoch: usize,
    /// Mean binary cross-entropy on the held-out fold.
    pub val_loss: f64,
    /// Accuracy at threshold 0.5.
    pub accuracy: f64,
    /// Sensitivity (recall of class 1) at 0.5.
    pub sensitivity: f64,
    /// Specificity (recall of class 0) at 0.5.
    pub specificity: f64,
    /// ROC AUC.
    pub roc_auc: f64,
    /// Wall-clock seconds for the fold, training and measuring.
    pub seconds: f64,
    /// With stress validation: how the fold's model held up under the acquisition changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stress: Option<FoldStress>,
}

/// The worst cases of a fold's stress validation ([`crate::stress`]) on its held-out patients,
/// at the threshold the fold's training chose.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FoldStress {
    /// The threshold every change was measured at.
    pub threshold: f64,
    /// The lowest accuracy under any change.
    pub worst_accuracy: f64,
    /// The change that gave it.
    pub worst_accuracy_change: String,
    /// The largest loss of specificity from the unchanged images under any change (0 if none).
    pub largest_specificity_loss: f64,
    /// The change that gave it.
    pub worst_specificity_change: String,
}

impl FoldStress {
    /// The worst cases of a stress report.
    pub fn of(report: &StressReport) -> FoldStress {
        let name =
            |row: Option<&crate::stress::StressRow>| row.map_or(String::new(), |r| r.name.clone());
        FoldStress {
            threshold: f64::from(report.threshold.get()),
            worst_accuracy: report
                .worst_accuracy()
                .map_or(f64::NAN, |r| r.report.metrics.accuracy.estimate),
            worst_accuracy_change: name(report.worst_accuracy()),
            largest_specificity_loss: report.largest_specificity_loss(),
            worst_specificity_change: name(report.worst_specificity()),
        }
    }
}

/// The folds of one cross-validation run and their summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Number of folds.
    pub k: usize,
    /// Seed of the fold assignment, initialisation, order, augmentation and dropout.
    pub seed: u64,
    /// Images in the training folder.
    pub images: usize,
    /// Patients in the training folder.
    pub patients: usize,
    /// One result per fold.
    pub folds: Vec<FoldResult>,
}

/// Mean and sample standard deviation (n - 1) of `values`.
pub fn mean_sd(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt())
}

impl CrossValidation {
    /// Mean and standard deviation over folds of one metric, e.g. `summary(|f| f.roc_auc)`.
    pub fn summary(&self, metric: fn(&FoldResult) -> f64) -> (f64, f64) {
        mean_sd(&self.folds.iter().map(metric).collect::<Vec<_>>())
    }

    /// Whether every fold carries its stress validation.
    fn stressed(&self) -> bool {
        !self.folds.is_empty() && self.folds.iter().all(|f| f.stress.is_some())
    }
}

/// The stress columns of the table: the worst accuracy, and the largest specificity loss.
const STRESS_COLUMNS: [Column; 2] = [
    ("worst acc", 3, |f| {
        f.stress.as_ref().map_or(f64::NAN, |s| s.worst_accuracy)
    }),
    ("spec loss", 3, |f| {
        f.stress
            .as_ref()
            .map_or(f64::NAN, |s| s.largest_specificity_loss)
    }),
];

/// A metric the table shows: name, decimals in the fold rows, and how to read it.
type Column = (&'static str, usize, fn(&FoldResult) -> f64);

/// The metrics the table shows.
const COLUMNS: [Column; 6] = [
    ("val_loss", 3, |f| f.val_loss),
    ("accuracy", 3, |f| f.accuracy),
    ("sensitivity", 3, |f| f.sensitivity),
    ("specificity", 3, |f| f.specificity),
    ("ROC AUC", 3, |f| f.roc_auc),
    ("best epoch", 0, |f| f.best_epoch as f64),
];

impl fmt::Display for CrossValidation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{}-fold cross-validation by patient (seed {}): {} images of {} patients; metrics at threshold 0.5 on each held-out fold",
            self.k, self.seed, self.images, self.patients
        )?;
        let stress: &[Column] = if self.stressed() {
            &STRESS_COLUMNS
        } else {
            &[]
        };
        let columns: Vec<&Column> = COLUMNS.iter().chain(stress).collect();
        write!(f, "{:<11}{:>7}{:>6}", "fold", "train", "val")?;
        for (name, _, _) in &columns {
            write!(f, "{name:>13}")?;
        }
        writeln!(f, "{:>9}", "seconds")?;
        for fold in &self.folds {
            write!(
                f,
                "{:<11}{:>7}{:>6}",
                fold.fold, fold.train_images, fold.val_images
            )?;
            for &&(_, decimals, metric) in &columns {
                write!(f, "{:>13.decimals$}", metric(fold))?;
            }
            writeln!(f, "{:>9.0}", fold.seconds)?;
        }
        write!(f, "{:<24}", "mean ± sd")?;
        for &&(_, _, metric) in &columns {
            let (mean, sd) = self.summary(metric);
            write!(f, "{:>13}", format!("{mean:.3}±{sd:.3}"))?;
        }
        writeln!(f)?;
        if self.stressed() {
            writeln!(
                f,
                "worst acc: the lowest accuracy under any acquisition change (support::stress) at the fold's own threshold; spec loss: the largest loss of specificity"
            )?;
        }
        Ok(())
    }
}

/// Trains and measures a fresh `config` model on each of `k` patient-grouped folds of the
/// training folder `train_dir`, with `options` (its validation fraction is not used: each fold
/// is the validation data; checkpoints are not written).
pub fn cross_validate(
    config: &ModelConfig,
    train_dir: impl AsRef<Path>,
    k: usize,
    options: &FitOptions,
    progress: &mut dyn Progress,
) -> Result<CrossValidation> {
    cross_validate_stressed(config, train_dir, k, options, &[], progress)
}

/// [`cross_validate`], and each fold's model also measured on its held-out patients under each
/// of `changes` ([`crate::stress::stress_test`] at the threshold the fold's training chose),
/// its worst cases kept in [`FoldResult::stress`]. No changes: no stress validation.
pub fn cross_validate_stressed(
    config: &ModelConfig,
    train_dir: impl AsRef<Path>,
    k: usize,
    options: &FitOptions,
    changes: &[AcquisitionChange],
    progress: &mut dyn Progress,
) -> Result<CrossValidation> {
    changes.iter().try_for_each(AcquisitionChange::validate)?;
    config.check_memory(options.batch_size)?;
    if config.classes() != 2 {
        return Err(crate::error::Error::invalid(
            "cross_validate",
            format!("a {}-class model", config.classes()),
            "a two-class model (fold metrics of K classes are not implemented)",
        ));
    }
    let scan = training::training_scan(train_dir.as_ref(), options, 2)?;
    let folds = patient_folds(&scan, k, options.seed)?;
    let options = options.to_builder().no_checkpoints().build()?;
    let settings = RunSettings::new(config, &options, &scan);
    let mut results = Vec::with_capacity(k);
    for (index, (train, val)) in folds.iter().enumerate() {
        progress.fold(index + 1, k);
        let start = Instant::now();
        let mut model = Model::new(config.clone(), options.seed)?;
        let history = training::fit_split(&mut model, train, val, &options, &settings, progress)?;
        let predictions = training::predict_scan(&model, val, &options.preprocessing(), &options)?;
        let evaluation = predictions.evaluate(crate::metrics::Threshold::HALF)?;
        let (epochs_run, best_epoch) = (history.epochs.len(), history.best_epoch);
        let val_loss = history.best().map_or(f64::NAN, |e| f64::from(e.val_loss));
        let stress = if changes.is_empty() {
            None
        } else {
            let saved = SavedModel::from_fit(model, history, &options)?;
            let threshold = saved.decision.threshold().unwrap_or(Threshold::HALF);
            let ensemble = Ensemble::new(vec![saved])?;
            // Only the point estimates are kept: a few resamples suffice.
            let bootstrap = BootstrapOptions::new(100, 0.95, options.seed)?;
            let report = stress_test(&ensemble, val, changes, threshold, &bootstrap, options.seed)?;
            Some(FoldStress::of(&report))
        };
        results.push(FoldResult {
            fold: index + 1,
            train_images: train.files.len(),
            val_images: val.files.len(),
            epochs_run,
            best_epoch,
            val_loss,
            accuracy: evaluation.accuracy,
            sensitivity: evaluation.recall,
            specificity: evaluation.specificity,
            roc_auc: evaluation.roc_auc.unwrap_or(f64::NAN),
            seconds: start.elapsed().as_secs_f64(),
            stress,
        });
    }
    Ok(CrossValidation {
        k,
        seed: options.seed,
        images: scan.files.len(),
        patients: patients_per_class(&scan).iter().sum(),
        folds: results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_and_sample_sd_by_hand() {
        let (m, s) = mean_sd(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(m, 2.5);
        assert!((s - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(mean_sd(&[7.0]), (7.0, 0.0));
    }
}
