//! The validation split never puts one patient on both sides: on the shipped sample and on a
//! generated tree whose patients have several images in every naming form of the dataset.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use support::dataset::{
    patient_folds, patient_id, patients_per_class, project_root, scan_classes, split_by_patient,
    ClassScan,
};

fn ids(scan: &ClassScan) -> HashSet<String> {
    scan.files
        .iter()
        .map(|f| patient_id(f).unwrap_or_else(|| panic!("{} has no patient id", f.display())))
        .collect()
}

fn assert_no_patient_on_both_sides(scan: &ClassScan) {
    for seed in [0, 1, 7, 42, 1234] {
        for fraction in [0.1, 0.2, 0.3, 0.5] {
            let (train, val) = split_by_patient(scan, fraction, seed).unwrap();
            assert_eq!(train.files.len() + val.files.len(), scan.files.len());
            let shared: Vec<_> = ids(&train).intersection(&ids(&val)).cloned().collect();
            assert!(
                shared.is_empty(),
                "seed {seed}, fraction {fraction}: patients on both sides: {shared:?}"
            );
        }
    }
}

#[test]
fn shipped_sample_split_keeps_every_patient_on_one_side() {
    let train = project_root().join("data/sample/chest_xray/train");
    let scan = scan_classes(&train, None, false).unwrap();
    // Every file of the dataset's naming has an id, and the sample has multi-image patients.
    let total_ids: usize = patients_per_class(&scan).iter().sum();
    assert_eq!(ids(&scan).len(), total_ids);
    assert!(
        total_ids < scan.files.len(),
        "the sample should hold multi-image patients"
    );
    assert_no_patient_on_both_sides(&scan);
}

fn touch(path: &Path) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, b"x").unwrap();
}

#[test]
fn generated_multi_image_patients_stay_together() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let mut expected_patients = [HashSet::new(), HashSet::new()];
    for p in 0..40 {
        // Normal patients in both series, with three- and four-part names mixed.
        let names = if p % 2 == 0 {
            vec![
                format!("IM-{p:04}-0001.jpeg"),
                format!("IM-{p:04}-0001-0001.jpeg"),
                format!("IM-{p:04}-0001-0002.jpeg"),
            ]
        } else {
            vec![
                format!("NORMAL2-IM-{p:04}-0001.jpeg"),
                format!("NORMAL2-IM-{p:04}-0001-0001.jpeg"),
            ]
        };
        for name in names {
            touch(&root.join("NORMAL").join(&name));
            expected_patients[0].insert(patient_id(&name).unwrap());
        }
        let kind = if p % 3 == 0 { "virus" } else { "bacteria" };
        for image in 0..=(p % 4) {
            let name = format!("person{p}_{kind}_{}.jpeg", 100 + image);
            touch(&root.join("PNEUMONIA").join(&name));
            expected_patients[1].insert(patient_id(&name).unwrap());
        }
    }
    let scan = scan_classes(root, None, false).unwrap();
    assert_eq!(
        patients_per_class(&scan),
        vec![expected_patients[0].len(), expected_patients[1].len()]
    );
    assert_eq!(patients_per_class(&scan), vec![40, 40]);
    assert_no_patient_on_both_sides(&scan);
    // The split is seeded: the same seed gives the same validation files.
    let files = |seed| -> Vec<PathBuf> { split_by_patient(&scan, 0.2, seed).unwrap().1.files };
    assert_eq!(files(3), files(3));
    assert_ne!(files(3), files(4));
}

#[test]
fn patient_folds_validate_every_image_once_and_never_split_a_patient() {
    let train = project_root().join("data/sample/chest_xray/train");
    let scan = scan_classes(&train, None, false).unwrap();
    for k in [2, 3, 5] {
        let folds = patient_folds(&scan, k, 9).unwrap();
        assert_eq!(folds.len(), k);
        let mut validated: Vec<PathBuf> = Vec::new();
        for (train, val) in &folds {
            assert_eq!(train.files.len() + val.files.len(), scan.files.len());
            assert!(ids(train).is_disjoint(&ids(val)));
            // Stratified: every fold validates both classes.
            assert!(val.counts().iter().all(|&c| c > 0), "{:?}", val.counts());
            validated.extend(val.files.iter().cloned());
        }
        validated.sort();
        let mut all = scan.files.clone();
        all.sort();
        assert_eq!(validated, all, "every image validated exactly once");
    }
    assert!(patient_folds(&scan, 1, 9).is_err());
    assert!(patient_folds(&scan, 100_000, 9).is_err());
    assert_eq!(
        patient_folds(&scan, 3, 9).unwrap()[0].1.files,
        patient_folds(&scan, 3, 9).unwrap()[0].1.files
    );
}
