//! The OS side of timing: `CLOCK_MONOTONIC`, absolute sleeps, timer slack and thread pinning.
//! Small wrappers around libc calls, each with its safety argument.

use std::io;

/// `CLOCK_MONOTONIC` in ns (the same clock in every thread and process of the host, so a
/// generator and a sink in different processes compare timestamps directly). vDSO: no syscall.
#[inline]
pub fn now_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux, so
    // the call cannot fail (and if it did, `ts` stays zeroed).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// CPU time consumed by the calling thread, in ns (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the clock exists on Linux (on failure `ts`
    // stays zeroed).
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Time the calling thread has spent runnable but waiting for a CPU, in ns (the second field of
/// `/proc/thread-self/schedstat`); `None` when the kernel does not provide it. A generator or
/// sink that waited long was disturbed by other load: its figures measure the machine, not the
/// path.
pub fn thread_runq_wait_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().nth(1)?.parse().ok()
}

/// Sleeps until `CLOCK_MONOTONIC` reaches `deadline_ns` (absolute; retries after signals).
pub fn sleep_until(deadline_ns: u64) {
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

/// Sets the calling thread's timer slack (default 50 us, which delays every sleep by up to that
/// much). Affects only this thread.
pub fn set_timer_slack(ns: u64) -> io::Result<()> {
    // SAFETY: PR_SET_TIMERSLACK takes an unsigned long by value and touches no memory.
    let r = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, ns as libc::c_ulong, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Pins the calling thread (only it) to `core` (scc-sched's affinity call).
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    scc_sched::set_thread_affinity(0, &[core])
}
