//! The NF loop: the paper's three rounds (read a batch, process it, write it) over scc-io ports,
//! with sleep / busy / adaptive polling, accounting and the JSON counters.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scc_io::{Batch, Port, PortStats};
use serde::{Deserialize, Serialize};

use crate::config::PollMode;
use crate::error::{NfError, Result};
use crate::graph::Pipeline;

/// How long one sleep in poll() lasts before the loop checks its stop flag again.
pub const SLEEP_SLICE: Duration = Duration::from_millis(100);
/// The drop reason for frames the output port could not send.
pub const TX_FAILED: &str = "tx_failed";

/// An NF's counters: what `scc-nf` prints as one JSON object on stdout when it stops (and
/// appends to its stats file every second). Accounting identity:
/// `rx == tx + sum(drops)` at all times.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NfCounters {
    /// The NF's name.
    pub name: String,
    /// Which NF: `router`, `firewall`, `forward` or `custom`.
    pub nf: String,
    /// Frames received.
    pub rx: u64,
    /// Frames sent.
    pub tx: u64,
    /// Frames dropped, by reason (only reasons that occurred).
    pub drops: BTreeMap<String, u64>,
    /// System calls made by the NF's ports (receive + send + waits).
    pub syscalls: u64,
    /// System calls on the receive side (including waits in poll()).
    pub rx_syscalls: u64,
    /// System calls on the transmit side.
    pub tx_syscalls: u64,
    /// Frames the kernel dropped before the NF could read them (not part of `rx`).
    pub kernel_drops: u64,
    /// Receive attempts that found nothing.
    pub empty_polls: u64,
    /// Non-empty batches processed.
    pub batches: u64,
    /// Other events (ICMP errors sent, ARP replies, counters, firewall rule hits).
    pub events: BTreeMap<String, u64>,
    /// I/O backend.
    pub io: String,
    /// Batch size.
    pub batch: usize,
    /// Poll mode.
    pub poll: String,
    /// Seconds since the NF started.
    pub elapsed_s: f64,
}

impl NfCounters {
    /// Sum of all drops.
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }

    /// True when `rx == tx + dropped()`.
    pub fn balanced(&self) -> bool {
        self.rx == self.tx + self.dropped()
    }
}

/// A running NF: a pipeline between an input port and output ports.
pub struct Nf {
    name: String,
    kind: String,
    pipeline: Pipeline,
    /// The opened ports; `map[pipeline port] = index into ports`.
    ports: Vec<Box<dyn Port>>,
    map: Vec<usize>,
    batch: Batch,
    poll: PollMode,
    spin: Duration,
    rx: u64,
    tx: u64,
    /// Frames sent per entry of `ports` (to read back partial sends after an error).
    port_tx: Vec<u64>,
    tx_failed: u64,
    batches: u64,
    started: Instant,
    stats: Option<StatsFile>,
    last_stats: Instant,
    status: Option<crate::status::StatusChannel>,
    /// `started.elapsed()` of the last non-empty batch (ns), reused by the stats timer.
    last_batch_ns: u64,
}

/// Sends the frames `idx` of `batch` on `port` and returns how many went out; `port_tx` is the
/// running count of frames sent on that port (to read back a partial send after an error: a port
/// reports an oversize frame, or an interface gone, after sending what it could, and its own
/// counter says how many went out). Error path only: no extra work per batch.
pub(crate) fn send_counted(
    port: &mut dyn Port,
    batch: &Batch,
    idx: &[u16],
    port_tx: &mut u64,
) -> usize {
    let sent = match port.send_frames(batch, idx) {
        Ok(s) => s,
        Err(_) => port.stats().tx_frames.saturating_sub(*port_tx) as usize,
    }
    .min(idx.len());
    *port_tx += sent as u64;
    sent
}

/// An NF's drops by reason (the pipeline's, plus `tx_failed`) and events, zeros left out.
pub(crate) fn pipeline_counters(
    pipeline: &Pipeline,
    tx_failed: u64,
) -> (BTreeMap<String, u64>, BTreeMap<String, u64>) {
    let mut drops = BTreeMap::new();
    pipeline.drops_into(&mut drops);
    if tx_failed > 0 {
        *drops.entry(TX_FAILED.to_string()).or_insert(0) += tx_failed;
    }
    drops.retain(|_, v| *v > 0);
    let mut events = pipeline.events();
    events.retain(|_, v| *v > 0);
    (drops, events)
}

/// A stats file: the counters appended as one JSON line every second.
pub(crate) struct StatsFile {
    file: std::fs::File,
    path: String,
    last: Instant,
}

impl StatsFile {
    /// Opens (creates, appends to) `path`.
    pub(crate) fn open(path: &str) -> Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| NfError::File {
                path: path.to_string(),
                source,
            })?;
        Ok(Self {
            file,
            path: path.to_string(),
            last: Instant::now(),
        })
    }

    /// True when a second has passed since the last line.
    pub(crate) fn due(&self) -> bool {
        self.last.elapsed() >= Duration::from_secs(1)
    }

    /// Appends `c` as one JSON line.
    pub(crate) fn write(&mut self, c: &impl Serialize) -> Result<()> {
        self.last = Instant::now();
        let line = serde_json::to_string(c).unwrap_or_default();
        writeln!(self.file, "{line}").map_err(|source| NfError::File {
            path: self.path.clone(),
            source,
        })
    }
}

/// What [`poll_loop`] drives: an NF, or NFs fused into one process.
pub(crate) trait Rounds {
    /// One round: receive a batch without blocking, process, send; the frames received.
    fn round(&mut self) -> Result<usize>;
    /// Sleeps until input arrives or `timeout` passes.
    fn wait_input(&mut self, timeout: Duration) -> Result<bool>;
    /// Reports the counters when due (`n`: frames of the round just done); with `last`, the
    /// final stats line.
    fn write_stats(&mut self, n: usize, last: bool) -> Result<()>;
}

impl Rounds for Nf {
    fn round(&mut self) -> Result<usize> {
        self.poll_once()
    }
    fn wait_input(&mut self, timeout: Duration) -> Result<bool> {
        Nf::wait_input(self, timeout)
    }
    fn write_stats(&mut self, n: usize, last: bool) -> Result<()> {
        Nf::write_stats(self, n, last)
    }
}

/// The NF loop: rounds until `stop`, waiting for input as `poll` says.
pub(crate) fn poll_loop(
    r: &mut impl Rounds,
    poll: PollMode,
    spin: Duration,
    stop: &AtomicBool,
) -> Result<()> {
    let mut last_frame = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let n = r.round()?;
        if n > 0 {
            if poll == PollMode::Adaptive {
                last_frame = Instant::now();
            }
        } else {
            let sleep = match poll {
                PollMode::Busy => false,
                PollMode::Sleep => true,
                PollMode::Adaptive => last_frame.elapsed() >= spin,
            };
            if sleep {
                r.wait_input(SLEEP_SLICE)?;
            } else {
                std::hint::spin_loop();
            }
        }
        r.write_stats(n, false)?;
    }
    r.write_stats(0, true)
}

impl std::fmt::Debug for Nf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nf")
            .field("name", &self.name)
            .field("pipeline", &self.pipeline)
            .finish()
    }
}

/// How to run an NF (besides its pipeline and ports).
#[derive(Debug, Clone)]
pub struct NfOptions {
    /// Name in the counters.
    pub name: String,
    /// Kind in the counters (`router`, `firewall`, `forward`, `custom`).
    pub kind: String,
    /// Frames per batch.
    pub batch: usize,
    /// Frame buffer size.
    pub frame_size: usize,
    /// Poll mode.
    pub poll: PollMode,
    /// Adaptive polling spin time.
    pub spin: Duration,
    /// Append the counters as a JSON line every second to this file.
    pub stats_file: Option<String>,
}

impl Nf {
    /// An NF running `pipeline` with `ports[0]` as input; `map[k]` is the index in `ports` of the
    /// pipeline's port `k` (e.g. `[0, 1]`, or `[0, 0]` when rx and tx are one interface).
    pub fn new(
        pipeline: Pipeline,
        ports: Vec<Box<dyn Port>>,
        map: Vec<usize>,
        opts: NfOptions,
    ) -> Result<Self> {
        if ports.is_empty()
            || map.len() != pipeline.ports().len()
            || map.iter().any(|&m| m >= ports.len())
        {
            return Err(NfError::Config("bad port map".into()));
        }
        let stats = opts
            .stats_file
            .as_deref()
            .map(StatsFile::open)
            .transpose()?;
        let nports = ports.len();
        Ok(Self {
            name: opts.name,
            kind: opts.kind,
            pipeline,
            ports,
            map,
            batch: Batch::new(opts.batch, opts.frame_size)?,
            poll: opts.poll,
            spin: opts.spin,
            rx: 0,
            tx: 0,
            port_tx: vec![0; nports],
            tx_failed: 0,
            batches: 0,
            started: Instant::now(),
            stats,
            last_stats: Instant::now(),
            status: None,
            last_batch_ns: 0,
        })
    }

    /// Reports on `channel` (`scc-nf --status-fd`): the counters every second while running
    /// (like the stats file). `ready` and `final` are sent by the caller (see
    /// [`crate::cli::run_until_signal_with`]).
    pub fn set_status(&mut self, channel: crate::status::StatusChannel) {
        self.status = Some(channel);
    }

    /// Sends `s` on the status channel, if there is one (best effort: a failed write is
    /// reported on stderr once and the channel closed; the NF keeps running).
    pub fn send_status(&mut self, s: &crate::status::Status) {
        if let Some(ch) = &mut self.status
            && let Err(e) = ch.send(s)
        {
            eprintln!("scc-nf: status channel: {e} (closed)");
            self.status = None;
        }
    }

    /// One round: receive a batch without blocking, process it, send it. Returns the number of
    /// frames received (0: nothing was waiting).
    pub fn poll_once(&mut self) -> Result<usize> {
        self.batch.clear();
        let n = self.ports[0].recv_batch(&mut self.batch)?;
        if n == 0 {
            return Ok(0);
        }
        self.rx += n as u64;
        self.batches += 1;
        let now = self.started.elapsed().as_nanos() as u64;
        self.last_batch_ns = now;
        self.pipeline.process(&mut self.batch, now);
        for p in 0..self.map.len() {
            let idx = self.pipeline.port_frames(p);
            if idx.is_empty() {
                continue;
            }
            let pi = self.map[p];
            let sent = send_counted(
                self.ports[pi].as_mut(),
                &self.batch,
                idx,
                &mut self.port_tx[pi],
            );
            self.tx += sent as u64;
            self.tx_failed += (idx.len() - sent) as u64;
        }
        Ok(n)
    }

    /// Runs until `stop` is set; returns the final counters.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<NfCounters> {
        let (poll, spin) = (self.poll, self.spin);
        poll_loop(self, poll, spin, stop)?;
        Ok(self.counters())
    }

    /// The poll mode and adaptive spin time.
    pub fn poll_mode(&self) -> (PollMode, Duration) {
        (self.poll, self.spin)
    }

    /// Waits (in poll(), at most `timeout`) until the input port has a frame.
    pub fn wait_input(&mut self, timeout: Duration) -> Result<bool> {
        Ok(self.ports[0].wait_readable(Some(timeout))?)
    }

    /// Whether a second has passed since the last stats line. After a batch (`n > 0`) the
    /// batch's own timestamp is reused, so reporting adds no clock read per batch.
    fn stats_due(&self, n: usize) -> bool {
        let next = self.last_stats.duration_since(self.started) + Duration::from_secs(1);
        if n > 0 {
            Duration::from_nanos(self.last_batch_ns) >= next
        } else {
            self.started.elapsed() >= next
        }
    }

    /// Reports the counters (stats file line, status channel) when a second has passed since
    /// the last report (`n`: frames of the round just done). With `last`, only the stats file
    /// gets its final line (the caller sends the final status).
    pub fn write_stats(&mut self, n: usize, last: bool) -> Result<()> {
        let due = if last {
            self.stats.is_some()
        } else {
            (self.stats.is_some() || self.status.is_some()) && self.stats_due(n)
        };
        if !due {
            return Ok(());
        }
        self.last_stats = Instant::now();
        let c = self.counters();
        if !last && self.status.is_some() {
            self.send_status(&crate::status::Status::Counters(c.clone()));
        }
        if let Some(f) = &mut self.stats {
            f.write(&c)?;
        }
        Ok(())
    }

    /// The counters now.
    pub fn counters(&mut self) -> NfCounters {
        let (drops, events) = pipeline_counters(&self.pipeline, self.tx_failed);
        let mut st = PortStats::default();
        for p in &mut self.ports {
            let s = p.stats();
            st.rx_syscalls += s.rx_syscalls;
            st.tx_syscalls += s.tx_syscalls;
            st.kernel_drops += s.kernel_drops;
            st.empty_polls += s.empty_polls;
        }
        NfCounters {
            name: self.name.clone(),
            nf: self.kind.clone(),
            rx: self.rx,
            tx: self.tx,
            drops,
            syscalls: st.rx_syscalls + st.tx_syscalls,
            rx_syscalls: st.rx_syscalls,
            tx_syscalls: st.tx_syscalls,
            kernel_drops: st.kernel_drops,
            empty_polls: st.empty_polls,
            batches: self.batches,
            events,
            io: self.ports[0].driver().name().to_string(),
            batch: self.batch.capacity(),
            poll: self.poll.name().to_string(),
            elapsed_s: self.started.elapsed().as_secs_f64(),
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}
