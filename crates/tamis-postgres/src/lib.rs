//! The PostgreSQL + pgvector backend of tamis: a collection's documents, chunks, vectors
//! and full-text index live in a database that any number of stateless tamis nodes share.
//!
//! - [`PgConfig`]: a `postgres://` URL with pool size, timeout and TLS options.
//! - [`PgCatalog`]: the collections of a database (the engine's
//!   [`Catalog`](tamis_engine::backend::Catalog)); connecting creates or migrates the schema.
//! - [`PgBackend`]: one collection (the engine's [`Backend`](tamis_engine::backend::Backend)):
//!   batches written in one transaction, dense search on pgvector's HNSW index (exact below
//!   the index's `exact_below`, iterative scans under filters), lexical search by BM25
//!   over tamis's own postings (the embedded index's terms, parameters and rounded
//!   lengths; collections of schema version 1 keep a `tsvector` ranked by `ts_rank` until
//!   [`PgCatalog::rebuild_lexical`] builds their postings), filters translated to SQL.
//!
//! The blocking `postgres` client runs a private tokio runtime per connection; nothing async
//! crosses this crate's API.
#![deny(missing_docs)]

mod backend;
mod bm25;
mod catalog;
mod config;
mod error;
mod filter;
mod pool;
mod schema;
mod settings;
mod upgrade;

pub use backend::PgBackend;
pub use catalog::PgCatalog;
pub use config::{PgConfig, is_postgres_url};
pub use error::{Error, Result};
pub use settings::PgOptions;
pub use upgrade::LexicalRebuild;

/// The SQL text of `filter`'s condition on the jsonb expression `column` and its number of
/// parameters, for the fuzz targets (`fuzz/`), which check it without a database.
#[doc(hidden)]
pub fn filter_condition_for_fuzzing(
    filter: &tamis_engine::filter::Filter,
    column: &str,
) -> (String, usize) {
    let condition = filter::condition(filter, column, 1);
    (condition.sql, condition.params.len())
}
