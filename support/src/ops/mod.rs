//! The CPU kernels the model is built from, over NHWC activations: `fused` (convolution,
//! optional ReLU and max pooling in one pass, with HWIO kernels; its fast paths in `winograd`,
//! `winograd_backward` and `direct`), built from `conv` (geometry, im2col + GEMM, tape
//! plumbing), `matmul` and `tensor_io`; `geometry` (the fused layer's shape, shared by every
//! fast path); `pool` (pooling settings and the standalone max pool); `global_pool` (global
//! average pooling); `batch_norm` (Keras's BatchNormalization over the last axis). `reference`
//! holds the unfused convolution the tests compare the fused op with.

pub(crate) mod batch_norm;
pub(crate) mod conv;
pub(crate) mod direct;
pub(crate) mod fused;
pub(crate) mod geometry;
pub(crate) mod global_pool;
pub(crate) mod matmul;
pub(crate) mod pool;
#[cfg(test)]
pub(crate) mod reference;
pub(crate) mod tensor_io;
pub(crate) mod winograd;
pub(crate) mod winograd_backward;
