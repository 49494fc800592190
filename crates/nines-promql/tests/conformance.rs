//! The Prometheus promqltest scripts of the core feature set must not
//! regress: each file passes at least as many evals as recorded in
//! `testdata/promqltest/passing.txt` (raise the numbers as the engine
//! improves; lowering them needs a reason in the commit), and none fails.

use std::path::Path;

use nines_promql::promqltest::{run_script, Outcome};

#[test]
fn core_promqltest_files_do_not_regress() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/promqltest");
    let floor = std::fs::read_to_string(dir.join("passing.txt")).expect("passing.txt");
    let mut problems = Vec::new();
    for line in floor.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        let (file, min) = line.split_once(char::is_whitespace).expect("FILE N");
        let min: usize = min.trim().parse().expect("a number");
        let text = std::fs::read_to_string(dir.join(file)).expect("test file");
        let reports = run_script(&text, false);
        let passed = reports.iter().filter(|r| r.outcome == Outcome::Passed).count();
        if passed < min {
            problems.push(format!("{file}: {passed} passed, at least {min} recorded"));
        }
        // Every core eval passes now: a failure is a regression even when
        // a newly vendored file adds evals.
        for r in reports.iter().filter(|r| matches!(r.outcome, Outcome::Failed(_))) {
            problems.push(format!("{file}:{} {:?}", r.line, r.outcome));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}
