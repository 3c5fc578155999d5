//! The AF_XDP socket, its UMEM and its four rings as typed views of the kernel's mappings.
//!
//! This is the only `unsafe` code of the AF_XDP backend besides `bpf.rs`: the socket calls
//! (`socket`, `setsockopt`, `getsockopt`, `bind`, the wakeup `sendto`/`recvfrom`) and the ring
//! accesses. The structures mirror `<linux/if_xdp.h>`.
//!
//! A ring is a mapping holding a producer index, a consumer index, a flags word and an array
//! of `size` (a power of two) descriptors. [`ProdRing`] (fill, TX: we produce, the kernel
//! consumes) and [`ConsRing`] (RX, completion: the kernel produces) keep a local copy of their
//! own index, read the other side's with Acquire, and publish their own with Release, as the
//! kernel's `xsk_queue.h` expects.

use std::io;
use std::marker::PhantomData;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::sys::Mmap;

pub(crate) const AF_XDP: libc::c_int = 44;
const SOL_XDP: libc::c_int = 283;
const XDP_MMAP_OFFSETS: libc::c_int = 1;
const XDP_RX_RING: libc::c_int = 2;
const XDP_TX_RING: libc::c_int = 3;
const XDP_UMEM_REG: libc::c_int = 4;
const XDP_UMEM_FILL_RING: libc::c_int = 5;
const XDP_UMEM_COMPLETION_RING: libc::c_int = 6;
const XDP_STATISTICS: libc::c_int = 7;

const XDP_PGOFF_RX_RING: u64 = 0;
const XDP_PGOFF_TX_RING: u64 = 0x8000_0000;
const XDP_UMEM_PGOFF_FILL_RING: u64 = 0x1_0000_0000;
const XDP_UMEM_PGOFF_COMPLETION_RING: u64 = 0x1_8000_0000;

/// `sxdp_flags`: copy mode (veth has no zero-copy; the kernel copies frames into the UMEM).
pub(crate) const XDP_COPY: u16 = 1 << 1;
/// `sxdp_flags`: the kernel says in the ring flags when it needs a system call to proceed.
pub(crate) const XDP_USE_NEED_WAKEUP: u16 = 1 << 3;
/// Ring flag: the kernel needs a wakeup (`sendto` for TX, `recvfrom`/`poll` for fill).
const XDP_RING_NEED_WAKEUP: u32 = 1;

/// `struct xdp_desc`: one RX or TX descriptor.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XdpDesc {
    pub addr: u64,
    pub len: u32,
    pub options: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct RingOffset {
    producer: u64,
    consumer: u64,
    desc: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct MmapOffsets {
    rx: RingOffset,
    tx: RingOffset,
    fr: RingOffset,
    cr: RingOffset,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct UmemReg {
    addr: u64,
    len: u64,
    chunk_size: u32,
    headroom: u32,
    flags: u32,
    tx_metadata_len: u32,
}

#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct SockaddrXdp {
    family: u16,
    flags: u16,
    ifindex: u32,
    queue_id: u32,
    shared_umem_fd: u32,
}

/// `struct xdp_statistics` (all counters since the socket was created; not reset on read).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct XdpStatistics {
    pub rx_dropped: u64,
    pub rx_invalid_descs: u64,
    pub tx_invalid_descs: u64,
    pub rx_ring_full: u64,
    pub rx_fill_ring_empty_descs: u64,
    pub tx_ring_empty_descs: u64,
}

/// Which error a step failed with, for the caller's typed error.
#[derive(Debug)]
pub(crate) struct Step {
    pub call: &'static str,
    pub err: io::Error,
}

fn step(call: &'static str) -> impl FnOnce(io::Error) -> Step {
    move |err| Step { call, err }
}

/// An AF_XDP socket.
#[derive(Debug)]
pub(crate) struct XskSocket {
    fd: OwnedFd,
}

impl XskSocket {
    pub(crate) fn new() -> Result<XskSocket, Step> {
        // SAFETY: socket takes no pointers.
        let fd = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd < 0 {
            return Err(step("socket(AF_XDP)")(io::Error::last_os_error()));
        }
        // SAFETY: `fd` is a new descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(XskSocket { fd })
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn setsockopt<T: Copy>(&self, name: libc::c_int, v: &T) -> io::Result<()> {
        crate::sys::setsockopt_raw(self.raw(), SOL_XDP, name, v)
    }

    /// Registers `umem` (chunks of `chunk` bytes, no extra headroom).
    pub(crate) fn register_umem(&self, umem: &Umem) -> Result<(), Step> {
        let reg = UmemReg {
            addr: umem.map.ptr() as u64,
            len: umem.map.len() as u64,
            chunk_size: umem.chunk as u32,
            ..Default::default()
        };
        self.setsockopt(XDP_UMEM_REG, &reg)
            .map_err(step("setsockopt(XDP_UMEM_REG)"))
    }

    /// Sizes the four rings (`size` descriptors each, a power of two) and maps them.
    pub(crate) fn rings(&self, size: u32) -> Result<Rings, Step> {
        let n = size as libc::c_int;
        self.setsockopt(XDP_UMEM_FILL_RING, &n)
            .map_err(step("setsockopt(XDP_UMEM_FILL_RING)"))?;
        self.setsockopt(XDP_UMEM_COMPLETION_RING, &n)
            .map_err(step("setsockopt(XDP_UMEM_COMPLETION_RING)"))?;
        self.setsockopt(XDP_RX_RING, &n)
            .map_err(step("setsockopt(XDP_RX_RING)"))?;
        self.setsockopt(XDP_TX_RING, &n)
            .map_err(step("setsockopt(XDP_TX_RING)"))?;
        let mut off = MmapOffsets::default();
        let mut len = size_of::<MmapOffsets>() as libc::socklen_t;
        // SAFETY: `off` is writable for `len` bytes and `len` is a valid in/out length.
        let r = unsafe {
            libc::getsockopt(
                self.raw(),
                SOL_XDP,
                XDP_MMAP_OFFSETS,
                (&mut off as *mut MmapOffsets).cast(),
                &mut len,
            )
        };
        if r < 0 || len as usize != size_of::<MmapOffsets>() {
            return Err(step("getsockopt(XDP_MMAP_OFFSETS)")(
                io::Error::last_os_error(),
            ));
        }
        let fd = self.raw();
        Ok(Rings {
            fill: ProdRing::map(fd, &off.fr, size, XDP_UMEM_PGOFF_FILL_RING)
                .map_err(step("mmap(fill ring)"))?,
            comp: ConsRing::map(fd, &off.cr, size, XDP_UMEM_PGOFF_COMPLETION_RING)
                .map_err(step("mmap(completion ring)"))?,
            rx: ConsRing::map(fd, &off.rx, size, XDP_PGOFF_RX_RING)
                .map_err(step("mmap(RX ring)"))?,
            tx: ProdRing::map(fd, &off.tx, size, XDP_PGOFF_TX_RING)
                .map_err(step("mmap(TX ring)"))?,
        })
    }

    /// Binds to queue `queue` of interface `ifindex` with `flags`.
    pub(crate) fn bind(&self, ifindex: u32, queue: u32, flags: u16) -> Result<(), Step> {
        let sa = SockaddrXdp {
            family: AF_XDP as u16,
            flags,
            ifindex,
            queue_id: queue,
            shared_umem_fd: 0,
        };
        // SAFETY: `sa` is a valid `struct sockaddr_xdp` that lives for the call.
        let r = unsafe {
            libc::bind(
                self.raw(),
                (&sa as *const SockaddrXdp).cast(),
                size_of::<SockaddrXdp>() as libc::socklen_t,
            )
        };
        if r < 0 {
            Err(step("bind(AF_XDP)")(io::Error::last_os_error()))
        } else {
            Ok(())
        }
    }

    /// The socket's counters (`XDP_STATISTICS`).
    pub(crate) fn statistics(&self) -> io::Result<XdpStatistics> {
        let mut st = XdpStatistics::default();
        let mut len = size_of::<XdpStatistics>() as libc::socklen_t;
        // SAFETY: `st` is writable for `len` bytes and `len` is a valid in/out length.
        let r = unsafe {
            libc::getsockopt(
                self.raw(),
                SOL_XDP,
                XDP_STATISTICS,
                (&mut st as *mut XdpStatistics).cast(),
                &mut len,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(st)
        }
    }

    /// The TX wakeup: `sendto(fd, NULL, 0, MSG_DONTWAIT)` makes the kernel send what the TX
    /// ring holds (in copy mode, up to 32 frames per call, in this call).
    pub(crate) fn kick_tx(&self) -> io::Result<()> {
        // SAFETY: a zero-length send with null buffer and address is the documented AF_XDP
        // TX wakeup; the kernel reads only the mapped rings.
        let r = unsafe {
            libc::sendto(
                self.raw(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// The fill-ring wakeup: `recvfrom(fd, NULL, 0, MSG_DONTWAIT)`.
    pub(crate) fn kick_rx(&self) {
        // SAFETY: a zero-length receive with null buffer and address is the documented AF_XDP
        // RX wakeup; nothing is written to user memory.
        let _ = unsafe {
            libc::recvfrom(
                self.raw(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }
}

/// The UMEM: `chunks` chunks of `chunk` bytes in one anonymous mapping, shared by RX and TX.
#[derive(Debug)]
pub(crate) struct Umem {
    map: Mmap,
    chunk: usize,
}

impl Umem {
    pub(crate) fn new(chunks: usize, chunk: usize) -> Result<Umem, Step> {
        let len = chunks
            .checked_mul(chunk)
            .ok_or_else(|| step("UMEM size")(io::Error::from_raw_os_error(libc::EINVAL)))?;
        let map = Mmap::anonymous(len).map_err(step("mmap(UMEM)"))?;
        Ok(Umem { map, chunk })
    }

    /// The `len` bytes at UMEM address `addr`, or `None` when they are not inside one chunk.
    pub(crate) fn frame(&self, addr: u64, len: usize) -> Option<&[u8]> {
        let (start, _) = self.range(addr, len)?;
        // SAFETY: `start..start+len` lies inside the live mapping (checked in `range`). The
        // chunk is ours while we hold its address (taken from the RX ring, not yet given back
        // to the fill ring); the borrow of `self` ends before we give it back.
        Some(unsafe { std::slice::from_raw_parts(self.map.ptr().add(start), len) })
    }

    /// The `len` bytes at UMEM address `addr` mutably (a TX chunk we own).
    pub(crate) fn frame_mut(&mut self, addr: u64, len: usize) -> Option<&mut [u8]> {
        let (start, _) = self.range(addr, len)?;
        // SAFETY: as in `frame`; the chunk is on our free list (the kernel completed it or
        // never had it), and `&mut self` makes this the only user-space reference.
        Some(unsafe { std::slice::from_raw_parts_mut(self.map.ptr().add(start), len) })
    }

    fn range(&self, addr: u64, len: usize) -> Option<(usize, usize)> {
        let start = usize::try_from(addr).ok()?;
        let end = start.checked_add(len)?;
        let chunk_end = (start / self.chunk + 1) * self.chunk;
        (end <= self.map.len() && end <= chunk_end).then_some((start, end))
    }
}

/// The four rings of a socket.
#[derive(Debug)]
pub(crate) struct Rings {
    pub fill: ProdRing<u64>,
    pub comp: ConsRing<u64>,
    pub rx: ConsRing<XdpDesc>,
    pub tx: ProdRing<XdpDesc>,
}

/// A mapped ring's shared words and descriptor array.
#[derive(Debug)]
struct RingMap<T> {
    map: Mmap,
    producer: usize,
    consumer: usize,
    flags: usize,
    desc: usize,
    mask: u32,
    _t: PhantomData<T>,
}

impl<T: Copy> RingMap<T> {
    fn map(fd: RawFd, off: &RingOffset, size: u32, pgoff: u64) -> io::Result<RingMap<T>> {
        let desc =
            usize::try_from(off.desc).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        let len = desc + size as usize * size_of::<T>();
        let map = Mmap::shared_at(fd, len, pgoff)?;
        let word = |o: u64| -> io::Result<usize> {
            let o = usize::try_from(o).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
            if o % 4 != 0 || o + 4 > len {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            Ok(o)
        };
        if desc % std::mem::align_of::<T>() != 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        Ok(RingMap {
            producer: word(off.producer)?,
            consumer: word(off.consumer)?,
            flags: word(off.flags)?,
            desc,
            mask: size - 1,
            map,
            _t: PhantomData,
        })
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` was checked in `map` to be 4-byte aligned and inside the live mapping
        // (which is page-aligned); the kernel updates these words concurrently, which is what
        // the atomic type is for; the borrow of `self` keeps the mapping alive.
        unsafe { AtomicU32::from_ptr(self.map.ptr().add(off).cast::<u32>()) }
    }

    fn read(&self, idx: u32) -> T {
        let i = (idx & self.mask) as usize;
        // SAFETY: `i <= mask < size`, so the element lies inside the descriptor array, which
        // lies inside the mapping and is aligned for `T` (checked in `map`). The caller reads
        // only entries the producer published (index below an Acquire-loaded producer).
        unsafe { self.map.ptr().add(self.desc).cast::<T>().add(i).read() }
    }

    fn write(&self, idx: u32, v: T) {
        let i = (idx & self.mask) as usize;
        // SAFETY: as in `read`; the caller writes only entries the consumer has released
        // (index below an Acquire-loaded consumer + size), which the kernel does not read
        // until we publish them with a Release store of the producer.
        unsafe { self.map.ptr().add(self.desc).cast::<T>().add(i).write(v) }
    }

    fn needs_wakeup(&self) -> bool {
        self.word(self.flags).load(Ordering::Relaxed) & XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring we produce into (fill: free chunk addresses; TX: frames to send).
#[derive(Debug)]
pub(crate) struct ProdRing<T> {
    ring: RingMap<T>,
    size: u32,
    /// Our producer index (published with [`ProdRing::submit`]).
    prod: u32,
    /// The kernel's consumer index as last read.
    cons: u32,
}

impl<T: Copy> ProdRing<T> {
    fn map(fd: RawFd, off: &RingOffset, size: u32, pgoff: u64) -> io::Result<Self> {
        let ring = RingMap::map(fd, off, size, pgoff)?;
        let prod = ring.word(ring.producer).load(Ordering::Relaxed);
        let cons = ring.word(ring.consumer).load(Ordering::Acquire);
        Ok(ProdRing {
            ring,
            size,
            prod,
            cons,
        })
    }

    /// Free entries (re-reading the kernel's consumer).
    pub(crate) fn free(&mut self) -> u32 {
        self.cons = self.ring.word(self.ring.consumer).load(Ordering::Acquire);
        self.size - self.prod.wrapping_sub(self.cons)
    }

    /// The kernel's consumer index, re-read.
    pub(crate) fn consumer(&mut self) -> u32 {
        self.cons = self.ring.word(self.ring.consumer).load(Ordering::Acquire);
        self.cons
    }

    /// Writes `v` at our producer index and advances it (not yet visible to the kernel).
    /// Returns false (and writes nothing) when the ring is full.
    pub(crate) fn push(&mut self, v: T) -> bool {
        if self.prod.wrapping_sub(self.cons) >= self.size && self.free() == 0 {
            return false;
        }
        self.ring.write(self.prod, v);
        self.prod = self.prod.wrapping_add(1);
        true
    }

    /// Publishes what was pushed (Release: the entries are written before the index).
    pub(crate) fn submit(&self) {
        self.ring
            .word(self.ring.producer)
            .store(self.prod, Ordering::Release);
    }

    /// The entry at ring index `idx`, as we wrote it (the kernel only reads TX entries).
    pub(crate) fn peek_written(&self, idx: u32) -> T {
        self.ring.read(idx)
    }

    /// Our producer index.
    pub(crate) fn producer(&self) -> u32 {
        self.prod
    }

    pub(crate) fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }
}

/// A ring the kernel produces into (RX: received frames; completion: sent chunks).
#[derive(Debug)]
pub(crate) struct ConsRing<T> {
    ring: RingMap<T>,
    /// Our consumer index (published with [`ConsRing::release`]).
    cons: u32,
}

impl<T: Copy> ConsRing<T> {
    fn map(fd: RawFd, off: &RingOffset, size: u32, pgoff: u64) -> io::Result<Self> {
        let ring = RingMap::map(fd, off, size, pgoff)?;
        let cons = ring.word(ring.consumer).load(Ordering::Relaxed);
        Ok(ConsRing { ring, cons })
    }

    /// Entries ready (re-reading the kernel's producer with Acquire).
    pub(crate) fn available(&self) -> u32 {
        let prod = self.ring.word(self.ring.producer).load(Ordering::Acquire);
        prod.wrapping_sub(self.cons)
    }

    /// The `k`-th ready entry (`k < available()`).
    pub(crate) fn peek(&self, k: u32) -> T {
        self.ring.read(self.cons.wrapping_add(k))
    }

    /// Gives `n` entries back to the kernel (Release: our reads happen before).
    pub(crate) fn release(&mut self, n: u32) {
        self.cons = self.cons.wrapping_add(n);
        self.ring
            .word(self.ring.consumer)
            .store(self.cons, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A descriptor is used only when it lies inside one chunk of the UMEM.
    #[test]
    fn umem_frames_stay_inside_their_chunk() {
        let mut u = Umem::new(4, 2048).unwrap();
        assert_eq!(u.frame(256, 1514).map(<[u8]>::len), Some(1514));
        assert!(u.frame(2048 + 256, 1792).is_some()); // up to the chunk's end
        assert!(u.frame(2048 + 256, 1793).is_none()); // one byte into the next chunk
        assert!(u.frame(3 * 2048, 2048).is_some());
        assert!(u.frame(4 * 2048, 1).is_none()); // beyond the UMEM
        assert!(u.frame(u64::MAX, 1).is_none());
        u.frame_mut(2048, 4).unwrap().copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(u.frame(2048, 4).unwrap(), &[1, 2, 3, 4]);
    }

    #[test]
    fn abi_layouts() {
        assert_eq!(size_of::<XdpDesc>(), 16);
        assert_eq!(size_of::<MmapOffsets>(), 128);
        assert_eq!(size_of::<UmemReg>(), 32);
        assert_eq!(size_of::<SockaddrXdp>(), 16);
        assert_eq!(size_of::<XdpStatistics>(), 48);
    }
}
