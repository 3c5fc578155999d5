//! ICMPv4 messages (RFC 792), with the error messages a router sends.
//!
//! ```text
//!  0        8        16                31
//! +--------+--------+------------------+
//! |  type  |  code  |     checksum     |
//! +--------+--------+------------------+
//! |   rest of header (id/seq, unused,  |
//! |   or next-hop MTU)                 |
//! +------------------------------------+
//! | data (for errors: the offending IP |
//! | header + first 8 payload bytes)    |
//! ```

use super::checksum;
use super::{Result, check, get_u16, get_u32, set_u16, set_u32};

/// Length of the ICMP header (type, code, checksum, rest of header).
pub const HEADER_LEN: usize = 8;

/// ICMP message types used by scc.
pub mod msg_type {
    /// Echo reply (0).
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable (3).
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request (8).
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded (11).
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem (12).
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Codes of destination unreachable.
pub mod unreachable {
    /// Network unreachable (0).
    pub const NET: u8 = 0;
    /// Host unreachable (1).
    pub const HOST: u8 = 1;
    /// Fragmentation needed and DF set (4); the next-hop MTU goes in bytes 6..8.
    pub const FRAG_NEEDED: u8 = 4;
}

/// Codes of time exceeded.
pub mod time_exceeded {
    /// TTL exceeded in transit (0).
    pub const TTL: u8 = 0;
    /// Fragment reassembly time exceeded (1).
    pub const REASSEMBLY: u8 = 1;
}

/// True for ICMP types that are error messages (RFC 1812 §4.3.2.7: never answer an error with
/// an error).
pub fn is_error(t: u8) -> bool {
    matches!(t, 3 | 4 | 5 | 11 | 12)
}

/// A view of an ICMP message.
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

    /// Checks that the buffer holds the 8-byte header.
    pub fn check_len(&self) -> Result<()> {
        check(self.buffer.as_ref(), HEADER_LEN)
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Message type (see [`msg_type`]).
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// Code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 2)
    }
    /// The 4 "rest of header" bytes as one integer.
    pub fn rest(&self) -> u32 {
        get_u32(self.buffer.as_ref(), 4)
    }
    /// Echo identifier (bytes 4..6).
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 4)
    }
    /// Echo sequence number (bytes 6..8).
    pub fn echo_seq(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 6)
    }
    /// Next-hop MTU of a fragmentation-needed message (bytes 6..8).
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), 6)
    }
    /// Data after the header.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// True when the checksum over the whole buffer is valid.
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type.
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[0] = v;
    }
    /// Sets the code.
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[1] = v;
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), 2, v);
    }
    /// Sets the 4 "rest of header" bytes.
    pub fn set_rest(&mut self, v: u32) {
        set_u32(self.buffer.as_mut(), 4, v);
    }
    /// Data after the header, mutably.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
    /// Recomputes the checksum over the whole buffer (header + data).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_fields() {
        let mut b = [0u8; 12];
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_msg_type(msg_type::ECHO_REQUEST);
        p.set_rest(0x0001_0002);
        p.data_mut().copy_from_slice(b"ping");
        p.fill_checksum();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!((p.echo_ident(), p.echo_seq()), (1, 2));
        assert!(!is_error(p.msg_type()) && is_error(msg_type::TIME_EXCEEDED));
        assert!(Packet::new_checked(&b[..7]).is_err());
    }
}
