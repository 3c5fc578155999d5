//! The launcher's few system calls (all `unsafe` of this crate lives here): child set-up between
//! fork and exec, pipes, signals to our own children, clocks and sleeps, timer slack, and a
//! root check.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child die with signal `deathsig` when the launcher's spawning thread ends
/// (`PR_SET_PDEATHSIG`; spawn from a long-lived thread, e.g. the main one) and pins it to `core`.
pub fn child_setup(cmd: &mut Command, deathsig: libc::c_int, core: Option<usize>) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    let hook = move || -> io::Result<()> {
        // SAFETY: prctl, getppid and kill are async-signal-safe system calls without memory
        // arguments.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, deathsig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would signal us.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), deathsig);
            }
        }
        // scc-sched's affinity call: one system call on a stack mask, async-signal-safe.
        if let Some(c) = core {
            scc_sched::set_thread_affinity(0, &[c])?;
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec and makes only async-signal-safe calls on data
    // prepared before the fork; it allocates nothing.
    unsafe { cmd.pre_exec(hook) }
}

/// Makes `cmd`'s child keep only the capabilities in `keep`, for good (also across its
/// `exec`; [`scc_sched::CapSet::limit_process`], with `PR_SET_NO_NEW_PRIVS`). Register it after
/// every other hook that needs privileges (entering a namespace).
pub fn limit_capabilities(cmd: &mut Command, keep: scc_sched::CapSet) -> &mut Command {
    // scc-sched's call: prctl/capget/capset on stack values, async-signal-safe.
    let hook = move || keep.limit_process();
    // SAFETY: the hook runs between fork and exec and makes only async-signal-safe system calls
    // on values copied before the fork; it allocates nothing.
    unsafe { cmd.pre_exec(hook) }
}

/// Lets `cmd`'s child inherit descriptor `fd` (open in the launcher, close-on-exec) under the
/// same number, e.g. the writing end of an NF's status pipe (`--status-fd N`). Only the child's
/// copy loses close-on-exec, so no other child inherits it; the launcher closes its own copy
/// once the child is spawned.
pub fn inherit_fd(cmd: &mut Command, fd: std::os::fd::RawFd) -> &mut Command {
    let hook = move || -> io::Result<()> {
        // SAFETY: fcntl is async-signal-safe and takes only a descriptor number; `fd` is open in
        // the child (it was open in the parent at fork).
        unsafe {
            let flags = libc::fcntl(fd, libc::F_GETFD);
            if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec, makes only async-signal-safe calls and
    // allocates nothing.
    unsafe { cmd.pre_exec(hook) }
}

/// A pipe, both ends close-on-exec: `(reading end, writing end)` (`pipe2(2)`; std's
/// `io::pipe` is newer than this crate's minimum Rust version).
pub fn pipe() -> io::Result<(std::fs::File, std::fs::File)> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two descriptors into the two-element array it is given.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success both descriptors are open and owned by nobody else: each is wrapped
    // exactly once, so each is closed exactly once.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    Ok((r.into(), w.into()))
}

/// Creates a new folder `<prefix>XXXXXX` with six random characters, mode 0700, that did not
/// exist before (`mkdtemp(3)`): nobody else can have made it or can look inside.
pub fn mkdtemp(prefix: &std::path::Path) -> io::Result<std::path::PathBuf> {
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    let mut t = prefix.as_os_str().as_bytes().to_vec();
    if t.contains(&0) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    t.extend_from_slice(b"XXXXXX\0");
    // SAFETY: `t` is a writable, NUL-terminated buffer ending in "XXXXXX"; mkdtemp replaces
    // those six bytes in place and returns `t`'s pointer or NULL.
    let p = unsafe { libc::mkdtemp(t.as_mut_ptr().cast()) };
    if p.is_null() {
        return Err(io::Error::last_os_error());
    }
    t.pop();
    Ok(std::ffi::OsString::from_vec(t).into())
}

/// The effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and has no arguments.
    unsafe { libc::geteuid() }
}

/// Sends `sig` to process `pid` (one of our children).
pub fn signal(pid: u32, sig: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pid <= 0 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill has no memory arguments; pid > 0 targets exactly one process.
    if unsafe { libc::kill(pid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Sends `sig` to the process group `pgid`, which one of our children leads (it was started in
/// a group of its own: `process_group(0)`), so that what it started gets the signal too.
pub fn signal_group(pgid: u32, sig: libc::c_int) -> io::Result<()> {
    let pgid =
        libc::pid_t::try_from(pgid).map_err(|_| io::Error::from_raw_os_error(libc::ESRCH))?;
    if pgid <= 1 {
        return Err(io::Error::from_raw_os_error(libc::ESRCH));
    }
    // SAFETY: kill has no memory arguments; -pgid (pgid > 1) targets exactly that group.
    if unsafe { libc::kill(-pgid, sig) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The name of signal `sig` (e.g. `SIGKILL`).
pub fn signal_name(sig: i32) -> String {
    let name = match sig {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {sig}"),
    };
    format!("{name} ({sig})")
}

/// True when the effective uid is 0 in the current user namespace.
pub fn is_root() -> bool {
    euid() == 0
}

/// `clock_gettime(clock)` in ns (0 if the clock does not exist).
#[inline]
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clocks we pass exist on Linux, so the call
    // cannot fail (and if it did, `ts` stays zeroed).
    unsafe { libc::clock_gettime(clock, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Sleeps until `CLOCK_MONOTONIC` reaches `deadline_ns` (absolute; retries after signals).
pub fn sleep_until_monotonic(deadline_ns: u64) {
    let ts = libc::timespec {
        tv_sec: (deadline_ns / 1_000_000_000) as libc::time_t,
        tv_nsec: (deadline_ns % 1_000_000_000) as libc::c_long,
    };
    loop {
        // SAFETY: `ts` is a valid timespec; the remaining-time pointer may be null with
        // TIMER_ABSTIME.
        let r = unsafe {
            libc::clock_nanosleep(
                libc::CLOCK_MONOTONIC,
                libc::TIMER_ABSTIME,
                &ts,
                std::ptr::null_mut(),
            )
        };
        if r != libc::EINTR {
            return;
        }
    }
}

/// Sets the calling thread's timer slack in ns (`PR_SET_TIMERSLACK`).
pub fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and touches no memory.
    let r = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
