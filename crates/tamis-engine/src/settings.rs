//! What an index is built with: [`IndexSettings`], fixed at creation and recorded by the
//! backend that holds the index.
//!
//! The settings are the engine's own plain structs, so that no backend's library leaks
//! into the others: the embedded backend turns them into tantivy's and usearch's
//! configurations, PostgreSQL into a text search configuration and pgvector's HNSW options.

use tamis_core::{Bm25Params, TokenStorage};

use crate::chunker::{ChunkMode, ChunkingConfig};

/// What an index is built with; fixed at creation and recorded by its backend.
#[derive(Debug, Clone, PartialEq)]
pub struct IndexSettings {
    /// Identifies the bi-encoder (name and revision); opening with another one is an error.
    pub embedder_id: String,
    /// Length of the embeddings.
    pub dimension: usize,
    /// How documents are cut into chunks.
    pub chunking: ChunkingConfig,
    /// How the lexical retriever analyzes text.
    pub lexical: LexicalSettings,
    /// HNSW parameters, used above `exact_below` chunks.
    pub hnsw: HnswSettings,
    /// Below this many chunks, vectors are searched exactly (faster and perfect at that size).
    pub exact_below: usize,
    /// The late-interaction (ColBERT) model whose token vectors each chunk stores, if any:
    /// every ingest then needs that model too ([`IngestModels::late`](crate::IngestModels)).
    pub late_interaction: Option<LateInteractionSettings>,
}

/// Token vectors of a late-interaction (ColBERT) model, stored with each chunk so that
/// a late-interaction stage encodes only the query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LateInteractionSettings {
    /// Identifies the model (name and revision); vectors of another model are never
    /// scored against its queries.
    pub model_id: String,
    /// Width of each token vector.
    pub dimension: usize,
    /// How they are stored.
    pub storage: TokenStorage,
}

impl IndexSettings {
    /// Settings with the documented defaults for an embedder.
    pub fn new(embedder_id: impl Into<String>, dimension: usize) -> IndexSettings {
        IndexSettings {
            embedder_id: embedder_id.into(),
            dimension,
            chunking: ChunkingConfig::default(),
            lexical: LexicalSettings::default(),
            hnsw: HnswSettings::default(),
            exact_below: 20_000,
            late_interaction: None,
        }
    }
}

/// What a user may choose when creating an index, each knob optional: `None` keeps the
/// default of [`IndexSettings::new`]. The CLI's creation flags and the server's
/// `PUT /v1/collections/{name}` body both fill one, so a knob means the same everywhere.
/// Deserialized (the Python package's `settings`), a missing knob is `None` and an
/// unknown one is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SettingsOverrides {
    /// How documents become chunks.
    pub chunking: Option<ChunkMode>,
    /// Most tokens per chunk window.
    pub chunk_tokens: Option<usize>,
    /// Tokens shared by consecutive windows.
    pub overlap: Option<usize>,
    /// Whether the title is prepended to each chunk before embedding.
    pub prepend_title: Option<bool>,
    /// Lexical stemming.
    pub stemming: Option<bool>,
    /// Lexical stop-word removal.
    pub stopwords: Option<bool>,
    /// BM25 `k1`.
    pub bm25_k1: Option<f32>,
    /// BM25 `b`.
    pub bm25_b: Option<f32>,
    /// BM25 weight of the title field.
    pub title_weight: Option<f32>,
    /// Below this many chunks, dense search is exact.
    pub exact_below: Option<usize>,
    /// HNSW `M`.
    pub hnsw_m: Option<usize>,
    /// HNSW `ef_construction`.
    pub hnsw_ef_construction: Option<usize>,
    /// HNSW `ef_search`.
    pub hnsw_ef_search: Option<usize>,
}

impl SettingsOverrides {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == SettingsOverrides::default()
    }

    /// Sets in `settings` every knob given here; the others keep their values. Ranges are
    /// checked by the backend that creates the index.
    pub fn apply(&self, settings: &mut IndexSettings) {
        let chunking = &mut settings.chunking;
        chunking.mode = self.chunking.unwrap_or(chunking.mode);
        chunking.max_tokens = self.chunk_tokens.or(chunking.max_tokens);
        chunking.overlap_tokens = self.overlap.unwrap_or(chunking.overlap_tokens);
        chunking.prepend_title = self.prepend_title.unwrap_or(chunking.prepend_title);
        let lexical = &mut settings.lexical;
        lexical.stemming = self.stemming.unwrap_or(lexical.stemming);
        lexical.stopwords = self.stopwords.unwrap_or(lexical.stopwords);
        let bm25 = &mut lexical.bm25;
        bm25.k1 = self.bm25_k1.unwrap_or(bm25.k1);
        bm25.b = self.bm25_b.unwrap_or(bm25.b);
        bm25.title_weight = self.title_weight.unwrap_or(bm25.title_weight);
        settings.exact_below = self.exact_below.unwrap_or(settings.exact_below);
        let hnsw = &mut settings.hnsw;
        hnsw.m = self.hnsw_m.unwrap_or(hnsw.m);
        hnsw.ef_construction = self.hnsw_ef_construction.unwrap_or(hnsw.ef_construction);
        hnsw.ef_search = self.hnsw_ef_search.unwrap_or(hnsw.ef_search);
    }
}

/// How the lexical retriever analyzes text, which fields it searches and how it scores.
///
/// The defaults (English stemming and stop words, title and text as two fields) were
/// measured on NFCorpus and Cranfield: see `FieldMode` in
/// `crates/tamis-lexical/src/config.rs`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LexicalSettings {
    /// Reduce terms to their English stem (default on).
    pub stemming: bool,
    /// Drop English stop words before stemming (default on).
    pub stopwords: bool,
    /// Whether title and text are one field or two (default two).
    pub fields: LexicalFields,
    /// BM25's `k1`, `b` and title weight. A search may try others
    /// ([`SearchRequest::bm25`](crate::SearchRequest::bm25)).
    pub bm25: Bm25Params,
}

impl LexicalSettings {
    /// Checks the BM25 parameters' ranges.
    pub fn validate(&self) -> crate::Result<()> {
        self.bm25
            .validate()
            .map_err(|err| crate::Error::InvalidSettings { message: err.to_string() })
    }
}

impl Default for LexicalSettings {
    fn default() -> Self {
        LexicalSettings {
            stemming: true,
            stopwords: true,
            fields: LexicalFields::default(),
            bm25: Bm25Params::default(),
        }
    }
}

/// Where the lexical retriever indexes a document's title and text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LexicalFields {
    /// Title and text are two fields, searched together (the default, measured the better
    /// of the two).
    #[default]
    Multifield,
    /// `title + " " + text` is one field.
    Concatenated,
}

impl LexicalFields {
    /// The name backends record (`multifield`, `concatenated`).
    pub fn name(self) -> &'static str {
        match self {
            LexicalFields::Multifield => "multifield",
            LexicalFields::Concatenated => "concatenated",
        }
    }

    /// The mode [`LexicalFields::name`] names.
    pub fn from_name(name: &str) -> Option<LexicalFields> {
        [LexicalFields::Multifield, LexicalFields::Concatenated]
            .into_iter()
            .find(|fields| fields.name() == name)
    }
}

/// How the HNSW graph of dense search is built and walked.
///
/// The defaults (`m = 16`, `ef_construction = 128`, `ef_search = 64`) were chosen by
/// measuring recall@10 against exact search: see `HnswParams` in
/// `crates/tamis-vector/src/hnsw/params.rs`. Each backend checks the ranges it accepts
/// when an index is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswSettings {
    /// `M`: the neighbours each node keeps per graph layer. More raise recall, memory and
    /// insertion time.
    pub m: usize,
    /// `ef_construction`: the candidates an insertion examines to choose a new node's
    /// neighbours. Higher builds a better graph, more slowly.
    pub ef_construction: usize,
    /// `ef_search`: the candidates a search keeps while walking the graph (a search for
    /// `k` hits keeps at least `k`); the main recall/latency trade-off. A query may set its
    /// own ([`SearchRequest::ef_search`](crate::SearchRequest::ef_search)).
    pub ef_search: usize,
}

impl Default for HnswSettings {
    fn default() -> Self {
        HnswSettings { m: 16, ef_construction: 128, ef_search: 64 }
    }
}

#[cfg(test)]
mod tests;
