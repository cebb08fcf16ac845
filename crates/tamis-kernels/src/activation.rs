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

/// SwiGLU, the gated MLP activation of Llama and Qwen: for each of `rows` rows of
/// `gate_up` (`[rows, 2·width]`, the gate projection's outputs then the up projection's),
/// writes `silu(gate) · up` to the row of `out` (`[rows, width]`).
///
/// # Panics
/// If the buffers are not `rows` rows of those widths.
pub fn swiglu(gate_up: &[f32], rows: usize, width: usize, out: &mut [f32]) {
    let len = rows.checked_mul(width);
    assert!(
        len == Some(out.len()) && len.and_then(|l| l.checked_mul(2)) == Some(gate_up.len()),
        "swiglu: buffers are not {rows} rows of {width}"
    );
    if width == 0 {
        return;
    }
    let rows_in = gate_up.chunks_exact(2 * width);
    if out.len() < PARALLEL_MIN_ELEMENTS {
        rows_in.zip(out.chunks_exact_mut(width)).for_each(|(i, o)| simd::swiglu_row(i, o));
    } else {
        gate_up
            .par_chunks_exact(2 * width)
            .zip(out.par_chunks_exact_mut(width))
            .with_min_len((PARALLEL_MIN_ELEMENTS / 4 / width).max(1))
            .for_each(|(i, o)| simd::swiglu_row(i, o));
    }
}

/// An element-wise activation, for the layers that take one as a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// [`gelu_erf`].
    GeluErf,
    /// [`gelu_tanh`].
    GeluTanh,
    /// [`relu`].
    Relu,
    /// [`silu`].
    Silu,
}

impl Activation {
    fn kernel(self) -> fn(&mut [f32]) {
        match self {
            Activation::GeluErf => simd::gelu_erf_slice,
            Activation::GeluTanh => simd::gelu_tanh_slice,
            Activation::Relu => simd::relu_slice,
            Activation::Silu => simd::silu_slice,
        }
    }

    /// Applies the activation to `x` in place.
    pub fn apply(self, x: &mut [f32]) {
        apply(x, self.kernel());
    }
}

/// A gated linear unit (GeGLU with [`Activation::GeluErf`], as ModernBERT's MLP): for
/// each of `rows` rows of `input_gate` (`[rows, 2·width]`, the input half then the
/// gate half, as `chunk(2)` splits them), writes `activation(input) · gate` to the row
/// of `out` (`[rows, width]`).
///
/// # Panics
/// If the buffers are not `rows` rows of those widths.
pub fn gated(
    input_gate: &[f32],
    rows: usize,
    width: usize,
    activation: Activation,
    out: &mut [f32],
) {
    let len = rows.checked_mul(width);
    assert!(
        len == Some(out.len()) && len.and_then(|l| l.checked_mul(2)) == Some(input_gate.len()),
        "gated: buffers are not {rows} rows of {width}"
    );
    if width == 0 {
        return;
    }
    let kernel = activation.kernel();
    let row = |(i, o): (&[f32], &mut [f32])| {
        let (input, gate) = i.split_at(width);
        o.copy_from_slice(input);
        kernel(o);
        o.iter_mut().zip(gate).for_each(|(o, g)| *o *= g);
    };
    if out.len() < PARALLEL_MIN_ELEMENTS {
        input_gate.chunks_exact(2 * width).zip(out.chunks_exact_mut(width)).for_each(row);
    } else {
        input_gate
            .par_chunks_exact(2 * width)
            .zip(out.par_chunks_exact_mut(width))
            .with_min_len((PARALLEL_MIN_ELEMENTS / 4 / width).max(1))
            .for_each(row);
    }
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
