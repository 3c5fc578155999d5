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
mod real_hosts;
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

/// Parses `A.B.C.D/L` (the length is required, host bits must be zero) with scc-nf's prefix
/// parser ([`scc_nf::wire::ipv4::parse_cidr`]).
pub fn parse_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    use scc_nf::wire::ipv4::{PrefixError, parse_cidr};
    let c = parse_cidr(s).map_err(|e| match e {
        PrefixError::BadLength(l) => {
            format!("`{l}` is not a prefix length 0..=32 (in prefix `{s}`)")
        }
        PrefixError::TooLong(l) => format!("`{l}` is not a prefix length 0..=32 (in prefix `{s}`)"),
        PrefixError::BadAddress(a) => format!("`{a}` is not an IPv4 address (in prefix `{s}`)"),
    })?;
    if !c.explicit_len {
        return Err(format!("`{s}` is not a prefix: expected A.B.C.D/LEN"));
    }
    if c.has_host_bits() {
        return Err(format!(
            "`{s}` has host bits set: did you mean `{}/{}`?",
            c.network(),
            c.len
        ));
    }
    Ok((c.addr, c.len))
}

/// Parses a next hop's MAC `aa:bb:cc:dd:ee:ff` with scc-nf's parser ([`scc_nf::wire::MacAddr`])
/// and requires a unicast, non-zero address.
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let mac: scc_nf::wire::MacAddr = s
        .parse()
        .map_err(|_| format!("`{s}` is not a MAC: expected six hex bytes aa:bb:cc:dd:ee:ff"))?;
    if mac.is_multicast() {
        return Err(format!(
            "`{s}` is a multicast/broadcast MAC; a next hop is unicast"
        ));
    }
    if mac == scc_nf::wire::MacAddr::ZERO {
        return Err(format!("`{s}` is the all-zero MAC"));
    }
    Ok(mac.0)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff` (scc-nf's `MacAddr` display).
pub fn fmt_mac(m: [u8; 6]) -> String {
    scc_nf::wire::MacAddr(m).to_string()
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
