//! Where a model's files come from: a local directory, the Hugging Face cache, or the hub.
//!
//! A model is named by a path or by a hub id (`org/name`). Ids resolve through the
//! local cache first (the `HF_HUB_CACHE` layout that Python tools write, so their
//! downloads are reused), then the hub. Everything after this module works on one
//! plain directory, whatever the origin.

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// How hub ids are resolved. The binaries fill it from the environment
/// (`HF_HOME`, `HF_HUB_CACHE`, `HF_HUB_OFFLINE`, `HF_ENDPOINT`, `HF_TOKEN`).
#[derive(Debug, Clone)]
pub struct HubOptions {
    /// The hub cache directory (`$HF_HUB_CACHE`, or `$HF_HOME/hub`, or `~/.cache/huggingface/hub`).
    pub cache_dir: PathBuf,
    /// Branch, tag or commit hash; `main` when `None`.
    pub revision: Option<String>,
    /// Never touch the network; only the cache is used.
    pub offline: bool,
    /// The hub's base URL, when not the public hub.
    pub endpoint: Option<String>,
    /// An access token for gated or private models.
    pub token: Option<String>,
}

impl HubOptions {
    /// Reads the settings the way `huggingface_hub` does, so Python tools and tamis share
    /// one cache: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `XDG_CACHE_HOME` or
    /// `~/.cache` + `huggingface/hub`; `HF_ENDPOINT`; `HF_TOKEN`, else the token file
    /// `huggingface-cli login` writes under `HF_HOME`. `var` looks a variable up (the
    /// binaries pass the process environment; this crate reads none itself); an empty
    /// value counts as unset.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        revision: Option<String>,
        offline: bool,
    ) -> HubOptions {
        let var = |name: &str| var(name).filter(|v| !v.is_empty());
        let path = |name: &str| var(name).map(PathBuf::from);
        let hf_home = path("HF_HOME").unwrap_or_else(|| {
            path("XDG_CACHE_HOME")
                .or_else(|| path("HOME").map(|home| home.join(".cache")))
                .unwrap_or_else(|| PathBuf::from(".cache"))
                .join("huggingface")
        });
        let cache_dir = path("HF_HUB_CACHE").unwrap_or_else(|| hf_home.join("hub"));
        let token = var("HF_TOKEN")
            .or_else(|| {
                fs_err::read_to_string(hf_home.join("token")).ok().map(|t| t.trim().to_string())
            })
            .filter(|t| !t.is_empty());
        HubOptions { cache_dir, revision, offline, endpoint: var("HF_ENDPOINT"), token }
    }
}

/// How an index records a model: an absolute path for a directory, the hub id (with
/// `@revision` when pinned) otherwise, so that the same model named two ways matches.
pub fn model_id(spec: &str, revision: Option<&str>) -> String {
    match fs_err::canonicalize(spec) {
        Ok(path) if path.is_dir() => path.display().to_string(),
        _ => match revision {
            Some(revision) => format!("{spec}@{revision}"),
            None => spec.to_string(),
        },
    }
}

/// A model id's name and pinned revision (see [`model_id`]).
pub fn split_model_id(id: &str) -> (&str, Option<String>) {
    match id.rsplit_once('@') {
        Some((name, revision)) if !Path::new(id).exists() => (name, Some(revision.to_string())),
        _ => (id, None),
    }
}

/// Where a resolved model came from, for messages and for recording in an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelOrigin {
    /// A directory given by path.
    Local,
    /// A hub repository at a resolved commit.
    Hub {
        /// The repository id.
        repo: String,
        /// The commit hash of the snapshot used.
        commit: String,
    },
}

/// A model resolved to a directory on disk.
#[derive(Debug, Clone)]
pub struct ModelDir {
    /// The directory holding `config.json`, the tokenizer and the weights.
    pub path: PathBuf,
    /// Where it came from.
    pub origin: ModelOrigin,
}

/// The files a model cannot load without, as looked for in a hub snapshot.
const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

impl ModelDir {
    /// Resolves `name` (a directory, or a hub id) to a local directory,
    /// downloading from the hub only when the cache lacks the model.
    pub fn resolve(name: &str, hub: &HubOptions) -> Result<ModelDir> {
        let path = Path::new(name);
        if path.is_dir() {
            return Ok(ModelDir { path: path.to_path_buf(), origin: ModelOrigin::Local });
        }
        if !is_hub_id(name) {
            return Err(if looks_like_path(name) {
                Error::ModelDirNotFound { path: path.to_path_buf() }
            } else {
                Error::InvalidModelName { name: name.to_string() }
            });
        }
        let revision = hub.revision.as_deref().unwrap_or("main");
        if let Some(found) = cached_snapshot(&hub.cache_dir, name, revision) {
            return Ok(found);
        }
        let unavailable = |reason: String| Error::HubUnavailable {
            repo: name.to_string(),
            revision: revision.to_string(),
            cache_dir: repo_cache_dir(&hub.cache_dir, name),
            files: REQUIRED_FILES.iter().map(|f| f.to_string()).collect(),
            reason,
        };
        if hub.offline {
            return Err(unavailable(
                "offline mode is on (HF_HUB_OFFLINE, --offline or local_files_only)".to_string(),
            ));
        }
        download(name, revision, hub).map_err(|err| unavailable(format!("hub error: {err}")))
    }
}

/// A hub id is `name` or `org/name` with the characters the hub allows.
fn is_hub_id(name: &str) -> bool {
    let valid_part = |part: &str| {
        !part.is_empty()
            && !part.starts_with(['.', '-'])
            && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let parts: Vec<&str> = name.split('/').collect();
    matches!(parts.len(), 1 | 2) && parts.iter().all(|p| valid_part(p)) && !name.contains("..")
}

fn looks_like_path(name: &str) -> bool {
    name.starts_with(['.', '/', '~']) || name.contains(std::path::MAIN_SEPARATOR)
}

/// `models--org--name` under the cache, as huggingface_hub lays it out.
fn repo_cache_dir(cache_dir: &Path, repo: &str) -> PathBuf {
    cache_dir.join(format!("models--{}", repo.replace('/', "--")))
}

/// The snapshot directory for `revision`, if the cache has one with the required files.
fn cached_snapshot(cache_dir: &Path, repo: &str, revision: &str) -> Option<ModelDir> {
    let repo_dir = repo_cache_dir(cache_dir, repo);
    let commit = if is_commit_hash(revision) {
        revision.to_string()
    } else {
        fs_err::read_to_string(repo_dir.join("refs").join(revision)).ok()?.trim().to_string()
    };
    let snapshot = repo_dir.join("snapshots").join(&commit);
    let complete = snapshot.join("config.json").is_file()
        && snapshot.join("tokenizer.json").is_file()
        && (snapshot.join("model.safetensors").is_file()
            || snapshot.join("model.safetensors.index.json").is_file());
    complete.then(|| ModelDir {
        path: snapshot,
        origin: ModelOrigin::Hub { repo: repo.to_string(), commit },
    })
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.chars().all(|c| c.is_ascii_hexdigit())
}

/// Downloads the files tamis reads (configs, tokenizer, safetensors weights) into the cache.
fn download(repo: &str, revision: &str, hub: &HubOptions) -> std::result::Result<ModelDir, String> {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};

    let mut builder = ApiBuilder::new()
        .with_cache_dir(hub.cache_dir.clone())
        .with_token(hub.token.clone())
        .with_progress(false);
    if let Some(endpoint) = &hub.endpoint {
        builder = builder.with_endpoint(endpoint.clone());
    }
    let api = builder.build().map_err(|e| e.to_string())?;
    let api_repo =
        api.repo(Repo::with_revision(repo.to_string(), RepoType::Model, revision.to_string()));
    let info = api_repo.info().map_err(|e| e.to_string())?;
    let names: Vec<&str> = info.siblings.iter().map(|s| s.rfilename.as_str()).collect();
    let mut wanted: Vec<String> =
        names.iter().filter(|n| is_wanted_file(n)).map(|n| n.to_string()).collect();
    if !names.contains(&"model.safetensors") && names.contains(&"model.safetensors.index.json") {
        let index = api_repo.get("model.safetensors.index.json").map_err(|e| e.to_string())?;
        wanted.extend(crate::weights::shard_names(&index).map_err(|e| e.to_string())?);
    }
    let mut snapshot = None;
    for name in &wanted {
        let local = api_repo.get(name).map_err(|e| format!("downloading {name}: {e}"))?;
        if name == "config.json" {
            snapshot = local.parent().map(Path::to_path_buf);
        }
    }
    let path = snapshot.ok_or_else(|| format!("{repo} has no config.json"))?;
    Ok(ModelDir { path, origin: ModelOrigin::Hub { repo: repo.to_string(), commit: info.sha } })
}

/// Top-level JSON configs, the weights, a BERT `vocab.txt` and colbert-ai's
/// `artifact.metadata`; in sentence-transformers module folders (`1_Pooling`,
/// `0_Transformer`, a ColBERT model's `1_Dense`) the same but `artifact.metadata`; not
/// ONNX/OpenVINO exports or pickles, which tamis does not read.
fn is_wanted_file(name: &str) -> bool {
    let model_file =
        |file: &str| file.ends_with(".json") || file == "model.safetensors" || file == "vocab.txt";
    match name.split_once('/') {
        None => model_file(name) || name == "artifact.metadata",
        Some((module, file)) => {
            module.chars().next().is_some_and(|c| c.is_ascii_digit()) && model_file(file)
        }
    }
}

#[cfg(test)]
mod tests;
