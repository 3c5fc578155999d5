//! Probe frames: Ethernet / IPv4 / UDP frames whose payload carries a magic, a stream id, a
//! sequence number and a `CLOCK_MONOTONIC` send timestamp.
//!
//! Pure code (no I/O): building templates, writing frame `k` of a run into a buffer, stamping it,
//! and parsing a received frame into a [`Probe`]. Headers are written and read with the
//! `scc_nf::wire` views and builders; no input can make parsing panic.
//!
//! Layout (all fields big-endian):
//!
//! | offset | bytes | field |
//! |---|---|---|
//! | 0 | 14 | Ethernet: dst MAC, src MAC, type 0x0800 |
//! | 14 | 20 | IPv4 (IHL 5, DF, TTL, proto 17, valid header checksum) |
//! | 34 | 8 | UDP (checksum 0: none) |
//! | 42 | 4 | magic [`PROBE_MAGIC`] |
//! | 46 | 2 | stream id |
//! | 48 | 6 | sequence number (48 bits) |
//! | 54 | 8 | send timestamp, `CLOCK_MONOTONIC` ns |
//! | 62 | .. | zero padding up to the frame size |
//!
//! The smallest probe is [`MIN_PROBE_FRAME`] (62) bytes, so the classic 64-byte frame fits.
//! Sizes are what the port sends and receives (no FCS).

use std::net::Ipv4Addr;

use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::ethernet::{self, ethertype};
use scc_nf::wire::{WireError, checksum, ipv4, udp};
use serde::{Deserialize, Serialize};

pub use scc_nf::wire::MacAddr;

use super::TrafficError;

/// Ethernet header length.
pub const ETH_LEN: usize = ethernet::HEADER_LEN;
/// IPv4 header length of the probes we build (no options).
pub const IPV4_LEN: usize = ipv4::MIN_HEADER_LEN;
/// UDP header length.
pub const UDP_LEN: usize = udp::HEADER_LEN;
/// Offset of the probe payload in a frame we build.
pub const PAYLOAD_OFF: usize = ETH_LEN + IPV4_LEN + UDP_LEN;
/// Length of the probe payload header (magic, stream, sequence number, timestamp).
pub const PROBE_HDR_LEN: usize = 20;
/// Smallest probe frame.
pub const MIN_PROBE_FRAME: usize = PAYLOAD_OFF + PROBE_HDR_LEN;
/// Largest probe frame (IPv4 total length is 16 bits).
pub const MAX_PROBE_FRAME: usize = ETH_LEN + 65535;
/// Marks a probe payload ("SCCP").
pub const PROBE_MAGIC: u32 = 0x5343_4350;
/// Largest sequence number (48 bits); the sequence wraps past it.
pub const SEQ_MASK: u64 = (1 << 48) - 1;

/// Offsets inside a frame we build.
const IP_CSUM: usize = ETH_LEN + 10;
const IP_SRC: usize = ETH_LEN + 12;
const UDP_SPORT: usize = ETH_LEN + IPV4_LEN;
const SEQ_OFF: usize = PAYLOAD_OFF + 6;
const TS_OFF: usize = PAYLOAD_OFF + 12;

/// The IPv4 block reserved for benchmarking (RFC 2544): 198.18.0.0/15. Probes use only it.
pub fn is_benchmark_addr(a: Ipv4Addr) -> bool {
    let o = a.octets();
    o[0] == 198 && (o[1] & 0xfe) == 18
}

/// How flows are spread: flow `i` (0-based) adds `i` to the source port, the source address,
/// or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowSpread {
    /// Flow `i` uses source port `src_port + i`.
    #[default]
    Ports,
    /// Flow `i` uses source address `src_ip + i`.
    Addrs,
    /// Flow `i` uses `src_ip + i` and `src_port + i`.
    Both,
}

/// One entry of a frame size mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeWeight {
    /// Frame size in bytes (without FCS).
    pub size: usize,
    /// Relative weight (frames of this size per `sum(weights)` frames).
    pub weight: u32,
}

/// Frame sizes: one fixed size or a weighted mix.
///
/// In TOML/JSON: a number (`64`) or a list of `{size, weight}` tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FrameSizes {
    /// Every frame has this size.
    Fixed(usize),
    /// Frames cycle through the sizes in proportion to their weights, interleaved
    /// (smooth weighted round robin), not in runs.
    Mix(Vec<SizeWeight>),
}

impl Default for FrameSizes {
    fn default() -> Self {
        FrameSizes::Fixed(64)
    }
}

impl FrameSizes {
    /// An IMIX-like mix of Ethernet frame sizes: 64 x7, 594 x4, 1514 x1 (the "simple IMIX" of
    /// 40/576/1500-byte IP packets, as frames without FCS; 64 instead of 54 so that it is a
    /// valid minimum Ethernet frame).
    pub fn imix() -> Self {
        FrameSizes::Mix(vec![
            SizeWeight {
                size: 64,
                weight: 7,
            },
            SizeWeight {
                size: 594,
                weight: 4,
            },
            SizeWeight {
                size: 1514,
                weight: 1,
            },
        ])
    }

    /// The largest size.
    pub fn max_size(&self) -> usize {
        match self {
            FrameSizes::Fixed(s) => *s,
            FrameSizes::Mix(m) => m.iter().map(|e| e.size).max().unwrap_or(0),
        }
    }

    /// The mean frame size (weighted).
    pub fn mean_size(&self) -> f64 {
        match self {
            FrameSizes::Fixed(s) => *s as f64,
            FrameSizes::Mix(m) => {
                let w: f64 = m.iter().map(|e| e.weight as f64).sum();
                if w == 0.0 {
                    0.0
                } else {
                    m.iter()
                        .map(|e| e.size as f64 * e.weight as f64)
                        .sum::<f64>()
                        / w
                }
            }
        }
    }

    /// Checks sizes and weights.
    pub fn validate(&self) -> Result<(), TrafficError> {
        let check = |s: usize| {
            if (MIN_PROBE_FRAME..=MAX_PROBE_FRAME.min(scc_io::MAX_FRAME_SIZE)).contains(&s) {
                Ok(())
            } else {
                Err(TrafficError::Config {
                    field: "frame_size",
                    reason: format!(
                        "{s} bytes: a probe frame needs {MIN_PROBE_FRAME}..={} bytes",
                        MAX_PROBE_FRAME.min(scc_io::MAX_FRAME_SIZE)
                    ),
                })
            }
        };
        match self {
            FrameSizes::Fixed(s) => check(*s),
            FrameSizes::Mix(m) => {
                if m.is_empty() {
                    return Err(TrafficError::Config {
                        field: "frame_size",
                        reason: "empty size mix".into(),
                    });
                }
                let mut total = 0u64;
                for e in m {
                    check(e.size)?;
                    total += u64::from(e.weight);
                }
                if total == 0 || total > 1 << 16 {
                    return Err(TrafficError::Config {
                        field: "frame_size",
                        reason: format!("mix weights sum to {total}: must be 1..=65536"),
                    });
                }
                Ok(())
            }
        }
    }

    /// The size cycle: sizes in the order frames use them, one period of `sum(weights)` entries
    /// (smooth weighted round robin, so sizes interleave).
    pub fn cycle(&self) -> Vec<usize> {
        match self {
            FrameSizes::Fixed(s) => vec![*s],
            FrameSizes::Mix(m) => {
                let total: i64 = m.iter().map(|e| i64::from(e.weight)).sum();
                let mut current = vec![0i64; m.len()];
                let mut out = Vec::with_capacity(total.max(0) as usize);
                for _ in 0..total {
                    let mut best = 0;
                    for (i, e) in m.iter().enumerate() {
                        current[i] += i64::from(e.weight);
                        if current[i] > current[best] {
                            best = i;
                        }
                    }
                    current[best] -= total;
                    out.push(m[best].size);
                }
                out
            }
        }
    }
}

/// Addresses, ports, flows and sizes of the probes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeConfig {
    /// Source MAC (the generator's interface, usually).
    pub src_mac: MacAddr,
    /// Destination MAC (the next hop's interface; any value on a bare veth pair).
    pub dst_mac: MacAddr,
    /// Source IPv4 address of flow 0 (in 198.18.0.0/15).
    pub src_ip: Ipv4Addr,
    /// Destination IPv4 address (in 198.18.0.0/15).
    pub dst_ip: Ipv4Addr,
    /// UDP source port of flow 0.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// Number of flows (1..=65536); frame `k` belongs to flow `k % flows`.
    pub flows: u32,
    /// How flows differ.
    pub spread: FlowSpread,
    /// Frame sizes.
    pub frame_size: FrameSizes,
    /// IPv4 TTL.
    pub ttl: u8,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            src_mac: MacAddr([0x02, 0x5c, 0xc0, 0, 0, 0x01]),
            dst_mac: MacAddr([0x02, 0x5c, 0xc0, 0, 0, 0x02]),
            src_ip: Ipv4Addr::new(198, 18, 0, 1),
            dst_ip: Ipv4Addr::new(198, 19, 0, 1),
            src_port: 10000,
            dst_port: 9,
            flows: 1,
            spread: FlowSpread::Ports,
            frame_size: FrameSizes::default(),
            ttl: 64,
        }
    }
}

impl ProbeConfig {
    /// Checks the addresses (198.18.0.0/15 only, also for the last flow), ports, flows and
    /// sizes, naming the failing field.
    pub fn validate(&self) -> Result<(), TrafficError> {
        for (field, a) in [("dst_ip", self.dst_ip), ("src_ip", self.src_ip)] {
            if !is_benchmark_addr(a) {
                return Err(TrafficError::Config {
                    field,
                    reason: format!("{a} is outside 198.18.0.0/15 (the benchmarking block)"),
                });
            }
        }
        if self.flows == 0 || self.flows > 1 << 16 {
            return Err(TrafficError::Config {
                field: "flows",
                reason: format!("{}: must be 1..=65536", self.flows),
            });
        }
        let last = self.flows - 1;
        if matches!(self.spread, FlowSpread::Addrs | FlowSpread::Both) {
            let end = u32::from(self.src_ip).checked_add(last).map(Ipv4Addr::from);
            if !end.is_some_and(is_benchmark_addr) {
                return Err(TrafficError::Config {
                    field: "flows",
                    reason: format!(
                        "{} flows from {} leave 198.18.0.0/15",
                        self.flows, self.src_ip
                    ),
                });
            }
        }
        if matches!(self.spread, FlowSpread::Ports | FlowSpread::Both)
            && u32::from(self.src_port) + last > u32::from(u16::MAX)
        {
            return Err(TrafficError::Config {
                field: "flows",
                reason: format!(
                    "{} flows from source port {} overflow the port range",
                    self.flows, self.src_port
                ),
            });
        }
        self.frame_size.validate()
    }
}

/// Pre-built probe templates for a run: writes frame `k` with sequence number `seq` into a
/// buffer with one copy and a few stores (source address/port of its flow, IPv4 checksum,
/// sequence number); [`stamp`] then writes the timestamp. Nothing is allocated after
/// [`ProbeFactory::new`].
#[derive(Debug, Clone)]
pub struct ProbeFactory {
    /// One template per distinct size (indexed by `cycle`).
    templates: Vec<Vec<u8>>,
    /// Template index of frame `k % cycle.len()`.
    cycle: Vec<u16>,
    flows: u32,
    spread: FlowSpread,
    src_ip: u32,
    src_port: u16,
    stream: u16,
    max_len: usize,
    mean_len: f64,
}

impl ProbeFactory {
    /// Validates `cfg` and builds the templates for stream `stream`.
    pub fn new(cfg: &ProbeConfig, stream: u16) -> Result<Self, TrafficError> {
        cfg.validate()?;
        let sizes = cfg.frame_size.cycle();
        let mut distinct: Vec<usize> = sizes.clone();
        distinct.sort_unstable();
        distinct.dedup();
        let templates = distinct
            .iter()
            .map(|&len| build_template(cfg, stream, len))
            .collect::<Result<Vec<_>, _>>()?;
        let cycle = sizes
            .iter()
            .map(|s| distinct.iter().position(|d| d == s).unwrap_or(0) as u16)
            .collect();
        Ok(Self {
            templates,
            cycle,
            flows: cfg.flows,
            spread: cfg.spread,
            src_ip: u32::from(cfg.src_ip),
            src_port: cfg.src_port,
            stream,
            max_len: cfg.frame_size.max_size(),
            mean_len: cfg.frame_size.mean_size(),
        })
    }

    /// The stream id written into every probe.
    pub fn stream(&self) -> u16 {
        self.stream
    }

    /// The largest frame this factory writes.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The mean frame length (weighted by the mix).
    pub fn mean_len(&self) -> f64 {
        self.mean_len
    }

    /// Length of frame `k`.
    pub fn len_of(&self, k: u64) -> usize {
        let t = self.cycle[(k % self.cycle.len() as u64) as usize] as usize;
        self.templates[t].len()
    }

    /// Writes frame `k` of the run with sequence number `seq` (and a zero timestamp) into the
    /// front of `buf`; returns its length, or `None` when `buf` is too small.
    pub fn write(&self, k: u64, seq: u64, buf: &mut [u8]) -> Option<usize> {
        let t = self.cycle[(k % self.cycle.len() as u64) as usize] as usize;
        let tpl = &self.templates[t];
        let dst = buf.get_mut(..tpl.len())?;
        dst.copy_from_slice(tpl);
        let flow = (k % u64::from(self.flows)) as u32;
        if flow != 0 {
            if matches!(self.spread, FlowSpread::Addrs | FlowSpread::Both) {
                let ip = self.src_ip.wrapping_add(flow);
                let old = u16::from_be_bytes([dst[IP_CSUM], dst[IP_CSUM + 1]]);
                let c = checksum::update32(old, self.src_ip, ip);
                dst[IP_SRC..IP_SRC + 4].copy_from_slice(&ip.to_be_bytes());
                dst[IP_CSUM..IP_CSUM + 2].copy_from_slice(&c.to_be_bytes());
            }
            if matches!(self.spread, FlowSpread::Ports | FlowSpread::Both) {
                let p = self.src_port.wrapping_add(flow as u16);
                dst[UDP_SPORT..UDP_SPORT + 2].copy_from_slice(&p.to_be_bytes());
            }
        }
        set_seq(dst, seq);
        Some(tpl.len())
    }
}

fn build_template(cfg: &ProbeConfig, stream: u16, len: usize) -> Result<Vec<u8>, TrafficError> {
    let spec = UdpFrame {
        src_mac: cfg.src_mac,
        dst_mac: cfg.dst_mac,
        src_ip: cfg.src_ip,
        dst_ip: cfg.dst_ip,
        src_port: cfg.src_port,
        dst_port: cfg.dst_port,
        ttl: cfg.ttl,
        ident: 0,
        dont_frag: true,
        udp_checksum: false,
    };
    let mut f = vec![0u8; len];
    spec.write_with(&mut f, len.saturating_sub(PAYLOAD_OFF), |p| {
        if let Some(h) = p.get_mut(..6) {
            h[..4].copy_from_slice(&PROBE_MAGIC.to_be_bytes());
            h[4..6].copy_from_slice(&stream.to_be_bytes());
        }
    })
    .map_err(|e| TrafficError::Config {
        field: "frame_size",
        reason: format!("{len} bytes: {e}"),
    })?;
    Ok(f)
}

fn set_seq(frame: &mut [u8], seq: u64) {
    if let Some(d) = frame.get_mut(SEQ_OFF..SEQ_OFF + 6) {
        d.copy_from_slice(&(seq & SEQ_MASK).to_be_bytes()[2..8]);
    }
}

/// Writes the send timestamp (ns) into a probe frame built by [`ProbeFactory::write`].
/// Does nothing to a frame shorter than [`MIN_PROBE_FRAME`].
#[inline]
pub fn stamp(frame: &mut [u8], ts_ns: u64) {
    if let Some(d) = frame.get_mut(TS_OFF..TS_OFF + 8) {
        d.copy_from_slice(&ts_ns.to_be_bytes());
    }
}

/// A parsed probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// Stream id of the generator that sent it.
    pub stream: u16,
    /// Sequence number (48 bits).
    pub seq: u64,
    /// Send timestamp, `CLOCK_MONOTONIC` ns.
    pub ts_ns: u64,
    /// IPv4 source.
    pub src_ip: Ipv4Addr,
    /// IPv4 destination.
    pub dst_ip: Ipv4Addr,
    /// UDP source port.
    pub src_port: u16,
    /// UDP destination port.
    pub dst_port: u16,
    /// IPv4 TTL on arrival (each router hop decrements it).
    pub ttl: u8,
    /// Frame length.
    pub len: usize,
}

/// Why a frame is not a (valid) probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProbeError {
    /// Shorter than an Ethernet + IPv4 header.
    #[error("frame too short")]
    TooShort,
    /// Not an IPv4 frame (EtherType or version).
    #[error("not IPv4")]
    NotIpv4,
    /// IHL below 5, or header/total length beyond the frame.
    #[error("malformed IPv4 header")]
    BadIpHeader,
    /// IPv4 header checksum wrong.
    #[error("bad IPv4 header checksum")]
    BadIpChecksum,
    /// Not UDP, or a fragment.
    #[error("not an unfragmented UDP datagram")]
    NotUdp,
    /// UDP payload too short for a probe or UDP length inconsistent.
    #[error("UDP payload truncated")]
    Truncated,
    /// UDP payload without the probe magic.
    #[error("no probe magic")]
    BadMagic,
}

impl Probe {
    /// Parses `frame` (Ethernet first) with `scc_nf::wire` views, checking the IPv4 header
    /// checksum. Never panics.
    pub fn parse(frame: &[u8]) -> Result<Probe, ProbeError> {
        let eth = ethernet::Frame::new_checked(frame).map_err(|_| ProbeError::TooShort)?;
        if eth.ethertype() != ethertype::IPV4 {
            return Err(ProbeError::NotIpv4);
        }
        let ip = ipv4::Packet::new_checked(eth.payload()).map_err(|e| match e {
            WireError::Truncated { .. } => ProbeError::TooShort,
            WireError::BadVersion(_) => ProbeError::NotIpv4,
            _ => ProbeError::BadIpHeader,
        })?;
        if !ip.verify_checksum() {
            return Err(ProbeError::BadIpChecksum);
        }
        if ip.protocol() != ipv4::protocol::UDP || ip.is_fragment() {
            return Err(ProbeError::NotUdp);
        }
        let u = udp::Packet::new_checked(ip.payload()).map_err(|_| ProbeError::Truncated)?;
        let p = u.payload();
        if p.len() < PROBE_HDR_LEN {
            return Err(ProbeError::Truncated);
        }
        if u32::from_be_bytes([p[0], p[1], p[2], p[3]]) != PROBE_MAGIC {
            return Err(ProbeError::BadMagic);
        }
        let mut seq = [0u8; 8];
        seq[2..8].copy_from_slice(&p[6..12]);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&p[12..20]);
        Ok(Probe {
            stream: u16::from_be_bytes([p[4], p[5]]),
            seq: u64::from_be_bytes(seq),
            ts_ns: u64::from_be_bytes(ts),
            src_ip: ip.src_addr(),
            dst_ip: ip.dst_addr(),
            src_port: u.src_port(),
            dst_port: u.dst_port(),
            ttl: ip.ttl(),
            len: frame.len(),
        })
    }
}
