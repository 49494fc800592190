//! Admin endpoints: flush the head to blocks, take a backup.

use axum::extract::{RawQuery, State};
use axum::response::Response;
use serde_json::json;

use crate::error::{success, ApiError};
use crate::params::Params;
use crate::AppState;

/// `POST /api/v1/admin/flush`: persist the head to blocks now.
pub async fn flush(State(st): State<AppState>) -> Result<Response, ApiError> {
    let db = st.db.clone();
    let blocks = tokio::task::spawn_blocking(move || db.flush().map(|()| db.blocks().len()))
        .await
        .map_err(|e| ApiError::internal(format!("flush task failed: {e}")))??;
    Ok(success(json!({"blocks": blocks}), Vec::new()))
}

/// `POST /api/v1/admin/backup?dir=PATH`: a consistent copy of the store into
/// `PATH` on the server's filesystem (which must not exist or be empty).
pub async fn backup(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    let dir = params
        .get("dir")
        .filter(|d| !d.is_empty())
        .ok_or_else(|| ApiError::bad_data("missing parameter \"dir\""))?
        .to_string();
    let db = st.db.clone();
    let target = std::path::PathBuf::from(&dir);
    let report = tokio::task::spawn_blocking(move || db.snapshot(&target))
        .await
        .map_err(|e| ApiError::internal(format!("backup task failed: {e}")))??;
    Ok(success(
        json!({"dir": dir, "blocks": report.blocks, "head_series": report.head_series}),
        Vec::new(),
    ))
}
