//! # scc-sched: scheduling policies, time quanta, pinning, core reservation and plans
//!
//! The SCC Scheduler (paper §5.2, Table 6, Fig. 7), usable on its own by PID:
//!
//! * [`apply`] a [`SchedSpec`] (policy `other`/`batch` with nice, `fifo`/`rr` with priority,
//!   `idle`; an EEVDF [`SchedSpec::slice`]; an affinity) to a process and **every thread** of it,
//!   [`read`] it back, [`Applied::restore`] the previous settings.
//! * [`RrTimeslice`]: the RR quantum for a run, restored on drop.
//! * [`cfs_time_quantum`]: the paper's Eq. (1); [`quantum`] explains how nice and slice act on
//!   EEVDF (Linux 6.6+) versus the paper's CFS.
//! * [`Capabilities::detect`]: privileges, slice support, cgroup layout, RT throttling,
//!   `/dev/cpu_dma_latency`.
//! * Placement: [`pin_current_thread`], [`set_affinity`], and [`CoreReservation`] (an exclusive
//!   cpuset cgroup, v2 or v1, removed on drop).
//! * [`mod@plan`] and [`plan()`]: uniprocessor (Fig. 7a) and multiprocessor (Fig. 7b, one scheduler instance per
//!   core) plans, pure and validated.
//! * [`KeepAwake`]: `/dev/cpu_dma_latency` held at 0, or SCHED_IDLE spinners on the chain's
//!   cores, released on drop.
//!
//! * [`handoff`]: the `chain-order` plan's hand-off of a shared core between processes in chain
//!   order (a futex token in a shared-memory file).
//!
//! Safety rules: a real-time policy is refused when it would cover every online core (a
//! housekeeping core stays fair); a warning is returned when RT throttling is off.
//!
//! ```no_run
//! use scc_sched::{apply, Policy, SchedSpec};
//! # fn main() -> scc_sched::Result<()> {
//! let nf_pid = 1234;
//! let spec = SchedSpec::new(Policy::Batch { nice: -19 }).with_affinity(vec![1]);
//! let applied = apply(nf_pid, &spec)?;
//! for w in &applied.warnings { eprintln!("warning: {w}"); }
//! // ... run the chain ...
//! applied.restore()?;
//! # Ok(()) }
//! ```
#![warn(missing_docs)]

mod apply;
mod awake;
mod caps;
mod cpus;
mod cpuset;
mod error;
pub mod handoff;
pub mod plan;
mod policy;
pub mod quantum;
mod rr;
mod sys;

pub use apply::{
    Applied, AppliedPlan, ThreadChange, affinity, apply, apply_plan, apply_thread, base_slice,
    check_rt_housekeeping, parse_proc_sched_slice, pin_current_thread, proc_slice, read, read_all,
    rr_interval, rt_runtime_us, set_affinity, slice_supported,
};
pub use awake::{KeepAwake, KeepAwakeMode, current_dma_latency_us, dma_latency_effective};
pub use caps::{CapSet, Capabilities, CgroupLayout, DmaLatency};
pub use cpus::{check_cores_online, format_cpu_list, online_cpus, parse_cpu_list, threads};
pub use cpuset::{
    CgroupVersion, CoreReservation, OTHERS_SUFFIX, ReservationOptions, remove_cgroup_dir,
};
pub use error::{Error, Result};
pub use plan::{
    Instance, NfRequest, Placement, Plan, PlanKind, PlanRequest, Role, SwitchRequest, plan,
};
pub use policy::{
    NICE_MAX, NICE_MIN, Policy, PolicyKind, RT_PRIORITY_MAX, RT_PRIORITY_MIN, SLICE_MAX, SLICE_MIN,
    SchedSpec, SchedState, check_slice,
};
pub use quantum::{cfs_time_quantum, cfs_time_quantum_for_nice, nice_to_weight, static_priority};
pub use rr::{RR_TIMESLICE_PATH, RrTimeslice, rr_timeslice_ms};
/// `sched_setaffinity(2)` of thread `tid` (0: the calling thread) to `cores`, in one system
/// call: no allocation, no lock, async-signal-safe, so it may run between `fork` and `exec`
/// (the launcher pins its NFs this way). Cores beyond 1023 are refused with `EINVAL`.
pub use sys::sched_setaffinity as set_thread_affinity;
