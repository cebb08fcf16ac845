//! What retrievers return, and how the engine restricts them.

/// The engine's key for one indexed chunk: dense, assigned by storage, stable until the
/// chunk is deleted. Retrievers know chunks only by this key, never by document ids.
pub type ChunkKey = u64;

/// One retrieved chunk and its score under the retriever that found it.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    /// The chunk.
    pub key: ChunkKey,
    /// Higher is better; the scale is the retriever's own (BM25, dot product, fused).
    pub score: f32,
}

/// Which chunks a search may return. Retrievers consult it *during* search (inside
/// the BM25 collector and the ANN graph walk), so a selective filter still yields up
/// to `k` hits instead of a post-filtered, emptied list.
pub trait KeyFilter: Sync {
    /// Whether `key` may be returned.
    fn allows(&self, key: ChunkKey) -> bool;
}

impl<F: Fn(ChunkKey) -> bool + Sync> KeyFilter for F {
    fn allows(&self, key: ChunkKey) -> bool {
        self(key)
    }
}

impl KeyFilter for std::collections::HashSet<ChunkKey> {
    fn allows(&self, key: ChunkKey) -> bool {
        self.contains(&key)
    }
}
