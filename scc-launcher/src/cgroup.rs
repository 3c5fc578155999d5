//! Per-NF cgroups for `env = "netns"` NFs (the container-like case): plain groups in the cgroup2
//! hierarchy, removed when dropped (after the NFs have ended).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                match std::fs::remove_dir(&dir) {
                    Ok(()) => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(10))
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                        break;
                    }
                }
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
