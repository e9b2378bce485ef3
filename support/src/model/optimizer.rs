//! The optimiser: Adam with Keras's defaults, and the optional moving average of the weights
//! (Keras's `use_ema`), as [`Model`]'s methods `set_learning_rate`, `use_ema` and `averaged`.

use rayon::prelude::*;

use super::param::Param;

/// Adam's learning rate at the first step unless training options say otherwise (Keras's
/// default for Adam); a new [`Model`](super::Model)'s optimizer starts at it.
pub const DEFAULT_LEARNING_RATE: f32 = 1e-3;

/// Adam's moment decay rates and epsilon (Keras's defaults).
const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-7;

/// Weights are updated in chunks of this many values, one rayon task each.
const CHUNK: usize = 1 << 14;

/// Adam's state (Kingma & Ba, 2015): step count, step size, first and second moments per
/// parameter, and the weight average when one is kept.
#[derive(Clone, Debug)]
pub(super) struct Adam {
    pub(super) step: u64,
    pub(super) learning_rate: f32,
    pub(super) m: Vec<Vec<f32>>,
    pub(super) v: Vec<Vec<f32>>,
    pub(super) average: Option<WeightAverage>,
}

/// An exponential moving average of the weights (Keras's optimizer option `use_ema`).
#[derive(Clone, Debug)]
pub(super) struct WeightAverage {
    pub(super) momentum: f32,
    pub(super) weights: Vec<Vec<f32>>,
}

impl Adam {
    /// Fresh state (zero moments, no average) for `params` at `learning_rate`.
    pub(super) fn new(params: &[Param], learning_rate: f32) -> Self {
        let zeros: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.values.len()]).collect();
        Adam {
            step: 0,
            learning_rate,
            m: zeros.clone(),
            v: zeros,
            average: None,
        }
    }

    /// Steps taken so far.
    pub(super) fn steps(&self) -> u64 {
        self.step
    }

    /// One Adam step of `params` along `grads` (one gradient per parameter), then the average.
    pub(super) fn step(&mut self, params: &mut [Param], grads: &[Vec<f32>]) {
        self.step += 1;
        let t = self.step as f64;
        let lr = self.learning_rate as f64;
        let alpha =
            (lr * (1.0 - (BETA2 as f64).powf(t)).sqrt() / (1.0 - (BETA1 as f64).powf(t))) as f32;
        for ((p, g), (m, v)) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut().zip(self.v.iter_mut()))
        {
            p.values
                .par_chunks_mut(CHUNK)
                .zip(g.par_chunks(CHUNK))
                .zip(m.par_chunks_mut(CHUNK).zip(v.par_chunks_mut(CHUNK)))
                .for_each(|((p, g), (m, v))| {
                    for i in 0..p.len() {
                        m[i] += (g[i] - m[i]) * (1.0 - BETA1);
                        v[i] += (g[i] * g[i] - v[i]) * (1.0 - BETA2);
                        p[i] -= alpha * m[i] / (v[i].sqrt() + EPSILON);
                    }
                });
        }
        if let Some(ema) = &mut self.average {
            let m = ema.momentum;
            for (avg, p) in ema.weights.iter_mut().zip(params.iter()) {
                avg.par_chunks_mut(CHUNK)
                    .zip(p.values.par_chunks(CHUNK))
                    .for_each(|(a, p)| {
                        a.iter_mut()
                            .zip(p)
                            .for_each(|(a, &p)| *a = m * *a + (1.0 - m) * p)
                    });
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::network::tests::{small, toy_batch};
    use super::super::{Model, Weights};

    /// Asserts that the average `after` is `momentum * before + (1 - momentum) * weights`.
    pub(crate) fn assert_one_average_step(
        before: &Weights,
        after: &Weights,
        weights: &Weights,
        momentum: f32,
    ) {
        let values = |w: &Weights| -> Vec<f32> {
            w.params().iter().flat_map(|p| p.values.clone()).collect()
        };
        let (b, a, w) = (values(before), values(after), values(weights));
        assert!(b.len() == a.len() && a.len() == w.len());
        for ((b, a), w) in b.iter().zip(&a).zip(&w) {
            let want = momentum * b + (1.0 - momentum) * w;
            assert!((a - want).abs() <= 1e-6 * (1.0 + w.abs()), "{a} vs {want}");
        }
    }

    #[test]
    fn moving_average_follows_the_weights_at_its_momentum() {
        let (x, y) = toy_batch(8, 24, 20, 4);
        let mut plain = Model::new(small(), 3).unwrap();
        let mut averaging = plain.clone();
        assert!(averaging.use_ema(Some(1.0)).is_err());
        assert!(averaging.use_ema(Some(f32::NAN)).is_err());
        averaging.use_ema(Some(0.5)).unwrap();
        assert_eq!(averaging.ema_momentum(), Some(0.5));
        let start = plain.weights();
        plain.train_on_batch(x.view(), &y, None).unwrap();
        averaging.train_on_batch(x.view(), &y, None).unwrap();
        // Averaging changes nothing about the training itself ...
        assert_eq!(averaging.weights(), plain.weights());
        // ... and after one step the average lies halfway between the old and new weights.
        let averaged = averaging.averaged();
        assert_eq!(averaged.ema_momentum(), None);
        assert_one_average_step(&start, &averaged.weights(), &plain.weights(), 0.5);
        // Momentum 0 keeps the latest weights; no average gives a plain copy.
        averaging.use_ema(Some(0.0)).unwrap();
        averaging.train_on_batch(x.view(), &y, None).unwrap();
        assert_eq!(averaging.averaged().weights(), averaging.weights());
        averaging.use_ema(None).unwrap();
        assert_eq!(averaging.averaged().weights(), averaging.weights());
    }

    #[test]
    fn learning_rate_can_be_changed_and_zero_freezes_the_weights() {
        let (x, y) = toy_batch(8, 24, 20, 5);
        let mut m = Model::new(small(), 3).unwrap();
        assert_eq!(m.learning_rate(), super::super::DEFAULT_LEARNING_RATE);
        m.set_learning_rate(0.01).unwrap();
        assert_eq!(m.learning_rate(), 0.01);
        assert!(m.set_learning_rate(-1.0).is_err());
        m.set_learning_rate(0.0).unwrap();
        let before = m.weights();
        m.train_on_batch(x.view(), &y, None).unwrap();
        assert_eq!(m.weights(), before);
    }
}
