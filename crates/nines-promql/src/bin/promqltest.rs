//! Runs Prometheus's promqltest scripts against the nines engine:
//! `cargo run --release --bin promqltest -- FILE...` prints, per file, how
//! many evals passed, failed and were skipped (and why), then
//! `N passed, N failed, N skipped`. `--verbose` lists every failure;
//! `--min-passed FILE=N` makes the exit status non-zero if FILE passes
//! fewer than N evals (CI's regression guard).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use nines_promql::promqltest::{run_script, Outcome};

/// Files of Prometheus 3.x features that are experimental there: their
/// evals are reported as skipped.
const EXPERIMENTAL: [&str; 6] = [
    "duration_expression",
    "extended_vectors",
    "fill-modifier",
    "info",
    "start_timestamps",
    "type_and_unit",
];

fn main() -> ExitCode {
    let mut files = Vec::new();
    let mut verbose = false;
    let mut minimums: BTreeMap<String, usize> = BTreeMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--verbose" | "-v" => verbose = true,
            "--min-passed" => {
                let Some(spec) = args.next() else {
                    eprintln!("--min-passed needs FILE=N");
                    return ExitCode::from(2);
                };
                let Some((f, n)) = spec.rsplit_once('=').and_then(|(f, n)| Some((f, n.parse().ok()?))) else {
                    eprintln!("--min-passed needs FILE=N, got {spec:?}");
                    return ExitCode::from(2);
                };
                minimums.insert(f.to_string(), n);
            }
            "--bench" => {}
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        eprintln!("usage: promqltest [--verbose] [--min-passed FILE=N]... FILE...");
        return ExitCode::from(2);
    }
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut regressed = false;
    for f in &files {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{f}: {e}");
                return ExitCode::from(2);
            }
        };
        let stem = Path::new(f).file_stem().and_then(|s| s.to_str()).unwrap_or("");
        let reports = run_script(&text, EXPERIMENTAL.contains(&stem));
        let (mut p, mut fl, mut sk) = (0, 0, 0);
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        for r in &reports {
            match &r.outcome {
                Outcome::Passed => p += 1,
                Outcome::Failed(why) => {
                    fl += 1;
                    if verbose {
                        println!("  FAIL {f}:{} {}\n       {why}", r.line, r.query);
                    }
                }
                Outcome::Skipped(why) => {
                    sk += 1;
                    *reasons.entry(why.clone()).or_default() += 1;
                }
            }
        }
        let why: Vec<String> = reasons.iter().map(|(r, n)| format!("{n} {r}")).collect();
        let skips = if why.is_empty() {
            String::new()
        } else {
            format!(" ({})", why.join(", "))
        };
        println!("{f}: {p} passed, {fl} failed, {sk} skipped{skips}");
        if let Some(min) = minimums.get(f.as_str()).or_else(|| minimums.get(stem)) {
            if p < *min {
                println!("{f}: REGRESSION: {p} passed, at least {min} expected");
                regressed = true;
            }
        }
        passed += p;
        failed += fl;
        skipped += sk;
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    if regressed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
