//! Silences and inhibition through the real binary: `nines silence add`
//! mutes matching alerts (shown as `silencedBy` on `/api/v1/alerts`), an
//! inhibition rule holds back the warnings of a cluster that is down,
//! bad requests get 400 and change nothing, a silence survives kill -9,
//! and `nines silence expire` ends it.

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use serde_json::Value;

const CONFIG: &str = "inhibit_rules:
- source_matchers: [alertname=ClusterDown]
  target_matchers: [severity=warning]
  equal: [cluster]
";

fn start(dir: &Path) -> Server {
    let config = dir.join("nines.yaml");
    std::fs::write(&config, CONFIG).unwrap();
    Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

fn nines(s: &Server, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(args)
        .args(["--server", &s.url])
        .env("USER", "ana")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn alert<'a>(all: &'a Value, name: &str) -> &'a Value {
    all["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["labels"]["alertname"] == name)
        .unwrap_or_else(|| panic!("{name} not listed: {all}"))
}

fn alerts(s: &Server) -> Value {
    let (code, body) = s.get("/api/v1/alerts");
    assert_eq!(code, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

fn silences(s: &Server) -> String {
    let (code, body) = s.get("/api/v1/silences");
    assert_eq!(code, 200, "{body}");
    body
}

const ALERTS: &str = r#"{"alerts":[
  {"labels":{"alertname":"ClusterDown","cluster":"eu","severity":"critical"}},
  {"labels":{"alertname":"SlowEu","cluster":"eu","severity":"warning"}},
  {"labels":{"alertname":"SlowUs","cluster":"us","severity":"warning"}},
  {"labels":{"alertname":"DiskFull","instance":"db-1","severity":"page"}}]}"#;

#[test]
fn silences_mute_inhibition_holds_back_and_both_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let (code, body) = s.post("/api/v1/integrations/generic", "application/json", ALERTS.as_bytes());
    assert_eq!(code, 200, "{body}");

    let (ok, out) = nines(
        &s,
        &[
            "silence",
            "add",
            "instance=db-1",
            "--comment",
            "swapping the disk",
            "--duration",
            "2h",
        ],
    );
    assert!(ok, "{out}");
    let id = out.trim().to_string();
    assert_eq!(id.len(), 36, "{out}");

    let all = alerts(&s);
    assert_eq!(alert(&all, "DiskFull")["silencedBy"], serde_json::json!([id]));
    assert_eq!(
        alert(&all, "SlowEu")["inhibitedBy"],
        serde_json::json!(["inhibit_rules[0]"])
    );
    assert_eq!(alert(&all, "SlowUs")["inhibitedBy"], serde_json::json!([]));
    assert_eq!(alert(&all, "SlowUs")["silencedBy"], serde_json::json!([]));
    assert_eq!(alert(&all, "ClusterDown")["inhibitedBy"], serde_json::json!([]));

    let (ok, table) = nines(&s, &["silence", "list"]);
    assert!(ok, "{table}");
    assert!(table.contains(&id) && table.contains("active"), "{table}");
    assert!(table.contains("instance=\"db-1\"") && table.contains("ana"), "{table}");

    // Bad requests: 400, and the silences are as they were.
    let before = silences(&s);
    let future = "2999-01-01T00:00:00Z";
    let ab = r#"[{"name":"a","value":"b","isRegex":false}]"#;
    let body = |matchers: &str, ends: &str, comment: &str, extra: &str| {
        format!(r#"{{"matchers":{matchers},"endsAt":"{ends}","comment":"{comment}","createdBy":"a"{extra}}}"#)
    };
    for (body, says) in [
        (body("[]", future, "c", ""), "at least one matcher"),
        (
            body(r#"[{"name":"a","value":".*","isRegex":true}]"#, future, "c", ""),
            "empty string",
        ),
        (
            body(r#"[{"name":"a","value":"(","isRegex":true}]"#, future, "c", ""),
            "matchers[0]",
        ),
        (body(ab, "2001-01-01T00:00:00Z", "c", ""), "in the past"),
        (body(ab, future, "", ""), "comment is required"),
        (body(ab, "soon", "c", ""), "endsAt"),
        (body(ab, future, "c", r#","mood":1"#), "unknown field `mood`"),
        ("{not json".into(), "silence:"),
    ] {
        let (code, answer) = s.post("/api/v1/silences", "application/json", body.as_bytes());
        assert_eq!(code, 400, "{body}: {answer}");
        assert!(answer.contains(says), "{body}: {answer}");
    }
    assert_eq!(silences(&s), before);
    let unknown = body(ab, future, "c", r#","id":"nope""#);
    let (code, answer) = s.post("/api/v1/silences", "application/json", unknown.as_bytes());
    assert_eq!(code, 404, "{answer}");
    let (code, answer) = s.delete("/api/v1/silences/nope");
    assert_eq!(code, 404, "{answer}");

    s.kill9();
    let s = start(dir.path());
    // The alerts and the silence both survived.
    assert_eq!(alert(&alerts(&s), "DiskFull")["silencedBy"], serde_json::json!([id]));

    let (ok, out) = nines(&s, &["silence", "expire", &id]);
    assert!(ok, "{out}");
    assert_eq!(alert(&alerts(&s), "DiskFull")["silencedBy"], serde_json::json!([]));
    let (ok, out) = nines(&s, &["silence", "expire", &id]);
    assert!(!ok && out.contains("already expired"), "{out}");
    let (ok, table) = nines(&s, &["silence", "list", "--expired"]);
    assert!(ok && table.contains(&id) && table.contains("expired"), "{table}");
    let (ok, table) = nines(&s, &["silence", "list"]);
    assert!(ok && !table.contains(&id), "{table}");

    // The event log kept who made and who ended each silence, across the
    // kill -9.
    let (code, body) = s.get("/api/v1/events?kind=silence.");
    assert_eq!(code, 200, "{body}");
    let events: Value = serde_json::from_str(&body).unwrap();
    let mine: Vec<(&str, &str)> = events["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["payload"]["id"] == id.as_str())
        .map(|e| (e["kind"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(mine, [("silence.created", "ana"), ("silence.expired", "api")], "{body}");
    s.stop();
}

#[test]
fn check_names_the_broken_inhibition_rule() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = common::check_config(
        dir.path(),
        "inhibit_rules:\n- source_matchers: ['alertname=~\"(\"']\n  target_matchers:\n  - severity=warning\n",
    );
    assert!(!ok);
    assert!(err.contains("inhibit_rules[0].source_matchers[0]: matcher"), "{err}");
    assert!(err.contains("regex"), "{err}");
}
