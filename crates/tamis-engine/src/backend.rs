//! The seam between the engine and where an index lives.
//!
//! An [`Index`] does what every index does the same way — chunking and
//! embedding documents, skipping unchanged ones, fusing the retrievers' lists, grouping
//! chunks by document, reranking — and hands storage and the two stage-1 retrievers to a
//! [`Backend`]: the embedded one in a directory (the `tamis-embedded` crate) or an external
//! database (the `tamis-postgres` crate). A [`Catalog`] names the indexes
//! (collections) a server holds in one place.

use std::collections::{HashMap, HashSet};

use tamis_core::{Bm25Params, ChunkKey, Hit};

use crate::filter::Filter;
use crate::index::ScoreKind;
use crate::result_cache::CacheVersion;
use crate::{Document, Index, IndexSettings, NewChunk, Result, StoredChunk};

/// What stage 1 asks a backend for: the two ranked chunk lists, before fusion.
#[derive(Debug, Clone, Copy)]
pub struct Stage1Query<'a> {
    /// The query text, for the lexical retriever (`None`: no lexical list).
    pub text: Option<&'a str>,
    /// The query embedding, for the dense retriever (`None`: no dense list).
    pub vector: Option<&'a [f32]>,
    /// Chunks to return from each retriever.
    pub depth: usize,
    /// Only chunks of documents whose metadata passes.
    pub filter: Option<&'a Filter>,
    /// The HNSW search breadth of this query (`None`: the index's
    /// [`HnswSettings::ef_search`](crate::HnswSettings::ef_search)); a graph walk keeps
    /// `max(ef_search, depth)` candidates. Exact search ignores it.
    pub ef_search: Option<usize>,
    /// BM25 parameters for this query, checked by the engine (`None`: the index's own). A
    /// backend whose lexical score is not BM25 refuses them.
    pub bm25: Option<Bm25Params>,
}

/// The ranked chunk lists of one stage-1 query, best first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stage1Lists {
    /// The lexical retriever's list (scores are the backend's lexical scores).
    pub lexical: Vec<Hit>,
    /// The dense retriever's list (scores are cosine similarities).
    pub dense: Vec<Hit>,
}

/// Counts and state of an index, for `tamis info` and the server's collection info.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct BackendStats {
    /// `"embedded"` or the database's name.
    pub backend: &'static str,
    /// Where the index lives: a directory, or a database URL without credentials.
    pub location: String,
    /// Documents stored.
    pub documents: u64,
    /// Chunks stored.
    pub chunks: u64,
    /// How dense search runs: `"exact"`, `"hnsw"`, ...
    pub vector_index: String,
    /// Vectors the dense retriever searches.
    pub vectors: u64,
    /// The last committed write's sequence number, where the backend keeps one.
    pub sequence: Option<u64>,
    /// What the lexical retriever's scores are.
    pub lexical_scoring: ScoreKind,
    /// The late-interaction token vectors stored, where the index keeps them.
    pub token_vectors: Option<TokenVectorStats>,
}

/// How much late-interaction token vectors take in an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct TokenVectorStats {
    /// Chunks with stored token vectors.
    pub chunks: u64,
    /// Token vectors (rows) stored, over all chunks.
    pub vectors: u64,
    /// Bytes of the stored vectors, as stored (without the database's own overhead).
    pub bytes: u64,
}

/// Storage and stage-1 retrieval of one index.
///
/// A write is acknowledged when it is durable and visible to later searches; a batch is
/// all-or-nothing. Searches take `&self` and may run on many threads at once.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// The settings the index was created with.
    fn settings(&self) -> &IndexSettings;

    /// Where the index lives, for messages (never with credentials).
    fn location(&self) -> String;

    /// The ids among `docs` (id, content hash) whose stored content hash is the same.
    fn unchanged(&self, docs: &[(&str, &str)]) -> Result<HashSet<String>>;

    /// Adds or replaces documents with their chunks, as one all-or-nothing batch.
    fn write_batch(&mut self, batch: &[(Document, Vec<NewChunk>)]) -> Result<()>;

    /// Deletes documents by id (unknown ids are ignored); returns how many chunks went.
    fn delete_documents(&mut self, ids: &[&str]) -> Result<usize>;

    /// Ids of the documents whose metadata passes `filter`.
    fn documents_matching(&self, filter: &Filter) -> Result<Vec<String>>;

    /// What the lexical retriever's scores are.
    fn lexical_score_kind(&self) -> ScoreKind {
        ScoreKind::Bm25
    }

    /// The terms the lexical retriever looks up for `text`, in the backend's order (sorted
    /// where the order of a query's words changes nothing): two texts with the same list
    /// get the same lexical list. `None` where the backend cannot say (a
    /// result cache then keys on the text).
    fn lexical_terms(&self, text: &str) -> Option<Vec<String>> {
        let _ = text;
        None
    }

    /// What a result cache keys this handle's answers by: an identity and the sequence of
    /// the last write its searches see, which every write changes. Read before a search,
    /// it must never be newer than what the search then sees. `None` where the backend
    /// cannot say: its answers are not cached.
    fn cache_version(&self) -> Result<Option<CacheVersion>> {
        Ok(None)
    }

    /// Runs the retrievers `query` asks for.
    fn stage1(&self, query: &Stage1Query<'_>) -> Result<Stage1Lists>;

    /// The stored chunks for `keys` (unknown keys are left out), in no particular order.
    fn chunks(&self, keys: &[ChunkKey]) -> Result<Vec<StoredChunk>>;

    /// The stored late-interaction token vectors of `keys`, in the index's
    /// [`TokenStorage`](tamis_core::TokenStorage) (chunks without any are left out), in no
    /// particular order.
    fn chunk_tokens(&self, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, Vec<u8>)>>;

    /// The chunk keys of each of the documents `doc_ids`, in document order (documents not
    /// stored are left out). One call for a rerank stage's candidates: against a server,
    /// one round trip instead of one per document.
    fn chunks_of_documents(&self, doc_ids: &[&str]) -> Result<HashMap<String, Vec<ChunkKey>>>;

    /// The chunk keys of one document, in document order (empty when it is not stored).
    fn chunks_of_document(&self, doc_id: &str) -> Result<Vec<ChunkKey>> {
        Ok(self.chunks_of_documents(&[doc_id])?.remove(doc_id).unwrap_or_default())
    }

    /// The metadata of the documents `ids` (unknown ids, and documents without metadata,
    /// are left out).
    fn metadata(&self, ids: &[&str]) -> Result<HashMap<String, serde_json::Value>>;

    /// Counts and state.
    fn stats(&self) -> Result<BackendStats>;

    /// Persists what a run of writes left in memory only (see
    /// [`Index::flush`](crate::Index::flush)); a no-op where writes are persisted at once.
    fn flush(&mut self) -> Result<()>;

    /// Whether another process committed writes that this handle's searches do not see
    /// yet ([`Backend::refresh`] brings them in). Never, where every search reads the
    /// database.
    fn is_behind(&self) -> Result<bool> {
        Ok(false)
    }

    /// Whether the index this handle opened was removed, or removed and built again, by
    /// another process since: the handle still reads the old files, so its owner should
    /// drop it and open the index afresh. Never, where the index is not files.
    fn is_replaced(&self) -> Result<bool> {
        Ok(false)
    }

    /// Brings this handle's searches up to what other processes committed since it opened
    /// or last refreshed, without taking any lock (see
    /// [`Index::refresh`](crate::Index::refresh)).
    fn refresh(&mut self) -> Result<()> {
        Ok(())
    }

    /// Takes the index's write lock (kept until the handle is dropped), failing with
    /// [`Error::Busy`](crate::Error::Busy) while another process holds it: what removing
    /// the index must take first, so that it never pulls the files from under a writer.
    /// A no-op where writes need no lock of this kind.
    fn lock_for_writing(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Checks a collection name: 1 to 64 of `A-Z a-z 0-9 _ -`, so that it is a safe directory
/// name and the same names are valid in every catalog. Every catalog's `open`, `create`
/// and `remove` check it.
pub fn check_collection_name(name: &str) -> Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid { Ok(()) } else { Err(crate::Error::InvalidCollectionName { name: name.to_string() }) }
}

/// Named indexes kept in one place: a server's data directory, or a database.
///
/// Names are checked by [`check_collection_name`]; [`names`](Catalog::names) lists only
/// valid ones.
pub trait Catalog: Send + Sync + std::fmt::Debug {
    /// Where the catalog lives, for messages (never with credentials).
    fn location(&self) -> String;

    /// Whether other processes change this catalog too (a database several nodes share):
    /// then nothing it returns may be cached, since another node may drop or recreate it.
    fn shared(&self) -> bool;

    /// The collections' names, sorted.
    fn names(&self) -> Result<Vec<String>>;

    /// Opens a collection, or `None` when there is none by that name.
    fn open(&self, name: &str) -> Result<Option<Index>>;

    /// Creates a collection; fails with [`Error::IndexExists`](crate::Error::IndexExists)
    /// when the name is taken.
    fn create(&self, name: &str, settings: IndexSettings) -> Result<Index>;

    /// Deletes a collection and everything in it; returns whether it existed.
    fn remove(&self, name: &str) -> Result<bool>;
}
