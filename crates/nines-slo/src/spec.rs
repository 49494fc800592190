//! SLOs as written in config (`slos:` lists), and their validation into
//! [`Slo`]: every problem is reported with the field it is about, so the
//! config loader can point at file, line and column.

use std::collections::BTreeMap;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::Expr;
use serde::{Deserialize, Serialize};

use crate::alerts::Alerting;
use crate::budget::Objective;
use crate::window::{CalendarUnit, Window};

/// One SLO as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloSpec {
    /// The service it belongs to (`checkout`).
    pub service: String,
    /// Its name within the service (`availability`).
    pub name: String,
    /// What it promises, for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The team that owns it.
    pub owner: String,
    /// Extra labels carried onto its series and alerts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// The promise as a percentage, strictly between 0 and 100 (`99.9`).
    pub objective: f64,
    /// `28d`/`30d` (rolling) or `week`/`month`/`quarter` (calendar).
    pub window: String,
    /// IANA time zone of a calendar window; `UTC` if not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// How the budget is counted; occurrences when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgeting: Option<BudgetingSpec>,
    /// What is measured.
    pub sli: SliSpec,
    /// One SLO per distinct value of these labels (per route, per tenant).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub group_by: Vec<String>,
    /// Burn-rate and budget alerts; the Workbook's tiers when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerting: Option<AlertingSpec>,
}

/// `alerting:`
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertingSpec {
    /// Fewest events in a tier's long window for it to fire (0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_events: Option<f64>,
    /// Per tier (`page_1h`, `page_6h`, `ticket_1d`, `ticket_3d`): off, or
    /// extra labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub burn_rate: BTreeMap<String, TierSpec>,
    /// Alert when less than this percentage of the budget remains (25;
    /// 0 turns it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_remaining_below: Option<f64>,
    /// Alert when the budget is spent (true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_exhausted: Option<bool>,
    /// Labels on every alert of this SLO.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `alerting.burn_rate.<tier>:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TierSpec {
    /// False turns the tier off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Extra labels on its alerts (routing: `team`, `channel`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// `budgeting:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetingSpec {
    /// `occurrences` or `timeslices`.
    pub method: String,
    /// Timeslices: the slice length (`1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice: Option<String>,
    /// Timeslices: the percentage of good events that makes a slice good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slice_threshold: Option<f64>,
}

/// `sli:` — exactly one kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SliSpec {
    /// Good (or bad) events over all events, from counters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<RatioSpec>,
    /// Requests faster than a threshold, from a classic histogram.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<LatencySpec>,
    /// The fraction of samples of a 0/1 gauge at 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boolean: Option<BooleanSpec>,
    /// Any PromQL giving the error ratio over `$window`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom: Option<CustomSpec>,
}

/// `sli.ratio:` — counters; `good` or `bad`, and `total`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatioSpec {
    /// Counter(s) of good events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub good: Option<String>,
    /// Counter(s) of bad events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bad: Option<String>,
    /// Counter(s) of all events.
    pub total: String,
}

/// `sli.latency:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    /// The `_bucket` series of a classic histogram.
    pub histogram: String,
    /// Requests at or under this many seconds are good; must be a bucket
    /// bound (`le`).
    pub threshold: f64,
}

/// `sli.boolean:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BooleanSpec {
    /// A gauge that is 1 when good and 0 when not (`probe_success`, `up`).
    pub metric: String,
}

/// `sli.custom:`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomSpec {
    /// PromQL for the error ratio (0..1) over `$window`, which nines
    /// replaces with each window it evaluates (`5m`, `1h`, ...).
    pub error_ratio: String,
}

/// A validated SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The service.
    pub service: String,
    /// The name within the service.
    pub name: String,
    /// For people.
    pub description: String,
    /// The owning team.
    pub owner: String,
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// The promise.
    pub objective: Objective,
    /// What it is judged over.
    pub window: Window,
    /// How the budget is counted.
    pub budgeting: Budgeting,
    /// What is measured.
    pub sli: Sli,
    /// Per-label SLOs.
    pub group_by: Vec<String>,
    /// How it alerts.
    pub alerting: Alerting,
}

/// How the budget is counted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budgeting {
    /// Bad events over all events.
    Occurrences,
    /// Bad slices of time over all slices.
    Timeslices {
        /// Slice length, ms.
        slice_ms: i64,
        /// Good fraction a slice needs to be good (0..=1).
        threshold: f64,
    },
}

/// What is measured, validated.
#[derive(Debug, Clone, PartialEq)]
pub enum Sli {
    /// Counters: good or bad, and total (PromQL yielding counter series).
    Ratio {
        /// Good events, if given that way.
        good: Option<String>,
        /// Bad events, if given that way.
        bad: Option<String>,
        /// All events.
        total: String,
    },
    /// A classic histogram and a threshold in seconds.
    Latency {
        /// The `_bucket` selector.
        histogram: String,
        /// Seconds.
        threshold: f64,
    },
    /// A 0/1 gauge.
    Boolean {
        /// The gauge selector.
        metric: String,
    },
    /// PromQL for the error ratio with `$window`.
    Custom {
        /// The expression.
        error_ratio: String,
    },
}

/// A problem with one field of an SLO: the path of field names below the
/// SLO (`["sli", "ratio", "total"]`) and what is wrong.
pub type FieldProblem = (Vec<&'static str>, String);

impl Slo {
    /// `service/name`, the SLO's identity.
    pub fn id(&self) -> String {
        format!("{}/{}", self.service, self.name)
    }

    /// Validates a spec; every problem found, each with its field.
    pub fn from_spec(spec: &SloSpec) -> Result<Slo, Vec<FieldProblem>> {
        let mut problems: Vec<FieldProblem> = Vec::new();
        let mut bad = |path: &[&'static str], msg: String| problems.push((path.to_vec(), msg));
        for (field, value) in [("service", &spec.service), ("name", &spec.name)] {
            if let Err(e) = check_identifier(value) {
                bad(&[field], e);
            }
        }
        if spec.owner.trim().is_empty() {
            bad(&["owner"], "an SLO needs an owning team".into());
        }
        for name in spec.labels.keys() {
            if !nines_tsdb::is_valid_label_name(name) || name.starts_with("__") {
                bad(&["labels"], format!("{name:?} is not a valid label name"));
            }
        }
        let objective = Objective::from_percent(spec.objective);
        if objective.is_none() {
            bad(
                &["objective"],
                format!(
                    "{} is not a percentage strictly between 0 and 100 (e.g. 99.9)",
                    spec.objective
                ),
            );
        }
        let window = parse_window(&spec.window, spec.time_zone.as_deref());
        if let Err((field, msg)) = &window {
            bad(&[field], msg.clone());
        }
        let budgeting = parse_budgeting(spec.budgeting.as_ref());
        if let Err((field, msg)) = &budgeting {
            bad(&["budgeting", field], msg.clone());
        }
        if let (Ok(Window::Rolling { length_ms }), Ok(Budgeting::Timeslices { slice_ms, .. })) = (&window, &budgeting) {
            if length_ms % slice_ms != 0 {
                bad(
                    &["budgeting", "slice"],
                    "the window must be a whole number of slices".into(),
                );
            }
        }
        let sli = parse_sli(&spec.sli);
        if let Err(list) = &sli {
            for (path, msg) in list {
                let mut full = vec!["sli"];
                full.extend(path);
                bad(&full, msg.clone());
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in spec.group_by.iter().enumerate() {
            if RESERVED_LABELS.contains(&l.as_str()) {
                bad(
                    &["group_by"],
                    format!("item {i}: {l:?} is set by nines on SLO series and alerts; rename it with relabeling"),
                );
            } else if !nines_tsdb::is_valid_label_name(l) || l == "__name__" {
                bad(&["group_by"], format!("item {i}: {l:?} is not a label to group by"));
            } else if !seen.insert(l) {
                bad(&["group_by"], format!("item {i}: {l:?} is listed twice"));
            }
        }
        let alerting = parse_alerting(spec.alerting.as_ref());
        if let Err((path, msg)) = &alerting {
            bad(path, msg.clone());
        }
        match (objective, window, budgeting, sli, alerting) {
            (Some(objective), Ok(window), Ok(budgeting), Ok(sli), Ok(alerting)) if problems.is_empty() => Ok(Slo {
                service: spec.service.clone(),
                name: spec.name.clone(),
                description: spec.description.clone(),
                owner: spec.owner.clone(),
                labels: spec.labels.clone(),
                objective,
                window,
                budgeting,
                sli,
                group_by: spec.group_by.clone(),
                alerting,
            }),
            _ => Err(problems),
        }
    }
}

/// Validates a list of specs, each with a description of where it was
/// written (`slos/api.yaml:12`): each on its own, and no two with the same
/// `service/name`. Problems carry the list index.
pub fn validate_all(specs: &[(SloSpec, String)]) -> Result<Vec<Slo>, Vec<(usize, FieldProblem)>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    let mut ids: BTreeMap<(&str, &str), &str> = BTreeMap::new();
    for (i, (spec, origin)) in specs.iter().enumerate() {
        match Slo::from_spec(spec) {
            Ok(slo) => out.push(slo),
            Err(list) => problems.extend(list.into_iter().map(|p| (i, p))),
        }
        if let Some(first) = ids.insert((&spec.service, &spec.name), origin) {
            problems.push((
                i,
                (
                    vec!["name"],
                    format!("{}/{} is already defined at {first}", spec.service, spec.name),
                ),
            ));
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Service and SLO names appear in URLs and label values: letters,
/// digits, `_`, `-`, `.`, starting with a letter or digit.
pub fn check_identifier(s: &str) -> Result<(), String> {
    let mut chars = s.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} must be letters, digits, '_', '-' or '.', starting with a letter or digit"
        ))
    }
}

fn parse_window(window: &str, tz: Option<&str>) -> Result<Window, (&'static str, String)> {
    if let Some(unit) = CalendarUnit::parse(window) {
        let tz = tz.unwrap_or("UTC");
        return Window::calendar(unit, tz).map_err(|e| ("time_zone", e.to_string()));
    }
    if tz.is_some() {
        return Err((
            "time_zone",
            "only calendar windows (week, month, quarter) have a time zone".into(),
        ));
    }
    match nines_promql::parse_duration_ms(window) {
        Some(ms) if ms >= 60_000 && window.chars().any(|c| c.is_ascii_alphabetic()) => {
            Ok(Window::Rolling { length_ms: ms })
        }
        Some(_) => Err(("window", format!("{window:?} is shorter than a minute or has no unit"))),
        None => Err((
            "window",
            format!("{window:?} is neither a duration (28d, 30d) nor week, month or quarter"),
        )),
    }
}

fn parse_budgeting(spec: Option<&BudgetingSpec>) -> Result<Budgeting, (&'static str, String)> {
    let Some(spec) = spec else {
        return Ok(Budgeting::Occurrences);
    };
    match spec.method.as_str() {
        "occurrences" => {
            if spec.slice.is_some() || spec.slice_threshold.is_some() {
                return Err(("method", "slice and slice_threshold only go with timeslices".into()));
            }
            Ok(Budgeting::Occurrences)
        }
        "timeslices" => {
            let slice = spec
                .slice
                .as_deref()
                .ok_or(("slice", "timeslices need a slice length (e.g. 1m)".to_string()))?;
            let slice_ms = nines_promql::parse_duration_ms(slice)
                .filter(|&ms| ms >= 1000 && slice.chars().any(|c| c.is_ascii_alphabetic()))
                .ok_or(("slice", format!("{slice:?} is not a duration of at least 1s")))?;
            let threshold = spec.slice_threshold.ok_or((
                "slice_threshold",
                "timeslices need the percentage of good events that makes a slice good".to_string(),
            ))?;
            if !(threshold > 0.0 && threshold <= 100.0) {
                return Err((
                    "slice_threshold",
                    format!("{threshold} is not a percentage in (0, 100]"),
                ));
            }
            Ok(Budgeting::Timeslices {
                slice_ms,
                threshold: threshold / 100.0,
            })
        }
        other => Err((
            "method",
            format!("{other:?} is not a budgeting method (occurrences or timeslices)"),
        )),
    }
}

/// Labels nines sets on SLO series and alerts, so no group may use them.
pub const RESERVED_LABELS: [&str; 7] = ["service", "slo", "window", "alertname", "severity", "owner", "le"];

fn parse_alerting(spec: Option<&AlertingSpec>) -> Result<Alerting, FieldProblem> {
    let mut out = Alerting::default();
    let Some(spec) = spec else {
        return Ok(out);
    };
    if let Some(n) = spec.min_events {
        if !(n.is_finite() && n >= 0.0) {
            return Err((vec!["alerting", "min_events"], format!("{n} is not a count of events")));
        }
        out.min_events = n;
    }
    for (name, tier) in &spec.burn_rate {
        let Some(rule) = out.tiers.iter_mut().find(|r| r.name == name) else {
            let known: Vec<&str> = out.tiers.iter().map(|r| r.name).collect();
            return Err((
                vec!["alerting", "burn_rate"],
                format!("{name:?} is not a tier; the tiers are {}", known.join(", ")),
            ));
        };
        rule.enabled = tier.enabled;
        rule.labels = tier.labels.clone();
    }
    if let Some(p) = spec.budget_remaining_below {
        if !(0.0..100.0).contains(&p) {
            return Err((
                vec!["alerting", "budget_remaining_below"],
                format!("{p} is not a percentage from 0 (off) to below 100"),
            ));
        }
        out.budget_remaining_below = (p > 0.0).then_some(p / 100.0);
    }
    if let Some(b) = spec.budget_exhausted {
        out.budget_exhausted = b;
    }
    let all_labels = spec
        .labels
        .keys()
        .chain(spec.burn_rate.values().flat_map(|t| t.labels.keys()));
    for name in all_labels {
        if !nines_tsdb::is_valid_label_name(name) || name.starts_with("__") || RESERVED_LABELS.contains(&name.as_str())
        {
            return Err((
                vec!["alerting", "labels"],
                format!("{name:?} cannot be an alert label (invalid or set by nines)"),
            ));
        }
    }
    out.labels = spec.labels.clone();
    Ok(out)
}

type SliProblems = Vec<(Vec<&'static str>, String)>;

fn parse_sli(spec: &SliSpec) -> Result<Sli, SliProblems> {
    let kinds = [
        spec.ratio.is_some(),
        spec.latency.is_some(),
        spec.boolean.is_some(),
        spec.custom.is_some(),
    ];
    if kinds.iter().filter(|&&k| k).count() != 1 {
        return Err(vec![(
            vec![],
            "give exactly one of ratio, latency, boolean, custom".into(),
        )]);
    }
    let mut problems: SliProblems = Vec::new();
    let query = |problems: &mut SliProblems, path: Vec<&'static str>, q: &str| {
        if let Err(e) = check_vector_query(q) {
            problems.push((path, e));
        }
    };
    let sli = if let Some(r) = &spec.ratio {
        match (&r.good, &r.bad) {
            (Some(_), Some(_)) | (None, None) => {
                problems.push((vec!["ratio"], "give good or bad (not both) with total".into()));
            }
            _ => {}
        }
        for (field, q) in [("good", &r.good), ("bad", &r.bad)] {
            if let Some(q) = q {
                query(&mut problems, vec!["ratio", field], q);
            }
        }
        query(&mut problems, vec!["ratio", "total"], &r.total);
        Sli::Ratio {
            good: r.good.clone(),
            bad: r.bad.clone(),
            total: r.total.clone(),
        }
    } else if let Some(l) = &spec.latency {
        match selector_name(&l.histogram) {
            Ok(Some(name)) if name.ends_with("_bucket") => {}
            Ok(_) => problems.push((
                vec!["latency", "histogram"],
                "must select the _bucket series of a classic histogram by name".into(),
            )),
            Err(e) => problems.push((vec!["latency", "histogram"], e)),
        }
        if !(l.threshold.is_finite() && l.threshold > 0.0) {
            problems.push((
                vec!["latency", "threshold"],
                format!("{} is not a positive number of seconds", l.threshold),
            ));
        }
        Sli::Latency {
            histogram: l.histogram.clone(),
            threshold: l.threshold,
        }
    } else if let Some(b) = &spec.boolean {
        if let Err(e) = selector_name(&b.metric) {
            problems.push((vec!["boolean", "metric"], e));
        }
        Sli::Boolean {
            metric: b.metric.clone(),
        }
    } else if let Some(c) = &spec.custom {
        if !c.error_ratio.contains("$window") {
            problems.push((
                vec!["custom", "error_ratio"],
                "must use $window for the range (e.g. rate(errors[$window]))".into(),
            ));
        } else {
            query(
                &mut problems,
                vec!["custom", "error_ratio"],
                &c.error_ratio.replace("$window", "5m"),
            );
        }
        Sli::Custom {
            error_ratio: c.error_ratio.clone(),
        }
    } else {
        return Err(vec![(vec![], "no SLI given".into())]);
    };
    if problems.is_empty() {
        Ok(sli)
    } else {
        Err(problems)
    }
}

/// PromQL that yields an instant vector.
fn check_vector_query(q: &str) -> Result<Expr, String> {
    let expr = nines_promql::parse(q).map_err(|e| format!("{q:?}: {e}"))?;
    match expr.value_type() {
        ValueType::Vector => Ok(expr),
        ValueType::Matrix => Err(format!("{q:?} gives a range vector, not an instant vector")),
        other => Err(format!("{q:?} gives a {other}, not an instant vector")),
    }
}

/// The metric name of a plain series selector (`None` if it has no name).
fn selector_name(q: &str) -> Result<Option<String>, String> {
    match check_vector_query(q)? {
        Expr::VectorSelector(vs) => Ok(vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__" && matches!(m.op, promql_parser::label::MatchOp::Equal))
                .map(|m| m.value.clone())
        })),
        _ => Err(format!(
            "{q:?} must be a plain series selector like name{{label=\"value\"}}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> SloSpec {
        serde_norway::from_str(yaml).unwrap()
    }

    const GOOD: &str = r#"
service: checkout
name: availability
owner: payments
objective: 99.9
window: 30d
sli:
  ratio:
    bad: http_requests_total{service="checkout", code=~"5.."}
    total: http_requests_total{service="checkout"}
"#;

    #[test]
    fn alerting_settings_are_applied_and_mistakes_named() {
        let ok = format!(
            "{GOOD}alerting:\n  min_events: 100\n  burn_rate:\n    ticket_3d: {{enabled: false}}\n    page_1h: {{labels: {{channel: oncall}}}}\n  budget_remaining_below: 0\n"
        );
        let a = Slo::from_spec(&spec(&ok)).unwrap().alerting;
        assert_eq!(a.min_events, 100.0);
        assert_eq!(a.budget_remaining_below, None, "0 turns it off");
        assert!(!a.tiers.iter().find(|t| t.name == "ticket_3d").unwrap().enabled);
        assert_eq!(
            a.tiers.iter().find(|t| t.name == "page_1h").unwrap().labels["channel"],
            "oncall"
        );
        let problems = |extra: &str| Slo::from_spec(&spec(&format!("{GOOD}{extra}"))).unwrap_err();
        let p = problems("alerting:\n  burn_rate:\n    page_2h: {enabled: false}\n");
        assert_eq!(p[0].0, vec!["alerting", "burn_rate"]);
        assert!(p[0].1.contains("page_1h, page_6h, ticket_1d, ticket_3d"), "{p:?}");
        let p = problems("alerting:\n  budget_remaining_below: 100\n");
        assert_eq!(p[0].0, vec!["alerting", "budget_remaining_below"]);
        let p = problems("alerting:\n  labels: {severity: high}\n");
        assert!(p[0].1.contains("set by nines"), "{p:?}");
        let p = problems("group_by: [service]\n");
        assert!(p[0].1.contains("set by nines"), "{p:?}");
    }

    #[test]
    fn a_ratio_slo_validates() {
        let slo = Slo::from_spec(&spec(GOOD)).unwrap();
        assert_eq!(slo.id(), "checkout/availability");
        assert_eq!(
            slo.window,
            Window::Rolling {
                length_ms: 30 * 86_400_000
            }
        );
        assert_eq!(slo.budgeting, Budgeting::Occurrences);
        assert!((slo.objective.budget() - 0.001).abs() < 1e-12);
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let s = spec(
            r#"
service: "check out"
name: x
owner: ""
objective: 100
window: month
time_zone: Mars/Base
budgeting: {method: timeslices, slice: 1m}
group_by: [route, route, __name__]
sli:
  latency: {histogram: 'rate(x[5m])', threshold: -1}
"#,
        );
        let problems = Slo::from_spec(&s).unwrap_err();
        let fields: Vec<String> = problems.iter().map(|(p, _)| p.join(".")).collect();
        for want in [
            "service",
            "owner",
            "objective",
            "time_zone",
            "budgeting.slice_threshold",
            "group_by",
            "sli.latency.histogram",
            "sli.latency.threshold",
        ] {
            assert!(fields.iter().any(|f| f == want), "{want} missing from {problems:#?}");
        }
    }

    #[test]
    fn calendar_windows_timeslices_and_the_other_kinds() {
        let s = spec(
            r#"
service: api
name: latency
owner: core
objective: 99
window: month
time_zone: Europe/Berlin
budgeting: {method: timeslices, slice: 5m, slice_threshold: 95}
sli:
  latency: {histogram: 'request_duration_seconds_bucket{job="api"}', threshold: 0.3}
"#,
        );
        let slo = Slo::from_spec(&s).unwrap();
        assert_eq!(
            slo.budgeting,
            Budgeting::Timeslices {
                slice_ms: 300_000,
                threshold: 0.95
            }
        );
        assert!(matches!(
            slo.window,
            Window::Calendar {
                unit: CalendarUnit::Month,
                ..
            }
        ));
        for sli in [
            "boolean: {metric: 'probe_success{job=\"blackbox\"}'}",
            "custom: {error_ratio: 'sum(rate(errors_total[$window])) / sum(rate(requests_total[$window]))'}",
        ] {
            let yaml = format!("service: a\nname: b\nowner: c\nobjective: 99\nwindow: 28d\nsli:\n  {sli}\n");
            Slo::from_spec(&spec(&yaml)).unwrap();
        }
    }

    #[test]
    fn sli_mistakes_are_explained() {
        let cases = [
            ("ratio: {good: 'a', bad: 'b', total: 'c'}", "not both"),
            ("ratio: {good: 'rate(a[5m]', total: 'c'}", "unclosed left parenthesis"),
            ("ratio: {good: 'a[5m]', total: 'c'}", "range vector"),
            ("custom: {error_ratio: 'sum(rate(e[5m]))'}", "$window"),
            ("boolean: {metric: 'sum(up)'}", "plain series selector"),
            (
                "latency: {histogram: 'request_duration_seconds', threshold: 1}",
                "_bucket",
            ),
        ];
        for (sli, want) in cases {
            let yaml = format!("service: a\nname: b\nowner: c\nobjective: 99\nwindow: 28d\nsli:\n  {sli}\n");
            let problems = Slo::from_spec(&spec(&yaml)).unwrap_err();
            let text = format!("{problems:?}");
            assert!(text.contains(want), "{sli}: {text}");
        }
        let none = "service: a\nname: b\nowner: c\nobjective: 99\nwindow: 28d\nsli: {}\n";
        let text = format!("{:?}", Slo::from_spec(&spec(none)).unwrap_err());
        assert!(text.contains("exactly one"), "{text}");
    }

    #[test]
    fn windows_and_time_zones() {
        let with = |window: &str, tz: Option<&str>| parse_window(window, tz);
        assert!(with("30s", None).is_err());
        assert!(with("30", None).is_err());
        assert!(with("fortnight", None).unwrap_err().1.contains("neither"));
        assert!(with("30d", Some("UTC")).unwrap_err().1.contains("only calendar"));
        assert!(with("quarter", None).is_ok());
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let a = spec(GOOD);
        let problems = validate_all(&[(a.clone(), "a.yaml:2".into()), (a, "b.yaml:5".into())]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].0, 1);
        assert!(problems[0].1 .1.contains("already defined at a.yaml:2"));
    }
}
