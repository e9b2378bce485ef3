//! The tutorial's CNN on dfdx 0.13 (stable Rust): a runtime-configurable [`Model`] with Keras-like
//! `train_on_batch` / `predict_proba` / `summary`, and its weight files.
//!
//! One concern per file: `config` (the checked [`ModelConfig`]), `layers` (its list of Keras
//! [`Layer`]s), `plan` (the list compiled for an input size: steps, weights, summary rows),
//! `param` (the weights as named arrays), `network` (the forward pass and prediction),
//! `train_step` (one training step: labels, loss, gradients, the optimiser's settings),
//! `optimizer` (Adam and the weight average), `fast_inference` (the forward pass without the
//! tape), `saliency` (input gradients), `summary` (Keras's table), `weights_file` (safetensors
//! files). The kernels below the model are in [`crate::ops`].

mod config;
mod fast_inference;
pub mod layers;
mod network;
mod optimizer;
mod param;
mod plan;
mod saliency;
mod summary;
mod train_step;
mod weights_file;

pub use config::{ModelConfig, ModelConfigBuilder, DEFAULT_DENSE_UNITS, DEFAULT_DROPOUT};
pub use layers::{read_layers, Activation, Layer, Padding};
pub use network::{one_hot, Model, PREDICT_BATCH};
pub use optimizer::DEFAULT_LEARNING_RATE;
pub use param::{Param, Weights};
pub use plan::MEMORY_BUDGET_BYTES;
pub use weights_file::saved_config;
