//! Fuzzes the image-reading path: bytes -> `decode_gray` -> the three resizers -> an augmentation
//! transform. The first 16 bytes choose the target size and the transform; the rest is the file.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use rand::rngs::StdRng;
use rand::SeedableRng;
use support::augment::{self, AugmentParams, FillMode, Order, Sampling, Transform};
use support::imread::decode_gray;
use support::resize::{resize, resize_fast, resize_u8, resize_with, Interpolation};

/// Images above this many pixels are decoded but not resized, to keep executions fast.
const MAX_WORK_PIXELS: usize = 1 << 18;

/// A float in [lo, hi] from one byte.
fn unit(byte: u8, lo: f32, hi: f32) -> f32 {
    lo + (hi - lo) * f32::from(byte) / 255.0
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 16 {
        return;
    }
    let (ctl, file) = data.split_at(16);
    let Ok(grey) = decode_gray(file, Path::new("fuzz.jpeg")) else {
        return;
    };
    let (h, w) = grey.dim();
    assert!(h > 0 && w > 0, "decode_gray returned an empty image");
    if h * w > MAX_WORK_PIXELS {
        return;
    }
    let target = (usize::from(ctl[0] % 48) + 1, usize::from(ctl[1] % 48) + 1);
    let interpolation = match ctl[2] % 3 {
        0 => Interpolation::Nearest,
        1 => Interpolation::Bilinear,
        _ => Interpolation::Area,
    };
    let resized = resize_with(grey.view(), target, interpolation).expect("valid target size");
    assert_eq!(resized.dim(), target);
    let fast = resize_fast(grey.view(), target).expect("valid target size");
    assert_eq!(fast.dim(), target);
    let smooth = resize_u8(grey.view(), target).expect("valid target size");
    assert_eq!(smooth.dim(), target);
    assert!(
        smooth.iter().all(|v| (0.0..=1.0).contains(v)),
        "resize_u8 left [0, 1]"
    );
    let again = resize(smooth.view(), (target.1, target.0)).expect("valid target size");
    assert_eq!(again.dim(), (target.1, target.0));

    let sampling = Sampling {
        fill_mode: match ctl[3] % 4 {
            0 => FillMode::Nearest,
            1 => FillMode::Reflect,
            2 => FillMode::Wrap,
            _ => FillMode::Constant(unit(ctl[4], 0.0, 255.0)),
        },
        order: if ctl[5] % 2 == 0 {
            Order::Nearest
        } else {
            Order::Bilinear
        },
        ..Sampling::default()
    };
    let pixels = resized.mapv(f32::from);
    // A transform drawn the way the generator draws one, from fuzzed (validated) ranges...
    let params = AugmentParams {
        rotation_range: unit(ctl[6], 0.0, 360.0),
        width_shift_range: unit(ctl[7], 0.0, 2.0),
        height_shift_range: unit(ctl[8], 0.0, 40.0),
        shear_range: unit(ctl[9], 0.0, 90.0),
        zoom_range: (unit(ctl[10], 0.05, 1.0), unit(ctl[11], 1.0, 4.0)),
        horizontal_flip: ctl[12] & 1 == 1,
        vertical_flip: ctl[12] & 2 == 2,
        brightness_range: (ctl[12] & 4 == 4)
            .then(|| (unit(ctl[13], 0.0, 1.0), unit(ctl[14], 1.0, 3.0))),
    };
    if params.validate().is_ok() {
        let mut rng = StdRng::seed_from_u64(u64::from(ctl[15]));
        let transform = augment::random_transform(&params, target, &mut rng);
        let out = augment::apply_transform(pixels.view(), &transform, &sampling);
        assert_eq!(out.dim(), target);
    }
    // ...and one set directly, including extreme values.
    let raw = Transform {
        theta: unit(ctl[6], -720.0, 720.0),
        tx: unit(ctl[7], -1e4, 1e4),
        ty: unit(ctl[8], -1e4, 1e4),
        shear: unit(ctl[9], -89.0, 89.0),
        zx: unit(ctl[10], 1e-3, 50.0),
        zy: unit(ctl[11], 1e-3, 50.0),
        flip_horizontal: ctl[12] & 8 == 8,
        flip_vertical: ctl[12] & 16 == 16,
        brightness: (ctl[12] & 32 == 32).then(|| unit(ctl[13], 0.0, 5.0)),
    };
    let out = augment::apply_transform(pixels.view(), &raw, &sampling);
    assert_eq!(out.dim(), target);
    assert!(
        out.iter().all(|v| v.is_finite()),
        "a transform produced a non-finite pixel"
    );
});
