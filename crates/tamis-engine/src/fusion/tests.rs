use proptest::prelude::*;
use tamis_core::Hit;

use super::{Fusion, Normalization, fuse};

fn hits(pairs: &[(u64, f32)]) -> Vec<Hit> {
    pairs.iter().map(|&(key, score)| Hit { key, score }).collect()
}

/// Fuses `lists` and compares (key, score) pairs to `expect`, in order.
fn check(lists: &[Vec<Hit>], fusion: Fusion, expect: &[(u64, f32)]) {
    let refs: Vec<&[Hit]> = lists.iter().map(Vec::as_slice).collect();
    let got = fuse(&refs, &fusion, 100).unwrap();
    let got_pairs: Vec<(u64, f32)> = got.iter().map(|h| (h.key, h.score)).collect();
    assert_eq!(got_pairs.len(), expect.len(), "{fusion:?}: got {got_pairs:?}, want {expect:?}");
    for ((gk, gs), (ek, es)) in got_pairs.iter().zip(expect) {
        assert_eq!(gk, ek, "{fusion:?}: got {got_pairs:?}, want {expect:?}");
        assert!((gs - es).abs() < 1e-6, "{fusion:?}: key {gk} score {gs}, want {es}");
    }
}

#[test]
fn rrf_sums_reciprocal_ranks() {
    let bm25 = hits(&[(1, 12.0), (2, 9.0), (3, 1.0)]);
    let dense = hits(&[(3, 0.9), (1, 0.8)]);
    check(
        &[bm25.clone(), dense.clone()],
        Fusion::rrf(2),
        &[(1, 1.0 / 61.0 + 1.0 / 62.0), (3, 1.0 / 63.0 + 1.0 / 61.0), (2, 1.0 / 62.0)],
    );
    // Weights scale each list's contribution; k changes the offset.
    check(
        &[bm25, dense],
        Fusion::Rrf { k: 0.0, weights: vec![1.0, 3.0] },
        &[(3, 1.0 / 3.0 + 3.0), (1, 1.0 + 1.5), (2, 0.5)],
    );
}

#[test]
fn min_max_fusion_normalizes_each_list() {
    let bm25 = hits(&[(1, 10.0), (2, 6.0), (3, 2.0)]);
    let dense = hits(&[(2, 0.9), (4, 0.5)]);
    // bm25: 1 → 1, 2 → 0.5, 3 → 0; dense: 2 → 1, 4 → 0; absent → the list's floor (0).
    check(
        &[bm25, dense],
        Fusion::Linear { normalization: Normalization::MinMax, weights: vec![0.5, 0.5] },
        &[(2, 0.75), (1, 0.5), (3, 0.0), (4, 0.0)],
    );
}

#[test]
fn z_score_fusion_centres_each_list() {
    let bm25 = hits(&[(1, 3.0), (2, 1.0)]); // mean 2, std 1 → 1, -1
    let dense = hits(&[(2, 5.0), (3, 1.0)]); // mean 3, std 2 → 1, -1
    check(
        &[bm25, dense],
        Fusion::Linear { normalization: Normalization::ZScore, weights: vec![1.0, 1.0] },
        // 1: 1 + floor(dense) = 1 - 1 = 0; 2: -1 + 1 = 0; 3: floor(bm25) + -1 = -2.
        &[(1, 0.0), (2, 0.0), (3, -2.0)],
    );
}

#[test]
fn constant_and_empty_lists_are_harmless() {
    let flat = hits(&[(1, 5.0), (2, 5.0)]);
    check(
        &[flat.clone(), vec![]],
        Fusion::Linear { normalization: Normalization::MinMax, weights: vec![1.0, 1.0] },
        &[(1, 1.0), (2, 1.0)],
    );
    check(
        &[flat, vec![]],
        Fusion::Linear { normalization: Normalization::ZScore, weights: vec![1.0, 1.0] },
        &[(1, 0.0), (2, 0.0)],
    );
}

#[test]
fn fused_hits_remember_ranks_and_raw_scores() {
    let bm25 = hits(&[(7, 3.5)]);
    let dense = hits(&[(8, 0.7), (7, 0.6)]);
    let got = fuse(&[&bm25, &dense], &Fusion::rrf(2), 10).unwrap();
    let seven = got.iter().find(|h| h.key == 7).unwrap();
    assert_eq!(seven.ranks, vec![Some(1), Some(2)]);
    assert_eq!(seven.scores, vec![Some(3.5), Some(0.6)]);
    let eight = got.iter().find(|h| h.key == 8).unwrap();
    assert_eq!(eight.ranks, vec![None, Some(1)]);
}

#[test]
fn invalid_configurations_are_refused() {
    let list = hits(&[(1, 1.0)]);
    for fusion in [
        Fusion::Rrf { k: 60.0, weights: vec![1.0] },
        Fusion::Rrf { k: -1.0, weights: vec![1.0, 1.0] },
        Fusion::Rrf { k: 60.0, weights: vec![1.0, f32::NAN] },
        Fusion::Linear { normalization: Normalization::MinMax, weights: vec![1.0, -0.5] },
    ] {
        assert!(fuse(&[&list, &list], &fusion, 10).is_err(), "{fusion:?}");
    }
}

fn ranked_list() -> impl Strategy<Value = Vec<Hit>> {
    // Distinct keys with descending scores, as retrievers return them.
    proptest::collection::btree_set(0u64..200, 0..40).prop_map(|keys| {
        keys.into_iter().enumerate().map(|(i, key)| Hit { key, score: 100.0 - i as f32 }).collect()
    })
}

proptest! {
    #[test]
    fn fusion_invariants(a in ranked_list(), b in ranked_list(), limit in 0usize..50) {
        for fusion in [
            Fusion::rrf(2),
            Fusion::Linear { normalization: Normalization::MinMax, weights: vec![1.0, 1.0] },
            Fusion::Linear { normalization: Normalization::ZScore, weights: vec![1.0, 1.0] },
        ] {
            let fused = fuse(&[&a, &b], &fusion, limit).unwrap();
            // Sorted, bounded, unique, and drawn from the inputs.
            prop_assert!(fused.len() <= limit);
            prop_assert!(fused.windows(2).all(|w| w[0].score > w[1].score
                || (w[0].score == w[1].score && w[0].key < w[1].key)));
            let mut keys: Vec<u64> = fused.iter().map(|h| h.key).collect();
            keys.sort_unstable();
            keys.dedup();
            prop_assert_eq!(keys.len(), fused.len());
            prop_assert!(fused.iter().all(|h| a.iter().chain(&b).any(|x| x.key == h.key)));
            // Swapping the lists (with equal weights) changes nothing.
            let swapped = fuse(&[&b, &a], &fusion, limit).unwrap();
            let order = |v: &[super::FusedHit]| v.iter().map(|h| h.key).collect::<Vec<_>>();
            prop_assert_eq!(order(&fused), order(&swapped));
        }
        // One list alone keeps its order under RRF.
        let alone = fuse(&[&a], &Fusion::rrf(1), usize::MAX).unwrap();
        prop_assert_eq!(alone.iter().map(|h| h.key).collect::<Vec<_>>(), a.iter().map(|h| h.key).collect::<Vec<_>>());
    }
}
