//! Convolution, an optional ReLU and max pooling fused into one differentiable op,
//! [`conv2d_pool`] (with or without the ReLU).
//!
//! Equal to `max_pool2d(act(conv2d(x)))`, but the full-size convolution output never exists:
//! each band of rows is convolved into a cache-sized scratch buffer and pooled at once, and the
//! backward pass rebuilds the band's gradient from the stored arg-max positions.
//! `max(relu(z)) = relu(max(z))`, so with ReLU the gradient reaches the window's arg-max when the
//! max is positive; without it (Keras's `activation='linear'`), always. A 1x1 pool of stride 1
//! leaves the convolution output as it is.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::conv::{
    backward_band, backward_batch, im2col, with_scratch, zeros_in_parallel, ConvCall, ConvSpec,
};
use super::geometry::{FusedGeometry, DEAD};
use super::matmul::{matmul, MatRef};
use super::pool::PoolSpec;
use super::tensor_io::Nhwc;
use super::{direct, winograd, winograd_backward};
use crate::error::Result;

fn forward_image(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    fg: &FusedGeometry,
    out: &mut [f32],
    idx: &mut [u16],
) {
    let g = &fg.conv;
    let (k, o, cw, s) = (g.patch_len(), g.filters, fg.cw, fg.pool.stride);
    let (kh, kw) = fg.pool.size;
    let rows = fg.max_conv_rows();
    let mut code = vec![0u32; o];
    with_scratch(rows * cw * k, rows * cw * o, |patches, z| {
        let mut a = 0;
        while a < fg.ph {
            let bnd = (a + fg.band).min(fg.ph);
            let (r0, r1) = fg.conv_rows(a, bnd);
            let p = (r1 - r0) * cw;
            im2col(x, g, r0, r1, cw, patches);
            let z = &mut z[..p * o];
            for row in z.chunks_exact_mut(o) {
                row.copy_from_slice(b);
            }
            matmul(
                z,
                o,
                MatRef::row_major(&patches[..p * k], p, k),
                MatRef::row_major(w, k, o),
                true,
            );
            for pr in a..bnd {
                for pc in 0..fg.pw {
                    let at = (pr * fg.pw + pc) * o;
                    let (ov, iv) = (&mut out[at..at + o], &mut idx[at..at + o]);
                    let zrow =
                        |i: usize, j: usize| &z[((pr * s + i - r0) * cw + pc * s + j) * o..][..o];
                    // Branch-free passes (they vectorise): the window max, then the first
                    // position holding it (scanning backwards so the earliest wins).
                    ov.copy_from_slice(zrow(0, 0));
                    for i in 0..kh {
                        for j in 0..kw {
                            for (v, &zv) in ov.iter_mut().zip(zrow(i, j)) {
                                *v = if zv > *v { zv } else { *v };
                            }
                        }
                    }
                    code.fill(0);
                    for pos in (1..kh * kw).rev() {
                        let p32 = pos as u32;
                        for ((cd, &v), &zv) in
                            code.iter_mut().zip(ov.iter()).zip(zrow(pos / kw, pos % kw))
                        {
                            *cd = if zv == v { p32 } else { *cd };
                        }
                    }
                    if fg.relu {
                        for (cd, v) in code.iter_mut().zip(ov.iter_mut()) {
                            *cd = if *v > 0.0 { *cd } else { DEAD as u32 };
                            *v = v.max(0.0);
                        }
                    }
                    for (ix, &cd) in iv.iter_mut().zip(code.iter()) {
                        *ix = cd as u16;
                    }
                }
            }
            a = bnd;
        }
    });
}

#[allow(clippy::too_many_arguments)]
fn backward_image(
    x: &[f32],
    w: &[f32],
    fg: &FusedGeometry,
    dout: &[f32],
    idx: &[u16],
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let g = &fg.conv;
    let (k, o, cw, s) = (g.patch_len(), g.filters, fg.cw, fg.pool.stride);
    let (kh, kw) = fg.pool.size;
    // Offset in the band's gradient of each window position code.
    let offsets: Vec<usize> = (0..kh * kw).map(|c| ((c / kw) * cw + c % kw) * o).collect();
    let rows = fg.max_conv_rows();
    with_scratch(rows * cw * k, rows * cw * o, |patches, dz| {
        let mut a = 0;
        while a < fg.ph {
            let bnd = (a + fg.band).min(fg.ph);
            let (r0, r1) = fg.conv_rows(a, bnd);
            let p = (r1 - r0) * cw;
            let dz = &mut dz[..p * o];
            dz.fill(0.0);
            for pr in a..bnd {
                for pc in 0..fg.pw {
                    let at = (pr * fg.pw + pc) * o;
                    let base = ((pr * s - r0) * cw + pc * s) * o;
                    // Branch-free: a dead value adds 0 at the window's first position.
                    for ch in 0..o {
                        let code = idx[at + ch];
                        let dead = code == DEAD;
                        let off = offsets[if dead { 0 } else { code as usize }];
                        dz[base + off + ch] += if dead { 0.0 } else { dout[at + ch] };
                    }
                }
            }
            backward_band(x, w, g, dz, r0, r1, cw, dw, db, dx.as_deref_mut(), patches);
            a = bnd;
        }
    });
}

/// A layer's kernel as the forward path of its geometry reads it (Winograd's transformed kernel
/// is computed once per batch, not per image), and that path for one image.
pub(crate) struct ForwardKernel<'a> {
    fg: FusedGeometry,
    path: ForwardPath<'a>,
}

enum ForwardPath<'a> {
    /// The transformed kernel of [`winograd::transform_kernel`].
    Winograd(Vec<f32>),
    Direct(&'a [f32]),
    Im2col(&'a [f32]),
}

impl<'a> ForwardKernel<'a> {
    /// Picks the path for `fg` (Winograd, direct or im2col) and prepares the HWIO kernel `w`.
    pub(crate) fn new(fg: &FusedGeometry, w: &'a [f32]) -> Self {
        let path = if winograd::applies(fg) {
            ForwardPath::Winograd(winograd::transform_kernel(w, fg.conv.in_c, fg.conv.filters))
        } else if direct::applies(fg) {
            ForwardPath::Direct(w)
        } else {
            ForwardPath::Im2col(w)
        };
        ForwardKernel { fg: *fg, path }
    }

    /// The geometry it was prepared for.
    pub(crate) fn geometry(&self) -> &FusedGeometry {
        &self.fg
    }

    /// The fused forward pass of one image `x` (`fg.conv.in_len()` values) with bias `b`: writes
    /// every pooled value of `out` and every arg-max code of `idx` (`fg.out_len()` each).
    pub(crate) fn forward_image(&self, x: &[f32], b: &[f32], out: &mut [f32], idx: &mut [u16]) {
        let fg = &self.fg;
        match &self.path {
            ForwardPath::Winograd(u) => {
                let (sv, sm) = winograd::scratch_len(fg);
                with_scratch(sv, sm, |v, m| {
                    let im = winograd::Image {
                        x,
                        w: u,
                        b,
                        out,
                        idx,
                    };
                    winograd::forward_image(fg, (im, (v, m)))
                })
            }
            ForwardPath::Direct(w) => {
                direct::forward_image(fg, winograd::Image { x, w, b, out, idx })
            }
            ForwardPath::Im2col(w) => forward_image(x, w, b, fg, out, idx),
        }
    }
}

/// Forward pass of the fused op over a batch: pooled outputs and arg-max codes.
pub(crate) fn fused_forward(
    x: &[f32],
    w: &[f32],
    b: &[f32],
    fg: &FusedGeometry,
) -> (Vec<f32>, Vec<u16>) {
    let n = x.len() / fg.conv.in_len();
    let ol = fg.out_len();
    let mut out = zeros_in_parallel(n * ol);
    let mut idx = zeros_in_parallel(n * ol);
    let kernel = ForwardKernel::new(fg, w);
    out.par_chunks_mut(ol)
        .zip(idx.par_chunks_mut(ol))
        .zip(x.par_chunks(fg.conv.in_len()))
        .for_each(|((o, ix), xi)| kernel.forward_image(xi, b, o, ix));
    (out, idx)
}

/// Backward pass of the fused op over a batch: `(dw, db, dx)`.
pub(crate) fn fused_backward(
    x: &[f32],
    w: &[f32],
    fg: &FusedGeometry,
    dout: &[f32],
    idx: &[u16],
    need_dx: bool,
) -> super::conv::ConvGrads {
    let g = &fg.conv;
    let n = x.len() / g.in_len();
    let ol = fg.out_len();
    if winograd::applies(fg) {
        let (c, o) = (g.in_c, g.filters);
        let u = winograd::transform_kernel(w, c, o);
        let (sv, sm) = winograd_backward::scratch_len(fg);
        let (du, db, dx) = backward_batch(
            n,
            g,
            winograd::ELEMENTS * c * o,
            need_dx,
            |i, du, db, dx| {
                let im = winograd_backward::ImageGrad {
                    x: &x[i * g.in_len()..(i + 1) * g.in_len()],
                    u: &u,
                    dout: &dout[i * ol..(i + 1) * ol],
                    idx: &idx[i * ol..(i + 1) * ol],
                    du,
                    db,
                    dx,
                };
                with_scratch(sv, sm, |v, m| {
                    winograd_backward::backward_image(fg, (im, (v, m)))
                })
            },
        );
        return (winograd_backward::kernel_gradient(&du, c, o), db, dx);
    }
    if direct::applies(fg) && !need_dx {
        // Kernel and bias gradients only; with the input gradient, im2col below.
        return backward_batch(n, g, g.kernel_len(), false, |i, dw, db, _| {
            let im = direct::ImageGrad {
                x: &x[i * g.in_len()..(i + 1) * g.in_len()],
                dout: &dout[i * ol..(i + 1) * ol],
                idx: &idx[i * ol..(i + 1) * ol],
                dw,
                db,
            };
            direct::backward_image(fg, im)
        });
    }
    im2col_backward(x, w, fg, dout, idx, need_dx)
}

/// [`fused_backward`] by im2col + GEMM, for any geometry (the Winograd and direct paths' tests
/// compare with it).
pub(crate) fn im2col_backward(
    x: &[f32],
    w: &[f32],
    fg: &FusedGeometry,
    dout: &[f32],
    idx: &[u16],
    need_dx: bool,
) -> super::conv::ConvGrads {
    let g = &fg.conv;
    let n = x.len() / g.in_len();
    let ol = fg.out_len();
    backward_batch(n, g, g.kernel_len(), need_dx, |i, dw, db, dx| {
        let xi = &x[i * g.in_len()..(i + 1) * g.in_len()];
        backward_image(
            xi,
            w,
            fg,
            &dout[i * ol..(i + 1) * ol],
            &idx[i * ol..(i + 1) * ol],
            dw,
            db,
            dx,
        );
    })
}

/// `max_pool2d(act(conv2d(x)))` in one pass, act = ReLU when `relu`, identity otherwise; `PoolSpec::square(1)` means no pooling.
///
/// `kernel` (HWIO) and `bias` may have any shape with the right number of elements. Gradients
/// flow to them, and to `x` when `input_grad` is true (a first layer's input needs none). The
/// pooling is 'valid'. See the module documentation.
#[allow(clippy::too_many_arguments)]
pub(crate) fn conv2d_pool<T, R, SW, SB>(
    x: Tensor<Nhwc, f32, Cpu, T>,
    kernel: Tensor<SW, f32, Cpu, R>,
    bias: Tensor<SB, f32, Cpu, R>,
    conv: &ConvSpec,
    pool: &PoolSpec,
    relu: bool,
    input_grad: bool,
) -> Result<Tensor<Nhwc, f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<R>,
    R: Tape<f32, Cpu>,
    SW: Shape,
    SB: Shape,
{
    let call = ConvCall::new(x, kernel, bias, conv)?;
    let fg = FusedGeometry::new(call.g, *pool, relu)?;
    let (out, idx) = fused_forward(&call.xs, &call.ws, &call.bs, &fg);
    let shape = (call.batch, fg.ph, fg.pw, fg.conv.filters);
    call.finish(
        out,
        shape,
        "building the conv2d_pool output",
        move |xs, ws, dout| fused_backward(xs, ws, &fg, dout, &idx, input_grad),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::conv::{ConvGeometry, Padding};
    use crate::ops::pool::max_pool2d;
    use crate::ops::reference::conv2d;
    use crate::ops::reference::tests::assert_close;
    use crate::ops::tensor_io::tests::{finite_diff_check, rand_vec};

    fn grad_vec<S: Shape>(g: &mut Gradients<f32, Cpu>, t: &Tensor<S, f32, Cpu>) -> Vec<f32> {
        let v: &mut Vec<f32> = g.get_or_alloc_mut(t).unwrap();
        v.clone()
    }

    /// Checks [`conv2d_pool`] against the unfused `max_pool2d(act(conv2d(x)))` (just
    /// `act(conv2d(x))` for a 1x1 pool), forward and backward, on `n` random `h x w x c` images.
    #[allow(clippy::too_many_arguments)]
    fn check_against_unfused(
        n: usize,
        h: usize,
        w: usize,
        c: usize,
        cs: &ConvSpec,
        ps: &PoolSpec,
        relu: bool,
        seed: u64,
    ) {
        let dev = Cpu::default();
        let g = ConvGeometry::new(h, w, c, cs).unwrap();
        let xt = dev.tensor_from_vec(rand_vec(n * h * w * c, seed), (n, h, w, c));
        let kt = dev.tensor_from_vec(rand_vec(g.kernel_len(), seed + 1), (g.kernel_len(),));
        let bt = dev.tensor_from_vec(rand_vec(cs.filters, seed + 2), (cs.filters,));
        let fused = conv2d_pool(
            xt.leaky_trace(),
            kt.leaky_trace(),
            bt.leaky_trace(),
            cs,
            ps,
            relu,
            true,
        )
        .unwrap();
        let plain = conv2d(
            xt.leaky_trace(),
            kt.leaky_trace(),
            bt.leaky_trace(),
            cs,
            true,
        )
        .unwrap();
        let plain = if relu { plain.relu() } else { plain };
        let plain = if *ps == PoolSpec::square(1) {
            plain
        } else {
            max_pool2d(plain, ps).unwrap()
        };
        assert_eq!(fused.shape(), plain.shape());
        let (fv, pv) = (fused.as_vec(), plain.as_vec());
        assert_close(&fv, &pv, 1e-4, "forward");
        let r = dev.tensor_from_vec(rand_vec(fv.len(), seed + 3), *fused.shape());
        let mut gf = (fused * r.clone()).sum().backward();
        let mut gp = (plain * r).sum().backward();
        let gradients = [
            (
                "input gradient",
                grad_vec(&mut gf, &xt),
                grad_vec(&mut gp, &xt),
            ),
            (
                "kernel gradient",
                grad_vec(&mut gf, &kt),
                grad_vec(&mut gp, &kt),
            ),
            (
                "bias gradient",
                grad_vec(&mut gf, &bt),
                grad_vec(&mut gp, &bt),
            ),
        ];
        for (what, f, p) in gradients {
            assert_close(&f, &p, 1e-3, what);
        }
    }

    #[test]
    fn equals_separate_conv_relu_pool_forward_and_backward() {
        for (case, (n, h, w, c, cs, ps)) in [
            (
                2,
                9,
                8,
                3,
                ConvSpec::new((3, 3), 4, 1, Padding::Valid),
                PoolSpec::square(2),
            ),
            (
                1,
                12,
                11,
                2,
                ConvSpec::new((3, 3), 5, 1, Padding::Same),
                PoolSpec {
                    size: (3, 3),
                    stride: 2,
                },
            ),
            (
                2,
                40,
                37,
                6,
                ConvSpec::new((3, 3), 8, 1, Padding::Valid),
                PoolSpec::square(2),
            ),
            // Enough channels for the Winograd forward path.
            (
                2,
                19,
                18,
                winograd::MIN_CHANNELS + 3,
                ConvSpec::new((3, 3), 10, 1, Padding::Valid),
                PoolSpec::square(2),
            ),
            // Pool 1 (no pooling): every fast path declines.
            (
                1,
                10,
                9,
                winograd::MIN_CHANNELS,
                ConvSpec::new((3, 3), 4, 1, Padding::Same),
                PoolSpec::square(1),
            ),
            (
                2,
                8,
                9,
                1,
                ConvSpec::new((3, 3), 3, 1, Padding::Valid),
                PoolSpec::square(1),
            ),
        ]
        .into_iter()
        .enumerate()
        {
            check_against_unfused(n, h, w, c, &cs, &ps, true, case as u64 * 10);
        }
    }

    #[test]
    fn linear_equals_separate_conv_and_pool_forward_and_backward() {
        let mc = winograd::MIN_CHANNELS;
        for (case, (n, h, w, c, cs, ps)) in [
            // 'same' padding without pooling: the reference conv2d itself.
            (
                2,
                9,
                8,
                3,
                ConvSpec::new((3, 3), 4, 1, Padding::Same),
                PoolSpec::square(1),
            ),
            (
                1,
                10,
                9,
                mc + 1,
                ConvSpec::new((3, 3), 6, 1, Padding::Same),
                PoolSpec::square(1),
            ),
            (
                1,
                11,
                10,
                2,
                ConvSpec::new((3, 3), 3, 2, Padding::Same),
                PoolSpec::square(1),
            ),
            // Shapes where ReLU would take the direct and the Winograd paths.
            (
                2,
                9,
                8,
                2,
                ConvSpec::new((3, 3), 4, 1, Padding::Valid),
                PoolSpec::square(2),
            ),
            (
                2,
                19,
                18,
                mc + 3,
                ConvSpec::new((3, 3), 10, 1, Padding::Valid),
                PoolSpec::square(2),
            ),
            (
                1,
                12,
                11,
                2,
                ConvSpec::new((3, 3), 5, 1, Padding::Same),
                PoolSpec {
                    size: (3, 3),
                    stride: 2,
                },
            ),
        ]
        .into_iter()
        .enumerate()
        {
            check_against_unfused(n, h, w, c, &cs, &ps, false, 500 + case as u64 * 10);
        }
    }

    #[test]
    fn linear_outputs_keep_negative_values() {
        // A negative bias and zero kernel: ReLU would give zeros, the linear conv the bias.
        let dev = Cpu::default();
        let cs = ConvSpec::new((3, 3), 2, 1, Padding::Same);
        let x = dev.tensor_from_vec(rand_vec(2 * 5 * 4 * 3, 3), (2usize, 5usize, 4usize, 3usize));
        let k = dev.tensor_from_vec(vec![0.0f32; 9 * 3 * 2], (54usize,));
        let b = dev.tensor_from_vec(vec![-1.0f32, -2.0], (2usize,));
        let y = conv2d_pool(x, k, b, &cs, &PoolSpec::square(1), false, false).unwrap();
        assert_eq!(*y.shape(), (2, 5, 4, 2));
        assert!(y.as_vec().chunks(2).all(|p| p == [-1.0, -2.0]));
    }

    #[test]
    fn bands_split_large_images() {
        let cs = ConvSpec::new((3, 3), 64, 1, Padding::Valid);
        let g = ConvGeometry::new(64, 64, 32, &cs).unwrap();
        let fg = FusedGeometry::new(g, PoolSpec::square(2), true).unwrap();
        assert!(
            fg.band < fg.ph,
            "expected several bands, got one of {}",
            fg.band
        );
    }

    #[test]
    fn gradients_match_finite_differences() {
        let cs = ConvSpec::new((3, 3), 3, 1, Padding::Valid);
        finite_diff_check(
            (2, 7, 8, 2),
            21,
            |x, k, b| conv2d_pool(x, k, b, &cs, &PoolSpec::square(2), true, true).unwrap(),
            54,
            3,
            1e-3,
        );
    }

    #[test]
    fn gradients_match_finite_differences_on_the_winograd_path() {
        // Forward and backward both by Winograd; the second shape has odd sizes, two images and
        // channel counts that are not multiples of the vector width.
        let c = winograd::MIN_CHANNELS;
        for (n, h, w, c, o, seed) in [(1, 6, 7, c, 3, 23), (2, 9, 11, c + 1, 10, 29)] {
            let cs = ConvSpec::new((3, 3), o, 1, Padding::Valid);
            let g = ConvGeometry::new(h, w, c, &cs).unwrap();
            assert!(winograd::applies(
                &FusedGeometry::new(g, PoolSpec::square(2), true).unwrap()
            ));
            finite_diff_check(
                (n, h, w, c),
                seed,
                |x, k, b| conv2d_pool(x, k, b, &cs, &PoolSpec::square(2), true, true).unwrap(),
                g.kernel_len(),
                o,
                1e-3,
            );
        }
    }

    #[test]
    fn linear_gradients_match_finite_differences() {
        for (pad, pool) in [
            (Padding::Same, PoolSpec::square(1)),
            (Padding::Valid, PoolSpec::square(2)),
        ] {
            let cs = ConvSpec::new((3, 3), 3, 1, pad);
            finite_diff_check(
                (2usize, 6usize, 7usize, 2usize),
                61,
                |x, k, b| conv2d_pool(x, k, b, &cs, &pool, false, true).unwrap(),
                54,
                3,
                1e-3,
            );
        }
    }

    #[test]
    fn no_input_gradient_when_not_asked() {
        let dev = Cpu::default();
        let cs = ConvSpec::new((3, 3), 2, 1, Padding::Valid);
        let xt = dev.tensor_from_vec(rand_vec(6 * 6, 1), (1usize, 6usize, 6usize, 1usize));
        let kt = dev.tensor_from_vec(rand_vec(18, 2), (18usize,));
        let bt = dev.tensor_from_vec(vec![0.5f32; 2], (2usize,));
        let y = conv2d_pool(
            xt.leaky_trace(),
            kt.leaky_trace(),
            bt.leaky_trace(),
            &cs,
            &PoolSpec::square(2),
            true,
            false,
        )
        .unwrap();
        let mut grads = y.sum().backward();
        let dx: &mut Vec<f32> = grads.get_or_alloc_mut(&xt).unwrap();
        assert!(dx.iter().all(|v| *v == 0.0));
        let dk: &mut Vec<f32> = grads.get_or_alloc_mut(&kt).unwrap();
        assert!(dk.iter().any(|v| *v != 0.0));
    }
}
