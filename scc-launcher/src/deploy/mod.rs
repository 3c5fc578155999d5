//! Applying a [`DeployPlan`] to the OS and undoing it: anonymous namespaces, veth pairs and
//! bridges through netlink (`scc_io::link`), NF processes started in their namespace, pinned
//! and bound to die with the launcher. Every completed step is recorded; [`Deployment::teardown`]
//! (also run on drop) undoes exactly those steps in reverse order.
//!
//! - `network`: namespaces, bridges, veths, the switch, announcing MACs, carrier;
//! - `nfs`: starting, watching, stopping and reaping the NF processes;
//! - `ready`: each NF's status channel (`scc-nf --status-fd`): readiness and counters;
//! - this module: the deployment's state, errors and the teardown.

mod hosts;
mod network;
mod nfs;
mod ready;

use std::path::PathBuf;
use std::time::Duration;

use scc_io::link::Netlink;
use scc_io::netns::NetNs;

use crate::plan::{DeployPlan, Step, Undo};

pub use hosts::{HOST_STOP_GRACE, HostChild, HostOutcome};
pub use nfs::{NfChild, NfOutcome};
pub use ready::NfStatus;

/// Errors of deployment.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// A namespace, link or socket operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: scc_io::IoError,
    },
    /// The userspace switch (Open vSwitch) could not be started or configured.
    #[error("Open vSwitch: {0}")]
    Switch(#[from] crate::ovs::OvsError),
    /// An NF could not be started.
    #[error("starting NF `{name}`: {source}")]
    Spawn {
        /// NF name.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An NF exited while it should have been running.
    #[error("NF `{name}` (pid {pid}) {status}{}", stderr_tail(.stderr))]
    NfExited {
        /// NF name.
        name: String,
        /// Its PID.
        pid: u32,
        /// How it ended (`exited with status 2`, `killed by SIGKILL (9)`).
        status: String,
        /// The end of its stderr.
        stderr: String,
    },
    /// A process could not be started in a host's namespace (`traffic.kind = "hosts"`).
    #[error("starting {what} in the {side} host: {source}")]
    HostSpawn {
        /// What (label and command line).
        what: String,
        /// `src` or `dst`.
        side: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An NF did not open its receive socket in time.
    #[error("NF `{name}` (pid {pid}) did not open its socket on `{ifname}` within {secs} s")]
    NotReady {
        /// NF name.
        name: String,
        /// Its PID.
        pid: u32,
        /// The interface.
        ifname: String,
        /// The timeout.
        secs: u64,
    },
}

fn stderr_tail(s: &str) -> String {
    let t = s.trim();
    if t.is_empty() {
        String::new()
    } else {
        let lines: Vec<&str> = t.lines().collect();
        let from = lines.len().saturating_sub(5);
        format!("; its stderr: {}", lines[from..].join(" | "))
    }
}

pub use crate::proc::describe_status;

fn io_err(what: impl Into<String>) -> impl FnOnce(scc_io::IoError) -> DeployError {
    let what = what.into();
    move |source| DeployError::Io { what, source }
}

/// Event printed by a verbose deployment (stable, for tests and humans): one line each.
pub type Log = Box<dyn FnMut(&str) + Send>;

/// A chain deployed (or partly deployed) on this host.
pub struct Deployment {
    /// The plan.
    pub plan: DeployPlan,
    ns: Vec<Option<NetNs>>,
    done: Vec<Step>,
    nfs: Vec<Option<NfChild>>,
    outcomes: Vec<Option<NfOutcome>>,
    exe: PathBuf,
    nf_exe: Option<PathBuf>,
    ovs: Option<crate::ovs::OvsSwitch>,
    /// Chain order: one hand-off file per shared core (removed at teardown).
    handoffs: Vec<(usize, scc_sched::handoff::Handoff)>,
    /// Processes started in the hosts' namespaces (`traffic.kind = "hosts"`).
    host_procs: Vec<Option<HostChild>>,
    log: Log,
    torn_down: bool,
}

impl std::fmt::Debug for Deployment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deployment")
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

/// How long an NF gets to exit after SIGTERM before SIGKILL.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

impl Deployment {
    /// An empty deployment of `plan`; `exe` is the `scc` executable that runs `scc nf ...`.
    pub fn new(plan: DeployPlan, exe: PathBuf, log: Log) -> Self {
        let n = plan.nfs.len();
        let nns = plan.namespaces.len();
        Self {
            plan,
            ns: (0..nns).map(|_| None).collect(),
            done: Vec::new(),
            nfs: (0..n).map(|_| None).collect(),
            outcomes: vec![None; n],
            exe,
            nf_exe: None,
            ovs: None,
            handoffs: Vec::new(),
            host_procs: Vec::new(),
            log,
            torn_down: false,
        }
    }

    /// Runs the NFs with `exe` (a binary with the `scc-nf` command-line contract:
    /// `EXE router --rx IF ...`) instead of `scc nf ...`.
    pub fn set_nf_exe(&mut self, exe: Option<PathBuf>) {
        self.nf_exe = exe;
    }

    /// The namespace `id` (once created).
    pub fn netns(&self, id: usize) -> Option<&NetNs> {
        self.ns.get(id).and_then(|n| n.as_ref())
    }

    /// PIDs of the running NFs, in chain order (name, pid).
    pub fn pids(&self) -> Vec<(String, u32)> {
        self.nfs
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), c.child.id()))
            .collect()
    }

    /// Writes one line to the deployment's log.
    pub fn log(&mut self, line: &str) {
        (self.log)(line);
    }

    /// Steps completed so far.
    pub fn done(&self) -> &[Step] {
        &self.done
    }

    fn ns_ref(&self, id: usize) -> Result<&NetNs, DeployError> {
        ns_at(&self.ns, id)
    }

    /// Undoes every completed step in reverse order (idempotent; also run on drop).
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
        self.stop_host_procs();
        self.stop_nfs();
        for undo in DeployPlan::teardown(&self.done) {
            match undo {
                Undo::StopNf(_) => {}
                Undo::DeleteVeth(i) => {
                    let v = &self.plan.veths[i];
                    if let Some(ns) = self.netns(v.a.ns)
                        && let Ok(mut nl) = Netlink::open_in(ns)
                        && let Ok(Some(_)) = nl.link(&v.a.name)
                    {
                        let _ = nl.delete(&v.a.name);
                    }
                }
                Undo::StopSwitch => {
                    if let Some(mut sw) = self.ovs.take() {
                        sw.stop();
                    }
                }
                Undo::DeleteBridge(i) => {
                    let b = &self.plan.bridges[i];
                    if let Some(ns) = self.netns(b.ns)
                        && let Ok(mut nl) = Netlink::open_in(ns)
                    {
                        let _ = nl.delete(&b.name);
                    }
                }
                Undo::DropNs(i) => {
                    self.ns[i] = None;
                }
            }
        }
        for (_, h) in self.handoffs.drain(..) {
            let _ = std::fs::remove_file(h.path());
        }
        self.done.clear();
        (self.log)("teardown complete");
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn ns_at(ns: &[Option<NetNs>], id: usize) -> Result<&NetNs, DeployError> {
    ns.get(id)
        .and_then(|n| n.as_ref())
        .ok_or_else(|| DeployError::Io {
            what: format!("namespace {id}"),
            source: scc_io::IoError::Netlink("namespace not created".into()),
        })
}

/// NF counters as `scc nf` reports them: scc-nf's own record (one definition).
pub use scc_nf::nf::NfCounters;
