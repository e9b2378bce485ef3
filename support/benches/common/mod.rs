//! Helpers shared by the benchmarks (`mod common;` in each): process measurements from Linux's
//! `/proc` (CPU time, peak memory, load), the development data beside the repository, and the
//! inputs the CNN and generator benchmarks share. Not every benchmark uses every helper.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use ndarray::Array4;
use rand::{rngs::StdRng, Rng, SeedableRng};
use support::generator::{FlowOptions, ImageDataGenerator};

/// Peak resident set size of this process in MiB (Linux `VmHWM`), if readable.
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Resets `VmHWM` to the current RSS (Linux >= 4.0; silently ignored elsewhere).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU seconds (user + system) this process has used so far, if readable (Linux `/proc/self/stat`).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

/// The 1, 5 and 15-minute load averages, as `/proc/loadavg` gives them.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The development data folder beside the repository: `../shared/data` from its root.
pub fn shared_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data")
}

/// `$var`, else `default` under [`shared_data`].
pub fn env_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| shared_data().join(default), PathBuf::from)
}

/// The JPEGs under `root/NORMAL` and `root/PNEUMONIA`, sorted, at most `$BENCH_LIMIT` of them.
pub fn list_jpegs(root: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for class in ["NORMAL", "PNEUMONIA"] {
        let Ok(entries) = std::fs::read_dir(root.join(class)) else {
            continue;
        };
        files.extend(entries.flatten().map(|e| e.path()).filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("jpeg") || e.eq_ignore_ascii_case("jpg"))
        }));
    }
    files.sort();
    let limit = std::env::var("BENCH_LIMIT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    files.truncate(limit);
    files
}

/// The generator benchmarks' flow: batches of 32 at `size`, seed 1, quiet.
pub fn flow_options(size: (usize, usize)) -> FlowOptions {
    FlowOptions::default()
        .target_size(size.0, size.1)
        .batch_size(32)
        .seed(1)
        .verbose(false)
}

/// A generator that only rescales pixels to [0, 1].
pub fn plain_generator() -> ImageDataGenerator {
    ImageDataGenerator::builder()
        .rescale(1.0 / 255.0)
        .build()
        .expect("fixed valid settings")
}

/// `n` random grey `h x w` images (uniform in [0, 1)) from `rng`.
pub fn random_images(rng: &mut StdRng, n: usize, h: usize, w: usize) -> Array4<f32> {
    Array4::from_shape_fn((n, h, w, 1), |_| rng.gen::<f32>())
}

/// A training batch of `n` random `h x w` images with alternating labels, and the generator
/// that drew it (seed 1), for further images.
pub fn random_batch(n: usize, h: usize, w: usize) -> (Array4<f32>, Vec<f32>, StdRng) {
    let mut rng = StdRng::seed_from_u64(1);
    let x = random_images(&mut rng, n, h, w);
    let y = (0..n).map(|i| (i % 2) as f32).collect();
    (x, y, rng)
}
