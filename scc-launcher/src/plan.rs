//! The deployment plan (pure): from a validated [`Chain`] to the namespaces, links, interface
//! names, MACs, NF command lines, cores and the scheduling plan; and its inverse, the teardown.
//!
//! ```text
//! b2b:    [gen ns] gen0 ══ r1-rx [r1] r1-tx ══ r2-rx [r2] r2-tx ══ sink0 [sink ns]
//! bridge: [gen ns] gen0 ══ gen0b ┐                                   ┌ sink0b ══ sink0 [sink ns]
//!                                 └─ scc-br0 (switch ns) ─ r1-rxb ══ r1-rx [r1] ...
//! ```
//! `native` NFs share one namespace made for the chain; `netns` NFs get one each. The generator
//! and the sink always have their own. Nothing is ever created in the caller's namespace.

use std::collections::BTreeMap;
use std::path::Path;

use crate::chain::{Chain, Env, InterconnectKind, NfKind, Plan, Policy, fmt_mac, parse_mac};

pub use crate::chain::{IF_SUFFIXES, LONGEST_SUFFIX, SWITCH_TASK};
/// The generator's interface (in its own namespace).
pub const GEN_IF: &str = "gen0";
/// The sink's interface (in its own namespace).
pub const SINK_IF: &str = "sink0";
/// The source host's interface (`traffic.kind = "hosts"`, in its own namespace).
pub const SRC_HOST_IF: &str = "src0";
/// The destination host's interface (`traffic.kind = "hosts"`, in its own namespace).
pub const DST_HOST_IF: &str = "dst0";
/// The bridge's name (in the switch namespace).
pub const BRIDGE: &str = "scc-br0";

/// Index of a namespace in [`DeployPlan::namespaces`].
pub type NsId = usize;

/// What a namespace is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NsRole {
    /// The traffic generator's.
    Gen,
    /// The sink's.
    Sink,
    /// Shared by the chain's `native` NFs.
    Chain,
    /// One `netns` NF's (its name).
    Nf(String),
    /// The software switch's.
    Switch,
    /// The source host's (`traffic.kind = "hosts"`: a kernel stack, in place of the generator).
    SrcHost,
    /// The destination host's (in place of the sink).
    DstHost,
}

impl NsRole {
    /// A short label for messages.
    pub fn label(&self) -> String {
        match self {
            NsRole::Gen => "gen".into(),
            NsRole::Sink => "sink".into(),
            NsRole::Chain => "chain".into(),
            NsRole::Nf(n) => format!("nf:{n}"),
            NsRole::Switch => "switch".into(),
            NsRole::SrcHost => "src-host".into(),
            NsRole::DstHost => "dst-host".into(),
        }
    }
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfEnd {
    /// Namespace.
    pub ns: NsId,
    /// Interface name (<= 15 bytes).
    pub name: String,
    /// Its MAC (locally administered, deterministic).
    pub mac: [u8; 6],
    /// Bridge to enslave it to, if any.
    pub master: Option<String>,
}

/// A veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Veth {
    /// Created in `a.ns`.
    pub a: IfEnd,
    /// The peer, moved to `b.ns`.
    pub b: IfEnd,
}

/// A Linux bridge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bridge {
    /// Namespace.
    pub ns: NsId,
    /// Name.
    pub name: String,
}

/// An Open vSwitch userspace bridge in the switch namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OvsPlan {
    /// Namespace of `ovs-vswitchd`.
    pub ns: NsId,
    /// Bridge name.
    pub bridge: String,
    /// Its ports (the switch-side veth ends), in order.
    pub ports: Vec<String>,
}

/// One NF process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NfProc {
    /// NF name.
    pub name: String,
    /// Kind.
    pub kind: NfKind,
    /// Namespace it runs in.
    pub ns: NsId,
    /// Arguments after the `scc` executable (`nf <kind> --rx ...`).
    pub argv: Vec<String>,
    /// Core it is pinned to.
    pub core: Option<usize>,
    /// Receive interface.
    pub rx: String,
    /// Transmit interface.
    pub tx: String,
    /// The next hop's MAC written by the NF.
    pub gw_mac: [u8; 6],
    /// The only capabilities the NF process keeps when the launcher can drop the others
    /// ([`crate::privilege::nf_capabilities`] of its I/O backend).
    pub caps: scc_sched::CapSet,
    /// Chain order: its place in its core's hand-off ring (the launcher adds `--handoff`).
    pub order: Option<crate::fusion::OrderSlot>,
    /// `kind = "kernel"`: the routes the namespace gets (no process, empty `argv`).
    pub routes: Vec<String>,
}

/// The generator or the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Namespace.
    pub ns: NsId,
    /// Interface.
    pub ifname: String,
    /// Its own MAC.
    pub mac: [u8; 6],
    /// The MAC it talks to (gen: the first NF's rx; sink: the last NF's tx).
    pub peer_mac: [u8; 6],
}

/// Who runs on which core (paper Fig. 7): a process label per core, and scc-sched's plan
/// (`None` when the chain asks for no scheduling at all: no policy, no cores).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SchedPlan {
    /// scc-sched's validated plan (placements, one scheduler instance per core).
    pub plan: Option<scc_sched::Plan>,
    /// Policy applied to the NFs (`None`: kernel default).
    pub policy: Option<Policy>,
    /// Core -> NF names (and `switch`) placed there.
    pub per_core: BTreeMap<usize, Vec<String>>,
    /// NFs not pinned.
    pub unpinned: Vec<String>,
    /// The plan kind.
    pub kind: Plan,
}

/// One deployment step, in order. [`DeployPlan::undo`] gives each step's inverse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Create an anonymous namespace.
    CreateNs(NsId),
    /// Create a bridge and bring it up.
    CreateBridge(usize),
    /// Create a veth pair, set MACs, masters, and bring both ends up.
    CreateVeth(usize),
    /// Start the userspace switch (Open vSwitch) and add its ports.
    StartSwitch,
    /// Start NF `i`.
    SpawnNf(usize),
}

/// The inverse of a [`Step`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Stop NF `i` (SIGTERM, wait, SIGKILL after a grace period).
    StopNf(usize),
    /// Delete the veth (one end removes both).
    DeleteVeth(usize),
    /// Delete the bridge.
    DeleteBridge(usize),
    /// Stop the userspace switch.
    StopSwitch,
    /// Close the namespace's fd (an anonymous namespace then disappears).
    DropNs(NsId),
}

/// Everything to deploy one chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeployPlan {
    /// Namespaces (all anonymous).
    pub namespaces: Vec<NsRole>,
    /// Bridges.
    pub bridges: Vec<Bridge>,
    /// The Open vSwitch bridge (`interconnect.kind = "ovs"`).
    pub ovs: Option<OvsPlan>,
    /// Veth pairs.
    pub veths: Vec<Veth>,
    /// NF processes in chain order.
    pub nfs: Vec<NfProc>,
    /// Traffic generator.
    pub gen_end: Endpoint,
    /// Traffic sink.
    pub sink: Endpoint,
    /// Interfaces that must announce their MAC to the bridge before traffic (ns, ifname, mac).
    pub announce: Vec<(NsId, String, [u8; 6])>,
    /// Scheduling plan.
    pub sched: SchedPlan,
    /// The switch's core (bridge/ovs).
    pub switch_core: Option<usize>,
    /// `traffic.kind = "hosts"`: the two hosts in place of the generator and the sink (their
    /// namespaces and interfaces are `gen_end`'s and `sink`'s).
    pub hosts: Option<crate::traffic::hosts::HostsPlan>,
}

/// Errors of planning (the chain should have been validated).
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// A value the validation should have caught.
    #[error("{0}")]
    Invalid(String),
    /// The scheduling plan is contradictory (scc-sched's reason).
    #[error("schedule: {0}")]
    Sched(#[from] scc_sched::Error),
}

/// The chain's scheduling policy as scc-sched's spec (`other` nice 0 when none is given).
pub fn sched_spec(chain: &Chain) -> Result<scc_sched::SchedSpec, PlanError> {
    Ok(chain.schedule.sched_spec()?)
}

/// scc-sched's plan for the chain (Fig. 7), or `None` when the chain asks for no scheduling
/// (no policy, no cores anywhere): then NFs are not pinned. See [`Chain::sched_plan`].
pub fn sched_plan(chain: &Chain, online: &[usize]) -> Result<Option<scc_sched::Plan>, PlanError> {
    Ok(chain.sched_plan(online)?)
}

/// 16-bit FNV-1a fold of the chain name, placed in every MAC so two chains differ.
fn name_hash(s: &str) -> [u8; 2] {
    let mut h: u32 = 0x811c_9dc5;
    for b in s.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let f = (h >> 16) ^ (h & 0xffff);
    [(f >> 8) as u8, f as u8]
}

/// The deterministic, locally administered MAC of endpoint `who` (0 gen, 1..=n NFs, 255 sink),
/// port `port` (0 rx, 1 tx; +0x10 for the switch side).
pub fn mac_for(chain: &str, who: u8, port: u8) -> [u8; 6] {
    let h = name_hash(chain);
    [0x02, 0xcc, h[0], h[1], who, port]
}

impl DeployPlan {
    /// Plans `chain` (validated) for a host whose online cores are `online`. `base` is the
    /// chain file's folder, for relative file fields.
    pub fn new(chain: &Chain, base: &Path, online: &[usize]) -> Result<DeployPlan, PlanError> {
        if chain.nfs.is_empty() || chain.nfs.len() > 250 {
            return Err(PlanError::Invalid("a chain has 1..=250 NFs".to_string()));
        }
        let ovs = chain.interconnect.kind == InterconnectKind::Ovs;
        let bridge = chain.interconnect.kind == InterconnectKind::Bridge || ovs;
        // A fused chain is one process in one namespace with only the chain's two ends.
        let fused = chain.schedule.plan == Plan::Fused;
        let env_of = |nf: &crate::chain::NfSpec| if fused { Env::Native } else { nf.env };
        let hosts = chain.hosts();
        let mut namespaces = if hosts {
            vec![NsRole::SrcHost, NsRole::DstHost]
        } else {
            vec![NsRole::Gen, NsRole::Sink]
        };
        // Real hosts' interfaces are named for what they are.
        let (gen_if, sink_if) = if hosts {
            (SRC_HOST_IF, DST_HOST_IF)
        } else {
            (GEN_IF, SINK_IF)
        };
        let chain_ns = chain.nfs.iter().any(|n| env_of(n) == Env::Native).then(|| {
            namespaces.push(NsRole::Chain);
            namespaces.len() - 1
        });
        let mut nf_ns = Vec::new();
        for nf in &chain.nfs {
            nf_ns.push(match env_of(nf) {
                Env::Native => chain_ns.unwrap_or(0),
                Env::Netns => {
                    namespaces.push(NsRole::Nf(nf.name.clone()));
                    namespaces.len() - 1
                }
            });
        }
        let switch_ns = bridge.then(|| {
            namespaces.push(NsRole::Switch);
            namespaces.len() - 1
        });
        let (gen_ns, sink_ns) = (0, 1);
        let n = chain.nfs.len();
        let nm = &chain.name;
        let gen_mac = mac_for(nm, 0, 1);
        let sink_mac = mac_for(nm, 255, 0);
        let rx_mac = |i: usize| mac_for(nm, (i + 1) as u8, 0);
        let tx_mac = |i: usize| mac_for(nm, (i + 1) as u8, 1);
        let rx_if = |i: usize| format!("{}-rx", chain.nfs[i].name);
        let tx_if = |i: usize| format!("{}-tx", chain.nfs[i].name);

        let mut veths = Vec::new();
        let mut bridges = Vec::new();
        let mut announce = Vec::new();
        let end = |ns, name: String, mac, master: Option<String>| IfEnd {
            ns,
            name,
            mac,
            master,
        };
        let mut ovs_plan = None;
        if let Some(sw) = switch_ns {
            // A Linux bridge enslaves its ports; OVS adds them itself once it runs.
            let br = if ovs {
                ovs_plan = Some(OvsPlan {
                    ns: sw,
                    bridge: BRIDGE.into(),
                    ports: Vec::new(),
                });
                None
            } else {
                bridges.push(Bridge {
                    ns: sw,
                    name: BRIDGE.into(),
                });
                Some(BRIDGE.to_string())
            };
            // Each endpoint's interface gets a veth to the bridge; the switch side ends in `b`.
            let mut add = |ns, name: String, mac: [u8; 6], who: u8, port: u8| {
                veths.push(Veth {
                    a: end(ns, name.clone(), mac, None),
                    b: end(
                        sw,
                        format!("{name}b"),
                        mac_for(nm, who, port | 0x10),
                        br.clone(),
                    ),
                });
                announce.push((ns, name, mac));
            };
            add(gen_ns, gen_if.into(), gen_mac, 0, 1);
            for (i, &ns) in nf_ns.iter().enumerate() {
                if !fused || i == 0 {
                    add(ns, rx_if(i), rx_mac(i), (i + 1) as u8, 0);
                }
                if !fused || i + 1 == n {
                    add(ns, tx_if(i), tx_mac(i), (i + 1) as u8, 1);
                }
            }
            add(sink_ns, sink_if.into(), sink_mac, 255, 0);
            if let Some(o) = ovs_plan.as_mut() {
                o.ports = veths.iter().map(|v| v.b.name.clone()).collect();
            }
        } else {
            veths.push(Veth {
                a: end(gen_ns, gen_if.into(), gen_mac, None),
                b: end(nf_ns[0], rx_if(0), rx_mac(0), None),
            });
            for i in 0..n {
                if fused && i + 1 < n {
                    continue;
                }
                let (bns, bname, bmac) = if i + 1 < n {
                    (nf_ns[i + 1], rx_if(i + 1), rx_mac(i + 1))
                } else {
                    (sink_ns, sink_if.to_string(), sink_mac)
                };
                veths.push(Veth {
                    a: end(nf_ns[i], tx_if(i), tx_mac(i), None),
                    b: end(bns, bname, bmac, None),
                });
            }
        }
        for v in &veths {
            for e in [&v.a, &v.b] {
                if e.name.len() > crate::chain::MAX_IFNAME {
                    return Err(PlanError::Invalid(format!(
                        "interface name `{}` is longer than 15 bytes",
                        e.name
                    )));
                }
            }
        }

        let mut sched_plan = sched_plan(chain, online)?;
        let nf_core = |i: usize| -> Option<usize> {
            match &sched_plan {
                Some(p) => p
                    .placement(&chain.nfs[i].name)
                    .and_then(|pl| pl.cores.first().copied()),
                None => chain.nf_core(i),
            }
        };
        let mut nfs = Vec::new();
        for (i, nf) in chain.nfs.iter().enumerate() {
            let gw_mac = match &nf.gw_mac {
                Some(m) => parse_mac(m).map_err(PlanError::Invalid)?,
                None if i + 1 < n => rx_mac(i + 1),
                None => sink_mac,
            };
            let io = chain.nf_io(i);
            // A custom element composition runs as `run --config FILE` (scc-nf's CLI).
            let sub = if nf.config.is_some() {
                "run"
            } else {
                nf.kind.name()
            };
            let mut argv: Vec<String> = vec![
                "nf".into(),
                sub.into(),
                "--rx".into(),
                rx_if(i),
                "--tx".into(),
                tx_if(i),
                "--io".into(),
                io.driver.name().into(),
                "--batch".into(),
                io.batch.to_string(),
                "--poll".into(),
                io.poll.name().into(),
                "--gw-mac".into(),
                fmt_mac(gw_mac),
            ];
            for r in &nf.routes {
                argv.push("--route".into());
                argv.push(r.clone());
            }
            if let Some(f) = &nf.routes_file {
                argv.push("--routes".into());
                argv.push(base.join(f).display().to_string());
            }
            if let Some(f) = &nf.rules_file {
                argv.push("--rules".into());
                argv.push(base.join(f).display().to_string());
            }
            for r in &nf.rules {
                argv.push("--rule".into());
                argv.push(r.clone());
            }
            if let Some(f) = &nf.config {
                argv.push("--config".into());
                argv.push(base.join(f).display().to_string());
            }
            if let Some(q) = crate::fusion::rx_queue_frames(chain, i) {
                argv.extend(["--rx-queue-frames".into(), q.to_string()]);
            }
            if nf.kind == NfKind::Kernel {
                argv.clear();
            }
            nfs.push(NfProc {
                name: nf.name.clone(),
                kind: nf.kind,
                ns: nf_ns[i],
                routes: nf.routes.clone(),
                argv,
                // No process to pin: the kernel forwards in the sender's softirq.
                core: (nf.kind != NfKind::Kernel).then(|| nf_core(i)).flatten(),
                rx: rx_if(i),
                tx: tx_if(i),
                gw_mac,
                caps: if nf.kind == NfKind::Kernel {
                    scc_sched::CapSet::EMPTY // no process
                } else {
                    let reads_files =
                        nf.routes_file.is_some() || nf.rules_file.is_some() || nf.config.is_some();
                    crate::privilege::nf_capabilities_reading(io.driver, reads_files)
                },
                order: None,
            });
        }
        // A kernel NF has no process to take turns: it is in no hand-off ring.
        let rings = crate::fusion::order_rings(
            chain.schedule.plan,
            &nfs.iter()
                .map(|p| p.core.filter(|_| p.kind != NfKind::Kernel))
                .collect::<Vec<_>>(),
        );
        for (p, slot) in nfs.iter_mut().zip(rings) {
            p.order = slot;
        }
        if fused {
            nfs = vec![
                crate::fusion::fused_proc(chain, base, &nfs, tx_mac)
                    .map_err(|e| PlanError::Invalid(e.to_string()))?,
            ];
            if let Some(p) = sched_plan.as_mut() {
                crate::fusion::fuse_sched_plan(p);
            }
        }

        let s = &chain.schedule;
        let switch_core = match &sched_plan {
            Some(p) if bridge => p
                .placement(SWITCH_TASK)
                .and_then(|pl| pl.cores.first().copied()),
            _ => None,
        };
        let mut sched = SchedPlan {
            policy: s.policy,
            kind: s.plan,
            ..Default::default()
        };
        match &sched_plan {
            Some(p) => {
                for inst in &p.instances {
                    sched.per_core.insert(inst.core, inst.tasks.clone());
                }
            }
            None => sched.unpinned = nfs.iter().map(|p| p.name.clone()).collect(),
        }
        sched.plan = sched_plan;

        let mut plan = DeployPlan {
            namespaces,
            bridges,
            ovs: ovs_plan,
            veths,
            nfs,
            gen_end: Endpoint {
                ns: gen_ns,
                ifname: gen_if.into(),
                mac: gen_mac,
                peer_mac: rx_mac(0),
            },
            sink: Endpoint {
                ns: sink_ns,
                ifname: sink_if.into(),
                mac: sink_mac,
                peer_mac: tx_mac(n - 1),
            },
            announce,
            sched,
            switch_core,
            hosts: None,
        };
        if hosts {
            crate::traffic::hosts::plan_hosts(chain, &mut plan)?;
        }
        Ok(plan)
    }

    /// The deployment steps in order.
    pub fn steps(&self) -> Vec<Step> {
        let mut v: Vec<Step> = (0..self.namespaces.len()).map(Step::CreateNs).collect();
        v.extend((0..self.bridges.len()).map(Step::CreateBridge));
        v.extend((0..self.veths.len()).map(Step::CreateVeth));
        if self.ovs.is_some() {
            v.push(Step::StartSwitch);
        }
        v.extend((0..self.nfs.len()).map(Step::SpawnNf));
        v
    }

    /// The inverse of one step.
    pub fn undo(step: &Step) -> Undo {
        match *step {
            Step::CreateNs(i) => Undo::DropNs(i),
            Step::CreateBridge(i) => Undo::DeleteBridge(i),
            Step::CreateVeth(i) => Undo::DeleteVeth(i),
            Step::StartSwitch => Undo::StopSwitch,
            Step::SpawnNf(i) => Undo::StopNf(i),
        }
    }

    /// Teardown for the steps that were done: their inverses in reverse order.
    pub fn teardown(done: &[Step]) -> Vec<Undo> {
        done.iter().rev().map(Self::undo).collect()
    }

    /// Every interface name per namespace (for checks and messages).
    pub fn interfaces(&self) -> BTreeMap<NsId, Vec<String>> {
        let mut m: BTreeMap<NsId, Vec<String>> = BTreeMap::new();
        for b in &self.bridges {
            m.entry(b.ns).or_default().push(b.name.clone());
        }

        for v in &self.veths {
            m.entry(v.a.ns).or_default().push(v.a.name.clone());
            m.entry(v.b.ns).or_default().push(v.b.name.clone());
        }
        m
    }

    /// A readable description (for `scc check`).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for (id, role) in self.namespaces.iter().enumerate() {
            let mut ifs = self.interfaces().remove(&id).unwrap_or_default();
            if let Some(o) = self.ovs.as_ref().filter(|o| o.ns == id) {
                ifs.insert(0, format!("{} (ovs-vswitchd)", o.bridge));
            }
            s.push_str(&format!("  netns {:<10} {}\n", role.label(), ifs.join(" ")));
        }
        if let Some(p) = &self.sched.plan {
            for inst in &p.instances {
                s.push_str(&format!(
                    "  core {:<3} scheduler instance: {}\n",
                    inst.core,
                    inst.tasks.join(", ")
                ));
            }
        }
        for p in &self.nfs {
            let what = if p.kind == NfKind::Kernel {
                format!("kernel ip_forward, routes {}", p.routes.join(" "))
            } else {
                // A fused chain's NF files are inline TOML: show one name per NF instead.
                let argv: Vec<String> = p
                    .argv
                    .iter()
                    .map(|a| match scc_nf::config::NfConfig::from_toml(a, "") {
                        Ok(c) if a.contains('\n') => format!("<{}>", c.name.unwrap_or_default()),
                        _ => a.clone(),
                    })
                    .collect();
                format!("scc {}", argv.join(" "))
            };
            let turn = p.order.map_or(String::new(), |o| {
                format!(
                    " (chain order: turn {}/{} on core {})",
                    o.index + 1,
                    o.members,
                    o.core
                )
            });
            s.push_str(&format!(
                "  nf {:<8} core {:<4} {what}{turn}\n",
                p.name,
                p.core.map_or("-".into(), |c| c.to_string()),
            ));
        }
        s
    }
}
