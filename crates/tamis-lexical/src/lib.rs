//! BM25 retrieval for tamis, over tantivy.
//!
//! - [`Bm25Index`] is one tantivy index in one directory: chunks go in by [`ChunkKey`]
//!   ([`Bm25Index::upsert`], [`Bm25Index::delete`]), become visible at
//!   [`Bm25Index::commit`], and come out of [`Bm25Index::search`] as [`Hit`]s, best BM25
//!   score first, restricted by an optional [`KeyFilter`] applied while collecting.
//! - [`Bm25Config`] says how text is analyzed (English stemming, stop words) and whether
//!   title and text are one field or two ([`FieldMode`]); it is fixed at creation and
//!   recorded in the index directory ([`SETTINGS_FILE`]).
//! - [`Bm25Params`] (`k1`, `b`, the title's weight) say how BM25 scores; an index records
//!   its own, and [`Bm25Index::search_with`] tries others on the same index. tamis scores
//!   from tantivy's postings itself (tantivy fixes `k1` and `b`), skipping documents that
//!   cannot reach the top `k`.
//!
//! There is no hand-written inverted index and no query language: queries are plain text,
//! analyzed like the documents, their terms OR-ed.
//!
//! ```
//! use tamis_lexical::{Bm25Config, Bm25Index, LexicalDoc};
//!
//! let dir = tempfile::tempdir()?;
//! let mut index = Bm25Index::create(dir.path(), &Bm25Config::default())?;
//! index.upsert(&[
//!     LexicalDoc { key: 1, title: "Vitamin D", text: "Sunlight and vitamin D levels." },
//!     LexicalDoc { key: 2, title: "Statins", text: "Cholesterol-lowering drugs." },
//! ])?;
//! index.commit(7)?;
//!
//! // Any text is a valid query: `:`, `?`, quotes and parentheses are just punctuation.
//! let hits = index.search("vitamin D: risks? (AND) \"x", 10, None)?;
//! assert_eq!(hits[0].key, 1);
//!
//! // Filters restrict while collecting.
//! let only_two = |key: u64| key == 2;
//! assert!(index.search("vitamin", 10, Some(&only_two))?.is_empty());
//!
//! drop(index);
//! assert_eq!(Bm25Index::open(dir.path())?.committed_seq(), Some(7));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod analyzer;
mod bm25;
mod collector;
mod config;
mod error;
mod schema;
mod scoring;

pub use analyzer::MAX_TERM_BYTES;
pub use bm25::{Bm25Index, LexicalDoc};
pub use config::{Bm25Config, FieldMode, SETTINGS_FILE};
pub use error::{Error, ErrorKind, Result};
pub use tamis_core::{Bm25Params, ChunkKey, Hit, InvalidBm25Param, KeyFilter};
