//! Row kernels compiled three times, for AVX-512, for AVX2+FMA and for the baseline
//! target, and picked at run time: LLVM vectorizes the plain loops below to 16 or 8
//! lanes only when it may use those instructions.
//!
//! The loops avoid what defeats vectorization: reductions keep 16 independent partial
//! sums, and `exp`/`erf` are branch-free polynomials rather than libm calls. Their
//! `mul_add`s become FMAs in the vector builds (and a slow software FMA in the baseline
//! build, which only CPUs from before 2013 run).
#![allow(unsafe_code)]

use crate::bf16::{from_bf16, to_bf16};
use crate::int8::SCALE_GROUP;

/// The instruction sets a kernel may be built for, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Level {
    Portable,
    Avx2,
    Avx512,
}

impl Level {
    /// The best level this CPU runs.
    pub(crate) fn detected() -> Level {
        #[cfg(target_arch = "x86_64")]
        {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            if avx2 && std::is_x86_feature_detected!("avx512f") {
                return Level::Avx512;
            }
            if avx2 {
                return Level::Avx2;
            }
        }
        Level::Portable
    }

    /// The levels this CPU runs, lowest first; the others are named on stderr, or fail
    /// the test when `TAMIS_REQUIRE_KERNELS` lists them (see
    /// [`crate::test_support::runs`]).
    #[cfg(test)]
    pub(crate) fn runnable() -> Vec<Level> {
        [Level::Portable, Level::Avx2, Level::Avx512]
            .into_iter()
            .filter(|&level| {
                let name = match level {
                    Level::Portable => "portable",
                    Level::Avx2 => "avx2",
                    Level::Avx512 => "avx512",
                };
                crate::test_support::runs(name, level <= Level::detected())
            })
            .collect()
    }
}

/// Defines `pub(crate) fn $name`, which runs `$body` built for the best [`Level`] the
/// CPU has, and `$name::at(level, ..)`, which runs a given level's build (tests check
/// every build against the portable one).
macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident : $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        pub(crate) mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body

            /// Runs the build for `level`, or for the best level below it the CPU has.
            pub(crate) fn at(level: Level, $($arg: $ty),*) $(-> $ret)? {
                #[cfg(target_arch = "x86_64")]
                {
                    #[target_feature(enable = "avx512f,avx2,fma")]
                    fn avx512($($arg: $ty),*) $(-> $ret)? {
                        portable($($arg),*)
                    }
                    #[target_feature(enable = "avx2,fma")]
                    fn avx2($($arg: $ty),*) $(-> $ret)? {
                        portable($($arg),*)
                    }
                    match level.min(Level::detected()) {
                        // SAFETY: these builds differ from `portable` only by the target
                        // features they are compiled for, which `Level::detected` found.
                        Level::Avx512 => return unsafe { avx512($($arg),*) },
                        Level::Avx2 => return unsafe { avx2($($arg),*) },
                        Level::Portable => {}
                    }
                }
                let _ = level;
                portable($($arg),*)
            }
        }

        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            $name::at(Level::detected(), $($arg),*)
        }
    };
}

const LANES: usize = 16;

/// Sum of `x` with 16 partial sums (vectorizable, unlike a sequential fold).
#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a += v;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

/// Sum of `(x - mean)²` with 16 partial sums.
#[inline(always)]
fn sum_squared_deviation(x: &[f32], mean: f32) -> f32 {
    let mut acc = [0.0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            let d = v - mean;
            *a += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>()
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, v) in acc.iter_mut().zip(chunk) {
            *a = a.max(*v);
        }
    }
    acc.iter().chain(tail).fold(f32::NEG_INFINITY, |m, v| m.max(*v))
}

/// `e^x` to about 2 ulp (Cephes' `expf` polynomial); inputs below -87.3 give ~1e-38
/// instead of 0, which no softmax can tell apart.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2²³: adding it rounds to an integer in the low bits
    let x = x.clamp(-87.3, 88.3);
    let shifted = x.mul_add(std::f32::consts::LOG2_E, ROUND);
    let n = shifted - ROUND;
    // ln 2 split in two so that n·ln2 is subtracted without rounding error.
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_4, x));
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let y = (p * r).mul_add(r, r + 1.0);
    // 2ⁿ from the integer in `shifted`'s mantissa: (n + 127) << 23.
    let bits = shifted.to_bits().wrapping_sub(ROUND.to_bits()).wrapping_add(127) << 23;
    y * f32::from_bits(bits)
}

/// `erf(x)` as a rational function of odd and even polynomials on [-4, 4] (the
/// approximation Eigen and XLA use for `float`), a few ulp from the exact value; ±1
/// beyond 3.9, where the exact value rounds to it (so GELU's far tail is exactly 0).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    if x.abs() >= 3.9 {
        return 1.0f32.copysign(x);
    }
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p.mul_add(x2, 2.770_681_4e-8);
    p = p.mul_add(x2, -2.101_024e-6);
    p = p.mul_add(x2, -5.692_506_4e-5);
    p = p.mul_add(x2, -7.349_906_3e-4);
    p = p.mul_add(x2, -2.9546e-3);
    p = p.mul_add(x2, -1.609_603_3e-2);
    let mut q = -1.456_607_2e-5_f32;
    q = q.mul_add(x2, -2.133_740_6e-4);
    q = q.mul_add(x2, -1.682_827e-3);
    q = q.mul_add(x2, -7.373_329e-3);
    q = q.mul_add(x2, -1.426_474e-2);
    x * p / q
}

dispatch! {
    /// Normalizes one row in place: `(x - mean) / sqrt(var + eps) · gamma + beta`.
    fn layer_norm_row(x: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let n = x.len() as f32;
        let mean = sum(x) / n;
        let inv = 1.0 / (sum_squared_deviation(x, mean) / n + eps).sqrt();
        for ((v, g), b) in x.iter_mut().zip(gamma).zip(beta) {
            *v = (*v - mean) * inv * g + b;
        }
    }
}

dispatch! {
    /// RMS-normalizes one row in place: `x / sqrt(mean(x²) + eps) · weight`.
    fn rms_norm_row(x: &mut [f32], weight: &[f32], eps: f32) {
        let n = x.len() as f32;
        let inv = 1.0 / (sum_squared_deviation(x, 0.0) / n + eps).sqrt();
        for (v, w) in x.iter_mut().zip(weight) {
            *v = w * (*v * inv);
        }
    }
}

dispatch! {
    /// The numerator of a softmax, in place: `e^(x - max)`; returns the sum, by which
    /// the caller divides later (attention divides its 32-wide output rows instead of
    /// the much longer score rows).
    fn softmax_numerator_row(x: &mut [f32]) -> f32 {
        let m = max(x);
        let mut acc = [0.0f32; LANES];
        let mut chunks = x.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (a, v) in acc.iter_mut().zip(chunk.iter_mut()) {
                *v = exp(*v - m);
                *a += *v;
            }
        }
        let mut total = acc.iter().sum::<f32>();
        for v in chunks.into_remainder() {
            *v = exp(*v - m);
            total += *v;
        }
        total
    }
}

dispatch! {
    /// [`softmax_numerator_row()`] of `x` scaled by `scale` (> 0), written rounded to
    /// bfloat16 into `out` (`x`'s length) in the same pass; returns the `f32` sum. The
    /// values are those of scaling `x` in place first: rounding is monotonic, so the
    /// largest scaled value is the largest value scaled.
    fn softmax_numerator_bf16_row(x: &[f32], scale: f32, out: &mut [u16]) -> f32 {
        assert_eq!(x.len(), out.len(), "softmax: the rounded row is not the row's length");
        let m = max(x) * scale;
        let mut acc = [0.0f32; LANES];
        let mut chunks = x.chunks_exact(LANES);
        let mut outs = out.chunks_exact_mut(LANES);
        for (chunk, rounded) in (&mut chunks).zip(&mut outs) {
            for ((a, v), o) in acc.iter_mut().zip(chunk).zip(rounded) {
                let e = exp(*v * scale - m);
                *a += e;
                *o = to_bf16(e);
            }
        }
        let mut total = acc.iter().sum::<f32>();
        for (v, o) in chunks.remainder().iter().zip(outs.into_remainder()) {
            let e = exp(*v * scale - m);
            total += e;
            *o = to_bf16(e);
        }
        total
    }
}

dispatch! {
    /// GELU with the exact erf, in place: `x/2 · (1 + erf(x/√2))`.
    fn gelu_erf_slice(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
}

dispatch! {
    /// The gradient through exact-erf GELU, in place: `grad · (Φ(x) + x·φ(x))`, with
    /// `Φ(x) = (1 + erf(x/√2))/2` and `φ` the standard normal density.
    fn gelu_erf_backward_slice(x: &[f32], grad: &mut [f32]) {
        const INV_SQRT_2PI: f32 = 0.398_942_3;
        for (g, &v) in grad.iter_mut().zip(x) {
            let cdf = 0.5 * (1.0 + erf(v * std::f32::consts::FRAC_1_SQRT_2));
            let pdf = INV_SQRT_2PI * exp(-0.5 * v * v);
            *g *= v.mul_add(pdf, cdf);
        }
    }
}

dispatch! {
    /// GELU with the tanh approximation, in place, `tanh(y) = 1 - 2/(e^{2y} + 1)`.
    fn gelu_tanh_slice(x: &mut [f32]) {
        const SQRT_2_OVER_PI: f32 = 0.797_884_6;
        for v in x.iter_mut() {
            let y = SQRT_2_OVER_PI * (*v + 0.044_715 * *v * *v * *v);
            let t = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
            *v = 0.5 * *v * (1.0 + t);
        }
    }
}

dispatch! {
    /// SiLU in place: `x · sigmoid(x)`.
    fn silu_slice(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v /= 1.0 + exp(-*v);
        }
    }
}

dispatch! {
    /// SwiGLU of one row: `out = silu(gate) · up`, where `gate_up` is `gate` then `up`,
    /// each `out.len()` wide.
    fn swiglu_row(gate_up: &[f32], out: &mut [f32]) {
        let (gate, up) = gate_up.split_at(out.len());
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g / (1.0 + exp(-g)) * u;
        }
    }
}

dispatch! {
    /// ReLU in place.
    fn relu_slice(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = v.max(0.0);
        }
    }
}

dispatch! {
    /// Quantizes one row symmetrically, 127 levels a side, into `out` as `q + 128`
    /// (the unsigned form `vpdpbusd` reads); returns the scale `max|x| / 127`. A zero
    /// row has scale 0; a row holding a NaN or an infinity gets scale NaN (and zeros),
    /// so that every output it touches is NaN, as in the `f32` product.
    fn quantize_row_u8(x: &[f32], out: &mut [u8]) -> f32 {
        let mut peak = [0.0f32; LANES];
        let mut total = [0.0f32; LANES];
        let chunks = x.chunks_exact(LANES);
        let tail = chunks.remainder();
        for chunk in chunks {
            for ((p, t), v) in peak.iter_mut().zip(&mut total).zip(chunk) {
                *p = p.max(v.abs());
                *t += v.abs();
            }
        }
        let peak = peak.iter().chain(tail).fold(0.0f32, |m, v| m.max(v.abs()));
        // NaN reaches the sum even where `max` skips it.
        let total = total.iter().sum::<f32>() + tail.iter().map(|v| v.abs()).sum::<f32>();
        if peak == 0.0 || total.is_nan() || peak.is_infinite() {
            out.fill(128);
            return if peak == 0.0 && !total.is_nan() { 0.0 } else { f32::NAN };
        }
        let inv = 127.0 / peak;
        // 1.5 · 2²³ + 128: adding it rounds to the nearest integer (ties to even, in one
        // rounding) and leaves `q + 128` in the low mantissa bits. A float-to-integer
        // cast would be exact too, but Rust's saturating casts are not vectorized.
        const SHIFT: f32 = 12_582_912.0 + 128.0;
        for (o, v) in out.iter_mut().zip(x) {
            // |v| ≤ peak, so `v · inv` lies in [-127, 127]; the clamp only guards the
            // last ulp of `inv`.
            *o = ((v * inv).clamp(-127.0, 127.0) + SHIFT).to_bits() as u8;
        }
        peak / 127.0
    }
}

/// Quantizes one row per group of [`SCALE_GROUP`] inputs, symmetrically with 127
/// levels a side, into `out` (`k_pad` long, the padding zero); writes each group's
/// scale `max|x| / 127` and shift `128 · Σ q`, and returns the row's correction
/// `Σ scale · shift` (see [`crate::int8`]). A zero group has scale 0; a group
/// holding a NaN or an infinity gets scale NaN (and zeros), so that every output
/// the row touches is NaN, as in the `f32` product.
///
/// The AVX-512 build is written with intrinsics (LLVM leaves the per-group reductions
/// scalar), doing the same operations, so every build gives the same bits.
pub(crate) fn quantize_groups_i8(
    x: &[f32],
    out: &mut [i8],
    scales: &mut [f32],
    shifts: &mut [i32],
) -> f32 {
    quantize_groups_i8::at(Level::detected(), x, out, scales, shifts)
}

pub(crate) mod quantize_groups_i8 {
    use super::*;

    /// Runs the build for `level`, or for the best level below it the CPU has.
    pub(crate) fn at(
        level: Level,
        x: &[f32],
        out: &mut [i8],
        scales: &mut [f32],
        shifts: &mut [i32],
    ) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if level.min(Level::detected()) == Level::Avx512 {
            // SAFETY: `Level::detected` found AVX512F.
            return unsafe { x86::quantize_groups_i8(x, out, scales, shifts) };
        }
        quantize_groups_i8_loops::at(level, x, out, scales, shifts)
    }
}

dispatch! {
    /// [`quantize_groups_i8()`] in plain loops (the portable and AVX2 builds; called
    /// through `at`).
    #[allow(dead_code)]
    fn quantize_groups_i8_loops(x: &[f32], out: &mut [i8], scales: &mut [f32], shifts: &mut [i32]) -> f32 {
        let mut correction = 0.0f64;
        let mut tail = [0.0f32; SCALE_GROUP];
        let groups = out.chunks_exact_mut(SCALE_GROUP).zip(scales.iter_mut().zip(shifts));
        for (g, (out, (scale, shift))) in groups.enumerate() {
            let x = match x.get(g * SCALE_GROUP..(g + 1) * SCALE_GROUP) {
                Some(whole) => whole,
                None => {
                    let part = x.get(g * SCALE_GROUP..).unwrap_or_default();
                    tail.fill(0.0);
                    tail[..part.len()].copy_from_slice(part);
                    &tail
                }
            };
            let (s, sum) = quantize_group(x, out);
            *scale = s;
            *shift = 128 * sum;
            correction += f64::from(s) * f64::from(*shift);
        }
        correction as f32
    }
}

/// One group of [`quantize_groups_i8()`]: its scale and `Σ q`.
#[inline(always)]
fn quantize_group(x: &[f32], out: &mut [i8]) -> (f32, i32) {
    const HALF: usize = SCALE_GROUP / 2;
    let (x, out) = (&x[..SCALE_GROUP], &mut out[..SCALE_GROUP]);
    let mut peak = [0.0f32; HALF];
    let mut total = [0.0f32; HALF];
    for half in x.chunks_exact(HALF) {
        for ((p, t), v) in peak.iter_mut().zip(&mut total).zip(half) {
            *p = p.max(v.abs());
            *t += v.abs();
        }
    }
    // Halving trees, not folds: a fold is a chain of 16 dependent operations per group,
    // a tree four levels (measured in the AVX-512 build before it got intrinsics: 9.2 %
    // → 8.3 % of an int8 reranking profile). The results are the same: `max` over
    // numbers is order-free, and the sum is only read for whether it is NaN, which no
    // order changes (its terms are ≥ 0).
    let mut width = HALF;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            peak[i] = peak[i].max(peak[i + width]);
            total[i] += total[i + width];
        }
    }
    let (peak, total) = (peak[0], total[0]);
    // NaN reaches the sum even where `max` skips it.
    if peak == 0.0 || total.is_nan() || peak.is_infinite() {
        out.fill(0);
        return (if peak == 0.0 && !total.is_nan() { 0.0 } else { f32::NAN }, 0);
    }
    let inv = 127.0 / peak;
    // 1.5 · 2²³: adding it rounds to the nearest integer (ties to even, in one rounding)
    // and leaves `q` in the low mantissa bits, two's complement in the low byte.
    const SHIFT: f32 = 12_582_912.0;
    let mut sum = 0i32;
    for (o, v) in out.iter_mut().zip(x) {
        // |v| ≤ peak, so `v · inv` lies in [-127, 127]; the clamp only guards the last
        // ulp of `inv`.
        let q = ((v * inv).clamp(-127.0, 127.0) + SHIFT).to_bits() as u8 as i8;
        *o = q;
        sum += i32::from(q);
    }
    (peak / 127.0, sum)
}

dispatch! {
    /// `out[i]` = `x[i]` rounded to bfloat16 (nearest, ties to even; NaN stays NaN).
    fn round_bf16_row(x: &[f32], out: &mut [u16]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = to_bf16(v);
        }
    }
}

dispatch! {
    /// `high[i]` = `x[i]` rounded to bfloat16 and `low[i]` = what is left, rounded: the
    /// two parts of a split product (see [`crate::bf16`]).
    fn split_bf16_row(x: &[f32], high: &mut [u16], low: &mut [u16]) {
        for ((h, l), &v) in high.iter_mut().zip(low.iter_mut()).zip(x) {
            *h = to_bf16(v);
            *l = to_bf16(v - from_bf16(*h));
        }
    }
}

dispatch! {
    /// `out[c] += (sums[c] − correction) · col_scales[c]`: an int8 tile row, summed
    /// over its groups in `f32`, back to the output (see [`crate::int8`]).
    fn add_group_scaled_row(out: &mut [f32], sums: &[f32], correction: f32, col_scales: &[f32]) {
        for ((o, &s), &w) in out.iter_mut().zip(sums).zip(col_scales) {
            *o += (s - correction) * w;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::SCALE_GROUP;
    use crate::tiles::{PANEL, lanes_from};

    /// [`super::quantize_groups_i8()`] with AVX-512: the operations of
    /// `quantize_group`, in vectors, so the same bits.
    ///
    /// # Safety
    /// AVX512F present.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn quantize_groups_i8(
        x: &[f32],
        out: &mut [i8],
        scales: &mut [f32],
        shifts: &mut [i32],
    ) -> f32 {
        // See `quantize_group`: adding 1.5 · 2²³ rounds to an integer, ties to even,
        // and leaves it in the low mantissa bits; subtracting the constant's bits
        // recovers it as an `i32`.
        const SHIFT: f32 = 12_582_912.0;
        let (shift, shift_bits) =
            (_mm512_set1_ps(SHIFT), _mm512_set1_epi32(SHIFT.to_bits() as i32));
        let (low, high) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let mut correction = 0.0f64;
        let groups = out.chunks_exact_mut(SCALE_GROUP).zip(scales.iter_mut().zip(shifts));
        for (g, (out, (scale, shift_out))) in groups.enumerate() {
            let start = g * SCALE_GROUP;
            let left = x.len().saturating_sub(start);
            // Past the end of `x`, the lanes read as zero, the portable build's padding.
            let (m0, m1) = (lanes_from(left, 0), lanes_from(left, PANEL));
            let at = x.as_ptr().wrapping_add(start);
            // SAFETY: the unmasked lanes are within `x`; masked ones are not read.
            let (v0, v1) = unsafe {
                (_mm512_maskz_loadu_ps(m0, at), _mm512_maskz_loadu_ps(m1, at.wrapping_add(PANEL)))
            };
            let nan = _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v0, v0)
                | _mm512_cmp_ps_mask::<_CMP_UNORD_Q>(v1, v1);
            let peak = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
            let q: &mut [i8; SCALE_GROUP] = (&mut out[..SCALE_GROUP]).try_into().expect("a group");
            let (s, sum) = if peak == 0.0 || nan != 0 || peak.is_infinite() {
                q.fill(0);
                (if peak == 0.0 && nan == 0 { 0.0 } else { f32::NAN }, 0)
            } else {
                let inv = _mm512_set1_ps(127.0 / peak);
                let level = |v| {
                    let v = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, inv), low), high);
                    _mm512_sub_epi32(_mm512_castps_si512(_mm512_add_ps(v, shift)), shift_bits)
                };
                let (q0, q1) = (level(v0), level(v1));
                // SAFETY: `q` holds 32 bytes: two stores of 16.
                unsafe {
                    _mm_storeu_si128(q.as_mut_ptr().cast(), _mm512_cvtepi32_epi8(q0));
                    _mm_storeu_si128(q.as_mut_ptr().add(PANEL).cast(), _mm512_cvtepi32_epi8(q1));
                }
                (peak / 127.0, _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1)))
            };
            *scale = s;
            *shift_out = 128 * sum;
            correction += f64::from(s) * f64::from(*shift_out);
        }
        correction as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Vec<f32> {
        // Under Miri (`scripts/miri/run.sh`), one value in 13: still several rows of
        // every width below, with their remainders.
        (-4000..4000)
            .step_by(if cfg!(miri) { 13 } else { 1 })
            .map(|i| i as f32 / 97.0)
            .chain([0.0, -0.0, 1e-30, -90.0, 90.0])
            .collect()
    }

    /// Every build of an in-place kernel matches the portable build.
    fn same_at_every_level(kernel: fn(Level, &mut [f32]), tolerance: f32) {
        let mut want = inputs();
        kernel(Level::Portable, &mut want);
        for level in Level::runnable() {
            let mut got = inputs();
            kernel(level, &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() <= tolerance * w.abs().max(1.0), "{level:?}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn every_build_of_every_kernel_agrees() {
        same_at_every_level(gelu_erf_slice::at, 1e-6);
        same_at_every_level(gelu_tanh_slice::at, 1e-6);
        same_at_every_level(silu_slice::at, 1e-6);
        same_at_every_level(relu_slice::at, 0.0);
        same_at_every_level(
            |l, g| {
                let x: Vec<f32> = g.iter().map(|v| v * 0.7 - 0.3).collect();
                gelu_erf_backward_slice::at(l, &x, g);
            },
            1e-6,
        );
        same_at_every_level(
            |l, x| {
                x.chunks_mut(384).for_each(|r| {
                    layer_norm_row::at(l, r, &[1.5; 384][..r.len()], &[0.5; 384][..r.len()], 1e-12)
                })
            },
            1e-5,
        );
        same_at_every_level(
            |l, x| {
                x.chunks_mut(384).for_each(|r| rms_norm_row::at(l, r, &[1.5; 384][..r.len()], 1e-6))
            },
            1e-5,
        );
        same_at_every_level(
            |l, x| {
                // The gate is the inputs, the up projection half of them.
                let gate_up: Vec<f32> =
                    x.iter().copied().chain(x.iter().map(|v| v * 0.5)).collect();
                swiglu_row::at(l, &gate_up, x);
            },
            1e-6,
        );
        same_at_every_level(
            |l, x| {
                x.chunks_mut(237).for_each(|r| {
                    let total = softmax_numerator_row::at(l, r);
                    r.iter_mut().for_each(|v| *v /= total);
                })
            },
            1e-6,
        );
    }

    /// The fused pass gives, at every level, the bits of scaling in place, taking the
    /// numerators, then rounding them: attention's bfloat16 path before it was fused.
    #[test]
    fn scaled_rounded_softmax_numerators_equal_the_three_passes() {
        let x = inputs();
        for level in [Level::Portable].into_iter().chain(Level::runnable()) {
            for width in [1, 15, 16, 17, 237, 256] {
                for (r, row) in x.chunks(width).enumerate() {
                    let scale = if r % 2 == 0 { 0.176_776_7 } else { 0.125 };
                    let mut scaled: Vec<f32> = row.iter().map(|v| v * scale).collect();
                    let want_total = softmax_numerator_row::at(level, &mut scaled);
                    let mut want = vec![0u16; row.len()];
                    round_bf16_row::at(level, &scaled, &mut want);
                    let mut got = vec![1u16; row.len()];
                    let total = softmax_numerator_bf16_row::at(level, row, scale, &mut got);
                    assert_eq!(total.to_bits(), want_total.to_bits(), "{level:?} width {width}");
                    assert_eq!(got, want, "{level:?} width {width} row {r}");
                }
            }
        }
    }

    #[test]
    fn exp_is_within_two_ulp_where_softmax_uses_it() {
        for i in (-87_000..0).step_by(if cfg!(miri) { 97 } else { 1 }) {
            let x = i as f32 / 1000.0;
            let want = (x as f64).exp();
            assert!(((exp(x) as f64 - want) / want).abs() < 3e-7, "exp({x})");
        }
    }
}
