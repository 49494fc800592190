//! The Prometheus query API: `/api/v1/query`, `/api/v1/query_range`, and
//! the small status endpoints clients probe.

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use nines_promql::value::{Labels, Series, Value};
use nines_promql::{format_value, EvalError};
use serde_json::{json, Map};

use crate::error::{success, success_annotated, ApiError};
use crate::metadata::params;
use crate::params::{time_param, Params};
use crate::AppState;

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        let (status, kind) = match &e {
            EvalError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            EvalError::Execution(_) | EvalError::TooManySamples(_) => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            EvalError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            EvalError::Storage(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            kind,
            message: e.to_string(),
        }
    }
}

/// Parses `15s`, `1m30s` or float seconds into milliseconds (not negative).
pub fn parse_duration_param(v: &str) -> Option<i64> {
    nines_promql::parse_duration_ms(v).filter(|ms| *ms >= 0)
}

fn seconds(ms: i64) -> serde_json::Value {
    // Prometheus writes times as seconds with millisecond precision.
    let v = ms as f64 / 1000.0;
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

fn metric(labels: &Labels) -> serde_json::Value {
    let map: Map<String, serde_json::Value> = labels
        .iter()
        .map(|(n, v)| (n.clone(), serde_json::Value::from(v.as_str())))
        .collect();
    serde_json::Value::Object(map)
}

fn matrix_json(series: &[Series]) -> serde_json::Value {
    serde_json::Value::Array(
        series
            .iter()
            .map(|s| {
                json!({
                    "metric": metric(&s.labels),
                    "values": s.points.iter().map(|(t, v)| json!([seconds(*t), format_value(*v)])).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

/// Runs a query on its own thread with a large stack: parsing and
/// evaluation recurse as deep as the query nests.
async fn on_query_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("nines-query".into())
        .stack_size(nines_promql::QUERY_STACK_BYTES)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .map_err(|e| ApiError::internal(format!("cannot start a query thread: {e}")))?;
    rx.await
        .map_err(|_| ApiError::internal("query thread ended without an answer"))
}

fn limit_param(p: &Params) -> Result<usize, ApiError> {
    match p.get("limit") {
        None | Some("") => Ok(0),
        Some(v) => v.parse().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": {v:?} is not a non-negative integer"
            ))
        }),
    }
}

fn query_text(p: &Params) -> Result<String, ApiError> {
    p.get("query")
        .filter(|q| !q.is_empty())
        .map(str::to_string)
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"query\": query is required"))
}

fn engine_for(st: &AppState, p: &Params) -> Result<nines_promql::Engine, ApiError> {
    let mut engine = (*st.engine).clone();
    if let Some(t) = p.get("timeout").filter(|t| !t.is_empty()) {
        let ms = parse_duration_param(t)
            .ok_or_else(|| ApiError::bad_data(format!("invalid parameter \"timeout\": cannot parse {t:?}")))?;
        engine.timeout = engine.timeout.min(std::time::Duration::from_millis(ms as u64));
    }
    Ok(engine)
}

fn truncation_warning(n: usize, limit: usize) -> Vec<String> {
    if limit > 0 && n > limit {
        vec![format!("results truncated due to limit of {limit} series")]
    } else {
        Vec::new()
    }
}

/// `GET`/`POST /api/v1/query`
pub async fn instant(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let p = params(&st, &method, &headers, q, body).await?;
    let query = query_text(&p)?;
    let t = time_param(&p, "time", st.clock.now_millis())?;
    let limit = limit_param(&p)?;
    let engine = engine_for(&st, &p)?;
    let db = st.db.clone();
    let evaluated = on_query_thread(move || engine.instant(db.as_ref(), &query, t)).await??;
    let mut warnings = evaluated.annotations.warnings;
    let data = match evaluated.value {
        Value::Scalar(v) => json!({"resultType": "scalar", "result": [seconds(t), format_value(v)]}),
        Value::String(s) => json!({"resultType": "string", "result": [seconds(t), s]}),
        Value::Vector(mut v) => {
            warnings.extend(truncation_warning(v.len(), limit));
            if limit > 0 {
                v.truncate(limit);
            }
            let result: Vec<serde_json::Value> = v
                .iter()
                .map(|s| json!({"metric": metric(&s.labels), "value": [seconds(t), format_value(s.value)]}))
                .collect();
            json!({"resultType": "vector", "result": result})
        }
        Value::Matrix(mut m) => {
            warnings.extend(truncation_warning(m.len(), limit));
            if limit > 0 {
                m.truncate(limit);
            }
            json!({"resultType": "matrix", "result": matrix_json(&m)})
        }
    };
    Ok(success_annotated(data, warnings, evaluated.annotations.infos))
}

/// `GET`/`POST /api/v1/query_range`
pub async fn range(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let p = params(&st, &method, &headers, q, body).await?;
    let query = query_text(&p)?;
    let start = match p.get("start") {
        Some(v) if !v.is_empty() => time_param(&p, "start", 0)?,
        _ => return Err(ApiError::bad_data("invalid parameter \"start\": start is required")),
    };
    let end = match p.get("end") {
        Some(v) if !v.is_empty() => time_param(&p, "end", 0)?,
        _ => return Err(ApiError::bad_data("invalid parameter \"end\": end is required")),
    };
    if end < start {
        return Err(ApiError::bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    let step = p
        .get("step")
        .filter(|s| !s.is_empty())
        .and_then(parse_duration_param)
        .ok_or_else(|| ApiError::bad_data("invalid parameter \"step\": cannot parse the step to a valid duration"))?;
    if step <= 0 {
        return Err(ApiError::bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus's guard against absurd resolutions.
    if (end - start) / step > 11_000 {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let limit = limit_param(&p)?;
    let engine = engine_for(&st, &p)?;
    let db = st.db.clone();
    let evaluated = on_query_thread(move || engine.range(db.as_ref(), &query, start, end, step)).await??;
    let mut series = evaluated.value;
    let mut warnings = evaluated.annotations.warnings;
    warnings.extend(truncation_warning(series.len(), limit));
    if limit > 0 {
        series.truncate(limit);
    }
    Ok(success_annotated(
        json!({"resultType": "matrix", "result": matrix_json(&series)}),
        warnings,
        evaluated.annotations.infos,
    ))
}

/// `GET /api/v1/status/buildinfo`
pub async fn buildinfo() -> Response {
    success(
        json!({
            "application": "nines",
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        Vec::new(),
    )
}

/// `GET /api/v1/metadata`: nines keeps no metric metadata yet; the answer
/// is well-formed and empty.
pub async fn metadata() -> Response {
    success(json!({}), Vec::new())
}
