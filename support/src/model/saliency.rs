//! Explanation: which pixels move [`Model`]'s logit, as input-gradient saliency and SmoothGrad.

use dfdx::prelude::*;
use ndarray::{Array2, ArrayView2};
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::network::{dfdx_err, take, Model, Pass};
use crate::error::{Error, Result};

impl Model {
    /// Input-gradient saliency of one `(height, width)` image: `|d logit / d pixel|`, for a
    /// K-class model the logit of the class it predicts.
    pub fn saliency(&self, x: ArrayView2<f32>) -> Result<Array2<f32>> {
        let (h, w) = x.dim();
        let x4 = x.into_shape_with_order((1, h, w, 1)).ok();
        let owned;
        let x4 = match x4 {
            Some(v) => v,
            None => {
                owned = x.as_standard_layout().into_owned();
                owned
                    .view()
                    .into_shape_with_order((1, h, w, 1))
                    .map_err(|e| Error::backend("shaping the saliency input", e))?
            }
        };
        let (_, data) = self.input(&x4)?;
        let live = self.live()?;
        let xt = self
            .dev
            .try_tensor_from_vec(data, (1, h, w, 1))
            .map_err(dfdx_err)?;
        let (logits, _) = self.forward(xt.leaky_trace(), &live, &Pass::inference(true))?;
        // One output: its logit. K outputs: the logit of the most probable class, masked out
        // of the row so the gradient is that class's alone.
        let values = logits.as_vec();
        let mut pick = vec![0.0f32; values.len()];
        let best = (0..values.len())
            .reduce(|a, b| if values[b] > values[a] { b } else { a })
            .unwrap_or(0);
        pick[best] = 1.0;
        let pick = self
            .dev
            .try_tensor_from_vec(pick, *logits.shape())
            .map_err(dfdx_err)?;
        let mut grads = logits
            .try_mul(pick)
            .map_err(dfdx_err)?
            .try_sum()
            .map_err(dfdx_err)?
            .try_backward()
            .map_err(dfdx_err)?;
        let g = take(&mut grads, &xt)?;
        Array2::from_shape_vec((h, w), g.into_iter().map(f32::abs).collect())
            .map_err(|e| Error::backend("shaping the saliency map", e))
    }

    /// SmoothGrad (Smilkov et al., 2017): the mean of [`Model::saliency`] over `samples` copies
    /// of the image with Gaussian noise of `noise` times its value range added, which removes the
    /// speckle of a single gradient. Deterministic: the noise is drawn from a fixed seed.
    pub fn smooth_saliency(
        &self,
        x: ArrayView2<f32>,
        samples: usize,
        noise: f32,
    ) -> Result<Array2<f32>> {
        if samples == 0 || !(noise.is_finite() && noise >= 0.0) {
            return Err(Error::invalid(
                "smooth_saliency",
                format!("samples {samples}, noise {noise}"),
                "at least one sample and a finite, non-negative noise level",
            ));
        }
        let (lo, hi) = x
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let sigma = noise * (hi - lo).max(0.0);
        let normal = rand_distr::Normal::new(0.0f32, sigma.max(f32::MIN_POSITIVE))
            .map_err(|e| Error::backend("making the saliency noise", e))?;
        let mut rng = StdRng::seed_from_u64(0x5a11);
        let mut total = Array2::<f32>::zeros(x.dim());
        for _ in 0..samples {
            let noisy = if sigma > 0.0 {
                x.mapv(|v| v + rng.sample(normal))
            } else {
                x.to_owned()
            };
            total += &self.saliency(noisy.view())?;
        }
        Ok(total / samples as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::super::network::tests::{small, three_classes, toy_batch};
    use super::*;
    use ndarray::Axis;

    #[test]
    fn smooth_saliency_averages_noisy_gradients_deterministically() {
        let m = Model::new(small(), 3).unwrap();
        let img = Array2::from_shape_fn((24, 20), |(r, c)| ((r * 7 + c * 3) % 11) as f32 / 11.0);
        let exact = m.saliency(img.view()).unwrap();
        let no_noise = m.smooth_saliency(img.view(), 3, 0.0).unwrap();
        assert!(exact
            .iter()
            .zip(&no_noise)
            .all(|(a, b)| (a - b).abs() < 1e-6));
        let smooth = m.smooth_saliency(img.view(), 8, 0.15).unwrap();
        assert_eq!(smooth.dim(), (24, 20));
        assert_eq!(smooth, m.smooth_saliency(img.view(), 8, 0.15).unwrap());
        assert!(smooth.iter().zip(&exact).any(|(a, b)| (a - b).abs() > 1e-6));
        assert!(m.smooth_saliency(img.view(), 0, 0.1).is_err());
        assert!(m.smooth_saliency(img.view(), 2, f32::NAN).is_err());
    }

    #[test]
    fn saliency_matches_finite_differences_of_the_logit() {
        for config in [small(), three_classes(0.5)] {
            let m = Model::new(config, 4).unwrap();
            let (x, _) = toy_batch(1, 24, 20, 10);
            let img = x.index_axis(Axis(0), 0).index_axis(Axis(2), 0).to_owned();
            let s = m.saliency(img.view()).unwrap();
            assert_eq!(s.dim(), (24, 20));
            assert!(s.iter().any(|v| *v > 0.0));
            let logits = |im: &Array2<f32>| m.logits(1, im.as_slice().unwrap()).unwrap();
            // The class it explains: the only output, or the most probable of K.
            let base = logits(&img);
            let class = (0..base.len())
                .reduce(|a, b| if base[b] > base[a] { b } else { a })
                .unwrap();
            let eps = 1e-2;
            for (r, c) in [(5, 5), (10, 7), (12, 12), (3, 15), (18, 9)] {
                let mut up = img.clone();
                up[[r, c]] += eps;
                let mut down = img.clone();
                down[[r, c]] -= eps;
                let numeric =
                    ((logits(&up)[class] - logits(&down)[class]) as f64 / (2.0 * eps as f64)).abs();
                assert!(
                    (numeric - s[[r, c]] as f64).abs() < 2e-2 + 0.05 * numeric,
                    "{} outputs, ({r},{c}): {numeric} vs {}",
                    base.len(),
                    s[[r, c]]
                );
            }
        }
    }
}
