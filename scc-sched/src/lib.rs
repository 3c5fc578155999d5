//! # scc-sched: scheduling policies, time quanta, pinning, core reservation and plans
//!
//! The SCC Scheduler (paper §5.2, Table 6, Fig. 7). Filled in by its issue.
#![warn(missing_docs)]
