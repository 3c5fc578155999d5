//! The watcher of a traffic run: stops the traffic on SIGINT/SIGTERM or a crashed NF, and
//! draws the progress line on stderr.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::proc::process_running;

/// Watches the run: SIGINT/SIGTERM or a crashed NF stop the traffic; draws the progress line.
pub(super) fn monitor(
    stop: &AtomicBool,
    traffic_stop: &AtomicBool,
    done: &AtomicBool,
    pids: &[(String, u32)],
    total_s: f64,
    progress: bool,
) {
    let start = Instant::now();
    let mut last_draw = Instant::now() - Duration::from_secs(1);
    while !done.load(Ordering::Relaxed) {
        if stop.load(Ordering::Relaxed) {
            traffic_stop.store(true, Ordering::Relaxed);
        }
        for (_, pid) in pids {
            if !process_running(*pid) {
                traffic_stop.store(true, Ordering::Relaxed);
            }
        }
        if progress && last_draw.elapsed() >= Duration::from_millis(250) {
            last_draw = Instant::now();
            let el = start.elapsed().as_secs_f64();
            let frac = if total_s > 0.0 {
                (el / total_s).min(1.0)
            } else {
                0.0
            };
            let bar = (frac * 20.0) as usize;
            eprint!(
                "\r[scc] traffic [{}{}] {:>5.1}/{:.1} s, {} NFs up ",
                "#".repeat(bar),
                ".".repeat(20 - bar),
                el,
                total_s,
                pids.iter().filter(|(_, p)| process_running(*p)).count()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if progress {
        eprint!("\r{:<70}\r", "");
    }
}
