//! LRU caches in front of the models: query embeddings and (model, query, passage) scores.
//!
//! Both are wrappers that implement the model trait they wrap, so the pipeline (and anyone
//! else) uses a cached model exactly like an uncached one; results are identical because a
//! hit returns what the model returned for the same input. Counters say how often the
//! model was spared.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use sha2::{Digest, Sha256};
use tamis_core::{Embedder, PairScore, Reranker, ScoreContract, TextRole, expect_count};

/// Hits and misses of a cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that went to the model.
    pub misses: u64,
}

/// An LRU map with hit/miss counters, safe to share between threads.
#[derive(Debug)]
struct Lru<V> {
    entries: Mutex<LruCache<[u8; 16], V>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V: Clone> Lru<V> {
    fn new(capacity: NonZeroUsize) -> Self {
        Lru {
            entries: Mutex::new(LruCache::new(capacity)),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn get(&self, key: &[u8; 16]) -> Option<V> {
        let found = self.entries.lock().unwrap_or_else(|e| e.into_inner()).get(key).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    fn put(&self, key: [u8; 16], value: V) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).put(key, value);
    }

    fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }
}

/// A 128-bit digest of length-prefixed parts: keys stay small whatever the passage length,
/// and prefixes keep ("ab", "c") apart from ("a", "bc").
fn key(parts: &[&str]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let digest = hasher.finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// Caches query embeddings of one embedder (documents pass through: they are embedded once
/// at ingest anyway).
#[derive(Debug)]
pub struct CachedEmbedder<E> {
    inner: E,
    cache: Lru<Vec<f32>>,
}

impl<E: Embedder> CachedEmbedder<E> {
    /// Wraps `inner`, keeping the `capacity` most recently used query vectors.
    pub fn new(inner: E, capacity: NonZeroUsize) -> Self {
        CachedEmbedder { inner, cache: Lru::new(capacity) }
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

impl<E: Embedder> Embedder for CachedEmbedder<E> {
    fn dimension(&self) -> usize {
        self.inner.dimension()
    }

    fn embed(&self, texts: &[&str], role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
        if role == TextRole::Document {
            return self.inner.embed(texts, role);
        }
        let keys: Vec<[u8; 16]> = texts.iter().map(|t| key(&[t])).collect();
        let mut vectors: Vec<Option<Vec<f32>>> = keys.iter().map(|k| self.cache.get(k)).collect();
        let missing: Vec<usize> = (0..texts.len()).filter(|&i| vectors[i].is_none()).collect();
        if !missing.is_empty() {
            let inputs: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let computed = expect_count(self.inner.embed(&inputs, role)?, inputs.len())?;
            for (i, vector) in missing.into_iter().zip(computed) {
                self.cache.put(keys[i], vector.clone());
                vectors[i] = Some(vector);
            }
        }
        Ok(vectors.into_iter().flatten().collect())
    }

    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        self.inner.query_key(query)
    }
}

/// Caches the scores of one reranker by (model name, query, passage).
#[derive(Debug)]
pub struct CachedReranker<R> {
    inner: R,
    name: String,
    cache: Lru<PairScore>,
}

impl<R: Reranker> CachedReranker<R> {
    /// Wraps `inner`, named `name` (part of every key, so two models never share scores),
    /// keeping the `capacity` most recently used scores.
    pub fn new(inner: R, name: impl Into<String>, capacity: NonZeroUsize) -> Self {
        CachedReranker { inner, name: name.into(), cache: Lru::new(capacity) }
    }

    /// The model behind the cache.
    pub fn inner(&self) -> &R {
        &self.inner
    }

    /// Hits and misses so far.
    pub fn stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

impl<R: Reranker> Reranker for CachedReranker<R> {
    fn score_contract(&self) -> ScoreContract {
        self.inner.score_contract()
    }

    fn score(&self, query: &str, passages: &[&str]) -> tamis_core::Result<Vec<PairScore>> {
        let keys: Vec<[u8; 16]> = passages.iter().map(|p| key(&[&self.name, query, p])).collect();
        let mut scores: Vec<Option<PairScore>> = keys.iter().map(|k| self.cache.get(k)).collect();
        let missing: Vec<usize> = (0..passages.len()).filter(|&i| scores[i].is_none()).collect();
        if !missing.is_empty() {
            let inputs: Vec<&str> = missing.iter().map(|&i| passages[i]).collect();
            let computed = expect_count(self.inner.score(query, &inputs)?, inputs.len())?;
            for (i, score) in missing.into_iter().zip(computed) {
                self.cache.put(keys[i], score);
                scores[i] = Some(score);
            }
        }
        Ok(scores.into_iter().flatten().collect())
    }

    fn query_key(&self, query: &str) -> tamis_core::Result<Option<Vec<u32>>> {
        self.inner.query_key(query)
    }
}

#[cfg(test)]
mod tests;
