//! Each element with real frames, valid and malformed.
mod common;

use std::net::Ipv4Addr;

use common::*;
use scc_nf::element::{Element, Verdict};
use scc_nf::elements::*;
use scc_nf::filter::{IpFilter, parse_rules};
use scc_nf::route::{IpLookup, RouteTable, parse_routes};
use scc_nf::wire::build::{UdpFrame, arp_request};
use scc_nf::wire::ethernet::{self, MacAddr, ethertype};
use scc_nf::wire::{arp, checksum, icmp, ipv4};

fn strip(f: &[u8]) -> Vec<u8> {
    f[14..].to_vec()
}

#[test]
fn classifier_sorts_by_ethertype_and_drops_runts() {
    let mut arp_f = vec![0u8; 60];
    arp_request(&mut arp_f, SRC_MAC, SRC_IP, ROUTER_IP).unwrap();
    let mut v6 = udp_frame(&spec());
    v6[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
    let mut c = Classifier;
    let (_, v, _) = run_element(&mut c, &[udp_frame(&spec()), arp_f, v6, vec![0; 13]]);
    assert_eq!(v[..3], [Verdict::out(0), Verdict::out(1), Verdict::out(2)]);
    assert_eq!(reason(&c, v[3]).as_deref(), Some("runt_frame"));
}

#[test]
fn arp_responder_answers_only_requests_for_its_addresses() {
    let mut req = vec![0u8; 42];
    arp_request(&mut req, SRC_MAC, SRC_IP, ROUTER_IP).unwrap();
    let mut other = req.clone();
    other[38..42].copy_from_slice(&[198, 18, 0, 77]);
    let mut reply = req.clone();
    reply[20..22].copy_from_slice(&arp::OP_REPLY.to_be_bytes());
    let mut e = ArpResponder::new(vec![ROUTER_IP], ROUTER_MAC);
    let (b, v, _) = run_element(&mut e, &[req, other, reply, vec![0; 30]]);
    assert_eq!(v[0], Verdict::out(0));
    let f = b.frame(0);
    let eth = ethernet::Frame::new_checked(f).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (SRC_MAC, ROUTER_MAC));
    let a = arp::Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(a.operation(), arp::OP_REPLY);
    assert_eq!((a.sender_hw(), a.sender_ip()), (ROUTER_MAC, ROUTER_IP));
    assert_eq!((a.target_hw(), a.target_ip()), (SRC_MAC, SRC_IP));
    let reasons: Vec<_> = v[1..].iter().map(|x| reason(&e, *x).unwrap()).collect();
    assert_eq!(
        reasons,
        ["arp_not_for_us", "arp_not_request", "arp_malformed"]
    );
    let mut ev = vec![];
    e.events(&mut |k, n| ev.push((k.to_string(), n)));
    assert_eq!(ev, [("arp_replies".to_string(), 1)]);
}

#[test]
fn strip_and_unstrip() {
    let f = udp_frame(&spec());
    let mut s = Strip::new(14);
    let (b, v, _) = run_element(&mut s, &[f.clone(), vec![1; 10]]);
    assert_eq!(v[0], Verdict::out(0));
    assert_eq!(b.frame(0), &f[14..]);
    assert_eq!(reason(&s, v[1]).as_deref(), Some("runt_frame"));
    let mut u = Unstrip::new(14);
    let (b, v, _) = run_element(&mut u, std::slice::from_ref(&f));
    assert_eq!(v[0], Verdict::out(0));
    assert_eq!(b.frame(0).len(), f.len() + 14);
    let mut u = Unstrip::new(scc_io::HEADROOM + 1);
    let (_, v, _) = run_element(&mut u, &[f]);
    assert_eq!(reason(&u, v[0]).as_deref(), Some("no_headroom"));
}

#[test]
fn check_ip_header_has_distinct_reasons() {
    let good = strip(&udp_frame(&spec()));
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut p = good.clone();
        f(&mut p);
        p
    };
    let fix = |p: &mut Vec<u8>| {
        let hl = usize::from(p[0] & 15) * 4;
        if hl >= 20 && hl <= p.len() {
            p[10] = 0;
            p[11] = 0;
            let c = checksum::checksum(&p[..hl]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
    };
    // IP options: IHL 6 with a 4-byte NOP/EOL option, total length and checksum fixed.
    let mut opts = good[..20].to_vec();
    opts.extend_from_slice(&[1, 1, 1, 0]);
    opts.extend_from_slice(&good[20..]);
    opts[0] = 0x46;
    let tl = opts.len() as u16;
    opts[2..4].copy_from_slice(&tl.to_be_bytes());
    fix(&mut opts);
    // Ethernet padding: 10 trailing bytes beyond the total length.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 10]);
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (good.clone(), None),
        (opts.clone(), None),
        (padded, None),
        (good[..19].to_vec(), Some("ip_truncated")),
        (vec![], Some("ip_truncated")),
        (
            with(&|p| {
                p[0] = 0x65;
                fix(p)
            }),
            Some("bad_ip_version"),
        ),
        (
            with(&|p| {
                p[0] = 0x44;
            }),
            Some("bad_ihl"),
        ),
        (
            with(&|p| {
                p[0] = 0x40;
            }),
            Some("bad_ihl"),
        ),
        (
            with(&|p| {
                p[0] = 0x4f;
            }),
            Some("bad_ihl"),
        ),
        (
            with(&|p| {
                p[2..4].copy_from_slice(&200u16.to_be_bytes());
                fix(p)
            }),
            Some("bad_ip_len"),
        ),
        (
            with(&|p| {
                p[2..4].copy_from_slice(&19u16.to_be_bytes());
                fix(p)
            }),
            Some("bad_ip_len"),
        ),
        (
            with(&|p| {
                p[10] ^= 0xff;
            }),
            Some("bad_ip_checksum"),
        ),
        (
            with(&|p| {
                p[12..16].copy_from_slice(&[255; 4]);
                fix(p)
            }),
            Some("bad_src_addr"),
        ),
        (
            with(&|p| {
                p[12..16].copy_from_slice(&[0; 4]);
                fix(p)
            }),
            Some("bad_src_addr"),
        ),
        (
            with(&|p| {
                p[12..16].copy_from_slice(&[224, 0, 0, 5]);
                fix(p)
            }),
            Some("bad_src_addr"),
        ),
        (
            with(&|p| {
                p[12..16].copy_from_slice(&[198, 18, 255, 255]);
                fix(p)
            }),
            Some("bad_src_addr"),
        ),
    ];
    let frames: Vec<Vec<u8>> = cases.iter().map(|c| c.0.clone()).collect();
    let mut e = CheckIpHeader::new(0, vec![Ipv4Addr::new(198, 18, 255, 255)]);
    let (b, v, _) = run_element(&mut e, &frames);
    for (k, (case, want)) in cases.iter().enumerate() {
        assert_eq!(
            reason(&e, v[k]).as_deref(),
            *want,
            "case {k}: {:?}",
            &case[..case.len().min(4)]
        );
    }
    assert_eq!(b.frame(1), &opts[..], "options kept");
    assert_eq!(b.frame(2).len(), good.len(), "padding trimmed");
    assert_eq!(e.n_drop_reasons(), 6);
}

fn ttl_frame(ttl: u8) -> Vec<u8> {
    strip(&udp_frame(&UdpFrame { ttl, ..spec() }))
}

#[test]
fn dec_ip_ttl_decrements_and_updates_checksum() {
    let mut e = DecIpTtl::new(None);
    let (b, v, _) = run_element(
        &mut e,
        &[
            ttl_frame(64),
            ttl_frame(2),
            ttl_frame(1),
            ttl_frame(0),
            vec![0x45; 10],
        ],
    );
    assert_eq!(v[0], Verdict::out(0));
    assert_eq!(v[1], Verdict::out(0));
    for (i, want) in [(0, 63), (1, 1)] {
        let p = ipv4::Packet::new_checked(b.frame(i)).unwrap();
        assert_eq!(p.ttl(), want);
        assert!(p.verify_checksum());
    }
    assert_eq!(reason(&e, v[2]).as_deref(), Some("ttl_expired"));
    assert_eq!(reason(&e, v[3]).as_deref(), Some("ttl_expired"));
    assert_eq!(reason(&e, v[4]).as_deref(), Some("ip_truncated"));
}

#[test]
fn expired_ttl_becomes_icmp_time_exceeded_rate_limited() {
    let icmp_cfg = IcmpConfig {
        src: ROUTER_IP,
        limit: RateLimit::new(1, 2),
    };
    let mut e = DecIpTtl::new(Some(icmp_cfg));
    let orig = ttl_frame(1);
    let (b, v, _) = run_element_at(&mut e, &[orig.clone(), ttl_frame(0), ttl_frame(1)], 0);
    assert_eq!(v[..2], [Verdict::out(1), Verdict::out(1)]);
    assert_eq!(
        reason(&e, v[2]).as_deref(),
        Some("ttl_expired"),
        "burst of 2 exhausted"
    );
    let p = ipv4::Packet::new_checked(b.frame(0)).unwrap();
    assert!(p.verify_checksum());
    assert_eq!((p.src_addr(), p.dst_addr()), (ROUTER_IP, SRC_IP));
    assert_eq!(p.protocol(), ipv4::protocol::ICMP);
    let m = icmp::Packet::new_checked(p.payload()).unwrap();
    assert!(m.verify_checksum());
    assert_eq!((m.msg_type(), m.code()), (icmp::msg_type::TIME_EXCEEDED, 0));
    assert_eq!(m.data(), &orig[..28], "quotes the header + 8 bytes");
    // One second later one more token.
    let (_, v, _) = run_element_at(&mut e, &[ttl_frame(1), ttl_frame(1)], 1_000_000_000);
    assert_eq!(v[0], Verdict::out(1));
    assert_eq!(reason(&e, v[1]).as_deref(), Some("ttl_expired"));
    // Never an error about an ICMP error, nor to a broadcast source.
    let mut e = DecIpTtl::new(Some(IcmpConfig {
        src: ROUTER_IP,
        limit: RateLimit::new(100, 100),
    }));
    let err = b.frame(0).to_vec();
    let mut err1 = err.clone();
    err1[8] = 1;
    let mut bcast = ttl_frame(1);
    bcast[12..16].copy_from_slice(&[255; 4]);
    let (_, v, _) = run_element(&mut e, &[err1, bcast]);
    assert!(v.iter().all(|x| x.reason().is_some()));
}

#[test]
fn mtu_check() {
    let big = |df: bool| {
        let mut b = vec![0u8; 1600];
        let n = UdpFrame {
            dont_frag: df,
            ..spec()
        }
        .write(&mut b, &[1; 1400])
        .unwrap();
        b[14..n].to_vec()
    };
    let mut e = MtuCheck::new(
        1000,
        Some(IcmpConfig {
            src: ROUTER_IP,
            limit: RateLimit::new(100, 10),
        }),
    );
    let (b, v, _) = run_element(&mut e, &[ttl_frame(5), big(true), big(false)]);
    assert_eq!(v[..2], [Verdict::out(0), Verdict::out(1)]);
    assert_eq!(reason(&e, v[2]).as_deref(), Some("needs_fragmentation"));
    let p = ipv4::Packet::new_checked(b.frame(1)).unwrap();
    let m = icmp::Packet::new_checked(p.payload()).unwrap();
    assert_eq!((m.msg_type(), m.code(), m.next_hop_mtu()), (3, 4, 1000));
    let mut e = MtuCheck::new(1000, None);
    let (_, v, _) = run_element(&mut e, &[big(true)]);
    assert_eq!(reason(&e, v[0]).as_deref(), Some("frag_needed"));
}

#[test]
fn ip_lookup_sets_annotations() {
    let routes = parse_routes(
        "198.19.0.0/16 via 02:00:00:00:00:33\n198.19.0.0/24 port rx\n",
        "t",
    )
    .unwrap();
    let table = RouteTable::build(&routes, 1, |p| (p == "rx").then_some(0)).unwrap();
    let mut e = IpLookup::new(table, 0);
    let other = strip(&udp_frame(&UdpFrame {
        dst_ip: Ipv4Addr::new(198, 19, 9, 9),
        ..spec()
    }));
    let none = strip(&udp_frame(&UdpFrame {
        dst_ip: Ipv4Addr::new(8, 8, 8, 8),
        ..spec()
    }));
    let (_, v, a) = run_element(&mut e, &[ttl_frame(9), other, none, vec![1, 2, 3]]);
    assert_eq!(v[..2], [Verdict::out(0), Verdict::out(0)]);
    assert_eq!((a[0].out_port, a[0].dst_mac), (0, None));
    assert_eq!(
        (a[1].out_port, a[1].dst_mac),
        (1, Some(MacAddr([2, 0, 0, 0, 0, 0x33])))
    );
    assert_eq!(reason(&e, v[2]).as_deref(), Some("no_route"));
    assert_eq!(reason(&e, v[3]).as_deref(), Some("ip_truncated"));
}

#[test]
fn ether_encap_and_rewrite() {
    let mut e = EtherEncap::new(ethertype::IPV4, ROUTER_MAC, GW_MAC);
    let (b, v, _) = run_element(&mut e, &[ttl_frame(9)]);
    assert_eq!(v[0], Verdict::out(0));
    let f = ethernet::Frame::new_checked(b.frame(0)).unwrap();
    assert_eq!(
        (f.dst_addr(), f.src_addr(), f.ethertype()),
        (GW_MAC, ROUTER_MAC, ethertype::IPV4)
    );
    assert_eq!(f.payload(), &ttl_frame(9)[..]);
    let mut r = EtherRewrite::new(Some(ROUTER_MAC), None);
    let (b, v, _) = run_element(&mut r, &[udp_frame(&spec()), vec![0; 5]]);
    let f = ethernet::Frame::new_checked(b.frame(0)).unwrap();
    assert_eq!((f.dst_addr(), f.src_addr()), (ROUTER_MAC, ROUTER_MAC));
    assert_eq!(reason(&r, v[1]).as_deref(), Some("runt_frame"));
}

#[test]
fn ip_filter_first_match_wins() {
    let rules = parse_rules(
        "deny udp from 198.18.0.0/24 dport 5000\nallow udp dport 4000-6000\nallow icmp\ndefault deny\nnonip deny\n",
        "fw",
    )
    .unwrap();
    let mut f = IpFilter::new(rules, true);
    let blocked = udp_frame(&spec());
    let allowed = udp_frame(&UdpFrame {
        src_ip: Ipv4Addr::new(198, 18, 1, 1),
        ..spec()
    });
    let default = udp_frame(&UdpFrame {
        dst_port: 7000,
        src_ip: Ipv4Addr::new(198, 18, 1, 1),
        ..spec()
    });
    let mut arp_f = vec![0u8; 42];
    arp_request(&mut arp_f, SRC_MAC, SRC_IP, ROUTER_IP).unwrap();
    let mut bad = udp_frame(&spec());
    bad[14] = 0x44;
    // A non-first fragment carries no ports: the port rules do not match it.
    let mut frag = udp_frame(&spec());
    frag[20..22].copy_from_slice(&0x0010u16.to_be_bytes());
    fix_ip_checksum(&mut frag);
    let (_, v, _) = run_element(&mut f, &[blocked, allowed, default, arp_f, bad, frag]);
    let r: Vec<_> = v.iter().map(|x| reason(&f, *x)).collect();
    assert_eq!(
        r,
        [
            Some("filtered".to_string()),
            None,
            Some("filtered_default".to_string()),
            Some("non_ip_denied".to_string()),
            Some("malformed_ip".to_string()),
            Some("filtered_default".to_string()),
        ]
    );
    let mut ev = vec![];
    f.events(&mut |k, n| ev.push((k.to_string(), n)));
    assert_eq!(
        ev[..2],
        [
            ("filter_rule_1".to_string(), 1),
            ("filter_rule_2".to_string(), 1)
        ]
    );
}

#[test]
fn counter_and_discard() {
    let mut c = Counter::new("c");
    let (_, v, _) = run_element(&mut c, &[vec![0; 60], vec![0; 64]]);
    assert!(v.iter().all(|x| *x == Verdict::out(0)));
    assert_eq!((c.frames(), c.bytes()), (2, 124));
    let mut d = Discard::new("not_ip");
    let (_, v, _) = run_element(&mut d, &[vec![0; 60]]);
    assert_eq!(reason(&d, v[0]).as_deref(), Some("not_ip"));
}

#[test]
fn router_pipeline_forwards_and_accounts() {
    let mut p = router();
    let good = udp_frame(&spec());
    let to10 = udp_frame(&UdpFrame {
        dst_ip: Ipv4Addr::new(10, 1, 2, 3),
        ..spec()
    });
    let expired = udp_frame(&UdpFrame { ttl: 1, ..spec() });
    let noroute = udp_frame(&UdpFrame {
        dst_ip: Ipv4Addr::new(8, 8, 8, 8),
        ..spec()
    });
    let mut badsum = good.clone();
    badsum[24] ^= 1;
    let mut arp_f = vec![0u8; 42];
    arp_request(&mut arp_f, SRC_MAC, SRC_IP, ROUTER_IP).unwrap();
    let mut v6 = good.clone();
    v6[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
    let frames = vec![
        good.clone(),
        to10,
        expired,
        noroute,
        badsum,
        arp_f,
        v6,
        vec![1; 5],
    ];
    let mut b = batch_of(&frames);
    p.process(&mut b, 0);
    // rx port: the ARP reply; tx port: good, to10, and the ICMP error (routed to 198.18.0.1).
    assert_eq!(p.port_frames(0), &[5]);
    assert_eq!(p.port_frames(1), &[0, 1, 2]);
    let f = b.frame(0);
    let eth = ethernet::Frame::new_checked(f).unwrap();
    assert_eq!((eth.dst_addr(), eth.src_addr()), (GW_MAC, ROUTER_MAC));
    let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
    assert_eq!(ip.ttl(), 63);
    assert!(ip.verify_checksum());
    assert_eq!(&f[14 + 20..], &good[14 + 20..], "payload unchanged");
    let eth10 = ethernet::Frame::new_checked(b.frame(1)).unwrap();
    assert_eq!(eth10.dst_addr(), MacAddr([2, 0, 0, 0, 0, 0x33]));
    let icmp_ip = ipv4::Packet::new_checked(&b.frame(2)[14..]).unwrap();
    assert_eq!(
        (icmp_ip.src_addr(), icmp_ip.dst_addr(), icmp_ip.ttl()),
        (ROUTER_IP, SRC_IP, 63)
    );
    assert!(icmp_ip.verify_checksum());
    let drops = p.drops();
    let nz: Vec<_> = drops
        .iter()
        .filter(|(_, v)| **v > 0)
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(
        nz,
        [
            ("bad_ip_checksum", 1),
            ("no_route", 1),
            ("not_ip", 1),
            ("runt_frame", 1)
        ]
    );
    assert_eq!(p.frames_in(), p.frames_out() + p.total_drops());
    assert_eq!(p.events().get("icmp_time_exceeded"), Some(&1));
}
