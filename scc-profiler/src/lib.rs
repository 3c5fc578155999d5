//! # scc-profiler: system benchmarks, per-process counters and the per-packet latency model
//!
//! The SCC Profiler (paper §3.2, Fig. 2, Tables 2-5). Filled in by its issue.
#![warn(missing_docs)]
