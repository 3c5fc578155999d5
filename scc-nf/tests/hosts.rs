//! Real hosts on both sides of the router NF: two network namespaces with kernel stacks whose
//! default routes point at the router, in a sandboxed user + network namespace.
//!
//! ```text
//! [ns A] ha0 198.18.1.1/24 <-veth-> r0 [router NF] r1 <-veth-> hb0 198.18.2.1/24 [ns B]
//!        default via 198.18.1.254      198.18.1.254 | 198.18.2.254    default via 198.18.2.254
//! ```
//! The same checks run through a chain of three router NFs, and against the kernel's own
//! forwarding in the router's namespace (the behaviour anchor): `ping` round trips, a 4 MiB TCP transfer arrives intact, `arping` on
//! each side gets that side's router MAC, and frames to a foreign MAC do not come out.
mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scc_io::link::{Netlink, set_offloads};
use scc_io::netns::{NetNs, command_in_netns};
use scc_io::{Batch, Driver, PortConfig, open_port, wait_running};
use scc_nf::config::{NfConfig, Preset};
use scc_nf::nf::NfCounters;
use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::{MacAddr, ethernet, ipv4};

const A_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 1);
const R0_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 1, 254);
const B_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const R1_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);
const FOREIGN: MacAddr = MacAddr([0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
const FOREIGN_FRAMES: u16 = 100;
const TCP_BYTES: usize = 4 << 20;

struct Hosts {
    a: NetNs,
    b: NetNs,
    r0_mac: MacAddr,
    r1_mac: MacAddr,
    a_mac: MacAddr,
    b_mac: MacAddr,
}

fn mac_in(ns: &NetNs, ifname: &str) -> MacAddr {
    let mut nl = Netlink::open_in(ns).unwrap();
    MacAddr(nl.link(ifname).unwrap().unwrap().mac)
}

fn run_ok(ns: &NetNs, argv: &[&str]) -> String {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]);
    command_in_netns(&mut cmd, ns);
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{argv:?} failed: {text}");
    text
}

fn write_sysctl(path: &str, value: &str) {
    std::fs::write(path, value).unwrap_or_else(|e| panic!("{path}: {e}"));
}

/// The two host namespaces and the router's interfaces (in the current namespace), with
/// addresses and routes. `kernel`: the router namespace forwards by itself; otherwise its
/// kernel neither forwards nor answers ARP (the NF does).
fn topology(kernel: bool) -> Hosts {
    let a = NetNs::new().unwrap();
    let b = NetNs::new().unwrap();
    let mut nl = Netlink::open().unwrap();
    nl.create_veth_peer_in("r0", "ha0", &a).unwrap();
    nl.create_veth_peer_in("r1", "hb0", &b).unwrap();
    for (r, ip) in [("r0", R0_IP), ("r1", R1_IP)] {
        nl.add_ipv4(r, ip, 24).unwrap();
        nl.set_up(r).unwrap();
        write_sysctl(
            &format!("/proc/sys/net/ipv4/conf/{r}/arp_ignore"),
            if kernel { "0" } else { "8" },
        );
    }
    write_sysctl(
        "/proc/sys/net/ipv4/ip_forward",
        if kernel { "1" } else { "0" },
    );
    for (ns, h, ip, gw) in [(&a, "ha0", A_IP, R0_IP), (&b, "hb0", B_IP, R1_IP)] {
        let mut hn = Netlink::open_in(ns).unwrap();
        hn.add_ipv4(h, ip, 24).unwrap();
        hn.set_up(h).unwrap();
        // The hosts' packets cross AF_PACKET sockets: no TCP super-frames, real checksums.
        ns.run(|| set_offloads(h, false)).unwrap().unwrap();
        run_ok(
            ns,
            &["ip", "route", "add", "default", "via", &gw.to_string()],
        );
    }
    for i in ["r0", "r1"] {
        assert!(wait_running(i, Duration::from_secs(3)).unwrap(), "{i}");
    }
    Hosts {
        r0_mac: mac_in(&NetNs::current().unwrap(), "r0"),
        r1_mac: mac_in(&NetNs::current().unwrap(), "r1"),
        a_mac: mac_in(&a, "ha0"),
        b_mac: mac_in(&b, "hb0"),
        a,
        b,
    }
}

fn ping(h: &Hosts) {
    let out = run_ok(
        &h.a,
        &["ping", "-c", "3", "-i", "0.2", "-W", "2", &B_IP.to_string()],
    );
    assert!(out.contains("3 received"), "{out}");
    let out = run_ok(
        &h.b,
        &["ping", "-c", "2", "-i", "0.2", "-W", "2", &A_IP.to_string()],
    );
    assert!(out.contains("2 received"), "{out}");
}

/// `arping` for the router's address on one side names that side's router MAC only.
fn arping(ns: &NetNs, ifname: &str, ip: Ipv4Addr, want: MacAddr, other: MacAddr) {
    let out = run_ok(
        ns,
        &[
            "arping",
            "-c",
            "2",
            "-w",
            "5",
            "-i",
            ifname,
            &ip.to_string(),
        ],
    );
    let text = out.to_lowercase();
    assert!(text.contains(&want.to_string()), "want {want}: {out}");
    assert!(!text.contains(&other.to_string()), "not {other}: {out}");
}

fn pattern(n: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9u32;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// A Rust TcpStream pair: A sends 4 MiB to B through the router; B checks every byte.
fn tcp_transfer(h: &Hosts) {
    let listener =
        h.b.run(|| TcpListener::bind((B_IP, 5001)))
            .unwrap()
            .unwrap();
    let server = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut got = Vec::with_capacity(TCP_BYTES);
        s.read_to_end(&mut got).unwrap();
        got
    });
    let data = pattern(TCP_BYTES);
    let mut c = h
        .a
        .run(|| TcpStream::connect_timeout(&SocketAddr::from((B_IP, 5001)), Duration::from_secs(5)))
        .unwrap()
        .unwrap();
    c.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(&data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let got = server.join().unwrap();
    assert_eq!(got.len(), data.len(), "bytes received");
    assert!(got == data, "the transfer arrived changed");
}

/// Sends `FOREIGN_FRAMES` UDP frames from A to B addressed to a foreign MAC (a raw port in A)
/// and counts how many reach B's interface (a raw port in B). Returns the count.
fn foreign_frames(h: &Hosts) -> usize {
    let mut sink =
        h.b.run(|| open_port(&PortConfig::new("hb0", Driver::Mmsg, 64)))
            .unwrap()
            .unwrap();
    let mut src =
        h.a.run(|| open_port(&PortConfig::new("ha0", Driver::Mmsg, 64)))
            .unwrap()
            .unwrap();
    let mut b = Batch::new(usize::from(FOREIGN_FRAMES), 2048).unwrap();
    let mut buf = [0u8; 64];
    for k in 0..FOREIGN_FRAMES {
        let n = UdpFrame {
            src_mac: h.a_mac,
            dst_mac: FOREIGN,
            src_ip: A_IP,
            dst_ip: B_IP,
            dst_port: 7,
            ident: 0x7000 + k,
            ..UdpFrame::default()
        }
        .write(&mut buf, &[0x33; 22])
        .unwrap();
        b.push(&buf[..n]).unwrap();
    }
    assert_eq!(src.send_batch(&b).unwrap(), usize::from(FOREIGN_FRAMES));
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_millis(700);
    let mut rb = Batch::new(64, 2048).unwrap();
    while Instant::now() < deadline {
        rb.clear();
        if sink.recv_batch(&mut rb).unwrap() == 0 {
            sink.wait_readable(Some(Duration::from_millis(20))).unwrap();
            continue;
        }
        for f in rb.iter() {
            let Ok(e) = ethernet::Frame::new_checked(f) else {
                continue;
            };
            if let Ok(ip) = ipv4::Packet::new_checked(e.payload())
                && ip.src_addr() == A_IP
                && (0x7000..0x7000 + FOREIGN_FRAMES).contains(&ip.ident())
            {
                seen += 1;
            }
        }
    }
    seen
}

fn start_router(h: &Hosts) -> (Arc<AtomicBool>, std::thread::JoinHandle<NfCounters>) {
    // Routes name their port by interface; addresses come from the interfaces.
    start_nf(
        "r0",
        "r1",
        vec![
            format!("198.18.1.0/24 via {} port r0", h.a_mac),
            format!("198.18.2.0/24 via {} port r1", h.b_mac),
        ],
    )
}

fn start_nf(
    rx: &str,
    tx: &str,
    routes: Vec<String>,
) -> (Arc<AtomicBool>, std::thread::JoinHandle<NfCounters>) {
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        name: Some(rx.into()),
        rx: Some(rx.into()),
        tx: Some(tx.into()),
        io: Some(Driver::Mmsg),
        batch: Some(32),
        routes,
        ..Default::default()
    };
    let mut nf = scc_nf::cli::prepare_nf(&cfg).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    (stop, std::thread::spawn(move || nf.run(&s2).unwrap()))
}

fn check_all(h: &Hosts) -> usize {
    arping(&h.a, "ha0", R0_IP, h.r0_mac, h.r1_mac);
    arping(&h.b, "hb0", R1_IP, h.r1_mac, h.r0_mac);
    ping(h);
    tcp_transfer(h);
    foreign_frames(h)
}

fn tools_present(test: &str) -> bool {
    for tool in ["ping", "arping", "ip"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        if !found {
            scc_io::skip::skipped(test, &format!("`{tool}` is not installed"));
            return false;
        }
    }
    true
}

scc_io::sandbox_test!(
    fn router_nf_serves_two_kernel_hosts_both_ways() {
        if !tools_present("router_nf_serves_two_kernel_hosts_both_ways") {
            return;
        }
        let h = topology(false);
        let (stop, nf) = start_router(&h);
        let leaked = check_all(&h);
        std::thread::sleep(Duration::from_millis(50));
        stop.store(true, Ordering::Relaxed);
        let c = nf.join().unwrap();
        println!("router counters: {}", serde_json::to_string(&c).unwrap());
        assert_eq!(leaked, 0, "frames to a foreign MAC came out: {c:?}");
        assert_eq!(
            c.drops.get("other_host"),
            Some(&u64::from(FOREIGN_FRAMES)),
            "{c:?}"
        );
        assert!(c.balanced(), "{c:?}");
        let (p0, p1) = (&c.ports[0], &c.ports[1]);
        assert_eq!((p0.name.as_str(), p1.name.as_str()), ("r0", "r1"));
        // Both ways: each port received and sent (ARP replies, pings, TCP data and ACKs).
        assert!(
            p0.rx > 1000 && p0.tx > 0 && p1.rx > 0 && p1.tx > 1000,
            "{c:?}"
        );
        assert!(
            c.events.get("arp_replies").is_some_and(|&n| n >= 4),
            "{c:?}"
        );
    }
);

scc_io::sandbox_test!(
    fn kernel_forwarding_serves_two_kernel_hosts_both_ways() {
        if !tools_present("kernel_forwarding_serves_two_kernel_hosts_both_ways") {
            return;
        }
        let h = topology(true);
        assert_eq!(
            check_all(&h),
            0,
            "the kernel forwarded frames to a foreign MAC"
        );
    }
);

// Three router NFs in a row between the hosts (their inner links in the router namespace):
// ping, TCP, ARP per side and host filtering hold across the chain, and every NF balances.
scc_io::sandbox_test!(
    fn three_router_chain_serves_two_kernel_hosts_both_ways() {
        if !tools_present("three_router_chain_serves_two_kernel_hosts_both_ways") {
            return;
        }
        let h = topology(false);
        // ha0 - r0 [R1] x0 - x1 [R2] y0 - y1 [R3] r1 - hb0: the hosts' links of the one-router
        // layout become the chain's ends, two inner veth pairs join the routers.
        let mut nl = Netlink::open().unwrap();
        nl.create_veth("x0", "x1").unwrap();
        nl.create_veth("y0", "y1").unwrap();
        for i in ["x0", "x1", "y0", "y1"] {
            // No IPv6 chatter of this namespace's kernel on the inner links: exact counts.
            write_sysctl(&format!("/proc/sys/net/ipv6/conf/{i}/disable_ipv6"), "1");
            nl.set_up(i).unwrap();
            write_sysctl(&format!("/proc/sys/net/ipv4/conf/{i}/arp_ignore"), "8");
        }
        for i in ["x0", "x1", "y0", "y1"] {
            assert!(wait_running(i, Duration::from_secs(3)).unwrap(), "{i}");
        }
        let here = NetNs::current().unwrap();
        let m = |i: &str| mac_in(&here, i);
        let (a, b) = ("198.18.1.0/24", "198.18.2.0/24");
        let nfs = [
            start_nf(
                "r0",
                "x0",
                vec![
                    format!("{a} via {} port r0", h.a_mac),
                    format!("{b} via {} port x0", m("x1")),
                ],
            ),
            start_nf(
                "x1",
                "y0",
                vec![
                    format!("{a} via {} port x1", m("x0")),
                    format!("{b} via {} port y0", m("y1")),
                ],
            ),
            start_nf(
                "y1",
                "r1",
                vec![
                    format!("{a} via {} port y1", m("y0")),
                    format!("{b} via {} port r1", h.b_mac),
                ],
            ),
        ];
        let leaked = check_all(&h);
        std::thread::sleep(Duration::from_millis(50));
        let counters: Vec<NfCounters> = nfs
            .into_iter()
            .map(|(stop, nf)| {
                stop.store(true, Ordering::Relaxed);
                nf.join().unwrap()
            })
            .collect();
        assert_eq!(leaked, 0, "frames to a foreign MAC came out: {counters:?}");
        // The foreign frames stop at the first router.
        assert_eq!(
            counters[0].drops.get("other_host"),
            Some(&u64::from(FOREIGN_FRAMES)),
            "{:?}",
            counters[0]
        );
        for c in &counters {
            assert!(c.balanced(), "{c:?}");
            assert!(c.ports.iter().all(|p| p.rx > 1000 || p.tx > 1000), "{c:?}");
        }
        // The middle router forwards what it gets: every frame in is a frame out, both ways
        // (nothing is addressed to it: no ARP, no ICMP), per port.
        let mid = &counters[1];
        assert!(mid.drops.is_empty(), "{mid:?}");
        assert_eq!(mid.ports[0].rx, mid.ports[1].tx, "{mid:?}");
        assert_eq!(mid.ports[1].rx, mid.ports[0].tx, "{mid:?}");
    }
);

// Routes resolved by ARP (ArpQuerier): A as the gateway named `via IP`, B as a destination on
// a `direct` (connected) route; frames for a gateway that never answers wait, are asked for
// three times and are then dropped as `arp_unresolved`.
scc_io::sandbox_test!(
    fn router_nf_resolves_its_gateways_by_arp() {
        if !tools_present("router_nf_resolves_its_gateways_by_arp") {
            return;
        }
        let h = topology(false);
        let silent = Ipv4Addr::new(198, 18, 2, 99);
        let (stop, nf) = start_nf(
            "r0",
            "r1",
            vec![
                format!("198.18.1.0/24 via {A_IP} port r0"),
                // B's network is connected: B itself is resolved (as a host would).
                "198.18.2.0/24 direct port r1".to_string(),
                format!("198.18.3.0/24 via {silent} port r1"),
            ],
        );
        // Ping first: host A asks for its gateway (the router learns A from that request), the
        // router does not know B yet: the echo request waits while the router asks for B.
        ping(&h);
        let leaked = check_all(&h);
        // Two pings to a network behind the silent gateway: both wait, then are given up.
        let mut cmd = Command::new("ping");
        cmd.args(["-c", "2", "-i", "0.2", "-W", "1", "198.18.3.5"]);
        command_in_netns(&mut cmd, &h.a);
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "nothing can answer behind {silent}");
        // Requests go out 1 s apart, three in all; the queue is dropped at the next interval.
        std::thread::sleep(Duration::from_millis(3500));
        stop.store(true, Ordering::Relaxed);
        let c = nf.join().unwrap();
        println!("router counters: {}", serde_json::to_string(&c).unwrap());
        assert_eq!(leaked, 0, "frames to a foreign MAC came out: {c:?}");
        assert!(c.balanced(), "{c:?}");
        assert_eq!(c.held, 0, "{c:?}");
        assert_eq!(c.drops.get("arp_unresolved"), Some(&2), "{c:?}");
        let ev = |k: &str| c.events.get(k).copied().unwrap_or(0);
        // B answered the router's request (that reply ends in the router), A was learned from
        // its own request; the silent gateway got its three requests.
        assert!(ev("arp_learned") >= 2, "{c:?}");
        assert!(ev("arp_requests") >= 4, "{c:?}");
        assert!(ev("arp_released") >= 1, "{c:?}");
        assert!(
            c.drops.get("arp_reply_consumed").is_some_and(|&n| n >= 1),
            "{c:?}"
        );
        assert_eq!(c.originated, ev("arp_requests"), "{c:?}");
        // Per port: the frames in and out, requests included, add up to the NF's.
        assert_eq!(c.ports.iter().map(|p| p.tx).sum::<u64>(), c.tx, "{c:?}");
    }
);
