//! Request counters for SLO tests, imported as history.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Server;

/// Now, ms.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Imports `requests_total{code="200"|"500"}`: 90 minutes of traffic
/// ending two minutes ago, 10 requests per 15 s, the last 10 minutes all
/// errors; returns (successes, errors) counted from the first sample.
pub fn import_failing_traffic(s: &Server) -> (f64, f64) {
    let end = now_ms() / 15_000 * 15_000 - 120_000;
    let n = 90 * 4;
    let start = end - n * 15_000;
    let (mut ok, mut bad) = (0.0, 0.0);
    let (mut ts, mut oks, mut bads) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..=n {
        if i > 0 && i > n - 40 {
            bad += 10.0;
        } else if i > 0 {
            ok += 10.0;
        }
        ts.push(start + i * 15_000);
        oks.push(ok);
        bads.push(bad);
    }
    let line = |code: &str, values: &[f64]| {
        serde_json::json!({"metric": {"__name__": "requests_total", "code": code}, "values": values, "timestamps": ts})
            .to_string()
    };
    let body = format!("{}\n{}\n", line("200", &oks), line("500", &bads));
    let (code, text) = s.post("/api/v1/import", "application/json", body.as_bytes());
    assert_eq!(code, 204, "{text}");
    (ok, bad)
}
