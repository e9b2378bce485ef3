//! `xray evaluate`: metrics, reports and figures of a model or an ensemble on a labelled folder.

use std::path::{Path, PathBuf};

use super::train::{training_folder, LEARNING_CURVES_PNG};
use crate::*;
use support::dataset::LabelSource;
use support::ensemble::Ensemble;
use support::metrics::calibration::{apply_temperature, reliability_bins, DEFAULT_BINS};
use support::metrics::intervals::BootstrapOptions;
use support::metrics::multiclass::MulticlassReport;
use support::metrics::report::{EvaluationReport, ImageRecord};
use support::metrics::subgroups::SubgroupReport;
use support::metrics::{Evaluation, Threshold, ThresholdSource};
use support::saved_model::SavedModel;
use support::stress::{self, StressReport};
use support::training::{self};
use support::{inference, plot};

#[derive(clap::Args)]
pub(crate) struct EvaluateArgs {
    /// Model folders written by `xray train --out` (several: their ensemble), then a labelled
    /// split, e.g. data/chest_xray/test (with --held-out: the training folder).
    #[arg(required = true, num_args = 2.., value_names = ["MODEL_DIR", "DIR"])]
    pub(crate) paths: Vec<PathBuf>,
    /// Evaluate on the validation patients the models' training held out of DIR, the training
    /// folder (or a dataset root whose train/ is used): the same images, drawn again from the
    /// split each model recorded. Refused if the folder's files changed since training, or if
    /// ensemble members held out different patients.
    #[arg(long)]
    pub(crate) held_out: bool,
    /// Average each image's probabilities over N mild deterministic augmentations (1: none;
    /// then shifts of 4%, zoom 0.93 and 1.07, brightness 0.9 and 1.1, up to 9; no flips).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_TTA))]
    pub(crate) tta: u64,
    /// Also save figures (PNG) into this folder: the confusion matrix at the validation
    /// threshold, the ROC curve with the operating points at 0.5 and at the validation
    /// threshold, the reliability diagram, the score distributions of the validation and
    /// evaluated splits, and the model's learning curves (best epoch and early stop marked).
    #[arg(long)]
    pub(crate) plots: Option<PathBuf>,
    /// Pixels per layout pixel of the --plots figures: 1 (screen size, e.g. 500x480 for the ROC
    /// curve) or 2 to 4 for HiDPI screens and print (the same figures, 2 to 4 times as wide and high).
    #[arg(long, default_value_t = 1, requires = "plots", value_parser = clap::value_parser!(u32).range(1..=4))]
    pub(crate) figure_scale: u32,
    /// Print the whole report as JSON on stdout instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// With --json: add every image's file, label and probability.
    #[arg(long, requires = "json")]
    pub(crate) per_image: bool,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 2000)]
    pub(crate) resamples: usize,
    /// Seed of the bootstrap (and of the random --stress changes).
    #[arg(long, default_value_t = 0)]
    pub(crate) seed: u64,
    /// Also evaluate on the same images changed as another X-ray machine would change them
    /// (exposure, window, JPEG quality, blur, noise, framing, shift, rotation: the fixed list of
    /// support::stress::standard_changes), at the validation threshold, with the worst case;
    /// with --plots, stress.png. Two-class models; run it with --held-out to choose on it.
    #[arg(long, conflicts_with = "tta")]
    pub(crate) stress: bool,
    /// Also report the metrics per group of files: `series` groups by the dataset's file
    /// names (IM- and NORMAL2-IM- normals, bacterial and viral pneumonia), with counts,
    /// Wilson intervals and each group's ROC AUC against the other class. Two-class models.
    #[arg(long, value_enum)]
    pub(crate) by: Option<GroupBy>,
}

/// What `evaluate --by` groups the images by.
#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum GroupBy {
    /// The series of the file name: IM-, NORMAL2-IM-, bacteria, virus.
    Series,
}

/// What was evaluated, as `xray evaluate --json` records it.
#[derive(serde::Serialize)]
pub(crate) struct Evaluated<'a> {
    /// The model folder (one model).
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<&'a Path>,
    /// The member folders (an ensemble, probabilities averaged).
    #[serde(skip_serializing_if = "<[PathBuf]>::is_empty")]
    ensemble: &'a [PathBuf],
    /// The labelled split, or with `held_out` the training folder.
    data: &'a Path,
    /// True when the images are the validation patients the training held out of `data`.
    held_out: bool,
    /// Test-time augmentations averaged per image (1: none).
    tta: usize,
    /// Files that could not be read, with the reason.
    skipped: Vec<(String, String)>,
}

/// What `xray evaluate --json` prints.
#[derive(serde::Serialize)]
pub(crate) struct EvaluateOutput<'a> {
    #[serde(flatten)]
    evaluated: Evaluated<'a>,
    /// The temperature applied to the model's probabilities, if it has one.
    temperature: Option<f32>,
    /// Where the second report's threshold comes from.
    threshold_source: String,
    /// At 0.5, then at the threshold chosen on the validation split.
    reports: [EvaluationReport; 2],
    /// With --by: the metrics per group at the validation threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    subgroups: Option<SubgroupReport>,
    /// With --stress: the metrics under each acquisition change at the validation threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    stress: Option<StressReport>,
}

/// What `xray evaluate --json` prints for a K-class model.
#[derive(serde::Serialize)]
pub(crate) struct EvaluateClassesOutput<'a> {
    #[serde(flatten)]
    evaluated: Evaluated<'a>,
    /// The K-class metrics (most probable class).
    classes: MulticlassReport,
    /// For NORMAL, PNEUMONIA_BACTERIA, PNEUMONIA_VIRUS: pneumonia against normal (all
    /// images), then bacterial against viral (pneumonia images), at 0.5.
    two_class_views: Vec<EvaluationReport>,
    /// With --per-image: each image's file, true class and class probabilities.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    per_image: Vec<ClassesRecord>,
}

/// One image of `xray evaluate --json --per-image` for a K-class model.
#[derive(serde::Serialize)]
pub(crate) struct ClassesRecord {
    file: String,
    class: String,
    probabilities: Vec<f32>,
}

/// The model or ensemble `evaluate` was given, and what it predicted.
pub(crate) struct EvaluationRun<'a> {
    args: &'a EvaluateArgs,
    model_dirs: &'a [PathBuf],
    data: &'a Path,
    ensemble: Ensemble,
    predictions: inference::Predictions,
}

impl EvaluationRun<'_> {
    /// The single model, when it is one.
    fn single(&self) -> Option<&SavedModel> {
        match self.ensemble.members() {
            [only] => Some(only),
            _ => None,
        }
    }

    /// The training history of the single model, for its learning curves.
    fn learning_history(&self) -> Option<&training::History> {
        self.single()
            .and_then(|m| m.history.as_ref())
            .filter(|h| !h.epochs.is_empty())
    }

    /// What the JSON records of the evaluated models and images.
    fn evaluated(&self) -> Evaluated<'_> {
        let several = self.model_dirs.len() > 1;
        Evaluated {
            model: (!several).then(|| self.model_dirs[0].as_path()),
            ensemble: if several { self.model_dirs } else { &[] },
            data: self.data,
            held_out: self.args.held_out,
            tta: self.args.tta as usize,
            skipped: self
                .predictions
                .skipped
                .iter()
                .map(|(path, reason)| (path.display().to_string(), reason.clone()))
                .collect(),
        }
    }

    /// The text report's opening lines: the images, the models, the augmentation.
    fn print_heading(&self) {
        let images = self.predictions.files.len();
        if self.args.held_out {
            println!(
                "{images} held-out validation images of {} (the patients training held out)",
                self.data.display()
            );
        } else {
            println!("{images} images in {}", self.data.display());
        }
        if self.model_dirs.len() > 1 {
            println!(
                "ensemble of {} models, probabilities averaged: {}",
                self.model_dirs.len(),
                self.model_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        if self.args.tta > 1 {
            println!(
                "test-time augmentation: each image's probabilities averaged over {} versions (the threshold was chosen without it)",
                self.args.tta
            );
        }
        print_skipped(&self.evaluated().skipped);
    }
}

/// `evaluate`'s "MODEL_DIR... DIR": the model folders and the data folder.
pub(crate) fn models_and_data(paths: &[PathBuf]) -> (&[PathBuf], &Path) {
    let (models, data) = paths.split_at(paths.len() - 1);
    (models, &data[0])
}

pub(crate) fn evaluate_command(args: &EvaluateArgs) -> Result<()> {
    let (model_dirs, dir) = models_and_data(&args.paths);
    let ensemble = Ensemble::load(model_dirs)?;
    let bootstrap = BootstrapOptions::new(args.resamples, 0.95, args.seed)?;
    if let Some(out) = &args.plots {
        writable_dir(out)?;
    }
    let tta = args.tta as usize;
    if (args.stress || args.by.is_some()) && ensemble.class_names().len() != 2 {
        return Err(support::Error::invalid(
            if args.stress { "--stress" } else { "--by" },
            format!("a {}-class model", ensemble.class_names().len()),
            "a two-class model (its metrics are sensitivity and specificity at a threshold)",
        )
        .into());
    }
    let (data, predictions) = if args.held_out {
        let train_dir = training_folder(dir);
        let predictions = ensemble.predict_held_out(&train_dir, tta)?;
        (train_dir, predictions)
    } else {
        (dir.to_path_buf(), ensemble.predict_directory(dir, tta)?)
    };
    let evaluation = EvaluationRun {
        args,
        model_dirs,
        data: &data,
        ensemble,
        predictions,
    };
    let threshold = evaluation.ensemble.threshold();
    let Some(threshold) = threshold.filter(|_| evaluation.predictions.is_binary()) else {
        return evaluate_classes(&evaluation, &bootstrap);
    };
    let (ensemble, predictions) = (&evaluation.ensemble, &evaluation.predictions);
    let at_half = predictions.evaluate(Threshold::HALF)?;
    let at_chosen = predictions.evaluate(threshold)?;
    let labels = predictions.labels_u8();
    let names = [
        ensemble.class_names()[0].as_str(),
        ensemble.class_names()[1].as_str(),
    ];
    let report = |threshold: Threshold| {
        EvaluationReport::new(&labels, &predictions.probs, threshold, names, &bootstrap)
    };
    let mut reports = [report(Threshold::HALF)?, report(threshold)?];
    if args.per_image {
        let records: Vec<ImageRecord> = predictions
            .files
            .iter()
            .zip(labels.iter().zip(&predictions.probs))
            .map(|(file, (&label, &probability))| ImageRecord {
                file: file.display().to_string(),
                label,
                probability,
            })
            .collect();
        reports[0] = reports[0].clone().with_images(records)?;
    }
    let temperature = evaluation.single().and_then(SavedModel::temperature);
    let subgroups = match args.by {
        Some(GroupBy::Series) => Some(predictions.by_series(threshold)?),
        None => None,
    };
    let stress = if args.stress {
        let scan = if args.held_out {
            ensemble.scan_held_out(&data)?
        } else {
            ensemble.scan_directory(&data)?
        };
        if !args.json {
            eprintln!(
                "stress validation: {} images under {} changes",
                scan.files.len(),
                stress::standard_changes().len()
            );
        }
        Some(stress::stress_test(
            ensemble,
            &scan,
            &stress::standard_changes(),
            threshold,
            &bootstrap,
            args.seed,
        )?)
    } else {
        None
    };
    if args.json {
        let output = EvaluateOutput {
            evaluated: evaluation.evaluated(),
            temperature,
            threshold_source: ensemble.threshold_choice().to_string(),
            reports,
            subgroups,
            stress: stress.clone(),
        };
        print_json("report", &output)?;
    } else {
        evaluation.print_heading();
        if let Some(t) = temperature {
            println!(
                "probabilities calibrated with temperature {t:.3} (fitted on the validation split)"
            );
        }
        println!("\n== at threshold 0.5\n{}\n{}", reports[0], at_half.report);
        let caveat = if args.held_out {
            "; chosen on these same images, so its metrics are optimistic"
        } else {
            ""
        };
        println!(
            "\n== at threshold {:.3}, {}{caveat}\n{}\n{}",
            threshold,
            ensemble.threshold_choice(),
            reports[1],
            at_chosen.report
        );
        if let Some(subgroups) = &subgroups {
            println!("\n== {}", subgroups.table());
        }
        if let Some(stress) = &stress {
            println!("\n== {}", stress.table());
        }
    }
    if let Some(out) = &args.plots {
        let split = if args.held_out {
            "held-out validation".to_string()
        } else {
            data.file_name().map_or_else(
                || "evaluated".to_string(),
                |n| n.to_string_lossy().into_owned(),
            )
        };
        save_figures(out, args.figure_scale, || {
            let mut figures = evaluation_figures(&evaluation, &at_half, &at_chosen, &split)?;
            if let Some(stress) = &stress {
                let images = if args.held_out {
                    "validation patients".to_string()
                } else {
                    format!("{split} images")
                };
                figures.push(("stress.png", stress.plot(&images)?));
            }
            Ok(figures)
        })?;
    }
    Ok(())
}

/// `evaluate` for K-class models: the K-class report, and for the three classes the two
/// two-class views at 0.5; with `--plots`, the K x K confusion matrix, the one-vs-rest ROC
/// curves, the two views' ROC curves and the learning curves (one model).
pub(crate) fn evaluate_classes(
    evaluation: &EvaluationRun,
    bootstrap: &BootstrapOptions,
) -> Result<()> {
    let (args, predictions) = (evaluation.args, &evaluation.predictions);
    let report = predictions.multiclass_report(bootstrap)?;
    let views = predictions.pneumonia_views()?;
    let view_list: Vec<(&str, &inference::Predictions)> = views
        .as_ref()
        .map(|v| {
            vec![
                (
                    "pneumonia against normal, p(bacteria) + p(virus)",
                    &v.pneumonia_vs_normal,
                ),
                (
                    "bacterial against viral among the pneumonia images, p(bacteria) / (p(bacteria) + p(virus))",
                    &v.bacteria_vs_virus,
                ),
            ]
        })
        .unwrap_or_default();
    let view_reports: Vec<EvaluationReport> = view_list
        .iter()
        .map(|(_, p)| p.report(Threshold::HALF, bootstrap))
        .collect::<support::Result<_>>()?;
    if args.json {
        let per_image = if args.per_image {
            predictions
                .files
                .iter()
                .zip(predictions.class_labels())
                .zip(predictions.class_probs.rows())
                .map(|((file, label), row)| ClassesRecord {
                    file: file.display().to_string(),
                    class: predictions.class_names[label].clone(),
                    probabilities: row.to_vec(),
                })
                .collect()
        } else {
            Vec::new()
        };
        let output = EvaluateClassesOutput {
            evaluated: evaluation.evaluated(),
            classes: report,
            two_class_views: view_reports,
            per_image,
        };
        print_json("report", &output)?;
    } else {
        evaluation.print_heading();
        println!(
            "classes {}, labelled from {}",
            predictions.class_names.join(", "),
            match evaluation.ensemble.label_source() {
                LabelSource::Folder => "the folders",
                LabelSource::FileName => "the folders and file names",
            }
        );
        println!(
            "\n== {} classes, each image predicted as its most probable class\n{report}",
            predictions.class_names.len()
        );
        for ((title, _), view) in view_list.iter().zip(&view_reports) {
            println!("\n== {title}\n{view}");
        }
    }
    if let Some(out) = &args.plots {
        save_figures(out, args.figure_scale, || {
            classes_figures(evaluation, &view_list)
        })?;
    }
    Ok(())
}

/// The figures `evaluate --plots` writes for a K-class model, with their file names.
pub(crate) fn classes_figures(
    evaluation: &EvaluationRun,
    views: &[(&str, &inference::Predictions)],
) -> Result<Vec<(String, plot::Figure)>> {
    let predictions = &evaluation.predictions;
    let mut figures = vec![
        (
            "confusion.png".to_string(),
            predictions.plot_confusion_matrix()?,
        ),
        ("roc.png".to_string(), predictions.plot_roc_curves()?),
    ];
    for (_, view) in views {
        let labels = view.labels_u8();
        let evaluation = view.evaluate(Threshold::HALF)?;
        if let (Some((fpr, tpr, _)), Some(auc)) = (&evaluation.roc, evaluation.roc_auc) {
            let point = plot::OperatingPoint::from_predictions(
                &labels,
                &view.probs,
                Threshold::HALF,
                "threshold 0.5".to_string(),
            )?;
            figures.push((
                format!(
                    "roc_{}_vs_{}.png",
                    view.class_names[1].to_lowercase(),
                    view.class_names[0].to_lowercase()
                ),
                plot::roc_curve_with_points(fpr, tpr, auc, &[point])?,
            ));
        }
    }
    if let Some(history) = evaluation.learning_history() {
        figures.push((
            LEARNING_CURVES_PNG.to_string(),
            plot::learning_curves_with(&history.curves(), &history.epoch_marks())?,
        ));
    }
    Ok(figures)
}

/// The figures `evaluate --plots` writes, with their file names: the confusion matrix at the
/// validation threshold (stated in its title), the ROC curve with the operating points at 0.5
/// and at the validation threshold, the reliability diagram (before and after the model's
/// temperature, if it has one), the score distributions of the validation and evaluated
/// splits with both thresholds, and the learning curves of the model's training history (one
/// model; an ensemble's validation scores are its members' averaged).
pub(crate) fn evaluation_figures(
    evaluation: &EvaluationRun,
    at_half: &Evaluation,
    at_chosen: &Evaluation,
    split: &str,
) -> Result<Vec<(&'static str, plot::Figure)>> {
    let (ensemble, predictions) = (&evaluation.ensemble, &evaluation.predictions);
    let names = [
        ensemble.class_names()[0].as_str(),
        ensemble.class_names()[1].as_str(),
    ];
    let labels = predictions.labels_u8();
    let threshold = at_chosen.threshold;
    let chosen = match ensemble.decision().source() {
        Some(ThresholdSource::Default) => format!("default threshold {threshold:.2}"),
        _ => format!("validation threshold {threshold:.2}"),
    };
    let mut figures = vec![(
        "confusion.png",
        plot::confusion_matrix_at(&at_chosen.confusion, names, at_chosen.threshold)?,
    )];
    if let (Some((fpr, tpr, _)), Some(auc)) = (&at_half.roc, at_half.roc_auc) {
        let point = |t: Threshold, label: String| {
            plot::OperatingPoint::from_predictions(&labels, &predictions.probs, t, label)
        };
        let points = [
            point(
                at_half.threshold,
                format!("threshold {}", at_half.threshold),
            )?,
            point(at_chosen.threshold, chosen.clone())?,
        ];
        figures.push((
            "roc.png",
            plot::roc_curve_with_points(fpr, tpr, auc, &points)?,
        ));
    }
    let bins = |probs: &[f32]| reliability_bins(&labels, probs, DEFAULT_BINS);
    let temperature = evaluation.single().and_then(SavedModel::temperature);
    let reliability = match temperature {
        Some(t) => {
            // The raw probabilities, recovered by undoing the temperature.
            let raw = apply_temperature(&predictions.probs, 1.0 / t)?;
            plot::reliability_diagram(&[
                (format!("{split}, uncalibrated"), bins(&raw)?),
                (
                    format!("{split}, temperature {t:.2}"),
                    bins(&predictions.probs)?,
                ),
            ])?
        }
        None => plot::reliability_diagram(&[(split.to_string(), bins(&predictions.probs)?)])?,
    };
    figures.push(("reliability.png", reliability));
    let thresholds = [(Threshold::HALF, "0.5"), (threshold, chosen.as_str())];
    let validation = ensemble.validation_scores()?;
    let mut splits = Vec::new();
    // The held-out images are the validation images: one histogram of them is enough.
    if let Some(v) = validation.as_ref().filter(|_| !evaluation.args.held_out) {
        splits.push(plot::ScoreSplit::new(
            "validation",
            v.labels.as_slice(),
            v.probs.as_slice(),
        ));
    }
    splits.push(plot::ScoreSplit::new(split, &labels, &predictions.probs));
    figures.push((
        "scores.png",
        plot::score_distributions(&splits, names, &thresholds)?,
    ));
    if let Some(history) = evaluation.learning_history() {
        figures.push((
            LEARNING_CURVES_PNG,
            plot::learning_curves_with(&history.curves(), &history.epoch_marks())?,
        ));
    }
    Ok(figures)
}
