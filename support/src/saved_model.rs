//! A trained model on disk.
//!
//! A model folder holds `model.safetensors` (the weights) and `model.json` beside it: the
//! architecture, input size, class names, [`Decision`] (a two-class model's threshold and where
//! it came from, as the fields `threshold` and `threshold_source`; see
//! [`crate::metrics::decision`]) and preprocessing, so that prediction needs nothing else. A
//! threshold that is not a probability in [0, 1] is refused on load, naming the file and the
//! value, before any weights are read. Both are written to a temporary file and renamed. (The
//! checkpoints training leaves to resume from are [`ResumeCheckpoint`](crate::training::ResumeCheckpoint)s.)

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::LabelSource;
use crate::error::{Error, Result};
use crate::files::{model_error, read_json, write_atomic, FORMAT, FORMAT_1};
use crate::history::History;
use crate::metrics::calibration::{apply_temperature, fit_temperature};
use crate::metrics::{Decision, Threshold};
use crate::model::{Model, ModelConfig};
use crate::preprocessing::Preprocessing;
use crate::training::options::FitOptions;

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
    #[serde(flatten)]
    decision: Decision,
    preprocessing: Preprocessing,
    /// Absent in files written before three-class models: the folders.
    #[serde(default, skip_serializing_if = "is_folder")]
    label_source: LabelSource,
    history: Option<History>,
}

fn is_folder(source: &LabelSource) -> bool {
    *source == LabelSource::Folder
}

/// A trained model with what prediction needs: class names, decision, preprocessing.
#[derive(Debug, Clone)]
pub struct SavedModel {
    /// The network and its weights.
    pub model: Model,
    /// Class names in label order, e.g. NORMAL and PNEUMONIA, or NORMAL, PNEUMONIA_BACTERIA
    /// and PNEUMONIA_VIRUS.
    pub class_names: Vec<String>,
    /// How the model picks a class: a threshold on the probability of class 1 for two classes
    /// (chosen on validation data by `fit`), [`Decision::Argmax`] for K classes. Saving and
    /// loading refuse a decision that does not fit the number of classes.
    pub decision: Decision,
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
    /// The model [`fit`](crate::training::fit) trained with `options`, ready to save (Keras's
    /// `model.save()` after `fit`): the class names fit gave the model, the decision fit chose
    /// on validation data (the history's), the preprocessing and label source the options
    /// trained with, and the history (which holds the best epoch's validation scores). Refused
    /// for a model that no `fit` has given class names.
    pub fn from_fit(model: Model, history: History, options: &FitOptions) -> Result<SavedModel> {
        let class_names = model
            .class_names()
            .ok_or_else(|| {
                Error::invalid(
                    "model",
                    "a model without class names",
                    "a model training::fit has trained (it names the classes)",
                )
            })?
            .to_vec();
        Ok(
            SavedModel::from_parts(model, history, class_names, options.preprocessing())
                .labelled_by(options.label_source()),
        )
    }

    /// A saved model from its parts: `model` with `class_names`, the history's decision (0.5
    /// for a two-class model whose history has none) and `preprocessing`, labelled by folder.
    pub(crate) fn from_parts(
        mut model: Model,
        history: History,
        class_names: Vec<String>,
        preprocessing: Preprocessing,
    ) -> SavedModel {
        // A history that gives a two-class model no threshold (not one fit writes): 0.5.
        let decision = history
            .decision
            .for_classes(model.config().classes())
            .unwrap_or_default();
        // Names of another count than the model's classes stay out of the model (`save`
        // writes them, and `load` refuses them).
        let _ = model.set_class_names(class_names.clone());
        SavedModel {
            class_names,
            decision,
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
    /// them (the same decisions, the same ROC AUC) and keeps its source. Returns `T`, which the
    /// history records. Refused without validation scores in the history.
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
        if let Decision::Threshold { value, .. } = &mut self.decision {
            // The threshold is on the old temperature's scale: sigmoid(logit(value) * old / t).
            *value = Threshold::new(apply_temperature(&[value.get()], t / old)?[0])?;
        }
        history.temperature = Some(t);
        Ok(t)
    }

    /// The temperature folded into the model's output layer by [`SavedModel::calibrate`], if any.
    pub fn temperature(&self) -> Option<f32> {
        self.history.as_ref().and_then(|h| h.temperature)
    }

    /// Writes `model.safetensors` and `model.json` into `dir` (created if missing), atomically.
    /// Refused before writing anything when the decision does not fit the number of classes
    /// ([`Decision::Argmax`] for a two-class model).
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        let decision = self.decision.for_classes(self.model.config().classes())?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        self.model.save_safetensors(dir.join(WEIGHTS_FILE))?;
        let card = ModelCard {
            format: FORMAT.into(),
            config: self.model.config().clone(),
            class_names: self.class_names.clone(),
            decision,
            preprocessing: self.preprocessing,
            label_source: self.label_source,
            history: self.history.clone(),
        };
        let json = serde_json::to_vec_pretty(&card)
            .map_err(|e| model_error(dir.join(CONFIG_FILE), format!("cannot encode: {e}")))?;
        write_atomic(&dir.join(CONFIG_FILE), &json)
    }

    /// Reads a model folder written by [`SavedModel::save`], checking the weights against the
    /// description. The description is checked first (a threshold outside [0, 1], a two-class
    /// model without one: an [`Error::Model`] naming `model.json`); a K-class model's decision
    /// is [`Decision::Argmax`] whatever threshold its file holds.
    pub fn load(dir: impl AsRef<Path>) -> Result<SavedModel> {
        let dir = dir.as_ref();
        if !dir.is_dir() {
            return Err(Error::MissingDir {
                path: dir.to_path_buf(),
                expected: format!("a model folder holding {WEIGHTS_FILE} and {CONFIG_FILE}"),
            });
        }
        let card: ModelCard = read_json(&dir.join(CONFIG_FILE))?;
        if card.format != FORMAT && card.format != FORMAT_1 {
            return Err(model_error(
                dir.join(CONFIG_FILE),
                format!(
                    "format '{}', expected '{FORMAT}' or '{FORMAT_1}'",
                    card.format
                ),
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
        let classes = card.config.classes();
        let for_model = |decision: Decision| {
            decision
                .for_classes(classes)
                .map_err(|e| model_error(dir.join(CONFIG_FILE), e.to_string()))
        };
        let decision = for_model(card.decision)?;
        let mut history = card.history;
        if let Some(h) = history.as_mut() {
            h.decision = for_model(h.decision)?;
        }
        let mut model = Model::load_safetensors(dir.join(WEIGHTS_FILE), card.config)?;
        model.set_class_names(card.class_names.clone())?;
        Ok(SavedModel {
            model,
            class_names: card.class_names,
            decision,
            preprocessing: card.preprocessing,
            label_source: card.label_source,
            history,
        })
    }
}

/// Where the shipped model lives in the repository, from its root.
pub const SHIPPED_MODEL: &str = "models/pretrained";

/// The shipped model's folder (the default configuration trained on the development copy):
/// `$XRAY_MODEL` when set (and then only it), else `models/pretrained` under the current
/// folder, else under the repository this crate was built from. `None` when the folder looked
/// at holds no model.
pub fn shipped_model_dir() -> Option<PathBuf> {
    let holds_model = |dir: &PathBuf| dir.join(CONFIG_FILE).is_file();
    if let Some(dir) = std::env::var_os("XRAY_MODEL") {
        return Some(PathBuf::from(dir)).filter(holds_model);
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(SHIPPED_MODEL);
    [PathBuf::from(SHIPPED_MODEL), built_from]
        .into_iter()
        .find(holds_model)
}

fn no_validation_scores() -> Error {
    Error::NoValidationScores
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::ThresholdSource;

    /// An untrained model of `classes` classes with `decision`, and its history's.
    fn saved(classes: usize, decision: Decision) -> SavedModel {
        let config = ModelConfig::builder()
            .input_size(12, 12)
            .conv_filters(&[2])
            .dense_units(2)
            .classes(classes)
            .build()
            .unwrap();
        let names = ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"];
        SavedModel {
            model: Model::new(config, 1).unwrap(),
            class_names: names[..classes].iter().map(|s| s.to_string()).collect(),
            decision,
            preprocessing: crate::training::FitOptions::default().preprocessing(),
            label_source: LabelSource::Folder,
            history: Some(History {
                decision,
                ..History::default()
            }),
        }
    }

    /// `model.json` in `dir`, edited by `edit`.
    fn edit_card(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
        let path = dir.join(CONFIG_FILE);
        let mut card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        edit(&mut card);
        std::fs::write(&path, serde_json::to_vec(&card).unwrap()).unwrap();
    }

    #[test]
    fn the_decision_round_trips_through_model_json() {
        let dir = tempfile::tempdir().unwrap();
        for source in [
            ThresholdSource::Validation,
            ThresholdSource::User,
            ThresholdSource::Default,
        ] {
            let decision = Decision::Threshold {
                value: Threshold::new(0.375).unwrap(),
                source,
            };
            saved(2, decision).save(dir.path()).unwrap();
            let card: serde_json::Value =
                serde_json::from_slice(&std::fs::read(dir.path().join(CONFIG_FILE)).unwrap())
                    .unwrap();
            // Still a readable number beside its source, in the model and in its history.
            assert_eq!(card["threshold"], serde_json::json!(0.375));
            assert_eq!(
                card["threshold_source"],
                serde_json::json!(source.to_string())
            );
            assert_eq!(card["history"]["threshold"], serde_json::json!(0.375));
            let loaded = SavedModel::load(dir.path()).unwrap();
            assert_eq!(loaded.decision, decision);
            assert_eq!(loaded.history.unwrap().decision, decision);
        }
    }

    #[test]
    fn k_class_models_carry_argmax() {
        let dir = tempfile::tempdir().unwrap();
        saved(3, Decision::Argmax).save(dir.path()).unwrap();
        let loaded = SavedModel::load(dir.path()).unwrap();
        assert_eq!(loaded.decision, Decision::Argmax);
        assert_eq!(loaded.history.unwrap().decision, Decision::Argmax);
        // A threshold given to a K-class model is not one it can use: saved as argmax.
        let mut odd = saved(3, Decision::default());
        odd.history = None;
        odd.save(dir.path()).unwrap();
        assert_eq!(
            SavedModel::load(dir.path()).unwrap().decision,
            Decision::Argmax
        );
        // A two-class model without a threshold is refused before anything is written.
        let none = tempfile::tempdir().unwrap();
        let target = none.path().join("model");
        assert!(saved(2, Decision::Argmax).save(&target).is_err());
        assert!(!target.exists());
    }

    #[test]
    fn model_json_of_the_first_format_version_still_loads() {
        // What `xray-model/1` files written before decisions had a source hold: the threshold
        // source as a sentence, none in the history, 0.5 (unused) for K-class models, and the
        // learning rate in the configuration.
        let legacy = |dir: &Path| {
            edit_card(dir, |card| {
                card["format"] = serde_json::json!(FORMAT_1);
                card["config"]["learning_rate"] = serde_json::json!(3e-4);
                card["threshold_source"] =
                    serde_json::json!("Youden's J on the validation split of the best epoch");
                let history = card["history"].as_object_mut().unwrap();
                history.remove("threshold_source");
            })
        };
        let dir = tempfile::tempdir().unwrap();
        let chosen = Decision::validation(Threshold::new(0.25).unwrap());
        saved(2, chosen).save(dir.path()).unwrap();
        legacy(dir.path());
        let loaded = SavedModel::load(dir.path()).unwrap();
        assert_eq!(
            (loaded.decision, loaded.history.unwrap().decision),
            (chosen, chosen)
        );
        saved(3, Decision::Argmax).save(dir.path()).unwrap();
        legacy(dir.path());
        let card: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(CONFIG_FILE)).unwrap()).unwrap();
        assert_eq!(card["threshold"], serde_json::json!(0.5));
        let loaded = SavedModel::load(dir.path()).unwrap();
        assert_eq!(loaded.decision, Decision::Argmax);
        assert_eq!(loaded.history.unwrap().decision, Decision::Argmax);
        // Saved again, it is written in today's format, without the rate.
        loaded_again_in_todays_format(dir.path());
    }

    fn loaded_again_in_todays_format(dir: &Path) {
        let loaded = SavedModel::load(dir).unwrap();
        let out = tempfile::tempdir().unwrap();
        loaded.save(out.path()).unwrap();
        let text = std::fs::read_to_string(out.path().join(CONFIG_FILE)).unwrap();
        assert!(
            text.contains(FORMAT) && !text.contains("learning_rate"),
            "{text}"
        );
        assert_eq!(
            SavedModel::load(out.path()).unwrap().model.config(),
            loaded.model.config()
        );
    }
}
