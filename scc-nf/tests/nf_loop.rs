//! The NF loop over in-memory ports (no privileges): forwarding, the three poll modes, and the
//! accounting identity when the output port cannot take everything (`tx_failed`).
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use scc_io::{Batch, Port, mem};
use scc_nf::config::PollMode;
use scc_nf::nf::{Nf, NfOptions, TX_FAILED};
use scc_nf::wire::build::UdpFrame;
use scc_nf::wire::ipv4;

fn opts(batch: usize, poll: PollMode) -> NfOptions {
    NfOptions {
        name: "r".into(),
        kind: "router".into(),
        batch,
        frame_size: 2048,
        poll,
        spin: Duration::from_micros(100),
        stats_file: None,
    }
}

fn send(port: &mut dyn Port, frames: &[Vec<u8>]) -> usize {
    let mut b = Batch::new(frames.len(), 2048).unwrap();
    for f in frames {
        b.push(f).unwrap();
    }
    port.send_batch(&b).unwrap()
}

#[test]
fn tx_failures_are_a_counted_drop_reason() {
    // The output ring holds 8 frames and nobody drains it: the rest of the burst fails to send.
    let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 64, 2048).unwrap();
    let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 8, 2048).unwrap();
    let mut nf = Nf::new(
        router(),
        vec![Box::new(nf_rx), Box::new(nf_tx)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    let frames: Vec<Vec<u8>> = (0..20)
        .map(|k| udp_frame(&UdpFrame { ident: k, ..spec() }))
        .collect();
    assert_eq!(send(&mut gen_port, &frames), 20);
    assert_eq!(nf.poll_once().unwrap(), 20);
    let c = nf.counters();
    assert_eq!((c.rx, c.tx), (20, 8));
    assert_eq!(c.drops.get(TX_FAILED), Some(&12));
    assert!(c.balanced(), "{c:?}");
    let mut b = Batch::new(32, 2048).unwrap();
    assert_eq!(sink.recv_batch(&mut b).unwrap(), 8);
    for f in b.iter() {
        let ip = ipv4::Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.ttl(), 63);
        assert!(ip.verify_checksum());
    }
}

#[test]
fn every_poll_mode_forwards_and_stops() {
    for poll in [PollMode::Sleep, PollMode::Busy, PollMode::Adaptive] {
        for batch in [1, 32] {
            let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 256, 2048).unwrap();
            let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 256, 2048).unwrap();
            let mut nf = Nf::new(
                router(),
                vec![Box::new(nf_rx), Box::new(nf_tx)],
                vec![0, 1],
                opts(batch, poll),
            )
            .unwrap();
            let stop = Arc::new(AtomicBool::new(false));
            let s2 = stop.clone();
            let h = std::thread::spawn(move || nf.run(&s2).unwrap());
            let frames: Vec<Vec<u8>> = (0..100)
                .map(|k| udp_frame(&UdpFrame { ident: k, ..spec() }))
                .collect();
            assert_eq!(send(&mut gen_port, &frames), 100);
            let mut got = 0;
            let mut b = Batch::new(64, 2048).unwrap();
            let deadline = Instant::now() + Duration::from_secs(5);
            while got < 100 && Instant::now() < deadline {
                b.clear();
                got += sink.recv_batch(&mut b).unwrap();
                std::thread::sleep(Duration::from_millis(1));
            }
            stop.store(true, Ordering::Relaxed);
            let c = h.join().unwrap();
            assert_eq!(got, 100, "{poll:?} batch {batch}");
            assert_eq!((c.rx, c.tx, c.poll.as_str()), (100, 100, poll.name()));
            assert!(c.balanced());
            assert!(c.batches >= 100 / batch as u64);
        }
    }
}

#[test]
fn bad_port_map_is_rejected() {
    let (_, nf_rx) = mem::pair("a", "b", 4, 2048).unwrap();
    assert!(
        Nf::new(
            router(),
            vec![Box::new(nf_rx)],
            vec![0, 1],
            opts(32, PollMode::Sleep)
        )
        .is_err()
    );
}

#[test]
fn firewall_nf_filters_and_rewrites_macs() {
    use scc_nf::config::{NfConfig, Preset, build_pipeline};
    let cfg = NfConfig {
        preset: Some(Preset::Firewall),
        rules: vec![
            "deny udp dport 5000".into(),
            "allow udp from 198.18.0.0/15".into(),
            "default deny".into(),
        ],
        ..Default::default()
    };
    let p = build_pipeline(&cfg, &env()).unwrap();
    let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 64, 2048).unwrap();
    let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 64, 2048).unwrap();
    let mut nf = Nf::new(
        p,
        vec![Box::new(nf_rx), Box::new(nf_tx)],
        vec![0, 1],
        opts(32, PollMode::Busy),
    )
    .unwrap();
    let mut frames = vec![];
    for k in 0..10u16 {
        frames.push(udp_frame(&UdpFrame {
            ident: k,
            dst_port: 5000,
            ..spec()
        }));
        frames.push(udp_frame(&UdpFrame {
            ident: k,
            dst_port: 6000,
            ..spec()
        }));
        frames.push(udp_frame(&UdpFrame {
            ident: k,
            dst_port: 6000,
            src_ip: std::net::Ipv4Addr::new(203, 0, 113, 1),
            ..spec()
        }));
    }
    send(&mut gen_port, &frames);
    assert_eq!(nf.poll_once().unwrap(), 30);
    let c = nf.counters();
    assert_eq!(c.tx, 10);
    assert_eq!(c.drops.get("filtered"), Some(&10));
    assert_eq!(c.drops.get("filtered_default"), Some(&10));
    assert_eq!(c.events.get("filter_rule_2"), Some(&10));
    assert!(c.balanced());
    let mut b = Batch::new(32, 2048).unwrap();
    assert_eq!(sink.recv_batch(&mut b).unwrap(), 10);
    for f in b.iter() {
        assert_eq!(&f[..6], &GW_MAC.0, "destination MAC := --gw-mac");
        assert_eq!(&f[6..12], &ROUTER_MAC.0, "source MAC := the tx interface's");
        assert_eq!(u16::from_be_bytes([f[36], f[37]]), 6000);
    }
}
