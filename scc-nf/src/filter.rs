//! The firewall: ordered allow/deny rules on IPv4 protocol, source/destination prefix and
//! TCP/UDP port ranges, first match wins, configurable default.
//!
//! # Rules file format
//! One rule per line; `#` starts a comment; blank lines are ignored:
//! ```text
//! # ACTION PROTO [from PREFIX] [to PREFIX] [sport RANGE] [dport RANGE]
//! allow udp from 198.18.0.0/15 to 198.19.0.0/16 dport 1000-2000
//! deny  tcp sport 0-1023
//! allow icmp
//! deny  any from 198.18.9.0/24
//! default deny        # when no rule matches (default: allow)
//! nonip allow         # frames that are not IPv4, e.g. ARP (default: allow)
//! ```
//! - ACTION: `allow` or `deny`. PROTO: `any` (or `ip`), `tcp`, `udp`, `icmp` or a number 0-255.
//! - PREFIX: `a.b.c.d/len`, `a.b.c.d` (a /32) or `any`; omitted means any.
//! - RANGE: `N` or `N-M` (inclusive); only with `tcp` or `udp`. A rule with a port range does not
//!   match non-first fragments (they carry no ports).
//!
//! Errors name the line and the reason.

use std::net::Ipv4Addr;

use scc_io::Batch;

use crate::element::{Ctx, Element, Verdict};
use crate::error::{NfError, Result};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::ipv4::{self, prefix_mask, protocol};
use crate::wire::udp;

/// One filter rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Allow (true) or deny.
    pub allow: bool,
    /// IP protocol, `None` for any.
    pub proto: Option<u8>,
    /// Source network and mask.
    pub src: (u32, u32),
    /// Destination network and mask.
    pub dst: (u32, u32),
    /// Source port range (inclusive), `None` for any.
    pub sport: Option<(u16, u16)>,
    /// Destination port range (inclusive), `None` for any.
    pub dport: Option<(u16, u16)>,
}

/// A parsed rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    /// Rules in order.
    pub rules: Vec<Rule>,
    /// Action when no rule matches (true = allow).
    pub default_allow: bool,
    /// Action for frames that are not IPv4 (true = allow).
    pub nonip_allow: bool,
}

impl Default for RuleSet {
    fn default() -> Self {
        Self {
            rules: Vec::new(),
            default_allow: true,
            nonip_allow: true,
        }
    }
}

fn parse_action(w: &str) -> std::result::Result<bool, String> {
    match w {
        "allow" | "accept" | "pass" => Ok(true),
        "deny" | "drop" | "block" => Ok(false),
        other => Err(format!("unknown action `{other}` (expected allow or deny)")),
    }
}

fn parse_net(w: &str) -> std::result::Result<(u32, u32), String> {
    if w == "any" {
        return Ok((0, 0));
    }
    let (a, len) = ipv4::parse_prefix(w)?;
    Ok((u32::from(a), prefix_mask(len)))
}

fn parse_range(w: &str) -> std::result::Result<(u16, u16), String> {
    let p = |s: &str| {
        s.parse::<u16>()
            .map_err(|_| format!("bad port `{s}` (expected 0-65535)"))
    };
    let (lo, hi) = match w.split_once('-') {
        Some((a, b)) => (p(a)?, p(b)?),
        None => (p(w)?, p(w)?),
    };
    if lo > hi {
        return Err(format!("empty port range `{w}`"));
    }
    Ok((lo, hi))
}

/// Parses one rules line into `set`.
fn parse_rule_line(line: &str, set: &mut RuleSet) -> std::result::Result<(), String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(());
    }
    let words: Vec<&str> = line.split_whitespace().collect();
    match words[0] {
        "default" | "nonip" => {
            let [_, a] = words[..] else {
                return Err(format!("`{}` takes one action (allow or deny)", words[0]));
            };
            let allow = parse_action(a)?;
            if words[0] == "default" {
                set.default_allow = allow;
            } else {
                set.nonip_allow = allow;
            }
            return Ok(());
        }
        _ => {}
    }
    let allow = parse_action(words[0])?;
    let proto_w = words
        .get(1)
        .ok_or("missing protocol (any, tcp, udp, icmp or a number)")?;
    let proto = match *proto_w {
        "any" | "ip" | "all" => None,
        "tcp" => Some(protocol::TCP),
        "udp" => Some(protocol::UDP),
        "icmp" => Some(protocol::ICMP),
        n => Some(n.parse::<u8>().map_err(|_| {
            format!("unknown protocol `{n}` (expected any, tcp, udp, icmp or 0-255)")
        })?),
    };
    let mut rule = Rule {
        allow,
        proto,
        src: (0, 0),
        dst: (0, 0),
        sport: None,
        dport: None,
    };
    let mut rest = words[2..].iter();
    while let Some(&k) = rest.next() {
        let v = rest.next().ok_or_else(|| format!("`{k}` needs a value"))?;
        match k {
            "from" | "src" => rule.src = parse_net(v)?,
            "to" | "dst" => rule.dst = parse_net(v)?,
            "sport" | "dport" => {
                if !matches!(proto, Some(protocol::TCP) | Some(protocol::UDP)) {
                    return Err(format!("`{k}` needs protocol tcp or udp"));
                }
                let r = parse_range(v)?;
                if k == "sport" {
                    rule.sport = Some(r);
                } else {
                    rule.dport = Some(r);
                }
            }
            other => {
                return Err(format!(
                    "unknown word `{other}` (expected from, to, sport or dport)"
                ));
            }
        }
    }
    set.rules.push(rule);
    Ok(())
}

/// Parses a rules file's text; errors name `source_name` and the line.
pub fn parse_rules(text: &str, source_name: &str) -> Result<RuleSet> {
    let mut set = RuleSet::default();
    for (n, line) in text.lines().enumerate() {
        parse_rule_line(line, &mut set).map_err(|msg| NfError::Parse {
            source_name: source_name.to_string(),
            line: n + 1,
            msg,
        })?;
    }
    Ok(set)
}

/// Reads and parses a rules file.
pub fn load_rules_file(path: &str) -> Result<RuleSet> {
    let text = std::fs::read_to_string(path).map_err(|source| NfError::File {
        path: path.to_string(),
        source,
    })?;
    parse_rules(&text, path)
}

impl RuleSet {
    /// The decision for an IPv4 packet `p` (checked header at offset 0): `Some(rule index)` of
    /// the first matching rule, or `None` (default action).
    pub fn first_match(&self, p: &[u8]) -> Option<usize> {
        if p.len() < ipv4::MIN_HEADER_LEN {
            return None;
        }
        // At least 20 bytes: every fixed header field exists.
        let ip = ipv4::Packet::new_unchecked(p);
        let hl = ip.header_len();
        let proto = ip.protocol();
        let (src, dst) = (ip.src_u32(), ip.dst_u32());
        let first_frag = ip.flags_frag() & ipv4::FRAG_OFFSET_MASK == 0;
        let ports = if first_frag && (proto == protocol::TCP || proto == protocol::UDP) {
            p.get(hl..hl + udp::HEADER_LEN).map(|l| {
                let u = udp::Packet::new_unchecked(l);
                (u.src_port(), u.dst_port())
            })
        } else {
            None
        };
        self.rules.iter().position(|r| {
            r.proto.is_none_or(|x| x == proto)
                && src & r.src.1 == r.src.0 & r.src.1
                && dst & r.dst.1 == r.dst.0 & r.dst.1
                && match (r.sport, r.dport) {
                    (None, None) => true,
                    (sp, dp) => ports.is_some_and(|(s, d)| {
                        sp.is_none_or(|(lo, hi)| (lo..=hi).contains(&s))
                            && dp.is_none_or(|(lo, hi)| (lo..=hi).contains(&d))
                    }),
                }
        })
    }
}

/// The firewall element. With `ethernet` (the default in NFs) it sees Ethernet frames and
/// filters those with EtherType IPv4; otherwise it sees bare IPv4 packets. Output 0: allowed.
/// Drops: `filtered` (a deny rule matched), `filtered_default` (no rule matched and the default
/// is deny), `non_ip_denied`, `malformed_ip` (an IPv4 frame whose header does not parse).
/// Reports `filter_rule_<n>` hits per rule (1-based, in file order).
#[derive(Debug, Clone)]
pub struct IpFilter {
    rules: RuleSet,
    ethernet: bool,
    hits: Vec<u64>,
    hit_keys: Vec<String>,
}

impl IpFilter {
    /// Filters with `rules`; `ethernet` says whether frames carry an Ethernet header.
    pub fn new(rules: RuleSet, ethernet: bool) -> Self {
        let n = rules.rules.len();
        Self {
            rules,
            ethernet,
            hits: vec![0; n],
            hit_keys: (1..=n).map(|i| format!("filter_rule_{i}")).collect(),
        }
    }

    fn decide(&mut self, f: &[u8]) -> Verdict {
        let ip = if self.ethernet {
            if ethernet::Frame::new_checked(f).map_or(true, |e| e.ethertype() != ethertype::IPV4) {
                return if self.rules.nonip_allow {
                    Verdict::out(0)
                } else {
                    Verdict::drop(2)
                };
            }
            &f[ethernet::HEADER_LEN..]
        } else {
            f
        };
        if ipv4::Packet::new_checked(ip).is_err() {
            return Verdict::drop(3);
        }
        match self.rules.first_match(ip) {
            Some(k) => {
                if let Some(h) = self.hits.get_mut(k) {
                    *h += 1;
                }
                if self.rules.rules[k].allow {
                    Verdict::out(0)
                } else {
                    Verdict::drop(0)
                }
            }
            None if self.rules.default_allow => Verdict::out(0),
            None => Verdict::drop(1),
        }
    }
}

impl Element for IpFilter {
    fn class(&self) -> &'static str {
        "IpFilter"
    }
    fn n_drop_reasons(&self) -> usize {
        4
    }
    fn drop_reason(&self, r: u8) -> &str {
        [
            "filtered",
            "filtered_default",
            "non_ip_denied",
            "malformed_ip",
        ]
        .get(usize::from(r))
        .copied()
        .unwrap_or("unknown")
    }
    fn process(&mut self, _: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        for (&i, v) in sel.iter().zip(out.iter_mut()) {
            *v = self.decide(b.frame(usize::from(i)));
        }
    }
    fn events(&self, report: &mut dyn FnMut(&str, u64)) {
        for (k, h) in self.hit_keys.iter().zip(&self.hits) {
            report(k, *h);
        }
    }
}

/// Parses the address list of `from`/`to` for tests and tools: `a.b.c.d/len` or `any`.
pub fn parse_prefix_or_any(w: &str) -> std::result::Result<(Ipv4Addr, u8), String> {
    if w == "any" {
        return Ok((Ipv4Addr::UNSPECIFIED, 0));
    }
    ipv4::parse_prefix(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules_and_errors_name_lines() {
        let s = parse_rules(
            "# fw\nallow udp from 198.18.0.0/15 to any dport 1000-2000\ndeny tcp sport 22\n\ndefault deny\nnonip deny\n",
            "fw.rules",
        )
        .unwrap();
        assert_eq!(s.rules.len(), 2);
        assert!(!s.default_allow && !s.nonip_allow);
        assert_eq!(s.rules[0].dport, Some((1000, 2000)));
        for (bad, why) in [
            ("permit udp", "unknown action"),
            ("allow", "missing protocol"),
            ("allow foo", "unknown protocol"),
            ("allow icmp dport 3", "needs protocol tcp or udp"),
            ("allow udp dport 9-3", "empty port range"),
            ("allow udp dport 70000", "bad port"),
            ("allow udp from 1.2.3.4/40", "prefix length"),
            ("allow udp from", "needs a value"),
            ("allow udp via x", "unknown word"),
            ("default", "takes one action"),
        ] {
            let e = parse_rules(&format!("allow any\n{bad}\n"), "f")
                .unwrap_err()
                .to_string();
            assert!(e.starts_with("f:2: ") && e.contains(why), "{bad}: {e}");
        }
    }
}
