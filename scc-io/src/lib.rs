//! # scc-io: batched packet I/O for NFV service chains
//!
//! This crate carries the first acceleration of the SCC paper (Katsikas et al., 2017, §5.1.1):
//! *I/O multiplexing*. A user-space network function on an `AF_PACKET` socket moves a whole
//! batch of frames per system call instead of one, with buffers that are allocated once.
//!
//! - [`Batch`]: up to N frames in pre-allocated, fixed-size buffers (with headroom so elements
//!   can strip and prepend headers in place). Nothing is allocated per packet.
//! - [`Port`]: a non-blocking, batch-oriented port: [`Port::recv_batch`] and
//!   [`Port::send_batch`] move *up to* N frames and return at once with what they moved;
//!   [`Port::wait_readable`] sleeps until input arrives (or a timeout).
//! - Backends, chosen at run time by name ([`Driver`]):
//!   `packet` (one `recvfrom`/`sendto` per frame, the paper's baseline), `mmsg`
//!   (`recvmmsg`/`sendmmsg`, the paper's I/O multiplexing), `ring` (`PACKET_MMAP` rings, the
//!   paper's future work), `xdp` (AF_XDP with an XDP program scc loads itself, [`xdp`]), `auto`
//!   (the fastest of xdp, ring, mmsg that opens) and `mem` (an in-process port pair, for tests
//!   and fused chains).
//! - [`PortStats`]: frames, bytes, system calls, empty polls, kernel drops, TX failures.
//!
//! - [`middleware`]: ports that wrap ports: [`middleware::PcapPort`] (pcap capture),
//!   [`middleware::FaultInjector`] (seeded faults for tests), [`middleware::Tracer`].
//!
//! Dependencies beyond the OS bindings: `pcap-file` (with `byteorder_slice`, which names its
//! byte order) writes and reads the capture files, so they open in tcpdump and Wireshark without
//! libpcap; `rand`'s seeded `SmallRng` drives the fault injector reproducibly.
//!
//! Every frame handed to [`Port::send_batch`] is either sent or counted as dropped in
//! [`PortStats::tx_dropped`]; nothing is lost untracked.
#![warn(missing_docs)]

mod batch;
mod error;
pub mod link;
pub mod mem;
pub mod middleware;
pub mod mmsg;
pub mod netns;
pub mod packet;
mod port;
pub mod ring;
#[cfg(feature = "test-util")]
pub mod sandbox;
pub mod skip;
mod sys;
pub mod xdp;

pub use batch::{Batch, DEFAULT_FRAME_SIZE, HEADROOM, MAX_BATCH, MAX_FRAME_SIZE, MIN_FRAME_SIZE};
pub use error::{IoError, Result};
pub use mmsg::MmsgPort;
pub use packet::PacketPort;
pub use port::{
    ALL_INDICES, Driver, Fallbacks, MAX_RX_QUEUE_FRAMES, Port, PortConfig, PortStats,
    RX_FRAME_TRUESIZE, open_auto, open_port, rcvbuf_for_frames, wait_running,
};
pub use ring::{RingPort, RingRx};
pub use sys::TX_WAIT_BUDGET;
pub use xdp::{XdpMode, XdpPort, XdpUnavailable};
