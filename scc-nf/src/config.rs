//! NF configuration: the TOML file format, the built-in presets, and building a
//! [`Pipeline`] from them.
//!
//! # NF file format (`--config NF.toml`)
//! Every key is optional; command-line flags override the file.
//! ```toml
//! name = "r1"                 # shown in the counters (default: the preset's name)
//! preset = "router"           # router | firewall | forward; or give [[element]]s instead
//! rx = "veth0"                # input interface
//! tx = "veth1"                # output interface (default: rx)
//! io = "mmsg"                 # packet | mmsg | ring
//! batch = 32                  # frames per batch (1..=1024)
//! poll = "sleep"              # sleep | busy | adaptive
//! spin_us = 200               # adaptive: spin this long after the last frame before sleeping
//! rx_queue_frames = 64        # bound the kernel's receive queue to about this many frames
//!                             # (default: scc-io's 4 MiB socket buffer, thousands of frames)
//! routes = ["198.19.0.0/16 via 02:00:00:00:00:02"]   # lines of the routes file format
//! routes_file = "routes.txt"  # see crate::route
//! gw_mac = "02:00:00:00:00:02" # default gateway MAC (EtherEncap / EtherRewrite destination)
//! src_mac = "02:00:00:00:00:01" # default: the tx interface's own MAC
//! addrs = ["198.18.0.254"]    # the NF's own IPv4 addresses (ARP replies, ICMP source);
//!                             # default: the addresses configured on rx and tx
//! rules = ["allow udp", "default deny"]   # lines of the rules file format (firewall)
//! rules_file = "fw.rules"     # see crate::filter
//! mtu = 1500                  # MtuCheck's MTU (default: the tx interface's MTU)
//! icmp_rate = 100             # ICMP errors per second per element (0: none), burst 10
//! stats_file = "nf.jsonl"     # append the counters as one JSON line every second
//! host_filter = true          # drop frames to other hosts' MACs (`other_host`); false for a
//!                             # bump-in-the-wire NF
//! rx_gw_mac = "02:00:00:00:00:09" # forward/firewall: destination MAC of frames leaving by rx
//! port_addrs = { tx = ["198.18.1.254"] } # per-port addresses (ARP on that port, ICMP source)
//! pcap = "nf.pcap"            # capture every frame of every port into one pcap file
//! pcap_dir = "capture"        # or one pcap file per port: capture/<interface>.pcap
//!
//! # A custom graph: elements in processing order, the first is the entry. `outputs` lists the
//! # targets of outputs 0, 1, ...: an element name, a port (`rx`, `tx`), `out` (the port
//! # chosen by IpLookup, default tx) or `drop`. Other keys are the class's parameters.
//! [[element]]
//! name = "count"
//! class = "Counter"
//! outputs = ["fw"]
//! [[element]]
//! name = "fw"
//! class = "IpFilter"
//! rules = ["deny udp dport 53", "default allow"]
//! outputs = ["rewrite"]
//! [[element]]
//! name = "rewrite"
//! class = "EtherRewrite"
//! outputs = ["tx"]
//! ```
//! Targets `in` (the port the frame came in by) and `other` (the other port: a forwarder's way
//! through) and the interfaces' names are also accepted.
//!
//! Classes and parameters: `HostEtherFilter` (`enabled`, default `host_filter`),
//! `FixIpSrc`, `Classifier` (outputs ipv4, arp, other), `ArpResponder` (`addrs`,
//! `mac`), `Strip`/`Unstrip` (`bytes`, default 14), `CheckIpHeader` (`offset`, `bad_src`,
//! `verify_checksum`), `IpLookup` (`offset`; routes from the NF), `DecIpTtl` (`icmp`, outputs out,
//! icmp), `MtuCheck` (`mtu`, `icmp`, outputs out, icmp), `EtherEncap` (`src`, `dst`,
//! `ethertype`), `EtherRewrite` (`src`, `dst`), `IpFilter` (`rules`, `rules_file`, `ethernet`),
//! `Counter`, `Discard` (`reason`), `ArpQuerier` (`queue` frames per unresolved gateway,
//! default 16; `timeout_s`, default 300; `retransmit_ms`, default 1000; `probes`, default 3;
//! `entries`, default 256: connected destinations kept at a time; outputs out, arp; see
//! [`crate::neigh`]). `scc-nf preset NAME` prints a preset in this format.

use std::net::Ipv4Addr;
use std::str::FromStr;
use std::time::Duration;

use scc_io::Driver;
use serde::{Deserialize, Serialize};

use crate::element::Element;
use crate::elements::{
    ArpResponder, CheckIpHeader, Classifier, Counter, DecIpTtl, Discard, EtherEncap, EtherRewrite,
    IcmpConfig, MtuCheck, RateLimit, Strip, Unstrip,
};
use crate::error::{NfError, Result};
use crate::fast::{Part, fuse};
use crate::filter::{IpFilter, RuleSet, load_rules_file, parse_rules};
use crate::graph::Pipeline;
use crate::neigh::{ArpQuerier, NeighConfig};
use crate::ports::{FixIpSrc, HostEtherFilter, PerPort};
use crate::route::{IpLookup, RouteSpec, RouteTable, Via, load_routes_file, parse_routes};
use crate::wire::MacAddr;
use crate::wire::ethernet::ethertype;

/// The built-in NFs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Click's IP router without ARPQuerier (paper §4.1).
    Router,
    /// `IpFilter` in front of a MAC-rewriting forward.
    Firewall,
    /// A wire that rewrites MACs.
    Forward,
}

impl Preset {
    /// The preset's name.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Router => "router",
            Preset::Firewall => "firewall",
            Preset::Forward => "forward",
        }
    }

    /// The preset's element graph in the NF file format.
    pub fn toml(self) -> &'static str {
        match self {
            Preset::Router => ROUTER,
            Preset::Firewall => FIREWALL,
            Preset::Forward => FORWARD,
        }
    }
}

impl FromStr for Preset {
    type Err = NfError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "router" => Ok(Preset::Router),
            "firewall" => Ok(Preset::Firewall),
            "forward" => Ok(Preset::Forward),
            o => Err(NfError::Config(format!(
                "unknown preset `{o}` (expected router, firewall or forward)"
            ))),
        }
    }
}

const ROUTER: &str = r#"# Click's IP router (Kohler et al. 2000; SCC paper section 4.1).
# Every port is read; the per-port elements (HostEtherFilter, ArpResponder, FixIpSrc,
# EtherEncap) use the MAC and addresses of the port a frame came in or leaves by.
[[element]]
name = "host"
class = "HostEtherFilter"
outputs = ["classify"]

[[element]]
name = "classify"
class = "Classifier"
outputs = ["strip", "arpq", "non_ip"]

[[element]]
name = "arp"
class = "ArpResponder"
outputs = ["in"]

[[element]]
name = "non_ip"
class = "Discard"
reason = "not_ip"

[[element]]
name = "strip"
class = "Strip"
outputs = ["check"]

[[element]]
name = "check"
class = "CheckIpHeader"
outputs = ["lookup"]

[[element]]
name = "lookup"
class = "IpLookup"
outputs = ["ttl"]

[[element]]
name = "ttl"
class = "DecIpTtl"
outputs = ["mtu", "lookup"]

[[element]]
name = "mtu"
class = "MtuCheck"
outputs = ["fix", "lookup"]

[[element]]
name = "fix"
class = "FixIpSrc"
outputs = ["encap"]

[[element]]
name = "encap"
class = "EtherEncap"
outputs = ["arpq"]

# Routes `via IP`: finds the gateways' MACs by ARP (frames of `via MAC` routes pass unchanged).
# ARP frames come here first (replies teach it), then go on to the ArpResponder.
[[element]]
name = "arpq"
class = "ArpQuerier"
outputs = ["out", "arp"]
"#;

const FIREWALL: &str = r#"# IpFilter (first match wins) in front of a MAC-rewriting forward, both ways.
[[element]]
name = "host"
class = "HostEtherFilter"
outputs = ["filter"]

[[element]]
name = "filter"
class = "IpFilter"
outputs = ["rewrite"]

[[element]]
name = "rewrite"
class = "EtherRewrite"
outputs = ["other"]
"#;

const FORWARD: &str = r#"# A wire that rewrites MAC addresses, both ways (rx to tx and tx to rx).
[[element]]
name = "host"
class = "HostEtherFilter"
outputs = ["rewrite"]

[[element]]
name = "rewrite"
class = "EtherRewrite"
outputs = ["other"]
"#;

/// How the NF waits for input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PollMode {
    /// Sleep in poll() when idle (an idle NF costs no CPU).
    #[default]
    Sleep,
    /// Spin on non-blocking receives.
    Busy,
    /// Spin for `spin_us` after the last frame, then sleep.
    Adaptive,
}

impl PollMode {
    /// The mode's name.
    pub fn name(self) -> &'static str {
        match self {
            PollMode::Sleep => "sleep",
            PollMode::Busy => "busy",
            PollMode::Adaptive => "adaptive",
        }
    }
}

impl FromStr for PollMode {
    type Err = NfError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sleep" => Ok(PollMode::Sleep),
            "busy" => Ok(PollMode::Busy),
            "adaptive" => Ok(PollMode::Adaptive),
            o => Err(NfError::Config(format!(
                "unknown poll mode `{o}` (expected sleep, busy or adaptive)"
            ))),
        }
    }
}

/// One element of a custom graph.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ElementSpec {
    /// Unique name.
    pub name: String,
    /// Class (e.g. `CheckIpHeader`).
    pub class: String,
    /// Targets of outputs 0, 1, ...
    #[serde(default)]
    pub outputs: Vec<String>,
    /// Class parameters.
    #[serde(flatten)]
    pub params: toml::Table,
}

/// An NF's configuration (file and command line merged).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NfConfig {
    /// Name in the counters.
    pub name: Option<String>,
    /// Built-in graph.
    pub preset: Option<Preset>,
    /// Input interface.
    pub rx: Option<String>,
    /// Output interface (default: rx).
    pub tx: Option<String>,
    /// I/O backend.
    pub io: Option<Driver>,
    /// Frames per batch.
    pub batch: Option<usize>,
    /// Poll mode.
    pub poll: Option<PollMode>,
    /// Adaptive polling: microseconds to spin after the last frame.
    pub spin_us: Option<u64>,
    /// Bound on the kernel's receive queue of each port, in (64-byte) frames
    /// ([`scc_io::PortConfig::rx_queue_frames`]).
    pub rx_queue_frames: Option<usize>,
    /// Route lines.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Routes file.
    pub routes_file: Option<String>,
    /// Default gateway MAC.
    pub gw_mac: Option<MacAddr>,
    /// Source MAC (default: the tx interface's).
    pub src_mac: Option<MacAddr>,
    /// The NF's own IPv4 addresses.
    #[serde(default)]
    pub addrs: Vec<Ipv4Addr>,
    /// Rule lines.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Rules file.
    pub rules_file: Option<String>,
    /// Output MTU.
    pub mtu: Option<u16>,
    /// ICMP errors per second per element.
    pub icmp_rate: Option<u64>,
    /// Per-second stats file (JSON lines).
    pub stats_file: Option<String>,
    /// Capture every port's frames into this pcap file (`scc-nf --pcap FILE`).
    #[serde(default)]
    pub pcap: Option<String>,
    /// Capture each port's frames into `<pcap_dir>/<interface>.pcap` (`scc-nf --pcap-dir DIR`).
    #[serde(default)]
    pub pcap_dir: Option<String>,
    /// Custom graph.
    #[serde(default)]
    pub element: Vec<ElementSpec>,
    /// Drop frames to other hosts' MACs (`HostEtherFilter`; default true; false for a
    /// bump-in-the-wire NF).
    pub host_filter: Option<bool>,
    /// Addresses of one port: port name (`rx`, `tx` or the interface's name) -> addresses.
    /// Ports without an entry have `addrs` or else their interface's addresses.
    #[serde(default)]
    pub port_addrs: std::collections::BTreeMap<String, Vec<Ipv4Addr>>,
    /// Destination MAC of frames a forwarder or firewall sends out of rx (the reverse
    /// direction; `gw_mac` is tx's). Default: left unchanged.
    pub rx_gw_mac: Option<MacAddr>,
}

impl NfConfig {
    /// Parses an NF file's text.
    pub fn from_toml(text: &str, source_name: &str) -> Result<Self> {
        toml::from_str(text).map_err(|e| NfError::Config(format!("{source_name}: {e}")))
    }

    /// Reads an NF file.
    pub fn load(path: &str) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| NfError::File {
            path: path.to_string(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// The element specs: the custom ones, or the preset's.
    pub fn element_specs(&self) -> Result<Vec<ElementSpec>> {
        if !self.element.is_empty() {
            return Ok(self.element.clone());
        }
        let preset = self.preset.ok_or_else(|| {
            NfError::Config(
                "no NF given: choose a preset (router, firewall, forward) or define [[element]]s"
                    .into(),
            )
        })?;
        Ok(NfConfig::from_toml(preset.toml(), preset.name())?.element)
    }

    /// The routes: `routes` lines then the routes file.
    pub fn route_specs(&self) -> Result<Vec<RouteSpec>> {
        let mut out = Vec::new();
        for (k, r) in self.routes.iter().enumerate() {
            let mut parsed = parse_routes(r, "--route").map_err(|e| match e {
                NfError::Parse { msg, .. } => NfError::Parse {
                    source_name: "--route".into(),
                    line: k + 1,
                    msg,
                },
                other => other,
            })?;
            out.append(&mut parsed);
        }
        if let Some(f) = &self.routes_file {
            out.append(&mut load_routes_file(f)?);
        }
        Ok(out)
    }

    /// The rule set: `rules` lines, then the rules file's.
    pub fn rule_set(&self) -> Result<RuleSet> {
        rules_from(&self.rules, self.rules_file.as_deref())
    }
}

fn rules_from(lines: &[String], file: Option<&str>) -> Result<RuleSet> {
    match file {
        Some(_) if !lines.is_empty() => Err(NfError::Config(
            "give firewall rules inline or in a file, not both".into(),
        )),
        Some(f) => load_rules_file(f),
        None => parse_rules(&lines.join("\n"), "rules"),
    }
}

/// What the graph builder knows about the NF's environment (resolved from the interfaces).
#[derive(Debug, Clone)]
pub struct Env {
    /// Source MAC for encapsulation and rewriting.
    pub src_mac: MacAddr,
    /// Default gateway MAC.
    pub gw_mac: Option<MacAddr>,
    /// The NF's own addresses.
    pub addrs: Vec<Ipv4Addr>,
    /// Output MTU.
    pub mtu: u16,
    /// ICMP errors per second per element.
    pub icmp_rate: u64,
}

/// One NF port as the graph builder sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortEnv {
    /// The interface's name (another name of the port in routes and targets).
    pub ifname: String,
    /// The port's own MAC (ARP replies, host filtering, source of frames leaving by it).
    pub mac: MacAddr,
    /// The port's own addresses (ARP replies on it, source of ICMP errors leaving by it).
    pub addrs: Vec<Ipv4Addr>,
    /// Destination MAC of frames a forwarder sends out of this port (`None`: unchanged).
    pub gw_mac: Option<MacAddr>,
}

fn param<'a>(spec: &'a ElementSpec, key: &str) -> Option<&'a toml::Value> {
    spec.params.get(key)
}

fn bad(spec: &ElementSpec, key: &str, want: &str) -> NfError {
    NfError::Config(format!(
        "element `{}` ({}): parameter `{key}` must be {want}",
        spec.name, spec.class
    ))
}

fn p_usize(spec: &ElementSpec, key: &str, default: usize) -> Result<usize> {
    match param(spec, key) {
        None => Ok(default),
        Some(v) => v
            .as_integer()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| bad(spec, key, "a non-negative integer")),
    }
}

fn p_bool(spec: &ElementSpec, key: &str, default: bool) -> Result<bool> {
    match param(spec, key) {
        None => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| bad(spec, key, "true or false")),
    }
}

fn p_str<'a>(spec: &'a ElementSpec, key: &str) -> Result<Option<&'a str>> {
    match param(spec, key) {
        None => Ok(None),
        Some(v) => v
            .as_str()
            .map(Some)
            .ok_or_else(|| bad(spec, key, "a string")),
    }
}

fn p_mac(spec: &ElementSpec, key: &str) -> Result<Option<MacAddr>> {
    match p_str(spec, key)? {
        None => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| bad(spec, key, "a MAC address")),
    }
}

fn p_strs(spec: &ElementSpec, key: &str) -> Result<Option<Vec<String>>> {
    match param(spec, key) {
        None => Ok(None),
        Some(v) => v
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
            })
            .map(Some)
            .ok_or_else(|| bad(spec, key, "a list of strings")),
    }
}

fn p_addrs(spec: &ElementSpec, key: &str) -> Result<Option<Vec<Ipv4Addr>>> {
    match p_strs(spec, key)? {
        None => Ok(None),
        Some(v) => v
            .iter()
            .map(|s| s.parse::<Ipv4Addr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map(Some)
            .map_err(|_| bad(spec, key, "a list of IPv4 addresses")),
    }
}

const KNOWN: &[(&str, &[&str])] = &[
    ("HostEtherFilter", &["enabled"]),
    ("FixIpSrc", &[]),
    ("Classifier", &[]),
    ("ArpResponder", &["addrs", "mac"]),
    ("Strip", &["bytes"]),
    ("Unstrip", &["bytes"]),
    ("CheckIpHeader", &["offset", "bad_src", "verify_checksum"]),
    ("IpLookup", &["offset"]),
    ("DecIpTtl", &["icmp"]),
    ("MtuCheck", &["mtu", "icmp"]),
    ("EtherEncap", &["src", "dst", "ethertype"]),
    ("EtherRewrite", &["src", "dst"]),
    ("IpFilter", &["rules", "rules_file", "ethernet"]),
    ("Counter", &[]),
    ("Discard", &["reason"]),
    (
        "ArpQuerier",
        &["queue", "timeout_s", "retransmit_ms", "probes", "entries"],
    ),
];

/// Destinations of connected routes an `ArpQuerier` keeps at a time (parameter `entries`).
pub const DIRECT_ENTRIES: usize = 256;

/// Builds the pipeline of `cfg` (ports `rx` = 0 and `tx` = 1; routed frames default to tx),
/// every port with `env`'s MAC and addresses and tx with `env`'s gateway
/// ([`build_pipeline_ports`] with no ports).
/// A graph of the router's shape gets the fused fast path ([`Pipeline::is_fused`]).
pub fn build_pipeline(cfg: &NfConfig, env: &Env) -> Result<Pipeline> {
    build_pipeline_ports(cfg, env, &[])
}

/// Builds the pipeline of `cfg` for an NF whose ports `rx` (0) and `tx` (1) are `ports[0]` and
/// `ports[1]` (missing entries: `env.src_mac`, `env.addrs`, and `env.gw_mac` on tx). Each
/// port's interface name is another name of it. Routed frames default to tx.
pub fn build_pipeline_ports(cfg: &NfConfig, env: &Env, ports: &[PortEnv]) -> Result<Pipeline> {
    let specs = cfg.element_specs()?;
    let mut p = Pipeline::new(&["rx", "tx"], 1)?;
    let port_env: Vec<PortEnv> = (0..2)
        .map(|k| {
            ports.get(k).cloned().unwrap_or_else(|| PortEnv {
                ifname: String::new(),
                mac: env.src_mac,
                addrs: env.addrs.clone(),
                gw_mac: if k == 1 { env.gw_mac } else { None },
            })
        })
        .collect();
    for (k, pe) in port_env.iter().enumerate() {
        // rx == tx: one interface, its name stays with rx.
        if !pe.ifname.is_empty() && !port_env[..k].iter().any(|o| o.ifname == pe.ifname) {
            p.add_port_alias(&pe.ifname, k as u8)?;
        }
    }
    let macs = PerPort::new(port_env.iter().map(|pe| pe.mac).collect(), env.src_mac);
    let other_of: Vec<usize> = (0..port_env.len())
        .map(|k| usize::from(p.other_port(k as u8)))
        .collect();
    let other = |k: usize| &port_env[other_of[k]];
    let needs_routes = specs.iter().any(|s| s.class == "IpLookup");
    let table = if needs_routes {
        let routes = cfg.route_specs()?;
        if routes.is_empty() {
            return Err(NfError::Config(
                "the NF routes (IpLookup) but no route was given (--route PREFIX/LEN or --routes FILE)".into(),
            ));
        }
        if env.gw_mac.is_none() && routes.iter().any(|r| r.via == Via::Default) {
            return Err(NfError::Config(
                "a route has no gateway: give --gw-mac MAC (or `via MAC`, `via IP` or `direct` on every route)"
                    .into(),
            ));
        }
        if routes.iter().any(|r| r.via.by_arp()) && !specs.iter().any(|s| s.class == "ArpQuerier") {
            return Err(NfError::Config(
                "a route is resolved by ARP (`via IP` or `direct`) but the NF has no ArpQuerier element"
                    .into(),
            ));
        }
        Some(RouteTable::build(&routes, 1, |n| p.port_of(n))?)
    } else {
        None
    };
    let icmp = |enabled: bool| -> Option<IcmpConfig> {
        match (enabled, env.addrs.first()) {
            (true, Some(&src)) if env.icmp_rate > 0 => Some(IcmpConfig {
                src,
                limit: RateLimit::new(env.icmp_rate, 10),
            }),
            _ => None,
        }
    };
    let mut parts = Vec::with_capacity(specs.len());
    for spec in &specs {
        let known = KNOWN
            .iter()
            .find(|(c, _)| *c == spec.class)
            .ok_or_else(|| {
                NfError::Config(format!(
                    "element `{}`: unknown class `{}` (known: {})",
                    spec.name,
                    spec.class,
                    KNOWN.iter().map(|k| k.0).collect::<Vec<_>>().join(", ")
                ))
            })?;
        if let Some(k) = spec.params.keys().find(|k| !known.1.contains(&k.as_str())) {
            return Err(NfError::Config(format!(
                "element `{}` ({}): unknown parameter `{k}` (known: {})",
                spec.name,
                spec.class,
                known.1.join(", ")
            )));
        }
        let mut part = Part::Other;
        let e: Box<dyn Element> = match spec.class.as_str() {
            "HostEtherFilter" => {
                let h = HostEtherFilter::new(
                    macs.clone(),
                    p_bool(spec, "enabled", cfg.host_filter.unwrap_or(true))?,
                );
                part = Part::HostFilter(h.clone());
                Box::new(h)
            }
            "FixIpSrc" => {
                part = Part::FixSrc;
                Box::new(FixIpSrc::new(PerPort::new(
                    port_env
                        .iter()
                        .map(|pe| pe.addrs.first().copied())
                        .collect(),
                    None,
                )))
            }
            "Classifier" => {
                part = Part::Classifier;
                Box::new(Classifier)
            }
            "ArpResponder" => {
                let addrs = p_addrs(spec, "addrs")?;
                let mac = p_mac(spec, "mac")?;
                Box::new(ArpResponder::per_port(PerPort::new(
                    port_env
                        .iter()
                        .map(|pe| {
                            (
                                addrs.clone().unwrap_or_else(|| pe.addrs.clone()),
                                mac.unwrap_or(pe.mac),
                            )
                        })
                        .collect(),
                    (env.addrs.clone(), env.src_mac),
                )))
            }
            "Strip" => {
                let s = Strip::new(p_usize(spec, "bytes", 14)?);
                part = Part::Strip(s.clone());
                Box::new(s)
            }
            "Unstrip" => Box::new(Unstrip::new(p_usize(spec, "bytes", 14)?)),
            "CheckIpHeader" => {
                let c = CheckIpHeader::new(
                    p_usize(spec, "offset", 0)?,
                    p_addrs(spec, "bad_src")?.unwrap_or_default(),
                );
                let c = if p_bool(spec, "verify_checksum", true)? {
                    c
                } else {
                    c.without_checksum()
                };
                part = Part::Check(c.clone());
                Box::new(c)
            }
            "IpLookup" => {
                let l = IpLookup::new(
                    table
                        .clone()
                        .ok_or_else(|| NfError::Config("no routes".into()))?,
                    p_usize(spec, "offset", 0)?,
                );
                part = Part::Lookup(l.clone());
                Box::new(l)
            }
            "DecIpTtl" => {
                part = Part::DecTtl;
                Box::new(DecIpTtl::new(icmp(p_bool(spec, "icmp", true)?)))
            }
            "MtuCheck" => {
                let mtu = p_usize(spec, "mtu", usize::from(env.mtu))?;
                let mtu = u16::try_from(mtu).map_err(|_| bad(spec, "mtu", "at most 65535"))?;
                part = Part::Mtu(mtu);
                Box::new(MtuCheck::new(mtu, icmp(p_bool(spec, "icmp", true)?)))
            }
            "EtherEncap" => {
                let dst = p_mac(spec, "dst")?
                    .or(env.gw_mac)
                    .unwrap_or(MacAddr::BROADCAST);
                let et = p_usize(spec, "ethertype", usize::from(ethertype::IPV4))?;
                let et = u16::try_from(et).map_err(|_| bad(spec, "ethertype", "at most 0xffff"))?;
                let src = match p_mac(spec, "src")? {
                    Some(m) => PerPort::all(m),
                    None => macs.clone(),
                };
                let e = EtherEncap::per_port(et, src, dst);
                part = Part::Encap(e.clone());
                Box::new(e)
            }
            "EtherRewrite" => {
                // Per input port: the MACs of the way out (`other`), unless given.
                let (src, dst) = (p_mac(spec, "src")?, p_mac(spec, "dst")?);
                Box::new(EtherRewrite::per_port(PerPort::new(
                    (0..port_env.len())
                        .map(|k| {
                            let o = other(k);
                            (Some(src.unwrap_or(o.mac)), dst.or(o.gw_mac))
                        })
                        .collect(),
                    (Some(env.src_mac), env.gw_mac),
                )))
            }
            "IpFilter" => {
                let set = match (p_strs(spec, "rules")?, p_str(spec, "rules_file")?) {
                    (None, None) => cfg.rule_set()?,
                    (lines, file) => rules_from(&lines.unwrap_or_default(), file)?,
                };
                Box::new(IpFilter::new(set, p_bool(spec, "ethernet", true)?))
            }
            "ArpQuerier" => {
                part = Part::ArpQuerier;
                let d = NeighConfig::default();
                let ncfg = NeighConfig {
                    queue: p_usize(spec, "queue", d.queue)?.clamp(1, 1024),
                    reachable: Duration::from_secs(
                        p_usize(spec, "timeout_s", d.reachable.as_secs() as usize)?.max(1) as u64,
                    ),
                    retransmit: Duration::from_millis(
                        p_usize(spec, "retransmit_ms", d.retransmit.as_millis() as usize)?.max(1)
                            as u64,
                    ),
                    probes: u32::try_from(p_usize(spec, "probes", d.probes as usize)?.max(1))
                        .map_err(|_| bad(spec, "probes", "a small number"))?,
                };
                let q = ArpQuerier::new(
                    table
                        .as_ref()
                        .map(|t| t.neighbours().to_vec())
                        .unwrap_or_default(),
                    PerPort::new(
                        port_env
                            .iter()
                            .map(|pe| (pe.addrs.first().copied(), pe.mac))
                            .collect(),
                        (env.addrs.first().copied(), env.src_mac),
                    ),
                    ncfg,
                );
                Box::new(if table.as_ref().is_some_and(RouteTable::has_direct) {
                    q.with_direct(p_usize(spec, "entries", DIRECT_ENTRIES)?.clamp(1, 65536))
                } else {
                    q
                })
            }
            "Counter" => Box::new(Counter::new(&spec.name)),
            "Discard" => Box::new(Discard::new(p_str(spec, "reason")?.unwrap_or("discard"))),
            other => return Err(NfError::Config(format!("unknown class `{other}`"))),
        };
        p.add(&spec.name, e).map_err(|e| match e {
            NfError::Config(m) => NfError::Config(format!("element `{}`: {m}", spec.name)),
            o => o,
        })?;
        parts.push(part);
    }
    for spec in &specs {
        let targets: Vec<&str> = spec.outputs.iter().map(String::as_str).collect();
        p.connect_names(&spec.name, &targets)?;
    }
    let fast = fuse(&p, &parts);
    p.set_fast(fast);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Env {
        Env {
            src_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            gw_mac: Some(MacAddr([2, 0, 0, 0, 0, 2])),
            addrs: vec![Ipv4Addr::new(198, 18, 0, 254)],
            mtu: 1500,
            icmp_rate: 100,
        }
    }

    #[test]
    fn presets_build() {
        for preset in [Preset::Router, Preset::Firewall, Preset::Forward] {
            let cfg = NfConfig {
                preset: Some(preset),
                routes: vec!["198.18.0.0/15".into()],
                ..Default::default()
            };
            let p = build_pipeline(&cfg, &env()).unwrap();
            assert!(!p.describe().is_empty());
        }
    }

    #[test]
    fn routes_via_ip_go_through_the_arp_querier_and_the_rest_stays_fused() {
        let cfg = NfConfig {
            preset: Some(Preset::Router),
            routes: vec![
                "198.19.0.0/16 via 02:00:00:00:00:cc".into(),
                "198.18.2.0/24 via 198.18.0.1".into(),
            ],
            ..Default::default()
        };
        let mut p = build_pipeline(&cfg, &env()).unwrap();
        assert!(p.is_fused() && p.originates());
        let mut b = scc_io::Batch::new(8, 2048).unwrap();
        let mut buf = [0u8; 128];
        for dst in [Ipv4Addr::new(198, 19, 0, 5), Ipv4Addr::new(198, 18, 2, 5)] {
            let n = crate::wire::build::UdpFrame {
                dst_mac: env().src_mac,
                dst_ip: dst,
                ..Default::default()
            }
            .write(&mut buf, &[0; 18])
            .unwrap();
            b.push(&buf[..n]).unwrap();
        }
        p.process_port(&mut b, 0, 0);
        // The static route forwards at once (fused); the other frame waits for ARP.
        assert_eq!(p.port_frames(1), &[0]);
        assert_eq!((p.held(), p.total_drops()), (1, 0));
        let out = p.originate(0).unwrap();
        let req = out.batch().frame(usize::from(out.port_frames(1)[0]));
        let a = crate::wire::arp::Packet::new_checked(&req[14..]).unwrap();
        assert_eq!(a.target_ip(), Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(p.originated(), 1);
        // A custom graph with a `via IP` route must have an ArpQuerier.
        let custom = NfConfig::from_toml(
            "routes = [\"0.0.0.0/0 via 198.18.0.1\"]\n[[element]]\nname = \"l\"\nclass = \"IpLookup\"\noutputs = [\"out\"]\n",
            "t",
        )
        .unwrap();
        let e = build_pipeline(&custom, &env()).unwrap_err().to_string();
        assert!(e.contains("ArpQuerier"), "{e}");
    }

    #[test]
    fn config_errors_are_clear() {
        let e = NfConfig::from_toml("bogus = 1", "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.toml") && e.contains("bogus"), "{e}");
        let cfg = NfConfig {
            preset: Some(Preset::Router),
            ..Default::default()
        };
        assert!(
            build_pipeline(&cfg, &env())
                .unwrap_err()
                .to_string()
                .contains("no route")
        );
        let cfg =
            NfConfig::from_toml("[[element]]\nname = \"a\"\nclass = \"Nope\"\n", "t").unwrap();
        assert!(
            build_pipeline(&cfg, &env())
                .unwrap_err()
                .to_string()
                .contains("unknown class")
        );
        let cfg = NfConfig::from_toml(
            "[[element]]\nname = \"a\"\nclass = \"Strip\"\nbytez = 3\noutputs = [\"tx\"]\n",
            "t",
        )
        .unwrap();
        assert!(
            build_pipeline(&cfg, &env())
                .unwrap_err()
                .to_string()
                .contains("unknown parameter `bytez`")
        );
        let cfg = NfConfig::from_toml(
            "[[element]]\nname = \"a\"\nclass = \"Strip\"\noutputs = [\"nowhere\"]\n",
            "t",
        )
        .unwrap();
        assert!(
            build_pipeline(&cfg, &env())
                .unwrap_err()
                .to_string()
                .contains("unknown target `nowhere`")
        );
        let cfg = NfConfig {
            preset: Some(Preset::Router),
            routes: vec!["198.18.0.0/15 port eth7".into()],
            ..Default::default()
        };
        assert!(
            build_pipeline(&cfg, &env())
                .unwrap_err()
                .to_string()
                .contains("unknown port")
        );
        let cfg = NfConfig {
            preset: Some(Preset::Router),
            routes: vec!["198.18.0.0/15".into(), "1.2.3.0/24 vai x".into()],
            ..Default::default()
        };
        let e = build_pipeline(&cfg, &env()).unwrap_err().to_string();
        assert!(e.starts_with("--route:2:"), "{e}");
    }
}
