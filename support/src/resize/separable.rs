//! The floating-point separable engine: two 1-D passes over row-major pixels, rows in parallel.

use rayon::prelude::*;

use super::kernel::Taps;

/// A pixel the float engine can read.
pub(crate) trait Pixel: Copy + Send + Sync {
    /// The pixel's value as `f32` (no rescaling).
    fn value(self) -> f32;
}

impl Pixel for u8 {
    fn value(self) -> f32 {
        f32::from(self)
    }
}

impl Pixel for f32 {
    fn value(self) -> f32 {
        self
    }
}

/// One axis's weights as `f32`: for each output, its first input index and its weights.
pub(crate) struct Table {
    starts: Vec<usize>,
    offsets: Vec<usize>,
    weights: Vec<f32>,
}

impl Table {
    /// Converts an `f64` table, multiplying every weight by `gain`.
    pub(crate) fn new(taps: &[Taps], gain: f64) -> Self {
        let mut offsets = Vec::with_capacity(taps.len() + 1);
        let mut weights = Vec::new();
        offsets.push(0);
        for t in taps {
            weights.extend(t.weights.iter().map(|w| (w * gain) as f32));
            offsets.push(weights.len());
        }
        Table {
            starts: taps.iter().map(|t| t.start).collect(),
            offsets,
            weights,
        }
    }

    fn len(&self) -> usize {
        self.starts.len()
    }

    fn get(&self, o: usize) -> (usize, &[f32]) {
        (
            self.starts[o],
            &self.weights[self.offsets[o]..self.offsets[o + 1]],
        )
    }

    /// Mean taps per output sample (the cost of one output).
    fn mean_taps(&self) -> f64 {
        self.weights.len() as f64 / self.len().max(1) as f64
    }
}

/// Below this many multiply-adds a pass runs on the calling thread (rayon's overhead would dominate).
const PARALLEL_WORK: f64 = 262_144.0;

/// Resamples `src` (row-major, `h` x `w`) with `rows` along axis 0 and `cols` along axis 1,
/// choosing the cheaper pass order; returns `rows.len()` x `cols.len()` values, row-major.
pub(crate) fn resample<P: Pixel>(
    src: &[P],
    (h, w): (usize, usize),
    rows: &Table,
    cols: &Table,
) -> Vec<f32> {
    debug_assert_eq!(src.len(), h * w, "source length matches its shape");
    let (oh, ow) = (rows.len(), cols.len());
    let vertical_first = oh as f64 * w as f64 * rows.mean_taps();
    let horizontal_first = h as f64 * ow as f64 * cols.mean_taps();
    if vertical_first <= horizontal_first {
        let tmp = vertical(src, w, rows);
        horizontal(&tmp, w, cols)
    } else {
        let tmp = horizontal(src, w, cols);
        vertical(&tmp, ow, rows)
    }
}

/// Axis-0 pass: each output row is a weighted sum of whole input rows (vectorises over columns).
fn vertical<P: Pixel>(src: &[P], w: usize, rows: &Table) -> Vec<f32> {
    let mut out = vec![0.0f32; rows.len() * w];
    if w == 0 {
        return out;
    }
    let one_row = |(o, acc): (usize, &mut [f32])| {
        let (start, weights) = rows.get(o);
        for (k, &wt) in weights.iter().enumerate() {
            let line = &src[(start + k) * w..(start + k + 1) * w];
            for (a, &p) in acc.iter_mut().zip(line) {
                *a += wt * p.value();
            }
        }
    };
    let work = rows.weights.len() as f64 * w as f64;
    if work >= PARALLEL_WORK {
        out.par_chunks_mut(w).enumerate().for_each(one_row);
    } else {
        out.chunks_mut(w).enumerate().for_each(one_row);
    }
    out
}

/// Axis-1 pass: each output column is a short dot product within one row.
fn horizontal<P: Pixel>(src: &[P], w: usize, cols: &Table) -> Vec<f32> {
    let ow = cols.len();
    let h = src.len().checked_div(w).unwrap_or(0);
    let mut out = vec![0.0f32; h * ow];
    if ow == 0 {
        return out;
    }
    let one_row = |(r, dst): (usize, &mut [f32])| {
        let line = &src[r * w..(r + 1) * w];
        for (o, d) in dst.iter_mut().enumerate() {
            let (start, weights) = cols.get(o);
            *d = weights
                .iter()
                .zip(&line[start..start + weights.len()])
                .map(|(&wt, &p)| wt * p.value())
                .sum();
        }
    };
    let work = cols.weights.len() as f64 * h as f64;
    if work >= PARALLEL_WORK {
        out.par_chunks_mut(ow).enumerate().for_each(one_row);
    } else {
        out.chunks_mut(ow).enumerate().for_each(one_row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::kernel::{pil_axis, PilFilter};
    use super::*;

    fn naive(src: &[f32], (h, w): (usize, usize), rows: &[Taps], cols: &[Taps]) -> Vec<f32> {
        let mut out = Vec::new();
        for r in rows {
            for c in cols {
                let mut s = 0.0f64;
                for (i, wr) in r.weights.iter().enumerate() {
                    for (j, wc) in c.weights.iter().enumerate() {
                        s += wr * wc * f64::from(src[(r.start + i) * w + c.start + j]);
                    }
                }
                out.push(s as f32);
            }
        }
        assert_eq!(src.len(), h * w);
        out
    }

    #[test]
    fn both_pass_orders_agree_with_the_direct_double_sum() {
        let (h, w) = (23, 31);
        let src: Vec<f32> = (0..h * w).map(|i| ((i * 37) % 101) as f32 / 7.0).collect();
        // A tall shrink (vertical first) and a wide shrink (horizontal first).
        for (oh, ow) in [(5, 29), (21, 4), (40, 9)] {
            let rows = pil_axis(h, oh, PilFilter::Triangle);
            let cols = pil_axis(w, ow, PilFilter::Triangle);
            let got = resample(
                &src,
                (h, w),
                &Table::new(&rows, 1.0),
                &Table::new(&cols, 1.0),
            );
            let want = naive(&src, (h, w), &rows, &cols);
            assert_eq!(got.len(), oh * ow);
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() < 1e-4, "{oh}x{ow}: {g} vs {e}");
            }
        }
    }

    #[test]
    fn gain_scales_the_result() {
        let src: Vec<u8> = (0..64).map(|i| (i * 4) as u8).collect();
        let rows = pil_axis(8, 3, PilFilter::Box);
        let cols = pil_axis(8, 2, PilFilter::Box);
        let plain = resample(
            &src,
            (8, 8),
            &Table::new(&rows, 1.0),
            &Table::new(&cols, 1.0),
        );
        let scaled = resample(
            &src,
            (8, 8),
            &Table::new(&rows, 0.5),
            &Table::new(&cols, 1.0),
        );
        for (p, s) in plain.iter().zip(&scaled) {
            assert!((p * 0.5 - s).abs() < 1e-4);
        }
    }
}
