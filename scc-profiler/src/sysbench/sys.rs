//! The system benchmarks' only `unsafe` code: thin wrappers over the libc calls they need
//! (pipes, fork/wait, affinity, policy, rlimits, madvise, sockets, the timed syscalls).
//! Each `unsafe` block carries its `SAFETY:` note. The context-switch children run after
//! `fork` in a possibly multi-threaded parent, so everything they call here is a raw system
//! call (no allocation, no locks).

use std::io;

/// A pipe's (read, write) ends.
pub fn pipe() -> io::Result<(i32, i32)> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((fds[0], fds[1]))
}

/// Closes a descriptor we own.
pub fn close(fd: i32) {
    // SAFETY: closing a descriptor this module created; double closes are avoided by
    // the callers.
    unsafe { libc::close(fd) };
}

/// Writes all of `buf` (retrying on EINTR); returns false on error.
pub fn write_all(fd: i32, buf: &[u8]) -> bool {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe the live slice `buf[off..]`.
        let n = unsafe { libc::write(fd, buf[off..].as_ptr().cast(), buf.len() - off) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        off += n as usize;
    }
    true
}

/// Reads exactly `buf.len()` bytes; returns false on error or EOF.
pub fn read_exact(fd: i32, buf: &mut [u8]) -> bool {
    let mut off = 0;
    while off < buf.len() {
        // SAFETY: the pointer and length describe the live slice `buf[off..]`.
        let n = unsafe { libc::read(fd, buf[off..].as_mut_ptr().cast(), buf.len() - off) };
        if n < 0 {
            if io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        if n == 0 {
            return false;
        }
        off += n as usize;
    }
    true
}

/// Monotonic clock in ns.
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid timespec for clock_gettime to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Pins the calling process to `cpu`.
pub fn pin(cpu: usize) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; zeroed is its empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: CPU_SET writes one bit of the local set; `cpu` < CPU_SETSIZE is checked.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: passes a valid cpu_set_t and its size for the calling process (pid 0).
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; zeroed is its empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: passes a valid cpu_set_t and its size for the calling thread.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: reads one bit of the local set, index < CPU_SETSIZE.
        .filter(|c| unsafe { libc::CPU_ISSET(*c, &set) })
        .collect()
}

/// Sets the calling process's policy (priority 1 for the real-time ones).
pub fn set_policy(policy: i32) -> io::Result<()> {
    let prio = if policy == libc::SCHED_FIFO || policy == libc::SCHED_RR {
        1
    } else {
        0
    };
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: passes a valid sched_param for the calling process (pid 0).
    let rc = unsafe { libc::sched_setscheduler(0, policy, &param) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Bounds the calling process: SIGKILL after `rt_us` of real-time CPU without
/// blocking (RLIMIT_RTTIME) and SIGALRM after `secs` of wall time.
pub fn bound(rt_us: u64, secs: u32) {
    let lim = libc::rlimit {
        rlim_cur: rt_us,
        rlim_max: rt_us,
    };
    // SAFETY: passes a valid rlimit for the calling process.
    unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &lim) };
    // SAFETY: alarm has no memory arguments.
    unsafe { libc::alarm(secs) };
}

/// fork(2). The child must only call async-signal-safe functions and `_exit`.
pub fn fork() -> io::Result<i32> {
    // SAFETY: the child side (the two children in `ctxswitch::context_switch`) only makes raw
    // system calls and ends with `_exit`.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(pid)
}

/// Ends a forked child without running destructors or atexit handlers.
pub fn exit(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// Waits for a child we forked, up to `timeout`; kills it (by its PID) on timeout.
/// Returns whether it exited with status 0.
pub fn wait_child(pid: i32, timeout: std::time::Duration) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let mut status = 0;
        // SAFETY: waits for our own child; `status` is a valid int.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
        }
        if r < 0 {
            return false;
        }
        if std::time::Instant::now() > deadline {
            // SAFETY: `pid` is a child this process forked and has not reaped.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            // SAFETY: reaps the child we just killed.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Asks the kernel not to back `region` with transparent huge pages (the DTLB benchmark
/// needs 4 KiB pages).
pub fn no_huge_pages(region: &mut [usize]) -> io::Result<()> {
    // SAFETY: the pointer and byte length describe the live, exclusively borrowed slice
    // `region`; the advice only changes how the kernel backs it, not its contents.
    let rc = unsafe {
        libc::madvise(
            region.as_mut_ptr().cast(),
            std::mem::size_of_val(region),
            libc::MADV_NOHUGEPAGE,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// An owned socket descriptor, closed on drop.
pub struct Socket(i32);

impl Socket {
    /// A socket that receives nothing: `AF_PACKET` with protocol 0 when permitted, else an
    /// unbound `AF_INET/UDP` socket. Returns the socket and a description of its kind.
    pub fn quiet() -> io::Result<(Socket, &'static str)> {
        // SAFETY: plain socket creation without pointers; the fd is owned by `Socket`.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if fd >= 0 {
            return Ok((Socket(fd), "AF_PACKET (protocol 0)"));
        }
        // SAFETY: as above.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if fd >= 0 {
            return Ok((Socket(fd), "AF_INET/UDP (AF_PACKET not permitted)"));
        }
        Err(io::Error::last_os_error())
    }

    /// One non-blocking `recvfrom` into `buf` (its result is returned unchecked: the
    /// benchmark times the call, an empty socket answers EAGAIN).
    pub fn recv_nonblocking(&self, buf: &mut [u8]) -> isize {
        // SAFETY: `buf` is a valid writable buffer of the given length; a null address
        // and address length are allowed by recvfrom.
        unsafe {
            libc::recvfrom(
                self.0,
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        }
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        close(self.0);
    }
}

/// The raw `getppid` system call (not the libc wrapper, which may cache).
pub fn getppid_syscall() -> i64 {
    // SAFETY: getppid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getppid) }
}
