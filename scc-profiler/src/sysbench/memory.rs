//! Memory latency by pointer chasing (random and strided, lmbench `lat_mem_rd` style) and
//! the DTLB benchmark. The chain builder is pure and unit-tested.

use std::hint::black_box;
use std::time::Instant;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::SysbenchOptions;
use super::sys;
use super::topology::{Level, Topology};
use crate::error::{Error, Result};

/// One memory-latency point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MemPoint {
    /// Working set (KiB).
    pub working_set_kib: u64,
    /// Distance between the touched elements (bytes).
    pub stride_bytes: u64,
    /// Latency per dependent load (ns).
    pub ns: f64,
    /// The cache level the working set fits in (by the topology's sizes).
    pub level: Level,
}

/// Writes a cyclic chain through `n` slots at word offsets `slot(k)` into `buf`, in
/// sequential (`random == false`) or random single-cycle order (Sattolo's algorithm).
fn build_chain(
    buf: &mut [usize],
    n: usize,
    slot: impl Fn(usize) -> usize,
    random: bool,
    order: &mut Vec<usize>,
) {
    order.clear();
    order.extend(0..n);
    if random {
        // Seeded (the same order every run); the chase only needs an unpredictable order.
        let mut rng = SmallRng::seed_from_u64(0x9E37_79B9_7F4A_7C15 ^ n as u64);
        for i in (1..n).rev() {
            let j = rng.random_range(0..i);
            order.swap(i, j);
        }
    }
    for k in 0..n {
        let from = slot(order[k]);
        let to = slot(order[(k + 1) % n]);
        buf[from] = to;
    }
}

/// Follows the chain for `loads` dependent loads and returns the time per load (ns).
fn chase(buf: &[usize], start: usize, loads: usize) -> f64 {
    let mut i = start;
    // Warm up: one pass (bounded).
    for _ in 0..loads.min(buf.len()) {
        i = buf[i];
    }
    let t = Instant::now();
    let mut k = loads;
    while k >= 8 {
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        i = buf[i];
        k -= 8;
    }
    while k > 0 {
        i = buf[i];
        k -= 1;
    }
    let el = t.elapsed();
    black_box(i);
    el.as_nanos() as f64 / loads.max(1) as f64
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// Measures memory latency for every working set and stride: random chase, and the
/// strided walk if `opts.strided`. Returns `(random, strided)`.
pub fn memory_latency(
    opts: &SysbenchOptions,
    topo: &Topology,
) -> Result<(Vec<MemPoint>, Vec<MemPoint>)> {
    let word = std::mem::size_of::<usize>();
    let max_ws = opts.working_sets.iter().copied().max().unwrap_or(0);
    if max_ws == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    if opts.strides.iter().any(|s| *s < word || s % word != 0) {
        return Err(Error::Invalid(format!(
            "strides must be multiples of {word} bytes: {:?}",
            opts.strides
        )));
    }
    let mut buf = vec![0usize; max_ws / word];
    // Touch every page now so page faults stay out of the timings.
    for (i, w) in buf.iter_mut().enumerate().step_by(4096 / word) {
        *w = i;
    }
    let mut order = Vec::new();
    let mut random = Vec::new();
    let mut strided = Vec::new();
    for &ws in &opts.working_sets {
        for &stride in &opts.strides {
            if stride > ws {
                continue;
            }
            let n = ws / stride;
            let step = stride / word;
            for (is_random, out) in [(true, &mut random), (false, &mut strided)] {
                if !is_random && !opts.strided {
                    continue;
                }
                build_chain(&mut buf, n, |k| k * step, is_random, &mut order);
                let mut reps: Vec<f64> = (0..opts.repetitions.max(1))
                    .map(|_| chase(&buf, 0, opts.loads_per_point))
                    .collect();
                out.push(MemPoint {
                    working_set_kib: (ws / 1024) as u64,
                    stride_bytes: stride as u64,
                    ns: median(&mut reps),
                    level: topo.level_of(ws as u64),
                });
            }
        }
    }
    Ok((random, strided))
}

/// DTLB latencies from a random chase over one line per 4 KiB page (huge pages off).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TlbLatency {
    /// Pages covered by the small chase (fits the L1 DTLB).
    pub small_pages: u32,
    /// Latency per load over the small page set (L1 hit + L1 DTLB hit, ns).
    pub small_ns: f64,
    /// Pages covered by the large chase (beyond the L1 DTLB, within the L2 DTLB).
    pub large_pages: u32,
    /// Latency per load over the large page set (L1 hit + L2 DTLB hit, ns).
    pub large_ns: f64,
    /// `large_ns - small_ns`: the extra cost of an L2 DTLB hit (ns, >= 0).
    pub l2_dtlb_hit_ns: f64,
}

/// Measures [`TlbLatency`]: 32 pages (fits a 64-entry L1 DTLB) vs 256 pages (beyond it,
/// within a >= 512-entry STLB); each page holds one line at a different cache set, so all
/// lines stay in L1 (16 KiB).
pub fn tlb_latency(loads: usize) -> Result<TlbLatency> {
    const PAGE: usize = 4096;
    let word = std::mem::size_of::<usize>();
    let pages_large = 256usize;
    let bytes = pages_large * PAGE;
    let mut buf = vec![0usize; bytes / word + PAGE / word];
    // Align to a page inside the vector.
    let base_addr = buf.as_ptr() as usize;
    let first = (PAGE - base_addr % PAGE) % PAGE / word;
    let region = &mut buf[first..first + bytes / word];
    sys::no_huge_pages(region).map_err(|e| Error::io("madvise(MADV_NOHUGEPAGE)", e))?;
    for (i, w) in region.iter_mut().enumerate() {
        *w = i;
    }
    let slot = |p: usize| (p * PAGE + (p % 64) * 64) / word;
    let mut order = Vec::new();
    let mut run = |pages: usize| -> f64 {
        build_chain(region, pages, slot, true, &mut order);
        let mut v: Vec<f64> = (0..3).map(|_| chase(region, slot(0), loads)).collect();
        median(&mut v)
    };
    let small_ns = run(32);
    let large_ns = run(pages_large);
    Ok(TlbLatency {
        small_pages: 32,
        small_ns,
        large_pages: pages_large as u32,
        large_ns,
        l2_dtlb_hit_ns: (large_ns - small_ns).max(0.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_is_a_single_cycle() {
        let mut buf = vec![0usize; 1024];
        let mut order = Vec::new();
        build_chain(&mut buf, 128, |k| k * 8, true, &mut order);
        let mut i = 0;
        let mut seen = std::collections::HashSet::new();
        for _ in 0..128 {
            assert!(seen.insert(i));
            i = buf[i];
        }
        assert_eq!(i, 0);
    }

    #[test]
    fn median_of_odd_and_empty() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert!(median(&mut []).is_nan());
    }
}
