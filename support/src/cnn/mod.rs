//! The tutorial's CNN on dfdx 0.13 (stable Rust): our own convolution and pooling ops and layers
//! (NHWC activations, HWIO kernels, im2col + GEMM), a runtime-configurable [`Model`] with
//! Keras-like `train_on_batch` / `predict_proba` / `summary`, weight files, metrics with
//! confidence intervals ([`intervals`]) and calibration ([`calibration`]), and [`report`]s.

pub mod calibration;
mod checkpoint;
mod config;
mod conv;
mod direct;
mod flatten;
mod fused;
pub mod intervals;
mod matmul;
pub mod metrics;
mod model;
pub mod multiclass;
mod pool;
pub mod report;
mod tensor_io;
mod winograd;

pub use checkpoint::saved_config;
pub use config::{ModelConfig, ModelConfigBuilder};
pub use conv::{conv2d, Conv2D, ConvGeometry, ConvSpec, Padding};
pub use flatten::{Flatten, FlattenTo};
pub use fused::conv2d_relu_pool;
pub use model::{Model, Param, Weights, PREDICT_BATCH};
pub use pool::{max_pool2d, MaxPool2D, PoolSpec};
pub use tensor_io::Nhwc;
