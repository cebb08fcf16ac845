use std::num::NonZeroUsize;

use tamis_core::{Embedder, Reranker, TextRole};
use tamis_testkit::{HashEmbedder, OverlapReranker};

use super::{CacheStats, CachedEmbedder, CachedReranker};
use crate::index::{Index, IndexSettings, SearchMode, SearchRequest};
use crate::ingest::IngestModels;
use crate::pipeline::{PipelineRequest, RerankStage};
use crate::storage::Document;

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

#[test]
fn a_second_run_calls_neither_model_and_returns_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut index =
        Index::create(dir.path(), IndexSettings::new("hash", tamis_testkit::HASH_DIMENSION))
            .unwrap();
    let docs: Vec<Document> = (0..30)
        .map(|i| Document {
            id: format!("d{i}"),
            title: String::new(),
            text: format!(
                "vitamin d study {i} with {} outcomes",
                ["bone", "heart", "sleep"][i % 3]
            ),
            metadata: None,
        })
        .collect();
    index
        .ingest_batch(&docs, IngestModels { embedder: &HashEmbedder, tokenizer: &HashEmbedder })
        .unwrap();

    let embedder = CachedEmbedder::new(HashEmbedder, capacity(16));
    let reranker = CachedReranker::new(OverlapReranker::default(), "overlap", capacity(1024));
    let stage = RerankStage { name: "overlap", reranker: &reranker, candidates: 20 };
    let request = PipelineRequest::new(
        SearchRequest::new("vitamin d and heart", SearchMode::Hybrid),
        vec![stage],
    );
    let uncached = index.search_and_rerank(&request, Some(&embedder)).unwrap();
    assert_eq!(embedder.stats(), CacheStats { hits: 0, misses: 1 });
    assert_eq!(reranker.stats(), CacheStats { hits: 0, misses: 20 });

    let cached = index.search_and_rerank(&request, Some(&embedder)).unwrap();
    assert_eq!(cached.hits, uncached.hits);
    assert_eq!(embedder.stats(), CacheStats { hits: 1, misses: 1 });
    assert_eq!(reranker.stats(), CacheStats { hits: 20, misses: 20 });
    // The model itself saw only the first run's pairs.
    assert_eq!(reranker.inner.pairs_scored(), 20);
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
