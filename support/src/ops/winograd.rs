//! The forward pass of the fused 3x3 convolution + ReLU + 2x2 max pool by Winograd's minimal
//! filtering, F(4x4, 3x3) (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks",
//! 2016, the transforms of their section 4.2, interpolation points 0, ±1, ±2 and ∞), and the
//! vector helpers the fast paths share.
//!
//! Each 6x6 input tile `d` gives a 4x4 output tile `Y = Aᵀ [U ⊙ V] A`, with `U = G g Gᵀ` (the
//! kernel) and `V = Bᵀ d B`, in 36 multiplications per (input, output) channel pair where the
//! direct convolution takes 144: a 4x cut in the multiply-adds, and 1.78x fewer than the 64 of
//! F(2x2, 3x3), which this module computed before (BENCHMARKS.md compares the two). Across
//! channels the 36 elementwise products are 36 matrix products `V[e] (tiles x C) · U[e] (C x O)`,
//! done by `gemm`. A band's transformed inputs and products are stored tile by tile (a tile's 36
//! elements of `C` values, then the next tile's), so the transforms read and write one contiguous
//! block per tile, at offsets that are constants where the channel count is one of [`Fixed`]'s;
//! each product reads and writes its element's rows `36 x C` floats apart.
//!
//! A 4x4 output tile is four windows of the 2x2, stride-2 pooling, so the pooling (and ReLU, and
//! the bias, which is constant over a window) happen in registers on the transformed output: the
//! full convolution output never exists. Where the pooled output has an odd number of rows or
//! columns, the last tiles hold windows past its edge: their input pixels past the image read as
//! zeros and their outputs are not written.
//!
//! The forward pass; its adjoint, the backward pass for the same layers, is in
//! [`super::winograd_backward`] and reads the arg-max codes this writes. The constants are not all
//! powers of two (`G` has sixths), so results differ from the direct convolution by more rounding
//! than F(2x2, 3x3)'s: up to 7e-6 of the output's scale against 7e-7 (measured with 64 and 128
//! input channels); the tests bound it.

use super::geometry::{FusedGeometry, DEAD};
use super::matmul::{matmul, MatRef};

/// Transformed elements per tile (6x6).
pub(crate) const ELEMENTS: usize = 36;

/// Floats of transformed input and products (`36 x tiles x (C + O)`) a forward band may use:
/// 1 MiB. Longer products keep `gemm` busier than a band that fits L2: on an EPYC 7003 (512 KiB
/// of L2 per core) 1 MiB made inference 3-4% faster than 256 KiB (BENCHMARKS.md, 2026-12-03).
const FORWARD_BUDGET: usize = 1 << 18;

/// Fewest tiles per band, whatever the budget: the rows of each of the 36 matrix products.
const MIN_TILES: usize = 16;

/// Whether the Winograd path computes this fused op: 3x3 kernel, stride 1, no padding, 2x2 pool of
/// stride 2, ReLU, and enough input channels for the 36 products to be worth their transforms
/// (the first layer of a grey-image model, one channel, stays on im2col).
pub(crate) fn applies(fg: &FusedGeometry) -> bool {
    let g = &fg.conv;
    fg.relu
        && (g.kernel_h, g.kernel_w, g.stride, g.pad_top, g.pad_left) == (3, 3, 1, 0, 0)
        && fg.pool.size == (2, 2)
        && fg.pool.stride == 2
        && g.in_c >= MIN_CHANNELS
}

/// Fewest input channels for which [`applies`] is true.
pub(crate) const MIN_CHANNELS: usize = 8;

/// Tile rows and columns of one image: each tile covers 2x2 pooled windows.
pub(crate) fn tiles(fg: &FusedGeometry) -> (usize, usize) {
    (fg.ph.div_ceil(2), fg.pw.div_ceil(2))
}

/// The tiles of tile rows `a..bnd`, row by row: `(t, (tr, tc))`, where `t` is the tile's place in
/// its band (its block in the band's buffers).
pub(crate) fn band_tiles(
    fg: &FusedGeometry,
    (a, bnd): (usize, usize),
) -> impl Iterator<Item = (usize, (usize, usize))> {
    let tw = tiles(fg).1;
    (a..bnd)
        .flat_map(move |tr| (0..tw).map(move |tc| (tr, tc)))
        .enumerate()
}

/// Tile rows per band: as many as fit `budget` floats of transformed input and products, but at
/// least [`MIN_TILES`] tiles.
fn band_rows(fg: &FusedGeometry, budget: usize) -> usize {
    let (th, tw) = tiles(fg);
    let per_row = ELEMENTS * tw * (fg.conv.in_c + fg.conv.filters);
    (budget / per_row).max(MIN_TILES.div_ceil(tw)).clamp(1, th)
}

/// The bands of one image: `(a, bnd, tiles)` for tile rows `a..bnd`, `tiles` in all, as many
/// rows per band as [`band_rows`] allows for `budget`.
pub(crate) fn bands(
    fg: &FusedGeometry,
    budget: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let (th, tw) = tiles(fg);
    let rows = band_rows(fg, budget);
    (0..th).step_by(rows).map(move |a| {
        let bnd = (a + rows).min(th);
        (a, bnd, (bnd - a) * tw)
    })
}

/// Splits the last tile's worth of floats (`36 x c`) off a transformed-input buffer: where a
/// tile reaches past the image, [`transform_band_inputs`] copies its pixels there, padded with
/// zeros.
pub(crate) fn split_edge(vbuf: &mut [f32], c: usize) -> (&mut [f32], &mut [f32]) {
    vbuf.split_at_mut(vbuf.len() - ELEMENTS * c)
}

/// Scratch floats for a band of `budget`: transformed input (plus one tile of padded pixels for
/// the tiles past the image) and products.
pub(crate) fn scratch_for(fg: &FusedGeometry, budget: usize) -> (usize, usize) {
    let t = band_rows(fg, budget) * tiles(fg).1;
    (
        ELEMENTS * (t + 1) * fg.conv.in_c,
        ELEMENTS * t * fg.conv.filters,
    )
}

/// Scratch floats [`forward_image`] needs: transformed input and products of one band.
pub(crate) fn scratch_len(fg: &FusedGeometry) -> (usize, usize) {
    scratch_for(fg, FORWARD_BUDGET)
}

/// `G z` for one column of three kernel values:
/// `G = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6], [1/24, -1/12, 1/6], [0, 0, 1]]`.
pub(crate) fn g_times(z: [f32; 3]) -> [f32; 6] {
    let (a, b, c) = (z[0], z[1], z[2]);
    [
        a / 4.0,
        -(a + b + c) / 6.0,
        -(a - b + c) / 6.0,
        a / 24.0 + b / 12.0 + c / 6.0,
        a / 24.0 - b / 12.0 + c / 6.0,
        c,
    ]
}

/// `U[e][c][o] = (G g Gᵀ)[e]` for every input channel `c` and filter `o`, from an HWIO kernel.
pub(crate) fn transform_kernel(w: &[f32], c: usize, o: usize) -> Vec<f32> {
    assert_eq!(w.len(), 9 * c * o, "kernel of 3x3x{c}x{o}");
    let co = c * o;
    let mut u = vec![0.0f32; ELEMENTS * co];
    for j in 0..co {
        let g = |kh: usize, kw: usize| w[(kh * 3 + kw) * co + j];
        // G g: 6x3, column by column.
        let cols: [[f32; 6]; 3] = [0, 1, 2].map(|kw| g_times([g(0, kw), g(1, kw), g(2, kw)]));
        // (G g) Gᵀ: 6x6, row by row.
        for r in 0..6 {
            for (s, v) in g_times([cols[0][r], cols[1][r], cols[2][r]])
                .into_iter()
                .enumerate()
            {
                u[(r * 6 + s) * co + j] = v;
            }
        }
    }
    u
}

/// Channels handled together by the tile transforms: fixed-size arrays the compiler vectorises.
pub(crate) const LANES: usize = 8;

pub(crate) type Lanes = [f32; LANES];

/// A channel count, either fixed when compiled or known at run time. The tile transforms take
/// one, so that for the channel counts of the shipped models ([`with_width!`]) every offset into
/// a tile's block is a constant and the bounds checks fold away.
pub(crate) trait Width: Copy {
    /// The count.
    fn get(self) -> usize;
}

/// A channel count of `N`, known when compiled.
#[derive(Clone, Copy)]
pub(crate) struct Fixed<const N: usize>;

impl<const N: usize> Width for Fixed<N> {
    #[inline(always)]
    fn get(self) -> usize {
        N
    }
}

impl Width for usize {
    #[inline(always)]
    fn get(self) -> usize {
        self
    }
}

/// `$f(width, args...)` with `width` as a [`Fixed`] count where `$w` is 32, 64 or 128 (the
/// channel counts of the shipped models' Winograd layers), else as the run-time `usize`.
macro_rules! with_width {
    ($w:expr, $f:ident($($arg:expr),* $(,)?)) => {
        match $w {
            32 => $f($crate::ops::winograd::Fixed::<32>, $($arg),*),
            64 => $f($crate::ops::winograd::Fixed::<64>, $($arg),*),
            128 => $f($crate::ops::winograd::Fixed::<128>, $($arg),*),
            w => $f(w, $($arg),*),
        }
    };
}
pub(crate) use with_width;

/// Loads up to [`LANES`] values from `s` at `at` (zeros past its end).
#[inline(always)]
pub(crate) fn load(s: &[f32], at: usize) -> Lanes {
    match s.get(at..at + LANES) {
        // A fixed-size copy: one vector load.
        Some(full) => full.try_into().expect("LANES values"),
        None => {
            let mut v = [0.0; LANES];
            for (d, x) in v.iter_mut().zip(&s[at..]) {
                *d = *x;
            }
            v
        }
    }
}

#[inline(always)]
pub(crate) fn store(s: &mut [f32], at: usize, v: &Lanes) {
    match s.get_mut(at..at + LANES) {
        Some(full) => full.copy_from_slice(v),
        None => {
            for (d, x) in s[at..].iter_mut().zip(v) {
                *d = *x;
            }
        }
    }
}

/// `[f(0), f(1), ..., f(N - 1)]` for N = 4, 6 or 8, written out. `std::array::from_fn` is
/// not always inlined, and out of line it runs as baseline x86-64 (SSE2) code instead of the AVX2
/// of the kernel that calls it (measured: 8% of a training step in `core::array::try_from_fn`).
/// The same goes for closures, so a closure written in the call, `array_of!(6, |i| ...)`, is not
/// called at all: its body is written out N times with `i` bound to 0, 1, ... (measured: out of
/// line, the 6x6 tile transforms' closures took 12% of their layers' time).
macro_rules! array_of {
    (@calls $f:ident; $($i:literal)*) => { [$($f($i as usize)),*] };
    (@inline $i:tt, $body:expr; $($n:literal)*) => { [$({
        #[allow(clippy::identity_op, clippy::erasing_op)]
        let $i: usize = $n;
        $body
    }),*] };
    ($n:tt, |$i:tt $(: $t:ty)?| $body:expr) => { array_of!(@each $n, $i, $body) };
    (@each 4, $i:tt, $body:expr) => { array_of!(@inline $i, $body; 0 1 2 3) };
    (@each 6, $i:tt, $body:expr) => { array_of!(@inline $i, $body; 0 1 2 3 4 5) };
    (@each 8, $i:tt, $body:expr) => { array_of!(@inline $i, $body; 0 1 2 3 4 5 6 7) };
    (8, $f:expr) => {{
        let f = $f;
        array_of!(@calls f; 0 1 2 3 4 5 6 7)
    }};
}
pub(crate) use array_of;

#[inline(always)]
pub(crate) fn lanes(f: impl Fn(usize) -> f32) -> Lanes {
    const _: () = assert!(LANES == 8);
    array_of!(8, f)
}

/// `Bᵀ d` for six values (one column or row of a tile), where
/// `Bᵀ = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
///        [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]`.
#[inline(always)]
pub(crate) fn bt_times(d: &[Lanes; 6]) -> [Lanes; 6] {
    let [d0, d1, d2, d3, d4, d5] = d;
    [
        lanes(|l| 4.0 * d0[l] - 5.0 * d2[l] + d4[l]),
        lanes(|l| (d3[l] + d4[l]) - 4.0 * (d1[l] + d2[l])),
        lanes(|l| (d4[l] - d3[l]) + 4.0 * (d1[l] - d2[l])),
        lanes(|l| (d4[l] - d2[l]) + 2.0 * (d3[l] - d1[l])),
        lanes(|l| (d4[l] - d2[l]) + 2.0 * (d1[l] - d3[l])),
        lanes(|l| 4.0 * d1[l] - 5.0 * d3[l] + d5[l]),
    ]
}

/// `Aᵀ m` for six values, where
/// `Aᵀ = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]]`.
#[inline(always)]
pub(crate) fn at_times(m: &[Lanes; 6]) -> [Lanes; 4] {
    let [m0, m1, m2, m3, m4, m5] = m;
    let (a, b) = (lanes(|l| m1[l] + m2[l]), lanes(|l| m1[l] - m2[l]));
    let (c, d) = (lanes(|l| m3[l] + m4[l]), lanes(|l| m3[l] - m4[l]));
    [
        lanes(|l| m0[l] + a[l] + c[l]),
        lanes(|l| b[l] + 2.0 * d[l]),
        lanes(|l| a[l] + 4.0 * c[l]),
        lanes(|l| b[l] + 8.0 * d[l] + m5[l]),
    ]
}

/// Bias, ReLU and the 2x2 max of a window's four convolution outputs `y` (row-major positions)
/// with the first arg-max code ([`DEAD`] where the maximum is not positive), for filters
/// `oc..oc + LANES` of the pooled value whose filters are `out` and `idx`. Branch-free: a later
/// position wins only when strictly greater.
#[inline(always)]
pub(crate) fn pool_lanes(
    y: &[Lanes; 4],
    bias: &Lanes,
    out: &mut [f32],
    idx: &mut [u16],
    oc: usize,
) {
    // Branch-free with 32-bit masks, which compile to vector compares and blends; `u16` lanes
    // selected with `if` compiled to a branch per lane (measured: a third of a Winograd layer's
    // tile work, mispredicted half the time).
    let mut best = y[0];
    let mut code = [0u32; LANES];
    for (p, yp) in y.iter().enumerate().skip(1) {
        let gt: [u32; LANES] = array_of!(8, |l| u32::from(yp[l] > best[l]).wrapping_neg());
        code = array_of!(8, |l| (code[l] & !gt[l]) | (p as u32 & gt[l]));
        best = lanes(|l| if yp[l] > best[l] { yp[l] } else { best[l] });
    }
    let z = lanes(|l| best[l] + bias[l]);
    store(out, oc, &lanes(|l| z[l].max(0.0)));
    let live: [u32; LANES] = array_of!(8, |l| u32::from(z[l] > 0.0).wrapping_neg());
    let coded: [u32; LANES] = array_of!(8, |l| (code[l] & live[l]) | (u32::from(DEAD) & !live[l]));
    for (ix, &k) in idx[oc..].iter_mut().zip(&coded) {
        *ix = k as u16;
    }
}

/// The pooled gradient `gv` of filters `oc..oc + LANES` routed to the window position its arg-max
/// code in `idx` names: `[dY at position 0, ..., dY at position 3]` (row-major), all zero for
/// [`DEAD`]. Branch-free: codes compared as 32-bit lanes and the gradient masked by bits.
#[inline(always)]
pub(crate) fn route_gradient(gv: &Lanes, idx: &[u16], oc: usize) -> [Lanes; 4] {
    let code: [u32; LANES] = array_of!(8, |l| u32::from(idx.get(oc + l).copied().unwrap_or(DEAD)));
    array_of!(4, |p: usize| {
        let hit: [u32; LANES] = array_of!(8, |l| u32::from(code[l] == p as u32).wrapping_neg());
        lanes(|l| f32::from_bits(gv[l].to_bits() & hit[l]))
    })
}

/// One image's work for a fused forward pass: input `x`, kernel `w` (HWIO for the direct path,
/// transformed by [`transform_kernel`] for this one), bias `b`, and the pooled outputs and
/// arg-max codes it writes.
pub(crate) struct Image<'a> {
    pub x: &'a [f32],
    pub w: &'a [f32],
    pub b: &'a [f32],
    pub out: &'a mut [f32],
    pub idx: &'a mut [u16],
}

/// Scratch of [`scratch_len`] floats for [`forward_image`]: transformed input, products.
pub(crate) type Scratch<'a> = (&'a mut [f32], &'a mut [f32]);

/// Defines `pub(crate) fn $name(fg: &FusedGeometry, im: $image)` that runs the
/// `#[inline(always)]` function `$body` compiled for AVX2 and FMA when the CPU has them (checked
/// at run time), else as compiled. The crate targets baseline x86-64 (SSE2), so our own loops
/// would not use 256-bit vectors or fused multiply-adds otherwise.
macro_rules! avx2_fma_dispatch {
    ($name:ident, $body:ident, $image:ty) => {
        /// Runs the pass as AVX2 + FMA code where the CPU has them.
        pub(crate) fn $name(fg: &FusedGeometry, im: $image) {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2_fma(fg: &FusedGeometry, im: $image) {
                    $body(fg, im)
                }
                // SAFETY: the CPU supports AVX2 and FMA (checked just above), the only
                // requirement of a `target_feature` function; the body is safe code.
                unsafe { avx2_fma(fg, im) };
                return;
            }
            $body(fg, im);
        }
    };
}
pub(crate) use avx2_fma_dispatch;

/// `Bᵀ d B` of one 6x6 tile for all `c` channels: `rows[i]` holds the tile's row `i` (six pixels
/// of `c` channels), `v` receives the tile's block (transformed element `e` at `e * c`).
#[inline(always)]
fn input_tile(rows: &[&[f32]; 6], v: &mut [f32], c: impl Width) {
    let c = c.get();
    let v = &mut v[..ELEMENTS * c];
    for ch in (0..c).step_by(LANES) {
        // t = Bᵀ d, column by column (`t[j][i]`).
        let t: [[Lanes; 6]; 6] = array_of!(6, |j: usize| bt_times(&array_of!(6, |i: usize| load(
            &rows[i][j * c..][..c],
            ch
        ))));
        // v = t B, row by row.
        for i in 0..6 {
            let row = bt_times(&array_of!(6, |j: usize| t[j][i]));
            for (j, vj) in row.iter().enumerate() {
                store(&mut v[(6 * i + j) * c..][..c], ch, vj);
            }
        }
    }
}

/// `Bᵀ d B` of the tiles in tile rows `a..bnd` of one image `x`: tile `(tr - a) * tw + tc` takes
/// block `t` of `v` (`36 x C` floats, element `e` at `e * C`). Where a tile reaches past the
/// image, its pixels are first copied into `edge` (`36 x C` floats) with zeros past the image.
#[inline(always)]
pub(crate) fn transform_band_inputs(
    x: &[f32],
    fg: &FusedGeometry,
    band: (usize, usize),
    v: &mut [f32],
    edge: &mut [f32],
) {
    with_width!(fg.conv.in_c, band_inputs(x, fg, band, v, edge))
}

#[inline(always)]
fn band_inputs(
    c: impl Width,
    x: &[f32],
    fg: &FusedGeometry,
    band: (usize, usize),
    v: &mut [f32],
    edge: &mut [f32],
) {
    let (in_h, in_w) = (fg.conv.in_h, fg.conv.in_w);
    let width = c.get();
    let (block, row) = (ELEMENTS * width, 6 * width);
    for (t, (tr, tc)) in band_tiles(fg, band) {
        let (r0, c0) = (4 * tr, 4 * tc);
        let pixel = |r: usize| (r * in_w + c0) * width;
        let out = &mut v[t * block..][..block];
        if r0 + 6 <= in_h && c0 + 6 <= in_w {
            let rows = array_of!(6, |i: usize| &x[pixel(r0 + i)..][..row]);
            input_tile(&rows, out, c);
        } else {
            edge.fill(0.0);
            let inside = (in_w - c0).min(6) * width;
            for i in 0..(in_h - r0).min(6) {
                edge[i * row..][..inside].copy_from_slice(&x[pixel(r0 + i)..][..inside]);
            }
            let rows = array_of!(6, |i: usize| &edge[i * row..][..row]);
            input_tile(&rows, out, c);
        }
    }
}

/// The pooled windows `(pooled row, pooled column, window number)` of tile `(tr, tc)` that lie in
/// the pooled output; window `q` is the tile's quarter `(q / 2, q % 2)`.
pub(crate) fn windows(
    fg: &FusedGeometry,
    tr: usize,
    tc: usize,
) -> impl Iterator<Item = (usize, usize, usize)> {
    let (ph, pw) = (fg.ph, fg.pw);
    (0..4)
        .map(move |q| (2 * tr + q / 2, 2 * tc + q % 2, q))
        .filter(move |&(pr, pc, _)| pr < ph && pc < pw)
}

/// Row-major positions of window `q`'s four convolution outputs in a 4x4 tile.
#[inline(always)]
pub(crate) fn window_cells(q: usize) -> [usize; 4] {
    let (r, c) = (2 * (q / 2), 2 * (q % 2));
    [
        4 * r + c,
        4 * r + c + 1,
        4 * (r + 1) + c,
        4 * (r + 1) + c + 1,
    ]
}

/// `Aᵀ m A` of tile `(tr, tc)` for all `o` filters (`m`: the tile's block of products, element
/// `e` at `e * o`), then bias, ReLU and the 2x2 max with its first arg-max code for each of its
/// windows in the pooled output (`out`, `idx`: one image's).
#[inline(always)]
fn output_tile(
    o: impl Width,
    m: &[f32],
    b: &[f32],
    (out, idx): (&mut [f32], &mut [u16]),
    fg: &FusedGeometry,
    (tr, tc): (usize, usize),
) {
    let o = o.get();
    let m = &m[..ELEMENTS * o];
    let b = &b[..o];
    for oc in (0..o).step_by(LANES) {
        // s = Aᵀ m: 4x6, column by column (`s[j][p]`).
        let s: [[Lanes; 4]; 6] = array_of!(6, |j: usize| at_times(&array_of!(6, |i: usize| load(
            &m[(6 * i + j) * o..][..o],
            oc
        ))));
        // y = s A: 4x4, row by row.
        let y: [[Lanes; 4]; 4] =
            array_of!(4, |p: usize| at_times(&array_of!(6, |j: usize| s[j][p])));
        let bias = load(b, oc);
        for (pr, pc, q) in windows(fg, tr, tc) {
            let at = (pr * fg.pw + pc) * o;
            let cells = window_cells(q);
            let win = array_of!(4, |p: usize| y[cells[p] / 4][cells[p] % 4]);
            pool_lanes(&win, &bias, &mut out[at..at + o], &mut idx[at..at + o], oc);
        }
    }
}

/// [`output_tile`] for the tiles in tile rows `a..bnd`, whose products are the blocks of `m`.
#[inline(always)]
fn band_outputs(
    o: impl Width,
    m: &[f32],
    b: &[f32],
    (out, idx): (&mut [f32], &mut [u16]),
    fg: &FusedGeometry,
    band: (usize, usize),
) {
    let block = ELEMENTS * o.get();
    for (t, tile) in band_tiles(fg, band) {
        let m = &m[t * block..][..block];
        output_tile(o, m, b, (&mut *out, &mut *idx), fg, tile);
    }
}

/// Element `e`'s rows of a band stored tile by tile (`n` tiles of `36 x width` floats): the
/// `n x width` matrix of that element, its rows `36 x width` floats apart.
pub(crate) fn element(buf: &[f32], e: usize, n: usize, width: usize) -> MatRef<'_> {
    MatRef {
        data: &buf[e * width..],
        rows: n,
        cols: width,
        rs: ELEMENTS * width,
        cs: 1,
    }
}

// `forward_image(fg, (im, scratch))`: the fused forward pass of one image by F(4x4, 3x3), with
// the kernel transformed by [`transform_kernel`]. Requires [`applies`]. The tile transforms run
// as AVX2 code where the CPU has it.
avx2_fma_dispatch!(forward_image, forward_image_body, (Image<'_>, Scratch<'_>));

#[inline(always)]
fn forward_image_body(fg: &FusedGeometry, (im, (vbuf, mbuf)): (Image<'_>, Scratch<'_>)) {
    let Image {
        x,
        w: u,
        b,
        out,
        idx,
    } = im;
    debug_assert!(applies(fg));
    let (c, o) = (fg.conv.in_c, fg.conv.filters);
    let (vbuf, edge) = split_edge(vbuf, c);
    for (a, bnd, n) in bands(fg, FORWARD_BUDGET) {
        let v = &mut vbuf[..ELEMENTS * n * c];
        let m = &mut mbuf[..ELEMENTS * n * o];
        transform_band_inputs(x, fg, (a, bnd), v, edge);
        for e in 0..ELEMENTS {
            matmul(
                &mut m[e * o..],
                ELEMENTS * o,
                element(v, e, n, c),
                MatRef::row_major(&u[e * c * o..(e + 1) * c * o], c, o),
                false,
            );
        }
        with_width!(o, band_outputs(m, b, (&mut *out, &mut *idx), fg, (a, bnd)));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::ops::conv::{ConvGeometry, ConvSpec, Padding};
    use crate::ops::direct;
    use crate::ops::fused::fused_forward;
    use crate::ops::pool::PoolSpec;
    use crate::ops::tensor_io::tests::rand_vec;

    /// A 3x3 'valid' convolution of `o` filters over `h x w x c` images, then ReLU and a 2x2
    /// pool (the geometry of the Winograd and direct paths; their tests share it).
    pub(crate) fn geometry(h: usize, w: usize, c: usize, o: usize) -> FusedGeometry {
        let spec = ConvSpec {
            kernel: (3, 3),
            filters: o,
            stride: 1,
            padding: Padding::Valid,
        };
        FusedGeometry::new(
            ConvGeometry::new(h, w, c, &spec).unwrap(),
            PoolSpec::square(2),
            true,
        )
        .unwrap()
    }

    /// The convolution by its definition, in f64: `z[r][col][o]` for the rows and columns the
    /// pooling reads.
    fn naive_conv(x: &[f32], w: &[f32], fg: &FusedGeometry) -> Vec<f64> {
        let g = &fg.conv;
        let (c, o) = (g.in_c, g.filters);
        let (rows, cols) = (2 * fg.ph, 2 * fg.pw);
        let mut z = vec![0.0f64; rows * cols * o];
        for r in 0..rows {
            for col in 0..cols {
                for oi in 0..o {
                    let mut acc = 0.0f64;
                    for kh in 0..3 {
                        for kw in 0..3 {
                            for ci in 0..c {
                                acc += x[((r + kh) * g.in_w + col + kw) * c + ci] as f64
                                    * w[((kh * 3 + kw) * c + ci) * o + oi] as f64;
                            }
                        }
                    }
                    z[(r * cols + col) * o + oi] = acc;
                }
            }
        }
        z
    }

    #[test]
    fn both_fast_paths_match_the_convolution_by_definition_then_relu_and_pool() {
        // Through `fused_forward`, which picks the path: Winograd for 8 channels or more, the
        // direct loops for 1 to 4. Odd and even sizes (the last convolution row or column
        // unread by the pool), several bands (102x101 with 8+5 channels needs more than one,
        // checked below), channel and filter counts that are not multiples of the vector width,
        // and the counts the tile transforms are compiled for (`with_width!`: 32, 64, 128).
        let sizes = [
            (102, 101, 8, 5),
            (19, 18, 32, 64),
            (13, 15, 64, 32),
            (18, 18, 128, 128),
            (9, 8, 8, 4),
            (12, 11, 9, 5),
            (40, 37, 16, 24),
            (20, 22, 33, 7),
            (9, 8, 1, 4),
            (12, 11, 2, 13),
            (40, 37, 1, 32),
            (10, 14, 4, 8),
        ];
        assert!(
            sizes
                .iter()
                .any(|&(h, w, c, o)| bands(&geometry(h, w, c, o), FORWARD_BUDGET).count() > 1),
            "some size spans several bands"
        );
        for (i, &(h, w, c, o)) in sizes.iter().enumerate() {
            let fg = geometry(h, w, c, o);
            assert_eq!(applies(&fg), c >= MIN_CHANNELS);
            assert_eq!(direct::applies(&fg), c <= direct::MAX_CHANNELS);
            let s = 100 + 10 * i as u64;
            let (x, wt, b) = (
                rand_vec(2 * h * w * c, s),
                rand_vec(9 * c * o, s + 1),
                rand_vec(o, s + 2),
            );
            let (out, idx) = fused_forward(&x, &wt, &b, &fg);
            let (il, ol) = (fg.conv.in_len(), fg.out_len());
            for image in 0..2 {
                let (xi, oi) = (image * il..(image + 1) * il, image * ol..(image + 1) * ol);
                check_against_definition(&x[xi], &wt, &b, &fg, &out[oi.clone()], &idx[oi]);
            }
        }
    }

    /// Checks pooled outputs and arg-max codes of the fused op against [`naive_conv`], bias,
    /// ReLU and a 2x2 max; codes must point at a maximum (ties within rounding allowed) and be
    /// [`DEAD`] where the pooled value is clearly not positive.
    fn check_against_definition(
        x: &[f32],
        wt: &[f32],
        b: &[f32],
        fg: &FusedGeometry,
        out: &[f32],
        idx: &[u16],
    ) {
        let o = fg.conv.filters;
        let z = naive_conv(x, wt, fg);
        let cols = 2 * fg.pw;
        let mut live = 0;
        // F(4x4, 3x3) rounds to a few 1e-6 of the output's scale (7e-6 measured with 128
        // channels), more than 1e-4 of a small value when the sums are long.
        let scale = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let tol = |want: f64| (1e-4 * (1.0 + want.abs())).max(1.5e-5 * scale);
        for pr in 0..fg.ph {
            for pc in 0..fg.pw {
                for oi in 0..o {
                    let at = (pr * fg.pw + pc) * o + oi;
                    let win: Vec<f64> = (0..4)
                        .map(|p| z[((2 * pr + p / 2) * cols + 2 * pc + p % 2) * o + oi])
                        .collect();
                    let max = win.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let want = (max + b[oi] as f64).max(0.0);
                    assert!(
                        (out[at] as f64 - want).abs() < tol(want),
                        "at {at}: {} vs {want}",
                        out[at]
                    );
                    if want > 2.0 * tol(0.0) {
                        live += 1;
                        let code = idx[at] as usize;
                        assert!(code < 4, "live value coded dead at {at}");
                        assert!((win[code] - max).abs() < tol(max));
                    } else if max + (b[oi] as f64) < -2.0 * tol(0.0) {
                        assert_eq!(idx[at], DEAD, "dead value at {at} has a code");
                    }
                }
            }
        }
        assert!(live > 0);
    }

    #[test]
    fn kernel_transform_is_g_g_gt() {
        // One channel pair, written out: G g Gᵀ with Lavin & Gray's 6x3 G.
        let w: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let u = transform_kernel(&w, 1, 1);
        let (a, b, c) = (1.0 / 4.0, 1.0 / 6.0, 1.0 / 12.0);
        let gm = [
            [a, 0.0, 0.0],
            [-b, -b, -b],
            [-b, b, -b],
            [1.0 / 24.0, c, b],
            [1.0 / 24.0, -c, b],
            [0.0, 0.0, 1.0],
        ];
        for r in 0..6 {
            for s in 0..6 {
                let mut want = 0.0f32;
                for i in 0..3 {
                    for j in 0..3 {
                        want += gm[r][i] * w[i * 3 + j] * gm[s][j];
                    }
                }
                assert!((u[r * 6 + s] - want).abs() < 1e-5, "({r},{s})");
            }
        }
    }

    #[test]
    fn one_dimensional_transforms_compute_a_correlation() {
        // Aᵀ [(G g) ⊙ (Bᵀ d)] = the 4 outputs of the 'valid' correlation of 6 values with 3.
        let d: [f32; 6] = [0.3, -1.2, 2.0, 0.7, -0.4, 1.1];
        let g: [f32; 3] = [0.5, -0.25, 2.0];
        let bd = bt_times(&array_of!(6, |i: usize| [d[i]; LANES]));
        let gg = g_times(g);
        let m: [Lanes; 6] = array_of!(6, |e: usize| [gg[e] * bd[e][0]; LANES]);
        let y = at_times(&m);
        for (i, yi) in y.iter().enumerate() {
            let want: f32 = (0..3).map(|k| d[i + k] * g[k]).sum();
            assert!((yi[0] - want).abs() < 1e-5, "{i}: {} vs {want}", yi[0]);
        }
    }

    #[test]
    fn tiles_cover_odd_pooled_sizes_and_bands_hold_enough_tiles() {
        // 77x77 convolution output, pooled 38x38: 19x19 tiles; 62x62 pooled 31x31: 16x16 tiles,
        // half of the last row and column past the edge.
        assert_eq!(tiles(&geometry(79, 79, 32, 64)), (19, 19));
        assert_eq!(tiles(&geometry(64, 64, 32, 64)), (16, 16));
        for fg in [geometry(18, 18, 128, 128), geometry(79, 79, 32, 64)] {
            let (th, tw) = tiles(&fg);
            let rows = band_rows(&fg, FORWARD_BUDGET);
            assert!(rows * tw >= MIN_TILES.min(th * tw));
        }
    }

    #[test]
    fn only_3x3_valid_stride_1_with_a_2x2_pool_and_enough_channels() {
        assert!(applies(&geometry(10, 10, MIN_CHANNELS, 4)));
        assert!(!applies(&geometry(10, 10, 1, 4)));
        let spec = ConvSpec {
            kernel: (3, 3),
            filters: 4,
            stride: 1,
            padding: Padding::Same,
        };
        let same = ConvGeometry::new(10, 10, 16, &spec).unwrap();
        assert!(!applies(
            &FusedGeometry::new(same, PoolSpec::square(2), true).unwrap()
        ));
        let valid = ConvGeometry::new(
            10,
            10,
            16,
            &ConvSpec {
                padding: Padding::Valid,
                ..spec
            },
        )
        .unwrap();
        let pool3 = PoolSpec {
            size: (3, 3),
            stride: 2,
        };
        assert!(!applies(&FusedGeometry::new(valid, pool3, true).unwrap()));
        let unpooled = FusedGeometry::new(valid, PoolSpec::square(1), true).unwrap();
        assert!(!applies(&unpooled) && !direct::applies(&unpooled));
        // Both fast paths apply ReLU in their pooling; a linear convolution takes im2col.
        let linear = FusedGeometry::new(valid, PoolSpec::square(2), false).unwrap();
        assert!(!applies(&linear));
        let few = ConvGeometry::new(
            10,
            10,
            1,
            &ConvSpec {
                padding: Padding::Valid,
                ..spec
            },
        )
        .unwrap();
        assert!(direct::applies(
            &FusedGeometry::new(few, PoolSpec::square(2), true).unwrap()
        ));
        assert!(!direct::applies(
            &FusedGeometry::new(few, PoolSpec::square(2), false).unwrap()
        ));
    }
}
