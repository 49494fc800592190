//! Maintenance windows over HTTP: list them, record one, end one early,
//! withdraw one. Recording and withdrawing roll the service's SLOs back
//! so minutes already counted are counted again; the answer comes once
//! the change is durable.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use nines_slo::maintenance::{Applied, Maintenance, MaintenanceSpec};
use nines_slo::repo::StoredWindow;
use nines_slo::status::rfc3339;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::slo_api::control;
use crate::{ApiError, AppState};

/// Largest window request body: a window is a few hundred bytes.
const MAX_BODY: usize = 64 << 10;

/// Who did it: the token's name when tokens are configured (with the
/// person it speaks for, if given), else the person named.
pub(crate) fn actor(token: &Actor, claimed: Option<&str>, field: &str) -> Result<String, ApiError> {
    let claimed = claimed.map(str::trim).filter(|s| !s.is_empty());
    match (&token.0, claimed) {
        (Some(t), Some(c)) => Ok(format!("{c} (token {t})")),
        (Some(t), None) => Ok(format!("token {t}")),
        (None, Some(c)) => Ok(c.to_string()),
        (None, None) => Err(ApiError::bad_data(format!(
            "{field}: say who is doing this (the audit trail records it)"
        ))),
    }
}

fn from_slo_error(e: nines_slo::Error) -> ApiError {
    use nines_slo::Error as E;
    let status = match e {
        E::UnknownWindow(_) => StatusCode::NOT_FOUND,
        E::ConfigWindow(_) | E::WithdrawnWindow(_) => StatusCode::CONFLICT,
        E::Repo(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError {
        status,
        kind: if status == StatusCode::SERVICE_UNAVAILABLE {
            "unavailable"
        } else {
            "bad_data"
        },
        message: e.to_string(),
    }
}

/// A stored window as the API shows it: its record plus where it stands
/// now and its current or next occurrence.
pub fn window_json(w: &StoredWindow, now_ms: i64) -> Value {
    let applied = Applied::from_stored(w);
    let next = match &applied {
        Some(Ok(a)) => a.occurrences(now_ms, i64::MAX / 2).into_iter().next(),
        _ => None,
    };
    let state = match (&applied, next) {
        (None, _) => "withdrawn",
        (Some(Err(_)), _) => "invalid",
        (Some(Ok(_)), None) => "ended",
        (Some(Ok(_)), Some((start, _))) if start <= now_ms => "active",
        (Some(Ok(_)), Some(_)) => "scheduled",
    };
    json!({
        "id": w.id,
        "service": w.spec.service,
        "source": w.source,
        "state": state,
        "spec": w.spec,
        "next": next.map(|(s, e)| json!({"start": rfc3339(s), "end": rfc3339(e)})),
        "created_by": w.created_by,
        "created_at": rfc3339(w.created_at_ms),
        "ended_at": w.ended_at_ms.map(rfc3339),
        "ended_by": w.ended_by,
        "withdrawn": w.withdrawn,
    })
}

/// `GET /api/v1/maintenance[?service=S]`
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(board) = state.slos.clone() else {
        return Ok(success(json!([]), Vec::new()));
    };
    let repo = board.repo();
    let windows = run(move || repo.maintenance_windows()).await?;
    let now = state.clock.now_millis();
    let service = params.get("service");
    let data: Vec<Value> = windows
        .iter()
        .filter(|w| service.is_none_or(|s| &w.spec.service == s))
        .map(|w| window_json(w, now))
        .collect();
    Ok(success(Value::Array(data), Vec::new()))
}

/// The body of `POST /api/v1/maintenance`: a window plus who records it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewWindowBody {
    #[serde(flatten)]
    spec: MaintenanceSpec,
    #[serde(default)]
    created_by: Option<String>,
}

/// `POST /api/v1/maintenance`
pub async fn create(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let bytes = crate::body::read_limited(&headers, body, MAX_BODY, "the maintenance API").await?;
    let parsed: NewWindowBody =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_data(format!("maintenance window: {e}")))?;
    let by = actor(&token, parsed.created_by.as_deref(), "created_by")?;
    let maintenance = Maintenance::from_spec(parsed.spec).map_err(|problems| {
        let list: Vec<String> = problems.into_iter().map(|(f, m)| format!("{f}: {m}")).collect();
        ApiError::bad_data(format!("maintenance window: {}", list.join("; ")))
    })?;
    let control = control(&state)?;
    let stored = run(move || control.add_maintenance(maintenance, &by)).await?;
    let mut resp = success(window_json(&stored, state.clock.now_millis()), Vec::new());
    *resp.status_mut() = StatusCode::CREATED;
    Ok(resp)
}

/// Who ends or withdraws a window.
#[derive(Debug, Deserialize)]
pub struct ByParam {
    /// The person.
    pub by: Option<String>,
}

/// `POST /api/v1/maintenance/{id}/end[?by=NAME]`: ends it now.
pub async fn end(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    Query(by): Query<ByParam>,
) -> Result<Response, ApiError> {
    finish(state, token, id, by, false).await
}

/// `DELETE /api/v1/maintenance/{id}[?by=NAME]`: withdraws it.
pub async fn withdraw(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    Query(by): Query<ByParam>,
) -> Result<Response, ApiError> {
    finish(state, token, id, by, true).await
}

async fn finish(state: AppState, token: Actor, id: i64, by: ByParam, withdraw: bool) -> Result<Response, ApiError> {
    let by = actor(&token, by.by.as_deref(), "by")?;
    let control = control(&state)?;
    let stored = run(move || control.end_maintenance(id, &by, withdraw)).await?;
    Ok(success(window_json(&stored, state.clock.now_millis()), Vec::new()))
}

/// Runs SLO-state work off the async threads (it takes locks and syncs
/// the disk), mapping its errors to API answers.
pub(crate) async fn run<T: Send + 'static, E: Into<nines_slo::Error> + Send + 'static>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| from_slo_error(e.into()))
}
