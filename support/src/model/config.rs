//! [`ModelConfig`]: a model's input size and its list of [`Layer`]s, checked by a builder;
//! model files written before layer lists (the tutorial's blocks described by their sizes), or
//! with the learning rate that training options now own, still load.

use serde::{Deserialize, Serialize};

use super::layers::{Activation, Layer};
use crate::error::{Error, Result};

/// A model: grey `input_height x input_width` images through a list of Keras layers, the last
/// one the output `Dense` layer (one sigmoid unit for two classes, one softmax unit per class
/// for more). The architecture only: how it is trained (Adam's learning rate, its schedule)
/// belongs to [`FitOptions`](crate::training::FitOptions).
///
/// Build one with [`ModelConfig::builder`]: its block settings (`conv_filters`, `dense_units`,
/// ...) describe the tutorial's model, Conv(3x3, 'valid', ReLU) + MaxPool(2) blocks, then
/// Flatten, Dense + ReLU, Dropout and the output layer; [`ModelConfigBuilder::layers`] takes any
/// list instead. [`ModelConfig::default`] is the tutorial's model for 130x130 images (Conv 32,
/// 64, 64; Dense 128; dropout 0.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ConfigFile")]
pub struct ModelConfig {
    input_height: usize,
    input_width: usize,
    layers: Vec<Layer>,
}

/// `model.json`'s `config` as written today (`layers`) or before layer lists (the tutorial's
/// block sizes, and `classes` when not two). Files of format `xray-model/1` also record
/// `learning_rate`, which is a training setting: it is read and left out of the architecture
/// (a resumed checkpoint takes it as its training options' rate, see
/// [`crate::training::RunSettings`]).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    input_height: usize,
    input_width: usize,
    #[serde(default)]
    #[allow(dead_code)] // read so that format-1 files load; training owns the rate now
    learning_rate: Option<f32>,
    #[serde(default)]
    layers: Option<Vec<Layer>>,
    #[serde(default)]
    conv_filters: Option<Vec<usize>>,
    #[serde(default)]
    kernel_size: Option<usize>,
    #[serde(default)]
    pool_size: Option<usize>,
    #[serde(default)]
    dense_units: Option<usize>,
    #[serde(default)]
    dropout: Option<f32>,
    #[serde(default)]
    classes: Option<usize>,
}

impl TryFrom<ConfigFile> for ModelConfig {
    type Error = String;

    fn try_from(file: ConfigFile) -> std::result::Result<Self, String> {
        let layers = match (file.layers, file.conv_filters) {
            (Some(layers), None) => layers,
            (None, Some(filters)) => {
                let missing =
                    |what: &str| format!("a model written with conv_filters needs {what}");
                Layer::tutorial_blocks(
                    &filters,
                    file.kernel_size.ok_or_else(|| missing("kernel_size"))?,
                    file.pool_size.ok_or_else(|| missing("pool_size"))?,
                    file.dense_units.ok_or_else(|| missing("dense_units"))?,
                    file.dropout.ok_or_else(|| missing("dropout"))?,
                    file.classes.unwrap_or(2),
                )
            }
            (Some(_), Some(_)) => {
                return Err(
                    "a model configuration has either layers or conv_filters, not both".into(),
                )
            }
            (None, None) => return Err("a model configuration needs layers".into()),
        };
        Ok(ModelConfig {
            input_height: file.input_height,
            input_width: file.input_width,
            layers,
        })
    }
}

/// The tutorial's block sizes ([`ModelConfig::default`]).
const TUTORIAL_FILTERS: [usize; 3] = [32, 64, 64];
/// Units of the tutorial's hidden dense layer.
pub const DEFAULT_DENSE_UNITS: usize = 128;
/// The tutorial's dropout rate before the output layer.
pub const DEFAULT_DROPOUT: f32 = 0.5;

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            input_height: 130,
            input_width: 130,
            layers: Layer::tutorial_blocks(
                &TUTORIAL_FILTERS,
                3,
                2,
                DEFAULT_DENSE_UNITS,
                DEFAULT_DROPOUT,
                2,
            ),
        }
    }
}

impl ModelConfig {
    /// The configuration `xray train` uses by default, chosen on evidence over the tutorial's:
    /// 160x160 inputs, a fourth convolution block (Conv 32, 64, 128, 128), so the dense layer
    /// reads 8x8x128 features instead of 14x14x64 (1.3 M parameters instead of 1.66 M). It
    /// reached a higher test ROC AUC than the tutorial's model for every seed tried
    /// (`docs/experiments.md`); [`FitOptions`](crate::training::FitOptions)'s defaults say how
    /// it is trained.
    pub fn recommended() -> ModelConfig {
        ModelConfig {
            input_height: 160,
            input_width: 160,
            layers: Layer::tutorial_blocks(
                &[32, 64, 128, 128],
                3,
                2,
                DEFAULT_DENSE_UNITS,
                DEFAULT_DROPOUT,
                2,
            ),
        }
    }

    /// A builder starting from the tutorial's defaults.
    pub fn builder() -> ModelConfigBuilder {
        ModelConfigBuilder {
            input_height: 130,
            input_width: 130,
            blocks: Blocks::default(),
            blocks_set: None,
            layers: None,
            classes: None,
        }
    }

    /// A builder starting from this configuration (its layer list), e.g.
    /// `ModelConfig::recommended().to_builder().classes(3).build()?`.
    pub fn to_builder(&self) -> ModelConfigBuilder {
        ModelConfigBuilder {
            input_height: self.input_height,
            input_width: self.input_width,
            blocks: Blocks::default(),
            blocks_set: None,
            layers: Some(self.layers.clone()),
            classes: None,
        }
    }

    /// Input image height in pixels.
    pub fn input_height(&self) -> usize {
        self.input_height
    }
    /// Input image width in pixels.
    pub fn input_width(&self) -> usize {
        self.input_width
    }
    /// The layers, the output layer last.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
    /// Filters of each `Conv2D` layer, in order (residual blocks not counted).
    pub fn conv_filters(&self) -> Vec<usize> {
        self.layers
            .iter()
            .filter_map(|l| match l {
                Layer::Conv2D { filters, .. } => Some(*filters),
                _ => None,
            })
            .collect()
    }
    /// Units of the first hidden `Dense` layer, if there is one.
    pub fn dense_units(&self) -> Option<usize> {
        let hidden = &self.layers[..self.layers.len().saturating_sub(1)];
        hidden.iter().find_map(|l| match l {
            Layer::Dense { units, .. } => Some(*units),
            _ => None,
        })
    }
    /// Rate of the first `Dropout` layer, if there is one.
    pub fn dropout(&self) -> Option<f32> {
        self.layers.iter().find_map(|l| match l {
            Layer::Dropout { rate } => Some(*rate),
            _ => None,
        })
    }
    /// How many classes the model tells apart: 2 for a one-unit sigmoid output layer, else its
    /// units.
    pub fn classes(&self) -> usize {
        match self.layers.last() {
            Some(Layer::Dense { units: 1, .. }) | None => 2,
            Some(Layer::Dense { units, .. }) => *units,
            Some(_) => 2,
        }
    }
    /// Units of the output layer: 1 (a sigmoid logit) for two classes, else one per class
    /// (softmax logits), as a Keras user would build it.
    pub fn output_units(&self) -> usize {
        if self.classes() == 2 {
            1
        } else {
            self.classes()
        }
    }

    /// Checks every setting but the layers' fit to the input size (see `validate`).
    pub(crate) fn check_settings(&self) -> Result<()> {
        if self.input_height == 0
            || self.input_width == 0
            // Sizes come from files too (model.json): a product past usize must not overflow.
            || self
                .input_height
                .checked_mul(self.input_width)
                .is_none_or(|pixels| pixels > 4096 * 4096)
        {
            return Err(Error::invalid(
                "input size",
                format!("{}x{}", self.input_height, self.input_width),
                "1 to 4096 pixels per side",
            ));
        }
        Ok(())
    }
}

/// The tutorial's block settings a builder describes unless given a layer list.
#[derive(Clone, Debug)]
struct Blocks {
    conv_filters: Vec<usize>,
    kernel_size: usize,
    pool_size: usize,
    dense_units: usize,
    dropout: f32,
}

impl Default for Blocks {
    fn default() -> Self {
        Blocks {
            conv_filters: TUTORIAL_FILTERS.to_vec(),
            kernel_size: 3,
            pool_size: 2,
            dense_units: DEFAULT_DENSE_UNITS,
            dropout: DEFAULT_DROPOUT,
        }
    }
}

/// Builder for [`ModelConfig`]; [`build`](ModelConfigBuilder::build) validates.
#[derive(Clone, Debug)]
pub struct ModelConfigBuilder {
    input_height: usize,
    input_width: usize,
    blocks: Blocks,
    /// The first block setting called, to refuse mixing it with a layer list.
    blocks_set: Option<&'static str>,
    layers: Option<Vec<Layer>>,
    classes: Option<usize>,
}

impl ModelConfigBuilder {
    fn block(mut self, name: &'static str, set: impl FnOnce(&mut Blocks)) -> Self {
        set(&mut self.blocks);
        self.blocks_set.get_or_insert(name);
        self
    }
    /// Input image height and width in pixels (grey, one channel).
    pub fn input_size(mut self, height: usize, width: usize) -> Self {
        self.input_height = height;
        self.input_width = width;
        self
    }
    /// Filters of each Conv + ReLU + MaxPool block, in order (the tutorial: `[32, 64, 64]`).
    pub fn conv_filters(self, filters: &[usize]) -> Self {
        self.block("conv_filters", |b| b.conv_filters = filters.to_vec())
    }
    /// Side of the square convolution kernels of the blocks (default 3).
    pub fn kernel_size(self, k: usize) -> Self {
        self.block("kernel_size", |b| b.kernel_size = k)
    }
    /// Side and stride of the blocks' max-pooling windows (default 2).
    pub fn pool_size(self, k: usize) -> Self {
        self.block("pool_size", |b| b.pool_size = k)
    }
    /// Units of the hidden dense layer (default 128).
    pub fn dense_units(self, units: usize) -> Self {
        self.block("dense_units", |b| b.dense_units = units)
    }
    /// Dropout rate after the hidden dense layer (default 0.5).
    pub fn dropout(self, rate: f32) -> Self {
        self.block("dropout", |b| b.dropout = rate)
    }
    /// Any list of layers instead of the tutorial's blocks, the output `Dense` layer last (its
    /// units and activation follow [`classes`](Self::classes) when that is set).
    pub fn layers(mut self, layers: Vec<Layer>) -> Self {
        self.layers = Some(layers);
        self
    }
    /// How many classes: 2 (the default) gives one sigmoid output, 3 or more a softmax over
    /// one output per class (e.g. 3: normal, bacterial and viral pneumonia).
    pub fn classes(mut self, classes: usize) -> Self {
        self.classes = Some(classes);
        self
    }
    /// The configuration, or the first setting that is out of range or does not fit.
    pub fn build(self) -> Result<ModelConfig> {
        let classes = self.classes.unwrap_or(2);
        if !(2..=1000).contains(&classes) {
            return Err(Error::invalid("classes", classes, "2 to 1000"));
        }
        let layers = match self.layers {
            Some(mut layers) => {
                if let Some(name) = self.blocks_set {
                    return Err(Error::invalid(
                        name,
                        "set together with a layer list",
                        "either the tutorial's block settings or layers(...)",
                    ));
                }
                if let (Some(k), Some(Layer::Dense { activation, .. })) =
                    (self.classes, layers.last())
                {
                    if matches!(activation, Activation::Sigmoid | Activation::Softmax) {
                        *layers.last_mut().expect("a last layer") = Layer::output(k);
                    }
                }
                layers
            }
            None => {
                let b = &self.blocks;
                Layer::tutorial_blocks(
                    &b.conv_filters,
                    b.kernel_size,
                    b.pool_size,
                    b.dense_units,
                    b.dropout,
                    classes,
                )
            }
        };
        let config = ModelConfig {
            input_height: self.input_height,
            input_width: self.input_width,
            layers,
        };
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_tutorial_model() {
        let c = ModelConfig::builder().build().unwrap();
        assert_eq!(c, ModelConfig::default());
        assert_eq!(c.conv_filters(), vec![32, 64, 64]);
        assert_eq!((c.dense_units(), c.dropout()), (Some(128), Some(0.5)));
        // 130 -> conv 128 -> pool 64 -> 62 -> 31 -> 29 -> 14; 14 * 14 * 64 into the dense layer.
        assert_eq!(c.plan().unwrap().params[6].shape, vec![12544, 128]);
    }

    #[test]
    fn builder_rejects_bad_settings() {
        let b = ModelConfig::builder;
        assert!(b().dropout(1.0).build().is_err());
        assert!(b().dropout(-0.1).build().is_err());
        assert!(b().conv_filters(&[8, 0]).build().is_err());
        assert!(b().dense_units(0).build().is_err());
        assert!(b().kernel_size(0).build().is_err());
        // Three blocks need more than 10x10 pixels.
        let err = b().input_size(10, 10).build().unwrap_err().to_string();
        assert!(err.contains("layer"), "{err}");
        assert!(b().input_size(22, 22).build().is_ok());
        // Block settings and a layer list do not mix.
        let err = b()
            .dense_units(64)
            .layers(ModelConfig::default().layers().to_vec())
            .build()
            .unwrap_err()
            .to_string();
        assert!(err.contains("dense_units"), "{err}");
    }

    #[test]
    fn custom_sizes_change_the_flat_width() {
        let c = ModelConfig::builder()
            .input_size(64, 48)
            .conv_filters(&[8, 16])
            .dense_units(32)
            .build()
            .unwrap();
        // 64x48 -> 62x46 -> 31x23 -> 29x21 -> 14x10; 14 * 10 * 16
        assert_eq!(c.plan().unwrap().params[4].shape, vec![2240, 32]);
    }

    /// `model.json`'s `config` as the versions before layer lists wrote it.
    const OLD_THREE_CLASS_CONFIG: &str = r#"{"input_height":160,"input_width":160,
        "conv_filters":[32,64,128,128],"kernel_size":3,"pool_size":2,"dense_units":128,
        "dropout":0.5,"learning_rate":0.0003,"classes":3}"#;

    #[test]
    fn old_files_read_as_the_same_layers_and_new_files_store_the_list() {
        let old: ModelConfig = serde_json::from_str(OLD_THREE_CLASS_CONFIG).unwrap();
        // The recommended layers; the learning rate such files recorded is not architecture.
        let recommended_then = || ModelConfig::recommended().to_builder();
        assert_eq!(old, recommended_then().classes(3).build().unwrap());
        assert_eq!(old.output_units(), 3);
        let binary_text = OLD_THREE_CLASS_CONFIG.replace(r#","classes":3"#, "");
        let binary: ModelConfig = serde_json::from_str(&binary_text).unwrap();
        assert_eq!(binary, recommended_then().build().unwrap());
        assert_eq!((binary.classes(), binary.output_units()), (2, 1));
        let text = serde_json::to_string(&old).unwrap();
        assert!(text.contains(r#""class_name":"Conv2D""#), "{text}");
        assert!(!text.contains("conv_filters"), "{text}");
        assert!(!text.contains("learning_rate"), "{text}");
        let back: ModelConfig = serde_json::from_str(&text).unwrap();
        assert_eq!(back, old);
        // Half an old description, or both kinds at once, is refused.
        let partial = OLD_THREE_CLASS_CONFIG.replace(r#""dense_units":128,"#, "");
        assert!(serde_json::from_str::<ModelConfig>(&partial).is_err());
        let both = text.replace(r#""layers""#, r#""conv_filters":[8],"layers""#);
        assert!(serde_json::from_str::<ModelConfig>(&both).is_err());
        assert!(ModelConfig::builder().classes(1).build().is_err());
        // A key the configuration does not know is refused, naming it.
        let unknown = text.replace(r#""layers""#, r#""optimizer":"sgd","layers""#);
        let err = serde_json::from_str::<ModelConfig>(&unknown).unwrap_err();
        assert!(err.to_string().contains("optimizer"), "{err}");
    }

    #[test]
    fn the_configs_folder_holds_the_recommended_model_and_candidates_that_build() {
        let read = |text: &str| -> Vec<Layer> { serde_json::from_str(text).unwrap() };
        let recommended = read(include_str!("../../../configs/recommended.json"));
        assert_eq!(recommended, ModelConfig::recommended().layers());
        let tutorial = read(include_str!("../../../configs/tutorial.json"));
        assert_eq!(tutorial, ModelConfig::default().layers());
        for text in [
            include_str!("../../../configs/batchnorm.json"),
            include_str!("../../../configs/batchnorm_gap.json"),
            include_str!("../../../configs/batchnorm_residual.json"),
        ] {
            let config = ModelConfig::builder()
                .input_size(160, 160)
                .layers(read(text))
                .build()
                .unwrap();
            assert!(config.layers().contains(&Layer::batch_normalization()));
        }
    }
}
