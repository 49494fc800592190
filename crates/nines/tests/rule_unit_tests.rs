//! `nines test rules` against Debian's real `promtool test rules` on the
//! same files: a passing test file passes in both, and every wrong
//! expectation (a label, an annotation, an alert expected before its `for`
//! ran out, a recorded value, an empty result) fails in both.

use std::path::Path;
use std::process::Command;

const RULES: &str = r#"groups:
  - name: api
    rules:
      - record: job:errors:ratio
        expr: sum by (job) (rate(errors_total[2m])) / sum by (job) (rate(requests_total[2m]))
      - alert: HighErrors
        expr: job:errors:ratio > 0.1
        for: 3m
        labels:
          severity: ticket
          region: "{{ $externalLabels.region }}"
        annotations:
          summary: "{{ $labels.job }} fails {{ $value | humanizePercentage }}"
          runbook_url: "{{ $externalURL }}/runbooks/high-errors"
  - name: up
    rules:
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels:
          severity: ticket
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
"#;

const TESTS: &str = r#"rule_files:
  - api.rules.yml
evaluation_interval: 1m
tests:
  - interval: 1m
    external_labels:
      region: eu-1
    external_url: https://nines.example.com
    input_series:
      - series: 'requests_total{job="api"}'
        values: '0+600x20'
      - series: 'errors_total{job="api"}'
        values: '0+0x5 0+120x10 1200+0x5'
      - series: 'up{job="api", instance="a:9100"}'
        values: '1 1 0 0 0 0 1 _x3 0 stale'
    alert_rule_test:
      - eval_time: 4m
        alertname: InstanceDown
        exp_alerts:
          - exp_labels: {job: api, instance: "a:9100", severity: ticket}
            exp_annotations: {summary: "a:9100 of api is down"}
      - eval_time: 3m
        alertname: InstanceDown
      - eval_time: 7m
        alertname: HighErrors
      - eval_time: 11m
        alertname: HighErrors
        exp_alerts:
          - exp_labels: {job: api, severity: ticket, region: eu-1}
            exp_annotations:
              summary: "api fails 20%"
              runbook_url: https://nines.example.com/runbooks/high-errors
      - eval_time: 19m
        alertname: HighErrors
    promql_expr_test:
      - expr: job:errors:ratio
        eval_time: 10m
        exp_samples:
          - labels: 'job:errors:ratio{job="api"}'
            value: 0.2
      - expr: ALERTS{alertstate="pending"}
        eval_time: 8m
        exp_samples:
          - labels: 'ALERTS{alertname="HighErrors", alertstate="pending", job="api", severity="ticket", region="eu-1"}'
            value: 1
      - expr: count(up)
        eval_time: 2m
        exp_samples:
          - labels: '{}'
            value: 1
      - expr: up
        eval_time: 12m
"#;

fn run(tool: &str, args: &[&str], file: &Path) -> (bool, String) {
    let out = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e} (apt-get install prometheus for promtool)"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn both(dir: &Path, tests: &str) -> ((bool, String), (bool, String)) {
    let file = dir.join("api.test.yml");
    std::fs::write(&file, tests).unwrap();
    let nines = run(env!("CARGO_BIN_EXE_nines"), &["test", "rules"], &file);
    let promtool = run("/usr/bin/promtool", &["test", "rules"], &file);
    (nines, promtool)
}

#[test]
fn nines_and_promtool_agree_on_a_passing_file_and_on_every_wrong_expectation() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("api.rules.yml"), RULES).unwrap();
    let (nines, promtool) = both(dir.path(), TESTS);
    assert!(promtool.0, "promtool: {}", promtool.1);
    assert!(nines.0, "nines: {}", nines.1);
    assert!(nines.1.contains("SUCCESS"), "{}", nines.1);

    let wrong = [
        ("instance: \"a:9100\", severity: ticket}", "instance: \"a:9101\", severity: ticket}", "InstanceDown"),
        ("summary: \"api fails 20%\"", "summary: \"api fails 21%\"", "HighErrors"),
        ("      - eval_time: 3m\n        alertname: InstanceDown\n", "      - eval_time: 3m\n        alertname: InstanceDown\n        exp_alerts:\n          - exp_labels: {job: api, instance: \"a:9100\", severity: ticket}\n            exp_annotations: {summary: \"a:9100 of api is down\"}\n", "InstanceDown"),
        ("      - eval_time: 11m\n        alertname: HighErrors\n", "      - eval_time: 10m\n        alertname: HighErrors\n", "HighErrors"),
        ("            value: 0.2\n", "            value: 0.25\n", "job:errors:ratio"),
        ("      - expr: up\n        eval_time: 12m\n", "      - expr: up\n        eval_time: 9m\n", "expr: \"up\""),
    ];
    for (from, to, named) in wrong {
        assert!(TESTS.contains(from), "{from}");
        let (nines, promtool) = both(dir.path(), &TESTS.replace(from, to));
        assert!(!promtool.0, "promtool passed {to:?}: {}", promtool.1);
        assert!(!nines.0, "nines passed {to:?}: {}", nines.1);
        assert!(nines.1.contains("FAILED") && nines.1.contains(named), "{}", nines.1);
    }

    // Problems in the files themselves are reported, not tested.
    std::fs::write(dir.path().join("api.rules.yml"), RULES.replace("for: 2m", "for: soon")).unwrap();
    let (nines, _) = both(dir.path(), TESTS);
    assert!(!nines.0);
    assert!(
        nines.1.contains("api.rules.yml:") && nines.1.contains("\"soon\" is not a duration"),
        "{}",
        nines.1
    );
    std::fs::write(dir.path().join("api.rules.yml"), RULES).unwrap();
    let (nines, _) = both(dir.path(), &TESTS.replace("'0+600x20'", "'0+600x20 {{schema:1}}'"));
    assert!(!nines.0);
    assert!(nines.1.contains("native histograms are not supported"), "{}", nines.1);
    let (nines, _) = both(
        dir.path(),
        &TESTS.replace("evaluation_interval: 1m", "evaluation_intervall: 1m"),
    );
    assert!(!nines.0);
    assert!(nines.1.contains("evaluation_intervall"), "{}", nines.1);
}

#[test]
fn the_example_rules_pass_their_tests_in_nines_and_promtool() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/rules/nines.test.yml");
    let nines = run(env!("CARGO_BIN_EXE_nines"), &["test", "rules"], &file);
    let promtool = run("/usr/bin/promtool", &["test", "rules"], &file);
    assert!(nines.0, "{}", nines.1);
    assert!(promtool.0, "{}", promtool.1);
}
