//! [`FlatIndex`]: exact search by scanning every vector, the oracle for ANN indexes.

use std::collections::HashMap;

use tamis_core::{ChunkKey, Hit, KeyFilter};

use crate::metric::{prepare_query, prepare_vector};
use crate::topk::TopK;
use crate::{Error, Metric, VectorIndex, dot};

/// Exact nearest-neighbour search: every search scores every (allowed) vector.
///
/// Vectors live contiguously in one `Vec<f32>`, slot after slot, so a scan is a single
/// linear pass through memory. Two maps tie keys to slots; removing a key moves the
/// last slot into the hole (`swap_remove`), so removal is `O(dimension)` and the storage
/// never has gaps. Filters are consulted before a vector is scored, so a selective
/// filter makes the scan cheaper and never shortens the result.
///
/// `FlatIndex` is the reference every approximate index is tested against, and the
/// right index for small collections (up to some tens of thousands of vectors, where a
/// scan takes about a millisecond).
///
/// ```
/// use tamis_vector::{FlatIndex, Metric, VectorIndex};
///
/// let mut index = FlatIndex::new(2, Metric::InnerProduct).unwrap();
/// index.upsert(&[(1, &[1.0, 0.0]), (2, &[0.6, 0.8])]).unwrap();
/// let hits = index.search(&[0.0, 1.0], 1, None).unwrap();
/// assert_eq!(hits[0].key, 2);
/// ```
#[derive(Debug, Clone)]
pub struct FlatIndex {
    dimension: usize,
    metric: Metric,
    /// `keys.len() * dimension` values: slot `s` is `vectors[s * dimension..][..dimension]`.
    vectors: Vec<f32>,
    /// The key stored in each slot.
    keys: Vec<ChunkKey>,
    /// The slot of each key.
    slots: HashMap<ChunkKey, usize>,
}

impl FlatIndex {
    /// An empty index of vectors with `dimension` components.
    pub fn new(dimension: usize, metric: Metric) -> crate::Result<Self> {
        if dimension == 0 {
            return Err(Error::InvalidParameter {
                name: "dimension",
                message: "must be at least 1".to_owned(),
            });
        }
        Ok(FlatIndex {
            dimension,
            metric,
            vectors: Vec::new(),
            keys: Vec::new(),
            slots: HashMap::new(),
        })
    }

    /// Whether `key` is in the index.
    pub fn contains(&self, key: ChunkKey) -> bool {
        self.slots.contains_key(&key)
    }

    /// The stored vector of `key` (unit length under [`Metric::Cosine`]).
    pub fn get(&self, key: ChunkKey) -> Option<&[f32]> {
        self.slots.get(&key).map(|&slot| self.vector_at(slot))
    }

    fn vector_at(&self, slot: usize) -> &[f32] {
        &self.vectors[slot * self.dimension..][..self.dimension]
    }
}

impl VectorIndex for FlatIndex {
    fn dimension(&self) -> usize {
        self.dimension
    }

    fn metric(&self) -> Metric {
        self.metric
    }

    fn len(&self) -> usize {
        self.keys.len()
    }

    fn upsert(&mut self, items: &[(ChunkKey, &[f32])]) -> crate::Result<()> {
        // Validate the whole batch first so that a bad item changes nothing.
        let prepared = items
            .iter()
            .map(|&(key, vector)| {
                Ok((key, prepare_vector(self.metric, self.dimension, key, vector)?))
            })
            .collect::<crate::Result<Vec<_>>>()?;
        for (key, vector) in prepared {
            match self.slots.get(&key) {
                Some(&slot) => {
                    self.vectors[slot * self.dimension..][..self.dimension]
                        .copy_from_slice(&vector);
                }
                None => {
                    self.slots.insert(key, self.keys.len());
                    self.keys.push(key);
                    self.vectors.extend_from_slice(&vector);
                }
            }
        }
        Ok(())
    }

    fn remove(&mut self, keys: &[ChunkKey]) -> crate::Result<usize> {
        let mut removed = 0;
        for key in keys {
            let Some(slot) = self.slots.remove(key) else { continue };
            removed += 1;
            let last = self.keys.len() - 1;
            if slot != last {
                let moved_key = self.keys[last];
                self.vectors.copy_within(
                    last * self.dimension..(last + 1) * self.dimension,
                    slot * self.dimension,
                );
                self.keys[slot] = moved_key;
                self.slots.insert(moved_key, slot);
            }
            self.keys.pop();
            self.vectors.truncate(last * self.dimension);
        }
        Ok(removed)
    }

    fn search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn KeyFilter>,
    ) -> crate::Result<Vec<Hit>> {
        let query = prepare_query(self.metric, self.dimension, query)?;
        if k == 0 {
            return Ok(Vec::new());
        }
        let mut top = TopK::new(k);
        let slots = self.keys.iter().zip(self.vectors.chunks_exact(self.dimension));
        match filter {
            None => {
                for (&key, vector) in slots {
                    top.push(Hit { key, score: dot(&query, vector) });
                }
            }
            Some(filter) => {
                for (&key, vector) in slots.filter(|(key, _)| filter.allows(**key)) {
                    top.push(Hit { key, score: dot(&query, vector) });
                }
            }
        }
        Ok(top.into_sorted())
    }
}

#[cfg(test)]
mod tests;
