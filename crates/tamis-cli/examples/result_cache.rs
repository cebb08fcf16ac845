//! The result cache on a replayed NFCorpus workload: hit rate per level, latency with
//! and without the cache, and the quality of the answers it serves against running the
//! full pipeline for every request, with the paraphrase threshold swept.
//!
//! ```text
//! cargo build --release -p tamis-cli --example result_cache
//! target/release/examples/result_cache [--dataset ../shared/datasets/nfcorpus] \
//!     [--model ../shared/models/all-MiniLM-L6-v2] \
//!     [--reranker ../shared/models/tamis-ce-minilm-l6-nfcorpus] \
//!     [--index /tmp/tamis-result-cache-index] [--requests 2000] [--zipf 1.0] \
//!     [--candidates 20] [--seed 7]
//! ```
//!
//! Workload: `--requests` requests over the test queries, each drawn from a Zipf
//! distribution (exponent `--zipf`) over the queries in a seeded order, then rewritten by
//! one perturbation: 40 % none, 12 % each of lowercase, punctuation (removed, a `?`
//! added), reversed word order, English stop words dropped, and Title Case with doubled
//! spaces. A perturbation is a function of the query, so a popular phrasing recurs, as
//! in real traffic. NFCorpus' BEIR files hold one formulation per query (three titles
//! appear twice, under other ids), so there are no alternative formulations to add.
//!
//! Pipelines: hybrid (RRF) → the cross-encoder over the top `--candidates`, k = 10; and
//! BM25 alone, where the lexical rules apply. The index is NFCorpus, one chunk per
//! document (built once into `--index`).
//!
//! Reference pass: every distinct request text runs the whole pipeline once, models
//! uncached: its answer is "the full pipeline", and its wall time is what a request for
//! it costs without the cache. Replays: each configuration replays the workload through a
//! fresh `ResultCache` (1024 answers); a hit's time is measured, a miss costs its text's
//! reference time (the replay's own misses run with the cross-encoder's scores cached
//! from the reference pass, to save minutes, so their time is not theirs). Quality:
//! nDCG@10 of each served answer against the request's judgments, beside the reference
//! answer's; exact and normalized hits must equal the reference answer hit for hit, or
//! the run fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::Arc;

use tamis_engine::cache::CachedReranker;
use tamis_engine::chunker::ChunkMode;
use tamis_engine::pipeline::{PipelineHit, PipelineRequest, RerankStage};
use tamis_engine::result_cache::{CacheLevel, Paraphrase, ResultCache, ResultCacheConfig};
use tamis_engine::{Index, IndexSettings, IngestModels, SearchMode, SearchRequest};
use tamis_eval::{Dataset, EvalConfig, Evaluator, Metric, QueryScope, Run};
use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, ModelDir, ModelOrigin,
};
use tamis_testkit::SeededRng;

const K: usize = 10;
const THRESHOLDS: [f32; 11] = [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.90, 0.85, 0.80];

#[derive(Debug)]
struct Args {
    dataset: PathBuf,
    model: PathBuf,
    reranker: PathBuf,
    index: PathBuf,
    requests: usize,
    zipf: f64,
    candidates: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dataset: PathBuf::from("../shared/datasets/nfcorpus"),
        model: PathBuf::from("../shared/models/all-MiniLM-L6-v2"),
        reranker: PathBuf::from("../shared/models/tamis-ce-minilm-l6-nfcorpus"),
        index: std::env::temp_dir().join("tamis-result-cache-index"),
        requests: 2000,
        zipf: 1.0,
        candidates: 20,
        seed: 7,
    };
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let value = raw.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number =
            || value.parse::<usize>().map_err(|_| format!("{flag}: '{value}' is not a number"));
        match flag.as_str() {
            "--dataset" => args.dataset = PathBuf::from(&value),
            "--model" => args.model = PathBuf::from(&value),
            "--reranker" => args.reranker = PathBuf::from(&value),
            "--index" => args.index = PathBuf::from(&value),
            "--requests" => args.requests = number()?,
            "--candidates" => args.candidates = number()?.max(K),
            "--seed" => args.seed = number()? as u64,
            "--zipf" => {
                args.zipf =
                    value.parse().map_err(|_| format!("--zipf: '{value}' is not a number"))?
            }
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(args)
}

fn main() {
    let result = parse_args().map_err(|e| e.into()).and_then(|args| run(&args));
    if let Err(err) = result {
        eprintln!("error: {err}");
        std::process::exit(2);
    }
}

/// How a request rewrites its query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Perturbation {
    None,
    Lowercase,
    Punctuation,
    Order,
    StopWords,
    Spacing,
}

impl Perturbation {
    const ALL: [Perturbation; 6] = [
        Perturbation::None,
        Perturbation::Lowercase,
        Perturbation::Punctuation,
        Perturbation::Order,
        Perturbation::StopWords,
        Perturbation::Spacing,
    ];

    fn name(self) -> &'static str {
        match self {
            Perturbation::None => "none",
            Perturbation::Lowercase => "lowercase",
            Perturbation::Punctuation => "punctuation",
            Perturbation::Order => "word order",
            Perturbation::StopWords => "stop words dropped",
            Perturbation::Spacing => "Title Case, spaces",
        }
    }

    /// 40 % none, 12 % each of the others.
    fn draw(rng: &mut SeededRng) -> Perturbation {
        let u = rng.unit();
        if u < 0.4 {
            return Perturbation::None;
        }
        Perturbation::ALL[1 + (((u - 0.4) / 0.12) as usize).min(4)]
    }

    fn apply(self, query: &str) -> String {
        let words: Vec<&str> = query.split_whitespace().collect();
        match self {
            Perturbation::None => query.to_string(),
            Perturbation::Lowercase => query.to_lowercase(),
            Perturbation::Punctuation => {
                let bare: String = query.chars().filter(|c| !c.is_ascii_punctuation()).collect();
                format!("{}?", bare.split_whitespace().collect::<Vec<_>>().join(" "))
            }
            Perturbation::Order => words.iter().rev().copied().collect::<Vec<_>>().join(" "),
            Perturbation::StopWords => words
                .iter()
                .filter(|w| {
                    !tamis_analysis::ENGLISH_STOP_WORDS.contains(&w.to_lowercase().as_str())
                })
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            Perturbation::Spacing => {
                let titled: Vec<String> = words
                    .iter()
                    .map(|w| {
                        let mut chars = w.chars();
                        chars.next().map_or_else(String::new, |first| {
                            first.to_uppercase().chain(chars.flat_map(char::to_lowercase)).collect()
                        })
                    })
                    .collect();
                format!("{}  ", titled.join("  "))
            }
        }
    }
}

/// One request of the workload.
struct Request {
    query_id: String,
    text: String,
    perturbation: Perturbation,
}

fn workload(dataset: &Dataset, args: &Args) -> Vec<Request> {
    let mut rng = SeededRng(args.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut order: Vec<usize> = (0..dataset.queries.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let mut cdf: Vec<f64> = (1..=order.len()).map(|r| 1.0 / (r as f64).powf(args.zipf)).collect();
    let total: f64 = cdf.iter().sum();
    let mut sum = 0.0;
    for c in &mut cdf {
        sum += *c / total;
        *c = sum;
    }
    (0..args.requests)
        .map(|_| {
            let u = rng.unit();
            let rank = cdf.partition_point(|&c| c < u).min(order.len() - 1);
            let query = &dataset.queries[order[rank]];
            let perturbation = Perturbation::draw(&mut rng);
            let mut text = perturbation.apply(&query.text);
            if text.trim().is_empty() {
                text = query.text.clone();
            }
            Request { query_id: query.id.clone(), text, perturbation }
        })
        .collect()
}

fn local(path: &Path) -> ModelDir {
    ModelDir { path: path.to_path_buf(), origin: ModelOrigin::Local }
}

fn cpu_model() -> String {
    fs_err::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn open_index(args: &Args, bi: &BiEncoder) -> Result<Index, Box<dyn std::error::Error>> {
    if args.index.join("store.sqlite").is_file() {
        return Ok(tamis_embedded::open(&args.index)?);
    }
    let mut settings = IndexSettings::new(args.model.display().to_string(), bi.dimension());
    settings.chunking.mode = ChunkMode::Whole;
    let mut index = tamis_embedded::create(&args.index, settings)?;
    let docs: Vec<_> = tamis_eval::corpus_docs(&args.dataset)?.collect::<Result<_, _>>()?;
    eprintln!("indexing {} documents into {}", docs.len(), args.index.display());
    for batch in docs.chunks(256) {
        index.ingest_batch(batch, IngestModels::new(bi, bi))?;
    }
    index.flush()?;
    Ok(index)
}

fn ids(hits: &[PipelineHit]) -> Vec<String> {
    hits.iter().map(|h| h.doc_id.clone()).collect()
}

/// nDCG@10 of one ranked list for one query, memoized.
struct Judge<'q> {
    evaluator: Evaluator<'q>,
    memo: HashMap<(String, Vec<String>), f64>,
}

impl Judge<'_> {
    fn ndcg(&mut self, query_id: &str, docs: &[String]) -> f64 {
        let key = (query_id.to_string(), docs.to_vec());
        if let Some(&value) = self.memo.get(&key) {
            return value;
        }
        let mut run = Run::new();
        let n = docs.len();
        run.insert_query(
            query_id,
            docs.iter().enumerate().map(|(i, d)| (d.clone(), (n - i) as f64)),
        );
        let report = self.evaluator.evaluate(&run);
        let value =
            report.per_query.get(query_id).and_then(|m| m.get(Metric::Ndcg(10))).unwrap_or(0.0);
        self.memo.insert(key, value);
        value
    }
}

/// The pipeline of one request: stage 1, then the optional reranker over the candidates.
fn pipeline_request<'a>(
    text: &'a str,
    mode: SearchMode,
    stage: Option<RerankStage<'a>>,
    candidates: usize,
) -> PipelineRequest<'a> {
    let reranks = stage.is_some();
    let mut request =
        PipelineRequest::new(SearchRequest::new(text, mode), stage.into_iter().collect());
    request.search.k = if reranks { candidates } else { K };
    request.k = K;
    request
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1e3
}

/// What one replay measured.
#[derive(Default)]
struct Replay {
    levels: HashMap<&'static str, usize>,
    latencies: Vec<Duration>,
    hit_latencies: Vec<Duration>,
    served_ndcg: f64,
    identical: usize,
    /// Paraphrase hits answered with the entry of another test query.
    other_query: usize,
    /// Per level: requests, nDCG served, nDCG reference.
    by_level: HashMap<&'static str, (usize, f64, f64)>,
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let dataset = Dataset::load(&args.dataset, "test")?;
    let bi = BiEncoder::load(&local(&args.model), &BiEncoderConfig::default())?;
    let ce = Arc::new(CrossEncoder::load(&local(&args.reranker), &CrossEncoderConfig::default())?);
    let index = open_index(args, &bi)?;
    let requests = workload(&dataset, args);
    let config = EvalConfig {
        metrics: vec![Metric::Ndcg(10)],
        scope: QueryScope::Answered,
        ..EvalConfig::default()
    };
    let mut judge =
        Judge { evaluator: Evaluator::new(&dataset.qrels, config)?, memo: HashMap::new() };
    let distinct_queries: std::collections::HashSet<&str> =
        requests.iter().map(|r| r.query_id.as_str()).collect();
    let distinct_texts: std::collections::HashSet<&str> =
        requests.iter().map(|r| r.text.as_str()).collect();
    println!("# Result cache on a replayed NFCorpus workload\n");
    println!(
        "CPU: {} ({} threads). Workload: {} requests, Zipf s = {} over {} test queries ({} drawn), \
         {} distinct texts; seed {}.\n",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        requests.len(),
        args.zipf,
        dataset.queries.len(),
        distinct_queries.len(),
        distinct_texts.len(),
        args.seed
    );
    let mut mix: Vec<(&str, usize)> = Perturbation::ALL
        .iter()
        .map(|p| (p.name(), requests.iter().filter(|r| r.perturbation == *p).count()))
        .collect();
    mix.retain(|(_, n)| *n > 0);
    let mix: Vec<String> = mix.iter().map(|(name, n)| format!("{name} {n}")).collect();
    println!("Perturbations: {}.\n", mix.join(", "));

    let scored =
        CachedReranker::new(ce, "ce", std::num::NonZeroUsize::new(4_000_000).ok_or("capacity")?);
    let pipelines: [(&str, SearchMode, bool); 2] =
        [("hybrid → cross-encoder", SearchMode::Hybrid, true), ("bm25", SearchMode::Bm25, false)];
    // The test queries each text stands for (three titles are two queries' each).
    let mut owners: HashMap<&str, Vec<&str>> = HashMap::new();
    for request in &requests {
        let ids = owners.entry(request.text.as_str()).or_default();
        if !ids.contains(&request.query_id.as_str()) {
            ids.push(&request.query_id);
        }
    }
    let mut failures = 0;
    for (name, mode, rerank) in pipelines {
        let stage = rerank.then_some(RerankStage::new("ce", &scored, args.candidates));
        let request_for = |text| pipeline_request(text, mode, stage, args.candidates);
        // Reference: each distinct text once, through the whole pipeline.
        let started = Instant::now();
        let mut reference: HashMap<&str, (Duration, Vec<String>, Vec<PipelineHit>)> =
            HashMap::new();
        for request in &requests {
            if reference.contains_key(request.text.as_str()) {
                continue;
            }
            let t = Instant::now();
            let response = index.search_and_rerank(&request_for(&request.text), Some(&bi))?;
            let elapsed = t.elapsed();
            reference.insert(&request.text, (elapsed, ids(&response.hits), response.hits));
        }
        eprintln!(
            "{name}: reference pass over {} texts in {:.0} s",
            reference.len(),
            started.elapsed().as_secs_f64()
        );
        let mut uncached: Vec<Duration> =
            requests.iter().map(|r| reference[r.text.as_str()].0).collect();
        uncached.sort();
        let reference_ndcg: f64 = requests
            .iter()
            .map(|r| judge.ndcg(&r.query_id, &reference[r.text.as_str()].1))
            .sum::<f64>()
            / requests.len() as f64;
        println!("## {name}\n");
        println!(
            "Without the cache (the full pipeline for every request): p50 {:.2} ms, p99 {:.2} ms; nDCG@10 over the requests {:.4}.\n",
            percentile(&uncached, 0.5),
            percentile(&uncached, 0.99),
            reference_ndcg
        );
        println!(
            "| paraphrase cosine | exact | normalized | paraphrase | of another query | miss | hit rate | p50 ms | p99 ms | hit p50 ms | nDCG@10 served | Δ vs full | answers identical |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        let mut configs: Vec<Option<f32>> = vec![None];
        if mode != SearchMode::Bm25 {
            configs.extend(THRESHOLDS.iter().map(|&t| Some(t)));
        }
        let mut level_table = Vec::new();
        for threshold in configs {
            let cache = ResultCache::new(ResultCacheConfig::default());
            let paraphrase = threshold.map(|min_cosine| Paraphrase { min_cosine, confirm: None });
            let mut replay = Replay::default();
            for request in &requests {
                let (ref_time, ref_ids, ref_hits) = &reference[request.text.as_str()];
                let t = Instant::now();
                let answer = index.search_cached_with(
                    &cache,
                    &request_for(&request.text),
                    Some(&bi),
                    paraphrase.as_ref(),
                )?;
                let elapsed = t.elapsed();
                let level = match answer.hit.as_ref().map(|h| h.level) {
                    Some(CacheLevel::Exact) => "exact",
                    Some(CacheLevel::Normalized) => "normalized",
                    Some(CacheLevel::Paraphrase) => "paraphrase",
                    None => "miss",
                };
                *replay.levels.entry(level).or_default() += 1;
                if let Some(hit) = answer.hit.as_ref().filter(|h| h.level == CacheLevel::Paraphrase)
                    && !owners
                        .get(hit.query.as_str())
                        .is_some_and(|ids| ids.contains(&request.query_id.as_str()))
                {
                    replay.other_query += 1;
                }
                let served = ids(&answer.response.hits);
                if level == "miss" {
                    replay.latencies.push(*ref_time);
                } else {
                    replay.latencies.push(elapsed);
                    replay.hit_latencies.push(elapsed);
                }
                if matches!(level, "exact" | "normalized") && answer.response.hits != *ref_hits {
                    eprintln!("NOT THE FULL PIPELINE'S ANSWER: {level} hit for {:?}", request.text);
                    failures += 1;
                }
                replay.identical += usize::from(served == *ref_ids);
                let served_ndcg = judge.ndcg(&request.query_id, &served);
                let ref_ndcg = judge.ndcg(&request.query_id, ref_ids);
                replay.served_ndcg += served_ndcg;
                let entry = replay.by_level.entry(level).or_default();
                entry.0 += 1;
                entry.1 += served_ndcg;
                entry.2 += ref_ndcg;
            }
            replay.latencies.sort();
            replay.hit_latencies.sort();
            let n = requests.len() as f64;
            let count = |level| replay.levels.get(level).copied().unwrap_or(0);
            let hits = n as usize - count("miss");
            let served = replay.served_ndcg / n;
            println!(
                "| {} | {} | {} | {} | {} | {} | {:.1} % | {:.2} | {:.2} | {:.3} | {:.4} | {:+.4} | {:.1} % |",
                threshold.map_or("off".to_string(), |t| format!("{t:.2}")),
                count("exact"),
                count("normalized"),
                count("paraphrase"),
                replay.other_query,
                count("miss"),
                100.0 * hits as f64 / n,
                percentile(&replay.latencies, 0.5),
                percentile(&replay.latencies, 0.99),
                percentile(&replay.hit_latencies, 0.5),
                served,
                served - reference_ndcg,
                100.0 * replay.identical as f64 / n,
            );
            level_table.push((threshold, replay.by_level));
        }
        println!(
            "\nPer level (requests; mean nDCG@10 of the served answers / of the full pipeline's for the same requests):\n"
        );
        println!("| paraphrase cosine | exact | normalized | paraphrase | miss |");
        println!("|---|---|---|---|---|");
        for (threshold, by_level) in level_table {
            let cell = |level: &str| {
                by_level.get(level).map_or("0".to_string(), |(n, s, r)| {
                    format!("{n}: {:.4} / {:.4}", s / *n as f64, r / *n as f64)
                })
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                threshold.map_or("off".to_string(), |t| format!("{t:.2}")),
                cell("exact"),
                cell("normalized"),
                cell("paraphrase"),
                cell("miss"),
            );
        }
        println!();
    }
    if failures > 0 {
        return Err(
            format!("{failures} exact or normalized hits differed from the full pipeline").into()
        );
    }
    Ok(())
}
