//! `tamis bench train`: training steps per second of `tamis train`'s step, on groups a
//! peer is timed on too (`scripts/bench/peers/train.sh`).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use serde::{Deserialize, Serialize};
use tamis_train::optim::AdamWConfig;
use tamis_train::trainer::{LossKind, StepGroup, Trainer, TrainerConfig};

use crate::model_args::{SourceArgs, configure_threads};

/// Time training steps: steps and pairs per second of the step `tamis train` runs
/// (tokenization, forward with dropout, listwise loss, backward, AdamW), on groups read
/// from a file, in file order, --batch-size groups a step.
///
/// The groups are JSON Lines, one per line, the positive first, every line with the same
/// number of documents: {"query": "...", "documents": ["positive", "negative", ...]}
/// (`scripts/bench/peers/train_workload.py` draws them from a dataset). --warmup-steps
/// run untimed first; the file is read again from its start if the steps need more.
///
/// Example:
///   tamis bench train --base ../shared/models/all-MiniLM-L6-v2 --groups groups.jsonl \
///     --batch-size 2 --max-length 160 --steps 40
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TrainBenchArgs {
    /// The base model (directory or hub id): a BERT bi-encoder (a new head) or cross-encoder.
    #[arg(long, value_name = "DIR|ID")]
    base: String,

    #[command(flatten)]
    source: SourceArgs,

    /// The groups file.
    #[arg(long, value_name = "FILE")]
    groups: PathBuf,

    /// Groups per step.
    #[arg(long, default_value_t = 2, value_name = "N")]
    batch_size: usize,

    /// Longest pair in tokens; longer pairs are cut, longest side first.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_length: usize,

    /// Timed steps.
    #[arg(long, default_value_t = 40, value_name = "N")]
    steps: u64,

    /// Untimed steps first.
    #[arg(long, default_value_t = 3, value_name = "N")]
    warmup_steps: u64,

    /// Seeds the new head and the dropout masks.
    #[arg(long, default_value_t = 42, value_name = "N")]
    seed: u64,

    /// Print one JSON object instead of a line.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Deserialize)]
struct GroupLine {
    query: String,
    documents: Vec<String>,
}

/// The bench's result; the peer script prints the same fields.
#[derive(Debug, Serialize)]
struct TrainReport {
    engine: &'static str,
    steps: u64,
    seconds: f64,
    steps_per_s: f64,
    pairs_per_s: f64,
    peak_rss_mib: Option<f64>,
    threads: usize,
    batch_size: usize,
    group_size: usize,
    max_length: usize,
    cpu: String,
}

pub fn run(args: &TrainBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(args.steps > 0, "--steps must be at least 1");
    configure_threads(args.source.threads);
    crate::keep_freed_memory();
    let groups = read_groups(&args.groups)?;
    let group_size = groups[0].documents.len();

    let (_, model, tokenizer, dropout) =
        crate::train::load_base(&args.source, &args.base, args.max_length, args.seed)?;
    let threads = args.source.threads.unwrap_or_else(tamis_models::available_cores);
    let total = args.warmup_steps + args.steps;
    let mut trainer = Trainer::new(
        model,
        tokenizer,
        TrainerConfig {
            loss: LossKind::Listwise,
            label_weight: 0.0,
            group_size,
            adamw: AdamWConfig::new(3e-5, total / 10, total),
            dropout,
            seed: args.seed,
            threads,
        },
    );

    let mut next = 0;
    let mut timed_from = None;
    for step in 0..total {
        if step == args.warmup_steps {
            timed_from = Some(Instant::now());
        }
        let texts: Vec<(&str, Vec<&str>)> = (0..args.batch_size)
            .map(|i| {
                let group = &groups[(next + i) % groups.len()];
                (group.query.as_str(), group.documents.iter().map(String::as_str).collect())
            })
            .collect();
        next = (next + args.batch_size) % groups.len();
        let batch: Vec<StepGroup<'_>> = texts
            .iter()
            .map(|(query, documents)| StepGroup { query, documents, teacher: None })
            .collect();
        trainer.step(&batch)?;
    }
    let seconds = timed_from.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let report = TrainReport {
        engine: "tamis",
        steps: args.steps,
        seconds,
        steps_per_s: args.steps as f64 / seconds,
        pairs_per_s: (args.steps as usize * args.batch_size * group_size) as f64 / seconds,
        peak_rss_mib: crate::machine::peak_rss_mib(),
        threads,
        batch_size: args.batch_size,
        group_size,
        max_length: args.max_length,
        cpu: crate::machine::cpu_model(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{:.3} step(s)/s, {:.1} pair(s)/s: {} step(s) of {} group(s) of {} in {:.1} s, {} thread(s), max length {}",
            report.steps_per_s,
            report.pairs_per_s,
            report.steps,
            report.batch_size,
            report.group_size,
            report.seconds,
            report.threads,
            report.max_length
        );
    }
    Ok(())
}

/// The groups of `path`: at least one, all of one size, each with a negative.
fn read_groups(path: &PathBuf) -> anyhow::Result<Vec<GroupLine>> {
    let text = fs_err::read_to_string(path)?;
    let mut groups: Vec<GroupLine> = Vec::new();
    for (number, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let group: GroupLine = serde_json::from_str(line)
            .with_context(|| format!("{} line {}", path.display(), number + 1))?;
        let size = groups.first().map_or(group.documents.len(), |g| g.documents.len());
        anyhow::ensure!(
            group.documents.len() >= 2 && group.documents.len() == size,
            "{} line {}: {} document(s); every group needs the positive and at least one negative, and as many documents as the first ({size})",
            path.display(),
            number + 1,
            group.documents.len()
        );
        groups.push(group);
    }
    anyhow::ensure!(!groups.is_empty(), "{} holds no group", path.display());
    Ok(groups)
}
