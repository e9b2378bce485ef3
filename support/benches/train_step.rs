//! Training-step benchmark for the tutorial CNN: forward + backward + Adam on batches of 32
//! grey 130x130 images, then inference, with peak resident memory.
//!
//! Run with `cargo bench -p support --bench train_step` (optionally `-- STEPS`; add
//! `--system-allocator` to leave glibc's allocator at its defaults, which measures what
//! `support::allocator::keep_freed_memory` gains).

use std::time::Instant;

use ndarray::Array4;
use rand::{rngs::StdRng, Rng, SeedableRng};
use support::cnn::{Model, ModelConfig};

/// Peak resident set size of this process in MiB (Linux `VmHWM`), if readable.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU seconds (user + system) this process has used so far, if readable (Linux `/proc/self/stat`).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

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
    let config = ModelConfig::default();
    let (h, w) = (config.input_height(), config.input_width());
    let mut model = Model::new(config, 0)?;
    let mut rng = StdRng::seed_from_u64(1);
    let x = Array4::from_shape_fn((batch, h, w, 1), |_| rng.gen::<f32>());
    let y: Vec<f32> = (0..batch).map(|i| (i % 2) as f32).collect();

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
            "  CPU time {:.2} s for {:.2} s wall ({:.0}% of {threads} threads); at full use: {:.1} images/s",
            b - a,
            secs,
            100.0 * (b - a) / (secs * threads),
            (steps * batch) as f64 * threads / (b - a)
        );
    }

    let xs = Array4::from_shape_fn((4 * batch, h, w, 1), |_| rng.gen::<f32>());
    model.predict_proba(xs.view())?;
    let start = Instant::now();
    let reps = (steps / 4).max(2);
    for _ in 0..reps {
        model.predict_proba(xs.view())?;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "inference (predict_proba): {:.1} images/s",
        (reps * 4 * batch) as f64 / secs
    );
    match peak_rss_mib() {
        Some(mib) => println!("peak RSS: {mib:.0} MiB"),
        None => println!("peak RSS: unavailable"),
    }
    println!("threads: {}", rayon::current_num_threads());
    Ok(())
}
