//! The metrics query seam SLO and rule evaluation read through: instant and range
//! PromQL, nothing else, so the same evaluation can later run against a
//! remote Prometheus-compatible engine.

use std::sync::Arc;

use crate::value::{Series, Value};
use crate::{Engine, Queryable};

/// Instant and range PromQL.
pub trait MetricsQuery: Send + Sync {
    /// `query` evaluated at `at` (ms).
    fn instant(&self, query: &str, at: i64) -> Result<Value, String>;

    /// `query` evaluated every `step` ms from `start` to `end`.
    fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Vec<Series>, String>;
}

/// The engine over a store in this process.
pub struct EmbeddedQuery<Q> {
    engine: Engine,
    storage: Arc<Q>,
}

impl<Q: Queryable + Send + Sync> EmbeddedQuery<Q> {
    /// Queries `storage` with `engine`'s settings.
    pub fn new(engine: Engine, storage: Arc<Q>) -> Self {
        Self { engine, storage }
    }
}

impl<Q: Queryable + Send + Sync> MetricsQuery for EmbeddedQuery<Q> {
    fn instant(&self, query: &str, at: i64) -> Result<Value, String> {
        self.engine
            .instant(&*self.storage, query, at)
            .map(|e| e.value)
            .map_err(|e| e.to_string())
    }

    fn range(&self, query: &str, start: i64, end: i64, step: i64) -> Result<Vec<Series>, String> {
        self.engine
            .range(&*self.storage, query, start, end, step)
            .map(|e| e.value)
            .map_err(|e| e.to_string())
    }
}
