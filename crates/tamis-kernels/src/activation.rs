//! Element-wise activations over whole buffers, split across the current rayon pool
//! when the buffer is large.

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::simd;

fn apply(x: &mut [f32], kernel: fn(&mut [f32])) {
    if x.len() < PARALLEL_MIN_ELEMENTS {
        kernel(x);
    } else {
        x.par_chunks_mut(PARALLEL_MIN_ELEMENTS / 4).for_each(kernel);
    }
}

/// GELU with the exact error function (`hidden_act = "gelu"` in BERT configs), in place.
/// Within 1e-6 of `x/2 · (1 + erf(x/√2))` computed in f64.
pub fn gelu_erf(x: &mut [f32]) {
    apply(x, simd::gelu_erf_slice);
}

/// The backward pass of [`gelu_erf`]: multiplies `grad`, the gradient with respect to
/// GELU's output, by the derivative at the input `x`, giving the gradient with respect
/// to `x`. Within 1e-6 (relative) of the derivative computed in f64.
///
/// # Panics
/// If `x` and `grad` differ in length.
pub fn gelu_erf_backward(x: &[f32], grad: &mut [f32]) {
    assert_eq!(x.len(), grad.len(), "gelu_erf_backward: x and grad differ in length");
    if x.len() < PARALLEL_MIN_ELEMENTS {
        simd::gelu_erf_backward_slice(x, grad);
    } else {
        let chunk = PARALLEL_MIN_ELEMENTS / 4;
        x.par_chunks(chunk)
            .zip(grad.par_chunks_mut(chunk))
            .for_each(|(x, grad)| simd::gelu_erf_backward_slice(x, grad));
    }
}

/// GELU with the tanh approximation (`gelu_new`, `gelu_pytorch_tanh`), in place.
pub fn gelu_tanh(x: &mut [f32]) {
    apply(x, simd::gelu_tanh_slice);
}

/// ReLU in place.
pub fn relu(x: &mut [f32]) {
    apply(x, simd::relu_slice);
}

/// SiLU (swish) in place.
pub fn silu(x: &mut [f32]) {
    apply(x, simd::silu_slice);
}

/// Softmax of each `width`-long row of `x`, in place.
///
/// # Panics
/// If `width` is 0 or does not divide `x.len()`.
pub fn softmax_rows(x: &mut [f32], width: usize) {
    assert!(width > 0 && x.len().is_multiple_of(width), "softmax_rows: rows of {width}");
    for row in x.chunks_exact_mut(width) {
        let inverse = 1.0 / simd::softmax_numerator_row(row);
        row.iter_mut().for_each(|v| *v *= inverse);
    }
}

/// `tanh` in place (classification heads: one row per sequence, so no fast path).
pub fn tanh(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.tanh());
}
