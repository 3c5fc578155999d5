//! Simulated memory-hierarchy counts where no PMU exists: valgrind's cachegrind.
//!
//! Run an NF under `valgrind --tool=cachegrind --cache-sim=yes` over a fixed number of
//! packets and map its summary onto the model's events:
//!
//! - L1 hits (`L_D1`) = D refs - D1 misses,
//! - L3 hits (`L_D3`) = D1 misses - LLd misses (cachegrind's last level stands for L3),
//! - L3 misses (`L_DM`) = LLd misses,
//! - L2 hits and all DTLB events are unavailable (cachegrind simulates two levels and no
//!   TLB); context switches and syscalls are not simulated either.
//!
//! Run it twice with different packet counts and use [`CachegrindSummary::minus`] so
//! start-up costs cancel out (see `examples/router_cachegrind.rs`).
//!
//! The result is labelled `simulated` everywhere it appears. Cachegrind sees **user-space**
//! accesses only: the kernel's share of packet I/O (copies, skb handling), which dominates
//! the paper's DRAM references, is missing, so the figures are a lower bound. The process
//! runs 20-100x slower under valgrind; only the counts are meaningful, not timings.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{Measure, NfCounts, Policy, Terms};

/// Cachegrind's data-side totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CachegrindSummary {
    /// Data references (reads + writes).
    pub d_refs: u64,
    /// D1 misses (reads + writes).
    pub d1_misses: u64,
    /// Last-level data misses (reads + writes).
    pub lld_misses: u64,
    /// Instructions executed.
    pub instructions: u64,
}

/// Parses the `events:` and `summary:` lines of a cachegrind output file.
pub fn parse_out_file(text: &str) -> Result<CachegrindSummary> {
    let perr = |d: &str| Error::Parse {
        what: "cachegrind output".into(),
        detail: d.into(),
    };
    let events: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("events:"))
        .ok_or_else(|| perr("no events: line"))?
        .split_whitespace()
        .collect();
    let values: Vec<u64> = text
        .lines()
        .find_map(|l| l.strip_prefix("summary:"))
        .ok_or_else(|| perr("no summary: line"))?
        .split_whitespace()
        .map(|v| {
            v.parse::<u64>()
                .map_err(|_| perr("summary value is not an integer"))
        })
        .collect::<Result<_>>()?;
    let get = |name: &str| -> Result<u64> {
        events
            .iter()
            .position(|e| *e == name)
            .and_then(|i| values.get(i).copied())
            .ok_or_else(|| perr(&format!("no {name} event (was --cache-sim=yes given?)")))
    };
    Ok(CachegrindSummary {
        d_refs: get("Dr")? + get("Dw")?,
        d1_misses: get("D1mr")? + get("D1mw")?,
        lld_misses: get("DLmr")? + get("DLmw")?,
        instructions: get("Ir")?,
    })
}

impl CachegrindSummary {
    /// `self - earlier`, field by field (saturating): the work of the packets a longer run
    /// processed beyond a shorter one, without start-up and exit costs.
    pub fn minus(&self, earlier: &CachegrindSummary) -> CachegrindSummary {
        CachegrindSummary {
            d_refs: self.d_refs.saturating_sub(earlier.d_refs),
            d1_misses: self.d1_misses.saturating_sub(earlier.d1_misses),
            lld_misses: self.lld_misses.saturating_sub(earlier.lld_misses),
            instructions: self.instructions.saturating_sub(earlier.instructions),
        }
    }

    /// Maps the summary onto the model's events for `packets` packets (see module docs).
    pub fn nf_counts(&self, name: &str, packets: u64) -> NfCounts {
        let two_levels = "cachegrind simulates only D1 and a last level, no L2";
        let no_tlb = "cachegrind does not simulate TLBs";
        let not_sim = "not simulated: take it from the perf session";
        NfCounts {
            name: name.to_string(),
            packets: Measure::Value(packets as f64),
            policy: Policy::Other,
            events: Terms {
                d1: Measure::Value(self.d_refs.saturating_sub(self.d1_misses) as f64),
                d2: Measure::unavailable(two_levels),
                d3: Measure::Value(self.d1_misses.saturating_sub(self.lld_misses) as f64),
                dm: Measure::Value(self.lld_misses as f64),
                t1: Measure::unavailable(no_tlb),
                t2: Measure::unavailable(no_tlb),
                tm: Measure::unavailable(no_tlb),
                cs: Measure::unavailable(not_sim),
                sc: Measure::unavailable(not_sim),
            },
            simulated: true,
            simulated_terms: vec!["L_D1".into(), "L_D3".into(), "L_DM".into()],
        }
    }
}

/// A last-level cache cachegrind accepts, `(size_bytes, associativity, line_bytes)`, close to
/// a host cache of `size` bytes with `line`-byte lines: cachegrind needs a power-of-two set
/// count, so the first associativity of 16, 12, 20, 24, 11, 8, 4, 2, 1 that gives one is
/// taken; failing that, the size is rounded down to a power of two (16-way).
pub fn ll_config(size: u64, line: u32) -> (u64, u32, u32) {
    let line = if line.is_power_of_two() { line } else { 64 };
    for assoc in [16u32, 12, 20, 24, 11, 8, 4, 2, 1] {
        let way = u64::from(assoc) * u64::from(line);
        if size >= way && size % way == 0 && (size / way).is_power_of_two() {
            return (size, assoc, line);
        }
    }
    let floor = if size == 0 {
        16 * u64::from(line)
    } else {
        1u64 << (63 - size.leading_zeros())
    };
    (floor.max(16 * u64::from(line)), 16, line)
}

/// Whether valgrind is installed (its version string), or why not.
pub fn detect() -> std::result::Result<String, String> {
    match Command::new("valgrind").arg("--version").output() {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_string()),
        Ok(o) => Err(format!("valgrind --version failed: {}", o.status)),
        Err(e) => Err(format!("valgrind not found: {e}")),
    }
}

/// Runs `program args` under cachegrind (which must process a fixed number of packets and
/// exit) and returns its summary. `ll` optionally sets the simulated last level as
/// `(size_bytes, associativity, line_bytes)` (valgrind's CPUID-based guess is often wrong in
/// VMs). The output file is written in `workdir` and removed.
pub fn run(
    program: &Path,
    args: &[String],
    ll: Option<(u64, u32, u32)>,
    workdir: &Path,
) -> Result<CachegrindSummary> {
    let out: PathBuf = workdir.join(format!("scc-cachegrind.{}.out", std::process::id()));
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=cachegrind")
        .arg("--cache-sim=yes")
        .arg(format!("--cachegrind-out-file={}", out.display()));
    if let Some((size, assoc, line)) = ll {
        cmd.arg(format!("--LL={size},{assoc},{line}"));
    }
    cmd.arg("--").arg(program).args(args);
    let o = cmd.output().map_err(|e| Error::io("spawn valgrind", e))?;
    let text = std::fs::read_to_string(&out);
    let _ = std::fs::remove_file(&out);
    if !o.status.success() {
        // valgrind's own complaint (a `valgrind: ...` line) says more than its last line.
        let err = String::from_utf8_lossy(&o.stderr);
        let why = err
            .lines()
            .find(|l| l.starts_with("valgrind:") && !l.contains("Use --help"))
            .or_else(|| err.lines().rfind(|l| !l.trim().is_empty()))
            .unwrap_or("");
        return Err(Error::Invalid(format!(
            "valgrind exited with {}: {why}",
            o.status
        )));
    }
    let text = text.map_err(|e| Error::io(format!("read {}", out.display()), e))?;
    parse_out_file(&text)
}

/// How to simulate one NF: a program that processes a fixed number of packets and exits,
/// run under cachegrind for two packet counts so start-up and exit costs cancel out.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    /// The NF's name (for the counts).
    pub name: String,
    /// The program to run under valgrind.
    pub program: PathBuf,
    /// Its arguments for the short run (`packets.0` packets).
    pub short_args: Vec<String>,
    /// Its arguments for the long run (`packets.1` packets).
    pub long_args: Vec<String>,
    /// The packets the two runs process (`short < long`).
    pub packets: (u64, u64),
    /// The simulated last level as `(size_bytes, associativity, line_bytes)`.
    pub ll: Option<(u64, u32, u32)>,
}

/// The per-packet difference of two runs: `long - short` over `long_packets -
/// short_packets` packets, mapped onto the model's events (see the module docs). An error
/// when the longer run did not process more packets.
pub fn difference_counts(
    name: &str,
    short: &CachegrindSummary,
    long: &CachegrindSummary,
    packets: (u64, u64),
) -> Result<NfCounts> {
    if packets.1 <= packets.0 {
        return Err(Error::Invalid(format!(
            "simulation packet counts must grow: {} then {}",
            packets.0, packets.1
        )));
    }
    Ok(long.minus(short).nf_counts(name, packets.1 - packets.0))
}

impl Simulation {
    /// Runs the program under cachegrind twice (in `workdir`) and returns the simulated
    /// counts of `packets.1 - packets.0` packets.
    pub fn run(&self, workdir: &Path) -> Result<NfCounts> {
        let short = run(&self.program, &self.short_args, self.ll, workdir)?;
        let long = run(&self.program, &self.long_args, self.ll, workdir)?;
        difference_counts(&self.name, &short, &long, self.packets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_out_file() {
        let t = "desc: D1 cache: 32768 B\ncmd: x\nevents: Ir I1mr ILmr Dr D1mr DLmr Dw D1mw DLmw \nfl=a\n1 2 3\nsummary: 100 1 1 40 5 2 10 3 1\n";
        let s = parse_out_file(t).unwrap();
        assert_eq!(s.d_refs, 50);
        assert_eq!(s.d1_misses, 8);
        assert_eq!(s.lld_misses, 3);
        assert_eq!(s.instructions, 100);
        let c = s.nf_counts("nf", 10);
        assert!(c.simulated);
        assert_eq!(c.events.d1, Measure::Value(42.0));
        assert_eq!(c.events.d3, Measure::Value(5.0));
        assert_eq!(c.events.dm, Measure::Value(3.0));
        assert!(c.events.d2.value().is_none());
        assert_eq!(c.simulated_terms, ["L_D1", "L_D3", "L_DM"]);
        assert!(parse_out_file("events: Ir\n").is_err());
        assert!(parse_out_file("events: Ir\nsummary: 5\n").is_err());
    }

    #[test]
    fn ll_configs_have_power_of_two_sets() {
        assert_eq!(ll_config(32 << 20, 64), (32 << 20, 16, 64));
        // 30 MiB: 12-way gives 40960 sets (no), 20-way 24576 (no), 24-way 20480 (no) ...
        for size in [30u64 << 20, 45 << 20, 105 << 20, 3 << 20, 0, 1000] {
            let (s, a, l) = ll_config(size, 64);
            let sets = s / (u64::from(a) * u64::from(l));
            assert!(
                sets.is_power_of_two() && s % (u64::from(a) * u64::from(l)) == 0,
                "{size}: {s} {a} {l}"
            );
        }
        assert_eq!(ll_config(12 << 20, 64), (12 << 20, 12, 64));
    }

    #[test]
    fn difference_of_two_runs_per_packet() {
        let short = CachegrindSummary {
            d_refs: 1000,
            d1_misses: 100,
            lld_misses: 10,
            instructions: 5000,
        };
        let long = CachegrindSummary {
            d_refs: 3000,
            d1_misses: 300,
            lld_misses: 30,
            instructions: 9000,
        };
        let c = difference_counts("r", &short, &long, (10, 110)).unwrap();
        assert_eq!(c.packets, Measure::Value(100.0));
        assert_eq!(c.events.d1, Measure::Value(1800.0));
        assert_eq!(c.events.d3, Measure::Value(180.0));
        assert_eq!(c.events.dm, Measure::Value(20.0));
        assert!(difference_counts("r", &short, &long, (10, 10)).is_err());
    }
}
