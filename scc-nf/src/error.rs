//! Errors of the NF library.

use crate::lpm::LpmError;

/// Everything that can go wrong configuring or running an NF.
#[derive(Debug, thiserror::Error)]
pub enum NfError {
    /// A line of a routes or rules file (or a `--route`) is malformed.
    #[error("{source_name}:{line}: {msg}")]
    Parse {
        /// File name (or `--route` / `inline`).
        source_name: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The NF configuration is invalid (with the field or element concerned).
    #[error("configuration: {0}")]
    Config(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    File {
        /// The file.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The routing table could not be compiled.
    #[error("routing table: {0}")]
    Lpm(#[from] LpmError),
    /// The chain-order hand-off file could not be opened.
    #[error(transparent)]
    Handoff(#[from] scc_sched::handoff::HandoffError),
    /// Chain order: the NF holding the core made no progress for `waited` (crashed or stuck);
    /// this NF gives up so that the launcher can report it and tear the chain down.
    #[error(
        "chain-order hand-off stalled: NF #{holder}{} has held the core without progress for {waited:?}",
        .pid.map(|p| format!(" (pid {p})")).unwrap_or_default()
    )]
    HandoffStalled {
        /// Index in chain order of the member holding the token.
        holder: usize,
        /// Its PID, when it had registered.
        pid: Option<u32>,
        /// How long this NF waited without seeing progress.
        waited: std::time::Duration,
    },
    /// Packet I/O failed (opening an interface, receiving, sending).
    #[error(transparent)]
    Io(#[from] scc_io::IoError),
}

impl NfError {
    /// True for errors caused by the user's input (arguments, files, interface names): the CLI
    /// exits with code 2 for these.
    pub fn is_usage(&self) -> bool {
        match self {
            NfError::Parse { .. } | NfError::Config(_) | NfError::File { .. } | NfError::Lpm(_) => {
                true
            }
            NfError::Io(e) => matches!(
                e,
                scc_io::IoError::UnknownInterface(_)
                    | scc_io::IoError::BadBatchSize(_)
                    | scc_io::IoError::BadQueueSize(_)
                    | scc_io::IoError::BadFrameSize(_)
                    | scc_io::IoError::UnknownDriver(_)
                    | scc_io::IoError::Pcap { .. }
            ),
            NfError::Handoff(_) => true,
            NfError::HandoffStalled { .. } => false,
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = NfError> = std::result::Result<T, E>;
