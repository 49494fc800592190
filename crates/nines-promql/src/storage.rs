//! The storage seam: what the engine needs from a store. The embedded
//! store implements it here; a remote Prometheus-compatible store can
//! implement it later without the engine changing.

use nines_tsdb::{Db, MatchOp, Matcher};
use promql_parser::label::{MatchOp as PMatchOp, Matcher as PMatcher};

use crate::error::EvalError;
use crate::value::{Labels, Series};

/// Receives one series' labels and samples from
/// [`Queryable::for_each_series`].
pub type SeriesVisitor<'a> = dyn FnMut(Labels, &[(i64, f64)]) -> Result<(), EvalError> + 'a;

/// Receives one series' labels and newest sample from
/// [`Queryable::for_each_latest`].
pub type LatestVisitor<'a> = dyn FnMut(Labels, Option<(i64, f64)>) -> Result<(), EvalError> + 'a;

/// Series lookup by label matchers and time range.
pub trait Queryable: Sync {
    /// Every series matching all `matchers` with its raw samples
    /// (staleness markers included) in `[mint, maxt]`.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError>;

    /// Calls `f` with each series [`Queryable::select`] would return, in
    /// the same order, one at a time: a store that decodes lazily holds
    /// only one series' samples in memory. Stops at `f`'s first error.
    fn for_each_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<(), EvalError> {
        for s in self.select(matchers, mint, maxt)? {
            f(s.labels, &s.points)?;
        }
        Ok(())
    }

    /// Calls `f` with each series [`Queryable::select`] would return and
    /// its newest sample in `[mint, maxt]` (staleness marker included):
    /// what an instant selector needs, which a store may know without
    /// reading the series.
    fn for_each_latest(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut LatestVisitor<'_>,
    ) -> Result<(), EvalError> {
        self.for_each_series(matchers, mint, maxt, &mut |labels, points| {
            f(labels, points.last().copied())
        })
    }
}

fn storage_error(e: nines_tsdb::Error) -> EvalError {
    EvalError::Storage(e.to_string())
}

/// The engine's labels, read straight from the store's form.
fn to_labels(labels: &nines_tsdb::SeriesLabels) -> Labels {
    labels.pairs().map(|(n, v)| (n.to_string(), v.to_string())).collect()
}

impl Queryable for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, EvalError> {
        let found = Db::select(self, matchers, mint, maxt).map_err(storage_error)?;
        found
            .into_iter()
            .map(|s| {
                let points = s.samples().map_err(storage_error)?;
                Ok(Series::new(to_labels(s.series_labels()), points))
            })
            .collect()
    }

    fn for_each_series(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut SeriesVisitor<'_>,
    ) -> Result<(), EvalError> {
        let mut points = Vec::new();
        for s in Db::select(self, matchers, mint, maxt).map_err(storage_error)? {
            points.clear();
            s.decode_into(&mut points).map_err(storage_error)?;
            f(to_labels(s.series_labels()), &points)?;
        }
        Ok(())
    }

    fn for_each_latest(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        f: &mut LatestVisitor<'_>,
    ) -> Result<(), EvalError> {
        for (labels, latest) in Db::select_latest(self, matchers, mint, maxt).map_err(storage_error)? {
            f(to_labels(&labels), Some(latest))?;
        }
        Ok(())
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
