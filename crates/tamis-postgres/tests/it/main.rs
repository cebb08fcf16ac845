//! The PostgreSQL backend against a real PostgreSQL + pgvector server (`TAMIS_PG_URL`,
//! started by `scripts/postgres/with-postgres.sh`).

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod backend;
mod schema;
mod tls;

use std::sync::atomic::{AtomicUsize, Ordering};

use tamis_engine::storage::Document;
use tamis_engine::{IndexSettings, IngestModels};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder};

pub const MODELS: IngestModels<'static> =
    IngestModels { embedder: &HashEmbedder, tokenizer: &HashEmbedder };

pub fn config() -> PgConfig {
    PgConfig::from_url(&tamis_testkit::postgres_url()).expect("TAMIS_PG_URL is a valid URL")
}

pub fn catalog() -> PgCatalog {
    PgCatalog::connect(&config(), PgOptions::default()).expect("connecting to TAMIS_PG_URL")
}

/// A collection name no other test (or test run against the same server) uses.
pub fn unique_name(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}_{}_{nanos}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

pub fn settings() -> IndexSettings {
    IndexSettings::new("hash-embedder", HASH_DIMENSION)
}

pub fn doc(id: &str, title: &str, text: &str, metadata: Option<serde_json::Value>) -> Document {
    Document { id: id.into(), title: title.into(), text: text.into(), metadata }
}

/// A raw client on the test server, for what tamis does not do (inspecting, sabotaging).
pub fn raw_client() -> postgres::Client {
    postgres::Client::connect(&tamis_testkit::postgres_url(), postgres::NoTls)
        .expect("a raw connection to TAMIS_PG_URL")
}
