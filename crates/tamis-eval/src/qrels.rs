//! Relevance judgments (qrels): which documents are relevant to which query, and how much.
//!
//! Every judgment is kept as given, zero and negative grades included, because a dataset's
//! files are data to report on, not to edit.
//! Only a grade above zero makes a document relevant (trec_eval's `relevance_level` 1),
//! and that grade is its gain in nDCG; zero, negative and unjudged documents are alike non-relevant.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use crate::Error;

/// The header line of a BEIR qrels file.
const BEIR_HEADER: &str = "query-id<TAB>corpus-id<TAB>score";

/// The judgments of one query: document id → relevance grade.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Judgments {
    grades: HashMap<String, i64>,
    n_relevant: usize,
}

impl Judgments {
    /// The grade given to `doc_id`, if it was judged.
    pub fn grade(&self, doc_id: &str) -> Option<i64> {
        self.grades.get(doc_id).copied()
    }

    /// The gain of `doc_id` in nDCG: its grade when above zero, else 0.
    pub fn gain(&self, doc_id: &str) -> i64 {
        self.grade(doc_id).map_or(0, |grade| grade.max(0))
    }

    /// Whether `doc_id` is relevant, that is judged with a grade above zero.
    pub fn is_relevant(&self, doc_id: &str) -> bool {
        self.gain(doc_id) > 0
    }

    /// How many documents are relevant (grade above zero).
    pub fn n_relevant(&self) -> usize {
        self.n_relevant
    }

    /// The gains of the relevant documents, highest first: the ideal ranking of nDCG.
    pub fn ideal_gains(&self) -> Vec<i64> {
        let mut gains: Vec<i64> =
            self.grades.values().copied().filter(|&grade| grade > 0).collect();
        gains.sort_unstable_by(|a, b| b.cmp(a));
        gains
    }

    /// How many documents are judged, whatever their grade.
    pub fn len(&self) -> usize {
        self.grades.len()
    }

    /// Whether no document is judged.
    pub fn is_empty(&self) -> bool {
        self.grades.is_empty()
    }

    /// Every (document id, grade), in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i64)> {
        self.grades.iter().map(|(doc_id, &grade)| (doc_id.as_str(), grade))
    }

    fn insert(&mut self, doc_id: String, grade: i64) -> Option<i64> {
        let previous = self.grades.insert(doc_id, grade);
        if previous.is_some_and(|old| old > 0) {
            self.n_relevant -= 1;
        }
        if grade > 0 {
            self.n_relevant += 1;
        }
        previous
    }
}

/// Judgments of every query of a split, remembering the order queries first appear in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Qrels {
    order: Vec<String>,
    by_query: HashMap<String, Judgments>,
}

impl Qrels {
    /// Empty qrels.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `doc_id` has `grade` for `query_id`, returning the grade it replaces.
    ///
    /// A repeated (query, document) pair keeps the last grade, as BEIR's loader does.
    pub fn insert(
        &mut self,
        query_id: impl Into<String>,
        doc_id: impl Into<String>,
        grade: i64,
    ) -> Option<i64> {
        let query_id = query_id.into();
        if !self.by_query.contains_key(&query_id) {
            self.order.push(query_id.clone());
        }
        self.by_query.entry(query_id).or_default().insert(doc_id.into(), grade)
    }

    /// Keeps the judgments of the queries `keep` accepts, in their order.
    pub fn retain_queries(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.order.retain(|query_id| keep(query_id));
        let kept: HashSet<&str> = self.order.iter().map(String::as_str).collect();
        self.by_query.retain(|query_id, _| kept.contains(query_id.as_str()));
    }

    /// The judgments of `query_id`, if it has any.
    pub fn get(&self, query_id: &str) -> Option<&Judgments> {
        self.by_query.get(query_id)
    }

    /// The judged query ids, in the order they first appear.
    pub fn query_ids(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// Every query with its judgments, in the order queries first appear.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Judgments)> {
        self.order.iter().map(|query_id| (query_id.as_str(), &self.by_query[query_id]))
    }

    /// How many queries are judged.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether no query is judged.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// How many (query, document) pairs are judged, whatever their grade.
    pub fn n_judgments(&self) -> usize {
        self.by_query.values().map(Judgments::len).sum()
    }

    /// Reads a BEIR qrels file: a header line `query-id<TAB>corpus-id<TAB>score`, then one
    /// judgment per line with an integer grade.
    ///
    /// CRLF line endings (NFCorpus ships them) and blank lines are accepted.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read, [`Error::BadLine`] naming the first line
    /// that is not a header or a judgment.
    pub fn read_beir_tsv(path: &Path) -> crate::Result<Qrels> {
        let text = fs_err::read_to_string(path)?;
        Self::parse_beir_tsv(&text, path)
    }

    /// Parses the text of a BEIR qrels file; `path` names it in errors.
    pub(crate) fn parse_beir_tsv(text: &str, path: &Path) -> crate::Result<Qrels> {
        let mut qrels = Qrels::new();
        let mut seen_header = false;
        for (line_idx, raw_line) in text.split('\n').enumerate() {
            let line = raw_line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let bad_line = |expected| Error::BadLine {
                path: path.to_path_buf(),
                line: line_idx + 1,
                expected,
                found: line.to_owned(),
            };
            let fields: Vec<&str> = line.split('\t').collect();
            let [query_id, doc_id, grade] = fields[..] else {
                return Err(bad_line("3 tab-separated fields: query-id, corpus-id, score"));
            };
            let grade = grade.trim().parse::<i64>();
            if !seen_header {
                // The header is whatever the first line says, but a judgment there means the
                // header is missing: skipping it silently would drop a judgment.
                if grade.is_ok() {
                    return Err(bad_line(BEIR_HEADER));
                }
                seen_header = true;
                continue;
            }
            let Ok(grade) = grade else {
                return Err(bad_line("an integer score in the third field"));
            };
            if query_id.is_empty() || doc_id.is_empty() {
                return Err(bad_line("a non-empty query-id and corpus-id"));
            }
            qrels.insert(query_id, doc_id, grade);
        }
        Ok(qrels)
    }
}

impl<Q: Into<String>, D: Into<String>> FromIterator<(Q, D, i64)> for Qrels {
    fn from_iter<I: IntoIterator<Item = (Q, D, i64)>>(judgments: I) -> Self {
        let mut qrels = Qrels::new();
        for (query_id, doc_id, grade) in judgments {
            qrels.insert(query_id, doc_id, grade);
        }
        qrels
    }
}

#[cfg(test)]
mod tests;
