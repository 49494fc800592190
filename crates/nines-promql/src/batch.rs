//! Series-major evaluation of the nodes that dominate real queries: an
//! instant selector, a range function over a selector (`rate(x[5m])`), and
//! a folding aggregation (`sum`, `avg`, `min`, `max`, `count`, `group`,
//! `stddev`, `stdvar`) over either. Before the step-by-step walk, each such
//! node is answered for every step of the query at once: the store is read
//! one series at a time (never a whole selection in memory), each series'
//! window moves forward through its points with a cursor, and an
//! aggregation folds each series into its group as it goes. The walk then
//! takes each step's vector.
//!
//! The per-window functions and the folds are the ones the step-by-step
//! path uses, called on the same points in the same order, so both paths
//! give the same answers to the bit.

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier, MatrixSelector, VectorSelector};
use rustc_hash::FxHashMap;

use crate::aggregate::{group_labels, Acc, Fold};
use crate::engine::{millis, seek, selector_matchers, Evaluator};
use crate::error::EvalError;
use crate::functions::{range_function, RangeFn};
use crate::storage::Queryable;
use crate::value::{Labels, Sample};

/// What a batched node reads from the store.
enum Leaf<'a> {
    /// The newest sample within the lookback window.
    Instant(&'a VectorSelector),
    /// A function of the points in a range, and whether it keeps the name.
    Range(&'a MatrixSelector, bool, RangeFn),
}

fn unparen(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

/// `{a="1" or b="2"}` selects the union of several matcher sets; those
/// stay on the step-by-step path.
fn single_matcher_set(vs: &VectorSelector) -> bool {
    vs.matchers.or_matchers.is_empty()
}

fn leaf(e: &Expr) -> Option<Leaf<'_>> {
    match unparen(e) {
        Expr::VectorSelector(vs) if single_matcher_set(vs) => Some(Leaf::Instant(vs)),
        Expr::Call(c) if c.args.args.len() == 1 => {
            let (keep_name, f) = range_function(c.func.name)?;
            match unparen(&c.args.args[0]) {
                Expr::MatrixSelector(ms) if single_matcher_set(&ms.vs) => Some(Leaf::Range(ms, keep_name, f)),
                _ => None,
            }
        }
        _ => None,
    }
}

fn folding(a: &AggregateExpr) -> Option<(Fold, Leaf<'_>)> {
    if a.param.is_some() {
        return None;
    }
    Some((Fold::of(&a.op.to_string())?, leaf(&a.expr)?))
}

/// Collects the largest nodes under `e` that the batch path answers and
/// that are evaluated at the query's own steps (not inside a subquery).
pub(crate) fn plan<'a>(e: &'a Expr, out: &mut Vec<&'a Expr>) {
    let batched = match e {
        Expr::Aggregate(a) => folding(a).is_some(),
        Expr::VectorSelector(_) | Expr::Call(_) => leaf(e).is_some(),
        _ => false,
    };
    if batched {
        out.push(e);
        return;
    }
    match e {
        Expr::Paren(p) => plan(&p.expr, out),
        Expr::Unary(u) => plan(&u.expr, out),
        Expr::Binary(b) => {
            plan(&b.lhs, out);
            plan(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            plan(&a.expr, out);
            if let Some(p) = &a.param {
                plan(p, out);
            }
        }
        Expr::Call(c) => {
            for a in &c.args.args {
                // timestamp() reads its selector's sample times, which
                // only the step-by-step path keeps.
                if c.func.name == "timestamp" && matches!(a.as_ref(), Expr::VectorSelector(_)) {
                    continue;
                }
                plan(a, out);
            }
        }
        _ => {}
    }
}

/// Where one series' values go.
trait Sink {
    /// Takes the values (step index, value) of one series with its labels.
    fn take(&mut self, labels: &Labels, drop_name: bool, values: &[(u32, f64)]) -> Result<(), EvalError>;
}

/// A batched node's result: the vector at each step.
pub(crate) type Steps = Vec<Vec<Sample>>;

/// Keeps every value: the node is a selector or range function itself.
struct Collect {
    steps: Steps,
    held: usize,
    limit: usize,
}

impl Sink for Collect {
    fn take(&mut self, labels: &Labels, drop_name: bool, values: &[(u32, f64)]) -> Result<(), EvalError> {
        self.held += values.len();
        if self.held > self.limit {
            return Err(EvalError::TooManySamples("query loading"));
        }
        for &(i, value) in values {
            self.steps[i as usize].push(Sample {
                labels: labels.clone(),
                value,
                drop_name,
            });
        }
        Ok(())
    }
}

/// Folds each series into its group at each step.
struct Aggregate<'m> {
    fold: Fold,
    modifier: Option<&'m LabelModifier>,
    index: FxHashMap<Labels, usize>,
    /// Per group: labels, whether a member's name is to be dropped, and
    /// the running aggregate at each step.
    groups: Vec<(Labels, bool, Vec<Acc>)>,
    /// Per step, the groups in the order their first member arrived (the
    /// order the step-by-step path produces).
    order: Vec<Vec<u32>>,
    limit: usize,
}

impl Sink for Aggregate<'_> {
    fn take(&mut self, labels: &Labels, drop_name: bool, values: &[(u32, f64)]) -> Result<(), EvalError> {
        if values.is_empty() {
            return Ok(());
        }
        let key = group_labels(labels, self.modifier);
        let steps = self.order.len();
        let g = match self.index.get(&key) {
            Some(&g) => g,
            None => {
                if (self.groups.len() + 1) * steps > self.limit {
                    return Err(EvalError::TooManySamples("query loading"));
                }
                self.groups.push((key.clone(), false, vec![Acc::default(); steps]));
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[g];
        group.1 |= drop_name;
        for &(i, v) in values {
            let acc = &mut group.2[i as usize];
            if acc.is_empty() {
                self.order[i as usize].push(g as u32);
            }
            acc.add(self.fold, v);
        }
        Ok(())
    }
}

impl Aggregate<'_> {
    fn finish(self) -> Steps {
        let groups = self.groups;
        let fold = self.fold;
        self.order
            .into_iter()
            .enumerate()
            .map(|(i, order)| {
                order
                    .into_iter()
                    .map(|g| {
                        let (labels, drop_name, accs) = &groups[g as usize];
                        Sample {
                            labels: labels.clone(),
                            value: accs[i].value(fold),
                            drop_name: *drop_name,
                        }
                    })
                    .collect()
            })
            .collect()
    }
}

/// The steps at which each name-dropped label set already has a value.
#[derive(Default)]
struct Collisions(FxHashMap<Labels, Vec<u64>>);

impl Collisions {
    fn check(&mut self, labels: &Labels, values: &[(u32, f64)], steps: usize) -> Result<(), EvalError> {
        let seen = self
            .0
            .entry(labels.clone())
            .or_insert_with(|| vec![0; steps.div_ceil(64)]);
        for &(i, _) in values {
            let (word, bit) = (i as usize / 64, 1u64 << (i % 64));
            if seen[word] & bit != 0 {
                return Err(EvalError::Execution(
                    "vector cannot contain metrics with the same labelset".into(),
                ));
            }
            seen[word] |= bit;
        }
        Ok(())
    }
}

impl Evaluator<'_> {
    /// The query's evaluation times.
    fn step_times(&self) -> Vec<i64> {
        if self.step == 0 {
            return vec![self.start];
        }
        // `range` bounded the number of steps, so these fit.
        let steps = (i128::from(self.end) - i128::from(self.start)) / i128::from(self.step);
        (0..=steps)
            .map(|i| i64::try_from(i128::from(self.start) + i * i128::from(self.step)).unwrap_or(i64::MAX))
            .collect()
    }

    /// Answers a node [`plan`] chose, at every step.
    pub(crate) fn batch(&self, storage: &dyn Queryable, e: &Expr) -> Result<Steps, EvalError> {
        let times = self.step_times();
        let limit = self.engine.max_samples;
        match unparen(e) {
            Expr::Aggregate(a) => {
                let Some((fold, leaf)) = folding(a) else {
                    return Err(EvalError::BadData("not a batched aggregation".into()));
                };
                let mut sink = Aggregate {
                    fold,
                    modifier: a.modifier.as_ref(),
                    index: FxHashMap::default(),
                    groups: Vec::new(),
                    order: vec![Vec::new(); times.len()],
                    limit,
                };
                self.stream(storage, &leaf, &times, &mut sink)?;
                Ok(sink.finish())
            }
            other => {
                let Some(leaf) = leaf(other) else {
                    return Err(EvalError::BadData("not a batched expression".into()));
                };
                let mut sink = Collect {
                    steps: vec![Vec::new(); times.len()],
                    held: 0,
                    limit,
                };
                self.stream(storage, &leaf, &times, &mut sink)?;
                Ok(sink.steps)
            }
        }
    }

    /// Reads the leaf's series one at a time and hands each one's values
    /// at every step to `sink`.
    fn stream(
        &self,
        storage: &dyn Queryable,
        leaf: &Leaf<'_>,
        times: &[i64],
        sink: &mut dyn Sink,
    ) -> Result<(), EvalError> {
        let vs = match leaf {
            Leaf::Instant(vs) => *vs,
            Leaf::Range(ms, ..) => &ms.vs,
        };
        // The time each step reads at, after `@` and `offset`.
        let reads: Vec<i64> = times
            .iter()
            .map(|&t| self.shifted(vs.at.as_ref(), &vs.offset, t))
            .collect();
        let reach = match leaf {
            Leaf::Instant(_) => millis(self.engine.lookback),
            Leaf::Range(ms, ..) => millis(ms.range),
        };
        let (Some(&first), Some(&last)) = (reads.iter().min(), reads.iter().max()) else {
            return Ok(());
        };
        let matchers = selector_matchers(vs, &vs.matchers.matchers)?;
        let delayed = self.engine.delayed_name_removal;
        let limit = self.engine.max_samples;
        let mut values: Vec<(u32, f64)> = Vec::with_capacity(times.len());
        let mut live: Vec<(i64, f64)> = Vec::new();
        // Dropping `__name__` can make two series one label set; at a step
        // where both have a value that is an error, as step by step. With
        // one metric name selected it cannot happen.
        let one_name = matchers
            .iter()
            .any(|m| m.name == crate::value::NAME && m.op == nines_tsdb::MatchOp::Equal);
        let mut collisions = (!one_name).then(Collisions::default);
        if let (Leaf::Instant(_), [t]) = (leaf, &reads[..]) {
            // One step of an instant selector needs only each series'
            // newest sample in the lookback window.
            let t = *t;
            return storage.for_each_latest(
                &matchers,
                t.saturating_sub(reach).saturating_add(1),
                t,
                &mut |labels, latest| {
                    self.processed(1);
                    self.check_deadline("query evaluation")?;
                    values.clear();
                    if let Some((_, v)) = latest.filter(|p| !nines_tsdb::is_stale_nan(p.1)) {
                        values.push((0, v));
                    }
                    sink.take(&labels, false, &values)
                },
            );
        }
        storage.for_each_series(&matchers, first.saturating_sub(reach), last, &mut |labels, points| {
            self.check_deadline("query evaluation")?;
            if points.len() > limit {
                return Err(EvalError::TooManySamples("query loading"));
            }
            values.clear();
            match leaf {
                Leaf::Instant(_) => {
                    self.processed(reads.len());
                    let mut hi = 0;
                    for (i, &t) in reads.iter().enumerate() {
                        hi = seek(points, hi, t);
                        let Some(&(ts, v)) = hi.checked_sub(1).and_then(|h| points.get(h)) else {
                            continue;
                        };
                        if ts > t.saturating_sub(reach) && !nines_tsdb::is_stale_nan(v) {
                            values.push((i as u32, v));
                        }
                    }
                    sink.take(&labels, false, &values)
                }
                Leaf::Range(_, keep_name, f) => {
                    // Staleness markers are never part of a range.
                    let points = if points.iter().any(|p| nines_tsdb::is_stale_nan(p.1)) {
                        live.clear();
                        live.extend(points.iter().filter(|p| !nines_tsdb::is_stale_nan(p.1)));
                        &live[..]
                    } else {
                        points
                    };
                    let (mut lo, mut hi) = (0, 0);
                    for (i, &t) in reads.iter().enumerate() {
                        lo = seek(points, lo, t.saturating_sub(reach));
                        hi = seek(points, hi.max(lo), t);
                        self.processed(hi - lo + 1);
                        if lo == hi {
                            continue;
                        }
                        if let Some(v) = f(&points[lo..hi], t.saturating_sub(reach), t) {
                            values.push((i as u32, v));
                        }
                    }
                    let drop_name = !keep_name;
                    if drop_name && !delayed {
                        let mut nameless = labels;
                        crate::value::drop_name(&mut nameless);
                        if let Some(c) = &mut collisions {
                            c.check(&nameless, &values, times.len())?;
                        }
                        sink.take(&nameless, false, &values)
                    } else {
                        sink.take(&labels, drop_name && delayed, &values)
                    }
                }
            }
        })
    }
}
