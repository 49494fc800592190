//! What nines learns from incidents and deploys, over HTTP: an incident's
//! timeline and times (with the error budget it burnt), MTTx aggregates,
//! postmortems (draft, edit, Markdown export, the overdue report) and
//! DORA metrics.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nines_learning::dora;
use nines_learning::events::EventLog;
use nines_learning::incident::{Incident, IncidentError};
use nines_learning::metrics::{aggregate, times, IncidentTimes};
use nines_learning::postmortem::{self, BudgetBurn, Edit, Postmortem, PostmortemRepository};
use nines_learning::timeline::{self, end_of, start_of, Timeline};
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::events_api::event_json;
use crate::incidents_api::{blocking, fetch, repo, store_error};
use crate::{rfc3339, ApiError, AppState};

fn log(state: &AppState) -> Result<Arc<dyn EventLog>, ApiError> {
    state
        .events
        .clone()
        .ok_or_else(|| ApiError::unavailable("the event log needs the state store (a data directory)"))
}

fn postmortems(state: &AppState) -> Result<Arc<dyn PostmortemRepository>, ApiError> {
    state
        .postmortems
        .clone()
        .ok_or_else(|| ApiError::unavailable("postmortems need the state store (a data directory)"))
}

fn lookback(state: &AppState, params: &HashMap<String, String>) -> Result<i64, ApiError> {
    match params.get("lookback").filter(|v| !v.is_empty()) {
        None => Ok(state.learning.read().lookback_ms),
        Some(v) => nines_promql::parse_duration_ms(v)
            .filter(|ms| (0..=timeline::MAX_LOOKBACK_MS).contains(ms))
            .ok_or_else(|| ApiError::bad_data(format!("lookback: {v:?} is not a duration from 0s to 7d"))),
    }
}

/// An incident and its timeline, read off the runtime.
async fn incident_and_timeline(state: &AppState, id: i64, lookback_ms: i64) -> Result<(Incident, Timeline), ApiError> {
    let repo = repo(state)?;
    let log = log(state)?;
    let now = state.clock.now_millis();
    blocking(move || {
        let i = fetch(repo.as_ref(), id)?;
        let t = timeline::timeline(log.as_ref(), &i, lookback_ms, now).map_err(store_error)?;
        Ok((i, t))
    })
    .await
}

fn entry_json(e: &timeline::Entry) -> Value {
    let mut v = event_json(&e.event);
    v["summary"] = json!(e.summary);
    v["suspect"] = json!(e.suspect);
    v
}

/// `GET /api/v1/incidents/{id}/timeline[?lookback=2h]`: the suspects
/// (deploys and changes to the affected services just before the start,
/// newest first), then every entry oldest first.
pub async fn incident_timeline(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let lookback_ms = lookback(&state, &params)?;
    let (_, t) = incident_and_timeline(&state, id, lookback_ms).await?;
    Ok(success(
        json!({
            "incident": id,
            "start": rfc3339(t.start),
            "end": rfc3339(t.end),
            "lookbackSeconds": t.lookback_ms / 1000,
            "suspects": t.suspects.iter().map(entry_json).collect::<Vec<_>>(),
            "entries": t.entries.iter().map(entry_json).collect::<Vec<_>>(),
        }),
        Vec::new(),
    ))
}

fn times_json(t: &IncidentTimes) -> Value {
    let secs = |ms: Option<i64>| ms.map(|m| m / 1000);
    json!({
        "incident": t.incident,
        "severity": t.severity.name(),
        "services": t.services,
        "startedAt": rfc3339(t.started_at),
        "detectedAt": rfc3339(t.detected_at),
        "acknowledgedAt": t.acknowledged_at.map(rfc3339),
        "mitigatedAt": t.mitigated_at.map(rfc3339),
        "resolvedAt": t.resolved_at.map(rfc3339),
        "timeToDetectSeconds": t.time_to_detect / 1000,
        "timeToAcknowledgeSeconds": secs(t.time_to_acknowledge),
        "timeToMitigateSeconds": secs(t.time_to_mitigate),
        "timeToResolveSeconds": secs(t.time_to_resolve),
    })
}

/// The error budget `incident` burnt on the SLOs of the services it
/// affected, from its start to its end (or now).
async fn budget_burnt(state: &AppState, incident: &Incident) -> Result<Vec<BudgetBurn>, ApiError> {
    let Some(board) = state.slos.clone() else {
        return Ok(Vec::new());
    };
    let latest = board.latest();
    let handles: Vec<_> = latest
        .handles
        .iter()
        .filter(|h| incident.services.contains(&h.slo.service))
        .cloned()
        .collect();
    let start = start_of(incident);
    let end = end_of(incident).unwrap_or_else(|| state.clock.now_millis());
    let slo_repo = board.repo();
    blocking(move || {
        let mut out = Vec::new();
        for h in &handles {
            let burns = nines_slo::history::burnt_between(slo_repo.as_ref(), h, start, end).map_err(store_error)?;
            for b in burns {
                let mut slo = format!("{}/{}", h.slo.service, h.slo.name);
                if !b.labels.is_empty() {
                    let pairs: Vec<String> = b.labels.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
                    slo = format!("{slo}{{{}}}", pairs.join(","));
                }
                out.push(BudgetBurn {
                    slo,
                    bad: b.bad,
                    total: b.total,
                    budget_consumed_ratio: b.budget_consumed_ratio,
                });
            }
        }
        Ok(out)
    })
    .await
}

/// `GET /api/v1/incidents/{id}/metrics`: its moments, durations and the
/// error budget it burnt.
pub async fn incident_metrics(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let lookback_ms = state.learning.read().lookback_ms;
    let (i, t) = incident_and_timeline(&state, id, lookback_ms).await?;
    let burns = budget_burnt(&state, &i).await?;
    let mut v = times_json(&times(&i, &t));
    v["budgetBurnt"] = json!(burns);
    Ok(success(v, Vec::new()))
}

/// The teams owning each service, from the SLOs' owners.
fn owners(state: &AppState) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    if let Some(board) = &state.slos {
        for s in &board.latest().statuses {
            let teams = out.entry(s.service.clone()).or_default();
            if !teams.contains(&s.owner) {
                teams.push(s.owner.clone());
            }
        }
    }
    out
}

/// The services `service=` or `team=` ask about; `None`: every service.
fn scope(state: &AppState, params: &HashMap<String, String>) -> Result<Option<Vec<String>>, ApiError> {
    let service = params.get("service").filter(|s| !s.is_empty());
    let team = params.get("team").filter(|s| !s.is_empty());
    match (service, team) {
        (Some(_), Some(_)) => Err(ApiError::bad_data("service and team: ask about one or the other")),
        (Some(s), None) => Ok(Some(vec![s.clone()])),
        (None, Some(t)) => {
            let mut services: Vec<String> = owners(state)
                .into_iter()
                .filter(|(_, teams)| teams.contains(t))
                .map(|(s, _)| s)
                .collect();
            if services.is_empty() {
                return Err(ApiError {
                    status: StatusCode::NOT_FOUND,
                    kind: "not_found",
                    message: format!("team {t:?} owns no SLO, so nines does not know its services"),
                });
            }
            services.sort();
            Ok(Some(services))
        }
        (None, None) => Ok(None),
    }
}

/// `[from, to)` from the parameters: the last `default_days` by default.
fn period(state: &AppState, params: &HashMap<String, String>, default_days: i64) -> Result<(i64, i64), ApiError> {
    let to = crate::events_api::time(params, "to")?.unwrap_or_else(|| state.clock.now_millis());
    let from = crate::events_api::time(params, "from")?.unwrap_or(to.saturating_sub(default_days * 86_400_000));
    if from >= to {
        return Err(ApiError::bad_data("from: must be before to"));
    }
    if to.saturating_sub(from) > 2 * 366 * 86_400_000 {
        return Err(ApiError::bad_data("from, to: at most two years at a time"));
    }
    Ok((from, to))
}

/// `GET /api/v1/incidents/metrics[?service=|team=][&from=][&to=]`: MTTD,
/// MTTA, MTTM and MTTR over the incidents that started in the period
/// (default: the last 30 days), overall, per service and per team.
pub async fn aggregate_metrics(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let services = scope(&state, &params)?;
    let (from, to) = period(&state, &params, 30)?;
    let repo = repo(&state)?;
    let log = log(&state)?;
    let now = state.clock.now_millis();
    let lookback_ms = state.learning.read().lookback_ms;
    let all = blocking(move || {
        let mut out = Vec::new();
        for i in repo.incidents().map_err(store_error)? {
            let start = start_of(&i);
            let wanted = services
                .as_ref()
                .is_none_or(|s| i.services.iter().any(|x| s.contains(x)));
            if start >= from && start < to && wanted {
                let t = timeline::timeline(log.as_ref(), &i, lookback_ms, now).map_err(store_error)?;
                out.push(times(&i, &t));
            }
        }
        Ok(out)
    })
    .await?;
    let owners = owners(&state);
    let agg = aggregate(&all, &|s| owners.get(s).cloned().unwrap_or_default());
    Ok(success(
        json!({
            "from": rfc3339(from),
            "to": rfc3339(to),
            "unit": "milliseconds",
            "overall": agg.overall,
            "services": agg.services,
            "teams": agg.teams,
            "incidents": all.iter().map(times_json).collect::<Vec<_>>(),
        }),
        Vec::new(),
    ))
}

fn not_found(message: String) -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        kind: "not_found",
        message,
    }
}

fn postmortem_json(pm: &Postmortem) -> Value {
    let mut v = serde_json::to_value(pm).unwrap_or(Value::Null);
    v["createdAt"] = json!(rfc3339(pm.created_at));
    v["updatedAt"] = json!(rfc3339(pm.updated_at));
    v["publishedAt"] = json!(pm.published_at.map(rfc3339));
    if let Some(lines) = v["timeline"].as_array_mut() {
        for (l, pl) in lines.iter_mut().zip(&pm.timeline) {
            l["at"] = json!(rfc3339(pl.at));
        }
    }
    v
}

/// `POST /api/v1/incidents/{id}/postmortem`: drafts the postmortem, its
/// impact and timeline filled in. 409 when there already is one.
pub async fn draft_postmortem(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let pms = postmortems(&state)?;
    let lookback_ms = state.learning.read().lookback_ms;
    let (i, t) = incident_and_timeline(&state, id, lookback_ms).await?;
    let burns = budget_burnt(&state, &i).await?;
    let now = state.clock.now_millis();
    let by = token.0.clone().unwrap_or_else(|| "api".into());
    let pm = blocking(move || {
        if pms.postmortem(id).map_err(store_error)?.is_some() {
            return Err(IncidentError::Transition {
                id,
                from: "a postmortem",
                to: "drafted again",
                why: "edit the one it has".into(),
            });
        }
        let pm = postmortem::draft(&i, &t, &times(&i, &t), &burns, now);
        let drafted = postmortem::event(&pm, "postmortem.drafted", &by, now, json!({}));
        pms.save_postmortem(&pm, &[drafted]).map_err(store_error)?;
        Ok(pm)
    })
    .await?;
    Ok((StatusCode::CREATED, success(postmortem_json(&pm), Vec::new())).into_response())
}

async fn load_postmortem(state: &AppState, id: i64) -> Result<Postmortem, ApiError> {
    let pms = postmortems(state)?;
    let found = blocking(move || pms.postmortem(id).map_err(store_error)).await?;
    found.ok_or_else(|| not_found(format!("incident {id} has no postmortem yet (POST one to draft it)")))
}

/// `GET /api/v1/incidents/{id}/postmortem`.
pub async fn show_postmortem(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let pm = load_postmortem(&state, id).await?;
    Ok(success(postmortem_json(&pm), Vec::new()))
}

/// `POST /api/v1/incidents/{id}/postmortem/edit`: replaces the sections
/// given, adds and changes action items, moves its status.
pub async fn edit_postmortem(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    let bytes = crate::body::read_limited(&headers, raw, 1 << 20, "the postmortem API").await?;
    let e: Edit = serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_data(format!("postmortem edit: {e}")))?;
    let mut pm = load_postmortem(&state, id).await?;
    let pms = postmortems(&state)?;
    let now = state.clock.now_millis();
    let by = token.0.clone().unwrap_or_else(|| "api".into());
    let pm = blocking(move || {
        let events = postmortem::edit(&mut pm, &e, &by, now)?;
        pms.save_postmortem(&pm, &events).map_err(store_error)?;
        Ok(pm)
    })
    .await?;
    Ok(success(postmortem_json(&pm), Vec::new()))
}

/// `GET /api/v1/incidents/{id}/postmortem.md`: the postmortem as Markdown.
pub async fn postmortem_markdown(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let pm = load_postmortem(&state, id).await?;
    let repo = repo(&state)?;
    let i = blocking(move || fetch(repo.as_ref(), id)).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8")],
        postmortem::markdown(&pm, &i),
    )
        .into_response())
}

/// `GET /api/v1/postmortems/report`: SEV1/SEV2 incidents whose postmortem
/// is overdue, and every open action item (overdue ones marked).
pub async fn postmortem_report(State(state): State<AppState>) -> Result<Response, ApiError> {
    let repo = repo(&state)?;
    let pms = postmortems(&state)?;
    let now = state.clock.now_millis();
    let due_ms = state.learning.read().postmortem_due_ms;
    let today = jiff::Timestamp::from_millisecond(now)
        .map(|t| t.to_zoned(jiff::tz::TimeZone::UTC).date())
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let (late, open) = blocking(move || {
        let incidents = repo.incidents().map_err(store_error)?;
        let all = pms.postmortems().map_err(store_error)?;
        Ok((
            postmortem::overdue(&incidents, &all, due_ms, now),
            postmortem::open_items(&all, today),
        ))
    })
    .await?;
    let late: Vec<Value> = late
        .iter()
        .map(|o| {
            let mut v = json!(o);
            v["dueAt"] = json!(rfc3339(o.due_at));
            v
        })
        .collect();
    Ok(success(
        json!({"overduePostmortems": late, "openActionItems": open, "dueAfterResolutionSeconds": due_ms / 1000}),
        Vec::new(),
    ))
}

/// `GET /api/v1/dora[?service=|team=][&from=][&to=]`: DORA's metrics over
/// the period (default: the last 90 days) with their bands and a weekly
/// trend.
pub async fn dora_metrics(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let services = scope(&state, &params)?;
    let (from, to) = period(&state, &params, 90)?;
    let settings = state.learning.read().clone();
    let repo = repo(&state)?;
    let log = log(&state)?;
    let d = blocking(move || {
        dora::from_log(log.as_ref(), repo.as_ref(), services.as_deref(), (from, to), &settings).map_err(store_error)
    })
    .await?;
    let mut v = serde_json::to_value(&d).map_err(|e| ApiError::internal(e.to_string()))?;
    v["from"] = json!(rfc3339(d.from));
    v["to"] = json!(rfc3339(d.to));
    v["service"] = json!(params.get("service"));
    v["team"] = json!(params.get("team"));
    if let Some(weeks) = v["weekly"].as_array_mut() {
        for (w, dw) in weeks.iter_mut().zip(&d.weekly) {
            w["start"] = json!(rfc3339(dw.start));
        }
    }
    Ok(success(v, Vec::new()))
}
