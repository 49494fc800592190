//! `GET /api/v1/rules` and `GET /api/v1/alerts` in Prometheus's shapes:
//! rule groups with each rule's health and alerts, and every pending or
//! firing alert (rule alerts first, then SLO alerts).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::Response;
use nines_alerting::alert::{Alert, AlertState};
use nines_alerting::group::{GroupEvaluator, RuleHealth, RuleRuntime, RuleRuntimeKind};
use nines_alerting::template::gofmt::format_e_shortest;
use serde_json::{json, Map, Value};

use crate::error::success;
use crate::params::Params;
use crate::{rfc3339, ApiError, AppState};

/// Go's zero time, which Prometheus reports for "never evaluated".
const NEVER: &str = "0001-01-01T00:00:00Z";

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

fn alert_json(a: &Alert) -> Value {
    let mut out = json!({
        "labels": a.labels,
        "annotations": a.annotations,
        "state": a.state.name(),
        "activeAt": rfc3339(a.active_at),
        "value": format_e_shortest(a.value),
    });
    if let Some(since) = a.keep_firing_since {
        out["keepFiringSince"] = json!(rfc3339(since));
    }
    out
}

fn health_fields(out: &mut Map<String, Value>, h: &RuleHealth) {
    let health = match (&h.last_evaluation, &h.last_error) {
        (None, _) => "unknown",
        (Some(_), Some(_)) => "err",
        (Some(_), None) => "ok",
    };
    out.insert("health".into(), json!(health));
    if let Some(e) = &h.last_error {
        out.insert("lastError".into(), json!(e));
    }
    out.insert("evaluationTime".into(), json!(h.evaluation_seconds));
    out.insert(
        "lastEvaluation".into(),
        json!(h.last_evaluation.map_or_else(|| NEVER.to_string(), rfc3339)),
    );
}

/// Which rules a request asks for.
struct RuleFilter {
    kind: Option<&'static str>,
    names: Vec<String>,
    groups: Vec<String>,
    files: Vec<String>,
    exclude_alerts: bool,
}

impl RuleFilter {
    fn parse(params: &Params) -> Result<Self, ApiError> {
        let kind = match params.get("type") {
            None | Some("") => None,
            Some("alert") => Some("alerting"),
            Some("record") => Some("recording"),
            Some(other) => {
                return Err(ApiError::bad_data(format!(
                    "type: {other:?} is not a rule type (alert or record)"
                )))
            }
        };
        let exclude_alerts = match params.get("exclude_alerts") {
            None | Some("") | Some("false") => false,
            Some("true") => true,
            Some(other) => {
                return Err(ApiError::bad_data(format!(
                    "exclude_alerts: {other:?} is not true or false"
                )))
            }
        };
        let all = |k: &str| params.all(k).into_iter().map(str::to_string).collect::<Vec<_>>();
        Ok(Self {
            kind,
            names: all("rule_name[]"),
            groups: all("rule_group[]"),
            files: all("file[]"),
            exclude_alerts,
        })
    }

    fn keeps_group(&self, g: &GroupEvaluator) -> bool {
        (self.groups.is_empty() || self.groups.contains(&g.group.name))
            && (self.files.is_empty() || self.files.contains(&g.group.file))
    }

    fn keeps_rule(&self, kind: &str, name: &str) -> bool {
        self.kind.is_none_or(|k| k == kind) && (self.names.is_empty() || self.names.iter().any(|n| n == name))
    }

    fn narrows(&self) -> bool {
        self.kind.is_some() || !self.names.is_empty()
    }
}

fn rule_json(g: &GroupEvaluator, index: usize, rule: &RuleRuntime, filter: &RuleFilter) -> Option<Value> {
    let spec = &g.group.rules[index];
    let labels: Map<String, Value> = spec
        .labels
        .iter()
        .map(|(k, _, text)| (k.clone(), json!(text)))
        .collect();
    let mut out = Map::new();
    match &rule.kind {
        RuleRuntimeKind::Record { name, .. } => {
            if !filter.keeps_rule("recording", name) {
                return None;
            }
            out.insert("name".into(), json!(name));
            out.insert("query".into(), json!(rule.expr));
            out.insert("labels".into(), Value::Object(labels));
            health_fields(&mut out, &rule.health);
            out.insert("type".into(), json!("recording"));
        }
        RuleRuntimeKind::Alert(a) => {
            if !filter.keeps_rule("alerting", &a.name) {
                return None;
            }
            let state = if a.alerts.values().any(|x| x.state == AlertState::Firing) {
                "firing"
            } else if a.alerts.values().any(|x| x.state == AlertState::Pending) {
                "pending"
            } else {
                "inactive"
            };
            let annotations: Map<String, Value> = match &spec.kind {
                nines_alerting::rulefile::RuleKind::Alert { annotations, .. } => annotations
                    .iter()
                    .map(|(k, _, text)| (k.clone(), json!(text)))
                    .collect(),
                nines_alerting::rulefile::RuleKind::Record { .. } => Map::new(),
            };
            out.insert("state".into(), json!(state));
            out.insert("name".into(), json!(a.name));
            out.insert("query".into(), json!(rule.expr));
            out.insert("duration".into(), json!(seconds(a.for_ms)));
            out.insert("keepFiringFor".into(), json!(seconds(a.keep_firing_for_ms)));
            out.insert("labels".into(), Value::Object(labels));
            out.insert("annotations".into(), Value::Object(annotations));
            if !filter.exclude_alerts {
                out.insert("alerts".into(), Value::Array(a.active().map(alert_json).collect()));
            }
            health_fields(&mut out, &rule.health);
            out.insert("type".into(), json!("alerting"));
        }
    }
    Some(Value::Object(out))
}

fn group_json(g: &GroupEvaluator, global_interval_ms: i64, filter: &RuleFilter) -> Option<Value> {
    if !filter.keeps_group(g) {
        return None;
    }
    let rules: Vec<Value> = g
        .rules
        .iter()
        .enumerate()
        .filter_map(|(i, r)| rule_json(g, i, r, filter))
        .collect();
    if rules.is_empty() && filter.narrows() {
        return None;
    }
    let evaluation_time: f64 = g.rules.iter().map(|r| r.health.evaluation_seconds).sum();
    Some(json!({
        "name": g.group.name,
        "file": g.group.file,
        "rules": rules,
        "interval": seconds(g.interval_ms(global_interval_ms)),
        "limit": g.group.limit,
        "evaluationTime": evaluation_time,
        "lastEvaluation": g.last_evaluation.map_or_else(|| NEVER.to_string(), rfc3339),
    }))
}

/// `GET /api/v1/rules`: `type=alert|record`, `rule_name[]`,
/// `rule_group[]`, `file[]`, `exclude_alerts`.
pub async fn rules(State(state): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params = Params::parse(q.as_deref().unwrap_or("").as_bytes());
    let filter = RuleFilter::parse(&params)?;
    let groups: Vec<Value> = match &state.rules {
        None => Vec::new(),
        Some(m) => m
            .groups()
            .iter()
            .filter_map(|g| group_json(&g.snapshot(), g.interval_ms(), &filter))
            .collect(),
    };
    Ok(success(json!({"groups": groups}), Vec::new()))
}

/// `GET /api/v1/alerts`: every pending and firing alert, from rules, SLOs
/// and integrations, each with its `source`.
pub async fn alerts(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut out: Vec<Value> = Vec::new();
    if let Some(m) = &state.rules {
        for g in m.groups().iter() {
            let snapshot: Arc<GroupEvaluator> = g.snapshot();
            out.extend(
                snapshot
                    .alerts()
                    .iter()
                    .filter(|(_, a)| a.state != AlertState::Inactive)
                    .map(|(_, a)| alert_json(a)),
            );
        }
    }
    for a in out.iter_mut() {
        a["source"] = json!("rule");
    }
    if let Some(board) = &state.slos {
        let latest = board.latest();
        for a in &latest.alerts {
            let mut v = serde_json::to_value(a).map_err(|e| ApiError::internal(e.to_string()))?;
            v["source"] = json!("slo");
            out.push(v);
        }
    }
    if let Some(board) = state.inbound.clone() {
        let now = state.clock.now_millis();
        let listed = tokio::task::spawn_blocking(move || board.listed(now))
            .await
            .map_err(|e| ApiError::internal(e.to_string()))??;
        out.extend(listed.iter().filter_map(crate::inbound_api::alert_json));
    }
    mark_suppressed(&state, &mut out);
    Ok(success(json!({"alerts": out}), Vec::new()))
}

/// Says of each firing alert which silences mute it and which inhibition
/// rule holds it back (`silencedBy`, `inhibitedBy`, as Alertmanager
/// reports them); pending alerts are not judged yet.
fn mark_suppressed(state: &AppState, alerts: &mut [Value]) {
    let Some(suppressor) = &state.suppressor else {
        return;
    };
    let labels: Vec<(usize, BTreeMap<String, String>)> = alerts
        .iter()
        .enumerate()
        .filter(|(_, a)| a["state"] == "firing")
        .map(|(i, a)| (i, serde_json::from_value(a["labels"].clone()).unwrap_or_default()))
        .collect();
    let firing: Vec<&BTreeMap<String, String>> = labels.iter().map(|(_, l)| l).collect();
    let verdicts = suppressor.judge(&firing, state.clock.now_millis());
    for a in alerts.iter_mut() {
        a["silencedBy"] = json!([]);
        a["inhibitedBy"] = json!([]);
    }
    for ((i, _), v) in labels.iter().zip(verdicts) {
        alerts[*i]["silencedBy"] = json!(v.silenced_by);
        alerts[*i]["inhibitedBy"] = json!(v
            .inhibited_by
            .map(|r| format!("inhibit_rules[{r}]"))
            .into_iter()
            .collect::<Vec<_>>());
    }
}
