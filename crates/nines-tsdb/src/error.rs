use std::path::PathBuf;

/// Everything that can go wrong inside the storage engine.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a file of the data directory failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or folder involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A persisted file does not decode; it names the file and the problem.
    #[error("corrupt {path}: {reason}")]
    Corrupt {
        /// The file that failed to decode.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// A chunk's bytes do not decode.
    #[error("corrupt chunk: {0}")]
    Chunk(&'static str),
    /// A label set was refused.
    #[error("invalid labels: {0}")]
    InvalidLabels(String),
    /// A matcher's regular expression does not compile.
    #[error("invalid regular expression {pattern:?}: {reason}")]
    InvalidRegex {
        /// The pattern as given.
        pattern: String,
        /// The compiler's complaint.
        reason: String,
    },
    /// Another process holds the data directory.
    #[error("data directory {0} is in use by another process")]
    Locked(PathBuf),
    /// A backup target is not usable.
    #[error("backup target {path}: {reason}")]
    BackupTarget {
        /// The requested folder.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
}

/// Result alias for the storage engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_err(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { op, path, source }
}
