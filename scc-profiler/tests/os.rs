//! The OS side, for real: perf counters and schedstat on child processes, sysbench.
//!
//! Workloads run in a re-executed copy of this test binary (`worker` below, selected by the
//! `SCC_PROFILER_WORKER` environment variable) so the test controls exactly what they do.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use scc_io::skip::skipped;
use scc_profiler::counters::{Session, SessionOptions};
use scc_profiler::model::Measure;
use scc_profiler::sched;
use scc_profiler::sysbench::{self, Level, SysbenchOptions, Topology};

const WORKER_ENV: &str = "SCC_PROFILER_WORKER";

/// Not a test: the body of the worker processes (run by the tests below).
#[test]
#[ignore = "helper: the body of the worker processes the other tests spawn"]
fn worker() {
    let Ok(kind) = std::env::var(WORKER_ENV) else {
        return;
    };
    let end = Instant::now() + Duration::from_secs(3);
    match kind.as_str() {
        "spin" => {
            let mut x = 0u64;
            while Instant::now() < end {
                for _ in 0..10_000 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            }
        }
        "sleep" => {
            while Instant::now() < end {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        "udp" => {
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            while Instant::now() < end {
                // An empty non-blocking receive (recvfrom): one network-I/O syscall.
                let _ = sock.recv_from(&mut buf);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        _ => {}
    }
}

struct Worker(Child);

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn_worker(kind: &str) -> Worker {
    let exe = std::env::current_exe().unwrap();
    let child = Command::new(exe)
        .args([
            "--exact",
            "worker",
            "--ignored",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(WORKER_ENV, kind)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Let it start its workload.
    std::thread::sleep(Duration::from_millis(150));
    Worker(child)
}

/// Whether this process has capability `bit` in its effective set.
fn has_cap(bit: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .is_some_and(|caps| caps & (1u64 << bit) != 0)
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_SYS_NICE: u32 = 23;
const CAP_PERFMON: u32 = 38;

/// Kernel-side perf counting is allowed (CAP_PERFMON / CAP_SYS_ADMIN, or paranoid <= 1).
fn may_count_kernel() -> bool {
    let paranoid: i32 = std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2);
    has_cap(CAP_PERFMON) || has_cap(CAP_SYS_ADMIN) || paranoid <= 1
}

#[test]
fn counters_on_a_child_process() {
    let w = spawn_worker("udp");
    let pid = w.0.id() as i32;
    let opts = SessionOptions {
        all_syscalls: true,
        ..Default::default()
    };
    let mut s = Session::attach(&[pid], &opts).unwrap();
    s.start().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let mid = s.snapshot().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let r = s.stop().unwrap().remove(0);
    assert_eq!(r.pid, pid);
    println!("{}", serde_json::to_string_pretty(&r.counters).unwrap());

    // Interface counters of the worker's namespace (no traffic is sent: just present).
    assert!(r.iface_packets("lo").is_some(), "{:?}", r.counters.keys());
    // Scheduler metrics need no privileges.
    let sched = r.sched.expect("schedstat readable");
    assert!(sched.run_ns > 0);
    assert!(sched.voluntary_switches >= 50, "{sched:?}");

    match r.counters["context_switches"].as_result() {
        Ok(cs) => {
            // ~1 ms sleeps for 500 ms: hundreds of switches.
            assert!(cs >= 50.0, "context switches {cs}");
            let tc = r.get("task_clock_ns").unwrap();
            assert!(tc > 0.0);
            assert!(tc < 0.6e9 * 2.0, "task clock {tc} ns over 0.5 s");
            let mid_cs = mid[0].get("context_switches").unwrap();
            assert!(mid_cs <= cs);
            let d = r.delta(&mid[0]);
            assert_eq!(d.get("context_switches"), Some(cs - mid_cs));
            assert!(d.elapsed_ns > 50_000_000 && d.elapsed_ns < r.elapsed_ns);
        }
        Err(why) => {
            assert!(
                !may_count_kernel(),
                "software events must work with CAP_PERFMON: {why}"
            );
            skipped("counters_on_a_child_process (software counters)", why);
        }
    }
    match r.counters["sys_enter_recvfrom"].as_result() {
        Ok(n) => {
            assert!(n >= 50.0, "recvfrom calls {n}");
            assert!(r.get("net_syscalls").unwrap() >= n);
            assert!(r.get("syscalls").unwrap() >= n);
        }
        Err(why) => {
            assert!(
                !has_cap(CAP_SYS_ADMIN),
                "tracepoints must work with CAP_SYS_ADMIN: {why}"
            );
            skipped("counters_on_a_child_process (syscall tracepoints)", why);
        }
    }
}

/// Hardware events: either counted (a PMU exists) or unavailable with a reason; never a
/// silent zero. On this VM there is no PMU.
#[test]
fn hardware_events_unavailable_are_detected() {
    let w = spawn_worker("spin");
    let pid = w.0.id() as i32;
    let opts = SessionOptions {
        software: false,
        hardware: true,
        syscalls: false,
        all_syscalls: false,
    };
    let mut s = Session::attach(&[pid], &opts).unwrap();
    s.start().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let r = s.stop().unwrap().remove(0);
    for k in [
        "cycles",
        "instructions",
        "l1d_loads",
        "llc_load_misses",
        "dtlb_load_misses",
    ] {
        match &r.counters[k] {
            Measure::Value(v) => assert!(*v > 0.0, "{k} counted 0 on a spinning process"),
            Measure::Unavailable { unavailable } => {
                assert!(!unavailable.is_empty());
                println!("{k}: unavailable: {unavailable}");
            }
        }
    }
    let counts = r.nf_counts("spin", Measure::Value(1000.0), Default::default());
    let m = scc_profiler::model_nf(&counts, &scc_profiler::LatencyTable::paper());
    if r.counters["cycles"].value().is_none() {
        assert_eq!(m.terms.d1, None);
        assert!(m.unavailable.contains_key("L_D1"));
    }
}

/// Wait/RunTime: high for a process that sleeps, low for one that spins (compared with each
/// other, not against fixed thresholds).
#[test]
fn schedstat_sleeper_vs_spinner() {
    let sleeper = spawn_worker("sleep");
    let spinner = spawn_worker("spin");
    let pids = [sleeper.0.id() as i32, spinner.0.id() as i32];
    let before: Vec<_> = pids.iter().map(|p| sched::snapshot(*p).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(500));
    let after: Vec<_> = pids.iter().map(|p| sched::snapshot(*p).unwrap()).collect();
    let sl = sched::delta(&before[0], &after[0]);
    let sp = sched::delta(&before[1], &after[1]);
    println!("sleeper {sl:?}\nspinner {sp:?}");
    let sl_w = sl.wait_over_run.expect("sleeper ran a little");
    let sp_w = sp.wait_over_run.expect("spinner ran");
    assert!(
        sl_w > 5.0 * sp_w.max(0.01),
        "sleeper {sl_w} vs spinner {sp_w}"
    );
    assert!(sp.run_ns > 5 * sl.run_ns);
    assert!(sl.voluntary_switches > sp.voluntary_switches);
}

#[test]
fn sysbench_small_working_sets_are_ordered() {
    let topo = sysbench::topology();
    println!("{topo:?}");
    // The L1 and a DRAM-sized working set, random chase, few loads: well under a second.
    let big = topo
        .l3_bytes
        .map(|l| (4 * l as usize).max(64 << 20))
        .unwrap_or(64 << 20);
    let opts = SysbenchOptions {
        working_sets: vec![16 << 10, big],
        strides: vec![64],
        loads_per_point: 100_000,
        repetitions: 3,
        round_trips: 0,
        syscalls: 0,
        strided: false,
    };
    let t = Instant::now();
    let (random, strided) = sysbench::memory_latency(&opts, &topo).unwrap();
    assert!(strided.is_empty());
    assert_eq!(random.len(), 2);
    let (l1, dram) = (random[0], random[1]);
    println!(
        "L1 {:.2} ns, DRAM {:.2} ns in {:?}",
        l1.ns,
        dram.ns,
        t.elapsed()
    );
    assert!(l1.ns > 0.1 && l1.ns < 20.0, "{l1:?}");
    assert!(dram.ns > 3.0 * l1.ns, "L1 {l1:?} vs DRAM {dram:?}");
    if topo.l1d_bytes.is_some() {
        assert_eq!(l1.level, Level::L1);
    }
    let fake = Topology {
        l3_bytes: Some(1 << 20),
        ..topo
    };
    assert_eq!(fake.level_of(big as u64), Level::Dram);
}

#[test]
fn context_switch_and_syscall_cost() {
    let Some(cpu) = sysbench::last_core() else {
        skipped(
            "context_switch_and_syscall_cost",
            "cannot read this process's CPU affinity",
        );
        return;
    };
    let c = sysbench::context_switch(scc_profiler::Policy::Other, cpu, 500).unwrap();
    println!("{c:?}");
    assert!(c.raw_ns > 100.0 && c.raw_ns < 1e6);
    match sysbench::context_switch(scc_profiler::Policy::Fifo, cpu, 200) {
        Ok(f) => println!("fifo {f:?}"),
        Err(e) => {
            assert!(
                !has_cap(CAP_SYS_NICE) || cpu == 0,
                "fifo with CAP_SYS_NICE: {e}"
            );
            skipped("context_switch_and_syscall_cost (fifo)", &e.to_string());
        }
    }
    let s = sysbench::syscall_cost(20_000).unwrap();
    println!("{s:?}");
    assert!(s.recvfrom_ns > 10.0 && s.getppid_ns > 10.0);
}

#[test]
fn tracepoint_ids_found_as_root() {
    match scc_profiler::counters::tracepoint_ids() {
        Ok(ids) => {
            assert!(ids.sys_enter.is_some() || !ids.net.is_empty());
            println!("{ids:?}");
        }
        Err(e) => {
            assert!(
                !has_cap(CAP_SYS_ADMIN),
                "with CAP_SYS_ADMIN a private tracefs mount works: {e}"
            );
            skipped("tracepoint_ids_found_as_root", &e.to_string());
        }
    }
}

/// The simulated fallback runs for real when valgrind is installed.
#[test]
fn cachegrind_simulates_a_program() {
    use scc_profiler::cachegrind;
    let version = match cachegrind::detect() {
        Ok(v) => v,
        Err(e) => {
            skipped("cachegrind_simulates_a_program", &e);
            return;
        }
    };
    let dir = std::env::temp_dir();
    let s = cachegrind::run(
        std::path::Path::new("/bin/true"),
        &[],
        Some((32 << 20, 16, 64)),
        &dir,
    )
    .unwrap();
    println!("{version}: {s:?}");
    assert!(s.d_refs > 1000 && s.d1_misses > 0 && s.d1_misses < s.d_refs);
    assert!(s.lld_misses <= s.d1_misses);
    let c = s.nf_counts("true", 1);
    assert!(c.simulated);
    let m = scc_profiler::model_nf(&c, &scc_profiler::LatencyTable::paper());
    assert!(m.simulated && m.terms.d1.is_some() && m.terms.d2.is_none());
}
