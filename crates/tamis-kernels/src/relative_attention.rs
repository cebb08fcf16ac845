//! DeBERTa's disentangled self-attention over packed sequences: the content scores
//! `q·k` plus, per pair of tokens, a content→position term (`c2p`: the query against
//! the relative embedding of their distance through the key projection) and a
//! position→content term (`p2c`: the key against it through the query projection).
//!
//! Distances are bucketed (linear near, logarithmic far), so each term is one small
//! GEMM against the `2·span` projected embeddings followed by a gather per pair, not a
//! product per pair.

use rayon::prelude::*;

use crate::linear::{Strided, matmul};
use crate::simd;

/// One layer's relative positions, as its disentangled attention reads them.
#[derive(Debug, Clone, Copy)]
pub struct RelativeBias<'a> {
    /// `[2·span, hidden]`: the relative embeddings through the key projection, for the
    /// content→position term (`c2p`); `None` when the model does without it.
    pub position_keys: Option<&'a [f32]>,
    /// `[2·span, hidden]`: through the query projection, for the position→content term
    /// (`p2c`); `None` when the model does without it.
    pub position_queries: Option<&'a [f32]>,
    /// Half the rows of the projected embeddings: a distance's bucket `b` reads row
    /// `clamp(b + span, 0, 2·span − 1)`.
    pub span: usize,
    /// `buckets[d + reach]` is the bucket of the distance `d = i − j` (query row minus key
    /// row), for `|d| ≤ reach`, where `reach = (buckets.len() − 1) / 2`.
    pub buckets: &'a [i32],
}

impl RelativeBias<'_> {
    /// The scores' divisor factor: 1 for the content term and 1 for each position term.
    fn scale_factor(&self) -> usize {
        1 + usize::from(self.position_keys.is_some()) + usize::from(self.position_queries.is_some())
    }

    /// The table row each distance reads, indexed like `buckets`: for c2p the row of
    /// `bucket(d)`, for p2c (indexed by `d = j − i`) that of `−bucket(d)`, as
    /// transformers gathers them.
    fn rows(&self) -> (Vec<u32>, Vec<u32>) {
        let last = 2 * self.span as i64 - 1;
        let row = |bucket: i64| (bucket + self.span as i64).clamp(0, last) as u32;
        let c2p = self.buckets.iter().map(|&b| row(i64::from(b))).collect();
        let p2c = self.buckets.iter().map(|&b| row(-i64::from(b))).collect();
        (c2p, p2c)
    }
}

/// Per distance, the table row each term reads (see [`RelativeBias::rows`]).
struct DistanceRows {
    c2p: Vec<u32>,
    p2c: Vec<u32>,
    reach: usize,
}

/// Writes DeBERTa's attention output of every segment into `out` (`[rows, hidden]`),
/// given `qkv` (`[rows, 3·hidden]`, as [`crate::attention()`] reads it) and `bias`.
/// Scores are divided by `√(head_dim · (1 + terms))`, as transformers divides them.
/// Segments run in parallel on the current rayon pool.
///
/// # Panics
/// As [`crate::attention()`], and if a projected embedding is not `[2·span, hidden]`,
/// `span` is 0, `buckets` has an even length, or a segment is longer than its reach.
pub fn disentangled_attention(
    qkv: &[f32],
    segments: &[crate::Segment],
    heads: usize,
    hidden: usize,
    bias: &RelativeBias<'_>,
    out: &mut [f32],
) {
    assert!(bias.span > 0, "disentangled_attention: span 0");
    for table in [bias.position_keys, bias.position_queries].into_iter().flatten() {
        assert_eq!(
            Some(table.len()),
            (2 * bias.span).checked_mul(hidden),
            "disentangled_attention: a projected embedding is not [2·span, hidden]"
        );
    }
    assert!(bias.buckets.len() % 2 == 1, "disentangled_attention: buckets of an even length");
    let reach = bias.buckets.len() / 2;
    assert!(
        segments.iter().all(|s| s.rows <= reach + 1),
        "disentangled_attention: a segment is longer than the bucket table reaches"
    );
    let blocks = crate::attention::segment_blocks(qkv, segments, heads, hidden, out);
    let head_dim = hidden / heads;
    let (c2p, p2c) = bias.rows();
    let rows = DistanceRows { c2p, p2c, reach };
    blocks.into_par_iter().for_each_init(Scratch::default, |scratch, (segment, block)| {
        segment_heads(qkv, heads, head_dim, bias, &rows, segment, block, scratch)
    });
}

/// One thread's buffers, kept across segments.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    c2p: Vec<f32>,
    p2c: Vec<f32>,
    inverse_sums: Vec<f32>,
}

/// Queries per block, so that a long segment's scores stay within about 4 MiB.
const SCORE_BUDGET: usize = 1 << 20;

#[allow(clippy::too_many_arguments, reason = "one segment's view of the call's arguments")]
fn segment_heads(
    qkv: &[f32],
    heads: usize,
    head_dim: usize,
    bias: &RelativeBias<'_>,
    distances: &DistanceRows,
    segment: &crate::Segment,
    block: &mut [f32],
    scratch: &mut Scratch,
) {
    let hidden = heads * head_dim;
    let width = 3 * hidden;
    let inverse_scale = 1.0 / ((head_dim * bias.scale_factor()) as f32).sqrt();
    let (n_rows, n_keys, positions) = (segment.queries, segment.keys, 2 * bias.span);
    let Scratch { scores, c2p, p2c, inverse_sums } = scratch;
    let base = segment.start * width;
    let block_rows = (SCORE_BUDGET / n_keys.max(positions)).max(1);
    for head in 0..heads {
        let column = head * head_dim;
        let keys =
            Strided { data: &qkv[base + hidden + column..], row_stride: width, col_stride: 1 };
        // The keys against every position's query projection: `[keys, 2·span]`.
        if let Some(position_queries) = bias.position_queries {
            p2c.resize(n_keys * positions, 0.0);
            let table_t =
                Strided { data: &position_queries[column..], row_stride: 1, col_stride: hidden };
            let alpha = inverse_scale;
            matmul(n_keys, positions, head_dim, keys, table_t, p2c, positions, false, alpha, 1);
        }
        for first in (0..n_rows).step_by(block_rows) {
            let rows = block_rows.min(n_rows - first);
            let row_base = base + first * width;
            let queries =
                Strided { data: &qkv[row_base + column..], row_stride: width, col_stride: 1 };
            let keys_t =
                Strided { data: &qkv[base + hidden + column..], row_stride: 1, col_stride: width };
            scores.resize(rows * n_keys, 0.0);
            matmul(
                rows,
                n_keys,
                head_dim,
                queries,
                keys_t,
                scores,
                n_keys,
                false,
                inverse_scale,
                1,
            );
            if let Some(position_keys) = bias.position_keys {
                c2p.resize(rows * positions, 0.0);
                let table_t =
                    Strided { data: &position_keys[column..], row_stride: 1, col_stride: hidden };
                let alpha = inverse_scale;
                matmul(
                    rows, positions, head_dim, queries, table_t, c2p, positions, false, alpha, 1,
                );
            }
            inverse_sums.resize(rows, 0.0);
            for (r, (row, inverse)) in
                scores.chunks_exact_mut(n_keys).zip(inverse_sums.iter_mut()).enumerate()
            {
                // Distances i − j for j = 0.. run down from i; j − i up from −i. Both slices
                // fit: a segment is at most `reach + 1` rows (checked above).
                let (i, reach) = (first + r, distances.reach);
                if bias.position_keys.is_some() {
                    let c2p_row = &c2p[r * positions..][..positions];
                    let at = &distances.c2p[reach + i + 1 - n_keys..=reach + i];
                    for (score, &at) in row.iter_mut().zip(at.iter().rev()) {
                        *score += c2p_row[at as usize];
                    }
                }
                if bias.position_queries.is_some() {
                    let at = &distances.p2c[reach - i..][..n_keys];
                    for ((score, &at), p2c_row) in
                        row.iter_mut().zip(at).zip(p2c.chunks_exact(positions))
                    {
                        *score += p2c_row[at as usize];
                    }
                }
                *inverse = 1.0 / simd::softmax_numerator_row(row);
            }
            let weights = Strided { data: scores, row_stride: n_keys, col_stride: 1 };
            let values = Strided {
                data: &qkv[base + 2 * hidden + column..],
                row_stride: width,
                col_stride: 1,
            };
            let out = &mut block[first * hidden + column..];
            matmul(rows, head_dim, n_keys, weights, values, out, hidden, false, 1.0, 1);
            for (row, inverse) in out.chunks_mut(hidden).zip(inverse_sums.iter()) {
                row[..head_dim].iter_mut().for_each(|o| *o *= inverse);
            }
        }
    }
}
