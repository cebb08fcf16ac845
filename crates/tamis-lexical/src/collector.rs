//! The top-k collection: BM25 order, ties broken by key, the key filter applied while
//! collecting.
//!
//! tantivy's `TopDocs` breaks ties by internal doc address, which changes when segments
//! merge; [`top_hits`] reads each matching document's key from the `key` fast field, asks
//! the filter, and keeps the best `k` by (score descending, key ascending). So a filter
//! that allows 1% of the documents still yields `k` hits, drawn from the allowed ones.
//!
//! The threshold handed back to [`Bm25Query::for_each_top`] lets it skip documents that
//! cannot enter the top `k`; documents that the filter rejects (or that are deleted) simply
//! do not raise it. One heap serves every segment, so a later segment starts with the
//! threshold the earlier ones reached.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tamis_core::{Hit, KeyFilter};
use tantivy::{Score, Searcher};

use crate::scoring::Bm25Query;

/// The name of the fast `u64` field holding each document's `ChunkKey`.
pub(crate) const KEY_FIELD: &str = "key";

/// The best `k` hits of `query` whose keys `filter` allows (all when `None`), best first.
pub(crate) fn top_hits(
    searcher: &Searcher,
    query: &Bm25Query,
    k: usize,
    filter: Option<&dyn KeyFilter>,
) -> tantivy::Result<Vec<Hit>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let max_doc = searcher.segment_readers().iter().map(|r| r.max_doc()).sum::<u32>();
    let mut heap = TopHeap::new(k, max_doc);
    for reader in searcher.segment_readers() {
        let keys = reader.fast_fields().u64(KEY_FIELD)?;
        let alive = reader.alive_bitset();
        query.for_each_top(reader, heap.threshold(), |doc, score| {
            if alive.is_none_or(|alive| alive.is_alive(doc))
                && let Some(key) = keys.first(doc)
                && filter.is_none_or(|filter| filter.allows(key))
            {
                heap.push(Hit { key, score });
            }
            heap.threshold()
        })?;
    }
    Ok(heap.into_sorted_vec())
}

/// The final order of hits: higher score first, then smaller key.
pub(crate) fn rank_order(a: &Hit, b: &Hit) -> Ordering {
    b.score.total_cmp(&a.score).then(a.key.cmp(&b.key))
}

/// A hit ordered so that the *worse* hit is the greater: a max-heap of these keeps the worst
/// of the current top `k` on top, ready to be evicted.
#[derive(Debug, Clone, Copy)]
struct Worst(Hit);

impl PartialEq for Worst {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Worst {}

impl PartialOrd for Worst {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Worst {
    fn cmp(&self, other: &Self) -> Ordering {
        rank_order(&self.0, &other.0)
    }
}

/// The best `k` hits seen so far.
pub(crate) struct TopHeap {
    k: usize,
    heap: BinaryHeap<Worst>,
}

impl TopHeap {
    /// `max_doc` bounds the allocation, so a huge `k` costs nothing up front.
    fn new(k: usize, max_doc: u32) -> TopHeap {
        let capacity = k.min(max_doc as usize).saturating_add(1);
        TopHeap { k, heap: BinaryHeap::with_capacity(capacity) }
    }

    fn push(&mut self, hit: Hit) {
        if self.k == 0 {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(Worst(hit));
        } else if let Some(mut worst) = self.heap.peek_mut()
            && rank_order(&hit, &worst.0) == Ordering::Less
        {
            *worst = Worst(hit);
        }
    }

    /// The score a document must *exceed* to be worth scoring in full (Block-WAND passes on
    /// `score > threshold` only). It sits just below the current k-th score, because a hit
    /// with an equal score and a smaller key still enters.
    fn threshold(&self) -> Score {
        match self.heap.peek() {
            Some(worst) if self.heap.len() >= self.k => just_below(worst.0.score),
            _ => Score::MIN,
        }
    }

    fn into_sorted_vec(self) -> Vec<Hit> {
        // `BinaryHeap::into_sorted_vec` is ascending by `Worst`, that is best first.
        self.heap.into_sorted_vec().into_iter().map(|Worst(hit)| hit).collect()
    }
}

/// The largest float strictly below `score`, or `Score::MIN` for anything not finite
/// (`f32::next_down` needs Rust 1.86, newer than this workspace's minimum).
pub(crate) fn just_below(score: Score) -> Score {
    if !score.is_finite() {
        return Score::MIN;
    }
    if score == 0.0 {
        return -Score::from_bits(1);
    }
    let bits = score.to_bits();
    if score > 0.0 { Score::from_bits(bits - 1) } else { Score::from_bits(bits + 1) }
}

#[cfg(test)]
mod tests;
