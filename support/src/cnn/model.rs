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
use ndarray::{Array2, ArrayView4};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::Uniform;

use super::config::{ModelConfig, Stage};
use super::fused::conv2d_relu_pool;
use super::loss::{
    binary_cross_entropy_with_logits, categorical_cross_entropy_with_logits, sigmoid, softmax,
};
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

/// A batch loss on tape `T`.
type Loss<T> = Tensor<Rank0, f32, Cpu, T>;

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
    let k = config.output_units();
    out.push(("dense_1.kernel".into(), vec![u, k]));
    out.push(("dense_1.bias".into(), vec![k]));
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

    /// Logits of a batch, `(n, output_units)`; `mask` is the dropout mask (training) and
    /// `input_grad` asks for d/dx.
    pub(super) fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<Nhwc, f32, Cpu, T>,
        live: &Live,
        mask: Option<Tensor<(usize, usize), f32, Cpu>>,
        input_grad: bool,
    ) -> Result<Tensor<(usize, usize), f32, Cpu, T>> {
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
            .try_broadcast_like::<_, Axis<0>>(&(n, self.config.output_units()))
            .map_err(dfdx_err)?;
        o.try_add(bias).map_err(dfdx_err)
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

    /// Checks labels against `n` images: one label in [0, 1] per image for a two-class model,
    /// or one row of class probabilities (one-hot, summing to 1) per image for K classes.
    fn targets(&self, n: usize, y: &[f32], sample_weights: Option<&[f32]>) -> Result<()> {
        let k = self.config.output_units();
        if y.len() != n * k {
            return Err(Error::invalid(
                "y",
                format!("{} labels", y.len()),
                if k == 1 {
                    format!("{n}, one per image")
                } else {
                    format!(
                        "{}, one row of {k} class probabilities (one-hot) per image",
                        n * k
                    )
                },
            ));
        }
        if let Some(v) = y.iter().find(|v| !(0.0..=1.0).contains(*v)) {
            return Err(Error::invalid("y", v, "labels in [0, 1]"));
        }
        if k > 1 {
            if let Some((i, row)) = y
                .chunks(k)
                .enumerate()
                .find(|(_, row)| (row.iter().sum::<f32>() - 1.0).abs() > 1e-4)
            {
                return Err(Error::invalid(
                    "y",
                    format!("row {i} summing to {}", row.iter().sum::<f32>()),
                    "rows of class probabilities that sum to 1 (one-hot labels)",
                ));
            }
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

    /// The batch loss on the tape and the probabilities of `logits` (`(n, output_units)`):
    /// binary cross-entropy of the sigmoid for one output, categorical cross-entropy of the
    /// softmax for K; each image's loss times its weight, averaged (Keras's reduction).
    fn loss_of<T: Tape<f32, Cpu>>(
        &self,
        logits: Tensor<(usize, usize), f32, Cpu, T>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<(Loss<T>, Vec<f32>)> {
        let (n, k) = *logits.shape();
        if k == 1 {
            let logits = logits.try_reshape_like(&(n,)).map_err(dfdx_err)?;
            let probs = logits.as_vec().into_iter().map(sigmoid).collect();
            Ok((self.binary_loss_of(logits, y, sample_weights)?, probs))
        } else {
            let probs = softmax_rows(&logits.as_vec(), k);
            Ok((self.categorical_loss_of(logits, y, sample_weights)?, probs))
        }
    }

    /// Mean of `weight * binary_crossentropy(sigmoid(logit), y)` over the batch (Keras's reduction),
    /// on the tape: dfdx's `bce_with_logits` is the formula of
    /// [`binary_cross_entropy_with_logits`], in f32, with its gradient.
    fn binary_loss_of<T: Tape<f32, Cpu>>(
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
        let per = logits.try_bce_with_logits(yt).map_err(dfdx_err)?;
        self.weighted_mean(per, sample_weights)
    }

    /// Mean of `weight * categorical_crossentropy(softmax(logits), y)` over the batch, on the
    /// tape: `-sum_k y_k log_softmax(z)_k` per image, the formula of
    /// [`categorical_cross_entropy_with_logits`], in f32, with its gradient.
    fn categorical_loss_of<T: Tape<f32, Cpu>>(
        &self,
        logits: Tensor<(usize, usize), f32, Cpu, T>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<Tensor<Rank0, f32, Cpu, T>> {
        let shape = *logits.shape();
        let yt = self
            .dev
            .try_tensor_from_vec(y.to_vec(), shape)
            .map_err(dfdx_err)?;
        let per = logits
            .try_log_softmax::<Axis<1>>()
            .map_err(dfdx_err)?
            .try_mul(yt)
            .map_err(dfdx_err)?
            .try_sum::<(usize,), Axis<1>>()
            .map_err(dfdx_err)?
            .try_negate()
            .map_err(dfdx_err)?;
        self.weighted_mean(per, sample_weights)
    }

    /// The mean over the batch of per-image losses, each times its weight when weights are given.
    fn weighted_mean<T: Tape<f32, Cpu>>(
        &self,
        per: Tensor<(usize,), f32, Cpu, T>,
        sample_weights: Option<&[f32]>,
    ) -> Result<Tensor<Rank0, f32, Cpu, T>> {
        let n = per.shape().0;
        let mut per = per;
        if let Some(w) = sample_weights {
            let wt = self
                .dev
                .try_tensor_from_vec(w.to_vec(), (n,))
                .map_err(dfdx_err)?;
            per = per.try_mul(wt).map_err(dfdx_err)?;
        }
        per.try_mean().map_err(dfdx_err)
    }

    /// One Adam step on a batch `x` of shape `(n, height, width, 1)` with labels `y` and
    /// optional per-image weights; returns the batch loss before the step. Dropout is active.
    ///
    /// `y` holds one label in [0, 1] per image for a two-class model, or, for K classes, one row
    /// of K class probabilities per image, row after row (one-hot: [`one_hot`] makes them from
    /// class indices), like Keras's `class_mode="categorical"`.
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
    /// (dropout on), from which training accuracy and AUC are measured without a second pass:
    /// one per image for two classes, one row of K per image otherwise.
    pub fn train_on_batch_with_proba(
        &mut self,
        x: ArrayView4<f32>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<(f32, Vec<f32>)> {
        let (n, data) = self.input(&x)?;
        self.targets(n, y, sample_weights)?;
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
        let (loss, probs) = self.loss_of(logits, y, sample_weights)?;
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
    /// Logits for a batch in inference mode (no dropout, no tape), `PREDICT_BATCH` images at a
    /// time: `output_units` per image, row after row.
    pub(super) fn logits(&self, n: usize, data: &[f32]) -> Result<Vec<f32>> {
        let (h, w) = (self.config.input_height(), self.config.input_width());
        let live = self.live()?;
        let mut out = Vec::with_capacity(n * self.config.output_units());
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

    /// Probabilities of the positive class (sigmoid of the logit) for `x` of shape `(n, h, w, 1)`,
    /// from a two-class model; a K-class model answers with [`Model::predict`].
    pub fn predict_proba(&self, x: ArrayView4<f32>) -> Result<Vec<f32>> {
        if self.config.output_units() != 1 {
            return Err(Error::invalid(
                "predict_proba",
                format!("a {}-class model", self.config.classes()),
                "a two-class model; use predict for one probability per class",
            ));
        }
        let (n, data) = self.input(&x)?;
        Ok(self.logits(n, &data)?.into_iter().map(sigmoid).collect())
    }

    /// Keras's `model.predict`: the output layer's probabilities for `x` of shape
    /// `(n, h, w, 1)`, `(n, 1)` (the sigmoid) for two classes, `(n, K)` (the softmax, rows summing
    /// to 1) for K.
    pub fn predict(&self, x: ArrayView4<f32>) -> Result<Array2<f32>> {
        let (n, data) = self.input(&x)?;
        let k = self.config.output_units();
        let logits = self.logits(n, &data)?;
        let probs = if k == 1 {
            logits.into_iter().map(sigmoid).collect()
        } else {
            softmax_rows(&logits, k)
        };
        Array2::from_shape_vec((n, k), probs).map_err(|e| Error::backend("shaping predictions", e))
    }

    /// The mean (weighted) loss the training minimises, on a batch in inference mode (e.g. for
    /// validation): binary cross-entropy for two classes, categorical for K; `y` as in
    /// [`Model::train_on_batch`].
    pub fn loss_on_batch(
        &self,
        x: ArrayView4<f32>,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<f32> {
        let (n, data) = self.input(&x)?;
        self.targets(n, y, sample_weights)?;
        let k = self.config.output_units();
        let logits = self.logits(n, &data)?;
        let mut total = 0.0f64;
        for (i, (z, t)) in logits.chunks(k).zip(y.chunks(k)).enumerate() {
            let l = if k == 1 {
                binary_cross_entropy_with_logits(f64::from(t[0]), f64::from(z[0]))
            } else {
                categorical_cross_entropy_with_logits(t, z)
            };
            total += l * sample_weights.map_or(1.0, |w| w[i] as f64);
        }
        Ok((total / n as f64) as f32)
    }
}

/// Class indices as one-hot rows for a K-class [`Model::train_on_batch`]: `[2, 0]` with 3
/// classes is `[0, 0, 1, 1, 0, 0]`. Errors on an index outside `0..classes`.
pub fn one_hot(labels: &[usize], classes: usize) -> Result<Vec<f32>> {
    let mut out = vec![0.0; labels.len() * classes];
    for (i, &l) in labels.iter().enumerate() {
        if l >= classes {
            return Err(Error::invalid(
                "labels",
                format!("class {l} at index {i}"),
                format!("class indices 0..{classes}"),
            ));
        }
        out[i * classes + l] = 1.0;
    }
    Ok(out)
}

/// The softmax of each row of `k` logits, row after row.
fn softmax_rows(logits: &[f32], k: usize) -> Vec<f32> {
    logits.chunks(k).flat_map(softmax).collect()
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

    /// Images whose class is the third (top, middle, bottom) a bright square sits in.
    fn toy_thirds(n: usize, seed: u64) -> (Array4<f32>, Vec<usize>) {
        let (h, w) = (24, 20);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut x = Array4::<f32>::zeros((n, h, w, 1));
        let mut y = vec![];
        for i in 0..n {
            let class = rng.gen_range(0..3usize);
            let r0 = class * 8 + rng.gen_range(0..4);
            let c0 = rng.gen_range(0..w - 4);
            for r in 0..h {
                for c in 0..w {
                    let inside = (r0..r0 + 4).contains(&r) && (c0..c0 + 4).contains(&c);
                    x[[i, r, c, 0]] = if inside { 1.0 } else { rng.gen::<f32>() * 0.2 };
                }
            }
            y.push(class);
        }
        (x, y)
    }

    pub(in crate::cnn) fn three_classes(dropout: f32) -> ModelConfig {
        ModelConfig::builder()
            .input_size(24, 20)
            .conv_filters(&[4, 8])
            .dense_units(16)
            .dropout(dropout)
            .learning_rate(0.01)
            .classes(3)
            .build()
            .unwrap()
    }

    #[test]
    fn a_softmax_head_learns_three_classes() {
        let mut m = Model::new(three_classes(0.2), 1).unwrap();
        assert_eq!(m.params().last().unwrap().shape, vec![3]);
        assert!(m.summary().contains("(None, 3)"));
        let (x, labels) = toy_thirds(48, 2);
        let y = one_hot(&labels, 3).unwrap();
        let before = m.loss_on_batch(x.view(), &y, None).unwrap();
        assert!(
            (before - 3f32.ln()).abs() < 0.3,
            "about ln 3 at the start: {before}"
        );
        for _ in 0..60 {
            m.train_on_batch(x.view(), &y, None).unwrap();
        }
        let after = m.loss_on_batch(x.view(), &y, None).unwrap();
        assert!(after < 0.5 * before, "loss {before} -> {after}");
        let (xt, lt) = toy_thirds(48, 3);
        let p = m.predict(xt.view()).unwrap();
        assert_eq!(p.dim(), (48, 3));
        for row in p.rows() {
            assert!((row.sum() - 1.0).abs() < 1e-5);
        }
        let predicted = crate::cnn::multiclass::predicted_classes(p.view());
        let correct = predicted.iter().zip(&lt).filter(|(a, b)| a == b).count();
        assert!(correct >= 36, "only {correct}/48 right on new images");
        // predict_proba is the two-class answer; a K-class model refuses it.
        assert!(m.predict_proba(xt.view()).is_err());
        // Labels must be rows of class probabilities.
        assert!(m.train_on_batch(x.view(), &y[..47 * 3], None).is_err());
        let mut bad = y.clone();
        bad[0] = 1.0;
        bad[1] = 1.0;
        assert!(m.train_on_batch(x.view(), &bad, None).is_err());
    }

    #[test]
    fn categorical_loss_on_the_tape_matches_the_plain_one_and_its_gradient() {
        // Without dropout, the training step's loss (on the tape, f32) is the inference loss
        // (plain f64), and the first Adam step moves every output weight against the sign of
        // the loss's finite-difference slope (Adam's first step is -lr * g / |g|).
        let mut m = Model::new(three_classes(0.0), 5).unwrap();
        let (x, labels) = toy_thirds(6, 9);
        let y = one_hot(&labels, 3).unwrap();
        let weights = [1.0f32, 0.5, 2.0, 1.0, 0.0, 3.0];
        let plain = m.loss_on_batch(x.view(), &y, Some(&weights)).unwrap();
        let n = m.params.len();
        let mut slopes = Vec::new();
        for param in [n - 2, n - 1] {
            for i in 0..m.params[param].values.len() {
                let h = 1e-2f32;
                let mut up = m.clone();
                up.params[param].values[i] += h;
                let mut down = m.clone();
                down.params[param].values[i] -= h;
                let slope = (up.loss_on_batch(x.view(), &y, Some(&weights)).unwrap()
                    - down.loss_on_batch(x.view(), &y, Some(&weights)).unwrap())
                    / (2.0 * h);
                slopes.push((param, i, slope));
            }
        }
        let before = m.params.clone();
        let taped = m.train_on_batch(x.view(), &y, Some(&weights)).unwrap();
        assert!((taped - plain).abs() < 1e-5, "{taped} vs {plain}");
        let mut checked = 0;
        for (param, i, slope) in slopes {
            if slope.abs() < 1e-3 {
                continue; // too flat for the finite difference to give a sign
            }
            let moved = m.params[param].values[i] - before[param].values[i];
            assert!(
                moved * slope < 0.0,
                "{} [{i}]: slope {slope}, moved {moved}",
                m.params[param].name
            );
            checked += 1;
        }
        assert!(checked >= 20, "{checked}");
    }

    #[test]
    fn one_hot_rows() {
        assert_eq!(
            one_hot(&[2, 0], 3).unwrap(),
            vec![0.0, 0.0, 1.0, 1.0, 0.0, 0.0]
        );
        assert!(one_hot(&[3], 3).is_err());
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
