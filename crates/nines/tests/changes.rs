//! Deploys and changes through the real binary: `nines deploy record` with
//! a `git log` of the commits it ships, `POST /api/v1/changes`, GitHub's
//! `deployment_status` webhook, all in the event log in time order; bad
//! payloads get 400 and append nothing; the log survives kill -9.

mod common;

use common::Server;
use serde_json::Value;

fn events(s: &Server, query: &str) -> Vec<Value> {
    let (code, body) = s.get(&format!("/api/v1/events?{query}"));
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["events"].as_array().unwrap().clone()
}

#[test]
fn deploys_changes_and_github_statuses_land_in_the_event_log() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);

    let log = dir.path().join("commits.txt");
    std::fs::write(
        &log,
        "0123abcd 2026-11-23T10:00:00+01:00 2026-11-23T11:00:00+01:00\n4567ef01 2026-11-22T10:00:00Z 2026-11-22T10:05:00Z\n",
    )
    .unwrap();
    let (ok, out) = s.cli(&[
        "deploy",
        "record",
        "--service",
        "checkout",
        "--version",
        "v1.4.0",
        "--commit",
        "0123abcd",
        "--changes",
        log.to_str().unwrap(),
        "--finished-at",
        "2026-11-24T09:00:00Z",
    ]);
    assert!(ok, "{out}");

    let change = br#"{"service":"checkout","kind":"flag","summary":"new-cart on for 10%","at":"2026-11-24T09:30:00Z","actor":"ana"}"#;
    let (code, body) = s.post("/api/v1/changes", "application/json", change);
    assert_eq!(code, 200, "{body}");

    let gh = br#"{"action":"created","deployment_status":{"state":"failure","updated_at":"2026-11-24T10:00:00Z","creator":{"login":"octocat"}},
        "deployment":{"sha":"89abcdef","ref":"v1.4.1","environment":"production","payload":{},"description":"hotfix for cart"},
        "repository":{"name":"checkout","full_name":"acme/checkout"}}"#;
    let (code, body) = s.post("/api/v1/integrations/github", "application/json", gh);
    assert_eq!(code, 200, "{body}");
    let pending = String::from_utf8_lossy(gh).replace("\"failure\"", "\"in_progress\"");
    let (code, body) = s.post("/api/v1/integrations/github", "application/json", pending.as_bytes());
    assert!(code == 200 && body.contains("ignored"), "{body}");

    // Bad payloads: 400, naming what is wrong, and nothing appended.
    for (path, bad, says) in [
        (
            "/api/v1/deploys",
            r#"{"service":"checkout","environment":"production"}"#,
            "missing field `version`",
        ),
        (
            "/api/v1/deploys",
            r#"{"service":"checkout","environment":"p","version":"1","commit":"not-a-sha"}"#,
            "commit:",
        ),
        (
            "/api/v1/changes",
            r#"{"service":"checkout","kind":"mood","summary":"x"}"#,
            "kind:",
        ),
        (
            "/api/v1/integrations/github",
            r#"{"deployment_status":{}}"#,
            "deployment_status event",
        ),
        ("/api/v1/deploys", "not json", "deploy:"),
    ] {
        let (code, body) = s.post(path, "application/json", bad.as_bytes());
        assert!(code == 400 && body.contains(says), "{path} {bad}: {code} {body}");
    }

    let all = events(&s, "service=checkout");
    let kinds: Vec<&str> = all.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["deploy", "change", "deploy"]);
    assert_eq!(all[0]["payload"]["version"], "v1.4.0");
    assert_eq!(all[0]["payload"]["commits"].as_array().unwrap().len(), 2);
    assert_eq!(all[0]["payload"]["commits"][0]["committedAt"], "2026-11-23T10:00:00Z");
    assert_eq!(all[0]["actor"], "ana");
    assert_eq!(all[1]["payload"]["kind"], "flag");
    assert_eq!(all[2]["payload"]["status"], "failed");
    assert_eq!(all[2]["payload"]["hotfix"], true);
    assert_eq!(all[2]["actor"], "octocat");

    s.kill9();
    let s = Server::start(&dir.path().join("data"), &[]);
    assert_eq!(events(&s, "kind=deploy&service=checkout").len(), 2);
    let (ok, out) = s.cli(&["events", "--service", "checkout"]);
    assert!(ok && out.contains("new-cart on for 10%"), "{out}");
}
