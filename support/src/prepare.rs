//! Preparing a whole folder: decode and resize every image, on all cores — the tutorial's loop.
//!
//! Unreadable files are reported in one summary and skipped; every other image is resized.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ndarray::Array2;
use rayon::prelude::*;

use crate::dataset::list_images;
use crate::error::{skipped_summary, Result, Skipped};
use crate::imread::imread;
use crate::resize::resize_u8;
use crate::scaled_decode::imread_resized_fast;

/// The images of one folder, resized, with what could not be read and how long it took.
#[derive(Debug)]
pub struct ResizedFolder {
    /// Resized images, floats in [0, 1], in the folder's sorted file order.
    pub images: Vec<Array2<f32>>,
    /// The file each image came from.
    pub files: Vec<PathBuf>,
    /// Files that could not be read, and why.
    pub skipped: Vec<Skipped>,
    /// Wall-clock time of the whole pass.
    pub elapsed: Duration,
    /// The target (height, width).
    pub size: (usize, usize),
}

impl ResizedFolder {
    /// Images per second over the whole pass.
    pub fn images_per_second(&self) -> f64 {
        self.images.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl std::fmt::Display for ResizedFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "resized {} images to {}x{} in {:.2} s ({:.0} images/s on {} threads)",
            self.images.len(),
            self.size.0,
            self.size.1,
            self.elapsed.as_secs_f64(),
            self.images_per_second(),
            rayon::current_num_threads()
        )?;
        if let Some(line) = skipped_summary(&self.skipped) {
            write!(f, "\n{line}")?;
        }
        Ok(())
    }
}

/// Reads every image of `dir` and resizes it to `size` (height, width) as
/// `skimage.transform.resize` would, in parallel.
pub fn resize_folder(dir: impl AsRef<Path>, size: (usize, usize)) -> Result<ResizedFolder> {
    resize_folder_with(dir.as_ref(), size, |path| {
        resize_u8(imread(path)?.view(), size)
    })
}

/// [`resize_folder`] by the fast path: JPEGs decoded only as finely as `size` needs (DCT
/// scaling), then an area average ([`crate::imread::imread_resized_fast`]). Not
/// scikit-image's numbers: about 1 grey level of 255 away on average (see that module).
pub fn resize_folder_fast(dir: impl AsRef<Path>, size: (usize, usize)) -> Result<ResizedFolder> {
    resize_folder_with(dir.as_ref(), size, |path| imread_resized_fast(path, size))
}

fn resize_folder_with(
    dir: &Path,
    size: (usize, usize),
    resize: impl Fn(&Path) -> Result<Array2<f32>> + Sync,
) -> Result<ResizedFolder> {
    let start = Instant::now();
    let files = list_images(dir, false)?;
    let results: Vec<Result<Array2<f32>>> = files.par_iter().map(|path| resize(path)).collect();
    let mut out = ResizedFolder {
        images: Vec::with_capacity(files.len()),
        files: Vec::with_capacity(files.len()),
        skipped: Vec::new(),
        elapsed: Duration::ZERO,
        size,
    };
    for (path, result) in files.into_iter().zip(results) {
        match result {
            Ok(image) => {
                out.images.push(image);
                out.files.push(path);
            }
            Err(error) => out.skipped.push(Skipped { path, error }),
        }
    }
    out.elapsed = start.elapsed();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resizes_every_readable_image_and_reports_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        image::GrayImage::from_pixel(40, 30, image::Luma([255]))
            .save(dir.path().join("a.png"))
            .unwrap();
        image::GrayImage::from_pixel(20, 50, image::Luma([0]))
            .save(dir.path().join("b.png"))
            .unwrap();
        std::fs::write(dir.path().join("c.jpeg"), b"").unwrap();
        let out = resize_folder(dir.path(), (8, 9)).unwrap();
        assert_eq!(out.images.len(), 2);
        assert!(out.images.iter().all(|i| i.dim() == (8, 9)));
        assert!(out.images[0].iter().all(|&v| (v - 1.0).abs() < 1e-6));
        assert!(out.images[1].iter().all(|&v| v.abs() < 1e-6));
        assert_eq!(out.skipped.len(), 1);
        let text = out.to_string();
        assert!(text.contains("resized 2 images to 8x9"), "{text}");
        assert!(text.contains("c.jpeg"), "{text}");

        let fast = resize_folder_fast(dir.path(), (8, 9)).unwrap();
        assert_eq!((fast.images.len(), fast.skipped.len()), (2, 1));
        for (a, b) in fast.images.iter().zip(&out.images) {
            assert!(a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-6));
        }
    }
}
