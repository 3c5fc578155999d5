//! Fast IPv4 longest-prefix match: a Poptrie-style compressed multiway trie.
//!
//! Structure (after Asai and Ohara, "Poptrie", SIGCOMM 2015):
//! - a *direct-pointing* table indexed by the top 18 bits of the address (2^18 `u32` entries,
//!   1 MiB): each entry is either a leaf (a next-hop id) or the index of a trie node;
//! - trie nodes of stride 6 (64 children) for bits 18..24, 24..30 and 30..32 (the last stride is
//!   padded with 4 zero bits). A node is 24 bytes: a 64-bit `vector` marking which children are
//!   nodes, a 64-bit `leafvec` marking where a run of identical leaves starts (leaf compression),
//!   and the base indices of its children nodes and its leaves, which are stored contiguously, so
//!   a child is found with one `popcount`.
//!
//! A lookup for an address covered by a /24 or shorter route touches the direct table and at
//! most one node and one leaf; [`Lpm::lookup_batch`] processes many addresses in one loop so the
//! CPU overlaps their memory accesses. Next hops are `u16` ids; 0 means "no route".

use std::net::Ipv4Addr;

/// Bits resolved by the direct-pointing table.
const DIRECT_BITS: u32 = 18;
/// Flag of a direct entry that points to a node.
const NODE_FLAG: u32 = 1 << 31;
/// Keys are addresses shifted left by 4 so the last stride (bits 30..32) is a full 6-bit stride.
const KEY_BITS: u32 = 36;
const STRIDE: u32 = 6;
/// Addresses resolved together by [`Lpm::lookup_batch`].
pub const LOOKUP_GROUP: usize = 32;

/// Errors building an [`Lpm`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpmError {
    /// A prefix length above 32.
    #[error("prefix length {0} > 32")]
    BadPrefixLen(u8),
    /// Next hop id 0 is reserved for "no route".
    #[error("next hop id 0 is reserved for \"no route\"")]
    ZeroNextHop,
    /// The structure would exceed its index space (2^31 nodes or 2^32 leaves).
    #[error("routing table too large for the LPM structure")]
    TooLarge,
}

#[derive(Debug, Clone, Copy, Default)]
#[repr(C)]
struct Node {
    vector: u64,
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// A compiled, immutable IPv4 longest-prefix-match table mapping addresses to `u16` next-hop ids.
#[derive(Debug, Clone)]
pub struct Lpm {
    direct: Box<[u32]>,
    nodes: Vec<Node>,
    leaves: Vec<u16>,
    routes: usize,
    /// The CPU has POPCNT (checked once at construction).
    popcnt: bool,
}

/// One route for [`Lpm::build`]: network address (host bits are ignored), prefix length, next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    /// Network address as a host-order integer.
    pub addr: u32,
    /// Prefix length, 0..=32.
    pub len: u8,
    /// Next-hop id, non-zero.
    pub next_hop: u16,
}

impl Route {
    /// A route to `addr/len` via `next_hop`.
    pub fn new(addr: Ipv4Addr, len: u8, next_hop: u16) -> Self {
        Self {
            addr: addr.into(),
            len,
            next_hop,
        }
    }
}

#[derive(Clone, Copy)]
struct KeyRoute {
    key: u64,
    len: u32,
    nh: u16,
}

impl Lpm {
    /// An empty table (every lookup returns 0).
    pub fn empty() -> Self {
        Self {
            direct: vec![0u32; 1 << DIRECT_BITS].into_boxed_slice(),
            nodes: Vec::new(),
            leaves: Vec::new(),
            routes: 0,
            popcnt: has_popcnt(),
        }
    }

    /// Compiles `routes`. When the same prefix appears more than once, the last one wins.
    pub fn build(routes: &[Route]) -> Result<Self, LpmError> {
        let mut rs: Vec<KeyRoute> = Vec::with_capacity(routes.len());
        for (i, r) in routes.iter().enumerate() {
            if r.len > 32 {
                return Err(LpmError::BadPrefixLen(r.len));
            }
            if r.next_hop == 0 {
                return Err(LpmError::ZeroNextHop);
            }
            let addr = r.addr & crate::wire::ipv4::prefix_mask(r.len);
            // Keep the input position so that a stable sort + dedup keeps the last duplicate.
            let _ = i;
            rs.push(KeyRoute {
                key: u64::from(addr) << 4,
                len: u32::from(r.len),
                nh: r.next_hop,
            });
        }
        // Sort by (address, length); stable so duplicates keep input order, then keep the last.
        rs.sort_by_key(|r| (r.key, r.len));
        let mut dedup: Vec<KeyRoute> = Vec::with_capacity(rs.len());
        for r in rs {
            match dedup.last_mut() {
                Some(l) if l.key == r.key && l.len == r.len => *l = r,
                _ => dedup.push(r),
            }
        }
        let rs = dedup;
        let mut t = Self::empty();
        t.routes = rs.len();
        // Paint the direct table with routes of length <= 18; in (addr, len) order a covering
        // prefix always comes before the prefixes it covers, so longer ones overwrite.
        for r in rs.iter().filter(|r| r.len <= DIRECT_BITS) {
            let start = (r.key >> (KEY_BITS - DIRECT_BITS)) as usize;
            let count = 1usize << (DIRECT_BITS - r.len);
            t.direct[start..start + count].fill(u32::from(r.nh));
        }
        // Longer routes: group by direct slot (contiguous in sorted order).
        let mut i = 0;
        while i < rs.len() {
            if rs[i].len <= DIRECT_BITS {
                i += 1;
                continue;
            }
            let slot = (rs[i].key >> (KEY_BITS - DIRECT_BITS)) as usize;
            let mut j = i;
            while j < rs.len() && (rs[j].key >> (KEY_BITS - DIRECT_BITS)) as usize == slot {
                j += 1;
            }
            let group: Vec<KeyRoute> = rs[i..j]
                .iter()
                .filter(|r| r.len > DIRECT_BITS)
                .copied()
                .collect();
            let default = t.direct[slot] as u16;
            let idx = t.nodes.len();
            if idx >= NODE_FLAG as usize {
                return Err(LpmError::TooLarge);
            }
            t.nodes.push(Node::default());
            let node = t.build_node(DIRECT_BITS, &group, default)?;
            t.nodes[idx] = node;
            t.direct[slot] = NODE_FLAG | idx as u32;
            i = j;
        }
        t.nodes.shrink_to_fit();
        t.leaves.shrink_to_fit();
        Ok(t)
    }

    /// Builds the node at `depth` (bits already consumed) for `routes` (all longer than `depth`
    /// and inside this node's span, sorted by (key, len)), inheriting `default` where no route
    /// of this node covers a child.
    fn build_node(
        &mut self,
        depth: u32,
        routes: &[KeyRoute],
        default: u16,
    ) -> Result<Node, LpmError> {
        let end = depth + STRIDE;
        let child_shift = KEY_BITS - end;
        let mut leafs = [default; 64];
        let mut vector = 0u64;
        for r in routes {
            let c = ((r.key >> child_shift) & 63) as usize;
            if r.len <= end {
                let count = 1usize << (end - r.len);
                leafs[c..c + count].fill(r.nh);
            } else {
                vector |= 1 << c;
            }
        }
        let base0 = u32::try_from(self.leaves.len()).map_err(|_| LpmError::TooLarge)?;
        let mut leafvec = 0u64;
        let mut prev: Option<u16> = None;
        for (c, &l) in leafs.iter().enumerate() {
            if vector & (1 << c) != 0 {
                continue;
            }
            if prev != Some(l) {
                leafvec |= 1 << c;
                self.leaves.push(l);
                prev = Some(l);
            }
        }
        let base1 = self.nodes.len();
        if base1 + vector.count_ones() as usize >= NODE_FLAG as usize {
            return Err(LpmError::TooLarge);
        }
        self.nodes
            .resize(base1 + vector.count_ones() as usize, Node::default());
        let mut k = 0;
        let mut i = 0;
        while i < routes.len() {
            let c = ((routes[i].key >> child_shift) & 63) as usize;
            let mut j = i;
            while j < routes.len() && ((routes[j].key >> child_shift) & 63) as usize == c {
                j += 1;
            }
            if vector & (1 << c) != 0 {
                let sub: Vec<KeyRoute> = routes[i..j]
                    .iter()
                    .filter(|r| r.len > end)
                    .copied()
                    .collect();
                let n = self.build_node(end, &sub, leafs[c])?;
                self.nodes[base1 + k] = n;
                k += 1;
            }
            i = j;
        }
        Ok(Node {
            vector,
            leafvec,
            base0,
            base1: base1 as u32,
        })
    }

    /// The next-hop id of the longest prefix matching `addr` (host-order), 0 when none matches.
    #[inline]
    pub fn lookup(&self, addr: u32) -> u16 {
        let e = self.direct[(addr >> (32 - DIRECT_BITS)) as usize];
        if e & NODE_FLAG == 0 {
            return e as u16;
        }
        let key = u64::from(addr) << 4;
        let mut n = &self.nodes[(e & !NODE_FLAG) as usize];
        let mut shift = KEY_BITS - DIRECT_BITS - STRIDE;
        loop {
            let v = (key >> shift) & 63;
            let bit = 1u64 << v;
            let mask = (bit << 1).wrapping_sub(1);
            if n.vector & bit != 0 {
                let i = n.base1 as usize + (n.vector & mask).count_ones() as usize - 1;
                n = &self.nodes[i];
                shift = shift.wrapping_sub(STRIDE) & 63;
            } else {
                let i = n.base0 as usize + (n.leafvec & mask).count_ones() as usize - 1;
                return self.leaves[i];
            }
        }
    }

    /// Looks up `addrs[i]` into `out[i]` for `i < min(addrs.len(), out.len())`.
    ///
    /// Processes the addresses level by level in groups of [`LOOKUP_GROUP`]: first every direct
    /// entry, then every first-level node, and so on, so the memory accesses of different
    /// addresses are independent and the CPU overlaps their cache misses.
    pub fn lookup_batch(&self, addrs: &[u32], out: &mut [u16]) {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: `popcnt` is true only when the CPU supports the POPCNT instruction
            // (`is_x86_feature_detected!` at construction), which is all this function requires.
            unsafe { self.lookup_batch_popcnt(addrs, out) };
            return;
        }
        self.lookup_batch_generic(addrs, out);
    }

    /// [`Lpm::lookup_batch`] compiled with the POPCNT instruction (the default x86-64 target
    /// lacks it and counts bits with a dozen instructions instead).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_batch_popcnt(&self, addrs: &[u32], out: &mut [u16]) {
        self.lookup_batch_generic(addrs, out);
    }

    #[inline(always)]
    fn lookup_batch_generic(&self, addrs: &[u32], out: &mut [u16]) {
        for (a, o) in addrs.chunks(LOOKUP_GROUP).zip(out.chunks_mut(LOOKUP_GROUP)) {
            self.lookup_group(a, o);
        }
    }

    #[inline(always)]
    fn lookup_group(&self, a: &[u32], o: &mut [u16]) {
        let n = a.len().min(o.len()).min(LOOKUP_GROUP);
        let mut cur = [0u32; LOOKUP_GROUP];
        let mut any = false;
        for i in 0..n {
            let e = self.direct[(a[i] >> (32 - DIRECT_BITS)) as usize];
            any |= e & NODE_FLAG != 0;
            cur[i] = e;
        }
        let mut shift = KEY_BITS - DIRECT_BITS - STRIDE;
        while any {
            any = false;
            for i in 0..n {
                let e = cur[i];
                if e & NODE_FLAG == 0 {
                    continue;
                }
                let node = &self.nodes[(e & !NODE_FLAG) as usize];
                let v = ((u64::from(a[i]) << 4) >> shift) & 63;
                let bit = 1u64 << v;
                let mask = (bit << 1).wrapping_sub(1);
                if node.vector & bit != 0 {
                    cur[i] = NODE_FLAG | (node.base1 + (node.vector & mask).count_ones() - 1);
                    any = true;
                } else {
                    let li = node.base0 as usize + (node.leafvec & mask).count_ones() as usize - 1;
                    cur[i] = u32::from(self.leaves[li]);
                }
            }
            shift = shift.wrapping_sub(STRIDE) & 63;
        }
        for i in 0..n {
            o[i] = cur[i] as u16;
        }
    }

    /// [`Lpm::lookup`] for an [`Ipv4Addr`].
    pub fn lookup_addr(&self, addr: Ipv4Addr) -> u16 {
        self.lookup(addr.into())
    }

    /// Number of distinct prefixes compiled in.
    pub fn routes(&self) -> usize {
        self.routes
    }

    /// Number of trie nodes.
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Number of stored (compressed) leaves.
    pub fn leaves(&self) -> usize {
        self.leaves.len()
    }

    /// Bytes used by the lookup structure (direct table + nodes + leaves).
    pub fn memory_bytes(&self) -> usize {
        self.direct.len() * 4
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.leaves.len() * 2
    }
}

fn has_popcnt() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A deterministic generator of BGP-like IPv4 tables, for benchmarks and tests.
///
/// The prefix-length mix follows the public IPv4 BGP table (RIPE RIS / CIDR report, 2024):
/// /24 ~58%, /23 ~10%, /22 ~12%, /21 ~5%, /20 ~4.5%, /19 ~3%, /18 ~1.5%, /17 ~1%, /16 ~1.5%,
/// /8-/15 ~1%, /25-/32 ~2.5%. Prefixes cluster as in real tables: every prefix of length >= 16
/// lies in one of a set of "allocated" /16 blocks (about one per 20 prefixes, drawn from the
/// unicast space 1.0.0.0-223.255.255.255), shorter ones anywhere in that space. Duplicates are
/// allowed in the output (so `n` is the number generated; [`Lpm::routes`] counts distinct ones).
pub fn synthetic_table(n: usize, seed: u64) -> Vec<(u32, u8)> {
    let mut rng = XorShift(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let blocks: Vec<u32> = (0..(n / 20).max(1))
        .map(|_| unicast_addr(&mut rng) & 0xffff_0000)
        .collect();
    // (cumulative per-mille, length)
    const MIX: [(u32, u8); 12] = [
        (580, 24),
        (680, 23),
        (800, 22),
        (850, 21),
        (895, 20),
        (925, 19),
        (940, 18),
        (950, 17),
        (965, 16),
        (975, 0),   // 8..=15, drawn below
        (990, 25),  // 25..=29
        (1000, 32), // 30..=32
    ];
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let p = (rng.next() % 1000) as u32;
        let mut len = MIX.iter().find(|(c, _)| p < *c).map_or(24, |m| m.1);
        if len == 0 {
            len = 8 + (rng.next() % 8) as u8;
        } else if len == 25 {
            len = 25 + (rng.next() % 5) as u8;
        } else if len == 32 {
            len = 30 + (rng.next() % 3) as u8;
        }
        let addr = if len >= 16 {
            let b = blocks[(rng.next() % blocks.len() as u64) as usize];
            b | (rng.next() as u32 & 0xffff)
        } else {
            unicast_addr(&mut rng)
        };
        out.push((addr & crate::wire::ipv4::prefix_mask(len), len));
    }
    out
}

/// [`synthetic_table`] with next hops in `1..=next_hops`, assigned as a BGP table fed by
/// `next_hops` peers looks: every allocated /16 block has a "home" peer that 80% of its prefixes
/// use (the others pick any peer), and shorter prefixes pick any peer.
pub fn synthetic_routes(n: usize, seed: u64, next_hops: u16) -> Vec<Route> {
    let nh = u64::from(next_hops.max(1));
    let mut rng = XorShift(seed ^ 0x5555_aaaa_1234_5678 | 1);
    synthetic_table(n, seed)
        .into_iter()
        .map(|(addr, len)| {
            let home = 1 + (u64::from(addr >> 16).wrapping_mul(0x9e37_79b9) >> 7) % nh;
            let next_hop = if len >= 16 && rng.next() % 10 < 8 {
                home
            } else {
                1 + rng.next() % nh
            };
            Route {
                addr,
                len,
                next_hop: next_hop as u16,
            }
        })
        .collect()
}

fn unicast_addr(rng: &mut XorShift) -> u32 {
    loop {
        let a = rng.next() as u32;
        let first = a >> 24;
        if (1..=223).contains(&first) && first != 127 && first != 10 {
            return a;
        }
    }
}

/// xorshift64*: a tiny deterministic PRNG (no dependency, not for cryptography).
#[derive(Debug, Clone)]
pub struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(routes: &[Route], addr: u32) -> u16 {
        let mut best: Option<(u8, u16)> = None;
        for r in routes {
            let m = crate::wire::ipv4::prefix_mask(r.len);
            if addr & m == r.addr & m && best.is_none_or(|(l, _)| r.len >= l) {
                best = Some((r.len, r.next_hop));
            }
        }
        best.map_or(0, |b| b.1)
    }

    #[test]
    fn basics() {
        let t = Lpm::build(&[
            Route::new(Ipv4Addr::new(0, 0, 0, 0), 0, 1),
            Route::new(Ipv4Addr::new(198, 18, 0, 0), 15, 2),
            Route::new(Ipv4Addr::new(198, 18, 5, 0), 24, 3),
            Route::new(Ipv4Addr::new(198, 18, 5, 128), 25, 4),
            Route::new(Ipv4Addr::new(198, 18, 5, 7), 32, 5),
            Route::new(Ipv4Addr::new(198, 18, 5, 6), 31, 6),
        ])
        .unwrap();
        let l = |a: [u8; 4]| t.lookup_addr(Ipv4Addr::from(a));
        assert_eq!(l([8, 8, 8, 8]), 1);
        assert_eq!(l([198, 19, 255, 255]), 2);
        assert_eq!(l([198, 18, 5, 1]), 3);
        assert_eq!(l([198, 18, 5, 200]), 4);
        assert_eq!(l([198, 18, 5, 7]), 5);
        assert_eq!(l([198, 18, 5, 6]), 6);
        assert_eq!(l([198, 18, 5, 8]), 3);
        assert_eq!(Lpm::empty().lookup(0x0102_0304), 0);
        assert_eq!(
            Lpm::build(&[Route::new(Ipv4Addr::UNSPECIFIED, 33, 1)]).unwrap_err(),
            LpmError::BadPrefixLen(33)
        );
        assert_eq!(
            Lpm::build(&[Route::new(Ipv4Addr::UNSPECIFIED, 3, 0)]).unwrap_err(),
            LpmError::ZeroNextHop
        );
    }

    #[test]
    fn last_duplicate_wins() {
        let t = Lpm::build(&[
            Route::new(Ipv4Addr::new(10, 0, 0, 0), 8, 1),
            Route::new(Ipv4Addr::new(10, 0, 0, 0), 8, 2),
        ])
        .unwrap();
        assert_eq!(t.lookup_addr(Ipv4Addr::new(10, 1, 2, 3)), 2);
        assert_eq!(t.routes(), 1);
    }

    #[test]
    fn agrees_with_linear_scan() {
        let mut rng = XorShift(42);
        for round in 0..30 {
            let n = 1 + (rng.next() % 200) as usize;
            // Cluster addresses so prefixes overlap often.
            let base = rng.next() as u32 & 0xfff0_0000;
            let routes: Vec<Route> = (0..n)
                .map(|k| {
                    let len = match rng.next() % 6 {
                        0 => 0,
                        1 => 32,
                        _ => (rng.next() % 33) as u8,
                    };
                    let addr = if rng.next() % 4 == 0 {
                        rng.next() as u32
                    } else {
                        base | (rng.next() as u32 & 0x000f_ffff)
                    };
                    Route {
                        addr: addr & crate::wire::ipv4::prefix_mask(len),
                        len,
                        next_hop: (k + 1) as u16,
                    }
                })
                .collect();
            // Naive reference must also apply "last duplicate wins".
            let t = Lpm::build(&routes).unwrap();
            let mut dedup: Vec<Route> = Vec::new();
            for r in &routes {
                dedup.retain(|d| !(d.addr == r.addr && d.len == r.len));
                dedup.push(*r);
            }
            for _ in 0..2000 {
                let a = if rng.next() % 2 == 0 {
                    rng.next() as u32
                } else {
                    let r = routes[(rng.next() % n as u64) as usize];
                    r.addr | (rng.next() as u32 & !crate::wire::ipv4::prefix_mask(r.len))
                };
                assert_eq!(t.lookup(a), naive(&dedup, a), "round {round} addr {a:#x}");
            }
            let addrs: Vec<u32> = (0..100).map(|_| rng.next() as u32).collect();
            let mut out = vec![0u16; 100];
            t.lookup_batch(&addrs, &mut out);
            for (a, o) in addrs.iter().zip(&out) {
                assert_eq!(*o, naive(&dedup, *a));
            }
        }
    }

    #[test]
    fn synthetic_table_shape() {
        let t = synthetic_table(10_000, 1);
        assert_eq!(t.len(), 10_000);
        let n24 = t.iter().filter(|r| r.1 == 24).count();
        assert!((5000..6500).contains(&n24), "{n24}");
    }
}
