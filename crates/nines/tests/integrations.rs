//! Alerts from outside through the real binary: an Alertmanager webhook
//! (version 4), PagerDuty Events v2 (trigger, acknowledge, resolve, the
//! routing key picking the service) and the generic JSON endpoint. Bad
//! payloads on each get 400 and change nothing; what was acknowledged
//! survives kill -9. A real Alertmanager (Debian's) delivers to nines as
//! it would to any webhook receiver.

mod common;

use std::path::Path;

use common::prometheus::free_port;
use common::{wait_until, Server};
use serde_json::Value;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn start(dir: &Path) -> Server {
    let config = dir.join("nines.yaml");
    std::fs::write(
        &config,
        format!("integrations:\n  pagerduty:\n    routing_keys:\n      {KEY}: checkout\n"),
    )
    .unwrap();
    Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

fn alerts(s: &Server) -> Vec<Value> {
    let (code, body) = s.get("/api/v1/alerts");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    v["data"]["alerts"].as_array().unwrap().clone()
}

fn named<'a>(all: &'a [Value], name: &str) -> Option<&'a Value> {
    all.iter().find(|a| a["labels"]["alertname"] == name)
}

fn post_json(s: &Server, path: &str, body: &str) -> (u16, Value) {
    let (code, text) = s.post(path, "application/json", body.as_bytes());
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

const AM_FIRING: &str = r#"{"version":"4","groupKey":"{}:{alertname=\"ApiDown\"}","truncatedAlerts":0,
  "status":"firing","receiver":"nines","groupLabels":{"alertname":"ApiDown"},"commonLabels":{"alertname":"ApiDown"},
  "commonAnnotations":{},"externalURL":"http://alertmanager:9093",
  "alerts":[{"status":"firing","labels":{"alertname":"ApiDown","job":"api","severity":"page"},
    "annotations":{"summary":"api is down"},"startsAt":"2026-11-24T10:00:00Z","endsAt":"0001-01-01T00:00:00Z",
    "generatorURL":"http://prometheus:9090/graph","fingerprint":"f00d"}]}"#;

#[test]
fn alertmanager_pagerduty_and_generic_alerts_arrive_and_bad_payloads_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());

    let (code, body) = post_json(&s, "/api/v1/integrations/alertmanager", AM_FIRING);
    assert_eq!(code, 200, "{body}");
    let all = alerts(&s);
    let down = named(&all, "ApiDown").expect("listed");
    assert_eq!(down["source"], "alertmanager");
    assert_eq!(down["state"], "firing");
    assert_eq!(down["activeAt"], "2026-11-24T10:00:00Z");
    assert_eq!(down["annotations"]["generator_url"], "http://prometheus:9090/graph");

    let trigger = format!(
        r#"{{"routing_key":"{KEY}","event_action":"trigger","dedup_key":"disk-db-1",
        "payload":{{"summary":"Disk full on db-1","source":"db-1","severity":"critical","class":"DiskFull"}}}}"#
    );
    let (code, body) = post_json(&s, "/api/v1/integrations/pagerduty", &trigger);
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["dedup_key"], "disk-db-1");
    let disk = named(&alerts(&s), "DiskFull").cloned().expect("listed");
    assert_eq!(disk["labels"]["service"], "checkout");
    assert_eq!(disk["acknowledged"], false);
    let ack = format!(r#"{{"routing_key":"{KEY}","event_action":"acknowledge","dedup_key":"disk-db-1"}}"#);
    let (code, body) = post_json(&s, "/v2/enqueue", &ack);
    assert_eq!(code, 202, "{body}");

    let generic = r#"{"alerts":[{"labels":{"alertname":"QueueStuck","service":"billing"},"annotations":{"summary":"jobs wait"}}]}"#;
    let (code, body) = post_json(&s, "/api/v1/integrations/generic", generic);
    assert_eq!(code, 200, "{body}");
    assert_eq!(alerts(&s).len(), 3);

    // Bad payloads: 400 with what and where, nothing changes.
    let before = alerts(&s);
    for (path, body, want) in [
        ("/api/v1/integrations/alertmanager", "{", "Alertmanager webhook payload"),
        (
            "/api/v1/integrations/alertmanager",
            &AM_FIRING.replace("\"4\"", "\"3\""),
            "version",
        ),
        (
            "/api/v1/integrations/alertmanager",
            &AM_FIRING.replace(
                "\"status\":\"firing\",\"labels\"",
                "\"status\":\"resolved\",\"labels\":{},\"x\"",
            ),
            "alertname is required",
        ),
        ("/api/v1/integrations/pagerduty", "[]", "routing_key: required"),
        (
            "/api/v1/integrations/pagerduty",
            "{\"routing_key\": 5}",
            "PagerDuty event",
        ),
        (
            "/api/v1/integrations/pagerduty",
            &trigger.replace(KEY, "not-a-configured-key"),
            "routing_key",
        ),
        (
            "/api/v1/integrations/pagerduty",
            &trigger.replace("critical", "sev1"),
            "payload.severity",
        ),
        (
            "/api/v1/integrations/generic",
            r#"{"alerts":[{"labels":{"job":"x"}}]}"#,
            "alertname",
        ),
        ("/api/v1/integrations/generic", "\u{0}\u{1}", "generic alert payload"),
    ] {
        let (code, answer) = post_json(&s, path, body);
        assert_eq!(code, 400, "{path} {body}: {answer}");
        assert!(answer.to_string().contains(want), "{path}: {answer}");
    }
    assert_eq!(alerts(&s), before);

    // Acknowledged before kill -9: still acknowledged after.
    s.kill9();
    let s = start(dir.path());
    let all = alerts(&s);
    assert_eq!(named(&all, "DiskFull").unwrap()["acknowledged"], true);
    assert!(named(&all, "ApiDown").is_some() && named(&all, "QueueStuck").is_some());

    // Resolving from each side.
    let resolved = AM_FIRING
        .replace("\"status\":\"firing\",\"labels\"", "\"status\":\"resolved\",\"labels\"")
        .replace(
            "\"endsAt\":\"0001-01-01T00:00:00Z\"",
            "\"endsAt\":\"2026-11-24T10:30:00Z\"",
        );
    assert_eq!(post_json(&s, "/api/v1/integrations/alertmanager", &resolved).0, 200);
    let resolve = ack.replace("acknowledge", "resolve");
    assert_eq!(post_json(&s, "/api/v1/integrations/pagerduty", &resolve).0, 202);
    let done = generic.replace("\"annotations\"", "\"status\":\"resolved\",\"annotations\"");
    assert_eq!(post_json(&s, "/api/v1/integrations/generic", &done).0, 200);
    assert_eq!(alerts(&s), Vec::<Value>::new());
    s.stop();
}

/// A running Debian Alertmanager, killed on drop.
struct Alertmanager {
    child: std::process::Child,
    url: String,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Alertmanager {
    fn start(dir: &Path, webhook: &str) -> Self {
        let config = dir.join("alertmanager.yml");
        std::fs::write(
            &config,
            format!(
                "route:\n  receiver: nines\n  group_by: [alertname]\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n\
                 receivers:\n- name: nines\n  webhook_configs:\n  - url: {webhook}\n    send_resolved: true\n"
            ),
        )
        .unwrap();
        let port = free_port();
        // CI installs Debian's prometheus-alertmanager; the test fails without it.
        let child = std::process::Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.path={}", dir.join("am").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // An empty address turns clustering off (it would listen on every interface).
            .arg("--cluster.listen-address=")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus-alertmanager (apt-get install prometheus-alertmanager)");
        let am = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        wait_until("Alertmanager ready", std::time::Duration::from_secs(30), || {
            ureq::get(&format!("{}/-/ready", am.url)).call().ok().map(|_| ())
        });
        am
    }

    fn post_alerts(&self, body: &str) {
        let r = ureq::post(&format!("{}/api/v2/alerts", self.url))
            .set("Content-Type", "application/json")
            .send_string(body);
        assert!(r.is_ok(), "{r:?}");
    }
}

#[test]
fn a_real_alertmanager_delivers_firing_and_resolved_alerts() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path());
    let am = Alertmanager::start(dir.path(), &format!("{}/api/v1/integrations/alertmanager", s.url));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let alert = |ends: u64| {
        format!(
            r#"[{{"labels":{{"alertname":"DiskFull","instance":"db-1","severity":"page"}},
            "annotations":{{"summary":"disk full on db-1"}},"generatorURL":"http://prometheus/graph",
            "startsAt":"{}","endsAt":"{}"}}]"#,
            rfc3339(now - 60),
            rfc3339(ends)
        )
    };
    am.post_alerts(&alert(now + 3600));
    let arrived = wait_until(
        "Alertmanager's notification",
        std::time::Duration::from_secs(30),
        || named(&alerts(&s), "DiskFull").cloned(),
    );
    assert_eq!(arrived["source"], "alertmanager");
    assert_eq!(arrived["labels"]["instance"], "db-1");
    assert_eq!(arrived["annotations"]["summary"], "disk full on db-1");
    assert_eq!(arrived["activeAt"], rfc3339(now - 60));

    am.post_alerts(&alert(now));
    wait_until(
        "Alertmanager's resolved notification",
        std::time::Duration::from_secs(30),
        || named(&alerts(&s), "DiskFull").is_none().then_some(()),
    );
}

/// Seconds since the epoch as RFC 3339 in UTC.
fn rfc3339(secs: u64) -> String {
    jiff::Timestamp::from_second(secs as i64).unwrap().to_string()
}
