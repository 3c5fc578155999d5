//! The chain file's types for real hosts at the chain's ends (`[traffic] kind = "hosts"`):
//! the hosts' commands and addresses (part of [`super::schema`], which re-exports them).

use std::net::Ipv4Addr;

use scc_nf::wire::ipv4::Cidr;
use serde::{Deserialize, Serialize};

/// A command run inside a host's namespace (`traffic.server` / `traffic.client`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HostCommand {
    /// A shell command line, run with `sh -c`.
    Shell(String),
    /// A program and its arguments, run as they are (no shell).
    Argv(Vec<String>),
}

impl HostCommand {
    /// The program and its arguments (`sh -c LINE` for a shell string).
    pub fn argv(&self) -> Vec<String> {
        match self {
            HostCommand::Shell(s) => vec!["sh".into(), "-c".into(), s.clone()],
            HostCommand::Argv(v) => v.clone(),
        }
    }
}

/// One host's addresses (`kind = "hosts"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostAddr {
    /// The host's address.
    pub ip: Ipv4Addr,
    /// Its subnet's prefix length.
    pub prefix_len: u8,
    /// Its gateway (the chain's end NF).
    pub gw: Ipv4Addr,
}

impl HostAddr {
    /// The host's address with its prefix length.
    fn prefix(&self) -> Cidr {
        Cidr {
            addr: self.ip,
            len: self.prefix_len,
            explicit_len: true,
        }
    }

    /// The subnet (network address).
    pub fn net(&self) -> Ipv4Addr {
        self.prefix().network()
    }

    /// The subnet as `A.B.C.D/L`.
    pub fn cidr(&self) -> String {
        format!("{}/{}", self.net(), self.prefix_len)
    }

    /// Whether `ip` is in this host's subnet.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        Cidr {
            addr: ip,
            ..self.prefix()
        }
        .network()
            == self.net()
    }
}

/// The default prefix length of the hosts' subnets.
pub const HOST_PREFIX_LEN: u8 = 24;
/// The default number of ping round trips each way.
pub const HOST_PINGS: u32 = 3;
