//! Test helpers shared by the crates of tamis (a dev-dependency only).
//!
//! Real models and datasets are not in the repository: they live in a `shared/`
//! directory beside the project root, or wherever `TAMIS_SHARED_DIR` points.
//! A test that needs them fails with a message saying where it looked; it never
//! passes silently without them.
#![deny(missing_docs)]

mod fake_hub;
mod fakes;
mod filter_cases;
mod tls_proxy;

use std::path::PathBuf;

pub use fake_hub::{FAKE_COMMIT, FakeHub};
pub use fakes::{
    HASH_DIMENSION, HashEmbedder, HashTokenEmbedder, OverlapReranker, SeededRng, word_bags,
};
pub use filter_cases::{FILTER_EXPRESSIONS, filters_at_limits, tricky_metadata};
pub use tls_proxy::{TlsProxy, test_server_url};

/// The environment variable that overrides where `shared/` is.
pub const SHARED_ENV: &str = "TAMIS_SHARED_DIR";

/// The `shared/` directory with `models/` and `datasets/`.
///
/// # Panics
/// When it cannot be found, naming the places looked at and the fix.
pub fn shared_dir() -> PathBuf {
    let candidate = match std::env::var_os(SHARED_ENV) {
        Some(dir) => PathBuf::from(dir),
        None => workspace_root().join("..").join("shared"),
    };
    assert!(
        candidate.join("models").is_dir(),
        "the shared test data is missing: {} has no models/ directory; \
         put the shared data beside the project root or set {SHARED_ENV}",
        candidate.display()
    );
    candidate
}

/// A model directory under `shared/models/`.
///
/// # Panics
/// When the shared directory or the model is missing.
pub fn shared_model(name: &str) -> PathBuf {
    let dir = shared_dir().join("models").join(name);
    assert!(dir.join("config.json").is_file(), "shared model {} is missing", dir.display());
    dir
}

/// A dataset directory under `shared/datasets/`.
///
/// # Panics
/// When the shared directory or the dataset is missing.
pub fn shared_dataset(name: &str) -> PathBuf {
    let dir = shared_dir().join("datasets").join(name);
    assert!(dir.join("corpus.jsonl").is_file(), "shared dataset {} is missing", dir.display());
    dir
}

/// One line of the shared cross-encoder's `reference_scores.jsonl`: transformers' logits
/// for a query against several documents (see `shared/models/README.md`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReferenceScores {
    /// The query.
    pub query: String,
    /// The candidate documents.
    pub documents: Vec<String>,
    /// transformers' logit per document.
    pub logits: Vec<f32>,
    /// Whether each pair was longer than `max_length`.
    pub truncated: Vec<bool>,
    /// The maximum pair length the logits were computed with.
    pub max_length: usize,
}

/// The shared cross-encoder and every line of its `reference_scores.jsonl`.
///
/// # Panics
/// When the shared model or its reference file is missing or malformed.
pub fn reference_scores() -> (PathBuf, Vec<ReferenceScores>) {
    let dir = shared_model("tamis-ce-minilm-l6-nfcorpus");
    let path = dir.join("reference_scores.jsonl");
    let text = fs_err::read_to_string(&path).expect("reading reference_scores.jsonl");
    let lines = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("a reference_scores.jsonl line"))
        .collect();
    (dir, lines)
}

/// The root of the tamis workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

/// The environment variable with the test PostgreSQL server's URL.
pub const POSTGRES_ENV: &str = "TAMIS_PG_URL";

/// The URL of the PostgreSQL + pgvector server for tests (`TAMIS_PG_URL`).
///
/// # Panics
/// When it is not set, saying how to get a server: run the tests through
/// `scripts/postgres/with-postgres.sh`, as the README's test command does.
pub fn postgres_url() -> String {
    std::env::var(POSTGRES_ENV).unwrap_or_else(|_| {
        panic!(
            "the PostgreSQL tests need a server: {POSTGRES_ENV} is not set; run the tests as \
             `scripts/postgres/with-postgres.sh cargo test --workspace` (it starts a throw-away \
             PostgreSQL + pgvector from PyPI), or point {POSTGRES_ENV} at a server of yours"
        )
    })
}

/// The environment variable with the URL of a hot standby of the test server.
pub const POSTGRES_STANDBY_ENV: &str = "TAMIS_PG_STANDBY_URL";

/// The URL of a hot standby streaming from the test server (`TAMIS_PG_STANDBY_URL`).
///
/// # Panics
/// When it is not set, saying how to get one: `scripts/postgres/with-postgres.sh` starts
/// a standby beside its server.
pub fn postgres_standby_url() -> String {
    std::env::var(POSTGRES_STANDBY_ENV).unwrap_or_else(|_| {
        panic!(
            "the standby test needs a hot standby of {POSTGRES_ENV}: {POSTGRES_STANDBY_ENV} is \
             not set; run the tests through `scripts/postgres/with-postgres.sh` (it starts one), \
             or point {POSTGRES_STANDBY_ENV} at a standby of your server"
        )
    })
}
