//! The schema tamis keeps in a database, created and migrated by tamis itself.
//!
//! Two levels, both versioned and idempotent (every step runs once, inside one transaction
//! holding an advisory lock, so nodes starting together do not race):
//! - the catalog: the `vector` extension, `tamis_migrations` (what ran), `tamis_collections`
//!   (one row per collection: its settings and schema version) and `tamis_or_query`;
//! - per collection `N`: `tamis_cN_documents` and `tamis_cN_chunks` with their indexes.
//!
//! Tables are per collection because pgvector's HNSW index needs a fixed dimension and one
//! operator class per column, and each collection has its own. Both tables are keyed by
//! `doc_id` (chunks by `(doc_id, ordinal)`), so Citus can distribute and co-locate them by
//! `doc_id`: see the README's PostgreSQL section.

use postgres::Transaction;

use crate::settings::StoredSettings;

/// Serializes schema changes across every process using the database.
pub(crate) const SCHEMA_LOCK: i64 = 0x7461_6d69_7300_0001; // "tamis" + 1

/// One step of the catalog's schema; never edit a released one, add the next.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

const CATALOG_MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    name: "catalog",
    sql: r#"
CREATE EXTENSION IF NOT EXISTS vector;
CREATE TABLE tamis_collections (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE,
    settings jsonb NOT NULL,
    schema_version int NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
-- The lexemes of `query` under `config`, OR-ed: BM25-like "any term" matching, where
-- plainto_tsquery would require every term. Lexemes are quoted for tsquery input.
CREATE FUNCTION tamis_or_query(config regconfig, query text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(
        '''' || replace(replace(lexeme, '\', '\\'), '''', '\''') || '''', ' | '
    )::tsquery
    FROM unnest(to_tsvector(config, query))
$$;
"#,
}];

/// Brings the catalog to the newest version. Returns the versions applied now.
pub(crate) fn migrate_catalog(tx: &mut Transaction<'_>) -> Result<Vec<i32>, postgres::Error> {
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS tamis_migrations (
            version int PRIMARY KEY,
            name text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now()
        )",
    )?;
    let done: Vec<i32> = tx
        .query("SELECT version FROM tamis_migrations", &[])?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut applied = Vec::new();
    for migration in CATALOG_MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        tx.batch_execute(migration.sql)?;
        tx.execute(
            "INSERT INTO tamis_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )?;
        applied.push(migration.version);
    }
    Ok(applied)
}

/// The catalog versions already applied, read without writing anything (`None`: tamis
/// never ran here). Lets a node on a read-only connection (a hot standby, a read-only
/// role) start when the primary has the schema up to date.
pub(crate) fn applied_versions(
    client: &mut postgres::Client,
) -> Result<Option<Vec<i32>>, postgres::Error> {
    let exists: bool =
        client.query_one("SELECT to_regclass('tamis_migrations') IS NOT NULL", &[])?.get(0);
    if !exists {
        return Ok(None);
    }
    let rows = client.query("SELECT version FROM tamis_migrations", &[])?;
    Ok(Some(rows.iter().map(|row| row.get(0)).collect()))
}

/// Whether `applied` holds every catalog migration this build knows.
pub(crate) fn is_current(applied: &[i32]) -> bool {
    CATALOG_MIGRATIONS.iter().all(|m| applied.contains(&m.version))
}

/// The newest catalog version this build knows.
pub(crate) fn catalog_version() -> i32 {
    CATALOG_MIGRATIONS.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The newest per-collection schema version this build knows (and creates).
pub(crate) const COLLECTION_VERSION: i32 = 2;

/// The first version whose text is ranked by BM25 over tamis's own postings; version 1
/// collections keep a `tsvector` ranked by `ts_rank`, and are still read.
pub(crate) const BM25_VERSION: i32 = 2;

/// Table names of collection `id`.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    pub documents: String,
    pub chunks: String,
    pub keys: String,
    /// One row per (chunk, field, term) with its frequency and the field's stored length.
    pub postings: String,
    /// One row per field: chunks and tokens, for BM25's N and mean length.
    pub stats: String,
}

impl Tables {
    pub fn of(id: i64) -> Tables {
        Tables {
            documents: format!("tamis_c{id}_documents"),
            chunks: format!("tamis_c{id}_chunks"),
            keys: format!("tamis_c{id}_chunk_keys"),
            postings: format!("tamis_c{id}_postings"),
            stats: format!("tamis_c{id}_stats"),
        }
    }
}

/// Creates collection `id`'s tables and indexes (version [`COLLECTION_VERSION`]).
///
/// BM25 is computed from `postings` and `stats` (see the lexical search in `backend.rs`):
/// the terms are `tamis-analysis`'s, as in the embedded index, and lengths are rounded as
/// it stores them, so both backends give the same scores. Postings are keyed by `doc_id`
/// first, like the other tables, so Citus can co-locate them with their documents.
pub(crate) fn create_collection(
    tx: &mut Transaction<'_>,
    id: i64,
    settings: &StoredSettings,
) -> Result<(), postgres::Error> {
    let Tables { documents, chunks, keys, postings, stats } = Tables::of(id);
    let vector_type = settings.vector_type();
    let opclass = settings.operator_class();
    let (m, ef_construction) = (settings.hnsw_m, settings.hnsw_ef_construction);
    tx.batch_execute(&format!(
        r#"
CREATE SEQUENCE {keys} AS bigint;
CREATE TABLE {documents} (
    doc_id text PRIMARY KEY,
    title text NOT NULL,
    text text NOT NULL,
    metadata jsonb,
    content_hash text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Title and metadata are copied from the document so that lexical matching and filters
-- read one row: filters then apply inside the HNSW scan.
CREATE TABLE {chunks} (
    doc_id text NOT NULL REFERENCES {documents} (doc_id) ON DELETE CASCADE,
    ordinal int NOT NULL,
    chunk_key bigint NOT NULL DEFAULT nextval('{keys}'),
    title text NOT NULL,
    text text NOT NULL,
    metadata jsonb,
    embedding {vector_type} NOT NULL,
    -- Terms per field (title, text; a concatenated collection counts all as text).
    title_terms int NOT NULL,
    text_terms int NOT NULL,
    PRIMARY KEY (doc_id, ordinal)
);
CREATE INDEX {chunks}_key ON {chunks} (chunk_key);
CREATE INDEX {chunks}_embedding ON {chunks}
    USING hnsw (embedding {opclass}) WITH (m = {m}, ef_construction = {ef_construction});
-- field 0 is the title, 1 the text; `stored_len` is the field's length as BM25 sees it.
CREATE TABLE {postings} (
    doc_id text NOT NULL REFERENCES {documents} (doc_id) ON DELETE CASCADE,
    chunk_key bigint NOT NULL,
    field smallint NOT NULL,
    term text NOT NULL,
    tf int NOT NULL,
    stored_len int NOT NULL,
    PRIMARY KEY (doc_id, chunk_key, field, term)
);
CREATE INDEX {postings}_term ON {postings} (term, field) INCLUDE (chunk_key, tf, stored_len);
-- Updated in every write's transaction, which locks these rows first: exact under
-- concurrent writers.
CREATE TABLE {stats} (
    field smallint PRIMARY KEY,
    chunks bigint NOT NULL,
    terms bigint NOT NULL
);
INSERT INTO {stats} (field, chunks, terms) VALUES (0, 0, 0), (1, 0, 0);
"#
    ))
}

/// Drops collection `id`'s tables (missing ones are fine).
pub(crate) fn drop_collection(tx: &mut Transaction<'_>, id: i64) -> Result<(), postgres::Error> {
    let Tables { documents, chunks, keys, postings, stats } = Tables::of(id);
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS {postings}; DROP TABLE IF EXISTS {stats}; \
         DROP TABLE IF EXISTS {chunks}; DROP TABLE IF EXISTS {documents}; \
         DROP SEQUENCE IF EXISTS {keys};"
    ))
}
