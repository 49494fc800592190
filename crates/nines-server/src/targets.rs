//! `GET /api/v1/targets` in Prometheus's format, and `POST /-/reload`.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nines_scrape::{Health, PoolStatus};
use serde_json::{json, Map, Value};

use crate::error::{success, ApiError};
use crate::params::Params;
use crate::AppState;

/// Re-reads the configuration; errors are the problems found.
pub trait Reload: Send + Sync {
    /// Applies the configuration on disk, or keeps the running one and
    /// returns why not.
    fn reload(&self) -> Result<(), Vec<String>>;
}

fn label_map(labels: &[(String, String)]) -> Value {
    let map: Map<String, Value> = labels
        .iter()
        .map(|(n, v)| (n.clone(), Value::from(v.as_str())))
        .collect();
    Value::Object(map)
}

/// Milliseconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| "0001-01-01T00:00:00Z".into(), |t| t.to_string())
}

fn short_duration(d: std::time::Duration) -> String {
    let ms = d.as_millis();
    match ms {
        m if m % 3_600_000 == 0 && m > 0 => format!("{}h", m / 3_600_000),
        m if m % 60_000 == 0 && m > 0 => format!("{}m", m / 60_000),
        m if m % 1000 == 0 => format!("{}s", m / 1000),
        m => format!("{m}ms"),
    }
}

/// The targets API body for the given pools and `state` filter.
pub fn targets_json(pools: &[PoolStatus], state: &str, pool_filter: Option<&str>) -> Value {
    let pools: Vec<&PoolStatus> = pools
        .iter()
        .filter(|p| pool_filter.is_none_or(|f| f == p.job))
        .collect();
    let mut active = Vec::new();
    let mut dropped = Vec::new();
    let mut dropped_counts = Map::new();
    for p in &pools {
        if state != "dropped" {
            for t in &p.active {
                active.push(json!({
                    "discoveredLabels": label_map(&t.target.discovered),
                    "labels": label_map(&t.target.labels),
                    "scrapePool": p.job,
                    "scrapeUrl": t.target.url,
                    "globalUrl": t.target.url,
                    "lastError": t.last_error,
                    "lastScrape": t.last_scrape_ms.map_or_else(|| "0001-01-01T00:00:00Z".into(), rfc3339),
                    "lastScrapeDuration": t.last_duration.as_secs_f64(),
                    "health": match t.health {
                        Health::Unknown => "unknown",
                        Health::Up => "up",
                        Health::Down => "down",
                    },
                    "scrapeInterval": short_duration(t.target.interval),
                    "scrapeTimeout": short_duration(t.target.timeout),
                }));
            }
        }
        if state != "active" {
            for d in &p.dropped {
                dropped.push(json!({"discoveredLabels": label_map(&d.discovered)}));
            }
        }
        dropped_counts.insert(p.job.clone(), Value::from(p.dropped.len()));
    }
    let mut data = Map::new();
    if state != "dropped" {
        data.insert("activeTargets".into(), Value::Array(active));
    }
    if state != "active" {
        data.insert("droppedTargets".into(), Value::Array(dropped));
    }
    data.insert("droppedTargetCounts".into(), Value::Object(dropped_counts));
    Value::Object(data)
}

/// `GET /api/v1/targets?state=active|dropped|any&scrapePool=JOB`
pub async fn targets(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    let state = params.get("state").unwrap_or("any").to_string();
    if !matches!(state.as_str(), "active" | "dropped" | "any" | "") {
        return Err(ApiError::bad_data(format!(
            "invalid state {state:?}: use active, dropped or any"
        )));
    }
    let pools = st.scrape.as_ref().map(|m| m.status()).unwrap_or_default();
    Ok(success(
        targets_json(&pools, &state, params.get("scrapePool")),
        Vec::new(),
    ))
}

/// `POST /-/reload`: 200 when the new config is in force, 500 with the
/// problems when it was refused (the old one stays).
pub async fn reload(State(st): State<AppState>) -> Response {
    let Some(r) = st.reloader.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "nines was started without a config file\n",
        )
            .into_response();
    };
    match r.reload() {
        Ok(()) => (StatusCode::OK, "config reloaded\n").into_response(),
        Err(problems) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("failed to reload config:\n{}\n", problems.join("\n")),
        )
            .into_response(),
    }
}
