//! One tester for every backend: the [`VectorIndex`] contract, checked the same way
//! for [`FlatIndex`] and [`HnswIndex`].

use tamis_core::{ChunkKey, Hit, KeyFilter};

use crate::{Error, FlatIndex, HnswIndex, HnswParams, MAX_KEY, Metric, VectorIndex};

/// Scores may differ from the exact dot product by rounding (HNSW reports
/// `1 − (1 − similarity)`).
const TOLERANCE: f32 = 1e-5;

/// Searches and compares the hits, best first, with `expect` as `(key, score)`.
fn check(
    index: &dyn VectorIndex,
    query: &[f32],
    k: usize,
    filter: Option<&dyn KeyFilter>,
    expect: &[(ChunkKey, f32)],
) {
    let hits = index.search(query, k, filter).unwrap();
    let keys: Vec<ChunkKey> = hits.iter().map(|hit| hit.key).collect();
    let expect_keys: Vec<ChunkKey> = expect.iter().map(|&(key, _)| key).collect();
    assert_eq!(keys, expect_keys, "keys for query {query:?}, k {k}: {hits:?}");
    for (hit, &(_, score)) in hits.iter().zip(expect) {
        assert!((hit.score - score).abs() <= TOLERANCE, "score of {hit:?}, expected {score}");
    }
}

fn is_dimension_mismatch(err: &Error, expected: usize, got: usize) -> bool {
    matches!(err, Error::DimensionMismatch { expected: e, got: g } if *e == expected && *g == got)
}

/// The contract for an empty inner-product index of dimension 4.
fn check_inner_product_backend(index: &mut dyn VectorIndex) {
    assert_eq!((index.dimension(), index.metric(), index.len()), (4, Metric::InnerProduct, 0));
    assert!(index.is_empty());
    check(index, &[1.0, 0.0, 0.0, 0.0], 3, None, &[]);

    let items: &[(ChunkKey, &[f32])] = &[
        (1, &[1.0, 0.0, 0.0, 0.0]),
        (2, &[0.0, 1.0, 0.0, 0.0]),
        (3, &[0.5, 0.5, 0.0, 0.0]),
        (4, &[0.0, 0.0, 1.0, 0.0]),
        (5, &[0.0, 0.0, 0.0, 2.0]),
    ];
    index.upsert(items).unwrap();
    assert_eq!(index.len(), 5);
    assert!(!index.is_empty());

    // Order, scores, k smaller and larger than the index, k = 0.
    let query = [1.0, 0.2, 0.0, 0.1];
    check(index, &query, 2, None, &[(1, 1.0), (3, 0.6)]);
    check(index, &query, 10, None, &[(1, 1.0), (3, 0.6), (2, 0.2), (5, 0.2), (4, 0.0)]);
    check(index, &query, 0, None, &[]);
    assert_eq!(index.search(&query, usize::MAX, None).unwrap().len(), 5);

    // Ties go to the smaller key.
    index.upsert(&[(9, &[1.0, 0.0, 0.0, 0.0])]).unwrap();
    check(index, &[1.0, 0.0, 0.0, 0.0], 2, None, &[(1, 1.0), (9, 1.0)]);
    assert_eq!(index.remove(&[9]).unwrap(), 1);

    // Upsert replaces; within a batch the last vector of a key wins.
    index
        .upsert(&[
            (3, &[0.0, 0.0, 0.0, 0.5]),
            (4, &[9.0, 0.0, 0.0, 0.0]),
            (4, &[0.0, 0.0, 3.0, 0.0]),
        ])
        .unwrap();
    assert_eq!(index.len(), 5);
    check(index, &[0.0, 0.0, 1.0, 1.0], 3, None, &[(4, 3.0), (5, 2.0), (3, 0.5)]);

    // Remove counts the keys that were present, once each.
    assert_eq!(index.remove(&[2, 2, 42]).unwrap(), 1);
    assert_eq!(index.len(), 4);
    check(index, &[0.0, 1.0, 0.0, 0.0], 4, None, &[(1, 0.0), (3, 0.0), (4, 0.0), (5, 0.0)]);
    // A removed key can come back.
    index.upsert(&[(2, &[0.0, 1.0, 0.0, 0.0])]).unwrap();
    check(index, &[0.0, 1.0, 0.0, 0.0], 1, None, &[(2, 1.0)]);

    // Filters restrict the result but do not shorten it below what they allow.
    let odd = |key: ChunkKey| key % 2 == 1;
    check(index, &[1.0, 1.0, 1.0, 1.0], 10, Some(&odd), &[(5, 2.0), (1, 1.0), (3, 0.5)]);
    let nothing = |_: ChunkKey| false;
    check(index, &[1.0, 1.0, 1.0, 1.0], 10, Some(&nothing), &[]);
    let only_one: std::collections::HashSet<ChunkKey> = [4].into();
    check(index, &[1.0, 0.0, 0.0, 0.0], 3, Some(&only_one), &[(4, 0.0)]);

    check_rejections(index);
}

/// Invalid input is a typed error and leaves the index unchanged.
fn check_rejections(index: &mut dyn VectorIndex) {
    let len = index.len();
    let before = index.search(&[1.0, 1.0, 1.0, 1.0], 10, None).unwrap();

    let errors = [
        index.upsert(&[(70, &[1.0, 0.0, 0.0, 0.0]), (71, &[1.0, 0.0, 0.0])]).unwrap_err(),
        index.search(&[1.0; 5], 3, None).unwrap_err(),
        index.search(&[], 0, None).unwrap_err(),
        index.upsert(&[(72, &[0.0, f32::NAN, 0.0, 0.0])]).unwrap_err(),
        index.upsert(&[(73, &[0.0, 0.0, 0.0, f32::NEG_INFINITY])]).unwrap_err(),
        index.search(&[0.0, 0.0, f32::INFINITY, 0.0], 3, None).unwrap_err(),
        index.upsert(&[(MAX_KEY + 1, &[1.0, 0.0, 0.0, 0.0])]).unwrap_err(),
    ];
    assert!(is_dimension_mismatch(&errors[0], 4, 3), "{}", errors[0]);
    assert!(is_dimension_mismatch(&errors[1], 4, 5), "{}", errors[1]);
    assert!(is_dimension_mismatch(&errors[2], 4, 0), "{}", errors[2]);
    assert!(matches!(errors[3], Error::NonFiniteVector { key: 72, position: 1 }), "{}", errors[3]);
    assert!(matches!(errors[4], Error::NonFiniteVector { key: 73, position: 3 }), "{}", errors[4]);
    assert!(matches!(errors[5], Error::NonFiniteQuery { position: 2 }), "{}", errors[5]);
    assert!(matches!(errors[6], Error::ReservedKey { key } if key == MAX_KEY + 1), "{}", errors[6]);
    for err in &errors {
        assert_eq!(err.kind(), crate::ErrorKind::User, "{err}");
    }
    assert_eq!(index.len(), len);
    assert_eq!(index.search(&[1.0, 1.0, 1.0, 1.0], 10, None).unwrap(), before);

    // The largest allowed key works.
    index.upsert(&[(MAX_KEY, &[0.0, 0.0, 0.0, 9.0])]).unwrap();
    check(index, &[0.0, 0.0, 0.0, 1.0], 1, None, &[(MAX_KEY, 9.0)]);
}

/// The contract for an empty cosine index of dimension 2.
fn check_cosine_backend(index: &mut dyn VectorIndex) {
    assert_eq!(index.metric(), Metric::Cosine);
    // Under the inner product key 1 would win (10 > 1); under cosine key 2 does.
    index.upsert(&[(1, &[10.0, 10.0]), (2, &[3.0, 0.0]), (3, &[-1.0, 0.0])]).unwrap();
    let half_sqrt2 = std::f32::consts::FRAC_1_SQRT_2;
    check(index, &[1.0, 0.0], 3, None, &[(2, 1.0), (1, half_sqrt2), (3, -1.0)]);
    // The query's length does not matter.
    check(index, &[100.0, 0.0], 1, None, &[(2, 1.0)]);

    let err = index.upsert(&[(4, &[0.0, 0.0])]).unwrap_err();
    assert!(matches!(err, Error::ZeroVector { key: 4 }), "{err}");
    let err = index.search(&[0.0, 0.0], 1, None).unwrap_err();
    assert!(matches!(err, Error::ZeroQuery), "{err}");
    // Components too large to square in f32 still normalise.
    index.upsert(&[(5, &[0.0, 3e38])]).unwrap();
    check(index, &[0.0, 1.0], 1, None, &[(5, 1.0)]);
}

fn hnsw(dimension: usize, metric: Metric) -> HnswIndex {
    HnswIndex::new(dimension, metric, HnswParams::default()).unwrap()
}

#[test]
fn flat_meets_the_contract() {
    check_inner_product_backend(&mut FlatIndex::new(4, Metric::InnerProduct).unwrap());
    check_cosine_backend(&mut FlatIndex::new(2, Metric::Cosine).unwrap());
}

#[test]
fn hnsw_meets_the_contract() {
    check_inner_product_backend(&mut hnsw(4, Metric::InnerProduct));
    check_cosine_backend(&mut hnsw(2, Metric::Cosine));
}

#[test]
fn hnsw_with_insertion_threads_meets_the_contract() {
    let params = HnswParams { threads: 4, ..HnswParams::default() };
    check_inner_product_backend(&mut HnswIndex::new(4, Metric::InnerProduct, params).unwrap());
}

#[test]
fn backends_are_usable_as_trait_objects() {
    let backends: Vec<Box<dyn VectorIndex>> = vec![
        Box::new(FlatIndex::new(3, Metric::InnerProduct).unwrap()),
        Box::new(hnsw(3, Metric::InnerProduct)),
    ];
    for mut index in backends {
        index.upsert(&[(1, &[1.0, 2.0, 3.0])]).unwrap();
        let hits = index.search(&[1.0, 0.0, 0.0], 5, None).unwrap();
        assert_eq!(hits, vec![Hit { key: 1, score: 1.0 }]);
    }
}

#[test]
fn zero_dimension_is_rejected() {
    let flat = FlatIndex::new(0, Metric::InnerProduct).unwrap_err();
    let hnsw = HnswIndex::new(0, Metric::InnerProduct, HnswParams::default()).unwrap_err();
    for err in [flat, hnsw] {
        assert!(matches!(err, Error::InvalidParameter { name: "dimension", .. }), "{err}");
    }
}
