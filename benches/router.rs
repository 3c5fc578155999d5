//! The router NF's per-frame cost, without I/O.
//!
//! - `wire/*`: the router's per-frame header work on a 64-byte frame (parse Ethernet + IPv4,
//!   check length/version/checksum, decrement the TTL, fix the checksum) with scc-nf's own
//!   zero-copy views (RFC 1624 incremental checksum) and with `pnet_packet` (full recomputation,
//!   pnet's usual way), on batches of 32 frames.
//! - `router/*`: the whole `router` preset (Classifier, Strip, CheckIpHeader, IpLookup, DecIpTtl,
//!   MtuCheck, EtherEncap) on in-memory batches of 64-byte UDP frames, measured in *thread CPU
//!   time* (the VM is shared; wall-clock time would count other processes' turns). Variants:
//!   batch 32 and 256 with a 3-route table, and batch 32 with a 900k-prefix BGP-like table where
//!   every round first rewrites each frame's destination to a new random routed address (so the
//!   LPM's cache misses are included; `dst_rewrite_only` measures that rewrite alone). The
//!   router runs its common path fused (one pass per frame, `scc_nf::graph::Pipeline::is_fused`);
//!   `3_routes_unfused` is the same graph run element by element (`set_fusion(false)`), for the
//!   ratio.
//! - All times are thread CPU time.
//! - A counting global allocator checks that processing allocates nothing: the bench prints the
//!   number of allocations made inside the timed region (refills excepted: `Batch::push` does not
//!   allocate either, so the count should be 0).
//!
//! Run: `cargo bench --bench router -- --warm-up-time 1 --measurement-time 3`
mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use pnet_packet::MutablePacket;
use pnet_packet::Packet as _;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket, MutableEthernetPacket};
use pnet_packet::ipv4::{Ipv4Packet, MutableIpv4Packet};
use scc_io::Batch;
use scc_nf::config::{Env, NfConfig, Preset, build_pipeline};
use scc_nf::graph::Pipeline;
use scc_nf::lpm::{XorShift, synthetic_table};
use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::{MacAddr, ethernet, ipv4};

/// Counts allocations so the bench can show that processing makes none.
struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only bumps a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 0xaa]);

fn frame(dst: Ipv4Addr, ident: u16) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    let n = UdpFrame {
        ttl: 255,
        dst_mac: ROUTER_MAC,
        dst_ip: dst,
        ident,
        ..UdpFrame::default()
    }
    .write(&mut b, &[0x5a; 22])
    .expect("frame");
    b.truncate(n);
    b
}

fn env() -> Env {
    Env {
        src_mac: ROUTER_MAC,
        // The next hop is another router with this MAC: a forwarded frame can go round again
        // (benches reprocess the same frames) and still passes the host filter.
        gw_mac: Some(ROUTER_MAC),
        addrs: vec![Ipv4Addr::new(198, 18, 0, 254)],
        mtu: 1500,
        icmp_rate: 100,
    }
}

fn router(routes: Vec<String>) -> Pipeline {
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes,
        ..Default::default()
    };
    build_pipeline(&cfg, &env()).expect("router")
}

/// scc-nf views: check + TTL decrement with an incremental checksum; returns the new TTL.
#[inline]
fn scc_views(f: &mut [u8]) -> u8 {
    let Ok(eth) = ethernet::Frame::new_checked(&mut *f) else {
        return 0;
    };
    if eth.ethertype() != ethernet::ethertype::IPV4 {
        return 0;
    }
    let Ok(mut ip) = ipv4::Packet::new_checked(&mut f[ethernet::HEADER_LEN..]) else {
        return 0;
    };
    if !ip.verify_checksum() || ip.ttl() <= 1 {
        return 0;
    }
    ip.dec_ttl()
}

/// pnet_packet: the same work with pnet's views and its checksum function.
#[inline]
fn pnet_views(f: &mut [u8]) -> u8 {
    let Some(mut eth) = MutableEthernetPacket::new(f) else {
        return 0;
    };
    if eth.get_ethertype() != EtherTypes::Ipv4 {
        return 0;
    }
    let Some(mut ip) = MutableIpv4Packet::new(eth.payload_mut()) else {
        return 0;
    };
    let hl = usize::from(ip.get_header_length()) * 4;
    if ip.get_version() != 4 || hl < 20 || hl > ip.packet().len() {
        return 0;
    }
    if usize::from(ip.get_total_length()) > ip.packet().len() {
        return 0;
    }
    if pnet_packet::ipv4::checksum(&ip.to_immutable()) != ip.get_checksum() || ip.get_ttl() <= 1 {
        return 0;
    }
    let ttl = ip.get_ttl() - 1;
    ip.set_ttl(ttl);
    let c = pnet_packet::ipv4::checksum(&ip.to_immutable());
    ip.set_checksum(c);
    ttl
}

fn bench_wire(c: &mut Criterion) {
    let base: Vec<Vec<u8>> = (0..32)
        .map(|k| frame(Ipv4Addr::new(198, 19, 0, k as u8), k))
        .collect();
    let mut g = c.benchmark_group("wire");
    g.sample_size(20);
    g.throughput(Throughput::Elements(32));
    for (name, f) in [
        ("scc_views", scc_views as fn(&mut [u8]) -> u8),
        ("pnet_packet", pnet_views),
    ] {
        let mut frames = base.clone();
        g.bench_function(name, |b| {
            cpu_iter(b, || {
                let mut acc = 0u32;
                for fr in frames.iter_mut() {
                    // Keep the TTL from running out: put it back to 64 and fix the checksum
                    // incrementally in both variants alike (cheap and the same for both).
                    if fr[22] <= 2 {
                        fr[22] = 64;
                        let mut ip = ipv4::Packet::new_unchecked(&mut fr[14..]);
                        ip.fill_checksum();
                    }
                    acc += u32::from(f(black_box(fr)));
                }
                black_box(acc)
            })
        });
    }
    g.finish();
    // Both variants must produce identical bytes.
    let mut a = base[3].clone();
    let mut p = base[3].clone();
    scc_views(&mut a);
    pnet_views(&mut p);
    assert_eq!(a, p, "scc and pnet results differ");
    let e = EthernetPacket::new(&a).expect("eth");
    assert_eq!(Ipv4Packet::new(e.payload()).expect("ip").get_ttl(), 254);
}

fn refill(b: &mut Batch, frames: &[Vec<u8>], next: &mut usize) {
    b.clear();
    for _ in 0..b.capacity() {
        b.push(&frames[*next % frames.len()]).expect("push");
        *next += 1;
    }
}

/// Times `Pipeline::process` on the same batch again and again (the router strips and re-adds
/// the Ethernet header, so only the TTL changes; frames start at TTL 255 and the batch is
/// refilled when it runs low, i.e. once per ~250 rounds), in thread CPU time.
/// Puts the next destination of `dsts` into every frame (offset 30) and fixes the IPv4 checksum
/// incrementally, so that consecutive rounds look up different addresses.
fn rewrite_dsts(b: &mut Batch, dsts: &[u32], next: &mut usize) {
    for i in 0..b.len() {
        let f = b.frame_mut(i);
        if f.len() < 34 {
            continue;
        }
        let new = dsts[*next % dsts.len()];
        *next += 1;
        // The route's gateway MAC was written over the destination: address the router again.
        f[..6].copy_from_slice(&ROUTER_MAC.0);
        let old = u32::from_be_bytes([f[30], f[31], f[32], f[33]]);
        let c = u16::from_be_bytes([f[24], f[25]]);
        f[30..34].copy_from_slice(&new.to_be_bytes());
        f[24..26].copy_from_slice(&scc_nf::wire::checksum::update32(c, old, new).to_be_bytes());
    }
}

fn run_router(
    c: &mut Criterion,
    id: &str,
    mut p: Pipeline,
    frames: Vec<Vec<u8>>,
    batch: usize,
    dsts: Option<&[u32]>,
) {
    let mut b = Batch::new(batch, 2048).expect("batch");
    let mut next = 0usize;
    let mut next_dst = 0usize;
    refill(&mut b, &frames, &mut next);
    let mut allocs = 0usize;
    let mut processed = 0u64;
    let mut forwarded = 0u64;
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(batch as u64));
    g.bench_function(BenchmarkId::new(id, batch), |bencher| {
        bencher.iter_custom(|iters| {
            let a0 = ALLOCS.load(Ordering::Relaxed);
            let t = thread_cpu();
            for _ in 0..iters {
                if b.frame(0).get(22).is_none_or(|ttl| *ttl <= 2) {
                    refill(&mut b, &frames, &mut next);
                }
                if let Some(d) = dsts {
                    rewrite_dsts(&mut b, d, &mut next_dst);
                }
                p.process(&mut b, 0);
                processed += batch as u64;
                forwarded += p.port_frames(1).len() as u64;
            }
            let el = thread_cpu() - t;
            allocs += ALLOCS.load(Ordering::Relaxed) - a0;
            el
        })
    });
    g.finish();
    eprintln!(
        "router/{id}/{batch}: {processed} frames processed, {forwarded} forwarded, {allocs} allocations (incl. ~1/250 refills)"
    );
}

fn bench_router(c: &mut Criterion) {
    let small: Vec<Vec<u8>> = (0..1024u32)
        .map(|k| frame(Ipv4Addr::from(0xc613_0000 | (k & 0xff)), k as u16))
        .collect();
    let routes3 = vec![
        "198.19.0.0/16".to_string(),
        "198.18.0.0/16".to_string(),
        "10.0.0.0/8 via 02:00:00:00:00:cc".to_string(),
    ];
    for batch in [32, 256] {
        let p = router(routes3.clone());
        assert!(p.is_fused(), "the router preset runs fused");
        run_router(c, "3_routes", p, small.clone(), batch, None);
    }
    let mut unfused = router(routes3.clone());
    unfused.set_fusion(false);
    run_router(c, "3_routes_unfused", unfused, small.clone(), 32, None);
    // 900k BGP-like prefixes; destinations inside random prefixes of the table.
    let table = synthetic_table(900_000, 7);
    let mut rng = XorShift(5);
    let routes: Vec<String> = table
        .iter()
        .map(|(a, l)| {
            format!(
                "{}/{} via 02:00:00:00:00:{:02x}",
                Ipv4Addr::from(*a),
                l,
                rng.next() % 64
            )
        })
        .collect();
    let dsts: Vec<u32> = (0..1u32 << 20)
        .map(|_| {
            let (a, l) = table[(rng.next() % table.len() as u64) as usize];
            a | (rng.next() as u32 & !ipv4::prefix_mask(l))
        })
        .collect();
    // The cost of the destination rewrite alone (subtract it from the next line).
    let mut b = Batch::new(32, 2048).expect("batch");
    let mut next = 0usize;
    refill(&mut b, &small, &mut next);
    let mut nd = 0usize;
    let mut g = c.benchmark_group("router");
    g.throughput(Throughput::Elements(32));
    g.bench_function("dst_rewrite_only/32", |bencher| {
        cpu_iter(bencher, || rewrite_dsts(&mut b, &dsts, &mut nd))
    });
    g.finish();
    run_router(
        c,
        "900k_prefixes_random_dst",
        router(routes),
        small,
        32,
        Some(&dsts),
    );
}

criterion_group!(benches, bench_wire, bench_router);
criterion_main!(benches);
