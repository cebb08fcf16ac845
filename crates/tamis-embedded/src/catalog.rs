//! [`EmbeddedCatalog`]: collections as index directories under one folder.

use std::path::{Path, PathBuf};

use tamis_engine::backend::{Catalog, check_collection_name};
use tamis_engine::{Index, IndexSettings};

use crate::store::STORE_FILE;
use crate::{EmbeddedBackend, Error, Result};

/// Collections as index directories under one folder (`<data_dir>/collections/<name>`).
#[derive(Debug, Clone)]
pub struct EmbeddedCatalog {
    root: PathBuf,
}

impl EmbeddedCatalog {
    /// The catalog in `root`, created if missing.
    pub fn open(root: &Path) -> Result<EmbeddedCatalog> {
        fs_err::create_dir_all(root).map_err(Error::Io)?;
        Ok(EmbeddedCatalog { root: root.to_path_buf() })
    }

    /// An error about the catalog's own folder, as the engine reports it.
    fn fail(&self, err: Error) -> tamis_engine::Error {
        err.into_engine(&self.root)
    }
}

impl Catalog for EmbeddedCatalog {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn shared(&self) -> bool {
        false
    }

    fn names(&self) -> tamis_engine::Result<Vec<String>> {
        let mut names = Vec::new();
        let entries = fs_err::read_dir(&self.root).map_err(|err| self.fail(Error::Io(err)))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.join(STORE_FILE).is_file()
                && let Some(name) = path.file_name().and_then(|n| n.to_str())
            {
                names.push(name.to_string());
            }
        }
        names.retain(|name| check_collection_name(name).is_ok());
        names.sort();
        Ok(names)
    }

    fn open(&self, name: &str) -> tamis_engine::Result<Option<Index>> {
        check_collection_name(name)?;
        let dir = self.root.join(name);
        if !dir.join(STORE_FILE).is_file() {
            return Ok(None);
        }
        let backend = EmbeddedBackend::open(&dir).map_err(|err| err.into_engine(&dir))?;
        Ok(Some(Index::with_backend(Box::new(backend))))
    }

    fn create(&self, name: &str, settings: IndexSettings) -> tamis_engine::Result<Index> {
        check_collection_name(name)?;
        let dir = self.root.join(name);
        if dir.join(STORE_FILE).exists() {
            return Err(tamis_engine::Error::CollectionExists {
                location: self.location(),
                name: name.into(),
            });
        }
        let backend =
            EmbeddedBackend::create(&dir, settings).map_err(|err| err.into_engine(&dir))?;
        Ok(Index::with_backend(Box::new(backend)))
    }

    fn remove(&self, name: &str) -> tamis_engine::Result<bool> {
        check_collection_name(name)?;
        let dir = self.root.join(name);
        if !dir.is_dir() {
            return Ok(false);
        }
        fs_err::remove_dir_all(&dir).map_err(|err| self.fail(Error::Io(err)))?;
        Ok(true)
    }
}
