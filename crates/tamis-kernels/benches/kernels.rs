//! Micro-benchmarks of the encoder kernels at MiniLM-L6 sizes (hidden 384, 12 heads,
//! FFN 1536). `cargo bench -p tamis-kernels`; `tamis bench gemm` reports the same
//! products as a fraction of the measured FMA peak.

use divan::Bencher;
use divan::counter::ItemsCount;
use tamis_kernels::{Linear, Segment, attention, gelu_erf, layer_norm, max_sim, max_sim_with};

fn main() {
    divan::main();
}

fn data(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) % 1000) as f32 / 1000.0 - 0.5
        })
        .collect()
}

const ROWS: usize = 4096;

/// Times `layer` over [`ROWS`] rows of input; the counter is the f32 product's FLOPs.
fn time_layer(bencher: Bencher, layer: &Linear) {
    let (k, n) = (layer.in_features(), layer.out_features());
    let x = data(ROWS * k, 3);
    let mut out = vec![0.0; ROWS * n];
    let threads = rayon::current_num_threads();
    bencher
        .counter(ItemsCount::new((2 * ROWS * k * n) as u64))
        .bench_local(|| layer.forward(&x, ROWS, None, &mut out, threads));
}

/// One dense layer over 4096 tokens; the counter is FLOPs, so items/s reads as FLOP/s.
#[divan::bench(args = [(384, 1152), (384, 384), (384, 1536), (1536, 384), (1024, 3072), (3072, 1024)], threads = false)]
fn linear(bencher: Bencher, (k, n): (usize, usize)) {
    let layer = Linear::from_torch(&data(k * n, 1), Some(&data(n, 2)), n, k);
    time_layer(bencher, &layer);
}

/// The same layers with int8 weights ([`Linear::quantized_int8`]), activations
/// quantized at each call (included in the time); items/s reads as int8 OP/s.
#[divan::bench(args = [(384, 1152), (384, 384), (384, 1536), (1536, 384), (1024, 3072), (3072, 1024)], threads = false)]
fn linear_int8(bencher: Bencher, (k, n): (usize, usize)) {
    let layer = Linear::from_torch(&data(k * n, 1), Some(&data(n, 2)), n, k).quantized_int8();
    time_layer(bencher, &layer);
}

/// The same layers in three bfloat16 parts ([`Linear::quantized_bf16x3`], the default on
/// AMX), from f32 weights (three terms) and from bfloat16 ones (two); items/s reads as
/// the f32 FLOP/s it stands for.
#[divan::bench(args = [(384, 1152), (384, 384), (384, 1536), (1536, 384), (1024, 3072), (3072, 1024)], consts = [false, true], threads = false)]
fn linear_bf16x3<const BF16_WEIGHTS: bool>(bencher: Bencher, (k, n): (usize, usize)) {
    let mut weight = data(k * n, 1);
    if BF16_WEIGHTS {
        // Rounded to bfloat16 (ties away, which is all this needs): `wₗ` is zero.
        weight.iter_mut().for_each(|w| *w = f32::from_bits((w.to_bits() + 0x8000) & 0xffff_0000));
    }
    let layer = Linear::from_torch(&weight, Some(&data(n, 2)), n, k).quantized_bf16x3();
    time_layer(bencher, &layer);
}

/// Attention of 16 sequences of `len` tokens (12 heads of 32).
#[divan::bench(args = [64, 128, 256], threads = false)]
fn attention_packed(bencher: Bencher, len: usize) {
    let (hidden, heads, count) = (384, 12, 16);
    let qkv = data(count * len * 3 * hidden, 4);
    let segments: Vec<Segment> = (0..count).map(|i| Segment::packed(i * len, len)).collect();
    let mut out = vec![0.0; count * len * hidden];
    bencher.bench_local(|| attention(&qkv, &segments, heads, hidden, &mut out));
}

/// ColBERT's MaxSim of a 32-row query against 100 documents of 300 rows, at `dim`
/// (96: answerai-colbert-small-v1; 128: colbertv2.0), on the current rayon pool: the
/// late-interaction stage from stored vectors, their decoding aside. Items are documents.
#[divan::bench(args = [96, 128], threads = false)]
fn max_sim_100_documents(bencher: Bencher, dim: usize) {
    let query = data(32 * dim, 7);
    let documents = data(100 * 300 * dim, 8);
    let rows = vec![300; 100];
    let mut out = vec![0.0; rows.len()];
    bencher
        .counter(ItemsCount::new(rows.len() as u64))
        .bench_local(|| max_sim(&query, dim, &documents, &rows, &mut out));
}

/// A late-interaction stage's arithmetic from stored token vectors: 100 documents of 300
/// rows decoded from their stored bytes block by block ([`max_sim_with`]) and scored by
/// MaxSim against a 32-row query (what the stage adds to reading the bytes and encoding
/// the query).
#[divan::bench(args = [(96, "f16"), (128, "f16"), (96, "int8"), (128, "int8")], threads = false)]
fn max_sim_100_stored_documents(bencher: Bencher, (dim, storage): (usize, &str)) {
    use tamis_core::{TokenMatrix, TokenStorage};
    let storage = if storage == "f16" { TokenStorage::F16 } else { TokenStorage::Int8 };
    let query = data(32 * dim, 7);
    let stored: Vec<Vec<u8>> = (0..100)
        .map(|d| storage.encode(&TokenMatrix { dim, data: data(300 * dim, 8 + d) }))
        .collect();
    let rows = vec![300; 100];
    let mut out = vec![0.0; rows.len()];
    bencher.counter(ItemsCount::new(rows.len() as u64)).bench_local(|| {
        max_sim_with(&query, dim, &rows, &mut out, |d, buf| {
            storage.decode_into(&stored[d], dim, buf).expect("whole rows");
        });
    });
}

#[divan::bench(threads = false)]
fn layer_norm_4096x384(bencher: Bencher) {
    let mut x = data(ROWS * 384, 5);
    let (gamma, beta) = (data(384, 6), data(384, 7));
    bencher.bench_local(|| layer_norm(&mut x, 384, &gamma, &beta, 1e-12));
}

#[divan::bench(threads = false)]
fn gelu_4096x1536(bencher: Bencher) {
    let x = data(ROWS * 1536, 8);
    bencher.with_inputs(|| x.clone()).bench_local_refs(|x| gelu_erf(x));
}

/// A query's dense layers: six layers of MiniLM-L6's four products (distinct weights,
/// 42 MB, so they stream from memory as in an encoder) on `rows` token rows, on every
/// thread of the pool; items/s reads as FLOP/s.
#[divan::bench(args = [8, 32, 64], threads = false)]
fn query_layers(bencher: Bencher, rows: usize) {
    let shapes = [(384, 1152), (384, 384), (384, 1536), (1536, 384)];
    let layers: Vec<(Linear, usize, usize)> = (0..6)
        .flat_map(|layer| shapes.map(move |s| (layer, s)))
        .map(|(layer, (k, n))| (Linear::from_torch(&data(k * n, layer), None, n, k), k, n))
        .collect();
    let x = data(rows * 1536, 3);
    let mut out = vec![0.0; rows * 1536];
    let threads = rayon::current_num_threads();
    let flops: usize = layers.iter().map(|(_, k, n)| 2 * rows * k * n).sum();
    bencher.counter(ItemsCount::new(flops as u64)).bench_local(|| {
        for (layer, k, n) in &layers {
            layer.forward(&x[..rows * k], rows, None, &mut out[..rows * n], threads);
        }
    });
}
