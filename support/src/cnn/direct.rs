//! The forward pass of the fused 3x3 convolution + ReLU + 2x2 max pool for few input channels
//! (the first layer of a grey-image model: one channel), computed directly.
//!
//! With one channel an im2col row holds 9 values, so the GEMM it feeds is mostly overhead:
//! copying 3-float segments, initialising each output row with the bias, and a pooling pass over a
//! scratch buffer. Here each pooling window's four convolution outputs are accumulated in
//! registers, eight filters at a time, from the window's 4x4 input patch, and pooled at once.
//! Same result as the im2col path up to float rounding (the sums run in the same order, but may
//! be fused multiply-adds).

use super::fused::{FusedGeometry, DEAD};
use super::winograd::{load, store, Lanes, LANES};

/// Most input channels for which [`applies`] is true (above it, the im2col GEMM or Winograd pays).
pub(crate) const MAX_CHANNELS: usize = 4;

/// Whether the direct path computes this fused op: 3x3 kernel, stride 1, no padding, 2x2 pool of
/// stride 2, at most [`MAX_CHANNELS`] input channels.
pub(crate) fn applies(fg: &FusedGeometry) -> bool {
    let g = &fg.conv;
    (g.kernel_h, g.kernel_w, g.stride, g.pad_top, g.pad_left) == (3, 3, 1, 0, 0)
        && fg.pool.size == (2, 2)
        && fg.pool.stride == 2
        && g.in_c <= MAX_CHANNELS
}

/// Pooled outputs and arg-max codes of one image, from the HWIO kernel `w` and bias `b`.
/// Requires [`applies`]. Compiled a second time for AVX2 + FMA, taken when the CPU has them.
pub(crate) fn forward_image(
    fg: &FusedGeometry,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
    idx: &mut [u16],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only requirement of a
        // `target_feature` function; the body is safe code.
        unsafe { forward_image_avx2(fg, x, w, b, out, idx) };
        return;
    }
    forward_image_body(fg, x, w, b, out, idx);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_image_avx2(
    fg: &FusedGeometry,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
    idx: &mut [u16],
) {
    forward_image_body(fg, x, w, b, out, idx);
}

#[inline(always)]
fn forward_image_body(
    fg: &FusedGeometry,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    out: &mut [f32],
    idx: &mut [u16],
) {
    debug_assert!(applies(fg));
    let g = &fg.conv;
    let (c, o, in_w) = (g.in_c, g.filters, g.in_w);
    let k = 9 * c;
    // The window's 4x4 input patch, channel-minor; tap t = (kh * 3 + kw) * c + ci of output
    // position (i, j) reads patch[((i + kh) * 4 + j + kw) * c + ci].
    let mut patch = [0.0f32; 16 * MAX_CHANNELS];
    let tap: Vec<[usize; 4]> = (0..k)
        .map(|t| {
            let (kh, kw, ci) = (t / (3 * c), (t / c) % 3, t % c);
            std::array::from_fn(|p| (((p / 2 + kh) * 4 + p % 2 + kw) * c) + ci)
        })
        .collect();
    for pr in 0..fg.ph {
        for pc in 0..fg.pw {
            for i in 0..4 {
                let at = ((2 * pr + i) * in_w + 2 * pc) * c;
                patch[i * 4 * c..(i + 1) * 4 * c].copy_from_slice(&x[at..at + 4 * c]);
            }
            let base = (pr * fg.pw + pc) * o;
            for oc in (0..o).step_by(LANES) {
                let mut acc = [[0.0f32; LANES]; 4];
                for (t, tp) in tap.iter().enumerate() {
                    let wv = load(&w[t * o..(t + 1) * o], oc);
                    for (a, &pi) in acc.iter_mut().zip(tp) {
                        let xv = patch[pi];
                        for l in 0..LANES {
                            a[l] = xv.mul_add(wv[l], a[l]);
                        }
                    }
                }
                pool_lanes(&acc, &load(b, oc), out, idx, base, oc, o);
            }
        }
    }
}

/// Bias, ReLU and the 2x2 max of four conv outputs (row-major window positions) with the first
/// arg-max code, for filters `oc..` of the pooled value at `base`.
#[inline(always)]
fn pool_lanes(
    y: &[Lanes; 4],
    bias: &Lanes,
    out: &mut [f32],
    idx: &mut [u16],
    base: usize,
    oc: usize,
    o: usize,
) {
    let mut best = y[0];
    let mut code = [0u16; LANES];
    for (p, yp) in y.iter().enumerate().skip(1) {
        for l in 0..LANES {
            let gt = yp[l] > best[l];
            code[l] = if gt { p as u16 } else { code[l] };
            best[l] = if gt { yp[l] } else { best[l] };
        }
    }
    let z: Lanes = std::array::from_fn(|l| best[l] + bias[l]);
    let dst = &mut out[base..base + o];
    store(dst, oc, &std::array::from_fn(|l| z[l].max(0.0)));
    for (l, ix) in idx[base + oc..base + o].iter_mut().take(LANES).enumerate() {
        *ix = if z[l] > 0.0 { code[l] } else { DEAD };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::conv::{ConvGeometry, ConvSpec, Padding};
    use crate::cnn::pool::PoolSpec;
    use crate::cnn::tensor_io::tests::rand_vec;
    use crate::cnn::winograd::tests::check_against_definition;

    #[test]
    fn matches_the_convolution_by_definition_then_relu_and_pool() {
        for (seed, (h, w, c, o)) in [
            (9, 8, 1, 4),
            (12, 11, 2, 13),
            (40, 37, 1, 32),
            (10, 14, 4, 8),
        ]
        .into_iter()
        .enumerate()
        {
            let spec = ConvSpec {
                kernel: (3, 3),
                filters: o,
                stride: 1,
                padding: Padding::Valid,
            };
            let fg = FusedGeometry::new(
                ConvGeometry::new(h, w, c, &spec).unwrap(),
                PoolSpec::square(2),
            )
            .unwrap();
            assert!(applies(&fg));
            let seed = 300 + seed as u64 * 10;
            let x = rand_vec(h * w * c, seed);
            let wt = rand_vec(9 * c * o, seed + 1);
            let b = rand_vec(o, seed + 2);
            let mut out = vec![0.0; fg.out_len()];
            let mut idx = vec![0u16; fg.out_len()];
            forward_image(&fg, &x, &wt, &b, &mut out, &mut idx);
            check_against_definition(&x, &wt, &b, &fg, &out, &idx);
        }
    }
}
