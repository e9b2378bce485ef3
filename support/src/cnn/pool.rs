//! The settings of 2-D max pooling over NHWC images ('valid' windows, any size and stride); the
//! model pools inside the fused op ([`super::fused`]).

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
