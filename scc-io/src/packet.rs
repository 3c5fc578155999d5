//! The `packet` backend: one `recvfrom`/`sendto` per frame on an `AF_PACKET` socket.
//!
//! This is the paper's baseline (batch size 1 in system calls): a batch of N frames costs N
//! system calls each way (plus one that finds the socket empty when fewer than N are waiting).

use std::time::Duration;

use crate::batch::Batch;
use crate::error::Result;
use crate::port::{Driver, Port, PortConfig, PortStats};
use crate::sys::{self, RawSocket, Role, TxOutcome};

/// An `AF_PACKET` port that makes one system call per frame. Open it with
/// [`PacketPort::open`] or [`crate::open_port`] with [`Driver::Packet`].
#[derive(Debug)]
pub struct PacketPort {
    raw: RawSocket,
    batch: usize,
}

impl PacketPort {
    /// Opens a port on `cfg.ifname` (see [`crate::open_port`] for the errors).
    pub fn open(cfg: &PortConfig) -> Result<Self> {
        let raw = RawSocket::open(cfg, Role::RxTx)?;
        raw.bind(Role::RxTx)?;
        Ok(Self {
            raw,
            batch: cfg.batch,
        })
    }

    /// The interface MTU read at open time.
    pub fn mtu(&self) -> u32 {
        self.raw.info.mtu
    }
}

impl Port for PacketPort {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        if let Some(e) = self.raw.pending.take() {
            return Err(e);
        }
        let want = batch.remaining().min(self.batch);
        if want == 0 {
            return Ok(0);
        }
        let st = &mut self.raw.stats;
        let mut n = 0;
        while n < want {
            let Some(buf) = batch.next_slot_mut() else {
                break;
            };
            let cap = buf.len();
            st.rx_syscalls += 1;
            match sys::recv(self.raw.fd, buf) {
                Ok(len) if len <= cap => {
                    batch.commit(len)?;
                    st.rx_frames += 1;
                    st.rx_bytes += len as u64;
                    n += 1;
                }
                // Larger than our buffer: the kernel truncated it; dropped and counted.
                Ok(_) => st.kernel_drops += 1,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let err = self.raw.map_err("recvfrom", e);
                    if n == 0 {
                        return Err(err);
                    }
                    self.raw.pending = Some(err);
                    break;
                }
            }
        }
        if n == 0 {
            self.raw.stats.empty_polls += 1;
        }
        Ok(n)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        let mut out = TxOutcome::new();
        let mut iter = indices.iter();
        while let Some(&i) = iter.next() {
            let Some(frame) = batch.get(i as usize) else {
                continue;
            };
            let cap = self.raw.max_tx_len(frame);
            if sys::check_tx_frame(frame, cap, &mut self.raw.stats, &mut out).is_err() {
                continue;
            }
            loop {
                self.raw.stats.tx_syscalls += 1;
                match sys::send(self.raw.fd, frame) {
                    Ok(_) => {
                        out.sent += 1;
                        self.raw.stats.tx_frames += 1;
                        self.raw.stats.tx_bytes += frame.len() as u64;
                        break;
                    }
                    Err(e) if sys::is_transient(&e) => {
                        if !out.retry(&mut self.raw) {
                            TxOutcome::congested(&mut self.raw.stats, 1);
                            break;
                        }
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EMSGSIZE) => {
                        self.raw.stats.tx_dropped += 1;
                        out.oversize.get_or_insert((frame.len(), cap));
                        break;
                    }
                    Err(e) => {
                        // A hard error (interface down or gone): this frame and the rest of the
                        // call are dropped and counted, and the error is returned.
                        let rest =
                            iter.filter(|&&j| batch.get(j as usize).is_some()).count() as u64;
                        self.raw.stats.tx_dropped += 1 + rest;
                        return Err(self.raw.map_err("sendto", e));
                    }
                }
            }
        }
        out.finish()
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.raw.wait_readable(timeout)
    }

    fn stats(&mut self) -> PortStats {
        self.raw.refresh_drops();
        self.raw.stats
    }

    fn driver(&self) -> Driver {
        Driver::Packet
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

    /// Transient TX failures (a peer that never reads: EAGAIN) are retried a bounded number of
    /// times, then dropped and counted: sent + dropped == offered, and the peer holds exactly
    /// the frames counted as sent.
    #[test]
    fn congested_sends_are_counted_never_lost() {
        let (a, b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        let mut p = PacketPort {
            raw: RawSocket::for_test(a),
            batch: 32,
        };
        let mut out = Batch::new(32, 2048).unwrap();
        for i in 0..32u8 {
            out.push(&[i; 64]).unwrap();
        }
        let mut sent = 0;
        for _ in 0..10 {
            sent += p.send_frames(&out, &ALL_INDICES[..32]).unwrap();
        }
        let s = p.stats();
        assert_eq!(s.tx_frames as usize, sent);
        assert_eq!(s.tx_frames + s.tx_dropped, 320);
        assert!(s.tx_dropped > 0 && s.tx_retries > 0, "{s:?}");
        assert_eq!(s.tx_syscalls, 320 + 2 * s.tx_retries); // each retry: a poll and a resend
        b.set_nonblocking(true).unwrap();
        let mut got = 0;
        let mut buf = [std::mem::MaybeUninit::new(0u8); 128];
        while b.recv(&mut buf).is_ok() {
            got += 1;
        }
        assert_eq!(got, sent);
    }

    /// Under TX congestion (a peer that never reads) one send call waits a bounded number of
    /// times, each wait bounded, so the call blocks for at most the wait budget: counted here
    /// (retries per call, no wall-clock bound, so the test cannot flake on a loaded machine),
    /// with the per-wait timeout times the retry count within the budget. What could not be
    /// sent is counted as congested.
    #[test]
    fn congested_send_is_bounded_per_call_and_counted() {
        let (a, _b) = Socket::pair(Domain::UNIX, Type::DGRAM, None).unwrap();
        let mut p = PacketPort {
            raw: RawSocket::for_test(a),
            batch: 32,
        };
        let mut out = Batch::new(32, 2048).unwrap();
        for i in 0..32u8 {
            out.push(&[i; 64]).unwrap();
        }
        let (fill, before, _) = crate::sys::congested_sends(&mut p, &out, 32);
        let s = p.stats();
        assert_eq!(s.tx_frames + s.tx_dropped, (fill + 7) * 32);
        assert!(s.tx_congested > before.tx_congested, "{s:?}");
        // No short or oversize frames here: every drop is a congestion drop.
        assert_eq!(s.tx_congested, s.tx_dropped);
    }
}
