//! Stage-1 search over an [`Index`]: lexical, dense, or both fused, with metadata filters.

use std::collections::{HashMap, HashSet};

use tamis_core::{Bm25Params, ChunkKey, Embedder, Hit, TextRole};

use super::Index;
use crate::backend::Stage1Query;
use crate::filter::Filter;
use crate::fusion::{Fusion, fuse};
use crate::{Error, Result};

/// Which retrievers a search uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    /// BM25 only.
    Bm25,
    /// Bi-encoder vectors only.
    Dense,
    /// Both, fused.
    Hybrid,
}

/// What a [`SearchHit::score`] is, so nobody thresholds an RRF score as a similarity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScoreKind {
    /// A BM25 score.
    Bm25,
    /// A PostgreSQL full-text rank (`ts_rank`), the lexical score of the PostgreSQL backend.
    TsRank,
    /// A cosine similarity of embeddings.
    Cosine,
    /// A fused score (RRF or linear): comparable only within one result list.
    Fused,
}

/// One search.
#[derive(Debug, Clone)]
pub struct SearchRequest<'a> {
    /// The query text.
    pub query: &'a str,
    /// Retrievers to use.
    pub mode: SearchMode,
    /// Documents to return.
    pub k: usize,
    /// Only documents whose metadata passes.
    pub filter: Option<&'a Filter>,
    /// Chunks taken from each retriever before fusion and grouping (≥ k).
    pub depth: usize,
    /// How hybrid lists are fused (BM25 first, dense second).
    pub fusion: Fusion,
    /// The HNSW search breadth `ef` of this query, 1 to [`MAX_EF_SEARCH`] (`None`: the
    /// index's). The graph walk keeps `max(ef_search, depth)` candidates: higher finds
    /// more of the true nearest chunks, more slowly. Exact dense search ignores it.
    pub ef_search: Option<usize>,
    /// BM25 parameters for this query (`None`: the index's own
    /// [`LexicalSettings::bm25`](crate::LexicalSettings::bm25)); what parameter sweeps use.
    /// Backends whose lexical score is not BM25 refuse them.
    pub bm25: Option<Bm25Params>,
}

/// The largest per-query [`SearchRequest::ef_search`]: pgvector's limit, kept for every
/// backend so that a request valid on one is valid on all.
pub const MAX_EF_SEARCH: usize = 1000;

impl<'a> SearchRequest<'a> {
    /// A request with the defaults: k 10, depth 100, RRF (k = 60, equal weights), no filter.
    pub fn new(query: &'a str, mode: SearchMode) -> SearchRequest<'a> {
        SearchRequest {
            query,
            mode,
            k: 10,
            filter: None,
            depth: 100,
            fusion: Fusion::rrf(2),
            ef_search: None,
            bm25: None,
        }
    }
}

/// One document of a result: its best chunk and the score that ranked it.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The document id.
    pub doc_id: String,
    /// Its best-scoring chunk.
    pub chunk_key: ChunkKey,
    /// The score that ranked the document (see `score_kind`).
    pub score: f32,
    /// What `score` is.
    pub score_kind: ScoreKind,
    /// The document title.
    pub title: String,
    /// The best chunk's text.
    pub text: String,
    /// 1-based rank and score of the chunk in the BM25 list, when it was there.
    pub bm25: Option<(usize, f32)>,
    /// 1-based rank and score of the chunk in the dense list, when it was there.
    pub dense: Option<(usize, f32)>,
}

impl Index {
    /// Runs a stage-1 search. `embedder` is needed for dense and hybrid modes and must be
    /// the index's own (see [`Index::check_embedder`]).
    pub fn search(
        &self,
        request: &SearchRequest<'_>,
        embedder: Option<&dyn Embedder>,
    ) -> Result<Vec<SearchHit>> {
        if let Some(ef) = request.ef_search
            && !(1..=MAX_EF_SEARCH).contains(&ef)
        {
            return Err(Error::InvalidSearch {
                message: format!("ef_search must be 1 to {MAX_EF_SEARCH}, got {ef}"),
            });
        }
        if let Some(params) = &request.bm25 {
            params.validate().map_err(|err| Error::InvalidSearch { message: err.to_string() })?;
        }
        // Every surface refuses it alike: BM25 finds nothing, and the embedding of nothing
        // ranks by noise.
        if request.query.trim().is_empty() {
            return Err(Error::InvalidSearch { message: "the query is empty".into() });
        }
        if request.k == 0 {
            return Ok(Vec::new());
        }
        let depth = request.depth.max(request.k);
        let text = matches!(request.mode, SearchMode::Bm25 | SearchMode::Hybrid);
        let vector = match request.mode {
            SearchMode::Dense | SearchMode::Hybrid => {
                let embedder = embedder.ok_or(Error::EmbedderRequired)?;
                let query =
                    embedder.embed(&[request.query], TextRole::Query).map_err(Error::Model)?;
                Some(query.into_iter().next().unwrap_or_default())
            }
            SearchMode::Bm25 => None,
        };
        let lists = self.backend.stage1(&Stage1Query {
            text: text.then_some(request.query),
            vector: vector.as_deref(),
            depth,
            filter: request.filter,
            ef_search: request.ef_search,
            bm25: request.bm25,
        })?;
        let (bm25, dense) = (lists.lexical, lists.dense);
        let (ranked, kind): (Vec<(ChunkKey, f32)>, ScoreKind) = match request.mode {
            SearchMode::Bm25 => {
                (bm25.iter().map(|h| (h.key, h.score)).collect(), self.backend.lexical_score_kind())
            }
            SearchMode::Dense => {
                (dense.iter().map(|h| (h.key, h.score)).collect(), ScoreKind::Cosine)
            }
            SearchMode::Hybrid => {
                let fused = fuse(&[&bm25, &dense], &request.fusion, usize::MAX)?;
                (fused.iter().map(|h| (h.key, h.score)).collect(), ScoreKind::Fused)
            }
        };
        let position = |list: &[Hit]| -> HashMap<ChunkKey, (usize, f32)> {
            list.iter().enumerate().map(|(i, h)| (h.key, (i + 1, h.score))).collect()
        };
        let (bm25_at, dense_at) = (position(&bm25), position(&dense));
        self.best_chunk_per_document(&ranked, request.k, kind, |key| {
            (bm25_at.get(&key).copied(), dense_at.get(&key).copied())
        })
    }

    /// Groups ranked chunks by document, keeping each document's best chunk, best first.
    fn best_chunk_per_document(
        &self,
        ranked: &[(ChunkKey, f32)],
        k: usize,
        kind: ScoreKind,
        places: impl Fn(ChunkKey) -> (Option<(usize, f32)>, Option<(usize, f32)>),
    ) -> Result<Vec<SearchHit>> {
        let keys: Vec<ChunkKey> = ranked.iter().map(|(key, _)| *key).collect();
        let chunks: HashMap<ChunkKey, crate::StoredChunk> =
            self.backend.chunks(&keys)?.into_iter().map(|c| (c.key, c)).collect();
        let mut seen = HashSet::new();
        let mut hits = Vec::new();
        for (key, score) in ranked {
            let Some(chunk) = chunks.get(key) else { continue };
            if !seen.insert(chunk.doc_id.clone()) {
                continue;
            }
            let (bm25, dense) = places(*key);
            hits.push(SearchHit {
                doc_id: chunk.doc_id.clone(),
                chunk_key: *key,
                score: *score,
                score_kind: kind,
                title: chunk.title.clone(),
                text: chunk.text.clone(),
                bm25,
                dense,
            });
            if hits.len() == k {
                break;
            }
        }
        Ok(hits)
    }
}
