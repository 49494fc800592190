//! On-call over HTTP: who is on call (`GET /api/v1/oncall`), the
//! schedules (`GET /api/v1/schedules`), a schedule's shifts over a period
//! (`GET /api/v1/schedules/{name}/shifts`) and its iCalendar feed
//! (`GET /api/v1/schedules/{name}/calendar.ics`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use nines_oncall::{Directory, OncallError, Schedule, Shift, ShiftSource};
use serde_json::{json, Value};

use crate::error::success;
use crate::{rfc3339, ApiError, AppState};

const DAY_MS: i64 = 86_400_000;

/// The directory in force; swapped whole on reload.
pub type SharedDirectory = Arc<parking_lot::RwLock<Arc<Directory>>>;

fn directory(state: &AppState) -> Arc<Directory> {
    state.oncall.read().clone()
}

fn time(params: &HashMap<String, String>, key: &str, default: i64) -> Result<i64, ApiError> {
    Ok(crate::events_api::time(params, key)?.unwrap_or(default))
}

/// Longest period one on-call load request may cover: its weeks and pages
/// are counted over the whole of it.
const MAX_LOAD_SPAN_MS: i64 = 2 * 366 * DAY_MS;

fn oncall_error(e: OncallError) -> ApiError {
    match e {
        OncallError::UnknownSchedule(_) => ApiError {
            status: StatusCode::NOT_FOUND,
            kind: "not_found",
            message: e.to_string(),
        },
        OncallError::Period(_) => ApiError::bad_data(e.to_string()),
    }
}

/// A user as the API shows them.
pub fn user_json(dir: &Directory, name: &str) -> Value {
    match dir.users.get(name) {
        Some(u) => json!({
            "name": u.name,
            "fullName": u.full_name,
            "email": u.email,
            "timeZone": u.time_zone,
        }),
        None => json!({"name": name}),
    }
}

fn shift_json(dir: &Directory, s: &Shift) -> Value {
    let (source, layer) = match &s.source {
        ShiftSource::Layer(_, name) => ("layer", Some(name.as_str())),
        ShiftSource::Override => ("override", None),
    };
    json!({
        "user": user_json(dir, &s.user),
        "start": rfc3339(s.start_ms),
        "end": rfc3339(s.end_ms),
        "source": source,
        "layer": layer,
    })
}

/// `GET /api/v1/oncall[?schedule=X][&at=T]`: one entry per schedule,
/// `shift: null` where nobody is on call.
pub async fn who(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let dir = directory(&state);
    let at = time(&params, "at", state.clock.now_millis())?;
    let schedules: Vec<&Schedule> = match params.get("schedule") {
        Some(name) => vec![dir.schedule(name).map_err(oncall_error)?],
        None => dir.schedules.values().collect(),
    };
    let mut out = Vec::new();
    for s in schedules {
        let shift = s.at(at, &[]).map_err(oncall_error)?;
        out.push(json!({
            "schedule": s.name,
            "team": s.team,
            "timeZone": s.time_zone,
            "shift": shift.as_ref().map(|sh| shift_json(&dir, sh)),
        }));
    }
    Ok(success(json!({"at": rfc3339(at), "oncall": out}), Vec::new()))
}

/// `GET /api/v1/schedules`.
pub async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let dir = directory(&state);
    let now = state.clock.now_millis();
    let list: Vec<Value> = dir
        .schedules
        .values()
        .map(|s| {
            json!({
                "name": s.name,
                "team": s.team,
                "timeZone": s.time_zone,
                "calendarUrl": state.pager.as_ref().map(|p| p.calendar_url(&s.name, now)),
                "layers": s.layers.iter().map(|l| json!({
                    "name": l.name,
                    "participants": l.participants,
                    "shiftLength": nines_promql::format_duration_ms(l.shift_minutes * 60_000),
                    "start": l.start.to_string(),
                    "timeZone": l.tz.iana_name(),
                    "restricted": l.restriction.is_some(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(success(json!({"schedules": list}), Vec::new()))
}

/// The schedule and period a shifts request names.
fn period(
    state: &AppState,
    name: &str,
    params: &HashMap<String, String>,
    before_days: i64,
    after_days: i64,
) -> Result<(Arc<Directory>, Vec<Shift>), ApiError> {
    let dir = directory(state);
    let now = state.clock.now_millis();
    let start = time(params, "start", now.saturating_sub(before_days * DAY_MS))?;
    let end = time(params, "end", start.max(now).saturating_add(after_days * DAY_MS))?;
    let shifts = dir
        .schedule(name)
        .map_err(oncall_error)?
        .shifts(start, end, &[])
        .map_err(oncall_error)?;
    Ok((dir, shifts))
}

/// `GET /api/v1/schedules/{name}/shifts[?start=T][&end=T]`: by default
/// the next seven days.
pub async fn shifts(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (dir, shifts) = period(&state, &name, &params, 0, 7)?;
    let zone = dir.schedule(&name).map(|s| s.time_zone.clone()).unwrap_or_default();
    Ok(success(
        json!({
            "schedule": name,
            "timeZone": zone,
            "shifts": shifts.iter().map(|s| shift_json(&dir, s)).collect::<Vec<_>>(),
        }),
        Vec::new(),
    ))
}

/// `GET /p/schedules/{name}/calendar.ics?sig=…`: the same feed for
/// calendar apps, which cannot send a token: the signature (given in
/// `/api/v1/schedules` as `calendarUrl`) opens this one schedule's feed.
pub async fn signed_calendar(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let sig = params.get("sig").map(String::as_str).unwrap_or("");
    let expires = params.get("expires").map(String::as_str).unwrap_or("");
    let now = state.clock.now_millis();
    let genuine = state
        .pager
        .as_ref()
        .is_some_and(|p| p.verify_calendar(&name, expires, sig, now));
    if !genuine {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            kind: "forbidden",
            message: "this calendar link is not signed for this schedule or has expired; \
                      GET /api/v1/schedules for a fresh one"
                .into(),
        });
    }
    calendar(State(state), Path(name), Query(params)).await
}

/// `GET /api/v1/schedules/{name}/calendar.ics[?start=T][&end=T]`: by
/// default from 30 days ago to 180 days ahead.
pub async fn calendar(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (dir, shifts) = period(&state, &name, &params, 30, 180)?;
    let schedule = dir.schedule(&name).map_err(oncall_error)?;
    let body = nines_oncall::ical::calendar(schedule, &shifts, &dir.users, state.clock.now_millis());
    Ok((
        [
            (header::CONTENT_TYPE, "text/calendar; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "inline; filename=\"calendar.ics\""),
        ],
        body,
    )
        .into_response())
}

/// `GET /api/v1/oncall/load[?start=T][&end=T]`: by default the last 28
/// days.
pub async fn load(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let pager = state
        .pager
        .clone()
        .ok_or_else(|| ApiError::unavailable("on-call load needs the state store (a data directory)"))?;
    let now = state.clock.now_millis();
    let end = time(&params, "end", now)?;
    let start = time(&params, "start", end.saturating_sub(28 * DAY_MS))?;
    if end <= start {
        return Err(ApiError::bad_data("the end must be after the start"));
    }
    if end.saturating_sub(start) > MAX_LOAD_SPAN_MS {
        return Err(ApiError::bad_data("start, end: at most two years at a time"));
    }
    let dir = directory(&state);
    let history = tokio::task::spawn_blocking(move || pager.history(start, end))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let load = nines_oncall::load::load(&dir, &history, start, end).map_err(oncall_error)?;
    let max = nines_oncall::load::MAX_PAGES_PER_SHIFT;
    let (from_h, to_h) = nines_oncall::load::BUSINESS_HOURS;
    Ok(success(
        json!({
            "start": rfc3339(start),
            "end": rfc3339(end),
            "guidance": {
                "maxPagesPerShift": max,
                "businessHours": format!("Monday to Friday, {from_h:02}:00 to {to_h:02}:00 in each person's time zone"),
            },
            "people": load.people.iter().map(|p| json!({
                "user": user_json(&dir, &p.user),
                "pages": p.pages,
                "pagesPerWeek": (p.pages_per_week * 100.0).round() / 100.0,
                "outOfHours": p.out_of_hours,
                "acknowledged": p.acknowledged,
                "medianTimeToAckSeconds": p.median_time_to_ack_ms.map(|ms| ms as f64 / 1000.0),
            })).collect::<Vec<_>>(),
            "shifts": load.shifts.iter().map(|s| json!({
                "schedule": s.schedule,
                "user": s.user,
                "start": rfc3339(s.start_ms),
                "end": rfc3339(s.end_ms),
                "pages": s.pages,
                "overGuidance": s.pages > max,
            })).collect::<Vec<_>>(),
            "shiftsTotal": load.shifts_total,
            "shiftsOverGuidance": load.over_guidance().count(),
        }),
        Vec::new(),
    ))
}
