//! Building one batch: decoding, resizing, augmenting and standardising its images in
//! parallel, with every random draw a pure function of `(seed, epoch, file index)`.

use std::path::PathBuf;
use std::sync::OnceLock;

use ndarray::{Array1, Array2, Array4};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;

use super::builder::ImageDataGenerator;
use crate::augment::Transform;
use crate::error::{Result, Skipped};
use crate::imread;
use crate::resize::Interpolation;

/// What `Batch::y` holds (Keras's `class_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassMode {
    /// 0/1 labels for two classes.
    Binary,
    /// One row of K values per image, 1 at its class and 0 elsewhere (one-hot), row after row
    /// in `Batch::y` (n x K values): what a K-class model's `train_on_batch` takes.
    Categorical,
    /// The class index, as a float.
    Sparse,
    /// No labels: `y` is empty (Keras's `class_mode=None`).
    None,
}

/// One batch: images `(n, height, width, 1)`, labels `(n,)` and the files they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Images, shape (n, height, width, 1).
    pub x: Array4<f32>,
    /// Labels: shape (n,) for binary and sparse labels, (n x K,) for categorical ones (one-hot
    /// rows, row after row), empty with `ClassMode::None`.
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
pub(super) struct Source {
    pub(super) files: Vec<PathBuf>,
    pub(super) labels: Vec<usize>,
    pub(super) target: (usize, usize),
    pub(super) interpolation: Interpolation,
    pub(super) generator: ImageDataGenerator,
    pub(super) class_mode: ClassMode,
    /// The number of classes (the width of a categorical label row).
    pub(super) classes: usize,
    pub(super) seed: u64,
    pub(super) shuffle: bool,
    pub(super) batch_size: usize,
    pub(super) strict: bool,
    pub(super) cache: Option<Vec<OnceLock<Array2<u8>>>>,
    /// Transforms applied in turn, one per epoch, instead of random draws (test-time
    /// augmentation); empty for the generator's own augmentation.
    pub(super) fixed_transforms: Vec<Transform>,
}

/// A built batch and the files it had to leave out.
pub(super) struct Built {
    pub(super) epoch: u64,
    pub(super) batch_index: usize,
    pub(super) batch: Result<Batch>,
    pub(super) skipped: Vec<Skipped>,
}

impl Source {
    pub(super) fn batches_per_epoch(&self) -> usize {
        self.files.len().div_ceil(self.batch_size)
    }

    /// The visiting order of one epoch: sorted, or a permutation drawn from (seed, epoch).
    pub(super) fn order(&self, epoch: u64) -> Vec<usize> {
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

    /// The fixed transform of `epoch`, if the flow was given any.
    fn fixed_transform(&self, epoch: u64) -> Option<&Transform> {
        let n = self.fixed_transforms.len() as u64;
        (n > 0).then(|| &self.fixed_transforms[(epoch % n.max(1)) as usize])
    }

    /// Writes file `i`'s image, augmented and rescaled, into `out` (height x width values).
    fn render(&self, i: usize, epoch: u64, out: &mut [f32]) -> Result<()> {
        let pixels = self.pixels(i)?;
        let generator = &self.generator;
        // At the same point of the pipeline as a random transform in training: on the resized
        // 0-255 pixels, before rescaling and standardisation.
        if let Some(transform) = self.fixed_transform(epoch) {
            let image = generator.apply_transform(pixels.mapv(f32::from).view(), transform);
            for (o, &p) in out.iter_mut().zip(image.iter()) {
                *o = p;
            }
        } else if generator.augment_params().is_identity() {
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
    pub(super) fn build(&self, epoch: u64, batch_index: usize, order: &[usize]) -> Built {
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
            ClassMode::Categorical => kept
                .iter()
                .flat_map(|&(_, i)| {
                    let label = self.labels[i];
                    (0..self.classes).map(move |c| f32::from(u8::from(c == label)))
                })
                .collect(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_mix_every_input() {
        let base = mix(1, 2, 3);
        assert_ne!(base, mix(2, 2, 3));
        assert_ne!(base, mix(1, 3, 3));
        assert_ne!(base, mix(1, 2, 4));
        assert_eq!(base, mix(1, 2, 3));
    }
}
