//! The batch-oriented port abstraction, its configuration and statistics.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::batch::{Batch, DEFAULT_FRAME_SIZE, MAX_BATCH};
use crate::error::{IoError, Result};

/// Which backend moves the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// One `recvfrom`/`sendto` per frame: the paper's baseline (batch size 1 in system calls).
    Packet,
    /// `recvmmsg`/`sendmmsg` over pre-allocated `mmsghdr`/`iovec` arrays: the paper's
    /// I/O multiplexing.
    Mmsg,
    /// `PACKET_MMAP` rings (TPACKET_V2 RX by default): asynchronous, zero-syscall receive.
    Ring,
    /// AF_XDP: a UMEM shared by RX and TX, fill/completion/RX/TX rings, and an XDP program
    /// loaded by scc itself that redirects the interface's frames to the socket
    /// ([`crate::xdp`]). Needs CAP_BPF and CAP_NET_ADMIN in the initial user namespace.
    Xdp,
    /// In-process port pair ([`crate::mem::pair`]).
    Mem,
    /// The fastest kernel backend that opens on this host: `xdp`, then `ring`, then `mmsg`
    /// ([`open_port`] falls back with a warning; [`Port::driver`] tells which one was chosen).
    Auto,
}

impl Driver {
    /// The name used in configuration and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Packet => "packet",
            Driver::Mmsg => "mmsg",
            Driver::Ring => "ring",
            Driver::Xdp => "xdp",
            Driver::Mem => "mem",
            Driver::Auto => "auto",
        }
    }

    /// The `AF_PACKET` backends: they open a kernel interface with no privilege beyond
    /// CAP_NET_RAW (so they work in a rootless user namespace).
    pub const KERNEL: [Driver; 3] = [Driver::Packet, Driver::Mmsg, Driver::Ring];

    /// The order in which [`Driver::Auto`] tries backends: fastest first.
    pub const AUTO_ORDER: [Driver; 3] = [Driver::Xdp, Driver::Ring, Driver::Mmsg];
}

impl fmt::Display for Driver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Driver {
    type Err = IoError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "packet" => Ok(Driver::Packet),
            "mmsg" => Ok(Driver::Mmsg),
            "ring" => Ok(Driver::Ring),
            "xdp" => Ok(Driver::Xdp),
            "mem" => Ok(Driver::Mem),
            "auto" => Ok(Driver::Auto),
            other => Err(IoError::UnknownDriver(other.to_string())),
        }
    }
}

/// How to open a kernel-backed port on one interface.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortConfig {
    /// Interface name (in the caller's network namespace).
    pub ifname: String,
    /// Backend.
    pub driver: Driver,
    /// Frames per batch (1..=[`MAX_BATCH`]); sizes the pre-allocated `mmsghdr` arrays.
    pub batch: usize,
    /// Size of one frame buffer (jumbo frames need more than the default 2048).
    pub frame_size: usize,
    /// `SO_RCVBUF` in bytes (`SO_RCVBUFFORCE` is tried first); `None` keeps the default.
    pub rcvbuf: Option<usize>,
    /// Bound on the frames the kernel queues for this port's receive (the NF's input queue):
    /// when set it replaces `rcvbuf` with [`rcvbuf_for_frames`]`(n)`, room for about `n` small
    /// (64-byte) frames; larger frames take more kernel memory each, so fewer of them fit (about
    /// a third as many 1514-byte frames). A short queue bounds the time a frame can wait in
    /// front of an overloaded NF; the excess is dropped by the kernel and counted in
    /// [`PortStats::kernel_drops`]. Socket receive paths (`packet`, `mmsg`) only: the `ring`
    /// backend receives from a `PACKET_MMAP` ring, whose size (`ring_blocks`) is its bound.
    pub rx_queue_frames: Option<usize>,
    /// `SO_SNDBUF` in bytes (`SO_SNDBUFFORCE` is tried first); `None` keeps the default.
    pub sndbuf: Option<usize>,
    /// Set `PACKET_QDISC_BYPASS` (skip the qdisc layer on TX).
    pub qdisc_bypass: bool,
    /// Set `PACKET_IGNORE_OUTGOING` so the port does not see its own transmissions.
    pub ignore_outgoing: bool,
    /// Ring backend: number of RX blocks.
    pub ring_blocks: usize,
    /// Ring backend: size of one RX block in bytes (a multiple of the page size).
    pub ring_block_size: usize,
    /// Ring backend: number of `PACKET_TX_RING` slots; 0 (the default) transmits with
    /// `sendmmsg` instead, which `benches/io.rs` measures as faster on veth (see the README).
    pub ring_tx_frames: usize,
    /// Ring backend: which RX ring (TPACKET_V2 slots, the default, or TPACKET_V3 blocks).
    pub ring_rx: crate::ring::RingRx,
    /// Ring backend with [`crate::ring::RingRx::V3`]: block retire timeout in ms (1..=60000).
    pub ring_block_timeout_ms: u32,
    /// XDP backend: how to attach the XDP program (native, generic or auto: native, else
    /// generic).
    pub xdp_mode: crate::xdp::XdpMode,
    /// XDP backend: descriptors of each of the four rings, and UMEM chunks per direction
    /// (a power of two, 64..=16384).
    pub xdp_ring_size: usize,
    /// XDP backend: the interface RX queue to bind to.
    pub xdp_queue: u32,
}

impl Default for PortConfig {
    fn default() -> Self {
        Self {
            ifname: String::new(),
            driver: Driver::Mmsg,
            batch: 32,
            frame_size: DEFAULT_FRAME_SIZE,
            rcvbuf: Some(4 << 20),
            rx_queue_frames: None,
            sndbuf: None,
            qdisc_bypass: false,
            ignore_outgoing: true,
            ring_blocks: 64,
            ring_block_size: 1 << 16,
            ring_tx_frames: 0,
            ring_rx: crate::ring::RingRx::V2,
            ring_block_timeout_ms: crate::ring::RING_BLOCK_TIMEOUT_MS,
            xdp_mode: crate::xdp::XdpMode::Auto,
            xdp_ring_size: 1024,
            xdp_queue: 0,
        }
    }
}

impl PortConfig {
    /// A configuration for `ifname` with `driver` and `batch`, other fields default.
    pub fn new(ifname: impl Into<String>, driver: Driver, batch: usize) -> Self {
        Self {
            ifname: ifname.into(),
            driver,
            batch,
            ..Self::default()
        }
    }

    /// The `SO_RCVBUF` value to set: from [`PortConfig::rx_queue_frames`] when given, else
    /// [`PortConfig::rcvbuf`].
    pub fn effective_rcvbuf(&self) -> Option<usize> {
        self.rx_queue_frames.map(rcvbuf_for_frames).or(self.rcvbuf)
    }

    /// Checks the sizes without touching the OS.
    pub fn validate(&self) -> Result<()> {
        if self.batch == 0 || self.batch > MAX_BATCH {
            return Err(IoError::BadBatchSize(self.batch));
        }
        if let Some(n) = self.rx_queue_frames
            && !(1..=MAX_RX_QUEUE_FRAMES).contains(&n)
        {
            return Err(IoError::BadQueueSize(n));
        }
        if !(crate::MIN_FRAME_SIZE..=crate::MAX_FRAME_SIZE).contains(&self.frame_size) {
            return Err(IoError::BadFrameSize(self.frame_size));
        }
        Ok(())
    }
}

/// Kernel memory one small received frame takes in a socket's receive queue (its `skb`
/// truesize), measured on this kernel for 64-byte frames on veth: 8 KiB of `SO_RCVBUF` held 10
/// frames, 128 KiB held 158 (about 830 bytes each; 512-byte frames ~1270, 1514-byte ~2300).
pub const RX_FRAME_TRUESIZE: usize = 832;

/// Largest [`PortConfig::rx_queue_frames`] accepted.
pub const MAX_RX_QUEUE_FRAMES: usize = 1 << 16;

/// The `SO_RCVBUF` value that lets the kernel queue about `frames` small frames (the kernel
/// doubles the value it is given and admits a frame while the queued memory is below it).
///
/// ```
/// assert_eq!(scc_io::rcvbuf_for_frames(32), 32 * scc_io::RX_FRAME_TRUESIZE / 2);
/// ```
pub fn rcvbuf_for_frames(frames: usize) -> usize {
    frames.saturating_mul(RX_FRAME_TRUESIZE) / 2
}

/// Counters of one port. All counts are totals since the port was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PortStats {
    /// Frames received.
    pub rx_frames: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent (accepted by the kernel or the peer).
    pub tx_frames: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// System calls made on the receive side (including readiness waits).
    pub rx_syscalls: u64,
    /// System calls made on the transmit side.
    pub tx_syscalls: u64,
    /// Receive attempts that found nothing.
    pub empty_polls: u64,
    /// Frames the kernel dropped before we read them (`PACKET_STATISTICS` `tp_drops`: socket
    /// buffer or ring full), plus received frames dropped because they were larger than the
    /// batch's buffers (or truncated by the ring).
    pub kernel_drops: u64,
    /// Frames handed to `send_batch` that could not be sent and were dropped.
    pub tx_dropped: u64,
    /// Transmit attempts that failed transiently (EAGAIN/ENOBUFS) and were retried.
    pub tx_retries: u64,
    /// Of [`PortStats::tx_dropped`]: frames dropped because the socket stayed congested
    /// (EAGAIN/ENOBUFS) after the per-call wait budget ([`crate::TX_WAIT_BUDGET`]) was spent (`packet`
    /// and `mmsg` backends; the others count such frames in `tx_dropped` only).
    #[serde(default)]
    pub tx_congested: u64,
    /// Frames taken from the kernel (or the peer) that the port could not place in the batch.
    /// The backends size each receive call to the batch's free places, so this stays 0; it
    /// exists so that a frame is counted, never lost, should a commit into the batch ever fail.
    #[serde(default)]
    pub rx_dropped: u64,
}

impl PortStats {
    /// All system calls made by the port.
    pub fn syscalls(&self) -> u64 {
        self.rx_syscalls + self.tx_syscalls
    }
}

/// A non-blocking, batch-oriented packet port.
///
/// Implementations never wait for a full batch: `recv_batch` returns at once with the frames
/// that are there (possibly none); callers sleep in [`Port::wait_readable`] when idle.
pub trait Port: Send {
    /// Appends up to `batch.remaining()` received frames to `batch` without blocking and returns
    /// how many were appended (0 when nothing was waiting).
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize>;

    /// Sends the frames of `batch` whose indices are listed in `indices` (in that order).
    /// Returns how many were sent; the rest were dropped and counted in
    /// [`PortStats::tx_dropped`] after bounded retries. Indices out of range are ignored.
    ///
    /// Frames that cannot be sent at all are dropped (counted) without stopping the call:
    /// shorter than an Ethernet header (14 bytes), or longer than the interface takes
    /// (MTU + 14, + 4 for an 802.1Q-tagged frame) or than a TX ring slot. After the other frames
    /// have been sent, an oversize frame makes the call return
    /// [`IoError::FrameTooLarge`] (for the first one); the counters then tell how many were
    /// sent. A hard error (interface down or gone) drops and counts the rest of the call and
    /// returns the error.
    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize>;

    /// Sends every frame of `batch`, in order. See [`Port::send_frames`].
    fn send_batch(&mut self, batch: &Batch) -> Result<usize> {
        self.send_frames(batch, &ALL_INDICES[..batch.len().min(MAX_BATCH)])
    }

    /// Waits until a frame can be received or `timeout` passes (`None`: forever).
    /// Returns true when input is ready.
    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool>;

    /// The port's counters, with kernel drop counts refreshed where the backend has them.
    fn stats(&mut self) -> PortStats;

    /// The backend of this port.
    fn driver(&self) -> Driver;

    /// The interface (or mem port) name.
    fn name(&self) -> &str;

    /// The descriptor that polls readable (`POLLIN`) when frames arrive, for waiting on several
    /// ports at once ([`wait_any`]); `None` for ports without one (mem ports).
    fn readable_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// True when frames are already waiting in user space (a ring block not yet consumed), so
    /// that a wait would miss them; false when the descriptor alone tells.
    fn rx_ready(&self) -> bool {
        false
    }

    /// Called by [`wait_any`] before it sleeps on the port's descriptor (instead of
    /// [`Port::wait_readable`], which it does not call then): work a port does when idle, such
    /// as flushing a capture file.
    fn prepare_wait(&mut self) {}
}

/// Waits until any of `ports` (at most 64) can receive or `timeout` passes; returns the set of
/// ready ports as a bit mask (bit `i` for `ports[i]`; 0 when the time ran out). With a
/// descriptor on every port this is one `ppoll` over all of them; otherwise (mem ports) each
/// port is asked in turn without blocking, with 20 us naps in between. The wait is not counted
/// in the ports' statistics (callers count it).
pub fn wait_any(ports: &mut [Box<dyn Port>], timeout: Option<Duration>) -> Result<u64> {
    let n = ports.len().min(64);
    let pending = mask_of(ports[..n].iter().map(|p| p.rx_ready()));
    if pending != 0 {
        return Ok(pending);
    }
    let mut fds = [0; crate::sys::MAX_POLL_FDS];
    if n <= fds.len() {
        let mut all = true;
        for (slot, p) in fds.iter_mut().zip(ports.iter()) {
            match p.readable_fd() {
                Some(fd) => *slot = fd,
                None => all = false,
            }
        }
        if all {
            for p in ports[..n].iter_mut() {
                p.prepare_wait();
            }
            return crate::sys::poll_readable_any(&fds[..n], timeout)
                .map_err(|e| IoError::from_io("ppoll", e));
        }
    }
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        let mut ready = 0u64;
        for (i, p) in ports[..n].iter_mut().enumerate() {
            if p.wait_readable(Some(Duration::ZERO))? {
                ready |= 1 << i;
            }
        }
        if ready != 0 {
            return Ok(ready);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_micros(20));
    }
}

fn mask_of(bits: impl Iterator<Item = bool>) -> u64 {
    bits.enumerate()
        .fold(0, |m, (i, b)| if b { m | (1 << i) } else { m })
}

/// Implements [`Port`] for a pointer type `$ptr` to a port by delegating every method to the
/// port it points to (one definition for `Box<P>` and `&mut P`).
macro_rules! delegate_port {
    ($(#[$doc:meta])* $ptr:ty) => {
        $(#[$doc])*
        impl<P: Port + ?Sized> Port for $ptr {
            fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
                (**self).recv_batch(batch)
            }
            fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
                (**self).send_frames(batch, indices)
            }
            fn send_batch(&mut self, batch: &Batch) -> Result<usize> {
                (**self).send_batch(batch)
            }
            fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
                (**self).wait_readable(timeout)
            }
            fn stats(&mut self) -> PortStats {
                (**self).stats()
            }
            fn driver(&self) -> Driver {
                (**self).driver()
            }
            fn name(&self) -> &str {
                (**self).name()
            }
            fn readable_fd(&self) -> Option<std::os::fd::RawFd> {
                (**self).readable_fd()
            }
            fn rx_ready(&self) -> bool {
                (**self).rx_ready()
            }
            fn prepare_wait(&mut self) {
                (**self).prepare_wait()
            }
        }
    };
}

delegate_port!(
    /// A boxed port is a port (so middleware such as [`crate::middleware::PcapPort`] can wrap
    /// the `Box<dyn Port>` that [`open_port`] returns).
    Box<P>
);
delegate_port!(
    /// A borrowed port is a port (so middleware can wrap a port the caller keeps).
    &mut P
);

/// `0, 1, 2, ..., MAX_BATCH - 1`, for sending whole batches without building index lists.
pub static ALL_INDICES: [u16; MAX_BATCH] = {
    let mut a = [0u16; MAX_BATCH];
    let mut i = 0;
    while i < MAX_BATCH {
        a[i] = i as u16;
        i += 1;
    }
    a
};

/// Opens a kernel-backed port as `cfg` says.
///
/// Errors: [`IoError::UnknownInterface`], [`IoError::InterfaceDown`],
/// [`IoError::PermissionDenied`], [`IoError::BadBatchSize`], [`IoError::BadFrameSize`], or the
/// failing system call. `Driver::Mem` cannot be opened by name (use [`crate::mem::pair`]).
pub fn open_port(cfg: &PortConfig) -> Result<Box<dyn Port>> {
    cfg.validate()?;
    match cfg.driver {
        Driver::Mem => Err(IoError::Unsupported {
            driver: "mem",
            reason: "mem ports are created in pairs with scc_io::mem::pair".into(),
        }),
        Driver::Packet => Ok(Box::new(crate::packet::PacketPort::open(cfg)?)),
        Driver::Mmsg => Ok(Box::new(crate::mmsg::MmsgPort::open(cfg)?)),
        Driver::Ring => Ok(Box::new(crate::ring::RingPort::open(cfg)?)),
        Driver::Xdp => Ok(Box::new(crate::xdp::XdpPort::open(cfg)?)),
        Driver::Auto => {
            let (port, fallbacks) = open_auto(cfg)?;
            for (driver, why) in &fallbacks {
                eprintln!(
                    "scc-io: warning: driver auto on `{}`: {driver} unavailable ({why}); using {}",
                    cfg.ifname,
                    port.driver()
                );
            }
            Ok(port)
        }
    }
}

/// The backends [`open_auto`] skipped, each with the error that made it skip.
pub type Fallbacks = Vec<(Driver, IoError)>;

/// [`Driver::Auto`]: opens the first backend of [`Driver::AUTO_ORDER`] that works on `cfg`'s
/// interface and returns it with the reasons the faster ones were skipped (for the caller's
/// report; [`open_port`] prints them as warnings). [`Port::driver`] of the result names the
/// backend chosen.
///
/// Errors that no backend can overcome (unknown or down interface, bad sizes) are returned at
/// once; otherwise the last backend's error.
pub fn open_auto(cfg: &PortConfig) -> Result<(Box<dyn Port>, Fallbacks)> {
    cfg.validate()?;
    let mut fallbacks = Vec::new();
    for driver in Driver::AUTO_ORDER {
        let mut c = cfg.clone();
        c.driver = driver;
        match open_port(&c) {
            Ok(p) => return Ok((p, fallbacks)),
            Err(
                e @ (IoError::UnknownInterface(_)
                | IoError::InterfaceDown(_)
                | IoError::BadBatchSize(_)
                | IoError::BadFrameSize(_)),
            ) => return Err(e),
            Err(e) if driver == Driver::Mmsg => return Err(e),
            Err(e) => fallbacks.push((driver, e)),
        }
    }
    // AUTO_ORDER ends with mmsg, which returned above.
    Err(IoError::Unsupported {
        driver: "auto",
        reason: "no backend opened".into(),
    })
}

/// Waits until interface `ifname` is operationally up (`IFF_RUNNING`), polling every
/// millisecond for at most `timeout`; returns whether it is.
///
/// A freshly created or freshly raised interface drops what is sent on it until the kernel's
/// link watcher has seen its carrier and attached its queueing discipline (this can take up to a
/// second): call this after bringing links up and before sending. Opening a port does not wait,
/// so that a port on a link whose peer is down can still be opened.
///
/// Errors: [`IoError::UnknownInterface`].
pub fn wait_running(ifname: &str, timeout: Duration) -> Result<bool> {
    let end = std::time::Instant::now() + timeout;
    loop {
        if crate::sys::if_info(ifname)?.running {
            return Ok(true);
        }
        if std::time::Instant::now() >= end {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem;

    /// `wait_any` names exactly the ports with input, and times out with none.
    #[test]
    fn wait_any_reports_the_ready_ports() {
        let (mut a, b) = mem::pair("a", "b", 8, 2048).unwrap();
        let (c, mut d) = mem::pair("c", "d", 8, 2048).unwrap();
        let mut ports: Vec<Box<dyn Port>> = vec![Box::new(b), Box::new(c)];
        let t = Some(Duration::from_millis(5));
        assert_eq!(wait_any(&mut ports, t).unwrap(), 0);
        let mut out = Batch::new(1, 2048).unwrap();
        out.push(&[0u8; 60]).unwrap();
        assert_eq!(d.send_batch(&out).unwrap(), 1);
        assert_eq!(wait_any(&mut ports, t).unwrap(), 0b10);
        assert_eq!(a.send_batch(&out).unwrap(), 1);
        assert_eq!(wait_any(&mut ports, t).unwrap(), 0b11);
    }
}
