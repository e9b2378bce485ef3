//! The crate's one sigmoid and softmax and its cross-entropies (Keras's `binary_crossentropy`
//! and `categorical_crossentropy`), on plain numbers. Training differentiates the same loss on dfdx's tape instead (see
//! [`binary_cross_entropy_with_logits`]).

use ndarray::NdFloat;

/// Probabilities are clipped to `[EPSILON, 1 - EPSILON]` before the logarithm (Keras's
/// `backend.epsilon()`), so a confident mistake costs about `ln(1e7) = 16.1`, not infinity.
pub const EPSILON: f64 = 1e-7;

/// The logistic function `1 / (1 + e^-z)`: a logit's probability, in the width it is given.
///
/// ```
/// use support::metrics::loss::sigmoid;
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
/// use support::metrics::loss::binary_cross_entropy;
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
/// tape in f32; this scalar version gives [`Model::loss_on_batch`](crate::model::Model::loss_on_batch)
/// and temperature scaling the loss the training minimises. It equals [`binary_cross_entropy`]
/// of `sigmoid(logit)` wherever that probability lies inside the clip range.
pub fn binary_cross_entropy_with_logits(label: f64, logit: f64) -> f64 {
    logit.max(0.0) - logit * label + (-logit.abs()).exp().ln_1p()
}

/// The softmax of one row of logits, `e^(z_k - max z) / sum_j e^(z_j - max z)` (shifted by
/// the largest logit so nothing overflows): the probabilities of a K-class model.
pub fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exp: Vec<f32> = logits.iter().map(|&z| (z - max).exp()).collect();
    let total: f32 = exp.iter().sum();
    exp.into_iter().map(|e| e / total).collect()
}

/// Categorical cross-entropy of a row of class probabilities `p` for a row of labels (one-hot,
/// or soft labels summing to 1), as Keras's `categorical_crossentropy` computes it on
/// probabilities: `p` scaled to sum to 1, clipped to `[EPSILON, 1 - EPSILON]`, then
/// `-sum_k label_k ln p_k`, here in f64. The validation loss of a K-class model.
pub fn categorical_cross_entropy(labels: &[f32], p: &[f32]) -> f64 {
    let total: f64 = p.iter().map(|&v| f64::from(v)).sum();
    labels
        .iter()
        .zip(p)
        .map(|(&t, &v)| {
            let v = (f64::from(v) / total).clamp(EPSILON, 1.0 - EPSILON);
            -f64::from(t) * v.ln()
        })
        .sum()
}

/// Categorical cross-entropy of `softmax(logits)` for a row of labels, without clipping:
/// `-sum_k label_k (z_k - logsumexp(z))`, in f64. What a K-class model's training step
/// differentiates (with dfdx's `log_softmax`, in f32).
pub fn categorical_cross_entropy_with_logits(labels: &[f32], logits: &[f32]) -> f64 {
    let max = logits
        .iter()
        .map(|&z| f64::from(z))
        .fold(f64::NEG_INFINITY, f64::max);
    let log_sum = max
        + logits
            .iter()
            .map(|&z| (f64::from(z) - max).exp())
            .sum::<f64>()
            .ln();
    labels
        .iter()
        .zip(logits)
        .map(|(&t, &z)| -f64::from(t) * (f64::from(z) - log_sum))
        .sum()
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

    #[test]
    fn categorical_cross_entropy_as_keras_documents_it() {
        // Keras's `categorical_crossentropy` docstring: y_true [[0, 1, 0], [0, 0, 1]],
        // y_pred [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] give [0.0513, 2.303].
        let a = categorical_cross_entropy(&[0.0, 1.0, 0.0], &[0.05, 0.95, 0.0]);
        let b = categorical_cross_entropy(&[0.0, 0.0, 1.0], &[0.1, 0.8, 0.1]);
        assert!((a - 0.0513).abs() < 1e-4, "{a}");
        assert!((b - 2.303).abs() < 1e-3, "{b}");
        // A confident mistake is clipped, not infinite.
        let c = categorical_cross_entropy(&[1.0, 0.0, 0.0], &[0.0, 1.0, 0.0]);
        assert!((c - 1e7f64.ln()).abs() < 1e-6, "{c}");
    }

    #[test]
    fn softmax_and_the_logit_form_agree() {
        let z = [2.0f32, -1.0, 0.5];
        let p = softmax(&z);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[0] > p[2] && p[2] > p[1]);
        for labels in [[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0], [0.2, 0.3, 0.5]] {
            let from_logits = categorical_cross_entropy_with_logits(&labels, &z);
            let from_probs = categorical_cross_entropy(&labels, &p);
            assert!(
                (from_logits - from_probs).abs() < 1e-6,
                "{from_logits} {from_probs}"
            );
        }
        // Huge logits neither overflow nor give NaN.
        let big = softmax(&[1000.0, 0.0, -1000.0]);
        assert_eq!(big, vec![1.0, 0.0, 0.0]);
        let l = categorical_cross_entropy_with_logits(&[0.0, 1.0, 0.0], &[1000.0, 0.0, -1000.0]);
        assert!((l - 1000.0).abs() < 1e-9, "{l}");
    }
}
