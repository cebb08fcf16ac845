//! Every kernel against a plain scalar reference written for clarity, not speed.

mod activation;
mod attention;
mod bounds;
mod causal_attention;
mod linear;
mod norm;
mod peak;
mod relative_attention;
mod rope;

/// Deterministic values in [-scale, scale).
pub fn data(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// The bfloat16 value nearest `v` (ties to even), as an `f32`.
pub fn round_bf16(v: f32) -> f32 {
    let bits = v.to_bits();
    f32::from_bits(((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) << 16)
}

/// Largest absolute difference.
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// Under Miri (`scripts/miri/run.sh`), which interprets every step a thousand times
/// slower, tests take one value in `MIRI_STEP` of their sweeps and smaller shapes: the
/// code paths stay the same, only the number of values through them shrinks.
pub const MIRI_STEP: usize = if cfg!(miri) { 37 } else { 1 };

/// A rayon pool of two threads, so tests exercise the parallel paths on any machine.
pub fn pool() -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new().num_threads(2).build().expect("a 2-thread pool")
}
