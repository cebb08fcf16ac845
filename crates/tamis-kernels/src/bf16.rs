//! bfloat16 products for dense layers: weights rounded to bfloat16 once, activations
//! at each call, and the pair products summed in `f32` by `vdpbf16ps` (AVX512-BF16).
//!
//! Rounding is to nearest, ties to even, done in plain code for every build (so the
//! operands are the same bits everywhere; the instruction's own conversion flushes
//! denormals). A product of two bfloat16 values is exact in `f32`, so the only error
//! besides the operands' rounding is the `f32` summation, whose order the hardware
//! fixes: the builds agree within a summation bound, not bit for bit.
//!
//! Where the instructions are fast (AMD Zen 4 issues `vdpbf16ps` at twice the `f32`
//! FMA rate), this roughly doubles a layer's throughput; where they are slow (an Intel
//! Xeon: half the rate) it would lose, so there the products run on AMX tiles
//! (`tdpbf16ps`, [`Bf16Kernel::Amx`]), 3–9× the `f32` layers on a 2-core Sapphire
//! Rapids slice; `tamis bench gemm` shows each.
//!
//! A split weight ([`Bf16Weight::split`]) makes one `f32` product of three bfloat16
//! ones, as XLA's `bf16_3x` does: each operand is its bfloat16 rounding `h` plus the
//! rounding `l` of what is left, and `x·w ≈ xₕ·wₕ + xₗ·wₕ + xₕ·wₗ` (the dropped `xₗ·wₗ`
//! is about 2⁻¹⁶ of the product). Each weight part is stored once and each activation
//! row holds `[xₕ | xₗ]`: the AMX build loads a tile of `wₕ` once for both of its
//! terms, and the other builds sum the terms one after the other in one tile. Weights
//! that are bfloat16 already (`wₗ = 0`) take two terms and no more memory than bf16.
#![allow(unsafe_code)]

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::simd::{round_bf16_row, split_bf16_row};
use crate::tiles::{BLOCK, Base, ROW_BLOCK, STEP_BYTES, SharedOut, column_jobs};

#[cfg(test)]
mod tests;

/// Where weight `(o, i)` lies in the packed layout (see [`Bf16Weight::packed`]).
fn packed_index(o: usize, i: usize, steps: usize) -> usize {
    ((o / BLOCK * steps + i / 2) * BLOCK + o % BLOCK) * 2 + i % 2
}

/// The bfloat16 bits nearest to `v` (ties to even); NaN stays NaN.
#[inline(always)]
pub(crate) fn to_bf16(v: f32) -> u16 {
    let bits = v.to_bits();
    let rounded = (bits + 0x7fff + ((bits >> 16) & 1)) >> 16;
    if v.is_nan() { 0x7fc0 } else { rounded as u16 }
}

/// `f32` from bfloat16 bits (exact).
#[inline(always)]
pub(crate) fn from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// The kernel builds, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Bf16Kernel {
    /// Plain Rust: the reference the other build is tested against, far slower than
    /// `f32` (models refuse bf16 on a CPU that has only this build).
    Portable,
    /// AVX512-BF16: 512-bit `vdpbf16ps` (AMD Zen 4 and later, Intel Cooper Lake and
    /// Sapphire Rapids and later).
    Avx512Bf16,
    /// Intel AMX: `tdpbf16ps` on tiles of 32 rows by 32 columns (Sapphire Rapids and
    /// later), where `vdpbf16ps` runs at half the FMA rate; products over inputs that are
    /// not a multiple of 32 fall back to the AVX512-BF16 build.
    Amx,
}

impl Bf16Kernel {
    /// Every build, lowest first.
    pub const ALL: [Bf16Kernel; 3] =
        [Bf16Kernel::Portable, Bf16Kernel::Avx512Bf16, Bf16Kernel::Amx];

    /// The fastest build this CPU runs.
    pub fn detected() -> Bf16Kernel {
        Bf16Kernel::ALL.into_iter().rev().find(|k| k.is_supported()).unwrap_or(Bf16Kernel::Portable)
    }

    /// Whether this CPU runs the build.
    pub fn is_supported(self) -> bool {
        match self {
            Bf16Kernel::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Bf16Kernel::Avx512Bf16 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx512bf16")
            }
            #[cfg(not(target_arch = "x86_64"))]
            Bf16Kernel::Avx512Bf16 => false,
            // Its epilogue and its fallback are the AVX512-BF16 build's.
            Bf16Kernel::Amx => Bf16Kernel::Avx512Bf16.is_supported() && crate::amx::bf16_ready(),
        }
    }

    /// The build's name, as `tamis info` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Portable => "portable",
            Bf16Kernel::Avx512Bf16 => "avx512-bf16",
            Bf16Kernel::Amx => "amx-bf16",
        }
    }
}

/// Rows of the 512-bit tile: 8 × 2 accumulators leave registers for the weights.
const TILE_ROWS: usize = 8;

/// A weight matrix rounded to bfloat16 and packed for the kernels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Bf16Weight {
    out_features: usize,
    in_features: usize,
    /// The packed inputs of one part: `in_features` rounded up to a pair, or for a
    /// split weight to an AMX tile row (so that its terms stay on the tiles).
    k_pad: usize,
    /// The terms of a product: 1, or for a split weight 2 (`wₗ = 0`) or 3 (see the
    /// module).
    parts: usize,
    /// `[blocks][k_pad / 2][32][2]`: block `b` holds columns `32b..32b + 32`, each with
    /// two consecutive inputs side by side (the pairs `vdpbf16ps` multiplies), so a
    /// tile reads one stream of 128 bytes per step; the padding is zero. A split weight
    /// holds `wₕ` so packed, then for 3 parts `wₗ` the same way.
    packed: Vec<u16>,
}

impl Bf16Weight {
    /// Rounds `weight` (`[out, in]`, PyTorch's layout), given as a row accessor so that
    /// `f32` and bfloat16 weights share the code.
    pub(crate) fn round(
        out_features: usize,
        in_features: usize,
        mut row: impl FnMut(usize, &mut [f32]),
    ) -> Bf16Weight {
        let k_pad = in_features.next_multiple_of(2);
        let padded = out_features.next_multiple_of(BLOCK);
        let steps = k_pad / 2;
        let mut packed = vec![0u16; padded * k_pad];
        let mut buf = vec![0.0; in_features];
        for o in 0..out_features {
            row(o, &mut buf);
            for (i, &v) in buf.iter().enumerate() {
                packed[packed_index(o, i, steps)] = to_bf16(v);
            }
        }
        Bf16Weight { out_features, in_features, k_pad, parts: 1, packed }
    }

    /// `weight` split into `wₕ` and `wₗ` for three-term products (see the module); two
    /// terms, and `wₕ` alone stored, where every `wₗ` is zero (bfloat16 weights).
    pub(crate) fn split(
        out_features: usize,
        in_features: usize,
        mut row: impl FnMut(usize, &mut [f32]),
    ) -> Bf16Weight {
        let k_pad = in_features.next_multiple_of(AMX_CHUNK);
        let part = out_features.next_multiple_of(BLOCK) * k_pad;
        let steps = k_pad / 2;
        // `wₕ` packed in the first part, `wₗ` in the second (dropped if all zeros).
        let mut packed = vec![0u16; 2 * part];
        let (mut high, mut low) = (vec![0u16; in_features], vec![0u16; in_features]);
        let mut buf = vec![0.0; in_features];
        for o in 0..out_features {
            row(o, &mut buf);
            split_bf16_row(&buf, &mut high, &mut low);
            for (i, (&h, &l)) in high.iter().zip(&low).enumerate() {
                packed[packed_index(o, i, steps)] = h;
                packed[part + packed_index(o, i, steps)] = l;
            }
        }
        let parts = if packed[part..].iter().all(|&l| from_bf16(l) == 0.0) {
            packed.truncate(part);
            packed.shrink_to_fit();
            2
        } else {
            3
        };
        Bf16Weight { out_features, in_features, k_pad, parts, packed }
    }

    /// Whether the products are split in parts (see [`Bf16Weight::split`]).
    pub(crate) fn is_split(&self) -> bool {
        self.parts > 1
    }

    /// Rounds (or for a split weight, splits) `x` (`[rows, in_features]`) into `rows`,
    /// as this weight's products read it.
    pub(crate) fn fill(&self, rows: &mut Bf16Rows, x: &[f32], n_rows: usize) {
        if self.is_split() {
            rows.fill_split(x, n_rows, self.in_features, self.k_pad);
        } else {
            rows.fill(x, n_rows, self.in_features, self.k_pad);
        }
    }

    /// The packed values of one stored part (`wₕ` or `wₗ`, or the whole weight).
    fn part_len(&self) -> usize {
        self.out_features.next_multiple_of(BLOCK) * self.k_pad
    }

    /// The right operand of the products: the packed weight, or its split parts.
    fn rhs(&self) -> Rhs<'_> {
        let (first, rest) = self.packed.split_at(self.part_len());
        match self.parts {
            1 => Rhs::One(first),
            _ => Rhs::Split { high: first, low: (self.parts == 3).then_some(rest) },
        }
    }

    /// The weight `(o, i)` the products multiply by (`wₕ + wₗ` for a split weight).
    pub(crate) fn get(&self, o: usize, i: usize) -> f32 {
        let at = packed_index(o, i, self.k_pad / 2);
        let high = from_bf16(self.packed[at]);
        if self.parts == 3 { high + from_bf16(self.packed[self.part_len() + at]) } else { high }
    }

    /// The channels `range`, the same bits repacked.
    pub(crate) fn outputs(&self, range: std::ops::Range<usize>) -> Bf16Weight {
        let steps = self.k_pad / 2;
        let (from_len, stored) = (self.part_len(), if self.parts == 3 { 2 } else { 1 });
        let to_len = range.len().next_multiple_of(BLOCK) * self.k_pad;
        let mut packed = vec![0u16; stored * to_len];
        for part in 0..stored {
            for (o, from) in range.clone().enumerate() {
                for i in 0..self.k_pad {
                    packed[part * to_len + packed_index(o, i, steps)] =
                        self.packed[part * from_len + packed_index(from, i, steps)];
                }
            }
        }
        Bf16Weight { out_features: range.len(), packed, ..*self }
    }
}

/// Activations rounded to bfloat16, rows `k_pad` apart, the padding zero.
#[derive(Debug, Default)]
pub(crate) struct Bf16Rows {
    rows: usize,
    data: Vec<u16>,
}

impl Bf16Rows {
    /// Rounds the `rows` rows of `x` (`[rows, k]`) into this buffer, padded to `k_pad`,
    /// split over the current pool when large.
    pub(crate) fn fill(&mut self, x: &[f32], rows: usize, k: usize, k_pad: usize) {
        assert!(k <= k_pad && k_pad.is_multiple_of(2), "bf16: bad padded width");
        self.fill_rows(x, rows, k, k_pad, |d, x| {
            let (values, padding) = d.split_at_mut(k);
            round_bf16_row(x, values);
            padding.fill(0);
        });
    }

    /// Splits the `rows` rows of `x` (`[rows, k]`) into `[xₕ | xₗ]`, each part
    /// `part_len` wide and padded with zeros, for a split weight's products (see the
    /// module).
    pub(crate) fn fill_split(&mut self, x: &[f32], rows: usize, k: usize, part_len: usize) {
        assert!(k <= part_len, "bf16: bad split");
        self.fill_rows(x, rows, k, 2 * part_len, |d, x| {
            let (high, low) = d.split_at_mut(part_len);
            split_bf16_row(x, &mut high[..k], &mut low[..k]);
            high[k..].fill(0);
            low[k..].fill(0);
        });
    }

    /// Writes each buffer row (`width` wide) by `row(buffer row, its row of x)`, for
    /// every row of `x` (`[rows, k]`), split over the current pool when large; with no
    /// inputs, every row is zeros.
    fn fill_rows(
        &mut self,
        x: &[f32],
        rows: usize,
        k: usize,
        width: usize,
        row: impl Fn(&mut [u16], &[f32]) + Sync,
    ) {
        assert_eq!(rows.checked_mul(k), Some(x.len()), "bf16: input is not [rows, in]");
        self.rows = rows;
        // `row` writes every row whole, its padding included: no clearing first.
        self.data.resize(rows * width, 0);
        if k == 0 {
            self.data.fill(0);
            return;
        }
        let row = |(d, x): (&mut [u16], &[f32])| row(d, x);
        if x.len() < 4 * PARALLEL_MIN_ELEMENTS {
            self.data.chunks_mut(width).zip(x.chunks_exact(k)).for_each(row);
        } else {
            let min_rows = PARALLEL_MIN_ELEMENTS.div_ceil(k);
            self.data
                .par_chunks_mut(width)
                .zip(x.par_chunks_exact(k))
                .with_min_len(min_rows)
                .for_each(row);
        }
    }
}

/// `out[r·stride + c] = base(r, c) + Σᵢ x[r,i]·w[c,i]` through the bfloat16 operands,
/// for every row of `x` and column of `w`, on `threads` threads of the current pool,
/// with `kernel` (which must be supported: callers pass [`Bf16Kernel::detected`] or a
/// checked one).
pub(crate) fn weight_product(
    kernel: Bf16Kernel,
    x: &Bf16Rows,
    w: &Bf16Weight,
    base: Base,
    out: &mut [f32],
    out_stride: usize,
    threads: usize,
) {
    let width = w.rhs().row_width(w.k_pad);
    assert_eq!(x.data.len(), x.rows * width, "bf16: activations do not match the weight");
    let a = Operands { data: &x.data, rows: x.rows, k_pad: w.k_pad, stride: width };
    product_of(kernel, a, w.rhs(), w.out_features, base, out, out_stride, threads);
}

/// Rows of `k_pad` (even) bfloat16 values, `stride` apart.
#[derive(Clone, Copy)]
pub(crate) struct Operands<'a> {
    pub(crate) data: &'a [u16],
    pub(crate) rows: usize,
    pub(crate) k_pad: usize,
    pub(crate) stride: usize,
}

/// The right operand of a product, packed as [`Bf16Weight::packed`] is: one matrix, or
/// a split weight's parts, whose activation rows are `[aₕ | aₗ]` (`k_pad` each).
#[derive(Clone, Copy)]
enum Rhs<'a> {
    /// `a · b`.
    One(&'a [u16]),
    /// `aₕ · wₕ + aₗ · wₕ`, plus `aₕ · wₗ` where `wₗ` is stored.
    Split { high: &'a [u16], low: Option<&'a [u16]> },
}

impl<'a> Rhs<'a> {
    /// The values of each activation row the product reads: `k_pad`, or `[aₕ | aₗ]`.
    fn row_width(self, k_pad: usize) -> usize {
        match self {
            Rhs::One(_) => k_pad,
            Rhs::Split { .. } => 2 * k_pad,
        }
    }

    /// Column block `tile` (32 columns of `k_pad` inputs) of every part.
    fn block(self, tile: usize, k_pad: usize) -> Rhs<'a> {
        let len = k_pad / 2 * STEP_BYTES / 2;
        let block = |b: &'a [u16]| &b[tile * len..][..len];
        match self {
            Rhs::One(b) => Rhs::One(block(b)),
            Rhs::Split { high, low } => Rhs::Split { high: block(high), low: low.map(block) },
        }
    }

    /// The product's terms, each an offset into the activation rows and the packed
    /// values it multiplies: `(0, b)`, or `(k_pad, wₕ)`, `(0, wₕ)` and `(0, wₗ)`.
    fn terms(self, k_pad: usize) -> impl Iterator<Item = (usize, &'a [u16])> {
        let (first, second, third) = match self {
            Rhs::One(b) => ((0, b), None, None),
            Rhs::Split { high, low } => ((k_pad, high), Some((0, high)), low.map(|l| (0, l))),
        };
        std::iter::once(first).chain(second).chain(third)
    }
}

/// `out[r·stride + c] = base(r, c) + Σᵢ a[r,i]·b[c,i]` for operands already rounded:
/// `b` packed as [`Bf16Weight::packed`] is for `n` columns and `a.k_pad` inputs.
#[allow(clippy::too_many_arguments)] // operands, output and threads, each a plain value
pub(crate) fn product(
    kernel: Bf16Kernel,
    a: Operands<'_>,
    packed: &[u16],
    n: usize,
    base: Base,
    out: &mut [f32],
    out_stride: usize,
    threads: usize,
) {
    product_of(kernel, a, Rhs::One(packed), n, base, out, out_stride, threads);
}

/// [`product`] for any [`Rhs`]: for a split one, `a.stride ≥ 2 · a.k_pad`.
#[allow(clippy::too_many_arguments)] // as `product`
fn product_of(
    kernel: Bf16Kernel,
    a: Operands<'_>,
    rhs: Rhs<'_>,
    n: usize,
    base: Base,
    out: &mut [f32],
    out_stride: usize,
    threads: usize,
) {
    assert!(kernel.is_supported(), "bf16: the {} build is not supported here", kernel.name());
    let width = rhs.row_width(a.k_pad);
    assert!(
        a.k_pad.is_multiple_of(2)
            && a.stride >= width
            && (a.rows == 0
                || crate::linear::extent(a.rows, width, a.stride, 1)
                    .is_some_and(|end| end <= a.data.len())),
        "bf16: activations are not rows of k_pad"
    );
    let part_len = n.next_multiple_of(BLOCK) * a.k_pad;
    assert!(rhs.terms(a.k_pad).all(|(_, b)| b.len() == part_len), "bf16: packed size");
    base.check(a.rows, n);
    #[cfg(target_arch = "x86_64")]
    if kernel == Bf16Kernel::Amx && a.k_pad.is_multiple_of(AMX_CHUNK) {
        // SAFETY: as below, for `columns_amx`.
        unsafe {
            column_jobs(out, a.rows, n, out_stride, BLOCK, threads, |out, tiles| {
                columns_amx(a, rhs, n, base, out, out_stride, tiles)
            })
        };
        return;
    }
    // SAFETY: `columns` writes only its own tiles' columns.
    unsafe {
        column_jobs(out, a.rows, n, out_stride, BLOCK, threads, |out, tiles| {
            columns(kernel, a, rhs, n, base, out, out_stride, tiles)
        })
    };
}

/// Inputs per AMX step: a tile row of 64 bytes.
const AMX_CHUNK: usize = 32;

/// `k` inputs padded for `kernel`'s fastest product: to a pair, or on AMX to a whole
/// tile row (32), so that a product whose operands are packed per call (attention's)
/// runs on the tiles rather than on the fallback. The zero padding adds nothing.
pub(crate) fn padded_inputs(kernel: Bf16Kernel, k: usize) -> usize {
    match kernel {
        Bf16Kernel::Amx => k.next_multiple_of(AMX_CHUNK),
        Bf16Kernel::Portable | Bf16Kernel::Avx512Bf16 => k.next_multiple_of(2),
    }
}
/// Rows of an AMX tile: two tiles of 16.
const AMX_ROWS: usize = 32;

/// One tile of a product: its first row and row count, first column and column count
/// (at most [`BLOCK`]), its rows of activations (`stride` apart) and its column block of
/// each packed part.
struct TileAt<'a> {
    r0: usize,
    m: usize,
    c0: usize,
    cols: usize,
    a: &'a [u16],
    rhs: Rhs<'a>,
}

/// Calls `visit` for every tile of the column blocks `tiles` (32 columns each), rows in
/// tiles of `tile_rows`, grouped in row blocks of about [`ROW_BLOCK`] rows that stay in
/// cache while the column blocks go by.
fn for_each_tile(
    x: Operands<'_>,
    rhs: Rhs<'_>,
    n: usize,
    tiles: std::ops::Range<usize>,
    tile_rows: usize,
    mut visit: impl FnMut(TileAt<'_>),
) {
    let row_block = ROW_BLOCK / tile_rows * tile_rows;
    let width = rhs.row_width(x.k_pad);
    for block in (0..x.rows).step_by(row_block) {
        let block_end = (block + row_block).min(x.rows);
        for tile in tiles.clone() {
            let c0 = tile * BLOCK;
            let cols = BLOCK.min(n - c0);
            let rhs = rhs.block(tile, x.k_pad);
            for r0 in (block..block_end).step_by(tile_rows) {
                let m = tile_rows.min(block_end - r0);
                let a = &x.data[r0 * x.stride..][..(m - 1) * x.stride + width];
                visit(TileAt { r0, m, c0, cols, a, rhs });
            }
        }
    }
}

/// [`columns`] on AMX tiles of 32 rows and 32 columns, for `k_pad` a multiple of 32.
///
/// # Safety
/// As [`columns`]; the CPU runs [`Bf16Kernel::Amx`].
#[cfg(target_arch = "x86_64")]
unsafe fn columns_amx(
    x: Operands<'_>,
    rhs: Rhs<'_>,
    n: usize,
    base: Base,
    out: SharedOut,
    out_stride: usize,
    tiles: std::ops::Range<usize>,
) {
    let chunks = x.k_pad / AMX_CHUNK;
    let mut acc = [0.0f32; AMX_ROWS * BLOCK];
    // Configured from one tile to the next while the row count holds.
    let mut amx: Option<crate::amx::Bf16Tiles> = None;
    for_each_tile(x, rhs, n, tiles, AMX_ROWS, |TileAt { r0, m, c0, cols, a, rhs }| {
        if amx.as_ref().is_none_or(|tiles| tiles.rows() != m) {
            drop(amx.take()); // released before the next configuration
            // SAFETY: the process holds the tile state (the build is supported, checked
            // by `product_of`), and this thread's only other configuration was just
            // released.
            amx = Some(unsafe { crate::amx::Bf16Tiles::configure(m) });
        }
        let tiles = amx.as_ref().expect("configured just above");
        let (a_ptr, a_stride) = (a.as_ptr(), x.stride * 2);
        // SAFETY: `a` holds `m` rows of `k_pad = 32 · chunks` values (of `[aₕ | aₗ]`, the
        // second part `k_pad` on, for a split weight), `stride` apart, and each part
        // the block's `16 · chunks` steps (`for_each_tile`).
        unsafe {
            match rhs {
                Rhs::One(b) => tiles.product(a_ptr, a_stride, chunks, b.as_ptr(), &mut acc),
                Rhs::Split { high, low } => tiles.split_product(
                    a_ptr,
                    a_stride,
                    chunks,
                    high.as_ptr(),
                    low.map(<[u16]>::as_ptr),
                    &mut acc,
                ),
            }
        };
        let at = r0 * out_stride + c0;
        debug_assert!(at + (m - 1) * out_stride + cols <= out.len);
        // SAFETY: the CPU has AVX-512 (the build's requirement); `out` covers `m` rows
        // of `cols` from `at`, the base as many (checked by `product_of`), and this job
        // alone owns these columns.
        unsafe {
            x86::store_sums(&acc, m, base.tile(r0, c0, n), out.ptr.add(at), out_stride, cols)
        };
    });
}

/// Computes the column tiles `tiles` (32 columns each) for every row.
///
/// # Safety
/// No other thread may access the columns of these tiles while this runs; `out` covers
/// `rows` rows of `out_stride` (checked by `column_jobs`); each part of `rhs` holds
/// `⌈n / 32⌉ · 32 · k_pad` values and `base` covers the rows and columns (both checked
/// by `product_of`).
#[allow(clippy::too_many_arguments)] // as `product`
unsafe fn columns(
    kernel: Bf16Kernel,
    x: Operands<'_>,
    rhs: Rhs<'_>,
    n: usize,
    base: Base,
    out: SharedOut,
    out_stride: usize,
    tiles: std::ops::Range<usize>,
) {
    let steps = x.k_pad / 2;
    for_each_tile(x, rhs, n, tiles, TILE_ROWS, |TileAt { r0, m, c0, cols, a, rhs }| {
        let at = r0 * out_stride + c0;
        debug_assert!(at + (m - 1) * out_stride + cols <= out.len);
        match kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: the CPU has the build (checked by `product_of`); `a` holds `m` rows
            // of each term's `k_pad = 2 · steps` values from its offset, `stride` apart,
            // and each part the tile's `steps` steps (`for_each_tile`); `out` covers `m`
            // rows of `cols` from `at`, the base as many (checked by `product_of`), and
            // this job alone owns these columns.
            Bf16Kernel::Avx512Bf16 | Bf16Kernel::Amx => unsafe {
                x86::tile_avx512_bf16(
                    a,
                    x.stride,
                    steps,
                    m,
                    rhs.terms(x.k_pad),
                    base.tile(r0, c0, n),
                    out.ptr.add(at),
                    out_stride,
                    cols,
                )
            },
            _ => {
                for r in 0..m {
                    // SAFETY: as above.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(out.ptr.add(at + r * out_stride), cols)
                    };
                    base.init_row(r0 + r, c0, n, dst);
                    let row = &a[r * x.stride..];
                    for (offset, packed) in rhs.terms(x.k_pad) {
                        portable_row(&row[offset..][..x.k_pad], packed, dst);
                    }
                }
            }
        }
    });
}

/// Packs `n` rows of `k` bfloat16 values (row `j` at `src[j · stride..]`) into `packed`
/// as the columns of a product's right operand (the layout of [`Bf16Weight::packed`],
/// inputs padded to `k` rounded up to even): attention's keys, whose rows are its
/// columns.
pub(crate) fn pack_rows(src: &[u16], stride: usize, n: usize, k: usize, packed: &mut Vec<u16>) {
    let k_pad = k.next_multiple_of(2);
    let steps = k_pad / 2;
    packed.clear();
    packed.resize(n.next_multiple_of(BLOCK) * k_pad, 0);
    for j in 0..n {
        let row = &src[j * stride..][..k];
        // Input pair `s` of column `j` sits at pair `(j / 32 · steps + s) · 32 + j % 32`.
        let base = (j / BLOCK * steps) * BLOCK + j % BLOCK;
        for (s, pair) in row.chunks(2).enumerate() {
            packed[(base + s * BLOCK) * 2..][..pair.len()].copy_from_slice(pair);
        }
    }
}

/// Packs `k` rows of `n` bfloat16 values (row `i` at `src[i · stride..]`) into
/// `packed` as the right operand whose column `c` is the rows' element `c` (the layout
/// of [`Bf16Weight::packed`]), its inputs padded with zeros to `k_pad` (even, at least
/// `k`): attention's values, whose columns are its columns.
pub(crate) fn pack_columns(
    src: &[u16],
    stride: usize,
    k: usize,
    k_pad: usize,
    n: usize,
    packed: &mut Vec<u16>,
) {
    assert!(k <= k_pad && k_pad.is_multiple_of(2), "bf16: bad padded width");
    let blocks = n.div_ceil(BLOCK);
    packed.clear();
    packed.resize(blocks * BLOCK * k_pad, 0);
    let steps = k_pad / 2;
    for s in 0..k.div_ceil(2) {
        let even = &src[2 * s * stride..][..n];
        for block in 0..blocks {
            let step = &mut packed[(block * steps + s) * STEP_BYTES / 2..][..STEP_BYTES / 2];
            let cols = (block * BLOCK..n).take(BLOCK);
            for (pair, c) in step.chunks_exact_mut(2).zip(cols.clone()) {
                pair[0] = even[c];
            }
            // An odd `k`'s last pair keeps its zero.
            if 2 * s + 1 < k {
                let odd = &src[(2 * s + 1) * stride..][..n];
                for (pair, c) in step.chunks_exact_mut(2).zip(cols) {
                    pair[1] = odd[c];
                }
            }
        }
    }
}

/// The reference: one row against a tile's columns, each pair's products added in the
/// order Intel documents for `vdpbf16ps` (the second input, then the first).
fn portable_row(a: &[u16], packed: &[u16], out: &mut [f32]) {
    for (c, o) in out.iter_mut().enumerate() {
        let mut sum = 0.0f32;
        for (s, pair) in a.chunks_exact(2).enumerate() {
            let w = &packed[(s * BLOCK + c) * 2..][..2];
            sum += from_bf16(pair[1]) * from_bf16(w[1]);
            sum += from_bf16(pair[0]) * from_bf16(w[0]);
        }
        *o += sum;
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::STEP_BYTES;
    use crate::tiles::{PANEL, TileBase, lanes_from};

    /// An `m × 32` tile (`m ≤ 8`) with 512-bit `vdpbf16ps`, added to `out` (masked to
    /// `cols` columns) as `out = base + Σ terms`, each term `(offset, packed)` the
    /// product of the activations from `offset` of each row with `packed`.
    ///
    /// # Safety
    /// AVX512F and AVX512-BF16 present; `a` holds `m ≤ 8` rows of `offset + 2 · steps`
    /// values for each term's offset, `a_stride` apart; each term's `packed` holds
    /// `steps` steps of 64 values; `out` and `base` are valid for `m` rows of
    /// `cols ≤ 32` elements.
    #[allow(clippy::too_many_arguments)] // the tile's operands, each a plain number or slice
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn tile_avx512_bf16<'b>(
        a: &[u16],
        a_stride: usize,
        steps: usize,
        m: usize,
        terms: impl Iterator<Item = (usize, &'b [u16])>,
        base: TileBase,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            match m {
                1 => tile::<1>(a, a_stride, steps, terms, base, out, stride, cols),
                2 => tile::<2>(a, a_stride, steps, terms, base, out, stride, cols),
                3 => tile::<3>(a, a_stride, steps, terms, base, out, stride, cols),
                4 => tile::<4>(a, a_stride, steps, terms, base, out, stride, cols),
                5 => tile::<5>(a, a_stride, steps, terms, base, out, stride, cols),
                6 => tile::<6>(a, a_stride, steps, terms, base, out, stride, cols),
                7 => tile::<7>(a, a_stride, steps, terms, base, out, stride, cols),
                8 => tile::<8>(a, a_stride, steps, terms, base, out, stride, cols),
                _ => unreachable!("a bf16 tile has at most 8 rows"),
            }
        }
    }

    /// Writes `out = base + sums` for `m` rows of `cols ≤ 32` columns, the sums being
    /// rows of 32 in `acc` (an AMX tile's).
    ///
    /// # Safety
    /// AVX512F present; `out` and `base` are valid for `m` rows of `cols` elements.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_sums(
        acc: &[f32; 1024],
        m: usize,
        base: TileBase,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        let (m0, m1) = (lanes_from(cols, 0), lanes_from(cols, PANEL));
        for (r, sums) in acc.chunks_exact(32).take(m).enumerate() {
            let p0 = out.wrapping_add(r * stride);
            let p1 = p0.wrapping_add(PANEL);
            // SAFETY: `sums` is 32 values; the unmasked lanes are the row's first `cols`
            // elements (contract).
            unsafe {
                let (b0, b1) = base.row_512(r, m0, m1);
                let s0 = _mm512_loadu_ps(sums.as_ptr());
                let s1 = _mm512_loadu_ps(sums.as_ptr().add(PANEL));
                _mm512_mask_storeu_ps(p0, m0, _mm512_add_ps(b0, s0));
                _mm512_mask_storeu_ps(p1, m1, _mm512_add_ps(b1, s1));
            }
        }
    }

    /// A register of 16 `f32` lanes read as 32 bfloat16 values.
    ///
    /// # Safety
    /// None beyond the types' equal size: every bit pattern is a valid `__m512bh`.
    #[inline(always)]
    unsafe fn as_bf16(v: __m512) -> __m512bh {
        // SAFETY: both are 64 bytes of plain lanes.
        unsafe { std::mem::transmute::<__m512, __m512bh>(v) }
    }

    #[allow(clippy::too_many_arguments)] // as `tile_avx512_bf16`
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    unsafe fn tile<'b, const M: usize>(
        a: &[u16],
        a_stride: usize,
        steps: usize,
        terms: impl Iterator<Item = (usize, &'b [u16])>,
        base: TileBase,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        base.prefetch(out, stride, M);
        let mut c = [[_mm512_setzero_ps(); 2]; M];
        for (offset, packed) in terms {
            // In bounds: each row holds `offset + 2 · steps` values (contract).
            let (a, b) = (a[offset..].as_ptr(), packed.as_ptr().cast::<u8>());
            for s in 0..steps {
                // SAFETY: `packed` holds `steps` steps of 128 bytes (contract).
                let (b0, b1) = unsafe {
                    let at = b.add(s * STEP_BYTES);
                    (_mm512_loadu_ps(at.cast()), _mm512_loadu_ps(at.add(64).cast()))
                };
                // SAFETY: the same 64 bytes, read as 32 bfloat16 values.
                let (b0, b1) = unsafe { (as_bf16(b0), as_bf16(b1)) };
                for (r, c) in c.iter_mut().enumerate() {
                    // SAFETY: row `r < M` has `offset + 2 · steps ≥ offset + 2s + 2`
                    // values (contract).
                    let pair =
                        unsafe { a.add(r * a_stride + 2 * s).cast::<i32>().read_unaligned() };
                    // SAFETY: as above.
                    let x = unsafe { as_bf16(_mm512_castsi512_ps(_mm512_set1_epi32(pair))) };
                    c[0] = _mm512_dpbf16_ps(c[0], x, b0);
                    c[1] = _mm512_dpbf16_ps(c[1], x, b1);
                }
            }
        }
        let (m0, m1) = (lanes_from(cols, 0), lanes_from(cols, PANEL));
        for (r, c) in c.iter().enumerate() {
            // Masked lanes are neither read nor written, so the pointers may run past
            // the row (hence `wrapping_add`, which never asserts they are in bounds).
            let p0 = out.wrapping_add(r * stride);
            let p1 = p0.wrapping_add(PANEL);
            // SAFETY: the unmasked lanes are the row's first `cols` elements (contract).
            unsafe {
                let (b0, b1) = base.row_512(r, m0, m1);
                _mm512_mask_storeu_ps(p0, m0, _mm512_add_ps(b0, c[0]));
                _mm512_mask_storeu_ps(p1, m1, _mm512_add_ps(b1, c[1]));
            }
        }
    }
}
