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
//! xray predict [MODEL_DIR...] PATH... class and probabilities of images and folders (--tta N,
//!                                     --format, --shard K/N; no model: the shipped one)
//! xray export MODEL_DIR --onnx FILE   the model as an ONNX graph
//! xray prepare-dev-copy DOWNLOAD      rebuild the development copy from the Kaggle download
//! ```
//! Errors print one line and exit with status 1 (2 for bad arguments); set `RUST_BACKTRACE=1`
//! for a backtrace on a bug.

mod commands;
mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use support::{plot, Error};

use commands::cv::{cv_command, CvArgs};
use commands::evaluate::{evaluate_command, EvaluateArgs};
use commands::export::{export_command, ExportArgs};
use commands::predict::{predict_command, PredictArgs};
use commands::prepare::{prepare_dev_copy_command, PrepareDevCopyArgs};
use commands::stats::stats_command;
use commands::train::{train_command, TrainArgs};
use progress::Bar;

/// What stops the `xray` tool: the library's errors, and the tool's own checks.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
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
    /// `predict` was given no model folder and the shipped model is not where it is looked for.
    #[error(
        "no model folder given, and no shipped model found: set XRAY_MODEL to a model folder, \
         or run from the repository's root (models/pretrained/)"
    )]
    NoModel,
    /// `train --seeds` with a seed twice: both members would be the same model.
    #[error("--seeds {0}: each seed once (two members with one seed are the same model)")]
    RepeatedSeed(String),
    /// `predict` could not read some of its images (each was reported on its own line).
    #[error("{failed} of {total} images could not be predicted")]
    PredictionsFailed { failed: usize, total: usize },
}

pub(crate) type Result<T, E = CliError> = std::result::Result<T, E>;

/// What `xray --help` says about exit statuses and output streams.
pub(crate) const EXIT_STATUS_HELP: &str = "\
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
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// Write a trained model as an ONNX graph, for ONNX Runtime and other ONNX readers.
    Export(ExportArgs),
    /// Rebuild the development copy of the dataset from the Kaggle download.
    ///
    /// Keeps exactly the files of the shipped manifest (data/dev_copy_manifest.txt): train and
    /// test resized to 224x224 (PIL BILINEAR, RGB JPEG quality 75), val copied as published.
    /// Writes nothing when the download lacks any of them.
    PrepareDevCopy(PrepareDevCopyArgs),
}

/// The most test-time augmentations `--tta` takes.
pub(crate) const MAX_TTA: u64 = support::augment::MAX_TEST_TIME_TRANSFORMS as u64;

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
        Command::Export(args) => export_command(&args),
        Command::PrepareDevCopy(args) => prepare_dev_copy_command(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Lets a closed output pipe end the process quietly, as it does other Unix tools: Rust
/// ignores SIGPIPE, which turns `xray predict ... | head -1` into a panic on the next print.
pub(crate) fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: resetting one signal's disposition to its default at the start of `main`, before
    // any thread is started, races with nothing.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Creates `dir` (and its parents) where missing and checks that a file can be written in it,
/// so that a bad output path is reported before any long work.
pub(crate) fn writable_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let probe = dir.join(format!(".xray-write-check-{}", std::process::id()));
    std::fs::write(&probe, b"").map_err(|e| Error::io(dir, e))?;
    std::fs::remove_file(&probe).map_err(|e| Error::io(&probe, e))?;
    Ok(())
}

/// Prints `value` as pretty JSON on stdout.
pub(crate) fn print_json(what: &'static str, value: &impl serde::Serialize) -> Result<()> {
    let json =
        serde_json::to_string_pretty(value).map_err(|source| CliError::Json { what, source })?;
    println!("{json}");
    Ok(())
}

/// Draws the named figures at `scale` and saves each into `out`.
pub(crate) fn save_figures<N: AsRef<Path>>(
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
