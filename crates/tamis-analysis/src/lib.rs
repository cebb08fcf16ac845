//! The text analyzer of tamis's BM25: how documents and queries become terms.
//!
//! Every lexical backend analyzes with this crate, so the same text gives the same terms
//! whether it is indexed by tantivy (`tamis-lexical`) or stored in PostgreSQL: BM25 scores
//! can only agree across backends if their terms do. It links no search engine.
//!
//! The chain is the one tamis has always used (tantivy's `en_stem`, with an optional
//! stop-word step), reproduced step for step so that indexes built before this crate
//! existed keep matching their queries (`tamis-lexical` checks the two agree on the shared
//! corpora):
//!
//! 1. split into maximal runs of alphanumeric characters (Unicode's, `char::is_alphanumeric`);
//! 2. drop runs longer than [`MAX_TERM_BYTES`] bytes (before lowercasing);
//! 3. lowercase, character by character (no final-sigma rule);
//! 4. drop [`ENGLISH_STOP_WORDS`], if enabled (before stemming, as Lucene's
//!    `EnglishAnalyzer` does, so the list matches surface forms);
//! 5. stem with Snowball English (Porter2), if enabled: `frostem`, the stemmer tantivy
//!    uses, at the same version.
//!
//! ```
//! use tamis_analysis::Analyzer;
//!
//! let analyzer = Analyzer::new(true, true);
//! assert_eq!(analyzer.terms("The Running of the Bulls!"), ["run", "bull"]);
//! assert_eq!(Analyzer::new(false, false).terms("C'est l'ÉTÉ"), ["c", "est", "l", "été"]);
//! ```
#![deny(missing_docs)]

use frostem::{Algorithm, Stemmer};

/// Terms longer than this many bytes are dropped: such runs are almost always encoded data
/// rather than words. (tantivy's `RemoveLongFilter::limit(40)` keeps terms *shorter* than
/// 40 bytes.)
pub const MAX_TERM_BYTES: usize = 39;

/// Lucene's English stop words (`EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`), which tantivy,
/// Elasticsearch's `_english_` default and `bm25s` use too.
pub const ENGLISH_STOP_WORDS: [&str; 33] = [
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// The analyzer of one configuration: English stemming and stop-word removal, each on or
/// off.
#[derive(Clone, Copy)]
pub struct Analyzer {
    stopwords: bool,
    stemmer: Option<Stemmer>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("stemming", &self.stemmer.is_some())
            .field("stopwords", &self.stopwords)
            .finish()
    }
}

impl Analyzer {
    /// An analyzer that stems (Snowball English) and drops English stop words as asked.
    pub fn new(stemming: bool, stopwords: bool) -> Analyzer {
        Analyzer { stopwords, stemmer: stemming.then(|| Stemmer::new(Algorithm::English)) }
    }

    /// Calls `term` with each term of `text`, in order, repeats included.
    pub fn for_each_term(&self, text: &str, mut term: impl FnMut(&str)) {
        let mut lowered = String::new();
        for run in text.split(|c: char| !c.is_alphanumeric()) {
            if run.is_empty() || run.len() > MAX_TERM_BYTES {
                continue;
            }
            let lower = lowercase(run, &mut lowered);
            if self.stopwords && ENGLISH_STOP_WORDS.contains(&lower) {
                continue;
            }
            match &self.stemmer {
                Some(stemmer) => term(&stemmer.stem(lower)),
                None => term(lower),
            }
        }
    }

    /// The terms of `text`, in order, repeats included: what a document is indexed as and
    /// what a query is looked up as.
    pub fn terms(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_term(text, |term| out.push(term.to_owned()));
        out
    }
}

/// `run` lowercased, character by character (`char::to_lowercase`, so no final-sigma
/// rule): `run` itself when it has no uppercase ASCII and nothing else, else `buffer`.
fn lowercase<'a>(run: &'a str, buffer: &'a mut String) -> &'a str {
    if run.is_ascii() && !run.bytes().any(|b| b.is_ascii_uppercase()) {
        return run;
    }
    buffer.clear();
    if run.is_ascii() {
        buffer.push_str(run);
        buffer.make_ascii_lowercase();
    } else {
        buffer.extend(run.chars().flat_map(char::to_lowercase));
    }
    buffer
}

#[cfg(test)]
mod tests;
