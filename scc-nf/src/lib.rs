//! # scc-nf: Click-style network function elements and NFs
//!
//! The library of network functions that SCC chains are made of (paper §4.1, §5.1): the standard
//! IP router of the Click paper (static next hops, without ARPQuerier), a firewall and a forwarder, built from
//! batch-oriented elements that own no I/O.
//!
//! - [`wire`]: typed zero-copy views of Ethernet, ARP, IPv4, ICMP and UDP, checksums, builders.
//! - [`element`]: the element model (batch in, per-frame [`element::Verdict`]s out);
//!   [`elements`], [`route`] (`IpLookup`, routes files) and [`filter`] (`IpFilter`, rules files):
//!   the element library; [`lpm`]: the Poptrie-style longest-prefix match behind `IpLookup`.
//! - [`graph`]: composing elements into a [`graph::Pipeline`] with drop accounting by reason.
//! - [`config`]: the NF file format (TOML), the `router`, `firewall` and `forward` presets.
//! - [`nf`]: the NF loop over scc-io ports (read a batch, process, write) and [`nf::NfCounters`],
//!   the JSON counters an NF prints at exit.
//! - [`ports`]: per-port behaviour (`HostEtherFilter`, `FixIpSrc`): an NF reads and writes
//!   all its ports, each with its own MAC and addresses.
//! - [`chain`]: several NFs run chain-aware: fused into one process ([`chain::FusedChain`]) or
//!   in chain order on a shared core ([`chain::order`]).
//! - [`simulate`]: an offline run over in-memory ports for a fixed number of frames (for
//!   cachegrind, `--simulate-packets`).
//! - [`cli`]: the `scc-nf` command line ([`cli::main_from_args`]); [`title`]: the NF's process
//!   name (`scc-nf:<name>`).
//!
//! Dependencies: scc-io (ports, batches); scc-sched only for [`chain::order`]'s hand-off token
//! ([`scc_sched::handoff`], the one definition of the chain-order mechanism); `signal-hook`
//! (SIGINT/SIGTERM set the stop flag without a hand-written handler) and `memmap2` (the LPM
//! arena as an anonymous mapping with `MADV_HUGEPAGE`, without hand-written `mmap`).
#![warn(missing_docs)]

mod capture;
pub mod chain;
pub mod cli;
pub mod config;
pub mod element;
pub mod elements;
mod error;
mod fast;
pub mod filter;
pub mod graph;
pub mod lpm;
pub mod neigh;
pub mod nf;
pub mod ports;
pub mod route;
mod setup;
pub mod simulate;
pub mod status;
pub mod title;
pub mod wire;

pub use error::{NfError, Result};
