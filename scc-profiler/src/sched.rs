//! Scheduler state per process from `/proc/<pid>/task/*/schedstat` and `.../status`.
//!
//! The paper (§4.2.1, Tables 5 and 8) splits an NF's wall-clock time into time *running*
//! on a CPU, time *runnable but waiting* in the run queue (scheduler contention) and time
//! *not runnable* (blocked or sleeping, mostly waiting for I/O). It derives:
//!
//! - **Wait/RunTime** = not-runnable time / run time,
//! - **SchedContention/RunTime** = run-queue wait time / run time.
//!
//! `schedstat` gives the run time and the run-queue wait of each thread (ns). The
//! not-runnable time is derived per thread over a measurement interval:
//! `wait = interval - Δrun - Δrunqueue_wait` (clamped at 0), summed over the process's
//! threads. Threads that appear during the interval are charged from the interval start
//! (an upper bound); threads that exit during it are lost (their counters vanish).
//! A chain's metrics are the sums over its NFs (the paper divides the chain's times).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One thread's scheduler counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ThreadSched {
    /// Time spent running on a CPU (ns).
    pub run_ns: u64,
    /// Time spent runnable in a run queue (ns).
    pub runqueue_wait_ns: u64,
    /// Number of times the thread ran on a CPU.
    pub timeslices: u64,
    /// Voluntary context switches (the thread blocked).
    pub voluntary_switches: u64,
    /// Involuntary context switches (the thread was preempted).
    pub involuntary_switches: u64,
}

/// All threads of one process at one moment.
#[derive(Debug, Clone)]
pub struct SchedSnapshot {
    /// The process.
    pub pid: i32,
    /// When the snapshot was taken.
    pub at: Instant,
    /// Per thread id.
    pub threads: BTreeMap<i32, ThreadSched>,
}

/// Scheduler metrics of a process (or a chain) over an interval; the `sched` object of
/// `scc profile --json`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SchedMetrics {
    /// Run time on a CPU, summed over threads (ns).
    pub run_ns: u64,
    /// Run-queue wait (runnable, not running), summed over threads (ns).
    pub runqueue_wait_ns: u64,
    /// Not-runnable time (blocked/sleeping), summed over threads (ns).
    pub wait_ns: u64,
    /// Wait/RunTime (`null` when the run time is 0).
    pub wait_over_run: Option<f64>,
    /// SchedContention/RunTime (`null` when the run time is 0).
    pub contention_over_run: Option<f64>,
    /// Voluntary context switches.
    pub voluntary_switches: u64,
    /// Involuntary context switches.
    pub involuntary_switches: u64,
    /// Times a thread was put on a CPU.
    pub timeslices: u64,
    /// Length of the interval (ns).
    pub elapsed_ns: u64,
    /// Threads seen at the end of the interval.
    pub threads: u32,
}

impl SchedMetrics {
    fn finish(mut self) -> Self {
        if self.run_ns > 0 {
            self.wait_over_run = Some(self.wait_ns as f64 / self.run_ns as f64);
            self.contention_over_run = Some(self.runqueue_wait_ns as f64 / self.run_ns as f64);
        } else {
            self.wait_over_run = None;
            self.contention_over_run = None;
        }
        self
    }

    /// The metrics of the interval between an `earlier` measurement (from the same start)
    /// and this one: sums subtracted, ratios recomputed.
    pub fn minus(&self, earlier: &SchedMetrics) -> SchedMetrics {
        SchedMetrics {
            run_ns: self.run_ns.saturating_sub(earlier.run_ns),
            runqueue_wait_ns: self
                .runqueue_wait_ns
                .saturating_sub(earlier.runqueue_wait_ns),
            wait_ns: self.wait_ns.saturating_sub(earlier.wait_ns),
            wait_over_run: None,
            contention_over_run: None,
            voluntary_switches: self
                .voluntary_switches
                .saturating_sub(earlier.voluntary_switches),
            involuntary_switches: self
                .involuntary_switches
                .saturating_sub(earlier.involuntary_switches),
            timeslices: self.timeslices.saturating_sub(earlier.timeslices),
            elapsed_ns: self.elapsed_ns.saturating_sub(earlier.elapsed_ns),
            threads: self.threads,
        }
        .finish()
    }

    /// Sums the metrics of several processes (a chain): times and switches add up, the
    /// ratios are recomputed from the sums, the interval is the longest one.
    pub fn sum<'a>(items: impl IntoIterator<Item = &'a SchedMetrics>) -> SchedMetrics {
        let mut s = SchedMetrics::default();
        for m in items {
            s.run_ns += m.run_ns;
            s.runqueue_wait_ns += m.runqueue_wait_ns;
            s.wait_ns += m.wait_ns;
            s.voluntary_switches += m.voluntary_switches;
            s.involuntary_switches += m.involuntary_switches;
            s.timeslices += m.timeslices;
            s.elapsed_ns = s.elapsed_ns.max(m.elapsed_ns);
            s.threads += m.threads;
        }
        s.finish()
    }
}

/// Parses `/proc/<pid>/schedstat`: `run_ns runqueue_wait_ns timeslices`.
pub fn parse_schedstat(text: &str) -> Result<(u64, u64, u64)> {
    let mut it = text.split_whitespace().map(|f| f.parse::<u64>());
    match (it.next(), it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c))) => Ok((a, b, c)),
        _ => Err(Error::Parse {
            what: "schedstat".into(),
            detail: format!("expected three integers, got {text:?}"),
        }),
    }
}

/// Parses the `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` lines of
/// `/proc/<pid>/status`.
pub fn parse_status_switches(text: &str) -> Result<(u64, u64)> {
    let field = |key: &str| -> Result<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.trim_start_matches(':').trim().parse().ok())
            .ok_or_else(|| Error::Parse {
                what: "status".into(),
                detail: format!("no integer field {key}"),
            })
    };
    Ok((
        field("voluntary_ctxt_switches")?,
        field("nonvoluntary_ctxt_switches")?,
    ))
}

fn read_thread(pid: i32, tid: i32) -> Result<ThreadSched> {
    let base = format!("/proc/{pid}/task/{tid}");
    let ss = std::fs::read_to_string(format!("{base}/schedstat"))
        .map_err(|e| Error::io(format!("read {base}/schedstat"), e))?;
    let st = std::fs::read_to_string(format!("{base}/status"))
        .map_err(|e| Error::io(format!("read {base}/status"), e))?;
    let (run_ns, runqueue_wait_ns, timeslices) = parse_schedstat(&ss)?;
    let (voluntary_switches, involuntary_switches) = parse_status_switches(&st)?;
    Ok(ThreadSched {
        run_ns,
        runqueue_wait_ns,
        timeslices,
        voluntary_switches,
        involuntary_switches,
    })
}

/// The thread ids of a process (`/proc/<pid>/task`).
pub fn thread_ids(pid: i32) -> Result<Vec<i32>> {
    let dir = format!("/proc/{pid}/task");
    let rd = std::fs::read_dir(&dir).map_err(|e| Error::io(format!("read_dir {dir}"), e))?;
    let mut tids: Vec<i32> = rd
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    tids.sort_unstable();
    Ok(tids)
}

/// Reads the scheduler counters of every thread of `pid`. Threads that exit while being
/// read are skipped; a process that does not exist is an error.
pub fn snapshot(pid: i32) -> Result<SchedSnapshot> {
    let at = Instant::now();
    let mut threads = BTreeMap::new();
    for tid in thread_ids(pid)? {
        if let Ok(t) = read_thread(pid, tid) {
            threads.insert(tid, t);
        }
    }
    if threads.is_empty() {
        return Err(Error::Invalid(format!(
            "process {pid} has no readable threads"
        )));
    }
    Ok(SchedSnapshot { pid, at, threads })
}

/// The metrics between two snapshots of the same process (see the module docs).
pub fn delta(before: &SchedSnapshot, after: &SchedSnapshot) -> SchedMetrics {
    let elapsed = after.at.saturating_duration_since(before.at).as_nanos() as u64;
    let mut m = SchedMetrics {
        elapsed_ns: elapsed,
        threads: after.threads.len() as u32,
        ..Default::default()
    };
    for (tid, a) in &after.threads {
        let b = before.threads.get(tid).copied().unwrap_or_default();
        let run = a.run_ns.saturating_sub(b.run_ns);
        let rq = a.runqueue_wait_ns.saturating_sub(b.runqueue_wait_ns);
        m.run_ns += run;
        m.runqueue_wait_ns += rq;
        m.wait_ns += elapsed.saturating_sub(run + rq);
        m.timeslices += a.timeslices.saturating_sub(b.timeslices);
        m.voluntary_switches += a.voluntary_switches.saturating_sub(b.voluntary_switches);
        m.involuntary_switches += a
            .involuntary_switches
            .saturating_sub(b.involuntary_switches);
    }
    m.finish()
}

/// One interface's counters from `/proc/<pid>/net/dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct NetDev {
    /// Frames received.
    pub rx_packets: u64,
    /// Frames dropped on receive.
    pub rx_dropped: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Frames dropped on send.
    pub tx_dropped: u64,
}

/// Parses `/proc/<pid>/net/dev`.
pub fn parse_net_dev(text: &str) -> Result<BTreeMap<String, NetDev>> {
    let mut out = BTreeMap::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let v: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse::<u64>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::Parse {
                what: "net/dev".into(),
                detail: format!("{line:?}: {e}"),
            })?;
        if v.len() < 16 {
            return Err(Error::Parse {
                what: "net/dev".into(),
                detail: format!("{line:?}: expected 16 fields"),
            });
        }
        out.insert(
            name.trim().to_string(),
            NetDev {
                rx_packets: v[1],
                rx_dropped: v[3],
                tx_packets: v[9],
                tx_dropped: v[11],
            },
        );
    }
    Ok(out)
}

/// The interface counters of the network namespace `pid` lives in (`/proc/<pid>/net/dev`:
/// no need to enter the namespace).
pub fn net_dev(pid: i32) -> Result<BTreeMap<String, NetDev>> {
    let path = format!("/proc/{pid}/net/dev");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(format!("read {path}"), e))?;
    parse_net_dev(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_net_dev() {
        let t = "Inter-|   Receive |  Transmit\n face |bytes packets ...\n    lo:    3193      29    0    1    0     0          0         0     3193      28    0    2    0     0       0          0\n  veth0: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";
        let m = parse_net_dev(t).unwrap();
        assert_eq!(
            m["lo"],
            NetDev {
                rx_packets: 29,
                rx_dropped: 1,
                tx_packets: 28,
                tx_dropped: 2
            }
        );
        assert_eq!(m["veth0"].tx_packets, 10);
        assert!(parse_net_dev("a\nb\n x: 1 2\n").is_err());
        assert!(
            net_dev(std::process::id() as i32)
                .unwrap()
                .contains_key("lo")
        );
    }

    #[test]
    fn parses_schedstat_and_status() {
        assert_eq!(parse_schedstat("123 456 7\n").unwrap(), (123, 456, 7));
        assert!(parse_schedstat("1 2").is_err());
        assert!(parse_schedstat("a b c").is_err());
        let status = "Name:\tx\nvoluntary_ctxt_switches:\t12\nnonvoluntary_ctxt_switches:\t3\n";
        assert_eq!(parse_status_switches(status).unwrap(), (12, 3));
        assert!(parse_status_switches("Name: x").is_err());
    }

    #[test]
    fn delta_derives_wait_and_ratios() {
        let t0 = Instant::now();
        let t1 = t0 + std::time::Duration::from_millis(100);
        let mut before = SchedSnapshot {
            pid: 1,
            at: t0,
            threads: BTreeMap::new(),
        };
        before.threads.insert(
            1,
            ThreadSched {
                run_ns: 1_000_000,
                runqueue_wait_ns: 0,
                timeslices: 1,
                voluntary_switches: 1,
                involuntary_switches: 0,
            },
        );
        let mut after = before.clone();
        after.at = t1;
        after.threads.insert(
            1,
            ThreadSched {
                run_ns: 11_000_000,
                runqueue_wait_ns: 20_000_000,
                timeslices: 5,
                voluntary_switches: 4,
                involuntary_switches: 2,
            },
        );
        let m = delta(&before, &after);
        assert_eq!(m.run_ns, 10_000_000);
        assert_eq!(m.runqueue_wait_ns, 20_000_000);
        assert_eq!(m.wait_ns, 70_000_000);
        assert_eq!(m.wait_over_run, Some(7.0));
        assert_eq!(m.contention_over_run, Some(2.0));
        assert_eq!(m.voluntary_switches, 3);
        let s = SchedMetrics::sum([&m, &m]);
        assert_eq!(s.wait_over_run, Some(7.0));
        assert_eq!(s.run_ns, 20_000_000);
        let d = s.minus(&m);
        assert_eq!(d.run_ns, 10_000_000);
        assert_eq!(d.contention_over_run, Some(2.0));
    }

    #[test]
    fn own_process_snapshot_reads() {
        let s = snapshot(std::process::id() as i32).unwrap();
        assert!(!s.threads.is_empty());
        assert!(s.threads.values().any(|t| t.run_ns > 0));
        assert!(snapshot(i32::MAX).is_err());
    }
}
