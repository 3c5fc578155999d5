//! # scc-launcher: chain descriptions, deployment, traffic, profile and run-time modes
//!
//! The SCC Launcher (paper §5.1, Fig. 6): an operator describes a service chain in a file
//! ([`chain`]); the launcher validates it, turns it into a pure deployment plan ([`plan`]),
//! deploys it in anonymous network namespaces, starts and pins the NFs, hands their PIDs to the
//! scheduler (run-time mode) or the profiler (profile mode), drives traffic through it and tears
//! everything down again, whatever happens.
#![warn(missing_docs)]

pub mod cgroup;
pub mod chain;
pub mod deploy;
pub mod ovs;
pub mod plan;
pub mod profile;
pub mod run;
mod sys;
pub mod traffic;
