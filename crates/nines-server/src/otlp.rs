//! `POST /v1/metrics`: OTLP/HTTP metrics, protobuf or JSON, optionally
//! gzip-compressed. Answers the way OTLP exporters expect: 200 with an
//! empty (or partial-success) `ExportMetricsServiceResponse`, or 4xx with a
//! `google.rpc.Status` body, in the request's encoding.

use std::io::Read;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use nines_otlp::Encoding;
use nines_tsdb::SeriesSamples;

use crate::body::read_limited;
use crate::AppState;

/// gRPC INVALID_ARGUMENT, the code OTLP uses for bad requests.
const INVALID_ARGUMENT: i32 = 3;

fn status(encoding: Encoding, code: StatusCode, message: &str) -> Response {
    let grpc = if code.is_server_error() { 13 } else { INVALID_ARGUMENT };
    (
        code,
        [(header::CONTENT_TYPE, encoding.content_type())],
        nines_otlp::status_body(encoding, grpc, message),
    )
        .into_response()
}

/// Inflates a gzip body, refusing to produce more than `limit` bytes.
fn gunzip(body: &[u8], limit: usize) -> Result<Vec<u8>, (StatusCode, String)> {
    let mut out = Vec::new();
    let mut reader = flate2::read::GzDecoder::new(body).take(limit as u64 + 1);
    reader
        .read_to_end(&mut out)
        .map_err(|e| (StatusCode::BAD_REQUEST, format!("invalid gzip body: {e}")))?;
    if out.len() > limit {
        return Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "decompressed body is larger than the limit of {limit} bytes (set by ingest.max_decompressed_size)"
            ),
        ));
    }
    Ok(out)
}

/// `POST /v1/metrics`
pub async fn metrics(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(encoding) = Encoding::from_content_type(content_type) else {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("unsupported Content-Type {content_type:?}: send application/x-protobuf or application/json\n"),
        )
            .into_response();
    };
    let gzip = match headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        None => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") => true,
        Some(e) if e.eq_ignore_ascii_case("identity") => false,
        Some(e) => {
            return status(
                encoding,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                &format!("unsupported Content-Encoding {e:?}: use gzip or none"),
            )
        }
    };
    let raw = match read_limited(&headers, body, st.limits.max_body_bytes, "ingest.max_body_size").await {
        Ok(b) => b,
        Err(e) => return status(encoding, e.status, &e.message),
    };
    let db = st.db.clone();
    let limit = st.limits.max_decompressed_bytes;
    let outcome = tokio::task::spawn_blocking(move || -> Result<(u64, u64, Vec<String>), (StatusCode, String)> {
        let inflated;
        let bytes: &[u8] = if gzip {
            inflated = gunzip(&raw, limit)?;
            &inflated
        } else {
            &raw
        };
        let req = nines_otlp::decode(bytes, encoding).map_err(|e| (StatusCode::BAD_REQUEST, e.to_string()))?;
        let t = nines_otlp::translate(&req);
        let pairs: Vec<Vec<(&str, &str)>> = t
            .series
            .iter()
            .map(|s| s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect())
            .collect();
        let batch: Vec<SeriesSamples<'_>> = t
            .series
            .iter()
            .zip(&pairs)
            .map(|(s, p)| SeriesSamples {
                labels: p,
                samples: &s.samples,
            })
            .collect();
        let report = db.append(&batch).map_err(|e| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("storing samples failed: {e}"),
            )
        })?;
        let mut errors = t.errors;
        errors.extend(report.errors.iter().cloned());
        Ok((
            report.appended + report.duplicates,
            t.rejected_points + report.rejected(),
            errors,
        ))
    })
    .await;
    let (accepted, rejected, errors) = match outcome {
        Ok(Ok(o)) => o,
        Ok(Err((code, msg))) => return status(encoding, code, &msg),
        Err(e) => {
            return status(
                encoding,
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("ingest task failed: {e}"),
            )
        }
    };
    let message = errors.join("; ");
    if accepted == 0 && rejected > 0 {
        return status(encoding, StatusCode::BAD_REQUEST, &message);
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, encoding.content_type())],
        nines_otlp::response_body(encoding, rejected, &message),
    )
        .into_response()
}
