#![no_main]
//! Any text given to `nines test rules` as a test file is refused or
//! parses; its input series expand or are refused (never past the point
//! limit); a small file runs against a small rule group to its verdict.
use libfuzzer_sys::fuzz_target;
use nines_alerting::rulefile::{validate, PagePolicy, RuleFileSpec};
use nines_alerting::ruletest::{evaluation_interval_ms, input_points, run_group, TestFile};

const RULES: &str = "groups:
  - name: g
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 1m
        annotations:
          summary: '{{ $labels.instance }} {{ $value }}'
";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = serde_norway::from_str::<TestFile>(text) else {
        return;
    };
    let Ok(interval) = evaluation_interval_ms(&file) else {
        return;
    };
    for tg in &file.tests {
        if let Ok(points) = input_points(tg, interval) {
            assert!(points.iter().all(|(_, p)| p.len() <= nines_promql::promqltest::MAX_POINTS));
        }
    }
    // Running costs one evaluation per step: only short runs here.
    if text.len() < 2048 && interval >= 60_000 {
        let spec: RuleFileSpec = serde_norway::from_str(RULES).expect("rules");
        let groups = validate(&spec, "r.yml", &PagePolicy::default()).expect("valid").groups;
        for tg in &file.tests {
            let short = tg
                .alert_rule_test
                .iter()
                .map(|t| &t.eval_time)
                .chain(tg.promql_expr_test.iter().map(|t| &t.eval_time))
                .all(|t| nines_promql::parse_duration_ms(t).is_some_and(|ms| ms <= 3_600_000));
            if short {
                let _ = run_group(tg, &groups, interval, file.fuzzy_compare);
            }
        }
    }
});
