//! Applying a [`DeployPlan`] to the OS and undoing it: anonymous namespaces, veth pairs and
//! bridges through netlink (`scc_io::link`), NF processes started in their namespace, pinned
//! and bound to die with the launcher. Every completed step is recorded; [`Deployment::teardown`]
//! (also run on drop) undoes exactly those steps in reverse order.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scc_io::link::Netlink;
use scc_io::netns::{NetNs, command_in_netns};

use crate::plan::{DeployPlan, Step, Undo};
use crate::sys;

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
    Switch(String),
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

/// Describes an exit status: `exited with status N` or `killed by SIGX (n)`.
pub fn describe_status(st: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (st.code(), st.signal()) {
        (Some(c), _) => format!("exited with status {c}"),
        (None, Some(s)) => format!("was killed by {}", sys::signal_name(s)),
        _ => "ended".into(),
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(scc_io::IoError) -> DeployError {
    let what = what.into();
    move |source| DeployError::Io { what, source }
}

/// A running NF process.
#[derive(Debug)]
pub struct NfChild {
    /// NF name.
    pub name: String,
    /// The process.
    pub child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    /// Exit status once it ended.
    pub status: Option<ExitStatus>,
    /// Whether we asked it to stop.
    pub stopped_by_us: bool,
}

/// What an NF left behind: its exit and output.
#[derive(Debug, Clone)]
pub struct NfOutcome {
    /// NF name.
    pub name: String,
    /// PID it had.
    pub pid: u32,
    /// Its exit status (None if it could not be reaped).
    pub status: Option<ExitStatus>,
    /// Whether it ended because we stopped it.
    pub stopped_by_us: bool,
    /// Everything it printed on stdout (its JSON counters).
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

fn reader(mut r: impl Read + Send + 'static) -> Option<JoinHandle<String>> {
    std::thread::Builder::new()
        .name("scc-nf-output".into())
        .spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
        .ok()
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

    /// Creates namespaces, bridges and links (everything but the NFs), announcing the
    /// interfaces' MACs to the bridge so it never floods.
    pub fn create_network(&mut self) -> Result<(), DeployError> {
        let steps = self.plan.steps();
        let Self {
            plan,
            ns: nss,
            done,
            log,
            ovs,
            ..
        } = self;
        for step in steps {
            match step {
                Step::CreateNs(i) => {
                    let ns = NetNs::new().map_err(io_err(format!(
                        "creating namespace `{}`",
                        plan.namespaces[i].label()
                    )))?;
                    // No IGMP reports for link-local groups (a bridge joins 224.0.0.106 and
                    // would flood reports into every NF): only the generator's frames flow.
                    let _ = ns.run(|| {
                        std::fs::write("/proc/sys/net/ipv4/igmp_link_local_mcast_reports", b"0")
                    });
                    if let Ok(ino) = ns.inode() {
                        (log)(&format!("netns {} net:[{ino}]", plan.namespaces[i].label()));
                    }
                    nss[i] = Some(ns);
                }
                Step::CreateBridge(i) => {
                    let b = plan.bridges[i].clone();
                    let ns = ns_at(nss, b.ns)?;
                    let mut nl = Netlink::open_in(ns).map_err(io_err("netlink"))?;
                    nl.create_bridge(&b.name)
                        .map_err(io_err(format!("creating bridge `{}`", b.name)))?;
                    done.push(step);
                    let _ = ns.run(|| disable_ipv6(&b.name));
                    nl.set_up(&b.name)
                        .map_err(io_err(format!("bringing `{}` up", b.name)))?;
                    (log)(&format!("bridge {}", b.name));
                    continue;
                }
                Step::CreateVeth(i) => {
                    let v = plan.veths[i].clone();
                    let a_ns = ns_at(nss, v.a.ns)?;
                    let b_ns = ns_at(nss, v.b.ns)?;
                    let mut nla = Netlink::open_in(a_ns).map_err(io_err("netlink"))?;
                    let what = format!("creating veth `{}` <-> `{}`", v.a.name, v.b.name);
                    if v.a.ns == v.b.ns {
                        nla.create_veth(&v.a.name, &v.b.name)
                            .map_err(io_err(what))?;
                    } else {
                        nla.create_veth_peer_in(&v.a.name, &v.b.name, b_ns)
                            .map_err(io_err(what))?;
                    }
                    done.push(step);
                    let mut nlb = Netlink::open_in(b_ns).map_err(io_err("netlink"))?;
                    for (nl, ns, end) in [(&mut nla, a_ns, &v.a), (&mut nlb, b_ns, &v.b)] {
                        let _ = ns.run(|| disable_ipv6(&end.name));
                        nl.set_mac(&end.name, end.mac)
                            .map_err(io_err(format!("setting the MAC of `{}`", end.name)))?;
                        if let Some(m) = &end.master {
                            nl.set_master(&end.name, m)
                                .map_err(io_err(format!("adding `{}` to `{m}`", end.name)))?;
                        }
                        nl.set_up(&end.name)
                            .map_err(io_err(format!("bringing `{}` up", end.name)))?;
                    }
                    (log)(&format!("veth {} {}", v.a.name, v.b.name));
                    continue;
                }
                Step::StartSwitch => {
                    let Some(o) = plan.ovs.clone() else { continue };
                    let ns = ns_at(nss, o.ns)?;
                    let ovs_err = DeployError::Switch;
                    let tools = crate::ovs::OvsTools::find().map_err(ovs_err)?;
                    let sw = crate::ovs::OvsSwitch::start(tools, ns, plan.switch_core)
                        .map_err(ovs_err)?;
                    let pid = sw.vswitchd_pid().unwrap_or(0);
                    *ovs = Some(sw);
                    done.push(step);
                    if let Some(sw) = ovs.as_ref() {
                        sw.add_bridge(&o.bridge, &o.ports).map_err(ovs_err)?;
                        // ovs-vsctl succeeds even when ovs-vswitchd could not make the
                        // datapath: its bridge port (a tap) is the proof that it did.
                        let exists = Netlink::open_in(ns)
                            .and_then(|mut nl| nl.link(&o.bridge))
                            .map_err(io_err("netlink"))?
                            .is_some();
                        if !exists {
                            return Err(ovs_err(format!(
                                "ovs-vswitchd did not create bridge `{}` ({})",
                                o.bridge,
                                sw.log_tail()
                            )));
                        }
                    }
                    (log)(&format!(
                        "ovs {} pid {pid} core {}",
                        o.bridge,
                        plan.switch_core.map_or("-".into(), |c| c.to_string())
                    ));
                    continue;
                }
                Step::SpawnNf(_) => continue,
            }
            done.push(step);
        }
        self.announce()
    }

    /// Sends one frame from each bridged interface so the bridge learns every port before
    /// traffic (an NF's receive port never sends, so it would otherwise be flooded to every
    /// port). The frame is addressed to the sender itself (source = destination = its MAC,
    /// local experimental EtherType 0x88b5): the bridge learns the source, finds the destination
    /// on the ingress port and drops it, so no NF ever sees it. Called after the links are up
    /// and again once the NFs are ready (in case a port was not yet forwarding).
    pub fn announce(&mut self) -> Result<(), DeployError> {
        if self.plan.announce.is_empty() {
            return Ok(());
        }
        self.wait_carrier(Duration::from_secs(5))?;
        for (ns, ifname, mac) in self.plan.announce.clone() {
            let ns = self.ns_ref(ns)?;
            let r = ns.run(|| -> scc_io::Result<()> {
                let cfg = scc_io::PortConfig::new(ifname.clone(), scc_io::Driver::Packet, 1);
                let mut port = scc_io::open_port(&cfg)?;
                let mut batch = scc_io::Batch::new(1, scc_io::DEFAULT_FRAME_SIZE)?;
                let mut frame = [0u8; 60];
                frame[..6].copy_from_slice(&mac);
                frame[6..12].copy_from_slice(&mac);
                frame[12..14].copy_from_slice(&0x88b5u16.to_be_bytes());
                batch.push(&frame)?;
                port.send_batch(&batch)?;
                Ok(())
            });
            match r {
                Ok(Ok(())) => {}
                Ok(Err(e)) | Err(e) => {
                    return Err(DeployError::Io {
                        what: format!("announcing `{ifname}` to the bridge"),
                        source: e,
                    });
                }
            }
        }
        Ok(())
    }

    /// PID of the userspace switch (`ovs-vswitchd`), if the chain has one.
    pub fn switch_pid(&self) -> Option<u32> {
        self.ovs
            .as_ref()
            .and_then(crate::ovs::OvsSwitch::vswitchd_pid)
    }

    /// Waits until every interface of the plan has carrier (`IFF_LOWER_UP`).
    fn wait_carrier(&mut self, timeout: Duration) -> Result<(), DeployError> {
        let start = Instant::now();
        for (id, names) in self.plan.interfaces() {
            let ns = self.ns_ref(id)?;
            let mut nl = Netlink::open_in(ns).map_err(io_err("netlink"))?;
            for name in names {
                loop {
                    let l = nl
                        .link(&name)
                        .map_err(io_err(format!("reading `{name}`")))?;
                    if l.is_some_and(|l| l.lower_up) {
                        break;
                    }
                    if start.elapsed() > timeout {
                        return Err(DeployError::Io {
                            what: format!("waiting for carrier on `{name}`"),
                            source: scc_io::IoError::Netlink(format!(
                                "no carrier after {} s",
                                timeout.as_secs()
                            )),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        }
        Ok(())
    }

    /// Starts every NF in its namespace (pinned, in its own process group, dying with us).
    pub fn spawn_nfs(&mut self) -> Result<(), DeployError> {
        for i in 0..self.plan.nfs.len() {
            let p = self.plan.nfs[i].clone();
            let ns = self.ns_ref(p.ns)?;
            if p.kind == crate::chain::NfKind::Kernel {
                // No process: the namespace forwards (crate::kernel_nf).
                crate::kernel_nf::configure(ns, &p)?;
                self.done.push(Step::SpawnNf(i));
                (self.log)(&format!(
                    "nf {} kernel ip_forward, {} route(s)",
                    p.name,
                    p.routes.len()
                ));
                continue;
            }
            // `exe` is `scc` itself (`scc nf router ...`) unless an NF executable with the
            // scc-nf contract was given (`scc-nf router ...`).
            let (prog, argv) = match &self.nf_exe {
                Some(nf) => (nf, &p.argv[1..]),
                None => (&self.exe, &p.argv[..]),
            };
            let mut cmd = Command::new(prog);
            cmd.args(argv)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .env_remove("SCC_INNER");
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            command_in_netns(&mut cmd, ns);
            sys::child_setup(&mut cmd, libc::SIGKILL, p.core);
            let mut child = cmd.spawn().map_err(|source| DeployError::Spawn {
                name: p.name.clone(),
                source,
            })?;
            self.done.push(Step::SpawnNf(i));
            (self.log)(&format!(
                "nf {} pid {} core {}",
                p.name,
                child.id(),
                p.core.map_or("-".into(), |c| c.to_string())
            ));
            let stdout = child.stdout.take().and_then(reader);
            let stderr = child.stderr.take().and_then(reader);
            self.nfs[i] = Some(NfChild {
                name: p.name.clone(),
                child,
                stdout,
                stderr,
                status: None,
                stopped_by_us: false,
            });
        }
        Ok(())
    }

    /// Waits until every NF has a packet socket bound to its receive interface
    /// (`/proc/PID/net/packet`), or fails when one exits or `timeout` passes.
    /// Returns early (Ok) when `stop` is set.
    pub fn wait_ready(
        &mut self,
        timeout: Duration,
        stop: &std::sync::atomic::AtomicBool,
    ) -> Result<(), DeployError> {
        let mut want = Vec::new();
        for (i, p) in self.plan.nfs.iter().enumerate() {
            let ns = self.ns_ref(p.ns)?;
            let idx = Netlink::open_in(ns)
                .and_then(|mut nl| nl.index(&p.rx))
                .map_err(io_err(format!("looking up `{}`", p.rx)))?;
            want.push((i, idx));
        }
        let start = Instant::now();
        loop {
            self.check_alive()?;
            if stop.load(std::sync::atomic::Ordering::Relaxed) {
                return Ok(());
            }
            let mut all = true;
            for &(i, idx) in &want {
                let Some(c) = &self.nfs[i] else { continue };
                if !packet_socket_on(c.child.id(), idx) {
                    all = false;
                    if start.elapsed() > timeout {
                        return Err(DeployError::NotReady {
                            name: c.name.clone(),
                            pid: c.child.id(),
                            ifname: self.plan.nfs[i].rx.clone(),
                            secs: timeout.as_secs(),
                        });
                    }
                }
            }
            if all {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Fails with [`DeployError::NfExited`] when an NF has ended without being asked to.
    pub fn check_alive(&mut self) -> Result<(), DeployError> {
        for i in 0..self.nfs.len() {
            let Some(c) = &mut self.nfs[i] else { continue };
            if c.stopped_by_us {
                continue;
            }
            if let Ok(Some(st)) = c.child.try_wait() {
                c.status = Some(st);
                let pid = c.child.id();
                let name = c.name.clone();
                let out = self.reap(i);
                return Err(DeployError::NfExited {
                    name,
                    pid,
                    status: describe_status(&st),
                    stderr: out.map(|o| o.stderr).unwrap_or_default(),
                });
            }
        }
        Ok(())
    }

    /// Collects NF `i`'s output once it has ended, keeping it for [`Deployment::outcomes`].
    fn reap(&mut self, i: usize) -> Option<NfOutcome> {
        let mut c = self.nfs[i].take()?;
        let status = match c.status {
            Some(s) => Some(s),
            None => c.child.wait().ok(),
        };
        let stdout = c
            .stdout
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let stderr = c
            .stderr
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default();
        let out = NfOutcome {
            name: c.name.clone(),
            pid: c.child.id(),
            status,
            stopped_by_us: c.stopped_by_us,
            stdout,
            stderr,
        };
        self.outcomes[i] = Some(out.clone());
        Some(out)
    }

    /// Stops every NF: SIGTERM to all, then waits (SIGKILL after [`STOP_GRACE`]).
    pub fn stop_nfs(&mut self) {
        self.collect_kernel_nfs();
        for c in self.nfs.iter_mut().flatten() {
            if c.status.is_none() {
                if let Ok(Some(st)) = c.child.try_wait() {
                    c.status = Some(st);
                    continue;
                }
                c.stopped_by_us = true;
                let _ = sys::signal(c.child.id(), libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_GRACE;
        for i in 0..self.nfs.len() {
            let Some(c) = &mut self.nfs[i] else { continue };
            while c.status.is_none() {
                match c.child.try_wait() {
                    Ok(Some(st)) => c.status = Some(st),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Ok(None) => {
                        let _ = c.child.kill();
                        c.status = c.child.wait().ok();
                        break;
                    }
                    Err(_) => break,
                }
            }
            let pid = c.child.id();
            let name = c.name.clone();
            if let Some(o) = self.reap(i) {
                (self.log)(&format!(
                    "nf {name} pid {pid} {}",
                    o.status
                        .as_ref()
                        .map_or("not reaped".into(), describe_status)
                ));
            }
        }
    }

    /// Kernel NFs (no process): their namespace's IP counters, read once, before teardown.
    fn collect_kernel_nfs(&mut self) {
        for i in 0..self.plan.nfs.len() {
            let p = &self.plan.nfs[i];
            if p.kind != crate::chain::NfKind::Kernel
                || self.outcomes[i].is_some()
                || !self.done.contains(&Step::SpawnNf(i))
            {
                continue;
            }
            let Some(ns) = self.netns(p.ns) else { continue };
            let stdout = crate::kernel_nf::read_counters(ns);
            self.outcomes[i] = Some(NfOutcome {
                name: p.name.clone(),
                pid: 0,
                status: None,
                stopped_by_us: true,
                stdout,
                stderr: String::new(),
            });
        }
    }

    /// What every NF left (after [`Deployment::stop_nfs`]), in chain order.
    pub fn outcomes(&self) -> Vec<NfOutcome> {
        self.outcomes.iter().flatten().cloned().collect()
    }

    /// Undoes every completed step in reverse order (idempotent; also run on drop).
    pub fn teardown(&mut self) {
        if self.torn_down {
            return;
        }
        self.torn_down = true;
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

/// Writes `1` to `/proc/sys/net/ipv6/conf/IF/disable_ipv6` (best effort) so the kernel sends
/// no router solicitations or DAD frames into the chain. Call on a thread inside the namespace.
fn disable_ipv6(ifname: &str) -> std::io::Result<()> {
    std::fs::write(
        format!("/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6"),
        b"1",
    )
}

/// True when process `pid`'s namespace has a packet socket bound to interface index `idx`
/// (`/proc/PID/net/packet`: `sk RefCnt Type Proto Iface R Rmem User Inode`).
fn packet_socket_on(pid: u32, idx: u32) -> bool {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/packet")) else {
        return false;
    };
    let inodes = socket_inodes(pid);
    text.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() >= 9
            && f[4].parse::<u32>().ok() == Some(idx)
            && f[8].parse::<u64>().is_ok_and(|ino| inodes.contains(&ino))
    })
}

/// Inodes of the sockets process `pid` holds (`/proc/PID/fd/* -> socket:[N]`).
fn socket_inodes(pid: u32) -> Vec<u64> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse()
                .ok()
        })
        .collect()
}

/// NF counters as printed by `scc nf` on SIGTERM, reduced to the contract's fields.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct NfCounters {
    /// Frames received.
    pub rx: Option<u64>,
    /// Frames sent.
    pub tx: Option<u64>,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Network-I/O system calls.
    pub syscalls: Option<u64>,
}
