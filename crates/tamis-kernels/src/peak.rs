//! The CPU's peak single-precision FMA throughput, measured: the yardstick against
//! which the encoder's GEMMs report their efficiency.
//!
//! Each thread runs independent chains of vector FMAs (enough to cover the FMA
//! latency on every pipe), so the rate is what the cores can issue, not a datasheet
//! number that turbo, power limits or a hypervisor may not honour.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

/// Peak FMA throughput of `threads` threads, in GFLOP/s (one FMA = 2 FLOPs per lane),
/// measured for about `duration`; `None` on CPUs without AVX2+FMA (the only ISA this
/// probe knows).
pub fn fma_peak_gflops(threads: usize, duration: Duration) -> Option<f64> {
    if !has_fma() {
        return None;
    }
    // Calibrate one thread's iterations to the duration, then run all threads at once.
    let probe = 1_000_000;
    let start = Instant::now();
    run(probe);
    let per_iter = start.elapsed().as_secs_f64() / probe as f64;
    let iters = ((duration.as_secs_f64() / per_iter) as usize).max(probe);
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| run(iters));
        }
    });
    let seconds = start.elapsed().as_secs_f64();
    Some((threads.max(1) * iters) as f64 * FLOPS_PER_ITER / seconds / 1e9)
}

/// 12 chains × 8 lanes × 2 FLOPs.
const FLOPS_PER_ITER: f64 = 12.0 * 8.0 * 2.0;

fn has_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn run(iters: usize) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `run` is only reached after `has_fma` confirmed AVX2 and FMA.
        unsafe { fma_chains(iters) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = iters;
        0.0
    }
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
