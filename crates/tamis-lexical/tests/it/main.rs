//! Integration tests of the BM25 index on the shared BEIR datasets: scores against the
//! formula and `bm25s`, and retrieval quality.
//!
//! The datasets come from `shared/datasets/` (see its README for the reference numbers);
//! a test fails with a message saying where it looked when they are missing.

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod analysis;
mod formula;
mod quality;
