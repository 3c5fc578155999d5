//! UDP datagrams (RFC 768).
//!
//! ```text
//!  0               16              31
//! +----------------+----------------+
//! |  source port   |   dest port    |
//! +----------------+----------------+
//! |    length      |   checksum     |
//! +----------------+----------------+
//! |            payload ...          |
//! ```

use std::net::Ipv4Addr;

use super::checksum;
use super::ipv4::protocol;
use super::{Result, WireError, check, get_u16, set_u16};

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checks.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wraps `buffer` after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Self> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the 8-byte header and that the length field is between 8 and the buffer length
    /// ([`WireError::BadLength`] otherwise).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        check(b, HEADER_LEN)?;
        let l = usize::from(self.len());
        if l < HEADER_LEN || l > b.len() {
            return Err(WireError::BadLength {
                field: l,
                avail: b.len(),
            });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 0)
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 2)
    }
    /// Length of header + payload.
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 4)
    }
    /// True when the length field says there is no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }
    /// Checksum field (0: none was computed).
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 6)
    }
    /// Payload (up to the length field).
    pub fn payload(&self) -> &[u8] {
        let l = usize::from(self.len()).clamp(HEADER_LEN, self.buffer.as_ref().len());
        &self.buffer.as_ref()[HEADER_LEN..l]
    }
    /// True when the checksum is valid for the given IPv4 addresses, or absent (0).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let l = usize::from(self.len()).min(self.buffer.as_ref().len());
        let s = checksum::combine(
            checksum::pseudo_header(src, dst, protocol::UDP, l as u16),
            checksum::sum(&self.buffer.as_ref()[..l]),
        );
        checksum::finish(s) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 0, v);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 2, v);
    }
    /// Sets the length field.
    pub fn set_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 4, v);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 6, v);
    }
    /// Payload, mutably (up to the length field).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let l = usize::from(self.len()).clamp(HEADER_LEN, self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[HEADER_LEN..l]
    }
    /// Computes and stores the checksum (with the IPv4 pseudo-header) over the length field's
    /// bytes; a computed 0 is sent as 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let l = usize::from(self.len()).min(self.buffer.as_ref().len());
        let s = checksum::combine(
            checksum::pseudo_header(src, dst, protocol::UDP, l as u16),
            checksum::sum(&self.buffer.as_ref()[..l]),
        );
        let c = checksum::finish(s);
        self.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

/// A UDP header as plain fields (smoltcp's `UdpRepr`); the length comes from the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Repr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl Repr {
    /// Reads a checked datagram's header; [`WireError::BadChecksum`] when its checksum (if
    /// any) is wrong for the IPv4 addresses `src` and `dst`.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>, src: Ipv4Addr, dst: Ipv4Addr) -> Result<Self> {
        p.check_len()?;
        if !p.verify_checksum(src, dst) {
            return Err(WireError::BadChecksum);
        }
        Ok(Self {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
        })
    }

    /// Bytes of a datagram with `payload_len` payload bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header and `payload_len` payload bytes filled in by `fill` into `p` (whose
    /// buffer must hold [`Repr::buffer_len`] bytes), then the checksum over the pseudo-header of
    /// `src` and `dst` when `checksum` (else 0: none, allowed over IPv4).
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload_len: usize,
        fill: impl FnOnce(&mut [u8]),
        checksum: bool,
    ) {
        p.set_src_port(self.src_port);
        p.set_dst_port(self.dst_port);
        let len = self.buffer_len(payload_len).min(usize::from(u16::MAX));
        p.set_len(len as u16);
        p.set_checksum(0);
        fill(p.payload_mut());
        if checksum {
            p.fill_checksum(src, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_roundtrip() {
        let (s, d) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 0, 1));
        let mut b = [0u8; 13];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(1000);
        p.set_dst_port(2000);
        p.set_len(13);
        p.payload_mut().copy_from_slice(b"hello");
        p.fill_checksum(s, d);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum(s, d));
        assert!(!p.verify_checksum(s, Ipv4Addr::new(198, 19, 0, 2)));
        assert_eq!(p.payload(), b"hello");
        assert!(Packet::new_checked(&b[..12]).is_err());
    }
}
