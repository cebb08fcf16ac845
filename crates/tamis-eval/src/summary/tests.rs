use super::*;

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Checks the nearest-rank `percent`-th percentile of 1..=n milliseconds.
fn check(n: u64, percent: f64, expect_ms: u64) {
    let sorted: Vec<Duration> = (1..=n).map(ms).collect();
    assert_eq!(nearest_rank_percentile(&sorted, percent), Some(ms(expect_ms)), "p{percent} of {n}");
}

#[test]
fn nearest_rank_percentiles_are_measured_values() {
    check(100, 50.0, 50);
    check(100, 95.0, 95);
    check(100, 99.0, 99);
    check(100, 7.0, 7);
    check(100, 100.0, 100);
    check(100, 0.0, 1);
    check(10, 50.0, 5);
    check(10, 95.0, 10);
    check(10, 99.0, 10);
    check(3, 50.0, 2);
    check(1, 99.0, 1);
    check(1000, 99.9, 999);
    assert_eq!(nearest_rank_percentile(&[], 50.0), None);
}

#[test]
fn latencies_summarize_unsorted_samples() {
    let samples: Vec<Duration> = (1..=20).rev().map(ms).collect();
    let latencies = Latencies::from_samples(samples).unwrap();
    assert_eq!(
        latencies,
        Latencies {
            count: 20,
            mean: Duration::from_micros(10_500),
            p50: ms(10),
            p95: ms(19),
            p99: ms(20),
            max: ms(20)
        }
    );
    assert_eq!(Latencies::from_samples(Vec::new()), None);
}

#[test]
fn mean_of_nothing_is_none() {
    assert_eq!(mean([]), None);
    assert_eq!(mean([1.0, 2.0, 4.5]), Some(2.5));
}
