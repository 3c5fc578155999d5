//! The NF loop: the paper's three rounds (read a batch, process it, write it) over scc-io ports,
//! with sleep / busy / adaptive polling, accounting and the JSON counters.
//!
//! Every port is read: one round takes at most one batch from each port in turn (the first port
//! of the round rotates, so no port starves another), runs it through the pipeline as coming
//! from that port, and sends the results. A port that comes back empty is skipped until a wait
//! reports it readable (or every [`RECHECK_ROUNDS`] rounds), so one-way traffic costs no extra
//! receive call on the idle port; when no port has anything, the loop sleeps on all ports at
//! once ([`scc_io::wait_any`], one `ppoll`). A transient receive error (ENOBUFS, ENOMEM, EINTR,
//! EAGAIN, ENETDOWN, an interface going down) is counted in `rx_errors` and retried; only an
//! error that persists on a port for [`RX_ERROR_GRACE`] without a successful receive, or any
//! other error, ends the NF.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scc_io::{Batch, IoError, Port, PortStats, wait_any};
use serde::{Deserialize, Serialize};

use crate::config::PollMode;
use crate::error::{NfError, Result};
use crate::graph::Pipeline;

/// How long one sleep in poll() lasts before the loop checks its stop flag again.
pub const SLEEP_SLICE: Duration = Duration::from_millis(100);
/// The drop reason for frames the output port could not send.
pub const TX_FAILED: &str = "tx_failed";
/// How long a port may keep failing to receive (transient errors only) before the NF gives up.
pub const RX_ERROR_GRACE: Duration = Duration::from_secs(5);
/// The pause after a round with a receive error and no frames (error path only).
const RX_ERROR_PAUSE: Duration = Duration::from_millis(1);
/// Every this many rounds without a wait, ports that came back empty are asked again (another
/// port keeps the loop busy; a wait looks at every port anyway).
pub const RECHECK_ROUNDS: u64 = 8;

/// The bit mask of `n` ports.
fn all_ports(n: usize) -> u64 {
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// True for receive errors worth retrying: the kernel was short of buffers or memory, the call
/// was interrupted, or the link went down (it may come back).
pub fn is_transient_rx_error(e: &IoError) -> bool {
    match e {
        IoError::InterfaceDown(_) => true,
        IoError::Sys { source, .. } => matches!(
            source.raw_os_error(),
            Some(
                libc::ENOBUFS
                    | libc::ENOMEM
                    | libc::EINTR
                    | libc::EAGAIN
                    | libc::ENETDOWN
                    | libc::ENETRESET
            )
        ),
        _ => false,
    }
}

/// One port's share of an NF's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    /// The interface (or mem port) name.
    pub name: String,
    /// Frames received on this port.
    pub rx: u64,
    /// Frames sent on this port.
    pub tx: u64,
    /// Frames the kernel dropped before the NF read them on this port.
    pub kernel_drops: u64,
    /// Transient receive errors on this port (retried).
    pub rx_errors: u64,
}

/// An NF's counters: what `scc-nf` prints as one JSON object on stdout when it stops (and
/// appends to its stats file every second). Accounting identity:
/// `rx + originated == tx + sum(drops) + held` at all times, where `rx` and `tx` are the sums
/// over `ports`; `originated` (ARP requests) and `held` (frames waiting for ARP) are zero for an
/// NF whose routes all name a MAC, where the identity is `rx == tx + sum(drops)`.
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
    /// Transient receive errors, retried (see [`is_transient_rx_error`]).
    #[serde(default)]
    pub rx_errors: u64,
    /// Per port (the opened interfaces, in order: rx first): frames in and out.
    #[serde(default)]
    pub ports: Vec<PortCounters>,
    /// Frames the NF made itself (ARP requests for gateways named `via IP`), part of `tx`.
    #[serde(default)]
    pub originated: u64,
    /// Frames waiting now in ARP queues (neither sent nor dropped yet).
    #[serde(default)]
    pub held: u64,
}

impl NfCounters {
    /// Sum of all drops.
    pub fn dropped(&self) -> u64 {
        self.drops.values().sum()
    }

    /// True when `rx + originated == tx + dropped() + held` and, when per-port counters are
    /// present, `rx` and `tx` are their sums.
    pub fn balanced(&self) -> bool {
        self.rx + self.originated == self.tx + self.dropped() + self.held
            && (self.ports.is_empty()
                || (self.ports.iter().map(|p| p.rx).sum::<u64>() == self.rx
                    && self.ports.iter().map(|p| p.tx).sum::<u64>() == self.tx))
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
    /// Per entry of `ports`: the pipeline port its frames come in by.
    in_port: Vec<u8>,
    /// Per entry of `ports`: frames received.
    port_rx: Vec<u64>,
    /// Per entry of `ports`: transient receive errors, and since when the port fails.
    port_rx_errors: Vec<u64>,
    failing_since: Vec<Option<Instant>>,
    /// The port the next round starts with.
    next_port: usize,
    /// Ports the next round receives from (bit `i`: `ports[i]`): a port that came back empty
    /// leaves the set until a wait reports it readable, the set runs empty, or every
    /// [`RECHECK_ROUNDS`] rounds without a wait (so a busy port cannot hide another's input).
    active: u64,
    rounds: u64,
    /// Waits on all ports at once (system calls the ports do not count).
    waits: u64,
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

/// Sends, for every pipeline port `p`, the frames `list(p)` of `batch` on `ports[map[p]]`
/// ([`send_counted`], `port_tx` indexed like `ports`); returns the frames sent and not sent.
fn send_lists<'a>(
    ports: &mut [Box<dyn Port>],
    map: &[usize],
    port_tx: &mut [u64],
    batch: &Batch,
    list: impl Fn(usize) -> &'a [u16],
) -> (u64, u64) {
    let (mut sent, mut failed) = (0, 0);
    for (p, &pi) in map.iter().enumerate() {
        let idx = list(p);
        if idx.is_empty() {
            continue;
        }
        let n = send_counted(ports[pi].as_mut(), batch, idx, &mut port_tx[pi]);
        sent += n as u64;
        failed += (idx.len() - n) as u64;
    }
    (sent, failed)
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
    /// An NF running `pipeline` over `ports`, all read; `map[k]` is the index in `ports` of the
    /// pipeline's port `k` (e.g. `[0, 1]`, or `[0, 0]` when rx and tx are one interface).
    /// Frames read from `ports[i]` enter the pipeline as coming from the first pipeline port
    /// mapped to `i`; a port no pipeline port maps to is an error.
    pub fn new(
        pipeline: Pipeline,
        ports: Vec<Box<dyn Port>>,
        map: Vec<usize>,
        opts: NfOptions,
    ) -> Result<Self> {
        if ports.is_empty()
            || ports.len() > 64
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
        let mut in_port = Vec::with_capacity(nports);
        for i in 0..nports {
            let k = map
                .iter()
                .position(|&m| m == i)
                .ok_or_else(|| NfError::Config(format!("port #{i} is in no pipeline port")))?;
            in_port.push(k as u8);
        }
        Ok(Self {
            name: opts.name,
            kind: opts.kind,
            pipeline,
            ports,
            map,
            in_port,
            port_rx: vec![0; nports],
            port_rx_errors: vec![0; nports],
            failing_since: vec![None; nports],
            next_port: 0,
            active: all_ports(nports),
            rounds: 0,
            waits: 0,
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

    /// One round: from each port in turn (the first port rotates), receive a batch without
    /// blocking, process it, send it. Returns the number of frames received (0: nothing was
    /// waiting, or only transient errors, which are counted).
    pub fn poll_once(&mut self) -> Result<usize> {
        let nports = self.ports.len();
        self.rounds += 1;
        if self.active == 0 || self.rounds % RECHECK_ROUNDS == 0 {
            self.active = all_ports(nports);
        }
        let first = self.next_port % nports;
        self.next_port = first + 1;
        let mut total = 0;
        let mut errors = false;
        for k in 0..nports {
            let i = (first + k) % nports;
            if self.active & (1 << i) == 0 {
                continue;
            }
            match self.poll_port(i) {
                Ok(n) => {
                    total += n;
                    self.failing_since[i] = None;
                    if n == 0 {
                        self.active &= !(1 << i);
                    }
                }
                Err(NfError::Io(e)) if is_transient_rx_error(&e) => {
                    self.port_rx_errors[i] += 1;
                    errors = true;
                    let since = *self.failing_since[i].get_or_insert_with(Instant::now);
                    if since.elapsed() >= RX_ERROR_GRACE {
                        return Err(NfError::Io(e));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        if errors && total == 0 {
            std::thread::sleep(RX_ERROR_PAUSE);
        }
        if total == 0 && self.pipeline.originates() {
            // Timers (ARP retransmissions and timeouts) run while the NF is idle too.
            let now = self.started.elapsed().as_nanos() as u64;
            self.send_originated(now);
        }
        Ok(total)
    }

    /// Receives one batch from `ports[i]`, processes and sends it. A receive error is returned
    /// before anything is counted (nothing was taken from the port).
    fn poll_port(&mut self, i: usize) -> Result<usize> {
        self.batch.clear();
        let n = self.ports[i].recv_batch(&mut self.batch)?;
        if n == 0 {
            return Ok(0);
        }
        self.rx += n as u64;
        self.port_rx[i] += n as u64;
        self.batches += 1;
        let now = self.started.elapsed().as_nanos() as u64;
        self.last_batch_ns = now;
        self.pipeline
            .process_port(&mut self.batch, now, self.in_port[i]);
        let pipeline = &self.pipeline;
        let (sent, failed) = send_lists(
            &mut self.ports,
            &self.map,
            &mut self.port_tx,
            &self.batch,
            |p| pipeline.port_frames(p),
        );
        self.tx += sent;
        self.tx_failed += failed;
        self.send_originated(now);
        Ok(n)
    }

    /// Sends what the pipeline's elements send of their own accord (ARP requests, frames
    /// released from ARP queues); nothing to do for most NFs.
    fn send_originated(&mut self, now_ns: u64) {
        if !self.pipeline.originates() {
            return;
        }
        let Some(out) = self.pipeline.originate(now_ns) else {
            return;
        };
        let (sent, failed) = send_lists(
            &mut self.ports,
            &self.map,
            &mut self.port_tx,
            out.batch(),
            |p| out.port_frames(p),
        );
        self.tx += sent;
        self.tx_failed += failed;
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
        self.waits += 1;
        self.active = wait_any(&mut self.ports, Some(timeout))?;
        // The wait looked at every port: no re-check is due for a while.
        self.rounds = 0;
        Ok(self.active != 0)
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
        let mut ports = Vec::with_capacity(self.ports.len());
        for (i, p) in self.ports.iter_mut().enumerate() {
            let s = p.stats();
            st.rx_syscalls += s.rx_syscalls;
            st.tx_syscalls += s.tx_syscalls;
            st.kernel_drops += s.kernel_drops;
            st.empty_polls += s.empty_polls;
            ports.push(PortCounters {
                name: p.name().to_string(),
                rx: self.port_rx[i],
                tx: self.port_tx[i],
                kernel_drops: s.kernel_drops,
                rx_errors: self.port_rx_errors[i],
            });
        }
        // A wait on several ports is one system call that none of them counted.
        st.rx_syscalls += self.waits;
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
            rx_errors: self.port_rx_errors.iter().sum(),
            ports,
            originated: self.pipeline.originated(),
            held: self.pipeline.held(),
        }
    }

    /// The pipeline.
    pub fn pipeline(&self) -> &Pipeline {
        &self.pipeline
    }
}
