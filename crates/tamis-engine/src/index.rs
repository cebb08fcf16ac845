//! An index: documents cut into chunks, embedded, stored and searched through a
//! [`Backend`] ([`Index::with_backend`]): an embedded directory (the `tamis-embedded`
//! crate) or a database (`tamis-postgres`).
//!
//! What every backend shares lives here: chunking and embedding, skipping unchanged
//! documents, fusing the retrievers' lists and grouping chunks by document
//! ([`Index::search`]), and the reranking pipeline ([`Index::search_and_rerank`]).

use std::collections::HashMap;

use crate::backend::{Backend, BackendStats};
use crate::filter::Filter;
use crate::{Error, IndexSettings, Result};

mod search;

pub use search::{MAX_EF_SEARCH, ScoreKind, SearchHit, SearchMode, SearchRequest};

// Searches may share one index across threads (`&Index` methods); writes need `&mut`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Index>();
};

/// An open index.
#[derive(Debug)]
pub struct Index {
    backend: Box<dyn Backend>,
}

impl Index {
    /// An index over any backend.
    pub fn with_backend(backend: Box<dyn Backend>) -> Index {
        Index { backend }
    }

    /// The backend (storage and stage-1 retrievers).
    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub(crate) fn backend_mut(&mut self) -> &mut dyn Backend {
        self.backend.as_mut()
    }

    /// Fails unless the index was built with `embedder_id`: vectors of two models never mix.
    pub fn check_embedder(&self, embedder_id: &str) -> Result<()> {
        let settings = self.settings();
        if settings.embedder_id == embedder_id {
            Ok(())
        } else {
            Err(Error::EmbedderMismatch {
                location: self.backend.location(),
                indexed_with: settings.embedder_id.clone(),
                requested: embedder_id.to_string(),
            })
        }
    }

    /// Fails unless `late_model_id`, the late-interaction model a writer brings (`None`:
    /// none), is the one whose token vectors the index stores: an index stores one
    /// model's, or none, fixed when it is created.
    pub fn check_late_model(&self, late_model_id: Option<&str>) -> Result<()> {
        match (&self.settings().late_interaction, late_model_id) {
            (Some(stored), Some(requested)) if stored.model_id != requested => {
                Err(Error::LateModelMismatch {
                    location: self.backend.location(),
                    indexed_with: stored.model_id.clone(),
                    requested: requested.to_string(),
                })
            }
            (None, Some(_)) => Err(Error::NoTokenVectors { location: self.backend.location() }),
            _ => Ok(()),
        }
    }

    /// The settings the index was created with.
    pub fn settings(&self) -> &IndexSettings {
        self.backend.settings()
    }

    /// Counts and state of the backend.
    pub fn stats(&self) -> Result<BackendStats> {
        self.backend.stats()
    }

    /// The metadata of the documents `ids` (unknown ids, and documents without metadata,
    /// are left out): what a search answer shows beside its hits.
    pub fn metadata(&self, ids: &[&str]) -> Result<HashMap<String, serde_json::Value>> {
        self.backend.metadata(ids)
    }

    /// Deletes documents by id (unknown ids are ignored); returns how many chunks went.
    pub fn delete(&mut self, ids: &[&str]) -> Result<usize> {
        self.backend.delete_documents(ids)
    }

    /// Deletes every document whose metadata passes `filter`, as one batch; returns how
    /// many documents and chunks went.
    pub fn delete_matching(&mut self, filter: &Filter) -> Result<(usize, usize)> {
        let ids = self.backend.documents_matching(filter)?;
        if ids.is_empty() {
            return Ok((0, 0));
        }
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        Ok((ids.len(), self.delete(&refs)?))
    }

    /// Persists what a run of writes left in memory only. The embedded backend saves its
    /// HNSW graph here rather than after every batch (which would rewrite the whole graph
    /// each time); a graph that lags is caught up from the store's log on open anyway.
    pub fn flush(&mut self) -> Result<()> {
        self.backend.flush()
    }

    /// Whether another process committed writes that this handle's searches do not see
    /// yet. A cheap check (one query on the store), for long-lived handles that only
    /// search — a server beside `tamis index` — to call before searching.
    pub fn is_behind(&self) -> Result<bool> {
        self.backend.is_behind()
    }

    /// Whether another process removed this index, or removed and built it again, since
    /// this handle opened it (the handle still reads the old files): a long-lived owner
    /// drops the handle and opens the index afresh. One `stat` of the store file.
    pub fn is_replaced(&self) -> Result<bool> {
        self.backend.is_replaced()
    }

    /// Brings this handle's searches up to what other processes committed since it opened
    /// or last refreshed: the embedded backend re-reads the BM25 index's last commit and
    /// replays the store's log into its vector index (or loads the HNSW graph the writer
    /// saved, when that is newer). Takes no lock, so the writer goes on; the handle that
    /// writes is always current and its refresh does nothing.
    pub fn refresh(&mut self) -> Result<()> {
        self.backend.refresh()
    }

    /// Takes the write lock that writes take, or fails with
    /// [`Error::Busy`] while another process (`tamis index`) holds it;
    /// a server takes it before removing the index.
    pub fn lock_for_writing(&mut self) -> Result<()> {
        self.backend.lock_for_writing()
    }
}
