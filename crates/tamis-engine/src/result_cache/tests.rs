use std::sync::Arc;

use super::{CacheLevel, CacheVersion, Key, Keys, ResultCache, ResultCacheConfig, answer_bytes};
use crate::pipeline::PipelineResponse;

fn version(identity: &str, sequence: u64) -> CacheVersion {
    CacheVersion { identity: identity.to_string(), sequence }
}

fn key(n: u8) -> Key {
    [n; 16]
}

fn keys(n: u8) -> Keys {
    Keys { answer: key(n), group: [0; 16], vector: None }
}

fn answer() -> Arc<PipelineResponse> {
    Arc::new(PipelineResponse { hits: Vec::new(), stages: Vec::new(), deadline_exceeded: false })
}

fn cache(max_entries: usize, max_bytes: usize) -> ResultCache {
    ResultCache::new(ResultCacheConfig { max_entries, max_bytes })
}

#[test]
fn a_stored_answer_is_found_by_its_key_and_says_whose_text_stored_it() {
    let cache = cache(8, 1 << 20);
    let v = version("a", 1);
    assert!(cache.lookup(&v, &key(1), "Vitamin D").is_none());
    cache.store(&v, &keys(1), "Vitamin D", answer());
    let exact = cache.lookup(&v, &key(1), "Vitamin D").unwrap().hit.unwrap();
    assert_eq!((exact.level, exact.query.as_str()), (CacheLevel::Exact, "Vitamin D"));
    let other = cache.lookup(&v, &key(1), "vitamin  d").unwrap().hit.unwrap();
    assert_eq!((other.level, other.query.as_str()), (CacheLevel::Normalized, "Vitamin D"));
    assert!(cache.lookup(&v, &key(2), "Vitamin D").is_none());
    let stats = cache.stats();
    // Misses are counted by the search, once every level it tries has missed.
    assert_eq!((stats.exact_hits, stats.normalized_hits, stats.misses), (1, 1, 0));
    assert_eq!((stats.stored, stats.entries), (1, 1));
}

#[test]
fn a_write_drops_exactly_its_own_index_answers() {
    let cache = cache(8, 1 << 20);
    cache.store(&version("a", 1), &keys(1), "q", answer());
    cache.store(&version("b", 1), &keys(2), "q", answer());
    // The same key under the new sequence is not the old answer: keys carry the sequence
    // too, but the cache must not rely on callers for it.
    assert!(cache.lookup(&version("a", 2), &key(1), "q").is_none());
    let stats = cache.stats();
    assert_eq!((stats.invalidated, stats.entries), (1, 1));
    assert!(
        cache.lookup(&version("b", 1), &key(2), "q").is_some(),
        "another index keeps its answers"
    );
}

#[test]
fn a_view_older_than_one_seen_neither_finds_nor_stores() {
    let cache = cache(8, 1 << 20);
    cache.store(&version("a", 3), &keys(1), "q", answer());
    assert!(cache.lookup(&version("a", 2), &key(1), "q").is_none());
    // A search that read sequence 2 before a write made it 3 must not fill the cache.
    cache.store(&version("a", 2), &keys(2), "q", answer());
    assert_eq!(cache.stats().entries, 1);
    assert!(cache.lookup(&version("a", 3), &key(2), "q").is_none());
}

#[test]
fn the_least_recently_used_answers_go_first_within_both_bounds() {
    let v = version("a", 1);
    let by_count = cache(2, 1 << 20);
    by_count.store(&v, &keys(1), "q", answer());
    by_count.store(&v, &keys(2), "q", answer());
    assert!(by_count.lookup(&v, &key(1), "q").is_some()); // 2 is now the oldest used
    by_count.store(&v, &keys(3), "q", answer());
    assert!(by_count.lookup(&v, &key(2), "q").is_none());
    assert!(by_count.lookup(&v, &key(1), "q").is_some());
    assert!(by_count.lookup(&v, &key(3), "q").is_some());
    assert_eq!(by_count.stats().evicted, 1);

    let one = super::ENTRY_OVERHEAD + 1 + 1 + answer_bytes(&answer());
    let by_bytes = cache(100, 2 * one);
    for n in 1..=3 {
        by_bytes.store(&v, &keys(n), "q", answer());
    }
    let stats = by_bytes.stats();
    assert_eq!((stats.entries, stats.bytes, stats.evicted), (2, 2 * one as u64, 1));
    assert!(by_bytes.lookup(&v, &key(1), "q").is_none());

    let tiny = cache(100, one - 1);
    tiny.store(&v, &keys(1), "q", answer());
    assert_eq!(tiny.stats().stored, 0, "an answer over the byte bound alone is not kept");
}

#[test]
fn storing_a_key_again_replaces_it_without_counting_its_bytes_twice() {
    let cache = cache(8, 1 << 20);
    let v = version("a", 1);
    cache.store(&v, &keys(1), "q", answer());
    let once = cache.stats().bytes;
    cache.store(&v, &keys(1), "q", answer());
    assert_eq!((cache.stats().entries, cache.stats().bytes), (1, once));
    cache.clear();
    assert_eq!((cache.stats().entries, cache.stats().bytes), (0, 0));
}
