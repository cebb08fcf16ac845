//! Bounded top-k selection under the crate's ranking rule.
//!
//! Every search in this crate returns hits best first: higher score first, and on equal
//! scores the smaller key first, so results are deterministic and backends can be
//! compared hit for hit. [`TopK`] keeps the `k` best hits of a scan in a heap whose
//! root is the worst kept hit, so a scan over `n` vectors costs `O(n log k)` and never
//! sorts (or truncates) the full candidate list.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tamis_core::Hit;

/// Orders hits best first: higher score, then smaller key.
pub(crate) fn best_first(a: &Hit, b: &Hit) -> Ordering {
    b.score.total_cmp(&a.score).then(a.key.cmp(&b.key))
}

/// Sorts hits best first.
pub(crate) fn sort_hits(hits: &mut [Hit]) {
    hits.sort_unstable_by(best_first);
}

/// A hit ordered so that the worse of two hits is the greater, putting the worst kept
/// hit at the root of a max-heap.
#[derive(Debug, Clone, Copy)]
struct Ranked(Hit);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Ranked {}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        best_first(&self.0, &other.0)
    }
}

/// Keeps the `k` best hits pushed into it.
#[derive(Debug)]
pub(crate) struct TopK {
    k: usize,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    /// An empty collector for the `k` best hits.
    pub(crate) fn new(k: usize) -> Self {
        // `k` comes from the caller and may be huge; the heap grows as hits arrive.
        TopK { k, heap: BinaryHeap::with_capacity(k.min(1024)) }
    }

    /// Offers a hit; it is kept if it beats the worst of the `k` kept so far.
    #[inline]
    pub(crate) fn push(&mut self, hit: Hit) {
        if self.heap.len() < self.k {
            self.heap.push(Ranked(hit));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && best_first(&hit, &worst.0) == Ordering::Less
        {
            *worst = Ranked(hit);
        }
    }

    /// The kept hits, best first.
    pub(crate) fn into_sorted(self) -> Vec<Hit> {
        self.heap.into_sorted_vec().into_iter().map(|ranked| ranked.0).collect()
    }
}

#[cfg(test)]
mod tests;
