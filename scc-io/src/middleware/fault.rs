//! [`FaultInjector`]: seeded drops, truncation, corruption, reordering and call failures.

use std::io;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::valid;
use crate::batch::{Batch, MAX_BATCH};
use crate::error::{IoError, Result};
use crate::port::{Driver, Port, PortStats};

/// Fault probabilities of one direction, each in `0.0..=1.0`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultRates {
    /// Per frame: the frame disappears (RX: after the wrapped port received it; TX: it is not
    /// handed to the wrapped port).
    pub drop: f64,
    /// Per frame: the frame is cut to a random shorter length (possibly 0).
    pub truncate: f64,
    /// Per frame: one random byte is changed.
    pub corrupt: f64,
    /// Per frame: the frame swaps places with another random frame of the same call.
    pub reorder: f64,
    /// Per call: the call fails with one of [`FaultConfig::errors`] before the wrapped port is
    /// touched (so no frame is taken or sent by it).
    pub fail: f64,
}

impl FaultRates {
    fn validate(&self, dir: &str) -> Result<()> {
        for (name, p) in [
            ("drop", self.drop),
            ("truncate", self.truncate),
            ("corrupt", self.corrupt),
            ("reorder", self.reorder),
            ("fail", self.fail),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(IoError::BadFaultConfig(format!(
                    "{dir}.{name} = {p}: must be between 0 and 1"
                )));
            }
        }
        Ok(())
    }

    /// True when a frame may be changed or moved (so TX needs a private copy or index list).
    fn edits_frames(&self) -> bool {
        self.drop > 0.0 || self.truncate > 0.0 || self.corrupt > 0.0 || self.reorder > 0.0
    }
}

/// How a [`FaultInjector`] misbehaves.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultConfig {
    /// Seed of the random choices: the same seed and the same calls give the same faults.
    pub seed: u64,
    /// Faults on receive.
    pub rx: FaultRates,
    /// Faults on send.
    pub tx: FaultRates,
    /// The OS errors (errno values) a failing call returns, picked at random; default EAGAIN,
    /// ENOBUFS and EIO.
    pub errors: Vec<i32>,
}

impl Default for FaultConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            rx: FaultRates::default(),
            tx: FaultRates::default(),
            errors: vec![libc::EAGAIN, libc::ENOBUFS, libc::EIO],
        }
    }
}

impl FaultConfig {
    /// Checks the rates (each in `0..=1`) and that there is an error to inject when a `fail`
    /// rate is set.
    ///
    /// Errors: [`IoError::BadFaultConfig`].
    pub fn validate(&self) -> Result<()> {
        self.rx.validate("rx")?;
        self.tx.validate("tx")?;
        if (self.rx.fail > 0.0 || self.tx.fail > 0.0) && self.errors.is_empty() {
            return Err(IoError::BadFaultConfig(
                "a fail rate is set but `errors` is empty".into(),
            ));
        }
        Ok(())
    }
}

/// What a [`FaultInjector`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FaultStats {
    /// Received frames removed before the caller saw them.
    pub rx_dropped: u64,
    /// Received frames cut short.
    pub rx_truncated: u64,
    /// Received frames with one byte changed.
    pub rx_corrupted: u64,
    /// Received frames moved (each swap counts once).
    pub rx_reordered: u64,
    /// `recv_batch` calls failed.
    pub rx_failed: u64,
    /// Frames handed to send and dropped before the wrapped port.
    pub tx_dropped: u64,
    /// Frames sent cut short.
    pub tx_truncated: u64,
    /// Frames sent with one byte changed.
    pub tx_corrupted: u64,
    /// Frames sent out of order (each swap counts once).
    pub tx_reordered: u64,
    /// `send_frames` calls failed.
    pub tx_failed: u64,
    /// Frames of the failed `send_frames` calls (none was sent).
    pub tx_failed_frames: u64,
}

/// A [`Port`] that injects faults at seeded rates into the calls it passes to the port it
/// wraps, and counts them ([`FaultInjector::faults`]).
///
/// Its [`Port::stats`] are the wrapped port's, corrected so that the usual identities hold
/// for the caller: frames it dropped on receive move from `rx_frames` (and their bytes from
/// `rx_bytes`) to `kernel_drops` (lost before the caller saw them), and frames it dropped on
/// send or that a failed send call did not send are added to `tx_dropped` (as a port does for
/// a hard error).
///
/// ```
/// use scc_io::middleware::{FaultConfig, FaultInjector, FaultRates};
/// use scc_io::{Batch, Port};
///
/// let (a, mut b) = scc_io::mem::pair("a", "b", 64, 256).unwrap();
/// let cfg = FaultConfig {
///     seed: 7,
///     tx: FaultRates { drop: 0.5, ..FaultRates::default() },
///     ..FaultConfig::default()
/// };
/// let mut a = FaultInjector::new(a, cfg).unwrap();
/// let mut out = Batch::new(32, 256).unwrap();
/// for _ in 0..32 {
///     out.push(&[0; 60]).unwrap();
/// }
/// let sent = a.send_batch(&out).unwrap() as u64;
/// let mut inb = Batch::new(64, 256).unwrap();
/// assert_eq!(b.recv_batch(&mut inb).unwrap() as u64, sent);
/// assert_eq!(sent + a.faults().tx_dropped, 32);
/// assert_eq!(a.stats().tx_frames + a.stats().tx_dropped, 32);
/// ```
#[derive(Debug)]
pub struct FaultInjector<P> {
    inner: P,
    cfg: FaultConfig,
    rng: SmallRng,
    faults: FaultStats,
    /// Bytes of the frames dropped on receive (to correct `rx_bytes`).
    rx_dropped_bytes: u64,
    /// Index list of a TX call after drops and swaps (allocated once, `MAX_BATCH` entries).
    idx: Vec<u16>,
    /// Private copies of TX frames that get truncated or corrupted (allocated on first use).
    scratch: Option<Batch>,
}

impl<P: Port> FaultInjector<P> {
    /// Wraps `inner`.
    ///
    /// Errors: [`IoError::BadFaultConfig`] (see [`FaultConfig::validate`]).
    pub fn new(inner: P, cfg: FaultConfig) -> Result<Self> {
        cfg.validate()?;
        Ok(Self {
            inner,
            rng: SmallRng::seed_from_u64(cfg.seed),
            cfg,
            faults: FaultStats::default(),
            rx_dropped_bytes: 0,
            idx: Vec::with_capacity(MAX_BATCH),
            scratch: None,
        })
    }

    /// What the injector did so far.
    pub fn faults(&self) -> FaultStats {
        self.faults
    }

    /// The wrapped port.
    pub fn get_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// Returns the wrapped port.
    pub fn into_inner(self) -> P {
        self.inner
    }

    fn roll(rng: &mut SmallRng, p: f64) -> bool {
        p > 0.0 && rng.random::<f64>() < p
    }

    fn error(&mut self, call: &'static str) -> IoError {
        let k = self.rng.random_range(0..self.cfg.errors.len().max(1));
        let errno = self.cfg.errors.get(k).copied().unwrap_or(libc::EIO);
        IoError::from_io(call, io::Error::from_raw_os_error(errno))
    }

    /// Cuts `frame` (in `batch` at `i`) to a random shorter length; false for an empty frame.
    fn truncate(rng: &mut SmallRng, batch: &mut Batch, i: usize) -> bool {
        let len = batch.frame(i).len();
        len > 0 && batch.set_len(i, rng.random_range(0..len))
    }

    /// Changes one random byte of frame `i`; false for an empty frame.
    fn corrupt(rng: &mut SmallRng, batch: &mut Batch, i: usize) -> bool {
        let f = batch.frame_mut(i);
        if f.is_empty() {
            return false;
        }
        let at = rng.random_range(0..f.len());
        f[at] ^= rng.random_range(1..=255u8);
        true
    }
}

impl<P: Port> Port for FaultInjector<P> {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        let r = self.cfg.rx;
        if Self::roll(&mut self.rng, r.fail) {
            self.faults.rx_failed += 1;
            return Err(self.error("recv (fault injector)"));
        }
        let start = batch.len();
        let n = self.inner.recv_batch(batch)?;
        if n == 0 || !r.edits_frames() {
            return Ok(n);
        }
        let rng = &mut self.rng;
        let mut dropped_bytes = 0u64;
        let dropped = batch.retain(|i, f| {
            let drop = i >= start && Self::roll(rng, r.drop);
            if drop {
                dropped_bytes += f.len() as u64;
            }
            !drop
        }) as u64;
        self.faults.rx_dropped += dropped;
        self.rx_dropped_bytes += dropped_bytes;
        let end = batch.len();
        for i in start..end {
            if Self::roll(rng, r.truncate) && Self::truncate(rng, batch, i) {
                self.faults.rx_truncated += 1;
            }
            if Self::roll(rng, r.corrupt) && Self::corrupt(rng, batch, i) {
                self.faults.rx_corrupted += 1;
            }
        }
        if end - start > 1 {
            for i in start..end {
                if Self::roll(rng, r.reorder) {
                    let j = rng.random_range(start..end);
                    if j != i && batch.swap(i, j) {
                        self.faults.rx_reordered += 1;
                    }
                }
            }
        }
        Ok(end - start)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        let t = self.cfg.tx;
        if Self::roll(&mut self.rng, t.fail) {
            self.faults.tx_failed += 1;
            self.faults.tx_failed_frames += valid(batch, indices).count() as u64;
            return Err(self.error("send (fault injector)"));
        }
        if !t.edits_frames() {
            return self.inner.send_frames(batch, indices);
        }
        let rng = &mut self.rng;
        self.idx.clear();
        for &i in indices.iter().take(MAX_BATCH) {
            if batch.get(i as usize).is_none() {
                continue;
            }
            if Self::roll(rng, t.drop) {
                self.faults.tx_dropped += 1;
            } else {
                self.idx.push(i);
            }
        }
        let k = self.idx.len();
        if k > 1 {
            for a in 0..k {
                if Self::roll(rng, t.reorder) {
                    let b = rng.random_range(0..k);
                    if a != b {
                        self.idx.swap(a, b);
                        self.faults.tx_reordered += 1;
                    }
                }
            }
        }
        if t.truncate <= 0.0 && t.corrupt <= 0.0 {
            return self.inner.send_frames(batch, &self.idx);
        }
        // Truncation and corruption change bytes: send private copies, never the caller's.
        let need = k.max(1);
        let fits = self
            .scratch
            .as_ref()
            .is_some_and(|s| s.capacity() >= need && s.frame_size() >= batch.frame_size());
        if !fits {
            self.scratch = Some(Batch::new(
                need.max(batch.capacity()).min(MAX_BATCH),
                batch.frame_size(),
            )?);
        }
        let Some(scratch) = self.scratch.as_mut() else {
            return Ok(0);
        };
        scratch.clear();
        for &i in &self.idx {
            scratch.push(batch.frame(i as usize))?;
            let j = scratch.len() - 1;
            if Self::roll(rng, t.truncate) && Self::truncate(rng, scratch, j) {
                self.faults.tx_truncated += 1;
            }
            if Self::roll(rng, t.corrupt) && Self::corrupt(rng, scratch, j) {
                self.faults.tx_corrupted += 1;
            }
        }
        self.inner.send_batch(scratch)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.inner.wait_readable(timeout)
    }

    fn stats(&mut self) -> PortStats {
        let mut s = self.inner.stats();
        let f = &self.faults;
        s.rx_frames = s.rx_frames.saturating_sub(f.rx_dropped);
        s.rx_bytes = s.rx_bytes.saturating_sub(self.rx_dropped_bytes);
        s.kernel_drops += f.rx_dropped;
        s.tx_dropped += f.tx_dropped + f.tx_failed_frames;
        s
    }

    fn driver(&self) -> Driver {
        self.inner.driver()
    }

    fn name(&self) -> &str {
        self.inner.name()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{self, MemPort};
    use crate::port::ALL_INDICES;

    fn frames(n: u8) -> Batch {
        let mut b = Batch::new(n as usize, 256).unwrap();
        for v in 0..n {
            b.push(&[v; 64]).unwrap();
        }
        b
    }

    fn injector(
        port: MemPort,
        seed: u64,
        rx: FaultRates,
        tx: FaultRates,
    ) -> FaultInjector<MemPort> {
        FaultInjector::new(
            port,
            FaultConfig {
                seed,
                rx,
                tx,
                ..FaultConfig::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn bad_rates_are_rejected() {
        let (a, _) = mem::pair("a", "b", 4, 256).unwrap();
        let cfg = FaultConfig {
            rx: FaultRates {
                drop: 1.5,
                ..FaultRates::default()
            },
            ..FaultConfig::default()
        };
        assert!(matches!(
            FaultInjector::new(a, cfg),
            Err(IoError::BadFaultConfig(_))
        ));
        let (a, _) = mem::pair("a", "b", 4, 256).unwrap();
        let cfg = FaultConfig {
            tx: FaultRates {
                fail: 0.1,
                ..FaultRates::default()
            },
            errors: vec![],
            ..FaultConfig::default()
        };
        assert!(FaultInjector::new(a, cfg).is_err());
        assert!(FaultConfig::default().validate().is_ok());
    }

    /// RX drops: what the peer sent equals what the caller got plus the injector's count, and
    /// the corrected port stats say the same.
    #[test]
    fn rx_drops_are_counted_and_corrected_in_stats() {
        let (mut a, b) = mem::pair("a", "b", 1024, 256).unwrap();
        let rates = FaultRates {
            drop: 0.3,
            ..FaultRates::default()
        };
        let mut b = injector(b, 3, rates, FaultRates::default());
        let out = frames(32);
        let mut sent = 0u64;
        for _ in 0..20 {
            sent += a.send_batch(&out).unwrap() as u64;
        }
        let mut inb = Batch::new(32, 256).unwrap();
        let mut got = 0u64;
        loop {
            inb.clear();
            let n = b.recv_batch(&mut inb).unwrap();
            assert_eq!(n, inb.len());
            if n == 0 {
                break;
            }
            got += n as u64;
        }
        let f = b.faults();
        assert!(f.rx_dropped > 100 && f.rx_dropped < 300, "{f:?}");
        assert_eq!(sent, got + f.rx_dropped);
        let s = b.stats();
        assert_eq!(s.rx_frames, got);
        assert_eq!(s.rx_bytes, got * 64);
        assert_eq!(sent, s.rx_frames + s.kernel_drops);
    }

    /// TX drops, reordering, truncation and corruption: the peer receives exactly the frames
    /// not dropped (its own count), changed as counted, and the caller's batch is untouched.
    #[test]
    fn tx_faults_reach_the_peer_as_counted() {
        let (a, mut b) = mem::pair("a", "b", 4096, 256).unwrap();
        let rates = FaultRates {
            drop: 0.1,
            truncate: 0.1,
            corrupt: 0.1,
            reorder: 0.1,
            fail: 0.0,
        };
        let mut a = injector(a, 11, FaultRates::default(), rates);
        let out = frames(32);
        let mut sent = 0u64;
        for _ in 0..50 {
            sent += a.send_frames(&out, &ALL_INDICES[..32]).unwrap() as u64;
        }
        assert!(out.iter().enumerate().all(|(i, f)| f == [i as u8; 64]));
        let mut inb = Batch::new(1024, 256).unwrap();
        let mut got = 0u64;
        let (mut short, mut changed, mut out_of_order) = (0u64, 0u64, 0u64);
        loop {
            inb.clear();
            if b.recv_batch(&mut inb).unwrap() == 0 {
                break;
            }
            for f in inb.iter() {
                got += 1;
                if f.len() < 64 {
                    short += 1;
                }
                // An intact frame is 64 copies of one byte.
                if f.len() > 1 && f.iter().any(|&x| x != f[0]) {
                    changed += 1;
                }
            }
            out_of_order += inb
                .iter()
                .collect::<Vec<_>>()
                .windows(2)
                .filter(|w| w[0].first() > w[1].first() && w[1].first() != Some(&0))
                .count() as u64;
        }
        let f = a.faults();
        assert_eq!(sent, got);
        assert_eq!(sent + f.tx_dropped, 50 * 32);
        assert!(
            f.tx_dropped > 0 && f.tx_truncated > 0 && f.tx_corrupted > 0,
            "{f:?}"
        );
        assert!(f.tx_reordered > 0 && out_of_order > 0, "{f:?}");
        // Truncation to 0..len is always shorter; a corrupted byte may have been cut off.
        assert_eq!(short, f.tx_truncated);
        assert!(changed <= f.tx_corrupted && changed > 0, "{changed} {f:?}");
        let s = a.stats();
        assert_eq!(s.tx_frames, sent);
        assert_eq!(s.tx_frames + s.tx_dropped, 50 * 32);
    }

    /// Failed calls return the configured OS errors, touch nothing and are counted; the same
    /// seed gives the same sequence.
    #[test]
    fn failures_are_seeded_typed_and_counted() {
        let run = |seed| {
            let (a, mut b) = mem::pair("a", "b", 4096, 256).unwrap();
            let fail = FaultRates {
                fail: 0.25,
                ..FaultRates::default()
            };
            let mut a = injector(a, seed, fail, fail);
            let out = frames(8);
            let mut codes = Vec::new();
            let mut sent = 0u64;
            for _ in 0..200 {
                match a.send_batch(&out) {
                    Ok(n) => sent += n as u64,
                    Err(IoError::Sys { source, .. }) => codes.push(source.raw_os_error()),
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            let mut inb = Batch::new(1024, 256).unwrap();
            let mut got = 0u64;
            while b.recv_batch(&mut inb).unwrap() > 0 {
                got += inb.len() as u64;
                inb.clear();
            }
            let f = a.faults();
            assert_eq!(codes.len() as u64, f.tx_failed);
            assert_eq!(f.tx_failed_frames, 8 * f.tx_failed);
            assert_eq!(sent, got);
            assert_eq!(sent + f.tx_failed_frames, 200 * 8);
            let s = a.stats();
            assert_eq!(s.tx_frames + s.tx_dropped, 200 * 8);
            // RX failures: the wrapped port is not touched.
            let mut rx_errors = 0;
            for _ in 0..100 {
                if a.recv_batch(&mut inb).is_err() {
                    rx_errors += 1;
                }
            }
            assert_eq!(rx_errors, a.faults().rx_failed);
            assert_eq!(a.stats().rx_frames, 0);
            codes
        };
        let c1 = run(5);
        assert!(c1.len() > 20, "{}", c1.len());
        for e in [libc::EAGAIN, libc::ENOBUFS, libc::EIO] {
            assert!(c1.contains(&Some(e)), "{c1:?}");
        }
        assert_eq!(c1, run(5));
        assert_ne!(c1, run(6));
    }

    /// Faults on received frames: truncated frames are shorter, corrupted ones differ in one
    /// byte, reordering permutes; nothing is lost.
    #[test]
    fn rx_edits_keep_every_frame() {
        let (mut a, b) = mem::pair("a", "b", 64, 256).unwrap();
        let rates = FaultRates {
            truncate: 0.2,
            corrupt: 0.2,
            reorder: 0.2,
            ..FaultRates::default()
        };
        let mut b = injector(b, 9, rates, FaultRates::default());
        let out = frames(32);
        a.send_batch(&out).unwrap();
        let mut inb = Batch::new(32, 256).unwrap();
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 32);
        let f = b.faults();
        let short = inb.iter().filter(|x| x.len() < 64).count() as u64;
        assert_eq!(short, f.rx_truncated);
        assert!(
            f.rx_truncated > 0 && f.rx_corrupted > 0 && f.rx_reordered > 0,
            "{f:?}"
        );
        assert_eq!(b.stats().rx_frames, 32);
    }
}
