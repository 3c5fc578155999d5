//! The launcher's few system calls (all `unsafe` of this crate lives here): child set-up between
//! fork and exec, signals to our own children, and a terminal check.

use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Makes `cmd`'s child die with signal `deathsig` when the launcher's spawning thread ends
/// (`PR_SET_PDEATHSIG`; spawn from a long-lived thread, e.g. the main one) and pins it to `core`.
pub fn child_setup(cmd: &mut Command, deathsig: libc::c_int, core: Option<usize>) -> &mut Command {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: an all-zero cpu_set_t is the empty set; CPU_SET only writes inside the struct and
    // ignores cores beyond its capacity (we bound-check against CPU_SETSIZE too).
    let set = core.map(|c| unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if c < libc::CPU_SETSIZE as usize {
            libc::CPU_SET(c, &mut set);
        }
        set
    });
    let hook = move || -> io::Result<()> {
        // SAFETY: prctl, getppid, kill and sched_setaffinity are async-signal-safe system calls;
        // `set` was built before the fork and is only read.
        unsafe {
            if libc::prctl(libc::PR_SET_PDEATHSIG, deathsig as libc::c_ulong, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before prctl: then nobody would signal us.
            if libc::getppid() != parent {
                libc::kill(libc::getpid(), deathsig);
            }
            if let Some(set) = &set
                && libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) != 0
            {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs between fork and exec and makes only async-signal-safe calls on data
    // prepared before the fork; it allocates nothing.
    unsafe { cmd.pre_exec(hook) }
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
    // SAFETY: geteuid cannot fail and has no arguments.
    unsafe { libc::geteuid() == 0 }
}
