//! nines observes itself: /metrics, scraping itself, JSON logs.

mod common;

use std::time::Duration;

use common::{wait_until, Server};

#[test]
fn nines_scrapes_its_own_metrics_and_logs_json() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, "scrape_configs: []\n").unwrap();
    let server = Server::start(
        &dir.path().join("data"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "--log-level",
            "info",
        ],
    );
    let addr = server.url.trim_start_matches("http://").to_string();
    std::fs::write(
        &config,
        format!(
            "scrape_configs:\n- job_name: nines\n  scrape_interval: 1s\n  static_configs:\n  - targets: ['{addr}']\n"
        ),
    )
    .unwrap();
    let (code, body) = server.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 200, "{body}");

    let (code, text) = server.get("/metrics");
    assert_eq!(code, 200);
    for family in [
        "nines_storage_samples_total{outcome=\"appended\"}",
        "nines_head_series ",
        "nines_wal_bytes ",
        "nines_blocks ",
        "nines_compactions_total ",
        "nines_scrapes_total{result=\"success\"}",
        "nines_scrape_targets{health=",
        "nines_http_requests_total{handler=\"/-/reload\",method=\"POST\",code=\"200\"} 1",
        "nines_http_request_duration_seconds_bucket{le=",
        "nines_wal_fsync_duration_seconds_count",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    assert!(text.trim_end().ends_with("# EOF"));

    // Its own series arrive through its own scraper.
    let line = wait_until("nines scraped itself", Duration::from_secs(15), || {
        server.export("nines_head_series{job=\"nines\"}").into_iter().next()
    });
    assert_eq!(line["metric"]["instance"], addr.as_str());
    let up = wait_until("up for the self target", Duration::from_secs(15), || {
        server.export("up{job=\"nines\"}").into_iter().next()
    });
    assert_eq!(up["values"][0], 1.0);
    // Requests are counted by route, never by raw path.
    server.get("/api/v1/label/job/values");
    let (_, text) = server.get("/metrics");
    assert!(text.contains("handler=\"/api/v1/label/{name}/values\""), "{text}");

    let logs = server.stderr.lock().unwrap().clone();
    let reload_line = logs
        .lines()
        .find(|l| l.contains("configuration reloaded"))
        .unwrap_or_else(|| panic!("no reload log in {logs}"));
    let json: serde_json::Value = serde_json::from_str(reload_line).expect("log lines are JSON");
    assert_eq!(json["level"], "INFO");
    assert!(json["timestamp"].is_string());
}
