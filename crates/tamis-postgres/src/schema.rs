//! The schema tamis keeps in a database, created and migrated by tamis itself.
//!
//! Two levels, both versioned and idempotent (every step runs once, inside one transaction
//! holding an advisory lock, so nodes starting together do not race):
//! - the catalog: the `vector` extension, `tamis_migrations` (what ran), `tamis_collections`
//!   (one row per collection: its settings and schema version) and `tamis_or_query`;
//! - per collection `N` (its version in `tamis_collections.schema_version`, see
//!   [`COLLECTION_VERSION`]): `tamis_cN_documents`, `tamis_cN_chunks`, for BM25
//!   `tamis_cN_postings` and `tamis_cN_stats`, with their indexes, `tamis_cN_writes`,
//!   the write sequence, and where the collection stores late-interaction token vectors
//!   `tamis_cN_tokens`.
//!
//! Tables are per collection because pgvector's HNSW index needs a fixed dimension and one
//! operator class per column, and each collection has its own. Documents, chunks and
//! postings are keyed by `doc_id` first, so Citus can distribute and co-locate them by
//! `doc_id` (`stats`, two rows, as a reference table): see the README's PostgreSQL section.

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
///
/// - 1: text in a generated `tsvector` column with a GIN index, ranked by `ts_rank`.
/// - 2: BM25 over `postings` and `stats`; chunks also record their term counts.
/// - 3: as 2 without the chunks' term counts (a replaced document's are summed from its
///   postings), so that `upgrade` can bring a version 1 collection here without
///   rewriting its chunk rows (and their HNSW entries).
/// - 4: as 3 with `writes`, the sequence every write advances, which result caches on
///   every node key their answers by.
/// - 5 ([`TOKENS_VERSION`]): as 4 with `tokens`, a collection that stores a
///   late-interaction model's token vectors; only such collections are created at 5, so
///   that a tamis that would write chunks without their vectors refuses to open them.
///
/// Every version is still read and written; `upgrade` brings 1 to 3 to 4.
pub(crate) const COLLECTION_VERSION: i32 = 4;

/// The version of a collection storing late-interaction token vectors, and the newest
/// this build reads.
pub(crate) const TOKENS_VERSION: i32 = 5;

/// The first version with a write sequence.
pub(crate) const WRITES_VERSION: i32 = 4;

/// The first version whose text is ranked by BM25 over tamis's own postings.
pub(crate) const BM25_VERSION: i32 = 2;

/// The one version whose chunks carry `title_terms` and `text_terms` (NOT NULL).
pub(crate) const TERM_COLUMNS_VERSION: i32 = 2;

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
    /// One row: the write sequence.
    pub writes: String,
    /// One row per chunk: its late-interaction token vectors (version 5).
    pub tokens: String,
}

impl Tables {
    pub fn of(id: i64) -> Tables {
        Tables {
            documents: format!("tamis_c{id}_documents"),
            chunks: format!("tamis_c{id}_chunks"),
            keys: format!("tamis_c{id}_chunk_keys"),
            postings: format!("tamis_c{id}_postings"),
            stats: format!("tamis_c{id}_stats"),
            writes: format!("tamis_c{id}_writes"),
            tokens: format!("tamis_c{id}_tokens"),
        }
    }
}

/// Creates collection `id`'s tables and indexes (version [`COLLECTION_VERSION`]).
///
/// BM25 is computed from `postings` and `stats` (see `bm25.rs`):
/// the terms are `tamis-analysis`'s, as in the embedded index, and lengths are rounded as
/// it stores them, so both backends give the same scores. Postings are keyed by `doc_id`
/// first, like the other tables, so Citus can co-locate them with their documents.
pub(crate) fn create_collection(
    tx: &mut Transaction<'_>,
    id: i64,
    settings: &StoredSettings,
) -> Result<(), postgres::Error> {
    let Tables { documents, chunks, keys, stats, .. } = Tables::of(id);
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
    PRIMARY KEY (doc_id, ordinal)
);
CREATE INDEX {chunks}_key ON {chunks} (chunk_key);
CREATE INDEX {chunks}_embedding ON {chunks}
    USING hnsw (embedding {opclass}) WITH (m = {m}, ef_construction = {ef_construction});
"#
    ))?;
    create_bm25_tables(tx, id)?;
    create_bm25_indexes(tx, id)?;
    tx.batch_execute(&format!(
        "INSERT INTO {stats} (field, chunks, terms) VALUES (0, 0, 0), (1, 0, 0)"
    ))?;
    if settings.late_interaction.is_some() {
        create_tokens_table(tx, id)?;
    }
    create_writes_table(tx, id)
}

/// Creates `tokens`: a chunk's token vectors in one `bytea` (the stored form of
/// [`tamis_core::TokenStorage`]), keyed by document first like the other tables and
/// gone with its document. Kept out of line and uncompressed (`STORAGE EXTERNAL`):
/// half floats hardly compress, and a search reads a hundred of them at once.
fn create_tokens_table(tx: &mut Transaction<'_>, id: i64) -> Result<(), postgres::Error> {
    let Tables { documents, tokens, .. } = Tables::of(id);
    tx.batch_execute(&format!(
        "CREATE TABLE {tokens} (
            doc_id text NOT NULL REFERENCES {documents} (doc_id) ON DELETE CASCADE,
            chunk_key bigint NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (doc_id, chunk_key)
        );
        ALTER TABLE {tokens} ALTER COLUMN data SET STORAGE EXTERNAL;
        CREATE INDEX {tokens}_key ON {tokens} (chunk_key);"
    ))
}

/// Creates `writes`: one row, whose `seq` every write transaction advances (after locking
/// `stats`, so writers take the two in one order). Updated by tamis rather than by a
/// trigger, which Citus refuses on distributed tables; a reference table there.
pub(crate) fn create_writes_table(
    tx: &mut Transaction<'_>,
    id: i64,
) -> Result<(), postgres::Error> {
    let Tables { writes, .. } = Tables::of(id);
    tx.batch_execute(&format!(
        "CREATE TABLE {writes} (seq bigint NOT NULL); INSERT INTO {writes} (seq) VALUES (0);"
    ))
}

/// Creates `postings` and `stats`, empty and without the postings' keys and indexes
/// (added by [`create_bm25_indexes`], after a bulk load when upgrading).
pub(crate) fn create_bm25_tables(tx: &mut Transaction<'_>, id: i64) -> Result<(), postgres::Error> {
    let Tables { postings, stats, .. } = Tables::of(id);
    tx.batch_execute(&format!(
        r#"
-- field 0 is the title, 1 the text; `stored_len` is the field's length as BM25 sees it.
CREATE TABLE {postings} (
    doc_id text NOT NULL,
    chunk_key bigint NOT NULL,
    field smallint NOT NULL,
    term text NOT NULL,
    tf int NOT NULL,
    stored_len int NOT NULL
);
-- Updated in every write's transaction, which locks these rows first: exact under
-- concurrent writers.
CREATE TABLE {stats} (
    field smallint PRIMARY KEY,
    chunks bigint NOT NULL,
    terms bigint NOT NULL
);
"#
    ))
}

/// The postings' primary key (by document first, for Citus), the cascade from their
/// document, and the index a search reads a term's postings through.
pub(crate) fn create_bm25_indexes(
    tx: &mut Transaction<'_>,
    id: i64,
) -> Result<(), postgres::Error> {
    let Tables { documents, postings, .. } = Tables::of(id);
    tx.batch_execute(&format!(
        "ALTER TABLE {postings} ADD PRIMARY KEY (doc_id, chunk_key, field, term), \
             ADD FOREIGN KEY (doc_id) REFERENCES {documents} (doc_id) ON DELETE CASCADE; \
         CREATE INDEX {postings}_term ON {postings} (term, field) INCLUDE (chunk_key, tf, stored_len);"
    ))
}

/// Creates collection `id` as an older tamis did (`version` 1 to 3), for the tests and
/// benchmarks of reading and upgrading such collections.
pub(crate) fn create_legacy_collection(
    tx: &mut Transaction<'_>,
    id: i64,
    settings: &StoredSettings,
    version: i32,
) -> Result<(), postgres::Error> {
    create_collection(tx, id, settings)?;
    let Tables { chunks, postings, stats, writes, .. } = Tables::of(id);
    tx.batch_execute(&format!("DROP TABLE {writes}"))?;
    match version {
        1 => {
            let lexical = settings.lexical_expression("title", "text");
            tx.batch_execute(&format!(
                "DROP TABLE {postings}; DROP TABLE {stats}; \
                 ALTER TABLE {chunks} ADD COLUMN lexical tsvector GENERATED ALWAYS AS ({lexical}) STORED; \
                 CREATE INDEX {chunks}_lexical ON {chunks} USING gin (lexical);"
            ))
        }
        TERM_COLUMNS_VERSION => tx.batch_execute(&format!(
            "ALTER TABLE {chunks} ADD COLUMN title_terms int NOT NULL, \
                 ADD COLUMN text_terms int NOT NULL;"
        )),
        _ => Ok(()),
    }
}

/// Drops collection `id`'s tables (missing ones are fine).
pub(crate) fn drop_collection(tx: &mut Transaction<'_>, id: i64) -> Result<(), postgres::Error> {
    let Tables { documents, chunks, keys, postings, stats, writes, tokens } = Tables::of(id);
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS {tokens}; DROP TABLE IF EXISTS {writes}; \
         DROP TABLE IF EXISTS {postings}; DROP TABLE IF EXISTS {stats}; \
         DROP TABLE IF EXISTS {chunks}; DROP TABLE IF EXISTS {documents}; \
         DROP SEQUENCE IF EXISTS {keys};"
    ))
}
