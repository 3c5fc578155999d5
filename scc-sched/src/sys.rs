//! The only `unsafe` of this crate: thin wrappers around `sched_setattr(2)`, `sched_getattr(2)`,
//! `sched_setaffinity(2)`, `sched_getaffinity(2)`, `sched_rr_get_interval(2)`, and the
//! capability calls (`capget(2)`/`capset(2)`, `prctl(2)` bounding/ambient sets and
//! `PR_SET_NO_NEW_PRIVS`).
//!
//! Each wrapper takes plain Rust values, owns the buffer it hands to the kernel and returns
//! `std::io::Error` built from `errno`; the typed errors of the crate are made one level up.

use std::io;
use std::time::Duration;

/// `SCHED_OTHER` (`SCHED_NORMAL`).
pub const SCHED_OTHER: u32 = 0;
/// `SCHED_FIFO`.
pub const SCHED_FIFO: u32 = 1;
/// `SCHED_RR`.
pub const SCHED_RR: u32 = 2;
/// `SCHED_BATCH`.
pub const SCHED_BATCH: u32 = 3;
/// `SCHED_IDLE`.
pub const SCHED_IDLE: u32 = 5;
/// `SCHED_DEADLINE`.
pub const SCHED_DEADLINE: u32 = 6;
/// `SCHED_EXT` (sched_ext, 6.12+ when compiled in).
pub const SCHED_EXT: u32 = 7;

/// Size of `struct sched_attr` we pass (`SCHED_ATTR_SIZE_VER1`).
const SCHED_ATTR_SIZE_VER1: u32 = 56;

/// The kernel's `struct sched_attr` (include/uapi/linux/sched/types.h), version 1 layout.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SchedAttr {
    /// Size of this structure, filled in by the wrappers.
    pub size: u32,
    /// Policy (`SCHED_*`).
    pub sched_policy: u32,
    /// `SCHED_FLAG_*`.
    pub sched_flags: u64,
    /// Nice value for fair policies.
    pub sched_nice: i32,
    /// Static priority for real-time policies.
    pub sched_priority: u32,
    /// Deadline runtime; for fair policies since 6.12 the requested EEVDF slice (ns).
    pub sched_runtime: u64,
    /// Deadline deadline (ns).
    pub sched_deadline: u64,
    /// Deadline period (ns).
    pub sched_period: u64,
    /// Utilization clamp minimum.
    pub sched_util_min: u32,
    /// Utilization clamp maximum.
    pub sched_util_max: u32,
}

fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// `sched_setattr(tid, attr, 0)`. `tid` 0 means the calling thread.
pub fn sched_setattr(tid: i32, attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = SCHED_ATTR_SIZE_VER1;
    // SAFETY: `a` is a properly initialised, correctly laid out `struct sched_attr` whose `size`
    // field says how many bytes the kernel may read; it lives for the whole call and the kernel
    // only reads it.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            tid as libc::c_long,
            &a as *const SchedAttr,
            0 as libc::c_uint,
        )
    };
    check(ret).map(|_| ())
}

/// `sched_getattr(tid, attr, size, 0)`. `tid` 0 means the calling thread.
pub fn sched_getattr(tid: i32) -> io::Result<SchedAttr> {
    let mut a = SchedAttr::default();
    // SAFETY: `a` is a writable `struct sched_attr` of exactly `SCHED_ATTR_SIZE_VER1` bytes,
    // which is the size we tell the kernel it may write; it outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            tid as libc::c_long,
            &mut a as *mut SchedAttr,
            SCHED_ATTR_SIZE_VER1 as libc::c_uint,
            0 as libc::c_uint,
        )
    };
    check(ret).map(|_| a)
}

/// Number of 64-bit words in our CPU mask (1024 CPUs, glibc's `CPU_SETSIZE`).
const MASK_WORDS: usize = 16;

/// `sched_setaffinity(tid, cores)`. Cores beyond 1023 are rejected with `EINVAL`.
pub fn sched_setaffinity(tid: i32, cores: &[usize]) -> io::Result<()> {
    let mut mask = [0u64; MASK_WORDS];
    for &c in cores {
        if c >= MASK_WORDS * 64 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        mask[c / 64] |= 1u64 << (c % 64);
    }
    // SAFETY: `mask` is a readable buffer of `size_of_val(&mask)` bytes, the length we pass; the
    // kernel only reads it during the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            tid as libc::c_long,
            std::mem::size_of_val(&mask),
            mask.as_ptr(),
        )
    };
    check(ret).map(|_| ())
}

/// `sched_getaffinity(tid)`: the sorted list of cores the thread may run on.
pub fn sched_getaffinity(tid: i32) -> io::Result<Vec<usize>> {
    let mut mask = [0u64; MASK_WORDS];
    // SAFETY: `mask` is a writable buffer of `size_of_val(&mask)` bytes, the length we pass; the
    // raw syscall writes at most that many bytes and returns how many it wrote.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_sched_getaffinity,
            tid as libc::c_long,
            std::mem::size_of_val(&mask),
            mask.as_mut_ptr(),
        )
    };
    let bytes = check(ret)? as usize;
    let words = bytes.div_ceil(8).min(MASK_WORDS);
    let mut out = Vec::new();
    for (w, bits) in mask.iter().enumerate().take(words) {
        for b in 0..64 {
            if bits & (1u64 << b) != 0 {
                out.push(w * 64 + b);
            }
        }
    }
    Ok(out)
}

/// `sched_rr_get_interval(tid)`: the round-robin quantum the kernel would give the thread
/// (zero for non-RR policies).
pub fn sched_rr_get_interval(tid: i32) -> io::Result<Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable `struct timespec` that outlives the call.
    let ret = unsafe { libc::sched_rr_get_interval(tid as libc::pid_t, &mut ts) };
    check(ret as libc::c_long)?;
    Ok(Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.max(0) as u32,
    ))
}

/// The calling thread's kernel thread id.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

/// The kernel's `struct __user_cap_header_struct`.
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// The kernel's `struct __user_cap_data_struct` (one of two 32-bit halves).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Reduces the calling process to the capabilities in `keep` (bit n = capability n) for good,
/// also across `execve`: drops every other capability from the bounding set (which is what
/// root gets back at exec), clears the ambient and inheritable sets, limits the effective and
/// permitted sets to `keep`, and sets `PR_SET_NO_NEW_PRIVS` (no setuid or file capabilities
/// can raise them again). Makes only system calls on stack values: async-signal-safe, for use
/// between `fork` and `exec`. Needs `CAP_SETPCAP` unless the bounding set is already within
/// `keep`.
pub fn limit_capabilities(keep: u64) -> io::Result<()> {
    for cap in 0..64u32 {
        if keep & (1u64 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_READ takes a capability number by value and touches no memory.
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if r <= 0 {
            // Not in the bounding set, or beyond the kernel's last capability (EINVAL).
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes a capability number by value and touches no memory.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointers. EINVAL (a kernel before 4.3, without
    // ambient capabilities) leaves nothing to clear.
    let r = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if r != 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINVAL) {
        return Err(io::Error::last_os_error());
    }
    let mut hdr = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: `hdr` is a valid version-3 header and `data` the two-element array version 3
    // writes; both are on our stack and outlive the call.
    check(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    })?;
    let halves = [keep as u32, (keep >> 32) as u32];
    for (d, k) in data.iter_mut().zip(halves) {
        d.permitted &= k;
        d.effective &= d.permitted;
        d.inheritable = 0;
    }
    // SAFETY: as for capget; the kernel only reads `hdr` and `data` here.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })?;
    // SAFETY: PR_SET_NO_NEW_PRIVS takes integers only.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
