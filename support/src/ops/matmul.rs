//! A safe wrapper around the `gemm` crate's strided f32 matrix product.
//!
//! `gemm` picks its kernel at run time (AVX-512 with the `x86-v4` feature, else AVX2/FMA, else
//! SSE or scalar), so one build runs on any x86-64 CPU.

/// A read-only strided view of an `rows x cols` matrix inside a slice.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Distance between consecutive rows.
    pub rs: usize,
    /// Distance between consecutive columns.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major matrix (`cs = 1`, `rs = cols`).
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef {
            data,
            rows,
            cols,
            rs: cols,
            cs: 1,
        }
    }

    /// The transpose, without moving data.
    pub fn t(self) -> Self {
        MatRef {
            data: self.data,
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
        }
    }

    /// Whether every element the view addresses lies inside `data`, with no arithmetic overflow
    /// on the way, and both strides fit the `isize` that `gemm` takes.
    fn fits(&self) -> bool {
        isize::try_from(self.rs).is_ok()
            && isize::try_from(self.cs).is_ok()
            && span(self.rows, self.cols, self.rs, self.cs).is_some_and(|s| s <= self.data.len())
    }
}

/// How many elements a `rows x cols` view with strides `rs`, `cs` reaches from its first
/// (`(rows - 1) * rs + (cols - 1) * cs + 1`; 0 for an empty view), or `None` on overflow.
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(rs)?
        .checked_add((cols - 1).checked_mul(cs)?)?
        .checked_add(1)
}

/// `dst = a · b` (or `dst += a · b` with `accumulate`), `dst` row-major `m x n` with row stride `dst_rs`.
///
/// Panics when a view does not fit its slice or the inner sizes differ: callers size every
/// buffer from the same geometry, so a mismatch is a bug in this module, not a data error.
pub(crate) fn matmul(
    dst: &mut [f32],
    dst_rs: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    accumulate: bool,
) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(
        b.rows, k,
        "matmul: inner sizes differ (bug in the caller's geometry)"
    );
    assert!(
        a.fits() && b.fits(),
        "matmul: operand view exceeds its buffer"
    );
    if m == 0 || n == 0 {
        return;
    }
    // Rows of `dst` must not overlap (gemm writes each element once, as if they were distinct),
    // and the whole view must lie inside the slice, computed without overflow.
    assert!(
        m == 1 || dst_rs >= n,
        "matmul: destination rows overlap (row stride {dst_rs} < {n} columns)"
    );
    assert!(
        isize::try_from(dst_rs).is_ok() && span(m, n, dst_rs, 1).is_some_and(|s| s <= dst.len()),
        "matmul: destination view exceeds its buffer"
    );
    if k == 0 {
        if !accumulate {
            for r in 0..m {
                dst[r * dst_rs..r * dst_rs + n].fill(0.0);
            }
        }
        return;
    }
    // SAFETY: gemm reads `a` at `i * a.rs + p * a.cs` and `b` at `p * b.rs + j * b.cs`, and
    // writes `dst` at `i * dst_rs + j`, for i < m, p < k, j < n. The asserts above check, with
    // overflow-checked arithmetic, that the largest of each lies inside its slice, that every
    // stride fits gemm's `isize`, that `b.rows == k` and that `dst`'s rows do not overlap; `dst`
    // is borrowed mutably, so it cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                for p in 0..k {
                    out[i * n + j] += a[i * k + p] * b[p * n + j];
                }
            }
        }
        out
    }

    #[test]
    fn matches_naive_product_plain_transposed_and_accumulated() {
        let (m, k, n) = (7, 5, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut dst = vec![9.0; m * n];
        matmul(
            &mut dst,
            n,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            false,
        );
        for (x, y) in dst.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        // (bᵀ aᵀ)ᵀ = a b: compute bᵀ·aᵀ (n x m) from transposed views and compare.
        let mut dt = vec![0.0; n * m];
        matmul(
            &mut dt,
            m,
            MatRef::row_major(&b, k, n).t(),
            MatRef::row_major(&a, m, k).t(),
            false,
        );
        for i in 0..m {
            for j in 0..n {
                assert!((dt[j * m + i] - want[i * n + j]).abs() < 1e-5);
            }
        }
        matmul(
            &mut dst,
            n,
            MatRef::row_major(&a, m, k),
            MatRef::row_major(&b, k, n),
            true,
        );
        for (x, y) in dst.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }

    #[test]
    fn span_is_exact_and_overflow_is_caught() {
        assert_eq!(span(3, 4, 4, 1), Some(12));
        assert_eq!(span(3, 4, 1, 3), Some(12));
        assert_eq!(span(0, 4, 4, 1), Some(0));
        assert_eq!(span(2, 2, usize::MAX, 1), None);
        assert_eq!(span(2, 2, usize::MAX / 2 + 1, usize::MAX / 2 + 1), None);
        assert_eq!(span(2, 2, usize::MAX / 2, usize::MAX / 2), Some(usize::MAX));
    }

    fn run(dst_len: usize, dst_rs: usize, a: MatRef<'_>, b: MatRef<'_>) {
        let mut dst = vec![0.0; dst_len];
        matmul(&mut dst, dst_rs, a, b, false);
    }

    #[test]
    #[should_panic(expected = "operand view exceeds its buffer")]
    fn a_stride_past_the_buffer_is_refused() {
        let data = [1.0f32; 4];
        let a = MatRef {
            data: &data,
            rows: 2,
            cols: 2,
            rs: usize::MAX / 2 + 1,
            cs: 1,
        };
        run(4, 2, a, MatRef::row_major(&data, 2, 2));
    }

    #[test]
    #[should_panic(expected = "operand view exceeds its buffer")]
    fn a_stride_beyond_isize_is_refused() {
        let data = [1.0f32; 4];
        let a = MatRef {
            data: &data,
            rows: 1,
            cols: 2,
            rs: usize::MAX,
            cs: 1,
        };
        run(2, 2, a, MatRef::row_major(&data, 2, 2));
    }

    #[test]
    #[should_panic(expected = "destination rows overlap")]
    fn overlapping_destination_rows_are_refused() {
        let data = [1.0f32; 4];
        run(
            4,
            1,
            MatRef::row_major(&data, 2, 2),
            MatRef::row_major(&data, 2, 2),
        );
    }

    #[test]
    #[should_panic(expected = "destination view exceeds its buffer")]
    fn a_short_destination_is_refused() {
        let data = [1.0f32; 4];
        run(
            3,
            2,
            MatRef::row_major(&data, 2, 2),
            MatRef::row_major(&data, 2, 2),
        );
    }

    #[test]
    #[should_panic(expected = "inner sizes differ")]
    fn mismatched_inner_sizes_are_refused() {
        let data = [1.0f32; 6];
        run(
            4,
            2,
            MatRef::row_major(&data, 2, 3),
            MatRef::row_major(&data, 2, 2),
        );
    }
}
