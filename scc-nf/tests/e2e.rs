//! End to end: the router NF between two veth pairs in a sandboxed user + network namespace.
//!
//! ```text
//! gen0 <-veth-> r_in [router NF] r_out <-veth-> sink0
//! ```
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use scc_io::link::{Netlink, VethPair};
use scc_io::{Driver, Port, PortConfig, open_port, wait_running};
use scc_nf::config::{NfConfig, Preset};
use scc_nf::nf::NfCounters;
use scc_nf::status::Status;
use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::{MacAddr, ethernet, icmp, ipv4};

const BURST: usize = 40;

fn mac_of(name: &str) -> MacAddr {
    MacAddr(Netlink::open().unwrap().link(name).unwrap().unwrap().mac)
}

fn topology() -> (VethPair, VethPair) {
    let a = VethPair::create("gen0", "r_in").unwrap();
    let b = VethPair::create("r_out", "sink0").unwrap();
    for i in ["gen0", "r_in", "r_out", "sink0"] {
        assert!(
            wait_running(i, Duration::from_secs(3)).unwrap(),
            "{i} not running"
        );
    }
    (a, b)
}

/// The burst: BURST good frames, then 3 with TTL 1, 3 with a bad checksum, 3 without a route.
fn burst(gen_mac: MacAddr, r_in_mac: MacAddr) -> Vec<Vec<u8>> {
    let base = UdpFrame {
        src_mac: gen_mac,
        dst_mac: r_in_mac,
        ..spec()
    };
    error_burst(&base, BURST, false)
}

fn send(port: &mut dyn Port, frames: &[Vec<u8>]) {
    assert_eq!(send_frames(port, frames), frames.len());
}

/// Receives IPv4 frames (ignoring the kernel's own IPv6 chatter) until `want` or a timeout.
fn recv_ipv4(port: &mut dyn Port, want: usize) -> Vec<Vec<u8>> {
    recv_ipv4_for(port, want, Duration::from_secs(5))
}

fn check_forwarded(got: &[Vec<u8>], r_out_mac: MacAddr, sink_mac: MacAddr) {
    assert_eq!(got.len(), BURST, "forwarded frames");
    let mut idents: Vec<u16> = Vec::new();
    for f in got {
        let eth = ethernet::Frame::new_checked(&f[..]).unwrap();
        assert_eq!(
            (eth.src_addr(), eth.dst_addr()),
            (r_out_mac, sink_mac),
            "MACs rewritten"
        );
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.ttl(), 63, "TTL decremented");
        assert!(ip.verify_checksum(), "checksum valid");
        assert_eq!(ip.dst_addr(), DST_IP);
        idents.push(ip.ident());
    }
    idents.sort();
    assert_eq!(idents, (0..BURST as u16).collect::<Vec<_>>());
}

fn check_icmp(got: &[Vec<u8>]) {
    assert_eq!(got.len(), 3, "one ICMP time exceeded per expired frame");
    for f in got {
        let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
        assert_eq!((ip.src_addr(), ip.dst_addr()), (ROUTER_IP, SRC_IP));
        let m = icmp::Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(m.msg_type(), icmp::msg_type::TIME_EXCEEDED);
        assert!(m.verify_checksum());
    }
}

fn check_counters(c: &NfCounters) {
    assert!(c.balanced(), "rx = tx + drops: {c:?}");
    assert_eq!(c.tx, (BURST + 3) as u64, "{c:?}");
    assert_eq!(c.drops.get("bad_ip_checksum"), Some(&3), "{c:?}");
    assert_eq!(c.drops.get("no_route"), Some(&3), "{c:?}");
    assert_eq!(c.events.get("icmp_time_exceeded"), Some(&3), "{c:?}");
    assert!(c.syscalls > 0);
}

scc_io::sandbox_test!(
    fn router_nf_forwards_a_burst_between_veth_pairs() {
        let _links = topology();
        let (gen_mac, r_in_mac, r_out_mac, sink_mac) = (
            mac_of("gen0"),
            mac_of("r_in"),
            mac_of("r_out"),
            mac_of("sink0"),
        );
        let cfg = NfConfig {
            preset: Some(Preset::Router),
            rx: Some("r_in".into()),
            tx: Some("r_out".into()),
            io: Some(Driver::Mmsg),
            batch: Some(32),
            routes: vec![
                "198.19.0.0/16".into(),
                format!("198.18.0.0/16 via {gen_mac} port rx"),
            ],
            gw_mac: Some(sink_mac),
            addrs: vec![ROUTER_IP],
            ..Default::default()
        };
        let mut nf = scc_nf::cli::prepare_nf(&cfg).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let h = std::thread::spawn(move || nf.run(&s2).unwrap());
        let mut gen_port = open_port(&PortConfig::new("gen0", Driver::Mmsg, 64)).unwrap();
        let mut sink = open_port(&PortConfig::new("sink0", Driver::Mmsg, 64)).unwrap();
        send(gen_port.as_mut(), &burst(gen_mac, r_in_mac));
        let got = recv_ipv4(sink.as_mut(), BURST);
        let icmp_back = recv_ipv4(gen_port.as_mut(), 3);
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let c = h.join().unwrap();
        check_forwarded(&got, r_out_mac, sink_mac);
        check_icmp(&icmp_back);
        check_counters(&c);
    }
);

scc_io::sandbox_test!(
    fn scc_nf_binary_routes_and_prints_counters_on_sigterm() {
        let _links = topology();
        let (gen_mac, r_in_mac, r_out_mac, sink_mac) = (
            mac_of("gen0"),
            mac_of("r_in"),
            mac_of("r_out"),
            mac_of("sink0"),
        );
        let dir = std::env::temp_dir().join(format!("scc-nf-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let routes = dir.join("routes.txt");
        std::fs::write(
            &routes,
            format!("# test\n198.18.0.0/16 via {gen_mac} port rx\n"),
        )
        .unwrap();
        let stats = dir.join("stats.jsonl");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_scc-nf"))
            .args([
                "router", "--rx", "r_in", "--tx", "r_out", "--io", "mmsg", "--batch", "16",
            ])
            .args([
                "--route",
                "198.19.0.0/16",
                "--routes",
                routes.to_str().unwrap(),
            ])
            .args([
                "--gw-mac",
                &sink_mac.to_string(),
                "--addr",
                &ROUTER_IP.to_string(),
            ])
            .args([
                "--poll",
                "adaptive",
                "--stats-file",
                stats.to_str().unwrap(),
            ])
            // The status channel on the (piped) stderr: ready, counters each second, final.
            .args(["--status-fd", "2"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut gen_port = open_port(&PortConfig::new("gen0", Driver::Mmsg, 64)).unwrap();
        let mut sink = open_port(&PortConfig::new("sink0", Driver::Mmsg, 64)).unwrap();
        // Wait until the NF has opened its sockets (its first stats line, or a bounded sleep).
        let t0 = Instant::now();
        let frames = burst(gen_mac, r_in_mac);
        let mut got = Vec::new();
        while got.is_empty() && t0.elapsed() < Duration::from_secs(5) {
            send(gen_port.as_mut(), &frames[..1]);
            got = recv_ipv4_for(sink.as_mut(), 1, Duration::from_millis(100));
            if let Some(st) = child.try_wait().unwrap() {
                panic!("scc-nf exited early: {st:?}");
            }
        }
        assert_eq!(got.len(), 1, "the NF never forwarded");
        std::thread::sleep(Duration::from_millis(1100)); // at least one stats line
        send(gen_port.as_mut(), &frames);
        let got = recv_ipv4(sink.as_mut(), BURST);
        check_forwarded(&got, r_out_mac, sink_mac);
        check_icmp(&recv_ipv4(gen_port.as_mut(), 3));
        // SIGTERM by PID (the standard library only has SIGKILL).
        let pid = child.id() as i32;
        assert_eq!(send_sigterm(pid), 0);
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "exit {:?}", out.status);
        let text = String::from_utf8(out.stdout).unwrap();
        assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
        let mut c: NfCounters = serde_json::from_str(&text).unwrap();
        // The status channel: `ready` first, counters every second, then `final` equal to
        // what stdout printed.
        let status: Vec<Status> = String::from_utf8(out.stderr)
            .unwrap()
            .lines()
            .map(|l| Status::parse(l).unwrap_or_else(|| panic!("not a status line: {l}")))
            .collect();
        assert_eq!(
            status.first(),
            Some(&Status::Ready {
                name: "router".into(),
                pid: pid as u32
            })
        );
        assert!(
            status
                .iter()
                .any(|s| matches!(s, Status::Counters(c) if c.balanced())),
            "{status:?}"
        );
        match status.last() {
            Some(Status::Final(f)) => {
                assert_eq!((f.rx, f.tx, &f.drops), (c.rx, c.tx, &c.drops));
            }
            other => panic!("last status line is not final: {other:?}"),
        }
        assert_eq!(
            status
                .iter()
                .filter(|s| matches!(s, Status::Final(_)))
                .count(),
            1
        );
        assert_eq!(
            (c.name.as_str(), c.nf.as_str(), c.io.as_str(), c.batch),
            ("router", "router", "mmsg", 16)
        );
        // The probe frames sent before the burst were forwarded too.
        let probes = c.tx - (BURST + 3) as u64;
        c.tx -= probes;
        c.rx -= probes;
        check_counters(&c);
        let lines = std::fs::read_to_string(&stats).unwrap();
        assert!(lines.lines().count() >= 2, "stats lines: {lines}");
        for l in lines.lines() {
            let s: NfCounters = serde_json::from_str(l).unwrap();
            assert!(s.balanced());
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
);

fn send_sigterm(pid: i32) -> i32 {
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_or(-1, |s| s.code().unwrap_or(-1))
}
