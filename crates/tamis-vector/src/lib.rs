//! Vector search for tamis: an exact index, an HNSW index, and the trait they share.
//!
//! - [`VectorIndex`] is what the engine programs against: upsert vectors under
//!   [`ChunkKey`](tamis_core::ChunkKey)s, remove them, and search for the `k` most
//!   similar, optionally restricted by a [`KeyFilter`](tamis_core::KeyFilter) that is
//!   applied *during* the search.
//! - [`FlatIndex`] scans every vector. It is exact, and it is the oracle every
//!   approximate index is tested against.
//! - [`HnswIndex`] walks an HNSW graph kept by the `usearch` crate, tuned by
//!   [`HnswParams`], and saves to a single file.
//! - [`Metric`] says how vectors compare; every score is a similarity, higher is better.
//! - [`dot`] is the vectorisable dot-product kernel behind every exact score.
//!
//! ```
//! use tamis_vector::{FlatIndex, HnswIndex, HnswParams, Metric, VectorIndex};
//!
//! fn index_and_search(index: &mut dyn VectorIndex) -> tamis_vector::Result<Vec<u64>> {
//!     index.upsert(&[(10, &[1.0, 0.0, 0.0]), (20, &[0.0, 1.0, 0.0]), (30, &[0.7, 0.7, 0.0])])?;
//!     index.remove(&[20])?;
//!     let hits = index.search(&[1.0, 0.1, 0.0], 2, None)?;
//!     Ok(hits.iter().map(|hit| hit.key).collect())
//! }
//!
//! let mut flat = FlatIndex::new(3, Metric::Cosine)?;
//! let mut hnsw = HnswIndex::new(3, Metric::Cosine, HnswParams::default())?;
//! assert_eq!(index_and_search(&mut flat)?, vec![10, 30]);
//! assert_eq!(index_and_search(&mut hnsw)?, vec![10, 30]);
//! # Ok::<(), tamis_vector::Error>(())
//! ```
#![deny(missing_docs)]

mod error;
mod flat;
mod hnsw;
mod index;
mod kernel;
mod metric;
#[cfg(test)]
mod synthetic;
mod topk;

pub use error::{Error, ErrorKind, Result};
pub use flat::FlatIndex;
pub use hnsw::{HnswIndex, HnswParams};
pub use index::VectorIndex;
pub use kernel::{LANES, dot};
pub use metric::{MAX_KEY, Metric};
