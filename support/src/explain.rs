//! Explaining one prediction: the model's probability for one X-ray file and a SmoothGrad
//! saliency map of the pixels that moved it ([`explain`]), and a figure of the X-ray beside the
//! saliency laid over it ([`Explanation::plot`]).
//!
//! ```no_run
//! # use support::model::{Model, ModelConfig};
//! # use support::training::FitOptions;
//! # let model = Model::new(ModelConfig::default(), 42)?;
//! # let options = FitOptions::default();
//! let explanation = support::explain::explain(&model, "person1_virus_6.jpeg", &options.preprocessing())?;
//! println!("p(PNEUMONIA) = {:.3}", explanation.probability);
//! let fig = explanation.plot(&["NORMAL", "PNEUMONIA"], support::metrics::Threshold::HALF)?;
//! # Ok::<(), support::Error>(())
//! ```

use std::path::{Path, PathBuf};

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::metrics::Threshold;
use crate::model::Model;
use crate::plot::Figure;
use crate::preprocessing::Preprocessing;

/// SmoothGrad's settings (Smilkov et al., 2017): how many noisy copies of the image are
/// averaged, and the noise's standard deviation as a fraction of the image's value range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothGrad {
    /// Noisy copies averaged (default 16).
    pub samples: usize,
    /// Noise level: the standard deviation over the input's value range (default 0.15, within
    /// the 0.10 to 0.20 the paper recommends).
    pub noise: f32,
}

impl Default for SmoothGrad {
    /// 16 samples at noise 0.15.
    fn default() -> Self {
        SmoothGrad {
            samples: 16,
            noise: 0.15,
        }
    }
}

/// One file's prediction and where the model looked, from [`explain`].
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The image file explained.
    pub file: PathBuf,
    /// The model's probability of class 1 (e.g. PNEUMONIA) for the file.
    pub probability: f32,
    /// The X-ray resized to the model's input size, grey values in [0, 1] before the
    /// preprocessing's scaling and standardization: what the figure shows.
    pub image: Array2<f32>,
    /// The model's input: `image` scaled and standardized as in training (what
    /// [`Preprocessing::prepare`] returns for the file).
    pub input: Array2<f32>,
    /// SmoothGrad saliency, `|d logit / d pixel|` averaged over noisy copies of `input`; the
    /// shape of `image`.
    pub saliency: Array2<f32>,
}

/// Predicts one image file with `model` and computes its SmoothGrad saliency with the default
/// settings ([`SmoothGrad::default`]); the file is read and prepared as
/// [`Preprocessing::prepare`] does, so the probability is the one
/// [`predict_directory`](crate::inference::predict_directory) gives the same file.
pub fn explain(
    model: &Model,
    file: impl AsRef<Path>,
    preprocessing: &Preprocessing,
) -> Result<Explanation> {
    explain_with(model, file, preprocessing, &SmoothGrad::default())
}

/// [`explain`] with SmoothGrad settings of your own.
pub fn explain_with(
    model: &Model,
    file: impl AsRef<Path>,
    preprocessing: &Preprocessing,
    smooth: &SmoothGrad,
) -> Result<Explanation> {
    let file = file.as_ref();
    let (height, width) = (model.config().input_height(), model.config().input_width());
    let grey = crate::imread::imread(file)?;
    let small =
        crate::resize::resize_with(grey.view(), (height, width), preprocessing.interpolation)?;
    let image = small.mapv(|v| f32::from(v) / 255.0);
    let mut input = small.mapv(f32::from);
    preprocessing.generator()?.standardize(&mut input);
    let batch = input
        .view()
        .into_shape_with_order((1, height, width, 1))
        .map_err(|e| Error::backend("shaping the model input", e))?;
    let probability = model.predict_proba(batch)?[0];
    let saliency = model.smooth_saliency(input.view(), smooth.samples, smooth.noise)?;
    Ok(Explanation {
        file: file.to_path_buf(),
        probability,
        image,
        input,
        saliency,
    })
}

/// Decimals to print probabilities and the threshold with: 3, or more (up to 6) where 3 would
/// print a probability that differs from the threshold as equal to it, which would hide which
/// side of the threshold it lies on.
pub(crate) fn separating_decimals(threshold: f32, probs: impl IntoIterator<Item = f32>) -> usize {
    let probs: Vec<f32> = probs.into_iter().filter(|&p| p != threshold).collect();
    (3..=6)
        .find(|&d| {
            let t = format!("{threshold:.d$}");
            probs.iter().all(|p| format!("{p:.d$}") != t)
        })
        .unwrap_or(6)
}

impl Explanation {
    /// The class predicted at `threshold`: 1 when `probability >= threshold`, else 0.
    pub fn predicted(&self, threshold: Threshold) -> usize {
        usize::from(threshold.predicts_positive(self.probability))
    }

    /// The file's true class when its folder is named after one of `class_names` (the dataset's
    /// `NORMAL/` and `PNEUMONIA/` folders), else `None`.
    pub fn truth<S: AsRef<str>>(&self, class_names: &[S]) -> Option<usize> {
        let folder = self.file.parent()?.file_name()?.to_str()?;
        class_names.iter().position(|c| c.as_ref() == folder)
    }

    /// The X-ray (left) beside the X-ray under its saliency heat map with a colour bar of the
    /// saliency values (right), titled with the file, its true class when its folder says so,
    /// and the prediction at `threshold` with the probability. `class_names` are the names of
    /// class 0 and 1 (e.g. `predictions.class_names`).
    pub fn plot<S: AsRef<str>>(&self, class_names: &[S], threshold: Threshold) -> Result<Figure> {
        if class_names.len() != 2 {
            return Err(Error::invalid(
                "class_names",
                format!("{} names", class_names.len()),
                "the names of class 0 and class 1",
            ));
        }
        let name = |i: usize| class_names[i].as_ref();
        let file = self.file.file_name().map_or_else(
            || self.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        let first = match self.truth(class_names) {
            Some(t) => format!("{file} (true class {})", name(t)),
            None => file,
        };
        let d = separating_decimals(threshold.get(), [self.probability]);
        let title = format!(
            "{first}\npredicted {}: p({}) = {:.d$} at threshold {:.d$}",
            name(self.predicted(threshold)),
            name(1),
            self.probability,
            threshold
        );
        crate::plot::image_beside_saliency(
            self.image.view(),
            self.saliency.view(),
            ["X-ray", "SmoothGrad saliency |d logit / d pixel|"],
            &title,
            360,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelConfig;
    use crate::training::FitOptions;

    fn sample_file(class: &str, name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../data/sample/chest_xray/test")
            .join(class)
            .join(name)
    }

    /// The first image (by name) of a class folder of the shipped sample's test split.
    fn first_sample_file(class: &str) -> PathBuf {
        let dir = sample_file(class, "");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpeg"))
            .collect();
        files.sort();
        files.remove(0)
    }

    fn small_model() -> Model {
        let config = ModelConfig::builder()
            .input_size(40, 40)
            .conv_filters(&[4, 8])
            .dense_units(8)
            .build()
            .unwrap();
        Model::new(config, 7).unwrap()
    }

    #[test]
    fn probability_is_predict_proba_on_the_prepared_file() {
        let model = small_model();
        let preprocessing = FitOptions::default().preprocessing();
        let file = first_sample_file("PNEUMONIA");
        let smooth = SmoothGrad {
            samples: 2,
            noise: 0.1,
        };
        let e = explain_with(&model, &file, &preprocessing, &smooth).unwrap();
        let prepared = preprocessing.prepare(&file, (40, 40)).unwrap();
        assert_eq!(e.input, prepared);
        let x = prepared.into_shape_with_order((1, 40, 40, 1)).unwrap();
        assert_eq!(e.probability, model.predict_proba(x.view()).unwrap()[0]);
        assert_eq!(
            e.saliency,
            model.smooth_saliency(e.input.view(), 2, 0.1).unwrap()
        );
        assert_eq!(e.image.dim(), (40, 40));
        assert!(e.image.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(e.truth(&["NORMAL", "PNEUMONIA"]), Some(1));
        assert_eq!(e.truth(&["A", "B"]), None);
    }

    #[test]
    fn decimals_separate_probabilities_from_the_threshold() {
        assert_eq!(separating_decimals(0.5, [0.25, 0.75]), 3);
        assert_eq!(separating_decimals(0.5, [0.5]), 3, "equal is equal");
        assert_eq!(separating_decimals(0.569_38, [0.569_31, 0.9]), 4);
        assert_eq!(separating_decimals(0.5, [0.500_001]), 6);
        assert_eq!(separating_decimals(0.5, []), 3);
    }

    #[test]
    fn bad_files_and_settings_are_refused() {
        let model = small_model();
        let preprocessing = FitOptions::default().preprocessing();
        let missing = sample_file("PNEUMONIA", "no-such-file.jpeg");
        assert!(matches!(
            explain(&model, &missing, &preprocessing),
            Err(Error::Io { .. })
        ));
        let file = first_sample_file("NORMAL");
        let none = SmoothGrad {
            samples: 0,
            noise: 0.1,
        };
        assert!(matches!(
            explain_with(&model, &file, &preprocessing, &none),
            Err(Error::InvalidArgument { .. })
        ));
        let e = explain_with(
            &model,
            &file,
            &preprocessing,
            &SmoothGrad {
                samples: 1,
                noise: 0.0,
            },
        )
        .unwrap();
        // A threshold outside [0, 1] cannot reach `plot`: it is refused where it is made.
        for bad in [f32::NAN, -0.1, 1.5] {
            assert!(matches!(
                Threshold::new(bad),
                Err(Error::InvalidArgument {
                    name: "threshold",
                    ..
                })
            ));
        }
        assert!(matches!(
            e.plot(&["NORMAL"], Threshold::HALF),
            Err(Error::InvalidArgument {
                name: "class_names",
                ..
            })
        ));
    }

    #[test]
    fn figure_is_titled_with_file_truth_prediction_and_probability() {
        // A hand-made explanation: a grey ramp, saliency hot in the top-left quarter.
        let image = Array2::from_shape_fn((40, 40), |(r, c)| (r + c) as f32 / 80.0);
        let saliency =
            Array2::from_shape_fn((40, 40), |(r, c)| if r < 20 && c < 20 { 0.04 } else { 0.0 });
        let e = Explanation {
            file: PathBuf::from("data/test/NORMAL/IM-0001-0001.jpeg"),
            probability: 0.75,
            image: image.clone(),
            input: image.clone(),
            saliency: saliency.clone(),
        };
        let fig = e.plot(&["NORMAL", "PNEUMONIA"], Threshold::HALF).unwrap();
        // The figure is the two-panel layout (tested in plot::images) with this title.
        let expected = crate::plot::image_beside_saliency(
            image.view(),
            saliency.view(),
            ["X-ray", "SmoothGrad saliency |d logit / d pixel|"],
            "IM-0001-0001.jpeg (true class NORMAL)\npredicted PNEUMONIA: p(PNEUMONIA) = 0.750 at threshold 0.500",
            360,
        )
        .unwrap();
        assert_eq!(fig, expected);
        let px = image::load_from_memory(fig.png_bytes()).unwrap().to_rgb8();
        let (w, h) = fig.size();
        assert!(w > 2 * 360 && h > 360, "two panels of 360 px: {w}x{h}");
        // At a threshold above the probability the prediction changes; an unknown folder
        // leaves the truth out.
        let other = Explanation {
            file: PathBuf::from("elsewhere/x.png"),
            ..e
        };
        let expected = crate::plot::image_beside_saliency(
            image.view(),
            saliency.view(),
            ["X-ray", "SmoothGrad saliency |d logit / d pixel|"],
            "x.png\npredicted NORMAL: p(PNEUMONIA) = 0.750 at threshold 0.800",
            360,
        )
        .unwrap();
        assert_eq!(
            other
                .plot(&["NORMAL", "PNEUMONIA"], Threshold::new(0.8).unwrap())
                .unwrap(),
            expected
        );
        // A probability that rounds to the threshold gets the decimals that tell them apart.
        let close = Explanation {
            probability: 0.56931,
            ..other
        };
        let expected = crate::plot::image_beside_saliency(
            image.view(),
            saliency.view(),
            ["X-ray", "SmoothGrad saliency |d logit / d pixel|"],
            "x.png\npredicted NORMAL: p(PNEUMONIA) = 0.5693 at threshold 0.5694",
            360,
        )
        .unwrap();
        assert_eq!(
            close
                .plot(&["NORMAL", "PNEUMONIA"], Threshold::new(0.56938).unwrap())
                .unwrap(),
            expected
        );
        assert!(
            (0..w).any(|x| px.get_pixel(x, 8).0 != [255, 255, 255]),
            "title ink at the top"
        );
    }
}
