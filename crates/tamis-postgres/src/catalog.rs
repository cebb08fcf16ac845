//! The collections of one database: the `tamis_collections` table.

use std::sync::Arc;

use tamis_engine::backend::{Catalog, check_collection_name};
use tamis_engine::{Index, IndexSettings};

use crate::backend::PgBackend;
use crate::config::PgConfig;
use crate::error::database;
use crate::pool::Db;
use crate::schema::{self, COLLECTION_VERSION, SCHEMA_LOCK, TOKENS_VERSION};
use crate::settings::{PgOptions, StoredSettings};
use crate::upgrade::{self, LexicalRebuild};
use crate::{Error, Result};

/// The collections of a PostgreSQL database, shared by every tamis node pointed at it.
#[derive(Debug, Clone)]
pub struct PgCatalog {
    db: Arc<Db>,
    /// What collections created through [`Catalog::create`] get.
    options: PgOptions,
}

impl PgCatalog {
    /// Connects and brings the catalog's schema up to date (creating it on first use).
    /// `options` apply to collections created through this catalog.
    ///
    /// A schema already up to date is only read, so a node may connect to a hot standby or
    /// through a read-only role and search there (its writes then fail with the server's
    /// reason).
    pub fn connect(config: &PgConfig, options: PgOptions) -> Result<PgCatalog> {
        let (db, mut conn) = Db::new(config)?;
        let migrate = |conn: &mut postgres::Client| -> std::result::Result<i32, postgres::Error> {
            let applied = schema::applied_versions(conn)?;
            if let Some(applied) = applied.filter(|applied| schema::is_current(applied)) {
                return Ok(applied.into_iter().max().unwrap_or(0));
            }
            let mut tx = conn.transaction()?;
            schema::migrate_catalog(&mut tx)?;
            let newest: i32 =
                tx.query_one("SELECT coalesce(max(version), 0) FROM tamis_migrations", &[])?.get(0);
            tx.commit()?;
            Ok(newest)
        };
        let newest = migrate(&mut conn)
            .map_err(|err| Error::Engine(database(&db.location, "creating tamis' schema", &err)))?;
        if newest > schema::catalog_version() {
            return Err(Error::Schema {
                location: db.location.clone(),
                message: format!(
                    "the database's tamis schema is version {newest}, newer than this tamis \
                     knows ({}): upgrade tamis",
                    schema::catalog_version()
                ),
            });
        }
        Ok(PgCatalog { db, options })
    }

    /// Where the catalog is (no credentials).
    pub fn location(&self) -> &str {
        &self.db.location
    }

    /// Creates a collection with explicit PostgreSQL options.
    pub fn create_with(
        &self,
        name: &str,
        settings: &IndexSettings,
        options: PgOptions,
    ) -> tamis_engine::Result<Index> {
        let version =
            if settings.late_interaction.is_some() { TOKENS_VERSION } else { COLLECTION_VERSION };
        self.create_version(name, settings, options, version)
    }

    /// Creates a collection as tamis made them at schema `version` (1: `ts_rank` over a
    /// `tsvector`; 2: BM25 with term counts on the chunks; 3: no write sequence), for the
    /// tests and benchmarks of older collections and of [`PgCatalog::rebuild_lexical`].
    #[doc(hidden)]
    pub fn create_legacy(
        &self,
        name: &str,
        settings: &IndexSettings,
        options: PgOptions,
        version: i32,
    ) -> tamis_engine::Result<Index> {
        if !(1..COLLECTION_VERSION).contains(&version) {
            return Err(Error::Config(format!("no legacy collection version {version}")).into());
        }
        if settings.late_interaction.is_some() {
            return Err(Error::Config("legacy collections store no token vectors".into()).into());
        }
        let lexical = &settings.lexical;
        if version == 1 && lexical.stemming != lexical.stopwords {
            return Err(Error::Config(
                "version 1 collections used PostgreSQL's `english` or `simple` text search: \
                 they stem and drop stop words together, or do neither"
                    .into(),
            )
            .into());
        }
        self.create_version(name, settings, options, version)
    }

    fn create_version(
        &self,
        name: &str,
        settings: &IndexSettings,
        options: PgOptions,
        version: i32,
    ) -> tamis_engine::Result<Index> {
        check_collection_name(name)?;
        let stored = StoredSettings::new(settings, options)?;
        let json = serde_json::to_value(&stored).map_err(tamis_engine::Error::Json)?;
        let mut conn = self.db.connection()?;
        let create = |conn: &mut crate::pool::Connection| -> std::result::Result<Option<i64>, postgres::Error> {
            let mut tx = conn.transaction()?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
            let id: Option<i64> = tx
                .query_opt(
                    "INSERT INTO tamis_collections (name, settings, schema_version) \
                     VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING RETURNING id",
                    &[&name, &json, &version],
                )?
                .map(|row| row.get(0));
            let Some(id) = id else { return Ok(None) };
            if version >= COLLECTION_VERSION {
                schema::create_collection(&mut tx, id, &stored)?;
            } else {
                schema::create_legacy_collection(&mut tx, id, &stored, version)?;
            }
            tx.commit()?;
            Ok(Some(id))
        };
        match create(&mut conn).map_err(|err| {
            database(&self.db.location, &format!("creating collection '{name}'"), &err)
        })? {
            Some(id) => {
                let backend = PgBackend::new(self.db.clone(), name, id, version, stored);
                Ok(Index::with_backend(Box::new(backend)))
            }
            None => Err(tamis_engine::Error::CollectionExists {
                location: self.db.location.clone(),
                name: name.to_string(),
            }),
        }
    }

    /// Brings collection `name` to the newest schema: a collection made before tamis
    /// ranked PostgreSQL text with BM25 (schema version 1, `ts_rank`) gets its postings
    /// built from its chunks' text, with the analyzer its settings name; one of version 2
    /// loses the chunks' term counts; every older one gets the write sequence that result
    /// caches need (without it, its answers are not cached). In one transaction: searches
    /// go on meanwhile (with `ts_rank` until it commits), writes wait. `progress` gets
    /// (chunks done, chunks in all). A collection already current is left as it is
    /// (`from_version` equals `to_version`).
    pub fn rebuild_lexical(
        &self,
        name: &str,
        progress: &mut dyn FnMut(u64, u64),
    ) -> tamis_engine::Result<LexicalRebuild> {
        check_collection_name(name)?;
        let mut conn = self.db.connection()?;
        let location = &self.db.location;
        let missing = || tamis_engine::Error::NoCollection {
            location: location.clone(),
            name: name.to_string(),
        };
        // The outer error is the database's; the inner one is about the collection.
        type Outcome = tamis_engine::Result<LexicalRebuild>;
        let mut rebuild =
            |conn: &mut crate::pool::Connection| -> std::result::Result<Outcome, postgres::Error> {
                let mut tx = conn.transaction()?;
                let Some(row) = tx.query_opt(
                    "SELECT id, settings, schema_version FROM tamis_collections WHERE name = $1 \
                 FOR UPDATE",
                    &[&name],
                )?
                else {
                    return Ok(Err(missing()));
                };
                let (id, json, version): (i64, serde_json::Value, i32) =
                    (row.get(0), row.get(1), row.get(2));
                if version >= COLLECTION_VERSION {
                    let current = LexicalRebuild {
                        from_version: version,
                        to_version: version,
                        built_postings: false,
                        chunks: 0,
                        postings: 0,
                    };
                    return Ok(Ok(current));
                }
                let stored = match serde_json::from_value::<StoredSettings>(json) {
                    Ok(stored) => stored,
                    Err(err) => return Ok(Err(unreadable(location, name, &err))),
                };
                let done = upgrade::upgrade(&mut tx, id, &stored, version, progress)?;
                tx.commit()?;
                Ok(Ok(done))
            };
        rebuild(&mut conn).map_err(|err| {
            database(
                location,
                &format!("rebuilding the lexical index of collection '{name}'"),
                &err,
            )
        })?
    }

    /// Opens a collection as its backend.
    pub fn open_backend(&self, name: &str) -> tamis_engine::Result<Option<PgBackend>> {
        check_collection_name(name)?;
        let row = self
            .db
            .connection()?
            .query_opt(
                "SELECT id, settings, schema_version FROM tamis_collections WHERE name = $1",
                &[&name],
            )
            .map_err(|err| database(&self.db.location, "reading the catalog", &err))?;
        let Some(row) = row else { return Ok(None) };
        let (id, json, version): (i64, serde_json::Value, i32) =
            (row.get(0), row.get(1), row.get(2));
        // Older versions are still read and written (see `schema::COLLECTION_VERSION`).
        if !(1..=TOKENS_VERSION).contains(&version) {
            return Err(Error::Schema {
                location: self.db.location.clone(),
                message: format!(
                    "collection '{name}' has schema version {version}; this tamis reads \
                     versions 1 to {TOKENS_VERSION}: use the tamis that made it, or rebuild it"
                ),
            }
            .into());
        }
        let stored: StoredSettings = serde_json::from_value(json)
            .map_err(|err| unreadable(&self.db.location, name, &err))?;
        Ok(Some(PgBackend::new(self.db.clone(), name, id, version, stored)))
    }
}

/// A collection whose recorded settings this tamis cannot read.
fn unreadable(location: &str, name: &str, err: &serde_json::Error) -> tamis_engine::Error {
    Error::Database {
        location: location.to_string(),
        kind: tamis_core::ErrorKind::Internal,
        message: format!("collection '{name}' has unreadable settings: {err}"),
    }
    .into()
}

impl Catalog for PgCatalog {
    fn location(&self) -> String {
        self.db.location.clone()
    }

    fn shared(&self) -> bool {
        true
    }

    fn names(&self) -> tamis_engine::Result<Vec<String>> {
        let rows = self
            .db
            .connection()?
            .query("SELECT name FROM tamis_collections ORDER BY name", &[])
            .map_err(|err| database(&self.db.location, "reading the catalog", &err))?;
        let mut names: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
        names.retain(|name| check_collection_name(name).is_ok());
        Ok(names)
    }

    fn open(&self, name: &str) -> tamis_engine::Result<Option<Index>> {
        Ok(self.open_backend(name)?.map(|backend| Index::with_backend(Box::new(backend))))
    }

    fn create(&self, name: &str, settings: IndexSettings) -> tamis_engine::Result<Index> {
        self.create_with(name, &settings, self.options)
    }

    fn remove(&self, name: &str) -> tamis_engine::Result<bool> {
        check_collection_name(name)?;
        let mut conn = self.db.connection()?;
        let drop =
            |conn: &mut crate::pool::Connection| -> std::result::Result<bool, postgres::Error> {
                let mut tx = conn.transaction()?;
                tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
                let id: Option<i64> = tx
                    .query_opt(
                        "DELETE FROM tamis_collections WHERE name = $1 RETURNING id",
                        &[&name],
                    )?
                    .map(|row| row.get(0));
                let Some(id) = id else { return Ok(false) };
                schema::drop_collection(&mut tx, id)?;
                tx.commit()?;
                Ok(true)
            };
        drop(&mut conn).map_err(|err| {
            database(&self.db.location, &format!("dropping collection '{name}'"), &err)
        })
    }
}
