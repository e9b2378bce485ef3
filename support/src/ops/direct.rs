//! The fused 3x3 convolution + ReLU + 2x2 max pool for few input channels (the first layer of a
//! grey-image model: one channel), forward and backward, computed directly.
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
//!
//! The backward pass ([`backward_image`]) likewise skips im2col's full-size band gradient (zeroed,
//! then scattered into) and its GEMM. For one row of pooling windows and eight filters at a
//! time, the 9 x C kernel-gradient sums are local arrays (registers where they fit), and each
//! window adds its 4x4 input patch times four masked copies of the pooled gradient, one per
//! window position, each non-zero only for the filters whose arg-max code names that position
//! (branch-free: 36 x C multiply-adds per window and eight filters, three quarters of them by
//! zero). It computes the kernel and bias gradients only; when the input gradient is asked for
//! (never for a first layer), [`super::fused::fused_backward`] takes the im2col path instead.
//! Checked against the im2col path and by finite differences in this module's tests.

use super::geometry::FusedGeometry;
use super::winograd::{
    array_of, avx2_fma_dispatch, load, pool_lanes, route_gradient, store, Image, Lanes, LANES,
};

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
        4 => forward_channels::<4>(fg, im),
        c => unreachable!("{c} channels on the direct path"),
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

/// One image's work for the backward pass (kernel and bias gradients only).
pub(crate) struct ImageGrad<'a> {
    /// The image's input (NHWC, one image).
    pub x: &'a [f32],
    /// Gradient of the pooled output.
    pub dout: &'a [f32],
    /// Arg-max codes the forward pass wrote.
    pub idx: &'a [u16],
    /// Accumulates the kernel gradient (HWIO).
    pub dw: &'a mut [f32],
    /// Accumulates the bias gradient.
    pub db: &'a mut [f32],
}

// `backward_image(fg, im)`: adds one image's kernel and bias gradients onto `im.dw` and `im.db`.
// Requires [`applies`]. Runs as AVX2 + FMA code where the CPU has them.
avx2_fma_dispatch!(backward_image, backward_image_body, ImageGrad<'_>);

#[inline(always)]
fn backward_image_body(fg: &FusedGeometry, im: ImageGrad<'_>) {
    debug_assert!(applies(fg));
    // A fixed channel count: fixed-size accumulator arrays (in registers where they fit).
    match fg.conv.in_c {
        1 => backward_channels::<1>(fg, im),
        2 => backward_channels::<2>(fg, im),
        3 => backward_channels::<3>(fg, im),
        4 => backward_channels::<4>(fg, im),
        c => unreachable!("{c} channels on the direct path"),
    }
}

/// [`backward_image_body`] for `C` input channels. For each pooled row and group of eight
/// filters, one pass over the row's pooling windows: `acc[kh * 3 + kw][ci]` accumulates the
/// kernel gradient of tap `(kh, kw, ci)` as `Σ x[2pr + i + kh][2pc + j + kw][ci] y_p` over the
/// window positions `p = (i, j)`, where `y_p` is the pooled gradient for the filters whose arg-max
/// code is `p` and 0 for the others (branch-free). A row at a time, so that the row's pooled
/// gradients and codes stay in the L1 cache while each filter group reads them.
#[inline(always)]
fn backward_channels<const C: usize>(fg: &FusedGeometry, im: ImageGrad<'_>) {
    let ImageGrad {
        x,
        dout,
        idx,
        dw,
        db,
    } = im;
    let (o, in_w, pw) = (fg.conv.filters, fg.conv.in_w, fg.pw);
    for pr in 0..fg.ph {
        // The four input rows the pooled row reads, and its gradients and codes.
        let xr = &x[2 * pr * in_w * C..(2 * pr + 4) * in_w * C];
        let (gr, kr) = (
            &dout[pr * pw * o..(pr + 1) * pw * o],
            &idx[pr * pw * o..(pr + 1) * pw * o],
        );
        for oc in (0..o).step_by(LANES) {
            let mut acc = [[[0.0f32; LANES]; C]; 9];
            let mut bacc = [0.0f32; LANES];
            for pc in 0..pw {
                let gv = load(&gr[pc * o..(pc + 1) * o], oc);
                let y = route_gradient(&gv, &kr[pc * o..(pc + 1) * o], oc);
                for l in 0..LANES {
                    bacc[l] += (y[0][l] + y[1][l]) + (y[2][l] + y[3][l]);
                }
                // The window's 4x4 input patch: patch[i][j][ci] = x[2pr + i][2pc + j][ci].
                let mut patch = [[[0.0f32; C]; 4]; 4];
                for (i, prow) in patch.iter_mut().enumerate() {
                    let xrow = &xr[(i * in_w + 2 * pc) * C..][..4 * C];
                    for (j, px) in prow.iter_mut().enumerate() {
                        px.copy_from_slice(&xrow[j * C..(j + 1) * C]);
                    }
                }
                for kh in 0..3 {
                    for kw in 0..3 {
                        for (ci, a) in acc[kh * 3 + kw].iter_mut().enumerate() {
                            for (p, yp) in y.iter().enumerate() {
                                let xv = patch[p / 2 + kh][p % 2 + kw][ci];
                                for l in 0..LANES {
                                    a[l] = xv.mul_add(yp[l], a[l]);
                                }
                            }
                        }
                    }
                }
            }
            // Tap t = (kh * 3 + kw) * C + ci owns dw[t * o..(t + 1) * o].
            for (t, a) in acc.iter().flatten().enumerate() {
                add_lanes(&mut dw[t * o..(t + 1) * o], oc, a);
            }
            add_lanes(db, oc, &bacc);
        }
    }
}

/// `s[oc..oc + LANES] += v` (as far as `s` reaches).
#[inline(always)]
fn add_lanes(s: &mut [f32], oc: usize, v: &Lanes) {
    let mut cur = load(s, oc);
    for l in 0..LANES {
        cur[l] += v[l];
    }
    store(s, oc, &cur);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::{ConvGeometry, ConvSpec, Padding};
    use crate::ops::fused::{conv2d_pool, fused_backward, fused_forward, im2col_backward};
    use crate::ops::geometry::DEAD;
    use crate::ops::pool::PoolSpec;
    use crate::ops::tensor_io::tests::{finite_diff_check, rand_vec};
    use crate::ops::winograd::tests::geometry;
    use dfdx::prelude::*;

    /// `got` within `tol` times the largest magnitude in `want` of `want`, element by element.
    fn assert_near(got: &[f32], want: &[f32], tol: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        assert!(scale > 0.0, "{what}: all zero");
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g - w).abs() <= tol * scale,
                "{what}[{i}]: {g} vs {w} (scale {scale})"
            );
        }
    }

    #[test]
    fn gradients_match_the_im2col_path() {
        // Odd and even sizes (the last convolution row or column unread by the pool), 1 to 4
        // channels, filter counts that are not multiples of the vector width, 1 to 3 images, and
        // 10 images (more than the 8 groups `backward_batch` splits a batch into, so one group
        // adds several images into its gradients). Random inputs: no ties within a window. A
        // negative bias shift leaves most windows dead in the later cases.
        let sizes = [
            (1, 9, 8, 1, 5, 0.0),
            (2, 12, 11, 2, 13, 0.0),
            (3, 40, 37, 1, 32, 0.0),
            (2, 10, 14, 4, 8, 0.0),
            (1, 15, 13, 3, 32, -2.5),
            (3, 21, 10, 1, 13, -1.5),
            (2, 6, 6, 4, 5, -2.5),
            (10, 11, 12, 1, 32, -1.5),
        ];
        for (i, &(n, h, w, c, o, shift)) in sizes.iter().enumerate() {
            let fg = geometry(h, w, c, o);
            assert!(applies(&fg));
            let s = 700 + 10 * i as u64;
            let (x, wt) = (rand_vec(n * h * w * c, s), rand_vec(9 * c * o, s + 1));
            let b: Vec<f32> = rand_vec(o, s + 2).iter().map(|v| v + shift).collect();
            let (out, idx) = fused_forward(&x, &wt, &b, &fg);
            let dead = idx.iter().filter(|&&k| k == DEAD).count();
            assert!(dead > 0 && dead < idx.len(), "{dead} of {} dead", idx.len());
            if shift < 0.0 {
                assert!(2 * dead > idx.len(), "{dead} of {} dead", idx.len());
            }
            let dout = rand_vec(out.len(), s + 3);
            let (dw, db, dx) = fused_backward(&x, &wt, &fg, &dout, &idx, false);
            assert!(dx.is_none());
            let (iw, ib, _) = im2col_backward(&x, &wt, &fg, &dout, &idx, false);
            let what = format!("{n}x{h}x{w}x{c}, {o} filters");
            assert_near(&dw, &iw, 1e-5, &format!("kernel gradient, {what}"));
            assert_near(&db, &ib, 1e-5, &format!("bias gradient, {what}"));
            // With the input gradient: the im2col path itself.
            let with_dx = fused_backward(&x, &wt, &fg, &dout, &idx, true);
            assert_eq!(with_dx, im2col_backward(&x, &wt, &fg, &dout, &idx, true));
        }
    }

    #[test]
    fn backward_image_adds_onto_its_gradients() {
        // Twice the same image into the same sums: twice the gradients of one.
        let fg = geometry(9, 11, 2, 13);
        let (x, wt, b) = (
            rand_vec(9 * 11 * 2, 1),
            rand_vec(9 * 2 * 13, 2),
            rand_vec(13, 3),
        );
        let (out, idx) = fused_forward(&x, &wt, &b, &fg);
        let dout = rand_vec(out.len(), 4);
        let (mut dw, mut db) = (vec![0.0f32; 9 * 2 * 13], vec![0.0f32; 13]);
        for _ in 0..2 {
            let im = ImageGrad {
                x: &x,
                dout: &dout,
                idx: &idx,
                dw: &mut dw,
                db: &mut db,
            };
            backward_image(&fg, im);
        }
        let (iw, ib, _) = im2col_backward(&x, &wt, &fg, &dout, &idx, false);
        let twice = |v: Vec<f32>| v.iter().map(|a| 2.0 * a).collect::<Vec<_>>();
        assert_near(&dw, &twice(iw), 1e-5, "kernel gradient");
        assert_near(&db, &twice(ib), 1e-5, "bias gradient");
    }

    #[test]
    fn gradients_match_finite_differences() {
        // Through `conv2d_pool` without the input gradient (the direct path): the helper's input
        // is replaced by a fixed image, so the loss does not depend on it and its gradient is 0.
        for (n, h, w, c, o, seed) in [(2, 7, 8, 1, 10, 41), (1, 8, 9, 3, 5, 43)] {
            let cs = ConvSpec::new((3, 3), o, 1, Padding::Valid);
            let g = ConvGeometry::new(h, w, c, &cs).unwrap();
            assert!(applies(
                &FusedGeometry::new(g, PoolSpec::square(2), true).unwrap()
            ));
            let fixed =
                Cpu::default().tensor_from_vec(rand_vec(n * h * w * c, seed + 10), (n, h, w, c));
            finite_diff_check(
                (n, h, w, c),
                seed,
                |x, k, b| {
                    let (_, tape) = x.split_tape();
                    let x = fixed.clone().put_tape(tape);
                    conv2d_pool(x, k, b, &cs, &PoolSpec::square(2), true, false).unwrap()
                },
                g.kernel_len(),
                o,
                1e-3,
            );
        }
    }
}
