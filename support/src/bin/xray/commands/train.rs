//! `xray train`: train one model, or several seeds into one folder.

use std::path::{Path, PathBuf};

use super::run_args::*;
use crate::*;
use support::dataset::scan_classes;
use support::ensemble::Ensemble;
use support::metrics::Threshold;
use support::model::{Model, ModelConfig};
use support::saved_model::SavedModel;
use support::training::{self, FitOptions, ResumeCheckpoint, RunSettings};
use support::{inference, plot, Error};

#[derive(clap::Args)]
pub(crate) struct TrainArgs {
    /// The training folder (class subfolders), or a dataset root whose train/ is used.
    pub(crate) dir: PathBuf,
    /// Where the trained model is written (model.safetensors, model.json, history.csv,
    /// learning_curves.png, checkpoints/); with --seeds, one such folder per member, OUT/seed-S.
    #[arg(long)]
    pub(crate) out: PathBuf,
    /// Train an ensemble: one member per seed into OUT/seed-S, all holding out the validation
    /// patients of the first seed (or --split-seed), then print the ensemble's validation
    /// metrics. --resume and --overwrite apply to every member.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "seed")]
    pub(crate) seeds: Option<Vec<u64>>,
    /// Continue from the checkpoint in OUT/checkpoints (refused if any setting differs).
    #[arg(long, conflicts_with = "overwrite")]
    pub(crate) resume: bool,
    /// Start over even if OUT/checkpoints holds a checkpoint (it is replaced).
    #[arg(long)]
    pub(crate) overwrite: bool,
    /// Fit a temperature on the validation split and calibrate the saved model's probabilities
    /// with it (Guo et al. 2017; accuracy at 0.5 and ROC AUC do not change).
    #[arg(long)]
    pub(crate) temperature_scaling: bool,
    /// Pixels per layout pixel of learning_curves.png: 1 (screen size) or 2 to 4 for HiDPI
    /// screens and print (the same figure, 2 to 4 times as wide and high).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
    pub(crate) figure_scale: u32,
    #[command(flatten)]
    pub(crate) run: RunArgs,
}

/// The per-epoch history `train` leaves in the model folder (Keras's CSVLogger format).
pub(crate) const HISTORY_CSV: &str = "history.csv";
/// The learning curves `train` leaves in the model folder.
pub(crate) use support::evaluation::LEARNING_CURVES_PNG;

/// The training folder `dir` names: itself, or its train/ when it is a dataset root.
pub(crate) fn training_folder(dir: &Path) -> PathBuf {
    if dir.join("train").is_dir() {
        dir.join("train")
    } else {
        dir.to_path_buf()
    }
}

pub(crate) fn train_command(args: &TrainArgs) -> Result<()> {
    let Some(seeds) = &args.seeds else {
        let plan = plan_training(args, &args.run, &args.out)?;
        return train_planned(args, plan).map(|_| ());
    };
    if let Some(seed) = seeds
        .iter()
        .find(|s| seeds.iter().filter(|t| t == s).count() > 1)
    {
        return Err(CliError::RepeatedSeed(seed.to_string()));
    }
    // Every member is checked before the first one trains; all share one validation split.
    let split_seed = args.run.split_seed.unwrap_or(seeds[0]);
    let mut plans = Vec::with_capacity(seeds.len());
    for &seed in seeds {
        let run = RunArgs {
            seed,
            split_seed: Some(split_seed),
            ..args.run.clone()
        };
        plans.push(plan_training(
            args,
            &run,
            &args.out.join(format!("seed-{seed}")),
        )?);
    }
    let train_dir = plans[0].train_dir.clone();
    let dirs: Vec<PathBuf> = plans.iter().map(|p| p.out.clone()).collect();
    for (i, plan) in plans.into_iter().enumerate() {
        eprintln!(
            "== member {} of {}: {}",
            i + 1,
            dirs.len(),
            plan.out.display()
        );
        train_planned(args, plan)?;
    }
    let ensemble = Ensemble::load(&dirs)?;
    let validation = ensemble.predict_held_out(&train_dir, 1)?;
    println!(
        "ensemble of {} members on the {} validation images they all held out (split seed {split_seed}): {}",
        dirs.len(),
        validation.files.len(),
        validation_summary(&validation, &ensemble)?
    );
    Ok(())
}

/// A one-line summary of an ensemble's validation predictions: ROC AUC and accuracy at 0.5 and
/// at its threshold (two classes), or accuracy and macro ROC AUC (K classes).
pub(crate) fn validation_summary(
    predictions: &inference::Predictions,
    ensemble: &Ensemble,
) -> Result<String> {
    let Some(threshold) = ensemble.threshold().filter(|_| predictions.is_binary()) else {
        let aucs = predictions.one_vs_rest_roc_auc()?;
        let right = predictions
            .predicted_classes()
            .iter()
            .zip(predictions.class_labels())
            .filter(|(p, y)| **p == *y)
            .count();
        return Ok(format!(
            "accuracy {:.3}, macro ROC AUC {:.3}",
            right as f64 / predictions.files.len().max(1) as f64,
            aucs.iter().sum::<f64>() / aucs.len().max(1) as f64
        ));
    };
    let at_half = predictions.evaluate(Threshold::HALF)?;
    let at_chosen = predictions.evaluate(threshold)?;
    Ok(format!(
        "ROC AUC {}, accuracy {:.3} at 0.5 and {:.3} at threshold {:.3}, {}",
        at_half
            .roc_auc
            .map_or_else(|| "undefined".to_string(), |a| format!("{a:.3}")),
        at_half.accuracy,
        at_chosen.accuracy,
        threshold,
        ensemble.threshold_choice()
    ))
}

/// One model's training, checked before any epoch runs.
pub(crate) struct TrainingPlan {
    train_dir: PathBuf,
    out: PathBuf,
    options: FitOptions,
    config: ModelConfig,
    class_names: Vec<String>,
    seed: u64,
    /// `--overwrite` found a checkpoint to remove before training.
    remove_checkpoints: bool,
}

/// Checks everything about training `run` into `out` that can be checked before the first
/// epoch: the settings, the classes, a checkpoint and what to do with it, a writable folder.
pub(crate) fn plan_training(args: &TrainArgs, run: &RunArgs, out: &Path) -> Result<TrainingPlan> {
    let train_dir = training_folder(&args.dir);
    let checkpoints = out.join("checkpoints");
    let options = fit_options(run)?
        .to_builder()
        .checkpoint_dir(&checkpoints)
        .build()?;
    // The model gets as many classes as the labels give (two from folders, three from names).
    let scan = scan_classes(&train_dir, None, false)?.labelled_by(options.label_source())?;
    let classes = scan.class_names.len();
    if classes < 2 {
        return Err(Error::ClassCount {
            path: train_dir,
            classes: scan.class_names,
            expected: 2,
        }
        .into());
    }
    let config = model_config(run, classes)?;
    if args.temperature_scaling && config.classes() != 2 {
        return Err(CliError::TemperatureScalingClasses(config.classes()));
    }
    let mut remove_checkpoints = false;
    if ResumeCheckpoint::card_path(&checkpoints).exists() {
        if args.resume {
            if let Some(checkpoint) = ResumeCheckpoint::load_if_present(&checkpoints)? {
                let requested = RunSettings::new(&config, &options, &scan);
                checkpoint
                    .settings
                    .check_resume(&requested, &ResumeCheckpoint::card_path(&checkpoints))?;
            }
        } else if args.overwrite {
            remove_checkpoints = true;
        } else {
            return Err(CliError::CheckpointExists(checkpoints));
        }
    }
    // The model folder and its checkpoints must be writable before an epoch is spent.
    if !remove_checkpoints {
        writable_dir(&checkpoints)?;
    }
    Ok(TrainingPlan {
        train_dir,
        out: out.to_path_buf(),
        options,
        config,
        class_names: scan.class_names,
        seed: run.seed,
        remove_checkpoints,
    })
}

/// Trains, saves and summarises one planned model.
pub(crate) fn train_planned(args: &TrainArgs, plan: TrainingPlan) -> Result<SavedModel> {
    let TrainingPlan {
        train_dir,
        out,
        options,
        config,
        class_names,
        seed,
        remove_checkpoints,
    } = plan;
    let checkpoints = out.join("checkpoints");
    if remove_checkpoints {
        std::fs::remove_dir_all(&checkpoints).map_err(|e| Error::io(&checkpoints, e))?;
        writable_dir(&checkpoints)?;
    }
    let classes = config.classes();
    let mut model = Model::new(config, seed)?;
    eprintln!("{}", model.summary());
    let history = training::fit(&mut model, &train_dir, &options, &mut Bar::default())?;
    let mut saved = SavedModel::from_fit(model, history.clone(), &options)?;
    if args.temperature_scaling {
        let t = saved.calibrate()?;
        eprintln!("temperature {t:.3} fitted on the validation split");
    }
    saved.save(&out)?;
    // What Keras's CSVLogger would have left, and the curves, for a look without a notebook.
    let csv_path = out.join(HISTORY_CSV);
    std::fs::write(&csv_path, history.to_csv()).map_err(|e| Error::io(&csv_path, e))?;
    plot::with_figure_scale(args.figure_scale, || {
        plot::learning_curves_with(&history.curves(), &history.epoch_marks())
    })??
    .save(out.join(LEARNING_CURVES_PNG))?;
    let best = history.best().ok_or(CliError::NoEpochs)?;
    let decision = match saved.decision.threshold() {
        Some(threshold) => format!("threshold {threshold:.3}"),
        None => format!("{classes} classes: {}", class_names.join(", ")),
    };
    println!(
        "saved {} (best epoch {}: val_loss {:.4}, val_acc {:.3}, val_auc {:.3}{}; {decision}{})",
        out.display(),
        best.epoch,
        best.val_loss,
        best.val_accuracy,
        best.val_auc,
        if classes == 2 { "" } else { " (macro)" },
        if history.stopped_early {
            ", stopped early"
        } else {
            ""
        }
    );
    Ok(saved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use support::dataset::LabelSource;
    use support::training::{ClassWeight, LrSchedule};

    fn train_args(extra: &[&str]) -> TrainArgs {
        let mut argv = vec!["xray", "train", "data", "--out", "model"];
        argv.extend(extra);
        match Cli::parse_from(argv).command {
            Command::Train(args) => args,
            _ => unreachable!("a train command was parsed"),
        }
    }

    #[test]
    fn train_defaults_are_the_recommended_model_and_fits_defaults() {
        let args = train_args(&[]);
        assert_eq!(
            model_config(&args.run, 2).unwrap(),
            ModelConfig::recommended()
        );
        let options = fit_options(&args.run).unwrap();
        let library = FitOptions::default();
        assert_eq!(options.augmentation(), library.augmentation());
        assert_eq!(options.patience(), library.patience());
        assert_eq!(options.epochs(), library.epochs());
        assert_eq!(options.batch_size(), library.batch_size());
        assert_eq!(options.validation_split(), library.validation_split());
        assert_eq!(options.ema_momentum(), library.ema_momentum());
        assert_eq!(options.lr_schedule(), library.lr_schedule());
        assert_eq!(options.interpolation(), library.interpolation());
        assert_eq!(options.seed(), library.seed());
        // The one deliberate difference: the CLI balances the classes by default.
        assert_eq!(options.class_weight(), ClassWeight::Balanced);
    }

    #[test]
    fn labels_from_file_names_make_a_three_class_model_as_the_library_builds_it() {
        let args = train_args(&["--labels", "file-name"]);
        let options = fit_options(&args.run).unwrap();
        assert_eq!(options.label_source(), LabelSource::FileName);
        assert_eq!(train_args(&[]).run.labels, LabelsArg::Folder);
        let three = ModelConfig::recommended()
            .to_builder()
            .classes(3)
            .build()
            .unwrap();
        assert_eq!(model_config(&args.run, 3).unwrap(), three);
    }

    #[test]
    fn flags_reach_the_options() {
        let args = train_args(&["--no-ema", "--lr-schedule", "cosine", "--equalize"]);
        let options = fit_options(&args.run).unwrap();
        assert_eq!(options.ema_momentum(), None);
        assert_eq!(options.lr_schedule(), LrSchedule::Cosine);
        assert!(options.preprocessing().equalize_histogram);
        let args = train_args(&[
            "--ema",
            "0.9",
            "--input-size",
            "130",
            "--filters",
            "32,64,64",
        ]);
        assert_eq!(fit_options(&args.run).unwrap().ema_momentum(), Some(0.9));
        assert_eq!(
            model_config(&args.run, 2).unwrap().conv_filters(),
            &[32, 64, 64]
        );
    }

    #[test]
    fn figures_are_saved_at_1x_unless_asked() {
        assert_eq!(train_args(&[]).figure_scale, 1);
        assert_eq!(train_args(&["--figure-scale", "2"]).figure_scale, 2);
        let parse = |extra: &[&str]| {
            let mut argv = vec!["xray", "evaluate", "model", "data"];
            argv.extend(extra);
            Cli::try_parse_from(argv).map(|cli| match cli.command {
                Command::Evaluate(args) => args.figure_scale,
                _ => unreachable!("an evaluate command was parsed"),
            })
        };
        assert_eq!(parse(&["--plots", "figs"]).unwrap(), 1);
        assert_eq!(
            parse(&["--plots", "figs", "--figure-scale", "2"]).unwrap(),
            2
        );
        assert!(parse(&["--plots", "figs", "--figure-scale", "5"]).is_err());
        assert!(parse(&["--plots", "figs", "--figure-scale", "0"]).is_err());
        assert!(
            parse(&["--figure-scale", "2"]).is_err(),
            "only with --plots"
        );
    }
}
