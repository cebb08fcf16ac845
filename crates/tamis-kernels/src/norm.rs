//! LayerNorm and RMSNorm over the rows of a row-major buffer.

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::simd;

/// Normalizes every `width`-long row of `x` in place:
/// `(x - mean) / sqrt(var + eps) · gamma + beta`, with the biased variance, as PyTorch.
///
/// # Panics
/// If `width` is 0, `x.len()` is not a multiple of it, or `gamma`/`beta` are not `width` long.
pub fn layer_norm(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    check_rows("layer_norm", x, width);
    assert!(
        gamma.len() == width && beta.len() == width,
        "layer_norm: parameters of the wrong width"
    );
    for_rows(x, width, |r| simd::layer_norm_row(r, gamma, beta, eps));
}

/// RMS-normalizes every `width`-long row of `x` in place: `x / sqrt(mean(x²) + eps) ·
/// weight`, as the Llama/Qwen `RMSNorm` (no mean subtraction, no bias; the weight
/// multiplies the normalized value, as in transformers).
///
/// # Panics
/// If `width` is 0, `x.len()` is not a multiple of it, or `weight` is not `width` long.
pub fn rms_norm(x: &mut [f32], width: usize, weight: &[f32], eps: f32) {
    check_rows("rms_norm", x, width);
    assert_eq!(weight.len(), width, "rms_norm: weight of the wrong width");
    for_rows(x, width, |r| simd::rms_norm_row(r, weight, eps));
}

/// [`rms_norm`] of the `heads` consecutive `head_dim`-wide slices that start at column
/// `first_col` of each `row_stride`-wide row of `x`, all with the same `weight`: the
/// per-head query and key norms of Qwen3, applied in place in a fused QKV buffer.
///
/// # Panics
/// If `head_dim` is 0, the slices do not fit in a row, `x.len()` is not a multiple of
/// `row_stride`, or `weight` is not `head_dim` long.
pub fn rms_norm_heads(
    x: &mut [f32],
    row_stride: usize,
    first_col: usize,
    heads: usize,
    head_dim: usize,
    weight: &[f32],
    eps: f32,
) {
    let end = heads.checked_mul(head_dim).and_then(|w| w.checked_add(first_col));
    assert!(
        head_dim > 0 && end.is_some_and(|end| end <= row_stride),
        "rms_norm_heads: {heads} heads of {head_dim} from column {first_col} exceed rows of {row_stride}"
    );
    check_rows("rms_norm_heads", x, row_stride);
    assert_eq!(weight.len(), head_dim, "rms_norm_heads: weight of the wrong width");
    let width = heads * head_dim;
    for_rows(x, row_stride, |row| {
        row[first_col..first_col + width]
            .chunks_exact_mut(head_dim)
            .for_each(|head| simd::rms_norm_row(head, weight, eps));
    });
}

fn check_rows(name: &str, x: &[f32], width: usize) {
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "{name}: {} values in rows of {width}",
        x.len()
    );
}

/// Runs `row` on every `width`-long row, split over the current rayon pool when the
/// buffer is large.
fn for_rows(x: &mut [f32], width: usize, row: impl Fn(&mut [f32]) + Sync + Send) {
    if x.len() < PARALLEL_MIN_ELEMENTS {
        x.chunks_exact_mut(width).for_each(row);
    } else {
        x.par_chunks_exact_mut(width).with_min_len(PARALLEL_MIN_ELEMENTS / width / 4).for_each(row);
    }
}
