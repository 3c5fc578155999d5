//! The report of one run (`scc run --json`, whose top-level keys are a contract) and its
//! rendering as a table. Built from the plan, the NFs' outcomes and the traffic report.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::chain::Mode;
use crate::deploy::{NfCounters, NfOutcome, describe_status};
use crate::plan::DeployPlan;
use crate::traffic::TrafficReport;

/// One NF in the report (`nfs` of `scc run --json`).
#[derive(Debug, Clone, Serialize)]
pub struct NfReport {
    /// NF name.
    pub name: String,
    /// Kind.
    pub kind: String,
    /// PID it had.
    pub pid: u32,
    /// Core it was pinned to.
    pub core: Option<usize>,
    /// Frames received (`null` when the NF printed no counters).
    pub rx: Option<u64>,
    /// Frames sent.
    pub tx: Option<u64>,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Frames the kernel dropped before the NF could read them (its sockets' PACKET_STATISTICS
    /// drops, ring or UMEM overruns), summed over its ports: with `rx`, what the upstream hop
    /// sent it (`null` when the NF printed no counters).
    pub kernel_drops: Option<u64>,
    /// Network-I/O system calls.
    pub syscalls: Option<u64>,
    /// How it ended.
    pub exit: String,
    /// The I/O backend the NF actually used (with `driver = "auto"`, the one chosen; from its
    /// counters, `null` when it reported none).
    pub io: Option<String>,
    /// Why faster backends were skipped (`driver = "auto"`): the NF's `scc-io: warning: driver
    /// auto ...` lines.
    pub io_fallbacks: Vec<String>,
    /// Its full counters object (scc-nf's `NfCounters`, as on its stdout; `null` if none).
    pub counters: Option<serde_json::Value>,
    /// Its scheduler times over the traffic run (schedstat: run, run-queue wait, not
    /// runnable; Wait/RunTime, SchedContention/RunTime); `null` when not measurable.
    pub sched: Option<scc_profiler::sched::SchedMetrics>,
}

/// What the scheduler did (run-time mode).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SchedReport {
    /// The plan (`uniprocessor` | `multiprocessor`).
    pub plan: String,
    /// Policy applied (`null`: kernel default left alone).
    pub policy: Option<String>,
    /// Core -> processes placed there.
    pub per_core: BTreeMap<usize, Vec<String>>,
    /// What was applied, per NF (scc-sched's record).
    pub applied: Vec<serde_json::Value>,
    /// The cpuset of a core reservation.
    pub reservation: Option<String>,
    /// How keep-awake was done.
    pub keep_awake: Option<String>,
    /// RR quantum set for the run (ms).
    pub rr_timeslice_ms: Option<i64>,
    /// Cgroups of the `env = "netns"` NFs (root only).
    pub nf_cgroups: Vec<String>,
}

/// The result of `scc run`. The top-level keys `offered_pps`, `achieved_pps`, `sent`,
/// `received`, `lost`, `latency_us` and `nfs` are the contract of `scc run --json`; the traffic
/// keys are `null` when the chain has no `[traffic]`.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Chain name.
    pub chain: String,
    /// `runtime` | `profile`.
    pub mode: Mode,
    /// Interconnect.
    pub interconnect: String,
    /// I/O driver and batch of the chain.
    pub io: String,
    /// Offered rate.
    pub offered_pps: Option<f64>,
    /// Achieved rate.
    pub achieved_pps: Option<f64>,
    /// Frames sent.
    pub sent: Option<u64>,
    /// Frames received by the sink.
    pub received: Option<u64>,
    /// Frames lost.
    pub lost: Option<u64>,
    /// One-way latency in microseconds (`p1`, `p25`, `p50`, `p75`, `p99`, `max`, ...).
    pub latency_us: Option<crate::traffic::LatencySummary>,
    /// Per NF.
    pub nfs: Vec<NfReport>,
    /// The scheduler's part (run-time mode).
    pub schedule: Option<SchedReport>,
    /// The full traffic report (generator and sink details).
    pub traffic: Option<TrafficReport>,
    /// `traffic.kind = "hosts"`: the hosts, the built-in pings and the server's and client's
    /// ends (absent for the generator kind, whose keys stay as they are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<crate::traffic::hosts::HostsReport>,
    /// Whether SIGINT/SIGTERM ended the run early.
    pub interrupted: bool,
    /// Non-fatal findings.
    pub warnings: Vec<String>,
    /// Profile mode: the profiler's report (scc-profiler's JSON); [`RunReport::to_json`] moves
    /// its `nfs` and `chain` to the top level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<serde_json::Value>,
    /// Profile mode: the profiler's table (Table 4 columns and Table 5 metrics).
    #[serde(skip)]
    pub profile_table: Option<String>,
    /// `--capture DIR`: the pcap file of every NF port, with its frame count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capture: Option<crate::capture::CaptureReport>,
}

impl RunReport {
    /// The report as JSON (`scc run --json` / `scc profile --json`). In profile mode the
    /// profiler's `nfs` and `chain` are at the top level beside the run keys
    /// ([`crate::profile::merge_run_json`]).
    pub fn to_json(&self) -> serde_json::Result<serde_json::Value> {
        let v = serde_json::to_value(self)?;
        Ok(match &self.profile {
            Some(p) => crate::profile::merge_run_json(v, p),
            None => v,
        })
    }

    /// A readable table.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "chain {} ({} mode, {}, io {})\n",
            self.chain,
            match self.mode {
                Mode::Runtime => "run-time",
                Mode::Profile => "profile",
            },
            self.interconnect,
            self.io
        );
        match (&self.traffic, &self.hosts) {
            (Some(t), _) => {
                s.push_str(&t.to_text());
                s.push('\n');
            }
            (None, Some(h)) => s.push_str(&h.to_text()),
            (None, None) => {
                s.push_str("no [traffic] in the chain: deployed, checked and torn down\n")
            }
        }
        s.push_str(&format!(
            "\n{:<10} {:>7} {:>5} {:>6} {:>10} {:>10} {:>12} {:>10}  {}\n",
            "nf", "pid", "core", "io", "rx", "tx", "kernel_drops", "syscalls", "drops"
        ));
        let opt = |v: Option<u64>| v.map_or("n/a".to_string(), |v| v.to_string());
        for n in &self.nfs {
            let drops = if n.drops.is_empty() {
                "-".to_string()
            } else {
                n.drops
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            s.push_str(&format!(
                "{:<10} {:>7} {:>5} {:>6} {:>10} {:>10} {:>12} {:>10}  {}\n",
                n.name,
                n.pid,
                n.core.map_or("-".into(), |c| c.to_string()),
                n.io.as_deref().unwrap_or("n/a"),
                opt(n.rx),
                opt(n.tx),
                opt(n.kernel_drops),
                opt(n.syscalls),
                drops
            ));
            // Between real hosts traffic goes both ways: each port's share, too.
            if self.hosts.is_some() {
                for p in n.ports() {
                    s.push_str(&format!(
                        "  port {:<20} {:>10} {:>10} {:>12}\n",
                        p.name, p.rx, p.tx, p.kernel_drops
                    ));
                }
            }
        }
        if let Some(sc) = &self.schedule {
            s.push_str(&format!(
                "\nschedule: {} plan, policy {}",
                sc.plan,
                sc.policy.as_deref().unwrap_or("kernel default")
            ));
            for (c, who) in &sc.per_core {
                s.push_str(&format!("; core {c}: {}", who.join(",")));
            }
            if let Some(r) = &sc.reservation {
                s.push_str(&format!("; reserved {r}"));
            }
            if let Some(k) = &sc.keep_awake {
                s.push_str(&format!("; keep-awake {k}"));
            }
            s.push('\n');
        }
        if let Some(c) = &self.capture {
            s.push_str(&c.to_text());
        }
        if self.interrupted {
            s.push_str("interrupted: the run ended early\n");
        }
        for w in &self.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        for n in &self.nfs {
            for f in &n.io_fallbacks {
                s.push_str(&format!("warning: {}: {f}\n", n.name));
            }
        }
        s
    }
}

impl NfReport {
    /// The NF's per-port counters (from its counters object; empty when it reported none).
    pub fn ports(&self) -> Vec<scc_nf::nf::PortCounters> {
        self.counters
            .as_ref()
            .and_then(|c| c.get("ports"))
            .and_then(|p| serde_json::from_value(p.clone()).ok())
            .unwrap_or_default()
    }

    /// The report of one NF from its plan entry and what it left: its counters as it reported
    /// them on its status channel (scc-nf's [`scc_nf::nf::NfCounters`]), else as printed on
    /// stdout.
    pub fn from_outcome(plan: &DeployPlan, o: &NfOutcome) -> NfReport {
        nf_report(plan, o)
    }
}

fn nf_report(plan: &DeployPlan, o: &NfOutcome) -> NfReport {
    let p = plan.nfs.iter().find(|p| p.name == o.name);
    // The NF's final counters from its status channel; else the object it printed on stdout.
    let printed: Option<serde_json::Value> = o
        .stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .or_else(|| serde_json::from_str(o.stdout.trim()).ok());
    let c = o
        .counters
        .clone()
        .or_else(|| printed.as_ref().and_then(parse_nf_counters));
    let json = match &o.counters {
        Some(c) => serde_json::to_value(c).ok(),
        None => printed,
    };
    let kernel = p.is_some_and(|p| p.kind == crate::chain::NfKind::Kernel);
    NfReport {
        name: o.name.clone(),
        kind: p.map_or(String::new(), |p| p.kind.name().to_string()),
        pid: o.pid,
        core: p.and_then(|p| p.core),
        rx: c.as_ref().map(|c| c.rx),
        tx: c.as_ref().map(|c| c.tx),
        drops: c.as_ref().map(|c| c.drops.clone()).unwrap_or_default(),
        kernel_drops: c.as_ref().map(|c| c.kernel_drops),
        // A kernel NF makes no NF system calls and has no process.
        syscalls: c.as_ref().map(|c| c.syscalls).filter(|_| !kernel),
        exit: match &o.status {
            _ if kernel => "kernel forwarding (no process)".into(),
            Some(st) => describe_status(st),
            None => "not reaped".into(),
        },
        io: c.as_ref().map(|c| c.io.clone()),
        io_fallbacks: io_fallbacks(&o.stderr),
        counters: json,
        sched: None,
    }
}

/// The `driver = "auto"` fallback warnings scc-io printed on an NF's stderr, without the prefix.
fn io_fallbacks(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.trim().strip_prefix("scc-io: warning: "))
        .filter(|l| l.starts_with("driver auto"))
        .map(String::from)
        .collect()
}

/// Reads an NF's counters from the JSON object scc-nf prints (or sends on its status channel):
/// scc-nf's own [`NfCounters`], deserialised as it is. `None` when the object is not such a
/// record (counters missing stay unknown, never zero).
pub fn parse_nf_counters(v: &serde_json::Value) -> Option<NfCounters> {
    serde::Deserialize::deserialize(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_fallback_warnings_are_taken_from_stderr() {
        let err = "something else\nscc-io: warning: driver auto on `r1-rx`: xdp unavailable (AF_XDP unavailable on `r1-rx`: permission: ...); using ring\n";
        assert_eq!(
            io_fallbacks(err),
            vec!["driver auto on `r1-rx`: xdp unavailable (AF_XDP unavailable on `r1-rx`: permission: ...); using ring".to_string()]
        );
        assert!(io_fallbacks("scc-io: warning: other\n").is_empty());
    }
}
