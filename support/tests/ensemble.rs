//! Held-out evaluation, test-time augmentation and ensembles on the shipped sample, with tiny
//! models trained for two steps: the held-out images are the ones training validated on, TTA
//! with one transform is plain prediction, and an ensemble averages its members.

use std::path::{Path, PathBuf};

use support::ensemble::{Ensemble, ThresholdChoice};
use support::inference::{self, Predictions};
use support::metrics::Decision;
use support::model::{Model, ModelConfig};
use support::saved_model::SavedModel;
use support::split::predict_held_out;
use support::training::{self, FitOptions, FitParams, Silent};
use support::Error;

fn sample(split: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../data/sample/chest_xray")
        .join(split)
}

/// A small model of `size` x `size` inputs.
fn tiny_config(size: usize) -> ModelConfig {
    ModelConfig::builder()
        .input_size(size, size)
        .conv_filters(&[4, 8])
        .dense_units(8)
        .build()
        .unwrap()
}

/// One epoch of two steps with `seed`, the validation split drawn with `split_seed` (to build).
fn tiny_options(seed: u64, split_seed: u64) -> FitParams {
    FitOptions::builder()
        .epochs(1)
        .learning_rate(0.002)
        .steps_per_epoch(2)
        .batch_size(8)
        .seed(seed)
        .split_seed(split_seed)
}

/// A model of `size` x `size` inputs trained with [`tiny_options`].
fn tiny_model(size: usize, seed: u64, split_seed: u64) -> SavedModel {
    let options = tiny_options(seed, split_seed).build().unwrap();
    let mut model = Model::new(tiny_config(size), seed).unwrap();
    let history = training::fit(&mut model, sample("train"), &options, &mut Silent).unwrap();
    SavedModel::from_fit(model, history, &options).unwrap()
}

/// Removes the validation split's record from a model folder's `model.json`, as versions before
/// the record wrote it.
fn forget_validation_split(model_dir: &Path) {
    let card = model_dir.join("model.json");
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&card).unwrap()).unwrap();
    json["history"]
        .as_object_mut()
        .unwrap()
        .remove("validation_split");
    std::fs::write(&card, serde_json::to_vec(&json).unwrap()).unwrap();
}

fn assert_close(a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tolerance, "image {i}: {x} against {y}");
    }
}

#[test]
fn held_out_predictions_are_the_validation_scores_training_recorded() {
    let saved = tiny_model(48, 3, 7);
    let recorded = saved.history.as_ref().unwrap().validation.clone().unwrap();
    let held_out = predict_held_out(&saved, sample("train"), 1).unwrap();
    assert_eq!(held_out.labels_u8(), recorded.labels);
    assert_close(&held_out.probs, &recorded.probs, 1e-6);
    // The record survives saving, and a model.json without it (older models) still loads.
    let dir = tempfile::tempdir().unwrap();
    saved.save(dir.path()).unwrap();
    let loaded = SavedModel::load(dir.path()).unwrap();
    assert_eq!(loaded.history, saved.history);
    forget_validation_split(dir.path());
    let old = SavedModel::load(dir.path()).unwrap();
    assert!(matches!(
        predict_held_out(&old, sample("train"), 1),
        Err(Error::NoValidationSplit)
    ));
    // A training folder with a file fewer is not the one the split was drawn from.
    let copy = tempfile::tempdir().unwrap();
    for class in ["NORMAL", "PNEUMONIA"] {
        let to = copy.path().join(class);
        std::fs::create_dir_all(&to).unwrap();
        for entry in std::fs::read_dir(sample("train").join(class))
            .unwrap()
            .skip(1)
        {
            let path = entry.unwrap().path();
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    match predict_held_out(&saved, copy.path(), 1) {
        Err(error @ Error::TrainingFilesChanged { .. }) => {
            assert!(error.to_string().contains("differ"), "{error}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn tta_of_one_is_plain_prediction_and_more_transforms_average_their_passes() {
    let saved = tiny_model(48, 3, 3);
    let test = sample("test");
    let plain = inference::predict_labelled(&saved, &test).unwrap();
    // One model as an ensemble of one: the public road to test-time augmentation.
    let single = Ensemble::new(vec![saved]).unwrap();
    let one = single.predict_directory(&test, 1).unwrap();
    assert_eq!(one.probs, plain.probs);
    assert_eq!(one.files, plain.files);
    // The per-file path (decode, transform, standardise, one batch per file) agrees with the
    // generator's, with and without augmentation.
    let per_file = |tta| -> Vec<f32> {
        single
            .predict_files_classes(&plain.files, tta)
            .unwrap()
            .into_iter()
            .map(|row| row.unwrap()[1])
            .collect()
    };
    assert_close(&per_file(1), &plain.probs, 1e-5);
    let three = single.predict_directory(&test, 3).unwrap();
    assert_close(&per_file(3), &three.probs, 1e-5);
    assert!(
        three.probs.iter().zip(&plain.probs).any(|(a, b)| a != b),
        "shifted images predicted exactly alike"
    );
    for bad in [0, 10] {
        assert!(matches!(
            single.predict_directory(&test, bad),
            Err(Error::InvalidArgument { .. })
        ));
    }
}

#[test]
fn an_ensemble_averages_members_of_any_input_size_and_shares_their_validation_split() {
    let a = tiny_model(48, 3, 3);
    let b = tiny_model(40, 4, 3);
    let test = sample("test");
    // One member is that member.
    let alone = Ensemble::new(vec![a.clone()]).unwrap();
    let a_test = inference::predict_labelled(&a, &test).unwrap();
    assert_eq!(
        alone.predict_directory(&test, 1).unwrap().probs,
        a_test.probs
    );
    assert_eq!(alone.decision(), a.decision);
    // Two: the mean of their probabilities, file by file.
    let pair = Ensemble::new(vec![a.clone(), b.clone()]).unwrap();
    let b_test = inference::predict_labelled(&b, &test).unwrap();
    let mean: Vec<f32> = a_test
        .probs
        .iter()
        .zip(&b_test.probs)
        .map(|(x, y)| (x + y) / 2.0)
        .collect();
    let both = pair.predict_directory(&test, 1).unwrap();
    assert_eq!(both.files, a_test.files);
    assert_close(&both.probs, &mean, 1e-6);
    let files: Vec<PathBuf> = a_test.files[..4].to_vec();
    let rows = pair.predict_files_classes(&files, 1).unwrap();
    let first: Vec<f32> = rows.iter().map(|r| r.as_ref().unwrap()[1]).collect();
    assert_close(&first, &mean[..4], 1e-5);
    // They held out the same patients: the threshold is chosen on their averaged scores.
    let images = a
        .history
        .as_ref()
        .unwrap()
        .validation
        .as_ref()
        .unwrap()
        .labels
        .len();
    assert_eq!(
        pair.threshold_choice(),
        &ThresholdChoice::Validation { images }
    );
    let held_out = pair.predict_held_out(sample("train"), 1).unwrap();
    assert_eq!(held_out.files.len(), images);
    let separately: Vec<Predictions> = [&a, &b]
        .iter()
        .map(|m| predict_held_out(m, sample("train"), 1).unwrap())
        .collect();
    assert_close(
        &held_out.probs,
        &Predictions::average(&separately).unwrap().probs,
        0.0,
    );
    // A member validated on other patients: 0.5, and no held-out evaluation.
    let c = tiny_model(48, 5, 5);
    let mixed = Ensemble::new(vec![a, c]).unwrap();
    assert_eq!(mixed.decision(), Decision::default());
    assert!(matches!(
        mixed.predict_held_out(sample("train"), 1),
        Err(Error::EnsembleMismatch {
            what: "validation split",
            ..
        })
    ));
}
