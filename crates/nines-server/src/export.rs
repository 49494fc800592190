//! `GET /api/v1/export`: series as JSON lines, the format `import` reads.

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use nines_tsdb::Series;

use crate::error::ApiError;
use crate::params::{selectors, time_param, Params};
use crate::query::select_union;
use crate::AppState;

/// Writes one series as a JSON line. Values JSON cannot hold are written as
/// the strings `"NaN"`, `"+Inf"`, `"-Inf"` and `"StaleNaN"`.
pub fn write_line(out: &mut Vec<u8>, s: &Series) -> nines_tsdb::Result<()> {
    let metric: serde_json::Map<String, serde_json::Value> = s
        .labels()
        .iter()
        .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
        .collect();
    out.extend_from_slice(b"{\"metric\":");
    out.extend_from_slice(serde_json::Value::Object(metric).to_string().as_bytes());
    let samples = s.samples()?;
    out.extend_from_slice(b",\"values\":[");
    for (i, (_, v)) in samples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if v.is_finite() {
            out.extend_from_slice(
                serde_json::Number::from_f64(*v)
                    .map(|n| n.to_string())
                    .unwrap_or_default()
                    .as_bytes(),
            );
        } else if nines_tsdb::is_stale_nan(*v) {
            out.extend_from_slice(b"\"StaleNaN\"");
        } else if v.is_nan() {
            out.extend_from_slice(b"\"NaN\"");
        } else if *v > 0.0 {
            out.extend_from_slice(b"\"+Inf\"");
        } else {
            out.extend_from_slice(b"\"-Inf\"");
        }
    }
    out.extend_from_slice(b"],\"timestamps\":[");
    for (i, (t, _)) in samples.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(t.to_string().as_bytes());
    }
    out.extend_from_slice(b"]}\n");
    Ok(())
}

/// Streams matching series; needs at least one `match[]`.
pub async fn export(State(st): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    let params = Params::parse(q.unwrap_or_default().as_bytes());
    let sels = selectors(&params)?;
    if sels.is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let start = time_param(&params, "start", i64::MIN)?;
    let end = time_param(&params, "end", i64::MAX)?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let db = st.db.clone();
    tokio::task::spawn_blocking(move || {
        let series = match select_union(&db, &sels, start, end) {
            Ok(s) => s,
            Err(e) => {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let mut buf = Vec::with_capacity(1 << 16);
        for s in &series {
            if let Err(e) = write_line(&mut buf, s) {
                let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
                return;
            }
            if buf.len() >= 1 << 16 && tx.blocking_send(Ok(Bytes::from(std::mem::take(&mut buf)))).is_err() {
                return;
            }
        }
        if !buf.is_empty() {
            let _ = tx.blocking_send(Ok(Bytes::from(buf)));
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) });
    Ok((
        [(header::CONTENT_TYPE, "application/stream+json")],
        Body::from_stream(stream),
    )
        .into_response())
}
