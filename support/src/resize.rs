//! Resizing grey images: scikit-image's `resize` exactly, PIL's `Image.resize` bit for bit, and a
//! fast area average for big originals.
//!
//! # Which function
//!
//! | function | matches | input → output |
//! |---|---|---|
//! | [`resize`] | `skimage.transform.resize(image, (h, w))`, all defaults | `f32` → `f32` |
//! | [`resize_u8`] | the same on a `uint8` image (`img_as_float`: values / 255) | `u8` → `f32` in [0, 1] |
//! | [`resize_with`] / [`resize_nearest`] | PIL `Image.resize` with NEAREST, BILINEAR or BOX (what Keras's `load_img(..., interpolation=...)` runs) | `u8` → `u8` |
//! | [`resize_fast`] | an area average (PIL BOX without the 8-bit rounding) | `u8` → `f32` in [0, 1] |
//! | [`resize_area_extent`] | an exact area average (OpenCV `INTER_AREA`) over a possibly fractional extent, for DCT-scaled decodes ([`crate::imread::imread_at_least`]) | `u8` → `f32` in [0, 1] |
//!
//! # scikit-image semantics
//!
//! With its defaults (`order=1`, `mode='reflect'`, `anti_aliasing=None`, `preserve_range=False`,
//! `clip=True`) `resize` converts to float, and if any axis shrinks, smooths with scipy's
//! `gaussian_filter` (σ = max(0, (n_in/n_out − 1)/2) per axis, truncate 4, so radius
//! `int(4σ + 0.5)`; skimage's 'reflect' is scipy's `mirror`, edge sample not repeated; an axis
//! with σ = 0 is left alone). It then samples with `ndimage.zoom(order=1, grid_mode=True)`:
//! output pixel `o` reads input coordinate `(o + 0.5)·n_in/n_out − 0.5` by linear interpolation,
//! again with mirror boundaries. Finally it clips to the input's [min, max].
//!
//! Both steps are linear and act on each axis separately, so here they are composed into one
//! weight table per axis (`resize/kernel.rs`) and applied as two 1-D passes that compute only the output
//! samples: for 1400x1700 → 130x130 that is about 10 M multiply-adds instead of a 200 M
//! full-resolution Gaussian. Arithmetic is `f32` with `f64` weights; agreement with scikit-image
//! 0.26 is checked by `tests/resize_skimage.rs` (max abs difference under 1e-5 required; 2e-7
//! measured on its fixtures).
//!
//! # PIL semantics
//!
//! NEAREST takes, for output `o`, input `trunc(p_o)` where `p_0 = ½·n_in/n_out` and each next
//! centre adds `n_in/n_out` in `f64` (PIL's running sum, which puts exact halves one pixel
//! lower than `floor((o + ½)·n_in/n_out)`). BILINEAR and BOX widen the filter by the shrink
//! factor (so they antialias when shrinking), use 22-bit fixed-point weights and round to 8 bits
//! after each pass, in Pillow 13's pass order (see [`resize_with`]). Checked for exact equality
//! against Pillow 13.0 in `tests/resize_skimage.rs`.
//!
//! # The fast path
//!
//! [`resize_fast`] averages each output pixel's footprint (PIL BOX weights, kept in `f32`, no
//! 8-bit rounding; it equals Pillow's BOX on a float `'F'` image). It is not scikit-image's filter:
//! the Gaussian prefilter is wider than the box (σ ≈ s/2 against s/√12 for a shrink factor s),
//! so [`resize_u8`] is smoother. On the 520 originals in `chest_xray_fullres/train` resized to
//! 130x130 (`cargo bench -p support --bench resize`, which prints these figures), the fast path
//! differs from [`resize_u8`] by 0.0035 on average (0.9 grey levels of 255), 0.024 at the 99th
//! and 0.066 at the 99.9th percentile, and at most 0.36 (at sharp, high-contrast edges);
//! the worst image averages 0.0067. Speed on 2 cores (a loaded machine, so ±30%): decoding a
//! 1.5-megapixel original with `image` 0.25 takes about 4.8 ms, [`resize_u8`] about 1.4 ms and
//! [`resize_fast`] about 0.3 ms; so the fast path saves about a fifth of decode-and-resize time.

mod kernel;
mod pil;
mod separable;

use std::fmt;
use std::str::FromStr;

use ndarray::{Array2, ArrayView2};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use kernel::{area_axis, pil_axis, skimage_axis, PilFilter};
use separable::{Pixel, Table};

/// The most output pixels any resize here will allocate (a guard against absurd sizes).
pub const MAX_OUTPUT_PIXELS: usize = 1 << 28;

/// How [`resize_with`] resamples, after Keras's `interpolation` argument (PIL's filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Interpolation {
    /// PIL `NEAREST` (Keras's default): each output pixel copies the input pixel under its centre.
    #[default]
    Nearest,
    /// PIL `BILINEAR`: a triangle filter widened by the shrink factor (antialiased when shrinking).
    Bilinear,
    /// PIL `BOX` (Keras's `"box"`): the average of the input pixels under each output pixel.
    Area,
}

impl Interpolation {
    /// Every variant, in declaration order.
    pub const ALL: [Interpolation; 3] = [
        Interpolation::Nearest,
        Interpolation::Bilinear,
        Interpolation::Area,
    ];

    /// The lowercase name used by [`FromStr`] and [`fmt::Display`].
    pub fn name(self) -> &'static str {
        match self {
            Interpolation::Nearest => "nearest",
            Interpolation::Bilinear => "bilinear",
            Interpolation::Area => "area",
        }
    }
}

impl fmt::Display for Interpolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Interpolation {
    type Err = Error;

    /// Parses `nearest`, `bilinear`, `area` or `box` (Keras's name for area), any case.
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "nearest" => Ok(Interpolation::Nearest),
            "bilinear" => Ok(Interpolation::Bilinear),
            "area" | "box" => Ok(Interpolation::Area),
            _ => Err(Error::invalid(
                "interpolation",
                s,
                "one of nearest, bilinear, area (or box)",
            )),
        }
    }
}

/// Checks that the input is non-empty and the output size sensible.
fn check_sizes((h, w): (usize, usize), (oh, ow): (usize, usize)) -> Result<()> {
    if h == 0 || w == 0 {
        return Err(Error::invalid(
            "image size",
            format!("{h}x{w}"),
            "an image with at least one row and one column",
        ));
    }
    if oh == 0 || ow == 0 {
        return Err(Error::invalid(
            "output size",
            format!("{oh}x{ow}"),
            "height and width of at least 1",
        ));
    }
    if oh.checked_mul(ow).is_none_or(|n| n > MAX_OUTPUT_PIXELS) {
        return Err(Error::invalid(
            "output size",
            format!("{oh}x{ow}"),
            format!("at most {MAX_OUTPUT_PIXELS} pixels"),
        ));
    }
    Ok(())
}

/// Pixels of a view in row-major order, borrowed when the view is already standard layout.
fn row_major<P: Clone>(image: ArrayView2<'_, P>) -> std::borrow::Cow<'_, [P]> {
    match image.to_slice() {
        Some(s) => std::borrow::Cow::Borrowed(s),
        None => std::borrow::Cow::Owned(image.iter().cloned().collect()),
    }
}

fn to_array<P>(pixels: Vec<P>, shape: (usize, usize)) -> Array2<P> {
    // The engines return exactly `shape.0 * shape.1` values in row-major order.
    Array2::from_shape_vec(shape, pixels).expect("resampler output length matches its shape")
}

/// The skimage path on any pixel type: `gain` rescales values (1/255 for `u8`), `lo..=hi` is the
/// clip range in output units.
fn skimage_like<P: Pixel>(
    pixels: &[P],
    shape: (usize, usize),
    out: (usize, usize),
    gain: f64,
    (lo, hi): (f32, f32),
) -> Array2<f32> {
    let rows = Table::new(&skimage_axis(shape.0, out.0), gain);
    let cols = Table::new(&skimage_axis(shape.1, out.1), 1.0);
    let mut values = separable::resample(pixels, shape, &rows, &cols);
    for v in &mut values {
        *v = v.clamp(lo, hi);
    }
    to_array(values, out)
}

/// Resizes a float image as `skimage.transform.resize(image, (out_h, out_w))` does with its
/// defaults (bilinear, mirror edges, Gaussian anti-aliasing when shrinking, clipped to the
/// input's range); see the [module docs](self). NaNs are ignored when finding that range.
pub fn resize(image: ArrayView2<f32>, (out_h, out_w): (usize, usize)) -> Result<Array2<f32>> {
    let shape = image.dim();
    check_sizes(shape, (out_h, out_w))?;
    if shape == (out_h, out_w) {
        // zoom by 1 samples every pixel exactly and clipping to the input's range changes nothing.
        return Ok(image.to_owned());
    }
    let (lo, hi) = image
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    let pixels = row_major(image);
    Ok(skimage_like(&pixels, shape, (out_h, out_w), 1.0, (lo, hi)))
}

/// Resizes an 8-bit image as `skimage.transform.resize` does: values become `v / 255` (as
/// `img_as_float`) and the result lies in [0, 1].
pub fn resize_u8(image: ArrayView2<u8>, (out_h, out_w): (usize, usize)) -> Result<Array2<f32>> {
    let shape = image.dim();
    check_sizes(shape, (out_h, out_w))?;
    let (lo, hi) = image
        .iter()
        .fold((u8::MAX, u8::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = (f32::from(lo) / 255.0, f32::from(hi) / 255.0);
    if shape == (out_h, out_w) {
        return Ok(image.mapv(|v| f32::from(v) / 255.0));
    }
    let pixels = row_major(image);
    Ok(skimage_like(
        &pixels,
        shape,
        (out_h, out_w),
        1.0 / 255.0,
        range,
    ))
}

/// Resizes an 8-bit image as PIL's `Image.resize(size, Image.NEAREST)` does (Keras's
/// `load_img(..., interpolation='nearest')`, its default).
pub fn resize_nearest(image: ArrayView2<u8>, (out_h, out_w): (usize, usize)) -> Result<Array2<u8>> {
    resize_with(image, (out_h, out_w), Interpolation::Nearest)
}

/// Resizes an 8-bit image as PIL's `Image.resize` does with the given filter: NEAREST, BILINEAR
/// or BOX ([`Interpolation::Area`]). Same size returns a copy, as PIL does.
///
/// BILINEAR and BOX follow Pillow 13, which runs the vertical pass first when the height shrinks
/// by more than twice as many pixels as the width; older Pillow always ran the horizontal pass
/// first, which can change a pixel by one grey level.
pub fn resize_with(
    image: ArrayView2<u8>,
    (out_h, out_w): (usize, usize),
    interpolation: Interpolation,
) -> Result<Array2<u8>> {
    let shape = image.dim();
    let out = (out_h, out_w);
    check_sizes(shape, out)?;
    if shape == out {
        return Ok(image.to_owned());
    }
    let pixels = row_major(image);
    let values = match interpolation {
        Interpolation::Nearest => pil::nearest(&pixels, shape, out),
        Interpolation::Bilinear => pil::resample(&pixels, shape, out, PilFilter::Triangle),
        Interpolation::Area => pil::resample(&pixels, shape, out, PilFilter::Box),
    };
    Ok(to_array(values, out))
}

/// The fast path for big originals: an area average of an 8-bit image (PIL BOX footprints,
/// `f32` arithmetic, no 8-bit rounding), values in [0, 1]. Not scikit-image's filter: see the
/// [module docs](self#the-fast-path) for how far it lands from [`resize_u8`].
pub fn resize_fast(image: ArrayView2<u8>, (out_h, out_w): (usize, usize)) -> Result<Array2<f32>> {
    let shape = image.dim();
    let out = (out_h, out_w);
    check_sizes(shape, out)?;
    let rows = Table::new(&pil_axis(shape.0, out_h, PilFilter::Box), 1.0 / 255.0);
    let cols = Table::new(&pil_axis(shape.1, out_w, PilFilter::Box), 1.0);
    let pixels = row_major(image);
    let mut values = separable::resample(&pixels[..], shape, &rows, &cols);
    for v in &mut values {
        *v = v.clamp(0.0, 1.0);
    }
    Ok(to_array(values, out))
}

/// An exact area average (OpenCV's `INTER_AREA`) of an image whose pixels cover only `extent`
/// (height, width) units, each at most the pixel count: output pixel (r, c) is the mean of the
/// input over its share of that extent, fractional pixels weighted by their overlap. Values in
/// [0, 1]. With `extent` equal to the shape this is a plain area resize; a DCT-scaled JPEG
/// decode passes its true scaled size (see [`crate::imread::imread_at_least`]), so its part-padding last
/// row and column do not shift the picture.
pub fn resize_area_extent(
    image: ArrayView2<u8>,
    extent: (f64, f64),
    (out_h, out_w): (usize, usize),
) -> Result<Array2<f32>> {
    let shape = image.dim();
    let out = (out_h, out_w);
    check_sizes(shape, out)?;
    let rows = Table::new(&area_axis(shape.0, extent.0, out_h), 1.0 / 255.0);
    let cols = Table::new(&area_axis(shape.1, extent.1, out_w), 1.0);
    let pixels = row_major(image);
    let mut values = separable::resample(&pixels[..], shape, &rows, &cols);
    for v in &mut values {
        *v = v.clamp(0.0, 1.0);
    }
    Ok(to_array(values, out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{s, Array2};

    #[test]
    fn area_extent_matches_a_brute_force_supersampled_mean() {
        // Reference: split every input pixel into k x k sub-pixels, average those inside each
        // output cell of the (fractional) extent.
        let image = Array2::from_shape_fn((13, 17), |(r, c)| ((r * 31 + c * 17) % 256) as u8);
        // Cell borders fall on multiples of 1/80 here, so the sub-pixel reference is exact.
        for (extent, out) in [
            ((13.0, 17.0), (5, 4)),
            ((12.25, 16.5), (4, 6)),
            ((13.0, 17.0), (13, 17)),
        ] {
            let got = resize_area_extent(image.view(), extent, out).unwrap();
            let k = 80usize;
            let (sr, sc) = (extent.0 / out.0 as f64, extent.1 / out.1 as f64);
            let mut sums = Array2::<f64>::zeros(out);
            let mut counts = Array2::<f64>::zeros(out);
            for y in 0..(13 * k) {
                let o_r = (((y as f64 + 0.5) / k as f64) / sr).floor() as usize;
                for x in 0..(17 * k) {
                    let o_c = (((x as f64 + 0.5) / k as f64) / sc).floor() as usize;
                    if o_r < out.0 && o_c < out.1 {
                        sums[[o_r, o_c]] += f64::from(image[[y / k, x / k]]);
                        counts[[o_r, o_c]] += 1.0;
                    }
                }
            }
            for ((idx, &g), (&sum, &n)) in got.indexed_iter().zip(sums.iter().zip(counts.iter())) {
                let diff = (f64::from(g) - sum / n / 255.0).abs();
                assert!(diff < 1e-5, "{extent:?} {out:?} {idx:?}: {diff}");
            }
        }
        // Whole-pixel identity.
        let same = resize_area_extent(image.view(), (13.0, 17.0), (13, 17)).unwrap();
        assert!(same
            .iter()
            .zip(image.iter())
            .all(|(a, &b)| (a * 255.0 - f32::from(b)).abs() < 1e-3));
        assert!(resize_area_extent(image.view(), (13.0, 17.0), (0, 3)).is_err());
    }

    fn gradient(h: usize, w: usize) -> Array2<f32> {
        Array2::from_shape_fn((h, w), |(r, c)| {
            ((r * 7 + c * 13) % 17) as f32 / 16.0 + 0.01 * (r as f32)
        })
    }

    fn assert_invalid<T: fmt::Debug>(r: Result<T>) {
        assert!(
            matches!(r, Err(Error::InvalidArgument { .. })),
            "expected InvalidArgument, got {r:?}"
        );
    }

    #[test]
    fn constant_image_stays_constant() {
        let img = Array2::from_elem((37, 53), 0.4f32);
        for size in [(10, 10), (37, 20), (80, 90), (1, 1), (5, 200)] {
            let out = resize(img.view(), size).unwrap();
            assert_eq!(out.dim(), size);
            assert!(out.iter().all(|&v| (v - 0.4).abs() < 1e-6), "{size:?}");
        }
        let img = Array2::from_elem((31, 40), 200u8);
        let fast = resize_fast(img.view(), (7, 9)).unwrap();
        assert!(fast.iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-6));
        let sk = resize_u8(img.view(), (7, 9)).unwrap();
        assert!(sk.iter().all(|&v| (v - 200.0 / 255.0).abs() < 1e-6));
        for i in Interpolation::ALL {
            let out = resize_with(img.view(), (7, 90), i).unwrap();
            assert!(out.iter().all(|&v| v == 200), "{i}");
        }
    }

    #[test]
    fn identity_size_returns_the_input() {
        let img = gradient(12, 9);
        assert_eq!(resize(img.view(), (12, 9)).unwrap(), img);
        let bytes = img.mapv(|v| (v * 200.0) as u8);
        for i in Interpolation::ALL {
            assert_eq!(resize_with(bytes.view(), (12, 9), i).unwrap(), bytes);
        }
        let as_float = resize_u8(bytes.view(), (12, 9)).unwrap();
        assert_eq!(as_float, bytes.mapv(|v| f32::from(v) / 255.0));
    }

    #[test]
    fn output_has_the_requested_shape() {
        let img = gradient(30, 41);
        for size in [(1, 1), (3, 100), (100, 3), (29, 42), (130, 130)] {
            assert_eq!(resize(img.view(), size).unwrap().dim(), size);
            let bytes = img.mapv(|v| (v * 255.0) as u8);
            assert_eq!(resize_fast(bytes.view(), size).unwrap().dim(), size);
            for i in Interpolation::ALL {
                assert_eq!(resize_with(bytes.view(), size, i).unwrap().dim(), size);
            }
        }
    }

    #[test]
    fn u8_results_lie_in_the_unit_interval_and_within_the_input_range() {
        let bytes =
            Array2::from_shape_fn(
                (40, 33),
                |(r, c)| if (r / 3 + c / 2) % 2 == 0 { 0u8 } else { 255 },
            );
        for size in [(13, 7), (90, 70), (40, 10)] {
            let exact = resize_u8(bytes.view(), size).unwrap();
            let fast = resize_fast(bytes.view(), size).unwrap();
            for out in [&exact, &fast] {
                assert!(out.iter().all(|&v| (0.0..=1.0).contains(&v)), "{size:?}");
            }
            // Linear interpolation of a checkerboard gives greys between black and white.
            assert!(exact.iter().any(|&v| v > 0.05 && v < 0.95), "{size:?}");
        }
        // Clipping uses the input's own range, not [0, 1].
        let narrow = Array2::from_shape_fn((20, 20), |(r, c)| 100 + ((r * c) % 3) as u8);
        let out = resize_u8(narrow.view(), (45, 45)).unwrap();
        let (lo, hi) = (100.0 / 255.0, 102.0 / 255.0);
        assert!(out.iter().all(|&v| v >= lo && v <= hi));
    }

    #[test]
    fn zero_or_absurd_sizes_are_invalid_arguments() {
        let img = gradient(5, 5);
        assert_invalid(resize(img.view(), (0, 3)));
        assert_invalid(resize(img.view(), (3, 0)));
        assert_invalid(resize(img.view(), (1 << 20, 1 << 20)));
        let empty = Array2::<f32>::zeros((0, 4));
        assert_invalid(resize(empty.view(), (2, 2)));
        let bytes = Array2::<u8>::zeros((4, 4));
        assert_invalid(resize_u8(bytes.view(), (0, 1)));
        assert_invalid(resize_fast(bytes.view(), (1, 0)));
        assert_invalid(resize_nearest(bytes.view(), (0, 0)));
        assert_invalid(resize_with(bytes.view(), (2, 0), Interpolation::Bilinear));
    }

    #[test]
    fn strided_views_give_the_same_result_as_contiguous_copies() {
        let img = gradient(30, 40);
        let view = img.slice(s![..;2, 1..;3]);
        let copy = view.to_owned();
        assert_eq!(
            resize(view, (7, 5)).unwrap(),
            resize(copy.view(), (7, 5)).unwrap()
        );
        let bytes = img.mapv(|v| (v * 255.0) as u8);
        let t = bytes.t();
        assert_eq!(
            resize_with(t, (11, 6), Interpolation::Bilinear).unwrap(),
            resize_with(t.to_owned().view(), (11, 6), Interpolation::Bilinear).unwrap()
        );
    }

    #[test]
    fn shrinking_smooths_an_alternating_pattern() {
        // Stripes one pixel wide average out when shrinking by 4 with anti-aliasing; plain
        // bilinear sampling without a prefilter would keep full contrast at some outputs.
        let img = Array2::from_shape_fn((64, 64), |(_, c)| (c % 2) as f32);
        let out = resize(img.view(), (16, 16)).unwrap();
        assert!(out.iter().all(|&v| (v - 0.5).abs() < 0.05), "{out:?}");
    }

    #[test]
    fn area_on_integer_factor_is_block_mean() {
        let bytes = Array2::from_shape_fn((6, 6), |(r, c)| (r * 6 + c) as u8 * 7);
        let fast = resize_fast(bytes.view(), (2, 3)).unwrap();
        for r in 0..2 {
            for c in 0..3 {
                let block = bytes.slice(s![r * 3..r * 3 + 3, c * 2..c * 2 + 2]);
                let mean = block.iter().map(|&v| f32::from(v)).sum::<f32>() / 6.0 / 255.0;
                assert!((fast[[r, c]] - mean).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn interpolation_parses_and_prints() {
        for i in Interpolation::ALL {
            assert_eq!(i.to_string().parse::<Interpolation>().unwrap(), i);
        }
        assert_eq!("BOX".parse::<Interpolation>().unwrap(), Interpolation::Area);
        assert_invalid("bicubic".parse::<Interpolation>());
        assert_eq!(Interpolation::default(), Interpolation::Nearest);
    }
}
