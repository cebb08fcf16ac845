//! The result cache over a real index: never a stale answer under writes, from this
//! handle or another, and which spellings share an answer.

use std::time::Duration;

use tamis_core::Reranker;
use tamis_engine::pipeline::{PipelineRequest, RerankStage};
use tamis_engine::result_cache::{CacheLevel, Paraphrase, ResultCache, ResultCacheConfig};
use tamis_engine::{Document, Index, IndexSettings, IngestModels, SearchMode, SearchRequest};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder, OverlapReranker, SeededRng};

const MODELS: IngestModels<'static> = IngestModels::new(&HashEmbedder, &HashEmbedder);

const WORDS: [&str; 10] =
    ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet"];

/// `n` words of [`WORDS`], drawn by `rng`.
fn words(rng: &mut SeededRng, n: usize) -> String {
    (0..n).map(|_| WORDS[rng.below(WORDS.len())]).collect::<Vec<_>>().join(" ")
}

fn doc(id: &str, text: &str) -> Document {
    Document { id: id.into(), title: String::new(), text: text.into(), metadata: None }
}

/// An index of three short documents on vitamins and bones.
fn three_documents(dir: &std::path::Path) -> Index {
    let mut index =
        tamis_embedded::create(dir, IndexSettings::new("hash", HASH_DIMENSION)).unwrap();
    let docs = [
        doc("a", "vitamin d and bone health"),
        doc("b", "bone density in older adults"),
        doc("c", "vitamin c and the common cold"),
    ];
    index.ingest_batch(&docs, MODELS).unwrap();
    index
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

/// Upserts, deletes and searches in a seeded random order, from a writing handle and a
/// reading one that refreshes only now and then (as `tamis serve` beside `tamis index`):
/// every cached answer equals what the same handle's pipeline returns at that moment.
#[test]
fn interleaved_writes_never_leave_a_stale_answer() {
    let dir = tempfile::tempdir().unwrap();
    let mut writer =
        tamis_embedded::create(dir.path(), IndexSettings::new("hash", HASH_DIMENSION)).unwrap();
    let mut rng = SeededRng(0x9e37_79b9_7f4a_7c15);
    let docs: Vec<Document> =
        (0..20).map(|i| doc(&format!("d{i}"), &words(&mut rng, 4 + i % 5))).collect();
    writer.ingest_batch(&docs, MODELS).unwrap();
    let mut reader = tamis_embedded::open(dir.path()).unwrap();
    let (writer_cache, reader_cache) = (cache(), cache());
    let reranker = OverlapReranker::default();
    let queries =
        ["alpha bravo", "Alpha  BRAVO", "charlie delta echo", "echo charlie delta", "golf"];
    let modes = [SearchMode::Bm25, SearchMode::Dense, SearchMode::Hybrid];
    let mut checked = 0;
    for _ in 0..1500 {
        match rng.below(24) {
            0 => {
                let id = format!("d{}", rng.below(25));
                let n = 3 + rng.below(5);
                let text = words(&mut rng, n);
                writer.ingest_batch(&[doc(&id, &text)], MODELS).unwrap();
            }
            1 => {
                writer.delete(&[format!("d{}", rng.below(25)).as_str()]).unwrap();
            }
            2..=4 if reader.is_behind().unwrap() => reader.refresh().unwrap(),
            _ => {
                let query = queries[rng.below(queries.len())];
                let mode = modes[rng.below(modes.len())];
                let stages = if rng.below(2) == 0 {
                    vec![RerankStage::new("overlap", &reranker, 6)]
                } else {
                    Vec::new()
                };
                let request = request(query, mode, stages);
                let (index, cache): (&Index, &ResultCache) = if rng.below(2) == 0 {
                    (&writer, &writer_cache)
                } else {
                    (&reader, &reader_cache)
                };
                let cached = index.search_cached(cache, &request, Some(&HashEmbedder)).unwrap();
                let fresh = index.search_and_rerank(&request, Some(&HashEmbedder)).unwrap();
                assert_eq!(
                    cached.response.hits, fresh.hits,
                    "{query:?} {mode:?}: {:?}",
                    cached.hit
                );
                checked += 1;
            }
        }
    }
    // The test means something only if answers were served, and dropped by writes.
    for cache in [&writer_cache, &reader_cache] {
        let stats = cache.stats();
        assert!(stats.exact_hits > 20, "{stats:?}");
        assert!(stats.normalized_hits > 5, "{stats:?}");
        assert!(stats.invalidated > 20, "{stats:?}");
    }
    assert!(checked > 1000);
}

#[test]
fn queries_share_an_answer_exactly_when_every_stage_reads_them_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let index = three_documents(dir.path());
    let cache = cache();
    let reranker = OverlapReranker::default();
    let level = |query: &str, mode: SearchMode, rerank: bool| {
        let stages = if rerank {
            vec![RerankStage::new("overlap", &reranker as &dyn Reranker, 3)]
        } else {
            Vec::new()
        };
        let answer = index
            .search_cached(&cache, &request(query, mode, stages), Some(&HashEmbedder))
            .unwrap();
        answer.hit.map(|hit| hit.level)
    };
    assert_eq!(level("vitamin d bone", SearchMode::Hybrid, true), None);
    assert_eq!(level("vitamin d bone", SearchMode::Hybrid, true), Some(CacheLevel::Exact));
    // Case and spacing: every stage here reads them the same.
    assert_eq!(level("Vitamin  D BONE", SearchMode::Hybrid, true), Some(CacheLevel::Normalized));
    // Punctuation: BM25 drops it, but the fake models read "bone?" as another word.
    assert_eq!(level("vitamin d bone?", SearchMode::Hybrid, true), None);
    assert_eq!(level("vitamin d bone", SearchMode::Bm25, false), None);
    assert_eq!(level("vitamin, d: bone?", SearchMode::Bm25, false), Some(CacheLevel::Normalized));
    // Word order: BM25 sums its terms in one order whatever the query's, and the fake
    // embedder and reranker ignore it (a BERT model reads positions, so would not).
    assert_eq!(level("bone vitamin d", SearchMode::Bm25, false), Some(CacheLevel::Normalized));
    assert_eq!(level("bone vitamin d", SearchMode::Hybrid, true), Some(CacheLevel::Normalized));
    assert_eq!(level("vitamin d bone", SearchMode::Dense, true), None);
    assert_eq!(level("bone vitamin d", SearchMode::Dense, true), Some(CacheLevel::Normalized));
    // Another setting is another answer.
    let mut wider = request("vitamin d bone", SearchMode::Bm25, Vec::new());
    wider.k = 2;
    assert!(index.search_cached(&cache, &wider, None).unwrap().hit.is_none());
}

#[test]
fn an_answer_a_deadline_cut_short_is_not_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut index =
        tamis_embedded::create(dir.path(), IndexSettings::new("hash", HASH_DIMENSION)).unwrap();
    let docs: Vec<Document> =
        (0..8).map(|i| doc(&format!("d{i}"), &format!("alpha bravo {i}"))).collect();
    index.ingest_batch(&docs, MODELS).unwrap();
    let cache = cache();
    let slow = OverlapReranker::slow(Duration::from_millis(20));
    let stages = vec![RerankStage::new("slow", &slow, 8)];
    let mut cut = request("alpha", SearchMode::Bm25, stages);
    cut.batch_docs = 1;
    cut.deadline = Some(Duration::from_millis(30));
    let first = index.search_cached(&cache, &cut, None).unwrap();
    assert!(first.response.deadline_exceeded);
    assert!(index.search_cached(&cache, &cut, None).unwrap().hit.is_none());
    assert_eq!(cache.stats().stored, 0);
    // Without a deadline the answer is whole, kept, and then served to the request with
    // the deadline too: a complete answer is the same with or without one.
    let mut whole = cut.clone();
    whole.deadline = None;
    assert!(!index.search_cached(&cache, &whole, None).unwrap().response.deadline_exceeded);
    let served = index.search_cached(&cache, &cut, None).unwrap();
    assert_eq!(served.hit.map(|hit| hit.level), Some(CacheLevel::Exact));
    assert!(!served.response.deadline_exceeded);
}

#[test]
fn a_paraphrase_gets_the_answer_of_a_close_cached_query_only_when_asked_and_says_whose() {
    let dir = tempfile::tempdir().unwrap();
    let index = three_documents(dir.path());
    let cache = cache();
    let reranker = OverlapReranker::default();
    let near = |min_cosine| Paraphrase { min_cosine, confirm: None };
    let search = |query: &str, paraphrase: Option<&Paraphrase<'_>>| {
        let request = request(query, SearchMode::Hybrid, Vec::new());
        index.search_cached_with(&cache, &request, Some(&HashEmbedder), paraphrase).unwrap()
    };
    // Stored without asking for paraphrases: no embedding kept, so never matched as one.
    search("vitamin d bone health", None);
    assert!(search("vitamin d bone", Some(&near(0.8))).hit.is_none());
    // Stored asking for them. Hash vectors of queries sharing 2 of 3 words have cosine
    // 0.82, 3 of 3 and 4: 0.87.
    search("bone density adults", Some(&near(0.8)));
    assert!(search("bone density", Some(&near(0.9))).hit.is_none());
    let hit = search("adults older bone density", Some(&near(0.8))).hit.unwrap();
    assert_eq!((hit.level, hit.query.as_str()), (CacheLevel::Paraphrase, "bone density adults"));
    let cosine = hit.cosine.unwrap();
    assert!((0.85..0.88).contains(&cosine), "{cosine}");
    assert!(search("older adults bone density", None).hit.is_none(), "only when asked");
    // A cross-encoder check: the overlap reranker scores the share of the query's words
    // found in the cached query, 3 of 4 here.
    let confirmed =
        |min_score| Paraphrase { min_cosine: 0.8, confirm: Some((&reranker, min_score)) };
    // (Other words than the query stored just above, which a reordering would hit.)
    let hit = search("density bone adults elderly", Some(&confirmed(0.7))).hit.unwrap();
    assert_eq!((hit.query.as_str(), hit.confirm_score), ("bone density adults", Some(0.75)));
    assert!(search("bone adults elderly density", Some(&confirmed(0.8))).hit.is_none());
    assert_eq!(cache.stats().paraphrase_hits, 2);
    // Another setting is another group; bad thresholds are refused.
    let mut wider = request("density of bone", SearchMode::Hybrid, Vec::new());
    wider.k = 2;
    let other = index.search_cached_with(&cache, &wider, Some(&HashEmbedder), Some(&near(0.8)));
    assert!(other.unwrap().hit.is_none());
    let bad = index.search_cached_with(&cache, &wider, Some(&HashEmbedder), Some(&near(1.5)));
    assert!(bad.unwrap_err().to_string().contains("min_cosine"));
}
