//! Tests of the top-k heap; `top_hits` against brute force is in `scoring/tests.rs`.

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
