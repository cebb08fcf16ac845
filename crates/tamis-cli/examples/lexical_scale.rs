//! Lexical (BM25) search at scale, the embedded index against PostgreSQL: ingest rate,
//! single-query latency (p50, p99) and per-query top-10 agreement, beside a PostgreSQL
//! collection of schema version 1 (`ts_rank` over a `tsvector`), the time its
//! `rebuild_lexical` takes, and its latency after.
//!
//! ```text
//! cargo build --release -p tamis-cli --example lexical_scale
//! scripts/postgres/with-postgres.sh target/release/examples/lexical_scale \
//!     [--dataset ../shared/datasets/nfcorpus] [--n 100000] [--queries 1000] \
//!     [--batch 1000] [--legacy 0] [--keep 1] [--url postgres://…]
//! ```
//!
//! Corpus: a BEIR dataset's `corpus.jsonl` and the queries of its `qrels/test.tsv`, or
//! `--n` synthetic documents: titles of 3 to 8 and texts of 50 to 250 words drawn from a
//! Zipf distribution (s = 1.07) over 50 000 made-up words, queries of 2 to 5 words drawn
//! from the same distribution past its 100 most common words (a seeded generator: the
//! same corpus every run). One chunk per document, with a random 8-dimension vector (the
//! vector side is not measured here; `stage1_scale` measures it). Each backend gets the
//! documents in batches of `--batch` through `Backend::write_batch`, then `flush`; the
//! PostgreSQL collections then get `VACUUM ANALYZE`, as autovacuum would give them.
//! Queries go one at a time through `Backend::stage1` (text only, top 10) from one
//! thread, after one untimed pass over the first 100.
//!
//! It lives with the CLI, the one crate that depends on both backends.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tamis_embedded::EmbeddedBackend;
use tamis_engine::backend::{Backend, Catalog, Stage1Query};
use tamis_engine::chunker::ChunkMode;
use tamis_engine::{Document, IndexSettings, NewChunk};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions};
use tamis_testkit::SeededRng;

const K: usize = 10;
const DIM: usize = 8;
const WARMUP: usize = 100;

#[derive(Debug)]
struct Args {
    url: Option<String>,
    dataset: Option<PathBuf>,
    n: usize,
    queries: usize,
    batch: usize,
    /// Leave the collections in the database (for EXPLAIN).
    keep: bool,
    /// Also measure a schema 1 collection (`ts_rank`) and its rebuild.
    legacy: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        url: std::env::var("TAMIS_PG_URL").ok(),
        dataset: None,
        n: 100_000,
        queries: 1000,
        batch: 1000,
        keep: false,
        legacy: true,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number =
            || value.parse::<usize>().map_err(|_| format!("{flag}: '{value}' is not a number"));
        match flag.as_str() {
            "--url" => args.url = Some(value),
            "--dataset" => args.dataset = Some(PathBuf::from(value)),
            "--n" => args.n = number()?,
            "--queries" => args.queries = number()?,
            "--batch" => args.batch = number()?.max(1),
            "--keep" => args.keep = number()? > 0,
            "--legacy" => args.legacy = number()? > 0,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn main() {
    let result = parse_args().map_err(|e| e.into()).and_then(|args| run(&args));
    if let Err(err) = result {
        eprintln!("error: {err} ({err:?})");
        std::process::exit(2);
    }
}

/// Words and their Zipf distribution.
struct Vocabulary {
    words: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocabulary {
    fn new(size: usize, rng: &mut SeededRng) -> Vocabulary {
        const ONSETS: &[&str] = &[
            "b", "c", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st",
            "tr",
        ];
        const VOWELS: &[&str] = &["a", "e", "i", "o", "u", "ai", "ou"];
        let mut seen = HashSet::new();
        let mut words = Vec::with_capacity(size);
        while words.len() < size {
            let syllables = 2 + rng.below(3);
            let word: String = (0..syllables)
                .map(|_| {
                    format!(
                        "{}{}",
                        ONSETS[rng.below(ONSETS.len())],
                        VOWELS[rng.below(VOWELS.len())]
                    )
                })
                .collect();
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        let mut cdf = Vec::with_capacity(size);
        let mut total = 0.0;
        for rank in 1..=size {
            total += 1.0 / (rank as f64).powf(1.07);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Vocabulary { words, cdf }
    }

    /// A word's rank, drawn by frequency.
    fn rank(&self, rng: &mut SeededRng) -> usize {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u).min(self.words.len() - 1)
    }

    fn text(&self, rng: &mut SeededRng, words: usize) -> String {
        (0..words).map(|_| self.words[self.rank(rng)].as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// The corpus and queries to run.
fn workload(args: &Args) -> Result<(Vec<Document>, Vec<String>), Box<dyn std::error::Error>> {
    if let Some(dir) = &args.dataset {
        let docs = tamis_eval::corpus_docs(dir)?.collect::<Result<Vec<_>, _>>()?;
        let mut queries: Vec<String> =
            tamis_eval::Dataset::load(dir, "test")?.queries.into_iter().map(|q| q.text).collect();
        queries.truncate(args.queries);
        return Ok((docs, queries));
    }
    let mut rng = SeededRng(0x7461_6d69_7321);
    let vocabulary = Vocabulary::new(50_000, &mut rng);
    let docs = (0..args.n)
        .map(|i| {
            let (title_words, text_words) = (3 + rng.below(6), 50 + rng.below(201));
            Document {
                id: format!("d{i}"),
                title: vocabulary.text(&mut rng, title_words),
                text: vocabulary.text(&mut rng, text_words),
                metadata: None,
            }
        })
        .collect();
    let queries = (0..args.queries)
        .map(|_| {
            let n = 2 + rng.below(4);
            let words: Vec<&str> = (0..n)
                .map(|_| {
                    loop {
                        let rank = vocabulary.rank(&mut rng);
                        if rank >= 100 {
                            break vocabulary.words[rank].as_str();
                        }
                    }
                })
                .collect();
            words.join(" ")
        })
        .collect();
    Ok((docs, queries))
}

/// What one backend measured.
struct Measured {
    name: String,
    ingest: Option<Duration>,
    p50: Duration,
    p99: Duration,
    /// Each query's top 10 document ids and scores.
    results: Vec<Vec<(String, f32)>>,
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let url = args.url.clone().ok_or("give --url or set TAMIS_PG_URL")?;
    let (docs, queries) = workload(args)?;
    let mut rng = SeededRng(0x7665_6374);
    let batches: Vec<Vec<(Document, Vec<NewChunk>)>> = docs
        .chunks(args.batch)
        .map(|group| {
            group
                .iter()
                .map(|doc| {
                    let mut vector: Vec<f32> = (0..DIM).map(|_| rng.unit() as f32 - 0.5).collect();
                    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                    vector.iter_mut().for_each(|x| *x /= norm);
                    (doc.clone(), vec![NewChunk { text: doc.text.clone(), vector, tokens: None }])
                })
                .collect()
        })
        .collect();
    let tokens: usize = docs
        .iter()
        .map(|d| d.title.split_whitespace().count() + d.text.split_whitespace().count())
        .sum();
    println!(
        "{} documents ({:.0} words each on average), {} queries, batches of {}",
        docs.len(),
        tokens as f64 / docs.len().max(1) as f64,
        queries.len(),
        args.batch
    );
    drop(docs);

    let mut settings = IndexSettings::new("synthetic", DIM);
    settings.chunking.mode = ChunkMode::Whole;
    let dir = tempfile::tempdir()?;
    let config = PgConfig::from_url(&url)?;
    let options = PgOptions { normalized: true, ..Default::default() };
    let catalog = PgCatalog::connect(&config, options)?;
    let name = format!("lexical-scale-{}", std::process::id());
    let legacy_name = format!("lexical-scale-v1-{}", std::process::id());
    let vacuum = |collection: &str| -> Result<(), Box<dyn std::error::Error>> {
        let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
        let id: i64 = client
            .query_one("SELECT id FROM tamis_collections WHERE name = $1", &[&collection])?
            .get(0);
        for table in ["documents", "chunks", "postings"] {
            let table = format!("tamis_c{id}_{table}");
            let exists: bool =
                client.query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])?.get(0);
            if exists {
                client.batch_execute(&format!("VACUUM ANALYZE {table}"))?;
            }
        }
        Ok(())
    };

    let mut measured = Vec::new();
    {
        let mut embedded = EmbeddedBackend::create(dir.path(), settings.clone())?;
        let ingest = ingest(&mut embedded, &batches)?;
        measured.push(measure(
            "embedded (tantivy postings, tamis BM25)",
            &embedded,
            &queries,
            Some(ingest),
        )?);
    }
    {
        drop(catalog.create_with(&name, &settings, options)?);
        let mut postgres = catalog.open_backend(&name)?.ok_or("the new collection is missing")?;
        let ingest = ingest(&mut postgres, &batches)? + timed(|| vacuum(&name))?;
        measured.push(measure(
            "PostgreSQL, BM25 postings (schema 3)",
            &postgres,
            &queries,
            Some(ingest),
        )?);
    }
    if args.legacy {
        drop(catalog.create_legacy(&legacy_name, &settings, options, 1)?);
        let mut legacy =
            catalog.open_backend(&legacy_name)?.ok_or("the new collection is missing")?;
        let ingest = ingest(&mut legacy, &batches)? + timed(|| vacuum(&legacy_name))?;
        measured.push(measure(
            "PostgreSQL, ts_rank over tsvector (schema 1)",
            &legacy,
            &queries,
            Some(ingest),
        )?);
        let started = Instant::now();
        let done = catalog.rebuild_lexical(&legacy_name, &mut |_, _| {})?;
        let rebuild = started.elapsed();
        vacuum(&legacy_name)?;
        println!(
            "rebuild_lexical of the schema 1 collection: {} chunks, {} postings in {:.1} s ({:.0} chunks/s)",
            done.chunks,
            done.postings,
            rebuild.as_secs_f64(),
            done.chunks as f64 / rebuild.as_secs_f64()
        );
        let rebuilt = catalog.open_backend(&legacy_name)?.ok_or("the collection is missing")?;
        measured.push(measure("PostgreSQL, schema 1 rebuilt for BM25", &rebuilt, &queries, None)?);
    }
    if args.keep {
        println!("kept collections {name} and {legacy_name}");
    } else {
        catalog.remove(&name)?;
        if args.legacy {
            catalog.remove(&legacy_name)?;
        }
    }

    // The floor of any PostgreSQL query here: one statement's round trip.
    let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
    let mut trips = Vec::with_capacity(1000);
    for _ in 0..1000 {
        let started = Instant::now();
        client.query_typed("SELECT 1", &[])?;
        trips.push(started.elapsed());
    }
    trips.sort();
    println!("round trip of `SELECT 1`: p50 {:.3} ms", trips[trips.len() / 2].as_secs_f64() * 1e3);

    let n_docs = batches.iter().map(Vec::len).sum::<usize>() as f64;
    let reference = &measured[0];
    println!(
        "\n| backend | ingest | docs/s | p50 | p99 | p50 / embedded | top-10 overlap with embedded | max score difference |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for m in &measured {
        let (overlap, diff) = agreement(&reference.results, &m.results);
        println!(
            "| {} | {} | {} | {:.3} ms | {:.3} ms | {:.2} | {:.4} | {:.1e} |",
            m.name,
            m.ingest.map_or("".into(), |d| format!("{:.1} s", d.as_secs_f64())),
            m.ingest.map_or("".into(), |d| format!("{:.0}", n_docs / d.as_secs_f64())),
            m.p50.as_secs_f64() * 1e3,
            m.p99.as_secs_f64() * 1e3,
            m.p50.as_secs_f64() / reference.p50.as_secs_f64(),
            overlap,
            diff
        );
    }
    Ok(())
}

fn timed(
    f: impl FnOnce() -> Result<(), Box<dyn std::error::Error>>,
) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    f()?;
    Ok(started.elapsed())
}

fn ingest(
    backend: &mut dyn Backend,
    batches: &[Vec<(Document, Vec<NewChunk>)>],
) -> Result<Duration, Box<dyn std::error::Error>> {
    let started = Instant::now();
    for batch in batches {
        backend.write_batch(batch)?;
    }
    backend.flush()?;
    Ok(started.elapsed())
}

fn measure(
    name: &str,
    backend: &dyn Backend,
    queries: &[String],
    ingest: Option<Duration>,
) -> Result<Measured, Box<dyn std::error::Error>> {
    fn request(text: &str) -> Stage1Query<'_> {
        Stage1Query {
            text: Some(text),
            vector: None,
            depth: K,
            filter: None,
            ef_search: None,
            bm25: None,
        }
    }
    for query in queries.iter().take(WARMUP) {
        backend.stage1(&request(query))?;
    }
    let mut latencies = Vec::with_capacity(queries.len());
    let mut hits = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let lists = backend.stage1(&request(query))?;
        latencies.push(started.elapsed());
        hits.push(lists.lexical);
    }
    let mut results = Vec::with_capacity(hits.len());
    for query_hits in hits {
        let keys: Vec<u64> = query_hits.iter().map(|h| h.key).collect();
        let chunks = backend.chunks(&keys)?;
        let ids: Vec<(String, f32)> = query_hits
            .iter()
            .filter_map(|h| {
                chunks.iter().find(|c| c.key == h.key).map(|c| (c.doc_id.clone(), h.score))
            })
            .collect();
        results.push(ids);
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!("{name}: p50 {:.3} ms", at(0.5).as_secs_f64() * 1e3);
    Ok(Measured { name: name.to_string(), ingest, p50: at(0.5), p99: at(0.99), results })
}

/// Mean top-10 overlap of `other` with `reference` (a query both return nothing for
/// counts as 1), and the largest relative score difference on the documents both rank.
fn agreement(reference: &[Vec<(String, f32)>], other: &[Vec<(String, f32)>]) -> (f64, f32) {
    let mut overlap = 0.0;
    let mut diff = 0.0f32;
    for (want, got) in reference.iter().zip(other) {
        if want.is_empty() && got.is_empty() {
            overlap += 1.0;
            continue;
        }
        let ids: HashSet<&str> = want.iter().map(|h| h.0.as_str()).collect();
        overlap += got.iter().filter(|h| ids.contains(h.0.as_str())).count() as f64
            / want.len().max(got.len()) as f64;
        for (id, score) in got {
            if let Some((_, expected)) = want.iter().find(|h| &h.0 == id) {
                diff = diff.max((score - expected).abs() / expected.abs().max(1e-6));
            }
        }
    }
    (overlap / reference.len().max(1) as f64, diff)
}
