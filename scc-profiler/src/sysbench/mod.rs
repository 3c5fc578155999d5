//! System benchmarks (`scc sysbench`): this host's latency table.
//!
//! - Memory latency by pointer chasing (lmbench `lat_mem_rd` style) for working sets of
//!   16 KiB..256 MiB and strides of 64..1024 B, both as a **random** pointer chase (each
//!   load depends on the previous one and the order defeats the prefetcher: the real
//!   latency; `memory` in JSON) and as lmbench's **strided** walk (`memory_strided`; the
//!   prefetcher hides most of the latency, as in the paper's Fig. 3).
//! - DTLB: a random chase over one cache line per 4 KiB page (huge pages disabled), over a
//!   few pages (L1 DTLB hits) and over more pages than the L1 DTLB holds (L2 DTLB hits).
//! - Cache levels and sizes through hwloc (sysfs as a fallback).
//! - Context-switch latency between two processes pinned to the last core (pipe ping-pong,
//!   lmbench `lat_ctx` style: the pipe's own cost is measured and subtracted) for the
//!   policies other, batch, fifo and rr. FIFO/RR are set only on the two child processes
//!   created for the measurement, never on core 0, bounded by `RLIMIT_RTTIME` and `alarm`.
//! - The cost of a network-I/O system call (an empty non-blocking `recvfrom`) and of a
//!   trivial one (`getppid`).
//!
//! [`SysbenchReport::latency_table`] turns the results into the [`crate::model::LatencyTable`] the
//!
//! The module is split along its jobs: [`mod@topology`] (hwloc/sysfs/cpuinfo, pure parsers),
//! [`memory`] (pointer chasing, DTLB), [`ctxswitch`] (the forked ping-pong), [`syscalls`],
//! [`report`] (the report, the latency table, save/load) and the table rendering. The only
//! `unsafe` code is in the private `sys` wrapper module.

use serde::{Deserialize, Serialize};

pub mod ctxswitch;
pub mod memory;
mod render;
pub mod report;
mod sys;
pub mod syscalls;
pub mod topology;

pub use ctxswitch::{CtxSwitch, context_switch, last_core};
pub use memory::{MemPoint, TlbLatency, memory_latency, tlb_latency};
pub use report::{CtxSwitchNs, Pick, SysbenchReport, load_latency_table};
pub use syscalls::{SyscallCost, syscall_cost};
pub use topology::{Level, Topology, cpu_id, topology};

/// How long and how wide to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SysbenchOptions {
    /// Working sets to measure (bytes).
    pub working_sets: Vec<usize>,
    /// Strides to measure (bytes).
    pub strides: Vec<usize>,
    /// Dependent loads timed per memory point.
    pub loads_per_point: usize,
    /// Timed repetitions per point (the median is reported).
    pub repetitions: usize,
    /// Ping-pong round trips per context-switch measurement.
    pub round_trips: usize,
    /// System calls timed per syscall measurement.
    pub syscalls: usize,
    /// Also measure the strided (prefetch-friendly) walk.
    pub strided: bool,
}

impl SysbenchOptions {
    /// The full run: every power of two from 16 KiB to 256 MiB, strides 64..1024 B.
    pub fn full() -> Self {
        SysbenchOptions {
            working_sets: (14..=28).map(|s| 1usize << s).collect(),
            strides: vec![64, 128, 256, 512, 1024],
            loads_per_point: 1_000_000,
            repetitions: 3,
            round_trips: 20_000,
            syscalls: 500_000,
            strided: true,
        }
    }

    /// A quick run (< 20 s on a 2-core VM): every size, three strides, fewer loads.
    pub fn quick() -> Self {
        SysbenchOptions {
            working_sets: (14..=28).map(|s| 1usize << s).collect(),
            strides: vec![64, 256, 1024],
            loads_per_point: 200_000,
            repetitions: 3,
            round_trips: 3_000,
            syscalls: 100_000,
            strided: true,
        }
    }
}
