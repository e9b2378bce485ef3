//! What makes a training run resumable: the [`RunSettings`] every checkpoint records, and the
//! check that a resumed run asks for the same.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::options::{ClassWeight, FitOptions, LrSchedule};
use crate::dataset::ClassScan;
use crate::error::{Error, Result};
use crate::saved_model::Preprocessing;

/// Everything that defines a training run's trajectory, recorded in every checkpoint: a resume
/// with other settings would train or validate on something else (another split, other
/// augmentation), so it is refused, naming the setting. The number of epochs and the patience
/// may change on resume (training on for longer); with a cosine schedule the epochs shape the
/// learning rate and are recorded too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The model's configuration.
    pub model: crate::cnn::ModelConfig,
    /// Seed of the split, batch order, augmentation and dropout.
    pub seed: u64,
    /// Fraction of patients held out for validation.
    pub validation_split: f64,
    /// Loss weights per class.
    pub class_weight: ClassWeight,
    /// Images per step.
    pub batch_size: usize,
    /// Batches per epoch, if capped.
    pub steps_per_epoch: Option<usize>,
    /// The learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// The epochs a cosine schedule spans (`None` for a constant rate).
    pub schedule_epochs: Option<usize>,
    /// The moving average's momentum, if any.
    pub ema_momentum: Option<f32>,
    /// The augmentation ranges, as text.
    pub augmentation: String,
    /// How files become model inputs.
    pub preprocessing: Preprocessing,
    /// Number of training-folder images (before the validation split).
    pub files: usize,
    /// FNV-1a 64-bit hash of the training folder's `class/file name` list and labels.
    pub files_fingerprint: String,
}

impl RunSettings {
    /// The settings of training `config` with `options` on the files of `scan`.
    pub fn new(config: &crate::cnn::ModelConfig, options: &FitOptions, scan: &ClassScan) -> Self {
        RunSettings {
            model: config.clone(),
            seed: options.seed,
            validation_split: options.validation_split,
            class_weight: options.class_weight,
            batch_size: options.batch_size,
            steps_per_epoch: options.steps_per_epoch,
            lr_schedule: options.lr_schedule,
            schedule_epochs: (options.lr_schedule != LrSchedule::Constant)
                .then_some(options.epochs),
            ema_momentum: options.ema_momentum,
            augmentation: format!("{:?}", options.augmentation.augment_params()),
            preprocessing: options.preprocessing(),
            files: scan.files.len(),
            files_fingerprint: files_fingerprint(scan),
        }
    }

    /// `Ok` when `requested` continues the run these settings describe; otherwise an
    /// [`Error::ResumeMismatch`] naming the first setting that differs.
    pub fn check_resume(&self, requested: &RunSettings, checkpoint: &Path) -> Result<()> {
        let as_map = |s: &RunSettings| match serde_json::to_value(s) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let (saved, wanted) = (as_map(self), as_map(requested));
        for (key, value) in &saved {
            let other = wanted.get(key).unwrap_or(&serde_json::Value::Null);
            if value != other {
                return Err(Error::ResumeMismatch {
                    path: checkpoint.to_path_buf(),
                    setting: key.clone(),
                    saved: value.to_string(),
                    requested: other.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// The training file list's fingerprint: class folder and file name of each file with its label,
/// so the same data moved to another folder still matches.
fn files_fingerprint(scan: &ClassScan) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (file, label) in scan.files.iter().zip(&scan.labels) {
        let tail: Vec<String> = file
            .iter()
            .rev()
            .take(2)
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        for byte in format!(
            "{label}\t{}/{}\n",
            tail.get(1).map_or("", String::as_str),
            tail.first().map_or("", String::as_str)
        )
        .bytes()
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
