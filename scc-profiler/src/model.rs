//! The per-packet latency model of the paper's Table 3 (pure: no OS access).
//!
//! ```text
//! Latency/Pkt = L_D1 + L_D2 + L_D3 + L_DM + L_T1 + L_T2 + L_TM + L_CS + L_SC
//! ```
//!
//! | term | event count (per packet)        | latency from the [`LatencyTable`] |
//! |------|---------------------------------|-----------------------------------|
//! | L_D1 | L1 data-cache hits              | `l1_ns`                           |
//! | L_D2 | L2 hits                         | `l2_ns`                           |
//! | L_D3 | L3 hits                         | `l3_ns`                           |
//! | L_DM | L3 misses                       | `dram_ns`                         |
//! | L_T1 | L1 DTLB hits                    | `l1_dtlb_ns`                      |
//! | L_T2 | L2 DTLB (STLB) hits             | `l2_dtlb_ns`                      |
//! | L_TM | L2 DTLB misses                  | `dram_ns`                         |
//! | L_CS | context switches                | `context_switch_ns[policy]`       |
//! | L_SC | network-I/O system calls        | `syscall_ns`                      |
//!
//! A term whose count or latency is unknown is `None` and carries a reason; it is never
//! counted as zero. The latency per packet ([`ModelResult::latency_ns_per_packet`]) is the
//! sum of all nine terms, so it is `None` as soon as one is missing; the sum of the known
//! terms is then given separately as [`ModelResult::latency_ns_per_packet_partial`], with
//! the missing terms listed in [`ModelResult::missing_terms`] (a lower bound, never printed
//! as if whole).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A measured quantity, or the reason it could not be measured.
///
/// Serialised as a bare number, or as `{"unavailable": "reason"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Measure {
    /// The measured value.
    Value(f64),
    /// The value could not be measured on this host.
    Unavailable {
        /// Why not (e.g. "no hardware PMU in this VM").
        unavailable: String,
    },
}

impl Measure {
    /// An unavailable measure with its reason.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Measure::Unavailable {
            unavailable: reason.into(),
        }
    }

    /// The value, if measured.
    pub fn value(&self) -> Option<f64> {
        match self {
            Measure::Value(v) => Some(*v),
            Measure::Unavailable { .. } => None,
        }
    }

    /// The value or the reason.
    pub fn as_result(&self) -> Result<f64, &str> {
        match self {
            Measure::Value(v) => Ok(*v),
            Measure::Unavailable { unavailable } => Err(unavailable),
        }
    }
}

impl From<f64> for Measure {
    fn from(v: f64) -> Self {
        Measure::Value(v)
    }
}

impl From<u64> for Measure {
    fn from(v: u64) -> Self {
        Measure::Value(v as f64)
    }
}

/// A Linux scheduling policy (the context-switch latency depends on it, Table 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// SCHED_OTHER (CFS / EEVDF default).
    #[default]
    Other,
    /// SCHED_BATCH.
    Batch,
    /// SCHED_FIFO (real time).
    Fifo,
    /// SCHED_RR (real time).
    Rr,
}

impl Policy {
    /// All four policies, in Table 2's order.
    pub const ALL: [Policy; 4] = [Policy::Other, Policy::Batch, Policy::Fifo, Policy::Rr];

    /// The lowercase name used in JSON (`other`, `batch`, `fifo`, `rr`): scc-sched's name.
    pub fn name(self) -> &'static str {
        scc_sched::PolicyKind::from(self).name()
    }

    /// Maps a kernel policy number (`sched_getscheduler`) to a policy through scc-sched's
    /// numbering; SCHED_IDLE and SCHED_DEADLINE map to `None`.
    pub fn from_kernel(policy: i32) -> Option<Policy> {
        let raw = u32::try_from(policy).ok()?;
        Policy::try_from(scc_sched::PolicyKind::from_raw(raw)).ok()
    }

    /// The kernel's policy number (scc-sched's).
    pub fn to_kernel(self) -> i32 {
        scc_sched::PolicyKind::from(self).to_raw() as i32
    }
}

/// The model's policies are four of scc-sched's: one definition of names and kernel numbers.
impl From<Policy> for scc_sched::PolicyKind {
    fn from(p: Policy) -> Self {
        match p {
            Policy::Other => scc_sched::PolicyKind::Other,
            Policy::Batch => scc_sched::PolicyKind::Batch,
            Policy::Fifo => scc_sched::PolicyKind::Fifo,
            Policy::Rr => scc_sched::PolicyKind::Rr,
        }
    }
}

/// scc-sched's policies the model has a context-switch latency for (Table 2); the others
/// (`idle`, `deadline`, ...) come back as the error.
impl TryFrom<scc_sched::PolicyKind> for Policy {
    type Error = scc_sched::PolicyKind;
    fn try_from(k: scc_sched::PolicyKind) -> Result<Self, Self::Error> {
        match k {
            scc_sched::PolicyKind::Other => Ok(Policy::Other),
            scc_sched::PolicyKind::Batch => Ok(Policy::Batch),
            scc_sched::PolicyKind::Fifo => Ok(Policy::Fifo),
            scc_sched::PolicyKind::Rr => Ok(Policy::Rr),
            other => Err(other),
        }
    }
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Context-switch latency per policy, in ns (`None`: not measured, see the table's notes).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PerPolicy {
    /// SCHED_OTHER.
    pub other: Option<f64>,
    /// SCHED_BATCH.
    pub batch: Option<f64>,
    /// SCHED_FIFO.
    pub fifo: Option<f64>,
    /// SCHED_RR.
    pub rr: Option<f64>,
}

impl PerPolicy {
    /// The value for one policy.
    pub fn get(&self, p: Policy) -> Option<f64> {
        match p {
            Policy::Other => self.other,
            Policy::Batch => self.batch,
            Policy::Fifo => self.fifo,
            Policy::Rr => self.rr,
        }
    }

    /// Sets the value for one policy.
    pub fn set(&mut self, p: Policy, v: Option<f64>) {
        match p {
            Policy::Other => self.other = v,
            Policy::Batch => self.batch = v,
            Policy::Fifo => self.fifo = v,
            Policy::Rr => self.rr = v,
        }
    }
}

/// The primitive latencies the model multiplies counts with (the paper's Table 2 and the
/// worst cases of Fig. 3, or this host's `sysbench` results).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LatencyTable {
    /// Where the values come from (`paper`, `sysbench quick on <host>`, ...).
    pub source: String,
    /// L1 data-cache hit latency (ns).
    pub l1_ns: Option<f64>,
    /// L2 hit latency (ns).
    pub l2_ns: Option<f64>,
    /// L3 hit latency (ns).
    pub l3_ns: Option<f64>,
    /// Main-memory access latency (ns); used for L3 misses and L2 DTLB misses (Table 3).
    pub dram_ns: Option<f64>,
    /// Extra latency of an L1 DTLB hit (ns).
    pub l1_dtlb_ns: Option<f64>,
    /// Extra latency of an L2 DTLB (STLB) hit (ns).
    pub l2_dtlb_ns: Option<f64>,
    /// Context-switch latency per scheduling policy (ns).
    pub context_switch_ns: PerPolicy,
    /// Latency of one network-I/O system call (ns).
    pub syscall_ns: Option<f64>,
    /// Why a value is missing or how it was chosen, keyed by field name.
    #[serde(default)]
    pub notes: BTreeMap<String, String>,
}

impl LatencyTable {
    /// The paper's own values: Table 2 (context switches, network-I/O system call) and the
    /// worst case per level of Fig. 3 as stated in §3.2.2 (L1 1.18 ns, L2 5 ns, L3 14.3 ns,
    /// main memory 71.7 ns). The paper gives no DTLB hit latencies, so `L_T1`/`L_T2` are
    /// unavailable with this preset unless set by the caller.
    pub fn paper() -> Self {
        let mut notes = BTreeMap::new();
        notes.insert(
            "l1_dtlb_ns".into(),
            "the paper gives no L1 DTLB hit latency (Table 2, Fig. 3)".into(),
        );
        notes.insert(
            "l2_dtlb_ns".into(),
            "the paper gives no L2 DTLB hit latency (Table 2, Fig. 3)".into(),
        );
        notes.insert(
            "memory".into(),
            "worst case per level over strides 64..1024 B, Fig. 3 / §3.2.2 (Xeon E5-2667 v3)"
                .into(),
        );
        LatencyTable {
            source: "paper".into(),
            l1_ns: Some(1.18),
            l2_ns: Some(5.0),
            l3_ns: Some(14.3),
            dram_ns: Some(71.7),
            l1_dtlb_ns: None,
            l2_dtlb_ns: None,
            context_switch_ns: PerPolicy {
                other: Some(1000.0),
                batch: Some(1140.0),
                fifo: Some(940.0),
                rr: Some(940.0),
            },
            syscall_ns: Some(41.0),
            notes,
        }
    }

    /// A named preset (`paper` is the only one built in).
    pub fn preset(name: &str) -> Option<Self> {
        match name {
            "paper" => Some(Self::paper()),
            _ => None,
        }
    }

    fn note(&self, field: &str) -> String {
        self.notes
            .get(field)
            .cloned()
            .unwrap_or_else(|| format!("latency table '{}' has no {field}", self.source))
    }
}

/// One of Table 3's nine terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Term {
    /// L1 data hits.
    D1,
    /// L2 hits.
    D2,
    /// L3 hits.
    D3,
    /// L3 misses (main memory).
    DM,
    /// L1 DTLB hits.
    T1,
    /// L2 DTLB hits.
    T2,
    /// L2 DTLB misses (page walk to memory).
    TM,
    /// Context switches.
    CS,
    /// Network-I/O system calls.
    SC,
}

impl Term {
    /// All nine terms in Table 3's order.
    pub const ALL: [Term; 9] = [
        Term::D1,
        Term::D2,
        Term::D3,
        Term::DM,
        Term::T1,
        Term::T2,
        Term::TM,
        Term::CS,
        Term::SC,
    ];

    /// The JSON key (`L_D1` ... `L_SC`).
    pub fn key(self) -> &'static str {
        match self {
            Term::D1 => "L_D1",
            Term::D2 => "L_D2",
            Term::D3 => "L_D3",
            Term::DM => "L_DM",
            Term::T1 => "L_T1",
            Term::T2 => "L_T2",
            Term::TM => "L_TM",
            Term::CS => "L_CS",
            Term::SC => "L_SC",
        }
    }
}

/// One value per Table 3 term, serialised with the keys `L_D1` ... `L_SC`.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Terms<T> {
    /// L1 data hits.
    #[serde(rename = "L_D1")]
    pub d1: T,
    /// L2 hits.
    #[serde(rename = "L_D2")]
    pub d2: T,
    /// L3 hits.
    #[serde(rename = "L_D3")]
    pub d3: T,
    /// L3 misses.
    #[serde(rename = "L_DM")]
    pub dm: T,
    /// L1 DTLB hits.
    #[serde(rename = "L_T1")]
    pub t1: T,
    /// L2 DTLB hits.
    #[serde(rename = "L_T2")]
    pub t2: T,
    /// L2 DTLB misses.
    #[serde(rename = "L_TM")]
    pub tm: T,
    /// Context switches.
    #[serde(rename = "L_CS")]
    pub cs: T,
    /// Network-I/O system calls.
    #[serde(rename = "L_SC")]
    pub sc: T,
}

impl<T> Terms<T> {
    /// The value of one term.
    pub fn get(&self, t: Term) -> &T {
        match t {
            Term::D1 => &self.d1,
            Term::D2 => &self.d2,
            Term::D3 => &self.d3,
            Term::DM => &self.dm,
            Term::T1 => &self.t1,
            Term::T2 => &self.t2,
            Term::TM => &self.tm,
            Term::CS => &self.cs,
            Term::SC => &self.sc,
        }
    }

    /// The value of one term, mutably.
    pub fn get_mut(&mut self, t: Term) -> &mut T {
        match t {
            Term::D1 => &mut self.d1,
            Term::D2 => &mut self.d2,
            Term::D3 => &mut self.d3,
            Term::DM => &mut self.dm,
            Term::T1 => &mut self.t1,
            Term::T2 => &mut self.t2,
            Term::TM => &mut self.tm,
            Term::CS => &mut self.cs,
            Term::SC => &mut self.sc,
        }
    }

    /// Builds a value per term.
    pub fn from_fn(mut f: impl FnMut(Term) -> T) -> Self {
        Terms {
            d1: f(Term::D1),
            d2: f(Term::D2),
            d3: f(Term::D3),
            dm: f(Term::DM),
            t1: f(Term::T1),
            t2: f(Term::T2),
            tm: f(Term::TM),
            cs: f(Term::CS),
            sc: f(Term::SC),
        }
    }
}

/// The event counts of one NF over a measurement (totals, not per packet), the model's input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NfCounts {
    /// The NF's name.
    pub name: String,
    /// Packets the NF processed during the measurement.
    pub packets: Measure,
    /// The NF's scheduling policy (selects the context-switch latency).
    #[serde(default)]
    pub policy: Policy,
    /// The event count behind each term (L1 hits, L2 hits, L3 hits, L3 misses, L1 DTLB hits,
    /// L2 DTLB hits, L2 DTLB misses, context switches, network-I/O syscalls).
    pub events: Terms<Measure>,
    /// Whether the memory-hierarchy counts come from a simulation (cachegrind) rather than
    /// hardware counters.
    #[serde(default)]
    pub simulated: bool,
    /// The terms (`L_D1` ...) whose event counts are simulated, not counted.
    #[serde(default)]
    pub simulated_terms: Vec<String>,
}

impl NfCounts {
    /// Counts with every event unavailable for `reason`; fill in what was measured.
    pub fn unavailable(name: impl Into<String>, packets: Measure, reason: &str) -> Self {
        NfCounts {
            name: name.into(),
            packets,
            policy: Policy::Other,
            events: Terms::from_fn(|_| Measure::unavailable(reason)),
            simulated: false,
            simulated_terms: Vec::new(),
        }
    }
}

/// Memory references per packet by level, Table 4's third column.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct LevelRefs {
    /// L1 data hits per packet.
    pub l1: Option<f64>,
    /// L2 hits per packet.
    pub l2: Option<f64>,
    /// L3 hits per packet.
    pub l3: Option<f64>,
    /// Main-memory references per packet: L3 misses plus L2 DTLB misses when known (§3.2.3).
    pub dram: Option<f64>,
}

/// The model's output for one NF or a whole chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// Sum of all nine terms (ns per packet); `null` when any term is unavailable (then see
    /// `latency_ns_per_packet_partial` and `missing_terms`).
    pub latency_ns_per_packet: Option<f64>,
    /// When a term is unavailable: the sum of the known terms only (ns per packet, a lower
    /// bound); `null` when the model is complete.
    pub latency_ns_per_packet_partial: Option<f64>,
    /// The keys (`L_D1` ...) of the terms missing from the sum, in Table 3's order; empty
    /// when complete.
    pub missing_terms: Vec<String>,
    /// Each term in ns per packet; `null` when unavailable (reason in `unavailable`).
    pub terms: Terms<Option<f64>>,
    /// Why a term is unavailable, keyed by term (`L_T1`, ...).
    pub unavailable: BTreeMap<String, String>,
    /// Events per packet behind each term.
    pub events_per_packet: Terms<Option<f64>>,
    /// Share of each term in the sum of the known terms, in percent (Table 4's last
    /// column); with missing terms the shares are of the partial sum.
    pub shares_percent: Terms<Option<f64>>,
    /// Memory references per packet per level (Table 4's third column).
    pub refs_per_packet: LevelRefs,
    /// True when all nine terms are known.
    pub complete: bool,
    /// True when memory-hierarchy counts are simulated (cachegrind), not counted by hardware.
    pub simulated: bool,
    /// The terms computed from simulated counts (labelled `simulated` in the table); for a
    /// chain, those simulated for any NF.
    pub simulated_terms: Vec<String>,
}

impl ModelResult {
    /// `latency_ns_per_packet` in microseconds (`None` when a term is missing).
    pub fn latency_us(&self) -> Option<f64> {
        self.latency_ns_per_packet.map(|ns| ns / 1000.0)
    }

    /// The sum of the known terms (ns per packet): the whole latency when complete, the
    /// partial sum otherwise.
    pub fn known_sum_ns(&self) -> f64 {
        self.latency_ns_per_packet
            .or(self.latency_ns_per_packet_partial)
            .unwrap_or(0.0)
    }

    /// Sets the known sum: whole when `complete`, else partial.
    fn set_sum(&mut self, total: f64) {
        if self.complete {
            self.latency_ns_per_packet = Some(total);
            self.latency_ns_per_packet_partial = None;
        } else {
            self.latency_ns_per_packet = None;
            self.latency_ns_per_packet_partial = Some(total);
        }
    }

    fn from_terms(
        terms: Terms<Option<f64>>,
        events_per_packet: Terms<Option<f64>>,
        unavailable: BTreeMap<String, String>,
        simulated: bool,
    ) -> Self {
        let total: f64 = Term::ALL.iter().filter_map(|t| *terms.get(*t)).sum();
        let shares_percent = Terms::from_fn(|t| {
            terms
                .get(t)
                .map(|v| if total > 0.0 { v / total * 100.0 } else { 0.0 })
        });
        let dram = match (events_per_packet.dm, events_per_packet.tm) {
            (Some(a), Some(b)) => Some(a + b),
            (Some(a), None) => Some(a),
            (None, _) => None,
        };
        let refs_per_packet = LevelRefs {
            l1: events_per_packet.d1,
            l2: events_per_packet.d2,
            l3: events_per_packet.d3,
            dram,
        };
        let missing_terms: Vec<String> = Term::ALL
            .iter()
            .filter(|t| terms.get(**t).is_none())
            .map(|t| t.key().to_string())
            .collect();
        let complete = missing_terms.is_empty();
        let mut r = ModelResult {
            latency_ns_per_packet: None,
            latency_ns_per_packet_partial: None,
            missing_terms,
            terms,
            unavailable,
            events_per_packet,
            shares_percent,
            refs_per_packet,
            complete,
            simulated,
            simulated_terms: Vec::new(),
        };
        r.set_sum(total);
        r
    }
}

/// The latency used for one term, or the reason it is missing.
fn term_latency(table: &LatencyTable, term: Term, policy: Policy) -> Result<f64, String> {
    let (v, field) = match term {
        Term::D1 => (table.l1_ns, "l1_ns"),
        Term::D2 => (table.l2_ns, "l2_ns"),
        Term::D3 => (table.l3_ns, "l3_ns"),
        Term::DM | Term::TM => (table.dram_ns, "dram_ns"),
        Term::T1 => (table.l1_dtlb_ns, "l1_dtlb_ns"),
        Term::T2 => (table.l2_dtlb_ns, "l2_dtlb_ns"),
        Term::CS => {
            let v = table.context_switch_ns.get(policy);
            return v.ok_or_else(|| {
                let key = format!("context_switch_ns.{}", policy.name());
                table.note(&key)
            });
        }
        Term::SC => (table.syscall_ns, "syscall_ns"),
    };
    match v {
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x),
        Some(x) => Err(format!("latency table {field} is not a valid latency: {x}")),
        None => Err(table.note(field)),
    }
}

/// Applies Table 3 to one NF's counts.
pub fn model_nf(counts: &NfCounts, table: &LatencyTable) -> ModelResult {
    let mut unavailable = BTreeMap::new();
    let packets = match counts.packets.as_result() {
        Ok(p) if p > 0.0 && p.is_finite() => Ok(p),
        Ok(p) => Err(format!("no packets counted for NF {} ({p})", counts.name)),
        Err(r) => Err(format!("packet count unavailable: {r}")),
    };
    let mut events_pp = Terms::from_fn(|_| None);
    let terms = Terms::from_fn(|t| {
        let per_packet = match (&packets, counts.events.get(t).as_result()) {
            (Ok(p), Ok(c)) if c.is_finite() && c >= 0.0 => Ok(c / p),
            (Ok(_), Ok(c)) => Err(format!("invalid event count {c}")),
            (Err(r), _) => Err(r.clone()),
            (Ok(_), Err(r)) => Err(r.to_string()),
        };
        if let Ok(pp) = per_packet {
            *events_pp.get_mut(t) = Some(pp);
        }
        match per_packet.and_then(|pp| term_latency(table, t, counts.policy).map(|l| pp * l)) {
            Ok(ns) => Some(ns),
            Err(reason) => {
                unavailable.insert(t.key().to_string(), reason);
                None
            }
        }
    });
    let mut r = ModelResult::from_terms(terms, events_pp, unavailable, counts.simulated);
    r.simulated_terms = Term::ALL
        .iter()
        .map(|t| t.key().to_string())
        .filter(|k| counts.simulated_terms.contains(k))
        .collect();
    r
}

/// The model of a whole chain: per NF and summed (Table 3's sums over processes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainModel {
    /// Each NF's result, in chain order.
    pub nfs: Vec<(String, ModelResult)>,
    /// The chain's sum: a term is known only if it is known for every NF. The latency is
    /// the sum of the NFs' latencies when every NF is complete; otherwise it is `None` and
    /// the partial latency is the sum of each NF's known terms.
    pub total: ModelResult,
}

/// Applies Table 3 to every NF of a chain and sums the results.
pub fn model_chain(nfs: &[NfCounts], table: &LatencyTable) -> ChainModel {
    let results: Vec<(String, ModelResult)> = nfs
        .iter()
        .map(|c| (c.name.clone(), model_nf(c, table)))
        .collect();
    let mut unavailable = BTreeMap::new();
    let mut sum_terms =
        |get: &dyn Fn(&ModelResult) -> &Terms<Option<f64>>, record: bool| -> Terms<Option<f64>> {
            Terms::from_fn(|t| {
                let mut acc = 0.0;
                for (name, r) in &results {
                    match get(r).get(t) {
                        Some(v) => acc += v,
                        None => {
                            if record {
                                let why = r
                                    .unavailable
                                    .get(t.key())
                                    .cloned()
                                    .unwrap_or_else(|| "unavailable".into());
                                unavailable.insert(t.key().to_string(), format!("{name}: {why}"));
                            }
                            return None;
                        }
                    }
                }
                if results.is_empty() {
                    if record {
                        unavailable.insert(t.key().to_string(), "empty chain".into());
                    }
                    return None;
                }
                Some(acc)
            })
        };
    let terms = sum_terms(&|r| &r.terms, true);
    let events = sum_terms(&|r| &r.events_per_packet, false);
    let simulated = results.iter().any(|(_, r)| r.simulated);
    let mut total = ModelResult::from_terms(terms, events, unavailable, simulated);
    total.simulated_terms = Term::ALL
        .iter()
        .map(|t| t.key().to_string())
        .filter(|k| results.iter().any(|(_, r)| r.simulated_terms.contains(k)))
        .collect();
    // The chain's (partial) latency sums each NF's known terms, also those missing elsewhere.
    let lat: f64 = results.iter().map(|(_, r)| r.known_sum_ns()).sum();
    total.set_sum(lat);
    total.shares_percent = Terms::from_fn(|t| {
        total
            .terms
            .get(t)
            .map(|v| if lat > 0.0 { v / lat * 100.0 } else { 0.0 })
    });
    ChainModel {
        nfs: results,
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_scc_sched_policies() {
        // Kernel numbers (sched.h): OTHER 0, FIFO 1, RR 2, BATCH 3, IDLE 5, DEADLINE 6.
        for (p, n, name) in [
            (Policy::Other, 0, "other"),
            (Policy::Fifo, 1, "fifo"),
            (Policy::Rr, 2, "rr"),
            (Policy::Batch, 3, "batch"),
        ] {
            assert_eq!((p.to_kernel(), p.name()), (n, name));
            assert_eq!(Policy::from_kernel(n), Some(p));
        }
        assert_eq!(Policy::from_kernel(5), None);
        assert_eq!(Policy::from_kernel(6), None);
        assert_eq!(Policy::from_kernel(-1), None);
        assert_eq!(
            Policy::try_from(scc_sched::PolicyKind::Idle),
            Err(scc_sched::PolicyKind::Idle)
        );
    }

    fn counts(events: [f64; 9], packets: f64) -> NfCounts {
        NfCounts {
            name: "nf".into(),
            packets: Measure::Value(packets),
            policy: Policy::Other,
            events: Terms::from_fn(|t| {
                let i = Term::ALL.iter().position(|x| *x == t).unwrap();
                Measure::Value(events[i])
            }),
            simulated: false,
            simulated_terms: Vec::new(),
        }
    }

    fn table_all_ones() -> LatencyTable {
        LatencyTable {
            source: "test".into(),
            l1_ns: Some(1.0),
            l2_ns: Some(2.0),
            l3_ns: Some(3.0),
            dram_ns: Some(10.0),
            l1_dtlb_ns: Some(0.5),
            l2_dtlb_ns: Some(4.0),
            context_switch_ns: PerPolicy {
                other: Some(1000.0),
                batch: Some(2000.0),
                fifo: Some(500.0),
                rr: Some(600.0),
            },
            syscall_ns: Some(100.0),
            notes: BTreeMap::new(),
        }
    }

    #[test]
    fn hand_computed_single_nf() {
        // 10 packets; per packet: 100 L1, 10 L2, 5 L3, 2 DRAM, 50 T1, 4 T2, 1 TM, 0.1 CS, 2 SC.
        let c = counts(
            [1000.0, 100.0, 50.0, 20.0, 500.0, 40.0, 10.0, 1.0, 20.0],
            10.0,
        );
        let r = model_nf(&c, &table_all_ones());
        // 100*1 + 10*2 + 5*3 + 2*10 + 50*0.5 + 4*4 + 1*10 + 0.1*1000 + 2*100
        let expect = 100.0 + 20.0 + 15.0 + 20.0 + 25.0 + 16.0 + 10.0 + 100.0 + 200.0;
        assert!((r.latency_ns_per_packet.unwrap() - expect).abs() < 1e-9);
        assert_eq!(r.latency_ns_per_packet_partial, None);
        assert!(r.missing_terms.is_empty());
        assert!(r.complete);
        assert!(r.unavailable.is_empty());
        assert!((r.terms.cs.unwrap() - 100.0).abs() < 1e-9);
        assert!((r.shares_percent.sc.unwrap() - 200.0 / expect * 100.0).abs() < 1e-9);
        assert_eq!(r.refs_per_packet.dram, Some(3.0));
        let share_sum: f64 = Term::ALL
            .iter()
            .map(|t| r.shares_percent.get(*t).unwrap())
            .sum();
        assert!((share_sum - 100.0).abs() < 1e-9);
    }

    #[test]
    fn policy_selects_context_switch_latency() {
        let mut c = counts([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.0], 2.0);
        c.policy = Policy::Batch;
        let r = model_nf(&c, &table_all_ones());
        assert_eq!(r.terms.cs, Some(4000.0));
        c.policy = Policy::Fifo;
        assert_eq!(model_nf(&c, &table_all_ones()).terms.cs, Some(1000.0));
    }

    #[test]
    fn unavailable_counts_are_none_not_zero() {
        let mut c = NfCounts::unavailable("r", Measure::Value(100.0), "no hardware PMU");
        c.events.cs = Measure::Value(10.0);
        c.events.sc = Measure::Value(200.0);
        let r = model_nf(&c, &table_all_ones());
        assert_eq!(r.terms.d1, None);
        assert_eq!(r.unavailable["L_D1"], "no hardware PMU");
        assert!(!r.complete);
        // Not printed as if whole: the sum is null, the partial sum names what is missing.
        assert_eq!(r.latency_ns_per_packet, None);
        assert!(
            (r.latency_ns_per_packet_partial.unwrap() - (0.1 * 1000.0 + 2.0 * 100.0)).abs() < 1e-9
        );
        assert_eq!(
            r.missing_terms,
            ["L_D1", "L_D2", "L_D3", "L_DM", "L_T1", "L_T2", "L_TM"]
        );
        assert_eq!(r.refs_per_packet.l1, None);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["terms"]["L_D1"].is_null());
        assert_eq!(json["terms"]["L_SC"], 200.0);
        assert!(json["latency_ns_per_packet"].is_null());
        assert_eq!(json["latency_ns_per_packet_partial"], 300.0);
        assert_eq!(json["missing_terms"][0], "L_D1");
    }

    #[test]
    fn zero_packets_make_every_term_unavailable() {
        let c = counts([1.0; 9], 0.0);
        let r = model_nf(&c, &table_all_ones());
        assert_eq!(r.unavailable.len(), 9);
        assert_eq!(r.latency_ns_per_packet, None);
        assert_eq!(r.latency_ns_per_packet_partial, Some(0.0));
        assert_eq!(r.missing_terms.len(), 9);
    }

    #[test]
    fn paper_preset_lacks_dtlb_latency_with_reason() {
        let c = counts([1.0; 9], 1.0);
        let r = model_nf(&c, &LatencyTable::paper());
        assert_eq!(r.terms.t1, None);
        assert!(r.unavailable["L_T1"].contains("paper"));
        assert_eq!(r.terms.sc, Some(41.0));
        assert_eq!(r.terms.tm, Some(71.7));
    }

    /// Table 4, User row (64-byte frames, one user-space FastClick router): references per
    /// packet L1/L2/L3/DRAM = 3653/179/65/2964, latency 216.97 us, shares
    /// 1.99/0.29/0.41/96.60 %. DTLB counts are not given (the paper says their share is
    /// 100 minus the others); context switches are "nearly zero" and the router makes at
    /// most 2 network-I/O syscalls per packet.
    #[test]
    fn paper_table4_user_row() {
        let mut c = NfCounts::unavailable(
            "user router",
            Measure::Value(1.0),
            "not reported in Table 4",
        );
        c.events.d1 = Measure::Value(3653.0);
        c.events.d2 = Measure::Value(179.0);
        c.events.d3 = Measure::Value(65.0);
        c.events.dm = Measure::Value(2964.0);
        c.events.cs = Measure::Value(0.0);
        c.events.sc = Measure::Value(2.0);
        let r = model_nf(&c, &LatencyTable::paper());
        // DTLB counts are not in Table 4: the model is partial, the known sum is the row's.
        assert_eq!(r.latency_us(), None);
        assert_eq!(r.missing_terms, ["L_T1", "L_T2", "L_TM"]);
        let us = r.known_sum_ns() / 1000.0;
        assert!(
            (us - 216.97).abs() / 216.97 < 0.03,
            "total {us} us vs 216.97"
        );
        let want = [
            (Term::D1, 1.99),
            (Term::D2, 0.29),
            (Term::D3, 0.41),
            (Term::DM, 96.60),
        ];
        for (t, share) in want {
            let got = r.shares_percent.get(t).unwrap();
            assert!(
                (got - share).abs() < 1.0,
                "{}: {got:.2}% vs {share}%",
                t.key()
            );
        }
        assert_eq!(r.refs_per_packet.dram, Some(2964.0));
    }

    /// §4.2.1: 11647 main-memory references per packet per additional NF at 71.7 ns
    /// "results in 835 us of latency for each additional router".
    #[test]
    fn paper_per_nf_dram_cost() {
        let mut c = NfCounts::unavailable("nf", Measure::Value(1.0), "-");
        c.events.dm = Measure::Value(11647.0);
        let r = model_nf(&c, &LatencyTable::paper());
        let us = r.known_sum_ns() / 1000.0;
        assert!((us - 835.0).abs() < 1.0, "{us}");
    }

    #[test]
    fn chain_sums_nfs() {
        let a = counts([10.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 2.0], 1.0);
        let mut b = counts([20.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0, 2.0], 2.0);
        b.name = "b".into();
        let t = table_all_ones();
        let ch = model_chain(&[a.clone(), b.clone()], &t);
        let la = model_nf(&a, &t).latency_ns_per_packet.unwrap();
        let lb = model_nf(&b, &t).latency_ns_per_packet.unwrap();
        assert!((ch.total.latency_ns_per_packet.unwrap() - (la + lb)).abs() < 1e-9);
        assert_eq!(ch.total.terms.d1, Some(20.0));
        assert_eq!(ch.total.terms.cs, Some(1000.0 + 500.0));
        // A term missing in one NF is missing for the chain, with the NF's reason.
        b.events.d1 = Measure::unavailable("no PMU");
        let ch = model_chain(&[a.clone(), b.clone()], &t);
        assert_eq!(ch.total.terms.d1, None);
        assert!(ch.total.unavailable["L_D1"].contains("no PMU"));
        // The chain is then partial: null whole, partial = each NF's known terms summed.
        assert_eq!(ch.total.latency_ns_per_packet, None);
        assert_eq!(ch.total.missing_terms, ["L_D1"]);
        let pb = model_nf(&b, &t).latency_ns_per_packet_partial.unwrap();
        assert!((ch.total.latency_ns_per_packet_partial.unwrap() - (la + pb)).abs() < 1e-9);
    }

    #[test]
    fn measure_serde_roundtrip() {
        let m = vec![Measure::Value(3.5), Measure::unavailable("x")];
        let s = serde_json::to_string(&m).unwrap();
        assert_eq!(s, r#"[3.5,{"unavailable":"x"}]"#);
        let back: Vec<Measure> = serde_json::from_str(&s).unwrap();
        assert_eq!(back, m);
        let t = LatencyTable::paper();
        let s = toml::to_string(&t).unwrap();
        let back: LatencyTable = toml::from_str(&s).unwrap();
        assert_eq!(back, t);
    }
}
