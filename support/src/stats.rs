//! Image-size statistics of a folder: the tutorial's survey of heights and widths; and
//! [`min_max`], one image's value range.
//!
//! The survey reads only each file's header ([`crate::imread::image_dims`]) on all cores, so it
//! never decodes pixels. Statistics use `ndarray-stats` (mean, min, max, quartiles with linear
//! interpolation, as NumPy's default `percentile`) and `ndarray` (standard deviation).

use std::path::{Path, PathBuf};

use ndarray::{Array1, ArrayView, Dimension};
use ndarray_stats::interpolate::Linear;
use ndarray_stats::{Quantile1dExt, QuantileExt, SummaryStatisticsExt};
use noisy_float::types::{n64, N64};
use rayon::prelude::*;

use crate::dataset::list_images;
use crate::error::{Error, Result, Skipped};
use crate::imread::image_dims;

/// Heights and widths of the images of one folder, in the folder's sorted file order.
#[derive(Debug)]
pub struct DimensionSurvey {
    /// The files measured.
    pub files: Vec<PathBuf>,
    /// Height of each file, in pixels.
    pub heights: Vec<u32>,
    /// Width of each file, in pixels.
    pub widths: Vec<u32>,
    /// Files whose header could not be read, and why.
    pub skipped: Vec<Skipped>,
}

/// Summary statistics of one list of sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n - 1 in the denominator, as pandas' `describe`).
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// First quartile (25th percentile, linear interpolation).
    pub q1: f64,
    /// Median.
    pub median: f64,
    /// Third quartile.
    pub q3: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarises `values`; an empty list is an error.
    pub fn of(values: &[u32]) -> Result<Summary> {
        if values.is_empty() {
            return Err(Error::invalid("values", "[]", "at least one image size"));
        }
        let floats: Array1<f64> = values.iter().map(|&v| f64::from(v)).collect();
        let mut ordered: Array1<N64> = floats.mapv(n64);
        let quantile = |arr: &mut Array1<N64>, q: f64| -> f64 {
            arr.quantile_mut(n64(q), &Linear)
                .map(|v| v.raw())
                .expect("q is in [0, 1] and the array is not empty")
        };
        Ok(Summary {
            count: values.len(),
            mean: SummaryStatisticsExt::mean(&*floats).expect("checked non-empty above"),
            std: if values.len() > 1 {
                floats.std(1.0)
            } else {
                0.0
            },
            min: *floats.min().expect("non-empty and no NaN in sizes"),
            q1: quantile(&mut ordered, 0.25),
            median: quantile(&mut ordered, 0.5),
            q3: quantile(&mut ordered, 0.75),
            max: *floats.max().expect("non-empty and no NaN in sizes"),
        })
    }
}

impl DimensionSurvey {
    /// Statistics of the heights.
    pub fn height_summary(&self) -> Result<Summary> {
        Summary::of(&self.heights)
    }

    /// Statistics of the widths.
    pub fn width_summary(&self) -> Result<Summary> {
        Summary::of(&self.widths)
    }

    /// The mean (height, width), as the tutorial's `np.mean(dim1), np.mean(dim2)`.
    pub fn mean_shape(&self) -> Result<(f64, f64)> {
        Ok((self.height_summary()?.mean, self.width_summary()?.mean))
    }

    /// A table of both summaries, like pandas' `describe()`.
    pub fn describe(&self) -> Result<String> {
        let h = self.height_summary()?;
        let w = self.width_summary()?;
        let mut out = format!("{:<7}{:>10}{:>10}\n", "", "height", "width");
        let rows: [(&str, f64, f64); 8] = [
            ("count", h.count as f64, w.count as f64),
            ("mean", h.mean, w.mean),
            ("std", h.std, w.std),
            ("min", h.min, w.min),
            ("25%", h.q1, w.q1),
            ("50%", h.median, w.median),
            ("75%", h.q3, w.q3),
            ("max", h.max, w.max),
        ];
        for (name, a, b) in rows {
            out.push_str(&format!("{name:<7}{a:>10.2}{b:>10.2}\n"));
        }
        if let Some(line) = crate::error::skipped_summary(&self.skipped) {
            out.push_str(&line);
            out.push('\n');
        }
        Ok(out)
    }
}

/// The smallest and largest value of an array, e.g. an image's value range (NumPy's
/// `img.min(), img.max()`), in one pass. Works for any element type with an order (`u8`, `f32`,
/// ...); an empty array or a NaN is an [`Error::InvalidArgument`] naming where the NaN is.
///
/// ```
/// let img = ndarray::array![[0.25f32, 1.0], [0.5, 0.0]];
/// assert_eq!(support::stats::min_max(&img)?, (0.0, 1.0));
/// # Ok::<(), support::Error>(())
/// ```
pub fn min_max<'a, A, D>(values: impl Into<ArrayView<'a, A, D>>) -> Result<(A, A)>
where
    A: PartialOrd + Copy + 'a,
    D: Dimension,
{
    let view = values.into();
    let mut range: Option<(A, A)> = None;
    for (index, &v) in view.indexed_iter() {
        if v.partial_cmp(&v).is_none() {
            return Err(Error::invalid(
                "values",
                format!("NaN at index {index:?}"),
                "numbers (no NaN)",
            ));
        }
        range = Some(match range {
            None => (v, v),
            Some((lo, hi)) => (if v < lo { v } else { lo }, if v > hi { v } else { hi }),
        });
    }
    range.ok_or_else(|| {
        Error::invalid(
            "values",
            format!("an empty array of shape {:?}", view.shape()),
            "at least one value",
        )
    })
}

/// Surveys the (height, width) of every image in `dir` from headers only, in parallel.
/// Unreadable files are collected in `skipped`; every other file is measured.
pub fn survey_dims(dir: impl AsRef<Path>) -> Result<DimensionSurvey> {
    let files = list_images(dir.as_ref(), false)?;
    survey_files(files)
}

/// [`survey_dims`] over an explicit list of files.
pub fn survey_files(files: Vec<PathBuf>) -> Result<DimensionSurvey> {
    let results: Vec<Result<(usize, usize)>> = files.par_iter().map(image_dims).collect();
    let mut survey = DimensionSurvey {
        files: Vec::with_capacity(files.len()),
        heights: Vec::with_capacity(files.len()),
        widths: Vec::with_capacity(files.len()),
        skipped: Vec::new(),
    };
    for (path, result) in files.into_iter().zip(results) {
        match result {
            Ok((h, w)) => {
                survey.files.push(path);
                // Sizes come from u32 header fields, so they fit back into u32.
                survey.heights.push(h as u32);
                survey.widths.push(w as u32);
            }
            Err(error) => survey.skipped.push(Skipped { path, error }),
        }
    }
    Ok(survey)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_numpy_by_hand() {
        // numpy: mean 2.5, std(ddof=1) 1.2909944, percentiles 1.75 / 2.5 / 3.25
        let s = Summary::of(&[4, 1, 3, 2]).unwrap();
        assert_eq!(s.count, 4);
        assert!((s.mean - 2.5).abs() < 1e-12);
        assert!((s.std - 1.290_994_448_735_805_6).abs() < 1e-12);
        assert_eq!((s.min, s.max), (1.0, 4.0));
        assert!((s.q1 - 1.75).abs() < 1e-12);
        assert!((s.median - 2.5).abs() < 1e-12);
        assert!((s.q3 - 3.25).abs() < 1e-12);
        assert!(Summary::of(&[]).is_err());
        assert_eq!(Summary::of(&[7]).unwrap().std, 0.0);
    }

    #[test]
    fn min_max_of_images_of_any_pixel_type() {
        let img = ndarray::array![[3u8, 200], [0, 17]];
        assert_eq!(min_max(&img).unwrap(), (0, 200));
        assert_eq!(min_max(img.view()).unwrap(), (0, 200));
        let floats = ndarray::array![[0.5f32, -1.5], [2.25, 0.0]];
        assert_eq!(min_max(&floats).unwrap(), (-1.5, 2.25));
        // Any dimension: a 1-D array, and a single value.
        assert_eq!(min_max(&ndarray::array![7.0f64]).unwrap(), (7.0, 7.0));
    }

    #[test]
    fn min_max_refuses_empty_arrays_and_nan() {
        let empty = ndarray::Array2::<f32>::zeros((0, 4));
        let e = min_max(&empty).unwrap_err();
        assert!(
            matches!(e, Error::InvalidArgument { name: "values", .. }),
            "{e}"
        );
        let nan = ndarray::array![[0.0f32, 1.0], [f32::NAN, 0.5]];
        let e = min_max(&nan).unwrap_err();
        assert!(e.to_string().contains("NaN at index (1, 0)"), "{e}");
    }

    #[test]
    fn survey_reads_headers_and_skips_broken_files() {
        let dir = tempfile::tempdir().unwrap();
        for (i, (w, h)) in [(10u32, 20u32), (30, 40)].iter().enumerate() {
            image::GrayImage::new(*w, *h)
                .save(dir.path().join(format!("{i}.png")))
                .unwrap();
        }
        std::fs::write(dir.path().join("broken.jpeg"), b"not an image").unwrap();
        let survey = survey_dims(dir.path()).unwrap();
        assert_eq!(survey.heights, vec![20, 40]);
        assert_eq!(survey.widths, vec![10, 30]);
        assert_eq!(survey.skipped.len(), 1);
        assert_eq!(survey.mean_shape().unwrap(), (30.0, 20.0));
        let table = survey.describe().unwrap();
        assert!(table.contains("broken.jpeg"), "{table}");
    }
}
