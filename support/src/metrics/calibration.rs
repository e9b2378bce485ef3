//! Calibration of predicted probabilities: Brier score, expected calibration error (ECE),
//! reliability-diagram bins, and temperature scaling of a sigmoid output.
//!
//! ECE and temperature scaling follow Guo, Pleiss, Sun & Weinberger, "On Calibration of Modern
//! Neural Networks", ICML 2017. Probabilities must lie in [0, 1]; labels are 0 (NORMAL) or 1
//! (PNEUMONIA), any [`BinaryLabel`].
//!
//! Binning: `bins` equal-width bins over [0, 1]; probability `p` (an f32, widened to f64) goes
//! to bin `min(floor(p * bins), bins - 1)`, so bin `k` holds `k/bins <= p < (k+1)/bins` and the
//! last bin also holds `p = 1`. A value exactly on an inner edge belongs to the bin above it.
//! Note that an f32 such as `0.7f32` is slightly below 0.7 and so falls in the bin below.

use serde::{Deserialize, Serialize};

use super::binary::{check_inputs, BinaryLabel};
use super::intervals::f64_or_nan;
use super::loss::{binary_cross_entropy_with_logits, sigmoid, EPSILON};
use crate::error::{Error, Result};

/// Bins used for ECE and reliability diagrams by default (Guo et al. use 15; 10 is the common choice).
pub const DEFAULT_BINS: usize = 10;

/// Probabilities are clipped to `[CLIP, 1 - CLIP]` before the logit in temperature scaling
/// (the loss's [`EPSILON`]).
pub const CLIP: f64 = EPSILON;

/// Checks labels and probabilities (same length, labels 0/1, probabilities in [0, 1]).
fn check_probabilities<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<Vec<bool>> {
    let truth = check_inputs(labels, probs)?;
    check_unit_range(probs)?;
    Ok(truth)
}

/// Rejects probabilities outside [0, 1] (and NaN).
fn check_unit_range(probs: &[f32]) -> Result<()> {
    match probs
        .iter()
        .enumerate()
        .find(|(_, p)| !(0.0..=1.0).contains(*p))
    {
        Some((i, p)) => Err(Error::invalid(
            "probs",
            format!("{p} at index {i}"),
            "probabilities in [0, 1]",
        )),
        None => Ok(()),
    }
}

/// Mean squared difference between the predicted probability and the label (0 is perfect).
pub fn brier_score<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<f64> {
    let truth = check_probabilities(labels, probs)?;
    let sum: f64 = truth
        .iter()
        .zip(probs)
        .map(|(&t, &p)| (f64::from(p) - f64::from(u8::from(t))).powi(2))
        .sum();
    Ok(sum / probs.len() as f64)
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Lower edge of the bin (inclusive).
    pub lower: f64,
    /// Upper edge of the bin (exclusive, except 1 for the last bin).
    pub upper: f64,
    /// Number of samples whose probability falls in the bin.
    pub count: u64,
    /// Mean predicted probability of those samples (`NaN` when the bin is empty).
    #[serde(deserialize_with = "f64_or_nan")]
    pub mean_predicted: f64,
    /// Fraction of those samples that are positive (`NaN` when the bin is empty).
    #[serde(deserialize_with = "f64_or_nan")]
    pub fraction_positive: f64,
}

/// Reliability-diagram data: `bins` equal-width bins over [0, 1] (see the module docs for the edges).
pub fn reliability_bins<L: BinaryLabel>(
    labels: &[L],
    probs: &[f32],
    bins: usize,
) -> Result<Vec<ReliabilityBin>> {
    let truth = check_probabilities(labels, probs)?;
    if bins == 0 || bins > 1000 {
        return Err(Error::invalid("bins", bins, "1 to 1000, e.g. 10"));
    }
    // Per bin: count, sum of probabilities, number of positives.
    let mut sums = vec![(0u64, 0.0f64, 0u64); bins];
    for (&t, &p) in truth.iter().zip(probs) {
        let p = f64::from(p);
        let k = ((p * bins as f64).floor() as usize).min(bins - 1);
        sums[k].0 += 1;
        sums[k].1 += p;
        sums[k].2 += u64::from(t);
    }
    Ok(sums
        .into_iter()
        .enumerate()
        .map(|(k, (count, sum, positives))| {
            let mean = |x: f64| {
                if count == 0 {
                    f64::NAN
                } else {
                    x / count as f64
                }
            };
            ReliabilityBin {
                lower: k as f64 / bins as f64,
                upper: (k + 1) as f64 / bins as f64,
                count,
                mean_predicted: mean(sum),
                fraction_positive: mean(positives as f64),
            }
        })
        .collect())
}

/// ECE from reliability bins: the sum over bins of `(count / n) * |mean predicted - fraction positive|`.
///
/// Empty bins contribute nothing; `NaN` when all bins are empty.
pub fn ece_from_bins(bins: &[ReliabilityBin]) -> f64 {
    let n: u64 = bins.iter().map(|b| b.count).sum();
    if n == 0 {
        return f64::NAN;
    }
    bins.iter()
        .filter(|b| b.count > 0)
        .map(|b| b.count as f64 / n as f64 * (b.mean_predicted - b.fraction_positive).abs())
        .sum()
}

/// Expected calibration error with `bins` equal-width bins (Guo et al. 2017, eq. 3).
pub fn expected_calibration_error<L: BinaryLabel>(
    labels: &[L],
    probs: &[f32],
    bins: usize,
) -> Result<f64> {
    Ok(ece_from_bins(&reliability_bins(labels, probs, bins)?))
}

/// `ln(p / (1 - p))` of `p` clipped to `[CLIP, 1 - CLIP]`.
fn clipped_logit(p: f32) -> f64 {
    let p = f64::from(p).clamp(CLIP, 1.0 - CLIP);
    (p / (1.0 - p)).ln()
}

/// Mean binary cross-entropy of `sigmoid(logit / t)` against the labels.
fn temperature_loss(truth: &[bool], logits: &[f64], t: f64) -> f64 {
    let sum: f64 = truth
        .iter()
        .zip(logits)
        .map(|(&y, &z)| binary_cross_entropy_with_logits(f64::from(u8::from(y)), z / t))
        .sum();
    sum / truth.len() as f64
}

/// Smallest and largest temperature [`fit_temperature`] searches.
pub const TEMPERATURE_RANGE: (f32, f32) = (0.01, 100.0);

/// The temperature `T > 0` that minimises the mean binary cross-entropy of
/// `sigmoid(logit(p) / T)` against the labels (Guo et al. 2017, section 4.2), for
/// probabilities `p` of a sigmoid output; fit it on validation data.
///
/// Probabilities are clipped to `[1e-7, 1 - 1e-7]` before the logit. The loss is convex in
/// `1 / T`, hence unimodal in `ln T`, and golden-section search on `ln T` over
/// [`TEMPERATURE_RANGE`] finds its minimum to about 1e-9 relative. A result at an end of the
/// range means the loss keeps falling beyond it: perfectly separated data push `T` towards 0,
/// scores that carry no information (or rank the classes backwards) push it towards infinity.
/// `T > 1` softens over-confident probabilities, `T < 1` sharpens under-confident ones.
pub fn fit_temperature<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<f32> {
    let truth = check_probabilities(labels, probs)?;
    let logits: Vec<f64> = probs.iter().map(|&p| clipped_logit(p)).collect();
    let loss = |u: f64| temperature_loss(&truth, &logits, u.exp());
    let (lo, hi) = (
        f64::from(TEMPERATURE_RANGE.0).ln(),
        f64::from(TEMPERATURE_RANGE.1).ln(),
    );
    let u = golden_section_minimum(loss, lo, hi, 1e-10);
    Ok(u.exp().clamp(
        f64::from(TEMPERATURE_RANGE.0),
        f64::from(TEMPERATURE_RANGE.1),
    ) as f32)
}

/// The minimum of a unimodal `f` on `[a, b]` by golden-section search, to within `tolerance` in x.
fn golden_section_minimum(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64, tolerance: f64) -> f64 {
    let inv_phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - inv_phi * (b - a);
    let mut d = a + inv_phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    while b - a > tolerance {
        if fc <= fd {
            b = d;
            d = c;
            fd = fc;
            c = b - inv_phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + inv_phi * (b - a);
            fd = f(d);
        }
    }
    // An end of the range wins when the loss is still falling there.
    [a, (a + b) / 2.0, b]
        .into_iter()
        .min_by(|&x, &y| f(x).total_cmp(&f(y)))
        .unwrap_or(a)
}

/// Probabilities rescaled by temperature `t`: `sigmoid(logit(p) / t)` with `p` clipped to
/// `[1e-7, 1 - 1e-7]` as in [`fit_temperature`] (so `t = 1` returns the clipped probabilities).
pub fn apply_temperature(probs: &[f32], t: f32) -> Result<Vec<f32>> {
    if !(t.is_finite() && t > 0.0) {
        return Err(Error::invalid(
            "temperature",
            t,
            "a positive finite number, e.g. from fit_temperature",
        ));
    }
    check_unit_range(probs)?;
    let t = f64::from(t);
    Ok(probs
        .iter()
        .map(|&p| sigmoid(clipped_logit(p) / t) as f32)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    #[test]
    fn brier_by_hand() {
        // (0.9-1)^2 + (0.2-0)^2 + (0.6-0)^2 + (0.5-1)^2 = 0.01 + 0.04 + 0.36 + 0.25 = 0.66, / 4.
        let b = brier_score(&[1u8, 0, 0, 1], &[0.9, 0.2, 0.6, 0.5]).unwrap();
        assert!((b - 0.165).abs() < 1e-7, "{b}");
        assert_eq!(brier_score(&[1u8, 0], &[1.0, 0.0]).unwrap(), 0.0);
        assert!(brier_score(&[1u8], &[1.5]).is_err());
        assert!(brier_score(&[1u8, 0], &[0.5]).is_err());
    }

    #[test]
    fn ece_and_bins_by_hand() {
        // 4 bins. Bin 0 [0, .25): 0.125 (0), 0.125 (1) -> mean .125, frac .5, gap .375.
        // Bin 2 [.5, .75): 0.5 (1) -> on the edge, goes up; gap .5. Bin 3: 1.0 (1) -> gap 0.
        let labels = [0u8, 1, 1, 1];
        let probs = [0.125f32, 0.125, 0.5, 1.0];
        let bins = reliability_bins(&labels, &probs, 4).unwrap();
        assert_eq!(
            bins.iter().map(|b| b.count).collect::<Vec<_>>(),
            vec![2, 0, 1, 1]
        );
        assert_eq!((bins[0].lower, bins[0].upper), (0.0, 0.25));
        assert_eq!(bins[3].upper, 1.0);
        assert_eq!(bins[0].mean_predicted, 0.125);
        assert_eq!(bins[0].fraction_positive, 0.5);
        assert!(bins[1].mean_predicted.is_nan() && bins[1].fraction_positive.is_nan());
        // ECE = 2/4 * .375 + 1/4 * .5 + 1/4 * 0 = 0.3125.
        let ece = expected_calibration_error(&labels, &probs, 4).unwrap();
        assert!((ece - 0.3125).abs() < 1e-12, "{ece}");
        assert!(reliability_bins(&labels, &probs, 0).is_err());
        assert!(ece_from_bins(&[]).is_nan());
    }

    #[test]
    fn calibrated_data_has_small_ece() {
        // Labels drawn as Bernoulli(p): calibrated by construction.
        let mut rng = StdRng::seed_from_u64(1);
        let n = 20_000;
        let probs: Vec<f32> = (0..n).map(|_| rng.gen::<f32>()).collect();
        let labels: Vec<u8> = probs
            .iter()
            .map(|&p| u8::from(rng.gen::<f32>() < p))
            .collect();
        let ece = expected_calibration_error(&labels, &probs, DEFAULT_BINS).unwrap();
        assert!(ece < 0.015, "calibrated ECE {ece}");
        // Over-confident: the same labels with probabilities pushed towards 0 and 1.
        let sharp = apply_temperature(&probs, 0.3).unwrap();
        let ece_sharp = expected_calibration_error(&labels, &sharp, DEFAULT_BINS).unwrap();
        assert!(ece_sharp > 0.1, "over-confident ECE {ece_sharp}");
    }

    #[test]
    fn temperature_is_recovered() {
        // True logits z; the model reports sigmoid(z / T0) with T0 = 0.5 (over-confident),
        // labels are Bernoulli(sigmoid(z)); the best T undoes the model's division.
        let mut rng = StdRng::seed_from_u64(2);
        let t0 = 0.5;
        let n = 50_000;
        let (mut labels, mut probs) = (Vec::new(), Vec::new());
        for _ in 0..n {
            let z: f64 = rng.gen_range(-4.0..4.0);
            probs.push(sigmoid(z / t0) as f32);
            labels.push(u8::from(rng.gen::<f64>() < sigmoid(z)));
        }
        let t = fit_temperature(&labels, &probs).unwrap();
        // sigmoid(z / t0) rescaled by t is sigmoid(z / (t0 * t)): t = 1 / t0 = 2.
        assert!((t - 2.0).abs() < 0.06, "fitted T {t}");
        let before = expected_calibration_error(&labels, &probs, DEFAULT_BINS).unwrap();
        let scaled = apply_temperature(&probs, t).unwrap();
        let after = expected_calibration_error(&labels, &scaled, DEFAULT_BINS).unwrap();
        assert!(after < before / 3.0, "ECE {before} -> {after}");
        // Under-confident probabilities give T < 1.
        let soft: Vec<f32> = probs
            .iter()
            .map(|&p| {
                let z = clipped_logit(p) * t0; // the true logit
                sigmoid(z / 1.6) as f32
            })
            .collect();
        let t_soft = fit_temperature(&labels, &soft).unwrap();
        assert!((t_soft - 1.0 / 1.6).abs() < 0.03, "fitted T {t_soft}");
    }

    #[test]
    fn fit_is_the_minimum_of_the_loss() {
        let labels = [1u8, 0, 1, 1, 0, 0, 1, 0];
        let probs = [0.9f32, 0.3, 0.6, 0.8, 0.55, 0.1, 0.45, 0.2];
        let t = f64::from(fit_temperature(&labels, &probs).unwrap());
        let truth: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
        let logits: Vec<f64> = probs.iter().map(|&p| clipped_logit(p)).collect();
        let at = |t: f64| temperature_loss(&truth, &logits, t);
        assert!(at(t) <= at(t * 1.01) && at(t) <= at(t / 1.01), "T = {t}");
        // Perfectly separated data: the loss falls as T shrinks, to the end of the range.
        let t = fit_temperature(&[0u8, 1], &[0.2, 0.8]).unwrap();
        assert_eq!(t, TEMPERATURE_RANGE.0);
    }

    #[test]
    fn temperature_one_is_identity() {
        let probs = [1e-7f32, 0.01, 0.25, 0.5, 0.731, 0.99, 0.999_999];
        assert_eq!(apply_temperature(&probs, 1.0).unwrap(), probs.to_vec());
        // Outside the clip range, values are clipped.
        let ends = apply_temperature(&[0.0, 1.0], 1.0).unwrap();
        assert!((f64::from(ends[0]) - 1e-7).abs() < 1e-12 && ends[1] < 1.0);
        assert!(apply_temperature(&probs, 0.0).is_err());
        assert!(apply_temperature(&probs, f32::NAN).is_err());
        assert!(apply_temperature(&[1.2], 1.0).is_err());
        // T > 1 moves probabilities towards 0.5, keeping their order.
        let soft = apply_temperature(&probs, 2.0).unwrap();
        assert!(soft.windows(2).all(|w| w[0] < w[1]));
        assert!(soft[1] > probs[1] && soft[5] < probs[5] && soft[3] == 0.5);
    }

    #[test]
    fn bins_json_accepts_null_as_nan() {
        let bins = reliability_bins(&[0u8, 1], &[0.1, 0.15], 2).unwrap();
        let json = serde_json::to_string(&bins).unwrap();
        assert!(json.contains(r#""mean_predicted":null"#), "{json}");
        let back: Vec<ReliabilityBin> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0], bins[0]);
        assert!(back[1].mean_predicted.is_nan() && back[1].count == 0);
    }
}
