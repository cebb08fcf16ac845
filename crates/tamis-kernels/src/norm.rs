//! LayerNorm over the rows of a row-major buffer.

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::simd;

/// Normalizes every `width`-long row of `x` in place:
/// `(x - mean) / sqrt(var + eps) · gamma + beta`, with the biased variance, as PyTorch.
///
/// # Panics
/// If `width` is 0, `x.len()` is not a multiple of it, or `gamma`/`beta` are not `width` long.
pub fn layer_norm(x: &mut [f32], width: usize, gamma: &[f32], beta: &[f32], eps: f32) {
    assert!(
        width > 0 && x.len().is_multiple_of(width),
        "layer_norm: {} values in rows of {width}",
        x.len()
    );
    assert!(
        gamma.len() == width && beta.len() == width,
        "layer_norm: parameters of the wrong width"
    );
    let row = |r: &mut [f32]| simd::layer_norm_row(r, gamma, beta, eps);
    if x.len() < PARALLEL_MIN_ELEMENTS {
        x.chunks_exact_mut(width).for_each(row);
    } else {
        x.par_chunks_exact_mut(width).with_min_len(PARALLEL_MIN_ELEMENTS / width / 4).for_each(row);
    }
}
