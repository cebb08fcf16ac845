//! Collections: named indexes in a [`Catalog`] — directories under `<data_dir>/collections`
//! (opened at start, or on first request when another process created them, and kept
//! open, following what other processes write to them), or a database shared with other
//! nodes (looked up on every request, so a node keeps nothing the others need).
//!
//! Searches share an index (read lock) and run their rerankers through the batchers, so
//! concurrent searches batch together; writes take the write lock for one batch at a time.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use tamis_engine::backend::{Catalog, check_collection_name};
use tamis_engine::cache::CachedEmbedder;
use tamis_engine::{Index, IndexSettings};

use crate::error::{ApiError, Error, ErrorType};
use crate::models::EmbedModel;

/// One named index.
#[derive(Debug)]
pub struct Collection {
    /// Its name.
    pub name: String,
    index: RwLock<Index>,
    /// Held shared by each write request for its whole length (an upsert releases the
    /// index's lock between batches), exclusively by `delete`: a delete never lands
    /// between two batches of an upsert.
    writes: RwLock<()>,
    /// Set once the collection is deleted: a write that waited for the delete then
    /// answers 404 instead of writing into removed files.
    removed: AtomicBool,
}

impl Collection {
    fn new(name: &str, index: Index) -> Arc<Collection> {
        Arc::new(Collection {
            name: name.to_string(),
            index: RwLock::new(index),
            writes: RwLock::new(()),
            removed: AtomicBool::new(false),
        })
    }

    /// Marks a write request (upsert, delete of documents) in progress until the guard is
    /// dropped; 404 if the collection was deleted meanwhile.
    pub fn begin_write(&self) -> Result<RwLockReadGuard<'_, ()>, ApiError> {
        let guard = read(&self.writes);
        if self.removed.load(Ordering::SeqCst) {
            return Err(ApiError::not_found(format!("collection {:?} was deleted", self.name)));
        }
        Ok(guard)
    }

    /// The index, for searching.
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The lock itself, for work that takes it step by step (an upsert holds the read
    /// lock to check a batch and the write lock to write it, neither while embedding).
    pub fn lock(&self) -> &RwLock<Index> {
        &self.index
    }

    /// The index, for writing.
    pub fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes in what another process (`tamis index` on the same directory) committed
    /// since this server last looked. Blocking: one query on the store, and when behind,
    /// a refresh under the write lock.
    fn follow_other_writers(&self) -> Result<(), ApiError> {
        if self.read().is_behind()? {
            let mut index = self.write();
            // Another request may have refreshed it while this one waited for the lock.
            if index.is_behind()? {
                index.refresh()?;
            }
        }
        Ok(())
    }
}

/// Every collection of a catalog.
#[derive(Debug)]
pub struct Collections {
    catalog: Box<dyn Catalog>,
    embedder: Option<Arc<EmbedModel>>,
    /// The bi-encoder behind a query-embedding cache, shared by every collection.
    query_embedder: Option<CachedEmbedder<Arc<EmbedModel>>>,
    /// Open collections of a data directory; `None` for a shared catalog.
    open: Option<OpenCollections>,
}

/// A data directory's open collections by name.
type OpenCollections = RwLock<BTreeMap<String, Arc<Collection>>>;

/// A valid collection name ([`check_collection_name`]), or 400.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    Ok(check_collection_name(name)?)
}

impl Collections {
    /// The collections of `catalog`. A catalog only this process changes has every
    /// collection opened now (so a damaged one, or one built with another embedder, fails
    /// the start); a shared one is only read (to prove it reachable), then looked up on
    /// every request.
    pub fn open(
        catalog: Box<dyn Catalog>,
        embedder: Option<Arc<EmbedModel>>,
        cache_entries: usize,
    ) -> crate::Result<Collections> {
        let startup = |context: String| {
            move |source: tamis_engine::Error| Error::Startup {
                context,
                kind: source.kind(),
                source: Box::new(source),
            }
        };
        let names = catalog.names().map_err(startup(format!("listing {}", catalog.location())))?;
        let mut open = BTreeMap::new();
        // A shared catalog may hold collections of other embedders, for other nodes; each
        // request checks its own (`Collections::check_embedder`).
        if !catalog.shared() {
            for name in names {
                let context = format!("opening collection {name} ({})", catalog.location());
                let Some(index) = catalog.open(&name).map_err(startup(context))? else {
                    continue;
                };
                if let Some(embedder) = &embedder {
                    index
                        .check_embedder(&embedder.index_id)
                        .map_err(startup(format!("collection {name}")))?;
                }
                open.insert(name.clone(), Collection::new(&name, index));
            }
        }
        let open = (!catalog.shared()).then(|| RwLock::new(open));
        let capacity = NonZeroUsize::new(cache_entries).unwrap_or(NonZeroUsize::MIN);
        let query_embedder = embedder.clone().map(|e| CachedEmbedder::new(e, capacity));
        Ok(Collections { catalog, embedder, query_embedder, open })
    }

    /// Fails (400) unless `index` was built with this server's bi-encoder; collections of
    /// a shared catalog are not checked at start.
    pub fn check_embedder(&self, index: &Index) -> Result<(), ApiError> {
        match &self.embedder {
            Some(embedder) => Ok(index.check_embedder(&embedder.index_id)?),
            None => Ok(()),
        }
    }

    /// The bi-encoder (with its query cache) searches use.
    pub fn query_embedder(&self) -> Option<&CachedEmbedder<Arc<EmbedModel>>> {
        self.query_embedder.as_ref()
    }

    /// The bi-encoder ingest uses.
    pub fn embedder(&self) -> Result<&Arc<EmbedModel>, ApiError> {
        self.embedder.as_ref().ok_or_else(|| {
            ApiError::bad_request("this server has no embedding model (start it with --model)")
        })
    }

    /// The names of every collection, sorted, including those another process created
    /// since this one started. Blocking.
    pub fn names(&self) -> Result<Vec<String>, ApiError> {
        let mut names = self.catalog.names()?;
        if let Some(open) = &self.open {
            names.extend(read(open).keys().cloned());
            names.sort();
            names.dedup();
        }
        Ok(names)
    }

    /// The collection `name`, or 404, up to date with other processes' writes. Blocking.
    pub fn get(&self, name: &str) -> Result<Arc<Collection>, ApiError> {
        check_name(name)?;
        let missing = || ApiError::not_found(format!("no collection named {name:?}"));
        let Some(open) = &self.open else {
            let index = self.catalog.open(name)?.ok_or_else(missing)?;
            return Ok(Collection::new(name, index));
        };
        let collection = match known(open, name)? {
            Some(collection) => collection,
            // Perhaps created by another process (`tamis index` into the data directory):
            // opened under the map's write lock, so that a `delete` cannot remove it in
            // between and leave a stale handle in the map.
            None => {
                let mut open = open.write().unwrap_or_else(PoisonError::into_inner);
                match open.get(name) {
                    Some(collection) => collection.clone(),
                    None => {
                        // Its embedder is checked where it matters, by searches and writes,
                        // as for a shared catalog.
                        let index = self.catalog.open(name)?.ok_or_else(missing)?;
                        let collection = Collection::new(name, index);
                        open.insert(name.to_string(), collection.clone());
                        collection
                    }
                }
            }
        };
        collection.follow_other_writers()?;
        Ok(collection)
    }

    /// Creates the collection `name` with `settings` (409 if it exists). Blocking.
    pub fn create(&self, name: &str, settings: IndexSettings) -> Result<Arc<Collection>, ApiError> {
        check_name(name)?;
        let exists =
            || ApiError::new(ErrorType::Conflict, format!("collection {name:?} already exists"));
        let Some(open) = &self.open else {
            // The catalog decides atomically between nodes racing for the name.
            let index = self.catalog.create(name, settings).map_err(|err| match err {
                tamis_engine::Error::CollectionExists { .. } => exists(),
                other => other.into(),
            })?;
            return Ok(Collection::new(name, index));
        };
        // A handle whose directory another process removed does not hold the name.
        known(open, name)?;
        let mut open = open.write().unwrap_or_else(PoisonError::into_inner);
        if open.contains_key(name) {
            return Err(exists());
        }
        let index = self.catalog.create(name, settings)?;
        let collection = Collection::new(name, index);
        open.insert(name.to_string(), collection.clone());
        Ok(collection)
    }

    /// Deletes the collection `name` and everything in it (404 if it does not exist).
    /// Blocking: waits for this process's searches in progress on it, and holds other
    /// requests for collections meanwhile. Refuses (409) while a write request of this
    /// server is in progress on it, and (503, as writes do) while another process
    /// (`tamis index`) holds its write lock: removing the files under a writer would make
    /// it fail midway.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        check_name(name)?;
        let missing = || ApiError::not_found(format!("no collection named {name:?}"));
        let Some(open) = &self.open else {
            return if self.catalog.remove(name)? { Ok(()) } else { Err(missing()) };
        };
        // A handle whose directory another process removed is forgotten first: 404.
        known(open, name)?;
        // Held to the end: a request for the name would otherwise reopen the directory
        // being removed (see `get`).
        let mut open = open.write().unwrap_or_else(PoisonError::into_inner);
        match open.get(name).cloned() {
            Some(collection) => {
                let _no_writes = match collection.writes.try_write() {
                    Ok(guard) => guard,
                    Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
                    Err(TryLockError::WouldBlock) => {
                        return Err(ApiError::new(
                            ErrorType::Conflict,
                            format!(
                                "collection {name:?} is being written (an upsert or a delete of documents); delete it when that ends"
                            ),
                        ));
                    }
                };
                // Holding its write lock: nobody is reading or writing its files any more.
                let mut index = collection.write();
                index.lock_for_writing()?;
                self.catalog.remove(name)?;
                collection.removed.store(true, Ordering::SeqCst);
                open.remove(name);
            }
            // Created by another process, and not yet opened here.
            None => {
                let mut index = self.catalog.open(name)?.ok_or_else(missing)?;
                index.lock_for_writing()?;
                self.catalog.remove(name)?;
            }
        }
        Ok(())
    }

    /// Persists what open collections hold in memory only (at shutdown).
    pub fn flush_all(&self) -> Result<(), ApiError> {
        if let Some(open) = &self.open {
            for collection in read(open).values() {
                collection.write().flush()?;
            }
        }
        Ok(())
    }
}

/// The open collection `name`, unless another process removed it, or removed and rebuilt
/// it, since it was opened: the handle would still read the old files, so it is forgotten.
fn known(open: &OpenCollections, name: &str) -> Result<Option<Arc<Collection>>, ApiError> {
    let Some(collection) = read(open).get(name).cloned() else {
        return Ok(None);
    };
    if !collection.read().is_replaced()? {
        return Ok(Some(collection));
    }
    let mut open = open.write().unwrap_or_else(PoisonError::into_inner);
    if open.get(name).is_some_and(|c| Arc::ptr_eq(c, &collection)) {
        open.remove(name);
    }
    Ok(None)
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}
