//! How a classifier turns probabilities into a class: the one [`Decision`] a model, an ensemble,
//! a report or a figure holds.
//!
//! A two-class model predicts class 1 when the probability of class 1 is at least a
//! [`Threshold`], a probability checked once, where it is made ([`Threshold::new`]): finite and
//! in [0, 1]. Everything that takes one ([`Evaluation`](super::Evaluation),
//! [`EvaluationReport`](super::report::EvaluationReport), the figures of [`crate::plot`],
//! [`Predictions`](crate::inference::Predictions)) can trust it. A K-class model predicts its most
//! probable class ([`Decision::Argmax`]): it has no threshold at all.
//!
//! ```
//! use support::metrics::{Decision, Threshold, ThresholdSource};
//! let t = Threshold::new(0.556)?;
//! let decision = Decision::validation(t);
//! assert_eq!(decision.class_of(&[0.4, 0.6]), 1);
//! assert_eq!(decision.to_string(), "threshold 0.556 (validation)");
//! assert!(Threshold::new(1.7).is_err());
//! assert_eq!(Decision::Argmax.class_of(&[0.2, 0.5, 0.3]), 1);
//! # let _ = ThresholdSource::User;
//! # Ok::<(), support::Error>(())
//! ```
//!
//! In JSON (`model.json`, the history of a checkpoint) a decision is two fields: `threshold`, a
//! number, and `threshold_source`, one of `"default"`, `"validation"`, `"user"` or `"argmax"`.
//! An `"argmax"` decision still writes `"threshold": 0.5` (unused), so that every reader of the
//! format finds a number where it always did. Files written before the source was recorded say
//! `"Youden's J on the validation split of the best epoch"` (a model) or nothing (a history):
//! both read as `validation`, and [`Decision::for_classes`] turns a K-class model's into
//! `Argmax`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// What a threshold must be, in errors.
const THRESHOLD_EXPECTED: &str = "a probability in [0, 1] (predicted class 1 when p >= threshold)";

/// A decision threshold: a finite probability in [0, 1]. A sample is predicted class 1 when its
/// probability of class 1 is at least the threshold.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Threshold(f32);

impl Threshold {
    /// 0.5: the default threshold.
    pub const HALF: Threshold = Threshold(0.5);

    /// `value` as a threshold; refused with [`Error::InvalidArgument`] (named "threshold",
    /// with the value) when it is NaN, infinite or outside [0, 1].
    pub fn new(value: f32) -> Result<Threshold> {
        if value.is_finite() && (0.0..=1.0).contains(&value) {
            Ok(Threshold(value))
        } else {
            Err(Error::invalid("threshold", value, THRESHOLD_EXPECTED))
        }
    }

    /// The threshold as a number.
    pub fn get(self) -> f32 {
        self.0
    }

    /// Whether a sample with probability `probability` of class 1 is predicted class 1:
    /// `probability >= threshold`.
    pub fn predicts_positive(self, probability: f32) -> bool {
        probability >= self.0
    }
}

impl Default for Threshold {
    fn default() -> Threshold {
        Threshold::HALF
    }
}

/// Prints the number, with the formatter's precision: `format!("{t:.3}")` is "0.500".
impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// Parses a number and checks it (a command-line flag's value parser).
impl FromStr for Threshold {
    type Err = Error;
    fn from_str(s: &str) -> Result<Threshold> {
        let value: f32 = s
            .trim()
            .parse()
            .map_err(|_| Error::invalid("threshold", s, THRESHOLD_EXPECTED))?;
        Threshold::new(value)
    }
}

impl TryFrom<f32> for Threshold {
    type Error = Error;
    fn try_from(value: f32) -> Result<Threshold> {
        Threshold::new(value)
    }
}

impl From<Threshold> for f32 {
    fn from(t: Threshold) -> f32 {
        t.0
    }
}

impl Serialize for Threshold {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_f32(self.0)
    }
}

/// Reads a number and checks it; `null` (how serde_json writes NaN) is read as NaN, and refused.
impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let value = Option::<f32>::deserialize(deserializer)?.unwrap_or(f32::NAN);
        Threshold::new(value).map_err(serde::de::Error::custom)
    }
}

/// Where a two-class model's threshold came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThresholdSource {
    /// 0.5, because nothing chose another (e.g. a validation split of one class).
    Default,
    /// The point of the validation split's ROC curve with the highest Youden's J
    /// ([`best_threshold`](super::best_threshold)), as [`fit`](crate::training::fit) chooses it.
    Validation,
    /// Given by the user.
    User,
}

/// "default", "validation" or "user".
impl fmt::Display for ThresholdSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ThresholdSource::Default => "default",
            ThresholdSource::Validation => "validation",
            ThresholdSource::User => "user",
        })
    }
}

/// How a classifier turns its class probabilities into one class.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(into = "DecisionRecord", from = "DecisionRecord")]
pub enum Decision {
    /// Two classes: class 1 when its probability is at least `value`.
    Threshold {
        /// The threshold.
        value: Threshold,
        /// Where it came from.
        source: ThresholdSource,
    },
    /// K classes: the most probable class (the first of equals).
    Argmax,
}

/// A two-class decision at 0.5 by default.
impl Default for Decision {
    fn default() -> Decision {
        Decision::Threshold {
            value: Threshold::HALF,
            source: ThresholdSource::Default,
        }
    }
}

impl Decision {
    /// A threshold chosen on the validation split (Youden's J).
    pub fn validation(value: Threshold) -> Decision {
        Decision::Threshold {
            value,
            source: ThresholdSource::Validation,
        }
    }

    /// A threshold the user gave.
    pub fn user(value: Threshold) -> Decision {
        Decision::Threshold {
            value,
            source: ThresholdSource::User,
        }
    }

    /// The decision of a new model with `classes` classes: 0.5 by default for two,
    /// [`Decision::Argmax`] for more.
    pub fn default_for(classes: usize) -> Decision {
        if classes == 2 {
            Decision::default()
        } else {
            Decision::Argmax
        }
    }

    /// The threshold of a two-class decision; `None` for [`Decision::Argmax`].
    pub fn threshold(&self) -> Option<Threshold> {
        match self {
            Decision::Threshold { value, .. } => Some(*value),
            Decision::Argmax => None,
        }
    }

    /// Where the threshold came from; `None` for [`Decision::Argmax`].
    pub fn source(&self) -> Option<ThresholdSource> {
        match self {
            Decision::Threshold { source, .. } => Some(*source),
            Decision::Argmax => None,
        }
    }

    /// The class predicted from one sample's class probabilities: class 1 when `probs[1]` is at
    /// least the threshold (two classes), else the most probable class (the first of equals).
    pub fn class_of(&self, probs: &[f32]) -> usize {
        match self {
            Decision::Threshold { value, .. } => {
                usize::from(probs.get(1).is_some_and(|&p| value.predicts_positive(p)))
            }
            Decision::Argmax => {
                (0..probs.len()).fold(0, |b, c| if probs[c] > probs[b] { c } else { b })
            }
        }
    }

    /// This decision for a model of `classes` classes. A K-class model (K > 2) predicts its most
    /// probable class, so any threshold is dropped for [`Decision::Argmax`] (files written before
    /// decisions recorded their source hold 0.5, unused, for K-class models); a two-class model
    /// needs a threshold, and `Argmax` for it is refused with [`Error::InvalidArgument`].
    pub fn for_classes(self, classes: usize) -> Result<Decision> {
        match (classes, self) {
            (2, Decision::Argmax) => Err(Error::invalid(
                "decision",
                "argmax (the most probable class)",
                "a threshold for a two-class model",
            )),
            (2, decision) => Ok(decision),
            _ => Ok(Decision::Argmax),
        }
    }
}

/// "threshold 0.556 (validation)", or "most probable class".
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Decision::Threshold { value, source } => {
                write!(f, "threshold {value:.3} ({source})")
            }
            Decision::Argmax => f.write_str("most probable class"),
        }
    }
}

/// A decision as JSON records it (see the module doc).
#[derive(Serialize, Deserialize)]
struct DecisionRecord {
    threshold: Threshold,
    #[serde(default)]
    threshold_source: RecordSource,
}

/// `threshold_source` in JSON.
#[derive(Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum RecordSource {
    Default,
    /// Also what files written before the source was recorded hold: a history nothing, a model
    /// the sentence below.
    #[default]
    #[serde(alias = "Youden's J on the validation split of the best epoch")]
    Validation,
    User,
    Argmax,
}

impl From<Decision> for DecisionRecord {
    fn from(decision: Decision) -> DecisionRecord {
        let (threshold, threshold_source) = match decision {
            Decision::Threshold { value, source } => (
                value,
                match source {
                    ThresholdSource::Default => RecordSource::Default,
                    ThresholdSource::Validation => RecordSource::Validation,
                    ThresholdSource::User => RecordSource::User,
                },
            ),
            Decision::Argmax => (Threshold::HALF, RecordSource::Argmax),
        };
        DecisionRecord {
            threshold,
            threshold_source,
        }
    }
}

impl From<DecisionRecord> for Decision {
    fn from(record: DecisionRecord) -> Decision {
        let source = match record.threshold_source {
            RecordSource::Default => ThresholdSource::Default,
            RecordSource::Validation => ThresholdSource::Validation,
            RecordSource::User => ThresholdSource::User,
            RecordSource::Argmax => return Decision::Argmax,
        };
        Decision::Threshold {
            value: record.threshold,
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<Threshold>) -> String {
        match result {
            Err(Error::InvalidArgument { name, value, .. }) => {
                assert_eq!(name, "threshold");
                value
            }
            other => panic!("expected a refused threshold, got {other:?}"),
        }
    }

    #[test]
    fn thresholds_outside_zero_to_one_are_refused_naming_the_value() {
        assert_eq!(refused(Threshold::new(1.7)), "1.7");
        assert_eq!(refused(Threshold::new(7.0)), "7");
        assert_eq!(refused(Threshold::new(-0.1)), "-0.1");
        assert_eq!(refused(Threshold::new(f32::NAN)), "NaN");
        assert_eq!(refused(Threshold::new(f32::INFINITY)), "inf");
        assert_eq!(refused("0.5x".parse()), "0.5x");
        assert_eq!(refused("2".parse()), "2");
        let message = Threshold::new(1.7).unwrap_err().to_string();
        assert!(
            message.contains("1.7") && message.contains("[0, 1]"),
            "{message}"
        );
        for ok in [0.0, 0.25, 0.5, 1.0] {
            assert_eq!(Threshold::new(ok).unwrap().get(), ok);
        }
        assert_eq!(" 0.4 ".parse::<Threshold>().unwrap().get(), 0.4);
        assert_eq!(Threshold::try_from(0.3).unwrap().get(), 0.3);
    }

    #[test]
    fn the_threshold_is_inclusive_and_argmax_takes_the_first_of_equals() {
        let t = Threshold::new(0.4).unwrap();
        assert!(t.predicts_positive(0.4) && !t.predicts_positive(0.39));
        let d = Decision::user(t);
        assert_eq!((d.class_of(&[0.6, 0.4]), d.class_of(&[0.61, 0.39])), (1, 0));
        assert_eq!(Decision::Argmax.class_of(&[0.4, 0.4, 0.2]), 0);
        assert_eq!(Decision::Argmax.class_of(&[0.1, 0.3, 0.6]), 2);
        assert_eq!(format!("{t:.3}"), "0.400");
        assert_eq!(format!("{}", Threshold::HALF), "0.5");
        assert_eq!(d.to_string(), "threshold 0.400 (user)");
        assert_eq!(Decision::default().to_string(), "threshold 0.500 (default)");
    }

    #[test]
    fn k_class_models_decide_by_argmax_and_two_class_ones_need_a_threshold() {
        assert_eq!(Decision::default_for(3), Decision::Argmax);
        assert_eq!(Decision::default_for(2).threshold(), Some(Threshold::HALF));
        let chosen = Decision::validation(Threshold::new(0.3).unwrap());
        assert_eq!(chosen.for_classes(3).unwrap(), Decision::Argmax);
        assert_eq!(chosen.for_classes(2).unwrap(), chosen);
        assert!(Decision::Argmax.for_classes(2).is_err());
        assert_eq!(Decision::Argmax.threshold(), None);
        assert_eq!(Decision::Argmax.source(), None);
    }

    #[test]
    fn decisions_round_trip_through_json_and_refuse_bad_thresholds() {
        for decision in [
            Decision::validation(Threshold::new(0.556).unwrap()),
            Decision::user(Threshold::new(0.0).unwrap()),
            Decision::default(),
            Decision::Argmax,
        ] {
            let json = serde_json::to_string(&decision).unwrap();
            assert_eq!(
                serde_json::from_str::<Decision>(&json).unwrap(),
                decision,
                "{json}"
            );
        }
        assert_eq!(
            serde_json::to_value(Decision::validation(Threshold::new(0.25).unwrap())).unwrap(),
            serde_json::json!({"threshold": 0.25, "threshold_source": "validation"})
        );
        assert_eq!(
            serde_json::to_value(Decision::Argmax).unwrap(),
            serde_json::json!({"threshold": 0.5, "threshold_source": "argmax"})
        );
        // What earlier files hold: a model the sentence, a history no source at all.
        let legacy: Decision = serde_json::from_str(
            r#"{"threshold": 0.3, "threshold_source": "Youden's J on the validation split of the best epoch"}"#,
        )
        .unwrap();
        assert_eq!(legacy, Decision::validation(Threshold::new(0.3).unwrap()));
        let bare: Decision = serde_json::from_str(r#"{"threshold": 0.3}"#).unwrap();
        assert_eq!(bare, legacy);
        // 7, -0.1 and NaN (which serde_json writes as null) are refused, naming the value.
        for (bad, named) in [("7", "7"), ("-0.1", "-0.1"), ("null", "NaN")] {
            let json = format!(r#"{{"threshold": {bad}, "threshold_source": "user"}}"#);
            let e = serde_json::from_str::<Decision>(&json)
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("invalid threshold = {named}")), "{e}");
        }
        assert_eq!(
            serde_json::from_str::<Threshold>("0.75").unwrap(),
            Threshold::new(0.75).unwrap()
        );
        assert_eq!(serde_json::to_string(&Threshold::HALF).unwrap(), "0.5");
    }
}
