//! [`Plan`]: a [`ModelConfig`]'s layer list compiled for its input size, checked layer by layer:
//! the steps the forward pass runs (a `Conv2D` followed by `MaxPooling2D` becomes one fused
//! step), the names, shapes and initial values of the weights, and the rows of the summary.

use super::config::ModelConfig;
use super::layers::{Activation, Layer};
use crate::error::{Error, Result};
use crate::ops::batch_norm::{DEFAULT_EPSILON, DEFAULT_MOMENTUM};
use crate::ops::conv::{ConvGeometry, ConvSpec, Padding};
use crate::ops::pool::PoolSpec;

/// The most memory a model may ask for, in bytes: 8 GiB for its weights while training (each
/// trainable array five times over: the values, their gradient, Adam's two moments and the
/// moving average) plus one batch's activations (kept for the backward pass, and their
/// gradients). What a laptop can spare; a model past it is a mistake (a Dense layer on an
/// unpooled image) and is refused by its plan, before anything is allocated, instead of
/// aborting in the allocator.
pub const MEMORY_BUDGET_BYTES: u64 = 8 << 30;

/// Copies of each trainable weight array training keeps (see [`MEMORY_BUDGET_BYTES`]).
const TRAINABLE_COPIES: u128 = 5;

/// The shape of one image's activations between two layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Height, width, channels.
    Image(usize, usize, usize),
    /// A vector of features.
    Flat(usize),
}

impl Shape {
    /// Values per image.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Image(h, w, c) => h * w * c,
            Shape::Flat(n) => n,
        }
    }

    /// Channels: the last axis, which batch normalisation works along.
    pub fn channels(&self) -> usize {
        match *self {
            Shape::Image(_, _, c) => c,
            Shape::Flat(n) => n,
        }
    }

    /// Keras's notation, `(None, 78, 78, 32)`.
    pub fn describe(&self) -> String {
        match self {
            Shape::Image(h, w, c) => format!("(None, {h}, {w}, {c})"),
            Shape::Flat(n) => format!("(None, {n})"),
        }
    }
}

/// How a weight array starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Init {
    /// Glorot uniform (Keras's default for kernels): uniform in `±sqrt(6 / (fan_in + fan_out))`.
    Glorot { fan_in: usize, fan_out: usize },
    /// Biases, batch normalisation's `beta` and `moving_mean`.
    Zeros,
    /// Batch normalisation's `gamma` and `moving_variance`.
    Ones,
}

/// One weight array of the plan.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

/// A convolution with its activation and an optional max pooling, as one fused op.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ConvStep {
    pub spec: ConvSpec,
    /// `PoolSpec::square(1)` when no pooling follows.
    pub pool: PoolSpec,
    pub relu: bool,
    /// Indices of the kernel and bias in the weights.
    pub kernel: usize,
    pub bias: usize,
}

/// Batch normalisation: indices of `gamma`, `beta`, `moving_mean`, `moving_variance`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct NormStep {
    pub gamma: usize,
    pub beta: usize,
    pub mean: usize,
    pub variance: usize,
    pub momentum: f32,
    pub epsilon: f32,
}

/// What the forward pass does, in order.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Step {
    Conv(ConvStep),
    MaxPool(PoolSpec),
    Norm(NormStep),
    Relu,
    /// `relu(x + n2(conv2(relu(n1(conv1(x))))))`, `n1`/`n2` batch normalisation when present.
    Residual {
        first: ConvStep,
        second: ConvStep,
        norms: Option<(NormStep, NormStep)>,
    },
    GlobalAveragePool,
    Flatten,
    /// A dense layer; `relu` false for linear layers and for the output layer's logits.
    Dense {
        kernel: usize,
        bias: usize,
        units: usize,
        relu: bool,
    },
    /// Dropout of `rate` over `len` values per image.
    Dropout {
        rate: f32,
        len: usize,
    },
}

/// One row of [`Model::summary`](super::Model::summary).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct SummaryRow {
    pub name: String,
    pub class_name: &'static str,
    pub output: Shape,
    pub params: usize,
}

/// A configuration compiled for its input size (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    pub params: Vec<ParamSpec>,
    pub rows: Vec<SummaryRow>,
}

/// Whether a weight array is trained by the optimiser: all but batch normalisation's moving
/// statistics (Keras's non-trainable weights), which the forward pass updates.
pub(crate) fn is_trainable(name: &str) -> bool {
    !(name.ends_with(".moving_mean") || name.ends_with(".moving_variance"))
}

/// Keras's name for the `i`-th layer of a kind: `conv2d`, `conv2d_1`, ...
pub(crate) fn keras_name(base: &str, i: usize) -> String {
    if i == 0 {
        base.to_string()
    } else {
        format!("{base}_{i}")
    }
}

/// Counts the layers of each kind as they are named.
#[derive(Default)]
struct Names(std::collections::HashMap<String, usize>);

impl Names {
    fn next(&mut self, stem: String) -> String {
        let i = self.0.entry(stem.clone()).or_insert(0);
        *i += 1;
        keras_name(&stem, *i - 1)
    }
}

/// The error for layer `index` (0-based, printed 1-based) of `layer` class.
fn layer_error(
    index: usize,
    layer: &Layer,
    value: impl std::fmt::Display,
    expected: impl Into<String>,
) -> Error {
    Error::invalid(
        "layers",
        format!("layer {} ({}) with {value}", index + 1, layer.class_name()),
        expected,
    )
}

/// The plan under construction: weights and rows so far.
struct Builder {
    params: Vec<ParamSpec>,
    rows: Vec<SummaryRow>,
    names: Names,
}

impl Builder {
    fn param(&mut self, name: String, shape: Vec<usize>, init: Init) -> usize {
        self.params.push(ParamSpec { name, shape, init });
        self.params.len() - 1
    }

    /// A row for `layer` under its next Keras name.
    fn named_row(&mut self, layer: &Layer, output: Shape, params: usize) {
        let name = self.names.next(layer.name_stem());
        self.row(name, layer.class_name(), output, params);
    }

    fn row(&mut self, name: String, class_name: &'static str, output: Shape, params: usize) {
        self.rows.push(SummaryRow {
            name,
            class_name,
            output,
            params,
        });
    }

    /// The weights of a convolution named `name` from `c` channels to `filters`.
    fn conv_params(&mut self, name: &str, k: usize, c: usize, filters: usize) -> (usize, usize) {
        let kernel = self.param(
            format!("{name}.kernel"),
            vec![k, k, c, filters],
            Init::Glorot {
                fan_in: k * k * c,
                fan_out: k * k * filters,
            },
        );
        let bias = self.param(format!("{name}.bias"), vec![filters], Init::Zeros);
        (kernel, bias)
    }

    /// The weights of a batch normalisation named `name` over `c` channels.
    fn norm_params(&mut self, name: &str, c: usize, momentum: f32, epsilon: f32) -> NormStep {
        NormStep {
            gamma: self.param(format!("{name}.gamma"), vec![c], Init::Ones),
            beta: self.param(format!("{name}.beta"), vec![c], Init::Zeros),
            mean: self.param(format!("{name}.moving_mean"), vec![c], Init::Zeros),
            variance: self.param(format!("{name}.moving_variance"), vec![c], Init::Ones),
            momentum,
            epsilon,
        }
    }
}

/// Checks a convolution's settings and its fit on `shape`; its geometry.
fn conv_geometry(
    index: usize,
    layer: &Layer,
    shape: Shape,
    spec: &ConvSpec,
) -> Result<ConvGeometry> {
    let Shape::Image(h, w, c) = shape else {
        return Err(layer_error(
            index,
            layer,
            "a flat input",
            "an image (put it before Flatten)",
        ));
    };
    if spec.filters == 0 || spec.filters > 4096 {
        return Err(layer_error(
            index,
            layer,
            format!("{} filters", spec.filters),
            "1 to 4096 filters",
        ));
    }
    if spec.kernel.0 == 0 || spec.kernel.0 > 15 {
        return Err(layer_error(
            index,
            layer,
            format!("kernel_size {}", spec.kernel.0),
            "1 to 15",
        ));
    }
    ConvGeometry::new(h, w, c, spec).map_err(|_| {
        layer_error(
            index,
            layer,
            format!("a {h}x{w} input"),
            format!(
                "at least {0}x{0} for its kernel (a larger input size or fewer layers)",
                spec.kernel.0
            ),
        )
    })
}

fn check_norm(index: usize, layer: &Layer, momentum: f32, epsilon: f32) -> Result<()> {
    if !(momentum.is_finite() && (0.0..1.0).contains(&momentum)) {
        return Err(layer_error(
            index,
            layer,
            format!("momentum {momentum}"),
            "a number in [0, 1)",
        ));
    }
    if !(epsilon.is_finite() && epsilon > 0.0) {
        return Err(layer_error(
            index,
            layer,
            format!("epsilon {epsilon}"),
            "a finite number above 0",
        ));
    }
    Ok(())
}

impl Plan {
    /// Compiles `config`'s layers for its input size (see the module documentation).
    pub(crate) fn new(config: &ModelConfig) -> Result<Plan> {
        let layers = config.layers();
        let Some(last) = layers.last() else {
            return Err(Error::invalid(
                "layers",
                "[]",
                "at least the output Dense layer",
            ));
        };
        match last {
            Layer::Dense {
                units: 1,
                activation: Activation::Sigmoid,
            } => {}
            Layer::Dense {
                units,
                activation: Activation::Softmax,
            } if (3..=1000).contains(units) => {}
            _ => {
                return Err(layer_error(
                    layers.len() - 1,
                    last,
                    "the last layer",
                    "the output layer: Dense(1, sigmoid) for two classes, Dense(K, softmax) for K = 3 to 1000",
                ))
            }
        }
        let mut b = Builder {
            params: vec![],
            rows: vec![],
            names: Names::default(),
        };
        let mut steps = vec![];
        let mut shape = Shape::Image(config.input_height(), config.input_width(), 1);
        let mut i = 0;
        while i < layers.len() {
            let layer = &layers[i];
            let output_layer = i + 1 == layers.len();
            match layer {
                Layer::Conv2D {
                    filters,
                    kernel_size,
                    padding,
                    activation,
                } => {
                    if !matches!(activation, Activation::Linear | Activation::Relu) {
                        return Err(layer_error(
                            i,
                            layer,
                            format!("activation {}", activation.name()),
                            "linear or relu",
                        ));
                    }
                    let spec = ConvSpec::new((*kernel_size, *kernel_size), *filters, 1, *padding);
                    let g = conv_geometry(i, layer, shape, &spec)?;
                    let name = b.names.next(layer.name_stem());
                    let (kernel, bias) = b.conv_params(&name, *kernel_size, g.in_c, *filters);
                    let conv_out = Shape::Image(g.out_h, g.out_w, *filters);
                    b.row(name, layer.class_name(), conv_out, g.kernel_len() + filters);
                    shape = conv_out;
                    let mut pool = PoolSpec::square(1);
                    // A pooling right after the convolution runs inside the same op.
                    if let Some(next @ Layer::MaxPooling2D { pool_size }) = layers.get(i + 1) {
                        pool = Self::pool(i + 1, next, *pool_size)?;
                        shape = Self::pooled(i + 1, next, &pool, shape)?;
                        let name = b.names.next(next.name_stem());
                        b.row(name, next.class_name(), shape, 0);
                        i += 1;
                    }
                    steps.push(Step::Conv(ConvStep {
                        spec,
                        pool,
                        relu: *activation == Activation::Relu,
                        kernel,
                        bias,
                    }));
                }
                Layer::MaxPooling2D { pool_size } => {
                    let pool = Self::pool(i, layer, *pool_size)?;
                    shape = Self::pooled(i, layer, &pool, shape)?;
                    b.named_row(layer, shape, 0);
                    steps.push(Step::MaxPool(pool));
                }
                Layer::BatchNormalization { momentum, epsilon } => {
                    check_norm(i, layer, *momentum, *epsilon)?;
                    let name = b.names.next(layer.name_stem());
                    let c = shape.channels();
                    steps.push(Step::Norm(b.norm_params(&name, c, *momentum, *epsilon)));
                    b.row(name, layer.class_name(), shape, 4 * c);
                }
                Layer::Activation { activation } => {
                    if *activation != Activation::Relu {
                        return Err(layer_error(i, layer, activation.name(), "relu"));
                    }
                    b.named_row(layer, shape, 0);
                    steps.push(Step::Relu);
                }
                Layer::ResidualBlock {
                    kernel_size,
                    batch_normalization,
                } => {
                    let c = match shape {
                        Shape::Image(_, _, c) => c,
                        Shape::Flat(_) => 0,
                    };
                    let spec = ConvSpec::new((*kernel_size, *kernel_size), c, 1, Padding::Same);
                    conv_geometry(i, layer, shape, &spec)?;
                    let block = b.names.next(layer.name_stem());
                    let before = b.params.len();
                    let conv = |b: &mut Builder, name: &str, relu: bool| {
                        let (kernel, bias) =
                            b.conv_params(&format!("{block}.{name}"), *kernel_size, c, c);
                        ConvStep {
                            spec,
                            pool: PoolSpec::square(1),
                            relu,
                            kernel,
                            bias,
                        }
                    };
                    let bn = *batch_normalization;
                    // With batch normalisation the ReLU comes after it, so the convolution is linear.
                    let first = conv(&mut b, "conv2d", !bn);
                    let norm1 = bn.then(|| {
                        b.norm_params(
                            &format!("{block}.batch_normalization"),
                            c,
                            DEFAULT_MOMENTUM,
                            DEFAULT_EPSILON,
                        )
                    });
                    let second = conv(&mut b, "conv2d_1", false);
                    let norm2 = bn.then(|| {
                        b.norm_params(
                            &format!("{block}.batch_normalization_1"),
                            c,
                            DEFAULT_MOMENTUM,
                            DEFAULT_EPSILON,
                        )
                    });
                    let count = b.params[before..]
                        .iter()
                        .map(|p| p.shape.iter().product::<usize>())
                        .sum();
                    b.row(block, layer.class_name(), shape, count);
                    steps.push(Step::Residual {
                        first,
                        second,
                        norms: norm1.zip(norm2),
                    });
                }
                Layer::GlobalAveragePooling2D | Layer::Flatten => {
                    let Shape::Image(h, w, c) = shape else {
                        return Err(layer_error(i, layer, "a flat input", "an image"));
                    };
                    shape = if *layer == Layer::Flatten {
                        steps.push(Step::Flatten);
                        Shape::Flat(h * w * c)
                    } else {
                        steps.push(Step::GlobalAveragePool);
                        Shape::Flat(c)
                    };
                    b.named_row(layer, shape, 0);
                }
                Layer::Dense { units, activation } => {
                    let Shape::Flat(n) = shape else {
                        return Err(layer_error(
                            i,
                            layer,
                            "an image input",
                            "a flat input (put Flatten or GlobalAveragePooling2D before it)",
                        ));
                    };
                    if *units == 0 || *units > 65536 {
                        return Err(layer_error(
                            i,
                            layer,
                            format!("{units} units"),
                            "1 to 65536",
                        ));
                    }
                    if !output_layer && !matches!(activation, Activation::Linear | Activation::Relu)
                    {
                        return Err(layer_error(
                            i,
                            layer,
                            format!("activation {}", activation.name()),
                            "linear or relu (sigmoid and softmax belong to the output layer)",
                        ));
                    }
                    let name = b.names.next(layer.name_stem());
                    let kernel = b.param(
                        format!("{name}.kernel"),
                        vec![n, *units],
                        Init::Glorot {
                            fan_in: n,
                            fan_out: *units,
                        },
                    );
                    let bias = b.param(format!("{name}.bias"), vec![*units], Init::Zeros);
                    shape = Shape::Flat(*units);
                    b.row(name, layer.class_name(), shape, n * units + units);
                    steps.push(Step::Dense {
                        kernel,
                        bias,
                        units: *units,
                        relu: *activation == Activation::Relu,
                    });
                }
                Layer::Dropout { rate } => {
                    if !(0.0..1.0).contains(rate) {
                        return Err(layer_error(
                            i,
                            layer,
                            format!("rate {rate}"),
                            "a rate in [0, 1)",
                        ));
                    }
                    b.named_row(layer, shape, 0);
                    steps.push(Step::Dropout {
                        rate: *rate,
                        len: shape.len(),
                    });
                }
            }
            i += 1;
        }
        let plan = Plan {
            steps,
            params: b.params,
            rows: b.rows,
        };
        // Training one image at a time is the least a model asks for.
        plan.check_memory(config, 1)?;
        Ok(plan)
    }

    /// The bytes of weights training keeps: every trainable array [`TRAINABLE_COPIES`] times,
    /// the moving statistics once.
    fn weight_bytes(&self) -> u128 {
        self.params
            .iter()
            .map(|p| {
                let values = p.shape.iter().map(|&d| d as u128).product::<u128>();
                values
                    * if is_trainable(&p.name) {
                        TRAINABLE_COPIES
                    } else {
                        1
                    }
            })
            .sum::<u128>()
            * 4
    }

    /// An estimate of the bytes training `config` at `batch` images per step needs: the
    /// weights' and, for every image, its input and every layer's output, with their gradients.
    fn training_bytes(&self, config: &ModelConfig, batch: usize) -> u128 {
        let per_image = (config.input_height() * config.input_width()) as u128
            + self
                .rows
                .iter()
                .map(|r| r.output.len() as u128)
                .sum::<u128>();
        self.weight_bytes() + 2 * 4 * per_image * batch as u128
    }

    /// Refuses with [`Error::MemoryBudget`] a model whose training at `batch` images per step
    /// would need more than [`MEMORY_BUDGET_BYTES`].
    fn check_memory(&self, config: &ModelConfig, batch: usize) -> Result<()> {
        let needed = self.training_bytes(config, batch);
        if needed <= u128::from(MEMORY_BUDGET_BYTES) {
            return Ok(());
        }
        let largest = self
            .params
            .iter()
            .max_by_key(|p| p.shape.iter().map(|&d| d as u128).product::<u128>())
            .map(|p| format!("{} {:?}", p.name, p.shape))
            .unwrap_or_default();
        let clamp = |bytes: u128| u64::try_from(bytes).unwrap_or(u64::MAX);
        Err(Error::MemoryBudget {
            batch,
            needed_bytes: clamp(needed),
            weight_bytes: clamp(self.weight_bytes()),
            largest,
            budget_bytes: MEMORY_BUDGET_BYTES,
        })
    }

    fn pool(index: usize, layer: &Layer, size: usize) -> Result<PoolSpec> {
        if size == 0 || size > 8 {
            return Err(layer_error(
                index,
                layer,
                format!("pool_size {size}"),
                "1 to 8",
            ));
        }
        Ok(PoolSpec::square(size))
    }

    fn pooled(index: usize, layer: &Layer, pool: &PoolSpec, shape: Shape) -> Result<Shape> {
        let Shape::Image(h, w, c) = shape else {
            return Err(layer_error(index, layer, "a flat input", "an image"));
        };
        let (ph, pw) = pool.output_size(h, w).map_err(|_| {
            layer_error(
                index,
                layer,
                format!("a {h}x{w} input"),
                format!(
                    "at least its {0}x{0} window (a larger input size or fewer layers)",
                    pool.size.0
                ),
            )
        })?;
        Ok(Shape::Image(ph, pw, c))
    }

    /// Number of weights, trainable ones first.
    pub(crate) fn count(&self) -> (usize, usize) {
        let mut trainable = 0;
        let mut fixed = 0;
        for p in &self.params {
            let n: usize = p.shape.iter().product();
            if is_trainable(&p.name) {
                trainable += n;
            } else {
                fixed += n;
            }
        }
        (trainable, fixed)
    }
}

impl ModelConfig {
    /// The layers compiled for this input size: the steps of the forward pass, the weights'
    /// names and shapes, the summary rows; errors name the first layer that does not fit.
    pub(crate) fn plan(&self) -> Result<Plan> {
        Plan::new(self)
    }

    /// Checks every setting, that the layers fit the input size, and that training one image
    /// at a time fits [`MEMORY_BUDGET_BYTES`].
    pub fn validate(&self) -> Result<()> {
        self.check_settings()?;
        self.plan().map(|_| ())
    }

    /// Refuses with [`Error::MemoryBudget`] a model whose training at `batch` images per step
    /// would need more than [`MEMORY_BUDGET_BYTES`] (weights and the batch's activations).
    pub fn check_memory(&self, batch: usize) -> Result<()> {
        self.check_settings()?;
        self.plan()?.check_memory(self, batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tutorial_model_compiles_to_fused_blocks_with_keras_names_and_shapes() {
        let plan = ModelConfig::default().plan().unwrap();
        let convs = plan
            .steps
            .iter()
            .filter(|s| matches!(s, Step::Conv(c) if c.pool == PoolSpec::square(2) && c.relu))
            .count();
        assert_eq!(convs, 3);
        let names: Vec<&str> = plan.params.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "conv2d.kernel",
                "conv2d.bias",
                "conv2d_1.kernel",
                "conv2d_1.bias",
                "conv2d_2.kernel",
                "conv2d_2.bias",
                "dense.kernel",
                "dense.bias",
                "dense_1.kernel",
                "dense_1.bias"
            ]
        );
        assert_eq!(plan.params[6].shape, vec![12544, 128]);
        assert_eq!(plan.rows[5].output, Shape::Image(14, 14, 64));
        assert_eq!(plan.count(), (1_661_633, 0));
    }

    #[test]
    fn batch_normalisation_residual_blocks_and_global_pooling_compile() {
        let config = ModelConfig::builder()
            .input_size(32, 32)
            .layers(vec![
                Layer::conv2d(8, 3, Activation::Relu),
                Layer::max_pooling2d(2),
                Layer::batch_normalization(),
                Layer::ResidualBlock {
                    kernel_size: 3,
                    batch_normalization: true,
                },
                Layer::GlobalAveragePooling2D,
                Layer::dense(4, Activation::Relu),
                Layer::batch_normalization(),
                Layer::dropout(0.2),
                Layer::output(3),
            ])
            .build()
            .unwrap();
        let plan = config.plan().unwrap();
        let kinds: Vec<&str> = plan.rows.iter().map(|r| r.class_name).collect();
        assert_eq!(
            kinds,
            [
                "Conv2D",
                "MaxPooling2D",
                "BatchNormalization",
                "ResidualBlock",
                "GlobalAveragePooling2D",
                "Dense",
                "BatchNormalization",
                "Dropout",
                "Dense"
            ]
        );
        assert_eq!(plan.rows[3].output, Shape::Image(15, 15, 8));
        // Two 3x3x8x8 convolutions with biases and two batch normalisations of 8 channels.
        assert_eq!(plan.rows[3].params, 2 * (9 * 64 + 8) + 2 * 32);
        assert_eq!(plan.rows[4].output, Shape::Flat(8));
        assert!(plan
            .params
            .iter()
            .any(|p| p.name == "residual_block.batch_normalization_1.moving_variance"));
        assert!(plan
            .params
            .iter()
            .any(|p| p.name == "batch_normalization_1.gamma"));
        // Moving statistics: 8 + 8 + 8 + 4 channels, two arrays each.
        assert_eq!(plan.count().1, 2 * (8 + 8 + 8 + 4));
        assert_eq!(config.classes(), 3);
    }

    #[test]
    fn a_model_past_the_memory_budget_is_refused_before_any_allocation() {
        // A 65536-unit Dense layer on an unpooled 1024x1024 image: 2^36 weights, 256 GiB.
        let huge = ModelConfig::builder()
            .input_size(1024, 1024)
            .layers(vec![
                Layer::Flatten,
                Layer::dense(65536, Activation::Relu),
                Layer::output(2),
            ])
            .build();
        let err = huge.unwrap_err();
        let Error::MemoryBudget {
            batch,
            weight_bytes,
            ref largest,
            ..
        } = err
        else {
            panic!("expected a memory budget error, got {err}");
        };
        assert_eq!(batch, 1);
        assert_eq!(weight_bytes, 5 * 4 * ((1 << 36) + 65536 + 65536 + 1));
        assert_eq!(largest, "dense.kernel [1048576, 65536]");
        let text = err.to_string();
        assert!(
            text.contains("1280.0 GiB") && text.contains("8 GiB"),
            "{text}"
        );
        // The recommended model fits at the batch sizes training uses, not at any.
        let recommended = ModelConfig::recommended();
        recommended.check_memory(32).unwrap();
        let err = recommended.check_memory(1 << 16).unwrap_err();
        assert!(
            matches!(err, Error::MemoryBudget { batch: 65536, .. }),
            "{err}"
        );
    }

    #[test]
    fn layers_that_do_not_fit_are_refused_naming_the_layer() {
        let build = |layers: Vec<Layer>| {
            ModelConfig::builder()
                .input_size(16, 16)
                .layers(layers)
                .build()
        };
        let flat_conv = build(vec![
            Layer::Flatten,
            Layer::conv2d(4, 3, Activation::Relu),
            Layer::output(2),
        ]);
        assert!(flat_conv
            .unwrap_err()
            .to_string()
            .contains("layer 2 (Conv2D)"));
        let image_dense = build(vec![Layer::dense(4, Activation::Relu), Layer::output(2)]);
        assert!(image_dense.unwrap_err().to_string().contains("Flatten"));
        let no_output = build(vec![Layer::Flatten, Layer::dense(1, Activation::Relu)]);
        assert!(no_output.unwrap_err().to_string().contains("output layer"));
        let too_deep = build(vec![
            Layer::conv2d(4, 9, Activation::Relu),
            Layer::conv2d(4, 9, Activation::Relu),
            Layer::Flatten,
            Layer::output(2),
        ]);
        assert!(too_deep.unwrap_err().to_string().contains("layer 2"));
        let sigmoid_inside = build(vec![
            Layer::Flatten,
            Layer::dense(3, Activation::Sigmoid),
            Layer::output(2),
        ]);
        assert!(sigmoid_inside.is_err());
        let bad_rate = build(vec![Layer::Flatten, Layer::dropout(1.0), Layer::output(2)]);
        assert!(bad_rate.is_err());
    }
}
