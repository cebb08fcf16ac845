//! Multi-head self-attention over packed sequences.
//!
//! Sequences lie end to end in one `[rows, 3·hidden]` buffer of fused Q, K and V
//! projections. Each (sequence, head) reads its slices in place through strides, so
//! nothing is copied per head and no work is spent on other sequences' tokens or on
//! padding: a padded runtime computes `batch · longest²` scores per head, this
//! computes `Σ lengthᵢ²`.

use rayon::prelude::*;

use crate::linear::{Strided, matmul};
use crate::simd;

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
    let scale = 1.0 / (head_dim as f32).sqrt();
    blocks.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(scores, inverse_sums), (segment, block)| {
            let (n_rows, n_keys) = (segment.queries, segment.keys);
            scores.resize(n_rows * n_keys, 0.0);
            inverse_sums.resize(n_rows, 0.0);
            let base = segment.start * 3 * hidden;
            for head in 0..heads {
                let q = Strided {
                    data: &qkv[base + head * head_dim..],
                    row_stride: 3 * hidden,
                    col_stride: 1,
                };
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
        },
    );
}
