//! [`Model`]: a [`ModelConfig`]'s weights and forward pass, trained one batch at a time
//! (`train_on_batch`: dropout on, batch normalisation on batch statistics) and evaluated
//! (`loss_on_batch`, `predict_proba`: dropout off, batch normalisation on its moving averages).
//! The layers are compiled into a [`Plan`] once; the forward pass runs its steps. Its optimiser
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

use super::config::ModelConfig;
use super::fast_inference::TapelessPlan;
use super::optimizer::{Adam, DEFAULT_LEARNING_RATE};
use super::param::{Param, Weights};
use super::plan::{ConvStep, Init, NormStep, Plan, Step};
use crate::error::{Error, Result};
use crate::metrics::loss::{
    binary_cross_entropy_with_logits, categorical_cross_entropy_with_logits, sigmoid, softmax,
};
use crate::ops::batch_norm::{
    batch_norm_inference, batch_norm_training, update_moving, BatchStats,
};
use crate::ops::fused::conv2d_pool;
use crate::ops::global_pool::global_average_pool;
use crate::ops::pool::max_pool2d;
use crate::ops::tensor_io::Nhwc;

/// Images per forward pass in [`Model::predict_proba`] and [`Model::loss_on_batch`] (bounds memory).
pub const PREDICT_BATCH: usize = 32;

/// A CNN with weights, optimizer state and dropout RNG; `Clone` snapshots all of it.
#[derive(Clone, Debug)]
pub struct Model {
    pub(super) config: ModelConfig,
    /// The layers compiled for the input size.
    pub(super) plan: Plan,
    pub(super) params: Vec<Param>,
    pub(super) optimizer: Adam,
    /// Draws the dropout masks.
    pub(super) rng: StdRng,
    pub(super) dev: Cpu,
    /// The classes of the outputs, in order, once known (see [`Model::class_names`]).
    class_names: Option<Vec<String>>,
}

/// A batch's logits, `(n, output_units)`, on tape `T`.
type Logits<T> = Tensor<(usize, usize), f32, Cpu, T>;

/// A batch normalisation and the statistics of the batch it normalised.
pub(super) type NormUpdate = (NormStep, BatchStats);

/// A batch loss on tape `T`.
pub(super) type Loss<T> = Tensor<Rank0, f32, Cpu, T>;

/// A runtime-sized vector tensor without a tape.
type Vector = Tensor<(usize,), f32, Cpu>;

/// A runtime-sized matrix tensor without a tape.
type Matrix = Tensor<(usize, usize), f32, Cpu>;

/// The dfdx tensor made from one weight array for one call.
enum LiveParam {
    /// Convolution kernels, biases, batch normalisation's `gamma` and `beta`.
    Vector(Vector),
    /// Dense kernels.
    Matrix(Matrix),
    /// Moving statistics: read from the weights, never differentiated.
    Fixed,
}

/// The dfdx tensors made from the weights for one call, in weight order.
pub(super) struct Live(Vec<LiveParam>);

impl Live {
    fn vector(&self, i: usize) -> &Vector {
        match &self.0[i] {
            LiveParam::Vector(v) => v,
            _ => unreachable!("the plan indexes a vector weight"),
        }
    }

    fn matrix(&self, i: usize) -> &Matrix {
        match &self.0[i] {
            LiveParam::Matrix(m) => m,
            _ => unreachable!("the plan indexes a matrix weight"),
        }
    }

    /// The gradients of every weight (zeros for the fixed ones), in weight order.
    pub(super) fn take_gradients(
        &self,
        grads: &mut Gradients<f32, Cpu>,
        params: &[Param],
    ) -> Result<Vec<Vec<f32>>> {
        self.0
            .iter()
            .zip(params)
            .map(|(live, p)| match live {
                LiveParam::Vector(v) => take(grads, v),
                LiveParam::Matrix(m) => take(grads, m),
                LiveParam::Fixed => Ok(vec![0.0; p.values.len()]),
            })
            .collect()
    }
}

/// How a forward pass runs: training (dropout masks, batch statistics) or inference.
pub(super) struct Pass {
    /// One mask per `Dropout` step, `n * len` values each; `None` at inference.
    pub(super) masks: Option<Vec<Vec<f32>>>,
    /// Whether the first layer's input needs a gradient (saliency).
    pub(super) input_grad: bool,
}

impl Pass {
    /// Inference: no dropout, batch normalisation on the moving statistics.
    pub(super) fn inference(input_grad: bool) -> Pass {
        Pass {
            masks: None,
            input_grad,
        }
    }

    fn training(&self) -> bool {
        self.masks.is_some()
    }
}

/// An activation between two steps: an image batch or a matrix of features.
enum Activations<T> {
    Image(Tensor<Nhwc, f32, Cpu, T>),
    Flat(Tensor<(usize, usize), f32, Cpu, T>),
}

/// A dfdx failure as our error type.
pub(super) fn dfdx_err(e: CpuError) -> Error {
    Error::backend("a dfdx tensor operation", e)
}

/// The error for a step that met the wrong kind of activation (the plan rules it out).
fn wrong_input(step: impl std::fmt::Display) -> Error {
    Error::invalid(
        "forward pass",
        format!("{step} on an activation of the other kind"),
        "the kind the plan checked",
    )
}

impl Model {
    /// A new model with Glorot-uniform kernels and zero biases (Keras's defaults; batch
    /// normalisation starts as the identity) drawn from `seed`.
    pub fn new(config: ModelConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let plan = config.plan()?;
        let mut rng = StdRng::seed_from_u64(seed);
        let params: Vec<Param> = plan
            .params
            .iter()
            .map(|spec| {
                let len: usize = spec.shape.iter().product();
                let values = match spec.init {
                    Init::Glorot { fan_in, fan_out } => {
                        let limit = (6.0 / (fan_in + fan_out) as f32).sqrt();
                        let dist = Uniform::new(-limit, limit);
                        (0..len).map(|_| rng.sample(dist)).collect()
                    }
                    Init::Zeros => vec![0.0; len],
                    Init::Ones => vec![1.0; len],
                };
                Param {
                    name: spec.name.clone(),
                    shape: spec.shape.clone(),
                    values,
                }
            })
            .collect();
        Ok(Self::assemble(config, plan, params, seed))
    }

    fn assemble(config: ModelConfig, plan: Plan, params: Vec<Param>, seed: u64) -> Self {
        Model {
            optimizer: Adam::new(&params, DEFAULT_LEARNING_RATE),
            config,
            plan,
            params,
            // The dropout stream differs from the initialisation stream of the same seed.
            rng: StdRng::seed_from_u64(seed ^ 0x9E37_79B9_7F4A_7C15),
            dev: Cpu::default(),
            class_names: None,
        }
    }

    /// Builds a model around weights read from a file (fresh optimizer state).
    pub(crate) fn from_params(config: ModelConfig, params: Vec<Param>, seed: u64) -> Result<Self> {
        config.validate()?;
        let plan = config.plan()?;
        let fits = plan.params.len() == params.len()
            && plan.params.iter().zip(&params).all(|(spec, p)| {
                spec.name == p.name
                    && spec.shape == p.shape
                    && p.values.len() == spec.shape.iter().product::<usize>()
            });
        if !fits {
            return Err(Error::invalid(
                "weights",
                "arrays given",
                "the names and shapes of the configuration's layers",
            ));
        }
        Ok(Self::assemble(config, plan, params, seed))
    }

    /// The configuration this model was built with.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The classes of the model's outputs, in order, when it knows them: [`fit`](crate::training::fit)
    /// records the training folder's, and a loaded [`SavedModel`](crate::saved_model::SavedModel)
    /// has its own. A folder read for a model that knows its classes is matched to them by name;
    /// `None` for a model only built, whose outputs mean nothing yet.
    pub fn class_names(&self) -> Option<&[String]> {
        self.class_names.as_deref()
    }

    /// Records the classes of the model's outputs, in order; refused unless there is one name
    /// per class.
    pub fn set_class_names(&mut self, names: Vec<String>) -> Result<()> {
        if names.len() != self.config.classes() {
            return Err(Error::invalid(
                "class_names",
                names.join(", "),
                format!(
                    "one name for each of the model's {} classes",
                    self.config.classes()
                ),
            ));
        }
        self.class_names = Some(names);
        Ok(())
    }

    /// Number of weights, batch normalisation's moving statistics included (Keras's total).
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
        self.params
            .iter()
            .map(|p| {
                Ok(if !p.trainable() {
                    LiveParam::Fixed
                } else if p.shape.len() == 2 {
                    LiveParam::Matrix(
                        dev.try_tensor_from_vec(p.values.clone(), (p.shape[0], p.shape[1]))
                            .map_err(dfdx_err)?,
                    )
                } else {
                    LiveParam::Vector(
                        dev.try_tensor_from_vec(p.values.clone(), (p.values.len(),))
                            .map_err(dfdx_err)?,
                    )
                })
            })
            .collect::<Result<Vec<_>>>()
            .map(Live)
    }

    /// One convolution step (with its activation and pooling) on the tape.
    fn conv<T: Tape<f32, Cpu>>(
        x: Tensor<Nhwc, f32, Cpu, T>,
        step: &ConvStep,
        live: &Live,
        input_grad: bool,
    ) -> Result<Tensor<Nhwc, f32, Cpu, T>> {
        conv2d_pool(
            x,
            live.vector(step.kernel).retaped::<T>(),
            live.vector(step.bias).retaped::<T>(),
            &step.spec,
            &step.pool,
            step.relu,
            input_grad,
        )
    }

    /// One batch normalisation on the tape: batch statistics when training (kept in `stats`
    /// for the moving averages), the moving statistics otherwise.
    fn norm<S: dfdx::shapes::Shape, T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<S, f32, Cpu, T>,
        step: &NormStep,
        live: &Live,
        training: bool,
        stats: &mut Vec<NormUpdate>,
    ) -> Result<Tensor<S, f32, Cpu, T>> {
        let gamma = live.vector(step.gamma).retaped::<T>();
        let beta = live.vector(step.beta).retaped::<T>();
        if training {
            let (y, batch) = batch_norm_training(x, gamma, beta, step.epsilon)?;
            stats.push((*step, batch));
            Ok(y)
        } else {
            batch_norm_inference(
                x,
                gamma,
                beta,
                &self.params[step.mean].values,
                &self.params[step.variance].values,
                step.epsilon,
            )
        }
    }

    /// Logits of a batch, `(n, output_units)`, and the batch statistics of every batch
    /// normalisation when training (in plan order).
    pub(super) fn forward<T: Tape<f32, Cpu>>(
        &self,
        x: Tensor<Nhwc, f32, Cpu, T>,
        live: &Live,
        pass: &Pass,
    ) -> Result<(Logits<T>, Vec<NormUpdate>)> {
        let n = x.shape().0;
        let training = pass.training();
        let mut stats = vec![];
        let mut masks = pass.masks.iter().flatten();
        let mut act = Activations::Image(x);
        for (i, step) in self.plan.steps.iter().enumerate() {
            act = match (step, act) {
                (Step::Conv(c), Activations::Image(h)) => {
                    Activations::Image(Self::conv(h, c, live, pass.input_grad || i > 0)?)
                }
                (Step::MaxPool(p), Activations::Image(h)) => Activations::Image(max_pool2d(h, p)?),
                (Step::Norm(ns), Activations::Image(h)) => {
                    Activations::Image(self.norm(h, ns, live, training, &mut stats)?)
                }
                (Step::Norm(ns), Activations::Flat(h)) => {
                    Activations::Flat(self.norm(h, ns, live, training, &mut stats)?)
                }
                (Step::Relu, Activations::Image(h)) => {
                    Activations::Image(h.try_relu().map_err(dfdx_err)?)
                }
                (Step::Relu, Activations::Flat(h)) => {
                    Activations::Flat(h.try_relu().map_err(dfdx_err)?)
                }
                (
                    Step::Residual {
                        first,
                        second,
                        norms,
                    },
                    Activations::Image(x),
                ) => {
                    // The shortcut shares the input's id, so its gradient adds to the branch's.
                    let shortcut = x.retaped::<T>();
                    let mut h = Self::conv(x, first, live, true)?;
                    if let Some((n1, _)) = norms {
                        h = self.norm(h, n1, live, training, &mut stats)?;
                        h = h.try_relu().map_err(dfdx_err)?;
                    }
                    h = Self::conv(h, second, live, true)?;
                    if let Some((_, n2)) = norms {
                        h = self.norm(h, n2, live, training, &mut stats)?;
                    }
                    Activations::Image(
                        h.try_add(shortcut)
                            .map_err(dfdx_err)?
                            .try_relu()
                            .map_err(dfdx_err)?,
                    )
                }
                (Step::GlobalAveragePool, Activations::Image(h)) => {
                    Activations::Flat(global_average_pool(h)?)
                }
                (Step::Flatten, Activations::Image(h)) => {
                    let len = h.shape().num_elements() / n;
                    Activations::Flat(h.try_reshape_like(&(n, len)).map_err(dfdx_err)?)
                }
                (
                    Step::Dense {
                        kernel,
                        bias,
                        units,
                        relu,
                    },
                    Activations::Flat(h),
                ) => {
                    let z = h
                        .try_matmul(live.matrix(*kernel).retaped::<T>())
                        .map_err(dfdx_err)?;
                    let b = live
                        .vector(*bias)
                        .retaped::<T>()
                        .try_broadcast_like::<_, Axis<0>>(&(n, *units))
                        .map_err(dfdx_err)?;
                    let a = z.try_add(b).map_err(dfdx_err)?;
                    Activations::Flat(if *relu {
                        a.try_relu().map_err(dfdx_err)?
                    } else {
                        a
                    })
                }
                (Step::Dropout { .. }, act) if !training => act,
                (Step::Dropout { .. }, act) => {
                    let mask = masks
                        .next()
                        .ok_or_else(|| wrong_input("dropout mask"))?
                        .clone();
                    match act {
                        Activations::Image(h) => Activations::Image(self.times(h, mask)?),
                        Activations::Flat(h) => Activations::Flat(self.times(h, mask)?),
                    }
                }
                (step, _) => return Err(wrong_input(format!("{step:?}"))),
            };
        }
        match act {
            Activations::Flat(logits) => Ok((logits, stats)),
            Activations::Image(_) => Err(wrong_input("the output layer")),
        }
    }

    /// `h` times a dropout mask of as many values.
    fn times<S: dfdx::shapes::Shape, T: Tape<f32, Cpu>>(
        &self,
        h: Tensor<S, f32, Cpu, T>,
        mask: Vec<f32>,
    ) -> Result<Tensor<S, f32, Cpu, T>> {
        let m = self
            .dev
            .try_tensor_from_vec(mask, *h.shape())
            .map_err(dfdx_err)?;
        h.try_mul(m).map_err(dfdx_err)
    }

    /// The dropout masks of one training step over `n` images: for each `Dropout` step, 0 with
    /// its rate and `1 / (1 - rate)` otherwise (so the expected sum is unchanged).
    pub(super) fn dropout_masks(&mut self, n: usize) -> Vec<Vec<f32>> {
        let mut masks = vec![];
        for step in &self.plan.steps {
            if let Step::Dropout { rate, len } = *step {
                let keep = if rate > 0.0 { 1.0 / (1.0 - rate) } else { 1.0 };
                let rng = &mut self.rng;
                masks.push(
                    (0..n * len)
                        .map(|_| {
                            if rate > 0.0 && rng.gen::<f32>() < rate {
                                0.0
                            } else {
                                keep
                            }
                        })
                        .collect(),
                );
            }
        }
        masks
    }

    /// Moves every batch normalisation's moving statistics towards this step's batch statistics.
    pub(super) fn update_moving_statistics(&mut self, stats: &[NormUpdate]) {
        for (step, batch) in stats {
            update_moving(
                &mut self.params[step.mean].values,
                &batch.mean,
                step.momentum,
            );
            update_moving(
                &mut self.params[step.variance].values,
                &batch.variance,
                step.momentum,
            );
        }
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

    /// Logits for a batch in inference mode (no dropout), `PREDICT_BATCH` images at a time:
    /// `output_units` per image, row after row. Without the tape where the layers allow it
    /// ([`TapelessPlan`]).
    pub(super) fn logits(&self, n: usize, data: &[f32]) -> Result<Vec<f32>> {
        let (h, w) = (self.config.input_height(), self.config.input_width());
        let Some(plan) = TapelessPlan::new(&self.plan, h, w)? else {
            return self.logits_on_tape(n, data);
        };
        Ok(plan.logits(&self.params, n, data, PREDICT_BATCH))
    }

    /// [`Model::logits`] by the tape's forward pass, for any layers.
    pub(super) fn logits_on_tape(&self, n: usize, data: &[f32]) -> Result<Vec<f32>> {
        let (h, w) = (self.config.input_height(), self.config.input_width());
        let live = self.live()?;
        let mut out = Vec::with_capacity(n * self.config.output_units());
        for chunk in data.chunks(PREDICT_BATCH * h * w) {
            let m = chunk.len() / (h * w);
            let xt = self
                .dev
                .try_tensor_from_vec(chunk.to_vec(), (m, h, w, 1))
                .map_err(dfdx_err)?;
            out.extend(self.forward(xt, &live, &Pass::inference(false))?.0.as_vec());
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
pub(super) fn softmax_rows(logits: &[f32], k: usize) -> Vec<f32> {
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
pub(crate) mod tests {
    use super::*;
    use ndarray::{Array4, Axis};

    /// The learning rate the toy models learn their tasks at in a few dozen steps.
    pub(crate) const TOY_RATE: f32 = 0.01;

    /// A two-block model on 24x20 images, quick to train (at [`TOY_RATE`]).
    pub(crate) fn small() -> ModelConfig {
        ModelConfig::builder()
            .input_size(24, 20)
            .conv_filters(&[4, 8])
            .dense_units(16)
            .build()
            .unwrap()
    }

    /// Images whose label is whether a bright square sits in the top half.
    pub(crate) fn toy_batch(n: usize, h: usize, w: usize, seed: u64) -> (Array4<f32>, Vec<f32>) {
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
            .build()
            .unwrap();
        let mut m = Model::new(cfg, 1).unwrap();
        learns_the_toy_task(&mut m, 40);
        assert_eq!(m.steps(), 40);
    }

    /// Trains `m` for `steps` steps on one toy batch, checks that the loss halved and that at
    /// least 24 of 32 new images are right, and returns the new images and their probabilities.
    fn learns_the_toy_task(m: &mut Model, steps: usize) -> (Array4<f32>, Vec<f32>) {
        m.set_learning_rate(TOY_RATE).unwrap();
        let (x, y) = toy_batch(32, 24, 20, 2);
        let before = m.loss_on_batch(x.view(), &y, None).unwrap();
        for _ in 0..steps {
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
        (xt, p)
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

    pub(crate) fn three_classes(dropout: f32) -> ModelConfig {
        ModelConfig::builder()
            .input_size(24, 20)
            .conv_filters(&[4, 8])
            .dense_units(16)
            .dropout(dropout)
            .classes(3)
            .build()
            .unwrap()
    }

    #[test]
    fn a_softmax_head_learns_three_classes() {
        let mut m = Model::new(three_classes(0.2), 1).unwrap();
        m.set_learning_rate(TOY_RATE).unwrap();
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
        let predicted = crate::metrics::multiclass::predicted_classes(p.view());
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

    /// A model with every kind of layer on 24x20 images: batch normalisation on images and on
    /// features, a residual block with its own normalisations, global average pooling.
    pub(crate) fn every_layer(dropout: f32) -> ModelConfig {
        use crate::model::{Activation, Layer};
        // Moving averages that settle within the few steps of a test.
        let norm = || Layer::BatchNormalization {
            momentum: 0.8,
            epsilon: 1e-3,
        };
        ModelConfig::builder()
            .input_size(24, 20)
            .layers(vec![
                Layer::conv2d(4, 3, Activation::Relu),
                Layer::max_pooling2d(2),
                norm(),
                Layer::ResidualBlock {
                    kernel_size: 3,
                    batch_normalization: true,
                },
                Layer::Conv2D {
                    filters: 6,
                    kernel_size: 3,
                    padding: crate::model::Padding::Same,
                    activation: Activation::Linear,
                },
                norm(),
                Layer::Activation {
                    activation: Activation::Relu,
                },
                Layer::max_pooling2d(2),
                Layer::GlobalAveragePooling2D,
                Layer::dense(8, Activation::Relu),
                norm(),
                Layer::dropout(dropout),
                Layer::output(2),
            ])
            .build()
            .unwrap()
    }

    /// The training-mode loss (batch statistics, no dropout) and its gradients from the tape.
    fn training_loss_and_gradients(m: &Model, x: &Array4<f32>, y: &[f32]) -> (f32, Vec<Vec<f32>>) {
        let (n, data) = m.input(&x.view()).unwrap();
        let (h, w) = (m.config.input_height(), m.config.input_width());
        let live = m.live().unwrap();
        let pass = Pass {
            masks: Some(vec![vec![1.0; n * 8]]),
            input_grad: false,
        };
        let xt = m.dev.tensor_from_vec(data, (n, h, w, 1));
        let (logits, _) = m.forward(xt.leaky_traced(), &live, &pass).unwrap();
        let (loss, _) = m.loss_of(logits, y, None).unwrap();
        let value = loss.array();
        let mut grads = loss.backward();
        (value, live.take_gradients(&mut grads, &m.params).unwrap())
    }

    #[test]
    fn gradients_through_batch_norm_residual_blocks_and_pooling_match_finite_differences() {
        let m = Model::new(every_layer(0.0), 3).unwrap();
        let (x, y) = toy_batch(6, 24, 20, 11);
        let (_, grads) = training_loss_and_gradients(&m, &x, &y);
        let (mut checked, mut kinks) = (0, 0);
        for (p, param) in m.params.iter().enumerate() {
            if !param.trainable() {
                assert!(grads[p].iter().all(|&g| g == 0.0), "{}", param.name);
                continue;
            }
            // A few entries of every trained array, including the residual block's.
            for i in (0..param.values.len()).step_by(param.values.len().div_ceil(3)) {
                let slope = |h: f32| {
                    let mut up = m.clone();
                    up.params[p].values[i] += h;
                    let mut down = m.clone();
                    down.params[p].values[i] -= h;
                    (training_loss_and_gradients(&up, &x, &y).0
                        - training_loss_and_gradients(&down, &x, &y).0)
                        / (2.0 * h)
                };
                let (coarse, fine) = (slope(2e-3), slope(1e-3));
                // Where the two steps disagree, a ReLU or a pooling window switches inside the
                // step and a finite difference says nothing about the derivative.
                if (coarse - fine).abs() > 1e-3 + 0.02 * fine.abs() {
                    kinks += 1;
                    continue;
                }
                let g = grads[p][i];
                assert!(
                    (g - fine).abs() <= 2e-3 + 0.05 * fine.abs(),
                    "{} [{i}]: tape {g}, finite difference {fine}",
                    param.name
                );
                checked += 1;
            }
        }
        assert!(kinks <= 5, "{kinks} entries at kinks");
        assert!(checked >= 40, "{checked}");
    }

    #[test]
    fn batch_norm_models_learn_keep_moving_statistics_and_save_them() {
        let mut m = Model::new(every_layer(0.2), 1).unwrap();
        assert!(m.summary().contains("residual_block (ResidualBlock)"));
        assert!(
            m.summary().contains("Non-trainable params: 52"),
            "{}",
            m.summary()
        );
        let (xt, p) = learns_the_toy_task(&mut m, 100);
        let (x, y) = toy_batch(32, 24, 20, 2);
        // The moving statistics moved away from their start (mean 0, variance 1) ...
        let mean = m
            .params
            .iter()
            .find(|p| p.name == "batch_normalization.moving_mean")
            .unwrap();
        assert!(
            mean.values.iter().any(|v| v.abs() > 1e-3),
            "{:?}",
            mean.values
        );
        // ... inference uses them: one image alone gets the prediction it gets in a batch.
        let one = m
            .predict_proba(xt.slice_axis(Axis(0), (3..4).into()))
            .unwrap();
        assert!((one[0] - p[3]).abs() < 1e-5);
        // They are saved and read back with the weights.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        m.save_safetensors(&path).unwrap();
        let back = Model::load_safetensors(&path, m.config().clone()).unwrap();
        assert_eq!(back.weights(), m.weights());
        assert_eq!(back.predict_proba(xt.view()).unwrap(), p);
        // The weight average covers the trained weights only, as Keras's does.
        let mut averaging = m.clone();
        averaging.use_ema(Some(0.5)).unwrap();
        let start = averaging.weights();
        averaging.train_on_batch(x.view(), &y, None).unwrap();
        let averaged = averaging.averaged();
        for ((a, s), now) in averaged
            .params
            .iter()
            .zip(start.params())
            .zip(&averaging.params)
        {
            if a.trainable() {
                assert_ne!(a.values, now.values, "{}", a.name);
                assert_ne!(a.values, s.values, "{}", a.name);
            } else {
                assert_eq!(a.values, now.values, "{}", a.name);
            }
        }
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
