//! The model's weights as plain named arrays: one [`Param`] per weight, and [`Weights`], a copy
//! of them all.

use super::plan::is_trainable;

/// One named weight array of the model, row-major (`kernel` HWIO, dense `kernel` `(in, out)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Keras-like name, e.g. `conv2d_1.kernel`, `dense.bias` or
    /// `batch_normalization.moving_mean`.
    pub name: String,
    /// Shape, e.g. `[3, 3, 32, 64]`.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

impl Param {
    /// Whether the optimiser trains it: every weight but batch normalisation's moving
    /// statistics (Keras's non-trainable weights), which training updates as averages.
    pub fn trainable(&self) -> bool {
        is_trainable(&self.name)
    }
}

/// A copy of all weights, for restoring the best epoch (see [`Model::weights`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(pub(crate) Vec<Param>);

impl Weights {
    /// The weight arrays in model order.
    pub fn params(&self) -> &[Param] {
        &self.0
    }
}
