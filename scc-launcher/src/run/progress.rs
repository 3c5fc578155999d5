//! The watcher of a traffic run: stops the traffic on SIGINT/SIGTERM or a crashed NF, and
//! draws the progress line on stderr.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::deploy::NfStatus;
use crate::proc::process_running;

/// The live part of the progress line: the last NF's sent frames as it reported them on its
/// status channel (once a second), e.g. `r3 tx 40000`; empty before the first report.
pub(super) fn live_text(live: &[(String, Arc<Mutex<NfStatus>>)]) -> String {
    live.last()
        .and_then(|(name, s)| {
            let tx = s.lock().ok()?.counters.as_ref()?.tx;
            Some(format!(", {name} tx {tx}"))
        })
        .unwrap_or_default()
}

/// Watches the run: SIGINT/SIGTERM or a crashed NF stop the traffic; draws the progress line.
pub(super) fn monitor(
    stop: &AtomicBool,
    traffic_stop: &AtomicBool,
    done: &AtomicBool,
    pids: &[(String, u32)],
    live: &[(String, Arc<Mutex<NfStatus>>)],
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
                "\r[scc] traffic [{}{}] {:>5.1}/{:.1} s, {} NFs up{} ",
                "#".repeat(bar),
                ".".repeat(20 - bar),
                el,
                total_s,
                pids.iter().filter(|(_, p)| process_running(*p)).count(),
                live_text(live)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if progress {
        eprint!("\r{:<90}\r", "");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_text_shows_the_last_nf_once_it_reported() {
        let a = Arc::new(Mutex::new(NfStatus::default()));
        let b = Arc::new(Mutex::new(NfStatus::default()));
        let live = vec![("r1".to_string(), a), ("r2".to_string(), Arc::clone(&b))];
        assert_eq!(live_text(&live), "");
        b.lock().unwrap().counters = Some(crate::deploy::NfCounters {
            tx: 12,
            ..Default::default()
        });
        assert_eq!(live_text(&live), ", r2 tx 12");
        assert_eq!(live_text(&[]), "");
    }
}
