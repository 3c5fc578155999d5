//! The report of `scc profile` (JSON keys are a contract) and its human table (the paper's
//! Table 4 columns plus Table 5's metrics).
//!
//! ```json
//! { "nfs": [ { "name": "router", "pid": 123,
//!              "sched": { "run_ns", "runqueue_wait_ns", "wait_over_run", "contention_over_run",
//!                         "voluntary_switches", "involuntary_switches", ... },
//!              "counters": { "task_clock_ns": 1.0e6, "l1d_loads": {"unavailable": "..."}, ... },
//!              "model": { "latency_ns_per_packet": null, "latency_ns_per_packet_partial": 182.0,
//!                         "missing_terms": ["L_D1", ...], "terms": { "L_D1": null, ..., "L_SC": 41.0 },
//!                         "unavailable": { "L_D1": "reason" }, ... } } ],
//!   "chain": { "model_latency_us": null, "model_latency_us_partial": 0.364, "missing_terms": [...],
//!              "measured_latency_us": { "p1", "p25", "p50", "p75", "p99", "max" },
//!              "model_percentile": null, ... } }
//! ```
//!
//! `model_latency_us` (and each NF's `latency_ns_per_packet`) is the whole Table 3 sum, so
//! it is `null` when any term could not be counted; the sum of the known terms is then
//! `model_latency_us_partial` (a lower bound) and `missing_terms` lists what it lacks.
//! `model_percentile` places only a whole model in the measured distribution.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};

use crate::counters::ProcessCounters;
use crate::model::{LatencyTable, Measure, ModelResult, NfCounts, Policy, Term, model_chain};
use crate::sched::SchedMetrics;

/// Latency percentiles (µs) measured end to end: the one latency summary of the workspace (the
/// launcher's traffic sink reports it as `latency_us` of `scc run --json`, where the keys `p1,
/// p25, p50, p75, p99, max` are a contract; `min`, `mean`, `stdev`, `p999` and `count` are
/// extras, `0` when not known).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Percentiles {
    /// 1st percentile.
    pub p1: f64,
    /// 25th percentile.
    pub p25: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// Minimum.
    #[serde(default)]
    pub min: f64,
    /// Mean.
    #[serde(default)]
    pub mean: f64,
    /// Standard deviation (population).
    #[serde(default)]
    pub stdev: f64,
    /// 99.9th percentile.
    #[serde(default)]
    pub p999: f64,
    /// Samples.
    #[serde(default)]
    pub count: u64,
}

/// The value at percentile `q` (0..=100) of sorted samples (nearest rank).
fn at(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len();
    let rank = ((q / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

impl Percentiles {
    /// From raw samples (any order); `None` if empty.
    pub fn from_samples(samples: &[f64]) -> Option<Percentiles> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
        Some(Percentiles {
            p1: at(&v, 1.0),
            p25: at(&v, 25.0),
            p50: at(&v, 50.0),
            p75: at(&v, 75.0),
            p99: at(&v, 99.0),
            max: v[v.len() - 1],
            min: v[0],
            mean,
            stdev: var.sqrt(),
            p999: at(&v, 99.9),
            count: v.len() as u64,
        })
    }

    /// Where `value` falls among these percentiles, by linear interpolation between the
    /// known points (p1, p25, p50, p75, p99, max = 100). Below p1 it returns the fraction of
    /// p1 scaled into 0..1 (only "below the 1st percentile" is known); above max, 100.
    pub fn percentile_of(&self, value: f64) -> f64 {
        let pts = [
            (self.p1, 1.0),
            (self.p25, 25.0),
            (self.p50, 50.0),
            (self.p75, 75.0),
            (self.p99, 99.0),
            (self.max, 100.0),
        ];
        if value < pts[0].0 {
            return if pts[0].0 > 0.0 {
                (value / pts[0].0).max(0.0)
            } else {
                0.0
            };
        }
        for w in pts.windows(2) {
            let ((x0, q0), (x1, q1)) = (w[0], w[1]);
            if value <= x1 {
                if x1 <= x0 {
                    return q1;
                }
                return q0 + (value - x0) / (x1 - x0) * (q1 - q0);
            }
        }
        100.0
    }
}

/// The percentile rank of `value` in raw samples: the share (%) of samples <= `value`.
pub fn percentile_in_samples(value: f64, samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let below = samples.iter().filter(|s| **s <= value).count();
    Some(below as f64 / samples.len() as f64 * 100.0)
}

/// The percentile rank of `value` in a histogram given as `(value, count)` buckets (e.g.
/// HdrHistogram's `iter_recorded()` mapped to `(value_iterated_to, count_at_value)`).
pub fn percentile_in_buckets(
    value: f64,
    buckets: impl IntoIterator<Item = (f64, u64)>,
) -> Option<f64> {
    let (mut below, mut total) = (0u64, 0u64);
    for (v, c) in buckets {
        total += c;
        if v <= value {
            below += c;
        }
    }
    if total == 0 {
        None
    } else {
        Some(below as f64 / total as f64 * 100.0)
    }
}

/// One NF's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NfReport {
    /// The NF's name.
    pub name: String,
    /// Its process id.
    pub pid: i32,
    /// Its scheduling policy.
    pub policy: Policy,
    /// Packets it processed during the measurement.
    pub packets: Measure,
    /// Scheduler metrics (`null` if they could not be read).
    pub sched: Option<SchedMetrics>,
    /// Every counter's value or why it is unavailable.
    pub counters: BTreeMap<String, Measure>,
    /// Table 3 applied to this NF.
    pub model: ModelResult,
}

/// The chain's part of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The model's latency per packet for the whole chain (µs); `null` when any term is
    /// missing for any NF.
    pub model_latency_us: Option<f64>,
    /// When terms are missing: the sum of every NF's known terms (µs, a lower bound);
    /// `null` when the model is complete.
    pub model_latency_us_partial: Option<f64>,
    /// The terms missing from the chain's sum (`L_D1` ...), in Table 3's order.
    pub missing_terms: Vec<String>,
    /// End-to-end latency measured by the sink (µs), if measured.
    pub measured_latency_us: Option<Percentiles>,
    /// Where `model_latency_us` falls in the measured distribution (percentile, 0..100);
    /// `null` without a measurement or without a whole model.
    pub model_percentile: Option<f64>,
    /// The chain's model (terms summed over NFs).
    pub model: ModelResult,
    /// The chain's scheduler metrics (sums over NFs: Table 5's Wait/RunTime and
    /// SchedContention/RunTime).
    pub sched: SchedMetrics,
}

/// The whole report of `scc profile`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileReport {
    /// Per NF, in chain order.
    pub nfs: Vec<NfReport>,
    /// The chain.
    pub chain: ChainReport,
    /// The latency table the model used.
    pub latency_table: LatencyTable,
}

/// What the report needs to know about one NF.
#[derive(Debug, Clone)]
pub struct NfInput {
    /// The NF's name.
    pub name: String,
    /// Its counters from a [`crate::counters::Session`].
    pub counters: ProcessCounters,
    /// Packets it processed (from the NF's own counters or the interfaces).
    pub packets: Measure,
    /// Its scheduling policy.
    pub policy: Policy,
    /// Simulated memory-hierarchy counts (cachegrind), used for terms the counters lack.
    pub simulated: Option<NfCounts>,
}

impl NfInput {
    /// The model's input: counted events, with simulated memory terms filling the gaps.
    pub fn nf_counts(&self) -> NfCounts {
        let mut c = self
            .counters
            .nf_counts(&self.name, self.packets.clone(), self.policy);
        if let Some(sim) = &self.simulated {
            let mut used = false;
            for t in [
                Term::D1,
                Term::D2,
                Term::D3,
                Term::DM,
                Term::T1,
                Term::T2,
                Term::TM,
            ] {
                if c.events.get(t).value().is_none() && sim.events.get(t).value().is_some() {
                    // Simulated counts are for the simulation's packets: rescale.
                    if let (Some(sp), Some(p)) = (sim.packets.value(), self.packets.value()) {
                        if sp > 0.0 {
                            let v = sim.events.get(t).value().unwrap_or(0.0) / sp * p;
                            *c.events.get_mut(t) = Measure::Value(v);
                            c.simulated_terms.push(t.key().to_string());
                            used = true;
                        }
                    }
                }
            }
            c.simulated = used;
        }
        c
    }
}

impl ProfileReport {
    /// Builds the report: the model per NF and for the chain, the chain's scheduler sums,
    /// and, given end-to-end latency samples (µs), the model's percentile among them.
    pub fn build(nfs: &[NfInput], table: &LatencyTable, measured_us: Option<&[f64]>) -> Self {
        let counts: Vec<NfCounts> = nfs.iter().map(NfInput::nf_counts).collect();
        Self::build_from_counts(nfs, &counts, table, measured_us)
    }

    /// [`ProfileReport::build`] with the model's input given: `counts[i]` is `nfs[i]`'s
    /// (e.g. counts from another source than the perf session).
    pub fn build_from_counts(
        nfs: &[NfInput],
        counts: &[NfCounts],
        table: &LatencyTable,
        measured_us: Option<&[f64]>,
    ) -> Self {
        let chain = model_chain(counts, table);
        let reports: Vec<NfReport> = nfs
            .iter()
            .zip(chain.nfs.iter())
            .map(|(n, (_, m))| NfReport {
                name: n.name.clone(),
                pid: n.counters.pid,
                policy: n.policy,
                packets: n.packets.clone(),
                sched: n.counters.sched,
                counters: n.counters.counters.clone(),
                model: m.clone(),
            })
            .collect();
        let sched = SchedMetrics::sum(reports.iter().filter_map(|r| r.sched.as_ref()));
        let model_latency_us = chain.total.latency_us();
        let measured = measured_us.and_then(Percentiles::from_samples);
        let model_percentile = model_latency_us
            .zip(measured_us)
            .and_then(|(m, s)| percentile_in_samples(m, s));
        ProfileReport {
            nfs: reports,
            chain: ChainReport {
                model_latency_us,
                model_latency_us_partial: chain
                    .total
                    .latency_ns_per_packet_partial
                    .map(|ns| ns / 1000.0),
                missing_terms: chain.total.missing_terms.clone(),
                measured_latency_us: measured,
                model_percentile,
                model: chain.total,
                sched,
            },
            latency_table: table.clone(),
        }
    }

    /// Sets the measured distribution from percentiles only (e.g. from a sink's summary);
    /// the model's percentile is interpolated.
    pub fn set_measured(&mut self, p: Percentiles) {
        self.chain.model_percentile = self.chain.model_latency_us.map(|m| p.percentile_of(m));
        self.chain.measured_latency_us = Some(p);
    }

    /// Whether the model used the paper's preset latencies instead of this host's.
    pub fn uses_paper_latencies(&self) -> bool {
        self.latency_table.source == "paper"
    }

    /// The human table: Table 4's columns (latency per packet, references per level, share
    /// per level) plus context switches and syscalls per packet and Table 5's metrics.
    pub fn render_table(&self) -> String {
        let mut s = String::new();
        let f = |v: Option<f64>, prec: usize| match v {
            Some(x) => format!("{x:.prec$}"),
            None => "n/a".to_string(),
        };
        if self.uses_paper_latencies() {
            let _ = writeln!(
                s,
                "latency table: paper -- the paper's Xeon E5-2667 v3 latencies (Table 2, Fig. 3), NOT \
                 this host's: no saved sysbench table (run `scc sysbench` to measure this host)"
            );
        } else {
            let _ = writeln!(s, "latency table: {}", self.latency_table.source);
        }
        let _ = writeln!(
            s,
            "{:<14} {:>7} {:>11} {:>28} {:>24} {:>6} {:>7} {:>9} {:>9} {:>9}",
            "NF",
            "pid",
            "lat/pkt us",
            "L1/L2/L3/DRAM refs/pkt",
            "L1/L2/L3/DRAM %",
            "DTLB%",
            "CS/pkt",
            "SC/pkt",
            "Wait/Run",
            "Cont/Run"
        );
        // A partial sum is marked `>=`: a lower bound, never shown as if whole.
        let lat = |m: &ModelResult| match (m.latency_us(), m.latency_ns_per_packet_partial) {
            (Some(us), _) => format!("{us:.2}"),
            (None, Some(ns)) => format!(">={:.2}", ns / 1000.0),
            (None, None) => "n/a".into(),
        };
        let mut row = |name: &str, pid: String, m: &ModelResult, sched: Option<&SchedMetrics>| {
            let r = &m.refs_per_packet;
            let refs = format!(
                "{}/{}/{}/{}",
                f(r.l1, 0),
                f(r.l2, 0),
                f(r.l3, 0),
                f(r.dram, 0)
            );
            let sh = &m.shares_percent;
            let shares = format!(
                "{}/{}/{}/{}",
                f(sh.d1, 2),
                f(sh.d2, 2),
                f(sh.d3, 2),
                f(sh.dm, 2)
            );
            let tlb = match (sh.t1, sh.t2, sh.tm) {
                (Some(a), Some(b), Some(c)) => format!("{:.2}", a + b + c),
                _ => "n/a".into(),
            };
            let _ = writeln!(
                s,
                "{:<14} {:>7} {:>11} {:>28} {:>24} {:>6} {:>7} {:>9} {:>9} {:>9}{}",
                name,
                pid,
                lat(m),
                refs,
                shares,
                tlb,
                f(m.events_per_packet.cs, 3),
                f(m.events_per_packet.sc, 2),
                f(sched.and_then(|x| x.wait_over_run), 2),
                f(sched.and_then(|x| x.contention_over_run), 2),
                if m.simulated_terms.is_empty() {
                    String::new()
                } else {
                    format!("  (simulated: {})", m.simulated_terms.join(" "))
                }
            );
        };
        for n in &self.nfs {
            row(&n.name, n.pid.to_string(), &n.model, n.sched.as_ref());
        }
        row(
            "chain",
            "-".into(),
            &self.chain.model,
            Some(&self.chain.sched),
        );
        let _ = writeln!(s, "\nper-packet terms (ns):");
        for n in &self.nfs {
            let _ = write!(s, "  {:<12}", n.name);
            for t in Term::ALL {
                let sim = if n.model.simulated_terms.iter().any(|k| k == t.key()) {
                    "(simulated)"
                } else {
                    ""
                };
                let _ = write!(s, " {}={}{sim}", t.key(), f(*n.model.terms.get(t), 1));
            }
            let _ = writeln!(s);
        }
        let c = &self.chain;
        let model = match (c.model_latency_us, c.model_latency_us_partial) {
            (Some(us), _) => format!("model {us:.2} us"),
            (None, Some(us)) => format!(
                "model unknown (partial sum of the known terms {us:.2} us, missing {})",
                c.missing_terms.join(" ")
            ),
            (None, None) => "model unknown".into(),
        };
        let measured = match &c.measured_latency_us {
            Some(p) => format!(
                "measured p1 {:.1} p25 {:.1} p50 {:.1} p75 {:.1} p99 {:.1} max {:.1} us",
                p.p1, p.p25, p.p50, p.p75, p.p99, p.max
            ),
            None => "no measured latency".into(),
        };
        let place = match c.model_percentile {
            Some(q) => format!("; the model falls at percentile {q:.1}"),
            None => String::new(),
        };
        let _ = writeln!(s, "\nchain: {model}; {measured}{place}");
        if !c.model.complete {
            let _ = writeln!(
                s,
                "\nunavailable (not counted as zero; a partial sum covers the known terms only):"
            );
            let mut seen = BTreeMap::new();
            for n in &self.nfs {
                for (t, why) in &n.model.unavailable {
                    seen.entry(why.clone())
                        .or_insert_with(Vec::new)
                        .push(format!("{}:{t}", n.name));
                }
            }
            for (why, terms) in seen {
                let _ = writeln!(s, "  {}: {why}", terms.join(", "));
            }
        }
        s
    }
}

impl std::fmt::Display for ProfileReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render_table())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_and_placement() {
        let samples: Vec<f64> = (1..=100).map(|x| x as f64).collect();
        let p = Percentiles::from_samples(&samples).unwrap();
        assert_eq!(p.p1, 1.0);
        assert_eq!(p.p50, 50.0);
        assert_eq!(p.p99, 99.0);
        assert_eq!(p.max, 100.0);
        assert_eq!((p.min, p.mean, p.p999, p.count), (1.0, 50.5, 100.0, 100));
        assert!((p.stdev - 833.25f64.sqrt()).abs() < 1e-9); // (n² - 1) / 12
        assert_eq!(percentile_in_samples(10.0, &samples), Some(10.0));
        assert!((p.percentile_of(37.5) - 37.5).abs() < 1e-9);
        assert_eq!(p.percentile_of(1000.0), 100.0);
        assert!(p.percentile_of(0.5) < 1.0);
        assert_eq!(
            percentile_in_buckets(2.0, [(1.0, 1), (2.0, 1), (3.0, 2)]),
            Some(50.0)
        );
        assert_eq!(percentile_in_buckets(2.0, []), None);
        assert!(Percentiles::from_samples(&[]).is_none());
    }

    fn input(name: &str, pid: i32) -> NfInput {
        let mut counters = BTreeMap::new();
        counters.insert("context_switches".into(), Measure::Value(100.0));
        counters.insert("net_syscalls".into(), Measure::Value(2000.0));
        counters.insert("l1d_loads".into(), Measure::unavailable("no hardware PMU"));
        NfInput {
            name: name.into(),
            counters: ProcessCounters {
                pid,
                counters,
                sched: Some(SchedMetrics {
                    run_ns: 100,
                    runqueue_wait_ns: 50,
                    wait_ns: 1000,
                    wait_over_run: Some(10.0),
                    contention_over_run: Some(0.5),
                    ..Default::default()
                }),
                sched_unavailable: None,
                elapsed_ns: 1150,
            },
            packets: Measure::Value(1000.0),
            policy: Policy::Other,
            simulated: None,
        }
    }

    #[test]
    fn report_json_has_contract_keys() {
        let nfs = [input("a", 1), input("b", 2)];
        let samples: Vec<f64> = (0..1000).map(|x| x as f64 / 10.0).collect();
        let r = ProfileReport::build(&nfs, &LatencyTable::paper(), Some(&samples));
        let j = serde_json::to_value(&r).unwrap();
        let nf = &j["nfs"][0];
        for k in ["name", "pid", "sched", "counters", "model"] {
            assert!(nf.get(k).is_some(), "missing nfs[].{k}");
        }
        for k in [
            "run_ns",
            "runqueue_wait_ns",
            "wait_over_run",
            "contention_over_run",
            "voluntary_switches",
            "involuntary_switches",
        ] {
            assert!(nf["sched"].get(k).is_some(), "missing sched.{k}");
        }
        for t in Term::ALL {
            assert!(nf["model"]["terms"].get(t.key()).is_some());
        }
        assert!(nf["model"]["terms"]["L_D1"].is_null());
        assert!(
            nf["model"]["unavailable"]["L_D1"]
                .as_str()
                .unwrap()
                .contains("PMU")
        );
        // 0.1 switches x 1000 ns + 2 syscalls x 41 ns per packet, per NF: a partial sum.
        assert!(nf["model"]["latency_ns_per_packet"].is_null());
        let partial = nf["model"]["latency_ns_per_packet_partial"]
            .as_f64()
            .unwrap();
        assert!((partial - 182.0).abs() < 1e-9);
        assert_eq!(nf["model"]["missing_terms"].as_array().unwrap().len(), 7);
        let ch = &j["chain"];
        assert!(ch["model_latency_us"].is_null());
        assert!((ch["model_latency_us_partial"].as_f64().unwrap() - 0.364).abs() < 1e-9);
        assert_eq!(ch["missing_terms"][0], "L_D1");
        for k in ["p1", "p25", "p50", "p75", "p99", "max"] {
            assert!(ch["measured_latency_us"].get(k).is_some());
        }
        // A partial model is not placed in the measured distribution.
        assert!(ch["model_percentile"].is_null());
        assert_eq!(ch["sched"]["wait_over_run"], 10.0);
        let table = r.render_table();
        assert!(table.contains("chain"));
        assert!(table.contains("no hardware PMU"));
        assert!(table.contains(">=0.18"), "{table}");
        assert!(table.contains("model unknown (partial sum"), "{table}");
        assert!(table.contains("NOT this host's"), "{table}");
    }

    #[test]
    fn complete_model_is_whole_and_placed() {
        let n = input("a", 1);
        // Every term counted: 0.1 switches and 2 syscalls per packet, no memory events.
        let mut c = n.nf_counts();
        for t in Term::ALL {
            if c.events.get(t).value().is_none() {
                *c.events.get_mut(t) = Measure::Value(0.0);
            }
        }
        let mut table = LatencyTable::paper();
        table.source = "test host".into();
        table.l1_dtlb_ns = Some(0.0);
        table.l2_dtlb_ns = Some(1.0);
        let samples: Vec<f64> = (0..1000).map(|x| x as f64 / 10.0).collect();
        let r = ProfileReport::build_from_counts(&[n], &[c], &table, Some(&samples));
        if !r.chain.missing_terms.is_empty() {
            panic!("test input lacks counters: {:?}", r.chain.model.unavailable);
        }
        assert!((r.chain.model_latency_us.unwrap() - 0.182).abs() < 1e-9);
        assert_eq!(r.chain.model_latency_us_partial, None);
        assert!(r.chain.model_percentile.is_some());
        let t = r.render_table();
        assert!(t.contains("model 0.18 us"), "{t}");
        assert!(!t.contains("NOT this host's"), "{t}");
    }

    #[test]
    fn simulated_counts_fill_missing_terms_rescaled() {
        let mut n = input("a", 1);
        let mut sim = NfCounts::unavailable("a", Measure::Value(10.0), "x");
        sim.events.d1 = Measure::Value(1000.0);
        sim.simulated = true;
        n.simulated = Some(sim);
        let c = n.nf_counts();
        assert!(c.simulated);
        assert_eq!(c.events.d1, Measure::Value(100_000.0));
        assert_eq!(c.simulated_terms, ["L_D1"]);
        // The label reaches the model, the JSON and the table.
        let r = ProfileReport::build(&[n], &LatencyTable::paper(), None);
        assert_eq!(r.nfs[0].model.simulated_terms, ["L_D1"]);
        assert_eq!(r.chain.model.simulated_terms, ["L_D1"]);
        let j = serde_json::to_value(&r).unwrap();
        assert_eq!(j["nfs"][0]["model"]["simulated_terms"][0], "L_D1");
        assert!(r.render_table().contains("(simulated: L_D1)"));
    }
}
