//! `[schedule]`: cores, the policy's fields and their ranges (scc-sched's own checks), the
//! housekeeping core, the plan's needs, reservation; then scc-sched's plan itself.

use std::time::Duration;

use scc_sched::{NICE_MAX, NICE_MIN, RT_PRIORITY_MAX, RT_PRIORITY_MIN};

use super::Problems;
use crate::chain::host::HostInfo;
use crate::chain::schema::{Chain, InterconnectKind, Plan, Policy};

/// Every field of `[schedule]`.
pub(super) fn schedule(chain: &Chain, host: &HostInfo, p: &mut Problems) {
    let s = &chain.schedule;
    for (i, &c) in s.cores.iter().enumerate() {
        if !host.is_online(c) {
            p.add(format!("schedule.cores[{i}]"), host.core_reason(c));
        }
        if s.cores[..i].contains(&c) {
            p.add(
                format!("schedule.cores[{i}]"),
                format!("core {c} listed twice"),
            );
        }
    }
    policy_fields(chain, host, p);
    if let Some(n) = s.nice
        && (scc_sched::Policy::Other { nice: n }).validate().is_err()
    {
        p.add(
            "schedule.nice",
            format!("{n} is out of range: nice is {NICE_MIN}..={NICE_MAX}"),
        );
    }
    if let Some(t) = s.rr_timeslice_ms {
        if s.policy != Some(Policy::Rr) {
            p.add(
                "schedule.rr_timeslice_ms",
                "only meaningful with policy = \"rr\"",
            );
        } else if t == 0 || t > 10_000 {
            p.add(
                "schedule.rr_timeslice_ms",
                format!("{t} is out of range: 1..=10000 ms"),
            );
        }
    }
    if let Some(us) = s.slice_us
        && scc_sched::check_slice(Duration::from_micros(us)).is_err()
    {
        p.add(
            "schedule.slice_us",
            format!(
                "{us} is out of range: the kernel clamps slices to {}..={} us",
                scc_sched::SLICE_MIN.as_micros(),
                scc_sched::SLICE_MAX.as_micros()
            ),
        );
    }
    if s.plan == Plan::Multiprocessor {
        let switch = chain.interconnect.core.or(s.cores.get(1).copied());
        if chain.interconnect.kind != InterconnectKind::B2b && switch.is_none() {
            p.add(
                "schedule.plan",
                "the multiprocessor plan puts the switch on its own core: give \
                 schedule.cores = [NF core, switch core] or interconnect.core",
            );
        }
    }
    if (s.reserve || s.isolate) && s.cores.is_empty() {
        p.add(
            "schedule.cores",
            "core reservation needs the cores to reserve",
        );
    }
    if s.isolate && !s.reserve {
        p.add(
            "schedule.isolate",
            "isolate works on a reservation: set reserve = true too",
        );
    }
}

/// Which of `nice` / `priority` / `slice_us` the policy takes, the priority's range, and the
/// housekeeping core of a real-time chain.
fn policy_fields(chain: &Chain, host: &HostInfo, p: &mut Problems) {
    let s = &chain.schedule;
    match s.policy {
        Some(Policy::Other | Policy::Batch) | None => {
            if s.priority.is_some() {
                p.add(
                    "schedule.priority",
                    "priority is for fifo/rr; other/batch take `nice`",
                );
            }
        }
        Some(policy @ (Policy::Fifo | Policy::Rr)) => {
            match s.priority {
                Some(prio)
                    if u32::try_from(prio).map_or(true, |x| {
                        policy.with_param(None, Some(x)).validate().is_err()
                    }) =>
                {
                    p.add(
                        "schedule.priority",
                        format!(
                            "{prio} is out of range: fifo/rr priorities are \
                             {RT_PRIORITY_MIN}..={RT_PRIORITY_MAX}"
                        ),
                    )
                }
                None => p.add(
                    "schedule.priority",
                    format!("fifo/rr need a priority ({RT_PRIORITY_MIN}..={RT_PRIORITY_MAX})"),
                ),
                _ => {}
            }
            if s.nice.is_some() {
                p.add(
                    "schedule.nice",
                    "nice is for other/batch; fifo/rr take `priority`",
                );
            }
            if s.slice_us.is_some() {
                p.add(
                    "schedule.slice_us",
                    "the EEVDF slice is for other/batch; rr takes `rr_timeslice_ms`",
                );
            }
            housekeeping(chain, host, p);
        }
        Some(Policy::Idle) => {
            if s.nice.is_some() || s.priority.is_some() {
                p.add("schedule.policy", "idle takes neither nice nor priority");
            }
        }
    }
}

/// A real-time chain must leave a fair core, and keep core 0 free of real-time tasks.
fn housekeeping(chain: &Chain, host: &HostInfo, p: &mut Problems) {
    if host.online.is_empty() {
        return;
    }
    let n = chain.nfs.len();
    let mut rt_cores: Vec<usize> = (0..n).filter_map(|i| chain.nf_core(i)).collect();
    rt_cores.sort_unstable();
    rt_cores.dedup();
    let unpinned = (0..n).any(|i| chain.nf_core(i).is_none());
    if unpinned || rt_cores.len() >= host.cores() {
        p.add(
            "schedule.policy",
            "a real-time chain must leave a housekeeping core fair: pin every \
             NF (schedule.cores or nf.core) to a subset of the CPUs",
        );
    } else if rt_cores.contains(&0) && host.cores() > 1 {
        p.add(
            "schedule.cores",
            "keep core 0 free of real-time tasks: use other cores",
        );
    }
}

/// scc-sched's plan for the chain on this host's online CPUs (its reason on failure).
pub(super) fn plan(chain: &Chain, host: &HostInfo, p: &mut Problems) {
    if let Err(e) = chain.sched_plan(&host.online) {
        p.add("schedule", e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use crate::chain::{Chain, HostInfo};

    fn problems(schedule: &str) -> Vec<String> {
        let text = format!(
            "name = \"x\"\n[schedule]\n{schedule}\n[[nf]]\nname = \"r1\"\nkind = \"router\"\n\
             routes = [\"198.18.0.0/15\"]\n"
        );
        Chain::parse(&text)
            .unwrap()
            .problems(&HostInfo::with_cores(4, false))
            .iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn ranges_are_scc_sched_ranges() {
        assert_eq!(
            problems("policy = \"fifo\"\npriority = -1\ncores = [1]"),
            ["schedule.priority: -1 is out of range: fifo/rr priorities are 1..=99"]
        );
        assert_eq!(
            problems("policy = \"rr\"\npriority = 100\ncores = [1]"),
            ["schedule.priority: 100 is out of range: fifo/rr priorities are 1..=99"]
        );
        assert_eq!(
            problems("policy = \"batch\"\nnice = 20"),
            ["schedule.nice: 20 is out of range: nice is -20..=19"]
        );
        assert_eq!(
            problems("slice_us = 100001"),
            [
                "schedule.slice_us: 100001 is out of range: the kernel clamps slices to 100..=100000 us"
            ]
        );
        // The bounds themselves are accepted.
        assert_eq!(
            problems("policy = \"fifo\"\npriority = 99\ncores = [1]"),
            [] as [String; 0]
        );
        assert_eq!(
            problems("policy = \"other\"\nnice = -20\nslice_us = 100"),
            [] as [String; 0]
        );
        // And the chain's spec is scc-sched's.
        let c = Chain::parse(
            "name = \"x\"\n[schedule]\npolicy = \"rr\"\npriority = 7\n[[nf]]\nname = \"f\"\nkind = \"forward\"\n",
        )
        .unwrap();
        assert_eq!(
            c.schedule.sched_spec().unwrap().policy,
            scc_sched::Policy::Rr { priority: 7 }
        );
    }
}
