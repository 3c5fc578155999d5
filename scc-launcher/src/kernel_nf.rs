//! `kind = "kernel"` NFs: the Linux kernel's own IPv4 forwarding as an NF (paper Fig. 4's
//! kernel-space router). The launcher starts no process: it configures the NF's namespace -
//! `ip_forward = 1`, reverse-path filtering and redirects off, each of the NF's `routes` via a
//! static next hop on its transmit interface (an on-link gateway address with a permanent
//! neighbour entry for the next hop's MAC, so the kernel never sends ARP) - and at the end
//! reads the namespace's own IP counters (`/proc/thread-self/net/snmp`, per namespace) as the
//! NF's `rx`/`tx`/`drops`, counted by the kernel, independently of the sink.
//!
//! The interfaces get no address: nothing is delivered locally, every probe is forwarded or
//! counted (`InHdrErrors` for an expired TTL, `InAddrErrors`, `InNoRoutes`, `InDiscards`,
//! `OutDiscards`, `InDelivers`, ... as drop reasons).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use scc_io::link::Netlink;
use scc_io::netns::NetNs;
use scc_nf::nf::NfCounters;

use crate::chain::parse_prefix;
use crate::deploy::DeployError;
use crate::plan::NfProc;

/// The on-link next-hop address of a kernel NF's routes (198.19.255.254, the benchmarking
/// range's last host; it only names the permanent neighbour entry).
pub const NEXT_HOP: Ipv4Addr = Ipv4Addr::new(198, 19, 255, 254);

/// The IP counters (`/proc/net/snmp`'s `Ip:` lines and `/proc/net/netstat`'s `IpExt:`) that
/// are drops of a forwarder, with their report names.
pub const DROP_COUNTERS: &[(&str, &str)] = &[
    ("Ip:InHdrErrors", "ip_in_hdr_errors"),
    ("Ip:InAddrErrors", "ip_in_addr_errors"),
    ("Ip:InUnknownProtos", "ip_in_unknown_protos"),
    ("Ip:InDiscards", "ip_in_discards"),
    ("Ip:InDelivers", "delivered_locally"),
    ("Ip:OutDiscards", "ip_out_discards"),
    ("Ip:OutNoRoutes", "ip_out_no_routes"),
    ("IpExt:InNoRoutes", "ip_in_no_routes"),
    ("IpExt:InTruncatedPkts", "ip_in_truncated"),
    ("IpExt:InCsumErrors", "ip_in_csum_errors"),
];

fn io(what: String) -> impl FnOnce(scc_io::IoError) -> DeployError {
    move |source| DeployError::Io { what, source }
}

fn sysctl(path: &str, value: &str) -> std::io::Result<()> {
    std::fs::write(format!("/proc/sys/net/ipv4/{path}"), value)
}

/// Configures `ns` as kernel NF `p` (call after its interfaces exist and are up).
pub fn configure(ns: &NetNs, p: &NfProc) -> Result<(), DeployError> {
    let sys = |what: &str, e: std::io::Error| DeployError::Io {
        what: format!("kernel NF `{}`: {what}", p.name),
        source: scc_io::IoError::from_io("sysctl", e),
    };
    ns.run(|| -> Result<(), DeployError> {
        for dev in ["all", "default", p.rx.as_str(), p.tx.as_str()] {
            sysctl(&format!("conf/{dev}/rp_filter"), "0")
                .map_err(|e| sys(&format!("conf/{dev}/rp_filter = 0"), e))?;
            sysctl(&format!("conf/{dev}/send_redirects"), "0")
                .map_err(|e| sys(&format!("conf/{dev}/send_redirects = 0"), e))?;
        }
        sysctl("ip_forward", "1").map_err(|e| sys("ip_forward = 1", e))
    })
    .map_err(io(format!("entering kernel NF `{}`'s namespace", p.name)))??;
    let mut nl = Netlink::open_in(ns).map_err(io(format!("netlink in `{}`", p.name)))?;
    nl.add_neighbour_v4(&p.tx, NEXT_HOP, p.gw_mac)
        .map_err(io(format!("kernel NF `{}`: next hop", p.name)))?;
    for r in &p.routes {
        let (net, len) = parse_prefix(r).map_err(|e| DeployError::Io {
            what: format!("kernel NF `{}`: route {r}", p.name),
            source: scc_io::IoError::Netlink(e),
        })?;
        nl.add_route_v4(net, len, NEXT_HOP, &p.tx)
            .map_err(io(format!("kernel NF `{}`: route {r}", p.name)))?;
    }
    Ok(())
}

/// Parses `/proc/net/snmp`- or `/proc/net/netstat`-style text (pairs of `Group: names` /
/// `Group: values` lines) into `Group:Name -> value`.
pub fn parse_snmp(text: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let lines: Vec<&str> = text.lines().collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else { continue };
        let (Some((g1, n)), Some((g2, v))) = (names.split_once(':'), values.split_once(':')) else {
            continue;
        };
        if g1 != g2 {
            continue;
        }
        for (name, value) in n.split_whitespace().zip(v.split_whitespace()) {
            if let Ok(value) = value.parse::<u64>() {
                out.insert(format!("{g1}:{name}"), value);
            }
        }
    }
    out
}

/// The NF's counters (scc-nf's record, `nf = "kernel"`) from the namespace's IP counters:
/// `rx` = `Ip:InReceives`, `tx` = `Ip:ForwDatagrams`, the IP drop counters as `drops`. The
/// kernel makes no NF system calls: `syscalls` is 0 here and `null` in the run's report.
pub fn counters(name: &str, ip: &BTreeMap<String, u64>) -> Option<NfCounters> {
    let drops = DROP_COUNTERS
        .iter()
        .filter_map(|(k, reason)| {
            ip.get(*k)
                .filter(|v| **v > 0)
                .map(|v| (reason.to_string(), *v))
        })
        .collect();
    Some(NfCounters {
        name: name.to_string(),
        nf: "kernel".into(),
        rx: *ip.get("Ip:InReceives")?,
        tx: *ip.get("Ip:ForwDatagrams")?,
        drops,
        io: "kernel".into(),
        ..NfCounters::default()
    })
}

/// Reads kernel NF `name`'s counters in `ns` (`None` when unreadable).
pub fn read_counters(ns: &NetNs, name: &str) -> Option<NfCounters> {
    let text = ns
        .run(|| {
            let mut text =
                std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap_or_default();
            text.push_str(
                &std::fs::read_to_string("/proc/thread-self/net/netstat").unwrap_or_default(),
            );
            text
        })
        .ok()?;
    counters(name, &parse_snmp(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes\n\
Ip: 1 64 1003 2 0 1000 0 0 1 0 0 0\n\
Icmp: InMsgs InErrors\n\
Icmp: 0 0\n\
IpExt: InNoMcastRoutes InNoRoutes InTruncatedPkts\n\
IpExt: 0 0 0\n";

    #[test]
    fn parses_the_ip_counters_and_counts_every_frame() {
        let m = parse_snmp(SNMP);
        assert_eq!(m["Ip:InReceives"], 1003);
        assert_eq!(m["Ip:ForwDatagrams"], 1000);
        assert_eq!(m["Icmp:InMsgs"], 0);
        assert_eq!(m["IpExt:InNoRoutes"], 0);
        let c = counters("k1", &m).unwrap();
        assert_eq!((c.rx, c.tx, c.nf.as_str()), (1003, 1000, "kernel"));
        assert_eq!(c.drops["ip_in_hdr_errors"], 2);
        assert_eq!(c.drops["delivered_locally"], 1);
        // rx = tx + drops here
        assert_eq!(c.rx, c.tx + c.drops.values().sum::<u64>());
        // the launcher reads it like an scc-nf NF's counters
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(crate::report::parse_nf_counters(&v), Some(c));
        assert_eq!(counters("k1", &parse_snmp("garbage")), None);
    }

    fn chain(nf: &str) -> crate::chain::Chain {
        crate::chain::Chain::parse(&format!(
            "name = \"k\"\n[schedule]\npolicy = \"batch\"\ncores = [1]\n\
             [[nf]]\nname = \"f\"\nkind = \"forward\"\nenv = \"netns\"\n\
             [[nf]]\nname = \"k\"\nkind = \"kernel\"\n{nf}\n\
             [traffic]\nrate_pps = 1000\nduration_s = 1\n"
        ))
        .unwrap()
    }

    #[test]
    fn a_kernel_nf_is_validated_and_planned_without_a_process() {
        let host = crate::chain::HostInfo::with_cores(2, false);
        let ok = chain("env = \"netns\"\nroutes = [\"198.18.0.0/15\"]");
        ok.validate(&host).unwrap();
        let plan = crate::plan::DeployPlan::new(&ok, std::path::Path::new("."), &[0, 1]).unwrap();
        let k = &plan.nfs[1];
        assert_eq!(k.kind, crate::chain::NfKind::Kernel);
        assert!(k.argv.is_empty());
        assert_eq!(k.core, None);
        assert_eq!(k.routes, ["198.18.0.0/15"]);
        assert_eq!(k.gw_mac, plan.sink.mac);
        // only the forward is scheduled
        let sp = plan.sched.plan.as_ref().unwrap();
        assert!(sp.placement("f").is_some());
        assert!(sp.placement("k").is_none());
        assert_eq!(plan.nfs[0].core, Some(1));

        let problems = |nf: &str| -> Vec<String> {
            chain(nf)
                .problems(&host)
                .into_iter()
                .map(|f| f.path)
                .collect()
        };
        assert_eq!(problems("routes = [\"198.18.0.0/15\"]"), ["nf[1].env"]);
        assert_eq!(problems("env = \"netns\""), ["nf[1].routes"]);
        assert_eq!(
            problems("env = \"netns\"\nroutes = [\"198.18.0.0/15\"]\nrules = [\"allow all\"]"),
            ["nf[1].rules"]
        );
        // the traffic's destination must be routed, as for an scc-nf router
        assert_eq!(
            problems("env = \"netns\"\nroutes = [\"10.0.0.0/8\"]"),
            ["nf[1].routes"]
        );
    }

    #[test]
    fn malformed_text_gives_nothing() {
        assert!(parse_snmp("Ip: A B\nTcp: 1 2\n").is_empty());
        assert!(parse_snmp("garbage").is_empty());
        assert_eq!(parse_snmp("Ip: A B\nIp: 1 x\n").len(), 1);
    }
}
