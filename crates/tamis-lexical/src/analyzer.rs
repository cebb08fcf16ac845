//! The text analyzer: how documents and queries become BM25 terms.
//!
//! One analyzer per index, built from its [`Bm25Config`] and registered with tantivy under a
//! name that spells the configuration out (`tamis_en_stop_stem`, …), so the schema itself
//! says how its fields were analyzed. Queries go through the very same analyzer and never
//! through tantivy's query parser: every character a user types is plain text.
//!
//! The chain is tantivy's `en_stem` with an optional stop-word step:
//! `SimpleTokenizer` (split on anything not alphanumeric, Unicode-aware) →
//! `RemoveLongFilter` (drop terms over [`MAX_TERM_BYTES`]) → `LowerCaser` →
//! `StopWordFilter` (English, if enabled) → `Stemmer` (English, if enabled).
//! Stop words are removed before stemming, as in Lucene's `EnglishAnalyzer`, so the list
//! matches surface forms.

use tantivy::tokenizer::{
    Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, StopWordFilter, TextAnalyzer,
};

use crate::Bm25Config;

/// Terms longer than this many bytes are dropped, as in tantivy's `en_stem`
/// (`RemoveLongFilter::limit(40)` keeps terms *shorter* than 40 bytes): such runs are
/// almost always encoded data rather than words.
pub const MAX_TERM_BYTES: usize = 39;

/// The name the analyzer of `config` is registered under in tantivy's tokenizer manager.
pub(crate) fn tokenizer_name(config: &Bm25Config) -> &'static str {
    match (config.stopwords, config.stemming) {
        (false, false) => "tamis_en",
        (true, false) => "tamis_en_stop",
        (false, true) => "tamis_en_stem",
        (true, true) => "tamis_en_stop_stem",
    }
}

/// Builds the analyzer of `config`.
pub(crate) fn text_analyzer(config: &Bm25Config) -> TextAnalyzer {
    let mut builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TERM_BYTES + 1))
        .filter(LowerCaser)
        .dynamic();
    if config.stopwords {
        // tantivy has an English list whenever its `stopwords` feature (on by default) is
        // compiled in, and without that feature `StopWordFilter::new` does not exist.
        let stop_words = StopWordFilter::new(Language::English)
            .expect("tantivy ships English stop words: this is a bug");
        builder = builder.filter_dynamic(stop_words);
    }
    if config.stemming {
        builder = builder.filter_dynamic(Stemmer::new(Language::English));
    }
    builder.build()
}

/// The terms `analyzer` makes of `text`, in order, repeats included.
pub(crate) fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while let Some(token) = stream.next() {
        out.push(token.text.clone());
    }
    out
}

impl Bm25Config {
    /// The terms an index with this configuration makes of `text`, in order, repeats
    /// included: what a document is indexed as and what a query is looked up as.
    ///
    /// ```
    /// use tamis_lexical::Bm25Config;
    ///
    /// let terms = Bm25Config::default().terms("The Running of the Bulls!");
    /// assert_eq!(terms, ["run", "bull"]);
    /// ```
    pub fn terms(&self, text: &str) -> Vec<String> {
        terms(&mut text_analyzer(self), text)
    }
}

#[cfg(test)]
mod tests;
