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
}

impl Error {
    /// Builds an [`Error::Io`] from the last OS error.
    pub(crate) fn last_os(what: impl Into<String>) -> Self {
        Error::Io {
            what: what.into(),
            source: std::io::Error::last_os_error(),
        }
    }

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
