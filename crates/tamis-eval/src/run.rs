//! Runs: the ranked documents a system returned per query, and TREC run files.
//!
//! A run keeps one score per (query, document) and no order of its own: trec_eval, and so
//! pytrec_eval and BEIR, ignore the ranks a run file gives and re-sort each query's documents
//! by score, highest first, ties broken by document id in *descending* byte order.
//! [`trec_order`] is that order, and [`Run::ranked`] the only place it is applied.
//! A system that breaks its own ties differently is still evaluated as trec_eval would.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::Error;

/// The fields of a TREC run line, for error messages.
const TREC_LINE: &str = "6 whitespace-separated fields: query-id Q0 doc-id rank score tag";

/// Documents and scores per query, as a system returned them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Run {
    queries: BTreeMap<String, HashMap<String, f64>>,
}

impl Run {
    /// An empty run.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `score` for `doc_id` under `query_id`, returning the score it replaces.
    pub fn insert(
        &mut self,
        query_id: impl Into<String>,
        doc_id: impl Into<String>,
        score: f64,
    ) -> Option<f64> {
        self.queries.entry(query_id.into()).or_default().insert(doc_id.into(), score)
    }

    /// Records every (document id, score) of `hits` under `query_id`.
    ///
    /// The query is part of the run even when `hits` is empty: it was answered, with nothing.
    pub fn insert_query<D: Into<String>>(
        &mut self,
        query_id: impl Into<String>,
        hits: impl IntoIterator<Item = (D, f64)>,
    ) {
        let scores = self.queries.entry(query_id.into()).or_default();
        scores.extend(hits.into_iter().map(|(doc_id, score)| (doc_id.into(), score)));
    }

    /// Whether `query_id` was answered (possibly with no documents).
    pub fn contains_query(&self, query_id: &str) -> bool {
        self.queries.contains_key(query_id)
    }

    /// The answered query ids, in byte order.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.queries.keys().map(String::as_str)
    }

    /// How many queries were answered.
    pub fn len(&self) -> usize {
        self.queries.len()
    }

    /// Whether no query was answered.
    pub fn is_empty(&self) -> bool {
        self.queries.is_empty()
    }

    /// The documents of `query_id` with their scores in [`trec_order`]; empty when the query
    /// was not answered.
    pub fn ranked(&self, query_id: &str) -> Vec<(&str, f64)> {
        let mut ranked: Vec<(&str, f64)> =
            self.queries.get(query_id).map_or_else(Vec::new, |scores| {
                scores.iter().map(|(doc_id, &score)| (doc_id.as_str(), score)).collect()
            });
        ranked.sort_unstable_by(trec_order);
        ranked
    }

    /// Reads a TREC run file: `query-id Q0 doc-id rank score tag` per line.
    ///
    /// The second, fourth and sixth fields are not used (trec_eval ignores them too).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::BadLine`] for a line without six
    /// fields or with a score that is not a number, [`Error::DuplicateHit`] when a document
    /// appears twice for one query.
    pub fn read_trec(path: &Path) -> crate::Result<Run> {
        let text = fs_err::read_to_string(path)?;
        let mut run = Run::new();
        for (line_idx, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let bad_line = |expected| Error::BadLine {
                path: path.to_path_buf(),
                line: line_idx + 1,
                expected,
                found: line.to_owned(),
            };
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [query_id, _q0, doc_id, _rank, score, _tag] = fields[..] else {
                return Err(bad_line(TREC_LINE));
            };
            let score = score
                .parse::<f64>()
                .ok()
                .filter(|score| !score.is_nan())
                .ok_or_else(|| bad_line("a number in the fifth field (score)"))?;
            if run.insert(query_id, doc_id, score).is_some() {
                return Err(Error::DuplicateHit {
                    path: path.to_path_buf(),
                    line: line_idx + 1,
                    query_id: query_id.to_owned(),
                    doc_id: doc_id.to_owned(),
                });
            }
        }
        Ok(run)
    }

    /// Writes the run as a TREC run file tagged `tag`, each query's documents in
    /// [`trec_order`] with ranks from 1.
    ///
    /// Scores are written with Rust's shortest representation that reads back as the same
    /// `f64`, so trec_eval and pytrec_eval see exactly the scores, ties included.
    /// Nothing is written when the run cannot be.
    ///
    /// # Errors
    /// [`Error::UnwritableId`] for an empty id or tag or one containing whitespace,
    /// [`Error::NanScore`] for a NaN score, [`Error::Io`] when writing fails.
    pub fn write_trec(&self, path: &Path, tag: &str) -> crate::Result<()> {
        check_field("run tag", tag)?;
        for (query_id, scores) in &self.queries {
            check_field("query id", query_id)?;
            for (doc_id, score) in scores {
                check_field("document id", doc_id)?;
                if score.is_nan() {
                    return Err(Error::NanScore {
                        query_id: query_id.clone(),
                        doc_id: doc_id.clone(),
                    });
                }
            }
        }
        let mut out = BufWriter::new(fs_err::File::create(path)?);
        for query_id in self.queries.keys() {
            for (rank_idx, (doc_id, score)) in self.ranked(query_id).into_iter().enumerate() {
                writeln!(out, "{query_id} Q0 {doc_id} {} {score} {tag}", rank_idx + 1)?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

impl<Q: Into<String>, D: Into<String>> FromIterator<(Q, D, f64)> for Run {
    fn from_iter<I: IntoIterator<Item = (Q, D, f64)>>(hits: I) -> Self {
        let mut run = Run::new();
        for (query_id, doc_id, score) in hits {
            run.insert(query_id, doc_id, score);
        }
        run
    }
}

/// trec_eval's order of one query's documents: score descending, then document id in
/// descending byte order (`strcmp`, as trec_eval's `comp_sim_docno` does).
///
/// `-0.0` ties with `0.0`, as in C; NaN scores, which trec_eval cannot order, follow
/// [`f64::total_cmp`] so that sorting stays well defined.
pub fn trec_order(a: &(&str, f64), b: &(&str, f64)) -> Ordering {
    // Adding +0.0 turns -0.0 into 0.0 and leaves every other value as it is.
    let (score_a, score_b) = (a.1 + 0.0, b.1 + 0.0);
    score_b.total_cmp(&score_a).then_with(|| b.0.as_bytes().cmp(a.0.as_bytes()))
}

/// Checks that `value` can be one whitespace-separated field of a run line.
fn check_field(field: &'static str, value: &str) -> crate::Result<()> {
    if value.is_empty() || value.chars().any(char::is_whitespace) {
        return Err(Error::UnwritableId { field, value: value.to_owned() });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
