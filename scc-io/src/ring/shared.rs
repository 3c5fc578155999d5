//! The only `unsafe` code of the ring backend: typed access to words and byte ranges of a
//! `PACKET_MMAP` ring mapping that the kernel shares with us.
//!
//! A [`RingMem`] is the mapping plus its length; every accessor checks its offset against that
//! length, so the ring logic in `rx.rs` and `tx.rs` is safe code that can at worst read a wrong
//! value (which it then validates), never outside the mapping.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::Mmap;

/// A ring mapping with bounds-checked accessors.
#[derive(Debug)]
pub(crate) struct RingMem {
    map: Mmap,
}

impl RingMem {
    pub(crate) fn new(map: Mmap) -> Self {
        Self { map }
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    fn word(&self, off: usize) -> Option<&AtomicU32> {
        if off % 4 != 0 || off.checked_add(4)? > self.map.len() {
            return None;
        }
        // SAFETY: `off..off+4` lies inside the live mapping (checked) and is 4-byte aligned (the
        // mapping is page-aligned and `off % 4 == 0`); the kernel accesses status words
        // concurrently, which is what the atomic type is for. The reference borrows `self`, so
        // it cannot outlive the mapping.
        Some(unsafe { AtomicU32::from_ptr(self.map.ptr().add(off).cast::<u32>()) })
    }

    /// Loads the status word at `off` with Acquire (0 when out of range: "kernel's").
    pub(crate) fn status(&self, off: usize) -> u32 {
        self.word(off).map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// Stores `v` into the status word at `off` with Release, which publishes our reads and
    /// writes of the slot or block before the kernel takes it over. Out of range: no effect.
    pub(crate) fn set_status(&self, off: usize, v: u32) {
        if let Some(w) = self.word(off) {
            w.store(v, Ordering::Release);
        }
    }

    /// Reads a native-endian `u32` at `off` (0 when out of range).
    pub(crate) fn u32_at(&self, off: usize) -> u32 {
        self.bytes(off, 4)
            .map_or(0, |b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a native-endian `u16` at `off` (0 when out of range).
    pub(crate) fn u16_at(&self, off: usize) -> u16 {
        self.bytes(off, 2)
            .map_or(0, |b| u16::from_ne_bytes([b[0], b[1]]))
    }

    /// Writes a native-endian `u32` at `off` (no effect when out of range).
    pub(crate) fn set_u32(&mut self, off: usize, v: u32) {
        if let Some(b) = self.bytes_mut(off, 4) {
            b.copy_from_slice(&v.to_ne_bytes());
        }
    }

    /// The bytes `off..off+len` of a part of the ring that user space owns (its status word
    /// says so), or `None` when the range is outside the mapping.
    pub(crate) fn bytes(&self, off: usize, len: usize) -> Option<&[u8]> {
        if off.checked_add(len)? > self.map.len() {
            return None;
        }
        // SAFETY: the range lies inside the live mapping (checked). Callers only look at slots
        // and blocks whose status word hands them to user space, which the kernel does not
        // write until we give them back (with `set_status`, which needs no `&mut` but happens
        // after the last use of this borrow in every caller).
        Some(unsafe { std::slice::from_raw_parts(self.map.ptr().add(off), len) })
    }

    /// The bytes `off..off+len` mutably (see [`RingMem::bytes`]).
    pub(crate) fn bytes_mut(&mut self, off: usize, len: usize) -> Option<&mut [u8]> {
        if off.checked_add(len)? > self.map.len() {
            return None;
        }
        // SAFETY: as in `bytes`; `&mut self` makes the slice the only user-space reference.
        Some(unsafe { std::slice::from_raw_parts_mut(self.map.ptr().add(off), len) })
    }
}
