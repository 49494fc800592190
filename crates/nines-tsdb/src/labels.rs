//! The Prometheus label model: a series is identified by a sorted set of
//! name/value pairs, its metric name stored under `__name__`.

use std::fmt;
use std::hash::Hasher;

use crate::encoding::{put_bytes, Decoder};
use crate::error::{Error, Result};

/// The label that carries the metric name.
pub const METRIC_NAME: &str = "__name__";

/// One name/value pair.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Label {
    /// Label name, `[a-zA-Z_][a-zA-Z0-9_]*`.
    pub name: String,
    /// Label value, any UTF-8, never empty.
    pub value: String,
}

/// A validated label set: sorted by name, names unique, no empty values.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Labels(Vec<Label>);

impl Labels {
    /// Builds a label set from pairs in any order. Pairs with an empty value
    /// are dropped (in Prometheus an empty value means "no such label").
    /// Fails on an invalid or repeated name or a missing/invalid metric name.
    pub fn new<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Result<Self> {
        let mut labels: Vec<Label> = pairs
            .into_iter()
            .map(|(n, v)| Label {
                name: n.into(),
                value: v.into(),
            })
            .filter(|l| !l.value.is_empty())
            .collect();
        labels.sort_by(|a, b| a.name.cmp(&b.name));
        check_sorted_pairs(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())))?;
        Ok(Self(labels))
    }

    /// Labels already known to be valid (read back from our own files).
    pub(crate) fn from_trusted(labels: Vec<Label>) -> Self {
        Self(labels)
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|l| l.name.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].value.as_str())
    }

    /// The metric name.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// The pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no pairs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The pairs, taken apart without copying.
    pub fn into_pairs(self) -> impl Iterator<Item = (String, String)> {
        self.0.into_iter().map(|l| (l.name, l.value))
    }

    /// The pairs as borrowed strings.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        self.0.iter().map(|l| (l.name.as_str(), l.value.as_str()))
    }
}

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.metric_name().unwrap_or("");
        write!(f, "{name}{{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                write!(f, ", ")?;
            }
            first = false;
            write!(f, "{}={:?}", l.name, l.value)?;
        }
        write!(f, "}}")
    }
}

/// True for a legal label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {}
        _ => return false,
    }
    b[1..].iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// True for a legal metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
pub fn is_valid_metric_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() || *c == b'_' || *c == b':' => {}
        _ => return false,
    }
    b[1..]
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b':')
}

/// Checks pairs that must already be sorted by name with no empty values:
/// strictly increasing names, each legal, and a legal `__name__` present.
pub fn check_sorted_pairs<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Result<()> {
    let mut prev: Option<&str> = None;
    let mut has_name = false;
    for (name, value) in pairs {
        if !is_valid_label_name(name) {
            return Err(Error::InvalidLabels(format!("invalid label name {name:?}")));
        }
        if let Some(p) = prev {
            if p == name {
                return Err(Error::InvalidLabels(format!("label name {name:?} repeated")));
            }
            if p > name {
                return Err(Error::InvalidLabels(format!(
                    "labels not sorted: {p:?} before {name:?}"
                )));
            }
        }
        if name == METRIC_NAME {
            if !is_valid_metric_name(value) {
                return Err(Error::InvalidLabels(format!("invalid metric name {value:?}")));
            }
            has_name = true;
        }
        prev = Some(name);
    }
    if !has_name {
        return Err(Error::InvalidLabels("no metric name (label __name__)".into()));
    }
    Ok(())
}

/// The length-prefixed strings of packed labels from byte `start` on.
fn strings_from(packed: &[u8], start: usize) -> impl Iterator<Item = &[u8]> {
    let mut d = Decoder::new(packed.get(start..).unwrap_or_default());
    std::iter::from_fn(move || d.len_bytes())
}

/// How many leading bytes `a` and `b` share, compared a word at a time.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    let mut n = 0;
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        if x != y {
            break;
        }
        n += 8;
    }
    n + a[n..].iter().zip(&b[n..]).take_while(|(x, y)| x == y).count()
}

/// Hash of a packed label set, the key of the head's series lookup.
pub(crate) fn hash_bytes(packed: &[u8]) -> u64 {
    let mut h = rustc_hash::FxHasher::default();
    h.write(packed);
    h.finish()
}

/// A label set packed into one allocation: length-prefixed name, value,
/// name, value... The head keeps one per series to stay small; it is
/// shared, so a query takes it out of the head without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CompactLabels(std::sync::Arc<[u8]>);

impl CompactLabels {
    pub(crate) fn encode<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Self {
        let mut buf = Vec::with_capacity(64);
        Self::encode_into(&mut buf, pairs);
        Self(buf.into())
    }

    /// Packs pairs into `buf` (cleared first), for lookups without an
    /// allocation.
    pub(crate) fn encode_into<'a>(buf: &mut Vec<u8>, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
        buf.clear();
        for (n, v) in pairs {
            put_bytes(buf, n.as_bytes());
            put_bytes(buf, v.as_bytes());
        }
    }

    /// Wraps bytes that `encode_into` produced (and nothing else: `pairs`
    /// relies on it).
    pub(crate) fn from_packed(packed: &[u8]) -> Self {
        Self(packed.into())
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Iterates the pairs. The bytes were produced by `encode` from UTF-8
    /// strings, so decoding cannot fail; a failure would stop the iteration.
    pub(crate) fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + Clone {
        let mut d = Decoder::new(&self.0);
        let mut next_str = move || -> Option<&str> {
            let bytes = d.len_bytes()?;
            // SAFETY: a CompactLabels is only ever built by `encode_into`
            // (directly or via `from_packed` of its output), which writes
            // each string from a `&str` at exactly these boundaries, so
            // every slice read back here is valid UTF-8. Skipping the check
            // matters: sorting a block's series decodes labels many times.
            Some(unsafe { std::str::from_utf8_unchecked(bytes) })
        };
        std::iter::from_fn(move || {
            let name = next_str()?;
            Some((name, next_str()?))
        })
    }

    pub(crate) fn to_labels(&self) -> Labels {
        Labels::from_trusted(
            self.pairs()
                .map(|(n, v)| Label {
                    name: n.to_string(),
                    value: v.to_string(),
                })
                .collect(),
        )
    }

    /// Orders as the [`Labels`] they stand for do, without building them.
    /// Pairs compare name then value, so this is the order of the strings
    /// in turn. Strings inside the bytes both sets share are equal and
    /// skipped unread: the series of one metric differ late, and sorting a
    /// selection is mostly these comparisons.
    pub(crate) fn cmp_labels(&self, other: &Self) -> std::cmp::Ordering {
        let shared = common_prefix(&self.0, &other.0);
        if shared == self.0.len() && shared == other.0.len() {
            return std::cmp::Ordering::Equal;
        }
        let mut d = Decoder::new(&self.0);
        let mut start = 0;
        while d.position() < shared {
            start = d.position();
            if d.len_bytes().is_none() {
                break;
            }
        }
        // `start` is where the first string not wholly shared begins (or
        // the last one, if all are); before it both hold the same strings.
        strings_from(&self.0, start).cmp(strings_from(&other.0, start))
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        // The bytes and the two reference counts.
        self.0.len() + 16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_empty_values_dropped() {
        let l = Labels::new([("job", "api"), ("__name__", "up"), ("zone", "")]).unwrap();
        let names: Vec<_> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "job"]);
        assert_eq!(l.to_string(), "up{job=\"api\"}");
    }

    #[test]
    fn bad_labels_are_refused_with_the_reason() {
        let e = Labels::new([("__name__", "up"), ("1x", "a")]).unwrap_err().to_string();
        assert!(e.contains("invalid label name \"1x\""), "{e}");
        let e = Labels::new([("__name__", "up"), ("a", "1"), ("a", "2")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("repeated"), "{e}");
        let e = Labels::new([("job", "x")]).unwrap_err().to_string();
        assert!(e.contains("no metric name"), "{e}");
        let e = Labels::new([("__name__", "a-b")]).unwrap_err().to_string();
        assert!(e.contains("invalid metric name"), "{e}");
    }

    proptest::proptest! {
        #[test]
        fn packed_labels_order_as_built_ones(
            a in proptest::collection::btree_map("[a-c_]{1,3}", "[a-c\u{0}\u{80}-\u{ff}]{0,3}", 0..4),
            b in proptest::collection::btree_map("[a-c_]{1,3}", "[a-c\u{0}\u{80}-\u{ff}]{0,3}", 0..4),
            long in 0usize..200,
        ) {
            // Long values make multi-byte length prefixes.
            let build = |m: &std::collections::BTreeMap<String, String>| {
                let mut pairs: Vec<(String, String)> = m.clone().into_iter().collect();
                pairs.push(("__name__".into(), format!("m{}", "x".repeat(long))));
                Labels::new(pairs).unwrap()
            };
            let (la, lb) = (build(&a), build(&b));
            let (ca, cb) = (CompactLabels::encode(la.pairs()), CompactLabels::encode(lb.pairs()));
            proptest::prop_assert_eq!(ca.cmp_labels(&cb), la.cmp(&lb));
            proptest::prop_assert_eq!(cb.cmp_labels(&ca), lb.cmp(&la));
            proptest::prop_assert_eq!(ca.cmp_labels(&ca), std::cmp::Ordering::Equal);
        }
    }

    #[test]
    fn compact_labels_round_trip() {
        let l = Labels::new([("__name__", "up"), ("job", "ä\u{0}x")]).unwrap();
        let c = CompactLabels::encode(l.pairs());
        assert_eq!(c.to_labels(), l);
        let mut buf = Vec::new();
        CompactLabels::encode_into(&mut buf, l.pairs());
        assert_eq!(buf, c.as_bytes());
    }
}
