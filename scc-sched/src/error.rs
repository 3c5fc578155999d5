//! Typed errors of scc-sched.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while scheduling, pinning or reserving cores.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The kernel refused with `EPERM`/`EACCES`: the named capability is missing.
    #[error("{op}: permission denied (needs {capability} or root)")]
    PermissionDenied {
        /// What was attempted.
        op: String,
        /// The missing capability, e.g. `CAP_SYS_NICE`.
        capability: &'static str,
    },
    /// No process or thread with this id.
    #[error("no such process or thread: {pid}")]
    NoSuchProcess {
        /// The id that was not found.
        pid: i32,
    },
    /// A nice value outside -20..=19.
    #[error("nice {0} out of range -20..=19")]
    NiceOutOfRange(i32),
    /// A real-time priority outside 1..=99.
    #[error("priority {priority} out of range 1..=99 for {policy}")]
    PriorityOutOfRange {
        /// The policy name.
        policy: &'static str,
        /// The priority asked for.
        priority: u32,
    },
    /// A static priority outside 100..=139 (Eq. (1)).
    #[error("static priority {0} out of range 100..=139")]
    StaticPriorityOutOfRange(u32),
    /// An EEVDF slice outside what the kernel accepts (0.1..=100 ms).
    #[error("slice {0:?} out of range 100us..=100ms")]
    SliceOutOfRange(Duration),
    /// A slice was asked for a policy that has none (only `other` and `batch` have one).
    #[error("a custom slice applies only to the other and batch policies, not {0}")]
    SliceNeedsFairPolicy(&'static str),
    /// An RR time slice (ms) that is not positive.
    #[error("RR time slice {0} ms must be at least 1 ms")]
    RrTimesliceOutOfRange(i64),
    /// The running kernel lacks a policy or feature.
    #[error("not supported by this kernel/host: {feature}: {reason}")]
    Unsupported {
        /// What is missing.
        feature: String,
        /// Why we think so.
        reason: String,
    },
    /// A real-time policy would cover every online core: a housekeeping core must stay fair.
    #[error(
        "refusing {policy} on every online core (cores {cores:?}): keep at least one housekeeping core free of real-time tasks"
    )]
    RealTimeOnAllCores {
        /// The policy name.
        policy: &'static str,
        /// The cores it would cover.
        cores: Vec<usize>,
    },
    /// A core that this host does not have (or that is offline).
    #[error("core {core} is not an online core of this host (online: {online:?})")]
    CoreNotOnline {
        /// The core asked for.
        core: usize,
        /// The host's online cores.
        online: Vec<usize>,
    },
    /// An empty core list where at least one core is needed.
    #[error("empty core list for {0}")]
    NoCores(String),
    /// A name unfit for a cgroup or plan entry.
    #[error("invalid name {0:?}: use 1-32 characters of [a-z0-9_-]")]
    InvalidName(String),
    /// A configuration field with a bad value (names the field, says why).
    #[error("{field}: {reason}")]
    Field {
        /// The field, e.g. `schedule.policy`.
        field: &'static str,
        /// What is wrong and, where possible, what was meant.
        reason: String,
    },
    /// A scheduling plan that cannot be built; the message says why.
    #[error("plan: {0}")]
    Plan(String),
    /// A cgroup operation failed for a reason other than permissions.
    #[error("cgroup {path}: {reason}")]
    Cgroup {
        /// The cgroup directory or file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// Any other I/O error, with the file or operation it concerns.
    #[error("{what}: {source}")]
    Io {
        /// The file or operation.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Maps an OS error of a scheduling call on `pid` to a typed error.
    pub(crate) fn from_sched(op: impl Into<String>, pid: i32, e: io::Error) -> Error {
        match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
                op: op.into(),
                capability: "CAP_SYS_NICE",
            },
            Some(libc::ESRCH) => Error::NoSuchProcess { pid },
            _ => Error::Io {
                what: op.into(),
                source: e,
            },
        }
    }

    /// Maps an OS error of a file operation (sysctl, cgroup, device) to a typed error.
    pub(crate) fn from_file(
        what: impl Into<String>,
        capability: &'static str,
        e: io::Error,
    ) -> Error {
        match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::PermissionDenied {
                op: what.into(),
                capability,
            },
            _ => Error::Io {
                what: what.into(),
                source: e,
            },
        }
    }
}
