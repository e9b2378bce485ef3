//! From a folder or a file list to a [`DirectoryIterator`]: the [`FlowOptions`] (Keras's
//! `flow_from_directory` arguments), the header check, the subset and the "Found ..." line.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rand::Rng;
use rayon::prelude::*;

pub use super::batch::ClassMode;
use super::batch::Source;
use super::builder::ImageDataGenerator;
use super::iterator::DirectoryIterator;
use crate::augment::Transform;
use crate::dataset;
use crate::error::{skipped_summary, Error, Result, Skipped};
use crate::imread;
use crate::resize::Interpolation;

/// The channels of the images a generator yields (Keras's `color_mode`). Only `Grayscale`:
/// chest X-rays are grey and the network reads one channel, so Keras's `rgb` (its default) and
/// `rgba` are not offered; a colour file is converted to grey as PIL's `convert('L')` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// One channel, PIL's `convert('L')`.
    Grayscale,
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
    /// Where each image's class comes from: its folder (Keras's way, the default) or its file
    /// name's kind of pneumonia (three classes).
    pub label_source: dataset::LabelSource,
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
    /// Fixed transforms to apply instead of the generator's random draws, one per epoch in
    /// turn: epoch `e` applies `fixed_transforms[e % len]` to every image. Test-time
    /// augmentation reads one epoch per transform (with `cache_in_memory`, each file is decoded
    /// once). Empty: the generator's own augmentation.
    pub fixed_transforms: Vec<Transform>,
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
            label_source: dataset::LabelSource::Folder,
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
            fixed_transforms: Vec::new(),
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

    /// Sets where the labels come from (see [`dataset::LabelSource`]).
    pub fn label_source(mut self, source: dataset::LabelSource) -> Self {
        self.label_source = source;
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

    /// Applies these transforms, one per epoch in turn, instead of random draws (see
    /// [`FlowOptions::fixed_transforms`]).
    pub fn fixed_transforms(mut self, transforms: Vec<Transform>) -> Self {
        self.fixed_transforms = transforms;
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
                "at most 2 classes for binary labels (use ClassMode::Categorical or Sparse)",
            ));
        }
        Ok(())
    }
}
impl ImageDataGenerator {
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
            dataset::scan_classes(directory, options.classes.as_deref(), options.follow_links)?
                .labelled_by(options.label_source)?;
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
        if options.subset == Some(Subset::Validation) && self.validation_split() == 0.0 {
            return Err(Error::invalid(
                "subset",
                "validation",
                "a generator built with validation_split > 0",
            ));
        }
        let keep = subset_indices(
            &labels,
            class_names.len(),
            self.validation_split(),
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
            classes: class_names.len(),
            seed,
            shuffle: options.shuffle,
            batch_size: options.batch_size,
            strict: options.strict,
            cache,
            fixed_transforms: options.fixed_transforms,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
