//! The release gate: `GET /api/v1/gate?service=X` decides from the last
//! evaluation, the service's budget policy and its overrides; overrides
//! are recorded, listed and revoked with an audit trail.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nines_slo::gate::{decide_with, Decision, NewOverride, Override, Reason, MAX_OVERRIDE_MS};
use nines_slo::maintenance::parse_time;
use nines_slo::status::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::maintenance_api::{actor, run, ByParam};
use crate::{ApiError, AppState};

/// `GET /api/v1/gate?service=S`: `{"decision", "reasons", ...}`. 404 when
/// the service has no SLO, 503 before its SLOs are first evaluated: the
/// gate cannot decide then, and says so rather than allowing.
pub async fn gate(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let service = params
        .get("service")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_data("service: which service is releasing? (?service=NAME)"))?
        .clone();
    let Some(board) = state.slos.clone() else {
        return Err(ApiError::unavailable(
            "SLO evaluation is not running (it needs a data directory)",
        ));
    };
    let latest = board.latest();
    let statuses: Vec<_> = latest.statuses.iter().filter(|s| s.service == service).collect();
    if statuses.is_empty() {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: format!("no SLO of service {service:?} is configured, so the gate cannot judge it"),
        });
    }
    if statuses.iter().any(|s| s.evaluated_at.is_empty()) {
        return Err(ApiError::unavailable(format!(
            "the SLOs of {service} have not been evaluated yet; ask again in a minute"
        )));
    }
    let gate_repo = board.gate();
    let overrides = run(move || gate_repo.overrides()).await?;
    let policies = board.policies();
    let incidents = open_major_incidents(&state, &service).await?;
    let now = state.clock.now_millis();
    let answer = decide_with(
        &service,
        policies.of(&service),
        &statuses,
        &latest.alerts,
        incidents,
        &overrides,
        now,
    );
    let decided = nines_learning::events::NewEvent {
        at: now,
        kind: "gate.decision".into(),
        service: Some(service.clone()),
        actor: token.0.clone().or_else(|| Some("api".into())),
        payload: json!({"decision": answer.decision.name(), "reasons": answer.reasons}),
    };
    crate::events_api::record(state.events.clone(), decided).await;
    Ok(axum::Json(answer).into_response())
}

/// A block for each open SEV1 or SEV2 incident affecting `service`.
async fn open_major_incidents(state: &AppState, service: &str) -> Result<Vec<Reason>, ApiError> {
    let Some(repo) = state.incidents.clone() else {
        return Ok(Vec::new());
    };
    let all =
        crate::incidents_api::blocking(move || repo.incidents().map_err(crate::incidents_api::store_error)).await?;
    let names = state.learning.read().severity_names.clone();
    Ok(all
        .iter()
        .filter(|i| i.severity.is_major() && i.is_open() && i.services.iter().any(|s| s == service))
        .map(|i| Reason {
            kind: "open_incident",
            decision: Decision::Block,
            message: format!(
                "incident {} ({}, {}) is open: {}",
                i.id,
                names.label(i.severity),
                i.state.name(),
                i.title
            ),
            slo: None,
        })
        .collect())
}

fn override_json(o: &Override, now_ms: i64) -> Value {
    json!({
        "id": o.id,
        "service": o.service,
        "reason": o.reason,
        "created_by": o.created_by,
        "created_at": rfc3339(o.created_at_ms),
        "until": rfc3339(o.until_ms),
        "active": o.active_at(now_ms),
        "revoked_at": o.revoked_at_ms.map(rfc3339),
        "revoked_by": o.revoked_by,
    })
}

/// `GET /api/v1/gate/overrides[?service=S]`: every override, oldest first.
pub async fn list_overrides(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(board) = state.slos.clone() else {
        return Ok(success(json!([]), Vec::new()));
    };
    let gate_repo = board.gate();
    let all = run(move || gate_repo.overrides()).await?;
    let now = state.clock.now_millis();
    let service = params.get("service");
    let data: Vec<Value> = all
        .iter()
        .filter(|o| service.is_none_or(|s| &o.service == s))
        .map(|o| override_json(o, now))
        .collect();
    Ok(success(Value::Array(data), Vec::new()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OverrideBody {
    service: String,
    reason: String,
    #[serde(default)]
    until: Option<String>,
    #[serde(default)]
    duration: Option<String>,
    #[serde(default)]
    created_by: Option<String>,
}

/// `POST /api/v1/gate/overrides`: lets `service` release through a block
/// until `until` (or for `duration`), at most 7 days.
pub async fn create_override(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = crate::body::read_limited(&headers, body, 64 << 10, "the gate API").await?;
    let b: OverrideBody =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_data(format!("gate override: {e}")))?;
    let by = actor(&token, b.created_by.as_deref(), "created_by")?;
    let now = state.clock.now_millis();
    if let Err(e) = nines_slo::spec::check_identifier(&b.service) {
        return Err(ApiError::bad_data(format!("service: {e}")));
    }
    if b.reason.trim().is_empty() {
        return Err(ApiError::bad_data("reason: say why the release goes through the block"));
    }
    let until_ms = match (b.until.as_deref(), b.duration.as_deref()) {
        (Some(u), None) => parse_time(u).map_err(|e| ApiError::bad_data(format!("until: {e}")))?,
        (None, Some(d)) => {
            let ms = nines_promql::parse_duration_ms(d)
                .filter(|ms| *ms > 0)
                .ok_or_else(|| ApiError::bad_data(format!("duration: {d:?} is not a duration")))?;
            now.saturating_add(ms)
        }
        _ => {
            return Err(ApiError::bad_data(
                "give until (RFC 3339) or duration (2h), one of them",
            ))
        }
    };
    if until_ms <= now || until_ms.saturating_sub(now) > MAX_OVERRIDE_MS {
        return Err(ApiError::bad_data(
            "until: an override ends in the future and at most 7 days from now",
        ));
    }
    let new = NewOverride {
        service: b.service,
        reason: b.reason,
        created_by: by,
        created_at_ms: now,
        until_ms,
    };
    let Some(board) = state.slos.clone() else {
        return Err(ApiError::unavailable(
            "SLO evaluation is not running (it needs a data directory)",
        ));
    };
    let gate_repo = board.gate();
    let created = run(move || {
        let id = gate_repo.add_override(&new)?;
        Ok::<_, nines_slo::repo::RepoError>(Override {
            id,
            service: new.service,
            reason: new.reason,
            created_by: new.created_by,
            created_at_ms: new.created_at_ms,
            until_ms: new.until_ms,
            revoked_at_ms: None,
            revoked_by: None,
        })
    })
    .await?;
    let mut resp = success(override_json(&created, now), Vec::new());
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// `DELETE /api/v1/gate/overrides/{id}[?by=NAME]`: revokes an override.
pub async fn revoke_override(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    Query(by): Query<ByParam>,
) -> Result<Response, ApiError> {
    let by = actor(&token, by.by.as_deref(), "by")?;
    let Some(board) = state.slos.clone() else {
        return Err(ApiError::unavailable(
            "SLO evaluation is not running (it needs a data directory)",
        ));
    };
    let now = state.clock.now_millis();
    let gate_repo = board.gate();
    let found = run(move || {
        if !gate_repo.revoke_override(id, &by, now)? {
            return Ok::<_, nines_slo::repo::RepoError>(None);
        }
        Ok(gate_repo.overrides()?.into_iter().find(|o| o.id == id))
    })
    .await?;
    match found {
        Some(o) => Ok(success(override_json(&o, now), Vec::new())),
        None => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: format!("no gate override with id {id}"),
        }),
    }
}
