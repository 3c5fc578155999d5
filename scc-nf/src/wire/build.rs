//! Builders that write complete frames into a caller's buffer (no allocation).
//!
//! Used by the traffic generator (one call per frame, or once as a template whose payload is then
//! patched) and by tests. [`UdpFrame`] is the Ethernet header plus an [`ipv4::Repr`] and a
//! [`udp::Repr`], emitted by those (one definition of each header's layout).
//!
//! ```
//! use scc_nf::wire::build::UdpFrame;
//! use scc_nf::wire::{ethernet, ipv4, udp};
//! let spec = UdpFrame { ttl: 9, ..UdpFrame::default() };
//! let mut buf = [0u8; 64];
//! let n = spec.write(&mut buf, &[0x5a; 22]).unwrap();
//! assert_eq!(n, UdpFrame::frame_len(22));
//! let ip = ipv4::Packet::new_checked(&buf[ethernet::HEADER_LEN..n]).unwrap();
//! assert_eq!(ipv4::Repr::parse(&ip).unwrap(), spec.ipv4_repr(udp::HEADER_LEN + 22));
//! let u = udp::Packet::new_checked(ip.payload()).unwrap();
//! assert_eq!(udp::Repr::parse(&u, spec.src_ip, spec.dst_ip).unwrap(), spec.udp_repr());
//! ```

use std::net::Ipv4Addr;

use super::ethernet::{self, MacAddr, ethertype};
use super::ipv4::{self, protocol};
use super::{Result, WireError, arp, icmp, udp};

/// Bytes of Ethernet + IPv4 (no options) + UDP headers.
pub const UDP_HEADERS_LEN: usize = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN + udp::HEADER_LEN;

/// Everything needed to write an Ethernet/IPv4/UDP frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpFrame {
    /// Ethernet source.
    pub src_mac: MacAddr,
    /// Ethernet destination.
    pub dst_mac: MacAddr,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// IPv4 TTL.
    pub ttl: u8,
    /// IPv4 identification.
    pub ident: u16,
    /// Set the IPv4 don't-fragment flag.
    pub dont_frag: bool,
    /// Compute the UDP checksum (false: send 0, allowed for UDP over IPv4).
    pub udp_checksum: bool,
}

impl Default for UdpFrame {
    fn default() -> Self {
        Self {
            src_mac: MacAddr([0x02, 0, 0, 0, 0, 1]),
            dst_mac: MacAddr([0x02, 0, 0, 0, 0, 2]),
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, 1),
            src_port: 1024,
            dst_port: 1024,
            ttl: 64,
            ident: 0,
            dont_frag: false,
            udp_checksum: true,
        }
    }
}

impl UdpFrame {
    /// Length of a frame carrying `payload_len` bytes of UDP payload.
    pub const fn frame_len(payload_len: usize) -> usize {
        UDP_HEADERS_LEN + payload_len
    }

    /// Writes the frame with `payload` into `buf` and returns its length.
    /// Errors: [`WireError::BufferTooSmall`], or a frame over 65535 IPv4 bytes.
    pub fn write(&self, buf: &mut [u8], payload: &[u8]) -> Result<usize> {
        self.write_with(buf, payload.len(), |p| p.copy_from_slice(payload))
    }

    /// Writes a frame with `payload_len` payload bytes filled in by `fill` (e.g. a sequence
    /// number and a timestamp), then computes the checksums. Returns the frame length.
    pub fn write_with(
        &self,
        buf: &mut [u8],
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<usize> {
        let len = Self::frame_len(payload_len);
        if buf.len() < len {
            return Err(WireError::BufferTooSmall {
                needed: len,
                got: buf.len(),
            });
        }
        let ip_len = len - ethernet::HEADER_LEN;
        let ip_len16 = u16::try_from(ip_len).map_err(|_| WireError::BadLength {
            field: ip_len,
            avail: u16::MAX as usize,
        })?;
        let buf = &mut buf[..len];
        let mut eth = ethernet::Frame::new_unchecked(&mut *buf);
        eth.set_dst_addr(self.dst_mac);
        eth.set_src_addr(self.src_mac);
        eth.set_ethertype(ethertype::IPV4);
        let ip = self.ipv4_repr(usize::from(ip_len16) - ipv4::MIN_HEADER_LEN);
        let mut p = ipv4::Packet::new_unchecked(eth.payload_mut());
        ip.emit(&mut p);
        self.udp_repr().emit(
            &mut udp::Packet::new_unchecked(p.payload_mut()),
            self.src_ip,
            self.dst_ip,
            payload_len,
            fill,
            self.udp_checksum,
        );
        Ok(len)
    }

    /// The IPv4 header of the frame, for `payload_len` bytes of UDP datagram.
    pub fn ipv4_repr(&self, payload_len: usize) -> ipv4::Repr {
        ipv4::Repr {
            src_addr: self.src_ip,
            dst_addr: self.dst_ip,
            protocol: protocol::UDP,
            payload_len,
            ttl: self.ttl,
            ident: self.ident,
            dont_frag: self.dont_frag,
            dscp_ecn: 0,
        }
    }

    /// The UDP header of the frame.
    pub fn udp_repr(&self) -> udp::Repr {
        udp::Repr {
            src_port: self.src_port,
            dst_port: self.dst_port,
        }
    }
}

/// Length of an Ethernet ARP frame (without padding).
pub const ARP_FRAME_LEN: usize = ethernet::HEADER_LEN + arp::PACKET_LEN;

/// Writes a broadcast ARP request "who has `target_ip`? tell `src_ip`" and returns its length.
pub fn arp_request(
    buf: &mut [u8],
    src_mac: MacAddr,
    src_ip: Ipv4Addr,
    target_ip: Ipv4Addr,
) -> Result<usize> {
    if buf.len() < ARP_FRAME_LEN {
        return Err(WireError::BufferTooSmall {
            needed: ARP_FRAME_LEN,
            got: buf.len(),
        });
    }
    let mut eth = ethernet::Frame::new_unchecked(&mut buf[..ARP_FRAME_LEN]);
    eth.set_dst_addr(MacAddr::BROADCAST);
    eth.set_src_addr(src_mac);
    eth.set_ethertype(ethertype::ARP);
    let mut a = arp::Packet::new_unchecked(eth.payload_mut());
    a.set_ethernet_ipv4();
    a.set_operation(arp::OP_REQUEST);
    a.set_sender_hw(src_mac);
    a.set_sender_ip(src_ip);
    a.set_target_hw(MacAddr::ZERO);
    a.set_target_ip(target_ip);
    Ok(ARP_FRAME_LEN)
}

/// Writes an ICMP error (`icmp_type`/`code`, `rest` = the 4 rest-of-header bytes, e.g. the
/// next-hop MTU) about the IPv4 packet `offending` into `buf` as a bare IPv4 packet from `src` to
/// the offending packet's source, quoting its header and first 8 payload bytes (RFC 792).
/// Returns the length written.
pub fn icmp_error(
    buf: &mut [u8],
    src: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest: u32,
    offending: &[u8],
) -> Result<usize> {
    let off = ipv4::Packet::new_checked(offending)?;
    let quote = (off.header_len() + 8).min(usize::from(off.total_len()));
    let len = ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN + quote;
    if buf.len() < len {
        return Err(WireError::BufferTooSmall {
            needed: len,
            got: buf.len(),
        });
    }
    let dst = off.src_addr();
    let buf = &mut buf[..len];
    buf[ipv4::MIN_HEADER_LEN + icmp::HEADER_LEN..].copy_from_slice(&offending[..quote]);
    write_icmp_error_headers(buf, src, dst, icmp_type, code, rest);
    Ok(len)
}

/// Writes the IPv4 + ICMP headers of an error message in front of an already-placed quote:
/// `buf` is the whole message (20 + 8 + quote bytes). Used in place by the router's elements.
pub(crate) fn write_icmp_error_headers(
    buf: &mut [u8],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    icmp_type: u8,
    code: u8,
    rest: u32,
) {
    let len = buf.len() as u16;
    {
        let mut m = icmp::Packet::new_unchecked(&mut buf[ipv4::MIN_HEADER_LEN..]);
        m.set_msg_type(icmp_type);
        m.set_code(code);
        m.set_rest(rest);
        m.fill_checksum();
    }
    ipv4::Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: protocol::ICMP,
        payload_len: usize::from(len).saturating_sub(ipv4::MIN_HEADER_LEN),
        ttl: 64,
        ident: 0,
        dont_frag: false,
        dscp_ecn: 0xc0, // Internetwork control, as routers send errors.
    }
    .emit(&mut ipv4::Packet::new_unchecked(&mut *buf));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_frame_is_valid() {
        let spec = UdpFrame {
            dont_frag: true,
            ..UdpFrame::default()
        };
        let mut buf = [0u8; 128];
        let n = spec.write(&mut buf, &[7; 22]).unwrap();
        assert_eq!(n, 64);
        let eth = ethernet::Frame::new_checked(&buf[..n]).unwrap();
        assert_eq!(eth.ethertype(), ethertype::IPV4);
        let ip = ipv4::Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum() && ip.dont_frag());
        assert_eq!(ip.total_len(), 50);
        let u = udp::Packet::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum(spec.src_ip, spec.dst_ip));
        assert_eq!(u.payload(), &[7; 22]);
        assert!(matches!(
            spec.write(&mut buf[..63], &[7; 22]),
            Err(WireError::BufferTooSmall {
                needed: 64,
                got: 63
            })
        ));
    }

    #[test]
    fn icmp_error_quotes_header() {
        let mut f = [0u8; 100];
        let n = UdpFrame::default().write(&mut f, &[1; 30]).unwrap();
        let offending = &f[14..n];
        let mut out = [0u8; 100];
        let m = icmp_error(
            &mut out,
            Ipv4Addr::new(198, 18, 0, 254),
            icmp::msg_type::TIME_EXCEEDED,
            0,
            0,
            offending,
        )
        .unwrap();
        assert_eq!(m, 20 + 8 + 28);
        let ip = ipv4::Packet::new_checked(&out[..m]).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(198, 18, 0, 1));
        let ic = icmp::Packet::new_checked(ip.payload()).unwrap();
        assert!(ic.verify_checksum());
        assert_eq!(&ic.data()[..28], &offending[..28]);
    }

    #[test]
    fn arp_request_frame() {
        let mut b = [0u8; 60];
        let n = arp_request(
            &mut b,
            MacAddr([2, 0, 0, 0, 0, 9]),
            Ipv4Addr::new(198, 18, 0, 9),
            Ipv4Addr::new(198, 18, 0, 1),
        )
        .unwrap();
        let a = arp::Packet::new_checked(&b[14..n]).unwrap();
        assert_eq!(a.operation(), arp::OP_REQUEST);
    }
}
