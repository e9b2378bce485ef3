//! Histogram equalisation of one grey image (scikit-image's `exposure.equalize_hist`), which
//! [`ImageDataGeneratorBuilder::equalize_histogram`](super::ImageDataGeneratorBuilder::equalize_histogram) turns on.

/// Maps each grey level (0..255, clamped) to 255 times the fraction of pixels at or below its
/// 256-bin histogram bin: the image's own cumulative distribution, as scikit-image's
/// `exposure.equalize_hist(image, nbins=256)` (there on [0, 1], without interpolation here).
pub(super) fn equalize_histogram(values: &mut [f32]) {
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
}
