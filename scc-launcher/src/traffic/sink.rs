//! The sink: receives probes, keeps the latency histogram and the loss/reorder/duplicate
//! accounting (the I/O loop; parsing is in [`super::probe`], the accounting in [`super::seq`]).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use scc_io::{Batch, Port};
use serde::{Deserialize, Serialize};

use super::TrafficError;
use super::clock::{
    now_ns, pin_current_thread, set_timer_slack, thread_cpu_ns, thread_runq_wait_ns,
};
use super::latency::{LatencyRecorder, LatencySummary};
use super::probe::{Probe, ProbeError};
use super::seq::{SeqCounts, SeqTracker};

/// How the sink waits when nothing is there: the same modes as an NF's (scc-nf's `PollMode`).
/// `Sleep` waits in `wait_readable` (poll), so each wake-up of an idle vCPU costs tens of
/// microseconds of latency; `Busy` spins on `recv_batch` (one core at 100%); `Adaptive` spins for
/// `adaptive_spin_us` after the last frame, then sleeps.
pub use scc_nf::config::PollMode;

/// Sink settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkConfig {
    /// How to wait for input.
    pub poll: PollMode,
    /// Adaptive polling: spin this long after the last frame before sleeping.
    pub adaptive_spin_us: u64,
    /// Frames per `recv_batch` (1..=1024).
    pub batch: usize,
    /// Receive buffer size per frame (larger frames are dropped by the port and counted).
    pub frame_size: usize,
    /// After the generator has finished (or the stop flag), keep receiving this long for frames
    /// still in flight (and at least until the port is empty); ends earlier once every sent
    /// frame has arrived.
    pub drain_ms: u64,
    /// Give up this many seconds after the sink started, whatever happens (`None`: no limit).
    pub timeout_s: Option<f64>,
    /// Accept only probes of this stream id; `None`: the stream of the first probe received.
    pub stream: Option<u16>,
    /// Pin the sink's thread to this core.
    pub core: Option<usize>,
    /// Timer slack of the sink's thread in ns; `None` keeps the default (50 us).
    pub timer_slack_ns: Option<u64>,
}

impl Default for SinkConfig {
    fn default() -> Self {
        Self {
            poll: PollMode::Sleep,
            adaptive_spin_us: 200,
            batch: 64,
            frame_size: scc_io::DEFAULT_FRAME_SIZE,
            drain_ms: 200,
            timeout_s: None,
            stream: None,
            core: None,
            timer_slack_ns: Some(1_000),
        }
    }
}

impl SinkConfig {
    /// Checks the settings, naming the failing field.
    pub fn validate(&self) -> Result<(), TrafficError> {
        if self.batch == 0 || self.batch > scc_io::MAX_BATCH {
            return Err(TrafficError::Config {
                field: "batch",
                reason: format!("{}: must be 1..={}", self.batch, scc_io::MAX_BATCH),
            });
        }
        if !(scc_io::MIN_FRAME_SIZE..=scc_io::MAX_FRAME_SIZE).contains(&self.frame_size) {
            return Err(TrafficError::Config {
                field: "frame_size",
                reason: format!(
                    "{}: must be {}..={}",
                    self.frame_size,
                    scc_io::MIN_FRAME_SIZE,
                    scc_io::MAX_FRAME_SIZE
                ),
            });
        }
        if let Some(t) = self.timeout_s
            && (!t.is_finite() || t <= 0.0)
        {
            return Err(TrafficError::Config {
                field: "timeout_s",
                reason: format!("{t}: must be > 0 and finite"),
            });
        }
        Ok(())
    }
}

/// Shared between a generator and a sink running at the same time (see
/// [`super::run_loopback`]): the sink says when it is ready, the generator says how many frames
/// it sent when it is done, and `halt` stops the generator.
#[derive(Debug)]
pub struct RunControl {
    ready: AtomicBool,
    sent: AtomicU64,
    /// Stops the generator (set by the sink when the caller's stop flag is seen or it fails).
    pub halt: AtomicBool,
}

impl Default for RunControl {
    fn default() -> Self {
        Self::new()
    }
}

impl RunControl {
    const RUNNING: u64 = u64::MAX;

    /// Nothing ready, generator running.
    pub fn new() -> Self {
        Self {
            ready: AtomicBool::new(false),
            sent: AtomicU64::new(Self::RUNNING),
            halt: AtomicBool::new(false),
        }
    }

    /// Marks the sink ready to receive.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// True once the sink receives.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// The generator is done and the port accepted `sent` frames.
    pub fn generator_done(&self, sent: u64) {
        self.sent
            .store(sent.min(Self::RUNNING - 1), Ordering::Release);
    }

    /// How many frames the generator sent, once it is done.
    pub fn generator_sent(&self) -> Option<u64> {
        match self.sent.load(Ordering::Acquire) {
            Self::RUNNING => None,
            n => Some(n),
        }
    }
}

/// What a sink run saw.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkReport {
    /// Stream id whose probes were counted (`None` when no probe arrived).
    pub stream: Option<u16>,
    /// Frames received (all kinds).
    pub rx_frames: u64,
    /// Probes of our stream received (duplicates included).
    pub probes: u64,
    /// Distinct probes of our stream received.
    pub received: u64,
    /// Probes that arrived after a later one.
    pub reordered: u64,
    /// Probes received more than once.
    pub duplicates: u64,
    /// Sequence accounting details.
    pub seq: SeqCounts,
    /// Frames that are not probes (other traffic: ARP, IPv6 ND, ...).
    pub non_probe: u64,
    /// IPv4 frames with a wrong header checksum (a broken NF).
    pub bad_checksum: u64,
    /// Probes of another stream (e.g. late frames of an earlier run).
    pub foreign: u64,
    /// Probes whose timestamp lies in the future (not recorded).
    pub future_timestamps: u64,
    /// One-way latency summary in microseconds (`None` when no probe arrived).
    pub latency_us: Option<LatencySummary>,
    /// Frames the kernel dropped before the sink read them (socket buffer overflow).
    pub kernel_drops: u64,
    /// Receive-side system calls.
    pub rx_syscalls: u64,
    /// `recv_batch` calls that found nothing.
    pub empty_polls: u64,
    /// How the sink waited.
    pub poll: PollMode,
    /// Seconds the sink ran.
    pub elapsed_s: f64,
    /// CPU time the sink's thread used during the run, in seconds.
    pub cpu_s: f64,
    /// Time the sink's thread waited for a CPU while runnable, in seconds (from schedstat;
    /// `None` when unavailable). Large values mean other load disturbed the measurement.
    pub runq_wait_s: Option<f64>,
    /// True when the timeout ended the run.
    pub timed_out: bool,
    /// `recv_batch`/`wait_readable` calls that returned an error. Transient ones (EAGAIN,
    /// ENOBUFS, EINTR) let the sink go on; any other ends its run, and the report keeps
    /// everything received so far.
    #[serde(default)]
    pub recv_errors: u64,
    /// The first receive error, as text.
    #[serde(default)]
    pub recv_error: Option<String>,
    /// The latency histogram in ns (for the profiler; not serialised).
    #[serde(skip)]
    pub histogram: Option<Histogram<u64>>,
}

/// A sink: a receive batch, the sequence tracker and the latency histogram, allocated once.
#[derive(Debug)]
pub struct Sink {
    cfg: SinkConfig,
    batch: Batch,
}

impl Sink {
    /// Validates `cfg` and allocates the receive batch.
    pub fn new(cfg: &SinkConfig) -> Result<Self, TrafficError> {
        cfg.validate()?;
        Ok(Self {
            batch: Batch::new(cfg.batch, cfg.frame_size)?,
            cfg: cfg.clone(),
        })
    }

    /// The settings.
    pub fn config(&self) -> &SinkConfig {
        &self.cfg
    }

    /// Receives on `port` (on the calling thread) until every frame the generator reported in
    /// `ctl` has arrived, or the drain period after it finished or after `stop` has passed, or
    /// the timeout. Seeing `stop` also sets `ctl.halt`.
    pub fn run<P: Port + ?Sized>(
        &mut self,
        port: &mut P,
        stop: &AtomicBool,
        ctl: &RunControl,
    ) -> Result<SinkReport, TrafficError> {
        if let Some(core) = self.cfg.core {
            pin_current_thread(core).map_err(|e| TrafficError::Os {
                what: "pinning the sink thread",
                source: e,
            })?;
        }
        if let Some(ns) = self.cfg.timer_slack_ns {
            set_timer_slack(ns).map_err(|e| TrafficError::Os {
                what: "setting the sink's timer slack",
                source: e,
            })?;
        }
        let mut tracker = SeqTracker::new();
        let mut lat = LatencyRecorder::new()?;
        let mut stream = self.cfg.stream;
        let (mut rx, mut probes, mut non_probe, mut bad_csum, mut foreign) = (0u64, 0, 0, 0, 0);
        let drain_ns = self.cfg.drain_ms.saturating_mul(1_000_000);
        let spin_ns = self.cfg.adaptive_spin_us.saturating_mul(1000);
        let before = port.stats();
        let cpu0 = thread_cpu_ns();
        let wait0 = thread_runq_wait_ns();
        let start = now_ns();
        let deadline = self.cfg.timeout_s.map(|t| start + (t * 1e9) as u64);
        let mut drain_from: Option<u64> = None;
        let mut last_rx = start;
        let mut timed_out = false;
        let (mut recv_errors, mut recv_error) = (0u64, None);
        ctl.set_ready();
        loop {
            self.batch.clear();
            let n = match port.recv_batch(&mut self.batch) {
                Ok(n) => n,
                Err(e) => {
                    recv_errors += 1;
                    let fatal = !super::generator::is_transient(&e);
                    recv_error.get_or_insert_with(|| e.to_string());
                    if fatal {
                        ctl.halt.store(true, Ordering::Relaxed);
                        break;
                    }
                    0
                }
            };
            let now = now_ns();
            if n > 0 {
                last_rx = now;
                rx += n as u64;
                for f in self.batch.iter() {
                    match Probe::parse(f) {
                        Ok(p) => {
                            let s = *stream.get_or_insert(p.stream);
                            if p.stream == s {
                                probes += 1;
                                tracker.record(p.seq);
                                lat.record(p.ts_ns, now);
                            } else {
                                foreign += 1;
                            }
                        }
                        Err(ProbeError::BadIpChecksum) => bad_csum += 1,
                        Err(_) => non_probe += 1,
                    }
                }
            }
            if stop.load(Ordering::Relaxed) {
                ctl.halt.store(true, Ordering::Relaxed);
                drain_from.get_or_insert(now);
            }
            if let Some(sent) = ctl.generator_sent() {
                if tracker.counts().unique >= sent {
                    break;
                }
                drain_from.get_or_insert(now);
            }
            // The drain ends only on an empty receive: frames already queued are always read.
            if n == 0 && drain_from.is_some_and(|t| now.saturating_sub(t) >= drain_ns) {
                break;
            }
            if deadline.is_some_and(|d| now >= d) {
                timed_out = true;
                break;
            }
            if n == 0 {
                let busy = match self.cfg.poll {
                    PollMode::Busy => true,
                    PollMode::Sleep => false,
                    PollMode::Adaptive => now.saturating_sub(last_rx) < spin_ns,
                };
                if busy {
                    std::hint::spin_loop();
                } else {
                    // Wake at least every 10 ms to see the flags and deadlines.
                    if let Err(e) = port.wait_readable(Some(Duration::from_millis(10))) {
                        recv_errors += 1;
                        let fatal = !super::generator::is_transient(&e);
                        recv_error.get_or_insert_with(|| e.to_string());
                        if fatal {
                            ctl.halt.store(true, Ordering::Relaxed);
                            break;
                        }
                    }
                }
            }
        }
        let end = now_ns();
        let cpu_s = thread_cpu_ns().saturating_sub(cpu0) as f64 / 1e9;
        let runq_wait_s = wait0
            .zip(thread_runq_wait_ns())
            .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9);
        let after = port.stats();
        let seq = tracker.counts();
        Ok(SinkReport {
            stream: if probes > 0 { stream } else { None },
            rx_frames: rx,
            probes,
            received: seq.unique,
            reordered: seq.reordered,
            duplicates: seq.duplicates,
            seq,
            non_probe,
            bad_checksum: bad_csum,
            foreign,
            future_timestamps: lat.future,
            latency_us: lat.summary(),
            kernel_drops: after.kernel_drops.saturating_sub(before.kernel_drops),
            rx_syscalls: after.rx_syscalls.saturating_sub(before.rx_syscalls),
            empty_polls: after.empty_polls.saturating_sub(before.empty_polls),
            poll: self.cfg.poll,
            elapsed_s: end.saturating_sub(start) as f64 / 1e9,
            cpu_s,
            runq_wait_s,
            timed_out,
            recv_errors,
            recv_error,
            histogram: Some(lat.into_histogram()),
        })
    }
}
