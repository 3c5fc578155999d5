//! Builders that write complete frames into a caller's buffer (no allocation).
//!
//! Used by the traffic generator (one call per frame, or once as a template whose payload is then
//! patched) and by tests.

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
        let ip_buf = &mut buf[ethernet::HEADER_LEN..];
        {
            let udp_buf = &mut ip_buf[ipv4::MIN_HEADER_LEN..];
            let mut u = udp::Packet::new_unchecked(&mut *udp_buf);
            u.set_src_port(self.src_port);
            u.set_dst_port(self.dst_port);
            u.set_len(ip_len16 - ipv4::MIN_HEADER_LEN as u16);
            u.set_checksum(0);
            fill(u.payload_mut());
            if self.udp_checksum {
                u.fill_checksum(self.src_ip, self.dst_ip);
            }
        }
        let mut ip = ipv4::Packet::new_unchecked(ip_buf);
        ip.set_version_ihl(5);
        ip.set_dscp_ecn(0);
        ip.set_total_len(ip_len16);
        ip.set_ident(self.ident);
        ip.set_flags_frag(if self.dont_frag { ipv4::FLAG_DF } else { 0 });
        ip.set_ttl(self.ttl);
        ip.set_protocol(protocol::UDP);
        ip.set_src_addr(self.src_ip);
        ip.set_dst_addr(self.dst_ip);
        ip.fill_checksum();
        Ok(len)
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
    let mut ip = ipv4::Packet::new_unchecked(&mut *buf);
    ip.set_version_ihl(5);
    ip.set_dscp_ecn(0xc0); // Internetwork control, as routers send errors.
    ip.set_total_len(len);
    ip.set_ident(0);
    ip.set_flags_frag(0);
    ip.set_ttl(64);
    ip.set_protocol(protocol::ICMP);
    ip.set_src_addr(src);
    ip.set_dst_addr(dst);
    ip.fill_checksum();
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
