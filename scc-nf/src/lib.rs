//! # scc-nf: Click-style network function elements and NFs
//!
//! The library of network functions that SCC chains are made of (paper §4.1, §5.1): the standard
//! IP router of the Click paper without ARPQuerier, a firewall and a forwarder, built from
//! batch-oriented elements that own no I/O. Filled in by its issue.
#![warn(missing_docs)]
