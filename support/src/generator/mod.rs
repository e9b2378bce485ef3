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

mod batch;
mod builder;
mod equalize;
mod flow;
mod iterator;
mod prefetch;

pub use crate::resize::Interpolation;
pub use batch::Batch;
pub use builder::{AugmentedExample, ImageDataGenerator, ImageDataGeneratorBuilder};
pub use flow::{found_line, ClassMode, ColorMode, FlowOptions, Subset};
pub use iterator::{DirectoryIterator, Epoch};
