//! # Real hosts through a chain (`[traffic] kind = "hosts"`)
//!
//! Instead of the generator and the sink, two namespaces with kernel stacks sit at the chain's
//! ends: the source host (`src0`, e.g. 198.18.0.1/24, default route via the first NF's
//! address 198.18.0.254) and the destination host (`dst0`, e.g. 198.19.0.1/24 via the last
//! NF's 198.19.0.254). Every router gets a route for each host's subnet, through the port
//! towards it, with the next hop's MAC (static `via MAC` routes: the launcher knows every MAC
//! it made); forwards and firewalls get the MAC of the hop behind them for the way back. The
//! hosts ARP for their gateway, and the chain's first / last router answers with its port's
//! MAC (`--addr rx=GW` / `--addr tx=GW`); when the NF at an end is not a router, the host
//! gets a permanent neighbour entry for its gateway instead.
//!
//! ```text
//! [src-host] src0 198.18.0.1 ══ r1-rx [r1] r1-tx ══ ... ══ rN-tx ══ dst0 198.19.0.1 [dst-host]
//!            via 198.18.0.254 = r1-rx                       rN-tx = 198.19.0.254
//! ```
//!
//! - this module: the pure part of the plan ([`plan_hosts`], [`HostsPlan`]) and how a user
//!   enters a host's namespace ([`enter_command`]);
//! - [`ping`]: `ping`'s output, parsed (pure);
//! - [`run`]: the run itself (server, built-in pings, client) and its [`HostsReport`].
//!   Deployment of the hosts (addresses, routes, processes) is `crate::deploy`'s.

pub mod ping;
pub mod run;

use crate::chain::{Chain, HostAddr, NfKind, fmt_mac};
use crate::plan::{DeployPlan, NsId, PlanError};

pub use ping::{PingReport, parse_ping};
pub use run::{HostsReport, ProcReport, run_hosts};

/// One host: its namespace and interface (the plan's generator or sink end), addresses and
/// gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostEnd {
    /// `src` or `dst`.
    pub side: &'static str,
    /// Its namespace.
    pub ns: NsId,
    /// Its interface.
    pub ifname: String,
    /// The interface's MAC.
    pub mac: [u8; 6],
    /// Address, subnet and gateway.
    pub addr: HostAddr,
    /// The gateway's MAC (the first NF's rx port, or the last NF's tx port).
    pub gw_mac: [u8; 6],
    /// Whether the host gets a permanent neighbour entry for its gateway (the NF at that end
    /// is not a router, so nothing answers its ARP requests).
    pub static_gw: bool,
}

/// The hosts of a chain (`traffic.kind = "hosts"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsPlan {
    /// The source host (the chain's head).
    pub src: HostEnd,
    /// The destination host (the chain's tail).
    pub dst: HostEnd,
}

impl HostsPlan {
    /// Both hosts, source first.
    pub fn ends(&self) -> [&HostEnd; 2] {
        [&self.src, &self.dst]
    }
}

/// Whether NF `i` of `chain` answers ARP for its port addresses (a router preset).
fn answers_arp(chain: &Chain, i: usize) -> bool {
    chain
        .nfs
        .get(i)
        .is_some_and(|n| n.kind == NfKind::Router && n.config.is_none())
}

/// Adds the hosts to `plan` (made for `chain`, whose traffic is `kind = "hosts"`): the
/// [`HostsPlan`] from the generator's and sink's ends, and to every NF's command line what it
/// needs to pass both ways. A router: a route to each host's subnet through the port towards
/// it (`via` the next hop's MAC), and the gateway address on its port facing a host. A forward
/// or firewall: `--rx-gw-mac`, the MAC of the hop behind it.
pub fn plan_hosts(chain: &Chain, plan: &mut DeployPlan) -> Result<(), PlanError> {
    let t = chain
        .traffic
        .as_ref()
        .ok_or_else(|| PlanError::Invalid("no [traffic] for the hosts".into()))?;
    let (src, dst) = t.host_addrs();
    let n = plan.nfs.len();
    if n != chain.nfs.len() {
        return Err(PlanError::Invalid(
            "real hosts need one process per NF (not a fused chain)".into(),
        ));
    }
    for i in 0..n {
        // The MAC of the hop behind NF i: the source host, or the previous NF's tx port.
        let prev = if i == 0 {
            plan.gen_end.mac
        } else {
            crate::plan::mac_for(&chain.name, i as u8, 1)
        };
        let p = &mut plan.nfs[i];
        let mut extra: Vec<String> = Vec::new();
        match p.kind {
            NfKind::Router => {
                for r in [
                    format!("{} via {} port rx", src.cidr(), fmt_mac(prev)),
                    format!("{} via {} port tx", dst.cidr(), fmt_mac(p.gw_mac)),
                ] {
                    extra.extend(["--route".into(), r]);
                }
                if i == 0 {
                    extra.extend(["--addr".into(), format!("rx={}", src.gw)]);
                }
                if i + 1 == n {
                    extra.extend(["--addr".into(), format!("tx={}", dst.gw)]);
                }
            }
            NfKind::Forward | NfKind::Firewall => {
                extra.extend(["--rx-gw-mac".into(), fmt_mac(prev)]);
            }
            NfKind::Kernel => {
                return Err(PlanError::Invalid(format!(
                    "NF `{}`: a kernel NF cannot serve real hosts",
                    p.name
                )));
            }
        }
        p.argv.extend(extra);
    }
    plan.hosts = Some(HostsPlan {
        src: HostEnd {
            side: "src",
            ns: plan.gen_end.ns,
            ifname: plan.gen_end.ifname.clone(),
            mac: plan.gen_end.mac,
            addr: src,
            gw_mac: plan.gen_end.peer_mac,
            static_gw: !answers_arp(chain, 0),
        },
        dst: HostEnd {
            side: "dst",
            ns: plan.sink.ns,
            ifname: plan.sink.ifname.clone(),
            mac: plan.sink.mac,
            addr: dst,
            gw_mac: plan.sink.peer_mac,
            static_gw: !answers_arp(chain, n - 1),
        },
    });
    Ok(())
}

/// The command that enters a namespace the launcher (process `pid`) holds open as descriptor
/// `fd`: `nsenter --net=/proc/PID/fd/FD`, and, when the launcher runs in a user namespace of
/// its own (`rootless`), first that user namespace (`--preserve-credentials
/// --user=/proc/PID/ns/user`), where the caller is root (pure).
pub fn enter_command(pid: u32, fd: i32, rootless: bool) -> String {
    if rootless {
        // nsenter would otherwise call setgroups, which a user namespace made by an ordinary
        // user denies.
        format!(
            "nsenter --preserve-credentials --user=/proc/{pid}/ns/user --net=/proc/{pid}/fd/{fd}"
        )
    } else {
        format!("nsenter --net=/proc/{pid}/fd/{fd}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enter_commands_name_the_launchers_descriptor() {
        assert_eq!(enter_command(42, 7, false), "nsenter --net=/proc/42/fd/7");
        assert_eq!(
            enter_command(42, 7, true),
            "nsenter --preserve-credentials --user=/proc/42/ns/user --net=/proc/42/fd/7"
        );
    }
}
