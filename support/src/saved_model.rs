//! A trained model on disk.
//!
//! A model folder holds `model.safetensors` (the weights) and `model.json` beside it: the
//! architecture, input size, class names, decision threshold and preprocessing, so that
//! prediction needs nothing else. Both are written to a temporary file and renamed. (The
//! checkpoints training leaves to resume from are [`ResumeCheckpoint`](crate::training::ResumeCheckpoint)s.)

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::LabelSource;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::history::History;
use crate::metrics::calibration::{apply_temperature, fit_temperature};
use crate::model::{Model, ModelConfig};
use crate::preprocessing::Preprocessing;

/// The format name both a model's and a checkpoint's description record.
pub(crate) const FORMAT: &str = "xray-model/1";
/// File name of the weights in a model folder.
pub const WEIGHTS_FILE: &str = "model.safetensors";
/// File name of the description in a model folder.
pub const CONFIG_FILE: &str = "model.json";

/// The description saved beside the weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct ModelCard {
    format: String,
    config: ModelConfig,
    class_names: Vec<String>,
    threshold: f32,
    threshold_source: String,
    preprocessing: Preprocessing,
    /// Absent in files written before three-class models: the folders.
    #[serde(default, skip_serializing_if = "is_folder")]
    label_source: LabelSource,
    history: Option<History>,
}

fn is_folder(source: &LabelSource) -> bool {
    *source == LabelSource::Folder
}

/// A trained model with what prediction needs: class names, threshold, preprocessing.
#[derive(Debug, Clone)]
pub struct SavedModel {
    /// The network and its weights.
    pub model: Model,
    /// Class names in label order, e.g. NORMAL and PNEUMONIA, or NORMAL, PNEUMONIA_BACTERIA
    /// and PNEUMONIA_VIRUS.
    pub class_names: Vec<String>,
    /// Decision threshold on the probability of class 1 (chosen on validation data; two-class
    /// models only: a K-class model predicts its most probable class).
    pub threshold: f32,
    /// How images are prepared for the model.
    pub preprocessing: Preprocessing,
    /// Where an image's class comes from (folder, or file name too): how `evaluate` labels a
    /// test folder for this model.
    pub label_source: LabelSource,
    /// The training history, when the model was trained by `fit` (with the validation scores
    /// of the best epoch, and the temperature if the model was calibrated).
    pub history: Option<History>,
}

impl SavedModel {
    /// The model [`fit`](crate::training::fit) trained, ready to save: class names, the
    /// validation-chosen threshold, the preprocessing it was trained with (from
    /// [`FitOptions::preprocessing`](crate::training::FitOptions::preprocessing)) and the history
    /// (which holds the best epoch's validation scores).
    pub fn from_fit(
        mut model: Model,
        history: History,
        class_names: Vec<String>,
        preprocessing: Preprocessing,
    ) -> SavedModel {
        // Names of another count than the model's classes stay out of the model (`save`
        // writes them, and `load` refuses them).
        let _ = model.set_class_names(class_names.clone());
        SavedModel {
            class_names,
            threshold: history.threshold,
            preprocessing,
            label_source: LabelSource::Folder,
            history: Some(history),
            model,
        }
    }

    /// The same model, recording that its classes come from `source` (a model trained with
    /// [`FitOptions::label_source`](crate::training::FitOptions::label_source) set to
    /// [`LabelSource::FileName`] must say so, or `evaluate` reads the test folder's two classes).
    pub fn labelled_by(mut self, source: LabelSource) -> SavedModel {
        self.label_source = source;
        self
    }

    /// Temperature scaling (Guo et al., ICML 2017): fits a temperature `T` to the best epoch's
    /// validation scores and divides the output layer's weights and bias by it, so the model's
    /// probabilities are `sigmoid(logit / T)` everywhere from now on; the threshold moves with
    /// them (the same decisions, the same ROC AUC). Returns `T`, which the history records.
    /// Refused without validation scores in the history.
    pub fn calibrate(&mut self) -> Result<f32> {
        if self.model.config().classes() != 2 {
            return Err(Error::invalid(
                "calibrate",
                format!("a {}-class model", self.model.config().classes()),
                "a two-class model (temperature scaling of a softmax is not implemented)",
            ));
        }
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
            label_source: self.label_source,
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
        if card.class_names.len() != card.config.classes() {
            return Err(model_error(
                dir.join(CONFIG_FILE),
                format!(
                    "{} class names for a {}-class model",
                    card.class_names.len(),
                    card.config.classes()
                ),
            ));
        }
        let history = card.history;
        let mut model = Model::load_safetensors(dir.join(WEIGHTS_FILE), card.config)?;
        model.set_class_names(card.class_names.clone())?;
        Ok(SavedModel {
            model,
            class_names: card.class_names,
            threshold: card.threshold,
            preprocessing: card.preprocessing,
            label_source: card.label_source,
            history,
        })
    }
}

fn no_validation_scores() -> Error {
    Error::NoValidationScores
}

/// An [`Error::Model`] for the description or weights at `path`.
pub(crate) fn model_error(path: PathBuf, reason: String) -> Error {
    Error::Model { path, reason }
}

/// Reads a JSON description, naming the file when it is missing, truncated or edited.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        model_error(
            path.to_path_buf(),
            format!("unreadable description (truncated or edited?): {e}"),
        )
    })
}
