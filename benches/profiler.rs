//! The profiler's overhead: forwarding rate of a router loop with and without an
//! `scc_profiler::counters::Session` attached to the process (software events, hardware
//! events where a PMU exists, syscall tracepoints), as a ratio measured in one run.
//! Target: profiled at most 5% slower.
//!
//! The loop: scc-nf's `router` preset (Click's IP router: classify, strip, CheckIpHeader,
//! IpLookup, DecIpTtl, MtuCheck, EtherEncap) as an `scc_nf::nf::Nf` between `scc_io::mem`
//! ports, driven with `poll_once`: a generator sends a batch of 32 64-byte UDP/IPv4 frames,
//! the router forwards it, a sink drains it; plus one empty non-blocking `recvfrom` per
//! batch on a UDP socket, standing in for the batch's I/O system call (mem ports make none),
//! so the syscall tracepoints have something to count.
//!
//! Then (with CAP_SYS_ADMIN) the same router on a veth pair in a fresh, anonymous network
//! namespace with mmsg ports (batch 32: real sendmmsg/recvmmsg on every batch), A/B again.
//!
//! `cargo bench --bench profiler -- --warm-up-time 1 --measurement-time 3`
//! Besides criterion's two timings it prints `profiled/unprofiled` time per batch from an
//! interleaved A/B run (median of rounds).

use std::hint::black_box;
use std::net::UdpSocket;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use std::net::Ipv4Addr;

use scc_io::link::VethPair;
use scc_io::mem::pair;
use scc_io::netns::NetNs;
use scc_io::{Batch, Driver, Port, PortConfig, PortStats, open_port, wait_running};
use scc_nf::config::{Env, NfConfig, PollMode, Preset, build_pipeline};
use scc_nf::nf::{Nf, NfOptions};
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::UdpFrame;
use scc_profiler::counters::{Session, SessionOptions};

const BATCH: usize = 32;

/// generator -> (mem) -> scc-nf router -> (mem) -> sink, all driven from one thread.
struct Loop {
    gen_tx: Box<dyn Port>,
    nf: Nf,
    sink: Box<dyn Port>,
    /// Make the stand-in syscall (mem ports only; veth ports make real ones).
    stand_in: bool,
    input: Batch,
    drain: Batch,
    sock: UdpSocket,
    forwarded: u64,
    sent: u64,
}

fn frame(i: u8) -> Vec<u8> {
    let spec = UdpFrame {
        src_mac: MacAddr([0x02, 0, 0, 0, 0, 0x11]),
        dst_mac: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        src_ip: Ipv4Addr::new(198, 18, 0, 1),
        dst_ip: Ipv4Addr::new(198, 19, 0, i),
        src_port: 4000,
        dst_port: 5000,
        ttl: 64,
        ident: i as u16,
        dont_frag: false,
        udp_checksum: true,
    };
    let mut b = vec![0u8; 64];
    let n = spec.write(&mut b, &[0xab; 22]).unwrap();
    b.truncate(n);
    b
}

fn router_nf(ports: Vec<Box<dyn Port>>, map: Vec<usize>) -> Nf {
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes: vec!["198.18.0.0/15".into()],
        ..Default::default()
    };
    let env = Env {
        src_mac: MacAddr([0x02, 0, 0, 0, 0, 0xaa]),
        gw_mac: Some(MacAddr([0x02, 0, 0, 0, 0, 0x22])),
        addrs: vec![Ipv4Addr::new(198, 18, 0, 254)],
        mtu: 1500,
        icmp_rate: 1000,
    };
    let pipeline = build_pipeline(&cfg, &env).unwrap();
    let opts = NfOptions {
        name: "router".into(),
        kind: "router".into(),
        batch: BATCH,
        frame_size: 2048,
        poll: PollMode::Busy,
        spin: Duration::from_micros(0),
        stats_file: None,
    };
    Nf::new(pipeline, ports, map, opts).unwrap()
}

impl Loop {
    /// Over mem ports: generator -> router -> sink, plus a stand-in syscall per batch.
    fn mem() -> Loop {
        let (gen_tx, fwd_in) = pair("gen", "fwd-in", 256, 2048).unwrap();
        let (fwd_out, sink) = pair("fwd-out", "sink", 256, 2048).unwrap();
        let nf = router_nf(vec![Box::new(fwd_in), Box::new(fwd_out)], vec![0, 1]);
        Loop::with(Box::new(gen_tx), nf, Box::new(sink), true)
    }

    /// Over a veth pair (mmsg ports, batch 32, in the calling thread's namespace): the
    /// generator/sink socket on `a`, the router reading and writing `b`.
    fn veth(a: &str, b: &str) -> Loop {
        let cfg = |i: &str| PortConfig::new(i, Driver::Mmsg, BATCH);
        let gen_sink = open_port(&cfg(a)).unwrap();
        let nf = router_nf(vec![open_port(&cfg(b)).unwrap()], vec![0, 0]);
        // The same socket generates and drains.
        Loop::with(gen_sink, nf, Box::new(NoPort), false)
    }

    fn with(gen_tx: Box<dyn Port>, nf: Nf, sink: Box<dyn Port>, stand_in: bool) -> Loop {
        let mut input = Batch::with_capacity(BATCH).unwrap();
        for i in 0..BATCH {
            input.push(&frame(i as u8 + 1)).unwrap();
        }
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_nonblocking(true).unwrap();
        Loop {
            gen_tx,
            nf,
            sink,
            stand_in,
            input,
            drain: Batch::with_capacity(BATCH).unwrap(),
            sock,
            forwarded: 0,
            sent: 0,
        }
    }

    /// One batch through generator -> router -> sink.
    fn step(&mut self) {
        self.sent += self.gen_tx.send_batch(&self.input).unwrap() as u64;
        if self.stand_in {
            let mut buf = [0u8; 64];
            let _ = black_box(self.sock.recv_from(&mut buf));
        }
        self.nf.poll_once().unwrap();
        self.drain.clear();
        let got = if self.stand_in {
            self.sink.recv_batch(&mut self.drain).unwrap()
        } else {
            self.gen_tx.recv_batch(&mut self.drain).unwrap()
        };
        self.forwarded += got as u64;
        black_box(self.drain.len());
    }
}

/// Placeholder sink for the veth loop (the generator's socket drains).
struct NoPort;

impl Port for NoPort {
    fn recv_batch(&mut self, _: &mut Batch) -> scc_io::Result<usize> {
        Ok(0)
    }
    fn send_frames(&mut self, _: &Batch, _: &[u16]) -> scc_io::Result<usize> {
        Ok(0)
    }
    fn wait_readable(&mut self, _: Option<Duration>) -> scc_io::Result<bool> {
        Ok(false)
    }
    fn stats(&mut self) -> PortStats {
        PortStats::default()
    }
    fn driver(&self) -> Driver {
        Driver::Mem
    }
    fn name(&self) -> &str {
        "none"
    }
}

fn attach(opts: &SessionOptions) -> Session {
    let mut s = Session::attach(&[std::process::id() as i32], opts).unwrap();
    s.start().unwrap();
    s
}

/// Interleaved A/B: time `batches` steps without and with a session, `rounds` times.
fn ratio(l: &mut Loop, opts: &SessionOptions, rounds: usize, batches: usize) -> (f64, f64, f64) {
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
    let mut l = Loop::mem();
    g.bench_function("forward_unprofiled", |b| b.iter(|| l.step()));
    let mut s = attach(&SessionOptions::default());
    g.bench_function("forward_profiled", |b| b.iter(|| l.step()));
    let counters = s.stop().unwrap();
    g.finish();
    assert_eq!(l.forwarded, l.sent, "the router must forward every frame");

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
        let (a, b, r) = ratio(&mut Loop::mem(), opts, 101, 2_000);
        println!(
            "profiler overhead [{name}] (interleaved A/B, median of 101 rounds x 2000 batches of {BATCH}): \
             unprofiled {:.0} ns/batch ({:.2} Mpps), profiled {:.0} ns/batch ({:.2} Mpps), \
             profiled/unprofiled time = {r:.3} (target <= 1.05)",
            a,
            BATCH as f64 / a * 1e3,
            b,
            BATCH as f64 / b * 1e3,
        );
    }
    veth_overhead(&software, &full);

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

/// The same router on a veth pair in a fresh network namespace (real recvmmsg/sendmmsg per
/// batch). Needs CAP_SYS_ADMIN (a user namespace would forbid kernel-side perf counting).
fn veth_overhead(software: &SessionOptions, full: &SessionOptions) {
    if !scc_io::netns::have_sys_admin() {
        println!("veth variant skipped: needs CAP_SYS_ADMIN (root) to make a network namespace");
        return;
    }
    let ns = NetNs::new().unwrap();
    let _pair = VethPair::create_in(&ns, "pa", "pb").unwrap();
    let guard = ns.enter().unwrap();
    for k in ["all", "default"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
    }
    for i in ["pa", "pb"] {
        assert!(
            wait_running(i, Duration::from_secs(5)).unwrap(),
            "{i} not running"
        );
    }
    let mut l = Loop::veth("pa", "pb");
    for (name, opts) in [
        ("software+hw events", software),
        ("+ net-I/O syscall tracepoints (default)", full),
    ] {
        let (a, b, r) = ratio(&mut l, opts, 41, 500);
        println!(
            "profiler overhead, veth [{name}] (median of 41 rounds x 500 batches of {BATCH}): \
             unprofiled {:.0} ns/batch ({:.3} Mpps), profiled {:.0} ns/batch ({:.3} Mpps), \
             profiled/unprofiled time = {r:.3} (target <= 1.05)",
            a,
            BATCH as f64 / a * 1e3,
            b,
            BATCH as f64 / b * 1e3,
        );
    }
    println!(
        "veth loop: {} frames sent, {} came back through the router",
        l.sent, l.forwarded
    );
    drop(l);
    drop(guard);
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
