//! `xray stats`: image counts per class and size statistics.

use std::path::{Path, PathBuf};

use crate::*;
use support::dataset::{patients_per_class, scan_classes};
use support::stats;

/// The split folders under `dir`: itself when it holds class folders with images, else its
/// train/test/val subfolders.
pub(crate) fn splits(dir: &Path) -> Result<Vec<PathBuf>> {
    let named: Vec<PathBuf> = ["train", "test", "val"]
        .iter()
        .map(|s| dir.join(s))
        .filter(|p| p.is_dir())
        .collect();
    if named.is_empty() {
        Ok(vec![dir.to_path_buf()])
    } else {
        Ok(named)
    }
}

pub(crate) fn stats_command(dir: &Path) -> Result<()> {
    for split in splits(dir)? {
        let scan = scan_classes(&split, None, false)?;
        let patients = patients_per_class(&scan);
        println!(
            "{}: {} images of {} patients",
            split.display(),
            scan.files.len(),
            patients.iter().sum::<usize>()
        );
        for ((class, count), patients) in scan.class_names.iter().zip(scan.counts()).zip(patients) {
            let survey = stats::survey_dims(split.join(class))?;
            println!("  {class}: {count} images of {patients} patients");
            for line in survey.describe()?.lines() {
                println!("    {line}");
            }
        }
    }
    Ok(())
}
