//! IPv4 longest-prefix match: scc-nf's Poptrie-style [`Lpm`] against the `prefix-trie` and
//! `ip_network_table` crates, on one core, same table, same random destinations.
//!
//! Table: `scc_nf::lpm::synthetic_routes(900_000, 7, 64)` - a deterministic BGP-like generator (mostly
//! /24, prefixes clustered in "allocated" /16 blocks; see its rustdoc), ~880k distinct prefixes,
//! next hops 1..=64 assigned as a table fed by 64 peers looks (see
//! `synthetic_routes`; the footprint with independent random next hops is printed too). Destinations: 1M addresses, two sets - `uniform` (random unicast addresses,
//! many of which fall outside any route or in short prefixes) and `routed` (a random address
//! inside a random prefix of the table, so most lookups walk the deep part of the trie).
//! Times are thread CPU time (the VM is shared and loaded), the same for all four structures.
//! Memory: the bench counts heap bytes allocated while building each structure (a counting global
//! allocator) and prints them once; scc's `Lpm` lives in one `mmap`ed arena (huge pages), so its
//! figure is `Lpm::memory_bytes` (plus any heap it kept, normally none).
//! A second group, `lpm_size`, measures scc's batched lookups on uniform random destinations for
//! tables of 10k to 900k generated prefixes in the same run, to show where the table falls out
//! of the caches.
//!
//! Run: `cargo bench --bench lpm -- --warm-up-time 1 --measurement-time 3`
mod common;
use common::*;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ip_network::Ipv4Network;
use ip_network_table::IpNetworkTable;
use prefix_trie::PrefixMap;
use scc_nf::lpm::{Lpm, Route, XorShift, synthetic_routes};

/// Counts live heap bytes so the bench can report each structure's footprint.
struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards every call to the system allocator unchanged and only updates a counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size(), Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(p, l) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    let t = f();
    (t, LIVE.load(Ordering::Relaxed).saturating_sub(before))
}

const N_PREFIXES: usize = 900_000;
const N_LOOKUPS: usize = 1 << 20;

fn bench(c: &mut Criterion) {
    let routes = synthetic_routes(N_PREFIXES, 7, 64);
    let mut rng = XorShift(99);
    // The pessimistic variant: every prefix an independent random next hop (no leaf runs).
    let random_nh: Vec<Route> = routes
        .iter()
        .map(|r| Route {
            next_hop: 1 + (rng.next() % 64) as u16,
            ..*r
        })
        .collect();
    let pessimistic = Lpm::build(&random_nh).expect("build");
    eprintln!(
        "scc Lpm with independent random next hops: {:.1} MiB",
        pessimistic.memory_bytes() as f64 / 1048576.0
    );
    drop(pessimistic);
    let (lpm, lpm_mem) = measure(|| Lpm::build(&routes).expect("build"));
    let (pt, pt_mem) = measure(|| {
        let mut m: PrefixMap<(u32, u8), u16> = PrefixMap::new();
        for r in &routes {
            m.insert((r.addr, r.len), r.next_hop);
        }
        m
    });
    let (nt, nt_mem) = measure(|| {
        let mut t: IpNetworkTable<u16> = IpNetworkTable::new();
        for r in &routes {
            let n = Ipv4Network::new(Ipv4Addr::from(r.addr), r.len).expect("network");
            t.insert(n, r.next_hop);
        }
        t
    });
    eprintln!(
        "lpm table: {} generated, {} distinct prefixes; scc Lpm {} nodes {} leaves",
        routes.len(),
        lpm.routes(),
        lpm.nodes(),
        lpm.leaves()
    );
    eprintln!(
        "memory: scc Lpm {:.2} MiB (arena {:.2} MiB, huge pages advised: {}), heap bytes allocated by the build: prefix-trie {:.1} MiB, ip_network_table {:.1} MiB",
        (lpm_mem + lpm.memory_bytes()) as f64 / 1048576.0,
        lpm.memory_bytes() as f64 / 1048576.0,
        lpm.huge_pages(),
        pt_mem as f64 / 1048576.0,
        nt_mem as f64 / 1048576.0
    );

    let uniform: Vec<u32> = (0..N_LOOKUPS).map(|_| rng.next() as u32).collect();
    let routed: Vec<u32> = (0..N_LOOKUPS)
        .map(|_| {
            let r = routes[(rng.next() % routes.len() as u64) as usize];
            r.addr | (rng.next() as u32 & !scc_nf::wire::ipv4::prefix_mask(r.len))
        })
        .collect();
    // Sanity: all three agree on a sample.
    for &a in routed
        .iter()
        .take(20_000)
        .chain(uniform.iter().take(20_000))
    {
        let x = lpm.lookup(a);
        let y = pt.get_lpm(&(a, 32)).map_or(0, |(_, v)| *v);
        let z = nt
            .longest_match_ipv4(Ipv4Addr::from(a))
            .map_or(0, |(_, v)| *v);
        assert!(x == y && y == z, "disagree on {a:#x}: {x} {y} {z}");
    }

    let mut g = c.benchmark_group("lpm");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N_LOOKUPS as u64));
    let mut out = vec![0u16; 64];
    for (set, addrs) in [("uniform", &uniform), ("routed", &routed)] {
        g.bench_function(BenchmarkId::new("scc_lpm_batch64", set), |b| {
            cpu_iter(b, || {
                let mut acc = 0u64;
                for chunk in addrs.chunks(64) {
                    lpm.lookup_batch(chunk, &mut out);
                    acc += u64::from(out[0]);
                }
                black_box(acc)
            })
        });
        g.bench_function(BenchmarkId::new("scc_lpm_single", set), |b| {
            cpu_iter(b, || {
                let mut acc = 0u64;
                for &a in addrs.iter() {
                    acc += u64::from(lpm.lookup(black_box(a)));
                }
                black_box(acc)
            })
        });
        g.bench_function(BenchmarkId::new("prefix_trie", set), |b| {
            cpu_iter(b, || {
                let mut acc = 0u64;
                for &a in addrs.iter() {
                    acc += pt.get_lpm(&(a, 32)).map_or(0, |(_, v)| u64::from(*v));
                }
                black_box(acc)
            })
        });
        g.bench_function(BenchmarkId::new("ip_network_table", set), |b| {
            cpu_iter(b, || {
                let mut acc = 0u64;
                for &a in addrs.iter() {
                    acc += nt
                        .longest_match_ipv4(Ipv4Addr::from(a))
                        .map_or(0, |(_, v)| u64::from(*v));
                }
                black_box(acc)
            })
        });
    }
    g.finish();
    drop((lpm, pt, nt));

    // Lookups/s against table size, same run: where the structure falls out of the caches.
    let mut g = c.benchmark_group("lpm_size");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N_LOOKUPS as u64));
    for n in [10_000, 100_000, 300_000, 600_000, 900_000] {
        let t = Lpm::build(&synthetic_routes(n, 7, 64)).expect("build");
        eprintln!(
            "lpm_size {n}: {} distinct prefixes, {:.2} MiB",
            t.routes(),
            t.memory_bytes() as f64 / 1048576.0
        );
        g.bench_function(BenchmarkId::new("scc_lpm_batch64_uniform", n), |b| {
            cpu_iter(b, || {
                let mut acc = 0u64;
                for chunk in uniform.chunks(64) {
                    t.lookup_batch(chunk, &mut out);
                    acc += u64::from(out[0]);
                }
                black_box(acc)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
