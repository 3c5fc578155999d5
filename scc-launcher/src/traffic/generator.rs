//! The paced, batched probe generator (the I/O loop; frame building is in
//! [`super::probe`], the schedule in [`super::pace`]).

use std::sync::atomic::{AtomicBool, Ordering};

use scc_io::{Batch, Port};
use serde::{Deserialize, Serialize};

use super::TrafficError;
use super::clock::{
    now_ns, pin_current_thread, set_timer_slack, sleep_until, thread_cpu_ns, thread_runq_wait_ns,
};
use super::pace::{Pacer, Wait, wait_plan};
use super::probe::{ProbeConfig, ProbeFactory, SEQ_MASK, stamp};

/// Least grace after the end of a duration for frames that were due before it.
const LATE_GRACE_NS: u64 = 100_000_000;

/// Generator settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GenConfig {
    /// What the probes look like.
    pub probe: ProbeConfig,
    /// Offered rate in frames per second; 0 sends as fast as the port takes frames.
    pub rate_pps: f64,
    /// Run length in seconds (with a rate: exactly `ceil(rate * duration)` frames are offered).
    pub duration_s: Option<f64>,
    /// Number of frames to offer. With both a duration and a count, whichever ends first.
    /// With neither, the run lasts until the stop flag is set.
    pub count: Option<u64>,
    /// Most frames handed to the port in one `send_batch` (1..=1024): the frames due at once.
    pub batch: usize,
    /// Gaps up to this many microseconds are busy-waited; longer gaps are slept (absolute
    /// `clock_nanosleep`) until this much before the frame is due, then spun.
    ///
    /// Default 0 (sleep only): the generator usually shares its core with the sink, and a
    /// spinning generator keeps the sink from running when its frames arrive (measured with the
    /// demo chain at 20 kpps: p75 latency ~540 us with 50 us of spin, ~200 us without). The
    /// timestamp is taken just before each send, so sleep-only pacing never inflates the
    /// measured latency; it only sends a little late (`pacing lateness` in the report).
    pub spin_us: u64,
    /// Pin the generator's thread to this core.
    pub core: Option<usize>,
    /// Timer slack of the generator's thread in ns (the kernel default, 50 us, makes sleeps
    /// overshoot); `None` keeps the default.
    pub timer_slack_ns: Option<u64>,
    /// Stream id written into the probes (so a sink ignores stale probes of an earlier run);
    /// `None` picks one from the clock.
    pub stream: Option<u16>,
}

impl Default for GenConfig {
    fn default() -> Self {
        Self {
            probe: ProbeConfig::default(),
            rate_pps: 10_000.0,
            duration_s: Some(1.0),
            count: None,
            batch: 32,
            spin_us: 0,
            core: None,
            timer_slack_ns: Some(1_000),
            stream: None,
        }
    }
}

impl GenConfig {
    /// Checks the settings (and the probe settings), naming the failing field.
    pub fn validate(&self) -> Result<(), TrafficError> {
        self.probe.validate()?;
        if !self.rate_pps.is_finite() || self.rate_pps < 0.0 {
            return Err(TrafficError::Config {
                field: "rate_pps",
                reason: format!("{}: must be >= 0 (0: unpaced)", self.rate_pps),
            });
        }
        if let Some(d) = self.duration_s
            && (!d.is_finite() || d <= 0.0 || d > 1e6)
        {
            return Err(TrafficError::Config {
                field: "duration_s",
                reason: format!("{d}: must be > 0 and finite"),
            });
        }
        if self.batch == 0 || self.batch > scc_io::MAX_BATCH {
            return Err(TrafficError::Config {
                field: "batch",
                reason: format!("{}: must be 1..={}", self.batch, scc_io::MAX_BATCH),
            });
        }
        Ok(())
    }
}

/// What a generator run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenReport {
    /// Stream id of the probes.
    pub stream: u16,
    /// Frames the generator tried to send (offered to the port).
    pub attempted: u64,
    /// Frames of the schedule never offered because the generator fell too far behind (the run
    /// ends at the duration plus a grace of 10% or 100 ms) or a send error ended the run
    /// (see `send_errors`); 0 when stopped or unbounded.
    pub unsent: u64,
    /// Frames the port accepted.
    pub sent: u64,
    /// Frames the port dropped on transmit (`attempted - sent`, from the port's counter).
    pub tx_dropped: u64,
    /// Bytes the port accepted.
    pub bytes: u64,
    /// Configured rate, or when unpaced the attempted rate (`attempted / elapsed`).
    pub offered_pps: f64,
    /// `sent / elapsed`.
    pub achieved_pps: f64,
    /// Run length in seconds: from the first send to the end of the schedule (or the last send
    /// when the generator fell behind, or the stop).
    pub elapsed_s: f64,
    /// CPU time the generator's thread used during the run, in seconds.
    pub cpu_s: f64,
    /// Time the generator's thread waited for a CPU while runnable, in seconds (from schedstat;
    /// `None` when unavailable). Large values mean other load disturbed the measurement.
    pub runq_wait_s: Option<f64>,
    /// Start of the run, `CLOCK_MONOTONIC` ns.
    pub start_ns: u64,
    /// End of the run, `CLOCK_MONOTONIC` ns.
    pub end_ns: u64,
    /// `send_batch` calls.
    pub send_calls: u64,
    /// Transmit system calls the port made.
    pub tx_syscalls: u64,
    /// Mean delay of a send behind its schedule, in microseconds (pacing error; 0 when
    /// unpaced).
    pub mean_lateness_us: f64,
    /// Largest delay of a send behind its schedule, in microseconds.
    pub max_lateness_us: f64,
    /// True when the stop flag ended the run.
    pub stopped: bool,
    /// `send_batch` calls that returned an error. The frames of such a call that the port did
    /// not send are in `tx_dropped` (the port counts them), those it sent in `sent`. A frame
    /// too large for the interface or a transient failure lets the run go on; any other error
    /// (the interface went down or away) ends it, and the report keeps what was sent so far.
    #[serde(default)]
    pub send_errors: u64,
    /// The first send error, as text (`None` when every send succeeded).
    #[serde(default)]
    pub send_error: Option<String>,
}

/// True for port errors after which the generator (or the sink) goes on: a frame too large
/// for the interface (the rest of the batch was sent) and transient OS errors.
pub(super) fn is_transient(e: &scc_io::IoError) -> bool {
    match e {
        scc_io::IoError::FrameTooLarge { .. } => true,
        scc_io::IoError::Sys { source, .. } => matches!(
            source.raw_os_error(),
            Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR)
        ),
        _ => false,
    }
}

/// A generator: pre-built templates and one send batch. Reusable for several runs.
#[derive(Debug)]
pub struct Generator {
    cfg: GenConfig,
    factory: ProbeFactory,
    batch: Batch,
    pacer: Pacer,
}

fn pick_stream() -> u16 {
    let x = now_ns() ^ u64::from(std::process::id()).rotate_left(17);
    let x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((x >> 48) as u16).max(1)
}

impl Generator {
    /// Validates `cfg` and pre-builds the probe templates and the send batch.
    pub fn new(cfg: &GenConfig) -> Result<Self, TrafficError> {
        cfg.validate()?;
        let stream = cfg.stream.unwrap_or_else(pick_stream);
        let factory = ProbeFactory::new(&cfg.probe, stream)?;
        let batch = Batch::new(cfg.batch, factory.max_len().max(scc_io::MIN_FRAME_SIZE))?;
        Ok(Self {
            cfg: cfg.clone(),
            factory,
            batch,
            pacer: Pacer::new(cfg.rate_pps),
        })
    }

    /// The stream id of this generator's probes.
    pub fn stream(&self) -> u16 {
        self.factory.stream()
    }

    /// The settings.
    pub fn config(&self) -> &GenConfig {
        &self.cfg
    }

    /// Sends on `port` (on the calling thread, pinned and with timer slack as configured) until
    /// the count or duration is reached or `stop` is set.
    pub fn run<P: Port + ?Sized>(
        &mut self,
        port: &mut P,
        stop: &AtomicBool,
    ) -> Result<GenReport, TrafficError> {
        if let Some(core) = self.cfg.core {
            pin_current_thread(core).map_err(|e| TrafficError::Os {
                what: "pinning the generator thread",
                source: e,
            })?;
        }
        if let Some(ns) = self.cfg.timer_slack_ns {
            set_timer_slack(ns).map_err(|e| TrafficError::Os {
                what: "setting the generator's timer slack",
                source: e,
            })?;
        }
        let before = port.stats();
        let pacer = self.pacer;
        let spin_ns = self.cfg.spin_us.saturating_mul(1000);
        let duration_ns = self.cfg.duration_s.map(|d| (d * 1e9) as u64);
        let mut limit = self.cfg.count.unwrap_or(u64::MAX);
        if let Some(d) = duration_ns {
            limit = limit.min(pacer.frames_in(d));
        }
        // Frames due before the end of the duration may still go out a little late; a
        // generator that falls further behind gives up the rest (counted in `unsent`).
        let cutoff_ns = duration_ns.map(|d| {
            if pacer.unpaced() {
                d
            } else {
                d + (d / 10).max(LATE_GRACE_NS)
            }
        });
        let cap = self.batch.capacity();
        let (mut attempted, mut sent, mut calls) = (0u64, 0u64, 0u64);
        let (mut late_sum, mut late_max) = (0u64, 0u64);
        let mut stopped = false;
        let (mut send_errors, mut send_error, mut failed) = (0u64, None, false);
        let cpu0 = thread_cpu_ns();
        let wait0 = thread_runq_wait_ns();
        let start = now_ns();
        while attempted < limit {
            if stop.load(Ordering::Relaxed) {
                stopped = true;
                break;
            }
            let el = now_ns().saturating_sub(start);
            if cutoff_ns.is_some_and(|c| el >= c) {
                break;
            }
            let n = pacer
                .due_now(el, attempted, cap)
                .min((limit - attempted).min(cap as u64) as usize);
            if n == 0 {
                match wait_plan(el, pacer.due_at(attempted), spin_ns) {
                    Wait::None => {}
                    Wait::Spin => std::hint::spin_loop(),
                    // Sleep in slices of at most 10 ms so the stop flag is seen.
                    Wait::SleepUntil(t) => sleep_until(start + t.min(el + 10_000_000)),
                }
                continue;
            }
            self.batch.clear();
            for i in 0..n as u64 {
                let k = attempted + i;
                let Some(slot) = self.batch.next_slot_mut() else {
                    break;
                };
                let Some(len) = self.factory.write(k, k & SEQ_MASK, slot) else {
                    break;
                };
                self.batch.commit(len)?;
            }
            let ts = now_ns();
            for i in 0..self.batch.len() {
                stamp(self.batch.frame_mut(i), ts);
            }
            if !pacer.unpaced() {
                let late = ts
                    .saturating_sub(start)
                    .saturating_sub(pacer.due_at(attempted));
                late_sum += late;
                late_max = late_max.max(late);
            }
            calls += 1;
            attempted += self.batch.len() as u64;
            match port.send_batch(&self.batch) {
                Ok(k) => sent += k as u64,
                Err(e) => {
                    // The port sent what it could and counted the rest as dropped: read back
                    // how many went out (error path only), count the error, keep the report.
                    let tx = port.stats().tx_frames.saturating_sub(before.tx_frames);
                    sent = sent.max(tx.min(attempted));
                    send_errors += 1;
                    let fatal = !is_transient(&e);
                    send_error.get_or_insert_with(|| e.to_string());
                    if fatal {
                        failed = true;
                        break;
                    }
                }
            }
        }
        let mut end = now_ns();
        if !stopped && !failed && !pacer.unpaced() {
            // The run lasts its whole schedule: the duration, or `count / rate`.
            let nominal = start + duration_ns.unwrap_or_else(|| pacer.span_of(attempted));
            while end < nominal && !stop.load(Ordering::Relaxed) {
                sleep_until(nominal.min(end + 10_000_000));
                end = now_ns();
            }
        }
        let unsent = if stopped || limit == u64::MAX {
            0
        } else {
            limit - attempted
        };
        let cpu_s = thread_cpu_ns().saturating_sub(cpu0) as f64 / 1e9;
        let runq_wait_s = wait0
            .zip(thread_runq_wait_ns())
            .map(|(a, b)| b.saturating_sub(a) as f64 / 1e9);
        let after = port.stats();
        let elapsed_s = end.saturating_sub(start) as f64 / 1e9;
        let per_s = |x: u64| {
            if elapsed_s > 0.0 {
                x as f64 / elapsed_s
            } else {
                0.0
            }
        };
        Ok(GenReport {
            stream: self.stream(),
            attempted,
            unsent,
            sent,
            tx_dropped: after.tx_dropped.saturating_sub(before.tx_dropped),
            bytes: after.tx_bytes.saturating_sub(before.tx_bytes),
            offered_pps: if pacer.unpaced() {
                per_s(attempted)
            } else {
                pacer.rate_pps()
            },
            achieved_pps: per_s(sent),
            elapsed_s,
            cpu_s,
            runq_wait_s,
            start_ns: start,
            end_ns: end,
            send_calls: calls,
            tx_syscalls: after.tx_syscalls.saturating_sub(before.tx_syscalls),
            mean_lateness_us: if calls > 0 {
                late_sum as f64 / calls as f64 / 1000.0
            } else {
                0.0
            },
            max_lateness_us: late_max as f64 / 1000.0,
            stopped,
            send_errors,
            send_error,
        })
    }
}
