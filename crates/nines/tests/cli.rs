//! The command line: `nines check` and help.

use std::process::Command;

fn nines(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nines")).args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn check_accepts_the_example_config() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/nines.yaml");
    let (ok, out, err) = nines(&["check", "--config", example]);
    assert!(ok, "{out}{err}");
    assert!(out.contains(": OK") && out.contains("2 SLOs"), "{out}");
}

#[test]
fn check_reports_every_problem_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "server:\n  listen: nowhere\nstorage:\n  block_duration: 5h\n").unwrap();
    let (ok, _, err) = nines(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    let p = path.display().to_string();
    assert!(err.contains(&format!("{p}:2:3: server.listen")), "{err}");
    assert!(err.contains(&format!("{p}:4:3: storage.block_duration")), "{err}");
    assert!(err.contains("2 problem(s)"), "{err}");

    std::fs::write(&path, "storage:\n  retention: [1, 2]\n").unwrap();
    let (ok, _, err) = nines(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains(&format!("{p}:2:14: ")), "{err}");
}

#[test]
fn check_points_at_slo_mistakes_in_slo_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nines.yaml");
    std::fs::write(&path, "slo_files: [checkout.yaml]\n").unwrap();
    std::fs::write(
        dir.path().join("checkout.yaml"),
        "slos:\n  - service: checkout\n    name: availability\n    owner: payments\n    objective: 99.9\n    window: fortnight\n    sli:\n      ratio:\n        bad: errors_total\n        total: requests_total\n",
    )
    .unwrap();
    let (ok, _, err) = nines(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    let file = dir.path().join("checkout.yaml").display().to_string();
    assert!(err.contains(&format!("{file}:6:5: slos[0].window")), "{err}");
    assert!(err.contains("neither a duration"), "{err}");
}

#[test]
fn serve_refuses_an_invalid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "nonsense: true\n").unwrap();
    let (ok, _, err) = nines(&["serve", "--config", path.to_str().unwrap(), "--listen", "127.0.0.1:0"]);
    assert!(!ok);
    assert!(err.contains("unknown field `nonsense`"), "{err}");
    assert!(err.contains("refusing to start"), "{err}");
}

#[test]
fn help_lists_the_commands() {
    let (ok, out, _) = nines(&["--help"]);
    assert!(ok);
    for cmd in ["serve", "check", "backup"] {
        assert!(out.contains(cmd), "{out}");
    }
    let (ok, out, _) = nines(&["serve", "--help"]);
    assert!(ok && out.contains("--data-dir"), "{out}");
}
