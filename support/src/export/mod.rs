//! Trained models in formats other tools run: [`onnx`] writes an ONNX graph for ONNX Runtime
//! and other ONNX readers.

pub mod onnx;

pub use onnx::{save_onnx, to_onnx, OnnxSummary};
