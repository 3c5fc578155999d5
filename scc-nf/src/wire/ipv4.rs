//! IPv4 headers (RFC 791).
//!
//! ```text
//!  0       4       8              16    19               31
//! +-------+-------+---------------+-----------------------+
//! |version|  IHL  |  DSCP/ECN     |     total length      |
//! +-------+-------+---------------+-----+-----------------+
//! |        identification         |flags| fragment offset |
//! +---------------+---------------+-----+-----------------+
//! |      TTL      |   protocol    |    header checksum    |
//! +---------------+---------------+-----------------------+
//! |                    source address                     |
//! +-------------------------------------------------------+
//! |                  destination address                  |
//! +-------------------------------------------------------+
//! |               options (IHL > 5) ...                   |
//! ```

use std::net::Ipv4Addr;

use super::checksum;
use super::{Result, WireError, check, get_u16, get_u32, set_u16, set_u32};

/// Length of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Largest header (IHL 15).
pub const MAX_HEADER_LEN: usize = 60;

/// IP protocol numbers used by scc.
pub mod protocol {
    /// ICMP (1).
    pub const ICMP: u8 = 1;
    /// TCP (6).
    pub const TCP: u8 = 6;
    /// UDP (17).
    pub const UDP: u8 = 17;
}

/// The "don't fragment" flag in the flags/fragment-offset word.
pub const FLAG_DF: u16 = 0x4000;
/// The "more fragments" flag in the flags/fragment-offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Mask of the fragment offset (in 8-byte units) in the flags/fragment-offset word.
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;

mod field {
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A view of an IPv4 packet (header, options and payload).
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

    /// Checks, in this order: at least 20 bytes ([`WireError::Truncated`]); version 4
    /// ([`WireError::BadVersion`]); header length >= 20 and within the buffer
    /// ([`WireError::BadHeaderLen`]); total length >= header length and within the buffer
    /// ([`WireError::BadLength`]). Trailing bytes after the total length (Ethernet padding) are
    /// allowed. The checksum is not checked here (see [`Packet::verify_checksum`]).
    pub fn check_len(&self) -> Result<()> {
        let b = self.buffer.as_ref();
        check(b, MIN_HEADER_LEN)?;
        if self.version() != 4 {
            return Err(WireError::BadVersion(self.version()));
        }
        let hl = self.header_len();
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(WireError::BadHeaderLen(hl));
        }
        let tl = usize::from(self.total_len());
        if tl < hl || tl > b.len() {
            return Err(WireError::BadLength {
                field: tl,
                avail: b.len(),
            });
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The whole buffer.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    /// Version (high nibble of byte 0; 4 for IPv4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Internet header length in 32-bit words (low nibble of byte 0; 5 without options).
    #[inline]
    pub fn ihl(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] & 0x0f
    }
    /// Header length in bytes (`ihl * 4`).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.ihl()) * 4
    }
    /// DSCP (6 bits) and ECN (2 bits), byte 1.
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }
    /// Total length of the datagram (header + payload) in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }
    /// The flags/fragment-offset word (see [`FLAG_DF`], [`FLAG_MF`], [`FRAG_OFFSET_MASK`]).
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::FLAGS_FRAG)
    }
    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }
    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.flags_frag() & FRAG_OFFSET_MASK) << 3
    }
    /// True for any fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }
    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Protocol of the payload (see [`protocol`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_u32())
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_u32())
    }
    /// Source address as a host-order integer.
    #[inline]
    pub fn src_u32(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SRC)
    }
    /// Destination address as a host-order integer.
    #[inline]
    pub fn dst_u32(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::DST)
    }
    /// The header (with options).
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    /// The options (empty when IHL is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[MIN_HEADER_LEN..self.header_len()]
    }
    /// The payload: from the end of the header to the total length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
    /// True when the header checksum is valid.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 4 and the IHL (in 32-bit words).
    #[inline]
    pub fn set_version_ihl(&mut self, ihl: u8) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | (ihl & 0x0f);
    }
    /// Sets DSCP/ECN.
    #[inline]
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = v;
    }
    /// Sets the total length.
    #[inline]
    pub fn set_total_len(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, v);
    }
    /// Sets the identification.
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, v);
    }
    /// Sets the flags/fragment-offset word.
    #[inline]
    pub fn set_flags_frag(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::FLAGS_FRAG, v);
    }
    /// Sets the TTL (the checksum is not updated; see [`Packet::dec_ttl`]).
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    /// Sets the protocol.
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = v;
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, v);
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        set_u32(self.buffer.as_mut(), field::SRC, a.into());
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        set_u32(self.buffer.as_mut(), field::DST, a.into());
    }
    /// Recomputes the header checksum over the whole header (with options).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }
    /// Decrements the TTL by one and updates the checksum incrementally (RFC 1624).
    /// Returns the new TTL; a TTL of 0 is left unchanged (returns 0).
    #[inline]
    pub fn dec_ttl(&mut self) -> u8 {
        let b = self.buffer.as_mut();
        let ttl = b[field::TTL];
        if ttl == 0 {
            return 0;
        }
        let old = get_u16(b, field::TTL);
        b[field::TTL] = ttl - 1;
        let new = get_u16(b, field::TTL);
        let c = checksum::update16(get_u16(b, field::CHECKSUM), old, new);
        set_u16(b, field::CHECKSUM, c);
        ttl - 1
    }
    /// The payload, mutably.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

/// Why a prefix did not parse ([`parse_cidr`]; each caller words its own message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrefixError {
    /// The length is not a number (the text after `/`).
    BadLength(String),
    /// The length is above 32.
    TooLong(u8),
    /// The address is not an IPv4 address (the text before `/`).
    BadAddress(String),
}

/// A prefix as written: `a.b.c.d/len`, or `a.b.c.d` (then `len` is 32 and `explicit_len` false).
/// The host bits are kept as written ([`parse_prefix`] clears them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written.
    pub addr: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub len: u8,
    /// Whether `/len` was written.
    pub explicit_len: bool,
}

impl Cidr {
    /// True when bits beyond the prefix length are set in the address.
    pub fn has_host_bits(&self) -> bool {
        u32::from(self.addr) & !prefix_mask(self.len) != 0
    }
    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & prefix_mask(self.len))
    }
}

/// The one prefix parser of the workspace: `a.b.c.d/len` or `a.b.c.d`.
///
/// ```
/// use scc_nf::wire::ipv4::{parse_cidr, PrefixError};
/// let c = parse_cidr("198.18.0.1/15").unwrap();
/// assert!(c.explicit_len && c.has_host_bits());
/// assert_eq!(c.network().to_string(), "198.18.0.0");
/// assert_eq!(parse_cidr("1.2.3.4/33"), Err(PrefixError::TooLong(33)));
/// ```
pub fn parse_cidr(s: &str) -> std::result::Result<Cidr, PrefixError> {
    let (addr, len, explicit_len) = match s.split_once('/') {
        Some((a, l)) => {
            let len: u8 = l
                .parse()
                .map_err(|_| PrefixError::BadLength(l.to_string()))?;
            (a, len, true)
        }
        None => (s, 32, false),
    };
    if len > 32 {
        return Err(PrefixError::TooLong(len));
    }
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| PrefixError::BadAddress(addr.to_string()))?;
    Ok(Cidr {
        addr,
        len,
        explicit_len,
    })
}

/// Parses `a.b.c.d/len` (or `a.b.c.d`, meaning /32) into a network address (host bits cleared)
/// and a prefix length ([`parse_cidr`]). Errors are human-readable.
pub fn parse_prefix(s: &str) -> std::result::Result<(Ipv4Addr, u8), String> {
    match parse_cidr(s) {
        Ok(c) => Ok((c.network(), c.len)),
        Err(PrefixError::BadLength(l)) => Err(format!("bad prefix length `{l}` in `{s}`")),
        Err(PrefixError::TooLong(len)) => Err(format!("prefix length {len} > 32 in `{s}`")),
        Err(PrefixError::BadAddress(a)) => Err(format!("bad IPv4 address `{a}` in `{s}`")),
    }
}

/// The netmask of a prefix length as a host-order integer (0 for /0).
#[inline]
pub fn prefix_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len.min(32)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> [u8; 24] {
        let mut b = [0u8; 24];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version_ihl(5);
        p.set_total_len(24);
        p.set_ident(7);
        p.set_flags_frag(FLAG_DF);
        p.set_ttl(64);
        p.set_protocol(protocol::UDP);
        p.set_src_addr(Ipv4Addr::new(198, 18, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(198, 19, 0, 1));
        p.fill_checksum();
        b
    }

    #[test]
    fn fields_and_checksum() {
        let mut b = header();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.verify_checksum());
        assert!(p.dont_frag() && !p.is_fragment());
        assert_eq!(p.payload().len(), 4);
        assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 19, 0, 1));
        let mut p = Packet::new_unchecked(&mut b[..]);
        assert_eq!(p.dec_ttl(), 63);
        assert!(p.verify_checksum());
        p.set_ttl(0);
        p.fill_checksum();
        assert_eq!(p.dec_ttl(), 0);
        assert!(p.verify_checksum());
    }

    #[test]
    fn check_len_errors() {
        let b = header();
        assert!(matches!(
            Packet::new_checked(&b[..19]),
            Err(WireError::Truncated { .. })
        ));
        let mut v = b;
        v[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            WireError::BadVersion(6)
        );
        let mut v = b;
        v[0] = 0x44;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            WireError::BadHeaderLen(16)
        );
        let mut v = b;
        v[0] = 0x47;
        assert_eq!(
            Packet::new_checked(&v[..]).unwrap_err(),
            WireError::BadHeaderLen(28)
        );
        assert!(matches!(
            Packet::new_checked(&b[..22]),
            Err(WireError::BadLength {
                field: 24,
                avail: 22
            })
        ));
    }

    #[test]
    fn prefixes() {
        assert_eq!(
            parse_prefix("198.18.7.9/16").unwrap(),
            (Ipv4Addr::new(198, 18, 0, 0), 16)
        );
        assert_eq!(parse_prefix("1.2.3.4").unwrap().1, 32);
        assert_eq!(parse_prefix("0.0.0.0/0").unwrap().1, 0);
        assert!(parse_prefix("1.2.3.4/33").is_err());
        assert!(parse_prefix("1.2.3/8").is_err());
        assert_eq!(prefix_mask(0), 0);
        assert_eq!(prefix_mask(32), u32::MAX);
        assert_eq!(prefix_mask(24), 0xffff_ff00);
    }
}
