//! Scheduling plans (paper Fig. 7), pure: which core each NF and the switch run on, with which
//! policy, and which scheduler instance (one per core) coordinates them.
//!
//! * [`PlanKind::Uniprocessor`] (Fig. 7a): the NFs and the switch share one core; the switch runs
//!   in odd rounds and the NFs in even rounds, so each core's instance lists the switch first.
//! * [`PlanKind::Multiprocessor`] (Fig. 7b): the switch gets a core of its own and the NFs run on
//!   another; generalised, every NF may ask for its own core(s) and each core gets one scheduler
//!   instance coordinating the tasks placed there.
//!
//! * [`PlanKind::ChainOrder`] (issue 12): NFs that share a core run in chain order, one batch
//!   each, handing the core on ([`crate::handoff`]); each core's instance lists its NFs in chain
//!   order, the ring the hand-off follows. NFs default to one core (as Fig. 7a) and may each ask
//!   for one core of their own.
//! * [`PlanKind::Fused`] (issue 12): all NFs in one process on one core (placed as Fig. 7a: an NF
//!   asking for another core than the rest is refused).
//!
//! The plan refuses a real-time policy that would cover every online core (a housekeeping core
//! stays fair), cores the host does not have, and placements that contradict the plan kind.

use serde::{Deserialize, Serialize};

use crate::apply::check_rt_housekeeping;
use crate::cpuset::check_name;
use crate::error::{Error, Result};
use crate::policy::{Policy, SchedSpec};

/// The scheduling options of Fig. 7 (uniprocessor by default) and the chain-aware plans of
/// issue 12.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanKind {
    /// Fig. 7a: one core for the whole chain (NFs and switch).
    #[default]
    Uniprocessor,
    /// Fig. 7b, generalised: the switch on its own core, NFs on theirs, one instance per core.
    Multiprocessor,
    /// NFs sharing a core run in chain order, one batch per turn (`"chain-order"`).
    #[serde(rename = "chain-order")]
    ChainOrder,
    /// All NFs in one process on one core, a run-to-completion pipeline (`"fused"`).
    Fused,
}

impl PlanKind {
    /// The name used in chain files.
    pub fn name(self) -> &'static str {
        match self {
            PlanKind::Uniprocessor => "uniprocessor",
            PlanKind::Multiprocessor => "multiprocessor",
            PlanKind::ChainOrder => "chain-order",
            PlanKind::Fused => "fused",
        }
    }
}

/// An NF of the chain, in chain order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NfRequest {
    /// Its name (1-32 chars of `[a-z0-9_-]`).
    pub name: String,
    /// The cores the operator asked for, if any.
    #[serde(default)]
    pub cores: Option<Vec<usize>>,
}

/// The chain's software switch (e.g. a userspace OVS, or a Linux bridge whose core is where its
/// softirq work is expected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwitchRequest {
    /// Its name.
    pub name: String,
    /// The core asked for, if any.
    #[serde(default)]
    pub core: Option<usize>,
    /// Its policy; `None` leaves it alone (e.g. a kernel switch with no task of its own).
    #[serde(default)]
    pub spec: Option<SchedSpec>,
}

/// Input of [`plan`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanRequest {
    /// Uni- or multiprocessor.
    pub kind: PlanKind,
    /// The NFs in chain order.
    pub nfs: Vec<NfRequest>,
    /// The switch, if the chain has one (b2b chains have none).
    #[serde(default)]
    pub switch: Option<SwitchRequest>,
    /// The policy (and slice) for every NF; its affinity is replaced by the plan's cores.
    pub nf_spec: SchedSpec,
    /// The cores the chain may use; empty means every online core.
    #[serde(default)]
    pub cores: Vec<usize>,
    /// The host's online cores ([`crate::online_cpus`]).
    pub online: Vec<usize>,
}

/// Whether a placement is an NF or the switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A network function.
    Nf,
    /// The software switch.
    Switch,
}

/// Where one task runs and how it is scheduled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// NF or switch name.
    pub name: String,
    /// NF or switch.
    pub role: Role,
    /// Its cores.
    pub cores: Vec<usize>,
    /// What to [`crate::apply`] to its PID (affinity = `cores`); `None`: leave it alone.
    pub spec: Option<SchedSpec>,
}

/// One scheduler instance: a core and the tasks it coordinates, in round order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instance {
    /// The core.
    pub core: usize,
    /// Task names, switch first (odd rounds), then NFs in chain order (even rounds).
    pub tasks: Vec<String>,
}

/// A validated plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Uni- or multiprocessor.
    pub kind: PlanKind,
    /// Switch first (if any), then NFs in chain order.
    pub placements: Vec<Placement>,
    /// One scheduler instance per used core, ascending.
    pub instances: Vec<Instance>,
    /// Every core the chain uses (what a [`crate::CoreReservation`] would take).
    pub reserved: Vec<usize>,
    /// Online cores left to the rest of the system.
    pub housekeeping: Vec<usize>,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
}

impl Plan {
    /// The placement of a task by name.
    pub fn placement(&self, name: &str) -> Option<&Placement> {
        self.placements.iter().find(|p| p.name == name)
    }
}

fn perr(msg: impl Into<String>) -> Error {
    Error::Plan(msg.into())
}

/// Builds and validates a plan.
pub fn plan(req: &PlanRequest) -> Result<Plan> {
    if req.nfs.is_empty() {
        return Err(perr("the chain has no NF"));
    }
    if req.online.is_empty() {
        return Err(perr("no online core given"));
    }
    req.nf_spec.validate()?;
    let mut names: Vec<&str> = Vec::new();
    let all_names = req
        .nfs
        .iter()
        .map(|n| n.name.as_str())
        .chain(req.switch.iter().map(|s| s.name.as_str()));
    for n in all_names {
        check_name(n)?;
        if names.contains(&n) {
            return Err(perr(format!("duplicate name {n:?}")));
        }
        names.push(n);
    }
    let mut avail: Vec<usize> = if req.cores.is_empty() {
        req.online.clone()
    } else {
        req.cores.clone()
    };
    avail.sort_unstable();
    avail.dedup();
    let not_online = |core: usize| Error::CoreNotOnline {
        core,
        online: req.online.clone(),
    };
    for &c in &avail {
        if !req.online.contains(&c) {
            return Err(not_online(c));
        }
    }
    let check_core = |who: &str, c: usize| -> Result<()> {
        if !req.online.contains(&c) {
            return Err(not_online(c));
        }
        if !avail.contains(&c) {
            return Err(perr(format!(
                "{who}: core {c} is not among the chain's cores {avail:?}"
            )));
        }
        Ok(())
    };
    for nf in &req.nfs {
        if let Some(cs) = &nf.cores {
            if cs.is_empty() {
                return Err(Error::NoCores(format!("nf {}", nf.name)));
            }
            for &c in cs {
                check_core(&format!("nf {}", nf.name), c)?;
            }
        }
    }
    if let Some(s) = &req.switch {
        if let Some(c) = s.core {
            check_core(&format!("switch {}", s.name), c)?;
        }
        if let Some(sp) = &s.spec {
            sp.validate()?;
        }
    }

    let last = *avail.last().ok_or_else(|| perr("no core available"))?;
    let mut nf_cores: Vec<Vec<usize>> = Vec::new();
    let mut switch_core: Option<usize> = None;
    match req.kind {
        PlanKind::Uniprocessor | PlanKind::Fused => {
            let mut wanted: Vec<(String, usize)> = Vec::new();
            for nf in &req.nfs {
                if let Some(cs) = &nf.cores {
                    let mut cs = cs.clone();
                    cs.sort_unstable();
                    cs.dedup();
                    if cs.len() != 1 {
                        return Err(perr(format!(
                            "{} plan: nf {} asks for several cores {cs:?}",
                            req.kind.name(),
                            nf.name
                        )));
                    }
                    wanted.push((format!("nf {}", nf.name), cs[0]));
                }
            }
            if let Some(s) = &req.switch
                && let Some(c) = s.core
            {
                wanted.push((format!("switch {}", s.name), c));
            }
            let core = wanted.first().map(|w| w.1).unwrap_or(last);
            if let Some((who, c)) = wanted.iter().find(|w| w.1 != core) {
                let hint = if req.kind == PlanKind::Fused {
                    "a fused chain is one process on one core"
                } else {
                    "all tasks share one core (use multiprocessor)"
                };
                return Err(perr(format!(
                    "{} plan: {who} asks for core {c} but {} asks for core {core}; {hint}",
                    req.kind.name(),
                    wanted[0].0
                )));
            }
            nf_cores.resize(req.nfs.len(), vec![core]);
            if req.switch.is_some() {
                switch_core = Some(core);
            }
        }
        PlanKind::ChainOrder => {
            // One core by default (the first one asked for, else the last available); an NF
            // may ask for one core of its own, and NFs sharing a core form one hand-off ring.
            let mut first_asked = None;
            for nf in &req.nfs {
                if let Some(cs) = &nf.cores {
                    let mut cs = cs.clone();
                    cs.sort_unstable();
                    cs.dedup();
                    if cs.len() != 1 {
                        return Err(perr(format!(
                            "chain-order plan: nf {} asks for several cores {cs:?}; an NF takes \
                             its turns on one core",
                            nf.name
                        )));
                    }
                    first_asked.get_or_insert(cs[0]);
                }
            }
            let default = first_asked
                .or(req.switch.as_ref().and_then(|s| s.core))
                .unwrap_or(last);
            for nf in &req.nfs {
                nf_cores.push(nf.cores.clone().map_or(vec![default], |mut cs| {
                    cs.dedup();
                    cs
                }));
            }
            if let Some(s) = &req.switch {
                switch_core = Some(s.core.unwrap_or(default));
            }
        }
        PlanKind::Multiprocessor => {
            let requested: Vec<usize> = req
                .nfs
                .iter()
                .filter_map(|n| n.cores.as_ref())
                .flatten()
                .copied()
                .collect();
            if let Some(s) = &req.switch {
                let sc = match s.core {
                    Some(c) => c,
                    None => *avail.iter().find(|c| !requested.contains(c)).ok_or_else(|| {
                        perr("multiprocessor plan: no core left for the switch apart from the NFs' cores")
                    })?,
                };
                if requested.contains(&sc) {
                    return Err(perr(format!(
                        "multiprocessor plan: switch {} and an NF both ask for core {sc}; the \
                         switch needs a core of its own (or use uniprocessor)",
                        s.name
                    )));
                }
                switch_core = Some(sc);
            }
            let default = avail
                .iter()
                .rev()
                .copied()
                .find(|c| Some(*c) != switch_core)
                .ok_or_else(|| {
                    perr("multiprocessor plan needs at least two cores (one for the switch)")
                })?;
            for nf in &req.nfs {
                let mut cs = nf.cores.clone().unwrap_or_else(|| vec![default]);
                cs.sort_unstable();
                cs.dedup();
                nf_cores.push(cs);
            }
        }
    }

    let mut placements = Vec::new();
    if let (Some(s), Some(c)) = (&req.switch, switch_core) {
        placements.push(Placement {
            name: s.name.clone(),
            role: Role::Switch,
            cores: vec![c],
            spec: s.spec.clone().map(|mut sp| {
                sp.affinity = Some(vec![c]);
                sp
            }),
        });
    }
    for (nf, cores) in req.nfs.iter().zip(nf_cores) {
        let mut spec = req.nf_spec.clone();
        spec.affinity = Some(cores.clone());
        placements.push(Placement {
            name: nf.name.clone(),
            role: Role::Nf,
            cores,
            spec: Some(spec),
        });
    }

    let mut reserved: Vec<usize> = placements.iter().flat_map(|p| p.cores.clone()).collect();
    reserved.sort_unstable();
    reserved.dedup();
    let rt_cores: Vec<usize> = placements
        .iter()
        .filter(|p| p.spec.as_ref().is_some_and(|s| s.policy.is_realtime()))
        .flat_map(|p| p.cores.clone())
        .collect();
    if let Some(p) = placements
        .iter()
        .find_map(|p| p.spec.as_ref().filter(|s| s.policy.is_realtime()))
    {
        check_rt_housekeeping(p.policy.name(), &rt_cores, &req.online)?;
    }
    let instances = reserved
        .iter()
        .map(|&core| Instance {
            core,
            tasks: placements
                .iter()
                .filter(|p| p.cores.contains(&core))
                .map(|p| p.name.clone())
                .collect(),
        })
        .collect();
    let housekeeping: Vec<usize> = req
        .online
        .iter()
        .copied()
        .filter(|c| !reserved.contains(c))
        .collect();
    let mut warnings = Vec::new();
    if housekeeping.is_empty() {
        warnings.push(
            "the chain uses every online core: reserving them would leave no housekeeping core"
                .to_string(),
        );
    }
    if let Some(Policy::Fifo { .. }) = placements
        .iter()
        .filter(|p| p.role == Role::Nf)
        .find_map(|p| p.spec.as_ref().map(|s| s.policy))
        && req.nfs.len() > 1
    {
        warnings.push(
            "FIFO NFs sharing a core run until they block: an NF that never blocks starves the \
             others (FIFO collapses under overload)"
                .to_string(),
        );
    }
    Ok(Plan {
        kind: req.kind,
        placements,
        instances,
        reserved,
        housekeeping,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nfs(n: usize) -> Vec<NfRequest> {
        (1..=n)
            .map(|i| NfRequest {
                name: format!("r{i}"),
                cores: None,
            })
            .collect()
    }

    fn req(kind: PlanKind, n: usize, online: &[usize]) -> PlanRequest {
        PlanRequest {
            kind,
            nfs: nfs(n),
            switch: None,
            nf_spec: SchedSpec::new(Policy::Batch { nice: -19 }),
            cores: vec![],
            online: online.to_vec(),
        }
    }

    fn sw(core: Option<usize>) -> Option<SwitchRequest> {
        Some(SwitchRequest {
            name: "ovs".into(),
            core,
            spec: Some(SchedSpec::new(Policy::Other { nice: 0 })),
        })
    }

    #[test]
    fn chain_order_groups_nfs_by_core_in_chain_order_and_fused_keeps_one_core() {
        let mut r = req(PlanKind::ChainOrder, 4, &[0, 1, 2, 3]);
        r.nfs[2].cores = Some(vec![2]);
        let p = plan(&r).unwrap();
        let cores: Vec<Vec<usize>> = p.placements.iter().map(|pl| pl.cores.clone()).collect();
        // The first core asked for is the default: nf0, nf1, nf3 share core 2 with nf2.
        assert_eq!(cores, vec![vec![2]; 4]);
        let mut r = req(PlanKind::ChainOrder, 4, &[0, 1, 2, 3]);
        r.nfs[1].cores = Some(vec![1]);
        r.nfs[3].cores = Some(vec![3]);
        let p = plan(&r).unwrap();
        let per_core: Vec<(usize, Vec<String>)> = p
            .instances
            .iter()
            .map(|i| (i.core, i.tasks.clone()))
            .collect();
        let names = |v: &[usize]| v.iter().map(|k| format!("r{}", k + 1)).collect::<Vec<_>>();
        assert_eq!(
            per_core,
            vec![(1, names(&[0, 1, 2])), (3, names(&[3]))],
            "chain order within each core"
        );
        r.nfs[0].cores = Some(vec![1, 2]);
        assert!(plan(&r).unwrap_err().to_string().contains("several cores"));
        let mut r = req(PlanKind::Fused, 3, &[0, 1]);
        r.nfs[0].cores = Some(vec![0]);
        r.nfs[2].cores = Some(vec![1]);
        let e = plan(&r).unwrap_err().to_string();
        assert!(
            e.contains("fused plan") && e.contains("one process on one core"),
            "{e}"
        );
        r.nfs[2].cores = None;
        let p = plan(&r).unwrap();
        assert!(p.placements.iter().all(|pl| pl.cores == vec![0]));
        assert_eq!(PlanKind::ChainOrder.name(), "chain-order");
        let k: PlanKind = serde_json::from_str("\"chain-order\"").unwrap();
        assert_eq!(k, PlanKind::ChainOrder);
    }

    #[test]
    fn uniprocessor_fig7a() {
        let mut r = req(PlanKind::Uniprocessor, 3, &[0, 1, 2, 3]);
        r.switch = sw(None);
        let p = plan(&r).unwrap();
        // Default: the last core, keeping core 0 for housekeeping.
        assert!(p.placements.iter().all(|pl| pl.cores == vec![3]));
        assert_eq!(p.instances.len(), 1);
        assert_eq!(p.instances[0].tasks, vec!["ovs", "r1", "r2", "r3"]);
        assert_eq!(p.reserved, vec![3]);
        assert_eq!(p.housekeeping, vec![0, 1, 2]);
        let r1 = p.placement("r1").unwrap();
        assert_eq!(
            r1.spec.as_ref().unwrap(),
            &SchedSpec::new(Policy::Batch { nice: -19 }).with_affinity(vec![3])
        );
        assert!(p.warnings.is_empty());
    }

    #[test]
    fn uniprocessor_requested_core_and_conflict() {
        let mut r = req(PlanKind::Uniprocessor, 2, &[0, 1]);
        r.nfs[1].cores = Some(vec![0]);
        let p = plan(&r).unwrap();
        assert!(p.placements.iter().all(|pl| pl.cores == vec![0]));
        r.nfs[0].cores = Some(vec![1]);
        let e = plan(&r).unwrap_err().to_string();
        assert!(e.contains("uniprocessor") && e.contains("core 0"), "{e}");
        r.nfs[0].cores = Some(vec![0, 1]);
        assert!(plan(&r).unwrap_err().to_string().contains("several cores"));
    }

    #[test]
    fn multiprocessor_fig7b() {
        let mut r = req(PlanKind::Multiprocessor, 4, &[0, 1]);
        r.switch = sw(None);
        let p = plan(&r).unwrap();
        assert_eq!(p.placement("ovs").unwrap().cores, vec![0]);
        for i in 1..=4 {
            assert_eq!(p.placement(&format!("r{i}")).unwrap().cores, vec![1]);
        }
        assert_eq!(p.instances.len(), 2);
        assert_eq!(p.instances[0].tasks, vec!["ovs"]);
        assert_eq!(p.instances[1].tasks, vec!["r1", "r2", "r3", "r4"]);
        assert!(p.housekeeping.is_empty());
        assert_eq!(p.warnings.len(), 1);
    }

    #[test]
    fn multiprocessor_generalised_per_core() {
        let mut r = req(PlanKind::Multiprocessor, 3, &[0, 1, 2, 3]);
        r.switch = sw(Some(1));
        r.nfs[0].cores = Some(vec![2]);
        r.nfs[1].cores = Some(vec![3]);
        let p = plan(&r).unwrap();
        assert_eq!(p.placement("r1").unwrap().cores, vec![2]);
        assert_eq!(p.placement("r2").unwrap().cores, vec![3]);
        assert_eq!(p.placement("r3").unwrap().cores, vec![3]); // default: last non-switch core
        assert_eq!(
            p.instances
                .iter()
                .map(|i| (i.core, i.tasks.len()))
                .collect::<Vec<_>>(),
            vec![(1, 1), (2, 1), (3, 2)]
        );
        assert_eq!(p.housekeeping, vec![0]);
        // The switch cannot share an NF's core in this plan.
        r.switch = sw(Some(2));
        assert!(
            plan(&r)
                .unwrap_err()
                .to_string()
                .contains("core of its own")
        );
        // One core is not enough for a switch plus NFs.
        let mut r = req(PlanKind::Multiprocessor, 1, &[0]);
        r.switch = sw(None);
        assert!(plan(&r).is_err());
        // Without a switch, NFs default to the last core.
        let p = plan(&req(PlanKind::Multiprocessor, 2, &[0, 1])).unwrap();
        assert_eq!(p.reserved, vec![1]);
    }

    #[test]
    fn validation_errors() {
        let mut r = req(PlanKind::Uniprocessor, 1, &[0, 1]);
        r.nfs[0].cores = Some(vec![7]);
        assert!(matches!(
            plan(&r),
            Err(Error::CoreNotOnline { core: 7, .. })
        ));
        let mut r = req(PlanKind::Uniprocessor, 1, &[0, 1]);
        r.cores = vec![1];
        r.nfs[0].cores = Some(vec![0]);
        assert!(plan(&r).unwrap_err().to_string().contains("not among"));
        let mut r = req(PlanKind::Uniprocessor, 2, &[0, 1]);
        r.nfs[1].name = "r1".into();
        assert!(plan(&r).unwrap_err().to_string().contains("duplicate"));
        r.nfs[1].name = "R 2".into();
        assert!(matches!(plan(&r), Err(Error::InvalidName(_))));
        assert!(plan(&req(PlanKind::Uniprocessor, 0, &[0, 1])).is_err());
        let mut r = req(PlanKind::Uniprocessor, 1, &[0, 1]);
        r.nf_spec = SchedSpec::new(Policy::Fifo { priority: 0 });
        assert!(matches!(plan(&r), Err(Error::PriorityOutOfRange { .. })));
        let mut r = req(PlanKind::Uniprocessor, 1, &[0, 1]);
        r.nfs[0].cores = Some(vec![]);
        assert!(matches!(plan(&r), Err(Error::NoCores(_))));
    }

    #[test]
    fn realtime_needs_a_housekeeping_core() {
        let mut r = req(PlanKind::Uniprocessor, 2, &[0, 1]);
        r.nf_spec = SchedSpec::new(Policy::Fifo { priority: 10 });
        let p = plan(&r).unwrap();
        assert_eq!(p.reserved, vec![1]);
        assert!(p.warnings.iter().any(|w| w.contains("FIFO")));
        // RT NFs spread over both cores of a 2-core host: refused.
        let mut r = req(PlanKind::Multiprocessor, 2, &[0, 1]);
        r.nf_spec = SchedSpec::new(Policy::Rr { priority: 10 });
        r.nfs[0].cores = Some(vec![0]);
        r.nfs[1].cores = Some(vec![1]);
        assert!(matches!(
            plan(&r),
            Err(Error::RealTimeOnAllCores { policy: "rr", .. })
        ));
        // A single-core host can never run RT NFs.
        let mut r = req(PlanKind::Uniprocessor, 1, &[0]);
        r.nf_spec = SchedSpec::new(Policy::Fifo { priority: 10 });
        assert!(matches!(plan(&r), Err(Error::RealTimeOnAllCores { .. })));
        // An RT switch on core 0 plus RT NFs on core 1 covers everything too.
        let mut r = req(PlanKind::Multiprocessor, 1, &[0, 1]);
        r.nf_spec = SchedSpec::new(Policy::Fifo { priority: 10 });
        r.switch = Some(SwitchRequest {
            name: "ovs".into(),
            core: None,
            spec: Some(SchedSpec::new(Policy::Fifo { priority: 20 })),
        });
        assert!(plan(&r).is_err());
    }
}
