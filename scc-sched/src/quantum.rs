//! Time quanta: the paper's Eq. (1) for CFS and what replaced it on EEVDF (pure functions).
//!
//! # The paper's CFS (Linux 3.13)
//! The paper (§5.2.1, Eq. (1)) gives the quantum of a fair task from its static priority
//! `P = 120 + nice` (100..=139):
//!
//! ```text
//! quantum(P) = (140 - P) * 20 ms   if P < 120
//!              (140 - P) *  5 ms   if P >= 120
//! ```
//!
//! so nice 0 gets 100 ms, nice -1 gets 420 ms and nice -20 gets 800 ms; Fig. 9 uses nice -1 and
//! nice -19 with `SCHED_BATCH` (the paper writes "-19 ... 100 based on Eq. (1)", i.e. it counts
//! nice -19 as P = 100; Linux maps nice -19 to P = 101, 780 ms, and nice -20 to P = 100). The
//! formula is the O(1) scheduler's `task_timeslice()`; CFS itself computed a task's slice as its
//! weight's share of `sched_latency_ns`, never shorter than `sched_min_granularity_ns`. Either way
//! a lower nice meant a longer uninterrupted run, which is what the paper exploits.
//!
//! # EEVDF (Linux 6.6+)
//! EEVDF replaced CFS; `sched_min_granularity_ns` and `sched_latency_ns` are gone. Every fair
//! task asks for a *request* of `slice` nanoseconds (default `base_slice_ns`, debugfs
//! `/sys/kernel/debug/sched/base_slice_ns`, 0.7 ms (0.75 ms on the first EEVDF kernels) scaled
//! by `1 + log2(min(cpus, 8))`: 1.4 ms on our 2-core VMs, shown as `se.slice` in
//! `/proc/<pid>/sched`).
//! * **nice** no longer changes the length of a slice: it changes the task's *weight*
//!   ([`nice_to_weight`], 1024 at nice 0, ~1.25x per step). Virtual time advances at
//!   `1024 / weight` of real time, so a low nice gives a larger CPU share and a later virtual
//!   deadline per ns run, i.e. it is picked more often, not run longer per pick.
//! * **slice** (since 6.12, `sched_setattr` with `sched_runtime` for `SCHED_OTHER`/`SCHED_BATCH`,
//!   clamped by the kernel to 0.1..=100 ms; [`crate::SchedSpec::slice`]) sets the request size:
//!   the task's virtual deadline is `vruntime + slice * 1024 / weight`. A long slice lets a task
//!   run longer before another task with an earlier deadline preempts it (the paper's "longer
//!   quantum"); a short slice gives an earlier deadline and so lower wake-up latency.
//! * **SCHED_BATCH** tasks never wake-up-preempt the running task (as in CFS), so a batch NF
//!   finishes its batch before the next NF runs.
//! * A task that blocks before its slice ends (an NF waiting for packets) never uses the rest:
//!   on our VMs EEVDF slices changed nothing for NFs that block long before the slice ends
//!   (`/work/shared/FACTS.md`). Real-time policies (FIFO, RR with
//!   `sched_rr_timeslice_ms`, [`crate::RrTimeslice`]) are unchanged from the paper's kernel.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::policy::{NICE_MAX, NICE_MIN};

/// The paper's Eq. (1): the CFS time quantum of a task with static (dynamic, in the paper's
/// words) priority `p` in 100..=139: `(140 - p) * 20 ms` below 120, `(140 - p) * 5 ms` from 120.
pub fn cfs_time_quantum(p: u32) -> Result<Duration> {
    if !(100..=139).contains(&p) {
        return Err(Error::StaticPriorityOutOfRange(p));
    }
    let ms = if p < 120 {
        (140 - p) * 20
    } else {
        (140 - p) * 5
    };
    Ok(Duration::from_millis(u64::from(ms)))
}

/// Linux's static priority of a nice value: `120 + nice`.
pub fn static_priority(nice: i32) -> Result<u32> {
    if !(NICE_MIN..=NICE_MAX).contains(&nice) {
        return Err(Error::NiceOutOfRange(nice));
    }
    Ok((120 + nice) as u32)
}

/// Eq. (1) for a nice value (`P = 120 + nice`).
pub fn cfs_time_quantum_for_nice(nice: i32) -> Result<Duration> {
    cfs_time_quantum(static_priority(nice)?)
}

/// The kernel's `sched_prio_to_weight[]` table, nice -20..=19.
const PRIO_TO_WEIGHT: [u32; 40] = [
    88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100, 4904,
    3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172, 137, 110, 87,
    70, 56, 45, 36, 29, 23, 18, 15,
];

/// The load weight of a fair task with this nice (CFS and EEVDF alike; 1024 at nice 0).
/// `SCHED_IDLE` tasks get weight 3 whatever their nice.
pub fn nice_to_weight(nice: i32) -> Result<u32> {
    if !(NICE_MIN..=NICE_MAX).contains(&nice) {
        return Err(Error::NiceOutOfRange(nice));
    }
    Ok(PRIO_TO_WEIGHT[(nice - NICE_MIN) as usize])
}

/// EEVDF's virtual deadline distance of a request: `slice * 1024 / weight` (virtual ns). Two
/// tasks with equal eligibility are served in order of this value; it is how nice and slice
/// combine on EEVDF.
pub fn eevdf_virtual_request(slice: Duration, nice: i32) -> Result<Duration> {
    let w = u128::from(nice_to_weight(nice)?);
    let ns = slice.as_nanos() * 1024 / w;
    Ok(Duration::from_nanos(u64::try_from(ns).unwrap_or(u64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eq1_values() {
        let ms = |p| cfs_time_quantum(p).unwrap().as_millis();
        assert_eq!(ms(100), 800); // nice -20, the paper's "800 ms"
        assert_eq!(ms(101), 780); // nice -19
        assert_eq!(ms(119), 420); // nice -1, the paper's "420 ms"
        assert_eq!(ms(120), 100); // nice 0, the paper's default "up to 100 ms"
        assert_eq!(ms(121), 95);
        assert_eq!(ms(139), 5); // nice 19
        assert!(matches!(
            cfs_time_quantum(99),
            Err(Error::StaticPriorityOutOfRange(99))
        ));
        assert!(matches!(
            cfs_time_quantum(140),
            Err(Error::StaticPriorityOutOfRange(140))
        ));
    }

    #[test]
    fn eq1_for_nice() {
        assert_eq!(
            cfs_time_quantum_for_nice(0).unwrap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            cfs_time_quantum_for_nice(-1).unwrap(),
            Duration::from_millis(420)
        );
        assert_eq!(
            cfs_time_quantum_for_nice(-20).unwrap(),
            Duration::from_millis(800)
        );
        assert!(cfs_time_quantum_for_nice(20).is_err());
        // Monotonic: a lower nice never gets a shorter quantum, and the step doubles... at 120.
        let mut last = Duration::MAX;
        for n in -20..=19 {
            let q = cfs_time_quantum_for_nice(n).unwrap();
            assert!(q < last);
            last = q;
        }
    }

    #[test]
    fn weights() {
        assert_eq!(nice_to_weight(0).unwrap(), 1024);
        assert_eq!(nice_to_weight(-20).unwrap(), 88761);
        assert_eq!(nice_to_weight(19).unwrap(), 15);
        assert!(nice_to_weight(-21).is_err());
        // ~1.25x per nice step.
        for n in -20..19 {
            let r =
                f64::from(nice_to_weight(n).unwrap()) / f64::from(nice_to_weight(n + 1).unwrap());
            assert!((1.15..1.35).contains(&r), "nice {n}: ratio {r}");
        }
    }

    #[test]
    fn virtual_request() {
        let s = Duration::from_millis(3);
        assert_eq!(eevdf_virtual_request(s, 0).unwrap(), s);
        assert!(eevdf_virtual_request(s, -19).unwrap() < Duration::from_micros(60));
        assert_eq!(
            eevdf_virtual_request(s, 19).unwrap(),
            Duration::from_nanos(3_000_000 * 1024 / 15)
        );
    }
}
