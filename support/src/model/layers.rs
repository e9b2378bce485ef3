//! [`Layer`]: one layer of a model described as a list, in Keras's words and with Keras's
//! defaults, as `model.json` stores it (`{"class_name": "Conv2D", "config": {"filters": 32, ...}}`,
//! the shape of Keras's own `model.to_json()` entries).

use serde::{Deserialize, Serialize};

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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
pub enum Layer {
    /// A 2-D convolution with square kernels and stride 1, biases on.
    Conv2D {
        /// Output channels.
        filters: usize,
        /// Side of the square kernel.
        kernel_size: usize,
        /// `valid` (the default: no padding, the image shrinks) or `same` (zero padding).
        #[serde(default)]
        padding: Padding,
        /// `linear` (the default) or `relu`.
        #[serde(default)]
        activation: Activation,
    },
    /// Max pooling over square windows moved by their own size.
    MaxPooling2D {
        /// Side of the window (default 2).
        #[serde(default = "two")]
        pool_size: usize,
    },
    /// Batch normalisation over the channels (Ioffe & Szegedy, 2015): batch statistics while
    /// training, moving averages of them (saved with the weights) for prediction.
    BatchNormalization {
        /// Weight of the old value in the moving averages (default 0.99).
        #[serde(default = "momentum")]
        momentum: f32,
        /// Added to the variance before the square root (default 0.001).
        #[serde(default = "epsilon")]
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
        #[serde(default = "three")]
        kernel_size: usize,
        /// Batch normalisation after each convolution (before the ReLU and the addition).
        #[serde(default)]
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
        #[serde(default)]
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
