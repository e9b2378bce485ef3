//! Behaviour of the Keras-like generator on small folders of generated images and on the
//! shipped sample.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use image::{GrayImage, Luma};
use support::dataset::LabelSource;
use support::generator::{
    Batch, ClassMode, FlowOptions, ImageDataGenerator, Interpolation, Subset,
};
use support::Error;

/// Writes `count` grey PNGs of 20x16 (height 16) per class; each image's pixels encode its
/// class and number, and carry a gradient so that transforms change them.
fn make_split(root: &Path, classes: &[(&str, usize)]) -> PathBuf {
    let split = root.join("train");
    for (c, &(name, count)) in classes.iter().enumerate() {
        let dir = split.join(name);
        fs::create_dir_all(&dir).unwrap();
        for i in 0..count {
            let img = GrayImage::from_fn(20, 16, |x, y| {
                Luma([(c as u32 * 100 + i as u32 + 3 * x + 2 * y).min(255) as u8])
            });
            img.save(dir.join(format!("img{i:03}.png"))).unwrap();
        }
    }
    split
}

fn quiet() -> FlowOptions {
    FlowOptions::default()
        .target_size(16, 20)
        .batch_size(8)
        .seed(7)
        .verbose(false)
}

fn collect(batches: impl Iterator<Item = Batch>) -> Vec<Batch> {
    batches.collect()
}

fn files_of(batches: &[Batch]) -> Vec<PathBuf> {
    batches.iter().flat_map(|b| b.files.clone()).collect()
}

#[test]
fn every_file_once_per_epoch_with_labels_from_folders() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("PNEUMONIA", 13), ("NORMAL", 10)]);
    let datagen = ImageDataGenerator::default();
    let mut it = datagen.flow_from_directory(&split, quiet()).unwrap();
    assert_eq!(it.samples(), 23);
    assert_eq!(it.len(), 3);
    let indices: Vec<(&str, usize)> = it
        .class_indices()
        .iter()
        .map(|(k, &v)| (k.as_str(), v))
        .collect();
    assert_eq!(indices, vec![("NORMAL", 0), ("PNEUMONIA", 1)]);
    assert_eq!(it.filenames()[0], Path::new("NORMAL").join("img000.png"));
    assert_eq!(it.classes().iter().filter(|&&c| c == 1).count(), 13);

    let all: BTreeSet<PathBuf> = it.filepaths().iter().cloned().collect();
    let mut orders = Vec::new();
    for _ in 0..3 {
        let epoch = collect(it.epoch());
        assert_eq!(epoch.len(), 3);
        let files = files_of(&epoch);
        assert_eq!(files.len(), 23, "each file exactly once");
        assert_eq!(files.iter().cloned().collect::<BTreeSet<_>>(), all);
        for batch in &epoch {
            for (file, &y) in batch.files.iter().zip(batch.y.iter()) {
                let folder = file.parent().unwrap().file_name().unwrap();
                let expected = if folder == "PNEUMONIA" { 1.0 } else { 0.0 };
                assert_eq!(y, expected, "{}", file.display());
            }
        }
        orders.push(files);
    }
    assert_ne!(orders[0], orders[1], "shuffle draws a new order each epoch");

    // The endless iterator runs the same epochs, one after another.
    let mut again = datagen.flow_from_directory(&split, quiet()).unwrap();
    let first_two = collect((&mut again).take(6));
    assert_eq!(files_of(&first_two[..3]), orders[0]);
    assert_eq!(files_of(&first_two[3..]), orders[1]);
    assert_eq!(again.current_epoch(), 2);
}

#[test]
fn unshuffled_batches_come_in_sorted_order() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 5), ("PNEUMONIA", 4)]);
    let mut it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet().shuffle(false).batch_size(4))
        .unwrap();
    let files = files_of(&collect(it.epoch()));
    assert_eq!(&files[..], it.filepaths());
    assert_eq!(it.classes(), &[0, 0, 0, 0, 0, 1, 1, 1, 1]);
}

#[test]
fn batch_shapes_and_last_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 20), ("PNEUMONIA", 21)]);
    let options = FlowOptions::default()
        .target_size(130, 130)
        .seed(1)
        .verbose(false);
    let mut it = ImageDataGenerator::default()
        .flow_from_directory(&split, options)
        .unwrap();
    assert_eq!(it.batch_size(), 32);
    let epoch = collect(it.epoch());
    assert_eq!(epoch.len(), 2);
    assert_eq!(epoch[0].x.shape(), &[32, 130, 130, 1]);
    assert_eq!(epoch[0].y.shape(), &[32]);
    assert_eq!(epoch[1].x.shape(), &[9, 130, 130, 1]);
    assert_eq!(epoch[1].y.len(), 9);
    assert_eq!(epoch[1].files.len(), 9);
}

#[test]
fn the_shipped_sample_gives_tutorial_batches() {
    let split = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray/train");
    let datagen = ImageDataGenerator::builder()
        .rescale(1.0 / 255.0)
        .build()
        .unwrap();
    let options = FlowOptions::default()
        .target_size(130, 130)
        .seed(3)
        .verbose(false);
    let mut it = datagen.flow_from_directory(&split, options).unwrap();
    let n = it.samples();
    assert!(n > 32, "the sample holds more than one batch");
    assert!(it.skipped().is_empty());
    let epoch = collect(it.epoch());
    assert_eq!(epoch.len(), n.div_ceil(32));
    assert_eq!(epoch[0].x.shape(), &[32, 130, 130, 1]);
    let last = epoch.last().unwrap();
    assert_eq!(last.len(), n - 32 * (epoch.len() - 1));
    let x = &epoch[0].x;
    assert!(x.iter().all(|&v| (0.0..=1.0).contains(&v)));
    // Real X-rays: not blank.
    let mean = x.mean().unwrap();
    assert!(mean > 0.1 && mean < 0.9, "mean {mean}");
}

fn mild_generator() -> ImageDataGenerator {
    ImageDataGenerator::mild_augmentation()
}

#[test]
fn same_seed_same_batches_different_seed_different() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 9), ("PNEUMONIA", 10)]);
    let datagen = mild_generator();
    let run = |seed: u64, prefetch: usize, cache: bool| {
        let mut it = datagen
            .flow_from_directory(
                &split,
                quiet().seed(seed).prefetch(prefetch).cache_in_memory(cache),
            )
            .unwrap();
        let per_epoch = it.len();
        collect((&mut it).take(2 * per_epoch))
    };
    let a = run(11, 2, false);
    let b = run(11, 2, false);
    assert_eq!(a, b, "x, y and files repeat with the same seed");
    // Neither prefetching nor caching changes what comes out.
    assert_eq!(a, run(11, 0, false));
    assert_eq!(a, run(11, 3, true));
    let c = run(12, 2, false);
    assert_ne!(files_of(&a), files_of(&c), "another seed, another order");

    // Augmentation differs between epochs: the same file looks different in epoch 2.
    let per_epoch = a.len() / 2;
    let image_of = |batches: &[Batch], file: &Path| {
        batches.iter().find_map(|b| {
            b.files
                .iter()
                .position(|f| f == file)
                .map(|i| b.x.index_axis(ndarray::Axis(0), i).to_owned())
        })
    };
    let file = a[0].files[0].clone();
    let first = image_of(&a[..per_epoch], &file).unwrap();
    let second = image_of(&a[per_epoch..], &file).unwrap();
    assert_ne!(first, second);
    assert!(first.iter().all(|&v| (0.0..=1.0).contains(&v)));
}

#[test]
fn no_augmentation_rescales_pixels_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 2), ("PNEUMONIA", 1)]);
    let datagen = ImageDataGenerator::builder().rescale(0.5).build().unwrap();
    let mut it = datagen
        .flow_from_directory(&split, quiet().shuffle(false))
        .unwrap();
    let batch = it.next().unwrap();
    // NORMAL/img001.png: pixel (row y, col x) = 1 + 3x + 2y.
    assert_eq!(batch.files[1].file_name().unwrap(), "img001.png");
    assert_eq!(batch.x[[1, 0, 0, 0]], 0.5);
    assert_eq!(batch.x[[1, 2, 3, 0]], (1.0 + 9.0 + 4.0) * 0.5);
    assert_eq!(
        batch.x[[2, 0, 0, 0]],
        50.0,
        "PNEUMONIA/img000.png starts at 100"
    );
}

#[test]
fn validation_split_partitions_each_class_like_keras() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 23), ("PNEUMONIA", 18)]);
    let datagen = ImageDataGenerator::builder()
        .validation_split(0.25)
        .build()
        .unwrap();
    let train = datagen
        .flow_from_directory(&split, quiet().subset(Subset::Training))
        .unwrap();
    let val = datagen
        .flow_from_directory(&split, quiet().subset(Subset::Validation))
        .unwrap();
    let all = datagen.flow_from_directory(&split, quiet()).unwrap();
    // Keras: per class, files [0, int(0.25 n)) validate and the rest train.
    assert_eq!(val.samples(), 5 + 4);
    assert_eq!(train.samples(), 18 + 14);
    let t: BTreeSet<&PathBuf> = train.filenames().iter().collect();
    let v: BTreeSet<&PathBuf> = val.filenames().iter().collect();
    assert!(t.is_disjoint(&v));
    let union: BTreeSet<&PathBuf> = t.union(&v).copied().collect();
    assert_eq!(union, all.filenames().iter().collect());
    let first_val: Vec<String> = val
        .filenames()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert_eq!(
        first_val[0],
        format!("NORMAL{}img000.png", std::path::MAIN_SEPARATOR)
    );
    assert_eq!(
        first_val[5],
        format!("PNEUMONIA{}img000.png", std::path::MAIN_SEPARATOR)
    );
    assert_eq!(val.classes(), &[0, 0, 0, 0, 0, 1, 1, 1, 1]);
}

#[test]
fn unreadable_files_are_skipped_and_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 6), ("PNEUMONIA", 5)]);
    let normal = split.join("NORMAL");
    fs::write(normal.join("empty.jpeg"), b"").unwrap();
    fs::write(
        normal.join("noise.jpeg"),
        (0..500u32)
            .map(|i| (i * 7919 % 251) as u8)
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    fs::write(normal.join(".DS_Store"), b"\0\0\0\x01Bud1").unwrap();
    fs::write(normal.join("notes.txt"), b"not an image").unwrap();
    // A PNG whose header is fine but whose pixel data is cut short: found at decode time.
    let noisy = GrayImage::from_fn(40, 40, |x, y| Luma([((x * 31 + y * 17) % 256) as u8]));
    let full = normal.join("full.png");
    noisy.save(&full).unwrap();
    let bytes = fs::read(&full).unwrap();
    fs::remove_file(&full).unwrap();
    let cut = split.join("PNEUMONIA").join("cut.png");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    assert!(support::imread::image_dims(&cut).is_ok());
    assert!(support::imread::imread(&cut).is_err());

    let datagen = ImageDataGenerator::default();
    let mut it = datagen
        .flow_from_directory(&split, quiet().batch_size(4))
        .unwrap();
    // The header check drops the two non-images at once; .DS_Store and notes.txt are not listed.
    assert_eq!(it.samples(), 12);
    let names = |it: &support::generator::DirectoryIterator| -> BTreeSet<String> {
        it.skipped()
            .iter()
            .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(&it),
        ["empty.jpeg", "noise.jpeg"].map(String::from).into()
    );
    for round in 0..2 {
        let epoch = collect(it.epoch());
        let files = files_of(&epoch);
        assert_eq!(files.len(), 11, "round {round}: every readable file");
        assert!(!files.contains(&cut));
        let sizes: usize = epoch.iter().map(|b| b.x.shape()[0]).sum();
        assert_eq!(sizes, 11);
        assert_eq!(it.skipped().len(), 3, "each bad file reported once");
    }
    assert!(names(&it).contains("cut.png"));

    // Strict: the header check fails fast, and so does a decode failure.
    let err = datagen
        .flow_from_directory(&split, quiet().strict(true))
        .unwrap_err();
    assert!(err.to_string().contains(".jpeg"), "{err}");
    fs::remove_file(normal.join("empty.jpeg")).unwrap();
    fs::remove_file(normal.join("noise.jpeg")).unwrap();
    let mut strict = datagen
        .flow_from_directory(&split, quiet().strict(true).batch_size(4))
        .unwrap();
    let mut result = Ok(None);
    for _ in 0..strict.len() {
        result = strict.try_next_batch();
        if result.is_err() {
            break;
        }
    }
    let err = result.unwrap_err();
    assert!(err.to_string().contains("cut.png"), "{err}");
    // The lenient iterator view ends and keeps the error.
    let mut strict = datagen
        .flow_from_directory(&split, quiet().strict(true).batch_size(4))
        .unwrap();
    let seen = (&mut strict).take(10).count();
    assert!(seen < 10);
    assert!(strict.take_error().is_some());
}

#[test]
fn flow_from_files_uses_the_given_list() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 4), ("PNEUMONIA", 4)]);
    let files = vec![
        split.join("NORMAL/img000.png"),
        split.join("PNEUMONIA/img003.png"),
        split.join("PNEUMONIA/img001.png"),
    ];
    let names = vec!["NORMAL".to_string(), "PNEUMONIA".to_string()];
    let datagen = ImageDataGenerator::default();
    let mut it = datagen
        .flow_from_files(
            files.clone(),
            vec![0, 1, 1],
            names.clone(),
            quiet().shuffle(false),
        )
        .unwrap();
    assert_eq!(it.samples(), 3);
    assert_eq!(it.filenames(), &files[..]);
    let batch = it.next().unwrap();
    assert_eq!(batch.files, files);
    assert_eq!(batch.y.to_vec(), vec![0.0, 1.0, 1.0]);
    assert_eq!(batch.indices, vec![0, 1, 2]);

    let err = datagen
        .flow_from_files(files.clone(), vec![0, 1], names.clone(), quiet())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "labels", .. }));
    let err = datagen
        .flow_from_files(files, vec![0, 1, 2], names, quiet())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument { name: "labels", .. }));
}

#[test]
fn the_sample_gives_three_classes_from_file_names() {
    let split = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray/train");
    let options = quiet()
        .target_size(32, 32)
        .class_mode(ClassMode::Categorical)
        .label_source(LabelSource::FileName)
        .shuffle(false)
        .batch_size(200);
    let mut it = ImageDataGenerator::default()
        .flow_from_directory(&split, options)
        .unwrap();
    let names: Vec<&str> = it.class_names().iter().map(String::as_str).collect();
    assert_eq!(names, ["NORMAL", "PNEUMONIA_BACTERIA", "PNEUMONIA_VIRUS"]);
    assert_eq!(it.class_indices()["PNEUMONIA_VIRUS"], 2);
    let batch = it.next().unwrap();
    assert_eq!(batch.y.len(), 3 * batch.len());
    for (row, file) in batch.y.to_vec().chunks(3).zip(&batch.files) {
        let name = file.file_name().unwrap().to_string_lossy().to_lowercase();
        let class = row.iter().position(|&v| v == 1.0).unwrap();
        assert_eq!(row.iter().sum::<f32>(), 1.0);
        let expected = if name.contains("_bacteria_") {
            1
        } else if name.contains("_virus_") {
            2
        } else {
            0
        };
        assert_eq!(class, expected, "{name}");
    }
    // The sample's training folder: 53 bacterial and 29 viral pneumonia images.
    let counts: Vec<usize> = (0..3)
        .map(|c| it.classes().iter().filter(|&&l| l == c).count())
        .collect();
    assert_eq!(&counts[1..], &[53, 29]);
}

#[test]
fn resizing_and_class_modes() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("a", 2), ("b", 2), ("c", 1)]);
    let datagen = ImageDataGenerator::default();
    // Three classes cannot be binary.
    let err = datagen.flow_from_directory(&split, quiet()).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidArgument {
            name: "class_mode",
            ..
        }
    ));
    let mut sparse = datagen
        .flow_from_directory(
            &split,
            quiet()
                .class_mode(ClassMode::Sparse)
                .shuffle(false)
                .target_size(8, 10)
                .interpolation(Interpolation::Nearest),
        )
        .unwrap();
    let batch = sparse.next().unwrap();
    assert_eq!(batch.y.to_vec(), vec![0.0, 0.0, 1.0, 1.0, 2.0]);
    assert_eq!(batch.x.shape(), &[5, 8, 10, 1]);
    // PIL nearest, 16x20 -> 8x10: output (r, c) reads input (2r + 1, 2c + 1).
    assert_eq!(batch.x[[1, 3, 4, 0]], (1 + 3 * 9 + 2 * 7) as f32);
    let mut unlabelled = datagen
        .flow_from_directory(&split, quiet().class_mode(ClassMode::None))
        .unwrap();
    let batch = unlabelled.next().unwrap();
    assert_eq!(batch.y.len(), 0);
    assert_eq!(batch.x.shape()[0], 5);
    let mut categorical = datagen
        .flow_from_directory(
            &split,
            quiet().class_mode(ClassMode::Categorical).shuffle(false),
        )
        .unwrap();
    let batch = categorical.next().unwrap();
    #[rustfmt::skip]
    assert_eq!(batch.y.to_vec(), vec![
        1.0, 0.0, 0.0,
        1.0, 0.0, 0.0,
        0.0, 1.0, 0.0,
        0.0, 1.0, 0.0,
        0.0, 0.0, 1.0,
    ]);
    // Picking classes picks folders and orders labels.
    let picked = datagen
        .flow_from_directory(&split, quiet().classes(vec!["c".into(), "a".into()]))
        .unwrap();
    assert_eq!(picked.samples(), 3);
    assert_eq!(picked.class_indices()["c"], 0);
    assert_eq!(picked.classes(), &[0, 1, 1]);
}

#[test]
fn settings_are_checked() {
    let bad = [
        ImageDataGenerator::builder().rotation_range(-5.0).build(),
        ImageDataGenerator::builder().validation_split(1.0).build(),
        ImageDataGenerator::builder().validation_split(-0.1).build(),
        ImageDataGenerator::builder().zoom_range(1.5).build(),
        ImageDataGenerator::builder()
            .zoom_range_pair(1.2, 0.9)
            .build(),
        ImageDataGenerator::builder()
            .width_shift_range(-0.1)
            .build(),
        ImageDataGenerator::builder()
            .brightness_range(2.0, 1.0)
            .build(),
        ImageDataGenerator::builder().rescale(f32::NAN).build(),
    ];
    for result in bad {
        assert!(
            matches!(result, Err(Error::InvalidArgument { .. })),
            "{result:?}"
        );
    }
    let ok = ImageDataGenerator::builder()
        .zoom_range(0.1)
        .build()
        .unwrap();
    let (lo, hi) = ok.augment_params().zoom_range;
    assert!((lo - 0.9).abs() < 1e-6 && (hi - 1.1).abs() < 1e-6);

    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 2), ("PNEUMONIA", 2)]);
    let datagen = ImageDataGenerator::default();
    for options in [
        quiet().batch_size(0),
        quiet().target_size(0, 5),
        quiet().subset(Subset::Validation),
    ] {
        let err = datagen.flow_from_directory(&split, options).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument { .. }), "{err}");
    }
    assert!(matches!(
        datagen.flow_from_directory(dir.path().join("missing"), quiet()),
        Err(Error::MissingDir { .. })
    ));
}

#[test]
fn reset_and_epoch_start_fresh_epochs() {
    let dir = tempfile::tempdir().unwrap();
    let split = make_split(dir.path(), &[("NORMAL", 6), ("PNEUMONIA", 6)]);
    let mut it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet().batch_size(5))
        .unwrap();
    assert_eq!(it.len(), 3);
    let _ = it.next().unwrap();
    assert_eq!((it.current_epoch(), it.batch_index()), (0, 1));
    // Mid-epoch, epoch() starts the next epoch and still yields every file once.
    let epoch = collect(it.epoch());
    assert_eq!(files_of(&epoch).len(), 12);
    assert_eq!((it.current_epoch(), it.batch_index()), (2, 0));
    it.reset();
    assert_eq!(
        it.current_epoch(),
        2,
        "reset at an epoch start changes nothing"
    );
}

#[test]
fn seek_epoch_resumes_the_same_sequence() {
    let root = tempfile::tempdir().unwrap();
    let dir = make_split(root.path(), &[("NORMAL", 9), ("PNEUMONIA", 14)]);
    let make = || {
        ImageDataGenerator::builder()
            .rescale(1.0 / 255.0)
            .rotation_range(10.0)
            .build()
            .unwrap()
            .flow_from_directory(&dir, quiet())
            .unwrap()
    };
    let mut straight = make();
    let _first: Vec<_> = straight.epoch().collect();
    let second: Vec<_> = straight.epoch().collect();
    let mut resumed = make();
    resumed.seek_epoch(1);
    let again: Vec<_> = resumed.epoch().collect();
    assert_eq!(second, again);
    let mut fresh = make();
    let first_again: Vec<_> = fresh.epoch().collect();
    assert_ne!(first_again, again);
}
