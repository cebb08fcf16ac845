//! BM25 over tamis's own postings (collections of schema version 2 and later): the same
//! terms, parameters and rounded lengths as the embedded index, so the same scores.
//!
//! Writes keep `postings` and `stats` exact in the batch's own transaction: `stats` rows
//! are locked first (so concurrent writers queue on them, in one order, and never
//! deadlock), the chunks being replaced are subtracted, the new ones added. Searches read
//! only the query terms' postings through the `(term, field)` index; a term's document
//! frequency is the count of its postings, taken in the same scan, so no statistics row
//! per term needs updating (or contending) on every write.

use std::collections::{BTreeMap, HashMap};

use postgres::types::Type;
use postgres::{GenericClient, Transaction};
use tamis_analysis::Analyzer;
use tamis_core::{Bm25Params, ChunkKey, Hit, stored_length};
use tamis_engine::filter::Filter;
use tamis_engine::{Document, LexicalFields, NewChunk};

use crate::filter::{Condition, condition};
use crate::schema::Tables;

/// The title field's number in `postings` and `stats`.
const TITLE: i16 = 0;
/// The text field's (in a concatenated collection, title and text together).
const TEXT: i16 = 1;

/// Postings rows per `INSERT` (six arrays of this length in one statement).
const POSTINGS_PER_INSERT: usize = 50_000;

/// How one collection's text becomes postings and scores.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bm25Text {
    pub analyzer: Analyzer,
    pub fields: LexicalFields,
}

/// Chunks and terms per field, added to or taken from `stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub chunks: i64,
    pub title_terms: i64,
    pub text_terms: i64,
}

/// One chunk's terms, counted per field.
pub(crate) struct ChunkTerms {
    pub title: HashMap<String, i32>,
    pub text: HashMap<String, i32>,
    pub title_len: i32,
    pub text_len: i32,
}

impl Bm25Text {
    /// The terms of a chunk with this title and text, per field.
    pub fn chunk_terms(&self, title: &str, text: &str) -> ChunkTerms {
        let count = |text: &str| {
            let mut counts: HashMap<String, i32> = HashMap::new();
            let mut len = 0;
            self.analyzer.for_each_term(text, |term| {
                len += 1;
                *counts.entry(term.to_owned()).or_default() += 1;
            });
            (counts, len)
        };
        match self.fields {
            LexicalFields::Multifield => {
                let (title, title_len) = count(title);
                let (text, text_len) = count(text);
                ChunkTerms { title, text, title_len, text_len }
            }
            LexicalFields::Concatenated => {
                let (text, text_len) = count(&format!("{title} {text}"));
                ChunkTerms { title: HashMap::new(), text, title_len: 0, text_len }
            }
        }
    }
}

/// Locks the collection's `stats` rows until the transaction ends: every write takes
/// them first, so writers never interleave their counts.
pub(crate) fn lock_stats(tx: &mut Transaction<'_>, tables: &Tables) -> Result<(), postgres::Error> {
    tx.execute(&format!("SELECT field FROM {} ORDER BY field FOR UPDATE", tables.stats), &[])?;
    Ok(())
}

/// The chunks (and their terms) of documents `ids`, about to be replaced or deleted: a
/// field's terms are the sum of its postings' frequencies.
pub(crate) fn counts_of(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    ids: &[&str],
) -> Result<Counts, postgres::Error> {
    let row = tx.query_one(
        &format!(
            "SELECT (SELECT count(*) FROM {chunks} WHERE doc_id = ANY($1)), \
                    coalesce(sum(tf) FILTER (WHERE field = {TITLE}), 0)::int8, \
                    coalesce(sum(tf) FILTER (WHERE field = {TEXT}), 0)::int8 \
             FROM {postings} WHERE doc_id = ANY($1)",
            chunks = tables.chunks,
            postings = tables.postings,
        ),
        &[&ids],
    )?;
    Ok(Counts { chunks: row.get(0), title_terms: row.get(1), text_terms: row.get(2) })
}

/// Adds `added` and takes away `removed` in `stats`.
pub(crate) fn update_stats(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    added: Counts,
    removed: Counts,
) -> Result<(), postgres::Error> {
    let chunks = added.chunks - removed.chunks;
    for (field, terms) in [
        (TITLE, added.title_terms - removed.title_terms),
        (TEXT, added.text_terms - removed.text_terms),
    ] {
        tx.execute(
            &format!(
                "UPDATE {} SET chunks = chunks + $1, terms = terms + $2 WHERE field = $3",
                tables.stats
            ),
            &[&chunks, &terms, &field],
        )?;
    }
    Ok(())
}

/// Postings rows gathered for one multi-row `INSERT` per [`POSTINGS_PER_INSERT`], with
/// what they add to `stats`.
#[derive(Debug, Default)]
pub(crate) struct Postings {
    doc_ids: Vec<String>,
    chunk_keys: Vec<i64>,
    fields: Vec<i16>,
    terms: Vec<String>,
    tfs: Vec<i32>,
    lens: Vec<i32>,
    /// What every chunk added since this was made adds to `stats`.
    pub added: Counts,
}

impl Postings {
    /// Adds the postings of chunk `key` of document `doc_id`.
    pub fn add(&mut self, doc_id: &str, key: i64, chunk: &ChunkTerms) {
        self.added.chunks += 1;
        self.added.title_terms += i64::from(chunk.title_len);
        self.added.text_terms += i64::from(chunk.text_len);
        for (field, counts, len) in
            [(TITLE, &chunk.title, chunk.title_len), (TEXT, &chunk.text, chunk.text_len)]
        {
            let stored = stored_length(len.unsigned_abs()) as i32;
            for (term, &tf) in counts {
                self.doc_ids.push(doc_id.to_owned());
                self.chunk_keys.push(key);
                self.fields.push(field);
                self.terms.push(term.clone());
                self.tfs.push(tf);
                self.lens.push(stored);
            }
        }
    }

    /// Rows gathered and not yet written.
    pub fn len(&self) -> usize {
        self.doc_ids.len()
    }

    /// Inserts the rows gathered and forgets them (not `added`).
    pub fn write(
        &mut self,
        tx: &mut Transaction<'_>,
        tables: &Tables,
    ) -> Result<(), postgres::Error> {
        let sql = format!(
            "INSERT INTO {} (doc_id, chunk_key, field, term, tf, stored_len) \
             SELECT * FROM unnest($1::text[], $2::int8[], $3::int2[], $4::text[], $5::int4[], $6::int4[])",
            tables.postings
        );
        for start in (0..self.len()).step_by(POSTINGS_PER_INSERT) {
            let end = (start + POSTINGS_PER_INSERT).min(self.len());
            tx.execute(
                &sql,
                &[
                    &&self.doc_ids[start..end],
                    &&self.chunk_keys[start..end],
                    &&self.fields[start..end],
                    &&self.terms[start..end],
                    &&self.tfs[start..end],
                    &&self.lens[start..end],
                ],
            )?;
        }
        self.doc_ids.clear();
        self.chunk_keys.clear();
        self.fields.clear();
        self.terms.clear();
        self.tfs.clear();
        self.lens.clear();
        Ok(())
    }
}

/// Writes the postings of `batch`'s chunks, whose keys `keys` gives by (document, ordinal);
/// returns what they add to `stats`.
pub(crate) fn insert_postings(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    batch: &[(Document, Vec<NewChunk>)],
    terms: &[ChunkTerms],
    keys: &HashMap<(String, i32), i64>,
) -> Result<Counts, postgres::Error> {
    let mut postings = Postings::default();
    let chunks = batch.iter().flat_map(|(doc, chunks)| {
        (0..chunks.len()).map(move |ordinal| (doc.id.as_str(), ordinal as i32))
    });
    for ((doc_id, ordinal), chunk) in chunks.zip(terms) {
        if let Some(&key) = keys.get(&(doc_id.to_owned(), ordinal)) {
            postings.add(doc_id, key, chunk);
        }
    }
    postings.write(tx, tables)?;
    Ok(postings.added)
}

/// The best `depth` chunks for `query` by BM25 with `params`, restricted by `filter`.
///
/// Each posting of a query term scores `w · idf · (k1 + 1) · tf / (tf + k1 · (1 − b + b ·
/// len / avgdl))`, with `N` and `avgdl` from `stats`, the document frequency counted over
/// the term's postings before any filter (as the embedded index does), and `w` the title
/// weight for titles; a repeated query term counts again. Everything but `tf` and `len`
/// is computed once per (term, field), so each posting costs one division; in `float8`,
/// returned as `float4`. One statement: it reads one snapshot without a transaction.
pub(crate) fn search(
    client: &mut impl GenericClient,
    tables: &Tables,
    text: &Bm25Text,
    query: &str,
    params: &Bm25Params,
    depth: usize,
    filter: Option<&Filter>,
) -> Result<Vec<Hit>, postgres::Error> {
    // Sorted, so a query's terms reach the database in one order whatever their order in
    // the query.
    let mut repeats: BTreeMap<String, f64> = BTreeMap::new();
    text.analyzer.for_each_term(query, |term| *repeats.entry(term.to_owned()).or_default() += 1.0);
    if repeats.is_empty() {
        return Ok(Vec::new());
    }
    let (terms, counts): (Vec<String>, Vec<f64>) = repeats.into_iter().unzip();
    let searched: Vec<i16> = match text.fields {
        LexicalFields::Multifield => vec![TITLE, TEXT],
        LexicalFields::Concatenated => vec![TEXT],
    };
    let (k1, b, title_weight) =
        (f64::from(params.k1), f64::from(params.b), f64::from(params.title_weight));
    let cond = filter.map(|f| condition(f, "c.metadata", 7));
    let filter_join = match &cond {
        Some(cond) => {
            format!(
                "JOIN {} AS c ON c.doc_id = p.doc_id AND c.chunk_key = p.chunk_key AND {}",
                tables.chunks, cond.sql
            )
        }
        None => String::new(),
    };
    // `d` counts each (term, field)'s postings; `w` holds, per (term, field): weight =
    // repeats · field weight · idf · (k1 + 1), and the denominator's constant and length
    // factor, k1 · (1 − b) and k1 · b / avgdl. Both are materialized (computed once, not
    // per posting). The postings are read through the term index (`term = ANY`, which
    // keeps the planner off a scan of the whole table) and joined with `w`. Only grouped
    // aggregates, joins with CTE results and joins on `doc_id`: the constructs Citus
    // runs on tables distributed by `doc_id`. (A lateral subquery per term, which it
    // cannot push down, was up to 25 % faster on one node.)
    let sql = format!(
        "WITH d AS MATERIALIZED ( \
             SELECT term, field, count(*) AS df FROM {postings} \
             WHERE term = ANY($1::text[]) AND field = ANY($3::int2[]) GROUP BY term, field), \
         w AS MATERIALIZED ( \
             SELECT d.term, d.field, \
                    q.repeats * CASE WHEN d.field = {TITLE} THEN $6::float8 ELSE 1 END \
                      * ln(1 + (s.chunks - d.df + 0.5) / (d.df + 0.5)) * ($4::float8 + 1) AS weight, \
                    $4::float8 * (1 - $5::float8) AS c0, \
                    $4::float8 * $5::float8 / (s.terms::float8 / greatest(s.chunks, 1)) AS c1 \
             FROM d JOIN unnest($1::text[], $2::float8[]) AS q(term, repeats) ON q.term = d.term \
             JOIN {stats} AS s ON s.field = d.field) \
         SELECT p.chunk_key, sum(w.weight * p.tf / (p.tf + w.c0 + w.c1 * p.stored_len))::float4 AS score \
         FROM {postings} AS p JOIN w ON w.term = p.term AND w.field = p.field {filter_join} \
         WHERE p.term = ANY($1::text[]) AND p.field = ANY($3::int2[]) \
         GROUP BY p.chunk_key ORDER BY score DESC, p.chunk_key LIMIT {depth}",
        postings = tables.postings,
        stats = tables.stats,
    );
    let mut params: Vec<(&(dyn postgres::types::ToSql + Sync), Type)> = vec![
        (&terms, Type::TEXT_ARRAY),
        (&counts, Type::FLOAT8_ARRAY),
        (&searched, Type::INT2_ARRAY),
        (&k1, Type::FLOAT8),
        (&b, Type::FLOAT8),
        (&title_weight, Type::FLOAT8),
    ];
    params.extend(cond.iter().flat_map(Condition::typed));
    Ok(client
        .query_typed(&sql, &params)?
        .iter()
        .map(|row| Hit { key: row.get::<_, i64>(0) as ChunkKey, score: row.get(1) })
        .collect())
}
