//! The storage seam: what the engine needs from a store. The embedded
//! store implements it here; a remote Prometheus-compatible store can
//! implement it later without the engine changing.

use nines_tsdb::{Db, MatchOp, Matcher};
use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};

use crate::error::EvalError;
use crate::value::{Labels, Series};

/// Series lookup by label matchers and time range.
pub trait Queryable: Sync {
    /// Every series matching all `matchers` with its raw samples
    /// (staleness markers included) in `[mint, maxt]`.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError>;
}

impl Queryable for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError> {
        let found = Db::select(self, matchers, mint, maxt).map_err(|e| EvalError::Storage(e.to_string()))?;
        found
            .into_iter()
            .map(|s| {
                let labels: Labels = s.labels().iter().map(|l| (l.name.clone(), l.value.clone())).collect();
                let points = s.samples().map_err(|e| EvalError::Storage(e.to_string()))?;
                Ok(Series::new(labels, points))
            })
            .collect()
    }
}

/// Converts the parser's matchers into the store's.
pub fn convert_matchers(matchers: &[PMatcher]) -> Result<Vec<Matcher>, EvalError> {
    matchers
        .iter()
        .map(|m| {
            let op = match &m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| EvalError::BadData(e.to_string()))
        })
        .collect()
}

/// An in-memory store, for the conformance runner and tests.
#[derive(Debug, Default)]
pub struct MemStorage {
    series: Vec<Series>,
}

impl MemStorage {
    /// Adds points to the series with `labels` (sorted by name),
    /// creating it if needed; points are kept in time order.
    pub fn add(&mut self, labels: Labels, points: &[(i64, f64)]) {
        let series = match self.series.iter_mut().position(|s| s.labels == labels) {
            Some(i) => &mut self.series[i],
            None => {
                self.series.push(Series::new(labels, Vec::new()));
                let last = self.series.len() - 1;
                &mut self.series[last]
            }
        };
        series.points.extend_from_slice(points);
        // A later point for the same time replaces the earlier one.
        series.points.reverse();
        series.points.sort_by_key(|p| p.0);
        series.points.dedup_by_key(|p| p.0);
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.series.clear();
    }
}

impl Queryable for MemStorage {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError> {
        let mut out: Vec<Series> = self
            .series
            .iter()
            .filter(|s| {
                matchers.iter().all(|m| {
                    let value = s
                        .labels
                        .iter()
                        .find(|(n, _)| *n == m.name)
                        .map_or("", |(_, v)| v.as_str());
                    m.matches(value)
                })
            })
            .map(|s| {
                let points = s
                    .points
                    .iter()
                    .filter(|p| p.0 >= mint && p.0 <= maxt)
                    .copied()
                    .collect();
                Series::new(s.labels.clone(), points)
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        Ok(out)
    }
}
