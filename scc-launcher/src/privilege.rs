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
/// - `xdp` and `auto` (which may pick AF_XDP): [`KERNEL_BYPASS_CAPS`].
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
        // `auto` may pick AF_XDP.
        Driver::Xdp | Driver::Auto => KERNEL_BYPASS_CAPS,
    }
}

/// [`nf_capabilities`], plus `CAP_DAC_READ_SEARCH` when the NF reads files named in the chain
/// (`routes_file`, `rules_file`, `config`): as root without it, the NF could not read a file
/// that only the chain's author may read (e.g. under a home folder of mode 0700 or 0750),
/// which root could before. It grants reading and searching only, never writing.
pub fn nf_capabilities_reading(driver: Driver, reads_files: bool) -> CapSet {
    let caps = nf_capabilities(driver);
    if reads_files {
        caps.with(CapSet::DAC_READ_SEARCH)
    } else {
        caps
    }
}

/// What an AF_XDP NF needs: `CAP_NET_RAW` (the `AF_XDP` socket), `CAP_BPF` (loading its XDP
/// program and XSK map, Linux 5.8+), `CAP_NET_ADMIN` (attaching the program to the interface)
/// and `CAP_IPC_LOCK` (its UMEM is charged to `RLIMIT_MEMLOCK` unless the process has it; the
/// default limit is 8 MiB).
pub const KERNEL_BYPASS_CAPS: CapSet = CapSet(
    (1 << CapSet::NET_RAW)
        | (1 << CapSet::NET_ADMIN)
        | (1 << CapSet::BPF)
        | (1 << CapSet::IPC_LOCK),
);

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_keeps_what_it_needs() {
        let raw = CapSet::of(&[CapSet::NET_RAW]);
        for d in ["packet", "mmsg", "ring"] {
            let d: Driver = d.parse().unwrap();
            assert_eq!(nf_capabilities(d), raw, "{d:?}");
            assert!(!nf_capabilities(d).contains(CapSet::SYS_NICE));
        }
        assert_eq!(nf_capabilities(Driver::Mem), CapSet::EMPTY);
        let ring = "ring".parse().unwrap();
        assert_eq!(nf_capabilities_reading(ring, false), raw);
        assert_eq!(
            nf_capabilities_reading(ring, true).names(),
            ["CAP_DAC_READ_SEARCH", "CAP_NET_RAW"]
        );
        assert_eq!(
            KERNEL_BYPASS_CAPS.names(),
            ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_BPF"]
        );
        assert_eq!(nf_capabilities(Driver::Xdp), KERNEL_BYPASS_CAPS);
        assert_eq!(nf_capabilities(Driver::Auto), KERNEL_BYPASS_CAPS);
    }
}
