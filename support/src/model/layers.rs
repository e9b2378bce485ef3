//! [`Layer`]: one layer of a model described as a list, in Keras's words and with Keras's
//! defaults, as `model.json` stores it (`{"class_name": "Conv2D", "config": {"filters": 32, ...}}`,
//! the shape of Keras's own `model.to_json()` entries).
//!
//! Reading one is strict: a key the layer does not know is refused, naming the key and the
//! layer, and so is a Keras setting the model would not apply (`"strides": 2`,
//! `"use_bias": false`), naming the setting and its value; silently dropping either would train
//! another model than the one described. Keras's own forms are read: square lists
//! (`"kernel_size": [3, 3]`), `Flatten` with an empty config, the defaults Keras writes out
//! (`"strides": [1, 1]`, `"kernel_initializer": "glorot_uniform"`, `"name"`, ...).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

use crate::ops::batch_norm::{DEFAULT_EPSILON, DEFAULT_MOMENTUM};
pub use crate::ops::conv::Padding;

/// What a layer applies to its output (Keras's `activation=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// None: the identity (Keras's default for `Conv2D` and `Dense`).
    #[default]
    Linear,
    /// `max(0, x)`.
    Relu,
    /// The output layer of a two-class model: one unit, the probability of class 1.
    Sigmoid,
    /// The output layer of a K-class model: one unit per class, probabilities summing to 1.
    Softmax,
}

impl Activation {
    /// Keras's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Relu => "relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Softmax => "softmax",
        }
    }
}

fn three() -> usize {
    3
}
fn two() -> usize {
    2
}
fn momentum() -> f32 {
    DEFAULT_MOMENTUM
}
fn epsilon() -> f32 {
    DEFAULT_EPSILON
}

/// One layer of a [`ModelConfig`](super::ModelConfig)'s list. Images are grey, channels last
/// (NHWC); the list ends with the output `Dense` layer (`sigmoid`, 1 unit, for two classes;
/// `softmax`, one unit per class, for more).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "class_name", content = "config")]
pub enum Layer {
    /// A 2-D convolution with square kernels and stride 1, biases on.
    Conv2D {
        /// Output channels.
        filters: usize,
        /// Side of the square kernel.
        kernel_size: usize,
        /// `valid` (the default: no padding, the image shrinks) or `same` (zero padding).
        padding: Padding,
        /// `linear` (the default) or `relu`.
        activation: Activation,
    },
    /// Max pooling over square windows moved by their own size.
    MaxPooling2D {
        /// Side of the window (default 2).
        pool_size: usize,
    },
    /// Batch normalisation over the channels (Ioffe & Szegedy, 2015): batch statistics while
    /// training, moving averages of them (saved with the weights) for prediction.
    BatchNormalization {
        /// Weight of the old value in the moving averages (default 0.99).
        momentum: f32,
        /// Added to the variance before the square root (default 0.001).
        epsilon: f32,
    },
    /// An activation on its own, e.g. after `BatchNormalization`.
    Activation {
        /// Only `relu` is useful here.
        activation: Activation,
    },
    /// Two `same` convolutions with as many filters as the input has channels, the first
    /// followed by ReLU, their result added to the input, then ReLU (He et al., 2016). Not a
    /// Keras layer: Keras builds it with the functional API and `Add`.
    ResidualBlock {
        /// Side of both square kernels (default 3).
        kernel_size: usize,
        /// Batch normalisation after each convolution (before the ReLU and the addition).
        batch_normalization: bool,
    },
    /// The mean of each channel over the image: `(h, w, c)` becomes `(c)`.
    GlobalAveragePooling2D,
    /// The image as one vector: `(h, w, c)` becomes `(h * w * c)`.
    Flatten,
    /// A fully connected layer with biases.
    Dense {
        /// Output units.
        units: usize,
        /// `linear` (the default) or `relu`; `sigmoid` or `softmax` for the output layer.
        activation: Activation,
    },
    /// Sets a fraction of the values to 0 while training (and scales the rest up to keep the
    /// sum); nothing at prediction.
    Dropout {
        /// The fraction dropped, in [0, 1).
        rate: f32,
    },
}

impl Layer {
    /// Keras's class name, e.g. `Conv2D`.
    pub fn class_name(&self) -> &'static str {
        match self {
            Layer::Conv2D { .. } => "Conv2D",
            Layer::MaxPooling2D { .. } => "MaxPooling2D",
            Layer::BatchNormalization { .. } => "BatchNormalization",
            Layer::Activation { .. } => "Activation",
            Layer::ResidualBlock { .. } => "ResidualBlock",
            Layer::GlobalAveragePooling2D => "GlobalAveragePooling2D",
            Layer::Flatten => "Flatten",
            Layer::Dense { .. } => "Dense",
            Layer::Dropout { .. } => "Dropout",
        }
    }

    /// The stem of Keras's layer names, its class name in snake case as Keras makes it (a word
    /// starts at a capital followed by a small letter): `conv2d`, `max_pooling2d`,
    /// `batch_normalization`, ...
    pub(crate) fn name_stem(&self) -> String {
        let chars: Vec<char> = self.class_name().chars().collect();
        let mut stem = String::new();
        for (i, &ch) in chars.iter().enumerate() {
            let starts_word =
                ch.is_ascii_uppercase() && chars.get(i + 1).is_some_and(char::is_ascii_lowercase);
            if i > 0 && starts_word {
                stem.push('_');
            }
            stem.push(ch.to_ascii_lowercase());
        }
        stem
    }

    /// `Conv2D(filters, kernel_size, activation)`, Keras's shorthand, with 'valid' padding.
    pub fn conv2d(filters: usize, kernel_size: usize, activation: Activation) -> Layer {
        Layer::Conv2D {
            filters,
            kernel_size,
            padding: Padding::Valid,
            activation,
        }
    }

    /// `MaxPooling2D(pool_size)`.
    pub fn max_pooling2d(pool_size: usize) -> Layer {
        Layer::MaxPooling2D { pool_size }
    }

    /// `BatchNormalization()` with Keras's defaults (momentum 0.99, epsilon 0.001).
    pub fn batch_normalization() -> Layer {
        Layer::BatchNormalization {
            momentum: momentum(),
            epsilon: epsilon(),
        }
    }

    /// `Dense(units, activation)`.
    pub fn dense(units: usize, activation: Activation) -> Layer {
        Layer::Dense { units, activation }
    }

    /// `Dropout(rate)`.
    pub fn dropout(rate: f32) -> Layer {
        Layer::Dropout { rate }
    }

    /// The output layer for `classes` classes: `Dense(1, sigmoid)` for two, else
    /// `Dense(classes, softmax)`.
    pub fn output(classes: usize) -> Layer {
        if classes == 2 {
            Layer::dense(1, Activation::Sigmoid)
        } else {
            Layer::dense(classes, Activation::Softmax)
        }
    }

    /// The tutorial's blocks: `Conv2D(f, k, relu)` and `MaxPooling2D(p)` for each `f` of
    /// `filters`, then `Flatten`, `Dense(dense_units, relu)`, `Dropout(dropout)` and the output
    /// layer for `classes`.
    pub fn tutorial_blocks(
        filters: &[usize],
        kernel_size: usize,
        pool_size: usize,
        dense_units: usize,
        dropout: f32,
        classes: usize,
    ) -> Vec<Layer> {
        let mut layers = Vec::with_capacity(2 * filters.len() + 4);
        for &f in filters {
            layers.push(Layer::conv2d(f, kernel_size, Activation::Relu));
            layers.push(Layer::max_pooling2d(pool_size));
        }
        layers.extend([
            Layer::Flatten,
            Layer::dense(dense_units, Activation::Relu),
            Layer::dropout(dropout),
            Layer::output(classes),
        ]);
        layers
    }
}

/// One entry of a layer list as written, before its settings are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    class_name: String,
    #[serde(default)]
    config: Option<Map<String, Value>>,
}

impl<'de> Deserialize<'de> for Layer {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entry = Entry::deserialize(deserializer)?;
        Layer::from_entry(&entry.class_name, entry.config.unwrap_or_default())
            .map_err(serde::de::Error::custom)
    }
}

/// Keys every Keras layer writes, accepted where their value changes nothing here.
const COMMON_KEYS: &[&str] = &["name", "trainable", "dtype"];
/// Keys of Keras's weighted layers that must keep their defaults.
const WEIGHT_KEYS: &[&str] = &[
    "use_bias",
    "kernel_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
];

/// The keys each layer class takes besides [`COMMON_KEYS`] (and [`WEIGHT_KEYS`] for `Conv2D`
/// and `Dense`); `None` for a class that is not a layer here.
fn known_keys(class_name: &str) -> Option<&'static [&'static str]> {
    Some(match class_name {
        "Conv2D" => &[
            "filters",
            "kernel_size",
            "strides",
            "padding",
            "data_format",
            "dilation_rate",
            "groups",
            "activation",
        ],
        "MaxPooling2D" => &["pool_size", "strides", "padding", "data_format"],
        "BatchNormalization" => &[
            "axis",
            "momentum",
            "epsilon",
            "center",
            "scale",
            "beta_initializer",
            "gamma_initializer",
            "moving_mean_initializer",
            "moving_variance_initializer",
            "beta_regularizer",
            "gamma_regularizer",
            "beta_constraint",
            "gamma_constraint",
        ],
        "Activation" => &["activation"],
        "ResidualBlock" => &["kernel_size", "batch_normalization"],
        "GlobalAveragePooling2D" => &["data_format", "keepdims"],
        "Flatten" => &["data_format"],
        "Dense" => &["units", "activation"],
        "Dropout" => &["rate", "noise_shape", "seed"],
        _ => return None,
    })
}

/// The layer classes, for a message.
const CLASS_NAMES: &str = "Conv2D, MaxPooling2D, BatchNormalization, Activation, ResidualBlock, \
    GlobalAveragePooling2D, Flatten, Dense, Dropout";

/// One layer's settings as read, taken one by one; errors name the layer, the key and the value.
struct Settings<'a> {
    layer: &'a str,
    map: Map<String, Value>,
}

/// `n` for `n` or Keras's square `[n, n]`.
fn square_of(value: &Value) -> Option<u64> {
    match value {
        Value::Array(sides) => match sides.as_slice() {
            [a, b] if a == b => a.as_u64(),
            _ => None,
        },
        other => other.as_u64(),
    }
}

/// Whether `value` names the initializer `name` (`"glorot_uniform"`, or Keras's
/// `{"class_name": "GlorotUniform", "config": {"seed": null}}`).
fn is_initializer(value: &Value, name: &str) -> bool {
    let plain = |s: &str| s.replace('_', "").to_ascii_lowercase();
    match value {
        Value::String(s) => plain(s) == plain(name),
        Value::Object(o) => {
            let seedless = match o.get("config") {
                None | Some(Value::Null) => true,
                Some(Value::Object(c)) => c.iter().all(|(k, v)| k == "seed" && v.is_null()),
                Some(_) => false,
            };
            o.get("class_name")
                .and_then(Value::as_str)
                .is_some_and(|c| plain(c) == plain(name))
                && seedless
        }
        _ => false,
    }
}

impl Settings<'_> {
    /// The value of `key`; a JSON `null` reads as absent (Keras writes it for "the default").
    fn take(&mut self, key: &str) -> Option<Value> {
        self.map.remove(key).filter(|v| !v.is_null())
    }

    fn error(&self, key: &str, value: &Value, expected: &str) -> String {
        format!("{}: {key} {value}: {expected}", self.layer)
    }

    fn required<T>(&self, key: &str, value: Option<T>) -> Result<T, String> {
        value.ok_or_else(|| format!("{}: {key} is required", self.layer))
    }

    fn usize(&mut self, key: &str) -> Result<Option<usize>, String> {
        self.take(key)
            .map(|v| match v.as_u64() {
                Some(n) => Ok(n as usize),
                None => Err(self.error(key, &v, "expected a whole number")),
            })
            .transpose()
    }

    /// A side given as `n` or `[n, n]`.
    fn square(&mut self, key: &str) -> Result<Option<usize>, String> {
        self.take(key)
            .map(|v| match square_of(&v) {
                Some(n) => Ok(n as usize),
                None => Err(self.error(
                    key,
                    &v,
                    "expected a whole number, or a square [n, n] (only square windows are supported)",
                )),
            })
            .transpose()
    }

    fn f32(&mut self, key: &str) -> Result<Option<f32>, String> {
        self.take(key)
            .map(|v| match v.as_f64() {
                Some(x) => Ok(x as f32),
                None => Err(self.error(key, &v, "expected a number")),
            })
            .transpose()
    }

    fn bool(&mut self, key: &str) -> Result<Option<bool>, String> {
        self.take(key)
            .map(|v| match v.as_bool() {
                Some(b) => Ok(b),
                None => Err(self.error(key, &v, "expected true or false")),
            })
            .transpose()
    }

    fn activation(&mut self) -> Result<Option<Activation>, String> {
        self.take("activation")
            .map(|v| {
                serde_json::from_value(v.clone()).map_err(|_| {
                    self.error(
                        "activation",
                        &v,
                        "expected linear, relu, sigmoid or softmax",
                    )
                })
            })
            .transpose()
    }

    fn padding(&mut self) -> Result<Option<Padding>, String> {
        self.take("padding")
            .map(|v| {
                serde_json::from_value(v.clone())
                    .map_err(|_| self.error("padding", &v, "expected valid or same"))
            })
            .transpose()
    }

    /// Accepts `key` when absent or when `accepted` holds for it; else an error saying that
    /// only `supported` is supported.
    fn only(
        &mut self,
        key: &str,
        accepted: impl Fn(&Value) -> bool,
        supported: &str,
    ) -> Result<(), String> {
        match self.take(key) {
            Some(v) if !accepted(&v) => {
                Err(self.error(key, &v, &format!("only {supported} is supported")))
            }
            _ => Ok(()),
        }
    }

    /// The keys every layer may carry: a name (the model names its layers as Keras does),
    /// `trainable: true`, `dtype: float32`, and for image layers `data_format: channels_last`.
    fn common(&mut self) -> Result<(), String> {
        if let Some(v) = self.take("name") {
            if !v.is_string() {
                return Err(self.error("name", &v, "expected a string"));
            }
        }
        self.only("trainable", |v| *v == Value::Bool(true), "true")?;
        self.only(
            "dtype",
            |v| {
                v.as_str() == Some("float32")
                    || v.pointer("/config/name") == Some(&Value::from("float32"))
            },
            "float32",
        )?;
        self.only(
            "data_format",
            |v| v.as_str() == Some("channels_last"),
            "channels_last",
        )
    }

    /// The defaults of a weighted layer's Keras settings: biases on, Glorot-uniform kernels,
    /// zero biases, no regularizers or constraints.
    fn weight_defaults(&mut self) -> Result<(), String> {
        self.only("use_bias", |v| *v == Value::Bool(true), "true")?;
        self.only(
            "kernel_initializer",
            |v| is_initializer(v, "glorot_uniform"),
            "glorot_uniform",
        )?;
        self.only("bias_initializer", |v| is_initializer(v, "zeros"), "zeros")?;
        for key in &WEIGHT_KEYS[3..] {
            self.only(key, |_| false, "none")?;
        }
        Ok(())
    }
}

impl Layer {
    /// The layer a list entry describes (see the module doc); the error names the layer, the
    /// key and the value.
    fn from_entry(class_name: &str, config: Map<String, Value>) -> Result<Layer, String> {
        let known = known_keys(class_name).ok_or_else(|| {
            format!("unknown layer class '{class_name}' (expected one of {CLASS_NAMES})")
        })?;
        let weighted = matches!(class_name, "Conv2D" | "Dense");
        let is_known = |key: &str| {
            known.contains(&key)
                || COMMON_KEYS.contains(&key)
                || (weighted && WEIGHT_KEYS.contains(&key))
        };
        if let Some(key) = config.keys().find(|k| !is_known(k.as_str())) {
            return Err(format!(
                "{class_name}: unknown key '{key}' (it takes {})",
                known.join(", ")
            ));
        }
        let mut s = Settings {
            layer: class_name,
            map: config,
        };
        s.common()?;
        if weighted {
            s.weight_defaults()?;
        }
        let square_one = |v: &Value| square_of(v) == Some(1);
        Ok(match class_name {
            "Conv2D" => {
                s.only("strides", square_one, "1")?;
                s.only("dilation_rate", square_one, "1")?;
                s.only("groups", |v| v.as_u64() == Some(1), "1")?;
                let filters = s.usize("filters")?;
                let kernel_size = s.square("kernel_size")?;
                Layer::Conv2D {
                    filters: s.required("filters", filters)?,
                    kernel_size: s.required("kernel_size", kernel_size)?,
                    padding: s.padding()?.unwrap_or_default(),
                    activation: s.activation()?.unwrap_or_default(),
                }
            }
            "MaxPooling2D" => {
                let pool_size = s.square("pool_size")?.unwrap_or_else(two);
                // The window moves by its own size, Keras's default.
                s.only(
                    "strides",
                    |v| square_of(v) == Some(pool_size as u64),
                    &format!("the pool size ({pool_size})"),
                )?;
                s.only("padding", |v| v.as_str() == Some("valid"), "valid")?;
                Layer::MaxPooling2D { pool_size }
            }
            "BatchNormalization" => {
                // Channels last: the last axis, however Keras wrote it.
                s.only(
                    "axis",
                    |v| {
                        let axis = |a: &Value| matches!(a.as_i64(), Some(-1 | 3));
                        axis(v) || v.as_array().is_some_and(|a| a.len() == 1 && axis(&a[0]))
                    },
                    "the channel axis (-1 or 3)",
                )?;
                s.only("center", |v| *v == Value::Bool(true), "true")?;
                s.only("scale", |v| *v == Value::Bool(true), "true")?;
                for (key, init) in [
                    ("beta_initializer", "zeros"),
                    ("gamma_initializer", "ones"),
                    ("moving_mean_initializer", "zeros"),
                    ("moving_variance_initializer", "ones"),
                ] {
                    s.only(key, |v| is_initializer(v, init), init)?;
                }
                for key in [
                    "beta_regularizer",
                    "gamma_regularizer",
                    "beta_constraint",
                    "gamma_constraint",
                ] {
                    s.only(key, |_| false, "none")?;
                }
                Layer::BatchNormalization {
                    momentum: s.f32("momentum")?.unwrap_or_else(momentum),
                    epsilon: s.f32("epsilon")?.unwrap_or_else(epsilon),
                }
            }
            "Activation" => {
                let activation = s.activation()?;
                Layer::Activation {
                    activation: s.required("activation", activation)?,
                }
            }
            "ResidualBlock" => Layer::ResidualBlock {
                kernel_size: s.square("kernel_size")?.unwrap_or_else(three),
                batch_normalization: s.bool("batch_normalization")?.unwrap_or(false),
            },
            "GlobalAveragePooling2D" => {
                s.only("keepdims", |v| *v == Value::Bool(false), "false")?;
                Layer::GlobalAveragePooling2D
            }
            "Flatten" => Layer::Flatten,
            "Dense" => {
                let units = s.usize("units")?;
                Layer::Dense {
                    units: s.required("units", units)?,
                    activation: s.activation()?.unwrap_or_default(),
                }
            }
            "Dropout" => {
                // Our dropout draws from the training seed; a layer seed would be ignored.
                s.only("noise_shape", |_| false, "none")?;
                s.only("seed", |_| false, "none")?;
                let rate = s.f32("rate")?;
                Layer::Dropout {
                    rate: s.required("rate", rate)?,
                }
            }
            _ => unreachable!("known_keys answers only for the classes above"),
        })
    }
}

/// Reads a JSON list of layers (the files in `configs/`, or the `layers` of Keras's
/// `model.to_json()`), each checked as [`Layer`]'s reading is: an error names the file, the
/// layer's position and class, the key and what was expected.
pub fn read_layers(path: impl AsRef<Path>) -> Result<Vec<Layer>> {
    let path = path.as_ref();
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let error = |layer: Option<usize>, reason: String| Error::LayerFile {
        path: path.to_path_buf(),
        layer,
        reason,
    };
    let entries: Vec<Value> = serde_json::from_str(&text).map_err(|e| {
        error(
            None,
            format!(
                "not a JSON list of layers, each {{\"class_name\": ..., \"config\": {{...}}}}: {e}"
            ),
        )
    })?;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, entry)| Layer::deserialize(entry).map_err(|e| error(Some(i + 1), e.to_string())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_read_and_write_keras_entries_with_keras_defaults() {
        let text = r#"[
            {"class_name": "Conv2D", "config": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
            {"class_name": "BatchNormalization", "config": {}},
            {"class_name": "MaxPooling2D", "config": {}},
            {"class_name": "ResidualBlock", "config": {"batch_normalization": true}},
            {"class_name": "GlobalAveragePooling2D"},
            {"class_name": "Dropout", "config": {"rate": 0.3}},
            {"class_name": "Dense", "config": {"units": 1, "activation": "sigmoid"}}
        ]"#;
        let layers: Vec<Layer> = serde_json::from_str(text).unwrap();
        assert_eq!(layers[0], Layer::conv2d(32, 3, Activation::Relu));
        assert_eq!(layers[1], Layer::batch_normalization());
        assert_eq!(layers[2], Layer::max_pooling2d(2));
        assert_eq!(
            layers[3],
            Layer::ResidualBlock {
                kernel_size: 3,
                batch_normalization: true
            }
        );
        assert_eq!(layers[4], Layer::GlobalAveragePooling2D);
        assert_eq!(layers[6], Layer::output(2));
        let back: Vec<Layer> =
            serde_json::from_str(&serde_json::to_string(&layers).unwrap()).unwrap();
        assert_eq!(back, layers);
        // A misspelt class or a missing required setting is refused.
        assert!(
            serde_json::from_str::<Layer>(r#"{"class_name": "Conv3D", "config": {}}"#).is_err()
        );
        assert!(serde_json::from_str::<Layer>(r#"{"class_name": "Dense", "config": {}}"#).is_err());
    }

    fn read(entry: &str) -> std::result::Result<Layer, String> {
        serde_json::from_str::<Layer>(entry).map_err(|e| e.to_string())
    }

    #[test]
    fn unknown_keys_and_settings_the_model_would_drop_are_refused_by_name() {
        let refusals = [
            (
                r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "strides": 2}}"#,
                "Conv2D: strides 2: only 1 is supported",
            ),
            (
                r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_sise": 3}}"#,
                "Conv2D: unknown key 'kernel_sise'",
            ),
            (
                r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": [3, 5]}}"#,
                "Conv2D: kernel_size [3,5]: expected a whole number, or a square [n, n]",
            ),
            (
                r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "use_bias": false}}"#,
                "Conv2D: use_bias false: only true is supported",
            ),
            (
                r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "dilation_rate": [2, 2]}}"#,
                "Conv2D: dilation_rate [2,2]: only 1 is supported",
            ),
            (
                r#"{"class_name": "Conv2D", "config": {"filters": 4, "kernel_size": 3, "data_format": "channels_first"}}"#,
                r#"Conv2D: data_format "channels_first": only channels_last is supported"#,
            ),
            (
                r#"{"class_name": "MaxPooling2D", "config": {"pool_size": 2, "strides": 1}}"#,
                "MaxPooling2D: strides 1: only the pool size (2) is supported",
            ),
            (
                r#"{"class_name": "MaxPooling2D", "config": {"padding": "same"}}"#,
                r#"MaxPooling2D: padding "same": only valid is supported"#,
            ),
            (
                r#"{"class_name": "Dense", "config": {"units": 4, "kernel_regularizer": {"class_name": "L2"}}}"#,
                "Dense: kernel_regularizer",
            ),
            (
                r#"{"class_name": "Dense", "config": {"units": "4"}}"#,
                r#"Dense: units "4": expected a whole number"#,
            ),
            (
                r#"{"class_name": "Dropout", "config": {"rate": 0.5, "seed": 3}}"#,
                "Dropout: seed 3: only none is supported",
            ),
            (
                r#"{"class_name": "Flatten", "config": {"units": 3}}"#,
                "Flatten: unknown key 'units'",
            ),
            (
                r#"{"class_name": "Dense", "config": {}}"#,
                "Dense: units is required",
            ),
            (
                r#"{"class_name": "Conv3D", "config": {}}"#,
                "unknown layer class 'Conv3D'",
            ),
        ];
        for (entry, expected) in refusals {
            let err = read(entry).unwrap_err();
            assert!(
                err.contains(expected),
                "{entry}: expected '{expected}' in: {err}"
            );
        }
    }

    #[test]
    fn keras_s_own_forms_are_read() {
        assert_eq!(
            read(
                r#"{"class_name": "Conv2D", "config": {"name": "conv2d", "trainable": true,
                    "dtype": "float32", "filters": 8, "kernel_size": [3, 3], "strides": [1, 1],
                    "padding": "same", "data_format": "channels_last", "dilation_rate": [1, 1],
                    "groups": 1, "activation": "relu", "use_bias": true,
                    "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
                    "bias_initializer": {"class_name": "Zeros", "config": {}},
                    "kernel_regularizer": null, "bias_regularizer": null,
                    "activity_regularizer": null, "kernel_constraint": null, "bias_constraint": null}}"#
            )
            .unwrap(),
            Layer::Conv2D {
                filters: 8,
                kernel_size: 3,
                padding: Padding::Same,
                activation: Activation::Relu
            }
        );
        let pool = r#"{"class_name": "MaxPooling2D", "config": {"pool_size": [2, 2], "strides": [2, 2], "padding": "valid"}}"#;
        assert_eq!(read(pool).unwrap(), Layer::max_pooling2d(2));
        assert_eq!(
            read(r#"{"class_name": "MaxPooling2D", "config": {"pool_size": 3, "strides": null}}"#)
                .unwrap(),
            Layer::max_pooling2d(3)
        );
        assert_eq!(
            read(r#"{"class_name": "Flatten", "config": {}}"#).unwrap(),
            Layer::Flatten
        );
        assert_eq!(
            read(r#"{"class_name": "Flatten"}"#).unwrap(),
            Layer::Flatten
        );
        assert_eq!(
            read(r#"{"class_name": "BatchNormalization", "config": {"axis": [3], "center": true, "scale": true, "gamma_initializer": "ones"}}"#)
                .unwrap(),
            Layer::batch_normalization()
        );
        assert_eq!(
            read(r#"{"class_name": "Dropout", "config": {"rate": 0.25, "noise_shape": null, "seed": null}}"#)
                .unwrap(),
            Layer::dropout(0.25)
        );
    }

    #[test]
    fn layer_files_name_the_file_and_the_layer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("layers.json");
        std::fs::write(
            &path,
            r#"[{"class_name": "Flatten"}, {"class_name": "Dense", "config": {"units": 1, "bias": 0}}]"#,
        )
        .unwrap();
        let err = read_layers(&path).unwrap_err();
        assert!(
            matches!(&err, Error::LayerFile { layer: Some(2), .. }),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains("layer 2: Dense: unknown key 'bias'"),
            "{err}"
        );
        std::fs::write(&path, r#"{"class_name": "Flatten"}"#).unwrap();
        assert!(matches!(
            read_layers(&path),
            Err(Error::LayerFile { layer: None, .. })
        ));
    }

    #[test]
    fn the_tutorial_blocks_are_keras_s_sequential_model() {
        let names: Vec<&str> = Layer::tutorial_blocks(&[32, 64], 3, 2, 128, 0.5, 3)
            .iter()
            .map(Layer::class_name)
            .collect();
        assert_eq!(
            names,
            [
                "Conv2D",
                "MaxPooling2D",
                "Conv2D",
                "MaxPooling2D",
                "Flatten",
                "Dense",
                "Dropout",
                "Dense"
            ]
        );
        assert_eq!(Layer::output(3), Layer::dense(3, Activation::Softmax));
        let stems: Vec<String> = [
            Layer::conv2d(1, 3, Activation::Relu),
            Layer::max_pooling2d(2),
            Layer::batch_normalization(),
            Layer::GlobalAveragePooling2D,
            Layer::ResidualBlock {
                kernel_size: 3,
                batch_normalization: false,
            },
            Layer::Flatten,
        ]
        .iter()
        .map(Layer::name_stem)
        .collect();
        assert_eq!(
            stems,
            [
                "conv2d",
                "max_pooling2d",
                "batch_normalization",
                "global_average_pooling2d",
                "residual_block",
                "flatten"
            ]
        );
    }
}
