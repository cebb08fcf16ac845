//! Int8 products for quantized dense layers: weights quantized once per output channel,
//! activations per row at each call, and the integer dot products computed exactly in
//! `i32` by a kernel picked at run time (AVX512-VNNI, AVX-VNNI, AVX2, or portable).
//!
//! Every build computes the same integers (`Σ qx·qw`, no saturation anywhere), so the
//! builds agree bit for bit and the tests compare them exactly; the only approximation
//! is the quantization itself.
//!
//! Quantization is symmetric with 127 levels on each side: `q = round(v / s)` with
//! `s = max|v| / 127`. Keeping −128 out of both operands is what makes the AVX2 build
//! exact: its `u8 × i8` pair sums (`vpmaddubsw`, which saturates at ±32767) see at
//! most 2 · 127 · 127 = 32258.
#![allow(unsafe_code)]

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::simd::{add_scaled_i32_row, quantize_row_u8};

#[cfg(test)]
mod tests;

/// Columns per packed block: the widest tile (two 512-bit registers of `i32` lanes).
const BLOCK: usize = 32;
/// Columns of a panel, half a block: what one 512-bit register holds.
const PANEL: usize = 16;
/// Bytes of one block per group of four inputs: 32 columns × 4 inputs.
const GROUP_BYTES: usize = BLOCK * 4;
/// Rows of activations each thread keeps hot while it walks the weight blocks: 128
/// rows of a 4096-wide input are 512 KiB, well inside a 2 MiB L2.
const ROW_BLOCK: usize = 128;

/// Where weight `(o, i)` lies in the packed layout (see [`Int8Weight::packed`]).
fn packed_index(o: usize, i: usize, groups: usize) -> usize {
    ((o / BLOCK * groups + i / 4) * BLOCK + o % BLOCK) * 4 + i % 4
}

/// The kernel builds, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Int8Kernel {
    /// Plain Rust: the reference every other build is tested against.
    Portable,
    /// AVX2: `vpmaddubsw` with the sign of the activation moved onto the weight.
    Avx2,
    /// AVX-VNNI: 256-bit `vpdpbusd` (Alder Lake and later clients, Zen 5).
    AvxVnni,
    /// AVX512-VNNI: 512-bit `vpdpbusd` (Ice Lake and later servers, Zen 4).
    Avx512Vnni,
}

impl Int8Kernel {
    /// Every build, lowest first.
    pub const ALL: [Int8Kernel; 4] =
        [Int8Kernel::Portable, Int8Kernel::Avx2, Int8Kernel::AvxVnni, Int8Kernel::Avx512Vnni];

    /// The fastest build this CPU runs.
    pub fn detected() -> Int8Kernel {
        Int8Kernel::ALL.into_iter().rev().find(|k| k.is_supported()).unwrap_or(Int8Kernel::Portable)
    }

    /// Whether this CPU runs the build.
    pub fn is_supported(self) -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 = std::is_x86_feature_detected!("avx2");
            match self {
                Int8Kernel::Portable => true,
                Int8Kernel::Avx2 => avx2,
                Int8Kernel::AvxVnni => avx2 && std::is_x86_feature_detected!("avxvnni"),
                Int8Kernel::Avx512Vnni => {
                    std::is_x86_feature_detected!("avx512f")
                        && std::is_x86_feature_detected!("avx512bw")
                        && std::is_x86_feature_detected!("avx512vnni")
                }
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
        }
    }

    /// Rows and columns of one register tile.
    fn tile(self) -> (usize, usize) {
        match self {
            Int8Kernel::Portable | Int8Kernel::Avx2 | Int8Kernel::AvxVnni => (4, 16),
            Int8Kernel::Avx512Vnni => (8, 32),
        }
    }
}

/// A weight matrix quantized per output channel and packed for the kernels.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Int8Weight {
    out_features: usize,
    in_features: usize,
    /// `in_features` rounded up to a multiple of 4 (the zero padding adds nothing).
    k_pad: usize,
    /// `[blocks][k_pad / 4][32][4]`: block `b` holds columns `32b..32b + 32`, each
    /// with four consecutive inputs side by side (the layout `vpdpbusd` multiplies), so
    /// a tile reads one stream of 128 bytes per group; the last block is padded with
    /// zero columns.
    packed: Vec<i8>,
    /// Per output channel, padded with zeros like `packed`: the weight is `scale · q`.
    scales: Vec<f32>,
    /// Per output channel, padded like `packed`: `Σ q`, which the VNNI builds subtract
    /// (×128) because they read activations shifted to unsigned.
    sums: Vec<i32>,
}

impl Int8Weight {
    /// Quantizes `weight` (`[out, in]`, PyTorch's layout), given as a row accessor so
    /// that `f32` and bfloat16 weights share the code.
    pub(crate) fn quantize(
        out_features: usize,
        in_features: usize,
        mut row: impl FnMut(usize, &mut [f32]),
    ) -> Int8Weight {
        let k_pad = in_features.next_multiple_of(4);
        let padded = out_features.next_multiple_of(BLOCK);
        let groups = k_pad / 4;
        let mut packed = vec![0i8; padded / BLOCK * groups * GROUP_BYTES];
        let mut scales = vec![0.0; padded];
        let mut sums = vec![0; padded];
        let mut buf = vec![0.0; in_features];
        let mut q = vec![0u8; in_features];
        for o in 0..out_features {
            row(o, &mut buf);
            scales[o] = quantize_row_u8(&buf, &mut q);
            for (i, &v) in q.iter().enumerate() {
                let v = (v ^ 0x80) as i8; // back from `q + 128`
                sums[o] += i32::from(v);
                packed[packed_index(o, i, groups)] = v;
            }
        }
        Int8Weight { out_features, in_features, k_pad, packed, scales, sums }
    }

    /// The padded input width the activations must be quantized to.
    pub(crate) fn k_pad(&self) -> usize {
        self.k_pad
    }

    /// The quantized value of weight `(o, i)`.
    fn get(&self, o: usize, i: usize) -> i8 {
        self.packed[packed_index(o, i, self.k_pad / 4)]
    }

    /// The channels `range`, requantized exactly (each channel's values and scale are
    /// its own, so a subset is the same numbers repacked).
    pub(crate) fn outputs(&self, range: std::ops::Range<usize>) -> Int8Weight {
        let start = range.start;
        let mut out = Int8Weight::quantize(range.len(), self.in_features, |_, _| {});
        let groups = out.k_pad / 4;
        for o in 0..range.len() {
            for i in 0..self.in_features {
                out.packed[packed_index(o, i, groups)] = self.get(start + o, i);
            }
            out.scales[o] = self.scales[start + o];
            out.sums[o] = self.sums[start + o];
        }
        out
    }

    /// The dequantized weight `(o, i)`: what the product actually multiplies by.
    pub(crate) fn dequantized(&self, o: usize, i: usize) -> f32 {
        f32::from(self.get(o, i)) * self.scales[o]
    }
}

/// Activations quantized per row, shifted to unsigned (`q + 128`), rows `k_pad` apart.
#[derive(Debug, Default)]
pub(crate) struct Int8Rows {
    data: Vec<u8>,
    scales: Vec<f32>,
}

impl Int8Rows {
    /// Quantizes the `rows` rows of `x` (`[rows, k]`) into this buffer, padded to
    /// `k_pad`, split over the current pool when large.
    pub(crate) fn fill(&mut self, x: &[f32], rows: usize, k: usize, k_pad: usize) {
        assert_eq!(rows.checked_mul(k), Some(x.len()), "int8: input is not [rows, in]");
        self.data.clear();
        self.data.resize(rows * k_pad, 128);
        self.scales.clear();
        self.scales.resize(rows, 0.0);
        if k == 0 {
            return;
        }
        let row =
            |((d, s), x): ((&mut [u8], &mut f32), &[f32])| *s = quantize_row_u8(x, &mut d[..k]);
        let jobs = self.data.chunks_mut(k_pad).zip(self.scales.iter_mut()).zip(x.chunks_exact(k));
        if x.len() < 4 * PARALLEL_MIN_ELEMENTS {
            jobs.for_each(row);
        } else {
            let min_rows = PARALLEL_MIN_ELEMENTS.div_ceil(k);
            self.data
                .par_chunks_mut(k_pad)
                .zip(self.scales.par_iter_mut())
                .zip(x.par_chunks_exact(k))
                .with_min_len(min_rows)
                .for_each(row);
        }
    }
}

/// `out[r·stride + c] += Σᵢ x[r,i]·w[c,i]` through the quantized operands, for every
/// row of `x` and column of `w`, on `threads` threads of the current pool, with `kernel`
/// (which must be supported: callers pass [`Int8Kernel::detected`] or a checked one).
pub(crate) fn accumulate(
    kernel: Int8Kernel,
    x: &Int8Rows,
    w: &Int8Weight,
    out: &mut [f32],
    out_stride: usize,
    threads: usize,
) {
    assert!(kernel.is_supported(), "int8: the {} build is not supported here", kernel.name());
    let rows = x.scales.len();
    let n = w.out_features;
    assert_eq!(x.data.len(), rows * w.k_pad, "int8: activations do not match the weight");
    if rows == 0 || n == 0 {
        return;
    }
    assert!(
        out_stride >= n
            && crate::linear::extent(rows, n, out_stride, 1).is_some_and(|end| end <= out.len()),
        "int8: out too short"
    );
    let (_, tile_cols) = kernel.tile();
    let col_tiles = n.div_ceil(tile_cols);
    let jobs = threads.clamp(1, col_tiles);
    let out = SharedOut { ptr: out.as_mut_ptr(), len: out.len() };
    let run = |job: usize| {
        let tiles = col_tiles * job / jobs..col_tiles * (job + 1) / jobs;
        // SAFETY: jobs own disjoint column ranges (`tiles`), so no two write one element.
        unsafe { columns(kernel, x, w, out, out_stride, tiles) };
    };
    if jobs == 1 {
        run(0);
    } else {
        (0..jobs).into_par_iter().for_each(run);
    }
}

/// The output, shared by jobs that write disjoint columns of it.
#[derive(Clone, Copy)]
struct SharedOut {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: jobs only write through it at disjoint indices (see `accumulate`).
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

/// Computes the column tiles `tiles` for every row.
///
/// # Safety
/// No other thread may access the columns of these tiles while this runs; `out` covers
/// `rows` rows of `out_stride` (checked by the caller).
unsafe fn columns(
    kernel: Int8Kernel,
    x: &Int8Rows,
    w: &Int8Weight,
    out: SharedOut,
    out_stride: usize,
    tiles: std::ops::Range<usize>,
) {
    let (tile_rows, tile_cols) = kernel.tile();
    let rows = x.scales.len();
    let n = w.out_features;
    let groups = w.k_pad / 4;
    let mut acc = [0i32; 4 * PANEL];
    for block in (0..rows).step_by(ROW_BLOCK) {
        let block_end = (block + ROW_BLOCK).min(rows);
        for tile in tiles.clone() {
            let c0 = tile * tile_cols;
            let cols = tile_cols.min(n - c0);
            // The tile's first column in the packed layout: its block, and within it
            // the second panel for a 16-wide tile at an odd position.
            let start = (c0 / BLOCK * groups) * GROUP_BYTES + c0 % BLOCK * 4;
            let weights = Tile {
                packed: &w.packed[start..],
                groups,
                sums: &w.sums[c0..c0 + tile_cols],
                scales: &w.scales[c0..c0 + tile_cols],
            };
            for r0 in (block..block_end).step_by(tile_rows) {
                let m = tile_rows.min(block_end - r0);
                let a = &x.data[r0 * w.k_pad..][..m * w.k_pad];
                let sx = &x.scales[r0..r0 + m];
                let base = r0 * out_stride + c0;
                debug_assert!(base + (m - 1) * out_stride + cols <= out.len);
                #[cfg(target_arch = "x86_64")]
                if kernel == Int8Kernel::Avx512Vnni {
                    assert!(weights.packed.len() >= groups * GROUP_BYTES && sx.len() <= 8);
                    // SAFETY: the CPU has the build (checked by `accumulate`); `a`, `sx`
                    // and `weights` hold what the tile reads (sliced above, the packed
                    // blocks padded to whole tiles); `out` covers `m` rows of `cols`
                    // from `base` (checked by `accumulate`), and this job alone owns
                    // these columns.
                    unsafe {
                        x86::tile_avx512_vnni(
                            a,
                            w.k_pad,
                            sx,
                            &weights,
                            out.ptr.add(base),
                            out_stride,
                            cols,
                        )
                    };
                    continue;
                }
                tile_product(kernel, a, w.k_pad, m, &weights, &mut acc);
                for (r, &sx) in sx.iter().enumerate() {
                    // SAFETY: as above: in bounds, and this job alone owns the columns.
                    let dst = unsafe {
                        std::slice::from_raw_parts_mut(out.ptr.add(base + r * out_stride), cols)
                    };
                    add_scaled_i32_row(dst, &acc[r * PANEL..][..cols], sx, &weights.scales[..cols]);
                }
            }
        }
    }
}

/// One tile's columns of the packed weight: `packed` starts at its first column, and
/// each group of four inputs lies [`GROUP_BYTES`] further on.
struct Tile<'a> {
    packed: &'a [i8],
    groups: usize,
    /// `Σ q` per column, as many as the tile is wide.
    sums: &'a [i32],
    /// Per column, as many as the tile is wide.
    scales: &'a [f32],
}

/// `acc[r·16 + c] = Σᵢ qx[r,i]·qw[c,i]` for the `m` rows of `a` (unsigned, `k_pad`
/// apart) and a 16-column tile.
fn tile_product(
    kernel: Int8Kernel,
    a: &[u8],
    k_pad: usize,
    m: usize,
    w: &Tile,
    acc: &mut [i32; 64],
) {
    assert!((1..=4).contains(&m) && a.len() >= m * k_pad && k_pad >= 4 * w.groups);
    assert!(w.groups == 0 || w.packed.len() >= (w.groups - 1) * GROUP_BYTES + PANEL * 4);
    assert!(w.sums.len() >= PANEL);
    match kernel {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller checked that the CPU supports the build (`accumulate`), and
        // the asserts above bound every read.
        Int8Kernel::Avx2 => unsafe { x86::tile_avx2(a, k_pad, m, w, acc) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Int8Kernel::AvxVnni => unsafe { x86::tile_avx_vnni(a, k_pad, m, w, acc) },
        _ => portable(a, k_pad, m, w, acc),
    }
}

/// The reference: a 4 × 16 tile in plain integer arithmetic.
fn portable(a: &[u8], k_pad: usize, m: usize, w: &Tile, acc: &mut [i32; 64]) {
    for r in 0..m {
        let row = &a[r * k_pad..][..k_pad];
        for c in 0..PANEL {
            let mut s = 0i32;
            for g in 0..w.groups {
                for j in 0..4 {
                    let x = i32::from(row[4 * g + j]) - 128;
                    s += x * i32::from(w.packed[g * GROUP_BYTES + c * 4 + j]);
                }
            }
            acc[r * PANEL + c] = s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    //! The SIMD tiles. Each reads `m` rows of `a` (`k_pad` bytes apart, 4 per group)
    //! and `groups` groups of the tile's packed columns; the caller bounds both.
    use std::arch::x86_64::*;

    use super::{GROUP_BYTES, PANEL, Tile};

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

    /// The two 32-byte halves of group `g` of a 16-column panel.
    ///
    /// # Safety
    /// `b` points at a panel of at least `g + 1` groups, [`GROUP_BYTES`] apart.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn panel_256(b: *const i8, g: usize) -> (__m256i, __m256i) {
        // SAFETY: in bounds per the contract; unaligned loads are allowed.
        unsafe {
            let at = b.add(g * GROUP_BYTES);
            (_mm256_loadu_si256(at.cast()), _mm256_loadu_si256(at.add(32).cast()))
        }
    }

    /// Four activations of row `r`, group `g`, as one `i32` (for a broadcast).
    ///
    /// # Safety
    /// `r · k_pad + 4g + 4 ≤ a.len()`.
    #[inline(always)]
    unsafe fn four(a: &[u8], k_pad: usize, r: usize, g: usize) -> i32 {
        // SAFETY: in bounds per the contract; unaligned reads are allowed.
        unsafe { a.as_ptr().add(r * k_pad + 4 * g).cast::<i32>().read_unaligned() }
    }

    /// An 8 × 32 tile with 512-bit `vpdpbusd`, converted to `f32` and added to `out`
    /// in registers (masked to `cols` columns): `out[r·stride + c] += acc · (sx·sw)`,
    /// rounded as the portable epilogue rounds.
    ///
    /// # Safety
    /// AVX512F/BW/VNNI present; `sx.len() = m ≤ 8`, `a.len() ≥ m · k_pad`,
    /// `k_pad ≥ 4 · groups`; `w` holds `groups` groups of 128 bytes and 32 sums and
    /// scales; `out` is valid for `m` rows of `cols ≤ 32` elements, `stride` apart.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn tile_avx512_vnni(
        a: &[u8],
        k_pad: usize,
        sx: &[f32],
        w: &Tile,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        // SAFETY: forwarded contract.
        unsafe {
            by_rows!(sx.len(), [1 2 3 4 5 6 7 8], tile_512(a, k_pad, sx, w, out, stride, cols))
        }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn tile_512<const M: usize>(
        a: &[u8],
        k_pad: usize,
        sx: &[f32],
        w: &Tile,
        out: *mut f32,
        stride: usize,
        cols: usize,
    ) {
        let mut c = [[_mm512_setzero_si512(); 2]; M];
        let b = w.packed.as_ptr();
        for g in 0..w.groups {
            // SAFETY: the tile holds `groups` groups of 128 bytes (contract).
            let (b0, b1) = unsafe {
                let at = b.add(g * GROUP_BYTES);
                (_mm512_loadu_si512(at.cast()), _mm512_loadu_si512(at.add(64).cast()))
            };
            for (r, c) in c.iter_mut().enumerate() {
                // SAFETY: row `r < M` of `a` (contract).
                let x = _mm512_set1_epi32(unsafe { four(a, k_pad, r, g) });
                c[0] = _mm512_dpbusd_epi32(c[0], x, b0);
                c[1] = _mm512_dpbusd_epi32(c[1], x, b1);
            }
        }
        // SAFETY: `sums` and `scales` hold 32 elements (contract).
        let (s0, s1, w0, w1) = unsafe {
            let (sums, scales) = (w.sums.as_ptr(), w.scales.as_ptr());
            (
                _mm512_loadu_si512(sums.cast()),
                _mm512_loadu_si512(sums.add(16).cast()),
                _mm512_loadu_ps(scales),
                _mm512_loadu_ps(scales.add(16)),
            )
        };
        // The activations were read as q + 128: take 128 · Σ qw back out.
        let (s0, s1) = (_mm512_slli_epi32::<7>(s0), _mm512_slli_epi32::<7>(s1));
        let mask = |from: usize| -> __mmask16 {
            let n = cols.saturating_sub(from).min(PANEL);
            ((1u32 << n) - 1) as __mmask16
        };
        let (m0, m1) = (mask(0), mask(16));
        for (r, c) in c.iter().enumerate() {
            let scale = _mm512_set1_ps(sx[r]);
            let v0 = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_sub_epi32(c[0], s0)),
                _mm512_mul_ps(scale, w0),
            );
            let v1 = _mm512_mul_ps(
                _mm512_cvtepi32_ps(_mm512_sub_epi32(c[1], s1)),
                _mm512_mul_ps(scale, w1),
            );
            // Masked lanes are neither read nor written, so the pointers may run past
            // the row (hence `wrapping_add`, which never asserts they are in bounds).
            let p0 = out.wrapping_add(r * stride);
            let p1 = p0.wrapping_add(16);
            // SAFETY: the unmasked lanes are the row's first `cols` elements (contract).
            unsafe {
                _mm512_mask_storeu_ps(p0, m0, _mm512_add_ps(_mm512_maskz_loadu_ps(m0, p0), v0));
                _mm512_mask_storeu_ps(p1, m1, _mm512_add_ps(_mm512_maskz_loadu_ps(m1, p1), v1));
            }
        }
    }

    /// A 4 × 16 tile with 256-bit `vpdpbusd` (AVX-VNNI).
    ///
    /// # Safety
    /// AVX2 and AVX-VNNI present; `m ≤ 4`; operands as the module says.
    #[target_feature(enable = "avx2,avxvnni")]
    pub(super) unsafe fn tile_avx_vnni(
        a: &[u8],
        k_pad: usize,
        m: usize,
        w: &Tile,
        acc: &mut [i32; 64],
    ) {
        // SAFETY: forwarded contract.
        unsafe { by_rows!(m, [1 2 3 4], tile_vnni_256(a, k_pad, w, acc)) }
    }

    #[target_feature(enable = "avx2,avxvnni")]
    #[inline]
    unsafe fn tile_vnni_256<const M: usize>(a: &[u8], k_pad: usize, w: &Tile, acc: &mut [i32; 64]) {
        let mut c = [[_mm256_setzero_si256(); 2]; M];
        let b = w.packed.as_ptr();
        for g in 0..w.groups {
            // SAFETY: the panel holds `groups` groups (caller's bound).
            let (b0, b1) = unsafe { panel_256(b, g) };
            for (r, c) in c.iter_mut().enumerate() {
                // SAFETY: row `r < M ≤ m` of `a` (caller's bound).
                let x = _mm256_set1_epi32(unsafe { four(a, k_pad, r, g) });
                c[0] = _mm256_dpbusd_avx_epi32(c[0], x, b0);
                c[1] = _mm256_dpbusd_avx_epi32(c[1], x, b1);
            }
        }
        // SAFETY: `sums` has at least 16 elements (caller's bound).
        let (s0, s1) = unsafe {
            let sums = w.sums.as_ptr();
            (_mm256_loadu_si256(sums.cast()), _mm256_loadu_si256(sums.add(8).cast()))
        };
        let (s0, s1) = (_mm256_slli_epi32::<7>(s0), _mm256_slli_epi32::<7>(s1));
        store_256(acc, &c, s0, s1);
    }

    /// A 4 × 16 tile with AVX2: `|x| · sign(x)·w` through `vpmaddubsw` (pairs of at
    /// most 127 · 127 each, so it never saturates) and `vpmaddwd` by ones.
    ///
    /// # Safety
    /// AVX2 present; `m ≤ 4`; operands as the module says.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn tile_avx2(
        a: &[u8],
        k_pad: usize,
        m: usize,
        w: &Tile,
        acc: &mut [i32; 64],
    ) {
        // SAFETY: forwarded contract.
        unsafe { by_rows!(m, [1 2 3 4], tile_avx2_rows(a, k_pad, w, acc)) }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn tile_avx2_rows<const M: usize>(
        a: &[u8],
        k_pad: usize,
        w: &Tile,
        acc: &mut [i32; 64],
    ) {
        let mut c = [[_mm256_setzero_si256(); 2]; M];
        let b = w.packed.as_ptr();
        let ones = _mm256_set1_epi16(1);
        let shift = _mm256_set1_epi8(-128);
        for g in 0..w.groups {
            // SAFETY: the panel holds `groups` groups (caller's bound).
            let (b0, b1) = unsafe { panel_256(b, g) };
            for (r, c) in c.iter_mut().enumerate() {
                // SAFETY: row `r < M ≤ m` of `a` (caller's bound).
                let x = _mm256_set1_epi32(unsafe { four(a, k_pad, r, g) });
                let x = _mm256_xor_si256(x, shift); // back to signed q
                let ax = _mm256_abs_epi8(x);
                let p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(b0, x));
                let p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(b1, x));
                c[0] = _mm256_add_epi32(c[0], _mm256_madd_epi16(p0, ones));
                c[1] = _mm256_add_epi32(c[1], _mm256_madd_epi16(p1, ones));
            }
        }
        let zero = _mm256_setzero_si256();
        store_256(acc, &c, zero, zero);
    }

    /// Stores a 4 × 16 tile of two 8-lane halves, less `s0` / `s1`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn store_256<const M: usize>(
        acc: &mut [i32; 64],
        c: &[[__m256i; 2]; M],
        s0: __m256i,
        s1: __m256i,
    ) {
        for (r, c) in c.iter().enumerate() {
            // SAFETY: `acc` holds 64 ≥ 4 · 16 elements.
            unsafe {
                _mm256_storeu_si256(
                    acc.as_mut_ptr().add(r * PANEL).cast(),
                    _mm256_sub_epi32(c[0], s0),
                );
                _mm256_storeu_si256(
                    acc.as_mut_ptr().add(r * PANEL + 8).cast(),
                    _mm256_sub_epi32(c[1], s1),
                );
            }
        }
    }
}
