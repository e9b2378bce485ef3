//! One command per row of the performance issue's table, to set beside the Python peers
//! (`shared/bench/peers/*.py`) run in the same session. See `BENCHMARKS.md` at the repo root.
//!
//! `cargo bench -p support --bench peers_compare -- [SECTION...]` with sections
//! `decode survey generator train epoch` (default: all of them, in that order). Each line
//! prints images/s, the threads used and the peak resident memory of that section (`VmHWM`,
//! reset at the start of each section through `/proc/self/clear_refs`, so it is per section
//! where the kernel allows it).
//!
//! Folders: `$XRAY_FULLRES_DIR` (default `../shared/data/chest_xray_fullres/train` beside the repository) holds the
//! 520 originals; `$XRAY_TRAIN_DIR` (default `../shared/data/chest_xray/train`) the 4,760
//! 224-px training JPEGs. `BENCH_LIMIT=n` uses only the first `n` originals. Not a test: nothing
//! here can fail on speed.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ndarray::Array2;
use rayon::prelude::*;
use support::generator::ImageDataGenerator;
use support::imread::imread_resized_fast;
use support::imread::{image_dims, imread};
use support::model::{Model, ModelConfig};
use support::resize::{resize_area_extent, resize_fast, resize_u8};
use support::training::{fit, FitOptions, Silent};

mod common;
use common::{env_dir, flow_options, list_jpegs, load_average, plain_generator, reset_peak_rss};

const TARGET: (usize, usize) = (130, 130);

/// CPU seconds of this process so far (NaN where `/proc` cannot be read).
fn cpu() -> f64 {
    common::cpu_seconds().unwrap_or(f64::NAN)
}

/// Peak resident memory in MiB since the last [`reset_peak_rss`] (NaN where unreadable).
fn rss() -> f64 {
    common::peak_rss_mib().unwrap_or(f64::NAN)
}

/// One result line: a stable `key=value` form that is easy to grep into BENCHMARKS.md.
fn report(label: &str, images: usize, secs: f64, cpu: f64, threads: usize) {
    println!(
        "{label:<46} {:>8.1} images/s  threads={threads} cpu/wall={:.2} peak_rss={:.0}MiB  ({images} images, {secs:.2} s)",
        images as f64 / secs,
        cpu / secs,
        rss(),
    );
}

/// Times `f` (returning the number of images it handled) and reports it; best of `reps` runs.
fn timed(label: &str, threads: usize, reps: usize, mut f: impl FnMut() -> usize) {
    let mut best: Option<(f64, f64, usize)> = None;
    for _ in 0..reps {
        let (c0, t0) = (cpu(), Instant::now());
        let n = f();
        let secs = t0.elapsed().as_secs_f64();
        let cpu = cpu() - c0;
        if best.is_none_or(|(s, _, _)| secs < s) {
            best = Some((secs, cpu, n));
        }
    }
    if let Some((secs, cpu, n)) = best {
        report(label, n, secs, cpu, threads);
    }
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a rayon pool can be built")
}

/// Decodes and resizes every file with `resize` on `threads` threads; the number resized.
fn decode_resize(
    files: &[PathBuf],
    threads: usize,
    resize: fn(&Path) -> Option<Array2<f32>>,
) -> usize {
    pool(threads).install(|| {
        files
            .par_iter()
            .filter_map(|p| resize(p))
            .map(|a| std::hint::black_box(a).len().min(1))
            .sum()
    })
}

fn exact(p: &Path) -> Option<Array2<f32>> {
    resize_u8(imread(p).ok()?.view(), TARGET).ok()
}

fn fast(p: &Path) -> Option<Array2<f32>> {
    resize_fast(imread(p).ok()?.view(), TARGET).ok()
}

fn area_full(p: &Path) -> Option<Array2<f32>> {
    let image = imread(p).ok()?;
    let extent = (image.nrows() as f64, image.ncols() as f64);
    resize_area_extent(image.view(), extent, TARGET).ok()
}

fn scaled(p: &Path) -> Option<Array2<f32>> {
    imread_resized_fast(p, TARGET).ok()
}

/// Mean, 99th percentile and max absolute difference, in grey levels (0..255), over all pixels.
fn differences(
    files: &[PathBuf],
    a: fn(&Path) -> Option<Array2<f32>>,
    b: fn(&Path) -> Option<Array2<f32>>,
) -> String {
    let mut diffs = Vec::new();
    for p in files {
        if let (Some(x), Some(y)) = (a(p), b(p)) {
            diffs.extend(x.iter().zip(y.iter()).map(|(u, v)| 255.0 * (u - v).abs()));
        }
    }
    if diffs.is_empty() {
        return "no images".into();
    }
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    diffs.sort_by(f32::total_cmp);
    format!(
        "mean abs diff {mean:.2} grey levels, p99 {:.1}, p99.9 {:.1}, max {:.1}",
        diffs[(diffs.len() - 1) * 99 / 100],
        diffs[(diffs.len() - 1) * 999 / 1000],
        diffs[diffs.len() - 1]
    )
}

fn section_decode(files: &[PathBuf]) {
    println!(
        "# decode: {} originals to 130x130 grey (file read + decode + resize)",
        files.len()
    );
    // Warm the page cache, as the peers do.
    let bytes: usize = files
        .iter()
        .filter_map(|p| std::fs::read(p).ok())
        .map(|b| b.len())
        .sum();
    println!("input {:.1} MB", bytes as f64 / 1e6);
    reset_peak_rss();
    for threads in [2, 1] {
        timed(
            &format!("decode+resize exact (skimage), {threads}t"),
            threads,
            2,
            || decode_resize(files, threads, exact),
        );
        timed(
            &format!("decode+resize full + PIL box (resize_fast), {threads}t"),
            threads,
            2,
            || decode_resize(files, threads, fast),
        );
        timed(
            &format!("decode+resize scaled (DCT n/8 + area), {threads}t"),
            threads,
            2,
            || decode_resize(files, threads, scaled),
        );
    }
    type Method = fn(&Path) -> Option<Array2<f32>>;
    let pairs: [(&str, Method, Method); 4] = [
        (
            "scaled vs full decode + exact area (slow path, same method)",
            scaled,
            area_full,
        ),
        (
            "scaled vs full decode + PIL box (resize_fast)",
            scaled,
            fast,
        ),
        ("scaled vs full decode + skimage exact", scaled, exact),
        ("full decode + PIL box vs skimage exact", fast, exact),
    ];
    for (label, a, b) in pairs {
        println!("{label}: {}", differences(files, a, b));
    }
}

fn section_survey(files: &[PathBuf]) {
    println!(
        "# survey: header-only dimensions vs full decode of the same {} files, 1 thread",
        files.len()
    );
    reset_peak_rss();
    let time = |f: &dyn Fn() -> usize| {
        let (c0, t0) = (cpu(), Instant::now());
        let n = f();
        (t0.elapsed().as_secs_f64(), cpu() - c0, n)
    };
    let best = |f: &dyn Fn() -> usize, reps: usize| {
        (0..reps)
            .map(|_| time(f))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("at least one repetition")
    };
    let header = best(
        &|| files.iter().filter(|p| image_dims(p).is_ok()).count(),
        5,
    );
    let decode = best(&|| files.iter().filter(|p| imread(p).is_ok()).count(), 2);
    report(
        "survey: image_dims (header only), 1t",
        header.2,
        header.0,
        header.1,
        1,
    );
    report(
        "survey: imread (full decode), 1t",
        decode.2,
        decode.0,
        decode.1,
        1,
    );
    println!("survey speed-up: {:.0}x", decode.0 / header.0);
}

fn train_dir() -> PathBuf {
    env_dir("XRAY_TRAIN_DIR", "chest_xray/train")
}

fn section_generator() {
    let dir = train_dir();
    println!(
        "# generator: {} to batches of 32 x 130x130 grey, one epoch each",
        dir.display()
    );
    let threads = rayon::current_num_threads();
    let options = || flow_options(TARGET);
    let plain = plain_generator();
    // The peer's augmentation (keras_flow_bench.py): the mild augmentation, horizontal flip included.
    let augmented = ImageDataGenerator::mild_augmentation();
    for (label, generator) in [
        ("generator plain (nearest)", &plain),
        ("generator augmented (mild, with flip)", &augmented),
    ] {
        reset_peak_rss();
        let Ok(mut it) = generator.flow_from_directory(&dir, options()) else {
            println!("{label}: cannot read {}", dir.display());
            return;
        };
        timed(label, threads, 1, || it.epoch().map(|b| b.len()).sum());
    }
}

fn section_train() {
    println!("# train: the tutorial CNN on in-memory batches of 32 (random pixels)");
    reset_peak_rss();
    let threads = rayon::current_num_threads();
    let batch = 32;
    let config = ModelConfig::default();
    let (h, w) = (config.input_height(), config.input_width());
    let mut model = Model::new(config, 0).expect("the default model builds");
    let (x, y, mut rng) = common::random_batch(batch, h, w);
    for _ in 0..3 {
        model
            .train_on_batch(x.view(), &y, None)
            .expect("valid batch");
    }
    let steps = 40;
    timed("train_on_batch (forward+backward+Adam)", threads, 2, || {
        for _ in 0..steps {
            model
                .train_on_batch(x.view(), &y, None)
                .expect("valid batch");
        }
        steps * batch
    });
    let xs = common::random_images(&mut rng, batch, h, w);
    model.predict_proba(xs.view()).expect("valid batch");
    timed("predict_proba (batch 32)", threads, 2, || {
        for _ in 0..40 {
            std::hint::black_box(model.predict_proba(xs.view()).expect("valid batch"));
        }
        40 * batch
    });
}

fn section_epoch() {
    let dir = train_dir();
    println!(
        "# epoch: training fed by the augmenting generator from {}",
        dir.display()
    );
    let threads = rayon::current_num_threads();
    // Does training wait on data? Time spent blocked on the next batch vs in the step.
    reset_peak_rss();
    let flow = flow_options(TARGET).seed(42);
    let mut model = Model::new(ModelConfig::default(), 0).expect("the default model builds");
    match FitOptions::default()
        .augmentation()
        .flow_from_directory(&dir, flow)
    {
        Ok(mut it) => {
            let steps = 40;
            let (mut wait, mut step, mut images) = (0f64, 0f64, 0usize);
            let (c0, t0) = (cpu(), Instant::now());
            let mut batches = it.epoch();
            for _ in 0..steps {
                let t = Instant::now();
                let Some(batch) = batches.next() else { break };
                wait += t.elapsed().as_secs_f64();
                let t = Instant::now();
                model
                    .train_on_batch(batch.x.view(), &batch.y.to_vec(), None)
                    .expect("valid batch");
                step += t.elapsed().as_secs_f64();
                images += batch.len();
            }
            let secs = t0.elapsed().as_secs_f64();
            report(
                "generator-fed train steps (40 batches)",
                images,
                secs,
                cpu() - c0,
                threads,
            );
            println!(
                "  waiting for data {:.2} s ({:.1}% of wall; first batch included), training {:.2} s",
                wait,
                100.0 * wait / secs,
                step
            );
        }
        Err(e) => println!("cannot read {}: {e}", dir.display()),
    }

    reset_peak_rss();
    let options = FitOptions::builder()
        .epochs(1)
        .build()
        .expect("one epoch is a valid setting");
    let mut model = Model::new(ModelConfig::default(), 0).expect("the default model builds");
    let (c0, t0) = (cpu(), Instant::now());
    match fit(&mut model, &dir, &options, &mut Silent) {
        Ok(history) => {
            let secs = t0.elapsed().as_secs_f64();
            if let Some(log) = history.epochs.first() {
                println!(
                    "fit, one epoch from JPEGs with augmentation   {:>8.1} images/s  threads={threads} cpu/wall={:.2} peak_rss={:.0}MiB  (train part; whole epoch incl. validation {:.2} s)",
                    log.images_per_second,
                    (cpu() - c0) / secs,
                    rss(),
                    secs
                );
            }
        }
        Err(e) => println!("fit failed: {e}"),
    }
}

fn main() {
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |s: &str| sections.is_empty() || sections.iter().any(|a| a == s);
    // As the xray tool does: training reuses its freed buffers.
    support::allocator::keep_freed_memory();
    println!(
        "peers_compare: {} rayon threads, load average {}",
        rayon::current_num_threads(),
        load_average()
    );
    let fullres = env_dir("XRAY_FULLRES_DIR", "chest_xray_fullres/train");
    let files = list_jpegs(&fullres);
    if wants("decode") || wants("survey") {
        if files.is_empty() {
            println!(
                "no JPEGs under {}; decode and survey skipped",
                fullres.display()
            );
        } else {
            if wants("decode") {
                section_decode(&files);
            }
            if wants("survey") {
                section_survey(&files);
            }
        }
    }
    if wants("generator") {
        section_generator();
    }
    if wants("train") {
        section_train();
    }
    if wants("epoch") {
        section_epoch();
    }
    println!("load average at the end {}", load_average());
}
