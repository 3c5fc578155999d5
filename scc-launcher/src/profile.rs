//! Profile mode (paper §5.1 "profile" mode, §3.2): the launcher hands the NFs' PIDs to the
//! profiler (scc-profiler counters, schedstat) for the traffic run, then feeds the counts and
//! the NFs' packet counters to the Table 3 model. The JSON follows `scc profile --json` of
//! issue 4: `nfs` (`name`, `pid`, `sched`, `counters`, `model`) and `chain`
//! (`model_latency_us`, `measured_latency_us`, `model_percentile`).

use std::path::PathBuf;

use scc_profiler::counters::{ProcessCounters, Session, SessionOptions};
use scc_profiler::model::{LatencyTable, Measure, Policy as ModelPolicy};
use scc_profiler::report::{NfInput, ProfileReport};
use serde_json::{Value, json};

use crate::chain::Chain;
use crate::report::NfReport;
use crate::traffic::TrafficReport;

/// Where `scc sysbench` saves this host's latency table (and profile mode reads it).
pub fn host_table_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SCC_LATENCY_TABLE") {
        return PathBuf::from(p);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    base.join("scc").join("sysbench.json")
}

/// The latency table for the model: this host's (saved by `scc sysbench`) or the paper's.
pub fn latency_table() -> (LatencyTable, String) {
    let p = host_table_path();
    match scc_profiler::sysbench::SysbenchReport::load(&p) {
        Ok(r) => (
            r.latency_table(scc_profiler::sysbench::Pick::Worst),
            format!("this host's sysbench ({})", p.display()),
        ),
        Err(_) => (
            LatencyTable::paper(),
            format!(
                "the paper's preset (no host table at {}; run `scc sysbench` to make one)",
                p.display()
            ),
        ),
    }
}

/// An attached profiling session.
pub struct Profiling {
    session: Session,
    names: Vec<(String, u32)>,
    counters: Option<Vec<ProcessCounters>>,
}

impl Profiling {
    /// Attaches the profiler to every NF and starts counting.
    pub fn attach(_chain: &Chain, pids: &[(String, u32)]) -> Result<Self, scc_profiler::Error> {
        let ids: Vec<i32> = pids.iter().map(|(_, p)| *p as i32).collect();
        let mut session = Session::attach(&ids, &SessionOptions::default())?;
        session.start()?;
        Ok(Self {
            session,
            names: pids.to_vec(),
            counters: None,
        })
    }

    /// Stops counting (call before the NFs are stopped).
    pub fn stop(&mut self) -> Result<(), scc_profiler::Error> {
        let c = self.session.stop()?;
        self.counters = Some(c);
        Ok(())
    }

    /// Builds scc-profiler's report (the `scc profile --json` contract) from the counters,
    /// the NFs' packet counts and the traffic's latency; returns it as JSON and as the table.
    pub fn report(
        &self,
        chain: &Chain,
        nfs: &[NfReport],
        traffic: Option<&TrafficReport>,
    ) -> (Value, String) {
        let (table, table_source) = latency_table();
        // The model knows other/batch/fifo/rr; idle (or none) is modelled as other.
        let policy = chain
            .schedule
            .policy
            .and_then(|p| ModelPolicy::try_from(scc_sched::PolicyKind::from(p)).ok())
            .unwrap_or_default();
        let counters = self.counters.clone().unwrap_or_default();
        let mut inputs = Vec::new();
        let mut lost = Vec::new();
        for (name, pid) in &self.names {
            let Some(pc) = counters.iter().find(|c| c.pid == *pid as i32) else {
                lost.push(name.clone());
                continue;
            };
            let packets = match nfs.iter().find(|n| &n.name == name).and_then(|n| n.rx) {
                Some(p) => Measure::Value(p as f64),
                None => Measure::unavailable("the NF printed no packet counters"),
            };
            inputs.push(NfInput {
                name: name.clone(),
                counters: pc.clone(),
                packets,
                policy,
                simulated: None,
            });
        }
        let mut report = ProfileReport::build(&inputs, &table, None);
        if let Some(l) = traffic.and_then(|t| t.latency_us.as_ref()) {
            report.set_measured(*l);
        }
        // The exact rank from the sink's histogram (ns) when it is there.
        // Only a whole model is placed in the distribution (a partial sum is a lower bound).
        if let (Some(h), Some(us)) = (
            traffic
                .and_then(|t| t.histogram())
                .filter(|h| !h.is_empty()),
            report.chain.model_latency_us,
        ) {
            let ns = (us * 1000.0).round().max(0.0) as u64;
            report.chain.model_percentile = Some(h.percentile_below(ns));
        }
        let mut value = serde_json::to_value(&report).unwrap_or(Value::Null);
        if let Some(c) = value.get_mut("chain").and_then(Value::as_object_mut) {
            c.insert("latency_table_source".into(), json!(table_source));
            if !lost.is_empty() {
                c.insert("nfs_not_profiled".into(), json!(lost));
            }
        }
        (value, report.render_table())
    }
}
