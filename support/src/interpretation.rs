//! Where a binary classifier goes wrong, as fastai's `ClassificationInterpretation`: every
//! image's loss, and the misclassified images with the highest losses
//! ([`ClassificationInterpretation::top_losses`]) in a figure
//! ([`ClassificationInterpretation::plot_top_losses`]).
//!
//! An image's loss is its binary cross-entropy, `-ln p` for a class-1 image and `-ln (1 - p)`
//! for a class-0 one, with `p` clipped to `[1e-7, 1 - 1e-7]` as Keras does: the more confident
//! a wrong prediction, the higher its loss. An image is misclassified when `p >= threshold`
//! disagrees with its label (the rule of [`Predictions::misclassified`]).
//!
//! ```no_run
//! # let predictions: support::inference::Predictions = unimplemented!();
//! use support::interpretation::ClassificationInterpretation;
//! let interp = ClassificationInterpretation::new(&predictions, support::metrics::Threshold::new(0.48)?)?;
//! for top in interp.top_losses(4) {
//!     println!("{:?} {} p = {:.3}, loss {:.2}", top.mistake(), top.file.display(), top.probability, top.loss);
//! }
//! let fig = interp.plot_top_losses(12)?;
//! # Ok::<(), support::Error>(())
//! ```

use std::cmp::Ordering;
use std::path::PathBuf;

use ndarray::Array2;

use crate::error::{Error, Result};
use crate::explain::separating_decimals;
use crate::inference::Predictions;
use crate::metrics::Threshold;
use crate::plot::{image_grid_with, Figure, ImshowOptions};
use crate::resize::Interpolation;

/// Longest side, in pixels, of the images a top-losses figure reads (larger files are shrunk).
const SHOWN_SIDE: usize = 400;

/// Size of each panel's image in a top-losses figure, in pixels.
const CELL: u32 = 200;

/// The two ways a binary prediction can be wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mistake {
    /// Class 1 (e.g. PNEUMONIA) predicted as class 0: a missed case.
    FalseNegative,
    /// Class 0 (e.g. NORMAL) predicted as class 1: a false alarm.
    FalsePositive,
}

/// One misclassified image, from [`ClassificationInterpretation::top_losses`].
#[derive(Debug, Clone, PartialEq)]
pub struct TopLoss {
    /// The image file.
    pub file: PathBuf,
    /// Its true class, 0 or 1.
    pub truth: usize,
    /// The class predicted at the threshold, 0 or 1 (never `truth`).
    pub predicted: usize,
    /// The predicted probability of class 1.
    pub probability: f32,
    /// The image's binary cross-entropy (see the [module docs](self)).
    pub loss: f32,
}

impl TopLoss {
    /// Whether this is a false negative or a false positive.
    pub fn mistake(&self) -> Mistake {
        if self.truth == 1 {
            Mistake::FalseNegative
        } else {
            Mistake::FalsePositive
        }
    }
}

/// A binary classifier's predictions on labelled images at one decision threshold, with each
/// image's loss: fastai's `ClassificationInterpretation` for two classes.
#[derive(Debug, Clone)]
pub struct ClassificationInterpretation {
    class_names: [String; 2],
    threshold: Threshold,
    files: Vec<PathBuf>,
    labels: Vec<usize>,
    probs: Vec<f32>,
    losses: Vec<f32>,
}

/// Binary cross-entropy of probability `p` for an image of class `label`, clipped as Keras does.
fn binary_cross_entropy(label: usize, p: f32) -> f32 {
    crate::metrics::loss::binary_cross_entropy(label as f64, f64::from(p)) as f32
}

impl ClassificationInterpretation {
    /// Interprets `predictions` (e.g. from [`predict_directory`](crate::inference::predict_directory))
    /// at `threshold`. Refused with [`Error::InvalidArgument`]: no predictions, files, labels
    /// and probabilities of different lengths, a label other than 0 or 1, a probability outside
    /// [0, 1] (or NaN), more than two class names. Missing class names become "0" and "1".
    pub fn new(predictions: &Predictions, threshold: Threshold) -> Result<Self> {
        let n = predictions.files.len();
        if n == 0 {
            return Err(Error::invalid(
                "predictions",
                "none",
                "at least one predicted image",
            ));
        }
        if predictions.labels.len() != n || predictions.probs.len() != n {
            return Err(Error::invalid(
                "predictions",
                format!(
                    "{n} files, {} labels, {} probabilities",
                    predictions.labels.len(),
                    predictions.probs.len()
                ),
                "one label and one probability per file",
            ));
        }
        let labels = predictions
            .labels
            .iter()
            .enumerate()
            .map(|(i, &y)| match y {
                0.0 => Ok(0),
                1.0 => Ok(1),
                _ => Err(Error::invalid(
                    "labels",
                    format!("{y} at index {i}"),
                    "0 or 1",
                )),
            })
            .collect::<Result<Vec<usize>>>()?;
        if let Some(i) = predictions
            .probs
            .iter()
            .position(|p| !(0.0..=1.0).contains(p))
        {
            return Err(Error::invalid(
                "probs",
                format!("{} at index {i}", predictions.probs[i]),
                "probabilities in [0, 1]",
            ));
        }
        let names = &predictions.class_names;
        if names.len() > 2 {
            return Err(Error::invalid(
                "class_names",
                names.join(", "),
                "at most two classes",
            ));
        }
        let name = |i: usize| names.get(i).cloned().unwrap_or_else(|| i.to_string());
        let losses = labels
            .iter()
            .zip(&predictions.probs)
            .map(|(&y, &p)| binary_cross_entropy(y, p))
            .collect();
        Ok(ClassificationInterpretation {
            class_names: [name(0), name(1)],
            threshold,
            files: predictions.files.clone(),
            labels,
            probs: predictions.probs.clone(),
            losses,
        })
    }

    /// The decision threshold: an image is predicted class 1 when its probability is at least this.
    pub fn threshold(&self) -> Threshold {
        self.threshold
    }

    /// The names of class 0 and class 1.
    pub fn class_names(&self) -> &[String; 2] {
        &self.class_names
    }

    /// Every image's loss, in the predictions' file order.
    pub fn losses(&self) -> &[f32] {
        &self.losses
    }

    /// The class predicted for image `i` at the threshold.
    fn predicted(&self, i: usize) -> usize {
        usize::from(self.threshold.predicts_positive(self.probs[i]))
    }

    /// Indices of the misclassified images of one kind, highest loss first (ties in file order).
    fn mistakes(&self, kind: Mistake) -> Vec<usize> {
        let truth = match kind {
            Mistake::FalseNegative => 1,
            Mistake::FalsePositive => 0,
        };
        let mut found: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.labels[i] == truth && self.predicted(i) != truth)
            .collect();
        found.sort_by(|&a, &b| self.by_loss(a, b));
        found
    }

    /// Highest loss first; equal losses in file order.
    fn by_loss(&self, a: usize, b: usize) -> Ordering {
        self.losses[b].total_cmp(&self.losses[a]).then(a.cmp(&b))
    }

    /// How many images are misclassified, of each kind: (false negatives, false positives).
    pub fn mistake_counts(&self) -> (usize, usize) {
        (
            self.mistakes(Mistake::FalseNegative).len(),
            self.mistakes(Mistake::FalsePositive).len(),
        )
    }

    /// Up to `k` misclassified images with the highest losses, both kinds represented, highest
    /// loss first (equal losses in file order).
    ///
    /// The rule: each kind (false negatives, false positives) first gets its `k / 2` (rounded
    /// down) highest-loss images, or all it has if fewer; the slots left (one when `k` is odd,
    /// more when a kind runs out) go to the highest-loss images not yet chosen, of either kind.
    /// So with enough mistakes of both kinds each kind gets at least `k / 2`, and fewer than `k`
    /// images come back only when fewer than `k` are misclassified.
    pub fn top_losses(&self, k: usize) -> Vec<TopLoss> {
        let half = k / 2;
        let negatives = self.mistakes(Mistake::FalseNegative);
        let positives = self.mistakes(Mistake::FalsePositive);
        let (n_neg, n_pos) = (negatives.len().min(half), positives.len().min(half));
        let mut chosen: Vec<usize> = negatives[..n_neg]
            .iter()
            .chain(&positives[..n_pos])
            .copied()
            .collect();
        let mut rest: Vec<usize> = negatives[n_neg..]
            .iter()
            .chain(&positives[n_pos..])
            .copied()
            .collect();
        rest.sort_by(|&a, &b| self.by_loss(a, b));
        chosen.extend(rest.into_iter().take(k - chosen.len().min(k)));
        chosen.sort_by(|&a, &b| self.by_loss(a, b));
        chosen
            .into_iter()
            .map(|i| TopLoss {
                file: self.files[i].clone(),
                truth: self.labels[i],
                predicted: self.predicted(i),
                probability: self.probs[i],
                loss: self.losses[i],
            })
            .collect()
    }

    /// A panel title for one top loss: truth and prediction, probability (with `decimals`) and
    /// loss, file name.
    fn panel_title(&self, top: &TopLoss, decimals: usize) -> String {
        let file = top.file.file_name().map_or_else(
            || top.file.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        format!(
            "true {}, predicted {}\np({}) = {:.decimals$}, loss {:.2}\n{file}",
            self.class_names[top.truth],
            self.class_names[top.predicted],
            self.class_names[1],
            top.probability,
            top.loss
        )
    }

    /// The figure's title: the threshold (with `decimals`), and how many of each kind of
    /// mistake are shown out of how many (each kind gets its share first, so the images shown
    /// are not simply the highest losses overall).
    fn figure_title(&self, shown: &[TopLoss], decimals: usize) -> String {
        let (all_neg, all_pos) = self.mistake_counts();
        let neg = shown
            .iter()
            .filter(|t| t.mistake() == Mistake::FalseNegative)
            .count();
        let pos = shown.len() - neg;
        format!(
            "Top losses at threshold {:.decimals$}: the highest-loss mistakes of each kind\n\
             {neg} of {all_neg} false negatives (true {}), {pos} of {all_pos} false positives (true {})",
            self.threshold,
            self.class_names[1],
            self.class_names[0],
        )
    }

    /// fastai's `plot_top_losses`: the images of [`top_losses(k)`](Self::top_losses) in a grid,
    /// highest loss first, each titled with its true and predicted class, the probability of
    /// class 1, its loss and its file name; the figure's title states the threshold and how many
    /// false negatives and false positives are shown out of how many. Files are read again
    /// (shrunk to 400 px when larger); one that cannot be read is an error naming it. `k` of 0,
    /// or a threshold at which no image is misclassified, is an [`Error::InvalidArgument`].
    pub fn plot_top_losses(&self, k: usize) -> Result<Figure> {
        if k == 0 {
            return Err(Error::invalid("k", 0, "at least one image to show"));
        }
        let shown = self.top_losses(k);
        if shown.is_empty() {
            return Err(Error::invalid(
                "threshold",
                self.threshold,
                format!(
                    "a threshold at which some of the {} images are misclassified (none are)",
                    self.files.len()
                ),
            ));
        }
        let images = shown
            .iter()
            .map(|top| read_shrunk(&top.file))
            .collect::<Result<Vec<_>>>()?;
        // Enough decimals that no probability prints equal to the threshold it differs from.
        let decimals =
            separating_decimals(self.threshold.get(), shown.iter().map(|t| t.probability));
        let titles: Vec<String> = shown
            .iter()
            .map(|t| self.panel_title(t, decimals))
            .collect();
        let columns = (shown.len() as f64).sqrt().ceil() as usize;
        let options = ImshowOptions::new()
            .axes(false)
            .size(CELL)
            .title(self.figure_title(&shown, decimals));
        image_grid_with(&images, &titles, columns, &options)
    }
}

/// Reads an image file as grey values in [0, 1], shrunk (area average, aspect kept) so that
/// its longer side is at most [`SHOWN_SIDE`].
fn read_shrunk(file: &std::path::Path) -> Result<Array2<f32>> {
    let grey = crate::imread::imread(file)?;
    let (h, w) = grey.dim();
    let longer = h.max(w);
    let grey = if longer > SHOWN_SIDE {
        let scale = SHOWN_SIDE as f64 / longer as f64;
        let fit = |n: usize| ((n as f64 * scale).round() as usize).max(1);
        crate::resize::resize_with(grey.view(), (fit(h), fit(w)), Interpolation::Area)?
    } else {
        grey
    };
    Ok(grey.mapv(|v| f32::from(v) / 255.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Predictions from (label, probability) pairs, files named `f<i>.jpeg`.
    fn predictions(pairs: &[(f32, f32)]) -> Predictions {
        Predictions::binary(
            ["NORMAL", "PNEUMONIA"],
            (0..pairs.len())
                .map(|i| PathBuf::from(format!("f{i}.jpeg")))
                .collect(),
            pairs.iter().map(|p| p.0).collect(),
            pairs.iter().map(|p| p.1).collect(),
        )
        .unwrap()
    }

    fn names(tops: &[TopLoss]) -> Vec<String> {
        tops.iter().map(|t| t.file.display().to_string()).collect()
    }

    #[test]
    fn losses_are_binary_cross_entropy_clipped_like_keras() {
        let interp = ClassificationInterpretation::new(
            &predictions(&[(1.0, 0.8), (0.0, 0.8), (1.0, 0.0)]),
            Threshold::HALF,
        )
        .unwrap();
        let l = interp.losses();
        assert!((l[0] - -(0.8f32.ln())).abs() < 1e-6);
        assert!((l[1] - -(0.2f32.ln())).abs() < 1e-5);
        // p = 0 for a positive: clipped to 1e-7, loss ln(1e7).
        assert!((f64::from(l[2]) - 1e7f64.ln()).abs() < 1e-4);
        assert_eq!(interp.threshold(), Threshold::HALF);
        assert_eq!(
            interp.class_names(),
            &["NORMAL".to_string(), "PNEUMONIA".to_string()]
        );
    }

    #[test]
    fn top_losses_mix_both_kinds_highest_loss_first() {
        // False negatives: f0 (p 0.1), f1 (p 0.3), f2 (p 0.05); false positives: f3 (p 0.9),
        // f4 (p 0.6), f5 (p 0.99), f6 (p 0.7); right: f7, f8.
        let p = predictions(&[
            (1.0, 0.1),
            (1.0, 0.3),
            (1.0, 0.05),
            (0.0, 0.9),
            (0.0, 0.6),
            (0.0, 0.99),
            (0.0, 0.7),
            (1.0, 0.9),
            (0.0, 0.1),
        ]);
        let interp = ClassificationInterpretation::new(&p, Threshold::HALF).unwrap();
        assert_eq!(interp.mistake_counts(), (3, 4));
        // k = 4: two of each kind, the highest-loss ones, sorted by loss overall.
        let top = interp.top_losses(4);
        assert_eq!(names(&top), ["f5.jpeg", "f2.jpeg", "f0.jpeg", "f3.jpeg"]);
        assert!(top.windows(2).all(|w| w[0].loss >= w[1].loss));
        let kinds: Vec<Mistake> = top.iter().map(TopLoss::mistake).collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|&&k| k == Mistake::FalseNegative)
                .count(),
            2
        );
        assert_eq!(top[1].truth, 1);
        assert_eq!(top[1].predicted, 0);
        assert_eq!(top[1].probability, 0.05);
        // k = 5: the odd slot goes to the highest loss left, of either kind: f1 (-ln 0.3) and
        // f6 (-ln (1 - 0.7)) tie exactly in f32, and the tie goes to file order.
        assert_eq!(interp.losses()[1], interp.losses()[6]);
        let top = interp.top_losses(5);
        assert_eq!(
            names(&top),
            ["f5.jpeg", "f2.jpeg", "f0.jpeg", "f3.jpeg", "f1.jpeg"]
        );
        // k = 8: false negatives run out at 3; false positives fill the rest (all 4).
        let top = interp.top_losses(8);
        assert_eq!(top.len(), 7, "only 7 images are misclassified");
        // k = 6 with one kind short: 3 negatives (all), 3 positives.
        let top = interp.top_losses(6);
        let negatives = top
            .iter()
            .filter(|t| t.mistake() == Mistake::FalseNegative)
            .count();
        assert_eq!((negatives, top.len() - negatives), (3, 3));
        assert!(interp.top_losses(0).is_empty());
    }

    #[test]
    fn a_kind_that_runs_out_leaves_its_slots_to_the_other() {
        // One false negative (low loss), five false positives.
        let mut pairs = vec![(1.0, 0.45)];
        pairs.extend([0.95, 0.9, 0.8, 0.7, 0.6].map(|p| (0.0, p)));
        let interp =
            ClassificationInterpretation::new(&predictions(&pairs), Threshold::HALF).unwrap();
        let top = interp.top_losses(4);
        // 1 negative (all there is) and 3 positives, the false negative last by loss.
        assert_eq!(names(&top), ["f1.jpeg", "f2.jpeg", "f3.jpeg", "f0.jpeg"]);
        // Without the k / 2 guarantee the false negative (loss 0.80) would lose to f4 (1.20).
        assert!(top[3].loss < interp.losses()[4]);
    }

    #[test]
    fn the_threshold_decides_what_is_misclassified() {
        // p exactly at the threshold predicts class 1, as Predictions::misclassified does.
        let p = predictions(&[(0.0, 0.4), (1.0, 0.4), (1.0, 0.39)]);
        let at = ClassificationInterpretation::new(&p, Threshold::new(0.4).unwrap()).unwrap();
        // f2 (missed at p 0.39, loss 0.94) before f0 (false alarm at p 0.4, loss 0.51).
        assert_eq!(names(&at.top_losses(10)), ["f2.jpeg", "f0.jpeg"]);
        assert_eq!(at.mistake_counts(), (1, 1));
        let misclassified: Vec<PathBuf> = p
            .misclassified(Threshold::new(0.4).unwrap())
            .into_iter()
            .map(|m| m.0)
            .collect();
        let mut ours: Vec<PathBuf> = at.top_losses(10).into_iter().map(|t| t.file).collect();
        ours.sort();
        assert_eq!(ours, misclassified);
        // A lower threshold: both positives right, the negative wrong.
        let low = ClassificationInterpretation::new(&p, Threshold::new(0.3).unwrap()).unwrap();
        assert_eq!(names(&low.top_losses(10)), ["f0.jpeg"]);
        // Threshold 0: every negative is a false positive; 1: every positive below 1 is missed.
        let zero = ClassificationInterpretation::new(&p, Threshold::new(0.0).unwrap()).unwrap();
        assert_eq!(zero.mistake_counts(), (0, 1));
        let one = ClassificationInterpretation::new(&p, Threshold::new(1.0).unwrap()).unwrap();
        assert_eq!(one.mistake_counts(), (2, 0));
    }

    #[test]
    fn bad_input_is_refused() {
        let good = predictions(&[(0.0, 0.2), (1.0, 0.7)]);
        // A threshold outside [0, 1] cannot reach `new`: it is refused where it is made.
        for t in [f32::NAN, -0.01, 1.01, f32::INFINITY] {
            assert!(matches!(
                Threshold::new(t),
                Err(Error::InvalidArgument {
                    name: "threshold",
                    ..
                })
            ));
        }
        let empty = predictions(&[]);
        assert!(matches!(
            ClassificationInterpretation::new(&empty, Threshold::HALF),
            Err(Error::InvalidArgument {
                name: "predictions",
                ..
            })
        ));
        let mut short = predictions(&[(0.0, 0.2), (1.0, 0.7)]);
        short.probs.pop();
        assert!(matches!(
            ClassificationInterpretation::new(&short, Threshold::HALF),
            Err(Error::InvalidArgument {
                name: "predictions",
                ..
            })
        ));
        let odd_label = predictions(&[(0.5, 0.2)]);
        assert!(matches!(
            ClassificationInterpretation::new(&odd_label, Threshold::HALF),
            Err(Error::InvalidArgument { name: "labels", .. })
        ));
        for bad in [f32::NAN, 1.5, -0.5] {
            let bad_prob = predictions(&[(0.0, bad)]);
            assert!(matches!(
                ClassificationInterpretation::new(&bad_prob, Threshold::HALF),
                Err(Error::InvalidArgument { name: "probs", .. })
            ));
        }
        let mut three = predictions(&[(0.0, 0.2)]);
        three.class_names.push("COVID".into());
        assert!(matches!(
            ClassificationInterpretation::new(&three, Threshold::HALF),
            Err(Error::InvalidArgument {
                name: "class_names",
                ..
            })
        ));
        // Nothing misclassified, or k = 0: no figure, a typed error.
        let right = ClassificationInterpretation::new(&good, Threshold::HALF).unwrap();
        assert!(matches!(
            right.plot_top_losses(4),
            Err(Error::InvalidArgument {
                name: "threshold",
                ..
            })
        ));
        assert!(matches!(
            right.plot_top_losses(0),
            Err(Error::InvalidArgument { name: "k", .. })
        ));
        // A file that cannot be read names itself.
        let wrong = ClassificationInterpretation::new(&good, Threshold::new(0.1).unwrap()).unwrap();
        assert!(matches!(wrong.plot_top_losses(4), Err(Error::Io { .. })));
    }

    /// The shipped sample's test files, with made-up probabilities.
    fn sample_predictions() -> Predictions {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/chest_xray/test");
        let mut files = Vec::new();
        let mut labels = Vec::new();
        for (label, class) in ["NORMAL", "PNEUMONIA"].iter().enumerate() {
            for f in crate::dataset::list_images(dir.join(class), false).unwrap() {
                files.push(f);
                labels.push(label as f32);
            }
        }
        // Scores that put some of each class on the wrong side of 0.5.
        let probs = (0..files.len())
            .map(|i| ((i * 37 % 101) as f32 / 100.0).clamp(0.0, 1.0))
            .collect();
        Predictions::binary(["NORMAL", "PNEUMONIA"], files, labels, probs).unwrap()
    }

    #[test]
    fn plot_top_losses_titles_every_panel_and_states_the_threshold() {
        let p = sample_predictions();
        let interp = ClassificationInterpretation::new(&p, Threshold::HALF).unwrap();
        let top = interp.top_losses(6);
        assert_eq!(top.len(), 6);
        let fig = interp.plot_top_losses(6).unwrap();
        let px = image::load_from_memory(fig.png_bytes()).unwrap().to_rgb8();
        let (w, h) = fig.size();
        let white = [255u8, 255, 255];
        let inked = |x: std::ops::Range<u32>, y: std::ops::Range<u32>| {
            y.flat_map(|yy| x.clone().map(move |xx| (xx, yy)))
                .filter(|&(xx, yy)| px.get_pixel(xx, yy).0 != white)
                .count()
        };
        // Two title lines at 18 px, then 2 rows of 3 cells with 3-line titles.
        let suptitle_h = (2.0f64 * 18.0 * 1.2).ceil() as u32 + 6;
        assert!(inked(0..w, 0..suptitle_h) > 400, "figure title");
        let cell_h = (h - suptitle_h) / 2;
        let cell_title_h = (3.0f64 * 14.0 * 1.2).ceil() as u32 + 6;
        for row in 0..2 {
            let y0 = suptitle_h + row * cell_h;
            // Across the middle of the row's images: three runs of X-ray pixels (a few white
            // pixels inside an X-ray do not split it), each about 200 px wide.
            let mid = y0 + cell_title_h + 100;
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for x in (0..w).filter(|&x| px.get_pixel(x, mid).0 != white) {
                match runs.last_mut() {
                    Some(run) if x <= run.1 + 6 => run.1 = x,
                    _ => runs.push((x, x)),
                }
            }
            assert_eq!(runs.len(), 3, "three images in row {row}: {runs:?}");
            for &(a, b) in &runs {
                assert!((190..=230).contains(&(b - a + 1)), "{runs:?}");
                // Each of the three title lines above the image has ink.
                for line in 0..3 {
                    let y = y0 + 4 + line * 17;
                    assert!(
                        inked(a.saturating_sub(30)..(b + 30).min(w), y..y + 14) > 30,
                        "title line {line} above the image at x {a}..{b}, row {row}"
                    );
                }
            }
        }
        // The titles say what the panels show, in loss order.
        let title = interp.panel_title(&top[0], 3);
        let lines: Vec<&str> = title.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("true "), "{title}");
        assert!(lines[1].starts_with("p(PNEUMONIA) = "), "{title}");
        assert_eq!(lines[2], top[0].file.file_name().unwrap().to_string_lossy());
        let heading = interp.figure_title(&top, 3);
        assert!(heading.contains("threshold 0.500"), "{heading}");
        assert!(heading.contains("3 of"), "{heading}");
    }
}
