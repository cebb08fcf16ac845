//! Engine behaviour that needs a real index, over the embedded backend: the reranking
//! pipeline, ingestion and the model caches (the engine itself links no backend to test them on).

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod cache;
mod ingest;
mod late_interaction;
mod pipeline;
mod result_cache;
