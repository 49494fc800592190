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
use nines_learning::events::{EventLog, EventQuery};
use nines_learning::incident::{
    self, Act, Declare, Incident, IncidentError, IncidentRepository, SeverityNames, Update,
};
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

const MAX_BODY: usize = 64 << 10;

/// The incident store.
pub fn repo(state: &AppState) -> Result<Arc<dyn IncidentRepository>, ApiError> {
    state
        .incidents
        .clone()
        .ok_or_else(|| ApiError::unavailable("incidents need the state store (a data directory)"))
}

/// A storage failure, as an incident error (answered 400 with its words
/// like the other errors the incident rules give).
pub fn store_error(e: impl std::fmt::Display) -> IncidentError {
    IncidentError::Invalid(e.to_string())
}

/// One incident, or `NotFound`.
pub fn fetch(repo: &dyn IncidentRepository, id: i64) -> Result<Incident, IncidentError> {
    repo.incident(id)
        .map_err(store_error)?
        .ok_or(IncidentError::NotFound(id))
}

/// The answer an incident error gets.
pub fn incident_error(e: IncidentError) -> ApiError {
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
pub fn incident_json(i: &Incident, names: &SeverityNames) -> Value {
    json!({
        "id": i.id,
        "title": i.title,
        "severity": i.severity.name(),
        "severityName": names.label(i.severity),
        "startedAt": i.started_at.map(rfc3339),
        "causedBy": i.caused_by,
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

/// Runs `f` off the runtime.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, IncidentError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(incident_error)
}

/// A write: names who acts, runs `act` off the runtime and answers with
/// the incident as it now is.
async fn write<B>(
    state: AppState,
    token: Actor,
    parsed: B,
    by: fn(&B) -> Option<&str>,
    act: impl for<'a> FnOnce(&'a dyn IncidentRepository, B, Act<'a>) -> Result<Incident, IncidentError> + Send + 'static,
) -> Result<Response, ApiError>
where
    B: serde::de::DeserializeOwned + Send + 'static,
{
    let repo = repo(&state)?;
    let who = actor(by(&parsed), &token);
    let now = state.clock.now_millis();
    let names = state.learning.read().severity_names.clone();
    let shown = names.clone();
    let i = blocking(move || {
        let act_as = Act {
            by: &who,
            now,
            names: &names,
        };
        act(repo.as_ref(), parsed, act_as)
    })
    .await?;
    Ok(success(incident_json(&i, &shown), Vec::new()))
}

/// Refuses deploy ids that are not deploys in the log.
async fn check_deploys(state: &AppState, ids: &[i64], what: &str) -> Result<(), ApiError> {
    if ids.is_empty() {
        return Ok(());
    }
    let log: Arc<dyn EventLog> = state
        .events
        .clone()
        .ok_or_else(|| ApiError::unavailable("the event log needs the state store (a data directory)"))?;
    let query = EventQuery {
        kinds: vec!["deploy".into()],
        ids: ids.to_vec(),
        limit: ids.len(),
        ..Default::default()
    };
    let found = blocking(move || log.events(&query).map_err(store_error)).await?;
    match ids.iter().find(|id| !found.iter().any(|e| e.id == **id)) {
        Some(id) => Err(ApiError::bad_data(format!("{what}: event {id} is not a deploy"))),
        None => Ok(()),
    }
}

/// `POST /api/v1/incidents`.
pub async fn declare(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    let d: Declare = body(&headers, raw, "incident").await?;
    check_deploys(&state, &d.caused_by, "causedBy").await?;
    write(
        state,
        token,
        d,
        |d: &Declare| d.by.as_deref(),
        |repo, d, act| incident::declare(repo, &d, act),
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
    let all = blocking(move || repo.incidents().map_err(store_error)).await?;
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
    let names = state.learning.read().severity_names.clone();
    let list: Vec<Value> = all.iter().filter(keep).map(|i| incident_json(i, &names)).collect();
    Ok(success(json!({"incidents": list}), Vec::new()))
}

/// `GET /api/v1/incidents/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let repo = repo(&state)?;
    let i = blocking(move || fetch(repo.as_ref(), id)).await?;
    let names = state.learning.read().severity_names.clone();
    Ok(success(incident_json(&i, &names), Vec::new()))
}

/// `POST /api/v1/incidents/{id}/update`.
pub async fn update(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<i64>,
    headers: HeaderMap,
    raw: Body,
) -> Result<Response, ApiError> {
    let u: Update = body(&headers, raw, "update").await?;
    check_deploys(&state, &u.add_caused_by, "addCausedBy").await?;
    write(
        state,
        token,
        u,
        |u: &Update| u.by.as_deref(),
        move |repo, u, act| incident::update(repo, id, &u, act),
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
    let n: NoteBody = body(&headers, raw, "note").await?;
    write(
        state,
        token,
        n,
        |n: &NoteBody| n.by.as_deref(),
        move |repo, n, act| incident::note(repo, id, &n.note, act),
    )
    .await
}
