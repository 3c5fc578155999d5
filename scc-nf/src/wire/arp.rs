//! ARP for Ethernet + IPv4 (RFC 826), the only combination scc handles.
//!
//! ```text
//!  0      2      4    5    6      8          14         18         24         28
//! +------+------+----+----+------+----------+----------+----------+----------+
//! | htype| ptype|hlen|plen| oper | sha (6)  | spa (4)  | tha (6)  | tpa (4)  |
//! +------+------+----+----+------+----------+----------+----------+----------+
//! ```

use std::net::Ipv4Addr;

use super::ethernet::{MacAddr, ethertype};
use super::{Result, WireError, check, get_u16, get_u32, set_u16, set_u32};

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Hardware type Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Operation: request.
pub const OP_REQUEST: u16 = 1;
/// Operation: reply.
pub const OP_REPLY: u16 = 2;

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

mod field {
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: std::ops::Range<usize> = 8..14;
    pub const SPA: usize = 14;
    pub const THA: std::ops::Range<usize> = 18..24;
    pub const TPA: usize = 24;
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after [`Packet::check_len`] and checks that it is Ethernet/IPv4 ARP
    /// (htype 1, ptype 0x0800, hlen 6, plen 4); anything else is [`WireError::Unsupported`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        if p.htype() != HTYPE_ETHERNET
            || p.ptype() != ethertype::IPV4
            || p.hlen() != 6
            || p.plen() != 4
        {
            return Err(WireError::Unsupported("ARP other than Ethernet/IPv4"));
        }
        Ok(p)
    }

    /// Checks that the buffer holds [`PACKET_LEN`] bytes.
    pub fn check_len(&self) -> Result<()> {
        check(self.buffer.as_ref(), PACKET_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware type (1 = Ethernet).
    pub fn htype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE)
    }
    /// Protocol type (0x0800 = IPv4).
    pub fn ptype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE)
    }
    /// Hardware address length (6).
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length (4).
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Operation ([`OP_REQUEST`] or [`OP_REPLY`]).
    pub fn operation(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::OPER)
    }
    /// Sender hardware address.
    pub fn sender_hw(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::SHA]);
        MacAddr(a)
    }
    /// Sender protocol (IPv4) address.
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_u32(self.buffer.as_ref(), field::SPA))
    }
    /// Target hardware address.
    pub fn target_hw(&self) -> MacAddr {
        let mut a = [0; 6];
        a.copy_from_slice(&self.buffer.as_ref()[field::THA]);
        MacAddr(a)
    }
    /// Target protocol (IPv4) address.
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_u32(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the fixed Ethernet/IPv4 fields (htype, ptype, hlen, plen).
    pub fn set_ethernet_ipv4(&mut self) {
        let b = self.buffer.as_mut();
        set_u16(b, field::HTYPE, HTYPE_ETHERNET);
        set_u16(b, field::PTYPE, ethertype::IPV4);
        b[field::HLEN] = 6;
        b[field::PLEN] = 4;
    }
    /// Sets the operation.
    pub fn set_operation(&mut self, op: u16) {
        set_u16(self.buffer.as_mut(), field::OPER, op);
    }
    /// Sets the sender hardware address.
    pub fn set_sender_hw(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&a.0);
    }
    /// Sets the sender IPv4 address.
    pub fn set_sender_ip(&mut self, a: Ipv4Addr) {
        set_u32(self.buffer.as_mut(), field::SPA, a.into());
    }
    /// Sets the target hardware address.
    pub fn set_target_hw(&mut self, a: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&a.0);
    }
    /// Sets the target IPv4 address.
    pub fn set_target_ip(&mut self, a: Ipv4Addr) {
        set_u32(self.buffer.as_mut(), field::TPA, a.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut b = [0u8; 28];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_ethernet_ipv4();
        p.set_operation(OP_REQUEST);
        p.set_sender_hw(MacAddr([2, 0, 0, 0, 0, 1]));
        p.set_sender_ip(Ipv4Addr::new(198, 18, 0, 1));
        p.set_target_ip(Ipv4Addr::new(198, 18, 0, 2));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.sender_ip(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.target_ip(), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(p.target_hw(), MacAddr::ZERO);
        assert!(Packet::new_checked(&b[..27]).is_err());
        b[5] = 16;
        assert!(matches!(
            Packet::new_checked(&b[..]),
            Err(WireError::Unsupported(_))
        ));
    }
}
