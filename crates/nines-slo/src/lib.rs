//! SLOs for nines: specs as written in config and their validation,
//! rolling and calendar windows, exact traffic-weighted error-budget
//! maths, and the multiwindow multi-burn-rate alert tiers.
//!
//! This crate holds the rules of the domain: it reads metrics through the
//! PromQL seam ([`query::MetricsQuery`]) and keeps state through
//! [`repo::SloRepository`]; no storage engine, no HTTP.

pub mod alerts;
pub mod budget;
pub mod burn;
mod error;
pub mod evaluate;
pub mod gate;
pub mod history;
pub mod import;
pub mod maintenance;
pub use nines_promql::seam as query;
pub mod repo;
pub mod rollup;
pub mod rules;
pub mod spec;
pub mod status;
pub mod window;

pub use alerts::{Alert, Alerting};
pub use budget::{burn_rate, slice_is_good, time_to_exhaustion, BudgetUse, Events, Objective, TimeBudget};
pub use burn::{BurnTier, Severity};
pub use error::{Error, Result};
pub use evaluate::{Evaluation, Evaluator, Settings};
pub use spec::{validate_all, Budgeting, FieldProblem, Sli, Slo, SloSpec};
pub use status::{SloStatus, State};
pub use window::{CalendarUnit, Period, Window};

/// Formats milliseconds the way configs write durations (`30d`, `1h30m`).
pub use nines_promql::format_duration_ms as format_duration;
