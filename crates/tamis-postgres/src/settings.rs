//! A collection's settings as recorded in `tamis_collections.settings` (jsonb).

use tamis_engine::chunker::ChunkingConfig;
use tamis_engine::{
    Bm25Params, HnswSettings, IndexSettings, LateInteractionSettings, LexicalFields,
    LexicalSettings, TokenStorage,
};

use crate::{Error, Result};

/// Options of the PostgreSQL backend a collection is created with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PgOptions {
    /// Store vectors as `halfvec` (16-bit floats): half the space and a smaller HNSW index,
    /// scores within about 1e-3 of `vector`'s.
    pub halfvec: bool,
    /// The embedder returns unit-length vectors: the HNSW index uses inner product
    /// (`vector_ip_ops`), which equals cosine on them and is cheaper; otherwise
    /// `vector_cosine_ops`.
    pub normalized: bool,
}

/// Everything recorded about a collection; fixed at creation.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredSettings {
    pub embedder: String,
    pub dimension: usize,
    pub chunking: ChunkingConfig,
    pub exact_below: usize,
    /// PostgreSQL text search configuration of a version 1 collection's `tsvector`:
    /// `english` (stemming and stop words) or `simple`.
    pub text_search: String,
    /// Whether terms are stemmed and stop words dropped, recorded since collections
    /// rank with tamis's own analyzer (which can do one without the other); absent, both
    /// follow `text_search`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stemming: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopwords: Option<bool>,
    /// `multifield` (title weighted A, text D) or `concatenated` (one unweighted vector).
    pub fields: String,
    /// BM25's parameters (`ts_rank` ignores them). Collections made before they were
    /// recorded read as [`Bm25Params::LEGACY`].
    #[serde(default = "legacy_bm25")]
    pub bm25: Bm25Params,
    pub hnsw_m: usize,
    pub hnsw_ef_construction: usize,
    pub hnsw_ef_search: usize,
    pub halfvec: bool,
    pub normalized: bool,
    /// The late-interaction model whose token vectors the collection stores (schema
    /// version 5, which older tamis refuses to open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_interaction: Option<StoredLate>,
}

/// [`LateInteractionSettings`] as recorded.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(crate) struct StoredLate {
    pub model: String,
    pub dimension: usize,
    pub storage: TokenStorage,
}

fn legacy_bm25() -> Bm25Params {
    Bm25Params::LEGACY
}

impl StoredSettings {
    /// The settings to record for a new collection; refuses what PostgreSQL cannot do.
    pub fn new(settings: &IndexSettings, options: PgOptions) -> Result<StoredSettings> {
        settings.chunking.validate()?;
        settings.lexical.validate()?;
        let (stemming, stopwords) = (settings.lexical.stemming, settings.lexical.stopwords);
        if settings.dimension == 0 || settings.dimension > 16_000 {
            return Err(Error::Config(format!(
                "pgvector's HNSW index holds 1 to 2000 dimensions (4000 as halfvec); the \
                 embedder has {}",
                settings.dimension
            )));
        }
        let hnsw = &settings.hnsw;
        let in_range = (2..=100).contains(&hnsw.m)
            && (4..=1000).contains(&hnsw.ef_construction)
            && hnsw.ef_construction >= 2 * hnsw.m
            && (1..=1000).contains(&hnsw.ef_search);
        if !in_range {
            return Err(Error::Config(format!(
                "pgvector's HNSW takes m 2 to 100, ef_construction 4 to 1000 and at least 2·m, \
                 ef_search 1 to 1000; got m {}, ef_construction {}, ef_search {}",
                hnsw.m, hnsw.ef_construction, hnsw.ef_search
            )));
        }
        if let Some(late) = &settings.late_interaction
            && !(1..=16_000).contains(&late.dimension)
        {
            return Err(Error::Config(format!(
                "late-interaction token vectors of {} dimensions: a model gives 1 to 16000",
                late.dimension
            )));
        }
        let limit = if options.halfvec { 4000 } else { 2000 };
        if settings.dimension > limit {
            return Err(Error::Config(format!(
                "pgvector's HNSW index holds at most {limit} dimensions as {}; the embedder \
                 has {}{}",
                if options.halfvec { "halfvec" } else { "vector" },
                settings.dimension,
                if options.halfvec { "" } else { " (try --halfvec)" }
            )));
        }
        Ok(StoredSettings {
            embedder: settings.embedder_id.clone(),
            dimension: settings.dimension,
            chunking: settings.chunking.clone(),
            exact_below: settings.exact_below,
            text_search: if stemming { "english" } else { "simple" }.into(),
            stemming: Some(stemming),
            stopwords: Some(stopwords),
            fields: settings.lexical.fields.name().into(),
            bm25: settings.lexical.bm25,
            hnsw_m: settings.hnsw.m,
            hnsw_ef_construction: settings.hnsw.ef_construction,
            hnsw_ef_search: settings.hnsw.ef_search,
            halfvec: options.halfvec,
            normalized: options.normalized,
            late_interaction: settings.late_interaction.as_ref().map(|late| StoredLate {
                model: late.model_id.clone(),
                dimension: late.dimension,
                storage: late.storage,
            }),
        })
    }

    /// The engine's view of these settings.
    pub fn index_settings(&self) -> IndexSettings {
        let english = self.text_search == "english";
        let stemming = self.stemming.unwrap_or(english);
        let stopwords = self.stopwords.unwrap_or(english);
        IndexSettings {
            embedder_id: self.embedder.clone(),
            dimension: self.dimension,
            chunking: self.chunking.clone(),
            lexical: LexicalSettings {
                stemming,
                stopwords,
                fields: LexicalFields::from_name(&self.fields).unwrap_or_default(),
                bm25: self.bm25,
            },
            hnsw: HnswSettings {
                m: self.hnsw_m,
                ef_construction: self.hnsw_ef_construction,
                ef_search: self.hnsw_ef_search,
            },
            exact_below: self.exact_below,
            late_interaction: self.late_interaction.as_ref().map(|late| LateInteractionSettings {
                model_id: late.model.clone(),
                dimension: late.dimension,
                storage: late.storage,
            }),
        }
    }

    pub fn vector_type(&self) -> String {
        let base = if self.halfvec { "halfvec" } else { "vector" };
        format!("{base}({})", self.dimension)
    }

    pub fn operator_class(&self) -> &'static str {
        match (self.halfvec, self.normalized) {
            (false, false) => "vector_cosine_ops",
            (false, true) => "vector_ip_ops",
            (true, false) => "halfvec_cosine_ops",
            (true, true) => "halfvec_ip_ops",
        }
    }

    /// The distance operator the HNSW index serves: `<=>` (cosine) or `<#>` (negative
    /// inner product).
    pub fn distance_operator(&self) -> &'static str {
        if self.normalized { "<#>" } else { "<=>" }
    }

    /// The `tsvector` of a version 1 collection's chunk from its title and text columns.
    pub fn lexical_expression(&self, title: &str, text: &str) -> String {
        let config = &self.text_search;
        if self.fields == LexicalFields::Concatenated.name() {
            format!("to_tsvector('{config}'::regconfig, {title} || ' ' || {text})")
        } else {
            format!(
                "setweight(to_tsvector('{config}'::regconfig, {title}), 'A') || \
                 to_tsvector('{config}'::regconfig, {text})"
            )
        }
    }

    /// Cosine similarity from the operator's distance.
    pub fn similarity(&self, distance: f64) -> f32 {
        if self.normalized { -distance as f32 } else { (1.0 - distance) as f32 }
    }
}

#[cfg(test)]
mod tests;
