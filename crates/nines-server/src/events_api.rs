//! `GET /api/v1/events`: the event log, oldest first, filtered by
//! service, kind (`kind=page.acknowledged`, or `kind=page.` for every page
//! event; repeated or comma-separated), time and id; and `record`, which
//! handlers use to append what they did.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::response::Response;
use nines_learning::events::{Event, EventLog, EventQuery, NewEvent, MAX_LIMIT};
use serde_json::{json, Value};

use crate::error::success;
use crate::params::parse_time;
use crate::{rfc3339, ApiError, AppState};

/// Appends `event` off the async runtime; a failure is logged, not
/// returned: the action it records has already happened.
pub async fn record(log: Option<Arc<dyn EventLog>>, event: NewEvent) {
    let Some(log) = log else { return };
    let kind = event.kind.clone();
    match tokio::task::spawn_blocking(move || log.append(&[event])).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => tracing::error!(kind, "appending to the event log failed: {e}"),
        Err(e) => tracing::error!(kind, "appending to the event log failed: {e}"),
    }
}

/// An event as the API shows it.
pub fn event_json(e: &Event) -> Value {
    json!({
        "id": e.id,
        "at": rfc3339(e.event.at),
        "kind": e.event.kind,
        "service": e.event.service,
        "actor": e.event.actor,
        "payload": e.event.payload,
    })
}

/// Most `kind` values one events request may name (there are fewer kinds
/// than this).
pub const MAX_KINDS: usize = 100;

/// A time parameter (RFC 3339 or Unix seconds), when given.
pub(crate) fn time(params: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ApiError> {
    params
        .get(key)
        .filter(|v| !v.is_empty())
        .map(|v| {
            parse_time(v).ok_or_else(|| ApiError::bad_data(format!("{key}: {v:?} is not RFC 3339 or Unix seconds")))
        })
        .transpose()
}

/// `GET /api/v1/events[?service=][&kind=][&from=][&to=][&after=ID][&limit=N]`.
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, ApiError> {
    let log = state
        .events
        .clone()
        .ok_or_else(|| ApiError::unavailable("the event log needs the state store (a data directory)"))?;
    let kinds: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "kind")
        .flat_map(|(_, v)| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from))
        .collect();
    if kinds.len() > MAX_KINDS {
        return Err(ApiError::bad_data(format!(
            "kind: {} values, more than the limit of {MAX_KINDS}",
            kinds.len()
        )));
    }
    let single: HashMap<String, String> = params.into_iter().filter(|(k, _)| k != "kind").collect();
    let after = single
        .get("after")
        .map(|a| {
            a.parse::<i64>()
                .map_err(|_| ApiError::bad_data(format!("after: {a:?} is not an event id")))
        })
        .transpose()?;
    let query = EventQuery {
        service: single.get("service").cloned().filter(|s| !s.is_empty()),
        kinds,
        from: time(&single, "from")?,
        to: time(&single, "to")?,
        after,
        limit: crate::params::limit(single.get("limit").map(String::as_str), 1000, MAX_LIMIT)?,
        ..Default::default()
    };
    let events = tokio::task::spawn_blocking(move || log.events(&query))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    Ok(success(
        json!({"events": events.iter().map(event_json).collect::<Vec<_>>()}),
        Vec::new(),
    ))
}
