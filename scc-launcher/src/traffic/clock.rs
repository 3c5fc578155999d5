//! The OS side of timing: `CLOCK_MONOTONIC`, absolute sleeps, timer slack and thread pinning
//! (the system calls themselves are in the crate's `sys` wrapper module).

use std::io;

use crate::sys;

/// `CLOCK_MONOTONIC` in ns (the same clock in every thread and process of the host, so a
/// generator and a sink in different processes compare timestamps directly). vDSO: no syscall.
#[inline]
pub fn now_ns() -> u64 {
    sys::clock_ns(libc::CLOCK_MONOTONIC)
}

/// CPU time consumed by the calling thread, in ns (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu_ns() -> u64 {
    sys::clock_ns(libc::CLOCK_THREAD_CPUTIME_ID)
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
    sys::sleep_until_monotonic(deadline_ns)
}

/// Sets the calling thread's timer slack (default 50 us, which delays every sleep by up to that
/// much). Affects only this thread.
pub fn set_timer_slack(ns: u64) -> io::Result<()> {
    sys::set_timer_slack(ns)
}

/// Pins the calling thread (only it) to `core` (scc-sched's affinity call).
pub fn pin_current_thread(core: usize) -> io::Result<()> {
    scc_sched::set_thread_affinity(0, &[core])
}
