//! Binary operators: arithmetic, comparisons (filtering or `bool`), set
//! operators, and vector matching with `on`/`ignoring` and
//! `group_left`/`group_right`.

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use rustc_hash::FxHashMap;

use crate::engine::{Evaluator, Vector};
use crate::error::EvalError;
use crate::value::{fmt_labels, selected, set, Labels, Sample, Value};

/// Applies an arithmetic or comparison operator to two numbers; for a
/// comparison, `Some(1.0)`/`None` means true/false.
fn apply(op: &str, l: f64, r: f64) -> Option<f64> {
    Some(match op {
        "+" => l + r,
        "-" => l - r,
        "*" => l * r,
        "/" => l / r,
        "%" => l % r,
        "^" => l.powf(r),
        "atan2" => l.atan2(r),
        "==" => return (l == r).then_some(1.0),
        "!=" => return (l != r).then_some(1.0),
        ">" => return (l > r).then_some(1.0),
        "<" => return (l < r).then_some(1.0),
        ">=" => return (l >= r).then_some(1.0),
        "<=" => return (l <= r).then_some(1.0),
        _ => return None,
    })
}

fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// Combines two values with `op`: `None` drops the element.
fn combine(op: &str, l: f64, r: f64, return_bool: bool, keep: f64) -> Option<f64> {
    if is_comparison(op) {
        let hit = apply(op, l, r).is_some();
        if return_bool {
            Some(if hit { 1.0 } else { 0.0 })
        } else {
            hit.then_some(keep)
        }
    } else {
        apply(op, l, r)
    }
}

/// Evaluates a binary expression at `t`.
pub fn eval(ev: &Evaluator<'_>, b: &BinaryExpr, t: i64) -> Result<Value, EvalError> {
    let op = b.op.to_string();
    let op = op.as_str();
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let lhs = ev.eval(&b.lhs, t)?;
    let rhs = ev.eval(&b.rhs, t)?;
    // Arithmetic, and comparisons with `bool`, produce new values: the
    // metric name no longer applies.
    let drops_name = !is_comparison(op) || return_bool;
    match (lhs, rhs) {
        (Value::Scalar(l), Value::Scalar(r)) => {
            let v = if is_comparison(op) {
                if apply(op, l, r).is_some() {
                    1.0
                } else {
                    0.0
                }
            } else {
                apply(op, l, r).unwrap_or(f64::NAN)
            };
            Ok(Value::Scalar(v))
        }
        (Value::Vector(v), Value::Scalar(s)) => Ok(Value::Vector(
            v.into_iter()
                .filter_map(|mut x| {
                    let value = combine(op, x.value, s, return_bool, x.value)?;
                    if drops_name {
                        ev.remove_name(&mut x);
                    }
                    x.value = value;
                    Some(x)
                })
                .collect(),
        )),
        (Value::Scalar(s), Value::Vector(v)) => Ok(Value::Vector(
            v.into_iter()
                .filter_map(|mut x| {
                    let value = combine(op, s, x.value, return_bool, x.value)?;
                    if drops_name {
                        ev.remove_name(&mut x);
                    }
                    x.value = value;
                    Some(x)
                })
                .collect(),
        )),
        (Value::Vector(l), Value::Vector(r)) => match op {
            "and" | "or" | "unless" => Ok(Value::Vector(set_op(op, b, l, r))),
            _ => Ok(Value::Vector(vector_op(ev, op, b, l, r, return_bool, drops_name)?)),
        },
        (l, r) => Err(EvalError::BadData(format!(
            "binary operator {op} not defined between {} and {}",
            l.type_name(),
            r.type_name()
        ))),
    }
}

/// The matching key of a sample's labels.
fn signature(labels: &Labels, matching: Option<&LabelModifier>) -> Vec<(String, String)> {
    labels
        .iter()
        .filter(|(n, _)| selected(n, matching, true))
        .cloned()
        .collect()
}

fn set_op(op: &str, b: &BinaryExpr, l: Vector, r: Vector) -> Vector {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
    let right: rustc_hash::FxHashSet<Vec<(String, String)>> =
        r.iter().map(|s| signature(&s.labels, matching)).collect();
    match op {
        "and" => l
            .into_iter()
            .filter(|s| right.contains(&signature(&s.labels, matching)))
            .collect(),
        "unless" => l
            .into_iter()
            .filter(|s| !right.contains(&signature(&s.labels, matching)))
            .collect(),
        _ => {
            let left: rustc_hash::FxHashSet<Vec<(String, String)>> =
                l.iter().map(|s| signature(&s.labels, matching)).collect();
            let mut out = l;
            out.extend(
                r.into_iter()
                    .filter(|s| !left.contains(&signature(&s.labels, matching))),
            );
            out
        }
    }
}

fn vector_op(
    ev: &Evaluator<'_>,
    op: &str,
    b: &BinaryExpr,
    l: Vector,
    r: Vector,
    return_bool: bool,
    drops_name: bool,
) -> Result<Vector, EvalError> {
    let modifier = b.modifier.as_ref();
    let matching = modifier.and_then(|m| m.matching.as_ref());
    let card = modifier.map_or(&VectorMatchCardinality::OneToOne, |m| &m.card);
    // group_right is group_left with the sides swapped.
    let (many, one, swapped, include) = match card {
        VectorMatchCardinality::OneToMany(inc) => (r, l, true, inc.labels.clone()),
        VectorMatchCardinality::ManyToOne(inc) => (l, r, false, inc.labels.clone()),
        _ => (l, r, false, Vec::new()),
    };
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    let mut one_side: FxHashMap<Vec<(String, String)>, Sample> = FxHashMap::default();
    for s in one {
        let sig = signature(&s.labels, matching);
        if let Some(first) = one_side.get(&sig) {
            let side = if swapped { "left" } else { "right" };
            let mut pair = [fmt_labels(&first.labels), fmt_labels(&s.labels)];
            pair.sort();
            return Err(EvalError::Execution(format!(
                "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];\
                 many-to-many matching not allowed: matching labels must be unique on one side",
                fmt_labels(&sig),
                pair[0],
                pair[1]
            )));
        }
        one_side.insert(sig, s);
    }
    let mut out = Vec::new();
    let mut seen_many: FxHashMap<Vec<(String, String)>, ()> = FxHashMap::default();
    let mut seen_result: FxHashMap<Labels, ()> = FxHashMap::default();
    for m in many {
        let sig = signature(&m.labels, matching);
        let Some(o) = one_side.get(&sig) else {
            continue;
        };
        if one_to_one && seen_many.insert(sig, ()).is_some() {
            return Err(EvalError::Execution(
                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
            ));
        }
        let (lv, rv) = if swapped {
            (o.value, m.value)
        } else {
            (m.value, o.value)
        };
        let Some(value) = combine(op, lv, rv, return_bool, lv) else {
            continue;
        };
        let mut result = Sample {
            labels: m.labels.clone(),
            value,
            drop_name: m.drop_name,
        };
        if drops_name {
            ev.remove_name(&mut result);
        }
        let labels = &mut result.labels;
        if one_to_one {
            match matching {
                Some(LabelModifier::Include(names)) => {
                    labels.make_mut().retain(|(n, _)| names.labels.iter().any(|x| x == n))
                }
                Some(LabelModifier::Exclude(names)) => {
                    labels.make_mut().retain(|(n, _)| !names.labels.iter().any(|x| x == n))
                }
                None => {}
            }
        }
        for name in &include {
            let v = o.labels.iter().find(|(n, _)| n == name).map_or("", |(_, v)| v.as_str());
            set(labels, name, v);
        }
        if !one_to_one && seen_result.insert(labels.clone(), ()).is_some() {
            return Err(EvalError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        out.push(result);
    }
    Ok(out)
}
