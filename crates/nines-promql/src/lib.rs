//! PromQL for nines: evaluation of Prometheus's query language over a
//! storage trait ([`Queryable`]), parsing by the `promql-parser` crate, and
//! the runner for Prometheus's promqltest conformance scripts.

mod aggregate;
mod batch;
mod binary;
mod duration;
mod engine;
mod error;
mod functions;
pub mod promqltest;
pub mod seam;
mod storage;
pub mod value;

pub use aggregate::format_value;
pub use duration::{format_duration_ms, parse_duration_ms};
pub use engine::{
    parse, Annotations, Engine, Evaluated, DEFAULT_MAX_SAMPLES_PROCESSED, MAX_NESTING, MAX_OPERATORS, MAX_RANGE_STEPS,
    QUERY_STACK_BYTES,
};
pub use error::EvalError;
pub use storage::{convert_matchers, MemStorage, Queryable};
