//! Test helpers shared by the crates of tamis (a dev-dependency only).
//!
//! Real models and datasets are not in the repository: they live in a `shared/`
//! directory beside the project root, or wherever `TAMIS_SHARED_DIR` points.
//! A test that needs them fails with a message saying where it looked; it never
//! passes silently without them.
#![deny(missing_docs)]

mod fake_hub;

use std::path::PathBuf;

pub use fake_hub::{FAKE_COMMIT, FakeHub};

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

/// The root of the tamis workspace.
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}
