//! Flags every model-running command shares, and turning them into library configs.

use anyhow::Context;
use clap::Args;
use tamis_models::{ModelDir, RuntimeConfig};

/// Where the model comes from and how it runs.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Model directory or Hugging Face hub id (e.g. sentence-transformers/all-MiniLM-L6-v2).
    #[arg(long, short = 'm', value_name = "DIR|ID")]
    pub model: String,

    /// Hub revision (branch, tag or commit hash) for a hub id; default `main`.
    #[arg(long, env = "TAMIS_MODEL_REVISION", value_name = "REV")]
    pub revision: Option<String>,

    /// Use only the local Hugging Face cache, never the network.
    #[arg(long, env = "HF_HUB_OFFLINE", value_parser = clap::builder::FalseyValueParser::new())]
    pub offline: bool,

    /// Threads for inference; default: the cores available to this process
    /// (affinity mask and cgroup CPU quota respected).
    #[arg(long, env = "TAMIS_THREADS", value_name = "N")]
    pub threads: Option<usize>,

    /// Most sequences per forward pass (inputs are sorted by length first to limit padding).
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub batch_size: usize,

    /// Most tokens (sequences × padded length) per forward pass; long inputs run in
    /// smaller batches so attention buffers stay cache-friendly.
    #[arg(long, default_value_t = 2048, value_name = "N")]
    pub max_batch_tokens: usize,

    /// Maximum tokens per input; default: the model's own limit.
    #[arg(long, value_name = "N")]
    pub max_length: Option<usize>,
}

impl ModelArgs {
    /// Resolves the model to a directory (cache, then hub).
    pub fn resolve(&self) -> anyhow::Result<ModelDir> {
        let hub = crate::hub::options_from_env(self.revision.clone(), self.offline);
        ModelDir::resolve(&self.model, &hub)
            .with_context(|| format!("loading model {}", self.model))
    }

    /// Threads and batch size as the library takes them.
    pub fn runtime(&self) -> RuntimeConfig {
        RuntimeConfig {
            threads: self.threads,
            batch_size: self.batch_size,
            max_batch_tokens: self.max_batch_tokens,
        }
    }
}

/// Makes candle's own thread pools agree with `--threads`.
///
/// candle sizes its pools from `RAYON_NUM_THREADS` on first use and otherwise counts
/// physical cores, ignoring cgroup quotas; setting it here keeps one thread count.
pub fn configure_threads(threads: Option<usize>) {
    let threads = threads.unwrap_or_else(tamis_models::available_cores).max(1).to_string();
    for name in ["RAYON_NUM_THREADS", "CANDLE_NUM_THREADS"] {
        if std::env::var_os(name).is_none() {
            // SAFETY: called from the main thread before any model, pool or other thread
            // exists, so nothing reads the environment concurrently.
            #[allow(unsafe_code)]
            unsafe {
                std::env::set_var(name, &threads)
            };
        }
    }
}
