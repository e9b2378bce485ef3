//! Evaluation statistics over predicted probabilities and true labels; no model code.
//!
//! One concern per file: [`decision`] (the [`Decision`] a classifier makes: a checked
//! [`Threshold`] for two classes, the most probable class for K), `binary` (confusion matrix,
//! ROC curve and AUC, precision and recall, scikit-learn's `classification_report`), [`intervals`] (stratified bootstrap and DeLong
//! intervals), [`multiclass`] (K-class confusion, per-class and one-vs-rest figures),
//! [`calibration`] (reliability bins, ECE, temperature scaling), [`report`] (the serialisable
//! evaluation report), [`subgroups`] (metrics per series of files) and [`loss`] (the cross-entropy every part of the crate measures with).
//! `table` formats the rows of a text report.

mod binary;
pub mod calibration;
pub mod decision;
pub mod intervals;
pub mod loss;
pub mod multiclass;
pub mod report;
pub mod subgroups;
mod table;

pub use binary::*;
pub use decision::{Decision, Threshold, ThresholdSource};
