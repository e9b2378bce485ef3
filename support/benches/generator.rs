//! Throughput of the Keras-like generator: images per second from 224-px JPEG folders to
//! batches of 130x130 grey, plain and with the mild augmentation (`ImageDataGenerator::mild_augmentation`).
//!
//! `cargo bench -p support --bench generator [-- FOLDER]`; the folder defaults to
//! `$XRAY_DATA/train`, else `../shared/data/chest_xray/train` beside the repository, else the shipped sample.

use std::path::PathBuf;
use std::time::Instant;

use support::generator::{FlowOptions, ImageDataGenerator};

mod common;

fn folder() -> PathBuf {
    if let Some(arg) = std::env::args().skip(1).find(|a| !a.starts_with('-')) {
        return PathBuf::from(arg);
    }
    if let Some(root) = std::env::var_os("XRAY_DATA") {
        return PathBuf::from(root).join("train");
    }
    let shared = common::shared_data().join("chest_xray/train");
    if shared.is_dir() {
        return shared;
    }
    support::dataset::project_root().join("data/sample/chest_xray/train")
}

/// Runs `epochs` epochs and prints images/s for each.
fn measure(label: &str, datagen: &ImageDataGenerator, options: FlowOptions, epochs: usize) {
    let dir = folder();
    let started = Instant::now();
    let mut it = match datagen.flow_from_directory(&dir, options) {
        Ok(it) => it,
        Err(e) => {
            eprintln!("{label}: cannot read {}: {e}", dir.display());
            return;
        }
    };
    let scan = started.elapsed();
    for epoch in 0..epochs {
        let start = Instant::now();
        let mut images = 0usize;
        let mut checksum = 0f64;
        for batch in it.epoch() {
            images += batch.len();
            checksum += f64::from(batch.x[[0, 65, 65, 0]]);
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{label:<34} epoch {}: {images} images in {secs:6.2} s = {:7.0} images/s  (scan {:.2} s, checksum {checksum:.1})",
            epoch + 1,
            images as f64 / secs,
            scan.as_secs_f64(),
        );
    }
}

fn main() {
    println!(
        "folder {}, {} rayon threads",
        folder().display(),
        rayon::current_num_threads()
    );
    let base = || common::flow_options((130, 130));
    let plain = common::plain_generator();
    let tutorial = ImageDataGenerator::mild_augmentation();
    measure("plain (decode + resize)", &plain, base(), 1);
    measure("augmented (tutorial)", &tutorial, base(), 1);
    measure("augmented, no prefetch", &tutorial, base().prefetch(0), 1);
    measure(
        "augmented, cache_in_memory",
        &tutorial,
        base().cache_in_memory(true),
        2,
    );
}
