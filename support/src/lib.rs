//! `support`: the chest X-ray tutorial's work, tested, for notebooks and the `xray` CLI.
//!
//! Modules follow the tutorial: [`dataset`] lists folders and classes, [`imread`] reads one
//! image as grey pixels, [`stats`] surveys image sizes, [`resize`] shrinks images the way
//! scikit-image does, [`generator`] and [`augment`] are a Keras-like `ImageDataGenerator`,
//! [`prepare`] resizes whole folders, [`plot`] draws figures that show inline in evcxr, [`model`] is the dfdx model, [`training`] fits it on
//! folders, [`inference`] runs a trained model over folders and files, [`cross_validation`] compares configurations by patient-grouped k-fold, [`saved_model`] keeps trained models on disk with their [`preprocessing`] and [`history`].
//! [`split`] finds the validation patients a model's training held out again, [`ensemble`] averages several models, and [`stress`] measures a model on images changed as another X-ray machine would change them.
//! [`explain`] shows where the model looked for one file (SmoothGrad), and [`interpretation`]
//! shows where it goes wrong (fastai's top losses). [`export`] writes a trained model as ONNX.

pub mod allocator;
pub mod archive;
pub mod augment;
pub mod cross_validation;
pub mod dataset;
pub mod dev_copy;
pub mod ensemble;
mod error;
pub mod evaluation;
pub mod explain;
pub mod export;
mod files;
pub mod generator;
pub mod history;
pub mod imread;
pub mod inference;
pub mod interpretation;
pub mod metrics;
pub mod model;
mod ops;
pub mod plot;
pub mod prelude;
pub mod prepare;
pub mod preprocessing;
pub mod resize;
pub mod saved_model;
mod scaled_decode;
pub mod split;
pub mod stats;
pub mod stress;
pub mod training;

pub use error::{skipped_summary, Error, Result, SettingChange, Skipped};
/// The `ndarray` version `support` uses, so notebooks need no `:dep` of their own.
pub use ndarray;
