//! PromQL values: scalars, strings, instant vectors and range vectors.

use std::sync::Arc;

/// A label set: (name, value) pairs sorted by name, `__name__` included.
/// Shared behind an `Arc`: evaluation hands the same label set from step
/// to step and series to sample, and only copies it when it changes. Its
/// hash is computed once, so maps keyed by label sets stay cheap.
#[derive(Clone, Debug, Default)]
pub struct Labels(Arc<Inner>);

#[derive(Clone, Debug, Default)]
struct Inner {
    pairs: Vec<(String, String)>,
    hash: std::sync::OnceLock<u64>,
}

impl Labels {
    /// The pairs, to change (copied first if shared).
    pub fn make_mut(&mut self) -> &mut Vec<(String, String)> {
        let inner = Arc::make_mut(&mut self.0);
        inner.hash = std::sync::OnceLock::new();
        &mut inner.pairs
    }

    fn hash_value(&self) -> u64 {
        *self.0.hash.get_or_init(|| {
            use std::hash::{Hash, Hasher};
            let mut h = rustc_hash::FxHasher::default();
            self.0.pairs.hash(&mut h);
            h.finish()
        })
    }

    /// An address that identifies this shared label set while it lives.
    pub fn identity(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl std::ops::Deref for Labels {
    type Target = Vec<(String, String)>;
    fn deref(&self) -> &Self::Target {
        &self.0.pairs
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || (self.hash_value() == other.hash_value() && self.0.pairs == other.0.pairs)
    }
}

impl Eq for Labels {}

impl std::hash::Hash for Labels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash_value());
    }
}

impl PartialOrd for Labels {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Labels {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.pairs.cmp(&other.0.pairs)
    }
}

impl From<Vec<(String, String)>> for Labels {
    fn from(pairs: Vec<(String, String)>) -> Self {
        Labels(Arc::new(Inner {
            pairs,
            hash: std::sync::OnceLock::new(),
        }))
    }
}

impl FromIterator<(String, String)> for Labels {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(iter: I) -> Self {
        Labels::from(iter.into_iter().collect::<Vec<_>>())
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
    /// `__name__` is to be removed when evaluation ends (delayed name
    /// removal, see [`crate::Engine::delayed_name_removal`]).
    pub drop_name: bool,
}

impl Sample {
    /// A sample that keeps its metric name.
    pub fn new(labels: Labels, value: f64) -> Self {
        Self {
            labels,
            value,
            drop_name: false,
        }
    }
}

/// One element of a range vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Labels.
    pub labels: Labels,
    /// (timestamp ms, value), oldest first.
    pub points: Vec<(i64, f64)>,
    /// `__name__` is to be removed when evaluation ends.
    pub drop_name: bool,
}

impl Series {
    /// A series that keeps its metric name.
    pub fn new(labels: Labels, points: Vec<(i64, f64)>) -> Self {
        Self {
            labels,
            points,
            drop_name: false,
        }
    }
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

/// Whether label `name` is kept by a `by`/`without` or `on`/`ignoring`
/// clause; with no clause, `all` decides (aggregations keep nothing,
/// vector matching keeps everything but the metric name).
pub fn selected(name: &str, modifier: Option<&promql_parser::parser::LabelModifier>, all: bool) -> bool {
    use promql_parser::parser::LabelModifier;
    match modifier {
        Some(LabelModifier::Include(names)) => names.labels.iter().any(|x| x == name),
        Some(LabelModifier::Exclude(names)) => name != NAME && !names.labels.iter().any(|x| x == name),
        None => all && name != NAME,
    }
}
