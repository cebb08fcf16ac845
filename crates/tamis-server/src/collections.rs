//! Collections: named indexes under `<data_dir>/collections/<name>`, opened at start.
//!
//! Searches share an index (read lock) and run their rerankers through the batchers, so
//! concurrent searches batch together; writes take the write lock for one batch at a time.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

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
}

impl Collection {
    /// The index, for searching.
    pub fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The index, for writing.
    pub fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every collection of a data directory.
#[derive(Debug)]
pub struct Collections {
    root: PathBuf,
    embedder: Option<Arc<EmbedModel>>,
    /// The bi-encoder behind a query-embedding cache, shared by every collection.
    query_embedder: Option<CachedEmbedder<Arc<EmbedModel>>>,
    open: RwLock<BTreeMap<String, Arc<Collection>>>,
}

/// A valid collection name: 1–64 of `A-Z a-z 0-9 _ -`, so it is also a safe directory name.
pub fn check_name(name: &str) -> Result<(), ApiError> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "invalid collection name {name:?}: use 1 to 64 letters, digits, `_` or `-`"
        )))
    }
}

impl Collections {
    /// Opens every collection under `data_dir/collections`, creating the folder if needed.
    pub fn open(
        data_dir: &Path,
        embedder: Option<Arc<EmbedModel>>,
        cache_entries: usize,
    ) -> crate::Result<Collections> {
        let root = data_dir.join("collections");
        fs_err::create_dir_all(&root).map_err(|source| Error::Startup {
            context: format!("creating {}", root.display()),
            source: Box::new(source),
        })?;
        let mut open = BTreeMap::new();
        let entries = fs_err::read_dir(&root).map_err(|source| Error::Startup {
            context: format!("reading {}", root.display()),
            source: Box::new(source),
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_string) else {
                continue;
            };
            if !path.is_dir() || check_name(&name).is_err() {
                continue;
            }
            let index = Index::open(&path).map_err(|source| Error::Startup {
                context: format!("opening collection {name} ({})", path.display()),
                source: Box::new(source),
            })?;
            if let Some(embedder) = &embedder {
                index.check_embedder(&embedder.index_id).map_err(|source| Error::Startup {
                    context: format!("collection {name}"),
                    source: Box::new(source),
                })?;
            }
            open.insert(name.clone(), Arc::new(Collection { name, index: RwLock::new(index) }));
        }
        let capacity = NonZeroUsize::new(cache_entries).unwrap_or(NonZeroUsize::MIN);
        let query_embedder = embedder.clone().map(|e| CachedEmbedder::new(e, capacity));
        Ok(Collections { root, embedder, query_embedder, open: RwLock::new(open) })
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

    /// The names of every collection, sorted.
    pub fn names(&self) -> Vec<String> {
        self.open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .keys()
            .cloned()
            .collect()
    }

    /// The collection `name`, or 404.
    pub fn get(&self, name: &str) -> Result<Arc<Collection>, ApiError> {
        check_name(name)?;
        self.open
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("no collection named {name:?}")))
    }

    /// Creates the collection `name` with `settings` (409 if it exists). Blocking.
    pub fn create(&self, name: &str, settings: IndexSettings) -> Result<Arc<Collection>, ApiError> {
        check_name(name)?;
        let mut open = self.open.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.contains_key(name) {
            return Err(ApiError::new(
                ErrorType::Conflict,
                format!("collection {name:?} already exists"),
            ));
        }
        let index = Index::create(&self.root.join(name), settings)?;
        let collection = Arc::new(Collection { name: name.to_string(), index: RwLock::new(index) });
        open.insert(name.to_string(), collection.clone());
        Ok(collection)
    }

    /// Deletes the collection `name` and its files (404 if it does not exist). Blocking: waits
    /// for the searches and writes in progress on it.
    pub fn delete(&self, name: &str) -> Result<(), ApiError> {
        check_name(name)?;
        let collection = self
            .open
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name)
            .ok_or_else(|| ApiError::not_found(format!("no collection named {name:?}")))?;
        // Holding the write lock: nobody is reading or writing its files any more.
        let _exclusive = collection.write();
        fs_err::remove_dir_all(self.root.join(name))
            .map_err(|err| ApiError::internal(format!("removing collection {name}: {err}")))
    }

    /// Commits every collection (at shutdown).
    pub fn flush_all(&self) -> Result<(), ApiError> {
        let open = self.open.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        for collection in open.values() {
            collection.write().flush()?;
        }
        Ok(())
    }
}
