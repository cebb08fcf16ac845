//! How an `HnswIndex` behaves at scale: build time, file size, latency and recall.
//!
//! ```text
//! cargo run --release -p tamis-vector --example hnsw_scale -- --n 100000 [--dim 384] \
//!     [--queries 1000] [--threads 2] [--exact 200] [--ef 64[,128,…]] [--m 16] [--ef-add 128]
//! ```
//!
//! `--ef` takes a comma-separated list: the graph is built once, then queried at each
//! search expansion (the recall/latency trade-off without rebuilding).
//!
//! The vectors come from a seeded mixture of low-rank clusters on the unit sphere
//! (`src/synthetic.rs`), which crowds like sentence embeddings do. The index is built
//! in batches of 10 000 (as an ingest would), saved, loaded back, and then queried one
//! query at a time on the loaded copy: the latencies are single-query, single-thread.
//! Recall@10 is measured against `FlatIndex` on the first `--exact` queries, once
//! unfiltered and once with a filter that allows 2% of the keys.

use std::time::{Duration, Instant};

use tamis_vector::{FlatIndex, HnswIndex, HnswParams, Metric, VectorIndex};

// Shared with the unit tests and the benchmarks; not every helper is used here.
#[allow(dead_code)]
#[path = "../src/synthetic.rs"]
mod synthetic;

/// Vectors per `upsert` call while building.
const BATCH: usize = 10_000;
/// Hits per query.
const K: usize = 10;

/// The command line, after parsing.
#[derive(Debug)]
struct Args {
    n: usize,
    dim: usize,
    queries: usize,
    exact: usize,
    params: HnswParams,
    /// Search expansions to query at (the first is also used while building).
    efs: Vec<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        n: 100_000,
        dim: 384,
        queries: 1000,
        exact: 200,
        params: HnswParams::default(),
        efs: Vec::new(),
    };
    args.params.threads = 2;
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--ef" {
            for ef in value.split(',') {
                args.efs.push(ef.parse().map_err(|_| format!("--ef: '{ef}' is not a number"))?);
            }
            continue;
        }
        let number: usize =
            value.parse().map_err(|_| format!("{flag}: '{value}' is not a number"))?;
        match flag.as_str() {
            "--n" => args.n = number,
            "--dim" => args.dim = number,
            "--queries" => args.queries = number,
            "--exact" => args.exact = number,
            "--threads" => args.params.threads = number,
            "--m" => args.params.connectivity = number,
            "--ef-add" => args.params.expansion_add = number,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    args.exact = args.exact.min(args.queries);
    if args.efs.is_empty() {
        args.efs.push(args.params.expansion_search);
    }
    args.params.expansion_search = args.efs[0];
    Ok(args)
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::exit(2);
        }
    };
    if let Err(err) = run(&args) {
        eprintln!("error: {err:#}");
        std::process::exit(2);
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let Args { n, dim, queries: n_queries, exact: n_exact, params, .. } = *args;
    println!("n={n} dim={dim} queries={n_queries} exact={n_exact} params={params:?}");

    // About 300 vectors per topic, like a corpus of many small documents.
    let mixture = synthetic::Mixture::new(dim, (n / 300).max(1), 7);
    let started = Instant::now();
    let data = mixture.sample(n, 1);
    let queries = mixture.sample(n_queries, 2);
    println!("generated data in {:.1?}", started.elapsed());

    let mut hnsw = HnswIndex::new(dim, Metric::InnerProduct, params)?;
    let started = Instant::now();
    for (batch_idx, batch) in data.chunks(BATCH * dim).enumerate() {
        let first_key = (batch_idx * BATCH) as u64;
        let items: Vec<(u64, &[f32])> =
            batch.chunks_exact(dim).enumerate().map(|(i, v)| (first_key + i as u64, v)).collect();
        hnsw.upsert(&items)?;
    }
    let build = started.elapsed();
    println!(
        "build: {build:.2?} ({:.0} vectors/s on {} threads), memory ~{:.1} MiB",
        n as f64 / build.as_secs_f64(),
        params.threads,
        hnsw.memory_usage_bytes() as f64 / MIB
    );

    let dir = tempfile::tempdir()?;
    let path = dir.path().join("scale.usearch");
    let started = Instant::now();
    hnsw.save(&path)?;
    let saved = started.elapsed();
    let file_bytes = fs_err::metadata(&path)?.len();
    let mut flat = FlatIndex::new(dim, Metric::InnerProduct)?;
    let items: Vec<(u64, &[f32])> =
        data.chunks_exact(dim).enumerate().map(|(i, v)| (i as u64, v)).collect();
    flat.upsert(&items)?;
    drop(hnsw);

    let two_percent = |key: u64| key.is_multiple_of(50);
    let filters =
        [("unfiltered", None), ("filter 2%", Some(&two_percent as &dyn tamis_core::KeyFilter))];
    // The exact answers, once per filter, for the first `n_exact` queries.
    let mut exact_answers = Vec::new();
    for (_, filter) in filters {
        let started = Instant::now();
        let mut answers: Vec<Vec<u64>> = Vec::with_capacity(n_exact);
        for query in queries.chunks_exact(dim).take(n_exact) {
            answers.push(flat.search(query, K, filter)?.iter().map(|hit| hit.key).collect());
        }
        exact_answers.push((answers, started.elapsed() / n_exact.max(1) as u32));
    }

    for (ef_idx, &ef) in args.efs.iter().enumerate() {
        let started = Instant::now();
        let hnsw = HnswIndex::load_with(&path, HnswParams { expansion_search: ef, ..params })?;
        if ef_idx == 0 {
            println!(
                "file: {:.1} MiB ({:.0} bytes/vector), saved in {saved:.2?}, loaded in {:.2?}",
                file_bytes as f64 / MIB,
                file_bytes as f64 / n as f64,
                started.elapsed()
            );
        }
        for ((label, filter), (answers, exact_latency)) in filters.iter().zip(&exact_answers) {
            let mut latencies = Vec::with_capacity(n_queries);
            let mut results = Vec::with_capacity(n_queries);
            for query in queries.chunks_exact(dim) {
                let started = Instant::now();
                let hits = hnsw.search(query, K, *filter)?;
                latencies.push(started.elapsed());
                results.push(hits);
            }
            let mut recall_sum = 0.0;
            for (exact, hits) in answers.iter().zip(&results) {
                let found: Vec<u64> = hits.iter().map(|hit| hit.key).collect();
                recall_sum += synthetic::recall(exact, &found);
            }
            latencies.sort_unstable();
            println!(
                "ef {ef} {label}: p50 {:.1?}, p99 {:.1?}, mean {:.1?} per query; recall@{K} {:.4} over {n_exact} queries (flat scan {:.1?} per query)",
                percentile(&latencies, 0.50),
                percentile(&latencies, 0.99),
                latencies.iter().sum::<Duration>() / n_queries.max(1) as u32,
                recall_sum / n_exact.max(1) as f64,
                exact_latency,
            );
        }
    }
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// The `q`-quantile of sorted latencies (nearest rank).
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
