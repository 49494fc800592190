//! `nines test rules FILE...`: rule unit tests in promtool's `test rules`
//! format, reported per file as promtool does (`SUCCESS`, or `FAILED:`
//! with each difference); exit 1 if any file fails.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nines_alerting::rulefile::{PagePolicy, RuleGroup};
use nines_alerting::ruletest::{self, TestFile};

use crate::config::files::list_files;
use crate::config::rules::load_file;

/// Runs every file; prints the outcome of each.
pub fn run(files: &[PathBuf]) -> ExitCode {
    let mut failed = false;
    for file in files {
        println!("Unit Testing: {}", file.display());
        match test_file(file) {
            Ok(failures) if failures.is_empty() => println!("  SUCCESS\n"),
            Ok(failures) => {
                failed = true;
                println!("  FAILED:");
                for f in failures {
                    println!("{f}");
                }
                println!();
            }
            Err(problems) => {
                failed = true;
                println!("  FAILED:");
                for p in problems {
                    println!("    {p}");
                }
                println!();
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn rule_groups(test_file: &Path, spec: &TestFile) -> Result<Vec<RuleGroup>, Vec<String>> {
    let base = test_file.parent().unwrap_or(Path::new("."));
    // promtool loads rule files as Prometheus does, without nines's
    // paging requirements: a test is about behaviour, `nines check` about
    // policy.
    let pages = PagePolicy {
        severities: Vec::new(),
        enforce: false,
    };
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for entry in &spec.rule_files {
        let listed = match list_files(&base.join(entry)) {
            Ok(l) => l,
            Err(e) => {
                problems.push(format!("rule_files: {e}"));
                continue;
            }
        };
        if listed.is_empty() {
            eprintln!("  WARNING: no file matches {entry}");
        }
        for file in listed {
            match load_file(&file, &pages) {
                Ok((found, _)) => groups.extend(found),
                Err(found) => problems.extend(found.iter().map(ToString::to_string)),
            }
        }
    }
    if problems.is_empty() {
        Ok(groups)
    } else {
        Err(problems)
    }
}

fn test_file(path: &Path) -> Result<Vec<String>, Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    let spec: TestFile = serde_norway::from_str(&text).map_err(|e| {
        let at = e
            .location()
            .map_or(String::new(), |l| format!(":{}:{}", l.line(), l.column()));
        vec![format!("{}{at}: {e}", path.display())]
    })?;
    let interval = ruletest::evaluation_interval_ms(&spec).map_err(|e| vec![e])?;
    let groups = rule_groups(path, &spec)?;
    let groups = ruletest::order_groups(groups, &spec.group_eval_order).map_err(|e| vec![e])?;
    let mut failures = Vec::new();
    for (i, tg) in spec.tests.iter().enumerate() {
        match ruletest::run_group(tg, &groups, interval, spec.fuzzy_compare) {
            Ok(found) => failures.extend(found),
            Err(e) => failures.push(format!("    tests[{i}]: {e}")),
        }
    }
    Ok(failures)
}
