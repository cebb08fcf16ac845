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
