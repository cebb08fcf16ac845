//! The top-k collector: BM25 order, ties broken by key, the key filter applied while collecting.
//!
//! tantivy's `TopDocs` breaks ties by internal doc address, which changes when segments
//! merge, and its `FilterCollector` needs a `'static` predicate, which a borrowed
//! `&dyn KeyFilter` is not. [`TopKeys`] does both jobs itself: it reads each matching
//! document's key from the `key` fast field, asks the filter, and keeps the best `k` by
//! (score descending, key ascending). So a filter that allows 1% of the documents still
//! yields `k` hits, drawn from the allowed ones.
//!
//! [`TopKeys`] drives `Weight::for_each_pruning` itself, as `TopDocs` does, so Block-WAND
//! skips documents that cannot enter the top `k`; documents that the filter rejects simply
//! do not raise the threshold.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tamis_core::{Hit, KeyFilter};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::Column;
use tantivy::query::Weight;
use tantivy::{BitSet, DocId, Score, SegmentOrdinal, SegmentReader};

/// The name of the fast `u64` field holding each document's `ChunkKey`.
pub(crate) const KEY_FIELD: &str = "key";

/// Collects the best `k` hits whose keys the filter allows.
pub(crate) struct TopKeys<'f> {
    /// How many hits to keep.
    pub(crate) k: usize,
    /// Which keys may be returned; `None` allows all.
    pub(crate) filter: Option<&'f dyn KeyFilter>,
}

impl Collector for TopKeys<'_> {
    type Fruit = Vec<Hit>;
    type Child = SegmentTopKeys;

    /// Only used when this collector is composed with others (which call `collect` per
    /// document): tantivy's segment collectors must be `'static`, so the borrowed filter is
    /// resolved up front into a bitset of the segment's allowed documents.
    /// [`TopKeys::collect_segment`], the path `Searcher::search` takes, asks it lazily instead.
    fn for_segment(
        &self,
        _segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentTopKeys> {
        let keys = reader.fast_fields().u64(KEY_FIELD)?;
        let allowed = self.filter.map(|filter| {
            let mut allowed = BitSet::with_max_value(reader.max_doc());
            for doc in 0..reader.max_doc() {
                if keys.first(doc).is_some_and(|key| filter.allows(key)) {
                    allowed.insert(doc);
                }
            }
            allowed
        });
        Ok(SegmentTopKeys { heap: TopHeap::new(self.k, reader.max_doc()), keys, allowed })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, segment_fruits: Vec<Vec<Hit>>) -> tantivy::Result<Vec<Hit>> {
        let mut hits: Vec<Hit> = segment_fruits.into_iter().flatten().collect();
        hits.sort_by(rank_order);
        hits.truncate(self.k);
        Ok(hits)
    }

    fn collect_segment(
        &self,
        weight: &dyn Weight,
        _segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Vec<Hit>> {
        if self.k == 0 {
            return Ok(Vec::new());
        }
        let keys = reader.fast_fields().u64(KEY_FIELD)?;
        let alive = reader.alive_bitset();
        let mut heap = TopHeap::new(self.k, reader.max_doc());
        let mut threshold = Score::MIN;
        weight.for_each_pruning(Score::MIN, reader, &mut |doc, score| {
            if alive.is_some_and(|alive| alive.is_deleted(doc)) {
                return threshold;
            }
            let Some(key) = keys.first(doc) else { return threshold };
            if self.filter.is_none_or(|filter| filter.allows(key)) {
                heap.push(Hit { key, score });
                threshold = heap.threshold();
            }
            threshold
        })?;
        Ok(heap.into_sorted_vec())
    }
}

/// The per-segment half of [`TopKeys`], for the composed (`collect` per document) path.
pub(crate) struct SegmentTopKeys {
    heap: TopHeap,
    keys: Column<u64>,
    /// The segment's documents whose keys the filter allows; `None` when there is no filter.
    allowed: Option<BitSet>,
}

impl SegmentCollector for SegmentTopKeys {
    type Fruit = Vec<Hit>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.allowed.as_ref().is_some_and(|allowed| !allowed.contains(doc)) {
            return;
        }
        if let Some(key) = self.keys.first(doc) {
            self.heap.push(Hit { key, score });
        }
    }

    fn harvest(self) -> Vec<Hit> {
        self.heap.into_sorted_vec()
    }
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
struct TopHeap {
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
