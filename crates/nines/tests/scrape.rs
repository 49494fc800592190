//! Scraping against real local HTTP endpoints, through the real binary.

mod common;

use std::time::Duration;

use common::exporter::{Exporter, Page};
use common::{points, wait_until, Server};

const STALE: &str = "StaleNaN";

fn write_config(dir: &std::path::Path, body: &str) -> std::path::PathBuf {
    let path = dir.join("nines.yaml");
    std::fs::write(&path, body).unwrap();
    path
}

fn start_with(dir: &std::path::Path, config: &std::path::Path) -> Server {
    Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

/// The exported values of one series, as JSON (stale markers are the
/// string "StaleNaN").
fn values(server: &Server, selector: &str) -> Vec<serde_json::Value> {
    server
        .export(selector)
        .first()
        .map(|l| l["values"].as_array().unwrap().clone())
        .unwrap_or_default()
}

#[test]
fn scrapes_both_text_formats_with_gzip_and_writes_synthetic_series() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    exporter.text(
        "/metrics",
        "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 7\nhttp_requests_total{code=\"500\"} 1\n",
    );
    exporter.set(
        "/om",
        Page {
            body: b"# TYPE jobs counter\njobs_total 3 # {trace_id=\"a\"} 1\njobs_created 1700000000\n\
                    # TYPE temp gauge\ntemp{room=\"a b\"} 21.5\n# EOF\n"
                .to_vec(),
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
            gzip: true,
            hang: false,
        },
    );
    let config = write_config(
        dir.path(),
        &format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             - job_name: text\n  static_configs:\n  - targets: ['{a}']\n    labels:\n      env: test\n\
             - job_name: om\n  metrics_path: /om\n  static_configs:\n  - targets: ['{a}']\n",
            a = exporter.addr
        ),
    );
    let server = start_with(dir.path(), &config);
    let lines = wait_until("both jobs scraped", Duration::from_secs(20), || {
        let l = server.export("{__name__=~\"http_requests_total|jobs_total|temp|jobs_created\"}");
        (l.len() == 4).then_some(l)
    });
    let find = |name: &str| {
        lines
            .iter()
            .find(|l| l["metric"]["__name__"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {lines:?}"))
    };
    let ok = find("http_requests_total");
    assert_eq!(ok["metric"]["job"], "text");
    assert_eq!(ok["metric"]["env"], "test");
    assert_eq!(ok["metric"]["instance"], exporter.addr.as_str());
    assert_eq!(points(find("jobs_total"))[0].1, 3.0);
    assert_eq!(points(find("temp"))[0].1, 21.5);
    assert_eq!(find("temp")["metric"]["room"], "a b");
    assert!(
        lines.iter().all(|l| l["metric"]["__name__"] != "jobs_created"),
        "_created is metadata in OpenMetrics"
    );

    // Prometheus's scrape headers went out, and gzip was offered.
    let heads = exporter.requests.lock().unwrap().join("\n").to_ascii_lowercase();
    assert!(
        heads.contains("accept: application/openmetrics-text;version=1.0.0"),
        "{heads}"
    );
    assert!(heads.contains("x-prometheus-scrape-timeout-seconds: 1"), "{heads}");
    assert!(heads.contains("accept-encoding: gzip"), "{heads}");

    for (job, scraped) in [("text", 2.0), ("om", 2.0)] {
        let sel = |name: &str| format!("{name}{{job=\"{job}\"}}");
        let up = server.export(&sel("up"));
        assert_eq!(points(&up[0])[0].1, 1.0);
        assert_eq!(points(&server.export(&sel("scrape_samples_scraped"))[0])[0].1, scraped);
        assert_eq!(
            points(&server.export(&sel("scrape_samples_post_metric_relabeling"))[0])[0].1,
            scraped
        );
        assert_eq!(points(&server.export(&sel("scrape_series_added"))[0])[0].1, scraped);
        let d = points(&server.export(&sel("scrape_duration_seconds"))[0])[0].1;
        assert!(d > 0.0 && d < 1.0, "{d}");
    }
}

#[test]
fn a_hanging_target_does_not_delay_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let good = Exporter::start();
    good.text("/metrics", "alive 1\n");
    let stuck = Exporter::start();
    stuck.set(
        "/metrics",
        Page {
            hang: true,
            ..Page::default()
        },
    );
    let config = write_config(
        dir.path(),
        &format!(
            "scrape_configs:\n- job_name: mixed\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  static_configs:\n  - targets: ['{}', '{}']\n",
            good.addr, stuck.addr
        ),
    );
    let server = start_with(dir.path(), &config);
    // The good target keeps its one-second rhythm: if the stuck one held
    // it up, its scrapes would be an interval plus a timeout apart.
    let good_up = wait_until("five scrapes of the good target", Duration::from_secs(20), || {
        let lines = server.export(&format!("up{{instance=\"{}\"}}", good.addr));
        lines.first().map(points).filter(|p| p.len() >= 5)
    });
    for pair in good_up.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!((500..1500).contains(&gap), "scrapes {gap} ms apart: {good_up:?}");
    }
    let stuck_up = wait_until("the stuck target reported down", Duration::from_secs(10), || {
        let v = values(&server, &format!("up{{instance=\"{}\"}}", stuck.addr));
        (!v.is_empty()).then_some(v)
    });
    assert!(stuck_up.iter().all(|v| v.as_f64() == Some(0.0)), "{stuck_up:?}");
    let (code, body) = server.get("/api/v1/targets");
    assert_eq!(code, 200);
    let data: serde_json::Value = serde_json::from_str(&body).unwrap();
    let targets = data["data"]["activeTargets"].as_array().unwrap();
    let stuck_t = targets
        .iter()
        .find(|t| t["labels"]["instance"] == stuck.addr.as_str())
        .unwrap();
    assert_eq!(stuck_t["health"], "down");
    assert!(
        stuck_t["lastError"].as_str().unwrap().contains("timed out"),
        "{stuck_t}"
    );
    let good_t = targets
        .iter()
        .find(|t| t["labels"]["instance"] == good.addr.as_str())
        .unwrap();
    assert_eq!(good_t["health"], "up");
    assert_eq!(good_t["scrapePool"], "mixed");
    assert_eq!(good_t["scrapeUrl"], format!("http://{}/metrics", good.addr));
    assert_eq!(good_t["scrapeInterval"], "1s");
    assert_eq!(good_t["discoveredLabels"]["__address__"], good.addr.as_str());

    // The CLI shows the same.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["targets", "--server", &server.url])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{table}");
    assert!(table.starts_with("JOB"), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.contains(&stuck.addr) && l.contains("down") && l.contains("timed out")),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.contains(&good.addr) && l.contains(" up ")),
        "{table}"
    );
}

#[test]
fn vanished_series_and_removed_targets_get_staleness_markers_and_bad_reloads_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let exporter = Exporter::start();
    exporter.text("/metrics", "keep 1\ngoes_away 2\n");
    let good_config = format!(
        "scrape_configs:\n- job_name: app\n  scrape_interval: 1s\n  static_configs:\n  - targets: ['{}']\n",
        exporter.addr
    );
    let config = write_config(dir.path(), &good_config);
    let server = start_with(dir.path(), &config);
    wait_until("first scrape", Duration::from_secs(10), || {
        (!values(&server, "goes_away").is_empty()).then_some(())
    });
    exporter.text("/metrics", "keep 1\n");
    wait_until("goes_away marked stale", Duration::from_secs(10), || {
        (values(&server, "goes_away").last().and_then(|v| v.as_str()) == Some(STALE)).then_some(())
    });
    assert_ne!(values(&server, "keep").last().and_then(|v| v.as_str()), Some(STALE));

    // A broken config is refused, the old one keeps scraping.
    std::fs::write(&config, "scrape_configs:\n- job_name: app\n  scrape_interval: banana\n").unwrap();
    let (code, body) = server.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 500, "{body}");
    assert!(body.contains("scrape_interval"), "{body}");
    // The log line comes through a pipe drained by another thread, so it may trail the answer.
    wait_until("the refusal is logged", Duration::from_secs(10), || {
        server
            .stderr
            .lock()
            .unwrap()
            .contains("configuration reload refused")
            .then_some(())
    });
    let before = values(&server, "keep").len();
    wait_until(
        "scraping goes on after a refused reload",
        Duration::from_secs(10),
        || (values(&server, "keep").len() >= before + 2).then_some(()),
    );

    // SIGHUP with a config without the target: everything it had goes stale.
    std::fs::write(&config, "scrape_configs: []\n").unwrap();
    let pid = server.child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    wait_until("keep and up marked stale", Duration::from_secs(10), || {
        let keep = values(&server, "keep");
        let up = values(&server, "up");
        (keep.last().and_then(|v| v.as_str()) == Some(STALE) && up.last().and_then(|v| v.as_str()) == Some(STALE))
            .then_some(())
    });
    let (_, body) = server.get("/api/v1/targets");
    assert!(body.contains("\"activeTargets\":[]"), "{body}");
}

#[test]
fn file_sd_targets_follow_the_file_and_relabeling_applies() {
    let dir = tempfile::tempdir().unwrap();
    let a = Exporter::start();
    a.text("/metrics", "from_a 1\n");
    let b = Exporter::start();
    b.text("/metrics", "from_b{instance=\"spoofed\"} 1\n");
    let targets = dir.path().join("targets.json");
    std::fs::write(
        &targets,
        format!(r#"[{{"targets": ["{}"], "labels": {{"team": "red"}}}}]"#, a.addr),
    )
    .unwrap();
    let config = write_config(
        dir.path(),
        &format!(
            "scrape_configs:\n- job_name: files\n  scrape_interval: 1s\n  file_sd_configs:\n  - files: ['{}']\n\
             \x20 relabel_configs:\n  - source_labels: [team]\n    target_label: owner\n\
             \x20 - regex: team\n    action: labeldrop\n\
             \x20 metric_relabel_configs:\n  - source_labels: [__name__]\n    regex: 'from_(.*)'\n    target_label: src\n",
            dir.path().join("*.json").display()
        ),
    );
    let server = start_with(dir.path(), &config);
    let line = wait_until("target from the file scraped", Duration::from_secs(10), || {
        server.export("from_a").into_iter().next()
    });
    assert_eq!(line["metric"]["owner"], "red");
    assert_eq!(line["metric"]["src"], "a");
    assert!(line["metric"].get("team").is_none());
    std::fs::write(&targets, format!(r#"[{{"targets": ["{}"]}}]"#, b.addr)).unwrap();
    let line = wait_until("the new target from the changed file", Duration::from_secs(10), || {
        server.export("from_b").into_iter().next()
    });
    // honor_labels is false: the target's instance wins.
    assert_eq!(line["metric"]["instance"], b.addr.as_str());
    assert_eq!(line["metric"]["exported_instance"], "spoofed");
    wait_until("the old target's series marked stale", Duration::from_secs(10), || {
        (values(&server, "from_a").last().and_then(|v| v.as_str()) == Some(STALE)).then_some(())
    });
}
