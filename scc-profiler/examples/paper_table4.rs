//! Applies the model with the paper's preset to the paper's Table 4 / Table 7 references per
//! packet and prints what the model gives next to the paper's figures.
//! Usage: `cargo run -p scc-profiler --example paper_table4`
use scc_profiler::model::{LatencyTable, Measure, NfCounts, model_nf};

fn main() {
    // (row, L1, L2, L3, DRAM refs per packet, paper latency us, paper shares %)
    let rows = [
        (
            "User+OVS",
            [3836.0, 182.0, 70.0, 3557.0],
            259.14,
            [1.71, 0.25, 0.37, 97.06],
        ),
        (
            "User",
            [3653.0, 179.0, 65.0, 2964.0],
            216.97,
            [1.99, 0.29, 0.41, 96.60],
        ),
        (
            "Kernel",
            [581.0, 23.0, 14.0, 340.0],
            25.45,
            [2.73, 0.31, 0.77, 95.70],
        ),
        (
            "DPDK",
            [3250.0, 95.0, 163.0, 7.0],
            8.01,
            [47.35, 0.04, 27.16, 0.06],
        ),
    ];
    let table = LatencyTable::paper();
    println!(
        "{:<9} {:>10} {:>10} {:>26} {:>26}",
        "router", "model us*", "paper us", "model L1/L2/L3/DRAM %", "paper L1/L2/L3/DRAM %"
    );
    let mut missing = Vec::new();
    for (name, refs, paper_us, paper_sh) in rows {
        let mut c = NfCounts::unavailable(name, Measure::Value(1.0), "not in Table 4");
        c.events.d1 = Measure::Value(refs[0]);
        c.events.d2 = Measure::Value(refs[1]);
        c.events.d3 = Measure::Value(refs[2]);
        c.events.dm = Measure::Value(refs[3]);
        let r = model_nf(&c, &table);
        missing = r.missing_terms.clone();
        let s = r.shares_percent;
        let f = |v: Option<f64>| v.map(|x| format!("{x:.2}")).unwrap_or("n/a".into());
        println!(
            "{:<9} {:>10.2} {:>10.2} {:>26} {:>26}",
            name,
            r.known_sum_ns() / 1000.0,
            paper_us,
            format!("{}/{}/{}/{}", f(s.d1), f(s.d2), f(s.d3), f(s.dm)),
            format!(
                "{}/{}/{}/{}",
                paper_sh[0], paper_sh[1], paper_sh[2], paper_sh[3]
            ),
        );
    }
    println!(
        "* the sum of the known terms: Table 4 gives no DTLB, context-switch or syscall counts, \
         so the whole model is unknown (missing {})",
        missing.join(" ")
    );
}
