//! A Keras-like `ImageDataGenerator`: batches of grey images and labels read from class folders,
//! decoded on demand, resized, optionally augmented and rescaled.
//!
//! ```no_run
//! use support::generator::{FlowOptions, ImageDataGenerator, Subset};
//! # fn main() -> support::Result<()> {
//! let datagen = ImageDataGenerator::builder()
//!     .rescale(1.0 / 255.0)
//!     .rotation_range(20.0)
//!     .horizontal_flip(true)
//!     .validation_split(0.2)
//!     .build()?;
//! let mut train = datagen.flow_from_directory(
//!     "data/chest_xray/train",
//!     FlowOptions::default().target_size(130, 130).seed(1).subset(Subset::Training),
//! )?; // prints "Found N images belonging to 2 classes."
//! for batch in train.epoch() {
//!     assert_eq!(batch.x.shape()[1..], [130, 130, 1]);
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Like Keras: classes are the sorted subfolders, files are sorted, `subset` takes per class the
//! first `validation_split` fraction of files for validation and the rest for training, the last
//! batch of an epoch may be smaller, and the iterator runs epochs forever, each visiting every
//! file exactly once (in a fresh order with `shuffle`). Unlike Keras, everything random (the
//! order and each image's augmentation) is a pure function of `(seed, epoch, file index)`, so the
//! same seed gives the same batches whatever the thread scheduling.
//!
//! Batches are built in parallel (rayon) by a background thread that keeps at most `prefetch`
//! batches ready; memory stays bounded and dropping the iterator stops the thread. A file that
//! cannot be read or decoded is skipped: its batch is one image shorter, the file is listed in
//! [`DirectoryIterator::skipped`] once, and one summary line per epoch goes to stderr. With
//! `strict` the first such file is an error instead ([`DirectoryIterator::try_next_batch`]).
//! Files whose header does not parse are dropped when the iterator is made (so `samples` counts
//! only files that look like images); files that fail later, while decoding, keep their place in
//! `samples` and shorten their batch every epoch.
//!
//! The pipeline per image follows Keras's `load_img` + `apply_transform` + `standardize`: decode
//! to grey (PIL's `L`), resize to `target_size` ([`crate::resize::resize_with`], PIL's filters),
//! augment in 0..255 ([`crate::augment`]), then multiply by `rescale`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;

use ndarray::{Array1, Array2, Array4, ArrayView2};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use crate::augment::{self, AugmentParams, FillMode, Order, Sampling, Transform};
use crate::dataset;
use crate::error::{skipped_summary, Error, Result, Skipped};
use crate::imread;
pub use crate::resize::Interpolation;

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

/// The channels of the images a generator yields (Keras's `color_mode`). Only `Grayscale`:
/// chest X-rays are grey and the network reads one channel, so Keras's `rgb` (its default) and
/// `rgba` are not offered; a colour file is converted to grey as PIL's `convert('L')` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// One channel, PIL's `convert('L')`.
    Grayscale,
}

/// What `Batch::y` holds (Keras's `class_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassMode {
    /// 0/1 labels for two classes.
    Binary,
    /// The class index, as a float.
    Sparse,
    /// No labels: `y` is empty (Keras's `class_mode=None`).
    None,
}

/// Which part of a `validation_split` to read (Keras's `subset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subset {
    /// Each class's files after the first `validation_split` fraction.
    Training,
    /// Each class's first `validation_split` fraction of files.
    Validation,
}

/// Options of [`ImageDataGenerator::flow_from_directory`], with Keras's defaults; chain the
/// setters, e.g. `FlowOptions::default().target_size(130, 130).seed(1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct FlowOptions {
    /// (height, width) every image is resized to; Keras's default (256, 256).
    pub target_size: (usize, usize),
    /// Grey (the only mode produced) or RGB (refused).
    pub color_mode: ColorMode,
    /// Class subfolders to read, in label order; `None`: all subfolders, sorted.
    pub classes: Option<Vec<String>>,
    /// What the labels are.
    pub class_mode: ClassMode,
    /// Images per batch (the last batch of an epoch may hold fewer).
    pub batch_size: usize,
    /// Reshuffle the order every epoch.
    pub shuffle: bool,
    /// Seed of the order and the augmentation; `None` draws one at random.
    pub seed: Option<u64>,
    /// Enter symlinked folders.
    pub follow_links: bool,
    /// Read one part of the generator's `validation_split`; `None`: all files.
    pub subset: Option<Subset>,
    /// How images are resized to `target_size` (Keras's default: nearest).
    pub interpolation: Interpolation,
    /// Batches built ahead by a background thread; 0 builds each batch when asked.
    pub prefetch: usize,
    /// Keep each decoded, resized grey image in memory after its first use.
    pub cache_in_memory: bool,
    /// Fail on the first unreadable file instead of skipping it.
    pub strict: bool,
    /// Print "Found N images belonging to K classes." as Keras does.
    pub verbose: bool,
}

impl Default for FlowOptions {
    /// Keras's defaults (target 256x256, batches of 32, shuffled) in grey, binary labels,
    /// 2 batches prefetched.
    fn default() -> Self {
        FlowOptions {
            target_size: (256, 256),
            color_mode: ColorMode::Grayscale,
            classes: None,
            class_mode: ClassMode::Binary,
            batch_size: 32,
            shuffle: true,
            seed: None,
            follow_links: false,
            subset: None,
            interpolation: Interpolation::Nearest,
            prefetch: 2,
            cache_in_memory: false,
            strict: false,
            verbose: true,
        }
    }
}

impl FlowOptions {
    /// Sets `target_size` to (height, width).
    pub fn target_size(mut self, height: usize, width: usize) -> Self {
        self.target_size = (height, width);
        self
    }

    /// Sets `color_mode`.
    pub fn color_mode(mut self, mode: ColorMode) -> Self {
        self.color_mode = mode;
        self
    }

    /// Sets the class subfolders to read, in label order.
    pub fn classes(mut self, classes: Vec<String>) -> Self {
        self.classes = Some(classes);
        self
    }

    /// Sets `class_mode`.
    pub fn class_mode(mut self, mode: ClassMode) -> Self {
        self.class_mode = mode;
        self
    }

    /// Sets `batch_size`.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// Sets `shuffle`.
    pub fn shuffle(mut self, shuffle: bool) -> Self {
        self.shuffle = shuffle;
        self
    }

    /// Sets the seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Sets `follow_links`.
    pub fn follow_links(mut self, follow: bool) -> Self {
        self.follow_links = follow;
        self
    }

    /// Reads one part of the validation split.
    pub fn subset(mut self, subset: Subset) -> Self {
        self.subset = Some(subset);
        self
    }

    /// Sets the resize interpolation.
    pub fn interpolation(mut self, interpolation: Interpolation) -> Self {
        self.interpolation = interpolation;
        self
    }

    /// Sets how many batches are built ahead (0: none, built on request).
    pub fn prefetch(mut self, batches: usize) -> Self {
        self.prefetch = batches;
        self
    }

    /// Keeps decoded, resized images in memory after first use.
    pub fn cache_in_memory(mut self, on: bool) -> Self {
        self.cache_in_memory = on;
        self
    }

    /// Fails on the first unreadable file instead of skipping it.
    pub fn strict(mut self, on: bool) -> Self {
        self.strict = on;
        self
    }

    /// Prints the "Found ..." line (or not).
    pub fn verbose(mut self, on: bool) -> Self {
        self.verbose = on;
        self
    }

    fn validate(&self, class_count: usize) -> Result<()> {
        let (h, w) = self.target_size;
        if h == 0 || w == 0 {
            return Err(Error::invalid(
                "target_size",
                format!("({h}, {w})"),
                "a height and width of at least 1",
            ));
        }
        if self.batch_size == 0 {
            return Err(Error::invalid("batch_size", 0, "at least 1"));
        }
        if self.class_mode == ClassMode::Binary && class_count > 2 {
            return Err(Error::invalid(
                "class_mode",
                format!("binary with {class_count} classes"),
                "at most 2 classes for binary labels (use ClassMode::Sparse)",
            ));
        }
        Ok(())
    }
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
    fn standardize_values(&self, values: &mut [f32]) {
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

    /// Reads batches from `directory`'s class subfolders (Keras's `flow_from_directory`).
    /// Lists and header-checks the files, prints "Found N images belonging to K classes." and
    /// returns an iterator that decodes on demand.
    pub fn flow_from_directory(
        &self,
        directory: impl AsRef<Path>,
        options: FlowOptions,
    ) -> Result<DirectoryIterator> {
        let directory = directory.as_ref();
        let scan =
            dataset::scan_classes(directory, options.classes.as_deref(), options.follow_links)?;
        let relative: Vec<PathBuf> = scan
            .files
            .iter()
            .map(|p| p.strip_prefix(directory).unwrap_or(p).to_path_buf())
            .collect();
        self.flow(scan.files, relative, scan.labels, scan.class_names, options)
    }

    /// Reads batches from an explicit list of files and labels (indices into `class_names`),
    /// e.g. a by-patient validation split. `subset` splits each class's files in the given order.
    pub fn flow_from_files(
        &self,
        files: Vec<PathBuf>,
        labels: Vec<usize>,
        class_names: Vec<String>,
        options: FlowOptions,
    ) -> Result<DirectoryIterator> {
        if files.len() != labels.len() {
            return Err(Error::invalid(
                "labels",
                format!("{} labels", labels.len()),
                format!("one label per file ({} files)", files.len()),
            ));
        }
        if let Some(&bad) = labels.iter().find(|&&l| l >= class_names.len()) {
            return Err(Error::invalid(
                "labels",
                bad,
                format!(
                    "a class index below {} (the number of class names)",
                    class_names.len()
                ),
            ));
        }
        let names = files.clone();
        self.flow(files, names, labels, class_names, options)
    }

    fn flow(
        &self,
        paths: Vec<PathBuf>,
        filenames: Vec<PathBuf>,
        labels: Vec<usize>,
        class_names: Vec<String>,
        options: FlowOptions,
    ) -> Result<DirectoryIterator> {
        options.validate(class_names.len())?;
        if options.subset == Some(Subset::Validation) && self.validation_split == 0.0 {
            return Err(Error::invalid(
                "subset",
                "validation",
                "a generator built with validation_split > 0",
            ));
        }
        let keep = subset_indices(
            &labels,
            class_names.len(),
            self.validation_split,
            options.subset,
        );
        // A cheap header check drops files that are not images before any batch is built.
        let checks: Vec<Option<Error>> = keep
            .par_iter()
            .map(|&i| imread::image_dims(&paths[i]).err())
            .collect();
        let mut skipped = Vec::new();
        let mut kept = Vec::with_capacity(keep.len());
        for (&i, check) in keep.iter().zip(checks) {
            match check {
                None => kept.push(i),
                Some(error) if options.strict => return Err(error),
                Some(error) => skipped.push(Skipped {
                    path: paths[i].clone(),
                    error,
                }),
            }
        }
        let files: Vec<PathBuf> = kept.iter().map(|&i| paths[i].clone()).collect();
        let filenames: Vec<PathBuf> = kept.iter().map(|&i| filenames[i].clone()).collect();
        let classes: Vec<usize> = kept.iter().map(|&i| labels[i]).collect();
        if options.verbose {
            println!(
                "{}",
                found_line(files.len(), class_names.len(), skipped.len())
            );
        }
        if let Some(line) = skipped_summary(&skipped) {
            eprintln!("{line}");
        }
        let seed = options.seed.unwrap_or_else(|| rand::thread_rng().gen());
        let cache = options
            .cache_in_memory
            .then(|| (0..files.len()).map(|_| OnceLock::new()).collect());
        let source = Source {
            files,
            labels: classes.clone(),
            target: options.target_size,
            interpolation: options.interpolation,
            generator: self.clone(),
            class_mode: options.class_mode,
            seed,
            shuffle: options.shuffle,
            batch_size: options.batch_size,
            strict: options.strict,
            cache,
        };
        let reported = skipped.iter().map(|s| s.path.clone()).collect();
        let epoch_skip_start = skipped.len();
        Ok(DirectoryIterator {
            source: Arc::new(source),
            class_indices: class_names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i))
                .collect(),
            class_names,
            filenames,
            classes,
            prefetch: options.prefetch,
            epoch: 0,
            batch_index: 0,
            order: None,
            worker: None,
            skipped,
            reported,
            epoch_skip_start,
            error: None,
        })
    }
}

/// Keras's "Found N images belonging to K classes." line, saying how many files were skipped
/// as unreadable when any were.
pub fn found_line(images: usize, classes: usize, skipped: usize) -> String {
    match skipped {
        0 => format!("Found {images} images belonging to {classes} classes."),
        1 => format!(
            "Found {images} images belonging to {classes} classes (1 file skipped as unreadable)."
        ),
        n => format!(
            "Found {images} images belonging to {classes} classes ({n} files skipped as unreadable)."
        ),
    }
}

/// Which of `labels` a subset keeps: per class, Keras's `[int(a n), int(b n))` of its files.
fn subset_indices(
    labels: &[usize],
    class_count: usize,
    validation_split: f32,
    subset: Option<Subset>,
) -> Vec<usize> {
    let Some(subset) = subset else {
        return (0..labels.len()).collect();
    };
    let split = f64::from(validation_split);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); class_count];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l].push(i);
    }
    let mut keep = Vec::new();
    for members in by_class {
        let n = members.len();
        let cut = (split * n as f64) as usize;
        match subset {
            Subset::Validation => keep.extend_from_slice(&members[..cut]),
            Subset::Training => keep.extend_from_slice(&members[cut..]),
        }
    }
    keep.sort_unstable();
    keep
}

/// One batch: images `(n, height, width, 1)`, labels `(n,)` and the files they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Images, shape (n, height, width, 1).
    pub x: Array4<f32>,
    /// Labels, shape (n,) (empty with `ClassMode::None`).
    pub y: Array1<f32>,
    /// The file of each image.
    pub files: Vec<PathBuf>,
    /// Each image's index into the iterator's `filenames` and `classes`.
    pub indices: Vec<usize>,
}

impl Batch {
    /// Number of images.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when the batch holds no image.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// What the batches are built from, shared with the background thread.
struct Source {
    files: Vec<PathBuf>,
    labels: Vec<usize>,
    target: (usize, usize),
    interpolation: Interpolation,
    generator: ImageDataGenerator,
    class_mode: ClassMode,
    seed: u64,
    shuffle: bool,
    batch_size: usize,
    strict: bool,
    cache: Option<Vec<OnceLock<Array2<u8>>>>,
}

/// A built batch and the files it had to leave out.
struct Built {
    epoch: u64,
    batch_index: usize,
    batch: Result<Batch>,
    skipped: Vec<Skipped>,
}

impl Source {
    fn batches_per_epoch(&self) -> usize {
        self.files.len().div_ceil(self.batch_size)
    }

    /// The visiting order of one epoch: sorted, or a permutation drawn from (seed, epoch).
    fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.files.len()).collect();
        if self.shuffle {
            let mut rng = StdRng::seed_from_u64(mix(self.seed, epoch, u64::MAX));
            order.shuffle(&mut rng);
        }
        order
    }

    /// The decoded, resized grey pixels of file `i`.
    fn pixels(&self, i: usize) -> Result<std::borrow::Cow<'_, Array2<u8>>> {
        if let Some(cache) = &self.cache {
            if let Some(image) = cache[i].get() {
                return Ok(std::borrow::Cow::Borrowed(image));
            }
            let image = self.load(i)?;
            // Another thread may have filled the slot meanwhile; either copy is the same image.
            return Ok(std::borrow::Cow::Borrowed(cache[i].get_or_init(|| image)));
        }
        self.load(i).map(std::borrow::Cow::Owned)
    }

    fn load(&self, i: usize) -> Result<Array2<u8>> {
        let image = imread::imread(&self.files[i])?;
        if image.dim() == self.target {
            return Ok(image);
        }
        crate::resize::resize_with(image.view(), self.target, self.interpolation)
    }

    /// Writes file `i`'s image, augmented and rescaled, into `out` (height x width values).
    fn render(&self, i: usize, epoch: u64, out: &mut [f32]) -> Result<()> {
        let pixels = self.pixels(i)?;
        let generator = &self.generator;
        if generator.augment.is_identity() {
            for (o, &p) in out.iter_mut().zip(pixels.iter()) {
                *o = f32::from(p);
            }
        } else {
            let mut rng = StdRng::seed_from_u64(mix(self.seed, epoch, i as u64));
            let transform = generator.random_transform(self.target, &mut rng);
            let image = pixels.mapv(f32::from);
            let image = generator.apply_transform(image.view(), &transform);
            for (o, &p) in out.iter_mut().zip(image.iter()) {
                *o = p;
            }
        }
        generator.standardize_values(out);
        Ok(())
    }

    /// Builds batch `batch_index` of `epoch` from the epoch's `order`, in parallel.
    fn build(&self, epoch: u64, batch_index: usize, order: &[usize]) -> Built {
        let start = batch_index * self.batch_size;
        let end = (start + self.batch_size).min(order.len());
        let indices = &order[start..end];
        let (h, w) = self.target;
        let mut data = vec![0f32; indices.len() * h * w];
        let results: Vec<Result<()>> = data
            .par_chunks_mut(h * w)
            .zip(indices.par_iter())
            .map(|(out, &i)| self.render(i, epoch, out))
            .collect();
        let mut kept = Vec::with_capacity(indices.len());
        let mut skipped = Vec::new();
        let mut failure = None;
        for (slot, (&i, result)) in indices.iter().zip(results).enumerate() {
            match result {
                Ok(()) => kept.push((slot, i)),
                Err(error) if self.strict && failure.is_none() => failure = Some(error),
                Err(error) => skipped.push(Skipped {
                    path: self.files[i].clone(),
                    error,
                }),
            }
        }
        if let Some(error) = failure {
            return Built {
                epoch,
                batch_index,
                batch: Err(error),
                skipped,
            };
        }
        if kept.len() < indices.len() {
            // Close the gaps the skipped files left, keeping order.
            for (to, &(from, _)) in kept.iter().enumerate() {
                if to != from {
                    data.copy_within(from * h * w..(from + 1) * h * w, to * h * w);
                }
            }
            data.truncate(kept.len() * h * w);
        }
        let x = Array4::from_shape_vec((kept.len(), h, w, 1), data)
            .expect("the buffer holds kept.len() images of height x width");
        let y = match self.class_mode {
            ClassMode::None => Array1::zeros(0),
            ClassMode::Binary | ClassMode::Sparse => {
                kept.iter().map(|&(_, i)| self.labels[i] as f32).collect()
            }
        };
        let batch = Batch {
            x,
            y,
            files: kept.iter().map(|&(_, i)| self.files[i].clone()).collect(),
            indices: kept.iter().map(|&(_, i)| i).collect(),
        };
        Built {
            epoch,
            batch_index,
            batch: Ok(batch),
            skipped,
        }
    }
}

/// SplitMix64's finaliser: spreads the bits of `z`.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A seed for one (seed, epoch, item) triple, independent of the order work is done in.
fn mix(seed: u64, epoch: u64, item: u64) -> u64 {
    splitmix(splitmix(splitmix(seed) ^ epoch) ^ item)
}

/// The background thread that builds batches ahead, in order, from a starting position.
struct Worker {
    rx: Option<Receiver<Built>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl Worker {
    fn start(source: Arc<Source>, epoch: u64, batch_index: usize, prefetch: usize) -> Worker {
        // The thread holds one built batch while it waits to hand it over, so the channel holds
        // prefetch - 1: at most `prefetch` batches are ready at any time.
        let (tx, rx) = sync_channel(prefetch.saturating_sub(1));
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = Arc::clone(&stop);
        let handle = std::thread::Builder::new()
            .name("xray-batches".into())
            .spawn(move || {
                let per_epoch = source.batches_per_epoch();
                let (mut epoch, mut batch_index) = (epoch, batch_index);
                let mut order = source.order(epoch);
                while !thread_stop.load(Ordering::Relaxed) {
                    let built = source.build(epoch, batch_index, &order);
                    if tx.send(built).is_err() {
                        break;
                    }
                    batch_index += 1;
                    if batch_index == per_epoch {
                        batch_index = 0;
                        epoch += 1;
                        order = source.order(epoch);
                    }
                }
            });
        match handle {
            Ok(handle) => Worker {
                rx: Some(rx),
                stop,
                handle: Some(handle),
            },
            // No thread: an empty worker makes the iterator build batches itself.
            Err(_) => Worker {
                rx: None,
                stop,
                handle: None,
            },
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Dropping the receiver wakes a thread blocked on a full channel; it then ends.
        drop(self.rx.take());
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

/// Batches from a folder or file list (Keras's `DirectoryIterator`): an endless [`Iterator`] over
/// epochs, with Keras's `class_indices`, `filenames`, `classes`, `samples` and `len()`.
pub struct DirectoryIterator {
    source: Arc<Source>,
    class_names: Vec<String>,
    class_indices: BTreeMap<String, usize>,
    filenames: Vec<PathBuf>,
    classes: Vec<usize>,
    prefetch: usize,
    epoch: u64,
    batch_index: usize,
    order: Option<(u64, Vec<usize>)>,
    worker: Option<Worker>,
    skipped: Vec<Skipped>,
    reported: HashSet<PathBuf>,
    /// Where this epoch's entries start in `skipped` (for the per-epoch summary line).
    epoch_skip_start: usize,
    error: Option<Error>,
}

impl std::fmt::Debug for DirectoryIterator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryIterator")
            .field("samples", &self.samples())
            .field("class_indices", &self.class_indices)
            .field("batch_size", &self.source.batch_size)
            .field("epoch", &self.epoch)
            .field("batch_index", &self.batch_index)
            .finish_non_exhaustive()
    }
}

impl DirectoryIterator {
    /// Class name to label, sorted by name (Keras's `class_indices`).
    pub fn class_indices(&self) -> &BTreeMap<String, usize> {
        &self.class_indices
    }

    /// Class names in label order.
    pub fn class_names(&self) -> &[String] {
        &self.class_names
    }

    /// Number of classes (Keras's `num_classes`).
    pub fn num_classes(&self) -> usize {
        self.class_names.len()
    }

    /// Each sample's path: relative to the directory (e.g. `NORMAL/a.jpeg`), or as given to
    /// `flow_from_files` (Keras's `filenames`).
    pub fn filenames(&self) -> &[PathBuf] {
        &self.filenames
    }

    /// Each sample's full path (Keras's `filepaths`).
    pub fn filepaths(&self) -> &[PathBuf] {
        &self.source.files
    }

    /// Each sample's label (Keras's `classes`).
    pub fn classes(&self) -> &[usize] {
        &self.classes
    }

    /// Number of images (Keras's `samples`).
    pub fn samples(&self) -> usize {
        self.source.files.len()
    }

    /// Images per batch.
    pub fn batch_size(&self) -> usize {
        self.source.batch_size
    }

    /// (height, width) of every image.
    pub fn target_size(&self) -> (usize, usize) {
        self.source.target
    }

    /// The seed in use (drawn at random when none was given).
    pub fn seed(&self) -> u64 {
        self.source.seed
    }

    /// Batches per epoch: `ceil(samples / batch_size)` (Keras's `len()`).
    pub fn len(&self) -> usize {
        self.source.batches_per_epoch()
    }

    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.source.files.is_empty()
    }

    /// The epoch the next batch belongs to, counting from 0.
    pub fn current_epoch(&self) -> u64 {
        self.epoch
    }

    /// The position of the next batch within its epoch.
    pub fn batch_index(&self) -> usize {
        self.batch_index
    }

    /// Files left out so far because they could not be read or decoded, each listed once.
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The error that ended a strict iteration, if any (taking it clears it).
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// Starts a fresh epoch: the rest of the current one is dropped (Keras's `reset`); at the
    /// start of an epoch this does nothing.
    pub fn reset(&mut self) {
        if self.batch_index != 0 {
            self.worker = None;
            self.batch_index = 0;
            self.epoch += 1;
            self.epoch_skip_start = self.skipped.len();
        }
    }

    /// Moves to the start of epoch `epoch` (0-based), e.g. to resume training where a checkpoint
    /// left off: the order and augmentation then match an uninterrupted run.
    pub fn seek_epoch(&mut self, epoch: u64) {
        self.worker = None;
        self.batch_index = 0;
        self.epoch = epoch;
        self.epoch_skip_start = self.skipped.len();
    }

    /// The next non-empty batch, or an error with `strict` (and `Ok(None)` only when there is
    /// nothing to read: no samples, or every file of a whole epoch unreadable). Skipped files
    /// make their batch smaller; a batch left empty is passed over.
    pub fn try_next_batch(&mut self) -> Result<Option<Batch>> {
        let mut empty_in_a_row = 0;
        while empty_in_a_row < self.len() {
            match self.advance()? {
                Some(batch) => return Ok(Some(batch)),
                None => empty_in_a_row += 1,
            }
        }
        Ok(None)
    }

    /// The next batch (the Iterator's `next`); with `strict`, an error ends the iteration and is
    /// kept for [`take_error`](Self::take_error).
    pub fn next_batch(&mut self) -> Option<Batch> {
        match self.try_next_batch() {
            Ok(batch) => batch,
            Err(error) => {
                self.error = Some(error);
                None
            }
        }
    }

    /// An iterator over exactly one epoch: every image once, in `len()` batches or fewer (minus
    /// batches left empty by unreadable files). Mid-epoch, it first calls [`reset`](Self::reset).
    pub fn epoch(&mut self) -> Epoch<'_> {
        self.reset();
        let epoch = self.epoch;
        Epoch { inner: self, epoch }
    }

    /// Builds or receives the batch at the current position and moves on; `Ok(None)` for a
    /// batch every file of which was skipped (or no samples at all).
    fn advance(&mut self) -> Result<Option<Batch>> {
        if self.is_empty() {
            return Ok(None);
        }
        let built = self.fetch();
        self.batch_index += 1;
        if self.batch_index == self.len() {
            self.batch_index = 0;
            self.epoch += 1;
        }
        for skip in built.skipped {
            if self.reported.insert(skip.path.clone()) {
                self.skipped.push(skip);
            }
        }
        if self.batch_index == 0 {
            if let Some(line) = skipped_summary(&self.skipped[self.epoch_skip_start..]) {
                eprintln!("epoch {}: {line}", built.epoch + 1);
            }
            self.epoch_skip_start = self.skipped.len();
        }
        let batch = built.batch?;
        Ok((!batch.is_empty()).then_some(batch))
    }

    /// The batch at the current position, from the background thread or built here.
    fn fetch(&mut self) -> Built {
        if self.prefetch > 0 {
            if self.worker.is_none() {
                self.worker = Some(Worker::start(
                    Arc::clone(&self.source),
                    self.epoch,
                    self.batch_index,
                    self.prefetch,
                ));
            }
            let received = self
                .worker
                .as_ref()
                .and_then(|w| w.rx.as_ref())
                .and_then(|rx| rx.recv().ok());
            if let Some(built) = received {
                debug_assert_eq!(
                    (built.epoch, built.batch_index),
                    (self.epoch, self.batch_index)
                );
                return built;
            }
            // The thread could not start or has stopped: build batches here from now on.
            self.worker = None;
            self.prefetch = 0;
        }
        let epoch = self.epoch;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            self.order = Some((epoch, self.source.order(epoch)));
        }
        let (_, order) = self
            .order
            .as_ref()
            .expect("the order of the current epoch was just stored");
        self.source.build(epoch, self.batch_index, order)
    }
}

impl Iterator for DirectoryIterator {
    type Item = Batch;

    /// The next batch; endless over epochs like Keras (ends only when nothing can be read, or on
    /// the first error with `strict`).
    fn next(&mut self) -> Option<Batch> {
        self.next_batch()
    }
}

/// One epoch's batches, from [`DirectoryIterator::epoch`].
pub struct Epoch<'a> {
    inner: &'a mut DirectoryIterator,
    epoch: u64,
}

impl Iterator for Epoch<'_> {
    type Item = Batch;

    fn next(&mut self) -> Option<Batch> {
        while self.inner.epoch == self.epoch && !self.inner.is_empty() {
            match self.inner.advance() {
                Ok(Some(batch)) => return Some(batch),
                Ok(None) => continue,
                Err(error) => {
                    self.inner.error = Some(error);
                    return None;
                }
            }
        }
        None
    }
}

/// Maps each grey level (0..255, clamped) to 255 times the fraction of pixels at or below its
/// 256-bin histogram bin: the image's own cumulative distribution, as scikit-image's
/// `exposure.equalize_hist(image, nbins=256)` (there on [0, 1], without interpolation here).
fn equalize_histogram(values: &mut [f32]) {
    if values.is_empty() {
        return;
    }
    let bin = |v: f32| (v.clamp(0.0, 255.0) as usize).min(255);
    let mut cdf = [0u32; 256];
    values.iter().for_each(|&v| cdf[bin(v)] += 1);
    for i in 1..256 {
        cdf[i] += cdf[i - 1];
    }
    let scale = 255.0 / values.len() as f32;
    values
        .iter_mut()
        .for_each(|v| *v = cdf[bin(*v)] as f32 * scale);
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
    fn histogram_equalization_maps_levels_to_their_cumulative_fraction() {
        let mut values = [0.0, 0.0, 100.0, 200.0];
        equalize_histogram(&mut values);
        assert_eq!(values, [127.5, 127.5, 191.25, 255.0]);
        // Out-of-range values fall into the end bins instead of panicking.
        let mut wild = [-5.0, 300.0, f32::NAN];
        equalize_histogram(&mut wild);
        assert!(wild
            .iter()
            .all(|v| v.is_finite() && (0.0..=255.0).contains(v)));
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

    fn write_images(dir: &Path, count: usize) -> Vec<PathBuf> {
        (0..count)
            .map(|i| {
                let path = dir.join(format!("{i}.png"));
                image::GrayImage::from_pixel(6, 4, image::Luma([i as u8]))
                    .save(&path)
                    .unwrap();
                path
            })
            .collect()
    }

    #[test]
    fn subsets_take_keras_fractions_per_class() {
        let labels = [0, 0, 0, 0, 0, 1, 1, 1, 0, 0];
        // Class 0 has 7 files (indices 0-4, 8, 9), class 1 has 3 (5-7); split 0.3.
        let val = subset_indices(&labels, 2, 0.3, Some(Subset::Validation));
        let train = subset_indices(&labels, 2, 0.3, Some(Subset::Training));
        // int(0.3 * 7) = 2, int(0.3 * 3) = 0.
        assert_eq!(val, vec![0, 1]);
        assert_eq!(train, vec![2, 3, 4, 5, 6, 7, 8, 9]);
        assert_eq!(subset_indices(&labels, 2, 0.3, None).len(), 10);
    }

    #[test]
    fn iterators_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<DirectoryIterator>();
        assert_send::<Batch>();
    }

    #[test]
    fn seeds_mix_every_input() {
        let base = mix(1, 2, 3);
        assert_ne!(base, mix(2, 2, 3));
        assert_ne!(base, mix(1, 3, 3));
        assert_ne!(base, mix(1, 2, 4));
        assert_eq!(base, mix(1, 2, 3));
    }

    #[test]
    fn dropping_mid_epoch_stops_the_thread() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_images(dir.path(), 20);
        let labels = vec![0; 20];
        let options = FlowOptions::default()
            .target_size(4, 6)
            .batch_size(2)
            .prefetch(3)
            .verbose(false);
        let mut it = ImageDataGenerator::default()
            .flow_from_files(files, labels, vec!["a".into()], options)
            .unwrap();
        let first = it.next().unwrap();
        assert_eq!(first.len(), 2);
        let source = Arc::downgrade(&it.source);
        // The worker holds the source while it runs (blocked on a full channel by now).
        assert!(Arc::strong_count(&it.source) >= 2);
        drop(it);
        assert!(
            source.upgrade().is_none(),
            "the worker thread has ended and let go"
        );
    }
}
