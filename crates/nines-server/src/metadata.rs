//! The Prometheus metadata API: series, label names, label values.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use serde_json::{json, Value};

use crate::body::read_limited;
use crate::error::{success, ApiError};
use crate::params::{selectors, time_param, Params, Selector};
use crate::query::select_union;
use crate::AppState;

/// Query string plus, for POST, a form body.
pub(crate) async fn params(
    st: &AppState,
    method: &Method,
    headers: &HeaderMap,
    query: Option<String>,
    body: Body,
) -> Result<Params, ApiError> {
    let mut p = Params::parse(query.unwrap_or_default().as_bytes());
    if method == Method::POST {
        let bytes = read_limited(headers, body, st.limits.max_body_bytes, "ingest.max_body_size").await?;
        p.extend(Params::parse(&bytes));
    }
    Ok(p)
}

struct Common {
    selectors: Vec<Selector>,
    start: i64,
    end: i64,
    limit: usize,
}

fn common(p: &Params) -> Result<Common, ApiError> {
    let limit = match p.get("limit") {
        None | Some("") => 0,
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError::bad_data(format!(
                "invalid parameter \"limit\": {v:?} is not a non-negative integer"
            ))
        })?,
    };
    let start = time_param(p, "start", i64::MIN)?;
    let end = time_param(p, "end", i64::MAX)?;
    if end < start {
        return Err(ApiError::bad_data("end timestamp must not be before start time"));
    }
    Ok(Common {
        selectors: selectors(p)?,
        start,
        end,
        limit,
    })
}

fn limited(mut items: Vec<Value>, limit: usize) -> Response {
    let mut warnings = Vec::new();
    if limit > 0 && items.len() > limit {
        items.truncate(limit);
        warnings.push("results truncated due to limit".to_string());
    }
    success(Value::Array(items), warnings)
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("task failed: {e}")))?
}

/// `GET|POST /api/v1/series`
pub async fn series(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let c = common(&params(&st, &method, &headers, q, body).await?)?;
    if c.selectors.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let db = st.db.clone();
    let items = blocking(move || {
        let found = select_union(&db, &c.selectors, c.start, c.end)?;
        Ok(found
            .iter()
            .map(|s| {
                Value::Object(
                    s.labels()
                        .iter()
                        .map(|l| (l.name.clone(), Value::String(l.value.clone())))
                        .collect(),
                )
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(limited(items, c.limit))
}

/// `GET|POST /api/v1/labels`
pub async fn labels(
    State(st): State<AppState>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Body,
) -> Result<Response, ApiError> {
    let c = common(&params(&st, &method, &headers, q, body).await?)?;
    let db = st.db.clone();
    let names = blocking(move || {
        if c.selectors.is_empty() {
            return Ok(db.label_names(&[], c.start, c.end)?);
        }
        let found = select_union(&db, &c.selectors, c.start, c.end)?;
        let names: BTreeSet<String> = found
            .iter()
            .flat_map(|s| s.labels().iter().map(|l| l.name.clone()).collect::<Vec<_>>())
            .collect();
        Ok(names.into_iter().collect())
    })
    .await?;
    Ok(limited(names.into_iter().map(Value::String).collect(), c.limit))
}

/// `GET /api/v1/label/{name}/values`
pub async fn label_values(
    State(st): State<AppState>,
    Path(name): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if !nines_tsdb::is_valid_label_name(&name) {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let c = common(&Params::parse(q.unwrap_or_default().as_bytes()))?;
    let db = st.db.clone();
    let values = blocking(move || {
        if c.selectors.is_empty() {
            return Ok(db.label_values(&name, &[], c.start, c.end)?);
        }
        let found = select_union(&db, &c.selectors, c.start, c.end)?;
        let values: BTreeSet<String> = found
            .iter()
            .filter_map(|s| s.labels().get(&name).map(str::to_string))
            .collect();
        Ok(values.into_iter().collect())
    })
    .await?;
    Ok(limited(values.into_iter().map(|v| json!(v)).collect(), c.limit))
}
