//! Tests of the top-k collector, on small tantivy indexes built here directly.

use std::collections::HashSet;

use tantivy::collector::Count;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, INDEXED, IndexRecordOption, Schema, TEXT};
use tantivy::{Index, IndexWriter, TantivyDocument, Term};

use tamis_core::ChunkKey;

use super::*;

fn hit(key: ChunkKey, score: f32) -> Hit {
    Hit { key, score }
}

#[test]
fn the_heap_keeps_the_best_k_with_ties_to_the_smaller_key() {
    let mut heap = TopHeap::new(3, 100);
    assert_eq!(heap.threshold(), Score::MIN);
    for h in [hit(9, 1.0), hit(4, 2.0), hit(7, 2.0), hit(1, 0.5), hit(3, 2.0), hit(2, 3.0)] {
        heap.push(h);
    }
    assert_eq!(heap.threshold(), just_below(2.0));
    assert_eq!(heap.into_sorted_vec(), [hit(2, 3.0), hit(3, 2.0), hit(4, 2.0)]);
}

#[test]
fn a_heap_of_zero_or_a_huge_k_is_harmless() {
    let mut heap = TopHeap::new(0, 10);
    heap.push(hit(1, 1.0));
    assert!(heap.into_sorted_vec().is_empty());
    let mut heap = TopHeap::new(usize::MAX, 10);
    heap.push(hit(1, 1.0));
    heap.push(hit(0, 1.0));
    assert_eq!(heap.threshold(), Score::MIN);
    assert_eq!(heap.into_sorted_vec(), [hit(0, 1.0), hit(1, 1.0)]);
}

#[test]
fn just_below_is_the_next_float_down() {
    for score in [0.0, 1.0, 3.5, 1e-30, -2.0, f32::MAX] {
        let below = just_below(score);
        assert!(below < score, "{score}");
        let between = below + (score - below) / 2.0;
        assert!(between == below || between == score, "{score}: {below} is not adjacent");
    }
    assert_eq!(just_below(f32::NAN), Score::MIN);
    assert_eq!(just_below(f32::INFINITY), Score::MIN);
}

/// An index with `key` and `body` fields whose documents are `(key, body)`, committed in
/// batches of `batch` so that it has several segments; `deleted` keys are then deleted.
fn index_of(docs: &[(u64, String)], batch: usize, deleted: &[u64]) -> (Index, Field) {
    let mut builder = Schema::builder();
    let key = builder.add_u64_field(KEY_FIELD, INDEXED | FAST);
    let body = builder.add_text_field("body", TEXT);
    let index = Index::create_in_ram(builder.build());
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
    for chunk in docs.chunks(batch) {
        for (doc_key, text) in chunk {
            let mut doc = TantivyDocument::new();
            doc.add_u64(key, *doc_key);
            doc.add_text(body, text);
            writer.add_document(doc).unwrap();
        }
        writer.commit().unwrap();
    }
    for &doc_key in deleted {
        writer.delete_term(Term::from_field_u64(key, doc_key));
    }
    writer.commit().unwrap();
    (index, body)
}

fn query_of(body: Field, words: &[&str]) -> BooleanQuery {
    let clauses: Vec<(Occur, Box<dyn Query>)> = words
        .iter()
        .map(|word| {
            let term = Term::from_field_text(body, word);
            (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)) as _)
        })
        .collect();
    BooleanQuery::new(clauses)
}

/// Documents with many score ties: the body depends on `key % 7` only.
fn tied_docs(n_docs: u64) -> Vec<(u64, String)> {
    let words = ["alpha", "beta", "gamma", "alpha alpha", "beta gamma", "alpha beta", "delta"];
    // Keys are shuffled relative to insertion order, so doc ids do not follow keys.
    (0..n_docs).map(|i| ((i * 37) % n_docs, words[(i % 7) as usize].to_owned())).collect()
}

/// The reference: every matching allowed document, sorted, truncated.
fn brute_force(
    searcher: &tantivy::Searcher,
    query: &BooleanQuery,
    k: usize,
    filter: Option<&dyn KeyFilter>,
) -> Vec<Hit> {
    let all = searcher.search(query, &TopKeys { k: usize::MAX, filter: None }).unwrap();
    let mut allowed: Vec<Hit> =
        all.into_iter().filter(|h| filter.is_none_or(|f| f.allows(h.key))).collect();
    allowed.sort_by(rank_order);
    allowed.truncate(k);
    allowed
}

#[test]
fn pruned_search_equals_brute_force_with_and_without_a_filter() {
    let docs = tied_docs(1001);
    let deleted = [0, 5, 500, 999];
    let (index, body) = index_of(&docs, 300, &deleted);
    let searcher = index.reader().unwrap().searcher();
    assert!(searcher.segment_readers().len() > 1);
    let query = query_of(body, &["alpha", "gamma"]);
    let odd = |key: u64| key % 2 == 1;
    let few: HashSet<u64> = [3, 14, 15, 92, 653, 589, 5].into_iter().collect();
    let filters: [Option<&dyn KeyFilter>; 3] = [None, Some(&odd), Some(&few)];
    for filter in filters {
        for k in [1, 2, 10, 143, 1000, 5000] {
            let got = searcher.search(&query, &TopKeys { k, filter }).unwrap();
            assert_eq!(got, brute_force(&searcher, &query, k, filter), "k {k}");
            assert!(got.iter().all(|h| !deleted.contains(&h.key)));
        }
    }
    let got = searcher.search(&query, &TopKeys { k: 100, filter: Some(&few) }).unwrap();
    assert!(!got.is_empty());
    assert!(got.iter().all(|h| few.contains(&h.key)));
}

#[test]
fn the_composed_path_agrees_with_the_direct_one() {
    let docs = tied_docs(400);
    let (index, body) = index_of(&docs, 150, &[7, 8]);
    let searcher = index.reader().unwrap().searcher();
    let query = query_of(body, &["beta", "delta"]);
    let multiple_of_three = |key: u64| key.is_multiple_of(3);
    let filters: [Option<&dyn KeyFilter>; 2] = [None, Some(&multiple_of_three)];
    for filter in filters {
        for k in [0, 1, 25, 1000] {
            let direct = searcher.search(&query, &TopKeys { k, filter }).unwrap();
            // A tuple collector calls `for_segment` and `collect` per document.
            let (composed, count) =
                searcher.search(&query, &(TopKeys { k, filter }, Count)).unwrap();
            assert_eq!(direct, composed, "k {k}");
            assert!(count >= direct.len());
        }
    }
}

#[test]
fn merging_segments_orders_by_score_then_key() {
    let collector = TopKeys { k: 3, filter: None };
    let merged = collector
        .merge_fruits(vec![vec![hit(5, 2.0), hit(8, 1.0)], vec![hit(2, 2.0), hit(1, 1.0)], vec![]])
        .unwrap();
    assert_eq!(merged, [hit(2, 2.0), hit(5, 2.0), hit(1, 1.0)]);
}
