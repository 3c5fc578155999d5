//! [`FusedChain`]: N NF pipelines run to completion over one batch, in one process.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use scc_io::{Batch, Port, PortStats};
use serde::{Deserialize, Serialize};

use crate::config::PollMode;
use crate::error::{NfError, Result};
use crate::graph::Pipeline;
use crate::nf::{
    NfCounters, PortCounters, Rounds, StatsFile, pipeline_counters, poll_loop, send_counted,
};

/// Chain-level drop reason: frames a later NF sent back on its `rx` port, which in separate
/// processes would reach the previous NF's `tx` interface, where nothing reads them.
pub const REVERSE_UNREAD: &str = "reverse_unread";

/// The `io` an NF inside a fused chain reports when it touches no kernel port.
pub const FUSED_IO: &str = "fused";

/// Pipeline port numbers of a fusable NF: input side and output side.
const RX: usize = 0;
const TX: usize = 1;

/// One NF of a fused chain: its pipeline (ports `rx`, `tx`), name, kind and stats file.
#[derive(Debug)]
pub struct FusedNf {
    /// The NF's pipeline, built from its own configuration; its ports must be `rx` and `tx`.
    pub pipeline: Pipeline,
    /// Name in the counters.
    pub name: String,
    /// Kind in the counters (`router`, `firewall`, `forward`, `custom`).
    pub kind: String,
    /// Append this NF's counters as a JSON line every second to this file.
    pub stats_file: Option<String>,
}

/// How a fused chain runs.
#[derive(Debug, Clone)]
pub struct FusedOptions {
    /// Frames per batch (the batch read from the entry port, carried through every NF).
    pub batch: usize,
    /// Frame buffer size.
    pub frame_size: usize,
    /// How the chain waits for input on its entry port.
    pub poll: PollMode,
    /// Adaptive polling spin time.
    pub spin: Duration,
}

struct Stage {
    name: String,
    kind: String,
    pipeline: Pipeline,
    rx: u64,
    tx: u64,
    /// Of `tx`: frames sent back by the NF's `rx` port (ARP replies, ICMP errors).
    tx_back: u64,
    tx_failed: u64,
    batches: u64,
    stats: Option<StatsFile>,
}

/// A fused chain's counters: the chain's ends and every NF's own counters.
///
/// `rx == tx + tx_back + sum(nfs[k].drops) + sum(drops)` ([`ChainCounters::balanced`]), and
/// every `nfs[k]` is balanced on its own.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChainCounters {
    /// Frames received on the entry port.
    pub rx: u64,
    /// Frames sent on the exit port.
    pub tx: u64,
    /// Frames sent back on the entry port (the first NF's `rx` output: ARP replies, ICMP).
    pub tx_back: u64,
    /// Chain-level drops by reason ([`REVERSE_UNREAD`]).
    pub drops: BTreeMap<String, u64>,
    /// System calls of both ports.
    pub syscalls: u64,
    /// Frames the kernel dropped on the entry port before the chain read them.
    pub kernel_drops: u64,
    /// The NFs' counters, in chain order, each in the shape a separate NF prints.
    pub nfs: Vec<NfCounters>,
    /// Seconds since the chain started.
    pub elapsed_s: f64,
}

impl ChainCounters {
    /// Sum of the NFs' drops and the chain-level drops.
    pub fn dropped(&self) -> u64 {
        self.nfs.iter().map(NfCounters::dropped).sum::<u64>() + self.drops.values().sum::<u64>()
    }

    /// True when the chain's identity and every NF's identity hold.
    pub fn balanced(&self) -> bool {
        self.rx == self.tx + self.tx_back + self.dropped()
            && self.nfs.iter().all(NfCounters::balanced)
    }
}

/// N NFs as one run-to-completion pipeline between an entry and an exit port. See the
/// [module documentation](crate::chain).
pub struct FusedChain {
    stages: Vec<Stage>,
    entry: Box<dyn Port>,
    exit: Box<dyn Port>,
    batch: Batch,
    poll: PollMode,
    spin: Duration,
    rx: u64,
    tx: u64,
    tx_back: u64,
    /// Frames sent per port so far (entry, exit), to read back partial sends after an error.
    port_tx: [u64; 2],
    reverse_unread: u64,
    started: Instant,
}

impl std::fmt::Debug for FusedChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FusedChain")
            .field(
                "nfs",
                &self.stages.iter().map(|s| &s.name).collect::<Vec<_>>(),
            )
            .field("entry", &self.entry.name())
            .field("exit", &self.exit.name())
            .finish()
    }
}

impl FusedChain {
    /// A chain of `nfs` (in chain order) reading `entry` (the first NF's input interface) and
    /// writing `exit` (the last NF's output interface).
    ///
    /// Errors: no NF, or an NF whose pipeline ports are not exactly `rx`, `tx` (named in the
    /// message); a bad batch or frame size.
    pub fn new(
        nfs: Vec<FusedNf>,
        entry: Box<dyn Port>,
        exit: Box<dyn Port>,
        opts: FusedOptions,
    ) -> Result<Self> {
        if nfs.is_empty() {
            return Err(NfError::Config(
                "a fused chain needs at least one NF".into(),
            ));
        }
        let mut stages = Vec::with_capacity(nfs.len());
        for nf in nfs {
            let ports = nf.pipeline.ports();
            if ports.len() != 2 || ports[RX] != "rx" || ports[TX] != "tx" {
                return Err(NfError::Config(format!(
                    "NF `{}` cannot be fused: its ports are {:?}, a fused NF has exactly `rx` and `tx`",
                    nf.name, ports
                )));
            }
            if nf.pipeline.originates() {
                return Err(NfError::Config(format!(
                    "NF `{}` cannot be fused: it resolves gateways by ARP (routes `via IP`), and a fused chain's inner links are in memory; give its routes `via MAC`",
                    nf.name
                )));
            }
            stages.push(Stage {
                stats: nf.stats_file.as_deref().map(StatsFile::open).transpose()?,
                name: nf.name,
                kind: nf.kind,
                pipeline: nf.pipeline,
                rx: 0,
                tx: 0,
                tx_back: 0,
                tx_failed: 0,
                batches: 0,
            });
        }
        Ok(Self {
            stages,
            entry,
            exit,
            batch: Batch::new(opts.batch, opts.frame_size)?,
            poll: opts.poll,
            spin: opts.spin,
            rx: 0,
            tx: 0,
            tx_back: 0,
            port_tx: [0; 2],
            reverse_unread: 0,
            started: Instant::now(),
        })
    }

    /// Number of NFs.
    pub fn len(&self) -> usize {
        self.stages.len()
    }

    /// Always false (a chain has at least one NF).
    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }

    /// One round: receive a batch from the entry port without blocking and run it through
    /// every NF, sending the last NF's output on the exit port. Returns the frames received.
    pub fn poll_once(&mut self) -> Result<usize> {
        self.batch.clear();
        let n = self.entry.recv_batch(&mut self.batch)?;
        if n == 0 {
            return Ok(0);
        }
        self.rx += n as u64;
        let now = self.started.elapsed().as_nanos() as u64;
        let last = self.stages.len() - 1;
        for (k, st) in self.stages.iter_mut().enumerate() {
            if self.batch.is_empty() {
                break;
            }
            st.rx += self.batch.len() as u64;
            st.batches += 1;
            st.pipeline.process(&mut self.batch, now);
            let back = st.pipeline.port_frames(RX);
            if !back.is_empty() {
                if k == 0 {
                    let sent =
                        send_counted(self.entry.as_mut(), &self.batch, back, &mut self.port_tx[0]);
                    st.tx += sent as u64;
                    st.tx_back += sent as u64;
                    st.tx_failed += (back.len() - sent) as u64;
                    self.tx_back += sent as u64;
                } else {
                    st.tx += back.len() as u64;
                    st.tx_back += back.len() as u64;
                    self.reverse_unread += back.len() as u64;
                }
            }
            let fwd = st.pipeline.port_frames(TX);
            if k == last {
                if !fwd.is_empty() {
                    let sent =
                        send_counted(self.exit.as_mut(), &self.batch, fwd, &mut self.port_tx[1]);
                    st.tx += sent as u64;
                    st.tx_failed += (fwd.len() - sent) as u64;
                    self.tx += sent as u64;
                }
            } else {
                st.tx += fwd.len() as u64;
                // The next NF's batch: exactly these frames, renumbered, bytes untouched.
                self.batch.select(fwd);
            }
        }
        Ok(n)
    }

    /// Runs until `stop` is set; returns the final counters.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<ChainCounters> {
        let (poll, spin) = (self.poll, self.spin);
        poll_loop(self, poll, spin, stop)?;
        Ok(self.counters())
    }

    /// The counters now.
    pub fn counters(&mut self) -> ChainCounters {
        let entry = self.entry.stats();
        let exit = self.exit.stats();
        let last = self.stages.len() - 1;
        let elapsed_s = self.started.elapsed().as_secs_f64();
        let driver = self.entry.driver().name();
        let names: Vec<String> = self.stages.iter().map(|s| s.name.clone()).collect();
        let (entry_name, exit_name) = (self.entry.name().to_string(), self.exit.name().to_string());
        let nfs = self
            .stages
            .iter()
            .enumerate()
            .map(|(k, st)| {
                // The entry port's work belongs to the first NF, the exit port's to the last,
                // as when each NF had its own ports.
                let mut ps = PortStats::default();
                for (is, p) in [(k == 0, &entry), (k == last, &exit)] {
                    if is {
                        ps.rx_syscalls += p.rx_syscalls;
                        ps.tx_syscalls += p.tx_syscalls;
                        ps.kernel_drops += p.kernel_drops;
                        ps.empty_polls += p.empty_polls;
                    }
                }
                let (drops, events) = pipeline_counters(&st.pipeline, st.tx_failed);
                NfCounters {
                    name: st.name.clone(),
                    nf: st.kind.clone(),
                    rx: st.rx,
                    tx: st.tx,
                    drops,
                    syscalls: ps.rx_syscalls + ps.tx_syscalls,
                    rx_syscalls: ps.rx_syscalls,
                    tx_syscalls: ps.tx_syscalls,
                    kernel_drops: ps.kernel_drops,
                    empty_polls: ps.empty_polls,
                    batches: st.batches,
                    events,
                    io: if k == 0 || k == last {
                        driver.to_string()
                    } else {
                        FUSED_IO.to_string()
                    },
                    batch: self.batch.capacity(),
                    poll: self.poll.name().to_string(),
                    elapsed_s,
                    rx_errors: 0,
                    // The chain's ends are its interfaces; the links inside are in memory,
                    // named `fused:FROM-TO` after the NFs they join.
                    ports: vec![
                        PortCounters {
                            name: if k == 0 {
                                entry_name.clone()
                            } else {
                                format!("fused:{}-{}", names[k - 1], names[k])
                            },
                            rx: st.rx,
                            tx: st.tx_back,
                            kernel_drops: if k == 0 { entry.kernel_drops } else { 0 },
                            rx_errors: 0,
                        },
                        PortCounters {
                            name: if k == last {
                                exit_name.clone()
                            } else {
                                format!("fused:{}-{}", names[k], names[k + 1])
                            },
                            rx: 0,
                            tx: st.tx - st.tx_back,
                            kernel_drops: 0,
                            rx_errors: 0,
                        },
                    ],
                    originated: 0,
                    held: 0,
                }
            })
            .collect();
        let mut drops = BTreeMap::new();
        if self.reverse_unread > 0 {
            drops.insert(REVERSE_UNREAD.to_string(), self.reverse_unread);
        }
        ChainCounters {
            rx: self.rx,
            tx: self.tx,
            tx_back: self.tx_back,
            drops,
            syscalls: entry.syscalls() + exit.syscalls(),
            kernel_drops: entry.kernel_drops,
            nfs,
            elapsed_s,
        }
    }
}

impl Rounds for FusedChain {
    fn round(&mut self) -> Result<usize> {
        self.poll_once()
    }

    fn wait_input(&mut self, timeout: Duration) -> Result<bool> {
        Ok(self.entry.wait_readable(Some(timeout))?)
    }

    fn write_stats(&mut self, _n: usize, last: bool) -> Result<()> {
        let due = self
            .stages
            .iter()
            .any(|s| s.stats.as_ref().is_some_and(|f| last || f.due()));
        if !due {
            return Ok(());
        }
        let c = self.counters();
        for (st, nc) in self.stages.iter_mut().zip(&c.nfs) {
            if let Some(f) = &mut st.stats {
                f.write(nc)?;
            }
        }
        Ok(())
    }
}
