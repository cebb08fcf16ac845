//! Result caches on several nodes sharing one database: each node keeps its own, and
//! every node's writes advance the collection's write sequence, which all of them key
//! their answers by.

use tamis_engine::backend::Catalog;
use tamis_engine::pipeline::{PipelineRequest, RerankStage};
use tamis_engine::result_cache::{CacheLevel, ResultCache, ResultCacheConfig};
use tamis_engine::{Index, SearchMode, SearchRequest};
use tamis_postgres::PgOptions;
use tamis_testkit::{HashEmbedder, OverlapReranker, SeededRng};

use crate::{MODELS, catalog, doc, settings, unique_name};

const WORDS: [&str; 8] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"];

/// `n` words of [`WORDS`], drawn by `rng`.
fn words(rng: &mut SeededRng, n: usize) -> String {
    (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn cache() -> ResultCache {
    ResultCache::new(ResultCacheConfig { max_entries: 64, max_bytes: 1 << 20 })
}

fn request<'a>(
    query: &'a str,
    mode: SearchMode,
    stages: Vec<RerankStage<'a>>,
) -> PipelineRequest<'a> {
    let mut request = PipelineRequest::new(SearchRequest::new(query, mode), stages);
    request.search.k = 8;
    request.k = 5;
    request
}

/// Two nodes (two catalogs, two caches) write and search one collection in a seeded
/// random order: every answer a node's cache gives equals what that node's pipeline
/// returns at that moment, whichever node wrote last.
#[test]
fn two_nodes_never_serve_an_answer_the_other_nodes_writes_made_stale() {
    let name = unique_name("result_cache");
    let (first, second) = (catalog(), catalog());
    let mut nodes: Vec<Index> = vec![
        first.create_with(&name, &settings(), PgOptions::default()).unwrap(),
        second.open(&name).unwrap().unwrap(),
    ];
    let caches = [cache(), cache()];
    let mut rng = SeededRng(0x2545_f491_4f6c_dd1d);
    let docs: Vec<_> =
        (0..12).map(|i| doc(&format!("d{i}"), "", &words(&mut rng, 3 + i % 4), None)).collect();
    nodes[0].ingest_batch(&docs, MODELS).unwrap();
    let reranker = OverlapReranker::default();
    let queries = ["alpha bravo", "Alpha  BRAVO", "charlie delta", "delta charlie", "golf"];
    let modes = [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid];
    let mut checked = 0;
    for _ in 0..400 {
        let node = rng.below(2);
        match rng.below(24) {
            0 => {
                let (id, n) = (format!("d{}", rng.below(15)), 2 + rng.below(4));
                let text = words(&mut rng, n);
                nodes[node].ingest_batch(&[doc(&id, "", &text, None)], MODELS).unwrap();
            }
            1 => {
                nodes[node].delete(&[format!("d{}", rng.below(15)).as_str()]).unwrap();
            }
            _ => {
                let query = queries[rng.below(queries.len())];
                let mode = modes[rng.below(modes.len())];
                let stages = if rng.below(2) == 0 {
                    vec![RerankStage::new("overlap", &reranker, 6)]
                } else {
                    Vec::new()
                };
                let request = request(query, mode, stages);
                let index = &nodes[node];
                let cached =
                    index.search_cached(&caches[node], &request, Some(&HashEmbedder)).unwrap();
                let fresh = index.search_and_rerank(&request, Some(&HashEmbedder)).unwrap();
                assert_eq!(cached.response.hits, fresh.hits, "node {node}: {query:?} {mode:?}");
                checked += 1;
            }
        }
    }
    for cache in &caches {
        let stats = cache.stats();
        assert!(stats.exact_hits > 10 && stats.normalized_hits > 2, "{stats:?}");
        assert!(stats.invalidated > 10 && stats.uncacheable == 0, "{stats:?}");
    }
    assert!(checked > 300);
    // A delete of nothing changes nothing, and keeps the answers.
    let before = nodes[0].stats().unwrap().sequence;
    assert!(before.is_some());
    nodes[1].delete(&["no-such-document"]).unwrap();
    assert_eq!(nodes[0].stats().unwrap().sequence, before);
    first.remove(&name).unwrap();
}

/// A collection made before the write sequence is searched without the cache; the
/// upgrade adds the sequence, and a node that opened it before the upgrade advances it.
#[test]
fn a_collection_without_a_write_sequence_is_cached_once_upgraded() {
    let name = unique_name("result_cache_v3");
    let catalog = catalog();
    let mut old = catalog.create_legacy(&name, &settings(), PgOptions::default(), 3).unwrap();
    old.ingest_batch(&[doc("a", "", "alpha bravo", None), doc("b", "", "charlie", None)], MODELS)
        .unwrap();
    let cache = cache();
    let bm25 = request("alpha", SearchMode::Bm25, Vec::new());
    for _ in 0..2 {
        assert!(old.search_cached(&cache, &bm25, None).unwrap().hit.is_none());
    }
    assert_eq!(cache.stats().uncacheable, 2);

    let done = catalog.rebuild_lexical(&name, &mut |_, _| {}).unwrap();
    assert_eq!((done.from_version, done.to_version, done.built_postings), (3, 4, false));
    let upgraded = catalog.open(&name).unwrap().unwrap();
    assert!(upgraded.search_cached(&cache, &bm25, None).unwrap().hit.is_none());
    let hit = upgraded.search_cached(&cache, &bm25, None).unwrap().hit.unwrap();
    assert_eq!(hit.level, CacheLevel::Exact);
    // The handle opened at version 3 learns of the upgrade on its write, and advances the
    // sequence: the cached answer is gone.
    old.ingest_batch(&[doc("c", "", "alpha alpha", None)], MODELS).unwrap();
    let after = upgraded.search_cached(&cache, &bm25, None).unwrap();
    assert!(after.hit.is_none());
    assert!(after.response.hits.iter().any(|hit| hit.doc_id == "c"));
    catalog.remove(&name).unwrap();
}
