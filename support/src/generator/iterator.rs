//! The [`DirectoryIterator`]: Keras's endless iterator over epochs of batches, with the
//! skipped-file bookkeeping and one-epoch views.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use super::batch::{Batch, Built, Source};
use super::prefetch::Worker;
use crate::error::{skipped_summary, Error, Result, Skipped};

/// Batches from a folder or file list (Keras's `DirectoryIterator`): an endless [`Iterator`] over
/// epochs, with Keras's `class_indices`, `filenames`, `classes`, `samples` and `len()`.
pub struct DirectoryIterator {
    pub(super) source: Arc<Source>,
    pub(super) class_names: Vec<String>,
    pub(super) class_indices: BTreeMap<String, usize>,
    pub(super) filenames: Vec<PathBuf>,
    pub(super) classes: Vec<usize>,
    pub(super) prefetch: usize,
    pub(super) epoch: u64,
    pub(super) batch_index: usize,
    pub(super) order: Option<(u64, Vec<usize>)>,
    pub(super) worker: Option<Worker>,
    pub(super) skipped: Vec<Skipped>,
    pub(super) reported: HashSet<PathBuf>,
    /// Where this epoch's entries start in `skipped` (for the per-epoch summary line).
    pub(super) epoch_skip_start: usize,
    pub(super) error: Option<Error>,
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::generator::{FlowOptions, ImageDataGenerator};

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
    fn iterators_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<DirectoryIterator>();
        assert_send::<Batch>();
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
