//! 2-D convolution over NHWC images with an HWIO kernel (the Keras/TensorFlow layouts):
//! geometry, im2col + GEMM kernels, the differentiable dfdx op [`conv2d`] and the layer [`Conv2D`].

use dfdx::prelude::*;
use rand_distr::Uniform;
use rayon::prelude::*;

use super::matmul::{matmul, MatRef};
use super::tensor_io::{add_into, grad_mut, read_tensor, Nhwc};
use crate::error::{Error, Result};

/// How a convolution treats the image border (Keras's `padding=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Padding {
    /// No padding: the output shrinks by `kernel - 1` (before striding).
    #[default]
    Valid,
    /// Zero padding so that the output has `ceil(input / stride)` rows and columns.
    Same,
}

/// The settings of one convolution: kernel size, number of filters, stride and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvSpec {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Number of output channels.
    pub filters: usize,
    /// Step between neighbouring windows, the same along rows and columns.
    pub stride: usize,
    /// Border handling.
    pub padding: Padding,
}

/// All sizes of one convolution over one NHWC image (input, kernel, padding and output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Input rows.
    pub in_h: usize,
    /// Input columns.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Kernel rows.
    pub kernel_h: usize,
    /// Kernel columns.
    pub kernel_w: usize,
    /// Output channels.
    pub filters: usize,
    /// Stride along rows and columns.
    pub stride: usize,
    /// Zero rows added above the image.
    pub pad_top: usize,
    /// Zero columns added left of the image.
    pub pad_left: usize,
    /// Output rows.
    pub out_h: usize,
    /// Output columns.
    pub out_w: usize,
}

fn out_size(
    input: usize,
    kernel: usize,
    stride: usize,
    padding: Padding,
) -> Option<(usize, usize)> {
    match padding {
        Padding::Valid => (input >= kernel).then(|| ((input - kernel) / stride + 1, 0)),
        Padding::Same => {
            let out = input.div_ceil(stride);
            let total = ((out - 1) * stride + kernel).saturating_sub(input);
            Some((out, total / 2))
        }
    }
}

impl ConvGeometry {
    /// The geometry of `spec` applied to `in_h x in_w x in_c` images; errors on sizes that do not fit.
    pub fn new(in_h: usize, in_w: usize, in_c: usize, spec: &ConvSpec) -> Result<Self> {
        let (kh, kw) = spec.kernel;
        if kh == 0 || kw == 0 {
            return Err(Error::invalid(
                "kernel",
                format!("{kh}x{kw}"),
                "at least 1x1",
            ));
        }
        if spec.filters == 0 {
            return Err(Error::invalid("filters", 0, "at least 1"));
        }
        if spec.stride == 0 {
            return Err(Error::invalid("stride", 0, "at least 1"));
        }
        if in_h == 0 || in_w == 0 || in_c == 0 {
            return Err(Error::invalid(
                "input shape",
                format!("{in_h}x{in_w}x{in_c}"),
                "non-zero height, width and channels",
            ));
        }
        let too_small = || {
            Error::invalid(
                "input shape",
                format!("{in_h}x{in_w}"),
                format!("at least the {kh}x{kw} kernel with padding 'valid'"),
            )
        };
        let (out_h, pad_top) =
            out_size(in_h, kh, spec.stride, spec.padding).ok_or_else(too_small)?;
        let (out_w, pad_left) =
            out_size(in_w, kw, spec.stride, spec.padding).ok_or_else(too_small)?;
        Ok(ConvGeometry {
            in_h,
            in_w,
            in_c,
            kernel_h: kh,
            kernel_w: kw,
            filters: spec.filters,
            stride: spec.stride,
            pad_top,
            pad_left,
            out_h,
            out_w,
        })
    }

    /// Length of one im2col row: `kernel_h * kernel_w * in_c`.
    pub fn patch_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c
    }

    /// Number of kernel weights: `kernel_h * kernel_w * in_c * filters`.
    pub fn kernel_len(&self) -> usize {
        self.patch_len() * self.filters
    }

    /// Floats in one input image.
    pub fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Floats in one output image.
    pub fn out_len(&self) -> usize {
        self.out_h * self.out_w * self.filters
    }

    /// Multiply-adds of the forward pass for one image.
    pub fn macs(&self) -> usize {
        self.out_h * self.out_w * self.kernel_len()
    }
}

/// Floats of im2col scratch one band may use (512 KiB: stays in a core's L2 cache).
pub(crate) const PATCH_BUDGET: usize = 1 << 17;

/// How many output rows of width `ncols` one im2col band holds.
pub(crate) fn band_rows(g: &ConvGeometry, ncols: usize) -> usize {
    (PATCH_BUDGET / (ncols * g.patch_len()).max(1)).max(1)
}

thread_local! {
    /// Per-thread scratch buffers, reused across calls so that steps do not page-fault.
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
}

/// Runs `f` with two per-thread scratch buffers of at least `a` and `b` floats (contents undefined).
pub(crate) fn with_scratch<R>(
    a: usize,
    b: usize,
    f: impl FnOnce(&mut [f32], &mut [f32]) -> R,
) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut bufs) => {
            let [s1, s2] = &mut *bufs;
            if s1.len() < a {
                s1.resize(a, 0.0);
            }
            if s2.len() < b {
                s2.resize(b, 0.0);
            }
            f(&mut s1[..a], &mut s2[..b])
        }
        // Re-entered on this thread (a nested rayon job): fall back to fresh buffers.
        Err(_) => f(&mut vec![0.0; a], &mut vec![0.0; b]),
    })
}

/// Writes the im2col rows of output rows `r0..r1`, columns `0..ncols`, of one image into `out`.
pub(crate) fn im2col(
    x: &[f32],
    g: &ConvGeometry,
    r0: usize,
    r1: usize,
    ncols: usize,
    out: &mut [f32],
) {
    let (c, kw, s) = (g.in_c, g.kernel_w, g.stride);
    let k = g.patch_len();
    let seg = kw * c;
    for r in r0..r1 {
        for oc in 0..ncols {
            let dst = &mut out[((r - r0) * ncols + oc) * k..][..k];
            let col0 = (oc * s) as isize - g.pad_left as isize;
            for ki in 0..g.kernel_h {
                let d = &mut dst[ki * seg..(ki + 1) * seg];
                let ir = (r * s + ki) as isize - g.pad_top as isize;
                if ir < 0 || ir >= g.in_h as isize {
                    d.fill(0.0);
                    continue;
                }
                let row = &x[ir as usize * g.in_w * c..][..g.in_w * c];
                if col0 >= 0 && col0 as usize + kw <= g.in_w {
                    let c0 = col0 as usize * c;
                    d.copy_from_slice(&row[c0..c0 + seg]);
                } else {
                    for kj in 0..kw {
                        let ic = col0 + kj as isize;
                        let dd = &mut d[kj * c..(kj + 1) * c];
                        if ic < 0 || ic >= g.in_w as isize {
                            dd.fill(0.0);
                        } else {
                            dd.copy_from_slice(&row[ic as usize * c..][..c]);
                        }
                    }
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds the patch rows in `cols` back onto the image gradient `dx`.
pub(crate) fn col2im(
    cols: &[f32],
    g: &ConvGeometry,
    r0: usize,
    r1: usize,
    ncols: usize,
    dx: &mut [f32],
) {
    let (c, kw, s) = (g.in_c, g.kernel_w, g.stride);
    let k = g.patch_len();
    let seg = kw * c;
    for r in r0..r1 {
        for oc in 0..ncols {
            let src = &cols[((r - r0) * ncols + oc) * k..][..k];
            let col0 = (oc * s) as isize - g.pad_left as isize;
            for ki in 0..g.kernel_h {
                let ir = (r * s + ki) as isize - g.pad_top as isize;
                if ir < 0 || ir >= g.in_h as isize {
                    continue;
                }
                let sv = &src[ki * seg..(ki + 1) * seg];
                let row = &mut dx[ir as usize * g.in_w * c..][..g.in_w * c];
                if col0 >= 0 && col0 as usize + kw <= g.in_w {
                    let c0 = col0 as usize * c;
                    for (d, v) in row[c0..c0 + seg].iter_mut().zip(sv) {
                        *d += v;
                    }
                } else {
                    for kj in 0..kw {
                        let ic = col0 + kj as isize;
                        if ic >= 0 && ic < g.in_w as isize {
                            let d = &mut row[ic as usize * c..][..c];
                            for (d, v) in d.iter_mut().zip(&sv[kj * c..(kj + 1) * c]) {
                                *d += v;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Forward convolution of one image: `out = im2col(x) · w + b`.
fn forward_image(x: &[f32], w: &[f32], b: &[f32], g: &ConvGeometry, out: &mut [f32]) {
    let (k, o, ow) = (g.patch_len(), g.filters, g.out_w);
    let band = band_rows(g, ow);
    with_scratch(band * ow * k, 0, |patches, _| {
        let mut r0 = 0;
        while r0 < g.out_h {
            let r1 = (r0 + band).min(g.out_h);
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
            r0 = r1;
        }
    });
}

/// Backward pass of one image: adds to `dw` and `db`, and writes `dx` when asked.
#[allow(clippy::too_many_arguments)]
pub(crate) fn backward_band(
    x: &[f32],
    w: &[f32],
    g: &ConvGeometry,
    dz: &[f32],
    r0: usize,
    r1: usize,
    ncols: usize,
    dw: &mut [f32],
    db: &mut [f32],
    dx: Option<&mut [f32]>,
    patches: &mut [f32],
) {
    let (k, o) = (g.patch_len(), g.filters);
    let p = (r1 - r0) * ncols;
    let dz = &dz[..p * o];
    for row in dz.chunks_exact(o) {
        for (d, v) in db.iter_mut().zip(row) {
            *d += v;
        }
    }
    let patches = &mut patches[..p * k];
    im2col(x, g, r0, r1, ncols, patches);
    // dW (k x o) += patchesᵀ (k x p) · dz (p x o)
    matmul(
        dw,
        o,
        MatRef::row_major(patches, p, k).t(),
        MatRef::row_major(dz, p, o),
        true,
    );
    if let Some(dx) = dx {
        // dpatches (p x k) = dz (p x o) · wᵀ (o x k); reuse the patch buffer.
        matmul(
            patches,
            k,
            MatRef::row_major(dz, p, o),
            MatRef::row_major(w, k, o).t(),
            false,
        );
        col2im(patches, g, r0, r1, ncols, dx);
    }
}

fn backward_image(
    x: &[f32],
    w: &[f32],
    g: &ConvGeometry,
    dout: &[f32],
    dw: &mut [f32],
    db: &mut [f32],
    mut dx: Option<&mut [f32]>,
) {
    let (k, o, ow) = (g.patch_len(), g.filters, g.out_w);
    let band = band_rows(g, ow);
    with_scratch(band * ow * k, 0, |patches, _| {
        let mut r0 = 0;
        while r0 < g.out_h {
            let r1 = (r0 + band).min(g.out_h);
            let dz = &dout[r0 * ow * o..r1 * ow * o];
            backward_band(x, w, g, dz, r0, r1, ow, dw, db, dx.as_deref_mut(), patches);
            r0 = r1;
        }
    });
}

/// Forward convolution of `n` NHWC images (`x.len() == n * g.in_len()`), one image per rayon task.
pub(crate) fn conv_forward(x: &[f32], w: &[f32], b: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let n = x.len() / g.in_len();
    let mut out = vec![0.0; n * g.out_len()];
    out.par_chunks_mut(g.out_len())
        .zip(x.par_chunks(g.in_len()))
        .for_each(|(o, xi)| forward_image(xi, w, b, g, o));
    out
}

/// Gradients of a convolution batch: `(dw, db, dx)`, `dx` only when `need_dx`.
pub(crate) type ConvGrads = (Vec<f32>, Vec<f32>, Option<Vec<f32>>);

/// Images are split into this many fixed groups for the backward pass; the groups' weight
/// gradients are summed in group order, so results do not depend on thread scheduling.
const GRAD_GROUPS: usize = 8;

/// Runs `per_image(i, dw, db, dx_i)` over all images in parallel and sums the weight gradients
/// (deterministically: fixed image groups, summed in order).
pub(crate) fn backward_batch<F>(
    n: usize,
    g: &ConvGeometry,
    need_dx: bool,
    per_image: F,
) -> ConvGrads
where
    F: Fn(usize, &mut [f32], &mut [f32], Option<&mut [f32]>) + Sync,
{
    let (kl, o, il) = (g.kernel_len(), g.filters, g.in_len());
    let per = n.div_ceil(GRAD_GROUPS).max(1);
    let groups = n.div_ceil(per);
    let run = |grp: usize, mut dx: Option<&mut [f32]>| {
        let (mut dw, mut db) = (vec![0.0f32; kl], vec![0.0f32; o]);
        for i in grp * per..((grp + 1) * per).min(n) {
            let dxi = dx
                .as_deref_mut()
                .map(|d| &mut d[(i - grp * per) * il..][..il]);
            per_image(i, &mut dw, &mut db, dxi);
        }
        (dw, db)
    };
    let (partials, dx): (Vec<(Vec<f32>, Vec<f32>)>, _) = if need_dx {
        let mut dx = vec![0.0f32; n * il];
        let p = dx
            .par_chunks_mut(per * il)
            .enumerate()
            .map(|(grp, d)| run(grp, Some(d)))
            .collect();
        (p, Some(dx))
    } else {
        (
            (0..groups)
                .into_par_iter()
                .map(|grp| run(grp, None))
                .collect(),
            None,
        )
    };
    let (mut dw, mut db) = (vec![0.0f32; kl], vec![0.0f32; o]);
    for (pw, pb) in &partials {
        add_into(&mut dw, pw);
        add_into(&mut db, pb);
    }
    (dw, db, dx)
}

/// Backward pass of a convolution batch given the output gradient `dout`.
pub(crate) fn conv_backward(
    x: &[f32],
    w: &[f32],
    g: &ConvGeometry,
    dout: &[f32],
    need_dx: bool,
) -> ConvGrads {
    let n = x.len() / g.in_len();
    backward_batch(n, g, need_dx, |i, dw, db, dx| {
        let xi = &x[i * g.in_len()..(i + 1) * g.in_len()];
        let di = &dout[i * g.out_len()..(i + 1) * g.out_len()];
        backward_image(xi, w, g, di, dw, db, dx);
    })
}

/// Checks that a kernel and bias hold the numbers of weights `g` needs.
pub(crate) fn check_params(g: &ConvGeometry, kernel_len: usize, bias_len: usize) -> Result<()> {
    if kernel_len != g.kernel_len() {
        return Err(Error::invalid(
            "conv kernel",
            format!("{kernel_len} weights"),
            format!(
                "{} = {}x{}x{}x{} (kernel_h x kernel_w x in_channels x filters)",
                g.kernel_len(),
                g.kernel_h,
                g.kernel_w,
                g.in_c,
                g.filters
            ),
        ));
    }
    if bias_len != g.filters {
        return Err(Error::invalid(
            "conv bias",
            format!("{bias_len} values"),
            format!("{} (one per filter)", g.filters),
        ));
    }
    Ok(())
}

/// One call's inputs, as both convolution ops take them: the geometry (checked against the
/// parameters), the tensors with their tapes split off and merged into one, and their values.
pub(crate) struct ConvCall<T, SW: Shape, SB: Shape> {
    pub g: ConvGeometry,
    pub dev: Cpu,
    pub batch: usize,
    pub x: Tensor<Nhwc, f32, Cpu>,
    pub kernel: Tensor<SW, f32, Cpu>,
    pub bias: Tensor<SB, f32, Cpu>,
    pub tape: T,
    pub xs: Vec<f32>,
    pub ws: Vec<f32>,
    pub bs: Vec<f32>,
}

impl<T, SW: Shape, SB: Shape> ConvCall<T, SW, SB> {
    /// Checks the shapes against `spec`, splits and merges the tapes, reads the values.
    pub(crate) fn new<R>(
        x: Tensor<Nhwc, f32, Cpu, T>,
        kernel: Tensor<SW, f32, Cpu, R>,
        bias: Tensor<SB, f32, Cpu, R>,
        spec: &ConvSpec,
    ) -> Result<Self>
    where
        T: Tape<f32, Cpu> + Merge<R>,
        R: Tape<f32, Cpu>,
    {
        let (batch, h, w, c) = *x.shape();
        let g = ConvGeometry::new(h, w, c, spec)?;
        check_params(
            &g,
            kernel.shape().num_elements(),
            bias.shape().num_elements(),
        )?;
        let dev = x.device().clone();
        let (x, tx) = x.split_tape();
        let (kernel, tk) = kernel.split_tape();
        let (bias, tb) = bias.split_tape();
        let (xs, ws, bs) = (read_tensor(&x)?, read_tensor(&kernel)?, read_tensor(&bias)?);
        Ok(ConvCall {
            g,
            dev,
            batch,
            x,
            kernel,
            bias,
            tape: tx.merge(tk).merge(tb),
            xs,
            ws,
            bs,
        })
    }
}

/// Differentiable 2-D convolution of NHWC `x` with an HWIO `kernel` and per-filter `bias`.
///
/// `kernel` and `bias` may have any shape with the right number of elements (const-shaped
/// layer parameters or runtime-shaped ones). Gradients flow to `kernel` and `bias`, and to `x`
/// when `input_grad` is true (skip it for a first layer whose input needs no gradient).
pub fn conv2d<T, R, SW, SB>(
    x: Tensor<Nhwc, f32, Cpu, T>,
    kernel: Tensor<SW, f32, Cpu, R>,
    bias: Tensor<SB, f32, Cpu, R>,
    spec: &ConvSpec,
    input_grad: bool,
) -> Result<Tensor<Nhwc, f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<R>,
    R: Tape<f32, Cpu>,
    SW: Shape,
    SB: Shape,
{
    let ConvCall {
        g,
        dev,
        batch: n,
        x,
        kernel,
        bias,
        mut tape,
        xs,
        ws,
        bs,
    } = ConvCall::new(x, kernel, bias, spec)?;
    let out = conv_forward(&xs, &ws, &bs, &g);
    let out = dev
        .try_tensor_from_vec(out, (n, g.out_h, g.out_w, g.filters))
        .map_err(|e| Error::backend("building the conv2d output", e))?;
    if T::OWNS_TAPE {
        let (xg, kg, bg, og) = (x.ghost(), kernel.ghost(), bias.ghost(), out.ghost());
        drop(x);
        tape.add_backward_op(move |grads| {
            let dout = std::mem::take(grad_mut!(grads, &og));
            let (dw, db, dx) = conv_backward(&xs, &ws, &g, &dout, input_grad);
            *grad_mut!(grads, &og) = dout;
            add_into(grad_mut!(grads, &kg), &dw);
            add_into(grad_mut!(grads, &bg), &db);
            if let Some(dx) = dx {
                add_into(grad_mut!(grads, &xg), &dx);
            }
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// A Keras-style `Conv2D` layer with compile-time sizes, for use in dfdx model tuples.
///
/// `I` input channels, `O` filters, a `K x K` kernel, stride `S`, and `SAME` padding when true
/// (else 'valid'). Input and output are NHWC tensors of shape `(usize, usize, usize, usize)`.
/// The kernel is stored HWIO like Keras's; initialisation is Glorot-uniform, bias zero.
/// Build it with `dev.build_module::<Conv2D<1, 32, 3>, f32>()`; it runs on `Cpu` with `f32`.
#[derive(Debug, Clone)]
pub struct Conv2D<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize = 1,
    const SAME: bool = false,
    E: Dtype = f32,
    D: Storage<E> = Cpu,
> {
    /// Kernel, `(K, K, I, O)`.
    pub kernel: Tensor<Rank4<K, K, I, O>, E, D>,
    /// Bias, one per filter.
    pub bias: Tensor<Rank1<O>, E, D>,
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
        E: Dtype,
        D: Storage<E>,
    > Conv2D<I, O, K, S, SAME, E, D>
{
    /// The layer's convolution settings.
    pub fn spec() -> ConvSpec {
        ConvSpec {
            kernel: (K, K),
            filters: O,
            stride: S,
            padding: if SAME { Padding::Same } else { Padding::Valid },
        }
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
        D: Device<f32>,
    > TensorCollection<f32, D> for Conv2D<I, O, K, S, SAME, f32, D>
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2D<I, O, K, S, SAME, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, f32, D>>(
        visitor: &mut V,
    ) -> std::result::Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "kernel",
                    |s| &s.kernel,
                    |s| &mut s.kernel,
                    TensorOptions::reset_with(|t| {
                        let limit = (6.0 / (K * K * (I + O)) as f32).sqrt();
                        t.try_fill_with_distr(Uniform::new(-limit, limit))
                    }),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_to_zeros(),
                ),
            ),
            |(kernel, bias)| Conv2D { kernel, bias },
        )
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const SAME: bool, E, D>
    BuildOnDevice<D, E> for Conv2D<I, O, K, S, SAME, E, D>
where
    E: Dtype,
    D: Device<E>,
    Self: BuildModule<D, E>,
{
    type Built = Self;
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const SAME: bool,
        E: Dtype,
        D: Storage<E>,
    > NonMutableModule for Conv2D<I, O, K, S, SAME, E, D>
{
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const SAME: bool, T>
    Module<Tensor<Nhwc, f32, Cpu, T>> for Conv2D<I, O, K, S, SAME>
where
    T: Tape<f32, Cpu>,
{
    type Output = Tensor<Nhwc, f32, Cpu, T>;
    type Error = CpuError;

    /// Convolves; a shape that does not fit the layer is reported as `CpuError::WrongNumElements`
    /// (dfdx's module error type has no richer variant).
    fn try_forward(
        &self,
        x: Tensor<Nhwc, f32, Cpu, T>,
    ) -> std::result::Result<Self::Output, CpuError> {
        conv2d(
            x,
            self.kernel.retaped::<T>(),
            self.bias.retaped::<T>(),
            &Self::spec(),
            true,
        )
        .map_err(|_| CpuError::WrongNumElements)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cnn::tensor_io::tests::{finite_diff_check, rand_vec};

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

    fn spec(k: (usize, usize), f: usize, s: usize, p: Padding) -> ConvSpec {
        ConvSpec {
            kernel: k,
            filters: f,
            stride: s,
            padding: p,
        }
    }

    #[test]
    fn geometry_matches_keras_output_sizes() {
        let g = ConvGeometry::new(130, 130, 1, &spec((3, 3), 32, 1, Padding::Valid)).unwrap();
        assert_eq!((g.out_h, g.out_w), (128, 128));
        let g = ConvGeometry::new(7, 8, 2, &spec((3, 3), 4, 2, Padding::Same)).unwrap();
        // ceil(7/2)=4, ceil(8/2)=4; pad rows: (4-1)*2+3-7 = 2 -> top 1; cols: 6+3-8 = 1 -> left 0
        assert_eq!((g.out_h, g.out_w, g.pad_top, g.pad_left), (4, 4, 1, 0));
        let g = ConvGeometry::new(9, 5, 1, &spec((3, 2), 1, 3, Padding::Valid)).unwrap();
        assert_eq!((g.out_h, g.out_w), (3, 2));
        assert!(ConvGeometry::new(2, 9, 1, &spec((3, 3), 1, 1, Padding::Valid)).is_err());
        assert!(ConvGeometry::new(9, 9, 1, &spec((3, 3), 1, 0, Padding::Valid)).is_err());
        assert!(ConvGeometry::new(9, 9, 1, &spec((3, 3), 0, 1, Padding::Valid)).is_err());
    }

    #[test]
    fn forward_equals_naive_reference_for_odd_shapes() {
        let cases = [
            (2, 7, 9, 3, spec((3, 3), 5, 1, Padding::Valid)),
            (1, 8, 5, 2, spec((3, 2), 3, 2, Padding::Valid)),
            (3, 7, 6, 1, spec((3, 3), 4, 2, Padding::Same)),
            (2, 5, 5, 4, spec((5, 5), 2, 1, Padding::Same)),
            (1, 11, 13, 2, spec((1, 1), 3, 3, Padding::Same)),
        ];
        for (seed, &(n, h, w, c, sp)) in cases.iter().enumerate() {
            let g = ConvGeometry::new(h, w, c, &sp).unwrap();
            let x = rand_vec(n * g.in_len(), seed as u64);
            let wt = rand_vec(g.kernel_len(), seed as u64 + 100);
            let b = rand_vec(g.filters, seed as u64 + 200);
            let got = conv_forward(&x, &wt, &b, &g);
            let want = naive_conv(&x, n, &wt, &b, &g);
            assert_eq!(got.len(), want.len());
            for (a, e) in got.iter().zip(&want) {
                assert!((a - e).abs() < 1e-4, "case {seed}: {a} vs {e}");
            }
        }
    }

    #[test]
    fn large_image_uses_several_bands_and_still_matches() {
        // 60x60x8 with a 3x3 kernel: 72-float patches, 58 columns -> bands of 31 rows, 2 bands.
        let sp = spec((3, 3), 6, 1, Padding::Valid);
        let g = ConvGeometry::new(60, 60, 8, &sp).unwrap();
        assert!(band_rows(&g, g.out_w) < g.out_h);
        let x = rand_vec(g.in_len(), 5);
        let wt = rand_vec(g.kernel_len(), 6);
        let b = rand_vec(6, 7);
        let got = conv_forward(&x, &wt, &b, &g);
        let want = naive_conv(&x, 1, &wt, &b, &g);
        for (a, e) in got.iter().zip(&want) {
            assert!((a - e).abs() < 1e-3);
        }
    }

    #[test]
    fn gradients_match_finite_differences() {
        for (n, h, w, c, sp) in [
            (2, 6, 5, 2, spec((3, 3), 3, 1, Padding::Valid)),
            (1, 7, 6, 2, spec((3, 2), 2, 2, Padding::Same)),
        ] {
            finite_diff_check(
                n,
                h,
                w,
                c,
                3,
                |x, k, b| conv2d(x, k, b, &sp, true).unwrap(),
                sp.kernel.0 * sp.kernel.1 * c * sp.filters,
                sp.filters,
                1e-2,
            );
        }
    }

    #[test]
    fn layer_works_in_a_dfdx_tuple_and_trains() {
        use crate::cnn::{Flatten, MaxPool2D};
        use dfdx::optim::{Adam, AdamConfig};
        let dev = Cpu::seed_from_u64(3);
        type Net = (
            Conv2D<1, 4, 3>,
            ReLU,
            MaxPool2D<2, 2>,
            Conv2D<4, 2, 3, 1, true>,
            Flatten,
        );
        let mut net: Net = (
            dev.build_module::<Conv2D<1, 4, 3>, f32>(),
            ReLU,
            MaxPool2D,
            dev.build_module::<Conv2D<4, 2, 3, 1, true>, f32>(),
            Flatten,
        );
        let x = dev.tensor_from_vec(rand_vec(2 * 8 * 8, 1), (2usize, 8usize, 8usize, 1usize));
        let target = dev.tensor_from_vec(vec![0.5f32; 2 * 3 * 3 * 2], (2usize, 18usize));
        let mut opt = Adam::new(
            &net,
            AdamConfig {
                lr: 0.01,
                ..Default::default()
            },
        );
        let mut grads = net.alloc_grads();
        let mut losses = vec![];
        for _ in 0..30 {
            let y = net.forward_mut(x.trace(grads));
            assert_eq!(y.shape(), &(2, 18));
            let loss = mse_loss(y, target.clone());
            losses.push(loss.array());
            grads = loss.backward();
            opt.update(&mut net, &grads).unwrap();
            net.zero_grads(&mut grads);
        }
        assert!(
            losses[29] < 0.5 * losses[0],
            "loss {} -> {}",
            losses[0],
            losses[29]
        );
    }
}
