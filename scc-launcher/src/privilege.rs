//! Least privilege: which capabilities each NF process keeps, and whether this launcher holds
//! host privileges (root in the initial user namespace). Both are decided from facts of the OS
//! and the plan, never from the caller's environment variables.
//!
//! An NF opens its sockets and runs its loop; the launcher applies scheduling, cgroups and the
//! profiler to it from outside. So an NF keeps only what its I/O backend needs to open its
//! ports ([`nf_capabilities`]); everything else is dropped for good between `fork` and `exec`
//! (bounding set, `PR_SET_NO_NEW_PRIVS`), see [`scc_sched::CapSet::limit_process`].

use scc_io::Driver;
use scc_sched::CapSet;

/// The capabilities an NF needs for its I/O backend:
///
/// - `packet`, `mmsg`, `ring`: `CAP_NET_RAW` (an `AF_PACKET` socket; the TPACKET ring is
///   mapped memory of that socket and needs nothing more). A larger receive buffer than
///   `net.core.rmem_max` (`SO_RCVBUFFORCE`) would need `CAP_NET_ADMIN`; scc-io then falls back
///   to `SO_RCVBUF`, so it is not kept.
/// - `mem`: nothing (in-process ports).
///
/// No NF sets its own scheduling (the launcher does, from outside), so none keeps
/// `CAP_SYS_NICE`.
///
/// ```
/// use scc_launcher::privilege::nf_capabilities;
/// use scc_sched::CapSet;
/// assert_eq!(nf_capabilities(scc_io::Driver::Ring), CapSet::of(&[CapSet::NET_RAW]));
/// ```
pub fn nf_capabilities(driver: Driver) -> CapSet {
    match driver {
        Driver::Packet | Driver::Mmsg | Driver::Ring => CapSet::of(&[CapSet::NET_RAW]),
        Driver::Mem => CapSet::EMPTY,
    }
}

/// True when this process is root in the initial user namespace: it may touch host cgroups and
/// sysctls. Root of a user namespace (the rootless launcher's inner copy, the test sandbox) is
/// not, whatever its `CapEff` says.
pub fn host_root() -> bool {
    crate::sys::is_root() && !scc_sched::Capabilities::in_user_namespace()
}

/// True when this process can reduce its children's capabilities (`CAP_SETPCAP` effective:
/// root, or root of a user namespace).
pub fn can_limit_capabilities() -> bool {
    CapSet::effective_of(std::process::id()).is_some_and(|c| c.contains(CapSet::SETPCAP))
}
