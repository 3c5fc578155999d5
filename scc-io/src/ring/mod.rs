//! The `ring` backend: `PACKET_MMAP` rings shared with the kernel.
//!
//! - **RX, default: a TPACKET_V2 ring** ([`RingRx::V2`]) of one slot per frame
//!   (`cfg.ring_blocks * cfg.ring_block_size` bytes cut into slots that fit the interface MTU).
//!   A slot is the user's as soon as the kernel flips its status, so a lone frame is visible at
//!   once; `recv_batch` copies frames out of the slots into the batch and gives each slot back.
//!   Receiving makes **no system call**; only [`Port::wait_readable`] sleeps in `poll()`, and only
//!   when the next slot is empty.
//! - **RX, optional: a TPACKET_V3 ring** ([`RingRx::V3`]) of `cfg.ring_blocks` blocks. The
//!   kernel hands a block over when it is full or after `cfg.ring_block_timeout_ms`
//!   (at least 1 ms: the kernel's timer has millisecond resolution), so at low rates a frame
//!   waits up to that long.
//!
//! **Why V2 is the default (measured, see the crate README):** in a router over veth at
//! 20 kpps, one frame per send, the V3 ring's block timer puts p50 at 602-662 us against
//! 54 us for V2 (mmsg: 60 us), and the timer cannot go below 1 ms, so "small blocks and a short
//! timeout" cannot close that gap. V3 is cheaper in CPU: its own receive loop cost ~55 against
//! ~105 ns per frame in one run of benches/io.rs (25 against 25 in the next), and at 100 kpps a
//! V3 router wakes once per block timeout
//! instead of once per burst, so it used 1478-1549 ns of CPU per forwarded frame against
//! 2483-3636 ns for V2. Latency decides the default (the issue asks for `ring` within 1.1x of
//! `mmsg` in p50); [`RingRx::V3`] stays available for throughput-only uses.
//!
//! - **TX**: with `cfg.ring_tx_frames > 0`, a `TPACKET_V2` TX ring on a second, send-only socket
//!   (bound with protocol 0, so it receives nothing): frames are copied into ring slots and one
//!   `sendto` kick per batch sends them. With `cfg.ring_tx_frames == 0` (the default),
//!   `sendmmsg` on the RX socket (as the `mmsg` backend): four of five runs of `benches/io.rs`
//!   measured it at least as fast as the TX ring on veth (one, under load ~10, the opposite; see
//!   the crate README).
//!
//! A TX-ring slot stays busy until the kernel frees the frame it carries (on veth at once; a
//! device with a real queue holds frames longer). When no slot frees up within the bounded
//! retries, the frame is dropped and counted. A frame the kernel refuses is counted as dropped,
//! never as sent (see `tx.rs`: `PACKET_LOSS` is not used).

mod rx;
mod shared;
mod tx;

use std::time::Duration;

use crate::batch::Batch;
use crate::error::{IoError, Result};
use crate::mmsg::MsgArray;
use crate::port::{Driver, Port, PortConfig, PortStats};
use crate::sys::{self, Mmap, RawSocket, Role};
use rx::{Rx, RxV2, RxV3};
use shared::RingMem;
use tx::TxRing;

/// The default block retire timeout of a TPACKET_V3 RX ring ([`RingRx::V3`]), in milliseconds.
pub const RING_BLOCK_TIMEOUT_MS: u32 = 1;
/// Largest number of RX blocks or TX slots accepted.
pub const MAX_RING_ENTRIES: usize = 1 << 16;

/// `tp_frame_size` we declare for the V3 RX ring (only checked for consistency by the kernel).
const RX_FRAME_SIZE: usize = 2048;
/// Room in front of a frame in a V2 RX slot: `TPACKET_ALIGN(TPACKET2_HDRLEN)` plus the
/// kernel's 16-byte minimum MAC header reserve, rounded up.
const V2_SLOT_OVERHEAD: usize = 128;

/// Which `PACKET_MMAP` RX ring the `ring` backend uses (see the [module docs](self)).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RingRx {
    /// TPACKET_V2: one slot per frame, no block timer (low latency; the default).
    #[default]
    V2,
    /// TPACKET_V3: blocks handed over when full or after `ring_block_timeout_ms`.
    V3,
}

/// An `AF_PACKET` port with a `PACKET_MMAP` RX ring (TPACKET_V2 or V3) and a TPACKET_V2 TX ring
/// (or `sendmmsg`), see the [module docs](self). Open it with [`RingPort::open`] or
/// [`crate::open_port`] with [`Driver::Ring`].
#[derive(Debug)]
pub struct RingPort {
    raw: RawSocket,
    rx: Rx,
    tx: Tx,
    batch: usize,
}

/// How the ring port transmits.
#[derive(Debug)]
enum Tx {
    Ring(Box<TxRing>),
    Mmsg(MsgArray),
}

fn check_config(cfg: &PortConfig) -> Result<()> {
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
    if cfg.ring_rx == RingRx::V3 && !(1..=60_000).contains(&cfg.ring_block_timeout_ms) {
        return Err(IoError::BadRingConfig(format!(
            "ring_block_timeout_ms = {} (1..=60000)",
            cfg.ring_block_timeout_ms
        )));
    }
    Ok(())
}

/// The size of one V2 RX slot for frames of at most `max_frame` bytes (a power of two).
fn v2_slot(max_frame: usize) -> usize {
    (V2_SLOT_OVERHEAD + max_frame).next_power_of_two().max(2048)
}

fn ring_error(cfg: &PortConfig, e: std::io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::EINVAL) => IoError::BadRingConfig(format!(
            "the kernel rejected {} blocks of {} bytes",
            cfg.ring_blocks, cfg.ring_block_size
        )),
        _ => IoError::from_io("setsockopt(PACKET_RX_RING)", e),
    }
}

impl RingPort {
    /// Opens a port on `cfg.ifname` (see [`crate::open_port`] for the errors; also
    /// [`IoError::BadRingConfig`]).
    pub fn open(cfg: &PortConfig) -> Result<Self> {
        check_config(cfg)?;
        let raw = RawSocket::open(cfg, Role::RxTx)?;
        let rx = match cfg.ring_rx {
            RingRx::V2 => Rx::V2(open_v2(&raw, cfg)?),
            RingRx::V3 => Rx::V3(open_v3(&raw, cfg)?),
        };
        let tx = if cfg.ring_tx_frames > 0 {
            Tx::Ring(Box::new(TxRing::open(cfg, raw.info.mtu as usize)?))
        } else {
            Tx::Mmsg(MsgArray::new(cfg.batch))
        };
        raw.bind(Role::RxTx)?;
        Ok(RingPort {
            raw,
            rx,
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

    /// The RX ring in use.
    pub fn rx_ring(&self) -> RingRx {
        match self.rx {
            Rx::V2(_) => RingRx::V2,
            Rx::V3(_) => RingRx::V3,
        }
    }
}

fn open_v2(raw: &RawSocket, cfg: &PortConfig) -> Result<RxV2> {
    // Frames longer than the batch buffers are dropped anyway: size slots for what can be kept.
    let max_frame = (raw.info.mtu as usize + sys::ETH_HLEN + 4).min(cfg.frame_size);
    let slot = v2_slot(max_frame);
    if slot > cfg.ring_block_size {
        return Err(IoError::BadRingConfig(format!(
            "ring_block_size = {} is smaller than one TPACKET_V2 slot ({slot} bytes for frames of {max_frame} bytes)",
            cfg.ring_block_size
        )));
    }
    let per_block = cfg.ring_block_size / slot;
    let req = sys::TpacketReq {
        block_size: cfg.ring_block_size as u32,
        block_nr: cfg.ring_blocks as u32,
        frame_size: slot as u32,
        frame_nr: (per_block * cfg.ring_blocks) as u32,
    };
    sys::setsockopt_int(
        raw.fd,
        sys::SOL_PACKET,
        sys::PACKET_VERSION,
        sys::TPACKET_V2,
    )
    .map_err(|e| IoError::from_io("setsockopt(PACKET_VERSION)", e))?;
    sys::setsockopt_raw(raw.fd, sys::SOL_PACKET, sys::PACKET_RX_RING, &req)
        .map_err(|e| ring_error(cfg, e))?;
    let len = cfg.ring_block_size * cfg.ring_blocks;
    let map =
        Mmap::packet_ring(raw.fd, len).map_err(|e| IoError::from_io("mmap(PACKET_RX_RING)", e))?;
    Ok(RxV2 {
        mem: RingMem::new(map),
        slot,
        slots: per_block * cfg.ring_blocks,
        cur: 0,
    })
}

fn open_v3(raw: &RawSocket, cfg: &PortConfig) -> Result<RxV3> {
    let frame_size = RX_FRAME_SIZE.min(cfg.ring_block_size);
    let req = sys::TpacketReq3 {
        block_size: cfg.ring_block_size as u32,
        block_nr: cfg.ring_blocks as u32,
        frame_size: frame_size as u32,
        frame_nr: ((cfg.ring_block_size / frame_size) * cfg.ring_blocks) as u32,
        retire_blk_tov: cfg.ring_block_timeout_ms,
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
    sys::setsockopt_raw(raw.fd, sys::SOL_PACKET, sys::PACKET_RX_RING, &req)
        .map_err(|e| ring_error(cfg, e))?;
    let len = cfg.ring_block_size * cfg.ring_blocks;
    let map =
        Mmap::packet_ring(raw.fd, len).map_err(|e| IoError::from_io("mmap(PACKET_RX_RING)", e))?;
    Ok(RxV3 {
        mem: RingMem::new(map),
        block_size: cfg.ring_block_size,
        blocks: cfg.ring_blocks,
        cur: 0,
        open: false,
        left: 0,
        off: 0,
    })
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
}
