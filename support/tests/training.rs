//! `training::fit` on the shipped sample with the optional levers: cosine learning-rate decay and
//! a moving average of the weights, through checkpoints and a resumed run.

use std::path::{Path, PathBuf};

use support::cnn::{Model, ModelConfig};
use support::saved_model::Checkpoint;
use support::training::{self, FitOptions, LrSchedule, Silent};

fn sample_train() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray/train")
}

fn config() -> ModelConfig {
    ModelConfig::builder()
        .input_size(48, 48)
        .conv_filters(&[4, 8])
        .dense_units(8)
        .learning_rate(0.002)
        .build()
        .unwrap()
}

fn options(epochs: usize, checkpoints: &Path) -> FitOptions {
    FitOptions::default()
        .epochs(epochs)
        .steps_per_epoch(2)
        .batch_size(8)
        .patience(1000)
        .seed(3)
        .lr_schedule(LrSchedule::Cosine)
        .ema_momentum(Some(0.8))
        .checkpoint_dir(checkpoints)
}

#[test]
fn averaged_and_decayed_training_checkpoints_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("checkpoints");
    let mut model = Model::new(config(), 1).unwrap();
    let history = training::fit(
        &mut model,
        sample_train(),
        &options(2, &checkpoints),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(history.epochs.len(), 2);
    // fit hands back averaged weights, with no average of their own.
    assert_eq!(model.ema_momentum(), None);

    let checkpoint = Checkpoint::load_if_present(&checkpoints, &config())
        .unwrap()
        .expect("a checkpoint after every epoch");
    // The checkpoint keeps the raw weights with their running average (the learning rate is
    // not stored: fit sets it from the schedule before every step).
    assert_eq!(checkpoint.model.ema_momentum(), Some(0.8));
    assert_ne!(
        checkpoint.model.averaged().weights(),
        checkpoint.model.weights()
    );
    let best = checkpoint.best.expect("a best model");
    assert_eq!(best.ema_momentum(), None);

    // Resuming for one more epoch runs only that epoch and keeps the first two as they were.
    let mut resumed = Model::new(config(), 1).unwrap();
    let more = training::fit(
        &mut resumed,
        sample_train(),
        &options(3, &checkpoints),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(more.epochs.len(), 3);
    assert_eq!(
        format!("{:?}", &more.epochs[..2]),
        format!("{:?}", history.epochs)
    );
    assert_eq!(resumed.ema_momentum(), None);
}

#[test]
fn the_cosine_schedule_sets_each_steps_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new(config(), 1).unwrap();
    let options = options(2, &dir.path().join("unused"))
        .restore_best_weights(false)
        .ema_momentum(None);
    let options = FitOptions {
        checkpoint_dir: None,
        ..options
    };
    training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap();
    // Two epochs of two steps: the last step (index 3 of 4) ran at 0.002 * (1 + cos(3 pi / 4)) / 2.
    let expected = 0.002 * 0.5 * (1.0 - 0.5f32.sqrt());
    assert!(
        (model.learning_rate() - expected).abs() < 1e-7,
        "{}",
        model.learning_rate()
    );
    assert_eq!(model.config().learning_rate(), 0.002);
}

#[test]
fn equalized_preprocessing_is_recorded_for_prediction() {
    let generator = support::generator::ImageDataGenerator::builder()
        .rescale(1.0 / 255.0)
        .equalize_histogram(true)
        .build()
        .unwrap();
    let options = FitOptions::default().augmentation(generator);
    let prep = options.preprocessing();
    assert!(prep.equalize_histogram);
    let file = std::fs::read_dir(sample_train().join("NORMAL"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpeg"))
        .unwrap();
    let x = prep.prepare(&file, (32, 40)).unwrap();
    assert_eq!(x.dim(), (32, 40));
    // Equalized and rescaled: values spread over (0, 1], the brightest level at 1.
    let max = x.iter().copied().fold(f32::MIN, f32::max);
    let min = x.iter().copied().fold(f32::MAX, f32::min);
    assert!((max - 1.0).abs() < 1e-5, "{max}");
    assert!(min > 0.0 && min < max, "{min}");
}
