//! The engine's model caches in a real search: a second run asks neither model anything.

use std::num::NonZeroUsize;
use std::sync::Arc;

use tamis_engine::cache::{CacheStats, CachedEmbedder, CachedReranker};
use tamis_engine::pipeline::{PipelineRequest, RerankStage};
use tamis_engine::{Document, IndexSettings, IngestModels, SearchMode, SearchRequest};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, OverlapReranker};

fn capacity(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap()
}

#[test]
fn a_second_run_calls_neither_model_and_returns_the_same_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut index =
        tamis_embedded::create(dir.path(), IndexSettings::new("hash", HASH_DIMENSION)).unwrap();
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
    index.ingest_batch(&docs, IngestModels::new(&HashEmbedder, &HashEmbedder)).unwrap();

    let embedder = CachedEmbedder::new(HashEmbedder, capacity(16));
    let model = Arc::new(OverlapReranker::default());
    let reranker = CachedReranker::new(model.clone(), "overlap", capacity(1024));
    let stage = RerankStage::new("overlap", &reranker, 20);
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
    assert_eq!(model.pairs_scored(), 20);
}
