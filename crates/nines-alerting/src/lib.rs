//! Alerting for nines: Prometheus rule files and their validation, the
//! template language of rule labels and annotations, the alert state
//! machine and the evaluation of rule groups.
//!
//! Like the SLO crate, it reads metrics only through the PromQL seam
//! ([`nines_promql::seam::MetricsQuery`]); no storage engine, no HTTP.

pub mod alert;
pub mod group;
pub mod heartbeat;
pub mod inbound;
pub mod manager;
pub mod mem;
pub mod repo;
pub mod rulefile;
pub mod ruletest;
pub mod template;
