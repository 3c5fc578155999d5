//! The `xdp` backend: AF_XDP sockets, with the XDP program loaded by scc itself.
//!
//! One [`XdpPort`] owns:
//! - a **UMEM** of `2 * cfg.xdp_ring_size` chunks (2048 bytes, or 4096 for MTUs above 1500-ish)
//!   shared by RX and TX: the first half circulates between the fill and RX rings, the second
//!   between a free list, the TX ring and the completion ring;
//! - the four rings (fill, completion, RX, TX; `cfg.xdp_ring_size` descriptors each), mapped as
//!   typed views (`xsk.rs`);
//! - an **XSKMAP** holding the socket at its queue index and the five-instruction **XDP
//!   program** `return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)`, both made with
//!   the raw `bpf()` system call (`bpf.rs`: no clang, libbpf or ELF at build or run time);
//! - a **BPF link** attaching the program to the interface, natively where the driver allows
//!   ([`XdpMode::Auto`] tries native first, then generic/SKB mode; veth supports both). The
//!   kernel detaches a link's program when the link's last descriptor is closed, so the program
//!   is gone when the port is dropped, when opening fails half-way, and when the process dies.
//!
//! The socket is bound in **copy mode** (`XDP_COPY`: veth has no zero-copy) with
//! `XDP_USE_NEED_WAKEUP`: the TX ring is kicked with `sendto` only when the kernel's ring flag
//! asks for it (in copy mode it always does: the kernel sends inside that call, at most 32
//! frames per call), and the fill ring with `recvfrom` only when its flag is set.
//!
//! **Batch-native:** `recv_batch` takes up to `min(cfg.batch, batch.remaining())` descriptors
//! from the RX ring, copies the frames into the batch and gives all their chunks back to the fill
//! ring with one index store; `send_frames` copies frames into free chunks, publishes up to 32
//! descriptors with one index store and kicks once per 32.
//!
//! **Accounting:** RX drops are the kernel's `XDP_STATISTICS` (`rx_dropped`: no fill chunk or a
//! frame larger than a chunk; `rx_ring_full`) plus frames larger than the batch's buffers, all in
//! [`PortStats::kernel_drops`]. On TX, frames are counted as sent when the kernel consumes their
//! descriptors (in copy mode that happens inside the kick); a frame the device refused
//! (`EBUSY`: consumed but not sent) is counted in `tx_dropped`, like frames that found no free
//! chunk or TX slot within the bounded retries. Descriptors still queued when the retry budget is
//! spent stay in the ring and are counted by a later call (or [`Port::stats`]) when the kernel
//! takes them; after a hard error (interface down or gone) they are counted as dropped.
//!
//! **When it is unavailable** the open fails with [`IoError::XdpUnavailable`], whose
//! [`XdpUnavailable`] says why in one line: the kernel lacks AF_XDP or XSKMAP, the process lacks
//! the privilege (`bpf()` needs CAP_BPF + CAP_NET_ADMIN in the *initial* user namespace when
//! `kernel.unprivileged_bpf_disabled` is set, so a rootless user namespace can never load the
//! program), or the driver refuses (no native XDP in [`XdpMode::Native`], an XDP program already
//! attached, a queue that does not exist, frames larger than a UMEM chunk).

mod bpf;
mod xsk;

use std::io;
use std::time::Duration;

use crate::batch::Batch;
use crate::error::{IoError, Result};
use crate::port::{Driver, Port, PortConfig, PortStats};
use crate::sys::{self, IfInfo, TX_RETRY_WAIT, TxOutcome};
use bpf::BpfFd;
use xsk::{Rings, Step, Umem, XdpDesc, XskSocket};

/// Room the kernel keeps in front of a frame in a UMEM chunk (`XDP_PACKET_HEADROOM`).
const XDP_PACKET_HEADROOM: usize = 256;
/// Frames the kernel sends per TX kick in copy mode (`TX_BATCH_SIZE` in net/xdp/xsk.c).
const KICK_BATCH: u32 = 32;
/// How long `open` retries a bind that finds the queue still held by a socket closed just
/// before.
const BIND_BUSY_WAIT: Duration = Duration::from_millis(500);
/// Smallest and largest `xdp_ring_size`.
const RING_SIZES: std::ops::RangeInclusive<usize> = 64..=16384;

/// How to attach the XDP program.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Native where the driver allows it, else generic.
    #[default]
    Auto,
    /// Native (driver) XDP only (`XDP_FLAGS_DRV_MODE`).
    Native,
    /// Generic (SKB) XDP, in the kernel's receive path, on any driver (`XDP_FLAGS_SKB_MODE`).
    Generic,
}

/// Why AF_XDP cannot be used (the reason of [`IoError::XdpUnavailable`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XdpUnavailable {
    /// The kernel lacks a feature (AF_XDP sockets, XSKMAP, BPF links).
    #[error("kernel: {0}")]
    Kernel(String),
    /// The process lacks a privilege; the text names it.
    #[error("permission: {0}")]
    Permission(String),
    /// The interface's driver (or its state) refuses.
    #[error("driver: {0}")]
    Driver(String),
}

/// True when the process is in the initial user namespace (its uid map is the identity).
fn in_initial_user_ns() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| {
        let f: Vec<&str> = m.split_whitespace().collect();
        f == ["0", "0", "4294967295"]
    })
}

/// The one-line statement of the privilege that AF_XDP needs, for a refused `call`.
pub fn permission_reason(call: &str) -> String {
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/unprivileged_bpf_disabled")
        .map(|s| format!(", kernel.unprivileged_bpf_disabled = {}", s.trim()))
        .unwrap_or_default();
    let where_ = if in_initial_user_ns() {
        "run as root (or grant CAP_BPF + CAP_NET_ADMIN + CAP_NET_RAW), or use driver ring/mmsg"
    } else {
        "this process is in a non-initial (e.g. rootless) user namespace, where they cannot be had: run as root in the initial user namespace, or use driver ring/mmsg"
    };
    format!(
        "{call} refused: AF_XDP needs CAP_BPF and CAP_NET_ADMIN in the initial user namespace{sysctl}; {where_}"
    )
}

fn unavailable(ifname: &str, reason: XdpUnavailable) -> IoError {
    IoError::XdpUnavailable {
        ifname: ifname.to_string(),
        reason,
    }
}

fn is_perm(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES))
}

/// Maps a failed setup step to the typed error.
fn setup_error(ifname: &str, s: Step) -> IoError {
    let Step { call, err } = s;
    let errno = err.raw_os_error();
    let reason = if is_perm(&err) {
        XdpUnavailable::Permission(permission_reason(call))
    } else if matches!(errno, Some(libc::EAFNOSUPPORT) | Some(libc::ENOSYS)) {
        XdpUnavailable::Kernel(format!(
            "{call}: {err} (built without CONFIG_XDP_SOCKETS / CONFIG_BPF_SYSCALL?)"
        ))
    } else if call.starts_with("setsockopt(XDP_UMEM_REG") && errno == Some(libc::ENOBUFS) {
        XdpUnavailable::Permission(format!(
            "{call}: {err}: the UMEM's pages count against RLIMIT_MEMLOCK (`ulimit -l`) without CAP_IPC_LOCK in the initial user namespace: raise the limit, or use a smaller xdp_ring_size"
        ))
    } else if call.starts_with("bpf(BPF_MAP_CREATE") && errno == Some(libc::EINVAL) {
        XdpUnavailable::Kernel(format!("{call}: {err} (no XSKMAP map type)"))
    } else if call.starts_with("bind") || call.starts_with("bpf(BPF_LINK_CREATE") {
        let why = match errno {
            Some(libc::EBUSY) | Some(libc::EEXIST) => {
                " (an XDP program or another AF_XDP socket already uses this interface/queue)"
            }
            Some(libc::EOPNOTSUPP) => " (the driver has no native XDP: use xdp_mode generic)",
            Some(libc::EINVAL) => " (no such queue, or the driver refuses this mode/MTU)",
            _ => "",
        };
        XdpUnavailable::Driver(format!("{call}: {err}{why}"))
    } else {
        return match errno {
            Some(libc::ENODEV) | Some(libc::ENXIO) => IoError::UnknownInterface(ifname.into()),
            Some(libc::ENETDOWN) => IoError::InterfaceDown(ifname.into()),
            _ => IoError::Sys { call, source: err },
        };
    };
    unavailable(ifname, reason)
}

/// Checks, without touching any interface, whether this process can use AF_XDP: creates an
/// AF_XDP socket and a one-entry XSKMAP and closes them again. `Ok` does not promise that a
/// given driver accepts the program (that is only known when [`XdpPort::open`] attaches it).
pub fn probe() -> std::result::Result<(), XdpUnavailable> {
    let reason = |s: Step| match setup_error("-", s) {
        IoError::XdpUnavailable { reason, .. } => reason,
        other => XdpUnavailable::Kernel(other.to_string()),
    };
    XskSocket::new().map_err(reason)?;
    bpf::create_xskmap(1).map(drop).map_err(|err| {
        reason(Step {
            call: "bpf(BPF_MAP_CREATE, XSKMAP)",
            err,
        })
    })
}

/// How the program ended up attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpAttach {
    /// Native (driver) mode.
    Native,
    /// Generic (SKB) mode.
    Generic,
}

/// An AF_XDP port (see the [module docs](self)). Open it with [`XdpPort::open`] or
/// [`crate::open_port`] with [`Driver::Xdp`].
#[derive(Debug)]
pub struct XdpPort {
    // Field order is drop order: the link goes first, which detaches the program.
    _link: BpfFd,
    _prog: BpfFd,
    _map: BpfFd,
    rings: Rings,
    sock: XskSocket,
    umem: Umem,
    ifname: String,
    info: IfInfo,
    attach: XdpAttach,
    stats: PortStats,
    batch: usize,
    chunk: usize,
    /// TX chunks that neither the kernel nor the TX ring holds.
    tx_free: Vec<u64>,
    /// RX chunks that did not fit back into the fill ring (never happens by construction: the
    /// fill ring has a slot for every RX chunk; kept so that no chunk can be lost).
    rx_spare: Vec<u64>,
    /// Kernel TX consumer index up to which descriptors have been accounted.
    tx_seen: u32,
    /// Descriptors per ring.
    ring_size: u32,
    /// Descriptors counted as dropped after a hard error while still in the TX ring; not
    /// counted again when the kernel consumes them.
    tx_void: u32,
}

impl XdpPort {
    /// Opens an AF_XDP port on `cfg.ifname`, queue `cfg.xdp_queue`, and attaches the redirect
    /// program as `cfg.xdp_mode` says.
    ///
    /// Errors: [`IoError::XdpUnavailable`] (kernel, permission, driver),
    /// [`IoError::UnknownInterface`], [`IoError::InterfaceDown`], [`IoError::BadBatchSize`],
    /// [`IoError::BadFrameSize`], [`IoError::BadRingConfig`] (`xdp_ring_size`).
    pub fn open(cfg: &PortConfig) -> Result<Self> {
        cfg.validate()?;
        let size = cfg.xdp_ring_size;
        if !RING_SIZES.contains(&size) || !size.is_power_of_two() {
            return Err(IoError::BadRingConfig(format!(
                "xdp_ring_size = {size} (a power of two in {}..={})",
                RING_SIZES.start(),
                RING_SIZES.end()
            )));
        }
        let ifname = cfg.ifname.as_str();
        let info = sys::if_info(ifname)?;
        if !info.up {
            return Err(IoError::InterfaceDown(ifname.to_string()));
        }
        let max_frame = info.mtu as usize + sys::ETH_HLEN + 4;
        let chunk = [2048, 4096]
            .into_iter()
            .find(|c| max_frame <= c - XDP_PACKET_HEADROOM)
            .ok_or_else(|| {
                unavailable(
                    ifname,
                    XdpUnavailable::Driver(format!(
                        "MTU {} needs frames of {max_frame} bytes, more than a {}-byte UMEM chunk holds after the kernel's {XDP_PACKET_HEADROOM}-byte headroom (multi-buffer AF_XDP is not used)",
                        info.mtu,
                        4096
                    )),
                )
            })?;
        let err = |s: Step| setup_error(ifname, s);
        // The map first: it needs the bpf() privilege, so a process without it fails here,
        // before any UMEM memory is locked.
        let bpf_step = |call: &'static str| move |e: io::Error| Step { call, err: e };
        let map = bpf::create_xskmap(cfg.xdp_queue.saturating_add(1))
            .map_err(bpf_step("bpf(BPF_MAP_CREATE, XSKMAP)"))
            .map_err(err)?;
        let sock = XskSocket::new().map_err(err)?;
        let umem = Umem::new(2 * size, chunk).map_err(err)?;
        sock.register_umem(&umem).map_err(err)?;
        let mut rings = sock.rings(size as u32).map_err(err)?;
        for i in 0..size {
            rings.fill.push((i * chunk) as u64);
        }
        rings.fill.submit();
        let mut tx_free = Vec::with_capacity(size);
        tx_free.extend((size..2 * size).rev().map(|i| (i * chunk) as u64));
        // A socket closed just before on the same queue releases it from a kernel work item
        // (xp_release_deferred), so bind can see EBUSY for a moment: retry for a bounded time.
        let flags = xsk::XDP_COPY | xsk::XDP_USE_NEED_WAKEUP;
        let end = std::time::Instant::now() + BIND_BUSY_WAIT;
        loop {
            match sock.bind(info.index, cfg.xdp_queue, flags) {
                Ok(()) => break,
                Err(s)
                    if s.err.raw_os_error() == Some(libc::EBUSY)
                        && std::time::Instant::now() < end =>
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(s) => return Err(err(s)),
            }
        }
        bpf::xskmap_set(&map, cfg.xdp_queue, sock.raw())
            .map_err(bpf_step("bpf(BPF_MAP_UPDATE_ELEM)"))
            .map_err(err)?;
        let prog = bpf::load_redirect_program(&map)
            .map_err(bpf_step("bpf(BPF_PROG_LOAD, XDP)"))
            .map_err(err)?;
        let native = || bpf::attach_xdp_link(&prog, info.index, bpf::XDP_FLAGS_DRV_MODE);
        let generic = || bpf::attach_xdp_link(&prog, info.index, bpf::XDP_FLAGS_SKB_MODE);
        let link_step = bpf_step("bpf(BPF_LINK_CREATE, BPF_XDP)");
        let (link, attach) = match cfg.xdp_mode {
            XdpMode::Native => (native().map_err(link_step).map_err(err)?, XdpAttach::Native),
            XdpMode::Generic => (
                generic().map_err(link_step).map_err(err)?,
                XdpAttach::Generic,
            ),
            XdpMode::Auto => match native() {
                Ok(l) => (l, XdpAttach::Native),
                Err(e) if is_perm(&e) => return Err(err(link_step(e))),
                Err(_) => (
                    generic().map_err(link_step).map_err(err)?,
                    XdpAttach::Generic,
                ),
            },
        };
        Ok(XdpPort {
            _link: link,
            _prog: prog,
            _map: map,
            rings,
            sock,
            umem,
            ifname: ifname.to_string(),
            info,
            attach,
            stats: PortStats::default(),
            batch: cfg.batch,
            chunk,
            tx_free,
            rx_spare: Vec::with_capacity(size),
            tx_seen: 0,
            tx_void: 0,
            ring_size: size as u32,
        })
    }

    /// How the XDP program is attached (native or generic).
    pub fn attach_mode(&self) -> XdpAttach {
        self.attach
    }

    /// The interface MTU read at open time.
    pub fn mtu(&self) -> u32 {
        self.info.mtu
    }

    fn chunk_base(&self, addr: u64) -> u64 {
        addr - addr % self.chunk as u64
    }

    /// Takes completed TX chunks back onto the free list.
    fn reap(&mut self) {
        let n = self.rings.comp.available();
        for k in 0..n {
            let a = self.rings.comp.peek(k);
            let base = self.chunk_base(a);
            if self.tx_free.len() < self.tx_free.capacity() {
                self.tx_free.push(base);
            }
        }
        if n > 0 {
            self.rings.comp.release(n);
        }
    }

    /// Accounts the descriptors the kernel consumed since the last look; `busy` says that the
    /// last of them was refused by the device (`EBUSY`).
    fn account(&mut self, out: &mut TxOutcome, busy: bool) -> u32 {
        let cons = self.rings.tx.consumer();
        let consumed = cons.wrapping_sub(self.tx_seen);
        let void = self.tx_void.min(consumed);
        self.tx_void -= void;
        for k in void..consumed {
            let len = self.rings.tx.peek_written(self.tx_seen.wrapping_add(k)).len;
            if busy && k + 1 == consumed {
                // Consumed but refused by the device (EBUSY): dropped, counted.
                self.stats.tx_dropped += 1;
            } else {
                self.stats.tx_frames += 1;
                self.stats.tx_bytes += u64::from(len);
                out.sent += 1;
            }
        }
        self.tx_seen = cons;
        consumed
    }

    /// TX ring entries we may write: not holding a descriptor that is queued or consumed but
    /// not yet accounted (its length is read back when it is accounted).
    fn tx_slots_free(&self) -> bool {
        self.rings.tx.producer().wrapping_sub(self.tx_seen) < self.ring_size
    }

    /// Publishes the queued TX descriptors and kicks until the kernel has taken them or the
    /// retry budget is spent.
    fn flush(&mut self, out: &mut TxOutcome) -> Result<()> {
        self.rings.tx.submit();
        loop {
            if self.tx_seen == self.rings.tx.producer() {
                return Ok(());
            }
            let mut r = Ok(());
            if self.rings.tx.needs_wakeup() {
                self.stats.tx_syscalls += 1;
                r = self.sock.kick_tx();
            }
            let busy = matches!(&r, Err(e) if e.raw_os_error() == Some(libc::EBUSY));
            let consumed = self.account(out, busy);
            self.reap();
            match r {
                Err(e) if !busy && !sys::is_transient(&e) => {
                    // Interface down or gone: what is still queued is dropped (counted), and
                    // not counted again if the kernel takes it later.
                    let left = self.rings.tx.producer().wrapping_sub(self.tx_seen);
                    self.stats.tx_dropped += u64::from(left);
                    self.tx_void = self.tx_void.wrapping_add(left);
                    return Err(map_tx_err(&self.ifname, e));
                }
                _ => {}
            }
            if consumed > 0 {
                continue;
            }
            if out.retries_left == 0 {
                return Ok(()); // still queued: accounted when the kernel takes them
            }
            out.retries_left -= 1;
            self.stats.tx_retries += 1;
            self.stats.tx_syscalls += 1;
            let _ = sys::poll(self.sock.raw(), libc::POLLOUT, Some(TX_RETRY_WAIT));
        }
    }

    /// Makes room for one more TX frame (a free chunk and a TX slot), flushing, reaping and
    /// waiting within the retry budget. Returns false when there is none.
    fn room(&mut self, queued: &mut u32, out: &mut TxOutcome) -> Result<bool> {
        loop {
            if !self.tx_free.is_empty() && self.tx_slots_free() {
                return Ok(true);
            }
            if *queued > 0 {
                *queued = 0;
                self.flush(out)?;
            }
            self.reap();
            self.account(out, false);
            if !self.tx_free.is_empty() && self.tx_slots_free() {
                return Ok(true);
            }
            if out.retries_left == 0 {
                return Ok(false);
            }
            out.retries_left -= 1;
            self.stats.tx_retries += 1;
            self.stats.tx_syscalls += 1;
            if self.rings.tx.needs_wakeup() {
                let _ = self.sock.kick_tx();
            }
            let _ = sys::poll(self.sock.raw(), libc::POLLOUT, Some(TX_RETRY_WAIT));
            self.account(out, false);
        }
    }
}

fn map_tx_err(ifname: &str, e: io::Error) -> IoError {
    match e.raw_os_error() {
        Some(libc::ENETDOWN) => IoError::InterfaceDown(ifname.to_string()),
        Some(libc::ENODEV) | Some(libc::ENXIO) => IoError::UnknownInterface(ifname.to_string()),
        _ => IoError::from_io("sendto(AF_XDP)", e),
    }
}

impl Port for XdpPort {
    fn recv_batch(&mut self, batch: &mut Batch) -> Result<usize> {
        while let Some(&a) = self.rx_spare.last() {
            if !self.rings.fill.push(a) {
                break;
            }
            self.rx_spare.pop();
        }
        let want = batch.remaining().min(self.batch) as u32;
        let avail = self.rings.rx.available().min(want);
        let mut n = 0u64;
        for k in 0..avail {
            let d = self.rings.rx.peek(k);
            let len = d.len as usize;
            match self.umem.frame(d.addr, len) {
                Some(f) if len <= batch.frame_size() => {
                    if batch.push(f).is_ok() {
                        n += 1;
                        self.stats.rx_bytes += len as u64;
                    } else {
                        // Cannot happen (at most `batch.remaining()` are taken): counted.
                        self.stats.rx_dropped += 1;
                    }
                }
                // Larger than our buffers (or a descriptor outside the UMEM): dropped, counted.
                _ => self.stats.kernel_drops += 1,
            }
            let base = self.chunk_base(d.addr);
            if !self.rings.fill.push(base) && self.rx_spare.len() < self.rx_spare.capacity() {
                self.rx_spare.push(base);
            }
        }
        if avail > 0 {
            self.rings.rx.release(avail);
            self.rings.fill.submit();
            if self.rings.fill.needs_wakeup() {
                self.stats.rx_syscalls += 1;
                self.sock.kick_rx();
            }
        } else {
            self.stats.empty_polls += 1;
        }
        self.stats.rx_frames += n;
        Ok(n as usize)
    }

    fn send_frames(&mut self, batch: &Batch, indices: &[u16]) -> Result<usize> {
        let mut out = TxOutcome::new();
        self.reap();
        let mut queued = 0u32;
        let mtu = self.info.mtu as usize;
        let mut idx = indices.iter();
        while let Some(&i) = idx.next() {
            let Some(frame) = batch.get(i as usize) else {
                continue;
            };
            let cap = sys::max_tx_len(mtu, frame).min(self.chunk);
            if sys::check_tx_frame(frame, cap, &mut self.stats, &mut out).is_err() {
                continue;
            }
            match self.room(&mut queued, &mut out) {
                Ok(true) => {}
                Ok(false) => {
                    self.stats.tx_dropped += 1;
                    continue;
                }
                Err(e) => {
                    let rest = idx.filter(|&&j| batch.get(j as usize).is_some()).count();
                    self.stats.tx_dropped += 1 + rest as u64;
                    return Err(e);
                }
            }
            let Some(addr) = self.tx_free.pop() else {
                self.stats.tx_dropped += 1;
                continue;
            };
            match self.umem.frame_mut(addr, frame.len()) {
                Some(dst) => dst.copy_from_slice(frame),
                None => {
                    self.stats.tx_dropped += 1;
                    self.tx_free.push(addr);
                    continue;
                }
            }
            let desc = XdpDesc {
                addr,
                len: frame.len() as u32,
                options: 0,
            };
            if !self.rings.tx.push(desc) {
                self.tx_free.push(addr);
                self.stats.tx_dropped += 1;
                continue;
            }
            queued += 1;
            if queued == KICK_BATCH {
                queued = 0;
                if let Err(e) = self.flush(&mut out) {
                    let rest = idx.filter(|&&j| batch.get(j as usize).is_some()).count();
                    self.stats.tx_dropped += rest as u64;
                    return Err(e);
                }
            }
        }
        if queued > 0 {
            self.flush(&mut out)?;
        }
        out.finish()
    }

    fn wait_readable(&mut self, timeout: Option<Duration>) -> Result<bool> {
        if self.rings.rx.available() > 0 {
            return Ok(true);
        }
        self.stats.rx_syscalls += 1;
        let ev = sys::poll(self.sock.raw(), libc::POLLIN, timeout)
            .map_err(|e| IoError::from_io("ppoll(AF_XDP)", e))?;
        Ok(ev & libc::POLLIN != 0 || self.rings.rx.available() > 0)
    }

    fn stats(&mut self) -> PortStats {
        if self.tx_seen != self.rings.tx.producer() {
            // Descriptors left queued by an earlier call: give the kernel a chance to take them.
            let mut out = TxOutcome::new();
            let _ = self.flush(&mut out);
        }
        let mut s = self.stats;
        if let Ok(st) = self.sock.statistics() {
            s.kernel_drops += st.rx_dropped + st.rx_ring_full;
        }
        s
    }

    fn driver(&self) -> Driver {
        Driver::Xdp
    }

    fn name(&self) -> &str {
        &self.ifname
    }
}
