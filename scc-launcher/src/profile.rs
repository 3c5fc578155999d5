//! Profile mode (paper §5.1 "profile" mode, §3.2): the launcher hands the NFs' PIDs to the
//! profiler (scc-profiler counters, schedstat) for the traffic run, then feeds the counts and
//! the NFs' packet counters to the Table 3 model. The JSON follows `scc profile --json` of
//! issue 4 at the top level ([`merge_run_json`]): `nfs` (`name`, `pid`, `sched`, `counters`,
//! `model`) and `chain` (`model_latency_us`, `model_latency_us_partial`, `missing_terms`,
//! `measured_latency_us`, `model_percentile`), with the run report's keys beside them.

use std::path::{Path, PathBuf};

use scc_profiler::cachegrind::Simulation;
use scc_profiler::counters::{ProcessCounters, Session, SessionOptions};
use scc_profiler::model::{LatencyTable, Measure, NfCounts, Policy as ModelPolicy};
use scc_profiler::report::{NfInput, ProfileReport};
use serde_json::{Value, json};

use crate::chain::Chain;
use crate::plan::DeployPlan;
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

/// Packets of the short and the long cachegrind run of `scc profile --simulate` (their
/// difference, 10 000 packets, is what is counted).
pub const SIMULATION_PACKETS: (u64, u64) = (2_000, 12_000);

/// The cachegrind runs for every NF of `plan` (`scc profile --simulate`): the NF's own
/// command line with `--simulate-packets N` (`scc_nf::simulate`: in-memory ports, the chain's
/// probe destination and frame size), run by `exe nf ...` or by `nf_exe`. The simulated last
/// level is this host's L3 ([`scc_profiler::cachegrind::ll_config`]).
pub fn simulations(
    chain: &Chain,
    plan: &DeployPlan,
    exe: &Path,
    nf_exe: Option<&Path>,
) -> Vec<Simulation> {
    let topo = scc_profiler::sysbench::topology();
    let ll = topo
        .l3_bytes
        .map(|s| scc_profiler::cachegrind::ll_config(s, topo.line_bytes.unwrap_or(64)));
    let (dst, size) = chain
        .traffic
        .as_ref()
        .map_or((std::net::Ipv4Addr::new(198, 19, 0, 1), 64), |t| {
            (t.dst_ip, t.mix().first().map_or(64, |m| m.size))
        });
    plan.nfs
        .iter()
        .map(|p| {
            let (program, argv) = match nf_exe {
                Some(nf) => (nf.to_path_buf(), p.argv[1..].to_vec()),
                None => (exe.to_path_buf(), p.argv.clone()),
            };
            let with = |n: u64| {
                let mut a = argv.clone();
                a.extend([
                    "--simulate-packets".into(),
                    n.to_string(),
                    "--simulate-dst".into(),
                    dst.to_string(),
                    "--simulate-frame-size".into(),
                    size.to_string(),
                ]);
                a
            };
            Simulation {
                name: p.name.clone(),
                program,
                short_args: with(SIMULATION_PACKETS.0),
                long_args: with(SIMULATION_PACKETS.1),
                packets: SIMULATION_PACKETS,
                ll,
            }
        })
        .collect()
}

/// Runs [`simulations`] under cachegrind. Returns the simulated counts per NF name, and
/// notes for the report's warnings (valgrind missing, a run that failed).
pub fn simulate(sims: &[Simulation]) -> (Vec<(String, NfCounts)>, Vec<String>) {
    let version = match scc_profiler::cachegrind::detect() {
        Ok(v) => v,
        Err(e) => {
            return (
                Vec::new(),
                vec![format!(
                    "--simulate: cannot simulate ({e}; install valgrind): the memory terms stay unavailable"
                )],
            );
        }
    };
    let dir = std::env::temp_dir();
    let mut out = Vec::new();
    let mut notes = Vec::new();
    for s in sims {
        match s.run(&dir) {
            Ok(c) => out.push((s.name.clone(), c)),
            Err(e) => notes.push(format!(
                "--simulate: NF `{}` under {version} failed: {e}",
                s.name
            )),
        }
    }
    (out, notes)
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
        simulated: &[(String, NfCounts)],
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
                simulated: simulated
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, c)| c.clone()),
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

/// Puts the profiler's report (`profile`, as built by [`Profiling::report`]) at the top level
/// of the run report's JSON (`run`), the `scc profile --json` contract of issue 4:
///
/// - `nfs[i]`: the run report's NF keys (`kind`, `core`, `rx`, `tx`, `drops`, `syscalls`,
///   `exit`, ...) with the profiler's `name`, `pid`, `policy`, `packets`, `sched`, `counters`
///   (the perf counters) and `model` merged in; the NF's own counters object, which the run
///   report calls `counters`, moves to `nf_counters`.
/// - `chain`: the profiler's chain object (`model_latency_us`, `model_latency_us_partial`,
///   `missing_terms`, `measured_latency_us`, `model_percentile`, `model`, `sched`, ...) plus
///   `name`; the chain's name, the run report's `chain`, is also kept as `chain_name`.
/// - `profile`: what is left of the profiler's report (`latency_table`).
///
/// Every other key of the run report stays as it is.
pub fn merge_run_json(mut run: Value, profile: &Value) -> Value {
    let Some(top) = run.as_object_mut() else {
        return run;
    };
    let name = top.get("chain").cloned().unwrap_or(Value::Null);
    let mut chain = profile.get("chain").cloned().unwrap_or_else(|| json!({}));
    if let Some(c) = chain.as_object_mut() {
        c.insert("name".into(), name.clone());
    }
    top.insert("chain_name".into(), name);
    top.insert("chain".into(), chain);
    let prof_nfs = profile
        .get("nfs")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if let Some(nfs) = top.get_mut("nfs").and_then(Value::as_array_mut) {
        for n in nfs.iter_mut() {
            let Some(obj) = n.as_object_mut() else {
                continue;
            };
            if let Some(own) = obj.remove("counters") {
                obj.insert("nf_counters".into(), own);
            }
            let prof = prof_nfs
                .iter()
                .find(|p| p.get("name").is_some() && p.get("name") == obj.get("name"));
            if let Some(p) = prof.and_then(Value::as_object) {
                for (k, v) in p {
                    obj.insert(k.clone(), v.clone());
                }
            }
        }
    }
    let mut rest = profile.clone();
    if let Some(r) = rest.as_object_mut() {
        r.remove("nfs");
        r.remove("chain");
    }
    top.insert("profile".into(), rest);
    run
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_keys_go_to_the_top_level_beside_the_run_keys() {
        let run = json!({
            "chain": "demo", "mode": "profile", "sent": 10, "received": 9,
            "nfs": [
                {"name": "r1", "kind": "router", "pid": 7, "rx": 10, "tx": 9,
                 "counters": {"frames_in": 10}},
                {"name": "r2", "kind": "router", "pid": 8, "rx": 9, "tx": 9, "counters": null}
            ],
            "profile": {"placeholder": true}
        });
        let profile = json!({
            "nfs": [
                {"name": "r1", "pid": 7, "sched": {"run_ns": 5}, "counters": {"task_clock_ns": 1.0},
                 "model": {"latency_ns_per_packet": null}},
                {"name": "r2", "pid": 8, "sched": null, "counters": {}, "model": {}}
            ],
            "chain": {"model_latency_us": null, "model_latency_us_partial": 0.5,
                      "measured_latency_us": {"p50": 20.0}, "model_percentile": null},
            "latency_table": {"source": "paper"}
        });
        let v = merge_run_json(run, &profile);
        assert_eq!(v["chain"]["model_latency_us_partial"], 0.5);
        assert_eq!(v["chain"]["measured_latency_us"]["p50"], 20.0);
        assert!(v["chain"]["model_percentile"].is_null());
        assert_eq!(v["chain"]["name"], "demo");
        assert_eq!(v["chain_name"], "demo");
        assert_eq!(v["sent"], 10);
        let r1 = &v["nfs"][0];
        assert_eq!(r1["sched"]["run_ns"], 5);
        assert_eq!(r1["counters"]["task_clock_ns"], 1.0);
        assert_eq!(r1["nf_counters"]["frames_in"], 10);
        assert_eq!(r1["kind"], "router");
        assert_eq!(r1["rx"], 10);
        assert!(r1.get("model").is_some());
        assert!(v["nfs"][1]["nf_counters"].is_null());
        assert_eq!(v["profile"]["latency_table"]["source"], "paper");
        assert!(v["profile"].get("nfs").is_none());
    }
}
