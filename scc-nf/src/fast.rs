//! The router's forwarding path fused into one pass per frame (FastClick-style element fusion).
//!
//! In the router graph (`[HostEtherFilter ->] Classifier -> Strip -> CheckIpHeader -> IpLookup ->
//! DecIpTtl -> [MtuCheck ->] [FixIpSrc ->] EtherEncap -> out`) almost every frame takes the same path and no element on it
//! keeps per-frame state. Run element by element, each frame is visited seven times, each visit
//! going through a virtual call, a selection array and a verdict array. [`FastRouter`] does the
//! whole path per frame instead, while the frame is hot in cache, with the *same* element code
//! for the decisions (`CheckIpHeader::check`, the route table's LPM and next hops, the
//! `EtherEncap` header):
//!
//! 1. per frame: addressed to the input port's own MAC (when host filtering), EtherType is IPv4, the IPv4 header passes `CheckIpHeader`, the TTL is above 1
//!    and the total length fits the MTU; the destination is collected;
//! 2. the destinations of up to [`crate::lpm::LOOKUP_GROUP`] frames are looked up together
//!    (`Lpm::lookup_batch`, so the cache misses of a large table overlap); a table of a few
//!    routes is scanned inline in step 1 instead (`route::SmallTable`, same next-hop ids);
//! 3. per frame with a route: TTL decrement with an RFC 1624 incremental checksum update, the
//!    next hop's precomputed Ethernet header written over the old one, padding trimmed, and the
//!    frame appended to its port's list.
//!
//! A frame is changed only once it is known to be forwarded; every other frame (ARP, non-IPv4,
//! a malformed header, TTL expiry, no route, over the MTU) is left untouched and goes through the
//! generic graph from its entry, so drops, drop reasons, ICMP errors, rate limits and events are
//! exactly those of the element-by-element run. The result equals the generic graph's; only the
//! order of frames on *different* paths within one port's list can differ (forwarded frames
//! first), which the pipeline does not promise (see [`crate::graph::Pipeline::process`]).
//!
//! The fusion is found by [`fuse`] when a pipeline is built from configuration
//! ([`crate::config::build_pipeline`]), for the `router` preset and any custom graph of the same
//! shape; changing the graph afterwards (`add`, `connect`) turns it off.

use scc_io::Batch;

use crate::elements::{CheckIpHeader, EtherEncap, Strip};
use crate::graph::{Pipeline, Target};
use crate::lpm::LOOKUP_GROUP;
use crate::ports::HostEtherFilter;
use crate::route::IpLookup;
use crate::wire::MacAddr;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::ipv4;

/// What a configured node is, as far as fusion cares (one per node, in node order).
#[derive(Debug, Clone)]
pub(crate) enum Part {
    /// `HostEtherFilter`.
    HostFilter(HostEtherFilter),
    /// `FixIpSrc` (a no-op on the fused path: it only touches the NF's own error messages).
    FixSrc,
    /// `Classifier`.
    Classifier,
    /// `Strip`.
    Strip(Strip),
    /// `CheckIpHeader`.
    Check(CheckIpHeader),
    /// `IpLookup`.
    Lookup(IpLookup),
    /// `DecIpTtl`.
    DecTtl,
    /// `MtuCheck` with its MTU.
    Mtu(u16),
    /// `EtherEncap`.
    Encap(EtherEncap),
    /// `ArpQuerier` (after `EtherEncap`; frames of routes `via MAC` pass it unchanged, frames
    /// of routes `via IP` take the graph).
    ArpQuerier,
    /// Anything else.
    Other,
}

/// One next hop, ready to write: the Ethernet header and the port.
#[derive(Debug, Clone, Copy)]
struct Hop {
    hdr: [u8; ethernet::HEADER_LEN],
    port: u8,
}

/// The fused router path. See the module documentation.
#[derive(Debug, Clone)]
pub(crate) struct FastRouter {
    /// The host filter in front, if any (frames not to the port's own MAC take the graph).
    host: Option<HostEtherFilter>,
    check: CheckIpHeader,
    lookup: IpLookup,
    /// Indexed by next-hop id; entry 0 ("no route") is never used.
    hops: Box<[Hop]>,
    /// Largest IPv4 total length forwarded (`MtuCheck`), `usize::MAX` without one.
    mtu: usize,
}

const ETH: usize = ethernet::HEADER_LEN;
/// The port of a [`Hop`] the fused path does not take.
const NO_PORT: u8 = u8::MAX;

/// Finds the router path in `p` (its nodes described by `parts`, in node order) and compiles it.
/// `None` when the graph does not have that shape: then the pipeline runs element by element.
pub(crate) fn fuse(p: &Pipeline, parts: &[Part]) -> Option<FastRouter> {
    // Output 0 of `node` must lead to a later node (so the generic graph would reach it in the
    // same pass, in the same order).
    let next = |node: usize| -> Option<usize> {
        match p.target(node, 0)? {
            Target::Node(t) if usize::from(t) > node => Some(usize::from(t)),
            _ => None,
        }
    };
    let mut at = 0;
    let mut host = None;
    if let Part::HostFilter(h) = parts.first()? {
        host = Some(h.clone());
        at = next(at)?;
    }
    let Part::Classifier = parts.get(at)? else {
        return None;
    };
    at = next(at)?;
    match parts.get(at)? {
        Part::Strip(s) if s.bytes() == ETH => {}
        _ => return None,
    }
    at = next(at)?;
    let check = match parts.get(at)? {
        Part::Check(c) if c.offset() == 0 => c.clone(),
        _ => return None,
    };
    at = next(at)?;
    let lookup = match parts.get(at)? {
        Part::Lookup(l) if l.offset() == 0 => l.clone(),
        _ => return None,
    };
    at = next(at)?;
    let Part::DecTtl = parts.get(at)? else {
        return None;
    };
    at = next(at)?;
    let mut mtu = usize::MAX;
    if let Part::Mtu(m) = parts.get(at)? {
        mtu = usize::from(*m);
        at = next(at)?;
    }
    if let Part::FixSrc = parts.get(at)? {
        at = next(at)?;
    }
    let Part::Encap(encap) = parts.get(at)? else {
        return None;
    };
    if let Some(Target::Node(t)) = p.target(at, 0)
        && usize::from(t) > at
        && let Some(Part::ArpQuerier) = parts.get(usize::from(t))
    {
        at = usize::from(t);
    }
    let n_ports = p.ports().len();
    let hops = lookup
        .table()
        .hops()
        .iter()
        .map(|h| {
            let port = match p.target(at, 0)? {
                Target::Routed if usize::from(h.port) < n_ports => h.port,
                Target::Routed => p.default_port(),
                Target::Port(q) if usize::from(q) < n_ports => q,
                _ => return None,
            };
            Some(Hop {
                hdr: encap.header(port, h.gw),
                // A next hop resolved by ARP takes the graph (no port list has this index).
                port: if h.neigh == 0 { port } else { NO_PORT },
            })
        })
        .collect::<Option<Box<[Hop]>>>()?;
    Some(FastRouter {
        host,
        check,
        lookup,
        hops,
        mtu,
    })
}

impl FastRouter {
    /// The IPv4 total length of Ethernet frame `f` when the router forwards it without an
    /// exception (to `own` when filtering, IPv4, valid header, TTL > 1, within the MTU), else 0.
    #[inline(always)]
    fn admit(&self, f: &[u8], own: Option<MacAddr>) -> usize {
        let Some((eth, ip)) = f.split_first_chunk::<ETH>() else {
            return 0;
        };
        // HostEtherFilter's common case: unicast to this port (anything else takes the graph).
        if own.is_some_and(|m| eth[..6] != m.0) {
            return 0;
        }
        if ethernet::Frame::new_unchecked(&eth[..]).ethertype() != ethertype::IPV4 {
            return 0;
        }
        match self.check.check(ip) {
            // `check` guarantees at least 20 header bytes, so the TTL exists.
            Ok(tl) if tl <= self.mtu && ipv4::Packet::new_unchecked(ip).ttl() > 1 => tl,
            _ => 0,
        }
    }

    /// Forwards the frames `0..n` of `batch` that take the router's common path, appending
    /// their indices to `out[port]`; appends every other frame's index, untouched, to `slow`.
    /// The frames came in by port `in_port`.
    pub(crate) fn run(
        &self,
        batch: &mut Batch,
        n: usize,
        in_port: u8,
        out: &mut [Vec<u16>],
        slow: &mut Vec<u16>,
    ) {
        let own = self.host.as_ref().and_then(|h| h.own_mac(in_port));
        match self.lookup.table().small() {
            Some(t) => self.run_with::<false>(batch, n, own, out, slow, |d| t.lookup(d)),
            None => self.run_with::<true>(batch, n, own, out, slow, |_| 0),
        }
    }

    /// [`FastRouter::run`] with batched LPM lookups (`BATCHED`) or `lookup` inline per frame.
    #[inline(always)]
    fn run_with<const BATCHED: bool>(
        &self,
        batch: &mut Batch,
        n: usize,
        own: Option<MacAddr>,
        out: &mut [Vec<u16>],
        slow: &mut Vec<u16>,
        lookup: impl Fn(u32) -> u16,
    ) {
        let lpm = self.lookup.table().lpm();
        let mut dst = [0u32; LOOKUP_GROUP];
        let mut tl = [0usize; LOOKUP_GROUP];
        let mut ids = [0u16; LOOKUP_GROUP];
        let mut base = 0;
        while base < n {
            let m = (n - base).min(LOOKUP_GROUP);
            for k in 0..m {
                let f = batch.frame(base + k);
                let l = self.admit(f, own);
                tl[k] = l;
                let d = match f.get(ETH..ETH + ipv4::MIN_HEADER_LEN) {
                    Some(h) if l != 0 => ipv4::Packet::new_unchecked(h).dst_u32(),
                    _ => 0,
                };
                if BATCHED {
                    dst[k] = d;
                } else {
                    ids[k] = if l != 0 { lookup(d) } else { 0 };
                }
            }
            if BATCHED {
                lpm.lookup_batch(&dst[..m], &mut ids[..m]);
            }
            for k in 0..m {
                let i = base + k;
                let hop = match ids[k] {
                    0 => None,
                    id => self.hops.get(usize::from(id)),
                };
                let (Some(hop), true) = (hop, tl[k] != 0) else {
                    slow.push(i as u16);
                    continue;
                };
                let f = batch.frame_mut(i);
                let flen = f.len();
                // Both always exist (checked by `admit` and `fuse`); tested before any change.
                let (Some(h), Some(o)) =
                    (f.get_mut(..ETH + 12), out.get_mut(usize::from(hop.port)))
                else {
                    slow.push(i as u16);
                    continue;
                };
                // DecIpTtl: TTL - 1 (> 1, checked by `admit`), checksum per RFC 1624.
                ipv4::Packet::new_unchecked(&mut h[ETH..]).dec_ttl();
                // Strip + EtherEncap: the new header where the old one was.
                h[..ETH].copy_from_slice(&hop.hdr);
                // CheckIpHeader: trim the bytes beyond the IPv4 total length (padding).
                o.push(i as u16);
                if ETH + tl[k] < flen {
                    batch.set_len(i, ETH + tl[k]);
                }
            }
            base += m;
        }
    }
}
