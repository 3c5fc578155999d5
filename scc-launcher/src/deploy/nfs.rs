//! The NF processes: started in their namespace (pinned, in their own process group, dying
//! with the launcher, reporting on a status pipe), watched, stopped and reaped.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scc_io::netns::command_in_netns;

use super::ready::{NfStatus, status_reader};
use super::{DeployError, Deployment, NfCounters, STOP_GRACE, describe_status};
use crate::fusion::OrderSlot;
use crate::plan::Step;
use crate::sys;
use scc_sched::handoff::Handoff;

/// A running NF process.
#[derive(Debug)]
pub struct NfChild {
    /// NF name.
    pub name: String,
    /// The process.
    pub child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    status_reader: Option<JoinHandle<()>>,
    /// What it reported on its status channel so far.
    pub live: Arc<Mutex<NfStatus>>,
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
    /// Its final counters from its status channel (`None` if it sent none).
    pub counters: Option<NfCounters>,
    /// Everything it printed on stdout (its JSON counters, for users).
    pub stdout: String,
    /// Everything it printed on stderr.
    pub stderr: String,
}

pub(super) fn reader(mut r: impl Read + Send + 'static) -> Option<JoinHandle<String>> {
    std::thread::Builder::new()
        .name("scc-nf-output".into())
        .spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
        .ok()
}

impl Deployment {
    /// Starts every NF in its namespace (pinned, in its own process group, dying with us),
    /// named `scc-nf:<name>` (its `argv[0]`, and `--name`, from which it sets its
    /// `/proc/PID/comm`), and, when the launcher may drop capabilities (root, or root of a
    /// user namespace), with only those of [`crate::plan::NfProc::caps`] and
    /// `PR_SET_NO_NEW_PRIVS`.
    pub fn spawn_nfs(&mut self) -> Result<(), DeployError> {
        let limit_caps = crate::privilege::can_limit_capabilities();
        for i in 0..self.plan.nfs.len() {
            let p = self.plan.nfs[i].clone();
            let handoff = match p.order {
                Some(slot) => Some((self.handoff_file(slot)?, slot.index)),
                None => None,
            };
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
            // The status channel: the NF writes `ready`, counters and the final counters, one
            // JSON line each, to the pipe's writing end, which only it inherits.
            let (status_rx, status_tx) = sys::pipe().map_err(|source| DeployError::Spawn {
                name: p.name.clone(),
                source,
            })?;
            let status_fd = status_tx.as_raw_fd();
            let mut cmd = Command::new(prog);
            std::os::unix::process::CommandExt::arg0(
                &mut cmd,
                scc_nf::title::process_name(&p.name),
            );
            cmd.args(argv).arg("--name").arg(&p.name);
            if let Some((file, index)) = &handoff {
                cmd.arg("--handoff")
                    .arg(file)
                    .args(["--handoff-index", &index.to_string()]);
            }
            cmd.arg("--status-fd")
                .arg(status_fd.to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
            command_in_netns(&mut cmd, ns);
            sys::child_setup(&mut cmd, libc::SIGKILL, p.core);
            sys::inherit_fd(&mut cmd, status_fd);
            if limit_caps {
                // Last: entering the namespace above needs CAP_SYS_ADMIN.
                sys::limit_capabilities(&mut cmd, p.caps);
            }
            let spawned = cmd.spawn();
            // Our copy of the writing end closes now: the reader sees EOF when the NF ends.
            drop(status_tx);
            let mut child = spawned.map_err(|source| DeployError::Spawn {
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
            let live = Arc::new(Mutex::new(NfStatus::default()));
            let status_reader = status_reader(status_rx, Arc::clone(&live));
            self.nfs[i] = Some(NfChild {
                name: p.name.clone(),
                child,
                stdout,
                stderr,
                status_reader,
                live,
                status: None,
                stopped_by_us: false,
            });
        }
        Ok(())
    }

    /// The hand-off file of the chain-order ring on `slot.core`, created (token with the first
    /// NF) before its first NF starts.
    fn handoff_file(&mut self, slot: OrderSlot) -> Result<std::path::PathBuf, DeployError> {
        if let Some((_, h)) = self.handoffs.iter().find(|(c, _)| *c == slot.core) {
            return Ok(h.path().to_path_buf());
        }
        let path = std::env::temp_dir().join(format!(
            "scc-handoff-{}-core{}",
            std::process::id(),
            slot.core
        ));
        let h = Handoff::create(&path, slot.members).map_err(|e| DeployError::Io {
            what: format!("chain-order hand-off for core {}", slot.core),
            source: scc_io::IoError::Netlink(e.to_string()),
        })?;
        (self.log)(&format!(
            "chain order on core {}: {} NFs, hand-off {}",
            slot.core,
            slot.members,
            path.display()
        ));
        self.handoffs.push((slot.core, h));
        Ok(path)
    }

    /// For a chain-order NF that gave up on a stalled hand-off: which NF held the core (by name,
    /// from its ring's file), to add to the report.
    fn stall_note(&self, i: usize) -> Option<String> {
        let slot = self.plan.nfs.get(i)?.order?;
        let (_, h) = self.handoffs.iter().find(|(c, _)| *c == slot.core)?;
        let holder = h.holder();
        let name = self
            .plan
            .nfs
            .iter()
            .find(|p| {
                p.order
                    .is_some_and(|o| o.core == slot.core && o.index == holder)
            })?
            .name
            .clone();
        Some(format!(
            "the chain-order hand-off on core {} stalled at NF `{name}`{} (it held the core without progress)",
            slot.core,
            h.pid(holder)
                .map(|p| format!(" (pid {p})"))
                .unwrap_or_default()
        ))
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
                let note = self.stall_note(i);
                let out = self.reap(i);
                let mut stderr = out.map(|o| o.stderr).unwrap_or_default();
                if let Some(n) = note
                    && stderr.contains("hand-off stalled")
                {
                    stderr.push_str(&format!("\n{n}"));
                }
                return Err(DeployError::NfExited {
                    name,
                    pid,
                    status: describe_status(&st),
                    stderr,
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
        if let Some(h) = c.status_reader.take() {
            let _ = h.join();
        }
        let counters = c.live.lock().map_or(None, |l| l.final_counters.clone());
        let out = NfOutcome {
            name: c.name.clone(),
            pid: c.child.id(),
            status,
            stopped_by_us: c.stopped_by_us,
            counters,
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
            let counters = crate::kernel_nf::read_counters(ns, &p.name);
            self.outcomes[i] = Some(NfOutcome {
                name: p.name.clone(),
                pid: 0,
                status: None,
                stopped_by_us: true,
                stdout: counters
                    .as_ref()
                    .and_then(|c| serde_json::to_string(c).ok())
                    .unwrap_or_default(),
                counters,
                stderr: String::new(),
            });
        }
    }

    /// What every NF left (after [`Deployment::stop_nfs`]), in chain order.
    pub fn outcomes(&self) -> Vec<NfOutcome> {
        self.outcomes.iter().flatten().cloned().collect()
    }
}
