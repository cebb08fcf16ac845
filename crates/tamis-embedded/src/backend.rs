//! [`EmbeddedBackend`]: one directory holding the SQLite store plus the BM25 and vector
//! indexes derived from it.
//!
//! Layout of the directory:
//! - `store.sqlite`: the source of truth ([`Store`]);
//! - `bm25/`: the tantivy index, whose commit payload records the store sequence it reflects;
//! - `vectors.usearch` + `vectors.seq`: the HNSW graph and the sequence it reflects (only
//!   above [`IndexSettings::exact_below`] chunks; below it an exact index is rebuilt on open).
//!
//! A write is acknowledged when its store transaction commits. Derived indexes are then
//! updated and committed; if the process dies in between, [`EmbeddedBackend::open`] replays
//! the store's change log from the sequence each derived index reflects.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use tamis_core::{ChunkKey, Hit, KeyFilter};
use tamis_engine::backend::{Backend, BackendStats, Stage1Lists, Stage1Query, TokenVectorStats};
use tamis_engine::filter::Filter;
use tamis_engine::result_cache::CacheVersion;
use tamis_engine::{Document, IndexSettings, NewChunk, ScoreKind, StoredChunk};
use tamis_lexical::{Bm25Index, LexicalDoc};
use tamis_vector::{FlatIndex, HnswIndex, HnswParams, Metric, VectorIndex};

use crate::settings;
use crate::store::{Change, Receipt, STORE_FILE, Store};
use crate::{Error, Result};

type EngineResult<T> = tamis_engine::Result<T>;

/// The vector index in use: exact below `exact_below` chunks, HNSW above.
enum Vectors {
    Exact(FlatIndex),
    Hnsw(HnswIndex),
}

impl Vectors {
    fn index(&self) -> &dyn VectorIndex {
        match self {
            Vectors::Exact(flat) => flat,
            Vectors::Hnsw(hnsw) => hnsw,
        }
    }

    fn index_mut(&mut self) -> &mut dyn VectorIndex {
        match self {
            Vectors::Exact(flat) => flat,
            Vectors::Hnsw(hnsw) => hnsw,
        }
    }
}

/// An index directory, open.
pub struct EmbeddedBackend {
    dir: PathBuf,
    store: Store,
    lexical: Bm25Index,
    vectors: Vectors,
    /// The store sequence the in-memory HNSW graph reflects, when it is newer than the
    /// saved file; [`Backend::flush`] writes it.
    unsaved_vectors: Option<u64>,
    /// The store sequence the in-memory vector index reflects.
    vectors_seq: u64,
    settings: IndexSettings,
    /// usearch's parameters for `settings.hnsw`.
    hnsw: HnswParams,
    /// The store file this handle opened, to tell when the directory was removed or
    /// rebuilt under it ([`Backend::is_replaced`]).
    store_file: FileIdentity,
    /// Unique to this handle in the process ([`Backend::cache_version`]): a handle's
    /// sequence describes what it has loaded, which another handle's need not.
    cache_identity: String,
}

impl std::fmt::Debug for EmbeddedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBackend")
            .field("dir", &self.dir)
            .field("settings", &self.settings)
            .finish()
    }
}

const VECTOR_FILE: &str = "vectors.usearch";
const VECTOR_SEQ_FILE: &str = "vectors.seq";

/// Numbers the handles of this process, for their `cache_identity`.
static NEXT_HANDLE: AtomicU64 = AtomicU64::new(0);

impl EmbeddedBackend {
    /// Creates an index in `dir`, which must not hold one yet.
    ///
    /// The index is built in a staging directory beside `dir` and renamed into place, so
    /// that another process (a server following its data directory) sees a whole index or
    /// none. It is built in place where that cannot be done: a `dir` that already holds
    /// other files, or one that cannot be replaced by a rename (a mount point, a symbolic
    /// link, a parent this process may not write).
    pub fn create(dir: &Path, settings: IndexSettings) -> Result<EmbeddedBackend> {
        settings.chunking.validate()?;
        settings::hnsw_params(&settings.hnsw).validate()?;
        settings.lexical.validate()?;
        let exists = || tamis_engine::Error::IndexExists { path: dir.to_path_buf() }.into();
        if dir.join(STORE_FILE).exists() {
            return Err(exists());
        }
        let Some(staging) = staging_dir(dir) else {
            return EmbeddedBackend::build(dir, settings);
        };
        // Left by a process that died creating, with this one's id; nobody else uses it.
        let _ = fs_err::remove_dir_all(&staging);
        if fs_err::create_dir_all(&staging).is_err() {
            return EmbeddedBackend::build(dir, settings);
        }
        let built = EmbeddedBackend::build(&staging, settings.clone()).map(drop);
        let published = built.map(|()| {
            // An empty `dir` (made by the caller) gives way; a rename onto it is refused
            // by some systems. A `dir` that cannot go (a mount point) refuses the rename.
            let _ = fs_err::remove_dir(dir);
            fs_err::rename(&staging, dir).is_ok()
        });
        if !matches!(published, Ok(true)) {
            // Best effort: a failed creation's error is the one to report.
            let _ = fs_err::remove_dir_all(&staging);
        }
        match published {
            Ok(true) => EmbeddedBackend::open(dir),
            Ok(false) if dir.join(STORE_FILE).exists() => Err(exists()),
            Ok(false) => EmbeddedBackend::build(dir, settings),
            Err(err) => Err(err),
        }
    }

    /// Writes a new index's store, settings and BM25 directory into `dir`.
    fn build(dir: &Path, settings: IndexSettings) -> Result<EmbeddedBackend> {
        let store = Store::open(dir)?;
        settings::record(&store, &settings)?;
        let lexical =
            Bm25Index::create(dir.join("bm25"), &settings::bm25_config(&settings.lexical))?;
        EmbeddedBackend::assemble(dir, store, lexical, settings)
    }

    /// The backend over its parts, with an empty exact vector index that `open` then fills.
    fn assemble(
        dir: &Path,
        store: Store,
        lexical: Bm25Index,
        settings: IndexSettings,
    ) -> Result<EmbeddedBackend> {
        let vectors = Vectors::Exact(FlatIndex::new(settings.dimension, Metric::Cosine)?);
        let store_file = FileIdentity::of(store.path()).map_err(Error::Io)?;
        let hnsw = settings::hnsw_params(&settings.hnsw);
        Ok(EmbeddedBackend {
            dir: dir.to_path_buf(),
            store,
            lexical,
            vectors,
            unsaved_vectors: None,
            vectors_seq: 0,
            settings,
            hnsw,
            store_file,
            cache_identity: format!(
                "{}#{}",
                dir.display(),
                NEXT_HANDLE.fetch_add(1, Ordering::Relaxed)
            ),
        })
    }

    /// Opens the index in `dir`, bringing its derived indexes up to the store.
    pub fn open(dir: &Path) -> Result<EmbeddedBackend> {
        if !dir.join(STORE_FILE).is_file() {
            return Err(tamis_engine::Error::NoIndex { path: dir.to_path_buf() }.into());
        }
        let store = Store::open(dir)?;
        let lexical = open_or_rebuild_lexical(dir, &store)?;
        let settings = settings::recorded(&store, lexical.config())?;
        let mut index = EmbeddedBackend::assemble(dir, store, lexical, settings)?;
        // A lexical index behind the store (a writer died between the two) is caught up
        // here when the write lock is free. When another process holds it, that process is
        // mid-batch or will catch up itself: this handle searches the last committed state.
        if index.lexical.committed_seq().unwrap_or(0) < index.store.last_seq()? {
            match index.lexical.lock_for_writing() {
                Ok(()) => index.catch_up_lexical()?,
                Err(tamis_lexical::Error::Busy { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        index.load_vectors()?;
        Ok(index)
    }

    /// Vectors in the in-memory vector index (equal to the store's chunk count once open).
    pub fn vector_count(&self) -> usize {
        self.vectors.index().len()
    }

    /// Whether dense search runs on the HNSW graph (else exactly).
    pub fn uses_hnsw(&self) -> bool {
        matches!(self.vectors, Vectors::Hnsw(_))
    }

    /// The store (counts, settings, chunk texts).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Brings both derived indexes up to a committed store write.
    fn apply(&mut self, receipt: &Receipt) -> Result<()> {
        let changes: Vec<Change> = receipt
            .removed
            .iter()
            .map(|k| Change::Removed(*k))
            .chain(receipt.added.iter().map(|k| Change::Added(*k)))
            .collect();
        self.apply_lexical(&changes, receipt.seq)?;
        self.apply_vectors(&changes)?;
        self.fit_vector_kind()?;
        self.unsaved_vectors = Some(receipt.seq);
        self.vectors_seq = receipt.seq;
        Ok(())
    }

    /// Takes the write lock before anything is written, so that two processes never write
    /// one index at once (opening and searching take no lock), then brings both derived
    /// indexes up to the store: another process may have written since this handle opened.
    fn prepare_to_write(&mut self) -> Result<()> {
        if self.lexical.holds_write_lock() {
            return Ok(());
        }
        self.lexical.lock_for_writing()?;
        self.catch_up_lexical()?;
        let last = self.store.last_seq()?;
        if self.vectors_seq < last {
            let changes = self.changes_after(self.vectors_seq)?;
            self.apply_vectors(&changes)?;
            self.fit_vector_kind()?;
            self.unsaved_vectors = Some(last);
            self.vectors_seq = last;
        }
        Ok(())
    }

    /// Saves the HNSW graph if it changed since it was last saved. Writers call it when a
    /// run of batches ends: saving after every batch would rewrite the whole graph each
    /// time, and a graph that lags is caught up from the store's log on open anyway.
    /// Only the holder of the write lock saves; a handle that cannot take it leaves the
    /// saving to the process that writes.
    fn save_vectors(&mut self) -> Result<()> {
        if self.unsaved_vectors.is_none() {
            return Ok(());
        }
        match self.prepare_to_write() {
            Ok(()) => {}
            Err(Error::Lexical(tamis_lexical::Error::Busy { .. })) => return Ok(()),
            Err(err) => return Err(err),
        }
        if let Some(seq) = self.unsaved_vectors {
            if let Vectors::Hnsw(hnsw) = &self.vectors {
                let checksum = hnsw.save(self.dir.join(VECTOR_FILE))?;
                // Renamed into place like the graph, so a reader never sees half a line.
                let temporary = self.dir.join(format!("{VECTOR_SEQ_FILE}.tmp"));
                fs_err::write(&temporary, format!("{seq} {checksum:08x}\n")).map_err(Error::Io)?;
                fs_err::rename(&temporary, self.dir.join(VECTOR_SEQ_FILE)).map_err(Error::Io)?;
            }
            self.unsaved_vectors = None;
        }
        Ok(())
    }

    fn apply_lexical(&mut self, changes: &[Change], seq: u64) -> Result<()> {
        let (added, removed) = split(changes);
        self.lexical.delete(&removed)?;
        let chunks = self.store.chunks(&added)?;
        let docs: Vec<LexicalDoc<'_>> = chunks
            .iter()
            .map(|c| LexicalDoc { key: c.key, title: &c.title, text: &c.text })
            .collect();
        self.lexical.upsert(&docs)?;
        self.lexical.commit(seq)?;
        Ok(())
    }

    fn apply_vectors(&mut self, changes: &[Change]) -> Result<()> {
        let (added, removed) = split(changes);
        self.vectors.index_mut().remove(&removed)?;
        let vectors = self.store.vectors_of(&added)?;
        let items: Vec<(ChunkKey, &[f32])> =
            vectors.iter().map(|(k, v)| (*k, v.as_slice())).collect();
        self.vectors.index_mut().upsert(&items)?;
        Ok(())
    }

    /// The store's chunk changes after sequence `seq`, in order.
    fn changes_after(&self, seq: u64) -> Result<Vec<Change>> {
        Ok(self.store.changes_since(seq)?.into_iter().map(|(_, change)| change).collect())
    }

    fn catch_up_lexical(&mut self) -> Result<()> {
        let from = self.lexical.committed_seq().unwrap_or(0);
        let last = self.store.last_seq()?;
        if from < last {
            let changes = self.changes_after(from)?;
            self.apply_lexical(&changes, last)?;
        }
        Ok(())
    }

    /// Loads the saved HNSW graph and replays what it missed, or rebuilds exactly from the store.
    fn load_vectors(&mut self) -> Result<()> {
        let (_, n_chunks) = self.store.counts()?;
        let last = self.store.last_seq()?;
        // Replaying a change twice is harmless (upserts and removals by key), so a write
        // by another process between these reads is at worst applied again later.
        self.vectors_seq = last;
        let file = self.dir.join(VECTOR_FILE);
        if n_chunks as usize >= self.settings.exact_below
            && let (Some((seq, checksum)), true) = (self.saved_vectors(), file.is_file())
            && seq <= last
        {
            let loaded = match checksum {
                Some(checksum) => HnswIndex::load_checked(&file, self.hnsw, checksum),
                // Saved before graphs had checksums: trusted, as it was then.
                None => HnswIndex::load_with(&file, self.hnsw),
            };
            match loaded {
                Ok(hnsw) => {
                    self.vectors = Vectors::Hnsw(hnsw);
                    let changes = self.changes_after(seq)?;
                    if !changes.is_empty() {
                        self.apply_vectors(&changes)?;
                        self.unsaved_vectors = Some(last);
                    }
                    return Ok(());
                }
                // The graph is derived from the store: a damaged one (or one replaced
                // between reading its record and its file) is rebuilt, losing nothing.
                Err(tamis_vector::Error::Checksum { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        self.rebuild_vectors(n_chunks as usize)?;
        if matches!(self.vectors, Vectors::Hnsw(_)) {
            self.unsaved_vectors = Some(last);
        }
        Ok(())
    }

    /// The store sequence the saved HNSW graph reflects and the graph file's CRC-32 (absent
    /// in indexes saved before checksums), if a graph was saved and its record reads.
    fn saved_vectors(&self) -> Option<(u64, Option<u32>)> {
        let text = fs_err::read_to_string(self.dir.join(VECTOR_SEQ_FILE)).ok()?;
        parse_saved_vectors(&text)
    }

    fn rebuild_vectors(&mut self, n_chunks: usize) -> Result<()> {
        let mut vectors = if n_chunks >= self.settings.exact_below {
            Vectors::Hnsw(HnswIndex::new(self.settings.dimension, Metric::Cosine, self.hnsw)?)
        } else {
            Vectors::Exact(FlatIndex::new(self.settings.dimension, Metric::Cosine)?)
        };
        let all = self.store.vectors()?;
        for batch in all.chunks(4096) {
            let items: Vec<(ChunkKey, &[f32])> =
                batch.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            vectors.index_mut().upsert(&items)?;
        }
        self.vectors = vectors;
        Ok(())
    }

    /// Switches between exact and HNSW search when the chunk count crosses `exact_below`.
    /// An exact index is never saved: it is rebuilt from the store on open.
    fn fit_vector_kind(&mut self) -> Result<()> {
        let n_chunks = self.vectors.index().len();
        let is_hnsw = matches!(self.vectors, Vectors::Hnsw(_));
        if (n_chunks >= self.settings.exact_below) != is_hnsw {
            self.rebuild_vectors(n_chunks)?;
        }
        Ok(())
    }
}

/// Below this many allowed chunks, a filtered dense search scores them exactly: HNSW's
/// filtered walk costs grow as the allowed fraction shrinks (see `tamis-vector`).
const EXACT_FILTER_LIMIT: usize = 5_000;

impl EmbeddedBackend {
    fn dense_search(
        &self,
        query: &[f32],
        depth: usize,
        allowed: Option<&HashSet<ChunkKey>>,
        ef_search: Option<usize>,
    ) -> Result<Vec<Hit>> {
        let filter = allowed.map(|set| set as &dyn KeyFilter);
        match (allowed, &self.vectors) {
            (Some(keys), Vectors::Hnsw(_)) if keys.len() <= EXACT_FILTER_LIMIT => {
                let mut exact = FlatIndex::new(self.settings.dimension, Metric::Cosine)?;
                let mut sorted: Vec<ChunkKey> = keys.iter().copied().collect();
                sorted.sort_unstable();
                let vectors = self.store.vectors_of(&sorted)?;
                let items: Vec<(ChunkKey, &[f32])> =
                    vectors.iter().map(|(k, v)| (*k, v.as_slice())).collect();
                exact.upsert(&items)?;
                Ok(exact.search(query, depth, None)?)
            }
            (_, Vectors::Hnsw(hnsw)) => {
                let ef = ef_search.unwrap_or(self.settings.hnsw.ef_search);
                Ok(hnsw.search_with_expansion(query, depth, filter, ef)?)
            }
            (_, Vectors::Exact(flat)) => Ok(flat.search(query, depth, filter)?),
        }
    }
}

/// What the [`Backend`] methods do, in this crate's errors.
impl EmbeddedBackend {
    /// This index's error as the engine reports it.
    fn fail(&self, err: Error) -> tamis_engine::Error {
        err.into_engine(&self.dir)
    }

    fn write(&mut self, batch: &[(Document, Vec<NewChunk>)]) -> Result<()> {
        self.prepare_to_write()?;
        let receipt = self.store.write_batch(batch)?;
        self.apply(&receipt)
    }

    fn delete(&mut self, ids: &[&str]) -> Result<usize> {
        self.prepare_to_write()?;
        let receipt = self.store.delete_documents(ids)?;
        self.apply(&receipt)?;
        Ok(receipt.removed.len())
    }

    fn retrieve(&self, query: &Stage1Query<'_>) -> Result<Stage1Lists> {
        // The allowed set is selected once, in SQL, and obeyed inside both retrievers.
        let allowed: Option<HashSet<ChunkKey>> =
            query.filter.map(|f| self.store.keys_matching(f)).transpose()?;
        let lexical = match query.text {
            Some(text) => self.lexical.search_with(
                text,
                query.depth,
                allowed.as_ref().map(|set| set as &dyn KeyFilter),
                query.bm25.as_ref().unwrap_or(&self.lexical.config().params),
            )?,
            None => Vec::new(),
        };
        let dense = match query.vector {
            Some(vector) => {
                self.dense_search(vector, query.depth, allowed.as_ref(), query.ef_search)?
            }
            None => Vec::new(),
        };
        Ok(Stage1Lists { lexical, dense })
    }

    fn read_stats(&self) -> Result<BackendStats> {
        let (documents, chunks) = self.store.counts()?;
        let token_vectors = match &self.settings.late_interaction {
            Some(late) => {
                let (chunks, bytes) = self.store.token_counts()?;
                let vectors = bytes / late.storage.row_bytes(late.dimension) as u64;
                Some(TokenVectorStats { chunks, vectors, bytes })
            }
            None => None,
        };
        Ok(BackendStats {
            backend: "embedded",
            location: self.location(),
            documents,
            chunks,
            vector_index: if self.uses_hnsw() { "hnsw" } else { "exact" }.to_string(),
            vectors: self.vector_count() as u64,
            sequence: Some(self.store.last_seq()?),
            lexical_scoring: ScoreKind::Bm25,
            token_vectors,
        })
    }

    fn lags_the_store(&self) -> Result<bool> {
        if self.lexical.holds_write_lock() {
            return Ok(false);
        }
        let last = self.store.last_seq()?;
        // BM25 may also lag the store for a moment: the writer commits it after the store.
        Ok(self.vectors_seq < last || self.lexical.committed_seq().unwrap_or(0) < last)
    }

    fn store_file_changed(&self) -> Result<bool> {
        match FileIdentity::of(self.store.path()) {
            Ok(identity) => Ok(identity != self.store_file),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(err) => Err(Error::Io(err)),
        }
    }

    fn follow_writers(&mut self) -> Result<()> {
        if self.lexical.holds_write_lock() {
            return Ok(());
        }
        self.lexical.reload()?;
        // Read before the log, so that a write landing in between is replayed again by
        // the next refresh rather than missed (replaying is idempotent).
        let last = self.store.last_seq()?;
        if self.vectors_seq >= last {
            return Ok(());
        }
        // A graph the writer saved since is loaded, rather than replaying all it holds.
        if self.saved_vectors().is_some_and(|(saved, _)| saved > self.vectors_seq) {
            return self.load_vectors();
        }
        let changes = self.changes_after(self.vectors_seq)?;
        self.apply_vectors(&changes)?;
        self.fit_vector_kind()?;
        self.vectors_seq = last;
        Ok(())
    }
}

/// Reads `vectors.seq`: `"{seq} {crc32:08x}"`, or `"{seq}"` as written before checksums.
/// Anything else is `None`, and the graph is rebuilt from the store.
fn parse_saved_vectors(text: &str) -> Option<(u64, Option<u32>)> {
    let mut fields = text.split_whitespace();
    let seq = fields.next()?.parse().ok()?;
    let checksum = match fields.next() {
        None => None,
        Some(hex) if hex.len() == 8 => Some(u32::from_str_radix(hex, 16).ok()?),
        Some(_) => return None,
    };
    fields.next().is_none().then_some((seq, checksum))
}

// The engine's side of the boundary: every error leaves through `Error::into_engine`.
impl Backend for EmbeddedBackend {
    fn settings(&self) -> &IndexSettings {
        &self.settings
    }

    fn location(&self) -> String {
        self.dir.display().to_string()
    }

    fn unchanged(&self, docs: &[(&str, &str)]) -> EngineResult<HashSet<String>> {
        self.store.unchanged(docs).map_err(|err| self.fail(err))
    }

    fn write_batch(&mut self, batch: &[(Document, Vec<NewChunk>)]) -> EngineResult<()> {
        self.write(batch).map_err(|err| self.fail(err))
    }

    fn delete_documents(&mut self, ids: &[&str]) -> EngineResult<usize> {
        self.delete(ids).map_err(|err| self.fail(err))
    }

    fn documents_matching(&self, filter: &Filter) -> EngineResult<Vec<String>> {
        self.store.documents_matching(filter).map_err(|err| self.fail(err))
    }

    fn lexical_terms(&self, text: &str) -> Option<Vec<String>> {
        Some(self.lexical.query_terms(text))
    }

    /// The store's last sequence when both derived indexes reflect it; `None` while any
    /// of the three differ (another process wrote and this handle has not refreshed, or a
    /// refresh is half done): searches then mix states, since chunks are read from the
    /// store as it is now.
    fn cache_version(&self) -> EngineResult<Option<CacheVersion>> {
        let last = self.store.last_seq().map_err(|err| self.fail(err))?;
        let lexical = self.lexical.committed_seq().unwrap_or(0);
        Ok((lexical == last && self.vectors_seq == last)
            .then(|| CacheVersion { identity: self.cache_identity.clone(), sequence: last }))
    }

    fn stage1(&self, query: &Stage1Query<'_>) -> EngineResult<Stage1Lists> {
        self.retrieve(query).map_err(|err| self.fail(err))
    }

    fn chunks(&self, keys: &[ChunkKey]) -> EngineResult<Vec<StoredChunk>> {
        self.store.chunks(keys).map_err(|err| self.fail(err))
    }

    fn chunk_tokens(&self, keys: &[ChunkKey]) -> EngineResult<Vec<(ChunkKey, Vec<u8>)>> {
        self.store.chunk_tokens(keys).map_err(|err| self.fail(err))
    }

    fn chunks_of_documents(
        &self,
        doc_ids: &[&str],
    ) -> EngineResult<HashMap<String, Vec<ChunkKey>>> {
        self.store.chunks_of_documents(doc_ids).map_err(|err| self.fail(err))
    }

    fn metadata(&self, ids: &[&str]) -> EngineResult<HashMap<String, serde_json::Value>> {
        self.store.metadata_of(ids).map_err(|err| self.fail(err))
    }

    fn stats(&self) -> EngineResult<BackendStats> {
        self.read_stats().map_err(|err| self.fail(err))
    }

    fn flush(&mut self) -> EngineResult<()> {
        self.save_vectors().map_err(|err| self.fail(err))
    }

    fn is_behind(&self) -> EngineResult<bool> {
        self.lags_the_store().map_err(|err| self.fail(err))
    }

    fn is_replaced(&self) -> EngineResult<bool> {
        self.store_file_changed().map_err(|err| self.fail(err))
    }

    fn refresh(&mut self) -> EngineResult<()> {
        self.follow_writers().map_err(|err| self.fail(err))
    }

    fn lock_for_writing(&mut self) -> EngineResult<()> {
        // The BM25 directory's lock is the index's write lock (see `prepare_to_write`).
        self.lexical.lock_for_writing().map_err(|err| self.fail(Error::Lexical(err)))
    }
}

/// Which file a path names: another file at the same path is another identity (on Unix,
/// device and inode; elsewhere only the path's existence is followed). The handle keeps its
/// store file open, so its inode cannot be reused by a file created after it was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileIdentity(u64, u64);

impl FileIdentity {
    fn of(path: &Path) -> std::io::Result<FileIdentity> {
        let metadata = fs_err::metadata(path)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            Ok(FileIdentity(metadata.dev(), metadata.ino()))
        }
        #[cfg(not(unix))]
        {
            let _ = metadata;
            Ok(FileIdentity(0, 0))
        }
    }
}

/// Where [`EmbeddedBackend::create`] builds an index for `dir`: a hidden sibling, unique
/// to this process and creation (`None` when `dir` is not missing or empty, or has no name).
fn staging_dir(dir: &Path) -> Option<PathBuf> {
    let is_empty = |dir: &Path| fs_err::read_dir(dir).is_ok_and(|mut e| e.next().is_none());
    if dir.exists() && !is_empty(dir) {
        return None;
    }
    static CREATIONS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = dir.file_name()?.to_str()?;
    let nth = CREATIONS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let staging = format!(".{name}.creating-{}-{nth}", std::process::id());
    Some(dir.with_file_name(staging))
}

/// Opens `bm25/`, or recreates it empty from the settings recorded in the store when it is
/// gone (deleted to force a rebuild, or lost): catching up from sequence 0 refills it.
fn open_or_rebuild_lexical(dir: &Path, store: &Store) -> Result<Bm25Index> {
    let path = dir.join("bm25");
    if path.join(tamis_lexical::SETTINGS_FILE).is_file() {
        return Ok(Bm25Index::open(&path)?);
    }
    let Some(config) = settings::recorded_bm25(store)? else {
        return Err(Error::CorruptIndex {
            path,
            message: "the BM25 index is missing and the store does not record its settings \
                      (made by an older tamis); build the index again"
                .into(),
        });
    };
    if path.exists() {
        fs_err::remove_dir_all(&path).map_err(Error::Io)?;
    }
    Ok(Bm25Index::create(&path, &config)?)
}

/// Splits a change log into keys to add and keys to remove. Keys are never reused, so a
/// key removed anywhere in the log is not added, whatever the order.
fn split(changes: &[Change]) -> (Vec<ChunkKey>, Vec<ChunkKey>) {
    let removed: Vec<ChunkKey> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Removed(key) => Some(*key),
            Change::Added(_) => None,
        })
        .collect();
    let gone: std::collections::HashSet<ChunkKey> = removed.iter().copied().collect();
    let added = changes
        .iter()
        .filter_map(|c| match c {
            Change::Added(key) if !gone.contains(key) => Some(*key),
            _ => None,
        })
        .collect();
    (added, removed)
}

#[cfg(test)]
mod tests;
