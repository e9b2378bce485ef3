//! Everything a notebook calls, in one line: `use support::prelude::*;`.
//!
//! The modules the tutorial's sections use (`dataset`, `imread`, `stats`, `resize`, `prepare`,
//! `plot`, `training`, `inference`, `saved_model`, and `stress` for a model's robustness), and the types a notebook names, in Keras's words where
//! Keras has them: [`ImageDataGenerator`] with [`FlowOptions`], [`Model`] and [`ModelConfig`],
//! [`FitOptions`] for `fit`, [`SavedModel`] and its [`Decision`] (a [`Threshold`] for two
//! classes), [`ModelEvaluation`] for a model's reports and figures on a labelled split, and
//! fastai's [`ClassificationInterpretation`].
//!
//! ```
//! use support::prelude::*;
//! let generator = ImageDataGenerator::builder().rescale(1.0 / 255.0).build()?;
//! let options = FitOptions::builder().epochs(20).batch_size(32).build()?;
//! let model = Model::new(ModelConfig::recommended(), 42)?;
//! # let _ = (generator, options, model);
//! # Ok::<(), support::Error>(())
//! ```

pub use crate::augment::{FillMode, Transform};
pub use crate::dataset::{DataSource, LabelSource};
pub use crate::dev_copy::DatasetKind;
pub use crate::ensemble::Ensemble;
pub use crate::evaluation::ModelEvaluation;
pub use crate::explain::explain;
pub use crate::generator::{ClassMode, ColorMode, FlowOptions, ImageDataGenerator, Subset};
pub use crate::interpretation::ClassificationInterpretation;
pub use crate::metrics::calibration;
pub use crate::metrics::intervals::BootstrapOptions;
pub use crate::metrics::{Decision, Threshold};
pub use crate::model::{Activation, Layer, Model, ModelConfig, Padding};
pub use crate::resize::Interpolation;
pub use crate::saved_model::SavedModel;
pub use crate::training::{ClassWeight, FitOptions, History, LrSchedule, ProgressLines};
pub use crate::{
    dataset, ensemble, imread, inference, plot, prepare, resize, saved_model, split, stats, stress,
    training,
};
pub use crate::{Error, Result};
