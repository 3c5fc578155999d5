//! # scc-launcher: chain descriptions, deployment, traffic, profile and run-time modes
//!
//! The SCC Launcher (paper §5.1, Fig. 6): an operator describes a service chain in a file
//! ([`chain`]); the launcher validates it, turns it into a pure deployment plan ([`plan`]),
//! deploys it in anonymous network namespaces, starts and pins the NFs, hands their PIDs to the
//! scheduler (run-time mode) or the profiler (profile mode), drives traffic through it and tears
//! everything down again, whatever happens.
//!
//! - [`chain`]: the chain file (TOML/JSON), parse errors with field paths and suggestions, pure
//!   validation.
//! - [`plan`]: the pure deployment plan (namespaces, links, names, MACs, NF command lines, cores
//!   through scc-sched's Fig. 7 plans) and its inverse.
//! - [`deploy`]: applying and undoing the plan (netlink through `scc_io::link`, NF processes and
//!   their status channels: readiness and counters).
//! - [`ovs`]: Open vSwitch's userspace datapath as the switch.
//! - [`run`]: one run in run-time or profile mode; [`report`]: the report of `scc run --json`
//!   and its table; [`proc`]: process helpers;
//!   [`profile`]: the profiler's part; [`cgroup`]: per-NF cgroups; [`capture`]: `--capture DIR`
//!   (one pcap file per NF port); [`privilege`]: the capabilities each NF keeps, and whether
//!   the launcher holds host privileges.
//! - [`traffic`]: the paced probe generator and the latency/loss sink.
//! - [`kernel_nf`]: `kind = "kernel"` NFs (the kernel's own forwarding in a namespace).
//! - [`experiment`]: `scc experiment`'s campaigns, plots and result files.
//!
//! ```no_run
//! use std::sync::{Arc, atomic::AtomicBool};
//! use scc_launcher::chain::{Chain, HostInfo};
//! use scc_launcher::run::{RunOptions, run_chain, stop_on_signals};
//!
//! let chain = Chain::load("examples/chains/demo.toml".as_ref())?;
//! chain.validate(&HostInfo::detect())?;
//! let stop = Arc::new(AtomicBool::new(false));
//! stop_on_signals(&stop)?;
//! // Needs CAP_NET_ADMIN (root, or inside a user namespace as `scc` arranges), and `scc` as
//! // the executable that runs `scc nf ...` (see RunOptions::exe / nf_exe).
//! let report = run_chain(&chain, RunOptions::new(stop)?)?;
//! println!("{}", serde_json::to_string(&report)?);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![warn(missing_docs)]

pub mod capture;
pub mod cgroup;
pub mod chain;
pub mod deploy;
pub mod experiment;
pub mod fusion;
pub mod kernel_nf;
pub mod ovs;
pub mod plan;
pub mod privilege;
pub mod proc;
pub mod profile;
pub mod report;
pub mod run;
mod sys;
pub mod traffic;
