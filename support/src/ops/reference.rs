//! The unfused reference convolution for the tests: [`conv2d`] as a separate differentiable dfdx
//! op, checked against naive loops and finite differences here, so that the fused op the model
//! runs ([`conv2d_pool`](super::fused::conv2d_pool)) can be compared with
//! `max_pool2d(relu(conv2d(x)))` (with [`max_pool2d`](super::pool::max_pool2d)) in its own tests.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::conv::{
    backward_band, backward_batch, im2col, with_scratch, ConvCall, ConvGeometry, ConvGrads,
    ConvSpec, PATCH_BUDGET,
};
use super::matmul::{matmul, MatRef};
use super::tensor_io::Nhwc;
use crate::error::Result;

/// How many output rows of width `ncols` one im2col band holds.
fn band_rows(g: &ConvGeometry, ncols: usize) -> usize {
    (PATCH_BUDGET / (ncols * g.patch_len()).max(1)).max(1)
}

/// Runs `f(r0, r1, patches)` over one image's output rows `r0..r1`, band by band, with an
/// im2col buffer that holds one band.
fn by_bands(g: &ConvGeometry, mut f: impl FnMut(usize, usize, &mut [f32])) {
    let band = band_rows(g, g.out_w);
    with_scratch(band * g.out_w * g.patch_len(), 0, |patches, _| {
        let mut r0 = 0;
        while r0 < g.out_h {
            let r1 = (r0 + band).min(g.out_h);
            f(r0, r1, patches);
            r0 = r1;
        }
    });
}

/// Forward convolution of one image: `out = im2col(x) · w + b`.
fn forward_image(x: &[f32], w: &[f32], b: &[f32], g: &ConvGeometry, out: &mut [f32]) {
    let (k, o, ow) = (g.patch_len(), g.filters, g.out_w);
    by_bands(g, |r0, r1, patches| {
        let p = (r1 - r0) * ow;
        im2col(x, g, r0, r1, ow, patches);
        let dst = &mut out[r0 * ow * o..r1 * ow * o];
        for row in dst.chunks_exact_mut(o) {
            row.copy_from_slice(b);
        }
        matmul(
            dst,
            o,
            MatRef::row_major(&patches[..p * k], p, k),
            MatRef::row_major(w, k, o),
            true,
        );
    });
}

/// Backward pass of one image: adds to `dw` and `db`, and to `dx` when given.
fn backward_image(
    x: &[f32],
    w: &[f32],
    g: &ConvGeometry,
    dout: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (o, ow) = (g.filters, g.out_w);
    by_bands(g, |r0, r1, patches| {
        let dz = &dout[r0 * ow * o..r1 * ow * o];
        backward_band(x, w, g, dz, r0, r1, ow, dw, db, dx.as_deref_mut(), patches);
    });
}

/// Forward convolution of `n` NHWC images (`x.len() == n * g.in_len()`), one image per rayon task.
fn conv_forward(x: &[f32], w: &[f32], b: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let n = x.len() / g.in_len();
    let mut out = vec![0.0; n * g.out_len()];
    out.par_chunks_mut(g.out_len())
        .zip(x.par_chunks(g.in_len()))
        .for_each(|(o, xi)| forward_image(xi, w, b, g, o));
    out
}

/// Backward pass of a convolution batch given the output gradient `dout`.
fn conv_backward(x: &[f32], w: &[f32], g: &ConvGeometry, dout: &[f32], need_dx: bool) -> ConvGrads {
    let n = x.len() / g.in_len();
    backward_batch(n, g, g.kernel_len(), need_dx, |i, dw, db, dx| {
        let xi = &x[i * g.in_len()..(i + 1) * g.in_len()];
        let di = &dout[i * g.out_len()..(i + 1) * g.out_len()];
        backward_image(xi, w, g, di, dw, db, dx);
    })
}

/// Differentiable 2-D convolution of NHWC `x` with an HWIO `kernel` and per-filter `bias`.
///
/// Arguments as for [`conv2d_pool`](super::fused::conv2d_pool), without the pooling;
/// the tests pass flat weights on the input's tape, so only that case is taken.
pub(crate) fn conv2d<T: Tape<f32, Cpu> + Merge<T>>(
    x: Tensor<Nhwc, f32, Cpu, T>,
    kernel: Tensor<(usize,), f32, Cpu, T>,
    bias: Tensor<(usize,), f32, Cpu, T>,
    spec: &ConvSpec,
    input_grad: bool,
) -> Result<Tensor<Nhwc, f32, Cpu, T>> {
    let call = ConvCall::new(x, kernel, bias, spec)?;
    let g = call.g;
    let out = conv_forward(&call.xs, &call.ws, &call.bs, &g);
    let shape = (call.batch, g.out_h, g.out_w, g.filters);
    call.finish(
        out,
        shape,
        "building the conv2d output",
        move |xs, ws, dout| conv_backward(xs, ws, &g, dout, input_grad),
    )
}

pub(super) mod tests {
    use super::*;
    use crate::ops::conv::Padding;
    use crate::ops::tensor_io::tests::{finite_diff_check, rand_vec};

    /// Asserts that `got` and `want` agree value by value within `tolerance`.
    pub(crate) fn assert_close(got: &[f32], want: &[f32], tolerance: f32, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: lengths");
        for (a, b) in got.iter().zip(want) {
            assert!((a - b).abs() < tolerance, "{what}: {a} vs {b}");
        }
    }

    /// Plain six-loop convolution (NHWC, HWIO) for reference.
    fn naive_conv(x: &[f32], n: usize, w: &[f32], b: &[f32], g: &ConvGeometry) -> Vec<f32> {
        let mut out = vec![0.0; n * g.out_len()];
        for i in 0..n {
            for r in 0..g.out_h {
                for cc in 0..g.out_w {
                    for f in 0..g.filters {
                        let mut acc = b[f] as f64;
                        for ki in 0..g.kernel_h {
                            for kj in 0..g.kernel_w {
                                let ir = (r * g.stride + ki) as isize - g.pad_top as isize;
                                let ic = (cc * g.stride + kj) as isize - g.pad_left as isize;
                                if ir < 0
                                    || ic < 0
                                    || ir >= g.in_h as isize
                                    || ic >= g.in_w as isize
                                {
                                    continue;
                                }
                                for ch in 0..g.in_c {
                                    let xv = x[i * g.in_len()
                                        + (ir as usize * g.in_w + ic as usize) * g.in_c
                                        + ch];
                                    let wv =
                                        w[((ki * g.kernel_w + kj) * g.in_c + ch) * g.filters + f];
                                    acc += (xv * wv) as f64;
                                }
                            }
                        }
                        out[i * g.out_len() + (r * g.out_w + cc) * g.filters + f] = acc as f32;
                    }
                }
            }
        }
        out
    }

    #[test]
    fn conv_equals_naive_reference_for_odd_shapes() {
        let cases = [
            (2, 7, 9, 3, ConvSpec::new((3, 3), 5, 1, Padding::Valid)),
            (1, 8, 5, 2, ConvSpec::new((3, 2), 3, 2, Padding::Valid)),
            (3, 7, 6, 1, ConvSpec::new((3, 3), 4, 2, Padding::Same)),
            (2, 5, 5, 4, ConvSpec::new((5, 5), 2, 1, Padding::Same)),
            (1, 11, 13, 2, ConvSpec::new((1, 1), 3, 3, Padding::Same)),
        ];
        for (seed, &(n, h, w, c, sp)) in cases.iter().enumerate() {
            let g = ConvGeometry::new(h, w, c, &sp).unwrap();
            let x = rand_vec(n * g.in_len(), seed as u64);
            let wt = rand_vec(g.kernel_len(), seed as u64 + 100);
            let b = rand_vec(g.filters, seed as u64 + 200);
            let got = conv_forward(&x, &wt, &b, &g);
            let want = naive_conv(&x, n, &wt, &b, &g);
            assert_close(&got, &want, 1e-4, &format!("case {seed}"));
        }
    }

    #[test]
    fn large_image_uses_several_bands_and_still_matches() {
        // 60x60x8 with a 3x3 kernel: 72-float patches, 58 columns -> bands of 31 rows, 2 bands.
        let sp = ConvSpec::new((3, 3), 6, 1, Padding::Valid);
        let g = ConvGeometry::new(60, 60, 8, &sp).unwrap();
        assert!(band_rows(&g, g.out_w) < g.out_h);
        let x = rand_vec(g.in_len(), 5);
        let wt = rand_vec(g.kernel_len(), 6);
        let b = rand_vec(6, 7);
        let got = conv_forward(&x, &wt, &b, &g);
        let want = naive_conv(&x, 1, &wt, &b, &g);
        assert_close(&got, &want, 1e-3, "two bands");
    }

    #[test]
    fn conv_gradients_match_finite_differences() {
        for (n, h, w, c, sp) in [
            (2, 6, 5, 2, ConvSpec::new((3, 3), 3, 1, Padding::Valid)),
            (1, 7, 6, 2, ConvSpec::new((3, 2), 2, 2, Padding::Same)),
        ] {
            finite_diff_check(
                (n, h, w, c),
                3,
                |x, k, b| conv2d(x, k, b, &sp, true).unwrap(),
                sp.kernel.0 * sp.kernel.1 * c * sp.filters,
                sp.filters,
                1e-2,
            );
        }
    }
}
