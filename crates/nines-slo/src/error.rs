//! The crate's error type.

/// What can go wrong in SLO maths.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum Error {
    /// A timestamp outside what calendar arithmetic supports.
    #[error("time {0} ms is outside the supported calendar range")]
    TimeOutOfRange(i64),
    /// An unknown IANA time zone.
    #[error("unknown time zone {0:?} (use an IANA name such as Europe/Berlin or UTC)")]
    UnknownTimeZone(String),
    /// No maintenance window has this id.
    #[error("no maintenance window with id {0}")]
    UnknownWindow(i64),
    /// The window comes from the config, which is where it changes.
    #[error("maintenance window {0} is defined in the config; change it there and reload")]
    ConfigWindow(i64),
    /// The window was withdrawn already.
    #[error("maintenance window {0} was withdrawn")]
    WithdrawnWindow(i64),
    /// The state store failed.
    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
