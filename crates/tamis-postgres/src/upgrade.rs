//! Bringing a collection made by an older tamis to [`COLLECTION_VERSION`]: BM25 postings
//! built for a version 1 collection (ranked by `ts_rank` until then), the chunks' term
//! columns dropped from a version 2 one, the write sequence added to all.
//!
//! One transaction, so a lost connection keeps nothing. It holds the collection's catalog
//! row exclusively, which writers of an older version take shared first (see
//! `PgBackend::check_version`), and its tables against writes; searches go on (with
//! `ts_rank`) until it commits. The chunk rows are not rewritten, so their HNSW entries
//! stay as they are: the postings are read from the chunks' text, bulk-loaded, then
//! indexed; last, the `tsvector` column (and its GIN index) is dropped.

use postgres::Transaction;
use tamis_analysis::Analyzer;

use crate::bm25::{Bm25Text, Postings};
use crate::schema::{
    self, BM25_VERSION, COLLECTION_VERSION, TERM_COLUMNS_VERSION, Tables, WRITES_VERSION,
};
use crate::settings::StoredSettings;

/// Chunks read per round trip while building postings.
const CHUNKS_PER_FETCH: i32 = 1_000;

/// What [`crate::PgCatalog::rebuild_lexical`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexicalRebuild {
    /// The collection's schema version before.
    pub from_version: i32,
    /// Its version now.
    pub to_version: i32,
    /// Whether postings were built: the collection ranked by `ts_rank` before.
    pub built_postings: bool,
    /// Chunks whose postings were built.
    pub chunks: u64,
    /// Postings rows written.
    pub postings: u64,
}

/// Upgrades collection `id` (recorded with `stored` at `version`) inside `tx`, which the
/// caller commits. `progress` gets (chunks done, chunks in all) as postings are built.
pub(crate) fn upgrade(
    tx: &mut Transaction<'_>,
    id: i64,
    stored: &StoredSettings,
    version: i32,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<LexicalRebuild, postgres::Error> {
    let tables = Tables::of(id);
    let Tables { documents, chunks, postings, stats, .. } = &tables;
    let mut done = LexicalRebuild {
        from_version: version,
        to_version: COLLECTION_VERSION,
        built_postings: version < BM25_VERSION,
        chunks: 0,
        postings: 0,
    };
    // Writes wait; reads go on.
    tx.batch_execute(&format!("LOCK TABLE {documents}, {chunks} IN SHARE ROW EXCLUSIVE MODE"))?;
    if version < BM25_VERSION {
        let lexical = stored.index_settings().lexical;
        let text = Bm25Text {
            analyzer: Analyzer::new(lexical.stemming, lexical.stopwords),
            fields: lexical.fields,
        };
        schema::create_bm25_tables(tx, id)?;
        let total: i64 = tx.query_one(&format!("SELECT count(*) FROM {chunks}"), &[])?.get(0);
        let total = total.unsigned_abs();
        progress(0, total);
        let statement =
            tx.prepare(&format!("SELECT doc_id, chunk_key, title, text FROM {chunks}"))?;
        // Closed (when dropped) before the chunks table is altered below.
        let portal = tx.bind(&statement, &[])?;
        let mut rows = Postings::default();
        loop {
            let fetched = tx.query_portal(&portal, CHUNKS_PER_FETCH)?;
            if fetched.is_empty() {
                break;
            }
            for row in &fetched {
                let (doc_id, key, title, body): (&str, i64, &str, &str) =
                    (row.get(0), row.get(1), row.get(2), row.get(3));
                rows.add(doc_id, key, &text.chunk_terms(title, body));
            }
            done.chunks += fetched.len() as u64;
            done.postings += rows.len() as u64;
            rows.write(tx, &tables)?;
            progress(done.chunks, total);
        }
        drop(portal);
        drop(statement);
        let added = rows.added;
        tx.execute(
            &format!("INSERT INTO {stats} (field, chunks, terms) VALUES (0, $1, $2), (1, $1, $3)"),
            &[&added.chunks, &added.title_terms, &added.text_terms],
        )?;
        schema::create_bm25_indexes(tx, id)?;
        tx.batch_execute(&format!("ANALYZE {postings}; ALTER TABLE {chunks} DROP COLUMN lexical"))?;
    } else if version == TERM_COLUMNS_VERSION {
        tx.batch_execute(&format!(
            "ALTER TABLE {chunks} DROP COLUMN title_terms, DROP COLUMN text_terms"
        ))?;
    }
    if version < WRITES_VERSION {
        schema::create_writes_table(tx, id)?;
    }
    tx.execute(
        "UPDATE tamis_collections SET schema_version = $1 WHERE id = $2",
        &[&COLLECTION_VERSION, &id],
    )?;
    Ok(done)
}
