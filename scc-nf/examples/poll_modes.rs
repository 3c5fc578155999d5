//! Measures the router NF's one-hop latency and CPU cost under the three poll modes
//! (sleep / busy / adaptive) and the I/O backends, on veth pairs in a private user + network
//! namespace (re-executes itself there; no root needed).
//!
//! ```text
//! driver thread: gen0 --veth--> r_in [router NF thread] r_out --veth--> sink0 :driver thread
//! ```
//! The driver sends one 64-byte frame carrying a timestamp, spins on sink0 until it arrives
//! (so its own wake-up is not measured), then sleeps until the next send: a light load of
//! `RATE` frames per second, where the NF's core idles between frames as in the paper's latency
//! experiments. Reports p50 / p99 / max one-hop latency and the NF thread's CPU time per second.
//!
//! Run: `cargo run --release -p scc-nf --example poll_modes [-- FRAMES RATE]`
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scc_io::link::{Netlink, VethPair};
use scc_io::netns::{command_in_new_user_netns, have_net_admin};
use scc_io::{Batch, Driver, PortConfig, open_port, wait_running};
use scc_nf::config::{NfConfig, PollMode, Preset};
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::UdpFrame;

fn mac_of(name: &str) -> MacAddr {
    MacAddr(Netlink::open().unwrap().link(name).unwrap().unwrap().mac)
}

/// Run time (ns) of the calling thread from /proc/thread-self/schedstat.
fn thread_run_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

fn pct(v: &[u64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v[((v.len() - 1) as f64 * p) as usize] as f64 / 1000.0
}

fn measure(driver: Driver, poll: PollMode, frames: usize, rate: u64) {
    let (gen_mac, r_in_mac, sink_mac) = (mac_of("gen0"), mac_of("r_in"), mac_of("sink0"));
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        rx: Some("r_in".into()),
        tx: Some("r_out".into()),
        io: Some(driver),
        batch: Some(32),
        poll: Some(poll),
        routes: vec!["198.19.0.0/16".into()],
        gw_mac: Some(sink_mac),
        addrs: vec![Ipv4Addr::new(198, 18, 0, 254)],
        ..Default::default()
    };
    let mut nf = scc_nf::cli::prepare_nf(&cfg).expect("nf");
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let h = std::thread::spawn(move || {
        let t0 = thread_run_ns();
        let w0 = Instant::now();
        let c = nf.run(&s2).expect("run");
        (c, thread_run_ns() - t0, w0.elapsed())
    });
    let mut tx = open_port(&PortConfig::new("gen0", Driver::Mmsg, 1)).expect("gen0");
    let mut rx = open_port(&PortConfig::new("sink0", Driver::Mmsg, 32)).expect("sink0");
    let spec = UdpFrame {
        src_mac: gen_mac,
        dst_mac: r_in_mac,
        ..UdpFrame::default()
    };
    let mut out = Batch::new(1, 2048).unwrap();
    let mut inb = Batch::new(32, 2048).unwrap();
    let start = Instant::now();
    let interval = Duration::from_nanos(1_000_000_000 / rate.max(1));
    let mut lat = Vec::with_capacity(frames);
    let mut lost = 0;
    std::thread::sleep(Duration::from_millis(100));
    for k in 0..frames {
        let due = start + interval * k as u32;
        if let Some(d) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        out.clear();
        let slot = out.next_slot_mut().unwrap();
        let t = start.elapsed().as_nanos() as u64;
        let n = spec
            .write_with(slot, 22, |p| p[..8].copy_from_slice(&t.to_be_bytes()))
            .unwrap();
        out.commit(n).unwrap();
        tx.send_batch(&out).unwrap();
        let deadline = Instant::now() + Duration::from_millis(50);
        let mut got = false;
        while !got && Instant::now() < deadline {
            inb.clear();
            if rx.recv_batch(&mut inb).unwrap() == 0 {
                std::hint::spin_loop();
                continue;
            }
            let now = start.elapsed().as_nanos() as u64;
            for f in inb.iter() {
                if f.len() >= 50 && f[12..14] == [8, 0] && f[23] == 17 {
                    let sent = u64::from_be_bytes(f[42..50].try_into().unwrap());
                    if sent == t {
                        lat.push(now - sent);
                        got = true;
                    }
                }
            }
        }
        if !got {
            lost += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    let (c, cpu_ns, wall) = h.join().unwrap();
    lat.sort_unstable();
    println!(
        "{:<6} {:<9} p50 {:>7.1} us  p99 {:>7.1} us  max {:>8.1} us  lost {:>3}  NF CPU {:>5.1}% of a core  syscalls/frame {:>5.2}",
        driver.name(),
        poll.name(),
        pct(&lat, 0.5),
        pct(&lat, 0.99),
        pct(&lat, 1.0),
        lost,
        cpu_ns as f64 / wall.as_nanos() as f64 * 100.0,
        c.syscalls as f64 / c.rx.max(1) as f64,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if !have_net_admin() {
        let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
        cmd.args(&args[1..]);
        let st = command_in_new_user_netns(&mut cmd)
            .status()
            .expect("re-exec in a namespace");
        std::process::exit(st.code().unwrap_or(1));
    }
    let frames: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let rate: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let _lo = Netlink::open().unwrap().set_up("lo");
    let _a = VethPair::create("gen0", "r_in").unwrap();
    let _b = VethPair::create("r_out", "sink0").unwrap();
    for i in ["gen0", "r_in", "r_out", "sink0"] {
        assert!(wait_running(i, Duration::from_secs(3)).unwrap());
    }
    println!("router NF, one hop, {frames} frames at {rate} frames/s, one in flight");
    for driver in [Driver::Mmsg, Driver::Ring, Driver::Packet] {
        for poll in [PollMode::Sleep, PollMode::Adaptive, PollMode::Busy] {
            measure(driver, poll, frames, rate);
        }
    }
}
