//! Prometheus rules equivalent to nines's own SLO evaluation, for teams
//! that evaluate on their own Prometheus (`nines slo rules`).
//!
//! The rules record the very series nines writes (`nines_slo_sli_ratio`,
//! `nines_slo_error_budget_remaining_ratio`, `nines_slo_burn_rate`), so a
//! dashboard built on one works on the other, and fire the same alerts
//! under the same names and labels. Where Prometheus cannot do what nines
//! does, the rules come as close as PromQL allows and a note says how:
//!
//! - The window's error ratio is traffic-weighted: the sum of the recorded
//!   5-minute bad-event increases over the sum of the recorded 5-minute
//!   event increases (both sampled at the same evaluation interval, so the
//!   overlap cancels), never an average of ratios. It covers only the time
//!   the rules have been running; nines counts from raw samples.
//! - Calendar windows become rolling windows of their nominal length.
//! - Maintenance windows are not expressible: their events count.
//! - Boolean SLIs count good samples as the sum of their values, which is
//!   exact for gauges that are only ever 0 or 1.

use std::collections::BTreeMap;

use promql_parser::parser::{Expr, MatrixSelector};
use serde::Serialize;

use crate::alerts::{TierRule, BURN_ALERT, EXHAUSTED_ALERT, LOW_ALERT};
use crate::rollup::EXPRESSION_STEP_MS;
use crate::spec::{Budgeting, Sli, Slo, RESERVED_LABELS};
use crate::status::BURN_WINDOWS;
use crate::window::{CalendarUnit, Window};

/// A Prometheus rule file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleFile {
    /// One group per SLO: its rules depend on each other in order.
    pub groups: Vec<RuleGroup>,
}

/// A rule group (evaluated in order, at the global evaluation interval).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleGroup {
    /// `nines-slo:SERVICE/SLO`.
    pub name: String,
    /// Recording rules first, then the alerts reading them.
    pub rules: Vec<Rule>,
}

/// A recording or an alerting rule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rule {
    /// The series a recording rule writes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The name of an alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<String>,
    /// PromQL.
    pub expr: String,
    /// Labels added to the result.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations (templated).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Rules and what they could not carry over.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    /// The rule file.
    pub file: RuleFile,
    /// Per SLO, where the rules differ from nines's own evaluation.
    pub notes: Vec<String>,
}

/// Recorded 5-minute event increases, the window ratio's raw material.
pub const EVENTS_5M: &str = "nines_slo:events:increase5m";
/// Recorded 5-minute bad-event increases.
pub const BAD_EVENTS_5M: &str = "nines_slo:bad_events:increase5m";
/// The error ratio over the whole SLO window.
pub const WINDOW_ERROR_RATIO: &str = "nines_slo:error_ratio:window";

/// The error ratio over `window` (`5m`, `1h`, ...), as recorded.
pub fn error_ratio_series(window: &str) -> String {
    format!("nines_slo:error_ratio:rate{window}")
}

fn events_series(window: &str) -> String {
    format!("nines_slo:events:increase{window}")
}

/// Where any SLO's rules differ from nines, whatever the SLO.
const FILE_NOTES: [&str; 4] = [
    "maintenance windows are nines's alone: in Prometheus their events count against the budget",
    "the window's ratio covers only the time the rules have been running (nines counts from raw samples)",
    "an event weighs fully in the window's ratio once it is 5 minutes old: budget alerts can trail nines's by minutes",
    "increase() extrapolates to the range's edges where nines counts exact per-minute increases; ratios cancel most of it",
];

/// The rules of every SLO, one group each.
pub fn prometheus_rules(slos: &[Slo]) -> Result<Generated, Vec<String>> {
    let mut groups = Vec::new();
    let mut notes: Vec<String> = FILE_NOTES.iter().map(|n| n.to_string()).collect();
    let mut errors = Vec::new();
    for slo in slos {
        match slo_group(slo) {
            Ok((group, slo_notes)) => {
                groups.push(group);
                notes.extend(slo_notes.into_iter().map(|n| format!("{}: {n}", slo.id())));
            }
            Err(e) => errors.push(format!("{}: {e}", slo.id())),
        }
    }
    if errors.is_empty() {
        Ok(Generated {
            file: RuleFile { groups },
            notes,
        })
    } else {
        Err(errors)
    }
}

fn slo_group(slo: &Slo) -> Result<(RuleGroup, Vec<String>), String> {
    let mut notes = Vec::new();
    let sli = SliExprs::new(slo)?;
    let own = BTreeMap::from([
        ("service".to_string(), slo.service.clone()),
        ("slo".to_string(), slo.name.clone()),
    ]);
    let sel = format!("{{service={:?},slo={:?}}}", slo.service, slo.name);
    let record = |name: String, expr: String, extra: Option<(&str, &str)>| {
        let mut labels = own.clone();
        if let Some((k, v)) = extra {
            labels.insert(k.into(), v.into());
        }
        Rule {
            record: Some(name),
            alert: None,
            expr,
            labels,
            annotations: BTreeMap::new(),
        }
    };
    let budget = number(slo.objective.budget());
    let (window_ms, window_name) = nominal_window(&slo.window);
    if let Window::Calendar { unit, .. } = &slo.window {
        notes.push(format!(
            "the calendar {} window is evaluated as a rolling {window_name}: Prometheus has no calendar ranges",
            unit.name()
        ));
    }
    if matches!(slo.sli, Sli::Boolean { .. }) {
        notes.push("good samples are summed, not counted: exact for a gauge that is only ever 0 or 1".into());
    }

    let mut rules = vec![
        record(EVENTS_5M.into(), sli.events("5m")?, None),
        record(BAD_EVENTS_5M.into(), sli.bad("5m")?, None),
    ];
    for (w, _) in BURN_WINDOWS {
        rules.push(record(error_ratio_series(w), sli.error_ratio(w)?, None));
    }
    let mut counted: Vec<String> = vec!["5m".into()];
    if slo.alerting.min_events > 0.0 {
        for rule in enabled_tiers(slo) {
            let long = crate::format_duration(rule.tier.long_ms);
            if !counted.contains(&long) {
                rules.push(record(events_series(&long), sli.events(&long)?, None));
                counted.push(long);
            }
        }
    }
    let window_ratio = match slo.budgeting {
        Budgeting::Occurrences => format!(
            "sum_over_time({BAD_EVENTS_5M}{sel}[{window_name}])\n/\nsum_over_time({EVENTS_5M}{sel}[{window_name}])"
        ),
        Budgeting::Timeslices { slice_ms, threshold } => {
            notes.push(
                "a slice is judged at each evaluation aligned to the slice length; a slice without any series is not counted".into(),
            );
            bad_slice_share(&sli, slice_ms, threshold, window_ms)?
        }
    };
    rules.push(record(WINDOW_ERROR_RATIO.into(), window_ratio, None));
    rules.push(record(
        "nines_slo_sli_ratio".into(),
        format!("1 - {WINDOW_ERROR_RATIO}{sel}"),
        None,
    ));
    rules.push(record(
        "nines_slo_error_budget_remaining_ratio".into(),
        format!("1 - {WINDOW_ERROR_RATIO}{sel} / {budget}"),
        None,
    ));
    for (w, minutes) in BURN_WINDOWS {
        let expr = match slo.budgeting {
            Budgeting::Occurrences => format!("{}{sel} / {budget}", error_ratio_series(w)),
            Budgeting::Timeslices { slice_ms, threshold } => {
                if minutes * 60_000 < slice_ms {
                    continue;
                }
                format!(
                    "{} / {budget}",
                    bad_slice_share(&sli, slice_ms, threshold, minutes * 60_000)?
                )
            }
        };
        rules.push(record("nines_slo_burn_rate".into(), expr, Some(("window", w))));
    }
    rules.extend(alert_rules(slo, &sel, window_ms, &window_name));
    let group = RuleGroup {
        name: format!("nines-slo:{}", slo.id()),
        rules,
    };
    Ok((group, notes))
}

fn enabled_tiers(slo: &Slo) -> impl Iterator<Item = &TierRule> {
    slo.alerting.tiers.iter().filter(|r| r.enabled)
}

/// The share of slices in `span_ms` whose good ratio fell short of
/// `threshold`, of all the slices the span holds (nines's count: a slice
/// without traffic is good, and the denominator is the span's slices).
fn bad_slice_share(sli: &SliExprs, slice_ms: i64, threshold: f64, span_ms: i64) -> Result<String, String> {
    let slice = crate::format_duration(slice_ms);
    let span = crate::format_duration(span_ms);
    let slices = span_ms / slice_ms;
    Ok(format!(
        "sum_over_time((1 - ({}) < bool {})[{span}:{slice}]) / {slices}",
        sli.error_ratio(&slice)?,
        number(threshold)
    ))
}

/// Rolling windows as they are; calendar ones at their nominal length.
fn nominal_window(window: &Window) -> (i64, String) {
    const DAY: i64 = 86_400_000;
    let ms = match window {
        Window::Rolling { length_ms } => *length_ms,
        Window::Calendar { unit, .. } => match unit {
            CalendarUnit::Week => 7 * DAY,
            CalendarUnit::Month => 30 * DAY,
            CalendarUnit::Quarter => 90 * DAY,
        },
    };
    (ms, crate::format_duration(ms))
}

fn alert_rules(slo: &Slo, sel: &str, window_ms: i64, window_name: &str) -> Vec<Rule> {
    let alerting = &slo.alerting;
    let budget = number(slo.objective.budget());
    let mut base: BTreeMap<String, String> = slo.labels.clone();
    base.extend(alerting.labels.clone());
    base.retain(|k, _| !RESERVED_LABELS.contains(&k.as_str()));
    base.insert("owner".into(), slo.owner.clone());
    // The series carry them already; on the rule too, they keep promtool
    // from seeing two SLOs' alerts as duplicates.
    base.insert("service".into(), slo.service.clone());
    base.insert("slo".into(), slo.name.clone());
    let id = "{{ $labels.service }}/{{ $labels.slo }}";
    let mut out = Vec::new();
    for rule in enabled_tiers(slo) {
        let tier = &rule.tier;
        let (long, short) = (
            crate::format_duration(tier.long_ms),
            crate::format_duration(tier.short_ms),
        );
        let factor = number(tier.factor(window_ms));
        let mut expr = format!(
            "{long_ratio}{sel} / {budget} > {factor}\nand\n{short_ratio}{sel} / {budget} > {factor}",
            long_ratio = error_ratio_series(&long),
            short_ratio = error_ratio_series(&short),
        );
        if alerting.min_events > 0.0 {
            expr.push_str(&format!(
                "\nand\n{}{sel} >= {}",
                events_series(&long),
                number(alerting.min_events)
            ));
        }
        let mut labels = base.clone();
        labels.extend(
            rule.labels
                .iter()
                .filter(|(k, _)| !RESERVED_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        labels.insert("severity".into(), tier.severity.name().into());
        labels.insert("long_window".into(), long.clone());
        labels.insert("short_window".into(), short.clone());
        out.push(Rule {
            record: None,
            alert: Some(BURN_ALERT.into()),
            expr,
            labels,
            annotations: BTreeMap::from([
                (
                    "summary".to_string(),
                    format!("{id} is burning its error budget {{{{ printf \"%.1f\" $value }}}}x too fast"),
                ),
                (
                    "description".to_string(),
                    format!(
                        "Over the last {long} the error budget burned at {{{{ printf \"%.2f\" $value }}}}x (the {} tier fires above {factor}x in both {long} and {short}); at this rate {:.0}% of the {window_name} budget is gone in {long}.",
                        rule.name,
                        tier.budget_share * 100.0,
                    ),
                ),
            ]),
        });
    }
    let remaining = format!("nines_slo_error_budget_remaining_ratio{sel}");
    let mut ticket = base;
    ticket.insert("severity".into(), "ticket".into());
    let budget_alert = |alert: &str, expr: String, summary: String, description: String| Rule {
        record: None,
        alert: Some(alert.into()),
        expr,
        labels: ticket.clone(),
        annotations: BTreeMap::from([
            ("summary".to_string(), summary),
            ("description".to_string(), description),
        ]),
    };
    if alerting.budget_exhausted {
        out.push(budget_alert(
            EXHAUSTED_ALERT,
            format!("{remaining} <= 0"),
            format!("{id} has spent its error budget"),
            format!("The error budget of the {window_name} window is spent ({{{{ $value | humanizePercentage }}}} remaining)."),
        ));
    }
    if let Some(below) = alerting.budget_remaining_below {
        // nines reports the worse of the two budget alerts, not both.
        let not_exhausted = if alerting.budget_exhausted { " > 0" } else { "" };
        out.push(budget_alert(
            LOW_ALERT,
            format!("{remaining} < {}{not_exhausted}", number(below)),
            format!("{id} has {{{{ $value | humanizePercentage }}}} of its error budget left"),
            format!(
                "Less than {:.0}% of the error budget of the {window_name} window remains.",
                below * 100.0
            ),
        ));
    }
    out
}

/// A number as rules write it: at most 12 significant decimals, so that
/// `1 - 0.999` is `0.001`, not `0.0010000000000000009`.
fn number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return nines_promql::format_value(x);
    }
    let digits = (11 - x.abs().log10().floor() as i32).clamp(0, 300) as usize;
    let s = format!("{x:.digits$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    s.to_string()
}

/// PromQL for one SLI's events and bad events over a window.
struct SliExprs<'a> {
    sli: &'a Sli,
    /// `sum` or `sum by (a, b)`: the SLO's instances.
    sum: String,
}

impl<'a> SliExprs<'a> {
    fn new(slo: &'a Slo) -> Result<Self, String> {
        let sum = if slo.group_by.is_empty() {
            "sum".to_string()
        } else {
            format!("sum by ({})", slo.group_by.join(", "))
        };
        // Surface a selector that will not render now, not per window.
        let probe = Self { sli: &slo.sli, sum };
        probe.bad("5m")?;
        Ok(probe)
    }

    fn events(&self, w: &str) -> Result<String, String> {
        let sum = &self.sum;
        Ok(match self.sli {
            Sli::Ratio { total, .. } => format!("{sum} (increase({}))", counter_range(total, w)?),
            Sli::Latency { histogram, .. } => {
                format!("{sum} (increase({}))", with_le(histogram, "+Inf", w)?)
            }
            Sli::Boolean { metric } => format!("{sum} (count_over_time({}))", range(metric, w)?),
            Sli::Custom { error_ratio } => format!(
                "{sum} (count_over_time(({})[{w}:1m]))",
                embed(&error_ratio.replace("$window", "1m"))
            ),
        })
    }

    fn bad(&self, w: &str) -> Result<String, String> {
        let sum = &self.sum;
        Ok(match self.sli {
            // A group that never had an error (or a success) has no such
            // series: it counts 0, as in nines, not as missing.
            Sli::Ratio { bad: Some(bad), .. } => format!(
                "({sum} (increase({})) or 0 * {})",
                counter_range(bad, w)?,
                self.events(w)?
            ),
            Sli::Ratio { good: Some(good), .. } => {
                let events = self.events(w)?;
                format!(
                    "{events} - ({sum} (increase({})) or 0 * {events})",
                    counter_range(good, w)?
                )
            }
            Sli::Ratio { .. } => return Err("a ratio SLI without good or bad".into()),
            Sli::Latency { histogram, threshold } => format!(
                "{} - {sum} (increase({}))",
                self.events(w)?,
                with_le(histogram, &le_pattern(*threshold), w)?
            ),
            Sli::Boolean { metric } => {
                format!("{} - {sum} (sum_over_time({}))", self.events(w)?, range(metric, w)?)
            }
            Sli::Custom { error_ratio } => format!(
                "{sum} (sum_over_time(clamp(({}), 0, 1)[{w}:1m]))",
                embed(&error_ratio.replace("$window", "1m"))
            ),
        })
    }

    fn error_ratio(&self, w: &str) -> Result<String, String> {
        Ok(format!("({})\n/\n({})", self.bad(w)?, self.events(w)?))
    }
}

/// A counter over `w`: a plain selector's raw samples, or an expression
/// sampled the way nines samples it.
fn counter_range(query: &str, w: &str) -> Result<String, String> {
    match range(query, w) {
        Ok(r) => Ok(r),
        Err(_) => Ok(format!(
            "({})[{w}:{}]",
            embed(query),
            crate::format_duration(EXPRESSION_STEP_MS)
        )),
    }
}

/// A user's PromQL as it goes inside a larger expression: a `#` comment
/// runs to the end of its line, so such text gets lines of its own.
fn embed(query: &str) -> String {
    let q = query.trim();
    if q.contains('#') {
        format!("\n{q}\n")
    } else {
        q.to_string()
    }
}

/// `selector[w]`, keeping the selector's `offset` and `@` where PromQL
/// wants them; an error if `query` is not a plain selector.
fn range(query: &str, w: &str) -> Result<String, String> {
    range_with(query, w, None)
}

fn range_with(query: &str, w: &str, le: Option<&str>) -> Result<String, String> {
    let Ok(Expr::VectorSelector(mut vs)) = promql_parser::parser::parse(query) else {
        return Err(format!("{query:?} is not a plain series selector"));
    };
    if let Some(pattern) = le {
        let probe = format!("{{le=~{pattern:?}}}");
        let Ok(Expr::VectorSelector(parsed)) = promql_parser::parser::parse(&probe) else {
            return Err(format!("cannot match le with {pattern:?}"));
        };
        vs.matchers.matchers.retain(|m| m.name != "le");
        vs.matchers.matchers.extend(parsed.matchers.matchers);
    }
    let range = nines_promql::parse_duration_ms(w).ok_or_else(|| format!("{w:?} is not a duration"))?;
    let range = std::time::Duration::from_millis(u64::try_from(range).map_err(|_| format!("{w:?} is negative"))?);
    Ok(MatrixSelector { vs, range }.to_string())
}

fn with_le(histogram: &str, pattern: &str, w: &str) -> Result<String, String> {
    let pattern = if pattern == "+Inf" { "\\+Inf" } else { pattern };
    range_with(histogram, w, Some(pattern))
}

/// A regex for the `le` values a bound is written as: nines compares
/// bounds as numbers, Prometheus as strings, and exporters (and
/// Prometheus 3's normalisation) write `1` as `1` or `1.0`.
fn le_pattern(bound: f64) -> String {
    let shortest = bound.to_string();
    let mut forms = vec![shortest.clone()];
    if !shortest.contains(['.', 'e']) {
        forms.push(format!("{shortest}.0"));
    }
    forms
        .iter()
        .map(|f| f.replace('.', "\\."))
        .collect::<Vec<_>>()
        .join("|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::SloSpec;

    fn slo(yaml: &str) -> Slo {
        let spec: SloSpec = serde_norway::from_str(yaml).unwrap();
        Slo::from_spec(&spec).unwrap()
    }

    #[test]
    fn numbers_are_written_the_way_people_write_them() {
        assert_eq!(number(1.0 - 0.999), "0.001");
        assert_eq!(number(0.02 * 30.0 * 24.0), "14.4");
        assert_eq!(number(13.44), "13.44");
        assert_eq!(number(0.0), "0");
        assert_eq!(number(100.0), "100");
        assert_eq!(number(0.25), "0.25");
    }

    #[test]
    fn le_matches_both_spellings_of_whole_bounds() {
        assert_eq!(le_pattern(0.3), "0\\.3");
        assert_eq!(le_pattern(1.0), "1|1\\.0");
        let r = with_le("h_bucket{job=\"a\",le=\"9\"} offset 1m", &le_pattern(0.25), "5m").unwrap();
        assert_eq!(r, "h_bucket{job=\"a\",le=~\"0\\\\.25\"}[5m] offset 1m");
    }

    #[test]
    fn expressions_are_sampled_like_nines_samples_them() {
        assert_eq!(counter_range("x_total{a=\"b\"}", "1h").unwrap(), "x_total{a=\"b\"}[1h]");
        assert_eq!(
            counter_range("sum without (pod) (x_total)", "1h").unwrap(),
            "(sum without (pod) (x_total))[1h:15s]"
        );
    }

    #[test]
    fn comments_in_expressions_do_not_swallow_what_follows() {
        let q = counter_range("sum(x_total) # all pods", "5m").unwrap();
        assert_eq!(q, "(\nsum(x_total) # all pods\n)[5m:15s]");
        assert!(promql_parser::parser::parse(&format!("increase({q})")).is_ok());
    }

    #[test]
    fn the_page_compares_burn_rates_scaled_to_the_window() {
        let s = slo(r#"
service: api
name: availability
owner: team-api
objective: 99.9
window: 28d
labels: {tier: "1"}
group_by: [route]
sli: {ratio: {bad: 'http_requests_total{code=~"5.."}', total: http_requests_total}}
alerting:
  min_events: 100
  burn_rate: {ticket_3d: {enabled: false}, page_1h: {labels: {team: sre}}}
"#);
        let g = prometheus_rules(&[s]).unwrap();
        let rules = &g.file.groups[0].rules;
        let page = rules
            .iter()
            .find(|r| r.labels.get("long_window").is_some_and(|w| w == "1h"))
            .unwrap();
        assert_eq!(
            page.expr,
            "nines_slo:error_ratio:rate1h{service=\"api\",slo=\"availability\"} / 0.001 > 13.44\nand\nnines_slo:error_ratio:rate5m{service=\"api\",slo=\"availability\"} / 0.001 > 13.44\nand\nnines_slo:events:increase1h{service=\"api\",slo=\"availability\"} >= 100"
        );
        assert_eq!(page.labels["team"], "sre");
        assert_eq!(page.labels["tier"], "1");
        assert_eq!(page.labels["severity"], "page");
        assert_eq!(page.labels["service"], "api");
        let burns = rules.iter().filter(|r| r.alert.as_deref() == Some(BURN_ALERT)).count();
        assert_eq!(burns, 3, "ticket_3d is disabled");
        let ratio = rules
            .iter()
            .find(|r| r.record.as_deref() == Some("nines_slo:error_ratio:rate1h"))
            .unwrap();
        assert_eq!(
            ratio.expr,
            "((sum by (route) (increase(http_requests_total{code=~\"5..\"}[1h])) or 0 * sum by (route) (increase(http_requests_total[1h]))))\n/\n(sum by (route) (increase(http_requests_total[1h])))"
        );
        assert!(g.notes.iter().any(|n| n.contains("maintenance")));
    }

    #[test]
    fn timeslices_count_bad_slices_of_all_the_window_holds() {
        let s = slo(r#"
service: web
name: uptime
owner: web
objective: 99.5
window: month
time_zone: Europe/Berlin
budgeting: {method: timeslices, slice: 5m, slice_threshold: 95}
sli: {boolean: {metric: 'probe_success{job="blackbox"}'}}
"#);
        let g = prometheus_rules(&[s]).unwrap();
        let rules = &g.file.groups[0].rules;
        let window = rules
            .iter()
            .find(|r| r.record.as_deref() == Some(WINDOW_ERROR_RATIO))
            .unwrap();
        assert!(window.expr.starts_with("sum_over_time((1 - ("), "{}", window.expr);
        assert!(
            window.expr.ends_with(") < bool 0.95)[30d:5m]) / 8640"),
            "{}",
            window.expr
        );
        assert!(window
            .expr
            .contains("count_over_time(probe_success{job=\"blackbox\"}[5m])"));
        let burn_windows: Vec<&str> = rules
            .iter()
            .filter(|r| r.record.as_deref() == Some("nines_slo_burn_rate"))
            .map(|r| r.labels["window"].as_str())
            .collect();
        assert_eq!(burn_windows, ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
        assert!(g.notes.iter().any(|n| n.contains("rolling 30d")), "{:?}", g.notes);
        assert!(g.notes.iter().any(|n| n.contains("0 or 1")), "{:?}", g.notes);
    }
}
