//! Keras's `BatchNormalization` over the last axis (channels) as our own differentiable op:
//! [`batch_norm_training`] normalises with the batch's statistics and returns them,
//! [`batch_norm_inference`] with the moving averages, which [`update_moving`] keeps.
//!
//! Per channel, `y = gamma * x̂ + beta` with `x̂ = (x - mean) / sqrt(variance + epsilon)`
//! (Ioffe & Szegedy, "Batch Normalization", 2015, Algorithm 1). The statistics are taken over
//! every axis but the last, so one op serves NHWC activations `(n, h, w, c)` and dense ones
//! `(n, features)`.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::tensor_io::{add_into, grad_mut, read_tensor};
use crate::error::{Error, Result};

/// Keras's default `momentum` of the moving averages.
pub(crate) const DEFAULT_MOMENTUM: f32 = 0.99;
/// Keras's default `epsilon`, added to the variance before the square root.
pub(crate) const DEFAULT_EPSILON: f32 = 1e-3;

/// A batch's per-channel mean and variance, for the moving averages.
///
/// The variance is the biased one (divided by the number of values, not one less), as Keras 3
/// uses for both the normalisation and the moving average: `BatchNormalization.call` in
/// keras/src/layers/normalization/batch_normalization.py takes `ops.moments(...)` (e.g.
/// `E[x²] - E[x]²` in keras/src/backend/numpy/nn.py and torch/nn.py, `jnp.var` in jax/nn.py)
/// and assigns `moving_variance * momentum + variance * (1 - momentum)` without a Bessel
/// correction.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct BatchStats {
    /// Mean of each channel.
    pub mean: Vec<f32>,
    /// Biased variance of each channel.
    pub variance: Vec<f32>,
}

/// Rows (positions sharing one value per channel) in one block of the parallel loops: blocks are
/// fixed, so sums do not depend on thread scheduling.
const BLOCK_ROWS: usize = 1024;

/// Which statistics normalise the batch.
enum Statistics<'a> {
    /// The batch's own (training): the gradient flows through them.
    Batch,
    /// Given constants (inference: the moving averages).
    Moving {
        mean: &'a [f32],
        variance: &'a [f32],
    },
}

/// Training mode: normalise with the batch's statistics over every axis but the last, then scale
/// by `gamma` and shift by `beta`; differentiable w.r.t. `x`, `gamma` and `beta` (the full
/// batch-norm backward, through the mean and variance). Also returns those statistics.
pub(crate) fn batch_norm_training<S: Shape, T, R>(
    x: Tensor<S, f32, Cpu, T>,
    gamma: Tensor<(usize,), f32, Cpu, R>,
    beta: Tensor<(usize,), f32, Cpu, R>,
    epsilon: f32,
) -> Result<(Tensor<S, f32, Cpu, T>, BatchStats)>
where
    T: Tape<f32, Cpu> + Merge<R>,
    R: Tape<f32, Cpu>,
{
    let (y, stats) = batch_norm(x, gamma, beta, Statistics::Batch, epsilon)?;
    Ok((y, stats.expect("batch statistics in training mode")))
}

/// Inference mode: `(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta`;
/// differentiable w.r.t. `x`, `gamma` and `beta` (the moving statistics are constants).
pub(crate) fn batch_norm_inference<S: Shape, T, R>(
    x: Tensor<S, f32, Cpu, T>,
    gamma: Tensor<(usize,), f32, Cpu, R>,
    beta: Tensor<(usize,), f32, Cpu, R>,
    moving_mean: &[f32],
    moving_variance: &[f32],
    epsilon: f32,
) -> Result<Tensor<S, f32, Cpu, T>>
where
    T: Tape<f32, Cpu> + Merge<R>,
    R: Tape<f32, Cpu>,
{
    let stats = Statistics::Moving {
        mean: moving_mean,
        variance: moving_variance,
    };
    Ok(batch_norm(x, gamma, beta, stats, epsilon)?.0)
}

/// `moving = moving * momentum + batch * (1 - momentum)`, as Keras updates `moving_mean` and
/// `moving_variance`.
pub(crate) fn update_moving(moving: &mut [f32], batch: &[f32], momentum: f32) {
    debug_assert_eq!(moving.len(), batch.len(), "one value per channel");
    for (m, b) in moving.iter_mut().zip(batch) {
        *m = *m * momentum + b * (1.0 - momentum);
    }
}

/// Checks that a per-channel vector has one value per channel.
fn check_len(name: &'static str, len: usize, channels: usize) -> Result<()> {
    if len == channels {
        Ok(())
    } else {
        Err(Error::invalid(
            name,
            format!("{len} values"),
            format!("{channels} (one per channel, the input's last dimension)"),
        ))
    }
}

/// The normalised tensor, with the batch statistics in training mode.
type Normalised<S, T> = (Tensor<S, f32, Cpu, T>, Option<BatchStats>);

/// The op behind both modes; the batch statistics come back in training mode.
fn batch_norm<S: Shape, T, R>(
    x: Tensor<S, f32, Cpu, T>,
    gamma: Tensor<(usize,), f32, Cpu, R>,
    beta: Tensor<(usize,), f32, Cpu, R>,
    stats: Statistics<'_>,
    epsilon: f32,
) -> Result<Normalised<S, T>>
where
    T: Tape<f32, Cpu> + Merge<R>,
    R: Tape<f32, Cpu>,
{
    let shape = *x.shape();
    let dims = shape.concrete();
    let c = dims.as_ref().last().copied().unwrap_or(0);
    let rows = shape.num_elements().checked_div(c).unwrap_or(0);
    if rows == 0 {
        return Err(Error::invalid(
            "batch_norm input",
            format!("{:?}", dims.as_ref()),
            "at least one axis and one value per channel",
        ));
    }
    // `!(epsilon > 0)` also refuses NaN.
    if !(epsilon > 0.0 && epsilon.is_finite()) {
        return Err(Error::invalid("epsilon", epsilon, "a finite number > 0"));
    }
    check_len("batch_norm gamma", gamma.shape().0, c)?;
    check_len("batch_norm beta", beta.shape().0, c)?;
    if let Statistics::Moving { mean, variance } = stats {
        check_len("moving_mean", mean.len(), c)?;
        check_len("moving_variance", variance.len(), c)?;
        if let Some(v) = variance.iter().find(|v| v.is_nan() || **v < 0.0) {
            return Err(Error::invalid("moving_variance", v, "values >= 0"));
        }
    }

    let dev = x.device().clone();
    let (x, tx) = x.split_tape();
    let (gamma, tg) = gamma.split_tape();
    let (beta, tb) = beta.split_tape();
    let mut tape = tx.merge(tg).merge(tb);
    let xs = read_tensor(&x)?;
    let (gs, bs) = (read_tensor(&gamma)?, read_tensor(&beta)?);

    let (mean, variance, batch_stats) = match stats {
        Statistics::Batch => {
            let (mean, variance) = moments(&xs, c);
            let stats = BatchStats {
                mean: mean.clone(),
                variance: variance.clone(),
            };
            (mean, variance, Some(stats))
        }
        Statistics::Moving { mean, variance } => (mean.to_vec(), variance.to_vec(), None),
    };
    let inv_std: Vec<f32> = variance
        .iter()
        .map(|v| (1.0 / (*v as f64 + epsilon as f64).sqrt()) as f32)
        .collect();

    // x̂ is kept for the backward pass (it replaces x there).
    let mut xhat = xs;
    map_rows(&mut xhat, c, |row| {
        for ((v, m), s) in row.iter_mut().zip(&mean).zip(&inv_std) {
            *v = (*v - m) * s;
        }
    });
    let mut out = xhat.clone();
    map_rows(&mut out, c, |row| {
        for ((v, g), b) in row.iter_mut().zip(&gs).zip(&bs) {
            *v = *v * g + b;
        }
    });
    let out = dev
        .try_tensor_from_vec(out, shape)
        .map_err(|e| Error::backend("building the batch_norm output", e))?;

    if T::OWNS_TAPE {
        let through_stats = batch_stats.is_some();
        let (xg, gg, bg, og) = (x.ghost(), gamma.ghost(), beta.ghost(), out.ghost());
        drop(x);
        tape.add_backward_op(move |grads| {
            let dy = std::mem::take(grad_mut!(grads, &og));
            let (dx, dgamma, dbeta) = backward(&dy, &xhat, &gs, &inv_std, through_stats);
            *grad_mut!(grads, &og) = dy;
            add_into(grad_mut!(grads, &xg), &dx);
            add_into(grad_mut!(grads, &gg), &dgamma);
            add_into(grad_mut!(grads, &bg), &dbeta);
            Ok(())
        });
    }
    Ok((out.put_tape(tape), batch_stats))
}

/// Gradients `(dx, dgamma, dbeta)` from the output gradient `dy`.
///
/// `dbeta = Σ dy`, `dgamma = Σ dy·x̂` (sums over every row of a channel). With constant
/// statistics `dx = gamma / σ · dy`; through the batch's own mean and variance (Ioffe & Szegedy,
/// section 3, the chain rule written per channel over its `m` values)
/// `dx = gamma / σ · (dy - mean(dy) - x̂ · mean(dy·x̂))`.
fn backward(
    dy: &[f32],
    xhat: &[f32],
    gamma: &[f32],
    inv_std: &[f32],
    through_stats: bool,
) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let c = gamma.len();
    let rows = (dy.len() / c) as f64;
    let dbeta = sum_per_channel(dy.len(), c, |i| dy[i] as f64);
    let dgamma = sum_per_channel(dy.len(), c, |i| dy[i] as f64 * xhat[i] as f64);
    let (shift, slope): (Vec<f32>, Vec<f32>) = if through_stats {
        dbeta
            .iter()
            .zip(&dgamma)
            .map(|(b, g)| ((b / rows) as f32, (g / rows) as f32))
            .unzip()
    } else {
        (vec![0.0; c], vec![0.0; c])
    };
    let scale: Vec<f32> = gamma.iter().zip(inv_std).map(|(g, s)| g * s).collect();
    let mut dx = dy.to_vec();
    dx.par_chunks_mut(BLOCK_ROWS * c)
        .zip(xhat.par_chunks(BLOCK_ROWS * c))
        .for_each(|(d, xh)| {
            for (drow, xrow) in d.chunks_exact_mut(c).zip(xh.chunks_exact(c)) {
                for ch in 0..c {
                    drow[ch] = scale[ch] * (drow[ch] - shift[ch] - xrow[ch] * slope[ch]);
                }
            }
        });
    let to_f32 = |v: Vec<f64>| v.into_iter().map(|s| s as f32).collect();
    (dx, to_f32(dgamma), to_f32(dbeta))
}

/// Per-channel mean and biased variance of `xs` (rows of `c` channels), in f64 and two passes
/// (the mean first, then the squared deviations from it) so large activations keep their digits.
fn moments(xs: &[f32], c: usize) -> (Vec<f32>, Vec<f32>) {
    let rows = (xs.len() / c) as f64;
    let mean: Vec<f64> = sum_per_channel(xs.len(), c, |i| xs[i] as f64)
        .into_iter()
        .map(|s| s / rows)
        .collect();
    let variance = sum_per_channel(xs.len(), c, |i| {
        let d = xs[i] as f64 - mean[i % c];
        d * d
    });
    (
        mean.iter().map(|m| *m as f32).collect(),
        variance.iter().map(|v| (v / rows) as f32).collect(),
    )
}

/// `Σ term(i)` over the flat indices `i` of each channel (`i % c`), in f64: fixed blocks of rows
/// in parallel, their partial sums added in block order.
fn sum_per_channel(len: usize, c: usize, term: impl Fn(usize) -> f64 + Sync) -> Vec<f64> {
    let block = BLOCK_ROWS * c;
    let partials: Vec<Vec<f64>> = (0..len.div_ceil(block))
        .into_par_iter()
        .map(|b| {
            let mut sums = vec![0.0f64; c];
            for row in (b * block..((b + 1) * block).min(len)).step_by(c) {
                for (ch, s) in sums.iter_mut().enumerate() {
                    *s += term(row + ch);
                }
            }
            sums
        })
        .collect();
    let mut total = vec![0.0f64; c];
    for p in &partials {
        for (t, v) in total.iter_mut().zip(p) {
            *t += v;
        }
    }
    total
}

/// Runs `f` on every row of `c` channels of `data`, blocks of rows in parallel.
fn map_rows(data: &mut [f32], c: usize, f: impl Fn(&mut [f32]) + Sync) {
    data.par_chunks_mut(BLOCK_ROWS * c)
        .for_each(|block| block.chunks_exact_mut(c).for_each(&f));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::tests::assert_close;
    use crate::ops::tensor_io::tests::{finite_diff_check, rand_vec};

    /// `gamma` and `beta` of `c` channels, away from zero so every term of the gradient counts.
    fn params(c: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let gamma = rand_vec(c, seed).iter().map(|v| 1.0 + 0.5 * v).collect();
        (gamma, rand_vec(c, seed + 1))
    }

    /// The definition, channel by channel with plain loops: statistics (batch ones when `moving`
    /// is `None`), then `(x - mean) / sqrt(var + eps) * gamma + beta`.
    fn naive(
        x: &[f32],
        c: usize,
        gamma: &[f32],
        beta: &[f32],
        moving: Option<(&[f32], &[f32])>,
        eps: f32,
    ) -> Vec<f32> {
        let rows = x.len() / c;
        let mut y = vec![0.0; x.len()];
        for ch in 0..c {
            let column: Vec<f64> = (0..rows).map(|r| x[r * c + ch] as f64).collect();
            let (mean, var) = match moving {
                Some((m, v)) => (m[ch] as f64, v[ch] as f64),
                None => {
                    let mean = column.iter().sum::<f64>() / rows as f64;
                    let var = column.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / rows as f64;
                    (mean, var)
                }
            };
            for (r, v) in column.iter().enumerate() {
                let xhat = (v - mean) / (var + eps as f64).sqrt();
                y[r * c + ch] = (xhat * gamma[ch] as f64 + beta[ch] as f64) as f32;
            }
        }
        y
    }

    #[test]
    fn both_modes_equal_the_definition_on_nhwc_and_dense_inputs() {
        let dev = Cpu::default();
        let (gamma, beta) = params(5, 1);
        let (mm, mv) = (rand_vec(5, 3), vec![0.5f32, 1.0, 2.0, 0.1, 3.0]);
        let gt = dev.tensor_from_vec(gamma.clone(), (5usize,));
        let bt = dev.tensor_from_vec(beta.clone(), (5usize,));
        // More rows than one block (BLOCK_ROWS) in the NHWC case, to cross block borders.
        let nhwc: Vec<f32> = rand_vec(3 * 20 * 20 * 5, 4)
            .iter()
            .map(|v| 3.0 * v + 1.0)
            .collect();
        let dense = rand_vec(7 * 5, 5);
        let x4 = dev.tensor_from_vec(nhwc.clone(), (3usize, 20usize, 20usize, 5usize));
        let x2 = dev.tensor_from_vec(dense.clone(), (7usize, 5usize));

        let (y, stats) = batch_norm_training(x4.clone(), gt.clone(), bt.clone(), 1e-3).unwrap();
        assert_close(
            &y.as_vec(),
            &naive(&nhwc, 5, &gamma, &beta, None, 1e-3),
            1e-4,
            "nhwc",
        );
        assert_eq!(stats.mean.len(), 5);
        let (y, _) = batch_norm_training(x2.clone(), gt.clone(), bt.clone(), 1e-3).unwrap();
        assert_close(
            &y.as_vec(),
            &naive(&dense, 5, &gamma, &beta, None, 1e-3),
            1e-4,
            "dense",
        );

        let moving = Some((&mm[..], &mv[..]));
        let y = batch_norm_inference(x4, gt.clone(), bt.clone(), &mm, &mv, 1e-3).unwrap();
        let want = naive(&nhwc, 5, &gamma, &beta, moving, 1e-3);
        assert_close(&y.as_vec(), &want, 1e-4, "nhwc inference");
        let y = batch_norm_inference(x2, gt, bt, &mm, &mv, 1e-3).unwrap();
        let want = naive(&dense, 5, &gamma, &beta, moving, 1e-3);
        assert_close(&y.as_vec(), &want, 1e-4, "dense inference");
    }

    #[test]
    fn training_output_has_mean_beta_and_variance_gamma_squared_per_channel() {
        let dev = Cpu::default();
        let (n, h, w, c) = (4, 6, 5, 3);
        // Channels with different offsets and spreads.
        let x: Vec<f32> = rand_vec(n * h * w * c, 7)
            .iter()
            .enumerate()
            .map(|(i, v)| 10.0 * (i % c) as f32 + (1 + i % c) as f32 * 4.0 * v)
            .collect();
        let (gamma, beta) = (vec![2.0f32, 0.5, 1.5], vec![-1.0f32, 0.0, 3.0]);
        let xt = dev.tensor_from_vec(x.clone(), (n, h, w, c));
        let (y, stats) = batch_norm_training(
            xt,
            dev.tensor_from_vec(gamma.clone(), (c,)),
            dev.tensor_from_vec(beta.clone(), (c,)),
            DEFAULT_EPSILON,
        )
        .unwrap();
        let (ymean, yvar) = moments(&y.as_vec(), c);
        assert_close(&ymean, &beta, 1e-4, "output mean");
        // x̂ has variance var / (var + eps), a hair under 1.
        for ch in 0..c {
            let want = gamma[ch].powi(2) * stats.variance[ch] / (stats.variance[ch] + 1e-3);
            assert!(
                (yvar[ch] - want).abs() < 1e-3,
                "channel {ch}: {} vs {want}",
                yvar[ch]
            );
            assert!((yvar[ch] - gamma[ch].powi(2)).abs() < 1e-2 * gamma[ch].powi(2));
        }
        // The returned statistics are the batch's, with the biased variance.
        let (mean, var) = moments(&x, c);
        assert_close(&stats.mean, &mean, 1e-5, "batch mean");
        assert_close(&stats.variance, &var, 1e-4, "batch variance");
        let rows = (n * h * w) as f64;
        let ch0: Vec<f64> = x.iter().step_by(c).map(|v| *v as f64).collect();
        let m0 = ch0.iter().sum::<f64>() / rows;
        let biased = ch0.iter().map(|v| (v - m0).powi(2)).sum::<f64>() / rows;
        assert!((stats.variance[0] as f64 - biased).abs() < 1e-4 * biased);
    }

    /// Finite-difference checks of both modes on an input of `shape`, `c` channels last.
    fn check_gradients<S: Shape>(shape: S, c: usize, seed: u64) {
        let (mm, mv) = (rand_vec(c, seed), rand_vec(c, seed + 1));
        let mv: Vec<f32> = mv.iter().map(|v| 1.0 + 0.6 * v).collect();
        let train = |x, g, b| {
            batch_norm_training(x, g, b, DEFAULT_EPSILON)
                .map(|(y, _)| y)
                .unwrap()
        };
        let infer = |x, g, b| batch_norm_inference(x, g, b, &mm, &mv, DEFAULT_EPSILON).unwrap();
        finite_diff_check(shape, seed + 2, train, c, c, 1e-3);
        finite_diff_check(shape, seed + 3, infer, c, c, 1e-3);
    }

    #[test]
    fn gradients_match_finite_differences_in_both_modes() {
        check_gradients((2usize, 3usize, 4usize, 3usize), 3, 41);
        check_gradients((6usize, 4usize), 4, 51);
    }

    /// The argument name of an `InvalidArgument` error.
    fn refused(r: Result<()>) -> &'static str {
        match r {
            Err(Error::InvalidArgument { name, .. }) => name,
            other => panic!("expected an invalid argument, got {other:?}"),
        }
    }

    #[test]
    fn wrong_lengths_and_epsilon_are_refused() {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(rand_vec(12, 1), (4usize, 3usize));
        let three = dev.tensor_from_vec(vec![1.0f32; 3], (3usize,));
        let two = dev.tensor_from_vec(vec![1.0f32; 2], (2usize,));
        let train = |g: &Tensor<(usize,), f32, Cpu>, b: &Tensor<(usize,), f32, Cpu>, eps| {
            batch_norm_training(x.clone(), g.clone(), b.clone(), eps).map(|_| ())
        };
        assert_eq!(refused(train(&two, &three, 1e-3)), "batch_norm gamma");
        assert_eq!(refused(train(&three, &two, 1e-3)), "batch_norm beta");
        assert_eq!(refused(train(&three, &three, 0.0)), "epsilon");
        assert_eq!(refused(train(&three, &three, f32::NAN)), "epsilon");
        let infer = |m: &[f32], v: &[f32]| {
            batch_norm_inference(x.clone(), three.clone(), three.clone(), m, v, 1e-3).map(|_| ())
        };
        assert_eq!(refused(infer(&[0.0; 2], &[1.0; 3])), "moving_mean");
        assert_eq!(refused(infer(&[0.0; 3], &[1.0; 4])), "moving_variance");
        assert_eq!(
            refused(infer(&[0.0; 3], &[1.0, -1.0, 1.0])),
            "moving_variance"
        );
        assert!(infer(&[0.0; 3], &[1.0; 3]).is_ok());
        let empty = dev.tensor_from_vec(vec![], (0usize, 3usize));
        let r = batch_norm_training(empty, three.clone(), three.clone(), 1e-3).map(|_| ());
        assert_eq!(refused(r), "batch_norm input");
    }

    #[test]
    fn moving_averages_follow_keras_momentum() {
        let mut moving = vec![0.0f32, 1.0];
        update_moving(&mut moving, &[1.0, 3.0], DEFAULT_MOMENTUM);
        assert_close(&moving, &[0.01, 1.02], 1e-6, "one update");
        update_moving(&mut moving, &[1.0, 3.0], 0.5);
        assert_close(&moving, &[0.505, 2.01], 1e-6, "momentum 0.5");
    }
}
