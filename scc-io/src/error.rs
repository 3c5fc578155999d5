//! Typed errors of the I/O layer.

use std::io;

/// Result alias of this crate.
pub type Result<T, E = IoError> = std::result::Result<T, E>;

/// Everything that can go wrong when opening or using a [`crate::Port`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IoError {
    /// No interface of that name exists in the current network namespace.
    #[error("unknown interface `{0}` (not in this network namespace)")]
    UnknownInterface(String),
    /// The interface exists but is administratively or operationally down.
    #[error("interface `{0}` is down (bring it up first: `ip link set {0} up`)")]
    InterfaceDown(String),
    /// The caller lacks a privilege (raw sockets, links, namespaces); the message names it.
    #[error(
        "permission denied for {what}: AF_PACKET sockets need CAP_NET_RAW, links and namespaces CAP_NET_ADMIN (run as root, or inside a user + network namespace that you own)"
    )]
    PermissionDenied {
        /// What was being attempted.
        what: String,
    },
    /// A batch size of zero or above [`crate::MAX_BATCH`].
    #[error("bad batch size {0}: must be between 1 and {max}", max = crate::MAX_BATCH)]
    BadBatchSize(usize),
    /// A receive queue bound (`rx_queue_frames`) of zero or above [`crate::MAX_RX_QUEUE_FRAMES`].
    #[error("bad receive queue size {0}: must be between 1 and {max} frames", max = crate::MAX_RX_QUEUE_FRAMES)]
    BadQueueSize(usize),
    /// A frame buffer size outside the supported range.
    #[error("bad frame buffer size {0}: must be between {min} and {max} bytes", min = crate::MIN_FRAME_SIZE, max = crate::MAX_FRAME_SIZE)]
    BadFrameSize(usize),
    /// A frame larger than the buffer (or the ring slot) that should hold it.
    #[error("frame of {len} bytes does not fit a buffer of {cap} bytes")]
    FrameTooLarge {
        /// Length of the frame.
        len: usize,
        /// Capacity available for it.
        cap: usize,
    },
    /// Ring sizes that the kernel would reject (block size not a multiple of the page size,
    /// zero or too many blocks or TX slots).
    #[error("bad PACKET_MMAP ring configuration: {0}")]
    BadRingConfig(String),
    /// The batch already holds its capacity of frames.
    #[error("batch is full ({0} frames)")]
    BatchFull(usize),
    /// An unknown backend name was given to [`crate::Driver`]'s parser.
    #[error("unknown I/O driver `{0}` (expected packet, mmsg, ring, xdp, auto or mem)")]
    UnknownDriver(String),
    /// The backend is not available on this host or build (with the reason).
    #[error("I/O driver `{driver}` unavailable: {reason}")]
    Unsupported {
        /// The backend.
        driver: &'static str,
        /// Why it cannot be used.
        reason: String,
    },
    /// AF_XDP cannot be used here; the reason says why (kernel, privilege or driver) and, for a
    /// missing privilege, which one is needed, in one line.
    #[error("AF_XDP unavailable on `{ifname}`: {reason}")]
    XdpUnavailable {
        /// The interface.
        ifname: String,
        /// Why.
        reason: crate::xdp::XdpUnavailable,
    },
    /// A netlink request failed (with the kernel's answer).
    #[error("netlink: {0}")]
    Netlink(String),
    /// An interface of that name already exists in this network namespace.
    #[error("interface `{0}` already exists in this network namespace")]
    InterfaceExists(String),
    /// A name the kernel would refuse (empty, longer than 15 bytes, `/`, `:` or whitespace).
    #[error("invalid interface name `{0}` (1 to 15 bytes, no `/`, `:` or whitespace)")]
    InvalidInterfaceName(String),
    /// A pcap capture file could not be created, written or read.
    #[error("pcap file {path}: {reason}")]
    Pcap {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A [`crate::middleware::FaultConfig`] with a rate outside 0..=1 or no error to inject.
    #[error("bad fault injector configuration: {0}")]
    BadFaultConfig(String),
    /// Any other system call failure, with the call that failed.
    #[error("{call}: {source}")]
    Sys {
        /// The system call or operation.
        call: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl IoError {
    /// Wraps the last OS error of `call`, mapping EPERM/EACCES to [`IoError::PermissionDenied`].
    pub fn last_os(call: &'static str) -> Self {
        Self::from_io(call, io::Error::last_os_error())
    }

    /// Wraps `err` from `call`, mapping EPERM/EACCES to [`IoError::PermissionDenied`].
    pub fn from_io(call: &'static str, err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Self::PermissionDenied {
                what: call.to_string(),
            },
            _ => Self::Sys { call, source: err },
        }
    }
}
