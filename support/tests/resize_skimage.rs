//! Agreement of `support::resize` with scikit-image and Pillow on committed fixtures.
//!
//! The fixtures in `tests/fixtures/resize/` come from `tools/make_resize_fixtures.py` (its header
//! and `manifest.json` record how, and with which versions). Tolerances: the scikit-image and
//! float-BOX cases must agree within [`FLOAT_TOLERANCE`] (max abs difference, values in [0, 1]);
//! the 8-bit PIL cases must agree exactly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use serde::Deserialize;
use support::resize::{resize, resize_fast, resize_u8, resize_with, Interpolation};

/// Largest absolute difference allowed against scikit-image (and Pillow's float BOX).
const FLOAT_TOLERANCE: f32 = 1e-5;

#[derive(Deserialize)]
struct Manifest {
    arrays: BTreeMap<String, ArrayEntry>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct ArrayEntry {
    file: String,
    dtype: String,
    shape: [usize; 2],
}

#[derive(Deserialize)]
struct Case {
    op: String,
    input: String,
    size: [usize; 2],
    expected: String,
}

enum Data {
    U8(Array2<u8>),
    F32(Array2<f32>),
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/resize")
}

fn load_manifest() -> Manifest {
    let text =
        std::fs::read_to_string(dir().join("manifest.json")).expect("manifest.json is committed");
    serde_json::from_str(&text).expect("manifest.json parses")
}

fn load(manifest: &Manifest, name: &str) -> Data {
    let entry = &manifest.arrays[name];
    let bytes = std::fs::read(dir().join(&entry.file)).expect("fixture file is committed");
    let shape = (entry.shape[0], entry.shape[1]);
    match entry.dtype.as_str() {
        "u8" => Data::U8(Array2::from_shape_vec(shape, bytes).expect("u8 fixture length")),
        "f32" => {
            let values = bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            Data::F32(Array2::from_shape_vec(shape, values).expect("f32 fixture length"))
        }
        other => panic!("{name}: unknown dtype {other}"),
    }
}

fn u8_of(d: Data, what: &str) -> Array2<u8> {
    match d {
        Data::U8(a) => a,
        Data::F32(_) => panic!("{what}: expected u8"),
    }
}

fn f32_of(d: Data, what: &str) -> Array2<f32> {
    match d {
        Data::F32(a) => a,
        Data::U8(_) => panic!("{what}: expected f32"),
    }
}

fn max_abs_diff(a: ArrayView2<f32>, b: ArrayView2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Runs every case of one family of ops; returns how many ran.
fn run(ops: &[&str]) -> usize {
    let manifest = load_manifest();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in manifest
        .cases
        .iter()
        .filter(|c| ops.contains(&c.op.as_str()))
    {
        let size = (case.size[0], case.size[1]);
        let label = format!("{} {} -> {}x{}", case.op, case.input, size.0, size.1);
        let input = load(&manifest, &case.input);
        let expected = load(&manifest, &case.expected);
        match case.op.as_str() {
            "skimage_f32" | "skimage_u8" | "pil_box_float" => {
                let got = match (case.op.as_str(), input) {
                    ("skimage_f32", Data::F32(x)) => resize(x.view(), size),
                    ("skimage_u8", Data::U8(x)) => resize_u8(x.view(), size),
                    ("pil_box_float", Data::U8(x)) => resize_fast(x.view(), size),
                    _ => panic!("{label}: input type does not fit the op"),
                }
                .expect("resize succeeds on a valid size");
                let want = f32_of(expected, &label);
                assert_eq!(got.dim(), size, "{label}");
                let diff = max_abs_diff(got.view(), want.view());
                println!("{label}: max abs diff {diff:.2e}");
                if diff > FLOAT_TOLERANCE {
                    failures.push(format!("{label}: max abs diff {diff}"));
                }
            }
            "pil_nearest" | "pil_bilinear" | "pil_box" => {
                let interpolation = match case.op.as_str() {
                    "pil_nearest" => Interpolation::Nearest,
                    "pil_bilinear" => Interpolation::Bilinear,
                    _ => Interpolation::Area,
                };
                let x = u8_of(input, &label);
                let got = resize_with(x.view(), size, interpolation).expect("valid size");
                let want = u8_of(expected, &label);
                let wrong = got.iter().zip(want.iter()).filter(|(g, w)| g != w).count();
                println!("{label}: {wrong} pixels differ");
                if got.dim() != want.dim() || wrong > 0 {
                    failures.push(format!("{label}: {wrong} of {} pixels differ", want.len()));
                }
            }
            other => panic!("unknown op {other}"),
        }
        ran += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    ran
}

#[test]
fn float_images_match_skimage_resize() {
    assert_eq!(run(&["skimage_f32"]), 5);
}

#[test]
fn u8_images_match_skimage_resize() {
    assert_eq!(run(&["skimage_u8"]), 4);
}

#[test]
fn nearest_matches_pil_exactly() {
    assert_eq!(run(&["pil_nearest"]), 8);
}

#[test]
fn bilinear_and_box_match_pil_exactly() {
    assert_eq!(run(&["pil_bilinear", "pil_box"]), 14);
}

#[test]
fn fast_path_is_pils_float_box() {
    assert_eq!(run(&["pil_box_float"]), 3);
}
