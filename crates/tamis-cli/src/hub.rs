//! Hugging Face cache and hub settings, read from the environment the way
//! `huggingface_hub` reads them, so Python and tamis share one cache.

use std::path::PathBuf;

use tamis_models::HubOptions;

/// Builds hub options from `HF_HUB_CACHE` / `HF_HOME` / `XDG_CACHE_HOME`, `HF_ENDPOINT`
/// and `HF_TOKEN` (or the token file `huggingface-cli login` writes).
pub fn options_from_env(revision: Option<String>, offline: bool) -> HubOptions {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    let hf_home = var("HF_HOME").unwrap_or_else(|| {
        var("XDG_CACHE_HOME")
            .or_else(|| var("HOME").map(|home| home.join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"))
            .join("huggingface")
    });
    let cache_dir = var("HF_HUB_CACHE").unwrap_or_else(|| hf_home.join("hub"));
    let token = std::env::var("HF_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            fs_err::read_to_string(hf_home.join("token")).ok().map(|t| t.trim().to_string())
        })
        .filter(|t| !t.is_empty());
    HubOptions {
        cache_dir,
        revision,
        offline,
        endpoint: std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty()),
        token,
    }
}
