//! The validation split, in one place: [`fit`](crate::training::fit) records how it drew its
//! validation patients ([`ValidationSplit`], with the [`files_fingerprint`] of the training
//! folder), and [`held_out_scan`] draws the same patients again from the training folder. This is where ensembles and test-time
//! augmentation are judged before anything touches the test split.

use std::path::Path;

use crate::dataset::{scan_classes, split_by_patient, ClassScan};
use crate::error::{Error, Result};
use crate::history::ValidationSplit;
use crate::inference::{predict_scan, Predictions};
use crate::saved_model::SavedModel;

/// The training file list's fingerprint: class folder and file name of each file with its label,
/// so the same data moved to another folder still matches.
pub fn files_fingerprint(scan: &ClassScan) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (file, label) in scan.files.iter().zip(&scan.labels) {
        let tail: Vec<String> = file
            .iter()
            .rev()
            .take(2)
            .map(|c| c.to_string_lossy().into_owned())
            .collect();
        for byte in format!(
            "{label}\t{}/{}\n",
            tail.get(1).map_or("", String::as_str),
            tail.first().map_or("", String::as_str)
        )
        .bytes()
        {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The validation split `saved` recorded, or [`Error::NoValidationSplit`].
pub fn recorded_split(saved: &SavedModel) -> Result<&ValidationSplit> {
    saved
        .history
        .as_ref()
        .and_then(|h| h.validation_split.as_ref())
        .ok_or(Error::NoValidationSplit)
}

/// The files of `train_dir` that the split `record` held out for validation, labelled as in
/// training. Refused with [`Error::TrainingFilesChanged`] when the folder's files are not the
/// ones the split was drawn from (added, removed, renamed or relabelled files would move
/// patients between the sides).
pub fn held_out_scan(record: &ValidationSplit, train_dir: impl AsRef<Path>) -> Result<ClassScan> {
    let train_dir = train_dir.as_ref();
    let scan = scan_classes(train_dir, None, false)?.labelled_by(record.label_source)?;
    let fingerprint = files_fingerprint(&scan);
    if scan.files.len() != record.files || fingerprint != record.files_fingerprint {
        return Err(Error::TrainingFilesChanged {
            path: train_dir.to_path_buf(),
            recorded_files: record.files,
            recorded_fingerprint: record.files_fingerprint.clone(),
            files: scan.files.len(),
            fingerprint,
        });
    }
    let (_, validation) = split_by_patient(&scan, record.fraction, record.seed)?;
    Ok(validation)
}

/// `saved`'s predictions for the images its training held out of `train_dir`, averaged over
/// `tta` test-time transforms (1: none; see [`crate::inference::predict_directory_tta`]).
pub fn predict_held_out(
    saved: &SavedModel,
    train_dir: impl AsRef<Path>,
    tta: usize,
) -> Result<Predictions> {
    let train_dir = train_dir.as_ref();
    let scan = held_out_scan(recorded_split(saved)?, train_dir)?
        .matched_to(&saved.class_names, train_dir)?;
    predict_scan(&saved.model, &scan, &saved.preprocessing, tta)
}
