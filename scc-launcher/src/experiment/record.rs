//! One measured run as a flat record ([`Row`]: a CSV line and a JSON object) and the CSV
//! writer (pure apart from writing the file).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use super::ExperimentError;
use super::stats::ratio;
use crate::run::{NfReport, RunReport};

/// One NF's share of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NfRow {
    /// NF name.
    pub name: String,
    /// Frames received (`null`: the NF printed no counters, e.g. `kind = "kernel"` without
    /// namespace counters).
    pub rx: Option<u64>,
    /// Frames sent.
    pub tx: Option<u64>,
    /// Frames dropped, all reasons.
    pub drops: u64,
    /// Drops by reason (`reason=count;...`).
    pub drop_reasons: String,
    /// Network-I/O system calls.
    pub syscalls: Option<u64>,
    /// `syscalls / rx`.
    pub syscalls_per_frame: Option<f64>,
    /// CPU time on a core over the traffic run (ns; schedstat).
    pub run_ns: Option<u64>,
    /// Runnable but waiting for a core (ns).
    pub runqueue_wait_ns: Option<u64>,
    /// Not runnable (blocked, mostly waiting for I/O) (ns).
    pub wait_ns: Option<u64>,
    /// Wait/RunTime (paper Table 5).
    pub wait_over_run: Option<f64>,
    /// SchedContention/RunTime (paper Table 5).
    pub contention_over_run: Option<f64>,
    /// `run_ns / rx` in microseconds.
    pub cpu_us_per_frame: Option<f64>,
}

impl NfRow {
    /// From the run report's NF entry.
    pub fn of(n: &NfReport) -> NfRow {
        let s = n.sched.as_ref();
        let per = |v: Option<f64>| ratio(v, n.rx.map(|r| r as f64));
        NfRow {
            name: n.name.clone(),
            rx: n.rx,
            tx: n.tx,
            drops: n.drops.values().sum(),
            drop_reasons: n
                .drops
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(";"),
            syscalls: n.syscalls,
            syscalls_per_frame: per(n.syscalls.map(|v| v as f64)),
            run_ns: s.map(|s| s.run_ns),
            runqueue_wait_ns: s.map(|s| s.runqueue_wait_ns),
            wait_ns: s.map(|s| s.wait_ns),
            wait_over_run: s.and_then(|s| s.wait_over_run),
            contention_over_run: s.and_then(|s| s.contention_over_run),
            cpu_us_per_frame: per(s.map(|s| s.run_ns as f64 / 1000.0)),
        }
    }
}

/// One run of a campaign: its parameters and results.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Row {
    /// Where it comes from: campaign, point, configuration, regime, parameters, load.
    #[serde(flatten)]
    pub ctx: RowContext,
    /// Offered rate.
    pub offered_pps: Option<f64>,
    /// Achieved rate.
    pub achieved_pps: Option<f64>,
    /// Frames sent.
    pub sent: Option<u64>,
    /// Frames received by the sink.
    pub received: Option<u64>,
    /// `sent - received`.
    pub lost: Option<u64>,
    /// `lost / sent`.
    pub loss_fraction: Option<f64>,
    /// One-way latency percentiles and moments (us).
    pub latency_us: Option<crate::traffic::LatencySummary>,
    /// Frames into the chain (the first NF's rx).
    pub chain_rx: Option<u64>,
    /// Drops counted by the NFs, all reasons.
    pub nf_drops: u64,
    /// NF system calls per frame per NF (`sum syscalls / sum rx`).
    pub syscalls_per_frame: Option<f64>,
    /// The chain's CPU per frame entering it, microseconds (`sum run / first NF's rx`).
    pub cpu_us_per_frame: Option<f64>,
    /// The chain's Wait/RunTime (sums over NFs).
    pub wait_over_run: Option<f64>,
    /// The chain's SchedContention/RunTime (sums over NFs).
    pub contention_over_run: Option<f64>,
    /// Per NF.
    pub nfs: Vec<NfRow>,
    /// SIGINT/SIGTERM ended this run early (excluded from the summary).
    pub interrupted: bool,
    /// The run's warnings.
    pub warnings: Vec<String>,
    /// The run failed with this error (then no results).
    pub error: Option<String>,
}

/// Where a row comes from (everything but the report).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RowContext {
    /// Campaign name.
    pub campaign: String,
    /// `search` (a capacity-search trial) or `point` (a campaign point).
    pub phase: String,
    /// Point id (`config @ regime`); the search id for trials.
    pub point: String,
    /// Configuration id.
    pub config: String,
    /// Plot series.
    pub series: String,
    /// Label of the configuration within its series.
    pub label: String,
    /// Numeric x of the configuration (chain length, batch size, variant index).
    pub x: f64,
    /// Regime (`20000 pps`, `75% of capacity`, `search`).
    pub regime: String,
    /// The fraction of the capacity offered (capacity regimes).
    pub fraction: Option<f64>,
    /// The capacity that defined the rate (capacity regimes).
    pub capacity_pps: Option<f64>,
    /// Repeat number (0-based).
    pub repeat: usize,
    /// Configuration parameters (`nfs`, `nf_kind`, `interconnect`, `driver`, `batch`,
    /// `schedule`, `frame_size`).
    pub params: BTreeMap<String, String>,
    /// Traffic seconds asked for.
    pub duration_s: f64,
    /// 1-minute load average when the run started (`/proc/loadavg`).
    pub load1: Option<f64>,
}

impl Row {
    /// The row of a finished run.
    pub fn of(ctx: RowContext, r: &RunReport) -> Row {
        let nfs: Vec<NfRow> = r.nfs.iter().map(NfRow::of).collect();
        let sum = |f: &dyn Fn(&NfRow) -> Option<u64>| -> Option<u64> {
            nfs.iter().map(f).try_fold(0u64, |a, v| v.map(|v| a + v))
        };
        let rx_sum = sum(&|n| n.rx);
        let sched: Vec<_> = r.nfs.iter().filter_map(|n| n.sched).collect();
        let chain_sched = (!sched.is_empty() && sched.len() == r.nfs.len())
            .then(|| scc_profiler::sched::SchedMetrics::sum(&sched));
        let chain_rx = nfs.first().and_then(|n| n.rx);
        Row {
            ctx,
            offered_pps: r.offered_pps,
            achieved_pps: r.achieved_pps,
            sent: r.sent,
            received: r.received,
            lost: r.lost,
            loss_fraction: ratio(r.lost.map(|v| v as f64), r.sent.map(|v| v as f64)),
            latency_us: r.latency_us,
            chain_rx,
            nf_drops: nfs.iter().map(|n| n.drops).sum(),
            syscalls_per_frame: ratio(
                sum(&|n| n.syscalls).map(|v| v as f64),
                rx_sum.map(|v| v as f64),
            ),
            cpu_us_per_frame: ratio(
                chain_sched.map(|s| s.run_ns as f64 / 1000.0),
                chain_rx.map(|v| v as f64),
            ),
            wait_over_run: chain_sched.and_then(|s| s.wait_over_run),
            contention_over_run: chain_sched.and_then(|s| s.contention_over_run),
            nfs,
            interrupted: r.interrupted,
            warnings: r.warnings.clone(),
            error: None,
        }
    }

    /// The row of a run that failed.
    pub fn failed(ctx: RowContext, error: String, interrupted: bool) -> Row {
        Row {
            ctx,
            offered_pps: None,
            achieved_pps: None,
            sent: None,
            received: None,
            lost: None,
            loss_fraction: None,
            latency_us: None,
            chain_rx: None,
            nf_drops: 0,
            syscalls_per_frame: None,
            cpu_us_per_frame: None,
            wait_over_run: None,
            contention_over_run: None,
            nfs: Vec::new(),
            interrupted,
            warnings: Vec::new(),
            error: Some(error),
        }
    }

    /// Counts toward the summary: a finished campaign point.
    pub fn usable(&self) -> bool {
        self.ctx.phase == "point" && !self.interrupted && self.error.is_none()
    }
}

/// The fixed CSV columns (the parameter columns and `nf<i>_*` columns follow).
pub const CSV_COLUMNS: &[&str] = &[
    "campaign",
    "phase",
    "point",
    "config",
    "series",
    "label",
    "x",
    "regime",
    "fraction",
    "capacity_pps",
    "repeat",
    "duration_s",
    "offered_pps",
    "achieved_pps",
    "sent",
    "received",
    "lost",
    "loss_fraction",
    "p1_us",
    "p25_us",
    "p50_us",
    "p75_us",
    "p99_us",
    "p999_us",
    "max_us",
    "min_us",
    "mean_us",
    "stdev_us",
    "chain_rx",
    "nf_drops",
    "syscalls_per_frame",
    "cpu_us_per_frame",
    "wait_over_run",
    "contention_over_run",
    "load1",
    "interrupted",
    "error",
];

/// Columns of each NF (`nf1_rx`, ...).
pub const NF_COLUMNS: &[&str] = &[
    "name",
    "rx",
    "tx",
    "drops",
    "drop_reasons",
    "syscalls",
    "syscalls_per_frame",
    "run_ns",
    "runqueue_wait_ns",
    "wait_ns",
    "wait_over_run",
    "contention_over_run",
    "cpu_us_per_frame",
];

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

/// The CSV header and records of `rows` (one line per run; empty cells for unknown values).
pub fn csv_records(rows: &[Row]) -> (Vec<String>, Vec<Vec<String>>) {
    let params: Vec<String> = {
        let mut k: Vec<String> = rows
            .iter()
            .flat_map(|r| r.ctx.params.keys().cloned())
            .collect();
        k.sort();
        k.dedup();
        k
    };
    let max_nfs = rows.iter().map(|r| r.nfs.len()).max().unwrap_or(0);
    let mut header: Vec<String> = CSV_COLUMNS.iter().map(|s| s.to_string()).collect();
    header.extend(params.iter().cloned());
    for i in 1..=max_nfs {
        header.extend(NF_COLUMNS.iter().map(|c| format!("nf{i}_{c}")));
    }
    let records = rows
        .iter()
        .map(|r| {
            let l = r.latency_us.as_ref();
            let mut v = vec![
                r.ctx.campaign.clone(),
                r.ctx.phase.clone(),
                r.ctx.point.clone(),
                r.ctx.config.clone(),
                r.ctx.series.clone(),
                r.ctx.label.clone(),
                r.ctx.x.to_string(),
                r.ctx.regime.clone(),
                opt(r.ctx.fraction),
                opt(r.ctx.capacity_pps),
                r.ctx.repeat.to_string(),
                r.ctx.duration_s.to_string(),
                opt(r.offered_pps),
                opt(r.achieved_pps),
                opt(r.sent),
                opt(r.received),
                opt(r.lost),
                opt(r.loss_fraction),
                opt(l.map(|l| l.p1)),
                opt(l.map(|l| l.p25)),
                opt(l.map(|l| l.p50)),
                opt(l.map(|l| l.p75)),
                opt(l.map(|l| l.p99)),
                opt(l.map(|l| l.p999)),
                opt(l.map(|l| l.max)),
                opt(l.map(|l| l.min)),
                opt(l.map(|l| l.mean)),
                opt(l.map(|l| l.stdev)),
                opt(r.chain_rx),
                r.nf_drops.to_string(),
                opt(r.syscalls_per_frame),
                opt(r.cpu_us_per_frame),
                opt(r.wait_over_run),
                opt(r.contention_over_run),
                opt(r.ctx.load1),
                r.interrupted.to_string(),
                r.error.clone().unwrap_or_default(),
            ];
            for p in &params {
                v.push(r.ctx.params.get(p).cloned().unwrap_or_default());
            }
            for i in 0..max_nfs {
                match r.nfs.get(i) {
                    Some(n) => v.extend([
                        n.name.clone(),
                        opt(n.rx),
                        opt(n.tx),
                        n.drops.to_string(),
                        n.drop_reasons.clone(),
                        opt(n.syscalls),
                        opt(n.syscalls_per_frame),
                        opt(n.run_ns),
                        opt(n.runqueue_wait_ns),
                        opt(n.wait_ns),
                        opt(n.wait_over_run),
                        opt(n.contention_over_run),
                        opt(n.cpu_us_per_frame),
                    ]),
                    None => v.extend(std::iter::repeat_n(String::new(), NF_COLUMNS.len())),
                }
            }
            v
        })
        .collect();
    (header, records)
}

/// Writes `rows` as CSV to `path` (through a temporary file, so a reader never sees half a
/// file).
pub fn write_csv(path: &Path, rows: &[Row]) -> Result<(), ExperimentError> {
    let (header, records) = csv_records(rows);
    let tmp = path.with_extension("csv.tmp");
    let io = |e: std::io::Error| ExperimentError::Write(path.to_path_buf(), e);
    {
        let mut w =
            csv::Writer::from_path(&tmp).map_err(|e| ExperimentError::Csv(e.to_string()))?;
        w.write_record(&header)
            .map_err(|e| ExperimentError::Csv(e.to_string()))?;
        for r in &records {
            w.write_record(r)
                .map_err(|e| ExperimentError::Csv(e.to_string()))?;
        }
        w.flush().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::chain::Mode;
    use crate::traffic::LatencySummary;

    pub(crate) fn latency(p50: f64) -> LatencySummary {
        LatencySummary {
            p1: p50 * 0.5,
            p25: p50 * 0.8,
            p50,
            p75: p50 * 1.2,
            p99: p50 * 3.0,
            max: p50 * 5.0,
            min: p50 * 0.4,
            mean: p50,
            stdev: p50 * 0.3,
            p999: p50 * 4.0,
            count: 1000,
        }
    }

    pub(crate) fn nf(name: &str, rx: u64, sched: bool) -> NfReport {
        NfReport {
            name: name.into(),
            kind: "router".into(),
            pid: 1,
            core: Some(1),
            rx: Some(rx),
            tx: Some(rx - 2),
            drops: [("no_route".to_string(), 2u64)].into_iter().collect(),
            kernel_drops: Some(0),
            syscalls: Some(rx / 2),
            exit: "exit 0".into(),
            io: Some("mmsg".into()),
            io_fallbacks: Vec::new(),
            counters: None,
            sched: sched.then(|| scc_profiler::sched::SchedMetrics {
                run_ns: rx * 4000,
                runqueue_wait_ns: rx * 2000,
                wait_ns: rx * 40_000,
                wait_over_run: Some(10.0),
                contention_over_run: Some(0.5),
                ..Default::default()
            }),
        }
    }

    pub(crate) fn report(sent: u64, received: u64, p50: f64, nfs: Vec<NfReport>) -> RunReport {
        RunReport {
            hosts: None,
            chain: "t".into(),
            mode: Mode::Runtime,
            interconnect: "b2b".into(),
            io: "mmsg batch 32".into(),
            offered_pps: Some(1000.0),
            achieved_pps: Some(1000.0),
            sent: Some(sent),
            received: Some(received),
            lost: Some(sent - received),
            latency_us: Some(latency(p50)),
            nfs,
            schedule: None,
            traffic: None,
            interrupted: false,
            warnings: vec![],
            profile: None,
            profile_table: None,
            capture: None,
        }
    }

    #[test]
    fn a_row_sums_the_chain_and_divides_per_frame() {
        let r = report(
            1000,
            990,
            50.0,
            vec![nf("r1", 1000, true), nf("r2", 998, true)],
        );
        let row = Row::of(
            RowContext {
                phase: "point".into(),
                ..RowContext::default()
            },
            &r,
        );
        assert_eq!(row.lost, Some(10));
        assert!((row.loss_fraction.unwrap() - 0.01).abs() < 1e-12);
        assert_eq!(row.chain_rx, Some(1000));
        assert_eq!(row.nf_drops, 4);
        // (500 + 499) syscalls over (1000 + 998) frames
        assert!((row.syscalls_per_frame.unwrap() - 999.0 / 1998.0).abs() < 1e-12);
        // run: 4 us per frame per NF, both NFs over the 1000 frames entering the chain
        assert!((row.cpu_us_per_frame.unwrap() - (4.0 * 1998.0 / 1000.0)).abs() < 1e-9);
        // ratios recomputed from the sums: 40/4 and 2/4
        assert!((row.wait_over_run.unwrap() - 10.0).abs() < 1e-9);
        assert!((row.contention_over_run.unwrap() - 0.5).abs() < 1e-9);
        assert_eq!(row.nfs[1].drop_reasons, "no_route=2");
        assert!((row.nfs[0].cpu_us_per_frame.unwrap() - 4.0).abs() < 1e-9);
        assert!(row.usable());
    }

    #[test]
    fn unknown_scheduler_times_stay_unknown() {
        let r = report(
            100,
            100,
            50.0,
            vec![nf("r1", 100, true), nf("r2", 100, false)],
        );
        let row = Row::of(RowContext::default(), &r);
        assert_eq!(row.cpu_us_per_frame, None);
        assert_eq!(row.wait_over_run, None);
        assert_eq!(row.nfs[1].run_ns, None);
    }

    #[test]
    fn csv_has_one_column_set_per_nf_and_empty_cells_for_unknowns() {
        let a = Row::of(
            RowContext::default(),
            &report(10, 10, 5.0, vec![nf("r1", 10, true)]),
        );
        let mut ctx = RowContext::default();
        ctx.params.insert("batch".into(), "4".into());
        let b = Row::of(
            ctx,
            &report(10, 9, 5.0, vec![nf("r1", 10, true), nf("r2", 9, false)]),
        );
        let (h, recs) = csv_records(&[a, b]);
        assert_eq!(
            h.len(),
            CSV_COLUMNS.len() + 1 + 2 * NF_COLUMNS.len(),
            "{h:?}"
        );
        assert!(recs.iter().all(|r| r.len() == h.len()));
        let col = |name: &str| h.iter().position(|c| c == name).unwrap();
        assert_eq!(recs[0][col("nf2_name")], "");
        assert_eq!(recs[1][col("nf2_name")], "r2");
        assert_eq!(recs[1][col("nf2_run_ns")], "");
        assert_eq!(recs[1][col("batch")], "4");
        assert_eq!(recs[1][col("lost")], "1");
        assert_eq!(recs[0][col("p50_us")], "5");
    }
}
