//! Int8 products for quantized dense layers: weights quantized once per output channel,
//! activations per row and group of [`SCALE_GROUP`] inputs at each call, and the
//! integer dot products of each group computed exactly in `i32` by a kernel picked at
//! run time (AVX512-VNNI, AVX-VNNI, AVX2, or portable), then scaled and summed in `f32`.
//!
//! Why groups: the activations carry the error. LayerNorm outputs have a few channels
//! far larger than the rest, and one scale per row spends the levels on them; with one
//! scale per 32 inputs, the cross-encoder's largest logit error falls about 4× (the
//! simulation in `bench/runs/2026-12-04-xeon-2core/int8.md`). Weights stay per channel:
//! groups there gain little and would cost a multiply per group and column.
//!
//! Every build computes the same integers (no saturation anywhere) and the same `f32`
//! operations in the same order (one fused multiply-add per group), so the builds agree
//! bit for bit and the tests compare them exactly; the only approximation is the
//! quantization itself.
//!
//! Quantization is symmetric with 127 levels on each side: `q = round(v / s)` with
//! `s = max|v| / 127`. The weights are stored shifted to unsigned (`q + 128`, the
//! operand `vpdpbusd` reads unsigned) and the activations signed, so the shift adds
//! `128 · Σ qx` per group: one number per row, taken back out once at the end. Keeping
//! −128 out of both operands is what makes the AVX2 build exact: its `u8 × i8` pair
//! sums (`vpmaddubsw`, which saturates at ±32767) see at most 2 · 127 · 127 = 32258.
#![allow(unsafe_code)]

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::simd::{add_group_scaled_row, quantize_groups_i8, quantize_row_u8};
use crate::tiles::{BLOCK, Base, PANEL, ROW_BLOCK, STEP_BYTES, SharedOut, column_jobs};

#[cfg(test)]
mod tests;

/// Inputs per activation scale.
pub(crate) const SCALE_GROUP: usize = 32;
/// Steps of four inputs per scale group.
const GROUP_STEPS: usize = SCALE_GROUP / 4;

/// Where weight `(o, i)` lies in the packed layout (see [`Int8Weight::packed`]).
fn packed_index(o: usize, i: usize, steps: usize) -> usize {
    ((o / BLOCK * steps + i / 4) * BLOCK + o % BLOCK) * 4 + i % 4
}

/// The kernel builds, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Int8Kernel {
    /// Plain Rust: the reference every other build is tested against.
    Portable,
    /// AVX2 and FMA: `vpmaddubsw` with the sign of the activation moved onto the weight.
    Avx2,
    /// AVX-VNNI: 256-bit `vpdpbusd` (Alder Lake and later clients, Zen 5).
    AvxVnni,
    /// AVX512-VNNI: 512-bit `vpdpbusd` (Ice Lake and later servers, Zen 4).
    Avx512Vnni,
    /// AMX: `tdpbsud` tile products per scale group (Sapphire Rapids and later), 8 × 32
    /// tiles. Tested like every build but never [`Int8Kernel::detected`]: each group's
    /// products must be stored from the tiles to be scaled, and the layers run at
    /// 0.83–1.07× the AVX512-VNNI build (`cargo bench -p tamis-kernels -- linear_int8`,
    /// 2-core Xeon; `bench/runs/2026-12-08-xeon-2core/amx-int8.md`).
    Amx,
}

impl Int8Kernel {
    /// Every build, lowest first.
    pub const ALL: [Int8Kernel; 5] = [
        Int8Kernel::Portable,
        Int8Kernel::Avx2,
        Int8Kernel::AvxVnni,
        Int8Kernel::Avx512Vnni,
        Int8Kernel::Amx,
    ];

    /// The fastest build this CPU runs (AMX aside: see [`Int8Kernel::Amx`]).
    pub fn detected() -> Int8Kernel {
        Int8Kernel::ALL
            .into_iter()
            .rev()
            .filter(|k| *k != Int8Kernel::Amx)
            .find(|k| k.is_supported())
            .unwrap_or(Int8Kernel::Portable)
    }

    /// Whether this CPU runs the build.
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            match self {
                Int8Kernel::Portable => true,
                Int8Kernel::Avx2 => avx2,
                Int8Kernel::AvxVnni => avx2 && std::is_x86_feature_detected!("avxvnni"),
                Int8Kernel::Avx512Vnni => {
                    std::is_x86_feature_detected!("avx512f")
                        && std::is_x86_feature_detected!("avx512bw")
                        && std::is_x86_feature_detected!("avx512vnni")
                }
                Int8Kernel::Amx => crate::amx::int8_ready(),
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            self == Int8Kernel::Portable
        }
    }

    /// The build's name, as `tamis info` shows it.
    pub fn name(self) -> &'static str {
        match self {
            Int8Kernel::Portable => "portable",
            Int8Kernel::Avx2 => "avx2",
            Int8Kernel::AvxVnni => "avx-vnni",
            Int8Kernel::Avx512Vnni => "avx512-vnni",
            Int8Kernel::Amx => "amx",
        }
    }

    /// Rows and columns of one register tile. The 512-bit tile keeps 6 × 2 `i32` and as
    /// many `f32` accumulators in 24 of the 32 registers.
    fn tile(self) -> (usize, usize) {
        match self {
            Int8Kernel::Portable | Int8Kernel::Avx2 | Int8Kernel::AvxVnni => (4, 16),
            Int8Kernel::Avx512Vnni => (6, 32),
            Int8Kernel::Amx => (8, 32),
        }
    }
}

/// A weight matrix quantized per output channel and packed for the kernels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Int8Weight {
    out_features: usize,
    in_features: usize,
    /// `in_features` rounded up to a whole scale group (the zero padding adds nothing).
    k_pad: usize,
    /// `q + 128`, laid out `[blocks][k_pad / 4][32][4]`: block `b` holds columns
    /// `32b..32b + 32`, each with four consecutive inputs side by side (the layout
    /// `vpdpbusd` multiplies), so a tile reads one stream of 128 bytes per step; the
    /// padding holds 128 (zero).
    packed: Vec<u8>,
    /// Per output channel, padded with zeros like `packed`: the weight is `scale · q`.
    scales: Vec<f32>,
}

impl Int8Weight {
    /// Quantizes `weight` (`[out, in]`, PyTorch's layout), given as a row accessor so
    /// that `f32` and bfloat16 weights share the code.
    pub(crate) fn quantize(
        out_features: usize,
        in_features: usize,
        mut row: impl FnMut(usize, &mut [f32]),
    ) -> Int8Weight {
        let k_pad = in_features.next_multiple_of(SCALE_GROUP);
        let padded = out_features.next_multiple_of(BLOCK);
        let steps = k_pad / 4;
        let mut packed = vec![128u8; padded / BLOCK * steps * STEP_BYTES];
        let mut scales = vec![0.0; padded];
        let mut buf = vec![0.0; in_features];
        let mut q = vec![0u8; in_features];
        for o in 0..out_features {
            row(o, &mut buf);
            scales[o] = quantize_row_u8(&buf, &mut q);
            for (i, &v) in q.iter().enumerate() {
                packed[packed_index(o, i, steps)] = v;
            }
        }
        Int8Weight { out_features, in_features, k_pad, packed, scales }
    }

    /// The padded input width the activations must be quantized to.
    pub(crate) fn k_pad(&self) -> usize {
        self.k_pad
    }

    /// The quantized value of weight `(o, i)`.
    fn get(&self, o: usize, i: usize) -> i8 {
        (self.packed[packed_index(o, i, self.k_pad / 4)] ^ 0x80) as i8
    }

    /// The channels `range`, requantized exactly (each channel's values and scale are
    /// its own, so a subset is the same numbers repacked).
    pub(crate) fn outputs(&self, range: std::ops::Range<usize>) -> Int8Weight {
        let start = range.start;
        let mut out = Int8Weight::quantize(range.len(), self.in_features, |_, _| {});
        let steps = out.k_pad / 4;
        for o in 0..range.len() {
            for i in 0..self.in_features {
                out.packed[packed_index(o, i, steps)] = self.get(start + o, i) as u8 ^ 0x80;
            }
            out.scales[o] = self.scales[start + o];
        }
        out
    }

    /// The dequantized weight `(o, i)`: what the product actually multiplies by.
    pub(crate) fn dequantized(&self, o: usize, i: usize) -> f32 {
        f32::from(self.get(o, i)) * self.scales[o]
    }
}

/// Activations quantized per row and scale group, rows `k_pad` apart.
#[derive(Debug, Default)]
pub(crate) struct Int8Rows {
    rows: usize,
    /// Scale groups per row.
    groups: usize,
    /// `q`, zero in the padding.
    data: Vec<i8>,
    /// `[rows, groups]`: the activation is `scale · q`.
    scales: Vec<f32>,
    /// `[rows, groups]`: `128 · Σ q` over the group, which the unsigned weights add to
    /// its dot products (the AVX2 build adds it back after its signed products).
    shifts: Vec<i32>,
    /// Per row, `Σ_g scale_g · shift_g`: what the scaled sum over groups carries
    /// because of the shift, subtracted once at the end.
    corrections: Vec<f32>,
}

impl Int8Rows {
    /// Quantizes the `rows` rows of `x` (`[rows, k]`) into this buffer, padded to
    /// `k_pad` (a multiple of [`SCALE_GROUP`]), split over the current pool when large.
    pub(crate) fn fill(&mut self, x: &[f32], rows: usize, k: usize, k_pad: usize) {
        assert_eq!(rows.checked_mul(k), Some(x.len()), "int8: input is not [rows, in]");
        assert!(k <= k_pad && k_pad.is_multiple_of(SCALE_GROUP), "int8: bad padded width");
        let groups = k_pad / SCALE_GROUP;
        self.rows = rows;
        self.groups = groups;
        // `quantize_groups_i8` writes every value, scale, shift and correction of a row
        // (the padding too): the buffers need no clearing first.
        self.data.resize(rows * k_pad, 0);
        self.scales.resize(rows * groups, 0.0);
        self.shifts.resize(rows * groups, 0);
        self.corrections.resize(rows, 0.0);
        if k == 0 {
            self.data.fill(0);
            self.scales.fill(0.0);
            self.shifts.fill(0);
            self.corrections.fill(0.0);
            return;
        }
        // One row's outputs: values and scales, then shifts and correction.
        type Parts<'a> = ((&'a mut [i8], &'a mut [f32]), (&'a mut [i32], &'a mut f32));
        let row = |(((d, s), (h, c)), x): (Parts, &[f32])| *c = quantize_groups_i8(x, d, s, h);
        if x.len() < 4 * PARALLEL_MIN_ELEMENTS {
            self.data
                .chunks_mut(k_pad)
                .zip(self.scales.chunks_mut(groups))
                .zip(self.shifts.chunks_mut(groups).zip(self.corrections.iter_mut()))
                .zip(x.chunks_exact(k))
                .for_each(row);
        } else {
            let min_rows = PARALLEL_MIN_ELEMENTS.div_ceil(k);
            self.data
                .par_chunks_mut(k_pad)
                .zip(self.scales.par_chunks_mut(groups))
                .zip(self.shifts.par_chunks_mut(groups).zip(self.corrections.par_iter_mut()))
                .zip(x.par_chunks_exact(k))
                .with_min_len(min_rows)
                .for_each(row);
        }
    }
}

/// `out[r·stride + c] = base(r, c) + Σᵢ x[r,i]·w[c,i]` through the quantized operands,
/// for every row of `x` and column of `w`, on `threads` threads of the current pool,
/// with `kernel` (which must be supported: callers pass [`Int8Kernel::detected`] or a
/// checked one).
pub(crate) fn weight_product(
    kernel: Int8Kernel,
    x: &Int8Rows,
    w: &Int8Weight,
    base: Base,
    out: &mut [f32],
    out_stride: usize,
    threads: usize,
) {
    assert!(kernel.is_supported(), "int8: the {} build is not supported here", kernel.name());
    let rows = x.rows;
    let n = w.out_features;
    assert!(
        x.data.len() == rows * w.k_pad && x.groups * SCALE_GROUP == w.k_pad,
        "int8: activations do not match the weight"
    );
    base.check(rows, n);
    let (_, tile_cols) = kernel.tile();
    // SAFETY: `columns` writes only its own tiles' columns.
    unsafe {
        column_jobs(out, rows, n, out_stride, tile_cols, threads, |out, tiles| {
            columns(kernel, x, w, base, out, out_stride, tiles)
        })
    };
}

/// Computes the column tiles `tiles` for every row.
///
/// # Safety
/// No other thread may access the columns of these tiles while this runs; `out` covers
/// `rows` rows of `out_stride`, and `base` is checked for `rows` and the columns (both
/// by the caller).
unsafe fn columns(
    kernel: Int8Kernel,
    x: &Int8Rows,
    w: &Int8Weight,
    base: Base,
    out: SharedOut,
    out_stride: usize,
    tiles: std::ops::Range<usize>,
) {
    let (tile_rows, tile_cols) = kernel.tile();
    let rows = x.rows;
    let n = w.out_features;
    let steps = w.k_pad / 4;
    let groups = x.groups;
    let row_block = ROW_BLOCK / tile_rows * tile_rows;
    // The sums of one tile, `tile_cols` apart (the AMX tile's 8 × 32 the largest).
    let mut acc = [0.0f32; 8 * 32];
    // AMX tiles stay configured from one tile to the next while their row count holds.
    #[cfg(target_arch = "x86_64")]
    let mut amx: Option<crate::amx::Int8Tiles> = None;
    for block in (0..rows).step_by(row_block) {
        let block_end = (block + row_block).min(rows);
        for tile in tiles.clone() {
            let c0 = tile * tile_cols;
            let cols = tile_cols.min(n - c0);
            // The tile's first column in the packed layout: its block, and within it
            // the second panel for a 16-wide tile at an odd position.
            let start = (c0 / BLOCK * steps) * STEP_BYTES + c0 % BLOCK * 4;
            let weights = Tile { packed: &w.packed[start..], steps, scales: &w.scales[c0..] };
            for r0 in (block..block_end).step_by(tile_rows) {
                let m = tile_rows.min(block_end - r0);
                let lhs = Lhs {
                    a: &x.data[r0 * w.k_pad..][..m * w.k_pad],
                    k_pad: w.k_pad,
                    groups,
                    scales: &x.scales[r0 * groups..][..m * groups],
                    shifts: &x.shifts[r0 * groups..][..m * groups],
                    corrections: &x.corrections[r0..r0 + m],
                };
                let at = r0 * out_stride + c0;
                debug_assert!(at + (m - 1) * out_stride + cols <= out.len);
                #[cfg(target_arch = "x86_64")]
                if kernel == Int8Kernel::Avx512Vnni {
                    assert!(weights.packed.len() >= steps * STEP_BYTES);
                    assert!(weights.scales.len() >= BLOCK && m <= 6);
                    let tile_base = base.tile(r0, c0, n);
                    // SAFETY: the CPU has the build (checked by `weight_product`); `lhs` and
                    // `weights` hold what the tile reads (sliced above, the packed
                    // blocks and scales padded to whole blocks); `out` covers `m` rows
                    // of `cols` from `at`, and the base as many (checked by
                    // `weight_product`), and this job alone owns these columns.
                    unsafe {
                        x86::tile_avx512_vnni(
                            &lhs,
                            &weights,
                            tile_base,
                            out.ptr.add(at),
                            out_stride,
                            cols,
                        )
                    };
                    continue;
                }
                #[cfg(target_arch = "x86_64")]
                if kernel == Int8Kernel::Amx {
                    assert!(lhs.a.len() >= m * w.k_pad && lhs.scales.len() >= m * groups);
                    assert!(weights.packed.len() >= steps * STEP_BYTES);
                    if amx.as_ref().is_none_or(|tiles| tiles.rows() != m) {
                        drop(amx.take()); // released before the next configuration
                        // SAFETY: the process holds the tile state (`weight_product`
                        // checked the build), and the only other configuration of this
                        // thread was just released.
                        amx = Some(unsafe { crate::amx::Int8Tiles::configure(m) });
                    }
                    let tiles = amx.as_mut().expect("configured just above");
                    // The rows this tile writes at its end, asked for now: the product
                    // takes long enough for their misses to be over by then.
                    base.tile(r0, c0, n).prefetch(out.ptr.wrapping_add(at), out_stride, m);
                    // SAFETY: `lhs` holds `m` rows of `k_pad` = 32 · groups bytes, the
                    // packed block `steps` = 8 · groups rows of 128 bytes, and
                    // `lhs.scales` m · groups values (asserted just above).
                    unsafe {
                        tiles.product(
                            lhs.a.as_ptr(),
                            w.k_pad,
                            groups,
                            weights.packed.as_ptr(),
                            STEP_BYTES,
                            lhs.scales,
                            &mut acc,
                        )
                    };
                } else {
                    let acc: &mut [f32; 64] = (&mut acc[..64]).try_into().expect("64 sums");
                    tile_product(kernel, &lhs, &weights, acc);
                }
                #[cfg(not(target_arch = "x86_64"))]
                {
                    let acc: &mut [f32; 64] = (&mut acc[..64]).try_into().expect("64 sums");
                    tile_product(kernel, &lhs, &weights, acc);
                }
                for (r, &correction) in lhs.corrections.iter().enumerate() {
                    // SAFETY: as above: in bounds, and this job alone owns the columns.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(out.ptr.add(at + r * out_stride), cols)
                    };
                    base.init_row(r0 + r, c0, n, dst);
                    let sums = &acc[r * tile_cols..][..cols];
                    add_group_scaled_row(dst, sums, correction, &weights.scales[..cols]);
                }
            }
        }
    }
}

/// One tile's rows of the quantized activations.
struct Lhs<'a> {
    /// `m` rows of `q`, `k_pad` apart.
    a: &'a [i8],
    k_pad: usize,
    groups: usize,
    /// `[m, groups]`, as in [`Int8Rows`].
    scales: &'a [f32],
    /// `[m, groups]`, as in [`Int8Rows`].
    shifts: &'a [i32],
    /// `m`, as in [`Int8Rows`].
    corrections: &'a [f32],
}

/// One tile's columns of the packed weight: `packed` starts at its first column, and
/// each step of four inputs lies [`STEP_BYTES`] further on.
struct Tile<'a> {
    packed: &'a [u8],
    steps: usize,
    /// Per column, from the tile's first.
    scales: &'a [f32],
}

/// `acc[r·16 + c] = Σ_g raw_g · sx[r,g]`, one fused multiply-add per group in order,
/// where `raw_g = Σ_{i∈g} qx[r,i] · (qw[c,i] + 128)`, for the rows of `x` and a
/// 16-column tile.
fn tile_product(kernel: Int8Kernel, x: &Lhs, w: &Tile, acc: &mut [f32; 64]) {
    let m = x.corrections.len();
    assert!((1..=4).contains(&m) && x.a.len() >= m * x.k_pad && x.k_pad >= 4 * w.steps);
    assert!(w.steps == x.groups * GROUP_STEPS && x.scales.len() >= m * x.groups);
    assert!(x.shifts.len() >= m * x.groups);
    assert!(w.steps == 0 || w.packed.len() >= (w.steps - 1) * STEP_BYTES + PANEL * 4);
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU supports the build (`weight_product`), and
        // the asserts above bound every read.
        Int8Kernel::Avx2 => unsafe { x86::tile_avx2(x, w, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Int8Kernel::AvxVnni => unsafe { x86::tile_avx_vnni(x, w, acc) },
        _ => portable(x, w, acc),
    }
}

/// The reference: a 4 × 16 tile in plain integer arithmetic.
fn portable(x: &Lhs, w: &Tile, acc: &mut [f32; 64]) {
    for r in 0..x.corrections.len() {
        let row = &x.a[r * x.k_pad..][..x.k_pad];
        for c in 0..PANEL {
            let mut sum = 0.0f32;
            for g in 0..x.groups {
                let mut raw = 0i32;
                for step in g * GROUP_STEPS..(g + 1) * GROUP_STEPS {
                    for j in 0..4 {
                        let q = i32::from(row[4 * step + j]);
                        raw += q * i32::from(w.packed[step * STEP_BYTES + c * 4 + j]);
                    }
                }
                sum = (raw as f32).mul_add(x.scales[r * x.groups + g], sum);
            }
            acc[r * PANEL + c] = sum;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The SIMD tiles. Each reads the rows of `x` (`k_pad` bytes apart, 4 per step) and
    //! `steps` steps of the tile's packed columns; the caller bounds both.
    use std::arch::x86_64::*;

    use super::{GROUP_STEPS, Lhs, PANEL, STEP_BYTES, Tile};
    use crate::tiles::{TileBase, lanes_from};

    /// `$tile::<M>(args)` for the row count `$m`, one of `$counts`: each count gets its
    /// own build, so that the tile's accumulators stay in registers.
    macro_rules! by_rows {
        ($m:expr, [$($n:literal)*], $tile:ident $args:tt) => {
            match $m {
                $($n => $tile::<$n> $args,)*
                _ => unreachable!("a tile has at most the rows its kernel names"),
            }
        };
    }

    /// The two 32-byte halves of step `s` of a 16-column panel.
    ///
    /// # Safety
    /// `b` points at a panel of at least `s + 1` steps, [`STEP_BYTES`] apart.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn panel_256(b: *const u8, s: usize) -> (__m256i, __m256i) {
        // SAFETY: in bounds per the contract; unaligned loads are allowed.
        unsafe {
            let at = b.add(s * STEP_BYTES);
            (_mm256_loadu_si256(at.cast()), _mm256_loadu_si256(at.add(32).cast()))
        }
    }

    /// Four activations of row `r`, step `s`, as one `i32` (for a broadcast).
    ///
    /// # Safety
    /// `r · k_pad + 4s + 4 ≤ a.len()`.
    #[inline(always)]
    unsafe fn four(a: &[i8], k_pad: usize, r: usize, s: usize) -> i32 {
        // SAFETY: in bounds per the contract; unaligned reads are allowed.
        unsafe { a.as_ptr().add(r * k_pad + 4 * s).cast::<i32>().read_unaligned() }
    }

    /// The steps of scale group `g`.
    fn steps_of(g: usize) -> std::ops::Range<usize> {
        g * GROUP_STEPS..(g + 1) * GROUP_STEPS
    }

    /// A tile of up to 6 × 32 with 512-bit `vpdpbusd`, summed over the groups in `f32`
    /// registers and written to `out` (masked to `cols` columns):
    /// `out[r·stride + c] = base + (Σ_g raw_g · sx[r,g] − correction[r]) · sw[c]`,
    /// rounded as the portable build rounds.
    ///
    /// # Safety
    /// AVX512F/BW/VNNI present; `x` holds `m ≤ 6` rows of `k_pad ≥ 4 · steps` bytes
    /// and their scales; `w` holds `steps` steps of 128 bytes and 32 scales; `out` and
    /// `base` are valid for `m` rows of `cols ≤ 32` elements.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile_avx512_vnni(
        x: &Lhs,
        w: &Tile,
        base: TileBase,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            by_rows!(x.corrections.len(), [1 2 3 4 5 6], tile_512(x, w, base, out, stride, cols))
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn tile_512<const M: usize>(
        x: &Lhs,
        w: &Tile,
        base: TileBase,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        base.prefetch(out, stride, M);
        let mut f = [[_mm512_setzero_ps(); 2]; M];
        let b = w.packed.as_ptr();
        for g in 0..x.groups {
            let mut c = [[_mm512_setzero_si512(); 2]; M];
            for s in steps_of(g) {
                // SAFETY: the tile holds `steps` steps of 128 bytes (contract).
                let (b0, b1) = unsafe {
                    let at = b.add(s * STEP_BYTES);
                    (_mm512_loadu_si512(at.cast()), _mm512_loadu_si512(at.add(64).cast()))
                };
                for (r, c) in c.iter_mut().enumerate() {
                    // SAFETY: row `r < M` of `a` (contract).
                    let a = _mm512_set1_epi32(unsafe { four(x.a, x.k_pad, r, s) });
                    c[0] = _mm512_dpbusd_epi32(c[0], b0, a);
                    c[1] = _mm512_dpbusd_epi32(c[1], b1, a);
                }
            }
            for (r, (f, c)) in f.iter_mut().zip(&c).enumerate() {
                let scale = _mm512_set1_ps(x.scales[r * x.groups + g]);
                f[0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c[0]), scale, f[0]);
                f[1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(c[1]), scale, f[1]);
            }
        }
        // SAFETY: `scales` holds 32 elements (contract).
        let (w0, w1) = unsafe {
            let scales = w.scales.as_ptr();
            (_mm512_loadu_ps(scales), _mm512_loadu_ps(scales.add(16)))
        };
        let (m0, m1) = (lanes_from(cols, 0), lanes_from(cols, PANEL));
        for (r, f) in f.iter().enumerate() {
            let correction = _mm512_set1_ps(x.corrections[r]);
            let v0 = _mm512_mul_ps(_mm512_sub_ps(f[0], correction), w0);
            let v1 = _mm512_mul_ps(_mm512_sub_ps(f[1], correction), w1);
            // Masked lanes are neither read nor written, so the pointers may run past
            // the row (hence `wrapping_add`, which never asserts they are in bounds).
            let p0 = out.wrapping_add(r * stride);
            let p1 = p0.wrapping_add(16);
            // SAFETY: the unmasked lanes are the row's first `cols` elements (contract).
            unsafe {
                let (b0, b1) = base.row_512(r, m0, m1);
                _mm512_mask_storeu_ps(p0, m0, _mm512_add_ps(b0, v0));
                _mm512_mask_storeu_ps(p1, m1, _mm512_add_ps(b1, v1));
            }
        }
    }

    /// A 4 × 16 tile with 256-bit `vpdpbusd` (AVX-VNNI).
    ///
    /// # Safety
    /// AVX2, FMA and AVX-VNNI present; operands as `tile_product` asserts.
    #[target_feature(enable = "avx2,fma,avxvnni")]
    pub(super) unsafe fn tile_avx_vnni(x: &Lhs, w: &Tile, acc: &mut [f32; 64]) {
        // SAFETY: forwarded contract.
        unsafe { by_rows!(x.corrections.len(), [1 2 3 4], tile_vnni_256(x, w, acc)) }
    }

    #[target_feature(enable = "avx2,fma,avxvnni")]
    #[inline]
    unsafe fn tile_vnni_256<const M: usize>(x: &Lhs, w: &Tile, acc: &mut [f32; 64]) {
        acc.fill(0.0);
        let b = w.packed.as_ptr();
        for g in 0..x.groups {
            let mut c = [[_mm256_setzero_si256(); 2]; M];
            for s in steps_of(g) {
                // SAFETY: the panel holds `steps` steps (caller's bound).
                let (b0, b1) = unsafe { panel_256(b, s) };
                for (r, c) in c.iter_mut().enumerate() {
                    // SAFETY: row `r < M` of `a` (caller's bound).
                    let a = _mm256_set1_epi32(unsafe { four(x.a, x.k_pad, r, s) });
                    c[0] = _mm256_dpbusd_avx_epi32(c[0], b0, a);
                    c[1] = _mm256_dpbusd_avx_epi32(c[1], b1, a);
                }
            }
            add_group(acc, &c, x, g);
        }
    }

    /// A 4 × 16 tile with AVX2: `|x| · sign(x)·qw` through `vpmaddubsw` (pairs of at
    /// most 127 · 127 each, so it never saturates) and `vpmaddwd` by ones, plus the
    /// group's shift, which the unsigned weights of the VNNI builds add.
    ///
    /// # Safety
    /// AVX2 and FMA present; operands as `tile_product` asserts.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile_avx2(x: &Lhs, w: &Tile, acc: &mut [f32; 64]) {
        // SAFETY: forwarded contract.
        unsafe { by_rows!(x.corrections.len(), [1 2 3 4], tile_avx2_rows(x, w, acc)) }
    }

    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tile_avx2_rows<const M: usize>(x: &Lhs, w: &Tile, acc: &mut [f32; 64]) {
        acc.fill(0.0);
        let b = w.packed.as_ptr();
        let ones = _mm256_set1_epi16(1);
        let shift = _mm256_set1_epi8(-128);
        for g in 0..x.groups {
            let mut c = [[_mm256_setzero_si256(); 2]; M];
            for s in steps_of(g) {
                // SAFETY: the panel holds `steps` steps (caller's bound).
                let (b0, b1) = unsafe { panel_256(b, s) };
                // Back to the signed `q`.
                let (b0, b1) = (_mm256_xor_si256(b0, shift), _mm256_xor_si256(b1, shift));
                for (r, c) in c.iter_mut().enumerate() {
                    // SAFETY: row `r < M` of `a` (caller's bound).
                    let a = _mm256_set1_epi32(unsafe { four(x.a, x.k_pad, r, s) });
                    let abs = _mm256_abs_epi8(a);
                    let p0 = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(b0, a));
                    let p1 = _mm256_maddubs_epi16(abs, _mm256_sign_epi8(b1, a));
                    c[0] = _mm256_add_epi32(c[0], _mm256_madd_epi16(p0, ones));
                    c[1] = _mm256_add_epi32(c[1], _mm256_madd_epi16(p1, ones));
                }
            }
            for (r, c) in c.iter_mut().enumerate() {
                let shift = _mm256_set1_epi32(x.shifts[r * x.groups + g]);
                c[0] = _mm256_add_epi32(c[0], shift);
                c[1] = _mm256_add_epi32(c[1], shift);
            }
            add_group(acc, &c, x, g);
        }
    }

    /// `acc[r·16 + c] += raw · sx[r,g]` (fused) for a 4 × 16 tile's group sums `c`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    fn add_group<const M: usize>(acc: &mut [f32; 64], c: &[[__m256i; 2]; M], x: &Lhs, g: usize) {
        for (r, c) in c.iter().enumerate() {
            let scale = _mm256_set1_ps(x.scales[r * x.groups + g]);
            for (half, &c) in c.iter().enumerate() {
                // SAFETY: `acc` holds 64 ≥ 4 · 16 elements.
                unsafe {
                    let at = acc.as_mut_ptr().add(r * PANEL + 8 * half);
                    let sum = _mm256_fmadd_ps(_mm256_cvtepi32_ps(c), scale, _mm256_loadu_ps(at));
                    _mm256_storeu_ps(at, sum);
                }
            }
        }
    }
}
