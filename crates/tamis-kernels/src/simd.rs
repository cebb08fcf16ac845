//! Row kernels compiled twice, for AVX2+FMA and for the baseline target, and picked at
//! run time: LLVM vectorizes the plain loops below to 8 lanes only when it may use AVX2.
//!
//! The loops avoid what defeats vectorization: reductions keep 16 independent partial
//! sums, and `exp`/`erf` are branch-free polynomials rather than libm calls.
#![allow(unsafe_code)]

/// Defines `pub(crate) fn $name` that runs `$body` compiled for AVX2+FMA when the CPU
/// has them, and the portable build otherwise.
macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident : $ty:ty),*) $(-> $ret:ty)? $body:block) => {
        $(#[$doc])*
        pub(crate) fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn portable($($arg: $ty),*) $(-> $ret)? $body

            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    portable($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: `avx2` only differs from `portable` by the target features it
                    // is compiled for, and the CPU was just checked to have them.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
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
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // ln 2 split in two so that n·ln2 is subtracted without rounding error.
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let mut p = 1.987_569_1e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 0.5;
    let y = p * r * r + r + 1.0;
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
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 + -2.101_024e-6;
    p = p * x2 + -5.692_506_4e-5;
    p = p * x2 + -7.349_906_3e-4;
    p = p * x2 + -2.9546e-3;
    p = p * x2 + -1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 + -2.133_740_6e-4;
    q = q * x2 + -1.682_827e-3;
    q = q * x2 + -7.373_329e-3;
    q = q * x2 + -1.426_474e-2;
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
    /// Softmax of one row in place.
    fn softmax_row(x: &mut [f32]) {
        let m = max(x);
        for v in x.iter_mut() {
            *v = exp(*v - m);
        }
        let inv = 1.0 / sum(x);
        for v in x.iter_mut() {
            *v *= inv;
        }
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
    /// ReLU in place.
    fn relu_slice(x: &mut [f32]) {
        for v in x.iter_mut() {
            *v = v.max(0.0);
        }
    }
}
