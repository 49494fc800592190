//! Series in memory that rules can both query and write: what rule unit
//! tests (`nines test rules`) and this crate's tests evaluate against.

use nines_promql::value::{Labels, Series};
use nines_promql::{EvalError, MemStorage, Queryable};
use nines_tsdb::Matcher;
use parking_lot::RwLock;

use crate::group::{SeriesLabels, SeriesSink};

/// A [`MemStorage`] behind a lock, readable by the engine and writable by
/// rule evaluation.
#[derive(Default)]
pub struct MemSeries(RwLock<MemStorage>);

impl MemSeries {
    /// Adds points to the series with `labels` (sorted by name).
    pub fn add(&self, labels: Labels, points: &[(i64, f64)]) {
        self.0.write().add(labels, points);
    }
}

impl Queryable for MemSeries {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError> {
        self.0.read().select(matchers, mint, maxt)
    }
}

impl SeriesSink for MemSeries {
    fn append(&self, samples: &[(SeriesLabels, f64)], ts: i64) -> Result<(), String> {
        let mut s = self.0.write();
        for (labels, v) in samples {
            s.add(Labels::from(labels.clone()), &[(ts, *v)]);
        }
        Ok(())
    }
}
