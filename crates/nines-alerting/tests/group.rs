//! Rule groups over an in-memory store: recording rules feed later rules
//! in the same evaluation, alerts go pending, fire and resolve on time,
//! and `ALERTS`, `ALERTS_FOR_STATE` and staleness markers are written.

use std::sync::Arc;

use nines_alerting::alert::{AlertState, External};
use nines_alerting::group::GroupEvaluator;
use nines_alerting::mem::MemSeries;
use nines_alerting::rulefile::{validate, PagePolicy, RuleFileSpec};
use nines_promql::seam::{EmbeddedQuery, MetricsQuery};
use nines_promql::value::Labels;
use nines_promql::Engine;

const MIN: i64 = 60_000;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    let mut v: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    v.sort();
    Labels::from(v)
}

fn group(yaml: &str) -> GroupEvaluator {
    let spec: RuleFileSpec = serde_norway::from_str(yaml).unwrap();
    let mut v = validate(&spec, "rules.yaml", &PagePolicy::default()).unwrap();
    GroupEvaluator::new(v.groups.remove(0), External::default())
}

const RULES: &str = r#"
groups:
  - name: api
    interval: 1m
    rules:
      - record: job:errors:ratio
        expr: sum by (job) (errors) / sum by (job) (requests)
      - alert: HighErrors
        expr: job:errors:ratio > 0.1
        for: 3m
        labels: {severity: ticket}
        annotations:
          summary: "{{ $labels.job }} fails {{ $value | humanizePercentage }}"
"#;

#[test]
fn a_recorded_ratio_raises_an_alert_that_fires_after_for_and_resolves() {
    let store = Arc::new(MemSeries::default());
    // Gauges every minute: 20% errors from minute 2 through 7.
    for m in 0..=12 {
        let errors = if (2..=7).contains(&m) { 20.0 } else { 0.0 };
        let s = &store;
        s.add(labels(&[("__name__", "errors"), ("job", "api")]), &[(m * MIN, errors)]);
        s.add(labels(&[("__name__", "requests"), ("job", "api")]), &[(m * MIN, 100.0)]);
    }
    let q: Arc<dyn MetricsQuery> = Arc::new(EmbeddedQuery::new(Engine::default(), store.clone()));
    let mut g = group(RULES);
    let mut fired = Vec::new();
    for m in 0..=12 {
        for (_, t) in g.evaluate(&*q, &*store, m * MIN) {
            fired.push((m, t.to));
        }
        assert!(
            g.rules.iter().all(|r| r.health.last_error.is_none()),
            "{:?}",
            g.rules[1].health
        );
    }
    assert_eq!(
        fired,
        [
            (2, Some(AlertState::Pending)),
            (5, Some(AlertState::Firing)),
            (8, Some(AlertState::Inactive))
        ]
    );
    let ratio = q.instant("job:errors:ratio", 5 * MIN).unwrap();
    assert_eq!(format!("{ratio:?}").matches("0.2").count(), 1, "{ratio:?}");
    let alerts = q.instant("ALERTS", 5 * MIN).unwrap();
    let text = format!("{alerts:?}");
    assert!(
        text.contains("alertstate") && text.contains("firing") && text.contains("severity"),
        "{text}"
    );
    let pending = q.instant("ALERTS{alertstate=\"pending\"}", 3 * MIN).unwrap();
    assert!(format!("{pending:?}").contains("pending"));
    // Pending since minute 2, in seconds.
    let since = q.instant("ALERTS_FOR_STATE", 6 * MIN).unwrap();
    assert!(format!("{since:?}").contains("120"), "{since:?}");
    // Resolved at 8: ALERTS ends with a staleness marker, not 5 minutes of lookback.
    let after = q.instant("ALERTS", 9 * MIN).unwrap();
    assert!(format!("{after:?}").contains("[]"), "{after:?}");
    assert_eq!(first_alert(&g, 1).annotations["summary"], "api fails 20%");
}

fn first_alert(g: &GroupEvaluator, rule: usize) -> &nines_alerting::alert::Alert {
    match &g.rules[rule].kind {
        nines_alerting::group::RuleRuntimeKind::Alert(r) => r.alerts.values().next().expect("an alert"),
        nines_alerting::group::RuleRuntimeKind::Record { .. } => panic!("not an alert rule"),
    }
}

#[test]
fn a_failing_rule_reports_its_error_and_the_rest_still_run() {
    let store = Arc::new(MemSeries::default());
    store.add(labels(&[("__name__", "up"), ("job", "a")]), &[(0, 0.0)]);
    let q: Arc<dyn MetricsQuery> = Arc::new(EmbeddedQuery::new(Engine::default(), store.clone()));
    let mut g = group(
        r#"
groups:
  - name: g
    limit: 1
    rules:
      - record: bad
        expr: label_replace(up, "job", "x", "", "") or label_replace(up, "job", "y", "", "")
      - alert: Down
        expr: up == 0
"#,
    );
    g.evaluate(&*q, &*store, 0);
    assert!(
        g.rules[0]
            .health
            .last_error
            .as_deref()
            .is_some_and(|e| e.contains("limit of 1")),
        "{:?}",
        g.rules[0].health
    );
    assert!(g.rules[1].health.last_error.is_none());
    assert_eq!(g.next_due(0, 60_000), 60_000);
    assert_eq!(g.next_due(59_999, 15_000), 60_000);
}
