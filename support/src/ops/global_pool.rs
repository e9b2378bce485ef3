//! Keras's `GlobalAveragePooling2D` as our own differentiable op, [`global_average_pool`]: each
//! channel's mean over height and width, which turns NHWC activations into dense features.

use dfdx::prelude::*;
use rayon::prelude::*;

use super::tensor_io::{unary_op, Nhwc};
use crate::error::{Error, Result};

/// Keras's GlobalAveragePooling2D: the mean of each channel over height and width, (n,h,w,c) -> (n,c).
pub(crate) fn global_average_pool<T: Tape<f32, Cpu>>(
    x: Tensor<Nhwc, f32, Cpu, T>,
) -> Result<Tensor<(usize, usize), f32, Cpu, T>> {
    let (n, h, w, c) = *x.shape();
    if h * w * c == 0 {
        return Err(Error::invalid(
            "global_average_pool input",
            format!("{h}x{w}x{c}"),
            "non-zero height, width and channels",
        ));
    }
    let (positions, in_len) = (h * w, h * w * c);
    unary_op(x, (n, c), "building the global_average_pool output", |xs| {
        let mut out = vec![0.0f32; n * c];
        // One image per task; sums in f64 so a large image does not lose the small values.
        out.par_chunks_mut(c)
            .zip(xs.par_chunks(in_len))
            .for_each(|(o, xi)| {
                let mut sums = vec![0.0f64; c];
                for pixel in xi.chunks_exact(c) {
                    for (s, v) in sums.iter_mut().zip(pixel) {
                        *s += *v as f64;
                    }
                }
                for (o, s) in o.iter_mut().zip(&sums) {
                    *o = (s / positions as f64) as f32;
                }
            });
        // Every position of a channel receives an equal share of that channel's gradient.
        let backward = move |dout: &[f32]| {
            let mut dx = vec![0.0f32; n * in_len];
            let share = 1.0 / positions as f32;
            dx.par_chunks_mut(in_len)
                .zip(dout.par_chunks(c))
                .for_each(|(dxi, di)| {
                    let shares: Vec<f32> = di.iter().map(|d| d * share).collect();
                    for pixel in dxi.chunks_exact_mut(c) {
                        pixel.copy_from_slice(&shares);
                    }
                });
            dx
        };
        Ok((out, backward))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::reference::tests::assert_close;
    use crate::ops::tensor_io::tests::{finite_diff_check, rand_vec};

    #[test]
    fn equals_the_mean_over_height_and_width() {
        let dev = Cpu::default();
        let (n, h, w, c) = (2, 3, 5, 4);
        let x = rand_vec(n * h * w * c, 1);
        let y = global_average_pool(dev.tensor_from_vec(x.clone(), (n, h, w, c))).unwrap();
        assert_eq!(*y.shape(), (n, c));
        let mut want = vec![0.0f32; n * c];
        for i in 0..n {
            for ch in 0..c {
                let mut sum = 0.0;
                for r in 0..h {
                    for col in 0..w {
                        sum += x[((i * h + r) * w + col) * c + ch];
                    }
                }
                want[i * c + ch] = sum / (h * w) as f32;
            }
        }
        assert_close(&y.as_vec(), &want, 1e-6, "channel means");
    }

    #[test]
    fn gradients_match_finite_differences() {
        finite_diff_check(
            (2usize, 4usize, 3usize, 5usize),
            7,
            |x, _k, _b| global_average_pool(x).unwrap(),
            1,
            1,
            1e-3,
        );
    }

    #[test]
    fn empty_images_are_refused() {
        let dev = Cpu::default();
        let x = dev.tensor_from_vec(vec![], (2usize, 0usize, 3usize, 1usize));
        assert!(matches!(
            global_average_pool(x),
            Err(Error::InvalidArgument { .. })
        ));
    }
}
