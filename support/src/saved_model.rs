//! A trained model on disk, and the checkpoints training leaves behind.
//!
//! A model folder holds `model.safetensors` (the weights) and `model.json` beside it: the
//! architecture, input size, class names, decision threshold and preprocessing, so that
//! prediction needs nothing else. A checkpoint folder holds one `epoch-NNNN.safetensors` with the
//! weights and the optimizer state, `best-epoch-NNNN.safetensors` with the best weights so far
//! (named by their epoch), and `checkpoint.json`, written last, that names them and records the
//! run's settings. Every file is written to a temporary file
//! and renamed, so a crash at any moment leaves the previous checkpoint whole and loadable.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cnn::calibration::{apply_temperature, fit_temperature};
use crate::cnn::{Model, ModelConfig};
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::resize::Interpolation;
use crate::training::{FitOptions, History, RunSettings};

const FORMAT: &str = "xray-model/1";
/// File name of the weights in a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the description in a model folder.
pub const CONFIG_FILE: &str = "model.json";
const CHECKPOINT_FILE: &str = "checkpoint.json";

/// How an image file becomes the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Factor applied to 0-255 grey pixels (1/255 gives [0, 1]).
    pub rescale: f32,
    /// How files are resized to the input size.
    pub interpolation: Interpolation,
    /// Subtract each image's mean (Keras's `samplewise_center`).
    #[serde(default)]
    pub samplewise_center: bool,
    /// Divide each image by its standard deviation (Keras's `samplewise_std_normalization`).
    #[serde(default)]
    pub samplewise_std_normalization: bool,
    /// Equalize each image's histogram first (see [`ImageDataGeneratorBuilder::equalize_histogram`](crate::generator::ImageDataGeneratorBuilder::equalize_histogram)).
    #[serde(default)]
    pub equalize_histogram: bool,
}

impl Preprocessing {
    /// A generator that prepares images exactly this way, without augmentation.
    pub fn generator(&self) -> Result<crate::generator::ImageDataGenerator> {
        crate::generator::ImageDataGenerator::builder()
            .rescale(self.rescale)
            .samplewise_center(self.samplewise_center)
            .samplewise_std_normalization(self.samplewise_std_normalization)
            .equalize_histogram(self.equalize_histogram)
            .build()
    }

    /// One image file as a model of input size `(height, width)` reads it: grey, resized,
    /// then scaled and standardised as in training.
    pub fn prepare(
        &self,
        path: impl AsRef<Path>,
        (height, width): (usize, usize),
    ) -> Result<ndarray::Array2<f32>> {
        let generator = self.generator()?;
        let grey = crate::imread::imread(path)?;
        let small = crate::resize::resize_with(grey.view(), (height, width), self.interpolation)?;
        let mut x = small.mapv(f32::from);
        generator.standardize(&mut x);
        Ok(x)
    }
}

/// The description saved beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ModelCard {
    format: String,
    config: ModelConfig,
    class_names: Vec<String>,
    threshold: f32,
    threshold_source: String,
    preprocessing: Preprocessing,
    history: Option<History>,
}

/// A trained model with what prediction needs: class names, threshold, preprocessing.
#[derive(Debug, Clone)]
pub struct SavedModel {
    /// The network and its weights.
    pub model: Model,
    /// Class names for label 0 and 1, e.g. NORMAL and PNEUMONIA.
    pub class_names: Vec<String>,
    /// Decision threshold on the probability of class 1 (chosen on validation data).
    pub threshold: f32,
    /// How images are prepared for the model.
    pub preprocessing: Preprocessing,
    /// The training history, when the model was trained by `fit` (with the validation scores
    /// of the best epoch, and the temperature if the model was calibrated).
    pub history: Option<History>,
}

impl SavedModel {
    /// The model [`fit`](crate::training::fit) trained with `options`, ready to save: class
    /// names, the validation-chosen threshold, the preprocessing and the history (which holds
    /// the best epoch's validation scores).
    pub fn from_fit(
        model: Model,
        history: History,
        class_names: Vec<String>,
        options: &FitOptions,
    ) -> SavedModel {
        SavedModel {
            class_names,
            threshold: history.threshold,
            preprocessing: options.preprocessing(),
            history: Some(history),
            model,
        }
    }

    /// Temperature scaling (Guo et al., ICML 2017): fits a temperature `T` to the best epoch's
    /// validation scores and divides the output layer's weights and bias by it, so the model's
    /// probabilities are `sigmoid(logit / T)` everywhere from now on; the threshold moves with
    /// them (the same decisions, the same ROC AUC). Returns `T`, which the history records.
    /// Refused without validation scores in the history.
    pub fn calibrate(&mut self) -> Result<f32> {
        let history = self.history.as_mut().ok_or_else(no_validation_scores)?;
        let scores = history
            .validation
            .as_ref()
            .ok_or_else(no_validation_scores)?;
        let t = fit_temperature(&scores.labels, &scores.probs)?;
        // A model calibrated before carries its old temperature in the weights: undo it too.
        let old = history.temperature.unwrap_or(1.0);
        self.model.scale_logits(old / t);
        self.threshold = apply_temperature(&[history.threshold], t)?[0];
        history.temperature = Some(t);
        Ok(t)
    }

    /// The temperature folded into the model's output layer by [`SavedModel::calibrate`], if any.
    pub fn temperature(&self) -> Option<f32> {
        self.history.as_ref().and_then(|h| h.temperature)
    }

    /// Writes `model.safetensors` and `model.json` into `dir` (created if missing), atomically.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.model.save_safetensors(dir.join(WEIGHTS_FILE))?;
        let card = ModelCard {
            format: FORMAT.into(),
            config: self.model.config().clone(),
            class_names: self.class_names.clone(),
            threshold: self.threshold,
            threshold_source: "Youden's J on the validation split of the best epoch".into(),
            preprocessing: self.preprocessing,
            history: self.history.clone(),
        };
        let json = serde_json::to_vec_pretty(&card)
            .map_err(|e| model_error(dir.join(CONFIG_FILE), format!("cannot encode: {e}")))?;
        write_atomic(&dir.join(CONFIG_FILE), &json)
    }

    /// Reads a model folder written by [`SavedModel::save`], checking the weights against the description.
    pub fn load(dir: impl AsRef<Path>) -> Result<SavedModel> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::MissingDir {
                path: dir.to_path_buf(),
                expected: format!("a model folder holding {WEIGHTS_FILE} and {CONFIG_FILE}"),
            });
        }
        let card: ModelCard = read_json(&dir.join(CONFIG_FILE))?;
        if card.format != FORMAT {
            return Err(model_error(
                dir.join(CONFIG_FILE),
                format!("format '{}', expected '{FORMAT}'", card.format),
            ));
        }
        if card.class_names.len() != 2 {
            return Err(model_error(
                dir.join(CONFIG_FILE),
                format!("{} class names, expected 2", card.class_names.len()),
            ));
        }
        let model = Model::load_safetensors(dir.join(WEIGHTS_FILE), card.config)?;
        Ok(SavedModel {
            model,
            class_names: card.class_names,
            threshold: card.threshold,
            preprocessing: card.preprocessing,
            history: card.history,
        })
    }
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

/// The state training left after its last finished epoch.
#[derive(Debug)]
pub struct Checkpoint {
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

impl Checkpoint {
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
    /// [`Checkpoint::settings`] against the run it wants to continue
    /// ([`RunSettings::check_resume`]).
    pub fn load_if_present(dir: &Path) -> Result<Option<Checkpoint>> {
        let card_path = dir.join(CHECKPOINT_FILE);
        if !card_path.exists() {
            return Ok(None);
        }
        let card: CheckpointCard = read_json(&card_path)?;
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
        Ok(Some(Checkpoint {
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

fn no_validation_scores() -> Error {
    Error::NoValidationScores
}

fn model_error(path: PathBuf, reason: String) -> Error {
    Error::Model { path, reason }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        model_error(
            path.to_path_buf(),
            format!("unreadable description (truncated or edited?): {e}"),
        )
    })
}
