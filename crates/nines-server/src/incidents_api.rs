//! Incidents over HTTP: declare (`POST /api/v1/incidents`), list, show,
//! change (`POST /api/v1/incidents/{id}/update`) and add notes
//! (`POST /api/v1/incidents/{id}/notes`). Writes need the respond scope;
//! each is stored with its events in one transaction before the answer.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use nines_learning::incident::{self, Declare, Incident, IncidentError, IncidentRepository, Update};
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

const MAX_BODY: usize = 64 << 10;

fn repo(state: &AppState) -> Result<Arc<dyn IncidentRepository>, ApiError> {
    state
        .incidents
        .clone()
        .ok_or_else(|| ApiError::unavailable("incidents need the state store (a data directory)"))
}

fn incident_error(e: IncidentError) -> ApiError {
    match e {
        IncidentError::NotFound(_) => ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: e.to_string(),
        },
        IncidentError::Transition { .. } => ApiError {
            status: StatusCode::CONFLICT,
            kind: "conflict",
            message: e.to_string(),
        },
        IncidentError::Invalid(m) => ApiError::bad_data(m),
    }
}

/// An incident as the API shows it.
pub fn incident_json(i: &Incident) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "severity": i.severity.name(),
        "state": i.state.name(),
        "services": i.services,
        "commander": i.commander,
        "communications": i.communications,
        "scribe": i.scribe,
        "pages": i.pages,
        "statusUpdate": i.status_update,
        "declaredAt": rfc3339(i.declared_at),
        "declaredBy": i.declared_by,
        "updatedAt": rfc3339(i.updated_at),
        "milestones": i.milestones.iter().map(|m| json!({"state": m.state.name(), "at": rfc3339(m.at)})).collect::<Vec<_>>(),
    })
}

async fn body<T: serde::de::DeserializeOwned>(headers: &HeaderMap, body: Body, what: &str) -> Result<T, ApiError> {
    let bytes = crate::body::read_limited(headers, body, MAX_BODY, "the incidents API").await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_data(format!("{what}: {e}")))
}

fn actor(given: Option<&str>, token: &Actor) -> String {
    given
        .map(str::to_string)
        .or_else(|| token.0.clone())
        .unwrap_or_else(|| "api".into())
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IncidentError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(incident_error)
}

/// A write: reads the body, names who acts, runs `act` off the runtime
/// and answers with the incident as it now is.
async fn write<B>(
    state: AppState,
    token: Actor,
    headers: HeaderMap,
    raw: Body,
    what: &str,
    by: fn(&B) -> Option<&str>,
    act: impl FnOnce(&dyn IncidentRepository, B, String, i64) -> Result<Incident, IncidentError> + Send + 'static,
) -> Result<Response, ApiError>
where
    B: serde::de::DeserializeOwned + Send + 'static,
{
    let repo = repo(&state)?;
    let parsed: B = body(&headers, raw, what).await?;
    let who = actor(by(&parsed), &token);
    let now = state.clock.now_millis();
    let i = blocking(move || act(repo.as_ref(), parsed, who, now)).await?;
    Ok(success(incident_json(&i), Vec::new()))
}

/// `POST /api/v1/incidents`.
pub async fn declare(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    write(
        state,
        token,
        headers,
        raw,
        "incident",
        |d: &Declare| d.by.as_deref(),
        |repo, d, by, now| incident::declare(repo, &d, &by, now),
    )
    .await
}

/// `GET /api/v1/incidents[?state=open|all|STATE]`, newest first;
/// default: not closed.
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let repo = repo(&state)?;
    let wanted = params.get("state").map(String::as_str).unwrap_or("open").to_string();
    let all = blocking(move || repo.incidents().map_err(|e| IncidentError::Invalid(e.to_string()))).await?;
    let keep = |i: &&Incident| match wanted.as_str() {
        "all" => true,
        "open" => i.state != incident::State::Closed,
        s => i.state.name() == s,
    };
    if !["all", "open"].contains(&wanted.as_str()) && incident::State::parse(&wanted).is_none() {
        return Err(ApiError::bad_data(format!(
            "state: {wanted:?} is not open, all or a state"
        )));
    }
    let list: Vec<Value> = all.iter().filter(keep).map(incident_json).collect();
    Ok(success(json!({"incidents": list}), Vec::new()))
}

/// `GET /api/v1/incidents/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let repo = repo(&state)?;
    let i = blocking(move || {
        repo.incident(id)
            .map_err(|e| IncidentError::Invalid(e.to_string()))?
            .ok_or(IncidentError::NotFound(id))
    })
    .await?;
    Ok(success(incident_json(&i), Vec::new()))
}

/// `POST /api/v1/incidents/{id}/update`.
pub async fn update(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    write(
        state,
        token,
        headers,
        raw,
        "update",
        |u: &Update| u.by.as_deref(),
        move |repo, u, by, now| incident::update(repo, id, &u, &by, now),
    )
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    note: String,
    #[serde(default)]
    by: Option<String>,
}

/// `POST /api/v1/incidents/{id}/notes`.
pub async fn note(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    write(
        state,
        token,
        headers,
        raw,
        "note",
        |n: &NoteBody| n.by.as_deref(),
        move |repo, n, by, now| incident::note(repo, id, &n.note, &by, now),
    )
    .await
}
