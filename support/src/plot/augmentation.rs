//! Figures of what augmentation does: [`augmentation_grid`] (the original, then random versions,
//! each titled with the transform it got) and [`fill_mode_grid`] (one transform under Keras's
//! four fill modes).

use ndarray::{Array2, ArrayView2};

use super::{image_grid_with, Figure, ImshowOptions};
use crate::augment::Transform;
use crate::error::{Error, Result};
use crate::generator::ImageDataGenerator;

/// Size of each grid cell's image, in pixels.
const CELL: u32 = 200;

/// The value range to draw: [0, 1] when every value lies in it (rescaled pixels), else the
/// images' own range (pixels in 0..255, or standardized ones).
fn display_range(images: &[Array2<f32>]) -> Result<(f32, f32)> {
    let mut lo = f32::INFINITY;
    let mut hi = f32::NEG_INFINITY;
    for image in images {
        let (a, b) = crate::stats::min_max(image)?;
        lo = lo.min(a);
        hi = hi.max(b);
    }
    if lo >= 0.0 && hi <= 1.0 {
        Ok((0.0, 1.0))
    } else if hi > lo {
        Ok((lo, hi))
    } else {
        Ok((lo, lo + 1.0))
    }
}

/// The panels of [`augmentation_grid`]: the standardized original titled "original", then the
/// `n` versions titled with their transforms.
fn augmentation_panels(
    generator: &ImageDataGenerator,
    image: ArrayView2<'_, u8>,
    n: usize,
    seed: u64,
) -> (Vec<Array2<f32>>, Vec<String>) {
    let mut original = image.mapv(f32::from);
    generator.standardize(&mut original);
    let examples = generator.augment_examples_with_transforms(image, n, seed);
    let mut titles = vec!["original".to_string()];
    titles.extend(examples.iter().map(|e| e.transform.describe()));
    let mut images = vec![original];
    images.extend(examples.into_iter().map(|e| e.image));
    (images, titles)
}

/// The original image and `n` random versions of it from `generator` (drawn from `seed`, as
/// [`ImageDataGenerator::augment_examples_with_transforms`] draws them), in a grid `columns`
/// wide: the original first, each version titled with what was applied
/// ([`Transform::describe`]: rotation and shear in degrees, shifts in pixels, zoom factors,
/// flips, brightness). All images are standardized (rescaled) as a training batch holds them.
///
/// ```no_run
/// # use support::generator::ImageDataGenerator;
/// # let xray = ndarray::Array2::<u8>::zeros((130, 130));
/// let fig = support::plot::augmentation_grid(&ImageDataGenerator::mild_augmentation(), xray.view(), 11, 7, 6)?;
/// # Ok::<(), support::Error>(())
/// ```
pub fn augmentation_grid(
    generator: &ImageDataGenerator,
    image: ArrayView2<'_, u8>,
    n: usize,
    seed: u64,
    columns: usize,
) -> Result<Figure> {
    if n == 0 {
        return Err(Error::invalid("n", 0, "at least one augmented version"));
    }
    let (images, titles) = augmentation_panels(generator, image, n, seed);
    let (vmin, vmax) = display_range(&images)?;
    let noun = if n == 1 { "version" } else { "versions" };
    let options = ImshowOptions::new()
        .axes(false)
        .size(CELL)
        .range(vmin, vmax)
        .title(format!("The original and {n} random {noun} (seed {seed})"));
    image_grid_with(&images, &titles, columns, &options)
}

/// One grey image after one fixed `transform` under each of Keras's fill modes (nearest,
/// constant, reflect, wrap; see [`ImageDataGenerator::fill_mode_examples`]), side by side,
/// each titled with its mode, the transform stated in the figure's title.
///
/// ```no_run
/// # use support::augment::Transform;
/// # use support::generator::ImageDataGenerator;
/// # let xray = ndarray::Array2::<u8>::zeros((130, 130));
/// let shift = Transform { tx: 35.0, theta: 15.0, zx: 1.3, zy: 1.3, ..Transform::default() };
/// let generator = ImageDataGenerator::builder().rescale(1.0 / 255.0).build()?;
/// let fig = support::plot::fill_mode_grid(&generator, xray.view(), &shift)?;
/// # Ok::<(), support::Error>(())
/// ```
pub fn fill_mode_grid(
    generator: &ImageDataGenerator,
    image: ArrayView2<'_, u8>,
    transform: &Transform,
) -> Result<Figure> {
    let examples = generator.fill_mode_examples(image, transform);
    let titles: Vec<String> = examples.iter().map(|(mode, _)| mode.to_string()).collect();
    let images: Vec<Array2<f32>> = examples.into_iter().map(|(_, image)| image).collect();
    let (vmin, vmax) = display_range(&images)?;
    let options = ImshowOptions::new()
        .axes(false)
        .size(CELL)
        .range(vmin, vmax)
        .title(format!(
            "Fill modes for one transform: {}",
            transform.describe().replace('\n', ", ")
        ));
    image_grid_with(&images, &titles, images.len(), &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::FillMode;
    use crate::plot::figure::tests::decode;

    /// Count of non-white pixels in a region.
    fn inked(img: &image::RgbImage, x: std::ops::Range<u32>, y: std::ops::Range<u32>) -> usize {
        y.flat_map(|yy| x.clone().map(move |xx| (xx, yy)))
            .filter(|&(xx, yy)| img.get_pixel(xx, yy).0 != [255, 255, 255])
            .count()
    }

    /// A grey test image with a bright block, so that transforms show.
    fn xray() -> Array2<u8> {
        Array2::from_shape_fn((40, 40), |(r, c)| {
            if (10..20).contains(&r) && (5..25).contains(&c) {
                230
            } else {
                60 + (r + c) as u8
            }
        })
    }

    #[test]
    fn augmentation_grid_puts_the_original_first_and_titles_every_panel() {
        let generator = ImageDataGenerator::mild_augmentation();
        let image = xray();
        let fig = augmentation_grid(&generator, image.view(), 5, 7, 3).unwrap();
        let px = decode(&fig);
        let (w, h) = fig.size();
        // 6 panels in 3 columns: 2 rows of cells under the figure title.
        let cell_w = w / 3;
        let suptitle_h = 18 * 12 / 10 + 7;
        assert!(inked(&px, 0..w, 0..suptitle_h) > 100, "figure title drawn");
        let cell_h = (h - suptitle_h) / 2;
        for row in 0..2 {
            for col in 0..3 {
                let (x0, y0) = (col * cell_w, suptitle_h + row * cell_h);
                // Title ink in the top 30 px of the cell, image pixels below it.
                assert!(
                    inked(&px, x0..x0 + cell_w, y0..y0 + 30) > 50,
                    "title of cell ({row}, {col})"
                );
                assert!(
                    inked(&px, x0..x0 + cell_w, y0 + cell_h / 2..y0 + cell_h / 2 + 20) > 20 * 100,
                    "image of cell ({row}, {col})"
                );
            }
        }
        // The panels: the original (rescaled) first, then each version with its transform.
        let (images, titles) = augmentation_panels(&generator, image.view(), 5, 7);
        assert_eq!(images[0], image.mapv(|v| f32::from(v) * (1.0 / 255.0)));
        assert_eq!(titles[0], "original");
        let examples = generator.augment_examples_with_transforms(image.view(), 5, 7);
        for (i, example) in examples.iter().enumerate() {
            assert_eq!(images[i + 1], example.image);
            assert_eq!(titles[i + 1], example.transform.describe());
            assert!(titles[i + 1].lines().count() <= 2, "{}", titles[i + 1]);
        }
        assert!(matches!(
            augmentation_grid(&generator, image.view(), 0, 7, 3),
            Err(Error::InvalidArgument { name: "n", .. })
        ));
    }

    #[test]
    fn fill_mode_grid_shows_four_titled_panels() {
        let generator = ImageDataGenerator::builder()
            .rescale(1.0 / 255.0)
            .fill_mode(FillMode::Constant(0.0))
            .build()
            .unwrap();
        let shift = Transform {
            tx: 15.0,
            ..Transform::default()
        };
        let fig = fill_mode_grid(&generator, xray().view(), &shift).unwrap();
        let px = decode(&fig);
        let (w, h) = fig.size();
        let cell_w = w / 4;
        let suptitle_h = 18 * 12 / 10 + 7;
        assert!(inked(&px, 0..w, 0..suptitle_h) > 100, "figure title drawn");
        for col in 0..4 {
            let x0 = col * cell_w;
            assert!(
                inked(&px, x0..x0 + cell_w, suptitle_h..suptitle_h + 25) > 30,
                "title of panel {col}"
            );
        }
        // The constant panel (second) is black where the shift uncovered pixels (its right
        // edge), the nearest panel (first) is not.
        let y = suptitle_h + (h - suptitle_h) / 2;
        let right_edge = |col: u32| px.get_pixel(col * cell_w + cell_w / 2 + 90, y).0;
        assert_eq!(right_edge(1), [0, 0, 0]);
        assert_ne!(right_edge(0), [0, 0, 0]);
    }
}
