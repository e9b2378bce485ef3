//! The shape of one fused convolution + ReLU + pooling layer for one image, shared by the
//! generic path (`fused`) and its fast paths (`winograd`, `winograd_backward`, `direct`).

use super::conv::ConvGeometry;
use super::pool::PoolSpec;
use crate::error::{Error, Result};

/// Marks a pooled value whose maximum was not positive (ReLU zeroed it: no gradient); never
/// written without ReLU.
pub(crate) const DEAD: u16 = u16::MAX;

/// Sizes of the fused op for one image.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FusedGeometry {
    pub conv: ConvGeometry,
    pub pool: PoolSpec,
    /// Pooled rows and columns.
    pub ph: usize,
    pub pw: usize,
    /// Convolution columns the pooling windows read.
    pub cw: usize,
    /// Pooled rows per band.
    pub band: usize,
    /// Whether ReLU follows the convolution (otherwise it is linear).
    pub relu: bool,
}

impl FusedGeometry {
    pub fn new(conv: ConvGeometry, pool: PoolSpec, relu: bool) -> Result<Self> {
        let (ph, pw) = pool.output_size(conv.out_h, conv.out_w)?;
        if pool.size.0 * pool.size.1 >= DEAD as usize {
            return Err(Error::invalid(
                "pool",
                format!("{:?}", pool.size),
                "fewer than 65535 values per window",
            ));
        }
        let cw = (pw - 1) * pool.stride + pool.size.1;
        let rows = (super::conv::PATCH_BUDGET / (cw * conv.patch_len().max(conv.filters)))
            .max(pool.size.0);
        let band = ((rows - pool.size.0) / pool.stride + 1).clamp(1, ph);
        Ok(FusedGeometry {
            conv,
            pool,
            ph,
            pw,
            cw,
            band,
            relu,
        })
    }

    pub fn out_len(&self) -> usize {
        self.ph * self.pw * self.conv.filters
    }

    /// Convolution rows `r0..r1` that pooled rows `a..b` read.
    pub(crate) fn conv_rows(&self, a: usize, b: usize) -> (usize, usize) {
        (
            a * self.pool.stride,
            (b - 1) * self.pool.stride + self.pool.size.0,
        )
    }

    pub(crate) fn max_conv_rows(&self) -> usize {
        (self.band - 1) * self.pool.stride + self.pool.size.0
    }
}
