//! The `mmsg` backend: `recvmmsg`/`sendmmsg` over `mmsghdr`/`iovec` arrays allocated once, at
//! open time, for the configured batch size (the paper's I/O multiplexing, §5.1.1).
//!
//! Receive: one `recvmmsg(MSG_DONTWAIT)` fills up to `min(batch.remaining(), cfg.batch)` frames
//! straight into the batch's buffers and returns at once with what was waiting. Transmit: one
//! `sendmmsg(MSG_DONTWAIT)` per `cfg.batch` frames; a partial send continues from the first
//! unsent frame, transient failures (EAGAIN/ENOBUFS) are retried a bounded number of times, and
//! whatever still cannot be sent is counted in [`PortStats::tx_dropped`].

use std::io;
use std::time::Duration;

use crate::batch::Batch;
use crate::error::Result;
use crate::port::{Driver, Port, PortConfig, PortStats};
use crate::sys::{self, RawSocket, Role, TxOutcome};

/// Pre-allocated `mmsghdr`s, each pointing at its own single `iovec`.
pub(crate) struct MsgArray {
    hdrs: Box<[libc::mmsghdr]>,
    iov: Box<[libc::iovec]>,
}

impl std::fmt::Debug for MsgArray {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgArray")
            .field("capacity", &self.hdrs.len())
            .finish()
    }
}

// SAFETY: the raw pointers inside are either null, point into `iov` (owned by the same struct,
// heap-allocated so moving the struct keeps them valid), or point into a batch only for the
// duration of one system call made through `&mut self`.
unsafe impl Send for MsgArray {}

impl MsgArray {
    /// `n` headers, each with one iovec (n >= 1, validated by the caller's config).
    pub(crate) fn new(n: usize) -> Self {
        let mut iov: Box<[libc::iovec]> = (0..n)
            .map(|_| libc::iovec {
                iov_base: std::ptr::null_mut(),
                iov_len: 0,
            })
            .collect();
        let hdrs = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: `mmsghdr` is a plain C struct of integers and pointers, for which all
                // zero bytes is a valid value (null pointers, zero lengths).
                let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
                h.msg_hdr.msg_iov = v as *mut libc::iovec;
                h.msg_hdr.msg_iovlen = 1;
                h
            })
            .collect();
        Self { hdrs, iov }
    }

    /// Number of headers.
    pub(crate) fn capacity(&self) -> usize {
        self.hdrs.len()
    }

    /// Receives up to `min(batch.remaining(), capacity)` frames with one `recvmmsg`.
    pub(crate) fn recv(&mut self, raw: &mut RawSocket, batch: &mut Batch) -> Result<usize> {
        if let Some(e) = raw.pending.take() {
            return Err(e);
        }
        let k = batch.remaining().min(self.capacity());
        if k == 0 {
            return Ok(0);
        }
        let frame_size = batch.frame_size();
        let iov = &mut self.iov;
        batch.spare_raw(k, |i, p, cap| {
            iov[i].iov_base = p.cast();
            iov[i].iov_len = cap;
        });
        for h in &mut self.hdrs[..k] {
            h.msg_len = 0;
            h.msg_hdr.msg_flags = 0;
        }
        raw.stats.rx_syscalls += 1;
        // SAFETY: headers 0..k each point to one iovec that `spare_raw` just set to a distinct,
        // writable receive area of `frame_size` bytes inside `batch`, which stays borrowed
        // mutably (so alive and unaliased) for the whole call; no address buffers are given.
        let r = unsafe {
            libc::recvmmsg(
                raw.fd,
                self.hdrs.as_mut_ptr(),
                k as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => {
                    raw.stats.empty_polls += 1;
                    Ok(0)
                }
                _ => Err(raw.map_err("recvmmsg", e)),
            };
        }
        let r = (r as usize).min(k);
        let start = batch.len();
        let mut truncated = 0;
        let mut committed = 0;
        for h in &self.hdrs[..r] {
            let len = h.msg_len as usize;
            // The `r` frames have left the kernel. `commit` cannot fail (`r <= k <=
            // batch.remaining()` and the length is clamped to the frame size), but should it
            // ever, the frames left are counted rather than lost behind an error.
            if batch.commit(len.min(frame_size)).is_err() {
                raw.stats.rx_dropped += (r - committed) as u64;
                break;
            }
            committed += 1;
            if h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0 || len > frame_size {
                truncated += 1;
            } else {
                raw.stats.rx_bytes += len as u64;
            }
        }
        if truncated > 0 {
            // Frames larger than our buffers arrived truncated: drop and count them. The
            // committed frames are `start..start + committed`, matching `hdrs[..committed]`.
            let hdrs = &self.hdrs[..committed];
            batch.retain(|i, _| {
                i < start
                    || hdrs.get(i - start).is_none_or(|h| {
                        h.msg_hdr.msg_flags & libc::MSG_TRUNC == 0
                            && h.msg_len as usize <= frame_size
                    })
            });
            raw.stats.kernel_drops += truncated as u64;
        }
        let n = committed - truncated;
        raw.stats.rx_frames += n as u64;
        Ok(n)
    }

    /// Sends the frames of `batch` listed in `indices` with one `sendmmsg` per `capacity` frames.
    pub(crate) fn send(
        &mut self,
        raw: &mut RawSocket,
        batch: &Batch,
        indices: &[u16],
    ) -> Result<usize> {
        let mut out = TxOutcome::new();
        let mut idx = indices.iter();
        loop {
            let mut k = 0;
            while k < self.capacity() {
                let Some(&i) = idx.next() else { break };
                let Some(frame) = batch.get(i as usize) else {
                    continue;
                };
                let cap = raw.max_tx_len(frame);
                if sys::check_tx_frame(frame, cap, &mut raw.stats, &mut out).is_err() {
                    continue;
                }
                self.iov[k].iov_base = frame.as_ptr() as *mut libc::c_void;
                self.iov[k].iov_len = frame.len();
                k += 1;
            }
            if k == 0 {
                break;
            }
            if let Err(e) = self.flush(raw, k, &mut out) {
                let rest = idx.filter(|&&j| batch.get(j as usize).is_some()).count() as u64;
                raw.stats.tx_dropped += rest;
                return Err(e);
            }
        }
        out.finish()
    }

    /// Sends the `k` prepared frames; see the module docs for the retry/drop policy.
    fn flush(&mut self, raw: &mut RawSocket, k: usize, out: &mut TxOutcome) -> Result<()> {
        let mut off = 0;
        while off < k {
            raw.stats.tx_syscalls += 1;
            // SAFETY: headers off..k point to their own iovecs, which `send` just set to frames
            // of `batch`, borrowed for the whole `send` call; the kernel only reads them. `off < k
            // <= capacity` keeps the pointer and count inside `hdrs`.
            let r = unsafe {
                libc::sendmmsg(
                    raw.fd,
                    self.hdrs.as_mut_ptr().add(off),
                    (k - off) as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if r > 0 {
                let r = (r as usize).min(k - off);
                let bytes: usize = self.iov[off..off + r].iter().map(|v| v.iov_len).sum();
                raw.stats.tx_frames += r as u64;
                raw.stats.tx_bytes += bytes as u64;
                out.sent += r;
                off += r;
                continue;
            }
            let e = if r == 0 {
                io::Error::from_raw_os_error(libc::EAGAIN)
            } else {
                io::Error::last_os_error()
            };
            if sys::is_transient(&e) {
                if !out.retry(raw) {
                    // Still congested after the call's retry and wait budget: drop the rest of
                    // this chunk (counted), so the caller gets back to its input.
                    TxOutcome::congested(&mut raw.stats, (k - off) as u64);
                    off = k;
                }
            } else if e.raw_os_error() == Some(libc::EMSGSIZE) {
                // The MTU shrank since open: drop this frame, report it, go on.
                raw.stats.tx_dropped += 1;
                let len = self.iov[off].iov_len;
                out.oversize
                    .get_or_insert((len, raw.info.mtu as usize + sys::ETH_HLEN));
                off += 1;
            } else {
                raw.stats.tx_dropped += (k - off) as u64;
                return Err(raw.map_err("sendmmsg", e));
            }
        }
        Ok(())
    }
}

/// An `AF_PACKET` port that moves a batch per system call with `recvmmsg`/`sendmmsg`. Open it
/// with [`MmsgPort::open`] or [`crate::open_port`] with [`Driver::Mmsg`].
#[derive(Debug)]
pub struct MmsgPort {
    raw: RawSocket,
    rx: MsgArray,
    tx: MsgArray,
}

impl MmsgPort {
    /// Opens a port on `cfg.ifname` with `cfg.batch` pre-allocated message headers each way
    /// (see [`crate::open_port`] for the errors).
    pub fn open(cfg: &PortConfig) -> Result<Self> {
        let raw = RawSocket::open(cfg, Role::RxTx)?;
        raw.bind(Role::RxTx)?;
        Ok(Self {
            raw,
            rx: MsgArray::new(cfg.batch),
            tx: MsgArray::new(cfg.batch),
        })
    }

    /// The interface MTU read at open time.
    pub fn mtu(&self) -> u32 {
        self.raw.info.mtu
    }
}

impl Port for MmsgPort {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        self.rx.recv(&mut self.raw, batch)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        self.tx.send(&mut self.raw, batch, indices)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.raw.wait_readable(timeout)
    }

    fn stats(&mut self) -> PortStats {
        self.raw.refresh_drops();
        self.raw.stats
    }

    fn driver(&self) -> Driver {
        Driver::Mmsg
    }

    fn name(&self) -> &str {
        &self.raw.ifname
    }

    fn readable_fd(&self) -> Option<std::os::fd::RawFd> {
        Some(self.raw.fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::port::ALL_INDICES;
    use socket2::{Domain, Socket, Type};

    /// An mmsg port on one end of a Unix datagram socket pair, with `n` message slots each way.
    fn port_on(sock: Socket, n: usize) -> MmsgPort {
        MmsgPort {
            raw: RawSocket::for_test(sock),
            rx: MsgArray::new(n),
            tx: MsgArray::new(n),
        }
    }

    /// A batch of 64 distinct 64-byte frames (frame `i` is 64 bytes of `i`).
    fn frames64() -> Batch {
        let mut out = Batch::new(64, 2048).unwrap();
        for i in 0..64u8 {
            out.push(&[i; 64]).unwrap();
        }
        out
    }

    /// Partial `sendmmsg` and EAGAIN (a peer that never reads): bounded retries, then counted
    /// drops; sent + dropped == offered and the peer holds exactly the frames counted as sent.
    #[test]
    fn partial_and_congested_sends_are_counted_never_lost() {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        let mut p = port_on(a, 32);
        let out = frames64();
        let mut sent = 0;
        for _ in 0..5 {
            sent += p.send_frames(&out, &ALL_INDICES[..64]).unwrap();
        }
        let s = p.stats();
        assert_eq!(s.tx_frames as usize, sent);
        assert_eq!(s.tx_frames + s.tx_dropped, 320);
        assert!(s.tx_dropped > 0 && s.tx_retries > 0, "{s:?}");
        b.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        let mut buf = [std::mem::MaybeUninit::new(0u8); 128];
        while let Ok(n) = b.recv(&mut buf) {
            assert_eq!(n, 64);
            // SAFETY: recv initialised the first n bytes.
            got.push(unsafe { buf[0].assume_init() });
        }
        assert_eq!(got.len(), sent);
        // What was sent went in order (a prefix of the offered frames per call).
        assert_eq!(got[0], 0);
    }

    /// Receiving into a batch that is already full makes no system call.
    #[test]
    fn full_batch_makes_no_syscall() {
        let (a, _b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        let mut p = port_on(a, 4);
        let mut full = Batch::new(1, 64).unwrap();
        full.push(&[0; 14]).unwrap();
        assert_eq!(p.recv_batch(&mut full).unwrap(), 0);
        let mut empty = Batch::new(4, 64).unwrap();
        assert_eq!(p.recv_batch(&mut empty).unwrap(), 0);
        let s = p.stats();
        assert_eq!((s.rx_syscalls, s.empty_polls), (1, 1));
    }

    /// RX accounting at the edges (frames of exactly the buffer size, one byte over, a batch
    /// with fewer free places than waiting frames): every frame the peer sent is received or
    /// counted as dropped, by the peer's count and the port's counters.
    #[test]
    fn every_frame_taken_is_received_or_counted() {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        let mut p = port_on(a, 8);
        let lens = [64usize, 65, 14, 64, 1000, 63, 64];
        let mut peer_sent = 0u64;
        for &len in &lens {
            b.send(&vec![len as u8; len]).unwrap();
            peer_sent += 1;
        }
        let mut batch = Batch::new(4, 64).unwrap();
        batch.push(&[0xee; 20]).unwrap(); // 3 free places
        let mut got = Vec::new();
        loop {
            let n = p.recv_batch(&mut batch).unwrap();
            got.extend(batch.iter().skip(batch.len() - n).map(<[u8]>::len));
            if n == 0 && p.raw.stats.empty_polls > 0 {
                break;
            }
            batch.clear();
        }
        assert_eq!(got, vec![64, 14, 64, 63, 64]);
        let s = p.stats();
        assert_eq!(s.rx_frames, got.len() as u64);
        assert_eq!(s.kernel_drops, 2);
        assert_eq!(s.rx_dropped, 0);
        assert_eq!(peer_sent, s.rx_frames + s.kernel_drops + s.rx_dropped);
        assert_eq!(s.rx_bytes, got.iter().sum::<usize>() as u64);
    }

    /// Under TX congestion (a peer that never reads) one send call waits a bounded number of
    /// times, each wait bounded, so the call blocks for at most the wait budget: counted here
    /// (retries per call, no wall-clock bound, so the test cannot flake on a loaded machine),
    /// with the per-wait timeout times the retry count within the budget. What could not be
    /// sent is counted as congested.
    #[test]
    fn congested_send_is_bounded_per_call_and_counted() {
        let (a, _b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        let mut p = port_on(a, 32);
        let out = frames64();
        let (fill, before, sent) = crate::sys::congested_sends(&mut p, &out, 64);
        let s = p.stats();
        assert_eq!(s.tx_frames, before.tx_frames + sent);
        assert_eq!(s.tx_frames + s.tx_dropped, (fill + 7) * 64);
        assert!(s.tx_congested > before.tx_congested, "{s:?}");
        // No short or oversize frames here: every drop is a congestion drop.
        assert_eq!(s.tx_congested, s.tx_dropped);
    }
}
