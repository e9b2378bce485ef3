//! Per-axis weight tables: which input samples each output sample reads, and with what weight.
//!
//! Both resamplers in this module are separable, so a 2-D resize is two 1-D passes, each described
//! by one table per axis. The tables are built in `f64` and converted by the passes that use them.

/// The input samples one output sample reads: `weights[k]` multiplies input `start + k`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Taps {
    /// First input index read.
    pub start: usize,
    /// One weight per input index from `start` on.
    pub weights: Vec<f64>,
}

/// Folds any index into `0..n` the way scipy.ndimage's `mirror` mode extends a signal
/// (`d c b | a b c d | c b a`, the edge sample not repeated); `n` must be at least 1.
pub(crate) fn mirror(i: i64, n: usize) -> usize {
    debug_assert!(n >= 1, "mirror needs a non-empty axis");
    if n == 1 {
        return 0;
    }
    let period = 2 * (n as i64 - 1);
    let folded = i.abs() % period;
    let index = if folded >= n as i64 {
        period - folded
    } else {
        folded
    };
    index as usize
}

/// scipy's `gaussian_filter1d` kernel: `exp(-x²/2σ²)` on `-r..=r`, `r = int(4σ + 0.5)`, normalised
/// to sum 1.
pub(crate) fn gaussian_kernel(sigma: f64) -> Vec<f64> {
    let radius = (4.0 * sigma + 0.5) as i64;
    let scale = -0.5 / (sigma * sigma);
    let raw: Vec<f64> = (-radius..=radius)
        .map(|x| (scale * (x * x) as f64).exp())
        .collect();
    let total: f64 = raw.iter().sum();
    raw.into_iter().map(|v| v / total).collect()
}

/// The table that reproduces `skimage.transform.resize` along one axis (defaults: order 1,
/// mode 'reflect', anti-aliasing): a Gaussian prefilter with σ = max(0, (n_in/n_out − 1)/2)
/// (skipped when σ ≤ 1e-15, as scipy does), then linear interpolation at pixel centres
/// `(o + 0.5)·n_in/n_out − 0.5`, both with mirror boundaries. Composing the two linear steps
/// gives one weight per input sample, so only the output samples are ever computed.
pub(crate) fn skimage_axis(n_in: usize, n_out: usize) -> Vec<Taps> {
    let factor = n_in as f64 / n_out as f64;
    let sigma = ((factor - 1.0) / 2.0).max(0.0);
    let kernel = if sigma > 1e-15 {
        gaussian_kernel(sigma)
    } else {
        vec![1.0]
    };
    let radius = (kernel.len() / 2) as i64;
    let mut dense = vec![0.0f64; n_in];
    (0..n_out)
        .map(|o| {
            let centre = (o as f64 + 0.5) * factor - 0.5;
            let floor = centre.floor();
            let frac = centre - floor;
            let left = floor as i64;
            let (mut lo, mut hi) = (n_in, 0usize);
            for (index, linear) in [(left, 1.0 - frac), (left + 1, frac)] {
                let sample = mirror(index, n_in) as i64;
                for (k, g) in kernel.iter().enumerate() {
                    let src = mirror(sample + k as i64 - radius, n_in);
                    dense[src] += linear * g;
                    lo = lo.min(src);
                    hi = hi.max(src);
                }
            }
            let weights = dense[lo..=hi].to_vec();
            dense[lo..=hi].iter_mut().for_each(|v| *v = 0.0);
            Taps { start: lo, weights }
        })
        .collect()
}

/// PIL's resampling filters (`Image.resize` with a `resample` other than NEAREST).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PilFilter {
    /// `Image.BILINEAR`: the triangle `max(0, 1 − |x|)`, support 1.
    Triangle,
    /// `Image.BOX`: 1 on `(−0.5, 0.5]`, support 0.5 (an area average when shrinking).
    Box,
}

impl PilFilter {
    fn support(self) -> f64 {
        match self {
            PilFilter::Triangle => 1.0,
            PilFilter::Box => 0.5,
        }
    }

    fn eval(self, x: f64) -> f64 {
        match self {
            PilFilter::Triangle => (1.0 - x.abs()).max(0.0),
            PilFilter::Box => {
                if x > -0.5 && x <= 0.5 {
                    1.0
                } else {
                    0.0
                }
            }
        }
    }
}

/// The table PIL's `precompute_coeffs` builds for one axis: the filter is widened by the shrink
/// factor (so shrinking antialiases), centred on `(o + 0.5)·n_in/n_out`, cut to the input and
/// normalised to sum 1 (left as is if it sums to 0).
pub(crate) fn pil_axis(n_in: usize, n_out: usize, filter: PilFilter) -> Vec<Taps> {
    let scale = n_in as f64 / n_out as f64;
    let filter_scale = scale.max(1.0);
    let support = filter.support() * filter_scale;
    let inv_scale = 1.0 / filter_scale;
    (0..n_out)
        .map(|o| {
            let centre = (o as f64 + 0.5) * scale;
            // `as` truncates toward zero, as PIL's `(int)` casts do.
            let lo = ((centre - support + 0.5) as i64).max(0) as usize;
            let hi = ((centre + support + 0.5) as i64)
                .min(n_in as i64)
                .max(lo as i64) as usize;
            let mut weights: Vec<f64> = (lo..hi)
                .map(|x| filter.eval((x as f64 - centre + 0.5) * inv_scale))
                .collect();
            let total: f64 = weights.iter().sum();
            if total != 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            }
            Taps { start: lo, weights }
        })
        .collect()
}

/// Exact area weights for one axis whose `n_in` samples cover only `extent` (≤ `n_in`) units:
/// output `o` averages the input interval `[o, o + 1)·extent/n_out`, each input pixel `x`
/// weighted by how much of `[x, x + 1)` lies inside it (OpenCV's `INTER_AREA` when
/// `extent = n_in`). A DCT-scaled JPEG decode of a side of `s` pixels at n/8 has
/// `ceil(s·n/8)` samples covering `s·n/8` units: its last sample is partly padding.
pub(crate) fn area_axis(n_in: usize, extent: f64, n_out: usize) -> Vec<Taps> {
    let extent = extent.clamp(f64::MIN_POSITIVE, n_in as f64);
    let step = extent / n_out as f64;
    (0..n_out)
        .map(|o| {
            let (a, b) = (o as f64 * step, (o + 1) as f64 * step);
            let lo = (a.floor() as usize).min(n_in - 1);
            let hi = (b.ceil() as usize).clamp(lo + 1, n_in);
            let mut weights: Vec<f64> = (lo..hi)
                .map(|x| (b.min(x as f64 + 1.0) - a.max(x as f64)).max(0.0))
                .collect();
            let total: f64 = weights.iter().sum();
            if total > 0.0 {
                weights.iter_mut().for_each(|w| *w /= total);
            } else {
                weights.iter_mut().for_each(|w| *w = 1.0 / (hi - lo) as f64);
            }
            Taps { start: lo, weights }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn area_axis_averages_whole_blocks_and_splits_fractional_pixels() {
        // 8 -> 2: two blocks of four.
        let t = area_axis(8, 8.0, 2);
        assert_eq!((t[0].start, t[1].start), (0, 4));
        assert!(t.iter().all(|t| t.weights == vec![0.25; 4]));
        // 3 -> 2: pixel 1 is split half and half.
        let t = area_axis(3, 3.0, 2);
        assert_eq!(t[0].weights, vec![2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(
            (t[1].start, t[1].weights.clone()),
            (1, vec![1.0 / 3.0, 2.0 / 3.0])
        );
        // 5 samples covering 4.5 units -> 3 outputs of 1.5 units: the last sample weighs half.
        let t = area_axis(5, 4.5, 3);
        assert_eq!(t[2].start, 3);
        assert!((t[2].weights[0] - 2.0 / 3.0).abs() < 1e-12);
        assert!((t[2].weights[1] - 1.0 / 3.0).abs() < 1e-12);
        for (n_in, extent, n_out) in [(175, 174.25, 130), (1700, 1700.0, 130), (10, 10.0, 30)] {
            for taps in area_axis(n_in, extent, n_out) {
                assert!((taps.weights.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                assert!(taps.weights.iter().all(|&w| w >= 0.0));
                assert!(taps.start + taps.weights.len() <= n_in);
            }
        }
    }

    #[test]
    fn mirror_folds_like_scipy() {
        // scipy mirror on [a b c d]: ... c b | a b c d | c b a b ...
        let n = 4;
        let got: Vec<usize> = (-5..=9).map(|i| mirror(i, n)).collect();
        assert_eq!(got, vec![1, 2, 3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 1, 2, 3]);
        assert_eq!(mirror(-7, 1), 0);
        assert_eq!(mirror(5, 2), 1);
    }

    #[test]
    fn gaussian_kernel_has_scipy_radius_and_unit_sum() {
        let k = gaussian_kernel(1.0);
        assert_eq!(k.len(), 9); // radius int(4.0 + 0.5) = 4
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(k[4] > k[3] && (k[3] - k[5]).abs() < 1e-15);
        assert_eq!(gaussian_kernel(2.4).len(), 2 * 10 + 1); // int(9.6 + 0.5) = 10
    }

    #[test]
    fn skimage_axis_weights_sum_to_one_and_stay_inside() {
        for (n_in, n_out) in [
            (47, 13),
            (10, 3),
            (5, 1),
            (3, 7),
            (1, 4),
            (100, 100),
            (1700, 130),
        ] {
            for t in skimage_axis(n_in, n_out) {
                assert!(t.start + t.weights.len() <= n_in, "{n_in}->{n_out}");
                let s: f64 = t.weights.iter().sum();
                assert!((s - 1.0).abs() < 1e-12, "{n_in}->{n_out}: sum {s}");
            }
        }
    }

    #[test]
    fn skimage_axis_identity_picks_each_sample() {
        for (o, t) in skimage_axis(6, 6).iter().enumerate() {
            let picked: Vec<(usize, f64)> = t
                .weights
                .iter()
                .enumerate()
                .filter(|(_, w)| **w != 0.0)
                .map(|(k, w)| (t.start + k, *w))
                .collect();
            assert_eq!(picked, vec![(o, 1.0)]);
        }
    }

    #[test]
    fn skimage_axis_enlarge_mirrors_at_the_edge() {
        // 2 -> 4: centres at -0.25, 0.25, 0.75, 1.25; -0.25 mirrors to 0.25.
        let t = skimage_axis(2, 4);
        assert_eq!(t[0].start, 0);
        assert!((t[0].weights[0] - 0.75).abs() < 1e-12 && (t[0].weights[1] - 0.25).abs() < 1e-12);
        assert!((t[3].weights[0] - 0.25).abs() < 1e-12 && (t[3].weights[1] - 0.75).abs() < 1e-12);
    }

    #[test]
    fn pil_box_averages_whole_blocks() {
        let t = pil_axis(6, 2, PilFilter::Box);
        assert_eq!(t[0].start, 0);
        assert_eq!(t[1].start, 3);
        for taps in &t {
            assert_eq!(taps.weights.len(), 3);
            assert!(taps.weights.iter().all(|w| (w - 1.0 / 3.0).abs() < 1e-12));
        }
    }

    #[test]
    fn pil_triangle_widens_when_shrinking() {
        // shrink by 4: support 4, centre 2.0 for the first output.
        let t = pil_axis(16, 4, PilFilter::Triangle);
        assert_eq!(t[0].start, 0);
        assert_eq!(t[0].weights.len(), 6); // (int)(2 + 4 + 0.5) = 6
        let s: f64 = t[0].weights.iter().sum();
        assert!((s - 1.0).abs() < 1e-12);
        // enlarging keeps support 1: at most 3 taps.
        assert!(pil_axis(4, 16, PilFilter::Triangle)
            .iter()
            .all(|t| t.weights.len() <= 3));
    }
}
