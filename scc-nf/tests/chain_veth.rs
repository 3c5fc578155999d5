//! Chain-aware plans for real, on veth pairs in a sandboxed user + network namespace:
//! three routers fused into one `scc-nf chain` process, and three `scc-nf router` processes in
//! chain order on one core (exact per-NF counts end to end), an idle chain-order chain's CPU
//! use, and a chain-order NF killed mid-run (the others give up naming it).
//!
//! ```text
//! fused:        gen0 ══ c_in [r0 → r1 → r2] c_out ══ sink0
//! chain order:  gen0 ══ r0_in [r0] r0_out ══ r1_in [r1] r1_out ══ r2_in [r2] r2_out ══ sink0
//! ```
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use scc_io::link::{Netlink, VethPair};
use scc_io::{Driver, Port, PortConfig, open_port, wait_running};
use scc_nf::chain::{ChainCounters, REVERSE_UNREAD};
use scc_nf::nf::NfCounters;
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::UdpFrame;
use scc_sched::handoff::Handoff;

const GOOD: usize = 40;
const N: usize = 3;

fn mac_of(name: &str) -> MacAddr {
    MacAddr(Netlink::open().unwrap().link(name).unwrap().unwrap().mac)
}

/// No IPv6 chatter (router solicitations, MLD) on the links we make: the counts stay exact.
fn quiet_ipv6() {
    for k in ["all", "default"] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{k}/disable_ipv6"), b"1");
    }
}

fn links(pairs: &[(&str, &str)]) -> Vec<VethPair> {
    quiet_ipv6();
    let v: Vec<VethPair> = pairs
        .iter()
        .map(|(a, b)| VethPair::create(a, b).unwrap())
        .collect();
    for (a, b) in pairs {
        for i in [a, b] {
            assert!(wait_running(i, Duration::from_secs(3)).unwrap(), "{i}");
        }
    }
    v
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("scc-nf-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Packet sockets open in this namespace (`/proc/net/packet` has a header line).
fn packet_sockets() -> usize {
    std::fs::read_to_string("/proc/self/net/packet")
        .map_or(0, |s| s.lines().count().saturating_sub(1))
}

fn wait_sockets(n: usize, children: &mut [Child]) {
    let t = Instant::now();
    while packet_sockets() < n {
        for c in children.iter_mut() {
            if let Some(st) = c.try_wait().unwrap() {
                panic!("an NF exited early: {st:?}");
            }
        }
        assert!(t.elapsed() < Duration::from_secs(10), "NFs not ready");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// 40 good frames, 3 with TTL 2 (expire at the second NF), 3 with TTL 1 (at the first), 3
/// with a bad checksum, 3 without a route.
fn burst(gen_mac: MacAddr, dst: MacAddr) -> Vec<Vec<u8>> {
    let base = UdpFrame {
        src_mac: gen_mac,
        dst_mac: dst,
        ..spec()
    };
    error_burst(&base, GOOD, true)
}

fn send(port: &mut dyn Port, frames: &[Vec<u8>]) {
    assert_eq!(send_frames(port, frames), frames.len());
}

fn recv_ipv4(port: &mut dyn Port, want: usize) -> Vec<Vec<u8>> {
    recv_ipv4_for(port, want, Duration::from_secs(5))
}

/// Sends `sig` (`TERM`, `KILL`) to `pid` with kill(1) (the standard library has only SIGKILL).
fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

fn sigterm(c: &Child) {
    signal(c.id(), "TERM");
}

fn nf_toml(k: usize, extra: &str, gen_mac: MacAddr, gw: MacAddr) -> String {
    format!(
        "name = \"r{k}\"\npreset = \"router\"\nbatch = 16\n{extra}\nroutes = [\"198.19.0.0/16\", \"198.18.0.0/16 via {gen_mac} port rx\"]\ngw_mac = \"{gw}\"\naddrs = [\"198.18.0.{}\"]\n",
        250 + k
    )
}

/// The core chain-order NFs share: the last online one (core 0 stays for the harness).
fn chain_core() -> usize {
    scc_sched::online_cpus()
        .ok()
        .and_then(|c| c.last().copied())
        .unwrap_or(0)
}

scc_io::sandbox_test!(
    fn three_routers_fused_in_one_process_count_exactly_per_nf() {
        let _l = links(&[("gen0", "c_in"), ("c_out", "sink0")]);
        let (gen_mac, c_in, c_out, sink_mac) = (
            mac_of("gen0"),
            mac_of("c_in"),
            mac_of("c_out"),
            mac_of("sink0"),
        );
        let d = dir("fused");
        let virt = |k: usize| MacAddr([0x02, 0, 0, 0, 0x10, k as u8]);
        let files: Vec<PathBuf> = (0..N)
            .map(|k| {
                let (extra, gw) = match k {
                    0 => ("rx = \"c_in\"".to_string(), virt(1)),
                    2 => ("tx = \"c_out\"".to_string(), sink_mac),
                    _ => (format!("src_mac = \"{}\"", virt(k)), virt(k + 1)),
                };
                let p = d.join(format!("r{k}.toml"));
                std::fs::write(&p, nf_toml(k, &extra, gen_mac, gw)).unwrap();
                p
            })
            .collect();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_scc-nf"));
        cmd.arg("chain");
        for f in &files {
            cmd.arg("--config").arg(f);
        }
        let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
        wait_sockets(2, std::slice::from_mut(&mut child));
        let mut gen_port = open_port(&PortConfig::new("gen0", Driver::Mmsg, 64)).unwrap();
        let mut sink = open_port(&PortConfig::new("sink0", Driver::Mmsg, 64)).unwrap();
        send(gen_port.as_mut(), &burst(gen_mac, c_in));
        let got = recv_ipv4(sink.as_mut(), GOOD);
        let back = recv_ipv4(gen_port.as_mut(), 3);
        std::thread::sleep(Duration::from_millis(50));
        sigterm(&child);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{:?}", out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        let c: ChainCounters = serde_json::from_str(text.trim()).unwrap();
        check_delivered_after(&got, GOOD, N as u8, c_out, sink_mac);
        assert_eq!(back.len(), 3, "ICMP time exceeded from the first NF");
        check_three_routers(&c.nfs, GOOD as u64, 0);
        assert_eq!((c.rx, c.tx, c.tx_back), (52, 40, 3), "{c:?}");
        assert_eq!(c.drops.get(REVERSE_UNREAD), Some(&3), "{c:?}");
        assert!(c.balanced(), "{c:?}");
        // The generator counted what it sent, the sink what it got: the chain's identity with
        // the far ends counted by other parties.
        assert_eq!(52, got.len() as u64 + back.len() as u64 + c.dropped());
        assert_eq!(c.nfs[1].syscalls, 0, "the middle NF touches no kernel port");
        std::fs::remove_dir_all(&d).unwrap();
    }
);

/// Spawns the three chain-order routers (one core, one hand-off file); returns them with the
/// MACs of r0_in, r2_out and the sink.
fn chain_order_nfs(d: &Path, timeout_ms: u64) -> (Vec<Child>, MacAddr, MacAddr, MacAddr) {
    let gen_mac = mac_of("gen0");
    let sink_mac = mac_of("sink0");
    let file = d.join("handoff");
    let _owner = Handoff::create(&file, N).unwrap();
    let core = chain_core();
    let mut kids: Vec<Child> = (0..N)
        .map(|k| {
            let gw = if k + 1 < N {
                mac_of(&format!("r{}_in", k + 1))
            } else {
                sink_mac
            };
            let p = d.join(format!("r{k}.toml"));
            let extra = format!("rx = \"r{k}_in\"\ntx = \"r{k}_out\"");
            std::fs::write(&p, nf_toml(k, &extra, gen_mac, gw)).unwrap();
            let child = Command::new(env!("CARGO_BIN_EXE_scc-nf"))
                .args(["run", "--config"])
                .arg(&p)
                .arg("--handoff")
                .arg(&file)
                .args(["--handoff-index", &k.to_string()])
                .args(["--handoff-timeout-ms", &timeout_ms.to_string()])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            scc_sched::set_affinity(child.id() as i32, &[core]).unwrap();
            child
        })
        .collect();
    wait_sockets(2 * N, &mut kids);
    (kids, mac_of("r0_in"), mac_of("r2_out"), sink_mac)
}

const CHAIN_LINKS: [(&str, &str); 4] = [
    ("gen0", "r0_in"),
    ("r0_out", "r1_in"),
    ("r1_out", "r2_in"),
    ("r2_out", "sink0"),
];

scc_io::sandbox_test!(
    fn three_routers_in_chain_order_on_one_core_count_exactly_per_nf() {
        let _l = links(&CHAIN_LINKS);
        let d = dir("order");
        let (kids, r0_in, r2_out, sink_mac) = chain_order_nfs(&d, 2000);
        let gen_mac = mac_of("gen0");
        let mut gen_port = open_port(&PortConfig::new("gen0", Driver::Mmsg, 64)).unwrap();
        let mut sink = open_port(&PortConfig::new("sink0", Driver::Mmsg, 64)).unwrap();
        send(gen_port.as_mut(), &burst(gen_mac, r0_in));
        let got = recv_ipv4(sink.as_mut(), GOOD);
        let back = recv_ipv4(gen_port.as_mut(), 3);
        std::thread::sleep(Duration::from_millis(50));
        for k in &kids {
            sigterm(k);
        }
        let counters: Vec<NfCounters> = kids
            .into_iter()
            .map(|k| {
                let out = k.wait_with_output().unwrap();
                assert!(
                    out.status.success(),
                    "{:?} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap()
            })
            .collect();
        check_delivered_after(&got, GOOD, N as u8, r2_out, sink_mac);
        assert_eq!(back.len(), 3);
        check_three_routers(&counters, GOOD as u64, 0);
        // One batch (at most 16 frames) per turn: 52 frames took at least 4 turns.
        let w = Handoff::open(&d.join("handoff"), 0).unwrap();
        for (k, c) in counters.iter().enumerate() {
            assert!(
                c.batches <= w.turns(k),
                "NF {k}: {} batches in {} turns",
                c.batches,
                w.turns(k)
            );
        }
        assert!(counters[0].batches >= 4, "{:?}", counters[0]);
        assert!(w.work() >= 52 + 43 + 40, "work {}", w.work());
        std::fs::remove_dir_all(&d).unwrap();
    }
);

/// CPU time (run time from schedstat) of `pid`, in nanoseconds.
fn cpu_ns(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

scc_io::sandbox_test!(
    fn an_idle_chain_order_chain_sleeps() {
        let _l = links(&CHAIN_LINKS);
        let d = dir("idle");
        let (kids, ..) = chain_order_nfs(&d, 2000);
        std::thread::sleep(Duration::from_millis(200)); // past start-up
        let before: u64 = kids.iter().map(|k| cpu_ns(k.id())).sum();
        let t = Instant::now();
        std::thread::sleep(Duration::from_secs(2));
        let used: u64 = kids.iter().map(|k| cpu_ns(k.id())).sum::<u64>() - before;
        let share = used as f64 / t.elapsed().as_nanos() as f64;
        println!(
            "idle chain-order chain of {N}: {:.3}% of a core over {:?}",
            share * 100.0,
            t.elapsed()
        );
        for k in &kids {
            sigterm(k);
        }
        for k in kids {
            assert!(k.wait_with_output().unwrap().status.success());
        }
        assert!(
            share < 0.05,
            "an idle chain used {:.1}% of a core",
            share * 100.0
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
);

scc_io::sandbox_test!(
    fn a_killed_chain_order_nf_is_named_by_the_others_which_give_up() {
        let _l = links(&CHAIN_LINKS);
        let d = dir("kill");
        let (mut kids, ..) = chain_order_nfs(&d, 500);
        let victim = kids.remove(1);
        let victim_pid = victim.id();
        signal(victim_pid, "KILL");
        let t = Instant::now();
        for k in kids {
            let out = k.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{err}");
            assert!(
                err.contains(&format!("NF #1 (pid {victim_pid})")),
                "names the stalled NF: {err}"
            );
            // The counters so far are still printed, balanced.
            let c: NfCounters =
                serde_json::from_str(String::from_utf8(out.stdout).unwrap().trim()).unwrap();
            assert!(c.balanced());
        }
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let _ = victim.wait_with_output();
        std::fs::remove_dir_all(&d).unwrap();
    }
);
