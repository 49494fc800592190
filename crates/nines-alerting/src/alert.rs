//! The alert state machine of one alerting rule, as Prometheus runs it:
//! a sample of the rule's result makes an alert pending; pending for the
//! rule's `for` it fires; when the condition clears it resolves (after
//! `keep_firing_for`, if set), and a resolved alert is remembered for 15
//! minutes so receivers hear that it resolved.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::template::{Data, Template};

/// How long a resolved alert is kept (and reported as resolved).
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

/// Where an alert is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertState {
    /// The condition holds, not yet for long enough.
    Pending,
    /// Firing.
    Firing,
    /// Resolved (kept a while to tell receivers).
    Inactive,
}

impl AlertState {
    /// As `alertstate` and the APIs write it.
    pub fn name(self) -> &'static str {
        match self {
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
            AlertState::Inactive => "inactive",
        }
    }
}

/// One alert of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Its identity: the sample's labels, the rule's labels, `alertname`.
    pub labels: BTreeMap<String, String>,
    /// Expanded annotations.
    pub annotations: BTreeMap<String, String>,
    /// Where it is.
    pub state: AlertState,
    /// The last value of the rule's result for it.
    pub value: f64,
    /// When it became pending, ms.
    pub active_at: i64,
    /// When it started firing, ms.
    pub fired_at: Option<i64>,
    /// When it resolved, ms.
    pub resolved_at: Option<i64>,
    /// Since when its condition has been clear while it keeps firing, ms.
    pub keep_firing_since: Option<i64>,
}

/// A change of an alert's state in one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    /// The alert's labels.
    pub labels: BTreeMap<String, String>,
    /// Before (None: new).
    pub from: Option<AlertState>,
    /// After (None: forgotten).
    pub to: Option<AlertState>,
}

/// An alerting rule's templates and timings, with its alerts.
#[derive(Debug, Clone)]
pub struct AlertingRule {
    /// `alertname`.
    pub name: String,
    /// Pending time before firing, ms.
    pub for_ms: i64,
    /// Firing time kept after the condition clears, ms.
    pub keep_firing_for_ms: i64,
    /// Label name, template.
    pub labels: Vec<(String, Template)>,
    /// Annotation name, template.
    pub annotations: Vec<(String, Template)>,
    /// Its alerts, by labels.
    pub alerts: BTreeMap<Vec<(String, String)>, Alert>,
}

/// Labels as a sorted map.
pub type LabelMap = BTreeMap<String, String>;

/// One sample of a rule's result: labels without `__name__`, and value.
pub type ResultRow = (LabelMap, f64);

/// An alert as one evaluation sees it: labels, annotations, value.
type Seen = (LabelMap, LabelMap, f64);

/// What a rule's templates can see besides the sample.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct External {
    /// `$externalLabels`.
    pub labels: BTreeMap<String, String>,
    /// `$externalURL`.
    pub url: String,
}

fn render(name: &str, t: &Template, data: &Data) -> String {
    t.render(data)
        .unwrap_or_else(|e| format!("<error expanding template: {name}: {e}>"))
}

impl AlertingRule {
    /// Applies one evaluation's result (`(sample labels without
    /// __name__, value)`) at `ts`; returns the transitions, or an error
    /// (the rule's alerts unchanged) when two samples end up with the same
    /// labels.
    pub fn apply(&mut self, result: &[ResultRow], ts: i64, external: &External) -> Result<Vec<Transition>, String> {
        let mut seen: BTreeMap<Vec<(String, String)>, Seen> = BTreeMap::new();
        for (sample_labels, value) in result {
            let data = Data {
                labels: sample_labels.clone(),
                value: *value,
                external_labels: external.labels.clone(),
                external_url: external.url.clone(),
            };
            let mut labels = sample_labels.clone();
            for (name, t) in &self.labels {
                let v = render(name, t, &data);
                if v.is_empty() {
                    labels.remove(name);
                } else {
                    labels.insert(name.clone(), v);
                }
            }
            labels.insert("alertname".into(), self.name.clone());
            let annotations = self
                .annotations
                .iter()
                .map(|(n, t)| (n.clone(), render(n, t, &data)))
                .collect();
            let key: Vec<(String, String)> = labels.clone().into_iter().collect();
            if seen.insert(key, (labels, annotations, *value)).is_some() {
                return Err("vector contains metrics with the same labelset after applying alert labels".into());
            }
        }
        let mut transitions = Vec::new();
        let mut note = |labels: &BTreeMap<String, String>, from: Option<AlertState>, to: Option<AlertState>| {
            if from != to {
                transitions.push(Transition {
                    labels: labels.clone(),
                    from,
                    to,
                });
            }
        };
        for (key, (labels, annotations, value)) in seen.iter() {
            match self.alerts.get_mut(key) {
                Some(a) if a.state != AlertState::Inactive => {
                    a.value = *value;
                    a.annotations = annotations.clone();
                    a.keep_firing_since = None;
                }
                previous => {
                    let from = previous.map(|a| a.state);
                    let alert = Alert {
                        labels: labels.clone(),
                        annotations: annotations.clone(),
                        state: AlertState::Pending,
                        value: *value,
                        active_at: ts,
                        fired_at: None,
                        resolved_at: None,
                        keep_firing_since: None,
                    };
                    note(labels, from, Some(AlertState::Pending));
                    self.alerts.insert(key.clone(), alert);
                }
            }
        }
        let keep_for = self.keep_firing_for_ms;
        let mut forget = Vec::new();
        for (key, a) in self.alerts.iter_mut() {
            if seen.contains_key(key) {
                continue;
            }
            if a.state == AlertState::Firing && keep_for > 0 {
                let since = *a.keep_firing_since.get_or_insert(ts);
                if ts - since < keep_for {
                    continue;
                }
            }
            let stale_resolved = a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS);
            if a.state == AlertState::Pending || stale_resolved {
                note(&a.labels, Some(a.state), None);
                forget.push(key.clone());
            } else if a.state != AlertState::Inactive {
                note(&a.labels, Some(a.state), Some(AlertState::Inactive));
                a.state = AlertState::Inactive;
                a.resolved_at = Some(ts);
            }
        }
        for key in forget {
            self.alerts.remove(&key);
        }
        for a in self.alerts.values_mut() {
            if a.state == AlertState::Pending && ts - a.active_at >= self.for_ms {
                note(&a.labels, Some(AlertState::Pending), Some(AlertState::Firing));
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
        }
        Ok(transitions)
    }

    /// Alerts that are pending or firing.
    pub fn active(&self) -> impl Iterator<Item = &Alert> {
        self.alerts.values().filter(|a| a.state != AlertState::Inactive)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn rule(for_ms: i64, keep_firing_for_ms: i64) -> AlertingRule {
        AlertingRule {
            name: "Down".into(),
            for_ms,
            keep_firing_for_ms,
            labels: vec![("severity".into(), Template::parse("page").unwrap())],
            annotations: vec![(
                "summary".into(),
                Template::parse("{{ $labels.instance }} down ({{ $value }})").unwrap(),
            )],
            alerts: BTreeMap::new(),
        }
    }

    fn sample(instance: &str, v: f64) -> (BTreeMap<String, String>, f64) {
        (BTreeMap::from([("instance".to_string(), instance.to_string())]), v)
    }

    fn states(r: &AlertingRule) -> Vec<(String, &'static str)> {
        r.alerts
            .values()
            .map(|a| (a.labels["instance"].clone(), a.state.name()))
            .collect()
    }

    #[test]
    fn pending_for_then_firing_then_resolved_then_forgotten() {
        let mut r = rule(5 * MIN, 0);
        let ext = External::default();
        let t = r.apply(&[sample("a", 0.0)], 0, &ext).unwrap();
        assert_eq!(t[0].to, Some(AlertState::Pending));
        assert_eq!(states(&r), [("a".into(), "pending")]);
        let a = r.alerts.values().next().unwrap();
        assert_eq!(a.labels["alertname"], "Down");
        assert_eq!(a.labels["severity"], "page");
        assert_eq!(a.annotations["summary"], "a down (0)");
        r.apply(&[sample("a", 0.0)], 4 * MIN, &ext).unwrap();
        assert_eq!(states(&r), [("a".into(), "pending")], "4m < for 5m");
        let t = r.apply(&[sample("a", 0.0)], 5 * MIN, &ext).unwrap();
        assert_eq!(t[0].to, Some(AlertState::Firing));
        let t = r.apply(&[], 6 * MIN, &ext).unwrap();
        assert_eq!(t[0].to, Some(AlertState::Inactive));
        assert_eq!(r.alerts.values().next().unwrap().resolved_at, Some(6 * MIN));
        r.apply(&[], 21 * MIN, &ext).unwrap();
        assert_eq!(r.alerts.len(), 1, "kept 15 minutes");
        let t = r.apply(&[], 22 * MIN, &ext).unwrap();
        assert!(r.alerts.is_empty());
        assert_eq!(t[0].to, None);
    }

    #[test]
    fn a_pending_alert_that_clears_is_dropped_and_starts_over() {
        let mut r = rule(5 * MIN, 0);
        let ext = External::default();
        r.apply(&[sample("a", 1.0)], 0, &ext).unwrap();
        r.apply(&[], MIN, &ext).unwrap();
        assert!(r.alerts.is_empty());
        r.apply(&[sample("a", 1.0)], 2 * MIN, &ext).unwrap();
        assert_eq!(r.alerts.values().next().unwrap().active_at, 2 * MIN);
    }

    #[test]
    fn keep_firing_for_holds_a_flapping_alert() {
        let mut r = rule(0, 10 * MIN);
        let ext = External::default();
        r.apply(&[sample("a", 1.0)], 0, &ext).unwrap();
        assert_eq!(states(&r), [("a".into(), "firing")], "for 0 fires at once");
        r.apply(&[], 5 * MIN, &ext).unwrap();
        assert_eq!(states(&r), [("a".into(), "firing")]);
        r.apply(&[sample("a", 1.0)], 8 * MIN, &ext).unwrap();
        r.apply(&[], 9 * MIN, &ext).unwrap();
        r.apply(&[], 18 * MIN, &ext).unwrap();
        assert_eq!(states(&r), [("a".into(), "firing")], "the clock restarted at 9m");
        r.apply(&[], 19 * MIN, &ext).unwrap();
        assert_eq!(states(&r), [("a".into(), "inactive")]);
    }

    #[test]
    fn a_resolved_alert_that_returns_is_new() {
        let mut r = rule(0, 0);
        let ext = External::default();
        r.apply(&[sample("a", 1.0)], 0, &ext).unwrap();
        r.apply(&[], MIN, &ext).unwrap();
        let t = r.apply(&[sample("a", 1.0)], 2 * MIN, &ext).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            (t[0].from, t[0].to),
            (Some(AlertState::Inactive), Some(AlertState::Pending))
        );
        assert_eq!(t[1].to, Some(AlertState::Firing));
        assert_eq!(r.alerts.values().next().unwrap().active_at, 2 * MIN);
    }

    #[test]
    fn labels_that_collide_after_templating_are_an_error() {
        let mut r = rule(0, 0);
        r.labels = vec![("instance".into(), Template::parse("same").unwrap())];
        let err = r
            .apply(&[sample("a", 1.0), sample("b", 1.0)], 0, &External::default())
            .unwrap_err();
        assert!(err.contains("same labelset"));
        assert!(r.alerts.is_empty());
    }
}
