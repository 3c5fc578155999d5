//! `[[nf]]`: names (and the interface names they make), cores, I/O overrides, routes, next-hop
//! MAC, and the fields each NF kind takes.

use super::Problems;
use crate::chain::host::HostInfo;
use crate::chain::schema::{Chain, Env, IF_SUFFIXES, InterconnectKind, MAX_IFNAME, NfKind, NfSpec};

/// Every `[[nf]]`.
pub(super) fn nfs(chain: &Chain, host: &HostInfo, p: &mut Problems) {
    if chain.nfs.is_empty() {
        p.add("nf", "a chain needs at least one [[nf]]");
    } else if chain.nfs.len() > 250 {
        p.add("nf", format!("{} NFs: at most 250", chain.nfs.len()));
    }
    for (i, nf) in chain.nfs.iter().enumerate() {
        let path = format!("nf[{i}]");
        name(chain, i, nf, &path, p);
        if let Some(c) = nf.core
            && !host.is_online(c)
        {
            p.add(format!("{path}.core"), host.core_reason(c));
        }
        if nf.io.driver.is_some() || nf.io.batch.is_some() {
            super::io::check_io(&chain.nf_io(i), &format!("{path}.io"), p);
        }
        for (j, r) in nf.routes.iter().enumerate() {
            if let Err(e) = crate::chain::parse_prefix(r) {
                p.add(format!("{path}.routes[{j}]"), e);
            }
        }
        if let Some(m) = &nf.gw_mac
            && let Err(e) = crate::chain::parse_mac(m)
        {
            p.add(format!("{path}.gw_mac"), e);
        }
        kind_fields(nf, chain.hosts(), &path, p);
        rules(nf, &path, p);
    }
}

/// A valid, unique name whose interface names fit the kernel's limit.
fn name(chain: &Chain, i: usize, nf: &NfSpec, path: &str, p: &mut Problems) {
    if !crate::chain::valid_name(&nf.name, MAX_IFNAME) {
        p.add(
            format!("{path}.name"),
            format!("`{}`: an NF name is non-empty [a-z0-9-]", nf.name),
        );
    } else {
        let suffixes: &[&str] = if chain.interconnect.kind == InterconnectKind::B2b {
            &IF_SUFFIXES[..2]
        } else {
            &IF_SUFFIXES
        };
        let longest = suffixes.iter().map(|s| s.len()).max().unwrap_or(0);
        for suffix in suffixes {
            let ifname = format!("{}{suffix}", nf.name);
            if ifname.len() > MAX_IFNAME {
                p.add(
                    format!("{path}.name"),
                    format!(
                        "`{}` makes the interface name `{ifname}` ({} bytes) but the \
                         kernel allows {MAX_IFNAME} (IFNAMSIZ-1): use at most {} characters",
                        nf.name,
                        ifname.len(),
                        MAX_IFNAME - longest
                    ),
                );
                break;
            }
        }
    }
    if chain.nfs[..i].iter().any(|o| o.name == nf.name) {
        p.add(
            format!("{path}.name"),
            format!("duplicate NF name `{}`", nf.name),
        );
    }
}

/// Routes only for routers (which need some, unless the launcher routes real hosts through
/// them: `hosts`), rules only for firewalls.
fn kind_fields(nf: &NfSpec, hosts: bool, path: &str, p: &mut Problems) {
    let has_rules = !nf.rules.is_empty() || nf.rules_file.is_some();
    let has_routes = !nf.routes.is_empty() || nf.routes_file.is_some();
    match nf.kind {
        NfKind::Router => {
            if !hosts && nf.routes.is_empty() && nf.routes_file.is_none() && nf.config.is_none() {
                p.add(
                    format!("{path}.routes"),
                    "a router needs routes (e.g. routes = [\"198.18.0.0/15\"]) or routes_file",
                );
            }
            if has_rules {
                p.add(
                    format!("{path}.rules"),
                    "rules are for a firewall, this NF is a router",
                );
            }
        }
        NfKind::Kernel => {
            if nf.routes.is_empty() {
                p.add(
                    format!("{path}.routes"),
                    "a kernel router needs routes (e.g. routes = [\"198.18.0.0/15\"])",
                );
            }
            if nf.env != Env::Netns {
                p.add(
                    format!("{path}.env"),
                    "a kernel NF forwards in its own namespace: use env = \"netns\"",
                );
            }
            for (field, set) in [
                ("routes_file", nf.routes_file.is_some()),
                ("config", nf.config.is_some()),
                ("rules", has_rules),
            ] {
                if set {
                    p.add(
                        format!("{path}.{field}"),
                        "not for a kernel NF (it has `routes` only)",
                    );
                }
            }
        }
        NfKind::Firewall | NfKind::Forward => {
            if has_routes {
                p.add(
                    format!("{path}.routes"),
                    format!("routes are for a router, this NF is a {}", nf.kind.name()),
                );
            }
            if nf.kind == NfKind::Forward && has_rules {
                p.add(
                    format!("{path}.rules"),
                    "rules are for a firewall, this NF is a forward",
                );
            }
        }
    }
}

/// Inline rules, each one line in scc-nf's rule syntax.
fn rules(nf: &NfSpec, path: &str, p: &mut Problems) {
    for (j, r) in nf.rules.iter().enumerate() {
        if r.trim().is_empty() || r.contains('\n') {
            p.add(format!("{path}.rules[{j}]"), "a rule is one non-empty line");
        } else if let Err(e) = scc_nf::filter::parse_rules(r, "rule") {
            let reason = match e {
                scc_nf::NfError::Parse { msg, .. } => msg,
                other => other.to_string(),
            };
            p.add(format!("{path}.rules[{j}]"), format!("`{r}`: {reason}"));
        }
    }
}
