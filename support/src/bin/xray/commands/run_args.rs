//! The model and training flags `train` and `cv` share, and what they build.

use std::path::PathBuf;

use clap::ValueEnum;

use crate::*;
use support::dataset::LabelSource;
use support::generator::ImageDataGenerator;
use support::model::{ModelConfig, DEFAULT_DENSE_UNITS, DEFAULT_DROPOUT};
use support::resize::Interpolation;
use support::training::{self, ClassWeight, FitOptions, LrSchedule};

/// The model and training settings `train` and `cv` share.
#[derive(clap::Args, Clone)]
pub(crate) struct RunArgs {
    /// Most epochs.
    #[arg(long, default_value_t = FitOptions::default().epochs())]
    pub(crate) epochs: usize,
    /// Images per step.
    #[arg(long, default_value_t = FitOptions::default().batch_size())]
    pub(crate) batch_size: usize,
    /// Fraction of patients held out for validation (early stopping, threshold).
    #[arg(long, default_value_t = FitOptions::default().validation_split())]
    pub(crate) validation_split: f64,
    /// Epochs without a better validation loss before stopping.
    #[arg(long, default_value_t = FitOptions::default().patience())]
    pub(crate) patience: usize,
    /// Loss weights per class (the tool balances them by default; the library's default is none).
    #[arg(long, value_enum, default_value_t = WeightArg::Balanced)]
    pub(crate) class_weight: WeightArg,
    /// Seed of initialisation, split, order and augmentation.
    #[arg(long, default_value_t = FitOptions::default().seed())]
    pub(crate) seed: u64,
    /// Seed of the validation split alone (default: --seed); ensemble members share one.
    #[arg(long)]
    pub(crate) split_seed: Option<u64>,
    /// Adam learning rate.
    #[arg(long, default_value_t = FitOptions::default().learning_rate())]
    pub(crate) learning_rate: f32,
    /// Input height and width in pixels.
    #[arg(long, default_value_t = ModelConfig::recommended().input_height())]
    pub(crate) input_size: usize,
    /// Filters of the convolution layers, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = ModelConfig::recommended().conv_filters())]
    pub(crate) filters: Vec<usize>,
    /// Units of the hidden dense layer.
    #[arg(long, default_value_t = DEFAULT_DENSE_UNITS)]
    pub(crate) dense: usize,
    /// Dropout rate before the output layer.
    #[arg(long, default_value_t = DEFAULT_DROPOUT)]
    pub(crate) dropout: f32,
    /// A JSON file with the model's layers in Keras's words, instead of --filters, --dense and
    /// --dropout: e.g. [{"class_name": "Conv2D", "config": {"filters": 32, "kernel_size": 3,
    /// "activation": "relu"}}, {"class_name": "MaxPooling2D", "config": {}}, ...,
    /// {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}] (see configs/).
    #[arg(long, conflicts_with_all = ["filters", "dense", "dropout"])]
    pub(crate) layers: Option<PathBuf>,
    /// How images are resized to the input size.
    #[arg(long, value_enum, default_value_t = InterpArg::from(FitOptions::default().interpolation()))]
    pub(crate) interpolation: InterpArg,
    /// Train without augmentation (rescale only; overrides the augmentation flags).
    #[arg(long)]
    pub(crate) no_augment: bool,
    /// Augmentation: random rotations within +-DEGREES.
    #[arg(long, default_value_t = training::DEFAULT_ROTATION_RANGE)]
    pub(crate) rotation: f32,
    /// Augmentation: random shifts up to this fraction of width and height.
    #[arg(long, default_value_t = training::DEFAULT_SHIFT_RANGE)]
    pub(crate) shift: f32,
    /// Augmentation: random shear up to DEGREES.
    #[arg(long, default_value_t = training::DEFAULT_SHEAR_RANGE)]
    pub(crate) shear: f32,
    /// Augmentation: random zoom in [1 - Z, 1 + Z].
    #[arg(long, default_value_t = training::DEFAULT_ZOOM_RANGE)]
    pub(crate) zoom: f32,
    /// Augmentation: random brightness factor in [LO, HI], e.g. `--brightness 0.8 1.2` or
    /// `--brightness 0.8,1.2`.
    #[arg(long, value_delimiter = ',', num_args = 1..=2, value_names = ["LO", "HI"])]
    pub(crate) brightness: Option<Vec<f32>>,
    /// Augmentation: random gamma in [LO, HI], drawn log-uniformly, e.g. `--gamma 0.6 1.6` or
    /// `--gamma 0.6,1.6`: each pixel becomes 255 (x / 255)^gamma, another exposure curve
    /// (above 1 darker).
    #[arg(long, value_delimiter = ',', num_args = 1..=2, value_names = ["LO", "HI"])]
    pub(crate) gamma: Option<Vec<f32>>,
    /// Augmentation: random left-right flips (debatable for chest X-rays).
    #[arg(long)]
    pub(crate) horizontal_flip: bool,
    /// Do not standardise each image to zero mean and unit variance (on by default: Keras's
    /// samplewise_center and samplewise_std_normalization).
    #[arg(long)]
    pub(crate) no_samplewise: bool,
    /// Equalize each image's histogram before standardising (removes exposure and contrast
    /// differences between machines).
    #[arg(long)]
    pub(crate) equalize: bool,
    /// How the learning rate changes over training.
    #[arg(long, value_enum, default_value_t = ScheduleArg::from(FitOptions::default().lr_schedule()))]
    pub(crate) lr_schedule: ScheduleArg,
    /// Validate and keep a moving average of the weights with this momentum per step (Keras's
    /// ema_momentum).
    #[arg(long, default_value_t = training::DEFAULT_EMA_MOMENTUM, conflicts_with = "no_ema")]
    pub(crate) ema: f32,
    /// Keep the raw weights, without a moving average.
    #[arg(long)]
    pub(crate) no_ema: bool,
    /// Stop each epoch after this many batches (quick trials).
    #[arg(long)]
    pub(crate) steps_per_epoch: Option<usize>,
    /// Where each image's class comes from: its folder (NORMAL, PNEUMONIA), or its file name
    /// too (NORMAL, PNEUMONIA_BACTERIA, PNEUMONIA_VIRUS: the tutorial's three classes, a
    /// softmax model).
    #[arg(long, value_enum, default_value_t = LabelsArg::Folder)]
    pub(crate) labels: LabelsArg,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum LabelsArg {
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
pub(crate) enum WeightArg {
    None,
    Balanced,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum ScheduleArg {
    Constant,
    Cosine,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InterpArg {
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

/// The model the flags describe.
pub(crate) fn model_config(args: &RunArgs, classes: usize) -> Result<ModelConfig> {
    let builder = ModelConfig::builder()
        .classes(classes)
        .input_size(args.input_size, args.input_size);
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
pub(crate) fn fit_options(args: &RunArgs) -> Result<FitOptions> {
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
        .learning_rate(args.learning_rate)
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

/// A range flag's two values (`LO HI` or `LO,HI`), refused naming the flag otherwise.
fn range_pair(flag: &'static str, values: &[f32]) -> Result<(f32, f32)> {
    match values {
        [lo, hi] => Ok((*lo, *hi)),
        other => Err(support::Error::invalid(
            flag,
            format!("{other:?}"),
            "two numbers, LO and HI (e.g. 0.8 1.2 or 0.8,1.2)",
        )
        .into()),
    }
}

/// The augmenting generator the flags describe.
pub(crate) fn augmentation(args: &RunArgs) -> Result<ImageDataGenerator> {
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
            let (lo, hi) = range_pair("--brightness", b)?;
            builder = builder.brightness_range(lo, hi);
        }
        if let Some(g) = &args.gamma {
            let (lo, hi) = range_pair("--gamma", g)?;
            builder = builder.gamma_range(lo, hi);
        }
    }
    Ok(builder.build()?)
}
