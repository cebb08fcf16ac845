//! [`Bm25Index`]: one tantivy index in one directory, written by key, searched by free text.
//!
//! Writes (`upsert`, `delete`) are buffered by tantivy's writer and become visible, all at
//! once, at [`Bm25Index::commit`], whose tantivy commit payload records the storage sequence
//! number the index then reflects (`seq=<n>`). The reader is reloaded by hand right after
//! each commit (`ReloadPolicy::Manual`), so a search that follows a commit sees it, without
//! the delay of tantivy's default file-watching policy. Uncommitted writes are lost when the
//! index is dropped.
//!
//! Opening takes no lock: any number of handles, in any processes, may open and search an
//! index. The first write takes the directory's write lock (one writer at a time) and keeps
//! it until the handle is dropped; see [`Bm25Index::lock_for_writing`].

use std::fmt;
use std::path::{Path, PathBuf};

use tamis_analysis::Analyzer;
use tamis_core::{ChunkKey, Hit, KeyFilter};
use tantivy::directory::error::OpenReadError;
use tantivy::index::SegmentComponent;
use tantivy::indexer::UserOperation;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, TantivyError, Term};

use crate::analyzer::{text_analyzer, tokenizer_name};
use crate::collector::top_hits;
use crate::config::{read_settings, settings_path, write_settings};
use crate::schema::{Fields, TextFields, build_schema, resolve_fields};
use crate::scoring::Bm25Query;
use crate::{Bm25Config, Bm25Params, Error};

/// The indexing memory budget shared by tantivy's writer threads (at least 15 MB each, so
/// this allows up to four threads).
const WRITER_MEMORY_BYTES: usize = 64 << 20;

/// The prefix of the commit payload; the sequence number follows in decimal.
const SEQ_PAYLOAD_PREFIX: &str = "seq=";

/// One chunk to index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LexicalDoc<'a> {
    /// The chunk's key; indexing a key again replaces the earlier document.
    pub key: ChunkKey,
    /// The title of the chunk's document (may be empty).
    pub title: &'a str,
    /// The chunk's text (may be empty).
    pub text: &'a str,
}

/// A BM25 index over tantivy, keyed by [`ChunkKey`].
pub struct Bm25Index {
    dir: PathBuf,
    config: Bm25Config,
    index: Index,
    fields: Fields,
    analyzer: Analyzer,
    /// Taken at the first write (the directory's write lock comes with it).
    writer: Option<IndexWriter>,
    reader: IndexReader,
    committed_seq: Option<u64>,
}

impl Bm25Index {
    /// Creates an empty index in `dir` (created if missing) and records `config` beside it.
    ///
    /// Fails with [`Error::AlreadyExists`] if `dir` already holds an index, and with
    /// [`Error::InvalidParameter`] if `config`'s BM25 parameters are out of range.
    pub fn create(dir: impl AsRef<Path>, config: &Bm25Config) -> crate::Result<Bm25Index> {
        let dir = dir.as_ref();
        config.validate()?;
        fs_err::create_dir_all(dir)?;
        if settings_path(dir).exists() || dir.join("meta.json").exists() {
            return Err(Error::AlreadyExists { path: dir.to_path_buf() });
        }
        let index = Index::create_in_dir(dir, build_schema(config)).map_err(tantivy_error(dir))?;
        // The settings go last: a directory without them is not an index, so a creation that
        // fails half-way leaves nothing `open` would accept.
        write_settings(dir, config)?;
        Bm25Index::start(dir, index, *config)
    }

    /// Opens the index in `dir` with the configuration it was created with.
    ///
    /// Fails with [`Error::NotAnIndex`] if `dir` has no settings file, and with
    /// [`Error::CorruptConfig`], [`Error::UnsupportedFormat`] or [`Error::SchemaMismatch`]
    /// if its settings cannot be used.
    pub fn open(dir: impl AsRef<Path>) -> crate::Result<Bm25Index> {
        let dir = dir.as_ref();
        let config = read_settings(dir)?;
        let index = Index::open_in_dir(dir).map_err(tantivy_error(dir))?;
        Bm25Index::start(dir, index, config)
    }

    fn start(dir: &Path, index: Index, config: Bm25Config) -> crate::Result<Bm25Index> {
        let fields = resolve_fields(&index.schema(), &config, dir)?;
        index.tokenizers().register(tokenizer_name(&config), text_analyzer(&config));
        let analyzer = config.analyzer();
        let committed_seq = read_committed_seq(&index, dir)?;
        check_doc_stores(&index, dir)?;
        let reader =
            guarded(dir, || index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into())?;
        Ok(Bm25Index {
            dir: dir.to_path_buf(),
            config,
            index,
            fields,
            analyzer,
            writer: None,
            reader,
            committed_seq,
        })
    }

    /// Takes the directory's write lock, unless this handle holds it already, and then
    /// re-reads the last commit (another process may have written since this one opened);
    /// fails with [`Error::Busy`] while another handle holds it. Writes call it themselves;
    /// a caller that must bring other state up to date before writing calls it first.
    pub fn lock_for_writing(&mut self) -> crate::Result<()> {
        self.writer().map(|_| ())
    }

    /// Whether this handle holds the write lock.
    pub fn holds_write_lock(&self) -> bool {
        self.writer.is_some()
    }

    fn writer(&mut self) -> crate::Result<&mut IndexWriter> {
        let writer = match self.writer.take() {
            Some(writer) => writer,
            None => {
                let writer =
                    self.index.writer(WRITER_MEMORY_BYTES).map_err(|source| match source {
                        TantivyError::LockFailure(..) => Error::Busy { path: self.dir.clone() },
                        source => Error::Tantivy { path: self.dir.clone(), source },
                    })?;
                self.committed_seq = read_committed_seq(&self.index, &self.dir)?;
                check_doc_stores(&self.index, &self.dir)?;
                guarded(&self.dir, || self.reader.reload())?;
                writer
            }
        };
        Ok(self.writer.insert(writer))
    }

    /// Re-reads the last commit, so that a handle that does not write sees what another
    /// process committed since it opened or last reloaded. A no-op for the handle that
    /// holds the write lock: its own commits are the last ones.
    pub fn reload(&mut self) -> crate::Result<()> {
        if self.writer.is_some() {
            return Ok(());
        }
        // The sequence first: the reader then reflects that commit or a later one, and a
        // later one is only re-read again by the next reload.
        self.committed_seq = read_committed_seq(&self.index, &self.dir)?;
        check_doc_stores(&self.index, &self.dir)?;
        guarded(&self.dir, || self.reader.reload())?;
        Ok(())
    }

    /// The index directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The terms a search for `query` looks up, sorted: two queries with the same terms,
    /// in any order, get the same hits, to the last bit of every score.
    pub fn query_terms(&self, query: &str) -> Vec<String> {
        let mut terms = self.analyzer.terms(query);
        terms.sort_unstable();
        terms
    }

    /// The configuration the index was created with.
    pub fn config(&self) -> &Bm25Config {
        &self.config
    }

    /// Adds `docs`, replacing any document already indexed under the same key (the old one
    /// is deleted by key, then the new one added; of repeated keys in `docs` the last wins).
    /// Visible to search after the next [`Bm25Index::commit`].
    pub fn upsert(&mut self, docs: &[LexicalDoc<'_>]) -> crate::Result<()> {
        if docs.is_empty() {
            return Ok(());
        }
        let mut operations = Vec::with_capacity(docs.len() * 2);
        for doc in docs {
            operations.push(UserOperation::Delete(self.key_term(doc.key)));
            operations.push(UserOperation::Add(self.document(doc)));
        }
        let dir = self.dir.clone();
        self.writer()?.run(operations).map_err(tantivy_error(&dir))?;
        Ok(())
    }

    /// Removes the documents with these keys (absent keys are ignored).
    /// Visible to search after the next [`Bm25Index::commit`].
    pub fn delete(&mut self, keys: &[ChunkKey]) -> crate::Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let operations: Vec<_> =
            keys.iter().map(|&key| UserOperation::Delete(self.key_term(key))).collect();
        let dir = self.dir.clone();
        self.writer()?.run(operations).map_err(tantivy_error(&dir))?;
        Ok(())
    }

    /// Makes every write so far durable and visible, atomically, recording that the index now
    /// reflects storage sequence number `seq` (read back by [`Bm25Index::committed_seq`]).
    pub fn commit(&mut self, seq: u64) -> crate::Result<()> {
        let dir = self.dir.clone();
        let mut prepared = self.writer()?.prepare_commit().map_err(tantivy_error(&dir))?;
        prepared.set_payload(&format!("{SEQ_PAYLOAD_PREFIX}{seq}"));
        prepared.commit().map_err(tantivy_error(&self.dir))?;
        self.committed_seq = Some(seq);
        guarded(&self.dir, || self.reader.reload())?;
        Ok(())
    }

    /// The sequence number of the last commit, also after a reopen; `None` before the first.
    pub fn committed_seq(&self) -> Option<u64> {
        self.committed_seq
    }

    /// The number of live documents as of the last commit.
    pub fn len(&self) -> usize {
        usize::try_from(self.reader.searcher().num_docs()).unwrap_or(usize::MAX)
    }

    /// Whether the index held no live document at the last commit.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The best `k` committed documents for `query` by BM25 with the index's own
    /// parameters, best first, ties broken by the smaller key, restricted to keys that
    /// `filter` allows. See [`Bm25Index::search_with`].
    pub fn search(
        &self,
        query: &str,
        k: usize,
        filter: Option<&dyn KeyFilter>,
    ) -> crate::Result<Vec<Hit>> {
        self.search_with(query, k, filter, &self.config.params)
    }

    /// [`Bm25Index::search`] scored with `params` instead of the index's own: they apply at
    /// query time, so one index serves any (what parameter sweeps use).
    ///
    /// `query` is plain text, never query syntax: it is analyzed like the documents and its
    /// terms are OR-ed, each looked up in every text field (a repeated term counts again).
    /// A query with no terms left (empty, punctuation, only stop words) and `k = 0` give an
    /// empty list. The filter is consulted while collecting, so a selective filter still
    /// yields up to `k` hits. Fails with [`Error::InvalidParameter`] for parameters out of
    /// range, and with [`Error::Damaged`] when a damaged file is read here (so does a panic
    /// inside `filter`, which cannot be told apart from tantivy's).
    pub fn search_with(
        &self,
        query: &str,
        k: usize,
        filter: Option<&dyn KeyFilter>,
        params: &Bm25Params,
    ) -> crate::Result<Vec<Hit>> {
        params.validate()?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let query_terms = self.analyzer.terms(query);
        if query_terms.is_empty() {
            return Ok(Vec::new());
        }
        let fields = self.fields.text.searched(params);
        let searcher = self.reader.searcher();
        // tantivy reads postings and fast fields lazily: a damaged file can panic here too.
        guarded(&self.dir, || {
            let query = Bm25Query::new(&searcher, &query_terms, &fields, params)?;
            top_hits(&searcher, &query, k, filter)
        })
    }

    fn key_term(&self, key: ChunkKey) -> Term {
        Term::from_field_u64(self.fields.key, key)
    }

    fn document(&self, doc: &LexicalDoc<'_>) -> TantivyDocument {
        let mut out = TantivyDocument::new();
        out.add_u64(self.fields.key, doc.key);
        match self.fields.text {
            TextFields::Concatenated { body } => {
                out.add_text(body, format!("{} {}", doc.title, doc.text));
            }
            TextFields::Multifield { title, text } => {
                out.add_text(title, doc.title);
                out.add_text(text, doc.text);
            }
        }
        out
    }
}

impl fmt::Debug for Bm25Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bm25Index")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("committed_seq", &self.committed_seq)
            .field("schema", &self.index.schema())
            .finish_non_exhaustive()
    }
}

/// The sequence number in a commit payload written by [`Bm25Index::commit`].
fn parse_seq(payload: &str) -> Option<u64> {
    payload.strip_prefix(SEQ_PAYLOAD_PREFIX)?.parse().ok()
}

/// The storage sequence number the index's last commit recorded.
fn read_committed_seq(index: &Index, dir: &Path) -> crate::Result<Option<u64>> {
    let metas = index.load_metas().map_err(tantivy_error(dir))?;
    match metas.payload {
        None => Ok(None),
        Some(payload) => parse_seq(&payload)
            .map(Some)
            .ok_or_else(|| Error::CorruptPayload { path: dir.to_path_buf(), payload }),
    }
}

/// Runs a tantivy call that opens or reads segment files. tantivy panics on some damaged
/// files instead of failing (found by `fuzz/fuzz_targets/store_corruption.rs`: a file
/// shorter than the footer it declares overflows `FileSlice::slice_from_end` at opening; a
/// damaged skip index or term dictionary fails an `unwrap` or a slice while searching); the
/// panic is contained here and becomes [`Error::Damaged`]. Checking every file's checksum
/// at opening would catch these earlier but reads the whole index on every open.
fn guarded<T>(dir: &Path, call: impl FnOnce() -> tantivy::Result<T>) -> crate::Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result.map_err(tantivy_error(dir)),
        Err(_) => Err(Error::Damaged { path: dir.to_path_buf() }),
    }
}

/// Checks the CRC-32 of every searchable segment's doc store before a searcher opens it.
/// tantivy sizes a buffer by a count read from the store's skip index: a damaged count
/// asks for tens of gigabytes, and a failed allocation aborts the process, which
/// [`guarded`] cannot contain (found by `fuzz/fuzz_targets/store_corruption.rs`). tamis
/// stores no field there, so these files are a few bytes per document and cheap to read.
/// A file missing meanwhile (a writer's merge removed it) is left to tantivy, as before.
fn check_doc_stores(index: &Index, dir: &Path) -> crate::Result<()> {
    let metas = index.searchable_segment_metas().map_err(tantivy_error(dir))?;
    for meta in metas {
        let path = meta.relative_path(SegmentComponent::Store);
        let valid = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            index.directory().validate_checksum(&path)
        }));
        match valid {
            Ok(Ok(true)) | Ok(Err(OpenReadError::FileDoesNotExist(_))) => {}
            Ok(Ok(false)) | Err(_) => return Err(Error::Damaged { path: dir.to_path_buf() }),
            Ok(Err(source)) => {
                return Err(Error::Tantivy { path: dir.to_path_buf(), source: source.into() });
            }
        }
    }
    Ok(())
}

fn tantivy_error(dir: &Path) -> impl Fn(TantivyError) -> Error + '_ {
    move |source| Error::Tantivy { path: dir.to_path_buf(), source }
}

#[cfg(test)]
mod tests;
