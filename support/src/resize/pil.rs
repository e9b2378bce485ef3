//! PIL's `Image.resize` on 8-bit grey images, bit for bit: NEAREST, and BILINEAR / BOX through
//! PIL's fixed-point two-pass resampler.

use rayon::prelude::*;

use super::kernel::{pil_axis, PilFilter, Taps};

/// PIL's fixed-point fraction bits for 8-bit resampling (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;

/// Below this many multiply-adds a pass runs on the calling thread.
const PARALLEL_WORK: usize = 262_144;

/// Source indices PIL's NEAREST reads along one axis: it walks the centres in `f64`, starting at
/// `0.5·n_in/n_out` and adding `n_in/n_out` each step, and truncates (so exact halves can land
/// one pixel lower than `floor((o + 0.5)·n_in/n_out)` would).
pub(crate) fn nearest_indices(n_in: usize, n_out: usize) -> Vec<usize> {
    let step = n_in as f64 / n_out as f64;
    let mut pos = step * 0.5;
    (0..n_out)
        .map(|_| {
            // `pos` stays in [0, n_in): it starts at step/2 and ends at n_in - step/2.
            let index = (pos as usize).min(n_in - 1);
            pos += step;
            index
        })
        .collect()
}

/// NEAREST resize of a row-major `h` x `w` grey image.
pub(crate) fn nearest(src: &[u8], (h, w): (usize, usize), (oh, ow): (usize, usize)) -> Vec<u8> {
    debug_assert_eq!(src.len(), h * w, "source length matches its shape");
    let rows = nearest_indices(h, oh);
    let cols = nearest_indices(w, ow);
    let mut out = Vec::with_capacity(oh * ow);
    for r in rows {
        let line = &src[r * w..(r + 1) * w];
        out.extend(cols.iter().map(|&c| line[c]));
    }
    out
}

/// One axis's weights in PIL's fixed point.
struct FixedTable {
    starts: Vec<usize>,
    offsets: Vec<usize>,
    weights: Vec<i32>,
}

impl FixedTable {
    fn new(taps: &[Taps]) -> Self {
        let one = f64::from(1u32 << PRECISION_BITS);
        let mut offsets = vec![0];
        let mut weights = Vec::new();
        for t in taps {
            // PIL rounds half away from zero, then truncates with an `(int)` cast.
            weights.extend(t.weights.iter().map(|&k| {
                if k < 0.0 {
                    (-0.5 + k * one) as i32
                } else {
                    (0.5 + k * one) as i32
                }
            }));
            offsets.push(weights.len());
        }
        FixedTable {
            starts: taps.iter().map(|t| t.start).collect(),
            offsets,
            weights,
        }
    }

    fn get(&self, o: usize) -> (usize, &[i32]) {
        (
            self.starts[o],
            &self.weights[self.offsets[o]..self.offsets[o + 1]],
        )
    }

    fn len(&self) -> usize {
        self.starts.len()
    }
}

/// Rounds a fixed-point sum to 8 bits as PIL's `clip8` does.
fn clip8(sum: i32) -> u8 {
    (sum >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Axis-1 pass over rows `first..first + n_rows` of `src` (width `w`).
fn horizontal(src: &[u8], w: usize, first: usize, n_rows: usize, cols: &FixedTable) -> Vec<u8> {
    let ow = cols.len();
    let mut out = vec![0u8; n_rows * ow];
    let one_row = |(r, dst): (usize, &mut [u8])| {
        let line = &src[(first + r) * w..(first + r + 1) * w];
        for (o, d) in dst.iter_mut().enumerate() {
            let (start, weights) = cols.get(o);
            let sum = weights
                .iter()
                .zip(&line[start..start + weights.len()])
                .fold(HALF, |acc, (&k, &p)| acc + i32::from(p) * k);
            *d = clip8(sum);
        }
    };
    if cols.weights.len() * n_rows >= PARALLEL_WORK {
        out.par_chunks_mut(ow.max(1)).enumerate().for_each(one_row);
    } else {
        out.chunks_mut(ow.max(1)).enumerate().for_each(one_row);
    }
    out
}

/// Axis-0 pass; `rows` starts are relative to the first row of `src` (width `w`).
fn vertical(src: &[u8], w: usize, rows: &FixedTable) -> Vec<u8> {
    let oh = rows.len();
    let mut out = vec![0u8; oh * w];
    let one_row = |(o, dst): (usize, &mut [u8])| {
        let (start, weights) = rows.get(o);
        let mut acc = vec![HALF; w];
        for (k, &wt) in weights.iter().enumerate() {
            let line = &src[(start + k) * w..(start + k + 1) * w];
            for (a, &p) in acc.iter_mut().zip(line) {
                *a += i32::from(p) * wt;
            }
        }
        for (d, a) in dst.iter_mut().zip(acc) {
            *d = clip8(a);
        }
    };
    if rows.weights.len() * w >= PARALLEL_WORK {
        out.par_chunks_mut(w.max(1)).enumerate().for_each(one_row);
    } else {
        out.chunks_mut(w.max(1)).enumerate().for_each(one_row);
    }
    out
}

/// PIL's two-pass resample (BILINEAR or BOX) of a row-major `h` x `w` grey image.
///
/// Each pass rounds to 8 bits, so the pass order matters: like Pillow 13, the vertical pass goes
/// first when `h - oh > 0` and `h - oh > 2·(w - ow)`, else the horizontal one (Pillow before 13
/// always went horizontal first; results differ by at most one grey level). A pass whose size
/// does not change is skipped.
pub(crate) fn resample(
    src: &[u8],
    (h, w): (usize, usize),
    (oh, ow): (usize, usize),
    filter: PilFilter,
) -> Vec<u8> {
    debug_assert_eq!(src.len(), h * w, "source length matches its shape");
    let need_h = ow != w;
    let need_v = oh != h;
    let rows = FixedTable::new(&pil_axis(h, oh, filter));
    let cols = FixedTable::new(&pil_axis(w, ow, filter));
    let (h_i, oh_i, w_i, ow_i) = (h as i64, oh as i64, w as i64, ow as i64);
    let horizontal_first = !(h_i - oh_i > 0 && h_i - oh_i > 2 * (w_i - ow_i));
    if horizontal_first {
        if !need_h {
            return if need_v {
                vertical(src, w, &rows)
            } else {
                src.to_vec()
            };
        }
        if !need_v {
            return horizontal(src, w, 0, h, &cols);
        }
        // Only the input rows the vertical pass reads.
        let first = rows.starts[0];
        let last = (0..oh)
            .map(|o| rows.starts[o] + (rows.offsets[o + 1] - rows.offsets[o]))
            .max()
            .unwrap_or(first);
        let tmp = horizontal(src, w, first, last - first, &cols);
        let shifted = FixedTable {
            starts: rows.starts.iter().map(|s| s - first).collect(),
            offsets: rows.offsets,
            weights: rows.weights,
        };
        vertical(&tmp, ow, &shifted)
    } else {
        // Here h > oh, so the vertical pass is needed.
        let tmp = vertical(src, w, &rows);
        if need_h {
            horizontal(&tmp, w, 0, oh, &cols)
        } else {
            tmp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_indices_match_pil_on_exact_halves() {
        // (4 + 0.5)·24/9 = 12 exactly, but PIL's running sum lands just below: index 11.
        assert_eq!(nearest_indices(24, 9), vec![1, 4, 6, 9, 11, 14, 17, 20, 22]);
        assert_eq!(nearest_indices(28, 5), vec![2, 8, 13, 19, 25]);
        // Enlarging repeats pixels.
        assert_eq!(nearest_indices(2, 5), vec![0, 0, 1, 1, 1]);
        assert_eq!(nearest_indices(7, 7), (0..7).collect::<Vec<_>>());
    }

    #[test]
    fn nearest_picks_pixels_from_the_source() {
        let src: Vec<u8> = (0..12).collect(); // 3 x 4
        let out = nearest(&src, (3, 4), (2, 2));
        // rows 0.75 -> 0, 2.25 -> 2; cols 1 -> 1, 3 -> 3
        assert_eq!(out, vec![1, 3, 9, 11]);
    }

    #[test]
    fn box_shrink_by_two_averages_with_rounding() {
        let src = vec![10u8, 11, 20, 21, 0, 255, 0, 0]; // 2 x 4
        let out = resample(&src, (2, 4), (1, 2), PilFilter::Box);
        // horizontal first (h - oh = 1, not > 2·2): [10.5→11, 20.5→21], [127.5→128, 0]
        // then vertical: (11 + 128) / 2 = 69.5 → 70, (21 + 0) / 2 = 10.5 → 11
        assert_eq!(out, vec![70, 11]);
    }

    #[test]
    fn constant_image_stays_constant() {
        let src = vec![77u8; 13 * 9];
        for (oh, ow) in [(5, 4), (20, 3), (2, 30), (13, 9)] {
            for f in [PilFilter::Box, PilFilter::Triangle] {
                let out = resample(&src, (13, 9), (oh, ow), f);
                assert_eq!(out.len(), oh * ow);
                assert!(out.iter().all(|&v| v == 77), "{f:?} {oh}x{ow}");
            }
        }
    }
}
