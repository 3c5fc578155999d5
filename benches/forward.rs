//! A router over veth: CPU per forwarded frame, latency and maximum rate for each I/O backend,
//! measured in one run, with the kernel's own IP forwarding as the peer.
//!
//! ```text
//! cargo bench --bench forward [-- --rate 100000 --lat-rate 20000 --secs 3 --cases mmsg,ring,xdp,ring-v3,bare,kernel]
//! ```
//!
//! Topology (made here, in namespaces of this run's own; nothing touches the host's interfaces):
//!
//! ```text
//! generator --[gen0 = r0]--> router (its own netns, pinned to core 1) --[r1 = sink0]--> sink
//! ```
//!
//! As root the program re-executes itself in a fresh network namespace (AF_XDP needs CAP_BPF in
//! the initial user namespace); otherwise in a fresh user + network namespace, where the `xdp`
//! case is skipped with the reason. The router is one of:
//! - `mmsg`, `ring`, `xdp`: the `scc-nf router` NF (Classifier .. EtherEncap) with that backend,
//!   batch 32, sleep polling, in a process of its own (this binary, re-executed);
//! - `ring-v3`: a plain scc-io forwarder (MAC rewrite) on a TPACKET_V3 ring port (1 ms block
//!   timer): the latency cost of block retirement; `fwd-mmsg`, `fwd-ring`, `fwd-xdp-generic`,
//!   `fwd-xdp-native`: the same forwarder on those ports (not in the default set);
//! - `bare`: a bare libc `recvmmsg`/`sendmmsg` loop (batch 32, `poll` when empty, MAC rewrite):
//!   no scc code in the loop (the FACTS.md C forwarder, in Rust);
//! - `kernel`: Linux IP forwarding in the router namespace (addresses, a static neighbour).
//!
//! Per case: (1) CPU per forwarded frame at `--rate` (default 100 kpps, sub-saturating): the
//! router process's run time from `/proc/PID/task/*/schedstat` over the window (the generator
//! sends bursts of `--burst` frames, default 8) divided by the
//! frames the sink received (kernel forwarding runs in softirq context, not a process: no CPU
//! figure); (2) one-way latency at `--lat-rate` (default 20 kpps) with the generator sending one
//! frame per system call: p50/p99 from a timestamp in each frame; (3) the maximum rate: the
//! generator sends as fast as it can for `--secs`, the sink counts. The generator and the sink
//! run on core 0 with AF_XDP ports when available (else mmsg), so that they are not the limit.
//! The machine's load (`/proc/loadavg`) is printed before and after. `--fifo` runs the router
//! process (only it, on core 1) with SCHED_FIFO priority 1, so that on a loaded shared machine
//! other processes' turns on core 1 do not decide the latency figures.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use scc_io::link::Netlink;
use scc_io::netns::{NetNs, command_in_netns, command_in_new_netns, command_in_new_user_netns};
use scc_io::{Batch, Driver, Port, PortConfig, RingRx, open_port, wait_running};

const ENV_INSIDE: &str = "SCC_FWD_BENCH_INSIDE";
const ENV_ROLE: &str = "SCC_FWD_BENCH_ROLE";
const ENV_FIFO: &str = "SCC_FWD_BENCH_FIFO";
const FRAME_LEN: usize = 64;
const SRC_IP: [u8; 4] = [198, 18, 0, 1];
const DST_IP: [u8; 4] = [198, 19, 0, 1];
/// Offset of the send timestamp (ns, CLOCK_MONOTONIC) in a frame: the UDP payload.
const TS_OFF: usize = 42;

struct Args {
    rate: u64,
    lat_rate: u64,
    secs: f64,
    cases: Vec<String>,
    fifo: bool,
    burst: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        rate: 100_000,
        lat_rate: 20_000,
        secs: 3.0,
        cases: ["mmsg", "ring", "xdp", "ring-v3", "bare", "kernel"]
            .map(String::from)
            .to_vec(),
        fifo: false,
        burst: 8,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_default();
        match k.as_str() {
            "--rate" => a.rate = v().parse().unwrap_or(a.rate),
            "--lat-rate" => a.lat_rate = v().parse().unwrap_or(a.lat_rate),
            "--secs" => a.secs = v().parse().unwrap_or(a.secs),
            "--cases" => a.cases = v().split(',').map(String::from).collect(),
            "--fifo" => a.fifo = true,
            "--burst" => a.burst = v().parse().unwrap_or(a.burst).clamp(1, 64),
            _ => {} // cargo bench passes --bench
        }
    }
    a
}

fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The router's placement: core 1, and SCHED_FIFO priority 1 with `--fifo` (the router process
/// only, never on core 0; the kernel's RT throttling still applies), so that other processes on a
/// shared machine do not decide its latency.
fn place_router() {
    pin(1);
    if std::env::var_os(ENV_FIFO).is_some() {
        let p = libc::sched_param { sched_priority: 1 };
        // SAFETY: a valid sched_param for the calling process.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &p) };
    }
}

fn pin(core: usize) {
    // SAFETY: a zeroed cpu_set_t is the empty set; CPU_SET and sched_setaffinity only touch it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn timer_slack_1ns() {
    // SAFETY: PR_SET_TIMERSLACK takes an integer; no pointers.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
}

static STOP: AtomicBool = AtomicBool::new(false);
extern "C" fn on_term(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn on_sigterm() {
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    unsafe { libc::signal(libc::SIGTERM, on_term as *const () as libc::sighandler_t) };
}

/// IPv4/UDP frame gen0 -> sink, `FRAME_LEN` bytes, IPv4 checksum valid.
fn test_frame(dst_mac: [u8; 6], src_mac: [u8; 6]) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip_len = (FRAME_LEN - 14) as u16;
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&SRC_IP);
    ip[16..20].copy_from_slice(&DST_IP);
    let mut sum = 0u32;
    for c in ip.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    let udp = &mut f[34..42];
    udp[0..2].copy_from_slice(&1234u16.to_be_bytes());
    udp[2..4].copy_from_slice(&9u16.to_be_bytes());
    udp[4..6].copy_from_slice(&(ip_len - 20).to_be_bytes());
    f
}

// ------------------------------------------------------------------------------------------
// Roles run in child processes (this binary re-executed).

/// `ROLE=fwd DRIVER V2|V3 RX TX DSTMAC`: a plain scc-io forwarder.
fn role_fwd(args: &[String]) -> ExitCode {
    place_router();
    on_sigterm();
    let driver: Driver = args[0].parse().expect("driver");
    let rx_ring = if args[1] == "v3" {
        RingRx::V3
    } else {
        RingRx::V2
    };
    let mode = match args[1].as_str() {
        "generic" => scc_io::XdpMode::Generic,
        "native" => scc_io::XdpMode::Native,
        _ => scc_io::XdpMode::Auto,
    };
    let mk = |ifname: &str| {
        let mut c = PortConfig::new(ifname, driver, 32);
        c.ring_rx = rx_ring;
        c.xdp_mode = mode;
        open_port(&c).expect("open port")
    };
    let mut rx = mk(&args[2]);
    let mut tx = mk(&args[3]);
    let mac = parse_mac(&args[4]);
    let mut b = Batch::new(32, 2048).unwrap();
    while !STOP.load(Ordering::Relaxed) {
        b.clear();
        if rx.recv_batch(&mut b).unwrap_or(0) == 0 {
            let _ = rx.wait_readable(Some(Duration::from_millis(100)));
            continue;
        }
        for i in 0..b.len() {
            b.frame_mut(i)[0..6].copy_from_slice(&mac);
        }
        let _ = tx.send_batch(&b);
    }
    ExitCode::SUCCESS
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(s.split(':')) {
        *d = u8::from_str_radix(p, 16).unwrap_or(0);
    }
    m
}

/// `ROLE=bare RX TX DSTMAC`: bare libc recvmmsg/sendmmsg, batch 32.
fn role_bare(args: &[String]) -> ExitCode {
    place_router();
    on_sigterm();
    let rx = raw_socket(&args[0]);
    let tx = raw_socket(&args[1]);
    let mac = parse_mac(&args[2]);
    const B: usize = 32;
    let mut bufs = vec![[0u8; 2048]; B];
    let mut iov: Vec<libc::iovec> = bufs
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: mmsghdr is plain data; all-zero is valid.
    let mut hdrs: Vec<libc::mmsghdr> = (0..B).map(|_| unsafe { std::mem::zeroed() }).collect();
    for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
        h.msg_hdr.msg_iov = v;
        h.msg_hdr.msg_iovlen = 1;
    }
    while !STOP.load(Ordering::Relaxed) {
        for (h, v) in hdrs.iter_mut().zip(iov.iter_mut()) {
            v.iov_len = 2048;
            h.msg_len = 0;
        }
        // SAFETY: B headers, each pointing at its own iovec over its own 2048-byte buffer.
        let n = unsafe {
            libc::recvmmsg(
                rx,
                hdrs.as_mut_ptr(),
                B as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n <= 0 {
            let mut p = libc::pollfd {
                fd: rx,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, 100) };
            continue;
        }
        let n = n as usize;
        for i in 0..n {
            bufs[i][0..6].copy_from_slice(&mac);
            iov[i].iov_len = hdrs[i].msg_len as usize;
        }
        let mut off = 0;
        while off < n {
            // SAFETY: headers off..n point at buffers holding received frames.
            let r = unsafe { libc::sendmmsg(tx, hdrs.as_mut_ptr().add(off), (n - off) as u32, 0) };
            if r <= 0 {
                break;
            }
            off += r as usize;
        }
    }
    ExitCode::SUCCESS
}

fn raw_socket(ifname: &str) -> libc::c_int {
    let idx = Netlink::open().unwrap().index(ifname).unwrap();
    // SAFETY: plain socket/setsockopt/bind calls on a sockaddr_ll built here.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        );
        assert!(fd >= 0, "socket");
        let one: libc::c_int = 1;
        libc::setsockopt(
            fd,
            263,
            23, // PACKET_IGNORE_OUTGOING
            (&one as *const libc::c_int).cast(),
            4,
        );
        let mut sa: libc::sockaddr_ll = std::mem::zeroed();
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sa.sll_ifindex = idx as i32;
        let r = libc::bind(
            fd,
            (&sa as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert_eq!(r, 0, "bind");
        fd
    }
}

// ------------------------------------------------------------------------------------------
// The measuring side.

struct Topo {
    router: NetNs,
    gen_mac: [u8; 6],
    r0_mac: [u8; 6],
    sink_mac: [u8; 6],
}

fn topology() -> Topo {
    for k in ["all", "default"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
    }
    let router = NetNs::new().expect("router netns");
    router
        .run(|| {
            for k in ["all", "default"] {
                let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), "1");
            }
        })
        .unwrap();
    let mut nl = Netlink::open().unwrap();
    nl.create_veth_peer_in("gen0", "r0", &router).unwrap();
    nl.create_veth_peer_in("sink0", "r1", &router).unwrap();
    let mut rl = Netlink::open_in(&router).unwrap();
    for i in ["r0", "r1"] {
        rl.set_up(i).unwrap();
    }
    for i in ["gen0", "sink0"] {
        nl.set_up(i).unwrap();
    }
    for i in ["gen0", "sink0"] {
        assert!(wait_running(i, Duration::from_secs(5)).unwrap());
    }
    router
        .run(|| {
            for i in ["r0", "r1"] {
                assert!(wait_running(i, Duration::from_secs(5)).unwrap());
            }
        })
        .unwrap();
    let mac = |nl: &mut Netlink, i: &str| nl.link(i).unwrap().unwrap().mac;
    Topo {
        gen_mac: mac(&mut nl, "gen0"),
        r0_mac: mac(&mut rl, "r0"),
        sink_mac: mac(&mut nl, "sink0"),
        router,
    }
}

fn fmt_mac(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn spawn_role(topo: &Topo, role: &str, args: &[String]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    if std::env::var_os(ENV_FIFO).is_some() || parse_args().fifo {
        cmd.env(ENV_FIFO, "1");
    }
    cmd.env(ENV_ROLE, role)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    command_in_netns(&mut cmd, &topo.router);
    cmd.spawn().expect("spawn router")
}

fn sh_in(topo: &Topo, script: &str) {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    command_in_netns(&mut cmd, &topo.router);
    let st = cmd.status().expect("sh");
    assert!(st.success(), "{script}");
}

/// Run time (ns) of all threads of `pid`.
fn run_ns(pid: u32) -> u64 {
    let mut sum = 0;
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                sum += s
                    .split_whitespace()
                    .next()
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    sum
}

/// The sink: counts frames and records latencies while `record` is set.
struct Sink {
    received: Arc<AtomicU64>,
    record: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    lat: std::sync::mpsc::Receiver<Vec<u64>>,
    handle: std::thread::JoinHandle<()>,
}

fn start_sink(driver: Driver) -> Sink {
    let received = Arc::new(AtomicU64::new(0));
    let record = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let (r, rec, st) = (received.clone(), record.clone(), stop.clone());
    let mut port = open_port(&PortConfig::new("sink0", driver, 64)).expect("sink port");
    let handle = std::thread::spawn(move || {
        pin(0);
        let mut b = Batch::new(64, 2048).unwrap();
        let mut lat = Vec::with_capacity(1 << 20);
        let mut was = false;
        while !st.load(Ordering::Relaxed) {
            b.clear();
            let n = port.recv_batch(&mut b).unwrap_or(0);
            if n == 0 {
                let _ = port.wait_readable(Some(Duration::from_millis(20)));
            }
            let now = now_ns();
            let recording = rec.load(Ordering::Relaxed);
            if was && !recording {
                let _ = tx.send(std::mem::take(&mut lat));
                lat.reserve(1 << 20);
            }
            was = recording;
            for f in b.iter() {
                if f.len() >= TS_OFF + 8 && f[23] == 17 {
                    r.fetch_add(1, Ordering::Relaxed);
                    if recording {
                        let ts = u64::from_ne_bytes(f[TS_OFF..TS_OFF + 8].try_into().unwrap());
                        lat.push(now.saturating_sub(ts));
                    }
                }
            }
        }
    });
    Sink {
        received,
        record,
        stop,
        lat: rx,
        handle,
    }
}

/// Sends at `rate` pps for `dur` in bursts of `burst` frames (1: one frame per call); returns
/// frames sent. `rate == 0`: as fast as possible.
fn generate(port: &mut dyn Port, frame: &[u8], rate: u64, dur: Duration, burst: usize) -> u64 {
    let mut b = Batch::new(burst, 2048).unwrap();
    for _ in 0..burst {
        b.push(frame).unwrap();
    }
    let start = Instant::now();
    let t0 = now_ns();
    let mut sent = 0u64;
    while start.elapsed() < dur {
        if let Some(off) = (sent * 1_000_000_000).checked_div(rate) {
            let due = t0 + off;
            let now = now_ns();
            if due > now {
                let ts = libc::timespec {
                    tv_sec: (due / 1_000_000_000) as libc::time_t,
                    tv_nsec: (due % 1_000_000_000) as libc::c_long,
                };
                // SAFETY: a valid absolute timespec; a null remainder is allowed with TIMER_ABSTIME.
                unsafe {
                    libc::clock_nanosleep(
                        libc::CLOCK_MONOTONIC,
                        libc::TIMER_ABSTIME,
                        &ts,
                        std::ptr::null_mut(),
                    )
                };
            }
        }
        let ts = now_ns().to_ne_bytes();
        for i in 0..b.len() {
            b.frame_mut(i)[TS_OFF..TS_OFF + 8].copy_from_slice(&ts);
        }
        sent += b.len().min(port.send_batch(&b).unwrap_or(0)) as u64;
    }
    sent
}

#[derive(Default)]
struct Row {
    case: String,
    cpu_ns: Option<f64>,
    cpu_rx: u64,
    p50: Option<f64>,
    p99: Option<f64>,
    max_kpps: Option<f64>,
    note: String,
}

fn percentile(v: &mut [u64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    Some(v[i] as f64 / 1000.0)
}

fn measure(
    topo: &Topo,
    case: &str,
    a: &Args,
    gen_driver: Driver,
    sink: &Sink,
    frame: &[u8],
) -> Row {
    let mut row = Row {
        case: case.to_string(),
        ..Default::default()
    };
    let sink_mac = fmt_mac(topo.sink_mac);
    let nf = |io: &str| -> Vec<String> {
        [
            "router",
            "--rx",
            "r0",
            "--tx",
            "r1",
            "--io",
            io,
            "--batch",
            "32",
            "--poll",
            "sleep",
            "--gw-mac",
            &sink_mac,
            "--route",
            "198.19.0.0/16",
        ]
        .map(String::from)
        .to_vec()
    };
    let mut child = match case {
        "mmsg" | "ring" | "xdp" => Some(spawn_role(topo, "nf", &nf(case))),
        "ring-v3" => Some(spawn_role(
            topo,
            "fwd",
            &["ring", "v3", "r0", "r1", &sink_mac].map(String::from),
        )),
        "fwd-ring" | "fwd-mmsg" | "fwd-xdp-generic" | "fwd-xdp-native" => {
            let (d, m) = match case {
                "fwd-ring" => ("ring", "v2"),
                "fwd-mmsg" => ("mmsg", "-"),
                "fwd-xdp-generic" => ("xdp", "generic"),
                _ => ("xdp", "native"),
            };
            Some(spawn_role(
                topo,
                "fwd",
                &[d, m, "r0", "r1", &sink_mac].map(String::from),
            ))
        }
        "bare" => Some(spawn_role(
            topo,
            "bare",
            &["r0", "r1", &sink_mac].map(String::from),
        )),
        "kernel" => {
            sh_in(
                topo,
                &format!(
                    "echo 1 > /proc/sys/net/ipv4/ip_forward; \
                     for k in all default r0 r1; do echo 0 > /proc/sys/net/ipv4/conf/$k/rp_filter; done; \
                     ip addr add 198.18.0.254/24 dev r0; ip addr add 198.19.0.254/24 dev r1; \
                     ip neigh replace 198.19.0.1 lladdr {sink_mac} dev r1 nud permanent; \
                     ip neigh replace 198.18.0.1 lladdr {} dev r0 nud permanent",
                    fmt_mac(topo.gen_mac)
                ),
            );
            None
        }
        other => {
            row.note = format!("unknown case {other}");
            return row;
        }
    };
    let mut gen_port = open_port(&PortConfig::new("gen0", gen_driver, 64)).expect("gen port");
    // Let the router come up (it opens its ports), then check that frames pass.
    std::thread::sleep(Duration::from_millis(700));
    if let Some(c) = child.as_mut() {
        if let Ok(Some(st)) = c.try_wait() {
            row.note = format!("router exited: {st}");
            return row;
        }
    }
    let before = sink.received.load(Ordering::Relaxed);
    generate(
        gen_port.as_mut(),
        frame,
        10_000,
        Duration::from_millis(300),
        1,
    );
    std::thread::sleep(Duration::from_millis(100));
    if sink.received.load(Ordering::Relaxed) == before {
        row.note = "nothing forwarded".into();
    } else {
        let secs = Duration::from_secs_f64(a.secs);
        // (1) CPU per frame at a fixed rate.
        if let Some(c) = &child {
            let r0 = sink.received.load(Ordering::Relaxed);
            let c0 = run_ns(c.id());
            generate(gen_port.as_mut(), frame, a.rate, secs, a.burst);
            std::thread::sleep(Duration::from_millis(50));
            let c1 = run_ns(c.id());
            let r1 = sink.received.load(Ordering::Relaxed);
            row.cpu_rx = r1 - r0;
            if r1 > r0 {
                row.cpu_ns = Some((c1 - c0) as f64 / (r1 - r0) as f64);
            }
        }
        // (2) latency at lat_rate, one frame per send.
        sink.record.store(true, Ordering::Relaxed);
        generate(gen_port.as_mut(), frame, a.lat_rate, secs, 1);
        std::thread::sleep(Duration::from_millis(50));
        sink.record.store(false, Ordering::Relaxed);
        if let Ok(mut lat) = sink.lat.recv_timeout(Duration::from_secs(2)) {
            row.p50 = percentile(&mut lat, 0.5);
            row.p99 = percentile(&mut lat, 0.99);
        }
        // (3) maximum rate.
        std::thread::sleep(Duration::from_millis(200));
        let r0 = sink.received.load(Ordering::Relaxed);
        let t = Instant::now();
        generate(gen_port.as_mut(), frame, 0, secs, 64);
        std::thread::sleep(Duration::from_millis(100));
        let r1 = sink.received.load(Ordering::Relaxed);
        row.max_kpps = Some((r1 - r0) as f64 / t.elapsed().as_secs_f64() / 1000.0);
    }
    if let Some(mut c) = child {
        // Our own child, by its PID.
        // SAFETY: kill takes no pointers.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
        let _ = c.wait();
    } else {
        sh_in(
            topo,
            "echo 0 > /proc/sys/net/ipv4/ip_forward; ip addr flush dev r0; ip addr flush dev r1",
        );
    }
    row
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn inside() -> ExitCode {
    let a = parse_args();
    let topo = topology();
    let xdp_ok = scc_io::xdp::probe();
    let io_driver = if xdp_ok.is_ok() {
        Driver::Xdp
    } else {
        Driver::Mmsg
    };
    pin(0);
    timer_slack_1ns();
    let sink = start_sink(io_driver);
    let frame = test_frame(topo.r0_mac, topo.gen_mac);
    println!(
        "forward bench: generator/sink {io_driver} on core 0, router on core 1{}; rate {} pps, latency at {} pps (1 frame per send), {} s per phase",
        if a.fifo { " (SCHED_FIFO 1)" } else { "" },
        a.rate,
        a.lat_rate,
        a.secs
    );
    println!("load before: {}", loadavg());
    let mut rows = Vec::new();
    for case in &a.cases {
        if case.contains("xdp") {
            if let Err(why) = &xdp_ok {
                println!("SKIPPED: forward/xdp: {why}");
                continue;
            }
        }
        let row = measure(&topo, case, &a, io_driver, &sink, &frame);
        rows.push(row);
    }
    println!("load after: {}", loadavg());
    let mmsg_cpu = rows
        .iter()
        .find(|r| r.case == "mmsg")
        .and_then(|r| r.cpu_ns);
    let kern = rows.iter().find(|r| r.case == "kernel");
    let (kp50, kmax) = (kern.and_then(|r| r.p50), kern.and_then(|r| r.max_kpps));
    let mp50 = rows.iter().find(|r| r.case == "mmsg").and_then(|r| r.p50);
    println!(
        "\n| router | CPU/frame @{}k (ns) | vs mmsg | p50 @{}k (us) | p99 (us) | vs mmsg | vs kernel | max kpps | vs kernel | note |",
        a.rate / 1000,
        a.lat_rate / 1000
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}x", a / b),
        _ => "-".into(),
    };
    for r in &rows {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.case,
            f(r.cpu_ns),
            ratio(r.cpu_ns, mmsg_cpu),
            r.p50.map_or("-".into(), |v| format!("{v:.1}")),
            f(r.p99),
            ratio(r.p50, mp50),
            ratio(r.p50, kp50),
            r.max_kpps.map_or("-".into(), |v| format!("{v:.0}")),
            ratio(r.max_kpps, kmax),
            if r.note.is_empty() {
                format!("{} frames in the CPU window", r.cpu_rx)
            } else {
                r.note.clone()
            }
        );
    }
    sink.stop.store(true, Ordering::Relaxed);
    let _ = sink.handle.join();
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match std::env::var(ENV_ROLE).as_deref() {
        Ok("nf") => {
            place_router();
            return scc_nf::cli::main_from_args(std::iter::once("scc-nf".to_string()).chain(argv));
        }
        Ok("fwd") => return role_fwd(&argv),
        Ok("bare") => return role_bare(&argv),
        _ => {}
    }
    if std::env::var_os(ENV_INSIDE).is_some() {
        return inside();
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.args(std::env::args().skip(1)).env(ENV_INSIDE, "1");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        command_in_new_netns(&mut cmd);
    } else {
        command_in_new_user_netns(&mut cmd);
    }
    let err = cmd.exec();
    eprintln!("cannot re-execute in a new network namespace: {err}");
    ExitCode::FAILURE
}
