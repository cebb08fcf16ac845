//! Prometheus metrics (`GET /metrics`, OpenMetrics text).

use std::sync::Mutex;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tamis_engine::result_cache::ResultCacheStats;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    model: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

fn latency_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

/// Every metric the server keeps.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    queue_depth: Gauge<i64, AtomicI64>,
    batch_inputs: Family<ModelLabels, Histogram, fn() -> Histogram>,
    batch_tokens: Family<ModelLabels, Histogram, fn() -> Histogram>,
    batch_seconds: Family<ModelLabels, Histogram, fn() -> Histogram>,
    tokens: Family<ModelLabels, Counter>,
    model_panics: Family<ModelLabels, Counter>,
    model_restarts: Family<ModelLabels, Counter>,
    stage_seconds: Family<StageLabels, Histogram, fn() -> Histogram>,
    cache_hits: Family<CacheLabels, Counter>,
    cache_misses: Family<CacheLabels, Counter>,
    /// Cache counts already added, per cache: caches report totals, counters take deltas.
    cache_seen: Mutex<std::collections::HashMap<String, (u64, u64)>>,
    result_lookups: Family<OutcomeLabels, Counter>,
    result_removals: Family<ReasonLabels, Counter>,
    result_entries: Gauge<i64, AtomicI64>,
    result_bytes: Gauge<i64, AtomicI64>,
    /// The result cache's totals already added.
    result_seen: Mutex<ResultCacheStats>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("tamis");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency by route",
            request_seconds.clone(),
        );
        let queue_depth = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "queue_depth",
            "Inference requests admitted and not yet answered",
            queue_depth.clone(),
        );
        let batch_inputs = Family::new_with_constructor(size_histogram as fn() -> Histogram);
        registry.register("batch_inputs", "Inputs per forward pass", batch_inputs.clone());
        let batch_tokens = Family::new_with_constructor(size_histogram as fn() -> Histogram);
        registry.register("batch_tokens", "Tokens per forward pass", batch_tokens.clone());
        let batch_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register("batch_duration_seconds", "Forward pass time", batch_seconds.clone());
        let tokens = Family::<ModelLabels, Counter>::default();
        registry.register("tokens", "Tokens through each model", tokens.clone());
        let model_panics = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_panics",
            "Forward passes that panicked (their requests failed with 500)",
            model_panics.clone(),
        );
        let model_restarts = Family::<ModelLabels, Counter>::default();
        registry.register(
            "model_restarts",
            "Model threads restarted after a panic outside a forward pass",
            model_restarts.clone(),
        );
        let stage_seconds = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        registry.register(
            "stage_duration_seconds",
            "Time per search stage (stage1, each reranker)",
            stage_seconds.clone(),
        );
        let cache_hits = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_hits",
            "Cache lookups answered from the cache",
            cache_hits.clone(),
        );
        let cache_misses = Family::<CacheLabels, Counter>::default();
        registry.register("cache_misses", "Cache lookups that ran the model", cache_misses.clone());
        let result_lookups = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "result_cache_lookups",
            "Searches by how the result cache answered: exact, normalized (another text every \
             stage reads the same), paraphrase (a close query's answer, when asked for), miss, \
             or uncacheable (the backend cannot say its last write)",
            result_lookups.clone(),
        );
        let result_removals = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "result_cache_removals",
            "Answers the result cache dropped: evicted (bounds) or invalidated (a write)",
            result_removals.clone(),
        );
        let result_entries = Gauge::<i64, AtomicI64>::default();
        registry.register("result_cache_entries", "Answers held", result_entries.clone());
        let result_bytes = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "result_cache_bytes",
            "Bytes of answers held (estimated)",
            result_bytes.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            queue_depth,
            batch_inputs,
            batch_tokens,
            batch_seconds,
            tokens,
            model_panics,
            model_restarts,
            stage_seconds,
            cache_hits,
            cache_misses,
            cache_seen: Mutex::default(),
            result_lookups,
            result_removals,
            result_entries,
            result_bytes,
            result_seen: Mutex::default(),
        }
    }

    /// One answered HTTP request.
    pub fn observe_request(&self, route: &str, status: u16, elapsed: Duration) {
        self.requests.get_or_create(&RequestLabels { route: route.to_string(), status }).inc();
        self.request_seconds
            .get_or_create(&RouteLabels { route: route.to_string() })
            .observe(elapsed.as_secs_f64());
    }

    /// One forward pass of `model`.
    pub fn observe_batch(&self, model: &str, inputs: usize, tokens: usize, elapsed: Duration) {
        let labels = ModelLabels { model: model.to_string() };
        self.batch_inputs.get_or_create(&labels).observe(inputs as f64);
        self.batch_tokens.get_or_create(&labels).observe(tokens as f64);
        self.batch_seconds.get_or_create(&labels).observe(elapsed.as_secs_f64());
        self.tokens.get_or_create(&labels).inc_by(tokens as u64);
    }

    /// A forward pass of `model` that panicked.
    pub fn observe_panic(&self, model: &str) {
        self.model_panics.get_or_create(&ModelLabels { model: model.to_string() }).inc();
    }

    /// A restart of `model`'s thread.
    pub fn observe_restart(&self, model: &str) {
        self.model_restarts.get_or_create(&ModelLabels { model: model.to_string() }).inc();
    }

    /// One search stage's time.
    pub fn observe_stage(&self, stage: &str, elapsed: Duration) {
        self.stage_seconds
            .get_or_create(&StageLabels { stage: stage.to_string() })
            .observe(elapsed.as_secs_f64());
    }

    /// The admitted-requests gauge.
    pub fn queue_depth(&self) -> &Gauge<i64, AtomicI64> {
        &self.queue_depth
    }

    /// Brings the cache counters of `cache` up to its running totals.
    pub fn sync_cache(&self, cache: &str, hits: u64, misses: u64) {
        let mut seen = self.cache_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (seen_hits, seen_misses) = seen.entry(cache.to_string()).or_insert((0, 0));
        let labels = CacheLabels { cache: cache.to_string() };
        self.cache_hits.get_or_create(&labels).inc_by(hits.saturating_sub(*seen_hits));
        self.cache_misses.get_or_create(&labels).inc_by(misses.saturating_sub(*seen_misses));
        (*seen_hits, *seen_misses) = (hits.max(*seen_hits), misses.max(*seen_misses));
    }

    /// Brings the result cache's metrics up to its running totals.
    pub fn sync_result_cache(&self, stats: &ResultCacheStats) {
        let mut seen = self.result_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let lookups = [
            ("exact", stats.exact_hits, seen.exact_hits),
            ("normalized", stats.normalized_hits, seen.normalized_hits),
            ("paraphrase", stats.paraphrase_hits, seen.paraphrase_hits),
            ("miss", stats.misses, seen.misses),
            ("uncacheable", stats.uncacheable, seen.uncacheable),
        ];
        for (outcome, total, added) in lookups {
            let labels = OutcomeLabels { outcome: outcome.to_string() };
            self.result_lookups.get_or_create(&labels).inc_by(total.saturating_sub(added));
        }
        let removals = [
            ("evicted", stats.evicted, seen.evicted),
            ("invalidated", stats.invalidated, seen.invalidated),
        ];
        for (reason, total, added) in removals {
            let labels = ReasonLabels { reason: reason.to_string() };
            self.result_removals.get_or_create(&labels).inc_by(total.saturating_sub(added));
        }
        self.result_entries.set(i64::try_from(stats.entries).unwrap_or(i64::MAX));
        self.result_bytes.set(i64::try_from(stats.bytes).unwrap_or(i64::MAX));
        *seen = *stats;
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
