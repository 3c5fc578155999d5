//! # scc-nf: Click-style network function elements and NFs
//!
//! The library of network functions that SCC chains are made of (paper §4.1, §5.1): the standard
//! IP router of the Click paper without ARPQuerier, a firewall and a forwarder, built from
//! batch-oriented elements that own no I/O.
//!
//! - [`wire`]: typed zero-copy views of Ethernet, ARP, IPv4, ICMP and UDP, checksums, builders.
#![warn(missing_docs)]

pub mod lpm;
pub mod wire;
