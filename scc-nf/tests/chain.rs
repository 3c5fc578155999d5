//! Chain-aware plans over in-memory ports (no privileges): a fused chain of three routers
//! against the same three routers run separately (same frames out, same per-NF counters), the
//! accounting identities, and the chain-order hand-off between NF threads, including a stall.
mod common;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use scc_io::{Batch, Port, mem};
use scc_nf::NfError;
use scc_nf::chain::order::ChainOrder;
use scc_nf::chain::{FusedChain, FusedNf, FusedOptions, REVERSE_UNREAD};
use scc_nf::config::{Env, NfConfig, PollMode, Preset, build_pipeline};
use scc_nf::graph::Pipeline;
use scc_nf::nf::{Nf, NfCounters, NfOptions};
use scc_nf::wire::MacAddr;
use scc_nf::wire::build::{UdpFrame, arp_request};
use scc_sched::handoff::Handoff;

const N: usize = 3;
const GOOD: usize = 40;

fn nf_mac(k: usize) -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0x10, k as u8])
}
fn sink_mac() -> MacAddr {
    MacAddr([0x02, 0, 0, 0, 0x20, 0x01])
}
fn nf_ip(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 250 + k as u8)
}

/// Router `k` of the chain: routes to the next NF (or the sink) and back towards the generator.
fn router_k(k: usize) -> Pipeline {
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes: vec![
            "198.19.0.0/16".into(),
            format!("198.18.0.0/16 via {SRC_MAC} port rx"),
        ],
        ..Default::default()
    };
    let gw = if k + 1 < N { nf_mac(k + 1) } else { sink_mac() };
    let env = Env {
        src_mac: nf_mac(k),
        gw_mac: Some(gw),
        addrs: vec![nf_ip(k)],
        mtu: 1500,
        icmp_rate: 1000,
    };
    build_pipeline(&cfg, &env).unwrap()
}

/// 40 good frames, 3 with TTL 2 (expire at the second NF), 3 with TTL 1 (expire at the first),
/// 3 with a bad checksum, 3 without a route, one ARP request for the first NF.
fn burst() -> Vec<Vec<u8>> {
    let base = UdpFrame {
        dst_mac: nf_mac(0),
        ..spec()
    };
    let mut v = error_burst(&base, GOOD, true);
    let mut arp = vec![0u8; 60];
    let n = arp_request(&mut arp, SRC_MAC, SRC_IP, nf_ip(0)).unwrap();
    arp.truncate(n.max(42));
    v.push(arp);
    v
}

fn send(port: &mut dyn Port, frames: &[Vec<u8>]) -> usize {
    send_frames(port, frames)
}

fn drain(port: &mut dyn Port) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut b = Batch::new(256, 2048).unwrap();
    loop {
        b.clear();
        if port.recv_batch(&mut b).unwrap() == 0 {
            return out;
        }
        out.extend(b.iter().map(<[u8]>::to_vec));
    }
}

fn fused_nfs() -> Vec<FusedNf> {
    (0..N)
        .map(|k| FusedNf {
            pipeline: router_k(k),
            name: format!("r{k}"),
            kind: "router".into(),
            stats_file: None,
        })
        .collect()
}

/// A busy-polling fused chain of `nfs` from `entry` to `exit`, `batch` frames per batch.
fn fused_chain(
    nfs: Vec<FusedNf>,
    entry: mem::MemPort,
    exit: mem::MemPort,
    batch: usize,
) -> scc_nf::Result<FusedChain> {
    FusedChain::new(
        nfs,
        Box::new(entry),
        Box::new(exit),
        FusedOptions {
            batch,
            frame_size: 2048,
            poll: PollMode::Busy,
            spin: Duration::ZERO,
        },
    )
}

fn opts(k: usize, poll: PollMode) -> NfOptions {
    NfOptions {
        name: format!("r{k}"),
        kind: "router".into(),
        batch: 64,
        frame_size: 2048,
        poll,
        spin: Duration::from_micros(100),
        stats_file: None,
    }
}

#[test]
fn fused_chain_counts_every_frame_per_nf_and_for_the_chain() {
    let (mut gen_port, entry) = mem::pair("gen", "entry", 256, 2048).unwrap();
    let (exit, mut sink) = mem::pair("exit", "sink", 256, 2048).unwrap();
    let mut chain = fused_chain(fused_nfs(), entry, exit, 64).unwrap();
    assert_eq!(send(&mut gen_port, &burst()), 53);
    assert_eq!(chain.poll_once().unwrap(), 53);
    assert_eq!(chain.poll_once().unwrap(), 0);
    let c = chain.counters();
    check_three_routers(&c.nfs, GOOD as u64, 1);
    assert_eq!((c.rx, c.tx, c.tx_back), (53, 40, 4), "{c:?}");
    assert_eq!(c.drops.get(REVERSE_UNREAD), Some(&3), "{c:?}");
    assert!(c.balanced(), "{c:?}");
    // Only the two ends touch the kernel (here: mem ports): the middle NF made no I/O at all.
    assert_eq!((c.nfs[1].syscalls, c.nfs[1].empty_polls), (0, 0));
    assert_eq!(c.nfs[1].io, "fused");
    // Per NF, its two ports: the chain's interfaces at the ends, the in-memory links inside;
    // what each NF sent by a port was received by the next NF's port.
    let names: Vec<Vec<&str>> = c
        .nfs
        .iter()
        .map(|n| n.ports.iter().map(|p| p.name.as_str()).collect())
        .collect();
    assert_eq!(
        names,
        [
            vec!["entry", "fused:r0-r1"],
            vec!["fused:r0-r1", "fused:r1-r2"],
            vec!["fused:r1-r2", "exit"]
        ],
        "{c:?}"
    );
    for w in c.nfs.windows(2) {
        assert_eq!(w[0].ports[1].tx, w[1].ports[0].rx, "{c:?}");
    }
    assert_eq!(
        (c.nfs[0].ports[0].tx, c.nfs[2].ports[1].tx),
        (c.tx_back, c.tx)
    );
    check_delivered_after(&drain(&mut sink), GOOD, N as u8, nf_mac(N - 1), sink_mac());
    let back = drain(&mut gen_port);
    assert_eq!(back.len(), 4, "3 ICMP time exceeded + 1 ARP reply");
}

#[test]
fn fused_chain_equals_the_same_nfs_run_separately() {
    // Separate: gen -> r0 -> r1 -> r2 -> sink over mem pairs.
    let (mut gen_port, r0_rx) = mem::pair("gen", "r0_rx", 256, 2048).unwrap();
    let (r0_tx, r1_rx) = mem::pair("r0_tx", "r1_rx", 256, 2048).unwrap();
    let (r1_tx, r2_rx) = mem::pair("r1_tx", "r2_rx", 256, 2048).unwrap();
    let (r2_tx, mut sink) = mem::pair("r2_tx", "sink", 256, 2048).unwrap();
    let mut nfs: Vec<Nf> = [(r0_rx, r0_tx), (r1_rx, r1_tx), (r2_rx, r2_tx)]
        .into_iter()
        .enumerate()
        .map(|(k, (rx, tx))| {
            Nf::new(
                router_k(k),
                vec![Box::new(rx), Box::new(tx)],
                vec![0, 1],
                opts(k, PollMode::Busy),
            )
            .unwrap()
        })
        .collect();
    send(&mut gen_port, &burst());
    for nf in &mut nfs {
        nf.poll_once().unwrap();
    }
    let separate: Vec<NfCounters> = nfs.iter_mut().map(Nf::counters).collect();
    check_three_routers(&separate, GOOD as u64, 1);
    let mut sep_out = drain(&mut sink);
    let mut sep_back = drain(&mut gen_port);

    let (mut gen_port, entry) = mem::pair("gen", "entry", 256, 2048).unwrap();
    let (exit, mut sink) = mem::pair("exit", "sink", 256, 2048).unwrap();
    let mut chain = fused_chain(fused_nfs(), entry, exit, 64).unwrap();
    send(&mut gen_port, &burst());
    chain.poll_once().unwrap();
    let fused = chain.counters();
    for (s, f) in separate.iter().zip(&fused.nfs) {
        assert_eq!(
            (&s.name, s.rx, s.tx, &s.drops, &s.events),
            (&f.name, f.rx, f.tx, &f.drops, &f.events)
        );
    }
    let mut out = drain(&mut sink);
    let mut back = drain(&mut gen_port);
    for v in [&mut sep_out, &mut out, &mut sep_back, &mut back] {
        v.sort();
    }
    assert_eq!(out, sep_out, "the same frames, byte for byte");
    assert_eq!(back, sep_back);
}

#[test]
fn fused_chain_counts_exit_failures_at_the_last_nf() {
    let (mut gen_port, entry) = mem::pair("gen", "entry", 256, 2048).unwrap();
    let (exit, _sink) = mem::pair("exit", "sink", 8, 2048).unwrap();
    let mut chain = fused_chain(fused_nfs(), entry, exit, 64).unwrap();
    send(&mut gen_port, &burst());
    chain.poll_once().unwrap();
    let c = chain.counters();
    assert_eq!(c.tx, 8);
    assert_eq!(c.nfs[2].drops.get("tx_failed"), Some(&32), "{:?}", c.nfs[2]);
    assert!(c.balanced(), "{c:?}");
}

/// The error of a fused chain of `nfs` between two mem ports.
fn fused_chain_error(nfs: Vec<FusedNf>) -> String {
    let (_, entry) = mem::pair("gen", "entry", 8, 2048).unwrap();
    let (exit, _) = mem::pair("exit", "sink", 8, 2048).unwrap();
    fused_chain(nfs, entry, exit, 32).unwrap_err().to_string()
}

#[test]
fn fused_chain_refuses_an_nf_without_rx_and_tx_ports() {
    let mut nfs = fused_nfs();
    nfs[1].pipeline = Pipeline::new(&["a", "b", "c"], 1).unwrap();
    let e = fused_chain_error(nfs);
    assert!(e.contains("`r1` cannot be fused"), "{e}");
    // Nor one that resolves its gateways by ARP (its requests would have no link to cross).
    let mut nfs = fused_nfs();
    let cfg = NfConfig {
        preset: Some(Preset::Router),
        routes: vec!["198.19.0.0/16 via 198.19.0.1".into()],
        ..Default::default()
    };
    let env = Env {
        src_mac: nf_mac(2),
        gw_mac: None,
        addrs: vec![nf_ip(2)],
        mtu: 1500,
        icmp_rate: 0,
    };
    nfs[2].pipeline = build_pipeline(&cfg, &env).unwrap();
    let e = fused_chain_error(nfs);
    assert!(
        e.contains("`r2` cannot be fused") && e.contains("via IP"),
        "{e}"
    );
}

fn handoff_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("scc-nf-chain-{name}-{}", std::process::id()))
}

/// The generator's and the sink's ports, the stop flag, the NF threads.
type Threads = (
    Box<dyn Port>,
    Box<dyn Port>,
    Arc<AtomicBool>,
    Vec<std::thread::JoinHandle<scc_nf::Result<NfCounters>>>,
);

/// Three NF threads on mem ports in chain order; `skip` names a member that never starts.
fn chain_order_threads(path: &Path, skip: Option<usize>, timeout: Duration) -> Threads {
    let _owner = Handoff::create(path, N).unwrap();
    let (gen_port, r0_rx) = mem::pair("gen", "r0_rx", 256, 2048).unwrap();
    let (r0_tx, r1_rx) = mem::pair("r0_tx", "r1_rx", 256, 2048).unwrap();
    let (r1_tx, r2_rx) = mem::pair("r1_tx", "r2_rx", 256, 2048).unwrap();
    let (r2_tx, sink) = mem::pair("r2_tx", "sink", 256, 2048).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut hs = Vec::new();
    for (k, (rx, tx)) in [(r0_rx, r0_tx), (r1_rx, r1_tx), (r2_rx, r2_tx)]
        .into_iter()
        .enumerate()
    {
        if skip == Some(k) {
            continue;
        }
        let path = path.to_path_buf();
        let stop = stop.clone();
        hs.push(std::thread::spawn(move || {
            let mut nf = Nf::new(
                router_k(k),
                vec![Box::new(rx), Box::new(tx)],
                vec![0, 1],
                NfOptions {
                    batch: 16,
                    ..opts(k, PollMode::Sleep)
                },
            )
            .unwrap();
            let order = ChainOrder::new(Handoff::open(&path, k).unwrap(), timeout);
            order.run(&mut nf, &stop)
        }));
    }
    (Box::new(gen_port), Box::new(sink), stop, hs)
}

#[test]
fn chain_order_passes_every_batch_through_in_order() {
    let path = handoff_path("order");
    let (mut gen_port, mut sink, stop, hs) =
        chain_order_threads(&path, None, Duration::from_secs(5));
    assert_eq!(send(gen_port.as_mut(), &burst()), 53);
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < GOOD && Instant::now() < deadline {
        got.extend(drain(sink.as_mut()));
        std::thread::sleep(Duration::from_millis(2));
    }
    stop.store(true, Ordering::Relaxed);
    let counters: Vec<NfCounters> = hs.into_iter().map(|h| h.join().unwrap().unwrap()).collect();
    check_delivered_after(&got, GOOD, N as u8, nf_mac(N - 1), sink_mac());
    check_three_routers(&counters, GOOD as u64, 1);
    // One batch (at most 16 frames) per turn: 53 frames took at least 4 turns.
    let watch = Handoff::open(&path, 0).unwrap();
    for (k, c) in counters.iter().enumerate() {
        assert!(c.batches <= watch.turns(k), "NF {k}");
    }
    assert!(counters[0].batches >= 4, "{:?}", counters[0]);
    assert!(watch.work() >= 53 + 43 + 40);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn chain_order_gives_up_on_a_member_that_never_runs_and_names_it() {
    let path = handoff_path("stall");
    let (mut gen_port, _sink, _stop, hs) =
        chain_order_threads(&path, Some(1), Duration::from_millis(300));
    send(gen_port.as_mut(), &burst());
    let t = Instant::now();
    for h in hs {
        match h.join().unwrap() {
            Err(NfError::HandoffStalled { holder, .. }) => assert_eq!(holder, 1),
            other => panic!("expected a stall naming NF #1: {other:?}"),
        }
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    std::fs::remove_file(&path).unwrap();
}
