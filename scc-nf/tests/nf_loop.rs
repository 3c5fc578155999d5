//! The NF loop over in-memory ports (no privileges): forwarding, the three poll modes, and the
//! accounting identity when the output port cannot take everything (`tx_failed`).
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use scc_io::{Batch, Port, mem};
use scc_nf::config::PollMode;
use scc_nf::nf::{Nf, NfOptions, TX_FAILED};
use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::ipv4;

fn opts(batch: usize, poll: PollMode) -> NfOptions {
    NfOptions {
        name: "r".into(),
        kind: "router".into(),
        batch,
        frame_size: 2048,
        poll,
        spin: Duration::from_micros(100),
        stats_file: None,
    }
}

fn send(port: &mut dyn Port, frames: &[Vec<u8>]) -> usize {
    let mut b = Batch::new(frames.len(), 2048).unwrap();
    for f in frames {
        b.push(f).unwrap();
    }
    port.send_batch(&b).unwrap()
}

#[test]
fn tx_failures_are_a_counted_drop_reason() {
    // The output ring holds 8 frames and nobody drains it: the rest of the burst fails to send.
    let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 64, 2048).unwrap();
    let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 8, 2048).unwrap();
    let mut nf = Nf::new(
        router(),
        vec![Box::new(nf_rx), Box::new(nf_tx)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|k| udp_frame(&UdpFrame { ident: k, ..spec() }))
        .collect();
    assert_eq!(send(&mut gen_port, &frames), 20);
    assert_eq!(nf.poll_once().unwrap(), 20);
    let c = nf.counters();
    assert_eq!((c.rx, c.tx), (20, 8));
    assert_eq!(c.drops.get(TX_FAILED), Some(&12));
    assert!(c.balanced(), "{c:?}");
    let mut b = Batch::new(32, 2048).unwrap();
    assert_eq!(sink.recv_batch(&mut b).unwrap(), 8);
    for f in b.iter() {
        let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }
}

#[test]
fn every_poll_mode_forwards_and_stops() {
    for poll in [PollMode::Sleep, PollMode::Busy, PollMode::Adaptive] {
        for batch in [1, 32] {
            let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 256, 2048).unwrap();
            let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 256, 2048).unwrap();
            let mut nf = Nf::new(
                router(),
                vec![Box::new(nf_rx), Box::new(nf_tx)],
                vec![0, 1],
                opts(batch, poll),
            )
            .unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let h = std::thread::spawn(move || nf.run(&s2).unwrap());
            let frames: Vec<Vec<u8>> = (0..100)
                .map(|k| udp_frame(&UdpFrame { ident: k, ..spec() }))
                .collect();
            assert_eq!(send(&mut gen_port, &frames), 100);
            let mut got = 0;
            let mut b = Batch::new(64, 2048).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while got < 100 && Instant::now() < deadline {
                b.clear();
                got += sink.recv_batch(&mut b).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::Relaxed);
            let c = h.join().unwrap();
            assert_eq!(got, 100, "{poll:?} batch {batch}");
            assert_eq!((c.rx, c.tx, c.poll.as_str()), (100, 100, poll.name()));
            assert!(c.balanced());
            assert!(c.batches >= 100 / batch as u64);
        }
    }
}

#[test]
fn bad_port_map_is_rejected() {
    let (_, nf_rx) = mem::pair("a", "b", 4, 2048).unwrap();
    assert!(
        Nf::new(
            router(),
            vec![Box::new(nf_rx)],
            vec![0, 1],
            opts(32, PollMode::Sleep)
        )
        .is_err()
    );
}

#[test]
fn firewall_nf_filters_and_rewrites_macs() {
    use scc_nf::config::{NfConfig, Preset, build_pipeline};
    let cfg = NfConfig {
        preset: Some(Preset::Firewall),
        rules: vec![
            "deny udp dport 5000".into(),
            "allow udp from 198.18.0.0/15".into(),
            "default deny".into(),
        ],
        ..Default::default()
    };
    let p = build_pipeline(&cfg, &env()).unwrap();
    let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 64, 2048).unwrap();
    let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 64, 2048).unwrap();
    let mut nf = Nf::new(
        p,
        vec![Box::new(nf_rx), Box::new(nf_tx)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    let mut frames = vec![];
    for k in 0..10u16 {
        frames.push(udp_frame(&UdpFrame {
            ident: k,
            dst_port: 5000,
            ..spec()
        }));
        frames.push(udp_frame(&UdpFrame {
            ident: k,
            dst_port: 6000,
            ..spec()
        }));
        frames.push(udp_frame(&UdpFrame {
            ident: k,
            dst_port: 6000,
            src_ip: std::net::Ipv4Addr::new(203, 0, 113, 1),
            ..spec()
        }));
    }
    send(&mut gen_port, &frames);
    assert_eq!(nf.poll_once().unwrap(), 30);
    let c = nf.counters();
    assert_eq!(c.tx, 10);
    assert_eq!(c.drops.get("filtered"), Some(&10));
    assert_eq!(c.drops.get("filtered_default"), Some(&10));
    assert_eq!(c.events.get("filter_rule_2"), Some(&10));
    assert!(c.balanced());
    let mut b = Batch::new(32, 2048).unwrap();
    assert_eq!(sink.recv_batch(&mut b).unwrap(), 10);
    for f in b.iter() {
        assert_eq!(&f[..6], &GW_MAC.0, "destination MAC := --gw-mac");
        assert_eq!(&f[6..12], &ROUTER_MAC.0, "source MAC := the tx interface's");
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 6000);
    }
}

/// A port that fails its first `fail` receives with `errno`, then behaves like `inner`.
struct Flaky {
    inner: mem::MemPort,
    fail: usize,
    errno: i32,
}

impl Port for Flaky {
    fn recv_batch(&mut self, batch: &mut Batch) -> scc_io::Result<usize> {
        if self.fail > 0 {
            self.fail -= 1;
            return Err(scc_io::IoError::Sys {
                call: "recvmmsg",
                source: std::io::Error::from_raw_os_error(self.errno),
            });
        }
        self.inner.recv_batch(batch)
    }
    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> scc_io::Result<usize> {
        self.inner.send_frames(batch, indices)
    }
    fn wait_readable(&mut self, timeout: Option<Duration>) -> scc_io::Result<bool> {
        self.inner.wait_readable(timeout)
    }
    fn stats(&mut self) -> scc_io::PortStats {
        self.inner.stats()
    }
    fn driver(&self) -> scc_io::Driver {
        self.inner.driver()
    }
    fn name(&self) -> &str {
        self.inner.name()
    }
}

fn flaky_nf(fail: usize, errno: i32) -> (Nf, mem::MemPort, mem::MemPort) {
    let (gen_port, nf_rx) = mem::pair("gen", "nf_rx", 64, 2048).unwrap();
    let (nf_tx, sink) = mem::pair("nf_tx", "sink", 64, 2048).unwrap();
    let rx = Flaky {
        inner: nf_rx,
        fail,
        errno,
    };
    let nf = Nf::new(
        router(),
        vec![Box::new(rx), Box::new(nf_tx)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    (nf, gen_port, sink)
}

#[test]
fn transient_rx_errors_are_retried_and_counted() {
    let (mut nf, mut gen_port, mut sink) = flaky_nf(3, libc::ENOBUFS);
    let frames: Vec<Vec<u8>> = (0..10)
        .map(|k| udp_frame(&UdpFrame { ident: k, ..spec() }))
        .collect();
    assert_eq!(send(&mut gen_port, &frames), 10);
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let h = std::thread::spawn(move || nf.run(&s2));
    let mut got = 0;
    let mut b = Batch::new(64, 2048).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got < 10 && Instant::now() < deadline {
        b.clear();
        got += sink.recv_batch(&mut b).unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let c = h
        .join()
        .unwrap()
        .expect("a transient RX error must not end the NF");
    assert_eq!(got, 10, "{c:?}");
    assert_eq!((c.rx, c.tx, c.rx_errors), (10, 10, 3), "{c:?}");
    assert_eq!(c.ports[0].rx_errors, 3);
    assert!(c.balanced(), "{c:?}");
}

#[test]
fn a_hard_rx_error_ends_the_nf() {
    let (mut nf, _gen, _sink) = flaky_nf(1, libc::EBADF);
    let stop = AtomicBool::new(false);
    let e = nf.run(&stop).unwrap_err();
    assert!(e.to_string().contains("recvmmsg"), "{e}");
    assert_eq!(nf.counters().rx_errors, 0);
}

/// Two ports, each with its own MAC and address: frames in by either port are routed the way
/// their route says, ARP is answered on each port with that port's MAC, frames to a foreign MAC
/// are dropped as `other_host`, and an ICMP error leaves with the address and MAC of the port
/// it leaves by. Per-port counters equal what each side counted.
#[test]
fn two_way_router_with_per_port_macs_and_addresses() {
    use scc_nf::config::{NfConfig, PortEnv, Preset, build_pipeline_ports};
    use scc_nf::wire::build::arp_request;
    use scc_nf::wire::{MacAddr, arp, icmp};
    use std::net::Ipv4Addr;
    let (rx_mac, tx_mac) = (MacAddr([2, 0, 0, 0, 1, 0]), MacAddr([2, 0, 0, 0, 1, 1]));
    let (rx_ip, tx_ip) = (
        Ipv4Addr::new(198, 18, 0, 254),
        Ipv4Addr::new(198, 19, 0, 254),
    );
    let (a_mac, b_mac) = (MacAddr([2, 0, 0, 0, 2, 0]), MacAddr([2, 0, 0, 0, 2, 1]));
    let ports = [
        PortEnv {
            ifname: "left0".into(),
            mac: rx_mac,
            addrs: vec![rx_ip],
            gw_mac: None,
        },
        PortEnv {
            ifname: "right0".into(),
            mac: tx_mac,
            addrs: vec![tx_ip],
            gw_mac: None,
        },
    ];
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes: vec![
            format!("198.18.0.0/16 via {a_mac} port left0"),
            format!("198.19.0.0/16 via {b_mac} port right0"),
        ],
        ..Default::default()
    };
    let p = build_pipeline_ports(&cfg, &env(), &ports).unwrap();
    assert!(p.is_fused());
    let (mut left, nf_l) = mem::pair("left", "nf_l", 64, 2048).unwrap();
    let (nf_r, mut right) = mem::pair("nf_r", "right", 64, 2048).unwrap();
    let mut nf = Nf::new(
        p,
        vec![Box::new(nf_l), Box::new(nf_r)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    let a_ip = Ipv4Addr::new(198, 18, 0, 1);
    let b_ip = Ipv4Addr::new(198, 19, 0, 1);
    let mut arp_l = vec![0u8; 42];
    arp_request(&mut arp_l, a_mac, a_ip, rx_ip).unwrap();
    let mut arp_r = vec![0u8; 42];
    arp_request(&mut arp_r, b_mac, b_ip, tx_ip).unwrap();
    let ab = |ident, ttl, dst_mac| {
        udp_frame(&UdpFrame {
            src_mac: a_mac,
            dst_mac,
            src_ip: a_ip,
            dst_ip: b_ip,
            ident,
            ttl,
            ..spec()
        })
    };
    let ba = |ident, dst_mac| {
        udp_frame(&UdpFrame {
            src_mac: b_mac,
            dst_mac,
            src_ip: b_ip,
            dst_ip: a_ip,
            ident,
            ..spec()
        })
    };
    // Left: 5 to B, 1 expiring, 2 to a foreign MAC, one ARP request. Right: 4 to A, 1 foreign
    // (to the other port's MAC: not this port's), one ARP request.
    let mut lf: Vec<Vec<u8>> = (0..5).map(|k| ab(k, 64, rx_mac)).collect();
    lf.push(ab(9, 1, rx_mac));
    lf.push(ab(10, 64, MacAddr([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])));
    lf.push(ab(11, 64, MacAddr([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])));
    lf.push(arp_l);
    let mut rf: Vec<Vec<u8>> = (0..4).map(|k| ba(k, tx_mac)).collect();
    rf.push(ba(7, rx_mac));
    rf.push(arp_r);
    assert_eq!(send(&mut left, &lf), 9);
    assert_eq!(send(&mut right, &rf), 6);
    assert_eq!(nf.poll_once().unwrap(), 15, "one round reads both ports");
    let c = nf.counters();
    assert!(c.balanced(), "{c:?}");
    assert_eq!(c.drops.get("other_host"), Some(&3), "{c:?}");
    assert_eq!(c.events.get("arp_replies"), Some(&2), "{c:?}");
    // Left port: in 9; out 4 (to A) + 1 ICMP + 1 ARP reply. Right: in 6; out 5 + 1 ARP reply.
    let (l, r) = (&c.ports[0], &c.ports[1]);
    assert_eq!((l.rx, l.tx, r.rx, r.tx), (9, 6, 6, 6), "{c:?}");
    let mut b = Batch::new(64, 2048).unwrap();
    assert_eq!(left.recv_batch(&mut b).unwrap(), 6);
    let (mut to_a, mut icmps, mut arps) = (0, 0, 0);
    for f in b.iter() {
        let e = scc_nf::wire::ethernet::Frame::new_checked(f).unwrap();
        assert_eq!(
            e.src_addr(),
            rx_mac,
            "everything leaves left with left's MAC"
        );
        assert_eq!(e.dst_addr(), a_mac);
        if e.ethertype() == scc_nf::wire::ethernet::ethertype::ARP {
            let a = arp::Packet::new_checked(e.payload()).unwrap();
            assert_eq!((a.sender_hw(), a.sender_ip()), (rx_mac, rx_ip));
            arps += 1;
            continue;
        }
        let ip = ipv4::Packet::new_checked(e.payload()).unwrap();
        assert!(ip.verify_checksum());
        if ip.protocol() == ipv4::protocol::ICMP {
            assert_eq!(
                ip.src_addr(),
                rx_ip,
                "ICMP from the address of the port it leaves by"
            );
            let m = icmp::Packet::new_checked(ip.payload()).unwrap();
            assert_eq!(m.msg_type(), icmp::msg_type::TIME_EXCEEDED);
            icmps += 1;
        } else {
            assert_eq!((ip.src_addr(), ip.ttl()), (b_ip, 63));
            to_a += 1;
        }
    }
    assert_eq!((to_a, icmps, arps), (4, 1, 1));
    b.clear();
    assert_eq!(right.recv_batch(&mut b).unwrap(), 6);
    for f in b.iter() {
        let e = scc_nf::wire::ethernet::Frame::new_checked(f).unwrap();
        assert_eq!((e.src_addr(), e.dst_addr()), (tx_mac, b_mac));
        if e.ethertype() == scc_nf::wire::ethernet::ethertype::ARP {
            let a = arp::Packet::new_checked(e.payload()).unwrap();
            assert_eq!((a.sender_hw(), a.sender_ip()), (tx_mac, tx_ip));
        }
    }
}

/// The forwarder forwards both ways, each way with the MACs of its way out.
#[test]
fn forwarder_forwards_both_ways() {
    use scc_nf::config::{NfConfig, PortEnv, Preset, build_pipeline_ports};
    use scc_nf::wire::MacAddr;
    let m = |k| MacAddr([2, 0, 0, 0, 3, k]);
    let ports = [
        PortEnv {
            ifname: "l".into(),
            mac: m(0),
            addrs: vec![],
            gw_mac: Some(m(10)),
        },
        PortEnv {
            ifname: "r".into(),
            mac: m(1),
            addrs: vec![],
            gw_mac: Some(m(11)),
        },
    ];
    let cfg = NfConfig {
        preset: Some(Preset::Forward),
        ..Default::default()
    };
    let p = build_pipeline_ports(&cfg, &env(), &ports).unwrap();
    let (mut left, nf_l) = mem::pair("left", "nf_l", 64, 2048).unwrap();
    let (nf_r, mut right) = mem::pair("nf_r", "right", 64, 2048).unwrap();
    let mut nf = Nf::new(
        p,
        vec![Box::new(nf_l), Box::new(nf_r)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    let to = |dst| {
        udp_frame(&UdpFrame {
            dst_mac: dst,
            ..spec()
        })
    };
    assert_eq!(send(&mut left, &[to(m(0)), to(m(0)), to(m(1))]), 3);
    assert_eq!(send(&mut right, &[to(m(1))]), 1);
    assert_eq!(nf.poll_once().unwrap(), 4);
    let c = nf.counters();
    assert!(c.balanced());
    assert_eq!(c.drops.get("other_host"), Some(&1));
    let mut b = Batch::new(8, 2048).unwrap();
    assert_eq!(right.recv_batch(&mut b).unwrap(), 2);
    assert!(b.iter().all(|f| f[..6] == m(11).0 && f[6..12] == m(1).0));
    b.clear();
    assert_eq!(left.recv_batch(&mut b).unwrap(), 1);
    assert!(b.iter().all(|f| f[..6] == m(10).0 && f[6..12] == m(0).0));
}
