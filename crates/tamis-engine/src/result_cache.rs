//! Whole answers cached: a repeated query skips stage 1, fusion and every rerank stage.
//!
//! **Never stale.** An answer is kept under its index's [`CacheVersion`]: an identity no
//! other index shares and the sequence of the last write the index's searches see, read
//! *before* the search runs, so an entry holds an answer at least as new as its sequence.
//! A write changes the sequence: the older entries of that index (and only those) can no
//! longer be found, and the first lookup that sees the new sequence drops them. A backend
//! that cannot say its version ([`Backend::cache_version`](crate::backend::Backend::cache_version)
//! returns `None`) is never cached.
//!
//! **Normalized without changing answers.** The key holds what each stage reads of the
//! query rather than its text: the lexical retriever's terms
//! ([`Backend::lexical_terms`](crate::backend::Backend::lexical_terms)), the bi-encoder's
//! input ids and each reranker's query ids ([`Embedder::query_key`],
//! [`Reranker::query_key`](tamis_core::Reranker::query_key)); a model that cannot say keys on the text. Two queries share
//! an entry exactly when every stage would be given the same input, so a hit is what
//! running the pipeline would return. Which spellings that merges depends on the models
//! and the index (the README's "Result cache" section lists each rule and when it is
//! exact): with uncased BERT models, case, accents and spacing; with BM25 alone, also
//! punctuation, stop words the index drops and inflections its stemmer joins.
//!
//! **Paraphrases, when asked for** ([`Paraphrase`], off by default): a query whose
//! embedding is within a cosine of a cached query's, under the same index version and
//! settings, gets that query's answer, optionally only when a cross-encoder scores the two
//! queries high enough. That answer is another query's: the hit says so and names it.
//! Cached queries are compared one by one (at most `max_entries` dot products).
//!
//! Every other input that can change the answer is in the key (mode, k, depth, filter,
//! fusion, BM25 parameters, HNSW breadth, each stage's model name and window, chunk
//! aggregation, stage fusion, adaptive depth, thresholds, raw scores, batch size); a stage
//! name must name one model (and precision) for the cache's life. The deadline is not: an
//! answer a deadline cut short is never stored, and a complete one is the same with or
//! without a deadline.

use std::collections::{HashMap, HashSet};
use std::mem::size_of;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use sha2::{Digest, Sha256};
use tamis_core::Embedder;

use crate::index::{Index, SearchMode};
use crate::pipeline::{PipelineHit, PipelineRequest, PipelineResponse, StageReport};
use crate::{Error, Result};

/// What a result cache keys an index's answers by (see
/// [`Backend::cache_version`](crate::backend::Backend::cache_version)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheVersion {
    /// Names this index and no other in the process, nor this index once removed and
    /// created again.
    pub identity: String,
    /// The sequence of the last write this handle's searches see; every write changes it.
    pub sequence: u64,
}

/// The bounds of a [`ResultCache`]: it evicts the least recently used answers to stay
/// within both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResultCacheConfig {
    /// Most answers kept (0: the cache is off).
    pub max_entries: usize,
    /// Most bytes of answers kept (hit texts, titles, ids and bookkeeping, estimated).
    pub max_bytes: usize,
}

impl Default for ResultCacheConfig {
    /// 1024 answers, 64 MiB.
    fn default() -> Self {
        ResultCacheConfig { max_entries: 1024, max_bytes: 64 << 20 }
    }
}

/// How a cached answer matched the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheLevel {
    /// The same query text.
    Exact,
    /// Another text that every stage reads the same.
    Normalized,
    /// Another query close enough by embedding ([`Paraphrase`]): its answer, not this one's.
    Paraphrase,
}

/// Answer a query with a cached paraphrase's answer (see the [module](self) docs).
#[derive(Clone, Copy)]
pub struct Paraphrase<'a> {
    /// The least cosine similarity between the two queries' embeddings, in (0, 1].
    pub min_cosine: f32,
    /// A cross-encoder that must also score (query, cached query) at least `min_score`
    /// (in its declared activation's units) before the answer is reused.
    pub confirm: Option<(&'a dyn tamis_core::Reranker, f32)>,
}

impl std::fmt::Debug for Paraphrase<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Paraphrase")
            .field("min_cosine", &self.min_cosine)
            .field("confirm_min_score", &self.confirm.map(|(_, score)| score))
            .finish()
    }
}

impl Paraphrase<'_> {
    /// The cosine a paraphrase needs by default, chosen from the quality and hit-rate
    /// curve measured on NFCorpus (the README's "Result cache" section).
    pub const DEFAULT_MIN_COSINE: f32 = 0.97;

    fn validate(&self) -> Result<()> {
        if !(self.min_cosine > 0.0 && self.min_cosine <= 1.0) {
            return Err(Error::InvalidSearch {
                message: format!(
                    "paraphrase min_cosine must be in (0, 1], got {}",
                    self.min_cosine
                ),
            });
        }
        if self.confirm.is_some_and(|(_, score)| score.is_nan()) {
            return Err(Error::InvalidSearch {
                message: "paraphrase confirmation score is not a number".into(),
            });
        }
        Ok(())
    }
}

/// An answer served from the cache.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CacheHit {
    /// How it matched.
    pub level: CacheLevel,
    /// The query whose run stored the answer.
    pub query: String,
    /// How long ago it was stored.
    pub age: Duration,
    /// For a paraphrase, the cosine similarity of the two queries' embeddings.
    pub cosine: Option<f32>,
    /// For a paraphrase confirmed by a cross-encoder, its score of the two queries.
    pub confirm_score: Option<f32>,
}

/// The answer to a [`PipelineRequest`] through a [`ResultCache`].
#[derive(Debug, Clone)]
pub struct CachedAnswer {
    /// The answer; on a hit, exactly the stored one (its stage reports are those of the
    /// run that stored it).
    pub response: Arc<PipelineResponse>,
    /// Set when the answer came from the cache.
    pub hit: Option<CacheHit>,
}

/// What a cache did so far, and what it holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ResultCacheStats {
    /// Lookups answered by an entry stored for the same text.
    pub exact_hits: u64,
    /// Lookups answered by an entry stored for another text that reads the same.
    pub normalized_hits: u64,
    /// Lookups answered by a paraphrase's entry.
    pub paraphrase_hits: u64,
    /// Lookups that ran the pipeline.
    pub misses: u64,
    /// Searches that bypassed the cache: their backend cannot say its version.
    pub uncacheable: u64,
    /// Answers stored.
    pub stored: u64,
    /// Answers evicted to stay within the bounds.
    pub evicted: u64,
    /// Answers dropped because their index was written.
    pub invalidated: u64,
    /// Answers held now.
    pub entries: u64,
    /// Bytes held now (estimated).
    pub bytes: u64,
}

type Key = [u8; 16];

/// A bounded LRU cache of whole answers, shared by threads; see the [module](self) docs.
#[derive(Debug)]
pub struct ResultCache {
    config: ResultCacheConfig,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    entries: LruCache<Key, Entry>,
    bytes: usize,
    /// Per index identity: the newest sequence seen and the keys stored under it.
    scopes: HashMap<String, Scope>,
    stats: ResultCacheStats,
}

#[derive(Debug, Default)]
struct Scope {
    sequence: u64,
    keys: HashSet<Key>,
}

#[derive(Debug)]
struct Entry {
    scope: String,
    /// The key of everything but the query: paraphrases must share it.
    group: Key,
    /// The query's embedding, when it was stored by a request that asked for paraphrases.
    vector: Option<Arc<[f32]>>,
    query: String,
    response: Arc<PipelineResponse>,
    bytes: usize,
    stored: Instant,
}

/// Bytes an entry costs beyond its answer and query: key, LRU node, scope's key, and the
/// entry's own fields.
const ENTRY_OVERHEAD: usize = 160;

impl ResultCache {
    /// An empty cache with `config`'s bounds.
    pub fn new(config: ResultCacheConfig) -> ResultCache {
        ResultCache {
            config,
            state: Mutex::new(State {
                entries: LruCache::unbounded(),
                bytes: 0,
                scopes: HashMap::new(),
                stats: ResultCacheStats::default(),
            }),
        }
    }

    /// Its bounds.
    pub fn config(&self) -> ResultCacheConfig {
        self.config
    }

    /// Whether it stores anything (`max_entries` above 0).
    pub fn is_enabled(&self) -> bool {
        self.config.max_entries > 0
    }

    /// Counters so far and what it holds.
    pub fn stats(&self) -> ResultCacheStats {
        let state = self.lock();
        ResultCacheStats {
            entries: state.entries.len() as u64,
            bytes: state.bytes as u64,
            ..state.stats
        }
    }

    /// Drops every answer (counters stay, and so do the newest sequences seen, which keep
    /// answers of older views out).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.scopes.values_mut().for_each(|scope| scope.keys.clear());
        state.bytes = 0;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer stored under `key` for `version`, if any.
    fn lookup(&self, version: &CacheVersion, key: &Key, query: &str) -> Option<CachedAnswer> {
        let mut state = self.lock();
        if state.advance(version) == View::Older {
            return None;
        }
        let same_text = state.entries.peek(key)?.query == query;
        let level = if same_text { CacheLevel::Exact } else { CacheLevel::Normalized };
        state.hit(key, level, None, None)
    }

    /// The cached queries of `group` closest to `vector` at or above `min_cosine`, best
    /// first: (key, query, cosine).
    fn paraphrases(
        &self,
        version: &CacheVersion,
        group: &Key,
        vector: &[f32],
        min_cosine: f32,
    ) -> Vec<(Key, String, f32)> {
        let mut state = self.lock();
        if state.advance(version) == View::Older {
            return Vec::new();
        }
        let mut close: Vec<(Key, String, f32)> = state
            .entries
            .iter()
            .filter(|(_, entry)| entry.group == *group)
            .filter_map(|(key, entry)| {
                let cosine = cosine(vector, entry.vector.as_deref()?);
                (cosine >= min_cosine).then(|| (*key, entry.query.clone(), cosine))
            })
            .collect();
        close.sort_by(|a, b| b.2.total_cmp(&a.2));
        close
    }

    /// The answer under `key` as a paraphrase hit, if it is still there.
    fn take_paraphrase(
        &self,
        version: &CacheVersion,
        key: &Key,
        cosine: f32,
        confirm_score: Option<f32>,
    ) -> Option<CachedAnswer> {
        let mut state = self.lock();
        if state.advance(version) == View::Older {
            return None;
        }
        state.hit(key, CacheLevel::Paraphrase, Some(cosine), confirm_score)
    }

    /// A lookup that found nothing (after every level it tried).
    fn count_miss(&self) {
        self.lock().stats.misses += 1;
    }

    /// Keeps `response` under `keys.answer`, unless a newer write was seen since `version`
    /// was read (nobody could find it) or it alone exceeds the byte bound.
    fn store(
        &self,
        version: &CacheVersion,
        keys: &Keys,
        query: &str,
        response: Arc<PipelineResponse>,
    ) {
        let key = keys.answer;
        let vector_bytes = keys.vector.as_ref().map_or(0, |v| v.len() * size_of::<f32>());
        let bytes = ENTRY_OVERHEAD
            + query.len()
            + version.identity.len()
            + vector_bytes
            + answer_bytes(&response);
        if bytes > self.config.max_bytes {
            return;
        }
        let mut state = self.lock();
        if state.advance(version) == View::Older {
            return;
        }
        if let Some(old) = state.entries.pop(&key) {
            state.bytes -= old.bytes;
        }
        let entry = Entry {
            scope: version.identity.clone(),
            group: keys.group,
            vector: keys.vector.clone(),
            query: query.to_string(),
            response,
            bytes,
            stored: Instant::now(),
        };
        state.entries.put(key, entry);
        state.bytes += bytes;
        state.scopes.entry(version.identity.clone()).or_default().keys.insert(key);
        state.stats.stored += 1;
        while state.entries.len() > self.config.max_entries || state.bytes > self.config.max_bytes {
            let Some((key, entry)) = state.entries.pop_lru() else { break };
            state.forget(&key, &entry);
            state.stats.evicted += 1;
        }
    }

    fn count_uncacheable(&self) {
        self.lock().stats.uncacheable += 1;
    }
}

/// Whether a version is the newest its index has shown the cache.
#[derive(Debug, PartialEq, Eq)]
enum View {
    Current,
    /// A newer write was seen: this view's answers are never stored.
    Older,
}

impl State {
    /// The entry under `key` as a hit of `level` (marked most recently used, counted).
    fn hit(
        &mut self,
        key: &Key,
        level: CacheLevel,
        cosine: Option<f32>,
        confirm_score: Option<f32>,
    ) -> Option<CachedAnswer> {
        let entry = self.entries.get(key)?;
        let answer = CachedAnswer {
            response: entry.response.clone(),
            hit: Some(CacheHit {
                level,
                query: entry.query.clone(),
                age: entry.stored.elapsed(),
                cosine,
                confirm_score,
            }),
        };
        self.count_hit(level);
        Some(answer)
    }

    fn count_hit(&mut self, level: CacheLevel) {
        match level {
            CacheLevel::Exact => self.stats.exact_hits += 1,
            CacheLevel::Normalized => self.stats.normalized_hits += 1,
            CacheLevel::Paraphrase => self.stats.paraphrase_hits += 1,
        }
    }

    /// Records `version` as its index's newest when it is, dropping the answers of older
    /// sequences.
    fn advance(&mut self, version: &CacheVersion) -> View {
        let scope = self.scopes.entry(version.identity.clone()).or_default();
        if version.sequence < scope.sequence {
            return View::Older;
        }
        if version.sequence > scope.sequence {
            scope.sequence = version.sequence;
            let stale: Vec<Key> = scope.keys.drain().collect();
            for key in stale {
                if let Some(entry) = self.entries.pop(&key) {
                    self.bytes -= entry.bytes;
                    self.stats.invalidated += 1;
                }
            }
        }
        View::Current
    }

    /// Removes an evicted entry's key from its scope.
    fn forget(&mut self, key: &Key, entry: &Entry) {
        self.bytes -= entry.bytes;
        if let Some(scope) = self.scopes.get_mut(&entry.scope) {
            scope.keys.remove(key);
        }
    }
}

/// The cosine similarity of two vectors (0 when either is zero).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() {
        return 0.0;
    }
    let (mut dot, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        aa += x * x;
        bb += y * y;
    }
    let norm = (aa * bb).sqrt();
    if norm > 0.0 { dot / norm } else { 0.0 }
}

/// The keys of one request.
struct Keys {
    /// Everything that decides the answer.
    answer: Key,
    /// Everything but the query.
    group: Key,
    /// The query's embedding, when paraphrases are asked for.
    vector: Option<Arc<[f32]>>,
}

/// The heap and inline bytes of an answer.
fn answer_bytes(response: &PipelineResponse) -> usize {
    let hits: usize = response
        .hits
        .iter()
        .map(|hit| {
            size_of::<PipelineHit>()
                + hit.doc_id.len()
                + hit.title.len()
                + hit.text.len()
                + hit.reranks.len() * size_of::<Option<crate::pipeline::Place>>()
        })
        .sum();
    let stages: usize =
        response.stages.iter().map(|stage| size_of::<StageReport>() + stage.name.len()).sum();
    size_of::<PipelineResponse>() + hits + stages
}

/// A 128-bit digest of length-prefixed parts.
#[derive(Default)]
struct KeyHasher(Sha256);

impl KeyHasher {
    fn part(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    /// A stage's reading of the query: its key when it has one, else the text.
    fn reading(&mut self, key: Option<Vec<u32>>, text: &str) {
        match key {
            Some(ids) => {
                self.part(b"ids");
                let bytes: Vec<u8> = ids.iter().flat_map(|id| id.to_le_bytes()).collect();
                self.part(&bytes);
            }
            None => {
                self.part(b"text");
                self.part(text.as_bytes());
            }
        }
    }

    fn finish(self) -> Key {
        let digest = self.0.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

impl Index {
    /// [`Index::search_and_rerank`] through `cache`: a stored answer when one matches
    /// (see the [module](crate::result_cache) docs for what matches), else the pipeline's,
    /// stored unless a deadline cut it short.
    pub fn search_cached(
        &self,
        cache: &ResultCache,
        request: &PipelineRequest<'_>,
        embedder: Option<&dyn Embedder>,
    ) -> Result<CachedAnswer> {
        self.search_cached_with(cache, request, embedder, None)
    }

    /// [`Index::search_cached`], also answering with a cached paraphrase's answer when
    /// `paraphrase` is given (it needs `embedder`, even for a BM25 search).
    pub fn search_cached_with(
        &self,
        cache: &ResultCache,
        request: &PipelineRequest<'_>,
        embedder: Option<&dyn Embedder>,
        paraphrase: Option<&Paraphrase<'_>>,
    ) -> Result<CachedAnswer> {
        if let Some(paraphrase) = paraphrase {
            paraphrase.validate()?;
        }
        let run = || self.search_and_rerank(request, embedder).map(Arc::new);
        if !cache.is_enabled() {
            return Ok(CachedAnswer { response: run()?, hit: None });
        }
        let Some(version) = self.backend().cache_version()? else {
            cache.count_uncacheable();
            return Ok(CachedAnswer { response: run()?, hit: None });
        };
        let mut keys = self.request_keys(&version, request, embedder)?;
        let query = request.search.query;
        if let Some(answer) = cache.lookup(&version, &keys.answer, query) {
            return Ok(answer);
        }
        if let Some(paraphrase) = paraphrase {
            let embedder = embedder.ok_or(Error::EmbedderRequired)?;
            let vector: Arc<[f32]> = embedder
                .embed(&[query], tamis_core::TextRole::Query)
                .map_err(Error::Model)?
                .into_iter()
                .next()
                .unwrap_or_default()
                .into();
            let close = cache.paraphrases(&version, &keys.group, &vector, paraphrase.min_cosine);
            // A cross-encoder check costs a pass: the closest few are worth it, not all.
            for (key, cached_query, cosine) in close.into_iter().take(MAX_CONFIRMATIONS) {
                let confirm_score = match paraphrase.confirm {
                    Some((reranker, min_score)) => {
                        let scores = reranker
                            .score(query, &[cached_query.as_str()])
                            .map_err(Error::Model)?;
                        let score = scores.first().map_or(f32::NEG_INFINITY, |s| s.score);
                        if score < min_score {
                            continue;
                        }
                        Some(score)
                    }
                    None => None,
                };
                if let Some(answer) = cache.take_paraphrase(&version, &key, cosine, confirm_score) {
                    return Ok(answer);
                }
            }
            keys.vector = Some(vector);
        }
        cache.count_miss();
        let response = run()?;
        if !response.deadline_exceeded {
            cache.store(&version, &keys, query, response.clone());
        }
        Ok(CachedAnswer { response, hit: None })
    }

    /// The keys of `request`'s answer: the index's version and every setting that changes
    /// the answer (the group), then what each stage reads of the query.
    fn request_keys(
        &self,
        version: &CacheVersion,
        request: &PipelineRequest<'_>,
        embedder: Option<&dyn Embedder>,
    ) -> Result<Keys> {
        let search = &request.search;
        let mut hasher = KeyHasher::default();
        hasher.part(version.identity.as_bytes());
        hasher.part(&version.sequence.to_le_bytes());
        // Debug output is stable within a process, which is all a key must be; floats
        // print exactly.
        let settings = format!(
            "{:?}",
            (
                (search.mode, search.k, search.depth, search.filter, &search.fusion),
                (search.ef_search, search.bm25, request.k, request.aggregation),
                (&request.stage_fusion, request.adaptive, request.min_score, request.raw_scores),
                request.batch_docs,
            )
        );
        hasher.part(settings.as_bytes());
        for stage in &request.stages {
            hasher.part(stage.name.as_bytes());
            hasher.part(&(stage.candidates as u64).to_le_bytes());
        }
        let group = KeyHasher(hasher.0.clone()).finish();
        let query = search.query;
        if matches!(search.mode, SearchMode::Bm25 | SearchMode::Hybrid) {
            match self.backend().lexical_terms(query) {
                Some(terms) => {
                    hasher.part(b"terms");
                    for term in terms {
                        hasher.part(term.as_bytes());
                    }
                }
                None => hasher.reading(None, query),
            }
        }
        if matches!(search.mode, SearchMode::Dense | SearchMode::Hybrid) {
            let key = match embedder {
                Some(embedder) => embedder.query_key(query).map_err(Error::Model)?,
                None => None,
            };
            hasher.reading(key, query);
        }
        for stage in &request.stages {
            hasher.reading(stage.reranker.query_key(query).map_err(Error::Model)?, query);
        }
        Ok(Keys { answer: hasher.finish(), group, vector: None })
    }
}

/// Paraphrases a cross-encoder checks before the lookup gives up.
const MAX_CONFIRMATIONS: usize = 3;

#[cfg(test)]
mod tests;
