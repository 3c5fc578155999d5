//! Typed zero-copy views over byte buffers, one protocol per module (smoltcp's `wire` style).
//!
//! Each protocol has a `Packet<T: AsRef<[u8]>>` (or `Frame<T>`) that wraps a buffer without
//! copying it:
//! - `new_unchecked(buf)` wraps without any check (accessors may then panic on short buffers, so
//!   use it only on buffers already checked);
//! - `new_checked(buf)` wraps after [`Packet::check_len`](ipv4::Packet::check_len)-style checks
//!   and returns a [`WireError`] on truncation or malformed length fields;
//! - getters read fields in network byte order; setters (for `T: AsMut<[u8]>`) write them.
//!
//! IPv4 and UDP also have a `Repr`: the header's meaning as plain fields, with `parse` (from a
//! checked view), `buffer_len` and `emit` (into a view), as in smoltcp. Building a frame:
//! ```
//! use std::net::Ipv4Addr;
//! use scc_nf::wire::{ipv4, udp};
//! let (src, dst) = (Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 19, 0, 1));
//! let u = udp::Repr { src_port: 1024, dst_port: 53 };
//! let ip = ipv4::Repr {
//!     src_addr: src,
//!     dst_addr: dst,
//!     protocol: ipv4::protocol::UDP,
//!     payload_len: u.buffer_len(4),
//!     ttl: 64,
//!     ..ipv4::Repr::default()
//! };
//! let mut buf = vec![0u8; ip.buffer_len() + ip.payload_len];
//! let mut p = ipv4::Packet::new_unchecked(&mut buf[..]);
//! ip.emit(&mut p);
//! u.emit(&mut udp::Packet::new_unchecked(p.payload_mut()), src, dst, 4, |d| d.copy_from_slice(b"ping"), true);
//! // And back:
//! let p = ipv4::Packet::new_checked(&buf[..]).unwrap();
//! assert_eq!(ipv4::Repr::parse(&p).unwrap(), ip);
//! let d = udp::Packet::new_checked(p.payload()).unwrap();
//! assert_eq!(udp::Repr::parse(&d, src, dst).unwrap(), u);
//! assert_eq!(d.payload(), b"ping");
//! ```
//!
//! [`checksum`] has the Internet checksum (RFC 1071) and its incremental update (RFC 1624);
//! [`build`] writes complete Ethernet/IPv4/UDP frames (used by the traffic generator and tests).
//!
//! Why hand-written views rather than `pnet_packet`: the `wire` group of `benches/router.rs`
//! measures both on the router's per-frame header work (parse, check, TTL decrement, checksum);
//! the figures and the choice are in scc-nf/README.md.

pub mod arp;
pub mod build;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod udp;

pub use ethernet::MacAddr;

/// Why a buffer could not be viewed (or written) as a protocol unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The buffer is shorter than the protocol unit needs.
    #[error("truncated: need {needed} bytes, have {got}")]
    Truncated {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
    /// The IPv4 version field is not 4.
    #[error("bad IP version {0}")]
    BadVersion(u8),
    /// The IPv4 header length (IHL * 4) is below 20 or beyond the buffer.
    #[error("bad IPv4 header length {0} bytes")]
    BadHeaderLen(usize),
    /// A length field (IPv4 total length, UDP length) disagrees with the buffer.
    #[error("bad length field {field} (buffer has {avail} bytes)")]
    BadLength {
        /// The length field's value.
        field: usize,
        /// Bytes available.
        avail: usize,
    },
    /// A header checksum is wrong.
    #[error("bad checksum")]
    BadChecksum,
    /// A field value that this view does not support (e.g. ARP for a non-Ethernet/IPv4 pair).
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The output buffer is too small for what a builder must write.
    #[error("buffer too small: need {needed} bytes, have {got}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        got: usize,
    },
}

/// Result alias for the wire module.
pub type Result<T> = std::result::Result<T, WireError>;

#[inline]
pub(crate) fn get_u16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
pub(crate) fn set_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[inline]
pub(crate) fn set_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[inline]
pub(crate) fn check(buf: &[u8], needed: usize) -> Result<()> {
    if buf.len() < needed {
        Err(WireError::Truncated {
            needed,
            got: buf.len(),
        })
    } else {
        Ok(())
    }
}
