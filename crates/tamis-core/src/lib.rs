//! Shared types and traits of tamis, the two-stage retrieval engine.
//!
//! This crate is the vocabulary every other crate speaks, and it stays light:
//! no ML runtime, no async runtime, no IO.
//!
//! - [`Embedder`] turns texts into vectors (stage 1, the bi-encoder).
//! - [`Reranker`] scores (query, passage) pairs (stage 2, the cross-encoder).
//! - [`TokenEmbedder`] gives a vector per token, scored by MaxSim (late interaction).
//! - [`Hit`], [`ChunkKey`] and [`KeyFilter`] are what retrievers return and obey.
//! - [`TokenMatrix`] and [`TokenStorage`] are a late-interaction model's token vectors
//!   and their stored bytes (fp16, or int8 with a scale per row).
//! - [`Bm25Params`] are BM25's `k1`, `b` and title weight, the same on every backend.
//! - [`ScoreContract`] says what a reranker's numbers mean, so nobody thresholds a
//!   raw logit as if it were a probability.
//!
//! ```
//! use tamis_core::{Embedder, TextRole};
//!
//! /// A toy embedder: the vector is the text's length and its count of spaces.
//! struct Lengths;
//!
//! impl Embedder for Lengths {
//!     fn dimension(&self) -> usize {
//!         2
//!     }
//!     fn embed(&self, texts: &[&str], _role: TextRole) -> tamis_core::Result<Vec<Vec<f32>>> {
//!         Ok(texts.iter().map(|t| vec![t.len() as f32, t.matches(' ').count() as f32]).collect())
//!     }
//! }
//!
//! let vectors = Lengths.embed(&["a b", "abc"], TextRole::Document).unwrap();
//! assert_eq!(vectors, vec![vec![3.0, 1.0], vec![3.0, 0.0]]);
//! ```
#![deny(missing_docs)]

mod bm25;
mod error;
mod hit;
mod score;
mod token_vectors;
mod traits;

pub use bm25::{Bm25Params, InvalidBm25Param, stored_length};
pub use error::{Error, ErrorKind, Result, expect_count};
pub use hit::{ChunkKey, Hit, KeyFilter};
pub use score::{PairScore, ScoreActivation, ScoreContract, best_first};
pub use token_vectors::{BadTokenBytes, TokenMatrix, TokenStorage};
pub use traits::{Embedder, Reranker, TextRole, TokenEmbedder, Tokenize};
