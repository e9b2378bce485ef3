//! Several trained models as one: an [`Ensemble`] predicts with every member (each with its own
//! input size and preprocessing) and averages their class probabilities image by image.
//!
//! Its [`Decision`] is made the way a single model's is. Two classes: a threshold chosen by
//! Youden's J on validation data, the members' recorded validation probabilities averaged, when
//! every member held out the same images (`xray train --seeds` trains members that do);
//! otherwise 0.5, and [`Ensemble::threshold_choice`] says why. K classes: the most probable
//! class of the averaged probabilities.
//!
//! ```no_run
//! use support::ensemble::Ensemble;
//! # fn main() -> support::Result<()> {
//! let ensemble = Ensemble::load(&["models/seed-1", "models/seed-2", "models/seed-3"])?;
//! let predictions = ensemble.predict_directory("data/chest_xray/test", 1)?;
//! if let Some(threshold) = ensemble.threshold() {
//!     let at_chosen = predictions.evaluate(threshold)?;
//!     println!("{} ({})", at_chosen.report, ensemble.threshold_choice());
//! }
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use crate::dataset::{scan_for_model, ClassScan, LabelSource};
use crate::error::{Error, Result};
use crate::history::{ValidationScores, ValidationSplit};
use crate::inference::{
    predict_files_classes_tta, predict_labelled_tta, predict_scan, Predictions,
};
use crate::metrics::calibration::apply_temperature;
use crate::metrics::{best_threshold, Decision, Threshold, ThresholdSource};
use crate::saved_model::SavedModel;
use crate::split::{held_out_scan, recorded_split};

/// How an ensemble's [`Decision`] was made: the detail behind its
/// [`ThresholdSource`], for messages.
#[derive(Debug, Clone, PartialEq)]
pub enum ThresholdChoice {
    /// A single model's own decision, from the source it records.
    Member(ThresholdSource),
    /// Youden's J on the members' validation probabilities, averaged over the members (who
    /// held out the same images).
    Validation {
        /// The number of validation images.
        images: usize,
    },
    /// 0.5, because no validation set is shared by every member: the reason.
    Default(String),
    /// K classes: no threshold, the most probable class.
    Argmax,
}

impl fmt::Display for ThresholdChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThresholdChoice::Member(ThresholdSource::Validation) => {
                write!(f, "chosen on the validation split (Youden's J)")
            }
            ThresholdChoice::Member(ThresholdSource::Default) => write!(f, "0.5 by default"),
            ThresholdChoice::Member(ThresholdSource::User) => write!(f, "set by the user"),
            ThresholdChoice::Validation { images } => write!(
                f,
                "chosen on the members' averaged probabilities for the {images} validation images they all held out (Youden's J)"
            ),
            ThresholdChoice::Default(reason) => write!(f, "0.5 by default: {reason}"),
            ThresholdChoice::Argmax => {
                write!(f, "no threshold: each image is predicted as its most probable class")
            }
        }
    }
}

/// Trained models whose probabilities are averaged (see the module doc).
#[derive(Debug, Clone)]
pub struct Ensemble {
    members: Vec<SavedModel>,
    names: Vec<String>,
    decision: Decision,
    choice: ThresholdChoice,
}

impl Ensemble {
    /// The models saved in `dirs` (folders written by [`SavedModel::save`]), each named by its
    /// folder in errors; refused as [`Ensemble::new`] refuses.
    pub fn load<P: AsRef<Path>>(dirs: &[P]) -> Result<Ensemble> {
        let members = dirs
            .iter()
            .map(SavedModel::load)
            .collect::<Result<Vec<_>>>()?;
        let names = dirs
            .iter()
            .map(|d| d.as_ref().display().to_string())
            .collect();
        Ensemble::named(members, names)
    }

    /// An ensemble of `members` (named "member 1", "member 2", ... in errors). Refused before any
    /// prediction with [`Error::EnsembleMismatch`]: no members, or members with other class
    /// names, label sources or numbers of classes than the first; a member whose decision does
    /// not fit its number of classes is an [`Error::InvalidArgument`].
    pub fn new(members: Vec<SavedModel>) -> Result<Ensemble> {
        let names = (1..=members.len()).map(|i| format!("member {i}")).collect();
        Ensemble::named(members, names)
    }

    fn named(members: Vec<SavedModel>, names: Vec<String>) -> Result<Ensemble> {
        let Some(first) = members.first() else {
            return Err(Error::invalid(
                "ensemble",
                "no models",
                "at least one model",
            ));
        };
        for (member, name) in members.iter().zip(&names).skip(1) {
            let mismatch = |what: &'static str, found: String, expected: String| {
                Err(Error::EnsembleMismatch {
                    member: name.clone(),
                    what,
                    found,
                    expected,
                })
            };
            if member.class_names != first.class_names {
                return mismatch(
                    "class names",
                    member.class_names.join(", "),
                    first.class_names.join(", "),
                );
            }
            if member.label_source != first.label_source {
                return mismatch(
                    "labels",
                    label_words(member.label_source).into(),
                    label_words(first.label_source).into(),
                );
            }
            let classes = |m: &SavedModel| m.model.config().classes().to_string();
            if classes(member) != classes(first) {
                return mismatch("classes", classes(member), classes(first));
            }
        }
        let (decision, choice) = choose_decision(&members, &names)?;
        Ok(Ensemble {
            members,
            names,
            decision,
            choice,
        })
    }

    /// The members, in the order given.
    pub fn members(&self) -> &[SavedModel] {
        &self.members
    }

    /// Each member's name in messages: its folder, or its position.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The class names every member shares.
    pub fn class_names(&self) -> &[String] {
        &self.members[0].class_names
    }

    /// Where every member's classes come from.
    pub fn label_source(&self) -> LabelSource {
        self.members[0].label_source
    }

    /// How the ensemble picks a class from its averaged probabilities.
    pub fn decision(&self) -> Decision {
        self.decision
    }

    /// The threshold on the averaged probability of class 1 (two classes); `None` for K
    /// classes, which predict the most probable class.
    pub fn threshold(&self) -> Option<Threshold> {
        self.decision.threshold()
    }

    /// How [`Ensemble::decision`] was made, for messages.
    pub fn threshold_choice(&self) -> &ThresholdChoice {
        &self.choice
    }

    /// The validation labels and probabilities the members recorded in training (the best
    /// epoch's, each member's temperature applied), averaged over the members; `None` when they
    /// did not all validate on the same images. Two-class probabilities, or K per image, row
    /// after row.
    pub fn validation_scores(&self) -> Result<Option<ValidationScores>> {
        Ok(averaged_validation(&self.members, &self.names)?.ok())
    }

    /// The validation split every member recorded, when they all recorded the same one.
    pub fn shared_validation_split(&self) -> Option<&ValidationSplit> {
        shared_split(&self.members, &self.names).ok()
    }

    /// The averaged predictions for the class folders of `dir`, each member's averaged over
    /// `tta` test-time transforms first (1: none).
    pub fn predict_directory(&self, dir: impl AsRef<Path>, tta: usize) -> Result<Predictions> {
        let dir = dir.as_ref();
        self.average(|member| predict_labelled_tta(member, dir, tta))
    }

    /// The averaged predictions for the images every member's training held out of
    /// `train_dir` (see [`crate::split`]); refused unless all members held out the same ones.
    pub fn predict_held_out(&self, train_dir: impl AsRef<Path>, tta: usize) -> Result<Predictions> {
        let scan = self.scan_held_out(train_dir)?;
        self.average(|member| predict_scan(&member.model, &scan, &member.preprocessing, tta))
    }

    /// The images every member's training held out of `train_dir`, labelled as the members
    /// read them; refused unless all members held out the same ones.
    pub fn scan_held_out(&self, train_dir: impl AsRef<Path>) -> Result<ClassScan> {
        let split = shared_split(&self.members, &self.names)?;
        let train_dir = train_dir.as_ref();
        held_out_scan(split, train_dir)?.matched_to(self.class_names(), train_dir)
    }

    /// The labelled images of the class folders of `dir`, matched to the members' classes by
    /// name and labelled as they were trained (see [`scan_for_model`]).
    pub fn scan_directory(&self, dir: impl AsRef<Path>) -> Result<ClassScan> {
        scan_for_model(dir, self.class_names(), self.label_source())
    }

    /// The averaged probability of every class (in [`Ensemble::class_names`] order) for each
    /// file, in the given order; a file that a member cannot read gets that member's error.
    /// Refused as a whole when `tta` is out of range.
    pub fn predict_files_classes(
        &self,
        files: &[PathBuf],
        tta: usize,
    ) -> Result<Vec<Result<Vec<f32>>>> {
        let mut per_member = self
            .members
            .iter()
            .map(|member| predict_files_classes_tta(member, files, tta))
            .collect::<Result<Vec<_>>>()?;
        let n = per_member.len() as f32;
        let mut rows: Vec<Result<Vec<f32>>> = per_member.remove(0);
        for member in per_member {
            for (row, other) in rows.iter_mut().zip(member) {
                *row = match (std::mem::replace(row, Ok(Vec::new())), other) {
                    (Ok(sum), Ok(p)) => Ok(sum.iter().zip(&p).map(|(a, b)| a + b).collect()),
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
            }
        }
        Ok(rows
            .into_iter()
            .map(|row| row.map(|sum| sum.iter().map(|s| s / n).collect()))
            .collect())
    }

    /// Every member's predictions by `predict`, averaged ([`Predictions::average`]); an error
    /// names the member when there are several.
    fn average(&self, predict: impl Fn(&SavedModel) -> Result<Predictions>) -> Result<Predictions> {
        let sets = self
            .members
            .iter()
            .enumerate()
            .map(|(i, member)| predict(member).map_err(|e| self.member_error(i, e)))
            .collect::<Result<Vec<_>>>()?;
        Predictions::average(&sets)
    }

    /// `error`, naming member `i` when there is more than one.
    fn member_error(&self, i: usize, error: Error) -> Error {
        if self.members.len() == 1 {
            error
        } else {
            Error::Member {
                member: self.names[i].clone(),
                source: Box::new(error),
            }
        }
    }
}

/// How a label source reads in a message.
fn label_words(source: LabelSource) -> &'static str {
    match source {
        LabelSource::Folder => "from the folders",
        LabelSource::FileName => "from the folders and file names",
    }
}

/// The validation split every member (named by `names`) recorded, or an error naming the first
/// member that records none or another.
fn shared_split<'a>(members: &'a [SavedModel], names: &[String]) -> Result<&'a ValidationSplit> {
    let named = |i: usize, error: Error| {
        if members.len() == 1 {
            error
        } else {
            Error::Member {
                member: names[i].clone(),
                source: Box::new(error),
            }
        }
    };
    let first = recorded_split(&members[0]).map_err(|e| named(0, e))?;
    for (i, member) in members.iter().enumerate().skip(1) {
        let split = recorded_split(member).map_err(|e| named(i, e))?;
        if split != first {
            return Err(Error::EnsembleMismatch {
                member: names[i].clone(),
                what: "validation split",
                found: describe_split(split),
                expected: describe_split(first),
            });
        }
    }
    Ok(first)
}

/// A validation split in a message.
fn describe_split(split: &ValidationSplit) -> String {
    format!(
        "seed {}, {:.0}% of patients, {} files with fingerprint {}",
        split.seed,
        split.fraction * 100.0,
        split.files,
        split.files_fingerprint
    )
}

/// The members' recorded validation labels and probabilities (each member's temperature
/// applied, as it predicts), averaged: `Ok(Err(reason))` when the members share no validation
/// images.
fn averaged_validation(
    members: &[SavedModel],
    names: &[String],
) -> Result<Result<ValidationScores, String>> {
    if members.len() > 1 && shared_split(members, names).is_err() {
        return Ok(Err(
            "the members did not all hold out the same validation images".into(),
        ));
    }
    let mut labels: Option<&Vec<u8>> = None;
    let mut sum: Vec<f32> = Vec::new();
    for member in members {
        let Some(scores) = member.history.as_ref().and_then(|h| h.validation.as_ref()) else {
            return Ok(Err("a member records no validation scores".into()));
        };
        if labels.is_some_and(|l| *l != scores.labels) {
            return Ok(Err("the members' validation labels differ".into()));
        }
        labels = Some(&scores.labels);
        // The scores were recorded before any temperature; the member predicts after it.
        let probs = match member.temperature() {
            Some(t) => apply_temperature(&scores.probs, t)?,
            None => scores.probs.clone(),
        };
        if sum.is_empty() {
            sum = probs;
        } else {
            sum.iter_mut().zip(probs).for_each(|(s, p)| *s += p);
        }
    }
    let labels = labels.expect("an ensemble has at least one member").clone();
    let n = members.len() as f32;
    Ok(Ok(ValidationScores {
        labels,
        probs: sum.iter().map(|s| s / n).collect(),
    }))
}

/// The ensemble's decision and how it was made (see the module doc).
fn choose_decision(
    members: &[SavedModel],
    names: &[String],
) -> Result<(Decision, ThresholdChoice)> {
    let classes = members[0].model.config().classes();
    if classes != 2 {
        return Ok((Decision::Argmax, ThresholdChoice::Argmax));
    }
    if let [only] = members {
        let decision = only.decision.for_classes(classes)?;
        let source = decision.source().unwrap_or(ThresholdSource::Default);
        return Ok((decision, ThresholdChoice::Member(source)));
    }
    match averaged_validation(members, names)? {
        Ok(scores) => Ok((
            Decision::validation(best_threshold(&scores.labels, &scores.probs)?),
            ThresholdChoice::Validation {
                images: scores.labels.len(),
            },
        )),
        Err(reason) => Ok((Decision::default(), ThresholdChoice::Default(reason))),
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{History, ValidationScores};
    use crate::model::{Model, ModelConfig};

    /// An untrained two-class model whose history records `probs` for the validation labels
    /// `[0, 0, 1, 1]` drawn with split seed `seed`.
    fn member(probs: [f32; 4], seed: u64) -> SavedModel {
        let config = ModelConfig::builder()
            .input_size(16, 16)
            .conv_filters(&[2])
            .dense_units(2)
            .build()
            .unwrap();
        let history = History {
            decision: Decision::validation(Threshold::new(0.25).unwrap()),
            validation: Some(ValidationScores {
                labels: vec![0, 0, 1, 1],
                probs: probs.to_vec(),
            }),
            validation_split: Some(ValidationSplit {
                seed,
                fraction: 0.1,
                label_source: LabelSource::Folder,
                files: 4,
                files_fingerprint: "0123456789abcdef".into(),
            }),
            ..History::default()
        };
        SavedModel::from_parts(
            Model::new(config, seed).unwrap(),
            history,
            vec!["NORMAL".into(), "PNEUMONIA".into()],
            crate::training::FitOptions::default().preprocessing(),
        )
    }

    #[test]
    fn one_member_keeps_its_own_threshold() {
        let ensemble = Ensemble::new(vec![member([0.1, 0.6, 0.4, 0.9], 1)]).unwrap();
        assert_eq!(ensemble.threshold(), Some(Threshold::new(0.25).unwrap()));
        assert_eq!(
            ensemble.threshold_choice(),
            &ThresholdChoice::Member(ThresholdSource::Validation)
        );
        assert_eq!(
            ensemble.threshold_choice().to_string(),
            "chosen on the validation split (Youden's J)"
        );
    }

    #[test]
    fn members_sharing_a_validation_split_choose_youdens_j_on_their_mean() {
        // Alone, each member misorders one pair; their mean, [0.3, 0.5, 0.55, 0.7], orders all.
        let a = member([0.1, 0.6, 0.4, 0.9], 1);
        let b = member([0.5, 0.4, 0.7, 0.5], 1);
        let ensemble = Ensemble::new(vec![a.clone(), b]).unwrap();
        assert_eq!(
            ensemble.threshold_choice(),
            &ThresholdChoice::Validation { images: 4 }
        );
        assert_eq!(
            ensemble.decision().source(),
            Some(ThresholdSource::Validation)
        );
        // The lowest score that still calls both positives positive, and no negative.
        let t = ensemble.threshold().unwrap();
        assert!((t.get() - 0.55).abs() < 1e-6, "{t}");
        assert!(ensemble.shared_validation_split().is_some());
        let scores = ensemble.validation_scores().unwrap().unwrap();
        assert_eq!(scores.labels, [0, 0, 1, 1]);
        assert!((scores.probs[1] - 0.5).abs() < 1e-6);
        // Another split: no shared validation images, so 0.5, saying why.
        let other = Ensemble::new(vec![a, member([0.5, 0.4, 0.7, 0.5], 2)]).unwrap();
        assert_eq!(other.decision(), Decision::default());
        assert!(
            matches!(other.threshold_choice(), ThresholdChoice::Default(r) if r.contains("same validation images"))
        );
        assert!(other.shared_validation_split().is_none());
        assert!(other.validation_scores().unwrap().is_none());
    }

    #[test]
    fn k_class_ensembles_decide_by_argmax() {
        let three = |seed: u64| {
            let config = ModelConfig::builder()
                .input_size(16, 16)
                .conv_filters(&[2])
                .dense_units(2)
                .classes(3)
                .build()
                .unwrap();
            let history = History {
                decision: Decision::Argmax,
                ..History::default()
            };
            SavedModel::from_parts(
                Model::new(config, seed).unwrap(),
                history,
                vec!["NORMAL".into(), "BACTERIA".into(), "VIRUS".into()],
                crate::training::FitOptions::default().preprocessing(),
            )
        };
        for members in [vec![three(1)], vec![three(1), three(2)]] {
            let ensemble = Ensemble::new(members).unwrap();
            assert_eq!(ensemble.decision(), Decision::Argmax);
            assert_eq!(ensemble.threshold(), None);
            assert_eq!(ensemble.threshold_choice(), &ThresholdChoice::Argmax);
        }
        // A K-class member given a threshold by hand still makes an Argmax ensemble.
        let mut odd = three(3);
        odd.decision = Decision::default();
        assert_eq!(
            Ensemble::new(vec![odd]).unwrap().decision(),
            Decision::Argmax
        );
    }

    #[test]
    fn mismatched_members_are_refused_naming_what_differs() {
        let a = member([0.1, 0.6, 0.4, 0.9], 1);
        let mut renamed = a.clone();
        renamed.class_names[1] = "COVID".into();
        let mut relabelled = a.clone();
        relabelled.label_source = LabelSource::FileName;
        for (other, what) in [(renamed, "class names"), (relabelled, "labels")] {
            match Ensemble::new(vec![a.clone(), other]) {
                Err(Error::EnsembleMismatch {
                    member, what: w, ..
                }) => {
                    assert_eq!((member.as_str(), w), ("member 2", what))
                }
                other => panic!("{what}: {other:?}"),
            }
        }
        assert!(Ensemble::new(Vec::new()).is_err());
    }
}
