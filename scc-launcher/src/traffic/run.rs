//! Running a generator and a sink together on two threads, and the combined report.

use std::ops::DerefMut;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use scc_io::netns::NetNs;
use scc_io::{Port, PortConfig};
use serde::{Deserialize, Serialize};

use super::TrafficError;
use super::generator::{GenConfig, GenReport, Generator};
use super::latency::LatencySummary;
use super::sink::{RunControl, Sink, SinkConfig, SinkReport};

/// Longest the generator waits for the sink to start receiving.
const SINK_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Generator and sink settings of one traffic run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrafficConfig {
    /// The generator.
    pub generator: GenConfig,
    /// The sink.
    pub sink: SinkConfig,
}

impl TrafficConfig {
    /// Checks both halves.
    pub fn validate(&self) -> Result<(), TrafficError> {
        self.generator.validate()?;
        self.sink.validate()
    }
}

/// The combined result of a traffic run. The keys `offered_pps`, `achieved_pps`, `sent`,
/// `received`, `lost` and `latency_us` (`{p1, p25, p50, p75, p99, max}`, plus extras) are the
/// contract of `scc run --json`; `latency_us` is `null` when no probe arrived.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrafficReport {
    /// Configured rate (the attempted rate when unpaced).
    pub offered_pps: f64,
    /// Frames the generator's port accepted per second.
    pub achieved_pps: f64,
    /// Frames the generator's port accepted.
    pub sent: u64,
    /// Distinct probes the sink received.
    pub received: u64,
    /// `sent - received` (frames that never arrived).
    pub lost: u64,
    /// Probes that arrived after a later one.
    pub reordered: u64,
    /// Probes that arrived more than once.
    pub duplicates: u64,
    /// One-way latency, microseconds.
    pub latency_us: Option<LatencySummary>,
    /// `send_batch` calls of the generator that failed (`generator.send_errors`); the report
    /// still counts every frame sent before and after.
    #[serde(default)]
    pub send_errors: u64,
    /// The generator's first send error, as text.
    #[serde(default)]
    pub send_error: Option<String>,
    /// Generator details.
    pub generator: GenReport,
    /// Sink details.
    pub sink: SinkReport,
}

impl TrafficReport {
    /// Combines the two halves.
    pub fn new(generator: GenReport, sink: SinkReport) -> Self {
        Self {
            offered_pps: generator.offered_pps,
            achieved_pps: generator.achieved_pps,
            sent: generator.sent,
            received: sink.received,
            lost: sink.seq.lost(generator.sent),
            reordered: sink.reordered,
            duplicates: sink.duplicates,
            latency_us: sink.latency_us,
            send_errors: generator.send_errors,
            send_error: generator.send_error.clone(),
            generator,
            sink,
        }
    }

    /// The latency histogram (ns), for the profiler.
    pub fn histogram(&self) -> Option<&Histogram<u64>> {
        self.sink.histogram.as_ref()
    }

    /// A few human-readable lines.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "offered {:.0} pps, achieved {:.0} pps; sent {}, received {}, lost {}, reordered {}, duplicates {}",
            self.offered_pps,
            self.achieved_pps,
            self.sent,
            self.received,
            self.lost,
            self.reordered,
            self.duplicates
        );
        match &self.latency_us {
            Some(l) => s.push_str(&format!(
                "\nlatency us: p1 {:.1}  p25 {:.1}  p50 {:.1}  p75 {:.1}  p99 {:.1}  max {:.1}  (mean {:.1}, stdev {:.1})",
                l.p1, l.p25, l.p50, l.p75, l.p99, l.max, l.mean, l.stdev
            )),
            None => s.push_str("\nlatency: no probe received"),
        }
        s.push_str(&format!(
            "\ntx dropped {}, sink kernel drops {}, non-probe frames {}, bad checksums {}; pacing lateness mean {:.1} us, max {:.1} us",
            self.generator.tx_dropped,
            self.sink.kernel_drops,
            self.sink.non_probe,
            self.sink.bad_checksum,
            self.generator.mean_lateness_us,
            self.generator.max_lateness_us
        ));
        if self.sink.recv_errors > 0 {
            s.push_str(&format!(
                "\nsink receive errors {} (first: {})",
                self.sink.recv_errors,
                self.sink.recv_error.as_deref().unwrap_or("?")
            ));
        }
        if self.send_errors > 0 {
            s.push_str(&format!(
                "\nsend errors {} (first: {}); frames not sent by the failing calls are in tx dropped",
                self.send_errors,
                self.send_error.as_deref().unwrap_or("?")
            ));
        }
        s
    }
}

/// Runs a generator on `gen_port` and a sink on `sink_port`, each on its own thread (pinned
/// and polled as `cfg` says), and combines their reports. Setting `stop` ends the generator
/// early; the sink then drains for `cfg.sink.drain_ms`.
pub fn run_loopback(
    cfg: &TrafficConfig,
    gen_port: &mut dyn Port,
    sink_port: &mut dyn Port,
    stop: &AtomicBool,
) -> Result<TrafficReport, TrafficError> {
    run_with(cfg, move || Ok(gen_port), move || Ok(sink_port), stop)
}

/// Like [`run_loopback`], but each port is opened by a closure on the thread that uses it (so
/// the closure can enter that end's network namespace, e.g. with `NetNs::enter`, before
/// `scc_io::open_port`). Works with `Box<dyn Port>`, `&mut dyn Port` or a concrete port.
pub fn run_with<GO, SO, GP, SP>(
    cfg: &TrafficConfig,
    open_gen: GO,
    open_sink: SO,
    stop: &AtomicBool,
) -> Result<TrafficReport, TrafficError>
where
    GO: FnOnce() -> Result<GP, TrafficError> + Send,
    SO: FnOnce() -> Result<SP, TrafficError> + Send,
    GP: DerefMut,
    GP::Target: Port,
    SP: DerefMut,
    SP::Target: Port,
{
    cfg.validate()?;
    let mut generator = Generator::new(&cfg.generator)?;
    let mut sink_cfg = cfg.sink.clone();
    sink_cfg.stream = Some(generator.stream());
    // The sink's buffers hold the largest probe the generator sends.
    sink_cfg.frame_size = sink_cfg
        .frame_size
        .max(cfg.generator.probe.frame_size.max_size());
    let mut sink = Sink::new(&sink_cfg)?;
    let ctl = RunControl::new();
    let (g, s) = std::thread::scope(|scope| {
        let ctl = &ctl;
        let sink_thread = std::thread::Builder::new()
            .name("scc-sink".into())
            .spawn_scoped(scope, move || {
                let r = open_sink().and_then(|mut p| sink.run(&mut *p, stop, ctl));
                if r.is_err() {
                    ctl.halt.store(true, Ordering::Relaxed);
                    ctl.set_ready();
                }
                r
            });
        let sink_thread = match sink_thread {
            Ok(t) => t,
            Err(e) => {
                return (
                    Err(TrafficError::Os {
                        what: "spawning the sink thread",
                        source: e,
                    }),
                    Err(TrafficError::ThreadPanicked("sink")),
                );
            }
        };
        let gen_thread = std::thread::Builder::new()
            .name("scc-gen".into())
            .spawn_scoped(scope, move || {
                let r = open_gen().and_then(|mut p| {
                    // Start sending only once the sink receives (the sink sets `ready` or,
                    // failing, `halt`; bounded anyway, as is the caller's `stop`).
                    let t0 = std::time::Instant::now();
                    while !ctl.is_ready()
                        && !ctl.halt.load(Ordering::Relaxed)
                        && !stop.load(Ordering::Relaxed)
                        && t0.elapsed() < SINK_READY_TIMEOUT
                    {
                        std::thread::sleep(Duration::from_micros(100));
                    }
                    if stop.load(Ordering::Relaxed) {
                        ctl.halt.store(true, Ordering::Relaxed);
                    }
                    generator.run(&mut *p, &ctl.halt)
                });
                ctl.generator_done(r.as_ref().map_or(0, |g| g.sent));
                r
            });
        let g = match gen_thread {
            Ok(t) => t
                .join()
                .unwrap_or(Err(TrafficError::ThreadPanicked("generator"))),
            Err(e) => {
                ctl.generator_done(0);
                Err(TrafficError::Os {
                    what: "spawning the generator thread",
                    source: e,
                })
            }
        };
        let s = sink_thread
            .join()
            .unwrap_or(Err(TrafficError::ThreadPanicked("sink")));
        (g, s)
    });
    Ok(TrafficReport::new(g?, s?))
}

/// Opens a kernel port for `cfg` inside `ns` (or in the calling thread's namespace when `None`),
/// first waiting up to `wait` for the link to be running (a fresh veth pair needs a moment).
/// The calling thread returns to its own namespace afterwards; the socket stays bound to the
/// interface in `ns`. Meant for the openers of [`run_with`].
pub fn open_port_in(
    ns: Option<&NetNs>,
    cfg: &PortConfig,
    wait: Duration,
) -> Result<Box<dyn Port>, TrafficError> {
    let open = || -> Result<Box<dyn Port>, TrafficError> {
        scc_io::wait_running(&cfg.ifname, wait)?;
        Ok(scc_io::open_port(cfg)?)
    };
    match ns {
        Some(ns) => {
            let _guard = ns.enter()?;
            open()
        }
        None => open(),
    }
}
