use std::path::Path;

use super::{HubOptions, ModelDir, ModelOrigin, is_hub_id, is_wanted_file};
use crate::Error;

fn hub(cache_dir: &Path, offline: bool) -> HubOptions {
    HubOptions {
        cache_dir: cache_dir.to_path_buf(),
        revision: None,
        offline,
        endpoint: Some("http://127.0.0.1:9".to_string()),
        token: None,
    }
}

#[test]
fn hub_ids_are_recognised() {
    for id in
        ["cross-encoder/ms-marco-MiniLM-L-6-v2", "BAAI/bge-reranker-v2-m3", "bert-base-uncased"]
    {
        assert!(is_hub_id(id), "{id}");
    }
    for not_id in ["", "a/b/c", "../x", "/abs/path", "org/", "with space/x", ".hidden/x"] {
        assert!(!is_hub_id(not_id), "{not_id}");
    }
}

#[test]
fn wanted_files_skip_exports_and_pickles() {
    // ColBERT models: colbert-ai's metadata, PyLate's projection weights, a Transformer
    // module in its own folder (answerai-colbert-small-v1).
    for name in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "vocab.txt",
        "1_Pooling/config.json",
        "artifact.metadata",
        "1_Dense/model.safetensors",
        "0_Transformer/tokenizer.json",
        "0_Transformer/vocab.txt",
    ] {
        assert!(is_wanted_file(name), "{name}");
    }
    for name in [
        "pytorch_model.bin",
        "onnx/model.onnx",
        "openvino/config.json",
        "README.md",
        "1_Dense/pytorch_model.bin",
        "onnx/model.safetensors",
    ] {
        assert!(!is_wanted_file(name), "{name}");
    }
}

fn fake_snapshot(cache: &Path, commit: &str) -> std::path::PathBuf {
    let repo = cache.join("models--org--tiny");
    let snapshot = repo.join("snapshots").join(commit);
    fs_err::create_dir_all(&snapshot).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        fs_err::write(snapshot.join(file), b"{}").unwrap();
    }
    fs_err::create_dir_all(repo.join("refs")).unwrap();
    fs_err::write(repo.join("refs").join("main"), commit).unwrap();
    snapshot
}

#[test]
fn cached_snapshot_is_found_through_refs() {
    let cache = tempfile::tempdir().unwrap();
    let commit = "0123456789abcdef0123456789abcdef01234567";
    let snapshot = fake_snapshot(cache.path(), commit);
    let dir = ModelDir::resolve("org/tiny", &hub(cache.path(), true)).unwrap();
    assert_eq!(dir.path, snapshot);
    assert_eq!(dir.origin, ModelOrigin::Hub { repo: "org/tiny".into(), commit: commit.into() });

    // A commit hash as revision goes straight to its snapshot.
    let mut pinned = hub(cache.path(), true);
    pinned.revision = Some(commit.to_string());
    assert_eq!(ModelDir::resolve("org/tiny", &pinned).unwrap().path, snapshot);
}

#[test]
fn offline_miss_names_files_and_cache() {
    let cache = tempfile::tempdir().unwrap();
    let err = ModelDir::resolve("org/absent", &hub(cache.path(), true)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::HubUnavailable { .. }), "{message}");
    assert!(message.contains("config.json, tokenizer.json, model.safetensors"), "{message}");
    assert!(message.contains("models--org--absent"), "{message}");
    assert!(message.contains("offline"), "{message}");
}

#[test]
fn unreachable_hub_reports_the_network_error() {
    let cache = tempfile::tempdir().unwrap();
    let err = ModelDir::resolve("org/absent", &hub(cache.path(), false)).unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, Error::HubUnavailable { .. }), "{message}");
    assert!(message.contains("hub error"), "{message}");
}

#[test]
fn missing_path_is_not_taken_for_a_hub_id() {
    let cache = tempfile::tempdir().unwrap();
    let err = ModelDir::resolve("./no/such/dir", &hub(cache.path(), true)).unwrap_err();
    assert!(matches!(err, Error::ModelDirNotFound { .. }), "{err}");
}
