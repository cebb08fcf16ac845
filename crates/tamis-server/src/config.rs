//! The server's settings: plain structs, validated once.

use tamis_engine::filter::FilterLimits;
use tamis_engine::result_cache::ResultCacheConfig;

use crate::batcher::BatchLimits;
use crate::error::{ApiError, Error, ErrorType, Result};

/// Everything `tamis serve` decides before it listens.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Limits of requests and batches.
    pub limits: Limits,
    /// The key every route but `/health` requires (`Authorization: Bearer …`); `None` is open.
    pub api_key: Option<String>,
    /// A key that may search, rerank and embed but not write.
    pub read_only_key: Option<String>,
    /// Serve the search playground at `/` and `/ui` (a page calling this API with the
    /// key its user types).
    pub playground: bool,
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
    /// Bounds of the cache of whole search answers (`max_entries` 0: off).
    pub result_cache: ResultCacheConfig,
    /// Largest search `k` and rerank `top_n` (400 beyond it).
    pub max_k: usize,
    /// Largest search `depth`: chunks each retriever contributes (400 beyond it).
    pub max_depth: usize,
    /// Most `candidates` one rerank stage of a search scores (400 beyond it).
    pub max_candidates: usize,
    /// Longest query, in bytes (400 beyond it).
    pub max_query_bytes: usize,
    /// Longest text of one document or input (rerank, embed, upsert), in bytes (413
    /// beyond it).
    pub max_document_bytes: usize,
    /// Largest `metadata` of one upserted document, as JSON, in bytes (413 beyond it).
    pub max_metadata_bytes: usize,
    /// Bounds on a search's or a deletion's `filter` (400 beyond them).
    pub filter: FilterLimits,
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
            result_cache: ResultCacheConfig::default(),
            // A page of results; more is an export, which is not what search is for.
            max_k: 1000,
            // Ten times the default depth of 100: past it, stage 1 costs more than the
            // reranking it feeds.
            max_depth: 10_000,
            // As many pairs as one rerank request may send (`max_inputs_per_request`).
            max_candidates: 1000,
            // Far beyond any model's window (512 tokens are roughly 2 KiB of English).
            max_query_bytes: 8 * 1024,
            // A long chapter; one larger is better split before it is sent.
            max_document_bytes: 1024 * 1024,
            // Filters read metadata, they do not store documents in it.
            max_metadata_bytes: 64 * 1024,
            filter: FilterLimits::default(),
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

/// A limit a request went past: 400 (or `error_type`) naming the flag that raises it.
pub(crate) fn over_limit(
    error_type: ErrorType,
    what: impl std::fmt::Display,
    limit: usize,
    flag: &str,
) -> ApiError {
    ApiError::new(error_type, format!("{what}; this server takes at most {limit} (--{flag})"))
}

impl Limits {
    /// Fails unless `value` of the field `field` is at most `limit` (400, naming `flag`).
    pub(crate) fn check_at_most(
        field: &str,
        value: Option<usize>,
        limit: usize,
        flag: &str,
    ) -> std::result::Result<(), ApiError> {
        match value {
            Some(value) if value > limit => {
                Err(over_limit(ErrorType::BadRequest, format!("`{field}` is {value}"), limit, flag))
            }
            _ => Ok(()),
        }
    }

    /// Fails unless `query` is at most `max_query_bytes` long (400).
    pub(crate) fn check_query(&self, query: &str) -> std::result::Result<(), ApiError> {
        self.check_query_sized("query", query)
    }

    /// [`Limits::check_query`] for another query-sized field (`instruction`), named so.
    pub(crate) fn check_query_sized(
        &self,
        field: &str,
        text: &str,
    ) -> std::result::Result<(), ApiError> {
        if text.len() > self.max_query_bytes {
            return Err(over_limit(
                ErrorType::BadRequest,
                format!("`{field}` is {} bytes", text.len()),
                self.max_query_bytes,
                "max-query-bytes",
            ));
        }
        Ok(())
    }

    /// Fails unless there are at most `max_inputs_per_request` texts (413), each at most
    /// `max_document_bytes` long (413); `what` names them in the message (`documents`).
    pub(crate) fn check_texts<'a>(
        &self,
        what: &str,
        texts: impl ExactSizeIterator<Item = &'a str>,
    ) -> std::result::Result<(), ApiError> {
        let n_texts = texts.len();
        if n_texts > self.max_inputs_per_request {
            return Err(over_limit(
                ErrorType::PayloadTooLarge,
                format!("{n_texts} {what} in one request"),
                self.max_inputs_per_request,
                "max-inputs-per-request",
            ));
        }
        for (idx, text) in texts.enumerate() {
            if text.len() > self.max_document_bytes {
                return Err(over_limit(
                    ErrorType::PayloadTooLarge,
                    format!("{what}[{idx}] is {} bytes", text.len()),
                    self.max_document_bytes,
                    "max-document-bytes",
                ));
            }
        }
        Ok(())
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
            ("max_k", self.limits.max_k),
            ("max_depth", self.limits.max_depth),
            ("max_candidates", self.limits.max_candidates),
            ("max_query_bytes", self.limits.max_query_bytes),
            ("max_document_bytes", self.limits.max_document_bytes),
            ("max_metadata_bytes", self.limits.max_metadata_bytes),
            ("result_cache_bytes", self.limits.result_cache.max_bytes),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::InvalidConfig { name, message: "must be at least 1".into() });
            }
        }
        match self.limits.filter.validate() {
            Ok(()) => {}
            Err(tamis_engine::Error::InvalidFilterLimit { limit, value, ceiling }) => {
                let message = format!("must be between 1 and {ceiling}, not {value}");
                return Err(Error::InvalidConfig { name: limit.name(), message });
            }
            Err(err) => {
                let message = err.to_string();
                return Err(Error::InvalidConfig { name: "filter", message });
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
