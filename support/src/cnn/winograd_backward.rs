//! The backward pass of the fused 3x3 convolution + ReLU + 2x2 max pool by F(2x2, 3x3): the exact
//! adjoint of [`super::winograd`]'s forward pass, for the same layers ([`super::winograd::applies`]).
//!
//! The forward pass computes each 2x2 output tile as `Y = Aᵀ [U ⊙ V] A`, with `U = G g Gᵀ` (the
//! kernel) and `V = Bᵀ d B` (the 4x4 input tile), the products summed over input channels. Its
//! adjoint, from the tile's gradient `dY`:
//! - `dM = A dY Aᵀ`, 4x4 per tile and filter. A 2x2 tile is one pooling window, so `dY` comes
//!   straight from the pooled gradient and the arg-max codes (at most one non-zero per filter,
//!   none where ReLU was dead): no full-size gradient to zero and scatter into, no ReLU mask pass.
//! - kernel: `dU[e] += V[e]ᵀ · dM[e]` (C x tiles times tiles x O) for the 16 elements `e`, summed
//!   over the batch, then once `dg = Gᵀ dU G` ([`kernel_gradient`]);
//! - input: `dV[e] = dM[e] · U[e]ᵀ` (tiles x O times O x C), then `dd = B dV Bᵀ` added onto the
//!   4x4 input tile (neighbouring tiles overlap by two rows or columns).
//!
//! 16 products per tile and channel pair instead of im2col's 36, for the kernel and the input
//! gradient alike (2.25x fewer multiply-adds), and no im2col/col2im copies. The gradients are
//! those of the forward pass as the Winograd path computes it, so they differ from the im2col
//! backward pass by float rounding only.

use super::fused::{FusedGeometry, DEAD};
use super::matmul::{matmul, MatRef};
use super::winograd::{
    array_of, avx2_fma_dispatch, band_rows, lanes, load, store, transform_band_inputs, Lanes,
    Scratch, LANES,
};

/// Floats of transformed input and tile gradients (`16 x tiles x (C + O)`) one band may use. Larger
/// than the forward pass's band: the kernel-gradient products sum over the band's tiles, and
/// short sums (a band of one pooled row has 18–38 tiles in the default model) waste `gemm`'s time
/// on loading and storing its accumulators.
const BAND_BUDGET: usize = 1 << 17;

/// One image's work for the backward pass.
pub(crate) struct ImageGrad<'a> {
    /// The image's input (NHWC, one image).
    pub x: &'a [f32],
    /// The kernel transformed by [`super::winograd::transform_kernel`].
    pub u: &'a [f32],
    /// Gradient of the pooled output.
    pub dout: &'a [f32],
    /// Arg-max codes the forward pass wrote.
    pub idx: &'a [u16],
    /// Accumulates the gradient of the transformed kernel, `16 x C x O`.
    pub du: &'a mut [f32],
    /// Accumulates the bias gradient.
    pub db: &'a mut [f32],
    /// Receives (adds onto) the input gradient, when asked.
    pub dx: Option<&'a mut [f32]>,
}

/// Scratch floats [`backward_image`] needs: transformed input (reused for its gradient) and tile
/// gradients of one band.
pub(crate) fn scratch_len(fg: &FusedGeometry) -> (usize, usize) {
    let tiles = band_rows(fg, BAND_BUDGET) * fg.pw;
    (16 * tiles * fg.conv.in_c, 16 * tiles * fg.conv.filters)
}

// `backward_image(fg, (im, scratch))`: one image's backward pass by F(2x2, 3x3). Requires
// `winograd::applies`. The tile transforms run as AVX2 code where the CPU has it.
avx2_fma_dispatch!(
    backward_image,
    backward_image_body,
    (ImageGrad<'_>, Scratch<'_>)
);

#[inline(always)]
fn backward_image_body(fg: &FusedGeometry, (im, (vbuf, mbuf)): (ImageGrad<'_>, Scratch<'_>)) {
    let ImageGrad {
        x,
        u,
        dout,
        idx,
        du,
        db,
        mut dx,
    } = im;
    debug_assert!(super::winograd::applies(fg));
    let (c, o, pw) = (fg.conv.in_c, fg.conv.filters, fg.pw);
    let rows = band_rows(fg, BAND_BUDGET);
    let mut a = 0;
    while a < fg.ph {
        let bnd = (a + rows).min(fg.ph);
        let tiles = (bnd - a) * pw;
        let v = &mut vbuf[..16 * tiles * c];
        let m = &mut mbuf[..16 * tiles * o];
        transform_band_inputs(x, fg, a, bnd, v);
        for t in 0..tiles {
            let at = (a * pw + t) * o;
            let mut planes = m.chunks_exact_mut(tiles * o);
            let mut mt: [&mut [f32]; 16] = array_of!(16, |_| {
                let plane = planes.next().expect("16 planes");
                &mut plane[t * o..(t + 1) * o]
            });
            tile_gradient(&dout[at..at + o], &idx[at..at + o], &mut mt, db);
        }
        for e in 0..16 {
            let ve = &mut v[e * tiles * c..(e + 1) * tiles * c];
            let me = MatRef::row_major(&m[e * tiles * o..(e + 1) * tiles * o], tiles, o);
            matmul(
                &mut du[e * c * o..(e + 1) * c * o],
                o,
                MatRef::row_major(ve, tiles, c).t(),
                me,
                true,
            );
            if dx.is_some() {
                // V[e] is spent: its buffer takes dV[e].
                let ue = MatRef::row_major(&u[e * c * o..(e + 1) * c * o], c, o);
                matmul(ve, c, me, ue.t(), false);
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            for pr in a..bnd {
                for pc in 0..pw {
                    let t = (pr - a) * pw + pc;
                    let dv: [&[f32]; 16] =
                        array_of!(16, |e| &v[(e * tiles + t) * c..(e * tiles + t + 1) * c]);
                    input_tile_gradient(&dv, dx, fg, pr, pc);
                }
            }
        }
        a = bnd;
    }
}

/// `dM = A dY Aᵀ` of one tile for all filters into `m[e]`, where `dY` holds the pooled gradient
/// `dout` at the window position its arg-max code names (nothing for [`DEAD`]); adds `dY`'s sum
/// to the bias gradient. `A = [[1, 0], [1, 1], [1, -1], [0, -1]]`.
#[inline(always)]
fn tile_gradient(dout: &[f32], idx: &[u16], m: &mut [&mut [f32]; 16], db: &mut [f32]) {
    for oc in (0..dout.len()).step_by(LANES) {
        let gv = load(dout, oc);
        let code: [u16; LANES] = array_of!(8, |l| idx.get(oc + l).copied().unwrap_or(DEAD));
        // dY, row-major window positions; branch-free.
        let y: [Lanes; 4] = array_of!(4, |p: usize| lanes(|l| if code[l] == p as u16 {
            gv[l]
        } else {
            0.0
        }));
        let bsum = load(db, oc);
        store(
            db,
            oc,
            &lanes(|l| bsum[l] + ((y[0][l] + y[1][l]) + (y[2][l] + y[3][l]))),
        );
        // t = dY Aᵀ (2x4): each row (y0, y0 + y1, y0 - y1, -y1).
        let row = |y0: &Lanes, y1: &Lanes| -> [Lanes; 4] {
            [
                *y0,
                lanes(|l| y0[l] + y1[l]),
                lanes(|l| y0[l] - y1[l]),
                lanes(|l| -y1[l]),
            ]
        };
        let (t0, t1) = (row(&y[0], &y[1]), row(&y[2], &y[3]));
        // dM = A t: rows t0, t0 + t1, t0 - t1, -t1.
        for s in 0..4 {
            store(m[s], oc, &t0[s]);
            store(m[4 + s], oc, &lanes(|l| t0[s][l] + t1[s][l]));
            store(m[8 + s], oc, &lanes(|l| t0[s][l] - t1[s][l]));
            store(m[12 + s], oc, &lanes(|l| -t1[s][l]));
        }
    }
}

/// `B y` of four transformed values `y` (the adjoint of the input transform along one axis):
/// `(y0, y1 - y2 + y3, y1 + y2 - y0, -y3)`.
#[inline(always)]
fn b_times(y0: &Lanes, y1: &Lanes, y2: &Lanes, y3: &Lanes) -> [Lanes; 4] {
    [
        *y0,
        lanes(|l| y1[l] - y2[l] + y3[l]),
        lanes(|l| y1[l] + y2[l] - y0[l]),
        lanes(|l| -y3[l]),
    ]
}

/// Adds `B dV Bᵀ` of the tile at pooled position `(pr, pc)` onto its 4x4 input pixels in `dx`,
/// for all channels; `dv[e]` holds transformed element `e`.
#[inline(always)]
fn input_tile_gradient(
    dv: &[&[f32]; 16],
    dx: &mut [f32],
    fg: &FusedGeometry,
    pr: usize,
    pc: usize,
) {
    let (c, in_w) = (fg.conv.in_c, fg.conv.in_w);
    for ch in (0..c).step_by(LANES) {
        let y: [Lanes; 16] = array_of!(16, |e| load(dv[e], ch));
        // w = dV Bᵀ, row by row.
        let mut w = [[0.0f32; LANES]; 16];
        for r in 0..4 {
            let row = b_times(&y[4 * r], &y[4 * r + 1], &y[4 * r + 2], &y[4 * r + 3]);
            w[4 * r..4 * r + 4].copy_from_slice(&row);
        }
        // dd = B w, column by column, added onto the pixels.
        for j in 0..4 {
            let col = b_times(&w[j], &w[4 + j], &w[8 + j], &w[12 + j]);
            for (i, add) in col.iter().enumerate() {
                let at = ((2 * pr + i) * in_w + 2 * pc + j) * c;
                let px = &mut dx[at..at + c];
                let cur = load(px, ch);
                store(px, ch, &lanes(|l| cur[l] + add[l]));
            }
        }
    }
}

/// The HWIO kernel gradient `dg = Gᵀ dU G` from the gradient of the transformed kernel
/// (`16 x C x O`, as [`super::winograd::transform_kernel`] lays it out).
pub(crate) fn kernel_gradient(du: &[f32], c: usize, o: usize) -> Vec<f32> {
    let co = c * o;
    assert_eq!(
        du.len(),
        16 * co,
        "transformed kernel gradient of 16x{c}x{o}"
    );
    // Gᵀ z for four values z: (z0 + (z1 + z2) / 2, (z1 - z2) / 2, (z1 + z2) / 2 + z3).
    let gt = |z: [f32; 4]| {
        [
            z[0] + 0.5 * (z[1] + z[2]),
            0.5 * (z[1] - z[2]),
            0.5 * (z[1] + z[2]) + z[3],
        ]
    };
    let mut dw = vec![0.0f32; 9 * co];
    for j in 0..co {
        let z = |e: usize| du[e * co + j];
        // Gᵀ dU: 3x4, column by column.
        let cols: [[f32; 3]; 4] =
            std::array::from_fn(|s| gt([z(s), z(4 + s), z(8 + s), z(12 + s)]));
        for kh in 0..3 {
            let row = gt([cols[0][kh], cols[1][kh], cols[2][kh], cols[3][kh]]);
            for (kw, v) in row.into_iter().enumerate() {
                dw[(kh * 3 + kw) * co + j] = v;
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::fused::{fused_backward, fused_forward, im2col_backward};
    use crate::cnn::tensor_io::tests::rand_vec;
    use crate::cnn::winograd::tests::geometry;
    use crate::cnn::winograd::{applies, transform_kernel};

    /// The three gradients by their definition, in f64, for `n` images: the pooled gradient goes
    /// to the convolution output its arg-max code names (nowhere for [`DEAD`]), then
    /// `dw[kh][kw][c][o] = Σ x[r + kh][col + kw][c] dz[r][col][o]`, `db[o] = Σ dz[r][col][o]` and
    /// `dx[r + kh][col + kw][c] = Σ w[kh][kw][c][o] dz[r][col][o]`.
    fn by_definition(
        x: &[f32],
        w: &[f32],
        fg: &FusedGeometry,
        dout: &[f32],
        idx: &[u16],
    ) -> [Vec<f64>; 3] {
        let g = &fg.conv;
        let (c, o, in_w) = (g.in_c, g.filters, g.in_w);
        let (il, ol) = (g.in_len(), fg.out_len());
        let n = x.len() / il;
        let (mut dw, mut db, mut dx) = (
            vec![0.0f64; 9 * c * o],
            vec![0.0f64; o],
            vec![0.0f64; n * il],
        );
        for i in 0..n {
            for pr in 0..fg.ph {
                for pc in 0..fg.pw {
                    for (oi, dbo) in db.iter_mut().enumerate() {
                        let at = i * ol + (pr * fg.pw + pc) * o + oi;
                        if idx[at] == DEAD {
                            continue;
                        }
                        let code = idx[at] as usize;
                        let (r, col) = (2 * pr + code / 2, 2 * pc + code % 2);
                        let dz = dout[at] as f64;
                        *dbo += dz;
                        for kh in 0..3 {
                            for kw in 0..3 {
                                for ci in 0..c {
                                    let xi = i * il + ((r + kh) * in_w + col + kw) * c + ci;
                                    let wi = ((kh * 3 + kw) * c + ci) * o + oi;
                                    dw[wi] += x[xi] as f64 * dz;
                                    dx[xi] += w[wi] as f64 * dz;
                                }
                            }
                        }
                    }
                }
            }
        }
        [dw, db, dx]
    }

    fn assert_near(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (g as f64 - w).abs() <= 2e-5 * scale,
                "{what}[{i}]: {g} vs {w} (scale {scale})"
            );
        }
    }

    #[test]
    fn gradients_match_the_definition_and_the_im2col_path() {
        // Odd and even sizes (the last convolution row or column unread by the pool), channel and
        // filter counts that are not multiples of the vector width, several bands (the last two:
        // 2 and 4), two images (sums across images).
        let sizes = [
            (9, 8, 8, 4),
            (12, 11, 9, 5),
            (19, 18, 11, 10),
            (20, 22, 33, 7),
            (40, 37, 16, 24),
            (10, 70, 64, 96),
        ];
        for (i, &(h, w, c, o)) in sizes.iter().enumerate() {
            let fg = geometry(h, w, c, o);
            assert!(applies(&fg));
            let s = 300 + 10 * i as u64;
            let n = 2;
            let (x, wt, b) = (
                rand_vec(n * h * w * c, s),
                rand_vec(9 * c * o, s + 1),
                rand_vec(o, s + 2),
            );
            let (out, idx) = fused_forward(&x, &wt, &b, &fg);
            assert!(idx.contains(&DEAD) && idx.iter().any(|&k| k != DEAD));
            let dout = rand_vec(out.len(), s + 3);
            let [dw, db, dx] = by_definition(&x, &wt, &fg, &dout, &idx);
            let (fw, fb, fx) = fused_backward(&x, &wt, &fg, &dout, &idx, true);
            let fx = fx.expect("input gradient asked for");
            let what = format!("{h}x{w}x{c}, {o} filters");
            assert_near(&fw, &dw, &format!("kernel gradient, {what}"));
            assert_near(&fb, &db, &format!("bias gradient, {what}"));
            assert_near(&fx, &dx, &format!("input gradient, {what}"));
            let (iw, ib, ix) = im2col_backward(&x, &wt, &fg, &dout, &idx, true);
            let f64s = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<_>>();
            assert_near(
                &fw,
                &f64s(&iw),
                &format!("kernel gradient vs im2col, {what}"),
            );
            assert_near(&fb, &f64s(&ib), &format!("bias gradient vs im2col, {what}"));
            assert_near(
                &fx,
                &f64s(&ix.expect("input gradient asked for")),
                &format!("input gradient vs im2col, {what}"),
            );
            // Without the input gradient: the same kernel and bias gradients, no dx.
            let (nw, nb, nx) = fused_backward(&x, &wt, &fg, &dout, &idx, false);
            assert!(nx.is_none());
            assert_eq!((nw, nb), (fw, fb));
        }
    }

    #[test]
    fn kernel_gradient_is_the_adjoint_of_the_kernel_transform() {
        // <transform_kernel(w), du> = <w, kernel_gradient(du)> for any w and du.
        let (c, o) = (3, 5);
        let w = rand_vec(9 * c * o, 7);
        let du = rand_vec(16 * c * o, 8);
        let lhs: f64 = transform_kernel(&w, c, o)
            .iter()
            .zip(&du)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        let rhs: f64 = w
            .iter()
            .zip(&kernel_gradient(&du, c, o))
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum();
        assert!(
            (lhs - rhs).abs() < 1e-5 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }
}
