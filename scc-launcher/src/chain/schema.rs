//! The chain file's schema: the serde types of every section, with their defaults.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use scc_io::Driver;
use scc_sched::PolicyKind;
use serde::{Deserialize, Serialize};

pub use super::real_hosts::{HOST_PINGS, HOST_PREFIX_LEN, HostAddr, HostCommand};

/// The kernel's `IFNAMSIZ - 1`: the longest interface name Linux accepts.
pub const MAX_IFNAME: usize = 15;

/// Interface-name suffixes appended to an NF's name: NF side, then the switch side (bridge).
pub const IF_SUFFIXES: [&str; 4] = ["-rx", "-tx", "-rxb", "-txb"];
/// The longest of [`IF_SUFFIXES`].
pub const LONGEST_SUFFIX: usize = 4;

/// Smallest frame the generator can build (Ethernet + IPv4 + UDP + the probe header)
/// without the 4-byte FCS that veth does not carry.
pub const MIN_FRAME: usize = 62;
/// Largest frame on a default-MTU veth (1500 + the 14-byte Ethernet header).
pub const MAX_FRAME: usize = 1514;

/// Whether the launcher hands the NFs' PIDs to the scheduler or to the profiler (paper §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// "run-time" mode: the scheduling plan is applied.
    #[default]
    Runtime,
    /// "profile" mode: the profiler is attached to every NF.
    Profile,
}

/// How an NF (or the sink) waits for input (`scc nf --poll`): scc-nf's poll mode, named
/// `sleep` | `busy` | `adaptive` in chain files.
pub use scc_nf::config::PollMode as Poll;

/// Chain-wide I/O settings (`[io]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoSpec {
    /// `packet` | `mmsg` | `ring`.
    pub driver: Driver,
    /// Frames per system call (1..=MAX_BATCH).
    pub batch: usize,
    /// `sleep` | `busy` | `adaptive`.
    pub poll: Poll,
    /// Bound on each NF's kernel receive queue, in (64-byte) frames; default: from the batch and
    /// the plan ([`crate::fusion::default_rx_queue_frames`]).
    pub rx_queue_frames: Option<usize>,
}

impl Default for IoSpec {
    fn default() -> Self {
        Self {
            driver: Driver::Mmsg,
            batch: 32,
            poll: Poll::Sleep,
            rx_queue_frames: None,
        }
    }
}

/// Per-NF I/O override (`[nf.io]`): any field given replaces the chain's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IoOverride {
    /// Backend for this NF.
    pub driver: Option<Driver>,
    /// Batch size for this NF.
    pub batch: Option<usize>,
    /// Polling mode for this NF.
    pub poll: Option<Poll>,
    /// Receive queue bound for this NF, in frames.
    pub rx_queue_frames: Option<usize>,
}

/// How consecutive NFs are connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterconnectKind {
    /// A veth pair between consecutive NFs.
    #[default]
    B2b,
    /// A Linux bridge (the kernel's software switch) in its own namespace.
    Bridge,
    /// Open vSwitch's userspace datapath (needs `ovs-vswitchd` installed).
    Ovs,
}

impl InterconnectKind {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            InterconnectKind::B2b => "b2b",
            InterconnectKind::Bridge => "bridge",
            InterconnectKind::Ovs => "ovs",
        }
    }
}

/// `[interconnect]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Interconnect {
    /// `b2b` | `bridge` | `ovs`.
    pub kind: InterconnectKind,
    /// The switch's core (bridge/ovs). For a Linux bridge the switching runs in the sender's
    /// context, so this only places the switch namespace's helper work; for OVS it pins
    /// `ovs-vswitchd`.
    pub core: Option<usize>,
}

/// Scheduling policy (`schedule.policy`): the chain file's spelling of scc-sched's policies.
///
/// A thin serde mirror of the five policies scc sets ([`scc_sched::PolicyKind`] also names
/// read-only ones such as `deadline`); its parameter comes from `schedule.nice` /
/// `schedule.priority`, and [`Schedule::sched_policy`] builds the one [`scc_sched::Policy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// SCHED_OTHER (EEVDF), with `nice`.
    Other,
    /// SCHED_BATCH, with `nice`.
    Batch,
    /// SCHED_FIFO, with `priority`.
    Fifo,
    /// SCHED_RR, with `priority` and `rr_timeslice_ms`.
    Rr,
    /// SCHED_IDLE.
    Idle,
}

impl From<Policy> for PolicyKind {
    fn from(p: Policy) -> PolicyKind {
        match p {
            Policy::Other => PolicyKind::Other,
            Policy::Batch => PolicyKind::Batch,
            Policy::Fifo => PolicyKind::Fifo,
            Policy::Rr => PolicyKind::Rr,
            Policy::Idle => PolicyKind::Idle,
        }
    }
}

impl Policy {
    /// Real-time policies (need CAP_SYS_NICE).
    pub fn is_realtime(self) -> bool {
        matches!(PolicyKind::from(self), PolicyKind::Fifo | PolicyKind::Rr)
    }
    /// The name used in files (scc-sched's name).
    pub fn name(self) -> &'static str {
        PolicyKind::from(self).name()
    }
    /// scc-sched's policy with its parameter; `nice` / `priority` absent mean nice 0 /
    /// priority 1 (validation rejects a real-time policy without a priority).
    pub fn with_param(self, nice: Option<i32>, priority: Option<u32>) -> scc_sched::Policy {
        let nice = nice.unwrap_or(0);
        let priority = priority.unwrap_or(scc_sched::RT_PRIORITY_MIN);
        match self {
            Policy::Other => scc_sched::Policy::Other { nice },
            Policy::Batch => scc_sched::Policy::Batch { nice },
            Policy::Fifo => scc_sched::Policy::Fifo { priority },
            Policy::Rr => scc_sched::Policy::Rr { priority },
            Policy::Idle => scc_sched::Policy::Idle,
        }
    }
}

/// Scheduling plan (paper Fig. 7): scc-sched's `uniprocessor` | `multiprocessor`, and the
/// chain-aware plans `chain-order` | `fused` (issue 12; see [`crate::fusion`]).
pub use scc_sched::PlanKind as Plan;

/// `[schedule]`. Absent fields leave the kernel's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Schedule {
    /// Policy for every NF; `None` leaves the default.
    pub policy: Option<Policy>,
    /// Nice value for other/batch (-20..=19).
    pub nice: Option<i32>,
    /// Real-time priority for fifo/rr (1..=99).
    pub priority: Option<i32>,
    /// RR quantum in ms (`/proc/sys/kernel/sched_rr_timeslice_ms`, restored after the run).
    pub rr_timeslice_ms: Option<u32>,
    /// EEVDF custom slice in microseconds for other/batch (100..=100000, kernel 6.12+).
    pub slice_us: Option<u64>,
    /// `uniprocessor` | `multiprocessor` | `chain-order` | `fused`.
    pub plan: Plan,
    /// The chain's cores: NFs go to `cores[0]` unless an NF names its own core; with the
    /// multiprocessor plan the switch goes to `cores[1]`.
    pub cores: Vec<usize>,
    /// Reserve `cores` for the chain through an exclusive cpuset cgroup (needs root).
    pub reserve: bool,
    /// With `reserve`: also keep every other task off those cores (explicit opt-in; needs root).
    pub isolate: bool,
    /// Hold `/dev/cpu_dma_latency` at 0 (or run an idle spinner) on the chain's cores.
    pub keep_awake: bool,
}

impl Schedule {
    /// The policy and its parameter as scc-sched's type (`other` nice 0 when no policy is
    /// given). A negative `priority` is out of range.
    pub fn sched_policy(&self) -> Result<scc_sched::Policy, scc_sched::Error> {
        let priority = match self.priority {
            Some(p) => {
                Some(
                    u32::try_from(p).map_err(|_| scc_sched::Error::PriorityOutOfRange {
                        policy: self.policy.map_or("other", Policy::name),
                        priority: 0,
                    })?,
                )
            }
            None => None,
        };
        Ok(self
            .policy
            .unwrap_or(Policy::Other)
            .with_param(self.nice, priority))
    }

    /// The NFs' [`scc_sched::SchedSpec`]: the policy and the EEVDF slice (no affinity: the
    /// plan places the NFs). Validated by scc-sched.
    pub fn sched_spec(&self) -> Result<scc_sched::SchedSpec, scc_sched::Error> {
        let mut spec = scc_sched::SchedSpec::new(self.sched_policy()?);
        if let Some(us) = self.slice_us {
            spec = spec.with_slice(std::time::Duration::from_micros(us));
        }
        spec.validate()?;
        Ok(spec)
    }
}

/// NF kinds of the built-in library (scc-nf presets).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NfKind {
    /// The Click IP router without ARPQuerier.
    Router,
    /// An IP filter in front of a forward.
    Firewall,
    /// A wire that rewrites MACs.
    Forward,
    /// The Linux kernel's own forwarding (`ip_forward` in the NF's namespace, its `routes`
    /// via a static next hop at `gw_mac`): the launcher configures the namespace instead of
    /// starting a process (paper Fig. 4's kernel-space router). Needs `env = "netns"`.
    Kernel,
}

impl NfKind {
    /// Whether an NF of this kind can run inside a fused chain (an scc-nf element graph in the
    /// fused process): the scc-nf kinds can, `kernel` (the kernel's own forwarding) cannot.
    pub fn fusable(self) -> bool {
        match self {
            NfKind::Router | NfKind::Firewall | NfKind::Forward => true,
            NfKind::Kernel => false,
        }
    }

    /// The name used in files and as the `scc nf` subcommand.
    pub fn name(self) -> &'static str {
        match self {
            NfKind::Router => "router",
            NfKind::Firewall => "firewall",
            NfKind::Forward => "forward",
            NfKind::Kernel => "kernel",
        }
    }
}

/// Where an NF runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Env {
    /// Shares the chain's one namespace with the other native NFs.
    #[default]
    Native,
    /// Its own network namespace (the container-like case).
    Netns,
}

/// One `[[nf]]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NfSpec {
    /// Short name, `[a-z0-9-]`; names its interfaces (`NAME-rx`, `NAME-tx`).
    pub name: String,
    /// `router` | `firewall` | `forward`.
    pub kind: NfKind,
    /// `native` | `netns`.
    #[serde(default)]
    pub env: Env,
    /// Core to pin the NF to (default: the schedule's first core, else unpinned).
    #[serde(default)]
    pub core: Option<usize>,
    /// Router: IPv4 prefixes `A.B.C.D/L` routed to the next hop.
    #[serde(default)]
    pub routes: Vec<String>,
    /// Router: a routing-table file (scc-nf's format), relative to the chain file.
    #[serde(default)]
    pub routes_file: Option<PathBuf>,
    /// Next hop's MAC (default: the next NF's or the sink's, derived by the plan).
    #[serde(default)]
    pub gw_mac: Option<String>,
    /// Firewall: rules in scc-nf's rule syntax, first match wins.
    #[serde(default)]
    pub rules: Vec<String>,
    /// Firewall: a rules file, relative to the chain file.
    #[serde(default)]
    pub rules_file: Option<PathBuf>,
    /// An element composition (scc-nf's NF TOML) replacing the preset, relative to the chain file.
    #[serde(default)]
    pub config: Option<PathBuf>,
    /// Overrides of the chain's `[io]`.
    #[serde(default)]
    pub io: IoOverride,
}

/// One entry of a frame-size mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// Frame size in bytes (without FCS).
    pub size: usize,
    /// Relative weight (> 0).
    pub weight: u32,
}

/// What sits at the chain's two ends (`traffic.kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrafficKind {
    /// The paced probe generator at the head and the latency/loss sink at the tail.
    #[default]
    Generator,
    /// Two namespaces with kernel stacks (real hosts) at the ends, routed through the chain
    /// both ways ([`crate::traffic::hosts`]).
    Hosts,
}

impl TrafficKind {
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            TrafficKind::Generator => "generator",
            TrafficKind::Hosts => "hosts",
        }
    }
}

/// `[traffic]`: the generator at the chain's head and the sink at its tail (`kind =
/// "generator"`), or two real hosts (`kind = "hosts"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// `generator` (default) | `hosts`.
    #[serde(default)]
    pub kind: TrafficKind,
    /// Generator: offered rate in frames per second (required, > 0). Hosts: not used (absent).
    #[serde(default)]
    pub rate_pps: u64,
    /// Frame size in bytes without FCS (default 64); exclusive with `frame_mix`.
    #[serde(default)]
    pub frame_size: Option<usize>,
    /// A mix of frame sizes, e.g. `[{size = 64, weight = 7}, {size = 1514, weight = 1}]`.
    #[serde(default)]
    pub frame_mix: Vec<MixEntry>,
    /// Generator: how long to send, in seconds. Hosts: how long to keep the chain up
    /// (default: until the client ends, else until SIGINT/SIGTERM).
    #[serde(default)]
    pub duration_s: Option<f64>,
    /// How many frames to send (with `duration_s`, whichever ends first).
    #[serde(default)]
    pub packets: Option<u64>,
    /// Distinct UDP flows (source ports) to cycle through.
    #[serde(default = "one")]
    pub flows: u32,
    /// Core of the generator and sink.
    #[serde(default)]
    pub core: Option<usize>,
    /// Frames per send call of the generator.
    #[serde(default = "default_gen_batch")]
    pub batch: usize,
    /// Destination IPv4 address of the probes (must be routed by every router); hosts: the
    /// destination host's address.
    #[serde(default = "default_dst")]
    pub dst_ip: Ipv4Addr,
    /// Source IPv4 address of the probes; hosts: the source host's address.
    #[serde(default = "default_src")]
    pub src_ip: Ipv4Addr,
    /// How long the sink waits for stragglers after the last frame, in milliseconds.
    #[serde(default = "default_drain")]
    pub drain_ms: u64,
    /// I/O backend of the generator and the sink (`packet` | `mmsg` | `ring`).
    #[serde(default = "default_traffic_driver")]
    pub driver: Driver,
    /// How the sink waits for frames (`sleep` | `busy` | `adaptive`).
    #[serde(default)]
    pub poll: Poll,
    /// Hosts: prefix length of both hosts' subnets (default 24: 198.18.0.0/24, 198.19.0.0/24).
    #[serde(default)]
    pub prefix_len: Option<u8>,
    /// Hosts: the source host's gateway, the first NF's address (default: the last address
    /// of its subnet, 198.18.0.254).
    #[serde(default)]
    pub src_gw: Option<Ipv4Addr>,
    /// Hosts: the destination host's gateway, the last NF's address (default 198.19.0.254).
    #[serde(default)]
    pub dst_gw: Option<Ipv4Addr>,
    /// Hosts: a command run in the destination host's namespace for the whole run.
    #[serde(default)]
    pub server: Option<HostCommand>,
    /// Hosts: a command run in the source host's namespace; its exit ends the run.
    #[serde(default)]
    pub client: Option<HostCommand>,
    /// Hosts: `ping` round trips each way (source to destination, then back) before the
    /// client (default 3; 0: none).
    #[serde(default)]
    pub ping: Option<u32>,
}

fn default_traffic_driver() -> Driver {
    Driver::Mmsg
}

fn one() -> u32 {
    1
}
fn default_gen_batch() -> usize {
    32
}
fn default_dst() -> Ipv4Addr {
    Ipv4Addr::new(198, 19, 0, 1)
}
fn default_src() -> Ipv4Addr {
    Ipv4Addr::new(198, 18, 0, 1)
}
fn default_drain() -> u64 {
    200
}

impl Traffic {
    /// The source and destination hosts' addresses, with their defaults (`kind = "hosts"`):
    /// a gateway defaults to the last address of the host's subnet.
    pub fn host_addrs(&self) -> (HostAddr, HostAddr) {
        let len = self.prefix_len.unwrap_or(HOST_PREFIX_LEN).min(32);
        let host = |ip: Ipv4Addr, gw: Option<Ipv4Addr>| {
            let m = scc_nf::wire::ipv4::prefix_mask(len);
            let last = (u32::from(ip) | !m).wrapping_sub(1);
            HostAddr {
                ip,
                prefix_len: len,
                gw: gw.unwrap_or(Ipv4Addr::from(last)),
            }
        };
        (
            host(self.src_ip, self.src_gw),
            host(self.dst_ip, self.dst_gw),
        )
    }

    /// Ping round trips each way (`kind = "hosts"`).
    pub fn pings(&self) -> u32 {
        self.ping.unwrap_or(HOST_PINGS)
    }

    /// The frame sizes and weights (`frame_mix`, else `frame_size`, else 64).
    pub fn mix(&self) -> Vec<MixEntry> {
        if !self.frame_mix.is_empty() {
            self.frame_mix.clone()
        } else {
            vec![MixEntry {
                size: self.frame_size.unwrap_or(64),
                weight: 1,
            }]
        }
    }
}

/// A whole chain file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Chain {
    /// Chain name (used in MACs and messages).
    pub name: String,
    /// `runtime` | `profile`.
    #[serde(default)]
    pub mode: Mode,
    /// Chain-wide I/O.
    #[serde(default)]
    pub io: IoSpec,
    /// How NFs are connected.
    #[serde(default)]
    pub interconnect: Interconnect,
    /// Scheduling.
    #[serde(default)]
    pub schedule: Schedule,
    /// The NFs, in chain order (`[[nf]]`).
    #[serde(rename = "nf", default)]
    pub nfs: Vec<NfSpec>,
    /// Traffic; without it the chain is deployed, checked and torn down.
    #[serde(default)]
    pub traffic: Option<Traffic>,
}

impl Chain {
    /// Whether real hosts sit at the chain's ends (`traffic.kind = "hosts"`).
    pub fn hosts(&self) -> bool {
        self.traffic
            .as_ref()
            .is_some_and(|t| t.kind == TrafficKind::Hosts)
    }

    /// The effective I/O of NF `i` (chain `[io]` with the NF's overrides).
    pub fn nf_io(&self, i: usize) -> IoSpec {
        let mut io = self.io.clone();
        if let Some(nf) = self.nfs.get(i) {
            if let Some(d) = nf.io.driver {
                io.driver = d;
            }
            if let Some(b) = nf.io.batch {
                io.batch = b;
            }
            if let Some(p) = nf.io.poll {
                io.poll = p;
            }
            if let Some(q) = nf.io.rx_queue_frames {
                io.rx_queue_frames = Some(q);
            }
        }
        io
    }

    /// The core NF `i` is pinned to: its own `core`, else the schedule's first core.
    pub fn nf_core(&self, i: usize) -> Option<usize> {
        self.nfs
            .get(i)
            .and_then(|n| n.core)
            .or_else(|| self.schedule.cores.first().copied())
    }

    /// Fields that need host privileges (CAP_SYS_NICE / CAP_SYS_ADMIN), as `field (capability)`.
    /// Empty when the chain can run for an ordinary user inside its own user namespace.
    pub fn privileged_fields(&self) -> Vec<String> {
        let s = &self.schedule;
        let mut out = Vec::new();
        if let Some(p) = s.policy
            && p.is_realtime()
        {
            out.push(format!("schedule.policy = \"{}\" (CAP_SYS_NICE)", p.name()));
        }
        if let Some(n) = s.nice
            && n < 0
        {
            out.push(format!("schedule.nice = {n} (CAP_SYS_NICE)"));
        }
        if s.rr_timeslice_ms.is_some() {
            out.push("schedule.rr_timeslice_ms (CAP_SYS_ADMIN)".to_string());
        }
        if s.reserve {
            out.push("schedule.reserve (CAP_SYS_ADMIN)".to_string());
        }
        if s.isolate {
            out.push("schedule.isolate (CAP_SYS_ADMIN)".to_string());
        }
        out
    }
}
