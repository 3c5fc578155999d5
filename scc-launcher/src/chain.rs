//! The chain description: a TOML (or JSON) file naming the NFs in order, their execution
//! environment, I/O, interconnect, scheduling and traffic (paper §5.1, Fig. 6).
//!
//! Parsing ([`Chain::parse`]) rejects unknown fields with the field's path and, when a known
//! field is close, the intended one; [`Chain::validate`] (pure) checks every value and returns
//! every problem with its field path and reason.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use scc_io::{Driver, MAX_BATCH};
use serde::{Deserialize, Serialize};

/// The kernel's `IFNAMSIZ - 1`: the longest interface name Linux accepts.
pub const MAX_IFNAME: usize = 15;

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
}

impl Default for IoSpec {
    fn default() -> Self {
        Self {
            driver: Driver::Mmsg,
            batch: 32,
            poll: Poll::Sleep,
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

/// Scheduling policy (`schedule.policy`).
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

impl Policy {
    /// Real-time policies (need CAP_SYS_NICE).
    pub fn is_realtime(self) -> bool {
        matches!(self, Policy::Fifo | Policy::Rr)
    }
    /// The name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Other => "other",
            Policy::Batch => "batch",
            Policy::Fifo => "fifo",
            Policy::Rr => "rr",
            Policy::Idle => "idle",
        }
    }
}

/// Scheduling plan (paper Fig. 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    /// NFs and switch share one core (Fig. 7a).
    #[default]
    Uniprocessor,
    /// NFs on one core, the switch on another; generalised to one scheduler per core (Fig. 7b).
    Multiprocessor,
}

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
    /// `uniprocessor` | `multiprocessor`.
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

/// `[traffic]`: the generator at the chain's head and the sink at its tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Traffic {
    /// Offered rate in frames per second.
    pub rate_pps: u64,
    /// Frame size in bytes without FCS (default 64); exclusive with `frame_mix`.
    #[serde(default)]
    pub frame_size: Option<usize>,
    /// A mix of frame sizes, e.g. `[{size = 64, weight = 7}, {size = 1514, weight = 1}]`.
    #[serde(default)]
    pub frame_mix: Vec<MixEntry>,
    /// How long to send, in seconds.
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
    /// Destination IPv4 address of the probes (must be routed by every router).
    #[serde(default = "default_dst")]
    pub dst_ip: Ipv4Addr,
    /// Source IPv4 address of the probes.
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

/// Facts about the host that validation needs (kept apart so validation stays pure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostInfo {
    /// Online CPUs (cores are numbered `0..cores`).
    pub cores: usize,
    /// Whether `ovs-vswitchd` is installed.
    pub ovs: bool,
}

impl HostInfo {
    /// Detects the host: CPUs configured online and `ovs-vswitchd` on `PATH`.
    pub fn detect() -> Self {
        Self {
            cores: online_cpus(),
            ovs: crate::ovs::OvsTools::find().is_ok(),
        }
    }
}

/// Number of online CPUs (`/sys/devices/system/cpu/online`, else available parallelism).
pub fn online_cpus() -> usize {
    if let Ok(s) = std::fs::read_to_string("/sys/devices/system/cpu/online") {
        let mut max = None;
        for part in s.trim().split(',') {
            let hi = part
                .rsplit('-')
                .next()
                .and_then(|x| x.parse::<usize>().ok());
            if let Some(hi) = hi {
                max = Some(max.map_or(hi, |m: usize| m.max(hi)));
            }
        }
        if let Some(m) = max {
            return m + 1;
        }
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Looks `prog` up in `PATH`.
pub fn find_in_path(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// One problem in a chain file: where (a field path such as `nf[1].routes[0]`) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field path, e.g. `schedule.nice` or `nf[0].name`.
    pub path: String,
    /// What is wrong and, where possible, how to fix it.
    pub reason: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

/// Errors of reading a chain file.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML/JSON, an unknown field, a wrong type.
    #[error("{}", fmt_parse(.line, .error))]
    Parse {
        /// 1-based line, when known.
        line: Option<usize>,
        /// The field and the reason.
        error: FieldError,
    },
    /// Parsed, but some values are wrong (every problem listed).
    #[error("{} problem(s):\n{}", .0.len(), .0.iter().map(|e| format!("  {e}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<FieldError>),
}

fn fmt_parse(line: &Option<usize>, e: &FieldError) -> String {
    match line {
        Some(l) => format!("line {l}: {e}"),
        None => e.to_string(),
    }
}

impl ChainError {
    /// The field errors (one for a parse error).
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            ChainError::Read { path, source } => vec![FieldError {
                path: path.display().to_string(),
                reason: source.to_string(),
            }],
            ChainError::Parse { error, .. } => vec![error.clone()],
            ChainError::Invalid(v) => v.clone(),
        }
    }
}

/// Suggests the candidate closest to `word` when it is close enough.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let cands: Vec<&str> = candidates.into_iter().collect();
    // An abbreviation (`prio` for `priority`) first, the shortest if several.
    if word.len() >= 3
        && let Some(c) = cands
            .iter()
            .filter(|c| c.starts_with(word))
            .min_by_key(|c| c.len())
    {
        return Some(c);
    }
    let (d, c) = cands
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .min_by_key(|(d, _)| *d)?;
    let limit = (word.len().max(c.len()) / 3).max(1) + usize::from(word.len() > 4);
    (d <= limit || word.starts_with(c)).then_some(c)
}

/// Rewrites serde's "unknown field/variant `x`, expected ..." into a reason with a suggestion.
fn explain(msg: &str) -> String {
    let msg = msg.trim();
    for what in ["unknown field", "unknown variant"] {
        let Some(rest) = msg.strip_prefix(what) else {
            continue;
        };
        let mut parts = rest.split('`');
        let _ = parts.next();
        let Some(word) = parts.next() else { break };
        let expected_part = rest
            .find("expected")
            .map(|i| &rest[i..])
            .unwrap_or_default();
        let cands: Vec<&str> = expected_part.split('`').skip(1).step_by(2).collect();
        let list = cands
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!("{what} `{word}`");
        if let Some(s) = suggest(word, cands.iter().copied()) {
            out.push_str(&format!(", did you mean `{s}`?"));
        }
        if cands.is_empty() {
            out.push_str(" (this table takes no fields)");
        } else {
            out.push_str(&format!(" (expected one of {list})"));
        }
        return out;
    }
    msg.to_string()
}

fn path_string(path: &serde_path_to_error::Path, msg: &str) -> String {
    let mut p = path.to_string();
    // For an unknown field serde_path_to_error's path ends at the table; add the field.
    if msg.starts_with("unknown field")
        && let Some(word) = msg.split('`').nth(1)
        && !p.ends_with(word)
    {
        p = if p == "." || p.is_empty() {
            word.to_string()
        } else {
            format!("{p}.{word}")
        };
    }
    if p == "." || p.is_empty() {
        "(top level)".to_string()
    } else {
        p
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

impl Chain {
    /// Parses a chain from TOML, or JSON when `text` starts with `{`.
    pub fn parse(text: &str) -> Result<Chain, ChainError> {
        if text.trim_start().starts_with('{') {
            Self::parse_json(text)
        } else {
            Self::parse_toml(text)
        }
    }

    /// Parses TOML.
    pub fn parse_toml(text: &str) -> Result<Chain, ChainError> {
        let de = toml::Deserializer::parse(text).map_err(|e| ChainError::Parse {
            line: e.span().map(|s| line_of(text, s.start)),
            error: FieldError {
                path: "(syntax)".into(),
                reason: e.message().trim().to_string(),
            },
        })?;
        serde_path_to_error::deserialize(de).map_err(|e| {
            let line = e.inner().span().map(|s| line_of(text, s.start));
            let msg = e.inner().message().to_string();
            ChainError::Parse {
                line,
                error: FieldError {
                    path: path_string(e.path(), &msg),
                    reason: explain(&msg),
                },
            }
        })
    }

    /// Parses JSON (the same schema).
    pub fn parse_json(text: &str) -> Result<Chain, ChainError> {
        let mut de = serde_json::Deserializer::from_str(text);
        let chain: Chain = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let line = Some(e.inner().line()).filter(|l| *l > 0);
            let syntax = matches!(
                e.inner().classify(),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof
            );
            let mut msg = e.inner().to_string();
            if let Some(i) = msg.rfind(" at line ") {
                msg.truncate(i);
            }
            ChainError::Parse {
                line,
                error: FieldError {
                    path: if syntax {
                        "(syntax)".into()
                    } else {
                        path_string(e.path(), &msg)
                    },
                    reason: explain(&msg),
                },
            }
        })?;
        de.end().map_err(|e| ChainError::Parse {
            line: Some(e.line()),
            error: FieldError {
                path: "(syntax)".into(),
                reason: "trailing characters after the JSON object".into(),
            },
        })?;
        Ok(chain)
    }

    /// Reads and parses a file (JSON when it ends in `.json` or starts with `{`).
    pub fn load(path: &Path) -> Result<Chain, ChainError> {
        let text = std::fs::read_to_string(path).map_err(|source| ChainError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        if path.extension().is_some_and(|e| e == "json") {
            Self::parse_json(&text)
        } else {
            Self::parse(&text)
        }
    }

    /// Checks the files the chain names (`routes_file`, `rules_file`, `config`, relative to
    /// `base`, the chain file's folder) with scc-nf's own parsers: missing, unreadable or
    /// malformed files are reported with the field path and scc-nf's reason (file and line).
    pub fn file_problems(&self, base: &Path) -> Vec<FieldError> {
        let mut v = Vec::new();
        for (i, nf) in self.nfs.iter().enumerate() {
            let path = |f: &PathBuf| base.join(f).display().to_string();
            if let Some(f) = &nf.routes_file
                && let Err(e) = scc_nf::route::load_routes_file(&path(f))
            {
                v.push(FieldError {
                    path: format!("nf[{i}].routes_file"),
                    reason: e.to_string(),
                });
            }
            if let Some(f) = &nf.rules_file
                && let Err(e) = scc_nf::filter::load_rules_file(&path(f))
            {
                v.push(FieldError {
                    path: format!("nf[{i}].rules_file"),
                    reason: e.to_string(),
                });
            }
            if let Some(f) = &nf.config
                && let Err(e) = scc_nf::config::NfConfig::load(&path(f))
            {
                v.push(FieldError {
                    path: format!("nf[{i}].config"),
                    reason: e.to_string(),
                });
            }
        }
        v
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

    /// Checks every value (pure: the host facts come in `host`). Returns every problem.
    pub fn validate(&self, host: &HostInfo) -> Result<(), ChainError> {
        let errs = self.problems(host);
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ChainError::Invalid(errs))
        }
    }

    /// Every problem of the chain, empty when valid.
    pub fn problems(&self, host: &HostInfo) -> Vec<FieldError> {
        let mut v = Vec::new();
        let mut err = |path: String, reason: String| v.push(FieldError { path, reason });
        let core_ok = |c: usize| c < host.cores;
        let core_reason = |c: usize| {
            format!(
                "core {c} is beyond this host's {} online CPU(s) (0..={})",
                host.cores,
                host.cores.saturating_sub(1)
            )
        };

        if !valid_name(&self.name, 64) {
            err(
                "name".into(),
                format!(
                    "`{}`: a chain name is 1..=64 characters of [a-z0-9-]",
                    self.name
                ),
            );
        }
        check_io(&self.io, "io", &mut err);

        // Interconnect.
        if self.interconnect.kind == InterconnectKind::Ovs && !host.ovs {
            err(
                "interconnect.kind".into(),
                "`ovs` needs Open vSwitch (ovs-vswitchd not found in PATH; e.g. apt install \
                 openvswitch-switch), or use `b2b` or `bridge`"
                    .into(),
            );
        }
        if let Some(c) = self.interconnect.core {
            if self.interconnect.kind == InterconnectKind::B2b {
                err(
                    "interconnect.core".into(),
                    "a b2b chain has no switch to place".into(),
                );
            } else if !core_ok(c) {
                err("interconnect.core".into(), core_reason(c));
            }
        }

        // Schedule.
        let s = &self.schedule;
        for (i, &c) in s.cores.iter().enumerate() {
            if !core_ok(c) {
                err(format!("schedule.cores[{i}]"), core_reason(c));
            }
            if s.cores[..i].contains(&c) {
                err(
                    format!("schedule.cores[{i}]"),
                    format!("core {c} listed twice"),
                );
            }
        }
        match s.policy {
            Some(Policy::Other | Policy::Batch) | None => {
                if s.priority.is_some() {
                    err(
                        "schedule.priority".into(),
                        "priority is for fifo/rr; other/batch take `nice`".into(),
                    );
                }
            }
            Some(Policy::Fifo | Policy::Rr) => {
                match s.priority {
                    Some(p) if !(1..=99).contains(&p) => err(
                        "schedule.priority".into(),
                        format!("{p} is out of range: fifo/rr priorities are 1..=99"),
                    ),
                    None => err(
                        "schedule.priority".into(),
                        "fifo/rr need a priority (1..=99)".into(),
                    ),
                    _ => {}
                }
                if s.nice.is_some() {
                    err(
                        "schedule.nice".into(),
                        "nice is for other/batch; fifo/rr take `priority`".into(),
                    );
                }
                if s.slice_us.is_some() {
                    err(
                        "schedule.slice_us".into(),
                        "the EEVDF slice is for other/batch; rr takes `rr_timeslice_ms`".into(),
                    );
                }
                if host.cores > 0 {
                    let mut rt_cores: Vec<usize> = (0..self.nfs.len())
                        .filter_map(|i| self.nf_core(i))
                        .collect();
                    rt_cores.sort_unstable();
                    rt_cores.dedup();
                    let unpinned = (0..self.nfs.len()).any(|i| self.nf_core(i).is_none());
                    if unpinned || rt_cores.len() >= host.cores {
                        err(
                            "schedule.policy".into(),
                            "a real-time chain must leave a housekeeping core fair: pin every \
                             NF (schedule.cores or nf.core) to a subset of the CPUs"
                                .into(),
                        );
                    } else if rt_cores.contains(&0) && host.cores > 1 {
                        err(
                            "schedule.cores".into(),
                            "keep core 0 free of real-time tasks: use other cores".into(),
                        );
                    }
                }
            }
            Some(Policy::Idle) => {
                if s.nice.is_some() || s.priority.is_some() {
                    err(
                        "schedule.policy".into(),
                        "idle takes neither nice nor priority".into(),
                    );
                }
            }
        }
        if let Some(n) = s.nice
            && !(-20..=19).contains(&n)
        {
            err(
                "schedule.nice".into(),
                format!("{n} is out of range: nice is -20..=19"),
            );
        }
        if let Some(t) = s.rr_timeslice_ms {
            if s.policy != Some(Policy::Rr) {
                err(
                    "schedule.rr_timeslice_ms".into(),
                    "only meaningful with policy = \"rr\"".into(),
                );
            } else if t == 0 || t > 10_000 {
                err(
                    "schedule.rr_timeslice_ms".into(),
                    format!("{t} is out of range: 1..=10000 ms"),
                );
            }
        }
        if let Some(us) = s.slice_us
            && !(100..=100_000).contains(&us)
        {
            err(
                "schedule.slice_us".into(),
                format!("{us} is out of range: the kernel clamps slices to 100..=100000 us"),
            );
        }
        if s.plan == Plan::Multiprocessor {
            let switch = self.interconnect.core.or(s.cores.get(1).copied());
            if self.interconnect.kind != InterconnectKind::B2b && switch.is_none() {
                err(
                    "schedule.plan".into(),
                    "the multiprocessor plan puts the switch on its own core: give \
                     schedule.cores = [NF core, switch core] or interconnect.core"
                        .into(),
                );
            }
        }
        if (s.reserve || s.isolate) && s.cores.is_empty() {
            err(
                "schedule.cores".into(),
                "core reservation needs the cores to reserve".into(),
            );
        }
        if s.isolate && !s.reserve {
            err(
                "schedule.isolate".into(),
                "isolate works on a reservation: set reserve = true too".into(),
            );
        }

        // NFs.
        if self.nfs.is_empty() {
            err("nf".into(), "a chain needs at least one [[nf]]".into());
        } else if self.nfs.len() > 250 {
            err("nf".into(), format!("{} NFs: at most 250", self.nfs.len()));
        }
        for (i, nf) in self.nfs.iter().enumerate() {
            let p = format!("nf[{i}]");
            if !valid_name(&nf.name, MAX_IFNAME) {
                err(
                    format!("{p}.name"),
                    format!("`{}`: an NF name is non-empty [a-z0-9-]", nf.name),
                );
            } else {
                let suffixes: &[&str] = if self.interconnect.kind == InterconnectKind::B2b {
                    &crate::plan::IF_SUFFIXES[..2]
                } else {
                    &crate::plan::IF_SUFFIXES
                };
                let longest = suffixes.iter().map(|s| s.len()).max().unwrap_or(0);
                for suffix in suffixes {
                    let ifname = format!("{}{suffix}", nf.name);
                    if ifname.len() > MAX_IFNAME {
                        err(
                            format!("{p}.name"),
                            format!(
                                "`{}` makes the interface name `{ifname}` ({} bytes) but the \
                                 kernel allows {MAX_IFNAME} (IFNAMSIZ-1): use at most {} characters",
                                nf.name,
                                ifname.len(),
                                MAX_IFNAME - longest
                            ),
                        );
                        break;
                    }
                }
            }
            if self.nfs[..i].iter().any(|o| o.name == nf.name) {
                err(
                    format!("{p}.name"),
                    format!("duplicate NF name `{}`", nf.name),
                );
            }
            if let Some(c) = nf.core
                && !core_ok(c)
            {
                err(format!("{p}.core"), core_reason(c));
            }
            let mut io = self.io.clone();
            if let Some(d) = nf.io.driver {
                io.driver = d;
            }
            if let Some(b) = nf.io.batch {
                io.batch = b;
            }
            if nf.io.driver.is_some() || nf.io.batch.is_some() {
                check_io(&io, &format!("{p}.io"), &mut err);
            }
            for (j, r) in nf.routes.iter().enumerate() {
                if let Err(e) = parse_prefix(r) {
                    err(format!("{p}.routes[{j}]"), e);
                }
            }
            if let Some(m) = &nf.gw_mac
                && let Err(e) = parse_mac(m)
            {
                err(format!("{p}.gw_mac"), e);
            }
            match nf.kind {
                NfKind::Router => {
                    if nf.routes.is_empty() && nf.routes_file.is_none() && nf.config.is_none() {
                        err(
                            format!("{p}.routes"),
                            "a router needs routes (e.g. routes = [\"198.18.0.0/15\"]) or \
                             routes_file"
                                .into(),
                        );
                    }
                    if !nf.rules.is_empty() || nf.rules_file.is_some() {
                        err(
                            format!("{p}.rules"),
                            "rules are for a firewall, this NF is a router".into(),
                        );
                    }
                }
                NfKind::Kernel => {
                    if nf.routes.is_empty() {
                        err(
                            format!("{p}.routes"),
                            "a kernel router needs routes (e.g. routes = [\"198.18.0.0/15\"])"
                                .into(),
                        );
                    }
                    if nf.env != Env::Netns {
                        err(
                            format!("{p}.env"),
                            "a kernel NF forwards in its own namespace: use env = \"netns\"".into(),
                        );
                    }
                    for (field, set) in [
                        ("routes_file", nf.routes_file.is_some()),
                        ("config", nf.config.is_some()),
                        ("rules", !nf.rules.is_empty() || nf.rules_file.is_some()),
                    ] {
                        if set {
                            err(
                                format!("{p}.{field}"),
                                "not for a kernel NF (it has `routes` only)".into(),
                            );
                        }
                    }
                }
                NfKind::Firewall | NfKind::Forward => {
                    if !nf.routes.is_empty() || nf.routes_file.is_some() {
                        err(
                            format!("{p}.routes"),
                            format!("routes are for a router, this NF is a {}", nf.kind.name()),
                        );
                    }
                    if nf.kind == NfKind::Forward
                        && (!nf.rules.is_empty() || nf.rules_file.is_some())
                    {
                        err(
                            format!("{p}.rules"),
                            "rules are for a firewall, this NF is a forward".into(),
                        );
                    }
                }
            }
            for (j, r) in nf.rules.iter().enumerate() {
                if r.trim().is_empty() || r.contains('\n') {
                    err(
                        format!("{p}.rules[{j}]"),
                        "a rule is one non-empty line".into(),
                    );
                } else if let Err(e) = scc_nf::filter::parse_rules(r, "rule") {
                    let reason = match e {
                        scc_nf::NfError::Parse { msg, .. } => msg,
                        other => other.to_string(),
                    };
                    err(format!("{p}.rules[{j}]"), format!("`{r}`: {reason}"));
                }
            }
        }

        // Traffic.
        if let Some(t) = &self.traffic {
            if t.rate_pps == 0 {
                err("traffic.rate_pps".into(), "must be > 0".into());
            } else if t.rate_pps > 100_000_000 {
                err(
                    "traffic.rate_pps".into(),
                    format!("{} is beyond any veth (at most 100000000)", t.rate_pps),
                );
            }
            if t.frame_size.is_some() && !t.frame_mix.is_empty() {
                err(
                    "traffic.frame_mix".into(),
                    "give either frame_size or frame_mix, not both".into(),
                );
            }
            if let Some(s) = t.frame_size
                && !(MIN_FRAME..=MAX_FRAME).contains(&s)
            {
                err(
                    "traffic.frame_size".into(),
                    format!("{s} is out of range: {MIN_FRAME}..={MAX_FRAME} bytes (no FCS)"),
                );
            }
            for (j, m) in t.frame_mix.iter().enumerate() {
                if !(MIN_FRAME..=MAX_FRAME).contains(&m.size) {
                    err(
                        format!("traffic.frame_mix[{j}].size"),
                        format!(
                            "{} is out of range: {MIN_FRAME}..={MAX_FRAME} bytes (no FCS)",
                            m.size
                        ),
                    );
                }
                if m.weight == 0 {
                    err(
                        format!("traffic.frame_mix[{j}].weight"),
                        "must be > 0".into(),
                    );
                }
            }
            match (t.duration_s, t.packets) {
                (None, None) => err(
                    "traffic.duration_s".into(),
                    "give duration_s or packets (or both: whichever ends first)".into(),
                ),
                (Some(d), _) if !(d > 0.0 && d <= 86_400.0) => err(
                    "traffic.duration_s".into(),
                    format!("{d} is out of range: 0 < duration_s <= 86400"),
                ),
                (_, Some(0)) => err("traffic.packets".into(), "must be > 0".into()),
                _ => {}
            }
            if t.flows == 0 || t.flows > 65_535 {
                err(
                    "traffic.flows".into(),
                    format!("{} is out of range: 1..=65535", t.flows),
                );
            }
            if t.batch == 0 || t.batch > MAX_BATCH {
                err(
                    "traffic.batch".into(),
                    format!("{} is out of range: 1..={MAX_BATCH}", t.batch),
                );
            }
            if let Some(c) = t.core
                && !core_ok(c)
            {
                err("traffic.core".into(), core_reason(c));
            }
            if t.driver == Driver::Mem {
                err(
                    "traffic.driver".into(),
                    "`mem` is an in-process port; the traffic needs `packet`, `mmsg` or `ring`"
                        .into(),
                );
            }
            for (field, ip) in [("traffic.dst_ip", t.dst_ip), ("traffic.src_ip", t.src_ip)] {
                if !in_benchmark_range(ip) {
                    err(
                        field.into(),
                        format!("{ip} is outside 198.18.0.0/15 (the benchmarking range)"),
                    );
                }
            }
            for (i, nf) in self.nfs.iter().enumerate() {
                if !matches!(nf.kind, NfKind::Router | NfKind::Kernel)
                    || nf.routes.is_empty()
                    || nf.routes_file.is_some()
                {
                    continue;
                }
                let covered =
                    nf.routes
                        .iter()
                        .filter_map(|r| parse_prefix(r).ok())
                        .any(|(net, len)| {
                            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                            u32::from(t.dst_ip) & mask == u32::from(net)
                        });
                if !covered {
                    err(
                        format!("nf[{i}].routes"),
                        format!(
                            "no route covers the traffic's destination {} (traffic.dst_ip): \
                             every probe would be dropped",
                            t.dst_ip
                        ),
                    );
                }
            }
        }
        // The scheduling plan (scc-sched's rules: Fig. 7 kinds, cores, housekeeping core).
        if host.cores > 0 && !self.nfs.is_empty() && v.is_empty() {
            let online: Vec<usize> = (0..host.cores).collect();
            if let Err(e) = crate::plan::sched_plan(self, &online) {
                let msg = e.to_string();
                v.push(FieldError {
                    path: "schedule".into(),
                    reason: msg.strip_prefix("schedule: ").unwrap_or(&msg).to_string(),
                });
            }
        }

        v
    }
}

fn check_io(io: &IoSpec, p: &str, err: &mut impl FnMut(String, String)) {
    if io.driver == Driver::Mem {
        err(
            format!("{p}.driver"),
            "`mem` is an in-process port for tests; a chain needs `packet`, `mmsg` or `ring`"
                .into(),
        );
    }
    if io.batch == 0 || io.batch > MAX_BATCH {
        err(
            format!("{p}.batch"),
            format!("{} is out of range: 1..={MAX_BATCH}", io.batch),
        );
    }
}

fn in_benchmark_range(ip: Ipv4Addr) -> bool {
    u32::from(ip) & 0xfffe_0000 == u32::from(Ipv4Addr::new(198, 18, 0, 0))
}

/// `[a-z0-9-]`, 1..=max characters, not starting or ending with `-`.
pub fn valid_name(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && !s.starts_with('-')
        && !s.ends_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Parses `A.B.C.D/L` (host bits must be zero).
pub fn parse_prefix(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a prefix: expected A.B.C.D/LEN"))?;
    let addr: Ipv4Addr = a
        .parse()
        .map_err(|_| format!("`{a}` is not an IPv4 address (in prefix `{s}`)"))?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("`{l}` is not a prefix length 0..=32 (in prefix `{s}`)"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    if u32::from(addr) & !mask != 0 {
        return Err(format!(
            "`{s}` has host bits set: did you mean `{}/{len}`?",
            Ipv4Addr::from(u32::from(addr) & mask)
        ));
    }
    Ok((addr, len))
}

/// Parses `aa:bb:cc:dd:ee:ff` (a unicast MAC).
pub fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!(
            "`{s}` is not a MAC: expected six hex bytes aa:bb:cc:dd:ee:ff"
        ));
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return Err(format!("`{s}` is not a MAC: `{p}` is not two hex digits"));
        }
        mac[i] = u8::from_str_radix(p, 16)
            .map_err(|_| format!("`{s}` is not a MAC: `{p}` is not hex"))?;
    }
    if mac[0] & 1 != 0 {
        return Err(format!(
            "`{s}` is a multicast/broadcast MAC; a next hop is unicast"
        ));
    }
    if mac == [0; 6] {
        return Err(format!("`{s}` is the all-zero MAC"));
    }
    Ok(mac)
}

/// Formats a MAC as `aa:bb:cc:dd:ee:ff`.
pub fn fmt_mac(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Summary of a chain for `scc check` (what would be deployed).
pub fn summary(chain: &Chain) -> BTreeMap<&'static str, String> {
    let mut m = BTreeMap::new();
    m.insert("name", chain.name.clone());
    m.insert(
        "mode",
        match chain.mode {
            Mode::Runtime => "runtime",
            Mode::Profile => "profile",
        }
        .into(),
    );
    m.insert(
        "nfs",
        chain
            .nfs
            .iter()
            .map(|n| format!("{}:{}", n.name, n.kind.name()))
            .collect::<Vec<_>>()
            .join(" -> "),
    );
    m.insert("interconnect", chain.interconnect.kind.name().into());
    m.insert(
        "io",
        format!("{} batch {}", chain.io.driver, chain.io.batch),
    );
    m
}
