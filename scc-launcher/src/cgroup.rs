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
/// [`NfCgroups`]), `scc-<name>-<pid>-<n>` (scc-sched's reservations) or
/// `scc-<name>-<pid>-<n>-others` (the group a reservation with `isolate` moves the host's
/// other tasks into).
pub fn owner_pid(dir_name: &str) -> Option<u32> {
    let name = dir_name
        .strip_suffix(scc_sched::OTHERS_SUFFIX)
        .filter(|n| !n.ends_with("-nfs"))
        .unwrap_or(dir_name);
    let rest = name.strip_prefix("scc-")?;
    let mut parts = rest.rsplit('-');
    let last = parts.next()?;
    let pid = parts.next()?;
    parts.next()?; // a name must precede
    let others = name.len() != dir_name.len();
    (last == "nfs" && !others || last.parse::<u32>().is_ok())
        .then(|| pid.parse().ok())
        .flatten()
}

/// Removes cgroups left by an `scc` that could not tear down (killed with SIGKILL): directories
/// named `scc-*-<pid>-nfs` or `scc-*-<pid>-<n>` under the cgroup2 mount and the v1 cpuset root
/// whose `<pid>` no longer runs. Only empty groups are removed (children first); a stale group
/// that still holds tasks is reported, never touched - except the `scc-*-<pid>-<n>-others`
/// group of an `isolate` reservation, which holds the host's other tasks: those are moved back
/// to the folder it lives in (where the reservation took them from), then it is removed, so no
/// host task stays confined. Returns one message per group found.
pub fn remove_stale(roots: &[PathBuf]) -> Vec<String> {
    let mut out = Vec::new();
    for root in roots {
        let Ok(dir) = std::fs::read_dir(root) else {
            continue;
        };
        let mut stale: Vec<(PathBuf, u32)> = dir
            .flatten()
            .filter_map(|e| {
                let pid = owner_pid(&e.file_name().to_string_lossy())?;
                (pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists())
                    .then(|| (e.path(), pid))
            })
            .collect();
        // The isolated host tasks first: they go back before anything else is looked at.
        stale.sort_by_key(|(p, _)| !p.to_string_lossy().ends_with(scc_sched::OTHERS_SUFFIX));
        for (path, pid) in stale {
            if path.to_string_lossy().ends_with(scc_sched::OTHERS_SUFFIX) {
                let (moved, left) = move_tasks(&path, root);
                if moved > 0 {
                    out.push(format!(
                        "moved {moved} task(s) confined by dead scc pid {pid} from {} back to {}",
                        path.display(),
                        root.display()
                    ));
                }
                if left > 0 {
                    out.push(format!(
                        "stale cgroup {} (from dead scc pid {pid}) kept: {left} task(s) could not \
                         be moved back",
                        path.display()
                    ));
                    continue;
                }
            }
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

/// Moves every process of cgroup `from` into `to` (`cgroup.procs`): `(moved, left)`. A process
/// that exits meanwhile (ESRCH) counts as neither.
fn move_tasks(from: &Path, to: &Path) -> (usize, usize) {
    let procs = std::fs::read_to_string(from.join("cgroup.procs")).unwrap_or_default();
    let (mut moved, mut left) = (0, 0);
    for pid in procs.split_whitespace() {
        match std::fs::write(to.join("cgroup.procs"), pid) {
            Ok(()) => moved += 1,
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            Err(_) => left += 1,
        }
    }
    (moved, left)
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
