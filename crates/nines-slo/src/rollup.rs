//! Turning an SLI's series into per-minute good and bad event counts.
//!
//! Counters are read as raw samples (a range selector through the query
//! seam) and every increase between consecutive samples is attributed to
//! the minute it happened in; a value below its predecessor is a reset and
//! counts from zero. Each series remembers the last sample it used, so the
//! next span continues from it: a sample that arrives late is still
//! counted (in the next minute evaluated) and the sum over any number of
//! spans equals the counter's whole increase. Without a memory (the first
//! span, or after a restart) the baseline is the series' last sample at or
//! before the span's start, within the lookback. A series never seen before
//! has no baseline: its first sample starts it, as Prometheus's
//! `increase()` does.

use std::collections::HashMap;

use nines_promql::value::{Labels, Series, Value};
use promql_parser::parser::Expr;

use crate::query::MetricsQuery;
use crate::repo::GroupLabels;
use crate::spec::Sli;

/// One minute, in ms.
pub const MINUTE_MS: i64 = 60_000;

/// Step at which an SLI written as a PromQL expression (not a plain
/// selector) is sampled: a counter is read every 15 s.
pub const EXPRESSION_STEP_MS: i64 = 15_000;

/// The minute a timestamp belongs to: minute `k` holds `((k-1)·60 s, k·60 s]`.
pub fn minute_of(t: i64) -> i64 {
    t.div_euclid(MINUTE_MS) + i64::from(t.rem_euclid(MINUTE_MS) != 0)
}

/// Whether a sample is a real value (not a staleness marker or NaN).
fn is_value(v: f64) -> bool {
    !v.is_nan()
}

/// Walks one counter series over the span `(span_start, span_end]`,
/// calling `emit(t, increase)` for each increase, and returns the last
/// sample used (the series' new memory).
pub fn counter_increases(
    points: &[(i64, f64)],
    memory: Option<(i64, f64)>,
    span_start: i64,
    span_end: i64,
    mut emit: impl FnMut(i64, f64),
) -> Option<(i64, f64)> {
    let values = points.iter().copied().filter(|&(t, v)| is_value(v) && t <= span_end);
    let (mut prev, from) = match memory {
        Some(m) => (Some(m), m.0),
        None => (values.clone().take_while(|&(t, _)| t <= span_start).last(), span_start),
    };
    for (t, v) in values.filter(|&(t, _)| t > from) {
        if let Some((_, pv)) = prev {
            let increase = if v >= pv { v - pv } else { v };
            if increase > 0.0 {
                emit(t, increase);
            }
        }
        prev = Some((t, v));
    }
    prev
}

/// Per-minute counts of one span for every group: `(total, bad)` per
/// minute, oldest first.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SpanEvents {
    /// Minute index of the first minute.
    pub first_minute: i64,
    /// Per group, one `(total, bad)` per minute.
    pub groups: HashMap<GroupLabels, Vec<(f64, f64)>>,
}

/// Which count a counter feeds.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Role {
    Good,
    Bad,
    Total,
}

#[derive(Debug, Clone)]
enum Source {
    /// A counter: raw samples when `selector` (a plain selector), else
    /// the expression sampled every [`EXPRESSION_STEP_MS`].
    Counter { query: String, selector: bool, role: Role },
    /// Histogram buckets: the threshold bucket is good, `+Inf` is total.
    Buckets { selector: String, threshold: f64 },
    /// A 0/1 gauge: each sample is an event, good when it is 1.
    Samples { selector: String },
    /// An error ratio, one event per minute weighted by the ratio.
    Ratio { query: String },
}

/// Reads an SLO's events, one span of minutes at a time.
#[derive(Debug)]
pub struct SliReader {
    sources: Vec<Source>,
    group_by: Vec<String>,
    lookback_ms: i64,
    /// Per source and series, the last sample used.
    memory: Vec<HashMap<Labels, (i64, f64)>>,
    /// What evaluation noticed about the data (e.g. no bucket at the
    /// threshold), for the status.
    pub notes: Vec<String>,
}

/// Whether `q` is a plain selector that can be read as raw samples.
fn is_plain_selector(q: &str) -> bool {
    matches!(promql_parser::parser::parse(q), Ok(Expr::VectorSelector(vs)) if vs.offset.is_none() && vs.at.is_none())
}

impl SliReader {
    /// A reader for `sli`, grouping by `group_by`, finding counter
    /// baselines within `lookback_ms`.
    pub fn new(sli: &Sli, group_by: &[String], lookback_ms: i64) -> Self {
        let counter = |q: &str, role| Source::Counter {
            query: q.trim().to_string(),
            selector: is_plain_selector(q),
            role,
        };
        let sources = match sli {
            Sli::Ratio { good, bad, total } => {
                let mut s = vec![counter(total, Role::Total)];
                if let Some(g) = good {
                    s.push(counter(g, Role::Good));
                }
                if let Some(b) = bad {
                    s.push(counter(b, Role::Bad));
                }
                s
            }
            Sli::Latency { histogram, threshold } => vec![Source::Buckets {
                selector: histogram.trim().to_string(),
                threshold: *threshold,
            }],
            Sli::Boolean { metric } => vec![Source::Samples {
                selector: metric.trim().to_string(),
            }],
            Sli::Custom { error_ratio } => vec![Source::Ratio {
                query: error_ratio.replace("$window", "1m"),
            }],
        };
        let memory = vec![HashMap::new(); sources.len()];
        Self {
            sources,
            group_by: group_by.to_vec(),
            lookback_ms,
            memory,
            notes: Vec::new(),
        }
    }

    /// The events of minutes `first_minute..=last_minute`.
    pub fn read(&mut self, q: &dyn MetricsQuery, first_minute: i64, last_minute: i64) -> Result<SpanEvents, String> {
        let minutes = usize::try_from(last_minute - first_minute + 1).map_err(|_| "empty span".to_string())?;
        let span_start = (first_minute - 1) * MINUTE_MS;
        let span_end = last_minute * MINUTE_MS;
        let mut tally = Tally {
            group_by: &self.group_by,
            first_minute,
            last_minute,
            minutes,
            raw: HashMap::new(),
        };
        let mut has_good = false;
        self.notes.clear();
        for (i, source) in self.sources.iter().enumerate() {
            let memory = &mut self.memory[i];
            match source {
                Source::Counter { query, selector, role } => {
                    let slot = match role {
                        Role::Total => TOTAL,
                        Role::Good => {
                            has_good = true;
                            GOOD
                        }
                        Role::Bad => BAD,
                    };
                    for s in fetch(q, query, *selector, span_start, span_end, self.lookback_ms)? {
                        tally.counter(memory, s, slot, span_start, span_end);
                    }
                }
                Source::Buckets { selector, threshold } => {
                    has_good = true;
                    let mut bounds = Vec::new();
                    let mut found_threshold = false;
                    for s in fetch(q, selector, true, span_start, span_end, self.lookback_ms)? {
                        let le = s.labels.iter().find(|(n, _)| n == "le").map(|(_, v)| v.as_str());
                        let Some(bound) = le.and_then(|v| v.parse::<f64>().ok()) else {
                            continue;
                        };
                        if bound == f64::INFINITY {
                            tally.counter(memory, s, TOTAL, span_start, span_end);
                        } else if bound == *threshold {
                            found_threshold = true;
                            tally.counter(memory, s, GOOD, span_start, span_end);
                        } else {
                            bounds.push(bound);
                        }
                    }
                    if !found_threshold && !bounds.is_empty() {
                        bounds.sort_by(f64::total_cmp);
                        bounds.dedup();
                        let list: Vec<String> = bounds.iter().map(|b| b.to_string()).collect();
                        self.notes.push(format!(
                            "no bucket has le={threshold}: the threshold must be a bucket bound; bounds present: {}",
                            list.join(", ")
                        ));
                    }
                }
                Source::Samples { selector } => {
                    for s in fetch(q, selector, true, span_start, span_end, self.lookback_ms)? {
                        let group = tally.group_of(&s.labels);
                        let from = memory.get(&s.labels).map_or(span_start, |m| m.0);
                        let mut last = None;
                        for &(t, v) in s
                            .points
                            .iter()
                            .filter(|(t, v)| *t > from && *t <= span_end && is_value(*v))
                        {
                            tally.add(&group, t, TOTAL, 1.0);
                            if v != 1.0 {
                                tally.add(&group, t, BAD, 1.0);
                            }
                            last = Some((t, v));
                        }
                        if let Some(l) = last {
                            memory.insert(s.labels, l);
                        }
                    }
                }
                Source::Ratio { query } => {
                    for s in q.range(query, first_minute * MINUTE_MS, span_end, MINUTE_MS)? {
                        let group = tally.group_of(&s.labels);
                        for &(t, r) in s.points.iter().filter(|(_, r)| is_value(*r)) {
                            tally.add(&group, t, TOTAL, 1.0);
                            tally.add(&group, t, BAD, r.clamp(0.0, 1.0));
                        }
                    }
                }
            }
        }
        let groups = tally
            .raw
            .into_iter()
            .map(|(group, rows)| {
                let counts = rows
                    .into_iter()
                    .map(|[total, good, bad]| if has_good { (total, total - good) } else { (total, bad) })
                    .collect();
                (group, counts)
            })
            .collect();
        self.forget_silent(span_end);
        Ok(SpanEvents { first_minute, groups })
    }

    /// Drops memories of series silent for longer than the lookback: if
    /// they come back, their baseline is found again.
    fn forget_silent(&mut self, now: i64) {
        let horizon = now - 2 * self.lookback_ms;
        for m in &mut self.memory {
            m.retain(|_, (t, _)| *t >= horizon);
        }
    }
}

/// Reads a source: raw samples of a plain selector (reaching back
/// `lookback_ms` before `start` for baselines), else the expression every
/// [`EXPRESSION_STEP_MS`].
fn fetch(
    q: &dyn MetricsQuery,
    query: &str,
    selector: bool,
    start: i64,
    end: i64,
    lookback_ms: i64,
) -> Result<Vec<Series>, String> {
    if selector {
        let range = end - start + lookback_ms;
        match q.instant(&format!("{query}[{range}ms]"), end)? {
            Value::Matrix(m) => Ok(m),
            other => Err(format!("{query}: expected a range vector, got {}", other.type_name())),
        }
    } else {
        let from = start - start.rem_euclid(EXPRESSION_STEP_MS);
        q.range(query, from, end, EXPRESSION_STEP_MS)
    }
}

/// Slots of a tally row: events as the SLI's series give them.
const TOTAL: usize = 0;
const GOOD: usize = 1;
const BAD: usize = 2;

/// Per group and minute of a span, total, good and bad as counted.
struct Tally<'a> {
    group_by: &'a [String],
    first_minute: i64,
    last_minute: i64,
    minutes: usize,
    raw: HashMap<GroupLabels, Vec<[f64; 3]>>,
}

impl Tally<'_> {
    fn group_of(&self, labels: &Labels) -> GroupLabels {
        self.group_by
            .iter()
            .filter_map(|name| {
                labels
                    .iter()
                    .find(|(n, _)| n == name)
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(n, v)| (n.clone(), v.clone()))
            })
            .collect()
    }

    fn add(&mut self, group: &GroupLabels, t: i64, slot: usize, amount: f64) {
        let minute = minute_of(t).clamp(self.first_minute, self.last_minute);
        let idx = (minute - self.first_minute) as usize;
        if !self.raw.contains_key(group) {
            self.raw.insert(group.clone(), vec![[0.0; 3]; self.minutes]);
        }
        if let Some(row) = self.raw.get_mut(group) {
            row[idx][slot] += amount;
        }
    }

    /// Counts one counter series' increases into `slot`, continuing from
    /// and updating its memory.
    fn counter(&mut self, memory: &mut HashMap<Labels, (i64, f64)>, s: Series, slot: usize, start: i64, end: i64) {
        let group = self.group_of(&s.labels);
        let previous = memory.get(&s.labels).copied();
        let last = counter_increases(&s.points, previous, start, end, |t, d| self.add(&group, t, slot, d));
        if let Some(l) = last {
            memory.insert(s.labels, l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn increases(points: &[(i64, f64)], memory: Option<(i64, f64)>, start: i64, end: i64) -> (f64, Option<(i64, f64)>) {
        let mut sum = 0.0;
        let last = counter_increases(points, memory, start, end, |_, d| sum += d);
        (sum, last)
    }

    #[test]
    fn minutes_hold_their_end() {
        assert_eq!(minute_of(60_000), 1);
        assert_eq!(minute_of(60_001), 2);
        assert_eq!(minute_of(1), 1);
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(-1), 0);
    }

    #[test]
    fn a_reset_counts_from_zero() {
        let p = [(0, 10.0), (15, 15.0), (30, 2.0), (45, 7.0)];
        assert_eq!(increases(&p, None, 0, 60).0, 5.0 + 2.0 + 5.0);
    }

    #[test]
    fn staleness_markers_are_not_samples() {
        let stale = f64::from_bits(0x7ff0_0000_0000_0002);
        let p = [(0, 10.0), (15, stale), (30, 12.0)];
        assert_eq!(increases(&p, None, 0, 60).0, 2.0);
    }

    #[test]
    fn a_late_sample_behind_the_memory_is_not_counted_twice() {
        let (first, mem) = increases(&[(0, 1.0), (50, 5.0)], None, 0, 60);
        assert_eq!(first, 4.0);
        // 40 arrives late; the memory is at 50, so only 50 → 90 counts.
        let (second, _) = increases(&[(40, 4.0), (50, 5.0), (90, 9.0)], mem, 60, 120);
        assert_eq!(second, 4.0);
    }

    fn counter() -> impl Strategy<Value = Vec<(i64, f64)>> {
        proptest::collection::vec((1i64..30_000, 0u32..50, prop::bool::weighted(0.1)), 1..200).prop_map(|steps| {
            let mut t = 0;
            let mut v = 0.0;
            steps
                .into_iter()
                .map(|(dt, inc, reset)| {
                    t += dt;
                    v = if reset { f64::from(inc) } else { v + f64::from(inc) };
                    (t, v)
                })
                .collect()
        })
    }

    proptest! {
        /// However the time line is cut into spans, and wherever memory
        /// is lost (a restart) while the baseline is still within reach,
        /// the increases add up to the counter's whole increase.
        #[test]
        fn spans_add_up_to_the_whole(points in counter(), cuts in proptest::collection::vec(1i64..120_000, 1..20), restarts in proptest::collection::vec(any::<bool>(), 20)) {
            let whole: f64 = points.windows(2).map(|w| if w[1].1 >= w[0].1 { w[1].1 - w[0].1 } else { w[1].1 }).sum();
            let end = points.last().map_or(0, |p| p.0);
            let mut sum = 0.0;
            let mut memory = None;
            let mut start = -1;
            let mut i = 0;
            while start < end {
                let stop = (start + cuts[i % cuts.len()]).min(end);
                // A restart forgets the memory; the baseline is then the
                // last sample at or before the span start, which exists
                // in the data handed over (all of it here).
                if restarts[i % restarts.len()] && start >= points[0].0 {
                    memory = None;
                }
                let (s, m) = increases(&points, memory, start, stop);
                sum += s;
                memory = m;
                start = stop;
                i += 1;
            }
            prop_assert!((sum - whole).abs() < 1e-6, "{sum} vs {whole}");
        }
    }
}
