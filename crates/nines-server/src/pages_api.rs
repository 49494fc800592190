//! Pages over HTTP: `GET /api/v1/pages`, `GET /api/v1/pages/{id}` (with
//! its timeline), `POST /api/v1/pages/{id}/ack|resolve` (respond scope),
//! and the signed link a notification carries: `GET /p/{id}/ack` shows
//! what it will acknowledge (so a link preview acknowledges nothing) and
//! `POST /p/{id}/ack` does it.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use nines_oncall::page::{Page, PageStatus};
use nines_oncall::pager::{PageError, Pager};
use serde_json::{json, Value};

use crate::auth::Actor;
use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

const MAX_LIMIT: usize = 1000;

fn pager(state: &AppState) -> Result<Arc<Pager>, ApiError> {
    state
        .pager
        .clone()
        .ok_or_else(|| ApiError::unavailable("pages need the state store (a data directory)"))
}

fn page_error(e: PageError) -> ApiError {
    match e {
        PageError::NotFound(_) => ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: e.to_string(),
        },
        PageError::Resolved(_) => ApiError {
            status: StatusCode::CONFLICT,
            kind: "conflict",
            message: e.to_string(),
        },
        PageError::Store(e) => ApiError::unavailable(e.to_string()),
    }
}

/// A page as the API shows it.
pub fn page_json(p: &Page) -> Value {
    let annotation = |name: &str| p.annotation(name);
    json!({
        "id": p.id,
        "status": p.status.name(),
        "summary": p.summary,
        "impact": annotation("impact"),
        "playbook": annotation("playbook"),
        "runbookUrl": annotation("runbook_url"),
        "policy": p.policy,
        "receiver": p.receiver,
        "groupKey": p.group_key,
        "level": p.level + 1,
        "round": p.round + 1,
        "nextStepAt": p.next_at.map(rfc3339),
        "createdAt": rfc3339(p.created_at),
        "acknowledgedAt": p.acknowledged_at.map(rfc3339),
        "acknowledgedBy": p.acknowledged_by,
        "resolvedAt": p.resolved_at.map(rfc3339),
        "resolvedBy": p.resolved_by,
        "alerts": p.alerts.iter().map(|a| json!({
            "labels": a.labels,
            "annotations": a.annotations,
            "startsAt": rfc3339(a.starts_at),
            "source": a.source,
        })).collect::<Vec<_>>(),
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, PageError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(page_error)
}

/// `GET /api/v1/pages[?status=all|open|triggered|acknowledged|resolved][&limit=N]`,
/// newest first.
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let pager = pager(&state)?;
    let wanted: Option<Vec<PageStatus>> = match params.get("status").map(String::as_str) {
        None | Some("") | Some("all") => None,
        Some("open") => Some(vec![PageStatus::Triggered, PageStatus::Acknowledged]),
        Some(s) => Some(vec![PageStatus::parse(s).ok_or_else(|| {
            ApiError::bad_data(format!(
                "status: {s:?} is not all, open, triggered, acknowledged or resolved"
            ))
        })?]),
    };
    let limit = crate::params::limit(params.get("limit").map(String::as_str), 100, MAX_LIMIT)?;
    // The filter applies to the newest pages; open ones are few, so a
    // window of the limit's size is read and filtered.
    let pages = blocking(move || pager.recent(MAX_LIMIT.max(limit))).await?;
    let list: Vec<Value> = pages
        .iter()
        .filter(|p| wanted.as_ref().is_none_or(|w| w.contains(&p.status)))
        .take(limit)
        .map(page_json)
        .collect();
    Ok(success(json!({"pages": list}), Vec::new()))
}

/// `GET /api/v1/pages/{id}`: the page and its timeline.
pub async fn show(State(state): State<AppState>, Path(id): Path<i64>) -> Result<Response, ApiError> {
    let pager = pager(&state)?;
    let (page, events) = blocking(move || pager.get(id)).await?;
    let mut body = page_json(&page);
    body["timeline"] = json!(events
        .iter()
        .map(|e| json!({"at": rfc3339(e.at), "kind": e.kind, "detail": e.detail}))
        .collect::<Vec<_>>());
    Ok(success(body, Vec::new()))
}

/// Who is acting: `by` in the body, else the token's name, else `api`.
fn actor(body: &[u8], token: Option<Extension<Actor>>) -> Result<String, ApiError> {
    let by = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let v: Value = serde_json::from_slice(body).map_err(|e| ApiError::bad_data(format!("body: {e}")))?;
        match v.get("by") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 256 => Some(s.trim().to_string()),
            Some(_) => {
                return Err(ApiError::bad_data(
                    "by: must be a non-empty string of at most 256 bytes",
                ))
            }
        }
    };
    Ok(by
        .or_else(|| token.and_then(|Extension(Actor(name))| name))
        .unwrap_or_else(|| "api".into()))
}

/// What a responder does to a page.
#[derive(Clone, Copy)]
enum PageAction {
    Acknowledge,
    Resolve,
}

async fn respond(
    state: AppState,
    id: i64,
    token: Option<Extension<Actor>>,
    body: &[u8],
    what: PageAction,
) -> Result<Response, ApiError> {
    let pager = pager(&state)?;
    let by = actor(body, token)?;
    let now = state.clock.now_millis();
    let page = blocking(move || match what {
        PageAction::Acknowledge => pager.acknowledge(id, &by, now),
        PageAction::Resolve => pager.resolve(id, &by, now),
    })
    .await?;
    Ok(success(page_json(&page), Vec::new()))
}

/// `POST /api/v1/pages/{id}/ack`.
pub async fn ack(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    token: Option<Extension<Actor>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    respond(state, id, token, &body, PageAction::Acknowledge).await
}

/// `POST /api/v1/pages/{id}/resolve`.
pub async fn resolve(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    token: Option<Extension<Actor>>,
    body: axum::body::Bytes,
) -> Result<Response, ApiError> {
    respond(state, id, token, &body, PageAction::Resolve).await
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The link's user, if its signature holds and it has not expired.
fn link_user(state: &AppState, pager: &Pager, id: i64, params: &HashMap<String, String>) -> Option<String> {
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let user = get("user");
    pager
        .verify_ack_link(id, user, get("expires"), get("sig"), state.clock.now_millis())
        .then(|| user.to_string())
}

fn broken_link() -> Response {
    html(
        StatusCode::FORBIDDEN,
        "This link does not work",
        "<p>It has expired or was changed. Acknowledge with <code>nines page ack</code> instead.</p>",
    )
}

/// `GET /p/{id}/ack?user=&expires=&sig=`: a confirmation form.
pub async fn link_form(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let pager = pager(&state)?;
    let Some(user) = link_user(&state, &pager, id, &params) else {
        return Ok(broken_link());
    };
    let (page, _) = blocking(move || pager.get(id)).await?;
    let query: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            params
                .iter()
                .filter(|(k, _)| ["user", "expires", "sig"].contains(&k.as_str())),
        )
        .finish();
    let body = format!(
        "<p>{summary}</p><p>Status: {status}</p>\
         <form method=\"post\" action=\"/p/{id}/ack?{query}\"><button type=\"submit\">Acknowledge as {user}</button></form>",
        summary = escape(&page.summary),
        status = page.status.name(),
        query = escape(&query),
        user = escape(&user),
    );
    Ok(html(StatusCode::OK, &format!("Page #{id}"), &body))
}

/// `POST /p/{id}/ack?user=&expires=&sig=`.
pub async fn link_ack(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let pager = pager(&state)?;
    let Some(user) = link_user(&state, &pager, id, &params) else {
        return Ok(broken_link());
    };
    let now = state.clock.now_millis();
    let by = format!("{user} (ack link)");
    match blocking(move || pager.acknowledge(id, &by, now)).await {
        Ok(page) => Ok(html(
            StatusCode::OK,
            &format!("Page #{id} acknowledged"),
            &format!("<p>{}</p><p>Escalation has stopped.</p>", escape(&page.summary)),
        )),
        Err(e) if e.status == StatusCode::CONFLICT => Ok(html(
            StatusCode::CONFLICT,
            &format!("Page #{id} is already resolved"),
            "<p>Nothing to do.</p>",
        )),
        Err(e) => Err(e),
    }
}
