//! Chain-aware execution of several NFs (issue 12): the `fused` and `chain-order` plans.
//!
//! - [`FusedChain`] (`plan = "fused"`): all NFs of a chain in one process, on one core, as a
//!   run-to-completion pipeline. A batch read from the chain's entry port goes through the first
//!   NF's [`Pipeline`](crate::graph::Pipeline); the frames it sends on its `tx` port become the
//!   next NF's batch *in place* ([`scc_io::Batch::select`] renumbers descriptors: no frame is
//!   copied, no system call is made between NFs), and only the last NF's `tx` frames reach the
//!   kernel, on the chain's exit port. Each NF keeps its own configuration, counters and drop
//!   reasons ([`ChainCounters::nfs`], one [`crate::nf::NfCounters`] each, the shape a separate NF prints).
//! - [`order`] (`plan = "chain-order"`): NFs stay separate processes sharing a core, and run in
//!   chain order, one batch each, handing the core to the next NF through a futex token in
//!   shared memory ([`scc_sched::handoff`]); the first NF sleeps in poll() when the whole chain is
//!   idle.
//!
//! # Accounting in a fused chain
//! Per NF, `rx == tx + sum(drops)` as for a separate NF. An NF's frames sent back on its `rx`
//! port (ARP replies, ICMP errors) leave the chain on the entry port for the first NF; for a
//! later NF they would reach the previous NF's `tx` interface, which a separate NF never reads,
//! so the fused chain counts them as the chain-level drop [`REVERSE_UNREAD`] (they count in the
//! sending NF's `tx`, as they would separately). For the chain:
//! `rx == tx + tx_back + sum over NFs of their drops + chain drops`
//! ([`ChainCounters::balanced`]).
//!
//! What fusion gives up: every NF runs in the process's one network namespace (`env = "netns"`
//! isolation is gone) and a crash of one NF stops the whole chain.

mod fused;
pub mod order;

pub use fused::{ChainCounters, FusedChain, FusedNf, FusedOptions, REVERSE_UNREAD};
