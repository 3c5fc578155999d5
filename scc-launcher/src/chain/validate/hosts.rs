//! `[traffic] kind = "hosts"`: the hosts' addresses and gateways (in the benchmarking range,
//! two disjoint subnets), their commands, and what a chain between real hosts cannot have
//! (the generator's fields, kernel NFs, a fused plan).

use super::Problems;
use super::traffic::in_benchmark_range;
use crate::chain::schema::{Chain, HostAddr, HostCommand, NfKind, Plan, Poll, Traffic};
use scc_io::Driver;

/// Every field of a hosts `[traffic]`, and the NFs that cannot serve hosts.
pub(super) fn hosts(chain: &Chain, t: &Traffic, p: &mut Problems) {
    not_generator(t, p);
    if let Some(d) = t.duration_s
        && !(d > 0.0 && d <= 86_400.0 * 365.0)
    {
        p.add(
            "traffic.duration_s",
            format!("{d} is out of range: 0 < duration_s <= 31536000 (or absent: until the client ends or SIGINT/SIGTERM)"),
        );
    }
    match t.prefix_len {
        Some(l) if !(8..=30).contains(&l) => p.add(
            "traffic.prefix_len",
            format!("{l} is out of range: 8..=30 (a subnet with a host and its gateway)"),
        ),
        _ => addresses(t, p),
    }
    for (field, cmd) in [("server", &t.server), ("client", &t.client)] {
        let empty = match cmd {
            Some(HostCommand::Shell(s)) => s.trim().is_empty(),
            Some(HostCommand::Argv(v)) => v.first().is_none_or(|a| a.is_empty()),
            None => false,
        };
        if empty {
            p.add(
                format!("traffic.{field}"),
                "is empty: give a shell command line or [\"program\", \"arg\", ...]",
            );
        }
    }
    for (i, nf) in chain.nfs.iter().enumerate() {
        if nf.kind == NfKind::Kernel {
            p.add(
                format!("nf[{i}].kind"),
                "a kernel NF forwards one way only: not with traffic.kind = \"hosts\" (use a router)",
            );
        }
    }
    if chain.schedule.plan == Plan::Fused {
        p.add(
            "schedule.plan",
            "a fused chain forwards one way only (first NF's rx to last NF's tx): not with \
             traffic.kind = \"hosts\"",
        );
    }
}

/// The generator's fields are errors (those with defaults: when changed).
fn not_generator(t: &Traffic, p: &mut Problems) {
    let generator_only = [
        ("rate_pps", t.rate_pps != 0),
        ("frame_size", t.frame_size.is_some()),
        ("frame_mix", !t.frame_mix.is_empty()),
        ("packets", t.packets.is_some()),
        ("flows", t.flows != 1),
        ("batch", t.batch != 32),
        ("drain_ms", t.drain_ms != 200),
        ("driver", t.driver != Driver::Mmsg),
        ("poll", t.poll != Poll::default()),
        ("core", t.core.is_some()),
    ];
    for (field, set) in generator_only {
        if set {
            p.add(
                format!("traffic.{field}"),
                "is for kind = \"generator\"; with kind = \"hosts\" the hosts' own programs make \
                 the traffic",
            );
        }
    }
}

/// Both hosts and gateways in 198.18.0.0/15, each gateway in its host's subnet and neither
/// the host nor the subnet's network or broadcast address, the two subnets disjoint.
fn addresses(t: &Traffic, p: &mut Problems) {
    let (src, dst) = t.host_addrs();
    for (side, h, explicit_gw) in [("src", src, t.src_gw), ("dst", dst, t.dst_gw)] {
        let gw_field = format!("traffic.{side}_gw");
        for (field, ip) in [
            (format!("traffic.{side}_ip"), h.ip),
            (gw_field.clone(), h.gw),
        ] {
            if !in_benchmark_range(ip) {
                p.add(
                    field,
                    format!("{ip} is outside 198.18.0.0/15 (the benchmarking range)"),
                );
            }
        }
        let special = |ip: std::net::Ipv4Addr| {
            let m = scc_nf::wire::ipv4::prefix_mask(h.prefix_len);
            let host_bits = u32::from(ip) & !m;
            host_bits == 0 || host_bits == !m
        };
        if special(h.ip) {
            p.add(
                format!("traffic.{side}_ip"),
                format!(
                    "{} is the network or broadcast address of {}",
                    h.ip,
                    h.cidr()
                ),
            );
        }
        if !h.contains(h.gw) {
            p.add(
                gw_field,
                format!("{} is not in the host's subnet {}", h.gw, h.cidr()),
            );
        } else if h.gw == h.ip {
            p.add(
                if explicit_gw.is_some() {
                    gw_field
                } else {
                    format!("traffic.{side}_ip")
                },
                format!("{} is both the host and its gateway", h.ip),
            );
        } else if special(h.gw) {
            p.add(
                gw_field,
                format!(
                    "{} is the network or broadcast address of {}",
                    h.gw,
                    h.cidr()
                ),
            );
        }
    }
    if overlap(&src, &dst) {
        p.add(
            "traffic.dst_ip",
            format!(
                "the hosts' subnets {} and {} overlap: the chain routes between two distinct \
                 subnets",
                src.cidr(),
                dst.cidr()
            ),
        );
    }
}

fn overlap(a: &HostAddr, b: &HostAddr) -> bool {
    a.contains(b.ip) || b.contains(a.ip)
}
