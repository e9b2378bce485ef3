//! `xray evaluate`: metrics, reports and figures of a model or an ensemble on a labelled folder.

use std::path::{Path, PathBuf};

use super::train::training_folder;
use crate::*;
use support::ensemble::Ensemble;
use support::evaluation::ModelEvaluation;
use support::metrics::intervals::BootstrapOptions;
use support::metrics::multiclass::MulticlassReport;
use support::metrics::report::{EvaluationReport, ImageRecord};
use support::metrics::subgroups::SubgroupReport;
use support::metrics::Threshold;
use support::stress::{self, StressReport};

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

/// `evaluate`'s "MODEL_DIR... DIR": the model folders and the data folder.
pub(crate) fn models_and_data(paths: &[PathBuf]) -> (&[PathBuf], &Path) {
    let (models, data) = paths.split_at(paths.len() - 1);
    (models, &data[0])
}

/// What the JSON records of the evaluated models and images.
fn evaluated<'a>(
    args: &EvaluateArgs,
    model_dirs: &'a [PathBuf],
    data: &'a Path,
    evaluation: &ModelEvaluation,
) -> Evaluated<'a> {
    let several = model_dirs.len() > 1;
    Evaluated {
        model: (!several).then(|| model_dirs[0].as_path()),
        ensemble: if several { model_dirs } else { &[] },
        data,
        held_out: args.held_out,
        tta: evaluation.tta(),
        skipped: evaluation
            .predictions()
            .skipped
            .iter()
            .map(|(path, reason)| (path.display().to_string(), reason.clone()))
            .collect(),
    }
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
    let (data, evaluation) = if args.held_out {
        let train_dir = training_folder(dir);
        let evaluation = ModelEvaluation::on_held_out(ensemble, &train_dir, tta)?;
        (train_dir, evaluation)
    } else {
        let evaluation = ModelEvaluation::on_directory(ensemble, dir, tta)?;
        (dir.to_path_buf(), evaluation)
    };
    let evaluation = evaluation.with_bootstrap(bootstrap);
    let evaluated = evaluated(args, model_dirs, &data, &evaluation);
    if !evaluation.is_binary() {
        return evaluate_classes(args, &evaluation, evaluated);
    }
    let mut reports = evaluation.reports()?;
    if args.per_image {
        let predictions = evaluation.predictions();
        let records: Vec<ImageRecord> = predictions
            .files
            .iter()
            .zip(predictions.labels_u8().iter().zip(&predictions.probs))
            .map(|(file, (&label, &probability))| ImageRecord {
                file: file.display().to_string(),
                label,
                probability,
            })
            .collect();
        reports[0] = reports[0].clone().with_images(records)?;
    }
    let subgroups = match args.by {
        Some(GroupBy::Series) => Some(evaluation.by_series()?),
        None => None,
    };
    let stress = if args.stress {
        let changes = stress::standard_changes();
        if !args.json {
            eprintln!(
                "stress validation: {} images under {} changes",
                evaluation.predictions().files.len(),
                changes.len()
            );
        }
        Some(evaluation.stress(&changes, args.seed)?)
    } else {
        None
    };
    if args.json {
        let output = EvaluateOutput {
            evaluated,
            temperature: evaluation.temperature(),
            threshold_source: evaluation.threshold_choice().to_string(),
            reports,
            subgroups,
            stress: stress.clone(),
        };
        print_json("report", &output)?;
    } else {
        print!("{}", evaluation.summary()?);
        if let Some(subgroups) = &subgroups {
            println!("\n== {}", subgroups.table());
        }
        if let Some(stress) = &stress {
            println!("\n== {}", stress.table());
        }
        println!();
    }
    if let Some(out) = &args.plots {
        save_figures(out, args.figure_scale, || {
            let mut figures = evaluation.figures()?;
            if let Some(stress) = &stress {
                let images = match evaluation.images().is_held_out() {
                    true => "validation patients".to_string(),
                    false => format!("{} images", evaluation.images().name()),
                };
                figures.push(("stress.png".to_string(), stress.plot(&images)?));
            }
            Ok(figures)
        })?;
    }
    Ok(())
}

/// `evaluate` for K-class models: the K-class report, and for the three classes the two
/// two-class views at 0.5; with `--plots`, the K x K confusion matrix, the one-vs-rest ROC
/// curves, the two views' ROC curves and the learning curves (one model).
fn evaluate_classes(
    args: &EvaluateArgs,
    evaluation: &ModelEvaluation,
    evaluated: Evaluated<'_>,
) -> Result<()> {
    if args.json {
        let predictions = evaluation.predictions();
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
        let two_class_views = evaluation
            .two_class_views()?
            .iter()
            .map(|(_, view)| view.report(Threshold::HALF, evaluation.bootstrap()))
            .collect::<support::Result<_>>()?;
        let output = EvaluateClassesOutput {
            evaluated,
            classes: evaluation.classes_report()?,
            two_class_views,
            per_image,
        };
        print_json("report", &output)?;
    } else {
        println!("{}", evaluation.summary()?);
    }
    if let Some(out) = &args.plots {
        save_figures(out, args.figure_scale, || Ok(evaluation.figures()?))?;
    }
    Ok(())
}
