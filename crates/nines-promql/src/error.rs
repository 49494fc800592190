//! Query errors, mapped by the HTTP layer onto Prometheus's error types.

/// Why a query failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EvalError {
    /// The query does not parse or is invalid (`bad_data`).
    #[error("{0}")]
    BadData(String),
    /// Evaluation failed (`execution`): e.g. many-to-many matching.
    #[error("{0}")]
    Execution(String),
    /// The query ran out of time (`timeout`).
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// The query would touch more samples than allowed (`execution`).
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The query looked at more samples than allowed in all
    /// (`execution`): a bound on its work, not its memory.
    #[error("query processed more than {0} samples (query.max_samples_processed); narrow its range, raise its step or select fewer series")]
    TooMuchWork(u64),
    /// The query was called off, because its client went away (`canceled`).
    #[error("query canceled in {0}")]
    Canceled(&'static str),
    /// The store failed (`internal`).
    #[error("storage: {0}")]
    Storage(String),
}
