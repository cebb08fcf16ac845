//! `tamis bench`: the speed of what sets tamis' latency, measured on this machine.
//!
//! `gemm` measures the CPU's peak FMA rate and the rate the encoder's dense layers
//! reach; `rerank` and `embed` time the real models over a workload file, or serve a
//! peer-benchmark harness over standard input and output (`--stdio`), so that every
//! engine is timed by the same clock (`scripts/bench/peers/`).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tamis_core::{Reranker, ScoreActivation};
use tamis_kernels::Linear;
use tamis_models::{
    BiEncoder, BiEncoderConfig, CrossEncoder, CrossEncoderConfig, LateInteractionConfig,
    LateInteractionModel, LateRole, LlmReranker, LlmRerankerConfig, ModelDir, Prompt,
};

use crate::jsonl::{progress, read_lines};
use crate::model_args::{ModelArgs, Role, configure_threads};
use crate::stage_args::LlmArgs;

mod ingest;
mod train;

/// Measure tamis' speed on this machine.
///
/// Examples:
///   tamis bench gemm
///   tamis bench rerank --model ../shared/models/tamis-ce-minilm-l6-nfcorpus \
///     --max-length 256 --workload rerank.jsonl
///   tamis bench embed --model ../shared/models/all-MiniLM-L6-v2 --workload embed.jsonl
///   tamis bench ingest --model ../shared/models/all-MiniLM-L6-v2 --input corpus.jsonl
///   tamis bench train --base ../shared/models/all-MiniLM-L6-v2 --groups groups.jsonl
///
/// `scripts/bench/peers/run.sh` runs the same workloads through ONNX Runtime and
/// sentence-transformers in one run, alternating engines, and prints the ratios;
/// `scripts/bench/peers/train.sh` does the same for training steps.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    Gemm(GemmArgs),
    Rerank(RerankBenchArgs),
    Embed(EmbedBenchArgs),
    Ingest(ingest::IngestBenchArgs),
    Train(train::TrainBenchArgs),
}

/// The CPU's peak FMA, int8 and bf16 throughput, and the throughput of a transformer's
/// dense layers (fused QKV, attention output, FFN in and out) in f32, int8 and bf16, each
/// as a fraction of its peak, and in bf16x3 (its speedup over f32).
#[derive(Debug, Args)]
struct GemmArgs {
    /// Threads; default: the cores available to this process.
    #[arg(long, env = "TAMIS_THREADS", value_name = "N")]
    threads: Option<usize>,

    /// Token rows per product (a batch of packed sequences).
    #[arg(long, default_value_t = 4096, value_name = "N")]
    rows: usize,

    /// Hidden width (384 for MiniLM, 768 for base models).
    #[arg(long, default_value_t = 384, value_name = "N")]
    hidden: usize,

    /// Feed-forward width (usually 4 × hidden).
    #[arg(long, default_value_t = 1536, value_name = "N")]
    intermediate: usize,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Time a cross-encoder over a workload: pairs per second, per-query p50/p95, and
/// the encoder's achieved FLOP rate against the measured FMA peak.
///
/// The workload is JSON Lines, one query per line:
///   {"query_id": "q1", "query": "...", "passages": ["...", ...]}
/// (`scripts/bench/peers/rerank_workload.py` builds it from a dataset and a stage-1
/// run). Each query's pairs are scored in one call, tokenization included.
///
/// With --stdio it loads the model, prints {"ready": true, ...}, then answers each
/// workload line read from standard input with {"logits": [...]} (raw logits of the
/// ranking label, input order) on one flushed line, until end of input.
///
/// LLM rerankers (Qwen3-Reranker, mxbai-rerank-v2) run too: their logit is the
/// difference of the two answer tokens' logits. Their FLOP rate counts the work of
/// every whole prompt, as if the query's prefix were not shared.
///
/// ColBERT models run too: each call encodes the query and its passages and scores
/// them by MaxSim ("logits" are the MaxSim sums); the FLOP rate counts the passages'
/// encoder passes.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
struct RerankBenchArgs {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    run: RunArgs,

    #[command(flatten)]
    llm: LlmArgs,

    /// LLM rerankers: run every document's whole prompt on its own instead of sharing
    /// the query's prompt prefix (same scores; to measure what sharing saves).
    #[arg(long)]
    no_prefix_sharing: bool,
}

/// Time a bi-encoder over a workload: documents per second and per-block p50/p95.
///
/// The workload is JSON Lines, one block of texts per line: {"texts": ["...", ...]}.
/// With --stdio, each block read from standard input is answered with
/// {"vectors": [[...], ...]} (normalized when the model normalizes).
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
struct EmbedBenchArgs {
    #[command(flatten)]
    model: ModelArgs,

    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The workload file.
    #[arg(long, value_name = "FILE", required_unless_present = "stdio")]
    workload: Option<PathBuf>,

    /// Serve a benchmark harness over standard input and output instead.
    #[arg(long, conflicts_with = "workload")]
    stdio: bool,

    /// Times through the whole workload.
    #[arg(long, default_value_t = 1, value_name = "N")]
    rounds: usize,

    /// Workload lines run once before timing starts.
    #[arg(long, default_value_t = 1, value_name = "N")]
    warmup: usize,

    /// Use only the first N workload lines.
    #[arg(long, value_name = "N")]
    limit: Option<usize>,

    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Deserialize)]
struct RerankLine {
    #[serde(default)]
    query_id: Option<String>,
    query: String,
    passages: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct EmbedLine {
    texts: Vec<String>,
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match &args.command {
        BenchCommand::Gemm(args) => gemm(args),
        BenchCommand::Rerank(args) => rerank(args),
        BenchCommand::Embed(args) => embed(args),
        BenchCommand::Ingest(args) => ingest::run(args),
        BenchCommand::Train(args) => train::run(args),
    }
}

fn threads_of(threads: Option<usize>) -> anyhow::Result<usize> {
    match threads {
        Some(0) => anyhow::bail!("--threads must be at least 1"),
        Some(n) => Ok(n),
        None => Ok(tamis_models::available_cores()),
    }
}

fn gemm(args: &GemmArgs) -> anyhow::Result<()> {
    let threads = threads_of(args.threads)?;
    anyhow::ensure!(
        args.rows > 0 && args.hidden > 0 && args.intermediate > 0,
        "sizes must be at least 1"
    );
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build()?;
    let probe = Duration::from_millis(500);
    let peak_one = tamis_kernels::peak::fma_peak_gflops(1, probe);
    let peak_all = tamis_kernels::peak::fma_peak_gflops(threads, probe);
    let int8_peak_one = tamis_kernels::peak::int8_peak_gops(1, probe);
    let int8_peak_all = tamis_kernels::peak::int8_peak_gops(threads, probe);
    let bf16_peak_all = tamis_kernels::peak::bf16_peak_gflops(threads, probe);
    // AMX tile products: the ceiling of the AMX int8 build (tested, not picked yet).
    let amx_int8_peak_all = tamis_kernels::amx::int8_peak_gops(threads, probe);
    let amx_bf16_peak_all = tamis_kernels::amx::bf16_peak_gflops(threads, probe);
    let int8_kernel = tamis_kernels::Int8Kernel::detected();
    // The portable bf16 build is a reference, not a mode anyone runs: time only the real one.
    let bf16_kernel = tamis_kernels::Bf16Kernel::detected();
    let bf16_runs = bf16_kernel != tamis_kernels::Bf16Kernel::Portable;
    // The bf16 products' yardstick: the peak of the instructions its build runs.
    let bf16_peak = match bf16_kernel {
        tamis_kernels::Bf16Kernel::Amx => amx_bf16_peak_all,
        _ => bf16_peak_all,
    };
    let (rows, h, i) = (args.rows, args.hidden, args.intermediate);
    let shapes = [("qkv", h, 3 * h), ("attention out", h, h), ("ffn in", h, i), ("ffn out", i, h)];
    let mut results = Vec::new();
    for (name, k, n) in shapes {
        let weight: Vec<f32> = (0..k * n).map(|j| ((j % 17) as f32 - 8.0) / 64.0).collect();
        let f32_layer = Linear::from_torch(&weight, None, n, k);
        let int8_layer = f32_layer.quantized_int8();
        let bf16_layer = f32_layer.quantized_bf16();
        let bf16x3_layer = f32_layer.quantized_bf16x3();
        let x: Vec<f32> = (0..rows * k).map(|j| ((j % 13) as f32 - 6.0) / 16.0).collect();
        let mut out = vec![0.0f32; rows * n];
        let mut time = |layer: &Linear| {
            let time = pool.install(|| {
                tamis_kernels::peak::best_time(5, || {
                    layer.forward(&x, rows, None, &mut out, threads)
                })
            });
            time.as_secs_f64()
        };
        let (f32_s, int8_s) = (time(&f32_layer), time(&int8_layer));
        let bf16_s = bf16_runs.then(|| time(&bf16_layer));
        let bf16x3_s = bf16_runs.then(|| time(&bf16x3_layer));
        let ops = tamis_kernels::matmul_flops(rows, k, n);
        let (gflops, int8_gops) = (ops / f32_s / 1e9, ops / int8_s / 1e9);
        let bf16_gflops = bf16_s.map(|s| ops / s / 1e9);
        results.push(json!({
            "layer": name, "rows": rows, "in": k, "out": n,
            "seconds": f32_s, "gflops": gflops,
            "fraction_of_peak": peak_all.map(|p| gflops / p),
            "int8_seconds": int8_s, "int8_gops": int8_gops,
            "int8_fraction_of_peak": int8_peak_all.map(|p| int8_gops / p),
            "int8_speedup": f32_s / int8_s,
            "bf16_seconds": bf16_s, "bf16_gflops": bf16_gflops,
            "bf16_fraction_of_peak": bf16_gflops.zip(bf16_peak).map(|(g, p)| g / p),
            "bf16_speedup": bf16_s.map(|s| f32_s / s),
            // Two or three bf16 products per f32 one: a speedup over f32, not a rate.
            "bf16x3_seconds": bf16x3_s, "bf16x3_speedup": bf16x3_s.map(|s| f32_s / s),
        }));
    }
    if args.json {
        let report = json!({
            "threads": threads, "fma_peak_gflops_1_thread": peak_one,
            "fma_peak_gflops": peak_all, "int8_peak_gops_1_thread": int8_peak_one,
            "int8_peak_gops": int8_peak_all, "int8_kernel": int8_kernel.name(),
            "bf16_dot_peak_gflops": bf16_peak_all, "bf16_kernel": bf16_kernel.name(),
            "amx_int8_peak_gops": amx_int8_peak_all, "amx_bf16_peak_gflops": amx_bf16_peak_all,
            "gemm": results,
        });
        println!("{report}");
        return Ok(());
    }
    match (peak_one, peak_all) {
        (Some(one), Some(all)) => println!(
            "FMA peak: {one:.1} GFLOP/s on 1 thread, {all:.1} GFLOP/s on {threads} threads"
        ),
        _ => println!("FMA peak: not measured (this CPU lacks AVX2+FMA)"),
    }
    match (int8_peak_one, int8_peak_all) {
        (Some(one), Some(all)) => println!(
            "int8 peak: {one:.1} GOP/s on 1 thread, {all:.1} GOP/s on {threads} threads \
             (int8 products run the {} build)",
            int8_kernel.name()
        ),
        _ => println!(
            "int8 peak: not measured (this CPU lacks AVX2); int8 products run the portable build"
        ),
    }
    match bf16_peak_all {
        Some(bf16) => println!(
            "bf16 dot-product peak (vdpbf16ps): {bf16:.1} GFLOP/s on {threads} threads{}",
            peak_all.map_or(String::new(), |fma| format!(", {:.2}x the FMA peak", bf16 / fma))
        ),
        None => println!("bf16 dot-product peak: not measured (this CPU lacks AVX512-BF16)"),
    }
    match amx_int8_peak_all {
        Some(amx) => println!(
            "AMX int8 peak (tdpbusd): {amx:.1} GOP/s on {threads} threads{}; the AMX int8 build is tested but not picked yet (slower than AVX512-VNNI)",
            int8_peak_all
                .map_or(String::new(), |vnni| format!(", {:.2}x the int8 peak above", amx / vnni))
        ),
        None => println!(
            "AMX int8 peak: not measured (no AMX int8 here, or Linux refused the tile state)"
        ),
    }
    match amx_bf16_peak_all {
        Some(amx) => println!(
            "AMX bf16 peak (tdpbf16ps): {amx:.1} GFLOP/s on {threads} threads{}; bf16 products run the {} build{}",
            peak_all.map_or(String::new(), |fma| format!(", {:.2}x the FMA peak", amx / fma)),
            bf16_kernel.name(),
            if bf16_kernel == tamis_kernels::Bf16Kernel::Amx {
                " (its column below is against this peak)"
            } else {
                ""
            }
        ),
        None => println!(
            "AMX bf16 peak: not measured (no AMX bf16 here, or Linux refused the tile state)"
        ),
    }
    if !bf16_runs {
        println!("bf16 products: not timed (no AVX512-BF16; --precision bf16 is refused here)");
    }
    println!(
        "{:<14} {:>18} {:>8} {:>7} {:>9} {:>7} {:>7} {:>9} {:>7} {:>7} {:>7}",
        "layer",
        "shape",
        "GFLOP/s",
        "of peak",
        "int8 GOP/s",
        "of peak",
        "speedup",
        "bf16 GF/s",
        "of peak",
        "speedup",
        "bf16x3"
    );
    let percent = |v: &serde_json::Value| {
        v.as_f64().map_or("-".to_string(), |f| format!("{:.0}%", f * 100.0))
    };
    let number = |v: &serde_json::Value| v.as_f64().map_or("-".to_string(), |f| format!("{f:.1}"));
    for r in &results {
        let shape = format!("{}x{}x{}", r["rows"], r["in"], r["out"]);
        println!(
            "{:<14} {:>18} {:>8.1} {:>7} {:>9.1} {:>7} {:>6.2}x {:>9} {:>7} {:>7} {:>7}",
            r["layer"].as_str().unwrap_or_default(),
            shape,
            r["gflops"].as_f64().unwrap_or_default(),
            percent(&r["fraction_of_peak"]),
            r["int8_gops"].as_f64().unwrap_or_default(),
            percent(&r["int8_fraction_of_peak"]),
            r["int8_speedup"].as_f64().unwrap_or_default(),
            number(&r["bf16_gflops"]),
            percent(&r["bf16_fraction_of_peak"]),
            r["bf16_speedup"].as_f64().map_or("-".to_string(), |f| format!("{f:.2}x")),
            r["bf16x3_speedup"].as_f64().map_or("-".to_string(), |f| format!("{f:.2}x")),
        );
    }
    Ok(())
}

fn load_cross_encoder(model: &ModelArgs) -> anyhow::Result<CrossEncoder> {
    configure_threads(model.source.threads);
    let config = CrossEncoderConfig {
        runtime: model.runtime(Role::Rerank),
        max_length: model.max_length,
        activation: Some(ScoreActivation::Identity),
        ..Default::default()
    };
    let dir = model.resolve()?;
    CrossEncoder::load(&dir, &config)
        .with_context(|| format!("loading cross-encoder {}", model.model))
}

/// A rerank workload, every line with passages.
fn read_rerank_workload(run: &RunArgs) -> anyhow::Result<Vec<RerankLine>> {
    read_workload(run, |line: &RerankLine| {
        anyhow::ensure!(!line.passages.is_empty(), "query {:?} has no passages", line.query_id);
        Ok(())
    })
}

/// Each line's (query, passage) pairs: one call each.
fn pairs_of(lines: &[RerankLine]) -> Vec<Vec<(&str, &str)>> {
    lines
        .iter()
        .map(|l| l.passages.iter().map(|p| (l.query.as_str(), p.as_str())).collect())
        .collect()
}

/// A ColBERT model: each call encodes the query and its passages and scores them by
/// MaxSim (the late-interaction stage when no token vectors are stored).
fn rerank_late(args: &RerankBenchArgs, dir: &ModelDir) -> anyhow::Result<()> {
    let config = LateInteractionConfig {
        runtime: args.model.runtime(Role::Rerank),
        document_length: args.model.max_length,
        ..Default::default()
    };
    let model = LateInteractionModel::load(dir, &config)
        .with_context(|| format!("loading ColBERT model {}", args.model.model))?;
    let scores = |query: &str, passages: &[&str]| -> anyhow::Result<Vec<f32>> {
        Ok(Reranker::score(&model, query, passages)?.iter().map(|s| s.score).collect())
    };
    if args.run.stdio {
        return serve_stdio(&args.model, |line: RerankLine| {
            let passages: Vec<&str> = line.passages.iter().map(String::as_str).collect();
            Ok(json!({ "logits": scores(&line.query, &passages)? }))
        });
    }
    let lines = read_rerank_workload(&args.run)?;
    let calls = pairs_of(&lines);
    let lengths: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| {
            let passages: Vec<&str> = l.passages.iter().map(String::as_str).collect();
            let inputs = model.prepare(&passages, LateRole::Document)?;
            Ok(inputs.iter().map(|input| input.ids.len()).collect())
        })
        .collect::<anyhow::Result<_>>()?;
    let encoder = model.encoder_config();
    let report = measure(
        &args.run,
        &args.model,
        |n| encoder.forward_flops(n),
        model.document_length(),
        "pairs",
        &calls,
        &lengths,
        |pairs| {
            let passages: Vec<&str> = pairs.iter().map(|(_, p)| *p).collect();
            scores(pairs[0].0, &passages).map(|_| ())
        },
    )?
    .with_precision(model.precision());
    print_report(report, args.run.json)
}

fn rerank_llm(args: &RerankBenchArgs, dir: &ModelDir) -> anyhow::Result<()> {
    let config = LlmRerankerConfig {
        runtime: args.model.runtime(Role::Rerank),
        max_length: args.model.max_length,
        kind: args.llm.kind(),
        max_pass_tokens: args.model.max_batch_tokens.unwrap_or(tamis_models::DEFAULT_PASS_TOKENS),
        share_prefix: !args.no_prefix_sharing,
    };
    let model = LlmReranker::load(dir, &config)
        .with_context(|| format!("loading LLM reranker {}", args.model.model))?;
    let instruction = args.llm.instruction.as_deref();
    let logits = |query: &str, passages: &[&str]| -> anyhow::Result<Vec<f32>> {
        Ok(model.score_passages(query, instruction, passages)?.iter().map(|s| s.logit).collect())
    };
    if args.run.stdio {
        return serve_stdio(&args.model, |line: RerankLine| {
            let passages: Vec<&str> = line.passages.iter().map(String::as_str).collect();
            Ok(json!({ "logits": logits(&line.query, &passages)? }))
        });
    }
    let lines = read_rerank_workload(&args.run)?;
    let calls = pairs_of(&lines);
    let lengths: Vec<Vec<usize>> = lines
        .iter()
        .map(|l| {
            let passages: Vec<&str> = l.passages.iter().map(String::as_str).collect();
            Ok(model
                .tokenize(&l.query, instruction, &passages)?
                .iter()
                .map(|t| t.ids.len())
                .collect())
        })
        .collect::<anyhow::Result<_>>()?;
    let decoder = model.decoder_config();
    let report = measure(
        &args.run,
        &args.model,
        // Causal attention: a row attends to half the sequence on average.
        |n| decoder.layer_flops(n, n as f64 / 2.0),
        model.max_length(),
        "pairs",
        &calls,
        &lengths,
        |pairs| {
            let passages: Vec<&str> = pairs.iter().map(|(_, p)| *p).collect();
            logits(pairs[0].0, &passages).map(|_| ())
        },
    )?
    .with_precision(model.precision());
    print_report(report, args.run.json)
}

fn load_bi_encoder(model: &ModelArgs) -> anyhow::Result<BiEncoder> {
    configure_threads(model.source.threads);
    let config = BiEncoderConfig {
        runtime: model.runtime(Role::Embed),
        max_length: model.max_length,
        ..Default::default()
    };
    let dir = model.resolve()?;
    BiEncoder::load(&dir, &config).with_context(|| format!("loading bi-encoder {}", model.model))
}

/// What a bench run prints: its settings, then throughput and latency.
#[derive(Debug, Serialize)]
struct Report {
    engine: &'static str,
    encoder: String,
    threads: usize,
    max_length: usize,
    calls: usize,
    items: usize,
    item: &'static str,
    seconds: f64,
    items_per_second: f64,
    p50_ms: f64,
    p95_ms: f64,
    mean_tokens: f64,
    gflops: f64,
    /// The model's precision (`fp32`, `int8`).
    precision: &'static str,
    /// The peak the rate is held against: the FMA peak, or the int8 peak (GOP/s), bf16
    /// dot-product peak or AMX bf16 peak (`amx-bf16`) of those modes.
    peak: &'static str,
    fma_peak_gflops: Option<f64>,
    fraction_of_peak: Option<f64>,
    /// The CPU's model name.
    cpu: String,
    /// The process's peak resident memory at the end of the run, in MiB.
    peak_rss_mib: Option<f64>,
}

impl Report {
    /// The report of a model that ran in `precision`: int8 and bf16 work is held
    /// against the CPU's peak for those instructions rather than its FMA peak.
    fn with_precision(mut self, precision: tamis_models::Precision) -> Report {
        use tamis_kernels::peak::{bf16_peak_gflops, int8_peak_gops};
        self.precision = precision.name();
        let probe = Duration::from_millis(300);
        let peak = match precision {
            tamis_models::Precision::Int8 => Some(("int8", int8_peak_gops(self.threads, probe))),
            // Held against the peak of the instructions that run the products.
            tamis_models::Precision::Bf16
                if tamis_kernels::Bf16Kernel::detected() == tamis_kernels::Bf16Kernel::Amx =>
            {
                Some(("amx-bf16", tamis_kernels::amx::bf16_peak_gflops(self.threads, probe)))
            }
            tamis_models::Precision::Bf16 => Some(("bf16", bf16_peak_gflops(self.threads, probe))),
            _ => None,
        };
        if let Some((name, rate)) = peak {
            self.peak = name;
            self.fma_peak_gflops = rate;
            self.fraction_of_peak = rate.map(|p| self.gflops / p);
        }
        self
    }
}

fn rerank(args: &RerankBenchArgs) -> anyhow::Result<()> {
    configure_threads(args.model.source.threads);
    let dir = args.model.resolve()?;
    if tamis_models::is_causal_lm(&dir.path)? {
        return rerank_llm(args, &dir);
    }
    if tamis_models::is_late_interaction(&dir.path) {
        return rerank_late(args, &dir);
    }
    let model = load_cross_encoder(&args.model)?;
    let label = model.ranking_label()?;
    if args.run.stdio {
        return serve_stdio(&args.model, |line: RerankLine| {
            let pairs: Vec<(&str, &str)> =
                line.passages.iter().map(|p| (line.query.as_str(), p.as_str())).collect();
            let logits: Vec<f32> = model.predict(&pairs)?.iter().map(|p| p.logits[label]).collect();
            Ok(json!({ "logits": logits }))
        });
    }
    let lines = read_rerank_workload(&args.run)?;
    let calls = pairs_of(&lines);
    let lengths: Vec<Vec<usize>> = calls
        .iter()
        .map(|pairs| Ok(model.tokenize(pairs)?.iter().map(|t| t.ids.len()).collect()))
        .collect::<anyhow::Result<_>>()?;
    let report = measure(
        &args.run,
        &args.model,
        |n| model.encoder_config().first_token_flops(n),
        model.max_length(),
        "pairs",
        &calls,
        &lengths,
        |pairs| model.predict(pairs).map(|_| ()).map_err(Into::into),
    )?
    .with_precision(model.precision());
    print_report(report, args.run.json)
}

fn embed(args: &EmbedBenchArgs) -> anyhow::Result<()> {
    let model = load_bi_encoder(&args.model)?;
    if args.run.stdio {
        return serve_stdio(&args.model, |line: EmbedLine| {
            let texts: Vec<&str> = line.texts.iter().map(String::as_str).collect();
            Ok(json!({ "vectors": model.encode(&texts, Prompt::Default)? }))
        });
    }
    let lines: Vec<EmbedLine> = read_workload(&args.run, |line: &EmbedLine| {
        anyhow::ensure!(!line.texts.is_empty(), "a block has no texts");
        Ok(())
    })?;
    let calls: Vec<Vec<&str>> =
        lines.iter().map(|l| l.texts.iter().map(String::as_str).collect()).collect();
    let lengths: Vec<Vec<usize>> = calls
        .iter()
        .map(|texts| {
            Ok(model.tokenize(texts, Prompt::Default)?.iter().map(|t| t.ids.len()).collect())
        })
        .collect::<anyhow::Result<_>>()?;
    let report = measure(
        &args.run,
        &args.model,
        |n| model.encoder_config().forward_flops(n),
        model.max_length(),
        "documents",
        &calls,
        &lengths,
        |texts| model.encode(texts, Prompt::Default).map(|_| ()).map_err(Into::into),
    )?
    .with_precision(model.precision());
    print_report(report, args.run.json)
}

fn read_workload<T: serde::de::DeserializeOwned>(
    run: &RunArgs,
    check: impl Fn(&T) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<T>> {
    anyhow::ensure!(run.rounds > 0, "--rounds must be at least 1");
    let path = run.workload.as_deref().context("--workload is required without --stdio")?;
    let mut lines = read_lines(Some(path), |line| {
        let parsed: T = serde_json::from_str(line)
            .context("not a workload line (see tamis bench rerank --help)")?;
        check(&parsed)?;
        Ok(parsed)
    })
    .with_context(|| format!("reading workload {}", path.display()))?;
    if let Some(limit) = run.limit {
        lines.truncate(limit);
    }
    anyhow::ensure!(!lines.is_empty(), "workload {} is empty", path.display());
    Ok(lines)
}

/// Runs every call `rounds` times after `warmup` untimed ones, timing each call.
#[allow(clippy::too_many_arguments)]
fn measure<T>(
    run: &RunArgs,
    model: &ModelArgs,
    flops_of: impl Fn(usize) -> f64,
    max_length: usize,
    item: &'static str,
    calls: &[Vec<T>],
    lengths: &[Vec<usize>],
    mut call: impl FnMut(&[T]) -> anyhow::Result<()>,
) -> anyhow::Result<Report> {
    for c in calls.iter().take(run.warmup) {
        call(c)?;
    }
    // The model is loaded, so the runtime settings were validated.
    let threads = model.runtime(Role::Rerank).threads();
    let bar = progress(calls.len() * run.rounds, "calls");
    let mut times = Vec::with_capacity(calls.len() * run.rounds);
    for _ in 0..run.rounds {
        for c in calls {
            let start = Instant::now();
            call(c)?;
            times.push(start.elapsed().as_secs_f64());
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    // Measured after the run, so the probe's heat does not slow the model.
    let peak = tamis_kernels::peak::fma_peak_gflops(threads, Duration::from_millis(300));
    let seconds: f64 = times.iter().sum();
    let items = calls.iter().map(Vec::len).sum::<usize>() * run.rounds;
    let tokens: usize = lengths.iter().flatten().sum();
    // What the encoder must compute for these lengths (work it skips is not counted).
    let flops: f64 =
        lengths.iter().flatten().map(|&n| flops_of(n)).sum::<f64>() * run.rounds as f64;
    let gflops = flops / seconds / 1e9;
    times.sort_by(f64::total_cmp);
    let quantile = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize] * 1000.0;
    Ok(Report {
        engine: "tamis",
        encoder: match (model.encoder, model.no_packing) {
            (crate::model_args::EncoderArg::Candle, _) => "candle".to_string(),
            (_, true) => "native (padded)".to_string(),
            (_, false) => "native (packed)".to_string(),
        },
        threads,
        max_length,
        calls: times.len(),
        items,
        item,
        seconds,
        items_per_second: items as f64 / seconds,
        p50_ms: quantile(0.5),
        p95_ms: quantile(0.95),
        mean_tokens: tokens as f64 / lengths.iter().map(Vec::len).sum::<usize>() as f64,
        gflops,
        fma_peak_gflops: peak,
        fraction_of_peak: peak.map(|p| gflops / p),
        precision: "fp32",
        peak: "fma",
        cpu: crate::machine::cpu_model(),
        peak_rss_mib: None,
    })
}

fn print_report(mut report: Report, json: bool) -> anyhow::Result<()> {
    report.peak_rss_mib = crate::machine::peak_rss_mib();
    let report = &report;
    if json {
        println!("{}", serde_json::to_string(report)?);
        return Ok(());
    }
    println!(
        "tamis {} {} ({} threads, max length {}): {} calls, {} {}, {:.1} tokens each",
        report.encoder,
        report.precision,
        report.threads,
        report.max_length,
        report.calls,
        report.items,
        report.item,
        report.mean_tokens
    );
    println!(
        "  {:.1} {}/s   p50 {:.0} ms   p95 {:.0} ms per call",
        report.items_per_second, report.item, report.p50_ms, report.p95_ms
    );
    match (report.fma_peak_gflops, report.fraction_of_peak) {
        (Some(peak), Some(fraction)) if report.peak == "int8" => println!(
            "  encoder {:.1} GOP/s = {:.0}% of the measured int8 peak ({peak:.1} GOP/s)",
            report.gflops,
            fraction * 100.0
        ),
        (Some(peak), Some(fraction)) if report.peak == "amx-bf16" => println!(
            "  encoder {:.1} GFLOP/s = {:.0}% of the measured AMX bf16 peak ({peak:.1} GFLOP/s)",
            report.gflops,
            fraction * 100.0
        ),
        (Some(peak), Some(fraction)) if report.peak == "bf16" => println!(
            "  encoder {:.1} GFLOP/s = {:.0}% of the measured bf16 dot-product peak ({peak:.1} GFLOP/s)",
            report.gflops,
            fraction * 100.0
        ),
        (Some(peak), Some(fraction)) => println!(
            "  encoder {:.1} GFLOP/s = {:.0}% of the measured FMA peak ({peak:.1} GFLOP/s)",
            report.gflops,
            fraction * 100.0
        ),
        _ => {
            println!("  encoder {:.1} GFLOP/s (FMA peak not measurable on this CPU)", report.gflops)
        }
    }
    match report.peak_rss_mib {
        Some(rss) => println!("  {}; peak RSS {rss:.0} MiB", report.cpu),
        None => println!("  {}", report.cpu),
    }
    Ok(())
}

/// Answers one JSON line per input line until end of input; a bad line gets an
/// `{"error": ...}` line and the loop goes on.
fn serve_stdio<T: serde::de::DeserializeOwned>(
    model: &ModelArgs,
    mut answer: impl FnMut(T) -> anyhow::Result<serde_json::Value>,
) -> anyhow::Result<()> {
    // The model is loaded, so the runtime settings were validated.
    let threads = model.runtime(Role::Rerank).threads();
    let mut out = std::io::stdout().lock();
    let ready = json!({ "ready": true, "threads": threads, "engine": "tamis", "version": env!("CARGO_PKG_VERSION") });
    writeln!(out, "{ready}")?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        let line = line.context("reading standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let reply = serde_json::from_str::<T>(&line)
            .context("not a workload line")
            .and_then(&mut answer)
            .unwrap_or_else(|err| json!({ "error": format!("{err:#}") }));
        writeln!(out, "{reply}")?;
        out.flush()?;
    }
    Ok(())
}
