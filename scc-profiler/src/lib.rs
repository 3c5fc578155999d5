//! # scc-profiler: system benchmarks, per-process counters and the per-packet latency model
//!
//! The SCC Profiler (paper §3.2, Fig. 2, Tables 2-5):
//! - [`model`]: Table 3's per-packet latency model (pure, no OS access) and the paper's
//!   latency preset.
//! - [`sysbench`]: this host's latency table (pointer chasing, context switches, syscalls,
//!   topology through hwloc).
//! - [`counters`]: per-process counters through perf events (software events, hardware
//!   events where a PMU exists, syscall tracepoints) and a [`counters::Session`] API.
//! - [`sched`]: scheduler state from `/proc/<pid>/schedstat` and `/proc/<pid>/status`.
//! - [`cachegrind`]: a simulated fallback for the memory-hierarchy counts.
//! - [`report`]: the report types printed by `scc profile` and their table rendering.
#![warn(missing_docs)]

pub mod cachegrind;
pub mod counters;
pub mod error;
pub mod model;
pub mod report;
pub mod sched;
pub mod sysbench;

pub use error::{CtxSwitchError, Error, Result};
pub use model::{LatencyTable, Measure, NfCounts, Policy, model_chain, model_nf};
