//! Throughput of decoding and resizing the full-resolution originals to the tutorial's 130x130.
//!
//! `cargo bench -p support --bench resize` reads every JPEG under
//! `$XRAY_FULLRES_DIR/{NORMAL,PNEUMONIA}` (default `../shared/data/chest_xray_fullres/train` beside the repository),
//! decodes them to grey with `image` 0.25 (timed on its own), then times each resize path over
//! the decoded images and prints images per second. It also prints how far the fast area path
//! lands from the scikit-image path (the figures quoted in `resize`'s module docs).
//! Set `BENCH_LIMIT=n` to use only the first `n` files. Not a test: nothing here can fail on speed.

use std::time::{Duration, Instant};

use image::ImageReader;
use ndarray::Array2;
use support::resize::{resize_fast, resize_u8, resize_with, Interpolation};

mod common;

const TARGET: (usize, usize) = (130, 130);
const REPEATS: usize = 3;

fn decode(bytes: &[u8]) -> Option<Array2<u8>> {
    let reader = ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .ok()?;
    let grey = reader.decode().ok()?.into_luma8();
    let (w, h) = grey.dimensions();
    Array2::from_shape_vec((h as usize, w as usize), grey.into_raw()).ok()
}

/// Best-of-`REPEATS` time of running `f` over every image.
fn time_all<T>(images: &[Array2<u8>], mut f: impl FnMut(&Array2<u8>) -> T) -> Duration {
    (0..REPEATS)
        .map(|_| {
            let start = Instant::now();
            for img in images {
                std::hint::black_box(f(img));
            }
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}

fn report(label: &str, n: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "{label:<44} {:>9.1} images/s  ({:.2} ms/image, {:.2} s total)",
        n as f64 / secs,
        1e3 * secs / n as f64,
        secs
    );
}

fn main() {
    let root = common::env_dir("XRAY_FULLRES_DIR", "chest_xray_fullres/train");
    let files = common::list_jpegs(&root);
    if files.is_empty() {
        println!("no JPEGs under {}; nothing to measure", root.display());
        return;
    }
    let encoded: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    println!(
        "{} files from {}, {} rayon threads, target {}x{}",
        encoded.len(),
        root.display(),
        rayon::current_num_threads(),
        TARGET.0,
        TARGET.1
    );

    let start = Instant::now();
    let images: Vec<Array2<u8>> = encoded.iter().filter_map(|b| decode(b)).collect();
    let decode_time = start.elapsed();
    let n = images.len();
    let megapixels: f64 = images.iter().map(|i| i.len() as f64).sum::<f64>() / 1e6;
    println!(
        "decoded {n} images ({} failed), mean {:.2} megapixels",
        encoded.len() - n,
        megapixels / n as f64
    );
    report("decode (image 0.25, grey, one thread)", n, decode_time);

    report(
        "resize_u8 (scikit-image exact)",
        n,
        time_all(&images, |i| resize_u8(i.view(), TARGET)),
    );
    report(
        "resize_fast (area average, f32)",
        n,
        time_all(&images, |i| resize_fast(i.view(), TARGET)),
    );
    for interpolation in Interpolation::ALL {
        report(
            &format!("resize_with {interpolation} (PIL, u8)"),
            n,
            time_all(&images, |i| resize_with(i.view(), TARGET, interpolation)),
        );
    }

    // How far the fast path lands from the scikit-image path, over every output pixel.
    let mut diffs: Vec<f32> = Vec::with_capacity(n * TARGET.0 * TARGET.1);
    let mut worst_image_mean = 0.0f64;
    for img in &images {
        let (Ok(exact), Ok(fast)) = (
            resize_u8(img.view(), TARGET),
            resize_fast(img.view(), TARGET),
        ) else {
            continue;
        };
        let before = diffs.len();
        diffs.extend(exact.iter().zip(fast.iter()).map(|(a, b)| (a - b).abs()));
        let image_mean =
            diffs[before..].iter().map(|&d| f64::from(d)).sum::<f64>() / exact.len() as f64;
        worst_image_mean = worst_image_mean.max(image_mean);
    }
    if diffs.is_empty() {
        return;
    }
    let mean = diffs.iter().map(|&d| f64::from(d)).sum::<f64>() / diffs.len() as f64;
    diffs.sort_by(f32::total_cmp);
    let quantile = |q: f64| diffs[((diffs.len() - 1) as f64 * q).round() as usize];
    println!(
        "resize_fast vs resize_u8 (values in [0,1], {} pixels): mean abs diff {mean:.5} ({:.2} grey levels), \
         p99 {:.4}, p99.9 {:.4}, max {:.4} ({:.1} grey levels); worst image mean {worst_image_mean:.5}",
        diffs.len(),
        255.0 * mean,
        quantile(0.99),
        quantile(0.999),
        quantile(1.0),
        255.0 * quantile(1.0),
    );
}
