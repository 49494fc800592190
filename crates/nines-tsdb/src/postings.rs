//! The inverted index: label pair → sorted list of series ids, and the
//! matcher evaluation over it. The head and every block use it, so a
//! selection touches only the series its matchers allow.

use rustc_hash::FxHashMap;

use crate::matcher::{MatchOp, Matcher};

/// Label name → label value → ascending series ids.
#[derive(Debug, Default, Clone)]
pub(crate) struct Postings {
    by_name: FxHashMap<Box<str>, FxHashMap<Box<str>, Vec<u32>>>,
    all: Vec<u32>,
}

impl Postings {
    /// Registers a series. Ids must be added in ascending order.
    pub(crate) fn add<'a>(&mut self, id: u32, pairs: impl Iterator<Item = (&'a str, &'a str)>) {
        for (name, value) in pairs {
            let values = match self.by_name.get_mut(name) {
                Some(v) => v,
                None => self.by_name.entry(name.into()).or_default(),
            };
            match values.get_mut(value) {
                Some(ids) => ids.push(id),
                None => {
                    values.insert(value.into(), vec![id]);
                }
            }
        }
        self.all.push(id);
    }

    /// Inserts a whole postings list as read from a block index.
    pub(crate) fn insert_list(&mut self, name: &str, value: &str, ids: Vec<u32>) {
        self.by_name.entry(name.into()).or_default().insert(value.into(), ids);
    }

    /// Sets the list of every series id.
    pub(crate) fn set_all(&mut self, all: Vec<u32>) {
        self.all = all;
    }

    /// Every label name.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(|k| &**k)
    }

    /// Every value of one label name.
    pub(crate) fn values(&self, name: &str) -> impl Iterator<Item = &str> {
        self.by_name.get(name).into_iter().flat_map(|v| v.keys().map(|k| &**k))
    }

    /// Ids of the series whose labels satisfy every matcher.
    pub(crate) fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut result: Option<Vec<u32>> = None;
        // Matchers that can only narrow by inclusion go first: they are
        // cheapest and shrink what the exclusions must scan.
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let ids = self.union_matching(m, true);
            result = Some(match result {
                None => ids,
                Some(r) => intersect(&r, &ids),
            });
            if result.as_ref().is_some_and(Vec::is_empty) {
                return Vec::new();
            }
        }
        let mut result = result.unwrap_or_else(|| self.all.clone());
        for m in matchers.iter().filter(|m| m.matches_empty()) {
            // A matcher that accepts "" also accepts series without the
            // label, so remove the series whose value it rejects.
            let excluded = self.union_matching(m, false);
            result = subtract(&result, &excluded);
        }
        result
    }

    fn union_matching(&self, m: &Matcher, want: bool) -> Vec<u32> {
        let Some(values) = self.by_name.get(m.name.as_str()) else {
            return Vec::new();
        };
        if want && m.op == MatchOp::Equal {
            return values.get(m.value.as_str()).cloned().unwrap_or_default();
        }
        let lists: Vec<&Vec<u32>> = values
            .iter()
            .filter(|(v, _)| m.matches(v) == want)
            .map(|(_, ids)| ids)
            .collect();
        union(&lists)
    }
}

/// Sorted intersection.
pub(crate) fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::with_capacity(a.len().min(b.len()));
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Sorted difference `a - b`.
pub(crate) fn subtract(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut j = 0;
    let mut out = Vec::with_capacity(a.len());
    for &x in a {
        while j < b.len() && b[j] < x {
            j += 1;
        }
        if j < b.len() && b[j] == x {
            continue;
        }
        out.push(x);
    }
    out
}

/// Sorted union of several sorted lists.
pub(crate) fn union(lists: &[&Vec<u32>]) -> Vec<u32> {
    match lists {
        [] => Vec::new(),
        [one] => (*one).clone(),
        _ => {
            let mut out: Vec<u32> = lists.iter().flat_map(|l| l.iter().copied()).collect();
            out.sort_unstable();
            out.dedup();
            out
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matcher::MatchOp;
    use proptest::prelude::*;

    fn arb_series() -> impl Strategy<Value = Vec<Vec<(String, String)>>> {
        let pair = (
            proptest::sample::select(vec!["a", "b", "c"]).prop_map(String::from),
            proptest::sample::select(vec!["", "x", "y", "xy", "z"]).prop_map(String::from),
        );
        proptest::collection::vec(proptest::collection::vec(pair, 0..4), 0..40).prop_map(|all| {
            all.into_iter()
                .map(|mut s| {
                    s.sort();
                    s.dedup_by(|x, y| x.0 == y.0);
                    s.retain(|(_, v)| !v.is_empty());
                    s
                })
                .collect()
        })
    }

    fn arb_matcher() -> impl Strategy<Value = Matcher> {
        let op = prop_oneof![
            Just(MatchOp::Equal),
            Just(MatchOp::NotEqual),
            Just(MatchOp::Regex),
            Just(MatchOp::NotRegex)
        ];
        let name = proptest::sample::select(vec!["a", "b", "c", "d"]);
        let value = proptest::sample::select(vec!["", "x", "y", "x.*", ".+", "x|z"]);
        (op, name, value).prop_map(|(op, n, v)| Matcher::new(op, n, v).unwrap())
    }

    proptest! {
        #[test]
        fn selection_matches_a_brute_force_scan(series in arb_series(), matchers in proptest::collection::vec(arb_matcher(), 1..4)) {
            let mut p = Postings::default();
            for (id, s) in series.iter().enumerate() {
                p.add(id as u32, s.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            }
            let got = p.select(&matchers);
            let want: Vec<u32> = series.iter().enumerate().filter(|(_, s)| {
                matchers.iter().all(|m| {
                    let v = s.iter().find(|(n, _)| *n == m.name).map(|(_, v)| v.as_str()).unwrap_or("");
                    m.matches(v)
                })
            }).map(|(i, _)| i as u32).collect();
            prop_assert_eq!(got, want);
        }
    }
}
