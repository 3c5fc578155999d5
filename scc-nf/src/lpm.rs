//! Fast IPv4 longest-prefix match: a Poptrie-style compressed multiway trie laid out for the cache.
//!
//! Structure (after Asai and Ohara, "Poptrie", SIGCOMM 2015), all in one byte arena:
//! - a *direct-pointing* table indexed by the top 18 bits of the address (2^18 `u32` entries,
//!   1 MiB); every entry is the byte offset of a level-1 node (a slot that a route of length
//!   <= 18 decides points to a shared one-leaf node of its next hop), plus a flag telling
//!   whether that node has deeper children;
//! - level-1 nodes (bits 18..24) with their leaves *inline*: a 64-bit `leafvec` marking where a
//!   run of identical leaves starts (leaf compression) followed by the leaves (one byte each when
//!   every next-hop id is <= 255, else two), so the leaf is one `popcount` away in the same cache
//!   line. Nodes with deeper children carry, just before the `leafvec`, a 64-bit `vector` marking
//!   which children are nodes and the offset of the first one. Level-1 nodes are packed so that
//!   none of 64 bytes or less straddles a cache line: a lookup for an address covered by a /24
//!   or shorter route reads one direct entry and one cache line;
//! - deeper nodes (bits 24..30 and 30..32, the last stride padded with 4 zero bits) are 24-byte
//!   Poptrie nodes (`vector`, `leafvec`, offsets of their children and of their `u16` leaves).
//!
//! The arena is an anonymous mapping (memmap2) with `madvise(MADV_HUGEPAGE)` (transparent huge pages cut
//! the TLB misses of random lookups; plain heap memory when that fails or off Linux).
//! [`Lpm::lookup_batch`] is a software pipeline with prefetches, branch-free at level 1, so the
//! cache misses of different addresses overlap. Next hops are `u16` ids; 0 means "no route".

use std::net::Ipv4Addr;

/// Bits resolved by the direct-pointing table.
const DIRECT_BITS: u32 = 18;
/// Flag of a draft direct entry that holds a node index rather than a next hop.
const NODE_FLAG: u32 = 1 << 31;
/// Flag of a direct entry whose level-1 node has deeper children (carries a `vector`).
const VEC_FLAG: u32 = 1 << 31;
/// Byte offset bits of a direct entry (the offset of its level-1 node's `leafvec`).
const OFF_MASK: u32 = VEC_FLAG - 1;
/// Keys are addresses shifted left by 4 so the last stride (bits 30..32) is a full 6-bit stride.
const KEY_BITS: u32 = 36;
const STRIDE: u32 = 6;
/// Size of a deep node in the arena.
const NODE_BYTES: usize = 24;
/// Bytes from a level-1 node's `leafvec` to its first leaf.
const L1_HDR: usize = 8;
/// Bytes before a level-1 node's `leafvec` where its `vector` / first child offset start.
const L1_VEC_BACK: usize = 12;
const L1_CHILD_BACK: usize = 4;
const LINE: usize = 64;
/// A good number of addresses per [`Lpm::lookup_batch`] call for callers that gather them
/// (the lookup pipelines chunks of this size).
pub const LOOKUP_GROUP: usize = 32;
/// Addresses per stage of the batched lookup's software pipeline (at most 64: a `u64` marks
/// the ones that go deeper than level 1).
const PIPE: usize = 32;

/// Errors building an [`Lpm`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LpmError {
    /// A prefix length above 32.
    #[error("prefix length {0} > 32")]
    BadPrefixLen(u8),
    /// Next hop id 0 is reserved for "no route".
    #[error("next hop id 0 is reserved for \"no route\"")]
    ZeroNextHop,
    /// The structure would exceed its index space (1 GiB arena).
    #[error("routing table too large for the LPM structure")]
    TooLarge,
}

/// A Poptrie node while building (indices into the draft arrays).
#[derive(Debug, Clone, Copy, Default)]
struct Node {
    vector: u64,
    leafvec: u64,
    base0: u32,
    base1: u32,
}

/// A compiled, immutable IPv4 longest-prefix-match table mapping addresses to `u16` next-hop ids.
#[derive(Debug, Clone)]
pub struct Lpm {
    /// Direct table at offset 0, then level-1 nodes, deep nodes, deep leaves.
    arena: Arena,
    routes: usize,
    l1_nodes: usize,
    deep_nodes: usize,
    leaves: usize,
    /// Level-1 leaves are one byte (every next hop id <= 255), else two.
    narrow: bool,
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

/// What precedes a level-1 node's `leafvec`: nothing, or a `vector` and the offset of its
/// first deep child (the draft index of that child here).
#[derive(Clone, Copy)]
enum L1Kind {
    Leaves,
    Vector(u32),
}

#[derive(Clone, Copy)]
struct KeyRoute {
    key: u64,
    len: u32,
    nh: u16,
}

/// The classic Poptrie arrays, before they are laid out in the arena.
struct Draft {
    direct: Vec<u32>,
    nodes: Vec<Node>,
    leaves: Vec<u16>,
}

/// The `N` bytes of `b` at `o`, or at the last `N` bytes of `b` when `o` is past them (only a
/// malformed offset can be; any value is then harmless), zeros when `b` is shorter than `N`.
/// One compare and a conditional move instead of the two checks of `b.get(o..)` +
/// `first_chunk`: these reads are most of a lookup's instructions.
#[inline(always)]
fn rd<const N: usize>(b: &[u8], o: usize) -> [u8; N] {
    match b.len().checked_sub(N) {
        // SAFETY: `o.min(last) + N <= b.len()`, so the `N` bytes read lie inside `b`;
        // `read_unaligned` has no alignment requirement and every byte pattern is a valid
        // `[u8; N]`.
        Some(last) => unsafe {
            b.as_ptr()
                .add(o.min(last))
                .cast::<[u8; N]>()
                .read_unaligned()
        },
        None => [0; N],
    }
}

#[inline(always)]
fn rd16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes(rd(b, o))
}

#[inline(always)]
fn rd32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(rd(b, o))
}

#[inline(always)]
fn rd64(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(rd(b, o))
}

fn wr(b: &mut [u8], o: usize, bytes: &[u8]) {
    if let Some(d) = b.get_mut(o..o + bytes.len()) {
        d.copy_from_slice(bytes);
    }
}

/// Byte offset of element `popcount(v & mask) - 1` (the rank of child `bit` among the set bits
/// of `v` up to it) in an array of `size`-byte elements at `base`. Wrapping: a malformed or
/// masked-out input yields an offset that the bounds-checked reads turn into 0.
#[inline(always)]
fn at(base: usize, v: u64, bit: u64, size: usize) -> usize {
    let mask = (bit << 1).wrapping_sub(1);
    let rank = ((v & mask).count_ones() as usize).wrapping_sub(1);
    base.wrapping_add(size.wrapping_mul(rank))
}

/// Software prefetch of the cache line holding `b[o]` into all cache levels. A hint only.
#[inline(always)]
fn prefetch(b: &[u8], o: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = b.as_ptr().wrapping_add(o);
        // SAFETY: PREFETCHT0 is a hint that never faults and has no architectural effect, for any
        // address; SSE (which provides it) is part of the x86-64 baseline.
        unsafe {
            core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(p.cast())
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (b, o);
    }
}

impl Lpm {
    /// An empty table (every lookup returns 0).
    pub fn empty() -> Self {
        let draft = Draft {
            direct: vec![0u32; 1 << DIRECT_BITS],
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
        // An empty draft always fits.
        Self::lay_out(&draft, 0).unwrap_or_else(|_| Self {
            arena: Arena::zeroed(4 << DIRECT_BITS),
            routes: 0,
            l1_nodes: 0,
            deep_nodes: 0,
            leaves: 0,
            narrow: true,
            popcnt: has_popcnt(),
        })
    }

    /// Compiles `routes`. When the same prefix appears more than once, the last one wins.
    pub fn build(routes: &[Route]) -> Result<Self, LpmError> {
        let mut rs: Vec<KeyRoute> = Vec::with_capacity(routes.len());
        for r in routes {
            if r.len > 32 {
                return Err(LpmError::BadPrefixLen(r.len));
            }
            if r.next_hop == 0 {
                return Err(LpmError::ZeroNextHop);
            }
            let addr = r.addr & crate::wire::ipv4::prefix_mask(r.len);
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
        let mut t = Draft {
            direct: vec![0u32; 1 << DIRECT_BITS],
            nodes: Vec::new(),
            leaves: Vec::new(),
        };
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
        Self::lay_out(&t, rs.len())
    }

    /// Lays the draft out in one arena: direct table, packed level-1 nodes with inline leaves,
    /// deep nodes (children of a node contiguous), deep leaves.
    fn lay_out(d: &Draft, routes: usize) -> Result<Self, LpmError> {
        // Level-1 node images: (image start, size, entry offset inside the image, kind).
        let mut img: Vec<u8> = Vec::new();
        let mut l1: Vec<(usize, usize, usize, L1Kind)> = Vec::new();
        let mut deep_nodes: Vec<Node> = Vec::new();
        let mut deep_leaves: Vec<u16> = Vec::new();
        let mut inline_leaves = 0usize;
        let mut slot_node = vec![0u32; d.direct.len()]; // index into `l1` per direct slot
        let mut leaf_node: Vec<Option<u32>> = vec![None; 1 << 16]; // one-leaf node per next hop
        // Level-1 leaves take one byte when every next hop id fits (the usual case: a router has
        // tens of next hops), which shrinks the level-1 nodes by a third.
        let narrow = d.leaves.iter().all(|&l| l <= 0xff)
            && d.direct.iter().all(|&e| e & NODE_FLAG != 0 || e <= 0xff);
        let push_leaf = |img: &mut Vec<u8>, l: u16| {
            if narrow {
                img.push(l as u8);
            } else {
                img.extend_from_slice(&l.to_le_bytes());
            }
        };
        for (slot, &e) in d.direct.iter().enumerate() {
            let start = img.len();
            let idx = u32::try_from(l1.len()).map_err(|_| LpmError::TooLarge)?;
            if e & NODE_FLAG == 0 {
                // A leaf slot points to the shared one-leaf node of its next hop.
                let h = e as u16;
                slot_node[slot] = match leaf_node[usize::from(h)] {
                    Some(i) => i,
                    None => {
                        img.extend_from_slice(&1u64.to_le_bytes());
                        push_leaf(&mut img, h);
                        l1.push((start, img.len() - start, 0, L1Kind::Leaves));
                        leaf_node[usize::from(h)] = Some(idx);
                        idx
                    }
                };
                continue;
            }
            let n = d.nodes[(e & !NODE_FLAG) as usize];
            let k = n.leafvec.count_ones() as usize;
            inline_leaves += k;
            let kind = if n.vector != 0 {
                img.extend_from_slice(&n.vector.to_le_bytes());
                img.extend_from_slice(&[0; 4]); // child offset, filled after placement
                L1Kind::Vector(copy_deep(
                    d,
                    n.base1 as usize,
                    n.vector.count_ones() as usize,
                    &mut deep_nodes,
                    &mut deep_leaves,
                )?)
            } else {
                L1Kind::Leaves
            };
            let entry = img.len() - start;
            img.extend_from_slice(&n.leafvec.to_le_bytes());
            for &l in &d.leaves[n.base0 as usize..n.base0 as usize + k] {
                push_leaf(&mut img, l);
            }
            l1.push((start, img.len() - start, entry, kind));
            slot_node[slot] = idx;
        }
        // Place level-1 nodes: largest first, best fit into the free tail of 64-byte lines, so
        // that no node of at most 64 bytes straddles two lines.
        let mut order: Vec<usize> = (0..l1.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(l1[i].1));
        let mut free: Vec<Vec<usize>> = vec![Vec::new(); LINE + 1]; // lines by free tail bytes
        let mut lines = 0usize;
        let mut place = vec![0usize; l1.len()];
        for &i in &order {
            let s = l1[i].1;
            if s > LINE {
                place[i] = lines * LINE;
                lines += s.div_ceil(LINE);
                let tail = lines * LINE - place[i] - s;
                free[tail].push(lines - 1);
            } else if let Some(f) = (s..=LINE).find(|&f| !free[f].is_empty()) {
                let line = free[f].pop().unwrap_or(0);
                place[i] = line * LINE + LINE - f;
                free[f - s].push(line);
            } else {
                place[i] = lines * LINE;
                lines += 1;
                free[LINE - s].push(lines - 1);
            }
        }
        let l1_off = 4usize << DIRECT_BITS;
        let nodes_off = l1_off + lines * LINE;
        let leaves_off = nodes_off + deep_nodes.len() * NODE_BYTES;
        let total = leaves_off + deep_leaves.len() * 2;
        if total > OFF_MASK as usize {
            return Err(LpmError::TooLarge);
        }
        let mut arena = Arena::zeroed(total);
        let a = arena.as_mut_slice();
        let mut entries = vec![0u32; l1.len()];
        for (i, &(start, size, entry, kind)) in l1.iter().enumerate() {
            let off = l1_off + place[i];
            wr(a, off, &img[start..start + size]);
            entries[i] = (off + entry) as u32;
            if let L1Kind::Vector(child) = kind {
                entries[i] |= VEC_FLAG;
                let child = nodes_off + child as usize * NODE_BYTES;
                wr(a, off + 8, &(child as u32).to_le_bytes());
            }
        }
        for (slot, &i) in slot_node.iter().enumerate() {
            wr(a, slot * 4, &entries[i as usize].to_le_bytes());
        }
        for (j, n) in deep_nodes.iter().enumerate() {
            let o = nodes_off + j * NODE_BYTES;
            wr(a, o, &n.vector.to_le_bytes());
            wr(a, o + 8, &n.leafvec.to_le_bytes());
            let b0 = leaves_off + n.base0 as usize * 2;
            let b1 = nodes_off + n.base1 as usize * NODE_BYTES;
            wr(a, o + 16, &(b0 as u32).to_le_bytes());
            wr(a, o + 20, &(b1 as u32).to_le_bytes());
        }
        for (j, l) in deep_leaves.iter().enumerate() {
            wr(a, leaves_off + j * 2, &l.to_le_bytes());
        }
        Ok(Self {
            arena,
            routes,
            l1_nodes: l1.len(),
            deep_nodes: deep_nodes.len(),
            leaves: inline_leaves + deep_leaves.len(),
            narrow,
            popcnt: has_popcnt(),
        })
    }

    /// Resolves `addr` at its level-1 node, given its direct entry `e`: the next hop, or the
    /// byte offset of the deep node to continue from (`Err`).
    ///
    /// Branch-free except for the rare deep case: every direct entry points to a level-1 node
    /// (leaf slots to a shared one-leaf node), and a node's `vector` is read at a fixed distance
    /// before its `leafvec` and masked out unless the entry says it has one.
    #[inline(always)]
    fn resolve_l1<const W: usize>(a: &[u8], e: u32, addr: u32) -> Result<u16, usize> {
        let off = (e & OFF_MASK) as usize;
        let bit = 1u64 << ((addr >> 8) & 63);
        let l = at(off + L1_HDR, rd64(a, off), bit, W);
        let leaf = if W == 1 {
            u16::from(rd::<1>(a, l)[0])
        } else {
            rd16(a, l)
        };
        let vector = rd64(a, off.wrapping_sub(L1_VEC_BACK)) & u64::from(e >> 31).wrapping_neg();
        if vector & bit == 0 {
            Ok(leaf)
        } else {
            Err(at(
                rd32(a, off.wrapping_sub(L1_CHILD_BACK)) as usize,
                vector,
                bit,
                NODE_BYTES,
            ))
        }
    }

    /// The next-hop id of the longest prefix matching `addr` (host-order), 0 when none matches.
    #[inline]
    pub fn lookup(&self, addr: u32) -> u16 {
        #[cfg(target_arch = "x86_64")]
        if self.popcnt {
            // SAFETY: `popcnt` is true only when the CPU supports the POPCNT instruction
            // (`is_x86_feature_detected!` at construction), which is all this function requires.
            return unsafe { self.lookup_popcnt(addr) };
        }
        self.lookup_generic(addr)
    }

    /// [`Lpm::lookup`] compiled with the POPCNT instruction.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "popcnt")]
    fn lookup_popcnt(&self, addr: u32) -> u16 {
        self.lookup_generic(addr)
    }

    #[inline(always)]
    fn lookup_generic(&self, addr: u32) -> u16 {
        let a = self.arena.as_slice();
        let e = rd32(a, (addr >> (32 - DIRECT_BITS)) as usize * 4);
        let r = if self.narrow {
            Self::resolve_l1::<1>(a, e, addr)
        } else {
            Self::resolve_l1::<2>(a, e, addr)
        };
        match r {
            Ok(h) => h,
            Err(n) => Self::walk_deep(a, n, addr),
        }
    }

    /// Resolves `addr` from the deep node at byte offset `n` (bits 24..).
    #[inline(always)]
    fn walk_deep(a: &[u8], mut n: usize, addr: u32) -> u16 {
        let key = u64::from(addr) << 4;
        let mut shift = KEY_BITS - DIRECT_BITS - 2 * STRIDE;
        // At most two deep levels; the bound also stops any malformed chain.
        for _ in 0..2 {
            let bit = 1u64 << ((key >> shift) & 63);
            let vector = rd64(a, n);
            if vector & bit == 0 {
                let b0 = rd32(a, n + 16) as usize;
                return rd16(a, at(b0, rd64(a, n + 8), bit, 2));
            }
            n = at(rd32(a, n + 20) as usize, vector, bit, NODE_BYTES);
            shift = shift.wrapping_sub(STRIDE) & 63;
        }
        0
    }

    /// Looks up `addrs[i]` into `out[i]` for `i < min(addrs.len(), out.len())`.
    ///
    /// A three-stage software pipeline over chunks of 32 addresses: while one chunk is resolved
    /// (branch-free on the kind of direct entry), the level-1 nodes of the next chunk and the
    /// direct entries of the one after are prefetched, so the cache misses of different
    /// addresses overlap. Any length works; a few dozen addresses per call or more is best.
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
        // A three-stage software pipeline over chunks of PIPE addresses: while chunk k is
        // resolved, the level-1 nodes of chunk k+1 and the direct entries of chunk k+2 are on
        // their way into the cache.
        let n = addrs.len().min(out.len());
        let (addrs, out) = (&addrs[..n], &mut out[..n]);
        let a = self.arena.as_slice();
        let chunk = |k: usize| addrs.get(k * PIPE..((k + 1) * PIPE).min(n)).unwrap_or(&[]);
        let mut ent = [[0u32; PIPE]; 2];
        Self::prefetch_direct(a, chunk(0));
        Self::prefetch_direct(a, chunk(1));
        Self::read_direct(a, chunk(0), &mut ent[0]);
        for (k, o) in out.chunks_mut(PIPE).enumerate() {
            Self::prefetch_direct(a, chunk(k + 2));
            let (e0, e1) = ent.split_at_mut(1);
            let (cur, next) = if k % 2 == 0 {
                (&e0[0], &mut e1[0])
            } else {
                (&e1[0], &mut e0[0])
            };
            Self::read_direct(a, chunk(k + 1), next);
            if self.narrow {
                Self::resolve::<1>(a, chunk(k), cur, o);
            } else {
                Self::resolve::<2>(a, chunk(k), cur, o);
            }
        }
    }

    #[inline(always)]
    fn prefetch_direct(a: &[u8], xs: &[u32]) {
        for &x in xs {
            prefetch(a, (x >> (32 - DIRECT_BITS)) as usize * 4);
        }
    }

    #[inline(always)]
    fn read_direct(a: &[u8], xs: &[u32], ent: &mut [u32; PIPE]) {
        for (e, &x) in ent.iter_mut().zip(xs) {
            *e = rd32(a, (x >> (32 - DIRECT_BITS)) as usize * 4);
            prefetch(a, (*e & OFF_MASK) as usize);
        }
    }

    #[inline(always)]
    fn resolve<const W: usize>(a: &[u8], xs: &[u32], ent: &[u32; PIPE], out: &mut [u16]) {
        let mut deep = 0u64;
        let mut dn = [0u32; PIPE];
        for (i, ((o, &e), &x)) in out.iter_mut().zip(ent).zip(xs).enumerate() {
            match Self::resolve_l1::<W>(a, e, x) {
                Ok(h) => *o = h,
                Err(c) => {
                    prefetch(a, c);
                    dn[i] = c as u32;
                    deep |= 1 << i;
                }
            }
        }
        while deep != 0 {
            let i = deep.trailing_zeros() as usize;
            deep &= deep - 1;
            if let (Some(o), Some(&x), Some(&c)) = (out.get_mut(i), xs.get(i), dn.get(i)) {
                *o = Self::walk_deep(a, c as usize, x);
            }
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

    /// Number of trie nodes (level-1 and deeper).
    pub fn nodes(&self) -> usize {
        self.l1_nodes + self.deep_nodes
    }

    /// Number of stored (compressed) leaves, inline in level-1 nodes or in the deep leaf array.
    pub fn leaves(&self) -> usize {
        self.leaves
    }

    /// Bytes used by the lookup structure (direct table + nodes + leaves, with line padding).
    pub fn memory_bytes(&self) -> usize {
        self.arena.len()
    }

    /// Whether the structure sits in transparent huge pages (`madvise(MADV_HUGEPAGE)` accepted;
    /// the kernel may still back parts with small pages).
    pub fn huge_pages(&self) -> bool {
        self.arena.huge()
    }
}

/// Copies the `count` contiguous draft nodes from `first` (and their subtrees) to `nodes` /
/// `leaves`, children contiguous again; returns the index of the first copy.
fn copy_deep(
    d: &Draft,
    first: usize,
    count: usize,
    nodes: &mut Vec<Node>,
    leaves: &mut Vec<u16>,
) -> Result<u32, LpmError> {
    let base = nodes.len();
    let src = d
        .nodes
        .get(first..first + count)
        .ok_or(LpmError::TooLarge)?;
    nodes.extend_from_slice(src);
    for j in 0..count {
        let n = src[j];
        let k = n.leafvec.count_ones() as usize;
        let b0 = u32::try_from(leaves.len()).map_err(|_| LpmError::TooLarge)?;
        let l = d
            .leaves
            .get(n.base0 as usize..n.base0 as usize + k)
            .ok_or(LpmError::TooLarge)?;
        leaves.extend_from_slice(l);
        let b1 = if n.vector != 0 {
            copy_deep(
                d,
                n.base1 as usize,
                n.vector.count_ones() as usize,
                nodes,
                leaves,
            )?
        } else {
            0
        };
        nodes[base + j].base0 = b0;
        nodes[base + j].base1 = b1;
    }
    u32::try_from(base).map_err(|_| LpmError::TooLarge)
}

impl Draft {
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

/// Zero-initialised bytes for the lookup structure: an anonymous mapping aligned to 2 MiB with
/// `MADV_HUGEPAGE` on Linux (falls back to the heap when mapping fails or off Linux).
struct Arena {
    mem: ArenaMem,
    len: usize,
}

enum ArenaMem {
    Heap(Box<[u64]>),
    #[cfg(target_os = "linux")]
    Mapped(Mapping),
}

const HUGE: usize = 2 << 20;

impl Arena {
    fn zeroed(len: usize) -> Self {
        #[cfg(target_os = "linux")]
        if let Some(m) = Mapping::new(len) {
            return Self {
                mem: ArenaMem::Mapped(m),
                len,
            };
        }
        Self {
            mem: ArenaMem::Heap(vec![0u64; len.div_ceil(8)].into_boxed_slice()),
            len,
        }
    }

    fn len(&self) -> usize {
        self.len
    }

    fn huge(&self) -> bool {
        match &self.mem {
            ArenaMem::Heap(_) => false,
            #[cfg(target_os = "linux")]
            ArenaMem::Mapped(m) => m.huge,
        }
    }

    fn as_slice(&self) -> &[u8] {
        match &self.mem {
            ArenaMem::Heap(b) => {
                let bytes: &[u8] = bytemuck_u64(b);
                &bytes[..self.len.min(bytes.len())]
            }
            #[cfg(target_os = "linux")]
            ArenaMem::Mapped(m) => m.bytes(self.len),
        }
    }

    fn as_mut_slice(&mut self) -> &mut [u8] {
        let len = self.len;
        match &mut self.mem {
            ArenaMem::Heap(b) => {
                let bytes: &mut [u8] = bytemuck_u64_mut(b);
                let n = len.min(bytes.len());
                &mut bytes[..n]
            }
            #[cfg(target_os = "linux")]
            ArenaMem::Mapped(m) => m.bytes_mut(len),
        }
    }
}

/// The bytes of a `u64` slice (its alignment is stricter, its size a multiple).
fn bytemuck_u64(b: &[u64]) -> &[u8] {
    // SAFETY: any initialised `u64` is 8 initialised bytes; `u8` has alignment 1; the length in
    // bytes is `8 * b.len()`, which cannot overflow for an existing allocation; the borrow ties
    // the result to `b`.
    unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<u8>(), b.len() * 8) }
}

/// Mutable bytes of a `u64` slice.
fn bytemuck_u64_mut(b: &mut [u64]) -> &mut [u8] {
    // SAFETY: as in `bytemuck_u64`; every byte pattern is a valid `u64`, so writes through the
    // `u8` view keep `b` valid, and the exclusive borrow is carried over.
    unsafe { std::slice::from_raw_parts_mut(b.as_mut_ptr().cast::<u8>(), b.len() * 8) }
}

impl Clone for Arena {
    fn clone(&self) -> Self {
        let mut a = Self::zeroed(self.len);
        a.as_mut_slice().copy_from_slice(self.as_slice());
        a
    }
}

impl std::fmt::Debug for Arena {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Arena")
            .field("len", &self.len)
            .field("huge_pages", &self.huge())
            .finish()
    }
}

/// An anonymous private read-write mapping (memmap2), its usable part aligned to 2 MiB.
#[cfg(target_os = "linux")]
struct Mapping {
    /// The whole mapping (unmapped on drop).
    map: memmap2::MmapMut,
    /// Offset of the 2 MiB-aligned start inside the mapping.
    start: usize,
    /// `madvise(MADV_HUGEPAGE)` succeeded.
    huge: bool,
}

#[cfg(target_os = "linux")]
impl Mapping {
    fn new(len: usize) -> Option<Self> {
        let want = len.max(1).checked_next_multiple_of(HUGE)?;
        let map_len = want.checked_add(HUGE)?;
        let map = memmap2::MmapMut::map_anon(map_len).ok()?;
        let start = (HUGE - (map.as_ptr() as usize) % HUGE) % HUGE;
        // [start, start + want) lies inside the mapping (start < HUGE, start + want <= map_len).
        let huge = map
            .advise_range(memmap2::Advice::HugePage, start, want)
            .is_ok();
        Some(Self { map, start, huge })
    }

    fn bytes(&self, len: usize) -> &[u8] {
        let end = self.start.saturating_add(len).min(self.map.len());
        &self.map[self.start..end]
    }

    fn bytes_mut(&mut self, len: usize) -> &mut [u8] {
        let end = self.start.saturating_add(len).min(self.map.len());
        &mut self.map[self.start..end]
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

    fn random_table(rng: &mut XorShift, n: usize, next_hops: u64) -> Vec<Route> {
        let base = rng.next() as u32 & 0xffc0_0000;
        (0..n)
            .map(|_| {
                let len = match rng.next() % 8 {
                    0 => (rng.next() % 33) as u8,
                    1 => 25 + (rng.next() % 8) as u8,
                    2 => 19 + (rng.next() % 6) as u8,
                    _ => 24,
                };
                let addr = if rng.next() % 8 == 0 {
                    rng.next() as u32
                } else {
                    base | (rng.next() as u32 & 0x003f_ffff)
                };
                Route {
                    addr: addr & crate::wire::ipv4::prefix_mask(len),
                    len,
                    next_hop: 1 + (rng.next() % next_hops) as u16,
                }
            })
            .collect()
    }

    #[test]
    fn batch_equals_single_on_random_tables() {
        let mut rng = XorShift(7);
        for round in 0..12 {
            let n = [0, 1, 50, 3000, 20_000][round % 5];
            let nh = [2, 64, 60_000][round % 3];
            let t = Lpm::build(&random_table(&mut rng, n, nh)).unwrap();
            // Lengths around the pipeline's chunk size, and out shorter / longer than addrs.
            for len in [0, 1, 31, 32, 33, 64, 95, 1000] {
                let addrs: Vec<u32> = (0..len)
                    .map(|k| {
                        if k % 2 == 0 {
                            rng.next() as u32
                        } else {
                            (rng.next() as u32 & 0x00ff_ffff) | 0xc600_0000
                        }
                    })
                    .collect();
                let mut out = vec![0xffffu16; len + 3];
                t.lookup_batch(&addrs, &mut out);
                for (k, &a) in addrs.iter().enumerate() {
                    assert_eq!(out[k], t.lookup(a), "round {round} len {len} addr {a:#x}");
                }
                assert!(out[len..].iter().all(|&o| o == 0xffff), "wrote past addrs");
                let short = len / 2;
                let mut out = vec![0u16; short];
                t.lookup_batch(&addrs, &mut out);
                for (k, &a) in addrs.iter().take(short).enumerate() {
                    assert_eq!(out[k], t.lookup(a));
                }
            }
        }
    }

    #[test]
    fn batch_agrees_with_linear_scan_on_a_dense_block() {
        // Every address of a /20 block with many overlapping routes, deep ones included.
        let mut rng = XorShift(3);
        let mut routes = vec![Route::new(Ipv4Addr::new(198, 18, 0, 0), 15, 9)];
        for k in 0..400u32 {
            let len = 19 + (rng.next() % 14) as u8;
            let addr =
                (0xc612_0000 | (rng.next() as u32 & 0x0fff)) & crate::wire::ipv4::prefix_mask(len);
            routes.push(Route {
                addr,
                len,
                next_hop: 1 + (k % 300) as u16,
            });
        }
        let t = Lpm::build(&routes).unwrap();
        assert!(!t.narrow, "next hops up to 300 need two-byte leaves");
        let mut dedup: Vec<Route> = Vec::new();
        for r in &routes {
            dedup.retain(|d| !(d.addr == r.addr && d.len == r.len));
            dedup.push(*r);
        }
        let addrs: Vec<u32> = (0xc612_0000..0xc612_1000).collect();
        let mut out = vec![0u16; addrs.len()];
        t.lookup_batch(&addrs, &mut out);
        for (a, o) in addrs.iter().zip(&out) {
            assert_eq!(*o, naive(&dedup, *a), "addr {a:#x}");
        }
    }

    #[test]
    fn level1_nodes_larger_than_a_cache_line() {
        // 64 /24s with alternating next hops in one /18: a level-1 node with 64 leaves
        // (136 bytes), plus one /28 so that a node with deeper children is large too.
        let mut routes: Vec<Route> = (0..64u32)
            .map(|k| Route {
                addr: 0xc612_0000 | (k << 8),
                len: 24,
                next_hop: 1 + (k % 2) as u16,
            })
            .collect();
        routes.extend((0..64u32).map(|k| Route {
            addr: 0xc612_4000 | (k << 8),
            len: 24,
            next_hop: 3 + (k % 2) as u16,
        }));
        routes.push(Route::new(Ipv4Addr::new(198, 18, 64 + 5, 16), 28, 7));
        let t = Lpm::build(&routes).unwrap();
        assert!(t.narrow);
        for k in 0..64u32 {
            assert_eq!(t.lookup(0xc612_0000 | (k << 8) | 77), 1 + (k % 2) as u16);
        }
        assert_eq!(t.lookup_addr(Ipv4Addr::new(198, 18, 69, 20)), 7);
        assert_eq!(t.lookup_addr(Ipv4Addr::new(198, 18, 69, 40)), 4);
        assert_eq!(t.lookup_addr(Ipv4Addr::new(198, 18, 70, 40)), 3);
        let addrs: Vec<u32> = (0xc612_0000..0xc612_8000).step_by(7).collect();
        let mut out = vec![0u16; addrs.len()];
        t.lookup_batch(&addrs, &mut out);
        for (a, o) in addrs.iter().zip(&out) {
            assert_eq!(*o, t.lookup(*a));
        }
    }

    #[test]
    fn clone_and_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Lpm>();
        let routes = synthetic_routes(5000, 3, 16);
        let t = Lpm::build(&routes).unwrap();
        let c = t.clone();
        drop(t);
        let h = std::thread::spawn(move || {
            routes
                .iter()
                .all(|r| c.lookup(r.addr) != 0 && c.memory_bytes() >= 4 << DIRECT_BITS)
        });
        assert!(h.join().unwrap());
        let e = Lpm::empty();
        let mut out = [7u16; 40];
        e.lookup_batch(&[0x0102_0304; 40], &mut out);
        assert!(out.iter().all(|&o| o == 0));
    }

    #[test]
    fn heap_arena_fallback_gives_the_same_answers() {
        let routes = synthetic_routes(20_000, 5, 64);
        let t = Lpm::build(&routes).unwrap();
        let bytes = t.arena.as_slice().to_vec();
        let mut h = t.clone();
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        bytemuck_u64_mut(&mut words)[..bytes.len()].copy_from_slice(&bytes);
        h.arena = Arena {
            mem: ArenaMem::Heap(words.into_boxed_slice()),
            len: bytes.len(),
        };
        assert!(!h.huge_pages());
        let mut rng = XorShift(11);
        let addrs: Vec<u32> = (0..5000).map(|_| rng.next() as u32).collect();
        let (mut a, mut b) = (vec![0u16; 5000], vec![0u16; 5000]);
        t.lookup_batch(&addrs, &mut a);
        h.lookup_batch(&addrs, &mut b);
        assert_eq!(a, b);
        assert!(routes.iter().all(|r| h.lookup(r.addr) == t.lookup(r.addr)));
    }

    #[test]
    fn synthetic_table_shape() {
        let t = synthetic_table(10_000, 1);
        assert_eq!(t.len(), 10_000);
        let n24 = t.iter().filter(|r| r.1 == 24).count();
        assert!((5000..6500).contains(&n24), "{n24}");
    }
}
