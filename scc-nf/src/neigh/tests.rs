//! Unit tests of the ArpQuerier: queues, requests, replies, timers, connected destinations.

use super::*;
use crate::element::Anno;
use crate::wire::build::{ARP_FRAME_LEN, arp_request};

const NB: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 1);
const ME: Ipv4Addr = Ipv4Addr::new(198, 18, 2, 254);
const MY_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const NB_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 9]);
const S: u64 = 1_000_000_000;

fn querier(queue: usize) -> ArpQuerier {
    ArpQuerier::new(
        vec![Neighbour { port: 1, ip: NB }],
        PerPort::new(
            vec![(None, MacAddr::ZERO), (Some(ME), MY_MAC)],
            (None, MY_MAC),
        ),
        NeighConfig {
            queue,
            ..NeighConfig::default()
        },
    )
}

fn ip_frame(tag: u8) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[12] = 0x08;
    f[59] = tag;
    f
}

fn arp_frame(op: u16, sender: Ipv4Addr, sender_mac: MacAddr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = vec![0u8; ARP_FRAME_LEN];
    arp_request(&mut f, sender_mac, sender, target).unwrap();
    let mut p = arp::Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]);
    p.set_operation(op);
    f
}

/// Runs `frames`, each with the annotation `anno`, through `q`.
fn run_as(q: &mut ArpQuerier, now: u64, frames: &[Vec<u8>], anno: Anno) -> (Batch, Vec<Verdict>) {
    let mut b = Batch::new(64, 2048).unwrap();
    for f in frames {
        b.push(f).unwrap();
    }
    let mut anno = vec![anno; frames.len()];
    let sel: Vec<u16> = (0..frames.len() as u16).collect();
    let mut v = vec![Verdict::out(0); frames.len()];
    q.process(
        &mut Ctx {
            now_ns: now,
            anno: &mut anno,
        },
        &mut b,
        &sel,
        &mut v,
    );
    (b, v)
}

/// Runs `frames` (in by port 1, routed to the neighbour when `neigh`) through `q`.
fn run(q: &mut ArpQuerier, now: u64, frames: &[Vec<u8>], neigh: bool) -> (Batch, Vec<Verdict>) {
    let anno = Anno {
        out_port: 1,
        in_port: 1,
        neigh: u16::from(neigh),
        ..Anno::default()
    };
    run_as(q, now, frames, anno)
}

fn originate(q: &mut ArpQuerier, now: u64, drops: &mut [u64; 4]) -> Outbox {
    let mut out = Outbox::new(2, 64, 2048).unwrap();
    q.originate(now, &mut out, drops);
    out
}

#[test]
fn holds_until_the_reply_then_releases_in_order_with_the_mac() {
    let mut q = querier(4);
    let mut drops = [0u64; 4];
    let (_, v) = run(&mut q, 0, &[ip_frame(1), ip_frame(2)], true);
    assert!(v.iter().all(|v| v.is_held()));
    assert_eq!(q.held(), 2);
    // One request, from the port's address and MAC, for the neighbour, out by port 1.
    let out = originate(&mut q, 0, &mut drops);
    assert_eq!((out.port_frames(0).len(), out.port_frames(1).len()), (0, 1));
    let req = out.batch().frame(0);
    let p = arp::Packet::new_checked(&req[ethernet::HEADER_LEN..]).unwrap();
    assert_eq!(p.operation(), arp::OP_REQUEST);
    assert_eq!(
        (p.sender_ip(), p.sender_hw(), p.target_ip()),
        (ME, MY_MAC, NB)
    );
    assert_eq!(
        ethernet::Frame::new_unchecked(req).dst_addr(),
        MacAddr::BROADCAST
    );
    // Not again before the retransmit interval.
    assert!(originate(&mut q, S / 2, &mut drops).is_empty());
    // The reply teaches the MAC and ends here; the queue leaves, oldest first.
    let (_, v) = run(
        &mut q,
        S / 2,
        &[arp_frame(arp::OP_REPLY, NB, NB_MAC, ME)],
        false,
    );
    assert_eq!(v[0], Verdict::drop(REPLY_CONSUMED));
    assert_eq!(q.mac_of(0), Some(NB_MAC));
    let out = originate(&mut q, S / 2, &mut drops);
    let rel: Vec<&[u8]> = out
        .port_frames(1)
        .iter()
        .map(|&i| out.batch().frame(usize::from(i)))
        .collect();
    assert_eq!(rel.len(), 2);
    assert_eq!((rel[0][59], rel[1][59]), (1, 2));
    assert!(rel.iter().all(|f| f[..6] == NB_MAC.0));
    assert_eq!((q.held(), out.originated(), drops), (0, 0, [0; 4]));
    // Now frames pass at once, with the neighbour's MAC.
    let (b, v) = run(&mut q, S, &[ip_frame(3)], true);
    assert_eq!(v[0], Verdict::out(0));
    assert_eq!(b.frame(0)[..6], NB_MAC.0);
    let mut ev = std::collections::BTreeMap::new();
    q.events(&mut |k, n| {
        ev.insert(k.to_string(), n);
    });
    assert_eq!(
        (ev["arp_requests"], ev["arp_learned"], ev["arp_released"]),
        (1, 1, 2)
    );
}

#[test]
fn a_full_queue_drops_and_no_answer_drops_the_queue_after_the_probes() {
    let mut q = querier(2);
    let mut drops = [0u64; 4];
    let (_, v) = run(&mut q, 0, &[ip_frame(1), ip_frame(2), ip_frame(3)], true);
    assert_eq!(v[2], Verdict::drop(QUEUE_FULL));
    let mut requests = 0;
    for t in 0..4 {
        requests += originate(&mut q, t * S, &mut drops).originated();
    }
    // Three requests a second apart, then the two waiting frames are given up.
    assert_eq!(requests, 3);
    assert_eq!((q.held(), drops[usize::from(UNRESOLVED)]), (0, 2));
    // Nothing more until a frame wants the neighbour again.
    assert!(originate(&mut q, 10 * S, &mut drops).is_empty());
    run(&mut q, 11 * S, &[ip_frame(4)], true);
    assert_eq!(originate(&mut q, 11 * S, &mut drops).originated(), 1);
}

#[test]
fn stale_entries_forward_while_they_are_probed_then_expire() {
    let mut q = querier(4);
    let mut drops = [0u64; 4];
    // A request for our address teaches the sender too (as Linux learns).
    let (_, v) = run(
        &mut q,
        0,
        &[arp_frame(arp::OP_REQUEST, NB, NB_MAC, ME)],
        false,
    );
    assert_eq!(v[0], Verdict::out(1), "requests go on to the ArpResponder");
    assert_eq!(q.mac_of(0), Some(NB_MAC));
    // A request for another address or from a stranger teaches nothing.
    let other = Ipv4Addr::new(198, 18, 2, 7);
    let (_, v) = run(
        &mut q,
        0,
        &[arp_frame(arp::OP_REPLY, other, NB_MAC, ME)],
        false,
    );
    assert_eq!(v[0], Verdict::out(1));
    let reach = NeighConfig::default().reachable.as_nanos() as u64;
    // Stale: still forwarded, and a request goes out (one per interval).
    let (_, v) = run(&mut q, reach + 1, &[ip_frame(1)], true);
    assert_eq!(v[0], Verdict::out(0));
    assert_eq!(originate(&mut q, reach + 1, &mut drops).originated(), 1);
    assert!(originate(&mut q, reach + 2, &mut drops).is_empty());
    // No answer within the probes: unresolved again, frames wait.
    let (_, v) = run(&mut q, reach + 4 * S, &[ip_frame(2)], true);
    assert!(v[0].is_held());
    assert_eq!(q.mac_of(0), None);
}

#[test]
fn frames_without_a_neighbour_and_other_ports_pass() {
    let mut q = querier(4);
    let (_, v) = run(&mut q, 0, &[ip_frame(1)], false);
    assert_eq!(v[0], Verdict::out(0));
    // A reply on the wrong port does not resolve the neighbour on port 1.
    let reply = arp_frame(arp::OP_REPLY, NB, NB_MAC, ME);
    let (_, v) = run_as(&mut q, 0, &[reply], Anno::default());
    assert_eq!((v[0], q.mac_of(0)), (Verdict::out(1), None));
    // A truncated ARP frame goes on too (the ArpResponder counts it as malformed).
    let (_, v) = run(
        &mut q,
        0,
        &[vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 6, 0]],
        false,
    );
    assert_eq!(v[0], Verdict::out(1));
}

#[test]
fn connected_destinations_are_resolved_one_by_one_and_the_table_is_bounded() {
    // No gateways; connected destinations on port 1, at most 2 at a time.
    let mut q = ArpQuerier::new(
        vec![],
        PerPort::new(
            vec![(None, MacAddr::ZERO), (Some(ME), MY_MAC)],
            (None, MY_MAC),
        ),
        NeighConfig::default(),
    )
    .with_direct(2);
    assert!(q.originates());
    let to = |d: u8| {
        let mut f = crate::wire::build::UdpFrame {
            dst_ip: Ipv4Addr::new(198, 18, 2, d),
            ..Default::default()
        };
        f.src_mac = MY_MAC;
        let mut buf = vec![0u8; 64];
        let n = f.write(&mut buf, &[0; 18]).unwrap();
        buf.truncate(n);
        buf
    };
    let direct = |q: &mut ArpQuerier, now: u64, frames: &[Vec<u8>]| {
        let anno = Anno {
            out_port: 1,
            neigh: crate::route::DIRECT,
            ..Anno::default()
        };
        run_as(q, now, frames, anno)
    };
    let mut drops = [0u64; 4];
    // Two destinations wait, each gets its own request; a third finds the table full of
    // entries with queued frames.
    let (_, v) = direct(&mut q, 0, &[to(1), to(2), to(3)]);
    assert!(v[0].is_held() && v[1].is_held(), "{v:?}");
    assert_eq!(v[2], Verdict::drop(TABLE_FULL));
    let out = originate(&mut q, 0, &mut drops);
    let asked: Vec<Ipv4Addr> = out
        .port_frames(1)
        .iter()
        .map(|&i| {
            let f = out.batch().frame(usize::from(i));
            arp::Packet::new_checked(&f[ethernet::HEADER_LEN..])
                .unwrap()
                .target_ip()
        })
        .collect();
    assert_eq!(
        asked,
        [Ipv4Addr::new(198, 18, 2, 1), Ipv4Addr::new(198, 18, 2, 2)]
    );
    // .1 answers: its frame leaves with its MAC.
    let a1 = Ipv4Addr::new(198, 18, 2, 1);
    let (_, v) = run(
        &mut q,
        S / 2,
        &[arp_frame(arp::OP_REPLY, a1, NB_MAC, ME)],
        false,
    );
    assert_eq!(v[0], Verdict::drop(REPLY_CONSUMED));
    assert_eq!(q.direct_mac(1, a1), Some(NB_MAC));
    let out = originate(&mut q, S / 2, &mut drops);
    assert_eq!(out.port_frames(1).len(), 1);
    assert_eq!(out.batch().frame(0)[..6], NB_MAC.0);
    // .2 never answers: after three requests its frame is given up, and its entry (idle now)
    // makes room for .3.
    for t in 1..4 {
        originate(&mut q, t * S, &mut drops);
    }
    assert_eq!((q.held(), drops[usize::from(UNRESOLVED)]), (0, 1));
    let (_, v) = direct(&mut q, 4 * S, &[to(3)]);
    assert!(v[0].is_held(), "{v:?}");
    // A host that asks for our address is learned at once (a reply to it needs no request).
    let a9 = Ipv4Addr::new(198, 18, 2, 9);
    let (_, v) = run(
        &mut q,
        5 * S,
        &[arp_frame(arp::OP_REQUEST, a9, NB_MAC, ME)],
        false,
    );
    assert_eq!(v[0], Verdict::out(1));
    assert_eq!(q.direct_mac(1, a9), Some(NB_MAC));
    let (b, v) = direct(&mut q, 5 * S, &[to(9)]);
    assert_eq!(v[0], Verdict::out(0));
    assert_eq!(b.frame(0)[..6], NB_MAC.0);
}
