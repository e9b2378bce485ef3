//! 2-D max pooling over NHWC images ('valid' windows, any size and stride): its settings
//! ([`PoolSpec`]) and the standalone differentiable op [`max_pool2d`], for pooling that does not
//! follow a convolution directly (a convolution's own pooling happens inside the fused op,
//! [`super::fused`]).

use dfdx::prelude::*;
use rayon::prelude::*;

use super::tensor_io::{unary_op, Nhwc};
use crate::error::{Error, Result};

/// Max-pooling window size and stride (Keras's `MaxPooling2D(pool_size, strides)`, padding 'valid').
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PoolSpec {
    /// Window height and width.
    pub size: (usize, usize),
    /// Step between windows, the same along rows and columns.
    pub stride: usize,
}

impl PoolSpec {
    /// A square `k x k` window moved by `k` (Keras's default `strides=pool_size`).
    pub(crate) fn square(k: usize) -> Self {
        PoolSpec {
            size: (k, k),
            stride: k,
        }
    }

    /// Output rows and columns for an `h x w` input; errors when a window does not fit.
    pub(crate) fn output_size(&self, h: usize, w: usize) -> Result<(usize, usize)> {
        let (ph, pw) = self.size;
        if ph == 0 || pw == 0 || self.stride == 0 {
            return Err(Error::invalid(
                "pool",
                format!("{ph}x{pw} stride {}", self.stride),
                "a window of at least 1x1 and a stride of at least 1",
            ));
        }
        if h < ph || w < pw {
            return Err(Error::invalid(
                "pool input",
                format!("{h}x{w}"),
                format!("at least the {ph}x{pw} pool window"),
            ));
        }
        Ok(((h - ph) / self.stride + 1, (w - pw) / self.stride + 1))
    }
}

/// Forward max pooling of `n` images of `h x w x c`; returns the output and, for each output
/// value, the index of its maximum within its image (the first one on ties).
fn pool_forward(
    x: &[f32],
    n: usize,
    h: usize,
    w: usize,
    c: usize,
    p: &PoolSpec,
) -> Result<(Vec<f32>, Vec<u32>)> {
    let (oh, ow) = p.output_size(h, w)?;
    if h * w * c > u32::MAX as usize {
        return Err(Error::invalid(
            "pool input",
            format!("{h}x{w}x{c}"),
            "under 2^32 values per image",
        ));
    }
    let (in_len, out_len) = (h * w * c, oh * ow * c);
    let mut out = vec![0.0f32; n * out_len];
    let mut idx = vec![0u32; n * out_len];
    out.par_chunks_mut(out_len.max(1))
        .zip(idx.par_chunks_mut(out_len.max(1)))
        .zip(x.par_chunks(in_len.max(1)))
        .for_each(|((o, ix), xi)| {
            for r in 0..oh {
                for col in 0..ow {
                    let base = (r * ow + col) * c;
                    let (ov, iv) = (&mut o[base..base + c], &mut ix[base..base + c]);
                    // Start from the window's first position, then keep strictly larger
                    // values (branch-free selects), so the first maximum wins ties.
                    let first = (r * p.stride * w + col * p.stride) * c;
                    ov.copy_from_slice(&xi[first..first + c]);
                    for (k, ix) in iv.iter_mut().enumerate() {
                        *ix = (first + k) as u32;
                    }
                    for pos in 1..p.size.0 * p.size.1 {
                        let (i, j) = (pos / p.size.1, pos % p.size.1);
                        let at = ((r * p.stride + i) * w + col * p.stride + j) * c;
                        for (k, ((o, ix), &v)) in ov
                            .iter_mut()
                            .zip(iv.iter_mut())
                            .zip(&xi[at..at + c])
                            .enumerate()
                        {
                            let larger = v > *o;
                            *o = if larger { v } else { *o };
                            *ix = if larger { (at + k) as u32 } else { *ix };
                        }
                    }
                }
            }
        });
    Ok((out, idx))
}

/// Backward max pooling: routes each output gradient to the input position that held the max.
fn pool_backward(dout: &[f32], idx: &[u32], n: usize, in_len: usize) -> Vec<f32> {
    let mut dx = vec![0.0f32; n * in_len];
    let out_len = dout.len() / n.max(1);
    dx.par_chunks_mut(in_len.max(1))
        .zip(
            dout.par_chunks(out_len.max(1))
                .zip(idx.par_chunks(out_len.max(1))),
        )
        .for_each(|(dxi, (di, ii))| {
            for (g, &k) in di.iter().zip(ii) {
                dxi[k as usize] += g;
            }
        });
    dx
}

/// Differentiable max pooling of NHWC `x` with 'valid' windows (Keras's `MaxPooling2D`); the
/// gradient goes to the first maximum of each window.
pub(crate) fn max_pool2d<T: Tape<f32, Cpu>>(
    x: Tensor<Nhwc, f32, Cpu, T>,
    pool: &PoolSpec,
) -> Result<Tensor<Nhwc, f32, Cpu, T>> {
    let (n, h, w, c) = *x.shape();
    let (oh, ow) = pool.output_size(h, w)?;
    unary_op(x, (n, oh, ow, c), "building the max_pool2d output", |xs| {
        let (out, idx) = pool_forward(xs, n, h, w, c, pool)?;
        Ok((out, move |dout: &[f32]| {
            pool_backward(dout, &idx, n, h * w * c)
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::tensor_io::tests::{finite_diff_check, rand_vec};

    #[test]
    fn output_sizes_follow_keras_valid_pooling() {
        assert_eq!(PoolSpec::square(2).output_size(128, 128).unwrap(), (64, 64));
        assert_eq!(PoolSpec::square(2).output_size(29, 29).unwrap(), (14, 14));
        assert_eq!(
            PoolSpec {
                size: (3, 3),
                stride: 2
            }
            .output_size(7, 8)
            .unwrap(),
            (3, 3)
        );
        assert!(PoolSpec::square(2).output_size(1, 5).is_err());
        assert!(PoolSpec {
            size: (2, 2),
            stride: 0
        }
        .output_size(4, 4)
        .is_err());
    }

    fn naive_pool(x: &[f32], n: usize, h: usize, w: usize, c: usize, p: &PoolSpec) -> Vec<f32> {
        let (oh, ow) = p.output_size(h, w).unwrap();
        let mut out = vec![];
        for i in 0..n {
            for r in 0..oh {
                for col in 0..ow {
                    for ch in 0..c {
                        let mut m = f32::NEG_INFINITY;
                        for a in 0..p.size.0 {
                            for b in 0..p.size.1 {
                                let v = x[((i * h + r * p.stride + a) * w + col * p.stride + b)
                                    * c
                                    + ch];
                                m = m.max(v);
                            }
                        }
                        out.push(m);
                    }
                }
            }
        }
        out
    }

    #[test]
    fn max_pool_equals_naive_reference() {
        for (seed, (n, h, w, c, p)) in [
            (2, 6, 6, 3, PoolSpec::square(2)),
            (1, 7, 5, 2, PoolSpec::square(2)),
            (
                2,
                9,
                8,
                1,
                PoolSpec {
                    size: (3, 3),
                    stride: 2,
                },
            ),
            (
                1,
                5,
                7,
                4,
                PoolSpec {
                    size: (2, 3),
                    stride: 1,
                },
            ),
        ]
        .into_iter()
        .enumerate()
        {
            let x = rand_vec(n * h * w * c, seed as u64);
            let (got, _) = pool_forward(&x, n, h, w, c, &p).unwrap();
            assert_eq!(got, naive_pool(&x, n, h, w, c, &p), "case {seed}");
        }
    }

    #[test]
    fn max_pool_gradients_match_finite_differences() {
        for (n, h, w, c, p) in [
            (2, 6, 5, 2, PoolSpec::square(2)),
            (
                1,
                7,
                7,
                2,
                PoolSpec {
                    size: (3, 3),
                    stride: 2,
                },
            ),
        ] {
            finite_diff_check(
                (n, h, w, c),
                11,
                |x, _k, _b| max_pool2d(x, &p).unwrap(),
                1,
                1,
                1e-3,
            );
        }
    }
}
