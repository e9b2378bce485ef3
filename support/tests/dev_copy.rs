//! Rebuilding the development copy (`support::dev_copy`) from a fake Kaggle download made of
//! the shipped sample, and the shipped manifest's contents.
//!
//! Pillow agreement: `tests/fixtures/dev_copy/` holds Pillow's version of four sample images
//! (`tools/make_dev_copy_fixtures.py`). With the default `scaled-jpeg` feature the decode
//! (libjpeg-turbo), the resize and the encode (libjpeg-turbo) are Pillow's, so the files must be
//! byte for byte identical. Without it the `image` crate decodes and encodes (one grey level
//! off here and there before the resize, 4:4:4 chroma after), and the decoded pixels must agree
//! within a mean of [`PILLOW_MEAN_DIFF`] grey levels.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use support::dev_copy::{
    prepare_dev_copy, resize_to_copy, Manifest, Split, CLASSES, QUALITY, SIZE,
};
use support::imread::decode_gray;
use support::Error;

/// Largest mean grey-level difference allowed between the Rust output and Pillow's, decoded.
const PILLOW_MEAN_DIFF: f64 = 0.5;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sample() -> PathBuf {
    repo().join("data/sample/chest_xray")
}

/// Sample files for a fake download: (download path, sample path). Train files are originals
/// (big); test files are 224-px copies and val files originals, as in the real download.
const FILES: [(&str, &str); 8] = [
    (
        "train/NORMAL/IM-0314-0001.jpeg",
        "train/NORMAL/IM-0314-0001.jpeg",
    ),
    (
        "train/NORMAL/IM-0350-0001.jpeg",
        "train/NORMAL/IM-0350-0001.jpeg",
    ),
    (
        "train/PNEUMONIA/person1673_bacteria_4434.jpeg",
        "train/PNEUMONIA/person1673_bacteria_4434.jpeg",
    ),
    (
        "test/NORMAL/IM-0017-0001.jpeg",
        "test/NORMAL/IM-0017-0001.jpeg",
    ),
    (
        "test/PNEUMONIA/person103_bacteria_489.jpeg",
        "test/PNEUMONIA/person103_bacteria_489.jpeg",
    ),
    (
        "val/NORMAL/NORMAL2-IM-1431-0001.jpeg",
        "val/NORMAL/NORMAL2-IM-1431-0001.jpeg",
    ),
    (
        "val/PNEUMONIA/person1946_bacteria_4875.jpeg",
        "val/PNEUMONIA/person1946_bacteria_4875.jpeg",
    ),
    // In the download but not in the manifest: the copy's held-out train patients.
    (
        "train/PNEUMONIA/person1073_bacteria_3008.jpeg",
        "train/PNEUMONIA/person1073_bacteria_3008.jpeg",
    ),
];

/// The files of [`FILES`] the test manifest keeps (all but the last).
fn kept() -> Vec<&'static str> {
    FILES[..FILES.len() - 1].iter().map(|(to, _)| *to).collect()
}

fn manifest_of(files: &[&str]) -> Manifest {
    let text = format!("# test manifest\n{}\n", files.join("\n"));
    Manifest::parse(&text, Path::new("test-manifest.txt")).unwrap()
}

/// A fake download under `download`: the files of [`FILES`] at `root` (relative), plus the
/// Kaggle zip's `__MACOSX` resource forks, which must be ignored.
fn fake_download(download: &Path, root: &str) {
    for (to, from) in FILES {
        let dest = download.join(root).join(to);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(sample().join(from), dest).unwrap();
    }
    let fork = download.join("chest_xray/__MACOSX/chest_xray/train/NORMAL/._IM-0314-0001.jpeg");
    std::fs::create_dir_all(fork.parent().unwrap()).unwrap();
    std::fs::write(fork, b"not an image").unwrap();
}

/// Every file under `dir`, relative, with `/` separators.
fn files_under(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let rel = path.strip_prefix(base).unwrap();
                out.insert(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Checks `out` holds exactly the manifest's files: train/test as 224x224 RGB JPEGs, val as
/// the download's bytes.
fn check_output(out: &Path, download_root: &Path) {
    let want: BTreeSet<String> = kept().iter().map(|s| s.to_string()).collect();
    assert_eq!(files_under(out), want);
    for rel in kept() {
        let written = std::fs::read(out.join(rel)).unwrap();
        if rel.starts_with("val/") {
            assert_eq!(
                written,
                std::fs::read(download_root.join(rel)).unwrap(),
                "{rel}"
            );
            continue;
        }
        let image = image::load_from_memory(&written).unwrap();
        assert_eq!((image.height(), image.width()), (224, 224), "{rel}");
        assert_eq!(image.color(), image::ColorType::Rgb8, "{rel}");
    }
}

#[test]
fn rebuilds_exactly_the_manifest_files_in_their_folders() {
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("download");
    fake_download(&download, "chest_xray");
    let out = dir.path().join("copy");
    let report = prepare_dev_copy(&download, &manifest_of(&kept()), &out).unwrap();
    check_output(&out, &download.join("chest_xray"));
    assert_eq!(report.source, download.join("chest_xray"));
    assert_eq!(report.total(), 7);
    assert_eq!(report.written[&(Split::Train, "NORMAL")], 2);
    assert_eq!(report.written[&(Split::Val, "PNEUMONIA")], 1);
    assert_eq!(
        report.not_in_manifest,
        vec![PathBuf::from(
            "train/PNEUMONIA/person1073_bacteria_3008.jpeg"
        )]
    );
    let text = report.to_string();
    assert!(text.contains("wrote 7 files"), "{text}");
    assert!(
        text.contains("1 files of the download are not in the manifest"),
        "{text}"
    );
}

#[test]
fn reads_the_doubly_nested_kaggle_layout() {
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("download");
    fake_download(&download, "chest_xray/chest_xray");
    let out = dir.path().join("copy");
    let report = prepare_dev_copy(&download, &manifest_of(&kept()), &out).unwrap();
    let root = download.join("chest_xray/chest_xray");
    assert_eq!(report.source, root);
    check_output(&out, &root);
}

#[test]
fn prefers_the_nested_folder_that_holds_every_file() {
    // The Kaggle zip holds both chest_xray/{train,...} and chest_xray/chest_xray/{train,...};
    // here only the nested one is complete.
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("download");
    fake_download(&download, "chest_xray/chest_xray");
    let partial = download.join("chest_xray/train/NORMAL");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::copy(
        sample().join("train/NORMAL/IM-0314-0001.jpeg"),
        partial.join("IM-0314-0001.jpeg"),
    )
    .unwrap();
    let out = dir.path().join("copy");
    let report = prepare_dev_copy(&download, &manifest_of(&kept()), &out).unwrap();
    assert_eq!(report.source, download.join("chest_xray/chest_xray"));
}

#[test]
fn refuses_a_download_missing_manifest_files_before_writing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let download = dir.path().join("download");
    fake_download(&download, "chest_xray");
    let mut files = kept();
    files.push("test/NORMAL/IM-9999-0001.jpeg");
    files.push("train/PNEUMONIA/person9999_virus_1.jpeg");
    let out = dir.path().join("copy");
    let err = prepare_dev_copy(&download, &manifest_of(&files), &out).unwrap_err();
    let message = err.to_string();
    match &err {
        Error::MissingFromDownload {
            missing,
            total,
            first,
            ..
        } => {
            assert_eq!((*missing, *total), (2, 9), "{message}");
            assert!(first.contains(&"test/NORMAL/IM-9999-0001.jpeg".to_string()));
        }
        other => panic!("expected MissingFromDownload, got {other}"),
    }
    assert!(message.contains("2 of the manifest's 9 files"), "{message}");
    assert!(message.contains("person9999_virus_1.jpeg"), "{message}");
    assert!(!out.exists(), "nothing may be written");

    // An empty output folder stays empty.
    std::fs::create_dir(&out).unwrap();
    prepare_dev_copy(&download, &manifest_of(&files), &out).unwrap_err();
    assert!(files_under(&out).is_empty());
}

#[test]
fn refuses_a_folder_that_is_not_a_download_and_a_non_empty_output() {
    let dir = tempfile::tempdir().unwrap();
    let err =
        prepare_dev_copy(dir.path(), &manifest_of(&kept()), dir.path().join("out")).unwrap_err();
    assert!(matches!(err, Error::MissingDir { .. }), "{err}");

    let download = dir.path().join("download");
    fake_download(&download, "chest_xray");
    let out = dir.path().join("copy");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("old.txt"), b"x").unwrap();
    let err = prepare_dev_copy(&download, &manifest_of(&kept()), &out).unwrap_err();
    assert!(err.to_string().contains("output folder"), "{err}");
    assert_eq!(files_under(&out), BTreeSet::from(["old.txt".to_string()]));
}

#[test]
fn shipped_manifest_lists_the_documented_files_and_patients() {
    let path = repo().join("data/dev_copy_manifest.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let manifest = Manifest::read(&path).unwrap();
    // The counts data/README.md and the manifest's header give.
    let expected = [
        (Split::Train, "NORMAL", 1216, 1096),
        (Split::Train, "PNEUMONIA", 3544, 1485),
        (Split::Test, "NORMAL", 234, 225),
        (Split::Test, "PNEUMONIA", 390, 202),
        (Split::Val, "NORMAL", 8, 8),
        (Split::Val, "PNEUMONIA", 8, 7),
    ];
    for (split, class, files, patients) in expected {
        assert_eq!(manifest.count(split, class), files, "{split}/{class} files");
        assert_eq!(
            manifest.patients(split, class),
            patients,
            "{split}/{class} patients"
        );
        let header = format!("{files} {class} ({patients} patients)");
        assert!(text.contains(&header), "header lacks '{header}'");
    }
    assert_eq!(manifest.len(), 4760 + 624 + 16);
    // Parsing refuses repeats; check independently of it all the same.
    let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(lines.len(), manifest.len());
    assert_eq!(lines.iter().collect::<HashSet<_>>().len(), lines.len());
    for line in &lines {
        let parts: Vec<&str> = line.split('/').collect();
        assert_eq!(parts.len(), 3, "{line}");
        assert!(["train", "test", "val"].contains(&parts[0]), "{line}");
        assert!(CLASSES.contains(&parts[1]), "{line}");
        assert!(parts[2].ends_with(".jpeg"), "{line}");
    }
    assert!(
        !text.contains("/work") && !text.contains("shared"),
        "no local paths"
    );
    assert_eq!(
        Manifest::shipped(),
        manifest,
        "the built-in copy is the file"
    );
}

#[test]
fn matches_pillow_on_sample_images() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dev_copy");
    let listing: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(listing["quality"], u64::from(QUALITY));
    assert_eq!(listing["size"], serde_json::json!([SIZE.0, SIZE.1]));
    let cases = listing["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let input = sample().join(case["input"].as_str().unwrap());
        let expected_path = fixtures.join(case["expected"].as_str().unwrap());
        let ours = resize_to_copy(&std::fs::read(&input).unwrap(), &input).unwrap();
        let pillow = std::fs::read(&expected_path).unwrap();
        let a = decode_gray(&ours, &input).unwrap();
        let b = decode_gray(&pillow, &expected_path).unwrap();
        assert_eq!(a.dim(), b.dim());
        let total: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(x.abs_diff(*y)))
            .sum();
        let mean = total / a.len() as f64;
        assert!(
            mean <= PILLOW_MEAN_DIFF,
            "{}: mean difference {mean}",
            input.display()
        );
        #[cfg(feature = "scaled-jpeg")]
        assert!(ours == pillow, "{}: not Pillow's bytes", input.display());
    }
}

/// A measurement, not a check: with `DEV_COPY_DOWNLOAD` naming a folder of split/class folders
/// (e.g. originals of some of the copy's files) and `DEV_COPY_OUT` an absent folder, rebuilds
/// every file found there; `tools/match_dev_copy_resize.py --score` then compares the output
/// with the copy (data/README.md, "Rebuilding the development copy").
#[test]
#[ignore = "needs DEV_COPY_DOWNLOAD and DEV_COPY_OUT"]
fn rebuild_a_real_folder_for_measurement() {
    let (Ok(download), Ok(out)) = (
        std::env::var("DEV_COPY_DOWNLOAD"),
        std::env::var("DEV_COPY_OUT"),
    ) else {
        panic!("set DEV_COPY_DOWNLOAD and DEV_COPY_OUT");
    };
    let download = PathBuf::from(download);
    let mut lines = Vec::new();
    for split in Split::ALL {
        for class in CLASSES {
            let Ok(entries) = std::fs::read_dir(download.join(split.name()).join(class)) else {
                continue;
            };
            for entry in entries {
                let name = entry.unwrap().file_name().to_string_lossy().into_owned();
                lines.push(format!("{split}/{class}/{name}"));
            }
        }
    }
    lines.sort();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let report = prepare_dev_copy(&download, &manifest_of(&refs), out).unwrap();
    eprintln!("{report}");
}

/// A dataset root with `counts[split] = [normal, pneumonia]` empty JPEG files per class.
fn empty_dataset(root: &Path, counts: &[(&str, [usize; 2])]) {
    for (split, n) in counts {
        for (class, k) in ["NORMAL", "PNEUMONIA"].iter().zip(n) {
            let dir = root.join(split).join(class);
            std::fs::create_dir_all(&dir).unwrap();
            for i in 0..*k {
                std::fs::write(dir.join(format!("f{i}.jpeg")), b"").unwrap();
            }
        }
    }
}

#[test]
fn data_folders_say_which_dataset_they_are_with_their_counts() {
    use support::dataset::{DataDir, DataSource};
    let manifest = Manifest::shipped();
    let count = |split, class| manifest.count(split, class);
    let described = |counts: &[(&str, [usize; 2])]| {
        let dir = tempfile::tempdir().unwrap();
        empty_dataset(dir.path(), counts);
        DataDir {
            path: dir.path().to_path_buf(),
            source: DataSource::Environment,
        }
        .describe()
        .unwrap()
    };
    let dev = described(&[
        (
            "train",
            [
                count(Split::Train, "NORMAL"),
                count(Split::Train, "PNEUMONIA"),
            ],
        ),
        (
            "test",
            [
                count(Split::Test, "NORMAL"),
                count(Split::Test, "PNEUMONIA"),
            ],
        ),
    ]);
    assert!(dev.starts_with("the development copy"), "{dev}");
    assert!(
        dev.contains(&format!(
            "test {} NORMAL + {} PNEUMONIA",
            count(Split::Test, "NORMAL"),
            count(Split::Test, "PNEUMONIA")
        )),
        "{dev}"
    );
    let kaggle = described(&[
        ("train", [1341, 3875]),
        ("test", [234, 390]),
        ("val", [8, 8]),
    ]);
    assert!(kaggle.starts_with("the Kaggle download"), "{kaggle}");
    assert!(kaggle.ends_with("val 8 NORMAL + 8 PNEUMONIA"), "{kaggle}");
    let own = described(&[("train", [3, 4]), ("test", [1, 2])]);
    assert_eq!(
        own,
        "a dataset of your own: train 3 NORMAL + 4 PNEUMONIA; test 1 NORMAL + 2 PNEUMONIA"
    );
    let sample = DataDir {
        path: sample(),
        source: DataSource::Sample,
    }
    .describe()
    .unwrap();
    assert!(
        sample.starts_with("the shipped sample (data/sample/chest_xray): train "),
        "{sample}"
    );
}
