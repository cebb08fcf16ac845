//! Stage 1 at scale, the embedded index against PostgreSQL + pgvector: ingest rate,
//! single-query dense latency (p50, p99) and recall@10 against exact search.
//!
//! ```text
//! scripts/postgres/with-postgres.sh cargo run --release -p tamis-cli \
//!     --example stage1_scale -- [--n 100000] [--dim 384] [--queries 1000] [--exact 200] \
//!     [--batch 1000] [--url postgres://…]
//! ```
//!
//! Both backends get the same synthetic unit vectors (a seeded mixture of low-rank
//! clusters, `tamis-vector/src/synthetic.rs`), one chunk per document, written in batches
//! of `--batch` through the engine's `Backend::write_batch` (store, lexical index and HNSW
//! graph; PostgreSQL's HNSW index is maintained by the inserts), then `flush` (the
//! embedded graph is saved) and, for PostgreSQL, `ANALYZE`. Queries go one at a time
//! through `Backend::stage1` (dense only, top 10) from one thread; recall@10 compares
//! document ids with a `FlatIndex` over the same vectors on the first `--exact` queries.
//! The URL defaults to `TAMIS_PG_URL`.
//!
//! It lives with the CLI, the one crate that depends on both backends, so that neither
//! backend crate needs the other even as a dev-dependency.

use std::time::{Duration, Instant};

use tamis_embedded::EmbeddedBackend;
use tamis_engine::backend::{Backend, Stage1Query};
use tamis_engine::{Document, IndexSettings, NewChunk};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions};
use tamis_vector::{FlatIndex, Metric, VectorIndex};

#[allow(dead_code)]
#[path = "../../tamis-vector/src/synthetic.rs"]
mod synthetic;

const K: usize = 10;

#[derive(Debug)]
struct Args {
    url: Option<String>,
    n: usize,
    dim: usize,
    queries: usize,
    exact: usize,
    batch: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: std::env::var("TAMIS_PG_URL").ok(),
        n: 100_000,
        dim: 384,
        queries: 1000,
        exact: 200,
        batch: 1000,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if flag == "--url" {
            args.url = Some(value);
            continue;
        }
        let number: usize =
            value.parse().map_err(|_| format!("{flag}: '{value}' is not a number"))?;
        match flag.as_str() {
            "--n" => args.n = number,
            "--dim" => args.dim = number,
            "--queries" => args.queries = number,
            "--exact" => args.exact = number,
            "--batch" => args.batch = number.max(1),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    args.exact = args.exact.min(args.queries);
    Ok(args)
}

fn main() {
    let result = parse_args().map_err(|e| e.into()).and_then(|args| run(&args));
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
}

/// What one backend measured.
struct Measured {
    name: &'static str,
    ingest: Duration,
    p50: Duration,
    p99: Duration,
    recall: f64,
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = args.url.clone().ok_or("give --url or set TAMIS_PG_URL")?;
    let Args { n, dim, queries: n_queries, exact: n_exact, batch, .. } = *args;
    println!("n={n} dim={dim} queries={n_queries} exact={n_exact} batch={batch}");
    let mixture = synthetic::Mixture::new(dim, (n / 300).max(1), 7);
    let data = mixture.sample(n, 1);
    let queries = mixture.sample(n_queries, 2);

    let mut flat = FlatIndex::new(dim, Metric::InnerProduct)?;
    let items: Vec<(u64, &[f32])> =
        data.chunks_exact(dim).enumerate().map(|(i, v)| (i as u64, v)).collect();
    flat.upsert(&items)?;
    let exact: Vec<Vec<String>> = queries
        .chunks_exact(dim)
        .take(n_exact)
        .map(|q| {
            let hits = flat.search(q, K, None)?;
            Ok(hits.iter().map(|h| format!("d{}", h.key)).collect())
        })
        .collect::<Result<_, tamis_vector::Error>>()?;
    drop(flat);

    let settings = IndexSettings::new("synthetic", dim);
    let dir = tempfile::tempdir()?;
    let mut embedded = EmbeddedBackend::create(dir.path(), settings.clone())?;
    let config = PgConfig::from_url(&url)?;
    let options = PgOptions { normalized: true, ..Default::default() };
    let catalog = PgCatalog::connect(&config, options)?;
    let name = format!("stage1-scale-{}", std::process::id());
    let index = catalog.create_with(&name, &settings, options)?;
    drop(index);
    let mut postgres = catalog.open_backend(&name)?.ok_or("the new collection is missing")?;

    let mut results = Vec::new();
    let backends: [(&'static str, &mut dyn Backend); 2] =
        [("embedded", &mut embedded), ("postgres", &mut postgres)];
    for (label, backend) in backends {
        let measured = measure(label, backend, args, &data, &queries, &exact, || {
            if label == "postgres" {
                let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
                client.batch_execute("ANALYZE")?;
            }
            Ok(())
        });
        results.push(measured?);
    }
    tamis_engine::backend::Catalog::remove(&catalog, &name)?;

    println!("\n| backend | ingest | docs/s | p50 | p99 | recall@10 |");
    println!("|---|---|---|---|---|---|");
    for m in &results {
        println!(
            "| {} | {:.1} s | {:.0} | {:.2} ms | {:.2} ms | {:.4} |",
            m.name,
            m.ingest.as_secs_f64(),
            n as f64 / m.ingest.as_secs_f64(),
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            m.recall
        );
    }
    Ok(())
}

fn measure(
    name: &'static str,
    backend: &mut dyn Backend,
    args: &Args,
    data: &[f32],
    queries: &[f32],
    exact: &[Vec<String>],
    after_ingest: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<Measured, Box<dyn std::error::Error>> {
    let dim = args.dim;
    let started = Instant::now();
    for (batch_idx, vectors) in data.chunks(args.batch * dim).enumerate() {
        let batch: Vec<(Document, Vec<NewChunk>)> = vectors
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, vector)| {
                let i = batch_idx * args.batch + i;
                let text = format!("synthetic document {i}");
                let doc = Document {
                    id: format!("d{i}"),
                    title: String::new(),
                    text: text.clone(),
                    metadata: None,
                };
                (doc, vec![NewChunk { text, vector: vector.to_vec(), tokens: None }])
            })
            .collect();
        backend.write_batch(&batch)?;
    }
    backend.flush()?;
    after_ingest()?;
    let ingest = started.elapsed();
    println!("{name}: ingested in {ingest:.1?}; {:?}", backend.stats()?);

    let mut latencies = Vec::with_capacity(args.queries);
    let mut found = 0usize;
    for (query_idx, query) in queries.chunks_exact(dim).enumerate() {
        let request = Stage1Query {
            text: None,
            vector: Some(query),
            depth: K,
            filter: None,
            ef_search: None,
            bm25: None,
        };
        let started = Instant::now();
        let lists = backend.stage1(&request)?;
        latencies.push(started.elapsed());
        if let Some(expected) = exact.get(query_idx) {
            let keys: Vec<u64> = lists.dense.iter().map(|h| h.key).collect();
            let ids: Vec<String> = backend.chunks(&keys)?.into_iter().map(|c| c.doc_id).collect();
            found += expected.iter().filter(|id| ids.contains(id)).count();
        }
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let recall = found as f64 / (exact.len() * K).max(1) as f64;
    Ok(Measured { name, ingest, p50: at(0.5), p99: at(0.99), recall })
}
