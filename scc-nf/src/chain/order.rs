//! The `chain-order` plan's NF loop: NFs that share a core run in chain order, one batch each,
//! then hand the core to the next NF ([`scc_sched::handoff`], a futex token in a shared file).
//!
//! A batch crosses the whole chain in one round, and no NF runs without its turn. Member 0 (the
//! first NF on the core) decides when the chain sleeps: when its input is empty and no member
//! processed a frame since its previous turn, it keeps the token and sleeps in poll() on its
//! port (so an idle chain costs no CPU); every [`crate::nf::SLEEP_SLICE`] without input it
//! passes the token once around anyway (a sweep, a few microseconds per NF) so that nothing can
//! stay behind in a later NF's queue. The other members sleep in `FUTEX_WAIT` until their turn.
//!
//! Waits are bounded: a member that sees no progress ([`Handoff::progress`]) for the hand-off
//! timeout while waiting gives up with [`NfError::HandoffStalled`], naming the holder, so a
//! crashed or stuck NF cannot freeze the rest; the launcher then reports it and tears down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use scc_sched::handoff::Handoff;

use crate::config::PollMode;
use crate::error::{NfError, Result};
use crate::nf::{Nf, NfCounters, SLEEP_SLICE};

/// Default hand-off timeout: how long a member waits without progress before giving up.
pub const DEFAULT_HANDOFF_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one futex wait lasts before the member checks its stop flag and the progress.
const WAIT_SLICE: Duration = Duration::from_millis(100);

/// One NF's place in a chain-order ring.
#[derive(Debug)]
pub struct ChainOrder {
    handoff: Handoff,
    timeout: Duration,
}

impl ChainOrder {
    /// Member `handoff.index()` of the ring, giving up after `timeout` without progress.
    pub fn new(handoff: Handoff, timeout: Duration) -> Self {
        Self { handoff, timeout }
    }

    /// The hand-off file.
    pub fn handoff(&self) -> &Handoff {
        &self.handoff
    }

    /// Runs `nf` in chain order until `stop` is set; returns its final counters.
    ///
    /// Errors: the NF's own I/O errors, [`NfError::HandoffStalled`] when the holder made no
    /// progress for the timeout.
    pub fn run(&self, nf: &mut Nf, stop: &AtomicBool) -> Result<NfCounters> {
        let h = &self.handoff;
        let head = h.index() == 0;
        let (poll, spin) = nf.poll_mode();
        let mut progress = h.progress();
        let mut since = Instant::now();
        let mut mark = h.work();
        let mut last_frame = Instant::now();
        while !stop.load(Ordering::Relaxed) {
            let mine = h
                .wait_turn(WAIT_SLICE)
                .map_err(|e| NfError::Io(scc_io::IoError::from_io("futex", e)))?;
            if !mine {
                let p = h.progress();
                if p != progress {
                    progress = p;
                    since = Instant::now();
                } else if since.elapsed() >= self.timeout {
                    let holder = h.holder();
                    return Err(NfError::HandoffStalled {
                        holder,
                        pid: h.pid(holder),
                        waited: since.elapsed(),
                    });
                }
                nf.write_stats(0, false)?;
                continue;
            }
            let mut n = nf.poll_once()?;
            if n > 0 {
                last_frame = Instant::now();
            }
            if head && n == 0 && h.work() == mark {
                let sleep = match poll {
                    PollMode::Busy => false,
                    PollMode::Sleep => true,
                    PollMode::Adaptive => last_frame.elapsed() >= spin,
                };
                if sleep {
                    // The whole chain is idle: sleep on our port, holding the token.
                    h.heartbeat();
                    if nf.wait_input(SLEEP_SLICE)? {
                        n = nf.poll_once()?;
                        last_frame = Instant::now();
                    }
                }
            }
            h.add_work(n as u64);
            if head {
                mark = h.work();
            }
            h.pass();
            progress = h.progress();
            since = Instant::now();
            nf.write_stats(n, false)?;
        }
        nf.write_stats(0, true)?;
        Ok(nf.counters())
    }
}
