//! The tutorial's CNN on dfdx 0.13 (stable Rust): a runtime-configurable [`Model`] with Keras-like
//! `train_on_batch` / `predict_proba` / `summary`, its weight files, metrics with confidence
//! intervals ([`intervals`]), K-class metrics ([`multiclass`]) and calibration ([`calibration`]), [`report`]s, and the [`loss`]
//! every part of the crate measures with.
//!
//! One concern per file: `config` (the checked [`ModelConfig`]), `layers` (its list of Keras
//! [`Layer`]s), `plan` (the list compiled for an input size: steps, weights, summary rows),
//! `model` (weights, forward pass, training and prediction), `optimizer` (Adam and the weight
//! average), `saliency` (input gradients), `summary` (Keras's table), `weights_file` (safetensors files). Below the model,
//! our own ops over NHWC activations: `fused` (convolution, optional ReLU and max pooling in one
//! pass, with HWIO kernels; its fast paths in `winograd`, `winograd_backward` and `direct`)
//! built from `conv` (geometry, im2col + GEMM, tape plumbing), `matmul` and `tensor_io`; `pool`
//! (pooling settings and the standalone max pool); `global_pool` (global average pooling);
//! `batch_norm` (Keras's BatchNormalization over the last axis, training and inference modes).
//! `reference` holds the unfused convolution the tests compare the fused op with.

mod batch_norm;
pub mod calibration;
mod config;
mod conv;
mod direct;
mod fast_inference;
mod fused;
mod global_pool;
pub mod intervals;
pub mod layers;
pub mod loss;
mod matmul;
pub mod metrics;
mod model;
pub mod multiclass;
mod optimizer;
mod plan;
mod pool;
#[cfg(test)]
mod reference;
pub mod report;
mod saliency;
mod summary;
mod tensor_io;
mod weights_file;
mod winograd;
mod winograd_backward;

pub use config::{ModelConfig, ModelConfigBuilder, DEFAULT_DENSE_UNITS, DEFAULT_DROPOUT};
pub use layers::{Activation, Layer, Padding};
pub use model::{one_hot, Model, Param, Weights, PREDICT_BATCH};
pub use weights_file::saved_config;
