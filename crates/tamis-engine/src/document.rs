//! What an index holds, as every backend reads and writes it: documents as the user gave
//! them, chunks ready to store, and stored chunks joined with their document.

use sha2::{Digest, Sha256};
use tamis_core::ChunkKey;

/// A document as the user gave it.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The user's id; unique in the index.
    pub id: String,
    /// Title (may be empty).
    pub title: String,
    /// Body text.
    pub text: String,
    /// Arbitrary JSON metadata, filterable.
    pub metadata: Option<serde_json::Value>,
}

impl Document {
    /// A digest of everything that affects indexing, to skip unchanged documents on upsert.
    /// Backends store it, so it must not change for the same document.
    pub fn content_hash(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [self.title.as_bytes(), b"\0", self.text.as_bytes(), b"\0"] {
            hasher.update(part);
        }
        if let Some(metadata) = &self.metadata {
            hasher.update(metadata.to_string().as_bytes());
        }
        format!("{:x}", hasher.finalize())
    }
}

/// One chunk of a document, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewChunk {
    /// The chunk's text as it was embedded and is searched.
    pub text: String,
    /// Its embedding.
    pub vector: Vec<f32>,
    /// Its token vectors in the index's [`TokenStorage`](tamis_core::TokenStorage), where
    /// the index stores a late-interaction model's (see
    /// [`IndexSettings::late_interaction`](crate::IndexSettings::late_interaction)).
    pub tokens: Option<Vec<u8>>,
}

/// A stored chunk, joined with its document.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    /// The chunk key.
    pub key: ChunkKey,
    /// The document it belongs to.
    pub doc_id: String,
    /// Its position in the document (0-based).
    pub ordinal: u32,
    /// The document's title.
    pub title: String,
    /// The chunk text.
    pub text: String,
}
