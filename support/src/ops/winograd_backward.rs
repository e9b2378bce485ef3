//! The backward pass of the fused 3x3 convolution + ReLU + 2x2 max pool by F(4x4, 3x3): the exact
//! adjoint of [`super::winograd`]'s forward pass, for the same layers ([`super::winograd::applies`]).
//!
//! The forward pass computes each 4x4 output tile as `Y = Aᵀ [U ⊙ V] A`, with `U = G g Gᵀ` (the
//! kernel) and `V = Bᵀ d B` (the 6x6 input tile), the products summed over input channels. Its
//! adjoint, from the tile's gradient `dY`:
//! - `dM = A dY Aᵀ`, 6x6 per tile and filter. A 4x4 tile is four pooling windows, so `dY` comes
//!   straight from the pooled gradient and the arg-max codes (at most one non-zero per window and
//!   filter, none where ReLU was dead or the window lies past the pooled output): no full-size
//!   gradient to zero and scatter into, no ReLU mask pass.
//! - kernel: `dU[e] += V[e]ᵀ · dM[e]` (C x tiles times tiles x O) for the 36 elements `e`, summed
//!   over the batch, then once `dg = Gᵀ dU G` ([`kernel_gradient`]);
//! - input: `dV[e] = dM[e] · U[e]ᵀ` (tiles x O times O x C), then `dd = B dV Bᵀ` added onto the
//!   6x6 input tile's pixels inside the image (neighbouring tiles overlap by two rows or columns).
//!
//! 36 products per tile and channel pair instead of im2col's 144, for the kernel and the input
//! gradient alike, and no im2col/col2im copies. The gradients are those of the forward pass as
//! the Winograd path computes it, so they differ from the im2col backward pass by float rounding
//! only.

use super::geometry::FusedGeometry;
use super::matmul::{matmul, MatRef};
use super::winograd::{
    array_of, avx2_fma_dispatch, band_tiles, bands, element, lanes, load, route_gradient,
    scratch_for, split_edge, store, transform_band_inputs, window_cells, windows, with_width,
    Lanes, Scratch, Width, ELEMENTS, LANES,
};

/// Floats of transformed input and tile gradients (`36 x tiles x (C + O)`) a backward band may
/// use: 4 MiB, more than the forward pass's and more than L2, because the kernel-gradient
/// products sum over the band's tiles, and short sums waste `gemm`'s time on loading and storing
/// its accumulators. On an EPYC 7003, 4 MiB took 7% off a training step's CPU time against
/// 1 MiB; 8 and 16 MiB gained nothing more (BENCHMARKS.md, 2026-12-03).
const BAND_BUDGET: usize = 1 << 20;

/// One image's work for the backward pass.
pub(crate) struct ImageGrad<'a> {
    /// The image's input (NHWC, one image).
    pub x: &'a [f32],
    /// The kernel transformed by [`transform_kernel`].
    pub u: &'a [f32],
    /// Gradient of the pooled output.
    pub dout: &'a [f32],
    /// Arg-max codes the forward pass wrote.
    pub idx: &'a [u16],
    /// Accumulates the gradient of the transformed kernel, `36 x C x O`.
    pub du: &'a mut [f32],
    /// Accumulates the bias gradient.
    pub db: &'a mut [f32],
    /// Receives (adds onto) the input gradient, when asked.
    pub dx: Option<&'a mut [f32]>,
}

/// Scratch floats [`backward_image`] needs: transformed input (reused for its gradient) and tile
/// gradients of one band.
pub(crate) fn scratch_len(fg: &FusedGeometry) -> (usize, usize) {
    scratch_for(fg, BAND_BUDGET)
}

// `backward_image(fg, (im, scratch))`: one image's backward pass by F(4x4, 3x3). Requires
// `winograd::applies`.
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
    let (c, o) = (fg.conv.in_c, fg.conv.filters);
    let (vbuf, edge) = split_edge(vbuf, c);
    for (a, bnd, n) in bands(fg, BAND_BUDGET) {
        let v = &mut vbuf[..ELEMENTS * n * c];
        let m = &mut mbuf[..ELEMENTS * n * o];
        transform_band_inputs(x, fg, (a, bnd), v, edge);
        with_width!(o, band_gradients((dout, idx), m, db, fg, (a, bnd)));
        for e in 0..ELEMENTS {
            let me = element(m, e, n, o);
            matmul(
                &mut du[e * c * o..(e + 1) * c * o],
                o,
                element(v, e, n, c).t(),
                me,
                true,
            );
            if dx.is_some() {
                // V[e] is spent: its rows take dV[e].
                let ue = MatRef::row_major(&u[e * c * o..(e + 1) * c * o], c, o);
                matmul(&mut v[e * c..], ELEMENTS * c, me, ue.t(), false);
            }
        }
        if let Some(dx) = dx.as_deref_mut() {
            with_width!(c, band_input_gradients(v, dx, fg, (a, bnd)));
        }
    }
}

/// [`tile_gradient`] for the tiles in tile rows `a..bnd`, into the blocks of `m`.
#[inline(always)]
fn band_gradients(
    o: impl Width,
    (dout, idx): (&[f32], &[u16]),
    m: &mut [f32],
    db: &mut [f32],
    fg: &FusedGeometry,
    band: (usize, usize),
) {
    let block = ELEMENTS * o.get();
    for (t, tile) in band_tiles(fg, band) {
        let m = &mut m[t * block..][..block];
        tile_gradient(o, (dout, idx), m, db, fg, tile);
    }
}

/// [`input_tile_gradient`] for the tiles in tile rows `a..bnd`, from the blocks of `dv`.
#[inline(always)]
fn band_input_gradients(
    c: impl Width,
    dv: &[f32],
    dx: &mut [f32],
    fg: &FusedGeometry,
    band: (usize, usize),
) {
    let block = ELEMENTS * c.get();
    for (t, tile) in band_tiles(fg, band) {
        input_tile_gradient(c, &dv[t * block..][..block], dx, fg, tile);
    }
}

/// `dM = A dY Aᵀ` of tile `(tr, tc)` for all `o` filters into the tile's block `m` (element `e`
/// at `e * o`), where `dY` holds the pooled gradient at the window position its arg-max code
/// names (nothing for [`DEAD`] or for windows past the pooled output); adds `dY`'s sum to the
/// bias gradient.
#[inline(always)]
fn tile_gradient(
    o: impl Width,
    (dout, idx): (&[f32], &[u16]),
    m: &mut [f32],
    db: &mut [f32],
    fg: &FusedGeometry,
    (tr, tc): (usize, usize),
) {
    let o = o.get();
    let m = &mut m[..ELEMENTS * o];
    let db = &mut db[..o];
    for oc in (0..o).step_by(LANES) {
        // dY, 4x4 row-major; branch-free within a window.
        let mut y = [[0.0f32; LANES]; 16];
        let mut sum = [0.0f32; LANES];
        for (pr, pc, q) in windows(fg, tr, tc) {
            let at = (pr * fg.pw + pc) * o;
            let gv = load(&dout[at..at + o], oc);
            let routed = route_gradient(&gv, &idx[at..at + o], oc);
            for (p, cell) in window_cells(q).into_iter().enumerate() {
                y[cell] = routed[p];
            }
            sum =
                lanes(|l| sum[l] + ((routed[0][l] + routed[1][l]) + (routed[2][l] + routed[3][l])));
        }
        let bsum = load(db, oc);
        store(db, oc, &lanes(|l| bsum[l] + sum[l]));
        // t = dY Aᵀ: 4x6, row by row (`t[p][f]`).
        let t: [[Lanes; 6]; 4] = array_of!(4, |p: usize| a_times(
            &array_of!(4, |q: usize| y[4 * p + q])
        ));
        // dM = A t: 6x6, column by column.
        for f in 0..6 {
            let col = a_times(&array_of!(4, |p: usize| t[p][f]));
            for (e, v) in col.iter().enumerate() {
                store(&mut m[(6 * e + f) * o..][..o], oc, v);
            }
        }
    }
}

/// Adds `B dV Bᵀ` of tile `(tr, tc)` onto its 6x6 input pixels in `dx` (those inside the image),
/// for all `c` channels; `dv` is the tile's block (transformed element `e` at `e * c`).
#[inline(always)]
fn input_tile_gradient(
    c: impl Width,
    dv: &[f32],
    dx: &mut [f32],
    fg: &FusedGeometry,
    (tr, tc): (usize, usize),
) {
    let (in_h, in_w) = (fg.conv.in_h, fg.conv.in_w);
    let c = c.get();
    let dv = &dv[..ELEMENTS * c];
    let rows = (in_h - 4 * tr).min(6);
    let cols = (in_w - 4 * tc).min(6);
    for ch in (0..c).step_by(LANES) {
        // w = dV Bᵀ, row by row (`w[e][j]`).
        let w: [[Lanes; 6]; 6] = array_of!(6, |e: usize| b_times(&array_of!(6, |f: usize| load(
            &dv[(6 * e + f) * c..][..c],
            ch
        ))));
        // dd = B w, column by column (`wt[j][e] = w[e][j]`), added onto the pixels.
        let wt: [[Lanes; 6]; 6] = array_of!(6, |j: usize| array_of!(6, |e: usize| w[e][j]));
        for (j, wj) in wt.iter().enumerate().take(cols) {
            let col = b_times(wj);
            for (i, add) in col.iter().enumerate().take(rows) {
                let at = ((4 * tr + i) * in_w + 4 * tc + j) * c;
                let px = &mut dx[at..at + c];
                let cur = load(px, ch);
                store(px, ch, &lanes(|l| cur[l] + add[l]));
            }
        }
    }
}

/// `A y` for four values (the adjoint of [`at_times`]).
#[inline(always)]
fn a_times(y: &[Lanes; 4]) -> [Lanes; 6] {
    let [y0, y1, y2, y3] = y;
    let (p, q) = (lanes(|l| y0[l] + y2[l]), lanes(|l| y1[l] + y3[l]));
    let (r, s) = (
        lanes(|l| y0[l] + 4.0 * y2[l]),
        lanes(|l| 2.0 * y1[l] + 8.0 * y3[l]),
    );
    [
        *y0,
        lanes(|l| p[l] + q[l]),
        lanes(|l| p[l] - q[l]),
        lanes(|l| r[l] + s[l]),
        lanes(|l| r[l] - s[l]),
        *y3,
    ]
}

/// `B y` for six values (the adjoint of [`bt_times`]).
#[inline(always)]
fn b_times(y: &[Lanes; 6]) -> [Lanes; 6] {
    let [y0, y1, y2, y3, y4, y5] = y;
    [
        lanes(|l| 4.0 * y0[l]),
        lanes(|l| 4.0 * (y2[l] - y1[l]) + 2.0 * (y4[l] - y3[l]) + 4.0 * y5[l]),
        lanes(|l| -5.0 * y0[l] - 4.0 * (y1[l] + y2[l]) - (y3[l] + y4[l])),
        lanes(|l| (y1[l] - y2[l]) + 2.0 * (y3[l] - y4[l]) - 5.0 * y5[l]),
        lanes(|l| y0[l] + (y1[l] + y2[l]) + (y3[l] + y4[l])),
        *y5,
    ]
}

/// `Gᵀ z` for six values (the adjoint of [`g_times`]).
fn gt_times(z: [f32; 6]) -> [f32; 3] {
    [
        z[0] / 4.0 - (z[1] + z[2]) / 6.0 + (z[3] + z[4]) / 24.0,
        (z[2] - z[1]) / 6.0 + (z[3] - z[4]) / 12.0,
        (z[3] + z[4] - z[1] - z[2]) / 6.0 + z[5],
    ]
}

/// The HWIO kernel gradient `dg = Gᵀ dU G` from the gradient of the transformed kernel
/// (`36 x C x O`, laid out as [`transform_kernel`] writes it).
pub(crate) fn kernel_gradient(du: &[f32], c: usize, o: usize) -> Vec<f32> {
    let co = c * o;
    assert_eq!(
        du.len(),
        ELEMENTS * co,
        "transformed kernel gradient of 36x{c}x{o}"
    );
    let mut dw = vec![0.0f32; 9 * co];
    for j in 0..co {
        let z = |e: usize| du[e * co + j];
        // Gᵀ dU: 3x6, column by column.
        let cols: [[f32; 3]; 6] =
            [0, 1, 2, 3, 4, 5].map(|s| gt_times([0, 6, 12, 18, 24, 30].map(|r| z(r + s))));
        for kh in 0..3 {
            let row = gt_times(cols.map(|col| col[kh]));
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
    use crate::ops::fused::{fused_backward, fused_forward, im2col_backward};
    use crate::ops::geometry::DEAD;
    use crate::ops::tensor_io::tests::rand_vec;
    use crate::ops::winograd::tests::geometry;
    use crate::ops::winograd::{applies, at_times, bt_times, g_times, transform_kernel};

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
        // filter counts that are not multiples of the vector width, several bands (150x149 with
        // 16+9 channels needs more than one, checked below), two images (sums across images),
        // and the counts the tile transforms are compiled for (`with_width!`: 32, 64, 128).
        let sizes = [
            (150, 149, 16, 9),
            (19, 18, 32, 64),
            (13, 15, 128, 128),
            (9, 8, 8, 4),
            (12, 11, 9, 5),
            (19, 18, 11, 10),
            (20, 22, 33, 7),
            (40, 37, 16, 24),
            (10, 70, 64, 96),
        ];
        assert!(
            sizes
                .iter()
                .any(|&(h, w, c, o)| bands(&geometry(h, w, c, o), BAND_BUDGET).count() > 1),
            "some size spans several bands"
        );
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

    /// `<f(a), b> == <a, f_adjoint(b)>` for random `a` and `b`.
    fn assert_adjoint<const N: usize, const M: usize>(
        f: impl Fn(&[Lanes; N]) -> [Lanes; M],
        f_adj: impl Fn(&[Lanes; M]) -> [Lanes; N],
        seed: u64,
    ) {
        let a = rand_vec(N, seed);
        let b = rand_vec(M, seed + 1);
        let fa = f(&array_of_n(|i| [a[i]; LANES]));
        let fb = f_adj(&array_of_n(|i| [b[i]; LANES]));
        let lhs: f32 = (0..M).map(|i| fa[i][0] * b[i]).sum();
        let rhs: f32 = (0..N).map(|i| a[i] * fb[i][0]).sum();
        assert!(
            (lhs - rhs).abs() < 1e-5 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    fn array_of_n<const N: usize>(f: impl Fn(usize) -> Lanes) -> [Lanes; N] {
        std::array::from_fn(f)
    }

    #[test]
    fn backward_transforms_are_the_adjoints_of_the_forward_ones() {
        for seed in [1, 5, 9] {
            assert_adjoint(bt_times, b_times, seed);
            assert_adjoint(at_times, a_times, seed);
            let w = rand_vec(3, seed);
            let z = rand_vec(6, seed + 1);
            let lhs: f32 = g_times([w[0], w[1], w[2]])
                .iter()
                .zip(&z)
                .map(|(a, b)| a * b)
                .sum();
            let rhs: f32 = gt_times([z[0], z[1], z[2], z[3], z[4], z[5]])
                .iter()
                .zip(&w)
                .map(|(a, b)| a * b)
                .sum();
            assert!((lhs - rhs).abs() < 1e-5, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn kernel_gradient_is_the_adjoint_of_the_kernel_transform() {
        // <transform_kernel(w), du> = <w, kernel_gradient(du)> for any w and du.
        let (c, o) = (3, 5);
        let w = rand_vec(9 * c * o, 7);
        let du = rand_vec(ELEMENTS * c * o, 8);
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
