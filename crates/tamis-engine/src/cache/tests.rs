use std::num::NonZeroUsize;

use tamis_core::{Embedder, Reranker, TextRole};
use tamis_testkit::{HashEmbedder, OverlapReranker};

use super::{CacheStats, CachedEmbedder, CachedReranker};

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

#[test]
fn keys_separate_models_queries_and_passages() {
    let first = CachedReranker::new(OverlapReranker::default(), "a", capacity(8));
    first.score("x y", &["x", "x y", "x"]).unwrap();
    // The third passage repeats the first: one call, one hit.
    assert_eq!(first.stats(), CacheStats { hits: 0, misses: 3 });
    assert_eq!(first.inner.pairs_scored(), 3);
    first.score("x y z", &["x"]).unwrap();
    assert_eq!(first.inner.pairs_scored(), 4, "another query is another key");
    // Length prefixes: ("ab", "c") and ("a", "bc") are different pairs.
    assert_ne!(super::key(&["ab", "c"]), super::key(&["a", "bc"]));
    assert_ne!(super::key(&["a", "x", "p"]), super::key(&["b", "x", "p"]));
}

#[test]
fn documents_bypass_the_embedding_cache_and_capacity_evicts() {
    let embedder = CachedEmbedder::new(HashEmbedder, capacity(1));
    embedder.embed(&["doc"], TextRole::Document).unwrap();
    assert_eq!(embedder.stats(), CacheStats::default());
    let a = embedder.embed(&["a", "a"], TextRole::Query).unwrap();
    assert_eq!(a[0], a[1]);
    assert_eq!(a[0], HashEmbedder.embed(&["a"], TextRole::Query).unwrap()[0]);
    embedder.embed(&["b"], TextRole::Query).unwrap();
    embedder.embed(&["a"], TextRole::Query).unwrap();
    assert_eq!(embedder.stats().hits, 0, "capacity 1: b evicted a");
}
