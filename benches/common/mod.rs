//! Helpers shared by the criterion benches (`mod common;` in each bench file).
//!
//! The benches time in the calling thread's CPU time: on a shared, loaded VM, wall-clock time
//! would also count the turns other processes take on the core.
#![allow(dead_code)] // each bench uses a subset

use std::hint::black_box;
use std::time::Duration;

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`).
pub fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Like `Bencher::iter`, timed in thread CPU time.
pub fn cpu_iter<T>(b: &mut criterion::Bencher<'_>, mut f: impl FnMut() -> T) {
    b.iter_custom(|iters| {
        let t = thread_cpu();
        for _ in 0..iters {
            black_box(f());
        }
        thread_cpu() - t
    })
}
