//! The generator's and the traffic run's error paths, driven without a kernel by a
//! fault-injecting port (`scc_io::middleware::FaultInjector`): a send error is counted and
//! reported, and the report keeps every frame sent.

use std::sync::atomic::AtomicBool;

use scc_io::middleware::{FaultConfig, FaultInjector, FaultRates};
use scc_io::{Batch, Port};
use scc_launcher::traffic::*;

fn failing(errors: Vec<i32>, fail: f64, seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        tx: FaultRates {
            fail,
            ..FaultRates::default()
        },
        errors,
        ..FaultConfig::default()
    }
}

fn unpaced(count: u64) -> GenConfig {
    GenConfig {
        rate_pps: 0.0,
        count: Some(count),
        duration_s: None,
        batch: 16,
        ..GenConfig::default()
    }
}

/// Frames waiting on the far end of a mem pair (the receiver's own count).
fn drain(port: &mut dyn Port) -> u64 {
    let mut b = Batch::new(1024, 2048).unwrap();
    let mut n = 0;
    loop {
        b.clear();
        let k = port.recv_batch(&mut b).unwrap() as u64;
        if k == 0 {
            return n;
        }
        n += k;
    }
}

/// Transient send errors (EAGAIN, ENOBUFS) do not end the run: each is counted, the frames of
/// the failed calls are counted as dropped by the port, and the rest arrive.
#[test]
fn transient_send_errors_are_counted_and_the_run_goes_on() {
    let (a, mut b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let mut a = FaultInjector::new(a, failing(vec![libc::EAGAIN, libc::ENOBUFS], 0.2, 3)).unwrap();
    let mut g = Generator::new(&unpaced(3200)).unwrap();
    let r = g.run(&mut a, &AtomicBool::new(false)).unwrap();
    let f = a.faults();
    assert!(r.send_errors > 10, "{r:?}");
    assert_eq!(r.send_errors, f.tx_failed);
    assert!(r.send_error.as_deref().is_some_and(|e| !e.is_empty()));
    assert_eq!(r.attempted, 3200);
    assert_eq!(r.unsent, 0);
    // Sent (generator), received (far end) and dropped (port) are three independent counts.
    let received = drain(&mut b);
    assert_eq!(r.sent, received);
    assert_eq!(r.tx_dropped, f.tx_failed_frames);
    assert_eq!(received + r.tx_dropped, r.attempted);
}

/// A hard send error (EIO) ends the run but not the report: what was sent before is there,
/// the error is counted and named, and the frames never offered are `unsent`.
#[test]
fn a_hard_send_error_ends_the_run_and_keeps_the_report() {
    let (a, mut b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let mut a = FaultInjector::new(a, failing(vec![libc::EIO], 0.05, 7)).unwrap();
    let mut g = Generator::new(&unpaced(100_000)).unwrap();
    let r = g.run(&mut a, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.send_errors, 1, "{r:?}");
    let e = r.send_error.clone().unwrap();
    assert!(e.contains("Input/output error"), "{e}");
    let received = drain(&mut b);
    assert!(received > 0, "{r:?}");
    assert_eq!(r.sent, received);
    assert_eq!(received + r.tx_dropped + r.unsent, 100_000);
    assert_eq!(r.attempted, received + r.tx_dropped);
}

/// Through `run_loopback` (generator and sink threads): the traffic report is returned, says
/// the error in its text and JSON (`send_errors`, `send_error`), and every sent frame arrived.
#[test]
fn the_traffic_report_survives_send_errors_and_says_so() {
    let (a, mut b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let mut a = FaultInjector::new(a, failing(vec![libc::ENOBUFS], 0.1, 11)).unwrap();
    let cfg = TrafficConfig {
        generator: GenConfig {
            rate_pps: 50_000.0,
            ..unpaced(2000)
        },
        ..TrafficConfig::default()
    };
    let r = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
    let f = a.faults();
    assert!(r.send_errors > 0);
    assert_eq!(r.send_errors, f.tx_failed);
    assert_eq!(r.generator.send_errors, r.send_errors);
    assert_eq!(r.received, r.sent);
    assert_eq!(r.received + r.generator.tx_dropped, 2000);
    let text = r.to_text();
    assert!(
        text.contains(&format!("send errors {}", r.send_errors)),
        "{text}"
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["send_errors"].as_u64(), Some(r.send_errors));
    assert!(
        v["send_error"]
            .as_str()
            .is_some_and(|s| s.contains("buffer"))
    );
    assert_eq!(v["generator"]["send_errors"].as_u64(), Some(r.send_errors));
}

/// Without faults nothing changes: no error keys set.
#[test]
fn no_errors_no_error_text() {
    let (mut a, mut b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let cfg = TrafficConfig {
        generator: unpaced(500),
        ..TrafficConfig::default()
    };
    let r = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
    assert_eq!((r.send_errors, r.send_error.as_deref()), (0, None));
    assert!(!r.to_text().contains("send errors"));
    assert_eq!(r.received, 500);
}

fn rx_failing(errors: Vec<i32>, fail: f64, seed: u64) -> FaultConfig {
    FaultConfig {
        seed,
        rx: FaultRates {
            fail,
            ..FaultRates::default()
        },
        errors,
        ..FaultConfig::default()
    }
}

/// Transient receive errors at the sink are counted; every probe still arrives.
#[test]
fn transient_sink_errors_are_counted_and_nothing_is_lost() {
    let (mut a, b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let mut b = FaultInjector::new(b, rx_failing(vec![libc::EAGAIN], 0.3, 5)).unwrap();
    let cfg = TrafficConfig {
        generator: GenConfig {
            rate_pps: 20_000.0,
            ..unpaced(1000)
        },
        ..TrafficConfig::default()
    };
    let r = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
    assert!(r.sink.recv_errors > 0);
    assert_eq!(r.sink.recv_errors, b.faults().rx_failed);
    assert_eq!(r.received, 1000);
    assert_eq!(r.sent, 1000);
    assert!(r.to_text().contains("sink receive errors"));
}

/// A hard receive error ends the sink (and stops the generator), but the report comes back
/// with what both sides counted: the sink's probes plus what is still queued equal `sent`.
#[test]
fn a_hard_sink_error_keeps_the_report() {
    let (mut a, b) = scc_io::mem::pair("gen", "sink", 8192, 2048).unwrap();
    let mut b = FaultInjector::new(b, rx_failing(vec![libc::EIO], 0.01, 9)).unwrap();
    let cfg = TrafficConfig {
        generator: GenConfig {
            rate_pps: 20_000.0,
            ..unpaced(20_000)
        },
        ..TrafficConfig::default()
    };
    let r = run_loopback(&cfg, &mut a, &mut b, &AtomicBool::new(false)).unwrap();
    assert_eq!(r.sink.recv_errors, 1, "{}", r.to_text());
    assert!(
        r.sink
            .recv_error
            .as_deref()
            .is_some_and(|e| e.contains("Input/output"))
    );
    assert!(r.generator.stopped, "the generator was halted");
    let queued = drain(&mut b);
    assert_eq!(r.sink.rx_frames + queued, r.sent);
    assert_eq!(r.received, r.sink.rx_frames);
}
