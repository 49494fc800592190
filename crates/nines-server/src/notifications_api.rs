//! `GET /api/v1/notifications[?limit=N]`: the delivery log, newest
//! first: what was sent (or is being retried, or was given up) to which
//! receiver, and what the last failed attempt got.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::response::Response;
use serde_json::{json, Value};

use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

/// Most deliveries one request lists.
const MAX_LIMIT: usize = 1000;

/// `GET /api/v1/notifications`.
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let repo = state
        .deliveries
        .clone()
        .ok_or_else(|| ApiError::unavailable("notifications need the state store (a data directory)"))?;
    let limit = crate::params::limit(params.get("limit").map(String::as_str), 100, MAX_LIMIT)?;
    let recent = tokio::task::spawn_blocking(move || repo.recent_deliveries(limit))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let list: Vec<Value> = recent
        .iter()
        .map(|d| {
            json!({
                "id": d.id,
                "groupKey": d.request.group_key,
                "receiver": d.request.receiver,
                "integration": d.request.integration,
                "target": d.request.target,
                "status": d.status.name(),
                "attempts": d.attempts,
                "createdAt": rfc3339(d.request.created_at),
                "updatedAt": rfc3339(d.updated_at),
                "nextAttemptAt": (d.status.name() == "pending").then(|| rfc3339(d.next_attempt_at)),
                "lastError": d.last_error,
            })
        })
        .collect();
    Ok(success(json!({"notifications": list}), Vec::new()))
}
