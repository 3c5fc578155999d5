//! The NF loop's error branches without a kernel, through `scc_io::middleware::FaultInjector`:
//! broken, truncated and reordered input, output that drops frames or fails whole calls. After
//! every batch `rx == tx + drops`, and the frames counted as sent are exactly those the next
//! hop received (its own count).
mod common;

use std::time::Duration;

use common::*;
use scc_io::middleware::{FaultConfig, FaultInjector, FaultRates};
use scc_io::{Batch, Port, mem};
use scc_nf::config::PollMode;
use scc_nf::nf::{Nf, NfOptions, TX_FAILED};
use scc_nf::wire::build::UdpFrame;

fn opts() -> NfOptions {
    NfOptions {
        name: "r".into(),
        kind: "router".into(),
        batch: 32,
        frame_size: 2048,
        poll: PollMode::Busy,
        spin: Duration::from_micros(100),
        stats_file: None,
    }
}

fn drain(port: &mut dyn Port) -> u64 {
    let mut b = Batch::new(256, 2048).unwrap();
    let mut n = 0;
    loop {
        b.clear();
        match port.recv_batch(&mut b).unwrap() {
            0 => return n,
            k => n += k as u64,
        }
    }
}

fn burst(gen_port: &mut dyn Port, round: u16) -> u64 {
    let mut b = Batch::new(32, 2048).unwrap();
    for k in 0..32u16 {
        b.push(&udp_frame(&UdpFrame {
            ident: round.wrapping_mul(32).wrapping_add(k),
            ..spec()
        }))
        .unwrap();
    }
    gen_port.send_batch(&b).unwrap() as u64
}

/// Corrupted, truncated and reordered input: every frame is forwarded or dropped with a
/// reason (no panic), after every batch.
#[test]
fn damaged_input_is_forwarded_or_dropped_with_a_reason() {
    let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 4096, 2048).unwrap();
    let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 4096, 2048).unwrap();
    let rx = FaultInjector::new(
        nf_rx,
        FaultConfig {
            seed: 21,
            rx: FaultRates {
                truncate: 0.2,
                corrupt: 0.3,
                reorder: 0.2,
                ..FaultRates::default()
            },
            ..FaultConfig::default()
        },
    )
    .unwrap();
    let mut nf = Nf::new(
        router(),
        vec![Box::new(rx), Box::new(nf_tx)],
        vec![0, 1],
        opts(),
    )
    .unwrap();
    let mut offered = 0;
    for round in 0..50 {
        offered += burst(&mut gen_port, round);
        while nf.poll_once().unwrap() > 0 {}
        let c = nf.counters();
        assert!(c.balanced(), "after batch {round}: {c:?}");
    }
    let c = nf.counters();
    assert_eq!(c.rx, offered);
    assert!(c.dropped() > 0, "some damage must be caught: {c:?}");
    assert_eq!(drain(&mut sink), c.tx);
}

/// Output that drops frames and fails whole calls (EAGAIN, ENOBUFS, EIO): the NF counts the
/// unsent frames as `tx_failed`, equal to what the injector dropped or failed, and `tx` equals
/// what the next hop received.
#[test]
fn failing_output_is_counted_as_tx_failed() {
    let (mut gen_port, nf_rx) = mem::pair("gen", "nf_rx", 4096, 2048).unwrap();
    let (nf_tx, mut sink) = mem::pair("nf_tx", "sink", 4096, 2048).unwrap();
    let tx = FaultInjector::new(
        nf_tx,
        FaultConfig {
            seed: 4,
            tx: FaultRates {
                drop: 0.1,
                fail: 0.2,
                ..FaultRates::default()
            },
            ..FaultConfig::default()
        },
    )
    .unwrap();
    let mut nf = Nf::new(
        router(),
        vec![Box::new(nf_rx), Box::new(tx)],
        vec![0, 1],
        opts(),
    )
    .unwrap();
    let mut offered = 0;
    for round in 0..40 {
        offered += burst(&mut gen_port, round);
        while nf.poll_once().unwrap() > 0 {}
        assert!(nf.counters().balanced());
    }
    let c = nf.counters();
    assert_eq!(c.rx, offered);
    let failed = c.drops.get(TX_FAILED).copied().unwrap_or(0);
    assert!(failed > 0, "{c:?}");
    let received = drain(&mut sink);
    assert_eq!(received, c.tx);
    assert_eq!(received + failed, offered, "{c:?}");
}
