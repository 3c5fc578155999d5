//! # Traffic: paced probe generator and latency/loss sink
//!
//! The launcher's traffic source and sink (issue 6): a generator sends Ethernet/IPv4/UDP probe
//! frames (198.18.0.0/15 only) at a configured rate in batches, each carrying a sequence number
//! and a `CLOCK_MONOTONIC` timestamp; a sink receives them, records the one-way latency in an
//! HdrHistogram and counts loss, reordering and duplicates.
//!
//! Protocol logic is split from I/O (quinn style):
//! - pure: [`probe`] (frame templates, stamping, parsing), [`pace`] (the schedule),
//!   [`seq`] (loss/reorder/duplicate accounting), [`latency`] (histogram and summary);
//! - I/O: [`Generator::run`] and [`Sink::run`] over any [`scc_io::Port`], and
//!   [`run_loopback`] / [`run_with`] which run both on two threads and return a
//!   [`TrafficReport`] (serde; the `scc run --json` keys `offered_pps`, `achieved_pps`, `sent`,
//!   `received`, `lost`, `latency_us`).
//!
//! ```no_run
//! use std::sync::atomic::AtomicBool;
//! use scc_launcher::traffic::{TrafficConfig, run_loopback};
//! let (mut a, mut b) = scc_io::mem::pair("gen", "sink", 4096, 2048).unwrap();
//! let mut cfg = TrafficConfig::default();
//! cfg.generator.rate_pps = 20_000.0;
//! cfg.generator.duration_s = Some(1.0);
//! let report = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
//! println!("{}", serde_json::to_string(&report).unwrap());
//! ```

pub mod clock;
mod generator;
pub mod hosts;
pub mod latency;
pub mod pace;
pub mod probe;
mod run;
pub mod seq;
mod sink;

pub use generator::{GenConfig, GenReport, Generator};
pub use latency::{LatencyRecorder, LatencySummary};
pub use probe::{FlowSpread, FrameSizes, MacAddr, Probe, ProbeConfig, ProbeError, SizeWeight};
pub use run::{TrafficConfig, TrafficReport, open_port_in, run_loopback, run_with};
pub use sink::{PollMode, RunControl, Sink, SinkConfig, SinkReport};

/// Errors of the traffic module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrafficError {
    /// A setting is invalid.
    #[error("traffic.{field}: {reason}")]
    Config {
        /// The setting.
        field: &'static str,
        /// Why.
        reason: String,
    },
    /// The port failed.
    #[error(transparent)]
    Io(#[from] scc_io::IoError),
    /// The latency histogram could not be created.
    #[error("latency histogram: {0}")]
    Histogram(String),
    /// A system call failed.
    #[error("{what}: {source}")]
    Os {
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The generator or sink thread panicked.
    #[error("the traffic {0} thread panicked")]
    ThreadPanicked(&'static str),
}
