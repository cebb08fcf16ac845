//! `tamis train`: fine-tune a cross-encoder on a BEIR-layout dataset, with hard negatives
//! mined by tamis' own stage 1.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, ValueEnum};
use tamis_engine::SearchRequest;
use tamis_eval::Dataset;
use tamis_models::{EncoderConfig, PairTokenizer, Truncation};
use tamis_train::checkpoint::sibling;
use tamis_train::data::{NegativeWindow, QueryExample, epoch_groups};
use tamis_train::optim::AdamWConfig;
use tamis_train::trainer::{LossKind, StepGroup, Trainer, TrainerConfig};
use tamis_train::{CrossEncoderModel, DropoutRates};

use crate::eval::{DatasetIndex, default_cache};
use crate::index::{CreationArgs, LateArgs};
use crate::jsonl::progress;
use crate::model_args::{EngineModelArgs, configure_threads};
use crate::search::ModeArg;

mod dev;
mod schedule;
mod teacher;

use dev::{DevLog, DevSet};
use schedule::{Schedule, StepClock, Timing};

/// Fine-tune a cross-encoder on a BEIR-layout dataset's training qrels.
///
/// Each judged-relevant document of a training query makes a group with --negatives hard
/// negatives, drawn from ranks --skip to --window of tamis' own stage-1 ranking of the
/// corpus (--negatives-from; the top ranks are skipped because the best unjudged
/// documents are often relevant). The stage-1 index is built once, as `tamis eval`
/// builds it, with the bi-encoder --model.
///
/// Every --eval-every steps, and at the end, the model so far reranks stage 1's hybrid
/// top --dev-candidates of the --dev-split queries (when the dataset has that split) and
/// its nDCG@10 is measured; the best model is kept, and it is the one written to --output.
///
/// The base is a BERT or (XLM-)RoBERTa encoder: a bi-encoder (a new classification head
/// is drawn) or a cross-encoder with one label (training continues). The result is a
/// Hugging Face BertForSequenceClassification (or XLMRobertaForSequenceClassification) in
/// --output, written whole at the end; checkpoints go to OUTPUT.checkpoint every
/// --checkpoint-every steps, and --resume continues from the last one.
///
/// Example:
///   tamis train --dataset ../shared/datasets/nfcorpus --base ../shared/models/all-MiniLM-L6-v2 \
///       --model ../shared/models/all-MiniLM-L6-v2 --output nfcorpus-ce --time-budget 60m
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TrainArgs {
    /// The dataset folder (BEIR layout: corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv).
    #[arg(long, value_name = "DIR")]
    dataset: PathBuf,

    /// The qrels split to train on.
    #[arg(long, default_value = "train", value_name = "NAME")]
    split: String,

    /// The model to start from (directory or hub id): a BERT or (XLM-)RoBERTa bi-encoder
    /// or cross-encoder.
    #[arg(long, value_name = "DIR|ID")]
    base: String,

    /// Where the trained model is written (refused if it exists, unless --overwrite).
    #[arg(long, value_name = "DIR")]
    output: PathBuf,

    /// Replace --output if it exists (once the new model is complete).
    #[arg(long)]
    overwrite: bool,

    /// Continue from OUTPUT.checkpoint, written by an earlier run with the same options.
    #[arg(long)]
    resume: bool,

    /// The loss: on the qrels, listwise softmax cross-entropy over each group or
    /// pointwise BCE; on --teacher's scores, MarginMSE or KL over each group.
    #[arg(long, value_enum, default_value = "listwise")]
    loss: LossArg,

    /// Distill a reranker (directory or hub id; any cross-encoder tamis runs): before
    /// training it scores every pair a group can hold (each query's judged documents and
    /// its negative window), and --loss margin-mse or kl trains on its scores.
    #[arg(long, value_name = "DIR|ID")]
    teacher: Option<String>,

    /// The teacher's score cache, read back by later runs and resumed when a scoring
    /// pass is interrupted [default: under --cache-dir, one per teacher, dataset and
    /// split]. A file scored on another dataset, split or teacher is refused.
    #[arg(long, value_name = "FILE", requires = "teacher")]
    teacher_scores: Option<PathBuf>,

    /// With a distillation loss: the weight of the listwise loss on the qrels added to
    /// it, so that labels and teacher train together; 0 trains on the teacher alone.
    #[arg(long, default_value_t = 0.0, value_name = "W")]
    label_weight: f32,

    /// Passes over the training groups.
    #[arg(long, default_value_t = 1, value_name = "N")]
    epochs: u64,

    /// Stop after this many steps (default: the epochs' steps).
    #[arg(long, value_name = "N")]
    max_steps: Option<u64>,

    /// Stop once this much time has passed (e.g. 90s, 45m, 2h); a checkpoint is written
    /// and the model exported.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    time_budget: Option<Duration>,

    /// Groups (queries) per step; each has 1 + --negatives pairs.
    #[arg(long, default_value_t = 2, value_name = "N")]
    batch_size: usize,

    /// Peak learning rate of AdamW.
    #[arg(long, default_value_t = 3e-5, value_name = "RATE")]
    lr: f32,

    /// Share of the steps spent warming the learning rate up from 0.
    #[arg(long, default_value_t = 0.1, value_name = "FRACTION")]
    warmup: f32,

    /// AdamW's decoupled weight decay (not on biases and LayerNorm).
    #[arg(long, default_value_t = 0.01, value_name = "RATE")]
    weight_decay: f32,

    /// Tokens per (query, document) pair; the pair is cut longest-first.
    #[arg(long, default_value_t = 256, value_name = "N")]
    max_length: usize,

    /// Tokens per pair the written model reads at inference (its tokenizer's
    /// `model_max_length`; dev evaluations read as many) [default: --max-length]. Training
    /// on shorter pairs is faster, and the model may still read more of each document
    /// when it reranks: on NFCorpus, a model trained at 160 scored nDCG@10 0.011 higher
    /// reading 256.
    #[arg(long, value_name = "N")]
    export_max_length: Option<usize>,

    /// Seeds the new head, the negatives, the order and the dropout.
    #[arg(long, default_value_t = 42, value_name = "N")]
    seed: u64,

    /// Hard negatives per group.
    #[arg(long, default_value_t = 7, value_name = "N")]
    negatives: usize,

    /// The stage-1 ranking negatives are drawn from.
    #[arg(long, value_enum, default_value = "hybrid", value_name = "MODE")]
    negatives_from: ModeArg,

    /// Top ranks of that ranking never drawn as negatives.
    #[arg(long, default_value_t = 3, value_name = "N")]
    skip: usize,

    /// Ranks beyond this are never drawn as negatives.
    #[arg(long, default_value_t = 50, value_name = "N")]
    window: usize,

    /// Of the --negatives, how many are drawn at random from the whole corpus instead of
    /// the window (never a judged-relevant document): they show the model unrelated
    /// documents, which hard negatives alone never do. Not with --teacher.
    #[arg(long, default_value_t = 0, value_name = "N", conflicts_with = "teacher")]
    random_negatives: usize,

    /// Add N pseudo-queries: corpus documents' titles, each with its own body as the
    /// positive and hard negatives from stage 1's ranking of the title, every document
    /// shown without its title, shuffled in with the judged queries' groups. They teach
    /// what relevance looks like in the corpus' own words. Not with --teacher.
    #[arg(long, default_value_t = 0, value_name = "N", conflicts_with = "teacher")]
    title_queries: usize,

    /// Train only on the positives stage 1 ranks within its top K [default: every
    /// positive]. Where judgments reach far beyond what stage 1 retrieves (NFCorpus: two
    /// thirds of its train positives rank below 100), those positives look unrelated to
    /// the query beside hard negatives that look related, and teach the opposite of
    /// relevance; the reranker only ever sees stage 1's top ranks.
    #[arg(long, value_name = "K")]
    positives_within: Option<usize>,

    /// Write a checkpoint every N steps.
    #[arg(long, default_value_t = 200, value_name = "N")]
    checkpoint_every: u64,

    /// The qrels split the model is evaluated on while it trains [default: dev, when the
    /// dataset has it].
    #[arg(long, value_name = "NAME", conflicts_with = "no_dev")]
    dev_split: Option<String>,

    /// Train without dev evaluation: --output is the last step's model.
    #[arg(long)]
    no_dev: bool,

    /// Evaluate on the dev split every N steps, and after the last step: a run shorter
    /// than N steps is evaluated once, at its end.
    #[arg(long, default_value_t = 500, value_name = "N")]
    eval_every: u64,

    /// Stage-1 (hybrid) candidates the model reranks per dev query.
    #[arg(long, default_value_t = 30, value_name = "N")]
    dev_candidates: usize,

    /// Evaluate on the first N judged dev queries only (faster evaluations).
    #[arg(long, value_name = "N")]
    dev_queries: Option<usize>,

    /// Where the stage-1 index is kept [default: as for `tamis eval`].
    #[arg(long, env = "TAMIS_EVAL_CACHE", value_name = "DIR")]
    cache_dir: Option<PathBuf>,

    #[command(flatten)]
    model: EngineModelArgs,

    #[command(flatten)]
    creation: CreationArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum LossArg {
    Listwise,
    Bce,
    MarginMse,
    Kl,
}

impl LossArg {
    fn kind(self) -> LossKind {
        match self {
            LossArg::Listwise => LossKind::Listwise,
            LossArg::Bce => LossKind::Bce,
            LossArg::MarginMse => LossKind::MarginMse,
            LossArg::Kl => LossKind::Kl,
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) = text.trim().split_at(
        text.trim().find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.trim().len()),
    );
    let value: f64 =
        number.parse().map_err(|_| format!("'{text}' is not a duration like 90s, 45m or 2h"))?;
    let seconds = match unit {
        "" | "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("'{text}': the unit must be s, m or h")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

pub fn run(args: &TrainArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    crate::keep_freed_memory();
    configure_threads(args.model.source.threads);
    anyhow::ensure!(args.batch_size > 0, "--batch-size must be at least 1");
    anyhow::ensure!(args.negatives > 0, "--negatives must be at least 1");
    anyhow::ensure!(args.checkpoint_every > 0, "--checkpoint-every must be at least 1");
    anyhow::ensure!(args.skip < args.window, "--skip must be below --window");
    anyhow::ensure!(
        args.random_negatives <= args.negatives,
        "--random-negatives is a share of --negatives: at most {}",
        args.negatives
    );
    anyhow::ensure!(args.positives_within != Some(0), "--positives-within must be at least 1");
    anyhow::ensure!(
        (0.0..1.0).contains(&args.warmup),
        "--warmup is a fraction of the steps, below 1"
    );
    anyhow::ensure!(args.lr > 0.0 && args.lr.is_finite(), "--lr must be positive");
    anyhow::ensure!(args.eval_every > 0, "--eval-every must be at least 1");
    anyhow::ensure!(args.dev_candidates > 0, "--dev-candidates must be at least 1");
    anyhow::ensure!(args.dev_queries != Some(0), "--dev-queries must be at least 1");
    let distilling = args.loss.kind().needs_teacher();
    anyhow::ensure!(
        distilling == args.teacher.is_some(),
        "{}",
        if distilling {
            "--loss margin-mse and kl train on a teacher's scores: name it with --teacher"
        } else {
            "--teacher needs a distillation loss: --loss margin-mse or kl (add --label-weight to train on the qrels too)"
        }
    );
    anyhow::ensure!(
        args.label_weight >= 0.0 && args.label_weight.is_finite(),
        "--label-weight must be 0 or more"
    );
    anyhow::ensure!(
        args.label_weight == 0.0 || distilling,
        "--label-weight weighs the qrels against a teacher: it needs --loss margin-mse or kl"
    );
    if args.output.exists() && !args.overwrite {
        return Err(tamis_train::Error::OutputExists { path: args.output.clone() }.into());
    }
    let checkpoint = sibling(&args.output, "checkpoint");
    anyhow::ensure!(
        !args.resume || tamis_train::checkpoint::exists(&checkpoint),
        "--resume: no checkpoint at {}",
        checkpoint.display()
    );

    let (base, model, tokenizer, dropout) =
        load_base(&args.model.source, &args.base, args.max_length, args.seed)?;
    let export_length = args.export_max_length.unwrap_or(args.max_length);
    let positions = model.config().max_positions();
    anyhow::ensure!(
        (1..=positions).contains(&export_length),
        "--export-max-length {export_length} is not within the 1..={positions} positions of {}",
        args.base
    );

    let dataset = Dataset::load(&args.dataset, &args.split)?;
    let (corpus, bodies) = read_corpus(&args.dataset)?;
    let (query_ids, examples) = examples(&dataset, &corpus)?;
    // After the training data is checked: its errors are the one line a failed run prints.
    let dev = dev_set(args)?;

    let spec = args.model.model.as_deref().context(
        "tamis train needs --model, the bi-encoder of the stage-1 index negatives are mined from",
    )?;
    let cache = match &args.cache_dir {
        Some(dir) => dir.clone(),
        None => default_cache()?,
    };
    let threads = args.model.source.threads.unwrap_or_else(tamis_models::available_cores);
    let teacher_file = match (&args.teacher, &args.teacher_scores) {
        (_, Some(file)) => Some(file.clone()),
        (Some(name), None) => {
            Some(teacher::default_file(&cache, name, &args.dataset, &args.split)?)
        }
        (None, None) => None,
    };
    let teacher_job = args.teacher.as_deref().zip(teacher_file.as_deref()).map(|(name, file)| {
        teacher::TeacherJob {
            teacher: name,
            source: &args.model.source,
            dataset: &args.dataset,
            split: &args.split,
            file,
            threads,
        }
    });
    // Before the stage-1 index: a score file from another dataset fails the run at once.
    let teacher_cache =
        teacher_job.as_ref().map(|job| teacher::open(job, &query_ids, &examples)).transpose()?;
    let stage1 = DatasetIndex::open(
        &args.dataset,
        spec,
        &args.model,
        &args.creation,
        &LateArgs::default(),
        None,
        &cache,
    )?;
    anyhow::ensure!(
        stage1.bm25.len() <= 1,
        "tamis train mines and evaluates with one BM25 parameter set: give one value per \
         BM25 flag (tamis eval sweeps several)"
    );
    let mut examples = mine(&stage1, examples, args)?;
    // Pseudo-queries follow the judged ones: groups of examples from `labelled` on show
    // their documents without titles.
    let labelled = examples.len();
    if args.title_queries > 0 {
        let pseudo = title_examples(&corpus, &bodies, args.title_queries, args.seed);
        anyhow::ensure!(
            !pseudo.is_empty(),
            "--title-queries: corpus.jsonl has no document with both a title and a body"
        );
        examples.extend(mine(&stage1, pseudo, args)?);
    }

    let window = NegativeWindow {
        random: args.random_negatives,
        positives_within: args.positives_within,
        ..NegativeWindow::new(args.negatives, args.skip, args.window)
    };
    // Sorted: random negatives drawn by index must not depend on the map's order.
    let mut doc_ids: Vec<String> = corpus.keys().cloned().collect();
    doc_ids.sort_unstable();
    let teacher = match (teacher_job, teacher_cache) {
        (Some(job), Some(cached)) => {
            Some(teacher::score(cached, &job, &query_ids, &examples, &corpus, window)?)
        }
        _ => None,
    };
    let first = epoch_groups(&examples, &doc_ids, window, args.seed, 0);
    anyhow::ensure!(
        !first.groups.is_empty() || first.unranked_positives == 0,
        "no training group: no query has a positive that stage 1 ranks within its top {}; raise --positives-within or leave it out",
        args.positives_within.unwrap_or(0)
    );
    anyhow::ensure!(
        !first.groups.is_empty(),
        "no training group: every query's window (ranks {}..{}) holds fewer than {} documents not judged relevant; lower --negatives or --skip, or raise --window",
        args.skip,
        args.window,
        args.negatives
    );
    if first.short_windows > 0 {
        eprintln!(
            "{} query(ies) left out: their window holds too few documents",
            first.short_windows
        );
    }
    if first.unranked_positives > 0 {
        eprintln!(
            "{} query(ies) left out: none of their positives ranks within stage 1's top {}",
            first.unranked_positives,
            args.positives_within.unwrap_or(0)
        );
    }
    let steps_per_epoch = (first.groups.len() as u64).div_ceil(args.batch_size as u64);
    let epochs_steps = steps_per_epoch * args.epochs;
    let mut total_steps = args.max_steps.unwrap_or(epochs_steps).min(epochs_steps);
    let warmup = (total_steps as f64 * f64::from(args.warmup)).round() as u64;
    // A budget without --max-steps sizes the schedule to the steps it allows, once the
    // first steps are timed; until then the epochs' schedule runs (its first rates are
    // small either way).
    let mut schedule: Option<Schedule> = None;
    let sized_by_budget = args.time_budget.is_some() && args.max_steps.is_none();
    let adamw = AdamWConfig {
        weight_decay: args.weight_decay,
        ..AdamWConfig::new(args.lr, warmup, total_steps)
    };
    let trainer_config = TrainerConfig {
        loss: args.loss.kind(),
        label_weight: args.label_weight,
        group_size: 1 + args.negatives,
        adamw,
        dropout,
        seed: args.seed,
        threads,
    };
    let mut trainer = Trainer::new(model, tokenizer, trainer_config);
    let mut log = DevLog::default();
    if args.resume {
        let Some(state) = trainer.resume(&checkpoint)? else {
            anyhow::bail!("--resume: no checkpoint at {}", checkpoint.display())
        };
        // A state this command cannot read (another version's, or edited) is refused:
        // starting its schedule or dev history afresh would silently change the run.
        let unreadable = |what: &str, e: serde_json::Error| {
            anyhow::anyhow!(
                "--resume: the {what} saved in {} is unreadable ({e}); start again without --resume",
                checkpoint.display()
            )
        };
        let kept: Option<Schedule> = serde_json::from_value(state["schedule"].clone())
            .map_err(|e| unreadable("schedule", e))?;
        if let Some(kept) = kept {
            trainer.reschedule(kept.warmup, kept.total);
            total_steps = kept.total;
            schedule = Some(kept);
        }
        if let Some(dev) = &dev {
            let kept: Option<DevLog> = serde_json::from_value(state["dev"].clone())
                .map_err(|e| unreadable("dev history", e))?;
            log = kept.unwrap_or_default();
            if log.best_step.is_some() && !dev.best_dir.is_dir() {
                eprintln!(
                    "the best model so far is missing from {}: the next evaluation is kept",
                    dev.best_dir.display()
                );
                log.best_step = None;
            }
        }
        eprintln!("resuming at step {} from {}", trainer.steps(), checkpoint.display());
    }
    let state = |log: &DevLog, schedule: Option<Schedule>| serde_json::json!({"seed": args.seed, "dev": log, "schedule": schedule});
    let export = |model: &CrossEncoderModel, dir: &Path, card: &str, overwrite: bool| {
        tamis_train::export::export(model, &base.path, dir, export_length, card, overwrite)
    };

    eprintln!(
        "training {} on {} group(s) of {} pair(s), {} step(s) of {} group(s), {} thread(s)",
        args.base,
        first.groups.len(),
        1 + args.negatives,
        total_steps,
        args.batch_size,
        threads
    );
    let bar = progress(usize::try_from(total_steps).unwrap_or(usize::MAX), "steps");
    bar.set_position(trainer.steps());
    let mut last_loss = f32::NAN;
    // (the average's numerator, the weight it still lacks)
    let mut smoothed = (0.0f64, 1.0f64);
    // The groups of the epoch being trained, drawn again only when the epoch changes.
    let (mut current_epoch, mut groups) = (0, first.groups.clone());
    let mut stopped_by_budget = false;
    let pairs_per_step = (args.batch_size * (1 + args.negatives)) as f64;
    let mut clock = StepClock::default();
    while trainer.steps() < total_steps {
        if let Some(budget) = args.time_budget {
            // Time left for the last evaluation and the export: the longest evaluation so
            // far, else a guess from the step time (a dev pair costs about half a
            // training pair: forward only, no dropout).
            // No guess before steps are timed: the first steps of a process are slow (a
            // 16-minute budget once stopped after one step on its estimate).
            let step_seconds = clock.seconds_per_step().unwrap_or(0.0);
            let per_pair = step_seconds / pairs_per_step;
            let reserve = dev.as_ref().map_or(Duration::ZERO, |dev| {
                log.reserve(Duration::from_secs_f64(
                    per_pair * 0.5 * (dev.dataset.queries.len() * dev.candidates) as f64,
                ))
            });
            if started.elapsed() + reserve >= budget {
                stopped_by_budget = true;
                break;
            }
            // Sized once TIMED_STEPS are timed, and again at the end of warmup.
            let keep_warmup = match schedule {
                None if clock.timed() >= schedule::TIMED_STEPS => Some(None),
                Some(planned) if !planned.settled && trainer.steps() >= planned.warmup => {
                    Some(Some(planned.warmup))
                }
                _ => None,
            };
            if let Some(keep_warmup) = keep_warmup.filter(|_| sized_by_budget) {
                let timing = Timing {
                    done: trainer.steps(),
                    step_seconds,
                    left_seconds: budget.saturating_sub(started.elapsed()).as_secs_f64(),
                    evaluations: dev.as_ref().map(|dev| (dev.every, reserve.as_secs_f64())),
                };
                let fitted = schedule::fit(timing, epochs_steps, args.warmup, keep_warmup);
                trainer.reschedule(fitted.warmup, fitted.total);
                total_steps = fitted.total;
                schedule = Some(fitted);
                bar.set_length(total_steps);
                bar.suspend(|| {
                    eprintln!(
                        "--time-budget: {step_seconds:.2} s a step, so {} step(s): warmup {}, decay to 0 at step {}",
                        fitted.total, fitted.warmup, fitted.total
                    );
                });
            }
        }
        let step_started = Instant::now();
        let step = trainer.steps();
        let epoch = step / steps_per_epoch;
        if epoch != current_epoch {
            groups = epoch_groups(&examples, &doc_ids, window, args.seed, epoch).groups;
            current_epoch = epoch;
        }
        let at = ((step % steps_per_epoch) as usize) * args.batch_size;
        let batch = &groups[at..(at + args.batch_size).min(groups.len())];
        let texts: Vec<Vec<&str>> = batch
            .iter()
            .map(|group| {
                let untitled = group.query >= labelled;
                group
                    .documents
                    .iter()
                    .map(|id| document_text(&corpus, &bodies, id, untitled))
                    .collect()
            })
            .collect();
        let scores: Vec<Vec<f32>> = match &teacher {
            Some(teacher) => batch
                .iter()
                .map(|group| teacher.of(group.query, &group.documents))
                .collect::<anyhow::Result<_>>()?,
            None => Vec::new(),
        };
        let step_groups: Vec<StepGroup<'_>> = batch
            .iter()
            .zip(&texts)
            .enumerate()
            .map(|(i, (group, documents))| StepGroup {
                query: &examples[group.query].text,
                documents,
                teacher: scores.get(i).map(Vec::as_slice),
            })
            .collect();
        let report = trainer.step(&step_groups)?;
        clock.record(step_started.elapsed());
        last_loss = report.loss;
        // One group's loss swings widely; a moving average (about 50 steps, corrected
        // for its start at 0) shows whether the model learns.
        smoothed.0 = 0.98 * smoothed.0 + 0.02 * f64::from(report.loss);
        smoothed.1 *= 0.98;
        let average = smoothed.0 / (1.0 - smoothed.1);
        bar.set_message(format!("loss {average:.4} (moving average), lr {:.2e}", report.lr));
        bar.inc(1);
        let step = trainer.steps();
        let evaluate = dev.as_ref().filter(|dev| step.is_multiple_of(dev.every));
        if let Some(dev) = evaluate {
            bar.suspend(|| evaluate_dev(dev, &mut log, &trainer, &export, &stage1, threads))?;
            // The evaluation's pause is not the steps' rate (it read 0/s, "eta 12y").
            bar.reset_eta();
        }
        if evaluate.is_some() || step.is_multiple_of(args.checkpoint_every) {
            trainer.save_checkpoint(&checkpoint, &state(&log, schedule))?;
        }
    }
    bar.finish_and_clear();
    // The last step is evaluated unless it was; and again when a resumed run lost the
    // kept model, which is what gets published.
    if let Some(dev) =
        dev.as_ref().filter(|dev| !log.has(trainer.steps()) || !dev.best_dir.is_dir())
    {
        evaluate_dev(dev, &mut log, &trainer, &export, &stage1, threads)?;
    }
    trainer.save_checkpoint(&checkpoint, &state(&log, schedule))?;

    // Read once: the card and the last line report the same run.
    let machine = machine_line();
    let mut card = model_card(
        args,
        &trainer,
        total_steps,
        last_loss,
        first.groups.len(),
        stopped_by_budget,
        &format!("{:.0} s{machine}", started.elapsed().as_secs_f64()),
    );
    match &dev {
        Some(dev) => {
            card.push_str(&log.card(dev));
            tamis_train::export::publish(&dev.best_dir, &args.output, &card, args.overwrite)?;
            if let Some(best) = log.best() {
                eprintln!(
                    "kept step {}: dev nDCG@10 {:.4} alone, {:.4} fused (hybrid {:.4})",
                    best.step, best.scores.alone, best.scores.fused, best.scores.stage1
                );
            }
        }
        None => export(trainer.model(), &args.output, &card, args.overwrite)?,
    }
    fs_err::remove_dir_all(&checkpoint)?;
    eprintln!(
        "wrote {} after {} step(s) in {:.0} s (last loss {last_loss:.4}{}){}",
        args.output.display(),
        trainer.steps(),
        started.elapsed().as_secs_f64(),
        if stopped_by_budget { ", stopped by --time-budget" } else { "" },
        machine
    );
    Ok(())
}

/// The base model `name` ready to train at `max_length`: its directory, the model (a new
/// head drawn with `seed` for a bi-encoder), its tokenizer and its dropout rates.
pub(crate) fn load_base(
    source: &crate::model_args::SourceArgs,
    name: &str,
    max_length: usize,
    seed: u64,
) -> anyhow::Result<(tamis_models::ModelDir, CrossEncoderModel, PairTokenizer, DropoutRates)> {
    let base = source.resolve(name, None)?;
    let config = EncoderConfig::from_file(&base.path.join("config.json"))?;
    anyhow::ensure!(
        max_length <= config.max_positions(),
        "--max-length {max_length} exceeds the {} positions of {name}",
        config.max_positions()
    );
    let raw_config: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(base.path.join("config.json"))?)?;
    let model = CrossEncoderModel::load(&base.path, config, seed)?;
    let tokenizer = PairTokenizer::load(&base.path, max_length, Truncation::LongestFirst)?;
    Ok((base, model, tokenizer, DropoutRates::from_config(&raw_config)))
}

/// Where the run was measured: its peak memory and the CPU (for reports and the card).
fn machine_line() -> String {
    let rss = crate::machine::peak_rss_mib()
        .map_or_else(String::new, |mib| format!(", peak RSS {mib:.0} MiB"));
    format!("; on {}{rss}", crate::machine::cpu_model())
}

/// The dev set --dev-split names, else the dataset's `dev` split when it has one.
fn dev_set(args: &TrainArgs) -> anyhow::Result<Option<DevSet>> {
    if args.no_dev {
        return Ok(None);
    }
    let split = match &args.dev_split {
        Some(split) => split.clone(),
        None if tamis_eval::available_splits(&args.dataset)?.iter().any(|s| s == "dev") => {
            "dev".to_owned()
        }
        None => {
            eprintln!(
                "no dev evaluation: {} has no qrels/dev.tsv (name a split with --dev-split)",
                args.dataset.display()
            );
            return Ok(None);
        }
    };
    anyhow::ensure!(
        split != args.split,
        "--dev-split {split} is the training split: evaluate on held-out queries"
    );
    let dev = DevSet::load(
        &args.dataset,
        &split,
        args.dev_queries,
        args.dev_candidates,
        args.eval_every,
        &args.output,
    )?;
    Ok(Some(dev))
}

/// One dev evaluation, reported on standard error.
fn evaluate_dev(
    dev: &DevSet,
    log: &mut DevLog,
    trainer: &Trainer,
    export: &impl Fn(&CrossEncoderModel, &Path, &str, bool) -> tamis_train::Result<()>,
    stage1: &DatasetIndex,
    threads: usize,
) -> anyhow::Result<()> {
    let step = trainer.steps();
    let card = format!("# Cross-encoder being trained by `tamis train` (step {step})\n");
    // OUTPUT.dev is scratch: a run killed mid-evaluation leaves one behind.
    let export = |dir: &Path| Ok(export(trainer.model(), dir, &card, true)?);
    let point = dev::checkpoint_model(dev, log, export, stage1, step, threads)?;
    eprintln!(
        "step {step}: dev nDCG@10 {:.4} alone, {:.4} fused (hybrid {:.4}), {:.0} s{}",
        point.scores.alone,
        point.scores.fused,
        point.scores.stage1,
        point.seconds,
        if log.best_step == Some(step) { ", best so far: kept" } else { "" }
    );
    Ok(())
}

/// Every document's text as the reranker sees it at query time: the title, a space and
/// the body (what `tamis_engine` passes a reranker when titles are prepended); and for a
/// document with a title and a non-empty body, the byte where its body starts.
fn read_corpus(
    dataset: &Path,
) -> anyhow::Result<(HashMap<String, String>, HashMap<String, usize>)> {
    let (mut corpus, mut bodies) = (HashMap::new(), HashMap::new());
    for document in tamis_eval::corpus_docs(dataset)? {
        let document = document?;
        let title = document.title.trim();
        let text = if title.is_empty() {
            document.text
        } else {
            if !document.text.trim().is_empty() {
                bodies.insert(document.id.clone(), title.len() + 1);
            }
            format!("{title} {}", document.text)
        };
        corpus.insert(document.id, text);
    }
    Ok((corpus, bodies))
}

/// A document's text, without its title when `untitled` (and it has one).
fn document_text<'a>(
    corpus: &'a HashMap<String, String>,
    bodies: &HashMap<String, usize>,
    id: &str,
    untitled: bool,
) -> &'a str {
    let text = corpus[id].as_str();
    match bodies.get(id) {
        Some(&at) if untitled => &text[at..],
        _ => text,
    }
}

/// Up to `n` pseudo-queries, drawn by `seed` among the documents with a title and a body:
/// the title is the query, the document its one positive.
fn title_examples(
    corpus: &HashMap<String, String>,
    bodies: &HashMap<String, usize>,
    n: usize,
    seed: u64,
) -> Vec<QueryExample> {
    let mut ids: Vec<&String> = bodies.keys().collect();
    ids.sort_unstable();
    let ids = tamis_train::data::sample(&ids, n, seed);
    ids.into_iter()
        .map(|id| QueryExample {
            text: corpus[id.as_str()][..bodies[id.as_str()] - 1].to_owned(),
            positives: vec![id.clone()],
            ranking: Vec::new(),
        })
        .collect()
}

/// The split's judged queries with their relevant documents, and the queries' ids; a
/// judgment naming a document the corpus lacks is an error.
fn examples(
    dataset: &Dataset,
    corpus: &HashMap<String, String>,
) -> anyhow::Result<(Vec<String>, Vec<QueryExample>)> {
    let (mut ids, mut examples) = (Vec::new(), Vec::new());
    for query in &dataset.queries {
        let Some(judgments) = dataset.qrels.get(&query.id) else { continue };
        let mut positives = Vec::new();
        for (doc_id, grade) in judgments.iter() {
            anyhow::ensure!(
                corpus.contains_key(doc_id),
                "qrels/{}.tsv judges document '{doc_id}' for query '{}', but corpus.jsonl has no such document",
                dataset.split,
                query.id
            );
            if grade > 0 {
                positives.push(doc_id.to_owned());
            }
        }
        positives.sort();
        if !positives.is_empty() {
            ids.push(query.id.clone());
            examples.push(QueryExample {
                text: query.text.clone(),
                positives,
                ranking: Vec::new(),
            });
        }
    }
    anyhow::ensure!(
        !examples.is_empty(),
        "qrels/{}.tsv judges no document relevant",
        dataset.split
    );
    Ok((ids, examples))
}

/// Fills each example's stage-1 ranking.
fn mine(
    stage1: &DatasetIndex,
    mut examples: Vec<QueryExample>,
    args: &TrainArgs,
) -> anyhow::Result<Vec<QueryExample>> {
    let bar = progress(examples.len(), "queries mined");
    for example in &mut examples {
        let mut request = SearchRequest::new(&example.text, args.negatives_from.into());
        request.k = args.window.max(args.positives_within.unwrap_or(0));
        request.depth = request.k.max(100);
        request.bm25 = stage1.bm25.first().copied();
        let hits = stage1.index.search(&request, Some(&stage1.embedder))?;
        example.ranking = hits.into_iter().map(|hit| hit.doc_id).collect();
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(examples)
}

/// The README of the trained model: what it was trained on, and how.
fn model_card(
    args: &TrainArgs,
    trainer: &Trainer,
    planned: u64,
    loss: f32,
    groups: usize,
    stopped: bool,
    trained: &str,
) -> String {
    format!(
        "# Cross-encoder trained by `tamis train`\n\n\
         - base: `{base}`\n\
         - data: `{dataset}`, split `{split}`: {groups} groups of 1 positive + {negatives} negatives \
         from ranks {skip}..{window} of tamis' `{mode:?}` stage 1 (bi-encoder `{model}`){random}{within}{titles}\n\
         - loss: {loss_kind:?}{teacher}; AdamW, peak lr {lr}, warmup {warmup} of the steps, weight decay {wd}\n\
         - steps: {steps} of {planned}{stopped}, {batch} groups per step, max_length {max_length}{export_length}, seed {seed}\n\
         - last training loss: {loss:.4}\n\
         - trained in {trained}\n\n\
         Loads in `transformers` (`{architecture}`, one label), in \
         sentence-transformers' `CrossEncoder`, and in every tamis command (`--rerank {output}`).\n",
        base = args.base,
        dataset = args.dataset.display(),
        split = args.split,
        negatives = args.negatives,
        skip = args.skip,
        window = args.window,
        mode = args.negatives_from,
        model = args.model.model.as_deref().unwrap_or(""),
        random = match args.random_negatives {
            0 => String::new(),
            n => format!(", {n} of the negatives drawn at random from the corpus"),
        },
        titles = match args.title_queries {
            0 => String::new(),
            n => format!(
                "; plus up to {n} title pseudo-queries (a document's title for its untitled body)"
            ),
        },
        within = match args.positives_within {
            Some(k) => format!("; only positives stage 1 ranks within its top {k}"),
            None => String::new(),
        },
        loss_kind = args.loss,
        teacher = match &args.teacher {
            Some(teacher) if args.label_weight > 0.0 => format!(
                " on the scores of teacher `{teacher}`, plus {} × listwise on the qrels",
                args.label_weight
            ),
            Some(teacher) => format!(" on the scores of teacher `{teacher}`"),
            None => String::new(),
        },
        lr = args.lr,
        warmup = args.warmup,
        wd = args.weight_decay,
        stopped = if stopped { " (stopped by the time budget)" } else { "" },
        batch = args.batch_size,
        max_length = args.max_length,
        export_length = match args.export_max_length {
            Some(n) if n != args.max_length => format!(" (reads {n} at inference)"),
            _ => String::new(),
        },
        seed = args.seed,
        output = args.output.display(),
        steps = trainer.steps(),
        architecture = trainer.model().architecture(),
    )
}
