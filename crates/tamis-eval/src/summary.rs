//! Aggregates for reports: the mean of per-query values and a latency summary.

use std::time::Duration;

/// The arithmetic mean of `values`, or `None` when there are none.
pub fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, count) =
        values.into_iter().fold((0.0, 0usize), |(sum, count), value| (sum + value, count + 1));
    (count > 0).then(|| sum / count as f64)
}

/// A summary of measured latencies (of one pipeline stage, say) for a report.
///
/// Percentiles use the nearest-rank method: the p-th percentile of n sorted samples is the
/// sample at 1-based rank ⌈p/100 · n⌉, always a measured value and never an interpolation.
/// With 100 samples, p95 is the 95th smallest; with 10, p95 and p99 are both the largest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latencies {
    /// How many samples were summarized.
    pub count: usize,
    /// The arithmetic mean.
    pub mean: Duration,
    /// The median (nearest rank).
    pub p50: Duration,
    /// The 95th percentile (nearest rank).
    pub p95: Duration,
    /// The 99th percentile (nearest rank).
    pub p99: Duration,
    /// The largest sample.
    pub max: Duration,
}

impl Latencies {
    /// Summarizes `samples`, or `None` when there are none.
    pub fn from_samples(mut samples: Vec<Duration>) -> Option<Latencies> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let count = samples.len();
        let total: Duration = samples.iter().sum();
        // A Duration holds u64 seconds, so dividing the total by the count keeps nanoseconds.
        let mean = total.div_f64(count as f64);
        let percentile = |percent| nearest_rank_percentile(&samples, percent).unwrap_or_default();
        Some(Latencies {
            count,
            mean,
            p50: percentile(50.0),
            p95: percentile(95.0),
            p99: percentile(99.0),
            max: samples[count - 1],
        })
    }
}

/// The `percent`-th percentile (0 to 100) of ascending `sorted` samples by the nearest-rank
/// method, or `None` when there are none.
pub fn nearest_rank_percentile(sorted: &[Duration], percent: f64) -> Option<Duration> {
    // Multiplying first keeps the rank exact for whole percents: 7% of 100 is 7, not 8.
    let rank = (percent * sorted.len() as f64 / 100.0).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len().max(1)) - 1).copied()
}

#[cfg(test)]
mod tests;
