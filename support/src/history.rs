//! What [`fit`](crate::training::fit)(crate::training::fit) did, epoch by epoch: the [`History`] saved with a model.

use serde::{Deserialize, Serialize};

use crate::metrics::Decision;

/// JSON has no NaN or infinity: serde_json writes them as `null` (an AUC is NaN when an epoch
/// saw one class only), so read `null` back as NaN instead of refusing the whole file.
fn f32_or_nan<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(deserializer)?.unwrap_or(f32::NAN))
}

/// Metrics of one epoch, on training and validation data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochLog {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's steps (dropout and augmentation on, class weights applied).
    #[serde(deserialize_with = "f32_or_nan")]
    pub loss: f32,
    /// Training accuracy at 0.5 from the same forward passes.
    #[serde(deserialize_with = "f32_or_nan")]
    pub accuracy: f32,
    /// Training ROC AUC from the same forward passes.
    #[serde(deserialize_with = "f32_or_nan")]
    pub auc: f32,
    /// Validation loss (no dropout, no augmentation, no class weights).
    #[serde(deserialize_with = "f32_or_nan")]
    pub val_loss: f32,
    /// Validation accuracy at 0.5.
    #[serde(deserialize_with = "f32_or_nan")]
    pub val_accuracy: f32,
    /// Validation ROC AUC.
    #[serde(deserialize_with = "f32_or_nan")]
    pub val_auc: f32,
    /// Wall-clock seconds of the epoch, validation included.
    #[serde(deserialize_with = "f32_or_nan")]
    pub seconds: f32,
    /// Training images per second.
    #[serde(deserialize_with = "f32_or_nan")]
    pub images_per_second: f32,
}

impl std::fmt::Display for EpochLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {:>2}: loss {:.4} acc {:.3} auc {:.3} | val_loss {:.4} val_acc {:.3} val_auc {:.3} | {:.0} s, {:.0} img/s",
            self.epoch,
            self.loss,
            self.accuracy,
            self.auc,
            self.val_loss,
            self.val_accuracy,
            self.val_auc,
            self.seconds,
            self.images_per_second
        )
    }
}

/// What [`fit`](crate::training::fit) did, epoch by epoch (Keras's `History`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// One entry per epoch run.
    pub epochs: Vec<EpochLog>,
    /// The epoch (1-based) with the lowest validation loss.
    pub best_epoch: usize,
    /// True when early stopping ended training before the last epoch.
    pub stopped_early: bool,
    /// The decision [`fit`](crate::training::fit) chose on the validation data of the best epoch:
    /// Youden's J for two classes (0.5 by default when that split held one class), the most
    /// probable class for K. In JSON, the fields `threshold` and `threshold_source` (see
    /// [`crate::metrics::decision`]).
    #[serde(flatten)]
    pub decision: Decision,
    /// The validation labels and probabilities of the best epoch's weights.
    #[serde(default)]
    pub validation: Option<ValidationScores>,
    /// The temperature folded into the output layer after training
    /// ([`SavedModel::calibrate`](crate::saved_model::SavedModel::calibrate)); `None` when the model was not calibrated.
    #[serde(default)]
    pub temperature: Option<f32>,
    /// Which images the validation split held out, so they can be found again (see
    /// [`crate::split`]); `None` in models saved before it was recorded, and for models not
    /// trained by `fit` on a patient split.
    #[serde(default)]
    pub validation_split: Option<ValidationSplit>,
}

/// How [`fit`](crate::training::fit) drew its validation split from the training folder:
/// enough to draw the same patients again, and to tell whether the folder still holds the same
/// files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationSplit {
    /// The seed the patients were drawn with ([`FitOptions::validation_split_seed`](crate::training::FitOptions::validation_split_seed)).
    pub seed: u64,
    /// The fraction of each class's patients held out.
    pub fraction: f64,
    /// How the training folder's files were labelled.
    pub label_source: crate::dataset::LabelSource,
    /// The number of training-folder images before the split.
    pub files: usize,
    /// The fingerprint of the training folder's file names and labels (as the training
    /// checkpoints record it).
    pub files_fingerprint: String,
}

/// The labels and (uncalibrated) probabilities of the validation images of the best epoch:
/// what temperature scaling is fitted to, and the validation side of the score figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationScores {
    /// 0 or 1 per image.
    pub labels: Vec<u8>,
    /// The probability of class 1 per image, before any temperature.
    pub probs: Vec<f32>,
}

impl History {
    /// The log of the best epoch, if any.
    pub fn best(&self) -> Option<&EpochLog> {
        self.epochs.iter().find(|e| e.epoch == self.best_epoch)
    }

    /// The history as Keras's `CSVLogger` writes it: a header `epoch` then the metric names in
    /// sorted order, one row per epoch with Keras's 0-based epoch index.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("epoch,accuracy,auc,loss,val_accuracy,val_auc,val_loss\n");
        for e in &self.epochs {
            csv.push_str(&format!(
                "{},{},{},{},{},{},{}\n",
                e.epoch - 1,
                e.accuracy,
                e.auc,
                e.loss,
                e.val_accuracy,
                e.val_auc,
                e.val_loss
            ));
        }
        csv
    }

    /// The name of the epochs' AUC: the ROC AUC for two classes, the macro average of the
    /// one-vs-rest AUCs for more (told by the decision: a threshold or the most probable class).
    fn auc_name(&self) -> &'static str {
        if self.decision.threshold().is_some() {
            "ROC AUC"
        } else {
            "ROC AUC, macro average"
        }
    }

    /// The per-epoch curves for [`crate::plot::learning_curves`]: loss, accuracy, AUC.
    pub fn curves(&self) -> Vec<crate::plot::Curve> {
        let series = |f: fn(&EpochLog) -> f32| self.epochs.iter().map(f).collect::<Vec<f32>>();
        vec![
            crate::plot::Curve::new("loss", series(|e| e.loss), series(|e| e.val_loss)),
            crate::plot::Curve::new(
                "accuracy",
                series(|e| e.accuracy),
                series(|e| e.val_accuracy),
            ),
            crate::plot::Curve::new(self.auc_name(), series(|e| e.auc), series(|e| e.val_auc)),
        ]
    }

    /// The learning curves (loss, accuracy and ROC AUC per epoch, training and validation) with
    /// the best epoch and an early stop marked: Keras users plot `history.history` the same way.
    pub fn plot(&self) -> crate::Result<crate::plot::Figure> {
        crate::plot::learning_curves_with(&self.curves(), &self.epoch_marks())
    }

    /// One line per epoch as `fit` printed it, then whether early stopping ended training and
    /// which epoch was best: the run's log, also for a model trained elsewhere and loaded.
    pub fn epoch_log(&self, epochs_asked: usize) -> String {
        let mut out: String = self.epochs.iter().map(|e| format!("{e}\n")).collect();
        let ran = self.epochs.len();
        let stop = if self.stopped_early {
            format!("early stopping ended training after {ran} of {epochs_asked} epochs")
        } else {
            format!("{ran} of {epochs_asked} epochs run; early stopping did not fire")
        };
        out.push_str(&format!("{stop}; best epoch {}", self.best_epoch));
        out
    }

    /// The epochs [`crate::plot::learning_curves_with`] marks: the best epoch with its
    /// validation loss, and the last epoch when early stopping ended training.
    pub fn epoch_marks(&self) -> crate::plot::EpochMarks {
        let mut marks = crate::plot::EpochMarks::new();
        if let Some(best) = self.best() {
            marks = marks.best_epoch(best.epoch);
            if best.val_loss.is_finite() {
                marks = marks.monitor("val_loss", f64::from(best.val_loss));
            }
        }
        match self.epochs.last() {
            Some(last) if self.stopped_early => marks.stopped_at(last.epoch),
            _ => marks,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_csv_is_keras_csvlogger_shaped() {
        let log = |epoch, val_loss| EpochLog {
            epoch,
            loss: 0.5,
            accuracy: 0.75,
            auc: 0.8,
            val_loss,
            val_accuracy: 0.25,
            val_auc: f32::NAN,
            seconds: 1.0,
            images_per_second: 2.0,
        };
        let h = History {
            epochs: vec![log(1, 0.125), log(2, 0.0625)],
            ..History::default()
        };
        assert_eq!(
            h.to_csv(),
            "epoch,accuracy,auc,loss,val_accuracy,val_auc,val_loss\n\
             0,0.75,0.8,0.5,0.25,NaN,0.125\n\
             1,0.75,0.8,0.5,0.25,NaN,0.0625\n"
        );
    }
}
