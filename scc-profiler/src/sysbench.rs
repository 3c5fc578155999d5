//! System benchmarks (`scc sysbench`): this host's latency table.
//!
//! - Memory latency by pointer chasing (lmbench `lat_mem_rd` style) for working sets of
//!   16 KiB..256 MiB and strides of 64..1024 B, both as a **random** pointer chase (each
//!   load depends on the previous one and the order defeats the prefetcher: the real
//!   latency; `memory` in JSON) and as lmbench's **strided** walk (`memory_strided`; the
//!   prefetcher hides most of the latency, as in the paper's Fig. 3).
//! - DTLB: a random chase over one cache line per 4 KiB page (huge pages disabled), over a
//!   few pages (L1 DTLB hits) and over more pages than the L1 DTLB holds (L2 DTLB hits).
//! - Cache levels and sizes through hwloc (sysfs as a fallback).
//! - Context-switch latency between two processes pinned to the last core (pipe ping-pong,
//!   lmbench `lat_ctx` style: the pipe's own cost is measured and subtracted) for the
//!   policies other, batch, fifo and rr. FIFO/RR are set only on the two child processes
//!   created for the measurement, never on core 0, bounded by `RLIMIT_RTTIME` and `alarm`.
//! - The cost of a network-I/O system call (an empty non-blocking `recvfrom`) and of a
//!   trivial one (`getppid`).
//!
//! [`SysbenchReport::latency_table`] turns the results into the [`LatencyTable`] the
//! model reads.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{LatencyTable, PerPolicy, Policy};

/// How long and how wide to measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SysbenchOptions {
    /// Working sets to measure (bytes).
    pub working_sets: Vec<usize>,
    /// Strides to measure (bytes).
    pub strides: Vec<usize>,
    /// Dependent loads timed per memory point.
    pub loads_per_point: usize,
    /// Timed repetitions per point (the median is reported).
    pub repetitions: usize,
    /// Ping-pong round trips per context-switch measurement.
    pub round_trips: usize,
    /// System calls timed per syscall measurement.
    pub syscalls: usize,
    /// Also measure the strided (prefetch-friendly) walk.
    pub strided: bool,
}

impl SysbenchOptions {
    /// The full run: every power of two from 16 KiB to 256 MiB, strides 64..1024 B.
    pub fn full() -> Self {
        SysbenchOptions {
            working_sets: (14..=28).map(|s| 1usize << s).collect(),
            strides: vec![64, 128, 256, 512, 1024],
            loads_per_point: 1_000_000,
            repetitions: 3,
            round_trips: 20_000,
            syscalls: 500_000,
            strided: true,
        }
    }

    /// A quick run (< 20 s on a 2-core VM): every size, three strides, fewer loads.
    pub fn quick() -> Self {
        SysbenchOptions {
            working_sets: (14..=28).map(|s| 1usize << s).collect(),
            strides: vec![64, 256, 1024],
            loads_per_point: 200_000,
            repetitions: 3,
            round_trips: 3_000,
            syscalls: 100_000,
            strided: true,
        }
    }
}

/// One memory-latency point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemPoint {
    /// Working set (KiB).
    pub working_set_kib: u64,
    /// Distance between the touched elements (bytes).
    pub stride_bytes: u64,
    /// Latency per dependent load (ns).
    pub ns: f64,
    /// The cache level the working set fits in (by the topology's sizes).
    pub level: Level,
}

/// A memory-hierarchy level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// L1 data cache.
    L1,
    /// L2 cache.
    L2,
    /// L3 cache.
    L3,
    /// Main memory.
    #[serde(rename = "DRAM")]
    Dram,
}

/// The host's CPU and cache topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Where the data came from (`hwloc` or `sysfs`).
    pub source: String,
    /// Physical packages.
    pub packages: u32,
    /// Cores.
    pub cores: u32,
    /// Logical processors.
    pub pus: u32,
    /// L1 data cache size (bytes).
    pub l1d_bytes: Option<u64>,
    /// L2 size (bytes).
    pub l2_bytes: Option<u64>,
    /// L3 size (bytes).
    pub l3_bytes: Option<u64>,
    /// Cache line size (bytes).
    pub line_bytes: Option<u32>,
    /// The CPU (`/proc/cpuinfo`: vendor, family, model, model name), if readable.
    #[serde(default)]
    pub cpu: Option<String>,
}

impl Topology {
    /// The level a working set of `bytes` fits in.
    pub fn level_of(&self, bytes: u64) -> Level {
        let fits = |c: Option<u64>| c.is_some_and(|c| bytes <= c);
        if fits(self.l1d_bytes) {
            Level::L1
        } else if fits(self.l2_bytes) {
            Level::L2
        } else if fits(self.l3_bytes) {
            Level::L3
        } else {
            Level::Dram
        }
    }
}

/// Reads the topology through hwloc; falls back to sysfs if hwloc is unusable.
/// (hwloc2's NUMA queries panic with hwloc 2.x libraries, so none are made.)
pub fn topology() -> Topology {
    let mut t = topology_hwloc().unwrap_or_else(topology_sysfs);
    t.cpu = cpu_id();
    t
}

/// `vendor family/model "model name"` from `/proc/cpuinfo`.
pub fn cpu_id() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let field = |k: &str| {
        text.lines()
            .find(|l| l.split(':').next().is_some_and(|n| n.trim() == k))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    Some(format!(
        "{} family {} model {} \"{}\"",
        field("vendor_id")?,
        field("cpu family").unwrap_or_default(),
        field("model").unwrap_or_default(),
        field("model name").unwrap_or_default()
    ))
}

fn topology_hwloc() -> Option<Topology> {
    use hwloc2::ObjectType;
    let topo = hwloc2::Topology::new()?;
    let count = |t: &ObjectType| {
        topo.objects_with_type(t)
            .map(|v| v.len() as u32)
            .unwrap_or(0)
    };
    let cache = |t: &ObjectType| -> (Option<u64>, Option<u32>) {
        match topo.objects_with_type(t) {
            Ok(v) => v
                .first()
                .and_then(|o| o.cache_attributes())
                .map(|a| (Some(a.size()), Some(a.linesize)))
                .unwrap_or((None, None)),
            Err(_) => (None, None),
        }
    };
    let (l1, line) = cache(&ObjectType::L1Cache);
    let (l2, _) = cache(&ObjectType::L2Cache);
    let (l3, _) = cache(&ObjectType::L3Cache);
    Some(Topology {
        source: "hwloc".into(),
        packages: count(&ObjectType::Package),
        cores: count(&ObjectType::Core),
        pus: count(&ObjectType::PU),
        l1d_bytes: l1,
        l2_bytes: l2,
        l3_bytes: l3,
        line_bytes: line,
        cpu: None,
    })
}

fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.strip_suffix('K') {
        Some(n) => (n, 1024),
        None => match s.strip_suffix('M') {
            Some(n) => (n, 1024 * 1024),
            None => (s, 1),
        },
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

fn topology_sysfs() -> Topology {
    let mut t = Topology {
        source: "sysfs".into(),
        packages: 1,
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        pus: 0,
        l1d_bytes: None,
        l2_bytes: None,
        l3_bytes: None,
        line_bytes: None,
        cpu: None,
    };
    t.pus = t.cores;
    for i in 0..8 {
        let base = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let rd = |f: &str| std::fs::read_to_string(format!("{base}/{f}")).ok();
        let (Some(level), Some(ty), Some(size)) = (rd("level"), rd("type"), rd("size")) else {
            continue;
        };
        let size = parse_size(&size);
        match (level.trim(), ty.trim()) {
            ("1", "Data") | ("1", "Unified") => {
                t.l1d_bytes = size;
                t.line_bytes = rd("coherency_line_size").and_then(|s| s.trim().parse().ok());
            }
            ("2", _) => t.l2_bytes = size,
            ("3", _) => t.l3_bytes = size,
            _ => {}
        }
    }
    t
}

/// A small xorshift generator (the chase only needs an unpredictable order).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Writes a cyclic chain through `n` slots at word offsets `slot(k)` into `buf`, in
/// sequential (`random == false`) or random single-cycle order (Sattolo's algorithm).
fn build_chain(
    buf: &mut [usize],
    n: usize,
    slot: impl Fn(usize) -> usize,
    random: bool,
    order: &mut Vec<usize>,
) {
    order.clear();
    order.extend(0..n);
    if random {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ n as u64);
        for i in (1..n).rev() {
            let j = rng.below(i);
            order.swap(i, j);
        }
    }
    for k in 0..n {
        let from = slot(order[k]);
        let to = slot(order[(k + 1) % n]);
        buf[from] = to;
    }
}

/// Follows the chain for `loads` dependent loads and returns the time per load (ns).
fn chase(buf: &[usize], start: usize, loads: usize) -> f64 {
    let mut i = start;
    // Warm up: one pass (bounded).
    for _ in 0..loads.min(buf.len()) {
        i = buf[i];
    }
    let t = Instant::now();
    let mut k = loads;
    while k >= 8 {
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        k -= 8;
    }
    while k > 0 {
        i = buf[i];
        k -= 1;
    }
    let el = t.elapsed();
    black_box(i);
    el.as_nanos() as f64 / loads.max(1) as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Measures memory latency for every working set and stride: random chase, and the
/// strided walk if `opts.strided`. Returns `(random, strided)`.
pub fn memory_latency(
    opts: &SysbenchOptions,
    topo: &Topology,
) -> Result<(Vec<MemPoint>, Vec<MemPoint>)> {
    let word = std::mem::size_of::<usize>();
    let max_ws = opts.working_sets.iter().copied().max().unwrap_or(0);
    if max_ws == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    if opts.strides.iter().any(|s| *s < word || s % word != 0) {
        return Err(Error::Invalid(format!(
            "strides must be multiples of {word} bytes: {:?}",
            opts.strides
        )));
    }
    let mut buf = vec![0usize; max_ws / word];
    // Touch every page now so page faults stay out of the timings.
    for (i, w) in buf.iter_mut().enumerate().step_by(4096 / word) {
        *w = i;
    }
    let mut order = Vec::new();
    let mut random = Vec::new();
    let mut strided = Vec::new();
    for &ws in &opts.working_sets {
        for &stride in &opts.strides {
            if stride > ws {
                continue;
            }
            let n = ws / stride;
            let step = stride / word;
            for (is_random, out) in [(true, &mut random), (false, &mut strided)] {
                if !is_random && !opts.strided {
                    continue;
                }
                build_chain(&mut buf, n, |k| k * step, is_random, &mut order);
                let mut reps: Vec<f64> = (0..opts.repetitions.max(1))
                    .map(|_| chase(&buf, 0, opts.loads_per_point))
                    .collect();
                out.push(MemPoint {
                    working_set_kib: (ws / 1024) as u64,
                    stride_bytes: stride as u64,
                    ns: median(&mut reps),
                    level: topo.level_of(ws as u64),
                });
            }
        }
    }
    Ok((random, strided))
}

/// DTLB latencies from a random chase over one line per 4 KiB page (huge pages off).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TlbLatency {
    /// Pages covered by the small chase (fits the L1 DTLB).
    pub small_pages: u32,
    /// Latency per load over the small page set (L1 hit + L1 DTLB hit, ns).
    pub small_ns: f64,
    /// Pages covered by the large chase (beyond the L1 DTLB, within the L2 DTLB).
    pub large_pages: u32,
    /// Latency per load over the large page set (L1 hit + L2 DTLB hit, ns).
    pub large_ns: f64,
    /// `large_ns - small_ns`: the extra cost of an L2 DTLB hit (ns, >= 0).
    pub l2_dtlb_hit_ns: f64,
}

/// Measures [`TlbLatency`]: 32 pages (fits a 64-entry L1 DTLB) vs 256 pages (beyond it,
/// within a >= 512-entry STLB); each page holds one line at a different cache set, so all
/// lines stay in L1 (16 KiB).
pub fn tlb_latency(loads: usize) -> Result<TlbLatency> {
    const PAGE: usize = 4096;
    let word = std::mem::size_of::<usize>();
    let pages_large = 256usize;
    let bytes = pages_large * PAGE;
    let mut buf = vec![0usize; bytes / word + PAGE / word];
    // Align to a page inside the vector.
    let base_addr = buf.as_ptr() as usize;
    let first = (PAGE - base_addr % PAGE) % PAGE / word;
    let region = &mut buf[first..first + bytes / word];
    // SAFETY: the range lies inside `region`, which we own and which stays alive; the
    // advice only changes whether the kernel backs it with huge pages.
    let rc = unsafe { libc::madvise(region.as_mut_ptr().cast(), bytes, libc::MADV_NOHUGEPAGE) };
    if rc != 0 {
        return Err(Error::last_os("madvise(MADV_NOHUGEPAGE)"));
    }
    for (i, w) in region.iter_mut().enumerate() {
        *w = i;
    }
    let slot = |p: usize| (p * PAGE + (p % 64) * 64) / word;
    let mut order = Vec::new();
    let mut run = |pages: usize| -> f64 {
        build_chain(region, pages, slot, true, &mut order);
        let mut v: Vec<f64> = (0..3).map(|_| chase(region, slot(0), loads)).collect();
        median(&mut v)
    };
    let small_ns = run(32);
    let large_ns = run(pages_large);
    Ok(TlbLatency {
        small_pages: 32,
        small_ns,
        large_pages: pages_large as u32,
        large_ns,
        l2_dtlb_hit_ns: (large_ns - small_ns).max(0.0),
    })
}

// ---------------------------------------------------------------------------------------
// Context switches: two forked children ping-pong over pipes on one core.

mod sys {
    //! Thin wrappers over the libc calls the context-switch benchmark needs. The child
    //! side runs after `fork` in a possibly multi-threaded parent, so it only makes raw
    //! system calls (no allocation, no locks).

    use std::io;

    /// A pipe's (read, write) ends.
    pub fn pipe() -> io::Result<(i32, i32)> {
        let mut fds = [0i32; 2];
        // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
        let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((fds[0], fds[1]))
    }

    /// Closes a descriptor we own.
    pub fn close(fd: i32) {
        // SAFETY: closing a descriptor this module created; double closes are avoided by
        // the callers.
        unsafe { libc::close(fd) };
    }

    /// Writes all of `buf` (retrying on EINTR); returns false on error.
    pub fn write_all(fd: i32, buf: &[u8]) -> bool {
        let mut off = 0;
        while off < buf.len() {
            // SAFETY: the pointer and length describe the live slice `buf[off..]`.
            let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
            if n < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return false;
            }
            off += n as usize;
        }
        true
    }

    /// Reads exactly `buf.len()` bytes; returns false on error or EOF.
    pub fn read_exact(fd: i32, buf: &mut [u8]) -> bool {
        let mut off = 0;
        while off < buf.len() {
            // SAFETY: the pointer and length describe the live slice `buf[off..]`.
            let n = unsafe { libc::read(fd, buf[off..].as_mut_ptr().cast(), buf.len() - off) };
            if n < 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return false;
            }
            if n == 0 {
                return false;
            }
            off += n as usize;
        }
        true
    }

    /// Monotonic clock in ns.
    pub fn now_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }

    /// Pins the calling process to `cpu`.
    pub fn pin(cpu: usize) -> io::Result<()> {
        // SAFETY: cpu_set_t is plain data; zeroed is its empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        if cpu >= libc::CPU_SETSIZE as usize {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // SAFETY: CPU_SET writes one bit of the local set; `cpu` < CPU_SETSIZE is checked.
        unsafe { libc::CPU_SET(cpu, &mut set) };
        // SAFETY: passes a valid cpu_set_t and its size for the calling process (pid 0).
        let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The CPUs the calling thread may run on.
    pub fn allowed_cpus() -> Vec<usize> {
        // SAFETY: cpu_set_t is plain data; zeroed is its empty set.
        let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        // SAFETY: passes a valid cpu_set_t and its size for the calling thread.
        let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
        if rc != 0 {
            return Vec::new();
        }
        (0..libc::CPU_SETSIZE as usize)
            // SAFETY: reads one bit of the local set, index < CPU_SETSIZE.
            .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
            .collect()
    }

    /// Sets the calling process's policy (priority 1 for the real-time ones).
    pub fn set_policy(policy: i32) -> io::Result<()> {
        let prio = if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
            1
        } else {
            0
        };
        let param = libc::sched_param {
            sched_priority: prio,
        };
        // SAFETY: passes a valid sched_param for the calling process (pid 0).
        let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Bounds the calling process: SIGKILL after `rt_us` of real-time CPU without
    /// blocking (RLIMIT_RTTIME) and SIGALRM after `secs` of wall time.
    pub fn bound(rt_us: u64, secs: u32) {
        let lim = libc::rlimit {
            rlim_cur: rt_us,
            rlim_max: rt_us,
        };
        // SAFETY: passes a valid rlimit for the calling process.
        unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &lim) };
        // SAFETY: alarm has no memory arguments.
        unsafe { libc::alarm(secs) };
    }

    /// fork(2). The child must only call async-signal-safe functions and `_exit`.
    pub fn fork() -> io::Result<i32> {
        // SAFETY: the child side (see `child_*` in the parent module) only makes raw
        // system calls and ends with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(pid)
    }

    /// Ends a forked child without running destructors or atexit handlers.
    pub fn exit(code: i32) -> ! {
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { libc::_exit(code) }
    }

    /// Waits for a child we forked, up to `timeout`; kills it (by its PID) on timeout.
    /// Returns whether it exited with status 0.
    pub fn wait_child(pid: i32, timeout: std::time::Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is a valid int.
            let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if r == pid {
                return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
            }
            if r < 0 {
                return false;
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: `pid` is a child this process forked and has not reaped.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: reaps the child we just killed.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}

/// The last CPU this process may use, if it is not core 0.
pub fn last_core() -> Option<usize> {
    sys::allowed_cpus().into_iter().max()
}

/// One context-switch measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CtxSwitch {
    /// The policy of both processes.
    pub policy: Policy,
    /// The core both were pinned to.
    pub cpu: usize,
    /// Half a ping-pong round trip (one switch plus one pipe write and read), ns.
    pub raw_ns: f64,
    /// One pipe write + read without switching, ns.
    pub pipe_overhead_ns: f64,
    /// `raw_ns - pipe_overhead_ns`: the context switch itself (lmbench's figure), ns.
    pub ns: f64,
}

const CHILD_FAIL_POLICY: u8 = 2;
/// Chunks per context-switch measurement; the fastest chunk counts.
const CHUNKS: u64 = 10;
const CHILD_FAIL_IO: u8 = 3;

/// Measures the context-switch latency between two processes pinned to `cpu` under
/// `policy`, with `round_trips` ping-pongs in 10 chunks; the fastest chunk of the pipe-only
/// loop and of the ping-pong are kept (other load only adds time). FIFO/RR need CAP_SYS_NICE; `cpu` 0 is refused
/// for them.
pub fn context_switch(
    policy: Policy,
    cpu: usize,
    round_trips: usize,
) -> std::result::Result<CtxSwitch, String> {
    if matches!(policy, Policy::Fifo | Policy::Rr) && cpu == 0 {
        return Err("refusing to run real-time tasks on core 0 (only core 0 is available)".into());
    }
    let kpol = policy.to_kernel();
    let p = |r: std::io::Result<(i32, i32)>| r.map_err(|e| format!("pipe: {e}"));
    let (a_r, a_w) = p(sys::pipe())?; // B -> A
    let (b_r, b_w) = p(sys::pipe())?; // A -> B
    let (res_r, res_w) = p(sys::pipe())?; // A -> parent: status byte + 3 u64
    let close_all = |fds: &[i32]| fds.iter().for_each(|f| sys::close(*f));
    let rounds = round_trips.max(1) as u64;
    // Real-time children may not run more than 2 s of CPU without blocking, nor live > 10 s.
    let bound = |rt| {
        if rt {
            sys::bound(2_000_000, 10);
        } else {
            sys::bound(u64::MAX, 10);
        }
    };
    let rt = matches!(policy, Policy::Fifo | Policy::Rr);

    // Child B: echo.
    let pid_b = match sys::fork() {
        Ok(0) => {
            close_all(&[a_r, b_w, res_r, res_w]);
            bound(rt);
            if sys::pin(cpu).is_err() || sys::set_policy(kpol).is_err() {
                sys::exit(CHILD_FAIL_POLICY as i32);
            }
            let mut tok = [0u8; 1];
            for _ in 0..(rounds / CHUNKS).max(1) * CHUNKS {
                if !sys::read_exact(b_r, &mut tok) || !sys::write_all(a_w, &tok) {
                    sys::exit(CHILD_FAIL_IO as i32);
                }
            }
            sys::exit(0);
        }
        Ok(pid) => pid,
        Err(e) => {
            close_all(&[a_r, a_w, b_r, b_w, res_r, res_w]);
            return Err(format!("fork: {e}"));
        }
    };
    // Child A: measures the pipe overhead alone, then the ping-pong.
    let pid_a = match sys::fork() {
        Ok(0) => {
            close_all(&[a_w, b_r, res_r]);
            bound(rt);
            let mut msg = [0u8; 25];
            if sys::pin(cpu).is_err() || sys::set_policy(kpol).is_err() {
                msg[0] = CHILD_FAIL_POLICY;
                sys::write_all(res_w, &msg);
                sys::exit(0);
            }
            let (s_r, s_w) = match sys::pipe() {
                Ok(x) => x,
                Err(_) => {
                    msg[0] = CHILD_FAIL_IO;
                    sys::write_all(res_w, &msg);
                    sys::exit(0);
                }
            };
            let mut tok = [7u8; 1];
            // CHUNKS chunks each; the fastest chunk of each kind is kept (preemptions by
            // other load only ever add time).
            let per = (rounds / CHUNKS).max(1);
            let mut best_pipe = u64::MAX;
            for _ in 0..CHUNKS {
                let t0 = sys::now_ns();
                for _ in 0..per {
                    if !sys::write_all(s_w, &tok) || !sys::read_exact(s_r, &mut tok) {
                        msg[0] = CHILD_FAIL_IO;
                        sys::write_all(res_w, &msg);
                        sys::exit(0);
                    }
                }
                best_pipe = best_pipe.min(sys::now_ns() - t0);
            }
            let mut best_pp = u64::MAX;
            for _ in 0..CHUNKS {
                let t0 = sys::now_ns();
                for _ in 0..per {
                    if !sys::write_all(b_w, &tok) || !sys::read_exact(a_r, &mut tok) {
                        msg[0] = CHILD_FAIL_IO;
                        sys::write_all(res_w, &msg);
                        sys::exit(0);
                    }
                }
                best_pp = best_pp.min(sys::now_ns() - t0);
            }
            msg[1..9].copy_from_slice(&best_pipe.to_ne_bytes());
            msg[9..17].copy_from_slice(&best_pp.to_ne_bytes());
            msg[17..25].copy_from_slice(&per.to_ne_bytes());
            sys::write_all(res_w, &msg);
            sys::exit(0);
        }
        Ok(pid) => pid,
        Err(e) => {
            close_all(&[a_r, a_w, b_r, b_w, res_r, res_w]);
            sys::wait_child(pid_b, Duration::from_millis(1));
            return Err(format!("fork: {e}"));
        }
    };
    // Parent: keep only the result pipe's read end.
    close_all(&[a_r, a_w, b_r, b_w, res_w]);
    let mut msg = [0u8; 25];
    let got = sys::read_exact(res_r, &mut msg);
    sys::close(res_r);
    let timeout = Duration::from_secs(12);
    let ok_a = sys::wait_child(pid_a, timeout);
    let _ok_b = sys::wait_child(pid_b, timeout);
    if !got || !ok_a {
        return Err("measurement process failed or timed out".into());
    }
    match msg[0] {
        0 => {}
        CHILD_FAIL_POLICY => {
            return Err(format!(
                "cannot set policy {policy} on core {cpu}: not permitted (needs CAP_SYS_NICE / root for fifo and rr)"
            ));
        }
        _ => return Err("pipe I/O failed in the measurement process".into()),
    }
    let u = |r: std::ops::Range<usize>| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&msg[r]);
        u64::from_ne_bytes(b)
    };
    let (pipe_ns, pp_ns, n) = (u(1..9), u(9..17), u(17..25).max(1));
    let pipe_overhead_ns = pipe_ns as f64 / n as f64;
    let raw_ns = pp_ns as f64 / n as f64 / 2.0;
    if raw_ns <= pipe_overhead_ns {
        return Err(format!(
            "too noisy: the pipe alone ({pipe_overhead_ns:.0} ns) took longer than half a round trip ({raw_ns:.0} ns)"
        ));
    }
    Ok(CtxSwitch {
        policy,
        cpu,
        raw_ns,
        pipe_overhead_ns,
        ns: raw_ns - pipe_overhead_ns,
    })
}

// ---------------------------------------------------------------------------------------
// System calls.

/// System-call costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyscallCost {
    /// An empty non-blocking `recvfrom` on a socket (ns per call).
    pub recvfrom_ns: f64,
    /// The socket used (`AF_PACKET` if permitted, else `AF_INET/UDP`).
    pub socket: String,
    /// A trivial system call, `getppid` (ns per call).
    pub getppid_ns: f64,
}

/// Measures [`SyscallCost`] with `calls` calls each. No packet is sent or received: the
/// AF_PACKET socket has protocol 0 (receives nothing) and the UDP socket is unbound.
pub fn syscall_cost(calls: usize) -> Result<SyscallCost> {
    // SAFETY: plain socket creation; the fd is closed below.
    let mut fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
    let mut kind = "AF_PACKET (protocol 0)";
    if fd < 0 {
        // SAFETY: plain socket creation; the fd is closed below.
        fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        kind = "AF_INET/UDP (AF_PACKET not permitted)";
    }
    if fd < 0 {
        return Err(Error::last_os("socket"));
    }
    let mut buf = [0u8; 64];
    let calls = calls.max(1);
    let t = Instant::now();
    for _ in 0..calls {
        // SAFETY: `buf` is a valid writable buffer of the given length; null address is
        // allowed by recvfrom.
        let r = unsafe {
            libc::recvfrom(
                fd,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        black_box(r);
    }
    let recvfrom_ns = t.elapsed().as_nanos() as f64 / calls as f64;
    sys::close(fd);
    let t = Instant::now();
    for _ in 0..calls {
        // SAFETY: getppid has no arguments and cannot fail.
        black_box(unsafe { libc::syscall(libc::SYS_getppid) });
    }
    let getppid_ns = t.elapsed().as_nanos() as f64 / calls as f64;
    Ok(SyscallCost {
        recvfrom_ns,
        socket: kind.into(),
        getppid_ns,
    })
}

// ---------------------------------------------------------------------------------------
// The report.

/// Context-switch results per policy; the values in `context_switch_ns` of the JSON.
pub type CtxSwitchNs = PerPolicy;

/// Everything `scc sysbench` measures. JSON keys `memory`, `context_switch_ns`,
/// `syscall_ns` and `topology` are a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SysbenchReport {
    /// Random pointer chase: `{working_set_kib, stride_bytes, ns, level}` per point.
    pub memory: Vec<MemPoint>,
    /// lmbench-style strided walk (prefetch-friendly), same shape.
    pub memory_strided: Vec<MemPoint>,
    /// Context-switch latency (net of the pipe cost) per policy: `{other, batch, fifo,
    /// rr}`; `null` when unavailable (see `unavailable`).
    pub context_switch_ns: CtxSwitchNs,
    /// Each context-switch measurement in detail.
    pub context_switch: Vec<CtxSwitch>,
    /// The network-I/O system call's cost (empty non-blocking `recvfrom`), ns.
    pub syscall_ns: f64,
    /// System-call details.
    pub syscalls: SyscallCost,
    /// DTLB measurement, if it ran.
    pub tlb: Option<TlbLatency>,
    /// CPU and cache topology.
    pub topology: Topology,
    /// What could not be measured and why, keyed by item (e.g. `context_switch_ns.fifo`).
    pub unavailable: BTreeMap<String, String>,
    /// `quick` or `full`.
    pub mode: String,
    /// Wall time of the whole run (s).
    pub duration_s: f64,
}

/// How to pick one latency per level from the memory points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pick {
    /// The slowest stride at the level's representative working set (the paper's choice).
    #[default]
    Worst,
    /// The median over strides.
    Median,
    /// The fastest stride.
    Best,
}

impl SysbenchReport {
    /// Runs every benchmark.
    pub fn run(opts: &SysbenchOptions, quick: bool) -> Result<SysbenchReport> {
        let t0 = Instant::now();
        let topology = topology();
        let (memory, memory_strided) = memory_latency(opts, &topology)?;
        let mut unavailable = BTreeMap::new();
        let tlb = match tlb_latency(opts.loads_per_point.min(1_000_000)) {
            Ok(t) => Some(t),
            Err(e) => {
                unavailable.insert("tlb".into(), e.to_string());
                None
            }
        };
        let mut switches = Vec::new();
        let mut cs = PerPolicy::default();
        match last_core() {
            None => {
                for p in Policy::ALL {
                    unavailable.insert(
                        format!("context_switch_ns.{p}"),
                        "cannot read this process's CPU affinity".into(),
                    );
                }
            }
            Some(cpu) => {
                for p in Policy::ALL {
                    match context_switch(p, cpu, opts.round_trips) {
                        Ok(c) => {
                            cs.set(p, Some(c.ns));
                            switches.push(c);
                        }
                        Err(e) => {
                            unavailable.insert(format!("context_switch_ns.{p}"), e);
                        }
                    }
                }
            }
        }
        let syscalls = syscall_cost(opts.syscalls)?;
        Ok(SysbenchReport {
            memory,
            memory_strided,
            context_switch_ns: cs,
            context_switch: switches,
            syscall_ns: syscalls.recvfrom_ns,
            syscalls,
            tlb,
            topology,
            unavailable,
            mode: if quick { "quick" } else { "full" }.into(),
            duration_s: t0.elapsed().as_secs_f64(),
        })
    }

    /// `run(&SysbenchOptions::quick(), true)`.
    pub fn quick() -> Result<SysbenchReport> {
        Self::run(&SysbenchOptions::quick(), true)
    }

    /// The working set representing each level: L1: the largest <= L1/2; L2: the largest
    /// in (L1, L2/2]; L3: the largest in (L2, 4*L2] (only part of a shared or virtual L3
    /// is really ours: on this VM 4 MiB of a "32 MiB" L3 already behaves like DRAM); DRAM:
    /// the largest measured, if >= 2*L3.
    pub fn representative_ws_kib(&self, level: Level) -> Option<u64> {
        let t = &self.topology;
        let limit = match level {
            Level::L1 => t.l1d_bytes.map(|l| l / 2),
            Level::L2 => t.l2_bytes.map(|l| l / 2),
            Level::L3 => t.l2_bytes.zip(t.l3_bytes).map(|(a, b)| (4 * a).min(b)),
            Level::Dram => None,
        };
        let lower = match level {
            Level::L1 => Some(0),
            Level::L2 => t.l1d_bytes,
            Level::L3 => t.l2_bytes,
            Level::Dram => t.l3_bytes.map(|l| l * 2),
        }?;
        let sizes = self.memory.iter().map(|p| p.working_set_kib * 1024);
        match limit {
            Some(lim) => sizes
                .filter(|s| *s > lower && *s <= lim)
                .max()
                .map(|b| b / 1024),
            None => sizes.filter(|s| *s >= lower).max().map(|b| b / 1024),
        }
    }

    /// One latency for a level: [`Pick`] over the strides at the representative working
    /// set (random chase).
    pub fn level_ns(&self, level: Level, pick: Pick) -> Option<f64> {
        let ws = self.representative_ws_kib(level)?;
        let mut v: Vec<f64> = self
            .memory
            .iter()
            .filter(|p| p.working_set_kib == ws)
            .map(|p| p.ns)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        Some(match pick {
            Pick::Worst => v[v.len() - 1],
            Pick::Best => v[0],
            Pick::Median => v[v.len() / 2],
        })
    }

    /// The host's latency table for the model.
    pub fn latency_table(&self, pick: Pick) -> LatencyTable {
        let mut notes = BTreeMap::new();
        let mut level = |l: Level, field: &str| {
            let v = self.level_ns(l, pick);
            match (v, self.representative_ws_kib(l)) {
                (Some(_), Some(ws)) => {
                    notes.insert(
                        field.to_string(),
                        format!("random chase, {pick:?} over strides at {ws} KiB"),
                    );
                }
                _ => {
                    notes.insert(
                        field.to_string(),
                        format!(
                            "no working set measured for {l:?} (cache size unknown or not measured)"
                        ),
                    );
                }
            }
            v
        };
        let l1 = level(Level::L1, "l1_ns");
        let l2 = level(Level::L2, "l2_ns");
        let l3 = level(Level::L3, "l3_ns");
        let dram = level(Level::Dram, "dram_ns");
        let (l1_dtlb, l2_dtlb) = match &self.tlb {
            Some(t) => {
                notes.insert(
                    "l1_dtlb_ns".into(),
                    "0: an L1 DTLB hit overlaps the (VIPT) L1 access, its cost is inside l1_ns"
                        .into(),
                );
                notes.insert(
                    "l2_dtlb_ns".into(),
                    format!(
                        "{} pages vs {} pages, one L1-resident line per page",
                        t.large_pages, t.small_pages
                    ),
                );
                (Some(0.0), Some(t.l2_dtlb_hit_ns))
            }
            None => {
                let why = self.unavailable.get("tlb").cloned().unwrap_or_default();
                notes.insert("l1_dtlb_ns".into(), format!("DTLB not measured: {why}"));
                notes.insert("l2_dtlb_ns".into(), format!("DTLB not measured: {why}"));
                (None, None)
            }
        };
        for (k, v) in &self.unavailable {
            notes.insert(k.clone(), v.clone());
        }
        LatencyTable {
            source: format!("sysbench {} ({})", self.mode, self.topology.source),
            l1_ns: l1,
            l2_ns: l2,
            l3_ns: l3,
            dram_ns: dram,
            l1_dtlb_ns: l1_dtlb,
            l2_dtlb_ns: l2_dtlb,
            context_switch_ns: self.context_switch_ns,
            syscall_ns: Some(self.syscall_ns),
            notes,
        }
    }

    /// Saves as JSON (`.json`) or TOML (anything else).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))?
        } else {
            toml::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))?
        };
        std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
    }

    /// Loads a report saved by [`SysbenchReport::save`].
    pub fn load(path: &Path) -> Result<SysbenchReport> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| Error::Serde(format!("{}: {e}", path.display())))
        } else {
            toml::from_str(&text).map_err(|e| Error::Serde(format!("{}: {e}", path.display())))
        }
    }

    /// A human-readable table.
    pub fn render_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let t = &self.topology;
        let kib = |b: Option<u64>| b.map(|b| format!("{} KiB", b / 1024)).unwrap_or("?".into());
        let _ = writeln!(
            s,
            "topology ({}): {}; {} package(s), {} core(s), {} PU(s); L1d {}, L2 {}, L3 {}",
            t.source,
            t.cpu.as_deref().unwrap_or("unknown CPU"),
            t.packages,
            t.cores,
            t.pus,
            kib(t.l1d_bytes),
            kib(t.l2_bytes),
            kib(t.l3_bytes)
        );
        let strides: Vec<u64> = {
            let mut v: Vec<u64> = self.memory.iter().map(|p| p.stride_bytes).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for (title, pts) in [
            ("memory latency, random chase (ns/load)", &self.memory),
            (
                "memory latency, strided walk (ns/load)",
                &self.memory_strided,
            ),
        ] {
            if pts.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n{title}");
            let _ = write!(s, "{:>12} {:>5}", "working set", "level");
            for st in &strides {
                let _ = write!(s, " {:>8}", format!("{st} B"));
            }
            let _ = writeln!(s);
            let mut sizes: Vec<u64> = pts.iter().map(|p| p.working_set_kib).collect();
            sizes.sort_unstable();
            sizes.dedup();
            for ws in sizes {
                let lvl = pts
                    .iter()
                    .find(|p| p.working_set_kib == ws)
                    .map(|p| p.level);
                let _ = write!(
                    s,
                    "{:>8} KiB {:>5}",
                    ws,
                    lvl.map(|l| format!("{l:?}")).unwrap_or_default()
                );
                for st in &strides {
                    match pts
                        .iter()
                        .find(|p| p.working_set_kib == ws && p.stride_bytes == *st)
                    {
                        Some(p) => {
                            let _ = write!(s, " {:>8.2}", p.ns);
                        }
                        None => {
                            let _ = write!(s, " {:>8}", "-");
                        }
                    }
                }
                let _ = writeln!(s);
            }
        }
        if let Some(tl) = &self.tlb {
            let _ = writeln!(
                s,
                "\nDTLB: {} pages {:.2} ns, {} pages {:.2} ns -> L2 DTLB hit +{:.2} ns",
                tl.small_pages, tl.small_ns, tl.large_pages, tl.large_ns, tl.l2_dtlb_hit_ns
            );
        }
        let _ = writeln!(
            s,
            "\ncontext switch (two processes, one core, pipe ping-pong)"
        );
        for p in Policy::ALL {
            match self.context_switch.iter().find(|c| c.policy == p) {
                Some(c) => {
                    let _ = writeln!(
                        s,
                        "  {:<6} {:>8.0} ns  (half round trip {:.0} ns - pipe {:.0} ns, core {})",
                        p.name(),
                        c.ns,
                        c.raw_ns,
                        c.pipe_overhead_ns,
                        c.cpu
                    );
                }
                None => {
                    let why = self
                        .unavailable
                        .get(&format!("context_switch_ns.{p}"))
                        .map(String::as_str)
                        .unwrap_or("not measured");
                    let _ = writeln!(s, "  {:<6} unavailable: {why}", p.name());
                }
            }
        }
        let _ = writeln!(
            s,
            "\nsyscalls: network I/O (empty recvfrom, {}) {:.0} ns; getppid {:.0} ns",
            self.syscalls.socket, self.syscalls.recvfrom_ns, self.syscalls.getppid_ns
        );
        let _ = writeln!(s, "({} mode, {:.1} s)", self.mode, self.duration_s);
        s
    }
}

impl std::fmt::Display for SysbenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render_table())
    }
}

/// Loads a latency table: a preset name (`paper`), a saved [`SysbenchReport`] (JSON or
/// TOML; the worst case per level is used) or a saved [`LatencyTable`].
pub fn load_latency_table(spec: &str) -> Result<LatencyTable> {
    if let Some(t) = LatencyTable::preset(spec) {
        return Ok(t);
    }
    let path = Path::new(spec);
    if let Ok(r) = SysbenchReport::load(path) {
        return Ok(r.latency_table(Pick::Worst));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("read {spec}"), e))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        Error::Serde(format!(
            "{spec} is neither a sysbench report nor a latency table: {e}"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sizes() {
        assert_eq!(parse_size("32K\n"), Some(32 * 1024));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn chain_is_a_single_cycle() {
        let mut buf = vec![0usize; 1024];
        let mut order = Vec::new();
        build_chain(&mut buf, 128, |k| k * 8, true, &mut order);
        let mut i = 0;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..128 {
            assert!(seen.insert(i));
            i = buf[i];
        }
        assert_eq!(i, 0);
    }

    #[test]
    fn level_of_uses_sizes() {
        let t = Topology {
            source: "t".into(),
            packages: 1,
            cores: 2,
            pus: 2,
            l1d_bytes: Some(32 << 10),
            l2_bytes: Some(1 << 20),
            l3_bytes: Some(32 << 20),
            line_bytes: Some(64),
            cpu: None,
        };
        assert_eq!(t.level_of(16 << 10), Level::L1);
        assert_eq!(t.level_of(64 << 10), Level::L2);
        assert_eq!(t.level_of(4 << 20), Level::L3);
        assert_eq!(t.level_of(256 << 20), Level::Dram);
    }
}
