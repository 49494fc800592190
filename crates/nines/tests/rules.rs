//! Rule evaluation through the real binary: recording rules write back,
//! alerts go pending and fire, `/api/v1/rules` and `/api/v1/alerts` answer
//! in Prometheus's shapes, alert state survives kill -9 (a pending alert
//! keeps its `for` clock, a firing one keeps firing) and carries over a
//! reload; `nines check` counts rules and locates rule file problems.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{encode, wait_until, Server};
use serde_json::Value;

const RULES: &str = r#"groups:
  - name: api
    interval: 1s
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: ApiDown
        expr: job:up:sum{job="api"} == 0
        labels:
          severity: page
        annotations:
          summary: "{{ $labels.job }} is down ({{ $value }} up)"
          impact: Checkout fails for every customer.
          runbook_url: "{{ $externalURL }}/runbooks/api-down"
      - alert: SlowBurn
        expr: vector(1)
        for: 1h
        labels:
          severity: ticket
"#;

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

fn json(s: &Server, path: &str) -> Value {
    let (code, body) = s.get(path);
    assert_eq!(code, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn alerts(s: &Server) -> Vec<Value> {
    json(s, "/api/v1/alerts")["data"]["alerts"].as_array().unwrap().clone()
}

fn alert<'a>(all: &'a [Value], name: &str) -> Option<&'a Value> {
    all.iter().find(|a| a["labels"]["alertname"] == name)
}

fn import_up_zero(s: &Server) {
    let line = serde_json::json!({
        "metric": {"__name__": "up", "job": "api", "instance": "a:9100"},
        "values": [0.0], "timestamps": [now_ms()],
    });
    let (code, body) = s.post("/api/v1/import", "application/json", format!("{line}\n").as_bytes());
    assert_eq!(code, 204, "{body}");
}

fn setup(dir: &Path) -> std::path::PathBuf {
    std::fs::write(dir.join("api.rules.yml"), RULES).unwrap();
    let config = dir.join("nines.yaml");
    std::fs::write(
        &config,
        "global:\n  evaluation_interval: 1s\nserver:\n  external_url: https://nines.example.com\nrule_files:\n  - \"*.rules.yml\"\n",
    )
    .unwrap();
    config
}

fn start(dir: &Path, config: &Path) -> Server {
    Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()])
}

#[test]
fn rules_record_and_alert_and_their_state_survives_kill_9_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let s = start(dir.path(), &config);
    import_up_zero(&s);

    let firing = wait_until("ApiDown firing and SlowBurn pending", Duration::from_secs(20), || {
        let all = alerts(&s);
        let down = alert(&all, "ApiDown")?.clone();
        let slow = alert(&all, "SlowBurn")?.clone();
        (down["state"] == "firing" && slow["state"] == "pending").then_some((down, slow))
    });
    let (down, slow) = firing;
    assert_eq!(down["labels"]["job"], "api");
    assert_eq!(down["labels"]["severity"], "page");
    assert_eq!(down["annotations"]["summary"], "api is down (0 up)");
    assert_eq!(
        down["annotations"]["runbook_url"],
        "https://nines.example.com/runbooks/api-down"
    );
    assert_eq!(down["value"], "0e+00");

    // The recording rule wrote back, and ALERTS / ALERTS_FOR_STATE exist.
    let recorded = json(&s, &format!("/api/v1/query?query={}", encode("job:up:sum")));
    assert_eq!(recorded["data"]["result"][0]["metric"]["job"], "api");
    assert_eq!(recorded["data"]["result"][0]["value"][1], "0");
    let pending = json(
        &s,
        &format!("/api/v1/query?query={}", encode("ALERTS{alertstate=\"pending\"}")),
    );
    assert_eq!(pending["data"]["result"][0]["metric"]["alertname"], "SlowBurn");
    let for_state = json(
        &s,
        &format!(
            "/api/v1/query?query={}",
            encode("ALERTS_FOR_STATE{alertname=\"SlowBurn\"}")
        ),
    );
    let active_secs: f64 = for_state["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let active_at = slow["activeAt"].as_str().unwrap().to_string();

    // /api/v1/rules in Prometheus's shape, with its filters.
    let rules = json(&s, "/api/v1/rules");
    let group = &rules["data"]["groups"][0];
    assert_eq!(group["name"], "api");
    assert!(group["file"].as_str().unwrap().ends_with("api.rules.yml"));
    assert_eq!(group["interval"], 1.0);
    let kinds: Vec<&str> = group["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["recording", "alerting", "alerting"]);
    let api_down = &group["rules"][1];
    assert_eq!(api_down["state"], "firing");
    assert_eq!(api_down["health"], "ok");
    assert_eq!(api_down["duration"], 0.0);
    assert_eq!(api_down["annotations"]["impact"], "Checkout fails for every customer.");
    assert_eq!(api_down["alerts"][0]["state"], "firing");
    assert_eq!(group["rules"][2]["duration"], 3600.0);
    let only_records = json(&s, "/api/v1/rules?type=record");
    assert_eq!(only_records["data"]["groups"][0]["rules"].as_array().unwrap().len(), 1);
    let by_name = json(&s, "/api/v1/rules?rule_name[]=SlowBurn&exclude_alerts=true");
    let slow_rule = &by_name["data"]["groups"][0]["rules"][0];
    assert_eq!(slow_rule["name"], "SlowBurn");
    assert!(slow_rule.get("alerts").is_none());
    assert_eq!(
        json(&s, "/api/v1/rules?rule_group[]=nope")["data"]["groups"],
        serde_json::json!([])
    );
    let (code, body) = s.get("/api/v1/rules?type=both");
    assert_eq!(code, 400, "{body}");

    // kill -9: the pending alert keeps its activeAt (its `for` clock), the
    // firing one is still firing from the same instant, straight away.
    let down_active = down["activeAt"].clone();
    s.kill9();
    let s = start(dir.path(), &config);
    let all = alerts(&s);
    assert_eq!(
        alert(&all, "SlowBurn").expect("restored")["activeAt"],
        active_at.as_str()
    );
    assert_eq!(alert(&all, "ApiDown").expect("restored")["state"], "firing");
    assert_eq!(alert(&all, "ApiDown").unwrap()["activeAt"], down_active);
    wait_until("an evaluation after the restart", Duration::from_secs(20), || {
        let g = &json(&s, "/api/v1/rules")["data"]["groups"][0];
        (g["lastEvaluation"] != "0001-01-01T00:00:00Z").then_some(())
    });
    let all = alerts(&s);
    assert_eq!(alert(&all, "SlowBurn").unwrap()["activeAt"], active_at.as_str());
    assert_eq!(alert(&all, "ApiDown").unwrap()["activeAt"], down_active);
    let for_state = json(
        &s,
        &format!(
            "/api/v1/query?query={}",
            encode("ALERTS_FOR_STATE{alertname=\"SlowBurn\"}")
        ),
    );
    let after: f64 = for_state["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(after, active_secs);

    // A reload that changes the group keeps the alerts that still exist.
    let without_down = RULES.replace("      - alert: ApiDown\n", "      - alert: ApiDownRenamed\n");
    std::fs::write(dir.path().join("api.rules.yml"), without_down).unwrap();
    let (code, body) = s.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    let all = alerts(&s);
    assert!(alert(&all, "ApiDown").is_none(), "a renamed rule's alerts go");
    assert_eq!(alert(&all, "SlowBurn").unwrap()["activeAt"], active_at.as_str());
    wait_until("the renamed rule fires", Duration::from_secs(20), || {
        alert(&alerts(&s), "ApiDownRenamed")
            .filter(|a| a["state"] == "firing")
            .map(|_| ())
    });

    // A reload with a broken rule file is refused; the rules keep running.
    std::fs::write(
        dir.path().join("api.rules.yml"),
        "groups:\n  - name: api\n    rules:\n      - record: x\n",
    )
    .unwrap();
    let (code, body) = s.post("/-/reload", "text/plain", b"");
    assert_ne!(code, 200, "{body}");
    assert!(
        body.contains("api.rules.yml:4:7") && body.contains("needs an expr"),
        "{body}"
    );
    assert!(alert(&alerts(&s), "SlowBurn").is_some());
    s.stop();
}

#[test]
fn check_counts_rules_and_refuses_a_page_without_impact() {
    let dir = tempfile::tempdir().unwrap();
    let config = setup(dir.path());
    let check = |config: &Path| {
        let out = Command::new(env!("CARGO_BIN_EXE_nines"))
            .args(["check", "--config", config.to_str().unwrap()])
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let (ok, out) = check(&config);
    assert!(ok, "{out}");
    assert!(out.contains("1 rule groups with 3 rules"), "{out}");
    let no_impact = RULES.replace("          impact: Checkout fails for every customer.\n", "");
    std::fs::write(dir.path().join("api.rules.yml"), no_impact).unwrap();
    let (ok, out) = check(&config);
    assert!(!ok, "{out}");
    assert!(
        out.contains("api.rules.yml:11:9: groups[0].rules[1].annotations: alert \"ApiDown\" pages"),
        "{out}"
    );
    std::fs::write(
        &config,
        std::fs::read_to_string(&config).unwrap() + "alerting:\n  page_annotations: warn\n",
    )
    .unwrap();
    let (ok, out) = check(&config);
    assert!(ok, "{out}");
    assert!(out.contains("warning: ") && out.contains("impact"), "{out}");
}
