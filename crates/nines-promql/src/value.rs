//! PromQL values: scalars, strings, instant vectors and range vectors.

use std::sync::Arc;

/// A label set: (name, value) pairs sorted by name, `__name__` included.
/// Shared behind an `Arc`: evaluation hands the same label set from step
/// to step and series to sample, and only copies it when it changes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Arc<Vec<(String, String)>>);

impl Labels {
    /// The pairs, to change (copied first if shared).
    pub fn make_mut(&mut self) -> &mut Vec<(String, String)> {
        Arc::make_mut(&mut self.0)
    }
}

impl std::ops::Deref for Labels {
    type Target = Vec<(String, String)>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl From<Vec<(String, String)>> for Labels {
    fn from(v: Vec<(String, String)>) -> Self {
        Labels(Arc::new(v))
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Labels(Arc::new(iter.into_iter().collect()))
    }
}

/// The metric name label.
pub const NAME: &str = "__name__";

/// Prometheus's text form of a label set: `{a="1", b="2"}`.
pub fn fmt_labels(labels: &[(String, String)]) -> String {
    let parts: Vec<String> = labels.iter().map(|(n, v)| format!("{n}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Removes `__name__` from a label set.
pub fn drop_name(labels: &mut Labels) {
    if labels.iter().any(|(n, _)| n == NAME) {
        labels.make_mut().retain(|(n, _)| n != NAME);
    }
}

/// The value of a label, if present.
pub fn get<'a>(labels: &'a Labels, name: &str) -> Option<&'a str> {
    labels
        .binary_search_by(|(n, _)| n.as_str().cmp(name))
        .ok()
        .map(|i| labels[i].1.as_str())
}

/// Sets a label (an empty value removes it), keeping the set sorted.
pub fn set(labels: &mut Labels, name: &str, value: &str) {
    match labels.binary_search_by(|(n, _)| n.as_str().cmp(name)) {
        Ok(i) if value.is_empty() => {
            labels.make_mut().remove(i);
        }
        Ok(i) if labels[i].1 == value => {}
        Ok(i) => labels.make_mut()[i].1 = value.to_string(),
        Err(_) if value.is_empty() => {}
        Err(i) => labels.make_mut().insert(i, (name.to_string(), value.to_string())),
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels.
    pub labels: Labels,
    /// Value.
    pub value: f64,
}

/// One element of a range vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels.
    pub labels: Labels,
    /// (timestamp ms, value), oldest first.
    pub points: Vec<(i64, f64)>,
}

/// The result of evaluating an expression at one time.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number.
    Scalar(f64),
    /// A string.
    String(String),
    /// An instant vector.
    Vector(Vec<Sample>),
    /// A range vector.
    Matrix(Vec<Series>),
}

impl Value {
    /// The PromQL type name, for errors.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Scalar(_) => "scalar",
            Value::String(_) => "string",
            Value::Vector(_) => "instant vector",
            Value::Matrix(_) => "range vector",
        }
    }
}
