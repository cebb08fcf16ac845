//! The operations of a BERT-family encoder, forward and backward.
//!
//! Conventions: matrices are row-major `f32` slices, one row per token; weights are in
//! PyTorch's layout (`[out, in]`); a forward returns (or fills) what its backward needs;
//! a backward *adds* into parameter gradients, so that micro-batches accumulate, and
//! writes (or, when asked, adds) the gradient of its input. Sizes are checked with
//! assertions: these are the internals of a model whose shapes are fixed at load time,
//! so a mismatch is a bug, not bad input.

use rayon::prelude::*;
use tamis_kernels::{Segment, Strided, matmul, softmax_rows};

#[cfg(test)]
mod tests;

/// `y = x · Wᵀ + b` for `rows` rows: `x` is `[rows, in]`, `w` `[out, in]`, `b` `[out]`,
/// `y` `[rows, out]`. `threads` > 1 splits the product over the current rayon pool.
pub fn linear_forward(x: &[f32], w: &[f32], b: &[f32], rows: usize, y: &mut [f32], threads: usize) {
    let (inputs, outputs) = linear_shape(x, w, b, rows);
    assert_eq!(y.len(), rows * outputs, "linear_forward: y is not [rows, out]");
    if outputs == 0 {
        return;
    }
    y.chunks_exact_mut(outputs).for_each(|row| row.copy_from_slice(b));
    let lhs = Strided::rows(x, inputs);
    let rhs = Strided::transposed(w, inputs);
    matmul(rows, outputs, inputs, lhs, rhs, y, outputs, true, 1.0, threads);
}

/// The backward pass of [`linear_forward`] given `dy`, the gradient of its output:
/// `dw += dyᵀ · x`, `db += Σ dy` over rows, and, when `dx` is given, `dx = dy · W`
/// (added to `dx` when its flag is true, as where a residual branch joins).
#[allow(clippy::too_many_arguments)]
pub fn linear_backward(
    x: &[f32],
    w: &[f32],
    dy: &[f32],
    rows: usize,
    dx: Option<(&mut [f32], bool)>,
    dw: &mut [f32],
    db: &mut [f32],
    threads: usize,
) {
    let (inputs, outputs) = linear_shape(x, w, db, rows);
    assert_eq!(dy.len(), rows * outputs, "linear_backward: dy is not [rows, out]");
    assert_eq!(dw.len(), w.len(), "linear_backward: dw is not [out, in]");
    if outputs == 0 || inputs == 0 {
        return;
    }
    if let Some((dx, accumulate)) = dx {
        assert_eq!(dx.len(), x.len(), "linear_backward: dx is not [rows, in]");
        let lhs = Strided::rows(dy, outputs);
        let rhs = Strided::rows(w, inputs);
        matmul(rows, inputs, outputs, lhs, rhs, dx, inputs, accumulate, 1.0, threads);
    }
    let lhs = Strided::transposed(dy, outputs);
    let rhs = Strided::rows(x, inputs);
    matmul(outputs, inputs, rows, lhs, rhs, dw, inputs, true, 1.0, threads);
    for row in dy.chunks_exact(outputs) {
        db.iter_mut().zip(row).for_each(|(d, g)| *d += g);
    }
}

/// `(in, out)` of a layer, checking `x`, `w` and the bias (or its gradient) against it.
fn linear_shape(x: &[f32], w: &[f32], bias: &[f32], rows: usize) -> (usize, usize) {
    let outputs = bias.len();
    let inputs = w.len().checked_div(outputs).unwrap_or(0);
    assert_eq!(inputs * outputs, w.len(), "linear: w is not [out, in]");
    assert_eq!(Some(x.len()), rows.checked_mul(inputs), "linear: x is not [rows, in]");
    (inputs, outputs)
}

/// What [`layer_norm_backward`] needs of a forward: the normalized rows (before the
/// gain and bias) and each row's `1/σ`.
#[derive(Debug, Clone, Default)]
pub struct NormSaved {
    /// `(x − mean) / σ`, `[rows, width]`.
    pub normalized: Vec<f32>,
    /// `1 / √(var + eps)`, one per row.
    pub inverse_std: Vec<f32>,
}

/// LayerNorm of each `gamma.len()`-wide row: `y = (x − mean)/√(var + eps) · γ + β`, with
/// the biased variance as PyTorch computes it.
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    y: &mut [f32],
) -> NormSaved {
    let width = gamma.len();
    assert!(width > 0 && beta.len() == width, "layer_norm: gamma and beta differ");
    assert!(x.len().is_multiple_of(width) && y.len() == x.len(), "layer_norm: buffer sizes");
    let rows = x.len() / width;
    let mut saved = NormSaved { normalized: vec![0.0; x.len()], inverse_std: vec![0.0; rows] };
    x.par_chunks(width)
        .zip(y.par_chunks_mut(width))
        .zip(saved.normalized.par_chunks_mut(width))
        .zip(saved.inverse_std.par_iter_mut())
        .with_min_len(64)
        .for_each(|(((x, y), normalized), inverse_std)| {
            let n = width as f32;
            let mean = x.iter().sum::<f32>() / n;
            let variance = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            *inverse_std = 1.0 / (variance + eps).sqrt();
            for (((y, z), v), (g, b)) in
                y.iter_mut().zip(normalized.iter_mut()).zip(x).zip(gamma.iter().zip(beta))
            {
                *z = (v - mean) * *inverse_std;
                *y = z.mul_add(*g, *b);
            }
        });
    saved
}

/// The backward pass of [`layer_norm_forward`]: `dgamma += Σ dy·x̂`, `dbeta += Σ dy`, and
/// `dx = (g − mean(g) − x̂·mean(g·x̂)) / σ` with `g = dy·γ`, written over `dx`.
pub fn layer_norm_backward(
    dy: &[f32],
    saved: &NormSaved,
    gamma: &[f32],
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let width = gamma.len();
    assert!(dgamma.len() == width && dbeta.len() == width, "layer_norm_backward: gradients");
    assert!(
        dy.len() == saved.normalized.len() && dx.len() == dy.len(),
        "layer_norm_backward: buffer sizes"
    );
    for (dy, normalized) in dy.chunks_exact(width).zip(saved.normalized.chunks_exact(width)) {
        for ((dg, db), (g, z)) in
            dgamma.iter_mut().zip(dbeta.iter_mut()).zip(dy.iter().zip(normalized))
        {
            *dg += g * z;
            *db += g;
        }
    }
    dy.par_chunks(width)
        .zip(dx.par_chunks_mut(width))
        .zip(saved.normalized.par_chunks(width))
        .zip(saved.inverse_std.par_iter())
        .with_min_len(64)
        .for_each(|(((dy, dx), normalized), inverse_std)| {
            let n = width as f32;
            let (mut mean_g, mut mean_gz) = (0.0f32, 0.0f32);
            for ((d, g), z) in dy.iter().zip(gamma).zip(normalized) {
                mean_g += d * g;
                mean_gz += d * g * z;
            }
            mean_g /= n;
            mean_gz /= n;
            for (((dx, d), g), z) in dx.iter_mut().zip(dy).zip(gamma).zip(normalized) {
                *dx = (d * g - mean_g - z * mean_gz) * inverse_std;
            }
        });
}

/// What [`attention_backward`] needs of a forward: the attention weights of every
/// (segment, head), `[heads, queries, keys]` per segment, end to end.
#[derive(Debug, Clone, Default)]
pub struct AttentionSaved {
    weights: Vec<f32>,
    /// The dropout mask over `weights`, when dropout was on.
    mask: Option<Vec<f32>>,
    /// Where each segment's weights start in `weights`.
    offsets: Vec<usize>,
}

/// Multi-head self-attention over packed sequences, as [`tamis_kernels::attention`]
/// computes it (every row of a segment a key; its leading `queries` rows queries, whose
/// output rows alone are written), keeping the attention weights for the backward pass.
/// `qkv` is `[rows, 3·hidden]`, `out` `[rows, hidden]`. With `dropout`, the weights are
/// dropped out before they weigh the values, as BERT's `attention_probs_dropout_prob`
/// does.
pub fn attention_forward(
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    out: &mut [f32],
    dropout: Option<Dropout>,
) -> AttentionSaved {
    let head_dim = attention_shape(qkv, segments, heads, hidden, out.len());
    let scale = 1.0 / (head_dim as f32).sqrt();
    let mut offsets = Vec::with_capacity(segments.len());
    let mut total = 0;
    for segment in segments {
        offsets.push(total);
        total += heads * segment.queries * segment.rows;
    }
    let mut weights = vec![0.0f32; total];
    let mask = dropout.map(|dropout| dropout.mask(0, total));
    let blocks = split_by_segment(out, segments, hidden);
    let mut weight_blocks = Vec::with_capacity(segments.len());
    let mut rest = weights.as_mut_slice();
    for segment in segments {
        let (block, tail) = rest.split_at_mut(heads * segment.queries * segment.rows);
        weight_blocks.push(block);
        rest = tail;
    }
    let work = segments.par_iter().zip(blocks).zip(weight_blocks).zip(&offsets);
    work.for_each_init(Vec::new, |dropped, (((segment, out), weights), &offset)| {
        let (len, queries) = (segment.rows, segment.queries);
        let base = segment.start * 3 * hidden;
        for (head, weights) in weights.chunks_exact_mut(queries * len).enumerate() {
            let column = head * head_dim;
            let q = Strided { data: &qkv[base + column..], row_stride: 3 * hidden, col_stride: 1 };
            let k_t = Strided {
                data: &qkv[base + hidden + column..],
                row_stride: 1,
                col_stride: 3 * hidden,
            };
            matmul(queries, len, head_dim, q, k_t, weights, len, false, scale, 1);
            softmax_rows(weights, len);
            let p = match &mask {
                None => Strided::rows(weights, len),
                Some(mask) => {
                    let mask = &mask[offset + head * queries * len..][..queries * len];
                    dropped.clear();
                    dropped.extend(weights.iter().zip(mask).map(|(w, m)| w * m));
                    Strided::rows(dropped, len)
                }
            };
            let v = Strided {
                data: &qkv[base + 2 * hidden + column..],
                row_stride: 3 * hidden,
                col_stride: 1,
            };
            matmul(queries, head_dim, len, p, v, &mut out[column..], hidden, false, 1.0, 1);
        }
    });
    AttentionSaved { weights, mask, offsets }
}

/// The backward pass of [`attention_forward`] given `d_out`, the gradient of its output:
/// writes the gradient of `qkv` into `d_qkv` (`[rows, 3·hidden]`; rows outside every
/// segment are left alone, and only the `queries` leading rows of `d_out` are read). Per
/// head, with `P` the weights, `M` the dropout mask (all
/// ones without dropout) and `s` the scale: `dV = (P⊙M)ᵀ·dO`, `dP = (dO·Vᵀ) ⊙ M`,
/// `dS = P ⊙ (dP − rowsum(dP ⊙ P))`, `dQ = s·dS·K`, `dK = s·dSᵀ·Q`.
pub fn attention_backward(
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    saved: &AttentionSaved,
    d_out: &[f32],
    d_qkv: &mut [f32],
) {
    let head_dim = attention_shape(qkv, segments, heads, hidden, d_out.len());
    assert_eq!(d_qkv.len(), qkv.len(), "attention_backward: d_qkv is not [rows, 3·hidden]");
    assert_eq!(saved.offsets.len(), segments.len(), "attention_backward: not this forward's");
    let scale = 1.0 / (head_dim as f32).sqrt();
    let blocks = split_by_segment(d_qkv, segments, 3 * hidden);
    segments.par_iter().zip(blocks).zip(&saved.offsets).for_each_init(
        || (Vec::new(), Vec::new()),
        |(d_scores, dropped), ((segment, d_qkv), &offset)| {
            let (len, queries) = (segment.rows, segment.queries);
            let base = segment.start * 3 * hidden;
            let d_base = segment.start * hidden;
            d_scores.resize(queries * len, 0.0);
            // Rows that are keys only get no query gradient.
            for row in d_qkv.chunks_exact_mut(3 * hidden).skip(queries) {
                row[..hidden].fill(0.0);
            }
            for head in 0..heads {
                let at = offset + head * queries * len;
                let p = &saved.weights[at..][..queries * len];
                let mask = saved.mask.as_ref().map(|mask| &mask[at..][..queries * len]);
                let weighed = match mask {
                    None => p,
                    Some(mask) => {
                        dropped.clear();
                        dropped.extend(p.iter().zip(mask).map(|(w, m)| w * m));
                        &dropped[..]
                    }
                };
                let column = head * head_dim;
                let d_o =
                    Strided { data: &d_out[d_base + column..], row_stride: hidden, col_stride: 1 };
                // dV = (P⊙M)ᵀ · dO
                let v_column = 2 * hidden + column;
                matmul(
                    len,
                    head_dim,
                    queries,
                    Strided::transposed(weighed, len),
                    d_o,
                    &mut d_qkv[v_column..],
                    3 * hidden,
                    false,
                    1.0,
                    1,
                );
                // dP = (dO · Vᵀ) ⊙ M
                let v_t = Strided {
                    data: &qkv[base + v_column..],
                    row_stride: 1,
                    col_stride: 3 * hidden,
                };
                matmul(queries, len, head_dim, d_o, v_t, d_scores, len, false, 1.0, 1);
                if let Some(mask) = mask {
                    apply_mask(d_scores, mask);
                }
                // dS = P ⊙ (dP − rowsum(dP ⊙ P))
                for (d_row, p_row) in d_scores.chunks_exact_mut(len).zip(p.chunks_exact(len)) {
                    let dot: f32 = d_row.iter().zip(p_row).map(|(d, p)| d * p).sum();
                    d_row.iter_mut().zip(p_row).for_each(|(d, p)| *d = p * (*d - dot));
                }
                let d_s = Strided::rows(d_scores, len);
                // dQ = s · dS · K
                let k = Strided {
                    data: &qkv[base + hidden + column..],
                    row_stride: 3 * hidden,
                    col_stride: 1,
                };
                matmul(
                    queries,
                    head_dim,
                    len,
                    d_s,
                    k,
                    &mut d_qkv[column..],
                    3 * hidden,
                    false,
                    scale,
                    1,
                );
                // dK = s · dSᵀ · Q
                let q =
                    Strided { data: &qkv[base + column..], row_stride: 3 * hidden, col_stride: 1 };
                let d_s_t = Strided::transposed(d_scores, len);
                matmul(
                    len,
                    head_dim,
                    queries,
                    d_s_t,
                    q,
                    &mut d_qkv[hidden + column..],
                    3 * hidden,
                    false,
                    scale,
                    1,
                );
            }
        },
    );
}

/// The head width, after checking the buffers against the segments. Segments must be
/// in order, not overlap, have every row a key and at least one leading query.
fn attention_shape(
    qkv: &[f32],
    segments: &[Segment],
    heads: usize,
    hidden: usize,
    out_len: usize,
) -> usize {
    assert!(
        heads > 0 && hidden > 0 && hidden.is_multiple_of(heads),
        "attention: {hidden} is not {heads} heads wide"
    );
    let rows = out_len / hidden;
    assert!(out_len == rows * hidden && qkv.len() == rows * 3 * hidden, "attention: buffer sizes");
    let mut next_row = 0;
    for segment in segments {
        assert!(
            segment.start >= next_row && segment.start + segment.rows <= rows,
            "attention: segments overlap, are out of order or exceed the buffers"
        );
        assert!(
            segment.rows > 0
                && segment.keys == segment.rows
                && (1..=segment.rows).contains(&segment.queries),
            "attention: training needs every row of a segment as a key, and leading queries"
        );
        next_row = segment.start + segment.rows;
    }
    hidden / heads
}

/// One mutable block of `width`-wide rows per segment (segments checked in order).
fn split_by_segment<'a>(
    buffer: &'a mut [f32],
    segments: &[Segment],
    width: usize,
) -> Vec<&'a mut [f32]> {
    let mut blocks = Vec::with_capacity(segments.len());
    let mut rest = buffer;
    let mut next_row = 0;
    for segment in segments {
        let skip = (segment.start - next_row) * width;
        let (block, tail) = std::mem::take(&mut rest)[skip..].split_at_mut(segment.rows * width);
        blocks.push(block);
        rest = tail;
        next_row = segment.start + segment.rows;
    }
    blocks
}

/// `y = tanh(x)` in place (the BERT pooler).
pub fn tanh_forward(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.tanh());
}

/// The backward pass of [`tanh_forward`] from its *output* `y`: `grad *= 1 − y²`.
pub fn tanh_backward(y: &[f32], grad: &mut [f32]) {
    assert_eq!(y.len(), grad.len(), "tanh_backward: buffer sizes");
    grad.iter_mut().zip(y).for_each(|(g, y)| *g *= 1.0 - y * y);
}

/// Adds row `rows[i]` of `table` (`width` wide) into row `i` of `out`: an embedding lookup.
pub fn embedding_forward(table: &[f32], width: usize, rows: &[u32], out: &mut [f32]) {
    assert_eq!(out.len(), rows.len() * width, "embedding: out is not [tokens, width]");
    for (out, &row) in out.chunks_exact_mut(width).zip(rows) {
        let row = &table[row as usize * width..][..width];
        out.iter_mut().zip(row).for_each(|(o, v)| *o += v);
    }
}

/// The backward pass of [`embedding_forward`]: adds row `i` of `grad` into row `rows[i]`
/// of `d_table`.
pub fn embedding_backward(grad: &[f32], width: usize, rows: &[u32], d_table: &mut [f32]) {
    assert_eq!(grad.len(), rows.len() * width, "embedding_backward: grad is not [tokens, width]");
    for (grad, &row) in grad.chunks_exact(width).zip(rows) {
        let row = &mut d_table[row as usize * width..][..width];
        row.iter_mut().zip(grad).for_each(|(d, g)| *d += g);
    }
}

/// Dropout masks from a counter-based generator: the mask value of element `index` under
/// `key` is a pure function of the two, so masks are drawn in parallel, in any order,
/// and a resumed run draws the same ones. A key names one dropout site of one step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dropout {
    /// Probability of dropping an element.
    pub p: f32,
    /// The site's key (see [`Dropout::key`]).
    pub key: u64,
}

impl Dropout {
    /// The key of dropout site `site` of step `step` in the run seeded with `seed`.
    pub fn key(seed: u64, step: u64, site: u64) -> u64 {
        splitmix(splitmix(splitmix(seed) ^ step) ^ site)
    }

    /// The mask value of element `index`: 0 (dropped) or `1/(1 − p)` (kept, rescaled).
    pub fn value(&self, index: u64) -> f32 {
        // The top 24 bits as a uniform draw in [0, 1): exact in f32.
        let uniform = (splitmix(self.key ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)) >> 40) as f32
            / (1u64 << 24) as f32;
        if uniform < self.p { 0.0 } else { 1.0 / (1.0 - self.p) }
    }

    /// The mask of `len` elements from `offset` on. Each value depends on its index
    /// alone, so the chunks are drawn in parallel (the draws were a serial 4 % of a step).
    pub fn mask(&self, offset: u64, len: usize) -> Vec<f32> {
        const CHUNK: usize = 1 << 14;
        let mut mask = vec![0.0; len];
        mask.par_chunks_mut(CHUNK).enumerate().for_each(|(n, chunk)| {
            let start = offset + (n * CHUNK) as u64;
            for (i, m) in chunk.iter_mut().enumerate() {
                *m = self.value(start + i as u64);
            }
        });
        mask
    }
}

/// SplitMix64's finalizer: a bijective 64-bit mix.
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Multiplies `x` by `mask` in place: a dropout's forward, and its backward.
pub fn apply_mask(x: &mut [f32], mask: &[f32]) {
    assert_eq!(x.len(), mask.len(), "apply_mask: buffer sizes");
    x.iter_mut().zip(mask).for_each(|(v, m)| *v *= m);
}
