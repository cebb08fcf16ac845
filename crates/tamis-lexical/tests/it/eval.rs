//! A small evaluator with trec_eval's conventions (what pytrec_eval and BEIR report).
//!
//! nDCG@k: gain = graded relevance, discount = log2(rank + 1) with ranks from 1, the ideal
//! ranking made of all judged relevant documents of the query. Recall@k: relevant documents
//! in the top k over all relevant documents. A query whose run is empty scores 0; every
//! judged query counts in the mean.

use crate::beir::Judged;

/// nDCG@k of `ranking` (document ids, best first).
pub fn ndcg_at(ranking: &[&str], judged: &Judged, k: usize) -> f64 {
    let dcg: f64 = ranking
        .iter()
        .take(k)
        .enumerate()
        .map(|(rank_idx, id)| gain(judged, id) / discount(rank_idx))
        .sum();
    let mut ideal: Vec<u32> = judged.values().copied().filter(|&rel| rel > 0).collect();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let ideal_dcg: f64 = ideal
        .iter()
        .take(k)
        .enumerate()
        .map(|(rank_idx, &rel)| f64::from(rel) / discount(rank_idx))
        .sum();
    if ideal_dcg > 0.0 { dcg / ideal_dcg } else { 0.0 }
}

/// Recall@k of `ranking`.
pub fn recall_at(ranking: &[&str], judged: &Judged, k: usize) -> f64 {
    let n_relevant = judged.values().filter(|&&rel| rel > 0).count();
    if n_relevant == 0 {
        return 0.0;
    }
    let found = ranking.iter().take(k).filter(|id| gain(judged, id) > 0.0).count();
    found as f64 / n_relevant as f64
}

fn gain(judged: &Judged, id: &str) -> f64 {
    judged.get(id).map_or(0.0, |&rel| f64::from(rel))
}

/// The discount at 0-based `rank_idx`: log2 of the 1-based rank plus one.
fn discount(rank_idx: usize) -> f64 {
    (rank_idx as f64 + 2.0).log2()
}

#[test]
fn ndcg_and_recall_follow_trec_eval() {
    let judged: Judged =
        [("a", 2), ("c", 1), ("d", 1)].map(|(id, rel)| (id.to_owned(), rel)).into();
    // DCG = 2/log2(2) + 0 + 1/log2(4) = 2.5; ideal = 2 + 1/log2(3) + 1/log2(4).
    let expect = 2.5 / (2.0 + 1.0 / 3f64.log2() + 0.5);
    assert!((ndcg_at(&["a", "b", "c"], &judged, 10) - expect).abs() < 1e-12);
    // The cut-off applies to the run and to the ideal ranking alike.
    assert!((ndcg_at(&["a", "b", "c"], &judged, 1) - 1.0).abs() < 1e-12);
    assert!(
        (ndcg_at(&["d", "c", "a"], &judged, 10) - ndcg_at(&["c", "d", "a"], &judged, 10)).abs()
            < 1e-12
    );
    assert!((ndcg_at(&["a", "c", "d"], &judged, 10) - 1.0).abs() < 1e-12);
    assert_eq!(ndcg_at(&[], &judged, 10), 0.0);
    assert!((recall_at(&["a", "b", "c"], &judged, 100) - 2.0 / 3.0).abs() < 1e-12);
    assert!((recall_at(&["b", "a"], &judged, 1)).abs() < 1e-12);
}
