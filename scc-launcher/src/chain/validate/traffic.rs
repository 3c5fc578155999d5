//! `[traffic]`: rate, frame sizes, length of the run, flows, batch, core, driver, addresses in
//! the benchmarking range, and a route for the probes through every router.

use scc_io::{Driver, MAX_BATCH};

use super::Problems;
use crate::chain::host::HostInfo;
use crate::chain::schema::{Chain, MAX_FRAME, MIN_FRAME, NfKind, Traffic, TrafficKind};

/// Every field of `[traffic]`, by kind.
pub(super) fn traffic(chain: &Chain, t: &Traffic, host: &HostInfo, p: &mut Problems) {
    match t.kind {
        TrafficKind::Generator => generator(chain, t, host, p),
        TrafficKind::Hosts => super::hosts::hosts(chain, t, p),
    }
}

/// `kind = "generator"`: the probe generator's fields (and none of the hosts').
fn generator(chain: &Chain, t: &Traffic, host: &HostInfo, p: &mut Problems) {
    for (field, set) in [
        ("prefix_len", t.prefix_len.is_some()),
        ("src_gw", t.src_gw.is_some()),
        ("dst_gw", t.dst_gw.is_some()),
        ("server", t.server.is_some()),
        ("client", t.client.is_some()),
        ("ping", t.ping.is_some()),
    ] {
        if set {
            p.add(
                format!("traffic.{field}"),
                "is for kind = \"hosts\" (real hosts at the chain's ends); this [traffic] is the \
                 generator (kind = \"generator\", the default)",
            );
        }
    }
    if t.rate_pps == 0 {
        p.add("traffic.rate_pps", "must be > 0");
    } else if t.rate_pps > 100_000_000 {
        p.add(
            "traffic.rate_pps",
            format!("{} is beyond any veth (at most 100000000)", t.rate_pps),
        );
    }
    frames(t, p);
    match (t.duration_s, t.packets) {
        (None, None) => p.add(
            "traffic.duration_s",
            "give duration_s or packets (or both: whichever ends first)",
        ),
        (Some(d), _) if !(d > 0.0 && d <= 86_400.0) => p.add(
            "traffic.duration_s",
            format!("{d} is out of range: 0 < duration_s <= 86400"),
        ),
        (_, Some(0)) => p.add("traffic.packets", "must be > 0"),
        _ => {}
    }
    if t.flows == 0 || t.flows > 65_535 {
        p.add(
            "traffic.flows",
            format!("{} is out of range: 1..=65535", t.flows),
        );
    }
    if t.batch == 0 || t.batch > MAX_BATCH {
        p.add(
            "traffic.batch",
            format!("{} is out of range: 1..={MAX_BATCH}", t.batch),
        );
    }
    if let Some(c) = t.core
        && !host.is_online(c)
    {
        p.add("traffic.core", host.core_reason(c));
    }
    if t.driver == Driver::Mem {
        p.add(
            "traffic.driver",
            "`mem` is an in-process port; the traffic needs `packet`, `mmsg` or `ring`",
        );
    }
    for (field, ip) in [("traffic.dst_ip", t.dst_ip), ("traffic.src_ip", t.src_ip)] {
        if !in_benchmark_range(ip) {
            p.add(
                field,
                format!("{ip} is outside 198.18.0.0/15 (the benchmarking range)"),
            );
        }
    }
    routes_cover_dst(chain, t, p);
}

/// `frame_size` xor `frame_mix`, every size in range, every weight positive.
fn frames(t: &Traffic, p: &mut Problems) {
    if t.frame_size.is_some() && !t.frame_mix.is_empty() {
        p.add(
            "traffic.frame_mix",
            "give either frame_size or frame_mix, not both",
        );
    }
    if let Some(s) = t.frame_size
        && !(MIN_FRAME..=MAX_FRAME).contains(&s)
    {
        p.add(
            "traffic.frame_size",
            format!("{s} is out of range: {MIN_FRAME}..={MAX_FRAME} bytes (no FCS)"),
        );
    }
    for (j, m) in t.frame_mix.iter().enumerate() {
        if !(MIN_FRAME..=MAX_FRAME).contains(&m.size) {
            p.add(
                format!("traffic.frame_mix[{j}].size"),
                format!(
                    "{} is out of range: {MIN_FRAME}..={MAX_FRAME} bytes (no FCS)",
                    m.size
                ),
            );
        }
        if m.weight == 0 {
            p.add(format!("traffic.frame_mix[{j}].weight"), "must be > 0");
        }
    }
}

/// Every router with inline routes must route the probes' destination.
fn routes_cover_dst(chain: &Chain, t: &Traffic, p: &mut Problems) {
    for (i, nf) in chain.nfs.iter().enumerate() {
        if !matches!(nf.kind, NfKind::Router | NfKind::Kernel)
            || nf.routes.is_empty()
            || nf.routes_file.is_some()
        {
            continue;
        }
        let covered = nf
            .routes
            .iter()
            .filter_map(|r| crate::chain::parse_prefix(r).ok())
            .any(|(net, len)| {
                u32::from(t.dst_ip) & scc_nf::wire::ipv4::prefix_mask(len) == u32::from(net)
            });
        if !covered {
            p.add(
                format!("nf[{i}].routes"),
                format!(
                    "no route covers the traffic's destination {} (traffic.dst_ip): \
                     every probe would be dropped",
                    t.dst_ip
                ),
            );
        }
    }
}

pub(super) fn in_benchmark_range(ip: std::net::Ipv4Addr) -> bool {
    u32::from(ip) & 0xfffe_0000 == u32::from(std::net::Ipv4Addr::new(198, 18, 0, 0))
}
