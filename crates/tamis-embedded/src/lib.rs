//! The embedded backend of tamis: an index is one directory holding a SQLite store, the
//! source of truth, and the BM25 (tantivy) and vector (exact or usearch HNSW) indexes
//! derived from it.
//!
//! - [`create`] and [`open`]: an engine [`Index`] over an index directory.
//! - [`EmbeddedBackend`]: the engine's [`Backend`](tamis_engine::backend::Backend) over one
//!   directory: batches written to the store in one transaction, then to both derived
//!   indexes, which catch up from the store's change log when they lag.
//! - [`EmbeddedCatalog`]: collections as directories under one folder (`tamis serve
//!   --data-dir`).
//! - [`store`]: the SQLite [`Store`](store::Store) with its change log.
//!
//! The engine's [`IndexSettings`] become tantivy's and usearch's configurations here, and
//! are recorded in the store; errors become the engine's at the `Backend` boundary
//! ([`Error::into_engine`]).
//!
//! ```
//! use tamis_engine::{Document, IndexSettings, IngestModels, SearchMode, SearchRequest};
//! use tamis_testkit::{HASH_DIMENSION, HashEmbedder};
//!
//! let dir = tempfile::tempdir()?;
//! let mut index = tamis_embedded::create(dir.path(), IndexSettings::new("hash", HASH_DIMENSION))?;
//! let doc = |id: &str, text: &str| Document {
//!     id: id.into(),
//!     title: String::new(),
//!     text: text.into(),
//!     metadata: None,
//! };
//! let models = IngestModels::new(&HashEmbedder, &HashEmbedder);
//! index.ingest_batch(&[doc("a", "statins lower cholesterol"), doc("b", "soy and sleep")], models)?;
//! index.flush()?;
//!
//! let reopened = tamis_embedded::open(dir.path())?;
//! let request = SearchRequest::new("cholesterol", SearchMode::Hybrid);
//! let hits = reopened.search(&request, Some(&HashEmbedder))?;
//! assert_eq!(hits[0].doc_id, "a");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

use std::path::Path;

use tamis_engine::{Index, IndexSettings};

mod backend;
mod catalog;
mod error;
mod filter;
mod settings;
pub mod store;

pub use backend::EmbeddedBackend;
pub use catalog::EmbeddedCatalog;
pub use error::{Error, Result};

/// Creates an index in `dir`, which must not hold one yet (see [`EmbeddedBackend::create`]).
pub fn create(dir: &Path, settings: IndexSettings) -> tamis_engine::Result<Index> {
    let backend = EmbeddedBackend::create(dir, settings).map_err(|err| err.into_engine(dir))?;
    Ok(Index::with_backend(Box::new(backend)))
}

/// Opens the index in `dir`, bringing its derived indexes up to its store (see
/// [`EmbeddedBackend::open`]).
pub fn open(dir: &Path) -> tamis_engine::Result<Index> {
    let backend = EmbeddedBackend::open(dir).map_err(|err| err.into_engine(dir))?;
    Ok(Index::with_backend(Box::new(backend)))
}
