//! PromQL functions on floats.

use promql_parser::parser::{Call, Expr};
use regex::Regex;

use crate::engine::{millis, Evaluator, Vector};
use crate::error::EvalError;
use crate::value::{get, set, Labels, Sample, Series, Value, NAME};

fn arg(ev: &Evaluator<'_>, c: &Call, i: usize, t: i64) -> Result<Value, EvalError> {
    match c.args.args.get(i) {
        Some(e) => ev.eval(e, t),
        None => Err(EvalError::BadData(format!(
            "{}: missing argument {}",
            c.func.name,
            i + 1
        ))),
    }
}

fn vector_arg(ev: &Evaluator<'_>, c: &Call, i: usize, t: i64) -> Result<Vector, EvalError> {
    match arg(ev, c, i, t)? {
        Value::Vector(v) => Ok(v),
        other => Err(EvalError::BadData(format!(
            "{}: expected instant vector, got {}",
            c.func.name,
            other.type_name()
        ))),
    }
}

fn matrix_arg(ev: &Evaluator<'_>, c: &Call, i: usize, t: i64) -> Result<Vec<Series>, EvalError> {
    match arg(ev, c, i, t)? {
        Value::Matrix(m) => Ok(m),
        other => Err(EvalError::BadData(format!(
            "{}: expected range vector, got {}",
            c.func.name,
            other.type_name()
        ))),
    }
}

fn scalar_arg(ev: &Evaluator<'_>, c: &Call, i: usize, t: i64) -> Result<f64, EvalError> {
    match arg(ev, c, i, t)? {
        Value::Scalar(v) => Ok(v),
        other => Err(EvalError::BadData(format!(
            "{}: expected scalar, got {}",
            c.func.name,
            other.type_name()
        ))),
    }
}

fn string_arg(ev: &Evaluator<'_>, c: &Call, i: usize, t: i64) -> Result<String, EvalError> {
    match arg(ev, c, i, t)? {
        Value::String(s) => Ok(s),
        other => Err(EvalError::BadData(format!(
            "{}: expected string, got {}",
            c.func.name,
            other.type_name()
        ))),
    }
}

/// The range and the end of the window a range-vector argument covers.
fn window(ev: &Evaluator<'_>, e: &Expr, t: i64) -> (i64, i64) {
    match e {
        Expr::MatrixSelector(ms) => (millis(ms.range), ev.shifted(ms.vs.at.as_ref(), &ms.vs.offset, t)),
        Expr::Subquery(sq) => (millis(sq.range), ev.shifted(sq.at.as_ref(), &sq.offset, t)),
        Expr::Paren(p) => window(ev, &p.expr, t),
        _ => (0, t),
    }
}

/// Applies `f` to every value; the results are new values, so the metric
/// name goes.
fn map_vector(ev: &Evaluator<'_>, v: Vector, f: impl Fn(f64) -> f64) -> Value {
    Value::Vector(
        v.into_iter()
            .map(|mut s| {
                ev.remove_name(&mut s);
                s.value = f(s.value);
                s
            })
            .collect(),
    )
}

/// Evaluates a function call at `t`; a vector result must not hold one
/// label set twice (dropping `__name__` can cause that).
pub fn call(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = call_inner(ev, c, t)?;
    if let Value::Vector(samples) = &v {
        check_unique(samples)?;
    }
    Ok(v)
}

fn call_inner(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Value, EvalError> {
    let name = c.func.name;
    let simple: Option<fn(f64) -> f64> = match name {
        "abs" => Some(f64::abs),
        "ceil" => Some(f64::ceil),
        "floor" => Some(f64::floor),
        "exp" => Some(f64::exp),
        "ln" => Some(f64::ln),
        "log2" => Some(f64::log2),
        "log10" => Some(f64::log10),
        "sqrt" => Some(f64::sqrt),
        "sin" => Some(f64::sin),
        "cos" => Some(f64::cos),
        "tan" => Some(f64::tan),
        "asin" => Some(f64::asin),
        "acos" => Some(f64::acos),
        "atan" => Some(f64::atan),
        "sinh" => Some(f64::sinh),
        "cosh" => Some(f64::cosh),
        "tanh" => Some(f64::tanh),
        "asinh" => Some(f64::asinh),
        "acosh" => Some(f64::acosh),
        "atanh" => Some(f64::atanh),
        "deg" => Some(f64::to_degrees),
        "rad" => Some(f64::to_radians),
        "sgn" => Some(|v: f64| {
            if v > 0.0 {
                1.0
            } else if v < 0.0 {
                -1.0
            } else {
                v
            }
        }),
        _ => None,
    };
    if let Some(f) = simple {
        return Ok(map_vector(ev, vector_arg(ev, c, 0, t)?, f));
    }
    if let Some((keep_name, f)) = range_function(name) {
        let (range, end) = window(ev, &c.args.args[0], t);
        return over_time(ev, c, t, keep_name, |p| f(p, end.saturating_sub(range), end));
    }
    match name {
        "pi" => Ok(Value::Scalar(std::f64::consts::PI)),
        "start" => Ok(Value::Scalar(ev.start as f64 / 1000.0)),
        "end" => Ok(Value::Scalar(ev.end as f64 / 1000.0)),
        "range" => Ok(Value::Scalar((ev.end - ev.start) as f64 / 1000.0)),
        "step" => Ok(Value::Scalar(ev.step as f64 / 1000.0)),
        "time" => Ok(Value::Scalar(t as f64 / 1000.0)),
        "vector" => Ok(Value::Vector(vec![Sample::new(
            Labels::default(),
            scalar_arg(ev, c, 0, t)?,
        )])),
        "scalar" => {
            let v = vector_arg(ev, c, 0, t)?;
            Ok(Value::Scalar(if v.len() == 1 { v[0].value } else { f64::NAN }))
        }
        "round" => {
            let to = if c.args.args.len() > 1 {
                scalar_arg(ev, c, 1, t)?
            } else {
                1.0
            };
            let inv = 1.0 / to;
            Ok(map_vector(ev, vector_arg(ev, c, 0, t)?, move |v| {
                (v * inv + 0.5).floor() / inv
            }))
        }
        "clamp" => {
            let v = vector_arg(ev, c, 0, t)?;
            let (lo, hi) = (scalar_arg(ev, c, 1, t)?, scalar_arg(ev, c, 2, t)?);
            if hi < lo {
                return Ok(Value::Vector(Vec::new()));
            }
            Ok(map_vector(ev, v, move |x| x.max(lo).min(hi)))
        }
        "clamp_min" => {
            let v = vector_arg(ev, c, 0, t)?;
            let lo = scalar_arg(ev, c, 1, t)?;
            Ok(map_vector(ev, v, move |x| x.max(lo)))
        }
        "clamp_max" => {
            let v = vector_arg(ev, c, 0, t)?;
            let hi = scalar_arg(ev, c, 1, t)?;
            Ok(map_vector(ev, v, move |x| x.min(hi)))
        }
        "timestamp" => timestamp(ev, c, t),
        "sort" | "sort_desc" => {
            let mut v = vector_arg(ev, c, 0, t)?;
            if name == "sort" {
                v.sort_by(|a, b| nan_last(a.value, b.value, false));
            } else {
                v.sort_by(|a, b| nan_last(a.value, b.value, true));
            }
            Ok(Value::Vector(v))
        }
        "sort_by_label" | "sort_by_label_desc" => {
            let mut v = vector_arg(ev, c, 0, t)?;
            let mut names = Vec::new();
            for i in 1..c.args.args.len() {
                names.push(string_arg(ev, c, i, t)?);
            }
            v.sort_by(|a, b| {
                let mut ord = std::cmp::Ordering::Equal;
                for n in &names {
                    ord = natural_cmp(get(&a.labels, n).unwrap_or(""), get(&b.labels, n).unwrap_or(""));
                    if ord != std::cmp::Ordering::Equal {
                        break;
                    }
                }
                if ord == std::cmp::Ordering::Equal {
                    ord = a.labels.cmp(&b.labels);
                }
                if name == "sort_by_label_desc" {
                    ord.reverse()
                } else {
                    ord
                }
            });
            Ok(Value::Vector(v))
        }
        "label_replace" => label_replace(ev, c, t),
        "label_join" => label_join(ev, c, t),
        "absent" => {
            let v = vector_arg(ev, c, 0, t)?;
            Ok(Value::Vector(absent(v.is_empty(), &c.args.args[0])))
        }
        "absent_over_time" => {
            let m = matrix_arg(ev, c, 0, t)?;
            Ok(Value::Vector(absent(m.is_empty(), &c.args.args[0])))
        }
        "histogram_quantile" => {
            let q = scalar_arg(ev, c, 0, t)?;
            let node = c.args.args[1].to_string();
            check_quantile(ev, q, &c.args.args[0].to_string());
            let v = vector_arg(ev, c, 1, t)?;
            Ok(Value::Vector(
                bucket_groups(ev, &node, v)?
                    .into_iter()
                    .map(|(labels, name, mut buckets)| {
                        let (value, fixed) = bucket_quantile(q, &mut buckets);
                        note_monotonicity(ev, fixed, &name, &node);
                        Sample::new(labels, value)
                    })
                    .collect(),
            ))
        }
        "days_in_month" | "day_of_month" | "day_of_week" | "day_of_year" | "hour" | "minute" | "month" | "year" => {
            let v = if c.args.args.is_empty() {
                vec![Sample::new(Labels::default(), t as f64 / 1000.0)]
            } else {
                vector_arg(ev, c, 0, t)?
            };
            let f = date_part(name);
            Ok(map_vector(ev, v, f))
        }
        "predict_linear" => {
            let secs = scalar_arg(ev, c, 1, t)?;
            // The prediction starts from the evaluation time, even when the
            // range is pinned elsewhere with `@`.
            over_time(ev, c, t, false, move |p| {
                if p.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(p, t);
                Some(intercept + slope * secs)
            })
        }
        "holt_winters" | "double_exponential_smoothing" => {
            let sf = scalar_arg(ev, c, 1, t)?;
            let tf = scalar_arg(ev, c, 2, t)?;
            if !(sf > 0.0 && sf < 1.0) {
                return Err(EvalError::Execution(format!(
                    "invalid smoothing factor. Expected: 0 < sf < 1, got: {sf}"
                )));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return Err(EvalError::Execution(format!(
                    "invalid trend factor. Expected: 0 < tf < 1, got: {tf}"
                )));
            }
            over_time(ev, c, t, false, move |p| double_exponential_smoothing(p, sf, tf))
        }
        "min_of" | "max_of" => {
            let a = scalar_arg(ev, c, 0, t)?;
            let b = scalar_arg(ev, c, 1, t)?;
            Ok(Value::Scalar(if a.is_nan() || b.is_nan() {
                f64::NAN
            } else if name == "min_of" {
                a.min(b)
            } else {
                a.max(b)
            }))
        }
        "histogram_fraction" => {
            let lower = scalar_arg(ev, c, 0, t)?;
            let upper = scalar_arg(ev, c, 1, t)?;
            let v = vector_arg(ev, c, 2, t)?;
            let node = c.args.args[2].to_string();
            Ok(Value::Vector(
                bucket_groups(ev, &node, v)?
                    .into_iter()
                    .map(|(labels, _, mut buckets)| Sample::new(labels, bucket_fraction(lower, upper, &mut buckets)))
                    .collect(),
            ))
        }
        "histogram_quantiles" => {
            let v = vector_arg(ev, c, 0, t)?;
            let label = string_arg(ev, c, 1, t)?;
            if !nines_tsdb::is_valid_label_name(&label) {
                return Err(EvalError::BadData(format!("invalid label name {label:?}")));
            }
            let mut qs = Vec::new();
            for i in 2..c.args.args.len() {
                let q = scalar_arg(ev, c, i, t)?;
                check_quantile(ev, q, &c.args.args[i].to_string());
                qs.push(q);
            }
            let node = c.args.args[0].to_string();
            let mut out = Vec::new();
            for (labels, name, buckets) in bucket_groups(ev, &node, v)? {
                for &q in &qs {
                    let mut l = labels.clone();
                    let text = if q.is_finite() && q.fract() == 0.0 {
                        format!("{q:.1}")
                    } else {
                        crate::aggregate::format_value(q)
                    };
                    set(&mut l, &label, &text);
                    let (value, fixed) = bucket_quantile(q, &mut buckets.clone());
                    note_monotonicity(ev, fixed, &name, &node);
                    out.push(Sample::new(l, value));
                }
            }
            Ok(Value::Vector(out))
        }
        "quantile_over_time" => {
            let q = scalar_arg(ev, c, 0, t)?;
            check_quantile(ev, q, &c.args.args[0].to_string());
            let m = matrix_arg(ev, c, 1, t)?;
            Ok(Value::Vector(
                m.into_iter()
                    .map(|s| {
                        let vals: Vec<f64> = s.points.iter().map(|x| x.1).collect();
                        let mut out = Sample::new(s.labels, quantile(q, &vals));
                        out.drop_name = s.drop_name;
                        ev.remove_name(&mut out);
                        out
                    })
                    .collect(),
            ))
        }
        other => Err(EvalError::BadData(format!("function {other:?} is not supported yet"))),
    }
}

/// A function of a range's points alone: the points (staleness markers
/// removed, oldest first) and the range's start and end (ms).
pub(crate) type RangeFn = fn(&[(i64, f64)], i64, i64) -> Option<f64>;

/// The range functions whose only argument is the range vector, with
/// whether they keep `__name__`. Step-by-step evaluation and the
/// series-major batch path both use these, so they answer alike.
pub(crate) fn range_function(name: &str) -> Option<(bool, RangeFn)> {
    let f: RangeFn = match name {
        "rate" => |p, from, to| extrapolated_rate(p, from, to, true, true),
        "increase" => |p, from, to| extrapolated_rate(p, from, to, true, false),
        "delta" => |p, from, to| extrapolated_rate(p, from, to, false, false),
        "irate" => |p, _, _| instant_delta(p, true),
        "idelta" => |p, _, _| instant_delta(p, false),
        "deriv" => |p, _, _| (p.len() >= 2).then(|| linear_regression(p, p[0].0).0),
        "resets" => |p, _, _| Some(p.windows(2).filter(|w| w[1].1 < w[0].1).count() as f64),
        "changes" => |p, _, _| {
            Some(
                p.windows(2)
                    .filter(|w| !(w[1].1 == w[0].1 || (w[1].1.is_nan() && w[0].1.is_nan())))
                    .count() as f64,
            )
        },
        "avg_over_time" => |p, _, _| {
            let vals: Vec<f64> = p.iter().map(|x| x.1).collect();
            Some(mean(&vals))
        },
        "sum_over_time" => |p, _, _| Some(kahan(p.iter().map(|x| x.1))),
        "count_over_time" => |p, _, _| Some(p.len() as f64),
        "min_over_time" => |p, _, _| {
            Some(
                p.iter()
                    .map(|x| x.1)
                    .fold(f64::NAN, |a, v| if a.is_nan() || v < a { v } else { a }),
            )
        },
        "max_over_time" => |p, _, _| {
            Some(
                p.iter()
                    .map(|x| x.1)
                    .fold(f64::NAN, |a, v| if a.is_nan() || v > a { v } else { a }),
            )
        },
        "last_over_time" => |p, _, _| p.last().map(|x| x.1),
        "first_over_time" => |p, _, _| p.first().map(|x| x.1),
        "present_over_time" => |_, _, _| Some(1.0),
        "ts_of_last_over_time" => |p, _, _| p.last().map(|x| x.0 as f64 / 1000.0),
        "ts_of_first_over_time" => |p, _, _| p.first().map(|x| x.0 as f64 / 1000.0),
        "ts_of_min_over_time" => |p, _, _| time_of_extreme(p, false),
        "ts_of_max_over_time" => |p, _, _| time_of_extreme(p, true),
        "stddev_over_time" => |p, _, _| Some(variance(p).sqrt()),
        "stdvar_over_time" => |p, _, _| Some(variance(p)),
        "mad_over_time" => |p, _, _| {
            let vals: Vec<f64> = p.iter().map(|x| x.1).collect();
            if vals.iter().any(|v| v.is_nan()) {
                return Some(f64::NAN);
            }
            let med = quantile(0.5, &vals);
            let dev: Vec<f64> = vals.iter().map(|v| (v - med).abs()).collect();
            Some(quantile(0.5, &dev))
        },
        _ => return None,
    };
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    Some((keep_name, f))
}

/// `irate` (per second, a drop read as a reset) and `idelta` over the last
/// two points.
fn instant_delta(p: &[(i64, f64)], per_second: bool) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (t1, v1) = p[p.len() - 2];
    let (t2, v2) = p[p.len() - 1];
    let mut d = v2 - v1;
    if per_second {
        if v2 < v1 {
            d = v2;
        }
        let secs = (t2 - t1) as f64 / 1000.0;
        if secs == 0.0 {
            return None;
        }
        d /= secs;
    }
    Some(d)
}

/// The last time the extreme value was seen; NaN never wins.
fn time_of_extreme(p: &[(i64, f64)], want_max: bool) -> Option<f64> {
    let mut best: Option<(i64, f64)> = None;
    for &(ts, v) in p {
        let better = match best {
            None => true,
            Some((_, b)) if b.is_nan() => !v.is_nan(),
            Some((_, b)) => !v.is_nan() && if want_max { v >= b } else { v <= b },
        };
        if better {
            best = Some((ts, v));
        }
    }
    best.map(|(ts, _)| ts as f64 / 1000.0)
}

/// Population variance, computed incrementally as Prometheus does.
fn variance(p: &[(i64, f64)]) -> f64 {
    let (mut m, mut m2) = (0.0, 0.0);
    for (i, x) in p.iter().enumerate() {
        let n = (i + 1) as f64;
        let d = x.1 - m;
        m += d / n;
        m2 += d * (x.1 - m);
    }
    m2 / p.len() as f64
}

fn nan_last(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Greater,
        (false, true) => std::cmp::Ordering::Less,
        _ if desc => b.total_cmp(&a),
        _ => a.total_cmp(&b),
    }
}

fn kahan(values: impl Iterator<Item = f64>) -> f64 {
    let (mut sum, mut c) = (0.0f64, 0.0f64);
    for v in values {
        let t = sum + v;
        if t.is_infinite() {
            c = 0.0;
        } else if sum.abs() >= v.abs() {
            c += (sum - t) + v;
        } else {
            c += (v - t) + sum;
        }
        sum = t;
    }
    if sum.is_infinite() {
        sum
    } else {
        sum + c
    }
}

fn mean(values: &[f64]) -> f64 {
    let s = kahan(values.iter().copied());
    if s.is_finite() || values.iter().any(|v| !v.is_finite()) {
        return s / values.len() as f64;
    }
    let mut m = 0.0;
    for (i, &v) in values.iter().enumerate() {
        let n = (i + 1) as f64;
        m += v / n - m / n;
    }
    m
}

/// Applies `f` to each series' points; `keep_name` keeps `__name__`.
/// The matrix selector a range function reads directly, if its first
/// argument is one (possibly in parentheses).
fn direct_matrix(c: &Call) -> Option<&promql_parser::parser::MatrixSelector> {
    let mut e = c.args.args.first()?.as_ref();
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    match e {
        Expr::MatrixSelector(ms) => Some(ms),
        _ => None,
    }
}

fn over_time(
    ev: &Evaluator<'_>,
    c: &Call,
    t: i64,
    keep_name: bool,
    f: impl Fn(&[(i64, f64)]) -> Option<f64>,
) -> Result<Value, EvalError> {
    if let Some(ms) = direct_matrix(c) {
        // The common case reads the fetched points in place.
        let delayed = ev.engine.delayed_name_removal;
        let mut out = Vec::new();
        ev.for_each_range(ms, t, !keep_name && !delayed, |labels, points| {
            if let Some(v) = f(points) {
                let mut s = Sample::new(labels, v);
                s.drop_name = !keep_name && delayed;
                out.push(s);
            }
        });
        return Ok(Value::Vector(out));
    }
    let m = matrix_arg(ev, c, 0, t)?;
    Ok(Value::Vector(
        m.into_iter()
            .filter_map(|s| {
                let mut out = Sample::new(s.labels, f(&s.points)?);
                // A subquery's series may already have lost their name.
                out.drop_name = s.drop_name;
                if !keep_name {
                    ev.remove_name(&mut out);
                }
                Some(out)
            })
            .collect(),
    ))
}

/// Prometheus's `extrapolatedRate`.
fn extrapolated_rate(
    p: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (first, last) = (p[0], p[p.len() - 1]);
    let mut result = last.1 - first.1;
    if is_counter {
        let mut prev = first.1;
        for &(_, v) in &p[1..] {
            if v < prev {
                result += prev;
            }
            prev = v;
        }
    }
    let mut to_start = (first.0 as f64 - range_start as f64) / 1000.0;
    let mut to_end = (range_end as f64 - last.0 as f64) / 1000.0;
    let sampled = (last.0 - first.0) as f64 / 1000.0;
    let avg_step = sampled / (p.len() - 1) as f64;
    let threshold = avg_step * 1.1;
    if to_start >= threshold {
        to_start = avg_step / 2.0;
    }
    if is_counter && result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_step / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= (range_end as f64 - range_start as f64) / 1000.0;
    }
    Some(result * factor)
}

/// Least-squares slope and intercept (at `at` ms) over the points, with
/// times in seconds.
fn linear_regression(p: &[(i64, f64)], at: i64) -> (f64, f64) {
    let n = p.len() as f64;
    let (mut sx, mut sy, mut sxy, mut sx2) = (0.0, 0.0, 0.0, 0.0);
    let const_y = p.iter().all(|x| x.1 == p[0].1);
    for &(t, v) in p {
        let x = (t as f64 - at as f64) / 1000.0;
        sx += x;
        sy += v;
        sxy += x * v;
        sx2 += x * x;
    }
    if const_y {
        return (0.0, p[0].1);
    }
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

fn double_exponential_smoothing(p: &[(i64, f64)], sf: f64, tf: f64) -> Option<f64> {
    if p.len() < 2 {
        return None;
    }
    let (mut s0, mut s1) = (0.0, p[0].1);
    let mut b = p[1].1 - p[0].1;
    for (i, &(_, x)) in p.iter().enumerate().skip(1) {
        // The trend is updated from the second step on.
        if i > 1 {
            b = tf * (s1 - s0) + (1.0 - tf) * b;
        }
        let next = sf * x + (1.0 - sf) * (s1 + b);
        s0 = s1;
        s1 = next;
    }
    Some(s1)
}

/// The φ-quantile of values, interpolating as Prometheus does.
pub fn quantile(q: f64, values: &[f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let mut v = values.to_vec();
    // NaN sorts first, as Go's sort of float64 does.
    v.sort_by(|a, b| match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.total_cmp(b),
    });
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    v[lower as usize] * (1.0 - weight) + v[upper as usize] * weight
}

fn timestamp(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Value, EvalError> {
    // The sample's own time needs the selector's points, not the value.
    let v = vector_arg(ev, c, 0, t)?;
    let stamps = match c.args.args.first().map(|e| e.as_ref()) {
        Some(Expr::VectorSelector(vs)) => Some(ev.sample_times(vs, t)),
        _ => None,
    };
    Ok(Value::Vector(
        v.into_iter()
            .map(|mut s| {
                let ts = stamps
                    .as_ref()
                    .and_then(|m| m.iter().find(|(l, _)| *l == s.labels).map(|(_, ts)| *ts))
                    .unwrap_or(t);
                ev.remove_name(&mut s);
                s.value = ts as f64 / 1000.0;
                s
            })
            .collect(),
    ))
}

fn label_replace(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = vector_arg(ev, c, 0, t)?;
    let dst = string_arg(ev, c, 1, t)?;
    let replacement = string_arg(ev, c, 2, t)?;
    let src = string_arg(ev, c, 3, t)?;
    let pattern = string_arg(ev, c, 4, t)?;
    let re = Regex::new(&format!("^(?s:{pattern})$"))
        .map_err(|e| EvalError::BadData(format!("invalid regular expression in label_replace(): {pattern}: {e}")))?;
    if !nines_tsdb::is_valid_label_name(&dst) {
        return Err(EvalError::BadData(format!(
            "invalid destination label name in label_replace(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let value = get(&s.labels, &src).unwrap_or("").to_string();
        if let Some(caps) = re.captures(&value) {
            let mut res = String::new();
            caps.expand(&replacement, &mut res);
            set(&mut s.labels, &dst, &res);
            // Writing the name explicitly keeps it.
            if dst == NAME {
                s.drop_name = false;
            }
        }
        out.push(s);
    }
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

fn label_join(ev: &Evaluator<'_>, c: &Call, t: i64) -> Result<Value, EvalError> {
    let v = vector_arg(ev, c, 0, t)?;
    let dst = string_arg(ev, c, 1, t)?;
    let sep = string_arg(ev, c, 2, t)?;
    let mut srcs = Vec::new();
    for i in 3..c.args.args.len() {
        srcs.push(string_arg(ev, c, i, t)?);
    }
    if !nines_tsdb::is_valid_label_name(&dst) {
        return Err(EvalError::BadData(format!(
            "invalid destination label name in label_join(): {dst}"
        )));
    }
    let mut out = Vec::with_capacity(v.len());
    for mut s in v {
        let joined: Vec<&str> = srcs.iter().map(|n| get(&s.labels, n).unwrap_or("")).collect();
        let joined = joined.join(&sep);
        set(&mut s.labels, &dst, &joined);
        if dst == NAME {
            s.drop_name = false;
        }
        out.push(s);
    }
    check_unique(&out)?;
    Ok(Value::Vector(out))
}

/// Fails when a vector holds one label set twice.
pub(crate) fn check_unique(v: &[Sample]) -> Result<(), EvalError> {
    if v.len() < 2 {
        return Ok(());
    }
    let mut seen: rustc_hash::FxHashSet<&Labels> = rustc_hash::FxHashSet::default();
    for s in v {
        if !seen.insert(&s.labels) {
            return Err(EvalError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
    }
    Ok(())
}

fn absent(empty: bool, e: &Expr) -> Vector {
    if !empty {
        return Vec::new();
    }
    let mut labels = Labels::default();
    let vs = match e {
        Expr::VectorSelector(vs) => Some(vs),
        Expr::MatrixSelector(ms) => Some(&ms.vs),
        _ => None,
    };
    if let Some(vs) = vs {
        let mut count: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
        for m in &vs.matchers.matchers {
            *count.entry(m.name.as_str()).or_default() += 1;
        }
        for m in &vs.matchers.matchers {
            if m.name == NAME || !matches!(m.op, promql_parser::label::MatchOp::Equal) || count[m.name.as_str()] > 1 {
                continue;
            }
            set(&mut labels, &m.name, &m.value);
        }
    }
    vec![Sample::new(labels, 1.0)]
}

/// Classic histogram buckets grouped by their labels without `le` and
/// `__name__`: (upper bound, cumulative count) per group, sorted.
/// (upper bound, cumulative count) pairs of one classic histogram.
type Buckets = Vec<(f64, f64)>;

/// One classic histogram: its labels, the metric name it came from (for
/// annotations), and its buckets.
type BucketGroup = (Labels, String, Buckets);

fn bucket_groups(ev: &Evaluator<'_>, node: &str, v: Vector) -> Result<Vec<BucketGroup>, EvalError> {
    let mut groups: rustc_hash::FxHashMap<Labels, (String, Buckets)> = rustc_hash::FxHashMap::default();
    let mut order = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for s in v {
        let raw_le = get(&s.labels, "le").unwrap_or("");
        let Some(le) = parse_le(raw_le) else {
            ev.warn(
                format!(
                    "bucket label \"le\" is missing or has a malformed value of {raw_le:?} for metric name {:?}",
                    get(&s.labels, NAME).unwrap_or("")
                ),
                node,
            );
            continue;
        };
        let mut key = s.labels.clone();
        key.make_mut().retain(|(n, _)| n != "le" && n != NAME);
        if !seen.insert((key.clone(), raw_le.to_string())) {
            return Err(EvalError::Execution(
                "vector cannot contain metrics with the same labelset".into(),
            ));
        }
        let name = get(&s.labels, NAME).unwrap_or("").to_string();
        groups
            .entry(key.clone())
            .or_insert_with(|| {
                order.push(key);
                (name, Vec::new())
            })
            .1
            .push((le, s.value));
    }
    Ok(order
        .into_iter()
        .map(|k| {
            let (name, mut b) = groups.remove(&k).unwrap_or_default();
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            // One bound written several ways ("0.2", "2e-1"): one bucket.
            b.dedup_by(|later, kept| {
                if later.0 == kept.0 {
                    kept.1 += later.1;
                    true
                } else {
                    false
                }
            });
            (k, name, b)
        })
        .collect())
}

fn check_quantile(ev: &Evaluator<'_>, q: f64, node: &str) {
    if q.is_nan() || !(0.0..=1.0).contains(&q) {
        ev.warn(
            format!(
                "quantile value should be between 0 and 1, got {}",
                crate::aggregate::format_value(q)
            ),
            node,
        );
    }
}

fn note_monotonicity(ev: &Evaluator<'_>, fixed: bool, name: &str, node: &str) {
    if fixed {
        ev.info(
            format!(
                "input to histogram_quantile needed to be fixed for monotonicity (see \
                 https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"
            ),
            node,
        );
    }
}

/// Fraction of observations between `lower` and `upper` in classic
/// buckets, interpolating linearly inside a bucket (the first bucket
/// starting at 0 when its bound is positive, as `histogram_quantile`
/// assumes).
fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> f64 {
    if buckets.is_empty() || buckets[buckets.len() - 1].0 != f64::INFINITY || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    let mut max = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        if b.1 > max {
            max = b.1;
        } else {
            b.1 = max;
        }
    }
    let total = buckets[buckets.len() - 1].1;
    if total == 0.0 || total.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    // Cumulative count at x: interpolated inside the bucket holding x.
    let rank_at = |x: f64| -> f64 {
        let mut prev_bound = f64::NEG_INFINITY;
        let mut prev_count = 0.0;
        for (i, &(bound, count)) in buckets.iter().enumerate() {
            if x <= bound {
                let start = if i == 0 {
                    if bound > 0.0 {
                        0.0
                    } else {
                        f64::NEG_INFINITY
                    }
                } else {
                    prev_bound
                };
                if x <= start {
                    return prev_count;
                }
                // An open-ended bucket has no width to interpolate over: a
                // bound inside it takes none of its observations.
                if start.is_infinite() {
                    return count;
                }
                if bound.is_infinite() {
                    return if x == bound { count } else { prev_count };
                }
                return prev_count + (count - prev_count) * (x - start) / (bound - start);
            }
            prev_bound = bound;
            prev_count = count;
        }
        total
    };
    (rank_at(upper) - rank_at(lower)) / total
}

fn parse_le(s: &str) -> Option<f64> {
    match s {
        "+Inf" | "Inf" | "+inf" | "inf" => Some(f64::INFINITY),
        "-Inf" | "-inf" => Some(f64::NEG_INFINITY),
        _ => s.parse().ok(),
    }
}

/// Prometheus's `bucketQuantile` over (upper bound, cumulative count);
/// also says whether counts had to be made monotonic.
fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    if buckets.len() < 2 || buckets[buckets.len() - 1].0 != f64::INFINITY {
        return (f64::NAN, false);
    }
    // Counts must not decrease with the bound; fix them as Prometheus does.
    let mut fixed = false;
    let mut max = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        if b.1 > max {
            max = b.1;
        } else if b.1 < max {
            b.1 = max;
            fixed = true;
        }
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations == 0.0 || observations.is_nan() {
        return (f64::NAN, fixed);
    }
    let mut rank = q * observations;
    let b = buckets.iter().position(|x| x.1 >= rank).unwrap_or(buckets.len() - 1);
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].0, fixed);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return (buckets[0].0, fixed);
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    (start + (end - start) * (rank / count), fixed)
}

fn date_part(name: &str) -> fn(f64) -> f64 {
    match name {
        "days_in_month" => |s| civil(s).map_or(f64::NAN, |(y, m, _, _, _, _)| days_in_month(y, m) as f64),
        "day_of_month" => |s| civil(s).map_or(f64::NAN, |c| c.2 as f64),
        "day_of_week" => |s| {
            if !s.is_finite() {
                return f64::NAN;
            }
            let days = (s / 86400.0).floor() as i64;
            ((days + 4).rem_euclid(7)) as f64
        },
        "day_of_year" => |s| {
            civil(s).map_or(f64::NAN, |(y, m, d, _, _, _)| {
                let mut doy = d;
                for mm in 1..m {
                    doy += days_in_month(y, mm);
                }
                doy as f64
            })
        },
        "hour" => |s| civil(s).map_or(f64::NAN, |c| c.3 as f64),
        "minute" => |s| civil(s).map_or(f64::NAN, |c| c.4 as f64),
        "month" => |s| civil(s).map_or(f64::NAN, |c| c.1 as f64),
        _ => |s| civil(s).map_or(f64::NAN, |c| c.0 as f64),
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// UTC (year, month, day, hour, minute, second) of Unix seconds.
fn civil(secs: f64) -> Option<(i64, i64, i64, i64, i64, i64)> {
    if !secs.is_finite() {
        return None;
    }
    let s = secs.floor() as i64;
    let days = s.div_euclid(86400);
    let rem = s.rem_euclid(86400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    Some((
        if m <= 2 { y + 1 } else { y },
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
    ))
}

impl Evaluator<'_> {
    /// The timestamps of the samples a selector yields at `t`.
    pub(crate) fn sample_times(&self, vs: &promql_parser::parser::VectorSelector, t: i64) -> Vec<(Labels, i64)> {
        self.selector_points(vs, t)
    }
}

/// Natural order: runs of digits compare by number ("4m5" < "4m600").
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    loop {
        match (x.first(), y.first()) {
            (None, None) => return std::cmp::Ordering::Equal,
            (None, Some(_)) => return std::cmp::Ordering::Less,
            (Some(_), None) => return std::cmp::Ordering::Greater,
            (Some(c), Some(d)) if c.is_ascii_digit() && d.is_ascii_digit() => {
                let n = x.iter().take_while(|c| c.is_ascii_digit()).count();
                let m = y.iter().take_while(|c| c.is_ascii_digit()).count();
                let (dx, dy) = (&x[..n], &y[..m]);
                let tx = dx.iter().skip_while(|c| **c == b'0').count();
                let ty = dy.iter().skip_while(|c| **c == b'0').count();
                let ord = tx
                    .cmp(&ty)
                    .then_with(|| dx[n - tx..].cmp(&dy[m - ty..]))
                    .then(n.cmp(&m));
                if ord != std::cmp::Ordering::Equal {
                    return ord;
                }
                x = &x[n..];
                y = &y[m..];
            }
            (Some(c), Some(d)) => {
                if c != d {
                    return c.cmp(d);
                }
                x = &x[1..];
                y = &y[1..];
            }
        }
    }
}
