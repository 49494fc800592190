//! Aggregation operators with `by`/`without`.

use promql_parser::parser::{AggregateExpr, LabelModifier};
use rustc_hash::FxHashMap;

use crate::engine::{Evaluator, Vector};
use crate::error::EvalError;
use crate::functions::quantile;
use crate::value::{selected, set, Labels, Sample, Value};

/// The labels of the group a sample with `labels` falls in.
pub(crate) fn group_labels(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    labels
        .iter()
        .filter(|(n, _)| selected(n, modifier, false))
        .cloned()
        .collect()
}

/// Groups values by their grouping labels without building a label set
/// per sample: a hash of the grouping pairs finds the group, whose labels
/// are built once.
#[derive(Default)]
struct Grouper {
    index: FxHashMap<u64, Vec<usize>>,
    groups: Vec<Group>,
}

/// One group's labels, its members' values, and whether any member's
/// name is to be dropped (it matters when grouping `by (__name__)`).
type Group = (Labels, Vec<f64>, bool);

impl Grouper {
    fn add(&mut self, labels: &Labels, modifier: Option<&LabelModifier>, value: f64, drop_name: bool) {
        use std::hash::{Hash, Hasher};
        let pairs = || labels.iter().filter(|(n, _)| selected(n, modifier, false));
        let mut h = rustc_hash::FxHasher::default();
        for p in pairs() {
            p.hash(&mut h);
        }
        let slot = self.index.entry(h.finish()).or_default();
        let found = slot.iter().copied().find(|&i| self.groups[i].0.iter().eq(pairs()));
        let i = match found {
            Some(i) => i,
            None => {
                self.groups.push((pairs().cloned().collect(), Vec::new(), false));
                slot.push(self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        self.groups[i].1.push(value);
        self.groups[i].2 |= drop_name;
    }
}

fn scalar_param(ev: &Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<f64, EvalError> {
    let Some(p) = &a.param else {
        return Err(EvalError::BadData(format!("{} needs a parameter", a.op)));
    };
    match ev.eval(p, t)? {
        Value::Scalar(v) => Ok(v),
        other => Err(EvalError::BadData(format!(
            "expected scalar parameter for {}, got {}",
            a.op,
            other.type_name()
        ))),
    }
}

/// Kahan-compensated sum, as Prometheus uses for `sum` and `avg`.
#[derive(Default, Clone, Copy)]
struct KahanSum {
    sum: f64,
    c: f64,
}

impl KahanSum {
    fn add(&mut self, v: f64) {
        let t = self.sum + v;
        if t.is_infinite() {
            self.c = 0.0;
        } else if self.sum.abs() >= v.abs() {
            self.c += (self.sum - t) + v;
        } else {
            self.c += (v - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(&self) -> f64 {
        if self.sum.is_infinite() {
            self.sum
        } else {
            self.sum + self.c
        }
    }
}

/// Evaluates an aggregation at `t`.
pub fn eval(ev: &Evaluator<'_>, a: &AggregateExpr, t: i64) -> Result<Value, EvalError> {
    let op = a.op.to_string();
    let input = match ev.eval(&a.expr, t)? {
        Value::Vector(v) => v,
        other => {
            return Err(EvalError::BadData(format!(
                "expected instant vector in aggregation, got {}",
                other.type_name()
            )))
        }
    };
    let modifier = a.modifier.as_ref();
    match op.as_str() {
        "topk" | "bottomk" | "limitk" => {
            let k = scalar_param(ev, a, t)?;
            if k.is_nan() {
                return Err(EvalError::Execution(format!("Parameter value is NaN for {op}")));
            }
            let k = if k >= 9.0e18 { usize::MAX } else { k.max(0.0) as usize };
            Ok(Value::Vector(select_k(&op, k, input, modifier)))
        }
        "limit_ratio" => {
            let r = scalar_param(ev, a, t)?;
            if r.is_nan() {
                return Err(EvalError::Execution("Ratio value is NaN for limit_ratio".into()));
            }
            let r = r.clamp(-1.0, 1.0);
            Ok(Value::Vector(
                input
                    .into_iter()
                    .filter(|s| {
                        let h = ratio_hash(&s.labels);
                        if r >= 0.0 {
                            h < r
                        } else {
                            h >= 1.0 + r
                        }
                    })
                    .collect(),
            ))
        }
        "count_values" => {
            let Some(p) = &a.param else {
                return Err(EvalError::BadData("count_values needs a label name".into()));
            };
            let label = match ev.eval(p, t)? {
                Value::String(s) => s,
                other => {
                    return Err(EvalError::BadData(format!(
                        "expected string parameter for count_values, got {}",
                        other.type_name()
                    )))
                }
            };
            if !nines_tsdb::is_valid_label_name(&label) {
                return Err(EvalError::Execution(format!("invalid label name {label:?}")));
            }
            let mut groups: FxHashMap<Labels, Sample> = FxHashMap::default();
            let mut order: Vec<Labels> = Vec::new();
            for s in input {
                let mut g = group_labels(&s.labels, modifier);
                set(&mut g, &label, &format_value(s.value));
                let e = groups.entry(g.clone()).or_insert_with(|| {
                    order.push(g.clone());
                    Sample::new(g, 0.0)
                });
                e.value += 1.0;
                e.drop_name |= s.drop_name;
            }
            Ok(Value::Vector(order.iter().filter_map(|g| groups.remove(g)).collect()))
        }
        _ => {
            let q = if op == "quantile" {
                let q = scalar_param(ev, a, t)?;
                if q.is_nan() || !(0.0..=1.0).contains(&q) {
                    let node = a.param.as_ref().map(|p| p.to_string()).unwrap_or_default();
                    ev.warn(
                        format!("quantile value should be between 0 and 1, got {}", format_value(q)),
                        &node,
                    );
                }
                Some(q)
            } else {
                None
            };
            let mut groups = Grouper::default();
            for s in input {
                groups.add(&s.labels, modifier, s.value, s.drop_name);
            }
            let mut out = Vec::with_capacity(groups.groups.len());
            for (g, values, drop_name) in groups.groups {
                let value = reduce(&op, &values, q)?;
                out.push(Sample {
                    labels: g,
                    value,
                    drop_name,
                });
            }
            Ok(Value::Vector(out))
        }
    }
}

fn reduce(op: &str, values: &[f64], q: Option<f64>) -> Result<f64, EvalError> {
    if op == "quantile" {
        return Ok(quantile(q.unwrap_or(f64::NAN), values));
    }
    let Some(fold) = Fold::of(op) else {
        return Err(EvalError::BadData(format!("unknown aggregation {op}")));
    };
    let mut acc = Acc::default();
    values.iter().for_each(|v| acc.add(fold, *v));
    Ok(acc.value(fold))
}

/// The aggregations that fold values one at a time, in arrival order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fold {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
}

impl Fold {
    /// The fold an aggregation operator names, if it is one.
    pub(crate) fn of(op: &str) -> Option<Fold> {
        Some(match op {
            "sum" => Fold::Sum,
            "avg" => Fold::Avg,
            "min" => Fold::Min,
            "max" => Fold::Max,
            "count" => Fold::Count,
            "group" => Fold::Group,
            "stddev" => Fold::Stddev,
            "stdvar" => Fold::Stdvar,
            _ => return None,
        })
    }
}

/// One group's running aggregate. Step-by-step evaluation and the
/// series-major batch path both fold through it, so they answer alike.
#[derive(Clone, Copy, Default)]
pub(crate) struct Acc {
    count: f64,
    sum: KahanSum,
    /// Running mean: `avg` when the sum overflows, and Welford's mean for
    /// `stddev`/`stdvar`.
    mean: f64,
    m2: f64,
    extreme: f64,
    non_finite: bool,
}

impl Acc {
    /// Folds in one value.
    pub(crate) fn add(&mut self, fold: Fold, v: f64) {
        self.count += 1.0;
        let n = self.count;
        match fold {
            Fold::Sum => self.sum.add(v),
            Fold::Avg => {
                self.sum.add(v);
                self.non_finite |= !v.is_finite();
                self.mean += v / n - self.mean / n;
            }
            Fold::Min => {
                if n == 1.0 || self.extreme.is_nan() || v < self.extreme {
                    self.extreme = v;
                }
            }
            Fold::Max => {
                if n == 1.0 || self.extreme.is_nan() || v > self.extreme {
                    self.extreme = v;
                }
            }
            Fold::Count | Fold::Group => {}
            Fold::Stddev | Fold::Stdvar => {
                let delta = v - self.mean;
                self.mean += delta / n;
                self.m2 += delta * (v - self.mean);
            }
        }
    }

    /// Whether any value was folded in.
    pub(crate) fn is_empty(&self) -> bool {
        self.count == 0.0
    }

    /// The aggregate of the values folded in.
    pub(crate) fn value(&self, fold: Fold) -> f64 {
        match fold {
            Fold::Sum => self.sum.value(),
            Fold::Avg => {
                let sum = self.sum.value();
                if sum.is_finite() || self.non_finite {
                    sum / self.count
                } else {
                    // The sum overflowed although every value is finite:
                    // the incremental mean stays in range.
                    self.mean
                }
            }
            Fold::Min | Fold::Max => self.extreme,
            Fold::Count => self.count,
            Fold::Group => 1.0,
            Fold::Stddev => (self.m2 / self.count).sqrt(),
            Fold::Stdvar => self.m2 / self.count,
        }
    }
}

fn select_k(op: &str, k: usize, input: Vector, modifier: Option<&LabelModifier>) -> Vector {
    let mut groups: FxHashMap<Labels, Vec<Sample>> = FxHashMap::default();
    let mut order: Vec<Labels> = Vec::new();
    for s in input {
        let g = group_labels(&s.labels, modifier);
        groups
            .entry(g.clone())
            .or_insert_with(|| {
                order.push(g);
                Vec::new()
            })
            .push(s);
    }
    let mut out = Vec::new();
    for g in order {
        let Some(mut members) = groups.remove(&g) else {
            continue;
        };
        match op {
            "topk" => members.sort_by(|a, b| cmp_desc_nan_last(a.value, b.value)),
            "bottomk" => members.sort_by(|a, b| cmp_asc_nan_last(a.value, b.value)),
            _ => members.sort_by(|a, b| ratio_hash(&a.labels).total_cmp(&ratio_hash(&b.labels))),
        }
        members.truncate(k);
        out.extend(members);
    }
    out
}

fn cmp_desc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => b.total_cmp(&a),
    }
}

fn cmp_asc_nan_last(a: f64, b: f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ => a.total_cmp(&b),
    }
}

/// A stable value in `[0, 1)` per label set, for `limitk` and
/// `limit_ratio` sampling.
fn ratio_hash(labels: &Labels) -> f64 {
    use std::hash::{Hash, Hasher};
    let mut h = rustc_hash::FxHasher::default();
    labels.hash(&mut h);
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Formats a value the way Prometheus prints it in labels and JSON
/// (Go's `FormatFloat(v, 'f', -1, 64)`: shortest exact digits, never an
/// exponent, which is also what Rust's `Display` writes).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}
