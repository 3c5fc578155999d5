//! Per-process counters in counting mode (reset at start, read at stop) through perf events
//! (the `perf-event2` crate), plus scheduler state from `/proc`.
//!
//! Every process is observed per thread (`/proc/<pid>/task/*`, with `inherit` so threads
//! created later by those threads are counted too) and the threads are summed. Kernel-side
//! events are included: context switches, migrations and syscall tracepoints happen in the
//! kernel and read 0 otherwise.
//!
//! What the host cannot count is reported as [`Measure::Unavailable`] with the reason from
//! `perf_event_open` (on this Firecracker VM hardware events fail with `ENOENT`: there is no
//! PMU), never as zero.
//!
//! Counter names (keys of [`ProcessCounters::counters`]): `task_clock_ns`,
//! `context_switches`, `cpu_migrations`, `page_faults`, `cycles`, `instructions`,
//! `l1d_loads`, `l1d_load_misses`, `llc_loads`, `llc_load_misses`, `dtlb_loads`,
//! `dtlb_load_misses`, `syscalls` (all, `raw_syscalls:sys_enter`), `net_syscalls` (the sum
//! of `sys_enter_{recvfrom,sendto,recvmsg,sendmsg,recvmmsg,sendmmsg}`), each of those
//! six by name, and `iface.<name>.{rx,tx}_{packets,dropped}` for every interface of the
//! process's network namespace (`/proc/<pid>/net/dev`, no need to enter the namespace).

use std::collections::BTreeMap;
use std::time::Instant;

use perf_event::events::{Cache, CacheId, CacheOp, CacheResult, Event, Hardware, Software};
use perf_event::{Builder, Counter};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Measure, NfCounts, Policy, Terms};
use crate::sched::{self, SchedMetrics, SchedSnapshot};

/// The network-I/O system calls counted per process (syscall tracepoints).
pub const NET_SYSCALLS: [&str; 6] = [
    "recvfrom", "sendto", "recvmsg", "sendmsg", "recvmmsg", "sendmmsg",
];

/// Which counters to open. The default opens everything except the all-syscalls
/// tracepoint (the network-I/O ones suffice for the model's `L_SC`; `benches/profiler.rs`
/// measures what each costs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionOptions {
    /// Software events (task-clock, context switches, migrations, page faults).
    pub software: bool,
    /// Hardware and cache events (need a PMU).
    pub hardware: bool,
    /// Network-I/O syscall tracepoints (`syscalls:sys_enter_{recvfrom,...}`).
    pub syscalls: bool,
    /// Also count every syscall (`raw_syscalls:sys_enter`, counter `syscalls`). It fires on
    /// each system call of the process, so it costs more than the network-I/O ones.
    pub all_syscalls: bool,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            software: true,
            hardware: true,
            syscalls: true,
            all_syscalls: false,
        }
    }
}

/// Syscall tracepoint ids, read from tracefs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TracepointIds {
    /// `raw_syscalls:sys_enter`.
    pub sys_enter: Option<u64>,
    /// `syscalls:sys_enter_<name>` for each of [`NET_SYSCALLS`] that exists.
    pub net: BTreeMap<String, u64>,
}

const TRACEFS_CANDIDATES: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

fn read_ids(root: &str) -> Option<TracepointIds> {
    let read = |p: String| -> Option<u64> {
        std::fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse().ok())
    };
    let sys_enter = read(format!("{root}/events/raw_syscalls/sys_enter/id"));
    let mut net = BTreeMap::new();
    for n in NET_SYSCALLS {
        if let Some(id) = read(format!("{root}/events/syscalls/sys_enter_{n}/id")) {
            net.insert(n.to_string(), id);
        }
    }
    if sys_enter.is_none() && net.is_empty() {
        None
    } else {
        Some(TracepointIds { sys_enter, net })
    }
}

/// Mounts tracefs in a private mount namespace owned by a short-lived helper thread and
/// reads the ids there; the host's mount table is untouched and the mount vanishes with
/// the thread. Needs CAP_SYS_ADMIN.
fn read_ids_private_mount() -> std::result::Result<TracepointIds, String> {
    let handle = std::thread::spawn(|| -> std::result::Result<TracepointIds, String> {
        // SAFETY: unshare only changes this thread's mount namespace (and unshares its fs
        // struct); no memory is passed.
        if unsafe { libc::unshare(libc::CLONE_NEWNS) } != 0 {
            return Err(format!(
                "unshare(CLONE_NEWNS): {}",
                std::io::Error::last_os_error()
            ));
        }
        let root = c"/";
        // SAFETY: valid NUL-terminated strings; makes this namespace's mounts private so
        // nothing propagates to the host.
        let rc = unsafe {
            libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "mount --make-rprivate /: {}",
                std::io::Error::last_os_error()
            ));
        }
        let (src, target, fstype) = (c"nodev", c"/sys/kernel/tracing", c"tracefs");
        // SAFETY: valid NUL-terminated strings; the mount lives only in this private
        // namespace.
        let rc = unsafe {
            libc::mount(
                src.as_ptr(),
                target.as_ptr(),
                fstype.as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            return Err(format!(
                "mount tracefs: {}",
                std::io::Error::last_os_error()
            ));
        }
        read_ids("/sys/kernel/tracing")
            .ok_or_else(|| "tracefs mounted but has no syscall events".to_string())
    });
    handle
        .join()
        .unwrap_or_else(|_| Err("tracefs helper thread panicked".into()))
}

/// Finds the syscall tracepoint ids: from a mounted tracefs, else (as root) from a private
/// tracefs mount. Read them before entering another namespace (`ip netns exec` remounts
/// `/sys`).
pub fn tracepoint_ids() -> std::result::Result<TracepointIds, String> {
    for root in TRACEFS_CANDIDATES {
        if let Some(ids) = read_ids(root) {
            return Ok(ids);
        }
    }
    read_ids_private_mount().map_err(|e| {
        format!("tracefs is not mounted and a private mount failed ({e}); mount it with `mount -t tracefs nodev /sys/kernel/tracing`")
    })
}

/// A named event to open.
#[derive(Debug, Clone)]
enum Spec {
    Sw(Software),
    Hw(Hardware),
    Cache(CacheId, CacheResult),
    Tp(u64),
}

fn specs(
    opts: &SessionOptions,
    ids: &std::result::Result<TracepointIds, String>,
) -> Vec<(String, std::result::Result<Spec, String>)> {
    let mut v: Vec<(String, std::result::Result<Spec, String>)> = Vec::new();
    if opts.software {
        v.push(("task_clock_ns".into(), Ok(Spec::Sw(Software::TASK_CLOCK))));
        v.push((
            "context_switches".into(),
            Ok(Spec::Sw(Software::CONTEXT_SWITCHES)),
        ));
        v.push((
            "cpu_migrations".into(),
            Ok(Spec::Sw(Software::CPU_MIGRATIONS)),
        ));
        v.push(("page_faults".into(), Ok(Spec::Sw(Software::PAGE_FAULTS))));
    }
    if opts.hardware {
        v.push(("cycles".into(), Ok(Spec::Hw(Hardware::CPU_CYCLES))));
        v.push(("instructions".into(), Ok(Spec::Hw(Hardware::INSTRUCTIONS))));
        for (name, id, res) in [
            ("l1d_loads", CacheId::L1D, CacheResult::ACCESS),
            ("l1d_load_misses", CacheId::L1D, CacheResult::MISS),
            ("llc_loads", CacheId::LL, CacheResult::ACCESS),
            ("llc_load_misses", CacheId::LL, CacheResult::MISS),
            ("dtlb_loads", CacheId::DTLB, CacheResult::ACCESS),
            ("dtlb_load_misses", CacheId::DTLB, CacheResult::MISS),
        ] {
            v.push((name.into(), Ok(Spec::Cache(id, res))));
        }
    }
    if opts.syscalls {
        match ids {
            Ok(ids) => {
                if opts.all_syscalls {
                    v.push((
                        "syscalls".into(),
                        ids.sys_enter
                            .map(Spec::Tp)
                            .ok_or_else(|| "no raw_syscalls:sys_enter tracepoint".to_string()),
                    ));
                }
                for n in NET_SYSCALLS {
                    v.push((
                        format!("sys_enter_{n}"),
                        ids.net
                            .get(n)
                            .map(|id| Spec::Tp(*id))
                            .ok_or_else(|| format!("no syscalls:sys_enter_{n} tracepoint")),
                    ));
                }
            }
            Err(e) => {
                if opts.all_syscalls {
                    v.push(("syscalls".into(), Err(e.clone())));
                }
                for n in NET_SYSCALLS {
                    v.push((format!("sys_enter_{n}"), Err(e.clone())));
                }
            }
        }
    }
    v
}

fn builder_for(spec: &Spec) -> Builder<'static> {
    fn b<E: Event>(e: E) -> Builder<'static> {
        Builder::new(e)
    }
    match spec {
        Spec::Sw(s) => b(*s),
        Spec::Hw(h) => b(*h),
        Spec::Cache(id, res) => b(Cache {
            which: *id,
            operation: CacheOp::READ,
            result: *res,
        }),
        Spec::Tp(id) => b(perf_event::events::Tracepoint::with_id(*id)),
    }
}

/// Explains a `perf_event_open` failure in terms an operator understands.
pub fn explain_open_error(e: &std::io::Error, hardware: bool) -> String {
    let paranoid = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into());
    match e.raw_os_error() {
        Some(libc::ENOENT) | Some(libc::EOPNOTSUPP) if hardware => format!(
            "perf_event_open: {e}: no hardware PMU on this host (e.g. a VM without PMU passthrough)"
        ),
        Some(libc::ENOENT) => format!("perf_event_open: {e}: event not supported by this kernel"),
        Some(libc::EACCES) | Some(libc::EPERM) => format!(
            "perf_event_open: {e}: not permitted (perf_event_paranoid={paranoid}; kernel-side counting needs CAP_PERFMON or paranoid <= 1)"
        ),
        Some(libc::ESRCH) => format!("perf_event_open: {e}: the process is gone"),
        _ => format!("perf_event_open: {e}"),
    }
}

/// One named event on all threads of one process.
struct EventCounters {
    name: String,
    counters: std::result::Result<Vec<Counter>, String>,
}

struct Target {
    pid: i32,
    events: Vec<EventCounters>,
    sched_start: Option<SchedSnapshot>,
    net_start: Option<BTreeMap<String, sched::NetDev>>,
    started: Option<Instant>,
}

/// The counters of one process between [`Session::start`] and now (or stop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessCounters {
    /// The process.
    pub pid: i32,
    /// Each counter's value or why it is unavailable.
    pub counters: BTreeMap<String, Measure>,
    /// Scheduler metrics over the same interval.
    pub sched: Option<SchedMetrics>,
    /// Why the scheduler metrics are missing, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sched_unavailable: Option<String>,
    /// Length of the interval (ns).
    pub elapsed_ns: u64,
}

impl ProcessCounters {
    /// The counts between an `earlier` snapshot of the same session and this one (counters
    /// subtracted; scheduler sums subtracted and their ratios recomputed). A counter
    /// unavailable in either stays unavailable.
    pub fn delta(&self, earlier: &ProcessCounters) -> ProcessCounters {
        let counters = self
            .counters
            .iter()
            .map(|(k, v)| {
                let m = match (v, earlier.counters.get(k)) {
                    (Measure::Value(a), Some(Measure::Value(b))) => {
                        Measure::Value((a - b).max(0.0))
                    }
                    (Measure::Value(_), Some(u @ Measure::Unavailable { .. })) => u.clone(),
                    (Measure::Value(_), None) => {
                        Measure::unavailable(format!("{k} missing in the earlier snapshot"))
                    }
                    (u @ Measure::Unavailable { .. }, _) => u.clone(),
                };
                (k.clone(), m)
            })
            .collect();
        let sched = match (self.sched, earlier.sched) {
            (Some(a), Some(b)) => Some(a.minus(&b)),
            _ => None,
        };
        ProcessCounters {
            pid: self.pid,
            counters,
            sched_unavailable: if sched.is_none() {
                Some(
                    self.sched_unavailable
                        .clone()
                        .or_else(|| earlier.sched_unavailable.clone())
                        .unwrap_or_else(|| "no scheduler metrics".into()),
                )
            } else {
                None
            },
            sched,
            elapsed_ns: self.elapsed_ns.saturating_sub(earlier.elapsed_ns),
        }
    }

    /// A counter's value, if measured.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.counters.get(name).and_then(|m| m.value())
    }

    /// Frames received and sent on `iface` (in the process's network namespace) during the
    /// interval, from `/proc/<pid>/net/dev`.
    pub fn iface_packets(&self, iface: &str) -> Option<(u64, u64)> {
        let rx = self.get(&format!("iface.{iface}.rx_packets"))?;
        let tx = self.get(&format!("iface.{iface}.tx_packets"))?;
        Some((rx as u64, tx as u64))
    }

    /// Maps the counters onto the model's input for an NF that processed `packets`.
    ///
    /// Generic perf events give L1D loads/misses, LLC loads/misses and dTLB loads/misses:
    /// L1 hits = L1D loads - L1D misses; L3 hits = LLC loads - LLC misses; L3 misses = LLC
    /// misses; L2 DTLB misses = dTLB load misses (on Intel the generic event counts misses
    /// that cause a page walk). L2 hits and L1/L2 DTLB hits have no generic event and need
    /// raw events for the detected CPU: they are unavailable with that reason.
    pub fn nf_counts(&self, name: &str, packets: Measure, policy: Policy) -> NfCounts {
        let m = |k: &str| {
            self.counters
                .get(k)
                .cloned()
                .unwrap_or_else(|| Measure::unavailable(format!("counter {k} not opened")))
        };
        let diff = |a: &str, b: &str| match (m(a), m(b)) {
            (Measure::Value(x), Measure::Value(y)) => Measure::Value((x - y).max(0.0)),
            (Measure::Unavailable { unavailable }, _)
            | (_, Measure::Unavailable { unavailable }) => Measure::Unavailable { unavailable },
        };
        // Without a PMU at all, that is the reason for the raw-only events too.
        let pmu_missing = ["cycles", "l1d_loads", "llc_loads", "dtlb_loads"]
            .iter()
            .find_map(|k| match self.counters.get(*k) {
                Some(Measure::Unavailable { unavailable }) => Some(unavailable.clone()),
                _ => None,
            });
        let no_generic = |what: &str| {
            let raw =
                format!("{what}: no generic perf event; needs raw events for the detected CPU");
            Measure::unavailable(match &pmu_missing {
                Some(r) => format!("{r} (and {raw})"),
                None => raw,
            })
        };
        NfCounts {
            name: name.to_string(),
            packets,
            policy,
            events: Terms {
                d1: diff("l1d_loads", "l1d_load_misses"),
                d2: no_generic("L2 hits"),
                d3: diff("llc_loads", "llc_load_misses"),
                dm: m("llc_load_misses"),
                t1: no_generic("L1 DTLB hits"),
                t2: no_generic("L2 DTLB hits"),
                tm: m("dtlb_load_misses"),
                cs: m("context_switches"),
                sc: m("net_syscalls"),
            },
            simulated: false,
            simulated_terms: Vec::new(),
        }
    }
}

/// A profiling session over a set of processes: [`Session::attach`] → [`Session::start`]
/// → [`Session::snapshot`] (any number of times) → [`Session::stop`].
pub struct Session {
    targets: Vec<Target>,
    /// Tracepoint ids (or why there are none), read once at attach.
    pub tracepoints: std::result::Result<TracepointIds, String>,
    running: bool,
}

impl Session {
    /// Opens the counters (disabled) on every thread of every process in `pids`.
    ///
    /// Events that cannot be opened are recorded as unavailable with the reason; only a
    /// process that does not exist is an error.
    pub fn attach(pids: &[i32], opts: &SessionOptions) -> Result<Session> {
        let tracepoints = if opts.syscalls {
            tracepoint_ids()
        } else {
            Err("syscall tracepoints not requested".into())
        };
        let specs = specs(opts, &tracepoints);
        let mut targets = Vec::new();
        for &pid in pids {
            let tids = sched::thread_ids(pid)?;
            let mut events = Vec::new();
            for (name, spec) in &specs {
                let counters = match spec {
                    Err(e) => Err(e.clone()),
                    Ok(spec) => open_all(spec, &tids),
                };
                events.push(EventCounters {
                    name: name.clone(),
                    counters,
                });
            }
            targets.push(Target {
                pid,
                events,
                sched_start: None,
                net_start: None,
                started: None,
            });
        }
        Ok(Session {
            targets,
            tracepoints,
            running: false,
        })
    }

    /// The processes attached.
    pub fn pids(&self) -> Vec<i32> {
        self.targets.iter().map(|t| t.pid).collect()
    }

    /// Resets and enables every counter and takes the first scheduler snapshot.
    pub fn start(&mut self) -> Result<()> {
        for t in &mut self.targets {
            for e in &mut t.events {
                if let Ok(cs) = &mut e.counters {
                    for c in cs.iter_mut() {
                        c.reset().and_then(|_| c.enable()).map_err(|err| {
                            Error::io(format!("enable {} of {}", e.name, t.pid), err)
                        })?;
                    }
                }
            }
            t.sched_start = sched::snapshot(t.pid).ok();
            t.net_start = sched::net_dev(t.pid).ok();
            t.started = Some(Instant::now());
        }
        self.running = true;
        Ok(())
    }

    /// Reads every counter now (counting continues).
    pub fn snapshot(&mut self) -> Result<Vec<ProcessCounters>> {
        if !self.running {
            return Err(Error::Invalid("session not started".into()));
        }
        let mut out = Vec::new();
        for t in &mut self.targets {
            let mut counters = BTreeMap::new();
            for e in &mut t.events {
                let m = match &mut e.counters {
                    Err(r) => Measure::unavailable(r.clone()),
                    Ok(cs) => {
                        let mut sum = 0u64;
                        let mut err = None;
                        for c in cs.iter_mut() {
                            match c.read() {
                                Ok(v) => sum += v,
                                Err(x) => err = Some(x),
                            }
                        }
                        match err {
                            Some(x) => Measure::unavailable(format!("read {}: {x}", e.name)),
                            None => Measure::Value(sum as f64),
                        }
                    }
                };
                counters.insert(e.name.clone(), m);
            }
            // The sum of the network-I/O syscalls.
            let net: Vec<Measure> = NET_SYSCALLS
                .iter()
                .filter_map(|n| counters.get(&format!("sys_enter_{n}")).cloned())
                .collect();
            if !net.is_empty() {
                let total = net
                    .iter()
                    .try_fold(0.0, |acc, m| m.value().map(|v| acc + v));
                let m = match total {
                    Some(v) => Measure::Value(v),
                    None => net
                        .iter()
                        .find(|m| m.value().is_none())
                        .cloned()
                        .unwrap_or_else(|| Measure::unavailable("no tracepoints")),
                };
                counters.insert("net_syscalls".into(), m);
            }
            // Interface counters of the process's network namespace.
            if let (Some(before), Ok(now)) = (&t.net_start, sched::net_dev(t.pid)) {
                for (ifname, a) in &now {
                    let b = before.get(ifname).copied().unwrap_or_default();
                    for (k, x, y) in [
                        ("rx_packets", a.rx_packets, b.rx_packets),
                        ("rx_dropped", a.rx_dropped, b.rx_dropped),
                        ("tx_packets", a.tx_packets, b.tx_packets),
                        ("tx_dropped", a.tx_dropped, b.tx_dropped),
                    ] {
                        counters.insert(
                            format!("iface.{ifname}.{k}"),
                            Measure::Value(x.saturating_sub(y) as f64),
                        );
                    }
                }
            }
            let (sched, sched_unavailable) = match (&t.sched_start, sched::snapshot(t.pid)) {
                (Some(b), Ok(a)) => (Some(sched::delta(b, &a)), None),
                (None, _) => (None, Some("no scheduler snapshot at start".to_string())),
                (_, Err(e)) => (None, Some(e.to_string())),
            };
            let elapsed_ns = t
                .started
                .map(|s| s.elapsed().as_nanos() as u64)
                .unwrap_or(0);
            out.push(ProcessCounters {
                pid: t.pid,
                counters,
                sched,
                sched_unavailable,
                elapsed_ns,
            });
        }
        Ok(out)
    }

    /// Disables the counters and returns their values since [`Session::start`].
    pub fn stop(&mut self) -> Result<Vec<ProcessCounters>> {
        for t in &mut self.targets {
            for e in &mut t.events {
                if let Ok(cs) = &mut e.counters {
                    for c in cs.iter_mut() {
                        // A thread that exited keeps its counter readable; ignore failures
                        // to disable, the read below reports them.
                        let _ = c.disable();
                    }
                }
            }
        }
        let r = self.snapshot();
        self.running = false;
        r
    }
}

fn open_all(spec: &Spec, tids: &[i32]) -> std::result::Result<Vec<Counter>, String> {
    let hardware = matches!(spec, Spec::Hw(_) | Spec::Cache(..));
    let mut out = Vec::with_capacity(tids.len());
    for &tid in tids {
        let mut b = builder_for(spec);
        b.observe_pid(tid).any_cpu().inherit(true).include_kernel();
        match b.build() {
            Ok(c) => out.push(c),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => continue, // thread exited
            Err(e) => return Err(explain_open_error(&e, hardware)),
        }
    }
    if out.is_empty() {
        return Err("the process has no live threads".into());
    }
    Ok(out)
}
