//! Stress validation: a model measured on images changed the way another X-ray machine or
//! technician changes them (exposure, window, compression, sharpness, noise, framing, position).
//!
//! Validation figures on unchanged images cannot see a shift of acquisition; the test split of
//! this dataset has one. [`stress_test`] evaluates a model (or an ensemble) on the same labelled
//! images under each [`AcquisitionChange`] of a list, every metric with its bootstrap interval,
//! at one threshold, so that a configuration can be chosen on how well its operating point
//! survives, on validation patients and never on the test split. [`standard_changes`] is the
//! fixed list the experiments use, with the reason for each strength.
//!
//! A change acts on the decoded 8-bit grey image at the file's own resolution, before the
//! model's resizing and standardisation, and its result is again 8-bit, as a file from another
//! machine would be. Random changes (noise) are seeded per file by the file's name, so one
//! change with one seed gives the same image every time, whatever the order of the files.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};

use crate::augment::{apply_transform, FillMode, Order, Sampling, Transform};
use crate::dataset::ClassScan;
use crate::ensemble::Ensemble;
use crate::error::{Error, Result};
use crate::metrics::intervals::BootstrapOptions;
use crate::metrics::report::EvaluationReport;
use crate::metrics::Threshold;
use crate::saved_model::SavedModel;

/// One way an image can come out differently from another machine, with its strength.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "strength", rename_all = "snake_case")]
pub enum AcquisitionChange {
    /// No change: the reference row.
    Unchanged,
    /// Another exposure curve: `255 (x / 255)^gamma` (above 1 darker mid-greys).
    Gamma(f32),
    /// Every pixel times a factor, clipped at 255 (another window level).
    Brightness(f32),
    /// Distances from the image's mean grey times a factor, clipped (another window width).
    Contrast(f32),
    /// Re-encoded as a JPEG of this quality (1 to 100).
    JpegQuality(u8),
    /// A Gaussian blur of this standard deviation, in pixels of the file.
    Blur(f32),
    /// Gaussian noise of this standard deviation, in grey levels.
    Noise(f32),
    /// The field of view scaled by this factor about the centre: below 1 a tighter framing
    /// (the centre part enlarged to the whole image), above 1 a wider one (the image shrunk,
    /// its edges repeated around it).
    Framing(f32),
    /// The picture moved by this fraction of its width and of its height, edges repeated.
    Shift(f32),
    /// The picture turned by this many degrees, edges repeated.
    Rotation(f32),
}

impl AcquisitionChange {
    /// A short name for tables and figures: "gamma 1.5", "JPEG quality 30", "framing 0.87".
    pub fn name(&self) -> String {
        match *self {
            AcquisitionChange::Unchanged => "unchanged".into(),
            AcquisitionChange::Gamma(g) => format!("gamma {g}"),
            AcquisitionChange::Brightness(b) => format!("brightness x{b}"),
            AcquisitionChange::Contrast(c) => format!("contrast x{c}"),
            AcquisitionChange::JpegQuality(q) => format!("JPEG quality {q}"),
            AcquisitionChange::Blur(s) => format!("blur sigma {s} px"),
            AcquisitionChange::Noise(s) => format!("noise sigma {s}"),
            AcquisitionChange::Framing(f) => format!("framing x{f}"),
            AcquisitionChange::Shift(s) => format!("shift {}%", s * 100.0),
            AcquisitionChange::Rotation(d) => format!("rotation {d} deg"),
        }
    }

    /// Checks the strength: finite, positive factors, a quality in 1..=100, a shift below 1/2.
    pub fn validate(&self) -> Result<()> {
        let positive = |what: &'static str, v: f32| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(what, v, "a finite number > 0"))
            }
        };
        match *self {
            AcquisitionChange::Unchanged => Ok(()),
            AcquisitionChange::Gamma(v) => positive("gamma", v),
            AcquisitionChange::Brightness(v) => positive("brightness", v),
            AcquisitionChange::Contrast(v) => positive("contrast", v),
            AcquisitionChange::Blur(v) => positive("blur sigma", v),
            AcquisitionChange::Noise(v) => positive("noise sigma", v),
            AcquisitionChange::Framing(v) => positive("framing", v),
            AcquisitionChange::JpegQuality(q) if (1..=100).contains(&q) => Ok(()),
            AcquisitionChange::JpegQuality(q) => {
                Err(Error::invalid("JPEG quality", q, "a quality from 1 to 100"))
            }
            AcquisitionChange::Shift(v) if v.is_finite() && v.abs() < 0.5 => Ok(()),
            AcquisitionChange::Shift(v) => Err(Error::invalid(
                "shift",
                v,
                "a fraction of the side below 1/2",
            )),
            AcquisitionChange::Rotation(v) if v.is_finite() && v.abs() <= 45.0 => Ok(()),
            AcquisitionChange::Rotation(v) => Err(Error::invalid(
                "rotation",
                v,
                "at most 45 degrees either way",
            )),
        }
    }

    /// The changed image: `image` is an 8-bit grey picture at the file's resolution; `seed`
    /// draws the noise (the same seed gives the same image).
    pub fn apply(&self, image: ArrayView2<u8>, seed: u64) -> Result<Array2<u8>> {
        self.validate()?;
        let grey = image.mapv(f32::from);
        let changed = match *self {
            AcquisitionChange::Unchanged => return Ok(image.to_owned()),
            AcquisitionChange::Gamma(g) => grey.mapv(|v| 255.0 * (v / 255.0).powf(g)),
            AcquisitionChange::Brightness(b) => grey.mapv(|v| v * b),
            AcquisitionChange::Contrast(c) => {
                let mean = grey.mean().unwrap_or(0.0);
                grey.mapv(|v| (v - mean) * c + mean)
            }
            AcquisitionChange::JpegQuality(q) => return jpeg_round_trip(image, q),
            AcquisitionChange::Blur(sigma) => gaussian_blur(grey.view(), sigma),
            AcquisitionChange::Noise(sigma) => {
                let mut rng = StdRng::seed_from_u64(seed);
                let normal = Normal::new(0.0f32, sigma)
                    .map_err(|e| Error::invalid("noise sigma", sigma, e.to_string()))?;
                grey.mapv(|v| v + normal.sample(&mut rng))
            }
            AcquisitionChange::Framing(f) => geometric(
                grey.view(),
                Transform {
                    zx: f,
                    zy: f,
                    ..Transform::default()
                },
            ),
            AcquisitionChange::Shift(s) => {
                let (h, w) = grey.dim();
                geometric(
                    grey.view(),
                    Transform {
                        tx: s * w as f32,
                        ty: s * h as f32,
                        ..Transform::default()
                    },
                )
            }
            AcquisitionChange::Rotation(d) => geometric(
                grey.view(),
                Transform {
                    theta: d,
                    ..Transform::default()
                },
            ),
        };
        Ok(changed.mapv(|v| v.round().clamp(0.0, 255.0) as u8))
    }
}

/// The acquisition changes of the experiments' protocol, in the order of its table: exposure
/// (gamma 1.5 and 0.67), window level (brightness x0.8 and x1.2), window width (contrast x0.75
/// and x1.3), JPEG quality 30, blur (sigma 1 px), noise (sigma 6 grey levels), framing (x0.87
/// tighter, x1.15 wider), a shift of 8% and a rotation of 5 degrees. Strengths a second
/// machine or department plausibly produces, fixed before any model was measured with them.
pub fn standard_changes() -> Vec<AcquisitionChange> {
    use AcquisitionChange::*;
    vec![
        Gamma(1.5),
        Gamma(0.67),
        Brightness(0.8),
        Brightness(1.2),
        Contrast(0.75),
        Contrast(1.3),
        JpegQuality(30),
        Blur(1.0),
        Noise(6.0),
        Framing(0.87),
        Framing(1.15),
        Shift(0.08),
        Rotation(5.0),
    ]
}

/// An affine change sampled bilinearly, edges repeated, on 0-255 pixels.
fn geometric(image: ArrayView2<f32>, transform: Transform) -> Array2<f32> {
    let sampling = Sampling {
        fill_mode: FillMode::Nearest,
        order: Order::Bilinear,
        max_value: 255.0,
    };
    apply_transform(image, &transform, &sampling)
}

/// A separable Gaussian blur (radius 3 sigma, edges repeated).
fn gaussian_blur(image: ArrayView2<f32>, sigma: f32) -> Array2<f32> {
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let weights: Vec<f32> = weights.iter().map(|w| w / total).collect();
    let (h, w) = image.dim();
    let along = |get: &dyn Fn(usize, usize) -> f32, r: usize, c: usize, rows: bool| -> f32 {
        weights
            .iter()
            .enumerate()
            .map(|(k, wk)| {
                let offset = k as isize - radius;
                let (rr, cc) = if rows {
                    ((r as isize + offset).clamp(0, h as isize - 1) as usize, c)
                } else {
                    (r, (c as isize + offset).clamp(0, w as isize - 1) as usize)
                };
                wk * get(rr, cc)
            })
            .sum()
    };
    let horizontal = Array2::from_shape_fn((h, w), |(r, c)| {
        along(&|rr, cc| image[[rr, cc]], r, c, false)
    });
    Array2::from_shape_fn((h, w), |(r, c)| {
        along(&|rr, cc| horizontal[[rr, cc]], r, c, true)
    })
}

/// The image encoded as a grey JPEG of quality `quality` and decoded again.
fn jpeg_round_trip(image: ArrayView2<u8>, quality: u8) -> Result<Array2<u8>> {
    let (h, w) = image.dim();
    let pixels: Vec<u8> = image.iter().copied().collect();
    let mut bytes = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode(&pixels, w as u32, h as u32, image::ExtendedColorType::L8)
        .map_err(|e| Error::backend("encoding a JPEG for the stress test", e))?;
    let decoded = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .map_err(|e| Error::backend("decoding the stress test's JPEG", e))?
        .to_luma8();
    Array2::from_shape_vec((h, w), decoded.into_raw())
        .map_err(|e| Error::backend("shaping the stress test's JPEG", e))
}

/// A seed for one file under one stress seed: FNV-1a of the file name, mixed with `seed`.
pub fn file_seed(path: &Path, seed: u64) -> u64 {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for byte in name.unwrap_or_default().bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// One row of a stress table: a change and the model's metrics on the changed images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StressRow {
    /// The change, as [`AcquisitionChange::name`] writes it.
    pub name: String,
    /// The change and its strength.
    pub change: AcquisitionChange,
    /// Every metric with its interval, at the table's threshold.
    pub report: EvaluationReport,
}

/// A model's metrics on the same images under each change ([`stress_test`]); the first row is
/// the unchanged images.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StressReport {
    /// The threshold every row is measured at.
    pub threshold: Threshold,
    /// The seed of the random changes.
    pub seed: u64,
    /// The unchanged images first, then one row per change.
    pub rows: Vec<StressRow>,
}

impl StressReport {
    /// The unchanged row.
    pub fn unchanged(&self) -> &StressRow {
        &self.rows[0]
    }

    /// The changed rows.
    pub fn changed(&self) -> &[StressRow] {
        &self.rows[1..]
    }

    /// The change with the lowest accuracy (the first of equals), or `None` without changes.
    pub fn worst_accuracy(&self) -> Option<&StressRow> {
        self.worst_by(|row| row.report.metrics.accuracy.estimate)
    }

    /// The change with the lowest specificity (the first of equals), or `None` without changes.
    pub fn worst_specificity(&self) -> Option<&StressRow> {
        self.worst_by(|row| row.report.metrics.specificity.estimate)
    }

    /// The largest loss of specificity from the unchanged images under any change (0 when no
    /// change costs any).
    pub fn largest_specificity_loss(&self) -> f64 {
        let base = self.unchanged().report.metrics.specificity.estimate;
        self.worst_specificity()
            .map(|row| (base - row.report.metrics.specificity.estimate).max(0.0))
            .unwrap_or(0.0)
    }

    fn worst_by(&self, metric: impl Fn(&StressRow) -> f64) -> Option<&StressRow> {
        self.changed()
            .iter()
            .fold(None, |worst: Option<&StressRow>, row| match worst {
                Some(w) if metric(w) <= metric(row) => Some(w),
                _ => Some(row),
            })
    }

    /// The accuracy and specificity under each change as a chart ([`crate::plot::stress_chart`]),
    /// titled with `images` (which images: "validation patients", "test split"), their count and
    /// the threshold.
    pub fn plot(&self, images: &str) -> Result<crate::plot::Figure> {
        let points: Vec<crate::plot::StressPoint> = self
            .rows
            .iter()
            .map(|row| crate::plot::StressPoint {
                name: &row.name,
                accuracy: row.report.metrics.accuracy,
                specificity: row.report.metrics.specificity,
            })
            .collect();
        crate::plot::stress_chart(
            &points,
            &format!(
                "Accuracy and specificity under acquisition changes: {images}, {} images, threshold {:.2}",
                self.unchanged().report.images,
                self.threshold.get()
            ),
        )
    }

    /// The table as text: one line per change with accuracy, sensitivity, specificity and ROC
    /// AUC (each with its interval) and the change of accuracy and specificity from the
    /// unchanged images, then the worst cases.
    pub fn table(&self) -> String {
        let base = &self.unchanged().report.metrics;
        let interval = |i: &crate::metrics::intervals::Interval| {
            format!("{:.3} [{:.3}, {:.3}]", i.estimate, i.low, i.high)
        };
        let mut out = format!(
            "Stress validation at threshold {:.3} ({} images; 95% bootstrap intervals)\n",
            self.threshold.get(),
            self.unchanged().report.images
        );
        out.push_str(&format!(
            "{:<20} {:>22} {:>22} {:>22} {:>22} {:>8} {:>8}\n",
            "change", "accuracy", "sensitivity", "specificity", "ROC AUC", "d acc", "d spec"
        ));
        for row in &self.rows {
            let m = &row.report.metrics;
            out.push_str(&format!(
                "{:<20} {:>22} {:>22} {:>22} {:>22} {:>+8.3} {:>+8.3}\n",
                row.name,
                interval(&m.accuracy),
                interval(&m.sensitivity),
                interval(&m.specificity),
                interval(&m.roc_auc),
                m.accuracy.estimate - base.accuracy.estimate,
                m.specificity.estimate - base.specificity.estimate,
            ));
        }
        if let (Some(acc), Some(spec)) = (self.worst_accuracy(), self.worst_specificity()) {
            out.push_str(&format!(
                "worst accuracy: {:.3} under {}; worst specificity: {:.3} under {} ({:.3} below the unchanged images)\n",
                acc.report.metrics.accuracy.estimate,
                acc.name,
                spec.report.metrics.specificity.estimate,
                spec.name,
                self.largest_specificity_loss()
            ));
        }
        out
    }
}

/// The ensemble's (or single model's) probability of class 1 for each file of `scan` under
/// `change`, each member preparing the changed file as it was trained, then averaged.
pub fn changed_probabilities(
    ensemble: &Ensemble,
    files: &[PathBuf],
    change: AcquisitionChange,
    seed: u64,
) -> Result<Vec<f32>> {
    let mut sum = vec![0.0f32; files.len()];
    for member in ensemble.members() {
        let probs = member_probabilities(member, files, change, seed)?;
        sum.iter_mut().zip(probs).for_each(|(s, p)| *s += p);
    }
    let n = ensemble.members().len() as f32;
    Ok(sum.into_iter().map(|s| s / n).collect())
}

/// One model's probability of class 1 for each changed file.
fn member_probabilities(
    saved: &SavedModel,
    files: &[PathBuf],
    change: AcquisitionChange,
    seed: u64,
) -> Result<Vec<f32>> {
    let config = saved.model.config();
    if config.classes() != 2 {
        return Err(Error::invalid(
            "stress test",
            format!("a {}-class model", config.classes()),
            "a two-class model (the metrics are sensitivity and specificity at a threshold)",
        ));
    }
    let size = (config.input_height(), config.input_width());
    crate::inference::predict_prepared(saved, files, 1, |path| {
        let grey = crate::imread::imread(path)?;
        let changed = change.apply(grey.view(), file_seed(path, seed))?;
        Ok(vec![saved
            .preprocessing
            .prepare_pixels(changed.view(), size)?])
    })
    .into_iter()
    .map(|row| row.map(|p| p[p.len() - 1]))
    .collect()
}

/// Evaluates `ensemble` (one model or several, probabilities averaged) on the labelled images
/// of `scan`, unchanged and under each of `changes`, at `threshold`; `seed` draws the random
/// changes. Refused before any image is read when a change's strength is out of range or the
/// model has more than two classes.
pub fn stress_test(
    ensemble: &Ensemble,
    scan: &ClassScan,
    changes: &[AcquisitionChange],
    threshold: Threshold,
    bootstrap: &BootstrapOptions,
    seed: u64,
) -> Result<StressReport> {
    changes.iter().try_for_each(AcquisitionChange::validate)?;
    if ensemble.class_names().len() != 2 {
        return Err(Error::invalid(
            "stress test",
            format!("a {}-class model", ensemble.class_names().len()),
            "a two-class model (the metrics are sensitivity and specificity at a threshold)",
        ));
    }
    let labels: Vec<u8> = scan.labels.iter().map(|&l| l as u8).collect();
    let names = [
        ensemble.class_names()[0].as_str(),
        ensemble.class_names()[1].as_str(),
    ];
    let rows = std::iter::once(AcquisitionChange::Unchanged)
        .chain(changes.iter().copied())
        .map(|change| {
            let probs = changed_probabilities(ensemble, &scan.files, change, seed)?;
            let report = EvaluationReport::new(&labels, &probs, threshold, names, bootstrap)?;
            Ok(StressRow {
                name: change.name(),
                change,
                report,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(StressReport {
        threshold,
        seed,
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(h: usize, w: usize) -> Array2<u8> {
        Array2::from_shape_fn((h, w), |(r, c)| ((r * 7 + c * 13) % 256) as u8)
    }

    #[test]
    fn a_change_applied_twice_with_one_seed_gives_the_same_image() {
        let image = ramp(40, 36);
        for change in standard_changes() {
            let a = change.apply(image.view(), 7).unwrap();
            let b = change.apply(image.view(), 7).unwrap();
            assert_eq!(a, b, "{}", change.name());
            assert_eq!(a.dim(), image.dim(), "{}", change.name());
            assert_ne!(a, image, "{} should change the image", change.name());
        }
        let noise = AcquisitionChange::Noise(6.0);
        assert_ne!(
            noise.apply(image.view(), 7).unwrap(),
            noise.apply(image.view(), 8).unwrap()
        );
        assert_eq!(
            AcquisitionChange::Unchanged.apply(image.view(), 1).unwrap(),
            image
        );
    }

    #[test]
    fn photometric_changes_do_what_they_say() {
        let flat = Array2::from_elem((4, 4), 100u8);
        let darker = AcquisitionChange::Gamma(1.5).apply(flat.view(), 0).unwrap();
        assert_eq!(
            darker[[0, 0]],
            (255.0 * (100.0f32 / 255.0).powf(1.5)).round() as u8
        );
        let brighter = AcquisitionChange::Brightness(3.0)
            .apply(flat.view(), 0)
            .unwrap();
        assert_eq!(brighter[[1, 1]], 255, "clipped");
        let two = Array2::from_shape_vec((1, 2), vec![80u8, 120]).unwrap();
        let wider = AcquisitionChange::Contrast(1.5)
            .apply(two.view(), 0)
            .unwrap();
        assert_eq!(wider.as_slice().unwrap(), &[70, 130]);
        let blurred = AcquisitionChange::Blur(1.0).apply(flat.view(), 0).unwrap();
        assert_eq!(blurred, flat, "a blur keeps a flat image");
    }

    #[test]
    fn file_seeds_depend_on_the_name_and_the_seed_only() {
        let a = file_seed(Path::new("x/NORMAL/IM-1.jpeg"), 3);
        assert_eq!(a, file_seed(Path::new("y/IM-1.jpeg"), 3));
        assert_ne!(a, file_seed(Path::new("x/NORMAL/IM-2.jpeg"), 3));
        assert_ne!(a, file_seed(Path::new("x/NORMAL/IM-1.jpeg"), 4));
    }

    #[test]
    fn strengths_out_of_range_are_refused_naming_them() {
        for bad in [
            AcquisitionChange::Gamma(0.0),
            AcquisitionChange::JpegQuality(0),
            AcquisitionChange::Shift(0.6),
            AcquisitionChange::Rotation(f32::NAN),
            AcquisitionChange::Noise(-1.0),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(!err.is_empty(), "{bad:?}");
            assert!(bad.apply(ramp(4, 4).view(), 0).is_err());
        }
    }

    fn row(change: AcquisitionChange, labels: &[u8], probs: &[f32]) -> StressRow {
        let bootstrap = BootstrapOptions::new(50, 0.95, 0).unwrap();
        StressRow {
            name: change.name(),
            change,
            report: EvaluationReport::new(
                labels,
                probs,
                Threshold::HALF,
                ["NORMAL", "PNEUMONIA"],
                &bootstrap,
            )
            .unwrap(),
        }
    }

    #[test]
    fn the_worst_case_is_the_minimum_of_the_table() {
        let labels = [0u8, 0, 0, 0, 1, 1, 1, 1];
        let good = [0.1f32, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8, 0.9];
        let one_fp = [0.1f32, 0.2, 0.3, 0.6, 0.6, 0.7, 0.8, 0.9];
        let two_fp = [0.6f32, 0.2, 0.3, 0.6, 0.6, 0.7, 0.8, 0.9];
        let one_fn = [0.1f32, 0.2, 0.3, 0.4, 0.4, 0.7, 0.8, 0.9];
        let report = StressReport {
            threshold: Threshold::HALF,
            seed: 0,
            rows: vec![
                row(AcquisitionChange::Unchanged, &labels, &good),
                row(AcquisitionChange::Gamma(1.5), &labels, &one_fp),
                row(AcquisitionChange::Blur(1.0), &labels, &two_fp),
                row(AcquisitionChange::Shift(0.08), &labels, &one_fn),
            ],
        };
        let accuracies: Vec<f64> = report
            .changed()
            .iter()
            .map(|r| r.report.metrics.accuracy.estimate)
            .collect();
        let min = accuracies.iter().copied().fold(f64::INFINITY, f64::min);
        let worst = report.worst_accuracy().unwrap();
        assert_eq!(worst.report.metrics.accuracy.estimate, min);
        assert_eq!(worst.name, "blur sigma 1 px");
        assert_eq!(report.worst_specificity().unwrap().name, "blur sigma 1 px");
        assert!((report.largest_specificity_loss() - 0.5).abs() < 1e-12);
        let table = report.table();
        assert!(
            table.contains("worst accuracy: 0.750 under blur sigma 1 px"),
            "{table}"
        );
        assert_eq!(table.lines().count(), 2 + 4 + 1);
    }
}
