//! [`ModelEvaluation`]: a model or an ensemble evaluated on one labelled set of images, the one
//! object that `xray evaluate` and the notebooks draw their reports and figures from (in the
//! manner of scikit-learn's `RocCurveDisplay.from_predictions` and fastai's
//! `ClassificationInterpretation`).
//!
//! ```no_run
//! use support::evaluation::ModelEvaluation;
//! use support::saved_model::SavedModel;
//! let model = SavedModel::load("models/pretrained")?;
//! let test = ModelEvaluation::on_directory(model, "data/chest_xray/test", 1)?;
//! println!("{}", test.summary()?); // the reports at 0.5 and at the model's decision
//! for (name, figure) in test.figures()? {
//!     figure.save(format!("figures/{name}"))?;
//! }
//! # Ok::<(), support::Error>(())
//! ```

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::ensemble::{Ensemble, ThresholdChoice};
use crate::error::{Error, Result};
use crate::history::History;
use crate::inference::Predictions;
use crate::interpretation::ClassificationInterpretation;
use crate::metrics::calibration::{apply_temperature, reliability_bins, DEFAULT_BINS};
use crate::metrics::intervals::BootstrapOptions;
use crate::metrics::multiclass::MulticlassReport;
use crate::metrics::report::EvaluationReport;
use crate::metrics::subgroups::SubgroupReport;
use crate::metrics::{Evaluation, Threshold, ThresholdSource};
use crate::plot::{self, Figure};
use crate::saved_model::SavedModel;
use crate::stress::{self, AcquisitionChange, StressReport};

/// The file name of the learning-curves figure, in a model folder and among [`ModelEvaluation::figures`].
pub const LEARNING_CURVES_PNG: &str = "learning_curves.png";

/// Which images were evaluated, as the reports and figure titles name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvaluatedImages {
    /// The class folders of a labelled split (e.g. `test`).
    Split(PathBuf),
    /// The validation patients the models' training held out of this training folder.
    HeldOut(PathBuf),
}

impl EvaluatedImages {
    /// The name figures and reports give the images: the split's folder name, or
    /// `validation patients`.
    pub fn name(&self) -> String {
        match self {
            EvaluatedImages::Split(dir) => dir.file_name().map_or_else(
                || dir.display().to_string(),
                |n| n.to_string_lossy().into_owned(),
            ),
            EvaluatedImages::HeldOut(_) => "validation patients".to_string(),
        }
    }

    /// Whether these are the validation patients the training held out.
    pub fn is_held_out(&self) -> bool {
        matches!(self, EvaluatedImages::HeldOut(_))
    }
}

/// What [`ModelEvaluation`] evaluates: one [`SavedModel`], several (averaged as an
/// [`Ensemble`]), or an ensemble.
pub trait IntoEnsemble {
    /// The models as an ensemble (one model is an ensemble of one), or why they cannot be one.
    fn into_ensemble(self) -> Result<Ensemble>;
}

impl IntoEnsemble for Ensemble {
    fn into_ensemble(self) -> Result<Ensemble> {
        Ok(self)
    }
}

impl IntoEnsemble for SavedModel {
    fn into_ensemble(self) -> Result<Ensemble> {
        Ensemble::new(vec![self])
    }
}

impl IntoEnsemble for Vec<SavedModel> {
    fn into_ensemble(self) -> Result<Ensemble> {
        Ensemble::new(self)
    }
}

/// A model, or an ensemble of models, evaluated on one labelled set of images: the predictions
/// once, then every report and figure from them. Two-class models are read at 0.5 and at the
/// models' [`Decision`](crate::metrics::Decision) (the threshold chosen on validation data);
/// K-class models at their most probable class.
#[derive(Debug, Clone)]
pub struct ModelEvaluation {
    ensemble: Ensemble,
    predictions: Predictions,
    images: EvaluatedImages,
    tta: usize,
    bootstrap: BootstrapOptions,
}

impl ModelEvaluation {
    /// Predicts the class folders of `dir` (matched to the models' classes by name) with
    /// `models`, each image averaged over `tta` test-time transforms (1: none).
    pub fn on_directory(
        models: impl IntoEnsemble,
        dir: impl AsRef<Path>,
        tta: usize,
    ) -> Result<Self> {
        Self::predicted(
            models,
            EvaluatedImages::Split(dir.as_ref().to_path_buf()),
            tta,
        )
    }

    /// Predicts the validation patients the models' training held out of `train_dir` (drawn
    /// again from the split each model recorded; refused if they held out different patients
    /// or the folder's files changed).
    pub fn on_held_out(
        models: impl IntoEnsemble,
        train_dir: impl AsRef<Path>,
        tta: usize,
    ) -> Result<Self> {
        let images = EvaluatedImages::HeldOut(train_dir.as_ref().to_path_buf());
        Self::predicted(models, images, tta)
    }

    fn predicted(models: impl IntoEnsemble, images: EvaluatedImages, tta: usize) -> Result<Self> {
        let ensemble = models.into_ensemble()?;
        let predictions = match &images {
            EvaluatedImages::Split(dir) => ensemble.predict_directory(dir, tta)?,
            EvaluatedImages::HeldOut(train_dir) => ensemble.predict_held_out(train_dir, tta)?,
        };
        Ok(Self::from_predictions(ensemble, predictions, images, tta))
    }

    /// An evaluation of predictions already made by `ensemble` on `images`.
    pub fn from_predictions(
        ensemble: Ensemble,
        predictions: Predictions,
        images: EvaluatedImages,
        tta: usize,
    ) -> Self {
        ModelEvaluation {
            ensemble,
            predictions,
            images,
            tta,
            bootstrap: BootstrapOptions::default(),
        }
    }

    /// The same evaluation with other bootstrap settings for the confidence intervals.
    pub fn with_bootstrap(mut self, bootstrap: BootstrapOptions) -> Self {
        self.bootstrap = bootstrap;
        self
    }

    /// The models evaluated (one model is an ensemble of one).
    pub fn ensemble(&self) -> &Ensemble {
        &self.ensemble
    }
    /// The predictions, image by image.
    pub fn predictions(&self) -> &Predictions {
        &self.predictions
    }
    /// Which images were evaluated.
    pub fn images(&self) -> &EvaluatedImages {
        &self.images
    }
    /// Test-time augmentations averaged per image (1: none).
    pub fn tta(&self) -> usize {
        self.tta
    }
    /// The bootstrap settings of the intervals.
    pub fn bootstrap(&self) -> &BootstrapOptions {
        &self.bootstrap
    }
    /// Whether the models tell two classes apart (and so decide at a threshold).
    pub fn is_binary(&self) -> bool {
        self.predictions.is_binary() && self.ensemble.threshold().is_some()
    }
    /// The models' threshold for two classes (`None` for K classes).
    pub fn threshold(&self) -> Option<Threshold> {
        self.ensemble.threshold().filter(|_| self.is_binary())
    }
    /// Where the threshold comes from.
    pub fn threshold_choice(&self) -> &ThresholdChoice {
        self.ensemble.threshold_choice()
    }
    /// The temperature folded into the model's output, for a single calibrated model.
    pub fn temperature(&self) -> Option<f32> {
        self.single_history().and_then(|h| h.temperature)
    }

    /// The training history of a single model, when it has one with epochs.
    pub fn history(&self) -> Option<&History> {
        self.single_history().filter(|h| !h.epochs.is_empty())
    }

    fn single_history(&self) -> Option<&History> {
        match self.ensemble.members() {
            [only] => only.history.as_ref(),
            _ => None,
        }
    }

    /// The models' threshold, or the error naming why a two-class view was asked of K classes.
    fn binary_threshold(&self, what: &'static str) -> Result<Threshold> {
        self.threshold().ok_or_else(|| {
            Error::invalid(
                what,
                format!("a {}-class model", self.ensemble.class_names().len()),
                "a two-class model (it decides at a threshold)",
            )
        })
    }

    /// The label of the models' threshold in figures: the validation or default threshold.
    fn threshold_label(&self, threshold: Threshold) -> String {
        match self.ensemble.decision().source() {
            Some(ThresholdSource::Default) => format!("default threshold {threshold:.2}"),
            Some(ThresholdSource::User) => format!("chosen threshold {threshold:.2}"),
            _ => format!("validation threshold {threshold:.2}"),
        }
    }

    /// Every metric at `threshold` (two classes), without intervals.
    pub fn at(&self, threshold: Threshold) -> Result<Evaluation> {
        self.binary_threshold("at")?;
        self.predictions.evaluate(threshold)
    }

    /// The report at `threshold` with bootstrap (and DeLong's) 95% intervals (two classes).
    pub fn report_at(&self, threshold: Threshold) -> Result<EvaluationReport> {
        self.binary_threshold("report_at")?;
        self.predictions.report(threshold, &self.bootstrap)
    }

    /// The two reports `xray evaluate` prints for two classes: at 0.5, then at the models'
    /// threshold.
    pub fn reports(&self) -> Result<[EvaluationReport; 2]> {
        let threshold = self.binary_threshold("reports")?;
        Ok([self.report_at(Threshold::HALF)?, self.report_at(threshold)?])
    }

    /// The K-class report (each image as its most probable class), with intervals.
    pub fn classes_report(&self) -> Result<MulticlassReport> {
        self.predictions.multiclass_report(&self.bootstrap)
    }

    /// For NORMAL, PNEUMONIA_BACTERIA and PNEUMONIA_VIRUS: the two two-class readings at 0.5,
    /// each with its title: pneumonia against normal (all images), then bacterial against
    /// viral (the pneumonia images). Empty for other classes.
    pub fn two_class_views(&self) -> Result<Vec<(String, Predictions)>> {
        let Some(views) = self.predictions.pneumonia_views()? else {
            return Ok(Vec::new());
        };
        Ok(vec![
            (
                "pneumonia against normal, p(bacteria) + p(virus)".to_string(),
                views.pneumonia_vs_normal,
            ),
            (
                "bacterial against viral among the pneumonia images, p(bacteria) / (p(bacteria) + p(virus))"
                    .to_string(),
                views.bacteria_vs_virus,
            ),
        ])
    }

    /// The metrics per file-name series (`IM-` and `NORMAL2-IM-` normals, bacterial and viral
    /// pneumonia) at the models' threshold (two classes).
    pub fn by_series(&self) -> Result<SubgroupReport> {
        let threshold = self.binary_threshold("by_series")?;
        self.predictions.by_series(threshold)
    }

    /// The models on these images under each acquisition change (see [`crate::stress`]), at
    /// their threshold, the changes seeded by `seed` (two classes).
    pub fn stress(&self, changes: &[AcquisitionChange], seed: u64) -> Result<StressReport> {
        let threshold = self.binary_threshold("stress")?;
        let scan = match &self.images {
            EvaluatedImages::Split(dir) => self.ensemble.scan_directory(dir)?,
            EvaluatedImages::HeldOut(train_dir) => self.ensemble.scan_held_out(train_dir)?,
        };
        stress::stress_test(
            &self.ensemble,
            &scan,
            changes,
            threshold,
            &self.bootstrap,
            seed,
        )
    }

    /// fastai's interpretation of the mistakes at the models' threshold (two classes).
    pub fn interpretation(&self) -> Result<ClassificationInterpretation> {
        let threshold = self.binary_threshold("interpretation")?;
        ClassificationInterpretation::new(&self.predictions, threshold)
    }

    /// The text `xray evaluate` prints: the images, then for two classes the report and
    /// scikit-learn's classification report at 0.5 and at the models' threshold, for K classes
    /// the K-class report and its two-class views.
    pub fn summary(&self) -> Result<String> {
        let mut out = self.heading();
        let w = |out: &mut String, text: std::fmt::Arguments<'_>| {
            out.write_fmt(text)
                .expect("writing to a String cannot fail");
        };
        if let Some(threshold) = self.threshold() {
            let [at_half, at_chosen] = self.reports()?;
            w(
                &mut out,
                format_args!(
                    "\n== at threshold 0.5\n{at_half}\n{}\n",
                    self.at(Threshold::HALF)?.report
                ),
            );
            let caveat = if self.images.is_held_out() {
                "; chosen on these same images, so its metrics are optimistic"
            } else {
                ""
            };
            w(
                &mut out,
                format_args!(
                    "\n== at threshold {threshold:.3}, {}{caveat}\n{at_chosen}\n{}",
                    self.threshold_choice(),
                    self.at(threshold)?.report
                ),
            );
        } else {
            w(
                &mut out,
                format_args!(
                    "\n== {} classes, each image predicted as its most probable class\n{}",
                    self.predictions.class_names.len(),
                    self.classes_report()?
                ),
            );
            for (title, view) in self.two_class_views()? {
                let report = view.report(Threshold::HALF, &self.bootstrap)?;
                w(&mut out, format_args!("\n\n== {title}\n{report}"));
            }
        }
        Ok(out)
    }

    /// The opening lines of [`summary`](Self::summary): the images, the models, the
    /// augmentation, the temperature, unreadable files.
    pub fn heading(&self) -> String {
        let mut out = String::new();
        let images = self.predictions.files.len();
        let _ = match &self.images {
            EvaluatedImages::HeldOut(dir) => writeln!(
                out,
                "{images} held-out validation images of {} (the patients training held out)",
                dir.display()
            ),
            EvaluatedImages::Split(dir) => writeln!(out, "{images} images in {}", dir.display()),
        };
        let names = self.ensemble.names();
        if names.len() > 1 {
            let _ = writeln!(
                out,
                "ensemble of {} models, probabilities averaged: {}",
                names.len(),
                names.join(", ")
            );
        }
        if self.tta > 1 {
            let _ = writeln!(
                out,
                "test-time augmentation: each image's probabilities averaged over {} versions (the threshold was chosen without it)",
                self.tta
            );
        }
        if let Some(t) = self.temperature() {
            let _ = writeln!(
                out,
                "probabilities calibrated with temperature {t:.3} (fitted on the validation split)"
            );
        }
        if !self.predictions.skipped.is_empty() {
            let _ = writeln!(
                out,
                "{} files skipped as unreadable:",
                self.predictions.skipped.len()
            );
            for (path, reason) in &self.predictions.skipped {
                let _ = writeln!(out, "  {}: {reason}", path.display());
            }
        }
        if self.threshold().is_none() {
            let _ = writeln!(
                out,
                "classes {}, labelled from {}",
                self.predictions.class_names.join(", "),
                match self.ensemble.label_source() {
                    crate::dataset::LabelSource::Folder => "the folders",
                    crate::dataset::LabelSource::FileName => "the folders and file names",
                }
            );
        }
        out
    }

    /// The confusion matrix: for two classes at the models' threshold (in its title), for K
    /// classes at the most probable class.
    pub fn plot_confusion_matrix(&self) -> Result<Figure> {
        match self.threshold() {
            Some(threshold) => {
                let at = self.at(threshold)?;
                let names = self.binary_names();
                plot::confusion_matrix_at(&at.confusion, names, threshold)
            }
            None => self.predictions.plot_confusion_matrix(),
        }
    }

    fn binary_names(&self) -> [&str; 2] {
        let names = self.ensemble.class_names();
        [names[0].as_str(), names[1].as_str()]
    }

    /// The ROC curve: for two classes with the operating points at 0.5 and at the models'
    /// threshold; for K classes one curve per class against the rest.
    pub fn plot_roc(&self) -> Result<Figure> {
        let Some(threshold) = self.threshold() else {
            return self.predictions.plot_roc_curves();
        };
        let points = [
            (Threshold::HALF, "threshold 0.5".to_string()),
            (threshold, self.threshold_label(threshold)),
        ];
        self.roc_figure(&self.predictions, &points)
    }

    /// The ROC curve of a two-class reading of a K-class model (see
    /// [`two_class_views`](Self::two_class_views)), with its point at 0.5.
    pub fn plot_view_roc(&self, view: &Predictions) -> Result<Figure> {
        self.roc_figure(view, &[(Threshold::HALF, "threshold 0.5".to_string())])
    }

    /// The ROC curve of two-class `predictions` with an operating point at each threshold,
    /// titled with the task and these images.
    fn roc_figure(
        &self,
        predictions: &Predictions,
        points: &[(Threshold, String)],
    ) -> Result<Figure> {
        let at = predictions.evaluate(Threshold::HALF)?;
        let (Some((fpr, tpr, _)), Some(auc)) = (&at.roc, at.roc_auc) else {
            return Err(Error::Plot(
                "a ROC curve needs images of both classes".to_string(),
            ));
        };
        let labels = predictions.labels_u8();
        let points = points
            .iter()
            .map(|(t, label)| {
                plot::OperatingPoint::from_predictions(
                    &labels,
                    &predictions.probs,
                    *t,
                    label.clone(),
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let title = roc_title(predictions, &self.images.name());
        plot::roc_curve_titled(fpr, tpr, auc, &points, &title)
    }

    /// The reliability diagram (two classes): for a calibrated single model, the probabilities
    /// before and after its temperature.
    pub fn plot_reliability(&self) -> Result<Figure> {
        self.binary_threshold("plot_reliability")?;
        let labels = self.predictions.labels_u8();
        let probs = &self.predictions.probs;
        let bins = |p: &[f32]| reliability_bins(&labels, p, DEFAULT_BINS);
        let name = self.images.name();
        match self.temperature() {
            Some(t) => {
                // The raw probabilities, recovered by undoing the temperature.
                let raw = apply_temperature(probs, 1.0 / t)?;
                plot::reliability_diagram(&[
                    (format!("{name}, uncalibrated"), bins(&raw)?),
                    (format!("{name}, temperature {t:.2}"), bins(probs)?),
                ])
            }
            None => plot::reliability_diagram(&[(name, bins(probs)?)]),
        }
    }

    /// The predicted probabilities per true class (two classes), for the models' validation
    /// patients and for these images, with both thresholds marked, on a log axis (so that a
    /// tail of a few percent reads beside the end bins that hold most of a class).
    pub fn plot_scores(&self) -> Result<Figure> {
        let threshold = self.binary_threshold("plot_scores")?;
        let labels = self.predictions.labels_u8();
        let chosen = self.threshold_label(threshold);
        let thresholds = [(Threshold::HALF, "0.5"), (threshold, chosen.as_str())];
        let validation = self.ensemble.validation_scores()?;
        let mut splits = Vec::new();
        // Held-out images are the validation images: one histogram of them is enough.
        if let Some(v) = validation.as_ref().filter(|_| !self.images.is_held_out()) {
            splits.push(plot::ScoreSplit::new(
                "validation",
                v.labels.as_slice(),
                v.probs.as_slice(),
            ));
        }
        let name = self.images.name();
        splits.push(plot::ScoreSplit::new(
            &name,
            &labels,
            &self.predictions.probs,
        ));
        plot::score_distributions_with(
            &splits,
            self.binary_names(),
            &thresholds,
            plot::ScoreScale::Log,
        )
    }

    /// The learning curves of a single model's training (best epoch and early stop marked).
    pub fn plot_learning_curves(&self) -> Result<Figure> {
        let history = self.history().ok_or_else(|| {
            Error::invalid(
                "plot_learning_curves",
                "an ensemble, or a model without a training history",
                "a single model trained by fit",
            )
        })?;
        plot::learning_curves_with(&history.curves(), &history.epoch_marks())
    }

    /// The standard figures with their file names, as `xray evaluate --plots` writes them. Two
    /// classes: `confusion.png`, `roc.png`, `reliability.png`, `scores.png`; K classes:
    /// `confusion.png`, `roc.png` and the two-class views' ROC curves; then, for a single
    /// trained model, [`LEARNING_CURVES_PNG`].
    pub fn figures(&self) -> Result<Vec<(String, Figure)>> {
        let mut figures = vec![
            ("confusion.png".to_string(), self.plot_confusion_matrix()?),
            ("roc.png".to_string(), self.plot_roc()?),
        ];
        if self.is_binary() {
            figures.push(("reliability.png".to_string(), self.plot_reliability()?));
            figures.push(("scores.png".to_string(), self.plot_scores()?));
        } else {
            for (_, view) in self.two_class_views()? {
                let name = format!(
                    "roc_{}_vs_{}.png",
                    view.class_names[1].to_lowercase(),
                    view.class_names[0].to_lowercase()
                );
                figures.push((name, self.plot_view_roc(&view)?));
            }
        }
        if self.history().is_some() {
            figures.push((
                LEARNING_CURVES_PNG.to_string(),
                self.plot_learning_curves()?,
            ));
        }
        Ok(figures)
    }
}

/// A ROC figure's title: the positive class against the other, and the images, e.g.
/// `ROC curve: PNEUMONIA against NORMAL, 624 test images`.
fn roc_title(predictions: &Predictions, images: &str) -> String {
    let names = &predictions.class_names;
    let n = predictions.files.len();
    let images = if images == "validation patients" {
        format!("{n} images of validation patients")
    } else {
        format!("{n} {images} images")
    };
    match names.as_slice() {
        [negative, positive] => format!("ROC curve: {positive} against {negative}, {images}"),
        _ => format!("ROC curve, {images}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::LabelSource;
    use crate::history::ValidationScores;
    use crate::metrics::Decision;
    use crate::model::{Model, ModelConfig};

    fn sample_test() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray/test")
    }

    /// An untrained model of `classes` classes on 16 x 16 inputs deciding as `decision`.
    fn untrained(classes: usize, decision: Decision) -> SavedModel {
        let config = ModelConfig::builder()
            .input_size(16, 16)
            .conv_filters(&[2])
            .dense_units(2)
            .classes(classes)
            .build()
            .unwrap();
        let names: Vec<String> = if classes == 2 {
            vec!["NORMAL".into(), "PNEUMONIA".into()]
        } else {
            vec![
                "NORMAL".into(),
                "PNEUMONIA_BACTERIA".into(),
                "PNEUMONIA_VIRUS".into(),
            ]
        };
        let history = History {
            decision,
            validation: (classes == 2).then(|| ValidationScores {
                labels: vec![0, 0, 1, 1],
                probs: vec![0.2, 0.6, 0.4, 0.9],
            }),
            ..History::default()
        };
        let preprocessing = crate::training::FitOptions::default().preprocessing();
        let saved = SavedModel::from_parts(
            Model::new(config, 3).unwrap(),
            history,
            names,
            preprocessing,
        );
        if classes == 2 {
            saved
        } else {
            saved.labelled_by(LabelSource::FileName)
        }
    }

    /// The file names of the standard figures, in order.
    fn figure_names(evaluation: &ModelEvaluation) -> Vec<String> {
        evaluation
            .figures()
            .unwrap()
            .into_iter()
            .map(|f| f.0)
            .collect()
    }

    #[test]
    fn a_two_class_evaluation_reports_and_draws_at_half_and_at_the_models_threshold() {
        let threshold = Threshold::new(0.3).unwrap();
        let model = untrained(2, Decision::validation(threshold));
        let evaluation = ModelEvaluation::on_directory(model, sample_test(), 1)
            .unwrap()
            .with_bootstrap(BootstrapOptions::new(50, 0.95, 1).unwrap());
        assert!(evaluation.is_binary());
        assert_eq!(evaluation.threshold(), Some(threshold));
        assert_eq!(evaluation.images().name(), "test");
        let predictions = evaluation.predictions();
        let [at_half, at_chosen] = evaluation.reports().unwrap();
        assert_eq!(
            at_chosen.metrics.accuracy.estimate,
            predictions.evaluate(threshold).unwrap().accuracy
        );
        assert_eq!(
            at_half.metrics.accuracy.estimate,
            predictions.evaluate(Threshold::HALF).unwrap().accuracy
        );
        let summary = evaluation.summary().unwrap();
        assert!(summary.contains("== at threshold 0.5"), "{summary}");
        assert!(summary.contains("== at threshold 0.300"), "{summary}");
        assert!(summary.starts_with(&format!("{} images in", predictions.files.len())));
        let names = figure_names(&evaluation);
        assert_eq!(
            names,
            ["confusion.png", "roc.png", "reliability.png", "scores.png"]
        );
        // No epochs in the history: no learning curves, and asking for them names why.
        assert!(evaluation.plot_learning_curves().is_err());
        assert_eq!(evaluation.by_series().unwrap().threshold, threshold);
        let mistakes = evaluation.interpretation().unwrap().mistake_counts();
        let at = evaluation.at(threshold).unwrap().confusion;
        assert_eq!(mistakes, (at.fn_ as usize, at.fp as usize));
    }

    #[test]
    fn a_three_class_evaluation_reads_the_most_probable_class_and_refuses_thresholds() {
        let model = untrained(3, Decision::Argmax);
        let evaluation = ModelEvaluation::on_directory(model, sample_test(), 1)
            .unwrap()
            .with_bootstrap(BootstrapOptions::new(50, 0.95, 1).unwrap());
        assert!(!evaluation.is_binary());
        assert_eq!(evaluation.threshold(), None);
        for err in [
            evaluation.reports().map(|_| ()).unwrap_err(),
            evaluation.plot_scores().map(|_| ()).unwrap_err(),
            evaluation.stress(&[], 0).map(|_| ()).unwrap_err(),
        ] {
            assert!(err.to_string().contains("a 3-class model"), "{err}");
        }
        let summary = evaluation.summary().unwrap();
        assert!(summary.contains("== 3 classes"), "{summary}");
        assert!(summary.contains("bacterial against viral"), "{summary}");
        let names = figure_names(&evaluation);
        assert_eq!(
            names,
            [
                "confusion.png",
                "roc.png",
                "roc_pneumonia_vs_normal.png",
                "roc_bacteria_vs_virus.png"
            ]
        );
    }
}
