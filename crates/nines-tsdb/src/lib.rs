//! The embedded time-series store of nines.
//!
//! Prometheus's data model: a series is a set of labels (the metric name
//! under `__name__`), a sample is a millisecond timestamp and an `f64`.
//! New samples land in an in-memory head of Gorilla-compressed chunks and
//! in a write-ahead log before they are acknowledged; older ranges are cut
//! into immutable blocks with an inverted index, compacted into larger
//! blocks and deleted by retention. No async runtime, no HTTP.

mod block;
pub mod chunk;
mod compact;
mod db;
pub mod encoding;
mod error;
mod head;
mod labels;
mod matcher;
mod packed;
mod postings;
mod series;
mod wal;

#[cfg(test)]
mod testing;

pub use block::{BlockMeta, BlockStats};
pub use db::{
    AppendReport, Db, DbStats, Limits, OldSamples, Options, RefSample, SeriesRef, SeriesSamples, SnapshotReport,
    DEFAULT_FUTURE_TOLERANCE_MS,
};
pub use error::{Error, Result};
pub use head::Rejection;
pub use labels::{check_sorted_pairs, is_valid_label_name, is_valid_metric_name, Label, Labels, METRIC_NAME};
pub use matcher::{MatchOp, Matcher};
pub use series::{Series, SeriesIter, SeriesLabels};
pub use wal::ReplayReport;

/// The oldest timestamp (ms) the store keeps: Prometheus's `MinTime`, so
/// that everything stored can be asked for through the query API.
pub const MIN_TIMESTAMP_MS: i64 = -9_223_309_901_257_974_000;

/// The newest timestamp (ms) the store keeps: Prometheus's `MaxTime`.
pub const MAX_TIMESTAMP_MS: i64 = 9_223_309_901_257_974_999;

/// The special NaN Prometheus writes to mark a series as stale.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// True if `v` is a staleness marker (not merely any NaN).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// Decodes a wal file's bytes into records for fuzzing: never panics.
#[doc(hidden)]
pub fn fuzz_wal_bytes(bytes: &[u8]) -> usize {
    let (bodies, _) = wal::split_records(bytes);
    bodies.iter().filter(|b| wal::decode_record(b).is_some()).count()
}

/// Decodes a block index file's bytes for fuzzing: never panics.
#[doc(hidden)]
pub fn fuzz_block_index(bytes: &[u8]) -> bool {
    block::fuzz_decode_index(bytes)
}
