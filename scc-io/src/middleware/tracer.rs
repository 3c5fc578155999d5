//! [`Tracer`]: a callback for every frame that passes a port.

use std::time::Duration;

use super::{Direction, valid};
use crate::batch::Batch;
use crate::error::Result;
use crate::port::{Driver, Port, PortStats};

/// A [`Port`] that calls `f(direction, frame)` for every frame it receives and every frame
/// handed to it for sending (before the wrapped port sends it), then passes the call on.
/// See the [module example](super).
pub struct Tracer<P, F> {
    inner: P,
    f: F,
}

impl<P: std::fmt::Debug, F> std::fmt::Debug for Tracer<P, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracer")
            .field("inner", &self.inner)
            .finish()
    }
}

impl<P: Port, F: FnMut(Direction, &[u8]) + Send> Tracer<P, F> {
    /// Wraps `inner`, calling `f` per frame.
    pub fn new(inner: P, f: F) -> Self {
        Self { inner, f }
    }

    /// The wrapped port.
    pub fn get_mut(&mut self) -> &mut P {
        &mut self.inner
    }

    /// Returns the wrapped port.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: Port, F: FnMut(Direction, &[u8]) + Send> Port for Tracer<P, F> {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        let start = batch.len();
        let n = self.inner.recv_batch(batch)?;
        for i in start..(start + n).min(batch.len()) {
            (self.f)(Direction::Rx, batch.frame(i));
        }
        Ok(n)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        for frame in valid(batch, indices) {
            (self.f)(Direction::Tx, frame);
        }
        self.inner.send_frames(batch, indices)
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.inner.wait_readable(timeout)
    }

    fn stats(&mut self) -> PortStats {
        self.inner.stats()
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
    use crate::mem;

    #[test]
    fn sees_every_received_frame_in_order() {
        let (mut a, b) = mem::pair("a", "b", 8, 256).unwrap();
        let mut log = Vec::new();
        let mut b = Tracer::new(b, |d: Direction, f: &[u8]| log.push((d, f[0])));
        let mut out = Batch::new(3, 256).unwrap();
        for v in 1..=3u8 {
            out.push(&[v; 60]).unwrap();
        }
        a.send_batch(&out).unwrap();
        let mut inb = Batch::new(8, 256).unwrap();
        inb.push(&[9; 20]).unwrap(); // already held: not traced again
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 3);
        assert_eq!(b.recv_batch(&mut inb).unwrap(), 0);
        drop(b);
        assert_eq!(
            log,
            vec![(Direction::Rx, 1), (Direction::Rx, 2), (Direction::Rx, 3)]
        );
    }
}
