//! The chain description: a TOML (or JSON) file naming the NFs in order, their execution
//! environment, I/O, interconnect, scheduling and traffic (paper §5.1, Fig. 6).
//!
//! - [`schema`]: the serde types of every section (policies and plans are scc-sched's).
//! - [`parse`]: [`Chain::parse`] rejects unknown fields with the field's path and, when a known
//!   field is close, the intended one.
//! - [`host`]: [`HostInfo`], the host's facts validation needs.
//! - validation: [`Chain::validate`] (pure) checks every value, one function per section, and
//!   returns every problem with its field path and reason.
//! - [`sched`]: the chain's scheduling as scc-sched's plan.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

pub mod host;
pub mod parse;
pub mod sched;
pub mod schema;
mod validate;

pub use host::HostInfo;
pub use parse::{ChainError, FieldError, suggest};
pub use sched::SWITCH_TASK;
pub use schema::*;

/// Looks `prog` up in `PATH`.
pub use crate::proc::find_in_path;

/// `[a-z0-9-]`, 1..=max characters, not starting or ending with `-`.
pub fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses `A.B.C.D/L` (host bits must be zero).
pub fn parse_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a prefix: expected A.B.C.D/LEN"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("`{a}` is not an IPv4 address (in prefix `{s}`)"))?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("`{l}` is not a prefix length 0..=32 (in prefix `{s}`)"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(format!(
            "`{s}` has host bits set: did you mean `{}/{len}`?",
            Ipv4Addr::from(u32::from(addr) & mask)
        ));
    }
    Ok((addr, len))
}

/// Parses `aa:bb:cc:dd:ee:ff` (a unicast MAC).
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!(
            "`{s}` is not a MAC: expected six hex bytes aa:bb:cc:dd:ee:ff"
        ));
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(format!("`{s}` is not a MAC: `{p}` is not two hex digits"));
        }
        mac[i] = u8::from_str_radix(p, 16)
            .map_err(|_| format!("`{s}` is not a MAC: `{p}` is not hex"))?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "`{s}` is a multicast/broadcast MAC; a next hop is unicast"
        ));
    }
    if mac == [0; 6] {
        return Err(format!("`{s}` is the all-zero MAC"));
    }
    Ok(mac)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Summary of a chain for `scc check` (what would be deployed).
pub fn summary(chain: &Chain) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("name", chain.name.clone());
    m.insert(
        "mode",
        match chain.mode {
            Mode::Runtime => "runtime",
            Mode::Profile => "profile",
        }
        .into(),
    );
    m.insert(
        "nfs",
        chain
            .nfs
            .iter()
            .map(|n| format!("{}:{}", n.name, n.kind.name()))
            .collect::<Vec<_>>()
            .join(" -> "),
    );
    m.insert("interconnect", chain.interconnect.kind.name().into());
    m.insert(
        "io",
        format!("{} batch {}", chain.io.driver, chain.io.batch),
    );
    m
}
