//! Datasets in the BEIR layout: `corpus.jsonl`, `queries.jsonl` and `qrels/<split>.tsv`.
//!
//! [`Dataset::load`] reads one split's qrels and the text of the queries they judge; the
//! corpus is never held in memory here, [`corpus_docs`] streams it line by line with the
//! engine's [`DocumentSource`].
//!
//! `queries.jsonl` holds the queries of every split (NFCorpus: 3,237 for 323 judged in
//! `test`), so a split is evaluated only on the queries its qrels file judges.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::marker::PhantomData;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::DeserializeOwned;

use tamis_engine::DocumentSource;

use crate::{Error, Qrels};

/// One line of `queries.jsonl`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Query {
    /// The query id (`_id`).
    #[serde(rename = "_id")]
    pub id: String,
    /// The query text.
    pub text: String,
    /// Whatever else the dataset records about the query.
    #[serde(default)]
    pub metadata: Option<serde_json::Value>,
}

/// One split of a BEIR dataset: its qrels and the queries they judge.
#[derive(Debug, Clone, PartialEq)]
pub struct Dataset {
    /// The dataset directory.
    pub dir: PathBuf,
    /// The split (`test`, `dev`, …).
    pub split: String,
    /// The judged queries, in the order they first appear in the qrels file.
    pub queries: Vec<Query>,
    /// The split's judgments, as given.
    pub qrels: Qrels,
}

impl Dataset {
    /// Loads `qrels/<split>.tsv` from the dataset directory `dir` and the text of every query
    /// it judges from `queries.jsonl`.
    ///
    /// # Errors
    /// [`Error::MissingFile`] or [`Error::MissingSplit`] when a file is not there,
    /// [`Error::BadLine`] or [`Error::Json`] for a malformed line, [`Error::MissingQuery`] for
    /// a judged query without text, [`Error::Io`] when reading fails.
    pub fn load(dir: &Path, split: &str) -> crate::Result<Dataset> {
        let qrels_path = qrels_path(dir, split)?;
        let queries_path = required_file(dir, "queries.jsonl")?;
        let qrels = Qrels::read_beir_tsv(&qrels_path)?;
        let mut texts: HashMap<String, Query> = HashMap::with_capacity(qrels.len());
        for query in JsonLines::<Query>::open(&queries_path)? {
            let query = query?;
            // The first line of a repeated id wins.
            if qrels.get(&query.id).is_some() && !texts.contains_key(&query.id) {
                texts.insert(query.id.clone(), query);
            }
        }
        let queries = qrels
            .query_ids()
            .map(|query_id| {
                texts.remove(query_id).ok_or_else(|| Error::MissingQuery {
                    query_id: query_id.to_owned(),
                    qrels: qrels_path.clone(),
                    queries: queries_path.clone(),
                })
            })
            .collect::<crate::Result<Vec<Query>>>()?;
        Ok(Dataset { dir: dir.to_path_buf(), split: split.to_owned(), queries, qrels })
    }

    /// Keeps the first `n` judged queries and their judgments only (a quicker evaluation).
    pub fn truncate(&mut self, n: usize) {
        self.queries.truncate(n);
        let kept: HashSet<&str> = self.queries.iter().map(|query| query.id.as_str()).collect();
        self.qrels.retain_queries(|query_id| kept.contains(query_id));
    }
}

/// The splits of the dataset in `dir`: the names of `qrels/*.tsv`, sorted.
///
/// # Errors
/// [`Error::MissingFile`] when `dir` has no `qrels/` directory, [`Error::Io`] when listing it fails.
pub fn available_splits(dir: &Path) -> crate::Result<Vec<String>> {
    let qrels_dir = dir.join("qrels");
    if !qrels_dir.is_dir() {
        return Err(Error::MissingFile { path: qrels_dir });
    }
    let mut splits = Vec::new();
    for entry in fs_err::read_dir(&qrels_dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "tsv")
            && path.is_file()
            && let Some(stem) = path.file_stem().and_then(|stem| stem.to_str())
        {
            splits.push(stem.to_owned());
        }
    }
    splits.sort();
    Ok(splits)
}

/// Streams `corpus.jsonl` of the dataset in `dir`, one document per line, through the
/// engine's reader (the one `tamis index` uses, so both read a corpus alike).
///
/// # Errors
/// [`Error::MissingFile`] when there is no `corpus.jsonl`, [`Error::Engine`] when it cannot
/// be opened; each item is the engine's `BadInput` naming the line when that line is
/// malformed.
pub fn corpus_docs(dir: &Path) -> crate::Result<DocumentSource> {
    Ok(DocumentSource::open(&required_file(dir, "corpus.jsonl")?)?)
}

/// The qrels file of `split`, checked to exist.
fn qrels_path(dir: &Path, split: &str) -> crate::Result<PathBuf> {
    let path = dir.join("qrels").join(format!("{split}.tsv"));
    if path.is_file() {
        return Ok(path);
    }
    if !dir.is_dir() {
        return Err(Error::MissingFile { path: dir.to_path_buf() });
    }
    let available = available_splits(dir)?;
    Err(Error::MissingSplit { split: split.to_owned(), path, available })
}

/// `dir/name`, checked to be a file.
fn required_file(dir: &Path, name: &str) -> crate::Result<PathBuf> {
    let path = dir.join(name);
    if path.is_file() { Ok(path) } else { Err(Error::MissingFile { path }) }
}

/// A JSON Lines file read one value per line; blank lines are skipped.
///
/// After an error reading the file (not a malformed line) the iterator ends.
#[derive(Debug)]
pub struct JsonLines<T> {
    path: PathBuf,
    lines: std::io::Split<BufReader<fs_err::File>>,
    line_idx: usize,
    failed: bool,
    item: PhantomData<fn() -> T>,
}

impl<T> JsonLines<T> {
    fn open(path: &Path) -> crate::Result<Self> {
        let file = fs_err::File::open(path)?;
        Ok(JsonLines {
            path: path.to_path_buf(),
            lines: BufReader::new(file).split(b'\n'),
            line_idx: 0,
            failed: false,
            item: PhantomData,
        })
    }
}

impl<T: DeserializeOwned> Iterator for JsonLines<T> {
    type Item = crate::Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.failed {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(err) => {
                    self.failed = true;
                    return Some(Err(err.into()));
                }
            };
            self.line_idx += 1;
            // serde_json checks the bytes are UTF-8 and reports the line when they are not.
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(serde_json::from_slice(line).map_err(|source| Error::Json {
                path: self.path.clone(),
                line: self.line_idx,
                source,
            }));
        }
        None
    }
}

#[cfg(test)]
mod tests;
