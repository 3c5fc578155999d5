//! The chain-aware plans in the launcher (issue 12), pure: `schedule.plan = "fused"` and
//! `"chain-order"`.
//!
//! - **fused**: the chain's NFs run in one `scc nf chain` process (scc-nf's
//!   [`FusedChain`](scc_nf::chain::FusedChain)) on one core. The plan ([`fused_proc`]) keeps only
//!   the chain's two ends: `gen0 ══ <first>-rx [all NFs] <last>-tx ══ sink0` (through the switch
//!   for `bridge`/`ovs`), gives every NF its own configuration ([`member_config`], passed inline
//!   as `--nf-toml`), and puts every NF in the chain's one namespace: `env = "netns"` isolation is
//!   given up, which `scc check` says ([`plan_summary`]). The report still lists every NF with
//!   its own counters ([`expand_fused`]). NFs that cannot be fused are refused with the field
//!   named ([`fusion_problems`], [`exe_refusal`]).
//! - **chain-order**: NFs stay separate processes; those sharing a core form a hand-off ring
//!   ([`order_rings`]) and run in chain order (scc-nf `--handoff`, scc-sched's
//!   [`handoff`](scc_sched::handoff)).
//! - **bounded queues** (every plan): each NF's kernel receive queue is sized from its batch and
//!   the plan ([`default_rx_queue_frames`]) unless `io.rx_queue_frames` says otherwise.

use std::collections::BTreeMap;
use std::path::Path;

use scc_nf::chain::ChainCounters;
use scc_nf::config::{NfConfig, Preset};
use scc_nf::wire::MacAddr;

use crate::chain::{Chain, Env, FieldError, Mode, NfKind, Plan};
use crate::plan::NfProc;
use crate::report::NfReport;

/// The name of the one process of a fused chain (in the plan, the PIDs and the schedule).
pub const FUSED_PROC: &str = scc_nf::cli::FUSED_NAME;

/// The kernel receive queue of an NF, in frames, when `io.rx_queue_frames` is not given, sized
/// from its batch and the plan so that a queue in front of an overloaded chain holds a few
/// milliseconds, not the hundreds a 4 MiB socket buffer holds: at the NF that takes the chain's
/// input, four batches (eight for a fused chain, whose capacity is several times higher and
/// which has no other queue); at a later NF, two batches under chain-order (it is handed at most
/// one batch per round) and eight under the kernel's own scheduling (uniprocessor,
/// multiprocessor: the previous NF may run for a whole slice before it). Never less than what
/// those counts give for a batch of 32 (128, 256, 64, 256 frames): a small batch makes more
/// system calls, not a shorter wake-up, so its queue must cover the same time.
///
/// ```
/// use scc_launcher::chain::Plan;
/// use scc_launcher::fusion::default_rx_queue_frames;
/// assert_eq!(default_rx_queue_frames(Plan::Fused, 0, 32), 256);
/// assert_eq!(default_rx_queue_frames(Plan::ChainOrder, 0, 32), 128);
/// assert_eq!(default_rx_queue_frames(Plan::ChainOrder, 1, 32), 64);
/// assert_eq!(default_rx_queue_frames(Plan::Uniprocessor, 3, 32), 256);
/// assert_eq!(default_rx_queue_frames(Plan::Uniprocessor, 0, 1), 128);
/// assert_eq!(default_rx_queue_frames(Plan::Uniprocessor, 0, 256), 1024);
/// ```
pub fn default_rx_queue_frames(plan: Plan, position: usize, batch: usize) -> usize {
    let batches = match (plan, position) {
        (Plan::Fused, _) => 8,
        (_, 0) => 4,
        (Plan::ChainOrder, _) => 2,
        (Plan::Uniprocessor | Plan::Multiprocessor, _) => 8,
    };
    (batches * batch.max(32)).clamp(1, scc_io::MAX_RX_QUEUE_FRAMES)
}

/// The receive queue of NF `i` of `chain`: `io.rx_queue_frames` (chain or NF), else the default;
/// `None` (the socket's own 4 MiB buffer) between real hosts (`[traffic] kind = "hosts"`),
/// whose TCP keeps its own queue in check and bursts a window at a time: a queue of a few
/// batches would drop thousands of full-size frames of a transfer.
pub fn rx_queue_frames(chain: &Chain, i: usize) -> Option<usize> {
    let io = chain.nf_io(i);
    let hosts = chain
        .traffic
        .as_ref()
        .is_some_and(|t| t.kind == crate::chain::TrafficKind::Hosts);
    match io.rx_queue_frames {
        Some(q) => Some(q),
        None if hosts => None,
        None => Some(default_rx_queue_frames(chain.schedule.plan, i, io.batch)),
    }
}

/// What fusion refuses in a chain (pure): NF kinds that cannot run in the fused process,
/// profile mode (one process for all NFs), per-NF I/O that differs from the chain's ends. Empty
/// when the plan is not `fused`.
pub fn fusion_problems(chain: &Chain) -> Vec<FieldError> {
    let mut v = Vec::new();
    if chain.schedule.plan != Plan::Fused {
        return v;
    }
    let err = |path: String, reason: String| FieldError { path, reason };
    for (i, nf) in chain.nfs.iter().enumerate() {
        if !nf.kind.fusable() {
            v.push(err(
                format!("nf[{i}].kind"),
                format!(
                    "`{}` cannot be fused (it is not an scc-nf element graph): use \
                     schedule.plan = \"chain-order\" or \"uniprocessor\"",
                    nf.kind.name()
                ),
            ));
        }
        if i > 0 {
            for (field, set) in [
                ("driver", nf.io.driver.is_some()),
                ("batch", nf.io.batch.is_some()),
                ("poll", nf.io.poll.is_some()),
            ] {
                if set {
                    v.push(err(
                        format!("nf[{i}].io.{field}"),
                        "a fused chain has one input and one output port: its I/O is the \
                         chain's [io] (or nf[0].io); a later NF cannot have its own"
                            .into(),
                    ));
                }
            }
        }
    }
    if chain.mode == Mode::Profile {
        v.push(err(
            "mode".into(),
            "profile mode attaches the profiler to one process per NF, and a fused chain is one \
             process: use schedule.plan = \"chain-order\" or \"uniprocessor\" to profile"
                .into(),
        ));
    }
    v
}

/// The refusal of a custom NF executable (`--nf-exe`) for a fused chain: the
/// fused process is scc's own `nf chain`, which a foreign executable cannot join.
pub fn exe_refusal(chain: &Chain, nf_exe: Option<&Path>) -> Option<FieldError> {
    let exe = nf_exe?;
    (chain.schedule.plan == Plan::Fused).then(|| FieldError {
        path: "schedule.plan".into(),
        reason: format!(
            "`fused` runs every NF inside scc's own `nf chain` process; a custom NF executable \
             ({}, from --nf-exe) cannot be fused: use \"chain-order\" or \
             \"uniprocessor\"",
            exe.display()
        ),
    })
}

/// Which plan a chain uses and why, and what it gives up (for `scc check`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlanSummary {
    /// `uniprocessor` | `multiprocessor` | `chain-order` | `fused`.
    pub kind: String,
    /// What the plan does (one sentence).
    pub why: String,
    /// What is given up, said plainly (empty when nothing is).
    pub gives_up: Vec<String>,
}

/// The plan of `chain` in words.
pub fn plan_summary(chain: &Chain) -> PlanSummary {
    let n = chain.nfs.len();
    let first = chain.nfs.first().map_or("", |nf| nf.name.as_str());
    let last = chain.nfs.last().map_or("", |nf| nf.name.as_str());
    let mut gives_up = Vec::new();
    let why = match chain.schedule.plan {
        Plan::Uniprocessor => "schedule.plan = \"uniprocessor\": the NFs (and a switch) share one \
             core (paper Fig. 7a); the kernel's scheduler decides which NF runs when"
            .to_string(),
        Plan::Multiprocessor => "schedule.plan = \"multiprocessor\": the switch on a core of its \
             own, NFs on theirs, one scheduler instance per core (paper Fig. 7b)"
            .to_string(),
        Plan::ChainOrder => format!(
            "schedule.plan = \"chain-order\": the {n} NFs stay separate processes; those sharing \
             a core run in chain order, one batch each, handing the core on with a futex token \
             (the first NF sleeps in poll() while the chain is idle); an NF holding the core \
             without progress for {} s is reported as stalled and the chain is torn down",
            scc_nf::chain::order::DEFAULT_HANDOFF_TIMEOUT.as_secs()
        ),
        Plan::Fused => {
            for (i, nf) in chain.nfs.iter().enumerate() {
                if nf.env == Env::Netns {
                    gives_up.push(format!(
                        "env = \"netns\" isolation is given up under fusion: nf[{i}] (`{}`) runs \
                         in the chain's one process and namespace",
                        nf.name
                    ));
                }
            }
            gives_up.push(
                "one process for every NF: a crash of one NF stops the whole chain".to_string(),
            );
            format!(
                "schedule.plan = \"fused\": the {n} NFs run in one process (`scc nf chain`) as a \
                 run-to-completion pipeline on one core; batches pass from NF to NF in memory, \
                 only `{first}-rx` and `{last}-tx` touch the kernel; each NF keeps its own \
                 configuration, counters and drop reasons"
            )
        }
    };
    PlanSummary {
        kind: chain.schedule.plan.name().to_string(),
        why,
        gives_up,
    }
}

/// Where an NF sits in a chain-order hand-off ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSlot {
    /// The core the ring's NFs share (names the ring).
    pub core: usize,
    /// Position in the ring (chain order).
    pub index: usize,
    /// NFs in the ring.
    pub members: usize,
}

/// The chain-order rings (pure): for each NF (by index), its slot, from the plan's cores. NFs
/// alone on their core, unpinned NFs and other plans get `None`.
pub fn order_rings(plan: Plan, cores: &[Option<usize>]) -> Vec<Option<OrderSlot>> {
    if plan != Plan::ChainOrder {
        return vec![None; cores.len()];
    }
    let mut by_core: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, c) in cores.iter().enumerate() {
        if let Some(c) = c {
            by_core.entry(*c).or_default().push(i);
        }
    }
    let mut out = vec![None; cores.len()];
    for (core, nfs) in by_core {
        if nfs.len() < 2 {
            continue;
        }
        for (index, &i) in nfs.iter().enumerate() {
            out[i] = Some(OrderSlot {
                core,
                index,
                members: nfs.len(),
            });
        }
    }
    out
}

/// NF `i`'s configuration inside the fused process: its kind's preset or its `config` file
/// (relative to `base`), its routes, rules and gateway, the chain's I/O, `src_mac` (its own MAC
/// when it has no interface), the entry interface for the first NF and the exit interface for
/// the last.
pub fn member_config(
    chain: &Chain,
    i: usize,
    base: &Path,
    src_mac: [u8; 6],
    gw_mac: [u8; 6],
) -> Result<NfConfig, scc_nf::NfError> {
    let nf = &chain.nfs[i];
    let mut c = match &nf.config {
        Some(f) => NfConfig::load(&base.join(f).display().to_string())?,
        None => NfConfig::default(),
    };
    if c.element.is_empty() {
        c.preset = Some(match nf.kind {
            NfKind::Router => Preset::Router,
            NfKind::Firewall => Preset::Firewall,
            NfKind::Forward => Preset::Forward,
            NfKind::Kernel => {
                return Err(scc_nf::NfError::Config(format!(
                    "nf[{i}].kind: a kernel NF cannot be fused"
                )));
            }
        });
    }
    c.name = Some(nf.name.clone());
    let io = chain.nf_io(0);
    c.io = Some(io.driver);
    c.batch = Some(io.batch);
    c.poll = Some(io.poll);
    c.rx_queue_frames = rx_queue_frames(chain, 0);
    c.rx = (i == 0).then(|| format!("{}-rx", nf.name));
    c.tx = (i + 1 == chain.nfs.len()).then(|| format!("{}-tx", nf.name));
    c.src_mac = Some(MacAddr(src_mac));
    c.gw_mac = Some(MacAddr(gw_mac));
    c.routes.extend(nf.routes.iter().cloned());
    if let Some(f) = &nf.routes_file {
        c.routes_file = Some(base.join(f).display().to_string());
    }
    c.rules.extend(nf.rules.iter().cloned());
    if let Some(f) = &nf.rules_file {
        c.rules_file = Some(base.join(f).display().to_string());
    }
    Ok(c)
}

/// The one process of a fused chain (pure): `nf chain --nf-toml ...` with every NF's
/// [`member_config`] (its `src_mac` the MAC its `tx` interface would have, its gateway the one
/// planned for it), in the first NF's namespace and on its core, reading the first NF's `rx`
/// and writing the last NF's `tx`. `nfs` are the NFs as planned separately.
pub fn fused_proc(
    chain: &Chain,
    base: &Path,
    nfs: &[NfProc],
    tx_mac: impl Fn(usize) -> [u8; 6],
) -> Result<NfProc, scc_nf::NfError> {
    let (Some(first), Some(last)) = (nfs.first(), nfs.last()) else {
        return Err(scc_nf::NfError::Config(
            "a chain has at least one NF".into(),
        ));
    };
    let mut argv: Vec<String> = vec!["nf".into(), "chain".into()];
    for (i, p) in nfs.iter().enumerate() {
        let cfg = member_config(chain, i, base, tx_mac(i), p.gw_mac)?;
        let text =
            toml::to_string(&cfg).map_err(|e| scc_nf::NfError::Config(format!("nf[{i}]: {e}")))?;
        argv.extend(["--nf-toml".into(), text]);
    }
    Ok(NfProc {
        name: FUSED_PROC.into(),
        kind: first.kind,
        ns: first.ns,
        argv,
        core: first.core,
        rx: first.rx.clone(),
        tx: last.tx.clone(),
        gw_mac: last.gw_mac,
        // One process runs them all: it needs what any of them needs.
        caps: nfs
            .iter()
            .fold(scc_sched::CapSet::EMPTY, |all, p| all.union(p.caps)),
        order: None,
        routes: Vec::new(),
    })
}

/// scc-sched's plan for a fused chain: the first NF's placement stands for the one process
/// ([`FUSED_PROC`]); the other NFs' placements go (the switch's stays).
pub fn fuse_sched_plan(p: &mut scc_sched::Plan) {
    let mut seen = false;
    p.placements.retain_mut(|pl| {
        if pl.role != scc_sched::Role::Nf {
            return true;
        }
        if seen {
            return false;
        }
        seen = true;
        pl.name = FUSED_PROC.into();
        true
    });
    let names: Vec<&str> = p.placements.iter().map(|pl| pl.name.as_str()).collect();
    for inst in &mut p.instances {
        let mut tasks: Vec<String> = Vec::new();
        for t in &inst.tasks {
            let t = if names.contains(&t.as_str()) {
                t.clone()
            } else {
                FUSED_PROC.to_string()
            };
            if !tasks.contains(&t) {
                tasks.push(t);
            }
        }
        inst.tasks = tasks;
    }
}

/// The fused process's report expanded into one [`NfReport`] per NF of the chain (pure): from
/// the [`ChainCounters`] it printed, each NF's own counters; without them (it crashed), every NF
/// with no counters and the process's exit.
pub fn expand_fused(chain: &Chain, proc_report: &NfReport, stdout: &str) -> Vec<NfReport> {
    let counters: Option<ChainCounters> = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok());
    chain
        .nfs
        .iter()
        .enumerate()
        .map(|(k, nf)| {
            let c = counters.as_ref().and_then(|c| c.nfs.get(k));
            NfReport {
                name: nf.name.clone(),
                kind: nf.kind.name().to_string(),
                pid: proc_report.pid,
                core: proc_report.core,
                rx: c.map(|c| c.rx),
                tx: c.map(|c| c.tx),
                drops: c.map(|c| c.drops.clone()).unwrap_or_default(),
                kernel_drops: c.map(|c| c.kernel_drops),
                syscalls: c.map(|c| c.syscalls),
                exit: proc_report.exit.clone(),
                counters: c.and_then(|c| serde_json::to_value(c).ok()),
                // One process: its scheduler times are put on the first NF by the run.
                sched: None,
                io: c.map(|c| c.io.clone()),
                io_fallbacks: proc_report.io_fallbacks.clone(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(text: &str) -> Chain {
        Chain::parse(text).unwrap()
    }

    const THREE: &str = r#"
name = "t"
[schedule]
plan = "fused"
[[nf]]
name = "r1"
kind = "router"
env = "netns"
routes = ["198.18.0.0/15"]
[[nf]]
name = "r2"
kind = "router"
routes = ["198.18.0.0/15"]
[[nf]]
name = "r3"
kind = "firewall"
rules = ["allow udp", "default deny"]
"#;

    #[test]
    fn fused_summary_says_what_is_given_up() {
        let s = plan_summary(&chain(THREE));
        assert_eq!(s.kind, "fused");
        assert!(
            s.why.contains("one process") && s.why.contains("`r1-rx`") && s.why.contains("`r3-tx`")
        );
        assert!(
            s.gives_up[0].contains("env = \"netns\" isolation is given up under fusion: nf[0]")
        );
        let s = plan_summary(&chain(&THREE.replace("\"fused\"", "\"chain-order\"")));
        assert!(s.why.contains("chain order") && s.gives_up.is_empty());
    }

    #[test]
    fn fusion_refuses_what_cannot_be_fused_naming_the_field() {
        assert!(fusion_problems(&chain(THREE)).is_empty());
        let kernel =
            chain(&THREE.replace("kind = \"router\"\nroutes", "kind = \"kernel\"\nroutes"));
        let e = fusion_problems(&kernel);
        assert!(
            e.iter()
                .any(|e| e.path == "nf[1].kind" && e.reason.contains("`kernel` cannot be fused")),
            "{e:?}"
        );
        let profile = chain(&format!("mode = \"profile\"\n{THREE}"));
        let e = fusion_problems(&profile);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].path, "mode");
        let io = chain(&format!("{THREE}io = {{ batch = 8 }}\n"));
        let e = fusion_problems(&io);
        assert_eq!(e[0].path, "nf[2].io.batch", "{e:?}");
        let exe = exe_refusal(&chain(THREE), Some(Path::new("/opt/my-nf"))).unwrap();
        assert_eq!(exe.path, "schedule.plan");
        assert!(exe.reason.contains("/opt/my-nf") && exe.reason.contains("cannot be fused"));
        let other = chain(&THREE.replace("\"fused\"", "\"uniprocessor\""));
        assert!(exe_refusal(&other, Some(Path::new("/opt/my-nf"))).is_none());
        assert!(
            fusion_problems(&profile.clone())
                .iter()
                .all(|e| !e.reason.is_empty())
        );
    }

    #[test]
    fn rings_follow_the_cores_in_chain_order() {
        let r = order_rings(
            Plan::ChainOrder,
            &[Some(1), Some(1), Some(2), Some(1), None],
        );
        let slot = |core, index, members| {
            Some(OrderSlot {
                core,
                index,
                members,
            })
        };
        assert_eq!(
            r,
            vec![slot(1, 0, 3), slot(1, 1, 3), None, slot(1, 2, 3), None]
        );
        assert_eq!(
            order_rings(Plan::Uniprocessor, &[Some(1), Some(1)]),
            vec![None, None]
        );
    }

    #[test]
    fn queues_are_sized_from_batch_and_plan() {
        let c = chain(THREE);
        assert_eq!(rx_queue_frames(&c, 0), Some(256));
        let c = chain(&THREE.replace("\"fused\"", "\"uniprocessor\""));
        assert_eq!(
            (rx_queue_frames(&c, 0), rx_queue_frames(&c, 1)),
            (Some(128), Some(256))
        );
        let c = chain(&format!("{THREE}[io]\nrx_queue_frames = 10\n"));
        assert_eq!(rx_queue_frames(&c, 2), Some(10));
    }

    #[test]
    fn member_configs_round_trip_through_toml() {
        let c = chain(THREE);
        let base = Path::new("/chains");
        for i in 0..3 {
            let cfg =
                member_config(&c, i, base, [2, 0, 0, 0, 0, i as u8], [2, 0, 0, 0, 1, 0]).unwrap();
            let text = toml::to_string(&cfg).unwrap();
            let back = NfConfig::from_toml(&text, "member").unwrap();
            assert_eq!(back, cfg);
            assert_eq!(back.rx.is_some(), i == 0);
            assert_eq!(back.tx.is_some(), i == 2);
        }
        let f = member_config(&c, 2, base, [2; 6], [2; 6]).unwrap();
        assert_eq!(f.preset, Some(Preset::Firewall));
        assert_eq!(f.rules.len(), 2);
    }

    #[test]
    fn a_fused_report_lists_every_nf_with_its_own_counters() {
        let c = chain(THREE);
        let nfc = |name: &str, rx, tx| scc_nf::nf::NfCounters {
            name: name.into(),
            nf: "router".into(),
            rx,
            tx,
            ..Default::default()
        };
        let cc = ChainCounters {
            rx: 10,
            tx: 7,
            nfs: vec![nfc("r1", 10, 9), nfc("r2", 9, 8), nfc("r3", 8, 7)],
            ..Default::default()
        };
        let proc_report = NfReport {
            name: FUSED_PROC.into(),
            kind: "router".into(),
            pid: 42,
            core: Some(1),
            rx: None,
            tx: None,
            drops: BTreeMap::new(),
            kernel_drops: None,
            syscalls: None,
            exit: "exited with status 0".into(),
            counters: None,
            sched: None,
            io: None,
            io_fallbacks: Vec::new(),
        };
        let out = format!("{}\n", serde_json::to_string(&cc).unwrap());
        let r = expand_fused(&c, &proc_report, &out);
        let got: Vec<(&str, Option<u64>, Option<u64>, u32)> = r
            .iter()
            .map(|n| (n.name.as_str(), n.rx, n.tx, n.pid))
            .collect();
        assert_eq!(
            got,
            vec![
                ("r1", Some(10), Some(9), 42),
                ("r2", Some(9), Some(8), 42),
                ("r3", Some(8), Some(7), 42)
            ]
        );
        assert_eq!(r[2].kind, "firewall");
        let crashed = expand_fused(&c, &proc_report, "");
        assert!(
            crashed
                .iter()
                .all(|n| n.rx.is_none() && n.exit == proc_report.exit)
        );
    }
}
