//! The Prometheus error envelope every nines API answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An API failure: HTTP status, Prometheus `errorType`, message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// `bad_data`, `execution`, `internal`, `unavailable`, ...
    pub kind: &'static str,
    /// What went wrong and where.
    pub message: String,
}

impl ApiError {
    /// 400 `bad_data`.
    pub fn bad_data(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            kind: "bad_data",
            message: message.into(),
        }
    }

    /// 413 `bad_data`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            kind: "bad_data",
            message: message.into(),
        }
    }

    /// 503 `unavailable`: a part nines needs is not running or failed.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            kind: "unavailable",
            message: message.into(),
        }
    }

    /// 500 `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            kind: "internal",
            message: message.into(),
        }
    }
}

impl From<nines_tsdb::Error> for ApiError {
    fn from(e: nines_tsdb::Error) -> Self {
        match e {
            nines_tsdb::Error::InvalidRegex { .. } | nines_tsdb::Error::InvalidLabels(_) => {
                Self::bad_data(e.to_string())
            }
            nines_tsdb::Error::BackupTarget { .. } => Self::bad_data(e.to_string()),
            other => Self::internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(error = %self.message, "request failed");
        }
        let body = json!({"status": "error", "errorType": self.kind, "error": self.message});
        (self.status, axum::Json(body)).into_response()
    }
}

/// Puts error answers that are not JSON (axum's extractor rejections in
/// plain text, a bodiless 405) into the envelope, keeping their status and
/// headers (`Allow`, `Retry-After`). HTML pages for people pass as they are.
pub async fn enveloped(resp: Response) -> Response {
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let content_type = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with("application/json") || content_type.starts_with("text/html") {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // Rejection texts are a line or two; more is not worth keeping.
    let text = axum::body::to_bytes(body, 64 << 10).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("request failed").to_lowercase(),
        t => t.to_string(),
    };
    let kind = match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_data",
    };
    let mut out = ApiError { status, kind, message }.into_response();
    parts.headers.remove(axum::http::header::CONTENT_TYPE);
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    for (name, value) in parts.headers.iter() {
        out.headers_mut().insert(name.clone(), value.clone());
    }
    out
}

/// `{"status":"success","data":...}` with optional warnings.
pub fn success(data: serde_json::Value, warnings: Vec<String>) -> Response {
    success_annotated(data, warnings, Vec::new())
}

/// [`success`] plus Prometheus 3's `infos` list.
pub fn success_annotated(data: serde_json::Value, warnings: Vec<String>, infos: Vec<String>) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    if !infos.is_empty() {
        body["infos"] = json!(infos);
    }
    axum::Json(body).into_response()
}
