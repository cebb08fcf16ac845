use super::{available_isas, run};

/// A few iterations of each FMA loop this CPU has, short enough for Miri
/// (`scripts/miri/run.sh` enables AVX2, FMA and AVX-512F for it): the loops' intrinsics
/// and their `unsafe` calls run, and 12 chains of `x·0.999999 + 1e-7` from 1.0 stay
/// within a hair of 1 per lane.
#[test]
fn every_available_fma_loop_runs_and_sums_its_lanes() {
    // Built with the features on (as the Miri script's second pass is), the loops must
    // run, or this test would pass by running none.
    if cfg!(all(target_arch = "x86_64", target_feature = "avx2", target_feature = "fma")) {
        assert!(!available_isas().is_empty(), "AVX2 and FMA are enabled but not detected");
    }
    for isa in available_isas() {
        let lanes = match isa {
            super::Isa::Avx2 => 8.0,
            super::Isa::Avx512 => 16.0,
        };
        let total = run(isa, 3);
        assert!((total - 12.0 * lanes).abs() < 1e-3, "{isa:?}: {total}");
    }
}

/// A few iterations of each int8 loop this CPU has. The VNNI steps add 4 per lane, so
/// 3 steps of 12 chains give 144; the AVX2 steps add a lane's byte sum to it, so 1
/// doubles to 8 in 3 steps, 96 over 12 chains.
#[test]
fn every_available_int8_loop_runs_and_counts_its_steps() {
    for isa in super::int8_isas() {
        let want = if matches!(isa, super::Int8Isa::Avx2) { 96 } else { 144 };
        assert_eq!(super::run_int8(isa, 3), want, "{isa:?}");
    }
}

/// The bf16 loop, where the CPU has it: 3 steps of 12 chains add 2 per lane each, 72.
#[test]
fn the_bf16_loop_counts_its_steps() {
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512bf16") {
        // SAFETY: the features were detected just above.
        assert_eq!(unsafe { super::bf16_chains(3) }, 72.0);
    }
}
