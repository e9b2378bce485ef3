//! Fuzzes model loading. The first byte picks what the rest of the input becomes:
//! 0: a weights file, read by `Model::load_safetensors` and `Model::load_training_state`;
//! 1: `model.json` beside valid weights, read by `SavedModel::load`;
//! 2: `checkpoint.json` beside valid checkpoint weights, read by `ResumeCheckpoint::load_if_present`.
//!
//! With `SUPPORT_FUZZ_SEEDS=DIR` set, the first execution also writes one valid input of each
//! kind into DIR (a starting corpus).
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use support::model::{Model, ModelConfig};
use support::dataset::ClassScan;
use support::preprocessing::Preprocessing;
use support::resize::Interpolation;
use support::saved_model::SavedModel;
use support::training::ResumeCheckpoint;
use support::training::{EpochLog, FitOptions, History, RunSettings};

struct Setup {
    config: ModelConfig,
    weights: PathBuf,
    model_dir: PathBuf,
    checkpoint_dir: PathBuf,
}

fn config() -> ModelConfig {
    ModelConfig::builder()
        .input_size(12, 12)
        .conv_filters(&[2])
        .dense_units(4)
        .build()
        .expect("a small valid configuration")
}

fn setup() -> &'static Setup {
    static SETUP: OnceLock<Setup> = OnceLock::new();
    SETUP.get_or_init(|| {
        let root = std::env::temp_dir().join(format!("support-fuzz-{}", std::process::id()));
        let model_dir = root.join("model");
        let checkpoint_dir = root.join("checkpoints");
        std::fs::create_dir_all(&model_dir).expect("temp dir");
        let mut model = Model::new(config(), 1).expect("model");
        // The training-state seed then carries a moving average too (its tensors and momentum).
        model.use_ema(Some(0.99)).expect("a valid momentum");
        let preprocessing = Preprocessing {
            rescale: 1.0 / 255.0,
            interpolation: Interpolation::Area,
            samplewise_center: false,
            samplewise_std_normalization: false,
            equalize_histogram: false,
        };
        let class_names = vec!["NORMAL".to_string(), "PNEUMONIA".to_string()];
        SavedModel {
            model: model.clone(),
            class_names: class_names.clone(),
            decision: support::metrics::Decision::default(),
            preprocessing,
            label_source: support::dataset::LabelSource::Folder,
            history: None,
        }
        .save(&model_dir)
        .expect("save model");
        let history = History {
            epochs: vec![EpochLog {
                epoch: 1,
                loss: 0.7,
                accuracy: 0.5,
                auc: 0.5,
                val_loss: 0.7,
                val_accuracy: 0.5,
                val_auc: 0.5,
                seconds: 1.0,
                images_per_second: 10.0,
            }],
            best_epoch: 1,
            stopped_early: false,
            decision: support::metrics::Decision::default(),
            validation: None,
            temperature: None,
            validation_split: None,
        };
        ResumeCheckpoint::save(
            &checkpoint_dir,
            &model,
            Some(&model),
            &history,
            &RunSettings::new(
                &config(),
                &FitOptions::default(),
                &ClassScan {
                    class_names: class_names.clone(),
                    files: vec![
                        "NORMAL/IM-0001-0001.jpeg".into(),
                        "PNEUMONIA/person1_virus_1.jpeg".into(),
                    ],
                    labels: vec![0, 1],
                },
            ),
            &class_names,
        )
        .expect("save checkpoint");
        let setup = Setup {
            config: config(),
            weights: root.join("fuzzed.safetensors"),
            model_dir,
            checkpoint_dir,
        };
        if let Some(seeds) = std::env::var_os("SUPPORT_FUZZ_SEEDS") {
            let seeds = Path::new(&seeds);
            std::fs::create_dir_all(seeds).expect("seed dir");
            let with = |mode: u8, file: &Path| {
                let mut bytes = vec![mode];
                bytes.extend(std::fs::read(file).expect("seed file"));
                bytes
            };
            let train_state = std::fs::read_dir(&setup.checkpoint_dir)
                .expect("checkpoint dir")
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| {
                    p.file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with("epoch-"))
                })
                .expect("an epoch file");
            let seeds_out = [
                (
                    "weights",
                    with(0, &setup.model_dir.join("model.safetensors")),
                ),
                ("training_state", with(0, &train_state)),
                ("model_json", with(1, &setup.model_dir.join("model.json"))),
                (
                    "checkpoint_json",
                    with(2, &ResumeCheckpoint::card_path(&setup.checkpoint_dir)),
                ),
            ];
            for (name, bytes) in seeds_out {
                std::fs::write(seeds.join(name), bytes).expect("write seed");
            }
        }
        setup
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 3 {
        0 => {
            std::fs::write(&s.weights, rest).expect("temp file");
            if let Ok(model) = Model::load_safetensors(&s.weights, s.config.clone()) {
                assert_eq!(model.config(), &s.config);
            }
            if let Ok(model) = Model::load_training_state(&s.weights, s.config.clone()) {
                assert_eq!(model.config(), &s.config);
            }
        }
        1 => {
            std::fs::write(s.model_dir.join("model.json"), rest).expect("temp file");
            if let Ok(saved) = SavedModel::load(&s.model_dir) {
                assert_eq!(saved.class_names.len(), 2);
            }
        }
        _ => {
            std::fs::write(ResumeCheckpoint::card_path(&s.checkpoint_dir), rest)
                .expect("temp file");
            let _ = ResumeCheckpoint::load_if_present(&s.checkpoint_dir);
        }
    }
});
