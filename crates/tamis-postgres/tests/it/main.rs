//! The PostgreSQL backend against a real PostgreSQL + pgvector server (`TAMIS_PG_URL`,
//! started by `scripts/postgres/with-postgres.sh`).

// Test helpers fail by panicking, like the tests that call them.
#![allow(clippy::unwrap_used)]

mod backend;
mod bm25;
mod late_interaction;
mod result_cache;
mod schema;
mod standby;
mod tls;
mod upgrade;

use std::sync::atomic::{AtomicUsize, Ordering};

use tamis_engine::{Document, IndexSettings, IngestModels};
use tamis_postgres::{PgCatalog, PgConfig, PgOptions};
use tamis_testkit::{HASH_DIMENSION, HashEmbedder};

pub const MODELS: IngestModels<'static> = IngestModels::new(&HashEmbedder, &HashEmbedder);

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

/// How many scans the HNSW index of collection `name` has served; with `wait_above`,
/// waiting up to 10 s for the server's statistics (flushed about once a second) to show
/// more than that.
pub fn hnsw_scans(name: &str, wait_above: Option<i64>) -> i64 {
    let mut client = raw_client();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let scans: i64 = client
            .query_one(
                "SELECT coalesce(max(s.idx_scan), 0) FROM pg_stat_user_indexes AS s \
                 JOIN tamis_collections AS c ON s.indexrelname = 'tamis_c' || c.id || '_chunks_embedding' \
                 WHERE c.name = $1",
                &[&name],
            )
            .unwrap()
            .get(0);
        let waiting = wait_above.is_some_and(|above| scans <= above);
        if !waiting || std::time::Instant::now() > deadline {
            return scans;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}
