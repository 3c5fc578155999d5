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
//! A connected route (`direct`: no gateway, the network is on the port) resolves each destination
//! itself, as a host's kernel does ([`crate::route::DIRECT`]): those neighbours are made when a
//! frame first needs them (or when they ask for the port's address), in a table of
//! [`ArpQuerier::with_direct`] entries whose queues get their buffers at first use; when it is
//! full, the entry unused longest with nothing queued is reused, and with none such the frame
//! is dropped as `arp_table_full`.
//!
//! Frames this element originates (ARP requests) and frames it releases from its queues leave
//! through the pipeline's [`Outbox`] ([`crate::graph::Pipeline::originate`]), so the accounting
//! of an NF becomes `rx + originated == tx + drops + held`, where `held` counts the frames
//! waiting in queues (both terms are zero for an NF whose routes all name a MAC, the paper's
//! setup). Static `via MAC` routes never reach the table.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use scc_io::Batch;

use crate::element::{Ctx, Element, Outbox, Verdict};
use crate::ports::PerPort;
use crate::route::DIRECT;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::{MacAddr, arp, ipv4};

mod table;
#[cfg(test)]
mod tests;

use table::{Counts, Entry, FrameQueue, State, tick};

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

const QUEUE_FULL: u8 = 0;
const UNRESOLVED: u8 = 1;
const REPLY_CONSUMED: u8 = 2;
const TABLE_FULL: u8 = 3;

/// Where a frame's neighbour lives.
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// A gateway of the routes (`entries`).
    Fixed(usize),
    /// A destination on a connected network (`direct`).
    Direct(usize),
}

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
/// q.originate(0, &mut out, &mut [0; 4]);
/// assert_eq!(out.port_frames(1).len(), 1); // the ARP request, out by port 1
/// assert_eq!((out.originated(), q.held()), (1, 1));
/// ```
#[derive(Debug, Clone)]
pub struct ArpQuerier {
    /// The routes' gateways, fixed when the NF is built.
    entries: Box<[Entry]>,
    /// Destinations on connected networks, made on demand (at most `direct_cap`).
    direct: Vec<Entry>,
    index: HashMap<(u8, Ipv4Addr), usize>,
    direct_cap: usize,
    /// Per port: the address requests are sent from and the port's MAC.
    ports: PerPort<(Option<Ipv4Addr>, MacAddr)>,
    cfg: NeighConfig,
    counts: Counts,
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
            .map(|at| Entry::new(at, FrameQueue::new(cfg.queue, true)))
            .collect();
        Self {
            entries,
            direct: Vec::new(),
            index: HashMap::new(),
            direct_cap: 0,
            ports,
            cfg,
            counts: Counts::default(),
        }
    }

    /// Also resolves the destinations of connected routes (annotation [`DIRECT`]), up to
    /// `capacity` of them at a time (the table is allocated now).
    pub fn with_direct(mut self, capacity: usize) -> Self {
        self.direct_cap = capacity;
        self.direct = Vec::with_capacity(capacity);
        self.index = HashMap::with_capacity(capacity);
        self
    }

    /// The MAC known for the routes' gateway `k` (0-based), if resolved.
    pub fn mac_of(&self, k: usize) -> Option<MacAddr> {
        self.entries.get(k).and_then(|e| e.mac)
    }

    /// The MAC known for `ip` on `port` as a connected destination, if resolved.
    pub fn direct_mac(&self, port: u8, ip: Ipv4Addr) -> Option<MacAddr> {
        let k = *self.index.get(&(port, ip))?;
        self.direct.get(k).and_then(|e| e.mac)
    }

    fn entry_mut(&mut self, slot: Slot) -> Option<&mut Entry> {
        match slot {
            Slot::Fixed(k) => self.entries.get_mut(k),
            Slot::Direct(k) => self.direct.get_mut(k),
        }
    }

    /// The connected destination `ip` on `port`: its entry, made (or an idle one reused) if
    /// needed; `None` when the table is full of entries with queued frames.
    fn direct_entry(&mut self, port: u8, ip: Ipv4Addr) -> Option<usize> {
        let at = Neighbour { port, ip };
        if let Some(&k) = self.index.get(&(port, ip)) {
            return Some(k);
        }
        if self.direct.len() < self.direct_cap {
            self.direct
                .push(Entry::new(at, FrameQueue::new(self.cfg.queue, false)));
            self.index.insert((port, ip), self.direct.len() - 1);
            return Some(self.direct.len() - 1);
        }
        let k = self
            .direct
            .iter()
            .enumerate()
            .filter(|(_, e)| e.queue.len() == 0)
            .min_by_key(|(_, e)| e.used_ns)
            .map(|(k, _)| k)?;
        let old = self.direct[k].at;
        self.index.remove(&(old.port, old.ip));
        self.direct[k].reuse(at);
        self.index.insert((port, ip), k);
        Some(k)
    }

    /// Learns from the ARP frame `f` that came in by `port`: the operation when it resolved
    /// or confirmed an entry.
    fn learn(&mut self, f: &[u8], port: u8, now: u64) -> Option<u16> {
        let p = arp::Packet::new_checked(f.get(ethernet::HEADER_LEN..)?).ok()?;
        let op = p.operation();
        let (sender, mac) = (p.sender_ip(), p.sender_hw());
        // A request counts only when it asks for this port's own address (as Linux does).
        let for_us = op == arp::OP_REQUEST && self.ports.get(port).0 == Some(p.target_ip());
        if !(op == arp::OP_REPLY || for_us) || !mac.is_unicast() {
            return None;
        }
        let mut learned = false;
        for e in self.entries.iter_mut() {
            if e.at.ip == sender && e.at.port == port {
                e.confirm(mac, now);
                learned = true;
            }
        }
        // A connected neighbour we asked for, or one that asks for us (it will be answered).
        let k = match self.index.get(&(port, sender)) {
            Some(&k) => Some(k),
            None if for_us && self.direct_cap > 0 => self.direct_entry(port, sender),
            None => None,
        };
        if let Some(e) = k.and_then(|k| self.direct.get_mut(k)) {
            e.confirm(mac, now);
            e.used_ns = now;
            learned = true;
        }
        if learned {
            self.counts.learned += 1;
        }
        learned.then_some(op)
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
        4
    }
    fn drop_reason(&self, r: u8) -> &str {
        [
            "arp_queue_full",
            "arp_unresolved",
            "arp_reply_consumed",
            "arp_table_full",
        ]
        .get(usize::from(r))
        .copied()
        .unwrap_or("unknown")
    }

    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        let now = cx.now_ns;
        let cfg = self.cfg;
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
            let slot = match a.neigh {
                0 => None,
                DIRECT => {
                    let dst = f
                        .get(ethernet::HEADER_LEN..)
                        .and_then(|ip| ipv4::Packet::new_checked(ip).ok())
                        .map(|ip| ip.dst_addr());
                    match dst.map(|d| self.direct_entry(a.out_port, d)) {
                        Some(Some(k)) => Some(Slot::Direct(k)),
                        Some(None) => {
                            *v = Verdict::drop(TABLE_FULL);
                            continue;
                        }
                        None => {
                            *v = Verdict::drop(UNRESOLVED);
                            continue;
                        }
                    }
                }
                n => Some(Slot::Fixed(usize::from(n) - 1)),
            };
            let Some(e) = slot.and_then(|s| self.entry_mut(s)) else {
                *v = Verdict::out(0);
                continue;
            };
            e.used_ns = now;
            match e.state(now, &cfg) {
                st @ (State::Reachable(mac) | State::Stale(mac)) => {
                    e.wanted |= matches!(st, State::Stale(_));
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
                        self.counts.held += 1;
                        *v = Verdict::held();
                    } else {
                        *v = Verdict::drop(QUEUE_FULL);
                    }
                }
            }
        }
    }

    fn originates(&self) -> bool {
        !self.entries.is_empty() || self.direct_cap > 0
    }

    fn originate(&mut self, now_ns: u64, out: &mut Outbox, drops: &mut [u64]) {
        let mut unresolved = 0;
        let Self {
            entries,
            direct,
            ports,
            cfg,
            counts,
            ..
        } = self;
        for e in entries.iter_mut().chain(direct.iter_mut()) {
            let src = *ports.get(e.at.port);
            if !tick(e, now_ns, cfg, src, out, counts, &mut unresolved) {
                break;
            }
        }
        if let Some(d) = drops.get_mut(usize::from(UNRESOLVED)) {
            *d += unresolved;
        }
    }

    fn held(&self) -> u64 {
        self.counts.held
    }

    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report("arp_requests", self.counts.requests);
        report("arp_learned", self.counts.learned);
        report("arp_released", self.counts.released);
    }
}
