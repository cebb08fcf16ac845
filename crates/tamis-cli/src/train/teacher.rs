//! Teacher scores for distillation: every pair a training group can hold (each query's
//! positives and its negative window) scored once by `--teacher`, and cached in a JSON
//! Lines file that later runs read back. Scores are appended a query at a time, so a
//! scoring pass that is interrupted resumes where it stopped.
//!
//! The file: a header `{"tamis_teacher_scores": 1, "teacher", "dataset", "split",
//! "fingerprint", "max_length"}`, then `{"query": ID, "scores": {DOC_ID: LOGIT, ...}}`
//! lines (a query may have several; they merge). The fingerprint is a SHA-256 of the
//! split's training queries (ids and texts): a file scored on another dataset or split
//! is refused rather than silently mixed in.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tamis_core::ScoreActivation;
use tamis_models::{CrossEncoder, CrossEncoderConfig, RuntimeConfig};
use tamis_train::data::{NegativeWindow, QueryExample};

use crate::jsonl::progress;
use crate::model_args::SourceArgs;

/// Version of the file layout; a file with another is refused.
const VERSION: u64 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Header {
    tamis_teacher_scores: u64,
    teacher: String,
    dataset: String,
    split: String,
    fingerprint: String,
    max_length: usize,
}

#[derive(Debug, Serialize, Deserialize)]
struct Line {
    query: String,
    scores: HashMap<String, f32>,
}

/// The teacher's raw logit for every pair a group can hold, by example.
#[derive(Debug)]
pub(super) struct TeacherScores {
    by_example: Vec<HashMap<String, f32>>,
}

impl TeacherScores {
    /// The teacher's scores of `documents` for example `example`, in order.
    pub fn of(&self, example: usize, documents: &[String]) -> anyhow::Result<Vec<f32>> {
        documents
            .iter()
            .map(|doc| {
                self.by_example[example].get(doc).copied().with_context(|| {
                    format!("no teacher score for document '{doc}' (internal: it was not scored)")
                })
            })
            .collect()
    }
}

/// What `score` needs to know about the run.
pub(super) struct TeacherJob<'a> {
    /// The teacher as the user named it (a directory or hub id).
    pub teacher: &'a str,
    pub source: &'a SourceArgs,
    pub dataset: &'a Path,
    pub split: &'a str,
    /// The cache file.
    pub file: &'a Path,
    pub threads: usize,
}

/// The default cache file of `teacher`'s scores on `dataset`/`split`, in `cache`: one
/// per (teacher, dataset, split), so reruns with other options reuse it.
pub(super) fn default_file(
    cache: &Path,
    teacher: &str,
    dataset: &Path,
    split: &str,
) -> anyhow::Result<PathBuf> {
    let dataset = fs_err::canonicalize(dataset)?;
    let teacher = canonical_teacher(teacher);
    let key =
        hex(&Sha256::digest(format!("{teacher}\n{}\n{split}", dataset.display())))[..16].to_owned();
    Ok(cache.join("teacher-scores").join(format!("{key}.jsonl")))
}

/// A directory teacher by its absolute path, a hub id as given.
fn canonical_teacher(teacher: &str) -> String {
    fs_err::canonicalize(teacher).map_or_else(|_| teacher.to_owned(), |p| p.display().to_string())
}

/// What the cache file holds, read before the stage-1 index is opened, so that a file
/// from another dataset fails the run at once.
pub(super) struct Cached {
    header: Header,
    known: Option<Header>,
    by_example: Vec<HashMap<String, f32>>,
}

/// Reads `job.file`, refusing a file scored on another dataset, split or teacher.
pub(super) fn open(
    job: &TeacherJob<'_>,
    ids: &[String],
    examples: &[QueryExample],
) -> anyhow::Result<Cached> {
    let header = Header {
        tamis_teacher_scores: VERSION,
        teacher: canonical_teacher(job.teacher),
        dataset: job.dataset.display().to_string(),
        split: job.split.to_owned(),
        fingerprint: fingerprint(ids, examples),
        max_length: 0,
    };
    read(job.file, header, ids)
}

/// Scores every pair `examples` can put in a group under `window` with the teacher,
/// beyond what `cached` holds, appending them to `job.file`.
pub(super) fn score(
    cached: Cached,
    job: &TeacherJob<'_>,
    ids: &[String],
    examples: &[QueryExample],
    corpus: &HashMap<String, String>,
    window: NegativeWindow,
) -> anyhow::Result<TeacherScores> {
    let Cached { header, known, mut by_example } = cached;
    let wanted: Vec<Vec<&String>> = examples
        .iter()
        .map(|example| {
            let end = window.depth.min(example.ranking.len());
            let window = example.ranking.get(window.skip.min(end)..end).unwrap_or_default();
            let mut seen = HashSet::new();
            example.positives.iter().chain(window).filter(|doc| seen.insert(*doc)).collect()
        })
        .collect();

    let missing: Vec<usize> = (0..examples.len())
        .filter(|&i| wanted[i].iter().any(|doc| !by_example[i].contains_key(*doc)))
        .collect();
    if missing.is_empty() {
        eprintln!("teacher scores: all read from {}", job.file.display());
        return Ok(TeacherScores { by_example });
    }

    let model = load(job)?;
    let header = Header { max_length: model.max_length(), ..header };
    if let Some(known) = &known {
        anyhow::ensure!(
            known.max_length == header.max_length,
            "{} was scored with max length {}, the teacher now runs at {}: delete the file or pass another --teacher-scores",
            job.file.display(),
            known.max_length,
            header.max_length
        );
    }
    let label = model.ranking_label()?;
    let mut out = open_for_append(job.file, known.is_none().then_some(&header))?;
    let pairs_total: usize = missing.iter().map(|&i| wanted[i].len()).sum();
    eprintln!(
        "teacher {}: scoring {pairs_total} pair(s) of {} quer(ies) into {}",
        job.teacher,
        missing.len(),
        job.file.display()
    );
    let bar = progress(missing.len(), "queries scored");
    let started = Instant::now();
    for &i in &missing {
        let documents: Vec<&String> =
            wanted[i].iter().copied().filter(|doc| !by_example[i].contains_key(*doc)).collect();
        let pairs: Vec<(&str, &str)> = documents
            .iter()
            .map(|doc| (examples[i].text.as_str(), corpus[doc.as_str()].as_str()))
            .collect();
        let logits = model.predict(&pairs)?;
        let scores: HashMap<String, f32> = documents
            .iter()
            .zip(&logits)
            .map(|(doc, prediction)| ((*doc).clone(), prediction.logits[label]))
            .collect();
        let line = serde_json::to_string(&Line { query: ids[i].clone(), scores: scores.clone() })?;
        writeln!(out, "{line}")?;
        out.flush()?;
        by_example[i].extend(scores);
        bar.inc(1);
    }
    out.get_ref().sync_all()?;
    bar.finish_and_clear();
    eprintln!("teacher: {pairs_total} pair(s) scored in {:.0} s", started.elapsed().as_secs_f64());
    Ok(TeacherScores { by_example })
}

fn load(job: &TeacherJob<'_>) -> anyhow::Result<CrossEncoder> {
    let dir = job.source.resolve(job.teacher, None)?;
    let config = CrossEncoderConfig {
        runtime: RuntimeConfig { threads: Some(job.threads), ..Default::default() },
        activation: Some(ScoreActivation::Identity),
        ..Default::default()
    };
    CrossEncoder::load(&dir, &config).with_context(|| format!("loading --teacher {}", job.teacher))
}

/// SHA-256 of the training queries' ids and texts, in order.
fn fingerprint(ids: &[String], examples: &[QueryExample]) -> String {
    let mut hash = Sha256::new();
    for (id, example) in ids.iter().zip(examples) {
        hash.update(id.as_bytes());
        hash.update([0]);
        hash.update(example.text.as_bytes());
        hash.update([0]);
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The scores `file` holds, by example (empty maps where it has none), and its header
/// (none when the file does not exist). A file from another dataset, split or teacher
/// than `header` says is refused. A last line cut short (a killed run) is dropped.
fn read(file: &Path, header: Header, ids: &[String]) -> anyhow::Result<Cached> {
    let mut by_example = vec![HashMap::new(); ids.len()];
    if !file.exists() {
        return Ok(Cached { header, known: None, by_example });
    }
    let text = fs_err::read_to_string(file)?;
    let mut lines = text.split_inclusive('\n');
    let refuse = |why: String| {
        anyhow::anyhow!("{}: {why}; delete it or pass another --teacher-scores", file.display())
    };
    let Some(first) = lines.next() else {
        return Ok(Cached { header, known: None, by_example });
    };
    let known: Header = serde_json::from_str(first)
        .map_err(|_| refuse("not a tamis teacher-score file".to_owned()))?;
    if known.tamis_teacher_scores != VERSION {
        return Err(refuse(format!(
            "layout version {}, not {VERSION}",
            known.tamis_teacher_scores
        )));
    }
    if known.fingerprint != header.fingerprint || known.split != header.split {
        return Err(refuse(format!(
            "scored on another dataset or split ({} split {}, not {} split {})",
            known.dataset, known.split, header.dataset, header.split
        )));
    }
    if known.teacher != header.teacher {
        return Err(refuse(format!(
            "scored by another teacher ({}, not {})",
            known.teacher, header.teacher
        )));
    }
    let index: HashMap<&str, usize> =
        ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
    for (number, line) in lines.enumerate() {
        let parsed: Line = match serde_json::from_str(line) {
            Ok(parsed) => parsed,
            // A line without its newline is the last, cut short by a crash: rescored.
            Err(_) if !line.ends_with('\n') => break,
            Err(err) => return Err(refuse(format!("line {}: {err}", number + 2))),
        };
        let i = *index.get(parsed.query.as_str()).ok_or_else(|| {
            refuse(format!("line {} scores query '{}', not in the split", number + 2, parsed.query))
        })?;
        by_example[i].extend(parsed.scores);
    }
    Ok(Cached { header, known: Some(known), by_example })
}

/// `file` opened for appending; a new file starts with `header`. A torn last line is
/// cut off first, so appended lines start on a line of their own.
fn open_for_append(
    file: &Path,
    header: Option<&Header>,
) -> anyhow::Result<std::io::BufWriter<fs_err::File>> {
    if let Some(parent) = file.parent() {
        fs_err::create_dir_all(parent)?;
    }
    let out = match header {
        Some(header) => {
            let mut out = fs_err::File::create(file)?;
            writeln!(out, "{}", serde_json::to_string(header)?)?;
            out
        }
        None => {
            let text = fs_err::read(file)?;
            let keep = text.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
            let out = fs_err::OpenOptions::new().write(true).open(file)?;
            out.set_len(keep as u64)?;
            drop(out);
            fs_err::OpenOptions::new().append(true).open(file)?
        }
    };
    Ok(std::io::BufWriter::new(out))
}
