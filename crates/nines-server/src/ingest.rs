//! Metrics in: remote_write v1 and VictoriaMetrics-style JSON-lines import.
//!
//! Partly bad batches follow Prometheus's receiver: a body that does not
//! decode is refused whole (nothing stored); in a body that decodes, valid
//! series are stored and each refused series or sample is counted, and the
//! answer is 400 naming the first problems, so senders do not retry data
//! that is already in.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use nines_tsdb::{AppendReport, OldSamples, SeriesSamples};
use serde::Deserialize;

use crate::body::read_limited;
use crate::error::ApiError;
use crate::prompb::decode_write_request;
use crate::AppState;

/// `POST /api/v1/write`
pub async fn remote_write(State(st): State<AppState>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.contains("io.prometheus.write.v2") {
        return Err(ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            kind: "bad_data",
            message: "remote write 2.0 is not supported yet; send remote write 1.0 (prometheus.WriteRequest)".into(),
        });
    }
    if let Some(enc) = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()) {
        if !enc.eq_ignore_ascii_case("snappy") {
            return Err(ApiError::bad_data(format!(
                "unsupported Content-Encoding {enc:?}: remote write bodies are snappy-compressed"
            )));
        }
    }
    let compressed = read_limited(&headers, body, st.limits.max_body_bytes, "ingest.max_body_size").await?;
    let claimed =
        snap::raw::decompress_len(&compressed).map_err(|e| ApiError::bad_data(format!("invalid snappy block: {e}")))?;
    if claimed > st.limits.max_decompressed_bytes {
        return Err(ApiError::too_large(format!(
            "decompressed body would be {claimed} bytes, larger than the limit of {} (set by ingest.max_decompressed_size)",
            st.limits.max_decompressed_bytes
        )));
    }
    let db = st.db.clone();
    let report = tokio::task::spawn_blocking(move || -> Result<(AppendReport, usize), ApiError> {
        let raw = snap::raw::Decoder::new()
            .decompress_vec(&compressed)
            .map_err(|e| ApiError::bad_data(format!("invalid snappy block: {e}")))?;
        let req = decode_write_request(&raw).map_err(|e| ApiError::bad_data(e.to_string()))?;
        let batch: Vec<SeriesSamples> = req
            .series
            .iter()
            .map(|s| SeriesSamples {
                labels: &req.labels[s.labels.clone()],
                samples: &req.samples[s.samples.clone()],
            })
            .collect();
        Ok((db.append(&batch)?, req.histograms))
    })
    .await
    .map_err(|e| ApiError::internal(format!("ingest task failed: {e}")))??;
    let (report, histograms) = report;
    let mut problems = describe(&report);
    if histograms > 0 {
        problems.insert(
            0,
            format!("{histograms} native histogram samples dropped: native histograms are not supported yet"),
        );
    }
    if problems.is_empty() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::bad_data(problems.join("; ")))
    }
}

/// Human summary of what an append refused; empty when all went in.
fn describe(r: &AppendReport) -> Vec<String> {
    if r.rejected() == 0 {
        return Vec::new();
    }
    let mut out = vec![format!(
        "{} samples stored, {} refused (out of order {}, conflicting duplicates {}, too old {}, too far in the future {}, out of bounds {}, invalid series {} with {} samples)",
        r.appended, r.rejected(), r.out_of_order, r.conflicts, r.too_old, r.too_far_in_future, r.out_of_bounds, r.invalid_series, r.invalid_series_samples
    )];
    out.extend(r.errors.iter().cloned());
    out
}

/// A value in the JSON-lines format: a number, or one of the strings
/// `"NaN"`, `"+Inf"`, `"-Inf"`, `"StaleNaN"` for what JSON cannot hold.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum JsonValue {
    Number(f64),
    Text(String),
}

#[derive(Debug, Deserialize)]
struct ImportLine {
    metric: BTreeMap<String, String>,
    values: Vec<JsonValue>,
    timestamps: Vec<i64>,
}

/// Parses a value string used by import and written by export.
pub fn parse_special(s: &str) -> Option<f64> {
    match s {
        "NaN" => Some(f64::NAN),
        "+Inf" | "Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "StaleNaN" => Some(f64::from_bits(nines_tsdb::STALE_NAN_BITS)),
        other => other.parse().ok(),
    }
}

type OwnedSeries = (Vec<(String, String)>, Vec<(i64, f64)>);

pub(crate) fn parse_import_line(line: &[u8]) -> Result<OwnedSeries, String> {
    let parsed: ImportLine = serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
    if parsed.values.len() != parsed.timestamps.len() {
        return Err(format!(
            "{} values but {} timestamps",
            parsed.values.len(),
            parsed.timestamps.len()
        ));
    }
    let mut samples = Vec::with_capacity(parsed.values.len());
    for (v, t) in parsed.values.into_iter().zip(parsed.timestamps) {
        let v = match v {
            JsonValue::Number(n) => n,
            JsonValue::Text(s) => parse_special(&s).ok_or_else(|| format!("value {s:?} is not a number"))?,
        };
        samples.push((t, v));
    }
    samples.sort_by_key(|s| s.0);
    Ok((parsed.metric.into_iter().collect(), samples))
}

/// Samples buffered before an import batch is appended.
const IMPORT_BATCH_SAMPLES: usize = 50_000;

#[derive(Default)]
struct ImportState {
    pending: Vec<OwnedSeries>,
    pending_samples: usize,
    report: AppendReport,
    line_errors: Vec<String>,
    bad_lines: usize,
    /// First input line of each pending series, to name it in errors.
    pending_lines: Vec<usize>,
}

impl ImportState {
    async fn flush(&mut self, st: &AppState) -> Result<(), ApiError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let lines = std::mem::take(&mut self.pending_lines);
        self.pending_samples = 0;
        let db = st.db.clone();
        let r = tokio::task::spawn_blocking(move || {
            let borrowed: Vec<Vec<(&str, &str)>> = pending
                .iter()
                .map(|(l, _)| l.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect())
                .collect();
            let batch: Vec<SeriesSamples> = borrowed
                .iter()
                .zip(&pending)
                .map(|(l, (_, s))| SeriesSamples { labels: l, samples: s })
                .collect();
            db.append_with(&batch, OldSamples::Backfill)
        })
        .await
        .map_err(|e| ApiError::internal(format!("import task failed: {e}")))??;
        // "series N" counts within the batch; name the input line.
        self.report.merge(r, |e| {
            match e.strip_prefix("series ").and_then(|rest| rest.split_once(' ')) {
                Some((n, rest)) => match n.parse::<usize>().ok().and_then(|n| lines.get(n)) {
                    Some(line) => format!("line {line} {rest}"),
                    None => e.clone(),
                },
                None => e.clone(),
            }
        });
        Ok(())
    }

    fn take_line(&mut self, line: &[u8], number: usize) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        match parse_import_line(line) {
            Ok(series) => {
                self.pending_samples += series.1.len();
                self.pending.push(series);
                self.pending_lines.push(number);
            }
            Err(e) => {
                self.bad_lines += 1;
                if self.line_errors.len() < 10 {
                    self.line_errors.push(format!("line {number}: {e}"));
                }
            }
        }
    }
}

/// `POST /api/v1/import`: one JSON object per line,
/// `{"metric":{...},"values":[...],"timestamps":[...]}`. The body is
/// streamed; each line may be at most `ingest.max_body_size` bytes.
pub async fn import(State(st): State<AppState>, body: Body) -> Result<Response, ApiError> {
    let max_line = st.limits.max_body_bytes;
    let mut body = body;
    let mut buf: Vec<u8> = Vec::new();
    let mut state = ImportState::default();
    let mut line_no = 0usize;
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(f)) => f,
            Some(Err(e)) => return Err(crate::body::body_error(&e)),
        };
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        let mut start = 0;
        while let Some(nl) = buf[start..].iter().position(|&b| b == b'\n') {
            line_no += 1;
            state.take_line(&buf[start..start + nl], line_no);
            start += nl + 1;
        }
        buf.drain(..start);
        if buf.len() > max_line {
            state.flush(&st).await?;
            return Err(ApiError::too_large(format!(
                "line {} is longer than the limit of {max_line} bytes (set by ingest.max_body_size); {} samples before it were stored",
                line_no + 1,
                state.report.appended
            )));
        }
        if state.pending_samples >= IMPORT_BATCH_SAMPLES {
            state.flush(&st).await?;
        }
    }
    if !buf.is_empty() {
        line_no += 1;
        state.take_line(&buf, line_no);
    }
    state.flush(&st).await?;
    let mut problems = Vec::new();
    if state.bad_lines > 0 {
        problems.push(format!("{} of {line_no} lines refused", state.bad_lines));
        problems.extend(state.line_errors);
    }
    problems.extend(describe(&state.report));
    if problems.is_empty() {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(ApiError::bad_data(problems.join("; ")))
    }
}
