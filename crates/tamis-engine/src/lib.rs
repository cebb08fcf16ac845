//! The tamis engine: what joins storage, the lexical and vector retrievers and the models
//! into two-stage search, whatever backend holds the index.
//!
//! Built so far:
//! - [`chunker`]: documents cut into windows of the bi-encoder's tokens, with overlap.
//! - [`fusion`]: reciprocal-rank and normalized linear fusion of ranked lists.
//! - [`filter`]: metadata filter expressions (`lang = "en" and year >= 2010`), parsed
//!   once and evaluated against a document's JSON metadata.
//! - [`Index`]: documents chunked, embedded and searched by BM25, vectors or both, with
//!   batches ingested all-or-nothing, over a [`backend::Backend`]: an embedded directory
//!   (the `tamis-embedded` crate) or a database (`tamis-postgres`). [`IndexSettings`] are
//!   the engine's own, which each backend maps onto its libraries.
//! - [`pipeline`]: the two-stage query, stage 1 then a cascade of rerankers.
//! - [`cache`]: query-embedding and rerank-score caches wrapping the models.
//! - [`result_cache`]: whole answers, keyed by what each stage reads of the query and
//!   the index's last write.
//!
//! This crate links no storage library: backends live in their own crates and are reached
//! only through [`backend::Backend`] and [`backend::Catalog`].
//! - [`ingest`](mod@ingest): documents ([`DocumentSource`]: BEIR, JSON Lines, a directory of text
//!   files) chunked, embedded outside any write lock, and written in all-or-nothing
//!   batches.
//!
//! ```
//! use tamis_core::Hit;
//! use tamis_engine::fusion::{Fusion, fuse};
//!
//! let bm25 = [Hit { key: 1, score: 12.0 }, Hit { key: 2, score: 7.5 }];
//! let dense = [Hit { key: 2, score: 0.83 }, Hit { key: 3, score: 0.80 }];
//! let fused = fuse(&[&bm25, &dense], &Fusion::rrf(2), 10).unwrap();
//! assert_eq!(fused[0].key, 2); // first and second: the best sum of reciprocal ranks
//! ```
#![deny(missing_docs)]

pub mod backend;
pub mod cache;
pub mod chunker;
mod document;
mod error;
pub mod filter;
pub mod fusion;
mod index;
pub mod ingest;
pub mod pipeline;
pub mod result_cache;
mod settings;
pub mod source;

pub use document::{Document, NewChunk, StoredChunk};
pub use index::{Index, MAX_EF_SEARCH, ScoreKind, SearchHit, SearchMode, SearchRequest};
pub use ingest::{IngestConfig, IngestModels, IngestProgress, IngestReport, ingest, ingest_shared};
pub use settings::{
    HnswSettings, IndexSettings, LateInteractionSettings, LexicalFields, LexicalSettings,
    SettingsOverrides,
};
pub use source::DocumentSource;

pub use error::{BackendError, Error, ErrorKind, Result};
pub use tamis_core::{Bm25Params, InvalidBm25Param, TokenStorage};
