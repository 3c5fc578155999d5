//! The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//!
//! Sums are kept as unfolded `u32` partial sums so they can be combined (e.g. a pseudo-header
//! plus a payload) before [`finish`] folds the carries and complements.

use std::net::Ipv4Addr;

/// Ones'-complement partial sum of `data` as big-endian 16-bit words (an odd last byte is padded
/// with zero). Not folded, not complemented: combine with [`combine`], close with [`finish`].
#[inline]
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        acc += u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]]));
    }
    let rest = chunks.remainder();
    let mut i = 0;
    while i + 1 < rest.len() {
        acc += u64::from(u16::from_be_bytes([rest[i], rest[i + 1]]));
        i += 2;
    }
    if i < rest.len() {
        acc += u64::from(rest[i]) << 8;
    }
    // Fold the 64-bit accumulator to 32 bits without losing carries.
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = (acc & 0xffff_ffff) + (acc >> 32);
    let acc = acc as u32;
    (acc & 0xffff) + (acc >> 16)
}

/// Adds two partial sums.
#[inline]
pub fn combine(a: u32, b: u32) -> u32 {
    let s = u64::from(a) + u64::from(b);
    ((s & 0xffff_ffff) + (s >> 32)) as u32
}

/// Folds the carries of a partial sum into 16 bits (no complement).
#[inline]
pub fn fold(s: u32) -> u16 {
    // Two folds suffice for any u32 (the first leaves at most 0x1fffe, the second at most
    // 0xffff); no loop, no branch.
    let s = (s & 0xffff) + (s >> 16);
    let s = (s & 0xffff) + (s >> 16);
    s as u16
}

/// Closes a partial sum: folds and complements, giving the value to store in a checksum field.
#[inline]
pub fn finish(s: u32) -> u16 {
    !fold(s)
}

/// The Internet checksum of `data` (the value to store in a header's checksum field when the
/// field itself was zero while summing). Verifying a unit whose checksum field is filled in:
/// `checksum(unit) == 0`.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// Partial sum of the IPv4 pseudo-header used by UDP and TCP checksums.
#[inline]
pub fn pseudo_header(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = u32::from(src);
    let d = u32::from(dst);
    (s >> 16) + (s & 0xffff) + (d >> 16) + (d & 0xffff) + u32::from(protocol) + u32::from(length)
}

/// RFC 1624 (eqn. 3) incremental update: the new checksum field value after one 16-bit word of
/// the covered data changed from `old_word` to `new_word`, given the old field value
/// `old_checksum`: `HC' = ~(~HC + ~m + m')`.
#[inline]
pub fn update16(old_checksum: u16, old_word: u16, new_word: u16) -> u16 {
    let s = u32::from(!old_checksum) + u32::from(!old_word) + u32::from(new_word);
    !fold(s)
}

/// RFC 1624 incremental update for a changed 32-bit value (e.g. an IPv4 address).
#[inline]
pub fn update32(old_checksum: u16, old: u32, new: u32) -> u16 {
    let s = u32::from(!old_checksum)
        + u32::from(!(old >> 16) as u16)
        + u32::from(!(old as u16))
        + (new >> 16)
        + (new & 0xffff);
    !fold(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example words: 0001 f203 f4f5 f6f7 -> sum ddf2.
        let d = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum(&d)), 0xddf2);
        assert_eq!(checksum(&d), !0xddf2);
    }

    #[test]
    fn fold_handles_any_sum() {
        for s in [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0x2_fffd,
            0xffff_0000,
            0xffff_ffff,
        ] {
            let mut r = s;
            while r > 0xffff {
                r = (r & 0xffff) + (r >> 16);
            }
            assert_eq!(u32::from(fold(s)), r, "{s:#x}");
        }
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum(&[0x12, 0x34, 0x56])), 0x1234 + 0x5600);
    }

    #[test]
    fn incremental_matches_full() {
        let mut h = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 17, 0, 0, 198, 18, 0, 1, 198, 19, 0, 2,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        for ttl in (0..64u8).rev() {
            let old = u16::from_be_bytes([h[8], h[9]]);
            h[8] = ttl;
            let new = u16::from_be_bytes([h[8], h[9]]);
            let oc = u16::from_be_bytes([h[10], h[11]]);
            h[10..12].copy_from_slice(&update16(oc, old, new).to_be_bytes());
            assert_eq!(checksum(&h), 0, "ttl {ttl}");
        }
        let oc = u16::from_be_bytes([h[10], h[11]]);
        let old = u32::from_be_bytes([h[12], h[13], h[14], h[15]]);
        let new: u32 = 0xc612_ff07;
        h[12..16].copy_from_slice(&new.to_be_bytes());
        h[10..12].copy_from_slice(&update32(oc, old, new).to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }
}
