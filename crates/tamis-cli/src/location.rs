//! Where an index lives, as the commands take it: a directory (the embedded default) or a
//! collection in a PostgreSQL database (`postgres://…` plus `--collection`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use tamis_embedded::EmbeddedCatalog;
use tamis_engine::backend::Catalog;
use tamis_engine::{Index, IndexSettings};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions, is_postgres_url};

/// The index argument of `index`, `search` and `info`.
#[derive(Debug, Args)]
pub struct LocationArgs {
    /// The index: a directory (embedded, the default), or a PostgreSQL database as a
    /// `postgres://user@host:port/db` URL with `--collection`. URL parameters: `sslmode`
    /// (disable, prefer, require), `pool_size`, `connect_timeout` (s), `sslrootcert`;
    /// the password may come from PGPASSWORD instead of the URL.
    #[arg(value_name = "DIR|URL")]
    pub location: String,

    /// The collection, in a PostgreSQL database.
    #[arg(long, env = "TAMIS_COLLECTION", value_name = "NAME")]
    pub collection: Option<String>,
}

/// An index location, resolved.
#[derive(Debug)]
pub enum IndexLocation {
    /// An index directory.
    Dir(PathBuf),
    /// A collection of a PostgreSQL catalog.
    Postgres {
        /// The connected catalog.
        catalog: PgCatalog,
        /// The collection's name.
        collection: String,
    },
}

/// Connects to a PostgreSQL database (the password from PGPASSWORD when the URL has none).
pub fn connect_postgres(url: &str, options: PgOptions) -> anyhow::Result<PgCatalog> {
    let mut config = PgConfig::from_url(url)?;
    if let Ok(password) = std::env::var("PGPASSWORD") {
        config.password_if_missing(&password);
    }
    Ok(PgCatalog::connect(&config, options)?)
}

/// The catalog of collections a server serves: `<data_dir>/collections`, or a database.
pub fn open_catalog(
    data_dir: Option<&Path>,
    store_url: Option<&str>,
    options: PgOptions,
) -> anyhow::Result<Option<Box<dyn Catalog>>> {
    Ok(match (data_dir, store_url) {
        (_, Some(url)) => Some(Box::new(connect_postgres(url, options)?)),
        (Some(dir), None) => {
            let root = dir.join("collections");
            let catalog = EmbeddedCatalog::open(&root)
                .with_context(|| format!("opening the collections in {}", root.display()))?;
            Some(Box::new(catalog))
        }
        (None, None) => None,
    })
}

impl LocationArgs {
    /// Resolves the location (connecting to PostgreSQL, for a URL).
    pub fn resolve(&self) -> anyhow::Result<IndexLocation> {
        if is_postgres_url(&self.location) {
            let collection = self
                .collection
                .clone()
                .context("a PostgreSQL store holds named collections: add --collection NAME")?;
            tamis_engine::backend::check_collection_name(&collection)?;
            let catalog = connect_postgres(&self.location, PgOptions::default())?;
            Ok(IndexLocation::Postgres { catalog, collection })
        } else {
            anyhow::ensure!(
                self.collection.is_none(),
                "--collection names a collection in a PostgreSQL store (postgres://…); {} is a \
                 directory holding one index",
                self.location
            );
            Ok(IndexLocation::Dir(PathBuf::from(&self.location)))
        }
    }
}

impl IndexLocation {
    /// Whether an index is there.
    pub fn exists(&self) -> anyhow::Result<bool> {
        Ok(match self {
            IndexLocation::Dir(dir) => dir.join(tamis_embedded::store::STORE_FILE).is_file(),
            IndexLocation::Postgres { catalog, collection } => {
                catalog.open_backend(collection)?.is_some()
            }
        })
    }

    /// Opens the index there.
    pub fn open(&self) -> anyhow::Result<Index> {
        Ok(match self {
            IndexLocation::Dir(dir) => tamis_embedded::open(dir)?,
            IndexLocation::Postgres { catalog, collection } => {
                catalog.open(collection)?.ok_or_else(|| tamis_engine::Error::NoCollection {
                    location: catalog.location().to_string(),
                    name: collection.clone(),
                })?
            }
        })
    }

    /// Creates an index there; `options` are PostgreSQL's (a directory has none).
    pub fn create(&self, settings: IndexSettings, options: PgOptions) -> anyhow::Result<Index> {
        Ok(match self {
            IndexLocation::Dir(dir) => tamis_embedded::create(dir, settings)?,
            IndexLocation::Postgres { catalog, collection } => {
                catalog.create_with(collection, &settings, options)?
            }
        })
    }

    /// The location for messages (no credentials).
    pub fn describe(&self) -> String {
        match self {
            IndexLocation::Dir(dir) => dir.display().to_string(),
            IndexLocation::Postgres { catalog, collection } => {
                format!("{} collection '{collection}'", catalog.location())
            }
        }
    }
}
