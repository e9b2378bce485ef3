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
    #[serde(default)]
    validation: Option<ValidationScores>,
    #[serde(default)]
    temperature: Option<f32>,
}

/// The labels and (uncalibrated) probabilities of the validation images the model was chosen
/// on: what temperature scaling is fitted to, and the validation side of the score figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ValidationScores {
    /// 0 or 1 per image.
    pub labels: Vec<u8>,
    /// The model's probability of class 1 per image, before any temperature.
    pub probs: Vec<f32>,
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
    /// The training history, when the model was trained by `fit`.
    pub history: Option<History>,
    /// The validation split's scores, when the model was trained by `fit`.
    pub validation: Option<ValidationScores>,
    /// Temperature that calibrates the probabilities (fitted on the validation split), if any.
    pub temperature: Option<f32>,
}

impl SavedModel {
    /// The model [`fit`](crate::training::fit) trained on `train_dir` with `options`, ready to
    /// save: class names, the validation-chosen threshold, the preprocessing, the history, and
    /// the scores of the validation split `fit` held out (predicted again with these weights).
    pub fn from_fit(
        model: Model,
        history: History,
        train_dir: impl AsRef<Path>,
        options: &FitOptions,
    ) -> Result<SavedModel> {
        let val = crate::training::predict_validation(&model, train_dir, options)?;
        Ok(SavedModel {
            class_names: val.class_names.clone(),
            threshold: history.threshold,
            preprocessing: options.preprocessing(),
            validation: Some(ValidationScores {
                labels: val.labels.iter().map(|&y| u8::from(y >= 0.5)).collect(),
                probs: val.probs,
            }),
            temperature: None,
            history: Some(history),
            model,
        })
    }

    /// Fits a temperature to the validation scores (Guo et al., ICML 2017), applies it to the
    /// model's probabilities from now on and moves the threshold with it (the same decisions);
    /// returns the temperature. Refused without validation scores.
    pub fn calibrate(&mut self) -> Result<f32> {
        let scores = self.validation.as_ref().ok_or_else(|| {
            Error::Training("no validation scores to fit a temperature to (train with fit)".into())
        })?;
        let t = fit_temperature(&scores.labels, &scores.probs)?;
        let raw_threshold = match self.temperature {
            Some(old) => apply_temperature(&[self.threshold], 1.0 / old)?[0],
            None => self.threshold,
        };
        self.threshold = apply_temperature(&[raw_threshold], t)?[0];
        self.temperature = Some(t);
        Ok(t)
    }

    /// The model's probabilities with its temperature applied (unchanged without one).
    pub fn calibrated(&self, probs: &[f32]) -> Result<Vec<f32>> {
        match self.temperature {
            Some(t) => apply_temperature(probs, t),
            None => Ok(probs.to_vec()),
        }
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
            validation: self.validation.clone(),
            temperature: self.temperature,
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
            validation: card.validation,
            temperature: card.temperature,
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
