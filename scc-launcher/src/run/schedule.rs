//! Applying the chain's scheduling to the deployed NFs (run-time mode) and the per-NF cgroups
//! of `env = "netns"` NFs; everything set up is held by [`SchedGuards`] and undone on drop.

use crate::chain::Chain;
use crate::deploy::Deployment;
use crate::report::SchedReport;

use super::RunError;

/// Holds what the scheduler set up for the run (released on drop, before teardown ends).
/// Fields drop in declaration order: the NFs' own cgroups before the chain's reservation that
/// may contain them.
#[derive(Default)]
pub(super) struct SchedGuards {
    nf_cgroups: Option<crate::cgroup::NfCgroups>,
    _rr: Option<scc_sched::RrTimeslice>,
    _reservation: Option<scc_sched::CoreReservation>,
    _awake: Option<scc_sched::KeepAwake>,
}

/// `env = "netns"` NFs get a cgroup of their own, like a container: a group in the cgroup2
/// hierarchy (`<mount>/scc-<chain>-<pid>-nfs/<nf>`; no controller needed, so it never conflicts
/// with a cpuset reservation). Needs root; otherwise, or without cgroup2, the NFs stay in the
/// launcher's cgroup and a warning says so.
pub(super) fn container_cgroups(
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
    if !crate::privilege::host_root() {
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
    .map_err(RunError::NfCgroups)?;
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
pub(super) fn apply_schedule(
    chain: &Chain,
    dep: &mut Deployment,
    warnings: &mut Vec<String>,
    slot: &mut Option<SchedGuards>,
) -> Result<SchedReport, RunError> {
    let s = &chain.schedule;
    let plan = dep.plan.clone();
    let guards = slot.get_or_insert_with(SchedGuards::default);
    let mut rep = SchedReport {
        plan: s.plan.name().into(),
        policy: s.policy.map(|p| p.name().to_string()),
        per_core: plan.sched.per_core.clone(),
        ..SchedReport::default()
    };
    let pids = dep.pids();
    if let Some(ms) = s.rr_timeslice_ms {
        let rr = scc_sched::RrTimeslice::set(i64::from(ms))?;
        rep.rr_timeslice_ms = Some(rr.current_ms());
        guards._rr = Some(rr);
    }
    if s.reserve {
        let mut opts =
            scc_sched::ReservationOptions::new(cgroup_name(&chain.name), s.cores.clone());
        opts.pids = pids.iter().map(|(_, p)| *p as i32).collect();
        opts.isolate_others = s.isolate;
        let r = scc_sched::CoreReservation::create(&opts)?;
        rep.reservation = Some(r.path().display().to_string());
        dep.log(&format!("cpuset {}", r.path().display()));
        guards._reservation = Some(r);
    }
    if let Some(sp) = &plan.sched.plan {
        let mut named: Vec<(&str, i32)> =
            pids.iter().map(|(n, p)| (n.as_str(), *p as i32)).collect();
        if let Some(pid) = dep.switch_pid() {
            named.push((crate::plan::SWITCH_TASK, pid as i32));
        }
        let applied = scc_sched::apply_plan(sp, &named)?;
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

/// A cgroup name from the chain's name (scc-sched allows 1..=32 of `[a-z0-9_-]`).
fn cgroup_name(chain: &str) -> String {
    let n: String = chain.chars().take(24).collect();
    if n.is_empty() { "chain".into() } else { n }
}
