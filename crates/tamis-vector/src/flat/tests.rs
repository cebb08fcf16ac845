//! FlatIndex specifics: storage after swap-removal, filters during the scan, metrics.

use tamis_core::{ChunkKey, Hit};

use crate::{FlatIndex, Metric, VectorIndex, dot};

/// A named filter of the table below.
type KeyPredicate = fn(ChunkKey) -> bool;

/// Scores `query` against `vectors` the slow way: every pair, sorted best first.
fn brute_force(
    vectors: &[(ChunkKey, Vec<f32>)],
    query: &[f32],
    k: usize,
    allow: impl Fn(ChunkKey) -> bool,
) -> Vec<Hit> {
    let mut hits: Vec<Hit> = vectors
        .iter()
        .filter(|(key, _)| allow(*key))
        .map(|(key, vector)| Hit {
            key: *key,
            score: query.iter().zip(vector).map(|(a, b)| a * b).sum(),
        })
        .collect();
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
    hits.truncate(k);
    hits
}

/// Seeded vectors with integer components, so that every score is exact.
fn integer_vectors(n: usize, dimension: usize) -> Vec<(ChunkKey, Vec<f32>)> {
    (0..n as u64)
        .map(|key| {
            (
                key * 3,
                (0..dimension as u64).map(|i| ((key * 7 + i * 13) % 11) as f32 - 5.0).collect(),
            )
        })
        .collect()
}

fn as_items(vectors: &[(ChunkKey, Vec<f32>)]) -> Vec<(ChunkKey, &[f32])> {
    vectors.iter().map(|(key, vector)| (*key, vector.as_slice())).collect()
}

#[test]
fn matches_brute_force_with_and_without_filters() {
    let vectors = integer_vectors(500, 19);
    let mut index = FlatIndex::new(19, Metric::InnerProduct).unwrap();
    index.upsert(&as_items(&vectors)).unwrap();
    let cases: &[(&str, KeyPredicate)] = &[
        ("all", |_| true),
        ("one in fifty", |key| key % 50 == 0),
        ("one key", |key| key == 300),
        ("none", |_| false),
    ];
    for (query_idx, (_, query)) in vectors.iter().take(20).enumerate() {
        for &(name, allow) in cases {
            let filter = |key: ChunkKey| allow(key);
            let got = index.search(query, 10, Some(&filter)).unwrap();
            assert_eq!(
                got,
                brute_force(&vectors, query, 10, allow),
                "query {query_idx}, filter {name}"
            );
        }
        assert_eq!(
            index.search(query, 10, None).unwrap(),
            brute_force(&vectors, query, 10, |_| true)
        );
    }
}

#[test]
fn swap_removal_keeps_every_other_vector() {
    let mut vectors = integer_vectors(50, 8);
    let mut index = FlatIndex::new(8, Metric::InnerProduct).unwrap();
    index.upsert(&as_items(&vectors)).unwrap();
    // The first, a middle and the last slot, and keys that are absent.
    let removed = [0, 75, 147, 1, 2];
    assert_eq!(index.remove(&removed).unwrap(), 3);
    vectors.retain(|(key, _)| !removed.contains(key));
    assert_eq!(index.len(), vectors.len());
    for (key, vector) in &vectors {
        assert_eq!(index.get(*key), Some(vector.as_slice()), "key {key}");
    }
    for key in removed {
        assert!(!index.contains(key));
        assert_eq!(index.get(key), None);
    }
    let query = &vectors[5].1;
    assert_eq!(index.search(query, 7, None).unwrap(), brute_force(&vectors, query, 7, |_| true));

    // Removing everything leaves an empty, reusable index.
    let keys: Vec<ChunkKey> = vectors.iter().map(|(key, _)| *key).collect();
    assert_eq!(index.remove(&keys).unwrap(), keys.len());
    assert!(index.is_empty());
    assert_eq!(index.search(query, 3, None).unwrap(), vec![]);
    index.upsert(&[(1, query.as_slice())]).unwrap();
    assert_eq!(index.search(query, 3, None).unwrap().len(), 1);
}

#[test]
fn cosine_scores_are_normalised_dot_products() {
    let vectors = integer_vectors(40, 16);
    let mut inner = FlatIndex::new(16, Metric::InnerProduct).unwrap();
    let mut cosine = FlatIndex::new(16, Metric::Cosine).unwrap();
    inner.upsert(&as_items(&vectors)).unwrap();
    cosine.upsert(&as_items(&vectors)).unwrap();
    let query = &vectors[3].1;
    let norm = |v: &[f32]| dot(v, v).sqrt();
    for hit in cosine.search(query, 40, None).unwrap() {
        let vector = inner.get(hit.key).unwrap();
        let expect = dot(query, vector) / (norm(query) * norm(vector));
        assert!((hit.score - expect).abs() < 1e-6, "{hit:?} vs {expect}");
        let stored = cosine.get(hit.key).unwrap();
        assert!((norm(stored) - 1.0).abs() < 1e-6, "stored vectors are unit length");
    }
    // The query itself is its own best match under cosine, with score 1.
    let best = cosine.search(query, 1, None).unwrap()[0];
    assert_eq!(best.key, vectors[3].0);
    assert!((best.score - 1.0).abs() < 1e-6);
}

#[test]
fn huge_k_is_not_preallocated() {
    let mut index = FlatIndex::new(2, Metric::InnerProduct).unwrap();
    index.upsert(&[(1, &[1.0, 0.0]), (2, &[0.0, 1.0])]).unwrap();
    assert_eq!(index.search(&[1.0, 1.0], usize::MAX, None).unwrap().len(), 2);
}
