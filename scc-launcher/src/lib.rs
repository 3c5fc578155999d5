//! # scc-launcher: chain descriptions, deployment, traffic, profile and run-time modes
//!
//! The SCC Launcher (paper §5.1, Fig. 6). Filled in by its issue.
#![warn(missing_docs)]

pub mod traffic;
