//! [`HnswParams`]: the knobs of the HNSW graph, with measured defaults.

use crate::Error;

/// How an [`HnswIndex`](crate::HnswIndex) builds and walks its graph.
///
/// The defaults (`M = 16`, `ef_construction = 128`, `ef = 64`, one insertion thread)
/// were chosen by measuring recall@10 against [`FlatIndex`](crate::FlatIndex) on
/// seeded clustered unit vectors of dimension 384 (`src/synthetic.rs`, with the
/// `hnsw_scale` example, 2-core x86-64):
///
/// | vectors | `M` | `ef_construction` | `ef` | recall@10 | p50 latency |
/// |--------:|----:|------------------:|-----:|----------:|------------:|
/// |  20 000 |  16 |               128 |   16 |     0.973 |       79 µs |
/// |  20 000 |  16 |               128 |   32 |     0.997 |       99 µs |
/// |  20 000 |  16 |               128 |   64 |     1.000 |      123 µs |
/// | 100 000 |  16 |                64 |   64 |     0.989 |      201 µs |
/// | 100 000 |  16 |               128 |   64 |     1.000 |      265 µs |
///
/// With twenty times more isotropic noise in the data (harder, less like embeddings)
/// `ef = 32` fell to 0.976 while `ef = 64` kept 0.999, and `M = 12` gave 0.997. So
/// `ef = 64` leaves a margin above the 0.98 floor that `ef = 32` does not, and
/// `ef_construction = 128` is what holds recall at 100 000 vectors (halving it halves
/// the build time but loses a point of recall). They equal `usearch`'s own defaults,
/// but are spelled out so that a library upgrade cannot change rankings.
///
/// Insertion with `threads = 2` built 1.9 times faster than with one thread on two
/// cores, at the same recall; the default stays at one thread so that builds are
/// deterministic and a library does not occupy cores it was not given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// `M`: the number of neighbours each node keeps per graph layer (twice as many on
    /// the base layer). More links raise recall and memory (about `8·M` bytes per
    /// vector) and slow insertion. At least 2.
    pub connectivity: usize,
    /// `ef_construction`: how many candidates an insertion examines when it chooses
    /// a new node's neighbours. Higher builds a better graph, more slowly. At least 1.
    pub expansion_add: usize,
    /// `ef`: how many candidates a search keeps while walking the graph; a search for
    /// `k` hits uses `max(ef, k)`. The main recall/latency trade-off. At least 1.
    pub expansion_search: usize,
    /// How many threads [`upsert`](crate::VectorIndex::upsert) uses to insert a batch.
    /// With more than one the graph's exact shape depends on thread scheduling, so
    /// results may differ slightly from run to run; recall does not. At least 1.
    pub threads: usize,
}

impl Default for HnswParams {
    fn default() -> Self {
        HnswParams {
            connectivity: DEFAULT_CONNECTIVITY,
            expansion_add: DEFAULT_EXPANSION_ADD,
            expansion_search: DEFAULT_EXPANSION_SEARCH,
            threads: 1,
        }
    }
}

// The measurements behind these values are in the docs of `HnswParams`.

/// See [`HnswParams::connectivity`].
const DEFAULT_CONNECTIVITY: usize = 16;
/// See [`HnswParams::expansion_add`].
const DEFAULT_EXPANSION_ADD: usize = 128;
/// See [`HnswParams::expansion_search`].
const DEFAULT_EXPANSION_SEARCH: usize = 64;

impl HnswParams {
    /// Checks that every knob is in its valid range.
    pub fn validate(&self) -> crate::Result<()> {
        let at_least = |name: &'static str, value: usize, min: usize| {
            if value < min {
                Err(Error::InvalidParameter {
                    name,
                    message: format!("must be at least {min}, got {value}"),
                })
            } else {
                Ok(())
            }
        };
        at_least("connectivity", self.connectivity, 2)?;
        at_least("expansion_add", self.expansion_add, 1)?;
        at_least("expansion_search", self.expansion_search, 1)?;
        at_least("threads", self.threads, 1)
    }
}
