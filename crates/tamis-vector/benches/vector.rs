//! Micro-benchmarks of the vector crate: the dot kernel, exact search and HNSW search.
//!
//! ```text
//! cargo bench -p tamis-vector --bench vector
//! ```
//!
//! Inputs are seeded clustered unit vectors (`src/synthetic.rs`), so runs compare.

use std::sync::OnceLock;

use divan::{Bencher, black_box};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tamis_core::ChunkKey;
use tamis_vector::{FlatIndex, HnswIndex, HnswParams, Metric, VectorIndex};

// Shared with the unit tests and the scale example; not every helper is used here.
#[allow(dead_code)]
#[path = "../src/synthetic.rs"]
mod synthetic;

fn main() {
    divan::main();
}

const DIMENSION: usize = 384;
const K: usize = 10;

fn random_vector(dimension: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..dimension).map(|_| rng.random_range(-1.0..1.0)).collect()
}

mod kernel {
    use super::*;

    const DIMENSIONS: [usize; 4] = [64, 384, 768, 1024];

    /// The crate's kernel.
    #[divan::bench(args = DIMENSIONS)]
    fn dot(bencher: Bencher, dimension: usize) {
        let (a, b) = (random_vector(dimension, 1), random_vector(dimension, 2));
        bencher.bench(|| tamis_vector::dot(black_box(&a), black_box(&b)));
    }

    /// The one-accumulator loop LLVM cannot vectorise, for comparison.
    #[divan::bench(args = DIMENSIONS)]
    fn sequential(bencher: Bencher, dimension: usize) {
        let (a, b) = (random_vector(dimension, 1), random_vector(dimension, 2));
        bencher.bench(|| black_box(&a).iter().zip(black_box(&b)).map(|(x, y)| x * y).sum::<f32>());
    }

    /// The kernel's shape with other accumulator counts, to justify `LANES`.
    #[divan::bench(consts = [4, 8, 16, 32, 64])]
    fn lanes<const N: usize>(bencher: Bencher) {
        let (a, b) = (random_vector(DIMENSION, 1), random_vector(DIMENSION, 2));
        bencher.bench(|| dot_with_lanes::<N>(black_box(&a), black_box(&b)));
    }

    fn dot_with_lanes<const N: usize>(a: &[f32], b: &[f32]) -> f32 {
        let mut acc = [0.0f32; N];
        let (chunks_a, chunks_b) = (a.chunks_exact(N), b.chunks_exact(N));
        let tail: f32 =
            chunks_a.remainder().iter().zip(chunks_b.remainder()).map(|(x, y)| x * y).sum();
        for (chunk_a, chunk_b) in chunks_a.zip(chunks_b) {
            for lane in 0..N {
                acc[lane] += chunk_a[lane] * chunk_b[lane];
            }
        }
        acc.iter().sum::<f32>() + tail
    }
}

/// Seeded clustered data shared by the search benchmarks: vectors and queries.
struct Data {
    vectors: Vec<f32>,
    queries: Vec<f32>,
}

const N_VECTORS: usize = 20_000;
const N_QUERIES: usize = 256;

fn data() -> &'static Data {
    static DATA: OnceLock<Data> = OnceLock::new();
    DATA.get_or_init(|| {
        let mixture = synthetic::Mixture::new(DIMENSION, N_VECTORS / 300, 7);
        Data { vectors: mixture.sample(N_VECTORS, 1), queries: mixture.sample(N_QUERIES, 2) }
    })
}

fn items(vectors: &[f32]) -> Vec<(ChunkKey, &[f32])> {
    vectors.chunks_exact(DIMENSION).enumerate().map(|(i, v)| (i as ChunkKey, v)).collect()
}

/// Cycles through the queries so that no single query stays hot in cache.
fn bench_queries(
    bencher: Bencher,
    index: &dyn VectorIndex,
    filter: Option<&dyn tamis_core::KeyFilter>,
) {
    let queries: Vec<&[f32]> = data().queries.chunks_exact(DIMENSION).collect();
    let mut next = 0;
    bencher.bench_local(|| {
        next = (next + 1) % queries.len();
        index.search(black_box(queries[next]), K, filter)
    });
}

fn two_percent(key: ChunkKey) -> bool {
    key % 50 == 7
}

mod flat {
    use super::*;

    fn index() -> &'static FlatIndex {
        static INDEX: OnceLock<FlatIndex> = OnceLock::new();
        INDEX.get_or_init(|| {
            let mut index =
                FlatIndex::new(DIMENSION, Metric::InnerProduct).expect("valid dimension");
            index.upsert(&items(&data().vectors)).expect("valid vectors");
            index
        })
    }

    /// Exact top-10 over 20 000 × 384.
    #[divan::bench]
    fn search(bencher: Bencher) {
        bench_queries(bencher, index(), None);
    }

    /// The same with a filter allowing 2% of the keys (scored only if allowed).
    #[divan::bench]
    fn search_filter_2_percent(bencher: Bencher) {
        bench_queries(bencher, index(), Some(&two_percent));
    }
}

mod hnsw {
    use super::*;

    fn index() -> &'static HnswIndex {
        static INDEX: OnceLock<HnswIndex> = OnceLock::new();
        INDEX.get_or_init(|| {
            let params = HnswParams { threads: 2, ..HnswParams::default() };
            let mut index =
                HnswIndex::new(DIMENSION, Metric::InnerProduct, params).expect("valid params");
            index.upsert(&items(&data().vectors)).expect("valid vectors");
            index
        })
    }

    /// Approximate top-10 over 20 000 × 384 at the default parameters.
    #[divan::bench]
    fn search(bencher: Bencher) {
        bench_queries(bencher, index(), None);
    }

    /// The same with a filter allowing 2% of the keys, applied inside the graph walk.
    #[divan::bench]
    fn search_filter_2_percent(bencher: Bencher) {
        bench_queries(bencher, index(), Some(&two_percent));
    }
}
