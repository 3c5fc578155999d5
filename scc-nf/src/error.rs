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
                    | scc_io::IoError::BadFrameSize(_)
                    | scc_io::IoError::UnknownDriver(_)
                    | scc_io::IoError::Pcap { .. }
            ),
        }
    }
}

/// Result alias of this crate.
pub type Result<T, E = NfError> = std::result::Result<T, E>;
