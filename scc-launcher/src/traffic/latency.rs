//! Latency histogram (HdrHistogram, ns resolution) and its summary in microseconds.

use hdrhistogram::Histogram;

use super::TrafficError;

/// Highest latency recorded exactly (10 s); larger values are clamped to it.
pub const MAX_LATENCY_NS: u64 = 10_000_000_000;

/// One-way latencies in ns. Allocated once; recording never allocates.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
    /// Probes whose timestamp lies in the future (clock mismatch or corruption); not recorded.
    pub future: u64,
}

impl LatencyRecorder {
    /// A histogram from 1 ns to [`MAX_LATENCY_NS`] with 3 significant digits.
    pub fn new() -> Result<Self, TrafficError> {
        let mut hist = Histogram::new_with_bounds(1, MAX_LATENCY_NS, 3)
            .map_err(|e| TrafficError::Histogram(e.to_string()))?;
        hist.auto(false);
        Ok(Self { hist, future: 0 })
    }

    /// Records `now_ns - sent_ns`.
    #[inline]
    pub fn record(&mut self, sent_ns: u64, now_ns: u64) {
        match now_ns.checked_sub(sent_ns) {
            Some(d) => self.hist.saturating_record(d.min(MAX_LATENCY_NS)),
            None => self.future += 1,
        }
    }

    /// The histogram (ns).
    pub fn histogram(&self) -> &Histogram<u64> {
        &self.hist
    }

    /// Consumes the recorder, returning the histogram.
    pub fn into_histogram(self) -> Histogram<u64> {
        self.hist
    }

    /// The summary, or `None` when nothing was recorded (never zeros as data).
    pub fn summary(&self) -> Option<LatencySummary> {
        summarize(&self.hist)
    }
}

/// Latency percentiles in microseconds: the `latency_us` object of `scc run --json` (keys `p1,
/// p25, p50, p75, p99, max` are a contract; `min`, `mean`, `stdev`, `p999` and `count` are
/// extras). scc-profiler's [`Percentiles`](scc_profiler::report::Percentiles): one definition.
pub use scc_profiler::report::Percentiles as LatencySummary;

/// Summarises a histogram of ns values in µs; `None` when it is empty.
pub fn summarize(h: &Histogram<u64>) -> Option<LatencySummary> {
    if h.is_empty() {
        return None;
    }
    let us = |ns: u64| ns as f64 / 1000.0;
    Some(LatencySummary {
        p1: us(h.value_at_quantile(0.01)),
        p25: us(h.value_at_quantile(0.25)),
        p50: us(h.value_at_quantile(0.50)),
        p75: us(h.value_at_quantile(0.75)),
        p99: us(h.value_at_quantile(0.99)),
        max: us(h.max()),
        min: us(h.min()),
        mean: h.mean() / 1000.0,
        stdev: h.stdev() / 1000.0,
        p999: us(h.value_at_quantile(0.999)),
        count: h.len(),
    })
}
