//! Deploys and changes into the event log: `POST /api/v1/deploys`,
//! `POST /api/v1/changes` and GitHub's `deployment_status` webhook at
//! `POST /api/v1/integrations/github`. Appended before the answer; a
//! payload that does not read gets 400 and appends nothing.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use nines_learning::changes::{decode_change, decode_deploy, decode_github_deployment_status, DecodeError};
use nines_learning::events::{EventLog, NewEvent};
use serde_json::json;

use crate::error::success;
use crate::{ApiError, AppState};

/// A deploy with ten thousand commits fits.
const MAX_BODY: usize = 4 << 20;

fn log(state: &AppState) -> Result<Arc<dyn EventLog>, ApiError> {
    state
        .events
        .clone()
        .ok_or_else(|| ApiError::unavailable("deploys and changes need the state store (a data directory)"))
}

async fn read(headers: &HeaderMap, body: Body) -> Result<bytes::Bytes, ApiError> {
    crate::body::read_limited(headers, body, MAX_BODY, "the deploys and changes API").await
}

fn bad(e: DecodeError) -> ApiError {
    ApiError::bad_data(e.0)
}

async fn append(log: Arc<dyn EventLog>, event: NewEvent) -> Result<Response, ApiError> {
    let kind = event.kind.clone();
    let ids = tokio::task::spawn_blocking(move || log.append(&[event]))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(success(json!({"kind": kind, "id": ids.first()}), Vec::new()))
}

/// `POST /api/v1/deploys`.
pub async fn deploy(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let log = log(&state)?;
    let bytes = read(&headers, body).await?;
    let d = decode_deploy(&bytes, state.clock.now_millis()).map_err(bad)?;
    append(log, d.event()).await
}

/// `POST /api/v1/changes`.
pub async fn change(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let log = log(&state)?;
    let bytes = read(&headers, body).await?;
    let c = decode_change(&bytes, state.clock.now_millis()).map_err(bad)?;
    append(log, c.event()).await
}

/// `POST /api/v1/integrations/github`: `deployment_status` events that
/// finished become deploys; other events and states are acknowledged and
/// ignored (GitHub sends a `ping` when the hook is made).
pub async fn github(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let log = log(&state)?;
    let bytes = read(&headers, body).await?;
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("deployment_status");
    if event != "deployment_status" {
        return Ok(success(json!({"ignored": event}), Vec::new()));
    }
    match decode_github_deployment_status(&bytes, state.clock.now_millis()).map_err(bad)? {
        Some(d) => append(log, d.event()).await,
        None => Ok(success(json!({"ignored": "deployment not finished"}), Vec::new())),
    }
}
