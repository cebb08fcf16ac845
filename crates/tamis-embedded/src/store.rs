//! The source of truth: documents, chunks, metadata and vectors in one SQLite file.
//!
//! SQLite (bundled through rusqlite) rather than redb because it gives, in one mature
//! embedded file: transactions that make a batch all-or-nothing and durable on commit
//! (WAL, `synchronous = FULL`), JSON functions for metadata, and a file any user can
//! inspect with the `sqlite3` shell. The BM25 and vector indexes are derived from it:
//! every committed batch gets a sequence number and logs the chunk keys it added and
//! removed, so a derived index that reflects sequence `s` catches up by replaying the
//! log after `s`.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, OptionalExtension, params};
use tamis_core::ChunkKey;
use tamis_engine::filter::Filter;
use tamis_engine::{Document, NewChunk, StoredChunk};

use crate::{Error, Result};

/// The file name of the store inside an index directory.
pub const STORE_FILE: &str = "store.sqlite";

/// Bumped when the schema changes incompatibly.
const SCHEMA_VERSION: i64 = 1;

/// What one committed write changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Receipt {
    /// The sequence number the write committed under.
    pub seq: u64,
    /// Chunk keys added.
    pub added: Vec<ChunkKey>,
    /// Chunk keys removed.
    pub removed: Vec<ChunkKey>,
}

/// One entry of the change log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The chunk was added in this sequence.
    Added(ChunkKey),
    /// The chunk was removed in this sequence.
    Removed(ChunkKey),
}

/// The SQLite store of one index directory.
#[derive(Debug)]
pub struct Store {
    /// Behind a mutex so that an `Index` can be shared by searching threads (a SQLite
    /// connection is `Send` but not `Sync`); every use is short.
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store> {
        fs_err::create_dir_all(dir).map_err(Error::Io)?;
        let path = dir.join(STORE_FILE);
        let conn = Connection::open(&path)
            .map_err(|source| Error::Store { path: path.clone(), source })?;
        let store = Store { conn: Mutex::new(conn), path };
        store.init().map_err(|source| store.error(source))?;
        let version: i64 =
            store.setting("schema_version")?.and_then(|v| v.parse().ok()).unwrap_or(SCHEMA_VERSION);
        if version != SCHEMA_VERSION {
            return Err(Error::SchemaVersion {
                path: store.path.clone(),
                found: version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(store)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves no half state: SQLite rolls back.
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn init(&self) -> rusqlite::Result<()> {
        // WAL + FULL: a commit is durable once `commit` returns, and readers never block it.
        self.conn().pragma_update(None, "journal_mode", "WAL")?;
        self.conn().pragma_update(None, "synchronous", "FULL")?;
        self.conn().pragma_update(None, "foreign_keys", "ON")?;
        self.conn().execute_batch(
            "CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS documents (
                 doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, text TEXT NOT NULL,
                 metadata TEXT, content_hash TEXT NOT NULL, seq INTEGER NOT NULL);
             CREATE TABLE IF NOT EXISTS chunks (
                 key INTEGER PRIMARY KEY AUTOINCREMENT,
                 doc_id TEXT NOT NULL REFERENCES documents(doc_id) ON DELETE CASCADE,
                 ordinal INTEGER NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL);
             CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks(doc_id);
             CREATE TABLE IF NOT EXISTS chunk_tokens (
                 key INTEGER PRIMARY KEY REFERENCES chunks(key) ON DELETE CASCADE,
                 data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, at TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS chunk_log (seq INTEGER NOT NULL, key INTEGER NOT NULL, added INTEGER NOT NULL);
             CREATE INDEX IF NOT EXISTS chunk_log_by_seq ON chunk_log(seq);",
        )?;
        self.conn().execute(
            "INSERT OR IGNORE INTO settings(name, value) VALUES ('schema_version', ?1)",
            params![SCHEMA_VERSION.to_string()],
        )?;
        Ok(())
    }

    fn error(&self, source: rusqlite::Error) -> Error {
        Error::Store { path: self.path.clone(), source }
    }

    /// A filtered statement's error: SQLite's refusals of a statement too large for it
    /// (only a filter makes one) are the client's to fix, reported without the store's
    /// path; the rest are the store's.
    fn filter_error(&self, source: rusqlite::Error) -> Error {
        // SQLite gives these the generic SQLITE_ERROR code: only the message tells them apart.
        const TOO_COMPLEX: [&str; 6] = [
            "expression tree is too large",
            "too many sql variables",
            "parser stack overflow",
            "too many terms",
            "tables in a join",
            "too many arguments",
        ];
        if let rusqlite::Error::SqliteFailure(_, Some(message)) = &source {
            let lowercase = message.to_lowercase();
            if TOO_COMPLEX.iter().any(|needle| lowercase.contains(needle)) {
                return Error::Engine(tamis_engine::Error::FilterTooComplex {
                    backend: "sqlite",
                    reason: message.clone(),
                });
            }
        }
        self.error(source)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A named setting (the embedder, chunking, BM25 configuration …).
    pub fn setting(&self, name: &str) -> Result<Option<String>> {
        self.conn()
            .query_row("SELECT value FROM settings WHERE name = ?1", params![name], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|e| self.error(e))
    }

    /// Records a named setting.
    pub fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO settings(name, value) VALUES (?1, ?2)",
                params![name, value],
            )
            .map(drop)
            .map_err(|e| self.error(e))
    }

    /// The ids among `docs` whose stored content hash equals the given one: these need no work.
    pub fn unchanged(&self, docs: &[(&str, &str)]) -> Result<HashSet<String>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT 1 FROM documents WHERE doc_id = ?1 AND content_hash = ?2")
            .map_err(|e| self.error(e))?;
        let mut same = HashSet::new();
        for (id, hash) in docs {
            if statement.exists(params![id, hash]).map_err(|e| self.error(e))? {
                same.insert(id.to_string());
            }
        }
        Ok(same)
    }

    /// Writes documents with their chunks in one transaction: all of the batch becomes
    /// visible, or none of it. A document already present is replaced (its old chunks are
    /// removed and logged). Returns the keys added and removed under the batch's sequence.
    pub fn write_batch(&mut self, batch: &[(Document, Vec<NewChunk>)]) -> Result<Receipt> {
        let path = self.path.clone();
        let error = |source| Error::Store { path: path.clone(), source };
        let tx = self
            .conn
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .transaction()
            .map_err(error)?;
        let seq = start_batch(&tx).map_err(error)?;
        let mut receipt = Receipt { seq, ..Default::default() };
        for (doc, chunks) in batch {
            receipt.removed.extend(remove_document(&tx, &doc.id, seq).map_err(error)?);
            let metadata = doc.metadata.as_ref().map(serde_json::Value::to_string);
            tx.execute(
                "INSERT INTO documents(doc_id, title, text, metadata, content_hash, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![doc.id, doc.title, doc.text, metadata, doc.content_hash(), seq as i64],
            )
            .map_err(error)?;
            for (ordinal, chunk) in chunks.iter().enumerate() {
                tx.execute(
                    "INSERT INTO chunks(doc_id, ordinal, text, vector) VALUES (?1, ?2, ?3, ?4)",
                    params![doc.id, ordinal as i64, chunk.text, vector_bytes(&chunk.vector)],
                )
                .map_err(error)?;
                let key = tx.last_insert_rowid() as ChunkKey;
                if let Some(tokens) = &chunk.tokens {
                    tx.execute(
                        "INSERT INTO chunk_tokens(key, data) VALUES (?1, ?2)",
                        params![key as i64, tokens],
                    )
                    .map_err(error)?;
                }
                tx.execute(
                    "INSERT INTO chunk_log(seq, key, added) VALUES (?1, ?2, 1)",
                    params![seq as i64, key as i64],
                )
                .map_err(error)?;
                receipt.added.push(key);
            }
        }
        tx.commit().map_err(error)?;
        Ok(receipt)
    }

    /// Deletes documents by id in one transaction; unknown ids are ignored.
    pub fn delete_documents(&mut self, ids: &[&str]) -> Result<Receipt> {
        let path = self.path.clone();
        let error = |source| Error::Store { path: path.clone(), source };
        let tx = self
            .conn
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .transaction()
            .map_err(error)?;
        let seq = start_batch(&tx).map_err(error)?;
        let mut receipt = Receipt { seq, ..Default::default() };
        for id in ids {
            receipt.removed.extend(remove_document(&tx, id, seq).map_err(error)?);
        }
        tx.commit().map_err(error)?;
        Ok(receipt)
    }

    /// The ids of documents whose metadata passes `filter`.
    pub fn documents_matching(&self, filter: &Filter) -> Result<Vec<String>> {
        let Some(condition) = crate::filter::condition(filter) else {
            return self.scan_matching(filter);
        };
        let sql = format!("SELECT doc_id FROM documents WHERE {}", condition.sql);
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&sql).map_err(|e| self.filter_error(e))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(&condition.params), |row| row.get(0))
            .map_err(|e| self.filter_error(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.filter_error(e))
    }

    /// The chunk keys of documents whose metadata passes `filter`, for filtered retrieval.
    pub fn keys_matching(&self, filter: &Filter) -> Result<HashSet<ChunkKey>> {
        let Some(condition) = crate::filter::condition(filter) else {
            let ids = self.scan_matching(filter)?;
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            return Ok(self.chunks_of_documents(&ids)?.into_values().flatten().collect());
        };
        let sql = format!(
            "SELECT chunks.key FROM documents JOIN chunks ON chunks.doc_id = documents.doc_id \
             WHERE {}",
            condition.sql
        );
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&sql).map_err(|e| self.filter_error(e))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(&condition.params), |row| row.get::<_, i64>(0))
            .map_err(|e| self.filter_error(e))?;
        rows.map(|key| key.map(|k| k as ChunkKey))
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.filter_error(e))
    }

    /// [`Filter::matches`] over every document's metadata: the reference the SQL
    /// translation is tested against, and the fallback for filters it cannot express.
    pub(crate) fn scan_matching(&self, filter: &Filter) -> Result<Vec<String>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT doc_id, metadata FROM documents")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, Option<String>>(1)?)))
            .map_err(|e| self.error(e))?;
        let mut ids = Vec::new();
        for row in rows {
            let (id, metadata) = row.map_err(|e| self.error(e))?;
            let metadata = metadata
                .and_then(|m| serde_json::from_str(&m).ok())
                .unwrap_or(serde_json::Value::Null);
            if filter.matches(&metadata) {
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// The latest committed sequence number (0 for an empty store).
    pub fn last_seq(&self) -> Result<u64> {
        self.conn()
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM batches", [], |row| row.get::<_, i64>(0))
            .map(|s| s as u64)
            .map_err(|e| self.error(e))
    }

    /// Every chunk change after sequence `after`, in order.
    pub fn changes_since(&self, after: u64) -> Result<Vec<(u64, Change)>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT seq, key, added FROM chunk_log WHERE seq > ?1 ORDER BY seq, rowid",
            )
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![after as i64], |row| {
                let (seq, key, added): (i64, i64, bool) = (row.get(0)?, row.get(1)?, row.get(2)?);
                let key = key as ChunkKey;
                Ok((seq as u64, if added { Change::Added(key) } else { Change::Removed(key) }))
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.error(e))
    }

    /// The chunks with these keys (missing keys are skipped), in the order given.
    pub fn chunks(&self, keys: &[ChunkKey]) -> Result<Vec<StoredChunk>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached(
                "SELECT c.key, c.doc_id, c.ordinal, d.title, c.text FROM chunks c JOIN documents d USING (doc_id) WHERE c.key = ?1",
            )
            .map_err(|e| self.error(e))?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let chunk = statement
                .query_row(params![*key as i64], |row| {
                    Ok(StoredChunk {
                        key: row.get::<_, i64>(0)? as ChunkKey,
                        doc_id: row.get(1)?,
                        ordinal: row.get(2)?,
                        title: row.get(3)?,
                        text: row.get(4)?,
                    })
                })
                .optional()
                .map_err(|e| self.error(e))?;
            out.extend(chunk);
        }
        Ok(out)
    }

    /// The vector of every chunk, for rebuilding a vector index.
    pub fn vectors(&self) -> Result<Vec<(ChunkKey, Vec<f32>)>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT key, vector FROM chunks ORDER BY key")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)? as ChunkKey,
                    vector_from_bytes(&row.get::<_, Vec<u8>>(1)?),
                ))
            })
            .map_err(|e| self.error(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.error(e))
    }

    /// The chunk keys of one document, in order (empty when it is not stored).
    pub fn chunks_of_document(&self, doc_id: &str) -> Result<Vec<ChunkKey>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT key FROM chunks WHERE doc_id = ?1 ORDER BY ordinal")
            .map_err(|e| self.error(e))?;
        let rows = statement
            .query_map(params![doc_id], |row| row.get::<_, i64>(0).map(|k| k as ChunkKey))
            .map_err(|e| self.error(e))?;
        rows.collect::<rusqlite::Result<_>>().map_err(|e| self.error(e))
    }

    /// The chunk keys of each of these documents, in order (documents not stored are left
    /// out): statements of a fixed number of ids, so that one cached statement serves.
    pub fn chunks_of_documents(&self, doc_ids: &[&str]) -> Result<HashMap<String, Vec<ChunkKey>>> {
        const IDS_PER_STATEMENT: usize = 32;
        let mut out: HashMap<String, Vec<ChunkKey>> = HashMap::with_capacity(doc_ids.len());
        if doc_ids.is_empty() {
            return Ok(out);
        }
        let sql = format!(
            "SELECT doc_id, key FROM chunks WHERE doc_id IN ({}) ORDER BY doc_id, ordinal",
            vec!["?"; IDS_PER_STATEMENT].join(", ")
        );
        let conn = self.conn();
        let mut statement = conn.prepare_cached(&sql).map_err(|e| self.error(e))?;
        for ids in doc_ids.chunks(IDS_PER_STATEMENT) {
            // Padded with the last id: a repeated id changes nothing in `IN`.
            let padded = (0..IDS_PER_STATEMENT).map(|i| ids[i.min(ids.len() - 1)]);
            let mut rows =
                statement.query(rusqlite::params_from_iter(padded)).map_err(|e| self.error(e))?;
            while let Some(row) = rows.next().map_err(|e| self.error(e))? {
                let (doc_id, key): (String, i64) = (
                    row.get(0).map_err(|e| self.error(e))?,
                    row.get(1).map_err(|e| self.error(e))?,
                );
                out.entry(doc_id).or_default().push(key as ChunkKey);
            }
        }
        Ok(out)
    }

    /// The metadata of these documents (unknown ids and documents without any are
    /// skipped).
    pub fn metadata_of(&self, ids: &[&str]) -> Result<HashMap<String, serde_json::Value>> {
        let conn = self.conn();
        let mut statement = conn
            .prepare_cached("SELECT metadata FROM documents WHERE doc_id = ?1")
            .map_err(|e| self.error(e))?;
        let mut out = HashMap::with_capacity(ids.len());
        for id in ids {
            let stored: Option<Option<String>> = statement
                .query_row(params![id], |row| row.get(0))
                .optional()
                .map_err(|e| self.error(e))?;
            // Stored by `serde_json::Value::to_string`, so it parses; a row edited by hand
            // into something else is shown as the string it holds.
            if let Some(Some(text)) = stored {
                let value = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
                out.insert((*id).to_string(), value);
            }
        }
        Ok(out)
    }

    /// The vectors of these chunks (missing keys are skipped), in the order given.
    pub fn vectors_of(&self, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, Vec<f32>)>> {
        let blobs = self.blobs_of("SELECT vector FROM chunks WHERE key = ?1", keys)?;
        Ok(blobs.into_iter().map(|(key, bytes)| (key, vector_from_bytes(&bytes))).collect())
    }

    /// The stored token vectors of these chunks (chunks without any are skipped), in the
    /// order given.
    pub fn chunk_tokens(&self, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, Vec<u8>)>> {
        self.blobs_of("SELECT data FROM chunk_tokens WHERE key = ?1", keys)
    }

    /// The blob `sql` selects for each key (its one parameter), keys without a row skipped,
    /// in the order given.
    fn blobs_of(&self, sql: &str, keys: &[ChunkKey]) -> Result<Vec<(ChunkKey, Vec<u8>)>> {
        let conn = self.conn();
        let mut statement = conn.prepare_cached(sql).map_err(|e| self.error(e))?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let bytes: Option<Vec<u8>> = statement
                .query_row(params![*key as i64], |row| row.get(0))
                .optional()
                .map_err(|e| self.error(e))?;
            out.extend(bytes.map(|b| (*key, b)));
        }
        Ok(out)
    }

    /// Chunks with stored token vectors, and their bytes.
    pub fn token_counts(&self) -> Result<(u64, u64)> {
        self.conn()
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(length(data)), 0) FROM chunk_tokens",
                [],
                |row| Ok((row.get::<_, i64>(0)? as u64, row.get::<_, i64>(1)? as u64)),
            )
            .map_err(|e| self.error(e))
    }

    /// Numbers of documents and chunks.
    pub fn counts(&self) -> Result<(u64, u64)> {
        let count = |table: &str| {
            self.conn()
                .query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| row.get::<_, i64>(0))
                .map(|n| n as u64)
                .map_err(|e| self.error(e))
        };
        Ok((count("documents")?, count("chunks")?))
    }
}

fn start_batch(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<u64> {
    tx.execute("INSERT INTO batches(at) VALUES (datetime('now'))", [])?;
    Ok(tx.last_insert_rowid() as u64)
}

/// Removes a document and its chunks, logging the removed keys under `seq`.
fn remove_document(
    tx: &rusqlite::Transaction<'_>,
    doc_id: &str,
    seq: u64,
) -> rusqlite::Result<Vec<ChunkKey>> {
    let keys: Vec<ChunkKey> = {
        let mut statement =
            tx.prepare_cached("SELECT key FROM chunks WHERE doc_id = ?1 ORDER BY key")?;
        let rows = statement.query_map(params![doc_id], |row| row.get::<_, i64>(0))?;
        rows.map(|k| k.map(|k| k as ChunkKey)).collect::<rusqlite::Result<_>>()?
    };
    for key in &keys {
        tx.execute(
            "INSERT INTO chunk_log(seq, key, added) VALUES (?1, ?2, 0)",
            params![seq as i64, *key as i64],
        )?;
    }
    tx.execute("DELETE FROM documents WHERE doc_id = ?1", params![doc_id])?;
    Ok(keys)
}

/// Vectors are stored as little-endian `f32` bytes.
fn vector_bytes(vector: &[f32]) -> Vec<u8> {
    vector.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn vector_from_bytes(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

#[cfg(test)]
mod tests;
