//! The exported bytes decoded back with the same messages: graph structure, weights' layouts,
//! metadata, and the graph evaluated by a small interpreter of the ONNX operators it uses
//! (ONNX Runtime's own check is `tests/test_onnx.py`).

use std::collections::HashMap;

use ndarray::Array4;
use prost::Message;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::*;
use crate::dataset::LabelSource;
use crate::metrics::{Decision, Threshold};
use crate::model::{Model, ModelConfig, Weights};
use crate::resize::Interpolation;

fn saved(model: Model) -> SavedModel {
    let classes = model.config().classes();
    let class_names = match classes {
        2 => vec!["NORMAL".into(), "PNEUMONIA".into()],
        k => (0..k).map(|i| format!("CLASS_{i}")).collect(),
    };
    SavedModel {
        model,
        class_names,
        decision: Decision::default_for(classes)
            .threshold()
            .map_or(Decision::Argmax, |_| {
                Decision::user(Threshold::new(0.375).expect("a probability"))
            }),
        preprocessing: Preprocessing {
            rescale: 1.0 / 255.0,
            interpolation: Interpolation::Bilinear,
            samplewise_center: true,
            samplewise_std_normalization: true,
            equalize_histogram: false,
        },
        label_source: LabelSource::Folder,
        history: None,
    }
}

/// The export of `saved`, encoded and decoded again.
fn round_trip(saved: &SavedModel) -> ModelProto {
    let bytes = to_onnx(saved).unwrap().encode_to_vec();
    ModelProto::decode(bytes.as_slice()).unwrap()
}

fn ops(graph: &GraphProto) -> Vec<&str> {
    graph
        .node
        .iter()
        .map(|n| n.op_type.as_deref().unwrap_or(""))
        .collect()
}

fn dims(info: &ValueInfoProto) -> Vec<String> {
    let Some(TypeProto {
        value: Some(type_proto::Value::TensorType(t)),
    }) = &info.r#type
    else {
        panic!("{info:?} is not a tensor");
    };
    assert_eq!(t.elem_type, Some(data_type::FLOAT));
    t.shape
        .as_ref()
        .unwrap()
        .dim
        .iter()
        .map(|d| match &d.value {
            Some(dimension::Value::DimValue(n)) => n.to_string(),
            Some(dimension::Value::DimParam(p)) => p.clone(),
            None => "?".into(),
        })
        .collect()
}

fn initializer<'a>(graph: &'a GraphProto, name: &str) -> &'a TensorProto {
    graph
        .initializer
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

fn floats(t: &TensorProto) -> Vec<f32> {
    t.raw_data
        .as_ref()
        .unwrap()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> &'a AttributeProto {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("{:?} has no attribute {name}", node.name))
}

#[test]
fn the_tutorial_model_exports_as_an_nhwc_graph_with_oihw_kernels() {
    let s = saved(Model::new(ModelConfig::default(), 3).unwrap());
    let m = round_trip(&s);
    assert_eq!(m.ir_version, Some(IR_VERSION));
    assert_eq!(m.opset_import.len(), 1);
    assert_eq!(m.opset_import[0].version, Some(OPSET_VERSION));
    let g = m.graph.as_ref().unwrap();
    assert_eq!(
        ops(g),
        [
            "Transpose",
            "Conv",
            "Relu",
            "MaxPool",
            "Conv",
            "Relu",
            "MaxPool",
            "Conv",
            "Relu",
            "MaxPool",
            "Transpose",
            "Flatten",
            "Gemm",
            "Relu",
            "Gemm",
            "Sigmoid"
        ]
    );
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.input[0].name.as_deref(), Some(INPUT_NAME));
    assert_eq!(dims(&g.input[0]), ["N", "130", "130", "1"]);
    assert_eq!(g.output.len(), 1);
    assert_eq!(g.output[0].name.as_deref(), Some(OUTPUT_NAME));
    assert_eq!(dims(&g.output[0]), ["N", "1"]);
    assert_eq!(
        g.node.last().unwrap().output,
        [OUTPUT_NAME.to_string()],
        "the last node writes the graph's output"
    );
    // NHWC -> NCHW first, NCHW -> NHWC before Flatten.
    assert_eq!(attr(&g.node[0], "perm").ints, [0, 3, 1, 2]);
    assert_eq!(attr(&g.node[10], "perm").ints, [0, 2, 3, 1]);
    assert_eq!(attr(&g.node[1], "pads").ints, [0, 0, 0, 0]);
    assert_eq!(attr(&g.node[3], "kernel_shape").ints, [2, 2]);
    assert_eq!(attr(&g.node[3], "strides").ints, [2, 2]);
    let shapes: Vec<(&str, Vec<i64>)> = g
        .initializer
        .iter()
        .map(|t| (t.name.as_deref().unwrap(), t.dims.clone()))
        .collect();
    assert_eq!(
        shapes,
        [
            ("conv2d.kernel", vec![32, 1, 3, 3]),
            ("conv2d.bias", vec![32]),
            ("conv2d_1.kernel", vec![64, 32, 3, 3]),
            ("conv2d_1.bias", vec![64]),
            ("conv2d_2.kernel", vec![64, 64, 3, 3]),
            ("conv2d_2.bias", vec![64]),
            ("dense.kernel", vec![12544, 128]),
            ("dense.bias", vec![128]),
            ("dense_1.kernel", vec![128, 1]),
            ("dense_1.bias", vec![1]),
        ]
    );
    // Every initializer holds all its values, and every node input is the graph input, an
    // initializer or an earlier node's output.
    let mut known: Vec<String> = vec![INPUT_NAME.into()];
    for t in &g.initializer {
        assert_eq!(t.data_type, Some(data_type::FLOAT));
        assert_eq!(
            floats(t).len() as i64,
            t.dims.iter().product::<i64>(),
            "{:?}",
            t.name
        );
        known.push(t.name.clone().unwrap());
    }
    for node in &g.node {
        for input in &node.input {
            assert!(known.contains(input), "{input} read before it is written");
        }
        known.extend(node.output.iter().cloned());
    }
    // The kernels are our HWIO arrays transposed to OIHW; the dense kernel is stored as is.
    let hwio = &s.model.params()[2];
    let oihw = floats(initializer(g, "conv2d_1.kernel"));
    let (k, c, f) = (3, 32, 64);
    for (o, i, y, x) in [(0, 0, 0, 0), (5, 31, 2, 1), (63, 7, 1, 2), (17, 3, 0, 2)] {
        assert_eq!(
            oihw[((o * c + i) * k + y) * k + x],
            hwio.values[((y * k + x) * c + i) * f + o]
        );
    }
    assert_eq!(
        floats(initializer(g, "dense.kernel")),
        s.model.params()[6].values
    );
}

#[test]
fn metadata_records_the_preprocessing_class_names_and_threshold() {
    let s = saved(Model::new(ModelConfig::default(), 3).unwrap());
    let m = round_trip(&s);
    let meta: HashMap<&str, &str> = m
        .metadata_props
        .iter()
        .map(|e| (e.key.as_deref().unwrap(), e.value.as_deref().unwrap()))
        .collect();
    assert_eq!(meta.len(), m.metadata_props.len(), "keys are distinct");
    for key in meta.keys() {
        assert!(METADATA_KEYS.contains(key), "{key} is not listed");
    }
    assert_eq!(meta["threshold"].parse::<f32>().unwrap(), 0.375);
    let names: Vec<String> = serde_json::from_str(meta["class_names"]).unwrap();
    assert_eq!(names, ["NORMAL", "PNEUMONIA"]);
    let p: Preprocessing = serde_json::from_str(meta["preprocessing"]).unwrap();
    assert_eq!(p, s.preprocessing);
    let config: ModelConfig = serde_json::from_str(meta["model_config"]).unwrap();
    assert_eq!(&config, s.model.config());
    let steps = meta["preprocessing_steps"];
    for part in [
        "130 rows x 130 columns",
        "bilinear",
        "subtract the image's own mean",
        "+ 1e-6",
        "NHWC",
    ] {
        assert!(steps.contains(part), "{part:?} missing from {steps}");
    }
    assert!(meta["decision"].starts_with("PNEUMONIA when"));
    assert!(!meta.contains_key("temperature"));

    let three = saved(
        Model::new(
            ModelConfig::recommended()
                .to_builder()
                .classes(3)
                .build()
                .unwrap(),
            1,
        )
        .unwrap(),
    );
    let m = round_trip(&three);
    assert!(m
        .metadata_props
        .iter()
        .all(|e| e.key.as_deref() != Some("threshold")));
    assert_eq!(dims(&m.graph.as_ref().unwrap().output[0]), ["N", "3"]);
}

/// Every layer kind, at an odd size, with 'same' padding of an even kernel and layers the
/// configs folder does not use (a lone max pooling, an Activation layer, batch normalisation of
/// a dense layer, a linear dense layer, dropout over an image).
fn every_layer(classes: usize) -> ModelConfig {
    ModelConfig::builder()
        .input_size(23, 19)
        .layers(vec![
            Layer::Conv2D {
                filters: 4,
                kernel_size: 2,
                padding: Padding::Same,
                activation: Activation::Linear,
            },
            Layer::batch_normalization(),
            Layer::Activation {
                activation: Activation::Relu,
            },
            Layer::max_pooling2d(3),
            Layer::dropout(0.25),
            Layer::ResidualBlock {
                kernel_size: 3,
                batch_normalization: true,
            },
            Layer::ResidualBlock {
                kernel_size: 1,
                batch_normalization: false,
            },
            Layer::conv2d(5, 3, Activation::Relu),
            Layer::max_pooling2d(2),
            Layer::Flatten,
            Layer::dense(6, Activation::Relu),
            Layer::batch_normalization(),
            Layer::dense(5, Activation::Linear),
            Layer::dropout(0.5),
            Layer::output(classes),
        ])
        .build()
        .unwrap()
}

/// `model` with every weight moved off its initial value, so that biases, batch normalisation's
/// four arrays and the moving statistics all matter.
fn perturbed(mut model: Model, seed: u64) -> Model {
    let mut rng = StdRng::seed_from_u64(seed);
    let params: Vec<Param> = model
        .params()
        .iter()
        .map(|p| {
            let mut p = p.clone();
            let (lo, hi) = match p.name.rsplit('.').next().unwrap() {
                "kernel" => (0.8, 1.25),
                "bias" | "beta" | "moving_mean" => (-0.3, 0.3),
                _ => (0.5, 1.5),
            };
            for v in &mut p.values {
                let r: f32 = rng.gen_range(lo..hi);
                *v = if p.name.ends_with(".kernel") {
                    *v * r
                } else {
                    r
                };
            }
            p
        })
        .collect();
    model.set_weights(&Weights(params)).unwrap();
    model
}

fn images(n: usize, h: usize, w: usize, seed: u64) -> Array4<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    Array4::from_shape_fn((n, h, w, 1), |_| rng.gen_range(-1.0..1.5))
}

#[test]
fn every_layer_kind_maps_to_onnx_operators_with_our_semantics() {
    for classes in [2, 3] {
        let model = perturbed(Model::new(every_layer(classes), 5).unwrap(), 9);
        let s = saved(model);
        let m = round_trip(&s);
        let g = m.graph.as_ref().unwrap();
        let kinds = ops(g);
        for op in [
            "Conv",
            "BatchNormalization",
            "Relu",
            "MaxPool",
            "Add",
            "Flatten",
            "Gemm",
        ] {
            assert!(kinds.contains(&op), "{op} missing from {kinds:?}");
        }
        assert!(!kinds.contains(&"Dropout"));
        assert_eq!(
            *kinds.last().unwrap(),
            if classes == 2 { "Sigmoid" } else { "Softmax" }
        );
        // The even kernel's 'same' zero row and column go after the image, as in ConvGeometry.
        let first_conv = g.node.iter().find(|n| n.op_type.as_deref() == Some("Conv"));
        assert_eq!(attr(first_conv.unwrap(), "pads").ints, [0, 0, 1, 1]);
        let norm = g
            .node
            .iter()
            .find(|n| n.op_type.as_deref() == Some("BatchNormalization"))
            .unwrap();
        assert_eq!(attr(norm, "epsilon").f, Some(1e-3));
        assert_eq!(norm.input.len(), 5);

        let x = images(3, 23, 19, classes as u64);
        let ours = s.model.predict(x.view()).unwrap();
        let theirs = run(&m, &x);
        assert_eq!(theirs.0, [3, s.model.config().output_units()]);
        let diff = ours
            .iter()
            .zip(&theirs.1)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            diff <= 1e-5,
            "{classes} classes: max abs diff {diff}: {ours:?} against {:?}",
            theirs.1
        );
        // The probabilities are not all saturated: the comparison means something.
        assert!(ours.iter().any(|&p| (0.02..0.98).contains(&p)), "{ours:?}");
    }
}

#[test]
fn the_interpreter_notices_a_wrong_graph() {
    // A test that cannot fail proves nothing: flatten in NCHW order (no transpose back) and the
    // probabilities move.
    let model = perturbed(Model::new(every_layer(3), 5).unwrap(), 9);
    let s = saved(model);
    let mut m = round_trip(&s);
    let g = m.graph.as_mut().unwrap();
    let back = g
        .node
        .iter()
        .position(|n| n.name.as_deref() == Some("to_nhwc"))
        .unwrap();
    attr_mut(&mut g.node[back], "perm").ints = vec![0, 1, 2, 3];
    let x = images(2, 23, 19, 4);
    let ours = s.model.predict(x.view()).unwrap();
    let theirs = run(&m, &x).1;
    let diff = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(diff > 1e-3, "{diff}");
}

fn attr_mut<'a>(node: &'a mut NodeProto, name: &str) -> &'a mut AttributeProto {
    node.attribute
        .iter_mut()
        .find(|a| a.name.as_deref() == Some(name))
        .unwrap()
}

#[test]
fn save_onnx_writes_the_file_it_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let s = saved(Model::new(every_layer(3), 1).unwrap());
    let path = dir.path().join("model.onnx");
    let summary = save_onnx(&s, &path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(summary.bytes, bytes.len());
    let m = ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(summary.nodes, m.graph.as_ref().unwrap().node.len());
    assert_eq!((summary.input_size, summary.outputs), ((23, 19), 3));
    assert_eq!(summary.weights, s.model.count_params());
    let text = summary.to_string();
    assert!(
        text.contains("[N, 23, 19, 1]") && text.contains("[N, 3]"),
        "{text}"
    );
    let missing = save_onnx(&s, dir.path().join("no/such/folder/model.onnx"));
    assert!(matches!(missing, Err(Error::Io { .. })));
}

#[test]
fn weights_are_taken_by_name_and_shape() {
    let params = [Param {
        name: "conv2d.kernel".into(),
        shape: vec![3, 3, 1, 8],
        values: vec![0.0; 72],
    }];
    let mut w = ParamQueue {
        params: &params,
        next: 0,
    };
    assert!(w.take(".bias", &[3, 3, 1, 8]).is_err());
    assert!(w.take(".kernel", &[3, 3, 1, 4]).is_err());
    assert!(w.take(".kernel", &[3, 3, 1, 8]).is_ok());
    let err = w.take(".bias", &[8]).unwrap_err().to_string();
    assert!(err.contains("1 weight arrays"), "{err}");
}

/// A tensor of the interpreter: shape and row-major values.
type Tensor = (Vec<usize>, Vec<f32>);

/// Runs the decoded graph on `x` with a direct reading of each operator's ONNX definition
/// (f64 sums), for the operators and attributes the exporter writes.
fn run(m: &ModelProto, x: &Array4<f32>) -> Tensor {
    let g = m.graph.as_ref().unwrap();
    let mut values: HashMap<String, Tensor> = HashMap::new();
    values.insert(
        INPUT_NAME.into(),
        (x.shape().to_vec(), x.iter().copied().collect()),
    );
    for t in &g.initializer {
        let shape = t.dims.iter().map(|&d| d as usize).collect();
        values.insert(t.name.clone().unwrap(), (shape, floats(t)));
    }
    for node in &g.node {
        let input = |i: usize| values[&node.input[i]].clone();
        let ints_of = |name: &str| -> Vec<usize> {
            attr(node, name).ints.iter().map(|&v| v as usize).collect()
        };
        let (shape, data) = input(0);
        let out: Tensor = match node.op_type.as_deref().unwrap() {
            "Transpose" => {
                let perm = ints_of("perm");
                let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
                let strides = strides(&shape);
                let out = (0..data.len())
                    .map(|flat| {
                        let idx = unravel(flat, &out_shape);
                        let src: usize = perm.iter().zip(&idx).map(|(&p, &i)| i * strides[p]).sum();
                        data[src]
                    })
                    .collect();
                (out_shape, out)
            }
            "Conv" => {
                let (w, b) = (input(1), input(2));
                let pads = ints_of("pads");
                assert_eq!(ints_of("strides"), [1, 1]);
                let [n, c, h, wd] = shape[..] else { panic!() };
                let [f, _, kh, kw] = w.0[..] else { panic!() };
                let oh = h + pads[0] + pads[2] - kh + 1;
                let ow = wd + pads[1] + pads[3] - kw + 1;
                let mut out = vec![0.0; n * f * oh * ow];
                for (i, o) in out.iter_mut().enumerate() {
                    let [ni, fi, y, xx] = unravel(i, &[n, f, oh, ow])[..] else {
                        panic!()
                    };
                    let mut sum = b.1[fi] as f64;
                    for ci in 0..c {
                        for dy in 0..kh {
                            for dx in 0..kw {
                                let (sy, sx) = (y + dy, xx + dx);
                                if sy < pads[0]
                                    || sx < pads[1]
                                    || sy - pads[0] >= h
                                    || sx - pads[1] >= wd
                                {
                                    continue;
                                }
                                let v =
                                    data[((ni * c + ci) * h + sy - pads[0]) * wd + sx - pads[1]];
                                sum += v as f64 * w.1[((fi * c + ci) * kh + dy) * kw + dx] as f64;
                            }
                        }
                    }
                    *o = sum as f32;
                }
                (vec![n, f, oh, ow], out)
            }
            "MaxPool" => {
                let k = ints_of("kernel_shape");
                let s = ints_of("strides");
                let [n, c, h, w] = shape[..] else { panic!() };
                let (oh, ow) = ((h - k[0]) / s[0] + 1, (w - k[1]) / s[1] + 1);
                let out = (0..n * c * oh * ow)
                    .map(|i| {
                        let [ni, ci, y, x] = unravel(i, &[n, c, oh, ow])[..] else {
                            panic!()
                        };
                        let mut best = f32::NEG_INFINITY;
                        for dy in 0..k[0] {
                            for dx in 0..k[1] {
                                best = best.max(
                                    data[((ni * c + ci) * h + y * s[0] + dy) * w + x * s[1] + dx],
                                );
                            }
                        }
                        best
                    })
                    .collect();
                (vec![n, c, oh, ow], out)
            }
            "BatchNormalization" => {
                let eps = attr(node, "epsilon").f.unwrap() as f64;
                let (gamma, beta, mean, var) = (input(1).1, input(2).1, input(3).1, input(4).1);
                let c = shape[1];
                let inner: usize = shape[2..].iter().product();
                let out = data
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| {
                        let ci = (i / inner) % c;
                        ((v as f64 - mean[ci] as f64) / (var[ci] as f64 + eps).sqrt()
                            * gamma[ci] as f64
                            + beta[ci] as f64) as f32
                    })
                    .collect();
                (shape, out)
            }
            "Relu" => (shape, data.iter().map(|v| v.max(0.0)).collect()),
            "Add" => {
                let other = input(1);
                assert_eq!(other.0, shape);
                (
                    shape,
                    data.iter().zip(&other.1).map(|(a, b)| a + b).collect(),
                )
            }
            "GlobalAveragePool" => {
                let [n, c, h, w] = shape[..] else { panic!() };
                let out = data
                    .chunks(h * w)
                    .map(|plane| {
                        (plane.iter().map(|&v| v as f64).sum::<f64>() / (h * w) as f64) as f32
                    })
                    .collect();
                (vec![n, c, 1, 1], out)
            }
            "Flatten" => {
                assert_eq!(attr(node, "axis").i, Some(1));
                (vec![shape[0], shape[1..].iter().product()], data)
            }
            "Gemm" => {
                let (w, b) = (input(1), input(2));
                let [n, k] = shape[..] else { panic!() };
                let units = w.0[1];
                let out = (0..n * units)
                    .map(|i| {
                        let (r, u) = (i / units, i % units);
                        let dot: f64 = (0..k)
                            .map(|j| data[r * k + j] as f64 * w.1[j * units + u] as f64)
                            .sum();
                        (dot + b.1[u] as f64) as f32
                    })
                    .collect();
                (vec![n, units], out)
            }
            "Sigmoid" => (
                shape,
                data.iter().map(|&v| 1.0 / (1.0 + (-v).exp())).collect(),
            ),
            "Softmax" => {
                assert_eq!(attr(node, "axis").i, Some(1));
                let k = shape[1];
                let out = data
                    .chunks(k)
                    .flat_map(|row| {
                        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                        let e: Vec<f64> = row.iter().map(|&v| ((v - max) as f64).exp()).collect();
                        let sum: f64 = e.iter().sum();
                        e.into_iter().map(move |v| (v / sum) as f32)
                    })
                    .collect();
                (shape, out)
            }
            other => panic!("the interpreter does not know {other}"),
        };
        values.insert(node.output[0].clone(), out);
    }
    values.remove(OUTPUT_NAME).unwrap()
}

fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut idx = vec![0; shape.len()];
    for i in (0..shape.len()).rev() {
        idx[i] = flat % shape[i];
        flat /= shape[i];
    }
    idx
}
