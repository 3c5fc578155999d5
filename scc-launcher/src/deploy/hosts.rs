//! The two hosts of a `traffic.kind = "hosts"` chain: their kernel stacks configured in their
//! namespaces (address, default route via the chain, offloads off, a permanent neighbour entry
//! when no NF answers their ARP), and the processes run there (server, client, ping), each in
//! a process group of its own, dying with the launcher, stopped at teardown at the latest.

use std::os::fd::AsRawFd;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scc_io::link::{Netlink, set_offloads};
use scc_io::netns::command_in_netns;

use super::{DeployError, Deployment, describe_status, io_err, ns_at};
use crate::sys;

/// How long a host process gets to end after SIGTERM (to its group) before SIGKILL.
pub const HOST_STOP_GRACE: Duration = Duration::from_secs(2);

/// A process the launcher started in a host's namespace.
#[derive(Debug)]
pub struct HostChild {
    label: String,
    side: &'static str,
    argv: Vec<String>,
    child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
    status: Option<ExitStatus>,
    stopped_by_us: bool,
}

/// What a host process left: how it ended and what it printed.
#[derive(Debug, Clone, Default)]
pub struct HostOutcome {
    /// `server`, `client`, `ping`.
    pub label: String,
    /// `src` or `dst`: the host it ran in.
    pub side: String,
    /// Its command line.
    pub argv: Vec<String>,
    /// Its PID.
    pub pid: u32,
    /// Its exit status (`None` if it could not be reaped).
    pub status: Option<ExitStatus>,
    /// Whether the launcher stopped it (run over, or SIGINT/SIGTERM).
    pub stopped_by_us: bool,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

impl HostOutcome {
    /// `exited with status N` / `was killed by SIGX (n)` / `not reaped`.
    pub fn exit(&self) -> String {
        self.status
            .as_ref()
            .map_or("not reaped".into(), describe_status)
    }
}

impl Deployment {
    /// Configures both hosts' kernel stacks (nothing without hosts): `lo` and the interface up
    /// with its address, offloads off (the frames cross AF_PACKET sockets: no TCP super-frames,
    /// no partial checksums), the default route via the gateway, and a permanent neighbour
    /// entry for the gateway when the NF at that end does not answer ARP.
    pub(super) fn configure_hosts(&mut self) -> Result<(), DeployError> {
        let Some(hosts) = self.plan.hosts.clone() else {
            return Ok(());
        };
        for h in hosts.ends() {
            let ns = ns_at(&self.ns, h.ns)?;
            let mut nl = Netlink::open_in(ns).map_err(io_err("netlink"))?;
            let what = |w: &str| format!("{} host: {w} on `{}`", h.side, h.ifname);
            nl.set_up("lo").map_err(io_err(what("bringing lo up")))?;
            nl.add_ipv4(&h.ifname, h.addr.ip, h.addr.prefix_len)
                .map_err(io_err(what("adding its address")))?;
            ns.run(|| set_offloads(&h.ifname, false))
                .and_then(|r| r)
                .map_err(io_err(what("turning offloads off")))?;
            if h.static_gw {
                nl.add_neighbour_v4(&h.ifname, h.addr.gw, h.gw_mac)
                    .map_err(io_err(what("adding the gateway's neighbour entry")))?;
            }
            nl.add_route_v4(std::net::Ipv4Addr::UNSPECIFIED, 0, h.addr.gw, &h.ifname)
                .map_err(io_err(what("adding the default route")))?;
            (self.log)(&format!(
                "host {} {} {}/{} via {} ({} {})",
                h.side,
                h.ifname,
                h.addr.ip,
                h.addr.prefix_len,
                h.addr.gw,
                crate::chain::fmt_mac(h.gw_mac),
                if h.static_gw { "static" } else { "by ARP" }
            ));
        }
        Ok(())
    }

    /// The descriptor (in this process) of host `side`'s (`src`/`dst`) namespace.
    pub fn host_ns_fd(&self, side: &str) -> Option<i32> {
        let h = self
            .plan
            .hosts
            .as_ref()?
            .ends()
            .into_iter()
            .find(|h| h.side == side)?;
        self.netns(h.ns).map(|ns| ns.as_fd().as_raw_fd())
    }

    /// Starts `argv` in host `side`'s namespace (`src`/`dst`) with `env` added, its output
    /// collected; `label` names it in logs and reports. Returns its handle for
    /// [`Deployment::host_running`] and [`Deployment::host_finish`].
    pub fn host_spawn(
        &mut self,
        side: &'static str,
        label: &str,
        argv: &[String],
        env: &[(String, String)],
    ) -> Result<usize, DeployError> {
        let spawn_err = |source| DeployError::HostSpawn {
            what: format!("{label} ({})", argv.join(" ")),
            side,
            source,
        };
        let ns = self
            .plan
            .hosts
            .as_ref()
            .and_then(|hp| hp.ends().into_iter().find(|h| h.side == side))
            .and_then(|h| self.netns(h.ns))
            .ok_or_else(|| spawn_err(std::io::Error::other("no such host namespace")))?;
        let Some(prog) = argv.first() else {
            return Err(spawn_err(std::io::Error::other("empty command")));
        };
        let mut cmd = Command::new(prog);
        cmd.args(&argv[1..])
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        command_in_netns(&mut cmd, ns);
        sys::child_setup(&mut cmd, libc::SIGKILL, None);
        let mut child = cmd.spawn().map_err(spawn_err)?;
        (self.log)(&format!("host {side} {label} pid {}", child.id()));
        let stdout = child.stdout.take().and_then(super::nfs::reader);
        let stderr = child.stderr.take().and_then(super::nfs::reader);
        self.host_procs.push(Some(HostChild {
            label: label.to_string(),
            side,
            argv: argv.to_vec(),
            child,
            stdout,
            stderr,
            status: None,
            stopped_by_us: false,
        }));
        Ok(self.host_procs.len() - 1)
    }

    /// Whether host process `id` still runs.
    pub fn host_running(&mut self, id: usize) -> bool {
        let Some(Some(c)) = self.host_procs.get_mut(id) else {
            return false;
        };
        if c.status.is_none()
            && let Ok(Some(st)) = c.child.try_wait()
        {
            c.status = Some(st);
        }
        c.status.is_none()
    }

    /// Stops host process `id` if it still runs (SIGTERM to its group, SIGKILL after
    /// [`HOST_STOP_GRACE`]) and returns what it left (`None` once taken).
    pub fn host_finish(&mut self, id: usize) -> Option<HostOutcome> {
        let mut c = self.host_procs.get_mut(id)?.take()?;
        let pid = c.child.id();
        if c.status.is_none() {
            c.status = c.child.try_wait().ok().flatten();
        }
        if c.status.is_none() {
            c.stopped_by_us = true;
            let _ = sys::signal_group(pid, libc::SIGTERM);
            let deadline = Instant::now() + HOST_STOP_GRACE;
            while c.status.is_none() {
                match c.child.try_wait() {
                    Ok(Some(st)) => c.status = Some(st),
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(5))
                    }
                    Ok(None) | Err(_) => {
                        let _ = sys::signal_group(pid, libc::SIGKILL);
                        c.status = c.child.wait().ok();
                        break;
                    }
                }
            }
        }
        // What it started in its group goes with it (e.g. `sh -c`'s children).
        let _ = sys::signal_group(pid, libc::SIGKILL);
        let join =
            |h: Option<JoinHandle<String>>| h.and_then(|h| h.join().ok()).unwrap_or_default();
        let out = HostOutcome {
            label: c.label,
            side: c.side.to_string(),
            argv: c.argv,
            pid,
            status: c.status,
            stopped_by_us: c.stopped_by_us,
            stdout: join(c.stdout.take()),
            stderr: join(c.stderr.take()),
        };
        (self.log)(&format!(
            "host {} {} pid {pid} {}{}",
            out.side,
            out.label,
            out.exit(),
            if out.stopped_by_us { " (stopped)" } else { "" }
        ));
        Some(out)
    }

    /// Stops every host process still running (teardown).
    pub(super) fn stop_host_procs(&mut self) {
        for id in 0..self.host_procs.len() {
            let _ = self.host_finish(id);
        }
    }
}
