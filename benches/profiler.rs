//! The profiler's overhead: forwarding rate of a router loop with and without an
//! `scc_profiler::counters::Session` attached to the process (software events, hardware
//! events where a PMU exists, syscall tracepoints), as a ratio measured in one run.
//! Target: profiled at most 5% slower.
//!
//! The loop: a busy forwarding loop over `scc_io::mem` ports (scc-nf's router was not yet
//! usable when this bench was written): receive a batch of 32 64-byte IPv4 frames, do a
//! router's per-frame work (check Ethernet/IPv4, decrement TTL with an RFC 1624 incremental
//! checksum update, rewrite MACs), send the batch on, drain it at a sink, and make one
//! empty non-blocking `recvfrom` per batch on a UDP socket (standing in for the batch's
//! I/O system call, so the syscall tracepoints have something to count).
//!
//! `cargo bench --bench profiler -- --warm-up-time 1 --measurement-time 3`
//! Besides criterion's two timings it prints `profiled/unprofiled` time per batch from an
//! interleaved A/B run (median of rounds).

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use scc_io::mem::{MemPort, pair};
use scc_io::{Batch, Port};
use scc_profiler::counters::{Session, SessionOptions};

const BATCH: usize = 32;

struct Loop {
    gen_tx: MemPort,
    fwd_in: MemPort,
    fwd_out: MemPort,
    sink: MemPort,
    input: Batch,
    work: Batch,
    drain: Batch,
    sock: UdpSocket,
    forwarded: u64,
    dropped: u64,
}

fn frame(i: u8) -> [u8; 64] {
    let mut f = [0u8; 64];
    f[12] = 0x08; // EtherType IPv4
    f[14] = 0x45; // version 4, IHL 5
    f[16] = 0;
    f[17] = 50; // total length
    f[22] = 64; // TTL
    f[23] = 17; // UDP
    f[26..30].copy_from_slice(&[198, 18, 0, 1]);
    f[30..34].copy_from_slice(&[198, 19, 0, i]);
    // IPv4 header checksum.
    let mut sum = 0u32;
    for k in (14..34).step_by(2) {
        sum += u16::from_be_bytes([f[k], f[k + 1]]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    f
}

impl Loop {
    fn new() -> Loop {
        let (gen_tx, fwd_in) = pair("gen", "fwd-in", 256, 2048).unwrap();
        let (fwd_out, sink) = pair("fwd-out", "sink", 256, 2048).unwrap();
        let mut input = Batch::with_capacity(BATCH).unwrap();
        for i in 0..BATCH {
            input.push(&frame(i as u8)).unwrap();
        }
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        Loop {
            gen_tx,
            fwd_in,
            fwd_out,
            sink,
            input,
            work: Batch::with_capacity(BATCH).unwrap(),
            drain: Batch::with_capacity(BATCH).unwrap(),
            sock,
            forwarded: 0,
            dropped: 0,
        }
    }

    /// One batch through generator -> router -> sink.
    fn step(&mut self) {
        self.gen_tx.send_batch(&self.input).unwrap();
        let mut buf = [0u8; 64];
        let _ = black_box(self.sock.recv_from(&mut buf));
        self.work.clear();
        self.fwd_in.recv_batch(&mut self.work).unwrap();
        self.work
            .retain(|_, f| f.len() >= 34 && f[12] == 0x08 && f[13] == 0 && f[22] > 1);
        for i in 0..self.work.len() {
            let f = self.work.frame_mut(i);
            // TTL decrement with incremental checksum (RFC 1624): HC' = ~(~HC + ~m + m').
            let old = u16::from_be_bytes([f[22], f[23]]);
            f[22] -= 1;
            let new = u16::from_be_bytes([f[22], f[23]]);
            let hc = u16::from_be_bytes([f[24], f[25]]);
            let mut sum = (!hc as u32) + (!old as u32) + new as u32;
            while sum > 0xffff {
                sum = (sum & 0xffff) + (sum >> 16);
            }
            f[24..26].copy_from_slice(&(!(sum as u16)).to_be_bytes());
            f[0..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 2]);
            f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
        }
        let sent = self.fwd_out.send_batch(&self.work).unwrap();
        self.forwarded += sent as u64;
        self.dropped += (BATCH - sent) as u64;
        self.drain.clear();
        self.sink.recv_batch(&mut self.drain).unwrap();
        black_box(self.drain.len());
    }
}

fn attach(opts: &SessionOptions) -> Session {
    let mut s = Session::attach(&[std::process::id() as i32], opts).unwrap();
    s.start().unwrap();
    s
}

/// Interleaved A/B: time `batches` steps without and with a session, `rounds` times.
fn ratio(opts: &SessionOptions, rounds: usize, batches: usize) -> (f64, f64, f64) {
    let mut l = Loop::new();
    for _ in 0..batches {
        l.step();
    }
    let mut ratios = Vec::new();
    let (mut a_ns, mut b_ns) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..batches {
            l.step();
        }
        let a = t.elapsed().as_nanos() as f64 / batches as f64;
        let mut s = attach(opts);
        let t = Instant::now();
        for _ in 0..batches {
            l.step();
        }
        let b = t.elapsed().as_nanos() as f64 / batches as f64;
        let r = s.stop().unwrap();
        black_box(r);
        ratios.push(b / a);
        a_ns.push(a);
        b_ns.push(b);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[v.len() / 2]
    };
    (med(&mut a_ns), med(&mut b_ns), med(&mut ratios))
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("profiler_overhead");
    g.throughput(criterion::Throughput::Elements(BATCH as u64));
    let mut l = Loop::new();
    g.bench_function("forward_unprofiled", |b| b.iter(|| l.step()));
    let mut s = attach(&SessionOptions::default());
    g.bench_function("forward_profiled", |b| b.iter(|| l.step()));
    let counters = s.stop().unwrap();
    g.finish();
    assert_eq!(l.dropped, 0, "the loop must not drop");

    let full = SessionOptions::default();
    let software = SessionOptions {
        software: true,
        hardware: true,
        syscalls: false,
        all_syscalls: false,
    };
    let all = SessionOptions {
        all_syscalls: true,
        ..full.clone()
    };
    for (name, opts) in [
        ("software+hw events", &software),
        ("+ net-I/O syscall tracepoints (default)", &full),
        ("+ all-syscalls tracepoint", &all),
    ] {
        let (a, b, r) = ratio(opts, 11, 20_000);
        println!(
            "profiler overhead [{name}] (interleaved A/B, median of 11 rounds x 20000 batches of {BATCH}): \
             unprofiled {:.0} ns/batch ({:.2} Mpps), profiled {:.0} ns/batch ({:.2} Mpps), \
             profiled/unprofiled time = {r:.3} (target <= 1.05)",
            a,
            BATCH as f64 / a * 1e3,
            b,
            BATCH as f64 / b * 1e3,
        );
    }
    // The cost a syscall tracepoint adds to one (empty, non-blocking) network-I/O syscall.
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_nonblocking(true).unwrap();
    let per_call = |n: usize| {
        let mut buf = [0u8; 64];
        let t = Instant::now();
        for _ in 0..n {
            let _ = black_box(sock.recv_from(&mut buf));
        }
        t.elapsed().as_nanos() as f64 / n as f64
    };
    let mut added = Vec::new();
    let mut bare = Vec::new();
    for _ in 0..11 {
        let a = per_call(50_000);
        let mut s = attach(&full);
        let b = per_call(50_000);
        black_box(s.stop().unwrap());
        added.push(b - a);
        bare.push(a);
    }
    added.sort_by(|x, y| x.total_cmp(y));
    bare.sort_by(|x, y| x.total_cmp(y));
    println!(
        "empty recvfrom: {:.0} ns bare, +{:.0} ns with the default session (median of 11)",
        bare[5], added[5]
    );
    let c0 = &counters[0];
    let show = |k: &str| match c0.counters.get(k) {
        Some(m) => match m.value() {
            Some(v) => format!("{v:.0}"),
            None => "unavailable".into(),
        },
        None => "-".into(),
    };
    println!(
        "counters during forward_profiled: task_clock_ns {}, context_switches {}, syscalls {}, recvfrom {}, cycles {}",
        show("task_clock_ns"),
        show("context_switches"),
        show("syscalls"),
        show("sys_enter_recvfrom"),
        show("cycles"),
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
