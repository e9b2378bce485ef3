//! The crate's one sigmoid and one binary cross-entropy (Keras's `binary_crossentropy`), on
//! plain numbers. Training differentiates the same loss on dfdx's tape instead (see
//! [`binary_cross_entropy_with_logits`]).

use ndarray::NdFloat;

/// Probabilities are clipped to `[EPSILON, 1 - EPSILON]` before the logarithm (Keras's
/// `backend.epsilon()`), so a confident mistake costs about `ln(1e7) = 16.1`, not infinity.
pub const EPSILON: f64 = 1e-7;

/// The logistic function `1 / (1 + e^-z)`: a logit's probability, in the width it is given.
///
/// ```
/// use support::cnn::loss::sigmoid;
/// assert_eq!(sigmoid(0.0f32), 0.5);
/// assert!((sigmoid(2.0f64) - 0.880797).abs() < 1e-6);
/// ```
pub fn sigmoid<F: NdFloat>(z: F) -> F {
    F::one() / (F::one() + (-z).exp())
}

/// Binary cross-entropy of probability `p` for `label` (0 or 1; a soft label in between
/// weighs both terms) as Keras's `binary_crossentropy` computes it on probabilities:
/// `-(label ln p + (1 - label) ln(1 - p))` with `p` clipped to `[EPSILON, 1 - EPSILON]`,
/// here in f64. This is the validation loss `fit` reports and the loss of an image in
/// [`ClassificationInterpretation`](crate::interpretation::ClassificationInterpretation).
///
/// ```
/// use support::cnn::loss::binary_cross_entropy;
/// assert!((binary_cross_entropy(1.0, 0.8) + 0.8f64.ln()).abs() < 1e-12);
/// assert!((binary_cross_entropy(0.0, 1.0) - 1e7f64.ln()).abs() < 1e-6); // clipped
/// ```
pub fn binary_cross_entropy(label: f64, p: f64) -> f64 {
    let p = p.clamp(EPSILON, 1.0 - EPSILON);
    -(label * p.ln() + (1.0 - label) * (1.0 - p).ln())
}

/// Binary cross-entropy of `sigmoid(logit)` for `label`, without clipping, in a form that
/// neither overflows nor loses digits for any logit: `max(z, 0) - z label + ln(1 + e^-|z|)`.
///
/// The same formula as dfdx's `bce_with_logits`, which the training step differentiates on the
/// tape in f32; this scalar version gives [`Model::loss_on_batch`](super::Model::loss_on_batch)
/// and temperature scaling the loss the training minimises. It equals [`binary_cross_entropy`]
/// of `sigmoid(logit)` wherever that probability lies inside the clip range.
pub fn binary_cross_entropy_with_logits(label: f64, logit: f64) -> f64 {
    logit.max(0.0) - logit * label + (-logit.abs()).exp().ln_1p()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_symmetric_and_saturates_without_nan() {
        for z in [-3.0f64, -0.5, 0.25, 4.0] {
            assert!((sigmoid(z) + sigmoid(-z) - 1.0).abs() < 1e-15);
        }
        assert_eq!(sigmoid(-1000.0f32), 0.0);
        assert_eq!(sigmoid(1000.0f32), 1.0);
    }

    #[test]
    fn probability_loss_is_clipped_like_keras() {
        // Unclipped inside the range, for hard and soft labels.
        assert!((binary_cross_entropy(0.0, 0.2) + 0.8f64.ln()).abs() < 1e-12);
        let soft = -(0.3 * 0.6f64.ln() + 0.7 * 0.4f64.ln());
        assert!((binary_cross_entropy(0.3, 0.6) - soft).abs() < 1e-12);
        // p = 0 for a positive and p = 1 for a negative cost ln(1e7), finite.
        assert!((binary_cross_entropy(1.0, 0.0) - 1e7f64.ln()).abs() < 1e-6);
        assert!((binary_cross_entropy(0.0, 1.0) - 1e7f64.ln()).abs() < 1e-6);
        assert!(binary_cross_entropy(1.0, 1.0) < 1e-6);
    }

    #[test]
    fn logit_loss_equals_the_probability_loss_and_stays_finite() {
        for label in [0.0, 0.25, 1.0] {
            for z in [-8.0, -1.5, 0.0, 0.7, 6.0] {
                let a = binary_cross_entropy_with_logits(label, z);
                let b = binary_cross_entropy(label, sigmoid(z));
                assert!((a - b).abs() < 1e-9, "label {label}, logit {z}: {a} vs {b}");
            }
        }
        // Far beyond the clip: the logit form keeps growing linearly instead of capping at 16.1.
        assert!((binary_cross_entropy_with_logits(1.0, -200.0) - 200.0).abs() < 1e-9);
        assert_eq!(binary_cross_entropy_with_logits(0.0, -800.0), 0.0);
    }
}
