//! The text analyzer: how documents and queries become BM25 terms.
//!
//! The terms are `tamis-analysis`'s, which every lexical backend shares, so an index here and
//! a PostgreSQL collection see the same terms. tantivy indexes through a [`Tokenizer`]
//! that hands it those terms, registered under a name that spells the configuration out
//! (`tamis_en_stop_stem`, …), so the schema itself says how its fields were analyzed.
//! Queries go through the very same analyzer and never through tantivy's query parser:
//! every character a user types is plain text.
//!
//! The chain is the one tantivy's `en_stem` (with an optional stop-word step) runs, which
//! tamis used before `tamis-analysis` existed; `tests.rs` checks that both give the same
//! terms on the shared corpora, so those indexes keep matching their queries.

use tamis_analysis::Analyzer;
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

use crate::Bm25Config;

pub use tamis_analysis::MAX_TERM_BYTES;

/// The name the analyzer of `config` is registered under in tantivy's tokenizer manager.
pub(crate) fn tokenizer_name(config: &Bm25Config) -> &'static str {
    match (config.stopwords, config.stemming) {
        (false, false) => "tamis_en",
        (true, false) => "tamis_en_stop",
        (false, true) => "tamis_en_stem",
        (true, true) => "tamis_en_stop_stem",
    }
}

/// tantivy's analyzer for `config`, to register and index with.
pub(crate) fn text_analyzer(config: &Bm25Config) -> TextAnalyzer {
    TextAnalyzer::from(Terms { analyzer: config.analyzer(), token: Token::default() })
}

/// A tantivy [`Tokenizer`] whose tokens are `tamis-analysis`'s terms. Only the terms
/// matter: the schema indexes no positions, and nothing reads offsets.
#[derive(Debug, Clone)]
struct Terms {
    analyzer: Analyzer,
    token: Token,
}

impl Tokenizer for Terms {
    type TokenStream<'a> = TermStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> TermStream<'a> {
        self.token = Token::default();
        TermStream { terms: self.analyzer.terms(text).into_iter(), token: &mut self.token }
    }
}

/// The terms of one text, handed to tantivy one at a time.
struct TermStream<'a> {
    terms: std::vec::IntoIter<String>,
    token: &'a mut Token,
}

impl TokenStream for TermStream<'_> {
    fn advance(&mut self) -> bool {
        let Some(term) = self.terms.next() else { return false };
        self.token.text = term;
        self.token.position = self.token.position.wrapping_add(1);
        true
    }

    fn token(&self) -> &Token {
        self.token
    }

    fn token_mut(&mut self) -> &mut Token {
        self.token
    }
}

impl Bm25Config {
    /// The analyzer of this configuration (`tamis-analysis`'s, shared by every backend).
    pub fn analyzer(&self) -> Analyzer {
        Analyzer::new(self.stemming, self.stopwords)
    }

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
        self.analyzer().terms(text)
    }
}

#[cfg(test)]
mod tests;
