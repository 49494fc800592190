//! SLOs end to end on the real binary: data imported, an SLO added by a
//! reload and rolled up from the stored history, its status, history,
//! alerts and written-back series served; the CLI prints it; rollups
//! survive a kill -9.

mod common;

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{encode, wait_until, Server};
use serde_json::Value;

const SLO: &str = r#"
slos:
  - service: api
    name: availability
    owner: team-api
    description: Requests that do not fail
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: requests_total{code="500"}
        total: requests_total
"#;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// 90 minutes of traffic ending two minutes ago, the last 10 minutes all
/// errors; returns (successes, errors) counted from the first sample.
fn import_traffic(s: &Server) -> (f64, f64) {
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

fn status(s: &Server) -> Option<Value> {
    let (code, body) = s.get("/api/v1/slos/api/availability");
    if code == 404 {
        // Not evaluated yet.
        return None;
    }
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let data = v["data"].clone();
    (data["groups"].as_array().is_some_and(|g| !g.is_empty())).then_some(data)
}

#[test]
fn an_slo_added_by_reload_is_rolled_up_from_history_served_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, "scrape_configs: []\n").unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let (ok, bad) = import_traffic(&s);

    std::fs::write(&config, SLO).unwrap();
    let (code, body) = s.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    let st = wait_until("the SLO evaluated", Duration::from_secs(30), || status(&s));
    let g = &st["groups"][0];
    assert_eq!(g["events"]["total"], ok + bad, "{st}");
    assert_eq!(g["events"]["bad"], bad);
    assert_eq!(st["state"], "exhausted", "{st}");
    assert_eq!(st["owner"], "team-api");
    assert_eq!(g["budget"]["unit"], "events");
    assert!(
        (g["budget"]["total"].as_f64().unwrap() - (ok + bad) * 0.001).abs() < 1e-6,
        "{g}"
    );
    let rates: Vec<&str> = g["burn_rates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["window"].as_str().unwrap())
        .collect();
    assert_eq!(rates, ["5m", "30m", "1h", "2h", "6h", "1d", "3d"]);
    assert!(g["alerts"].as_array().unwrap().iter().any(|a| a == "page_1h"), "{g}");

    let (code, body) = s.get("/api/v1/alerts");
    assert_eq!(code, 200);
    let alerts: Value = serde_json::from_str(&body).unwrap();
    let page = alerts["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["long_window"] == "1h")
        .unwrap_or_else(|| panic!("no page: {body}"))
        .clone();
    assert_eq!(page["labels"]["severity"], "page");
    assert_eq!(page["labels"]["service"], "api");
    assert_eq!(page["state"], "firing");

    let (code, body) = s.get("/api/v1/slos");
    assert_eq!(code, 200);
    assert!(body.contains("\"slo\":\"availability\""), "{body}");
    let (code, body) = s.get("/api/v1/slos/api/nope");
    assert_eq!(code, 404, "{body}");
    let (code, body) = s.get("/api/v1/slos/api/availability/history?periods=3");
    assert_eq!(code, 200, "{body}");
    let h: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        h["data"]["periods"].as_array().unwrap().len(),
        1,
        "one period has data: {body}"
    );
    assert_eq!(h["data"]["periods"][0]["groups"][0]["met"], false);
    let (code, _) = s.get("/api/v1/slos/api/availability/history?periods=0");
    assert_eq!(code, 400);

    // The status is written back as series.
    let (code, body) = s.get(&format!(
        "/api/v1/query?query={}",
        encode("nines_slo_burn_rate{slo=\"availability\",window=\"5m\"}")
    ));
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("\"service\":\"api\""), "{body}");

    let cli = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["slo", "list", "--server", &s.url])
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&cli.stdout);
    assert!(cli.status.success(), "{out} {}", String::from_utf8_lossy(&cli.stderr));
    assert!(out.starts_with("SLO"), "{out}");
    assert!(out.contains("api/availability") && out.contains("exhausted"), "{out}");
    let cli = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args([
            "slo",
            "show",
            "api/availability",
            "--server",
            &s.url,
            "--output",
            "json",
        ])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&cli.stdout).unwrap();
    assert_eq!(shown["groups"][0]["events"]["total"], ok + bad);

    // What was served was committed first: after kill -9 the rollups are
    // in the file.
    s.kill9();
    let store = nines_store::Store::open_in(&data).unwrap();
    use nines_slo::repo::SloRepository;
    let names = store.slo_names().unwrap();
    assert_eq!(names, vec![("api".to_string(), "availability".to_string())]);
    drop(store);
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let st = wait_until("the SLO evaluated after restart", Duration::from_secs(30), || {
        status(&s)
    });
    assert_eq!(st["groups"][0]["events"]["total"], ok + bad, "{st}");
}
