//! The `ring` backend: `PACKET_MMAP` rings shared with the kernel.
//!
//! - **RX**: a `TPACKET_V3` ring of `cfg.ring_blocks` blocks of `cfg.ring_block_size` bytes. The
//!   kernel writes frames into a block and hands the whole block to user space when it is full or
//!   after [`RING_BLOCK_TIMEOUT_MS`]; `recv_batch` copies frames out of user-owned blocks into the
//!   batch and gives each block back once read. Receiving makes **no system call**; only
//!   [`Port::wait_readable`] polls when the ring is empty. Because the kernel retires a partly
//!   filled block only on its timer, a lone frame becomes visible after at most
//!   [`RING_BLOCK_TIMEOUT_MS`] ms: the ring trades a millisecond of latency at low rates for a
//!   ~20x cheaper receive at high rates.
//! - **TX**: with `cfg.ring_tx_frames > 0`, a `TPACKET_V2` TX ring on a second, send-only socket
//!   (bound with protocol 0, so it receives nothing): frames are copied into ring slots and one
//!   `sendto` kick per batch sends them. With `cfg.ring_tx_frames == 0`, `sendmmsg` on the RX
//!   socket (as the `mmsg` backend). Which one is faster on veth is measured by `benches/io.rs`
//!   (see the crate README); the default follows that measurement.
//!
//! A TX-ring slot stays busy until the kernel frees the frame it carries (on veth at once; a
//! device with a real queue holds frames longer). When no slot frees up within the bounded
//! retries, the frame is dropped and counted.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::batch::Batch;
use crate::error::{IoError, Result};
use crate::mmsg::MsgArray;
use crate::port::{Driver, Port, PortConfig, PortStats};
use crate::sys::{self, Mmap, RawSocket, Role, TX_RETRY_WAIT, TxOutcome};

/// How long the kernel keeps a partly filled RX block before handing it to user space.
pub const RING_BLOCK_TIMEOUT_MS: u32 = 1;
/// Largest number of RX blocks or TX slots accepted.
pub const MAX_RING_ENTRIES: usize = 1 << 16;

const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
/// `sizeof(struct tpacket3_hdr)`.
const TPACKET3_HDR: usize = 48;
/// Offset of the frame data in a V2 TX slot: `TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)`.
const TX_DATA_OFF: usize = 32;
/// `tp_frame_size` we declare for the V3 RX ring (only checked for consistency by the kernel).
const RX_FRAME_SIZE: usize = 2048;

// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then tpacket_hdr_v1).
const BD_STATUS: usize = 8;
const BD_NUM_PKTS: usize = 12;
const BD_FIRST_PKT: usize = 16;
// Offsets in `struct tpacket3_hdr`.
const H3_NEXT: usize = 0;
const H3_SNAPLEN: usize = 12;
const H3_LEN: usize = 16;
const H3_MAC: usize = 24;
// Offsets in `struct tpacket2_hdr`.
const H2_LEN: usize = 4;
const H2_SNAPLEN: usize = 8;

/// Loads the status word at `p` (block or slot status, shared with the kernel) with Acquire.
///
/// # Safety
/// `p` must be 4-byte aligned and point into a live ring mapping.
unsafe fn load_status(p: *mut u8) -> u32 {
    // SAFETY: guaranteed by the caller; the kernel accesses this word concurrently, which is what
    // the atomic type is for, and the reference does not outlive this call.
    unsafe { AtomicU32::from_ptr(p.cast::<u32>()) }.load(Ordering::Acquire)
}

/// Stores `v` into the status word at `p` with Release (publishes our writes or reads of the
/// block/slot before the kernel takes it over).
///
/// # Safety
/// As [`load_status`].
unsafe fn store_status(p: *mut u8, v: u32) {
    // SAFETY: as in `load_status`.
    unsafe { AtomicU32::from_ptr(p.cast::<u32>()) }.store(v, Ordering::Release)
}

/// Reads a `u32` at `p`.
///
/// # Safety
/// `p..p+4` must lie inside a live ring mapping, in a part the kernel is not writing.
unsafe fn rd32(p: *const u8) -> u32 {
    // SAFETY: guaranteed by the caller.
    unsafe { p.cast::<u32>().read_unaligned() }
}

/// Reads a `u16` at `p`.
///
/// # Safety
/// As [`rd32`] for two bytes.
unsafe fn rd16(p: *const u8) -> u16 {
    // SAFETY: guaranteed by the caller.
    unsafe { p.cast::<u16>().read_unaligned() }
}

/// The TPACKET_V3 RX ring.
#[derive(Debug)]
struct RxRing {
    map: Mmap,
    block_size: usize,
    blocks: usize,
    /// Block being read (or next to become ready).
    cur: usize,
    /// True while `cur` is owned by us and partly read.
    open: bool,
    /// Frames left in the open block.
    left: u32,
    /// Offset of the next frame header in the open block.
    off: usize,
}

impl RxRing {
    fn block(&self, b: usize) -> *mut u8 {
        // SAFETY: `b < blocks` at every call site, and the mapping is `blocks * block_size`
        // bytes long, so the offset stays inside it.
        unsafe { self.map.ptr().add(b * self.block_size) }
    }

    /// True when the current block is (or has become) ours.
    fn ready(&self) -> bool {
        if self.open {
            return true;
        }
        // SAFETY: block starts are page-aligned, so `+ BD_STATUS` is 4-byte aligned and inside
        // the mapping.
        let st = unsafe { load_status(self.block(self.cur).add(BD_STATUS)) };
        st & TP_STATUS_USER != 0
    }

    fn recv(&mut self, batch: &mut Batch, max: usize, stats: &mut PortStats) -> usize {
        let want = batch.remaining().min(max);
        if want == 0 {
            return 0;
        }
        let mut n = 0;
        let frame_cap = batch.frame_size();
        while n < want {
            if !self.open {
                if !self.ready() {
                    break;
                }
                let b = self.block(self.cur);
                // SAFETY: the block is ours (status USER observed with Acquire above), so the
                // kernel does not write it; the descriptor fields lie in its first 48 bytes.
                let (num, first) = unsafe { (rd32(b.add(BD_NUM_PKTS)), rd32(b.add(BD_FIRST_PKT))) };
                self.open = true;
                self.left = num;
                self.off = first as usize;
            }
            let b = self.block(self.cur);
            while self.left > 0 && n < want {
                let off = self.off;
                if off + TPACKET3_HDR > self.block_size {
                    // A malformed block: skip the rest (counted).
                    stats.kernel_drops += u64::from(self.left);
                    self.left = 0;
                    break;
                }
                // SAFETY: `off + TPACKET3_HDR <= block_size` (checked), in a block we own.
                let h = unsafe { b.add(off) };
                // SAFETY: all four fields lie in the header checked above.
                let (next, snap, len, mac) = unsafe {
                    (
                        rd32(h.add(H3_NEXT)) as usize,
                        rd32(h.add(H3_SNAPLEN)) as usize,
                        rd32(h.add(H3_LEN)) as usize,
                        rd16(h.add(H3_MAC)) as usize,
                    )
                };
                let start = off + mac;
                if start + snap > self.block_size || (self.left > 1 && next == 0) {
                    stats.kernel_drops += u64::from(self.left);
                    self.left = 0;
                    break;
                }
                if snap < len || snap > frame_cap {
                    // Truncated by the ring or larger than our buffers: dropped, counted.
                    stats.kernel_drops += 1;
                } else if let Some(dst) = batch.next_slot_mut() {
                    // SAFETY: `start + snap <= block_size` (checked), so the source lies in our
                    // block; `dst` has `frame_cap >= snap` bytes and is a distinct allocation.
                    unsafe { std::ptr::copy_nonoverlapping(b.add(start), dst.as_mut_ptr(), snap) };
                    if batch.commit(snap).is_ok() {
                        n += 1;
                        stats.rx_bytes += snap as u64;
                    }
                }
                self.left -= 1;
                self.off += next;
            }
            if self.left == 0 {
                // SAFETY: as in `ready`; Release publishes our reads before the kernel reuses it.
                unsafe { store_status(b.add(BD_STATUS), TP_STATUS_KERNEL) };
                self.open = false;
                self.cur = (self.cur + 1) % self.blocks;
            }
        }
        stats.rx_frames += n as u64;
        if n == 0 {
            stats.empty_polls += 1;
        }
        n
    }
}

/// The TPACKET_V2 TX ring and its send-only socket.
#[derive(Debug)]
struct TxRing {
    raw: RawSocket,
    map: Mmap,
    slot: usize,
    slots: usize,
    /// Next slot we write.
    head: usize,
    /// Capacity of a slot's data area.
    data_cap: usize,
}

impl TxRing {
    fn open(cfg: &PortConfig, mtu: usize) -> Result<TxRing> {
        let raw = RawSocket::open(cfg, Role::TxOnly)?;
        let page = sys::page_size();
        let slot = (TX_DATA_OFF + mtu + sys::ETH_HLEN + 4)
            .next_power_of_two()
            .max(2048);
        let block = slot.max(page);
        let per_block = block / slot;
        let block_nr = cfg.ring_tx_frames.div_ceil(per_block);
        let req = sys::TpacketReq {
            block_size: block as u32,
            block_nr: block_nr as u32,
            frame_size: slot as u32,
            frame_nr: (block_nr * per_block) as u32,
        };
        sys::setsockopt_int(
            raw.fd,
            sys::SOL_PACKET,
            sys::PACKET_VERSION,
            sys::TPACKET_V2,
        )
        .map_err(|e| IoError::from_io("setsockopt(PACKET_VERSION)", e))?;
        // Malformed frames are skipped instead of stalling the ring (we check them first anyway).
        sys::setsockopt_int(raw.fd, sys::SOL_PACKET, sys::PACKET_LOSS, 1)
            .map_err(|e| IoError::from_io("setsockopt(PACKET_LOSS)", e))?;
        sys::setsockopt_raw(raw.fd, sys::SOL_PACKET, sys::PACKET_TX_RING, &req)
            .map_err(|e| IoError::from_io("setsockopt(PACKET_TX_RING)", e))?;
        let map = Mmap::packet_ring(raw.fd, block * block_nr)
            .map_err(|e| IoError::from_io("mmap(PACKET_TX_RING)", e))?;
        raw.bind(Role::TxOnly)?;
        Ok(TxRing {
            raw,
            map,
            slot,
            slots: block_nr * per_block,
            head: 0,
            data_cap: slot - TX_DATA_OFF,
        })
    }

    fn slot_ptr(&self, s: usize) -> *mut u8 {
        // SAFETY: `s < slots` at every call site; slots are contiguous (`block` is a multiple of
        // `slot`) and the mapping holds `slots * slot` bytes.
        unsafe { self.map.ptr().add(s * self.slot) }
    }

    fn slot_status(&self, s: usize) -> u32 {
        // SAFETY: slot starts are 2048-aligned inside the mapping.
        unsafe { load_status(self.slot_ptr(s)) }
    }

    fn send(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        let mut out = TxOutcome::new();
        // First slot written since the last kick, and how many.
        let mut first = self.head;
        let mut written = 0usize;
        let mut idx = indices.iter();
        while let Some(&i) = idx.next() {
            let Some(frame) = batch.get(i as usize) else {
                continue;
            };
            let cap = self.raw.max_tx_len(frame).min(self.data_cap);
            if sys::check_tx_frame(frame, cap, &mut self.raw.stats, &mut out).is_err() {
                continue;
            }
            if self.slot_status(self.head) != TP_STATUS_AVAILABLE {
                // Ring full: send what we wrote, then wait (bounded) for a slot to free up.
                if written > 0 {
                    if let Err(e) = self.kick(&mut first, &mut written, &mut out) {
                        self.drop_rest(idx, batch);
                        return Err(e);
                    }
                }
                while self.slot_status(self.head) != TP_STATUS_AVAILABLE && out.retries_left > 0 {
                    out.retries_left -= 1;
                    self.raw.stats.tx_retries += 1;
                    self.raw.wait_writable(TX_RETRY_WAIT);
                }
                if self.slot_status(self.head) != TP_STATUS_AVAILABLE {
                    self.raw.stats.tx_dropped += 1;
                    continue;
                }
                first = self.head;
            }
            let p = self.slot_ptr(self.head);
            // SAFETY: the slot is AVAILABLE (observed with Acquire), so the kernel does not touch
            // it until we publish SEND_REQUEST; `frame.len() <= data_cap` keeps the copy inside
            // the slot; the length fields lie in its header.
            unsafe {
                std::ptr::copy_nonoverlapping(frame.as_ptr(), p.add(TX_DATA_OFF), frame.len());
                p.add(H2_LEN).cast::<u32>().write(frame.len() as u32);
                p.add(H2_SNAPLEN).cast::<u32>().write(frame.len() as u32);
                store_status(p, TP_STATUS_SEND_REQUEST);
            }
            self.head = (self.head + 1) % self.slots;
            written += 1;
        }
        if written > 0 {
            self.kick(&mut first, &mut written, &mut out)?;
        }
        out.finish()
    }

    /// Kicks the kernel and accounts the slots `first..first+written` it consumed; retries a
    /// bounded number of times, then takes back (and counts as dropped) what it left.
    fn kick(&mut self, first: &mut usize, written: &mut usize, out: &mut TxOutcome) -> Result<()> {
        loop {
            self.raw.stats.tx_syscalls += 1;
            let r = sys::kick(self.raw.fd);
            // The kernel sends slots in order and stops at the first it cannot send.
            let mut c = 0;
            while c < *written {
                let s = (*first + c) % self.slots;
                if self.slot_status(s) == TP_STATUS_SEND_REQUEST {
                    break;
                }
                // SAFETY: the length field lies in the slot header; the kernel only reads it.
                let len = unsafe { self.slot_ptr(s).add(H2_LEN).cast::<u32>().read() };
                self.raw.stats.tx_bytes += u64::from(len);
                c += 1;
            }
            self.raw.stats.tx_frames += c as u64;
            out.sent += c;
            *first = (*first + c) % self.slots;
            *written -= c;
            if *written == 0 {
                return Ok(());
            }
            let hard = match &r {
                Err(e) => !sys::is_transient(e),
                Ok(_) => false,
            };
            if !hard && out.retries_left > 0 {
                out.retries_left -= 1;
                self.raw.stats.tx_retries += 1;
                self.raw.wait_writable(TX_RETRY_WAIT);
                continue;
            }
            // Take the unsent slots back: the kernel only reads SEND_REQUEST slots inside our
            // own sendto, so none is in use now; rewinding `head` keeps us in step with the
            // kernel's ring position, which stopped at `first`.
            for c in 0..*written {
                let s = (*first + c) % self.slots;
                // SAFETY: as in `slot_status`.
                unsafe { store_status(self.slot_ptr(s), TP_STATUS_AVAILABLE) };
            }
            self.raw.stats.tx_dropped += *written as u64;
            self.head = *first;
            *written = 0;
            return match r {
                Err(e) if hard => Err(self.raw.map_err("sendto(PACKET_TX_RING)", e)),
                _ => Ok(()),
            };
        }
    }

    fn drop_rest(&mut self, rest: std::slice::Iter<'_, u16>, batch: &Batch) {
        let n = rest.filter(|&&j| batch.get(j as usize).is_some()).count();
        self.raw.stats.tx_dropped += n as u64;
    }
}

/// How the ring port transmits.
#[derive(Debug)]
enum Tx {
    Ring(Box<TxRing>),
    Mmsg(MsgArray),
}

/// An `AF_PACKET` port with a `PACKET_MMAP` TPACKET_V3 RX ring and a TPACKET_V2 TX ring (or
/// `sendmmsg`), see the [module docs](self). Open it with [`RingPort::open`] or
/// [`crate::open_port`] with [`Driver::Ring`].
#[derive(Debug)]
pub struct RingPort {
    raw: RawSocket,
    rx: RxRing,
    tx: Tx,
    batch: usize,
}

impl RingPort {
    /// Opens a port on `cfg.ifname` (see [`crate::open_port`] for the errors; also
    /// [`IoError::BadRingConfig`]).
    pub fn open(cfg: &PortConfig) -> Result<Self> {
        let page = sys::page_size();
        if cfg.ring_blocks == 0 || cfg.ring_blocks > MAX_RING_ENTRIES {
            return Err(IoError::BadRingConfig(format!(
                "ring_blocks = {} (1..={MAX_RING_ENTRIES})",
                cfg.ring_blocks
            )));
        }
        if cfg.ring_block_size < page
            || cfg.ring_block_size % page != 0
            || cfg.ring_block_size > 1 << 30
        {
            return Err(IoError::BadRingConfig(format!(
                "ring_block_size = {} (a multiple of the page size {page}, at most 1 GiB)",
                cfg.ring_block_size
            )));
        }
        if cfg.ring_tx_frames > MAX_RING_ENTRIES {
            return Err(IoError::BadRingConfig(format!(
                "ring_tx_frames = {} (0 for sendmmsg, or 1..={MAX_RING_ENTRIES})",
                cfg.ring_tx_frames
            )));
        }
        let raw = RawSocket::open(cfg, Role::RxTx)?;
        let frame_size = RX_FRAME_SIZE.min(cfg.ring_block_size);
        let req = sys::TpacketReq3 {
            block_size: cfg.ring_block_size as u32,
            block_nr: cfg.ring_blocks as u32,
            frame_size: frame_size as u32,
            frame_nr: ((cfg.ring_block_size / frame_size) * cfg.ring_blocks) as u32,
            retire_blk_tov: RING_BLOCK_TIMEOUT_MS,
            sizeof_priv: 0,
            feature_req_word: 0,
        };
        sys::setsockopt_int(
            raw.fd,
            sys::SOL_PACKET,
            sys::PACKET_VERSION,
            sys::TPACKET_V3,
        )
        .map_err(|e| IoError::from_io("setsockopt(PACKET_VERSION)", e))?;
        sys::setsockopt_raw(raw.fd, sys::SOL_PACKET, sys::PACKET_RX_RING, &req).map_err(
            |e| match e.raw_os_error() {
                Some(libc::EINVAL) => IoError::BadRingConfig(format!(
                    "the kernel rejected {} blocks of {} bytes",
                    cfg.ring_blocks, cfg.ring_block_size
                )),
                _ => IoError::from_io("setsockopt(PACKET_RX_RING)", e),
            },
        )?;
        let len = cfg.ring_block_size * cfg.ring_blocks;
        let map = Mmap::packet_ring(raw.fd, len)
            .map_err(|e| IoError::from_io("mmap(PACKET_RX_RING)", e))?;
        debug_assert_eq!(map.len(), len);
        let tx = if cfg.ring_tx_frames > 0 {
            Tx::Ring(Box::new(TxRing::open(cfg, raw.info.mtu as usize)?))
        } else {
            Tx::Mmsg(MsgArray::new(cfg.batch))
        };
        raw.bind(Role::RxTx)?;
        Ok(RingPort {
            raw,
            rx: RxRing {
                map,
                block_size: cfg.ring_block_size,
                blocks: cfg.ring_blocks,
                cur: 0,
                open: false,
                left: 0,
                off: 0,
            },
            tx,
            batch: cfg.batch,
        })
    }

    /// The interface MTU read at open time.
    pub fn mtu(&self) -> u32 {
        self.raw.info.mtu
    }

    /// True when this port transmits through a TX ring (false: `sendmmsg`).
    pub fn has_tx_ring(&self) -> bool {
        matches!(self.tx, Tx::Ring(_))
    }
}

impl Port for RingPort {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        Ok(self.rx.recv(batch, self.batch, &mut self.raw.stats))
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        match &mut self.tx {
            Tx::Ring(t) => t.send(batch, indices),
            Tx::Mmsg(m) => m.send(&mut self.raw, batch, indices),
        }
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        if self.rx.ready() {
            return Ok(true);
        }
        self.raw.wait_readable(timeout)
    }

    fn stats(&mut self) -> PortStats {
        self.raw.refresh_drops();
        let mut s = self.raw.stats;
        if let Tx::Ring(t) = &self.tx {
            let t = &t.raw.stats;
            s.tx_frames += t.tx_frames;
            s.tx_bytes += t.tx_bytes;
            s.tx_syscalls += t.tx_syscalls;
            s.tx_dropped += t.tx_dropped;
            s.tx_retries += t.tx_retries;
        }
        s
    }

    fn driver(&self) -> Driver {
        Driver::Ring
    }

    fn name(&self) -> &str {
        &self.raw.ifname
    }

    fn readable_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.raw.fd)
    }

    fn rx_ready(&self) -> bool {
        self.rx.ready()
    }
}
