//! Heartbeats over HTTP: `POST /api/v1/heartbeats/{name}` records a beat
//! (durably, before the answer) and resolves the heartbeat's alert;
//! `GET /api/v1/heartbeats` lists every heartbeat and whether it is missed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use nines_alerting::heartbeat::{BeatError, HeartbeatMonitor, HeartbeatStatus};
use serde_json::{json, Value};

use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

fn monitor(state: &AppState) -> Result<Arc<HeartbeatMonitor>, ApiError> {
    state
        .heartbeats
        .clone()
        .ok_or_else(|| ApiError::unavailable("heartbeats need the state store (a data directory)"))
}

fn status_json(s: &HeartbeatStatus) -> Value {
    json!({
        "name": s.name,
        "interval": nines_promql::format_duration_ms(s.interval_ms),
        "grace": nines_promql::format_duration_ms(s.grace_ms),
        "watchedSince": rfc3339(s.record.watched_since),
        "lastBeat": s.record.last_beat.map(rfc3339),
        "deadline": rfc3339(s.deadline),
        "missed": s.missed,
    })
}

/// `POST /api/v1/heartbeats/{name}`.
pub async fn beat(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let monitor = monitor(&state)?;
    let now = state.clock.now_millis();
    let status = tokio::task::spawn_blocking(move || monitor.beat(&name, now))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| match e {
            BeatError::Unknown(_) => ApiError {
                status: StatusCode::NOT_FOUND,
                kind: "not_found",
                message: e.to_string(),
            },
            BeatError::Store(e) => ApiError::unavailable(e.to_string()),
        })?;
    Ok(success(status_json(&status), Vec::new()))
}

/// `GET /api/v1/heartbeats`.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let monitor = monitor(&state)?;
    let now = state.clock.now_millis();
    let statuses = tokio::task::spawn_blocking(move || monitor.statuses(now))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(success(
        json!({"heartbeats": statuses.iter().map(status_json).collect::<Vec<_>>()}),
        Vec::new(),
    ))
}
