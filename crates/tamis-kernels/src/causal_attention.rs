//! Causal grouped-query attention over packed sequences that share a prefix.
//!
//! A decoder reranker reads one prompt prefix (instruction and query) followed by each
//! candidate document. Causal attention makes a token's state depend only on the tokens
//! before it, so the prefix's keys and values are the same for every candidate: they are
//! computed once, and each document's rows attend to them as if the prefix stood right
//! before the document. The result equals running every `prefix + document` sequence on
//! its own, without the repeated prefix rows.

use rayon::prelude::*;

use crate::attention::AttentionProducts;
use crate::bf16::{self, Bf16Kernel, Operands};
use crate::linear::{Strided, matmul};
use crate::simd;
use crate::tiles::Base;

/// The head layout of grouped-query attention: `heads` query heads share `kv_heads`
/// key/value heads, query head `h` reading key/value head `h / (heads / kv_heads)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeadShape {
    /// Query heads.
    pub heads: usize,
    /// Key/value heads; divides `heads`.
    pub kv_heads: usize,
    /// The width of one head (not necessarily `hidden / heads`: Qwen3 differs).
    pub head_dim: usize,
}

impl HeadShape {
    /// The width of a row of fused Q, K and V: `(heads + 2·kv_heads) · head_dim`.
    pub fn qkv_width(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }

    /// The width of the attention output: `heads · head_dim`.
    pub fn q_width(&self) -> usize {
        self.heads * self.head_dim
    }
}

/// One sequence's rows in the packed buffer, and the rows it sees before its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CausalSegment {
    /// First row.
    pub start: usize,
    /// Rows the sequence occupies.
    pub rows: usize,
    /// First row of the context: rows every row of this sequence attends to in full, as
    /// if they came right before it (a shared prefix). They must lie before `start`.
    pub context_start: usize,
    /// Rows of context (0 for a sequence that stands alone).
    pub context_rows: usize,
    /// Trailing rows whose output is computed: all `rows`, or 1 where only the last
    /// token's state is read (a reranker's last layer). Other rows of `out` are left alone.
    pub queries: usize,
}

impl CausalSegment {
    /// A sequence of `rows` rows at `start` that sees nothing before it; every row a query.
    pub fn alone(start: usize, rows: usize) -> CausalSegment {
        CausalSegment { start, rows, context_start: 0, context_rows: 0, queries: rows }
    }
}

/// Writes the causal attention output of every segment's query rows into `out`
/// (`[rows, heads·head_dim]`), given `qkv` (`[rows, qkv_width]`: the query heads, then
/// the key heads, then the value heads, each `head_dim` wide, RoPE already applied).
/// Row `i` of a segment attends to the segment's context and to its own rows `0..=i`.
/// Scores are scaled by `1/√head_dim`. (segment, head) pairs run in parallel on the
/// current rayon pool.
///
/// # Panics
/// If the shape is empty or `kv_heads` does not divide `heads`, the buffers are not
/// whole rows of the same count, or a segment or its context exceeds the buffers, has
/// more queries than rows, or a context that does not end before the segment starts.
pub fn causal_attention(
    qkv: &[f32],
    shape: HeadShape,
    segments: &[CausalSegment],
    out: &mut [f32],
) {
    causal_attention_with(AttentionProducts::F32, qkv, shape, segments, out);
}

/// [`causal_attention`] with its products in `products`: in bfloat16, the queries, keys,
/// values and softmax numerators are rounded and the pair products summed in `f32` on
/// the [`Bf16Kernel`] this CPU has (a decoder run in bf16).
///
/// # Panics
/// As [`causal_attention`].
pub fn causal_attention_with(
    products: AttentionProducts,
    qkv: &[f32],
    shape: HeadShape,
    segments: &[CausalSegment],
    out: &mut [f32],
) {
    let HeadShape { heads, kv_heads, head_dim } = shape;
    assert!(
        heads > 0 && kv_heads > 0 && head_dim > 0 && heads.is_multiple_of(kv_heads),
        "causal_attention: {heads} heads over {kv_heads} key/value heads of {head_dim}"
    );
    let width = (heads + 2 * kv_heads).checked_mul(head_dim).expect("causal_attention: width");
    let q_width = heads * head_dim;
    let rows = out.len() / q_width;
    assert!(
        out.len() == rows * q_width && rows.checked_mul(width) == Some(qkv.len()),
        "causal_attention: buffer sizes"
    );
    for s in segments {
        let end = s.start.checked_add(s.rows).filter(|&end| end <= rows);
        let context_end = s.context_start.checked_add(s.context_rows);
        assert!(
            end.is_some() && context_end.is_some_and(|end| end <= s.start),
            "causal_attention: a segment or its context exceeds the buffers"
        );
        assert!(s.queries <= s.rows, "causal_attention: more queries than rows");
    }
    let group = heads / kv_heads;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let tasks = 0..segments.len() * heads;
    // Each (segment, head) writes its own `[queries, head_dim]` block; they are
    // gathered into `out` afterwards, since blocks of one row are not separable borrows.
    let blocks: Vec<Vec<f32>> = match products {
        AttentionProducts::Bf16 => {
            let kernel = Bf16Kernel::detected();
            // One rounding pass over every row; the tasks read their heads from it.
            let mut rounded = vec![0u16; qkv.len()];
            rounded
                .par_chunks_mut(width)
                .zip(qkv.par_chunks_exact(width))
                .with_min_len(crate::PARALLEL_MIN_ELEMENTS.div_ceil(width))
                .for_each(|(dst, src)| simd::round_bf16_row(src, dst));
            let task = Bf16Task { kernel, rounded: &rounded, shape, scale };
            tasks
                .into_par_iter()
                .map_init(Bf16Scratch::default, |scratch, t| {
                    task.block(&segments[t / heads], t % heads, scratch)
                })
                .collect()
        }
        AttentionProducts::F32 => tasks
            .into_par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(scores, inverse_sums), task| {
                    let (s, head) = (&segments[task / heads], task % heads);
                    let kv = head / group;
                    let (nq, ctx, own) = (s.queries, s.context_rows, s.rows);
                    if nq == 0 {
                        return Vec::new();
                    }
                    let first = own - nq;
                    let keys = ctx + own;
                    scores.clear();
                    scores.resize(nq * keys, 0.0);
                    inverse_sums.resize(nq, 0.0);
                    let q = Strided {
                        data: &qkv[(s.start + first) * width + head * head_dim..],
                        row_stride: width,
                        col_stride: 1,
                    };
                    let key_col = q_width + kv * head_dim;
                    let value_col = q_width + kv_heads * head_dim + kv * head_dim;
                    let keys_t = |row: usize| Strided {
                        data: &qkv[row * width + key_col..],
                        row_stride: 1,
                        col_stride: width,
                    };
                    let values = |row: usize| Strided {
                        data: &qkv[row * width + value_col..],
                        row_stride: width,
                        col_stride: 1,
                    };
                    matmul(
                        nq,
                        ctx,
                        head_dim,
                        q,
                        keys_t(s.context_start),
                        scores,
                        keys,
                        false,
                        scale,
                        1,
                    );
                    let own_scores = &mut scores[ctx..];
                    matmul(
                        nq,
                        own,
                        head_dim,
                        q,
                        keys_t(s.start),
                        own_scores,
                        keys,
                        false,
                        scale,
                        1,
                    );
                    for (r, (row, inverse)) in
                        scores.chunks_exact_mut(keys).zip(inverse_sums.iter_mut()).enumerate()
                    {
                        // Row `first + r` sees the context and its own rows up to itself. The
                        // rest is zeroed: `simd::exp` clamps, so a -inf score would not give 0.
                        let visible = ctx + first + r + 1;
                        *inverse = 1.0 / simd::softmax_numerator_row(&mut row[..visible]);
                        row[visible..].fill(0.0);
                    }
                    let mut block = vec![0.0; nq * head_dim];
                    let weights = |col: usize| Strided {
                        data: &scores[col..],
                        row_stride: keys,
                        col_stride: 1,
                    };
                    matmul(
                        nq,
                        head_dim,
                        ctx,
                        weights(0),
                        values(s.context_start),
                        &mut block,
                        head_dim,
                        false,
                        1.0,
                        1,
                    );
                    matmul(
                        nq,
                        head_dim,
                        own,
                        weights(ctx),
                        values(s.start),
                        &mut block,
                        head_dim,
                        true,
                        1.0,
                        1,
                    );
                    for (row, inverse) in block.chunks_exact_mut(head_dim).zip(inverse_sums.iter())
                    {
                        row.iter_mut().for_each(|o| *o *= inverse);
                    }
                    block
                },
            )
            .collect(),
    };
    for (task, block) in blocks.iter().enumerate() {
        let (s, head) = (&segments[task / heads], task % heads);
        let first = s.start + s.rows - s.queries;
        for (r, values) in block.chunks_exact(head_dim).enumerate() {
            out[(first + r) * q_width + head * head_dim..][..head_dim].copy_from_slice(values);
        }
    }
}

/// What every (segment, head) task of a bfloat16 call shares.
struct Bf16Task<'a> {
    kernel: Bf16Kernel,
    /// The whole `qkv` buffer rounded, in its layout.
    rounded: &'a [u16],
    shape: HeadShape,
    scale: f32,
}

/// One thread's buffers for [`Bf16Task::block`], kept from task to task.
#[derive(Default)]
struct Bf16Scratch {
    /// The query rows, then the keys, then the values, gathered into contiguous rows.
    rows: Vec<u16>,
    /// Keys, then values, packed as right operands.
    packed: Vec<u16>,
    scores: Vec<f32>,
    /// The softmax numerators, rounded, rows padded for the product.
    numerators: Vec<u16>,
    inverse_sums: Vec<f32>,
}

impl Bf16Task<'_> {
    /// Segment `s`'s query rows for query head `head`, `[queries, head_dim]`.
    fn block(&self, s: &CausalSegment, head: usize, scratch: &mut Bf16Scratch) -> Vec<f32> {
        let HeadShape { heads, kv_heads, head_dim } = self.shape;
        let (nq, ctx, own) = (s.queries, s.context_rows, s.rows);
        if nq == 0 {
            return Vec::new();
        }
        let width = self.shape.qkv_width();
        let kv = head / (heads / kv_heads);
        let (first, keys) = (own - nq, ctx + own);
        let d_pad = head_dim.next_multiple_of(2);
        let keys_pad = bf16::padded_inputs(self.kernel, keys);
        let Bf16Scratch { rows, packed, scores, numerators, inverse_sums } = scratch;
        // The rows of one head's columns from `col`: the context's, then the segment's
        // own from `own_from`, each padded to `d_pad`.
        let gather = |rows: &mut Vec<u16>, col: usize, context: bool, own_from: usize| {
            rows.clear();
            let context = (s.context_start..s.context_start + ctx).filter(|_| context);
            for row in context.chain(s.start + own_from..s.start + own) {
                rows.extend_from_slice(&self.rounded[row * width + col..][..head_dim]);
                rows.resize(rows.len() + d_pad - head_dim, 0);
            }
        };
        let q_width = heads * head_dim;
        gather(rows, q_width + kv * head_dim, true, 0);
        bf16::pack_rows(rows, d_pad, keys, head_dim, packed);
        gather(rows, head * head_dim, false, first);
        let queries = Operands { data: rows, rows: nq, k_pad: d_pad, stride: d_pad };
        scores.resize(nq * keys, 0.0);
        bf16::product(self.kernel, queries, packed, keys, Base::Zero, scores, keys, 1);
        // Row `first + r` sees the context and its own rows up to itself; the rest of
        // its numerators, and the padding, are zero.
        numerators.resize(nq * keys_pad, 0);
        inverse_sums.resize(nq, 0.0);
        for (r, ((row, dst), inverse)) in scores
            .chunks_exact(keys)
            .zip(numerators.chunks_exact_mut(keys_pad))
            .zip(inverse_sums.iter_mut())
            .enumerate()
        {
            let visible = ctx + first + r + 1;
            let (seen, unseen) = dst.split_at_mut(visible);
            *inverse = 1.0 / simd::softmax_numerator_bf16_row(&row[..visible], self.scale, seen);
            unseen.fill(0);
        }
        gather(rows, q_width + kv_heads * head_dim + kv * head_dim, true, 0);
        bf16::pack_columns(rows, d_pad, keys, keys_pad, head_dim, packed);
        let weights = Operands { data: numerators, rows: nq, k_pad: keys_pad, stride: keys_pad };
        let mut block = vec![0.0; nq * head_dim];
        bf16::product(self.kernel, weights, packed, head_dim, Base::Zero, &mut block, head_dim, 1);
        for (row, inverse) in block.chunks_exact_mut(head_dim).zip(inverse_sums.iter()) {
            row.iter_mut().for_each(|o| *o *= inverse);
        }
        block
    }
}
