//! The RX rings: TPACKET_V2 (one slot per frame, the default) and TPACKET_V3 (blocks).
//!
//! Safe code over [`RingMem`]: every offset read from the ring is validated before use, and
//! every frame taken from the kernel is either appended to the batch or counted in
//! [`PortStats::kernel_drops`].

use super::shared::RingMem;
use crate::batch::Batch;
use crate::port::PortStats;

pub(crate) const TP_STATUS_KERNEL: u32 = 0;
pub(crate) const TP_STATUS_USER: u32 = 1;

// Offsets in `struct tpacket2_hdr`.
const H2_LEN: usize = 4;
const H2_SNAPLEN: usize = 8;
const H2_MAC: usize = 12;
/// `sizeof(struct tpacket2_hdr)`.
const TPACKET2_HDR: usize = 32;

/// `sizeof(struct tpacket3_hdr)`.
const TPACKET3_HDR: usize = 48;
// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then tpacket_hdr_v1).
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST_PKT: usize = 16;
// Offsets in `struct tpacket3_hdr`.
const H3_NEXT: usize = 0;
const H3_SNAPLEN: usize = 12;
const H3_LEN: usize = 16;
const H3_MAC: usize = 24;

/// Appends the frame at `off..off+snap` of `mem` to `batch` if it is whole (`snap == len`) and
/// fits; otherwise counts it as dropped. Returns true when it was appended.
fn take(
    mem: &RingMem,
    off: usize,
    snap: usize,
    len: usize,
    batch: &mut Batch,
    stats: &mut PortStats,
) -> bool {
    if snap < len || snap > batch.frame_size() {
        // Truncated by the ring, or larger than our buffers: dropped, counted.
        stats.kernel_drops += 1;
        return false;
    }
    match mem.bytes(off, snap).map(|f| batch.push(f)) {
        Some(Ok(())) => {
            stats.rx_bytes += snap as u64;
            true
        }
        // The batch refused it (cannot happen: the callers never take more than
        // `batch.remaining()` frames): dropped, counted.
        Some(Err(_)) => {
            stats.rx_dropped += 1;
            false
        }
        // Outside the ring (a malformed header): dropped, counted.
        None => {
            stats.kernel_drops += 1;
            false
        }
    }
}

/// A TPACKET_V2 RX ring: `slots` slots of `slot` bytes, each holding one frame; a slot is ours
/// as soon as its status has `TP_STATUS_USER`, so a lone frame is visible at once.
#[derive(Debug)]
pub(crate) struct RxV2 {
    pub mem: RingMem,
    pub slot: usize,
    pub slots: usize,
    /// Next slot to read.
    pub cur: usize,
}

impl RxV2 {
    pub(crate) fn ready(&self) -> bool {
        self.mem.status(self.cur * self.slot) & TP_STATUS_USER != 0
    }

    pub(crate) fn recv(&mut self, batch: &mut Batch, max: usize, stats: &mut PortStats) -> usize {
        let want = batch.remaining().min(max);
        let mut n = 0;
        let mut taken = 0;
        while taken < want && self.ready() {
            let base = self.cur * self.slot;
            let len = self.mem.u32_at(base + H2_LEN) as usize;
            let snap = self.mem.u32_at(base + H2_SNAPLEN) as usize;
            let mac = self.mem.u16_at(base + H2_MAC) as usize;
            if mac < TPACKET2_HDR || mac + snap > self.slot {
                stats.kernel_drops += 1; // a malformed slot: counted
            } else if take(&self.mem, base + mac, snap, len, batch, stats) {
                n += 1;
            }
            taken += 1;
            self.mem.set_status(base, TP_STATUS_KERNEL);
            self.cur = (self.cur + 1) % self.slots;
        }
        stats.rx_frames += n as u64;
        if taken == 0 {
            stats.empty_polls += 1;
        }
        n
    }
}

/// A TPACKET_V3 RX ring: the kernel fills a block and hands it over when full or when its
/// retire timer fires.
#[derive(Debug)]
pub(crate) struct RxV3 {
    pub mem: RingMem,
    pub block_size: usize,
    pub blocks: usize,
    /// Block being read (or next to become ready).
    pub cur: usize,
    /// True while `cur` is owned by us and partly read.
    pub open: bool,
    /// Frames left in the open block.
    pub left: u32,
    /// Offset of the next frame header in the open block.
    pub off: usize,
}

impl RxV3 {
    pub(crate) fn ready(&self) -> bool {
        self.open || self.mem.status(self.cur * self.block_size + BD_STATUS) & TP_STATUS_USER != 0
    }

    pub(crate) fn recv(&mut self, batch: &mut Batch, max: usize, stats: &mut PortStats) -> usize {
        let want = batch.remaining().min(max);
        let mut n = 0;
        let mut taken = 0;
        while taken < want {
            let b = self.cur * self.block_size;
            if !self.open {
                if !self.ready() {
                    break;
                }
                self.open = true;
                self.left = self.mem.u32_at(b + BD_NUM_PKTS);
                self.off = self.mem.u32_at(b + BD_FIRST_PKT) as usize;
            }
            while self.left > 0 && taken < want {
                let off = self.off;
                let h = b + off;
                let next = self.mem.u32_at(h + H3_NEXT) as usize;
                let snap = self.mem.u32_at(h + H3_SNAPLEN) as usize;
                let len = self.mem.u32_at(h + H3_LEN) as usize;
                let mac = self.mem.u16_at(h + H3_MAC) as usize;
                if off + TPACKET3_HDR > self.block_size
                    || off + mac + snap > self.block_size
                    || (self.left > 1 && next == 0)
                {
                    // A malformed block: the rest of it is dropped, counted.
                    stats.kernel_drops += u64::from(self.left);
                    self.left = 0;
                    break;
                }
                if take(&self.mem, h + mac, snap, len, batch, stats) {
                    n += 1;
                }
                taken += 1;
                self.left -= 1;
                self.off += next;
            }
            if self.left == 0 {
                self.mem.set_status(b + BD_STATUS, TP_STATUS_KERNEL);
                self.open = false;
                self.cur = (self.cur + 1) % self.blocks;
            }
        }
        stats.rx_frames += n as u64;
        if taken == 0 {
            stats.empty_polls += 1;
        }
        n
    }
}

/// The RX ring of a [`super::RingPort`].
#[derive(Debug)]
pub(crate) enum Rx {
    V2(RxV2),
    V3(RxV3),
}

impl Rx {
    pub(crate) fn ready(&self) -> bool {
        match self {
            Rx::V2(r) => r.ready(),
            Rx::V3(r) => r.ready(),
        }
    }

    pub(crate) fn recv(&mut self, batch: &mut Batch, max: usize, stats: &mut PortStats) -> usize {
        match self {
            Rx::V2(r) => r.recv(batch, max, stats),
            Rx::V3(r) => r.recv(batch, max, stats),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::Mmap;

    const SLOT: usize = 2048;

    /// A fake V2 ring of 4 slots in anonymous memory, as the kernel would have filled it.
    fn ring() -> RxV2 {
        RxV2 {
            mem: RingMem::new(Mmap::anonymous(4 * SLOT).unwrap()),
            slot: SLOT,
            slots: 4,
            cur: 0,
        }
    }

    /// Writes slot `s` as the kernel does: header fields, the frame at `mac`, status USER.
    fn fill(r: &mut RxV2, s: usize, mac: usize, len: usize, snap: usize, byte: u8) {
        let base = s * SLOT;
        r.mem.set_u32(base + H2_LEN, len as u32);
        r.mem.set_u32(base + H2_SNAPLEN, snap as u32);
        let m = (mac as u16).to_ne_bytes();
        if let Some(b) = r.mem.bytes_mut(base + H2_MAC, 2) {
            b.copy_from_slice(&m);
        }
        if let Some(b) = r
            .mem
            .bytes_mut(base + mac, snap.min(SLOT.saturating_sub(mac)))
        {
            b.fill(byte);
        }
        r.mem.set_status(base, TP_STATUS_USER);
    }

    /// Every slot taken is appended or counted, and every slot is given back to the kernel.
    #[test]
    fn v2_every_slot_is_delivered_or_counted() {
        let mut r = ring();
        let mut st = PortStats::default();
        fill(&mut r, 0, 80, 60, 60, 1); // good
        fill(&mut r, 1, 80, 1500, 100, 2); // truncated by the ring (snap < len)
        fill(&mut r, 2, 8, 60, 60, 3); // MAC offset inside the header: malformed
        fill(&mut r, 3, 2000, 100, 100, 4); // runs past the slot: malformed
        let mut b = Batch::new(8, 2048).unwrap();
        assert_eq!(r.recv(&mut b, 32, &mut st), 1);
        assert_eq!(b.frame(0), &[1u8; 60][..]);
        assert_eq!((st.rx_frames, st.kernel_drops, st.rx_bytes), (1, 3, 60));
        for s in 0..4 {
            assert_eq!(
                r.mem.status(s * SLOT),
                TP_STATUS_KERNEL,
                "slot {s} given back"
            );
        }
        // Nothing ready: an empty poll, nothing taken.
        assert_eq!(r.recv(&mut b, 32, &mut st), 0);
        assert_eq!(st.empty_polls, 1);
    }

    /// A frame larger than the batch's buffers is dropped and counted; `max` and the batch's
    /// room bound what is taken, and what is not taken stays in the ring for the next call.
    #[test]
    fn v2_bounds_and_oversize() {
        let mut r = ring();
        let mut st = PortStats::default();
        fill(&mut r, 0, 80, 100, 100, 7); // larger than 64-byte buffers
        fill(&mut r, 1, 80, 60, 60, 8);
        fill(&mut r, 2, 80, 60, 60, 9);
        let mut b = Batch::new(1, 64).unwrap();
        assert_eq!(r.recv(&mut b, 32, &mut st), 0); // took slot 0 only (room for one frame)
        assert_eq!(st.kernel_drops, 1);
        let mut b = Batch::new(1, 64).unwrap();
        assert_eq!(r.recv(&mut b, 32, &mut st), 1);
        assert_eq!(b.frame(0), &[8u8; 60][..]);
        assert_eq!(
            r.mem.status(2 * SLOT),
            TP_STATUS_USER,
            "slot 2 still ours, not lost"
        );
        let mut b = Batch::new(8, 64).unwrap();
        assert_eq!(r.recv(&mut b, 32, &mut st), 1);
        assert_eq!((st.rx_frames, st.kernel_drops), (2, 1));
    }

    /// V3: a block with a malformed frame header counts the block's remaining frames.
    #[test]
    fn v3_malformed_block_counts_its_frames() {
        let bs = 4096;
        let mut r = RxV3 {
            mem: RingMem::new(Mmap::anonymous(2 * bs).unwrap()),
            block_size: bs,
            blocks: 2,
            cur: 0,
            open: false,
            left: 0,
            off: 0,
        };
        // Block 0: 3 frames, the first good (next = 128), the second claims `next = 0`.
        r.mem.set_u32(BD_NUM_PKTS, 3);
        r.mem.set_u32(BD_FIRST_PKT, 64);
        let h = 64;
        r.mem.set_u32(h + H3_NEXT, 128);
        r.mem.set_u32(h + H3_SNAPLEN, 60);
        r.mem.set_u32(h + H3_LEN, 60);
        if let Some(b) = r.mem.bytes_mut(h + H3_MAC, 2) {
            b.copy_from_slice(&(TPACKET3_HDR as u16 + 2).to_ne_bytes());
        }
        let h2 = h + 128;
        r.mem.set_u32(h2 + H3_NEXT, 0);
        r.mem.set_u32(h2 + H3_SNAPLEN, 60);
        r.mem.set_u32(h2 + H3_LEN, 60);
        r.mem.set_u32(h2 + H3_MAC, 5000); // outside the block
        r.mem.set_status(BD_STATUS, TP_STATUS_USER);
        let mut st = PortStats::default();
        let mut b = Batch::new(8, 2048).unwrap();
        assert_eq!(r.recv(&mut b, 32, &mut st), 1);
        assert_eq!((st.rx_frames, st.kernel_drops), (1, 2));
        assert_eq!(
            r.mem.status(BD_STATUS),
            TP_STATUS_KERNEL,
            "block given back"
        );
    }
}
