//! The forward pass of the fused 3x3 convolution + ReLU + 2x2 max pool by Winograd's minimal
//! filtering, F(2x2, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
//! 2016): `Y = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d B)] A` turns each 4x4 input tile `d` into a 2x2 output tile
//! with 16 multiplications per (input, output) channel pair instead of 36, a 2.25x cut in the
//! multiply-adds of the convolution.
//!
//! A 2x2 output tile is exactly one window of a 2x2, stride-2 pooling, so the pooling (and ReLU,
//! and the bias, which is constant over a window) happen in registers on the transformed output:
//! the full convolution output never exists. Across channels the 16 elementwise products are 16
//! matrix products `V[e] (tiles x C) · U[e] (C x O)`, done by `gemm`.
//!
//! The forward pass; its adjoint, the backward pass for the same layers, is in
//! [`super::winograd_backward`] and reads the arg-max codes this writes. Results differ from the
//! direct convolution by float rounding only (the transforms use the exact constants 0, ±1 and
//! ±1/2).

use super::fused::{FusedGeometry, DEAD};
use super::matmul::{matmul, MatRef};

/// Floats of transformed input and product (`16 x tiles x (C + O)`) one band may use: 256 KiB,
/// half the smallest per-core L2 of the x86 servers we measured (AMD EPYC 7003: 512 KiB).
const BAND_BUDGET: usize = 1 << 16;

/// Whether the Winograd path computes this fused op: 3x3 kernel, stride 1, no padding, 2x2 pool of
/// stride 2, ReLU, and enough input channels for the 16 products to be worth their transforms
/// (the first layer of a grey-image model, one channel, stays on im2col).
pub(crate) fn applies(fg: &FusedGeometry) -> bool {
    let g = &fg.conv;
    fg.relu
        && (g.kernel_h, g.kernel_w, g.stride, g.pad_top, g.pad_left) == (3, 3, 1, 0, 0)
        && fg.pool.size == (2, 2)
        && fg.pool.stride == 2
        && g.in_c >= MIN_CHANNELS
}

/// Fewest input channels for which [`applies`] is true.
pub(crate) const MIN_CHANNELS: usize = 8;

/// `U[e][c][o] = (G g Gᵀ)[e]` for every input channel `c` and filter `o`, from an HWIO kernel;
/// `G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]]`.
pub(crate) fn transform_kernel(w: &[f32], c: usize, o: usize) -> Vec<f32> {
    assert_eq!(w.len(), 9 * c * o, "kernel of 3x3x{c}x{o}");
    let mut u = vec![0.0f32; 16 * c * o];
    let g_rows = |a: f32, b: f32, cc: f32| [a, 0.5 * (a + b + cc), 0.5 * (a - b + cc), cc];
    for ci in 0..c {
        for oi in 0..o {
            let g = |kh: usize, kw: usize| w[((kh * 3 + kw) * c + ci) * o + oi];
            // G g: 4x3, built column by column.
            let cols: [[f32; 4]; 3] =
                std::array::from_fn(|kw| g_rows(g(0, kw), g(1, kw), g(2, kw)));
            let gg: [[f32; 3]; 4] = std::array::from_fn(|r| std::array::from_fn(|kw| cols[kw][r]));
            // (G g) Gᵀ: 4x4, row by row.
            for (r, row) in gg.iter().enumerate() {
                for (s, v) in g_rows(row[0], row[1], row[2]).into_iter().enumerate() {
                    u[((r * 4 + s) * c + ci) * o + oi] = v;
                }
            }
        }
    }
    u
}

/// Channels handled together by the tile transforms: fixed-size arrays the compiler vectorises.
pub(crate) const LANES: usize = 8;

pub(crate) type Lanes = [f32; LANES];

/// Loads up to [`LANES`] values from `s` at `at` (zeros past its end).
#[inline(always)]
pub(crate) fn load(s: &[f32], at: usize) -> Lanes {
    match s.get(at..at + LANES) {
        // A fixed-size copy: one vector load.
        Some(full) => full.try_into().expect("LANES values"),
        None => {
            let mut v = [0.0; LANES];
            for (d, x) in v.iter_mut().zip(&s[at..]) {
                *d = *x;
            }
            v
        }
    }
}

#[inline(always)]
pub(crate) fn store(s: &mut [f32], at: usize, v: &Lanes) {
    match s.get_mut(at..at + LANES) {
        Some(full) => full.copy_from_slice(v),
        None => {
            for (d, x) in s[at..].iter_mut().zip(v) {
                *d = *x;
            }
        }
    }
}

/// `[f(0), f(1), ..., f(N - 1)]` for N = 4, 8 or 16, written out. `std::array::from_fn` is not
/// always inlined, and out of line it runs as baseline x86-64 (SSE2) code instead of the AVX2 of
/// the kernel that calls it (measured: 8% of a training step in `core::array::try_from_fn`).
macro_rules! array_of {
    (@calls $f:ident; $($i:literal)*) => { [$($f($i as usize)),*] };
    (4, $f:expr) => {{
        #[allow(unused_mut)]
        let mut f = $f;
        array_of!(@calls f; 0 1 2 3)
    }};
    (8, $f:expr) => {{
        #[allow(unused_mut)]
        let mut f = $f;
        array_of!(@calls f; 0 1 2 3 4 5 6 7)
    }};
    (16, $f:expr) => {{
        #[allow(unused_mut)]
        let mut f = $f;
        array_of!(@calls f; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15)
    }};
}
pub(crate) use array_of;

#[inline(always)]
pub(crate) fn lanes(f: impl Fn(usize) -> f32) -> Lanes {
    const _: () = assert!(LANES == 8);
    array_of!(8, f)
}

/// `Bᵀ d B` of one 4x4 tile for all channels: `d[i * 4 + j]` holds pixel `(i, j)` of the tile
/// (its `c` channels), `v[e]` receives transformed element `e`;
/// `Bᵀ = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]`.
#[inline(always)]
fn input_tile(d: &[&[f32]; 16], v: &mut [&mut [f32]; 16], c: usize) {
    for ch in (0..c).step_by(LANES) {
        let x: [Lanes; 16] = array_of!(16, |e| load(d[e], ch));
        // t = Bᵀ d, one column j at a time.
        let mut t = [[0.0f32; LANES]; 16];
        for j in 0..4 {
            let (d0, d1, d2, d3) = (&x[j], &x[4 + j], &x[8 + j], &x[12 + j]);
            t[j] = lanes(|l| d0[l] - d2[l]);
            t[4 + j] = lanes(|l| d1[l] + d2[l]);
            t[8 + j] = lanes(|l| d2[l] - d1[l]);
            t[12 + j] = lanes(|l| d1[l] - d3[l]);
        }
        // v = t B, one row i at a time.
        for i in 0..4 {
            let (r0, r1, r2, r3) = (&t[4 * i], &t[4 * i + 1], &t[4 * i + 2], &t[4 * i + 3]);
            store(v[4 * i], ch, &lanes(|l| r0[l] - r2[l]));
            store(v[4 * i + 1], ch, &lanes(|l| r1[l] + r2[l]));
            store(v[4 * i + 2], ch, &lanes(|l| r2[l] - r1[l]));
            store(v[4 * i + 3], ch, &lanes(|l| r1[l] - r3[l]));
        }
    }
}

/// `Aᵀ m A` of one tile for all filters (`Aᵀ = [[1, 1, 1, 0], [0, 1, -1, -1]]`), then bias, ReLU
/// and the 2x2 max with its first arg-max code (row-major in the window, as the direct path
/// codes it; [`DEAD`] where the maximum is not positive).
#[inline(always)]
fn output_tile(m: &[&[f32]; 16], b: &[f32], out: &mut [f32], idx: &mut [u16]) {
    for oc in (0..out.len()).step_by(LANES) {
        let v: [Lanes; 16] = array_of!(16, |e| load(m[e], oc));
        // s = Aᵀ m: 2x4.
        let mut s = [[0.0f32; LANES]; 8];
        for j in 0..4 {
            let (v0, v1, v2, v3) = (&v[j], &v[4 + j], &v[8 + j], &v[12 + j]);
            s[j] = lanes(|l| v0[l] + v1[l] + v2[l]);
            s[4 + j] = lanes(|l| v1[l] - v2[l] - v3[l]);
        }
        let y: [Lanes; 4] = array_of!(4, |p: usize| {
            let r = &s[4 * (p / 2)..4 * (p / 2) + 4];
            if p.is_multiple_of(2) {
                lanes(|l| r[0][l] + r[1][l] + r[2][l])
            } else {
                lanes(|l| r[1][l] - r[2][l] - r[3][l])
            }
        });
        pool_lanes(&y, &load(b, oc), out, idx, oc);
    }
}

/// Bias, ReLU and the 2x2 max of a window's four convolution outputs `y` (row-major positions)
/// with the first arg-max code ([`DEAD`] where the maximum is not positive), for filters
/// `oc..oc + LANES` of the pooled value whose filters are `out` and `idx`. Branch-free: a later
/// position wins only when strictly greater.
#[inline(always)]
pub(crate) fn pool_lanes(
    y: &[Lanes; 4],
    bias: &Lanes,
    out: &mut [f32],
    idx: &mut [u16],
    oc: usize,
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
    let z = lanes(|l| best[l] + bias[l]);
    store(out, oc, &lanes(|l| z[l].max(0.0)));
    for (l, ix) in idx[oc..].iter_mut().take(LANES).enumerate() {
        *ix = if z[l] > 0.0 { code[l] } else { DEAD };
    }
}

/// Pooled tile rows per band: as many as fit `budget` floats of transformed input and products.
pub(crate) fn band_rows(fg: &FusedGeometry, budget: usize) -> usize {
    let per_row = 16 * fg.pw * (fg.conv.in_c + fg.conv.filters);
    (budget / per_row).clamp(1, fg.ph)
}

/// One image's work for a fused forward pass: input `x`, kernel `w` (HWIO for the direct path,
/// transformed by [`transform_kernel`] for this one), bias `b`, and the pooled outputs and
/// arg-max codes it writes.
pub(crate) struct Image<'a> {
    pub x: &'a [f32],
    pub w: &'a [f32],
    pub b: &'a [f32],
    pub out: &'a mut [f32],
    pub idx: &'a mut [u16],
}

/// Scratch of [`scratch_len`] floats for [`forward_image`]: transformed input, products.
pub(crate) type Scratch<'a> = (&'a mut [f32], &'a mut [f32]);

/// Defines `pub(crate) fn $name(fg: &FusedGeometry, im: $image)` that runs the
/// `#[inline(always)]` function `$body` compiled for AVX2 and FMA when the CPU has them (checked
/// at run time), else as compiled. The crate targets baseline x86-64 (SSE2), so our own loops
/// would not use 256-bit vectors or fused multiply-adds otherwise.
macro_rules! avx2_fma_dispatch {
    ($name:ident, $body:ident, $image:ty) => {
        /// Runs the pass as AVX2 + FMA code where the CPU has them.
        pub(crate) fn $name(fg: &FusedGeometry, im: $image) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2_fma(fg: &FusedGeometry, im: $image) {
                    $body(fg, im)
                }
                // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
                // requirement of a `target_feature` function; the body is safe code.
                unsafe { avx2_fma(fg, im) };
                return;
            }
            $body(fg, im);
        }
    };
}
pub(crate) use avx2_fma_dispatch;

// `forward_image(fg, im)`: the fused forward pass of one image by F(2x2, 3x3). Requires
// [`applies`]. The tile transforms run as AVX2 code where the CPU has it.
avx2_fma_dispatch!(forward_image, forward_image_body, (Image<'_>, Scratch<'_>));

#[inline(always)]
fn forward_image_body(fg: &FusedGeometry, (im, (vbuf, mbuf)): (Image<'_>, Scratch<'_>)) {
    let Image {
        x,
        w: u,
        b,
        out,
        idx,
    } = im;
    debug_assert!(applies(fg));
    let g = &fg.conv;
    let (c, o, pw) = (g.in_c, g.filters, fg.pw);
    let rows = band_rows(fg, BAND_BUDGET);
    let mut a = 0;
    while a < fg.ph {
        let bnd = (a + rows).min(fg.ph);
        let tiles = (bnd - a) * pw;
        let v = &mut vbuf[..16 * tiles * c];
        let m = &mut mbuf[..16 * tiles * o];
        transform_band_inputs(x, fg, a, bnd, v);
        for e in 0..16 {
            matmul(
                &mut m[e * tiles * o..(e + 1) * tiles * o],
                o,
                MatRef::row_major(&v[e * tiles * c..(e + 1) * tiles * c], tiles, c),
                MatRef::row_major(&u[e * c * o..(e + 1) * c * o], c, o),
                false,
            );
        }
        for pr in a..bnd {
            for pc in 0..pw {
                let t = (pr - a) * pw + pc;
                let mt: [&[f32]; 16] =
                    array_of!(16, |e| &m[(e * tiles + t) * o..(e * tiles + t + 1) * o]);
                let at = (pr * pw + pc) * o;
                output_tile(&mt, b, &mut out[at..at + o], &mut idx[at..at + o]);
            }
        }
        a = bnd;
    }
}

/// `Bᵀ d B` of the input tiles under pooled rows `a..bnd` of one image `x`: `v` holds 16 planes
/// (one per transformed element) of `tiles x C`, tile `(pr - a) * pw + pc` in row `t` of each.
#[inline(always)]
pub(crate) fn transform_band_inputs(
    x: &[f32],
    fg: &FusedGeometry,
    a: usize,
    bnd: usize,
    v: &mut [f32],
) {
    let (c, pw, in_w) = (fg.conv.in_c, fg.pw, fg.conv.in_w);
    let tiles = (bnd - a) * pw;
    for pr in a..bnd {
        for pc in 0..pw {
            let t = (pr - a) * pw + pc;
            let d: [&[f32]; 16] = array_of!(16, |e: usize| {
                let (i, j) = (e / 4, e % 4);
                &x[((2 * pr + i) * in_w + 2 * pc + j) * c..][..c]
            });
            let mut planes = v.chunks_exact_mut(tiles * c);
            let mut vt: [&mut [f32]; 16] = array_of!(16, |_| {
                let plane = planes.next().expect("16 planes");
                &mut plane[t * c..(t + 1) * c]
            });
            input_tile(&d, &mut vt, c);
        }
    }
}

/// Scratch floats [`forward_image`] needs: transformed input and products of one band.
pub(crate) fn scratch_len(fg: &FusedGeometry) -> (usize, usize) {
    let tiles = band_rows(fg, BAND_BUDGET) * fg.pw;
    (16 * tiles * fg.conv.in_c, 16 * tiles * fg.conv.filters)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cnn::conv::{ConvGeometry, ConvSpec, Padding};
    use crate::cnn::direct;
    use crate::cnn::fused::fused_forward;
    use crate::cnn::pool::PoolSpec;
    use crate::cnn::tensor_io::tests::rand_vec;

    /// A 3x3 'valid' convolution of `o` filters over `h x w x c` images, then ReLU and a 2x2
    /// pool (the geometry of the Winograd and direct paths; their tests share it).
    pub(crate) fn geometry(h: usize, w: usize, c: usize, o: usize) -> FusedGeometry {
        let spec = ConvSpec {
            kernel: (3, 3),
            filters: o,
            stride: 1,
            padding: Padding::Valid,
        };
        FusedGeometry::new(
            ConvGeometry::new(h, w, c, &spec).unwrap(),
            PoolSpec::square(2),
            true,
        )
        .unwrap()
    }

    /// The convolution by its definition, in f64: `z[r][col][o]` for the rows and columns the
    /// pooling reads.
    fn naive_conv(x: &[f32], w: &[f32], fg: &FusedGeometry) -> Vec<f64> {
        let g = &fg.conv;
        let (c, o) = (g.in_c, g.filters);
        let (rows, cols) = (2 * fg.ph, 2 * fg.pw);
        let mut z = vec![0.0f64; rows * cols * o];
        for r in 0..rows {
            for col in 0..cols {
                for oi in 0..o {
                    let mut acc = 0.0f64;
                    for kh in 0..3 {
                        for kw in 0..3 {
                            for ci in 0..c {
                                acc += x[((r + kh) * g.in_w + col + kw) * c + ci] as f64
                                    * w[((kh * 3 + kw) * c + ci) * o + oi] as f64;
                            }
                        }
                    }
                    z[(r * cols + col) * o + oi] = acc;
                }
            }
        }
        z
    }

    #[test]
    fn both_fast_paths_match_the_convolution_by_definition_then_relu_and_pool() {
        // Through `fused_forward`, which picks the path: Winograd for 8 channels or more, the
        // direct loops for 1 to 4. Odd and even sizes (the last convolution row or column
        // unread by the pool), several bands (40x37 with 16+24 channels needs more than one),
        // channel and filter counts that are not multiples of the vector width.
        let sizes = [
            (9, 8, 8, 4),
            (12, 11, 9, 5),
            (40, 37, 16, 24),
            (20, 22, 33, 7),
            (9, 8, 1, 4),
            (12, 11, 2, 13),
            (40, 37, 1, 32),
            (10, 14, 4, 8),
        ];
        for (i, &(h, w, c, o)) in sizes.iter().enumerate() {
            let fg = geometry(h, w, c, o);
            assert_eq!(applies(&fg), c >= MIN_CHANNELS);
            assert_eq!(direct::applies(&fg), c <= direct::MAX_CHANNELS);
            let s = 100 + 10 * i as u64;
            let (x, wt, b) = (
                rand_vec(2 * h * w * c, s),
                rand_vec(9 * c * o, s + 1),
                rand_vec(o, s + 2),
            );
            let (out, idx) = fused_forward(&x, &wt, &b, &fg);
            let (il, ol) = (fg.conv.in_len(), fg.out_len());
            for image in 0..2 {
                let (xi, oi) = (image * il..(image + 1) * il, image * ol..(image + 1) * ol);
                check_against_definition(&x[xi], &wt, &b, &fg, &out[oi.clone()], &idx[oi]);
            }
        }
    }

    /// Checks pooled outputs and arg-max codes of the fused op against [`naive_conv`], bias,
    /// ReLU and a 2x2 max; codes must point at a maximum (ties within rounding allowed) and be
    /// [`DEAD`] where the pooled value is clearly not positive.
    fn check_against_definition(
        x: &[f32],
        wt: &[f32],
        b: &[f32],
        fg: &FusedGeometry,
        out: &[f32],
        idx: &[u16],
    ) {
        let o = fg.conv.filters;
        let z = naive_conv(x, wt, fg);
        let cols = 2 * fg.pw;
        let mut live = 0;
        for pr in 0..fg.ph {
            for pc in 0..fg.pw {
                for oi in 0..o {
                    let at = (pr * fg.pw + pc) * o + oi;
                    let win: Vec<f64> = (0..4)
                        .map(|p| z[((2 * pr + p / 2) * cols + 2 * pc + p % 2) * o + oi])
                        .collect();
                    let max = win.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let want = (max + b[oi] as f64).max(0.0);
                    assert!(
                        (out[at] as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                        "at {at}: {} vs {want}",
                        out[at]
                    );
                    if want > 1e-3 {
                        live += 1;
                        let code = idx[at] as usize;
                        assert!(code < 4, "live value coded dead at {at}");
                        assert!((win[code] - max).abs() < 1e-4 * (1.0 + max.abs()));
                    } else if max + (b[oi] as f64) < -1e-3 {
                        assert_eq!(idx[at], DEAD, "dead value at {at} has a code");
                    }
                }
            }
        }
        assert!(live > 0);
    }

    #[test]
    fn kernel_transform_is_g_g_gt() {
        // One channel pair, written out: G g Gᵀ with G = [[1,0,0],[.5,.5,.5],[.5,-.5,.5],[0,0,1]].
        let w: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let u = transform_kernel(&w, 1, 1);
        let gm = [
            [1.0, 0.0, 0.0],
            [0.5, 0.5, 0.5],
            [0.5, -0.5, 0.5],
            [0.0, 0.0, 1.0],
        ];
        for r in 0..4 {
            for s in 0..4 {
                let mut want = 0.0f32;
                for i in 0..3 {
                    for j in 0..3 {
                        want += gm[r][i] * w[i * 3 + j] * gm[s][j];
                    }
                }
                assert!((u[r * 4 + s] - want).abs() < 1e-6, "({r},{s})");
            }
        }
    }

    #[test]
    fn only_3x3_valid_stride_1_with_a_2x2_pool_and_enough_channels() {
        assert!(applies(&geometry(10, 10, MIN_CHANNELS, 4)));
        assert!(!applies(&geometry(10, 10, 1, 4)));
        let spec = ConvSpec {
            kernel: (3, 3),
            filters: 4,
            stride: 1,
            padding: Padding::Same,
        };
        let same = ConvGeometry::new(10, 10, 16, &spec).unwrap();
        assert!(!applies(
            &FusedGeometry::new(same, PoolSpec::square(2), true).unwrap()
        ));
        let valid = ConvGeometry::new(
            10,
            10,
            16,
            &ConvSpec {
                padding: Padding::Valid,
                ..spec
            },
        )
        .unwrap();
        let pool3 = PoolSpec {
            size: (3, 3),
            stride: 2,
        };
        assert!(!applies(&FusedGeometry::new(valid, pool3, true).unwrap()));
        let unpooled = FusedGeometry::new(valid, PoolSpec::square(1), true).unwrap();
        assert!(!applies(&unpooled) && !direct::applies(&unpooled));
        // Both fast paths apply ReLU in their pooling; a linear convolution takes im2col.
        let linear = FusedGeometry::new(valid, PoolSpec::square(2), false).unwrap();
        assert!(!applies(&linear));
        let few = ConvGeometry::new(
            10,
            10,
            1,
            &ConvSpec {
                padding: Padding::Valid,
                ..spec
            },
        )
        .unwrap();
        assert!(direct::applies(
            &FusedGeometry::new(few, PoolSpec::square(2), true).unwrap()
        ));
        assert!(!direct::applies(
            &FusedGeometry::new(few, PoolSpec::square(2), false).unwrap()
        ));
    }
}
