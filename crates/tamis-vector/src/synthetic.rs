//! Seeded synthetic embeddings for tests, benchmarks and the scale example.
//!
//! Real sentence embeddings are unit vectors that crowd around topics and vary, within
//! a topic, along a few directions only. [`Mixture`] imitates that: each of its clusters
//! has a random unit centre and [`RANK`] random directions; a sample is its cluster's
//! centre plus a Gaussian combination of those directions plus a little isotropic noise,
//! normalised to unit length. (Purely isotropic noise in 384 dimensions would make
//! every point nearly equidistant from every other, which is the worst case for any
//! graph index and unlike embeddings.)
//!
//! Everything is derived from explicit seeds, so tests see the same data on every run.
//! This file is also compiled into `benches/vector.rs` and `examples/hnsw_scale.rs`
//! through `#[path]`, so it uses nothing from the crate itself.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// How many directions each cluster varies along.
pub const RANK: usize = 16;
/// The standard deviation of a sample along each of its cluster's directions.
const SPREAD: f32 = 0.2;
/// The standard deviation of the isotropic noise, per vector (not per component).
const NOISE: f32 = 0.1;

/// A seeded Gaussian mixture of low-rank clusters on the unit sphere.
#[derive(Debug, Clone)]
pub struct Mixture {
    dimension: usize,
    /// `clusters * dimension` values: the unit centres.
    centres: Vec<f32>,
    /// `clusters * RANK * dimension` values: each cluster's directions, about unit length.
    directions: Vec<f32>,
}

impl Mixture {
    /// A mixture of `clusters` clusters in `dimension` dimensions, drawn from `seed`.
    pub fn new(dimension: usize, clusters: usize, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut centres = gaussian_vec(&mut rng, clusters * dimension, 1.0);
        for centre in centres.chunks_exact_mut(dimension) {
            normalize(centre);
        }
        let scale = 1.0 / (dimension as f32).sqrt();
        let directions = gaussian_vec(&mut rng, clusters * RANK * dimension, scale);
        Mixture { dimension, centres, directions }
    }

    /// `n` unit vectors drawn from `seed`, flattened: sample `i` is
    /// `[i * dimension..(i + 1) * dimension]`. Clusters are picked uniformly.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let dimension = self.dimension;
        let clusters = self.centres.len() / dimension;
        let mut rng = StdRng::seed_from_u64(seed);
        let noise_scale = NOISE / (dimension as f32).sqrt();
        let mut out = Vec::with_capacity(n * dimension);
        for _ in 0..n {
            let cluster = rng.random_range(0..clusters);
            let start = out.len();
            out.extend_from_slice(&self.centres[cluster * dimension..][..dimension]);
            let point = &mut out[start..];
            let directions = &self.directions[cluster * RANK * dimension..][..RANK * dimension];
            for direction in directions.chunks_exact(dimension) {
                let weight = SPREAD * gaussian(&mut rng);
                for (value, d) in point.iter_mut().zip(direction) {
                    *value += weight * d;
                }
            }
            for value in point.iter_mut() {
                *value += noise_scale * gaussian(&mut rng);
            }
            normalize(point);
        }
        out
    }
}

/// The fraction of the keys of `exact` that `approximate` also found.
pub fn recall(exact: &[u64], approximate: &[u64]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let found = exact.iter().filter(|key| approximate.contains(key)).count();
    found as f64 / exact.len() as f64
}

/// A standard normal deviate (Box–Muller; one of the pair is discarded for simplicity).
fn gaussian(rng: &mut StdRng) -> f32 {
    // `1 - u` lies in (0, 1], so the logarithm is finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

fn gaussian_vec(rng: &mut StdRng, len: usize, scale: f32) -> Vec<f32> {
    (0..len).map(|_| scale * gaussian(rng)).collect()
}

fn normalize(vector: &mut [f32]) {
    let length = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
    if length > 0.0 {
        for value in vector.iter_mut() {
            *value /= length;
        }
    }
}
