//! Neighbour resolution for routes given `via IP`: Click's `ARPQuerier`, with a neighbour table
//! (timeouts), a small bounded queue per unresolved next hop and counted drops.
//!
//! The routing table knows every next hop a route names `via IP` (a [`Neighbour`]: that address
//! on a port), so the table has one entry per such neighbour, fixed when the NF is built, and
//! `IpLookup` tags each frame with its entry ([`crate::element::Anno::neigh`]). [`ArpQuerier`]
//! sits after `EtherEncap`, where frames are complete Ethernet frames leaving by their port:
//!
//! - a frame whose next hop is resolved gets the neighbour's MAC as destination (output 0);
//! - a frame whose next hop is not resolved yet is copied into that neighbour's queue (at most
//!   [`NeighConfig::queue`] frames; beyond that it is dropped as `arp_queue_full`) and an ARP
//!   request "who has IP? tell PORT-ADDRESS" leaves by the port, from the port's MAC; the
//!   request is repeated every [`NeighConfig::retransmit`], [`NeighConfig::probes`] times in
//!   all, after which the queued frames are dropped as `arp_unresolved`;
//! - an ARP reply (or a request for one of the port's addresses) from a neighbour resolves its
//!   entry and releases its queue; a reply that taught the table something ends here
//!   (`arp_reply_consumed`), every other ARP frame goes on by output 1 (to `ArpResponder`);
//! - a resolved entry is trusted for [`NeighConfig::reachable`]; after that, frames still use
//!   it while it is re-confirmed (stale: one request per retransmit interval while traffic
//!   uses it); without an answer after `probes` requests the entry is unresolved again.
//!
//! Frames this element originates (ARP requests) and frames it releases from its queues leave
//! through the pipeline's [`Outbox`] ([`crate::graph::Pipeline::originate`]), so the accounting
//! of an NF becomes `rx + originated == tx + drops + held`, where `held` counts the frames
//! waiting in queues (both terms are zero for an NF whose routes all name a MAC, the paper's
//! setup). Static `via MAC` routes never reach the table.

use std::net::Ipv4Addr;
use std::time::Duration;

use scc_io::Batch;

use crate::element::{Ctx, Element, Outbox, Verdict};
use crate::ports::PerPort;
use crate::wire::build::{ARP_FRAME_LEN, arp_request};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{MacAddr, arp};

/// A next hop named `via IP` in a route: that address, reached through that port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Neighbour {
    /// The NF port the neighbour is on.
    pub port: u8,
    /// The neighbour's IPv4 address.
    pub ip: Ipv4Addr,
}

/// Timers and sizes of the neighbour table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighConfig {
    /// How long an answer is trusted (Click's ARPQuerier: 300 s).
    pub reachable: Duration,
    /// Time between two requests for the same neighbour (Linux `retrans_time`: 1 s).
    pub retransmit: Duration,
    /// Requests sent before the neighbour counts as unreachable (Linux `mcast_solicit`: 3).
    pub probes: u32,
    /// Frames queued per unresolved neighbour.
    pub queue: usize,
}

impl Default for NeighConfig {
    fn default() -> Self {
        Self {
            reachable: Duration::from_secs(300),
            retransmit: Duration::from_secs(1),
            probes: 3,
            queue: 16,
        }
    }
}

/// Frames kept for one neighbour: a ring of buffers allocated when the element is built.
#[derive(Debug, Clone)]
struct FrameQueue {
    slots: Vec<Vec<u8>>,
    head: usize,
    len: usize,
}

/// Initial capacity of a queue slot (a standard frame; a longer one grows its slot once).
const SLOT_BYTES: usize = 2048;

impl FrameQueue {
    fn new(capacity: usize) -> Self {
        Self {
            slots: (0..capacity)
                .map(|_| Vec::with_capacity(SLOT_BYTES))
                .collect(),
            head: 0,
            len: 0,
        }
    }

    /// Copies `frame` in; false when full.
    fn push(&mut self, frame: &[u8]) -> bool {
        let cap = self.slots.len();
        if self.len >= cap {
            return false;
        }
        let slot = &mut self.slots[(self.head + self.len) % cap];
        slot.clear();
        slot.extend_from_slice(frame);
        self.len += 1;
        true
    }

    fn front_mut(&mut self) -> Option<&mut Vec<u8>> {
        if self.len == 0 {
            return None;
        }
        self.slots.get_mut(self.head)
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % self.slots.len();
            self.len -= 1;
        }
    }

    /// Empties the queue; the number of frames it held.
    fn clear(&mut self) -> usize {
        let n = self.len;
        self.len = 0;
        self.head = 0;
        n
    }
}

/// One neighbour's state.
#[derive(Debug, Clone)]
struct Entry {
    at: Neighbour,
    mac: Option<MacAddr>,
    /// When the MAC was last confirmed (ns, the pipeline's clock).
    confirmed_ns: u64,
    /// When the last request was sent, if one is outstanding.
    last_probe_ns: Option<u64>,
    /// Requests sent since the last answer.
    probes: u32,
    /// A frame used the entry while it was stale or unresolved: a request is wanted.
    wanted: bool,
    queue: FrameQueue,
}

/// What an entry is, at some time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reachable(MacAddr),
    Stale(MacAddr),
    Unresolved,
}

impl Entry {
    fn state(&self, now: u64, cfg: &NeighConfig) -> State {
        let Some(mac) = self.mac else {
            return State::Unresolved;
        };
        let age = now.saturating_sub(self.confirmed_ns);
        let reachable = cfg.reachable.as_nanos() as u64;
        let grace = cfg.retransmit.as_nanos() as u64 * u64::from(cfg.probes.max(1));
        if age < reachable {
            State::Reachable(mac)
        } else if age < reachable.saturating_add(grace) {
            State::Stale(mac)
        } else {
            State::Unresolved
        }
    }

    fn probe_due(&self, now: u64, cfg: &NeighConfig) -> bool {
        self.last_probe_ns
            .is_none_or(|t| now.saturating_sub(t) >= cfg.retransmit.as_nanos() as u64)
    }
}

const QUEUE_FULL: u8 = 0;
const UNRESOLVED: u8 = 1;
const REPLY_CONSUMED: u8 = 2;

/// Click's `ARPQuerier`. See the [module documentation](self).
///
/// ```
/// use std::net::Ipv4Addr;
/// use scc_nf::element::{Anno, Ctx, Element, Outbox};
/// use scc_nf::neigh::{ArpQuerier, NeighConfig, Neighbour};
/// use scc_nf::ports::PerPort;
/// use scc_nf::wire::MacAddr;
/// let nb = Neighbour { port: 1, ip: Ipv4Addr::new(198, 18, 2, 1) };
/// let me = (Some(Ipv4Addr::new(198, 18, 2, 254)), MacAddr([2, 0, 0, 0, 0, 1]));
/// let mut q = ArpQuerier::new(vec![nb], PerPort::all(me), NeighConfig::default());
/// let mut b = scc_io::Batch::new(4, 2048).unwrap();
/// let mut ip = [0u8; 60];
/// ip[12] = 0x08; // an IPv4 frame for that neighbour
/// b.push(&ip).unwrap();
/// let mut anno = [Anno { out_port: 1, neigh: 1, ..Anno::default() }];
/// let mut v = [scc_nf::element::Verdict::out(0)];
/// q.process(&mut Ctx { now_ns: 0, anno: &mut anno }, &mut b, &[0], &mut v);
/// assert!(v[0].is_held()); // queued until the neighbour answers
/// let mut out = Outbox::new(2, 8, 2048).unwrap();
/// q.originate(0, &mut out, &mut [0; 3]);
/// assert_eq!(out.port_frames(1).len(), 1); // the ARP request, out by port 1
/// assert_eq!((out.originated(), q.held()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct ArpQuerier {
    entries: Box<[Entry]>,
    /// Per port: the address requests are sent from and the port's MAC.
    ports: PerPort<(Option<Ipv4Addr>, MacAddr)>,
    cfg: NeighConfig,
    requests: u64,
    learned: u64,
    released: u64,
    held: u64,
}

impl ArpQuerier {
    /// Resolves `neighbours` (entry `k` is annotation `neigh == k + 1`), sending requests on
    /// port `p` from the address and MAC of `ports.get(p)`.
    pub fn new(
        neighbours: Vec<Neighbour>,
        ports: PerPort<(Option<Ipv4Addr>, MacAddr)>,
        cfg: NeighConfig,
    ) -> Self {
        let entries = neighbours
            .into_iter()
            .map(|at| Entry {
                at,
                mac: None,
                confirmed_ns: 0,
                last_probe_ns: None,
                probes: 0,
                wanted: false,
                queue: FrameQueue::new(cfg.queue),
            })
            .collect();
        Self {
            entries,
            ports,
            cfg,
            requests: 0,
            learned: 0,
            released: 0,
            held: 0,
        }
    }

    /// The MAC known for entry `k` (0-based), if resolved.
    pub fn mac_of(&self, k: usize) -> Option<MacAddr> {
        self.entries.get(k).and_then(|e| e.mac)
    }

    /// Learns from the ARP frame `f` that came in by `port`; true when it resolved or
    /// confirmed an entry.
    fn learn(&mut self, f: &[u8], port: u8, now: u64) -> Option<u16> {
        let p = arp::Packet::new_checked(f.get(ethernet::HEADER_LEN..)?).ok()?;
        let op = p.operation();
        let (sender, mac) = (p.sender_ip(), p.sender_hw());
        // A request counts only when it asks for this port's own address (as Linux does).
        let for_us = op == arp::OP_REPLY
            || (op == arp::OP_REQUEST && self.ports.get(port).0 == Some(p.target_ip()));
        if !for_us || !mac.is_unicast() {
            return None;
        }
        let mut learned = false;
        for e in self.entries.iter_mut() {
            if e.at.ip == sender && e.at.port == port {
                e.mac = Some(mac);
                e.confirmed_ns = now;
                e.last_probe_ns = None;
                e.probes = 0;
                e.wanted = false;
                learned = true;
            }
        }
        if learned {
            self.learned += 1;
        }
        learned.then_some(op)
    }

    /// Sends a request for entry `k` when one is due; false when the outbox is full.
    fn probe(&mut self, k: usize, now: u64, out: &mut Outbox) -> bool {
        let e = &self.entries[k];
        let (src_ip, src_mac) = *self.ports.get(e.at.port);
        let mut buf = [0u8; ARP_FRAME_LEN];
        let Ok(len) = arp_request(
            &mut buf,
            src_mac,
            src_ip.unwrap_or(Ipv4Addr::UNSPECIFIED),
            e.at.ip,
        ) else {
            return true;
        };
        if !out.push_new(e.at.port, &buf[..len]) {
            return false;
        }
        let e = &mut self.entries[k];
        e.last_probe_ns = Some(now);
        e.probes += 1;
        e.wanted = false;
        self.requests += 1;
        true
    }
}

impl Element for ArpQuerier {
    fn class(&self) -> &'static str {
        "ArpQuerier"
    }
    fn n_outputs(&self) -> usize {
        2
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["out", "arp"]
    }
    fn n_drop_reasons(&self) -> usize {
        3
    }
    fn drop_reason(&self, r: u8) -> &str {
        ["arp_queue_full", "arp_unresolved", "arp_reply_consumed"]
            .get(usize::from(r))
            .copied()
            .unwrap_or("unknown")
    }

    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        let now = cx.now_ns;
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let a = cx.anno.get(usize::from(i)).copied().unwrap_or_default();
            let f = b.frame(usize::from(i));
            let is_arp = f.len() >= ethernet::HEADER_LEN
                && ethernet::Frame::new_unchecked(f).ethertype() == ethertype::ARP;
            if is_arp {
                *v = match self.learn(f, a.in_port, now) {
                    Some(arp::OP_REPLY) => Verdict::drop(REPLY_CONSUMED),
                    _ => Verdict::out(1),
                };
                continue;
            }
            let Some(k) = usize::from(a.neigh).checked_sub(1) else {
                *v = Verdict::out(0);
                continue;
            };
            let cfg = self.cfg;
            let Some(e) = self.entries.get_mut(k) else {
                *v = Verdict::out(0);
                continue;
            };
            match e.state(now, &cfg) {
                State::Reachable(mac) | State::Stale(mac) => {
                    if matches!(e.state(now, &cfg), State::Stale(_)) {
                        e.wanted = true;
                    }
                    let f = b.frame_mut(usize::from(i));
                    if f.len() >= ethernet::HEADER_LEN {
                        ethernet::Frame::new_unchecked(f).set_dst_addr(mac);
                    }
                    *v = Verdict::out(0);
                }
                State::Unresolved => {
                    e.mac = None;
                    if e.queue.push(f) {
                        e.wanted = true;
                        self.held += 1;
                        *v = Verdict::held();
                    } else {
                        *v = Verdict::drop(QUEUE_FULL);
                    }
                }
            }
        }
    }

    fn originates(&self) -> bool {
        !self.entries.is_empty()
    }

    fn originate(&mut self, now_ns: u64, out: &mut Outbox, drops: &mut [u64]) {
        let cfg = self.cfg;
        for k in 0..self.entries.len() {
            let e = &mut self.entries[k];
            match e.state(now_ns, &cfg) {
                State::Reachable(mac) | State::Stale(mac) => {
                    // Release what waited for this neighbour, oldest first.
                    while let Some(f) = e.queue.front_mut() {
                        if f.len() >= ethernet::HEADER_LEN {
                            ethernet::Frame::new_unchecked(&mut f[..]).set_dst_addr(mac);
                        }
                        if !out.push_held(e.at.port, f) {
                            break;
                        }
                        e.queue.pop();
                        self.held -= 1;
                        self.released += 1;
                    }
                    let stale = matches!(e.state(now_ns, &cfg), State::Stale(_));
                    if stale && e.wanted && e.probe_due(now_ns, &cfg) && !self.probe(k, now_ns, out)
                    {
                        return;
                    }
                }
                State::Unresolved => {
                    e.mac = None;
                    if !e.wanted && e.queue.len == 0 {
                        continue;
                    }
                    if !e.probe_due(now_ns, &cfg) {
                        continue;
                    }
                    if e.probes >= cfg.probes {
                        // No answer to `probes` requests: give up on what waits.
                        let n = e.queue.clear() as u64;
                        self.held -= n;
                        if let Some(d) = drops.get_mut(usize::from(UNRESOLVED)) {
                            *d += n;
                        }
                        e.probes = 0;
                        e.last_probe_ns = None;
                        e.wanted = false;
                        continue;
                    }
                    if !self.probe(k, now_ns, out) {
                        return;
                    }
                }
            }
        }
    }

    fn held(&self) -> u64 {
        self.held
    }

    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report("arp_requests", self.requests);
        report("arp_learned", self.learned);
        report("arp_released", self.released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::element::Anno;

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

    /// Runs `frames` (in by port 1, routed to the neighbour when `neigh`) through `q`.
    fn run(q: &mut ArpQuerier, now: u64, frames: &[Vec<u8>], neigh: bool) -> (Batch, Vec<Verdict>) {
        let mut b = Batch::new(64, 2048).unwrap();
        for f in frames {
            b.push(f).unwrap();
        }
        let mut anno = vec![
            Anno {
                out_port: 1,
                in_port: 1,
                neigh: u16::from(neigh),
                ..Anno::default()
            };
            frames.len()
        ];
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

    fn originate(q: &mut ArpQuerier, now: u64, drops: &mut [u64; 3]) -> Outbox {
        let mut out = Outbox::new(2, 64, 2048).unwrap();
        q.originate(now, &mut out, drops);
        out
    }

    #[test]
    fn holds_until_the_reply_then_releases_in_order_with_the_mac() {
        let mut q = querier(4);
        let mut drops = [0u64; 3];
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
        assert_eq!((q.held(), out.originated(), drops), (0, 0, [0; 3]));
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
        let mut drops = [0u64; 3];
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
        let mut drops = [0u64; 3];
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
        let mut b = Batch::new(4, 2048).unwrap();
        b.push(&arp_frame(arp::OP_REPLY, NB, NB_MAC, ME)).unwrap();
        let mut anno = [Anno::default()];
        let mut v = [Verdict::out(0)];
        q.process(
            &mut Ctx {
                now_ns: 0,
                anno: &mut anno,
            },
            &mut b,
            &[0],
            &mut v,
        );
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
}
