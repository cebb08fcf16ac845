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
    // Calibrate one thread's iterations to the duration, then run all threads at once.
    let probe = 200_000;
    let start = Instant::now();
    run(isa, probe);
    let per_iter = start.elapsed().as_secs_f64() / probe as f64;
    let iters = ((duration.as_secs_f64() / per_iter) as usize).max(probe);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| run(isa, iters));
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    // In f64: `threads · iters` may not fit in `usize` for a caller's thread count.
    threads as f64 * iters as f64 * isa.flops_per_iter() / seconds / 1e9
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
