//! One collection in PostgreSQL: the engine's [`Backend`] over its two tables.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use pgvector::Vector;
use postgres::types::{ToSql, Type};
use tamis_core::{ChunkKey, Hit};
use tamis_engine::backend::{Backend, BackendStats, Stage1Lists, Stage1Query, TokenVectorStats};
use tamis_engine::filter::Filter;
use tamis_engine::result_cache::CacheVersion;
use tamis_engine::{Document, IndexSettings, MAX_EF_SEARCH, NewChunk, ScoreKind, StoredChunk};

use crate::bm25::{self, Bm25Text, ChunkTerms, Counts};
use crate::error::{database, is_undefined_column, is_undefined_table};
use crate::filter::{Condition, condition};
use crate::pool::{Connection, Db};
use crate::schema::{
    BM25_VERSION, COLLECTION_VERSION, TERM_COLUMNS_VERSION, Tables, WRITES_VERSION,
};
use crate::settings::StoredSettings;

/// Below this many allowed chunks (or the collection's `exact_below`, if smaller), a
/// filtered dense search scans them exactly, as the embedded backend does: an HNSW walk
/// that must skip most nodes costs more.
const EXACT_FILTER_LIMIT: i64 = 5_000;

/// Rows per `INSERT` statement (PostgreSQL binds at most 65535 parameters).
const ROWS_PER_INSERT: usize = 1_000;

/// A collection of a PostgreSQL catalog.
#[derive(Debug)]
pub struct PgBackend {
    db: Arc<Db>,
    name: String,
    id: i64,
    tables: Tables,
    stored: StoredSettings,
    settings: IndexSettings,
    /// The collection's schema version when it was opened.
    opened_version: i32,
    /// The version it was found upgraded to since (by `tamis index --rebuild-lexical` on
    /// any node): this node then follows without reopening.
    upgraded: OnceLock<i32>,
    /// How text becomes terms for BM25 (schema version 2 on; version 1 ranks its
    /// `tsvector` with `ts_rank`).
    text: Bm25Text,
}

type Param<'a> = &'a (dyn ToSql + Sync);

/// A parameter with its type, for `query_typed`: one round trip, no prepared statement.
type TypedParam<'a> = (&'a (dyn ToSql + Sync), Type);

impl PgBackend {
    pub(crate) fn new(
        db: Arc<Db>,
        name: &str,
        id: i64,
        version: i32,
        stored: StoredSettings,
    ) -> PgBackend {
        let settings = stored.index_settings();
        let lexical = &settings.lexical;
        let text = Bm25Text {
            analyzer: tamis_analysis::Analyzer::new(lexical.stemming, lexical.stopwords),
            fields: lexical.fields,
        };
        PgBackend {
            db,
            name: name.to_string(),
            id,
            tables: Tables::of(id),
            stored,
            settings,
            opened_version: version,
            upgraded: OnceLock::new(),
            text,
        }
    }

    /// The collection's schema version, as this node last saw it.
    fn version(&self) -> i32 {
        self.upgraded.get().copied().unwrap_or(self.opened_version)
    }

    /// How text is ranked: BM25 over postings, or `None` for `ts_rank` (version 1).
    fn bm25(&self) -> Option<&Bm25Text> {
        (self.version() >= BM25_VERSION).then_some(&self.text)
    }

    /// Notes `version`, read from the catalog, when it is newer than the one opened.
    fn follow(&self, version: i32) {
        if version > self.opened_version && version <= COLLECTION_VERSION {
            let _ = self.upgraded.set(version);
        }
    }

    /// A write to a collection opened at an older version first reads its version,
    /// sharing the catalog row that an upgrade holds exclusively: a write never
    /// interleaves with an upgrade, and one after it writes the new way.
    fn check_version(&self, tx: &mut postgres::Transaction<'_>) -> Result<(), postgres::Error> {
        if self.version() < COLLECTION_VERSION {
            let row = tx.query_opt(
                "SELECT schema_version FROM tamis_collections WHERE id = $1 FOR SHARE",
                &[&self.id],
            )?;
            if let Some(row) = row {
                self.follow(row.get(0));
            }
        }
        Ok(())
    }

    /// Advances the write sequence (schema version 4 on), last in a write's transaction:
    /// after `stats`, which writers lock first, so two writers never wait on each other
    /// in opposite orders.
    fn advance_writes(&self, tx: &mut postgres::Transaction<'_>) -> Result<(), postgres::Error> {
        if self.version() >= WRITES_VERSION {
            tx.execute(&format!("UPDATE {} SET seq = seq + 1", self.tables.writes), &[])?;
        }
        Ok(())
    }

    fn conn(&self) -> tamis_engine::Result<Connection> {
        self.db.connection()
    }

    /// A failed statement as an engine error; a missing table means the collection was
    /// dropped (by this node or another) since it was opened.
    fn fail(&self, what: &str, err: &postgres::Error) -> tamis_engine::Error {
        if is_undefined_table(err) {
            tamis_engine::Error::NoCollection {
                location: self.db.location.clone(),
                name: self.name.clone(),
            }
        } else {
            database(&self.db.location, &format!("collection '{}': {what}", self.name), err)
        }
    }

    /// A failed statement that carried a filter: PostgreSQL's refusal of an expression too
    /// deep or large for it is the client's to fix, and names no database. Only a filter
    /// makes such a statement: a program limit exceeded (SQLSTATE class 54: the stack
    /// depth, too many arguments) or the parser's own stack exhausted (a "syntax error",
    /// 42601, "memory exhausted", which a filter nesting some 4000 levels in SQL causes).
    fn fail_filtered(&self, what: &str, err: &postgres::Error) -> tamis_engine::Error {
        let too_complex = |db: &postgres::error::DbError| {
            let code = db.code().code();
            code.starts_with("54") || (code == "42601" && db.message().contains("memory exhausted"))
        };
        match err.as_db_error() {
            Some(db) if too_complex(db) => tamis_engine::Error::FilterTooComplex {
                backend: "postgres",
                reason: format!("{} (SQLSTATE {})", db.message(), db.code().code()),
            },
            _ => self.fail(what, err),
        }
    }

    /// The query vector as a parameter expression of the column's type.
    fn vector_param(&self, placeholder: &str) -> String {
        if self.stored.halfvec {
            format!("{placeholder}::vector::halfvec")
        } else {
            format!("{placeholder}::vector")
        }
    }

    /// The lexical list of a version 1 collection.
    fn ts_rank(
        &self,
        client: &mut impl postgres::GenericClient,
        text: &str,
        depth: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Hit>, postgres::Error> {
        let chunks = &self.tables.chunks;
        let cond = filter.map(|f| condition(f, "metadata", 2));
        let where_filter = cond.as_ref().map(|c| format!("AND {}", c.sql)).unwrap_or_default();
        let sql = format!(
            "SELECT chunk_key, ts_rank(lexical, query)::float4 AS score \
             FROM {chunks}, tamis_or_query('{config}'::regconfig, $1) AS query \
             WHERE lexical @@ query {where_filter} \
             ORDER BY score DESC, chunk_key LIMIT {depth}",
            config = self.stored.text_search,
        );
        let mut params: Vec<TypedParam<'_>> = vec![(&text, Type::TEXT)];
        params.extend(cond.iter().flat_map(Condition::typed));
        Ok(client
            .query_typed(&sql, &params)?
            .iter()
            .map(|row| Hit { key: row.get::<_, i64>(0) as ChunkKey, score: row.get(1) })
            .collect())
    }

    /// Decides between exact and HNSW search and sets the planner up for it, in one
    /// statement; returns whether the search is exact.
    ///
    /// Exact below the thresholds, as in the embedded backend: the same results, and
    /// faster than a graph walk at that size. Without a filter the planner's row estimate
    /// decides (it costs nothing; a table never analyzed has none, -1, and then at most
    /// `exact_below` rows are counted; a stale estimate only picks the slower of two
    /// correct searches). With one, the allowed rows are counted up to the limit.
    fn plan_dense(
        &self,
        tx: &mut postgres::Transaction<'_>,
        depth: usize,
        filter: Option<&Filter>,
        ef_search: Option<usize>,
    ) -> Result<bool, postgres::Error> {
        let chunks = &self.tables.chunks;
        let cond = filter.map(|f| condition(f, "metadata", 3));
        let rows = match &cond {
            Some(cond) => {
                let limit = EXACT_FILTER_LIMIT.min(self.stored.exact_below as i64);
                format!(
                    "(SELECT count(*) FROM (SELECT 1 FROM {chunks} WHERE {} LIMIT {}) AS allowed) \
                     <= {limit}",
                    cond.sql,
                    limit + 1
                )
            }
            None => {
                let limit = self.stored.exact_below as i64;
                format!(
                    "(SELECT CASE WHEN reltuples >= 0 THEN reltuples::bigint ELSE \
                     (SELECT count(*) FROM (SELECT 1 FROM {chunks} LIMIT {limit}) AS some_rows) END \
                     FROM pg_class WHERE oid = '{chunks}'::regclass) < {limit}"
                )
            }
        };
        // pgvector walks with at most 1000 candidates and returns at most that many rows
        // per scan; an iterative scan keeps walking until enough rows (that pass the
        // filter) are found.
        let ef = ef_search.unwrap_or(self.stored.hnsw_ef_search).max(depth);
        let iterative = if filter.is_some() || ef > MAX_EF_SEARCH { "strict_order" } else { "off" };
        let ef = ef.min(MAX_EF_SEARCH).to_string();
        let sql = format!(
            "SELECT exact, set_config('enable_indexscan', CASE WHEN exact THEN 'off' ELSE 'on' END, true), \
             set_config('hnsw.ef_search', $1, true), set_config('hnsw.iterative_scan', $2, true) \
             FROM (SELECT {rows} AS exact) AS decided"
        );
        let mut params: Vec<TypedParam<'_>> = vec![(&ef, Type::TEXT), (&iterative, Type::TEXT)];
        params.extend(cond.iter().flat_map(Condition::typed));
        Ok(tx.query_typed_one(&sql, &params)?.get(0))
    }

    fn dense(
        &self,
        tx: &mut postgres::Transaction<'_>,
        vector: &[f32],
        depth: usize,
        filter: Option<&Filter>,
        ef_search: Option<usize>,
    ) -> Result<Vec<Hit>, postgres::Error> {
        let exact = self.plan_dense(tx, depth, filter, ef_search)?;
        let chunks = &self.tables.chunks;
        let cond = filter.map(|f| condition(f, "metadata", 2));
        let where_filter = cond.as_ref().map(|c| format!("WHERE {}", c.sql)).unwrap_or_default();
        let operator = self.stored.distance_operator();
        // Sent as real[] (a built-in type, so the statement needs no prepare round trip)
        // and cast to the column's type, an immutable cast the HNSW scan accepts.
        let query =
            format!("$1::real[]::{}", if self.stored.halfvec { "halfvec" } else { "vector" });
        // The key breaks ties in an exact scan; an index scan can only order by distance.
        let tie = if exact { ", chunk_key" } else { "" };
        let sql = format!(
            "SELECT chunk_key, (embedding {operator} {query})::float8 AS distance \
             FROM {chunks} {where_filter} \
             ORDER BY embedding {operator} {query}{tie} LIMIT {depth}"
        );
        let mut params: Vec<TypedParam<'_>> = vec![(&vector, Type::FLOAT4_ARRAY)];
        params.extend(cond.iter().flat_map(Condition::typed));
        Ok(tx
            .query_typed(&sql, &params)?
            .iter()
            .map(|row| Hit {
                key: row.get::<_, i64>(0) as ChunkKey,
                score: self.stored.similarity(row.get(1)),
            })
            .collect())
    }

    fn insert_documents(
        &self,
        tx: &mut postgres::Transaction<'_>,
        batch: &[(Document, Vec<NewChunk>)],
    ) -> Result<(), postgres::Error> {
        let hashes: Vec<String> = batch.iter().map(|(doc, _)| doc.content_hash()).collect();
        for (group, group_hashes) in
            batch.chunks(ROWS_PER_INSERT).zip(hashes.chunks(ROWS_PER_INSERT))
        {
            let mut params: Vec<Param<'_>> = Vec::with_capacity(group.len() * 5);
            let mut values = Vec::with_capacity(group.len());
            for ((doc, _), hash) in group.iter().zip(group_hashes) {
                let n = params.len();
                values.push(format!(
                    "(${}, ${}, ${}, ${}::jsonb, ${})",
                    n + 1,
                    n + 2,
                    n + 3,
                    n + 4,
                    n + 5
                ));
                params.extend([&doc.id as Param<'_>, &doc.title, &doc.text, &doc.metadata, hash]);
            }
            tx.execute(
                &format!(
                    "INSERT INTO {} (doc_id, title, text, metadata, content_hash) VALUES {}",
                    self.tables.documents,
                    values.join(", ")
                ),
                &params,
            )?;
        }
        Ok(())
    }

    /// Inserts `batch`'s chunks (in a version 2 collection, their term counts too: `terms`,
    /// one per chunk in batch order), and returns each chunk's key by (document, ordinal).
    /// The chunks' token vectors, where the collection stores them: one statement for
    /// the batch, the rows as arrays unnested.
    fn insert_tokens(
        &self,
        tx: &mut postgres::Transaction<'_>,
        batch: &[(Document, Vec<NewChunk>)],
        keys: &HashMap<(String, i32), i64>,
    ) -> Result<(), postgres::Error> {
        if self.stored.late_interaction.is_none() {
            return Ok(());
        }
        let (mut doc_ids, mut chunk_keys, mut data) = (Vec::new(), Vec::new(), Vec::new());
        for (doc, chunks) in batch {
            for (ordinal, chunk) in chunks.iter().enumerate() {
                let key = keys.get(&(doc.id.clone(), ordinal as i32));
                if let (Some(&key), Some(tokens)) = (key, &chunk.tokens) {
                    doc_ids.push(doc.id.as_str());
                    chunk_keys.push(key);
                    data.push(tokens.as_slice());
                }
            }
        }
        if doc_ids.is_empty() {
            return Ok(());
        }
        tx.execute(
            &format!(
                "INSERT INTO {} (doc_id, chunk_key, data) \
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::bytea[])",
                self.tables.tokens
            ),
            &[&doc_ids, &chunk_keys, &data],
        )?;
        Ok(())
    }

    fn insert_chunks(
        &self,
        tx: &mut postgres::Transaction<'_>,
        batch: &[(Document, Vec<NewChunk>)],
        terms: &[ChunkTerms],
    ) -> Result<HashMap<(String, i32), i64>, postgres::Error> {
        struct Row<'a> {
            doc: &'a Document,
            ordinal: i32,
            text: &'a str,
            vector: Vector,
            lens: (i32, i32),
        }
        let lens = terms.iter().map(|t| (t.title_len, t.text_len)).chain(std::iter::repeat((0, 0)));
        let rows: Vec<Row<'_>> = batch
            .iter()
            .flat_map(|(doc, chunks)| {
                chunks.iter().enumerate().map(move |(ordinal, chunk)| (doc, ordinal, chunk))
            })
            .zip(lens)
            .map(|((doc, ordinal, chunk), lens)| Row {
                doc,
                ordinal: ordinal as i32,
                text: &chunk.text,
                vector: Vector::from(chunk.vector.clone()),
                lens,
            })
            .collect();
        let with_terms = self.version() == TERM_COLUMNS_VERSION;
        let mut keys = HashMap::new();
        for group in rows.chunks(ROWS_PER_INSERT) {
            let mut params: Vec<Param<'_>> = Vec::with_capacity(group.len() * 8);
            let mut values = Vec::with_capacity(group.len());
            for row in group {
                let n = params.len();
                let vector = self.vector_param(&format!("${}", n + 6));
                if with_terms {
                    values.push(format!(
                        "(${}, ${}, ${}, ${}, ${}::jsonb, {vector}, ${}, ${})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5,
                        n + 7,
                        n + 8
                    ));
                } else {
                    values.push(format!(
                        "(${}, ${}, ${}, ${}, ${}::jsonb, {vector})",
                        n + 1,
                        n + 2,
                        n + 3,
                        n + 4,
                        n + 5
                    ));
                }
                params.extend([
                    &row.doc.id as Param<'_>,
                    &row.ordinal,
                    &row.doc.title,
                    &row.text,
                    &row.doc.metadata,
                    &row.vector,
                ]);
                if with_terms {
                    params.extend([&row.lens.0 as Param<'_>, &row.lens.1]);
                }
            }
            let columns = if with_terms {
                "doc_id, ordinal, title, text, metadata, embedding, title_terms, text_terms"
            } else {
                "doc_id, ordinal, title, text, metadata, embedding"
            };
            let inserted = tx.query(
                &format!(
                    "INSERT INTO {} ({columns}) VALUES {} RETURNING doc_id, ordinal, chunk_key",
                    self.tables.chunks,
                    values.join(", ")
                ),
                &params,
            )?;
            for row in inserted {
                keys.insert((row.get(0), row.get(1)), row.get(2));
            }
        }
        Ok(keys)
    }

    /// Both lists of a stage-1 query. Text alone is one statement, which reads one
    /// snapshot by itself (a transaction would cost two more round trips); with a vector,
    /// one read-only transaction: both lists see the same snapshot, and SET LOCAL planner
    /// settings end with it.
    fn search(
        &self,
        conn: &mut Connection,
        query: &Stage1Query<'_>,
    ) -> Result<Stage1Lists, postgres::Error> {
        let Some(vector) = query.vector else {
            let lexical = match query.text {
                Some(text) => self.lexical_list(&mut **conn, text, query)?,
                None => Vec::new(),
            };
            return Ok(Stage1Lists { lexical, dense: Vec::new() });
        };
        let mut tx = conn.build_transaction().read_only(true).start()?;
        let lexical = match query.text {
            Some(text) => self.lexical_list(&mut tx, text, query)?,
            None => Vec::new(),
        };
        let dense = self.dense(&mut tx, vector, query.depth, query.filter, query.ef_search)?;
        tx.commit()?;
        Ok(Stage1Lists { lexical, dense })
    }

    /// The lexical list: BM25, or `ts_rank` in a version 1 collection.
    fn lexical_list(
        &self,
        client: &mut impl postgres::GenericClient,
        text: &str,
        query: &Stage1Query<'_>,
    ) -> Result<Vec<Hit>, postgres::Error> {
        match self.bm25() {
            Some(bm25) => {
                let params = query.bm25.unwrap_or(self.settings.lexical.bm25);
                bm25::search(client, &self.tables, bm25, text, &params, query.depth, query.filter)
            }
            None => self.ts_rank(client, text, query.depth, query.filter),
        }
    }
}

impl Backend for PgBackend {
    fn settings(&self) -> &IndexSettings {
        &self.settings
    }

    fn location(&self) -> String {
        format!("{} collection '{}'", self.db.location, self.name)
    }

    fn unchanged(&self, docs: &[(&str, &str)]) -> tamis_engine::Result<HashSet<String>> {
        let ids: Vec<&str> = docs.iter().map(|(id, _)| *id).collect();
        let hashes: Vec<&str> = docs.iter().map(|(_, hash)| *hash).collect();
        let sql = format!(
            "SELECT d.doc_id FROM {} AS d \
             JOIN unnest($1::text[], $2::text[]) AS given(doc_id, hash) \
             ON d.doc_id = given.doc_id AND d.content_hash = given.hash",
            self.tables.documents
        );
        let rows = self
            .conn()?
            .query(&sql, &[&ids, &hashes])
            .map_err(|e| self.fail("reading hashes", &e))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn write_batch(&mut self, batch: &[(Document, Vec<NewChunk>)]) -> tamis_engine::Result<()> {
        let mut conn = self.conn()?;
        let write = |conn: &mut Connection| -> Result<(), postgres::Error> {
            let mut tx = conn.transaction()?;
            self.check_version(&mut tx)?;
            let ids: Vec<&str> = batch.iter().map(|(doc, _)| doc.id.as_str()).collect();
            let removed = match self.bm25() {
                Some(_) => {
                    bm25::lock_stats(&mut tx, &self.tables)?;
                    bm25::counts_of(&mut tx, &self.tables, &ids)?
                }
                None => Counts::default(),
            };
            // Replacing a document replaces all its chunks and postings (ON DELETE CASCADE).
            tx.execute(
                &format!("DELETE FROM {} WHERE doc_id = ANY($1)", self.tables.documents),
                &[&ids],
            )?;
            self.insert_documents(&mut tx, batch)?;
            let terms: Vec<ChunkTerms> = match self.bm25() {
                Some(text) => batch
                    .iter()
                    .flat_map(|(doc, chunks)| {
                        chunks.iter().map(|chunk| text.chunk_terms(&doc.title, &chunk.text))
                    })
                    .collect(),
                None => Vec::new(),
            };
            let keys = self.insert_chunks(&mut tx, batch, &terms)?;
            self.insert_tokens(&mut tx, batch, &keys)?;
            if self.bm25().is_some() {
                let added = bm25::insert_postings(&mut tx, &self.tables, batch, &terms, &keys)?;
                bm25::update_stats(&mut tx, &self.tables, added, removed)?;
            }
            self.advance_writes(&mut tx)?;
            tx.commit()
        };
        write(&mut conn).map_err(|e| self.fail("writing a batch (nothing of it was kept)", &e))
    }

    fn delete_documents(&mut self, ids: &[&str]) -> tamis_engine::Result<usize> {
        let mut conn = self.conn()?;
        let delete = |conn: &mut Connection| -> Result<i64, postgres::Error> {
            let mut tx = conn.transaction()?;
            self.check_version(&mut tx)?;
            if self.bm25().is_some() {
                bm25::lock_stats(&mut tx, &self.tables)?;
            }
            let chunks: i64 = tx
                .query_one(
                    &format!("SELECT count(*) FROM {} WHERE doc_id = ANY($1)", self.tables.chunks),
                    &[&ids],
                )?
                .get(0);
            if self.bm25().is_some() {
                let removed = bm25::counts_of(&mut tx, &self.tables, ids)?;
                bm25::update_stats(&mut tx, &self.tables, Counts::default(), removed)?;
            }
            let deleted = tx.execute(
                &format!("DELETE FROM {} WHERE doc_id = ANY($1)", self.tables.documents),
                &[&ids],
            )?;
            if deleted > 0 {
                self.advance_writes(&mut tx)?;
            }
            tx.commit()?;
            Ok(chunks)
        };
        Ok(delete(&mut conn).map_err(|e| self.fail("deleting documents", &e))? as usize)
    }

    fn documents_matching(&self, filter: &Filter) -> tamis_engine::Result<Vec<String>> {
        let cond = condition(filter, "metadata", 1);
        let params: Vec<TypedParam<'_>> = cond.typed().collect();
        let sql = format!(
            "SELECT doc_id FROM {} WHERE {} ORDER BY doc_id",
            self.tables.documents, cond.sql
        );
        let rows = self
            .conn()?
            .query_typed(&sql, &params)
            .map_err(|e| self.fail_filtered("filtering documents", &e))?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    fn lexical_score_kind(&self) -> ScoreKind {
        if self.bm25().is_some() { ScoreKind::Bm25 } else { ScoreKind::TsRank }
    }

    /// Sorted, as `bm25::search` sends them.
    fn lexical_terms(&self, text: &str) -> Option<Vec<String>> {
        self.bm25().map(|bm25| {
            let mut terms = bm25.analyzer.terms(text);
            terms.sort_unstable();
            terms
        })
    }

    /// The collection's write sequence, read from the database: every node shares it, so
    /// each node's cache drops what any node's write changed. `None` before schema
    /// version 4 (`tamis index --rebuild-lexical` adds it).
    fn cache_version(&self) -> tamis_engine::Result<Option<CacheVersion>> {
        if self.version() < WRITES_VERSION {
            return Ok(None);
        }
        let sql = format!("SELECT seq FROM {}", self.tables.writes);
        let row = self
            .conn()?
            .query_one(&sql, &[])
            .map_err(|e| self.fail("reading the write sequence", &e))?;
        let sequence: i64 = row.get(0);
        Ok(Some(CacheVersion {
            identity: format!("{}#{}", self.db.location, self.id),
            sequence: sequence.unsigned_abs(),
        }))
    }

    fn stage1(&self, query: &Stage1Query<'_>) -> tamis_engine::Result<Stage1Lists> {
        if query.bm25.is_some() && query.text.is_some() && self.bm25().is_none() {
            return Err(tamis_engine::Error::InvalidSearch {
                message: format!(
                    "collection '{}' was made before tamis ranked PostgreSQL text with BM25, \
                     and ranks it with ts_rank, which takes no BM25 parameters: run `tamis \
                     index <url> --collection {} --rebuild-lexical` once",
                    self.name, self.name
                ),
            });
        }
        let mut conn = self.conn()?;
        match self.search(&mut conn, query) {
            // A version 1 collection upgraded by another node since this one opened it: its
            // `tsvector` column is gone; follow the upgrade and search again.
            Err(err) if self.bm25().is_none() && is_undefined_column(&err) => {
                let version = conn
                    .query_opt(
                        "SELECT schema_version FROM tamis_collections WHERE id = $1",
                        &[&self.id],
                    )
                    .map_err(|e| self.fail("reading the collection's version", &e))?;
                if let Some(row) = version {
                    self.follow(row.get(0));
                }
                if self.bm25().is_none() {
                    return Err(self.fail("searching", &err));
                }
                self.search(&mut conn, query)
            }
            other => other,
        }
        .map_err(|e| match query.filter {
            Some(_) => self.fail_filtered("searching", &e),
            None => self.fail("searching", &e),
        })
    }

    fn chunks(&self, keys: &[ChunkKey]) -> tamis_engine::Result<Vec<StoredChunk>> {
        let keys: Vec<i64> = keys.iter().map(|k| *k as i64).collect();
        let sql = format!(
            "SELECT chunk_key, doc_id, ordinal, title, text FROM {} WHERE chunk_key = ANY($1)",
            self.tables.chunks
        );
        let rows = self
            .conn()?
            .query_typed(&sql, &[(&keys, Type::INT8_ARRAY)])
            .map_err(|e| self.fail("reading chunks", &e))?;
        Ok(rows
            .iter()
            .map(|row| StoredChunk {
                key: row.get::<_, i64>(0) as ChunkKey,
                doc_id: row.get(1),
                ordinal: row.get::<_, i32>(2) as u32,
                title: row.get(3),
                text: row.get(4),
            })
            .collect())
    }

    fn chunk_tokens(&self, keys: &[ChunkKey]) -> tamis_engine::Result<Vec<(ChunkKey, Vec<u8>)>> {
        if self.stored.late_interaction.is_none() || keys.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<i64> = keys.iter().map(|&key| key as i64).collect();
        let sql =
            format!("SELECT chunk_key, data FROM {} WHERE chunk_key = ANY($1)", self.tables.tokens);
        let rows = self
            .conn()?
            .query(&sql, &[&keys])
            .map_err(|e| self.fail("reading token vectors", &e))?;
        Ok(rows.iter().map(|row| (row.get::<_, i64>(0) as ChunkKey, row.get(1))).collect())
    }

    fn chunks_of_documents(
        &self,
        doc_ids: &[&str],
    ) -> tamis_engine::Result<HashMap<String, Vec<ChunkKey>>> {
        if doc_ids.is_empty() {
            return Ok(HashMap::new());
        }
        let sql = format!(
            "SELECT doc_id, chunk_key FROM {} WHERE doc_id = ANY($1) ORDER BY doc_id, ordinal",
            self.tables.chunks
        );
        let rows = self
            .conn()?
            .query_typed(&sql, &[(&doc_ids, Type::TEXT_ARRAY)])
            .map_err(|e| self.fail("reading chunks", &e))?;
        let mut out: HashMap<String, Vec<ChunkKey>> = HashMap::with_capacity(doc_ids.len());
        for row in &rows {
            out.entry(row.get(0)).or_default().push(row.get::<_, i64>(1) as ChunkKey);
        }
        Ok(out)
    }

    fn metadata(&self, ids: &[&str]) -> tamis_engine::Result<HashMap<String, serde_json::Value>> {
        let sql = format!(
            "SELECT doc_id, metadata FROM {} WHERE doc_id = ANY($1) AND metadata IS NOT NULL",
            self.tables.documents
        );
        let rows = self
            .conn()?
            .query_typed(&sql, &[(&ids, Type::TEXT_ARRAY)])
            .map_err(|e| self.fail("reading metadata", &e))?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    fn stats(&self) -> tamis_engine::Result<BackendStats> {
        let sql = format!(
            "SELECT (SELECT count(*) FROM {}), (SELECT count(*) FROM {})",
            self.tables.documents, self.tables.chunks
        );
        let row = self.conn()?.query_one(&sql, &[]).map_err(|e| self.fail("counting", &e))?;
        let (documents, chunks): (i64, i64) = (row.get(0), row.get(1));
        let exact = (chunks as u64) < self.stored.exact_below as u64;
        let token_vectors = match &self.stored.late_interaction {
            Some(late) => {
                let sql = format!(
                    "SELECT count(*), COALESCE(sum(length(data)), 0)::bigint FROM {}",
                    self.tables.tokens
                );
                let row = self
                    .conn()?
                    .query_one(&sql, &[])
                    .map_err(|e| self.fail("counting token vectors", &e))?;
                let (chunks, bytes): (i64, i64) = (row.get(0), row.get(1));
                let row_bytes = late.storage.row_bytes(late.dimension) as u64;
                Some(TokenVectorStats {
                    chunks: chunks as u64,
                    vectors: bytes as u64 / row_bytes,
                    bytes: bytes as u64,
                })
            }
            None => None,
        };
        Ok(BackendStats {
            backend: "postgres",
            location: self.location(),
            documents: documents as u64,
            chunks: chunks as u64,
            vector_index: if exact { "exact" } else { "hnsw" }.to_string(),
            vectors: chunks as u64,
            sequence: self.cache_version()?.map(|version| version.sequence),
            lexical_scoring: self.lexical_score_kind(),
            token_vectors,
        })
    }

    fn flush(&mut self) -> tamis_engine::Result<()> {
        Ok(())
    }
}
