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

/// `tanh` in place (classification heads: one row per sequence, so no fast path).
pub fn tanh(x: &mut [f32]) {
    x.iter_mut().for_each(|v| *v = v.tanh());
}
