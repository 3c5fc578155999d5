//! Chain-aware plans measured (issue 12): N routers on one core, mmsg batch 32, the same offered
//! rates, as separate processes under SCHED_BATCH nice -19 (the paper's best, uniprocessor), in
//! chain order (futex hand-off, same policy), and fused into one process (same policy).
//!
//! ```text
//! cargo build --release -p scc-nf && cargo run --release --example chain_plans -- \
//!     [--plans uni,order,fused] [--n 8] [--rates 5000,20000,...] [--duration 3]
//!     [--slope 2..8] [--slope-rate 5000] [--rxq 64] [--rxq-inner 256] [--queues 4mib]
//!     [--policy batch|other] [--nice -19]
//! ```
//! It re-runs itself in a fresh network namespace (as root: nice -19 needs CAP_SYS_NICE; as
//! another user in a user + network namespace, with nice 0), builds veth pairs
//! (`gen0 ══ r0_in [r0] r0_out ══ r1_in ... ══ sink0`, or `gen0 ══ c_in [fused] c_out ══ sink0`),
//! starts `target/release/scc-nf` per NF (or one `scc-nf chain`), pins the NFs to the last
//! online core (generator and sink on core 0), offers each rate for `--duration` seconds with the
//! launcher's probe generator and sink, and prints one line per run: delivered rate, loss, p50 /
//! p99 latency, the NFs' run-queue wait / run time from schedstat (SchedContention/RunTime), CPU
//! per delivered frame, and where frames were dropped (kernel drops at the first NF vs later).
//! Receive queues: by default each NF's is what the launcher gives it
//! (`scc_launcher::fusion::default_rx_queue_frames`: 4 batches at the first NF, 8 in a fused
//! chain, 8 at later NFs of the uniprocessor plan, 2 at later NFs under chain-order); `--queues 4mib` keeps scc-io's
//! 4 MiB socket buffers (the behaviour before bounded queues); `--rxq N --rxq-inner M` set them.
//! `--slope A..B` also runs chains of A..=B NFs at `--slope-rate` and fits the per-NF latency
//! slope (p50 against N).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use scc::io::link::{Netlink, VethPair};
use scc::io::{Driver, PortConfig};
use scc::launcher::traffic::{MacAddr, TrafficConfig, open_port_in, run_with};
use scc::nf::chain::ChainCounters;
use scc::nf::nf::NfCounters;
use scc::sched::handoff::Handoff;
use scc::sched::{Policy, SchedSpec};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Plan {
    Uni,
    Order,
    Fused,
}

impl Plan {
    fn name(self) -> &'static str {
        match self {
            Plan::Uni => "uniprocessor",
            Plan::Order => "chain-order",
            Plan::Fused => "fused",
        }
    }
}

#[derive(Debug, Clone)]
struct Opts {
    plans: Vec<Plan>,
    n: usize,
    rates: Vec<f64>,
    duration: f64,
    slope: Option<(usize, usize)>,
    slope_rate: f64,
    rxq: Option<usize>,
    rxq_inner: Option<usize>,
    big_queues: bool,
    nice: i32,
    /// SCHED_BATCH (the paper's best) or SCHED_OTHER, with `nice`.
    batch_policy: bool,
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts {
        plans: vec![Plan::Uni, Plan::Order, Plan::Fused],
        n: 8,
        rates: vec![
            5_000.0, 20_000.0, 24_000.0, 30_000.0, 40_000.0, 60_000.0, 100_000.0, 150_000.0,
        ],
        duration: 3.0,
        slope: None,
        slope_rate: 5_000.0,
        rxq: None,
        rxq_inner: None,
        big_queues: false,
        nice: -19,
        batch_policy: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = it.next().cloned().unwrap_or_default();
        match a.as_str() {
            "--plans" => {
                o.plans = v
                    .split(',')
                    .map(|p| match p {
                        "uni" => Plan::Uni,
                        "order" => Plan::Order,
                        "fused" => Plan::Fused,
                        other => panic!("unknown plan {other} (uni, order, fused)"),
                    })
                    .collect()
            }
            "--n" => o.n = v.parse().expect("--n"),
            "--rates" => o.rates = v.split(',').map(|r| r.parse().expect("rate")).collect(),
            "--duration" => o.duration = v.parse().expect("--duration"),
            "--slope" => {
                let (a, b) = v.split_once("..").expect("--slope A..B");
                o.slope = Some((a.parse().expect("A"), b.parse().expect("B")));
            }
            "--slope-rate" => o.slope_rate = v.parse().expect("--slope-rate"),
            "--rxq" => o.rxq = Some(v.parse().expect("--rxq")),
            "--rxq-inner" => o.rxq_inner = Some(v.parse().expect("--rxq-inner")),
            "--queues" => o.big_queues = v == "4mib",
            "--nice" => o.nice = v.parse().expect("--nice"),
            "--policy" => o.batch_policy = v != "other",
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

fn mac_of(name: &str) -> MacAddr {
    MacAddr(Netlink::open().unwrap().link(name).unwrap().unwrap().mac)
}

fn packet_sockets() -> usize {
    std::fs::read_to_string("/proc/self/net/packet")
        .map_or(0, |s| s.lines().count().saturating_sub(1))
}

fn schedstat(pid: u32) -> (u64, u64) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap_or_default();
    let mut it = s.split_whitespace().map(|x| x.parse::<u64>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

/// One run's result.
#[derive(Debug, Default)]
struct Run {
    sent: u64,
    received: u64,
    p50: f64,
    p99: f64,
    achieved: f64,
    run_ns: u64,
    wait_ns: u64,
    first_kdrops: u64,
    later_kdrops: u64,
    nf_drops: u64,
}

fn nf_toml(k: usize, io: &str, gw: MacAddr, rxq: usize) -> String {
    let q = if rxq > 0 {
        format!("rx_queue_frames = {rxq}\n")
    } else {
        String::new()
    };
    format!(
        "name = \"r{k}\"\npreset = \"router\"\nbatch = 32\nio = \"mmsg\"\n{io}\n{q}routes = [\"198.19.0.0/16\"]\ngw_mac = \"{gw}\"\naddrs = [\"198.18.0.{}\"]\nicmp_rate = 0\n",
        (100 + k) % 250
    )
}

/// The receive queue of NF `k` under `plan` (0: the 4 MiB default).
fn queue(o: &Opts, plan: Plan, k: usize) -> usize {
    if o.big_queues {
        return 0;
    }
    let given = if k == 0 { o.rxq } else { o.rxq_inner };
    let kind = match plan {
        Plan::Uni => scc::launcher::chain::Plan::Uniprocessor,
        Plan::Order => scc::launcher::chain::Plan::ChainOrder,
        Plan::Fused => scc::launcher::chain::Plan::Fused,
    };
    given.unwrap_or_else(|| scc::launcher::fusion::default_rx_queue_frames(kind, k, 32))
}

fn quiet_ipv6() {
    for k in ["all", "default"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), b"1");
    }
}

fn run_one(plan: Plan, n: usize, rate: f64, o: &Opts, dir: &Path, core: usize) -> Run {
    quiet_ipv6();
    let pairs: Vec<(String, String)> = if plan == Plan::Fused {
        vec![
            ("gen0".into(), "c_in".into()),
            ("c_out".into(), "sink0".into()),
        ]
    } else {
        let mut v = vec![("gen0".to_string(), "r0_in".to_string())];
        for k in 0..n - 1 {
            v.push((format!("r{k}_out"), format!("r{}_in", k + 1)));
        }
        v.push((format!("r{}_out", n - 1), "sink0".into()));
        v
    };
    let links: Vec<VethPair> = pairs
        .iter()
        .map(|(a, b)| VethPair::create(a, b).unwrap())
        .collect();
    for (a, b) in &pairs {
        for i in [a, b] {
            scc::io::wait_running(i, Duration::from_secs(3)).unwrap();
        }
    }
    let sink_mac = mac_of("sink0");
    let exe = std::env::current_exe().unwrap();
    let nf_exe = exe.parent().unwrap().parent().unwrap().join("scc-nf");
    assert!(
        nf_exe.exists(),
        "{} missing: cargo build --release -p scc-nf",
        nf_exe.display()
    );
    let virt = |k: usize| MacAddr([0x02, 0, 0, 0, 0x10, k as u8]);
    let handoff = dir.join("handoff");
    let mut kids: Vec<Child> = Vec::new();
    let entry_mac = if plan == Plan::Fused {
        let mut cmd = Command::new(&nf_exe);
        cmd.arg("chain");
        for k in 0..n {
            let (io, gw) = if k == 0 {
                ("rx = \"c_in\"".to_string(), virt(1))
            } else if k == n - 1 {
                (
                    format!("tx = \"c_out\"\nsrc_mac = \"{}\"", virt(k)),
                    sink_mac,
                )
            } else {
                (format!("src_mac = \"{}\"", virt(k)), virt(k + 1))
            };
            let gw = if n == 1 { sink_mac } else { gw };
            let io = if n == 1 {
                "rx = \"c_in\"\ntx = \"c_out\"".to_string()
            } else {
                io
            };
            let p = dir.join(format!("r{k}.toml"));
            let q = if k == 0 { queue(o, plan, 0) } else { 0 };
            std::fs::write(&p, nf_toml(k, &io, gw, q)).unwrap();
            cmd.arg("--config").arg(&p);
        }
        kids.push(cmd.stdout(Stdio::piped()).spawn().unwrap());
        mac_of("c_in")
    } else {
        if plan == Plan::Order {
            let _ = Handoff::create(&handoff, n).unwrap();
        }
        for k in 0..n {
            let gw = if k + 1 < n {
                mac_of(&format!("r{}_in", k + 1))
            } else {
                sink_mac
            };
            let io = format!("rx = \"r{k}_in\"\ntx = \"r{k}_out\"");
            let q = queue(o, plan, k);
            let p = dir.join(format!("r{k}.toml"));
            std::fs::write(&p, nf_toml(k, &io, gw, q)).unwrap();
            let mut cmd = Command::new(&nf_exe);
            cmd.args(["run", "--config"]).arg(&p);
            if plan == Plan::Order {
                cmd.arg("--handoff")
                    .arg(&handoff)
                    .args(["--handoff-index", &k.to_string()]);
            }
            kids.push(cmd.stdout(Stdio::piped()).spawn().unwrap());
        }
        mac_of("r0_in")
    };
    let want = if plan == Plan::Fused { 2 } else { 2 * n };
    let t = Instant::now();
    while packet_sockets() < want && t.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(5));
    }
    for k in &kids {
        let policy = if o.batch_policy {
            Policy::Batch { nice: o.nice }
        } else {
            Policy::Other { nice: o.nice }
        };
        let spec = SchedSpec::new(policy).with_affinity(vec![core]);
        scc::sched::apply(k.id() as i32, &spec).expect("policy");
    }
    std::thread::sleep(Duration::from_millis(300));
    let before: Vec<(u64, u64)> = kids.iter().map(|k| schedstat(k.id())).collect();
    let mut cfg = TrafficConfig::default();
    cfg.generator.rate_pps = rate;
    cfg.generator.duration_s = Some(o.duration);
    cfg.generator.core = Some(0);
    cfg.generator.probe.src_mac = mac_of("gen0");
    cfg.generator.probe.dst_mac = entry_mac;
    cfg.sink.core = Some(0);
    cfg.sink.drain_ms = 500;
    let gen_cfg = PortConfig::new("gen0", Driver::Mmsg, 32);
    let sink_cfg = PortConfig::new("sink0", Driver::Mmsg, 64);
    let stop = AtomicBool::new(false);
    let rep = run_with(
        &cfg,
        || open_port_in(None, &gen_cfg, Duration::from_secs(2)),
        || open_port_in(None, &sink_cfg, Duration::from_secs(2)),
        &stop,
    )
    .expect("traffic");
    let after: Vec<(u64, u64)> = kids.iter().map(|k| schedstat(k.id())).collect();
    for k in &kids {
        signal(k.id(), "TERM");
    }
    let mut counters: Vec<NfCounters> = Vec::new();
    for k in kids {
        let out = k.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        if plan == Plan::Fused {
            if let Ok(c) = serde_json::from_str::<ChainCounters>(text.trim()) {
                counters.extend(c.nfs);
            }
        } else if let Ok(c) = serde_json::from_str::<NfCounters>(text.trim()) {
            counters.push(c);
        }
    }
    drop(links);
    let _ = std::fs::remove_file(&handoff);
    let lat = rep.latency_us.unwrap_or_default_summary();
    Run {
        sent: rep.sent,
        received: rep.received,
        p50: lat.0,
        p99: lat.1,
        achieved: rep.received as f64 / o.duration,
        run_ns: after.iter().zip(&before).map(|(a, b)| a.0 - b.0).sum(),
        wait_ns: after.iter().zip(&before).map(|(a, b)| a.1 - b.1).sum(),
        first_kdrops: counters.first().map_or(0, |c| c.kernel_drops),
        later_kdrops: counters.iter().skip(1).map(|c| c.kernel_drops).sum(),
        nf_drops: counters.iter().map(NfCounters::dropped).sum(),
    }
}

trait Summary {
    fn unwrap_or_default_summary(self) -> (f64, f64);
}

impl Summary for Option<scc::launcher::traffic::LatencySummary> {
    fn unwrap_or_default_summary(self) -> (f64, f64) {
        self.map_or((f64::NAN, f64::NAN), |l| (l.p50, l.p99))
    }
}

fn print_run(plan: Plan, n: usize, rate: f64, r: &Run) {
    let lost = r.sent.saturating_sub(r.received);
    let cpu_us = r.run_ns as f64 / 1e3 / r.received.max(1) as f64;
    println!(
        "{:<13} {n:>2} {rate:>8.0} {:>9.0} {:>8} {:>7.3}% {:>10.1} {:>10.1} {:>6.2} {:>7.2} {:>9} {:>9} {:>6}",
        plan.name(),
        r.achieved,
        lost,
        100.0 * lost as f64 / r.sent.max(1) as f64,
        r.p50,
        r.p99,
        r.wait_ns as f64 / r.run_ns.max(1) as f64,
        cpu_us,
        r.first_kdrops,
        r.later_kdrops,
        r.nf_drops,
    );
}

fn inside(o: Opts) {
    let core = scc::sched::online_cpus()
        .ok()
        .and_then(|c| c.last().copied())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("scc-chain-plans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let queues = if o.big_queues {
        "4 MiB (scc-io default)".to_string()
    } else {
        format!(
            "first {:?} later {:?} (None: launcher default)",
            o.rxq, o.rxq_inner
        )
    };
    println!(
        "NFs on core {core}, generator + sink on core 0; mmsg batch 32; SCHED_{} nice {}; receive queues: {queues}",
        if o.batch_policy { "BATCH" } else { "OTHER" },
        o.nice
    );
    println!(
        "{:<13} {:>2} {:>8} {:>9} {:>8} {:>8} {:>10} {:>10} {:>6} {:>7} {:>9} {:>9} {:>6}",
        "plan",
        "n",
        "offered",
        "delivered",
        "lost",
        "loss",
        "p50_us",
        "p99_us",
        "wait/run",
        "cpu_us/f",
        "kdrop_1st",
        "kdrop_lat",
        "nfdrop"
    );
    for &plan in &o.plans {
        for &rate in &o.rates {
            let r = run_one(plan, o.n, rate, &o, &dir, core);
            print_run(plan, o.n, rate, &r);
        }
    }
    if let Some((a, b)) = o.slope {
        println!("# per-NF latency slope at {} pps (p50 vs N)", o.slope_rate);
        for &plan in &o.plans {
            let mut pts = Vec::new();
            for n in a..=b {
                let r = run_one(plan, n, o.slope_rate, &o, &dir, core);
                print_run(plan, n, o.slope_rate, &r);
                pts.push((n as f64, r.p50));
            }
            let m = pts.len() as f64;
            let (sx, sy) = pts.iter().fold((0.0, 0.0), |a, p| (a.0 + p.0, a.1 + p.1));
            let (mx, my) = (sx / m, sy / m);
            let num: f64 = pts.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
            let den: f64 = pts.iter().map(|p| (p.0 - mx).powi(2)).sum();
            println!(
                "# slope {}: {:.2} us per NF (p50, N = {a}..={b})",
                plan.name(),
                num / den
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--inside") {
        return inside(parse_opts(&args[1..]));
    }
    let mut o = parse_opts(&args);
    let root = scc::io::netns::have_sys_admin();
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    if root {
        scc::io::netns::command_in_new_netns(&mut cmd);
    } else {
        eprintln!("not root: nice 0 instead of -19 (negative nice needs CAP_SYS_NICE)");
        o.nice = 0;
        scc::io::netns::command_in_new_user_netns(&mut cmd);
    }
    let mut fwd: Vec<String> = vec!["--inside".into()];
    fwd.extend(args);
    fwd.extend(["--nice".into(), o.nice.to_string()]);
    let st = cmd
        .args(&fwd)
        .status()
        .expect("re-run in a network namespace");
    std::process::exit(st.code().unwrap_or(1));
}
