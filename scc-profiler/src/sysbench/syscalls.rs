//! The cost of a network-I/O system call (an empty non-blocking `recvfrom`) and of a
//! trivial one (`getppid`).

use std::hint::black_box;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::sys;
use crate::error::{Error, Result};

/// System-call costs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyscallCost {
    /// An empty non-blocking `recvfrom` on a socket (ns per call).
    pub recvfrom_ns: f64,
    /// The socket used (`AF_PACKET` if permitted, else `AF_INET/UDP`).
    pub socket: String,
    /// A trivial system call, `getppid` (ns per call).
    pub getppid_ns: f64,
}

/// Measures [`SyscallCost`] with `calls` calls each. No packet is sent or received: the
/// AF_PACKET socket has protocol 0 (receives nothing) and the UDP socket is unbound.
pub fn syscall_cost(calls: usize) -> Result<SyscallCost> {
    let (sock, kind) = sys::Socket::quiet().map_err(|e| Error::io("socket", e))?;
    let mut buf = [0u8; 64];
    let calls = calls.max(1);
    let t = Instant::now();
    for _ in 0..calls {
        black_box(sock.recv_nonblocking(&mut buf));
    }
    let recvfrom_ns = t.elapsed().as_nanos() as f64 / calls as f64;
    drop(sock);
    let t = Instant::now();
    for _ in 0..calls {
        black_box(sys::getppid_syscall());
    }
    let getppid_ns = t.elapsed().as_nanos() as f64 / calls as f64;
    Ok(SyscallCost {
        recvfrom_ns,
        socket: kind.into(),
        getppid_ns,
    })
}
