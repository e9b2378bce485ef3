//! Random image augmentation like Keras's `ImageDataGenerator`: rotation, shifts, shear, zoom,
//! flips and brightness, on one grey `f32` image.
//!
//! [`random_transform`] draws the parameters (Keras's `get_random_transform`) and
//! [`apply_transform`] applies them (Keras's `apply_transform`): rotation, shift, shear and zoom
//! combine into one affine matrix about the image centre, which maps each output pixel to a point
//! of the input that is sampled (nearest or bilinear, Keras's `interpolation_order` 0 or 1) with
//! the [`FillMode`] outside the image; then flips, then brightness scaling.
//!
//! Coordinates follow Keras's matrix: `x` runs along columns (to the right), `y` along rows
//! (down), and a positive angle turns the picture counter-clockwise as seen on screen.
//! Two deliberate differences from Keras's legacy code: `height_shift_range` shifts rows and
//! `width_shift_range` columns (Keras's `get_random_transform` swaps the two), and the centre of
//! a non-square image is its true centre (Keras swaps height and width there too). For square
//! images with equal shift ranges, such as the tutorial's, the results are the same.

use ndarray::{Array2, ArrayView2, Axis};
use rand::Rng;

use crate::error::{Error, Result};

/// How points outside the input image are filled (Keras's `fill_mode` and `cval`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FillMode {
    /// Repeat the edge pixel: `aaaaaaaa|abcd|dddddddd` (Keras's default).
    Nearest,
    /// A constant value (Keras's `cval`): `kkkkkkkk|abcd|kkkkkkkk`.
    Constant(f32),
    /// Mirror about the edge: `abcddcba|abcd|dcbaabcd`.
    Reflect,
    /// Repeat the image with period n: `abcdabcd|abcd|abcdabcd`, as Keras documents it (the scipy
    /// `wrap` Keras calls overlaps the first and last pixels instead, period n - 1).
    Wrap,
}

impl std::fmt::Display for FillMode {
    /// Keras's name of the mode (`nearest`, `constant`, `reflect`, `wrap`), with `cval` for a
    /// constant: "constant, cval 0".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FillMode::Nearest => write!(f, "nearest"),
            FillMode::Constant(cval) => write!(f, "constant, cval {cval}"),
            FillMode::Reflect => write!(f, "reflect"),
            FillMode::Wrap => write!(f, "wrap"),
        }
    }
}

/// How an affine transform samples between pixels (Keras's `interpolation_order`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// The nearest pixel (`interpolation_order=0`).
    Nearest,
    /// Bilinear interpolation of the four nearest pixels (`interpolation_order=1`, Keras's default).
    Bilinear,
}

/// How [`apply_transform`] samples and clips: fill mode, interpolation, and the brightest value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// What points outside the image take.
    pub fill_mode: FillMode,
    /// Nearest or bilinear sampling.
    pub order: Order,
    /// Brightness scaling clips to `[0, max_value]`: 255 for Keras's 0..255 pixels, 1 for [0, 1].
    pub max_value: f32,
}

impl Default for Sampling {
    /// Keras's defaults: fill `Nearest`, bilinear sampling, pixels in 0..255.
    fn default() -> Self {
        Sampling {
            fill_mode: FillMode::Nearest,
            order: Order::Bilinear,
            max_value: 255.0,
        }
    }
}

/// The ranges random transforms are drawn from (the augmentation half of Keras's
/// `ImageDataGenerator` arguments). All zero / `None` / `false` (the default) is no augmentation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AugmentParams {
    /// Rotation angle drawn from `[-r, r]` degrees.
    pub rotation_range: f32,
    /// Horizontal shift drawn from `[-s, s]`: a fraction of the width when `s < 1`, else pixels.
    pub width_shift_range: f32,
    /// Vertical shift drawn from `[-s, s]`: a fraction of the height when `s < 1`, else pixels.
    pub height_shift_range: f32,
    /// Shear angle drawn from `[-s, s]` degrees.
    pub shear_range: f32,
    /// Zoom factors (x and y independently) drawn from `[lo, hi]`; `(1, 1)` is no zoom.
    pub zoom_range: (f32, f32),
    /// Flip left-right with probability 1/2.
    pub horizontal_flip: bool,
    /// Flip upside down with probability 1/2.
    pub vertical_flip: bool,
    /// Brightness factor drawn from `[lo, hi]`, if any.
    pub brightness_range: Option<(f32, f32)>,
    /// Gamma drawn from `[lo, hi]`, if any: each pixel becomes `max (x / max)^gamma`, another
    /// exposure curve (above 1 darkens the mid-greys, below 1 lightens them; not in Keras).
    pub gamma_range: Option<(f32, f32)>,
}

impl Default for AugmentParams {
    /// No augmentation.
    fn default() -> Self {
        AugmentParams {
            rotation_range: 0.0,
            width_shift_range: 0.0,
            height_shift_range: 0.0,
            shear_range: 0.0,
            zoom_range: (1.0, 1.0),
            horizontal_flip: false,
            vertical_flip: false,
            brightness_range: None,
            gamma_range: None,
        }
    }
}

impl AugmentParams {
    /// True when no setting changes an image (every draw would be the identity).
    pub fn is_identity(&self) -> bool {
        *self == AugmentParams::default()
    }

    /// Checks every range: non-negative and finite, zoom and brightness pairs ordered and positive.
    pub fn validate(&self) -> Result<()> {
        let non_negative = |name: &'static str, v: f32| {
            if v.is_finite() && v >= 0.0 {
                Ok(())
            } else {
                Err(Error::invalid(name, v, "a finite number >= 0"))
            }
        };
        non_negative("rotation_range", self.rotation_range)?;
        non_negative("width_shift_range", self.width_shift_range)?;
        non_negative("height_shift_range", self.height_shift_range)?;
        non_negative("shear_range", self.shear_range)?;
        if self.shear_range >= 90.0 {
            return Err(Error::invalid(
                "shear_range",
                self.shear_range,
                "an angle below 90 degrees",
            ));
        }
        let (lo, hi) = self.zoom_range;
        if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
            return Err(Error::invalid(
                "zoom_range",
                format!("({lo}, {hi})"),
                "0 < lo <= hi (a single z gives [1 - z, 1 + z], so z < 1)",
            ));
        }
        if let Some((lo, hi)) = self.brightness_range {
            if !(lo.is_finite() && hi.is_finite() && lo >= 0.0 && lo <= hi) {
                return Err(Error::invalid(
                    "brightness_range",
                    format!("({lo}, {hi})"),
                    "0 <= lo <= hi",
                ));
            }
        }
        if let Some((lo, hi)) = self.gamma_range {
            if !(lo.is_finite() && hi.is_finite() && lo > 0.0 && lo <= hi) {
                return Err(Error::invalid(
                    "gamma_range",
                    format!("({lo}, {hi})"),
                    "0 < lo <= hi (1 is no change)",
                ));
            }
        }
        Ok(())
    }
}

/// One drawn transform: Keras's transform parameters dictionary.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transform {
    /// Rotation in degrees (counter-clockwise on screen).
    pub theta: f32,
    /// Shift along x (columns) in pixels.
    pub tx: f32,
    /// Shift along y (rows) in pixels.
    pub ty: f32,
    /// Shear angle in degrees.
    pub shear: f32,
    /// Zoom along x (columns); above 1 shows more of the image (zooms out), as in Keras.
    pub zx: f32,
    /// Zoom along y (rows).
    pub zy: f32,
    /// Flip left-right after the affine step.
    pub flip_horizontal: bool,
    /// Flip upside down after the affine step.
    pub flip_vertical: bool,
    /// Multiply pixels by this factor (then clip), if any.
    pub brightness: Option<f32>,
    /// Raise pixels (as a fraction of the brightest value) to this power, if any, after the
    /// brightness factor.
    pub gamma: Option<f32>,
}

impl Default for Transform {
    /// The identity.
    fn default() -> Self {
        Transform {
            theta: 0.0,
            tx: 0.0,
            ty: 0.0,
            shear: 0.0,
            zx: 1.0,
            zy: 1.0,
            flip_horizontal: false,
            flip_vertical: false,
            brightness: None,
            gamma: None,
        }
    }
}

impl Transform {
    /// True when the affine part (rotation, shift, shear, zoom) does nothing.
    pub fn affine_is_identity(&self) -> bool {
        self.theta == 0.0
            && self.tx == 0.0
            && self.ty == 0.0
            && self.shear == 0.0
            && self.zx == 1.0
            && self.zy == 1.0
    }

    /// What the transform does, compactly, for a figure's panel title: only the parts that
    /// change the image, in the order rotation (`rot`, degrees, counter-clockwise), shift (`dx`
    /// right and `dy` down, pixels), shear (degrees), zoom (Keras's factors: above 1 zooms out;
    /// one number when x and y agree, else `x×y`), flips (`LR` left-right, `UD` upside down) and
    /// brightness factor. Parts are joined by ", "; a description over 26 characters is split
    /// into two lines where the longer line is shortest. The identity is "no change".
    ///
    /// ```
    /// # use support::augment::Transform;
    /// let t = Transform { theta: -12.34, tx: 4.0, ty: -7.3, ..Transform::default() };
    /// assert_eq!(t.describe(), "rot -12°, dx 4 dy -7.3 px");
    /// let t = Transform { shear: 0.06, zx: 0.95, zy: 1.04, flip_horizontal: true, ..t };
    /// assert_eq!(t.describe(), "rot -12°, dx 4 dy -7.3 px\nshear 0.06°, zoom 0.95×1.04, flip LR");
    /// ```
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.theta != 0.0 {
            parts.push(format!("rot {}°", short(self.theta)));
        }
        if self.tx != 0.0 || self.ty != 0.0 {
            parts.push(format!("dx {} dy {} px", short(self.tx), short(self.ty)));
        }
        if self.shear != 0.0 {
            parts.push(format!("shear {}°", short(self.shear)));
        }
        if self.zx != 1.0 || self.zy != 1.0 {
            parts.push(if self.zx == self.zy {
                format!("zoom {:.2}", self.zx)
            } else {
                format!("zoom {:.2}×{:.2}", self.zx, self.zy)
            });
        }
        match (self.flip_horizontal, self.flip_vertical) {
            (true, true) => parts.push("flip LR+UD".to_string()),
            (true, false) => parts.push("flip LR".to_string()),
            (false, true) => parts.push("flip UD".to_string()),
            (false, false) => {}
        }
        if let Some(b) = self.brightness {
            parts.push(format!("bright {b:.2}"));
        }
        if let Some(g) = self.gamma {
            parts.push(format!("gamma {g:.2}"));
        }
        let one_line = parts.join(", ");
        if parts.is_empty() {
            return "no change".to_string();
        }
        if one_line.chars().count() <= 26 {
            return one_line;
        }
        let longer_line = |k: usize| {
            let first = parts[..k].join(", ").chars().count();
            let second = parts[k..].join(", ").chars().count();
            first.max(second)
        };
        let split = (1..parts.len())
            .min_by_key(|&k| longer_line(k))
            .unwrap_or(parts.len());
        if split == parts.len() {
            return one_line;
        }
        format!(
            "{}\n{}",
            parts[..split].join(", "),
            parts[split..].join(", ")
        )
    }

    /// The 2x3 matrix `[a b c; d e f]` taking an output point `(x, y)` to the input point
    /// `(a x + b y + c, d x + e y + f)`, for an image of `shape` (rows, cols): Keras's
    /// rotation . shift . shear . zoom, about the image centre.
    pub fn matrix(&self, shape: (usize, usize)) -> [[f64; 3]; 2] {
        let theta = f64::from(self.theta).to_radians();
        let shear = f64::from(self.shear).to_radians();
        let (cos, sin) = (theta.cos(), theta.sin());
        // Linear part: R . Sh . Z; the shift sits between R and Sh, so it turns with R.
        let rotation = [[cos, -sin], [sin, cos]];
        let shear_m = [[1.0, -shear.sin()], [0.0, shear.cos()]];
        let zoom = [[f64::from(self.zx), 0.0], [0.0, f64::from(self.zy)]];
        let lin = mul2(mul2(rotation, shear_m), zoom);
        let (tx, ty) = (f64::from(self.tx), f64::from(self.ty));
        let shift = [
            rotation[0][0] * tx + rotation[0][1] * ty,
            rotation[1][0] * tx + rotation[1][1] * ty,
        ];
        // About the centre c: input = c + lin (out - c) + shift.
        let cx = (shape.1 as f64 - 1.0) / 2.0;
        let cy = (shape.0 as f64 - 1.0) / 2.0;
        let c0 = cx - lin[0][0] * cx - lin[0][1] * cy + shift[0];
        let c1 = cy - lin[1][0] * cx - lin[1][1] * cy + shift[1];
        [[lin[0][0], lin[0][1], c0], [lin[1][0], lin[1][1], c1]]
    }
}

/// The most transforms [`test_time_transforms`] gives.
pub const MAX_TEST_TIME_TRANSFORMS: usize = 9;

/// `n` mild, deterministic transforms for test-time augmentation (TTA) of an image of `shape`
/// (rows, cols): the identity first, then shifts of 4% right, left, down and up, a zoom in
/// (0.93) and out (1.07), and brightness 0.9 and 1.1, in that order. Predictions averaged over
/// them are steadier against positioning and exposure differences. No flips: chest X-rays are
/// not left-right symmetric (the heart sits on the left). `n` must be 1 to
/// [`MAX_TEST_TIME_TRANSFORMS`].
pub fn test_time_transforms(n: usize, shape: (usize, usize)) -> Result<Vec<Transform>> {
    if !(1..=MAX_TEST_TIME_TRANSFORMS).contains(&n) {
        return Err(Error::invalid(
            "test-time augmentations",
            n,
            format!("1 (no augmentation) to {MAX_TEST_TIME_TRANSFORMS}"),
        ));
    }
    let dx = (0.04 * shape.1 as f32).round();
    let dy = (0.04 * shape.0 as f32).round();
    let id = Transform::default();
    let all = [
        id,
        Transform { tx: dx, ..id },
        Transform { tx: -dx, ..id },
        Transform { ty: dy, ..id },
        Transform { ty: -dy, ..id },
        Transform {
            zx: 0.93,
            zy: 0.93,
            ..id
        },
        Transform {
            zx: 1.07,
            zy: 1.07,
            ..id
        },
        Transform {
            brightness: Some(0.9),
            ..id
        },
        Transform {
            brightness: Some(1.1),
            ..id
        },
    ];
    Ok(all[..n].to_vec())
}

/// A number for a panel title: no decimals from 10 up, one from 1, two below; trailing zeros
/// dropped.
fn short(v: f32) -> String {
    let decimals = match v.abs() {
        a if a >= 9.95 => 0,
        a if a >= 0.995 => 1,
        _ => 2,
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s
    }
}

fn mul2(a: [[f64; 2]; 2], b: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    [
        [
            a[0][0] * b[0][0] + a[0][1] * b[1][0],
            a[0][0] * b[0][1] + a[0][1] * b[1][1],
        ],
        [
            a[1][0] * b[0][0] + a[1][1] * b[1][0],
            a[1][0] * b[0][1] + a[1][1] * b[1][1],
        ],
    ]
}

/// Draws a random transform for an image of `shape` (rows, cols), like Keras's
/// `get_random_transform`: each enabled range is drawn uniformly; flips with probability 1/2.
pub fn random_transform<R: Rng + ?Sized>(
    params: &AugmentParams,
    shape: (usize, usize),
    rng: &mut R,
) -> Transform {
    let symmetric = |rng: &mut R, r: f32| {
        if r > 0.0 {
            rng.gen_range(-r..=r)
        } else {
            0.0
        }
    };
    let theta = symmetric(rng, params.rotation_range);
    let ty = shift_pixels(
        symmetric(rng, params.height_shift_range),
        params.height_shift_range,
        shape.0,
    );
    let tx = shift_pixels(
        symmetric(rng, params.width_shift_range),
        params.width_shift_range,
        shape.1,
    );
    let shear = symmetric(rng, params.shear_range);
    let (lo, hi) = params.zoom_range;
    let (zx, zy) = if lo == 1.0 && hi == 1.0 {
        (1.0, 1.0)
    } else if lo == hi {
        (lo, lo)
    } else {
        (rng.gen_range(lo..=hi), rng.gen_range(lo..=hi))
    };
    let flip_horizontal = params.horizontal_flip && rng.gen_bool(0.5);
    let flip_vertical = params.vertical_flip && rng.gen_bool(0.5);
    let brightness =
        params.brightness_range.map(
            |(lo, hi)| {
                if lo == hi {
                    lo
                } else {
                    rng.gen_range(lo..=hi)
                }
            },
        );
    let gamma = params.gamma_range.map(|(lo, hi)| {
        if lo == hi {
            lo
        } else {
            // Log-uniform, so that 0.6 and 1/0.6 are equally likely around 1.
            (rng.gen_range(lo.ln()..=hi.ln())).exp()
        }
    });
    Transform {
        theta,
        tx,
        ty,
        shear,
        zx,
        zy,
        flip_horizontal,
        flip_vertical,
        brightness,
        gamma,
    }
}

/// A drawn shift in pixels: ranges below 1 are fractions of the side, as in Keras.
fn shift_pixels(drawn: f32, range: f32, side: usize) -> f32 {
    if range < 1.0 {
        drawn * side as f32
    } else {
        drawn
    }
}

/// Applies a transform to a grey image (Keras's `apply_transform`): the affine part sampled with
/// `sampling`, then the flips, then brightness (multiply, clip to `[0, sampling.max_value]`).
/// The output has the input's shape; an identity transform returns the input unchanged.
pub fn apply_transform(
    image: ArrayView2<f32>,
    transform: &Transform,
    sampling: &Sampling,
) -> Array2<f32> {
    let mut out = if transform.affine_is_identity() {
        image.to_owned()
    } else {
        affine(image, &transform.matrix(image.dim()), sampling)
    };
    if transform.flip_horizontal {
        flip_horizontal(&mut out);
    }
    if transform.flip_vertical {
        flip_vertical(&mut out);
    }
    if let Some(factor) = transform.brightness {
        apply_brightness(&mut out, factor, sampling.max_value);
    }
    if let Some(gamma) = transform.gamma {
        apply_gamma(&mut out, gamma, sampling.max_value);
    }
    out
}

/// Raises every pixel, as a fraction of `max_value`, to the power `gamma`: `max (x / max)^gamma`,
/// clipped to `[0, max_value]` first. Gamma above 1 darkens the mid-greys (a darker exposure),
/// below 1 lightens them; black and the brightest value stay put.
pub fn apply_gamma(image: &mut Array2<f32>, gamma: f32, max_value: f32) {
    image.mapv_inplace(|v| max_value * (v.clamp(0.0, max_value) / max_value).powf(gamma));
}

/// Mirrors an image left-right in place.
pub fn flip_horizontal(image: &mut Array2<f32>) {
    image.invert_axis(Axis(1));
    *image = image.as_standard_layout().into_owned();
}

/// Mirrors an image upside down in place.
pub fn flip_vertical(image: &mut Array2<f32>) {
    image.invert_axis(Axis(0));
    *image = image.as_standard_layout().into_owned();
}

/// Scales every pixel by `factor` and clips to `[0, max_value]` (PIL's brightness enhancer,
/// which Keras uses, on pixels in `0..=max_value`).
pub fn apply_brightness(image: &mut Array2<f32>, factor: f32, max_value: f32) {
    image.mapv_inplace(|v| (v * factor).clamp(0.0, max_value));
}

/// Samples `image` at the input points the 2x3 `matrix` assigns to each output pixel.
pub fn affine(image: ArrayView2<f32>, matrix: &[[f64; 3]; 2], sampling: &Sampling) -> Array2<f32> {
    let (rows, cols) = image.dim();
    let mut out = Array2::<f32>::zeros((rows, cols));
    if rows == 0 || cols == 0 {
        return out;
    }
    let src = image.as_standard_layout();
    let src = src
        .as_slice()
        .expect("a standard-layout array is one contiguous slice");
    let dst = out
        .as_slice_mut()
        .expect("a freshly allocated array is contiguous");
    match sampling.order {
        Order::Nearest => fill_rows(dst, cols, matrix, |x, y| {
            sample_nearest(src, rows, cols, x, y, sampling.fill_mode)
        }),
        Order::Bilinear => fill_rows(dst, cols, matrix, |x, y| {
            sample_bilinear(src, rows, cols, x, y, sampling.fill_mode)
        }),
    }
    out
}

/// Fills each output pixel with `sample` at its input point (one sampler per call, so the
/// choice of interpolation is made once per image, not per pixel).
fn fill_rows(
    dst: &mut [f32],
    cols: usize,
    matrix: &[[f64; 3]; 2],
    sample: impl Fn(f64, f64) -> f32,
) {
    let [[a, b, c], [d, e, f]] = *matrix;
    for (y, row) in dst.chunks_exact_mut(cols).enumerate() {
        let yf = y as f64;
        // Input point of the row's first pixel; each step right adds (a, d).
        let (mut sx, mut sy) = (b * yf + c, e * yf + f);
        for px in row.iter_mut() {
            *px = sample(sx, sy);
            sx += a;
            sy += d;
        }
    }
}

/// `floor` as an integer without a libm call (baseline x86-64 has no rounding instruction);
/// saturates far outside any image, where every fill mode gives the same answer anyway.
#[inline]
fn floor_i64(v: f64) -> i64 {
    let v = v.clamp(-1e15, 1e15);
    let t = v as i64;
    if (t as f64) > v {
        t - 1
    } else {
        t
    }
}

/// Tolerance for points that land on the image's border through rounding.
const EDGE_EPS: f64 = 1e-6;

/// True when a constant fill applies: the point lies outside `[0, n - 1]` on either axis.
fn outside(x: f64, y: f64, rows: usize, cols: usize) -> bool {
    x < -EDGE_EPS
        || y < -EDGE_EPS
        || x > (cols - 1) as f64 + EDGE_EPS
        || y > (rows - 1) as f64 + EDGE_EPS
}

/// Maps an integer index to `0..n` by the fill mode (`None` for a constant fill outside).
fn map_index(i: i64, n: usize, mode: FillMode) -> Option<usize> {
    let n = n as i64;
    if (0..n).contains(&i) {
        return Some(i as usize);
    }
    let mapped = match mode {
        FillMode::Constant(_) => return None,
        FillMode::Nearest => i.clamp(0, n - 1),
        FillMode::Wrap => i.rem_euclid(n),
        FillMode::Reflect => {
            // Period 2n: 0..n as is, n..2n mirrored (index n maps to n - 1).
            let k = i.rem_euclid(2 * n);
            if k < n {
                k
            } else {
                2 * n - 1 - k
            }
        }
    };
    Some(mapped as usize)
}

#[inline(always)]
fn sample_nearest(src: &[f32], rows: usize, cols: usize, x: f64, y: f64, mode: FillMode) -> f32 {
    if let FillMode::Constant(cval) = mode {
        if outside(x, y, rows, cols) {
            return cval;
        }
    }
    // Round half up, as scipy's order-0 spline.
    let xi = floor_i64(x + 0.5);
    let yi = floor_i64(y + 0.5);
    match (map_index(xi, cols, mode), map_index(yi, rows, mode)) {
        (Some(xi), Some(yi)) => src[yi * cols + xi],
        _ => fill_value(mode),
    }
}

#[inline(always)]
fn sample_bilinear(src: &[f32], rows: usize, cols: usize, x: f64, y: f64, mode: FillMode) -> f32 {
    if let FillMode::Constant(cval) = mode {
        if outside(x, y, rows, cols) {
            return cval;
        }
    }
    let (x0, y0) = (floor_i64(x), floor_i64(y));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let inside = x0 >= 0 && y0 >= 0 && x0 + 1 < cols as i64 && y0 + 1 < rows as i64;
    let (v00, v01, v10, v11) = if inside {
        let i = y0 as usize * cols + x0 as usize;
        (src[i], src[i + 1], src[i + cols], src[i + cols + 1])
    } else {
        let at = |xi: i64, yi: i64| match (map_index(xi, cols, mode), map_index(yi, rows, mode)) {
            (Some(xi), Some(yi)) => src[yi * cols + xi],
            // Constant fill: only reached for a neighbour just past the border with weight 0.
            _ => fill_value(mode),
        };
        (
            at(x0, y0),
            at(x0 + 1, y0),
            at(x0, y0 + 1),
            at(x0 + 1, y0 + 1),
        )
    };
    let top = v00 + (v01 - v00) * fx;
    let bottom = v10 + (v11 - v10) * fx;
    top + (bottom - top) * fy
}

fn fill_value(mode: FillMode) -> f32 {
    match mode {
        FillMode::Constant(cval) => cval,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ramp(rows: usize, cols: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(r, c)| {
            ((r * cols + c) as f32) / (rows * cols) as f32
        })
    }

    fn shift(tx: f32, ty: f32) -> Transform {
        Transform {
            tx,
            ty,
            ..Transform::default()
        }
    }

    #[test]
    fn zero_ranges_give_the_identity_exactly() {
        let params = AugmentParams::default();
        assert!(params.is_identity());
        let image = ramp(7, 5);
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..5 {
            let t = random_transform(&params, image.dim(), &mut rng);
            assert_eq!(t, Transform::default());
            assert_eq!(
                apply_transform(image.view(), &t, &Sampling::default()),
                image
            );
        }
        // Even through the sampler, the identity matrix reproduces every pixel exactly.
        let identity = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        for order in [Order::Nearest, Order::Bilinear] {
            let sampling = Sampling {
                order,
                ..Sampling::default()
            };
            assert_eq!(affine(image.view(), &identity, &sampling), image);
        }
    }

    /// Reference outputs of Keras's `apply_affine_transform` (scipy `affine_transform`) for
    /// theta 15, tx 0.7, ty -1.2, shear 10, zx 0.9, zy 1.1 on a 5x5 image.
    #[test]
    fn matches_keras_affine_transform() {
        let image =
            Array2::from_shape_fn((5, 5), |(r, c)| ((r * 5 + c) * (1 + (r + c) % 3)) as f32);
        let t = Transform {
            theta: 15.0,
            tx: 0.7,
            ty: -1.2,
            shear: 10.0,
            zx: 0.9,
            zy: 1.1,
            ..Transform::default()
        };
        let keras: [(FillMode, Order, [[f32; 5]; 5]); 6] = [
            (
                FillMode::Nearest,
                Order::Nearest,
                [
                    [6.0, 3.0, 8.0, 8.0, 8.0],
                    [6.0, 3.0, 3.0, 8.0, 8.0],
                    [18.0, 7.0, 16.0, 27.0, 27.0],
                    [11.0, 24.0, 39.0, 39.0, 14.0],
                    [15.0, 32.0, 51.0, 18.0, 38.0],
                ],
            ),
            (
                FillMode::Nearest,
                Order::Bilinear,
                [
                    [5.4665, 3.2358, 7.5825, 8.0, 8.0],
                    [4.8518, 4.2532, 5.6527, 12.9032, 17.329],
                    [9.8217, 7.5486, 16.3863, 23.423, 20.6568],
                    [15.6316, 17.63, 31.8648, 28.3646, 25.637],
                    [22.0044, 30.7639, 48.7095, 26.3551, 49.7036],
                ],
            ),
            (
                FillMode::Reflect,
                Order::Nearest,
                [
                    [6.0, 3.0, 8.0, 8.0, 3.0],
                    [6.0, 3.0, 3.0, 8.0, 8.0],
                    [18.0, 7.0, 16.0, 27.0, 27.0],
                    [11.0, 24.0, 39.0, 39.0, 14.0],
                    [15.0, 32.0, 51.0, 18.0, 38.0],
                ],
            ),
            (
                FillMode::Reflect,
                Order::Bilinear,
                [
                    [6.8382, 5.9555, 7.5825, 8.0, 4.7242],
                    [4.8518, 4.2532, 5.6527, 12.9032, 15.817],
                    [9.8217, 7.5486, 16.3863, 23.423, 20.6568],
                    [15.6316, 17.63, 31.8648, 28.3646, 25.637],
                    [22.0044, 30.7639, 48.7095, 26.3551, 49.7036],
                ],
            ),
            (
                FillMode::Constant(0.0),
                Order::Nearest,
                [
                    [0.0, 0.0, 0.0, 0.0, 0.0],
                    [0.0, 0.0, 3.0, 0.0, 0.0],
                    [18.0, 7.0, 16.0, 27.0, 0.0],
                    [11.0, 24.0, 39.0, 39.0, 0.0],
                    [15.0, 32.0, 51.0, 18.0, 38.0],
                ],
            ),
            (
                FillMode::Constant(0.0),
                Order::Bilinear,
                [
                    [0.0, 0.0, 0.0, 0.0, 0.0],
                    [0.0, 0.0, 5.6527, 0.0, 0.0],
                    [9.8217, 7.5486, 16.3863, 23.423, 0.0],
                    [15.6316, 17.63, 31.8648, 28.3646, 0.0],
                    [22.0044, 30.7639, 48.7095, 26.3551, 49.7036],
                ],
            ),
        ];
        for (fill_mode, order, expected) in keras {
            let sampling = Sampling {
                fill_mode,
                order,
                max_value: 255.0,
            };
            let out = apply_transform(image.view(), &t, &sampling);
            for ((r, c), &v) in out.indexed_iter() {
                assert!(
                    (v - expected[r][c]).abs() < 1e-3,
                    "{fill_mode:?} {order:?} at ({r}, {c}): {v} vs Keras {}",
                    expected[r][c]
                );
            }
        }
    }

    #[test]
    fn double_flips_are_the_identity() {
        let image = ramp(4, 6);
        let mut once = image.clone();
        flip_horizontal(&mut once);
        assert_ne!(once, image);
        assert_eq!(once[[1, 0]], image[[1, 5]]);
        flip_horizontal(&mut once);
        assert_eq!(once, image);
        let mut v = image.clone();
        flip_vertical(&mut v);
        assert_eq!(v[[0, 2]], image[[3, 2]]);
        flip_vertical(&mut v);
        assert_eq!(v, image);
    }

    #[test]
    fn rotation_by_90_degrees_turns_counter_clockwise() {
        // 3x3 with one bright pixel at the top right; a 90-degree turn puts it top left.
        let mut image = Array2::<f32>::zeros((3, 3));
        image[[0, 2]] = 1.0;
        image[[1, 2]] = 0.5;
        let t = Transform {
            theta: 90.0,
            ..Transform::default()
        };
        for order in [Order::Nearest, Order::Bilinear] {
            let sampling = Sampling {
                order,
                fill_mode: FillMode::Constant(0.0),
                ..Sampling::default()
            };
            let out = apply_transform(image.view(), &t, &sampling);
            let expected = array![[1.0, 0.5, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.0]];
            for (o, e) in out.iter().zip(expected.iter()) {
                assert!((o - e).abs() < 1e-5, "{order:?}: {out:?}");
            }
        }
    }

    #[test]
    fn shifts_move_content_and_fill_modes_fill_the_edge() {
        // One row 0..5; tx = 2 samples the input 2 columns to the right (content moves left).
        let image = array![[10.0f32, 11.0, 12.0, 13.0, 14.0]];
        let cases = [
            (FillMode::Nearest, [12.0, 13.0, 14.0, 14.0, 14.0]),
            (FillMode::Constant(-1.0), [12.0, 13.0, 14.0, -1.0, -1.0]),
            (FillMode::Reflect, [12.0, 13.0, 14.0, 14.0, 13.0]),
            (FillMode::Wrap, [12.0, 13.0, 14.0, 10.0, 11.0]),
        ];
        for order in [Order::Nearest, Order::Bilinear] {
            for (fill_mode, expected) in cases {
                let sampling = Sampling {
                    fill_mode,
                    order,
                    max_value: 255.0,
                };
                let out = apply_transform(image.view(), &shift(2.0, 0.0), &sampling);
                assert_eq!(
                    out.row(0).to_vec(),
                    expected.to_vec(),
                    "{fill_mode:?} {order:?}"
                );
            }
        }
        // The other way, and along rows.
        let out = apply_transform(
            image.view(),
            &shift(-1.0, 0.0),
            &Sampling {
                fill_mode: FillMode::Reflect,
                ..Sampling::default()
            },
        );
        assert_eq!(out.row(0).to_vec(), vec![10.0, 10.0, 11.0, 12.0, 13.0]);
        let column = image.t().to_owned();
        let out = apply_transform(column.view(), &shift(0.0, 2.0), &Sampling::default());
        assert_eq!(out.column(0).to_vec(), vec![12.0, 13.0, 14.0, 14.0, 14.0]);
    }

    #[test]
    fn half_pixel_shift_interpolates() {
        let image = array![[0.0f32, 2.0, 4.0, 6.0]];
        let out = apply_transform(image.view(), &shift(0.5, 0.0), &Sampling::default());
        assert_eq!(out.row(0).to_vec(), vec![1.0, 3.0, 5.0, 6.0]);
        let nearest = Sampling {
            order: Order::Nearest,
            ..Sampling::default()
        };
        let out = apply_transform(image.view(), &shift(0.4, 0.0), &nearest);
        assert_eq!(out.row(0).to_vec(), vec![0.0, 2.0, 4.0, 6.0]);
    }

    #[test]
    fn zoom_above_one_shrinks_the_picture() {
        // Keras zoom 2 samples twice as far from the centre: a centred bright square halves.
        let mut image = Array2::<f32>::zeros((9, 9));
        image.slice_mut(ndarray::s![2..7, 2..7]).fill(1.0);
        let t = Transform {
            zx: 2.0,
            zy: 2.0,
            ..Transform::default()
        };
        let sampling = Sampling {
            order: Order::Nearest,
            fill_mode: FillMode::Constant(0.0),
            ..Sampling::default()
        };
        let out = apply_transform(image.view(), &t, &sampling);
        let bright = out.iter().filter(|&&v| v == 1.0).count();
        assert_eq!(bright, 9, "{out:?}");
        assert_eq!(out[[4, 4]], 1.0);
        assert_eq!(out[[2, 2]], 0.0);
    }

    #[test]
    fn random_transforms_keep_shape_and_range() {
        let params = AugmentParams {
            rotation_range: 20.0,
            width_shift_range: 0.1,
            height_shift_range: 0.1,
            shear_range: 10.0,
            zoom_range: (0.9, 1.1),
            horizontal_flip: true,
            vertical_flip: true,
            brightness_range: Some((0.5, 1.5)),
            gamma_range: Some((0.6, 1.6)),
        };
        params.validate().unwrap();
        let image = ramp(13, 11);
        let mut rng = StdRng::seed_from_u64(42);
        let mut changed = 0;
        let mut flips = 0;
        for _ in 0..50 {
            let t = random_transform(&params, image.dim(), &mut rng);
            assert!(t.theta.abs() <= 20.0 && t.shear.abs() <= 10.0);
            assert!(
                t.tx.abs() <= 1.1 + 1e-5 && t.ty.abs() <= 1.3 + 1e-5,
                "{t:?}"
            );
            assert!((0.9..=1.1).contains(&t.zx) && (0.9..=1.1).contains(&t.zy));
            let b = t.brightness.unwrap();
            assert!((0.5..=1.5).contains(&b));
            let g = t.gamma.unwrap();
            assert!((0.6 - 1e-6..=1.6 + 1e-6).contains(&g), "{g}");
            flips += usize::from(t.flip_horizontal);
            for fill_mode in [
                FillMode::Nearest,
                FillMode::Constant(0.0),
                FillMode::Reflect,
                FillMode::Wrap,
            ] {
                let sampling = Sampling {
                    fill_mode,
                    order: Order::Bilinear,
                    max_value: 1.0,
                };
                let out = apply_transform(image.view(), &t, &sampling);
                assert_eq!(out.dim(), image.dim());
                assert!(
                    out.iter().all(|&v| (0.0..=1.0).contains(&v)),
                    "{fill_mode:?}"
                );
                changed += usize::from(out != image);
            }
        }
        assert!(changed > 150, "transforms should change images");
        assert!((10..=40).contains(&flips), "about half flip: {flips}");
    }

    #[test]
    fn invalid_ranges_are_refused() {
        let bad = [
            AugmentParams {
                rotation_range: -1.0,
                ..AugmentParams::default()
            },
            AugmentParams {
                width_shift_range: f32::NAN,
                ..AugmentParams::default()
            },
            AugmentParams {
                zoom_range: (1.2, 0.8),
                ..AugmentParams::default()
            },
            AugmentParams {
                zoom_range: (0.0, 1.0),
                ..AugmentParams::default()
            },
            AugmentParams {
                brightness_range: Some((1.5, 0.5)),
                ..AugmentParams::default()
            },
            AugmentParams {
                shear_range: 95.0,
                ..AugmentParams::default()
            },
        ];
        for params in bad {
            assert!(
                matches!(params.validate(), Err(Error::InvalidArgument { .. })),
                "{params:?}"
            );
        }
        assert!(AugmentParams::default().validate().is_ok());
    }

    #[test]
    fn brightness_scales_and_clips() {
        let mut image = array![[0.0f32, 100.0, 200.0]];
        apply_brightness(&mut image, 1.5, 255.0);
        assert_eq!(image.row(0).to_vec(), vec![0.0, 150.0, 255.0]);
    }

    #[test]
    fn test_time_transforms_are_mild_distinct_and_start_with_the_identity() {
        let ts = test_time_transforms(MAX_TEST_TIME_TRANSFORMS, (160, 150)).unwrap();
        assert_eq!(ts.len(), 9);
        assert_eq!(ts[0], Transform::default());
        assert_eq!(ts[1].describe(), "dx 6 dy 0 px");
        assert_eq!(ts[3].describe(), "dx 0 dy 6 px");
        assert_eq!(ts[6].describe(), "zoom 1.07");
        assert_eq!(ts[8].describe(), "bright 1.10");
        for (i, a) in ts.iter().enumerate() {
            assert!(!a.flip_horizontal && !a.flip_vertical);
            assert!(a.tx.abs() <= 0.05 * 150.0 && a.ty.abs() <= 0.05 * 160.0);
            for b in &ts[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_eq!(
            test_time_transforms(1, (10, 10)).unwrap(),
            vec![Transform::default()]
        );
        assert!(test_time_transforms(0, (10, 10)).is_err());
        assert!(test_time_transforms(10, (10, 10)).is_err());
    }

    #[test]
    fn gamma_changes_the_mid_greys_and_keeps_black_and_white() {
        let mut image = Array2::from_shape_vec((1, 4), vec![0.0, 63.75, 255.0, 300.0]).unwrap();
        apply_gamma(&mut image, 2.0, 255.0);
        assert_eq!(image[[0, 0]], 0.0);
        assert!((image[[0, 1]] - 15.9375).abs() < 1e-3, "{}", image[[0, 1]]);
        assert_eq!(image[[0, 2]], 255.0);
        assert_eq!(image[[0, 3]], 255.0, "clipped first");
        let t = Transform {
            gamma: Some(0.5),
            ..Transform::default()
        };
        assert_eq!(t.describe(), "gamma 0.50");
        let out = apply_transform(
            Array2::from_elem((2, 2), 64.0).view(),
            &t,
            &Sampling::default(),
        );
        assert!((out[[1, 1]] - 127.75).abs() < 0.01, "{}", out[[1, 1]]);
        for bad in [(0.0, 1.0), (1.5, 0.5), (f32::NAN, 1.0)] {
            let params = AugmentParams {
                gamma_range: Some(bad),
                ..AugmentParams::default()
            };
            assert!(params.validate().is_err(), "{bad:?}");
        }
    }
}
