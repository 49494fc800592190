//! Pull collection for nines, the way Prometheus does it: targets from
//! static lists and files, relabeling, scrape loops that parse the
//! Prometheus text format 0.0.4 and OpenMetrics 1.0, write what they read
//! (plus the synthetic `up`/`scrape_*` series) into the store, and mark
//! series stale when they or their target go away.

mod cache;
pub mod discovery;
pub mod expfmt;
mod fetch;
mod manager;
pub mod relabel;
mod scrape;
pub mod spec;
pub mod target;

pub use manager::{Health, JobError, PoolStatus, ScrapeCounters, ScrapeManager, TargetStatus};
pub use scrape::{ScrapeReport, TargetState, SYNTHETIC};
pub use spec::{Auth, FileSdSpec, ScrapeSpec, TargetGroup, TlsSpec};
