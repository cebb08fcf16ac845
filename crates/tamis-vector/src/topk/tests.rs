//! Top-k selection and the tie rule.

use tamis_core::Hit;

use super::{TopK, sort_hits};

/// Pushes `(key, score)` pairs into a `TopK` of size `k` and compares the kept keys,
/// best first, with `expect`; sorting the whole input must agree.
fn check(hits: &[(u64, f32)], k: usize, expect: &[u64]) {
    let hits: Vec<Hit> = hits.iter().map(|&(key, score)| Hit { key, score }).collect();
    let mut top = TopK::new(k);
    for &hit in &hits {
        top.push(hit);
    }
    let got: Vec<u64> = top.into_sorted().iter().map(|hit| hit.key).collect();
    assert_eq!(got, expect, "top {k} of {hits:?}");

    let mut sorted = hits.clone();
    sort_hits(&mut sorted);
    let sorted: Vec<u64> = sorted.iter().take(k).map(|hit| hit.key).collect();
    assert_eq!(sorted, expect, "sorted {hits:?}");
}

#[test]
fn keeps_the_best_in_order() {
    check(&[], 3, &[]);
    check(&[(1, 0.5)], 0, &[]);
    check(&[(1, 0.5), (2, 0.9), (3, 0.1)], 2, &[2, 1]);
    check(&[(1, 0.5), (2, 0.9), (3, 0.1)], 10, &[2, 1, 3]);
    check(&[(1, -1.0), (2, -0.5), (3, -2.0)], 1, &[2]);
    check(&[(5, f32::NEG_INFINITY), (6, f32::INFINITY)], 2, &[6, 5]);
}

#[test]
fn ties_go_to_the_smaller_key() {
    check(&[(9, 0.5), (3, 0.5), (7, 0.5)], 2, &[3, 7]);
    check(&[(3, 0.5), (9, 0.5), (7, 0.5)], 3, &[3, 7, 9]);
    check(&[(9, 0.5), (3, 0.5), (1, 0.2), (7, 0.5)], 3, &[3, 7, 9]);
    check(&[(2, 0.5), (1, 0.2), (0, 0.2)], 2, &[2, 0]);
}

#[test]
fn a_later_better_hit_evicts_the_worst() {
    check(&[(1, 0.1), (2, 0.2), (3, 0.3), (4, 0.4)], 2, &[4, 3]);
    check(&[(4, 0.4), (3, 0.3), (2, 0.2), (1, 0.1)], 2, &[4, 3]);
}
