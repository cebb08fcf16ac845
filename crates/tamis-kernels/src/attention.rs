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
    let head_dim = hidden / heads;
    let shape = Shape { heads, head_dim, hidden };
    match products {
        AttentionProducts::F32 => blocks.into_par_iter().for_each_init(
            || (Vec::new(), Vec::new()),
            |(scores, inverse_sums), (segment, block)| {
                f32_heads(qkv, shape, segment, block, scores, inverse_sums)
            },
        ),
        AttentionProducts::Bf16 => {
            let kernel = Bf16Kernel::detected();
            blocks
                .into_par_iter()
                .for_each_init(Bf16Scratch::default, |scratch, (segment, block)| {
                    bf16_heads(kernel, qkv, shape, segment, block, scratch)
                })
        }
    }
}

/// The widths of one attention.
#[derive(Clone, Copy)]
struct Shape {
    heads: usize,
    head_dim: usize,
    hidden: usize,
}

/// Every head of one segment in `f32`, into `block` (the segment's rows of the output).
fn f32_heads(
    qkv: &[f32],
    shape: Shape,
    segment: &Segment,
    block: &mut [f32],
    scores: &mut Vec<f32>,
    inverse_sums: &mut Vec<f32>,
) {
    let Shape { heads, head_dim, hidden } = shape;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let (n_rows, n_keys) = (segment.queries, segment.keys);
    scores.resize(n_rows * n_keys, 0.0);
    inverse_sums.resize(n_rows, 0.0);
    let base = segment.start * 3 * hidden;
    for head in 0..heads {
        let q =
            Strided { data: &qkv[base + head * head_dim..], row_stride: 3 * hidden, col_stride: 1 };
        // Kᵀ: element (c, j) is key j's component c.
        let k_t = Strided {
            data: &qkv[base + hidden + head * head_dim..],
            row_stride: 1,
            col_stride: 3 * hidden,
        };
        matmul(n_rows, n_keys, head_dim, q, k_t, scores, n_keys, false, scale, 1);
        for (row, inverse) in scores.chunks_exact_mut(n_keys).zip(inverse_sums.iter_mut()) {
            *inverse = 1.0 / simd::softmax_numerator_row(row);
        }
        let weights = Strided { data: scores, row_stride: n_keys, col_stride: 1 };
        let v = Strided {
            data: &qkv[base + 2 * hidden + head * head_dim..],
            row_stride: 3 * hidden,
            col_stride: 1,
        };
        let out = &mut block[head * head_dim..];
        matmul(n_rows, head_dim, n_keys, weights, v, out, hidden, false, 1.0, 1);
        // The softmax's division, applied to the head_dim outputs of each row.
        for (row, inverse) in out.chunks_mut(hidden).zip(inverse_sums.iter()) {
            row[..head_dim].iter_mut().for_each(|o| *o *= inverse);
        }
    }
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
    let (d_pad, keys_pad) = (head_dim.next_multiple_of(2), n_keys.next_multiple_of(2));
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
        // Softmax numerators, rounded in turn, against the values.
        rows.clear();
        rows.resize(n_rows * keys_pad, 0);
        for ((row, inverse), dst) in scores
            .chunks_exact_mut(n_keys)
            .zip(inverse_sums.iter_mut())
            .zip(rows.chunks_exact_mut(keys_pad))
        {
            row.iter_mut().for_each(|s| *s *= scale);
            *inverse = 1.0 / simd::softmax_numerator_row(row);
            simd::round_bf16_row(row, &mut dst[..n_keys]);
        }
        let values = &rounded[2 * hidden + head * head_dim..];
        bf16::pack_columns(values, width, n_keys, head_dim, packed);
        let out = &mut block[head * head_dim..];
        let weights = Operands { data: rows, rows: n_rows, k_pad: keys_pad, stride: keys_pad };
        bf16::product(kernel, weights, packed, head_dim, Base::Zero, out, hidden, 1);
        for (row, inverse) in out.chunks_mut(hidden).zip(inverse_sums.iter()) {
            row[..head_dim].iter_mut().for_each(|o| *o *= inverse);
        }
    }
}
