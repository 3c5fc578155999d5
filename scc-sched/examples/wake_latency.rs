//! Wake-up latency of a blocked thread on an idle core, with and without `keep_awake`.
//!
//! `cargo run --release -p scc-sched --example wake_latency [-- SAMPLES]`
//!
//! A receiver thread pinned to the last core blocks on a Unix socket; the main thread, pinned to
//! core 0, sleeps 2 ms (so the receiver's core goes idle), stamps `Instant::now()` and writes.
//! The receiver reports `now - stamp`. Modes are interleaved in rounds so machine noise hits all
//! of them alike: `idle` (nothing), `spinner` (KeepAwake::Spinner on the receiver's core),
//! `dma_latency` (KeepAwake::DmaLatency, root only).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use scc_sched::{KeepAwake, KeepAwakeMode};

fn run(samples: usize, core: usize, base: Instant) -> Vec<u64> {
    let (mut tx, mut rx) = UnixStream::pair().expect("socketpair");
    let h = std::thread::spawn(move || {
        scc_sched::pin_current_thread(core).expect("pin receiver");
        let mut out = Vec::with_capacity(samples);
        let mut b = [0u8; 8];
        for _ in 0..samples {
            if rx.read_exact(&mut b).is_err() {
                break;
            }
            let now = base.elapsed().as_nanos() as u64;
            out.push(now.saturating_sub(u64::from_ne_bytes(b)));
        }
        out
    });
    for _ in 0..samples {
        std::thread::sleep(Duration::from_millis(2));
        let t = base.elapsed().as_nanos() as u64;
        if tx.write_all(&t.to_ne_bytes()).is_err() {
            break;
        }
    }
    h.join().unwrap_or_default()
}

fn pct(v: &mut [u64], p: f64) -> f64 {
    v.sort_unstable();
    if v.is_empty() {
        return f64::NAN;
    }
    let i = ((v.len() - 1) as f64 * p).round() as usize;
    v[i] as f64 / 1000.0
}

fn main() {
    let samples: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1500);
    let online = scc_sched::online_cpus().expect("online cpus");
    let core = *online.last().expect("a core");
    if online.len() < 2 || core == 0 {
        eprintln!("needs 2 cores: the sender on core 0, the receiver on the last core");
        return;
    }
    scc_sched::pin_current_thread(0).expect("pin sender");
    let mut modes = vec![("idle", None), ("spinner", Some(KeepAwakeMode::Spinner))];
    if scc_sched::dma_latency_effective() {
        modes.push(("dma_latency", Some(KeepAwakeMode::DmaLatency)));
    } else {
        println!("dma_latency: not measured (device not writable or no cpuidle driver)");
    }
    let rounds = 3;
    let mut res: Vec<Vec<u64>> = vec![Vec::new(); modes.len()];
    let base = Instant::now();
    for _ in 0..rounds {
        for (i, (_, m)) in modes.iter().enumerate() {
            let guard = m.map(|m| KeepAwake::start(m, &[core]).expect("keep_awake"));
            res[i].extend(run(samples / rounds, core, base));
            drop(guard);
        }
    }
    let mut idle50 = f64::NAN;
    println!("wake-up latency of a blocked thread on core {core}, {samples} samples per mode (us)");
    println!(
        "{:<12} {:>8} {:>8} {:>8} {:>10}",
        "mode", "p50", "p90", "p99", "p50/idle"
    );
    for (i, (name, _)) in modes.iter().enumerate() {
        let v = &mut res[i];
        let (p50, p90, p99) = (pct(v, 0.5), pct(v, 0.9), pct(v, 0.99));
        if i == 0 {
            idle50 = p50;
        }
        println!(
            "{name:<12} {p50:>8.1} {p90:>8.1} {p99:>8.1} {:>10.2}",
            p50 / idle50
        );
    }
}
