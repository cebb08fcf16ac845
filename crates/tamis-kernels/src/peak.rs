//! The CPU's peak single-precision FMA throughput, measured: the yardstick against
//! which the encoder's GEMMs report their efficiency.
//!
//! Each thread runs independent chains of vector FMAs (enough to cover the FMA
//! latency on every pipe), so the rate is what the cores can issue, not a datasheet
//! number that turbo, power limits or a hypervisor may not honour.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

#[cfg(test)]
mod tests;

/// Peak FMA throughput of `threads` threads, in GFLOP/s (one FMA = 2 FLOPs per lane),
/// measured for about `duration`; the better of 256-bit and (where the CPU has it)
/// 512-bit FMAs, since CPUs differ on which issues more. `None` on CPUs without
/// AVX2+FMA (the ISAs this probe knows).
pub fn fma_peak_gflops(threads: usize, duration: Duration) -> Option<f64> {
    // The best of three short runs per ISA: a peak is what the cores can do, and a
    // run that another process interrupted says less about that than the fastest one.
    let isas = available_isas();
    let per_run = duration / (3 * isas.len().max(1)) as u32;
    isas.into_iter()
        .flat_map(|isa| (0..3).map(move |_| isa))
        .map(|isa| measure(isa, threads.max(1), per_run))
        .reduce(f64::max)
}

#[derive(Debug, Clone, Copy)]
enum Isa {
    Avx2,
    Avx512,
}

impl Isa {
    /// FLOPs per loop iteration: 12 chains × lanes × 2.
    fn flops_per_iter(self) -> f64 {
        match self {
            Isa::Avx2 => 12.0 * 8.0 * 2.0,
            Isa::Avx512 => 12.0 * 16.0 * 2.0,
        }
    }
}

fn available_isas() -> Vec<Isa> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut isas = Vec::new();
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            isas.push(Isa::Avx2);
            if std::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        isas
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        Vec::new()
    }
}

fn measure(isa: Isa, threads: usize, duration: Duration) -> f64 {
    rate(threads, duration, isa.flops_per_iter(), |iters| run(isa, iters))
}

fn run(isa: Isa, iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `available_isas` lists an ISA only after detecting its features.
        match isa {
            Isa::Avx2 => unsafe { fma_chains(iters) },
            Isa::Avx512 => unsafe { fma_chains_512(iters) },
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, iters);
        0.0
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma_chains_512(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    let mut acc = [_mm512_set1_ps(1.0); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm512_fmadd_ps(*r, a, b);
        }
    }
    let mut total = _mm512_setzero_ps();
    for r in acc {
        total = _mm512_add_ps(total, r);
    }
    std::hint::black_box(_mm512_reduce_add_ps(total))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_chains(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    let mut acc = [_mm256_set1_ps(1.0); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut total = _mm256_setzero_ps();
    for r in acc {
        total = _mm256_add_ps(total, r);
    }
    let mut lanes = [0.0f32; 8];
    // SAFETY: `lanes` holds exactly 8 floats.
    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), total) };
    // Returned (and black-boxed by the caller) so the loop cannot be optimized away.
    std::hint::black_box(lanes.iter().sum())
}

/// Peak int8 multiply-add throughput of `threads` threads, in GOP/s (one
/// multiply-add = 2 operations, as for FLOPs), measured for about `duration` with the
/// instructions the [`crate::Int8Kernel`] builds use: the best of 512-bit `vpdpbusd`
/// (AVX512-VNNI), 256-bit `vpdpbusd` (AVX-VNNI) and AVX2's `vpmaddubsw` + `vpmaddwd`,
/// among those the CPU has. `None` on CPUs with none of them.
pub fn int8_peak_gops(threads: usize, duration: Duration) -> Option<f64> {
    let isas = int8_isas();
    let per_run = duration / (3 * isas.len().max(1)) as u32;
    isas.into_iter()
        .flat_map(|isa| (0..3).map(move |_| isa))
        .map(|isa| {
            let per_iter = isa.ops_per_iter();
            rate(threads.max(1), per_run, per_iter, move |iters| run_int8(isa, iters) as f32)
        })
        .reduce(f64::max)
}

/// Peak bfloat16 dot-product throughput (`vdpbf16ps`, AVX512-BF16) of `threads`
/// threads in GFLOP/s (each instruction: 32 pairs of products summed into 16 lanes, 64
/// FLOPs), measured like [`fma_peak_gflops`]; `None` without AVX512-BF16. It says
/// whether a bf16 product could beat f32 FMAs here: on some CPUs it issues at a
/// quarter of their rate, so half their FLOPs.
pub fn bf16_peak_gflops(threads: usize, duration: Duration) -> Option<f64> {
    #[cfg(target_arch = "x86_64")]
    {
        if !(std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bf16"))
        {
            return None;
        }
        let per_run = duration / 3;
        // SAFETY: the features were detected just above.
        let run = |iters: usize| unsafe { bf16_chains(iters) };
        (0..3).map(|_| rate(threads.max(1), per_run, 12.0 * 64.0, run)).reduce(f64::max)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (threads, duration);
        None
    }
}

/// 12 chains of `acc += Σ 1·1` over bf16 pairs: each step adds 2 per lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
fn bf16_chains(iters: usize) -> f32 {
    use std::arch::x86_64::*;
    let one = std::hint::black_box(_mm512_set1_ps(1.0));
    let ones = _mm512_cvtne2ps_pbh(one, one);
    let mut acc = [_mm512_setzero_ps(); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm512_dpbf16_ps(*r, ones, ones);
        }
    }
    let total = acc.into_iter().fold(_mm512_setzero_ps(), |t, r| _mm512_add_ps(t, r));
    _mm512_reduce_add_ps(total) / 16.0
}

#[derive(Debug, Clone, Copy)]
enum Int8Isa {
    Avx2,
    AvxVnni,
    Avx512Vnni,
}

impl Int8Isa {
    /// Operations per loop iteration: 12 chains × multiply-adds per step × 2.
    fn ops_per_iter(self) -> f64 {
        match self {
            Int8Isa::Avx2 | Int8Isa::AvxVnni => 12.0 * 32.0 * 2.0,
            Int8Isa::Avx512Vnni => 12.0 * 64.0 * 2.0,
        }
    }
}

fn int8_isas() -> Vec<Int8Isa> {
    use crate::Int8Kernel;
    let mut isas = Vec::new();
    for (kernel, isa) in [
        (Int8Kernel::Avx2, Int8Isa::Avx2),
        (Int8Kernel::AvxVnni, Int8Isa::AvxVnni),
        (Int8Kernel::Avx512Vnni, Int8Isa::Avx512Vnni),
    ] {
        if kernel.is_supported() {
            isas.push(isa);
        }
    }
    isas
}

/// Runs `f(iters)` on `threads` threads for about `duration` after calibrating one
/// thread's iterations; returns `ops_per_iter` units per second, in billions.
pub(crate) fn rate(
    threads: usize,
    duration: Duration,
    ops_per_iter: f64,
    f: impl Fn(usize) -> f32 + Sync,
) -> f64 {
    let probe = 200_000;
    let start = Instant::now();
    std::hint::black_box(f(probe));
    let per_iter = start.elapsed().as_secs_f64() / probe as f64;
    let iters = ((duration.as_secs_f64() / per_iter) as usize).max(probe);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| std::hint::black_box(f(iters)));
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    // In f64: `threads · iters` may not fit in `usize` for a caller's thread count.
    threads as f64 * iters as f64 * ops_per_iter / seconds / 1e9
}

fn run_int8(isa: Int8Isa, iters: usize) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `int8_isas` lists an ISA only after detecting its features.
        match isa {
            Int8Isa::Avx2 => unsafe { int8_chains_avx2(iters) },
            Int8Isa::AvxVnni => unsafe { int8_chains_avx_vnni(iters) },
            Int8Isa::Avx512Vnni => unsafe { int8_chains_512(iters) },
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (isa, iters);
        0
    }
}

/// 12 chains of `acc += Σ 1·1` over 4-byte groups: each step adds 4 per lane.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn int8_chains_512(iters: usize) -> i32 {
    use std::arch::x86_64::*;
    // Opaque, so that the compiler cannot fold the constant chain into one product.
    let ones = std::hint::black_box(_mm512_set1_epi8(1));
    let mut acc = [_mm512_setzero_si512(); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm512_dpbusd_epi32(*r, ones, ones);
        }
    }
    let total = acc.into_iter().fold(_mm512_setzero_si512(), |t, r| _mm512_add_epi32(t, r));
    // Per lane: 12 chains × 4 per step; wraps harmlessly for long runs.
    _mm512_reduce_add_epi32(total) / 16
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
fn int8_chains_avx_vnni(iters: usize) -> i32 {
    use std::arch::x86_64::*;
    let ones = std::hint::black_box(_mm256_set1_epi8(1));
    let mut acc = [_mm256_setzero_si256(); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            *r = _mm256_dpbusd_avx_epi32(*r, ones, ones);
        }
    }
    let total = acc.into_iter().fold(_mm256_setzero_si256(), |t, r| _mm256_add_epi32(t, r));
    lane_zero(total)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn int8_chains_avx2(iters: usize) -> i32 {
    use std::arch::x86_64::*;
    let ones8 = std::hint::black_box(_mm256_set1_epi8(1));
    let ones16 = std::hint::black_box(_mm256_set1_epi16(1));
    // The chain reads its own bytes (`r += Σ bytes of r`), or the product of two
    // constants would be hoisted out of the loop.
    let mut acc = [_mm256_set1_epi32(1); 12];
    for _ in 0..iters {
        for r in acc.iter_mut() {
            let pairs = _mm256_maddubs_epi16(*r, ones8);
            *r = _mm256_add_epi32(*r, _mm256_madd_epi16(pairs, ones16));
        }
    }
    let total = acc.into_iter().fold(_mm256_setzero_si256(), |t, r| _mm256_add_epi32(t, r));
    lane_zero(total)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lane_zero(v: std::arch::x86_64::__m256i) -> i32 {
    std::arch::x86_64::_mm256_extract_epi32::<0>(v)
}

/// How long `f` takes, best of `repeats` runs (the least disturbed one).
pub fn best_time(repeats: usize, mut f: impl FnMut()) -> Duration {
    (0..repeats.max(1))
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap_or_default()
}
