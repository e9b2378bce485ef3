//! Writes the fixtures `tests/test_onnx.py` checks with ONNX Runtime: for every model the crate
//! builds (the tutorial and recommended CNNs, the batch-norm, GAP and residual layer lists of
//! `configs/`, an every-layer list; two and three classes), its ONNX export, the preprocessed
//! sample test images it was given and our own probabilities for them.
//!
//! ```text
//! cargo run -p support --example onnx_fixtures -- OUTDIR
//! ```
//!
//! OUTDIR gets `NAME.onnx`, `NAME.inputs.npy` (float32 NHWC `[n, h, w, 1]`),
//! `NAME.expected.npy` (float32 `[n, 1]` or `[n, K]`) per model and `manifest.json` listing them.

use std::error::Error;
use std::path::{Path, PathBuf};

use rand::{rngs::StdRng, Rng, SeedableRng};
use safetensors::tensor::{Dtype, TensorView};
use support::dataset::LabelSource;
use support::export::save_onnx;
use support::metrics::{Decision, Threshold};
use support::model::{Activation, Layer, Model, ModelConfig, Padding};
use support::preprocessing::Preprocessing;
use support::resize::Interpolation;
use support::saved_model::SavedModel;

/// Sample test images per class given to each model.
const IMAGES_PER_CLASS: usize = 3;

fn main() -> Result<(), Box<dyn Error>> {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: onnx_fixtures OUTDIR")?,
    );
    std::fs::create_dir_all(&out)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = sample_files(&root.join("data/sample/chest_xray/test"))?;
    let mut manifest = vec![];
    for (i, (name, config, preprocessing)) in fixtures()?.into_iter().enumerate() {
        let model = perturbed(Model::new(config, i as u64)?, 100 + i as u64, &out)?;
        let config = model.config().clone();
        let (h, w) = (config.input_height(), config.input_width());
        let classes = config.classes();
        let saved = SavedModel {
            model,
            class_names: match classes {
                2 => vec!["NORMAL".into(), "PNEUMONIA".into()],
                _ => vec![
                    "NORMAL".into(),
                    "PNEUMONIA_BACTERIA".into(),
                    "PNEUMONIA_VIRUS".into(),
                ],
            },
            decision: match classes {
                2 => Decision::user(Threshold::new(0.42)?),
                _ => Decision::Argmax,
            },
            preprocessing,
            label_source: LabelSource::Folder,
            history: None,
        };
        let mut pixels = Vec::with_capacity(files.len() * h * w);
        for file in &files {
            pixels.extend(preprocessing.prepare(file, (h, w))?.iter().copied());
        }
        let x = ndarray::Array4::from_shape_vec((files.len(), h, w, 1), pixels)?;
        let probs = saved.model.predict(x.view())?;
        let summary = save_onnx(&saved, out.join(format!("{name}.onnx")))?;
        write_npy(
            &out.join(format!("{name}.inputs.npy")),
            x.shape(),
            x.as_slice().ok_or("inputs not contiguous")?,
        )?;
        write_npy(
            &out.join(format!("{name}.expected.npy")),
            probs.shape(),
            probs.as_slice().ok_or("probabilities not contiguous")?,
        )?;
        let (lo, hi) = probs
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &p| {
                (lo.min(p), hi.max(p))
            });
        println!("{summary}; our probabilities in [{lo:.4}, {hi:.4}]");
        manifest.push(serde_json::json!({
            "name": name,
            "classes": classes,
            "input_size": [h, w],
            "images": files.len(),
            "layers": config.layers().iter().map(Layer::class_name).collect::<Vec<_>>(),
            "class_names": saved.class_names,
            "threshold": saved.decision.threshold().map(Threshold::get),
            "min_probability": lo,
            "max_probability": hi,
        }));
    }
    std::fs::write(
        out.join("manifest.json"),
        serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(())
}

/// A fixture's name, the model's configuration and the preprocessing of its inputs.
type Fixture = (&'static str, ModelConfig, Preprocessing);

/// Every fixture.
fn fixtures() -> Result<Vec<Fixture>, Box<dyn Error>> {
    let keras = Preprocessing {
        rescale: 1.0 / 255.0,
        interpolation: Interpolation::Nearest,
        samplewise_center: false,
        samplewise_std_normalization: false,
        equalize_histogram: false,
    };
    // Standardised inputs are negative too, which unscaled [0, 1] pixels never are.
    let standardised = Preprocessing {
        interpolation: Interpolation::Area,
        samplewise_center: true,
        samplewise_std_normalization: true,
        ..keras
    };
    let listed = |text: &str, classes: usize| -> Result<ModelConfig, Box<dyn Error>> {
        let layers: Vec<Layer> = serde_json::from_str(text)?;
        Ok(ModelConfig::builder()
            .input_size(160, 160)
            .layers(layers)
            .classes(classes)
            .build()?)
    };
    let tutorial: Vec<Layer> = serde_json::from_str(include_str!("../../configs/tutorial.json"))?;
    let recommended: Vec<Layer> =
        serde_json::from_str(include_str!("../../configs/recommended.json"))?;
    let batchnorm = include_str!("../../configs/batchnorm.json");
    let gap = include_str!("../../configs/batchnorm_gap.json");
    let residual = include_str!("../../configs/batchnorm_residual.json");
    Ok(vec![
        (
            "tutorial",
            ModelConfig::builder()
                .input_size(130, 130)
                .layers(tutorial)
                .build()?,
            keras,
        ),
        (
            "recommended",
            ModelConfig::builder()
                .input_size(160, 160)
                .layers(recommended.clone())
                .build()?,
            keras,
        ),
        (
            "recommended_three_class",
            ModelConfig::builder()
                .input_size(160, 160)
                .layers(recommended)
                .classes(3)
                .build()?,
            keras,
        ),
        ("batchnorm", listed(batchnorm, 2)?, standardised),
        ("batchnorm_gap", listed(gap, 2)?, keras),
        ("batchnorm_gap_three_class", listed(gap, 3)?, standardised),
        ("batchnorm_residual", listed(residual, 2)?, keras),
        (
            "batchnorm_residual_three_class",
            listed(residual, 3)?,
            keras,
        ),
        ("every_layer", every_layer(2)?, standardised),
        ("every_layer_three_class", every_layer(3)?, standardised),
    ])
}

/// Every layer kind at a small, non-square size, with what `configs/` does not use: 'same'
/// padding of an even kernel (its odd zero row after the image), a linear convolution followed
/// by an `Activation`, a lone max pooling of 3, residual blocks with and without batch
/// normalisation, batch normalisation of a dense layer, a linear dense layer.
fn every_layer(classes: usize) -> Result<ModelConfig, Box<dyn Error>> {
    Ok(ModelConfig::builder()
        .input_size(45, 38)
        .layers(vec![
            Layer::Conv2D {
                filters: 6,
                kernel_size: 4,
                padding: Padding::Same,
                activation: Activation::Linear,
            },
            Layer::batch_normalization(),
            Layer::Activation {
                activation: Activation::Relu,
            },
            Layer::max_pooling2d(3),
            Layer::dropout(0.2),
            Layer::ResidualBlock {
                kernel_size: 3,
                batch_normalization: true,
            },
            Layer::ResidualBlock {
                kernel_size: 1,
                batch_normalization: false,
            },
            Layer::conv2d(8, 3, Activation::Relu),
            Layer::max_pooling2d(2),
            Layer::Flatten,
            Layer::dense(16, Activation::Relu),
            Layer::batch_normalization(),
            Layer::dense(8, Activation::Linear),
            Layer::dropout(0.5),
            Layer::output(classes),
        ])
        .classes(classes)
        .build()?)
}

/// The first few test images of each class folder, in name order.
fn sample_files(test: &Path) -> Result<Vec<PathBuf>, Box<dyn Error>> {
    let mut files = vec![];
    for class in ["NORMAL", "PNEUMONIA"] {
        let mut names: Vec<PathBuf> = std::fs::read_dir(test.join(class))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        names.sort();
        files.extend(names.into_iter().take(IMAGES_PER_CLASS));
    }
    Ok(files)
}

/// `model` with its weights moved off their initial values and read back from a weights file.
/// `Model::new` starts batch normalisation as the identity (gamma 1, beta 0, mean 0, variance 1)
/// and every bias at 0, so without this an export that mixed up those arrays would still agree.
fn perturbed(model: Model, seed: u64, dir: &Path) -> Result<Model, Box<dyn Error>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut arrays: Vec<(String, Vec<usize>, Vec<u8>)> = vec![];
    for p in model.params() {
        let kind = p.name.rsplit('.').next().unwrap_or("");
        let values: Vec<f32> = p
            .values
            .iter()
            .map(|&v| match kind {
                "kernel" => v * rng.gen_range(0.8..1.25),
                "bias" => rng.gen_range(-0.05..0.05),
                "beta" => rng.gen_range(-0.2..0.2),
                "moving_mean" => rng.gen_range(-0.3..0.3),
                // gamma and moving_variance
                _ => rng.gen_range(0.5..1.5),
            })
            .collect();
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        arrays.push((p.name.clone(), p.shape.clone(), bytes));
    }
    let views = arrays
        .iter()
        .map(|(name, shape, bytes)| {
            TensorView::new(Dtype::F32, shape.clone(), bytes).map(|v| (name.clone(), v))
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{e:?}"))?;
    let data = safetensors::tensor::serialize(views, &None).map_err(|e| format!("{e:?}"))?;
    let path = dir.join("perturbed.safetensors");
    std::fs::write(&path, data)?;
    let model = Model::load_safetensors(&path, model.config().clone())?;
    std::fs::remove_file(&path)?;
    Ok(model)
}

/// Writes a float32 array in NumPy's `.npy` format (version 1.0, little-endian, C order).
fn write_npy(path: &Path, shape: &[usize], values: &[f32]) -> std::io::Result<()> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {tuple}, }}");
    // Magic (6 bytes), version (2), header length (2), header and its newline: a multiple of 64.
    let used = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - used % 64) % 64));
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(path, bytes)
}
