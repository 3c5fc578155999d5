//! What this host and process can do: privileges, EEVDF slices, cgroup layout, RT throttling,
//! `/dev/cpu_dma_latency`.

use std::fmt;
use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::apply::{base_slice, rt_runtime_us, slice_supported};
use crate::cpus::online_cpus;
use crate::cpuset::CgroupVersion;
use crate::rr::rr_timeslice_ms;

const CAP_SYS_ADMIN: u32 = CapSet::SYS_ADMIN;
const CAP_SYS_NICE: u32 = CapSet::SYS_NICE;

/// A set of Linux capabilities: bit `n` is capability number `n`, as in the `Cap*:` lines of
/// `/proc/<pid>/status`.
///
/// ```
/// use scc_sched::CapSet;
/// let s = CapSet::of(&[CapSet::NET_RAW, CapSet::NET_ADMIN]);
/// assert!(s.contains(CapSet::NET_RAW) && !s.contains(CapSet::SYS_ADMIN));
/// assert_eq!(s.to_string(), "CAP_NET_ADMIN,CAP_NET_RAW");
/// assert_eq!(s.bits(), 0x3000);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
pub struct CapSet(pub u64);

/// Names of the capabilities, by number (linux/capability.h, up to 40 = `CAP_CHECKPOINT_RESTORE`).
const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

impl CapSet {
    /// `CAP_DAC_READ_SEARCH`: read any file and search any folder (no writing).
    pub const DAC_READ_SEARCH: u32 = 2;
    /// `CAP_SETPCAP`: change the bounding set (needed to drop capabilities for good).
    pub const SETPCAP: u32 = 8;
    /// `CAP_NET_ADMIN`: interface, XDP program and socket-buffer (`SO_RCVBUFFORCE`) settings.
    pub const NET_ADMIN: u32 = 12;
    /// `CAP_NET_RAW`: `AF_PACKET` and `AF_XDP` sockets.
    pub const NET_RAW: u32 = 13;
    /// `CAP_IPC_LOCK`: lock memory beyond `RLIMIT_MEMLOCK` (e.g. an AF_XDP UMEM).
    pub const IPC_LOCK: u32 = 14;
    /// `CAP_SYS_ADMIN`: namespaces, cgroups, sysctls; BPF before Linux 5.8.
    pub const SYS_ADMIN: u32 = 21;
    /// `CAP_SYS_NICE`: real-time policies, lower nice, other users' tasks.
    pub const SYS_NICE: u32 = 23;
    /// `CAP_BPF` (Linux 5.8+): load BPF programs and create maps.
    pub const BPF: u32 = 39;

    /// The empty set.
    pub const EMPTY: CapSet = CapSet(0);

    /// The set of the given capability numbers (numbers above 63 are ignored).
    pub fn of(caps: &[u32]) -> CapSet {
        CapSet(
            caps.iter()
                .filter(|&&c| c < 64)
                .fold(0, |acc, &c| acc | (1u64 << c)),
        )
    }

    /// This set with `cap` added.
    pub fn with(self, cap: u32) -> CapSet {
        CapSet(self.0 | CapSet::of(&[cap]).0)
    }

    /// Every capability of either set.
    pub fn union(self, other: CapSet) -> CapSet {
        CapSet(self.0 | other.0)
    }

    /// Whether `cap` is in the set.
    pub fn contains(self, cap: u32) -> bool {
        cap < 64 && self.0 & (1u64 << cap) != 0
    }

    /// The bit mask.
    pub fn bits(self) -> u64 {
        self.0
    }

    /// The capabilities' names (`CAP_NET_RAW`, ...; `cap_N` for numbers without a name).
    pub fn names(self) -> Vec<String> {
        (0..64u32)
            .filter(|&c| self.contains(c))
            .map(|c| {
                CAP_NAMES
                    .get(c as usize)
                    .map_or_else(|| format!("cap_{c}"), |n| (*n).to_string())
            })
            .collect()
    }

    /// The effective set in `/proc/<pid>/status` text (`CapEff:`).
    pub fn parse_effective(status: &str) -> Option<CapSet> {
        parse_cap_eff(status).map(CapSet)
    }

    /// The effective capabilities of process `pid` (from `/proc/<pid>/status`).
    pub fn effective_of(pid: u32) -> Option<CapSet> {
        CapSet::parse_effective(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
    }

    /// Reduces the calling process to this set for good, also across `execve` (bounding,
    /// ambient and inheritable sets; `PR_SET_NO_NEW_PRIVS`). Async-signal-safe: meant for a
    /// child between `fork` and `exec` (see `std::os::unix::process::CommandExt::pre_exec`).
    /// Needs `CAP_SETPCAP` (root, or root of a user namespace).
    pub fn limit_process(self) -> std::io::Result<()> {
        crate::sys::limit_capabilities(self.0)
    }
}

impl fmt::Display for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names().join(","))
    }
}

/// Where the cpuset controller can be found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CgroupLayout {
    /// Mount point of a cgroup v1 hierarchy with the cpuset controller (e.g. `/sys/fs/cgroup/cpuset`).
    pub v1_cpuset: Option<PathBuf>,
    /// Mount point of the cgroup2 hierarchy (e.g. `/sys/fs/cgroup` or `/sys/fs/cgroup/unified`).
    pub v2: Option<PathBuf>,
    /// Whether cgroup2's root offers the cpuset controller (`cgroup.controllers`).
    pub v2_cpuset: bool,
}

impl CgroupLayout {
    /// Reads `/proc/self/mountinfo`.
    pub fn detect() -> CgroupLayout {
        let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut l = CgroupLayout::parse_mountinfo(&mi);
        if let Some(v2) = &l.v2 {
            l.v2_cpuset = fs::read_to_string(v2.join("cgroup.controllers"))
                .map(|s| s.split_whitespace().any(|c| c == "cpuset"))
                .unwrap_or(false);
        }
        l
    }

    /// Parses mountinfo text (pure; `v2_cpuset` is left false).
    pub fn parse_mountinfo(text: &str) -> CgroupLayout {
        let mut l = CgroupLayout::default();
        for line in text.lines() {
            let Some((pre, post)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = pre.split_whitespace().nth(4);
            let mut post = post.split_whitespace();
            let fstype = post.next();
            let _source = post.next();
            let opts = post.next().unwrap_or("");
            match (fstype, mount_point) {
                (Some("cgroup2"), Some(mp)) if l.v2.is_none() => l.v2 = Some(PathBuf::from(mp)),
                (Some("cgroup"), Some(mp))
                    if l.v1_cpuset.is_none() && opts.split(',').any(|o| o == "cpuset") =>
                {
                    l.v1_cpuset = Some(PathBuf::from(mp))
                }
                _ => {}
            }
        }
        l
    }

    /// The hierarchy [`crate::CoreReservation`] uses: cgroup2 when it offers cpuset, else v1.
    pub fn preferred(&self) -> Option<(CgroupVersion, PathBuf)> {
        if self.v2_cpuset
            && let Some(p) = &self.v2
        {
            return Some((CgroupVersion::V2, p.clone()));
        }
        self.v1_cpuset.clone().map(|p| (CgroupVersion::V1, p))
    }
}

/// What `/dev/cpu_dma_latency` offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DmaLatency {
    /// The device does not exist.
    Absent,
    /// It exists but we cannot open it for writing (needs root).
    NotWritable,
    /// Writable; the current PM QoS limit in microseconds (2000000000 = no limit).
    Writable {
        /// Current limit (us).
        current_us: i32,
    },
}

/// The host's and this process' scheduling capabilities. Never fails: unknown is `None`/false.
#[derive(Debug, Clone, Serialize)]
pub struct Capabilities {
    /// Effective uid is 0.
    pub root: bool,
    /// Effective `CAP_SYS_NICE` (RT policies, lower nice, other users' tasks).
    pub cap_sys_nice: bool,
    /// Effective `CAP_SYS_ADMIN` (cgroups, sysctls, `/dev/cpu_dma_latency`).
    pub cap_sys_admin: bool,
    /// We run inside a non-initial user namespace (`/proc/self/uid_map` is not the identity
    /// map): our capabilities then do not reach host resources (RT, lower nice of host tasks,
    /// cgroups, sysctls), whatever `CapEff` says.
    pub user_namespace: bool,
    /// `uname -r`.
    pub kernel_release: String,
    /// Kernel >= 6.6: EEVDF instead of CFS.
    pub eevdf: bool,
    /// Per-task EEVDF slices work (tested on a thread of ours).
    pub custom_slice: bool,
    /// The default slice (`base_slice_ns`), if known.
    #[serde(rename = "base_slice_us", serialize_with = "ser_opt_us")]
    pub base_slice: Option<Duration>,
    /// Online cores.
    pub online_cpus: Vec<usize>,
    /// cgroup layout.
    pub cgroups: CgroupLayout,
    /// `/proc/sys/kernel/sched_rt_runtime_us` (-1: throttling off).
    pub rt_runtime_us: Option<i64>,
    /// `/proc/sys/kernel/sched_rr_timeslice_ms`.
    pub rr_timeslice_ms: Option<i64>,
    /// `/dev/cpu_dma_latency`.
    pub cpu_dma_latency: DmaLatency,
    /// `/sys/devices/system/cpu/cpuidle/current_driver` (`none` or absent: PM QoS does nothing).
    pub cpuidle_driver: Option<String>,
    /// sched_ext present (`/sys/kernel/sched_ext`).
    pub sched_ext: bool,
}

fn ser_opt_us<S: serde::Serializer>(v: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    crate::policy::opt_us::serialize(v, s)
}

/// Parses `CapEff:` from `/proc/<pid>/status` text.
pub(crate) fn parse_cap_eff(status: &str) -> Option<u64> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix("CapEff:")?;
        u64::from_str_radix(v.trim(), 16).ok()
    })
}

/// True when `/proc/self/uid_map` text is not the initial namespace's identity map.
pub(crate) fn parse_in_userns(uid_map: &str) -> bool {
    let lines: Vec<Vec<&str>> = uid_map
        .lines()
        .map(|l| l.split_whitespace().collect())
        .filter(|v: &Vec<&str>| !v.is_empty())
        .collect();
    !(lines.len() == 1 && lines[0] == ["0", "0", "4294967295"])
}

/// Parses the effective uid from `/proc/<pid>/status` text.
pub(crate) fn parse_euid(status: &str) -> Option<u32> {
    status.lines().find_map(|l| {
        let v = l.strip_prefix("Uid:")?;
        v.split_whitespace().nth(1)?.parse().ok()
    })
}

/// Parses `major.minor` out of a kernel release string.
pub(crate) fn parse_release(r: &str) -> Option<(u32, u32)> {
    let mut it = r.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next()?.parse().ok()?;
    Some((major, minor))
}

impl Capabilities {
    /// True when this process runs inside a non-initial user namespace (`/proc/self/uid_map`
    /// is not the identity map): its capabilities do not reach host resources.
    pub fn in_user_namespace() -> bool {
        fs::read_to_string("/proc/self/uid_map")
            .map(|m| parse_in_userns(&m))
            .unwrap_or(false)
    }

    /// Detects everything (cheap; reads /proc and /sys and tries a slice on a thread of ours).
    pub fn detect() -> Capabilities {
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let cap = parse_cap_eff(&status).unwrap_or(0);
        let kernel_release = fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let eevdf = parse_release(&kernel_release).is_some_and(|v| v >= (6, 6));
        let cpu_dma_latency = match fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/cpu_dma_latency")
        {
            Ok(f) => {
                use std::io::Read;
                let mut b = [0u8; 4];
                let mut f = f;
                match f.read_exact(&mut b) {
                    Ok(()) => DmaLatency::Writable {
                        current_us: i32::from_ne_bytes(b),
                    },
                    Err(_) => DmaLatency::NotWritable,
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DmaLatency::Absent,
            Err(_) => DmaLatency::NotWritable,
        };
        let user_namespace = Capabilities::in_user_namespace();
        Capabilities {
            user_namespace,
            root: parse_euid(&status) == Some(0),
            cap_sys_nice: cap & (1 << CAP_SYS_NICE) != 0,
            cap_sys_admin: cap & (1 << CAP_SYS_ADMIN) != 0,
            eevdf,
            kernel_release,
            custom_slice: slice_supported(),
            base_slice: base_slice(),
            online_cpus: online_cpus().unwrap_or_default(),
            cgroups: CgroupLayout::detect(),
            rt_runtime_us: rt_runtime_us(),
            rr_timeslice_ms: rr_timeslice_ms().ok(),
            cpu_dma_latency,
            cpuidle_driver: fs::read_to_string("/sys/devices/system/cpu/cpuidle/current_driver")
                .ok()
                .map(|s| s.trim().to_string()),
            sched_ext: fs::metadata("/sys/kernel/sched_ext").is_ok(),
        }
    }

    /// Whether a real-time policy or a lower nice can be set on our children.
    pub fn can_realtime(&self) -> bool {
        self.cap_sys_nice && !self.user_namespace
    }

    /// Whether cpusets can be reserved (a cpuset hierarchy and `CAP_SYS_ADMIN`).
    pub fn can_reserve_cores(&self) -> bool {
        self.cap_sys_admin && !self.user_namespace && self.cgroups.preferred().is_some()
    }

    /// Human-readable warnings: RT throttling off, no cpuset hierarchy, PM QoS without effect.
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if self.user_namespace {
            w.push("running in a user namespace: capabilities do not reach host scheduling (RT, negative nice, cpusets need a privileged launcher)".into());
        }
        if self.rt_runtime_us == Some(-1) {
            w.push("RT throttling is off (sched_rt_runtime_us = -1): a spinning FIFO/RR task can starve its core".into());
        }
        if self.cgroups.preferred().is_none() {
            w.push("no cpuset cgroup hierarchy (v1 cpuset or cgroup2 with cpuset): core reservation unavailable".into());
        }
        if matches!(self.cpuidle_driver.as_deref(), None | Some("none")) {
            w.push(
                "no cpuidle driver: /dev/cpu_dma_latency has no effect, keep_awake uses spinners"
                    .into(),
            );
        }
        if !self.custom_slice {
            w.push(
                "per-task EEVDF slices unsupported (Linux < 6.12): slice settings refused".into(),
            );
        }
        w
    }
}

impl fmt::Display for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "kernel            {} (EEVDF: {})",
            self.kernel_release, self.eevdf
        )?;
        writeln!(
            f,
            "privileges        root={} CAP_SYS_NICE={} CAP_SYS_ADMIN={} user namespace={}",
            self.root, self.cap_sys_nice, self.cap_sys_admin, self.user_namespace
        )?;
        writeln!(
            f,
            "online cores      {}",
            crate::format_cpu_list(&self.online_cpus)
        )?;
        writeln!(
            f,
            "EEVDF slice       per-task: {}, base slice: {}",
            self.custom_slice,
            self.base_slice
                .map(|d| format!("{} us", d.as_micros()))
                .unwrap_or_else(|| "unknown".into())
        )?;
        writeln!(
            f,
            "cgroups           v1 cpuset: {}, cgroup2: {} (cpuset controller: {}), used: {}",
            self.cgroups
                .v1_cpuset
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "-".into()),
            self.cgroups
                .v2
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "-".into()),
            self.cgroups.v2_cpuset,
            self.cgroups
                .preferred()
                .map(|(v, p)| format!("{v:?} at {}", p.display()))
                .unwrap_or_else(|| "none".into())
        )?;
        writeln!(
            f,
            "RT                sched_rt_runtime_us={} sched_rr_timeslice_ms={}",
            self.rt_runtime_us
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into()),
            self.rr_timeslice_ms
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into())
        )?;
        writeln!(
            f,
            "cpu_dma_latency   {:?}, cpuidle driver: {}",
            self.cpu_dma_latency,
            self.cpuidle_driver.as_deref().unwrap_or("-")
        )?;
        write!(f, "sched_ext         {}", self.sched_ext)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_v1_and_v2() {
        let t = "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n\
                 35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                 41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let l = CgroupLayout::parse_mountinfo(t);
        assert_eq!(l.v1_cpuset, Some(PathBuf::from("/sys/fs/cgroup/cpuset")));
        assert_eq!(l.v2, Some(PathBuf::from("/sys/fs/cgroup/unified")));
        assert_eq!(
            l.preferred(),
            Some((CgroupVersion::V1, PathBuf::from("/sys/fs/cgroup/cpuset")))
        );
        let t2 = "30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let mut l2 = CgroupLayout::parse_mountinfo(t2);
        assert_eq!(l2.v1_cpuset, None);
        assert_eq!(l2.preferred(), None);
        l2.v2_cpuset = true;
        assert_eq!(
            l2.preferred(),
            Some((CgroupVersion::V2, PathBuf::from("/sys/fs/cgroup")))
        );
        // cpuacct must not be taken for cpuset.
        let t3 = "33 31 0:30 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n";
        assert_eq!(CgroupLayout::parse_mountinfo(t3).v1_cpuset, None);
    }

    #[test]
    fn status_parsing() {
        let s = "Name:\tx\nUid:\t1000\t0\t0\t0\nCapEff:\t000001fffeffffff\n";
        assert_eq!(parse_euid(s), Some(0));
        let c = parse_cap_eff(s).unwrap();
        assert!(c & (1 << CAP_SYS_NICE) != 0 && c & (1 << CAP_SYS_ADMIN) != 0);
        assert_eq!(parse_cap_eff("CapEff:\t0000000000000000\n"), Some(0));
        assert_eq!(parse_release("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_release("5.15.0"), Some((5, 15)));
        assert_eq!(parse_release("x"), None);
        assert!(!parse_in_userns("         0          0 4294967295\n"));
        assert!(parse_in_userns("         0       1000          1\n"));
        assert!(parse_in_userns(""));
    }

    #[test]
    fn cap_sets() {
        let s = CapSet::of(&[CapSet::NET_RAW, CapSet::BPF, 70]);
        assert_eq!(s.bits(), (1 << 13) | (1 << 39));
        assert!(s.contains(CapSet::BPF) && !s.contains(70) && !s.contains(CapSet::NET_ADMIN));
        assert_eq!(
            s.with(CapSet::NET_ADMIN).names(),
            ["CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF"]
        );
        assert_eq!(CapSet(1 << 50).names(), ["cap_50"]);
        assert_eq!(
            CapSet::of(&[CapSet::NET_RAW]).union(CapSet::of(&[CapSet::BPF])),
            CapSet::of(&[CapSet::NET_RAW, CapSet::BPF])
        );
        assert_eq!(
            CapSet::parse_effective("Name:\tx\nCapEff:\t0000000000002000\n"),
            Some(CapSet::of(&[CapSet::NET_RAW]))
        );
        assert_eq!(CAP_NAMES[CapSet::SYS_NICE as usize], "CAP_SYS_NICE");
        assert_eq!(CAP_NAMES[CapSet::SETPCAP as usize], "CAP_SETPCAP");
        assert_eq!(CAP_NAMES[CapSet::IPC_LOCK as usize], "CAP_IPC_LOCK");
        assert_eq!(
            CAP_NAMES[CapSet::DAC_READ_SEARCH as usize],
            "CAP_DAC_READ_SEARCH"
        );
        assert!(CapSet::effective_of(std::process::id()).is_some());
    }

    #[test]
    fn detect_runs() {
        let c = Capabilities::detect();
        assert!(!c.online_cpus.is_empty());
        assert!(!c.kernel_release.is_empty());
        let text = c.to_string();
        assert!(text.contains("cgroups"));
        eprintln!("{text}");
    }
}
