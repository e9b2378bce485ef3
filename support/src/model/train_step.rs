//! Training one batch at a time: the labels checked, the loss on the tape (binary or
//! categorical cross-entropy, with sample weights), the gradients and one Adam step, and the
//! optimiser's settings as seen from the [`Model`] (learning rate, weight average).

use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};

use ndarray::ArrayView4;

use super::network::{dfdx_err, softmax_rows, Loss, Model, Pass};
use super::optimizer::WeightAverage;
use crate::error::{Error, Result};
use crate::metrics::loss::sigmoid;

impl Model {
    /// Checks labels against `n` images: one label in [0, 1] per image for a two-class model,
    /// or one row of class probabilities (one-hot, summing to 1) per image for K classes.
    pub(super) fn targets(
        &self,
        n: usize,
        y: &[f32],
        sample_weights: Option<&[f32]>,
    ) -> Result<()> {
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
    pub(super) fn loss_of<T: Tape<f32, Cpu>>(
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
    pub(super) fn binary_loss_of<T: Tape<f32, Cpu>>(
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
    pub(super) fn categorical_loss_of<T: Tape<f32, Cpu>>(
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
    pub(super) fn weighted_mean<T: Tape<f32, Cpu>>(
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
        let masks = self.dropout_masks(n);
        let live = self.live()?;
        let (h, w) = (self.config.input_height(), self.config.input_width());
        let xt = self
            .dev
            .try_tensor_from_vec(data, (n, h, w, 1))
            .map_err(dfdx_err)?;
        let pass = Pass {
            masks: Some(masks),
            input_grad: false,
        };
        let (logits, stats) = self.forward(xt.leaky_traced(), &live, &pass)?;
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
        let g = live.take_gradients(&mut grads, &self.params)?;
        drop(grads);
        drop(live);
        self.optimizer.step(&mut self.params, &g);
        self.update_moving_statistics(&stats);
        Ok((value, probs))
    }

    /// Restarts the dropout masks' random stream from `seed` (`fit` does so at every epoch, so a
    /// resumed run draws the same masks as an uninterrupted one).
    pub(crate) fn reseed_dropout(&mut self, seed: u64) {
        self.rng = StdRng::seed_from_u64(seed);
    }
}

impl Model {
    /// Adam's current step size: the configuration's learning rate unless a schedule changed it.
    pub fn learning_rate(&self) -> f32 {
        self.optimizer.learning_rate
    }

    /// Sets Adam's step size for the following steps (a learning-rate schedule calls this; the
    /// configuration keeps the initial rate).
    pub fn set_learning_rate(&mut self, learning_rate: f32) -> Result<()> {
        if !(learning_rate.is_finite() && learning_rate >= 0.0) {
            return Err(Error::invalid(
                "learning_rate",
                learning_rate,
                "a finite number >= 0",
            ));
        }
        self.optimizer.learning_rate = learning_rate;
        Ok(())
    }

    /// Number of Adam steps taken so far.
    pub fn steps(&self) -> u64 {
        self.optimizer.steps()
    }

    /// Keeps an exponential moving average of the weights from now on (Keras's optimizer options
    /// `use_ema=True, ema_momentum=m`): after every step, `average = m * average + (1 - m) *
    /// weights`, starting from the current weights. Averaging damps the step-to-step wander of
    /// the weights (Polyak & Juditsky, 1992). `None` stops averaging. See [`Model::averaged`].
    pub fn use_ema(&mut self, momentum: Option<f32>) -> Result<()> {
        match momentum {
            Some(m) if !(m.is_finite() && (0.0..1.0).contains(&m)) => {
                Err(Error::invalid("ema_momentum", m, "a number in [0, 1)"))
            }
            Some(momentum) => {
                let weights = self.params.iter().map(|p| p.values.clone()).collect();
                self.optimizer.average = Some(WeightAverage { momentum, weights });
                Ok(())
            }
            None => {
                self.optimizer.average = None;
                Ok(())
            }
        }
    }

    /// The momentum of the weight average being kept, if any.
    pub fn ema_momentum(&self) -> Option<f32> {
        self.optimizer.average.as_ref().map(|e| e.momentum)
    }

    /// A copy whose weights are the moving average (see [`Model::use_ema`]), without an average
    /// of its own; a plain copy when no average is kept.
    pub fn averaged(&self) -> Model {
        let mut out = self.clone();
        if let Some(ema) = out.optimizer.average.take() {
            // As in Keras, the average covers the trained weights; batch normalisation's moving
            // statistics stay as training left them.
            for (p, w) in out.params.iter_mut().zip(ema.weights) {
                if p.trainable() {
                    p.values = w;
                }
            }
        }
        out
    }

    /// The averaged weights, for training-state files.
    pub(crate) fn ema_state(&self) -> Option<(f32, &[Vec<f32>])> {
        self.optimizer
            .average
            .as_ref()
            .map(|e| (e.momentum, e.weights.as_slice()))
    }

    /// Puts back a weight average read from a training-state file (shapes checked by the reader).
    pub(crate) fn set_ema_state(&mut self, momentum: f32, weights: Vec<Vec<f32>>) {
        self.optimizer.average = Some(WeightAverage { momentum, weights });
    }

    /// Adam's step count and moments, for training-state files.
    pub(crate) fn adam_state(&self) -> (u64, &[Vec<f32>], &[Vec<f32>]) {
        let o = &self.optimizer;
        (o.step, &o.m, &o.v)
    }

    /// Puts back Adam's state read from a training-state file (shapes checked by the reader);
    /// dropout continues from a generator seeded by the step count.
    pub(crate) fn set_adam_state(&mut self, step: u64, m: Vec<Vec<f32>>, v: Vec<Vec<f32>>) {
        let o = &mut self.optimizer;
        (o.step, o.m, o.v) = (step, m, v);
        self.reseed_dropout(step);
    }
}
