//! Elements that make an NF behave like a host on each of its ports: `HostEtherFilter` (drop
//! frames addressed to another host's MAC) and `FixIpSrc` (error messages leave with the address
//! of the port they leave by). Both read the per-frame port annotations
//! ([`crate::element::Anno::in_port`], [`crate::element::Anno::out_port`]).
//!
//! With a table per port, one element serves every input chain of the NF: the graph is written
//! once and each port's frames see that port's MAC and address, as the per-interface chains of
//! Click's two-interface IP router do (Kohler et al. 2000, figure 8).

use std::net::Ipv4Addr;

use scc_io::Batch;

use crate::element::{Ctx, Element, Verdict};
use crate::wire::ethernet::{self, MacAddr};
use crate::wire::ipv4;

/// A value per NF port, indexed by port number; ports beyond the table use the first entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PerPort<T>(Box<[T]>);

impl<T> PerPort<T> {
    /// One value per port (port 0 first). An empty list is replaced by one `fallback`.
    pub fn new(values: Vec<T>, fallback: T) -> Self {
        if values.is_empty() {
            Self(vec![fallback].into_boxed_slice())
        } else {
            Self(values.into_boxed_slice())
        }
    }

    /// The same value on every port.
    pub fn all(value: T) -> Self {
        Self(vec![value].into_boxed_slice())
    }

    /// The value of port `p`.
    #[inline]
    pub fn get(&self, p: u8) -> &T {
        self.0.get(usize::from(p)).unwrap_or(&self.0[0])
    }
}

/// Click's `HostEtherFilter`: passes Ethernet frames addressed to the input port's own MAC, to
/// broadcast or to a multicast group (output 0); drops frames addressed to another host's
/// unicast MAC (`other_host`, what the kernel marks `PACKET_OTHERHOST`; a flooding bridge or
/// a promiscuous port delivers them) and frames shorter than an Ethernet header
/// (`runt_frame`). Disabled (a bump-in-the-wire NF), it passes everything that holds a header.
///
/// ```
/// use scc_nf::ports::{HostEtherFilter, PerPort};
/// use scc_nf::wire::MacAddr;
/// let f = HostEtherFilter::new(PerPort::all(MacAddr([2, 0, 0, 0, 0, 1])), true);
/// assert!(f.accepts(0, MacAddr([2, 0, 0, 0, 0, 1])));
/// assert!(f.accepts(0, MacAddr::BROADCAST));
/// assert!(f.accepts(0, MacAddr([0x01, 0, 0x5e, 0, 0, 1]))); // IPv4 multicast
/// assert!(!f.accepts(0, MacAddr([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])));
/// ```
#[derive(Debug, Clone)]
pub struct HostEtherFilter {
    macs: PerPort<MacAddr>,
    enabled: bool,
}

impl HostEtherFilter {
    /// Filters on each port for that port's MAC in `macs` (`enabled == false`: pass all).
    pub fn new(macs: PerPort<MacAddr>, enabled: bool) -> Self {
        Self { macs, enabled }
    }

    /// Whether a frame to `dst` arriving on port `port` is for this host.
    #[inline]
    pub fn accepts(&self, port: u8, dst: MacAddr) -> bool {
        !self.enabled || dst.0[0] & 1 != 0 || dst == *self.macs.get(port)
    }

    /// Port `p`'s own MAC, when filtering (for the fused router path).
    pub(crate) fn own_mac(&self, p: u8) -> Option<MacAddr> {
        self.enabled.then(|| *self.macs.get(p))
    }
}

impl Element for HostEtherFilter {
    fn class(&self) -> &'static str {
        "HostEtherFilter"
    }
    fn n_drop_reasons(&self) -> usize {
        2
    }
    fn drop_reason(&self, r: u8) -> &str {
        ["other_host", "runt_frame"]
            .get(usize::from(r))
            .copied()
            .unwrap_or("unknown")
    }
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            let port = cx.anno.get(usize::from(i)).map_or(0, |a| a.in_port);
            *v = match ethernet::Frame::new_checked(b.frame(usize::from(i))) {
                Err(_) => Verdict::drop(1),
                Ok(e) if self.accepts(port, e.dst_addr()) => Verdict::out(0),
                Ok(_) => Verdict::drop(0),
            };
        }
    }
}

/// Click's `FixIPSrc`: an IPv4 packet (offset 0) marked as an error message of this NF
/// ([`crate::element::Anno::fix_src`], set by `DecIpTtl` and `MtuCheck`) gets as source the
/// address of the port it leaves by (its `out_port`), with a new header checksum; other
/// packets pass unchanged. Ports without an address leave the source as it is. Counts
/// `ip_src_fixed`.
#[derive(Debug, Clone)]
pub struct FixIpSrc {
    addrs: PerPort<Option<Ipv4Addr>>,
    fixed: u64,
}

impl FixIpSrc {
    /// Fixes sources to `addrs` (per output port).
    pub fn new(addrs: PerPort<Option<Ipv4Addr>>) -> Self {
        Self { addrs, fixed: 0 }
    }
}

impl Element for FixIpSrc {
    fn class(&self) -> &'static str {
        "FixIpSrc"
    }
    fn n_drop_reasons(&self) -> usize {
        0
    }
    fn drop_reason(&self, _: u8) -> &str {
        "unknown"
    }
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        out.fill(Verdict::out(0));
        for &i in sel {
            let i = usize::from(i);
            let Some(a) = cx.anno.get_mut(i) else {
                continue;
            };
            if !a.fix_src {
                continue;
            }
            a.fix_src = false;
            let Some(src) = *self.addrs.get(a.out_port) else {
                continue;
            };
            if let Ok(mut p) = ipv4::Packet::new_checked(b.frame_mut(i)) {
                p.set_src_addr(src);
                p.fill_checksum();
                self.fixed += 1;
            }
        }
    }
    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        report("ip_src_fixed", self.fixed);
    }
}
