//! The chain's scheduling as scc-sched's request: policy, slice and the Fig. 7 plan (pure).

use super::schema::{Chain, InterconnectKind, NfKind};

/// The switch's task name in scc-sched's plan.
pub const SWITCH_TASK: &str = "switch";

impl Chain {
    /// scc-sched's plan for the chain (Fig. 7) on the `online` cores, or `None` when the chain
    /// asks for no scheduling (no policy, no cores anywhere): then NFs are not pinned.
    pub fn sched_plan(
        &self,
        online: &[usize],
    ) -> Result<Option<scc_sched::Plan>, scc_sched::Error> {
        let s = &self.schedule;
        let asked = s.policy.is_some()
            || !s.cores.is_empty()
            || self.nfs.iter().any(|n| n.core.is_some())
            || self.interconnect.core.is_some();
        // Kernel NFs have no process to schedule (their forwarding runs in the sender's
        // softirq).
        if !asked || self.nfs.iter().all(|n| n.kind == NfKind::Kernel) {
            return Ok(None);
        }
        let nf_spec = s.sched_spec()?;
        let req = scc_sched::PlanRequest {
            kind: s.plan,
            nfs: self
                .nfs
                .iter()
                .filter(|n| n.kind != NfKind::Kernel)
                .map(|n| scc_sched::NfRequest {
                    name: n.name.clone(),
                    cores: n.core.map(|c| vec![c]),
                })
                .collect(),
            // A Linux bridge has no task of its own; ovs-vswitchd is scheduled like the NFs,
            // by its own instance on its core (Fig. 7b).
            switch: match self.interconnect.kind {
                InterconnectKind::B2b => None,
                kind => Some(scc_sched::SwitchRequest {
                    name: SWITCH_TASK.into(),
                    core: self.interconnect.core,
                    spec: (kind == InterconnectKind::Ovs && s.policy.is_some())
                        .then(|| nf_spec.clone()),
                }),
            },
            nf_spec,
            cores: s.cores.clone(),
            online: online.to_vec(),
        };
        scc_sched::plan(&req).map(Some)
    }
}
