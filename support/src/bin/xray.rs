//! `xray`: the chest X-ray pipeline from the command line.
//!
//! ```text
//! xray stats DIR                      image counts and size statistics of a split or dataset
//! xray train DIR --out MODEL_DIR      train the CNN (checkpoints every epoch; --resume continues)
//! xray evaluate MODEL_DIR DIR         metrics on a labelled split (report, confusion, ROC AUC)
//! xray predict MODEL_DIR IMAGE...     class and probability of each image
//! ```
//! Errors print one line and exit with status 1 (2 for bad arguments); set `RUST_BACKTRACE=1`
//! for a backtrace on a bug.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use support::cnn::{Model, ModelConfig};
use support::dataset::{class_names, scan_classes};
use support::generator::ImageDataGenerator;
use support::resize::Interpolation;
use support::saved_model::{Checkpoint, SavedModel};
use support::training::{self, ClassWeight, EpochLog, FitOptions, LrSchedule, Progress};
use support::{plot, stats, Error, Result};

#[derive(Parser)]
#[command(
    name = "xray",
    version,
    about = "Chest X-ray pneumonia CNN: statistics, training, evaluation, prediction"
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
    /// The defaults train the recommended model (160x160 inputs, four conv blocks, Adam 3e-4,
    /// a moving average of the weights); `--input-size 130 --filters 32,64,64 --learning-rate
    /// 1e-3 --zoom 0.1 --patience 3` gives the tutorial's model and settings.
    Train(TrainArgs),
    /// Evaluate a trained model on a folder of class subfolders.
    Evaluate {
        /// Folder written by `xray train --out`.
        model_dir: PathBuf,
        /// A labelled split, e.g. data/chest_xray/test.
        dir: PathBuf,
        /// Also save confusion-matrix and ROC figures (PNG) into this folder.
        #[arg(long)]
        plots: Option<PathBuf>,
    },
    /// Predict the class of image files.
    Predict {
        /// Folder written by `xray train --out`.
        model_dir: PathBuf,
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
}

#[derive(clap::Args)]
struct TrainArgs {
    /// The training folder (class subfolders), or a dataset root whose train/ is used.
    dir: PathBuf,
    /// Where the trained model is written (model.safetensors, model.json, checkpoints/).
    #[arg(long)]
    out: PathBuf,
    /// Most epochs.
    #[arg(long, default_value_t = 20)]
    epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Fraction of patients held out for validation (early stopping, threshold).
    #[arg(long, default_value_t = 0.1)]
    validation_split: f64,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = 4)]
    patience: usize,
    /// Loss weights per class.
    #[arg(long, value_enum, default_value_t = WeightArg::Balanced)]
    class_weight: WeightArg,
    /// Seed of initialisation, split, order and augmentation.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 3e-4)]
    learning_rate: f32,
    /// Input height and width in pixels.
    #[arg(long, default_value_t = 160)]
    input_size: usize,
    /// Filters of the convolution layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [32, 64, 128, 128])]
    filters: Vec<usize>,
    /// Units of the hidden dense layer.
    #[arg(long, default_value_t = 128)]
    dense: usize,
    /// Dropout rate before the output layer.
    #[arg(long, default_value_t = 0.5)]
    dropout: f32,
    /// How images are resized to the input size.
    #[arg(long, value_enum, default_value_t = InterpArg::Area)]
    interpolation: InterpArg,
    /// Train without augmentation (rescale only; overrides the augmentation flags).
    #[arg(long)]
    no_augment: bool,
    /// Augmentation: random rotations within +-DEGREES.
    #[arg(long, default_value_t = 20.0)]
    rotation: f32,
    /// Augmentation: random shifts up to this fraction of width and height.
    #[arg(long, default_value_t = 0.1)]
    shift: f32,
    /// Augmentation: random shear up to DEGREES.
    #[arg(long, default_value_t = 0.1)]
    shear: f32,
    /// Augmentation: random zoom in [1 - Z, 1 + Z].
    #[arg(long, default_value_t = 0.2)]
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
    #[arg(long, value_enum, default_value_t = ScheduleArg::Constant)]
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
    /// Continue from the checkpoint in OUT/checkpoints.
    #[arg(long, conflicts_with = "overwrite")]
    resume: bool,
    /// Start over even if OUT/checkpoints holds a checkpoint (it is replaced).
    #[arg(long)]
    overwrite: bool,
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Stats { dir } => stats_command(&dir),
        Command::Train(args) => train_command(&args),
        Command::Evaluate {
            model_dir,
            dir,
            plots,
        } => evaluate_command(&model_dir, &dir, plots.as_deref()),
        Command::Predict { model_dir, images } => predict_command(&model_dir, &images),
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
        println!("{}: {} images", split.display(), scan.files.len());
        for (class, count) in scan.class_names.iter().zip(scan.counts()) {
            let survey = stats::survey_dims(split.join(class))?;
            println!("  {class}: {count} images");
            for line in survey.describe()?.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(())
}

/// A progress bar per epoch with loss, rate and ETA, then a line per epoch.
struct Bar {
    bar: Option<ProgressBar>,
    batches: usize,
}

impl Progress for Bar {
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

fn train_command(args: &TrainArgs) -> Result<()> {
    let train_dir = if args.dir.join("train").is_dir() {
        args.dir.join("train")
    } else {
        args.dir.clone()
    };
    class_names(&train_dir)?;
    let config = model_config(args)?;
    let checkpoints = args.out.join("checkpoints");
    if Checkpoint::card_path(&checkpoints).exists() && !args.resume {
        if args.overwrite {
            std::fs::remove_dir_all(&checkpoints).map_err(|e| Error::io(&checkpoints, e))?;
        } else {
            return Err(Error::Training(format!(
                "{} holds a checkpoint: pass --resume to continue it or --overwrite to start over",
                checkpoints.display()
            )));
        }
    }
    let options = fit_options(args, &checkpoints)?;
    let mut model = Model::new(config, args.seed)?;
    eprintln!("{}", model.summary());
    let history = training::fit(
        &mut model,
        &train_dir,
        &options,
        &mut Bar {
            bar: None,
            batches: 0,
        },
    )?;
    let saved = SavedModel {
        model,
        class_names: class_names(&train_dir)?,
        threshold: history.threshold,
        preprocessing: options.preprocessing(),
        history: Some(history.clone()),
    };
    saved.save(&args.out)?;
    let best = history
        .best()
        .ok_or_else(|| Error::Training("training ran no epoch".into()))?;
    println!(
        "saved {} (best epoch {}: val_loss {:.4}, val_auc {:.3}; threshold {:.3}{})",
        args.out.display(),
        best.epoch,
        best.val_loss,
        best.val_auc,
        history.threshold,
        if history.stopped_early {
            ", stopped early"
        } else {
            ""
        }
    );
    Ok(())
}

/// The model the flags describe.
fn model_config(args: &TrainArgs) -> Result<ModelConfig> {
    ModelConfig::builder()
        .input_size(args.input_size, args.input_size)
        .conv_filters(&args.filters)
        .dense_units(args.dense)
        .dropout(args.dropout)
        .learning_rate(args.learning_rate)
        .build()
}

/// The training options the flags describe.
fn fit_options(args: &TrainArgs, checkpoints: &Path) -> Result<FitOptions> {
    let mut options = FitOptions::default()
        .epochs(args.epochs)
        .batch_size(args.batch_size)
        .validation_split(args.validation_split)
        .patience(args.patience)
        .class_weight(match args.class_weight {
            WeightArg::None => ClassWeight::None,
            WeightArg::Balanced => ClassWeight::Balanced,
        })
        .seed(args.seed)
        .interpolation(match args.interpolation {
            InterpArg::Nearest => Interpolation::Nearest,
            InterpArg::Bilinear => Interpolation::Bilinear,
            InterpArg::Area => Interpolation::Area,
        })
        .lr_schedule(match args.lr_schedule {
            ScheduleArg::Constant => LrSchedule::Constant,
            ScheduleArg::Cosine => LrSchedule::Cosine,
        })
        .ema_momentum((!args.no_ema).then_some(args.ema))
        .checkpoint_dir(checkpoints);
    options = options.augmentation(augmentation(args)?);
    if let Some(steps) = args.steps_per_epoch {
        options = options.steps_per_epoch(steps);
    }
    Ok(options)
}

/// The augmenting generator the flags describe.
fn augmentation(args: &TrainArgs) -> Result<ImageDataGenerator> {
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
    builder.build()
}

fn evaluate_command(model_dir: &Path, dir: &Path, plots: Option<&Path>) -> Result<()> {
    let saved = SavedModel::load(model_dir)?;
    let (predictions, at_half, at_chosen) = training::evaluate(&saved, dir)?;
    println!("{} images in {}", predictions.files.len(), dir.display());
    if !predictions.skipped.is_empty() {
        println!("{} files skipped as unreadable:", predictions.skipped.len());
        for (path, reason) in &predictions.skipped {
            println!("  {}: {reason}", path.display());
        }
    }
    println!("\n== at threshold 0.5\n{at_half}");
    println!(
        "\n== at threshold {:.3}, chosen on the validation split\n{at_chosen}",
        saved.threshold
    );
    if let Some(out) = plots {
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        let names = [saved.class_names[0].as_str(), saved.class_names[1].as_str()];
        plot::confusion_matrix_plot(&at_chosen.confusion, names)?
            .save(out.join("confusion.png"))?;
        if let (Some((fpr, tpr, _)), Some(auc)) = (&at_half.roc, at_half.roc_auc) {
            plot::roc_curve_plot(fpr, tpr, auc)?.save(out.join("roc.png"))?;
        }
        println!("figures written to {}", out.display());
    }
    Ok(())
}

fn predict_command(model_dir: &Path, images: &[PathBuf]) -> Result<()> {
    let saved = SavedModel::load(model_dir)?;
    let mut failed = 0;
    for (path, result) in images.iter().zip(training::predict_files(&saved, images)) {
        match result {
            Ok(p) => {
                let class = &saved.class_names[usize::from(p >= saved.threshold)];
                println!(
                    "{}\t{class}\tp({})={p:.4}",
                    path.display(),
                    saved.class_names[1]
                );
            }
            Err(error) => {
                failed += 1;
                eprintln!("error: {error}");
            }
        }
    }
    if failed > 0 {
        return Err(Error::Training(format!(
            "{failed} of {} images could not be predicted",
            images.len()
        )));
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
        assert_eq!(model_config(&args).unwrap(), ModelConfig::recommended());
        let options = fit_options(&args, Path::new("ckpt")).unwrap();
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
    fn flags_reach_the_options() {
        let args = train_args(&["--no-ema", "--lr-schedule", "cosine", "--equalize"]);
        let options = fit_options(&args, Path::new("ckpt")).unwrap();
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
        assert_eq!(
            fit_options(&args, Path::new("c")).unwrap().ema_momentum,
            Some(0.9)
        );
        assert_eq!(model_config(&args).unwrap().conv_filters(), &[32, 64, 64]);
    }
}
