//! Heartbeat monitors through the real binary: a beat is recorded, a
//! missed interval raises an alert with source `heartbeat` that survives
//! kill -9, the next beat resolves it, unknown names get 404, and
//! `nines check` holds a paging heartbeat to the paging rules.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{wait_until, Server};
use serde_json::Value;

const CONFIG: &str = "heartbeats:
- name: nightly-backup
  interval: 2s
  labels:
    severity: page
    service: backup
  annotations:
    impact: restores after a loss would be a day old
    runbook_url: https://runbooks.example/backup
- name: hourly-import
  interval: 1h
";

fn start(dir: &Path) -> Server {
    let config = dir.join("nines.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

fn json(s: &Server, path: &str) -> Value {
    let (code, body) = s.get(path);
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn missed_alert(s: &Server) -> Option<Value> {
    json(s, "/api/v1/alerts")["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == "HeartbeatMissed")
        .cloned()
}

#[test]
fn a_missed_heartbeat_alerts_durably_and_the_next_beat_resolves_it() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());

    let (code, body) = s.post("/api/v1/heartbeats/nightly-backup", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    let beat: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(beat["data"]["missed"], false);
    assert!(beat["data"]["lastBeat"].is_string(), "{body}");
    assert_eq!(beat["data"]["interval"], "2s");

    let (code, body) = s.post("/api/v1/heartbeats/nobody", "text/plain", b"");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no heartbeat named \\\"nobody\\\""), "{body}");

    let listed = json(&s, "/api/v1/heartbeats");
    let names: Vec<&str> = listed["data"]["heartbeats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["nightly-backup", "hourly-import"]);

    let alert = wait_until("the missed beat alerts", Duration::from_secs(10), || missed_alert(&s));
    assert_eq!(alert["source"], "heartbeat");
    assert_eq!(alert["labels"]["heartbeat"], "nightly-backup");
    assert_eq!(alert["labels"]["severity"], "page");
    assert_eq!(
        alert["annotations"]["summary"],
        "heartbeat nightly-backup missed: no beat for 2s"
    );
    assert_eq!(alert["annotations"]["runbook_url"], "https://runbooks.example/backup");
    // The hourly import was never beaten but is not due yet.
    assert_eq!(
        json(&s, "/api/v1/alerts")["data"]["alerts"].as_array().unwrap().len(),
        1
    );

    s.kill9();
    let s = start(dir.path());
    let after = missed_alert(&s).expect("the alert survives kill -9");
    assert_eq!(after["activeAt"], alert["activeAt"]);

    let (code, body) = s.post("/api/v1/heartbeats/nightly-backup", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    assert_eq!(missed_alert(&s), None);
    s.stop();
}

#[test]
fn check_holds_a_paging_heartbeat_to_the_paging_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = common::check_config(
        dir.path(),
        "heartbeats:\n- name: backup\n  interval: 1h\n  labels:\n    severity: page\n- name: bad name\n  interval: 0s\n",
    );
    assert!(!ok);
    assert!(
        err.contains(
            "heartbeats[0].labels: the alert of heartbeat \"backup\" pages (severity \"page\") but has no impact"
        ),
        "{err}"
    );
    assert!(err.contains(":6:3: heartbeats[1].name: \"bad name\" must be"), "{err}");
    assert!(err.contains("heartbeats[1].interval: must be at least 1s"), "{err}");
}
