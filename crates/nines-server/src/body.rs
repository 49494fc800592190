//! Reading request bodies under a size limit.

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;

/// Reads the whole body, refusing more than `limit` bytes with a 413 that
/// names the limit and the setting that controls it.
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize, setting: &str) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::too_large(format!(
            "request body is larger than the limit of {limit} bytes (set by {setting})"
        ))
    };
    let declared = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(c) => Ok(c.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(body_error(e.as_ref())),
    }
}

/// The answer to a body that could not be read: 408 when the client
/// stalled, else 400.
pub fn body_error(e: &(dyn std::error::Error + 'static)) -> ApiError {
    if stalled(e) {
        return ApiError {
            status: axum::http::StatusCode::REQUEST_TIMEOUT,
            kind: "bad_data",
            message: format!("reading request body: {e}"),
        };
    }
    ApiError::bad_data(format!("reading request body: {e}"))
}

/// Whether a body error is (or wraps) the listener's stall cut-off.
fn stalled(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<crate::timed_body::BodyStalled>() {
            return true;
        }
        cur = err.source();
    }
    false
}
