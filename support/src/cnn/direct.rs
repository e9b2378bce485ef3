//! The forward pass of the fused 3x3 convolution + ReLU + 2x2 max pool for few input channels
//! (the first layer of a grey-image model: one channel), computed directly.
//!
//! With one channel an im2col row holds 9 values, so the GEMM it feeds is mostly overhead:
//! copying 3-float segments, initialising each output row with the bias, and a pooling pass over a
//! scratch buffer. Here each pooling window's four convolution outputs are accumulated in
//! registers, eight filters at a time, from the window's 4x4 input patch, and pooled at once;
//! the eight filters' kernel is loaded once per image (one channel: 9 vectors, kept in
//! registers), not once per window.
//! Same result as the im2col path up to float rounding (the sums run in the same order, but may
//! be fused multiply-adds). Checked against the convolution by definition with the Winograd
//! path, in `winograd`'s tests.

use super::fused::FusedGeometry;
use super::winograd::{array_of, avx2_fma_dispatch, load, pool_lanes, Image, LANES};

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
    debug_assert!(applies(fg));
    match fg.conv.in_c {
        1 => forward_channels::<1>(fg, im),
        2 => forward_channels::<2>(fg, im),
        3 => forward_channels::<3>(fg, im),
        _ => forward_channels::<4>(fg, im),
    }
}

/// [`forward_image_body`] for `C` input channels. Eight filters at a time: their 9 x `C` kernel
/// vectors stay in registers while every pooling window of the image is computed, each from
/// the window's 4x4 input patch read straight from `x`.
#[inline(always)]
fn forward_channels<const C: usize>(fg: &FusedGeometry, im: Image<'_>) {
    let Image { x, w, b, out, idx } = im;
    let (o, in_w) = (fg.conv.filters, fg.conv.in_w);
    assert_eq!(fg.conv.in_c, C, "channels of the direct path");
    for oc in (0..o).step_by(LANES) {
        // Tap (kh, kw, ci) of these filters: w[((kh * 3 + kw) * C + ci) * o + oc..].
        let mut wv = [[[0.0f32; LANES]; C]; 9];
        for (t, taps) in wv.iter_mut().enumerate() {
            for (ci, v) in taps.iter_mut().enumerate() {
                let at = (t * C + ci) * o;
                *v = load(&w[at..at + o], oc);
            }
        }
        let bias = load(b, oc);
        for pr in 0..fg.ph {
            // The window's four input rows.
            let rows: [&[f32]; 4] = array_of!(4, |i| &x
                [(2 * pr + i) * in_w * C..(2 * pr + i + 1) * in_w * C]);
            for pc in 0..fg.pw {
                let mut patch = [[0.0f32; C]; 16];
                for (i, row) in rows.iter().enumerate() {
                    for j in 0..4 {
                        patch[i * 4 + j].copy_from_slice(&row[(2 * pc + j) * C..][..C]);
                    }
                }
                let mut acc = [[0.0f32; LANES]; 4];
                for (t, taps) in wv.iter().enumerate() {
                    let (kh, kw) = (t / 3, t % 3);
                    for (ci, wt) in taps.iter().enumerate() {
                        for (p, a) in acc.iter_mut().enumerate() {
                            let xv = patch[(p / 2 + kh) * 4 + p % 2 + kw][ci];
                            for l in 0..LANES {
                                a[l] = xv.mul_add(wt[l], a[l]);
                            }
                        }
                    }
                }
                let base = (pr * fg.pw + pc) * o;
                pool_lanes(
                    &acc,
                    &bias,
                    &mut out[base..base + o],
                    &mut idx[base..base + o],
                    oc,
                );
            }
        }
    }
}
