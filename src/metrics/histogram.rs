//! A latency histogram updated with atomics only.
//!
//! prometheus-client's own `Histogram` takes a mutex on every observation; ours is observed on
//! every client command and every WAL fsync, so it keeps one atomic counter per bucket and an
//! atomic sum of nanoseconds instead. An observation is a binary search over a dozen bounds and
//! two relaxed `fetch_add`s; a scrape reads the counters without stopping writers (the total is
//! the sum of the buckets, so `_count` always equals the `+Inf` bucket; `_sum` may lag a
//! concurrent observation by one, which Prometheus tolerates).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeMetric, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::{MetricType, TypedMetric};

/// Bucket upper bounds (seconds) for client commands: 50 µs (a local read) to 5 s (a write
/// that waited out an election).
pub const COMMAND_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0,
];

/// Bucket upper bounds (seconds) for WAL fsyncs: 100 µs (a preallocated segment on a fast SSD)
/// to 1 s (a disk in trouble).
pub const FSYNC_BUCKETS: &[f64] = &[
    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// Bucket upper bounds (seconds) for writing a snapshot: 1 ms (a near-empty keyspace; the
/// snapshot store reports whole milliseconds) to 60 s (gigabytes).
pub const SNAPSHOT_BUCKETS: &[f64] = &[
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// A histogram of durations. Cloning shares the counters (as prometheus-client's metrics do), so
/// the registry and the code that observes hold the same one.
#[derive(Debug, Clone)]
pub struct DurationHistogram {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Upper bounds in seconds, ascending, as exposed in `le`.
    bounds: &'static [f64],
    /// The same bounds in nanoseconds, for an exact comparison per observation.
    bounds_ns: Box<[u64]>,
    /// Observations per bucket, not cumulative; one more than `bounds` (the `+Inf` bucket).
    counts: Box<[AtomicU64]>,
    /// Sum of all observations in nanoseconds (wraps after 584 years of observed time).
    sum_ns: AtomicU64,
}

impl DurationHistogram {
    /// A histogram with these bucket bounds (seconds, ascending, finite).
    pub fn new(bounds: &'static [f64]) -> DurationHistogram {
        assert!(
            bounds.windows(2).all(|w| w[0] < w[1]) && bounds.iter().all(|b| b.is_finite()),
            "histogram bounds must be finite and ascending: {bounds:?}"
        );
        DurationHistogram {
            inner: Arc::new(Inner {
                bounds,
                bounds_ns: bounds.iter().map(|b| (b * 1e9).round() as u64).collect(),
                counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
                sum_ns: AtomicU64::new(0),
            }),
        }
    }

    /// Records one duration. Lock-free and allocation-free.
    pub fn observe(&self, took: Duration) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let bucket = self.inner.bounds_ns.partition_point(|bound| *bound < ns);
        self.inner.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.inner.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }
}

impl TypedMetric for DurationHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for DurationHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        let inner = &self.inner;
        let buckets: Vec<(f64, u64)> = inner
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(inner.counts.iter().map(|c| c.load(Ordering::Relaxed)))
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let sum = inner.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_observation_lands_in_the_first_bucket_whose_bound_it_does_not_exceed() {
        let h = DurationHistogram::new(&[0.001, 0.01]);
        h.observe(Duration::from_micros(1000)); // exactly on the bound: `le` is inclusive
        h.observe(Duration::from_millis(5));
        h.observe(Duration::from_secs(3));
        let counts: Vec<u64> = h
            .inner
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        assert_eq!(counts, [1, 1, 1]);
        assert_eq!(h.inner.sum_ns.load(Ordering::Relaxed), 3_006_000_000);
    }
}
