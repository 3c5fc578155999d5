//! Per-NF cgroups for `env = "netns"` NFs (the container-like case): plain groups in the cgroup2
//! hierarchy, removed when dropped (after the NFs have ended).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a per-NF group may stay busy (EBUSY) after its NF exited before removal fails.
const REMOVE_BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// A chain's cgroup with one child per NF.
#[derive(Debug)]
pub struct NfCgroups {
    root: PathBuf,
    children: Vec<PathBuf>,
}

impl NfCgroups {
    /// Creates `<mount>/<name>/<nf>` for every `(nf, pid)` and moves each PID into its group.
    /// On error, whatever was created is removed.
    pub fn create(mount: &Path, name: &str, members: &[(String, u32)]) -> io::Result<NfCgroups> {
        let root = mount.join(name);
        std::fs::create_dir(&root)?;
        let mut me = NfCgroups {
            root,
            children: Vec::new(),
        };
        for (nf, pid) in members {
            let dir = me.root.join(nf);
            std::fs::create_dir(&dir)?;
            me.children.push(dir.clone());
            std::fs::write(dir.join("cgroup.procs"), pid.to_string()).map_err(|e| {
                io::Error::new(
                    e.kind(),
                    format!("moving pid {pid} to {}: {e}", dir.display()),
                )
            })?;
        }
        Ok(me)
    }

    /// The NFs' groups, in the order given.
    pub fn paths(&self) -> &[PathBuf] {
        &self.children
    }

    /// Moves any process still inside back to the hierarchy's root and removes the groups
    /// (retrying briefly: a process that just exited may still be attached).
    pub fn remove(&mut self) -> io::Result<()> {
        let mount = self.root.parent().map(Path::to_path_buf);
        let mut first_err = None;
        for dir in self
            .children
            .drain(..)
            .rev()
            .chain(std::iter::once(self.root.clone()))
        {
            if !dir.exists() {
                continue;
            }
            if let (Some(m), Ok(procs)) =
                (&mount, std::fs::read_to_string(dir.join("cgroup.procs")))
            {
                for pid in procs.split_whitespace() {
                    let _ = std::fs::write(m.join("cgroup.procs"), pid);
                }
            }
            if let Err(e) = scc_sched::remove_cgroup_dir(&dir, REMOVE_BUSY_TIMEOUT) {
                first_err.get_or_insert(io::Error::other(e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for NfCgroups {
    fn drop(&mut self) {
        let _ = self.remove();
    }
}

/// The PID in a cgroup name made by scc: `scc-<chain>-<pid>-nfs` (the per-NF groups of
/// [`NfCgroups`]) or `scc-<name>-<pid>-<n>` (scc-sched's reservations).
pub fn owner_pid(dir_name: &str) -> Option<u32> {
    let rest = dir_name.strip_prefix("scc-")?;
    let mut parts = rest.rsplit('-');
    let last = parts.next()?;
    let pid = parts.next()?;
    parts.next()?; // a name must precede
    (last == "nfs" || last.parse::<u32>().is_ok())
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes cgroups left by an `scc` that could not tear down (killed with SIGKILL): directories
/// named `scc-*-<pid>-nfs` or `scc-*-<pid>-<n>` under the cgroup2 mount and the v1 cpuset root whose `<pid>` no
/// longer runs. Only empty groups are removed (children first); a stale group that still holds
/// tasks is reported, never touched. Returns one message per group found.
pub fn remove_stale(roots: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(dir) = std::fs::read_dir(root) else {
            continue;
        };
        for e in dir.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = owner_pid(&name) else {
                continue;
            };
            if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            let path = e.path();
            match remove_tree_if_empty(&path) {
                Ok(()) => out.push(format!("removed stale cgroup {}", path.display())),
                Err(why) => out.push(format!(
                    "stale cgroup {} (from dead scc pid {pid}) kept: {why}",
                    path.display()
                )),
            }
        }
    }
    out
}

fn remove_tree_if_empty(dir: &Path) -> Result<(), String> {
    let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
    if !procs.trim().is_empty() {
        return Err("it still holds tasks".into());
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_tree_if_empty(&e.path())?;
            }
        }
    }
    std::fs::remove_dir(dir).map_err(|e| e.to_string())
}
