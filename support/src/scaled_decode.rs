//! Decoding big JPEGs only as finely as a small target needs: DCT-domain downscaling.
//!
//! A JPEG stores 8x8 blocks of DCT coefficients; libjpeg can run a smaller inverse DCT per block
//! (1x1 up to 8x8), producing the image scaled by n/8 for almost the cost of entropy decoding
//! alone. [`imread_at_least`] picks the smallest n whose output still covers the target on both
//! axes, decodes grey at that scale (libjpeg-turbo via the `mozjpeg` crate, built from source
//! without assembly), and [`imread_resized_fast`] then area-averages to the target with
//! [`resize_fast`]. A 1400x1700 original headed for 130x130 decodes at 1/8 (175x213): about
//! 1.8x faster than a full decode with `image`, single-threaded.
//!
//! The result is not bit-identical to a full decode + area resize: a 1/8 decode is the mean of
//! each 8x8 block, so the output's area cells are built from block means that straddle the
//! cell borders. On the 520 originals of `chest_xray_fullres/train` to 130x130,
//! `cargo bench -p support --bench peers_compare -- decode` prints the difference against full
//! decode + the exact area average (the slow path of the same method), against full decode +
//! PIL-style box ([`resize_fast`]) and against the exact scikit-image [`resize_u8`]. The
//! tolerance checked in the tests here (synthetic 1300x1500 grey and 1100x1200 RGB pictures):
//! a mean absolute difference of at most 1 grey level (of 255) against full decode + exact area.
//!
//! A JPEG too small to reduce, anything that is not a JPEG, or what libjpeg refuses (CMYK, broken data), goes through
//! [`decode_gray`]: same pixels as [`crate::imread::imread`], same typed errors. Without the
//! `scaled-jpeg` feature every image takes that full-decode path.
//!
//! [`resize_fast`]: crate::resize::resize_fast
//! [`resize_area_extent`]: crate::resize::resize_area_extent
//! [`resize_u8`]: crate::resize::resize_u8

use std::path::Path;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::imread::{check_jpeg_complete, decode_gray, MAX_PIXELS};
use crate::resize::resize_area_extent;

/// The smallest DCT scale numerator `n` (output = ceil(size·n/8)) that keeps both sides at least
/// `(min_h, min_w)`; 8 (full size) when even that does not reach them.
pub fn scale_numerator((height, width): (usize, usize), (min_h, min_w): (usize, usize)) -> u8 {
    (1..=8u8)
        .find(|&n| {
            let n = usize::from(n);
            (height * n).div_ceil(8) >= min_h && (width * n).div_ceil(8) >= min_w
        })
        .unwrap_or(8)
}

/// Reads an image as grey pixels, at least `min` (height, width) where the file allows (see the
/// module doc); smaller files come back whole.
pub fn imread_at_least(path: impl AsRef<Path>, min: (usize, usize)) -> Result<Array2<u8>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_gray_at_least(&bytes, path, min)
}

/// [`imread_at_least`] on bytes already read; `path` only names the source in errors.
pub fn decode_gray_at_least(bytes: &[u8], path: &Path, min: (usize, usize)) -> Result<Array2<u8>> {
    decode_scaled(bytes, path, min).map(|(image, _)| image)
}

/// Reads an image and area-resizes it to `size` (height, width), values in [0, 1]: the fast
/// path for big originals (see the module doc for how far it lands from the exact one).
pub fn imread_resized_fast(path: impl AsRef<Path>, size: (usize, usize)) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let (image, extent) = decode_scaled(&bytes, path, size)?;
    resize_area_extent(image.view(), extent, size)
}

/// The grey pixels and the (height, width) extent they cover in units of their own pixels
/// (fractional where a DCT-scaled decode's last row or column is partly padding).
fn decode_scaled(
    bytes: &[u8],
    path: &Path,
    min: (usize, usize),
) -> Result<(Array2<u8>, (f64, f64))> {
    if bytes.starts_with(&[0xFF, 0xD8]) {
        // A cut download is refused here as in `imread`, before libjpeg would pad it with grey.
        check_jpeg_complete(bytes, path)?;
        if let Some((image, extent)) = jpeg_scaled(bytes, min) {
            return Ok((image, extent));
        }
    }
    let image = decode_gray(bytes, path)?;
    let extent = (image.nrows() as f64, image.ncols() as f64);
    Ok((image, extent))
}

/// The DCT-scaled grey decode, or `None` where libjpeg cannot do it (the caller then decodes
/// fully, which also reports any error properly).
#[cfg(feature = "scaled-jpeg")]
fn jpeg_scaled(bytes: &[u8], min: (usize, usize)) -> Option<(Array2<u8>, (f64, f64))> {
    // libjpeg reports errors through a callback that must not return; the mozjpeg crate's
    // callback unwinds with `resume_unwind` (which skips the panic hook), and its documentation
    // says every use must be wrapped in `catch_unwind`: the crate offers no error-code API. Any
    // unwind here means "this file is not for the DCT-scaled path", so the caller falls back to
    // the full decoder, which reports real errors. A `panic = "abort"` profile would turn a bad
    // JPEG into an abort, so the workspace's profiles keep the default, unwinding.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut decoder = mozjpeg::Decompress::new_mem(bytes).ok()?;
        let (width, height) = decoder.size();
        let pixels = (width as u64) * (height as u64);
        if pixels == 0 || pixels > MAX_PIXELS {
            return None;
        }
        let numerator = scale_numerator((height, width), min);
        if numerator == 8 {
            // No reduction possible: the full decode is imread's own, pixel for pixel.
            return None;
        }
        decoder.scale(numerator);
        let mut started = decoder.grayscale().ok()?;
        let (w, h) = (started.width(), started.height());
        let grey: Vec<u8> = started.read_scanlines().ok()?;
        started.finish().ok()?;
        let n = f64::from(numerator) / 8.0;
        let extent = (
            (height as f64 * n).min(h as f64),
            (width as f64 * n).min(w as f64),
        );
        Some((Array2::from_shape_vec((h, w), grey).ok()?, extent))
    }))
    .ok()
    .flatten()
}

#[cfg(not(feature = "scaled-jpeg"))]
fn jpeg_scaled(_bytes: &[u8], _min: (usize, usize)) -> Option<(Array2<u8>, (f64, f64))> {
    let _ = MAX_PIXELS;
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, GrayImage, Luma, Rgb, RgbImage};
    use std::io::Cursor;

    /// A smooth X-ray-like picture with some texture, big enough to be scaled by 1/8.
    fn picture(h: u32, w: u32) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| {
            let (xf, yf) = (x as f32 / w as f32, y as f32 / h as f32);
            let body = 200.0 * (-((xf - 0.5).powi(2) + (yf - 0.5).powi(2)) * 6.0).exp();
            let ribs = 25.0 * (yf * 60.0).sin() * (xf * 3.0).cos();
            let noise = ((x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) % 13) as f32;
            Luma([(body + ribs + noise + 10.0).clamp(0.0, 255.0) as u8])
        })
    }

    fn jpeg(image: DynamicImage) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
        out.into_inner()
    }

    fn mean_abs_grey_levels(a: &Array2<f32>, b: &Array2<f32>) -> f64 {
        a.iter()
            .zip(b.iter())
            .map(|(x, y)| f64::from((x - y).abs()))
            .sum::<f64>()
            * 255.0
            / a.len() as f64
    }

    /// Mean absolute difference, in grey levels, of the scaled path against the slow path of the
    /// same method: full decode, then an exact area average.
    fn scaled_vs_full(bytes: &[u8], target: (usize, usize)) -> f64 {
        let path = Path::new("big.jpeg");
        let (small, extent) = decode_scaled(bytes, path, target).unwrap();
        let fast = resize_area_extent(small.view(), extent, target).unwrap();
        let full = decode_gray(bytes, path).unwrap();
        let full_extent = (full.nrows() as f64, full.ncols() as f64);
        let slow = resize_area_extent(full.view(), full_extent, target).unwrap();
        mean_abs_grey_levels(&fast, &slow)
    }

    #[test]
    fn picks_the_smallest_scale_that_covers_the_target() {
        assert_eq!(scale_numerator((1400, 1700), (130, 130)), 1);
        assert_eq!(scale_numerator((224, 224), (130, 130)), 5);
        assert_eq!(scale_numerator((100, 2000), (130, 130)), 8);
        assert_eq!(scale_numerator((1040, 1040), (130, 130)), 1);
        assert_eq!(scale_numerator((1039, 1039), (130, 130)), 1); // ceil(1039/8) = 130
        assert_eq!(scale_numerator((1031, 1040), (130, 130)), 2);
    }

    #[test]
    fn scaled_decode_stays_within_tolerance_of_the_full_decode() {
        let target = (130, 130);
        let bytes = jpeg(DynamicImage::ImageLuma8(picture(1300, 1500)));
        let path = Path::new("big.jpeg");
        let small = decode_gray_at_least(&bytes, path, target).unwrap();
        assert!(small.nrows() >= 130 && small.ncols() >= 130);
        if cfg!(feature = "scaled-jpeg") {
            assert_eq!(small.dim(), (163, 188)); // 1/8 of 1300x1500, rounded up
            let (_, extent) = decode_scaled(&bytes, path, target).unwrap();
            assert_eq!(extent, (162.5, 187.5));
        }
        let diff = scaled_vs_full(&bytes, target);
        assert!(diff <= 1.0, "mean abs diff {diff} grey levels");

        // RGB JPEGs: libjpeg's grey is the JPEG's luma, PIL's 'L' is luma of the decoded RGB.
        let grey = picture(1100, 1200);
        let rgb = RgbImage::from_fn(1200, 1100, |x, y| {
            let v = grey.get_pixel(x, y).0[0];
            Rgb([v, v.saturating_sub(20), v / 2])
        });
        let bytes = jpeg(DynamicImage::ImageRgb8(rgb));
        let diff = scaled_vs_full(&bytes, target);
        assert!(diff <= 1.0, "RGB: mean abs diff {diff} grey levels");
    }

    #[test]
    fn small_files_other_formats_and_bad_bytes_take_the_full_path() {
        let path = Path::new("x.jpeg");
        let bytes = jpeg(DynamicImage::ImageLuma8(picture(100, 90)));
        assert_eq!(
            decode_gray_at_least(&bytes, path, (130, 130)).unwrap(),
            decode_gray(&bytes, path).unwrap()
        );
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageLuma8(picture(300, 300))
            .write_to(&mut png, image::ImageFormat::Png)
            .unwrap();
        let png = png.into_inner();
        assert_eq!(
            decode_gray_at_least(&png, path, (130, 130)).unwrap(),
            decode_gray(&png, path).unwrap()
        );
        for bad in [&b""[..], &b"\xFF\xD8garbage"[..], &bytes[..20]] {
            let err = decode_gray_at_least(bad, path, (130, 130)).unwrap_err();
            assert!(err.to_string().contains("x.jpeg"), "{err}");
        }
        let err = imread_resized_fast("/nonexistent/y.jpeg", (130, 130)).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
    }
}
