//! Confidence intervals for binary metrics: a stratified bootstrap over images for accuracy,
//! sensitivity, specificity, precision, F1 and ROC AUC, and DeLong's variance of the ROC AUC.
//!
//! The bootstrap ([`bootstrap_intervals`]) resamples the positives and the negatives separately
//! with replacement, keeping both counts, so every resample has the class balance of the data
//! and the ROC AUC is always defined. Intervals are percentile intervals: the
//! `(1 - confidence) / 2` and `(1 + confidence) / 2` quantiles of the resampled values, with
//! numpy's default linear interpolation. A metric that is undefined in a resample (0/0, e.g.
//! precision when nothing is predicted positive) is left out of that metric's quantiles, not
//! counted as 0; a metric undefined on the data itself has a `NaN` estimate.
//!
//! [`delong`] gives the AUC's variance by DeLong, DeLong & Clarke-Pearson (1988), computed with
//! the midrank algorithm of Sun & Xu (2014), and [`DeLong::interval`] its normal-approximation
//! interval.

use std::fmt;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::binary::{both_classes, check_inputs, BinaryLabel, ConfusionMatrix};
use super::decision::Threshold;
use super::loss::sigmoid;
use crate::error::{Error, Result};

/// Deserialises a number that may be `null` (how serde_json writes `NaN`) as `NaN`.
pub(crate) fn f64_or_nan<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// A point estimate with the lower and upper end of its confidence interval (`NaN` when undefined).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// The value on the data itself.
    #[serde(deserialize_with = "f64_or_nan")]
    pub estimate: f64,
    /// Lower end of the interval.
    #[serde(deserialize_with = "f64_or_nan")]
    pub low: f64,
    /// Upper end of the interval.
    #[serde(deserialize_with = "f64_or_nan")]
    pub high: f64,
}

impl Interval {
    /// An interval whose three numbers are all `NaN` (a metric undefined on the data).
    pub const UNDEFINED: Interval = Interval {
        estimate: f64::NAN,
        low: f64::NAN,
        high: f64::NAN,
    };

    /// Whether `value` lies in `[low, high]` (false when either end is `NaN`).
    pub fn contains(&self, value: f64) -> bool {
        self.low <= value && value <= self.high
    }
}

impl fmt::Display for Interval {
    /// `0.931 [0.910, 0.950]`, with 3 decimals unless a precision is given (`{:.4}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = f.precision().unwrap_or(3);
        write!(
            f,
            "{:.d$} [{:.d$}, {:.d$}]",
            self.estimate, self.low, self.high
        )
    }
}

/// Checks that a confidence level lies strictly between 0 and 1.
fn check_confidence(confidence: f64) -> Result<()> {
    if confidence > 0.0 && confidence < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            "confidence",
            confidence,
            "a level strictly between 0 and 1, e.g. 0.95",
        ))
    }
}

/// The fields of [`BootstrapOptions`] before validation (what JSON holds).
#[derive(Deserialize)]
struct RawBootstrapOptions {
    resamples: usize,
    confidence: f64,
    seed: u64,
}

/// Settings of the stratified bootstrap: number of resamples, confidence level and seed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawBootstrapOptions")]
pub struct BootstrapOptions {
    resamples: usize,
    confidence: f64,
    seed: u64,
}

impl TryFrom<RawBootstrapOptions> for BootstrapOptions {
    type Error = Error;

    fn try_from(raw: RawBootstrapOptions) -> Result<Self> {
        BootstrapOptions::new(raw.resamples, raw.confidence, raw.seed)
    }
}

impl Default for BootstrapOptions {
    /// 2,000 resamples, 95% intervals, seed 0.
    fn default() -> Self {
        BootstrapOptions {
            resamples: BootstrapOptions::DEFAULT_RESAMPLES,
            confidence: BootstrapOptions::DEFAULT_CONFIDENCE,
            seed: 0,
        }
    }
}

impl BootstrapOptions {
    /// Resamples drawn by default.
    pub const DEFAULT_RESAMPLES: usize = 2000;
    /// Confidence level by default.
    pub const DEFAULT_CONFIDENCE: f64 = 0.95;

    /// Options with `resamples >= 1` and `confidence` in (0, 1), else [`Error::InvalidArgument`].
    pub fn new(resamples: usize, confidence: f64, seed: u64) -> Result<Self> {
        if resamples == 0 {
            return Err(Error::invalid("resamples", 0, "at least 1, e.g. 2000"));
        }
        check_confidence(confidence)?;
        Ok(BootstrapOptions {
            resamples,
            confidence,
            seed,
        })
    }

    /// The same options with another seed.
    pub fn with_seed(self, seed: u64) -> Self {
        BootstrapOptions { seed, ..self }
    }

    /// Number of resamples.
    pub fn resamples(&self) -> usize {
        self.resamples
    }

    /// Confidence level, e.g. 0.95.
    pub fn confidence(&self) -> f64 {
        self.confidence
    }

    /// Seed of the resampling.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// Bootstrap intervals of the metrics at one threshold, and of the ROC AUC.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapIntervals {
    /// Fraction classified correctly.
    pub accuracy: Interval,
    /// Sensitivity (recall, true positive rate): tp / (tp + fn).
    pub sensitivity: Interval,
    /// Specificity (true negative rate): tn / (tn + fp).
    pub specificity: Interval,
    /// Precision (positive predictive value): tp / (tp + fp).
    pub precision: Interval,
    /// F1 of the positive class: 2tp / (2tp + fp + fn).
    pub f1: Interval,
    /// ROC AUC (ties count 1/2).
    pub roc_auc: Interval,
}

/// Number of statistics computed per resample, in the order of [`BootstrapIntervals`]' fields.
const STATISTICS: usize = 6;

/// Samples sorted by score, ready for weighted statistics in O(n) per resample.
struct SortedSample {
    /// Class of each sample, in increasing order of score.
    positive: Vec<bool>,
    /// Index (into the sorted order) one past each group of equal scores.
    group_ends: Vec<usize>,
    /// Sorted positions of the positives.
    positives: Vec<usize>,
    /// Sorted positions of the negatives.
    negatives: Vec<usize>,
    /// First sorted position with `score >= threshold` (all later ones are predicted positive).
    first_predicted_positive: usize,
}

impl SortedSample {
    /// Sorts checked samples by score and finds the tie groups and the threshold's split.
    fn new(truth: &[bool], probs: &[f32], threshold: Threshold) -> Self {
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
        let sorted: Vec<f32> = order.iter().map(|&i| probs[i]).collect();
        let positive: Vec<bool> = order.iter().map(|&i| truth[i]).collect();
        let group_ends = (1..=sorted.len())
            .filter(|&k| k == sorted.len() || sorted[k] != sorted[k - 1])
            .collect();
        let (positives, negatives) = (0..positive.len()).partition(|&k| positive[k]);
        SortedSample {
            group_ends,
            positives,
            negatives,
            first_predicted_positive: sorted.partition_point(|&p| !threshold.predicts_positive(p)),
            positive,
        }
    }

    /// How often each sorted sample is drawn in resample `index`: positives and negatives
    /// separately, with replacement, from an RNG keyed by the seed and the index alone.
    fn resample_weights(&self, seed: u64, index: u64) -> Vec<u32> {
        let mut key = [0u8; 32];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..16].copy_from_slice(&index.to_le_bytes());
        let mut rng = StdRng::from_seed(key);
        let mut weights = vec![0u32; self.positive.len()];
        for stratum in [&self.positives, &self.negatives] {
            for _ in 0..stratum.len() {
                weights[stratum[rng.gen_range(0..stratum.len())]] += 1;
            }
        }
        weights
    }

    /// The confusion matrix when sample `k` counts `weights[k]` times.
    fn confusion(&self, weights: &[u32]) -> ConfusionMatrix {
        let mut cm = ConfusionMatrix::default();
        for (k, (&w, &pos)) in weights.iter().zip(&self.positive).enumerate() {
            let w = u64::from(w);
            match (pos, k >= self.first_predicted_positive) {
                (false, false) => cm.tn += w,
                (false, true) => cm.fp += w,
                (true, false) => cm.fn_ += w,
                (true, true) => cm.tp += w,
            }
        }
        cm
    }

    /// The Mann-Whitney AUC with sample `k` counted `weights[k]` times, ties counting 1/2; `NaN` with one class.
    fn auc(&self, weights: &[u32]) -> f64 {
        let (mut wins, mut neg_below, mut pos_total) = (0.0, 0.0, 0.0);
        let mut start = 0;
        for &end in &self.group_ends {
            let (mut pos, mut neg) = (0.0, 0.0);
            for (&positive, &w) in self.positive[start..end].iter().zip(&weights[start..end]) {
                if positive {
                    pos += f64::from(w);
                } else {
                    neg += f64::from(w);
                }
            }
            wins += pos * (neg_below + 0.5 * neg);
            neg_below += neg;
            pos_total += pos;
            start = end;
        }
        let pairs = pos_total * neg_below;
        if pairs == 0.0 {
            f64::NAN
        } else {
            wins / pairs
        }
    }

    /// All statistics with the given weights, in the order of [`BootstrapIntervals`]' fields.
    fn statistics(&self, weights: &[u32]) -> [f64; STATISTICS] {
        let cm = self.confusion(weights);
        [
            cm.accuracy(),
            cm.sensitivity(),
            cm.specificity(),
            cm.precision(),
            cm.f1(),
            self.auc(weights),
        ]
    }
}

/// The `q`-th quantile (0..=1) of sorted values, interpolated linearly like numpy's default.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let i = pos.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (sorted[j] - sorted[i]) * (pos - i as f64)
}

/// The percentile interval of the defined (non-`NaN`) values around `estimate`.
pub(crate) fn percentile_interval(
    estimate: f64,
    values: impl Iterator<Item = f64>,
    confidence: f64,
) -> Interval {
    let mut defined: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
    if estimate.is_nan() || defined.is_empty() {
        return Interval {
            estimate,
            ..Interval::UNDEFINED
        };
    }
    defined.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    Interval {
        estimate,
        low: quantile(&defined, tail),
        high: quantile(&defined, 1.0 - tail),
    }
}

/// Stratified bootstrap intervals of accuracy, sensitivity, specificity, precision and F1 at
/// `threshold` (predicted positive when `prob >= threshold`) and of the ROC AUC.
///
/// Resample `i` draws from an RNG keyed by `(options.seed(), i)`, so the result depends on the
/// seed only, not on the number of rayon threads. See the [module documentation](self) for the
/// resampling and how undefined values are handled.
pub fn bootstrap_intervals<L: BinaryLabel>(
    labels: &[L],
    probs: &[f32],
    threshold: Threshold,
    options: &BootstrapOptions,
) -> Result<BootstrapIntervals> {
    let truth = check_inputs(labels, probs)?;
    let sample = SortedSample::new(&truth, probs, threshold);
    let estimates = sample.statistics(&vec![1; truth.len()]);
    let resampled: Vec<[f64; STATISTICS]> = (0..options.resamples as u64)
        .into_par_iter()
        .map(|i| sample.statistics(&sample.resample_weights(options.seed, i)))
        .collect();
    let interval = |s: usize| {
        percentile_interval(
            estimates[s],
            resampled.iter().map(|r| r[s]),
            options.confidence,
        )
    };
    Ok(BootstrapIntervals {
        accuracy: interval(0),
        sensitivity: interval(1),
        specificity: interval(2),
        precision: interval(3),
        f1: interval(4),
        roc_auc: interval(5),
    })
}

/// The ROC AUC with DeLong's estimate of its variance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DeLong {
    /// The AUC (Mann-Whitney statistic, ties counting 1/2).
    pub auc: f64,
    /// DeLong's variance of the AUC, S10/m + S01/n.
    pub variance: f64,
}

impl DeLong {
    /// Standard error, the square root of the variance.
    pub fn std_error(&self) -> f64 {
        self.variance.sqrt()
    }

    /// Normal-approximation interval `auc ± z * sqrt(variance)`, clipped to [0, 1].
    pub fn interval(&self, confidence: f64) -> Result<Interval> {
        let half = two_sided_z(confidence)? * self.std_error();
        Ok(Interval {
            estimate: self.auc,
            low: (self.auc - half).max(0.0),
            high: (self.auc + half).min(1.0),
        })
    }

    /// Interval on the logit scale, `logit(auc) ± z * se / (auc (1 - auc))` mapped back, which
    /// stays inside (0, 1) and is asymmetric near the ends (Pepe 2003, "The Statistical
    /// Evaluation of Medical Tests", section 5.2); an AUC of exactly 0 or 1 gives `[auc, auc]`.
    pub fn logit_interval(&self, confidence: f64) -> Result<Interval> {
        let z = two_sided_z(confidence)?;
        let a = self.auc;
        if a <= 0.0 || a >= 1.0 {
            return Ok(Interval {
                estimate: a,
                low: a,
                high: a,
            });
        }
        let centre = (a / (1.0 - a)).ln();
        let half = z * self.std_error() / (a * (1.0 - a));
        Ok(Interval {
            estimate: a,
            low: sigmoid(centre - half),
            high: sigmoid(centre + half),
        })
    }
}

/// The `z` of a two-sided normal interval at `confidence`: the `(1 + confidence) / 2` quantile.
fn two_sided_z(confidence: f64) -> Result<f64> {
    check_confidence(confidence)?;
    Ok(normal_quantile(0.5 + confidence / 2.0))
}

/// Ranks 1..=n of `values` in increasing order, tied values sharing the mean of their ranks.
fn midranks(values: &[f32]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start + 1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Sample variance (denominator `len - 1`) of at least two values.
fn sample_variance(values: &[f64]) -> f64 {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)
}

/// The ROC AUC and DeLong's variance (DeLong, DeLong & Clarke-Pearson 1988, Biometrics 44:837),
/// by the midrank algorithm of Sun & Xu (2014, IEEE Signal Processing Letters 21:1389).
///
/// With m positives and n negatives, the placement values are V10_i = (Tz_i - Tx_i) / n for
/// positive i and V01_j = 1 - (Tz_j - Ty_j) / m for negative j, where Tz are midranks among all
/// scores and Tx, Ty midranks within the class; the AUC is their mean and the variance
/// `var(V10) / m + var(V01) / n` with sample variances. Ties count 1/2. Needs at least two
/// samples of each class.
pub fn delong<L: BinaryLabel>(labels: &[L], probs: &[f32]) -> Result<DeLong> {
    let truth = check_inputs(labels, probs)?;
    let (m, n) = both_classes(&truth, "the ROC AUC")?;
    if m < 2 || n < 2 {
        return Err(Error::invalid(
            "labels",
            format!("{m} positives and {n} negatives"),
            "at least 2 samples of each class for DeLong's variance",
        ));
    }
    let (pos, neg): (Vec<usize>, Vec<usize>) = (0..probs.len()).partition(|&i| truth[i]);
    let all = midranks(probs);
    // (Tz - T_class) / others for each sample of a class, given by its indices.
    let placements = |class: &[usize], others: u64| -> Vec<f64> {
        let scores: Vec<f32> = class.iter().map(|&i| probs[i]).collect();
        let within = midranks(&scores);
        class
            .iter()
            .zip(within)
            .map(|(&i, r)| (all[i] - r) / others as f64)
            .collect()
    };
    let v10 = placements(&pos, n);
    // For a negative, (Tz - Ty) / m is the share of positives at or below it: 1 - V01.
    let v01: Vec<f64> = placements(&neg, m).into_iter().map(|v| 1.0 - v).collect();
    let auc = v10.iter().sum::<f64>() / m as f64;
    Ok(DeLong {
        auc,
        variance: sample_variance(&v10) / m as f64 + sample_variance(&v01) / n as f64,
    })
}

/// Evaluates a polynomial with coefficients from the constant term up at `x` (Horner's rule).
fn poly(coefficients: &[f64], x: f64) -> f64 {
    coefficients.iter().rev().fold(0.0, |acc, &c| acc * x + c)
}

/// The standard normal quantile (inverse CDF) of `p` in (0, 1), to about 1e-16 relative:
/// Wichura's algorithm AS 241, PPND16 (Applied Statistics 37:477, 1988). `NaN` outside (0, 1)
/// except `-inf` at 0 and `+inf` at 1.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return q * poly(&AS241_A, r) / poly(&AS241_B, r);
    }
    let r = (-(if q < 0.0 { p } else { 1.0 - p }).ln()).sqrt();
    let x = if r <= 5.0 {
        let r = r - 1.6;
        poly(&AS241_C, r) / poly(&AS241_D, r)
    } else {
        let r = r - 5.0;
        poly(&AS241_E, r) / poly(&AS241_F, r)
    };
    if q < 0.0 {
        -x
    } else {
        x
    }
}

// The coefficients as published (more digits than an f64 holds).

/// AS 241 numerator for |p - 0.5| <= 0.425, constant term first.
#[allow(clippy::excessive_precision)]
const AS241_A: [f64; 8] = [
    3.387132872796366608,
    133.14166789178437745,
    1971.5909503065514427,
    13731.693765509461125,
    45921.953931549871457,
    67265.770927008700853,
    33430.575583588128105,
    2509.0809287301226727,
];
/// AS 241 denominator for |p - 0.5| <= 0.425.
#[allow(clippy::excessive_precision)]
const AS241_B: [f64; 8] = [
    1.0,
    42.313330701600911252,
    687.1870074920579083,
    5394.1960214247511077,
    21213.794301586595867,
    39307.89580009271061,
    28729.085735721942674,
    5226.495278852545925,
];
/// AS 241 numerator for the tails with r = sqrt(-ln(min(p, 1 - p))) <= 5 (in r - 1.6).
#[allow(clippy::excessive_precision)]
const AS241_C: [f64; 8] = [
    1.42343711074968357734,
    4.6303378461565452959,
    5.7694972214606914055,
    3.64784832476320460504,
    1.27045825245236838258,
    0.24178072517745061177,
    0.0227238449892691845833,
    7.7454501427834140764e-4,
];
/// AS 241 denominator for r <= 5.
#[allow(clippy::excessive_precision)]
const AS241_D: [f64; 8] = [
    1.0,
    2.05319162663775882187,
    1.6763848301838038494,
    0.68976733498510000455,
    0.14810397642748007459,
    0.0151986665636164571966,
    5.475938084995344946e-4,
    1.05075007164441684324e-9,
];
/// AS 241 numerator for the far tails, r > 5 (in r - 5).
#[allow(clippy::excessive_precision)]
const AS241_E: [f64; 8] = [
    6.6579046435011037772,
    5.4637849111641143699,
    1.7848265399172913358,
    0.29656057182850489123,
    0.026532189526576123093,
    0.0012426609473880784386,
    2.71155556874348757815e-5,
    2.01033439929228813265e-7,
];
/// AS 241 denominator for r > 5.
#[allow(clippy::excessive_precision)]
const AS241_F: [f64; 8] = [
    1.0,
    0.59983220655588793769,
    0.13692988092273580531,
    0.0148753612908506148525,
    7.868691311456132591e-4,
    1.8463183175100546818e-5,
    1.4215117583164458887e-7,
    2.04426310338993978564e-15,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::roc_auc_score;

    /// Relative difference |a - b| / max(|b|, tiny).
    fn rel(a: f64, b: f64) -> f64 {
        (a - b).abs() / b.abs().max(1e-300)
    }

    /// Labels and scores of a synthetic classifier: `n_pos` positives scoring higher on average,
    /// scores rounded to multiples of 1/64 so ties occur.
    fn synthetic(n_pos: usize, n_neg: usize, seed: u64) -> (Vec<u8>, Vec<f32>) {
        use rand_distr::{Distribution, Normal};
        let mut rng = StdRng::seed_from_u64(seed);
        let (hi, lo) = (
            Normal::new(1.0, 1.2).unwrap(),
            Normal::new(-1.0, 1.2).unwrap(),
        );
        let mut labels = Vec::new();
        let mut probs = Vec::new();
        for (count, label, dist) in [(n_pos, 1u8, hi), (n_neg, 0u8, lo)] {
            for _ in 0..count {
                let z: f64 = dist.sample(&mut rng);
                labels.push(label);
                probs.push((sigmoid(z) * 64.0).round() as f32 / 64.0);
            }
        }
        (labels, probs)
    }

    #[test]
    fn normal_quantile_matches_python() {
        // statistics.NormalDist().inv_cdf(p) in Python 3.11.
        for (p, z) in [
            (0.975, 1.9599639845400536),
            (0.95, 1.6448536269514715),
            (0.995, 2.5758293035489),
            (0.9, 1.2815515655446008),
            (0.3, -0.5244005127080407),
            (0.02425, -1.9729610513118845),
            (0.01, -2.3263478740408408),
            (1e-10, -6.361340902404056),
            (1.0 - 1e-12, 7.0344869100478356),
            (1e-300, -37.0470962993612),
        ] {
            assert!(
                rel(normal_quantile(p), z) < 1e-14,
                "p = {p}: {}",
                normal_quantile(p)
            );
        }
        assert_eq!(normal_quantile(0.5), 0.0);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
        assert!(normal_quantile(1.5).is_nan() && normal_quantile(f64::NAN).is_nan());
    }

    #[test]
    fn midranks_average_ties() {
        assert_eq!(
            midranks(&[0.5, 0.1, 0.5, 0.9, 0.5]),
            vec![3.0, 1.0, 3.0, 5.0, 3.0]
        );
    }

    #[test]
    fn interval_displays_and_contains() {
        let i = Interval {
            estimate: 0.9312,
            low: 0.91,
            high: 0.95,
        };
        assert_eq!(i.to_string(), "0.931 [0.910, 0.950]");
        assert_eq!(format!("{i:.2}"), "0.93 [0.91, 0.95]");
        assert!(i.contains(0.93) && !i.contains(0.96));
        assert!(!Interval::UNDEFINED.contains(0.5));
    }

    #[test]
    fn interval_json_accepts_null_as_nan() {
        let json = serde_json::to_string(&Interval::UNDEFINED).unwrap();
        assert_eq!(json, r#"{"estimate":null,"low":null,"high":null}"#);
        let back: Interval = serde_json::from_str(&json).unwrap();
        assert!(back.estimate.is_nan() && back.low.is_nan() && back.high.is_nan());
    }

    #[test]
    fn bad_options_are_refused() {
        let name = |r: Result<BootstrapOptions>| match r {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("expected an error, got {other:?}"),
        };
        assert_eq!(name(BootstrapOptions::new(0, 0.95, 1)), "resamples");
        for c in [0.0, 1.0, -0.5, 95.0, f64::NAN] {
            assert_eq!(name(BootstrapOptions::new(100, c, 1)), "confidence");
        }
        let ok = BootstrapOptions::new(1, 0.5, 9).unwrap();
        assert_eq!((ok.resamples(), ok.confidence(), ok.seed()), (1, 0.5, 9));
        let d = BootstrapOptions::default();
        assert_eq!((d.resamples(), d.confidence()), (2000, 0.95));
        // JSON goes through the same checks.
        let json = serde_json::to_string(&ok).unwrap();
        assert_eq!(serde_json::from_str::<BootstrapOptions>(&json).unwrap(), ok);
        let bad = r#"{"resamples":0,"confidence":0.95,"seed":1}"#;
        assert!(serde_json::from_str::<BootstrapOptions>(bad).is_err());
    }

    #[test]
    fn bad_inputs_are_refused() {
        let opts = BootstrapOptions::default();
        assert!(bootstrap_intervals(&[0u8, 1], &[0.1], Threshold::HALF, &opts).is_err());
        assert!(bootstrap_intervals(&[0u8, 2], &[0.1, 0.9], Threshold::HALF, &opts).is_err());
        assert!(
            delong(&[0u8, 0, 1], &[0.1, 0.2, 0.9]).is_err(),
            "one positive"
        );
        assert!(delong(&[1u8, 1], &[0.1, 0.2]).is_err(), "one class");
        let d = DeLong {
            auc: 0.8,
            variance: 0.01,
        };
        assert!(d.interval(1.0).is_err() && d.logit_interval(0.0).is_err());
    }

    #[test]
    fn bootstrap_estimates_are_the_plain_metrics() {
        let (labels, probs) = synthetic(120, 80, 1);
        let opts = BootstrapOptions::new(200, 0.95, 3).unwrap();
        let b = bootstrap_intervals(&labels, &probs, Threshold::HALF, &opts).unwrap();
        let cm = ConfusionMatrix::at_threshold(&labels, &probs, Threshold::HALF).unwrap();
        assert_eq!(b.accuracy.estimate, cm.accuracy());
        assert_eq!(b.sensitivity.estimate, cm.sensitivity());
        assert_eq!(b.specificity.estimate, cm.specificity());
        assert_eq!(b.precision.estimate, cm.precision());
        assert_eq!(b.f1.estimate, cm.f1());
        let auc = roc_auc_score(&labels, &probs).unwrap();
        assert!((b.roc_auc.estimate - auc).abs() < 1e-12);
        for i in [
            b.accuracy,
            b.sensitivity,
            b.specificity,
            b.precision,
            b.f1,
            b.roc_auc,
        ] {
            assert!(i.contains(i.estimate), "{i}");
            assert!(i.high - i.low > 0.01, "a real spread: {i}");
        }
    }

    #[test]
    fn weighted_auc_counts_repeats() {
        // Weights 2 on a sample are the same as the sample listed twice.
        let (labels, probs) = synthetic(30, 20, 2);
        let truth: Vec<bool> = labels.iter().map(|&l| l == 1).collect();
        let sample = SortedSample::new(&truth, &probs, Threshold::HALF);
        let weights = sample.resample_weights(5, 0);
        let mut l2 = Vec::new();
        let mut p2 = Vec::new();
        let mut order: Vec<usize> = (0..probs.len()).collect();
        order.sort_by(|&a, &b| probs[a].total_cmp(&probs[b]));
        for (k, &i) in order.iter().enumerate() {
            for _ in 0..weights[k] {
                l2.push(labels[i]);
                p2.push(probs[i]);
            }
        }
        let want = roc_auc_score(&l2, &p2).unwrap();
        assert!((sample.auc(&weights) - want).abs() < 1e-12);
        assert_eq!(
            sample.confusion(&weights),
            ConfusionMatrix::at_threshold(&l2, &p2, Threshold::HALF).unwrap()
        );
        // Stratified: each class keeps its count.
        let pos: u32 = sample.positives.iter().map(|&k| weights[k]).sum();
        assert_eq!(pos, 30);
    }

    #[test]
    fn bootstrap_is_deterministic_for_a_seed_and_any_thread_count() {
        let (labels, probs) = synthetic(150, 100, 4);
        let opts = BootstrapOptions::new(300, 0.9, 11).unwrap();
        let run = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| {
                    bootstrap_intervals(&labels, &probs, Threshold::new(0.4).unwrap(), &opts)
                        .unwrap()
                })
        };
        let one = run(1);
        assert_eq!(one, run(3));
        assert_eq!(
            one,
            bootstrap_intervals(&labels, &probs, Threshold::new(0.4).unwrap(), &opts).unwrap()
        );
        let other = bootstrap_intervals(
            &labels,
            &probs,
            Threshold::new(0.4).unwrap(),
            &opts.with_seed(12),
        )
        .unwrap();
        assert_ne!(
            one.accuracy, other.accuracy,
            "another seed, other resamples"
        );
    }

    #[test]
    fn accuracy_interval_matches_the_normal_approximation() {
        // Sensitivity and specificity both about 0.84 here (symmetric score distributions and
        // threshold 0.5), so the stratified variance equals the binomial p(1 - p) / n.
        let (labels, probs) = synthetic(2000, 2000, 5);
        let opts = BootstrapOptions::new(2000, 0.95, 7).unwrap();
        let b = bootstrap_intervals(&labels, &probs, Threshold::HALF, &opts).unwrap();
        let p = b.accuracy.estimate;
        let normal = 1.96 * (p * (1.0 - p) / 4000.0).sqrt();
        let half = (b.accuracy.high - b.accuracy.low) / 2.0;
        assert!(
            (half / normal - 1.0).abs() < 0.2,
            "bootstrap half-width {half} vs normal {normal}"
        );
        assert!(b.accuracy.contains(p));
    }

    #[test]
    fn undefined_resamples_are_skipped() {
        // One positive scores above the threshold, so in about (1 - 1/3)^3 = 30% of the resamples
        // nothing is predicted positive and precision is 0/0: those resamples are left out, so
        // the interval is [1, 1] rather than reaching 0.
        let labels = [1u8, 1, 1, 0, 0, 0];
        let probs = [0.9, 0.2, 0.3, 0.1, 0.2, 0.3];
        let opts = BootstrapOptions::new(500, 0.95, 1).unwrap();
        let b = bootstrap_intervals(&labels, &probs, Threshold::HALF, &opts).unwrap();
        assert_eq!(
            b.precision,
            Interval {
                estimate: 1.0,
                low: 1.0,
                high: 1.0
            }
        );
        // Undefined on the data itself: NaN estimate and interval.
        let b = bootstrap_intervals(&labels, &probs, Threshold::new(0.95).unwrap(), &opts).unwrap();
        assert!(b.precision.estimate.is_nan() && b.precision.low.is_nan());
        // One class: sensitivity and AUC undefined, specificity defined.
        let b =
            bootstrap_intervals(&[0u8, 0, 0], &[0.1, 0.6, 0.2], Threshold::HALF, &opts).unwrap();
        assert!(b.sensitivity.estimate.is_nan() && b.roc_auc.estimate.is_nan());
        assert!((b.specificity.estimate - 2.0 / 3.0).abs() < 1e-12);
    }

    /// One case of `tests/fixtures/delong.json`.
    #[derive(Deserialize)]
    struct FixtureCase {
        name: String,
        labels: Vec<u8>,
        scores: Vec<f64>,
        auc: f64,
        variance: f64,
        confidence: f64,
        ci_low: f64,
        ci_high: f64,
    }

    /// Checks `got` against `want` to 1e-9 relative (absolute near 0).
    fn assert_close(got: f64, want: f64, what: &str) {
        let tolerance = 1e-9 * want.abs().max(1e-6);
        assert!((got - want).abs() <= tolerance, "{what}: {got} vs {want}");
    }

    #[test]
    fn delong_matches_the_python_fixture() {
        // Written by tools/make_delong_fixture.py from DeLong et al.'s placement values.
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/delong.json");
        let text = std::fs::read_to_string(path).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let cases: Vec<FixtureCase> = serde_json::from_value(doc["cases"].clone()).unwrap();
        assert_eq!(cases.len(), 3);
        for c in cases {
            let probs: Vec<f32> = c.scores.iter().map(|&s| s as f32).collect();
            assert!(probs
                .iter()
                .zip(&c.scores)
                .all(|(&p, &s)| f64::from(p) == s));
            let d = delong(&c.labels, &probs).unwrap();
            assert_close(d.auc, c.auc, &format!("{} auc", c.name));
            assert_close(d.variance, c.variance, &format!("{} variance", c.name));
            let ci = d.interval(c.confidence).unwrap();
            assert_close(ci.low, c.ci_low, &format!("{} low", c.name));
            assert_close(ci.high, c.ci_high, &format!("{} high", c.name));
            // The bootstrap's AUC is the same statistic.
            let auc = roc_auc_score(&c.labels, &probs).unwrap();
            assert!((auc - d.auc).abs() < 1e-12, "{}", c.name);
        }
    }

    #[test]
    fn delong_agrees_with_the_bootstrap_on_big_data() {
        // Both estimate the AUC's spread; on 600 + 400 samples they agree to within ~20%.
        let (labels, probs) = synthetic(600, 400, 8);
        let d = delong(&labels, &probs).unwrap();
        let opts = BootstrapOptions::new(2000, 0.95, 2).unwrap();
        let b = bootstrap_intervals(&labels, &probs, Threshold::HALF, &opts).unwrap();
        let ci = d.interval(0.95).unwrap();
        let ratio = (b.roc_auc.high - b.roc_auc.low) / (ci.high - ci.low);
        assert!(
            (ratio - 1.0).abs() < 0.2,
            "bootstrap / DeLong width {ratio}"
        );
        assert!(ci.contains(d.auc));
    }

    #[test]
    fn logit_interval_stays_inside_and_is_asymmetric() {
        let d = DeLong {
            auc: 0.98,
            variance: 0.0004,
        };
        let plain = d.interval(0.95).unwrap();
        let logit = d.logit_interval(0.95).unwrap();
        assert!(
            (plain.high - 1.0).abs() < 1e-12,
            "plain interval clipped at 1"
        );
        // logit(0.98) = 3.892 ± 1.96 * 0.02 / (0.98 * 0.02) = 3.892 ± 2.0 -> [0.868967, 0.997246].
        assert!((logit.low - 0.868967).abs() < 1e-6, "{logit:.6}");
        assert!((logit.high - 0.997246).abs() < 1e-6, "{logit:.6}");
        assert!(logit.high - d.auc < d.auc - logit.low, "shorter towards 1");
        let perfect = DeLong {
            auc: 1.0,
            variance: 0.0,
        };
        let p = perfect.logit_interval(0.95).unwrap();
        assert_eq!((p.low, p.high), (1.0, 1.0));
    }
}
