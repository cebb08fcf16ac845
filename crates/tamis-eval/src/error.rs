//! Errors of loading datasets, reading and writing runs, and configuring and running an
//! evaluation.

use std::path::PathBuf;

pub use tamis_core::ErrorKind;

use crate::Metric;

/// Everything that can go wrong in this crate.
///
/// Errors about files name the file, and the 1-based line when one line is at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the BEIR layout is not there.
    #[error(
        "{} is missing: a BEIR dataset directory holds corpus.jsonl, queries.jsonl and qrels/<split>.tsv",
        path.display()
    )]
    MissingFile {
        /// The file or directory looked for.
        path: PathBuf,
    },
    /// The dataset has no qrels file for the requested split.
    #[error("split '{split}' has no qrels file {}; available splits: {}", path.display(), available.join(", "))]
    MissingSplit {
        /// The requested split.
        split: String,
        /// The qrels file looked for.
        path: PathBuf,
        /// The splits the dataset has (`qrels/*.tsv`).
        available: Vec<String>,
    },
    /// A line does not have the shape its file format requires.
    #[error("{}:{line}: expected {expected}, found {found:?}", path.display())]
    BadLine {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// What the format requires there.
        expected: &'static str,
        /// The offending line.
        found: String,
    },
    /// A JSON Lines line is not the expected JSON object.
    #[error("{}:{line}: {source}", path.display())]
    Json {
        /// The file.
        path: PathBuf,
        /// The 1-based line number.
        line: usize,
        /// serde_json's error.
        source: serde_json::Error,
    },
    /// A run file lists the same document twice for one query.
    #[error("{}:{line}: document {doc_id} appears twice for query {query_id}", path.display())]
    DuplicateHit {
        /// The run file.
        path: PathBuf,
        /// The 1-based line of the second occurrence.
        line: usize,
        /// The query.
        query_id: String,
        /// The repeated document.
        doc_id: String,
    },
    /// A query judged in the qrels has no line in `queries.jsonl`.
    #[error("query {query_id} is judged in {} but missing from {}", qrels.display(), queries.display())]
    MissingQuery {
        /// The query id.
        query_id: String,
        /// The qrels file that judges it.
        qrels: PathBuf,
        /// The queries file that lacks it.
        queries: PathBuf,
    },
    /// An id or tag cannot be written to a TREC run file, whose fields are separated by whitespace.
    #[error(
        "cannot write {field} {value:?} to a TREC run file: it is empty or contains whitespace"
    )]
    UnwritableId {
        /// Which field: `query id`, `document id` or `run tag`.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// A score to write is NaN, which no evaluator can order.
    #[error("the score of document {doc_id} for query {query_id} is not a number")]
    NanScore {
        /// The query.
        query_id: String,
        /// The document.
        doc_id: String,
    },
    /// A metric name that [`Metric`]'s parser does not know.
    #[error(
        "unknown metric {spec:?}: expected ndcg@k, recall@k, p@k, mrr@k or map@k, \
         or a trec_eval name such as ndcg_cut_10"
    )]
    UnknownMetric {
        /// The text given.
        spec: String,
    },
    /// A metric with cut-off 0, which measures nothing.
    #[error("metric {metric} has cut-off 0: cut-offs start at 1")]
    ZeroCutoff {
        /// The metric.
        metric: Metric,
    },
    /// An experiment keeps no document per query.
    #[error("an evaluation run keeps at least 1 document per query: the depth is 0")]
    ZeroDepth,
    /// A reranked row's candidate windows do not match the rerankers.
    #[error(
        "a reranked row has {got} candidate count(s) for {expected} reranker(s): give one per reranker, in cascade order"
    )]
    WindowCount {
        /// The rerankers.
        expected: usize,
        /// The counts the row has.
        got: usize,
    },
    /// Rerankers were given, but no reranked row.
    #[error(
        "{rerankers} reranker(s) but no reranked row: give the candidate counts of at least one"
    )]
    NoWindows {
        /// The rerankers.
        rerankers: usize,
    },
    /// The engine refused a request or failed to answer it.
    #[error(transparent)]
    Engine(#[from] tamis_engine::Error),
    /// Reading or writing a file failed (the error names the file).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl Error {
    /// Whose fault this error is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::MissingFile { .. } | Error::MissingSplit { .. } => ErrorKind::NotFound,
            Error::BadLine { .. }
            | Error::Json { .. }
            | Error::DuplicateHit { .. }
            | Error::MissingQuery { .. }
            | Error::UnwritableId { .. }
            | Error::NanScore { .. }
            | Error::UnknownMetric { .. }
            | Error::ZeroCutoff { .. }
            | Error::ZeroDepth
            | Error::WindowCount { .. }
            | Error::NoWindows { .. } => ErrorKind::User,
            Error::Engine(err) => err.kind(),
            // A path that does not exist was given by the caller; other IO failures may pass.
            Error::Io(err) if err.kind() == std::io::ErrorKind::NotFound => ErrorKind::NotFound,
            // A file that is not UTF-8 text will not read better later: the user must fix it.
            Error::Io(err) if err.kind() == std::io::ErrorKind::InvalidData => ErrorKind::User,
            Error::Io(_) => ErrorKind::Unavailable,
        }
    }
}

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, Error>;
