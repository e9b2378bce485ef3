//! The [`ImageDataGenerator`] and its checked builder: the augmentation and standardisation
//! settings, and what they do to one image.

use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::equalize::equalize_histogram;
use crate::augment::{self, AugmentParams, FillMode, Order, Sampling, Transform};
use crate::error::{Error, Result};

/// Keras's settings for random augmentation and rescaling; build one with
/// [`ImageDataGenerator::builder`], then read batches with [`flow_from_directory`](Self::flow_from_directory).
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataGenerator {
    rescale: Option<f32>,
    samplewise_center: bool,
    samplewise_std_normalization: bool,
    equalize_histogram: bool,
    augment: AugmentParams,
    sampling: Sampling,
    validation_split: f32,
}

impl Default for ImageDataGenerator {
    /// No rescaling, no augmentation, no validation split.
    fn default() -> Self {
        ImageDataGenerator {
            rescale: None,
            samplewise_center: false,
            samplewise_std_normalization: false,
            equalize_histogram: false,
            augment: AugmentParams::default(),
            sampling: Sampling::default(),
            validation_split: 0.0,
        }
    }
}

/// Collects [`ImageDataGenerator`] settings (Keras's keyword arguments); [`build`](Self::build) checks them.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageDataGeneratorBuilder {
    inner: ImageDataGenerator,
    zoom: Option<f32>,
}

impl ImageDataGeneratorBuilder {
    /// Multiplies every pixel (after augmentation), e.g. `1/255` for values in [0, 1].
    pub fn rescale(mut self, factor: f32) -> Self {
        self.inner.rescale = Some(factor);
        self
    }

    /// Subtracts each image's own mean (after rescaling), as Keras's `samplewise_center`.
    pub fn samplewise_center(mut self, on: bool) -> Self {
        self.inner.samplewise_center = on;
        self
    }

    /// Divides each image by its own standard deviation (after centring), as Keras's
    /// `samplewise_std_normalization`; evens out exposure differences between X-ray machines.
    pub fn samplewise_std_normalization(mut self, on: bool) -> Self {
        self.inner.samplewise_std_normalization = on;
        self
    }

    /// Equalizes each image's histogram before rescaling (scikit-image's
    /// `exposure.equalize_hist` with 256 bins, scaled back to 0..255): every grey level becomes
    /// the fraction of the image's pixels at or below it, which removes differences in exposure
    /// and contrast between X-ray machines. Not a Keras option.
    pub fn equalize_histogram(mut self, on: bool) -> Self {
        self.inner.equalize_histogram = on;
        self
    }

    /// Random rotations within `[-degrees, degrees]`.
    pub fn rotation_range(mut self, degrees: f32) -> Self {
        self.inner.augment.rotation_range = degrees;
        self
    }

    /// Random horizontal shifts: a fraction of the width if below 1, else pixels.
    pub fn width_shift_range(mut self, range: f32) -> Self {
        self.inner.augment.width_shift_range = range;
        self
    }

    /// Random vertical shifts: a fraction of the height if below 1, else pixels.
    pub fn height_shift_range(mut self, range: f32) -> Self {
        self.inner.augment.height_shift_range = range;
        self
    }

    /// Random shear within `[-degrees, degrees]` (Keras's shear intensity, in degrees).
    pub fn shear_range(mut self, degrees: f32) -> Self {
        self.inner.augment.shear_range = degrees;
        self
    }

    /// Random zoom within `[1 - z, 1 + z]`.
    pub fn zoom_range(mut self, z: f32) -> Self {
        self.zoom = Some(z);
        self
    }

    /// Random zoom within `[lo, hi]` (Keras's `zoom_range=[lo, hi]`).
    pub fn zoom_range_pair(mut self, lo: f32, hi: f32) -> Self {
        self.zoom = None;
        self.inner.augment.zoom_range = (lo, hi);
        self
    }

    /// Random left-right flips (probability 1/2).
    pub fn horizontal_flip(mut self, on: bool) -> Self {
        self.inner.augment.horizontal_flip = on;
        self
    }

    /// Random upside-down flips (probability 1/2).
    pub fn vertical_flip(mut self, on: bool) -> Self {
        self.inner.augment.vertical_flip = on;
        self
    }

    /// Random brightness factors within `[lo, hi]` (pixels clip at 255 before rescaling).
    pub fn brightness_range(mut self, lo: f32, hi: f32) -> Self {
        self.inner.augment.brightness_range = Some((lo, hi));
        self
    }

    /// Random gamma within `[lo, hi]`, drawn log-uniformly: each pixel becomes
    /// `255 (x / 255)^gamma` before rescaling, another exposure curve (not in Keras).
    pub fn gamma_range(mut self, lo: f32, hi: f32) -> Self {
        self.inner.augment.gamma_range = Some((lo, hi));
        self
    }

    /// What points outside the image take after a transform (Keras's `fill_mode` and `cval`).
    pub fn fill_mode(mut self, mode: FillMode) -> Self {
        self.inner.sampling.fill_mode = mode;
        self
    }

    /// Nearest or bilinear sampling for transforms (Keras's `interpolation_order`, default bilinear).
    pub fn interpolation_order(mut self, order: Order) -> Self {
        self.inner.sampling.order = order;
        self
    }

    /// Fraction of each class's files reserved for `Subset::Validation`, in `[0, 1)`.
    pub fn validation_split(mut self, fraction: f32) -> Self {
        self.inner.validation_split = fraction;
        self
    }

    /// Checks every setting and returns the generator, or `Error::InvalidArgument` naming the bad one.
    pub fn build(self) -> Result<ImageDataGenerator> {
        let mut generator = self.inner;
        if let Some(z) = self.zoom {
            if !(z.is_finite() && (0.0..1.0).contains(&z)) {
                return Err(Error::invalid("zoom_range", z, "a number in [0, 1)"));
            }
            generator.augment.zoom_range = (1.0 - z, 1.0 + z);
        }
        generator.augment.validate()?;
        if let Some(r) = generator.rescale {
            if !r.is_finite() || r == 0.0 {
                return Err(Error::invalid("rescale", r, "a finite, non-zero factor"));
            }
        }
        let v = generator.validation_split;
        if !(v.is_finite() && (0.0..1.0).contains(&v)) {
            return Err(Error::invalid(
                "validation_split",
                v,
                "a fraction in [0, 1)",
            ));
        }
        if let FillMode::Constant(cval) = generator.sampling.fill_mode {
            if !cval.is_finite() {
                return Err(Error::invalid("cval", cval, "a finite number"));
            }
        }
        Ok(generator)
    }
}

/// One random version of an image from [`ImageDataGenerator::augment_examples_with_transforms`]:
/// the transform drawn and the image it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct AugmentedExample {
    /// The random transform that was applied (angles in degrees, shifts in pixels).
    pub transform: Transform,
    /// The transformed image, standardized (rescaled) as a training batch holds it.
    pub image: Array2<f32>,
}

impl ImageDataGenerator {
    /// A builder with Keras's defaults (no augmentation, no rescaling).
    pub fn builder() -> ImageDataGeneratorBuilder {
        ImageDataGeneratorBuilder {
            inner: ImageDataGenerator::default(),
            zoom: None,
        }
    }

    /// The augmentation ranges.
    pub fn augment_params(&self) -> &AugmentParams {
        &self.augment
    }

    /// Fill mode, interpolation order and brightness clip of the transforms.
    pub fn sampling(&self) -> &Sampling {
        &self.sampling
    }

    /// The rescale factor, if any.
    pub fn rescale_factor(&self) -> Option<f32> {
        self.rescale
    }

    /// The fraction of each class kept for validation.
    pub fn validation_split(&self) -> f32 {
        self.validation_split
    }

    /// Draws a random transform for an image of `shape` (Keras's `get_random_transform`).
    pub fn random_transform<R: Rng + ?Sized>(
        &self,
        shape: (usize, usize),
        rng: &mut R,
    ) -> Transform {
        augment::random_transform(&self.augment, shape, rng)
    }

    /// `n` random versions of one grey image as a training batch would hold them (augmented,
    /// then rescaled), drawn from `seed`: for looking at what the augmentation does.
    pub fn augment_examples(&self, image: ArrayView2<u8>, n: usize, seed: u64) -> Vec<Array2<f32>> {
        self.augment_examples_with_transforms(image, n, seed)
            .into_iter()
            .map(|example| example.image)
            .collect()
    }

    /// [`augment_examples`](Self::augment_examples) with the transform drawn for each version
    /// (Keras's `get_random_transform` parameters), so that a figure can say what was applied:
    /// each image is `apply_transform` of the input with its transform, then `standardize`.
    /// The same `seed` gives the same images as `augment_examples`.
    pub fn augment_examples_with_transforms(
        &self,
        image: ArrayView2<u8>,
        n: usize,
        seed: u64,
    ) -> Vec<AugmentedExample> {
        let mut rng = StdRng::seed_from_u64(seed);
        let pixels = image.mapv(f32::from);
        (0..n)
            .map(|_| {
                let transform = self.random_transform(pixels.dim(), &mut rng);
                let mut out = self.apply_transform(pixels.view(), &transform);
                self.standardize(&mut out);
                AugmentedExample {
                    transform,
                    image: out,
                }
            })
            .collect()
    }

    /// One grey image after one fixed `transform` under each of Keras's fill modes, in the order
    /// nearest, constant, reflect, wrap, then standardized (rescaled) as this generator does:
    /// what the fill modes do with the pixels a transform uncovers. The constant is this
    /// generator's `cval` when its fill mode is a constant, else Keras's default 0. Everything
    /// else (interpolation order, rescaling) is this generator's.
    pub fn fill_mode_examples(
        &self,
        image: ArrayView2<u8>,
        transform: &Transform,
    ) -> Vec<(FillMode, Array2<f32>)> {
        let cval = match self.sampling.fill_mode {
            FillMode::Constant(cval) => cval,
            _ => 0.0,
        };
        let pixels = image.mapv(f32::from);
        [
            FillMode::Nearest,
            FillMode::Constant(cval),
            FillMode::Reflect,
            FillMode::Wrap,
        ]
        .into_iter()
        .map(|fill_mode| {
            let sampling = Sampling {
                fill_mode,
                ..self.sampling
            };
            let mut out = augment::apply_transform(pixels.view(), transform, &sampling);
            self.standardize(&mut out);
            (fill_mode, out)
        })
        .collect()
    }

    /// Applies a transform with this generator's fill mode and interpolation (pixels in 0..255).
    pub fn apply_transform(&self, image: ArrayView2<f32>, transform: &Transform) -> Array2<f32> {
        augment::apply_transform(image, transform, &self.sampling)
    }

    /// Equalizes the histogram when asked, applies the rescale factor, then per-image centring and scaling when asked, in place
    /// (Keras's `standardize`, with its 1e-6 guard against a flat image).
    pub fn standardize(&self, image: &mut Array2<f32>) {
        match image.as_slice_mut() {
            Some(values) => self.standardize_values(values),
            None => {
                let mut values: Vec<f32> = image.iter().copied().collect();
                self.standardize_values(&mut values);
                image.iter_mut().zip(values).for_each(|(o, v)| *o = v);
            }
        }
    }

    /// [`standardize`](Self::standardize) on one image's values in any order.
    pub(super) fn standardize_values(&self, values: &mut [f32]) {
        if self.equalize_histogram {
            equalize_histogram(values);
        }
        if let Some(r) = self.rescale {
            values.iter_mut().for_each(|v| *v *= r);
        }
        if self.samplewise_center || self.samplewise_std_normalization {
            let n = values.len().max(1) as f32;
            let mean = values.iter().sum::<f32>() / n;
            if self.samplewise_center {
                values.iter_mut().for_each(|v| *v -= mean);
            }
            if self.samplewise_std_normalization {
                let centre = if self.samplewise_center { 0.0 } else { mean };
                let var = values
                    .iter()
                    .map(|&v| (v - centre) * (v - centre))
                    .sum::<f32>()
                    / n;
                let scale = 1.0 / (var.sqrt() + 1e-6);
                values.iter_mut().for_each(|v| *v *= scale);
            }
        }
    }

    /// A mild augmenting generator, ready to adjust: rescale 1/255, rotations up to 20 degrees,
    /// shifts and zoom of up to 10%, horizontal flips, nearest fill, and `shear_range` 0.1, which
    /// is a tenth of a degree (Keras's unit), so practically no shear. These are this project's
    /// values: the tutorial motivates augmentation but gives no parameters.
    pub fn mild_augmentation_builder() -> ImageDataGeneratorBuilder {
        ImageDataGenerator::builder()
            .rescale(1.0 / 255.0)
            .rotation_range(20.0)
            .width_shift_range(0.1)
            .height_shift_range(0.1)
            .shear_range(0.1)
            .zoom_range(0.1)
            .horizontal_flip(true)
            .fill_mode(FillMode::Nearest)
    }

    /// [`mild_augmentation_builder`](Self::mild_augmentation_builder), built.
    pub fn mild_augmentation() -> ImageDataGenerator {
        Self::mild_augmentation_builder()
            .build()
            .expect("the mild augmentation's settings are all within their valid ranges")
    }

    /// Whether each image's histogram is equalized before rescaling.
    pub fn equalizes_histogram(&self) -> bool {
        self.equalize_histogram
    }

    /// Keras's `(samplewise_center, samplewise_std_normalization)` settings.
    pub fn samplewise(&self) -> (bool, bool) {
        (self.samplewise_center, self.samplewise_std_normalization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samplewise_standardisation_gives_zero_mean_unit_std() {
        let generator = ImageDataGenerator::builder()
            .rescale(1.0 / 255.0)
            .samplewise_center(true)
            .samplewise_std_normalization(true)
            .build()
            .unwrap();
        let mut image = Array2::from_shape_fn((8, 9), |(r, c)| (r * 30 + c * 3) as f32);
        generator.standardize(&mut image);
        let n = image.len() as f32;
        let mean = image.sum() / n;
        let std = (image.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n).sqrt();
        assert!(mean.abs() < 1e-5, "{mean}");
        assert!((std - 1.0).abs() < 1e-3, "{std}");
        let mut flat = Array2::from_elem((3, 3), 7.0f32);
        generator.standardize(&mut flat);
        // A flat image stays (nearly) flat: float rounding in the mean is divided by the 1e-6 guard.
        assert!(flat.iter().all(|v| v.is_finite() && v.abs() < 0.05));
    }

    #[test]
    fn histogram_equalization_undoes_a_contrast_change() {
        let generator = ImageDataGenerator::builder()
            .equalize_histogram(true)
            .rescale(1.0 / 255.0)
            .build()
            .unwrap();
        assert!(generator.equalizes_histogram());
        // One picture at two contrasts and exposures (every grey level stays distinct).
        let image = Array2::from_shape_fn((10, 12), |(r, c)| ((r * 7 + c * 13) % 101) as f32);
        let mut original = image.mapv(|v| v * 2.0);
        let mut flat = image.mapv(|v| v + 30.0);
        generator.standardize(&mut original);
        generator.standardize(&mut flat);
        assert_eq!(original, flat);
        assert!(original.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(original.iter().copied().fold(0.0f32, f32::max), 1.0);
    }

    #[test]
    fn augment_examples_are_seeded_rescaled_and_varied() {
        let image = Array2::from_shape_fn((12, 10), |(r, c)| (r * 20 + c) as u8);
        let plain = ImageDataGenerator::builder().rescale(0.5).build().unwrap();
        let same = plain.augment_examples(image.view(), 2, 1);
        assert_eq!(same[0], image.mapv(|v| f32::from(v) * 0.5));
        let rotating = ImageDataGenerator::builder()
            .rotation_range(30.0)
            .build()
            .unwrap();
        let a = rotating.augment_examples(image.view(), 3, 9);
        assert_eq!(a, rotating.augment_examples(image.view(), 3, 9));
        assert_ne!(a[0], a[1]);
        assert!(a.iter().all(|x| x.dim() == (12, 10)));
    }

    #[test]
    fn reported_transforms_are_the_ones_applied() {
        let image = Array2::from_shape_fn((16, 12), |(r, c)| (r * 13 + c * 7) as u8);
        let generator = ImageDataGenerator::mild_augmentation_builder()
            .brightness_range(0.7, 1.3)
            .vertical_flip(true)
            .build()
            .unwrap();
        let examples = generator.augment_examples_with_transforms(image.view(), 6, 5);
        // The same seed draws the same images as augment_examples.
        let images: Vec<_> = examples.iter().map(|e| e.image.clone()).collect();
        assert_eq!(images, generator.augment_examples(image.view(), 6, 5));
        let pixels = image.mapv(f32::from);
        for example in &examples {
            let mut again = generator.apply_transform(pixels.view(), &example.transform);
            generator.standardize(&mut again);
            assert_eq!(again, example.image, "{:?}", example.transform);
            assert!(example.transform.theta.abs() <= 20.0);
            assert!(example.transform.tx.abs() <= 0.1 * 12.0 + 1e-4);
            assert!(example.transform.ty.abs() <= 0.1 * 16.0 + 1e-4);
            assert!(example.transform.brightness.is_some());
        }
        // Six draws differ from one another.
        assert_ne!(examples[0].transform, examples[1].transform);
    }

    #[test]
    fn fill_mode_examples_differ_only_where_the_transform_uncovers_pixels() {
        let image = Array2::from_shape_fn((10, 10), |(r, c)| (100 + r * 10 + c) as u8);
        let generator = ImageDataGenerator::builder()
            .rescale(1.0 / 255.0)
            .fill_mode(FillMode::Constant(25.5))
            .build()
            .unwrap();
        // A shift of 3 columns: the input point is 3 columns right, so the last 3 columns are
        // uncovered.
        let shift = Transform {
            tx: 3.0,
            ..Transform::default()
        };
        let examples = generator.fill_mode_examples(image.view(), &shift);
        let modes: Vec<String> = examples.iter().map(|(m, _)| m.to_string()).collect();
        assert_eq!(modes, ["nearest", "constant, cval 25.5", "reflect", "wrap"]);
        let expected = |mode: FillMode| {
            let mut out = augment::apply_transform(
                image.mapv(f32::from).view(),
                &shift,
                &Sampling {
                    fill_mode: mode,
                    ..Sampling::default()
                },
            );
            generator.standardize(&mut out);
            out
        };
        for (mode, out) in &examples {
            assert_eq!(*out, expected(*mode), "{mode}");
            // The covered columns are the input's, rescaled, whatever the mode.
            assert_eq!(out[[4, 2]], f32::from(image[[4, 5]]) * (1.0 / 255.0));
        }
        // Uncovered: the constant is the generator's cval (rescaled), wrap starts over.
        let rescaled = |v: f32| v * (1.0 / 255.0);
        assert_eq!(examples[1].1[[4, 9]], rescaled(25.5));
        assert_eq!(examples[0].1[[4, 9]], rescaled(f32::from(image[[4, 9]])));
        assert_eq!(examples[3].1[[4, 9]], rescaled(f32::from(image[[4, 2]])));
    }
}
