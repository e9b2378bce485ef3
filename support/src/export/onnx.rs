//! ONNX export: a [`SavedModel`] as a `.onnx` file that ONNX Runtime (or any ONNX reader) runs
//! with the same probabilities as [`Model::predict`](crate::model::Model::predict).
//!
//! The graph takes the model's own input, the preprocessed images as `float32` NHWC
//! `[N, height, width, 1]` (the batch size `N` left free), and gives the output layer's
//! probabilities, `[N, 1]` (the probability of class 1) for a two-class model and `[N, K]` (a
//! softmax) for K classes. ONNX's `Conv` and pooling want NCHW, so the graph transposes the input
//! once, keeps NCHW inside, and transposes back to NHWC before `Flatten`, because the dense
//! weights after it were trained on NHWC-ordered features. Kernels are stored OIHW (ONNX's
//! layout) instead of our HWIO; dense kernels stay `(in, out)`, which `Gemm` reads as they are.
//! Dropout is left out (the identity at inference) and batch normalisation uses the moving
//! statistics. What the graph cannot hold, how an image file becomes the input (grey, resized,
//! scaled, standardised), is written into the model's `metadata_props` with the class names and
//! the decision threshold (see [`METADATA_KEYS`]).

pub mod proto;

use std::fmt;
use std::path::{Path, PathBuf};

use prost::Message;

use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::model::{Activation, Layer, Padding, Param};
use crate::ops::batch_norm::DEFAULT_EPSILON;
use crate::preprocessing::Preprocessing;
use crate::saved_model::SavedModel;
use proto::tensor_shape_proto::{dimension, Dimension};
use proto::{
    data_type, type_proto, AttributeProto, AttributeType, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};

/// The ONNX IR version written (8: read by ONNX 1.10 and later, ONNX Runtime 1.10 and later).
pub const IR_VERSION: i64 = 8;
/// The version of the standard operator set the nodes use.
pub const OPSET_VERSION: i64 = 17;
/// Name of the graph's input: preprocessed images, `float32` NHWC `[N, height, width, 1]`.
pub const INPUT_NAME: &str = "input";
/// Name of the graph's output: `[N, 1]` (probability of class 1) or `[N, K]` (softmax).
pub const OUTPUT_NAME: &str = "probabilities";
/// The symbolic batch dimension of the input and output.
pub const BATCH_DIM: &str = "N";

/// The keys of the `metadata_props` written (ONNX Runtime: `session.get_modelmeta().custom_metadata_map`).
pub const METADATA_KEYS: [&str; 9] = [
    "input",
    "output",
    "class_names",
    "threshold",
    "decision",
    "preprocessing",
    "preprocessing_steps",
    "model_config",
    "temperature",
];

/// What [`save_onnx`] wrote, for printing.
#[derive(Clone, Debug, PartialEq)]
pub struct OnnxSummary {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub bytes: usize,
    /// Input height and width in pixels.
    pub input_size: (usize, usize),
    /// Values per image in the output: 1 for two classes, K for K.
    pub outputs: usize,
    /// Operator nodes in the graph.
    pub nodes: usize,
    /// Weights stored (batch normalisation's moving statistics included).
    pub weights: usize,
}

impl fmt::Display for OnnxSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (h, w) = self.input_size;
        write!(
            f,
            "{}: ONNX (IR {IR_VERSION}, opset {OPSET_VERSION}), {:.1} kB, {} nodes, {} weights; \
             input '{INPUT_NAME}' float32 NHWC [{BATCH_DIM}, {h}, {w}, 1], output \
             '{OUTPUT_NAME}' [{BATCH_DIM}, {}]",
            self.path.display(),
            self.bytes as f64 / 1e3,
            self.nodes,
            self.weights,
            self.outputs,
        )
    }
}

/// Writes `saved` as an ONNX model to `path` (atomically: a temporary file, then a rename).
pub fn save_onnx(saved: &SavedModel, path: impl AsRef<Path>) -> Result<OnnxSummary> {
    let path = path.as_ref();
    let model = to_onnx(saved)?;
    let bytes = model.encode_to_vec();
    write_atomic(path, &bytes)?;
    let graph = model.graph.as_ref();
    let config = saved.model.config();
    Ok(OnnxSummary {
        path: path.to_path_buf(),
        bytes: bytes.len(),
        input_size: (config.input_height(), config.input_width()),
        outputs: config.output_units(),
        nodes: graph.map_or(0, |g| g.node.len()),
        weights: saved.model.count_params(),
    })
}

/// `saved` as an ONNX [`ModelProto`] (encode it with [`prost::Message::encode_to_vec`]).
pub fn to_onnx(saved: &SavedModel) -> Result<ModelProto> {
    let config = saved.model.config();
    let (h, w) = (config.input_height(), config.input_width());
    let mut g = Graph::default();
    let mut weights = ParamQueue {
        params: saved.model.params(),
        next: 0,
    };
    // NHWC in, NCHW inside: ONNX's Conv, MaxPool and BatchNormalization read channels on axis 1.
    let nchw = g.node(
        "Transpose",
        "input_nchw",
        vec![INPUT_NAME.into()],
        vec![ints("perm", &[0, 3, 1, 2])],
    );
    let mut x = Value {
        name: nchw,
        shape: Shape::Image(h, w, 1),
    };
    let layers = config.layers();
    for (i, layer) in layers.iter().enumerate() {
        let output_layer = i + 1 == layers.len();
        x = g.layer(layer, x, &mut weights, output_layer)?;
    }
    if weights.next != weights.params.len() {
        return Err(weights_error(
            format!(
                "{} weight arrays left over",
                weights.params.len() - weights.next
            ),
            "exactly the arrays of the configuration's layers",
        ));
    }
    let units = config.output_units();
    if x.shape != Shape::Flat(units) {
        return Err(weights_error(
            format!("an output of {:?}", x.shape),
            format!("{units} values per image"),
        ));
    }
    let Graph {
        nodes,
        initializers,
        ..
    } = g;
    let graph = GraphProto {
        node: nodes,
        name: Some("xray".into()),
        initializer: initializers,
        doc_string: Some(format!(
            "A chest X-ray CNN of {} layers from the xray tutorial crate.",
            layers.len()
        )),
        input: vec![tensor_info(
            INPUT_NAME,
            &[None, Some(h), Some(w), Some(1)],
            "preprocessed grey images, NHWC (see the metadata's preprocessing_steps)",
        )],
        output: vec![tensor_info(
            OUTPUT_NAME,
            &[None, Some(units)],
            &output_description(saved),
        )],
        value_info: vec![],
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        producer_name: Some("xray (support crate)".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        domain: None,
        model_version: Some(1),
        doc_string: Some(format!(
            "{}-class chest X-ray classifier ({}); input {h}x{w} grey images prepared as \
             metadata_props['preprocessing_steps'] says.",
            config.classes(),
            saved.class_names.join(", ")
        )),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET_VERSION),
        }],
        metadata_props: metadata(saved)?
            .into_iter()
            .map(|(key, value)| StringStringEntryProto {
                key: Some(key),
                value: Some(value),
            })
            .collect(),
    })
}

/// The `metadata_props` of `saved`'s export, as `(key, value)` pairs (keys from [`METADATA_KEYS`];
/// `threshold` for two-class models, `temperature` for calibrated ones only).
pub fn metadata(saved: &SavedModel) -> Result<Vec<(String, String)>> {
    let config = saved.model.config();
    let (h, w) = (config.input_height(), config.input_width());
    let mut pairs = vec![
        (
            "input",
            format!("float32 NHWC [{BATCH_DIM}, {h}, {w}, 1]: grey images prepared as preprocessing_steps says"),
        ),
        ("output", output_description(saved)),
        ("class_names", json("encoding the class names", &saved.class_names)?),
    ];
    if let Some(threshold) = saved.decision.threshold() {
        pairs.push(("threshold", threshold.get().to_string()));
        pairs.push((
            "decision",
            format!(
                "{} when the probability >= threshold, else {}",
                class_name(saved, 1),
                class_name(saved, 0)
            ),
        ));
    } else {
        pairs.push((
            "decision",
            "the class of the largest probability (class_names order)".into(),
        ));
    }
    pairs.push((
        "preprocessing",
        json("encoding the preprocessing", &saved.preprocessing)?,
    ));
    pairs.push((
        "preprocessing_steps",
        preprocessing_steps(&saved.preprocessing, (h, w)),
    ));
    pairs.push((
        "model_config",
        json("encoding the model configuration", config)?,
    ));
    if let Some(t) = saved.temperature() {
        pairs.push((
            "temperature",
            format!("{t} (already folded into the output layer)"),
        ));
    }
    Ok(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// `value` as compact JSON; `what` names the value in the error.
fn json<T: serde::Serialize + ?Sized>(what: &'static str, value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::backend(what, e))
}

fn class_name(saved: &SavedModel, i: usize) -> String {
    saved
        .class_names
        .get(i)
        .cloned()
        .unwrap_or_else(|| format!("class {i}"))
}

fn output_description(saved: &SavedModel) -> String {
    let units = saved.model.config().output_units();
    if units == 1 {
        format!(
            "float32 [{BATCH_DIM}, 1]: the probability of class 1 ({}), a sigmoid",
            class_name(saved, 1)
        )
    } else {
        format!(
            "float32 [{BATCH_DIM}, {units}]: the probability of each class in class_names order, a softmax"
        )
    }
}

/// How an image file becomes one input image, in words a reimplementation can follow (the
/// order and formulas of [`Preprocessing::prepare`]).
pub fn preprocessing_steps(p: &Preprocessing, (h, w): (usize, usize)) -> String {
    let mut steps = vec![
        "read the file as 8-bit grey (PIL's convert('L'): ITU-R 601-2 luma, 299/587/114 per mille; alpha dropped, 16-bit scaled to 8)".to_string(),
        format!(
            "resize to {h} rows x {w} columns with {} interpolation (PIL's {} filter)",
            p.interpolation.name(),
            match p.interpolation.name() {
                "nearest" => "NEAREST",
                "bilinear" => "BILINEAR",
                _ => "BOX",
            }
        ),
        "convert the 0-255 pixels to float32".into(),
    ];
    if p.equalize_histogram {
        steps.push("equalize the image's histogram (on the 0-255 values)".into());
    }
    steps.push(format!("multiply by {} (rescale)", p.rescale));
    if p.samplewise_center {
        steps.push("subtract the image's own mean".into());
    }
    if p.samplewise_std_normalization {
        steps
            .push("divide by (the image's own standard deviation, population form, + 1e-6)".into());
    }
    steps.push(format!(
        "shape the batch as NHWC float32 [{BATCH_DIM}, {h}, {w}, 1]"
    ));
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{}. {s}", i + 1))
        .collect::<Vec<_>>()
        .join("; ")
}

/// An activation between layers, per image, as the graph holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Height, width, channels; NCHW in the graph.
    Image(usize, usize, usize),
    /// A vector of features.
    Flat(usize),
}

/// A named value of the graph and its shape.
#[derive(Clone, Debug)]
struct Value {
    name: String,
    shape: Shape,
}

/// The model's weight arrays, taken in model order as the layers need them.
struct ParamQueue<'a> {
    params: &'a [Param],
    next: usize,
}

impl<'a> ParamQueue<'a> {
    /// The next array, checked to be `suffix` (e.g. `.kernel`) of `shape`.
    fn take(&mut self, suffix: &str, shape: &[usize]) -> Result<&'a Param> {
        let param = self.params.get(self.next).ok_or_else(|| {
            weights_error(
                format!("{} weight arrays", self.params.len()),
                format!("more: a{suffix} of shape {shape:?} next"),
            )
        })?;
        if !param.name.ends_with(suffix) || param.shape != shape {
            return Err(weights_error(
                format!("{} of shape {:?}", param.name, param.shape),
                format!("a{suffix} of shape {shape:?}"),
            ));
        }
        self.next += 1;
        Ok(param)
    }
}

fn weights_error(found: String, expected: impl Into<String>) -> Error {
    Error::invalid("weights", found, expected)
}

/// The graph under construction.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    /// How many nodes of each stem are named so far, for unique names.
    counts: std::collections::HashMap<String, usize>,
}

impl Graph {
    /// A unique value name from `stem`: `conv`, `conv_1`, ...
    fn unique(&mut self, stem: &str) -> String {
        let n = self.counts.entry(stem.to_string()).or_insert(0);
        *n += 1;
        if *n == 1 {
            stem.to_string()
        } else {
            format!("{stem}_{}", *n - 1)
        }
    }

    /// Appends an `op` node reading `inputs`; its one output (and the node) is named from `stem`.
    fn node(
        &mut self,
        op: &str,
        stem: &str,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        let name = self.unique(stem);
        self.named_node(op, name, inputs, attribute)
    }

    /// Appends an `op` node whose output is named exactly `name`.
    fn named_node(
        &mut self,
        op: &str,
        name: String,
        inputs: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.nodes.push(NodeProto {
            input: inputs,
            output: vec![name.clone()],
            name: Some(name.clone()),
            op_type: Some(op.into()),
            attribute,
            doc_string: None,
            domain: None,
        });
        name
    }

    /// Stores a float32 weight tensor; returns its name.
    fn weight(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(data_type::FLOAT),
            name: Some(name.into()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            doc_string: None,
        });
        name.into()
    }

    /// `x` through one layer of the configuration; the output layer's activation ends the graph
    /// under [`OUTPUT_NAME`].
    fn layer(
        &mut self,
        layer: &Layer,
        x: Value,
        weights: &mut ParamQueue,
        output_layer: bool,
    ) -> Result<Value> {
        let image = |x: &Value| match x.shape {
            Shape::Image(h, w, c) => Ok((h, w, c)),
            Shape::Flat(_) => Err(weights_error(
                format!("a flat input to {}", layer.class_name()),
                "an image (the configuration validates this)",
            )),
        };
        Ok(match layer {
            Layer::Conv2D {
                filters,
                kernel_size,
                padding,
                activation,
            } => {
                let (h, w, c) = image(&x)?;
                let y = self.conv(
                    &x.name,
                    (h, w, c),
                    *kernel_size,
                    *filters,
                    *padding,
                    weights,
                )?;
                match activation {
                    Activation::Relu => Value {
                        name: self.node("Relu", "relu", vec![y.name], vec![]),
                        shape: y.shape,
                    },
                    _ => y,
                }
            }
            Layer::MaxPooling2D { pool_size } => {
                let (h, w, c) = image(&x)?;
                let p = *pool_size;
                if h < p || w < p || p == 0 {
                    return Err(weights_error(
                        format!("a {h}x{w} input to a {p}x{p} pooling"),
                        "an input at least as large as the window",
                    ));
                }
                let k = p as i64;
                Value {
                    name: self.node(
                        "MaxPool",
                        "max_pool",
                        vec![x.name],
                        vec![ints("kernel_shape", &[k, k]), ints("strides", &[k, k])],
                    ),
                    // 'valid' windows, floor: the same sizes as our PoolSpec.
                    shape: Shape::Image((h - p) / p + 1, (w - p) / p + 1, c),
                }
            }
            Layer::BatchNormalization { epsilon, .. } => self.norm(x, *epsilon, weights)?,
            Layer::Activation { .. } => Value {
                name: self.node("Relu", "relu", vec![x.name], vec![]),
                shape: x.shape,
            },
            Layer::ResidualBlock {
                kernel_size,
                batch_normalization,
            } => {
                let (h, w, c) = image(&x)?;
                let k = *kernel_size;
                let mut y = self.conv(&x.name, (h, w, c), k, c, Padding::Same, weights)?;
                if *batch_normalization {
                    y = self.norm(y, DEFAULT_EPSILON, weights)?;
                }
                y.name = self.node("Relu", "relu", vec![y.name], vec![]);
                let mut y = self.conv(&y.name, (h, w, c), k, c, Padding::Same, weights)?;
                if *batch_normalization {
                    y = self.norm(y, DEFAULT_EPSILON, weights)?;
                }
                let sum = self.node("Add", "residual_add", vec![y.name, x.name], vec![]);
                Value {
                    name: self.node("Relu", "relu", vec![sum], vec![]),
                    shape: x.shape,
                }
            }
            Layer::GlobalAveragePooling2D => {
                let (_, _, c) = image(&x)?;
                let pooled = self.node(
                    "GlobalAveragePool",
                    "global_average_pool",
                    vec![x.name],
                    vec![],
                );
                Value {
                    name: self.node("Flatten", "flatten", vec![pooled], vec![int("axis", 1)]),
                    shape: Shape::Flat(c),
                }
            }
            Layer::Flatten => {
                let (h, w, c) = image(&x)?;
                // Our dense kernels read features in NHWC order: go back before flattening.
                let nhwc = self.node(
                    "Transpose",
                    "to_nhwc",
                    vec![x.name],
                    vec![ints("perm", &[0, 2, 3, 1])],
                );
                Value {
                    name: self.node("Flatten", "flatten", vec![nhwc], vec![int("axis", 1)]),
                    shape: Shape::Flat(h * w * c),
                }
            }
            Layer::Dense { units, activation } => {
                let Shape::Flat(n) = x.shape else {
                    return Err(weights_error(
                        "an image input to Dense".into(),
                        "a flat input (the configuration validates this)",
                    ));
                };
                let kernel = weights.take(".kernel", &[n, *units])?;
                let bias = weights.take(".bias", &[*units])?;
                let stem = kernel.name.trim_end_matches(".kernel").to_string();
                let k = self.weight(&kernel.name, &kernel.shape, &kernel.values);
                let b = self.weight(&bias.name, &bias.shape, &bias.values);
                // Gemm: Y = X W + b with W (in, out), our kernel's layout.
                let z = self.node("Gemm", &stem, vec![x.name, k, b], vec![]);
                let shape = Shape::Flat(*units);
                let activated = |g: &mut Graph, op: &str, attrs| {
                    if output_layer {
                        g.named_node(op, OUTPUT_NAME.into(), vec![z.clone()], attrs)
                    } else {
                        g.node(op, &op.to_lowercase(), vec![z.clone()], attrs)
                    }
                };
                let name = match activation {
                    Activation::Linear if !output_layer => z.clone(),
                    Activation::Linear => activated(self, "Identity", vec![]),
                    Activation::Relu => activated(self, "Relu", vec![]),
                    Activation::Sigmoid => activated(self, "Sigmoid", vec![]),
                    Activation::Softmax => activated(self, "Softmax", vec![int("axis", 1)]),
                };
                Value { name, shape }
            }
            // The identity at inference.
            Layer::Dropout { .. } => x,
        })
    }

    /// A stride-1 convolution of `x` (NCHW, `h x w x c`) with the next kernel and bias.
    fn conv(
        &mut self,
        x: &str,
        (h, w, c): (usize, usize, usize),
        k: usize,
        filters: usize,
        padding: Padding,
        weights: &mut ParamQueue,
    ) -> Result<Value> {
        let kernel = weights.take(".kernel", &[k, k, c, filters])?;
        let bias = weights.take(".bias", &[filters])?;
        let stem = kernel.name.trim_end_matches(".kernel").to_string();
        let (out_h, out_w, before, after) = match padding {
            Padding::Valid => {
                if h < k || w < k {
                    return Err(weights_error(
                        format!("a {h}x{w} input to a {k}x{k} convolution"),
                        "an input at least as large as the kernel",
                    ));
                }
                (h - k + 1, w - k + 1, 0, 0)
            }
            // Keras's 'same' at stride 1: k - 1 zeros, the odd one after (bottom, right), as in
            // our ConvGeometry.
            Padding::Same => (h, w, (k - 1) / 2, k - 1 - (k - 1) / 2),
        };
        let oihw = hwio_to_oihw(&kernel.values, k, c, filters);
        let kname = self.weight(&kernel.name, &[filters, c, k, k], &oihw);
        let bname = self.weight(&bias.name, &bias.shape, &bias.values);
        let (ki, b, a) = (k as i64, before as i64, after as i64);
        let name = self.node(
            "Conv",
            &stem,
            vec![x.into(), kname, bname],
            vec![
                ints("kernel_shape", &[ki, ki]),
                ints("strides", &[1, 1]),
                ints("dilations", &[1, 1]),
                // ONNX's order: begins of each axis, then ends.
                ints("pads", &[b, b, a, a]),
                int("group", 1),
            ],
        );
        Ok(Value {
            name,
            shape: Shape::Image(out_h, out_w, filters),
        })
    }

    /// Batch normalisation of `x` (image or flat: channels are axis 1 either way) with the next
    /// four arrays, in inference mode.
    fn norm(&mut self, x: Value, epsilon: f32, weights: &mut ParamQueue) -> Result<Value> {
        let c = match x.shape {
            Shape::Image(_, _, c) => c,
            Shape::Flat(n) => n,
        };
        let mut inputs = vec![x.name];
        let mut stem = String::new();
        for suffix in [".gamma", ".beta", ".moving_mean", ".moving_variance"] {
            let p = weights.take(suffix, &[c])?;
            stem = p.name.trim_end_matches(suffix).to_string();
            inputs.push(self.weight(&p.name, &p.shape, &p.values));
        }
        let name = self.node(
            "BatchNormalization",
            &stem,
            inputs,
            vec![float("epsilon", epsilon)],
        );
        Ok(Value {
            name,
            shape: x.shape,
        })
    }
}

/// A `[k, k, c, f]` kernel (HWIO, ours) as `[f, c, k, k]` (OIHW, ONNX's).
fn hwio_to_oihw(values: &[f32], k: usize, c: usize, f: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for o in 0..f {
        for i in 0..c {
            for y in 0..k {
                for x in 0..k {
                    out[((o * c + i) * k + y) * k + x] = values[((y * k + x) * c + i) * f + o];
                }
            }
        }
    }
    out
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        i: Some(value),
        r#type: Some(AttributeType::Int as i32),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        ints: values.to_vec(),
        r#type: Some(AttributeType::Ints as i32),
        ..Default::default()
    }
}

fn float(name: &str, value: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        f: Some(value),
        r#type: Some(AttributeType::Float as i32),
        ..Default::default()
    }
}

/// A float32 tensor's name and type; `None` dimensions are the batch, [`BATCH_DIM`].
fn tensor_info(name: &str, dims: &[Option<usize>], doc: &str) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Some(n) => dimension::Value::DimValue(*n as i64),
                None => dimension::Value::DimParam(BATCH_DIM.into()),
            }),
        })
        .collect();
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(data_type::FLOAT),
                shape: Some(TensorShapeProto { dim }),
            })),
        }),
        doc_string: Some(doc.into()),
    }
}

#[cfg(test)]
mod tests;
