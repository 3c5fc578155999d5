//! The whole `scc sysbench` report, the latency table the model reads, and saving/loading.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::SysbenchOptions;
use super::ctxswitch::{CtxSwitch, context_switch, last_core};
use super::memory::{MemPoint, TlbLatency, memory_latency, tlb_latency};
use super::syscalls::{SyscallCost, syscall_cost};
use super::topology::{Level, Topology, topology};
use crate::error::{Error, Result};
use crate::model::{LatencyTable, PerPolicy, Policy};

/// Context-switch results per policy; the values in `context_switch_ns` of the JSON.
pub type CtxSwitchNs = PerPolicy;

/// Everything `scc sysbench` measures. JSON keys `memory`, `context_switch_ns`,
/// `syscall_ns` and `topology` are a contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SysbenchReport {
    /// Random pointer chase: `{working_set_kib, stride_bytes, ns, level}` per point.
    pub memory: Vec<MemPoint>,
    /// lmbench-style strided walk (prefetch-friendly), same shape.
    pub memory_strided: Vec<MemPoint>,
    /// Context-switch latency (net of the pipe cost) per policy: `{other, batch, fifo,
    /// rr}`; `null` when unavailable (see `unavailable`).
    pub context_switch_ns: CtxSwitchNs,
    /// Each context-switch measurement in detail.
    pub context_switch: Vec<CtxSwitch>,
    /// The network-I/O system call's cost (empty non-blocking `recvfrom`), ns.
    pub syscall_ns: f64,
    /// System-call details.
    pub syscalls: SyscallCost,
    /// DTLB measurement, if it ran.
    pub tlb: Option<TlbLatency>,
    /// CPU and cache topology.
    pub topology: Topology,
    /// What could not be measured and why, keyed by item (e.g. `context_switch_ns.fifo`).
    pub unavailable: BTreeMap<String, String>,
    /// `quick` or `full`.
    pub mode: String,
    /// Wall time of the whole run (s).
    pub duration_s: f64,
}

/// How to pick one latency per level from the memory points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pick {
    /// The slowest stride at the level's representative working set (the paper's choice).
    #[default]
    Worst,
    /// The median over strides.
    Median,
    /// The fastest stride.
    Best,
}

impl SysbenchReport {
    /// Runs every benchmark.
    pub fn run(opts: &SysbenchOptions, quick: bool) -> Result<SysbenchReport> {
        let t0 = Instant::now();
        let topology = topology();
        let (memory, memory_strided) = memory_latency(opts, &topology)?;
        let mut unavailable = BTreeMap::new();
        let tlb = match tlb_latency(opts.loads_per_point.min(1_000_000)) {
            Ok(t) => Some(t),
            Err(e) => {
                unavailable.insert("tlb".into(), e.to_string());
                None
            }
        };
        let mut switches = Vec::new();
        let mut cs = PerPolicy::default();
        match last_core() {
            None => {
                for p in Policy::ALL {
                    unavailable.insert(
                        format!("context_switch_ns.{p}"),
                        "cannot read this process's CPU affinity".into(),
                    );
                }
            }
            Some(cpu) => {
                for p in Policy::ALL {
                    match context_switch(p, cpu, opts.round_trips) {
                        Ok(c) => {
                            cs.set(p, Some(c.ns));
                            switches.push(c);
                        }
                        Err(e) => {
                            unavailable.insert(format!("context_switch_ns.{p}"), e.to_string());
                        }
                    }
                }
            }
        }
        let syscalls = syscall_cost(opts.syscalls)?;
        Ok(SysbenchReport {
            memory,
            memory_strided,
            context_switch_ns: cs,
            context_switch: switches,
            syscall_ns: syscalls.recvfrom_ns,
            syscalls,
            tlb,
            topology,
            unavailable,
            mode: if quick { "quick" } else { "full" }.into(),
            duration_s: t0.elapsed().as_secs_f64(),
        })
    }

    /// `run(&SysbenchOptions::quick(), true)`.
    pub fn quick() -> Result<SysbenchReport> {
        Self::run(&SysbenchOptions::quick(), true)
    }

    /// The working set representing each level: L1: the largest <= L1/2; L2: the largest
    /// in (L1, L2/2]; L3: the largest in (L2, 4*L2] (only part of a shared or virtual L3
    /// is really ours: on this VM 4 MiB of a "32 MiB" L3 already behaves like DRAM); DRAM:
    /// the largest measured, if >= 2*L3.
    pub fn representative_ws_kib(&self, level: Level) -> Option<u64> {
        let t = &self.topology;
        let limit = match level {
            Level::L1 => t.l1d_bytes.map(|l| l / 2),
            Level::L2 => t.l2_bytes.map(|l| l / 2),
            Level::L3 => t.l2_bytes.zip(t.l3_bytes).map(|(a, b)| (4 * a).min(b)),
            Level::Dram => None,
        };
        let lower = match level {
            Level::L1 => Some(0),
            Level::L2 => t.l1d_bytes,
            Level::L3 => t.l2_bytes,
            Level::Dram => t.l3_bytes.map(|l| l * 2),
        }?;
        let sizes = self.memory.iter().map(|p| p.working_set_kib * 1024);
        match limit {
            Some(lim) => sizes
                .filter(|s| *s > lower && *s <= lim)
                .max()
                .map(|b| b / 1024),
            None => sizes.filter(|s| *s >= lower).max().map(|b| b / 1024),
        }
    }

    /// One latency for a level: [`Pick`] over the strides at the representative working
    /// set (random chase).
    pub fn level_ns(&self, level: Level, pick: Pick) -> Option<f64> {
        let ws = self.representative_ws_kib(level)?;
        let mut v: Vec<f64> = self
            .memory
            .iter()
            .filter(|p| p.working_set_kib == ws)
            .map(|p| p.ns)
            .collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        Some(match pick {
            Pick::Worst => v[v.len() - 1],
            Pick::Best => v[0],
            Pick::Median => v[v.len() / 2],
        })
    }

    /// The host's latency table for the model.
    pub fn latency_table(&self, pick: Pick) -> LatencyTable {
        let mut notes = BTreeMap::new();
        let mut level = |l: Level, field: &str| {
            let v = self.level_ns(l, pick);
            match (v, self.representative_ws_kib(l)) {
                (Some(_), Some(ws)) => {
                    notes.insert(
                        field.to_string(),
                        format!("random chase, {pick:?} over strides at {ws} KiB"),
                    );
                }
                _ => {
                    notes.insert(
                        field.to_string(),
                        format!(
                            "no working set measured for {l:?} (cache size unknown or not measured)"
                        ),
                    );
                }
            }
            v
        };
        let l1 = level(Level::L1, "l1_ns");
        let l2 = level(Level::L2, "l2_ns");
        let l3 = level(Level::L3, "l3_ns");
        let dram = level(Level::Dram, "dram_ns");
        let (l1_dtlb, l2_dtlb) = match &self.tlb {
            Some(t) => {
                notes.insert(
                    "l1_dtlb_ns".into(),
                    "0: an L1 DTLB hit overlaps the (VIPT) L1 access, its cost is inside l1_ns"
                        .into(),
                );
                notes.insert(
                    "l2_dtlb_ns".into(),
                    format!(
                        "{} pages vs {} pages, one L1-resident line per page",
                        t.large_pages, t.small_pages
                    ),
                );
                (Some(0.0), Some(t.l2_dtlb_hit_ns))
            }
            None => {
                let why = self.unavailable.get("tlb").cloned().unwrap_or_default();
                notes.insert("l1_dtlb_ns".into(), format!("DTLB not measured: {why}"));
                notes.insert("l2_dtlb_ns".into(), format!("DTLB not measured: {why}"));
                (None, None)
            }
        };
        for (k, v) in &self.unavailable {
            notes.insert(k.clone(), v.clone());
        }
        LatencyTable {
            source: format!("sysbench {} ({})", self.mode, self.topology.source),
            l1_ns: l1,
            l2_ns: l2,
            l3_ns: l3,
            dram_ns: dram,
            l1_dtlb_ns: l1_dtlb,
            l2_dtlb_ns: l2_dtlb,
            context_switch_ns: self.context_switch_ns,
            syscall_ns: Some(self.syscall_ns),
            notes,
        }
    }

    /// Saves as JSON (`.json`) or TOML (anything else).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = if path.extension().is_some_and(|e| e == "json") {
            serde_json::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))?
        } else {
            toml::to_string_pretty(self).map_err(|e| Error::Serde(e.to_string()))?
        };
        std::fs::write(path, text).map_err(|e| Error::io(format!("write {}", path.display()), e))
    }

    /// Loads a report saved by [`SysbenchReport::save`].
    pub fn load(path: &Path) -> Result<SysbenchReport> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
        if path.extension().is_some_and(|e| e == "json") {
            serde_json::from_str(&text)
                .map_err(|e| Error::Serde(format!("{}: {e}", path.display())))
        } else {
            toml::from_str(&text).map_err(|e| Error::Serde(format!("{}: {e}", path.display())))
        }
    }
}

/// Loads a latency table: a preset name (`paper`), a saved [`SysbenchReport`] (JSON or
/// TOML; the worst case per level is used) or a saved [`LatencyTable`].
pub fn load_latency_table(spec: &str) -> Result<LatencyTable> {
    if let Some(t) = LatencyTable::preset(spec) {
        return Ok(t);
    }
    let path = Path::new(spec);
    if let Ok(r) = SysbenchReport::load(path) {
        return Ok(r.latency_table(Pick::Worst));
    }
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(format!("read {spec}"), e))?;
    let parsed = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| e.to_string())
    } else {
        toml::from_str(&text).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| {
        Error::Serde(format!(
            "{spec} is neither a sysbench report nor a latency table: {e}"
        ))
    })
}
