//! Rule unit tests in promtool's `test rules` format: input series in
//! the expanding notation, every rule group evaluated each
//! `evaluation_interval` from time 0, the firing alerts of a rule compared
//! at an `eval_time`, and PromQL expressions compared after the run.
//!
//! The semantics follow promtool so one test file gives one verdict in
//! both: groups are evaluated at every step whatever their own interval,
//! an alert check at `eval_time` sees the evaluation at the last step not
//! after it, only firing alerts count, and `alertname` is implied in
//! `exp_labels`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nines_promql::promqltest::{almost_equal, expand_points, parse_series, MAX_POINTS};
use nines_promql::seam::{EmbeddedQuery, MetricsQuery};
use nines_promql::value::{Labels, Value};
use nines_promql::Engine;
use serde::Deserialize;

use crate::alert::{AlertState, External};
use crate::group::{GroupEvaluator, RuleRuntimeKind};
use crate::mem::MemSeries;
use crate::rulefile::RuleGroup;

/// A test file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestFile {
    /// Rule files (patterns allowed), relative to the test file.
    #[serde(default)]
    pub rule_files: Vec<String>,
    /// Step of rule evaluation (`1m` by default).
    #[serde(default)]
    pub evaluation_interval: Option<String>,
    /// Groups evaluated first, in this order, at each step.
    #[serde(default)]
    pub group_eval_order: Vec<String>,
    /// Compare `exp_samples` values within a relative 1e-6.
    #[serde(default)]
    pub fuzzy_compare: bool,
    /// The test groups.
    #[serde(default)]
    pub tests: Vec<TestGroup>,
}

/// Series and the tests run on them.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestGroup {
    /// Step between input values (the evaluation interval by default).
    #[serde(default)]
    pub interval: Option<String>,
    /// The data.
    #[serde(default)]
    pub input_series: Vec<InputSeries>,
    /// Alert checks.
    #[serde(default)]
    pub alert_rule_test: Vec<AlertTest>,
    /// Expression checks.
    #[serde(default)]
    pub promql_expr_test: Vec<ExprTest>,
    /// `$externalLabels` in templates.
    #[serde(default)]
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` in templates.
    #[serde(default)]
    pub external_url: Option<String>,
    /// Named in failures.
    #[serde(default)]
    pub name: Option<String>,
}

/// One input series.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSeries {
    /// `metric{label="value"}`.
    pub series: String,
    /// Values in the expanding notation (`1+2x3 _ stale`).
    pub values: String,
}

/// The firing alerts of one alert name at one time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertTest {
    /// When, from time 0.
    pub eval_time: String,
    /// Which alerts.
    #[serde(default)]
    pub alertname: String,
    /// What should be firing (nothing: none).
    #[serde(default)]
    pub exp_alerts: Vec<ExpectedAlert>,
}

/// One expected alert.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedAlert {
    /// Its labels, `alertname` implied.
    #[serde(default)]
    pub exp_labels: BTreeMap<String, String>,
    /// All its annotations.
    #[serde(default)]
    pub exp_annotations: BTreeMap<String, String>,
}

/// An expression's result at one time.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExprTest {
    /// PromQL.
    pub expr: String,
    /// When, from time 0.
    pub eval_time: String,
    /// The samples expected (nothing: an empty result).
    #[serde(default)]
    pub exp_samples: Vec<ExpectedSample>,
}

/// One expected sample.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedSample {
    /// `metric{label="value"}` or `{...}`.
    #[serde(default)]
    pub labels: String,
    /// The value.
    pub value: f64,
}

fn duration(what: &str, text: &str) -> Result<i64, String> {
    match nines_promql::parse_duration_ms(text) {
        Some(ms) if ms >= 0 => Ok(ms),
        _ => Err(format!("{what}: {text:?} is not a duration like 30s, 5m or 1h")),
    }
}

/// The evaluation step of a file, ms.
pub fn evaluation_interval_ms(file: &TestFile) -> Result<i64, String> {
    match &file.evaluation_interval {
        None => Ok(60_000),
        Some(t) => match duration("evaluation_interval", t)? {
            0 => Err("evaluation_interval must be longer than 0s".into()),
            ms => Ok(ms),
        },
    }
}

/// A series and its points.
pub type SeriesPoints = (Labels, Vec<(i64, f64)>);

/// The input series of a test group as points, values `interval_ms`
/// apart from time 0.
pub fn input_points(tg: &TestGroup, interval_ms: i64) -> Result<Vec<SeriesPoints>, String> {
    let mut out = Vec::with_capacity(tg.input_series.len());
    for (i, s) in tg.input_series.iter().enumerate() {
        let at = format!("input_series[{i}]");
        let labels = parse_series(&s.series).ok_or_else(|| {
            format!(
                "{at}.series: {:?} is not a series like metric{{label=\"value\"}}",
                s.series
            )
        })?;
        if s.values.contains("{{") {
            return Err(format!("{at}.values: native histograms are not supported"));
        }
        let values = expand_points(&s.values).ok_or_else(|| {
            format!(
                "{at}.values: {:?} is not in the expanding notation (numbers, a+bxn, a-bxn, _, _xn, stale; \
                 at most {MAX_POINTS} values)",
                s.values
            )
        })?;
        let points = values
            .into_iter()
            .enumerate()
            .filter_map(|(k, v)| v.map(|v| (k as i64 * interval_ms, v)))
            .collect();
        out.push((labels, points));
    }
    Ok(out)
}

/// An alert as compared: labels and annotations.
type Seen = (BTreeMap<String, String>, BTreeMap<String, String>);

fn firing(groups: &[GroupEvaluator], alertname: &str) -> Vec<Seen> {
    let mut out: Vec<Seen> = groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter_map(|r| match &r.kind {
            RuleRuntimeKind::Alert(a) if a.name == alertname => Some(a),
            _ => None,
        })
        .flat_map(|a| a.alerts.values())
        .filter(|a| a.state == AlertState::Firing)
        .map(|a| (a.labels.clone(), a.annotations.clone()))
        .collect();
    out.sort();
    out
}

fn show_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

fn show_alerts(alerts: &[Seen]) -> String {
    if alerts.is_empty() {
        return " []".into();
    }
    alerts
        .iter()
        .enumerate()
        .map(|(i, (l, a))| format!("\n            {i}: labels {} annotations {}", show_map(l), show_map(a)))
        .collect()
}

fn show_samples(samples: &[(Labels, f64)]) -> String {
    if samples.is_empty() {
        return " []".into();
    }
    let parts: Vec<String> = samples
        .iter()
        .map(|(l, v)| {
            let m: BTreeMap<String, String> = l.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            format!(" {} {v}", show_map(&m))
        })
        .collect();
    parts.join(",")
}

fn same_value(a: f64, b: f64, fuzzy: bool) -> bool {
    if fuzzy {
        almost_equal(a, b)
    } else {
        a == b || (a.is_nan() && b.is_nan())
    }
}

/// Runs one test group over `groups` (already ordered); returns every
/// failure, worded for people. Rule evaluation errors end the group.
pub fn run_group(
    tg: &TestGroup,
    groups: &[RuleGroup],
    evaluation_interval_ms: i64,
    fuzzy: bool,
) -> Result<Vec<String>, String> {
    let interval_ms = match &tg.interval {
        None => evaluation_interval_ms,
        Some(t) => match duration("interval", t)? {
            0 => return Err("interval must be longer than 0s".into()),
            ms => ms,
        },
    };
    let store = Arc::new(MemSeries::default());
    for (labels, points) in input_points(tg, interval_ms)? {
        store.add(labels, &points);
    }
    let engine = Engine {
        default_subquery_step: std::time::Duration::from_millis(evaluation_interval_ms as u64),
        ..Engine::default()
    };
    let query = EmbeddedQuery::new(engine, store.clone());
    let external = External {
        labels: tg.external_labels.clone(),
        url: tg.external_url.clone().unwrap_or_default(),
    };
    let mut evaluators: Vec<GroupEvaluator> = groups
        .iter()
        .map(|g| GroupEvaluator::new(g.clone(), external.clone()))
        .collect();

    let mut alert_tests: Vec<(i64, &AlertTest)> = Vec::new();
    for (i, t) in tg.alert_rule_test.iter().enumerate() {
        if t.alertname.is_empty() {
            return Err(format!("alert_rule_test[{i}] has no alertname"));
        }
        alert_tests.push((duration(&format!("alert_rule_test[{i}].eval_time"), &t.eval_time)?, t));
    }
    alert_tests.sort_by_key(|(at, _)| *at);
    let mut expr_tests = Vec::new();
    for (i, t) in tg.promql_expr_test.iter().enumerate() {
        expr_tests.push((duration(&format!("promql_expr_test[{i}].eval_time"), &t.eval_time)?, t));
    }
    let last = alert_tests
        .iter()
        .map(|(at, _)| *at)
        .chain(expr_tests.iter().map(|(at, _)| *at))
        .max()
        .unwrap_or(0);

    if last / evaluation_interval_ms > MAX_POINTS as i64 {
        return Err(format!(
            "the last eval_time ({}) is more than {MAX_POINTS} evaluations of {} away",
            show_ms(last),
            show_ms(evaluation_interval_ms)
        ));
    }
    let mut failures = Vec::new();
    let prefix = tg.name.as_ref().map_or(String::new(), |n| format!("    name: {n},\n"));
    let mut next_alert_test = 0;
    let mut ts = 0;
    while ts <= last {
        let mut errors = Vec::new();
        for g in evaluators.iter_mut() {
            g.evaluate(&query, store.as_ref(), ts);
            for (rule, spec) in g.rules.iter().zip(&g.group.rules) {
                if let Some(e) = &rule.health.last_error {
                    errors.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        spec.kind.name(),
                        show_ms(ts)
                    ));
                }
            }
        }
        if !errors.is_empty() {
            failures.extend(errors);
            return Ok(failures);
        }
        while let Some((at, test)) = alert_tests.get(next_alert_test) {
            if *at >= ts + evaluation_interval_ms {
                break;
            }
            next_alert_test += 1;
            let got = firing(&evaluators, &test.alertname);
            let mut expected: Vec<Seen> = test
                .exp_alerts
                .iter()
                .map(|e| {
                    let mut labels = e.exp_labels.clone();
                    labels.insert("alertname".into(), test.alertname.clone());
                    (labels, e.exp_annotations.clone())
                })
                .collect();
            expected.sort();
            if got != expected {
                failures.push(format!(
                    "{prefix}    alertname: {}, time: {},\n        exp:{}\n        got:{}",
                    test.alertname,
                    test.eval_time,
                    show_alerts(&expected),
                    show_alerts(&got)
                ));
            }
        }
        ts += evaluation_interval_ms;
    }

    for (at, test) in expr_tests {
        let mut got: Vec<(Labels, f64)> = match query.instant(&test.expr, at) {
            Ok(Value::Vector(v)) => v.into_iter().map(|s| (s.labels, s.value)).collect(),
            Ok(Value::Scalar(v)) => vec![(Labels::default(), v)],
            Ok(other) => {
                failures.push(format!(
                    "{prefix}    expr: {:?}, time: {}, err: the result is a {}, not a vector or scalar",
                    test.expr,
                    test.eval_time,
                    other.type_name()
                ));
                continue;
            }
            Err(e) => {
                failures.push(format!(
                    "{prefix}    expr: {:?}, time: {}, err: {e}",
                    test.expr, test.eval_time
                ));
                continue;
            }
        };
        let mut expected = Vec::with_capacity(test.exp_samples.len());
        for s in &test.exp_samples {
            match parse_series(&s.labels) {
                Some(l) => expected.push((l, s.value)),
                None if s.labels.trim().is_empty() => expected.push((Labels::default(), s.value)),
                None => {
                    failures.push(format!(
                        "{prefix}    expr: {:?}, time: {}, err: labels {:?} are not a series like metric{{label=\"value\"}}",
                        test.expr, test.eval_time, s.labels
                    ));
                    expected.clear();
                    break;
                }
            }
        }
        got.sort_by(|a, b| a.0.cmp(&b.0));
        expected.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == expected.len()
            && got
                .iter()
                .zip(&expected)
                .all(|(g, e)| g.0 == e.0 && same_value(g.1, e.1, fuzzy));
        if !same {
            failures.push(format!(
                "{prefix}    expr: {:?}, time: {},\n        exp:{}\n        got:{}",
                test.expr,
                test.eval_time,
                show_samples(&expected),
                show_samples(&got)
            ));
        }
    }
    Ok(failures)
}

fn show_ms(ms: i64) -> String {
    nines_promql::format_duration_ms(ms)
}

/// Orders groups as `group_eval_order` says: the named ones first, in
/// that order, the rest after in file order. Names not among the groups
/// are an error, as in promtool.
pub fn order_groups(groups: Vec<RuleGroup>, order: &[String]) -> Result<Vec<RuleGroup>, String> {
    let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    for name in order {
        if !groups.iter().any(|g| &g.name == name) {
            return Err(format!("group_eval_order: no rule group is named {name:?}"));
        }
    }
    let mut groups = groups;
    groups.sort_by_key(|g| position.get(g.name.as_str()).copied().unwrap_or(usize::MAX));
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Values written one by one (`_` for a gap) expand to themselves.
        #[test]
        fn written_values_expand_to_themselves(values in proptest::collection::vec(proptest::option::of(-1e12f64..1e12), 0..50)) {
            let text: Vec<String> = values
                .iter()
                .map(|v| v.map_or("_".to_string(), |v| format!("{v:?}")))
                .collect();
            let tg = TestGroup {
                input_series: vec![InputSeries { series: "m".into(), values: text.join(" ") }],
                ..TestGroup::default()
            };
            let points = input_points(&tg, 15_000).expect("valid");
            let want: Vec<(i64, f64)> = values
                .iter()
                .enumerate()
                .filter_map(|(k, v)| v.map(|v| (k as i64 * 15_000, v)))
                .collect();
            prop_assert_eq!(&points[0].1, &want);
        }

        /// `a+bxn` and `a-bxn` are n+1 values stepping by b.
        #[test]
        fn the_expanding_notation_steps(a in -1000i64..1000, b in 0i64..1000, n in 0usize..200, down in any::<bool>()) {
            let sign = if down { '-' } else { '+' };
            let tg = TestGroup {
                input_series: vec![InputSeries { series: "m{a=\"1\"}".into(), values: format!("{a}{sign}{b}x{n}") }],
                ..TestGroup::default()
            };
            let points = input_points(&tg, 60_000).expect("valid");
            prop_assert_eq!(points[0].1.len(), n + 1);
            let step = if down { -b } else { b };
            for (k, (t, v)) in points[0].1.iter().enumerate() {
                prop_assert_eq!(*t, k as i64 * 60_000);
                prop_assert_eq!(*v, (a + step * k as i64) as f64);
            }
        }
    }

    #[test]
    fn expansions_past_the_limit_are_refused() {
        let tg = TestGroup {
            input_series: vec![InputSeries {
                series: "m".into(),
                values: "0+1x1000000000".into(),
            }],
            ..TestGroup::default()
        };
        let e = input_points(&tg, 60_000).unwrap_err();
        assert!(e.contains("at most 5000000 values"), "{e}");
    }
}
