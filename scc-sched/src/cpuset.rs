//! Core reservation through a cpuset cgroup (cgroup2 when it offers cpuset, else cgroup v1).
//!
//! [`CoreReservation::create`] makes `<parent>/scc-<name>-<pid>-<n>` with the chain's cores
//! (exclusive by default: `cpuset.cpu_exclusive` on v1, `cpuset.cpus.partition = root` on v2),
//! moves the given processes in and keeps each thread's own pinning (a cpuset attach resets
//! affinity; we re-apply it, narrowed to the reserved cores). Only when
//! [`ReservationOptions::isolate_others`] is set are the other tasks of the parent cgroup moved to
//! a sibling `...-others` cpuset holding the remaining cores (what `cset shield` does).
//! [`CoreReservation::release`] (or drop) moves everything back, restores affinities and removes
//! the cgroups.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::caps::CgroupLayout;
use crate::cpus::{check_cores_online, format_cpu_list, parse_cpu_list, threads};
use crate::error::{Error, Result};
use crate::sys;

/// Which cgroup version a hierarchy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CgroupVersion {
    /// Legacy hierarchy with the cpuset controller (`cpuset.cpus`, `cpuset.cpu_exclusive`, `tasks`).
    V1,
    /// Unified hierarchy (`cpuset.cpus`, `cpuset.cpus.partition`, `cgroup.subtree_control`).
    V2,
}

/// What to reserve and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationOptions {
    /// A short name ([a-z0-9_-], 1-32 chars); the cgroup is `scc-<name>-<our pid>-<n>`.
    pub name: String,
    /// The reserved cores.
    pub cores: Vec<usize>,
    /// Processes to move in at creation (more with [`CoreReservation::add_pid`]).
    #[serde(default)]
    pub pids: Vec<i32>,
    /// Make the cpuset exclusive (v1 `cpu_exclusive`, v2 partition root). Default true.
    #[serde(default = "yes")]
    pub exclusive: bool,
    /// Also move every other process of the parent cgroup to a sibling cpuset with the other
    /// cores, so nothing else runs on the reserved ones. Off unless asked for explicitly. The
    /// calling process itself is never moved (pin its threads yourself); kernel threads cannot
    /// be moved and are counted in [`CoreReservation::others`].
    #[serde(default)]
    pub isolate_others: bool,
    /// Parent cgroup, relative to the hierarchy's mount point; default its root.
    #[serde(default)]
    pub parent: Option<PathBuf>,
    /// The hierarchy to use; default [`CgroupLayout::preferred`].
    #[serde(default)]
    pub hierarchy: Option<(CgroupVersion, PathBuf)>,
}

fn yes() -> bool {
    true
}

impl ReservationOptions {
    /// Options for `cores` with defaults: exclusive, no isolation, the hierarchy's root.
    pub fn new(name: impl Into<String>, cores: impl Into<Vec<usize>>) -> Self {
        ReservationOptions {
            name: name.into(),
            cores: cores.into(),
            pids: Vec::new(),
            exclusive: true,
            isolate_others: false,
            parent: None,
            hierarchy: None,
        }
    }
}

/// Checks a cgroup/plan name: 1-32 chars of `[a-z0-9_-]`.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName(name.to_string()))
    }
}

#[derive(Debug, Clone)]
struct Moved {
    pid: i32,
    from: PathBuf,
    affinity: Vec<(i32, Vec<usize>)>,
}

#[derive(Debug)]
struct Others {
    dir: PathBuf,
    moved: usize,
    left: usize,
}

/// A reserved set of cores: a cpuset cgroup holding a chain's processes. Removed, with every
/// process moved back, on [`CoreReservation::release`] or drop.
#[derive(Debug)]
#[must_use = "the reservation is released when dropped"]
pub struct CoreReservation {
    version: CgroupVersion,
    root: PathBuf,
    parent: PathBuf,
    dir: PathBuf,
    cores: Vec<usize>,
    moved: Vec<Moved>,
    others: Option<Others>,
    enabled_subtree: bool,
    released: bool,
}

fn cg_err(path: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::EPERM) | Some(libc::EACCES) | Some(libc::EROFS) => Error::PermissionDenied {
            op: format!("cgroup {}", path.display()),
            capability: "CAP_SYS_ADMIN",
        },
        _ => Error::Cgroup {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
    }
}

fn write_file(path: &Path, value: &str) -> Result<()> {
    fs::write(path, value).map_err(|e| cg_err(path, e))
}

fn read_file(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(|e| cg_err(path, e))
}

fn read_pids(dir: &Path) -> Result<Vec<i32>> {
    Ok(read_file(&dir.join("cgroup.procs"))?
        .split_whitespace()
        .filter_map(|s| s.parse().ok())
        .collect())
}

/// The cgroup path (relative to the hierarchy root) of `pid` in the given hierarchy, from
/// `/proc/<pid>/cgroup` text.
pub(crate) fn parse_proc_cgroup(text: &str, version: CgroupVersion) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let id = it.next()?;
        let ctrls = it.next()?;
        let path = it.next()?;
        let hit = match version {
            CgroupVersion::V2 => id == "0" && ctrls.is_empty(),
            CgroupVersion::V1 => ctrls.split(',').any(|c| c == "cpuset"),
        };
        hit.then(|| path.to_string())
    })
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// The suffix of the sibling cgroup that [`ReservationOptions::isolate_others`] moves the other
/// tasks into: `<reservation>-others` (e.g. `scc-chain-1234-0-others`). A launcher that finds
/// one left by a killed owner must move its tasks back before removing it.
pub const OTHERS_SUFFIX: &str = "-others";

impl CoreReservation {
    /// Creates the cpuset, moves `opts.pids` in and, if asked, isolates the other tasks.
    /// On any error everything done so far is undone.
    pub fn create(opts: &ReservationOptions) -> Result<CoreReservation> {
        check_name(&opts.name)?;
        if opts.cores.is_empty() {
            return Err(Error::NoCores(format!("reservation {}", opts.name)));
        }
        check_cores_online(&opts.cores)?;
        let (version, root) = match &opts.hierarchy {
            Some(h) => h.clone(),
            None => CgroupLayout::detect()
                .preferred()
                .ok_or_else(|| Error::Unsupported {
                    feature: "cpuset cgroup".into(),
                    reason: "neither a cgroup v1 cpuset hierarchy nor cgroup2 with the cpuset \
                             controller is mounted"
                        .into(),
                })?,
        };
        let parent = match &opts.parent {
            Some(p) => root.join(p.strip_prefix("/").unwrap_or(p)),
            None => root.clone(),
        };
        if !parent.is_dir() {
            return Err(Error::Cgroup {
                path: parent,
                reason: "parent cgroup does not exist".into(),
            });
        }
        let mut cores = opts.cores.clone();
        cores.sort_unstable();
        cores.dedup();
        let mut enabled_subtree = false;
        if version == CgroupVersion::V2 {
            enabled_subtree = enable_v2_cpuset(&parent)?;
        }
        let dir = make_dir(&parent, &opts.name)?;
        let mut r = CoreReservation {
            version,
            root,
            parent,
            dir,
            cores,
            moved: Vec::new(),
            others: None,
            enabled_subtree,
            released: false,
        };
        // From here on, dropping `r` undoes everything.
        r.configure(&r.dir.clone(), &r.cores.clone(), opts.exclusive)?;
        for &pid in &opts.pids {
            r.add_pid(pid)?;
        }
        if opts.isolate_others {
            r.isolate_others()?;
        }
        Ok(r)
    }

    fn configure(&self, dir: &Path, cores: &[usize], exclusive: bool) -> Result<()> {
        if self.version == CgroupVersion::V1 {
            let mems = read_file(&self.parent.join("cpuset.mems"))?;
            write_file(&dir.join("cpuset.mems"), mems.trim())?;
        }
        let f = dir.join("cpuset.cpus");
        fs::write(&f, format_cpu_list(cores)).map_err(|e| {
            if e.raw_os_error() == Some(libc::EINVAL) {
                Error::Cgroup {
                    path: f.clone(),
                    reason: format!(
                        "cores {} refused: not a subset of the parent's or they overlap an \
                         exclusive sibling cpuset ({})",
                        format_cpu_list(cores),
                        self.sibling_summary()
                    ),
                }
            } else {
                cg_err(&f, e)
            }
        })?;
        if !exclusive {
            return Ok(());
        }
        match self.version {
            CgroupVersion::V1 => {
                let f = dir.join("cpuset.cpu_exclusive");
                fs::write(&f, "1").map_err(|e| {
                    if e.raw_os_error() == Some(libc::EINVAL) {
                        Error::Cgroup {
                            path: f.clone(),
                            reason: format!(
                                "cannot make cores {} exclusive: they overlap a sibling cpuset ({})",
                                format_cpu_list(cores),
                                self.sibling_summary()
                            ),
                        }
                    } else {
                        cg_err(&f, e)
                    }
                })?;
            }
            CgroupVersion::V2 => {
                let f = dir.join("cpuset.cpus.partition");
                write_file(&f, "root")?;
                let got = read_file(&f)?;
                if got.trim() != "root" {
                    return Err(Error::Cgroup {
                        path: f,
                        reason: format!("partition is {:?}, not root", got.trim()),
                    });
                }
            }
        }
        Ok(())
    }

    fn sibling_summary(&self) -> String {
        let mut v = Vec::new();
        if let Ok(rd) = fs::read_dir(&self.parent) {
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir()
                    && p != self.dir
                    && let Ok(c) = fs::read_to_string(p.join("cpuset.cpus"))
                {
                    v.push(format!("{}: {}", e.file_name().to_string_lossy(), c.trim()));
                }
            }
        }
        if v.is_empty() {
            "none found".into()
        } else {
            v.join("; ")
        }
    }

    /// Moves process `pid` (all its threads) into the reservation, keeping each thread's
    /// pinning narrowed to the reserved cores.
    pub fn add_pid(&mut self, pid: i32) -> Result<()> {
        let cg = fs::read_to_string(format!("/proc/{pid}/cgroup"))
            .map_err(|_| Error::NoSuchProcess { pid })?;
        let rel = parse_proc_cgroup(&cg, self.version).ok_or_else(|| Error::Cgroup {
            path: self.dir.clone(),
            reason: format!("process {pid} is not in this cgroup hierarchy"),
        })?;
        let mut from = self.root.join(rel.trim_start_matches('/'));
        if let Some(o) = &self.others
            && from == o.dir
        {
            from = self.parent.clone();
        }
        let mut affinity = Vec::new();
        for tid in threads(pid)? {
            if let Ok(a) = sys::sched_getaffinity(tid) {
                affinity.push((tid, a));
            }
        }
        let procs = self.dir.join("cgroup.procs");
        fs::write(&procs, pid.to_string()).map_err(|e| match e.raw_os_error() {
            Some(libc::ESRCH) => Error::NoSuchProcess { pid },
            _ => cg_err(&procs, e),
        })?;
        for (tid, a) in &affinity {
            let narrowed: Vec<usize> = a
                .iter()
                .copied()
                .filter(|c| self.cores.contains(c))
                .collect();
            if !narrowed.is_empty() && narrowed != self.cores {
                let _ = sys::sched_setaffinity(*tid, &narrowed);
            }
        }
        self.moved.push(Moved {
            pid,
            from,
            affinity,
        });
        Ok(())
    }

    fn isolate_others(&mut self) -> Result<()> {
        let parent_cpus = read_file(&self.parent.join(match self.version {
            CgroupVersion::V1 => "cpuset.cpus",
            CgroupVersion::V2 => "cpuset.cpus.effective",
        }))?;
        let rest: Vec<usize> = parse_cpu_list(&parent_cpus)?
            .into_iter()
            .filter(|c| !self.cores.contains(c))
            .collect();
        if rest.is_empty() {
            return Err(Error::NoCores(
                "the other tasks (every core of the parent is reserved: keep a housekeeping core)"
                    .into(),
            ));
        }
        let name = format!(
            "{}{OTHERS_SUFFIX}",
            self.dir
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        let dir = self.parent.join(name);
        fs::create_dir(&dir).map_err(|e| cg_err(&dir, e))?;
        self.others = Some(Others {
            dir: dir.clone(),
            moved: 0,
            left: 0,
        });
        self.configure(&dir, &rest, false)?;
        // Our own process (the launcher) stays where it is: it did the reserving, may hold
        // keep_awake spinners pinned to the reserved cores, and pins its own threads itself.
        let mut mine: Vec<i32> = self.moved.iter().map(|m| m.pid).collect();
        mine.push(std::process::id() as i32);
        let procs = dir.join("cgroup.procs");
        let (mut moved, mut left) = (0, 0);
        for pid in read_pids(&self.parent)? {
            if mine.contains(&pid) {
                continue;
            }
            // Kernel threads refuse (EINVAL); exited ones vanish (ESRCH): both are left.
            match fs::write(&procs, pid.to_string()) {
                Ok(()) => moved += 1,
                Err(_) => left += 1,
            }
        }
        if let Some(o) = &mut self.others {
            o.moved = moved;
            o.left = left;
        }
        Ok(())
    }

    /// The cgroup directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The reserved cores.
    pub fn cores(&self) -> &[usize] {
        &self.cores
    }

    /// The hierarchy's version.
    pub fn version(&self) -> CgroupVersion {
        self.version
    }

    /// Processes now in the reservation.
    pub fn pids(&self) -> Result<Vec<i32>> {
        read_pids(&self.dir)
    }

    /// With `isolate_others`: the sibling cgroup holding the other tasks, how many processes were
    /// moved there and how many could not be (kernel threads, exited processes).
    pub fn others(&self) -> Option<(&Path, usize, usize)> {
        self.others
            .as_ref()
            .map(|o| (o.dir.as_path(), o.moved, o.left))
    }

    /// Moves everything back, restores affinities, removes the cgroups. Errors are collected and
    /// the first is returned after every step was tried.
    pub fn release(mut self) -> Result<()> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<()> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        let mut first: Option<Error> = None;
        let mut note = |r: Result<()>| {
            if let Err(e) = r
                && first.is_none()
            {
                first = Some(e);
            }
        };
        let parent_procs = self.parent.join("cgroup.procs");
        if let Some(o) = self.others.take() {
            if let Ok(pids) = read_pids(&o.dir) {
                for pid in pids {
                    let _ = fs::write(&parent_procs, pid.to_string());
                }
            }
            note(remove_cgroup_dir(&o.dir, REMOVE_BUSY_TIMEOUT));
        }
        for m in std::mem::take(&mut self.moved) {
            let target = if m.from.join("cgroup.procs").exists() {
                m.from.join("cgroup.procs")
            } else {
                parent_procs.clone()
            };
            match fs::write(&target, m.pid.to_string()) {
                Ok(()) => {
                    for (tid, a) in &m.affinity {
                        let _ = sys::sched_setaffinity(*tid, a);
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => note(Err(cg_err(&target, e))),
            }
        }
        // Anything else that ended up inside (children forked by the NFs).
        if let Ok(pids) = read_pids(&self.dir) {
            for pid in pids {
                let _ = fs::write(&parent_procs, pid.to_string());
            }
        }
        note(remove_cgroup_dir(&self.dir, REMOVE_BUSY_TIMEOUT));
        if self.enabled_subtree {
            // Best effort: fails harmlessly while other children still use the controller.
            let _ = fs::write(self.parent.join("cgroup.subtree_control"), "-cpuset");
        }
        match first {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for CoreReservation {
    fn drop(&mut self) {
        let _ = self.release_inner();
    }
}

/// Enables cpuset in a cgroup2 parent's `cgroup.subtree_control`; true if we enabled it.
fn enable_v2_cpuset(parent: &Path) -> Result<bool> {
    let ctl = parent.join("cgroup.subtree_control");
    let cur = read_file(&ctl)?;
    if cur.split_whitespace().any(|c| c == "cpuset") {
        return Ok(false);
    }
    let avail = read_file(&parent.join("cgroup.controllers"))?;
    if !avail.split_whitespace().any(|c| c == "cpuset") {
        return Err(Error::Unsupported {
            feature: "cgroup2 cpuset controller".into(),
            reason: format!(
                "{} offers only [{}]",
                parent.join("cgroup.controllers").display(),
                avail.trim()
            ),
        });
    }
    write_file(&ctl, "+cpuset")?;
    Ok(true)
}

fn make_dir(parent: &Path, name: &str) -> Result<PathBuf> {
    let me = std::process::id();
    for _ in 0..1000 {
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("scc-{name}-{me}-{n}"));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(cg_err(&dir, e)),
        }
    }
    Err(Error::Cgroup {
        path: parent.to_path_buf(),
        reason: "could not find a free cgroup name".into(),
    })
}

/// How long the reservation's own cgroups may stay busy (EBUSY) at release.
const REMOVE_BUSY_TIMEOUT: Duration = Duration::from_secs(1);

/// Removes a cgroup directory, retrying while exiting tasks still populate it (EBUSY) for up to
/// `busy_timeout`, polling every 25 ms at most. A directory that is already gone is fine.
///
/// The cgroup must hold no task that stays: move them out first. Shared by this crate's
/// reservations and by callers that manage cgroups of their own (e.g. the launcher's per-NF
/// groups).
pub fn remove_cgroup_dir(dir: &Path, busy_timeout: Duration) -> Result<()> {
    let step = Duration::from_millis(25).min(busy_timeout.max(Duration::from_millis(1)));
    let deadline = std::time::Instant::now() + busy_timeout;
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if std::time::Instant::now() >= deadline {
                    return Err(Error::Cgroup {
                        path: dir.to_path_buf(),
                        reason: format!("still busy after {busy_timeout:?}: {e}"),
                    });
                }
                std::thread::sleep(step);
            }
            Err(e) => return Err(cg_err(dir, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_cgroup_dir_removes_tolerates_absent_and_reports_errors() {
        let base = std::env::temp_dir().join(format!("scc-sched-rm-{}", std::process::id()));
        let empty = base.join("empty");
        fs::create_dir_all(&empty).unwrap();
        fs::write(base.join("file"), "x").unwrap();
        remove_cgroup_dir(&empty, Duration::from_millis(50)).unwrap();
        assert!(!empty.exists());
        // Already gone: fine.
        remove_cgroup_dir(&empty, Duration::from_millis(50)).unwrap();
        // Not removable (not empty): a typed error naming the path, not a retry loop.
        let e = remove_cgroup_dir(&base, Duration::from_millis(50)).unwrap_err();
        assert!(
            matches!(&e, Error::Cgroup { path, .. } if path == &base),
            "{e}"
        );
        fs::remove_dir_all(&base).unwrap();
    }

    #[test]
    fn names() {
        assert!(check_name("chain-1_a").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("Up").is_err());
        assert!(check_name("a/b").is_err());
        assert!(check_name("..").is_err());
        assert!(check_name(&"a".repeat(33)).is_err());
    }

    #[test]
    fn proc_cgroup() {
        let t = "9:name=systemd:/\n4:memory:/x/y\n3:cpuset:/scc-a-1-0\n0::/user.slice\n";
        assert_eq!(
            parse_proc_cgroup(t, CgroupVersion::V1).as_deref(),
            Some("/scc-a-1-0")
        );
        assert_eq!(
            parse_proc_cgroup(t, CgroupVersion::V2).as_deref(),
            Some("/user.slice")
        );
        assert_eq!(parse_proc_cgroup("0::/\n", CgroupVersion::V1), None);
        assert_eq!(
            parse_proc_cgroup("5:cpu,cpuset:/a\n", CgroupVersion::V1).as_deref(),
            Some("/a")
        );
    }
}
