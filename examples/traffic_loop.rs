//! One-way latency and generator rate over a bare veth pair: gen -> veth -> sink.
//!
//! Runs as an ordinary user: the program re-executes itself in a fresh user + network namespace
//! (`scc_io::netns::command_in_new_user_netns`), creates the veth pair `tg0 <-> ts0` there, and
//! drives `scc_launcher::traffic` across it. Nothing is created outside that namespace, and
//! everything disappears with the process.
//!
//! ```text
//! cargo run --release --example traffic_loop -- [options]
//!   --rate LIST         offered pps, comma-separated; 0 = unpaced (as fast as the port takes)
//!                       [10000]
//!   --duration S        seconds per run [2]
//!   --size N|imix       frame size in bytes (62..), or the IMIX-like mix [64]
//!   --flows N           flows spread over source ports [1]
//!   --gen-driver LIST   packet|mmsg|ring, comma-separated [mmsg]
//!   --sink-driver D     packet|mmsg|ring [mmsg]
//!   --poll LIST         sleep|busy|adaptive, comma-separated [sleep]
//!   --batch N           generator batch [32]
//!   --gen-core N        pin the generator thread
//!   --sink-core N       pin the sink thread
//!   --json              one JSON report per line instead of text
//! ```
//! Columns: latency percentiles in microseconds; `sink cpu%` is the sink thread's CPU use;
//! `runq%` is the larger share of the run that the generator or the sink spent runnable but
//! waiting for a CPU (other load on the machine: figures with a high value are disturbed).
//!
//! Every combination of the lists runs once, in one process, so ratios between them come from
//! the same conditions.

use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use scc_io::link::{Netlink, VethPair};
use scc_io::{Driver, PortConfig};
use scc_launcher::traffic::{
    FrameSizes, PollMode, TrafficConfig, TrafficReport, open_port_in, run_with,
};

const INNER_ENV: &str = "SCC_TRAFFIC_LOOP_INNER";

struct Args {
    rates: Vec<f64>,
    duration: f64,
    size: FrameSizes,
    flows: u32,
    gen_drivers: Vec<Driver>,
    sink_driver: Driver,
    polls: Vec<PollMode>,
    batch: usize,
    gen_core: Option<usize>,
    sink_core: Option<usize>,
    json: bool,
}

fn list<T>(s: &str, f: impl Fn(&str) -> Result<T, String>) -> Result<Vec<T>, String> {
    s.split(',').map(|x| f(x.trim())).collect()
}

fn poll_mode(s: &str) -> Result<PollMode, String> {
    match s {
        "sleep" => Ok(PollMode::Sleep),
        "busy" => Ok(PollMode::Busy),
        "adaptive" => Ok(PollMode::Adaptive),
        o => Err(format!("unknown poll mode `{o}` (sleep|busy|adaptive)")),
    }
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        rates: vec![10_000.0],
        duration: 2.0,
        size: FrameSizes::Fixed(64),
        flows: 1,
        gen_drivers: vec![Driver::Mmsg],
        sink_driver: Driver::Mmsg,
        polls: vec![PollMode::Sleep],
        batch: 32,
        gen_core: None,
        sink_core: None,
        json: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--json" {
            a.json = true;
            continue;
        }
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = |what: &str, v: &str| -> Result<f64, String> {
            v.parse::<f64>()
                .map_err(|_| format!("{what}: `{v}` is not a number"))
        };
        let int = |what: &str, v: &str| -> Result<usize, String> {
            v.parse::<usize>()
                .map_err(|_| format!("{what}: `{v}` is not a whole number"))
        };
        let driver = |v: &str| v.parse::<Driver>().map_err(|e| e.to_string());
        match flag.as_str() {
            "--rate" => a.rates = list(&v, |x| num("--rate", x))?,
            "--duration" => a.duration = num("--duration", &v)?,
            "--size" if v == "imix" => a.size = FrameSizes::imix(),
            "--size" => a.size = FrameSizes::Fixed(int("--size", &v)?),
            "--flows" => a.flows = int("--flows", &v)? as u32,
            "--gen-driver" => a.gen_drivers = list(&v, driver)?,
            "--sink-driver" => a.sink_driver = driver(&v)?,
            "--poll" => a.polls = list(&v, poll_mode)?,
            "--batch" => a.batch = int("--batch", &v)?,
            "--gen-core" => a.gen_core = Some(int("--gen-core", &v)?),
            "--sink-core" => a.sink_core = Some(int("--sink-core", &v)?),
            o => return Err(format!("unknown option `{o}`")),
        }
    }
    Ok(a)
}

/// Re-runs this program in a fresh user + network namespace and returns its exit code.
fn reexec_in_sandbox() -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => {
            eprintln!("traffic_loop: cannot find my own executable: {e}");
            return 1;
        }
    };
    let mut cmd = Command::new(&exe);
    cmd.args(std::env::args_os().skip(1)).env(INNER_ENV, "1");
    scc_io::netns::command_in_new_user_netns(&mut cmd);
    let status = match cmd.status() {
        Ok(s) => s,
        Err(e) if scc_io::netns::have_sys_admin() => {
            // Root on a host without user namespaces: a plain new network namespace will do.
            eprintln!("traffic_loop: user namespace failed ({e}); using a plain network namespace");
            let mut cmd = Command::new(&exe);
            cmd.args(std::env::args_os().skip(1)).env(INNER_ENV, "1");
            scc_io::netns::command_in_new_netns(&mut cmd);
            match cmd.status() {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("traffic_loop: cannot create a network namespace: {e}");
                    return 1;
                }
            }
        }
        Err(e) => {
            eprintln!(
                "traffic_loop: cannot create a user + network namespace: {e} \
                 (are unprivileged user namespaces allowed on this host?)"
            );
            return 1;
        }
    };
    status.code().unwrap_or(1)
}

fn run_one(
    a: &Args,
    rate: f64,
    gen_driver: Driver,
    poll: PollMode,
) -> Result<TrafficReport, String> {
    let mut cfg = TrafficConfig::default();
    cfg.generator.rate_pps = rate;
    cfg.generator.duration_s = Some(a.duration);
    cfg.generator.batch = a.batch;
    cfg.generator.core = a.gen_core;
    cfg.generator.probe.frame_size = a.size.clone();
    cfg.generator.probe.flows = a.flows;
    cfg.sink.poll = poll;
    cfg.sink.core = a.sink_core;
    cfg.sink.drain_ms = 500;
    let frame_size = a.size.max_size().max(scc_io::DEFAULT_FRAME_SIZE);
    let gen_pc = PortConfig {
        frame_size,
        ..PortConfig::new("tg0", gen_driver, a.batch)
    };
    let sink_pc = PortConfig {
        frame_size,
        ..PortConfig::new("ts0", a.sink_driver, 64)
    };
    let wait = Duration::from_secs(2);
    run_with(
        &cfg,
        || open_port_in(None, &gen_pc, wait),
        || open_port_in(None, &sink_pc, wait),
        &AtomicBool::new(false),
    )
    .map_err(|e| e.to_string())
}

fn inner(a: &Args) -> Result<(), String> {
    let _pair = VethPair::create("tg0", "ts0").map_err(|e| format!("veth pair: {e}"))?;
    let largest = a.size.max_size();
    if largest > 1514 {
        // Jumbo frames: raise the MTU of both ends (the IPv4 packet is the frame minus 14).
        let mut nl = Netlink::open().map_err(|e| format!("netlink: {e}"))?;
        for end in ["tg0", "ts0"] {
            nl.set_mtu(end, (largest - 14) as u32)
                .map_err(|e| format!("MTU of {end}: {e}"))?;
        }
    }
    if !a.json {
        println!(
            "{:>6} {:>8} {:>8} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6}",
            "gen",
            "sink",
            "poll",
            "offered",
            "achieved",
            "lost",
            "p1",
            "p25",
            "p50",
            "p75",
            "p99",
            "max",
            "sink cpu%",
            "runq%"
        );
    }
    for &gen_driver in &a.gen_drivers {
        for &rate in &a.rates {
            for &poll in &a.polls {
                let r = run_one(a, rate, gen_driver, poll)?;
                if a.json {
                    let mut v = serde_json::to_value(&r).map_err(|e| e.to_string())?;
                    v["gen_driver"] = gen_driver.name().into();
                    v["sink_driver"] = a.sink_driver.name().into();
                    println!("{v}");
                    continue;
                }
                let l = r.latency_us;
                let f = |x: Option<f64>| x.map_or("-".to_string(), |x| format!("{x:.1}"));
                println!(
                    "{:>6} {:>8} {:>8} {:>10.0} {:>10.0} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>6}",
                    gen_driver.name(),
                    a.sink_driver.name(),
                    format!("{poll:?}").to_lowercase(),
                    r.offered_pps,
                    r.achieved_pps,
                    r.lost,
                    f(l.map(|l| l.p1)),
                    f(l.map(|l| l.p25)),
                    f(l.map(|l| l.p50)),
                    f(l.map(|l| l.p75)),
                    f(l.map(|l| l.p99)),
                    f(l.map(|l| l.max)),
                    format!("{:.0}", 100.0 * r.sink.cpu_s / r.sink.elapsed_s.max(1e-9)),
                    // Share of the run the generator or sink spent waiting for a CPU: high
                    // values mean other load disturbed this measurement.
                    r.generator.runq_wait_s.zip(r.sink.runq_wait_s).map_or(
                        "-".to_string(),
                        |(g, s)| format!("{:.1}", 100.0 * g.max(s) / r.sink.elapsed_s.max(1e-9))
                    ),
                );
                if r.generator.tx_dropped + r.sink.kernel_drops + r.generator.unsent > 0 {
                    println!(
                        "       tx dropped {}, sink kernel drops {}, unsent (generator behind) {}",
                        r.generator.tx_dropped, r.sink.kernel_drops, r.generator.unsent
                    );
                }
            }
        }
    }
    Ok(())
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("traffic_loop: {e}");
            }
            eprintln!(
                "usage: traffic_loop [--rate LIST] [--duration S] [--size N|imix] [--flows N] \
                 [--gen-driver LIST] [--sink-driver D] [--poll LIST] [--batch N] \
                 [--gen-core N] [--sink-core N] [--json]"
            );
            std::process::exit(2);
        }
    };
    if std::env::var_os(INNER_ENV).is_none() {
        std::process::exit(reexec_in_sandbox());
    }
    if let Err(e) = inner(&args) {
        eprintln!("traffic_loop: {e}");
        std::process::exit(1);
    }
}
