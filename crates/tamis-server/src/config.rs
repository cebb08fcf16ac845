//! The server's settings: plain structs, validated once.

use crate::batcher::BatchLimits;
use crate::error::{Error, Result};

/// Everything `tamis serve` decides before it listens.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Limits of requests and batches.
    pub limits: Limits,
    /// The key every route but `/health` requires (`Authorization: Bearer …`); `None` is open.
    pub api_key: Option<String>,
    /// A key that may search, rerank and embed but not write.
    pub read_only_key: Option<String>,
}

/// Request and batching limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body, in bytes (413 beyond it).
    ///
    /// A request's memory is a small multiple of its body (the body, its parsed strings,
    /// texts kept for the response) plus work bounded by the models' lengths: each text is
    /// tokenized only up to about 8 bytes per token of the model's length (a text without
    /// whitespace is the exception: it is tokenized whole), and passes hold at most
    /// `max_batch_tokens`. Measured: four 7.5 MB `/rerank` requests at once stay under the
    /// RSS of loading the model (`bench/runs/2026-12-02-xeon-2core/memory.md`).
    pub max_body_bytes: usize,
    /// Inference requests (rerank, embed, search) admitted at once, running or waiting;
    /// one more gets 429 with `Retry-After`.
    pub max_concurrent_requests: usize,
    /// Most texts (documents, inputs) in one request (413 beyond it).
    pub max_inputs_per_request: usize,
    /// Most tokens in one forward pass, across requests.
    pub max_batch_tokens: usize,
    /// Most inputs in one forward pass.
    pub max_batch_inputs: usize,
    /// Entries of the query-embedding cache and of each reranker's score cache.
    pub cache_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 * 1024 * 1024,
            max_concurrent_requests: 128,
            max_inputs_per_request: 1000,
            max_batch_tokens: 16_384,
            max_batch_inputs: 64,
            cache_entries: 50_000,
        }
    }
}

impl Limits {
    /// The batcher's share of the limits.
    pub fn batch(&self) -> BatchLimits {
        BatchLimits {
            max_batch_tokens: self.max_batch_tokens,
            max_batch_inputs: self.max_batch_inputs,
        }
    }
}

impl ServerConfig {
    /// Checks every setting; the server trusts them afterwards.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("max_body_bytes", self.limits.max_body_bytes),
            ("max_concurrent_requests", self.limits.max_concurrent_requests),
            ("max_inputs_per_request", self.limits.max_inputs_per_request),
            ("max_batch_tokens", self.limits.max_batch_tokens),
            ("max_batch_inputs", self.limits.max_batch_inputs),
            ("cache_entries", self.limits.cache_entries),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::InvalidConfig { name, message: "must be at least 1".into() });
            }
        }
        for (name, key) in [("api_key", &self.api_key), ("read_only_key", &self.read_only_key)] {
            if key.as_deref().is_some_and(|k| k.trim().is_empty()) {
                return Err(Error::InvalidConfig { name, message: "must not be empty".into() });
            }
        }
        if self.read_only_key.is_some() && self.api_key.is_none() {
            return Err(Error::InvalidConfig {
                name: "read_only_key",
                message: "needs an api_key too (otherwise the server is open to writes)".into(),
            });
        }
        if self.read_only_key.is_some() && self.read_only_key == self.api_key {
            return Err(Error::InvalidConfig {
                name: "read_only_key",
                message: "must differ from api_key".into(),
            });
        }
        Ok(())
    }
}
