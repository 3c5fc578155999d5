//! # scc: profiling and accelerating commodity NFV service chains
//!
//! A facade over the scc crates, so an application can depend on one crate:
//!
//! | module | crate | what it does |
//! |---|---|---|
//! | [`io`] | `scc-io` | batched AF_PACKET I/O: per-packet, `recvmmsg`/`sendmmsg`, PACKET_MMAP rings, in-memory |
//! | [`nf`] | `scc-nf` | Click-style elements and the router, firewall and forwarder NFs |
//! | [`profiler`] | `scc-profiler` | system benchmarks, per-process counters, the per-packet latency model |
//! | [`sched`] | `scc-sched` | scheduling policies, time quanta, pinning, core reservation, plans |
//! | [`launcher`] | `scc-launcher` | chain descriptions, deployment, traffic, profile and run-time modes |
#![warn(missing_docs)]

pub use scc_io as io;
pub use scc_launcher as launcher;
pub use scc_nf as nf;
pub use scc_profiler as profiler;
pub use scc_sched as sched;
