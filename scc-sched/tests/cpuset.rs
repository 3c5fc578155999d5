//! Core reservation on test-owned cgroups, and keep_awake.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use scc_sched::*;

#[test]
#[ignore = "helper process for the other tests (re-executed with SCC_SCHED_HELPER set)"]
fn helper() {
    helper_body();
}

fn cpuset_line(pid: i32, v: CgroupVersion) -> String {
    let t = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    t.lines()
        .find(|l| match v {
            CgroupVersion::V1 => l
                .split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == "cpuset")),
            CgroupVersion::V2 => l.starts_with("0::"),
        })
        .map(|l| l.splitn(3, ':').nth(2).unwrap().to_string())
        .unwrap_or_default()
}

/// The cgroup tests of this binary run one at a time: an exclusive cpuset forbids overlapping
/// siblings, so they would disturb each other.
static CGROUP_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    CGROUP_LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn hierarchy(test: &str) -> Option<(CgroupVersion, PathBuf)> {
    let h = CgroupLayout::detect().preferred();
    if h.is_none() {
        scc_io::skip::skipped(test, "no cpuset hierarchy on this host");
    }
    h
}

#[test]
fn reserve_move_release() {
    let _g = lock();
    if skip_unless_root("reserve_move_release") {
        return;
    }
    let Some((version, root)) = hierarchy("reserve_move_release") else {
        return;
    };
    let online = online_cpus().unwrap();
    let last = last_core();
    let (kid, _) = spawn_helper("threads", None);
    let pid = kid.pid();
    let other = sleeper();
    let cg_before = cpuset_line(pid, version);
    let aff_before = read_all(pid).unwrap();
    let mut opts = ReservationOptions::new("t-res", vec![last]);
    opts.pids = vec![pid];
    let r = match CoreReservation::create(&opts) {
        Err(Error::Cgroup { reason, .. }) if reason.contains("overlap") => {
            // Someone else's cpuset shares the core: the reservation cannot be exclusive here.
            eprintln!("exclusive impossible on this host ({reason}); testing non-exclusive");
            opts.exclusive = false;
            CoreReservation::create(&opts).unwrap()
        }
        r => r.unwrap(),
    };
    let dir = r.path().to_path_buf();
    assert!(dir.starts_with(&root));
    assert!(dir.is_dir());
    assert_eq!(r.cores(), &[last]);
    assert_eq!(r.version(), version);
    assert_eq!(r.pids().unwrap(), vec![pid]);
    let rel = format!("/{}", dir.strip_prefix(&root).unwrap().display());
    assert_eq!(cpuset_line(pid, version), rel);
    for s in read_all(pid).unwrap() {
        assert_eq!(s.affinity, vec![last], "tid {}", s.tid);
    }
    let cpus = fs::read_to_string(dir.join("cpuset.cpus")).unwrap();
    assert_eq!(parse_cpu_list(&cpus).unwrap(), vec![last]);
    if opts.exclusive && version == CgroupVersion::V1 {
        assert_eq!(
            fs::read_to_string(dir.join("cpuset.cpu_exclusive"))
                .unwrap()
                .trim(),
            "1"
        );
    }
    // Not asked to isolate others: an unrelated child keeps every core.
    assert_eq!(affinity(other.pid()).unwrap(), online);
    // A second process joins later.
    let mut r = r;
    let late = sleeper();
    r.add_pid(late.pid()).unwrap();
    assert_eq!(affinity(late.pid()).unwrap(), vec![last]);
    r.release().unwrap();
    assert!(!dir.exists(), "{} left behind", dir.display());
    assert_eq!(cpuset_line(pid, version), cg_before);
    assert_eq!(read_all(pid).unwrap(), aff_before);
    assert_eq!(affinity(late.pid()).unwrap(), online);
}

#[test]
fn pinning_inside_a_reservation_is_kept() {
    let _g = lock();
    if skip_unless_root("pinning_inside_a_reservation_is_kept") {
        return;
    }
    let Some(_) = hierarchy("pinning_inside_a_reservation_is_kept") else {
        return;
    };
    let online = online_cpus().unwrap();
    if online.len() < 2 {
        scc_io::skip::skipped("pinning_inside_a_reservation_is_kept", "needs 2 cores");
        return;
    }
    let kid = sleeper();
    let last = last_core();
    set_affinity(kid.pid(), &[last]).unwrap();
    // A non-exclusive reservation of every core: the attach would reset the pinning to all cores.
    let mut o = ReservationOptions::new("t-pin", online.clone());
    o.exclusive = false;
    o.pids = vec![kid.pid()];
    let r = CoreReservation::create(&o).unwrap();
    assert_eq!(affinity(kid.pid()).unwrap(), vec![last]);
    let dir = r.path().to_path_buf();
    drop(r);
    assert!(!dir.exists());
    assert_eq!(affinity(kid.pid()).unwrap(), vec![last]);
}

/// A test-owned parent cgroup (v1 or v2) holding some children; removed on drop.
struct TestParent {
    root: PathBuf,
    dir: PathBuf,
}

impl TestParent {
    fn new(version: CgroupVersion, root: &Path, cpus: &[usize]) -> TestParent {
        let dir = root.join(format!("scc-test-parent-{}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        let p = TestParent {
            root: root.to_path_buf(),
            dir,
        };
        if version == CgroupVersion::V1 {
            let mems = fs::read_to_string(root.join("cpuset.mems")).unwrap();
            fs::write(p.dir.join("cpuset.mems"), mems.trim()).unwrap();
        }
        fs::write(p.dir.join("cpuset.cpus"), format_cpu_list(cpus)).unwrap();
        p
    }
    fn add(&self, pid: i32) {
        fs::write(self.dir.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for TestParent {
    fn drop(&mut self) {
        if let Ok(p) = fs::read_to_string(self.dir.join("cgroup.procs")) {
            for pid in p.split_whitespace() {
                let _ = fs::write(self.root.join("cgroup.procs"), pid);
            }
        }
        for _ in 0..40 {
            if fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

#[test]
fn isolate_others_in_a_test_owned_parent() {
    let _g = lock();
    if skip_unless_root("isolate_others_in_a_test_owned_parent") {
        return;
    }
    let Some((version, root)) = hierarchy("isolate_others_in_a_test_owned_parent") else {
        return;
    };
    let online = online_cpus().unwrap();
    if online.len() < 2 {
        scc_io::skip::skipped("isolate_others_in_a_test_owned_parent", "needs 2 cores");
        return;
    }
    let last = last_core();
    let rest: Vec<usize> = online.iter().copied().filter(|&c| c != last).collect();
    let nf = sleeper();
    let bystander = sleeper();
    let parent = TestParent::new(version, &root, &online);
    parent.add(nf.pid());
    parent.add(bystander.pid());
    let mut o = ReservationOptions::new("t-iso", vec![last]);
    o.parent = Some(parent.dir.strip_prefix(&root).unwrap().to_path_buf());
    o.pids = vec![nf.pid()];
    o.isolate_others = true;
    o.exclusive = false;
    let r = CoreReservation::create(&o).unwrap();
    let (others_dir, moved, left) = r.others().map(|(p, m, l)| (p.to_path_buf(), m, l)).unwrap();
    assert_eq!((moved, left), (1, 0));
    assert!(others_dir.starts_with(&parent.dir));
    assert_eq!(affinity(nf.pid()).unwrap(), vec![last]);
    assert_eq!(affinity(bystander.pid()).unwrap(), rest);
    let others_rel = format!("/{}", others_dir.strip_prefix(&root).unwrap().display());
    assert_eq!(cpuset_line(bystander.pid(), version), others_rel);
    let dir = r.path().to_path_buf();
    r.release().unwrap();
    assert!(!dir.exists() && !others_dir.exists());
    let parent_rel = format!("/{}", parent.dir.strip_prefix(&root).unwrap().display());
    assert_eq!(cpuset_line(nf.pid(), version), parent_rel);
    assert_eq!(cpuset_line(bystander.pid(), version), parent_rel);
    assert_eq!(affinity(bystander.pid()).unwrap(), online);
    // Isolating others needs a core left for them.
    let mut o2 = o.clone();
    o2.cores = online.clone();
    o2.pids = vec![];
    assert!(matches!(
        CoreReservation::create(&o2),
        Err(Error::NoCores(_))
    ));
    let leftovers: Vec<_> = fs::read_dir(&parent.dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_dir())
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
}

#[test]
fn reservation_errors() {
    let _g = lock();
    assert!(matches!(
        CoreReservation::create(&ReservationOptions::new("Bad Name", vec![0])),
        Err(Error::InvalidName(_))
    ));
    assert!(matches!(
        CoreReservation::create(&ReservationOptions::new("x", vec![])),
        Err(Error::NoCores(_))
    ));
    assert!(matches!(
        CoreReservation::create(&ReservationOptions::new("x", vec![100_000])),
        Err(Error::CoreNotOnline { core: 100_000, .. })
    ));
    let mut o = ReservationOptions::new("x", vec![last_core()]);
    o.parent = Some(PathBuf::from("scc-no-such-parent-cgroup"));
    if CgroupLayout::detect().preferred().is_some() {
        assert!(matches!(
            CoreReservation::create(&o),
            Err(Error::Cgroup { .. })
        ));
    }
    // cgroup2 without the cpuset controller (this host's /sys/fs/cgroup/unified) is refused by name.
    let l = CgroupLayout::detect();
    if let (Some(v2), false) = (&l.v2, l.v2_cpuset) {
        let mut o = ReservationOptions::new("x", vec![last_core()]);
        o.hierarchy = Some((CgroupVersion::V2, v2.clone()));
        let e = CoreReservation::create(&o).unwrap_err();
        assert!(
            matches!(e, Error::Unsupported { .. }) || matches!(e, Error::PermissionDenied { .. }),
            "{e}"
        );
    }
    if !is_root() && l.preferred().is_some() {
        let e =
            CoreReservation::create(&ReservationOptions::new("x", vec![last_core()])).unwrap_err();
        assert!(
            matches!(
                e,
                Error::PermissionDenied {
                    capability: "CAP_SYS_ADMIN",
                    ..
                }
            ),
            "{e}"
        );
    }
}

#[test]
fn keep_awake_spinner() {
    let last = last_core();
    let me = std::process::id() as i32;
    let g = KeepAwake::start(KeepAwakeMode::Spinner, &[last]).unwrap();
    assert_eq!(g.mode(), KeepAwakeMode::Spinner);
    let tids = g.spinner_tids();
    assert_eq!(tids.len(), 1);
    let s = read(tids[0]).unwrap();
    assert_eq!(s.kind, PolicyKind::Idle);
    assert_eq!(s.affinity, vec![last]);
    // A SCHED_IDLE thread only gets the core's spare time: on a loaded machine allow it 3 s.
    let t0 = run_ns(me, tids[0]);
    let mut t1 = t0;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(50));
        t1 = run_ns(me, tids[0]);
        if t1 > t0 {
            break;
        }
    }
    assert!(t1 > t0, "spinner did not run: {t0} -> {t1}");
    drop(g);
    assert!(
        !threads(me).unwrap().contains(&tids[0]),
        "spinner thread still alive"
    );
    assert!(KeepAwake::start(KeepAwakeMode::Spinner, &[]).is_err());
    assert!(matches!(
        KeepAwake::start(KeepAwakeMode::Spinner, &[100_000]),
        Err(Error::CoreNotOnline { .. })
    ));
}

#[test]
fn keep_awake_dma_latency() {
    if !Path::new("/dev/cpu_dma_latency").exists() {
        scc_io::skip::skipped("keep_awake_dma_latency", "no /dev/cpu_dma_latency");
        assert!(matches!(
            KeepAwake::start(KeepAwakeMode::DmaLatency, &[0]),
            Err(Error::Unsupported { .. })
        ));
        return;
    }
    if !is_root() {
        assert!(matches!(
            KeepAwake::start(KeepAwakeMode::DmaLatency, &[0]),
            Err(Error::PermissionDenied { .. })
        ));
        scc_io::skip::skipped("keep_awake_dma_latency (holding the device)", "needs root");
        return;
    }
    // The other tests of this binary start processes: a child forked while the device is open
    // holds the request until it execs (the descriptor is close-on-exec), so run alone.
    let _g = lock();
    let before = current_dma_latency_us().unwrap();
    let g = KeepAwake::start(KeepAwakeMode::DmaLatency, &[last_core()]).unwrap();
    assert_eq!(g.mode(), KeepAwakeMode::DmaLatency);
    assert!(g.spinner_tids().is_empty());
    assert_eq!(current_dma_latency_us(), Some(0));
    g.release();
    // Closing the device drops the request at once; the wait (2 s at most) only covers a child
    // that some other part of the test process forked and that has not exec'd yet.
    let t = std::time::Instant::now();
    while current_dma_latency_us() != Some(before) && t.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(current_dma_latency_us(), Some(before));
    // Auto picks the device only where a cpuidle driver makes it effective.
    let a = KeepAwake::start(KeepAwakeMode::Auto, &[last_core()]).unwrap();
    let want = if dma_latency_effective() {
        KeepAwakeMode::DmaLatency
    } else {
        KeepAwakeMode::Spinner
    };
    assert_eq!(a.mode(), want);
}
