//! Each NF's status channel (`scc-nf ... --status-fd N`, see [`scc_nf::status`]): a reader
//! thread per NF keeps what it reported ([`NfStatus`]); the deployment is ready when every NF
//! has said `ready` (its ports are open), and its results are its `final` counters.

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use scc_nf::status::Status;

use super::{DeployError, Deployment, NfCounters};

/// What an NF has reported on its status channel so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NfStatus {
    /// It has opened its ports (`ready`).
    pub ready: bool,
    /// Its latest counters (`counters` every second, then `final`).
    pub counters: Option<NfCounters>,
    /// Its final counters (`final`, when it stopped).
    pub final_counters: Option<NfCounters>,
    /// Lines that were not status lines (counted, never guessed at).
    pub bad_lines: u64,
}

impl NfStatus {
    /// Takes one line of the channel into account (pure).
    pub fn apply(&mut self, line: &str) {
        match Status::parse(line) {
            Some(Status::Ready { .. }) => self.ready = true,
            Some(Status::Counters(c)) => self.counters = Some(c),
            Some(Status::Final(c)) => {
                self.counters = Some(c.clone());
                self.final_counters = Some(c);
            }
            None => self.bad_lines += 1,
        }
    }
}

/// Reads the channel's lines into `shared` until the NF closes it (when it ends).
pub(super) fn status_reader(
    r: std::fs::File,
    shared: Arc<Mutex<NfStatus>>,
) -> Option<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("scc-nf-status".into())
        .spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if let Ok(mut s) = shared.lock() {
                    s.apply(&line);
                }
            }
        })
        .ok()
}

impl Deployment {
    /// Waits until every NF has reported `ready` on its status channel (its ports are open),
    /// or fails when one exits or `timeout` passes. Returns early (Ok) when `stop` is set.
    pub fn wait_ready(&mut self, timeout: Duration, stop: &AtomicBool) -> Result<(), DeployError> {
        let start = Instant::now();
        loop {
            self.check_alive()?;
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            let mut all = true;
            for (i, c) in self.nfs.iter().enumerate() {
                let Some(c) = c else { continue };
                if !c.live.lock().is_ok_and(|l| l.ready) {
                    all = false;
                    if start.elapsed() > timeout {
                        return Err(DeployError::NotReady {
                            name: c.name.clone(),
                            pid: c.child.id(),
                            ifname: self.plan.nfs[i].rx.clone(),
                            secs: timeout.as_secs(),
                        });
                    }
                }
            }
            if all {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// What each running NF has reported so far (name, status), in chain order: live counters.
    pub fn live(&self) -> Vec<(String, Arc<Mutex<NfStatus>>)> {
        self.nfs
            .iter()
            .flatten()
            .map(|c| (c.name.clone(), Arc::clone(&c.live)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_make_ready_live_and_final_counters() {
        let mut s = NfStatus::default();
        s.apply("garbage");
        assert_eq!(s.bad_lines, 1);
        assert!(!s.ready);
        s.apply(r#"{"event":"ready","name":"r1","pid":5}"#);
        assert!(s.ready);
        let c = NfCounters {
            name: "r1".into(),
            rx: 4,
            tx: 4,
            ..NfCounters::default()
        };
        s.apply(&serde_json::to_string(&Status::Counters(c.clone())).unwrap());
        assert_eq!(s.counters.as_ref().map(|c| c.rx), Some(4));
        assert_eq!(s.final_counters, None);
        let f = NfCounters { rx: 9, tx: 8, ..c };
        s.apply(&serde_json::to_string(&Status::Final(f.clone())).unwrap());
        assert_eq!(s.final_counters, Some(f.clone()));
        assert_eq!(s.counters, Some(f));
        assert_eq!(s.bad_lines, 1);
    }
}
