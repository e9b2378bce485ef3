//! Resuming training: the [`ResumeCheckpoint`] [`fit`](super::fit) saves after every epoch,
//! and the [`RunSettings`] it records, which a resumed run must ask for again.
//!
//! A checkpoint folder holds one `epoch-NNNN.safetensors` with the weights and the optimizer
//! state, `best-epoch-NNNN.safetensors` with the best weights so far (named by their epoch), and
//! `checkpoint.json`, written last, that names them and records the run's settings. Every file
//! is written to a temporary file and renamed, so a crash at any moment leaves the previous
//! checkpoint whole and loadable.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::options::{ClassWeight, FitOptions, LrSchedule};
use crate::dataset::{ClassScan, LabelSource};
use crate::error::{Error, Result, SettingChange};
use crate::files::write_atomic;
use crate::files::{model_error, read_json, FORMAT};
use crate::history::History;
use crate::model::Model;
use crate::preprocessing::Preprocessing;
use crate::split::files_fingerprint;

const CHECKPOINT_FILE: &str = "checkpoint.json";

/// Everything that defines a training run's trajectory, recorded in every checkpoint: a resume
/// with other settings would train or validate on something else (another split, other
/// augmentation, other labels), so it is refused, naming every setting that differs. The number of epochs and the patience
/// may change on resume (training on for longer); with a cosine schedule the epochs shape the
/// learning rate and are recorded too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunSettings {
    /// The model's configuration.
    pub model: crate::model::ModelConfig,
    /// Seed of the split, batch order, augmentation and dropout.
    pub seed: u64,
    /// Seed of the validation split when it is not `seed` (absent in older checkpoints).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_seed: Option<u64>,
    /// Fraction of patients held out for validation.
    pub validation_split: f64,
    /// Loss weights per class.
    pub class_weight: ClassWeight,
    /// Images per step.
    pub batch_size: usize,
    /// Batches per epoch, if capped.
    pub steps_per_epoch: Option<usize>,
    /// Adam's learning rate at the first step. Checkpoints of format `xray-model/1` recorded
    /// it in the model's configuration; loading moves it here.
    pub learning_rate: f32,
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
    /// Where each image's class comes from. Absent in checkpoints written before it was
    /// recorded, which read as folder labels: a run that used file-name labels then still fails
    /// to resume, on the model's classes and the file fingerprint those labels changed.
    #[serde(default)]
    pub label_source: LabelSource,
    /// Number of training-folder images (before the validation split).
    pub files: usize,
    /// FNV-1a 64-bit hash of the training folder's `class/file name` list and labels.
    pub files_fingerprint: String,
}

impl RunSettings {
    /// The settings of training `config` with `options` on the files of `scan`.
    pub fn new(config: &crate::model::ModelConfig, options: &FitOptions, scan: &ClassScan) -> Self {
        RunSettings {
            model: config.clone(),
            seed: options.seed,
            split_seed: options.split_seed.filter(|&s| s != options.seed),
            validation_split: options.validation_split,
            class_weight: options.class_weight,
            batch_size: options.batch_size,
            steps_per_epoch: options.steps_per_epoch,
            learning_rate: options.learning_rate,
            lr_schedule: options.lr_schedule,
            schedule_epochs: (options.lr_schedule != LrSchedule::Constant)
                .then_some(options.epochs),
            ema_momentum: options.ema_momentum,
            augmentation: format!("{:?}", options.augmentation.augment_params()),
            preprocessing: options.preprocessing(),
            label_source: options.label_source,
            files: scan.files.len(),
            files_fingerprint: files_fingerprint(scan),
        }
    }

    /// `Ok` when `requested` continues the run these settings describe; otherwise an
    /// [`Error::ResumeMismatch`] listing every setting that differs, old value and new.
    pub fn check_resume(&self, requested: &RunSettings, checkpoint: &Path) -> Result<()> {
        let as_json = |s: &RunSettings| serde_json::to_value(s).unwrap_or(Value::Null);
        let mut changes = Vec::new();
        differences("", &as_json(self), &as_json(requested), &mut changes);
        if changes.is_empty() {
            Ok(())
        } else {
            Err(Error::ResumeMismatch {
                path: checkpoint.to_path_buf(),
                changes,
            })
        }
    }
}

/// Appends to `out` every leaf where `saved` and `requested` differ, named by its dotted path
/// below `path`: a changed layer reads `model.layers.3.config.filters 8 -> 16`, not the whole
/// model. Lists of different lengths differ as a whole.
fn differences(path: &str, saved: &Value, requested: &Value, out: &mut Vec<SettingChange>) {
    let below = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    match (saved, requested) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let (x, y) = (a.get(key), b.get(key));
                let null = &Value::Null;
                differences(&below(key), x.unwrap_or(null), y.unwrap_or(null), out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                differences(&below(&i.to_string()), x, y, out);
            }
        }
        _ if saved != requested => out.push(SettingChange {
            setting: path.to_string(),
            saved: saved.to_string(),
            requested: requested.to_string(),
        }),
        _ => {}
    }
}

/// A `checkpoint.json` of format `xray-model/1` recorded the learning rate inside the model's
/// configuration, which holds the architecture only since `xray-model/2`: the rate moves to the
/// run's settings, where a resume compares it with the training options'. Cards of the current
/// format pass unchanged.
fn migrate_card(mut json: Value, path: &Path) -> Result<CheckpointCard> {
    if let Some(settings) = json.get_mut("settings").and_then(Value::as_object_mut) {
        let legacy = settings
            .get_mut("model")
            .and_then(Value::as_object_mut)
            .and_then(|model| model.remove("learning_rate"));
        if let Some(rate) = legacy {
            settings.entry("learning_rate").or_insert(rate);
        }
    }
    serde_json::from_value(json).map_err(|e| {
        model_error(
            path.to_path_buf(),
            format!("unreadable description (truncated or edited?): {e}"),
        )
    })
}

/// What `checkpoint.json` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointCard {
    format: String,
    /// Missing in checkpoints of earlier versions, which cannot be checked and are refused.
    #[serde(default)]
    settings: Option<RunSettings>,
    class_names: Vec<String>,
    weights: String,
    best: Option<String>,
    history: History,
}

/// The state training left after its last finished epoch, to resume from (a checkpoint
/// folder: `epoch-NNNN.safetensors` with the weights and optimizer state,
/// `best-epoch-NNNN.safetensors` with the best weights so far, and `checkpoint.json` naming them).
#[derive(Debug)]
pub struct ResumeCheckpoint {
    /// The model after the last epoch, optimizer state included.
    pub model: Model,
    /// The weights of the best epoch so far (the epoch `history.best_epoch`).
    pub best: Option<Model>,
    /// The history up to the last epoch.
    pub history: History,
    /// Class names of the training folder.
    pub class_names: Vec<String>,
    /// The settings of the run that wrote it; a resume must ask for the same.
    pub settings: RunSettings,
}

/// The file name of the best weights when epoch `epoch` is the best: each best epoch gets its
/// own file, so the description always names weights that match its `best_epoch`.
fn best_file(epoch: usize) -> String {
    format!("best-epoch-{epoch:04}.safetensors")
}

impl ResumeCheckpoint {
    /// Saves the state after an epoch into `dir`: the weights (and, when the best epoch is new,
    /// its weights) first, then the description that names them, then the files the previous
    /// description named are removed. A kill at any moment leaves a description whose files
    /// are all there and match it.
    pub fn save(
        dir: &Path,
        model: &Model,
        best: Option<&Model>,
        history: &History,
        settings: &RunSettings,
        class_names: &[String],
    ) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let previous: Option<CheckpointCard> = read_json(&dir.join(CHECKPOINT_FILE)).ok();
        let weights = format!("epoch-{:04}.safetensors", history.epochs.len());
        model.save_training_state(dir.join(&weights))?;
        let best_name = best.map(|_| best_file(history.best_epoch));
        if let (Some(best), Some(name)) = (best, &best_name) {
            let unchanged = previous.as_ref().and_then(|p| p.best.as_ref()) == Some(name)
                && dir.join(name).is_file();
            if !unchanged {
                best.save_safetensors(dir.join(name))?;
            }
        }
        let card = CheckpointCard {
            format: FORMAT.into(),
            settings: Some(settings.clone()),
            class_names: class_names.to_vec(),
            weights: weights.clone(),
            best: best_name.clone(),
            history: history.clone(),
        };
        let json = serde_json::to_vec_pretty(&card)
            .map_err(|e| model_error(dir.join(CHECKPOINT_FILE), format!("cannot encode: {e}")))?;
        write_atomic(&dir.join(CHECKPOINT_FILE), &json)?;
        // Only once the new description is in place are the old files unreferenced.
        if let Some(old) = previous {
            if old.weights != weights {
                let _ = std::fs::remove_file(dir.join(old.weights));
            }
            if let Some(old_best) = old.best.filter(|b| Some(b) != best_name.as_ref()) {
                let _ = std::fs::remove_file(dir.join(old_best));
            }
        }
        Ok(())
    }

    /// Loads the checkpoint in `dir`, or `None` when there is none. The caller checks its
    /// [`ResumeCheckpoint::settings`] against the run it wants to continue
    /// ([`RunSettings::check_resume`]).
    pub fn load_if_present(dir: &Path) -> Result<Option<ResumeCheckpoint>> {
        let card_path = dir.join(CHECKPOINT_FILE);
        if !card_path.exists() {
            return Ok(None);
        }
        let card: CheckpointCard =
            read_json::<Value>(&card_path).and_then(|json| migrate_card(json, &card_path))?;
        let settings = card.settings.ok_or_else(|| {
            model_error(
                card_path.clone(),
                "written by an earlier version that did not record its settings; start over with --overwrite".into(),
            )
        })?;
        let config = settings.model.clone();
        let model = Model::load_training_state(dir.join(&card.weights), config.clone())?;
        let best = match &card.best {
            Some(name) if *name != best_file(card.history.best_epoch) => {
                return Err(model_error(
                    card_path,
                    format!(
                        "names best weights {name}, but its history's best epoch is {}",
                        card.history.best_epoch
                    ),
                ))
            }
            Some(name) => Some(Model::load_safetensors(dir.join(name), config)?),
            None => None,
        };
        Ok(Some(ResumeCheckpoint {
            model,
            best,
            history: card.history,
            class_names: card.class_names,
            settings,
        }))
    }

    /// The path of the description file in a checkpoint folder.
    pub fn card_path(dir: &Path) -> PathBuf {
        dir.join(CHECKPOINT_FILE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;

    fn settings(options: &FitOptions) -> RunSettings {
        let scan = ClassScan {
            class_names: vec!["NORMAL".into(), "PNEUMONIA".into()],
            files: vec!["NORMAL/a.jpeg".into(), "PNEUMONIA/b.jpeg".into()],
            labels: vec![0, 1],
        };
        RunSettings::new(&ModelConfig::default(), options, &scan)
    }

    #[test]
    fn every_changed_setting_is_listed_and_old_checkpoints_read_as_folder_labels() {
        let saved = settings(&FitOptions::builder().seed(5).epochs(3).build().unwrap());
        let requested = settings(
            &FitOptions::builder()
                .seed(6)
                .epochs(4)
                .label_source(LabelSource::FileName)
                .build()
                .unwrap(),
        );
        let err = saved
            .check_resume(&requested, Path::new("checkpoint.json"))
            .unwrap_err();
        let Error::ResumeMismatch { changes, .. } = &err else {
            panic!("expected a resume mismatch, got {err}");
        };
        let listed: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            listed,
            [
                r#"label_source "folder" -> "file-name""#,
                "schedule_epochs 3 -> 4",
                "seed 5 -> 6"
            ]
        );
        assert!(err.to_string().contains("seed 5 -> 6"), "{err}");
        // A checkpoint written before the label source was recorded.
        let mut old = serde_json::to_value(&saved).unwrap();
        old.as_object_mut().unwrap().remove("label_source");
        let old: RunSettings = serde_json::from_value(old).unwrap();
        assert_eq!(old.label_source, LabelSource::Folder);
        assert!(old.check_resume(&saved, Path::new("c")).is_ok());
    }

    #[test]
    fn a_format_1_checkpoint_moves_its_learning_rate_from_the_model_to_the_settings() {
        let today = settings(&FitOptions::builder().learning_rate(3e-4).build().unwrap());
        let card = CheckpointCard {
            format: "xray-model/1".into(),
            settings: Some(today.clone()),
            class_names: vec!["NORMAL".into(), "PNEUMONIA".into()],
            weights: "epoch-0001.safetensors".into(),
            best: None,
            history: History::default(),
        };
        let mut old = serde_json::to_value(&card).unwrap();
        let settings_json = old["settings"].as_object_mut().unwrap();
        let rate = settings_json.remove("learning_rate").unwrap();
        settings_json.get_mut("model").unwrap()["learning_rate"] = rate;
        let migrated = migrate_card(old, Path::new("checkpoint.json")).unwrap();
        let migrated = migrated.settings.unwrap();
        assert_eq!(migrated.learning_rate, 3e-4);
        assert!(migrated.check_resume(&today, Path::new("c")).is_ok());
        // A resume at another rate is refused, naming it.
        let other = settings(&FitOptions::default());
        let err = migrated.check_resume(&other, Path::new("c")).unwrap_err();
        assert!(err.to_string().contains("learning_rate"), "{err}");
    }
}
