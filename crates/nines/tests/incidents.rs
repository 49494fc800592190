//! Incidents through the real binary: declared and followed with
//! `nines incident`, each state change kept as a milestone and an event,
//! invalid transitions refused with what may follow, bad requests
//! answered 400, and everything still there after kill -9.

mod common;

use common::Server;
use serde_json::Value;

#[test]
fn an_incident_is_declared_worked_resolved_and_closed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(&dir.path().join("data"), &[]);
    let (ok, out) = s.cli(&[
        "incident",
        "declare",
        "--title",
        "checkout fails for card payments",
        "--severity",
        "sev2",
        "--service",
        "checkout",
        "--commander",
        "bo",
        "-o",
        "json",
    ]);
    assert!(ok, "{out}");
    let declared: Value = serde_json::from_str(&out).unwrap();
    let id = declared["incidents"][0]["id"].as_i64().unwrap();
    assert_eq!(declared["incidents"][0]["severity"], "SEV2");
    assert_eq!(declared["incidents"][0]["declaredBy"], "ana");

    for args in [
        vec!["update", "--state", "investigating", "--scribe", "cy"],
        vec![
            "update",
            "--state",
            "identified",
            "--message",
            "a bad config push; rolling back",
        ],
        vec!["update", "--state", "monitoring", "--service", "payments"],
    ] {
        let id = id.to_string();
        let mut full = vec!["incident", args[0], &id];
        full.extend(&args[1..]);
        let (ok, out) = s.cli(&full);
        assert!(ok, "{full:?}: {out}");
    }
    let (ok, out) = s.cli(&["incident", "note", &id.to_string(), "error rate back under 0.1%"]);
    assert!(ok, "{out}");

    // Closing before resolving is refused, saying what may follow.
    let (ok, out) = s.cli(&["incident", "update", &id.to_string(), "--state", "closed"]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "it cannot become closed (from monitoring it may become triage, investigating, identified, resolved)"
        ),
        "{out}"
    );
    let (ok, out) = s.cli(&["incident", "resolve", &id.to_string(), "-m", "fixed by the rollback"]);
    assert!(ok && out.contains("resolved"), "{out}");
    let (ok, out) = s.cli(&["incident", "update", &id.to_string(), "--state", "closed"]);
    assert!(ok, "{out}");
    let (code, body) = s.post(
        &format!("/api/v1/incidents/{id}/update"),
        "application/json",
        br#"{"state":"investigating"}"#,
    );
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("a closed incident does not change"), "{body}");
    for (path, bad) in [
        ("/api/v1/incidents", r#"{"title":"x","severity":"SEV9"}"#),
        ("/api/v1/incidents", r#"{"title":"","severity":"SEV3"}"#),
        ("/api/v1/incidents", r#"{"title":"x","severity":"SEV3","colour":"red"}"#),
        ("/api/v1/incidents/1/update", r#"{"state":"sleeping"}"#),
    ] {
        let (code, body) = s.post(path, "application/json", bad.as_bytes());
        assert_eq!(code, 400, "{path} {bad}: {body}");
    }
    assert_eq!(
        s.post("/api/v1/incidents/77/notes", "application/json", br#"{"note":"x"}"#)
            .0,
        404
    );

    s.kill9();
    let s = Server::start(&dir.path().join("data"), &[]);
    let i = s.get_json(&format!("/api/v1/incidents/{id}"))["data"].clone();
    let milestones: Vec<&str> = i["milestones"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        milestones,
        [
            "triage",
            "investigating",
            "identified",
            "monitoring",
            "resolved",
            "closed"
        ]
    );
    assert_eq!(i["services"], serde_json::json!(["checkout", "payments"]));
    assert_eq!(
        (i["commander"].as_str(), i["scribe"].as_str()),
        (Some("bo"), Some("cy"))
    );
    assert_eq!(i["statusUpdate"], "fixed by the rollback");
    assert!(
        s.get_json("/api/v1/incidents")["data"]["incidents"]
            .as_array()
            .unwrap()
            .is_empty(),
        "closed is not open"
    );
    let (ok, out) = s.cli(&["incident", "list", "--state", "all"]);
    assert!(ok && out.contains("checkout fails for card payments"), "{out}");

    let events = s.get_json("/api/v1/events?kind=incident.")["data"]["events"].clone();
    let kinds: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "incident.declared",
            "incident.state",
            "incident.role",
            "incident.state",
            "incident.update",
            "incident.state",
            "incident.note",
            "incident.state",
            "incident.update",
            "incident.state"
        ],
        "{events}"
    );
    assert!(events
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["payload"]["incident"] == id && e["actor"] == "ana"));
}

#[test]
fn a_critical_page_declares_an_incident_on_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let hooks = common::receiver::Receiver::start();
    let config = format!(
        "users:
- {{name: alice, contact_methods: [{{type: webhook, url: '{base}/alice'}}]}}
escalation_policies:
- {{name: p, levels: [{{targets: [{{user: alice}}]}}]}}
route:
  receiver: oncall
  group_by: [alertname]
  group_wait: 0s
receivers:
- {{name: oncall, escalation_policy: p}}
incidents:
  auto_declare:
  - matchers: ['severity=\"critical\"']
    severity: SEV1
",
        base = hooks.base
    );
    let path = dir.path().join("nines.yaml");
    std::fs::write(&path, config).unwrap();
    let s = Server::start(&dir.path().join("data"), &["--config", path.to_str().unwrap()]);
    let post = |name: &str, severity: &str| {
        let body = format!(
            r#"{{"alerts":[{{"labels":{{"alertname":"{name}","severity":"{severity}","service":"checkout"}},"annotations":{{"summary":"{name} on checkout"}}}}]}}"#
        );
        let (code, answer) = s.post("/api/v1/integrations/generic", "application/json", body.as_bytes());
        assert_eq!(code, 200, "{answer}");
    };
    post("SlowCheckout", "warning");
    common::wait_until("the warning pages alice", std::time::Duration::from_secs(20), || {
        (!hooks.bodies_to("/alice").is_empty()).then_some(())
    });
    post("CheckoutDown", "critical");
    let incident = common::wait_until("an incident is declared", std::time::Duration::from_secs(20), || {
        s.get_json("/api/v1/incidents")["data"]["incidents"]
            .as_array()
            .unwrap()
            .first()
            .cloned()
    });
    assert_eq!(incident["title"], "CheckoutDown on checkout");
    assert_eq!(incident["severity"], "SEV1");
    assert_eq!(incident["services"], serde_json::json!(["checkout"]));
    assert_eq!(incident["declaredBy"], "nines");
    let pages = s.get_json("/api/v1/pages?status=all")["data"]["pages"].clone();
    let critical = pages
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["summary"] == "CheckoutDown on checkout")
        .unwrap();
    assert_eq!(incident["pages"], serde_json::json!([critical["id"]]));
    assert_eq!(
        s.get_json("/api/v1/incidents")["data"]["incidents"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the warning declared none"
    );

    let (ok, err) = common::check_config(
        dir.path(),
        "incidents:\n  auto_declare:\n  - {matchers: ['severity=~\"(\"'], severity: SEV0}\n",
    );
    assert!(!ok);
    assert!(err.contains("incidents.auto_declare[0].matchers:"), "{err}");
    assert!(
        err.contains("incidents.auto_declare[0].severity: \"SEV0\" is not one of SEV1"),
        "{err}"
    );
}
