//! The element library: classification, ARP, header strip/unstrip, IPv4 checks, TTL, MTU,
//! encapsulation, MAC rewriting, counting and discarding. Routing is in [`crate::route`], the
//! firewall in [`crate::filter`].
//!
//! Unless said otherwise an element expects the frames' layout of its position in the router
//! graph: `Classifier`, `ArpResponder`, `Strip`, `EtherRewrite` see Ethernet frames;
//! `CheckIpHeader`, `IpLookup`, `DecIpTtl`, `MtuCheck`, `EtherEncap` see bare IPv4 packets
//! (after `Strip`), as in Click's IP router.

use std::net::Ipv4Addr;

use scc_io::Batch;

use crate::element::{Ctx, Element, Verdict};
use crate::ports::PerPort;
use crate::wire::arp;
use crate::wire::build::write_icmp_error_headers;
use crate::wire::ethernet::{self, MacAddr, ethertype};
use crate::wire::icmp;
use crate::wire::ipv4::{self, protocol};

macro_rules! reasons {
    ($($r:literal),* $(,)?) => {
        fn n_drop_reasons(&self) -> usize {
            let r: &[&str] = &[$($r),*];
            r.len()
        }
        fn drop_reason(&self, r: u8) -> &str {
            let all: &[&str] = &[$($r),*];
            all.get(usize::from(r)).copied().unwrap_or("unknown")
        }
    };
}

/// Sorts Ethernet frames by EtherType: output 0 IPv4, 1 ARP, 2 anything else.
/// Drops frames shorter than an Ethernet header (`runt_frame`).
#[derive(Debug, Default, Clone)]
pub struct Classifier;

impl Element for Classifier {
    fn class(&self) -> &'static str {
        "Classifier"
    }
    fn n_outputs(&self) -> usize {
        3
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["ipv4", "arp", "other"]
    }
    reasons!("runt_frame");
    fn process(&mut self, _: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            *v = match ethernet::Frame::new_checked(b.frame(usize::from(i))) {
                Err(_) => Verdict::drop(0),
                Ok(e) => match e.ethertype() {
                    ethertype::IPV4 => Verdict::out(0),
                    ethertype::ARP => Verdict::out(1),
                    _ => Verdict::out(2),
                },
            };
        }
    }
}

/// Answers ARP requests for the NF's own IPv4 addresses, turning the request frame into the
/// reply in place (output 0: send it back where it came from, target `in`). Each port answers
/// for its own addresses with its own MAC (the frame's input port picks the entry). Drops
/// malformed ARP (`arp_malformed`), anything but a request (`arp_not_request`) and requests for
/// other addresses (`arp_not_for_us`). Counts `arp_replies`.
#[derive(Debug, Clone)]
pub struct ArpResponder {
    ports: PerPort<(Vec<Ipv4Addr>, MacAddr)>,
    replies: u64,
}

impl ArpResponder {
    /// Answers for `addrs` with `mac` on every port.
    pub fn new(addrs: Vec<Ipv4Addr>, mac: MacAddr) -> Self {
        Self::per_port(PerPort::all((addrs, mac)))
    }

    /// Answers on port `p` for the addresses of entry `p` with its MAC.
    pub fn per_port(ports: PerPort<(Vec<Ipv4Addr>, MacAddr)>) -> Self {
        Self { ports, replies: 0 }
    }
}

impl Element for ArpResponder {
    fn class(&self) -> &'static str {
        "ArpResponder"
    }
    reasons!("arp_malformed", "arp_not_request", "arp_not_for_us");
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let port = cx.anno.get(usize::from(i)).map_or(0, |a| a.in_port);
            let (addrs, mac) = self.ports.get(port);
            let mac = *mac;
            let f = b.frame_mut(usize::from(i));
            let Some(body) = f.get_mut(ethernet::HEADER_LEN..) else {
                *v = Verdict::drop(0);
                continue;
            };
            let Ok(mut p) = arp::Packet::new_checked(body) else {
                *v = Verdict::drop(0);
                continue;
            };
            if p.operation() != arp::OP_REQUEST {
                *v = Verdict::drop(1);
                continue;
            }
            let target = p.target_ip();
            if !addrs.contains(&target) {
                *v = Verdict::drop(2);
                continue;
            }
            let (sha, spa) = (p.sender_hw(), p.sender_ip());
            p.set_operation(arp::OP_REPLY);
            p.set_target_hw(sha);
            p.set_target_ip(spa);
            p.set_sender_hw(mac);
            p.set_sender_ip(target);
            let mut e = ethernet::Frame::new_unchecked(&mut *f);
            e.set_dst_addr(sha);
            e.set_src_addr(mac);
            self.replies += 1;
            *v = Verdict::out(0);
        }
    }
    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report("arp_replies", self.replies);
    }
}

/// Removes `n` bytes from the front of every frame (default 14: the Ethernet header).
/// Drops frames shorter than `n` (`runt_frame`).
#[derive(Debug, Clone)]
pub struct Strip {
    n: usize,
}

impl Strip {
    /// Strips `n` bytes.
    pub fn new(n: usize) -> Self {
        Self { n }
    }

    /// Bytes stripped.
    pub(crate) fn bytes(&self) -> usize {
        self.n
    }
}

impl Element for Strip {
    fn class(&self) -> &'static str {
        "Strip"
    }
    reasons!("runt_frame");
    fn process(&mut self, _: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            *v = if b.pull(usize::from(i), self.n) {
                Verdict::out(0)
            } else {
                Verdict::drop(0)
            };
        }
    }
}

/// Puts back `n` bytes in front of every frame (the bytes that were there before, e.g. after a
/// `Strip`). Drops frames without that much headroom (`no_headroom`).
#[derive(Debug, Clone)]
pub struct Unstrip {
    n: usize,
}

impl Unstrip {
    /// Unstrips `n` bytes.
    pub fn new(n: usize) -> Self {
        Self { n }
    }
}

impl Element for Unstrip {
    fn class(&self) -> &'static str {
        "Unstrip"
    }
    reasons!("no_headroom");
    fn process(&mut self, _: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            *v = if b.push_front(usize::from(i), self.n) {
                Verdict::out(0)
            } else {
                Verdict::drop(0)
            };
        }
    }
}

/// Validates IPv4 headers with Click's `CheckIPHeader` semantics, on packets starting at
/// `offset` (0 after `Strip`): drops, each with its own reason, packets shorter than 20 bytes
/// (`ip_truncated`), version != 4 (`bad_ip_version`), IHL < 5 or a header longer than the packet
/// (`bad_ihl`), total length < header length or > the packet (`bad_ip_len`), a wrong header
/// checksum (`bad_ip_checksum`), and an invalid source address (`bad_src_addr`: 0.0.0.0,
/// 255.255.255.255, multicast 224.0.0.0/4, or one of the configured `bad_src`, e.g. local subnet
/// broadcast addresses). Trailing bytes beyond the total length (Ethernet padding) are trimmed.
/// IP options are accepted (and covered by the checksum).
#[derive(Debug, Clone)]
pub struct CheckIpHeader {
    offset: usize,
    bad_src: Vec<u32>,
    verify_checksum: bool,
}

impl CheckIpHeader {
    /// Checks headers at `offset` with the extra bad source addresses `bad_src`.
    pub fn new(offset: usize, bad_src: Vec<Ipv4Addr>) -> Self {
        Self {
            offset,
            bad_src: bad_src.into_iter().map(u32::from).collect(),
            verify_checksum: true,
        }
    }

    /// Skips the checksum test (Click's `CheckIPHeader(VERIFY_CHECKSUM false)`).
    pub fn without_checksum(mut self) -> Self {
        self.verify_checksum = false;
        self
    }

    /// Where the IPv4 header starts in the frames this element sees.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }

    /// Checks the packet at `offset` of `f`: `Ok(offset + total length)` or `Err(reason index)`.
    #[inline(always)]
    pub(crate) fn check(&self, f: &[u8]) -> Result<usize, u8> {
        let p = f.get(self.offset..).unwrap_or(&[]);
        if p.len() < ipv4::MIN_HEADER_LEN {
            return Err(0);
        }
        // At least 20 bytes: every fixed header field exists.
        let ip = ipv4::Packet::new_unchecked(p);
        if ip.version() != 4 {
            return Err(1);
        }
        let hl = ip.header_len();
        if hl < ipv4::MIN_HEADER_LEN || hl > p.len() {
            return Err(2);
        }
        let tl = usize::from(ip.total_len());
        if tl < hl || tl > p.len() {
            return Err(3);
        }
        if self.verify_checksum && header_checksum(&p[..hl]) != 0 {
            return Err(4);
        }
        let src = ip.src_u32();
        if src == 0 || src == u32::MAX || src >> 28 == 0xe || self.bad_src.contains(&src) {
            return Err(5);
        }
        Ok(self.offset + tl)
    }
}

impl Element for CheckIpHeader {
    fn class(&self) -> &'static str {
        "CheckIpHeader"
    }
    reasons!(
        "ip_truncated",
        "bad_ip_version",
        "bad_ihl",
        "bad_ip_len",
        "bad_ip_checksum",
        "bad_src_addr"
    );
    fn process(&mut self, _: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let i = usize::from(i);
            let f = b.frame(i);
            let flen = f.len();
            *v = match self.check(f) {
                Ok(len) => {
                    if len < flen {
                        b.set_len(i, len);
                    }
                    Verdict::out(0)
                }
                Err(r) => Verdict::drop(r),
            };
        }
    }
}

/// The Internet checksum of an IPv4 header, with a straight-line path for the common 20 bytes.
#[inline]
fn header_checksum(h: &[u8]) -> u16 {
    if let Some(w) = h.first_chunk::<20>()
        && h.len() == 20
    {
        let word = |k: usize| u64::from(u32::from_be_bytes([w[k], w[k + 1], w[k + 2], w[k + 3]]));
        let s = word(0) + word(4) + word(8) + word(12) + word(16);
        let s = (s & 0xffff_ffff) + (s >> 32);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        let s = (s & 0xffff) + (s >> 16);
        return !(s as u16);
    }
    crate::wire::checksum::checksum(h)
}

/// A token bucket limiting how many ICMP errors an element sends (RFC 1812 §4.3.2.8).
#[derive(Debug, Clone)]
pub struct RateLimit {
    per_sec: u64,
    burst: u64,
    /// Tokens scaled by 1e9 (so refills are exact in integer nanoseconds).
    tokens: u64,
    last_ns: u64,
}

impl RateLimit {
    /// Allows `per_sec` messages per second with bursts of `burst`. `per_sec == 0` allows none.
    pub fn new(per_sec: u64, burst: u64) -> Self {
        let burst = burst.max(1);
        Self {
            per_sec,
            burst,
            tokens: burst.saturating_mul(1_000_000_000),
            last_ns: 0,
        }
    }

    /// Takes one token at time `now_ns`; false when the bucket is empty.
    pub fn take(&mut self, now_ns: u64) -> bool {
        if self.per_sec == 0 {
            return false;
        }
        let dt = now_ns.saturating_sub(self.last_ns).min(10_000_000_000);
        self.last_ns = self.last_ns.max(now_ns);
        let cap = self.burst.saturating_mul(1_000_000_000);
        self.tokens = self
            .tokens
            .saturating_add(dt.saturating_mul(self.per_sec))
            .min(cap);
        if self.tokens >= 1_000_000_000 {
            self.tokens -= 1_000_000_000;
            true
        } else {
            false
        }
    }
}

/// How an element that reports errors builds its ICMP messages.
#[derive(Debug, Clone)]
pub struct IcmpConfig {
    /// Source address of the errors (the router's own address).
    pub src: Ipv4Addr,
    /// Rate limit.
    pub limit: RateLimit,
}

/// True when RFC 1812 §4.3.2.7 allows an ICMP error about the IPv4 packet `p` (checked header at
/// offset 0): not about an ICMP error, not a non-first fragment, not from an invalid, broadcast,
/// multicast or loopback source, not to a broadcast or multicast destination.
fn icmp_allowed(p: &[u8]) -> bool {
    let Ok(ip) = ipv4::Packet::new_checked(p) else {
        return false;
    };
    if ip.flags_frag() & ipv4::FRAG_OFFSET_MASK != 0 {
        return false;
    }
    if ip.protocol() == protocol::ICMP {
        match ip.payload().first() {
            Some(&t) if !icmp::is_error(t) => {}
            _ => return false,
        }
    }
    let (src, dst) = (ip.src_u32(), ip.dst_u32());
    let bad = |a: u32| a == 0 || a == u32::MAX || a >> 28 == 0xe || a >> 24 == 127;
    !bad(src) && dst != u32::MAX && dst >> 28 != 0xe
}

/// Turns the IPv4 packet at frame `i` (offset 0, header already checked) into an ICMP error
/// about it, in place: 28 bytes of new headers go into the headroom and the quote (the
/// offending header + 8 bytes) stays where it is. False when not possible (no headroom).
fn icmp_error_in_place(b: &mut Batch, i: usize, src: Ipv4Addr, t: u8, code: u8, rest: u32) -> bool {
    let Ok(ip) = ipv4::Packet::new_checked(b.frame(i)) else {
        return false;
    };
    let quote = (ip.header_len() + 8).min(usize::from(ip.total_len()));
    let dst = ip.src_addr();
    let pre = ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN;
    if !b.push_front(i, pre) {
        return false;
    }
    if !b.set_len(i, pre + quote) {
        return false;
    }
    write_icmp_error_headers(b.frame_mut(i), src, dst, t, code, rest);
    true
}

/// Decrements the IPv4 TTL (packets at offset 0) and updates the header checksum incrementally
/// (RFC 1624). Output 0: forwarded. A packet arriving with TTL 0 or 1 has expired (Click's
/// `DecIPTTL`): when ICMP is configured and allowed (RFC 1812, rate-limited) it is turned in place
/// into an ICMP Time Exceeded to its source and sent to output 1 (route it); otherwise it is
/// dropped (`ttl_expired`). Counts `icmp_time_exceeded`.
#[derive(Debug, Clone)]
pub struct DecIpTtl {
    icmp: Option<IcmpConfig>,
    sent: u64,
}

impl DecIpTtl {
    /// With ICMP errors per `icmp` (`None`: expired packets are only dropped).
    pub fn new(icmp: Option<IcmpConfig>) -> Self {
        Self { icmp, sent: 0 }
    }
}

impl Element for DecIpTtl {
    fn class(&self) -> &'static str {
        "DecIpTtl"
    }
    fn n_outputs(&self) -> usize {
        2
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["out", "icmp"]
    }
    reasons!("ttl_expired", "ip_truncated");
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let i = usize::from(i);
            let f = b.frame_mut(i);
            if f.len() < ipv4::MIN_HEADER_LEN {
                *v = Verdict::drop(1);
                continue;
            }
            // At least 20 bytes: TTL and checksum exist.
            let mut ip = ipv4::Packet::new_unchecked(&mut *f);
            if ip.ttl() > 1 {
                ip.dec_ttl();
                *v = Verdict::out(0);
                continue;
            }
            *v = Verdict::drop(0);
            if let Some(ic) = &mut self.icmp
                && icmp_allowed(f)
                && ic.limit.take(cx.now_ns)
                && icmp_error_in_place(b, i, ic.src, icmp::msg_type::TIME_EXCEEDED, 0, 0)
            {
                self.sent += 1;
                mark_fix_src(cx, i);
                *v = Verdict::out(1);
            }
        }
    }
    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report("icmp_time_exceeded", self.sent);
    }
}

/// Enforces the output MTU on IPv4 packets (offset 0): a packet longer than `mtu` with DF set is
/// turned into an ICMP "fragmentation needed" (type 3 code 4, with the next-hop MTU) to its
/// source on output 1 when allowed and within the rate limit, otherwise dropped (`frag_needed`);
/// one without DF is dropped (`needs_fragmentation`): scc does not fragment (yet).
/// Counts `icmp_frag_needed`.
#[derive(Debug, Clone)]
pub struct MtuCheck {
    mtu: u16,
    icmp: Option<IcmpConfig>,
    sent: u64,
}

impl MtuCheck {
    /// Enforces `mtu` (IPv4 total length), with ICMP errors per `icmp`.
    pub fn new(mtu: u16, icmp: Option<IcmpConfig>) -> Self {
        Self { mtu, icmp, sent: 0 }
    }
}

impl Element for MtuCheck {
    fn class(&self) -> &'static str {
        "MtuCheck"
    }
    fn n_outputs(&self) -> usize {
        2
    }
    fn output_names(&self) -> &'static [&'static str] {
        &["out", "icmp"]
    }
    reasons!("frag_needed", "needs_fragmentation");
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let i = usize::from(i);
            let f = b.frame(i);
            if f.len() <= usize::from(self.mtu) {
                *v = Verdict::out(0);
                continue;
            }
            if f.len() < ipv4::MIN_HEADER_LEN || !ipv4::Packet::new_unchecked(f).dont_frag() {
                *v = Verdict::drop(1);
                continue;
            }
            *v = Verdict::drop(0);
            if let Some(ic) = &mut self.icmp
                && icmp_allowed(f)
                && ic.limit.take(cx.now_ns)
                && icmp_error_in_place(
                    b,
                    i,
                    ic.src,
                    icmp::msg_type::DEST_UNREACHABLE,
                    icmp::unreachable::FRAG_NEEDED,
                    u32::from(self.mtu),
                )
            {
                self.sent += 1;
                mark_fix_src(cx, i);
                *v = Verdict::out(1);
            }
        }
    }
    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report("icmp_frag_needed", self.sent);
    }
}

/// Sets the [`crate::element::Anno::fix_src`] mark of frame `i` (an error message this NF made).
fn mark_fix_src(cx: &mut Ctx<'_>, i: usize) {
    if let Some(a) = cx.anno.get_mut(i) {
        a.fix_src = true;
    }
}

/// Prepends an Ethernet header: source the MAC of the port the frame leaves by (its
/// `out_port` annotation; one `src` for all ports with [`EtherEncap::new`]), destination the
/// route's gateway MAC (annotation set by `IpLookup`) or else the configured `dst`, and
/// EtherType `ethertype` (Click's `EtherEncap` with static next hops). Drops frames without 14
/// bytes of headroom (`no_headroom`).
#[derive(Debug, Clone)]
pub struct EtherEncap {
    ethertype: u16,
    src: PerPort<MacAddr>,
    dst: MacAddr,
}

impl EtherEncap {
    /// Encapsulates with these fields (the same source MAC on every port).
    pub fn new(ethertype: u16, src: MacAddr, dst: MacAddr) -> Self {
        Self::per_port(ethertype, PerPort::all(src), dst)
    }

    /// Encapsulates with the source MAC of the output port.
    pub fn per_port(ethertype: u16, src: PerPort<MacAddr>, dst: MacAddr) -> Self {
        Self {
            ethertype,
            src,
            dst,
        }
    }

    /// The Ethernet header written in front of a packet leaving by `port` whose route gives
    /// the gateway `gw`.
    pub(crate) fn header(&self, port: u8, gw: Option<MacAddr>) -> [u8; ethernet::HEADER_LEN] {
        let mut hdr = [0u8; ethernet::HEADER_LEN];
        let mut e = ethernet::Frame::new_unchecked(&mut hdr[..]);
        e.set_dst_addr(gw.unwrap_or(self.dst));
        e.set_src_addr(*self.src.get(port));
        e.set_ethertype(self.ethertype);
        hdr
    }
}

impl Element for EtherEncap {
    fn class(&self) -> &'static str {
        "EtherEncap"
    }
    reasons!("no_headroom");
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let i = usize::from(i);
            if !b.push_front(i, ethernet::HEADER_LEN) {
                *v = Verdict::drop(0);
                continue;
            }
            let (port, gw) = cx
                .anno
                .get(i)
                .map_or((0, None), |a| (a.out_port, a.dst_mac));
            let hdr = self.header(port, gw);
            b.frame_mut(i)[..ethernet::HEADER_LEN].copy_from_slice(&hdr);
            *v = Verdict::out(0);
        }
    }
}

/// Rewrites the MAC addresses of Ethernet frames in place: the source to `src` and the
/// destination to `dst` when set (otherwise left unchanged). With [`EtherRewrite::per_port`]
/// the pair depends on the port the frame came in by (a two-way forwarder writes the MACs of
/// the way out). Drops frames shorter than an Ethernet header (`runt_frame`).
#[derive(Debug, Clone)]
pub struct EtherRewrite {
    macs: PerPort<(Option<MacAddr>, Option<MacAddr>)>,
}

impl EtherRewrite {
    /// Rewrites to these addresses, whatever the input port.
    pub fn new(src: Option<MacAddr>, dst: Option<MacAddr>) -> Self {
        Self::per_port(PerPort::all((src, dst)))
    }

    /// Rewrites frames from input port `p` to `(src, dst)` of entry `p`.
    pub fn per_port(macs: PerPort<(Option<MacAddr>, Option<MacAddr>)>) -> Self {
        Self { macs }
    }
}

impl Element for EtherRewrite {
    fn class(&self) -> &'static str {
        "EtherRewrite"
    }
    reasons!("runt_frame");
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let port = cx.anno.get(usize::from(i)).map_or(0, |a| a.in_port);
            let (src, dst) = *self.macs.get(port);
            let Ok(mut e) = ethernet::Frame::new_checked(b.frame_mut(usize::from(i))) else {
                *v = Verdict::drop(0);
                continue;
            };
            if let Some(d) = dst {
                e.set_dst_addr(d);
            }
            if let Some(s) = src {
                e.set_src_addr(s);
            }
            *v = Verdict::out(0);
        }
    }
}

/// Counts frames and bytes, passes everything to output 0. Reports `<name>_frames` and
/// `<name>_bytes` (name given at construction).
#[derive(Debug, Clone)]
pub struct Counter {
    frames_key: String,
    bytes_key: String,
    frames: u64,
    bytes: u64,
}

impl Counter {
    /// A counter reporting under `name`.
    pub fn new(name: &str) -> Self {
        Self {
            frames_key: format!("{name}_frames"),
            bytes_key: format!("{name}_bytes"),
            frames: 0,
            bytes: 0,
        }
    }

    /// Frames counted.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Bytes counted.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }
}

impl Element for Counter {
    fn class(&self) -> &'static str {
        "Counter"
    }
    reasons!();
    fn process(&mut self, _: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            self.frames += 1;
            self.bytes += b.frame(usize::from(i)).len() as u64;
            *v = Verdict::out(0);
        }
    }
    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report(&self.frames_key, self.frames);
        report(&self.bytes_key, self.bytes);
    }
}

/// Drops every frame, counted under its configured reason (default `discard`).
#[derive(Debug, Clone)]
pub struct Discard {
    reason: String,
}

impl Discard {
    /// Drops with `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }
}

impl Element for Discard {
    fn class(&self) -> &'static str {
        "Discard"
    }
    fn n_drop_reasons(&self) -> usize {
        1
    }
    fn drop_reason(&self, _: u8) -> &str {
        &self.reason
    }
    fn process(&mut self, _: &mut Ctx<'_>, _: &mut Batch, _: &[u16], out: &mut [Verdict]) {
        out.fill(Verdict::drop(0));
    }
}
