//! [`HnswIndex`]: approximate search over an HNSW graph kept by the `usearch` crate.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use tamis_core::{ChunkKey, Hit, KeyFilter};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::metric::{prepare_query, prepare_vector};
use crate::topk::sort_hits;
use crate::{Error, Metric, VectorIndex};

mod contexts;
mod file;
mod params;

use contexts::Contexts;
pub use params::HnswParams;

/// Approximate nearest-neighbour search in a hierarchical navigable small-world graph.
///
/// The graph, the vectors (stored as `f32`, unquantised) and the key lookup live in a
/// `usearch` index. This wrapper adds what the engine relies on:
///
/// - validation shared with [`FlatIndex`](crate::FlatIndex), and the same scores
///   (`usearch` returns distances `1 − similarity`; they are turned back);
/// - capacity grown ahead of insertions, doubling, so a stream of small upserts costs
///   amortised `O(1)` reallocations;
/// - upsert as remove-then-add (`usearch` refuses duplicate keys), with the last vector
///   of a key winning inside a batch;
/// - parallel insertion of a batch on [`HnswParams::threads`] threads;
/// - filtered search *inside* the graph walk: the filter decides which visited nodes
///   may enter the result, while the walk still passes through the others, so a filter
///   that allows 2% of the keys still returns `k` hits;
/// - searches from any number of threads (`usearch` holds a fixed number of search
///   contexts and fails a search that finds none free; here such a search waits);
/// - [`save`](Self::save) and [`load`](Self::load) to and from a single file.
///
/// ```
/// use tamis_vector::{HnswIndex, HnswParams, Metric, VectorIndex};
///
/// let mut index = HnswIndex::new(2, Metric::Cosine, HnswParams::default()).unwrap();
/// index.upsert(&[(1, &[1.0, 0.0]), (2, &[0.6, 0.8]), (3, &[0.0, -1.0])]).unwrap();
/// let odd = |key: u64| key % 2 == 1;
/// let hits = index.search(&[0.0, 1.0], 1, Some(&odd)).unwrap();
/// assert_eq!(hits[0].key, 1);
/// ```
pub struct HnswIndex {
    index: Index,
    metric: Metric,
    params: HnswParams,
    contexts: Contexts,
}

/// The search expansion `usearch` itself is configured with: the smallest, so that the
/// number of results asked for sets each search's own (see
/// [`HnswIndex::search_with_expansion`]). Zero would mean `usearch`'s default.
pub(crate) const USEARCH_EXPANSION_SEARCH: usize = 1;

/// Capacity is never grown by less than this many vectors.
const MIN_CAPACITY: usize = 1024;

/// A batch is split across threads only when each thread gets at least this many
/// vectors; below that, spawning costs more than it saves.
const MIN_ITEMS_PER_THREAD: usize = 256;

impl HnswIndex {
    /// An empty index of vectors with `dimension` components.
    pub fn new(dimension: usize, metric: Metric, params: HnswParams) -> crate::Result<Self> {
        if dimension == 0 {
            return Err(Error::InvalidParameter {
                name: "dimension",
                message: "must be at least 1".to_owned(),
            });
        }
        params.validate()?;
        let options = IndexOptions {
            dimensions: dimension,
            metric: metric_kind(metric),
            quantization: ScalarKind::F32,
            connectivity: params.connectivity,
            expansion_add: params.expansion_add,
            expansion_search: USEARCH_EXPANSION_SEARCH,
            multi: false,
        };
        let index = Index::new(&options).map_err(|err| Error::backend("create an index", err))?;
        HnswIndex::wrap(index, metric, params)
    }

    /// Reserves thread contexts (and no vectors yet) for an index fresh from `usearch`.
    fn wrap(index: Index, metric: Metric, params: HnswParams) -> crate::Result<Self> {
        let contexts = Contexts::new(context_count(params.threads));
        index
            .reserve_capacity_and_threads(index.capacity(), contexts.count())
            .map_err(|err| Error::backend("reserve thread contexts", err))?;
        Ok(HnswIndex { index, metric, params, contexts })
    }

    /// The parameters in use. After [`load`](Self::load), `connectivity` is the saved
    /// graph's.
    pub fn params(&self) -> HnswParams {
        self.params
    }

    /// Changes the default search expansion `ef` (see [`HnswParams::expansion_search`]).
    pub fn set_expansion_search(&mut self, expansion_search: usize) -> crate::Result<()> {
        HnswParams { expansion_search, ..self.params }.validate()?;
        self.params.expansion_search = expansion_search;
        Ok(())
    }

    /// Like [`VectorIndex::search`], with the search expansion `ef` of this one search
    /// instead of [`HnswParams::expansion_search`]: the walk keeps `max(expansion, k)`
    /// candidates. Searches with different expansions may run at once.
    pub fn search_with_expansion(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn KeyFilter>,
        expansion: usize,
    ) -> crate::Result<Vec<Hit>> {
        if expansion == 0 {
            return Err(Error::InvalidParameter {
                name: "expansion_search",
                message: "must be at least 1, got 0".to_owned(),
            });
        }
        let query = prepare_query(self.metric, self.dimension(), query)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        // `usearch` walks with `max(its configured expansion, wanted)` candidates and
        // returns `wanted`; its configured expansion is 1, so asking for `ef` results
        // sets this search's `ef` without touching the index, and the list is cut to `k`.
        // It allocates room for `wanted` results up front; more than `len` cannot come back.
        let wanted = k.max(expansion).min(self.len());
        let _context = self.contexts.acquire();
        let matches = match filter {
            None => self.index.search(&query, wanted),
            Some(filter) => {
                // The predicate is called from C++ through an `extern "C"` trampoline,
                // where a panic would abort the process: catch it, stop admitting
                // keys, and re-raise it once the search has returned.
                let panic = RefCell::new(None);
                let allows = |key: ChunkKey| {
                    if panic.borrow().is_some() {
                        return false;
                    }
                    catch_unwind(AssertUnwindSafe(|| filter.allows(key))).unwrap_or_else(
                        |payload| {
                            *panic.borrow_mut() = Some(payload);
                            false
                        },
                    )
                };
                let matches = self.index.filtered_search(&query, wanted, allows);
                if let Some(payload) = panic.into_inner() {
                    resume_unwind(payload);
                }
                matches
            }
        }
        .map_err(|err| Error::backend("search", err))?;
        let mut hits: Vec<Hit> = matches
            .keys
            .iter()
            .zip(&matches.distances)
            .map(|(&key, &distance)| Hit { key, score: 1.0 - distance })
            .collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        Ok(hits)
    }

    /// Whether `key` is in the index.
    pub fn contains(&self, key: ChunkKey) -> bool {
        self.index.contains(key)
    }

    /// How many vectors the index can hold before it grows again.
    pub fn capacity(&self) -> usize {
        self.index.capacity()
    }

    /// A lower bound (within about 10%) of the memory the index uses, in bytes.
    pub fn memory_usage_bytes(&self) -> usize {
        self.index.memory_usage()
    }

    /// Grows the capacity, at least doubling it, so that `additional` more vectors fit.
    fn reserve_for(&mut self, additional: usize) -> crate::Result<()> {
        // Slots of removed keys are reused by later insertions, so what must fit is
        // the live keys plus the new ones.
        let needed = self.index.size() + additional;
        let capacity = self.index.capacity();
        if needed <= capacity {
            return Ok(());
        }
        let grown = needed.max(capacity.saturating_mul(2)).max(MIN_CAPACITY);
        self.index
            .reserve_capacity_and_threads(grown, self.contexts.count())
            .map_err(|err| Error::backend("reserve capacity", err))
    }

    /// Adds vectors whose keys are absent, on up to `params.threads` threads.
    fn insert(&self, items: &[(ChunkKey, Cow<'_, [f32]>)]) -> crate::Result<()> {
        let add_all = |part: &[(ChunkKey, Cow<'_, [f32]>)]| -> crate::Result<()> {
            for (key, vector) in part {
                self.index.add(*key, vector).map_err(|err| Error::backend("add a vector", err))?;
            }
            Ok(())
        };
        let threads = self.params.threads.min(items.len() / MIN_ITEMS_PER_THREAD).max(1);
        if threads == 1 {
            return add_all(items);
        }
        // `usearch` hands each concurrent `add` its own thread context (we reserved
        // `threads` of them at least) and locks the graph nodes it links.
        let part_len = items.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let workers: Vec<_> =
                items.chunks(part_len).map(|part| scope.spawn(move || add_all(part))).collect();
            let mut outcome = Ok(());
            for worker in workers {
                match worker.join() {
                    Ok(result) => outcome = outcome.and(result),
                    Err(payload) => resume_unwind(payload),
                }
            }
            outcome
        })
    }
}

impl VectorIndex for HnswIndex {
    fn dimension(&self) -> usize {
        self.index.dimensions()
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn len(&self) -> usize {
        self.index.size()
    }

    fn upsert(&mut self, items: &[(ChunkKey, &[f32])]) -> crate::Result<()> {
        let dimension = self.dimension();
        let mut prepared = items
            .iter()
            .map(|&(key, vector)| Ok((key, prepare_vector(self.metric, dimension, key, vector)?)))
            .collect::<crate::Result<Vec<_>>>()?;
        keep_last_per_key(&mut prepared);
        // Reserving first (as if no key were replaced) means that a failure to grow
        // leaves the index as it was.
        self.reserve_for(prepared.len())?;
        for (key, _) in &prepared {
            self.index
                .remove(*key)
                .map_err(|err| Error::backend("remove a replaced vector", err))?;
        }
        self.insert(&prepared)
    }

    fn remove(&mut self, keys: &[ChunkKey]) -> crate::Result<usize> {
        let mut removed = 0;
        for &key in keys {
            removed +=
                self.index.remove(key).map_err(|err| Error::backend("remove a vector", err))?;
        }
        Ok(removed)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn KeyFilter>,
    ) -> crate::Result<Vec<Hit>> {
        self.search_with_expansion(query, k, filter, self.params.expansion_search)
    }
}

impl std::fmt::Debug for HnswIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HnswIndex")
            .field("dimension", &self.dimension())
            .field("metric", &self.metric)
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("params", &self.params)
            .finish()
    }
}

/// Drops every item whose key appears again later in the batch, keeping the order of
/// the rest: the last vector given for a key wins, as with sequential upserts.
fn keep_last_per_key<V>(items: &mut Vec<(ChunkKey, V)>) {
    let mut seen = HashSet::with_capacity(items.len());
    items.reverse();
    items.retain(|(key, _)| seen.insert(*key));
    items.reverse();
}

/// The `usearch` metric for ours. Cosine vectors arrive normalised, where `Cos` and `IP`
/// agree; `Cos` is used anyway so that a saved file says which metric it was built for.
fn metric_kind(metric: Metric) -> MetricKind {
    match metric {
        Metric::InnerProduct => MetricKind::IP,
        Metric::Cosine => MetricKind::Cos,
    }
}

/// How many thread contexts to reserve: enough for the insertion threads and for one
/// search per core.
fn context_count(insert_threads: usize) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    insert_threads.max(cores)
}

#[cfg(test)]
mod tests;
