//! The Prometheus query API: `/api/v1/query`, `/api/v1/query_range`, and
//! the small status endpoints clients probe.

use axum::body::Body;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Extension;
use nines_promql::value::{Labels, Series, Value};
use nines_promql::{format_value, EvalError};
use serde_json::{json, Map};

use crate::error::{success, success_annotated, ApiError};
use crate::limits::PeerAddr;
use crate::metadata::params;
use crate::params::{time_param, Params};
use crate::AppState;

impl From<EvalError> for ApiError {
    fn from(e: EvalError) -> Self {
        let (status, kind) = match &e {
            EvalError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            EvalError::Execution(_) | EvalError::TooManySamples(_) | EvalError::TooMuchWork(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "execution")
            }
            EvalError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            // Prometheus's answer when the client went away; nobody reads it.
            EvalError::Canceled(_) => (StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST), "canceled"),
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

/// Calls its query off when dropped: the handler's future is dropped when
/// the client hangs up, and the query thread sees the flag at its next
/// step.
struct CancelOnDrop(Arc<AtomicBool>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs a query on its own thread with a large stack (parsing and
/// evaluation recurse as deep as the query nests), once the query gate
/// gives it a turn; the query is canceled if the caller stops waiting.
async fn on_query_thread<T: Send + 'static>(
    st: &AppState,
    peer: Option<PeerAddr>,
    mut engine: nines_promql::Engine,
    f: impl FnOnce(nines_promql::Engine) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let turn = st
        .query_gate
        .enter(peer.map(|p| p.0.ip()), engine.timeout)
        .await
        .map_err(|e| ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "timeout",
            message: e.to_string(),
        })?;
    let cancel = Arc::new(AtomicBool::new(false));
    engine.cancel = Some(cancel.clone());
    let _cancel_on_drop = CancelOnDrop(cancel);
    let (tx, rx) = tokio::sync::oneshot::channel();
    let gate = st.query_gate.clone();
    std::thread::Builder::new()
        .name("nines-query".into())
        .stack_size(nines_promql::QUERY_STACK_BYTES)
        .spawn(move || {
            // The turn is the thread's: a query keeps its place until it
            // has really stopped, canceled or not.
            let _turn = turn;
            gate.running.inc();
            let answer = f(engine);
            gate.running.dec();
            if tx.send(answer).is_err() {
                gate.canceled.inc();
            }
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
    peer: Option<Extension<PeerAddr>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let peer = peer.map(|Extension(p)| p);
    let p = params(&st, &method, &headers, q, body).await?;
    let query = query_text(&p)?;
    let t = time_param(&p, "time", st.clock.now_millis())?;
    let limit = limit_param(&p)?;
    let engine = engine_for(&st, &p)?;
    let db = st.db.clone();
    let evaluated = on_query_thread(&st, peer, engine, move |e| e.instant(db.as_ref(), &query, t)).await??;
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

/// What a range query asks for, checked: times within what Prometheus
/// represents, a positive step, at most 11,000 steps.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeParams {
    /// The query text.
    pub query: String,
    /// First step, ms.
    pub start: i64,
    /// Last step at or before this, ms.
    pub end: i64,
    /// Step width, ms (positive).
    pub step: i64,
}

impl RangeParams {
    /// Reads `query`, `start`, `end` and `step` as Prometheus does.
    pub fn parse(p: &Params) -> Result<Self, ApiError> {
        let query = query_text(p)?;
        let start = match p.get("start") {
            Some(v) if !v.is_empty() => time_param(p, "start", 0)?,
            _ => return Err(ApiError::bad_data("invalid parameter \"start\": start is required")),
        };
        let end = match p.get("end") {
            Some(v) if !v.is_empty() => time_param(p, "end", 0)?,
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
            .ok_or_else(|| {
                ApiError::bad_data("invalid parameter \"step\": cannot parse the step to a valid duration")
            })?;
        if step <= 0 {
            return Err(ApiError::bad_data(
                "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
            ));
        }
        // Prometheus's guard against absurd resolutions; wide arithmetic, as
        // the span of two extreme times does not fit i64.
        if (i128::from(end) - i128::from(start)) / i128::from(step) > nines_promql::MAX_RANGE_STEPS {
            return Err(ApiError::bad_data(
                "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
            ));
        }
        Ok(Self {
            query,
            start,
            end,
            step,
        })
    }
}

/// `GET`/`POST /api/v1/query_range`
pub async fn range(
    State(st): State<AppState>,
    peer: Option<Extension<PeerAddr>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let peer = peer.map(|Extension(p)| p);
    let p = params(&st, &method, &headers, q, body).await?;
    let RangeParams {
        query,
        start,
        end,
        step,
    } = RangeParams::parse(&p)?;
    let limit = limit_param(&p)?;
    let engine = engine_for(&st, &p)?;
    let db = st.db.clone();
    let evaluated = on_query_thread(&st, peer, engine, move |e| {
        e.range(db.as_ref(), &query, start, end, step)
    })
    .await??;
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn range_params(start: &str, end: &str, step: &str) -> Result<RangeParams, ApiError> {
        let query = format!("query=up&start={start}&end={end}&step={step}");
        RangeParams::parse(&Params::parse(query.as_bytes()))
    }

    proptest! {
        /// Whatever times and steps a client sends, an accepted range has
        /// a positive step, start before end, and at most 11,001 steps,
        /// counted without overflow; and an empty store answers it.
        #[test]
        fn accepted_ranges_are_bounded(
            start in prop_oneof![any::<f64>(), -1e16..1e16f64],
            end in prop_oneof![any::<f64>(), -1e16..1e16f64],
            step in prop_oneof![any::<f64>(), 0.0..1e16f64],
        ) {
            if let Ok(r) = range_params(&start.to_string(), &end.to_string(), &step.to_string()) {
                prop_assert!(r.step > 0 && r.start <= r.end);
                let steps = (i128::from(r.end) - i128::from(r.start)) / i128::from(r.step);
                prop_assert!(steps <= nines_promql::MAX_RANGE_STEPS);
                let storage = nines_promql::MemStorage::default();
                let answer = nines_promql::Engine::default().range(&storage, "up", r.start, r.end, r.step);
                prop_assert!(answer.is_ok(), "{answer:?}");
            }
        }
    }

    #[test]
    fn steps_across_the_whole_time_range_read_at_their_own_times() {
        // Two steps far apart: the batched and the step-by-step paths must
        // agree on where each step is (their distance overflows i64).
        let mut storage = nines_promql::MemStorage::default();
        let labels = vec![("__name__".to_string(), "up".to_string())].into();
        let start = nines_tsdb::MIN_TIMESTAMP_MS;
        let step = 6_000_000_000_000_000_000;
        let last = start + step + step;
        storage.add(labels, &[(start, 1.0), (start + step, 2.0), (last - 1, 3.0)]);
        let got = nines_promql::Engine::default()
            .range(&storage, "up", start, last, step)
            .unwrap();
        let points: Vec<f64> = got.value[0].points.iter().map(|p| p.1).collect();
        assert_eq!(points, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn the_range_that_killed_the_server_is_refused() {
        let e = range_params("-9000000000000000", "9000000000000000", "1").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("maximum resolution"), "{}", e.message);
    }
}
