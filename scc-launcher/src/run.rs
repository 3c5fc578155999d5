//! One run of a chain (`scc run` / `scc profile`): plan, deploy, schedule or profile, traffic,
//! collect, report, tear down - the teardown happens on every path (normal end, error, crashed
//! NF, SIGINT/SIGTERM), because the [`Deployment`] undoes its steps on drop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::chain::{Chain, Mode};
use crate::deploy::{DeployError, Deployment, Log, NfCounters, NfOutcome, describe_status};
use crate::plan::{DeployPlan, PlanError};
use crate::sys;
use crate::traffic::{
    FrameSizes, GenConfig, MacAddr, ProbeConfig, SinkConfig, SizeWeight, TrafficConfig,
    TrafficError, TrafficReport,
};

/// Errors of a run. Whatever the error, everything deployed has been torn down when it is
/// returned.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The chain could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Deployment failed, or an NF crashed.
    #[error(transparent)]
    Deploy(#[from] DeployError),
    /// The traffic generator or sink failed.
    #[error("traffic: {0}")]
    Traffic(#[from] TrafficError),
    /// The scheduling plan could not be applied.
    #[error("schedule: {0}")]
    Sched(String),
    /// The profiler could not be attached or read.
    #[error("profile: {0}")]
    Profile(String),
    /// SIGINT/SIGTERM arrived before the chain was running.
    #[error("interrupted (everything deployed was removed)")]
    Interrupted,
}

impl RunError {
    /// The process exit code `scc` uses for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Deploy(DeployError::NfExited { .. }) => 3,
            RunError::Interrupted => 130,
            _ => 1,
        }
    }
}

/// Settings of a run that do not come from the chain file.
pub struct RunOptions {
    /// The `scc` executable that runs `scc nf ...` (normally `std::env::current_exe()`).
    pub exe: PathBuf,
    /// An NF executable with the `scc-nf` contract (`EXE router --rx IF ...`) to use instead
    /// of `scc nf ...` (`--nf-exe` / `SCC_NF_EXE`).
    pub nf_exe: Option<PathBuf>,
    /// Folder for relative paths in the chain file.
    pub base: PathBuf,
    /// Profile or run-time mode (`scc profile` forces profile).
    pub mode: Mode,
    /// Set by SIGINT/SIGTERM: ends the traffic early and tears down.
    pub stop: Arc<AtomicBool>,
    /// Draw a progress line on stderr.
    pub progress: bool,
    /// Deployment events (one line each), e.g. to stderr with `--verbose`.
    pub log: Log,
    /// How long NFs get to open their sockets.
    pub ready_timeout: Duration,
}

impl RunOptions {
    /// Defaults: this executable, the current folder, run-time mode, no progress, no log.
    pub fn new(stop: Arc<AtomicBool>) -> std::io::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe()?,
            nf_exe: std::env::var_os("SCC_NF_EXE").map(PathBuf::from),
            base: PathBuf::from("."),
            mode: Mode::Runtime,
            stop,
            progress: false,
            log: Box::new(|_| {}),
            ready_timeout: Duration::from_secs(10),
        })
    }
}

/// One NF in the report (`nfs` of `scc run --json`).
#[derive(Debug, Clone, Serialize)]
pub struct NfReport {
    /// NF name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// PID it had.
    pub pid: u32,
    /// Core it was pinned to.
    pub core: Option<usize>,
    /// Frames received (`null` when the NF printed no counters).
    pub rx: Option<u64>,
    /// Frames sent.
    pub tx: Option<u64>,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Network-I/O system calls.
    pub syscalls: Option<u64>,
    /// How it ended.
    pub exit: String,
    /// Its full counters object as printed (`null` if none).
    pub counters: Option<serde_json::Value>,
    /// Its scheduler times over the traffic run (schedstat: run, run-queue wait, not
    /// runnable; Wait/RunTime, SchedContention/RunTime); `null` when not measurable.
    pub sched: Option<scc_profiler::sched::SchedMetrics>,
}

/// What the scheduler did (run-time mode).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchedReport {
    /// The plan (`uniprocessor` | `multiprocessor`).
    pub plan: String,
    /// Policy applied (`null`: kernel default left alone).
    pub policy: Option<String>,
    /// Core -> processes placed there.
    pub per_core: BTreeMap<usize, Vec<String>>,
    /// What was applied, per NF (scc-sched's record).
    pub applied: Vec<serde_json::Value>,
    /// The cpuset of a core reservation.
    pub reservation: Option<String>,
    /// How keep-awake was done.
    pub keep_awake: Option<String>,
    /// RR quantum set for the run (ms).
    pub rr_timeslice_ms: Option<i64>,
    /// Cgroups of the `env = "netns"` NFs (root only).
    pub nf_cgroups: Vec<String>,
}

/// The result of `scc run`. The top-level keys `offered_pps`, `achieved_pps`, `sent`,
/// `received`, `lost`, `latency_us` and `nfs` are the contract of `scc run --json`; the traffic
/// keys are `null` when the chain has no `[traffic]`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Chain name.
    pub chain: String,
    /// `runtime` | `profile`.
    pub mode: Mode,
    /// Interconnect.
    pub interconnect: String,
    /// I/O driver and batch of the chain.
    pub io: String,
    /// Offered rate.
    pub offered_pps: Option<f64>,
    /// Achieved rate.
    pub achieved_pps: Option<f64>,
    /// Frames sent.
    pub sent: Option<u64>,
    /// Frames received by the sink.
    pub received: Option<u64>,
    /// Frames lost.
    pub lost: Option<u64>,
    /// One-way latency in microseconds (`p1`, `p25`, `p50`, `p75`, `p99`, `max`, ...).
    pub latency_us: Option<crate::traffic::LatencySummary>,
    /// Per NF.
    pub nfs: Vec<NfReport>,
    /// The scheduler's part (run-time mode).
    pub schedule: Option<SchedReport>,
    /// The full traffic report (generator and sink details).
    pub traffic: Option<TrafficReport>,
    /// Whether SIGINT/SIGTERM ended the run early.
    pub interrupted: bool,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// Profile mode: the profiler's report (scc-profiler's JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Value>,
    /// Profile mode: the profiler's table (Table 4 columns and Table 5 metrics).
    #[serde(skip)]
    pub profile_table: Option<String>,
}

impl RunReport {
    /// A readable table.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "chain {} ({} mode, {}, io {})\n",
            self.chain,
            match self.mode {
                Mode::Runtime => "run-time",
                Mode::Profile => "profile",
            },
            self.interconnect,
            self.io
        );
        match &self.traffic {
            Some(t) => {
                s.push_str(&t.to_text());
                s.push('\n');
            }
            None => s.push_str("no [traffic] in the chain: deployed, checked and torn down\n"),
        }
        s.push_str(&format!(
            "\n{:<10} {:>7} {:>5} {:>10} {:>10} {:>10}  {}\n",
            "nf", "pid", "core", "rx", "tx", "syscalls", "drops"
        ));
        let opt = |v: Option<u64>| v.map_or("n/a".to_string(), |v| v.to_string());
        for n in &self.nfs {
            let drops = if n.drops.is_empty() {
                "-".to_string()
            } else {
                n.drops
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            s.push_str(&format!(
                "{:<10} {:>7} {:>5} {:>10} {:>10} {:>10}  {}\n",
                n.name,
                n.pid,
                n.core.map_or("-".into(), |c| c.to_string()),
                opt(n.rx),
                opt(n.tx),
                opt(n.syscalls),
                drops
            ));
        }
        if let Some(sc) = &self.schedule {
            s.push_str(&format!(
                "\nschedule: {} plan, policy {}",
                sc.plan,
                sc.policy.as_deref().unwrap_or("kernel default")
            ));
            for (c, who) in &sc.per_core {
                s.push_str(&format!("; core {c}: {}", who.join(",")));
            }
            if let Some(r) = &sc.reservation {
                s.push_str(&format!("; reserved {r}"));
            }
            if let Some(k) = &sc.keep_awake {
                s.push_str(&format!("; keep-awake {k}"));
            }
            s.push('\n');
        }
        if self.interrupted {
            s.push_str("interrupted: the run ended early\n");
        }
        for w in &self.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        s
    }
}

/// Reduces an NF's JSON counters to the contract's fields. Accepts the usual spellings
/// (`rx`/`frames_in`/`in`, `tx`/`frames_out`/`out`, `drops` as an object, `syscalls` as a number
/// or an object of numbers), at the top level or under `counters`/`totals`.
pub fn parse_nf_counters(v: &serde_json::Value) -> NfCounters {
    use serde_json::Value;
    let root = ["counters", "totals"]
        .iter()
        .find_map(|k| v.get(*k).filter(|x| x.is_object()))
        .unwrap_or(v);
    let num = |keys: &[&str]| -> Option<u64> {
        keys.iter().find_map(|k| match root.get(*k) {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::Object(m)) => Some(m.values().filter_map(Value::as_u64).sum()),
            _ => None,
        })
    };
    let mut drops = BTreeMap::new();
    if let Some(Value::Object(m)) = root.get("drops") {
        for (k, val) in m {
            if let Some(n) = val.as_u64() {
                drops.insert(k.clone(), n);
            }
        }
    }
    NfCounters {
        rx: num(&["rx", "frames_in", "rx_frames", "in"]),
        tx: num(&["tx", "frames_out", "tx_frames", "out"]),
        drops,
        syscalls: num(&["syscalls", "io_syscalls"]),
    }
}

fn nf_report(plan: &DeployPlan, o: &NfOutcome) -> NfReport {
    let p = plan.nfs.iter().find(|p| p.name == o.name);
    let json: Option<serde_json::Value> = o
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .or_else(|| serde_json::from_str(o.stdout.trim()).ok());
    let c = json.as_ref().map(parse_nf_counters).unwrap_or_default();
    NfReport {
        name: o.name.clone(),
        kind: p.map_or(String::new(), |p| p.kind.name().to_string()),
        pid: o.pid,
        core: p.and_then(|p| p.core),
        rx: c.rx,
        tx: c.tx,
        drops: c.drops,
        syscalls: c.syscalls,
        exit: match (&o.status, p.map(|p| p.kind)) {
            (_, Some(crate::chain::NfKind::Kernel)) => "kernel forwarding (no process)".into(),
            (Some(st), _) => describe_status(st),
            (None, _) => "not reaped".into(),
        },
        counters: json,
        sched: None,
    }
}

/// The traffic settings for the plan's endpoints.
pub fn traffic_config(chain: &Chain, plan: &DeployPlan) -> Option<TrafficConfig> {
    let t = chain.traffic.as_ref()?;
    let mix = t.mix();
    let frame_size = if mix.len() == 1 {
        FrameSizes::Fixed(mix[0].size)
    } else {
        FrameSizes::Mix(
            mix.iter()
                .map(|m| SizeWeight {
                    size: m.size,
                    weight: m.weight,
                })
                .collect(),
        )
    };
    let probe = ProbeConfig {
        src_mac: MacAddr(plan.gen_end.mac),
        dst_mac: MacAddr(plan.gen_end.peer_mac),
        src_ip: t.src_ip,
        dst_ip: t.dst_ip,
        flows: t.flows,
        frame_size,
        ..ProbeConfig::default()
    };
    let generator = GenConfig {
        probe,
        rate_pps: t.rate_pps as f64,
        duration_s: t.duration_s,
        count: t.packets,
        batch: t.batch,
        core: t.core,
        ..GenConfig::default()
    };
    let expected_s = t.duration_s.unwrap_or(0.0).max(
        t.packets
            .map_or(0.0, |p| p as f64 / t.rate_pps.max(1) as f64),
    );
    let sink = SinkConfig {
        poll: t.poll,
        drain_ms: t.drain_ms,
        core: t.core,
        timeout_s: Some(expected_s + 30.0),
        ..SinkConfig::default()
    };
    Some(TrafficConfig { generator, sink })
}

/// Holds what the scheduler set up for the run (released on drop, before teardown ends).
/// Fields drop in declaration order: the NFs' own cgroups before the chain's reservation that
/// may contain them.
#[derive(Default)]
struct SchedGuards {
    nf_cgroups: Option<crate::cgroup::NfCgroups>,
    _rr: Option<scc_sched::RrTimeslice>,
    _reservation: Option<scc_sched::CoreReservation>,
    _awake: Option<scc_sched::KeepAwake>,
}

/// `env = "netns"` NFs get a cgroup of their own, like a container: a group in the cgroup2
/// hierarchy (`<mount>/scc-<chain>-<pid>-nfs/<nf>`; no controller needed, so it never conflicts
/// with a cpuset reservation). Needs root; otherwise, or without cgroup2, the NFs stay in the
/// launcher's cgroup and a warning says so.
fn container_cgroups(
    chain: &Chain,
    dep: &mut Deployment,
    warnings: &mut Vec<String>,
    slot: &mut Option<SchedGuards>,
) -> Result<Vec<String>, RunError> {
    let netns: Vec<usize> = (0..chain.nfs.len())
        .filter(|&i| chain.nfs[i].env == crate::chain::Env::Netns)
        .collect();
    if netns.is_empty() {
        return Ok(Vec::new());
    }
    let host_root = sys::is_root() && std::env::var_os("SCC_INNER").is_none();
    if !host_root {
        warnings.push(
            "env = \"netns\" NFs share the launcher's cgroup: per-NF cgroups need root".into(),
        );
        return Ok(Vec::new());
    }
    let Some(mount) = scc_sched::CgroupLayout::detect().v2 else {
        warnings.push("no cgroup2 hierarchy mounted: per-NF cgroups skipped".into());
        return Ok(Vec::new());
    };
    let pids = dep.pids();
    // By name: kernel NFs have no PID, so `pids` is not indexed like `chain.nfs`.
    let members: Vec<(String, u32)> = netns
        .iter()
        .filter_map(|&i| pids.iter().find(|(n, _)| *n == chain.nfs[i].name).cloned())
        .collect();
    let groups = crate::cgroup::NfCgroups::create(
        &mount,
        &format!(
            "scc-{}-{}-nfs",
            cgroup_name(&chain.name),
            std::process::id()
        ),
        &members,
    )
    .map_err(|e| RunError::Sched(format!("per-NF cgroups: {e}")))?;
    let paths: Vec<String> = groups
        .paths()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    for ((name, _), path) in members.iter().zip(&paths) {
        dep.log(&format!("cgroup {name} {path}"));
    }
    slot.get_or_insert_with(SchedGuards::default).nf_cgroups = Some(groups);
    Ok(paths)
}

/// Applies the chain's scheduling to the deployed NFs (run-time mode).
fn apply_schedule(
    chain: &Chain,
    dep: &mut Deployment,
    warnings: &mut Vec<String>,
    slot: &mut Option<SchedGuards>,
) -> Result<SchedReport, RunError> {
    let s = &chain.schedule;
    let plan = dep.plan.clone();
    let guards = slot.get_or_insert_with(SchedGuards::default);
    let mut rep = SchedReport {
        plan: match s.plan {
            crate::chain::Plan::Uniprocessor => "uniprocessor".into(),
            crate::chain::Plan::Multiprocessor => "multiprocessor".into(),
        },
        policy: s.policy.map(|p| p.name().to_string()),
        per_core: plan.sched.per_core.clone(),
        ..SchedReport::default()
    };
    let pids = dep.pids();
    if let Some(ms) = s.rr_timeslice_ms {
        let rr = scc_sched::RrTimeslice::set(i64::from(ms))
            .map_err(|e| RunError::Sched(e.to_string()))?;
        rep.rr_timeslice_ms = Some(rr.current_ms());
        guards._rr = Some(rr);
    }
    if s.reserve {
        let mut opts =
            scc_sched::ReservationOptions::new(cgroup_name(&chain.name), s.cores.clone());
        opts.pids = pids.iter().map(|(_, p)| *p as i32).collect();
        opts.isolate_others = s.isolate;
        let r = scc_sched::CoreReservation::create(&opts)
            .map_err(|e| RunError::Sched(e.to_string()))?;
        rep.reservation = Some(r.path().display().to_string());
        log_line(dep, &format!("cpuset {}", r.path().display()));
        guards._reservation = Some(r);
    }
    if let Some(sp) = &plan.sched.plan {
        let mut named: Vec<(&str, i32)> =
            pids.iter().map(|(n, p)| (n.as_str(), *p as i32)).collect();
        if let Some(pid) = dep.switch_pid() {
            named.push((crate::plan::SWITCH_TASK, pid as i32));
        }
        let applied =
            scc_sched::apply_plan(sp, &named).map_err(|e| RunError::Sched(e.to_string()))?;
        warnings.extend(sp.warnings.iter().cloned());
        warnings.extend(applied.warnings());
        for (name, a) in &applied.entries {
            rep.applied
                .push(serde_json::json!({"name": name, "applied": a}));
        }
    }
    if s.keep_awake {
        let cores: Vec<usize> = plan.sched.per_core.keys().copied().collect();
        match scc_sched::KeepAwake::start(scc_sched::KeepAwakeMode::Auto, &cores) {
            Ok(k) => {
                rep.keep_awake = Some(format!("{:?}", k.mode()));
                guards._awake = Some(k);
            }
            Err(e) => warnings.push(format!("keep_awake unavailable: {e}")),
        }
    }
    Ok(rep)
}

/// Watches the run: SIGINT/SIGTERM or a crashed NF stop the traffic; draws the progress line.
fn monitor(
    stop: &AtomicBool,
    traffic_stop: &AtomicBool,
    done: &AtomicBool,
    pids: &[(String, u32)],
    total_s: f64,
    progress: bool,
) {
    let start = Instant::now();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    while !done.load(Ordering::Relaxed) {
        if stop.load(Ordering::Relaxed) {
            traffic_stop.store(true, Ordering::Relaxed);
        }
        for (_, pid) in pids {
            if !process_running(*pid) {
                traffic_stop.store(true, Ordering::Relaxed);
            }
        }
        if progress && last_draw.elapsed() >= Duration::from_millis(250) {
            last_draw = Instant::now();
            let el = start.elapsed().as_secs_f64();
            let frac = if total_s > 0.0 {
                (el / total_s).min(1.0)
            } else {
                0.0
            };
            let bar = (frac * 20.0) as usize;
            eprint!(
                "\r[scc] traffic [{}{}] {:>5.1}/{:.1} s, {} NFs up ",
                "#".repeat(bar),
                ".".repeat(20 - bar),
                el,
                total_s,
                pids.iter().filter(|(_, p)| process_running(*p)).count()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if progress {
        eprint!("\r{:<70}\r", "");
    }
}

/// True while `pid` exists and is not a zombie.
fn process_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|st| st != "Z" && st != "X"),
        Err(_) => false,
    }
}

/// Runs `chain` (validated) from deployment to teardown.
pub fn run_chain(chain: &Chain, opts: RunOptions) -> Result<RunReport, RunError> {
    let online = scc_sched::online_cpus().unwrap_or_default();
    let plan = DeployPlan::new(chain, &opts.base, &online)?;
    let mut stale_notes = if chain.interconnect.kind == crate::chain::InterconnectKind::Ovs {
        crate::ovs::remove_stale_dirs()
    } else {
        Vec::new()
    };
    if sys::is_root() && std::env::var_os("SCC_INNER").is_none() {
        let layout = scc_sched::CgroupLayout::detect();
        let roots: Vec<PathBuf> = layout.v2.into_iter().chain(layout.v1_cpuset).collect();
        stale_notes.extend(crate::cgroup::remove_stale(&roots));
    }
    let mut dep = Deployment::new(plan, opts.exe.clone(), opts.log);
    dep.set_nf_exe(opts.nf_exe.clone());
    for n in &stale_notes {
        dep.log(n);
    }
    let mut guards = None;
    let result = run_deployed(
        chain,
        &mut dep,
        &opts.stop,
        opts.mode,
        opts.progress,
        opts.ready_timeout,
        &mut guards,
    );
    // NFs first (a cpuset with tasks cannot be removed), then the scheduler's state.
    dep.teardown();
    drop(guards);
    result.map(|mut r| {
        r.warnings
            .extend(stale_notes.into_iter().filter(|n| n.contains(" kept: ")));
        r
    })
}

fn run_deployed(
    chain: &Chain,
    dep: &mut Deployment,
    stop: &Arc<AtomicBool>,
    mode: Mode,
    progress: bool,
    ready_timeout: Duration,
    guards: &mut Option<SchedGuards>,
) -> Result<RunReport, RunError> {
    let mut warnings = Vec::new();
    dep.create_network()?;
    if stop.load(Ordering::Relaxed) {
        return Err(RunError::Interrupted);
    }
    dep.spawn_nfs()?;
    dep.wait_ready(ready_timeout, stop)?;
    dep.announce()?;
    if stop.load(Ordering::Relaxed) {
        return Err(RunError::Interrupted);
    }
    let pids = dep.pids();

    let mut schedule = match mode {
        Mode::Runtime => Some(apply_schedule(chain, dep, &mut warnings, guards)?),
        Mode::Profile => None,
    };
    let cgroups = container_cgroups(chain, dep, &mut warnings, guards)?;
    if let Some(s) = schedule.as_mut() {
        s.nf_cgroups = cgroups;
    }
    let mut profiler = match mode {
        Mode::Profile => Some(crate::profile::Profiling::attach(chain, &pids)?),
        Mode::Runtime => None,
    };

    // Scheduler times of every NF over the traffic run (the NFs are gone after stop_nfs).
    let sched_before: Vec<_> = pids
        .iter()
        .map(|(_, p)| scc_profiler::sched::snapshot(*p as i32).ok())
        .collect();
    let traffic = match traffic_config(chain, &dep.plan) {
        Some(cfg) => {
            let traffic_stop = AtomicBool::new(false);
            let done = AtomicBool::new(false);
            let total_s = cfg.generator.duration_s.unwrap_or(0.0).max(
                cfg.generator
                    .count
                    .map_or(0.0, |c| c as f64 / cfg.generator.rate_pps.max(1.0)),
            );
            let gen_ns = dep
                .netns(dep.plan.gen_end.ns)
                .ok_or(RunError::Interrupted)?;
            let sink_ns = dep.netns(dep.plan.sink.ns).ok_or(RunError::Interrupted)?;
            let gen_if = dep.plan.gen_end.ifname.clone();
            let sink_if = dep.plan.sink.ifname.clone();
            let batch = chain.traffic.as_ref().map_or(32, |t| t.batch);
            let driver = chain
                .traffic
                .as_ref()
                .map_or(scc_io::Driver::Mmsg, |t| t.driver);
            let r = std::thread::scope(|s| {
                let mon = s.spawn(|| {
                    monitor(stop, &traffic_stop, &done, &pids, total_s, progress);
                });
                let r = crate::traffic::run_with(
                    &cfg,
                    || open_in(gen_ns, &gen_if, driver, batch),
                    || open_in(sink_ns, &sink_if, driver, 64),
                    &traffic_stop,
                );
                done.store(true, Ordering::Relaxed);
                let _ = mon.join();
                r
            });
            // A crashed NF is the run's error, whatever the traffic saw.
            dep.check_alive()?;
            Some(r?)
        }
        None => {
            dep.check_alive()?;
            None
        }
    };
    let interrupted = stop.load(Ordering::Relaxed);

    if let Some(p) = profiler.as_mut() {
        p.stop()?;
    }
    dep.check_alive()?;
    let sched: Vec<(String, scc_profiler::sched::SchedMetrics)> = pids
        .iter()
        .zip(&sched_before)
        .filter_map(|((name, p), before)| {
            let after = scc_profiler::sched::snapshot(*p as i32).ok()?;
            Some((
                name.clone(),
                scc_profiler::sched::delta(before.as_ref()?, &after),
            ))
        })
        .collect();
    dep.stop_nfs();
    let outcomes = dep.outcomes();
    let mut nfs: Vec<NfReport> = outcomes.iter().map(|o| nf_report(&dep.plan, o)).collect();
    for n in &mut nfs {
        n.sched = sched
            .iter()
            .find(|(name, _)| *name == n.name)
            .map(|(_, m)| *m);
    }
    let (profile, profile_table) = match profiler.as_ref() {
        Some(p) => {
            let (v, t) = p.report(chain, &nfs, traffic.as_ref());
            (Some(v), Some(t))
        }
        None => (None, None),
    };
    for n in &nfs {
        if n.counters.is_none() {
            warnings.push(format!(
                "NF `{}` printed no counters on SIGTERM ({}): rx/tx/drops unknown",
                n.name, n.exit
            ));
        }
    }
    Ok(RunReport {
        chain: chain.name.clone(),
        mode,
        interconnect: chain.interconnect.kind.name().into(),
        io: format!("{} batch {}", chain.io.driver, chain.io.batch),
        offered_pps: traffic.as_ref().map(|t| t.offered_pps),
        achieved_pps: traffic.as_ref().map(|t| t.achieved_pps),
        sent: traffic.as_ref().map(|t| t.sent),
        received: traffic.as_ref().map(|t| t.received),
        lost: traffic.as_ref().map(|t| t.lost),
        latency_us: traffic.as_ref().and_then(|t| t.latency_us),
        nfs,
        schedule,
        traffic,
        interrupted,
        warnings,
        profile,
        profile_table,
    })
}

/// Opens a traffic port on `ifname` inside `ns` (the socket stays bound to that namespace).
fn open_in(
    ns: &scc_io::netns::NetNs,
    ifname: &str,
    driver: scc_io::Driver,
    batch: usize,
) -> Result<Box<dyn scc_io::Port>, TrafficError> {
    let _guard = ns.enter()?;
    let mut cfg = scc_io::PortConfig::new(ifname, driver, batch);
    cfg.rcvbuf = Some(8 << 20);
    Ok(scc_io::open_port(&cfg)?)
}

/// Sets `flag` on SIGINT and SIGTERM (signal-hook: async-signal-safe).
/// A second SIGINT/SIGTERM while the first is being handled exits at once with status 130
/// (the NFs then die through `PR_SET_PDEATHSIG` and the anonymous namespaces with them).
pub fn stop_on_signals(flag: &Arc<AtomicBool>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for sig in [SIGINT, SIGTERM] {
        // Registered first, so it sees the flag as it was before this signal set it.
        signal_hook::flag::register_conditional_shutdown(sig, 130, Arc::clone(flag))?;
        signal_hook::flag::register(sig, Arc::clone(flag))?;
    }
    Ok(())
}

/// The one-line refusal for a chain that needs host privileges, or `None`.
pub fn privilege_refusal(chain: &Chain) -> Option<String> {
    let mut f = chain.privileged_fields();
    if chain.interconnect.kind == crate::chain::InterconnectKind::Ovs
        && std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .is_err()
    {
        f.push(
            "interconnect.kind = \"ovs\" (ovs-vswitchd's userspace datapath opens /dev/net/tun, \
             which this user may not)"
                .to_string(),
        );
    }
    (!f.is_empty() && !sys::is_root()).then(|| {
        format!(
            "scc: this chain needs root for: {} - run as root or remove these fields",
            f.join(", ")
        )
    })
}

/// Makes `cmd`'s child receive `sig` when this thread ends (`PR_SET_PDEATHSIG`), e.g. the
/// rootless launcher's inner copy, so it tears down if the outer one is killed.
pub fn die_with_parent(cmd: &mut std::process::Command, sig: i32) -> &mut std::process::Command {
    sys::child_setup(cmd, sig, None)
}

/// Sends `sig` to our child `pid`.
pub fn signal_child(pid: u32, sig: i32) -> std::io::Result<()> {
    sys::signal(pid, sig)
}

fn log_line(dep: &mut Deployment, line: &str) {
    dep.log(line);
}

/// A cgroup name from the chain's name (scc-sched allows 1..=32 of `[a-z0-9_-]`).
fn cgroup_name(chain: &str) -> String {
    let n: String = chain.chars().take(24).collect();
    if n.is_empty() { "chain".into() } else { n }
}
