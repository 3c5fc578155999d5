//! Port middleware: wrappers that take any [`Port`](crate::Port) and are themselves a `Port`
//! (the model: smoltcp's `phy::{PcapWriter, FaultInjector, Tracer}`).
//!
//! - [`PcapPort`]: writes every frame received and every frame handed to send to a pcap file
//!   ([`PcapFile`], nanosecond timestamps, readable by tcpdump and Wireshark). Several ports may
//!   share one file.
//! - [`FaultInjector`]: drops, truncates, corrupts and reorders frames and fails calls (EAGAIN,
//!   ENOBUFS, EIO) at seeded rates, and counts what it did ([`FaultStats`]), so tests can drive
//!   every error branch of an NF loop or a generator without a kernel.
//! - [`Tracer`]: calls a closure for every frame that passes, with its [`Direction`].
//!
//! They cost nothing when not used: a port that is not wrapped runs exactly the code it ran
//! before. Wrappers nest (`PcapPort<FaultInjector<MemPort>>`) and also wrap the
//! `Box<dyn Port>` that [`crate::open_port`] returns.
//!
//! ```
//! use scc_io::middleware::{Direction, Tracer};
//! use scc_io::{Batch, Port};
//!
//! let (a, mut b) = scc_io::mem::pair("a", "b", 8, 256).unwrap();
//! let mut seen = Vec::new();
//! let mut a = Tracer::new(a, |dir: Direction, frame: &[u8]| seen.push((dir, frame.len())));
//! let mut out = Batch::new(2, 256).unwrap();
//! out.push(&[1; 60]).unwrap();
//! out.push(&[2; 70]).unwrap();
//! assert_eq!(a.send_batch(&out).unwrap(), 2);
//! let mut inb = Batch::new(4, 256).unwrap();
//! assert_eq!(b.recv_batch(&mut inb).unwrap(), 2);
//! drop(a);
//! assert_eq!(seen, vec![(Direction::Tx, 60), (Direction::Tx, 70)]);
//! ```

mod fault;
mod pcap;
mod tracer;

pub use fault::{FaultConfig, FaultInjector, FaultRates, FaultStats};
pub use pcap::{CapturedFrame, PcapFile, PcapPort, PcapStats, SNAPLEN, count_pcap, read_pcap};
pub use tracer::Tracer;

/// Which way a frame went through a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Received (returned by `recv_batch`).
    Rx,
    /// Handed to `send_frames` / `send_batch`.
    Tx,
}

/// Indices of `batch` that `send_frames` would send (`indices` that name a frame).
fn valid<'a>(batch: &'a crate::Batch, indices: &'a [u16]) -> impl Iterator<Item = &'a [u8]> + 'a {
    indices.iter().filter_map(|&i| batch.get(i as usize))
}
