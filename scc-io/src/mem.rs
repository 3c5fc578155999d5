//! In-process ports: a pair of connected [`MemPort`]s backed by two lock-free single-producer,
//! single-consumer rings of pre-allocated frame slots.
//!
//! Used by tests (elements and NF loops without privileges) and by chains fused into one process.
//! A frame sent on one end is received on the other; a full ring drops the frame and counts it in
//! [`PortStats::tx_dropped`].
//!
//! The only `unsafe` code is the two frame copies into and out of a slot. Both go through
//! `Ring::slot_bytes`, which derives the pointer from a bounds-checked sub-slice of exactly the
//! bytes copied (so it carries their provenance, not that of a single cell), and the slot
//! protocol (one producer, one consumer, Release/Acquire on `head`/`tail`) keeps the two sides
//! off each other's bytes. Miri, which would check this mechanically, is not available on our
//! machines (no miri component for the installed nightly, and none can be downloaded); the
//! unit tests below cover full-slot frames, wrap-around, oversize frames and two threads.

use std::cell::UnsafeCell;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::batch::{Batch, MAX_FRAME_SIZE, MIN_FRAME_SIZE};
use crate::error::{IoError, Result};
use crate::port::{Driver, Port, PortStats};

/// One direction: a ring of `slots` frames of `slot_size` bytes.
struct Ring {
    data: Box<[UnsafeCell<u8>]>,
    lens: Box<[AtomicU32]>,
    slot_size: usize,
    /// Next slot the consumer reads (monotonic counter).
    head: AtomicUsize,
    /// Next slot the producer writes (monotonic counter).
    tail: AtomicUsize,
}

// SAFETY: the ring is shared by exactly one producer (the `MemPort` that owns it as `tx`) and one
// consumer (the peer that owns it as `rx`), each behind `&mut self`. A slot's bytes are written by
// the producer only while `tail - head < slots` says the consumer is not reading it, and published
// with a release store of `tail`; the consumer reads them only after an acquire load of `tail`
// and releases the slot with a release store of `head`. So no byte is accessed by both at once.
unsafe impl Sync for Ring {}
// SAFETY: see `Sync`; the ring owns plain bytes and atomics.
unsafe impl Send for Ring {}

impl Ring {
    fn new(slots: usize, slot_size: usize) -> Self {
        Self {
            data: (0..slots * slot_size).map(|_| UnsafeCell::new(0)).collect(),
            lens: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            slot_size,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
        }
    }

    fn slots(&self) -> usize {
        self.lens.len()
    }

    /// Raw pointer to the first `len` bytes of slot `slot`, with the provenance of exactly those
    /// bytes: it is derived from the sub-slice `data[start..start + len]` (bounds-checked by the
    /// indexing, so an out-of-range slot or length panics in safe code instead of reaching the
    /// copy), not from the first cell alone. Writing through it is allowed because the bytes are
    /// `UnsafeCell`s (`UnsafeCell::raw_get` turns `*const UnsafeCell<u8>` into `*mut u8`).
    fn slot_bytes(&self, slot: usize, len: usize) -> *mut u8 {
        debug_assert!(len <= self.slot_size && slot < self.slots());
        let start = slot * self.slot_size;
        let cells: &[UnsafeCell<u8>] = &self.data[start..start + len];
        UnsafeCell::raw_get(cells.as_ptr())
    }

    /// Producer side: copies `frame` into the next slot. False when the ring is full.
    fn push(&self, frame: &[u8]) -> bool {
        let tail = self.tail.load(Ordering::Relaxed);
        let head = self.head.load(Ordering::Acquire);
        if tail - head >= self.slots() || frame.len() > self.slot_size {
            return false;
        }
        let slot = tail % self.slots();
        let dst = self.slot_bytes(slot, frame.len());
        // SAFETY: `dst` is valid for writes of `frame.len()` bytes: it comes from a slice of
        // exactly that many `UnsafeCell<u8>` (same layout as `u8`) inside `data`, and writes
        // through an `UnsafeCell` behind a shared reference are permitted. No one else accesses
        // these bytes now: the slot is free (`tail - head < slots`, with `head` loaded Acquire
        // after the consumer's Release store that ended its last read of the slot), and only this
        // producer writes (it holds the ring as its `tx`, behind `&mut MemPort`). `frame` is a
        // distinct allocation (a batch), so the ranges do not overlap.
        unsafe { std::ptr::copy_nonoverlapping(frame.as_ptr(), dst, frame.len()) };
        self.lens[slot].store(frame.len() as u32, Ordering::Relaxed);
        self.tail.store(tail + 1, Ordering::Release);
        true
    }

    /// Consumer side: true when a frame is waiting.
    fn ready(&self) -> bool {
        self.tail.load(Ordering::Acquire) != self.head.load(Ordering::Relaxed)
    }

    /// Consumer side: copies the next frame into `dst` and returns its length.
    /// `Some(None)` when the frame does not fit `dst` (it is consumed and dropped).
    fn pop_into(&self, dst: &mut [u8]) -> Option<Option<usize>> {
        let head = self.head.load(Ordering::Relaxed);
        if self.tail.load(Ordering::Acquire) == head {
            return None;
        }
        let slot = head % self.slots();
        let len = self.lens[slot].load(Ordering::Relaxed) as usize;
        let out = if len <= dst.len() && len <= self.slot_size {
            let src = self.slot_bytes(slot, len);
            // SAFETY: `src` is valid for reads of `len` bytes (a slice of exactly `len` cells of
            // `data`, see `slot_bytes`) and `dst` for writes of `len` bytes (checked above). The
            // producer wrote these bytes before its Release store of `tail`, which our Acquire
            // load observed, and does not write the slot again until we advance `head` below.
            // `dst` is a batch buffer, a distinct allocation, so the ranges do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), len) };
            Some(len)
        } else {
            None
        };
        self.head.store(head + 1, Ordering::Release);
        Some(out)
    }
}

/// One end of an in-process link. Created with [`pair`].
pub struct MemPort {
    name: String,
    tx: Arc<Ring>,
    rx: Arc<Ring>,
    stats: PortStats,
}

/// Creates two connected ports named `a` and `b`, each direction holding up to `slots` frames
/// of up to `frame_size` bytes.
///
/// Errors: [`IoError::BadBatchSize`] for `slots == 0`, [`IoError::BadFrameSize`] for a frame size
/// outside the supported range.
pub fn pair(
    a: impl Into<String>,
    b: impl Into<String>,
    slots: usize,
    frame_size: usize,
) -> Result<(MemPort, MemPort)> {
    if slots == 0 || slots > 1 << 20 {
        return Err(IoError::BadBatchSize(slots));
    }
    if !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&frame_size) {
        return Err(IoError::BadFrameSize(frame_size));
    }
    let ab = Arc::new(Ring::new(slots, frame_size));
    let ba = Arc::new(Ring::new(slots, frame_size));
    Ok((
        MemPort {
            name: a.into(),
            tx: ab.clone(),
            rx: ba.clone(),
            stats: PortStats::default(),
        },
        MemPort {
            name: b.into(),
            tx: ba,
            rx: ab,
            stats: PortStats::default(),
        },
    ))
}

impl Port for MemPort {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        let mut n = 0;
        while let Some(dst) = batch.next_slot_mut() {
            match self.rx.pop_into(dst) {
                None => break,
                Some(Some(len)) => {
                    // The frame has left the ring. `commit` cannot fail here (`len <= dst.len()`,
                    // which is the frame size, and `next_slot_mut` found a free place), but if it
                    // ever did, the frame is counted rather than lost or turned into an error.
                    if batch.commit(len).is_err() {
                        self.stats.rx_dropped += 1;
                        break;
                    }
                    self.stats.rx_bytes += len as u64;
                    n += 1;
                }
                // Larger than our buffers: the kernel would truncate or drop; we drop and count.
                Some(None) => self.stats.kernel_drops += 1,
            }
        }
        self.stats.rx_frames += n as u64;
        if n == 0 {
            self.stats.empty_polls += 1;
        }
        Ok(n)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        let mut sent = 0;
        for &i in indices {
            let Some(frame) = batch.get(i as usize) else {
                continue;
            };
            if self.tx.push(frame) {
                sent += 1;
                self.stats.tx_bytes += frame.len() as u64;
            } else {
                self.stats.tx_dropped += 1;
            }
        }
        self.stats.tx_frames += sent as u64;
        Ok(sent)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            if self.rx.ready() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }

    fn stats(&mut self) -> PortStats {
        self.stats
    }

    fn driver(&self) -> Driver {
        Driver::Mem
    }

    fn name(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_cross_in_order_and_full_ring_counts_drops() {
        let (mut a, mut b) = pair("a", "b", 4, 256).unwrap();
        let mut out = Batch::new(8, 256).unwrap();
        for v in 0..6u8 {
            out.push(&[v; 60]).unwrap();
        }
        assert_eq!(a.send_batch(&out).unwrap(), 4);
        assert_eq!(a.stats().tx_dropped, 2);
        let mut inb = Batch::new(3, 256).unwrap();
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 3);
        assert_eq!(inb.frame(2), &[2u8; 60]);
        inb.clear();
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 1);
        assert_eq!(inb.frame(0), &[3u8; 60]);
        inb.clear();
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 0);
        assert!(!b.wait_readable(Some(Duration::from_millis(1))).unwrap());
        let s = b.stats();
        assert_eq!((s.rx_frames, s.empty_polls), (4, 1));
    }

    #[test]
    fn works_across_threads() {
        let (mut a, mut b) = pair("a", "b", 64, 128).unwrap();
        let t = std::thread::spawn(move || {
            let mut out = Batch::new(1, 128).unwrap();
            let mut v = 0u32;
            while v < 1000 {
                out.clear();
                out.push(&v.to_be_bytes()).unwrap();
                if a.send_batch(&out).unwrap() == 1 {
                    v += 1;
                }
            }
        });
        let mut got = 0u32;
        let mut inb = Batch::new(16, 128).unwrap();
        while got < 1000 {
            inb.clear();
            b.wait_readable(Some(Duration::from_millis(100))).unwrap();
            b.recv_batch(&mut inb).unwrap();
            for f in inb.iter() {
                assert_eq!(u32::from_be_bytes(f.try_into().unwrap()), got);
                got += 1;
            }
        }
        t.join().unwrap();
    }

    /// Frames of exactly the slot size, over many wrap-arounds of the ring, arrive byte for byte
    /// (each copy covers a whole slot: the provenance fix must not shorten or shift it).
    #[test]
    fn full_slot_frames_cross_intact_across_wraparound() {
        let (mut a, mut b) = pair("a", "b", 3, 64).unwrap();
        let mut out = Batch::new(2, 64).unwrap();
        let mut inb = Batch::new(2, 64).unwrap();
        for round in 0..40u8 {
            out.clear();
            let f0: Vec<u8> = (0..64).map(|i| round.wrapping_mul(7) ^ i).collect();
            let f1: Vec<u8> = (0..64)
                .map(|i| round.wrapping_add(i).rotate_left(3))
                .collect();
            out.push(&f0).unwrap();
            out.push(&f1).unwrap();
            assert_eq!(a.send_batch(&out).unwrap(), 2);
            inb.clear();
            assert_eq!(b.recv_batch(&mut inb).unwrap(), 2);
            assert_eq!(inb.frame(0), &f0[..]);
            assert_eq!(inb.frame(1), &f1[..]);
        }
        let (sa, sb) = (a.stats(), b.stats());
        assert_eq!((sa.tx_frames, sa.tx_bytes), (80, 80 * 64));
        assert_eq!((sb.rx_frames, sb.rx_bytes), (80, 80 * 64));
    }

    /// A frame larger than the receiver's buffers is consumed and counted: what one end sent
    /// equals what the other received plus its counted drops (two parties' own counters).
    #[test]
    fn sent_equals_received_plus_counted_drops() {
        let (mut a, mut b) = pair("a", "b", 16, 256).unwrap();
        let mut out = Batch::new(8, 256).unwrap();
        for len in [60usize, 64, 65, 200, 64, 14, 256, 63] {
            out.push(&vec![len as u8; len]).unwrap();
        }
        assert_eq!(a.send_batch(&out).unwrap(), 8);
        let mut inb = Batch::new(3, 64).unwrap();
        let mut got = Vec::new();
        loop {
            inb.clear();
            if b.recv_batch(&mut inb).unwrap() == 0 {
                break;
            }
            got.extend(inb.iter().map(<[u8]>::len));
        }
        assert_eq!(got, vec![60, 64, 64, 14, 63]);
        let (sa, sb) = (a.stats(), b.stats());
        assert_eq!(sa.tx_frames, 8);
        assert_eq!(sb.kernel_drops, 3);
        assert_eq!(sb.rx_dropped, 0);
        assert_eq!(sa.tx_frames, sb.rx_frames + sb.kernel_drops + sb.rx_dropped);
        assert_eq!(sb.rx_bytes, got.iter().sum::<usize>() as u64);
    }
}
