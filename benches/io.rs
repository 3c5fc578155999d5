//! scc-io packet I/O through a veth pair: frames/s, CPU per frame and system calls per frame,
//! TX and RX separately, for the `packet` backend (one syscall per frame), `mmsg` at batch
//! 1, 2, 4, ..., 256 (the paper's sweep, §5.1.1/§6.1) and `ring` (PACKET_MMAP), 64-byte frames.
//!
//! `cargo bench --bench io` (no root needed). The process first re-executes itself inside a fresh
//! user + network namespace (`scc_io::netns::command_in_new_user_netns`) and creates two veth
//! pairs there, so no traffic ever touches the host's interfaces:
//! - TX: frames are sent on `ta`; its peer `tb` has no socket, so the kernel drops each frame at
//!   the end of `tb`'s receive path (on veth that path runs in the sender's system call).
//! - RX: a chunk of frames is sent on `ra` (not timed) into `rb`'s socket buffer or ring, then
//!   the timed part receives the chunk on `rb`.
//!
//! Criterion reports the wall time per frame (and frames/s). After the criterion runs, a summary
//! table gives, for a fixed number of frames per case, wall and thread-CPU time per frame,
//! system calls per frame, ratios to `packet`, and the C figures of `../shared/FACTS.md` measured
//! on the same kind of machine. Defaults keep a full run short (~2 minutes); criterion's usual
//! flags (`--warm-up-time`, `--measurement-time`, a name filter) still apply.

mod common;
use common::*;

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use scc_io::link::VethPair;
use scc_io::{Batch, Driver, MmsgPort, PacketPort, Port, PortConfig, RingPort, wait_running};

const ENV_INSIDE: &str = "SCC_IO_BENCH_NETNS";
const FRAME_LEN: usize = 64;
/// RX: frames pre-loaded per timed chunk (fits the socket buffer and the ring below).
const RX_CHUNK: usize = 4096;
const MMSG_BATCHES: [usize; 9] = [1, 2, 4, 8, 16, 32, 64, 128, 256];

/// The C figures of FACTS.md (CPU per frame, ns) for the same operation.
fn c_figure(dir: Dir, case: &Case) -> Option<(f64, &'static str)> {
    match (dir, case.kind) {
        (Dir::Tx, Kind::Packet | Kind::RawSingle) => Some((1600.0, "sendto ~1.6us")),
        (Dir::Tx, Kind::Mmsg | Kind::RawMmsg) if case.batch >= 8 => {
            Some((1140.0, "sendmmsg b32 ~1.14us"))
        }
        (Dir::Tx, Kind::RingTx) => Some((1300.0, "TX ring V2 ~1.3us")),
        (Dir::Rx, Kind::Packet | Kind::RawSingle) => Some((1160.0, "recvfrom ~1.16us")),
        (Dir::Rx, Kind::Mmsg | Kind::RawMmsg) if case.batch == 32 => {
            Some((1300.0, "recvmmsg b32 ~1.3us"))
        }
        (Dir::Rx, Kind::RingTx) | (Dir::Rx, Kind::Ring) | (Dir::Rx, Kind::RingV3) => {
            Some((52.5, "TPACKET_V3 40-65ns"))
        }
        (Dir::Tx, Kind::Xdp) => Some((800.0, "AF_XDP copy ~0.80us")),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    Tx,
    Rx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Packet,
    Mmsg,
    /// Ring port, TX through the PACKET_TX_RING (RX: the V3 ring).
    RingTx,
    /// Ring port, TX through sendmmsg (`ring_tx_frames = 0`); RX: the TPACKET_V2 ring (default).
    Ring,
    /// Ring port with the TPACKET_V3 RX ring (RX only).
    RingV3,
    /// AF_XDP port, generic (SKB) attach, copy mode (root only; skipped otherwise).
    Xdp,
    /// Reference: a bare libc loop of `sendto`/`recvfrom` on a socket of its own (what the C
    /// programs of FACTS.md do), measured in the same run.
    RawSingle,
    /// Reference: a bare libc loop of `sendmmsg`/`recvmmsg` (batch `batch`).
    RawMmsg,
}

#[derive(Debug, Clone, Copy)]
struct Case {
    kind: Kind,
    batch: usize,
}

impl Case {
    fn label(&self) -> String {
        match self.kind {
            Kind::Packet => "packet".into(),
            Kind::Mmsg => format!("mmsg/{}", self.batch),
            Kind::RingTx => format!("ring(txring)/{}", self.batch),
            Kind::Ring => format!("ring(sendmmsg)/{}", self.batch),
            Kind::RingV3 => format!("ring(v3 rx)/{}", self.batch),
            Kind::Xdp => format!("xdp(generic)/{}", self.batch),
            Kind::RawSingle => "raw libc 1/call".into(),
            Kind::RawMmsg => format!("raw libc mmsg/{}", self.batch),
        }
    }

    fn open(&self, ifname: &str) -> Box<dyn Port> {
        let mut cfg = PortConfig::new(ifname, Driver::Mmsg, self.batch);
        cfg.rcvbuf = Some(64 << 20);
        cfg.sndbuf = Some(4 << 20);
        let port: Box<dyn Port> = match self.kind {
            Kind::Packet => Box::new(PacketPort::open(&cfg).expect("open packet port")),
            Kind::Mmsg => Box::new(MmsgPort::open(&cfg).expect("open mmsg port")),
            Kind::RawSingle | Kind::RawMmsg => unreachable!("raw cases have no port"),
            Kind::Xdp => {
                cfg.xdp_mode = scc_io::XdpMode::Generic;
                cfg.xdp_ring_size = 2 * RX_CHUNK;
                Box::new(scc_io::XdpPort::open(&cfg).expect("open xdp port"))
            }
            Kind::RingTx | Kind::Ring | Kind::RingV3 => {
                // Room for a whole RX chunk: 128 x 64 KiB = 4096 V2 slots of 2 KiB.
                cfg.ring_blocks = 128;
                cfg.ring_block_size = 1 << 16;
                if self.kind == Kind::RingV3 {
                    cfg.ring_rx = scc_io::RingRx::V3;
                }
                cfg.ring_tx_frames = if self.kind == Kind::RingTx { 1024 } else { 0 };
                Box::new(RingPort::open(&cfg).expect("open ring port"))
            }
        };
        port
    }
}

fn tx_cases() -> Vec<Case> {
    let mut v = vec![Case {
        kind: Kind::Packet,
        batch: 32,
    }];
    v.extend(MMSG_BATCHES.iter().map(|&b| Case {
        kind: Kind::Mmsg,
        batch: b,
    }));
    v.push(Case {
        kind: Kind::RingTx,
        batch: 32,
    });
    v.push(Case {
        kind: Kind::RingTx,
        batch: 256,
    });
    v.push(Case {
        kind: Kind::Ring,
        batch: 32,
    });
    if scc_io::xdp::probe().is_ok() {
        v.push(Case {
            kind: Kind::Xdp,
            batch: 32,
        });
    }
    v
}

fn rx_cases() -> Vec<Case> {
    let mut v = vec![Case {
        kind: Kind::Packet,
        batch: 32,
    }];
    v.extend(MMSG_BATCHES.iter().map(|&b| Case {
        kind: Kind::Mmsg,
        batch: b,
    }));
    v.push(Case {
        kind: Kind::Ring,
        batch: 32,
    });
    v.push(Case {
        kind: Kind::Ring,
        batch: 256,
    });
    v.push(Case {
        kind: Kind::RingV3,
        batch: 32,
    });
    if scc_io::xdp::probe().is_ok() {
        v.push(Case {
            kind: Kind::Xdp,
            batch: 32,
        });
    }
    v
}

fn test_frame() -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
    f[12..14].copy_from_slice(&[0x88, 0xb5]);
    f
}

fn full_batch(n: usize) -> Batch {
    let mut b = Batch::new(n, 2048).expect("batch");
    let f = test_frame();
    while !b.is_full() {
        b.push(&f).expect("push");
    }
    b
}

/// Sends `frames` frames on `port` in batches of `out.len()`; returns (wall, cpu).
fn run_tx(port: &mut dyn Port, out: &Batch, frames: u64) -> (Duration, Duration) {
    let (t0, c0) = (Instant::now(), thread_cpu());
    let mut sent = 0u64;
    while sent < frames {
        let n = port.send_batch(out).expect("send");
        sent += (n as u64).max(1);
    }
    (t0.elapsed(), thread_cpu() - c0)
}

/// RX side: a loader port on `ra` fills `rb`, the port under test receives.
struct RxBench {
    loader: MmsgPort,
    load: Batch,
    port: Box<dyn Port>,
    batch: Batch,
    ring: bool,
}

impl RxBench {
    fn new(case: &Case) -> Self {
        let mut cfg = PortConfig::new("ra", Driver::Mmsg, 256);
        cfg.sndbuf = Some(4 << 20);
        let loader = MmsgPort::open(&cfg).expect("open loader");
        let port = case.open("rb");
        Self {
            loader,
            load: full_batch(256),
            port,
            batch: Batch::new(case.batch, 2048).expect("batch"),
            ring: matches!(case.kind, Kind::RingV3),
        }
    }

    /// Loads `n` frames (not timed), then times their reception: (wall, cpu, received).
    fn chunk(&mut self, n: usize) -> (Duration, Duration, usize) {
        let mut loaded = 0;
        while loaded < n {
            loaded += self.loader.send_batch(&self.load).expect("load");
        }
        if self.ring {
            // The kernel hands a partly filled block over after its 1 ms timer.
            std::thread::sleep(Duration::from_millis(3));
        }
        let (t0, c0) = (Instant::now(), thread_cpu());
        let mut got = 0;
        let mut idle = 0;
        while got < loaded && idle < 1000 {
            self.batch.clear();
            let k = self.port.recv_batch(&mut self.batch).expect("recv");
            black_box(self.batch.frame(0));
            got += k;
            idle = if k == 0 { idle + 1 } else { 0 };
        }
        (t0.elapsed(), thread_cpu() - c0, got)
    }
}

/// Per-case totals for the summary table.
#[derive(Debug, Clone)]
struct Row {
    dir: Dir,
    case: Case,
    frames: u64,
    wall: Duration,
    cpu: Duration,
    syscalls: u64,
    drops: u64,
}

impl Row {
    fn ns(&self, d: Duration) -> f64 {
        d.as_nanos() as f64 / self.frames.max(1) as f64
    }
}

fn summary_tx(case: &Case, frames: u64) -> Row {
    let mut port = case.open("ta");
    let out = full_batch(case.batch);
    run_tx(port.as_mut(), &out, 2_000); // warm-up
    let before = port.stats();
    let (wall, cpu) = run_tx(port.as_mut(), &out, frames);
    let s = port.stats();
    Row {
        dir: Dir::Tx,
        case: *case,
        frames: s.tx_frames - before.tx_frames,
        wall,
        cpu,
        syscalls: s.tx_syscalls - before.tx_syscalls,
        drops: s.tx_dropped - before.tx_dropped,
    }
}

fn summary_rx(case: &Case, frames: u64) -> Row {
    let mut b = RxBench::new(case);
    b.chunk(RX_CHUNK); // warm-up
    let before = b.port.stats();
    let (mut wall, mut cpu, mut got) = (Duration::ZERO, Duration::ZERO, 0u64);
    while got < frames {
        let (w, c, n) = b.chunk(RX_CHUNK);
        wall += w;
        cpu += c;
        got += n as u64;
        if n == 0 {
            break;
        }
    }
    let s = b.port.stats();
    Row {
        dir: Dir::Rx,
        case: *case,
        frames: s.rx_frames - before.rx_frames,
        wall,
        cpu,
        // Only the receive calls of the timed part (the ring makes none).
        syscalls: s.rx_syscalls - before.rx_syscalls,
        drops: s.kernel_drops - before.kernel_drops,
    }
}

/// The reference loops: plain libc calls on a socket opened here, no scc-io code in the loop.
mod raw {
    use std::time::{Duration, Instant};

    use super::thread_cpu;

    /// Opens an AF_PACKET socket bound to `ifname` as the C programs do (ETH_P_ALL,
    /// PACKET_IGNORE_OUTGOING, 64 MiB receive buffer).
    pub fn socket(ifname: &str) -> libc::c_int {
        let name = std::ffi::CString::new(ifname).expect("ifname");
        // SAFETY: `name` is a valid NUL-terminated string for the call.
        let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(index > 0, "no interface {ifname}");
        // SAFETY: plain socket creation, no pointers.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
        let one: libc::c_int = 1;
        let buf: libc::c_int = 64 << 20;
        // SAFETY: each option value is a live c_int and the length says so.
        unsafe {
            libc::setsockopt(fd, 263, 23, (&one as *const libc::c_int).cast(), 4);
            let r = libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                33,
                (&buf as *const libc::c_int).cast(),
                4,
            );
            if r != 0 {
                // SO_RCVBUFFORCE needs CAP_NET_ADMIN in the initial user namespace; inside ours
                // SO_RCVBUF applies, capped by net.core.rmem_max (as for the ports under test).
                libc::setsockopt(
                    fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVBUF,
                    (&buf as *const libc::c_int).cast(),
                    4,
                );
            }
        }
        // SAFETY: all-zero is a valid sockaddr_ll; we fill family, protocol and index.
        let mut ll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        ll.sll_family = libc::AF_PACKET as u16;
        ll.sll_protocol = 3u16.to_be();
        ll.sll_ifindex = index as i32;
        // SAFETY: `ll` is a valid sockaddr_ll of the given length for the call.
        let r = unsafe {
            libc::bind(
                fd,
                (&ll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(r, 0, "bind: {}", std::io::Error::last_os_error());
        fd
    }

    pub fn close(fd: libc::c_int) {
        // SAFETY: `fd` was opened by `socket` and is not used afterwards.
        unsafe { libc::close(fd) };
    }

    /// `mmsghdr`s of `n` single-iovec messages over `bufs` (each `len` bytes).
    pub struct Msgs {
        pub hdrs: Vec<libc::mmsghdr>,
        _iov: Vec<libc::iovec>,
    }

    pub fn msgs(bufs: &mut [[u8; 2048]], len: usize) -> Msgs {
        let mut iov: Vec<libc::iovec> = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: len,
            })
            .collect();
        let hdrs = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = v;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Msgs { hdrs, _iov: iov }
    }

    /// `frames` frames with one `sendto` each: (wall, cpu, syscalls).
    pub fn sendto_loop(fd: libc::c_int, frame: &[u8], frames: u64) -> (Duration, Duration, u64) {
        let (t0, c0) = (Instant::now(), thread_cpu());
        let mut calls = 0;
        for _ in 0..frames {
            // SAFETY: `frame` is readable for its length; null address for a bound socket.
            unsafe {
                libc::sendto(
                    fd,
                    frame.as_ptr().cast(),
                    frame.len(),
                    0,
                    std::ptr::null(),
                    0,
                )
            };
            calls += 1;
        }
        (t0.elapsed(), thread_cpu() - c0, calls)
    }

    /// `frames` frames with `sendmmsg` of `m.hdrs.len()` each: (wall, cpu, syscalls).
    pub fn sendmmsg_loop(fd: libc::c_int, m: &mut Msgs, frames: u64) -> (Duration, Duration, u64) {
        let (t0, c0) = (Instant::now(), thread_cpu());
        let (mut sent, mut calls) = (0u64, 0u64);
        while sent < frames {
            // SAFETY: the headers point to live iovecs over live buffers (`Msgs` owns them).
            let r = unsafe { libc::sendmmsg(fd, m.hdrs.as_mut_ptr(), m.hdrs.len() as u32, 0) };
            calls += 1;
            sent += r.max(1) as u64;
        }
        (t0.elapsed(), thread_cpu() - c0, calls)
    }

    /// Receives `want` frames with one `recvfrom(MSG_DONTWAIT)` each: (wall, cpu, got, calls).
    pub fn recvfrom_loop(fd: libc::c_int, want: usize) -> (Duration, Duration, usize, u64) {
        let mut buf = [0u8; 2048];
        let (t0, c0) = (Instant::now(), thread_cpu());
        let (mut got, mut calls, mut idle) = (0, 0u64, 0);
        while got < want && idle < 1000 {
            // SAFETY: `buf` is writable for its length; null address pointers are allowed.
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
            calls += 1;
            if r > 0 {
                got += 1;
                idle = 0;
            } else {
                idle += 1;
            }
        }
        (t0.elapsed(), thread_cpu() - c0, got, calls)
    }

    /// Receives `want` frames with `recvmmsg(MSG_DONTWAIT)`: (wall, cpu, got, calls).
    pub fn recvmmsg_loop(
        fd: libc::c_int,
        m: &mut Msgs,
        want: usize,
    ) -> (Duration, Duration, usize, u64) {
        let (t0, c0) = (Instant::now(), thread_cpu());
        let (mut got, mut calls, mut idle) = (0, 0u64, 0);
        while got < want && idle < 1000 {
            // SAFETY: the headers point to live iovecs over live, writable buffers.
            let r = unsafe {
                libc::recvmmsg(
                    fd,
                    m.hdrs.as_mut_ptr(),
                    m.hdrs.len() as u32,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            calls += 1;
            if r > 0 {
                got += r as usize;
                idle = 0;
            } else {
                idle += 1;
            }
        }
        (t0.elapsed(), thread_cpu() - c0, got, calls)
    }
}

fn summary_raw_tx(case: &Case, frames: u64) -> Row {
    let fd = raw::socket("ta");
    let frame = test_frame();
    let mut bufs = vec![[0u8; 2048]; case.batch];
    for b in &mut bufs {
        b[..FRAME_LEN].copy_from_slice(&frame);
    }
    let mut m = raw::msgs(&mut bufs, FRAME_LEN);
    let run = |m: &mut raw::Msgs, n| match case.kind {
        Kind::RawSingle => raw::sendto_loop(fd, &frame, n),
        _ => raw::sendmmsg_loop(fd, m, n),
    };
    run(&mut m, 2_000);
    let (wall, cpu, calls) = run(&mut m, frames);
    raw::close(fd);
    Row {
        dir: Dir::Tx,
        case: *case,
        frames,
        wall,
        cpu,
        syscalls: calls,
        drops: 0,
    }
}

fn summary_raw_rx(case: &Case, frames: u64) -> Row {
    let fd = raw::socket("rb");
    let mut cfg = PortConfig::new("ra", Driver::Mmsg, 256);
    cfg.sndbuf = Some(4 << 20);
    let mut loader = MmsgPort::open(&cfg).expect("open loader");
    let load = full_batch(256);
    let mut bufs = vec![[0u8; 2048]; case.batch];
    let mut m = raw::msgs(&mut bufs, 2048);
    let (mut wall, mut cpu, mut got, mut calls) = (Duration::ZERO, Duration::ZERO, 0u64, 0u64);
    let mut first = true;
    while got < frames {
        let mut loaded = 0;
        while loaded < RX_CHUNK {
            loaded += loader.send_batch(&load).expect("load");
        }
        let (w, c, n, k) = match case.kind {
            Kind::RawSingle => raw::recvfrom_loop(fd, loaded),
            _ => raw::recvmmsg_loop(fd, &mut m, loaded),
        };
        if n == 0 {
            break;
        }
        if first {
            first = false; // warm-up chunk
            continue;
        }
        wall += w;
        cpu += c;
        got += n as u64;
        calls += k;
    }
    raw::close(fd);
    Row {
        dir: Dir::Rx,
        case: *case,
        frames: got,
        wall,
        cpu,
        syscalls: calls,
        drops: 0,
    }
}

fn criterion_runs(c: &mut Criterion) {
    let mut g = c.benchmark_group("tx");
    g.throughput(Throughput::Elements(1));
    for case in tx_cases() {
        let mut port = case.open("ta");
        let out = full_batch(case.batch);
        g.bench_function(BenchmarkId::from_parameter(case.label()), |bch| {
            bch.iter_custom(|iters| run_tx(port.as_mut(), &out, iters).0)
        });
    }
    g.finish();

    let mut g = c.benchmark_group("rx");
    g.throughput(Throughput::Elements(1));
    for case in rx_cases() {
        let mut rx = RxBench::new(&case);
        g.bench_function(BenchmarkId::from_parameter(case.label()), |bch| {
            bch.iter_custom(|iters| {
                let mut left = iters as usize;
                let mut wall = Duration::ZERO;
                while left > 0 {
                    let (w, _, n) = rx.chunk(left.min(RX_CHUNK));
                    wall += w;
                    left = left.saturating_sub(n.max(1));
                }
                wall
            })
        });
    }
    g.finish();
}

fn print_summary(rows: &[Row]) {
    println!();
    println!("== scc-io veth summary: {FRAME_LEN}-byte frames, one core, same run ==");
    if let Ok(l) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average: {}", l.trim());
    }
    println!(
        "{:<3} {:<20} {:>9} {:>10} {:>10} {:>10} {:>9} {:>8} {:>9}  C figure (FACTS.md)",
        "dir",
        "case",
        "frames",
        "wall ns/f",
        "cpu ns/f",
        "Mframes/s",
        "sysc/f",
        "drops",
        "vs packet"
    );
    for dir in [Dir::Tx, Dir::Rx] {
        let base = rows
            .iter()
            .find(|r| r.dir == dir && r.case.kind == Kind::Packet)
            .map(|r| r.ns(r.cpu));
        for r in rows.iter().filter(|r| r.dir == dir) {
            let cpu = r.ns(r.cpu);
            let wall = r.ns(r.wall);
            let vs = base.map_or("-".to_string(), |b| format!("{:.2}x", b / cpu));
            let c = c_figure(dir, &r.case).map_or(String::new(), |(ns, what)| {
                format!("{what}: ours/C = {:.2}", cpu / ns)
            });
            println!(
                "{:<3} {:<20} {:>9} {:>10.0} {:>10.0} {:>10.3} {:>9.3} {:>8} {:>9}  {}",
                if dir == Dir::Tx { "tx" } else { "rx" },
                r.case.label(),
                r.frames,
                wall,
                cpu,
                1e3 / wall,
                r.syscalls as f64 / r.frames.max(1) as f64,
                r.drops,
                vs,
                c
            );
        }
    }
    let find = |dir: Dir, kind: Kind, batch: usize| {
        rows.iter()
            .find(|r| {
                r.dir == dir
                    && r.case.kind == kind
                    && (kind == Kind::Packet || r.case.batch == batch)
            })
            .map(|r| r.ns(r.cpu))
    };
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "n/a".into(),
    };
    let raw1 = |dir| find(dir, Kind::RawSingle, 1);
    let rawm = |dir| find(dir, Kind::RawMmsg, 32);
    println!("ours / bare libc loop, same run (target <= 1.10):");
    println!(
        "  TX packet/sendto {}   TX mmsg/32 / sendmmsg/32 {}   RX packet/recvfrom {}   RX mmsg/32 / recvmmsg/32 {}",
        ratio(find(Dir::Tx, Kind::Packet, 0), raw1(Dir::Tx)),
        ratio(find(Dir::Tx, Kind::Mmsg, 32), rawm(Dir::Tx)),
        ratio(find(Dir::Rx, Kind::Packet, 0), raw1(Dir::Rx)),
        ratio(find(Dir::Rx, Kind::Mmsg, 32), rawm(Dir::Rx)),
    );
    println!(
        "speed-ups, same run: TX mmsg/32 vs packet {}x (bare libc: sendmmsg vs sendto {}x; C in FACTS.md ~1.4x)",
        ratio(
            find(Dir::Tx, Kind::Packet, 0),
            find(Dir::Tx, Kind::Mmsg, 32)
        ),
        ratio(raw1(Dir::Tx), rawm(Dir::Tx)),
    );
    println!(
        "                     RX ring/256 vs packet {}x, vs bare recvfrom {}x (target > 10x; C ~20x)",
        ratio(
            find(Dir::Rx, Kind::Packet, 0),
            find(Dir::Rx, Kind::Ring, 256)
        ),
        ratio(raw1(Dir::Rx), find(Dir::Rx, Kind::Ring, 256)),
    );
    if let (Some(t), Some(m)) = (
        find(Dir::Tx, Kind::RingTx, 32),
        find(Dir::Tx, Kind::Ring, 32),
    ) {
        println!(
            "ring TX, batch 32: TX ring {t:.0} ns/frame vs sendmmsg {m:.0} ns/frame: {} is faster",
            if t < m { "the TX ring" } else { "sendmmsg" }
        );
    }
}

/// Re-runs this binary inside a fresh user + network namespace; returns only inside it.
fn enter_private_netns() {
    if std::env::var_os(ENV_INSIDE).is_some() {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args_os().skip(1)).env(ENV_INSIDE, "1");
    // As root, a plain new network namespace (AF_XDP needs CAP_BPF in the initial user
    // namespace); otherwise a user + network namespace, and the xdp cases are left out.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        scc_io::netns::command_in_new_netns(&mut cmd);
    } else {
        scc_io::netns::command_in_new_user_netns(&mut cmd);
    }
    match cmd.status() {
        Ok(st) => std::process::exit(st.code().unwrap_or(1)),
        Err(e) => {
            eprintln!(
                "benches/io: cannot start in a new user + network namespace ({e}); \
                 nothing measured (user namespaces disabled?)"
            );
            std::process::exit(0);
        }
    }
}

fn main() {
    enter_private_netns();
    for k in ["all", "default"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
    }
    let _tx_pair = VethPair::create("ta", "tb").expect("veth ta/tb");
    let _rx_pair = VethPair::create("ra", "rb").expect("veth ra/rb");
    for i in ["ta", "tb", "ra", "rb"] {
        assert!(
            wait_running(i, Duration::from_secs(5)).expect("link"),
            "{i} not running"
        );
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_millis(1200))
        .sample_size(10)
        .configure_from_args();
    criterion_runs(&mut c);
    c.final_summary();

    let frames: u64 = std::env::var("SCC_IO_BENCH_FRAMES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // `cargo test --benches` / `cargo bench -- --test`: just check that everything runs.
    let frames = if std::env::args().any(|a| a == "--test") {
        2_000
    } else {
        frames
    };
    let rounds: usize = std::env::var("SCC_IO_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let raw_cases = [
        Case {
            kind: Kind::RawSingle,
            batch: 1,
        },
        Case {
            kind: Kind::RawMmsg,
            batch: 32,
        },
    ];
    // Interleaved rounds; each case keeps its median round (by CPU per frame).
    let mut all: Vec<Vec<Row>> = Vec::new();
    for _ in 0..rounds {
        let mut rows = Vec::new();
        for case in &raw_cases {
            rows.push(summary_raw_tx(case, frames));
        }
        for case in tx_cases() {
            rows.push(summary_tx(&case, frames));
        }
        for case in &raw_cases {
            rows.push(summary_raw_rx(case, frames));
        }
        for case in rx_cases() {
            rows.push(summary_rx(&case, frames));
        }
        all.push(rows);
    }
    let rows: Vec<Row> = (0..all[0].len())
        .map(|i| {
            let mut v: Vec<Row> = all.iter().map(|r| r[i].clone()).collect();
            v.sort_by(|a, b| a.ns(a.cpu).total_cmp(&b.ns(b.cpu)));
            v[v.len() / 2].clone()
        })
        .collect();
    println!("\n(median of {rounds} interleaved rounds of {frames} frames per case)");
    print_summary(&rows);
}
