//! Importing SLOs written for other tools: OpenSLO v1 (`kind: SLO`) and
//! Sloth (`version: prometheus/v1`). Each becomes nines [`SloSpec`]s plus
//! notes on everything that did not carry over exactly: nothing is
//! dropped without saying so.

use std::collections::BTreeMap;

use promql_parser::parser::{Expr, LabelModifier};
use serde::Deserialize;

use crate::spec::{AlertingSpec, BudgetingSpec, CustomSpec, RatioSpec, SliSpec, SloSpec, TierSpec, RESERVED_LABELS};

/// What an import produced.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Imported {
    /// The SLOs, as nines config.
    pub slos: Vec<SloSpec>,
    /// What did not carry over exactly, each naming its SLO.
    pub notes: Vec<String>,
}

/// Why a document could not be imported.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("document {document}: {message}")]
pub struct ImportError {
    /// 1-based position in the input.
    pub document: usize,
    /// What is wrong.
    pub message: String,
}

/// Settings the source formats do not carry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImportOptions {
    /// The owning team when the source names none.
    pub owner: Option<String>,
    /// Sloth specs have no window (Sloth's default is 30d).
    pub sloth_window: Option<String>,
}

/// Imports every document of `text` (YAML, `---`-separated): OpenSLO v1
/// `SLO` documents (with the `SLI` documents they refer to) and Sloth
/// `prometheus/v1` specs. Other OpenSLO kinds are skipped with a note.
pub fn import(text: &str, opts: &ImportOptions) -> Result<Imported, Vec<ImportError>> {
    let mut docs = Vec::new();
    for (i, de) in serde_norway::Deserializer::from_str(text).enumerate() {
        match serde_norway::Value::deserialize(de) {
            Ok(serde_norway::Value::Null) => {}
            Ok(v) => docs.push((i + 1, v)),
            Err(e) => {
                return Err(vec![ImportError {
                    document: i + 1,
                    message: format!("not YAML: {e}"),
                }])
            }
        }
    }
    let mut out = Imported::default();
    let mut errors = Vec::new();
    let slis: BTreeMap<String, OsliSpec> = docs
        .iter()
        .filter(|(_, v)| v.get("kind").and_then(|k| k.as_str()) == Some("SLI"))
        .filter_map(|(_, v)| {
            let d: OsliDoc = serde_norway::from_value(v.clone()).ok()?;
            Some((d.metadata.name, d.spec))
        })
        .collect();
    for (n, doc) in &docs {
        let err = |message: String| ImportError { document: *n, message };
        let version = doc.get("version").and_then(|v| v.as_str());
        let api = doc.get("apiVersion").and_then(|v| v.as_str());
        let result = match (api, version) {
            (Some("openslo/v1"), _) => match doc.get("kind").and_then(|k| k.as_str()) {
                Some("SLO") => serde_norway::from_value::<OsloDoc>(doc.clone())
                    .map_err(|e| err(format!("OpenSLO SLO: {e}")))
                    .and_then(|d| openslo(d, &slis, opts, &mut out).map_err(err)),
                Some("SLI") => Ok(()),
                Some(other) => {
                    out.notes.push(format!(
                        "document {n}: OpenSLO kind {other} has no nines equivalent here; skipped"
                    ));
                    Ok(())
                }
                None => Err(err("an OpenSLO document needs a kind".into())),
            },
            (Some(other), _) => Err(err(format!(
                "apiVersion {other:?} is not supported (openslo/v1 is; convert v1alpha with oslo convert)"
            ))),
            (None, Some("prometheus/v1")) => serde_norway::from_value::<SlothDoc>(doc.clone())
                .map_err(|e| err(format!("Sloth spec: {e}")))
                .and_then(|d| sloth(d, opts, &mut out).map_err(err)),
            (None, Some(other)) => Err(err(format!(
                "Sloth version {other:?} is not supported (prometheus/v1 is)"
            ))),
            (None, None) => Err(err(
                "neither OpenSLO (apiVersion: openslo/v1) nor Sloth (version: prometheus/v1)".into(),
            )),
        };
        if let Err(e) = result {
            errors.push(e);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

// ---- OpenSLO v1 ----

#[derive(Debug, Deserialize)]
struct Meta {
    name: String,
    #[serde(default, rename = "displayName")]
    display_name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, serde_norway::Value>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct OsloDoc {
    metadata: Meta,
    spec: OsloSpec,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OsloSpec {
    #[serde(default)]
    description: String,
    service: String,
    #[serde(default)]
    indicator: Option<OsliInline>,
    #[serde(default)]
    indicator_ref: Option<String>,
    #[serde(default)]
    time_window: Vec<TimeWindow>,
    budgeting_method: String,
    objectives: Vec<Objective>,
    #[serde(default)]
    alert_policies: Vec<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
struct OsliDoc {
    metadata: Meta,
    spec: OsliSpec,
}

#[derive(Debug, Clone, Deserialize)]
struct OsliInline {
    spec: OsliSpec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OsliSpec {
    #[serde(default)]
    ratio_metric: Option<RatioMetric>,
    #[serde(default)]
    threshold_metric: Option<MetricHolder>,
}

#[derive(Debug, Clone, Deserialize)]
struct RatioMetric {
    #[serde(default)]
    counter: Option<bool>,
    #[serde(default)]
    good: Option<MetricHolder>,
    #[serde(default)]
    bad: Option<MetricHolder>,
    #[serde(default)]
    total: Option<MetricHolder>,
    #[serde(default)]
    raw: Option<MetricHolder>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricHolder {
    metric_source: MetricSource,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetricSource {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    spec: BTreeMap<String, serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct TimeWindow {
    duration: String,
    #[serde(default)]
    is_rolling: Option<bool>,
    #[serde(default)]
    calendar: Option<Calendar>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Calendar {
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    time_zone: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Objective {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    op: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    target: Option<f64>,
    #[serde(default)]
    target_percent: Option<f64>,
    #[serde(default)]
    time_slice_target: Option<f64>,
    #[serde(default)]
    time_slice_window: Option<String>,
    #[serde(default)]
    indicator: Option<OsliInline>,
}

fn query_of(m: &MetricHolder) -> Result<String, String> {
    let kind = m.metric_source.kind.as_deref().unwrap_or("Prometheus");
    if !kind.eq_ignore_ascii_case("prometheus") {
        return Err(format!(
            "metric source type {kind} is not Prometheus; nines reads PromQL"
        ));
    }
    ["query", "promql"]
        .iter()
        .find_map(|k| m.metric_source.spec.get(*k).and_then(|v| v.as_str()))
        .map(str::to_string)
        .ok_or_else(|| "the Prometheus metric source has no query".to_string())
}

fn openslo(
    d: OsloDoc,
    slis: &BTreeMap<String, OsliSpec>,
    opts: &ImportOptions,
    out: &mut Imported,
) -> Result<(), String> {
    let spec = d.spec;
    let service = sanitize(&spec.service);
    let base = sanitize(&d.metadata.name);
    let id = format!("{service}/{base}");
    let mut notes = Vec::new();
    if let Some(display) = &d.metadata.display_name {
        notes.push(format!("displayName {display:?} kept as the description's first line"));
    }
    let (window, time_zone) = openslo_window(&spec.time_window, &mut notes)?;
    let owner = owner_of(&d.metadata.labels, &d.metadata.annotations, opts)?;
    let labels = flat_labels(&d.metadata.labels, &mut notes);
    if !spec.alert_policies.is_empty() {
        notes.push(
            "alertPolicies are not imported: nines alerts with the Workbook's burn-rate tiers (see alerting:)".into(),
        );
    }
    let shared = match (&spec.indicator, &spec.indicator_ref) {
        (Some(i), _) => Some(i.spec.clone()),
        (None, Some(r)) => Some(
            slis.get(r)
                .cloned()
                .ok_or_else(|| format!("indicatorRef {r:?}: no SLI document of that name in the input"))?,
        ),
        (None, None) => None,
    };
    let many = spec.objectives.len() > 1;
    for (i, o) in spec.objectives.iter().enumerate() {
        let mut notes = notes.clone();
        let name = if many {
            let suffix = o
                .display_name
                .as_deref()
                .map(sanitize)
                .unwrap_or_else(|| (i + 1).to_string());
            format!("{base}-{suffix}")
        } else {
            base.clone()
        };
        let indicator = o
            .indicator
            .as_ref()
            .map(|i| i.spec.clone())
            .or_else(|| shared.clone())
            .ok_or_else(|| format!("{id}: no indicator, indicatorRef or per-objective indicator"))?;
        let objective = match (o.target, o.target_percent) {
            (Some(t), _) => t * 100.0,
            (None, Some(p)) => p,
            (None, None) => return Err(format!("{id}: objective {} has no target", i + 1)),
        };
        let budgeting = match spec.budgeting_method.as_str() {
            "Occurrences" => None,
            "Timeslices" => Some(BudgetingSpec {
                method: "timeslices".into(),
                slice: Some(
                    o.time_slice_window
                        .clone()
                        .ok_or_else(|| format!("{id}: Timeslices needs timeSliceWindow"))?,
                ),
                slice_threshold: Some(
                    o.time_slice_target
                        .ok_or_else(|| format!("{id}: Timeslices needs timeSliceTarget"))?
                        * 100.0,
                ),
            }),
            other => {
                return Err(format!(
                    "{id}: budgetingMethod {other} is not supported (Occurrences and Timeslices are)"
                ))
            }
        };
        let (sli, group_by) = openslo_sli(&indicator, o, &mut notes).map_err(|e| format!("{id}: {e}"))?;
        let mut description = d.metadata.display_name.clone().unwrap_or_default();
        if !spec.description.is_empty() {
            if !description.is_empty() {
                description.push('\n');
            }
            description.push_str(&spec.description);
        }
        out.notes
            .extend(notes.into_iter().map(|n| format!("{service}/{name}: {n}")));
        out.slos.push(SloSpec {
            service: service.clone(),
            name,
            description,
            owner: owner.clone(),
            labels: labels.clone(),
            objective,
            window: window.clone(),
            time_zone: time_zone.clone(),
            budgeting,
            sli,
            group_by,
            alerting: None,
        });
    }
    Ok(())
}

fn openslo_window(windows: &[TimeWindow], notes: &mut Vec<String>) -> Result<(String, Option<String>), String> {
    let w = match windows {
        [] => return Err("timeWindow is missing".into()),
        [w] => w,
        [w, ..] => {
            notes.push("only the first timeWindow is used".into());
            w
        }
    };
    let d = w.duration.trim();
    let rolling = w.is_rolling.unwrap_or(w.calendar.is_none());
    if rolling {
        let (num, unit) = d.split_at(d.find(|c: char| !c.is_ascii_digit()).unwrap_or(d.len()));
        let n: i64 = num
            .parse()
            .map_err(|_| format!("timeWindow duration {d:?} is not a duration"))?;
        let days = match unit {
            "m" | "h" | "d" => return Ok((d.to_string(), None)),
            "w" => n * 7,
            "M" | "Q" | "Y" => {
                let days = n * match unit {
                    "M" => 30,
                    "Q" => 90,
                    _ => 365,
                };
                notes.push(format!("rolling {d} taken as {days}d"));
                days
            }
            _ => return Err(format!("timeWindow duration {d:?} has an unknown unit")),
        };
        return Ok((format!("{days}d"), None));
    }
    let unit = match d {
        "1w" | "7d" => "week",
        "1M" => "month",
        "1Q" | "3M" => "quarter",
        other => {
            return Err(format!(
                "calendar window {other} is not supported (1w, 1M and 1Q are: week, month, quarter)"
            ))
        }
    };
    let cal = w.calendar.as_ref();
    if let Some(start) = cal.and_then(|c| c.start_time.as_deref()) {
        notes.push(format!(
            "calendar startTime {start:?} not kept: calendar {unit}s start on the {unit}'s first day (weeks on Monday)"
        ));
    }
    Ok((unit.to_string(), cal.and_then(|c| c.time_zone.clone())))
}

fn openslo_sli(indicator: &OsliSpec, o: &Objective, notes: &mut Vec<String>) -> Result<(SliSpec, Vec<String>), String> {
    if let Some(r) = &indicator.ratio_metric {
        if r.raw.is_some() {
            return Err("ratioMetric.raw (a precomputed ratio) is not supported; give good/bad and total".into());
        }
        if r.counter == Some(false) {
            notes.push("counter: false: the queries are read as counters anyway (nines counts increases)".into());
        }
        let total = r.total.as_ref().ok_or("ratioMetric needs total")?;
        let total = query_of(total)?;
        let (kind, part) = match (&r.good, &r.bad) {
            (Some(g), None) => ("good", query_of(g)?),
            (None, Some(b)) => ("bad", query_of(b)?),
            _ => return Err("ratioMetric needs exactly one of good and bad".into()),
        };
        return ratio_sli(kind, &part, &total, None, notes);
    }
    if let Some(t) = &indicator.threshold_metric {
        let q = query_of(t)?;
        let (op, value) = match (o.op.as_deref(), o.value) {
            (Some(op), Some(v)) => (op, v),
            _ => return Err("thresholdMetric needs op and value on the objective".into()),
        };
        // The objective is met while `q op value`; a sample is bad when not.
        let bad = match op {
            "lte" => ">",
            "lt" => ">=",
            "gte" => "<",
            "gt" => "<=",
            other => return Err(format!("op {other:?} is not lt, lte, gt or gte")),
        };
        notes.push(
            "thresholdMetric imported as a custom SLI: the share of one-minute samples breaking the threshold".into(),
        );
        let sli = SliSpec {
            custom: Some(CustomSpec {
                error_ratio: format!("avg_over_time((({q}) {bad} bool {value})[$window:1m])"),
            }),
            ..SliSpec::default()
        };
        return Ok((sli, Vec::new()));
    }
    Err("the indicator has neither ratioMetric nor thresholdMetric".into())
}

// ---- Sloth prometheus/v1 ----

#[derive(Debug, Deserialize)]
struct SlothDoc {
    service: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    slos: Vec<SlothSlo>,
}

#[derive(Debug, Deserialize)]
struct SlothSlo {
    name: String,
    objective: f64,
    #[serde(default)]
    description: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    sli: SlothSli,
    #[serde(default)]
    alerting: Option<SlothAlerting>,
}

#[derive(Debug, Deserialize)]
struct SlothSli {
    #[serde(default)]
    events: Option<SlothEvents>,
    #[serde(default)]
    raw: Option<SlothRaw>,
    #[serde(default)]
    plugin: Option<serde_norway::Value>,
}

#[derive(Debug, Deserialize)]
struct SlothEvents {
    error_query: String,
    total_query: String,
}

#[derive(Debug, Deserialize)]
struct SlothRaw {
    error_ratio_query: String,
}

#[derive(Debug, Deserialize)]
struct SlothAlerting {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    page_alert: Option<SlothTier>,
    #[serde(default)]
    ticket_alert: Option<SlothTier>,
}

#[derive(Debug, Deserialize)]
struct SlothTier {
    #[serde(default)]
    disable: bool,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

fn sloth(d: SlothDoc, opts: &ImportOptions, out: &mut Imported) -> Result<(), String> {
    let service = sanitize(&d.service);
    let owner = d
        .labels
        .get("owner")
        .or_else(|| d.labels.get("team"))
        .cloned()
        .or_else(|| opts.owner.clone())
        .ok_or("Sloth specs name no owner: add an owner or team label, or pass --owner")?;
    let window = opts.sloth_window.clone().unwrap_or_else(|| "30d".into());
    for s in d.slos {
        let name = sanitize(&s.name);
        let mut notes = Vec::new();
        let mut labels: BTreeMap<String, String> = d.labels.clone();
        labels.extend(s.labels.clone());
        let labels = drop_reserved(labels, "labels", &mut notes);
        let (sli, group_by) = match (&s.sli.events, &s.sli.raw, &s.sli.plugin) {
            (Some(e), None, None) => {
                ratio_sli("bad", &e.error_query, &e.total_query, Some(SLOTH_WINDOW), &mut notes)?
            }
            (None, Some(r), None) => {
                notes.push("a raw error ratio is evaluated as a custom SLI (time-weighted, not by traffic)".into());
                (
                    SliSpec {
                        custom: Some(CustomSpec {
                            error_ratio: r.error_ratio_query.replace("{{.window}}", "$window"),
                        }),
                        ..SliSpec::default()
                    },
                    Vec::new(),
                )
            }
            (None, None, Some(_)) => {
                return Err(format!(
                    "{service}/{name}: SLI plugins run Go code inside Sloth and cannot be imported; write the SLI as events"
                ))
            }
            _ => return Err(format!("{service}/{name}: the sli needs exactly one of events, raw and plugin")),
        };
        let alerting = s.alerting.as_ref().map(|a| sloth_alerting(a, &mut notes));
        out.notes
            .extend(notes.into_iter().map(|n| format!("{service}/{name}: {n}")));
        out.slos.push(SloSpec {
            service: service.clone(),
            name,
            description: s.description,
            owner: owner.clone(),
            labels,
            objective: s.objective,
            window: window.clone(),
            time_zone: None,
            budgeting: None,
            sli,
            group_by,
            alerting,
        });
    }
    Ok(())
}

fn sloth_alerting(a: &SlothAlerting, notes: &mut Vec<String>) -> AlertingSpec {
    if let Some(name) = &a.name {
        notes.push(format!(
            "alert name {name:?} not kept: nines names its burn alerts SLOErrorBudgetBurn"
        ));
    }
    if a.annotations.as_ref().is_some_and(|m| !m.is_empty()) {
        notes.push("alert annotations not imported: nines writes summary and description itself".into());
    }
    let mut burn_rate = BTreeMap::new();
    for (tier, sloth_tier) in [
        ("page_1h", &a.page_alert),
        ("page_6h", &a.page_alert),
        ("ticket_1d", &a.ticket_alert),
        ("ticket_3d", &a.ticket_alert),
    ] {
        if let Some(t) = sloth_tier {
            let labels = drop_reserved(t.labels.clone(), tier, notes);
            if t.disable || !labels.is_empty() {
                burn_rate.insert(
                    tier.to_string(),
                    TierSpec {
                        enabled: !t.disable,
                        labels,
                    },
                );
            }
        }
    }
    AlertingSpec {
        labels: drop_reserved(a.labels.clone(), "alerting.labels", notes),
        burn_rate,
        ..AlertingSpec::default()
    }
}

// ---- shared ----

/// Sloth's placeholder for the window a query is evaluated over.
const SLOTH_WINDOW: &str = "{{.window}}";

/// A ratio SLI from two queries: plain counter selectors as they are; a
/// `rate`/`increase` of a counter (summed, perhaps `by` labels) becomes
/// that counter, with the `by` labels as `group_by`. Anything else is
/// kept as the quotient in a custom SLI, with a note; `window_token`, if
/// the queries have one, becomes nines's `$window` there.
fn ratio_sli(
    kind: &str,
    part: &str,
    total: &str,
    window_token: Option<&str>,
    notes: &mut Vec<String>,
) -> Result<(SliSpec, Vec<String>), String> {
    let with = |q: &str, w: &str| window_token.map_or_else(|| q.to_string(), |t| q.replace(t, w));
    match (counter_of(&with(part, "5m")), counter_of(&with(total, "5m"))) {
        (Some((p, pg)), Some((t, tg))) => {
            if pg != tg {
                notes.push(format!(
                    "the {kind} and total queries group by different labels ({pg:?}, {tg:?}); not grouped"
                ));
            }
            let group_by = if pg == tg { pg } else { Vec::new() };
            let ratio = if kind == "good" {
                RatioSpec {
                    good: Some(p),
                    bad: None,
                    total: t,
                }
            } else {
                RatioSpec {
                    good: None,
                    bad: Some(p),
                    total: t,
                }
            };
            Ok((
                SliSpec {
                    ratio: Some(ratio),
                    ..SliSpec::default()
                },
                group_by,
            ))
        }
        _ => {
            notes.push(
                "the queries are not rates of counters: kept as a custom error ratio (time-weighted, not by traffic)"
                    .into(),
            );
            let window = |q: &str| with(q, "$window");
            let error_ratio = if kind == "good" {
                format!("1 - (({}) / ({}))", window(part), window(total))
            } else {
                format!("({}) / ({})", window(part), window(total))
            };
            Ok((
                SliSpec {
                    custom: Some(CustomSpec { error_ratio }),
                    ..SliSpec::default()
                },
                Vec::new(),
            ))
        }
    }
}

/// The counter selector inside `sum by (...) (rate(counter[w]))`,
/// `rate(counter[w])`, `increase(...)` or a bare selector, and the `by`
/// labels.
fn counter_of(q: &str) -> Option<(String, Vec<String>)> {
    let expr = promql_parser::parser::parse(q).ok()?;
    let mut e = &expr;
    let mut group_by = Vec::new();
    loop {
        match e {
            Expr::Paren(p) => e = &p.expr,
            Expr::Aggregate(a) if a.op.to_string() == "sum" && a.param.is_none() && group_by.is_empty() => {
                match &a.modifier {
                    Some(LabelModifier::Include(l)) => group_by = l.labels.clone(),
                    Some(LabelModifier::Exclude(_)) => return None,
                    None => {}
                }
                e = &a.expr;
            }
            Expr::Call(c) if matches!(c.func.name, "rate" | "increase" | "irate") && c.args.args.len() == 1 => {
                return match c.args.args[0].as_ref() {
                    Expr::MatrixSelector(ms) => Some((ms.vs.to_string(), group_by)),
                    _ => None,
                };
            }
            Expr::VectorSelector(vs) => return Some((vs.to_string(), group_by)),
            _ => return None,
        }
    }
}

fn owner_of(
    labels: &BTreeMap<String, serde_norway::Value>,
    annotations: &BTreeMap<String, String>,
    opts: &ImportOptions,
) -> Result<String, String> {
    let from_label = ["owner", "team"].iter().find_map(|k| match labels.get(*k) {
        Some(serde_norway::Value::String(s)) => Some(s.clone()),
        Some(serde_norway::Value::Sequence(v)) => v.first().and_then(|x| x.as_str()).map(str::to_string),
        _ => None,
    });
    from_label
        .or_else(|| annotations.get("owner").cloned())
        .or_else(|| opts.owner.clone())
        .ok_or_else(|| "the SLO names no owner: add an owner or team label, or pass --owner".into())
}

fn flat_labels(labels: &BTreeMap<String, serde_norway::Value>, notes: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, v) in labels {
        let value = match v {
            serde_norway::Value::String(s) => s.clone(),
            serde_norway::Value::Sequence(items) => {
                let parts: Vec<String> = items.iter().filter_map(|x| x.as_str().map(str::to_string)).collect();
                if parts.len() > 1 {
                    notes.push(format!("label {k} has several values; joined with ','"));
                }
                parts.join(",")
            }
            serde_norway::Value::Number(n) => n.to_string(),
            serde_norway::Value::Bool(b) => b.to_string(),
            _ => {
                notes.push(format!("label {k} is not a string; dropped"));
                continue;
            }
        };
        out.insert(sanitize_label(k), value);
    }
    drop_reserved(out, "labels", notes)
}

fn drop_reserved(
    mut labels: BTreeMap<String, String>,
    field: &str,
    notes: &mut Vec<String>,
) -> BTreeMap<String, String> {
    labels.retain(|k, _| {
        let reserved = RESERVED_LABELS.contains(&k.as_str());
        // `owner` becomes the SLO's owner; the others are worth a word.
        if reserved && k != "owner" {
            notes.push(format!("{field}: label {k} is set by nines; dropped"));
        }
        !reserved
    });
    labels
}

/// Names nines accepts: letters, digits, `_`, `-`, `.`.
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        out.insert(0, 'x');
    }
    out
}

fn sanitize_label(s: &str) -> String {
    let out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' })
        .collect();
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}
