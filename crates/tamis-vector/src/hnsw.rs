//! [`HnswIndex`]: approximate search over an HNSW graph kept by the `usearch` crate.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use tamis_core::{ChunkKey, Hit, KeyFilter};
use usearch::{Index, IndexOptions, MetricKind, ScalarKind};

use crate::metric::{prepare_query, prepare_vector};
use crate::topk::sort_hits;
use crate::{Error, MAX_KEY, Metric, VectorIndex};

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
/// - removal that never lets `usearch` reuse a slot (see *Removal* below), and upsert
///   as removal then insertion (`usearch` refuses duplicate keys), with the last vector
///   of a key winning inside a batch;
/// - parallel insertion of a batch on [`HnswParams::threads`] threads;
/// - filtered search *inside* the graph walk: the filter decides which visited nodes
///   may enter the result, while the walk still passes through the others, so a filter
///   that allows 2% of the keys still returns `k` hits;
/// - searches from any number of threads (`usearch` holds a fixed number of search
///   contexts and fails a search that finds none free; here such a search waits);
/// - [`save`](Self::save) and [`load`](Self::load) to and from a single file.
///
/// # Removal
///
/// `usearch`'s own `remove` frees a slot that the next `add` reuses: the node gets the new
/// vector and new out-links, but the nodes that were reachable only through the old
/// out-links lose their way in. Under remove-and-add churn, live vectors became
/// unreachable even to a search that visits the whole graph (found by the `serve_crash`
/// test: a document's chunk was in the index and never found). So a removed vector is
/// *retired* instead: renamed to a key above [`MAX_KEY`] (`MAX_KEY + 1`,
/// `+ 2`, … in order), where it keeps guiding searches but never enters a result. Once
/// retired vectors outnumber live ones (and number at least 1 024), the next change first
/// rebuilds the graph from the live vectors: memory stays within about twice the live
/// set's, at an amortised cost of one insertion per removal, though the one write that
/// triggers a rebuild pays for all of it.
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
    /// How many retired vectors the graph holds: keys `RETIRED_KEYS..RETIRED_KEYS + retired`.
    retired: usize,
}

/// The first key of a retired vector (see *Removal* on [`HnswIndex`]).
const RETIRED_KEYS: ChunkKey = MAX_KEY + 1;

/// The graph is never rebuilt for fewer retired vectors than this: below it, a rebuild
/// costs more than the memory it frees.
pub(crate) const MIN_RETIRED_FOR_REBUILD: usize = 1024;

/// Vectors copied per batch while rebuilding, so a rebuild never holds a second copy
/// of every vector.
const REBUILD_BATCH: usize = 4096;

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
        Ok(HnswIndex { index, metric, params, contexts, retired: 0 })
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
            None if self.retired == 0 => self.index.search(&query, wanted),
            None => self.index.filtered_search(&query, wanted, |key: ChunkKey| key <= MAX_KEY),
            Some(filter) => {
                // The predicate is called from C++ through an `extern "C"` trampoline,
                // where a panic would abort the process: catch it, stop admitting
                // keys, and re-raise it once the search has returned.
                let panic = RefCell::new(None);
                let allows = |key: ChunkKey| {
                    if key > MAX_KEY || panic.borrow().is_some() {
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
        key <= MAX_KEY && self.index.contains(key)
    }

    /// How many removed vectors the graph still holds (see *Removal* on [`HnswIndex`]).
    pub fn retired(&self) -> usize {
        self.retired
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
        // Retired vectors keep their slots, so they count.
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

    /// Takes `key` out of search results, keeping its vector in the graph as a waypoint;
    /// returns whether it was present.
    fn retire(&mut self, key: ChunkKey) -> crate::Result<bool> {
        if key > MAX_KEY {
            return Ok(false);
        }
        let renamed = self
            .index
            .rename(key, RETIRED_KEYS + self.retired as ChunkKey)
            .map_err(|err| Error::backend("retire a removed vector", err))?;
        self.retired += usize::from(renamed > 0);
        Ok(renamed > 0)
    }

    /// Rebuilds the graph once retired vectors outnumber live ones. Called before a
    /// change rather than after, so that a failed rebuild fails a change not yet made.
    fn rebuild_if_worn(&mut self) -> crate::Result<()> {
        if self.retired >= MIN_RETIRED_FOR_REBUILD && self.retired > self.len() {
            self.rebuild()?;
        }
        Ok(())
    }

    /// Replaces the graph by a fresh one holding the live vectors only. On failure the
    /// index is left as it was.
    fn rebuild(&mut self) -> crate::Result<()> {
        let keys = self.live_keys()?;
        let dimension = self.dimension();
        let mut fresh = HnswIndex::new(dimension, self.metric, self.params)?;
        fresh.reserve_for(keys.len())?;
        for batch in keys.chunks(REBUILD_BATCH) {
            let items = batch
                .iter()
                .map(|&key| {
                    let mut vector = vec![0.0f32; dimension];
                    let found = self
                        .index
                        .get(key, &mut vector)
                        .map_err(|err| Error::backend("read a vector back", err))?;
                    if found == 0 {
                        return Err(Error::backend(
                            "read a vector back",
                            format!("key {key} is listed but has no vector"),
                        ));
                    }
                    Ok((key, Cow::Owned(vector)))
                })
                .collect::<crate::Result<Vec<_>>>()?;
            fresh.insert(&items)?;
        }
        *self = fresh;
        Ok(())
    }

    /// Every live key, in no particular order. `usearch` has no key listing; an exact
    /// search for every vector is one.
    fn live_keys(&self) -> crate::Result<Vec<ChunkKey>> {
        let total = self.index.size();
        if total == 0 {
            return Ok(Vec::new());
        }
        let mut probe = vec![0.0f32; self.dimension()];
        probe[0] = 1.0;
        let _context = self.contexts.acquire();
        let matches = self
            .index
            .exact_search(&probe, total)
            .map_err(|err| Error::backend("list the keys", err))?;
        if matches.keys.len() != total {
            return Err(Error::backend(
                "list the keys",
                format!("found {} of {total} vectors", matches.keys.len()),
            ));
        }
        Ok(matches.keys.into_iter().filter(|&key| key <= MAX_KEY).collect())
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
        // Saturating: a graph loaded untrusted could claim more retired keys than it holds.
        self.index.size().saturating_sub(self.retired)
    }

    fn upsert(&mut self, items: &[(ChunkKey, &[f32])]) -> crate::Result<()> {
        let dimension = self.dimension();
        let mut prepared = items
            .iter()
            .map(|&(key, vector)| Ok((key, prepare_vector(self.metric, dimension, key, vector)?)))
            .collect::<crate::Result<Vec<_>>>()?;
        keep_last_per_key(&mut prepared);
        self.rebuild_if_worn()?;
        // Reserving first (as if no key were replaced) means that a failure to grow
        // leaves the index as it was.
        self.reserve_for(prepared.len())?;
        for (key, _) in &prepared {
            self.retire(*key)?;
        }
        self.insert(&prepared)
    }

    fn remove(&mut self, keys: &[ChunkKey]) -> crate::Result<usize> {
        self.rebuild_if_worn()?;
        let mut removed = 0;
        for &key in keys {
            removed += usize::from(self.retire(key)?);
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
            .field("retired", &self.retired)
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
