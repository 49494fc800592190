//! `nines slo rules` against real Prometheus tooling: every kind of SLO
//! gives rules `promtool check rules` accepts, and on the same synthetic
//! outage Prometheus fires and resolves the burn-rate and budget alerts
//! when nines's own evaluator does (`promtool test rules`).

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use common::*;
use nines_clock::ManualClock;
use nines_slo::rules::prometheus_rules;
use nines_slo::Slo;
use serde_json::json;

fn promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let bin = std::env::var("PROMTOOL_BIN").unwrap_or_else(|_| "/usr/bin/promtool".into());
    assert!(Path::new(&bin).exists(), "{bin} not found: apt-get install prometheus");
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn write_rules(dir: &Path, slos: &[Slo]) -> Vec<String> {
    let generated = prometheus_rules(slos).expect("rules");
    let yaml = serde_norway::to_string(&generated.file).expect("yaml");
    std::fs::write(dir.join("rules.yaml"), yaml).unwrap();
    generated.notes
}

#[test]
fn every_kind_of_slo_gives_rules_promtool_accepts() {
    let dir = tempfile::tempdir().unwrap();
    let slos = vec![
        slo(RATIO),
        slo(r#"
service: api
name: good-by-route
owner: team-api
objective: 99.5
window: 28d
group_by: [route, method]
labels: {tier: "1"}
sli: {ratio: {good: 'sum without (instance) (http_requests_total{code!~"5.."})', total: 'sum without (instance) (http_requests_total)'}}
alerting:
  min_events: 50
  labels: {team: api}
  budget_remaining_below: 10
  burn_rate: {page_6h: {enabled: false}, ticket_1d: {labels: {channel: api-alerts}}}
"#),
        slo(r#"
service: api
name: latency
owner: team-api
objective: 99
window: quarter
time_zone: America/New_York
sli: {latency: {histogram: 'http_request_duration_seconds_bucket{job="api"}', threshold: 1}}
alerting: {budget_exhausted: false}
"#),
        slo(r#"
service: web
name: probe
owner: web
objective: 99.9
window: week
time_zone: Europe/Berlin
budgeting: {method: timeslices, slice: 1m, slice_threshold: 99}
sli: {boolean: {metric: 'probe_success{job="blackbox"}'}}
"#),
        slo(r#"
service: batch
name: freshness
owner: data
objective: 95
window: 7d
budgeting: {method: timeslices, slice: 2h, slice_threshold: 90}
sli: {custom: {error_ratio: 'avg_over_time((time() - last_success_timestamp_seconds > bool 3600)[$window:])'}}
"#),
    ];
    let notes = write_rules(dir.path(), &slos);
    let (ok, out) = promtool(dir.path(), &["check", "rules", "rules.yaml"]);
    assert!(ok, "{out}");
    // 5 groups; the first SLO has 2 + 7 + 3 + 7 recordings and 6 alerts.
    assert!(out.contains("SUCCESS"), "{out}");
    let rules = std::fs::read_to_string(dir.path().join("rules.yaml")).unwrap();
    assert_eq!(rules.matches("name: nines-slo:").count(), 5);
    assert!(notes
        .iter()
        .any(|n| n.starts_with("api/latency: the calendar quarter window")));
    // A slice longer than a burn window has no burn rate over it.
    let batch = &prometheus_rules(&slos[4..]).unwrap().file.groups[0];
    let windows: Vec<&str> = batch
        .rules
        .iter()
        .filter(|r| r.record.as_deref() == Some("nines_slo_burn_rate"))
        .map(|r| r.labels["window"].as_str())
        .collect();
    assert_eq!(windows, ["2h", "6h", "1d", "3d"]);
}

/// The alert rules nines reports, by the name they have in Prometheus.
const RULES: [(&str, &str); 6] = [
    ("page_1h", r#"alertname="SLOErrorBudgetBurn",long_window="1h""#),
    ("page_6h", r#"alertname="SLOErrorBudgetBurn",long_window="6h""#),
    ("ticket_1d", r#"alertname="SLOErrorBudgetBurn",long_window="1d""#),
    ("ticket_3d", r#"alertname="SLOErrorBudgetBurn",long_window="3d""#),
    ("budget_exhausted", r#"alertname="SLOErrorBudgetExhausted""#),
    ("budget_remaining_below", r#"alertname="SLOErrorBudgetLow""#),
];

#[test]
fn prometheus_fires_and_resolves_when_nines_does() {
    const END: i64 = 330;
    // 2% errors (20x the 0.1% budget) from minute 61 through 150: the 1h
    // page needs 1h's ratio above 1.44%, so 44 failing minutes (2% × m/60
    // > 1.44% ⇔ m > 43.2); it resolves once 5m's ratio drops below it.
    let series = request_counters(END, 100.0, |m| if (61..=150).contains(&m) { 0.02 } else { 0.0 });
    let store = Arc::new(Shared::default());
    add_from_t0(&store, &series);
    let clock = Arc::new(ManualClock::new(T0));
    let slos = vec![slo(RATIO)];
    let mut e = evaluator(store, clock.clone(), slos.clone());
    let mut firing: BTreeMap<&str, Vec<bool>> = RULES.iter().map(|(r, _)| (*r, vec![false])).collect();
    let mut burn_1h = vec![None];
    for minute in 1..=END {
        clock.set(T0 + minute * MIN);
        let ev = e.run();
        let group = &ev.statuses[0].groups[0];
        for (rule, states) in firing.iter_mut() {
            states.push(group.alerts.iter().any(|a| a == rule));
        }
        burn_1h.push(group.burn_rates.iter().find(|b| b.window == "1h").and_then(|b| b.rate));
    }

    let mut checks = Vec::new();
    let mut check = |expr: String, minute: i64, value: f64, labels: &str| {
        checks.push(json!({
            "expr": expr,
            "eval_time": format!("{minute}m"),
            "exp_samples": [{"labels": labels, "value": value}],
        }));
    };
    let mut transitions = BTreeMap::new();
    for (rule, matcher) in RULES {
        let states = &firing[rule];
        // The window's ratio is summed from 5m increases: an event weighs
        // fully once it is 5 minutes old, so Prometheus's budget alerts may
        // trail nines's by a few minutes.
        let (before, after) = if rule.starts_with("budget") { (3, 6) } else { (3, 2) };
        let mut n = 0;
        for k in 1..=END {
            if states[k as usize] == states[k as usize - 1] {
                continue;
            }
            n += 1;
            for (at, margin) in [(k - before, before), (k + after, after)] {
                let at = at.clamp(1, END);
                let lo = (at - margin).max(1);
                let hi = (at + margin).min(END);
                let steady = (lo..=hi).all(|m| states[m as usize] == states[at as usize]);
                if steady {
                    let expected = if states[at as usize] { 1.0 } else { 0.0 };
                    check(
                        format!("count(ALERTS{{alertstate=\"firing\",{matcher}}}) or vector(0)"),
                        at,
                        expected,
                        "{}",
                    );
                }
            }
        }
        transitions.insert(rule, n);
    }
    // The test means something only if the tiers went both ways.
    for rule in ["page_1h", "page_6h", "ticket_1d"] {
        assert_eq!(transitions[rule], 2, "{rule} should fire and resolve: {transitions:?}");
    }
    assert!(
        (104..=105).contains(&(firing["page_1h"].iter().position(|&f| f).unwrap_or(0))),
        "the Workbook's maths: 44 failing minutes"
    );
    for minute in [100, 130, 150, 200] {
        let want = burn_1h[minute as usize].expect("traffic");
        check(
            format!("abs(nines_slo_burn_rate{{window=\"1h\"}} / {want} - 1) < bool 0.02"),
            minute,
            1.0,
            r#"{service="api", slo="availability", window="1h"}"#,
        );
    }

    promtool_test(&slos, &series, checks);
}

#[test]
fn a_service_without_a_single_error_is_at_100_percent_not_missing() {
    // No `code="500"` series at all, as with a service that never failed.
    let [ok, _] = request_counters(60, 100.0, |_| 0.0);
    let own = r#"{service="api", slo="availability"}"#;
    let checks = vec![
        json!({"expr": "nines_slo_sli_ratio", "eval_time": "30m", "exp_samples": [{"labels": format!("nines_slo_sli_ratio{own}"), "value": 1}]}),
        json!({"expr": "nines_slo_error_budget_remaining_ratio", "eval_time": "30m", "exp_samples": [{"labels": format!("nines_slo_error_budget_remaining_ratio{own}"), "value": 1}]}),
    ];
    promtool_test(&[slo(RATIO)], &[ok], checks);
}

/// Runs `promtool test rules` on the rules of `slos`, with `series`
/// (times from 0, every 15 s) as input and `checks` as its
/// `promql_expr_test`s.
fn promtool_test(
    slos: &[Slo],
    series: &[(nines_promql::value::Labels, Vec<(i64, f64)>)],
    checks: Vec<serde_json::Value>,
) {
    let dir = tempfile::tempdir().unwrap();
    write_rules(dir.path(), slos);
    let input: Vec<_> = series
        .iter()
        .map(|(labels, points)| {
            assert!(points.iter().enumerate().all(|(i, (t, _))| *t == i as i64 * SCRAPE_MS));
            let name = labels
                .iter()
                .find(|(n, _)| n == "__name__")
                .map(|(_, v)| v.clone())
                .unwrap();
            let rest: Vec<String> = labels
                .iter()
                .filter(|(n, _)| n != "__name__")
                .map(|(n, v)| format!("{n}={v:?}"))
                .collect();
            let values: Vec<String> = points.iter().map(|(_, v)| nines_promql::format_value(*v)).collect();
            json!({"series": format!("{name}{{{}}}", rest.join(",")), "values": values.join(" ")})
        })
        .collect();
    let test = json!({
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": format!("{}s", SCRAPE_MS / 1000),
            "input_series": input,
            "promql_expr_test": checks,
        }],
    });
    std::fs::write(dir.path().join("test.yaml"), test.to_string()).unwrap();
    let (ok, out) = promtool(dir.path(), &["test", "rules", "test.yaml"]);
    assert!(ok, "{out}");
}
