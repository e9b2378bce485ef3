//! Running a trained model: probabilities for a folder ([`predict_directory`]) or for single
//! files ([`predict_files`]), and the metrics on a labelled folder ([`evaluate`]), all without
//! augmentation.

use std::path::{Path, PathBuf};

use crate::cnn::intervals::BootstrapOptions;
use crate::cnn::metrics::Evaluation;
use crate::cnn::report::EvaluationReport;
use crate::cnn::Model;
use crate::error::{Error, Result};
use crate::generator::{DirectoryIterator, FlowOptions};
use crate::preprocessing::Preprocessing;
use crate::saved_model::SavedModel;

/// A model's probabilities for every image of a folder, in file order.
#[derive(Debug)]
pub struct Predictions {
    /// Class names (label 0 and 1).
    pub class_names: Vec<String>,
    /// The files, in sorted order.
    pub files: Vec<PathBuf>,
    /// The true label of each file (its folder).
    pub labels: Vec<f32>,
    /// The predicted probability of class 1.
    pub probs: Vec<f32>,
    /// Files that could not be read, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Predicts every image under the class folders of `dir` (no augmentation, no shuffling).
pub fn predict_directory(
    model: &Model,
    dir: impl AsRef<Path>,
    preprocessing: &Preprocessing,
) -> Result<Predictions> {
    let (height, width) = (model.config().input_height(), model.config().input_width());
    let mut gen = preprocessing.generator()?.flow_from_directory(
        dir.as_ref(),
        FlowOptions::default()
            .target_size(height, width)
            .shuffle(false)
            .interpolation(preprocessing.interpolation)
            .verbose(false),
    )?;
    predict_iterator(model, &mut gen)
}

/// The model's probabilities for one epoch of `gen`, in its order, with the files it skipped.
pub(crate) fn predict_iterator(model: &Model, gen: &mut DirectoryIterator) -> Result<Predictions> {
    let mut out = Predictions {
        class_names: gen.class_names().to_vec(),
        files: Vec::with_capacity(gen.samples()),
        labels: Vec::with_capacity(gen.samples()),
        probs: Vec::with_capacity(gen.samples()),
        skipped: Vec::new(),
    };
    for batch in gen.epoch() {
        out.probs.extend(model.predict_proba(batch.x.view())?);
        out.labels.extend(batch.y.iter());
        out.files.extend(batch.files);
    }
    out.skipped = gen
        .skipped()
        .iter()
        .map(|s| (s.path.clone(), s.error.to_string()))
        .collect();
    Ok(out)
}

/// The labels as 0 and 1 (a label of 0.5 or more is 1).
pub(crate) fn labels_as_u8(labels: &[f32]) -> Vec<u8> {
    labels.iter().map(|&y| u8::from(y >= 0.5)).collect()
}

impl Predictions {
    /// Metrics at `threshold` (e.g. 0.5, or the threshold chosen on validation data).
    pub fn evaluate(&self, threshold: f32) -> Result<Evaluation> {
        let names: [&str; 2] = [
            self.class_names.first().map_or("0", String::as_str),
            self.class_names.get(1).map_or("1", String::as_str),
        ];
        Evaluation::new(&self.labels_u8(), &self.probs, threshold, names)
    }

    /// The true labels as 0 and 1.
    pub fn labels_u8(&self) -> Vec<u8> {
        labels_as_u8(&self.labels)
    }

    /// Every metric at `threshold` with its bootstrap confidence interval (DeLong's too for the
    /// ROC AUC), and the calibration: what `xray evaluate` prints.
    pub fn report(&self, threshold: f32, bootstrap: &BootstrapOptions) -> Result<EvaluationReport> {
        let names: [&str; 2] = [
            self.class_names.first().map_or("0", String::as_str),
            self.class_names.get(1).map_or("1", String::as_str),
        ];
        EvaluationReport::new(&self.labels_u8(), &self.probs, threshold, names, bootstrap)
    }

    /// The files classified wrongly at `threshold`, with their probabilities.
    pub fn misclassified(&self, threshold: f32) -> Vec<(PathBuf, f32, f32)> {
        self.files
            .iter()
            .zip(self.labels.iter().zip(&self.probs))
            .filter(|(_, (&y, &p))| (p >= threshold) != (y >= 0.5))
            .map(|(f, (&y, &p))| (f.clone(), y, p))
            .collect()
    }
}

/// The probability of class 1 for each image file (no labels needed), in the given order; a
/// file that cannot be read gets its error and the others are still predicted.
pub fn predict_files(saved: &SavedModel, files: &[PathBuf]) -> Vec<Result<f32>> {
    use rayon::prelude::*;
    let (height, width) = (
        saved.model.config().input_height(),
        saved.model.config().input_width(),
    );
    let inputs: Vec<Result<ndarray::Array2<f32>>> = files
        .par_iter()
        .map(|path| saved.preprocessing.prepare(path, (height, width)))
        .collect();
    inputs
        .into_iter()
        .map(|input| {
            let image = input?;
            let x = image
                .into_shape_with_order((1, height, width, 1))
                .map_err(|e| Error::backend("shaping the model input", e))?;
            Ok(saved.model.predict_proba(x.view())?[0])
        })
        .collect()
}

/// Evaluates a saved model on the class folders of `dir` at 0.5 and at its saved threshold.
pub fn evaluate(
    saved: &SavedModel,
    dir: impl AsRef<Path>,
) -> Result<(Predictions, Evaluation, Evaluation)> {
    let predictions = predict_directory(&saved.model, dir, &saved.preprocessing)?;
    let at_half = predictions.evaluate(0.5)?;
    let at_chosen = predictions.evaluate(saved.threshold)?;
    Ok((predictions, at_half, at_chosen))
}
