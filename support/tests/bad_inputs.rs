//! Messy inputs, one test per kind (issue 4): what reading one image, passes over folders and
//! model loading do with each. Every bad file is generated here, except two JPEG variants the
//! `image` crate cannot write (CMYK, progressive), which live in `tests/fixtures/bad/` (see
//! `make_fixtures.py` there).

use std::collections::BTreeSet;
use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use image::{DynamicImage, GrayImage, ImageBuffer, ImageFormat, Luma, Rgba};
use rand::{RngCore, SeedableRng};
use support::dataset::{list_images, scan_classes, ClassScan};
use support::generator::{found_line, FlowOptions, ImageDataGenerator};
use support::imread::{decode_gray, image_dims, imread, MAX_PIXELS};
use support::metrics::{Decision, Threshold};
use support::model::{Model, ModelConfig};
use support::prepare::resize_folder;
use support::preprocessing::Preprocessing;
use support::resize::{resize_u8, Interpolation};
use support::saved_model::SavedModel;
use support::stats::survey_dims;
use support::training::{EpochLog, FitOptions, History, ResumeCheckpoint, RunSettings};
use support::{skipped_summary, Error};

// ---------------------------------------------------------------------------------------------
// Generated files

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A grey image with texture, so that a JPEG of it has real entropy-coded data.
fn textured(w: u32, h: u32) -> GrayImage {
    GrayImage::from_fn(w, h, |x, y| Luma([((x * 37 + y * 11 + x * y) % 256) as u8]))
}

fn jpeg(w: u32, h: u32) -> Vec<u8> {
    encode(DynamicImage::ImageLuma8(textured(w, h)), ImageFormat::Jpeg)
}

fn png(w: u32, h: u32) -> Vec<u8> {
    encode(DynamicImage::ImageLuma8(textured(w, h)), ImageFormat::Png)
}

/// Where the first `marker` (0xFF, byte) segment of a JPEG starts.
fn find_marker(jpeg: &[u8], byte: u8) -> usize {
    jpeg.windows(2)
        .position(|w| w == [0xFF, byte])
        .expect("the encoder writes this marker")
}

/// CRC-32 as PNG defines it (polynomial 0xEDB88320, reflected).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A valid 1x1 PNG whose header then claims 60000 x 60000 pixels (CRC fixed, so only the size is wrong).
fn png_bomb() -> Vec<u8> {
    let mut bomb = png(1, 1);
    bomb[16..20].copy_from_slice(&60000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&60000u32.to_be_bytes());
    let crc = crc32(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    bomb
}

/// A small JPEG whose frame header (SOF0) claims 60000 x 60000 pixels.
fn jpeg_bomb() -> Vec<u8> {
    let mut bomb = jpeg(16, 16);
    let sof = find_marker(&bomb, 0xC0);
    // FF C0, length (2), precision (1), height (2), width (2).
    bomb[sof + 5..sof + 7].copy_from_slice(&60000u16.to_be_bytes());
    bomb[sof + 7..sof + 9].copy_from_slice(&60000u16.to_be_bytes());
    bomb
}

fn random_bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; n];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/bad")
        .join(name)
}

fn write(path: &Path, bytes: &[u8]) -> PathBuf {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, bytes).unwrap();
    path.to_path_buf()
}

fn quiet() -> FlowOptions {
    FlowOptions::default()
        .target_size(16, 20)
        .batch_size(4)
        .seed(3)
        .verbose(false)
}

/// The error's file name must appear in its message, and the message must say why.
fn assert_decode_error(result: support::Result<impl std::fmt::Debug>, name: &str, why: &str) {
    match result {
        Err(err @ Error::Decode { .. }) => {
            let text = err.to_string();
            assert!(text.contains(name), "{text}");
            assert!(text.contains(why), "expected '{why}' in: {text}");
        }
        other => panic!("expected a decode error for {name}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading one image

#[test]
fn zero_byte_file_is_a_decode_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("empty.jpeg"), b"");
    assert_decode_error(imread(&path), "empty.jpeg", "cannot decode image");
    assert!(image_dims(&path)
        .unwrap_err()
        .to_string()
        .contains("empty.jpeg"));
}

#[test]
fn jpeg_cut_at_half_its_length_is_refused_not_filled_with_grey() {
    let dir = tempfile::tempdir().unwrap();
    let whole = jpeg(64, 48);
    let path = write(&dir.path().join("cut.jpeg"), &whole[..whole.len() / 2]);
    assert_decode_error(imread(&path), "cut.jpeg", "ends early");
    // Its header is whole, so a header-only survey still measures it.
    assert_eq!(image_dims(&path).unwrap(), (48, 64));
    // Cut anywhere, never a panic and never an image.
    for cut in (0..whole.len() - 2).step_by(7) {
        assert!(
            decode_gray(&whole[..cut], Path::new("c.jpeg")).is_err(),
            "cut at {cut}"
        );
    }
    assert_eq!(
        decode_gray(&whole, Path::new("w.jpeg")).unwrap().dim(),
        (48, 64)
    );
}

#[test]
fn jpeg_with_a_corrupted_header_is_a_decode_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = jpeg(32, 32);
    let sof = find_marker(&bytes, 0xC0);
    bytes[sof + 4] = 0x5A; // sample precision 90 bits
    bytes[sof + 9] = 0; // no colour components
    let path = write(&dir.path().join("header.jpeg"), &bytes);
    let err = imread(&path).unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err}");
    assert!(err.to_string().contains("header.jpeg"), "{err}");
    // A JPEG whose segment lengths run past the end of the file.
    let mut bytes = jpeg(32, 32);
    let dqt = find_marker(&bytes, 0xDB);
    bytes[dqt + 2..dqt + 4].copy_from_slice(&0xFFF0u16.to_be_bytes());
    let path = write(&dir.path().join("length.jpeg"), &bytes);
    assert!(matches!(imread(&path), Err(Error::Decode { .. })));
}

#[test]
fn random_bytes_and_text_named_jpeg_are_decode_errors() {
    let dir = tempfile::tempdir().unwrap();
    let noise = write(&dir.path().join("noise.jpeg"), &random_bytes(4096, 1));
    assert_decode_error(imread(&noise), "noise.jpeg", "cannot decode image");
    let text = write(
        &dir.path().join("readme.jpeg"),
        b"This file was saved by a browser: 404 Not Found\n",
    );
    assert_decode_error(imread(&text), "readme.jpeg", "cannot decode image");
    // Random bytes after a JPEG signature reach the JPEG decoder itself.
    let mut fake = vec![0xFF, 0xD8, 0xFF, 0xE0];
    fake.extend(random_bytes(2048, 2));
    let fake = write(&dir.path().join("fake.jpeg"), &fake);
    assert!(matches!(imread(&fake), Err(Error::Decode { .. })));
}

#[test]
fn png_named_jpeg_is_read_by_its_content() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(&dir.path().join("really_png.jpeg"), &png(7, 5));
    assert_eq!(image_dims(&path).unwrap(), (5, 7));
    assert_eq!(
        imread(&path).unwrap(),
        support::ndarray::Array2::from_shape_fn((5, 7), |(y, x)| {
            ((x * 37 + y * 11 + x * y) % 256) as u8
        })
    );
}

#[test]
fn decompression_bombs_are_refused_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [("bomb.png", png_bomb()), ("bomb.jpeg", jpeg_bomb())] {
        let path = write(&dir.path().join(name), &bytes);
        let start = std::time::Instant::now();
        for err in [
            imread(&path).map(|_| ()).unwrap_err(),
            image_dims(&path).map(|_| ()).unwrap_err(),
            decode_gray(&bytes, &path).map(|_| ()).unwrap_err(),
        ] {
            match &err {
                Error::TooLarge {
                    width: 60000,
                    height: 60000,
                    limit,
                    ..
                } => assert_eq!(*limit, MAX_PIXELS),
                other => panic!("{name}: expected TooLarge, got {other:?}"),
            }
            assert!(err.to_string().contains(name), "{err}");
        }
        // 3.6 gigapixels would take seconds and gigabytes to even allocate and clear.
        assert!(start.elapsed().as_secs_f64() < 2.0, "{:?}", start.elapsed());
    }
}

#[test]
fn sixteen_bit_grey_png_is_scaled_to_eight_bits() {
    let g16 = ImageBuffer::<Luma<u16>, _>::from_fn(5, 2, |x, _| Luma([x as u16 * 16000]));
    let bytes = encode(DynamicImage::ImageLuma16(g16), ImageFormat::Png);
    let grey = decode_gray(&bytes, Path::new("g16.png")).unwrap();
    assert_eq!(grey.dim(), (2, 5));
    for x in 0..5 {
        let expected = (x as f64 * 16000.0 / 65535.0 * 255.0).round() as u8;
        assert_eq!(grey[[1, x]], expected, "column {x}");
    }
}

#[test]
fn rgba_png_drops_alpha_and_takes_pil_luma() {
    let rgba = ImageBuffer::<Rgba<u8>, _>::from_fn(2, 1, |x, _| {
        if x == 0 {
            Rgba([255, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 128])
        }
    });
    let bytes = encode(DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
    let grey = decode_gray(&bytes, Path::new("rgba.png")).unwrap();
    // PIL's convert('L'): 0.299 R + 0.587 G + 0.114 B, alpha ignored.
    assert_eq!(grey.into_raw_vec_and_offset().0, vec![76, 29]);
}

/// Both fixtures are a 24 x 16 left-to-right gradient whose PIL `convert('L')` is `10 x`.
fn assert_gradient(name: &str) {
    let grey = imread(fixture(name)).unwrap();
    assert_eq!(grey.dim(), (16, 24), "{name}");
    for y in 0..16 {
        for x in 0..24 {
            let v = i32::from(grey[[y, x]]);
            assert!((v - 10 * x as i32).abs() <= 12, "{name} at ({y}, {x}): {v}");
        }
    }
}

#[test]
fn cmyk_jpeg_is_converted_to_grey() {
    assert_gradient("cmyk.jpeg");
}

#[test]
fn progressive_jpeg_is_decoded() {
    assert_gradient("progressive.jpeg");
}

#[test]
fn one_pixel_image_is_read_resized_and_augmented() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    for class in ["NORMAL", "PNEUMONIA"] {
        let dot = GrayImage::from_pixel(1, 1, Luma([200]));
        write(
            &split.join(class).join("dot.png"),
            &encode(DynamicImage::ImageLuma8(dot), ImageFormat::Png),
        );
    }
    let dot = imread(split.join("NORMAL/dot.png")).unwrap();
    assert_eq!(dot.dim(), (1, 1));
    let resized = resize_u8(dot.view(), (8, 9)).unwrap();
    assert!(resized.iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-6));
    let datagen = ImageDataGenerator::builder()
        .rotation_range(30.0)
        .zoom_range(0.2)
        .horizontal_flip(true)
        .rescale(1.0 / 255.0)
        .build()
        .unwrap();
    let mut it = datagen.flow_from_directory(&split, quiet()).unwrap();
    let batch = it.next().unwrap();
    assert_eq!(batch.x.shape(), &[2, 16, 20, 1]);
    // A constant image stays constant under any transform with nearest fill.
    assert!(batch.x.iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-5));
}

#[test]
fn images_smaller_than_the_target_are_enlarged() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    write(&split.join("NORMAL/small.png"), &png(5, 3));
    write(&split.join("PNEUMONIA/small.jpeg"), &jpeg(6, 4));
    let out = resize_folder(split.join("NORMAL"), (16, 20)).unwrap();
    assert_eq!(out.images.len(), 1);
    assert_eq!(out.images[0].dim(), (16, 20));
    for interpolation in [
        Interpolation::Nearest,
        Interpolation::Bilinear,
        Interpolation::Area,
    ] {
        let mut it = ImageDataGenerator::default()
            .flow_from_directory(&split, quiet().interpolation(interpolation))
            .unwrap();
        let batch = it.next().unwrap();
        assert_eq!(batch.x.shape(), &[2, 16, 20, 1], "{interpolation:?}");
        assert!(batch.x.iter().all(|v| (0.0..=255.0).contains(v)));
    }
}

// ---------------------------------------------------------------------------------------------
// Folders

#[test]
fn hidden_files_are_never_listed() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    write(&split.join("NORMAL/a.jpeg"), &jpeg(8, 8));
    write(&split.join("NORMAL/.DS_Store"), b"\0\0\0\x01Bud1\0\0");
    // macOS's AppleDouble companions carry an image extension but are not images.
    write(&split.join("NORMAL/._a.jpeg"), &random_bytes(120, 3));
    write(&split.join("NORMAL/.hidden/b.jpeg"), &jpeg(8, 8));
    write(&split.join("NORMAL/Thumbs.db"), b"thumbnail cache");
    write(&split.join("PNEUMONIA/b.png"), &png(8, 8));
    write(&split.join(".DS_Store"), b"\0\0\0\x01Bud1");
    fs::create_dir_all(split.join(".git")).unwrap();
    let scan = scan_classes(&split, None, false).unwrap();
    assert_eq!(scan.class_names, vec!["NORMAL", "PNEUMONIA"]);
    let names: Vec<_> = scan
        .files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["a.jpeg", "b.png"]);
    let survey = survey_dims(split.join("NORMAL")).unwrap();
    assert_eq!((survey.files.len(), survey.skipped.len()), (1, 0));
    let it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet())
        .unwrap();
    assert_eq!((it.samples(), it.skipped().len()), (2, 0));
}

#[test]
fn an_empty_class_folder_is_an_error_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    write(&split.join("NORMAL/a.png"), &png(8, 8));
    // Only a hidden file and a non-image: no image files.
    write(&split.join("PNEUMONIA/.DS_Store"), b"x");
    write(&split.join("PNEUMONIA/notes.txt"), b"x");
    let check = |err: Error| {
        match &err {
            Error::EmptyClass { class, path } => {
                assert_eq!(class, "PNEUMONIA");
                assert!(path.ends_with("train/PNEUMONIA"));
            }
            other => panic!("expected EmptyClass, got {other:?}"),
        }
        assert!(err.to_string().contains("holds no image files"), "{err}");
    };
    check(scan_classes(&split, None, false).unwrap_err());
    check(
        ImageDataGenerator::default()
            .flow_from_directory(&split, quiet())
            .unwrap_err(),
    );
}

#[test]
fn a_split_without_class_folders_says_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    // Images directly in the split, no class subfolders.
    write(&split.join("a.png"), &png(8, 8));
    write(&split.join("b.jpeg"), &jpeg(8, 8));
    fs::create_dir_all(split.join(".cache")).unwrap();
    for err in [
        scan_classes(&split, None, false).unwrap_err(),
        ImageDataGenerator::default()
            .flow_from_directory(&split, quiet())
            .unwrap_err(),
    ] {
        assert!(matches!(err, Error::NoClasses { .. }), "{err}");
        assert!(err.to_string().contains("one subfolder per class"), "{err}");
    }
}

#[test]
fn a_missing_data_folder_is_an_error_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("chest_xray/train");
    let errors = [
        scan_classes(&missing, None, false).map(|_| ()).unwrap_err(),
        list_images(&missing, false).map(|_| ()).unwrap_err(),
        survey_dims(&missing).map(|_| ()).unwrap_err(),
        resize_folder(&missing, (8, 8)).map(|_| ()).unwrap_err(),
        ImageDataGenerator::default()
            .flow_from_directory(&missing, quiet())
            .map(|_| ())
            .unwrap_err(),
        support::dataset::data_dir_from(Some(dir.path().join("nowhere")), dir.path())
            .map(|_| ())
            .unwrap_err(),
    ];
    for err in errors {
        assert!(matches!(err, Error::MissingDir { .. }), "{err}");
        let text = err.to_string();
        assert!(text.contains("folder not found"), "{text}");
        assert!(text.contains("expected") || text.contains("must name") || text.contains("folder"));
    }
}

#[test]
fn a_symlink_loop_is_followed_once() {
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    write(&split.join("NORMAL/a.png"), &png(8, 8));
    write(&split.join("NORMAL/sub/b.png"), &png(8, 8));
    write(&split.join("PNEUMONIA/c.png"), &png(8, 8));
    // NORMAL/sub/loop -> NORMAL, and a link to itself.
    std::os::unix::fs::symlink(split.join("NORMAL"), split.join("NORMAL/sub/loop")).unwrap();
    std::os::unix::fs::symlink(split.join("NORMAL/self"), split.join("NORMAL/self")).unwrap();
    let followed = list_images(split.join("NORMAL"), true).unwrap();
    let names: BTreeSet<_> = followed
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(followed.len(), 2, "{followed:?}");
    assert_eq!(names, BTreeSet::from(["a.png".into(), "b.png".into()]));
    assert_eq!(list_images(split.join("NORMAL"), false).unwrap().len(), 2);
    let it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet().follow_links(true))
        .unwrap();
    assert_eq!((it.samples(), it.skipped().len()), (3, 0));
}

#[test]
fn a_file_without_read_permission() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    write(&split.join("NORMAL/a.png"), &png(8, 8));
    write(&split.join("PNEUMONIA/b.png"), &png(8, 8));
    let locked = write(&split.join("PNEUMONIA/locked.png"), &png(8, 8));
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    // Root (or CAP_DAC_OVERRIDE) reads the file anyway: detect what this process sees.
    let privileged = fs::read(&locked).is_ok();
    let it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet())
        .unwrap();
    if privileged {
        eprintln!(
            "running with privileges that ignore permission bits (root): the file is readable"
        );
        assert_eq!(imread(&locked).unwrap().dim(), (8, 8));
        assert_eq!((it.samples(), it.skipped().len()), (3, 0));
    } else {
        match imread(&locked) {
            Err(Error::Io { path, source }) => {
                assert_eq!(path, locked);
                assert_eq!(source.kind(), std::io::ErrorKind::PermissionDenied);
            }
            other => panic!("expected a permission error, got {other:?}"),
        }
        assert_eq!((it.samples(), it.skipped().len()), (2, 1));
        let survey = survey_dims(split.join("PNEUMONIA")).unwrap();
        assert_eq!((survey.files.len(), survey.skipped.len()), (1, 1));
    }
}

#[test]
fn a_non_utf8_file_name_is_read_and_named() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let split = dir.path().join("train");
    let name = std::ffi::OsStr::from_bytes(b"scan-\xff\xfe.png");
    let good = write(&split.join("NORMAL").join(name), &png(8, 8));
    let bad_name = std::ffi::OsStr::from_bytes(b"bad-\xff.jpeg");
    let bad = write(&split.join("PNEUMONIA").join(bad_name), b"not an image");
    write(&split.join("PNEUMONIA/ok.png"), &png(8, 8));
    assert_eq!(imread(&good).unwrap().dim(), (8, 8));
    let err = imread(&bad).unwrap_err();
    assert!(err.to_string().contains("bad-\u{FFFD}.jpeg"), "{err}");
    let mut it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet())
        .unwrap();
    assert_eq!(it.samples(), 2);
    assert_eq!(it.skipped()[0].path, bad);
    let batch = it.next().unwrap();
    assert!(batch.files.contains(&good));
    assert!(skipped_summary(it.skipped())
        .unwrap()
        .contains("bad-\u{FFFD}.jpeg"));
}

/// A folder with one of every bad file beside good ones, and what each pass makes of it.
fn messy_split(root: &Path) -> (PathBuf, Vec<&'static str>, &'static str) {
    let split = root.join("train");
    let normal = split.join("NORMAL");
    let pneumonia = split.join("PNEUMONIA");
    for i in 0..3 {
        write(&normal.join(format!("good{i}.jpeg")), &jpeg(30 + i, 20));
        write(&pneumonia.join(format!("good{i}.png")), &png(20, 30 + i));
    }
    write(&normal.join("png_named.jpeg"), &png(12, 10));
    write(&normal.join("dot.png"), &png(1, 1));
    write(
        &normal.join("cmyk.jpeg"),
        &fs::read(fixture("cmyk.jpeg")).unwrap(),
    );
    write(
        &pneumonia.join("progressive.jpeg"),
        &fs::read(fixture("progressive.jpeg")).unwrap(),
    );
    let g16 = ImageBuffer::<Luma<u16>, _>::from_pixel(9, 9, Luma([40000]));
    write(
        &pneumonia.join("g16.png"),
        &encode(DynamicImage::ImageLuma16(g16), ImageFormat::Png),
    );
    write(&normal.join(".DS_Store"), b"Bud1");
    // Unreadable from the header on:
    write(&normal.join("empty.jpeg"), b"");
    write(&normal.join("text.jpeg"), b"<html>502 Bad Gateway</html>");
    write(&pneumonia.join("noise.jpeg"), &random_bytes(3000, 9));
    write(&pneumonia.join("bomb.png"), &png_bomb());
    // Header fine, pixels cut short: found while decoding.
    let whole = jpeg(40, 40);
    write(&pneumonia.join("half.jpeg"), &whole[..whole.len() / 2]);
    (
        split,
        vec!["bomb.png", "empty.jpeg", "noise.jpeg", "text.jpeg"],
        "half.jpeg",
    )
}

fn names(skipped: &[support::Skipped]) -> BTreeSet<String> {
    skipped
        .iter()
        .map(|s| s.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn passes_over_a_messy_folder_skip_bad_files_once_and_use_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let (split, header_bad, decode_bad) = messy_split(dir.path());
    let header_bad: BTreeSet<String> = header_bad.iter().map(|s| s.to_string()).collect();
    let mut all_bad = header_bad.clone();
    all_bad.insert(decode_bad.to_string());
    let good = 11; // 6 good + png_named + dot + cmyk + progressive + g16

    // Survey (headers only): the cut JPEG's header is whole, so it is measured.
    let mut survey_skipped = Vec::new();
    let mut measured = 0;
    for class in ["NORMAL", "PNEUMONIA"] {
        let survey = survey_dims(split.join(class)).unwrap();
        measured += survey.files.len();
        survey_skipped.extend(survey.skipped);
    }
    assert_eq!(measured, good + 1);
    assert_eq!(names(&survey_skipped), header_bad);
    let line = skipped_summary(&survey_skipped).unwrap();
    assert!(
        line.starts_with("4 files skipped as unreadable: "),
        "{line}"
    );

    // The resize loop decodes everything: the cut JPEG is skipped too.
    let mut resized = 0;
    let mut resize_skipped = Vec::new();
    for class in ["NORMAL", "PNEUMONIA"] {
        let out = resize_folder(split.join(class), (10, 10)).unwrap();
        resized += out.images.len();
        assert!(out.images.iter().all(|i| i.dim() == (10, 10)));
        resize_skipped.extend(out.skipped);
    }
    assert_eq!(resized, good);
    assert_eq!(names(&resize_skipped), all_bad);

    // The generator: header failures dropped at once (and counted in its "Found" line), decode
    // failures skipped as met, each reported once however many epochs run.
    let mut it = ImageDataGenerator::builder()
        .rotation_range(10.0)
        .build()
        .unwrap()
        .flow_from_directory(&split, quiet())
        .unwrap();
    assert_eq!(it.samples(), good + 1);
    assert_eq!(names(it.skipped()), header_bad);
    for _ in 0..2 {
        let used: usize = it.epoch().map(|b| b.len()).sum();
        assert_eq!(used, good);
        assert_eq!(names(it.skipped()), all_bad);
    }
    assert!(it.take_error().is_none());
    assert_eq!(
        found_line(it.samples(), 2, 4),
        "Found 12 images belonging to 2 classes (4 files skipped as unreadable)."
    );
    assert_eq!(
        found_line(5, 2, 1),
        "Found 5 images belonging to 2 classes (1 file skipped as unreadable)."
    );
    assert_eq!(
        found_line(5, 2, 0),
        "Found 5 images belonging to 2 classes."
    );
}

#[test]
fn strict_mode_fails_fast_on_the_first_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let (split, header_bad, _) = messy_split(dir.path());
    // A header failure stops the iterator from being made at all.
    let err = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet().strict(true))
        .unwrap_err();
    let text = err.to_string();
    assert!(header_bad.iter().any(|n| text.contains(n)), "{text}");

    // With only a decode-time failure left, the first batch holding it is an error.
    for name in &header_bad {
        for class in ["NORMAL", "PNEUMONIA"] {
            let _ = fs::remove_file(split.join(class).join(name));
        }
    }
    let mut it = ImageDataGenerator::default()
        .flow_from_directory(&split, quiet().strict(true).shuffle(false))
        .unwrap();
    let mut failure = None;
    for _ in 0..it.len() {
        match it.try_next_batch() {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(err) => {
                failure = Some(err);
                break;
            }
        }
    }
    let err = failure.expect("strict mode stops at the cut JPEG");
    assert!(err.to_string().contains("half.jpeg"), "{err}");
    assert!(err.to_string().contains("ends early"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Model files

fn small_config(input: usize, filters: &[usize]) -> ModelConfig {
    ModelConfig::builder()
        .input_size(input, input)
        .conv_filters(filters)
        .dense_units(4)
        .build()
        .unwrap()
}

fn saved_model(dir: &Path) -> PathBuf {
    let model_dir = dir.join("model");
    SavedModel {
        model: Model::new(small_config(12, &[2]), 5).unwrap(),
        class_names: vec!["NORMAL".into(), "PNEUMONIA".into()],
        decision: Decision::user(Threshold::new(0.4).unwrap()),
        label_source: support::dataset::LabelSource::Folder,
        preprocessing: Preprocessing {
            rescale: 1.0 / 255.0,
            interpolation: Interpolation::Area,
            samplewise_center: false,
            samplewise_std_normalization: false,
            equalize_histogram: false,
        },
        history: None,
    }
    .save(&model_dir)
    .unwrap();
    model_dir
}

fn model_reason(result: support::Result<impl std::fmt::Debug>) -> String {
    match result {
        Err(Error::Model { reason, .. }) => reason,
        other => panic!("expected a model error, got {other:?}"),
    }
}

/// Edits the configuration inside `model.json`.
fn edit_card(model_dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = model_dir.join("model.json");
    let mut card: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    edit(&mut card["config"]);
    fs::write(&path, serde_json::to_vec(&card).unwrap()).unwrap();
}

#[test]
fn a_truncated_model_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = saved_model(dir.path());
    assert_eq!(
        SavedModel::load(&model_dir).unwrap().decision,
        Decision::user(Threshold::new(0.4).unwrap())
    );
    let weights = model_dir.join("model.safetensors");
    let bytes = fs::read(&weights).unwrap();
    fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    assert!(model_reason(SavedModel::load(&model_dir)).contains("truncated or corrupt"));
    fs::write(&weights, &bytes).unwrap();
    let card = model_dir.join("model.json");
    let json = fs::read(&card).unwrap();
    fs::write(&card, &json[..json.len() / 2]).unwrap();
    assert!(model_reason(SavedModel::load(&model_dir)).contains("truncated or edited"));
    fs::remove_file(&card).unwrap();
    assert!(matches!(
        SavedModel::load(&model_dir),
        Err(Error::Io { .. })
    ));
    assert!(matches!(
        SavedModel::load(dir.path().join("none")),
        Err(Error::MissingDir { .. })
    ));
}

/// Sets `key` at the top level of `model.json`.
fn set_card_field(model_dir: &Path, key: &str, value: serde_json::Value) {
    let path = model_dir.join("model.json");
    let mut card: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    card[key] = value;
    fs::write(&path, serde_json::to_vec(&card).unwrap()).unwrap();
}

#[test]
fn a_threshold_outside_zero_to_one_in_model_json_is_refused_before_the_weights_are_read() {
    // `"threshold": 7` used to load, and the model then predicted every image NORMAL.
    let dir = tempfile::tempdir().unwrap();
    let model_dir = saved_model(dir.path());
    // Without weights a load that got past the description would fail on them instead.
    fs::remove_file(model_dir.join("model.safetensors")).unwrap();
    let card = model_dir.join("model.json");
    // NaN is written `null` by serde_json; a bare NaN is not JSON, refused all the same.
    for (bad, named) in [
        (serde_json::json!(7), "7"),
        (serde_json::json!(-0.1), "-0.1"),
        (serde_json::json!(1.7), "1.7"),
        (serde_json::Value::Null, "NaN"),
    ] {
        set_card_field(&model_dir, "threshold", bad);
        match SavedModel::load(&model_dir) {
            Err(e @ Error::Model { .. }) => {
                let message = e.to_string();
                assert!(message.contains(&card.display().to_string()), "{message}");
                assert!(
                    message.contains(&format!("invalid threshold = {named}")),
                    "{message}"
                );
            }
            other => panic!("threshold {named}: expected a model error, got {other:?}"),
        }
    }
    let json = fs::read_to_string(&card).unwrap();
    fs::write(
        &card,
        json.replace(r#""threshold":null"#, r#""threshold":NaN"#),
    )
    .unwrap();
    assert!(model_reason(SavedModel::load(&model_dir)).contains("unreadable description"));
    fs::write(&card, &json).unwrap();
    // A two-class model must have a threshold: "argmax" is for K classes.
    set_card_field(&model_dir, "threshold", serde_json::json!(0.5));
    set_card_field(&model_dir, "threshold_source", serde_json::json!("argmax"));
    let reason = model_reason(SavedModel::load(&model_dir));
    assert!(
        reason.contains("a threshold for a two-class model"),
        "{reason}"
    );
}

#[test]
fn a_corrupted_model_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = saved_model(dir.path());
    let weights = model_dir.join("model.safetensors");
    let bytes = fs::read(&weights).unwrap();
    // Garbage in the JSON header.
    let mut broken = bytes.clone();
    broken[9..30].fill(b'#');
    fs::write(&weights, &broken).unwrap();
    assert!(model_reason(SavedModel::load(&model_dir)).contains("truncated or corrupt"));
    // NaN in the data: the last four bytes are the last weight.
    let mut nan = bytes.clone();
    let n = nan.len();
    nan[n - 4..].copy_from_slice(&f32::NAN.to_le_bytes());
    fs::write(&weights, &nan).unwrap();
    assert!(model_reason(SavedModel::load(&model_dir)).contains("non-finite"));
    // Random bytes.
    fs::write(&weights, random_bytes(500, 4)).unwrap();
    model_reason(SavedModel::load(&model_dir));
}

#[test]
fn a_model_of_another_architecture_says_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = saved_model(dir.path());
    edit_card(&model_dir, |c| {
        c["layers"][0]["config"]["filters"] = serde_json::json!(3)
    });
    let reason = model_reason(SavedModel::load(&model_dir));
    assert!(
        reason
            .contains("conv2d.kernel has shape [3, 3, 1, 2], the configuration needs [3, 3, 1, 3]"),
        "{reason}"
    );
    assert!(reason.contains("the file was saved from"), "{reason}");
    let other = small_config(12, &[2, 2]);
    let weights = model_dir.join("model.safetensors");
    let reason = model_reason(Model::load_safetensors(&weights, other));
    assert!(reason.contains("conv2d_1"), "{reason}");
    // Weights alone are not a training state.
    let reason = model_reason(Model::load_training_state(&weights, small_config(12, &[2])));
    assert!(reason.contains("not a training-state file"), "{reason}");
}

#[test]
fn a_model_of_another_input_size_says_what_differs() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = saved_model(dir.path());
    edit_card(&model_dir, |c| {
        c["input_height"] = serde_json::json!(16);
        c["input_width"] = serde_json::json!(16);
    });
    let reason = model_reason(SavedModel::load(&model_dir));
    assert!(reason.contains("dense.kernel has shape"), "{reason}");
    assert!(reason.contains("input_height: 12"), "{reason}");
    // A configuration that cannot be built at all is refused before any weight is read.
    edit_card(&model_dir, |c| c["input_height"] = serde_json::json!(2));
    assert!(matches!(
        SavedModel::load(&model_dir),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn broken_or_mismatched_checkpoints_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("checkpoints");
    let config = small_config(12, &[2]);
    let model = Model::new(config.clone(), 1).unwrap();
    let log = EpochLog {
        epoch: 1,
        loss: 0.7,
        accuracy: 0.5,
        // An epoch that saw one class only has no AUC: NaN, which JSON writes as null.
        auc: f32::NAN,
        val_loss: 0.69,
        val_accuracy: 0.5,
        val_auc: 0.5,
        seconds: 1.0,
        images_per_second: 4.0,
    };
    let history = History {
        epochs: vec![log],
        best_epoch: 1,
        stopped_early: false,
        decision: Decision::default(),
        validation: None,
        temperature: None,
        validation_split: None,
    };
    let pre = Preprocessing {
        rescale: 1.0 / 255.0,
        interpolation: Interpolation::Area,
        samplewise_center: false,
        samplewise_std_normalization: false,
        equalize_histogram: false,
    };
    let names = ["NORMAL".to_string(), "PNEUMONIA".to_string()];
    let scan = ClassScan {
        class_names: names.to_vec(),
        files: vec![
            "NORMAL/IM-0001-0001.jpeg".into(),
            "PNEUMONIA/person1_virus_1.jpeg".into(),
        ],
        labels: vec![0, 1],
    };
    let options = FitOptions::builder()
        .augmentation(pre.generator().unwrap())
        .build()
        .unwrap();
    let settings = RunSettings::new(&config, &options, &scan);
    ResumeCheckpoint::save(&ckpt, &model, Some(&model), &history, &settings, &names).unwrap();
    let loaded = ResumeCheckpoint::load_if_present(&ckpt).unwrap().unwrap();
    assert_eq!(loaded.settings, settings);
    assert_eq!(loaded.history.epochs.len(), 1);
    assert!(loaded.history.epochs[0].auc.is_nan());
    assert_eq!(loaded.history.epochs[0].val_loss, 0.69);
    assert!(ResumeCheckpoint::load_if_present(&dir.path().join("none"))
        .unwrap()
        .is_none());
    // Resuming it as another architecture is refused, naming the setting.
    let other = RunSettings::new(&small_config(16, &[2]), &options, &scan);
    let refused = loaded
        .settings
        .check_resume(&other, &ResumeCheckpoint::card_path(&ckpt))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("cannot resume") && refused.contains("model"),
        "{refused}"
    );
    // A description naming the best weights of another epoch than its history's best is refused.
    let card = ResumeCheckpoint::card_path(&ckpt);
    let json = fs::read_to_string(&card).unwrap();
    fs::write(&card, json.replace("best-epoch-0001", "best-epoch-0002")).unwrap();
    let reason = model_reason(ResumeCheckpoint::load_if_present(&ckpt));
    assert!(reason.contains("best epoch is 1"), "{reason}");
    fs::write(&card, &json).unwrap();
    let epoch_file = ckpt.join("epoch-0001.safetensors");
    let bytes = fs::read(&epoch_file).unwrap();
    fs::write(&epoch_file, &bytes[..bytes.len() - 10]).unwrap();
    model_reason(ResumeCheckpoint::load_if_present(&ckpt));
    fs::write(&epoch_file, &bytes).unwrap();
    fs::write(&card, &json.as_bytes()[..json.len() - 3]).unwrap();
    assert!(model_reason(ResumeCheckpoint::load_if_present(&ckpt)).contains("truncated"));
}

/// Class folders are matched to a model's classes by name, by every reader of a labelled
/// folder: a folder of COVID/ and NORMAL/ is not a NORMAL/PNEUMONIA model's test split.
#[test]
fn a_folder_of_other_classes_is_refused_by_every_reader_for_a_model() {
    use support::ensemble::Ensemble;
    use support::inference::{predict_directory, predict_labelled};
    use support::training::{fit, Silent};
    let dir = tempfile::tempdir().unwrap();
    let covid = dir.path().join("covid");
    for name in [
        "COVID/c1.png",
        "COVID/c2.png",
        "NORMAL/n1.png",
        "NORMAL/n2.png",
    ] {
        write(&covid.join(name), &png(20, 20));
    }
    fn is_mismatch<T>(result: support::Result<T>) {
        match result {
            Err(Error::ClassMismatch {
                found, expected, ..
            }) => {
                assert_eq!(found, ["COVID", "NORMAL"]);
                assert_eq!(expected, ["NORMAL", "PNEUMONIA"]);
            }
            Err(other) => panic!("expected a class mismatch, got {other}"),
            Ok(_) => panic!("expected a class mismatch, got a result"),
        }
    }
    let saved = SavedModel::load(saved_model(dir.path())).unwrap();
    is_mismatch(predict_labelled(&saved, &covid));
    is_mismatch(
        Ensemble::new(vec![saved.clone()])
            .unwrap()
            .predict_directory(&covid, 1),
    );
    // A loaded model knows its classes; one only built reads the folders in sorted order.
    let model = &saved.model;
    is_mismatch(predict_directory(model, &covid, &saved.preprocessing));
    let built = Model::new(small_config(12, &[2]), 5).unwrap();
    assert!(predict_directory(&built, &covid, &saved.preprocessing).is_ok());
    // More training of a model that knows its classes: refused before any epoch.
    let mut trained = saved.model.clone();
    let options = FitOptions::builder().epochs(1).build().unwrap();
    is_mismatch(fit(&mut trained, &covid, &options, &mut Silent));
}

// ---------------------------------------------------------------------------------------------
// Inputs the fuzz targets (fuzz/) found crashing, kept as regression tests.

/// model_load: a `model.json` whose input size is 2^33 x 2^33 made `ModelConfig::validate`
/// multiply past `usize` ("attempt to multiply with overflow"); now a typed error.
#[test]
fn fuzz_regression_input_size_overflow_in_model_json() {
    let dir = tempfile::tempdir().unwrap();
    let model_dir = saved_model(dir.path());
    edit_card(&model_dir, |c| {
        c["input_height"] = serde_json::json!(1u64 << 33);
        c["input_width"] = serde_json::json!(1u64 << 33);
    });
    match SavedModel::load(&model_dir) {
        Err(
            err @ Error::InvalidArgument {
                name: "input size", ..
            },
        ) => {
            assert!(err.to_string().contains("8589934592x8589934592"), "{err}")
        }
        other => panic!("expected an invalid input size, got {other:?}"),
    }
}
