//! Moving data between dfdx tensors, gradients and plain buffers, for our own differentiable ops.

use dfdx::prelude::*;

use crate::error::{Error, Result};

/// Shape of an NHWC activation: (batch, height, width, channels), all sizes known at run time.
pub type Nhwc = (usize, usize, usize, usize);

/// Copies a tensor's values into a new row-major `Vec`.
pub(crate) fn read_tensor<S: Shape>(t: &Tensor<S, f32, Cpu>) -> Result<Vec<f32>> {
    let t = t
        .clone()
        .try_contiguous()
        .map_err(|e| Error::backend("reading a tensor", e))?;
    let mut out = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut out);
    Ok(out)
}

/// The gradient buffer of a tensor or ghost as `&mut Vec<f32>`, allocated (zeros) if absent.
///
/// A macro because dfdx's `Tensorlike`/`GhostTensor` types cannot be named outside dfdx;
/// use it inside a backward closure (it returns early with the allocation error).
macro_rules! grad_mut {
    ($grads:expr, $t:expr) => {{
        let g: &mut Vec<f32> = $grads.get_or_alloc_mut($t)?;
        g
    }};
}
pub(crate) use grad_mut;

/// A one-input op on the tape: `forward` maps `x`'s values to the output's values of `shape`
/// (`building` names the step in a backend error) and to the backward pass, which maps the
/// output's gradient to `x`'s (added to it when the tape records).
pub(crate) fn unary_op<S, O, T, B>(
    x: Tensor<S, f32, Cpu, T>,
    shape: O,
    building: &'static str,
    forward: impl FnOnce(&[f32]) -> Result<(Vec<f32>, B)>,
) -> Result<Tensor<O, f32, Cpu, T>>
where
    S: Shape,
    O: Shape,
    T: Tape<f32, Cpu>,
    B: FnOnce(&[f32]) -> Vec<f32> + 'static,
{
    let dev = x.device().clone();
    let (x, mut tape) = x.split_tape();
    let (out, backward) = forward(&read_tensor(&x)?)?;
    let out = dev
        .try_tensor_from_vec(out, shape)
        .map_err(|e| Error::backend(building, e))?;
    if T::OWNS_TAPE {
        let (xg, og) = (x.ghost(), out.ghost());
        drop(x);
        tape.add_backward_op(move |grads| {
            let dout = std::mem::take(grad_mut!(grads, &og));
            let dx = backward(&dout);
            *grad_mut!(grads, &og) = dout;
            add_into(grad_mut!(grads, &xg), &dx);
            Ok(())
        });
    }
    Ok(out.put_tape(tape))
}

/// `dst += src`, element by element.
pub(crate) fn add_into(dst: &mut [f32], src: &[f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d += s;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{rngs::StdRng, Rng, SeedableRng};

    /// `len` values uniform in [-1, 1) from `seed`.
    pub(crate) fn rand_vec(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..len).map(|_| rng.gen_range(-1.0f32..1.0)).collect()
    }

    type Owned = OwnedTape<f32, Cpu>;

    /// Checks the gradients an op gives its input (of any shape, e.g. NHWC) and two flat
    /// parameters (`klen` and `blen` values) against central differences of
    /// `loss = sum(op(x, k, b) * r)` with random `r`.
    pub(crate) fn finite_diff_check<S: Shape, O: Shape>(
        x_shape: S,
        seed: u64,
        f: impl Fn(
            Tensor<S, f32, Cpu, Owned>,
            Tensor<(usize,), f32, Cpu, Owned>,
            Tensor<(usize,), f32, Cpu, Owned>,
        ) -> Tensor<O, f32, Cpu, Owned>,
        klen: usize,
        blen: usize,
        eps: f32,
    ) {
        let dev = Cpu::default();
        let mut vals = [
            rand_vec(x_shape.num_elements(), seed),
            rand_vec(klen, seed + 1),
            rand_vec(blen, seed + 2),
        ];
        let loss_and_grads = |vals: &[Vec<f32>; 3], r: Option<&Vec<f32>>| {
            let xt = dev.tensor_from_vec(vals[0].clone(), x_shape);
            let kt = dev.tensor_from_vec(vals[1].clone(), (klen,));
            let bt = dev.tensor_from_vec(vals[2].clone(), (blen,));
            let out = f(xt.leaky_trace(), kt.leaky_trace(), bt.leaky_trace());
            let shape = *out.shape();
            let r = r
                .cloned()
                .unwrap_or_else(|| rand_vec(shape.num_elements(), seed + 3));
            let rt = dev.tensor_from_vec(r.clone(), shape);
            // The loss's value summed in f64: an f32 sum's rounding would be divided by the step.
            let value: f64 = out
                .as_vec()
                .iter()
                .zip(&r)
                .map(|(&o, &ri)| o as f64 * ri as f64)
                .sum();
            let loss = (out * rt).sum();
            let mut grads = loss.backward();
            let mut g = [vec![], vec![], vec![]];
            for (slot, t) in g.iter_mut().take(1).zip([&xt]) {
                let v: &mut Vec<f32> = grads.get_or_alloc_mut(t).unwrap();
                *slot = v.clone();
            }
            for (slot, t) in g.iter_mut().skip(1).zip([&kt, &bt]) {
                let v: &mut Vec<f32> = grads.get_or_alloc_mut(t).unwrap();
                *slot = v.clone();
            }
            (value, g, r)
        };
        let (_, analytic, r) = loss_and_grads(&vals, None);
        let mut checked = 0;
        for which in 0..3 {
            let len = vals[which].len();
            let step = (len / 25).max(1);
            for i in (0..len).step_by(step) {
                let orig = vals[which][i];
                vals[which][i] = orig + eps;
                let (up, _, _) = loss_and_grads(&vals, Some(&r));
                vals[which][i] = orig - eps;
                let (down, _, _) = loss_and_grads(&vals, Some(&r));
                vals[which][i] = orig;
                let numeric = (up - down) / (2.0 * eps as f64);
                let a = analytic[which][i] as f64;
                assert!(
                    (a - numeric).abs() <= 5e-3 + 1e-2 * numeric.abs(),
                    "tensor {which} index {i}: analytic {a} vs numeric {numeric}"
                );
                checked += 1;
            }
        }
        assert!(checked > 10);
    }

    #[test]
    fn read_tensor_copies_values_in_order() {
        let dev = Cpu::default();
        let t = dev.tensor_from_vec(vec![1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0], (2usize, 3usize));
        assert_eq!(read_tensor(&t).unwrap(), vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // A permuted (non-contiguous) view comes back in its own row-major order.
        let p: Tensor<(usize, usize), f32, Cpu> = t.permute::<_, Axes2<1, 0>>();
        assert_eq!(read_tensor(&p).unwrap(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
    }
}
