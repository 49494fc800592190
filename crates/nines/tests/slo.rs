//! SLOs end to end on the real binary: data imported, an SLO added by a
//! reload and rolled up from the stored history, its status, history,
//! alerts and written-back series served; the CLI prints it; rollups
//! survive a kill -9.

mod common;

use std::process::Command;
use std::time::Duration;

use common::traffic::{import_failing_traffic, now_ms};
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
    let (ok, bad) = import_failing_traffic(&s);

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

/// A server whose history holds the traffic of [`import_failing_traffic`] before
/// `config_text` (with its SLOs) is loaded by a reload (an SLO counts
/// minutes once, so the data must be there before its first evaluation),
/// returned once `api/availability` has counted the outage.
fn server_with_history(dir: &std::path::Path, config_text: &str) -> (Server, std::path::PathBuf, f64, f64) {
    let config = dir.join("nines.yaml");
    std::fs::write(&config, "scrape_configs: []\n").unwrap();
    let s = Server::start(&dir.join("data"), &["--config", config.to_str().unwrap()]);
    let (good, bad) = import_failing_traffic(&s);
    std::fs::write(&config, config_text).unwrap();
    let (ok, out, err) = nines(&["check", "--config", config.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (code, body) = s.post("/-/reload", "text/plain", b"");
    assert_eq!(code, 200, "{body}");
    wait_until("the outage counted", Duration::from_secs(30), || {
        status(&s).filter(|st| st["groups"][0]["events"]["bad"] == bad)
    });
    (s, config, good, bad)
}

/// `nines gate ARGS --server URL`: exit code and all output.
fn run_gate(url: &str, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec!["gate"];
    all.extend_from_slice(args);
    all.extend(["--server", url]);
    let out = Command::new(env!("CARGO_BIN_EXE_nines")).args(&all).output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn nines(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nines")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_maintenance_window_recorded_after_an_outage_takes_it_out_of_the_budget_and_survives_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // A config window for another service shows up in the list too.
    let with_window = format!(
        "{SLO}maintenance:\n  - service: web\n    name: sunday-patching\n    reason: OS patches\n    recurring:\n      weekdays: [sunday]\n      time: \"03:00\"\n      duration: 1h\n      time_zone: Europe/Berlin\n"
    );
    let (s, config, good, bad) = server_with_history(dir.path(), &with_window);
    let data = dir.path().join("data");
    assert_eq!(status(&s).expect("evaluated")["state"], "exhausted");

    // Hostile and incomplete requests are refused with the reason.
    let (code, body) = s.post("/api/v1/maintenance", "application/json", b"{\"service\": ");
    assert_eq!(code, 400, "{body}");
    let (code, body) = s.post(
        "/api/v1/maintenance",
        "application/json",
        br#"{"service":"api","reason":"x","start":"2026-01-01T00:00:00Z","end":"2025-01-01T00:00:00Z","created_by":"a"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("end: the window ends before it starts"), "{body}");
    let (code, body) = s.post(
        "/api/v1/maintenance",
        "application/json",
        br#"{"service":"api","reason":"x","start":"2026-01-01T00:00:00Z","duration":"1h"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("created_by"), "{body}");

    // Recorded after the fact, through the CLI: the errors leave the budget.
    let start = nines_slo::status::rfc3339(now_ms() - 15 * 60_000);
    let (ok_cli, out, err) = nines(&[
        "maintenance",
        "add",
        "--server",
        &s.url,
        "--service",
        "api",
        "--reason",
        "failover drill",
        "--start",
        &start,
        "--duration",
        "20m",
        "--by",
        "alice",
        "--output",
        "json",
    ]);
    assert!(ok_cli, "{out}{err}");
    let window: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(window["created_by"], "alice");
    assert_eq!(window["state"], "active");
    let st = wait_until("the window applied", Duration::from_secs(30), || {
        status(&s).filter(|st| st["groups"][0]["events"]["bad"] == 0.0)
    });
    let g = &st["groups"][0];
    assert_eq!(g["excluded"]["bad"], bad, "{st}");
    assert!(g["events"]["total"].as_f64().unwrap() > 0.0 && g["events"]["total"].as_f64().unwrap() < good);
    assert_eq!(st["maintenance"][0]["reason"], "failover drill");
    assert_eq!(st["maintenance"][0]["active"], true);
    let (ok_cli, out, err) = nines(&["maintenance", "list", "--server", &s.url]);
    assert!(ok_cli, "{err}");
    assert!(out.contains("failover drill"), "{out}");
    assert!(out.contains("OS patches") && out.contains("config"), "{out}");

    // Acknowledged means durable: after kill -9 the window is still there
    // and still applies.
    s.kill9();
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    let (code, body) = s.get("/api/v1/maintenance?service=api");
    assert_eq!(code, 200, "{body}");
    let list: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{body}");
    assert_eq!(list["data"][0]["spec"]["reason"], "failover drill");
    let st = wait_until("evaluated after restart", Duration::from_secs(30), || status(&s));
    assert_eq!(st["groups"][0]["events"]["bad"], 0.0, "{st}");

    // Withdrawn: the outage counts again.
    let id = list["data"][0]["id"].as_i64().unwrap();
    let (ok_cli, out, err) = nines(&[
        "maintenance",
        "withdraw",
        &id.to_string(),
        "--by",
        "bob",
        "--server",
        &s.url,
    ]);
    assert!(ok_cli, "{out}{err}");
    assert!(out.contains("withdrawn"), "{out}");
    wait_until("the outage counted again", Duration::from_secs(30), || {
        status(&s).filter(|st| st["groups"][0]["events"]["bad"] == bad)
    });
    let (ok_cli, _, err) = nines(&[
        "maintenance",
        "withdraw",
        &id.to_string(),
        "--by",
        "bob",
        "--server",
        &s.url,
    ]);
    assert!(!ok_cli && err.contains("409") && err.contains("was withdrawn"), "{err}");
}

#[test]
fn the_release_gate_blocks_warns_and_lets_an_audited_override_through_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{SLO}  - service: web\n    name: lenient\n    owner: team-web\n    objective: 50\n    window: 30d\n    sli:\n      ratio:\n        bad: requests_total{{code=\"500\"}}\n        total: requests_total\nbudget_policy:\n  default:\n    warn_below: 90\n"
    );
    let (s, config, _, _) = server_with_history(dir.path(), &text);
    let data = dir.path().join("data");
    let gate = |args: &[&str]| run_gate(&s.url, args);
    // A service without SLOs cannot be judged: no decision.
    let (code, out) = gate(&["--service", "nope"]);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("no SLO of service"), "{out}");

    let (code, out) = gate(&["--service", "api"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("must not release now (block)"), "{out}");
    assert!(
        out.contains("budget_exhausted") && out.contains("fast_burn_page"),
        "{out}"
    );
    let (code, body) = s.get("/api/v1/gate?service=api");
    assert_eq!(code, 200);
    let answer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answer["decision"], "block");
    assert!(answer["reasons"].as_array().unwrap().len() >= 2, "{body}");

    // 11% errors against a 50% objective: a fifth of the budget, below
    // the 90% warning level: warn, and --strict makes it a block.
    let (code, out) = gate(&["--service", "web"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("(warn)") && out.contains("budget_below_warn"), "{out}");
    let (code, out) = gate(&["--service", "web", "--strict"]);
    assert_eq!(code, Some(1), "{out}");

    // An override needs a reason and a bounded time, and is recorded.
    let (code, body) = s.post(
        "/api/v1/gate/overrides",
        "application/json",
        br#"{"service":"api","reason":"x","duration":"30d","created_by":"alice"}"#,
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("at most 7 days"), "{body}");
    let (code, out) = gate(&[
        "override",
        "--service",
        "api",
        "--reason",
        "security fix for CVE-2026-0001",
        "--for",
        "1h",
        "--by",
        "alice",
    ]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = gate(&["--service", "api"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("override") && out.contains("alice") && out.contains("CVE-2026-0001"),
        "{out}"
    );

    // Acknowledged, so durable: after kill -9 the override still holds.
    s.kill9();
    let s = Server::start(&data, &["--config", config.to_str().unwrap()]);
    wait_until("evaluated after restart", Duration::from_secs(30), || status(&s));
    let gate = |args: &[&str]| run_gate(&s.url, args);
    let (code, out) = gate(&["--service", "api"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = gate(&["overrides", "--output", "json"]);
    assert_eq!(code, Some(0), "{out}");
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list[0]["created_by"], "alice");
    let id = list[0]["id"].to_string();
    let (code, out) = gate(&["revoke", &id, "--by", "bob"]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = gate(&["--service", "api"]);
    assert_eq!(code, Some(1), "revoked: blocked again: {out}");

    // Nobody to ask: no decision.
    drop(s);
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["gate", "--service", "api", "--server", "http://127.0.0.1:9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn slo_import_prints_config_that_nines_check_accepts_and_slo_rules_turns_into_prometheus_rules() {
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/../nines-slo/tests/import");
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["slo", "import"])
        .arg(format!("{examples}/sloth-myservice.yaml"))
        .arg(format!("{examples}/openslo-checkout.yaml"))
        .arg(format!("{examples}/openslo-latency.yaml"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("note: ") && stderr.contains("sloth-myservice.yaml: myservice/"),
        "{stderr}"
    );
    let config = dir.path().join("imported.yaml");
    std::fs::write(&config, stdout.as_bytes()).unwrap();
    let (ok, out, err) = nines(&["check", "--config", config.to_str().unwrap()]);
    assert!(ok, "{out}{err}\n{stdout}");
    assert!(out.contains("7 SLOs"), "{out}");

    // And on to a Prometheus of one's own.
    let (ok, rules, notes) = nines(&["slo", "rules", "--config", config.to_str().unwrap()]);
    assert!(ok, "{notes}");
    assert!(notes.contains("note: maintenance windows"), "{notes}");
    assert_eq!(rules.matches("- name: nines-slo:").count(), 7);
    let rule_file = dir.path().join("rules.yaml");
    std::fs::write(&rule_file, rules.as_bytes()).unwrap();
    let promtool = Command::new("/usr/bin/promtool")
        .args(["check", "rules"])
        .arg(&rule_file)
        .output()
        .expect("promtool (apt-get install prometheus)");
    assert!(
        promtool.status.success(),
        "{}{}",
        String::from_utf8_lossy(&promtool.stdout),
        String::from_utf8_lossy(&promtool.stderr)
    );
    let (ok, rules, err) = nines(&[
        "slo",
        "rules",
        "--config",
        config.to_str().unwrap(),
        "--service",
        "nosuch",
    ]);
    assert!(!ok && rules.is_empty());
    assert!(err.contains("no SLOs of service \"nosuch\""), "{err}");

    let refused = Command::new(env!("CARGO_BIN_EXE_nines"))
        .args(["slo", "import"])
        .arg(format!("{examples}/sloth-plugin.yaml"))
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(refused.stdout.is_empty());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("sloth-plugin.yaml: document 1"));
}
