//! How an image file becomes the model's input: the resizing, scaling and standardisation a
//! model was trained with, recorded in every saved model so that prediction prepares files the
//! same way.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::augment::Transform;
use crate::error::Result;
use crate::resize::Interpolation;

/// How an image file becomes the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Preprocessing {
    /// Factor applied to 0-255 grey pixels (1/255 gives [0, 1]).
    pub rescale: f32,
    /// How files are resized to the input size.
    pub interpolation: Interpolation,
    /// Subtract each image's mean (Keras's `samplewise_center`).
    #[serde(default)]
    pub samplewise_center: bool,
    /// Divide each image by its standard deviation (Keras's `samplewise_std_normalization`).
    #[serde(default)]
    pub samplewise_std_normalization: bool,
    /// Equalize each image's histogram first (see [`ImageDataGeneratorBuilder::equalize_histogram`](crate::generator::ImageDataGeneratorBuilder::equalize_histogram)).
    #[serde(default)]
    pub equalize_histogram: bool,
}

impl Preprocessing {
    /// A generator that prepares images exactly this way, without augmentation.
    pub fn generator(&self) -> Result<crate::generator::ImageDataGenerator> {
        crate::generator::ImageDataGenerator::builder()
            .rescale(self.rescale)
            .samplewise_center(self.samplewise_center)
            .samplewise_std_normalization(self.samplewise_std_normalization)
            .equalize_histogram(self.equalize_histogram)
            .build()
    }

    /// One image file as a model of input size `(height, width)` reads it: grey, resized,
    /// then scaled and standardised as in training.
    pub fn prepare(
        &self,
        path: impl AsRef<Path>,
        (height, width): (usize, usize),
    ) -> Result<ndarray::Array2<f32>> {
        let grey = crate::imread::imread(path)?;
        self.prepare_pixels(grey.view(), (height, width))
    }

    /// [`prepare`](Self::prepare) of an image already decoded to 8-bit grey pixels (for
    /// example one that [`crate::stress`] changed): resized, then scaled and standardised.
    pub fn prepare_pixels(
        &self,
        grey: ndarray::ArrayView2<u8>,
        (height, width): (usize, usize),
    ) -> Result<ndarray::Array2<f32>> {
        let generator = self.generator()?;
        let small = crate::resize::resize_with(grey, (height, width), self.interpolation)?;
        let mut x = small.mapv(f32::from);
        generator.standardize(&mut x);
        Ok(x)
    }

    /// [`prepare`](Self::prepare) under each of `transforms`, one input per transform, for
    /// test-time augmentation: each transform is applied to the resized 0-255 pixels, where
    /// training applies its random ones, before scaling and standardisation.
    pub fn prepare_transformed(
        &self,
        path: impl AsRef<Path>,
        (height, width): (usize, usize),
        transforms: &[Transform],
    ) -> Result<Vec<ndarray::Array2<f32>>> {
        let generator = self.generator()?;
        let grey = crate::imread::imread(path)?;
        let small = crate::resize::resize_with(grey.view(), (height, width), self.interpolation)?
            .mapv(f32::from);
        Ok(transforms
            .iter()
            .map(|transform| {
                let mut x = generator.apply_transform(small.view(), transform);
                generator.standardize(&mut x);
                x
            })
            .collect())
    }
}
