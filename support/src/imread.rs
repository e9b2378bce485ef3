//! Reading one image: any format we decode becomes one grey channel of `u8` pixels.
//!
//! Grey conversion follows PIL's `convert('L')` (ITU-R 601-2 luma: 299/587/114 per mille), which
//! is what Keras's `color_mode='grayscale'` uses; 16-bit images are scaled to 8 bits and alpha is
//! dropped. [`image_dims`] reads only the header, so surveying a folder never decodes pixels.
//! [`imread_at_least`] and [`imread_resized_fast`] decode big JPEGs only as finely as a small
//! target needs (DCT-domain scaling, the `scaled-jpeg` feature, on by default).

use std::fs::File;
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

use image::{DynamicImage, ImageDecoder, ImageReader, Limits};
use ndarray::Array2;

use crate::error::{Error, Result};

pub use crate::scaled_decode::{
    decode_gray_at_least, imread_at_least, imread_resized_fast, scale_numerator,
};

/// The most pixels (width x height) an image may declare; larger ones are refused before any
/// pixel buffer is allocated (a decompression-bomb guard). The dataset's largest originals are
/// under 8 megapixels.
pub const MAX_PIXELS: u64 = 64 * 1024 * 1024;

/// Reads an image file as a 2-D array of grey pixels, shape (height, width), like matplotlib's
/// `imread` on a grey JPEG.
pub fn imread(path: impl AsRef<Path>) -> Result<Array2<u8>> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    decode_gray(&bytes, path)
}

/// Decodes image bytes (any supported format) to grey pixels; `path` only names the source in errors.
pub fn decode_gray(bytes: &[u8], path: &Path) -> Result<Array2<u8>> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        check_jpeg_complete(bytes, path)?;
    }
    let mut decoder = reader.into_decoder().map_err(|e| image_error(path, e))?;
    let (width, height) = decoder.dimensions();
    check_size(path, width, height)?;
    let mut limits = Limits::default();
    limits.max_alloc = Some(MAX_PIXELS * 8);
    decoder
        .set_limits(limits)
        .map_err(|e| image_error(path, e))?;
    let image = DynamicImage::from_decoder(decoder).map_err(|e| image_error(path, e))?;
    to_gray(image, path)
}

/// The (height, width) of an image, read from its header without decoding pixels.
pub fn image_dims(path: impl AsRef<Path>) -> Result<(usize, usize)> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    // Headers sit in the first kilobytes; a small buffer keeps the survey from reading whole files.
    let reader = ImageReader::new(BufReader::with_capacity(16 * 1024, file))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    let (width, height) = reader.into_dimensions().map_err(|e| image_error(path, e))?;
    check_size(path, width, height)?;
    Ok((height as usize, width as usize))
}

/// Reads at most `limit` bytes of a file (used by fuzz-style checks and tests of truncated files).
pub fn read_prefix(path: impl AsRef<Path>, limit: usize) -> Result<Vec<u8>> {
    let path = path.as_ref();
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(limit as u64)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    Ok(bytes)
}

/// Pixels as floats in [0, 1] (`u8 / 255`), as scikit-image's `img_as_float`.
pub fn to_float(image: &Array2<u8>) -> Array2<f32> {
    image.mapv(|v| f32::from(v) / 255.0)
}

/// A JPEG cut short (a half-copied download) lacks the end-of-image marker after its last scan;
/// the decoder would fill the missing rows with grey, so refuse it instead. Inside entropy-coded
/// data 0xFF is always followed by 0x00 or a restart marker, so neither the start-of-scan marker
/// (FF DA) nor end-of-image (FF D9) appears there by chance; an embedded thumbnail's markers all
/// come before the main image's last scan.
pub(crate) fn check_jpeg_complete(bytes: &[u8], path: &Path) -> Result<()> {
    let last_scan = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let complete =
        last_scan.is_some_and(|start| bytes[start..].windows(2).any(|w| w == [0xFF, 0xD9]));
    if complete {
        Ok(())
    } else {
        Err(Error::Decode {
            path: path.to_path_buf(),
            reason: format!(
                "JPEG ends early: no end-of-image marker after the last scan ({} bytes; truncated download?)",
                bytes.len()
            ),
        })
    }
}

fn check_size(path: &Path, width: u32, height: u32) -> Result<()> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            width: width.into(),
            height: height.into(),
            limit: MAX_PIXELS,
        });
    }
    if pixels == 0 {
        return Err(Error::Decode {
            path: path.to_path_buf(),
            reason: format!("image has no pixels ({width}x{height})"),
        });
    }
    Ok(())
}

fn image_error(path: &Path, error: image::ImageError) -> Error {
    match error {
        image::ImageError::IoError(e) => Error::Decode {
            path: path.to_path_buf(),
            reason: format!("file ends early or cannot be read ({e})"),
        },
        other => Error::Decode {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    }
}

/// PIL's 'L' conversion: (299 R + 587 G + 114 B) / 1000, rounded.
fn luma601(r: u8, g: u8, b: u8) -> u8 {
    let sum = 299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b);
    ((sum + 500) / 1000) as u8
}

fn to_gray(image: DynamicImage, path: &Path) -> Result<Array2<u8>> {
    let (width, height) = (image.width() as usize, image.height() as usize);
    let pixels: Vec<u8> = match image {
        DynamicImage::ImageLuma8(buf) => buf.into_raw(),
        DynamicImage::ImageLumaA8(buf) => buf.pixels().map(|p| p.0[0]).collect(),
        DynamicImage::ImageLuma16(_) | DynamicImage::ImageLumaA16(_) => image.to_luma8().into_raw(),
        other => other
            .to_rgb8()
            .pixels()
            .map(|p| luma601(p.0[0], p.0[1], p.0[2]))
            .collect(),
    };
    // The decoder sizes its buffer from the header; should it ever disagree, say so rather than panic.
    Array2::from_shape_vec((height, width), pixels).map_err(|e| Error::Decode {
        path: path.to_path_buf(),
        reason: format!("decoded pixels do not fill {width}x{height}: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageBuffer, Luma, Rgb, Rgba};

    fn encode(image: DynamicImage, format: image::ImageFormat) -> Vec<u8> {
        let mut out = Cursor::new(Vec::new());
        image.write_to(&mut out, format).unwrap();
        out.into_inner()
    }

    #[test]
    fn rgb_becomes_pil_luma() {
        let mut rgb = ImageBuffer::<Rgb<u8>, _>::new(3, 2);
        rgb.put_pixel(0, 0, Rgb([255, 0, 0]));
        rgb.put_pixel(1, 0, Rgb([0, 255, 0]));
        rgb.put_pixel(2, 0, Rgb([0, 0, 255]));
        rgb.put_pixel(0, 1, Rgb([10, 20, 30]));
        let bytes = encode(DynamicImage::ImageRgb8(rgb), image::ImageFormat::Png);
        let grey = decode_gray(&bytes, Path::new("t.png")).unwrap();
        assert_eq!(grey.dim(), (2, 3));
        // PIL: 255*0.299 = 76.2, 255*0.587 = 149.7, 255*0.114 = 29.1, 10/20/30 -> 18.15
        assert_eq!(grey[[0, 0]], 76);
        assert_eq!(grey[[0, 1]], 150);
        assert_eq!(grey[[0, 2]], 29);
        assert_eq!(grey[[1, 0]], 18);
        assert_eq!(grey[[1, 2]], 0);
    }

    #[test]
    fn sixteen_bit_and_rgba_become_one_channel() {
        let g16 = ImageBuffer::<Luma<u16>, _>::from_fn(4, 3, |x, _| Luma([x as u16 * 20000]));
        let bytes = encode(DynamicImage::ImageLuma16(g16), image::ImageFormat::Png);
        let grey = decode_gray(&bytes, Path::new("g16.png")).unwrap();
        assert_eq!(grey.dim(), (3, 4));
        assert_eq!(grey[[0, 0]], 0);
        assert_eq!(grey[[2, 3]], (60000.0f64 / 65535.0 * 255.0).round() as u8);

        let rgba = ImageBuffer::<Rgba<u8>, _>::from_pixel(2, 2, Rgba([100, 100, 100, 0]));
        let bytes = encode(DynamicImage::ImageRgba8(rgba), image::ImageFormat::Png);
        let grey = decode_gray(&bytes, Path::new("rgba.png")).unwrap();
        assert!(grey.iter().all(|&v| v == 100));
    }

    #[test]
    fn bad_bytes_are_typed_errors_naming_the_file() {
        let err = decode_gray(b"", Path::new("empty.jpeg")).unwrap_err();
        assert!(err.to_string().contains("empty.jpeg"), "{err}");
        let err = decode_gray(b"hello, this is text", Path::new("notes.jpeg")).unwrap_err();
        assert!(matches!(err, Error::Decode { .. }), "{err}");
        let grey = ImageBuffer::<Luma<u8>, _>::from_pixel(40, 30, Luma([7]));
        let jpeg = encode(DynamicImage::ImageLuma8(grey), image::ImageFormat::Jpeg);
        let err = decode_gray(&jpeg[..jpeg.len() / 2], Path::new("cut.jpeg")).unwrap_err();
        assert!(err.to_string().contains("ends early"), "{err}");
        assert_eq!(
            decode_gray(&jpeg, Path::new("whole.jpeg")).unwrap().dim(),
            (30, 40)
        );
    }

    #[test]
    fn dims_come_from_the_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.png");
        let img = ImageBuffer::<Luma<u8>, _>::from_pixel(7, 5, Luma([1]));
        img.save(&path).unwrap();
        assert_eq!(image_dims(&path).unwrap(), (5, 7));
        assert_eq!(imread(&path).unwrap().dim(), (5, 7));
        assert!(matches!(
            imread(dir.path().join("missing.png")),
            Err(Error::Io { .. })
        ));
        // Decompression bombs (headers claiming 60000 x 60000 pixels): tests/bad_inputs.rs.
    }
}
