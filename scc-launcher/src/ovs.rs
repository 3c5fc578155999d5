//! Open vSwitch's userspace datapath as the chain's switch (`interconnect.kind = "ovs"`): a
//! private `ovsdb-server` and an `ovs-vswitchd` inside the switch namespace, both children of
//! the launcher (foreground, dying with it), a `datapath_type=netdev` bridge whose ports are the
//! switch-side veth ends. Needs no kernel module (../shared/FACTS.md). Every name passed to the
//! OVS tools is one the plan derived and validated (`[a-z0-9-]` NF names), never raw file text.
//!
//! Every OVS program (`ovsdb-tool`, `ovsdb-server`, `ovs-vswitchd`, `ovs-vsctl`) runs inside
//! the switch's namespace. Their database, sockets and logs live in a private folder
//! `scc-ovs-<pid>-XXXXXX` (random, mode 0700, made by `mkdtemp`) holding a marker file
//! ([`MARKER`]) with the owner's PID; the stale-folder sweep removes only folders of this shape
//! that this user owns, with the marker, whose PID no longer runs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scc_io::netns::{NetNs, command_in_netns};

use crate::sys;

/// Errors of starting and configuring the private Open vSwitch.
#[derive(Debug, thiserror::Error)]
pub enum OvsError {
    /// A program or the schema is not installed.
    #[error("{0}")]
    NotFound(String),
    /// A system call or program start failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A daemon ended, did not start in time, or an OVS tool failed (with its output and the
    /// daemons' log tail).
    #[error("{0}")]
    Failed(String),
}

/// Where the OVS programs are.
#[derive(Debug, Clone)]
pub struct OvsTools {
    /// `ovs-vswitchd`.
    pub vswitchd: PathBuf,
    /// `ovsdb-server`.
    pub ovsdb_server: PathBuf,
    /// `ovsdb-tool`.
    pub ovsdb_tool: PathBuf,
    /// `ovs-vsctl`.
    pub vsctl: PathBuf,
    /// `vswitch.ovsschema`.
    pub schema: PathBuf,
}

fn find(prog: &str) -> Option<PathBuf> {
    crate::proc::find_in_path(prog).or_else(|| {
        [
            "/usr/sbin",
            "/usr/local/sbin",
            "/sbin",
            "/usr/bin",
            "/usr/local/bin",
        ]
        .iter()
        .map(|d| Path::new(d).join(prog))
        .find(|p| p.is_file())
    })
}

impl OvsTools {
    /// Finds the programs (in `PATH` and the usual `sbin` folders) and the schema.
    pub fn find() -> Result<OvsTools, OvsError> {
        let need = |p: &str| {
            find(p).ok_or_else(|| {
                OvsError::NotFound(format!(
                    "`{p}` not found (install Open vSwitch, e.g. apt install openvswitch-switch)"
                ))
            })
        };
        let schema = [
            "/usr/share/openvswitch/vswitch.ovsschema",
            "/usr/local/share/openvswitch/vswitch.ovsschema",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            OvsError::NotFound("vswitch.ovsschema not found in /usr/share/openvswitch".into())
        })?;
        Ok(OvsTools {
            vswitchd: need("ovs-vswitchd")?,
            ovsdb_server: need("ovsdb-server")?,
            ovsdb_tool: need("ovsdb-tool")?,
            vsctl: need("ovs-vsctl")?,
            schema,
        })
    }
}

/// The marker file in a private OVS folder: it holds the PID of the `scc` that made the folder.
pub const MARKER: &str = "scc-ovs.owner";

/// A running private Open vSwitch.
#[derive(Debug)]
pub struct OvsSwitch {
    tools: OvsTools,
    ns: NetNs,
    dir: PathBuf,
    db: Option<Child>,
    vswitchd: Option<Child>,
}

fn err(what: &str, source: std::io::Error) -> OvsError {
    OvsError::Io {
        what: what.to_string(),
        source,
    }
}

impl OvsSwitch {
    /// Starts `ovsdb-server` (in a private folder) and `ovs-vswitchd` inside `ns`, pinned to
    /// `core`. On error, whatever was started is stopped.
    pub fn start(tools: OvsTools, ns: &NetNs, core: Option<usize>) -> Result<OvsSwitch, OvsError> {
        let ns = ns
            .try_clone()
            .map_err(|e| err("duplicating the switch namespace", std::io::Error::other(e)))?;
        let prefix = std::env::temp_dir().join(format!("scc-ovs-{}-", std::process::id()));
        let dir = sys::mkdtemp(&prefix)
            .map_err(|e| err(&format!("creating {}XXXXXX", prefix.display()), e))?;
        let mut me = OvsSwitch {
            tools,
            ns,
            dir,
            db: None,
            vswitchd: None,
        };
        std::fs::write(me.dir.join(MARKER), std::process::id().to_string())
            .map_err(|e| err("writing the OVS folder's marker", e))?;
        let db = me.dir.join("conf.db");
        let st = me
            .command(&me.tools.ovsdb_tool.clone())
            .arg("create")
            .arg(&db)
            .arg(&me.tools.schema)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| err("ovsdb-tool", e))?;
        if !st.status.success() {
            return Err(OvsError::Failed(format!(
                "ovsdb-tool create: {}",
                String::from_utf8_lossy(&st.stderr).trim()
            )));
        }
        let sock = me.dir.join("db.sock");
        let mut cmd = me.command(&me.tools.ovsdb_server.clone());
        cmd.arg(&db)
            .arg(format!("--remote=punix:{}", sock.display()))
            .arg(format!("--unixctl={}", me.dir.join("db.ctl").display()))
            .arg("--no-chdir")
            .arg(format!(
                "--log-file={}",
                me.dir.join("ovsdb-server.log").display()
            ))
            .arg(format!(
                "--pidfile={}",
                me.dir.join("ovsdb-server.pid").display()
            ));
        sys::child_setup(&mut cmd, libc::SIGKILL, core);
        me.db = Some(cmd.spawn().map_err(|e| err("starting ovsdb-server", e))?);
        me.wait_for(&sock, "ovsdb-server")?;
        me.vsctl(&["--no-wait", "init"])?;
        let mut cmd = me.command(&me.tools.vswitchd.clone());
        cmd.arg(format!("unix:{}", sock.display()))
            .arg(format!("--unixctl={}", me.dir.join("vs.ctl").display()))
            .arg("--no-chdir")
            .arg(format!(
                "--log-file={}",
                me.dir.join("ovs-vswitchd.log").display()
            ))
            .arg(format!(
                "--pidfile={}",
                me.dir.join("ovs-vswitchd.pid").display()
            ));
        sys::child_setup(&mut cmd, libc::SIGKILL, core);
        me.vswitchd = Some(cmd.spawn().map_err(|e| err("starting ovs-vswitchd", e))?);
        me.wait_for(&me.dir.join("vs.ctl"), "ovs-vswitchd")?;
        Ok(me)
    }

    /// A command for an OVS program: inside the switch's namespace, with the private folder as
    /// every OVS directory.
    fn command(&self, prog: &Path) -> Command {
        let mut c = Command::new(prog);
        command_in_netns(&mut c, &self.ns);
        c.env("OVS_RUNDIR", &self.dir)
            .env("OVS_DBDIR", &self.dir)
            .env("OVS_LOGDIR", &self.dir)
            .env("OVS_SYSCONFDIR", &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut c, 0);
        c
    }

    fn wait_for(&mut self, path: &Path, who: &str) -> Result<(), OvsError> {
        let start = Instant::now();
        while !path.exists() {
            let mut ended = None;
            for c in [&mut self.db, &mut self.vswitchd].into_iter().flatten() {
                if let Ok(Some(st)) = c.try_wait() {
                    ended = Some(st);
                }
            }
            if let Some(st) = ended {
                return Err(OvsError::Failed(format!(
                    "{who} {} (log: {})",
                    crate::proc::describe_status(&st),
                    self.log_tail()
                )));
            }
            if start.elapsed() > Duration::from_secs(10) {
                return Err(OvsError::Failed(format!(
                    "{who} did not start within 10 s ({})",
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// The last lines of the daemons' logs (for error messages).
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        for f in ["ovsdb-server.log", "ovs-vswitchd.log"] {
            if let Ok(t) = std::fs::read_to_string(self.dir.join(f)) {
                let lines: Vec<&str> = t.lines().collect();
                let from = lines.len().saturating_sub(3);
                out.push_str(&lines[from..].join(" | "));
            }
        }
        out
    }

    /// Runs `ovs-vsctl` against the private database (waiting for ovs-vswitchd to apply).
    pub fn vsctl(&self, args: &[&str]) -> Result<(), OvsError> {
        let out = self
            .command(&self.tools.vsctl)
            .arg(format!("--db=unix:{}", self.dir.join("db.sock").display()))
            .arg("--timeout=10")
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| err("ovs-vsctl", e))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(OvsError::Failed(format!(
                "ovs-vsctl {}: {} ({})",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim(),
                self.log_tail()
            )))
        }
    }

    /// Adds a userspace (`netdev`) bridge with `ports`.
    pub fn add_bridge(&self, name: &str, ports: &[String]) -> Result<(), OvsError> {
        self.vsctl(&[
            "add-br",
            name,
            "--",
            "set",
            "bridge",
            name,
            "datapath_type=netdev",
        ])?;
        for p in ports {
            self.vsctl(&["add-port", name, p])?;
        }
        Ok(())
    }

    /// The PID of `ovsdb-server`.
    pub fn ovsdb_pid(&self) -> Option<u32> {
        self.db.as_ref().map(Child::id)
    }

    /// The private folder (database, sockets, logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The PID of `ovs-vswitchd` (the switch task for the scheduler and the profiler).
    pub fn vswitchd_pid(&self) -> Option<u32> {
        self.vswitchd.as_ref().map(Child::id)
    }

    /// Stops both daemons (SIGTERM, SIGKILL after 3 s) and removes the private folder.
    pub fn stop(&mut self) {
        for c in [self.vswitchd.take(), self.db.take()].into_iter().flatten() {
            let mut c = c;
            let _ = sys::signal(c.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            loop {
                match c.try_wait() {
                    Ok(Some(_)) | Err(_) => break,
                    Ok(None) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Ok(None) => {
                        let _ = c.kill();
                        let _ = c.wait();
                        break;
                    }
                }
            }
        }
        if std::env::var_os("SCC_OVS_KEEP").is_some() {
            eprintln!(
                "scc: kept the Open vSwitch folder {} (SCC_OVS_KEEP)",
                self.dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for OvsSwitch {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Removes private Open vSwitch folders left by an `scc` that was killed with SIGKILL (its
/// daemons died with it, `PR_SET_PDEATHSIG`): [`remove_stale_dirs_in`] the temp folder.
pub fn remove_stale_dirs() -> Vec<String> {
    remove_stale_dirs_in(&std::env::temp_dir())
}

/// Removes the folders in `parent` that a dead `scc` made for its Open vSwitch, and nothing
/// else: a folder (not a symbolic link) named `scc-ovs-<pid>-*`, owned by this user, holding a
/// [`MARKER`] file (owned by this user) that names the same `<pid>`, which no longer runs.
/// Returns one message per folder removed.
pub fn remove_stale_dirs_in(parent: &Path) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("scc-ovs-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        let path = e.path();
        if pid == std::process::id()
            || Path::new(&format!("/proc/{pid}")).exists()
            || !made_by_scc(&path, pid)
        {
            continue;
        }
        if std::fs::remove_dir_all(&path).is_ok() {
            out.push(format!(
                "removed stale Open vSwitch folder {}",
                path.display()
            ));
        }
    }
    out
}

/// Whether `dir` is a private OVS folder this user's `scc` with PID `pid` made.
fn made_by_scc(dir: &Path, pid: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let me = sys::euid();
    let ours = |p: &Path, want_dir: bool| {
        std::fs::symlink_metadata(p).is_ok_and(|m| {
            m.uid() == me
                && if want_dir {
                    m.file_type().is_dir()
                } else {
                    m.file_type().is_file()
                }
        })
    };
    let marker = dir.join(MARKER);
    ours(dir, true)
        && ours(&marker, false)
        && std::fs::read_to_string(&marker).is_ok_and(|t| t.trim() == pid.to_string())
}
