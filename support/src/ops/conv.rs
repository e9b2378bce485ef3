//! 2-D convolution over NHWC images with an HWIO kernel (the Keras/TensorFlow layouts): its
//! settings and geometry, the im2col + GEMM pieces the fused op ([`super::fused`]) is built
//! from, and the tape plumbing every convolution op shares ([`ConvCall`]).

use dfdx::prelude::*;
use rayon::prelude::*;

use super::matmul::{matmul, MatRef};
use super::tensor_io::{add_into, grad_mut, read_tensor, Nhwc};
use crate::error::{Error, Result};

/// How a convolution treats the image border (Keras's `padding=`, `"valid"` or `"same"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: the output shrinks by `kernel - 1` (before striding).
    #[default]
    Valid,
    /// Zero padding so that the output has `ceil(input / stride)` rows and columns.
    Same,
}

/// The settings of one convolution: kernel size, number of filters, stride and padding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvSpec {
    /// Kernel height and width.
    pub kernel: (usize, usize),
    /// Number of output channels.
    pub filters: usize,
    /// Step between neighbouring windows, the same along rows and columns.
    pub stride: usize,
    /// Border handling.
    pub padding: Padding,
}

impl ConvSpec {
    /// `filters` kernels of `kernel` (height, width) moved by `stride`, with `padding`.
    pub(crate) fn new(
        kernel: (usize, usize),
        filters: usize,
        stride: usize,
        padding: Padding,
    ) -> Self {
        ConvSpec {
            kernel,
            filters,
            stride,
            padding,
        }
    }
}

/// All sizes of one convolution over one NHWC image (input, kernel, padding and output).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeometry {
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
    pub(crate) fn new(in_h: usize, in_w: usize, in_c: usize, spec: &ConvSpec) -> Result<Self> {
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
    pub(crate) fn patch_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c
    }

    /// Number of kernel weights: `kernel_h * kernel_w * in_c * filters`.
    pub(crate) fn kernel_len(&self) -> usize {
        self.patch_len() * self.filters
    }

    /// Floats in one input image.
    pub(crate) fn in_len(&self) -> usize {
        self.in_h * self.in_w * self.in_c
    }

    /// Floats in one output image (only the unfused reference keeps a full-size output).
    #[cfg(test)]
    pub(crate) fn out_len(&self) -> usize {
        self.out_h * self.out_w * self.filters
    }
}

/// Floats of im2col scratch one band may use (512 KiB: stays in a core's L2 cache).
pub(crate) const PATCH_BUDGET: usize = 1 << 17;

thread_local! {
    /// Per-thread scratch buffers, reused across calls so that steps do not page-fault.
    static SCRATCH: std::cell::RefCell<[Vec<f32>; 2]> = const { std::cell::RefCell::new([Vec::new(), Vec::new()]) };
}

/// `len` zeros, written by all threads (a serial `vec![0; len]` of a batch's activations left one
/// core idle for a few percent of a step).
pub(crate) fn zeros_in_parallel<T: Default + Send>(len: usize) -> Vec<T> {
    (0..len).into_par_iter().map(|_| T::default()).collect()
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

/// Gradients of a convolution batch: `(dw, db, dx)`, `dx` only when `need_dx`.
pub(crate) type ConvGrads = (Vec<f32>, Vec<f32>, Option<Vec<f32>>);

/// Images are split into this many fixed groups for the backward pass; the groups' weight
/// gradients are summed in group order, so results do not depend on thread scheduling.
const GRAD_GROUPS: usize = 8;

/// Runs `per_image(i, dw, db, dx_i)` over all images in parallel and sums the weight gradients
/// (deterministically: fixed image groups, summed in order). `dw` has `dw_len` floats: the
/// kernel's, or those of the form the kernel gradient is accumulated in (Winograd's transformed
/// kernel).
pub(crate) fn backward_batch<F>(
    n: usize,
    g: &ConvGeometry,
    dw_len: usize,
    need_dx: bool,
    per_image: F,
) -> ConvGrads
where
    F: Fn(usize, &mut [f32], &mut [f32], Option<&mut [f32]>) + Sync,
{
    let (kl, o, il) = (dw_len, g.filters, g.in_len());
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
        let mut dx = zeros_in_parallel(n * il);
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

/// One call's inputs, as every convolution op takes them: the geometry (checked against the
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

    /// The op's output `out` of `shape` on the merged tape (`building` names the step in a
    /// backend error). When the tape records, `backward`
    /// (given the input and kernel values and the output gradient) runs in the backward pass and
    /// its `(dw, db, dx)` are added to the gradients of `kernel`, `bias` and `x`.
    pub(crate) fn finish(
        self,
        out: Vec<f32>,
        shape: Nhwc,
        building: &'static str,
        backward: impl FnOnce(&[f32], &[f32], &[f32]) -> ConvGrads + 'static,
    ) -> Result<Tensor<Nhwc, f32, Cpu, T>>
    where
        T: Tape<f32, Cpu>,
    {
        let ConvCall {
            dev,
            x,
            kernel,
            bias,
            mut tape,
            xs,
            ws,
            ..
        } = self;
        let out = dev
            .try_tensor_from_vec(out, shape)
            .map_err(|e| Error::backend(building, e))?;
        if T::OWNS_TAPE {
            let (xg, kg, bg, og) = (x.ghost(), kernel.ghost(), bias.ghost(), out.ghost());
            // The values in `xs` are all the backward pass needs; free the tensor now.
            drop(x);
            tape.add_backward_op(move |grads| {
                let dout = std::mem::take(grad_mut!(grads, &og));
                let (dw, db, dx) = backward(&xs, &ws, &dout);
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_matches_keras_output_sizes() {
        let g =
            ConvGeometry::new(130, 130, 1, &ConvSpec::new((3, 3), 32, 1, Padding::Valid)).unwrap();
        assert_eq!((g.out_h, g.out_w), (128, 128));
        let g = ConvGeometry::new(7, 8, 2, &ConvSpec::new((3, 3), 4, 2, Padding::Same)).unwrap();
        // ceil(7/2)=4, ceil(8/2)=4; pad rows: (4-1)*2+3-7 = 2 -> top 1; cols: 6+3-8 = 1 -> left 0
        assert_eq!((g.out_h, g.out_w, g.pad_top, g.pad_left), (4, 4, 1, 0));
        let g = ConvGeometry::new(9, 5, 1, &ConvSpec::new((3, 2), 1, 3, Padding::Valid)).unwrap();
        assert_eq!((g.out_h, g.out_w), (3, 2));
        assert!(ConvGeometry::new(2, 9, 1, &ConvSpec::new((3, 3), 1, 1, Padding::Valid)).is_err());
        assert!(ConvGeometry::new(9, 9, 1, &ConvSpec::new((3, 3), 1, 0, Padding::Valid)).is_err());
        assert!(ConvGeometry::new(9, 9, 1, &ConvSpec::new((3, 3), 0, 1, Padding::Valid)).is_err());
    }
}
