//! The human-readable table of a [`SysbenchReport`].

use super::report::SysbenchReport;
use crate::model::Policy;

impl SysbenchReport {
    /// A human-readable table.
    pub fn render_table(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let t = &self.topology;
        let kib = |b: Option<u64>| b.map(|b| format!("{} KiB", b / 1024)).unwrap_or("?".into());
        let _ = writeln!(
            s,
            "topology ({}): {}; {} package(s), {} core(s), {} PU(s); L1d {}, L2 {}, L3 {}",
            t.source,
            t.cpu.as_deref().unwrap_or("unknown CPU"),
            t.packages,
            t.cores,
            t.pus,
            kib(t.l1d_bytes),
            kib(t.l2_bytes),
            kib(t.l3_bytes)
        );
        let strides: Vec<u64> = {
            let mut v: Vec<u64> = self.memory.iter().map(|p| p.stride_bytes).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        for (title, pts) in [
            ("memory latency, random chase (ns/load)", &self.memory),
            (
                "memory latency, strided walk (ns/load)",
                &self.memory_strided,
            ),
        ] {
            if pts.is_empty() {
                continue;
            }
            let _ = writeln!(s, "\n{title}");
            let _ = write!(s, "{:>12} {:>5}", "working set", "level");
            for st in &strides {
                let _ = write!(s, " {:>8}", format!("{st} B"));
            }
            let _ = writeln!(s);
            let mut sizes: Vec<u64> = pts.iter().map(|p| p.working_set_kib).collect();
            sizes.sort_unstable();
            sizes.dedup();
            for ws in sizes {
                let lvl = pts
                    .iter()
                    .find(|p| p.working_set_kib == ws)
                    .map(|p| p.level);
                let _ = write!(
                    s,
                    "{:>8} KiB {:>5}",
                    ws,
                    lvl.map(|l| format!("{l:?}")).unwrap_or_default()
                );
                for st in &strides {
                    match pts
                        .iter()
                        .find(|p| p.working_set_kib == ws && p.stride_bytes == *st)
                    {
                        Some(p) => {
                            let _ = write!(s, " {:>8.2}", p.ns);
                        }
                        None => {
                            let _ = write!(s, " {:>8}", "-");
                        }
                    }
                }
                let _ = writeln!(s);
            }
        }
        if let Some(tl) = &self.tlb {
            let _ = writeln!(
                s,
                "\nDTLB: {} pages {:.2} ns, {} pages {:.2} ns -> L2 DTLB hit +{:.2} ns",
                tl.small_pages, tl.small_ns, tl.large_pages, tl.large_ns, tl.l2_dtlb_hit_ns
            );
        }
        let _ = writeln!(
            s,
            "\ncontext switch (two processes, one core, pipe ping-pong)"
        );
        for p in Policy::ALL {
            match self.context_switch.iter().find(|c| c.policy == p) {
                Some(c) => {
                    let _ = writeln!(
                        s,
                        "  {:<6} {:>8.0} ns  (half round trip {:.0} ns - pipe {:.0} ns, core {})",
                        p.name(),
                        c.ns,
                        c.raw_ns,
                        c.pipe_overhead_ns,
                        c.cpu
                    );
                }
                None => {
                    let why = self
                        .unavailable
                        .get(&format!("context_switch_ns.{p}"))
                        .map(String::as_str)
                        .unwrap_or("not measured");
                    let _ = writeln!(s, "  {:<6} unavailable: {why}", p.name());
                }
            }
        }
        let _ = writeln!(
            s,
            "\nsyscalls: network I/O (empty recvfrom, {}) {:.0} ns; getppid {:.0} ns",
            self.syscalls.socket, self.syscalls.recvfrom_ns, self.syscalls.getppid_ns
        );
        let _ = writeln!(s, "({} mode, {:.1} s)", self.mode, self.duration_s);
        s
    }
}

impl std::fmt::Display for SysbenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render_table())
    }
}
