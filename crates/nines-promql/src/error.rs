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
    /// The store failed (`internal`).
    #[error("storage: {0}")]
    Storage(String),
}
