//! The whole response loop through the real binary: a metric goes bad, a
//! rule fires, the route picks a receiver whose escalation policy opens a
//! page, the user on call on a Tokyo schedule at that instant is notified
//! on a real HTTP receiver, nobody acks, level 2 is notified after its
//! delay, an ack through the signed link stops the rest, the metric
//! recovers, the alert resolves and the page closes. Also: escalation
//! timers survive kill -9, and pages answer bad requests plainly.

mod common;

use std::path::Path;
use std::time::Duration;

use common::receiver::Receiver;
use common::{wait_until, Server};
use serde_json::Value;

const RULES: &str = "groups:
- name: checkout
  interval: 1s
  rules:
  - alert: CheckoutErrors
    expr: checkout_errors > 0
    labels:
      severity: page
      service: checkout
    annotations:
      summary: checkout is failing
      impact: customers cannot pay
      runbook_url: https://runbooks.example/checkout
";

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A one-hour rotation on Tokyo's wall clock whose second shift (alice's)
/// began 30 minutes ago; a zone read wrongly would put bob on call.
fn tokyo_start() -> String {
    let tz = jiff::tz::TimeZone::get("Asia/Tokyo").unwrap();
    let start = jiff::Timestamp::now().to_zoned(tz).datetime() - jiff::SignedDuration::from_mins(90);
    start.strftime("%Y-%m-%dT%H:%M").to_string()
}

fn config(r: &Receiver, levels: &str) -> String {
    let base = &r.base;
    format!(
        "global:
  evaluation_interval: 1s
server:
  external_url: http://nines.example
rule_files: [checkout.rules.yml]
users:
- {{name: alice, time_zone: Asia/Tokyo, contact_methods: [{{type: webhook, url: '{base}/alice'}}]}}
- {{name: bob, time_zone: Asia/Tokyo, contact_methods: [{{type: webhook, url: '{base}/bob'}}]}}
- {{name: lead, contact_methods: [{{type: webhook, url: '{base}/lead'}}, {{type: slack, url: '{base}/slack'}}]}}
- {{name: cto, contact_methods: [{{type: webhook, url: '{base}/cto'}}]}}
schedules:
- name: primary
  time_zone: Asia/Tokyo
  layers:
  - {{participants: [bob, alice], shift_length: 1h, start: '{start}'}}
escalation_policies:
- name: checkout
  levels:
{levels}
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
receivers:
- {{name: oncall, escalation_policy: checkout}}
",
        start = tokyo_start()
    )
}

fn start(dir: &Path, config: &str) -> Server {
    std::fs::write(dir.join("checkout.rules.yml"), RULES).unwrap();
    let path = dir.join("nines.yaml");
    std::fs::write(&path, config).unwrap();
    Server::start(&dir.join("data"), &["--config", path.to_str().unwrap()])
}

fn errors(s: &Server, value: f64) {
    let line = serde_json::json!({
        "metric": {"__name__": "checkout_errors", "service": "checkout"},
        "values": [value], "timestamps": [now_ms()],
    });
    let (code, body) = s.post("/api/v1/import", "application/json", format!("{line}\n").as_bytes());
    assert_eq!(code, 204, "{body}");
}

fn json(s: &Server, path: &str) -> Value {
    let (code, body) = s.get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn page(s: &Server, id: i64) -> Value {
    json(s, &format!("/api/v1/pages/{id}"))["data"].clone()
}

/// The path and query of an absolute ack link.
fn local(url: &str) -> String {
    url.strip_prefix("http://nines.example").unwrap().to_string()
}

#[test]
fn a_bad_metric_pages_the_person_on_call_escalates_stops_on_ack_and_closes_on_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start();
    let levels = "  - {targets: [{schedule: primary}], delay: 2s}
  - {targets: [{user: lead}], delay: 2s}
  - {targets: [{user: cto}]}";
    let s = start(dir.path(), &config(&r, levels));
    let on_call = json(&s, "/api/v1/oncall?schedule=primary");
    assert_eq!(
        on_call["data"]["oncall"][0]["shift"]["user"]["name"], "alice",
        "{on_call}"
    );

    errors(&s, 3.0);
    let first = wait_until("alice is paged", Duration::from_secs(20), || {
        r.bodies_to("/alice").into_iter().next()
    });
    assert_eq!(first["kind"], "page");
    assert_eq!(first["event"], "triggered");
    assert_eq!(first["recipient"]["onCallFor"], "primary");
    assert_eq!(first["page"]["summary"], "checkout is failing");
    assert_eq!(first["page"]["impact"], "customers cannot pay");
    assert_eq!(first["page"]["runbookUrl"], "https://runbooks.example/checkout");
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "CheckoutErrors");
    assert_eq!(first["alerts"][0]["source"], "rule");
    let id = first["page"]["id"].as_i64().unwrap();
    assert!(r.bodies_to("/bob").is_empty());

    // Nobody acks: the lead hears about it on both of their channels.
    let lead = wait_until("level 2 is paged", Duration::from_secs(20), || {
        r.bodies_to("/lead").into_iter().next()
    });
    assert_eq!(lead["event"], "escalated");
    assert_eq!(lead["page"]["level"], 2);
    let slack = wait_until("level 2's Slack message", Duration::from_secs(10), || {
        r.bodies_to("/slack").into_iter().next()
    });
    assert!(
        slack["text"].as_str().unwrap().contains("checkout is failing"),
        "{slack}"
    );
    assert!(
        slack["text"].as_str().unwrap().contains("customers cannot pay"),
        "{slack}"
    );

    // The lead's link: looking acknowledges nothing, a forged one is
    // refused, posting it acknowledges.
    let link = local(lead["ackUrl"].as_str().unwrap());
    let (code, form) = s.get(&link);
    assert_eq!(code, 200, "{form}");
    assert!(form.contains("Acknowledge as lead"), "{form}");
    assert_eq!(page(&s, id)["status"], "triggered");
    let forged = link.replace("user=lead", "user=cto");
    assert_eq!(s.post(&forged, "text/plain", b"").0, 403);
    let (code, done) = s.post(&link, "text/plain", b"");
    assert_eq!(code, 200, "{done}");
    let acked = page(&s, id);
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(acked["acknowledgedBy"], "lead (ack link)");
    assert_eq!(acked["nextStepAt"], Value::Null);

    let (ok, out) = s.cli(&["page", "list"]);
    assert!(
        ok && out.contains("acknowledged") && out.contains("checkout is failing"),
        "{out}"
    );

    // The metric recovers: the alert resolves, and so does the page.
    errors(&s, 0.0);
    let closed = wait_until("the page closes", Duration::from_secs(20), || {
        let p = page(&s, id);
        (p["status"] == "resolved").then_some(p)
    });
    assert_eq!(closed["resolvedBy"], "alert resolved");
    let kinds: Vec<&str> = closed["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "triggered",
            "notified",
            "escalated",
            "notified",
            "acknowledged",
            "resolved"
        ]
    );
    assert_eq!(closed["timeline"][1]["detail"], "level 1: alice (on call for primary)");
    assert!(r.bodies_to("/cto").is_empty(), "the ack stopped level 3");
    assert_eq!(r.bodies_to("/alice").len(), 1);

    // Bad requests are answered plainly and change nothing.
    assert_eq!(s.post("/api/v1/pages/999/ack", "application/json", b"").0, 404);
    assert_eq!(
        s.post(&format!("/api/v1/pages/{id}/ack"), "application/json", b"").0,
        409
    );
    assert_eq!(
        s.post(&format!("/api/v1/pages/{id}/ack"), "application/json", b"{\"by\": 7}")
            .0,
        400
    );
    assert_eq!(s.post("/api/v1/pages/x/ack", "application/json", b"").0, 400);
    assert_eq!(s.get("/api/v1/pages?status=sleepy").0, 400);
    assert_eq!(page(&s, id)["status"], "resolved");

    // The load: alice and the lead were each paged once; the page reached
    // alice through her shift, and the lead's ack counts for both.
    let load = json(&s, "/api/v1/oncall/load")["data"].clone();
    let people: Vec<(String, i64, i64)> = load["people"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["user"]["name"].as_str().unwrap().to_string(),
                p["pages"].as_i64().unwrap(),
                p["acknowledged"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        people,
        [("alice".to_string(), 1, 1), ("lead".to_string(), 1, 1)],
        "{load}"
    );
    assert_eq!(load["shifts"][0]["user"], "alice", "{load}");
    assert_eq!(load["shifts"][0]["pages"], 1);
    assert_eq!(load["shifts"][0]["overGuidance"], false);
    assert_eq!(load["guidance"]["maxPagesPerShift"], 2);
    let (ok, out) = s.cli(&["oncall", "load"]);
    assert!(ok && out.contains("alice") && out.contains("0 of "), "{out}");
    assert_eq!(
        s.get("/api/v1/oncall/load?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z")
            .0,
        400
    );
}

#[test]
fn escalation_picks_up_after_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let r = Receiver::start();
    let levels = "  - {targets: [{schedule: primary}], delay: 4s}
  - {targets: [{user: lead}]}";
    let s = start(dir.path(), &config(&r, levels));
    errors(&s, 1.0);
    let first = wait_until("alice is paged", Duration::from_secs(20), || {
        r.bodies_to("/alice").into_iter().next()
    });
    let id = first["page"]["id"].as_i64().unwrap();
    s.kill9();

    let s = Server::start(
        &dir.path().join("data"),
        &["--config", dir.path().join("nines.yaml").to_str().unwrap()],
    );
    let lead = wait_until("level 2 after the restart", Duration::from_secs(20), || {
        r.bodies_to("/lead").into_iter().next()
    });
    assert_eq!(lead["page"]["id"], id);
    let p = page(&s, id);
    assert_eq!(p["level"], 2);
    assert_eq!(
        json(&s, "/api/v1/pages?status=all")["data"]["pages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(r.bodies_to("/alice").len(), 1, "the restart does not page alice again");
    // Nor does it log the alert firing again: the log remembers.
    let fired = json(&s, "/api/v1/events?kind=alert.firing")["data"]["events"].clone();
    assert_eq!(fired.as_array().unwrap().len(), 1, "{fired}");

    let (ok, out) = s.cli(&["page", "resolve", &id.to_string(), "--by", "ana"]);
    assert!(ok && out.contains("resolved"), "{out}");
    assert_eq!(page(&s, id)["resolvedBy"], "ana");
}

#[test]
fn a_receiver_naming_an_unknown_policy_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = common::check_config(
        dir.path(),
        "route: {receiver: oncall}\nreceivers:\n- {name: oncall, escalation_policy: nobody}\nescalation_policies:\n- {name: p, levels: [{targets: [{user: ghost}]}]}\n",
    );
    assert!(!ok);
    assert!(
        err.contains("receivers[0].escalation_policy: no escalation policy is named \"nobody\""),
        "{err}"
    );
    assert!(
        err.contains("escalation_policies[0].levels[0].targets[0]: no user is named \"ghost\""),
        "{err}"
    );
}
