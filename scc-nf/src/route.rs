//! Static routes: the routes file format, the compiled routing table and the `IpLookup` element.
//!
//! # Routes file format
//! One route per line; `#` starts a comment; blank lines are ignored:
//! ```text
//! # PREFIX/LEN   [via GATEWAY_MAC|GATEWAY_IP] [port rx|tx|IF]
//! 198.18.0.0/15  via 02:00:00:00:00:02
//! 198.19.7.0/24  via 02:00:00:00:00:03    port tx
//! 198.18.2.0/24  via 198.18.2.1           port r1   # resolved by ARP
//! 198.18.3.0/24  direct                   port r1   # connected: each destination by ARP
//! 10.1.2.3                                 # a host route (/32)
//! default        via 02:00:00:00:00:01    # same as 0.0.0.0/0
//! ```
//! `via MAC` gives the gateway's MAC address written by `EtherEncap` (default: the NF's
//! `--gw-mac`), a static next hop as in the paper's setup; `via IP` names the gateway's IPv4
//! address, whose MAC the NF's `ArpQuerier` finds by ARP on the route's port (see
//! [`crate::neigh`]); `direct` makes the route a connected network, whose destinations the
//! `ArpQuerier` resolves one by one (as a host does); `port` names the output port: `rx`, `tx`
//! (the default) or an interface's name.
//! Host bits of a prefix are ignored. A later line for the same prefix replaces an earlier one.
//! `--route PREFIX/LEN` on the command line takes the same syntax.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::Arc;

use scc_io::Batch;

use crate::element::{Ctx, Element, Verdict};
use crate::error::{NfError, Result};
use crate::lpm::{Lpm, Route};
use crate::neigh::Neighbour;
use crate::wire::{MacAddr, ipv4};

/// How a route reaches its destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Via {
    /// No gateway given: the NF's default gateway MAC (`--gw-mac`).
    #[default]
    Default,
    /// `via MAC`: a static gateway, written by `EtherEncap`.
    Mac(MacAddr),
    /// `via IP`: a gateway whose MAC the `ArpQuerier` resolves.
    Ip(Ipv4Addr),
    /// `direct`: a connected network, each destination resolved by the `ArpQuerier`.
    Direct,
}

impl Via {
    /// True when the `ArpQuerier` resolves the route's next hop (`via IP`, `direct`).
    pub fn by_arp(self) -> bool {
        matches!(self, Via::Ip(_) | Via::Direct)
    }
}

/// One parsed route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    /// Network address.
    pub prefix: Ipv4Addr,
    /// Prefix length.
    pub len: u8,
    /// The gateway, or how the next hop is found.
    pub via: Via,
    /// Output port name (`None`: `tx`).
    pub port: Option<String>,
}

/// Parses one route line (without comment). `Ok(None)` for an empty line.
///
/// ```
/// use scc_nf::route::{Via, parse_route_line};
/// let r = parse_route_line("198.19.7.9/24 via 02:00:00:00:00:03 port r1 # c").unwrap().unwrap();
/// assert_eq!((r.prefix.to_string(), r.len), ("198.19.7.0".to_string(), 24));
/// assert_eq!(r.port.as_deref(), Some("r1"));
/// let r = parse_route_line("default via 198.18.2.1").unwrap().unwrap();
/// assert_eq!(r.via, Via::Ip("198.18.2.1".parse().unwrap()));
/// let r = parse_route_line("198.18.3.0/24 direct port tx").unwrap().unwrap();
/// assert_eq!(r.via, Via::Direct);
/// assert!(parse_route_line("198.18.3.0/24 direct via 198.18.3.1").is_err());
/// assert!(parse_route_line("10.0.0.0/33").is_err());
/// ```
pub fn parse_route_line(line: &str) -> std::result::Result<Option<RouteSpec>, String> {
    let line = line.split('#').next().unwrap_or("").trim();
    if line.is_empty() {
        return Ok(None);
    }
    let mut words = line.split_whitespace();
    let first = words.next().unwrap_or("");
    let (prefix, len) = if first == "default" {
        (Ipv4Addr::UNSPECIFIED, 0)
    } else {
        ipv4::parse_prefix(first)?
    };
    let mut spec = RouteSpec {
        prefix,
        len,
        via: Via::Default,
        port: None,
    };
    let mut direct = false;
    while let Some(w) = words.next() {
        if w == "direct" {
            direct = true;
            continue;
        }
        let val = words.next().ok_or_else(|| format!("`{w}` needs a value"))?;
        match w {
            "via" | "gw" => {
                spec.via = match val.parse::<Ipv4Addr>() {
                    Ok(ip) => Via::Ip(ip),
                    Err(_) => Via::Mac(
                        val.parse()
                            .map_err(|e| format!("{e} (`via` takes a MAC or an IPv4 address)"))?,
                    ),
                };
            }
            "port" | "dev" => spec.port = Some(val.to_string()),
            other => {
                return Err(format!(
                    "unknown word `{other}` (expected `via MAC|IP`, `direct` or `port NAME`)"
                ));
            }
        }
    }
    if direct {
        if spec.via != Via::Default {
            return Err("`direct` routes have no gateway: drop `via`".into());
        }
        spec.via = Via::Direct;
    }
    Ok(Some(spec))
}

/// Parses a whole routes file's text; errors name `source_name` and the line.
pub fn parse_routes(text: &str, source_name: &str) -> Result<Vec<RouteSpec>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        match parse_route_line(line) {
            Ok(Some(r)) => out.push(r),
            Ok(None) => {}
            Err(msg) => {
                return Err(NfError::Parse {
                    source_name: source_name.to_string(),
                    line: n + 1,
                    msg,
                });
            }
        }
    }
    Ok(out)
}

/// Reads and parses a routes file.
pub fn load_routes_file(path: &str) -> Result<Vec<RouteSpec>> {
    let text = std::fs::read_to_string(path).map_err(|source| NfError::File {
        path: path.to_string(),
        source,
    })?;
    parse_routes(&text, path)
}

/// Where a route sends packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NextHop {
    /// Output port index.
    pub port: u8,
    /// Gateway MAC (`None`: `EtherEncap`'s configured destination, or the neighbour's).
    pub gw: Option<MacAddr>,
    /// The neighbour resolved by ARP: entry `neigh - 1` of [`RouteTable::neighbours`],
    /// [`DIRECT`] for a route whose destinations are resolved themselves (a connected network,
    /// no gateway); 0 for a route that names a MAC.
    pub neigh: u16,
}

/// [`NextHop::neigh`] of a connected route: the frame's own destination is resolved by ARP.
pub const DIRECT: u16 = u16::MAX;

/// Tables of at most this many distinct prefixes also get a [`SmallTable`].
pub(crate) const SMALL_ROUTES: usize = 16;

/// One prefix of a [`SmallTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SmallRoute {
    mask: u32,
    net: u32,
    id: u16,
}

/// Longest-prefix match for a handful of routes: a scan over the distinct prefixes, longest
/// first, so the first match is the longest. For the small tables of a chain's routers this is
/// a few compares in registers, cheaper than any trie (whose direct table alone is 1 MiB).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SmallTable {
    routes: Box<[SmallRoute]>,
}

impl SmallTable {
    /// The table of `routes` (the same prefix again: the later one wins, as in [`Lpm::build`]);
    /// `None` with more than [`SMALL_ROUTES`] distinct prefixes or a prefix length above 32.
    fn build(routes: &[Route]) -> Option<Self> {
        let mut v: Vec<(u8, SmallRoute)> = Vec::new();
        for r in routes {
            if r.len > 32 {
                return None;
            }
            let mask = ipv4::prefix_mask(r.len);
            let net = r.addr & mask;
            match v.iter().position(|(l, e)| *l == r.len && e.net == net) {
                Some(k) => v[k].1.id = r.next_hop,
                None if v.len() < SMALL_ROUTES => v.push((
                    r.len,
                    SmallRoute {
                        mask,
                        net,
                        id: r.next_hop,
                    },
                )),
                None => return None,
            }
        }
        v.sort_by_key(|(l, _)| std::cmp::Reverse(*l));
        Some(Self {
            routes: v.into_iter().map(|(_, e)| e).collect(),
        })
    }

    /// The next-hop id of the longest prefix matching `addr`, 0 when none matches.
    #[inline]
    pub(crate) fn lookup(&self, addr: u32) -> u16 {
        for r in self.routes.iter() {
            if addr & r.mask == r.net {
                return r.id;
            }
        }
        0
    }
}

/// A compiled routing table: an [`Lpm`] plus the next hops its ids refer to.
#[derive(Debug, Clone)]
pub struct RouteTable {
    /// Shared by the clones (every `IpLookup` and the fused router path of one NF).
    lpm: Arc<Lpm>,
    /// The same routes for a linear scan, when there are few ([`SMALL_ROUTES`]).
    small: Option<SmallTable>,
    /// Index = next-hop id; entry 0 is unused ("no route").
    hops: Vec<NextHop>,
    /// The gateways named `via IP`, in order of first use ([`NextHop::neigh`] - 1).
    neighbours: Vec<Neighbour>,
}

impl RouteTable {
    /// Compiles `routes`; `port_index` maps a port name to its index (`None`: unknown port, an
    /// error), routes without a port use `default_port`. A route without a gateway leaves the
    /// destination MAC to `EtherEncap`; a `direct` one to the `ArpQuerier` ([`DIRECT`]).
    pub fn build(
        routes: &[RouteSpec],
        default_port: u8,
        port_index: impl Fn(&str) -> Option<u8>,
    ) -> Result<Self> {
        let mut hops = vec![NextHop {
            port: 0,
            gw: None,
            neigh: 0,
        }];
        let mut neighbours: Vec<Neighbour> = Vec::new();
        let mut ids: HashMap<NextHop, u16> = HashMap::new();
        let mut lpm_routes = Vec::with_capacity(routes.len());
        for r in routes {
            let port = match &r.port {
                None => default_port,
                Some(p) => port_index(p).ok_or_else(|| {
                    NfError::Config(format!(
                        "route {}/{}: unknown port `{p}` (expected tx, rx or an interface's name)",
                        r.prefix, r.len
                    ))
                })?,
            };
            let (gw, neigh) = match r.via {
                Via::Default => (None, 0),
                Via::Mac(m) => (Some(m), 0),
                Via::Direct => (None, DIRECT),
                Via::Ip(ip) => {
                    let nb = Neighbour { port, ip };
                    let k = match neighbours.iter().position(|n| *n == nb) {
                        Some(k) => k,
                        None => {
                            neighbours.push(nb);
                            neighbours.len() - 1
                        }
                    };
                    let n = u16::try_from(k + 1)
                        .ok()
                        .filter(|&n| n != DIRECT)
                        .ok_or_else(|| {
                            NfError::Config("more than 65534 gateways named by address".into())
                        })?;
                    (None, n)
                }
            };
            let hop = NextHop { port, gw, neigh };
            let id = match ids.get(&hop) {
                Some(&id) => id,
                None => {
                    let id = u16::try_from(hops.len()).map_err(|_| {
                        NfError::Config("more than 65535 distinct next hops".into())
                    })?;
                    hops.push(hop);
                    ids.insert(hop, id);
                    id
                }
            };
            lpm_routes.push(Route::new(r.prefix, r.len, id));
        }
        Ok(Self {
            lpm: Arc::new(Lpm::build(&lpm_routes)?),
            small: SmallTable::build(&lpm_routes),
            hops,
            neighbours,
        })
    }

    /// The gateways routes name by address (`via IP`), resolved by an `ArpQuerier`; empty when
    /// every route names a MAC.
    pub fn neighbours(&self) -> &[Neighbour] {
        &self.neighbours
    }

    /// True when a route is a connected network whose destinations are resolved by ARP
    /// ([`DIRECT`]).
    pub fn has_direct(&self) -> bool {
        self.hops.iter().any(|h| h.neigh == DIRECT)
    }

    /// The next hop for `dst`, if any route matches.
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<NextHop> {
        match self.lpm.lookup(dst.into()) {
            0 => None,
            id => self.hops.get(usize::from(id)).copied(),
        }
    }

    /// The compiled LPM structure.
    pub fn lpm(&self) -> &Lpm {
        &self.lpm
    }

    /// The table as a linear scan, when it has at most [`SMALL_ROUTES`] prefixes (same ids as
    /// the LPM).
    pub(crate) fn small(&self) -> Option<&SmallTable> {
        self.small.as_ref()
    }

    /// The next hops, indexed by the LPM's next-hop ids (entry 0 is unused: "no route").
    pub(crate) fn hops(&self) -> &[NextHop] {
        &self.hops
    }
}

/// Longest-prefix-match routing of IPv4 packets (destination at `offset + 16`; offset 0 after
/// `Strip`): sets the output port and gateway MAC annotations (see [`crate::element::Anno`]) and
/// sends the packet to output 0. Drops packets no route matches (`no_route`) and packets too short
/// to hold a destination (`ip_truncated`). Lookups are batched ([`Lpm::lookup_batch`]).
#[derive(Debug, Clone)]
pub struct IpLookup {
    table: RouteTable,
    offset: usize,
}

impl IpLookup {
    /// Routes with `table`, reading headers at `offset`.
    pub fn new(table: RouteTable, offset: usize) -> Self {
        Self { table, offset }
    }

    /// The routing table.
    pub(crate) fn table(&self) -> &RouteTable {
        &self.table
    }

    /// Where the IPv4 header starts in the frames this element sees.
    pub(crate) fn offset(&self) -> usize {
        self.offset
    }
}

const GROUP: usize = crate::lpm::LOOKUP_GROUP;

impl Element for IpLookup {
    fn class(&self) -> &'static str {
        "IpLookup"
    }
    fn n_drop_reasons(&self) -> usize {
        2
    }
    fn drop_reason(&self, r: u8) -> &str {
        ["no_route", "ip_truncated"]
            .get(usize::from(r))
            .copied()
            .unwrap_or("unknown")
    }
    fn process(&mut self, cx: &mut Ctx<'_>, b: &mut Batch, sel: &[u16], out: &mut [Verdict]) {
        let mut dsts = [0u32; GROUP];
        let mut ids = [0u16; GROUP];
        let mut ok = [false; GROUP];
        for (s, o) in sel.chunks(GROUP).zip(out.chunks_mut(GROUP)) {
            for (k, &i) in s.iter().enumerate() {
                let f = b.frame(usize::from(i));
                let h = f.get(self.offset..self.offset + ipv4::MIN_HEADER_LEN);
                ok[k] = h.is_some();
                dsts[k] = h.map_or(0, |h| ipv4::Packet::new_unchecked(h).dst_u32());
            }
            self.table
                .lpm
                .lookup_batch(&dsts[..s.len()], &mut ids[..s.len()]);
            for (k, (&i, v)) in s.iter().zip(o.iter_mut()).enumerate() {
                if !ok[k] {
                    *v = Verdict::drop(1);
                    continue;
                }
                match self.table.hops.get(usize::from(ids[k])) {
                    Some(h) if ids[k] != 0 => {
                        if let Some(a) = cx.anno.get_mut(usize::from(i)) {
                            a.out_port = h.port;
                            a.dst_mac = h.gw;
                            a.neigh = h.neigh;
                        }
                        *v = Verdict::out(0);
                    }
                    _ => *v = Verdict::drop(0),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn route_lines() {
        let r = parse_route_line("198.18.0.0/15 via 02:00:00:00:00:02 port rx # c")
            .unwrap()
            .unwrap();
        assert_eq!(r.len, 15);
        assert_eq!(r.via, Via::Mac("02:00:00:00:00:02".parse().unwrap()));
        assert_eq!(r.port.as_deref(), Some("rx"));
        assert_eq!(parse_route_line("  # only a comment").unwrap(), None);
        assert_eq!(parse_route_line("default").unwrap().unwrap().len, 0);
        assert!(parse_route_line("198.18.0.0/33").is_err());
        assert!(parse_route_line("198.18.0.0/16 via").is_err());
        assert!(parse_route_line("198.18.0.0/16 via 1:2:3").is_err());
        assert!(parse_route_line("198.18.0.0/16 foo bar").is_err());
        let e = parse_routes("1.0.0.0/8\n\nbad/8\n", "r.txt").unwrap_err();
        assert_eq!(
            e.to_string().split(':').take(2).collect::<Vec<_>>(),
            ["r.txt", "3"]
        );
    }

    #[test]
    fn small_table_agrees_with_the_lpm() {
        let mut rng = crate::lpm::XorShift(11);
        for round in 0..60 {
            let n = 1 + (rng.next() % SMALL_ROUTES as u64) as usize;
            let routes: Vec<Route> = (0..n)
                .map(|_| {
                    // Few distinct networks and lengths, so prefixes overlap and repeat.
                    let len =
                        [0u8, 1, 8, 15, 16, 17, 18, 19, 24, 25, 31, 32][(rng.next() % 12) as usize];
                    let addr = 0xc612_0000 ^ ((rng.next() as u32) & 0x0103_0f81);
                    Route {
                        addr,
                        len,
                        next_hop: 1 + (rng.next() % 5) as u16,
                    }
                })
                .collect();
            let lpm = Lpm::build(&routes).unwrap();
            let small = SmallTable::build(&routes).unwrap();
            for k in 0..200 {
                let a = if k % 2 == 0 {
                    routes[k / 2 % n].addr ^ ((rng.next() as u32) & 0x0000_01ff)
                } else {
                    rng.next() as u32
                };
                assert_eq!(small.lookup(a), lpm.lookup(a), "round {round} addr {a:#x}");
            }
        }
        let many: Vec<Route> = (0..=SMALL_ROUTES as u32)
            .map(|k| Route {
                addr: k << 8,
                len: 24,
                next_hop: 1,
            })
            .collect();
        assert!(SmallTable::build(&many).is_none());
        assert!(SmallTable::build(&many[..SMALL_ROUTES]).is_some());
    }

    #[test]
    fn table_dedups_hops_and_checks_ports() {
        let routes = parse_routes(
            "198.18.0.0/15 via 02:00:00:00:00:02\n198.19.0.0/16 via 02:00:00:00:00:02\n198.19.1.0/24 port rx\n",
            "t",
        )
        .unwrap();
        let t = RouteTable::build(&routes, 1, |p| match p {
            "rx" => Some(0),
            "tx" => Some(1),
            _ => None,
        })
        .unwrap();
        assert_eq!(t.hops.len(), 3);
        assert_eq!(t.lookup(Ipv4Addr::new(198, 19, 1, 1)).unwrap().port, 0);
        assert_eq!(t.lookup(Ipv4Addr::new(198, 19, 2, 1)).unwrap().port, 1);
        assert!(t.lookup(Ipv4Addr::new(8, 8, 8, 8)).is_none());
        let bad = parse_routes("1.0.0.0/8 port eth9\n", "t").unwrap();
        assert!(RouteTable::build(&bad, 1, |_| None).is_err());
    }
}
