//! Alerts from outside over HTTP: Alertmanager's webhook, PagerDuty's
//! Events API v2 and the generic JSON endpoint. A request is decoded as a
//! whole and written in one durable step before it is answered; a bad one
//! gets 400 saying what and where, and nothing changes.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nines_alerting::inbound::{
    decode_alertmanager, decode_generic, decode_pagerduty, InboundAlert, InboundChange, InboundRepository,
    InboundStatus,
};
use parking_lot::RwLock;
use serde_json::{json, Value};

use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

/// Largest integration request: Alertmanager sends whole groups.
const MAX_BODY: usize = 8 << 20;

/// How long resolved inbound alerts stay listed, as rule alerts do.
pub const RESOLVED_LISTED_MS: i64 = 15 * 60_000;

/// The inbound alert store and the integration settings.
pub struct InboundBoard {
    repo: Arc<dyn InboundRepository>,
    /// PagerDuty routing key → service.
    routing_keys: RwLock<HashMap<String, String>>,
    /// Told after every stored change (the notifier waits on it).
    changed: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
}

impl InboundBoard {
    /// A board over the store.
    pub fn new(repo: Arc<dyn InboundRepository>) -> Self {
        Self {
            repo,
            routing_keys: RwLock::default(),
            changed: std::sync::OnceLock::new(),
        }
    }

    /// Who to tell when inbound alerts change (set once).
    pub fn notify_changes_to(&self, changed: Arc<tokio::sync::Notify>) {
        let _ = self.changed.set(changed);
    }

    /// Replaces the PagerDuty routing keys (at start and reload).
    pub fn set_routing_keys(&self, keys: HashMap<String, String>) {
        *self.routing_keys.write() = keys;
    }

    /// Inbound alerts not resolved, or resolved less than 15 minutes
    /// before `now`.
    pub fn listed(&self, now: i64) -> Result<Vec<InboundAlert>, ApiError> {
        self.repo
            .inbound_alerts(now - RESOLVED_LISTED_MS)
            .map_err(|e| ApiError::unavailable(e.to_string()))
    }
}

fn board(state: &AppState) -> Result<Arc<InboundBoard>, ApiError> {
    state
        .inbound
        .clone()
        .ok_or_else(|| ApiError::unavailable("inbound alerts need the state store (a data directory)"))
}

async fn apply(board: Arc<InboundBoard>, changes: Vec<InboundChange>) -> Result<Vec<InboundAlert>, ApiError> {
    let repo = board.repo.clone();
    let applied = tokio::task::spawn_blocking(move || repo.apply_inbound(&changes))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    if let Some(changed) = board.changed.get() {
        changed.notify_one();
    }
    Ok(applied)
}

fn summary(applied: &[InboundAlert]) -> Value {
    json!({"alerts": applied.iter().map(|a| json!({"key": a.key, "status": a.status.name()})).collect::<Vec<_>>()})
}

/// `POST /api/v1/integrations/alertmanager`: an Alertmanager webhook
/// receiver (payload version 4).
pub async fn alertmanager(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let board = board(&state)?;
    let bytes = crate::body::read_limited(&headers, body, MAX_BODY, "the Alertmanager integration").await?;
    let changes = decode_alertmanager(&bytes, state.clock.now_millis()).map_err(|e| ApiError::bad_data(e.0))?;
    let applied = apply(board, changes).await?;
    Ok(success(summary(&applied), Vec::new()))
}

/// `POST /api/v1/integrations/generic`: nines's own JSON.
pub async fn generic(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let board = board(&state)?;
    let bytes = crate::body::read_limited(&headers, body, MAX_BODY, "the generic integration").await?;
    let changes = decode_generic(&bytes, state.clock.now_millis()).map_err(|e| ApiError::bad_data(e.0))?;
    let applied = apply(board, changes).await?;
    Ok(success(summary(&applied), Vec::new()))
}

/// PagerDuty's own error shape, which its client libraries read.
fn pagerduty_error(status: StatusCode, message: &str, errors: Vec<String>) -> Response {
    (
        status,
        axum::Json(json!({"status": "invalid event", "message": message, "errors": errors})),
    )
        .into_response()
}

/// `POST /api/v1/integrations/pagerduty` (and `/v2/enqueue`, PagerDuty's
/// path): an Events API v2 endpoint; `routing_key` selects the service.
pub async fn pagerduty(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let board = match board(&state) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let bytes = match crate::body::read_limited(&headers, body, MAX_BODY, "the PagerDuty integration").await {
        Ok(b) => b,
        Err(e) => return pagerduty_error(e.status, "Event object is invalid", vec![e.message]),
    };
    let decoded = {
        let keys = board.routing_keys.read();
        decode_pagerduty(&bytes, state.clock.now_millis(), |k| keys.get(k).cloned())
    };
    let event = match decoded {
        Ok(e) => e,
        Err(e) => return pagerduty_error(StatusCode::BAD_REQUEST, "Event object is invalid", vec![e.0]),
    };
    match apply(board, vec![event.change]).await {
        Ok(_) => (
            StatusCode::ACCEPTED,
            axum::Json(json!({"status": "success", "message": "Event processed", "dedup_key": event.dedup_key})),
        )
            .into_response(),
        Err(e) => pagerduty_error(e.status, "Event not stored", vec![e.message]),
    }
}

/// An inbound alert in `/api/v1/alerts`'s shape (always `firing`; the
/// integration and an acknowledgement are said besides).
pub fn alert_json(a: &InboundAlert) -> Option<Value> {
    (a.status != InboundStatus::Resolved).then(|| {
        json!({
            "labels": a.labels,
            "annotations": a.annotations,
            "state": "firing",
            "activeAt": rfc3339(a.starts_at),
            "value": "",
            "source": a.source.name(),
            "acknowledged": a.status == InboundStatus::Acknowledged,
        })
    })
}
