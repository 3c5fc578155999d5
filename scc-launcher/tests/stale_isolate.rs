//! As root: an `scc` killed with SIGKILL while its reservation isolated the other tasks
//! (`schedule.isolate`) leaves them confined in the `...-others` cpuset; the next run's sweep
//! (and `scc cleanup`) moves every one of them back and removes the groups.
//!
//! Only tasks and cgroups this test made are involved: a parent cpuset of its own holding two
//! `sleep` processes of its own, reserved by a helper process (this test binary re-run) that is
//! then killed with SIGKILL. Everything is removed at the end, also when an assertion fails.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use scc_sched::{CgroupLayout, CgroupVersion, CoreReservation, ReservationOptions};

/// Set in the helper's environment: the parent cgroup (relative to the v1 cpuset root).
const HOLD_ENV: &str = "SCC_TEST_HOLD_ISOLATED";

fn is_root() -> bool {
    scc_launcher::privilege::host_root()
}

fn procs(dir: &Path) -> Vec<u32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// The helper: reserves core 1 under the given parent with `isolate_others`, says where, and
/// waits to be killed.
#[test]
fn isolate_holder() {
    let Ok(parent) = std::env::var(HOLD_ENV) else {
        return; // only meaningful as the helper of the test below
    };
    let root = CgroupLayout::detect().v1_cpuset.unwrap();
    let mut opts = ReservationOptions::new("hold", vec![1]);
    opts.exclusive = false;
    opts.isolate_others = true;
    opts.parent = Some(PathBuf::from(parent));
    opts.hierarchy = Some((CgroupVersion::V1, root));
    let r = CoreReservation::create(&opts).unwrap();
    println!("HELD {}", r.path().display());
    std::thread::sleep(Duration::from_secs(120));
    drop(r);
}

/// What the test made; undone on drop (sleepers killed, groups removed, children first).
struct Made {
    parent: PathBuf,
    sleepers: Vec<Child>,
    helper: Option<Child>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for c in self.sleepers.iter_mut().chain(self.helper.as_mut()) {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Ok(rd) = std::fs::read_dir(&self.parent) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    let _ = scc_sched::remove_cgroup_dir(&e.path(), Duration::from_secs(2));
                }
            }
        }
        let _ = scc_sched::remove_cgroup_dir(&self.parent, Duration::from_secs(2));
    }
}

#[test]
fn tasks_confined_by_a_killed_scc_are_restored() {
    if !is_root() {
        println!(
            "SKIPPED: tasks_confined_by_a_killed_scc_are_restored: needs root in the initial user namespace"
        );
        return;
    }
    let Some(root) = CgroupLayout::detect().v1_cpuset else {
        println!(
            "SKIPPED: tasks_confined_by_a_killed_scc_are_restored: no cgroup v1 cpuset hierarchy"
        );
        return;
    };
    if scc_sched::online_cpus().unwrap_or_default().len() < 2 {
        scc_io::skip::skipped(
            "tasks_confined_by_a_killed_scc_are_restored",
            "needs 2 online cores",
        );
        return;
    }
    let name = format!("harden-test-{}", std::process::id());
    let parent = root.join(&name);
    std::fs::create_dir(&parent).unwrap();
    let mut made = Made {
        parent: parent.clone(),
        sleepers: Vec::new(),
        helper: None,
    };
    std::fs::write(parent.join("cpuset.cpus"), "0-1").unwrap();
    let mems = std::fs::read_to_string(root.join("cpuset.mems")).unwrap();
    std::fs::write(parent.join("cpuset.mems"), mems.trim()).unwrap();
    for _ in 0..2 {
        let c = Command::new("sleep").arg("120").spawn().unwrap();
        std::fs::write(parent.join("cgroup.procs"), c.id().to_string()).unwrap();
        made.sleepers.push(c);
    }
    let mine: Vec<u32> = made.sleepers.iter().map(Child::id).collect();

    let mut helper = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "isolate_holder",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_ENV, &name)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let out = helper.stdout.take().unwrap();
    made.helper = Some(helper);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let held = BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            // The harness may have written `test isolate_holder ... ` on the same line.
            .find_map(|l| l.split_once("HELD ").map(|(_, p)| PathBuf::from(p)));
        let _ = tx.send(held);
    });
    let held = rx
        .recv_timeout(Duration::from_secs(30))
        .ok()
        .flatten()
        .expect("the helper reserved nothing");
    let others = PathBuf::from(format!("{}{}", held.display(), scc_sched::OTHERS_SUFFIX));
    let mut confined = procs(&others);
    confined.sort_unstable();
    assert_eq!(confined, mine, "the helper isolated other tasks than ours");

    // SIGKILL: no teardown can run.
    let mut h = made.helper.take().unwrap();
    h.kill().unwrap();
    h.wait().unwrap();
    assert!(others.is_dir() && held.is_dir());

    let notes = scc_launcher::cgroup::remove_stale(std::slice::from_ref(&parent));
    let mut back = procs(&parent);
    back.sort_unstable();
    assert_eq!(back, mine, "tasks not restored: {notes:?}");
    assert!(!others.exists(), "{notes:?}");
    assert!(!held.exists(), "{notes:?}");
    assert!(
        notes.iter().any(|n| n.starts_with("moved 2 task(s)")),
        "{notes:?}"
    );
    // Their cores are the parent's again.
    for pid in &mine {
        let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let allowed = st
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap()
            .trim()
            .to_string();
        assert_eq!(allowed, "0-1", "pid {pid}");
    }
}

/// `scc cleanup` does the same at the hierarchy's root: a stale `-others` group (of a PID that
/// no longer runs) holding a task of ours is emptied back into the root and removed.
#[test]
fn scc_cleanup_restores_confined_tasks() {
    if !is_root() {
        println!(
            "SKIPPED: scc_cleanup_restores_confined_tasks: needs root in the initial user namespace"
        );
        return;
    }
    let Some(root) = CgroupLayout::detect().v1_cpuset else {
        scc_io::skip::skipped(
            "scc_cleanup_restores_confined_tasks",
            "no cgroup v1 cpuset hierarchy",
        );
        return;
    };
    let mut c = Command::new("true").spawn().unwrap();
    let dead = c.id();
    c.wait().unwrap();
    let others = root.join(format!("scc-cleanup-{dead}-0{}", scc_sched::OTHERS_SUFFIX));
    std::fs::create_dir(&others).unwrap();
    let mut made = Made {
        parent: others.clone(),
        sleepers: Vec::new(),
        helper: None,
    };
    std::fs::write(others.join("cpuset.cpus"), "0").unwrap();
    let mems = std::fs::read_to_string(root.join("cpuset.mems")).unwrap();
    std::fs::write(others.join("cpuset.mems"), mems.trim()).unwrap();
    let s = Command::new("sleep").arg("120").spawn().unwrap();
    let pid = s.id();
    made.sleepers.push(s);
    std::fs::write(others.join("cgroup.procs"), pid.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scc"))
        .arg("cleanup")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(!others.exists(), "{text}");
    assert!(procs(&root).contains(&pid), "{text}");
    assert!(text.contains("moved 1 task(s)"), "{text}");
    assert!(text.contains("removed stale cgroup"), "{text}");
    drop(made);
}
