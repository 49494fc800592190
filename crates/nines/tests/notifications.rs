//! Notifications through the real binary to a real HTTP receiver: an
//! alert is routed and delivered as Alertmanager's webhook payload, a
//! receiver answering 500 is retried until it takes it, a group batches
//! alerts that arrive within its group_wait, a silenced alert is not
//! sent, a resolved alert is told, and the delivery log lists it all.

mod common;

use std::path::Path;
use std::time::Duration;

use common::receiver::Receiver;
use common::{wait_until, Server};
use serde_json::Value;

fn start(dir: &Path, hook: &str) -> Server {
    let config = dir.join("nines.yaml");
    std::fs::write(
        &config,
        format!(
            "route:
  receiver: ops
  group_by: [service]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
  routes:
  - matchers: [service=batch]
    group_wait: 2s
receivers:
- name: ops
  webhook_configs:
  - url: {hook}
"
        ),
    )
    .unwrap();
    Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

fn post_alert(s: &Server, name: &str, service: &str, status: &str) {
    let body = format!(
        r#"{{"alerts":[{{"labels":{{"alertname":"{name}","service":"{service}"}},"annotations":{{"summary":"{name} on {service}"}},"status":"{status}"}}]}}"#
    );
    let (code, answer) = s.post("/api/v1/integrations/generic", "application/json", body.as_bytes());
    assert_eq!(code, 200, "{answer}");
}

fn bodies_for(r: &Receiver, service: &str) -> Vec<Value> {
    r.bodies()
        .into_iter()
        .filter(|b| b["groupLabels"]["service"] == service)
        .collect()
}

#[test]
fn alerts_are_routed_grouped_retried_silenced_and_resolved() {
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start();
    let s = start(dir.path(), &receiver.url);

    // The receiver refuses twice; nines retries (1 s, then 2 s later).
    receiver.fail_next(2);
    post_alert(&s, "ApiDown", "checkout", "firing");
    let first = wait_until("the retried notification", Duration::from_secs(20), || {
        bodies_for(&receiver, "checkout").into_iter().next()
    });
    assert_eq!(receiver.refused.load(std::sync::atomic::Ordering::SeqCst), 2);
    assert_eq!(first["version"], "4");
    assert_eq!(first["status"], "firing");
    assert_eq!(first["receiver"], "ops");
    assert_eq!(first["alerts"][0]["labels"]["alertname"], "ApiDown");
    assert_eq!(first["alerts"][0]["annotations"]["summary"], "ApiDown on checkout");
    assert_eq!(first["alerts"][0]["source"], "generic");
    let (code, log) = s.get("/api/v1/notifications");
    assert_eq!(code, 200, "{log}");
    let log: Value = serde_json::from_str(&log).unwrap();
    let sent = &log["data"]["notifications"][0];
    assert_eq!(sent["status"], "sent", "{log}");
    assert_eq!(sent["attempts"], 3, "{log}");
    assert!(sent["lastError"].is_null(), "{log}");

    // Two alerts within the batch route's group_wait: one notification.
    post_alert(&s, "JobLate", "batch", "firing");
    post_alert(&s, "JobFailed", "batch", "firing");
    let batch = wait_until("the batched notification", Duration::from_secs(20), || {
        bodies_for(&receiver, "batch").into_iter().next()
    });
    assert_eq!(batch["alerts"].as_array().unwrap().len(), 2, "{batch}");

    // A silenced alert is held back; one sent after it shows it was not.
    let silence = r#"{"matchers":[{"name":"service","value":"muted","isRegex":false}],
        "endsAt":"2999-01-01T00:00:00Z","comment":"known issue","createdBy":"ana"}"#;
    let (code, answer) = s.post("/api/v1/silences", "application/json", silence.as_bytes());
    assert_eq!(code, 200, "{answer}");
    post_alert(&s, "Noise", "muted", "firing");
    post_alert(&s, "DiskFull", "storage", "firing");
    wait_until("the storage notification", Duration::from_secs(20), || {
        bodies_for(&receiver, "storage").into_iter().next()
    });
    assert!(bodies_for(&receiver, "muted").is_empty());

    // Resolved: told at the group's next flush.
    post_alert(&s, "ApiDown", "checkout", "resolved");
    let resolved = wait_until("the resolved notification", Duration::from_secs(20), || {
        bodies_for(&receiver, "checkout")
            .into_iter()
            .find(|b| b["status"] == "resolved")
    });
    assert_eq!(resolved["alerts"][0]["status"], "resolved");
    assert_ne!(resolved["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    // Nothing was sent twice.
    assert_eq!(bodies_for(&receiver, "checkout").len(), 2);
    assert_eq!(bodies_for(&receiver, "batch").len(), 1);
    s.stop();
}

#[test]
fn check_names_what_the_route_tree_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = common::check_config(
        dir.path(),
        "route:\n  receiver: ops\n  routes:\n  - receiver: nobody\n    mute_time_intervals: [weekends]\nreceivers:\n- name: ops\n  webhook_configs:\n  - url: not-a-url\n",
    );
    assert!(!ok);
    assert!(
        err.contains("route.routes[0].receiver: no receiver is named \"nobody\""),
        "{err}"
    );
    assert!(
        err.contains("route.routes[0].mute_time_intervals: no time interval is named \"weekends\""),
        "{err}"
    );
    assert!(
        err.contains("receivers[0].webhook_configs[0].url: \"not-a-url\""),
        "{err}"
    );
}
