//! Policies, nice, priority, slice and affinity on real child processes and all their threads.

mod common;

use std::time::Duration;

use common::*;
use scc_sched::*;

#[test]
#[ignore = "helper process for the other tests (re-executed with SCC_SCHED_HELPER set)"]
fn helper() {
    helper_body();
}

fn all_threads(pid: i32) -> Vec<SchedState> {
    read_all(pid).unwrap()
}

#[test]
fn threaded_child_has_threads() {
    let (kid, line) = spawn_helper("threads", None);
    assert_eq!(line, "ready");
    let t = threads(kid.pid()).unwrap();
    assert!(t.len() >= 4, "helper has {} threads", t.len());
}

#[test]
fn fair_policies_all_threads_and_restore() {
    let (kid, _) = spawn_helper("threads", None);
    let pid = kid.pid();
    let before = all_threads(pid);
    let last = last_core();

    if !is_root() {
        // Raising nice needs no privilege, lowering it back does: restore says which capability.
        let a = apply(pid, &SchedSpec::new(Policy::Batch { nice: 5 })).unwrap();
        assert!(
            all_threads(pid)
                .iter()
                .all(|s| s.policy() == Some(Policy::Batch { nice: 5 }))
        );
        assert!(matches!(
            a.restore(),
            Err(Error::PermissionDenied {
                capability: "CAP_SYS_NICE",
                ..
            })
        ));
        scc_io::skip::skipped(
            "fair_policies_all_threads_and_restore (restore of nice)",
            "needs root",
        );
        return;
    }
    for (spec, nice) in [
        (SchedSpec::new(Policy::Other { nice: 5 }), 5),
        (SchedSpec::new(Policy::Batch { nice: 7 }), 7),
    ] {
        let a = apply(pid, &spec).unwrap();
        assert!(a.threads.len() >= 4);
        assert_eq!(a.threads[0].tid, pid);
        for s in all_threads(pid) {
            assert_eq!(s.policy(), Some(spec.policy), "tid {}", s.tid);
            assert_eq!(s.nice, nice);
        }
        a.restore().unwrap();
        assert_eq!(all_threads(pid), before);
    }
    let a = apply(pid, &SchedSpec::new(Policy::Idle).with_affinity(vec![last])).unwrap();
    for s in all_threads(pid) {
        assert_eq!(s.kind, PolicyKind::Idle);
        assert_eq!(s.affinity, vec![last]);
    }
    assert_eq!(a.restore().unwrap(), a.threads.len());
    assert_eq!(all_threads(pid), before);

    let a = apply(pid, &SchedSpec::new(Policy::Batch { nice: -19 })).unwrap();
    for s in all_threads(pid) {
        assert_eq!(s.policy(), Some(Policy::Batch { nice: -19 }));
    }
    a.restore().unwrap();
    assert_eq!(all_threads(pid), before);
}

#[test]
fn realtime_policies_on_last_core() {
    if skip_unless_root("realtime_policies_on_last_core") {
        return;
    }
    let online = online_cpus().unwrap();
    if online.len() < 2 {
        scc_io::skip::skipped(
            "realtime_policies_on_last_core",
            "a 1-core host cannot keep a fair housekeeping core",
        );
        return;
    }
    let last = last_core();
    assert_ne!(last, 0);
    // The child only sleeps, so FIFO/RR on it cannot hog the core; it is killed at the end.
    let (kid, _) = spawn_helper("threads", None);
    let pid = kid.pid();
    let before = all_threads(pid);
    for policy in [Policy::Fifo { priority: 10 }, Policy::Rr { priority: 20 }] {
        let spec = SchedSpec::new(policy).with_affinity(vec![last]);
        let a = apply(pid, &spec).unwrap();
        if rt_runtime_us() == Some(-1) {
            assert!(!a.warnings.is_empty());
        }
        for s in all_threads(pid) {
            assert_eq!(s.policy(), Some(policy), "tid {}", s.tid);
            assert_eq!(s.affinity, vec![last]);
            assert_eq!(s.slice, None);
        }
        let rr = rr_interval(pid).unwrap();
        if matches!(policy, Policy::Rr { .. }) {
            assert!(rr > Duration::ZERO, "RR interval {rr:?}");
        }
        // From RT back to fair on every core, then restored to RT: affinity narrowed first.
        let rt_state = all_threads(pid);
        let online = online_cpus().unwrap();
        let f = apply(
            pid,
            &SchedSpec::new(Policy::Other { nice: 0 }).with_affinity(online.clone()),
        )
        .unwrap();
        assert!(all_threads(pid).iter().all(|s| s.affinity == online));
        f.restore().unwrap();
        assert_eq!(all_threads(pid), rt_state);
        a.restore().unwrap();
        assert_eq!(all_threads(pid), before);
    }
}

#[test]
fn realtime_refused_on_every_core() {
    let kid = sleeper();
    let pid = kid.pid();
    let before = read(pid).unwrap();
    let online = online_cpus().unwrap();
    // Without an affinity, the child may run on every core: refused before anything is touched.
    let e = apply(pid, &SchedSpec::new(Policy::Fifo { priority: 5 })).unwrap_err();
    assert!(
        matches!(e, Error::RealTimeOnAllCores { policy: "fifo", .. }),
        "{e}"
    );
    let e = apply(
        pid,
        &SchedSpec::new(Policy::Rr { priority: 5 }).with_affinity(online.clone()),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::RealTimeOnAllCores { policy: "rr", .. }),
        "{e}"
    );
    assert!(e.to_string().contains("housekeeping"));
    assert_eq!(read(pid).unwrap(), before);
}

#[test]
fn eevdf_slice_all_threads() {
    if !slice_supported() {
        scc_io::skip::skipped(
            "eevdf_slice_all_threads",
            "kernel has no per-task EEVDF slice (< 6.12)",
        );
        let kid = sleeper();
        let e = apply(
            kid.pid(),
            &SchedSpec::new(Policy::Other { nice: 0 }).with_slice(Duration::from_millis(3)),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unsupported { .. }));
        return;
    }
    let (kid, _) = spawn_helper("threads", None);
    let pid = kid.pid();
    let before = all_threads(pid);
    let base = base_slice().expect("base slice known on a slice-capable kernel");
    assert!(before.iter().all(|s| s.slice == Some(base)));
    // Without root the nice values stay at 0 (raising them could not be undone).
    let n = if is_root() { 1 } else { 0 };
    for (policy, slice) in [
        (Policy::Other { nice: 0 }, Duration::from_millis(3)),
        (Policy::Batch { nice: 2 * n }, Duration::from_millis(100)),
        (Policy::Other { nice: n }, Duration::from_micros(100)),
    ] {
        let a = apply(pid, &SchedSpec::new(policy).with_slice(slice)).unwrap();
        for s in all_threads(pid) {
            assert_eq!(s.slice, Some(slice), "tid {}", s.tid);
            assert_eq!(s.policy(), Some(policy));
            assert_eq!(
                proc_slice(s.tid),
                Some(slice),
                "/proc/{}/sched se.slice",
                s.tid
            );
        }
        // A policy change without a slice keeps the custom slice.
        let b = apply(pid, &SchedSpec::new(Policy::Batch { nice: 3 * n })).unwrap();
        assert!(all_threads(pid).iter().all(|s| s.slice == Some(slice)));
        b.restore().unwrap();
        a.restore().unwrap();
        // Back to the default slice, not a custom one equal to it.
        assert_eq!(all_threads(pid), before);
    }
}

#[test]
fn affinity_of_child_and_own_thread() {
    let (kid, _) = spawn_helper("threads", None);
    let pid = kid.pid();
    let online = online_cpus().unwrap();
    let last = last_core();
    set_affinity(pid, &[last]).unwrap();
    for s in all_threads(pid) {
        assert_eq!(s.affinity, vec![last]);
    }
    set_affinity(pid, &online).unwrap();
    assert_eq!(affinity(pid).unwrap(), online);
    assert!(matches!(set_affinity(pid, &[]), Err(Error::NoCores(_))));
    assert!(matches!(
        set_affinity(pid, &[100_000]),
        Err(Error::CoreNotOnline { core: 100_000, .. })
    ));
    // Our own thread.
    std::thread::spawn(move || {
        pin_current_thread(last).unwrap();
        let tid = std::fs::read_link("/proc/thread-self")
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .parse::<i32>()
            .unwrap();
        assert_eq!(affinity(tid).unwrap(), vec![last]);
    })
    .join()
    .unwrap();
}

#[test]
fn error_paths() {
    // Unknown PID: a child that has been reaped.
    let mut kid = sleeper();
    let pid = kid.pid();
    kid.0.kill().unwrap();
    kid.0.wait().unwrap();
    let spec = SchedSpec::new(Policy::Other { nice: 1 });
    assert!(matches!(apply(pid, &spec), Err(Error::NoSuchProcess { pid: p }) if p == pid));
    assert!(matches!(read(pid), Err(Error::NoSuchProcess { .. })));
    assert!(matches!(read_all(pid), Err(Error::NoSuchProcess { .. })));
    let live = sleeper();
    let p = live.pid();
    assert!(matches!(
        apply(p, &SchedSpec::new(Policy::Fifo { priority: 0 })),
        Err(Error::PriorityOutOfRange { priority: 0, .. })
    ));
    assert!(matches!(
        apply(p, &SchedSpec::new(Policy::Rr { priority: 100 })),
        Err(Error::PriorityOutOfRange { priority: 100, .. })
    ));
    assert!(matches!(
        apply(p, &SchedSpec::new(Policy::Batch { nice: 20 })),
        Err(Error::NiceOutOfRange(20))
    ));
    assert!(matches!(
        apply(
            p,
            &SchedSpec::new(Policy::Other { nice: 0 }).with_affinity(vec![100_000])
        ),
        Err(Error::CoreNotOnline { .. })
    ));
    assert!(matches!(
        apply(
            p,
            &SchedSpec::new(Policy::Idle).with_slice(Duration::from_millis(1))
        ),
        Err(Error::SliceNeedsFairPolicy("idle"))
    ));
    assert!(matches!(
        apply(
            p,
            &SchedSpec::new(Policy::Other { nice: 0 }).with_slice(Duration::from_secs(1))
        ),
        Err(Error::SliceOutOfRange(_))
    ));
    assert!(matches!(
        RrTimeslice::set(0),
        Err(Error::RrTimesliceOutOfRange(0))
    ));
}

#[test]
fn permission_denied_names_the_capability() {
    if is_root() {
        // Root has every capability: check from an unprivileged helper (uid nobody).
        let (_kid, line) = spawn_helper("eperm", Some(65534));
        assert_eq!(
            line, "EPERM:CAP_SYS_NICE EPERM:CAP_SYS_NICE EPERM:CAP_SYS_ADMIN",
            "unprivileged helper reported {line}"
        );
    } else {
        let me = std::process::id() as i32;
        let e = apply(me, &SchedSpec::new(Policy::Batch { nice: -5 })).unwrap_err();
        assert!(
            matches!(
                e,
                Error::PermissionDenied {
                    capability: "CAP_SYS_NICE",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("CAP_SYS_NICE"));
    }
}

#[test]
fn rr_timeslice_guard() {
    if skip_unless_root("rr_timeslice_guard") {
        return;
    }
    let before = rr_timeslice_ms().unwrap();
    let want = if before == 40 { 60 } else { 40 };
    {
        let g = RrTimeslice::set(want).unwrap();
        assert_eq!(g.previous_ms(), before);
        assert_eq!(rr_timeslice_ms().unwrap(), want);
        assert_eq!(g.current_ms(), want);
        // An RR child (sleeping, on the last core, killed at the end) gets that quantum.
        if online_cpus().unwrap().len() >= 2 {
            let kid = sleeper();
            let a = apply(
                kid.pid(),
                &SchedSpec::new(Policy::Rr { priority: 3 }).with_affinity(vec![last_core()]),
            )
            .unwrap();
            assert_eq!(
                rr_interval(kid.pid()).unwrap(),
                Duration::from_millis(want as u64)
            );
            a.restore().unwrap();
        }
    }
    assert_eq!(rr_timeslice_ms().unwrap(), before);
    let g = RrTimeslice::set(want).unwrap();
    g.restore().unwrap();
    assert_eq!(rr_timeslice_ms().unwrap(), before);
}

#[test]
fn capabilities_of_this_host() {
    let c = Capabilities::detect();
    println!("{c}");
    for w in c.warnings() {
        println!("warning: {w}");
    }
    assert_eq!(c.root, is_root());
    assert_eq!(c.online_cpus, online_cpus().unwrap());
    assert_eq!(c.custom_slice, slice_supported());
    if c.custom_slice {
        assert!(c.eevdf);
    }
    let j = serde_json::to_value(&c).unwrap();
    assert!(j.get("cgroups").is_some());
}

#[test]
fn serde_contract() {
    let s: SchedSpec =
        serde_json::from_str(r#"{"policy":"batch","nice":-19,"slice_us":3000,"affinity":[1]}"#)
            .unwrap();
    assert_eq!(
        s,
        SchedSpec::new(Policy::Batch { nice: -19 })
            .with_slice(Duration::from_millis(3))
            .with_affinity(vec![1])
    );
    let s: SchedSpec = serde_json::from_str(r#"{"policy":"fifo","priority":50}"#).unwrap();
    assert_eq!(s.policy, Policy::Fifo { priority: 50 });
    let s: SchedSpec = serde_json::from_str(r#"{"policy":"idle"}"#).unwrap();
    assert_eq!(s.policy, Policy::Idle);
    let s: SchedSpec = serde_json::from_str(r#"{"policy":"other"}"#).unwrap();
    assert_eq!(s.policy, Policy::Other { nice: 0 });
    assert!(serde_json::from_str::<SchedSpec>(r#"{"policy":"deadline"}"#).is_err());
    assert!(serde_json::from_str::<SchedSpec>(r#"{"policy":"fifo"}"#).is_err());
    let round = SchedSpec::new(Policy::Rr { priority: 3 }).with_affinity(vec![1]);
    let text = serde_json::to_string(&round).unwrap();
    assert_eq!(text, r#"{"policy":"rr","priority":3,"affinity":[1]}"#);
    assert_eq!(serde_json::from_str::<SchedSpec>(&text).unwrap(), round);
}

#[test]
fn apply_a_plan_to_a_chain() {
    let a = sleeper();
    let b = sleeper();
    let online = online_cpus().unwrap();
    let last = last_core();
    let req = PlanRequest {
        kind: PlanKind::Uniprocessor,
        nfs: vec![
            NfRequest {
                name: "r1".into(),
                cores: None,
            },
            NfRequest {
                name: "r2".into(),
                cores: None,
            },
        ],
        switch: Some(SwitchRequest {
            name: "br".into(),
            core: None,
            spec: None,
        }),
        nf_spec: SchedSpec::new(Policy::Batch { nice: 0 }),
        cores: vec![],
        online: online.clone(),
    };
    let p = plan(&req).unwrap();
    let before = (read(a.pid()).unwrap(), read(b.pid()).unwrap());
    let done = apply_plan(&p, &[("r1", a.pid()), ("r2", b.pid())]).unwrap();
    assert_eq!(done.entries.len(), 2);
    for pid in [a.pid(), b.pid()] {
        let s = read(pid).unwrap();
        assert_eq!(s.policy(), Some(Policy::Batch { nice: 0 }));
        assert_eq!(s.affinity, vec![last]);
    }
    done.restore().unwrap();
    assert_eq!((read(a.pid()).unwrap(), read(b.pid()).unwrap()), before);
    // Every NF needs a PID; unknown names are refused; nothing is left applied.
    assert!(matches!(
        apply_plan(&p, &[("r1", a.pid())]),
        Err(Error::Plan(m)) if m.contains("r2")
    ));
    assert_eq!(read(a.pid()).unwrap(), before.0);
    assert!(matches!(
        apply_plan(&p, &[("r1", a.pid()), ("r2", b.pid()), ("zz", 1)]),
        Err(Error::Plan(_))
    ));
}

/// A test-owned v1 `cpu` cgroup (RT group scheduling: `cpu.rt_runtime_us` = 0), removed on drop.
struct RtStarvedGroup {
    dir: std::path::PathBuf,
    root: std::path::PathBuf,
}

impl Drop for RtStarvedGroup {
    fn drop(&mut self) {
        if let Ok(t) = std::fs::read_to_string(self.dir.join("tasks")) {
            for tid in t.split_whitespace() {
                let _ = std::fs::write(self.root.join("tasks"), tid);
            }
        }
        for _ in 0..40 {
            if std::fs::remove_dir(&self.dir).is_ok() || !self.dir.exists() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

#[test]
fn failure_midway_rolls_back_every_thread() {
    if skip_unless_root("failure_midway_rolls_back_every_thread") {
        return;
    }
    let root = std::path::PathBuf::from("/sys/fs/cgroup/cpu");
    if !root.join("cpu.rt_runtime_us").exists() || online_cpus().unwrap().len() < 2 {
        scc_io::skip::skipped(
            "failure_midway_rolls_back_every_thread",
            "needs a v1 cpu hierarchy with RT group scheduling and 2 cores",
        );
        return;
    }
    let (kid, _) = spawn_helper("threads", None);
    let pid = kid.pid();
    let tids = threads(pid).unwrap();
    let before = all_threads(pid);
    let g = RtStarvedGroup {
        dir: root.join(format!("scc-test-rt0-{}", std::process::id())),
        root: root.clone(),
    };
    std::fs::create_dir(&g.dir).unwrap();
    assert_eq!(
        std::fs::read_to_string(g.dir.join("cpu.rt_runtime_us"))
            .unwrap()
            .trim(),
        "0"
    );
    // Only the last thread goes into the group: the others succeed first, then it fails.
    let victim = *tids.last().unwrap();
    std::fs::write(g.dir.join("tasks"), victim.to_string()).unwrap();
    let e = apply(
        pid,
        &SchedSpec::new(Policy::Fifo { priority: 5 }).with_affinity(vec![last_core()]),
    )
    .unwrap_err();
    assert!(
        matches!(e, Error::PermissionDenied { capability: "CAP_SYS_NICE", ref op } if op.contains("rt_runtime_us")),
        "{e}"
    );
    // Every thread, including those changed before the failure, is back as it was.
    assert_eq!(all_threads(pid), before);
}

#[test]
fn restore_puts_back_an_idle_tasks_nice() {
    // The kernel ignores sched_nice when it sets SCHED_IDLE: restoring an idle task after a
    // fair policy with another nice must still bring its nice back.
    if !is_root() {
        // Leaving SCHED_IDLE needs CAP_SYS_NICE (or an RLIMIT_NICE that allows it).
        scc_io::skip::skipped("restore_puts_back_an_idle_tasks_nice", "needs root");
        return;
    }
    let kid = sleeper();
    let pid = kid.pid();
    apply(pid, &SchedSpec::new(Policy::Idle)).unwrap();
    let before = read(pid).unwrap();
    assert_eq!(before.kind, PolicyKind::Idle);
    let a = apply(pid, &SchedSpec::new(Policy::Other { nice: 5 })).unwrap();
    assert_eq!(read(pid).unwrap().nice, 5);
    a.restore().unwrap();
    assert_eq!(read(pid).unwrap(), before);
}
