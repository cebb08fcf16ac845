//! Dense layers on the `gemm` crate, the one place this crate calls `unsafe` GEMM code.
#![allow(unsafe_code)]

use std::cell::RefCell;

use rayon::prelude::*;

use crate::PARALLEL_MIN_ELEMENTS;
use crate::bf16::{self, Bf16Kernel, Bf16Rows, Bf16Weight};
use crate::int8::{self, Int8Kernel, Int8Rows, Int8Weight};
use crate::tiles::Base;

#[cfg(test)]
mod tests;

/// A dense layer `y = x · Wᵀ + b`, with `W` in `f32` stored transposed (`[in, out]`,
/// row-major) so the product streams it row by row, or kept in bfloat16 (half the
/// memory) and widened to `f32` for each product.
#[derive(Debug, Clone)]
pub struct Linear {
    in_features: usize,
    out_features: usize,
    weight: Weight,
    bias: Vec<f32>,
}

#[derive(Debug, Clone)]
enum Weight {
    /// `[in, out]`, row-major.
    F32(Vec<f32>),
    /// bfloat16 bit patterns in PyTorch's `[out, in]` layout. Widening is exact (the
    /// bits shifted up), so products equal those of the `f32` weights bit for bit.
    Bf16(Vec<u16>),
    /// Quantized per output channel; activations are quantized per row and group of 32
    /// inputs at each call.
    Int8(Int8Weight),
    /// Rounded to bfloat16; activations are rounded at each call.
    Bf16Dot(Bf16Weight),
}

/// How a [`Linear`] holds its weights, and so how its products are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// `f32` weights, `f32` products.
    F32,
    /// bfloat16 weights widened to `f32` for each product: the same results as `F32`.
    Bf16,
    /// `i8` weights (per output channel scales) times `i8` activations (a scale per row
    /// and 32 inputs), summed exactly in `i32` per group: an approximation of the `f32`
    /// product.
    Int8,
    /// bfloat16 weights times bfloat16-rounded activations, the pair products summed
    /// in `f32` (`vdpbf16ps`): an approximation of the `f32` product.
    Bf16Dot,
    /// Weights and activations each split into two bfloat16 parts, three products
    /// summed in `f32`: the `f32` product within about 2⁻¹⁶ of its magnitude.
    Bf16x3,
}

thread_local! {
    /// The widened `f32` copy of the bfloat16 weight being multiplied: one buffer per
    /// thread, reused from layer to layer.
    static WIDENED: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };

    /// The activations of the int8 product being computed, quantized.
    static QUANTIZED: RefCell<Int8Rows> = RefCell::new(Int8Rows::default());

    /// The activations of the bfloat16 product being computed, rounded.
    static ROUNDED: RefCell<Bf16Rows> = RefCell::new(Bf16Rows::default());
}

/// Most activation rows a low-precision product converts at once, so that its thread's
/// buffer holds at most this many: a 4096-row batch of bf16x3's split activations took
/// 38 MiB per pool thread at 1536 inputs, and 100 MiB at an LLM's 8192 rows of 3072. The
/// products walk the weights once per row block of [`crate::tiles::ROW_BLOCK`] rows
/// anyway, so no weight is read more often.
const SCRATCH_ROWS: usize = 1024;

/// `(first row, rows)` of each group of at most [`SCRATCH_ROWS`] rows.
fn row_chunks(rows: usize) -> impl Iterator<Item = (usize, usize)> {
    (0..rows).step_by(SCRATCH_ROWS).map(move |first| (first, SCRATCH_ROWS.min(rows - first)))
}

/// Runs `f` on this thread's buffer in `key`, taken out for the call rather than borrowed.
///
/// The products inside `f` run on the pool, and a pool thread waiting for them steals
/// other jobs: another caller's forward pass on the same model (several Python threads,
/// say) then reaches this same thread's buffer. A borrow held across the wait would panic
/// ("already borrowed"); taken out, the nested call finds an empty buffer and grows its
/// own, and the buffer put back last is kept.
fn with_scratch<T: Default, R>(
    key: &'static std::thread::LocalKey<RefCell<T>>,
    f: impl FnOnce(&mut T) -> R,
) -> R {
    let mut scratch = key.take();
    let result = f(&mut scratch);
    key.set(scratch);
    result
}

/// `dst[i] = f32(src[i])` for bfloat16 bit patterns, split over the current pool when long.
fn widen(src: &[u16], dst: &mut [f32]) {
    let kernel = |(d, s): (&mut [f32], &[u16])| {
        d.iter_mut().zip(s).for_each(|(d, &s)| *d = f32::from_bits(u32::from(s) << 16));
    };
    let chunk = PARALLEL_MIN_ELEMENTS;
    if src.len() < 4 * chunk {
        kernel((dst, src));
    } else {
        dst.par_chunks_mut(chunk).zip(src.par_chunks(chunk)).for_each(kernel);
    }
}

impl Linear {
    /// Builds the layer from PyTorch's layout: `weight` is `[out_features, in_features]`.
    /// A missing bias is zero.
    ///
    /// # Panics
    /// If the slices' lengths do not match the sizes (or `out_features · in_features`
    /// overflows).
    pub fn from_torch(
        weight: &[f32],
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
    ) -> Linear {
        check_weight_size(weight.len(), out_features, in_features);
        let mut weight_t = vec![0.0; weight.len()];
        // `max(1)`: with no inputs the weight is empty, and `chunks_exact` refuses 0.
        for (o, row) in weight.chunks_exact(in_features.max(1)).enumerate() {
            for (i, w) in row.iter().enumerate() {
                weight_t[i * out_features + o] = *w;
            }
        }
        let bias = bias_or_zero(bias, out_features);
        Linear { in_features, out_features, weight: Weight::F32(weight_t), bias }
    }

    /// Builds the layer from bfloat16 weights (bit patterns) in PyTorch's layout,
    /// `[out_features, in_features]`, kept as they are: each product widens them to
    /// `f32` first, which is exact, so the results equal those of [`Linear::from_torch`]
    /// on the widened values.
    ///
    /// # Panics
    /// As [`Linear::from_torch`].
    pub fn from_torch_bf16(
        weight: Vec<u16>,
        bias: Option<&[f32]>,
        out_features: usize,
        in_features: usize,
    ) -> Linear {
        check_weight_size(weight.len(), out_features, in_features);
        let bias = bias_or_zero(bias, out_features);
        Linear { in_features, out_features, weight: Weight::Bf16(weight), bias }
    }

    /// Whether the weights are kept in bfloat16.
    pub fn is_bf16(&self) -> bool {
        matches!(self.weight, Weight::Bf16(_))
    }

    /// How the weights are held.
    pub fn format(&self) -> WeightFormat {
        match &self.weight {
            Weight::F32(_) => WeightFormat::F32,
            Weight::Bf16(_) => WeightFormat::Bf16,
            Weight::Int8(_) => WeightFormat::Int8,
            Weight::Bf16Dot(w) if w.is_split() => WeightFormat::Bf16x3,
            Weight::Bf16Dot(_) => WeightFormat::Bf16Dot,
        }
    }

    /// The layer with its weights quantized to int8, one scale per output channel
    /// (`max|w| / 127`); the bias stays `f32`. Its products quantize each input row the
    /// same way, one scale per 32 inputs, and run on the fastest [`Int8Kernel`] this
    /// CPU has. An int8 layer is returned as it is.
    pub fn quantized_int8(&self) -> Linear {
        let (k, n) = (self.in_features, self.out_features);
        let weight = match &self.weight {
            Weight::F32(weight_t) => Int8Weight::quantize(n, k, |o, row| {
                row.iter_mut().enumerate().for_each(|(i, w)| *w = weight_t[i * n + o]);
            }),
            Weight::Bf16(weight) => Int8Weight::quantize(n, k, |o, row| {
                let src = &weight[o * k..][..k];
                row.iter_mut().zip(src).for_each(|(w, &b)| *w = f32::from_bits(u32::from(b) << 16));
            }),
            Weight::Int8(w) => w.clone(),
            Weight::Bf16Dot(w) => Int8Weight::quantize(n, k, |o, row| {
                row.iter_mut().enumerate().for_each(|(i, v)| *v = w.get(o, i));
            }),
        };
        self.with_weight(Weight::Int8(weight))
    }

    /// The layer with its weights rounded to bfloat16 (nearest, ties to even; bfloat16
    /// weights are kept exactly); the bias stays `f32`. Its products round each input
    /// the same way and sum the pair products in `f32` on the [`Bf16Kernel`] this CPU
    /// has: AMX, AVX512-BF16, or else a portable build far slower than `f32` (check
    /// [`Bf16Kernel::detected`] before choosing this). A bf16 layer is returned as it is.
    pub fn quantized_bf16(&self) -> Linear {
        let (k, n) = (self.in_features, self.out_features);
        let weight = match &self.weight {
            Weight::Bf16Dot(w) if !w.is_split() => w.clone(),
            _ => Bf16Weight::round(n, k, |o, row| {
                row.iter_mut().enumerate().for_each(|(i, w)| *w = self.weight_at(o, i));
            }),
        };
        self.with_weight(Weight::Bf16Dot(weight))
    }

    /// The layer with its products in three bfloat16 parts (see [`WeightFormat::Bf16x3`]
    /// and the `bf16` module): the `f32` results within about 2⁻¹⁶, on the kernels of
    /// [`Linear::quantized_bf16`] at three times its work (two for bfloat16 weights),
    /// each weight part stored once. Faster than `f32` only on AMX. A layer split
    /// already is returned as it is.
    pub fn quantized_bf16x3(&self) -> Linear {
        let (k, n) = (self.in_features, self.out_features);
        let weight = match &self.weight {
            Weight::Bf16Dot(w) if w.is_split() => w.clone(),
            _ => Bf16Weight::split(n, k, |o, row| {
                row.iter_mut().enumerate().for_each(|(i, w)| *w = self.weight_at(o, i));
            }),
        };
        self.with_weight(Weight::Bf16Dot(weight))
    }

    /// The bias, and the residual's rows from `first` on (`[rows, out]`).
    fn base_from<'a>(&'a self, first: usize, residual: Option<&'a [f32]>) -> Base<'a> {
        let residual = residual.map(|res| &res[first * self.out_features..]);
        Base::Bias { bias: &self.bias, residual }
    }

    /// This layer with `weight` in place of its own: the bias copied, the old weight
    /// left to the caller (cloning the whole layer would copy it too, for nothing).
    fn with_weight(&self, weight: Weight) -> Linear {
        let (in_features, out_features) = (self.in_features, self.out_features);
        Linear { in_features, out_features, weight, bias: self.bias.clone() }
    }

    /// The weight `(out, in)` as the products use it (dequantized for int8).
    pub fn weight_at(&self, out: usize, input: usize) -> f32 {
        assert!(out < self.out_features && input < self.in_features, "Linear: index out of range");
        match &self.weight {
            Weight::F32(weight_t) => weight_t[input * self.out_features + out],
            Weight::Bf16(weight) => {
                f32::from_bits(u32::from(weight[out * self.in_features + input]) << 16)
            }
            Weight::Int8(w) => w.dequantized(out, input),
            Weight::Bf16Dot(w) => w.get(out, input),
        }
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `out = x · Wᵀ + b (+ residual)` for `rows` rows; `x` is `[rows, in]`, `out` and
    /// `residual` are `[rows, out]`. The bias and residual are added in the product's
    /// tiles (int8, bf16) or written first and the product accumulated onto them
    /// (`f32`), so the sum costs no extra pass. `threads` > 1
    /// splits the product over the current rayon pool.
    ///
    /// # Panics
    /// If a buffer's length does not match `rows`.
    pub fn forward(
        &self,
        x: &[f32],
        rows: usize,
        residual: Option<&[f32]>,
        out: &mut [f32],
        threads: usize,
    ) {
        let n = self.out_features;
        let len = rows.checked_mul(n);
        assert_eq!(len, Some(out.len()), "Linear: output is not [rows, out]");
        if let Some(res) = residual {
            assert_eq!(len, Some(res.len()), "Linear: residual is not [rows, out]");
        }
        self.forward_strided(x, rows, residual, out, n, threads);
    }

    /// [`Linear::forward`] into rows `out_stride` apart: row `r` is
    /// `out[r * out_stride..][..out_features]`, and whatever lies between rows is left
    /// alone (e.g. writing K and V beside Q in a fused `[rows, 3h]` buffer).
    ///
    /// # Panics
    /// If `out_stride < out_features` or a buffer is too short for `rows`.
    pub fn forward_strided(
        &self,
        x: &[f32],
        rows: usize,
        residual: Option<&[f32]>,
        out: &mut [f32],
        out_stride: usize,
        threads: usize,
    ) {
        let (k, n) = (self.in_features, self.out_features);
        assert_eq!(rows.checked_mul(k), Some(x.len()), "Linear: input is not [rows, in]");
        assert!(out_stride >= n, "Linear: output rows overlap");
        assert!(
            extent(rows, n, out_stride, 1).is_some_and(|end| end <= out.len()),
            "Linear: output too short"
        );
        if let Some(res) = residual {
            assert!(
                rows.checked_mul(n).is_some_and(|len| len <= res.len()),
                "Linear: residual is not [rows, out]"
            );
        }
        if rows == 0 || n == 0 {
            // Nothing to write (and `chunks_mut` refuses a stride of 0).
            return;
        }
        let lhs = Strided { data: x, row_stride: k, col_stride: 1 };
        // The packed products add the bias and residual in their tiles; `matmul`
        // accumulates onto an output that holds them first.
        let base = Base::Bias { bias: &self.bias, residual };
        match &self.weight {
            Weight::F32(weight_t) => {
                fill_base(base, rows, n, out, out_stride);
                let rhs = Strided { data: weight_t, row_stride: n, col_stride: 1 };
                matmul(rows, n, k, lhs, rhs, out, out_stride, true, 1.0, threads);
            }
            Weight::Bf16(weight) => with_scratch(&WIDENED, |widened| {
                fill_base(base, rows, n, out, out_stride);
                widened.resize(weight.len(), 0.0);
                widen(weight, widened);
                // `[out, in]` read as its transpose: element (i, o) is `widened[o·k + i]`.
                let rhs = Strided::transposed(widened, k);
                matmul(rows, n, k, lhs, rhs, out, out_stride, true, 1.0, threads);
            }),
            Weight::Int8(weight) => with_scratch(&QUANTIZED, |quantized| {
                let kernel = Int8Kernel::detected();
                for (first, chunk) in row_chunks(rows) {
                    quantized.fill(&x[first * k..(first + chunk) * k], chunk, k, weight.k_pad());
                    let base = self.base_from(first, residual);
                    let out = &mut out[first * out_stride..];
                    int8::weight_product(kernel, quantized, weight, base, out, out_stride, threads);
                }
            }),
            Weight::Bf16Dot(weight) => with_scratch(&ROUNDED, |rounded| {
                let kernel = Bf16Kernel::detected();
                for (first, chunk) in row_chunks(rows) {
                    weight.fill(rounded, &x[first * k..(first + chunk) * k], chunk);
                    let base = self.base_from(first, residual);
                    let out = &mut out[first * out_stride..];
                    bf16::weight_product(kernel, rounded, weight, base, out, out_stride, threads);
                }
            }),
        }
    }

    /// The layer restricted to output features `range` (e.g. the Q, or the K and V,
    /// part of a fused QKV projection).
    ///
    /// # Panics
    /// If the range exceeds the outputs.
    pub fn outputs(&self, range: std::ops::Range<usize>) -> Linear {
        assert!(range.end <= self.out_features && range.start <= range.end, "Linear: bad range");
        let n = range.len();
        let weight = match &self.weight {
            Weight::F32(all) => {
                // At most `in · out`, the length of `all`: no overflow.
                let mut weight_t = Vec::with_capacity(self.in_features * n);
                // `max(1)`: with no outputs `all` is empty, and `chunks_exact` refuses 0.
                for row in all.chunks_exact(self.out_features.max(1)) {
                    weight_t.extend_from_slice(&row[range.clone()]);
                }
                Weight::F32(weight_t)
            }
            Weight::Bf16(all) => {
                let k = self.in_features;
                Weight::Bf16(all[range.start * k..range.end * k].to_vec())
            }
            Weight::Int8(all) => Weight::Int8(all.outputs(range.clone())),
            Weight::Bf16Dot(all) => Weight::Bf16Dot(all.outputs(range.clone())),
        };
        Linear {
            in_features: self.in_features,
            out_features: n,
            weight,
            bias: self.bias[range].to_vec(),
        }
    }
}

/// Writes `base` into the `rows` rows of `out` (`n` columns, `stride` apart): what
/// `matmul` then accumulates onto.
fn fill_base(base: Base, rows: usize, n: usize, out: &mut [f32], stride: usize) {
    for (r, row) in out.chunks_mut(stride).take(rows).enumerate() {
        base.init_row(r, 0, n, &mut row[..n]);
    }
}

fn check_weight_size(len: usize, out_features: usize, in_features: usize) {
    assert_eq!(out_features.checked_mul(in_features), Some(len), "Linear: weight size");
}

fn bias_or_zero(bias: Option<&[f32]>, out_features: usize) -> Vec<f32> {
    match bias {
        Some(b) => {
            assert_eq!(b.len(), out_features, "Linear: bias size");
            b.to_vec()
        }
        None => vec![0.0; out_features],
    }
}

/// FLOPs of an `[m, k] · [k, n]` product (one multiply and one add per term).
pub fn matmul_flops(m: usize, k: usize, n: usize) -> f64 {
    2.0 * m as f64 * k as f64 * n as f64
}

/// A read-only matrix view with element `(r, c)` at `data[r * row_stride + c * col_stride]`:
/// a transpose is the same data with the strides swapped.
#[derive(Debug, Clone, Copy)]
pub struct Strided<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// The distance between consecutive rows.
    pub row_stride: usize,
    /// The distance between consecutive columns.
    pub col_stride: usize,
}

impl<'a> Strided<'a> {
    /// A row-major matrix with `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Strided<'a> {
        Strided { data, row_stride: cols, col_stride: 1 }
    }

    /// The transpose of a row-major matrix with `cols` columns: element `(r, c)` is
    /// `data[c * cols + r]`.
    pub fn transposed(data: &'a [f32], cols: usize) -> Strided<'a> {
        Strided { data, row_stride: 1, col_stride: cols }
    }

    /// Whether every element of a `rows × cols` matrix lies inside `data`.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        extent(rows, cols, self.row_stride, self.col_stride)
            .is_some_and(|end| end <= self.data.len())
    }
}

/// One past the furthest element of a `rows × cols` matrix with these strides (0 when it
/// is empty), or `None` when that overflows `usize`. Every bound this crate checks
/// before gemm goes through here: computed with wrapping arithmetic, as it once was,
/// a stride of 2⁶³ times two rows wrapped to 0 and passed the check in release builds.
pub(crate) fn extent(
    rows: usize,
    cols: usize,
    row_stride: usize,
    col_stride: usize,
) -> Option<usize> {
    if rows == 0 || cols == 0 {
        return Some(0);
    }
    (rows - 1)
        .checked_mul(row_stride)?
        .checked_add((cols - 1).checked_mul(col_stride)?)?
        .checked_add(1)
}

/// `dst = (accumulate ? dst : 0) + scale · lhs · rhs`, with `lhs` `[m, k]`, `rhs`
/// `[k, n]` and `dst` `[m, n]` row-major with row stride `dst_row_stride`; `threads` > 1
/// splits the product over the current rayon pool. Transposed operands are views with
/// swapped strides ([`Strided::transposed`]), so no copy is ever made.
///
/// # Panics
/// If a view does not cover its matrix, `dst`'s rows would overlap, or a stride does not
/// fit in `isize` (gemm's stride type; no slice is that long, so such a stride can only
/// be a bug, even along a single row where it is never used).
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    m: usize,
    n: usize,
    k: usize,
    lhs: Strided<'_>,
    rhs: Strided<'_>,
    dst: &mut [f32],
    dst_row_stride: usize,
    accumulate: bool,
    scale: f32,
    threads: usize,
) {
    assert!(lhs.covers(m, k) && rhs.covers(k, n), "matmul: an operand is out of bounds");
    assert!(
        extent(m, n, dst_row_stride, 1).is_some_and(|end| end <= dst.len()),
        "matmul: dst too short"
    );
    assert!(m <= 1 || dst_row_stride >= n, "matmul: dst rows overlap");
    let stride = |s: usize| isize::try_from(s).expect("matmul: a stride does not fit in isize");
    let strides = [lhs.row_stride, lhs.col_stride, rhs.row_stride, rhs.col_stride, dst_row_stride]
        .map(stride);
    let [lhs_rs, lhs_cs, rhs_rs, rhs_cs, dst_rs] = strides;
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            // `m · dst_row_stride` is bounded by the extent checked above.
            (0..m).for_each(|r| dst[r * dst_row_stride..][..n].fill(0.0));
        }
        return;
    }
    let parallelism =
        if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None };
    // SAFETY: the asserts above bound every element gemm reads (`lhs`, `rhs`) or writes
    // (`dst`, through an exclusive borrow) within its slice, with checked arithmetic;
    // the strides are non-negative and were converted to `isize` without wrapping.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs,
            accumulate,
            lhs.data.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.data.as_ptr(),
            rhs_cs,
            rhs_rs,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}
