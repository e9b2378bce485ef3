//! `training::fit` on the shipped sample: checkpoints and resuming (bitwise the uninterrupted
//! run, other settings refused), early stopping with restored best weights, determinism, and
//! the levers (cosine learning-rate decay, a moving average of the weights).

use std::path::{Path, PathBuf};

use support::metrics::calibration::apply_temperature;
use support::metrics::{best_threshold, Decision, Threshold, ThresholdSource};
use support::model::{Model, ModelConfig};
use support::saved_model::SavedModel;
use support::training::{
    self, ClassWeight, FitOptions, FitParams, History, LrSchedule, Progress, ResumeCheckpoint,
    Silent,
};
use support::{inference, Error};

fn sample_train() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray/train")
}

fn config() -> ModelConfig {
    ModelConfig::builder()
        .input_size(48, 48)
        .conv_filters(&[4, 8])
        .dense_units(8)
        .build()
        .unwrap()
}

/// The checked options of [`params`].
fn options(epochs: usize, checkpoints: &Path) -> FitOptions {
    params(epochs, checkpoints).build().unwrap()
}

/// Two steps per epoch at 0.002 along a cosine, checkpoints in `checkpoints`.
fn params(epochs: usize, checkpoints: &Path) -> FitParams {
    FitOptions::builder()
        .epochs(epochs)
        .learning_rate(0.002)
        .steps_per_epoch(2)
        .batch_size(8)
        .patience(1000)
        .seed(3)
        .lr_schedule(LrSchedule::Cosine)
        .ema_momentum(Some(0.8))
        .checkpoint_dir(checkpoints)
}

/// A progress hook that stops training (by panicking) when epoch `at` starts its first step,
/// after the checkpoint of the epoch before is on disk: an interruption inside the library.
struct StopAt {
    at: usize,
}

impl Progress for StopAt {
    fn batch(&mut self, epoch: usize, _batch: usize, _loss: f32) {
        if epoch == self.at {
            panic!("interrupted at epoch {epoch}");
        }
    }
}

/// Runs `fit` with a hook that interrupts it at the start of epoch `at`.
fn fit_interrupted_at(at: usize, options: &FitOptions) {
    let interrupted = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut model = Model::new(config(), 1).unwrap();
        training::fit(&mut model, sample_train(), options, &mut StopAt { at })
    }));
    assert!(interrupted.is_err(), "training was not interrupted");
}

#[test]
fn a_resumed_run_gives_the_uninterrupted_runs_weights() {
    // Cosine decay, a moving average and dropout: every stream a resume has to continue.
    let dir = tempfile::tempdir().unwrap();
    let mut straight = Model::new(config(), 1).unwrap();
    let uninterrupted = training::fit(
        &mut straight,
        sample_train(),
        &options(3, &dir.path().join("straight")),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(uninterrupted.epochs.len(), 3);
    // fit hands back averaged weights, with no average of their own.
    assert_eq!(straight.ema_momentum(), None);

    let checkpoints = dir.path().join("interrupted");
    fit_interrupted_at(3, &options(3, &checkpoints));
    let checkpoint = ResumeCheckpoint::load_if_present(&checkpoints)
        .unwrap()
        .expect("a checkpoint after every epoch");
    assert_eq!(checkpoint.history.epochs.len(), 2);
    // The checkpoint keeps the raw weights with their running average (the learning rate is
    // not stored: fit sets it from the schedule before every step).
    assert_eq!(checkpoint.model.ema_momentum(), Some(0.8));
    assert_ne!(
        checkpoint.model.averaged().weights(),
        checkpoint.model.weights()
    );
    assert_eq!(checkpoint.best.expect("a best model").ema_momentum(), None);

    let mut resumed = Model::new(config(), 1).unwrap();
    let history = training::fit(
        &mut resumed,
        sample_train(),
        &options(3, &checkpoints),
        &mut Silent,
    )
    .unwrap();
    // Bitwise the same weights and the same history (timings aside).
    assert_eq!(resumed.weights(), straight.weights());
    let without_timing = |h: &History| {
        h.epochs
            .iter()
            .map(|e| {
                format!(
                    "{} {} {} {} {} {}",
                    e.epoch, e.loss, e.accuracy, e.val_loss, e.val_accuracy, e.val_auc
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(without_timing(&history), without_timing(&uninterrupted));
    assert_eq!(
        (history.best_epoch, history.decision),
        (uninterrupted.best_epoch, uninterrupted.decision)
    );

    // Resuming a finished run runs no epoch and returns the same weights; a history without
    // validation scores (checkpoints of earlier versions) gets them back.
    let card = ResumeCheckpoint::card_path(&checkpoints);
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&card).unwrap()).unwrap();
    json["history"]
        .as_object_mut()
        .unwrap()
        .remove("validation");
    std::fs::write(&card, serde_json::to_vec(&json).unwrap()).unwrap();
    let mut finished = Model::new(config(), 1).unwrap();
    let again = training::fit(
        &mut finished,
        sample_train(),
        &options(3, &checkpoints),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(again.epochs.len(), 3);
    assert_eq!(finished.weights(), straight.weights());
    assert!(again.validation.is_some());
    assert_eq!(again.validation, uninterrupted.validation);
}

#[test]
fn a_resume_with_other_settings_is_refused_naming_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("checkpoints");
    fit_interrupted_at(2, &options(3, &checkpoints));
    let changes: [(&str, FitOptions); 4] = [
        ("seed", params(3, &checkpoints).seed(4).build().unwrap()),
        (
            "validation_split",
            params(3, &checkpoints)
                .validation_split(0.2)
                .build()
                .unwrap(),
        ),
        (
            "class_weight",
            params(3, &checkpoints)
                .class_weight(ClassWeight::Balanced)
                .build()
                .unwrap(),
        ),
        ("schedule_epochs", options(4, &checkpoints)),
    ];
    for (setting, changed) in changes {
        let mut model = Model::new(config(), 1).unwrap();
        let error = training::fit(&mut model, sample_train(), &changed, &mut Silent).unwrap_err();
        match &error {
            Error::ResumeMismatch { changes, .. } => {
                let named: Vec<&str> = changes.iter().map(|c| c.setting.as_str()).collect();
                assert_eq!(named, [setting]);
            }
            other => panic!("expected a resume mismatch on {setting}, got {other}"),
        }
        assert!(error.to_string().contains(setting), "{error}");
    }
    // Another model configuration is refused too; the same settings resume.
    let other = ModelConfig::builder()
        .input_size(48, 48)
        .conv_filters(&[4, 4])
        .dense_units(8)
        .build()
        .unwrap();
    let mut model = Model::new(other, 1).unwrap();
    let error = training::fit(
        &mut model,
        sample_train(),
        &options(3, &checkpoints),
        &mut Silent,
    )
    .unwrap_err();
    // The changed setting of the model is named down to the layer, old value and new.
    match &error {
        Error::ResumeMismatch { changes, .. } => {
            let named: Vec<String> = changes.iter().map(ToString::to_string).collect();
            assert_eq!(named, ["model.layers.2.config.filters 8 -> 4"]);
        }
        other => panic!("expected a resume mismatch on the model, got {other}"),
    }
    let mut model = Model::new(config(), 1).unwrap();
    training::fit(
        &mut model,
        sample_train(),
        &options(3, &checkpoints),
        &mut Silent,
    )
    .unwrap();
}

/// Options under which the validation loss soon stops improving: a high learning rate, raw
/// weights, patience 2.
fn overshooting(epochs: usize) -> FitOptions {
    overshooting_params(epochs).build().unwrap()
}

fn overshooting_params(epochs: usize) -> FitParams {
    FitOptions::builder()
        .epochs(epochs)
        .learning_rate(0.02)
        .steps_per_epoch(3)
        .batch_size(8)
        .patience(2)
        .seed(11)
        .ema_momentum(None)
        // A constant rate, so that a run told to end at the best epoch takes the same steps
        // (a cosine schedule spans the epochs it is given).
        .lr_schedule(LrSchedule::Constant)
}

fn overshooting_config() -> ModelConfig {
    ModelConfig::builder()
        .input_size(48, 48)
        .conv_filters(&[4, 8])
        .dense_units(8)
        .build()
        .unwrap()
}

fn mean_bce(labels: &[f32], probs: &[f32]) -> f64 {
    let total: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let p = f64::from(p).clamp(1e-7, 1.0 - 1e-7);
            -(f64::from(y) * p.ln() + (1.0 - f64::from(y)) * (1.0 - p).ln())
        })
        .sum();
    total / labels.len() as f64
}

#[test]
fn early_stopping_stops_after_patience_and_restores_the_best_epoch() {
    let options = overshooting(12);
    let mut model = Model::new(overshooting_config(), 2).unwrap();
    let history = training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap();
    assert!(history.stopped_early, "{:#?}", history.epochs);
    // Stopped `patience` epochs after the best, none of which beat it.
    assert_eq!(
        history.epochs.len(),
        history.best_epoch + options.patience()
    );
    let best = history.best().unwrap().val_loss;
    assert!(history.epochs.iter().all(|e| e.val_loss >= best));

    // Same seed, same machine: bitwise the same weights.
    let mut again = Model::new(overshooting_config(), 2).unwrap();
    training::fit(&mut again, sample_train(), &options, &mut Silent).unwrap();
    assert_eq!(again.weights(), model.weights());

    // The returned weights are the best epoch's: a run that ends at that epoch ends with them.
    let mut until_best = Model::new(overshooting_config(), 2).unwrap();
    let short = training::fit(
        &mut until_best,
        sample_train(),
        &options
            .to_builder()
            .epochs(history.best_epoch)
            .build()
            .unwrap(),
        &mut Silent,
    )
    .unwrap();
    assert_eq!(short.best_epoch, history.best_epoch);
    assert_eq!(until_best.weights(), model.weights());

    // The recorded validation loss and threshold are those of the restored weights.
    let val = training::predict_validation(&model, sample_train(), &options).unwrap();
    assert!((mean_bce(&val.labels, &val.probs) - f64::from(best)).abs() < 1e-5);
    let labels: Vec<u8> = val.labels.iter().map(|&y| y as u8).collect();
    assert_eq!(
        Decision::validation(best_threshold(&labels, &val.probs).unwrap()),
        history.decision
    );
}

#[test]
fn without_restore_the_last_epochs_weights_are_kept() {
    let options = overshooting_params(12)
        .restore_best_weights(false)
        .build()
        .unwrap();
    let mut model = Model::new(overshooting_config(), 2).unwrap();
    let history = training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap();
    assert!(history.stopped_early);
    let mut best_only = Model::new(overshooting_config(), 2).unwrap();
    training::fit(
        &mut best_only,
        sample_train(),
        &overshooting(history.best_epoch),
        &mut Silent,
    )
    .unwrap();
    assert_ne!(best_only.weights(), model.weights());
    let val = training::predict_validation(&model, sample_train(), &options).unwrap();
    let last = history.epochs.last().unwrap().val_loss;
    assert!((mean_bce(&val.labels, &val.probs) - f64::from(last)).abs() < 1e-5);
}

#[test]
fn the_cosine_schedule_sets_each_steps_rate() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new(config(), 1).unwrap();
    let options = params(2, &dir.path().join("unused"))
        .restore_best_weights(false)
        .ema_momentum(None)
        .no_checkpoints()
        .build()
        .unwrap();
    training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap();
    // Two epochs of two steps: the last step (index 3 of 4) ran at 0.002 * (1 + cos(3 pi / 4)) / 2.
    let expected = 0.002 * 0.5 * (1.0 - 0.5f32.sqrt());
    assert!(
        (model.learning_rate() - expected).abs() < 1e-7,
        "{}",
        model.learning_rate()
    );
    assert_eq!(options.learning_rate(), 0.002);
}

#[test]
fn equalized_preprocessing_is_recorded_for_prediction() {
    let generator = support::generator::ImageDataGenerator::builder()
        .rescale(1.0 / 255.0)
        .equalize_histogram(true)
        .build()
        .unwrap();
    let options = FitOptions::builder()
        .augmentation(generator)
        .build()
        .unwrap();
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

#[test]
fn temperature_scaling_is_folded_into_the_model_and_keeps_its_decisions() {
    let options = FitOptions::builder()
        .epochs(2)
        .learning_rate(0.002)
        .steps_per_epoch(3)
        .batch_size(8)
        .seed(5)
        .build()
        .unwrap();
    let mut model = Model::new(config(), 1).unwrap();
    let history = training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap();
    let scores = history
        .validation
        .clone()
        .expect("fit records the best epoch's scores");
    assert_eq!(scores.labels.len(), scores.probs.len());
    let mut saved = SavedModel::from_fit(model, history, &options).unwrap();
    let test = sample_train().parent().unwrap().join("test");
    let raw = inference::evaluate(&saved, &test).unwrap().0;
    let threshold = |m: &SavedModel| m.decision.threshold().expect("a two-class model");
    let raw_threshold = threshold(&saved);

    let t = saved.calibrate().unwrap();
    assert!(t > 0.0 && t != 1.0, "{t}");
    assert_eq!(saved.temperature(), Some(t));
    let scaled = inference::evaluate(&saved, &test).unwrap().0;
    let expected = apply_temperature(&raw.probs, t).unwrap();
    for ((&got, &want), &before) in scaled.probs.iter().zip(&expected).zip(&raw.probs) {
        assert!((got - want).abs() < 1e-4, "{got} vs {want}");
        // The same decisions at the moved threshold.
        assert_eq!(
            threshold(&saved).predicts_positive(got),
            raw_threshold.predicts_positive(before)
        );
    }
    // Calibrating again fits the same temperature to the same raw scores: nothing changes.
    let calibrated_threshold = threshold(&saved);
    assert!((saved.calibrate().unwrap() - t).abs() < 1e-6);
    assert!((threshold(&saved).get() - calibrated_threshold.get()).abs() < 1e-5);
    assert_eq!(saved.decision.source(), Some(ThresholdSource::Validation));
    let again = inference::evaluate(&saved, &test).unwrap().0;
    for (a, b) in again.probs.iter().zip(&scaled.probs) {
        assert!((a - b).abs() < 1e-5);
    }
    // Saved and loaded, it predicts the same and remembers its temperature.
    let dir = tempfile::tempdir().unwrap();
    saved.save(dir.path()).unwrap();
    let loaded = SavedModel::load(dir.path()).unwrap();
    assert_eq!(loaded.temperature(), Some(t));
    assert_eq!(loaded.decision, saved.decision);
    assert_eq!(
        inference::evaluate(&loaded, &test).unwrap().0.probs,
        again.probs
    );
}

/// A training folder under `root` with the given classes, each holding `per_class` copies of
/// one sample image under distinct patients' names.
fn copied_folder(root: &Path, classes: &[&str], per_class: usize) -> PathBuf {
    let image = std::fs::read_dir(sample_train().join("PNEUMONIA"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "jpeg"))
        .unwrap();
    let train = root.join("train");
    for class in classes {
        std::fs::create_dir_all(train.join(class)).unwrap();
        for i in 0..per_class {
            let name = format!("person{}{i}_bacteria_{i}.jpeg", class.len());
            std::fs::copy(&image, train.join(class).join(name)).unwrap();
        }
    }
    train
}

#[test]
fn errors_name_what_went_wrong() {
    let dir = tempfile::tempdir().unwrap();
    // Three classes for a binary CNN.
    let three = copied_folder(&dir.path().join("three"), &["A", "B", "C"], 2);
    let mut model = Model::new(config(), 1).unwrap();
    match training::fit(&mut model, &three, &FitOptions::default(), &mut Silent) {
        Err(Error::ClassCount {
            path,
            classes,
            expected,
        }) => {
            assert_eq!(path, three);
            assert_eq!(classes, ["A", "B", "C"]);
            assert_eq!(expected, 2);
        }
        other => panic!("expected ClassCount, got {other:?}"),
    }
    // Batches whose activations are past the memory budget: refused before any image is read.
    let huge = FitOptions::builder().batch_size(1 << 20).build().unwrap();
    let mut model = Model::new(config(), 1).unwrap();
    match training::fit(&mut model, &three, &huge, &mut Silent) {
        Err(Error::MemoryBudget { batch, .. }) => assert_eq!(batch, 1 << 20),
        other => panic!("expected MemoryBudget, got {other:?}"),
    }
    // One patient per class: no validation split can hold both classes.
    let tiny = copied_folder(&dir.path().join("tiny"), &["NORMAL", "PNEUMONIA"], 1);
    let err = training::fit(&mut model, &tiny, &FitOptions::default(), &mut Silent).unwrap_err();
    assert!(
        matches!(err, Error::TooFewPatients { fraction, .. } if fraction == 0.1),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("too few patients to hold out 10%"),
        "{err}"
    );
}

#[test]
fn a_loss_that_stops_being_finite_is_reported_with_its_step_and_epoch() {
    // An absurd learning rate blows the weights up within a few steps.
    let wild = ModelConfig::builder()
        .input_size(48, 48)
        .conv_filters(&[4, 8])
        .dense_units(8)
        .build()
        .unwrap();
    let mut model = Model::new(wild.clone(), 1).unwrap();
    let options = FitOptions::builder()
        .epochs(3)
        .learning_rate(f32::MAX)
        .steps_per_epoch(4)
        .batch_size(8)
        .ema_momentum(None)
        .seed(2)
        .build()
        .unwrap();
    let err = training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap_err();
    match &err {
        Error::Diverged { epoch, step, loss } => {
            assert!(epoch.is_some_and(|e| (1..=3).contains(&e)), "{err}");
            assert!(*step >= 1, "{err}");
            assert!(!loss.is_finite(), "{err}");
        }
        other => panic!("expected Diverged, got {other:?}"),
    }
    assert!(
        err.to_string().contains("training diverged at step"),
        "{err}"
    );
    // Straight from the model, outside fit, the epoch is unknown.
    let mut model = Model::new(wild, 1).unwrap();
    model.set_learning_rate(f32::MAX).unwrap();
    let x = ndarray::Array4::from_shape_fn((2, 48, 48, 1), |(i, r, c, _)| {
        ((i + r * 3 + c * 7) % 11) as f32 / 10.0
    });
    let err = (0..10)
        .find_map(|_| model.train_on_batch(x.view(), &[0.0, 1.0], None).err())
        .expect("the loss leaves the finite numbers within ten steps");
    assert!(
        matches!(err, Error::Diverged { epoch: None, .. }),
        "{err:?}"
    );
}

/// Three classes end to end on the shipped sample: labels from file names, one-hot batches, a
/// softmax model, and K-class metrics over its predictions.
/// A small three-class (softmax) model for 32 x 32 inputs.
fn three_class_config() -> ModelConfig {
    ModelConfig::builder()
        .input_size(32, 32)
        .conv_filters(&[4, 8])
        .dense_units(16)
        .classes(3)
        .build()
        .unwrap()
}

#[test]
fn three_classes_from_file_names_train_and_evaluate() {
    use support::dataset::LabelSource;
    use support::generator::{ClassMode, FlowOptions, ImageDataGenerator};
    use support::metrics::multiclass::{macro_roc_auc, MulticlassConfusion};

    let generator = ImageDataGenerator::builder()
        .rescale(1.0 / 255.0)
        .build()
        .unwrap();
    let options = FlowOptions::default()
        .target_size(32, 32)
        .class_mode(ClassMode::Categorical)
        .label_source(LabelSource::FileName)
        .batch_size(16)
        .seed(5)
        .verbose(false);
    let mut batches = generator
        .flow_from_directory(sample_train(), options)
        .unwrap();
    let config = three_class_config();
    let mut model = Model::new(config, 3).unwrap();
    let mut losses = Vec::new();
    for batch in batches.epoch() {
        losses.push(
            model
                .train_on_batch(batch.x.view(), batch.y.as_slice().unwrap(), None)
                .unwrap(),
        );
    }
    assert!(losses.iter().all(|l| l.is_finite()));
    // Evaluate on the training folder itself: this checks the plumbing, not the skill.
    let mut eval = generator
        .flow_from_directory(
            sample_train(),
            FlowOptions::default()
                .target_size(32, 32)
                .class_mode(ClassMode::Sparse)
                .label_source(LabelSource::FileName)
                .shuffle(false)
                .verbose(false),
        )
        .unwrap();
    let labels = eval.classes().to_vec();
    let mut probs = Vec::new();
    for batch in eval.epoch() {
        probs.push(model.predict(batch.x.view()).unwrap());
    }
    let views: Vec<_> = probs.iter().map(|p| p.view()).collect();
    let probs = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    assert_eq!(probs.dim(), (labels.len(), 3));
    let cm = MulticlassConfusion::from_probabilities(&labels, probs.view()).unwrap();
    assert_eq!(cm.total() as usize, labels.len());
    let auc = macro_roc_auc(&labels, probs.view()).unwrap();
    assert!((0.0..=1.0).contains(&auc));
    let report = cm
        .report(&["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"], 2)
        .unwrap();
    assert!(report.contains("PNEUMONIA_VIRUS"), "{report}");
}

#[test]
fn three_classes_fit_save_load_evaluate_and_predict() {
    use support::dataset::LabelSource;
    use support::inference::THREE_CLASSES;
    use support::metrics::intervals::BootstrapOptions;

    let config = three_class_config();
    // A three-class model on folder labels (two classes) is refused before training, with the hint.
    let mut model = Model::new(config.clone(), 3).unwrap();
    let folders = FitOptions::builder().epochs(1).build().unwrap();
    let err = training::fit(&mut model, sample_train(), &folders, &mut Silent).unwrap_err();
    assert!(
        matches!(err, Error::ClassCount { expected: 3, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--labels file-name"), "{err}");

    let options = FitOptions::builder()
        .epochs(2)
        .seed(4)
        .class_weight(ClassWeight::Balanced)
        .label_source(LabelSource::FileName)
        .build()
        .unwrap();
    let history = training::fit(&mut model, sample_train(), &options, &mut Silent).unwrap();
    assert_eq!(history.epochs.len(), 2);
    for e in &history.epochs {
        assert!(e.loss.is_finite() && e.val_loss.is_finite(), "{e}");
        // Three classes: chance is a third, a categorical loss starts near ln 3.
        assert!((0.0..=1.0).contains(&e.val_accuracy) && (0.0..=1.0).contains(&e.val_auc));
        assert!(e.val_loss > 0.3 && e.val_loss < 5.0, "{e}");
    }
    // Three classes: the most probable class, no threshold.
    assert_eq!(history.decision, Decision::Argmax);
    let scores = history.validation.as_ref().unwrap();
    assert_eq!(scores.probs.len(), 3 * scores.labels.len());
    assert!(scores.labels.iter().all(|&l| l < 3));
    // The model now knows its classes, and reads a folder by them.
    let names: Vec<String> = THREE_CLASSES.iter().map(|s| s.to_string()).collect();
    assert_eq!(model.class_names(), Some(names.as_slice()));
    let folders = inference::predict_directory(&model, sample_train(), &options.preprocessing());
    assert!(
        matches!(folders, Err(Error::ClassMismatch { .. })),
        "{folders:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let mut saved = SavedModel::from_fit(model, history, &options).unwrap();
    assert_eq!(saved.label_source, LabelSource::FileName);
    assert_eq!(saved.class_names, names);
    assert!(saved.calibrate().is_err(), "softmax calibration is refused");
    saved.save(dir.path()).unwrap();
    let loaded = SavedModel::load(dir.path()).unwrap();
    assert_eq!(loaded.class_names, names);
    assert_eq!(loaded.label_source, LabelSource::FileName);
    assert_eq!(loaded.decision, Decision::Argmax);
    assert_eq!(loaded.history.as_ref().unwrap().decision, Decision::Argmax);

    let test = sample_train().join("../test");
    let predictions = inference::predict_labelled(&loaded, &test).unwrap();
    assert_eq!(predictions.class_names, names);
    assert_eq!(predictions.class_probs.dim(), (predictions.files.len(), 3));
    for row in predictions.class_probs.rows() {
        assert!((row.sum() - 1.0).abs() < 1e-5);
    }
    // Files come labelled by name: every PNEUMONIA file is bacterial or viral.
    for (file, label) in predictions.files.iter().zip(predictions.class_labels()) {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let expected = if name.contains("_bacteria_") {
            1
        } else if name.contains("_virus_") {
            2
        } else {
            0
        };
        assert_eq!(label, expected, "{name}");
    }
    // The binary evaluation refuses three classes; the K-class report and the views answer.
    assert!(inference::evaluate(&loaded, &test).is_err());
    let bootstrap = BootstrapOptions::new(200, 0.95, 0).unwrap();
    let report = predictions.multiclass_report(&bootstrap).unwrap();
    assert_eq!(report.images as usize, predictions.files.len());
    assert!(report
        .intervals
        .accuracy
        .contains(report.intervals.accuracy.estimate));
    let views = predictions.pneumonia_views().unwrap().unwrap();
    assert_eq!(
        views.pneumonia_vs_normal.files.len(),
        predictions.files.len()
    );
    let pneumonia = predictions
        .class_labels()
        .iter()
        .filter(|&&l| l > 0)
        .count();
    assert_eq!(views.bacteria_vs_virus.files.len(), pneumonia);
    views
        .bacteria_vs_virus
        .report(Threshold::HALF, &bootstrap)
        .unwrap();
    // predict_files_classes gives the same rows as the folder prediction.
    let rows = inference::predict_files_classes(&loaded, &predictions.files[..3]);
    for (row, expected) in rows.into_iter().zip(predictions.class_probs.rows()) {
        let row = row.unwrap();
        for (a, b) in row.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5);
        }
    }
    assert!(inference::predict_files(&loaded, &predictions.files[..1])[0].is_err());
    // Files are predicted in batches: a file that cannot be read keeps its error in its place,
    // and the files around it get the same rows as alone.
    let mut mixed = predictions.files[..3].to_vec();
    mixed.insert(1, predictions.files[0].with_file_name("missing.jpeg"));
    let rows = inference::predict_files_classes(&loaded, &mixed);
    assert_eq!(rows.len(), 4);
    assert!(rows[1].is_err());
    let expected: Vec<_> = predictions.class_probs.rows().into_iter().take(3).collect();
    for (row, expected) in [&rows[0], &rows[2], &rows[3]].into_iter().zip(expected) {
        let row = row.as_ref().unwrap();
        for (a, b) in row.iter().zip(expected) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}
