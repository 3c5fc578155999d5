//! Pre-allocated frame buffers and batches.

use crate::error::{IoError, Result};

/// Bytes reserved in front of every frame so elements can prepend headers in place
/// (e.g. `Unstrip`, `EtherEncap`, an ICMP error built around an IPv4 header).
pub const HEADROOM: usize = 128;
/// Default size of one frame buffer (without headroom): fits a 1514-byte Ethernet frame.
pub const DEFAULT_FRAME_SIZE: usize = 2048;
/// Smallest frame buffer accepted.
pub const MIN_FRAME_SIZE: usize = 64;
/// Largest frame buffer accepted (jumbo frames up to 64 KiB).
pub const MAX_FRAME_SIZE: usize = 65536;
/// Largest batch accepted (the paper sweeps batch sizes 1..=256).
pub const MAX_BATCH: usize = 1024;

/// Where one frame lives inside its slot.
#[derive(Debug, Clone, Copy, Default)]
struct Meta {
    /// Physical slot index in the arena.
    slot: u32,
    /// Offset of the first byte from the slot start (`HEADROOM` after receive).
    off: u32,
    /// Frame length in bytes.
    len: u32,
}

/// A batch of up to `capacity` frames in one pre-allocated arena.
///
/// Each frame owns a fixed slot of `HEADROOM + frame_size` bytes; frames are addressed by their
/// index `0..len()` in the batch. Reordering and removing frames permutes small descriptors, never
/// the frame bytes, and no operation allocates after [`Batch::new`].
#[derive(Debug)]
pub struct Batch {
    arena: Box<[u8]>,
    meta: Box<[Meta]>,
    /// Scratch for [`Batch::select`] (a copy of `meta[..len]`), allocated once.
    scratch: Box<[Meta]>,
    /// Scratch for [`Batch::select`]: which frames were taken.
    taken: Box<[bool]>,
    stride: usize,
    frame_size: usize,
    len: usize,
}

impl Batch {
    /// Allocates a batch of `capacity` frames of at most `frame_size` bytes each.
    ///
    /// Errors: [`IoError::BadBatchSize`] for 0 or more than [`MAX_BATCH`],
    /// [`IoError::BadFrameSize`] outside [`MIN_FRAME_SIZE`]..=[`MAX_FRAME_SIZE`].
    pub fn new(capacity: usize, frame_size: usize) -> Result<Self> {
        if capacity == 0 || capacity > MAX_BATCH {
            return Err(IoError::BadBatchSize(capacity));
        }
        if !(MIN_FRAME_SIZE..=MAX_FRAME_SIZE).contains(&frame_size) {
            return Err(IoError::BadFrameSize(frame_size));
        }
        let stride = HEADROOM + frame_size;
        let meta = (0..capacity)
            .map(|i| Meta {
                slot: i as u32,
                off: HEADROOM as u32,
                len: 0,
            })
            .collect();
        Ok(Self {
            arena: vec![0u8; stride * capacity].into_boxed_slice(),
            scratch: vec![Meta::default(); capacity].into_boxed_slice(),
            taken: vec![false; capacity].into_boxed_slice(),
            meta,
            stride,
            frame_size,
            len: 0,
        })
    }

    /// Allocates a batch of `capacity` frames of [`DEFAULT_FRAME_SIZE`] bytes.
    pub fn with_capacity(capacity: usize) -> Result<Self> {
        Self::new(capacity, DEFAULT_FRAME_SIZE)
    }

    /// Maximum number of frames.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.meta.len()
    }

    /// Size of one frame buffer, headroom excluded.
    pub fn frame_size(&self) -> usize {
        self.frame_size
    }

    /// Number of frames held.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no frame is held.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// True when the batch holds `capacity` frames.
    pub fn is_full(&self) -> bool {
        self.len == self.meta.len()
    }

    /// Free frame places left.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.meta.len() - self.len
    }

    /// Forgets all frames (the buffers stay allocated).
    #[inline]
    pub fn clear(&mut self) {
        self.len = 0;
    }

    #[inline]
    fn range(&self, m: &Meta) -> std::ops::Range<usize> {
        let start = m.slot as usize * self.stride + m.off as usize;
        start..start + m.len as usize
    }

    /// Frame `i`, or `None` when `i >= len()`.
    #[inline]
    pub fn get(&self, i: usize) -> Option<&[u8]> {
        let m = self.meta[..self.len].get(i)?;
        self.arena.get(self.range(m))
    }

    /// Frame `i` mutably, or `None` when `i >= len()`.
    #[inline]
    pub fn get_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let m = *self.meta[..self.len].get(i)?;
        let r = self.range(&m);
        self.arena.get_mut(r)
    }

    /// Frame `i`. Returns an empty slice when `i >= len()`.
    #[inline]
    pub fn frame(&self, i: usize) -> &[u8] {
        self.get(i).unwrap_or(&[])
    }

    /// Frame `i` mutably. Returns an empty slice when `i >= len()`.
    #[inline]
    pub fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        self.get_mut(i).unwrap_or(&mut [])
    }

    /// Iterates over the frames in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len).map(move |i| self.frame(i))
    }

    /// Appends a copy of `data`.
    ///
    /// Errors: [`IoError::BatchFull`], [`IoError::FrameTooLarge`].
    pub fn push(&mut self, data: &[u8]) -> Result<()> {
        let capacity = self.meta.len();
        let slot = self.next_slot_mut().ok_or(IoError::BatchFull(capacity))?;
        let cap = slot.len();
        let dst = slot.get_mut(..data.len()).ok_or(IoError::FrameTooLarge {
            len: data.len(),
            cap,
        })?;
        dst.copy_from_slice(data);
        self.commit(data.len())
    }

    /// The receive area (`frame_size` bytes) of the `k`-th free place, i.e. of frame `len() + k`,
    /// for backends that receive straight into the batch. `None` when `k >= remaining()`.
    pub fn spare_mut(&mut self, k: usize) -> Option<&mut [u8]> {
        let i = self.len.checked_add(k)?;
        let slot = self.meta.get(i)?.slot as usize;
        let start = slot * self.stride + HEADROOM;
        self.arena.get_mut(start..start + self.frame_size)
    }

    /// The receive area of the next free place (`spare_mut(0)`).
    pub fn next_slot_mut(&mut self) -> Option<&mut [u8]> {
        self.spare_mut(0)
    }

    /// Marks the next free place as holding a frame of `len` bytes written into its receive area.
    ///
    /// Errors: [`IoError::BatchFull`], [`IoError::FrameTooLarge`].
    pub fn commit(&mut self, len: usize) -> Result<()> {
        if len > self.frame_size {
            return Err(IoError::FrameTooLarge {
                len,
                cap: self.frame_size,
            });
        }
        let cap = self.meta.len();
        let m = self.meta.get_mut(self.len).ok_or(IoError::BatchFull(cap))?;
        m.off = HEADROOM as u32;
        m.len = len as u32;
        self.len += 1;
        Ok(())
    }

    /// Removes `n` bytes from the front of frame `i` (e.g. strips the Ethernet header).
    /// Returns false (and changes nothing) when `i` or `n` is out of range.
    #[inline]
    pub fn pull(&mut self, i: usize, n: usize) -> bool {
        match self.meta[..self.len].get_mut(i) {
            Some(m) if n <= m.len as usize => {
                m.off += n as u32;
                m.len -= n as u32;
                true
            }
            _ => false,
        }
    }

    /// Prepends `n` bytes (uninitialised contents: whatever the slot held) in front of frame `i`,
    /// using the headroom. Returns false when `i` is out of range or the headroom is too small.
    #[inline]
    pub fn push_front(&mut self, i: usize, n: usize) -> bool {
        match self.meta[..self.len].get_mut(i) {
            Some(m) if n <= m.off as usize => {
                m.off -= n as u32;
                m.len += n as u32;
                true
            }
            _ => false,
        }
    }

    /// Headroom left in front of frame `i` (0 when out of range).
    #[inline]
    pub fn headroom(&self, i: usize) -> usize {
        self.meta[..self.len].get(i).map_or(0, |m| m.off as usize)
    }

    /// Sets the length of frame `i`; it may grow up to the end of its slot (new bytes keep
    /// whatever the slot held). Returns false when `i` or `len` is out of range.
    #[inline]
    pub fn set_len(&mut self, i: usize, len: usize) -> bool {
        let stride = self.stride;
        match self.meta[..self.len].get_mut(i) {
            Some(m) if m.off as usize + len <= stride => {
                m.len = len as u32;
                true
            }
            _ => false,
        }
    }

    /// Swaps frames `i` and `j` (descriptors only). Returns false when out of range.
    #[inline]
    pub fn swap(&mut self, i: usize, j: usize) -> bool {
        if i < self.len && j < self.len {
            self.meta.swap(i, j);
            true
        } else {
            false
        }
    }

    /// Keeps the frames for which `keep(index, frame)` is true, in order; returns how many were
    /// removed. Moves descriptors only.
    pub fn retain(&mut self, mut keep: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut w = 0;
        for r in 0..self.len {
            let m = self.meta[r];
            let data = &self.arena[self.range(&m)];
            if keep(r, data) {
                self.meta.swap(w, r);
                w += 1;
            }
        }
        let removed = self.len - w;
        self.len = w;
        removed
    }

    /// Keeps only the frames listed in `indices`, renumbered `0, 1, ...` in the order listed;
    /// every other frame is forgotten (its buffer becomes free). Returns the new `len()`.
    /// Indices out of range and repeated indices are ignored. Moves descriptors only, never
    /// frame bytes, and allocates nothing: this is how a fused chain (scc-nf's `chain` module) hands
    /// the frames one NF sent on a port to the next NF.
    ///
    /// ```
    /// # use scc_io::Batch;
    /// let mut b = Batch::new(4, 64).unwrap();
    /// for v in 0..4u8 { b.push(&[v]).unwrap(); }
    /// assert_eq!(b.select(&[3, 1, 1, 9]), 2);
    /// assert_eq!(b.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![3, 1]);
    /// b.push(&[7]).unwrap(); // a freed buffer is reused
    /// assert_eq!(b.len(), 3);
    /// ```
    pub fn select(&mut self, indices: &[u16]) -> usize {
        let len = self.len;
        self.scratch[..len].copy_from_slice(&self.meta[..len]);
        self.taken[..len].fill(false);
        let mut w = 0;
        for &i in indices {
            let i = usize::from(i);
            if i < len && !self.taken[i] {
                self.taken[i] = true;
                self.meta[w] = self.scratch[i];
                w += 1;
            }
        }
        // The frames not taken keep their slots, now behind the kept ones (free places), so
        // every slot still belongs to exactly one descriptor.
        let mut f = w;
        for i in 0..len {
            if !self.taken[i] {
                self.meta[f] = self.scratch[i];
                f += 1;
            }
        }
        self.len = w;
        w
    }

    /// Raw pointer and capacity of the receive area of free place `k`, for backends that hand
    /// buffer addresses to the kernel (iovecs). The pointer stays valid as long as the batch lives
    /// and is not moved out of; it must only be written before a matching [`Batch::commit`].
    pub fn spare_ptr(&mut self, k: usize) -> Option<(*mut u8, usize)> {
        self.spare_mut(k).map(|s| (s.as_mut_ptr(), s.len()))
    }

    /// Calls `f(k, ptr, cap)` for the receive areas of free places `0..n` (at most
    /// `remaining()`), every pointer derived from one borrow of the arena, so that all of them may
    /// be handed to the kernel at once (the iovecs of `recvmmsg`). Same validity rules as
    /// [`Batch::spare_ptr`].
    pub(crate) fn spare_raw(&mut self, n: usize, mut f: impl FnMut(usize, *mut u8, usize)) {
        let n = n.min(self.remaining());
        let base = self.arena.as_mut_ptr();
        let arena_len = self.arena.len();
        for k in 0..n {
            let off = self.meta[self.len + k].slot as usize * self.stride + HEADROOM;
            if off + self.frame_size > arena_len {
                return;
            }
            // SAFETY: `off + frame_size <= arena.len()` (checked above), so the pointer stays
            // inside the arena allocation.
            f(k, unsafe { base.add(off) }, self.frame_size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_sizes() {
        assert!(matches!(Batch::new(0, 2048), Err(IoError::BadBatchSize(0))));
        assert!(matches!(
            Batch::new(MAX_BATCH + 1, 2048),
            Err(IoError::BadBatchSize(_))
        ));
        assert!(matches!(Batch::new(4, 10), Err(IoError::BadFrameSize(10))));
    }

    #[test]
    fn push_get_strip_prepend() {
        let mut b = Batch::new(2, 128).unwrap();
        b.push(&[1, 2, 3, 4]).unwrap();
        b.push(&[5; 128]).unwrap();
        assert!(matches!(b.push(&[0]), Err(IoError::BatchFull(2))));
        assert_eq!(b.frame(0), &[1, 2, 3, 4]);
        assert!(b.pull(0, 2));
        assert_eq!(b.frame(0), &[3, 4]);
        assert!(!b.pull(0, 3));
        assert!(b.push_front(0, 2));
        assert_eq!(b.frame(0), &[1, 2, 3, 4]);
        assert!(b.push_front(0, HEADROOM));
        assert_eq!(b.headroom(0), 0);
        assert!(!b.push_front(0, 1));
        assert!(b.get(2).is_none());
        assert_eq!(b.frame(7), &[] as &[u8]);
    }

    #[test]
    fn oversize_frame_is_an_error() {
        let mut b = Batch::new(1, 64).unwrap();
        assert!(matches!(
            b.push(&[0; 65]),
            Err(IoError::FrameTooLarge { len: 65, cap: 64 })
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn select_reorders_descriptors_and_keeps_every_slot_once() {
        let mut b = Batch::new(6, 64).unwrap();
        for v in 0..5u8 {
            b.push(&[v]).unwrap();
        }
        assert_eq!(b.select(&[4, 0, 2, 2, 77]), 3);
        assert_eq!(b.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![4, 0, 2]);
        let mut slots: Vec<u32> = b.meta.iter().map(|m| m.slot).collect();
        slots.sort();
        assert_eq!(slots, vec![0, 1, 2, 3, 4, 5]);
        for v in 10..13u8 {
            b.push(&[v]).unwrap();
        }
        assert!(b.is_full());
        assert_eq!(
            b.iter().map(|f| f[0]).collect::<Vec<_>>(),
            vec![4, 0, 2, 10, 11, 12]
        );
        assert_eq!(b.select(&[]), 0);
        assert!(b.is_empty());
    }

    #[test]
    fn retain_keeps_order_and_reuses_slots() {
        let mut b = Batch::new(4, 64).unwrap();
        for v in 0..4u8 {
            b.push(&[v]).unwrap();
        }
        assert_eq!(b.retain(|_, f| f[0] % 2 == 1), 2);
        assert_eq!(b.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![1, 3]);
        b.push(&[9]).unwrap();
        b.push(&[8]).unwrap();
        assert!(b.is_full());
        assert_eq!(b.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![1, 3, 9, 8]);
    }
}
