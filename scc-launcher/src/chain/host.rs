//! Host detection: the facts about the machine that validation needs, gathered apart so that
//! validation itself stays pure.

/// Facts about the host that validation needs (kept apart so validation stays pure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// The online CPUs, ascending (`/sys/devices/system/cpu/online`). A host may have holes:
    /// with CPUs "0,2-3" online, core 1 is not usable.
    pub online: Vec<usize>,
    /// Whether `ovs-vswitchd` is installed.
    pub ovs: bool,
}

impl HostInfo {
    /// Detects the host: the online CPUs (scc-sched's reading of
    /// `/sys/devices/system/cpu/online`, else `0..available_parallelism`) and
    /// `ovs-vswitchd` on `PATH`.
    pub fn detect() -> Self {
        let online = scc_sched::online_cpus()
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| {
                (0..std::thread::available_parallelism().map_or(1, |n| n.get())).collect()
            });
        Self {
            online,
            ovs: crate::ovs::OvsTools::find().is_ok(),
        }
    }

    /// A host with CPUs `0..cores` online (what tests and simulations use).
    pub fn with_cores(cores: usize, ovs: bool) -> Self {
        Self {
            online: (0..cores).collect(),
            ovs,
        }
    }

    /// A host with the CPUs of a kernel CPU list such as `"0,2-3"` online.
    pub fn with_cpu_list(list: &str, ovs: bool) -> Result<Self, scc_sched::Error> {
        Ok(Self {
            online: scc_sched::parse_cpu_list(list)?,
            ovs,
        })
    }

    /// Number of online CPUs.
    pub fn cores(&self) -> usize {
        self.online.len()
    }

    /// Whether `core` is online.
    pub fn is_online(&self, core: usize) -> bool {
        self.online.binary_search(&core).is_ok()
    }

    /// Why `core` cannot be used (for a core that is not online).
    pub(crate) fn core_reason(&self, core: usize) -> String {
        let n = self.online.len();
        let contiguous = self.online.iter().copied().eq(0..n);
        if contiguous {
            format!(
                "core {core} is beyond this host's {n} online CPU(s) (0..={})",
                n.saturating_sub(1)
            )
        } else {
            format!(
                "core {core} is not online on this host (online CPUs: {})",
                scc_sched::format_cpu_list(&self.online)
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hole_in_the_cpu_list_is_not_online() {
        let h = HostInfo::with_cpu_list("0,2-3", false).unwrap();
        assert_eq!(h.online, [0, 2, 3]);
        assert_eq!(h.cores(), 3);
        assert!(h.is_online(0) && h.is_online(2) && h.is_online(3));
        assert!(!h.is_online(1));
        assert!(!h.is_online(4));
        assert_eq!(
            h.core_reason(1),
            "core 1 is not online on this host (online CPUs: 0,2-3)"
        );
        let c = HostInfo::with_cores(2, false);
        assert_eq!(
            c.core_reason(4),
            "core 4 is beyond this host's 2 online CPU(s) (0..=1)"
        );
    }
}
