//! The profiler's error type.

/// Everything that can go wrong in the profiler's library functions.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done (names the file, syscall or PID).
        what: String,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file's or command's text could not be parsed.
    #[error("cannot parse {what}: {detail}")]
    Parse {
        /// What was parsed (a path or a command).
        what: String,
        /// Why it failed.
        detail: String,
    },
    /// An argument or configuration value was out of range.
    #[error("invalid argument: {0}")]
    Invalid(String),
    /// Serialising or deserialising a saved table failed.
    #[error("serialisation: {0}")]
    Serde(String),
    /// A context-switch measurement failed.
    #[error("context switch: {0}")]
    ContextSwitch(#[from] CtxSwitchError),
}

/// Why a context-switch measurement ([`crate::sysbench::context_switch`]) failed.
#[derive(Debug, thiserror::Error)]
pub enum CtxSwitchError {
    /// FIFO/RR were asked for on core 0 (kept free of real-time tasks).
    #[error("refusing to run real-time tasks on core 0 (only core 0 is available)")]
    RealtimeOnCore0,
    /// A pipe or fork failed.
    #[error("{what}: {source}")]
    Os {
        /// The call that failed (`pipe`, `fork`).
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A child could not pin itself to the core or take the policy.
    #[error(
        "cannot set policy {policy} on core {cpu}: not permitted (needs CAP_SYS_NICE / root for fifo and rr)"
    )]
    PolicyNotPermitted {
        /// The policy asked for.
        policy: crate::model::Policy,
        /// The core asked for.
        cpu: usize,
    },
    /// The measuring child died, sent no result or timed out (and was killed).
    #[error("measurement process failed or timed out")]
    ChildFailed,
    /// A pipe read or write failed inside a measuring child.
    #[error("pipe I/O failed in the measurement process")]
    ChildIo,
    /// Other load made the pipe alone slower than a switch: no figure.
    #[error(
        "too noisy: the pipe alone ({pipe_ns:.0} ns) took longer than half a round trip ({half_round_trip_ns:.0} ns)"
    )]
    TooNoisy {
        /// One pipe write + read, ns.
        pipe_ns: f64,
        /// Half a ping-pong round trip, ns.
        half_round_trip_ns: f64,
    },
}

impl Error {
    /// Builds an [`Error::Io`].
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }
}

/// The profiler's result type.
pub type Result<T> = std::result::Result<T, Error>;
