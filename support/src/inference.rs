//! Running a trained model: probabilities for a folder ([`predict_directory`]) or for single
//! files ([`predict_files`]), and the metrics on a labelled folder ([`evaluate`]), without
//! augmentation or averaged over test-time augmentations ([`predict_directory_tta`],
//! [`predict_files_classes_tta`]); [`Predictions::average`] also averages the members of an
//! ensemble. Two-class models give the probability of class 1 per image; K-class models one
//! probability per class ([`Predictions::class_probs`]), with the K-class metrics and the
//! two-class views of them ([`Predictions::two_class_view`]).

use std::path::{Path, PathBuf};

use crate::metrics::intervals::BootstrapOptions;
use ndarray::Array2;

use crate::augment::{test_time_transforms, Transform};
use crate::dataset::{scan_classes, scan_for_model, ClassScan, LabelSource};
use crate::error::{Error, Result};
use crate::generator::{ClassMode, DirectoryIterator, FlowOptions};
use crate::metrics::multiclass::{self, MulticlassConfusion, MulticlassReport};
use crate::metrics::report::EvaluationReport;
use crate::metrics::subgroups::SubgroupReport;
use crate::metrics::{Evaluation, Threshold};
use crate::model::Model;
use crate::preprocessing::Preprocessing;
use crate::saved_model::SavedModel;

/// A model's probabilities for every image of a folder, in file order.
#[derive(Debug, Clone)]
pub struct Predictions {
    /// Class names, in label order (label 0 and 1 for two classes).
    pub class_names: Vec<String>,
    /// The files, in sorted order.
    pub files: Vec<PathBuf>,
    /// The true class index of each file (from its folder, or its file name), as a float.
    pub labels: Vec<f32>,
    /// The predicted probability of class 1 (two-class models; empty for K classes).
    pub probs: Vec<f32>,
    /// The probability of every class, one row per file (for two classes `1 - p` and `p`).
    pub class_probs: Array2<f32>,
    /// Files that could not be read, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// The classes of a model trained with labels from file names on this dataset's folders.
pub const THREE_CLASSES: [&str; 3] = ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"];

/// A three-class model seen as two two-class ones (see [`Predictions::pneumonia_views`]).
#[derive(Debug, Clone)]
pub struct PneumoniaViews {
    /// NORMAL (0) against PNEUMONIA (1) on every image, scored `p(bacteria) + p(virus)`.
    pub pneumonia_vs_normal: Predictions,
    /// VIRUS (0) against BACTERIA (1) among the pneumonia images, scored
    /// `p(bacteria) / (p(bacteria) + p(virus))` (Kermany et al. 2018 report this task).
    pub bacteria_vs_virus: Predictions,
}

/// Predicts every image under the class folders of `dir` (no augmentation, no shuffling).
pub fn predict_directory(
    model: &Model,
    dir: impl AsRef<Path>,
    preprocessing: &Preprocessing,
) -> Result<Predictions> {
    predict_directory_labelled(model, dir, preprocessing, LabelSource::Folder)
}

/// [`predict_directory`] with the classes read as `labels` says: from the file names too for a
/// three-class model (NORMAL, PNEUMONIA_BACTERIA, PNEUMONIA_VIRUS).
pub(crate) fn predict_directory_labelled(
    model: &Model,
    dir: impl AsRef<Path>,
    preprocessing: &Preprocessing,
    labels: LabelSource,
) -> Result<Predictions> {
    predict_directory_tta(model, dir, preprocessing, labels, 1)
}

/// [`predict_directory_labelled`] with test-time augmentation: every image is predicted under
/// the first `tta` transforms of [`test_time_transforms`] (the identity, then mild shifts, zooms
/// and brightness changes) and the probabilities are averaged; `tta` 1 is plain prediction.
///
/// A model that knows its classes ([`Model::class_names`]: trained by `fit`, or loaded) reads
/// the folder by their names ([`scan_for_model`]): a folder of other classes is refused. One
/// that does not (only built) reads the folder's classes in their sorted order.
pub(crate) fn predict_directory_tta(
    model: &Model,
    dir: impl AsRef<Path>,
    preprocessing: &Preprocessing,
    labels: LabelSource,
    tta: usize,
) -> Result<Predictions> {
    let dir = dir.as_ref();
    let scan = match model.class_names() {
        Some(classes) => scan_for_model(dir, classes, labels)?,
        None => {
            let scan = scan_classes(dir, None, false)?.labelled_by(labels)?;
            if scan.class_names.len() != model.config().classes() {
                return Err(Error::ClassCount {
                    path: dir.to_path_buf(),
                    classes: scan.class_names,
                    expected: model.config().classes(),
                });
            }
            scan
        }
    };
    predict_scan(model, &scan, preprocessing, tta)
}

/// The model's probabilities for the files of `scan` (a folder's, or a held-out validation
/// split's), prepared with `preprocessing`, averaged over `tta` test-time transforms as in
/// [`predict_directory_tta`] (`tta` 1: no augmentation).
pub(crate) fn predict_scan(
    model: &Model,
    scan: &ClassScan,
    preprocessing: &Preprocessing,
    tta: usize,
) -> Result<Predictions> {
    let (height, width) = (model.config().input_height(), model.config().input_width());
    let transforms = test_time_transforms(tta, (height, width))?;
    let mut gen = preprocessing.generator()?.flow_from_files(
        scan.files.clone(),
        scan.labels.clone(),
        scan.class_names.clone(),
        FlowOptions::default()
            .target_size(height, width)
            .shuffle(false)
            .class_mode(ClassMode::Sparse)
            .interpolation(preprocessing.interpolation)
            // Each transform reads one epoch: decode every file once, not once per transform.
            .cache_in_memory(tta > 1)
            .fixed_transforms(transforms)
            .verbose(false),
    )?;
    let passes: Vec<Predictions> = (0..tta)
        .map(|_| predict_iterator(model, &mut gen))
        .collect::<Result<_>>()?;
    Predictions::average(&passes)
}

/// The model's probabilities for one epoch of `gen`, in its order, with the files it skipped.
pub(crate) fn predict_iterator(model: &Model, gen: &mut DirectoryIterator) -> Result<Predictions> {
    let k = model.config().classes();
    let mut out = Predictions {
        class_names: gen.class_names().to_vec(),
        files: Vec::with_capacity(gen.samples()),
        labels: Vec::with_capacity(gen.samples()),
        probs: Vec::with_capacity(gen.samples()),
        class_probs: Array2::zeros((0, k)),
        skipped: Vec::new(),
    };
    let mut rows: Vec<f32> = Vec::with_capacity(gen.samples() * k);
    for batch in gen.epoch() {
        let p = model.predict(batch.x.view())?;
        if k == 2 {
            for &p1 in p.column(0) {
                out.probs.push(p1);
                rows.extend([1.0 - p1, p1]);
            }
        } else {
            rows.extend(p.iter());
        }
        out.labels.extend(batch.y.iter());
        out.files.extend(batch.files);
    }
    out.class_probs = Array2::from_shape_vec((out.files.len(), k), rows)
        .map_err(|e| Error::backend("shaping predictions", e))?;
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
    /// The mean of several sets of predictions for the same images (test-time augmentation
    /// passes, or the members of an ensemble), matched by file: the class probabilities of
    /// each file are averaged over the sets. A file missing from any set (unreadable for one
    /// member) is left out and listed in `skipped`. Refused: no sets, different class names, or
    /// one file given different labels.
    pub fn average(sets: &[Predictions]) -> Result<Predictions> {
        let first = sets
            .first()
            .ok_or_else(|| Error::invalid("predictions to average", 0, "at least one set"))?;
        if let Some(other) = sets.iter().find(|p| p.class_names != first.class_names) {
            return Err(Error::invalid(
                "predictions to average",
                format!(
                    "classes {} and {}",
                    first.class_names.join(", "),
                    other.class_names.join(", ")
                ),
                "the same classes in every set",
            ));
        }
        let rows: Vec<std::collections::HashMap<&Path, usize>> = sets
            .iter()
            .map(|p| {
                p.files
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.as_path(), i))
                    .collect()
            })
            .collect();
        let k = first.class_probs.ncols();
        let mut out = Predictions {
            class_names: first.class_names.clone(),
            files: Vec::with_capacity(first.files.len()),
            labels: Vec::with_capacity(first.files.len()),
            probs: Vec::new(),
            class_probs: Array2::zeros((0, k)),
            skipped: first.skipped.clone(),
        };
        let mut means: Vec<f32> = Vec::with_capacity(first.files.len() * k);
        for (file, &label) in first.files.iter().zip(&first.labels) {
            let found: Option<Vec<usize>> = rows
                .iter()
                .map(|r| r.get(file.as_path()).copied())
                .collect();
            let Some(found) = found else {
                out.skipped
                    .push((file.clone(), "not predicted by every model or pass".into()));
                continue;
            };
            if let Some((set, _)) = sets.iter().zip(&found).find(|(p, &i)| p.labels[i] != label) {
                return Err(Error::invalid(
                    "predictions to average",
                    format!(
                        "{} labelled {label} and {}",
                        file.display(),
                        set.labels[found[0]]
                    ),
                    "the same label for a file in every set",
                ));
            }
            let n = sets.len() as f32;
            if first.is_binary() {
                let p = sets
                    .iter()
                    .zip(&found)
                    .map(|(set, &i)| set.probs[i])
                    .sum::<f32>()
                    / n;
                out.probs.push(p);
                means.extend([1.0 - p, p]);
            } else {
                for c in 0..k {
                    means.push(
                        sets.iter()
                            .zip(&found)
                            .map(|(set, &i)| set.class_probs[[i, c]])
                            .sum::<f32>()
                            / n,
                    );
                }
            }
            out.files.push(file.clone());
            out.labels.push(label);
        }
        for set in &sets[1..] {
            for (file, reason) in &set.skipped {
                if !out.skipped.iter().any(|(f, _)| f == file) {
                    out.skipped.push((file.clone(), reason.clone()));
                }
            }
        }
        out.class_probs = Array2::from_shape_vec((out.files.len(), k), means)
            .map_err(|e| Error::backend("shaping predictions", e))?;
        Ok(out)
    }

    /// Two-class predictions from labels (0 or 1) and probabilities of class 1, e.g. scores
    /// computed elsewhere, to use this type's metrics and figures on them.
    pub fn binary(
        class_names: [&str; 2],
        files: Vec<PathBuf>,
        labels: Vec<f32>,
        probs: Vec<f32>,
    ) -> Result<Predictions> {
        if files.len() != labels.len() || labels.len() != probs.len() {
            return Err(Error::invalid(
                "predictions",
                format!(
                    "{} files, {} labels, {} probabilities",
                    files.len(),
                    labels.len(),
                    probs.len()
                ),
                "as many of each",
            ));
        }
        let rows: Vec<f32> = probs.iter().flat_map(|&p| [1.0 - p, p]).collect();
        Ok(Predictions {
            class_names: class_names.iter().map(|n| n.to_string()).collect(),
            class_probs: Array2::from_shape_vec((files.len(), 2), rows)
                .map_err(|e| Error::backend("shaping predictions", e))?,
            files,
            labels,
            probs,
            skipped: Vec::new(),
        })
    }

    /// True when the model had two classes (a probability of class 1 per image in `probs`).
    pub fn is_binary(&self) -> bool {
        self.class_probs.ncols() == 2
    }

    /// The true class index of each file.
    pub fn class_labels(&self) -> Vec<usize> {
        self.labels.iter().map(|&y| y.round() as usize).collect()
    }

    /// The model's outputs as training measures them: `probs` for two classes, the rows of
    /// `class_probs` one after the other for K.
    pub(crate) fn scores(&self) -> Vec<f32> {
        if self.is_binary() {
            self.probs.clone()
        } else {
            self.class_probs.iter().copied().collect()
        }
    }

    /// The most probable class of each file.
    pub fn predicted_classes(&self) -> Vec<usize> {
        multiclass::predicted_classes(self.class_probs.view())
    }

    /// The K x K confusion matrix when each file is predicted as its most probable class.
    pub fn confusion(&self) -> Result<MulticlassConfusion> {
        MulticlassConfusion::from_probabilities(&self.class_labels(), self.class_probs.view())
    }

    /// scikit-learn's `classification_report` of the most probable classes.
    pub fn classification_report(&self, digits: usize) -> Result<String> {
        let names: Vec<&str> = self.class_names.iter().map(String::as_str).collect();
        self.confusion()?.report(&names, digits)
    }

    /// The one-vs-rest ROC AUC of each class.
    pub fn one_vs_rest_roc_auc(&self) -> Result<Vec<f64>> {
        multiclass::one_vs_rest_roc_auc(&self.class_labels(), self.class_probs.view())
    }

    /// The K x K confusion matrix as a figure (counts and row percentages; the most probable
    /// class), as fastai's `plot_confusion_matrix`.
    pub fn plot_confusion_matrix(&self) -> Result<crate::plot::Figure> {
        let names: Vec<&str> = self.class_names.iter().map(String::as_str).collect();
        crate::plot::multiclass_confusion_matrix(&self.confusion()?, &names)
    }

    /// Each class's one-vs-rest ROC curve with its AUC, and the macro AUC in the title.
    pub fn plot_roc_curves(&self) -> Result<crate::plot::Figure> {
        let names: Vec<&str> = self.class_names.iter().map(String::as_str).collect();
        crate::plot::roc_one_vs_rest(&self.class_labels(), self.class_probs.view(), &names)
    }

    /// The K-class report: confusion matrix, accuracy and macro ROC AUC with bootstrap
    /// intervals, one-vs-rest AUCs, per-class precision, recall and F1.
    pub fn multiclass_report(&self, bootstrap: &BootstrapOptions) -> Result<MulticlassReport> {
        let names: Vec<&str> = self.class_names.iter().map(String::as_str).collect();
        MulticlassReport::new(
            &self.class_labels(),
            self.class_probs.view(),
            &names,
            bootstrap,
        )
    }

    /// For the three classes [`THREE_CLASSES`]: pneumonia against normal on every image, and
    /// bacterial (positive) against viral among the pneumonia images, as two-class predictions
    /// ([`Predictions::two_class_view`]); `None` for other classes.
    pub fn pneumonia_views(&self) -> Result<Option<PneumoniaViews>> {
        if self.class_names != THREE_CLASSES {
            return Ok(None);
        }
        let [normal, bacteria, virus] = THREE_CLASSES;
        Ok(Some(PneumoniaViews {
            pneumonia_vs_normal: self.two_class_view(
                &[normal],
                &[bacteria, virus],
                ["NORMAL", "PNEUMONIA"],
            )?,
            bacteria_vs_virus: self.two_class_view(&[virus], &[bacteria], ["VIRUS", "BACTERIA"])?,
        }))
    }

    /// A two-class view of these predictions: the files whose true class is in `negative` or
    /// `positive` (class names), labelled 0 and 1 and named `names`, each scored with the
    /// model's probability of the positive classes renormalised over both groups,
    /// `sum p[positive] / (sum p[positive] + sum p[negative])`. With the three classes,
    /// `(&["NORMAL"], &["PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"])` is pneumonia against normal
    /// on every image, and `(&["PNEUMONIA_VIRUS"], &["PNEUMONIA_BACTERIA"])` bacterial against
    /// viral among the pneumonia images, as Kermany et al. (2018) report it. Every binary
    /// metric, interval and figure then applies to the view.
    pub fn two_class_view(
        &self,
        negative: &[&str],
        positive: &[&str],
        names: [&str; 2],
    ) -> Result<Predictions> {
        let index = |name: &str| {
            self.class_names
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| {
                    Error::invalid(
                        "class name",
                        name,
                        format!("one of {}", self.class_names.join(", ")),
                    )
                })
        };
        let neg: Vec<usize> = negative.iter().map(|n| index(n)).collect::<Result<_>>()?;
        let pos: Vec<usize> = positive.iter().map(|n| index(n)).collect::<Result<_>>()?;
        if neg.is_empty() || pos.is_empty() || neg.iter().any(|c| pos.contains(c)) {
            return Err(Error::invalid(
                "classes",
                format!("{negative:?} against {positive:?}"),
                "two non-empty groups of different classes",
            ));
        }
        let mut view = Predictions {
            class_names: names.iter().map(|n| n.to_string()).collect(),
            files: Vec::new(),
            labels: Vec::new(),
            probs: Vec::new(),
            class_probs: Array2::zeros((0, 2)),
            skipped: self.skipped.clone(),
        };
        let mut rows = Vec::new();
        for ((file, &truth), row) in self
            .files
            .iter()
            .zip(&self.class_labels())
            .zip(self.class_probs.rows())
        {
            let label = if pos.contains(&truth) {
                1.0
            } else if neg.contains(&truth) {
                0.0
            } else {
                continue;
            };
            let p: f32 = pos.iter().map(|&c| row[c]).sum();
            let n: f32 = neg.iter().map(|&c| row[c]).sum();
            // Both zero cannot come from a softmax; call it a coin toss rather than divide by 0.
            let score = if p + n > 0.0 { p / (p + n) } else { 0.5 };
            view.files.push(file.clone());
            view.labels.push(label);
            view.probs.push(score);
            rows.extend([1.0 - score, score]);
        }
        view.class_probs = Array2::from_shape_vec((view.files.len(), 2), rows)
            .map_err(|e| Error::backend("shaping predictions", e))?;
        Ok(view)
    }

    /// Metrics at `threshold` (e.g. [`Threshold::HALF`], or the threshold chosen on validation data).
    pub fn evaluate(&self, threshold: Threshold) -> Result<Evaluation> {
        self.require_binary("evaluate")?;
        let names = self.binary_names();
        Evaluation::new(&self.labels_u8(), &self.probs, threshold, names)
    }

    /// The true labels as 0 and 1.
    pub fn labels_u8(&self) -> Vec<u8> {
        labels_as_u8(&self.labels)
    }

    /// Every metric at `threshold` with its bootstrap confidence interval (DeLong's too for the
    /// ROC AUC), and the calibration: what `xray evaluate` prints.
    pub fn report(
        &self,
        threshold: Threshold,
        bootstrap: &BootstrapOptions,
    ) -> Result<EvaluationReport> {
        self.require_binary("report")?;
        let names = self.binary_names();
        EvaluationReport::new(&self.labels_u8(), &self.probs, threshold, names, bootstrap)
    }

    /// The metrics per file-name series ([`file_series`](crate::dataset::file_series): `IM-`
    /// and `NORMAL2-IM-` normals, `bacteria` and `virus` pneumonias) at `threshold`, with
    /// counts, Wilson intervals and each series' ROC AUC against the other class.
    pub fn by_series(&self, threshold: Threshold) -> Result<SubgroupReport> {
        self.require_binary("by_series")?;
        let groups: Vec<String> = self.files.iter().map(crate::dataset::file_series).collect();
        let names = self.binary_names();
        SubgroupReport::new(
            "series",
            &groups,
            &self.labels_u8(),
            &self.probs,
            threshold,
            names,
        )
    }

    /// The names of class 0 and class 1 ("0" and "1" where a name is missing).
    fn binary_names(&self) -> [&str; 2] {
        [
            self.class_names.first().map_or("0", String::as_str),
            self.class_names.get(1).map_or("1", String::as_str),
        ]
    }

    /// Refuses a K-class prediction where a two-class one is needed.
    fn require_binary(&self, what: &'static str) -> Result<()> {
        if self.is_binary() {
            return Ok(());
        }
        Err(Error::invalid(
            what,
            format!("predictions of {} classes", self.class_probs.ncols()),
            "a two-class model's predictions (see two_class_view, classification_report)",
        ))
    }

    /// The files classified wrongly at `threshold`, with their probabilities (two-class
    /// predictions; none for K classes).
    pub fn misclassified(&self, threshold: Threshold) -> Vec<(PathBuf, f32, f32)> {
        self.files
            .iter()
            .zip(self.labels.iter().zip(&self.probs))
            .filter(|(_, (&y, &p))| threshold.predicts_positive(p) != (y >= 0.5))
            .map(|(f, (&y, &p))| (f.clone(), y, p))
            .collect()
    }
}

/// The probability of class 1 for each image file (no labels needed), in the given order; a
/// file that cannot be read gets its error and the others are still predicted. Two-class
/// models only: [`predict_files_classes`] answers for any model.
pub fn predict_files(saved: &SavedModel, files: &[PathBuf]) -> Vec<Result<f32>> {
    predict_files_classes(saved, files)
        .into_iter()
        .map(|row| match row?.as_slice() {
            [_, p1] => Ok(*p1),
            other => Err(Error::invalid(
                "predict_files",
                format!("a {}-class model", other.len()),
                "a two-class model; use predict_files_classes",
            )),
        })
        .collect()
}

/// The probability of every class (in `saved.class_names` order) for each image file, in the
/// given order; a file that cannot be read gets its error and the others are still predicted.
pub fn predict_files_classes(saved: &SavedModel, files: &[PathBuf]) -> Vec<Result<Vec<f32>>> {
    predict_files_transformed(saved, files, &[Transform::default()])
}

/// [`predict_files_classes`] with test-time augmentation: each file's probabilities averaged
/// over the first `tta` transforms of [`test_time_transforms`] (`tta` 1: no augmentation).
/// Refused as a whole when `tta` is out of range.
pub(crate) fn predict_files_classes_tta(
    saved: &SavedModel,
    files: &[PathBuf],
    tta: usize,
) -> Result<Vec<Result<Vec<f32>>>> {
    let size = (
        saved.model.config().input_height(),
        saved.model.config().input_width(),
    );
    Ok(predict_files_transformed(
        saved,
        files,
        &test_time_transforms(tta, size)?,
    ))
}

/// Images per model call when predicting files: enough for the kernels to use every core.
const FILES_BATCH: usize = 64;

/// Each file's class probabilities averaged over its versions under `transforms`. Files are
/// prepared in parallel, then predicted together, up to [`FILES_BATCH`] images per model call;
/// a file that cannot be read keeps its error.
fn predict_files_transformed(
    saved: &SavedModel,
    files: &[PathBuf],
    transforms: &[Transform],
) -> Vec<Result<Vec<f32>>> {
    let size = (
        saved.model.config().input_height(),
        saved.model.config().input_width(),
    );
    predict_prepared(saved, files, transforms.len(), |path| {
        saved
            .preprocessing
            .prepare_transformed(path, size, transforms)
    })
}

/// Each file's class probabilities averaged over the `versions` model inputs `prepare` makes
/// of it. Files are prepared in parallel, then predicted together, up to [`FILES_BATCH`]
/// images per model call; a file that cannot be prepared keeps its error.
pub(crate) fn predict_prepared(
    saved: &SavedModel,
    files: &[PathBuf],
    versions: usize,
    prepare: impl Fn(&Path) -> Result<Vec<ndarray::Array2<f32>>> + Sync,
) -> Vec<Result<Vec<f32>>> {
    use rayon::prelude::*;
    let (height, width) = (
        saved.model.config().input_height(),
        saved.model.config().input_width(),
    );
    let inputs: Vec<Result<Vec<ndarray::Array2<f32>>>> =
        files.par_iter().map(|path| prepare(path)).collect();
    let mut results: Vec<Option<Result<Vec<f32>>>> = Vec::with_capacity(files.len());
    let mut ready = Vec::new();
    for (i, input) in inputs.into_iter().enumerate() {
        match input {
            Ok(versions) => {
                ready.push((i, versions));
                results.push(None);
            }
            Err(e) => results.push(Some(Err(e))),
        }
    }
    let versions = versions.max(1);
    for group in ready.chunks((FILES_BATCH / versions).max(1)) {
        let pixels: Vec<f32> = group
            .iter()
            .flat_map(|(_, vs)| vs.iter().flat_map(|v| v.iter().copied()))
            .collect();
        let probs =
            ndarray::Array4::from_shape_vec((group.len() * versions, height, width, 1), pixels)
                .map_err(|e| Error::backend("shaping the model input", e))
                .and_then(|x| saved.model.predict(x.view()));
        for (g, (i, _)) in group.iter().enumerate() {
            results[*i] = Some(match &probs {
                Ok(p) => {
                    let rows = p.slice(ndarray::s![g * versions..(g + 1) * versions, ..]);
                    let mean = |c: usize| rows.column(c).sum() / versions as f32;
                    Ok(match p.ncols() {
                        1 => {
                            let p1 = mean(0);
                            vec![1.0 - p1, p1]
                        }
                        k => (0..k).map(mean).collect(),
                    })
                }
                Err(e) => Err(Error::invalid(
                    "predicting a batch of files",
                    e.to_string(),
                    "a model that predicts",
                )),
            });
        }
    }
    results
        .into_iter()
        .map(|r| r.expect("every file has its result or its error"))
        .collect()
}

/// A saved model's predictions for the class folders of `dir`, labelled as it was trained
/// (from the folders, or from the file names too for three classes).
pub fn predict_labelled(saved: &SavedModel, dir: impl AsRef<Path>) -> Result<Predictions> {
    predict_labelled_tta(saved, dir, 1)
}

/// [`predict_labelled`] averaged over `tta` test-time transforms (see [`predict_directory_tta`]).
/// The folder's classes are matched to the model's by name ([`scan_for_model`]).
pub(crate) fn predict_labelled_tta(
    saved: &SavedModel,
    dir: impl AsRef<Path>,
    tta: usize,
) -> Result<Predictions> {
    let scan = scan_for_model(dir, &saved.class_names, saved.label_source)?;
    predict_scan(&saved.model, &scan, &saved.preprocessing, tta)
}

/// Evaluates a two-class saved model on the class folders of `dir` at 0.5 and at its saved
/// threshold (a K-class model: [`predict_labelled`], then the K-class metrics of
/// [`Predictions`]).
pub fn evaluate(
    saved: &SavedModel,
    dir: impl AsRef<Path>,
) -> Result<(Predictions, Evaluation, Evaluation)> {
    let predictions = predict_labelled(saved, dir)?;
    let at_half = predictions.evaluate(Threshold::HALF)?;
    let threshold = saved.decision.threshold().ok_or_else(|| {
        Error::invalid(
            "decision",
            "the most probable class",
            "a threshold for a two-class model",
        )
    })?;
    let at_chosen = predictions.evaluate(threshold)?;
    Ok((predictions, at_half, at_chosen))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn three_class_predictions() -> Predictions {
        Predictions {
            class_names: THREE_CLASSES.iter().map(|s| s.to_string()).collect(),
            files: (0..4).map(|i| PathBuf::from(format!("{i}.jpeg"))).collect(),
            labels: vec![0.0, 1.0, 2.0, 1.0],
            probs: Vec::new(),
            class_probs: array![
                [0.7, 0.2, 0.1],
                [0.1, 0.6, 0.3],
                [0.2, 0.2, 0.6],
                [0.5, 0.1, 0.4]
            ],
            skipped: Vec::new(),
        }
    }

    #[test]
    fn two_class_views_renormalise_by_hand() {
        let p = three_class_predictions();
        let views = p.pneumonia_views().unwrap().unwrap();
        let pn = &views.pneumonia_vs_normal;
        assert_eq!(pn.labels, [0.0, 1.0, 1.0, 1.0]);
        let expected = [0.3, 0.9, 0.8, 0.5];
        for (a, b) in pn.probs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} {b}");
        }
        let bv = &views.bacteria_vs_virus;
        assert_eq!(bv.class_names, ["VIRUS", "BACTERIA"]);
        assert_eq!(
            bv.files,
            [
                PathBuf::from("1.jpeg"),
                PathBuf::from("2.jpeg"),
                PathBuf::from("3.jpeg")
            ]
        );
        assert_eq!(bv.labels, [1.0, 0.0, 1.0]);
        let expected = [0.6 / 0.9, 0.2 / 0.8, 0.1 / 0.5];
        for (a, b) in bv.probs.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{a} {b}");
        }
        assert!(bv.is_binary() && !p.is_binary());
        // Bacterial vs viral: the viral image scores lowest, one bacterial image is below it.
        let e = bv.evaluate(Threshold::HALF).unwrap();
        assert_eq!((e.confusion.tp, e.confusion.fn_, e.confusion.tn), (1, 1, 1));
    }

    #[test]
    fn misclassified_takes_a_checked_threshold() {
        let p = Predictions {
            class_names: vec!["NORMAL".into(), "PNEUMONIA".into()],
            files: (0..3).map(|i| PathBuf::from(format!("{i}.jpeg"))).collect(),
            labels: vec![0.0, 1.0, 1.0],
            probs: vec![0.4, 0.4, 0.39],
            class_probs: array![[0.6, 0.4], [0.6, 0.4], [0.61, 0.39]],
            skipped: Vec::new(),
        };
        // p at the threshold predicts class 1.
        let wrong = p.misclassified(Threshold::new(0.4).unwrap());
        let files: Vec<&PathBuf> = wrong.iter().map(|(f, _, _)| f).collect();
        assert_eq!(files, [&PathBuf::from("0.jpeg"), &PathBuf::from("2.jpeg")]);
        assert_eq!(p.misclassified(Threshold::new(0.3).unwrap()).len(), 1);
        // At 1.7 every positive would have been "missed": such a threshold cannot be made.
        assert!(matches!(
            Threshold::new(1.7),
            Err(Error::InvalidArgument {
                name: "threshold",
                ..
            })
        ));
    }

    #[test]
    fn views_refuse_unknown_or_overlapping_classes_and_binary_metrics_refuse_k_classes() {
        let p = three_class_predictions();
        assert!(p
            .two_class_view(&["NORMAL"], &["COVID"], ["a", "b"])
            .is_err());
        assert!(p
            .two_class_view(&["NORMAL"], &["NORMAL"], ["a", "b"])
            .is_err());
        assert!(p.two_class_view(&[], &["NORMAL"], ["a", "b"]).is_err());
        assert!(p.evaluate(Threshold::HALF).is_err());
        let mut other = p.clone();
        other.class_names[2] = "OTHER".into();
        assert!(other.pneumonia_views().unwrap().is_none());
        assert_eq!(p.predicted_classes(), [0, 1, 2, 0]);
        assert_eq!(p.confusion().unwrap().counts()[1], [1, 1, 0]);
    }

    #[test]
    fn averaging_matches_files_and_means_their_probabilities() {
        let file = |name: &str| PathBuf::from(name);
        let a = Predictions::binary(
            ["N", "P"],
            vec![file("a"), file("b"), file("c")],
            vec![0.0, 1.0, 1.0],
            vec![0.2, 0.6, 0.9],
        )
        .unwrap();
        // Another order, and without c (as if a member could not read it).
        let b = Predictions::binary(
            ["N", "P"],
            vec![file("b"), file("a")],
            vec![1.0, 0.0],
            vec![0.8, 0.4],
        )
        .unwrap();
        let mean = Predictions::average(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(mean.files, [file("a"), file("b")]);
        assert_eq!(mean.labels, [0.0, 1.0]);
        assert!((mean.probs[0] - 0.3).abs() < 1e-6 && (mean.probs[1] - 0.7).abs() < 1e-6);
        assert!((mean.class_probs[[1, 0]] - 0.3).abs() < 1e-6);
        assert_eq!(mean.skipped.len(), 1);
        assert_eq!(mean.skipped[0].0, file("c"));
        // One set is itself, exactly.
        let one = Predictions::average(std::slice::from_ref(&a)).unwrap();
        assert_eq!(
            (one.probs, one.class_probs),
            (a.probs.clone(), a.class_probs.clone())
        );
        // K classes: column by column.
        let p = three_class_predictions();
        let mut q = p.clone();
        q.class_probs.fill(1.0 / 3.0);
        let mean = Predictions::average(&[p.clone(), q]).unwrap();
        assert!((mean.class_probs[[0, 0]] - (0.7 + 1.0 / 3.0) / 2.0).abs() < 1e-6);
        // Refused: nothing, other classes, or a file labelled differently.
        assert!(Predictions::average(&[]).is_err());
        assert!(Predictions::average(&[a.clone(), p]).is_err());
        let mut relabelled = b;
        relabelled.labels[0] = 0.0;
        assert!(Predictions::average(&[a, relabelled]).is_err());
    }
}
