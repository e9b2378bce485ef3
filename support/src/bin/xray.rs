//! `xray`: the chest X-ray pipeline from the command line.
//!
//! ```text
//! xray stats DIR                      image counts and size statistics of a split or dataset
//! xray train DIR --out MODEL_DIR      train the CNN (checkpoints every epoch; --resume continues)
//! xray train DIR --out DIR --seeds 1,2,3   train ensemble members into DIR/seed-1, ...
//! xray cv DIR --folds K               patient-grouped k-fold cross-validation (mean and sd)
//! xray evaluate MODEL_DIR... DIR      metrics on a labelled split (report, confusion, ROC AUC);
//!                                     several models: their ensemble; --held-out: on the
//!                                     validation patients training held out of DIR; --tta N
//! xray predict MODEL_DIR... IMAGE...  class and probabilities of each image (--tta N)
//! ```
//! Errors print one line and exit with status 1 (2 for bad arguments); set `RUST_BACKTRACE=1`
//! for a backtrace on a bug.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use support::dataset::{patients_per_class, scan_classes, LabelSource};
use support::ensemble::{Ensemble, ThresholdSource};
use support::generator::ImageDataGenerator;
use support::metrics::calibration::{apply_temperature, reliability_bins, DEFAULT_BINS};
use support::metrics::intervals::BootstrapOptions;
use support::metrics::multiclass::MulticlassReport;
use support::metrics::report::{EvaluationReport, ImageRecord};
use support::metrics::Evaluation;
use support::model::{Model, ModelConfig, DEFAULT_DENSE_UNITS, DEFAULT_DROPOUT};
use support::resize::Interpolation;
use support::saved_model::SavedModel;
use support::training::{
    self, ClassWeight, EpochLog, FitOptions, LrSchedule, Progress, ResumeCheckpoint, RunSettings,
};
use support::{inference, plot, stats, Error};

/// What stops the `xray` tool: the library's errors, and the tool's own checks.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error(transparent)]
    Support(#[from] Error),
    /// `train` was pointed at a model folder that holds a checkpoint, without saying what to do.
    #[error("{}: holds a checkpoint: pass --resume to continue it or --overwrite to start over", .0.display())]
    CheckpointExists(PathBuf),
    /// Training stopped before its first epoch (a resumed run whose patience had run out).
    #[error("training ran no epoch")]
    NoEpochs,
    /// `--json` output could not be encoded.
    #[error("cannot encode the {what} as JSON: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// `--temperature-scaling` asked of a K-class model.
    #[error("--temperature-scaling calibrates two-class models only; this one has {0} classes")]
    TemperatureScalingClasses(usize),
    /// `predict` was given model folders and no image.
    #[error(
        "no image files after the model folders (a folder holding model.json is read as a model)"
    )]
    NoImages,
    /// `train --seeds` with a seed twice: both members would be the same model.
    #[error("--seeds {0}: each seed once (two members with one seed are the same model)")]
    RepeatedSeed(String),
    /// `predict` could not read some of its images (each was reported on its own line).
    #[error("{failed} of {total} images could not be predicted")]
    PredictionsFailed { failed: usize, total: usize },
}

type Result<T, E = CliError> = std::result::Result<T, E>;

/// What `xray --help` says about exit statuses and output streams.
const EXIT_STATUS_HELP: &str = "\
Results go to standard output; progress, model summaries and errors go to standard error.

Exit status:
  0  success
  1  an error: bad data, a missing or unwritable folder, a refused resume, ... (one line on stderr)
  2  bad command-line arguments (clap's usage message)
A closed output pipe (xray predict ... | head -1) ends xray quietly, like other Unix tools.";

#[derive(Parser)]
#[command(
    name = "xray",
    version,
    about = "Chest X-ray pneumonia CNN: statistics, training, evaluation, prediction",
    after_help = EXIT_STATUS_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Image counts per class and size statistics (from file headers only).
    Stats {
        /// A split folder (class subfolders) or a dataset root (train/, test/, val/).
        dir: PathBuf,
    },
    /// Train the CNN on a folder of class subfolders.
    ///
    /// The defaults train the recommended model (160x160 inputs, four conv blocks, Adam 1e-3
    /// decayed along a cosine over 14 epochs, a moving average of the weights); `--input-size 130
    /// --filters 32,64,64 --zoom 0.1 --patience 3 --lr-schedule constant` gives the tutorial's
    /// model at its constant rate, with the mild augmentation's zoom.
    Train(TrainArgs),
    /// Patient-grouped k-fold cross-validation on the training folder: mean and sd of the
    /// held-out metrics, to compare configurations without touching the test split.
    ///
    /// Takes the same model and training flags as `train`.
    Cv(CvArgs),
    /// Evaluate a trained model, or the ensemble of several, on a folder of class subfolders.
    ///
    /// Reports every metric with a 95% confidence interval (stratified bootstrap over images;
    /// DeLong's interval too for ROC AUC) and the calibration (Brier score, expected calibration
    /// error), at threshold 0.5 and at the threshold chosen on the validation split. Several
    /// model folders make an ensemble that averages their probabilities; its threshold is
    /// chosen on the members' averaged validation probabilities when they all held out the same
    /// patients (`xray train --seeds`), else it is 0.5. Make every choice (ensemble, --tta) with
    /// --held-out on the training folder first, then evaluate once on the test split.
    Evaluate(EvaluateArgs),
    /// Predict the class of image files, with one model or the ensemble of several.
    ///
    /// The leading arguments that are folders holding model.json are the models (at least
    /// one); the rest are image files: `xray predict m1 m2 m3 a.jpeg b.jpeg`.
    Predict(PredictArgs),
}

/// The most test-time augmentations `--tta` takes.
const MAX_TTA: u64 = support::augment::MAX_TEST_TIME_TRANSFORMS as u64;

#[derive(clap::Args)]
struct PredictArgs {
    /// Model folders written by `xray train --out`, then image files.
    #[arg(required = true, num_args = 2.., value_names = ["MODEL_DIR", "IMAGE"])]
    paths: Vec<PathBuf>,
    /// Average each image's probabilities over N mild deterministic augmentations (1: none;
    /// then shifts of 4%, zoom 0.93 and 1.07, brightness 0.9 and 1.1, up to 9; no flips).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_TTA))]
    tta: u64,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The training folder (class subfolders), or a dataset root whose train/ is used.
    dir: PathBuf,
    /// Where the trained model is written (model.safetensors, model.json, history.csv,
    /// learning_curves.png, checkpoints/); with --seeds, one such folder per member, OUT/seed-S.
    #[arg(long)]
    out: PathBuf,
    /// Train an ensemble: one member per seed into OUT/seed-S, all holding out the validation
    /// patients of the first seed (or --split-seed), then print the ensemble's validation
    /// metrics. --resume and --overwrite apply to every member.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with = "seed")]
    seeds: Option<Vec<u64>>,
    /// Continue from the checkpoint in OUT/checkpoints (refused if any setting differs).
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start over even if OUT/checkpoints holds a checkpoint (it is replaced).
    #[arg(long)]
    overwrite: bool,
    /// Fit a temperature on the validation split and calibrate the saved model's probabilities
    /// with it (Guo et al. 2017; accuracy at 0.5 and ROC AUC do not change).
    #[arg(long)]
    temperature_scaling: bool,
    /// Pixels per layout pixel of learning_curves.png: 1 (screen size) or 2 to 4 for HiDPI
    /// screens and print (the same figure, 2 to 4 times as wide and high).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4))]
    figure_scale: u32,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(clap::Args)]
struct EvaluateArgs {
    /// Model folders written by `xray train --out` (several: their ensemble), then a labelled
    /// split, e.g. data/chest_xray/test (with --held-out: the training folder).
    #[arg(required = true, num_args = 2.., value_names = ["MODEL_DIR", "DIR"])]
    paths: Vec<PathBuf>,
    /// Evaluate on the validation patients the models' training held out of DIR, the training
    /// folder (or a dataset root whose train/ is used): the same images, drawn again from the
    /// split each model recorded. Refused if the folder's files changed since training, or if
    /// ensemble members held out different patients.
    #[arg(long)]
    held_out: bool,
    /// Average each image's probabilities over N mild deterministic augmentations (1: none;
    /// then shifts of 4%, zoom 0.93 and 1.07, brightness 0.9 and 1.1, up to 9; no flips).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_TTA))]
    tta: u64,
    /// Also save figures (PNG) into this folder: the confusion matrix at the validation
    /// threshold, the ROC curve with the operating points at 0.5 and at the validation
    /// threshold, the reliability diagram, the score distributions of the validation and
    /// evaluated splits, and the model's learning curves (best epoch and early stop marked).
    #[arg(long)]
    plots: Option<PathBuf>,
    /// Pixels per layout pixel of the --plots figures: 1 (screen size, e.g. 500x480 for the ROC
    /// curve) or 2 to 4 for HiDPI screens and print (the same figures, 2 to 4 times as wide and high).
    #[arg(long, default_value_t = 1, requires = "plots", value_parser = clap::value_parser!(u32).range(1..=4))]
    figure_scale: u32,
    /// Print the whole report as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
    /// With --json: add every image's file, label and probability.
    #[arg(long, requires = "json")]
    per_image: bool,
    /// Bootstrap resamples for the confidence intervals.
    #[arg(long, default_value_t = 2000)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
struct CvArgs {
    /// The training folder (class subfolders), or a dataset root whose train/ is used.
    dir: PathBuf,
    /// Number of patient-grouped folds.
    #[arg(long, default_value_t = 5)]
    folds: usize,
    /// Print the results as JSON on stdout instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// The model and training settings `train` and `cv` share.
#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Most epochs.
    #[arg(long, default_value_t = FitOptions::default().epochs)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = FitOptions::default().batch_size)]
    batch_size: usize,
    /// Fraction of patients held out for validation (early stopping, threshold).
    #[arg(long, default_value_t = FitOptions::default().validation_split)]
    validation_split: f64,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = FitOptions::default().patience)]
    patience: usize,
    /// Loss weights per class (the tool balances them by default; the library's default is none).
    #[arg(long, value_enum, default_value_t = WeightArg::Balanced)]
    class_weight: WeightArg,
    /// Seed of initialisation, split, order and augmentation.
    #[arg(long, default_value_t = FitOptions::default().seed)]
    seed: u64,
    /// Seed of the validation split alone (default: --seed); ensemble members share one.
    #[arg(long)]
    split_seed: Option<u64>,
    /// Adam learning rate.
    #[arg(long, default_value_t = ModelConfig::recommended().learning_rate())]
    learning_rate: f32,
    /// Input height and width in pixels.
    #[arg(long, default_value_t = ModelConfig::recommended().input_height())]
    input_size: usize,
    /// Filters of the convolution layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ModelConfig::recommended().conv_filters())]
    filters: Vec<usize>,
    /// Units of the hidden dense layer.
    #[arg(long, default_value_t = DEFAULT_DENSE_UNITS)]
    dense: usize,
    /// Dropout rate before the output layer.
    #[arg(long, default_value_t = DEFAULT_DROPOUT)]
    dropout: f32,
    /// A JSON file with the model's layers in Keras's words, instead of --filters, --dense and
    /// --dropout: e.g. [{"class_name": "Conv2D", "config": {"filters": 32, "kernel_size": 3,
    /// "activation": "relu"}}, {"class_name": "MaxPooling2D", "config": {}}, ...,
    /// {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}] (see configs/).
    #[arg(long, conflicts_with_all = ["filters", "dense", "dropout"])]
    layers: Option<PathBuf>,
    /// How images are resized to the input size.
    #[arg(long, value_enum, default_value_t = InterpArg::from(FitOptions::default().interpolation))]
    interpolation: InterpArg,
    /// Train without augmentation (rescale only; overrides the augmentation flags).
    #[arg(long)]
    no_augment: bool,
    /// Augmentation: random rotations within +-DEGREES.
    #[arg(long, default_value_t = training::DEFAULT_ROTATION_RANGE)]
    rotation: f32,
    /// Augmentation: random shifts up to this fraction of width and height.
    #[arg(long, default_value_t = training::DEFAULT_SHIFT_RANGE)]
    shift: f32,
    /// Augmentation: random shear up to DEGREES.
    #[arg(long, default_value_t = training::DEFAULT_SHEAR_RANGE)]
    shear: f32,
    /// Augmentation: random zoom in [1 - Z, 1 + Z].
    #[arg(long, default_value_t = training::DEFAULT_ZOOM_RANGE)]
    zoom: f32,
    /// Augmentation: random brightness factor in [LO, HI], e.g. 0.8,1.2.
    #[arg(long, value_delimiter = ',', num_args = 2)]
    brightness: Option<Vec<f32>>,
    /// Augmentation: random left-right flips (debatable for chest X-rays).
    #[arg(long)]
    horizontal_flip: bool,
    /// Do not standardise each image to zero mean and unit variance (on by default: Keras's
    /// samplewise_center and samplewise_std_normalization).
    #[arg(long)]
    no_samplewise: bool,
    /// Equalize each image's histogram before standardising (removes exposure and contrast
    /// differences between machines).
    #[arg(long)]
    equalize: bool,
    /// How the learning rate changes over training.
    #[arg(long, value_enum, default_value_t = ScheduleArg::from(FitOptions::default().lr_schedule))]
    lr_schedule: ScheduleArg,
    /// Validate and keep a moving average of the weights with this momentum per step (Keras's
    /// ema_momentum).
    #[arg(long, default_value_t = training::DEFAULT_EMA_MOMENTUM, conflicts_with = "no_ema")]
    ema: f32,
    /// Keep the raw weights, without a moving average.
    #[arg(long)]
    no_ema: bool,
    /// Stop each epoch after this many batches (quick trials).
    #[arg(long)]
    steps_per_epoch: Option<usize>,
    /// Where each image's class comes from: its folder (NORMAL, PNEUMONIA), or its file name
    /// too (NORMAL, PNEUMONIA_BACTERIA, PNEUMONIA_VIRUS: the tutorial's three classes, a
    /// softmax model).
    #[arg(long, value_enum, default_value_t = LabelsArg::Folder)]
    labels: LabelsArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum LabelsArg {
    Folder,
    FileName,
}

impl From<LabelsArg> for LabelSource {
    fn from(arg: LabelsArg) -> Self {
        match arg {
            LabelsArg::Folder => LabelSource::Folder,
            LabelsArg::FileName => LabelSource::FileName,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum WeightArg {
    None,
    Balanced,
}

#[derive(Clone, Copy, ValueEnum)]
enum ScheduleArg {
    Constant,
    Cosine,
}

#[derive(Clone, Copy, ValueEnum)]
enum InterpArg {
    Nearest,
    Bilinear,
    Area,
}

impl From<LrSchedule> for ScheduleArg {
    fn from(schedule: LrSchedule) -> Self {
        match schedule {
            LrSchedule::Constant => ScheduleArg::Constant,
            LrSchedule::Cosine => ScheduleArg::Cosine,
        }
    }
}

impl From<ScheduleArg> for LrSchedule {
    fn from(arg: ScheduleArg) -> Self {
        match arg {
            ScheduleArg::Constant => LrSchedule::Constant,
            ScheduleArg::Cosine => LrSchedule::Cosine,
        }
    }
}

impl From<Interpolation> for InterpArg {
    fn from(interpolation: Interpolation) -> Self {
        match interpolation {
            Interpolation::Nearest => InterpArg::Nearest,
            Interpolation::Bilinear => InterpArg::Bilinear,
            Interpolation::Area => InterpArg::Area,
        }
    }
}

impl From<InterpArg> for Interpolation {
    fn from(arg: InterpArg) -> Self {
        match arg {
            InterpArg::Nearest => Interpolation::Nearest,
            InterpArg::Bilinear => Interpolation::Bilinear,
            InterpArg::Area => Interpolation::Area,
        }
    }
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    let cli = Cli::parse();
    // Training reuses its freed buffers instead of page-faulting them back every step.
    support::allocator::keep_freed_memory();
    let result = match cli.command {
        Command::Stats { dir } => stats_command(&dir),
        Command::Train(args) => train_command(&args),
        Command::Cv(args) => cv_command(&args),
        Command::Evaluate(args) => evaluate_command(&args),
        Command::Predict(args) => predict_command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The split folders under `dir`: itself when it holds class folders with images, else its
/// train/test/val subfolders.
fn splits(dir: &Path) -> Result<Vec<PathBuf>> {
    let named: Vec<PathBuf> = ["train", "test", "val"]
        .iter()
        .map(|s| dir.join(s))
        .filter(|p| p.is_dir())
        .collect();
    if named.is_empty() {
        Ok(vec![dir.to_path_buf()])
    } else {
        Ok(named)
    }
}

fn stats_command(dir: &Path) -> Result<()> {
    for split in splits(dir)? {
        let scan = scan_classes(&split, None, false)?;
        let patients = patients_per_class(&scan);
        println!(
            "{}: {} images of {} patients",
            split.display(),
            scan.files.len(),
            patients.iter().sum::<usize>()
        );
        for ((class, count), patients) in scan.class_names.iter().zip(scan.counts()).zip(patients) {
            let survey = stats::survey_dims(split.join(class))?;
            println!("  {class}: {count} images of {patients} patients");
            for line in survey.describe()?.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(())
}

/// A progress bar per epoch with loss, rate and ETA, then a line per epoch.
#[derive(Default)]
struct Bar {
    bar: Option<ProgressBar>,
    batches: usize,
}

impl Progress for Bar {
    fn resumed(&mut self, epochs_done: usize) {
        eprintln!("continuing the checkpoint after epoch {epochs_done}");
    }
    fn fold(&mut self, fold: usize, folds: usize) {
        eprintln!("== fold {fold} of {folds}");
    }
    fn start(&mut self, train: usize, val: usize, batches: usize) {
        eprintln!("training on {train} images ({batches} batches per epoch), validating on {val}");
        self.batches = batches;
    }
    fn batch(&mut self, epoch: usize, batch: usize, loss: f32) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::new(self.batches as u64);
            bar.set_style(
                ProgressStyle::with_template(
                    "epoch {prefix:>2} [{bar:30}] {pos}/{len} batches, {per_sec}, ETA {eta} {msg}",
                )
                .expect("the template is a valid indicatif template")
                .progress_chars("=> "),
            );
            bar.set_prefix(epoch.to_string());
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        bar.set_position(batch as u64);
        bar.set_message(format!("loss {loss:.4}"));
    }
    fn epoch(&mut self, log: &EpochLog, improved: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!("{log}{}", if improved { "  * best" } else { "" });
    }
}

/// Lets a closed output pipe end the process quietly, as it does other Unix tools: Rust
/// ignores SIGPIPE, which turns `xray predict ... | head -1` into a panic on the next print.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting one signal's disposition to its default at the start of `main`, before
    // any thread is started, races with nothing.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Creates `dir` (and its parents) where missing and checks that a file can be written in it,
/// so that a bad output path is reported before any long work.
fn writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let probe = dir.join(format!(".xray-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| Error::io(dir, e))?;
    std::fs::remove_file(&probe).map_err(|e| Error::io(&probe, e))?;
    Ok(())
}

/// The per-epoch history `train` leaves in the model folder (Keras's CSVLogger format).
const HISTORY_CSV: &str = "history.csv";
/// The learning curves `train` leaves in the model folder.
const LEARNING_CURVES_PNG: &str = "learning_curves.png";

/// The training folder `dir` names: itself, or its train/ when it is a dataset root.
fn training_folder(dir: &Path) -> PathBuf {
    if dir.join("train").is_dir() {
        dir.join("train")
    } else {
        dir.to_path_buf()
    }
}

fn train_command(args: &TrainArgs) -> Result<()> {
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
fn validation_summary(predictions: &inference::Predictions, ensemble: &Ensemble) -> Result<String> {
    if !predictions.is_binary() {
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
    }
    let at_half = predictions.evaluate(0.5)?;
    let at_chosen = predictions.evaluate(ensemble.threshold())?;
    Ok(format!(
        "ROC AUC {}, accuracy {:.3} at 0.5 and {:.3} at threshold {:.3}, {}",
        at_half
            .roc_auc
            .map_or_else(|| "undefined".to_string(), |a| format!("{a:.3}")),
        at_half.accuracy,
        at_chosen.accuracy,
        ensemble.threshold(),
        ensemble.threshold_source()
    ))
}

/// One model's training, checked before any epoch runs.
struct TrainingPlan {
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
fn plan_training(args: &TrainArgs, run: &RunArgs, out: &Path) -> Result<TrainingPlan> {
    let train_dir = training_folder(&args.dir);
    let checkpoints = out.join("checkpoints");
    let options = fit_options(run)?.checkpoint_dir(&checkpoints);
    // The model gets as many classes as the labels give (two from folders, three from names).
    let scan = scan_classes(&train_dir, None, false)?.labelled_by(options.label_source)?;
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
fn train_planned(args: &TrainArgs, plan: TrainingPlan) -> Result<SavedModel> {
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
    let mut saved = SavedModel::from_fit(
        model,
        history.clone(),
        class_names.clone(),
        options.preprocessing(),
    )
    .labelled_by(options.label_source);
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
    let decision = if classes == 2 {
        format!("threshold {:.3}", saved.threshold)
    } else {
        format!("{classes} classes: {}", class_names.join(", "))
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

fn cv_command(args: &CvArgs) -> Result<()> {
    let train_dir = training_folder(&args.dir);
    let options = fit_options(&args.run)?;
    let config = model_config(&args.run, 2)?;
    training::training_scan(&train_dir, &options, config.classes())?;
    let result = support::cross_validation::cross_validate(
        &config,
        &train_dir,
        args.folds,
        &options,
        &mut Bar::default(),
    )?;
    if args.json {
        print_json("results", &result)?;
    } else {
        print!("{result}");
    }
    Ok(())
}

/// The model the flags describe.
fn model_config(args: &RunArgs, classes: usize) -> Result<ModelConfig> {
    let builder = ModelConfig::builder()
        .classes(classes)
        .input_size(args.input_size, args.input_size)
        .learning_rate(args.learning_rate);
    let builder = match &args.layers {
        Some(path) => builder.layers(support::model::read_layers(path)?),
        None => builder
            .conv_filters(&args.filters)
            .dense_units(args.dense)
            .dropout(args.dropout),
    };
    builder.build().map_err(CliError::from)
}

/// The training options the flags describe (no checkpoints).
fn fit_options(args: &RunArgs) -> Result<FitOptions> {
    let mut options = FitOptions::builder()
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .validation_split(args.validation_split)
        .patience(args.patience)
        .class_weight(match args.class_weight {
            WeightArg::None => ClassWeight::None,
            WeightArg::Balanced => ClassWeight::Balanced,
        })
        .seed(args.seed)
        .interpolation(args.interpolation.into())
        .lr_schedule(args.lr_schedule.into())
        .ema_momentum((!args.no_ema).then_some(args.ema))
        .label_source(args.labels.into());
    options = options.augmentation(augmentation(args)?);
    if let Some(steps) = args.steps_per_epoch {
        options = options.steps_per_epoch(steps);
    }
    if let Some(seed) = args.split_seed {
        options = options.split_seed(seed);
    }
    Ok(options.build()?)
}

/// The augmenting generator the flags describe.
fn augmentation(args: &RunArgs) -> Result<ImageDataGenerator> {
    let mut builder = ImageDataGenerator::builder()
        .rescale(1.0 / 255.0)
        .samplewise_center(!args.no_samplewise)
        .samplewise_std_normalization(!args.no_samplewise)
        .equalize_histogram(args.equalize);
    if !args.no_augment {
        builder = builder
            .rotation_range(args.rotation)
            .width_shift_range(args.shift)
            .height_shift_range(args.shift)
            .shear_range(args.shear)
            .zoom_range(args.zoom)
            .horizontal_flip(args.horizontal_flip);
        if let Some(b) = &args.brightness {
            builder = builder.brightness_range(b[0], b[1]);
        }
    }
    Ok(builder.build()?)
}

/// What was evaluated, as `xray evaluate --json` records it.
#[derive(serde::Serialize)]
struct Evaluated<'a> {
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
struct EvaluateOutput<'a> {
    #[serde(flatten)]
    evaluated: Evaluated<'a>,
    /// The temperature applied to the model's probabilities, if it has one.
    temperature: Option<f32>,
    /// Where the second report's threshold comes from.
    threshold_source: String,
    /// At 0.5, then at the threshold chosen on the validation split.
    reports: [EvaluationReport; 2],
}

/// What `xray evaluate --json` prints for a K-class model.
#[derive(serde::Serialize)]
struct EvaluateClassesOutput<'a> {
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
struct ClassesRecord {
    file: String,
    class: String,
    probabilities: Vec<f32>,
}

/// The model or ensemble `evaluate` was given, and what it predicted.
struct EvaluationRun<'a> {
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
fn models_and_data(paths: &[PathBuf]) -> (&[PathBuf], &Path) {
    let (models, data) = paths.split_at(paths.len() - 1);
    (models, &data[0])
}

fn evaluate_command(args: &EvaluateArgs) -> Result<()> {
    let (model_dirs, dir) = models_and_data(&args.paths);
    let ensemble = Ensemble::load(model_dirs)?;
    let bootstrap = BootstrapOptions::new(args.resamples, 0.95, args.seed)?;
    if let Some(out) = &args.plots {
        writable_dir(out)?;
    }
    let tta = args.tta as usize;
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
    if !evaluation.predictions.is_binary() {
        return evaluate_classes(&evaluation, &bootstrap);
    }
    let (ensemble, predictions) = (&evaluation.ensemble, &evaluation.predictions);
    let at_half = predictions.evaluate(0.5)?;
    let at_chosen = predictions.evaluate(ensemble.threshold())?;
    let labels = predictions.labels_u8();
    let names = [
        ensemble.class_names()[0].as_str(),
        ensemble.class_names()[1].as_str(),
    ];
    let report = |threshold: f32| {
        EvaluationReport::new(&labels, &predictions.probs, threshold, names, &bootstrap)
    };
    let mut reports = [report(0.5)?, report(ensemble.threshold())?];
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
    if args.json {
        let output = EvaluateOutput {
            evaluated: evaluation.evaluated(),
            temperature,
            threshold_source: ensemble.threshold_source().to_string(),
            reports,
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
            ensemble.threshold(),
            ensemble.threshold_source(),
            reports[1],
            at_chosen.report
        );
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
            evaluation_figures(&evaluation, &at_half, &at_chosen, &split)
        })?;
    }
    Ok(())
}

/// `evaluate` for K-class models: the K-class report, and for the three classes the two
/// two-class views at 0.5; with `--plots`, the K x K confusion matrix, the one-vs-rest ROC
/// curves, the two views' ROC curves and the learning curves (one model).
fn evaluate_classes(evaluation: &EvaluationRun, bootstrap: &BootstrapOptions) -> Result<()> {
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
        .map(|(_, p)| p.report(0.5, bootstrap))
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

/// Prints `value` as pretty JSON on stdout.
fn print_json(what: &'static str, value: &impl serde::Serialize) -> Result<()> {
    let json =
        serde_json::to_string_pretty(value).map_err(|source| CliError::Json { what, source })?;
    println!("{json}");
    Ok(())
}

/// Lists the files that could not be read, if any.
fn print_skipped(skipped: &[(String, String)]) {
    if !skipped.is_empty() {
        println!("{} files skipped as unreadable:", skipped.len());
        for (path, reason) in skipped {
            println!("  {path}: {reason}");
        }
    }
}

/// Draws the named figures at `scale` and saves each into `out`.
fn save_figures<N: AsRef<Path>>(
    out: &Path,
    scale: u32,
    figures: impl FnOnce() -> Result<Vec<(N, plot::Figure)>>,
) -> Result<()> {
    for (name, figure) in plot::with_figure_scale(scale, figures)?? {
        figure.save(out.join(name))?;
    }
    eprintln!("figures written to {}", out.display());
    Ok(())
}

/// The figures `evaluate --plots` writes for a K-class model, with their file names.
fn classes_figures(
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
        let evaluation = view.evaluate(0.5)?;
        if let (Some((fpr, tpr, _)), Some(auc)) = (&evaluation.roc, evaluation.roc_auc) {
            let point = plot::OperatingPoint::from_predictions(
                &labels,
                &view.probs,
                0.5,
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
fn evaluation_figures(
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
    let chosen = match ensemble.threshold_source() {
        ThresholdSource::Default(_) => format!("default threshold {:.2}", ensemble.threshold()),
        _ => format!("validation threshold {:.2}", ensemble.threshold()),
    };
    let mut figures = vec![(
        "confusion.png",
        plot::confusion_matrix_at(&at_chosen.confusion, names, at_chosen.threshold)?,
    )];
    if let (Some((fpr, tpr, _)), Some(auc)) = (&at_half.roc, at_half.roc_auc) {
        let point = |t: f32, label: String| {
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
    let thresholds = [(0.5, "0.5"), (ensemble.threshold(), chosen.as_str())];
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

/// `predict`'s "MODEL_DIR... IMAGE...": the first path is a model; so is every following folder
/// that holds model.json; the rest are images.
fn models_and_images(paths: &[PathBuf]) -> (&[PathBuf], &[PathBuf]) {
    let is_model = |p: &PathBuf| p.is_dir() && p.join(support::saved_model::CONFIG_FILE).is_file();
    let models = 1 + paths[1..].iter().take_while(|p| is_model(p)).count();
    paths.split_at(models.min(paths.len()))
}

fn predict_command(args: &PredictArgs) -> Result<()> {
    let (model_dirs, images) = models_and_images(&args.paths);
    let ensemble = Ensemble::load(model_dirs)?;
    if images.is_empty() {
        return Err(CliError::NoImages);
    }
    let names = ensemble.class_names();
    let mut failed = 0;
    for (path, result) in images
        .iter()
        .zip(ensemble.predict_files_classes(images, args.tta as usize)?)
    {
        match result {
            Ok(probs) if probs.len() == 2 => {
                let p = probs[1];
                let class = &names[usize::from(p >= ensemble.threshold())];
                println!("{}\t{class}\tp({})={p:.4}", path.display(), names[1]);
            }
            Ok(probs) => {
                // The most probable class, then every class's probability.
                let best = (0..probs.len()).fold(0, |b, c| if probs[c] > probs[b] { c } else { b });
                let each: Vec<String> = names
                    .iter()
                    .zip(&probs)
                    .map(|(name, p)| format!("p({name})={p:.4}"))
                    .collect();
                println!("{}\t{}\t{}", path.display(), names[best], each.join("\t"));
            }
            Err(error) => {
                failed += 1;
                eprintln!("error: {error}");
            }
        }
    }
    if failed > 0 {
        return Err(CliError::PredictionsFailed {
            failed,
            total: images.len(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(options.augmentation, library.augmentation);
        assert_eq!(options.patience, library.patience);
        assert_eq!(options.epochs, library.epochs);
        assert_eq!(options.batch_size, library.batch_size);
        assert_eq!(options.validation_split, library.validation_split);
        assert_eq!(options.ema_momentum, library.ema_momentum);
        assert_eq!(options.lr_schedule, library.lr_schedule);
        assert_eq!(options.interpolation, library.interpolation);
        assert_eq!(options.seed, library.seed);
        // The one deliberate difference: the CLI balances the classes by default.
        assert_eq!(options.class_weight, ClassWeight::Balanced);
    }

    #[test]
    fn labels_from_file_names_make_a_three_class_model_as_the_library_builds_it() {
        let args = train_args(&["--labels", "file-name"]);
        let options = fit_options(&args.run).unwrap();
        assert_eq!(options.label_source, LabelSource::FileName);
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
        assert_eq!(options.ema_momentum, None);
        assert_eq!(options.lr_schedule, LrSchedule::Cosine);
        assert!(options.preprocessing().equalize_histogram);
        let args = train_args(&[
            "--ema",
            "0.9",
            "--input-size",
            "130",
            "--filters",
            "32,64,64",
        ]);
        assert_eq!(fit_options(&args.run).unwrap().ema_momentum, Some(0.9));
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
