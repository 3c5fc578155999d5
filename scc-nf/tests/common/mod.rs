//! Frame builders and a router factory shared by the integration tests.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use scc_io::Batch;
use scc_nf::config::{Env, NfConfig, Preset, build_pipeline};
use scc_nf::element::{Anno, Ctx, Element, Verdict};
use scc_nf::graph::Pipeline;
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
