//! Training and evaluating the CNN on image folders: the epoch loop, written out plainly.
//!
//! [`fit`] splits the training folder by patient into training and validation files, feeds
//! augmented batches from the [`ImageDataGenerator`], takes one Adam step per batch (its rate
//! set by an optional schedule), keeps a moving average of the weights (on by default), measures
//! loss, accuracy and ROC AUC on both sides after every epoch (validation on the averaged
//! weights), stops early when the validation loss stops improving (restoring the best weights),
//! and saves a checkpoint after every epoch from which training can resume.//!
//! The settings are in [`FitOptions`], the record of a run in [`History`], the hooks that report
//! progress in [`Progress`]; running a trained model is [`crate::inference`]'s.

pub(crate) mod options;
mod progress;
mod resume;

use std::path::Path;
use std::time::Instant;

pub use crate::history::{EpochLog, History, ValidationScores, ValidationSplit};
pub use options::{
    default_augmentation, ClassWeight, FitOptions, FitParams, LrSchedule, DEFAULT_EMA_MOMENTUM,
    DEFAULT_LEARNING_RATE, DEFAULT_ROTATION_RANGE, DEFAULT_SHEAR_RANGE, DEFAULT_SHIFT_RANGE,
    DEFAULT_ZOOM_RANGE,
};
pub use progress::{EpochLines, Progress, ProgressLines, Silent};
pub use resume::{ResumeCheckpoint, RunSettings};

use crate::dataset::{scan_classes, split_by_patient, ClassScan};
use crate::error::{Error, Result};
use crate::generator::{ClassMode, DirectoryIterator, FlowOptions, ImageDataGenerator};
use crate::inference::{predict_iterator, Predictions};
use crate::metrics::loss;
use crate::metrics::multiclass::{macro_roc_auc, predicted_classes};
use crate::metrics::{best_threshold, roc_auc_score, Decision};
use crate::model::Model;
use crate::preprocessing::Preprocessing;

/// Trains `model` on the class folders of `train_dir` (see the module doc). With a checkpoint
/// folder that already holds a checkpoint of this run, training resumes after its epoch; a
/// checkpoint of other [`RunSettings`] is refused, naming the setting that differs.
pub fn fit(
    model: &mut Model,
    train_dir: impl AsRef<Path>,
    options: &FitOptions,
    progress: &mut dyn Progress,
) -> Result<History> {
    model.config().check_memory(options.batch_size)?;
    let scan = model_scan(model, train_dir.as_ref(), options)?;
    let (train_scan, val_scan) = validation_split(&scan, train_dir.as_ref(), options)?;
    let settings = RunSettings::new(model.config(), options, &scan);
    let mut history = fit_split(model, &train_scan, &val_scan, options, &settings, progress)?;
    history.validation_split = Some(ValidationSplit {
        seed: options.validation_split_seed(),
        fraction: options.validation_split,
        label_source: options.label_source,
        files: settings.files,
        files_fingerprint: settings.files_fingerprint,
    });
    Ok(history)
}

/// [`training_scan`] for `model`: when it knows its classes already (trained before, or
/// loaded), the folder's are matched to them by name, so more training never swaps labels.
fn model_scan(model: &Model, train_dir: &Path, options: &FitOptions) -> Result<ClassScan> {
    let scan = training_scan(train_dir, options, model.config().classes())?;
    match model.class_names() {
        Some(classes) => scan.matched_to(classes, train_dir),
        None => Ok(scan),
    }
}

/// The training folder's files labelled as `options.label_source` says, checked to give a
/// model of `classes` classes as many (what [`fit`] trains on, before the validation split).
pub fn training_scan(train_dir: &Path, options: &FitOptions, classes: usize) -> Result<ClassScan> {
    let scan = scan_classes(train_dir, None, false)?.labelled_by(options.label_source)?;
    if scan.class_names.len() != classes {
        return Err(Error::ClassCount {
            path: train_dir.to_path_buf(),
            classes: scan.class_names,
            expected: classes,
        });
    }
    Ok(scan)
}

/// [`split_by_patient`] with `options`' fraction and seed, refusing a split that leaves a class
/// out of either side.
pub(crate) fn validation_split(
    scan: &ClassScan,
    train_dir: &Path,
    options: &FitOptions,
) -> Result<(ClassScan, ClassScan)> {
    let (train, val) = split_by_patient(
        scan,
        options.validation_split,
        options.validation_split_seed(),
    )?;
    if val.counts().contains(&0) || train.counts().contains(&0) {
        return Err(Error::TooFewPatients {
            path: train_dir.to_path_buf(),
            fraction: options.validation_split,
        });
    }
    Ok((train, val))
}

/// The seed of the dropout masks of one epoch: every epoch starts its own stream, so a resumed
/// run draws the same masks as an uninterrupted one.
fn dropout_seed(seed: u64, epoch: usize) -> u64 {
    (seed ^ 0xD1B5_4A32_D192_ED03).wrapping_add((epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// [`fit`] on a given split (a cross-validation fold, or the patient split `fit` makes); its
/// callers validate `options` first.
pub(crate) fn fit_split(
    model: &mut Model,
    train_scan: &ClassScan,
    val_scan: &ClassScan,
    options: &FitOptions,
    settings: &RunSettings,
    progress: &mut dyn Progress,
) -> Result<History> {
    if options.keep_freed_memory {
        crate::allocator::keep_freed_memory();
    }
    let weights = class_weights(train_scan, options.class_weight);
    let mut train_gen = flow_scan(&options.augmentation, train_scan, model, options, true)?;
    let mut val_gen = flow_scan(
        &options.preprocessing().generator()?,
        val_scan,
        model,
        options,
        false,
    )?;

    let mut history = History::default();
    let mut best: Option<(f32, Model)> = None;
    let mut first_epoch = 1;
    if let Some(dir) = &options.checkpoint_dir {
        if let Some(checkpoint) = ResumeCheckpoint::load_if_present(dir)? {
            checkpoint
                .settings
                .check_resume(settings, &ResumeCheckpoint::card_path(dir))?;
            first_epoch = checkpoint.history.epochs.len() + 1;
            *model = checkpoint.model;
            history = checkpoint.history;
            best = checkpoint.best.map(|m| {
                let loss = history.best().map_or(f32::INFINITY, |e| e.val_loss);
                (loss, m)
            });
            // The generator's epoch number drives order and augmentation: resume where it was.
            train_gen.seek_epoch((first_epoch - 1) as u64);
            progress.resumed(first_epoch - 1);
        }
    }
    if model.ema_momentum() != options.ema_momentum {
        model.use_ema(options.ema_momentum)?;
    }
    let steps = options
        .steps_per_epoch
        .map_or(train_gen.len(), |s| s.min(train_gen.len()));
    progress.start(train_gen.samples(), val_gen.samples(), steps);
    let initial_rate = options.learning_rate;
    let classes = model.config().classes();
    let units = model.config().output_units();
    let total_steps = steps * options.epochs;

    for epoch in first_epoch..=options.epochs {
        // Also on resume: a run whose patience ran out stays stopped, as it would have.
        if stale_epochs(&history) >= options.patience.max(1) {
            break;
        }
        let start = Instant::now();
        model.reseed_dropout(dropout_seed(options.seed, epoch));
        let mut loss_sum = 0.0f64;
        let mut labels: Vec<usize> = Vec::with_capacity(train_gen.samples());
        let mut probs: Vec<f32> = Vec::with_capacity(train_gen.samples() * units);
        for (index, batch) in train_gen.epoch().take(steps).enumerate() {
            model.set_learning_rate(options.lr_schedule.rate(
                initial_rate,
                (epoch - 1) * steps + index,
                total_steps,
            ))?;
            let sample_weights: Option<Vec<f32>> = weights
                .as_ref()
                .map(|w| batch.y.iter().map(|&y| w[y as usize]).collect());
            // The generator gives class indices; a K-class model trains on one-hot rows.
            let batch_labels: Vec<usize> = batch.y.iter().map(|&y| y as usize).collect();
            let y = if units == 1 {
                batch.y.to_vec()
            } else {
                crate::model::one_hot(&batch_labels, classes)?
            };
            let (loss, batch_probs) = model
                .train_on_batch_with_proba(batch.x.view(), &y, sample_weights.as_deref())
                .map_err(|e| match e {
                    Error::Diverged { step, loss, .. } => Error::Diverged {
                        epoch: Some(epoch),
                        step,
                        loss,
                    },
                    other => other,
                })?;
            loss_sum += f64::from(loss) * batch.len() as f64;
            labels.extend(batch_labels);
            probs.extend(batch_probs);
            progress.batch(epoch, index + 1, loss);
        }
        if labels.is_empty() {
            return Err(Error::NoImagesRead { epoch });
        }
        let train_seconds = start.elapsed().as_secs_f32();
        // With a moving average, the averaged weights are the ones validated, kept and returned.
        let averaged = model.ema_momentum().map(|_| model.averaged());
        let current: &Model = averaged.as_ref().unwrap_or(model);
        let val = predict_iterator(current, &mut val_gen)?;
        let train_scores = Scores {
            units,
            labels: &labels,
            probs: &probs,
        };
        let val_labels = val.class_labels();
        let val_probs = val.scores();
        let val_scores = Scores {
            units,
            labels: &val_labels,
            probs: &val_probs,
        };
        let val_loss = val_scores.loss();
        let log = EpochLog {
            epoch,
            loss: (loss_sum / labels.len() as f64) as f32,
            accuracy: train_scores.accuracy(),
            auc: train_scores.auc(),
            val_loss,
            val_accuracy: val_scores.accuracy(),
            val_auc: val_scores.auc(),
            seconds: start.elapsed().as_secs_f32(),
            images_per_second: labels.len() as f32 / train_seconds.max(1e-6),
        };
        let improved = best.as_ref().is_none_or(|(b, _)| val_loss < *b);
        if improved {
            best = Some((val_loss, current.clone()));
            history.best_epoch = epoch;
            history.decision = if units == 1 {
                // A validation split of one class has no ROC curve: 0.5, by default.
                best_threshold(&val.labels_u8(), &val.probs)
                    .map_or_else(|_| Decision::default(), Decision::validation)
            } else {
                Decision::Argmax
            };
            history.validation = Some(val_scores.validation());
        }
        history.epochs.push(log);
        progress.epoch(
            history.epochs.last().expect("an epoch log was just pushed"),
            improved,
        );
        if let Some(dir) = &options.checkpoint_dir {
            ResumeCheckpoint::save(
                dir,
                model,
                best.as_ref().map(|(_, m)| m),
                &history,
                settings,
                &train_scan.class_names,
            )?;
        }
    }
    // A checkpoint written before histories kept validation scores, resumed with no epoch left
    // to run: score the best weights once, so the history always has them.
    if history.validation.is_none() {
        if let Some((_, best_model)) = &best {
            let val = predict_iterator(best_model, &mut val_gen)?;
            let (labels, probs) = (val.class_labels(), val.scores());
            let scores = Scores {
                units,
                labels: &labels,
                probs: &probs,
            };
            history.validation = Some(scores.validation());
        }
    }
    history.stopped_early = history.epochs.len() < options.epochs;
    // A K-class checkpoint written before decisions recorded their source holds 0.5, unused.
    history.decision = history.decision.for_classes(classes).unwrap_or_default();
    match best {
        Some((_, best_model)) if options.restore_best_weights => *model = best_model,
        _ if model.ema_momentum().is_some() => *model = model.averaged(),
        _ => {}
    }
    model.set_class_names(train_scan.class_names.clone())?;
    Ok(history)
}

/// A generator over the files of `scan`, sized for `model`, seeded and resized as `options` say.
fn flow_scan(
    generator: &ImageDataGenerator,
    scan: &ClassScan,
    model: &Model,
    options: &FitOptions,
    shuffle: bool,
) -> Result<DirectoryIterator> {
    let flow = FlowOptions::default()
        .target_size(model.config().input_height(), model.config().input_width())
        .batch_size(options.batch_size)
        .shuffle(shuffle)
        .seed(options.seed)
        .interpolation(options.interpolation)
        // Class indices, for two classes the 0/1 labels of `ClassMode::Binary`.
        .class_mode(ClassMode::Sparse)
        .verbose(false);
    generator.flow_from_files(
        scan.files.clone(),
        scan.labels.clone(),
        scan.class_names.clone(),
        flow,
    )
}

/// The model's probabilities on the validation files [`fit`] held out of `train_dir` with
/// `options` (the same patients, seed and fraction), e.g. to fit a temperature or to look at the
/// validation scores beside the test scores.
pub fn predict_validation(
    model: &Model,
    train_dir: impl AsRef<Path>,
    options: &FitOptions,
) -> Result<Predictions> {
    let scan = model_scan(model, train_dir.as_ref(), options)?;
    let (_, val_scan) = validation_split(&scan, train_dir.as_ref(), options)?;
    predict_scan(model, &val_scan, &options.preprocessing(), options)
}

/// The model's probabilities for the files of `scan`, prepared with `preprocessing`.
pub(crate) fn predict_scan(
    model: &Model,
    scan: &ClassScan,
    preprocessing: &Preprocessing,
    options: &FitOptions,
) -> Result<Predictions> {
    let mut gen = flow_scan(&preprocessing.generator()?, scan, model, options, false)?;
    predict_iterator(model, &mut gen)
}

/// Epochs since the best validation loss.
fn stale_epochs(history: &History) -> usize {
    history.epochs.len().saturating_sub(history.best_epoch)
}

/// Loss weight of each class, or `None` when all weigh 1.
fn class_weights(scan: &ClassScan, weight: ClassWeight) -> Option<Vec<f32>> {
    match weight {
        ClassWeight::None => None,
        ClassWeight::Balanced => {
            let counts = scan.counts();
            let n = scan.files.len() as f32;
            let k = counts.len() as f32;
            Some(
                counts
                    .iter()
                    .map(|&c| if c == 0 { 0.0 } else { n / (k * c as f32) })
                    .collect(),
            )
        }
    }
}

/// The true classes of one pass over some images and the model's outputs for them: one
/// probability of class 1 per image for a two-class model (`units` 1), K per image otherwise.
struct Scores<'a> {
    units: usize,
    labels: &'a [usize],
    probs: &'a [f32],
}

impl Scores<'_> {
    /// Mean cross-entropy (binary, or categorical for K classes), clipped as Keras does (1e-7).
    fn loss(&self) -> f32 {
        let total: f64 = if self.units == 1 {
            self.labels
                .iter()
                .zip(self.probs)
                .map(|(&y, &p)| loss::binary_cross_entropy(y as f64, f64::from(p)))
                .sum()
        } else {
            let mut target = vec![0.0; self.units];
            self.labels
                .iter()
                .zip(self.probs.chunks(self.units))
                .map(|(&y, row)| {
                    target.fill(0.0);
                    target[y] = 1.0;
                    loss::categorical_cross_entropy(&target, row)
                })
                .sum()
        };
        (total / self.labels.len().max(1) as f64) as f32
    }

    /// Accuracy at probability 0.5 (two classes) or of the most probable class.
    fn accuracy(&self) -> f32 {
        let right = if self.units == 1 {
            self.labels
                .iter()
                .zip(self.probs)
                .filter(|(&y, &p)| usize::from(p >= 0.5) == y)
                .count()
        } else {
            let predicted = predicted_classes(self.rows().view());
            self.labels
                .iter()
                .zip(predicted)
                .filter(|(&y, p)| y == *p)
                .count()
        };
        right as f32 / self.labels.len().max(1) as f32
    }

    /// ROC AUC, or the macro average of the one-vs-rest AUCs; NaN when a class is missing.
    fn auc(&self) -> f32 {
        let auc = if self.units == 1 {
            roc_auc_score(&labels_as_u8_indices(self.labels), self.probs)
        } else {
            macro_roc_auc(self.labels, self.rows().view())
        };
        auc.unwrap_or(f64::NAN) as f32
    }

    /// The outputs as an (N, K) array.
    fn rows(&self) -> ndarray::Array2<f32> {
        ndarray::Array2::from_shape_vec((self.labels.len(), self.units), self.probs.to_vec())
            .expect("one row of `units` outputs per label")
    }

    /// What the history keeps of the best epoch.
    fn validation(&self) -> ValidationScores {
        ValidationScores {
            labels: self.labels.iter().map(|&y| y as u8).collect(),
            probs: self.probs.to_vec(),
        }
    }
}

fn labels_as_u8_indices(labels: &[usize]) -> Vec<u8> {
    labels.iter().map(|&y| u8::from(y >= 1)).collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn balanced_weights_equalise_classes() {
        let scan = ClassScan {
            class_names: vec!["A".into(), "B".into()],
            files: (0..4).map(|i| PathBuf::from(format!("{i}"))).collect(),
            labels: vec![0, 1, 1, 1],
        };
        let w = class_weights(&scan, ClassWeight::Balanced).unwrap();
        assert_eq!(w, vec![2.0, 4.0 / 6.0]);
        assert!((w[0] * 1.0 - w[1] * 3.0).abs() < 1e-6);
        assert!(class_weights(&scan, ClassWeight::None).is_none());
    }

    #[test]
    fn losses_and_accuracies_by_hand() {
        let binary = Scores {
            units: 1,
            labels: &[1, 0],
            probs: &[0.8, 0.6],
        };
        let expected = -((0.8f64).ln() + (0.4f64).ln()) / 2.0;
        assert!((f64::from(binary.loss()) - expected).abs() < 1e-6);
        assert_eq!(binary.accuracy(), 0.5);
        assert_eq!(binary.auc(), 1.0);
        let three = Scores {
            units: 3,
            labels: &[2, 0, 1],
            probs: &[0.1, 0.2, 0.7, 0.5, 0.3, 0.2, 0.6, 0.3, 0.1],
        };
        let expected = -((0.7f64).ln() + (0.5f64).ln() + (0.3f64).ln()) / 3.0;
        assert!((f64::from(three.loss()) - expected).abs() < 1e-6);
        assert!((three.accuracy() - 2.0 / 3.0).abs() < 1e-6);
        let v = three.validation();
        assert_eq!((v.labels, v.probs.len()), (vec![2, 0, 1], 9));
    }

    #[test]
    fn stale_epochs_count_from_the_best() {
        let mut h = History::default();
        assert_eq!(stale_epochs(&h), 0);
        for epoch in 1..=4 {
            h.epochs.push(EpochLog {
                epoch,
                loss: 0.0,
                accuracy: 0.0,
                auc: 0.0,
                val_loss: 0.0,
                val_accuracy: 0.0,
                val_auc: 0.0,
                seconds: 0.0,
                images_per_second: 0.0,
            });
        }
        h.best_epoch = 2;
        assert_eq!(stale_epochs(&h), 2);
    }
}
