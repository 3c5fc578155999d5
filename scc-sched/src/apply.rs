//! Applying a [`SchedSpec`] to a process and every one of its threads, reading it back, and
//! restoring what was there before.

use std::fs;
use std::sync::OnceLock;
use std::time::Duration;

use serde::Serialize;

use crate::cpus::{online_cpus, threads};
use crate::error::{Error, Result};
use crate::policy::{PolicyKind, SchedSpec, SchedState};
use crate::sys::{self, SchedAttr};

/// How many times [`apply`] re-lists `/proc/<pid>/task` to catch threads created meanwhile.
const MAX_PASSES: usize = 4;

/// One thread's change: what it was and what it is now.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadChange {
    /// Thread id.
    pub tid: i32,
    /// State before [`apply`].
    pub before: SchedState,
    /// State read back after [`apply`].
    pub after: SchedState,
    #[serde(skip)]
    raw_before: SchedAttr,
}

/// The record of an [`apply`]: every thread touched, with its previous state, so the change can
/// be undone with [`Applied::restore`]. Nothing is restored automatically on drop (the launcher
/// decides when; a dead process needs nothing).
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// The process id the spec was applied to.
    pub pid: i32,
    /// The spec that was applied.
    pub spec: SchedSpec,
    /// Every thread changed, the main thread first.
    pub threads: Vec<ThreadChange>,
    /// Non-fatal findings (e.g. RT throttling is off).
    pub warnings: Vec<String>,
}

impl Applied {
    /// Puts every thread that still exists back to its previous policy, nice/priority, slice and
    /// affinity. Threads that have exited are skipped. Returns how many threads were restored.
    pub fn restore(&self) -> Result<usize> {
        let mut n = 0;
        let mut first_err = None;
        for t in &self.threads {
            match restore_thread(t, self.spec.affinity.is_some()) {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }
}

/// Restores one thread; Ok(false) when it is gone.
fn restore_thread(t: &ThreadChange, affinity_changed: bool) -> Result<bool> {
    let mut attr = t.raw_before;
    attr.sched_flags = 0;
    if PolicyKind::from_raw(attr.sched_policy).is_fair() {
        // The kernel reports the base slice for tasks without a custom one; writing it back
        // would mark the task custom, so write 0 ("default") in that case.
        if Some(Duration::from_nanos(attr.sched_runtime)) == base_slice() {
            attr.sched_runtime = 0;
        }
    }
    // Order matters for safety: a task becomes real-time only after its affinity is narrowed,
    // and leaves real-time before its affinity is widened.
    let to_rt = matches!(
        PolicyKind::from_raw(attr.sched_policy),
        PolicyKind::Fifo | PolicyKind::Rr | PolicyKind::Deadline
    );
    if to_rt && affinity_changed && !restore_affinity(t)? {
        return Ok(false);
    }
    // The kernel ignores `sched_nice` when it sets SCHED_IDLE (only SCHED_OTHER/BATCH take a
    // nice), so an idle task's nice is put back by passing through SCHED_OTHER first.
    let mut steps = [None, Some(attr)];
    if PolicyKind::from_raw(attr.sched_policy) == PolicyKind::Idle {
        let mut other = attr;
        other.sched_policy = sys::SCHED_OTHER;
        other.sched_runtime = 0;
        steps[0] = Some(other);
    }
    for step in steps.iter().flatten() {
        match sys::sched_setattr(t.tid, step) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return Ok(false),
            Err(e) => {
                return Err(Error::from_sched(
                    format!("restore tid {}", t.tid),
                    t.tid,
                    e,
                ));
            }
            Ok(()) => {}
        }
    }
    if !to_rt && affinity_changed && !restore_affinity(t)? {
        return Ok(false);
    }
    Ok(true)
}

/// Puts a thread's affinity back; Ok(false) when it is gone.
fn restore_affinity(t: &ThreadChange) -> Result<bool> {
    match sys::sched_setaffinity(t.tid, &t.before.affinity) {
        Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(false),
        // EINVAL: the old mask is no longer allowed (e.g. the task is in a narrower cpuset now);
        // leave the affinity as the cpuset made it.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(true),
        Err(e) => Err(Error::from_sched(
            format!("restore affinity of tid {}", t.tid),
            t.tid,
            e,
        )),
        Ok(()) => Ok(true),
    }
}

/// Reads one thread's state (`pid` may be any thread id).
pub fn read(tid: i32) -> Result<SchedState> {
    read_raw(tid).map(|(s, _)| s)
}

/// Reads the state of every thread of a process, the main thread first.
pub fn read_all(pid: i32) -> Result<Vec<SchedState>> {
    let mut out = Vec::new();
    for tid in ordered_threads(pid)? {
        match read(tid) {
            Ok(s) => out.push(s),
            Err(Error::NoSuchProcess { .. }) if tid != pid => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

fn ordered_threads(pid: i32) -> Result<Vec<i32>> {
    let mut t = threads(pid)?;
    if let Some(i) = t.iter().position(|&x| x == pid) {
        t.remove(i);
        t.insert(0, pid);
    }
    Ok(t)
}

fn read_raw(tid: i32) -> Result<(SchedState, SchedAttr)> {
    if tid <= 0 {
        return Err(Error::NoSuchProcess { pid: tid });
    }
    let attr = sys::sched_getattr(tid).map_err(|e| Error::from_sched("sched_getattr", tid, e))?;
    let affinity =
        sys::sched_getaffinity(tid).map_err(|e| Error::from_sched("sched_getaffinity", tid, e))?;
    let kind = PolicyKind::from_raw(attr.sched_policy);
    let slice = if kind.is_fair() && attr.sched_runtime > 0 {
        Some(Duration::from_nanos(attr.sched_runtime))
    } else {
        None
    };
    let rt = matches!(kind, PolicyKind::Fifo | PolicyKind::Rr);
    Ok((
        SchedState {
            tid,
            kind,
            nice: if rt { 0 } else { attr.sched_nice },
            priority: if rt { attr.sched_priority } else { 0 },
            slice,
            affinity,
        },
        attr,
    ))
}

/// The EEVDF slice field `se.slice` of a thread from `/proc/<tid>/sched`, if the kernel shows it
/// (EEVDF kernels). Same value as [`SchedState::slice`] on 6.12+; also present on 6.6..6.11.
pub fn proc_slice(tid: i32) -> Option<Duration> {
    let s = fs::read_to_string(format!("/proc/{tid}/sched")).ok()?;
    parse_proc_sched_slice(&s)
}

/// Parses `se.slice : <ns>` out of `/proc/<pid>/sched` text.
pub fn parse_proc_sched_slice(text: &str) -> Option<Duration> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        if k.trim() == "se.slice" {
            v.trim().parse::<u64>().ok().map(Duration::from_nanos)
        } else {
            None
        }
    })
}

/// The default EEVDF slice of this host (`base_slice_ns`): from debugfs when mounted, else the
/// slice the kernel reports for the calling process' main thread (correct unless someone gave
/// this process a custom slice). `None` before 6.12 or when the main thread is not fair.
pub fn base_slice() -> Option<Duration> {
    static BASE: OnceLock<Option<Duration>> = OnceLock::new();
    *BASE.get_or_init(|| {
        if let Ok(s) = fs::read_to_string("/sys/kernel/debug/sched/base_slice_ns")
            && let Ok(ns) = s.trim().parse::<u64>()
        {
            return Some(Duration::from_nanos(ns));
        }
        let me = std::process::id() as i32;
        let a = sys::sched_getattr(me).ok()?;
        (PolicyKind::from_raw(a.sched_policy).is_fair() && a.sched_runtime > 0)
            .then(|| Duration::from_nanos(a.sched_runtime))
    })
}

/// Whether this kernel supports per-task EEVDF slices (6.12+), found by trying on a short-lived
/// thread of our own: it asks for a 2.5 ms slice and reads it back. Cached.
pub fn slice_supported() -> bool {
    static S: OnceLock<bool> = OnceLock::new();
    *S.get_or_init(|| {
        std::thread::spawn(|| {
            let Ok(mut a) = sys::sched_getattr(0) else {
                return false;
            };
            if !PolicyKind::from_raw(a.sched_policy).is_fair() {
                a.sched_policy = sys::SCHED_OTHER;
                a.sched_priority = 0;
            }
            a.sched_flags = 0;
            a.sched_runtime = 2_500_000;
            if sys::sched_setattr(0, &a).is_err() {
                return false;
            }
            matches!(sys::sched_getattr(0), Ok(b) if b.sched_runtime == 2_500_000)
        })
        .join()
        .unwrap_or(false)
    })
}

/// Reads `/proc/sys/kernel/sched_rt_runtime_us` (-1 means RT throttling is off).
pub fn rt_runtime_us() -> Option<i64> {
    fs::read_to_string("/proc/sys/kernel/sched_rt_runtime_us")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The RR quantum the kernel gives this thread (`sched_rr_get_interval`; zero unless `rr`).
pub fn rr_interval(tid: i32) -> Result<Duration> {
    sys::sched_rr_get_interval(tid).map_err(|e| Error::from_sched("sched_rr_get_interval", tid, e))
}

/// Refuses a real-time policy whose effective affinity covers every online core.
pub fn check_rt_housekeeping(
    policy: &'static str,
    affinity: &[usize],
    online: &[usize],
) -> Result<()> {
    if !online.is_empty() && online.iter().all(|c| affinity.contains(c)) {
        return Err(Error::RealTimeOnAllCores {
            policy,
            cores: online.to_vec(),
        });
    }
    Ok(())
}

fn attr_for(spec: &SchedSpec, before: &SchedState, raw_before: &SchedAttr) -> SchedAttr {
    use crate::policy::Policy;
    let mut a = SchedAttr {
        sched_policy: spec.policy.kind().to_raw(),
        ..SchedAttr::default()
    };
    match spec.policy {
        Policy::Other { nice } | Policy::Batch { nice } => {
            a.sched_nice = nice;
            a.sched_runtime = match spec.slice {
                Some(s) => s.as_nanos() as u64,
                // Keep a custom slice the task already had; 0 resets to the default.
                None if before.kind.is_fair()
                    && before.slice.is_some()
                    && before.slice != base_slice() =>
                {
                    raw_before.sched_runtime
                }
                None => 0,
            };
        }
        Policy::Fifo { priority } | Policy::Rr { priority } => {
            a.sched_priority = priority;
            a.sched_nice = raw_before.sched_nice;
        }
        Policy::Idle => a.sched_nice = raw_before.sched_nice,
    }
    a
}

/// Applies `spec` to one thread only; see [`apply`] for a whole process.
pub fn apply_thread(tid: i32, spec: &SchedSpec) -> Result<ThreadChange> {
    spec.validate()?;
    let online = online_cpus()?;
    precheck(spec, &online)?;
    apply_one(tid, spec, &online)
}

fn precheck(spec: &SchedSpec, online: &[usize]) -> Result<()> {
    if let Some(a) = &spec.affinity {
        for &c in a {
            if !online.contains(&c) {
                return Err(Error::CoreNotOnline {
                    core: c,
                    online: online.to_vec(),
                });
            }
        }
    }
    if spec.slice.is_some() && !slice_supported() {
        return Err(Error::Unsupported {
            feature: "EEVDF custom slice".into(),
            reason: "sched_setattr ignores sched_runtime for fair tasks (needs Linux >= 6.12)"
                .into(),
        });
    }
    Ok(())
}

fn apply_one(tid: i32, spec: &SchedSpec, online: &[usize]) -> Result<ThreadChange> {
    let (before, raw_before) = read_raw(tid)?;
    if spec.policy.is_realtime() {
        let eff = spec.affinity.as_deref().unwrap_or(&before.affinity);
        check_rt_housekeeping(spec.policy.name(), eff, online)?;
    }
    // Narrow the affinity before becoming real-time, so RT never covers all cores, even briefly.
    if let Some(a) = &spec.affinity {
        sys::sched_setaffinity(tid, a)
            .map_err(|e| Error::from_sched(format!("sched_setaffinity tid {tid}"), tid, e))?;
    }
    let attr = attr_for(spec, &before, &raw_before);
    if let Err(e) = sys::sched_setattr(tid, &attr) {
        // Undo the affinity change of this thread before reporting.
        if spec.affinity.is_some() {
            let _ = sys::sched_setaffinity(tid, &before.affinity);
        }
        return Err(match e.raw_os_error() {
            Some(libc::EINVAL) => Error::Unsupported {
                feature: format!("policy {}", spec.policy),
                reason: format!("sched_setattr on tid {tid} returned EINVAL"),
            },
            Some(libc::EPERM)
                if spec.policy.is_realtime() && crate::Capabilities::detect().cap_sys_nice =>
            {
                Error::PermissionDenied {
                    op: format!(
                        "sched_setattr({}) tid {tid} (we have CAP_SYS_NICE: the task's cpu cgroup \
                         likely has cpu.rt_runtime_us = 0 under RT group scheduling)",
                        spec.policy
                    ),
                    capability: "CAP_SYS_NICE",
                }
            }
            _ => Error::from_sched(format!("sched_setattr({}) tid {tid}", spec.policy), tid, e),
        });
    }
    let (after, _) = read_raw(tid)?;
    let change = ThreadChange {
        tid,
        before,
        after,
        raw_before,
    };
    verify(spec, &change)?;
    Ok(change)
}

fn verify(spec: &SchedSpec, c: &ThreadChange) -> Result<()> {
    let want = spec.policy;
    if c.after.policy() != Some(want)
        && !(want == crate::Policy::Idle && c.after.kind == PolicyKind::Idle)
    {
        return Err(Error::Unsupported {
            feature: format!("policy {want}"),
            reason: format!(
                "tid {} reads back as {} nice {} priority {}",
                c.tid,
                c.after.kind.name(),
                c.after.nice,
                c.after.priority
            ),
        });
    }
    if let Some(s) = spec.slice
        && c.after.slice != Some(s)
    {
        return Err(Error::Unsupported {
            feature: "EEVDF custom slice".into(),
            reason: format!(
                "tid {} reads back slice {:?}, asked {s:?}",
                c.tid, c.after.slice
            ),
        });
    }
    Ok(())
}

/// Applies `spec` to process `pid` and every one of its threads (`/proc/<pid>/task`, re-listed
/// until no new thread shows up), affinity first, then policy, then reads everything back.
///
/// Refuses (before touching anything) a real-time policy whose affinity would cover every online
/// core, a slice on a kernel without per-task slices, an offline core, out-of-range parameters.
/// If a thread fails midway, the threads already changed are restored and the error returned.
/// Threads that exit meanwhile are skipped; an unknown `pid` is [`Error::NoSuchProcess`].
pub fn apply(pid: i32, spec: &SchedSpec) -> Result<Applied> {
    spec.validate()?;
    let online = online_cpus()?;
    precheck(spec, &online)?;
    let mut warnings = Vec::new();
    if spec.policy.is_realtime() && rt_runtime_us() == Some(-1) {
        warnings.push(
            "RT throttling is off (/proc/sys/kernel/sched_rt_runtime_us = -1): a spinning \
             real-time task can starve its core"
                .to_string(),
        );
    }
    let mut done: Vec<ThreadChange> = Vec::new();
    for _ in 0..MAX_PASSES {
        let tids = ordered_threads(pid)?;
        let new: Vec<i32> = tids
            .into_iter()
            .filter(|t| !done.iter().any(|d| d.tid == *t))
            .collect();
        if new.is_empty() {
            break;
        }
        for tid in new {
            match apply_one(tid, spec, &online) {
                Ok(c) => done.push(c),
                Err(Error::NoSuchProcess { .. }) if tid != pid => {}
                Err(e) => {
                    let partial = Applied {
                        pid,
                        spec: spec.clone(),
                        threads: done,
                        warnings: Vec::new(),
                    };
                    let _ = partial.restore();
                    return Err(e);
                }
            }
        }
    }
    Ok(Applied {
        pid,
        spec: spec.clone(),
        threads: done,
        warnings,
    })
}

/// Sets the affinity of process `pid` and all its threads (no policy change).
pub fn set_affinity(pid: i32, cores: &[usize]) -> Result<()> {
    if cores.is_empty() {
        return Err(Error::NoCores(format!("affinity of {pid}")));
    }
    crate::cpus::check_cores_online(cores)?;
    for tid in ordered_threads(pid)? {
        match sys::sched_setaffinity(tid, cores) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) && tid != pid => {}
            Err(e) => {
                return Err(Error::from_sched(
                    format!("sched_setaffinity {tid}"),
                    tid,
                    e,
                ));
            }
            Ok(()) => {}
        }
    }
    Ok(())
}

/// The affinity of one thread (`pid` may be any thread id).
pub fn affinity(tid: i32) -> Result<Vec<usize>> {
    sys::sched_getaffinity(tid).map_err(|e| Error::from_sched("sched_getaffinity", tid, e))
}

/// Pins the calling thread to one online core.
pub fn pin_current_thread(core: usize) -> Result<()> {
    crate::cpus::check_cores_online(&[core])?;
    sys::sched_setaffinity(0, &[core]).map_err(|source| Error::Io {
        what: format!("pin current thread to core {core}"),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_slice() {
        let t = "policy : 0\nprio  :  120\nse.slice                                     :              1400000\n";
        assert_eq!(parse_proc_sched_slice(t), Some(Duration::from_micros(1400)));
        assert_eq!(parse_proc_sched_slice("policy: 0\n"), None);
    }

    #[test]
    fn housekeeping_rule() {
        assert!(check_rt_housekeeping("fifo", &[1], &[0, 1]).is_ok());
        assert!(matches!(
            check_rt_housekeeping("fifo", &[0, 1], &[0, 1]),
            Err(Error::RealTimeOnAllCores { policy: "fifo", .. })
        ));
        assert!(check_rt_housekeeping("rr", &[0], &[0]).is_err());
    }

    #[test]
    fn own_thread_reads() {
        let me = std::process::id() as i32;
        let s = read(me).unwrap();
        assert_eq!(s.tid, me);
        assert!(!s.affinity.is_empty());
        assert!(matches!(read(-5), Err(Error::NoSuchProcess { pid: -5 })));
    }
}

/// The result of [`apply_plan`]: one [`Applied`] per task that got a spec.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedPlan {
    /// `(task name, what was applied to its PID)`, in plan order.
    pub entries: Vec<(String, Applied)>,
}

impl AppliedPlan {
    /// Every warning of every task, prefixed with the task name.
    pub fn warnings(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|(n, a)| a.warnings.iter().map(move |w| format!("{n}: {w}")))
            .collect()
    }

    /// Restores every task (in reverse order); the first error is returned after all were tried.
    pub fn restore(&self) -> Result<()> {
        let mut first = None;
        for (_, a) in self.entries.iter().rev() {
            if let Err(e) = a.restore()
                && first.is_none()
            {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Applies a [`crate::Plan`] to the chain's processes: `pids` maps task names to PIDs. Every NF
/// needs a PID; the switch is skipped when it has no PID (a kernel switch) or no spec. If one task
/// fails, the tasks already done are restored and the error returned.
pub fn apply_plan(plan: &crate::Plan, pids: &[(&str, i32)]) -> Result<AppliedPlan> {
    for (name, _) in pids {
        if plan.placement(name).is_none() {
            return Err(Error::Plan(format!("PID given for unknown task {name:?}")));
        }
    }
    let mut done = AppliedPlan {
        entries: Vec::new(),
    };
    for p in &plan.placements {
        let pid = pids.iter().find(|(n, _)| *n == p.name).map(|(_, pid)| *pid);
        let (Some(spec), Some(pid)) = (&p.spec, pid) else {
            if p.role == crate::plan::Role::Nf && pid.is_none() {
                let _ = done.restore();
                return Err(Error::Plan(format!("no PID for nf {:?}", p.name)));
            }
            continue;
        };
        match apply(pid, spec) {
            Ok(a) => done.entries.push((p.name.clone(), a)),
            Err(e) => {
                let _ = done.restore();
                return Err(e);
            }
        }
    }
    Ok(done)
}
