//! The [`VectorIndex`] trait: what every vector backend offers the engine.

use tamis_core::{ChunkKey, Hit, KeyFilter};

use crate::Metric;

/// A collection of vectors, one per [`ChunkKey`], searchable by similarity.
///
/// The contract, checked for every backend by the same tester (`index/tests.rs`):
///
/// - Every vector and query must have [`dimension`](Self::dimension) components, all
///   finite; otherwise the call fails with [`Error::DimensionMismatch`],
///   [`Error::NonFiniteVector`] or [`Error::NonFiniteQuery`] and changes nothing.
///   Keys go up to [`MAX_KEY`](crate::MAX_KEY).
/// - [`upsert`](Self::upsert) replaces the vector of a key already present. Within one
///   batch, the last vector given for a key wins. A batch that fails validation is
///   rejected whole.
/// - [`search`](Self::search) returns at most `k` hits, best first: higher
///   [`Hit::score`] first and, on equal scores, the smaller key first. The score is the
///   similarity under the index's [`Metric`] (the dot product, or the cosine
///   similarity). `k = 0` and an empty index give an empty list.
/// - A filter is applied *during* the search, so a selective filter still yields up to
///   `k` allowed hits rather than a post-filtered, shortened list.
///
/// [`Error::DimensionMismatch`]: crate::Error::DimensionMismatch
/// [`Error::NonFiniteVector`]: crate::Error::NonFiniteVector
/// [`Error::NonFiniteQuery`]: crate::Error::NonFiniteQuery
pub trait VectorIndex: Send + Sync {
    /// The number of components of every vector in the index.
    fn dimension(&self) -> usize;

    /// How vectors are compared.
    fn metric(&self) -> Metric;

    /// The number of keys in the index.
    fn len(&self) -> usize;

    /// Whether the index holds no key.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Inserts or replaces the vectors of the given keys.
    fn upsert(&mut self, items: &[(ChunkKey, &[f32])]) -> crate::Result<()>;

    /// Removes the given keys and returns how many of them were present.
    fn remove(&mut self, keys: &[ChunkKey]) -> crate::Result<usize>;

    /// The (at most) `k` keys most similar to `query` that `filter` allows, best first.
    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn KeyFilter>,
    ) -> crate::Result<Vec<Hit>>;
}

#[cfg(test)]
mod tests;
