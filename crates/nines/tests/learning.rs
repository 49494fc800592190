//! Learning end to end on the real binary: a deploy, then errors that
//! burn an SLO's budget, an incident caused by the deploy; the gate
//! blocks on it and logs its decision; the timeline puts the deploy
//! first; times and budget burnt are measured; the postmortem is drafted,
//! edited, exported and reported overdue; DORA counts the failed deploy;
//! all of it still there after kill -9.

mod common;

use std::time::Duration;

use common::traffic::now_ms;
use common::{wait_until, Server};
use serde_json::{json, Value};

const CONFIG: &str = r#"
slos:
  - service: api
    name: availability
    owner: team-api
    objective: 99.9
    window: 30d
    sli:
      ratio:
        bad: requests_total{code="500"}
        total: requests_total
incidents:
  severity_names: {SEV1: Critical, SEV2: Major}
  postmortem_due: 1s
dora:
  production_environments: [prod]
"#;

const MIN: i64 = 60_000;

fn rfc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let out = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn an_incident_caused_by_a_deploy_is_timed_blocks_releases_gets_a_postmortem_and_counts_in_dora() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("nines.yaml");
    std::fs::write(&config, "scrape_configs: []\n").unwrap();
    let data = dir.path().join("data");
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    common::traffic::import_failing_traffic(&s);
    // The SLO arrives after its history, so its first evaluation rolls all
    // of it up (minutes already rolled up do not take late samples).
    std::fs::write(&config, CONFIG).unwrap();
    let (code, body) = s.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    let now = now_ms();

    // A deploy 20 minutes ago shipping a commit from 3 hours ago, and a
    // staging deploy DORA must leave out.
    let deploy = json!({"service": "api", "environment": "prod", "version": "v2", "commit": "abc123",
        "commitTime": rfc(now - 180 * MIN), "finishedAt": rfc(now - 20 * MIN)});
    let (code, body) = s.post("/api/v1/deploys", "application/json", deploy.to_string().as_bytes());
    assert_eq!(code, 200, "{body}");
    let staging =
        json!({"service": "api", "environment": "staging", "version": "v3", "finishedAt": rfc(now - 5 * MIN)});
    let (code, body) = s.post("/api/v1/deploys", "application/json", staging.to_string().as_bytes());
    assert_eq!(code, 200, "{body}");
    let deploys = s.get_json("/api/v1/events?kind=deploy")["data"]["events"].clone();
    let deploy_id = deploys[0]["id"].as_i64().unwrap();
    assert_eq!(deploys[0]["payload"]["version"], "v2");

    // Only deploys can be named as causes.
    let bad = json!({"title": "x", "severity": "SEV3", "causedBy": [deploy_id + 100]});
    let (code, body) = s.post("/api/v1/incidents", "application/json", bad.to_string().as_bytes());
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("is not a deploy"), "{body}");

    let started = rfc(now - 15 * MIN);
    let (ok, out) = s.cli(&[
        "incident",
        "declare",
        "--title",
        "api returns 500s",
        "--severity",
        "major",
        "--service",
        "api",
        "--started-at",
        &started,
        "--caused-by",
        &deploy_id.to_string(),
        "-o",
        "json",
    ]);
    assert!(ok, "{out}");
    let declared: Value = serde_json::from_str(&out).unwrap();
    let inc = &declared["incidents"][0];
    let id = inc["id"].as_i64().unwrap();
    assert_eq!(inc["severity"], "SEV2");
    assert_eq!(inc["severityName"], "Major");

    // The gate blocks while a SEV2 is open, and its decision is an event.
    let gate = wait_until("the SLO is evaluated", Duration::from_secs(30), || {
        let (code, body) = s.get("/api/v1/gate?service=api");
        (code == 200).then(|| serde_json::from_str::<Value>(&body).unwrap())
    });
    assert_eq!(gate["decision"], "block", "{gate}");
    let open = gate["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "open_incident");
    let open = open.unwrap_or_else(|| panic!("no open_incident reason: {gate}"));
    assert_eq!(
        open["message"],
        format!("incident {id} (Major, triage) is open: api returns 500s")
    );
    let decisions = s.get_json("/api/v1/events?kind=gate.decision&service=api")["data"]["events"].clone();
    assert_eq!(decisions.as_array().unwrap().len(), 1, "{decisions}");
    assert_eq!(decisions[0]["payload"]["decision"], "block");

    // The timeline names the deploy first.
    let t = s.get_json(&format!("/api/v1/incidents/{id}/timeline"))["data"].clone();
    assert_eq!(t["suspects"].as_array().unwrap().len(), 1, "{t}");
    assert_eq!(t["suspects"][0]["id"], deploy_id);
    assert_eq!(t["suspects"][0]["summary"], "api v2 deployed to prod (success)");
    let kinds: Vec<&str> = t["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds[..2],
        ["deploy", "deploy"],
        "the staging deploy is a change to api during the incident: {t}"
    );
    assert!(kinds.contains(&"incident.declared"), "{t}");
    let (ok, out) = s.cli(&["incident", "timeline", &id.to_string()]);
    assert!(ok, "{out}");
    assert!(
        out.starts_with("Changes just before the start, most recent first:\n"),
        "{out}"
    );

    let (ok, out) = s.cli(&["incident", "resolve", &id.to_string(), "-m", "rolled back"]);
    assert!(ok, "{out}");
    let m = s.get_json(&format!("/api/v1/incidents/{id}/metrics"))["data"].clone();
    assert_eq!(m["startedAt"], started);
    assert_eq!(m["timeToAcknowledgeSeconds"], 0, "a person declared it: {m}");
    let ttr = m["timeToResolveSeconds"].as_i64().unwrap();
    assert!((15 * 60..17 * 60).contains(&ttr), "{m}");
    let burnt = &m["budgetBurnt"][0];
    assert_eq!(burnt["slo"], "api/availability", "{m}");
    assert_eq!(burnt["bad"], 400.0, "{m}");
    let ratio = burnt["budgetConsumedRatio"].as_f64().unwrap();
    assert!((ratio - 400.0 / 3.6).abs() < 1e-6, "{m}");

    let agg = s.get_json("/api/v1/incidents/metrics?team=team-api")["data"].clone();
    assert_eq!(agg["overall"]["incidents"], 1, "{agg}");
    assert_eq!(agg["teams"]["team-api"]["mttr"].as_i64().unwrap() / 1000, ttr, "{agg}");

    // The postmortem: drafted with impact and timeline, edited, exported.
    let (ok, out) = s.cli(&["incident", "postmortem", "draft", &id.to_string()]);
    assert!(ok, "{out}");
    let (code, body) = s.post(&format!("/api/v1/incidents/{id}/postmortem"), "application/json", b"");
    assert_eq!(code, 409, "drafted twice: {body}");
    let (ok, out) = s.cli(&[
        "incident",
        "postmortem",
        "edit",
        &id.to_string(),
        "--set",
        "contributingFactors=The canary checked latency only.",
        "--action",
        "prevent|team-api|Gate canaries on errors|2026-12-05",
    ]);
    assert!(ok, "{out}");
    let (ok, md) = s.cli(&["incident", "postmortem", "show", &id.to_string()]);
    assert!(ok, "{md}");
    assert!(md.starts_with("# Postmortem: api returns 500s\n"), "{md}");
    assert!(
        md.contains("- Error budget burnt on api/availability: 11111.1% of the window's budget (400 bad of"),
        "{md}"
    );
    assert!(
        md.contains("api v2 deployed to prod (success) (a change shortly before the start)"),
        "{md}"
    );
    assert!(
        md.contains("| 1 | prevent | Gate canaries on errors | team-api | 2026-12-05 | open | – |"),
        "{md}"
    );
    let (code, raw) = s.get(&format!("/api/v1/incidents/{id}/postmortem.md"));
    assert_eq!(code, 200);
    assert_eq!(raw, md);
    let report = wait_until("the postmortem is overdue", Duration::from_secs(10), || {
        let r = s.get_json("/api/v1/postmortems/report")["data"].clone();
        (!r["overduePostmortems"].as_array().unwrap().is_empty()).then_some(r)
    });
    assert_eq!(report["overduePostmortems"][0]["postmortem"], "draft");
    assert_eq!(report["openActionItems"][0]["owner"], "team-api");

    // DORA: one production deploy, it failed (it caused the incident).
    let d = s.get_json("/api/v1/dora?service=api")["data"].clone();
    assert_eq!(d["changeFailureRate"]["value"], 1.0, "{d}");
    assert_eq!(d["changeFailureRate"]["basis"], "1 of 1 production deploys failed");
    let lead = d["leadTime"]["value"].as_f64().unwrap();
    assert!((lead - (160.0 / 60.0)).abs() < 0.01, "{d}");
    let recovery = d["recoveryTime"]["value"].as_f64().unwrap();
    assert!((recovery * 3600.0 - ttr as f64).abs() < 1.0, "{d}");
    let (ok, out) = s.cli(&["dora", "--service", "api"]);
    assert!(ok, "{out}");
    assert!(out.contains("change failure rate"), "{out}");

    // kill -9: the postmortem and the gate's decision are still there.
    s.kill9();
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let pm = s.get_json(&format!("/api/v1/incidents/{id}/postmortem"))["data"].clone();
    assert_eq!(pm["contributingFactors"], "The canary checked latency only.");
    let decisions = s.get_json("/api/v1/events?kind=gate.decision")["data"]["events"].clone();
    assert_eq!(decisions.as_array().unwrap().len(), 1);
}
