//! The host's CPU and cache topology: hwloc first, sysfs as a fallback, the CPU's name
//! from `/proc/cpuinfo`. The text parsers ([`parse_cpuinfo`], [`parse_size`], and the
//! sysfs reader rooted at any folder) are pure and unit-tested.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// A memory-hierarchy level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    /// L1 data cache.
    L1,
    /// L2 cache.
    L2,
    /// L3 cache.
    L3,
    /// Main memory.
    #[serde(rename = "DRAM")]
    Dram,
}

/// The host's CPU and cache topology.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Topology {
    /// Where the data came from (`hwloc` or `sysfs`).
    pub source: String,
    /// Physical packages.
    pub packages: u32,
    /// Cores.
    pub cores: u32,
    /// Logical processors.
    pub pus: u32,
    /// L1 data cache size (bytes).
    pub l1d_bytes: Option<u64>,
    /// L2 size (bytes).
    pub l2_bytes: Option<u64>,
    /// L3 size (bytes).
    pub l3_bytes: Option<u64>,
    /// Cache line size (bytes).
    pub line_bytes: Option<u32>,
    /// The CPU (`/proc/cpuinfo`: vendor, family, model, model name), if readable.
    #[serde(default)]
    pub cpu: Option<String>,
}

impl Topology {
    /// The level a working set of `bytes` fits in.
    pub fn level_of(&self, bytes: u64) -> Level {
        let fits = |c: Option<u64>| c.is_some_and(|c| bytes <= c);
        if fits(self.l1d_bytes) {
            Level::L1
        } else if fits(self.l2_bytes) {
            Level::L2
        } else if fits(self.l3_bytes) {
            Level::L3
        } else {
            Level::Dram
        }
    }
}

/// Reads the topology through hwloc; falls back to sysfs if hwloc is unusable.
/// (hwloc2's NUMA queries panic with hwloc 2.x libraries, so none are made.)
pub fn topology() -> Topology {
    let mut t = topology_hwloc()
        .unwrap_or_else(|| topology_sysfs(Path::new("/sys/devices/system/cpu/cpu0/cache")));
    t.cpu = cpu_id();
    t
}

/// `vendor family/model "model name"` from `/proc/cpuinfo`.
pub fn cpu_id() -> Option<String> {
    parse_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").ok()?)
}

/// `vendor family F model M "model name"` from the text of `/proc/cpuinfo` (the first
/// processor's fields); `None` without a `vendor_id` line.
pub fn parse_cpuinfo(text: &str) -> Option<String> {
    let field = |k: &str| {
        text.lines()
            .find(|l| l.split(':').next().is_some_and(|n| n.trim() == k))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
    };
    Some(format!(
        "{} family {} model {} \"{}\"",
        field("vendor_id")?,
        field("cpu family").unwrap_or_default(),
        field("model").unwrap_or_default(),
        field("model name").unwrap_or_default()
    ))
}

fn topology_hwloc() -> Option<Topology> {
    use hwloc2::ObjectType;
    let topo = hwloc2::Topology::new()?;
    let count = |t: &ObjectType| {
        topo.objects_with_type(t)
            .map(|v| v.len() as u32)
            .unwrap_or(0)
    };
    let cache = |t: &ObjectType| -> (Option<u64>, Option<u32>) {
        match topo.objects_with_type(t) {
            Ok(v) => v
                .first()
                .and_then(|o| o.cache_attributes())
                .map(|a| (Some(a.size()), Some(a.linesize)))
                .unwrap_or((None, None)),
            Err(_) => (None, None),
        }
    };
    let (l1, line) = cache(&ObjectType::L1Cache);
    let (l2, _) = cache(&ObjectType::L2Cache);
    let (l3, _) = cache(&ObjectType::L3Cache);
    Some(Topology {
        source: "hwloc".into(),
        packages: count(&ObjectType::Package),
        cores: count(&ObjectType::Core),
        pus: count(&ObjectType::PU),
        l1d_bytes: l1,
        l2_bytes: l2,
        l3_bytes: l3,
        line_bytes: line,
        cpu: None,
    })
}

/// A sysfs cache size (`32K`, `1024K`, `32M`, or bytes) in bytes.
pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mul) = match s.strip_suffix('K') {
        Some(n) => (n, 1024),
        None => match s.strip_suffix('M') {
            Some(n) => (n, 1024 * 1024),
            None => (s, 1),
        },
    };
    num.parse::<u64>().ok().map(|n| n * mul)
}

/// The topology from a sysfs cache folder (`.../cpu0/cache` with `index0`..`index7`, each
/// holding `level`, `type`, `size`, `coherency_line_size`); missing files leave a field
/// `None`.
pub fn topology_sysfs(cache_dir: &Path) -> Topology {
    let mut t = Topology {
        source: "sysfs".into(),
        packages: 1,
        cores: std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1),
        pus: 0,
        l1d_bytes: None,
        l2_bytes: None,
        l3_bytes: None,
        line_bytes: None,
        cpu: None,
    };
    t.pus = t.cores;
    for i in 0..8 {
        let base = cache_dir.join(format!("index{i}"));
        let rd = |f: &str| std::fs::read_to_string(base.join(f)).ok();
        let (Some(level), Some(ty), Some(size)) = (rd("level"), rd("type"), rd("size")) else {
            continue;
        };
        let size = parse_size(&size);
        match (level.trim(), ty.trim()) {
            ("1", "Data") | ("1", "Unified") => {
                t.l1d_bytes = size;
                t.line_bytes = rd("coherency_line_size").and_then(|s| s.trim().parse().ok());
            }
            ("2", _) => t.l2_bytes = size,
            ("3", _) => t.l3_bytes = size,
            _ => {}
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_sizes() {
        assert_eq!(parse_size("32K\n"), Some(32 * 1024));
        assert_eq!(parse_size("32768K"), Some(32 << 20));
        assert_eq!(parse_size("2M"), Some(2 << 20));
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("K"), None);
    }

    #[test]
    fn parses_cpuinfo() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\nmodel name\t: Intel(R) Xeon(R)\nprocessor\t: 1\nvendor_id\t: Other\n";
        assert_eq!(
            parse_cpuinfo(text).as_deref(),
            Some("GenuineIntel family 6 model 85 \"Intel(R) Xeon(R)\"")
        );
        assert_eq!(parse_cpuinfo("processor : 0\n"), None);
        assert_eq!(parse_cpuinfo(""), None);
    }

    #[test]
    fn reads_a_sysfs_cache_folder() {
        let dir = std::env::temp_dir().join(format!("scc-sysfs-test-{}", std::process::id()));
        let put = |idx: u32, level: &str, ty: &str, size: &str| {
            let d = dir.join(format!("index{idx}"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("level"), level).unwrap();
            std::fs::write(d.join("type"), ty).unwrap();
            std::fs::write(d.join("size"), size).unwrap();
            std::fs::write(d.join("coherency_line_size"), "64\n").unwrap();
        };
        put(0, "1\n", "Data\n", "48K\n");
        put(1, "1\n", "Instruction\n", "32K\n");
        put(2, "2\n", "Unified\n", "2048K\n");
        put(3, "3\n", "Unified\n", "32M\n");
        let t = topology_sysfs(&dir);
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(t.source, "sysfs");
        assert_eq!(t.l1d_bytes, Some(48 << 10));
        assert_eq!(t.l2_bytes, Some(2 << 20));
        assert_eq!(t.l3_bytes, Some(32 << 20));
        assert_eq!(t.line_bytes, Some(64));
        let empty = topology_sysfs(Path::new("/nonexistent/scc"));
        assert_eq!(empty.l1d_bytes, None);
    }

    #[test]
    fn level_of_uses_sizes() {
        let t = Topology {
            source: "t".into(),
            packages: 1,
            cores: 2,
            pus: 2,
            l1d_bytes: Some(32 << 10),
            l2_bytes: Some(1 << 20),
            l3_bytes: Some(32 << 20),
            line_bytes: Some(64),
            cpu: None,
        };
        assert_eq!(t.level_of(16 << 10), Level::L1);
        assert_eq!(t.level_of(64 << 10), Level::L2);
        assert_eq!(t.level_of(4 << 20), Level::L3);
        assert_eq!(t.level_of(256 << 20), Level::Dram);
    }
}
