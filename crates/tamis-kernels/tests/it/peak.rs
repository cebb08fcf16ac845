use std::time::Duration;

use tamis_kernels::peak::{best_time, fma_peak_gflops};

#[test]
fn the_fma_probe_measures_a_plausible_rate() {
    let Some(one) = fma_peak_gflops(1, Duration::from_millis(50)) else {
        // Only CPUs without AVX2+FMA get here; the probe says so rather than guessing.
        assert!(!cfg!(target_arch = "x86_64") || !std::is_x86_feature_detected!("fma"));
        return;
    };
    // One core issues at least one 8-lane FMA per ns at any clock a server runs, and
    // no x86 core issues more than 4 per cycle at 6 GHz.
    assert!((8.0..400.0).contains(&one), "{one} GFLOP/s");
}

#[test]
fn best_time_keeps_the_fastest_run() {
    let mut calls = 0;
    let t = best_time(3, || {
        calls += 1;
        std::thread::sleep(Duration::from_millis(if calls == 2 { 1 } else { 20 }));
    });
    assert_eq!(calls, 3);
    assert!(t < Duration::from_millis(15));
}
