//! Silences over HTTP, in Alertmanager's shapes (so its users and tools
//! read them without a translation): `POST /api/v1/silences` creates or
//! changes one, `GET /api/v1/silences` lists them, `DELETE
//! /api/v1/silences/{id}` expires one. Every change is durable before the
//! answer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use nines_routing::matchers::{matcher_json, op_from_flags, Matcher};
use nines_routing::silence::{Silence, SilenceError, SilenceRequest, Silences};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::maintenance_api::actor;
use crate::params::parse_rfc3339;
use crate::{rfc3339, ApiError, AppState};

/// A silence is a few hundred bytes; this leaves room for many matchers.
const MAX_BODY: usize = 256 << 10;

fn silences(state: &AppState) -> Result<Arc<Silences>, ApiError> {
    state
        .suppressor
        .as_ref()
        .map(|s| s.silences().clone())
        .ok_or_else(|| ApiError::unavailable("silences need the state store (a data directory)"))
}

fn from_silence_error(e: SilenceError) -> ApiError {
    match e {
        SilenceError::Invalid(m) => ApiError::bad_data(m),
        SilenceError::NotFound(_) => ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: e.to_string(),
        },
        SilenceError::Store(e) => ApiError::unavailable(e.to_string()),
    }
}

/// One matcher in Alertmanager's JSON.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MatcherBody {
    name: String,
    value: String,
    is_regex: bool,
    #[serde(default = "yes")]
    is_equal: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/v1/silences`'s body, Alertmanager's `postableSilence`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SilenceBody {
    #[serde(default)]
    id: Option<String>,
    matchers: Vec<MatcherBody>,
    #[serde(default)]
    starts_at: Option<String>,
    ends_at: String,
    #[serde(default)]
    created_by: Option<String>,
    comment: String,
}

/// A silence in Alertmanager's `gettableSilence` shape.
pub fn silence_json(s: &Silence, now: i64) -> Value {
    json!({
        "id": s.id,
        "status": {"state": s.state(now).name()},
        "updatedAt": rfc3339(s.updated_at),
        "matchers": s.matchers.iter().map(matcher_json).collect::<Vec<_>>(),
        "startsAt": rfc3339(s.starts_at),
        "endsAt": rfc3339(s.ends_at),
        "createdBy": s.created_by,
        "comment": s.comment,
    })
}

fn time(field: &str, text: &str) -> Result<i64, ApiError> {
    parse_rfc3339(text).ok_or_else(|| ApiError::bad_data(format!("{field}: {text:?} is not an RFC 3339 time")))
}

fn request(body: SilenceBody, created_by: String, now: i64) -> Result<SilenceRequest, ApiError> {
    let mut matchers = Vec::with_capacity(body.matchers.len());
    for (i, m) in body.matchers.into_iter().enumerate() {
        let op = op_from_flags(m.is_regex, m.is_equal);
        if m.name.is_empty() {
            return Err(ApiError::bad_data(format!(
                "matchers[{i}].name: a matcher needs a label name"
            )));
        }
        matchers
            .push(Matcher::new(op, m.name, m.value).map_err(|e| ApiError::bad_data(format!("matchers[{i}]: {e}")))?);
    }
    Ok(SilenceRequest {
        id: body.id.filter(|id| !id.is_empty()),
        matchers,
        starts_at: match &body.starts_at {
            Some(t) => time("startsAt", t)?,
            None => now,
        },
        ends_at: time("endsAt", &body.ends_at)?,
        created_by,
        comment: body.comment,
    })
}

/// `POST /api/v1/silences`: answers `{"silenceID": ...}` (new when the
/// change could not be made in place).
pub async fn create(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let silences = silences(&state)?;
    let bytes = crate::body::read_limited(&headers, body, MAX_BODY, "the silences API").await?;
    let parsed: SilenceBody =
        serde_json::from_slice(&bytes).map_err(|e| ApiError::bad_data(format!("silence: {e}")))?;
    let by = actor(&token, parsed.created_by.as_deref(), "createdBy")?;
    let now = state.clock.now_millis();
    let req = request(parsed, by.clone(), now)?;
    let store = silences.clone();
    let id = tokio::task::spawn_blocking(move || store.put(req, now))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(from_silence_error)?;
    let payload = silences.get(&id).map_or(json!({"id": id}), |s| silence_json(&s, now));
    let event = nines_learning::events::NewEvent {
        at: now,
        kind: "silence.created".into(),
        service: None,
        actor: Some(by),
        payload,
    };
    crate::events_api::record(state.events.clone(), event).await;
    Ok(success(json!({"silenceID": id}), Vec::new()))
}

/// `GET /api/v1/silences`: every silence, expired ones for 120 hours.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let silences = silences(&state)?;
    let now = state.clock.now_millis();
    let all: Vec<Value> = silences.list(now).iter().map(|s| silence_json(s, now)).collect();
    Ok(success(Value::Array(all), Vec::new()))
}

/// `GET /api/v1/silences/{id}`.
pub async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let silences = silences(&state)?;
    let found = silences
        .get(&id)
        .ok_or_else(|| from_silence_error(SilenceError::NotFound(id)))?;
    Ok(success(silence_json(&found, state.clock.now_millis()), Vec::new()))
}

/// `DELETE /api/v1/silences/{id}`: expires it now.
pub async fn expire(
    State(state): State<AppState>,
    Extension(token): Extension<Actor>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let silences = silences(&state)?;
    let now = state.clock.now_millis();
    let done = tokio::task::spawn_blocking(move || silences.expire(&id, now))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(from_silence_error)?;
    let body = silence_json(&done, now);
    let event = nines_learning::events::NewEvent {
        at: now,
        kind: "silence.expired".into(),
        service: None,
        actor: Some(token.0.unwrap_or_else(|| "api".into())),
        payload: body.clone(),
    };
    crate::events_api::record(state.events.clone(), event).await;
    Ok(success(body, Vec::new()))
}
