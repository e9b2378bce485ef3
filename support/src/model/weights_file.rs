//! Saving and loading a [`Model`]'s weights as safetensors (atomic writes, checked loads).
//!
//! The file holds one F32 tensor per weight array (names as in [`Model::params`]) and, in its
//! metadata, the configuration as JSON, so that a mismatch can be explained.

use std::collections::HashMap;
use std::path::Path;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use super::config::ModelConfig;
use super::network::Model;
use super::param::Param;
use crate::error::{Error, Result};
use crate::files::write_atomic;

const FORMAT: &str = "support-cnn/1";
/// Name prefixes of Adam's first and second moments in a training-state file.
const ADAM_M: &str = "adam.m/";
const ADAM_V: &str = "adam.v/";
/// Metadata key of the optimizer's step count.
const STEP_KEY: &str = "adam_step";
/// Name prefix of the moving average of the weights, and the metadata key of its momentum.
const EMA: &str = "ema/";
const EMA_KEY: &str = "ema_momentum";

fn model_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

impl Model {
    /// Writes the weights to `path` as safetensors: a temporary file in the same folder, then a rename.
    pub fn save_safetensors(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_file(path.as_ref(), false)
    }

    /// Writes the weights and the optimizer state (Adam's moments and step count) to `path`,
    /// atomically, so that [`Model::load_training_state`] continues training where it stopped.
    pub fn save_training_state(&self, path: impl AsRef<Path>) -> Result<()> {
        self.write_file(path.as_ref(), true)
    }

    /// Reads weights saved by [`Model::save_safetensors`] into a new model of `config`.
    ///
    /// A truncated or corrupt file, or one made for other layer sizes, is an [`Error::Model`]
    /// naming what does not match. The optimizer state starts fresh (as after Keras's `load_weights`).
    pub fn load_safetensors(path: impl AsRef<Path>, config: ModelConfig) -> Result<Model> {
        Self::read_file(path.as_ref(), config, false)
    }

    /// Reads a file written by [`Model::save_training_state`]: weights and optimizer state. The
    /// dropout generator is re-seeded from the step count.
    pub fn load_training_state(path: impl AsRef<Path>, config: ModelConfig) -> Result<Model> {
        Self::read_file(path.as_ref(), config, true)
    }

    fn write_file(&self, path: &Path, with_optimizer: bool) -> Result<()> {
        let mut tensors: Vec<(String, &Vec<usize>, &[f32])> = self
            .params()
            .iter()
            .map(|p| (p.name.clone(), &p.shape, p.values.as_slice()))
            .collect();
        let mut meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        if with_optimizer {
            let (step, m, v) = self.adam_state();
            for (p, (m, v)) in self.params().iter().zip(m.iter().zip(v)) {
                tensors.push((format!("{ADAM_M}{}", p.name), &p.shape, m.as_slice()));
                tensors.push((format!("{ADAM_V}{}", p.name), &p.shape, v.as_slice()));
            }
            meta.insert(STEP_KEY.to_string(), step.to_string());
            if let Some((momentum, weights)) = self.ema_state() {
                for (p, w) in self.params().iter().zip(weights) {
                    tensors.push((format!("{EMA}{}", p.name), &p.shape, w.as_slice()));
                }
                meta.insert(EMA_KEY.to_string(), momentum.to_string());
            }
        }
        let bytes: Vec<Vec<u8>> = tensors
            .iter()
            .map(|(_, _, values)| values.iter().flat_map(|v| v.to_le_bytes()).collect())
            .collect();
        let views = tensors
            .iter()
            .zip(&bytes)
            .map(|((name, shape, _), b)| {
                TensorView::new(Dtype::F32, (*shape).clone(), b)
                    .map(|v| (name.clone(), v))
                    .map_err(|e| model_err(path, format!("cannot describe tensor {name}: {e:?}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let config = serde_json::to_string(self.config())
            .map_err(|e| model_err(path, format!("config: {e}")))?;
        meta.insert("config".to_string(), config);
        let data = safetensors::tensor::serialize(views, &Some(meta))
            .map_err(|e| model_err(path, format!("cannot serialise: {e:?}")))?;
        write_atomic(path, &data)
    }

    fn read_file(path: &Path, config: ModelConfig, with_optimizer: bool) -> Result<Model> {
        config.validate()?;
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let st = SafeTensors::deserialize(&bytes).map_err(|e| {
            model_err(
                path,
                format!("not a readable safetensors file ({e:?}); truncated or corrupt?"),
            )
        })?;
        let (_, meta) = SafeTensors::read_metadata(&bytes)
            .map_err(|e| model_err(path, format!("metadata: {e:?}")))?;
        let meta = meta.metadata().clone().unwrap_or_default();
        let saved_config = meta
            .get("config")
            .and_then(|c| serde_json::from_str::<ModelConfig>(c).ok());
        let layout: Vec<(String, Vec<usize>)> = config
            .plan()?
            .params
            .into_iter()
            .map(|p| (p.name, p.shape))
            .collect();
        let hint = |what: String| match &saved_config {
            Some(saved) if saved != &config => {
                format!("{what}; the file was saved from {saved:?}, the configuration given is {config:?}")
            }
            _ => what,
        };
        let mut params = Vec::with_capacity(layout.len());
        for (name, shape) in &layout {
            params.push(Param {
                name: name.clone(),
                shape: shape.clone(),
                values: read_tensor(&st, path, name, shape, &hint)?,
            });
        }
        let mut expected: Vec<String> = layout.iter().map(|(n, _)| n.clone()).collect();
        let mut moments = None;
        let mut ema = None;
        if with_optimizer {
            let step: u64 = meta
                .get(STEP_KEY)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| {
                    model_err(path, "no optimizer step count: not a training-state file")
                })?;
            let mut m = Vec::with_capacity(layout.len());
            let mut v = Vec::with_capacity(layout.len());
            for (name, shape) in &layout {
                for (prefix, out) in [(ADAM_M, &mut m), (ADAM_V, &mut v)] {
                    let key = format!("{prefix}{name}");
                    out.push(read_tensor(&st, path, &key, shape, &hint)?);
                    expected.push(key);
                }
            }
            moments = Some((step, m, v));
            if let Some(text) = meta.get(EMA_KEY) {
                let momentum: f32 = text
                    .parse()
                    .ok()
                    .filter(|m: &f32| m.is_finite() && (0.0..1.0).contains(m))
                    .ok_or_else(|| {
                        model_err(path, format!("{EMA_KEY} {text:?} is not in [0, 1)"))
                    })?;
                let mut weights = Vec::with_capacity(layout.len());
                for (name, shape) in &layout {
                    let key = format!("{EMA}{name}");
                    weights.push(read_tensor(&st, path, &key, shape, &hint)?);
                    expected.push(key);
                }
                ema = Some((momentum, weights));
            }
        }
        let mut extra: Vec<&String> = st
            .names()
            .into_iter()
            .filter(|n| !expected.contains(n))
            .collect();
        if !extra.is_empty() {
            extra.sort();
            return Err(model_err(
                path,
                hint(format!(
                    "the file has tensors the configuration lacks: {extra:?}"
                )),
            ));
        }
        let mut model = Model::from_params(config, params, 0)?;
        if let Some((step, m, v)) = moments {
            model.set_adam_state(step, m, v);
        }
        if let Some((momentum, weights)) = ema {
            model.set_ema_state(momentum, weights);
        }
        Ok(model)
    }
}

/// One F32 tensor of the expected shape, all values finite.
fn read_tensor(
    st: &SafeTensors,
    path: &Path,
    name: &str,
    shape: &[usize],
    hint: &dyn Fn(String) -> String,
) -> Result<Vec<f32>> {
    let view = st.tensor(name).map_err(|_| {
        model_err(
            path,
            hint(format!("tensor {name} (shape {shape:?}) is missing")),
        )
    })?;
    if view.dtype() != Dtype::F32 {
        return Err(model_err(
            path,
            format!("tensor {name} is {:?}, expected F32", view.dtype()),
        ));
    }
    if view.shape() != shape {
        return Err(model_err(
            path,
            hint(format!(
                "tensor {name} has shape {:?}, the configuration needs {shape:?}",
                view.shape()
            )),
        ));
    }
    let data = view.data();
    let len: usize = shape.iter().product();
    if data.len() != 4 * len {
        return Err(model_err(
            path,
            format!(
                "tensor {name} holds {} bytes, expected {}",
                data.len(),
                4 * len
            ),
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(model_err(
            path,
            format!("tensor {name} holds non-finite values"),
        ));
    }
    Ok(values)
}

/// The model configuration saved in a weight file's metadata, if it has one.
pub fn saved_config(path: impl AsRef<Path>) -> Result<Option<ModelConfig>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        model_err(
            path,
            format!("not a readable safetensors file ({e:?}); truncated or corrupt?"),
        )
    })?;
    match meta.metadata().as_ref().and_then(|m| m.get("config")) {
        None => Ok(None),
        Some(c) => serde_json::from_str(c)
            .map(Some)
            .map_err(|e| model_err(path, format!("saved configuration unreadable: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::optimizer::tests::assert_one_average_step;
    use ndarray::Array4;

    fn cfg(filters: &[usize], units: usize) -> ModelConfig {
        ModelConfig::builder()
            .input_size(24, 24)
            .conv_filters(filters)
            .dense_units(units)
            .build()
            .unwrap()
    }

    #[test]
    fn round_trip_keeps_predictions_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.safetensors");
        let mut m = Model::new(cfg(&[4, 8], 8), 1).unwrap();
        let x = Array4::from_shape_fn((3, 24, 24, 1), |(i, r, c, _)| {
            ((i + r * c) % 7) as f32 / 7.0
        });
        m.train_on_batch(x.view(), &[1.0, 0.0, 1.0], None).unwrap();
        m.save_safetensors(&path).unwrap();
        // Saving again replaces the file.
        m.save_safetensors(&path).unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let loaded = Model::load_safetensors(&path, cfg(&[4, 8], 8)).unwrap();
        assert_eq!(loaded.weights(), m.weights());
        assert_eq!(
            loaded.predict_proba(x.view()).unwrap(),
            m.predict_proba(x.view()).unwrap()
        );
        assert_eq!(saved_config(&path).unwrap(), Some(cfg(&[4, 8], 8)));
    }

    #[test]
    fn training_state_keeps_the_moving_average() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.safetensors");
        let mut m = Model::new(cfg(&[4, 8], 8), 1).unwrap();
        m.use_ema(Some(0.9)).unwrap();
        let x = Array4::from_shape_fn((3, 24, 24, 1), |(i, r, c, _)| {
            ((i + r * c) % 5) as f32 / 5.0
        });
        for _ in 0..3 {
            m.train_on_batch(x.view(), &[1.0, 0.0, 1.0], None).unwrap();
        }
        m.save_training_state(&path).unwrap();
        let mut loaded = Model::load_training_state(&path, cfg(&[4, 8], 8)).unwrap();
        assert_eq!(loaded.ema_momentum(), Some(0.9));
        assert_eq!(loaded.averaged().weights(), m.averaged().weights());
        assert_ne!(loaded.averaged().weights(), loaded.weights());
        // The average goes on from where it was.
        loaded
            .train_on_batch(x.view(), &[1.0, 0.0, 1.0], None)
            .unwrap();
        let (before, after) = (m.averaged().weights(), loaded.averaged().weights());
        assert_one_average_step(&before, &after, &loaded.weights(), 0.9);
        // A plain weights file holds the raw weights only.
        m.save_safetensors(&path).unwrap();
        let plain = Model::load_safetensors(&path, cfg(&[4, 8], 8)).unwrap();
        assert_eq!(plain.ema_momentum(), None);
        assert_eq!(plain.weights(), m.weights());
    }

    #[test]
    fn other_architectures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        Model::new(cfg(&[4, 8], 8), 1)
            .unwrap()
            .save_safetensors(&path)
            .unwrap();
        for (other, needle) in [
            (cfg(&[4, 16], 8), "conv2d_1.kernel has shape"),
            (cfg(&[4, 8], 16), "dense.kernel has shape"),
            (cfg(&[4, 8, 8], 8), "conv2d_2.kernel"),
            (cfg(&[4], 8), "dense.kernel has shape [128, 8]"),
        ] {
            match Model::load_safetensors(&path, other) {
                Err(Error::Model { reason, .. }) => assert!(reason.contains(needle), "{reason}"),
                other => panic!("expected a model error, got {other:?}"),
            }
        }
    }

    #[test]
    fn truncated_and_garbage_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        Model::new(cfg(&[4], 8), 1)
            .unwrap()
            .save_safetensors(&path)
            .unwrap();
        let bytes = std::fs::read(&path).unwrap();
        for cut in [0, 4, 8, 40, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            assert!(
                matches!(
                    Model::load_safetensors(&path, cfg(&[4], 8)),
                    Err(Error::Model { .. })
                ),
                "cut at {cut}"
            );
        }
        std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7fjunk").unwrap();
        assert!(matches!(
            Model::load_safetensors(&path, cfg(&[4], 8)),
            Err(Error::Model { .. })
        ));
        assert!(matches!(
            Model::load_safetensors(dir.path().join("missing"), cfg(&[4], 8)),
            Err(Error::Io { .. })
        ));
    }
}
