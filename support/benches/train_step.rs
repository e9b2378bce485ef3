//! Training-step benchmark for the tutorial CNN: forward + backward + Adam on batches of 32
//! grey 130x130 images, then inference, with peak resident memory.
//!
//! Run with `cargo bench -p support --bench train_step` (optionally `-- STEPS`; add
//! `--system-allocator` to leave glibc's allocator at its defaults, which measures what
//! `support::allocator::keep_freed_memory` gains; `--recommended` for the model `xray train`
//! trains by default, 160x160 with four convolution blocks). Both phases print their CPU time
//! per image, which compares versions fairly on a busy machine.

use std::time::Instant;

use support::model::{Model, ModelConfig};

mod common;
use common::{cpu_seconds, peak_rss_mib};

fn main() -> support::Result<()> {
    let steps: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20);
    let keep_freed = !std::env::args().any(|a| a == "--system-allocator");
    if keep_freed {
        support::allocator::keep_freed_memory();
    }
    println!(
        "allocator: {}",
        if keep_freed {
            "keeps freed memory (support::allocator::keep_freed_memory)"
        } else {
            "glibc defaults"
        }
    );
    let batch = 32;
    let config = if std::env::args().any(|a| a == "--recommended") {
        ModelConfig::recommended()
    } else {
        ModelConfig::default()
    };
    let (h, w) = (config.input_height(), config.input_width());
    let mut model = Model::new(config, 0)?;
    let (x, y, mut rng) = common::random_batch(batch, h, w);

    for _ in 0..2 {
        model.train_on_batch(x.view(), &y, None)?;
    }
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let mut loss = 0.0;
    for _ in 0..steps {
        loss = model.train_on_batch(x.view(), &y, None)?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "train step (batch {batch}, {h}x{w}x1, forward+backward+Adam): {:.1} images/s ({:.1} ms/step, {steps} steps, last loss {loss:.4})",
        (steps * batch) as f64 / secs,
        1000.0 * secs / steps as f64
    );
    if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
        // On a busy machine the wall-clock rate understates the code's speed; this shows the
        // rate the threads would reach if each had a core to itself.
        let threads = rayon::current_num_threads() as f64;
        println!(
            "  CPU time {:.2} s for {:.2} s wall ({:.0}% of {threads} threads): {:.2} ms of CPU per image; at full use: {:.1} images/s",
            b - a,
            secs,
            100.0 * (b - a) / (secs * threads),
            1000.0 * (b - a) / (steps * batch) as f64,
            (steps * batch) as f64 * threads / (b - a)
        );
    }

    let xs = common::random_images(&mut rng, 4 * batch, h, w);
    model.predict_proba(xs.view())?;
    let cpu0 = cpu_seconds();
    let start = Instant::now();
    let reps = (steps / 4).max(2);
    for _ in 0..reps {
        model.predict_proba(xs.view())?;
    }
    let secs = start.elapsed().as_secs_f64();
    let images = reps * 4 * batch;
    println!(
        "inference (predict_proba): {:.1} images/s",
        images as f64 / secs
    );
    if let (Some(a), Some(b)) = (cpu0, cpu_seconds()) {
        println!(
            "  CPU time {:.2} s for {:.2} s wall: {:.2} ms of CPU per image",
            b - a,
            secs,
            1000.0 * (b - a) / images as f64
        );
    }
    match peak_rss_mib() {
        Some(mib) => println!("peak RSS: {mib:.0} MiB"),
        None => println!("peak RSS: unavailable"),
    }
    println!("threads: {}", rayon::current_num_threads());
    Ok(())
}
