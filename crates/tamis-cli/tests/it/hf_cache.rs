//! Hub ids resolve through a Hugging Face cache laid out as Python tools write it.

use std::path::Path;

use crate::{UNAVAILABLE, assert_fails_with, json_lines, model_path, tamis};

const COMMIT: &str = "c9745ed1d9f207416be6d2e6f8de32d1f16199bf";

/// Lays `model` out as `huggingface_hub` does: blobs behind symlinks in a snapshot,
/// and `refs/main` naming the commit.
fn populate_cache(cache: &Path, repo: &str, model: &Path) {
    let repo_dir = cache.join(format!("models--{}", repo.replace('/', "--")));
    let snapshot = repo_dir.join("snapshots").join(COMMIT);
    let blobs = repo_dir.join("blobs");
    fs_err::create_dir_all(&blobs).unwrap();
    for entry in walk(model) {
        let relative = entry.strip_prefix(model).unwrap();
        let blob = blobs.join(relative.to_string_lossy().replace('/', "_"));
        std::os::unix::fs::symlink(&entry, &blob).unwrap();
        let link = snapshot.join(relative);
        fs_err::create_dir_all(link.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(&blob, &link).unwrap();
    }
    fs_err::create_dir_all(repo_dir.join("refs")).unwrap();
    fs_err::write(repo_dir.join("refs").join("main"), COMMIT).unwrap();
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

#[test]
fn hub_ids_resolve_through_hf_hub_cache() {
    let cache = tempfile::tempdir().unwrap();
    populate_cache(
        cache.path(),
        "sentence-transformers/all-MiniLM-L6-v2",
        Path::new(&model_path("all-MiniLM-L6-v2")),
    );
    let output = tamis(
        &["embed", "--model", "sentence-transformers/all-MiniLM-L6-v2"],
        r#"{"text": "cached models are reused"}"#,
        &[("HF_HUB_CACHE", cache.path())],
    );
    let lines = json_lines(&output);
    assert_eq!(lines[0]["embedding"].as_array().unwrap().len(), 384);
}

#[test]
fn hub_ids_resolve_through_hf_home_with_pinned_revision() {
    let home = tempfile::tempdir().unwrap();
    let cache = home.path().join("hub");
    populate_cache(
        &cache,
        "tamis/ce-minilm",
        Path::new(&model_path("tamis-ce-minilm-l6-nfcorpus")),
    );
    let empty = tempfile::tempdir().unwrap();
    let input = r#"{"query": "vitamin d", "documents": ["Vitamin D and bone health"]}"#;
    // HF_HUB_CACHE wins over HF_HOME, so point it at the empty cache and check the miss first.
    let output =
        tamis(&["rerank", "--model", "tamis/ce-minilm"], input, &[("HF_HUB_CACHE", empty.path())]);
    assert_fails_with(&output, UNAVAILABLE, "not in the Hugging Face cache");
    assert_fails_with(&output, UNAVAILABLE, "config.json, tokenizer.json, model.safetensors");
    let mut command_env = vec![("HF_HOME", home.path())];
    let output = {
        // `tamis()` sets HF_HUB_CACHE; an empty value falls back to HF_HOME/hub.
        let blank = Path::new("");
        command_env.push(("HF_HUB_CACHE", blank));
        tamis(&["rerank", "--model", "tamis/ce-minilm", "--revision", COMMIT], input, &command_env)
    };
    assert_eq!(json_lines(&output)[0]["results"].as_array().unwrap().len(), 1);
}

#[test]
fn unreachable_hub_fails_with_one_clear_line() {
    let unreachable = Path::new("http://127.0.0.1:9");
    let online = Path::new("0");
    let output = tamis(
        &["rerank", "--model", "cross-encoder/ms-marco-MiniLM-L-6-v2"],
        r#"{"query": "q", "documents": ["d"]}"#,
        &[("HF_ENDPOINT", unreachable), ("HF_HUB_OFFLINE", online)],
    );
    assert_fails_with(&output, UNAVAILABLE, "could not be downloaded");
    assert_fails_with(&output, UNAVAILABLE, "models--cross-encoder--ms-marco-MiniLM-L-6-v2");
}
