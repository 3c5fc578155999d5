//! The TPACKET_V2 TX ring on a send-only socket, with one `sendto` kick per batch.
//!
//! `PACKET_LOSS` is **not** set: with it the kernel marks a frame it cannot send (malformed, or
//! longer than the device takes) `TP_STATUS_AVAILABLE`, exactly like a sent one, so it would be
//! counted as sent. Without it the kernel stops at such a frame, marks it
//! `TP_STATUS_WRONG_FORMAT` and fails the kick; [`TxRing::kick`] then counts that frame as
//! dropped, moves the frames queued behind it one slot back (the kernel's ring position stays at
//! the bad slot) and kicks again.

use super::shared::RingMem;
use crate::batch::Batch;
use crate::error::{IoError, Result};
use crate::port::PortConfig;
use crate::sys::{self, Mmap, RawSocket, Role, TX_RETRY_WAIT, TxOutcome};

const TP_STATUS_AVAILABLE: u32 = 0;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_WRONG_FORMAT: u32 = 4;
/// Offset of the frame data in a V2 TX slot: `TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)`.
const TX_DATA_OFF: usize = 32;
// Offsets in `struct tpacket2_hdr`.
const H2_LEN: usize = 4;
const H2_SNAPLEN: usize = 8;

/// The TPACKET_V2 TX ring and its send-only socket.
#[derive(Debug)]
pub(crate) struct TxRing {
    pub raw: RawSocket,
    mem: RingMem,
    slot: usize,
    slots: usize,
    /// Next slot we write.
    head: usize,
    /// Capacity of a slot's data area.
    data_cap: usize,
}

impl TxRing {
    pub(crate) fn open(cfg: &PortConfig, mtu: usize) -> Result<TxRing> {
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
        sys::setsockopt_raw(raw.fd, sys::SOL_PACKET, sys::PACKET_TX_RING, &req)
            .map_err(|e| IoError::from_io("setsockopt(PACKET_TX_RING)", e))?;
        let map = Mmap::packet_ring(raw.fd, block * block_nr)
            .map_err(|e| IoError::from_io("mmap(PACKET_TX_RING)", e))?;
        raw.bind(Role::TxOnly)?;
        Ok(TxRing {
            raw,
            mem: RingMem::new(map),
            slot,
            slots: block_nr * per_block,
            head: 0,
            data_cap: slot - TX_DATA_OFF,
        })
    }

    fn status(&self, s: usize) -> u32 {
        self.mem.status(s * self.slot)
    }

    /// Copies `frame` into slot `s` and hands it to the kernel (SEND_REQUEST).
    fn fill(&mut self, s: usize, frame: &[u8]) {
        let base = s * self.slot;
        if let Some(dst) = self.mem.bytes_mut(base + TX_DATA_OFF, frame.len()) {
            dst.copy_from_slice(frame);
        }
        self.mem.set_u32(base + H2_LEN, frame.len() as u32);
        self.mem.set_u32(base + H2_SNAPLEN, frame.len() as u32);
        self.mem.set_status(base, TP_STATUS_SEND_REQUEST);
    }

    pub(crate) fn send(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
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
            if self.status(self.head) != TP_STATUS_AVAILABLE {
                // Ring full: send what we wrote, then wait (bounded) for a slot to free up.
                if written > 0 {
                    if let Err(e) = self.kick(&mut first, &mut written, &mut out) {
                        self.drop_rest(idx, batch);
                        return Err(e);
                    }
                }
                while self.status(self.head) != TP_STATUS_AVAILABLE && out.retries_left > 0 {
                    out.retries_left -= 1;
                    self.raw.stats.tx_retries += 1;
                    self.raw.wait_writable(TX_RETRY_WAIT);
                }
                if self.status(self.head) != TP_STATUS_AVAILABLE {
                    self.raw.stats.tx_dropped += 1;
                    continue;
                }
                first = self.head;
            }
            self.fill(self.head, frame);
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
            let mut wrong_format = false;
            while c < *written {
                let s = (*first + c) % self.slots;
                match self.status(s) {
                    TP_STATUS_AVAILABLE => {}
                    TP_STATUS_WRONG_FORMAT => {
                        wrong_format = true;
                        break;
                    }
                    _ => break, // SEND_REQUEST (not reached) or SENDING
                }
                self.raw.stats.tx_bytes += u64::from(self.mem.u32_at(s * self.slot + H2_LEN));
                c += 1;
            }
            self.raw.stats.tx_frames += c as u64;
            out.sent += c;
            *first = (*first + c) % self.slots;
            *written -= c;
            if wrong_format {
                self.skip_wrong_format(*first, written, out);
                if *written == 0 {
                    return Ok(());
                }
                continue;
            }
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
                self.mem.set_status(s * self.slot, TP_STATUS_AVAILABLE);
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

    /// The kernel refused the frame in slot `bad` (`TP_STATUS_WRONG_FORMAT`) and stays there:
    /// counts it as dropped (reported like an oversize frame), moves the `written - 1` frames
    /// queued behind it one slot back and frees the last slot.
    fn skip_wrong_format(&mut self, bad: usize, written: &mut usize, out: &mut TxOutcome) {
        let base = bad * self.slot;
        let len = self.mem.u32_at(base + H2_LEN) as usize;
        self.raw.stats.tx_dropped += 1;
        out.oversize
            .get_or_insert((len, self.raw.info.mtu as usize + sys::ETH_HLEN));
        for c in 1..*written {
            let from = (bad + c) % self.slots;
            let to = (bad + c - 1) % self.slots;
            let flen = self.mem.u32_at(from * self.slot + H2_LEN) as usize;
            let flen = flen.min(self.data_cap);
            self.move_slot(from, to, flen);
        }
        let last = (bad + *written - 1) % self.slots;
        self.mem.set_status(last * self.slot, TP_STATUS_AVAILABLE);
        self.head = last;
        *written -= 1;
    }

    /// Copies the frame of slot `from` (`len` bytes) into slot `to` and requests its sending
    /// (both slots are ours: the kernel stopped before them).
    fn move_slot(&mut self, from: usize, to: usize, len: usize) {
        let whole = self.mem.len();
        if let Some(all) = self.mem.bytes_mut(0, whole) {
            let a = from * self.slot + TX_DATA_OFF;
            let b = to * self.slot + TX_DATA_OFF;
            if a + len <= whole && b + len <= whole {
                all.copy_within(a..a + len, b);
            }
        }
        let base = to * self.slot;
        self.mem.set_u32(base + H2_LEN, len as u32);
        self.mem.set_u32(base + H2_SNAPLEN, len as u32);
        self.mem.set_status(base, TP_STATUS_SEND_REQUEST);
    }

    fn drop_rest(&mut self, rest: std::slice::Iter<'_, u16>, batch: &Batch) {
        let n = rest.filter(|&&j| batch.get(j as usize).is_some()).count();
        self.raw.stats.tx_dropped += n as u64;
    }
}
