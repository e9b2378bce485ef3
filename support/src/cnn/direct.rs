//! The forward pass of the fused 3x3 convolution + ReLU + 2x2 max pool for few input channels
//! (the first layer of a grey-image model: one channel), computed directly.
//!
//! With one channel an im2col row holds 9 values, so the GEMM it feeds is mostly overhead:
//! copying 3-float segments, initialising each output row with the bias, and a pooling pass over a
//! scratch buffer. Here each pooling window's four convolution outputs are accumulated in
//! registers, eight filters at a time, from the window's 4x4 input patch, and pooled at once.
//! Same result as the im2col path up to float rounding (the sums run in the same order, but may
//! be fused multiply-adds). Checked against the convolution by definition with the Winograd
//! path, in `winograd`'s tests.

use super::fused::FusedGeometry;
use super::winograd::{avx2_fma_dispatch, load, pool_lanes, Image, LANES};

/// Most input channels for which [`applies`] is true (above it, the im2col GEMM or Winograd pays).
pub(crate) const MAX_CHANNELS: usize = 4;

/// Whether the direct path computes this fused op: 3x3 kernel, stride 1, no padding, 2x2 pool of
/// stride 2, ReLU, at most [`MAX_CHANNELS`] input channels.
pub(crate) fn applies(fg: &FusedGeometry) -> bool {
    let g = &fg.conv;
    fg.relu
        && (g.kernel_h, g.kernel_w, g.stride, g.pad_top, g.pad_left) == (3, 3, 1, 0, 0)
        && fg.pool.size == (2, 2)
        && fg.pool.stride == 2
        && g.in_c <= MAX_CHANNELS
}

// `forward_image(fg, im)`: the fused forward pass of one image. Requires [`applies`]. Runs as
// AVX2 + FMA code where the CPU has them.
avx2_fma_dispatch!(forward_image, forward_image_body, Image<'_>);

#[inline(always)]
fn forward_image_body(fg: &FusedGeometry, im: Image<'_>) {
    let Image { x, w, b, out, idx } = im;
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
                pool_lanes(
                    &acc,
                    &load(b, oc),
                    &mut out[base..base + o],
                    &mut idx[base..base + o],
                    oc,
                );
            }
        }
    }
}
