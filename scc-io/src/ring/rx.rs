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
    let pushed = mem.bytes(off, snap).map(|f| batch.push(f));
    match pushed {
        Some(Ok(())) => {
            stats.rx_bytes += snap as u64;
            true
        }
        // Outside the ring (a malformed header), or the batch refused it (cannot happen: the
        // callers never take more than `batch.remaining()` frames): dropped, counted.
        _ => {
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
