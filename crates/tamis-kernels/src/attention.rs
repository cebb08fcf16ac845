//! Multi-head self-attention over packed sequences.
//!
//! Sequences lie end to end in one `[rows, 3·hidden]` buffer of fused Q, K and V
//! projections. Each (sequence, head) reads its slices in place through strides, so
//! nothing is copied per head and no work is spent on other sequences' tokens or on
//! padding: a padded runtime computes `batch · longest²` scores per head, this
//! computes `Σ lengthᵢ²`.

use rayon::prelude::*;

use crate::bf16::{self, Bf16Kernel, Operands};
use crate::linear::{Strided, matmul};
use crate::simd;
use crate::tiles::Base;

/// The precision of attention's two products (scores, and the weighted sum of values);
/// the softmax is `f32` in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AttentionProducts {
    /// `f32` products.
    #[default]
    F32,
    /// Operands rounded to bfloat16 (queries, keys, values and the softmax
    /// numerators; the `1/√head_dim` scale is applied to the scores), pair products
    /// summed in `f32` on the [`Bf16Kernel`] this CPU has: what a bf16 model runs where
    /// `vdpbf16ps` is fast.
    Bf16,
}

/// Which keys of its sequence each query attends to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Reach {
    /// Every key.
    #[default]
    Global,
    /// The keys at most this many rows away on either side (ModernBERT's local layers:
    /// a sliding window of `2·w + 1` keys, `|i − j| ≤ w`). A padding row whose window
    /// holds no key attends to the last key instead (its output is never read).
    Local(usize),
}

/// Scores held at once per thread: queries are taken in blocks of
/// `SCORE_BUDGET / keys` rows, so an 8k-token sequence needs 4 MiB of scores, not 256.
const SCORE_BUDGET: usize = 1 << 20;

/// Queries per block under [`Reach::Local`]: at least the window's half width, so that
/// at most two thirds of a block's scores fall outside the window.
const LOCAL_BLOCK_MIN: usize = 32;

/// One sequence's rows in the packed buffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// First row.
    pub start: usize,
    /// Rows the sequence occupies.
    pub rows: usize,
    /// Leading rows that are real tokens and may be attended to; the rest (padding, when
    /// a caller runs padded batches) are never keys.
    pub keys: usize,
    /// Leading rows whose output is computed: all `rows`, or 1 where only the first
    /// token's state is read (a classifier's last layer). Other rows of `out` are left alone.
    pub queries: usize,
}

impl Segment {
    /// A sequence of `len` real tokens at `start`, every row a key and a query.
    pub fn packed(start: usize, len: usize) -> Segment {
        Segment { start, rows: len, keys: len, queries: len }
    }
}

/// Writes the attention output of every segment into `out` (`[rows, hidden]`), given
/// `qkv` (`[rows, 3·hidden]`: queries, then keys, then values, each `heads` blocks of
/// `hidden / heads`). Scores are scaled by `1/√head_dim`. Segments run in parallel on
/// the current rayon pool.
///
/// # Panics
/// If segments overlap, are out of order, exceed the buffers, have no keys or more
/// queries than rows, or `hidden` is 0 or not a multiple of `heads`.
pub fn attention(qkv: &[f32], segments: &[Segment], heads: usize, hidden: usize, out: &mut [f32]) {
    attention_with(AttentionProducts::F32, qkv, segments, heads, hidden, out);
}

/// [`attention`] with its products in `products`.
///
/// # Panics
/// As [`attention`].
pub fn attention_with(
    products: AttentionProducts,
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    out: &mut [f32],
) {
    attention_reaching(products, Reach::Global, qkv, segments, heads, hidden, out);
}

/// [`attention_with`] where each query attends to the keys `reach` says. Local reach
/// runs on `f32` products whatever `products` says (its blocks are small and bf16's
/// packing would not pay).
///
/// # Panics
/// As [`attention`].
pub fn attention_reaching(
    products: AttentionProducts,
    reach: Reach,
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    out: &mut [f32],
) {
    let blocks = segment_blocks(qkv, segments, heads, hidden, out);
    let head_dim = hidden / heads;
    let shape = Shape { heads, head_dim, hidden };
    match (products, reach) {
        (AttentionProducts::F32, _) | (_, Reach::Local(_)) => blocks.into_par_iter().for_each_init(
            || (Vec::new(), Vec::new()),
            |(scores, inverse_sums), (segment, block)| {
                f32_heads(qkv, shape, reach, segment, block, scores, inverse_sums)
            },
        ),
        (AttentionProducts::Bf16, Reach::Global) => {
            let kernel = Bf16Kernel::detected();
            blocks
                .into_par_iter()
                .for_each_init(Bf16Scratch::default, |scratch, (segment, block)| {
                    bf16_heads(kernel, qkv, shape, segment, block, scratch)
                })
        }
    }
}

/// `out` cut into one block of rows per segment, after checking the layout: segments in
/// order, within the buffers, with at least one key.
///
/// # Panics
/// As [`attention`].
pub(crate) fn segment_blocks<'s, 'o>(
    qkv: &[f32],
    segments: &'s [Segment],
    heads: usize,
    hidden: usize,
    out: &'o mut [f32],
) -> Vec<(&'s Segment, &'o mut [f32])> {
    assert!(
        heads > 0 && hidden > 0 && hidden.is_multiple_of(heads),
        "attention: {hidden} is not {heads} heads wide"
    );
    let rows = out.len() / hidden;
    // `3 · hidden` is a stride below, so it must not wrap even when there are no rows.
    let qkv_len = hidden.checked_mul(3).and_then(|width| width.checked_mul(rows));
    assert!(out.len() == rows * hidden && qkv_len == Some(qkv.len()), "attention: buffer sizes");
    // Cut `out` into one mutable block per segment, checking the layout on the way. The
    // layout is checked in rows first, with checked arithmetic; a product of rows and
    // widths is then at most `qkv.len()` and cannot wrap.
    let mut blocks = Vec::with_capacity(segments.len());
    let mut rest = out;
    let mut next_row = 0;
    for segment in segments {
        assert!(segment.start >= next_row, "attention: segments overlap or are out of order");
        let end = segment.start.checked_add(segment.rows).filter(|&end| end <= rows);
        assert!(end.is_some(), "attention: a segment exceeds the buffers");
        assert!(
            segment.keys >= 1 && segment.keys <= segment.rows && segment.queries <= segment.rows,
            "attention: bad key or query count"
        );
        assert!(
            segment.queries.checked_mul(segment.keys).is_some(),
            "attention: a segment's scores overflow"
        );
        let skip = (segment.start - next_row) * hidden;
        let (block, tail) = std::mem::take(&mut rest)[skip..].split_at_mut(segment.rows * hidden);
        blocks.push((segment, block));
        rest = tail;
        next_row = segment.start + segment.rows;
    }
    blocks
}

/// The widths of one attention.
#[derive(Clone, Copy)]
struct Shape {
    heads: usize,
    head_dim: usize,
    hidden: usize,
}

/// Every head of one segment in `f32`, into `block` (the segment's rows of the output),
/// a block of queries at a time against the keys their reach can touch.
fn f32_heads(
    qkv: &[f32],
    shape: Shape,
    reach: Reach,
    segment: &Segment,
    block: &mut [f32],
    scores: &mut Vec<f32>,
    inverse_sums: &mut Vec<f32>,
) {
    let Shape { heads, head_dim, hidden } = shape;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (n_rows, n_keys) = (segment.queries, segment.keys);
    let block_rows = match reach {
        Reach::Global => (SCORE_BUDGET / n_keys).max(1),
        Reach::Local(w) => w.max(LOCAL_BLOCK_MIN),
    };
    let base = segment.start * 3 * hidden;
    for first in (0..n_rows).step_by(block_rows) {
        let rows = block_rows.min(n_rows - first);
        let keys = match reach {
            Reach::Global => 0..n_keys,
            Reach::Local(w) => {
                let start = first.saturating_sub(w).min(n_keys - 1);
                start..(first + rows).saturating_add(w).clamp(start + 1, n_keys)
            }
        };
        let width = keys.len();
        scores.resize(rows * width, 0.0);
        inverse_sums.resize(rows, 0.0);
        let row_base = base + first * 3 * hidden;
        let key_base = base + keys.start * 3 * hidden;
        for head in 0..heads {
            let q = Strided {
                data: &qkv[row_base + head * head_dim..],
                row_stride: 3 * hidden,
                col_stride: 1,
            };
            // Kᵀ: element (c, j) is key j's component c.
            let k_t = Strided {
                data: &qkv[key_base + hidden + head * head_dim..],
                row_stride: 1,
                col_stride: 3 * hidden,
            };
            matmul(rows, width, head_dim, q, k_t, scores, width, false, scale, 1);
            for (r, (row, inverse)) in
                scores.chunks_exact_mut(width).zip(inverse_sums.iter_mut()).enumerate()
            {
                *inverse = match reach {
                    Reach::Global => 1.0 / simd::softmax_numerator_row(row),
                    Reach::Local(w) => 1.0 / local_softmax_numerator(row, first + r, &keys, w),
                };
            }
            let weights = Strided { data: scores, row_stride: width, col_stride: 1 };
            let v = Strided {
                data: &qkv[key_base + 2 * hidden + head * head_dim..],
                row_stride: 3 * hidden,
                col_stride: 1,
            };
            let out = &mut block[first * hidden + head * head_dim..];
            matmul(rows, head_dim, width, weights, v, out, hidden, false, 1.0, 1);
            // The softmax's division, applied to the head_dim outputs of each row.
            for (row, inverse) in out.chunks_mut(hidden).zip(inverse_sums.iter()) {
                row[..head_dim].iter_mut().for_each(|o| *o *= inverse);
            }
        }
    }
}

/// The softmax numerators of query `row`'s scores against `keys` (one score per key)
/// within `w` rows of it, the others set to 0; returns their sum. A row with no key
/// in reach (padding far past the last key) keeps every score.
fn local_softmax_numerator(
    scores: &mut [f32],
    row: usize,
    keys: &std::ops::Range<usize>,
    w: usize,
) -> f32 {
    let lo = row.saturating_sub(w).max(keys.start);
    let hi = row.saturating_add(w).saturating_add(1).min(keys.end);
    if lo >= hi {
        return simd::softmax_numerator_row(scores);
    }
    let (lo, hi) = (lo - keys.start, hi - keys.start);
    scores[..lo].fill(0.0);
    scores[hi..].fill(0.0);
    simd::softmax_numerator_row(&mut scores[lo..hi])
}

/// One thread's buffers for [`bf16_heads`], kept across segments.
#[derive(Default)]
struct Bf16Scratch {
    scores: Vec<f32>,
    inverse_sums: Vec<f32>,
    /// The segment's Q, K and V rounded, in their `[rows, 3·hidden]` layout.
    qkv: Vec<u16>,
    /// Queries of an odd head width, padded; then the softmax numerators, rounded.
    rows: Vec<u16>,
    /// Keys, then values, packed as right operands.
    packed: Vec<u16>,
}

/// Every head of one segment with bfloat16 products, into `block`.
fn bf16_heads(
    kernel: Bf16Kernel,
    qkv: &[f32],
    shape: Shape,
    segment: &Segment,
    block: &mut [f32],
    scratch: &mut Bf16Scratch,
) {
    let Shape { heads, head_dim, hidden } = shape;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (n_rows, n_keys) = (segment.queries, segment.keys);
    let (d_pad, keys_pad) = (head_dim.next_multiple_of(2), bf16::padded_inputs(kernel, n_keys));
    let Bf16Scratch { scores, inverse_sums, qkv: rounded, rows, packed } = scratch;
    inverse_sums.resize(n_rows, 0.0);
    // One rounding pass over the rows that are read (queries and keys are leading rows).
    let width = 3 * hidden;
    let used = n_rows.max(n_keys);
    rounded.resize(used * width, 0);
    simd::round_bf16_row(&qkv[segment.start * width..][..used * width], rounded);
    for head in 0..heads {
        // Scores: the queries against the keys, whose rows are the columns.
        let queries = match head_dim.is_multiple_of(2) {
            true => Operands {
                data: &rounded[head * head_dim..],
                rows: n_rows,
                k_pad: d_pad,
                stride: width,
            },
            false => {
                rows.clear();
                rows.resize(n_rows * d_pad, 0);
                for (r, dst) in rows.chunks_exact_mut(d_pad).enumerate() {
                    dst[..head_dim]
                        .copy_from_slice(&rounded[r * width + head * head_dim..][..head_dim]);
                }
                Operands { data: rows, rows: n_rows, k_pad: d_pad, stride: d_pad }
            }
        };
        bf16::pack_rows(&rounded[hidden + head * head_dim..], width, n_keys, head_dim, packed);
        scores.resize(n_rows * n_keys, 0.0);
        bf16::product(kernel, queries, packed, n_keys, Base::Zero, scores, n_keys, 1);
        // Softmax numerators, scaled and rounded in one pass, against the values. Each
        // row is written whole, its padding column included, so `rows` needs no clearing.
        rows.resize(n_rows * keys_pad, 0);
        for ((row, inverse), dst) in scores
            .chunks_exact(n_keys)
            .zip(inverse_sums.iter_mut())
            .zip(rows.chunks_exact_mut(keys_pad))
        {
            let (numerators, padding) = dst.split_at_mut(n_keys);
            *inverse = 1.0 / simd::softmax_numerator_bf16_row(row, scale, numerators);
            padding.fill(0);
        }
        let values = &rounded[2 * hidden + head * head_dim..];
        bf16::pack_columns(values, width, n_keys, keys_pad, head_dim, packed);
        let out = &mut block[head * head_dim..];
        let weights = Operands { data: rows, rows: n_rows, k_pad: keys_pad, stride: keys_pad };
        bf16::product(kernel, weights, packed, head_dim, Base::Zero, out, hidden, 1);
        for (row, inverse) in out.chunks_mut(hidden).zip(inverse_sums.iter()) {
            row[..head_dim].iter_mut().for_each(|o| *o *= inverse);
        }
    }
}
