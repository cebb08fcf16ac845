//! What the packed low-precision products (`int8.rs`, `bf16.rs`) share: the weight
//! layout's block sizes, and splitting the output's column tiles over threads.
#![allow(unsafe_code)]

use rayon::prelude::*;

/// Columns per packed block: the widest tile (two 512-bit registers of 32-bit lanes).
pub(crate) const BLOCK: usize = 32;
/// Columns of a panel, half a block: what one 512-bit register holds.
pub(crate) const PANEL: usize = 16;
/// Bytes of one block per step (four int8 inputs, or two bf16 inputs, per column).
pub(crate) const STEP_BYTES: usize = BLOCK * 4;
/// Rows of activations each thread keeps hot while it walks the weight blocks (about;
/// rounded down to whole row tiles): 128 rows of a 4096-wide input are 512 KiB, well
/// inside a 2 MiB L2.
pub(crate) const ROW_BLOCK: usize = 128;

/// The output, shared by jobs that write disjoint columns of it.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut {
    pub(crate) ptr: *mut f32,
    pub(crate) len: usize,
}

// SAFETY: jobs only write through it at disjoint indices (see `column_jobs`).
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

/// Checks that `out` holds `rows` rows of `n` columns, `out_stride` apart, then calls
/// `run(out, tiles)` for disjoint ranges of the `⌈n / tile_cols⌉` column tiles, on up
/// to `threads` threads of the current pool.
///
/// # Safety
/// `run` may write through `out` only within the rows' columns of its own tiles.
pub(crate) unsafe fn column_jobs(
    out: &mut [f32],
    rows: usize,
    n: usize,
    out_stride: usize,
    tile_cols: usize,
    threads: usize,
    run: impl Fn(SharedOut, std::ops::Range<usize>) + Sync,
) {
    if rows == 0 || n == 0 {
        return;
    }
    assert!(
        out_stride >= n
            && crate::linear::extent(rows, n, out_stride, 1).is_some_and(|end| end <= out.len()),
        "product: out too short"
    );
    let col_tiles = n.div_ceil(tile_cols);
    let jobs = threads.clamp(1, col_tiles);
    let out = SharedOut { ptr: out.as_mut_ptr(), len: out.len() };
    let job = |job: usize| run(out, col_tiles * job / jobs..col_tiles * (job + 1) / jobs);
    if jobs == 1 {
        job(0);
    } else {
        (0..jobs).into_par_iter().for_each(job);
    }
}

/// What the products of each output row are added to. The output's old values are
/// never read, so it needs no clearing or filling first.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Base<'a> {
    /// Zero: `out = product`.
    Zero,
    /// `bias[c]`, plus `residual[r·n + c]` where given (`n` the product's columns): a
    /// dense layer's bias and residual, added in the tile so that the output is written
    /// once and never read (filling it first cost a pass over it and a read back in
    /// every tile). The sum is `(residual + bias) + product`, as a fill pass gives.
    Bias { bias: &'a [f32], residual: Option<&'a [f32]> },
}

impl Base<'_> {
    /// Checks the bias and residual against `rows × n`.
    pub(crate) fn check(&self, rows: usize, n: usize) {
        if let Base::Bias { bias, residual } = self {
            assert!(bias.len() >= n, "product: bias too short");
            if let Some(residual) = residual {
                let len = rows.checked_mul(n);
                assert!(
                    len.is_some_and(|len| len <= residual.len()),
                    "product: residual too short"
                );
            }
        }
    }

    /// The base of one tile: output columns from `c0` of rows from `r0` in a product
    /// of `n` columns (checked by [`Base::check`]).
    pub(crate) fn tile(&self, r0: usize, c0: usize, n: usize) -> TileBase {
        match *self {
            Base::Zero => TileBase::Zero,
            Base::Bias { bias, residual } => TileBase::Bias {
                bias: bias[c0..].as_ptr(),
                residual: residual.map(|res| (res[r0 * n + c0..].as_ptr(), n)),
            },
        }
    }

    /// Writes the base of row `r`, columns `c0..c0 + dst.len()`, into `dst`: what the
    /// portable builds then add their products to.
    pub(crate) fn init_row(&self, r: usize, c0: usize, n: usize, dst: &mut [f32]) {
        match self {
            Base::Zero => dst.fill(0.0),
            Base::Bias { bias, residual } => {
                let bias = &bias[c0..][..dst.len()];
                match residual {
                    Some(res) => {
                        let res = &res[r * n + c0..][..dst.len()];
                        for ((d, r), b) in dst.iter_mut().zip(res).zip(bias) {
                            *d = r + b;
                        }
                    }
                    None => dst.copy_from_slice(bias),
                }
            }
        }
    }
}

/// [`Base`] for one tile, as pointers at its first row and column.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TileBase {
    Zero,
    /// The bias at the tile's first column; the residual at its first row and column,
    /// and its row stride.
    Bias {
        bias: *const f32,
        residual: Option<(*const f32, usize)>,
    },
}

#[cfg(target_arch = "x86_64")]
impl TileBase {
    /// Asks the cache for the lines of the tile's `rows` rows that its end writes, and
    /// of the residual it reads (see [`prefetch_tile_rows`]).
    #[inline(always)]
    pub(crate) fn prefetch(self, out: *const f32, stride: usize, rows: usize) {
        prefetch_tile_rows(out, stride, rows);
        if let TileBase::Bias { residual: Some((res, res_stride)), .. } = self {
            prefetch_tile_rows(res, res_stride, rows);
        }
    }

    /// The base of the tile's row `r`, two 16-lane halves masked by `m0` and `m1`.
    ///
    /// # Safety
    /// AVX512F present; the unmasked lanes lie in the tile's row of the bias and
    /// residual.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn row_512(
        self,
        r: usize,
        m0: u16,
        m1: u16,
    ) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512) {
        use std::arch::x86_64::{_mm512_add_ps, _mm512_setzero_ps};
        // SAFETY (both): the unmasked lanes are in bounds (contract).
        match self {
            TileBase::Zero => (_mm512_setzero_ps(), _mm512_setzero_ps()),
            TileBase::Bias { bias, residual } => {
                let (b0, b1) = unsafe { halves_512(bias, m0, m1) };
                match residual {
                    Some((res, stride)) => {
                        let (r0, r1) = unsafe { halves_512(res.wrapping_add(r * stride), m0, m1) };
                        (_mm512_add_ps(r0, b0), _mm512_add_ps(r1, b1))
                    }
                    None => (b0, b1),
                }
            }
        }
    }
}

/// The 32 `f32` from `p`, as two halves masked by `m0` and `m1` (masked lanes are
/// neither read nor need be valid, so `p` may point past a row's end: `wrapping_add`).
///
/// # Safety
/// AVX512F present; the unmasked lanes are readable.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn halves_512(
    p: *const f32,
    m0: u16,
    m1: u16,
) -> (std::arch::x86_64::__m512, std::arch::x86_64::__m512) {
    use std::arch::x86_64::_mm512_maskz_loadu_ps;
    // SAFETY: the unmasked lanes are readable (contract).
    unsafe { (_mm512_maskz_loadu_ps(m0, p), _mm512_maskz_loadu_ps(m1, p.wrapping_add(PANEL))) }
}

/// A mask of the first `cols − from` lanes (at most 16) of a 16-lane register.
pub(crate) fn lanes_from(cols: usize, from: usize) -> u16 {
    let n = cols.saturating_sub(from).min(PANEL);
    ((1u32 << n) - 1) as u16
}

/// Asks the cache for the first [`BLOCK`] `f32` of `rows` rows, `stride` apart. A tile
/// touches its output (and residual) rows only after all its products; asked for at
/// its start, their misses overlap the arithmetic instead of following it (the rows lie
/// `stride` apart, a pattern the hardware prefetcher does not follow). At 4096 × 384 ×
/// 1536, when tiles still read their output back, this lifted the int8 product from
/// 49 % to 61 % of the CPU's int8 peak (Zen 4).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_tile_rows(out: *const f32, stride: usize, rows: usize) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    for r in 0..rows {
        // A prefetch never faults, so the addresses need not be valid: `wrapping_add`.
        let row = out.wrapping_add(r * stride);
        // SAFETY: SSE, the instruction's only need, is part of every x86-64 CPU.
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(row.cast());
            _mm_prefetch::<_MM_HINT_T0>(row.wrapping_add(PANEL).cast());
        }
    }
}
