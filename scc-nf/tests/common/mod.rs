//! Frame builders and a router factory shared by the integration tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use std::time::{Duration, Instant};

use scc_io::{Batch, Port};
use scc_nf::config::{Env, NfConfig, Preset, build_pipeline};
use scc_nf::element::{Anno, Ctx, Element, Verdict};
use scc_nf::graph::Pipeline;
use scc_nf::nf::NfCounters;
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::ipv4;

pub const SRC_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x11]);
pub const ROUTER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0xaa]);
pub const GW_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x22]);
pub const ROUTER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
pub const SRC_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
pub const DST_IP: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);

pub fn spec() -> UdpFrame {
    UdpFrame {
        src_mac: SRC_MAC,
        dst_mac: ROUTER_MAC,
        src_ip: SRC_IP,
        dst_ip: DST_IP,
        src_port: 4000,
        dst_port: 5000,
        ttl: 64,
        ident: 1,
        dont_frag: false,
        udp_checksum: true,
    }
}

/// A valid 64-byte Ethernet/IPv4/UDP frame per `s`.
pub fn udp_frame(s: &UdpFrame) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    let n = s.write(&mut b, &[0xab; 22]).unwrap();
    b.truncate(n);
    b
}

/// The IPv4 packet of an Ethernet frame.
pub fn ip_of(frame: &[u8]) -> &[u8] {
    &frame[14..]
}

/// Recomputes the IPv4 header checksum of an Ethernet frame.
pub fn fix_ip_checksum(frame: &mut [u8]) {
    let hl = usize::from(frame.get(14).copied().unwrap_or(0) & 15) * 4;
    if hl < 20 || 14 + hl > frame.len() {
        return;
    }
    let mut p = ipv4::Packet::new_unchecked(&mut frame[14..]);
    p.fill_checksum();
}

pub fn env() -> Env {
    Env {
        src_mac: ROUTER_MAC,
        gw_mac: Some(GW_MAC),
        addrs: vec![ROUTER_IP],
        mtu: 1500,
        icmp_rate: 1000,
    }
}

/// The router preset with a route for 198.18.0.0/15 (to tx) and 10.0.0.0/8 (via another MAC).
pub fn router() -> Pipeline {
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes: vec![
            "198.18.0.0/15".into(),
            "10.0.0.0/8 via 02:00:00:00:00:33".into(),
        ],
        ..Default::default()
    };
    build_pipeline(&cfg, &env()).unwrap()
}

pub fn batch_of(frames: &[Vec<u8>]) -> Batch {
    let mut b = Batch::new(frames.len().max(1), 2048).unwrap();
    for f in frames {
        b.push(f).unwrap();
    }
    b
}

/// Runs one element on `frames`; returns the batch (modified) and the verdicts.
pub fn run_element(e: &mut dyn Element, frames: &[Vec<u8>]) -> (Batch, Vec<Verdict>, Vec<Anno>) {
    run_element_at(e, frames, 0)
}

pub fn run_element_at(
    e: &mut dyn Element,
    frames: &[Vec<u8>],
    now_ns: u64,
) -> (Batch, Vec<Verdict>, Vec<Anno>) {
    let mut b = batch_of(frames);
    let sel: Vec<u16> = (0..frames.len() as u16).collect();
    let mut out = vec![Verdict::default(); frames.len()];
    let mut anno = vec![Anno::default(); frames.len()];
    let mut cx = Ctx {
        now_ns,
        anno: &mut anno,
    };
    e.process(&mut cx, &mut b, &sel, &mut out);
    (b, out, anno)
}

/// Drop reason name of a verdict.
pub fn reason(e: &dyn Element, v: Verdict) -> Option<String> {
    v.reason().map(|r| e.drop_reason(r).to_string())
}

/// A burst from `base`: `good` frames (idents 0..good), then three times: a frame with TTL 2
/// (with `ttl2`: it expires at a second router), one with TTL 1, one with a bad IPv4 checksum,
/// one without a route (to 8.8.8.8).
pub fn error_burst(base: &UdpFrame, good: usize, ttl2: bool) -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = (0..good)
        .map(|k| {
            udp_frame(&UdpFrame {
                ident: k as u16,
                ..*base
            })
        })
        .collect();
    for _ in 0..3 {
        if ttl2 {
            v.push(udp_frame(&UdpFrame { ttl: 2, ..*base }));
        }
        v.push(udp_frame(&UdpFrame { ttl: 1, ..*base }));
        let mut bad = udp_frame(base);
        bad[24] ^= 0x55;
        v.push(bad);
        v.push(udp_frame(&UdpFrame {
            dst_ip: Ipv4Addr::new(8, 8, 8, 8),
            ..*base
        }));
    }
    v
}

/// Sends `frames` in one batch; returns how many the port took.
pub fn send_frames(port: &mut dyn Port, frames: &[Vec<u8>]) -> usize {
    let mut b = Batch::new(frames.len().max(1), 2048).unwrap();
    for f in frames {
        b.push(f).unwrap();
    }
    port.send_batch(&b).unwrap()
}

/// Receives IPv4 frames (ignoring the kernel's own IPv6 chatter) until `want` or `timeout`.
pub fn recv_ipv4_for(port: &mut dyn Port, want: usize, timeout: Duration) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut b = Batch::new(64, 2048).unwrap();
    let deadline = Instant::now() + timeout;
    while got.len() < want && Instant::now() < deadline {
        b.clear();
        if port.recv_batch(&mut b).unwrap() == 0 {
            port.wait_readable(Some(Duration::from_millis(20))).unwrap();
            continue;
        }
        for f in b.iter() {
            if f.len() >= 14 && f[12..14] == [0x08, 0x00] {
                got.push(f.to_vec());
            }
        }
    }
    got
}

/// Checks that `got` is the `good` frames of an [`error_burst`] after `hops` routers: idents
/// `0..good`, TTL decremented `hops` times, valid checksums, MACs `src` -> `dst`.
pub fn check_delivered_after(got: &[Vec<u8>], good: usize, hops: u8, src: MacAddr, dst: MacAddr) {
    assert_eq!(got.len(), good, "delivered");
    let mut idents: Vec<u16> = got
        .iter()
        .map(|f| {
            let eth = scc_nf::wire::ethernet::Frame::new_checked(&f[..]).unwrap();
            assert_eq!((eth.src_addr(), eth.dst_addr()), (src, dst));
            let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
            assert_eq!(ip.ttl(), 64 - hops);
            assert!(ip.verify_checksum());
            ip.ident()
        })
        .collect();
    idents.sort();
    assert_eq!(idents, (0..good as u16).collect::<Vec<_>>());
}

/// Exact per-NF counts of three routers in a chain given an [`error_burst`] of `good` frames
/// with TTL-2 frames, plus `arp` ARP requests for the first router.
pub fn check_three_routers(nfs: &[NfCounters], good: u64, arp: u64) {
    assert_eq!(nfs.len(), 3);
    let r0 = &nfs[0];
    // good + 3 TTL-2 go on; 3 ICMP (TTL 1) and the ARP replies go back.
    assert_eq!((r0.rx, r0.tx), (good + 12 + arp, good + 6 + arp), "{r0:?}");
    assert_eq!(r0.drops.get("bad_ip_checksum"), Some(&3), "{r0:?}");
    assert_eq!(r0.drops.get("no_route"), Some(&3), "{r0:?}");
    assert_eq!(r0.dropped(), 6, "{r0:?}");
    assert_eq!(r0.events.get("icmp_time_exceeded"), Some(&3), "{r0:?}");
    let r1 = &nfs[1];
    assert_eq!(
        (r1.rx, r1.tx, r1.dropped()),
        (good + 3, good + 3, 0),
        "{r1:?}"
    );
    assert_eq!(r1.events.get("icmp_time_exceeded"), Some(&3), "{r1:?}");
    let r2 = &nfs[2];
    assert_eq!((r2.rx, r2.tx, r2.dropped()), (good, good, 0), "{r2:?}");
    for c in nfs {
        assert!(c.balanced(), "{c:?}");
    }
}
