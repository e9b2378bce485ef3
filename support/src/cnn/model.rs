//! [`Model`]: the tutorial CNN's weights and forward pass, trained one batch at a time
//! (`train_on_batch`, dropout on) and evaluated (`loss_on_batch`, `predict_proba`). Its optimiser
//! lives in [`super::optimizer`], its explanations in [`super::saliency`] and its printed table
//! in [`super::summary`].
//!
//! The weights live in plain buffers; every call builds fresh dfdx tensors from them and reads
//! the gradients back before returning. dfdx keys gradients by tensor ids from a global counter,
//! and under evcxr each notebook cell links its own copy of dfdx whose counter restarts at 0, so
//! tensors kept from the cell that made the model could share ids with tensors of a later cell.
//! Re-materialising the tensors on entry means no tensor ever outlives the call that made it.

use dfdx::prelude::*;
use ndarray::ArrayView4;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::Uniform;

use super::config::{ModelConfig, Stage};
use super::fused::conv2d_relu_pool;
use super::loss::{binary_cross_entropy_with_logits, sigmoid};
use super::optimizer::Adam;
use super::tensor_io::Nhwc;
use crate::error::{Error, Result};

/// Images per forward pass in [`Model::predict_proba`] and [`Model::loss_on_batch`] (bounds memory).
pub const PREDICT_BATCH: usize = 32;

/// One named weight array of the model, row-major (`kernel` HWIO, dense `kernel` `(in, out)`).
#[derive(Clone, Debug, PartialEq)]
pub struct Param {
    /// Keras-like name, e.g. `conv2d_1.kernel` or `dense.bias`.
    pub name: String,
    /// Shape, e.g. `[3, 3, 32, 64]`.
    pub shape: Vec<usize>,
    /// Values, `shape.iter().product()` of them.
    pub values: Vec<f32>,
}

/// A copy of all weights, for restoring the best epoch (see [`Model::weights`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Weights(pub(crate) Vec<Param>);

impl Weights {
    /// The weight arrays in model order.
    pub fn params(&self) -> &[Param] {
        &self.0
    }
}

/// The tutorial CNN with weights, optimizer state and dropout RNG; `Clone` snapshots all of it.
#[derive(Clone, Debug)]
pub struct Model {
    pub(super) config: ModelConfig,
    pub(super) stages: Vec<Stage>,
    /// Width of the flattened features that feed the dense layer.
    pub(super) flat: usize,
    pub(super) params: Vec<Param>,
    pub(super) optimizer: Adam,
    /// Draws the dropout masks.
    rng: StdRng,
    pub(super) dev: Cpu,
}

/// A runtime-sized vector tensor without a tape.
type Vector = Tensor<(usize,), f32, Cpu>;

/// The dfdx tensors made from the weights for one call.
pub(super) struct Live {
    conv: Vec<(Vector, Vector)>,
    dense_w: Tensor<(usize, usize), f32, Cpu>,
    dense_b: Tensor<(usize,), f32, Cpu>,
    out_w: Tensor<(usize, usize), f32, Cpu>,
    out_b: Tensor<(usize,), f32, Cpu>,
}

/// A dfdx failure as our error type.
pub(super) fn dfdx_err(e: CpuError) -> Error {
    Error::backend("a dfdx tensor operation", e)
}

/// Keras's name for the `i`-th layer of a kind: `conv2d`, `conv2d_1`, ...
pub(super) fn keras_name(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}_{i}")
    }
}

/// The names and shapes of a configuration's weights, in model order.
pub(crate) fn param_layout(
    config: &ModelConfig,
    stages: &[Stage],
    flat: usize,
) -> Vec<(String, Vec<usize>)> {
    let mut out = vec![];
    for (i, st) in stages.iter().enumerate() {
        let g = &st.conv;
        let name = keras_name("conv2d", i);
        out.push((
            format!("{name}.kernel"),
            vec![g.kernel_h, g.kernel_w, g.in_c, g.filters],
        ));
        out.push((format!("{name}.bias"), vec![g.filters]));
    }
    let u = config.dense_units();
    out.push(("dense.kernel".into(), vec![flat, u]));
    out.push(("dense.bias".into(), vec![u]));
    out.push(("dense_1.kernel".into(), vec![u, 1]));
    out.push(("dense_1.bias".into(), vec![1]));
    out
}

impl Model {
    /// A new model with Glorot-uniform kernels and zero biases (Keras's defaults) drawn from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let stages = config.stages()?;
        let flat = config.flat_features()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let params: Vec<Param> = param_layout(&config, &stages, flat)
            .into_iter()
            .map(|(name, shape)| {
                let len: usize = shape.iter().product();
                let values = if name.ends_with(".kernel") {
                    let (fan_in, fan_out) = match shape.len() {
                        4 => (
                            shape[0] * shape[1] * shape[2],
                            shape[0] * shape[1] * shape[3],
                        ),
                        _ => (shape[0], shape[1]),
                    };
                    let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
                    let dist = Uniform::new(-limit, limit);
                    (0..len).map(|_| rng.sample(dist)).collect()
                } else {
                    vec![0.0; len]
                };
                Param {
                    name,
                    shape,
                    values,
                }
            })
            .collect();
        Ok(Self::assemble(config, stages, flat, params, seed))
    }

    fn assemble(
        config: ModelConfig,
        stages: Vec<Stage>,
        flat: usize,
        params: Vec<Param>,
        seed: u64,
    ) -> Self {
        Model {
            optimizer: Adam::new(&params, config.learning_rate()),
            config,
            stages,
            flat,
            params,
            // The dropout stream differs from the initialisation stream of the same seed.
            rng: StdRng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15),
            dev: Cpu::default(),
        }
    }

    /// Builds a model around weights read from a file (fresh optimizer state).
    pub(crate) fn from_params(config: ModelConfig, params: Vec<Param>, seed: u64) -> Result<Self> {
        config.validate()?;
        let stages = config.stages()?;
        let flat = config.flat_features()?;
        let layout = param_layout(&config, &stages, flat);
        let fits = layout.len() == params.len()
            && layout.iter().zip(&params).all(|((n, s), p)| {
                *n == p.name && *s == p.shape && p.values.len() == s.iter().product::<usize>()
            });
        if !fits {
            return Err(Error::invalid(
                "weights",
                "arrays given",
                "the names and shapes of the configuration's layers",
            ));
        }
        Ok(Self::assemble(config, stages, flat, params, seed))
    }

    /// The configuration this model was built with.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Number of weights (all trainable).
    pub fn count_params(&self) -> usize {
        self.params.iter().map(|p| p.values.len()).sum()
    }

    /// The weight arrays in model order (for saving or inspection).
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// A copy of the weights (not the optimizer state), e.g. to keep the best epoch's.
    pub fn weights(&self) -> Weights {
        Weights(self.params.clone())
    }

    /// Puts back weights taken with [`Model::weights`] from a model of the same configuration.
    pub fn set_weights(&mut self, weights: &Weights) -> Result<()> {
        let same = weights.0.len() == self.params.len()
            && weights
                .0
                .iter()
                .zip(&self.params)
                .all(|(a, b)| a.name == b.name && a.shape == b.shape);
        if !same {
            return Err(Error::invalid(
                "weights",
                "a snapshot",
                "one taken from a model of the same configuration",
            ));
        }
        self.params.clone_from(&weights.0);
        Ok(())
    }

    /// Multiplies the output layer's kernel and bias by `factor`, so every logit is multiplied
    /// by it: temperature scaling with `factor = 1 / T`.
    pub fn scale_logits(&mut self, factor: f32) {
        let n = self.params.len();
        for param in &mut self.params[n - 2..] {
            param.values.iter_mut().for_each(|v| *v *= factor);
        }
    }

    /// Fresh dfdx tensors of the weights, for one call (see the module documentation).
    pub(super) fn live(&self) -> Result<Live> {
        let dev = &self.dev;
        let t1 = |i: usize| {
            let p = &self.params[i];
            dev.try_tensor_from_vec(p.values.clone(), (p.values.len(),))
                .map_err(dfdx_err)
        };
        let t2 = |i: usize| {
            let p = &self.params[i];
            dev.try_tensor_from_vec(p.values.clone(), (p.shape[0], p.shape[1]))
                .map_err(dfdx_err)
        };
        let nc = self.stages.len();
        let conv = (0..nc)
            .map(|i| Ok((t1(2 * i)?, t1(2 * i + 1)?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Live {
            conv,
            dense_w: t2(2 * nc)?,
            dense_b: t1(2 * nc + 1)?,
            out_w: t2(2 * nc + 2)?,
            out_b: t1(2 * nc + 3)?,
        })
    }

    /// Logits of a batch; `mask` is the dropout mask (training) and `input_grad` asks for d/dx.
    pub(super) fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<Nhwc, f32, Cpu, T>,
        live: &Live,
        mask: Option<Tensor<(usize, usize), f32, Cpu>>,
        input_grad: bool,
    ) -> Result<Tensor<(usize,), f32, Cpu, T>> {
        let n = x.shape().0;
        let mut h = x;
        for (i, (st, (k, b))) in self.stages.iter().zip(&live.conv).enumerate() {
            h = conv2d_relu_pool(
                h,
                k.retaped::<T>(),
                b.retaped::<T>(),
                &st.spec,
                &st.pool,
                input_grad || i > 0,
            )?;
        }
        let u = self.config.dense_units();
        let h = h.try_reshape_like(&(n, self.flat)).map_err(dfdx_err)?;
        let z = h
            .try_matmul(live.dense_w.retaped::<T>())
            .map_err(dfdx_err)?;
        let bias = live
            .dense_b
            .retaped::<T>()
            .try_broadcast_like::<_, Axis<0>>(&(n, u))
            .map_err(dfdx_err)?;
        let mut a = z
            .try_add(bias)
            .map_err(dfdx_err)?
            .try_relu()
            .map_err(dfdx_err)?;
        if let Some(mask) = mask {
            a = a.try_mul(mask).map_err(dfdx_err)?;
        }
        let o = a.try_matmul(live.out_w.retaped::<T>()).map_err(dfdx_err)?;
        let bias = live
            .out_b
            .retaped::<T>()
            .try_broadcast_like::<_, Axis<0>>(&(n, 1usize))
            .map_err(dfdx_err)?;
        let o = o.try_add(bias).map_err(dfdx_err)?;
        o.try_reshape_like(&(n,)).map_err(dfdx_err)
    }

    /// Checks an `(n, height, width, 1)` batch and copies it into a row-major buffer.
    pub(super) fn input(&self, x: &ArrayView4<f32>) -> Result<(usize, Vec<f32>)> {
        let (n, h, w, c) = x.dim();
        let (eh, ew) = (self.config.input_height(), self.config.input_width());
        if h != eh || w != ew || c != 1 {
            return Err(Error::invalid(
                "x",
                format!("shape ({n}, {h}, {w}, {c})"),
                format!("(n, {eh}, {ew}, 1) as in the model's configuration"),
            ));
        }
        if n == 0 {
            return Err(Error::invalid("x", "an empty batch", "at least one image"));
        }
        let data: Vec<f32> = match x.as_slice() {
            Some(s) => s.to_vec(),
            None => x.iter().copied().collect(),
        };
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "x",
                format!("value {} at flat index {i}", data[i]),
                "finite pixel values",
            ));
        }
        Ok((n, data))
    }

    fn targets(n: usize, y: &[f32], sample_weights: Option<&[f32]>) -> Result<()> {
        if y.len() != n {
            return Err(Error::invalid(
                "y",
                format!("{} labels", y.len()),
                format!("{n}, one per image"),
            ));
        }
        if let Some(v) = y.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::invalid("y", v, "labels in [0, 1]"));
        }
        if let Some(w) = sample_weights {
            if w.len() != n {
                return Err(Error::invalid(
                    "sample_weights",
                    format!("{} weights", w.len()),
                    format!("{n}, one per image"),
                ));
            }
            if let Some(v) = w.iter().find(|v| !(v.is_finite() && **v >= 0.0)) {
                return Err(Error::invalid("sample_weights", v, "finite weights >= 0"));
            }
        }
        Ok(())
    }

    /// Mean of `weight * binary_crossentropy(sigmoid(logit), y)` over the batch (Keras's reduction),
    /// on the tape: dfdx's `bce_with_logits` is the formula of
    /// [`binary_cross_entropy_with_logits`], in f32, with its gradient.
    fn loss_of<T: Tape<f32, Cpu>>(
        &self,
        logits: Tensor<(usize,), f32, Cpu, T>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<Tensor<Rank0, f32, Cpu, T>> {
        let n = y.len();
        let yt = self
            .dev
            .try_tensor_from_vec(y.to_vec(), (n,))
            .map_err(dfdx_err)?;
        let mut per = logits.try_bce_with_logits(yt).map_err(dfdx_err)?;
        if let Some(w) = sample_weights {
            let wt = self
                .dev
                .try_tensor_from_vec(w.to_vec(), (n,))
                .map_err(dfdx_err)?;
            per = per.try_mul(wt).map_err(dfdx_err)?;
        }
        per.try_mean().map_err(dfdx_err)
    }

    /// One Adam step on a batch `x` of shape `(n, height, width, 1)` with labels `y` in [0, 1]
    /// and optional per-image weights; returns the batch loss before the step. Dropout is active.
    ///
    /// A non-finite loss is an error and leaves the weights unchanged.
    pub fn train_on_batch(
        &mut self,
        x: ArrayView4<f32>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<f32> {
        self.train_on_batch_with_proba(x, y, sample_weights)
            .map(|(loss, _)| loss)
    }

    /// [`Model::train_on_batch`] that also returns the probabilities of the step's forward pass
    /// (dropout on), from which training accuracy and AUC are measured without a second pass.
    pub fn train_on_batch_with_proba(
        &mut self,
        x: ArrayView4<f32>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<(f32, Vec<f32>)> {
        let (n, data) = self.input(&x)?;
        Self::targets(n, y, sample_weights)?;
        let u = self.config.dense_units();
        let rate = self.config.dropout();
        let mask = if rate > 0.0 {
            let keep = 1.0 / (1.0 - rate);
            let m: Vec<f32> = (0..n * u)
                .map(|_| {
                    if self.rng.gen::<f32>() < rate {
                        0.0
                    } else {
                        keep
                    }
                })
                .collect();
            Some(self.dev.try_tensor_from_vec(m, (n, u)).map_err(dfdx_err)?)
        } else {
            None
        };
        let live = self.live()?;
        let (h, w) = (self.config.input_height(), self.config.input_width());
        let xt = self
            .dev
            .try_tensor_from_vec(data, (n, h, w, 1))
            .map_err(dfdx_err)?;
        let logits = self.forward(xt.leaky_traced(), &live, mask, false)?;
        let probs: Vec<f32> = logits.as_vec().into_iter().map(sigmoid).collect();
        let loss = self.loss_of(logits, y, sample_weights)?;
        let value = loss.array();
        if !value.is_finite() {
            return Err(Error::Diverged {
                epoch: None,
                step: self.optimizer.steps() + 1,
                loss: value,
            });
        }
        let mut grads = loss.try_backward().map_err(dfdx_err)?;
        let mut g: Vec<Vec<f32>> = Vec::with_capacity(self.params.len());
        for (k, b) in &live.conv {
            g.push(take(&mut grads, k)?);
            g.push(take(&mut grads, b)?);
        }
        g.push(take(&mut grads, &live.dense_w)?);
        g.push(take(&mut grads, &live.dense_b)?);
        g.push(take(&mut grads, &live.out_w)?);
        g.push(take(&mut grads, &live.out_b)?);
        drop(grads);
        drop(live);
        self.optimizer.step(&mut self.params, &g);
        Ok((value, probs))
    }

    /// Restarts the dropout masks' random stream from `seed` (`fit` does so at every epoch, so a
    /// resumed run draws the same masks as an uninterrupted one).
    pub(crate) fn reseed_dropout(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }
    /// Logits for a batch in inference mode (no dropout, no tape), `PREDICT_BATCH` images at a time.
    fn logits(&self, n: usize, data: &[f32]) -> Result<Vec<f32>> {
        let (h, w) = (self.config.input_height(), self.config.input_width());
        let live = self.live()?;
        let mut out = Vec::with_capacity(n);
        for chunk in data.chunks(PREDICT_BATCH * h * w) {
            let m = chunk.len() / (h * w);
            let xt = self
                .dev
                .try_tensor_from_vec(chunk.to_vec(), (m, h, w, 1))
                .map_err(dfdx_err)?;
            out.extend(self.forward(xt, &live, None, false)?.as_vec());
        }
        Ok(out)
    }

    /// Probabilities of the positive class (sigmoid of the logit) for `x` of shape `(n, h, w, 1)`.
    pub fn predict_proba(&self, x: ArrayView4<f32>) -> Result<Vec<f32>> {
        let (n, data) = self.input(&x)?;
        Ok(self.logits(n, &data)?.into_iter().map(sigmoid).collect())
    }

    /// The mean (weighted) binary cross-entropy on a batch in inference mode, e.g. for validation.
    pub fn loss_on_batch(
        &self,
        x: ArrayView4<f32>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<f32> {
        let (n, data) = self.input(&x)?;
        Self::targets(n, y, sample_weights)?;
        let logits = self.logits(n, &data)?;
        let mut total = 0.0f64;
        for (i, (&z, &t)) in logits.iter().zip(y).enumerate() {
            let l = binary_cross_entropy_with_logits(f64::from(t), f64::from(z));
            total += l * sample_weights.map_or(1.0, |w| w[i] as f64);
        }
        Ok((total / n as f64) as f32)
    }
}

/// Moves the gradient of `t` out of `grads` (zeros when `t` got none).
pub(super) fn take<S: Shape>(
    grads: &mut Gradients<f32, Cpu>,
    t: &Tensor<S, f32, Cpu>,
) -> Result<Vec<f32>> {
    let g: &mut Vec<f32> = grads.get_or_alloc_mut(t).map_err(dfdx_err)?;
    Ok(std::mem::take(g))
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use ndarray::{Array4, Axis};

    /// A two-block model on 24x20 images, quick to train.
    pub(in crate::cnn) fn small() -> ModelConfig {
        ModelConfig::builder()
            .input_size(24, 20)
            .conv_filters(&[4, 8])
            .dense_units(16)
            .learning_rate(0.01)
            .build()
            .unwrap()
    }

    /// Images whose label is whether a bright square sits in the top half.
    pub(in crate::cnn) fn toy_batch(
        n: usize,
        h: usize,
        w: usize,
        seed: u64,
    ) -> (Array4<f32>, Vec<f32>) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = Array4::<f32>::zeros((n, h, w, 1));
        let mut y = vec![];
        for i in 0..n {
            let top = rng.gen::<bool>();
            let r0 = if top {
                rng.gen_range(0..h / 2 - 4)
            } else {
                rng.gen_range(h / 2..h - 4)
            };
            let c0 = rng.gen_range(0..w - 4);
            for r in 0..h {
                for c in 0..w {
                    let inside = (r0..r0 + 4).contains(&r) && (c0..c0 + 4).contains(&c);
                    x[[i, r, c, 0]] = if inside { 1.0 } else { rng.gen::<f32>() * 0.2 };
                }
            }
            y.push(if top { 1.0 } else { 0.0 });
        }
        (x, y)
    }

    #[test]
    fn training_reduces_the_loss_and_learns_the_toy_task() {
        let cfg = ModelConfig::builder()
            .input_size(24, 20)
            .conv_filters(&[4, 8])
            .dense_units(16)
            .dropout(0.2)
            .learning_rate(0.01)
            .build()
            .unwrap();
        let mut m = Model::new(cfg, 1).unwrap();
        let (x, y) = toy_batch(32, 24, 20, 2);
        let before = m.loss_on_batch(x.view(), &y, None).unwrap();
        for _ in 0..40 {
            m.train_on_batch(x.view(), &y, None).unwrap();
        }
        let after = m.loss_on_batch(x.view(), &y, None).unwrap();
        assert!(after < 0.5 * before, "loss {before} -> {after}");
        let (xt, yt) = toy_batch(32, 24, 20, 3);
        let p = m.predict_proba(xt.view()).unwrap();
        let correct = p
            .iter()
            .zip(&yt)
            .filter(|(p, y)| (**p > 0.5) == (**y > 0.5))
            .count();
        assert!(correct >= 24, "only {correct}/32 right on new images");
        assert_eq!(m.steps(), 40);
    }

    #[test]
    fn same_seed_same_results_and_unrelated_tensors_do_not_matter() {
        let (x, y) = toy_batch(8, 24, 20, 4);
        let mut a = Model::new(small(), 7).unwrap();
        let mut b = Model::new(small(), 7).unwrap();
        let la: Vec<f32> = (0..3)
            .map(|_| a.train_on_batch(x.view(), &y, None).unwrap())
            .collect();
        // Simulate another notebook cell: many unrelated tensors move dfdx's id counter on.
        let dev = Cpu::default();
        let junk: Vec<_> = (0..500).map(|i| dev.tensor([i as f32; 3])).collect();
        let _grads = (junk[0].leaky_trace() * 2.0).sum().backward();
        let lb: Vec<f32> = (0..3)
            .map(|_| b.train_on_batch(x.view(), &y, None).unwrap())
            .collect();
        assert_eq!(la, lb);
        assert_eq!(a.weights(), b.weights());
        let c = Model::new(small(), 8).unwrap();
        assert_ne!(c.weights(), Model::new(small(), 7).unwrap().weights());
    }

    #[test]
    fn sample_weights_scale_the_loss() {
        let m = Model::new(small(), 3).unwrap();
        let (x, y) = toy_batch(4, 24, 20, 5);
        let plain = m.loss_on_batch(x.view(), &y, None).unwrap();
        let doubled = m.loss_on_batch(x.view(), &y, Some(&[2.0; 4])).unwrap();
        assert!((doubled - 2.0 * plain).abs() < 1e-5);
        let only_first = m
            .loss_on_batch(x.view(), &y, Some(&[4.0, 0.0, 0.0, 0.0]))
            .unwrap();
        let first = m
            .loss_on_batch(x.slice_axis(Axis(0), (0..1).into()), &y[..1], None)
            .unwrap();
        assert!((only_first - first).abs() < 1e-5);
    }

    #[test]
    fn training_loss_matches_the_inference_loss_without_dropout() {
        let cfg = ModelConfig::builder()
            .input_size(24, 20)
            .conv_filters(&[4, 8])
            .dense_units(16)
            .dropout(0.0)
            .build()
            .unwrap();
        let mut m = Model::new(cfg, 5).unwrap();
        let (x, y) = toy_batch(5, 24, 20, 6);
        let w = [1.0, 0.5, 2.0, 0.0, 1.0];
        let eval = m.loss_on_batch(x.view(), &y, Some(&w)).unwrap();
        let train = m.train_on_batch(x.view(), &y, Some(&w)).unwrap();
        assert!((eval - train).abs() < 1e-5, "{eval} vs {train}");
    }

    #[test]
    fn predict_batches_agree_with_single_images() {
        let m = Model::new(small(), 9).unwrap();
        let (x, _) = toy_batch(PREDICT_BATCH + 3, 24, 20, 7);
        let all = m.predict_proba(x.view()).unwrap();
        assert_eq!(all.len(), PREDICT_BATCH + 3);
        for i in [0, PREDICT_BATCH + 2] {
            let one = m
                .predict_proba(x.slice_axis(Axis(0), (i..i + 1).into()))
                .unwrap();
            assert!((one[0] - all[i]).abs() < 1e-6);
        }
        assert!(all.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut m = Model::new(small(), 0).unwrap();
        let (x, y) = toy_batch(4, 24, 20, 8);
        let wrong = Array4::<f32>::zeros((2, 20, 24, 1));
        assert!(matches!(
            m.predict_proba(wrong.view()),
            Err(Error::InvalidArgument { .. })
        ));
        assert!(m.train_on_batch(x.view(), &y[..3], None).is_err());
        assert!(m.train_on_batch(x.view(), &[2.0; 4], None).is_err());
        assert!(m
            .train_on_batch(x.view(), &y, Some(&[1.0, -1.0, 1.0, 1.0]))
            .is_err());
        let mut bad = x.clone();
        bad[[1, 2, 3, 0]] = f32::NAN;
        assert!(m.train_on_batch(bad.view(), &y, None).is_err());
        assert_eq!(m.steps(), 0);
    }

    #[test]
    fn weights_snapshot_restores_predictions() {
        let mut m = Model::new(small(), 2).unwrap();
        let (x, y) = toy_batch(8, 24, 20, 9);
        let snap = m.weights();
        let before = m.predict_proba(x.view()).unwrap();
        let copy = m.clone();
        m.train_on_batch(x.view(), &y, None).unwrap();
        assert_ne!(m.predict_proba(x.view()).unwrap(), before);
        m.set_weights(&snap).unwrap();
        assert_eq!(m.predict_proba(x.view()).unwrap(), before);
        assert_eq!(copy.predict_proba(x.view()).unwrap(), before);
        let other = Model::new(
            ModelConfig::builder()
                .input_size(24, 20)
                .conv_filters(&[4])
                .build()
                .unwrap(),
            0,
        )
        .unwrap();
        assert!(m.set_weights(&other.weights()).is_err());
    }
}
