//! One run of a chain (`scc run` / `scc profile`): plan, deploy, schedule or profile, traffic,
//! collect, report, tear down - the teardown happens on every path (normal end, error, crashed
//! NF, SIGINT/SIGTERM), because the [`Deployment`] undoes its steps on drop.
//!
//! - this module: the orchestration ([`run_chain`]) and its options and errors;
//! - [`crate::report`]: the report model and its rendering (re-exported here);
//! - `schedule`: applying the schedule and the per-NF cgroups;
//! - `progress`: the watcher and progress line.

mod progress;
mod schedule;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::chain::{Chain, Mode};
use crate::deploy::{DeployError, Deployment, Log};
use crate::plan::{DeployPlan, PlanError};
use crate::sys;
use crate::traffic::{
    FrameSizes, GenConfig, MacAddr, ProbeConfig, SinkConfig, SizeWeight, TrafficConfig,
    TrafficError,
};

pub use crate::deploy::NfCounters;
pub use crate::report::{NfReport, RunReport, SchedReport, parse_nf_counters};
use schedule::{SchedGuards, apply_schedule, container_cgroups};

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
    Sched(#[from] scc_sched::Error),
    /// The per-NF cgroups of `env = "netns"` NFs could not be made.
    #[error("schedule: per-NF cgroups: {0}")]
    NfCgroups(#[source] std::io::Error),
    /// The profiler could not be attached or read.
    #[error("profile: {0}")]
    Profile(#[from] scc_profiler::Error),
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
    /// of `scc nf ...` (`scc run --nf-exe`; never taken from the environment, so a privileged
    /// run executes only what its command line names).
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
    /// Profile mode: also count each NF's memory references under cachegrind
    /// (`scc profile --simulate`); the model's memory terms it fills are labelled simulated.
    pub simulate: bool,
    /// `--capture DIR`: one pcap file per NF port in this folder (off by default).
    pub capture: Option<PathBuf>,
}

impl RunOptions {
    /// Defaults: this executable, the current folder, run-time mode, no progress, no log.
    pub fn new(stop: Arc<AtomicBool>) -> std::io::Result<Self> {
        Ok(Self {
            exe: std::env::current_exe()?,
            nf_exe: None,
            base: PathBuf::from("."),
            mode: Mode::Runtime,
            stop,
            progress: false,
            log: Box::new(|_| {}),
            ready_timeout: Duration::from_secs(10),
            simulate: false,
            capture: None,
        })
    }
}

/// The traffic settings for the plan's endpoints.
pub fn traffic_config(chain: &Chain, plan: &DeployPlan) -> Option<TrafficConfig> {
    let t = chain
        .traffic
        .as_ref()
        .filter(|t| t.kind == crate::chain::TrafficKind::Generator)?;
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

/// As host root ([`crate::privilege::host_root`]): removes the cgroups an `scc` killed with
/// SIGKILL left behind (at the roots of the cgroup2 and v1 cpuset hierarchies), moving host
/// tasks an `isolate` reservation confined back first ([`crate::cgroup::remove_stale`]).
/// Otherwise does nothing. One message per group found.
pub fn remove_stale_cgroups() -> Vec<String> {
    if !crate::privilege::host_root() {
        return Vec::new();
    }
    let layout = scc_sched::CgroupLayout::detect();
    let roots: Vec<PathBuf> = layout.v2.into_iter().chain(layout.v1_cpuset).collect();
    crate::cgroup::remove_stale(&roots)
}

/// What `scc cleanup` does: [`remove_stale_cgroups`] and the private Open vSwitch folders of
/// dead `scc` processes ([`crate::ovs::remove_stale_dirs`]). One message per item found.
pub fn cleanup() -> Vec<String> {
    let mut v = crate::ovs::remove_stale_dirs();
    v.extend(remove_stale_cgroups());
    v
}

/// Runs `chain` (validated) from deployment to teardown.
pub fn run_chain(chain: &Chain, opts: RunOptions) -> Result<RunReport, RunError> {
    let online = scc_sched::online_cpus().unwrap_or_default();
    if let Some(e) = crate::fusion::exe_refusal(chain, opts.nf_exe.as_deref()) {
        return Err(PlanError::Invalid(e.to_string()).into());
    }
    let mut plan = DeployPlan::new(chain, &opts.base, &online)?;
    let capture = match &opts.capture {
        Some(dir) => Some((
            crate::capture::prepare(dir, &mut plan.nfs).map_err(|source| {
                RunError::Deploy(DeployError::Io {
                    what: format!("creating the capture folder {}", dir.display()),
                    source: scc_io::IoError::from_io("mkdir", source),
                })
            })?,
            plan.nfs.clone(),
        )),
        None => None,
    };
    let mut stale_notes = if chain.interconnect.kind == crate::chain::InterconnectKind::Ovs {
        crate::ovs::remove_stale_dirs()
    } else {
        Vec::new()
    };
    stale_notes.extend(remove_stale_cgroups());
    // `--simulate`: the cachegrind runs need no network (in-memory ports), so they run first
    // and stay out of the measured run.
    let (simulated, sim_notes) = match (opts.simulate, opts.mode) {
        (true, Mode::Profile) => crate::profile::simulate(&crate::profile::simulations(
            chain,
            &plan,
            &opts.exe,
            opts.nf_exe.as_deref(),
        )),
        (true, Mode::Runtime) => (
            Vec::new(),
            vec!["--simulate is for profile mode (`scc profile`): ignored".to_string()],
        ),
        (false, _) => (Vec::new(), Vec::new()),
    };
    let mut dep = Deployment::new(plan, opts.exe.clone(), opts.log);
    dep.set_nf_exe(opts.nf_exe.clone());
    for n in &stale_notes {
        dep.log(n);
    }
    let mut guards = None;
    let settings = Settings {
        stop: &opts.stop,
        mode: opts.mode,
        progress: opts.progress,
        ready_timeout: opts.ready_timeout,
        simulated: &simulated,
    };
    let result = run_deployed(chain, &mut dep, &settings, &mut guards);
    // NFs first (a cpuset with tasks cannot be removed), then the scheduler's state.
    dep.teardown();
    drop(guards);
    result.map(|mut r| {
        // After teardown: the NFs have exited and flushed their files.
        r.capture = capture.map(|(dir, nfs)| crate::capture::CaptureReport::read(&dir, &nfs));
        r.warnings
            .extend(stale_notes.into_iter().filter(|n| n.contains(" kept: ")));
        r.warnings.extend(sim_notes);
        r
    })
}

/// What [`run_deployed`] takes from the options.
struct Settings<'a> {
    stop: &'a Arc<AtomicBool>,
    mode: Mode,
    progress: bool,
    ready_timeout: Duration,
    /// `--simulate`: cachegrind counts per NF name.
    simulated: &'a [(String, scc_profiler::model::NfCounts)],
}

fn run_deployed(
    chain: &Chain,
    dep: &mut Deployment,
    settings: &Settings<'_>,
    guards: &mut Option<SchedGuards>,
) -> Result<RunReport, RunError> {
    let Settings {
        stop,
        mode,
        progress,
        ready_timeout,
        simulated,
    } = *settings;
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
    let live = dep.live();

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
                    progress::monitor(stop, &traffic_stop, &done, &pids, &live, total_s, progress);
                });
                let r = crate::traffic::run_with(
                    &cfg,
                    || open_traffic_port(gen_ns, &gen_if, driver, batch),
                    || open_traffic_port(sink_ns, &sink_if, driver, 64),
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
    // Real hosts at the ends: their programs make the traffic.
    let hosts = if chain.hosts() {
        Some(crate::traffic::hosts::run_hosts(chain, dep, stop)?)
    } else {
        None
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
    let mut nfs: Vec<NfReport> = outcomes
        .iter()
        .flat_map(|o| {
            let r = NfReport::from_outcome(&dep.plan, o);
            // A fused chain's one process reports every NF of the chain with its own counters.
            if chain.schedule.plan == crate::chain::Plan::Fused {
                crate::fusion::expand_fused(chain, &r, &o.stdout)
            } else {
                vec![r]
            }
        })
        .collect();
    for n in &mut nfs {
        n.sched = sched
            .iter()
            .find(|(name, _)| *name == n.name)
            .map(|(_, m)| *m);
    }
    // A fused chain is one process: its scheduler times go with the first NF (once, so that
    // sums over the NFs stay right); the others have none of their own.
    if chain.schedule.plan == crate::chain::Plan::Fused
        && let Some(first) = nfs.first_mut()
    {
        first.sched = sched
            .iter()
            .find(|(name, _)| name == crate::fusion::FUSED_PROC)
            .map(|(_, m)| *m);
    }
    let (profile, profile_table) = match profiler.as_ref() {
        Some(p) => {
            let (v, t) = p.report(chain, &nfs, traffic.as_ref(), simulated);
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
        hosts,
        interrupted,
        warnings,
        profile,
        profile_table,
        capture: None,
    })
}

/// Opens a traffic port on `ifname` inside `ns` (the socket stays bound to that namespace),
/// with an 8 MiB receive buffer, through [`crate::traffic::open_port_in`].
fn open_traffic_port(
    ns: &scc_io::netns::NetNs,
    ifname: &str,
    driver: scc_io::Driver,
    batch: usize,
) -> Result<Box<dyn scc_io::Port>, TrafficError> {
    let mut cfg = scc_io::PortConfig::new(ifname, driver, batch);
    cfg.rcvbuf = Some(8 << 20);
    crate::traffic::open_port_in(Some(ns), &cfg, Duration::from_secs(2))
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
