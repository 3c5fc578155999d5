//! Network namespaces held by file descriptors, and a sandbox for tests.
//!
//! # Why nothing can leak
//!
//! Every namespace this module creates is *anonymous*: it is never bind-mounted under
//! `/run/netns` (what `ip netns add` does), it exists only as long as something refers to it: an
//! open file descriptor (a [`NetNs`]) or a process (or thread) living inside it. When the last of
//! those goes away, the kernel destroys the namespace together with every interface in it (veth
//! pairs, bridges, addresses). So a test or a chain that builds its topology inside namespaces of
//! its own cannot leave anything behind, whether it returns, panics, or is killed with `SIGKILL`:
//! cleanup happens by construction, not by a `Drop` that might not run. [`crate::link::VethPair`]
//! still deletes its pair on drop, which matters only for long-lived namespaces.
//!
//! # The test sandbox
//!
//! Creating veth pairs and `AF_PACKET` sockets needs `CAP_NET_ADMIN` and `CAP_NET_RAW`. An
//! ordinary user gets both by creating a *user* namespace (where it is mapped to uid 0) and a
//! network namespace owned by it, like `unshare -Urn`. The kernel refuses
//! `unshare(CLONE_NEWUSER)` in a multi-threaded process, and the Rust test harness is
//! multi-threaded, so the namespaces are entered by a *fresh child process*:
//!
//! 1. `sandboxed` (or the `sandbox_test!` macro; both behind the `test-util` feature) runs in the harness as
//!    a normal test. It re-executes the current test binary for exactly this one test
//!    (`<test-path> --exact --include-ignored --nocapture --test-threads=1`) with
//!    `SCC_SANDBOX=<test-path>` in the
//!    environment, through [`command_in_new_user_netns`].
//! 2. Between `fork` and `exec` (`pre_exec`, where the child is still single-threaded) the child
//!    calls `unshare(CLONE_NEWUSER | CLONE_NEWNET)`, writes `deny` to `/proc/self/setgroups`,
//!    maps its uid and gid to 0 (`0 <uid> 1`), and brings `lo` up. Only async-signal-safe system
//!    calls on buffers prepared before the fork run there.
//! 3. The child test binary runs the same test; this time `SCC_SANDBOX` names it, so
//!    `sandboxed` runs the body directly, as "root" of a private network namespace.
//! 4. The parent waits (bounded by `SCC_SANDBOX_TIMEOUT` seconds, default 120), forwards the
//!    child's output and panics, quoting that output, if the child failed or did not run
//!    exactly one test.
//!
//! The child's namespaces die with it, so the host's namespaces are never touched. As root, where
//! user namespaces might be disabled, the sandbox falls back to a plain new network namespace.
//!
//! # Using the sandbox from another crate's tests
//!
//! Add `scc-io.workspace = true` to the crate's `[dev-dependencies]` (or use it as a normal
//! dependency), then write tests with the macro; it works in integration tests (`tests/*.rs`)
//! and in unit tests inside `src/` alike, at any module depth (the libtest path is computed from
//! `module_path!()`):
//!
//! ```no_run
//! // scc-nf/tests/forward.rs
//! use scc_io::link::VethPair;
//!
//! scc_io::sandbox_test!(
//!     /// Doc comments and attributes such as `#[ignore]` are kept.
//!     fn frames_cross_a_veth() {
//!         let pair = VethPair::create("fa0", "fb0").unwrap();
//!         // ... open ports on pair.a / pair.b, send, receive, assert ...
//!         # let _ = pair;
//!     }
//! );
//! ```
//!
//! The body runs in the child with the harness' usual panic reporting: a failing assertion
//! fails the test, and the parent's panic message quotes the child's stdout and stderr.
//! Inside, the process is uid 0 of its own user namespace with `CAP_NET_ADMIN`/`CAP_NET_RAW`/
//! `CAP_SYS_ADMIN` there ([`have_net_admin`] is true), so it can:
//! - build veth pairs and bridges with [`crate::link::Netlink`] / [`crate::link::VethPair`];
//! - make one namespace per hop of a chain with [`NetNs::new`], put interfaces in them
//!   ([`crate::link::Netlink::create_veth_peer_in`], [`crate::link::Netlink::move_to_netns`]),
//!   open sockets there ([`NetNs::run`]) and start programs there ([`command_in_netns`]) — child
//!   processes inherit the sandbox, so e.g. the `scc-nf` binary can be spawned from the body;
//! - open `AF_PACKET` sockets (the `scc-io` ports) on those interfaces.
//!
//! Rules of thumb: keep the body quick (seconds); interface names are per namespace, so tests
//! never collide with each other or with the host; `SCC_SANDBOX_TIMEOUT` bounds a hung child.
//! `sandboxed` can also be called by hand: then code *before* the call runs in both the
//! parent and the child (check `in_sandbox` if that matters), and `sandbox_command` +
//! `run_sandbox_command` give a test the child's output to inspect.
//!
//! The launcher's rootless mode uses the same primitive outside tests:
//! [`command_in_new_user_netns`] on any [`Command`] gives the program a private network
//! namespace in which it is root.

use std::fs::File;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::error::{IoError, Result};

// Capability numbers from <linux/capability.h> (libc does not export them).
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;
const CAP_SYS_ADMIN: u32 = 21;

/// A network namespace held open by a file descriptor.
///
/// It is anonymous: it disappears when the last fd and the last process in it are gone, so
/// nothing can leak.
#[derive(Debug)]
pub struct NetNs {
    fd: OwnedFd,
}

impl NetNs {
    /// Creates a fresh network namespace with `lo` up. The calling thread's namespace is
    /// unchanged (the namespace is made by a short-lived helper thread).
    ///
    /// Needs `CAP_SYS_ADMIN` in the owning user namespace: true for root and inside the sandbox.
    pub fn new() -> Result<NetNs> {
        let handle = std::thread::Builder::new()
            .name("scc-netns-new".into())
            .spawn(|| -> Result<NetNs> {
                sys::unshare(libc::CLONE_NEWNET)
                    .map_err(|e| IoError::from_io("unshare(CLONE_NEWNET)", e))?;
                let ns = NetNs::current()?;
                crate::link::Netlink::open()?.set_up("lo")?;
                Ok(ns)
            })
            .map_err(|e| IoError::from_io("spawn namespace thread", e))?;
        handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p))
    }

    /// The calling thread's network namespace.
    pub fn current() -> Result<NetNs> {
        let file = File::open("/proc/thread-self/ns/net")
            .map_err(|e| IoError::from_io("open /proc/thread-self/ns/net", e))?;
        Ok(NetNs { fd: file.into() })
    }

    /// Opens the network namespace of process `pid`.
    pub fn of_pid(pid: u32) -> Result<NetNs> {
        let file = File::open(format!("/proc/{pid}/ns/net"))
            .map_err(|e| IoError::from_io("open /proc/<pid>/ns/net", e))?;
        Ok(NetNs { fd: file.into() })
    }

    /// Moves the calling thread into this namespace; the returned guard moves it back when
    /// dropped. The guard cannot leave the thread.
    pub fn enter(&self) -> Result<NsGuard> {
        let previous = NetNs::current()?;
        sys::setns(self.fd.as_fd(), libc::CLONE_NEWNET)
            .map_err(|e| IoError::from_io("setns(CLONE_NEWNET)", e))?;
        Ok(NsGuard {
            previous,
            _not_send: PhantomData,
        })
    }

    /// Runs `f` on a scoped thread that first joins this namespace, and returns its result.
    /// A panic in `f` is propagated to the caller. Sockets and [`crate::link::Netlink`] handles
    /// opened by `f` stay bound to this namespace after it returns.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T> {
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("scc-netns-run".into())
                .spawn_scoped(s, || -> Result<T> {
                    sys::setns(self.fd.as_fd(), libc::CLONE_NEWNET)
                        .map_err(|e| IoError::from_io("setns(CLONE_NEWNET)", e))?;
                    Ok(f())
                })
                .map_err(|e| IoError::from_io("spawn namespace thread", e))?;
            handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p))
        })
    }

    /// The namespace's identity: the inode number of its nsfs file (what `ip netns identify`
    /// and `readlink /proc/<pid>/ns/net` show as `net:[<inode>]`).
    pub fn inode(&self) -> Result<u64> {
        let file = File::from(
            self.fd
                .try_clone()
                .map_err(|e| IoError::from_io("dup", e))?,
        );
        let meta = file.metadata().map_err(|e| IoError::from_io("fstat", e))?;
        Ok(meta.ino())
    }

    /// The namespace's file descriptor.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Duplicates the handle (both refer to the same namespace).
    pub fn try_clone(&self) -> Result<NetNs> {
        Ok(NetNs {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| IoError::from_io("dup", e))?,
        })
    }
}

impl AsFd for NetNs {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for NetNs {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Returned by [`NetNs::enter`]: moves the thread back to its previous namespace on drop.
#[derive(Debug)]
#[must_use = "the thread leaves the namespace as soon as the guard is dropped"]
pub struct NsGuard {
    previous: NetNs,
    // setns acts on the calling thread: the guard must be dropped where it was made.
    _not_send: PhantomData<*const ()>,
}

impl Drop for NsGuard {
    fn drop(&mut self) {
        if let Err(e) = sys::setns(self.previous.as_fd(), libc::CLONE_NEWNET) {
            // Nothing sensible can be returned from drop; staying in the entered namespace is
            // the safe side (it is never the host's unless the caller entered that).
            eprintln!("scc-io: cannot return to the previous network namespace: {e}");
        }
    }
}

/// Makes `cmd`'s child join `ns` before exec (`pre_exec` + `setns`).
///
/// The namespace fd is duplicated (close-on-exec) so `ns` may be dropped before the spawn.
/// If the duplication fails, the spawn fails with that error.
pub fn command_in_netns<'a>(cmd: &'a mut Command, ns: &NetNs) -> &'a mut Command {
    let dup = ns.fd.try_clone();
    let errno = dup
        .as_ref()
        .err()
        .and_then(io::Error::raw_os_error)
        .unwrap_or(libc::EBADF);
    let fd = dup.ok();
    let hook = move || -> io::Result<()> {
        match &fd {
            Some(fd) => sys::setns(fd.as_fd(), libc::CLONE_NEWNET),
            None => Err(io::Error::from_raw_os_error(errno)),
        }
    };
    // SAFETY: the hook runs between fork and exec; it only calls setns on an fd opened before
    // the fork (or builds an io::Error from an errno, which does not allocate).
    unsafe { cmd.pre_exec(hook) }
}

/// Makes `cmd`'s child unshare `CLONE_NEWUSER | CLONE_NEWNET` before exec, map its uid/gid to 0
/// inside, and bring `lo` up. Works for an ordinary user and for root. Used by tests and by the
/// rootless launcher.
pub fn command_in_new_user_netns(cmd: &mut Command) -> &mut Command {
    // Everything the child needs is prepared here, before the fork.
    let uid_map = format!("0 {} 1", sys::getuid()).into_bytes();
    let gid_map = format!("0 {} 1", sys::getgid()).into_bytes();
    let hook = move || -> io::Result<()> {
        sys::unshare(libc::CLONE_NEWUSER | libc::CLONE_NEWNET)?;
        sys::write_file(c"/proc/self/setgroups", b"deny")?;
        sys::write_file(c"/proc/self/uid_map", &uid_map)?;
        sys::write_file(c"/proc/self/gid_map", &gid_map)?;
        sys::loopback_up()
    };
    // SAFETY: the hook runs between fork and exec in the single-threaded child; it makes only
    // async-signal-safe system calls (unshare, open, write, close, socket, ioctl) on buffers
    // allocated before the fork, and builds io::Errors from errno values without allocating.
    unsafe { cmd.pre_exec(hook) }
}

/// Makes `cmd`'s child unshare `CLONE_NEWNET` (only) before exec and bring `lo` up. Needs
/// `CAP_SYS_ADMIN` (root); [`command_in_new_user_netns`] is the rootless variant.
pub fn command_in_new_netns(cmd: &mut Command) -> &mut Command {
    let hook = || -> io::Result<()> {
        sys::unshare(libc::CLONE_NEWNET)?;
        sys::loopback_up()
    };
    // SAFETY: as in command_in_new_user_netns: only unshare, socket, ioctl and close run
    // between fork and exec, and nothing is allocated.
    unsafe { cmd.pre_exec(hook) }
}

/// True when the process has `CAP_NET_ADMIN` and `CAP_NET_RAW` in its user namespace (root, or
/// inside a user namespace it created, such as the sandbox).
pub fn have_net_admin() -> bool {
    effective_caps().is_some_and(|caps| {
        let need = (1u64 << CAP_NET_ADMIN) | (1u64 << CAP_NET_RAW);
        caps & need == need
    })
}

/// True when the process has `CAP_SYS_ADMIN` (needed by [`NetNs::new`] and [`NetNs::enter`]).
pub fn have_sys_admin() -> bool {
    effective_caps().is_some_and(|caps| caps & (1u64 << CAP_SYS_ADMIN) != 0)
}

fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(line.trim(), 16).ok()
}

// Test support (behind the `test-util` feature): the sandbox that runs one test in a fresh user +
// network namespace lives in `crate::sandbox`; its items keep their paths here.
#[cfg(feature = "test-util")]
pub use crate::sandbox::{
    SANDBOX_ENV, SANDBOX_TIMEOUT_ENV, SandboxOutput, in_sandbox, run_sandbox_command,
    run_sandboxed, sandbox_command, sandboxed, test_path,
};

/// Tiny wrappers around the system calls of this module; the only `unsafe` code here.
mod sys {
    use std::ffi::CStr;
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd};

    fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    pub fn unshare(flags: libc::c_int) -> io::Result<()> {
        // SAFETY: unshare takes no pointers; it only changes the calling thread's namespaces.
        check(unsafe { libc::unshare(flags) }).map(drop)
    }

    pub fn setns(fd: BorrowedFd<'_>, nstype: libc::c_int) -> io::Result<()> {
        // SAFETY: `fd` is a valid open descriptor for the duration of the call.
        check(unsafe { libc::setns(fd.as_raw_fd(), nstype) }).map(drop)
    }

    pub fn getuid() -> libc::uid_t {
        // SAFETY: getuid cannot fail and takes no arguments.
        unsafe { libc::getuid() }
    }

    pub fn getgid() -> libc::gid_t {
        // SAFETY: getgid cannot fail and takes no arguments.
        unsafe { libc::getgid() }
    }

    /// Writes `data` to `path` with raw open/write/close (async-signal-safe, no allocation).
    pub fn write_file(path: &CStr, data: &[u8]) -> io::Result<()> {
        // SAFETY: `path` is NUL-terminated and outlives the call.
        let fd = check(unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC) })?;
        // SAFETY: `data` is valid for `data.len()` bytes; `fd` was just opened.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        let result = if n < 0 {
            Err(io::Error::last_os_error())
        } else if n as usize != data.len() {
            Err(io::Error::from_raw_os_error(libc::EIO))
        } else {
            Ok(())
        };
        // SAFETY: closes the fd opened above, exactly once.
        unsafe { libc::close(fd) };
        result
    }

    /// Sets IFF_UP on `lo` with SIOCGIFFLAGS/SIOCSIFFLAGS (async-signal-safe, no allocation).
    pub fn loopback_up() -> io::Result<()> {
        // SAFETY: socket takes no pointers.
        let sock = check(unsafe {
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        })?;
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in ifr.ifr_name.iter_mut().zip(b"lo") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: `ifr` is a valid ifreq that outlives both calls; the ioctls read the name and
        // read/write the flags member of the union.
        let result = check(unsafe { libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut ifr) })
            .and_then(|_| {
                // SAFETY: SIOCGIFFLAGS filled the flags member of the union.
                unsafe { ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
                // SAFETY: as above.
                check(unsafe { libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &ifr) })
            });
        // SAFETY: closes the socket opened above, exactly once.
        unsafe { libc::close(sock) };
        result.map(drop)
    }
}
