//! Evaluating one rule group: its rules in order at one timestamp, each
//! recording rule's result written before the next rule runs (so later
//! rules see it), alerting rules stepping their alerts, `ALERTS` and
//! `ALERTS_FOR_STATE` written for pending and firing alerts, and a
//! staleness marker for every series a rule wrote last time and not now.

use std::collections::{BTreeMap, HashSet};

use nines_promql::seam::MetricsQuery;
use nines_promql::value::Value;

use crate::alert::{Alert, AlertingRule, External, ResultRow, Transition};
use crate::rulefile::{RuleGroup, RuleKind};

/// A series' labels, `__name__` included, sorted by name.
pub type SeriesLabels = Vec<(String, String)>;

/// Samples a rule wrote in one evaluation.
type Written = Vec<(SeriesLabels, f64)>;

/// Where rule results go: the store, written at `ts`.
pub trait SeriesSink: Send + Sync {
    /// Appends one sample per series at `ts`.
    fn append(&self, samples: &[(SeriesLabels, f64)], ts: i64) -> Result<(), String>;
}

/// How a rule's last evaluation went, as `/api/v1/rules` reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleHealth {
    /// The error of the last evaluation, if it failed.
    pub last_error: Option<String>,
    /// When it was last evaluated, ms.
    pub last_evaluation: Option<i64>,
    /// How long that took, seconds.
    pub evaluation_seconds: f64,
}

/// A rule with what it needs between evaluations.
#[derive(Debug, Clone)]
pub struct RuleRuntime {
    /// The query.
    pub expr: String,
    /// What it does.
    pub kind: RuleRuntimeKind,
    /// Series written by the last evaluation (for staleness markers).
    written: HashSet<SeriesLabels>,
    /// The last evaluation.
    pub health: RuleHealth,
}

/// A recording rule's labels, or an alerting rule's state machine.
#[derive(Debug, Clone)]
pub enum RuleRuntimeKind {
    /// A recording rule.
    Record {
        /// The series name.
        name: String,
        /// Labels set on the result (not templated).
        labels: BTreeMap<String, String>,
    },
    /// An alerting rule.
    Alert(AlertingRule),
}

/// One evaluation's alert changes: rule index and transition.
pub type Transitions = Vec<(usize, Transition)>;

/// A group and its rules' state.
#[derive(Debug, Clone)]
pub struct GroupEvaluator {
    /// The group as configured.
    pub group: RuleGroup,
    /// Its rules, in order.
    pub rules: Vec<RuleRuntime>,
    external: External,
    /// When the group was last evaluated, ms.
    pub last_evaluation: Option<i64>,
}

impl GroupEvaluator {
    /// A group whose rules have not run yet.
    pub fn new(group: RuleGroup, external: External) -> Self {
        let rules = group
            .rules
            .iter()
            .map(|r| RuleRuntime {
                expr: r.expr.clone(),
                kind: match &r.kind {
                    RuleKind::Record { name } => RuleRuntimeKind::Record {
                        name: name.clone(),
                        labels: r.labels.iter().map(|(k, _, v)| (k.clone(), v.clone())).collect(),
                    },
                    RuleKind::Alert {
                        name,
                        for_ms,
                        keep_firing_for_ms,
                        annotations,
                    } => RuleRuntimeKind::Alert(AlertingRule {
                        name: name.clone(),
                        for_ms: *for_ms,
                        keep_firing_for_ms: *keep_firing_for_ms,
                        labels: r.labels.iter().map(|(k, t, _)| (k.clone(), t.clone())).collect(),
                        annotations: annotations.iter().map(|(k, t, _)| (k.clone(), t.clone())).collect(),
                        alerts: BTreeMap::new(),
                    }),
                },
                written: HashSet::new(),
                health: RuleHealth::default(),
            })
            .collect();
        Self {
            group,
            rules,
            external,
            last_evaluation: None,
        }
    }

    /// The group's identity, `file;name`, as Prometheus keys groups.
    pub fn key(&self) -> String {
        format!("{};{}", self.group.file, self.group.name)
    }

    /// Every alert of the group's alerting rules (resolved ones still
    /// remembered included), with its rule's name.
    pub fn alerts(&self) -> Vec<(String, Alert)> {
        self.rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleRuntimeKind::Alert(a) => Some(a),
                RuleRuntimeKind::Record { .. } => None,
            })
            .flat_map(|a| a.alerts.values().map(|alert| (a.name.clone(), alert.clone())))
            .collect()
    }

    /// Puts back alerts from an earlier run (the store after a restart,
    /// the previous config on a reload): each goes to the first alerting
    /// rule of its name; alerts of rules that no longer exist are dropped.
    pub fn restore(&mut self, alerts: impl IntoIterator<Item = (String, Alert)>) {
        for (rule, alert) in alerts {
            let target = self.rules.iter_mut().find_map(|r| match &mut r.kind {
                RuleRuntimeKind::Alert(a) if a.name == rule => Some(a),
                _ => None,
            });
            if let Some(a) = target {
                a.alerts.insert(alert.labels.clone().into_iter().collect(), alert);
            }
        }
    }

    /// The evaluation interval, ms, given the global one.
    pub fn interval_ms(&self, global_ms: i64) -> i64 {
        self.group.interval_ms.unwrap_or(global_ms).max(1)
    }

    /// The first evaluation time after `after` (multiples of the
    /// interval, so every group's timestamps are predictable).
    pub fn next_due(&self, after: i64, global_ms: i64) -> i64 {
        let interval = self.interval_ms(global_ms);
        (after.div_euclid(interval) + 1) * interval
    }

    /// Evaluates every rule at `ts`, writing results to `sink` as it goes.
    pub fn evaluate(&mut self, q: &dyn MetricsQuery, sink: &dyn SeriesSink, ts: i64) -> Transitions {
        let mut transitions = Vec::new();
        let query_at = ts - self.group.query_offset_ms;
        let limit = self.group.limit;
        for (i, rule) in self.rules.iter_mut().enumerate() {
            let started = std::time::Instant::now();
            let outcome = eval_rule(rule, q, query_at, ts, limit, &self.external).and_then(|(series, changes)| {
                let stale: Vec<(SeriesLabels, f64)> = rule
                    .written
                    .iter()
                    .filter(|l| !series.iter().any(|(s, _)| s == *l))
                    .map(|l| (l.clone(), f64::from_bits(nines_tsdb::STALE_NAN_BITS)))
                    .collect();
                sink.append(&series, ts)?;
                if !stale.is_empty() {
                    sink.append(&stale, ts)?;
                }
                rule.written = series.into_iter().map(|(l, _)| l).collect();
                Ok(changes)
            });
            rule.health.last_evaluation = Some(ts);
            rule.health.evaluation_seconds = started.elapsed().as_secs_f64();
            match outcome {
                Ok(changes) => {
                    rule.health.last_error = None;
                    transitions.extend(changes.into_iter().map(|t| (i, t)));
                }
                Err(e) => rule.health.last_error = Some(e),
            }
        }
        self.last_evaluation = Some(ts);
        transitions
    }
}

/// The rule's result as `(labels without __name__, value)`.
fn result(q: &dyn MetricsQuery, expr: &str, at: i64) -> Result<Vec<ResultRow>, String> {
    match q.instant(expr, at)? {
        Value::Vector(v) => Ok(v
            .into_iter()
            .map(|s| {
                let labels = s.labels.iter().filter(|(n, _)| n != "__name__").cloned().collect();
                (labels, s.value)
            })
            .collect()),
        Value::Scalar(v) => Ok(vec![(BTreeMap::new(), v)]),
        other => Err(format!(
            "rule result is a {}, not a vector or scalar",
            other.type_name()
        )),
    }
}

fn eval_rule(
    rule: &mut RuleRuntime,
    q: &dyn MetricsQuery,
    query_at: i64,
    ts: i64,
    limit: usize,
    external: &External,
) -> Result<(Written, Vec<Transition>), String> {
    let rows = result(q, &rule.expr, query_at)?;
    match &mut rule.kind {
        RuleRuntimeKind::Record { name, labels } => {
            if limit > 0 && rows.len() > limit {
                return Err(format!("exceeded limit of {limit} with {} series", rows.len()));
            }
            let mut out = Vec::with_capacity(rows.len());
            let mut seen = HashSet::new();
            for (mut l, v) in rows {
                l.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                l.insert("__name__".into(), name.clone());
                let series: SeriesLabels = l.into_iter().filter(|(_, v)| !v.is_empty()).collect();
                if !seen.insert(series.clone()) {
                    return Err("vector contains metrics with the same labelset after applying rule labels".into());
                }
                out.push((series, v));
            }
            Ok((out, Vec::new()))
        }
        RuleRuntimeKind::Alert(alerting) => {
            let mut trial = alerting.clone();
            let changes = trial.apply(&rows, ts, external)?;
            let active = trial.active().count();
            if limit > 0 && active > limit {
                // Prometheus drops the rule's alerts when over its limit.
                alerting.alerts.clear();
                return Err(format!("exceeded limit of {limit} with {active} alerts"));
            }
            *alerting = trial;
            let mut out = Vec::new();
            for a in alerting.active() {
                let mut alerts = a.labels.clone();
                alerts.insert("__name__".into(), "ALERTS".into());
                alerts.insert("alertstate".into(), a.state.name().into());
                out.push((alerts.into_iter().collect(), 1.0));
                let mut for_state = a.labels.clone();
                for_state.insert("__name__".into(), "ALERTS_FOR_STATE".into());
                out.push((for_state.into_iter().collect(), a.active_at as f64 / 1000.0));
            }
            Ok((out, changes))
        }
    }
}
