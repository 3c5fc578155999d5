//! Thin wrappers over the Linux system calls and kernel ABI that the `AF_PACKET` backends use.
//!
//! Everything `unsafe` of the packet backends that is not ring- or mmsghdr-specific lives here,
//! each block with a `// SAFETY:` note. The kernel structures are declared locally (`repr(C)`,
//! from `<linux/if_packet.h>`) so the crate does not depend on which of them a given `libc`
//! version exports.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::time::Duration;

use socket2::{Domain, SockAddr, SockAddrStorage, Socket, Type};

use crate::error::{IoError, Result};
use crate::port::{PortConfig, PortStats};

/// `ETH_P_ALL`: every protocol.
pub(crate) const ETH_P_ALL: u16 = 0x0003;
/// Ethernet header length.
pub(crate) const ETH_HLEN: usize = 14;
/// 802.1Q tag length (one tag is allowed beyond the MTU, as the kernel does).
const VLAN_HLEN: usize = 4;

pub(crate) const SOL_PACKET: libc::c_int = 263;
pub(crate) const PACKET_RX_RING: libc::c_int = 5;
pub(crate) const PACKET_STATISTICS: libc::c_int = 6;
pub(crate) const PACKET_VERSION: libc::c_int = 10;
pub(crate) const PACKET_TX_RING: libc::c_int = 13;
pub(crate) const PACKET_QDISC_BYPASS: libc::c_int = 20;
pub(crate) const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
pub(crate) const TPACKET_V2: libc::c_int = 1;
pub(crate) const TPACKET_V3: libc::c_int = 2;

const SO_SNDBUFFORCE: libc::c_int = 32;
const SO_RCVBUFFORCE: libc::c_int = 33;
const IFNAMSIZ: usize = 16;

/// `struct tpacket_req` (TX ring, TPACKET_V2).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TpacketReq {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
}

/// `struct tpacket_req3` (RX ring, TPACKET_V3).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct TpacketReq3 {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
    pub retire_blk_tov: u32,
    pub sizeof_priv: u32,
    pub feature_req_word: u32,
}

/// `struct ifreq` reduced to what we read: the name and the first bytes of the union.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

/// What the backends need to know about an interface.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IfInfo {
    pub index: u32,
    pub mtu: u32,
    pub up: bool,
    /// `IFF_RUNNING`: operationally up (carrier, and the kernel has activated its queueing).
    pub running: bool,
}

fn ifreq(name: &str) -> Result<IfReq> {
    let bytes = name.as_bytes();
    if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) || bytes.contains(&b'/') {
        return Err(IoError::UnknownInterface(name.to_string()));
    }
    let mut req = IfReq {
        name: [0; IFNAMSIZ],
        data: [0; 24],
    };
    req.name[..bytes.len()].copy_from_slice(bytes);
    Ok(req)
}

/// Index, MTU, `IFF_UP` and `IFF_RUNNING` of `name` in the caller's network namespace (no
/// privileges needed), from the kernel's link table over rtnetlink: the one interface lookup of
/// the crate ([`crate::link::Netlink::link`]).
///
/// Errors: [`IoError::UnknownInterface`] for an absent or malformed name.
pub(crate) fn if_info(name: &str) -> Result<IfInfo> {
    ifreq(name)?; // the kernel's name rules: a malformed name names no interface
    let link = crate::link::Netlink::open()?
        .link(name)?
        .ok_or_else(|| IoError::UnknownInterface(name.to_string()))?;
    Ok(IfInfo {
        index: link.index,
        mtu: link.mtu,
        up: link.up,
        running: link.running,
    })
}

/// `struct ethtool_value` (legacy ethtool ioctls).
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// Turns TCP segmentation, generic segmentation and TX checksum offload of `name` on or off
/// (`SIOCETHTOOL` with `ETHTOOL_STSO`, `ETHTOOL_SGSO`, `ETHTOOL_STXCSUM`).
pub(crate) fn set_offloads(name: &str, on: bool) -> Result<()> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_STXCSUM: u32 = 0x17;
    const ETHTOOL_STSO: u32 = 0x1f;
    const ETHTOOL_SGSO: u32 = 0x24;
    let sock = Socket::new(Domain::UNIX, Type::DGRAM, None)
        .map_err(|e| IoError::from_io("socket(AF_UNIX)", e))?;
    for cmd in [ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_STXCSUM] {
        let mut val = EthtoolValue {
            cmd,
            data: u32::from(on),
        };
        let mut req = ifreq(name)?;
        let ptr = (&mut val as *mut EthtoolValue as usize).to_ne_bytes();
        req.data[..ptr.len()].copy_from_slice(&ptr);
        // SAFETY: `req` is a valid `struct ifreq` whose union holds a pointer to `val`, a live
        // `struct ethtool_value` the kernel reads (set commands only read it).
        let r = unsafe { libc::ioctl(sock.as_raw_fd(), SIOCETHTOOL as _, &mut req as *mut IfReq) };
        if r < 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ENODEV) => IoError::UnknownInterface(name.to_string()),
                _ => IoError::from_io("ioctl(SIOCETHTOOL)", e),
            });
        }
    }
    Ok(())
}

/// Sets an integer socket option.
pub(crate) fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt_raw(fd, level, name, &value)
}

/// Sets a socket option whose value is the plain-old-data `value`.
pub(crate) fn setsockopt_raw<T: Copy>(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to `size_of::<T>()` initialised bytes that live for the call; the
    // kernel only reads them. Callers pass `repr(C)` kernel structures or integers.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reads and resets `PACKET_STATISTICS`: (packets, drops) since the previous read.
pub(crate) fn packet_stats(fd: RawFd) -> io::Result<(u32, u32)> {
    // Room for `struct tpacket_stats_v3` (packets, drops, freeze_q_cnt); the kernel writes the
    // smaller `struct tpacket_stats` for non-V3 sockets and tells us how much in `len`.
    let mut buf = [0u32; 3];
    let mut len = size_of::<[u32; 3]>() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a valid in/out length; the kernel
    // writes at most `len` bytes.
    let r = unsafe {
        libc::getsockopt(
            fd,
            SOL_PACKET,
            PACKET_STATISTICS,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((buf[0], buf[1]))
    }
}

/// Waits for `events` on `fd` for at most `timeout` (`None`: forever). Returns the returned
/// events (0 on timeout or signal).
pub(crate) fn poll(
    fd: RawFd,
    events: libc::c_short,
    timeout: Option<Duration>,
) -> io::Result<libc::c_short> {
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `pfd` is one valid pollfd, `tsp` is null or points to a timespec that outlives the
    // call, and a null signal mask leaves the mask unchanged.
    let r = unsafe { libc::ppoll(&mut pfd, 1, tsp, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(if r == 0 { 0 } else { pfd.revents })
}

/// Most descriptors [`poll_readable_any`] waits on at once.
pub(crate) const MAX_POLL_FDS: usize = 16;

/// Waits until any of `fds` (at most [`MAX_POLL_FDS`]) is readable (or has an error to report)
/// or `timeout` passes (`None`: forever); returns the ready ones as a bit mask (0: none).
/// EINTR counts as "nothing ready".
pub(crate) fn poll_readable_any(fds: &[RawFd], timeout: Option<Duration>) -> io::Result<u64> {
    let mut pfds = [libc::pollfd {
        fd: -1,
        events: 0,
        revents: 0,
    }; MAX_POLL_FDS];
    let n = fds.len().min(MAX_POLL_FDS);
    for (p, &fd) in pfds.iter_mut().zip(fds) {
        p.fd = fd;
        p.events = libc::POLLIN;
    }
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: `pfds[..n]` are valid pollfds in a live array, `tsp` is null or points to a
    // timespec that outlives the call, and a null signal mask leaves the mask unchanged.
    let r = unsafe { libc::ppoll(pfds.as_mut_ptr(), n as libc::nfds_t, tsp, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(0);
        }
        return Err(e);
    }
    Ok(pfds[..n]
        .iter()
        .enumerate()
        .fold(0, |m, (i, p)| if p.revents != 0 { m | (1 << i) } else { m }))
}

/// One non-blocking `recvfrom` into `buf`. Returns the frame's full length (`MSG_TRUNC`), which
/// exceeds `buf.len()` when the frame was truncated.
pub(crate) fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for `buf.len()` bytes for the duration of the call; null address
    // pointers are allowed by recvfrom.
    let r = unsafe {
        libc::recvfrom(
            fd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT | libc::MSG_TRUNC,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// One non-blocking `sendto` of `frame` on the bound interface (no address: the socket's).
pub(crate) fn send(fd: RawFd, frame: &[u8]) -> io::Result<usize> {
    // SAFETY: `frame` is readable for `frame.len()` bytes for the duration of the call; a null
    // destination is allowed for a bound AF_PACKET socket.
    let r = unsafe {
        libc::sendto(
            fd,
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// The TX ring kick: `sendto(fd, NULL, 0, MSG_DONTWAIT)` sends every `SEND_REQUEST` slot.
pub(crate) fn kick(fd: RawFd) -> io::Result<usize> {
    // SAFETY: a zero-length send with a null buffer is the documented PACKET_TX_RING trigger;
    // the kernel reads only the mapped ring.
    let r = unsafe {
        libc::sendto(
            fd,
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as usize)
    }
}

/// A shared, read-write memory mapping of a packet socket's rings, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mmap {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory shared with the kernel; the owner accesses it only through
// `&mut self` methods of its ring, so moving it to another thread is sound.
unsafe impl Send for Mmap {}

impl Mmap {
    /// Maps `len` bytes of the rings of `fd` (after `PACKET_RX_RING`/`PACKET_TX_RING`).
    pub(crate) fn packet_ring(fd: RawFd, len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh shared mapping of the socket's ring pages (the kernel checks `len`
        // against the configured rings); no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast::<u8>())
            .map(|ptr| Mmap { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned null"))
    }

    /// Maps `len` bytes at `offset` of `fd` shared and read-write (the AF_XDP rings, whose
    /// offsets select the ring).
    pub(crate) fn shared_at(fd: RawFd, len: usize, offset: u64) -> io::Result<Mmap> {
        let off = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        // SAFETY: a fresh shared mapping of the socket's ring pages (the kernel checks `len` and
        // `offset` against the configured rings); no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_POPULATE,
                fd,
                off,
            )
        };
        Self::from_raw(p, len)
    }

    /// Maps `len` zeroed, private, anonymous bytes (an AF_XDP UMEM; tests of ring code).
    pub(crate) fn anonymous(len: usize) -> io::Result<Mmap> {
        // SAFETY: a fresh private anonymous mapping; no existing memory is affected.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        Self::from_raw(p, len)
    }

    fn from_raw(p: *mut libc::c_void, len: usize) -> io::Result<Mmap> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        NonNull::new(p.cast::<u8>())
            .map(|ptr| Mmap { ptr, len })
            .ok_or_else(|| io::Error::other("mmap returned null"))
    }

    /// Start of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length of the mapping.
    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

impl Drop for Mmap {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` describe exactly the mapping created in `packet_ring`, and no
        // reference into it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Maximum bytes a TX frame may have on an interface of this MTU: MTU + Ethernet header, plus
/// one 802.1Q tag when the frame carries one (as the kernel allows).
pub(crate) fn max_tx_len(mtu: usize, frame: &[u8]) -> usize {
    let tagged = matches!(frame.get(12..14), Some([0x81, 0x00]) | Some([0x88, 0xa8]));
    mtu + ETH_HLEN + if tagged { VLAN_HLEN } else { 0 }
}

/// True for the transient TX errors that are worth a bounded retry.
pub(crate) fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN) | Some(libc::ENOBUFS) | Some(libc::EINTR)
    )
}

/// One `AF_PACKET` socket bound to an interface, with the options of a [`PortConfig`] applied,
/// plus the bookkeeping every backend shares.
#[derive(Debug)]
pub(crate) struct RawSocket {
    pub sock: Socket,
    pub fd: RawFd,
    pub ifname: String,
    pub info: IfInfo,
    /// Kernel drops read so far (PACKET_STATISTICS resets on read, so we accumulate).
    pub stats: PortStats,
    /// An error seen after some frames were already moved, reported by the next call.
    pub pending: Option<IoError>,
}

/// Which way a socket is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Receives (bound to `ETH_P_ALL`) and may send.
    RxTx,
    /// Sends only (bound with protocol 0: the kernel delivers nothing to it).
    TxOnly,
}

impl RawSocket {
    /// Checks the interface, opens an `AF_PACKET` socket and applies `cfg`'s options, without
    /// binding yet (rings must be set up before the bind so no frame is missed or misplaced).
    pub(crate) fn open(cfg: &PortConfig, role: Role) -> Result<RawSocket> {
        cfg.validate()?;
        let info = if_info(&cfg.ifname)?;
        if !info.up {
            return Err(IoError::InterfaceDown(cfg.ifname.clone()));
        }
        // Protocol 0: the socket receives nothing until `bind` names the protocol.
        let sock =
            Socket::new(Domain::PACKET, Type::RAW, None).map_err(|e| match e.raw_os_error() {
                Some(libc::EPERM) | Some(libc::EACCES) => IoError::PermissionDenied {
                    what: format!("opening an AF_PACKET socket on `{}`", cfg.ifname),
                },
                _ => IoError::from_io("socket(AF_PACKET)", e),
            })?;
        let fd = sock.as_raw_fd();
        sock.set_nonblocking(true)
            .map_err(|e| IoError::from_io("fcntl(O_NONBLOCK)", e))?;
        let raw = RawSocket {
            sock,
            fd,
            ifname: cfg.ifname.clone(),
            info,
            stats: PortStats::default(),
            pending: None,
        };
        if role == Role::RxTx {
            if cfg.ignore_outgoing {
                setsockopt_int(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1)
                    .map_err(|e| IoError::from_io("setsockopt(PACKET_IGNORE_OUTGOING)", e))?;
            }
            if let Some(n) = cfg.effective_rcvbuf() {
                raw.set_buf(SO_RCVBUFFORCE, libc::SO_RCVBUF, n)
                    .map_err(|e| IoError::from_io("setsockopt(SO_RCVBUF)", e))?;
            }
        }
        if let Some(n) = cfg.sndbuf {
            raw.set_buf(SO_SNDBUFFORCE, libc::SO_SNDBUF, n)
                .map_err(|e| IoError::from_io("setsockopt(SO_SNDBUF)", e))?;
        }
        if cfg.qdisc_bypass {
            setsockopt_int(fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1)
                .map_err(|e| IoError::from_io("setsockopt(PACKET_QDISC_BYPASS)", e))?;
        }
        Ok(raw)
    }

    /// A `RawSocket` over any socket (e.g. a Unix datagram pair), to test the TX/RX accounting
    /// without an interface.
    #[cfg(test)]
    pub(crate) fn for_test(sock: Socket) -> RawSocket {
        let fd = sock.as_raw_fd();
        RawSocket {
            sock,
            fd,
            ifname: "test".into(),
            info: IfInfo {
                index: 0,
                mtu: 1500,
                up: true,
                running: true,
            },
            stats: PortStats::default(),
            pending: None,
        }
    }

    /// Sets a socket buffer size, trying the `*FORCE` option (which ignores `net.core.*_max`,
    /// needs CAP_NET_ADMIN) first.
    fn set_buf(&self, force: libc::c_int, plain: libc::c_int, n: usize) -> io::Result<()> {
        let v = libc::c_int::try_from(n).unwrap_or(libc::c_int::MAX);
        setsockopt_int(self.fd, libc::SOL_SOCKET, force, v)
            .or_else(|_| setsockopt_int(self.fd, libc::SOL_SOCKET, plain, v))
    }

    /// Binds to the interface for `role`.
    pub(crate) fn bind(&self, role: Role) -> Result<()> {
        let proto = match role {
            Role::RxTx => ETH_P_ALL,
            Role::TxOnly => 0,
        };
        let mut storage = SockAddrStorage::zeroed();
        // SAFETY: `sockaddr_ll` is one of the platform's sockaddr types and fits the storage.
        let ll = unsafe { storage.view_as::<libc::sockaddr_ll>() };
        ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
        ll.sll_protocol = proto.to_be();
        ll.sll_ifindex = self.info.index as libc::c_int;
        // SAFETY: the storage holds a fully initialised `sockaddr_ll` (zeroed, then filled).
        let addr =
            unsafe { SockAddr::new(storage, size_of::<libc::sockaddr_ll>() as libc::socklen_t) };
        self.sock.bind(&addr).map_err(|e| self.map_err("bind", e))
    }

    /// Maps an OS error of `call` to the typed error that names this interface where it can.
    pub(crate) fn map_err(&self, call: &'static str, e: io::Error) -> IoError {
        match e.raw_os_error() {
            Some(libc::ENETDOWN) => IoError::InterfaceDown(self.ifname.clone()),
            Some(libc::ENODEV) | Some(libc::ENXIO) => {
                IoError::UnknownInterface(self.ifname.clone())
            }
            _ => IoError::from_io(call, e),
        }
    }

    /// Adds the kernel's drop count since the last read to `stats.kernel_drops`.
    pub(crate) fn refresh_drops(&mut self) {
        if let Ok((_, drops)) = packet_stats(self.fd) {
            self.stats.kernel_drops += u64::from(drops);
        }
    }

    /// Waits until the socket is readable; counts the call as an RX system call.
    pub(crate) fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        self.stats.rx_syscalls += 1;
        let ev = poll(self.fd, libc::POLLIN, timeout).map_err(|e| self.map_err("ppoll", e))?;
        Ok(ev != 0)
    }

    /// Waits (at most `timeout`) until the socket is writable; counts a TX system call.
    pub(crate) fn wait_writable(&mut self, timeout: Duration) {
        self.stats.tx_syscalls += 1;
        let _ = poll(self.fd, libc::POLLOUT, Some(timeout));
    }

    /// Largest frame this interface accepts for TX (for `frame`'s tagging).
    pub(crate) fn max_tx_len(&self, frame: &[u8]) -> usize {
        max_tx_len(self.info.mtu as usize, frame)
    }
}

/// Bounded retry policy of the TX paths: at most this many transient failures (EAGAIN/ENOBUFS)
/// are retried per `send_frames` call; after that, frames that still fail are dropped (counted).
pub(crate) const TX_RETRY_BUDGET: u32 = 8;
/// Longest one `send_frames` call waits for a congested socket (EAGAIN/ENOBUFS) to take frames,
/// summed over all its retries. When it is spent, the frames that still cannot be sent are
/// dropped and counted ([`crate::PortStats::tx_dropped`] and, for the `packet` and `mmsg`
/// backends, [`crate::PortStats::tx_congested`]), so a congested output never stalls the
/// single-threaded NF loop, and its input, for longer than this per batch.
pub const TX_WAIT_BUDGET: Duration = Duration::from_millis(1);
/// How long one retry waits at most for the socket to become writable: the budget shared out
/// over [`TX_RETRY_BUDGET`] retries (so a backend that counts retries only, not time, is bounded
/// by [`TX_WAIT_BUDGET`] too).
pub(crate) const TX_RETRY_WAIT: Duration =
    Duration::from_nanos(TX_WAIT_BUDGET.as_nanos() as u64 / TX_RETRY_BUDGET as u64);

/// Per-call TX bookkeeping shared by the backends: the retry budget and the first oversize frame
/// (reported as [`IoError::FrameTooLarge`] once the rest of the batch has been sent).
#[derive(Debug, Default)]
pub(crate) struct TxOutcome {
    pub sent: usize,
    pub retries_left: u32,
    pub oversize: Option<(usize, usize)>,
    /// End of the call's wait budget, set at the first retry (no clock read when uncongested).
    deadline: Option<std::time::Instant>,
}

impl TxOutcome {
    pub(crate) fn new() -> Self {
        Self {
            sent: 0,
            retries_left: TX_RETRY_BUDGET,
            oversize: None,
            deadline: None,
        }
    }

    /// After a transient failure: waits (bounded) for `raw` to become writable and returns true
    /// when the caller should try again; false when the call's retry count or wait budget
    /// ([`TX_WAIT_BUDGET`]) is spent and the frame must be dropped (see [`Self::congested`]).
    pub(crate) fn retry(&mut self, raw: &mut RawSocket) -> bool {
        if self.retries_left == 0 {
            return false;
        }
        let now = std::time::Instant::now();
        let deadline = *self.deadline.get_or_insert(now + TX_WAIT_BUDGET);
        let left = deadline.saturating_duration_since(now);
        if left.is_zero() {
            self.retries_left = 0;
            return false;
        }
        self.retries_left -= 1;
        raw.stats.tx_retries += 1;
        raw.wait_writable(left.min(TX_RETRY_WAIT));
        true
    }

    /// Counts `n` frames dropped because the socket stayed congested past the budget.
    pub(crate) fn congested(stats: &mut PortStats, n: u64) {
        stats.tx_dropped += n;
        stats.tx_congested += n;
    }

    /// `Ok(sent)`, or the oversize error when a frame was too large.
    pub(crate) fn finish(self) -> Result<usize> {
        match self.oversize {
            Some((len, cap)) => Err(IoError::FrameTooLarge { len, cap }),
            None => Ok(self.sent),
        }
    }
}

/// Checks a frame before TX. `Err(())` when it must be dropped (and counts it): shorter than an
/// Ethernet header, or longer than `cap` (recorded as the call's oversize error).
pub(crate) fn check_tx_frame(
    frame: &[u8],
    cap: usize,
    stats: &mut PortStats,
    out: &mut TxOutcome,
) -> std::result::Result<(), ()> {
    if frame.len() > cap {
        stats.tx_dropped += 1;
        out.oversize.get_or_insert((frame.len(), cap));
        return Err(());
    }
    if frame.len() < ETH_HLEN {
        stats.tx_dropped += 1;
        return Err(());
    }
    Ok(())
}

/// The system page size (4096 when it cannot be read).
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let r = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(r).ok().filter(|&p| p > 0).unwrap_or(4096)
}

/// The TX congestion scenario both socket ports' tests run: fill a peer that never reads, then
/// seven more sends of `n` frames of `out`, each waiting at most [`TX_RETRY_BUDGET`] times for
/// at most [`TX_RETRY_WAIT`] (so within [`TX_WAIT_BUDGET`]; counted, no wall clock). Returns the
/// number of filling calls, the stats before the seven and the frames those seven sent.
#[cfg(test)]
pub(crate) fn congested_sends(
    p: &mut dyn crate::port::Port,
    out: &crate::Batch,
    n: usize,
) -> (u64, PortStats, u64) {
    let idx = &crate::port::ALL_INDICES[..n];
    // Fill the peer's queue first (the first calls send what fits).
    let mut fill = 0;
    while p.stats().tx_dropped == 0 && fill < 1000 {
        p.send_frames(out, idx).unwrap();
        fill += 1;
    }
    let before = p.stats();
    let mut sent = 0;
    for _ in 0..7 {
        let r0 = p.stats().tx_retries;
        sent += p.send_frames(out, idx).unwrap() as u64;
        let waits = p.stats().tx_retries - r0;
        assert!(
            waits <= u64::from(TX_RETRY_BUDGET),
            "{waits} waits in one congested send"
        );
    }
    assert!(TX_RETRY_WAIT * TX_RETRY_BUDGET <= TX_WAIT_BUDGET);
    // The calls did wait (the path under test ran).
    assert!(p.stats().tx_retries > before.tx_retries);
    (fill, before, sent)
}
