//! SLOs and maintenance windows in the config: `slos:` and `maintenance:`
//! written inline and in `slo_files:` (files or folders of
//! `*.yaml`/`*.yml`, each with its own `slos:` and `maintenance:` lists,
//! relative to the config file). All are validated together, so a
//! `service/name` defined twice is found across files; each problem names
//! its file, line and column.

use std::path::{Path, PathBuf};

use nines_slo::maintenance::{Maintenance, MaintenanceSpec};
use nines_slo::{Slo, SloSpec};
use serde::Deserialize;

use super::files::list_files;
use super::{locate, strip_location, Key, Problem};

/// The shape of a file listed in `slo_files:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SloFile {
    #[serde(default)]
    slos: Vec<SloSpec>,
    #[serde(default)]
    maintenance: Vec<MaintenanceSpec>,
}

/// What the SLO part of a config holds, validated.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    pub slos: Vec<Slo>,
    pub maintenance: Vec<Maintenance>,
}

/// Where a spec was written: its file and that file's text (for lines).
struct Origin {
    file: PathBuf,
    text: String,
}

/// Validates the inline SLOs and loads and validates those of
/// `slo_files`; every problem is returned.
pub(super) fn collect(
    config_path: &Path,
    config_text: &str,
    inline: &[SloSpec],
    inline_maintenance: &[MaintenanceSpec],
    files: &[PathBuf],
) -> Result<Loaded, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut origins = vec![Origin {
        file: config_path.to_path_buf(),
        text: config_text.to_string(),
    }];
    // (origin, index in its file's list, spec)
    let mut specs: Vec<(usize, usize, SloSpec)> = inline.iter().cloned().enumerate().map(|(i, s)| (0, i, s)).collect();
    let mut windows: Vec<(usize, usize, MaintenanceSpec)> = inline_maintenance
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (0, i, s))
        .collect();
    let base = config_path.parent().unwrap_or(Path::new("."));
    for (i, entry) in files.iter().enumerate() {
        let problem = |message: String| Problem {
            file: config_path.to_path_buf(),
            at: locate(config_text, &[Key::from("slo_files"), Key::Index(i)]),
            message: format!("slo_files[{i}]: {message}"),
        };
        let path = base.join(entry);
        let listed = match list_files(&path) {
            Ok(listed) => listed,
            Err(e) => {
                problems.push(problem(e));
                continue;
            }
        };
        for file in listed {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(Problem {
                        file: file.clone(),
                        at: None,
                        message: format!("cannot read: {e}"),
                    });
                    continue;
                }
            };
            let parsed: Result<SloFile, _> = if text.trim().is_empty() {
                Ok(SloFile {
                    slos: Vec::new(),
                    maintenance: Vec::new(),
                })
            } else {
                serde_norway::from_str(&text)
            };
            match parsed {
                Ok(f) => {
                    let origin = origins.len();
                    specs.extend(f.slos.into_iter().enumerate().map(|(i, s)| (origin, i, s)));
                    windows.extend(f.maintenance.into_iter().enumerate().map(|(i, s)| (origin, i, s)));
                    origins.push(Origin { file, text });
                }
                Err(e) => problems.push(Problem {
                    file,
                    at: e.location().map(|l| (l.line(), l.column())),
                    message: strip_location(&e.to_string()),
                }),
            }
        }
    }
    let all: Vec<(SloSpec, String)> = specs
        .iter()
        .map(|(origin, index, spec)| {
            let o = &origins[*origin];
            let at = locate(&o.text, &[Key::from("slos"), Key::Index(*index)]);
            let line = at.map_or(String::new(), |(l, _)| format!(":{l}"));
            (spec.clone(), format!("{}{line}", o.file.display()))
        })
        .collect();
    let slos = match nines_slo::validate_all(&all) {
        Ok(slos) => slos,
        Err(found) => {
            for (n, (fields, message)) in found {
                let (origin, index, _) = &specs[n];
                let origin = &origins[*origin];
                let mut key = vec![Key::from("slos"), Key::Index(*index)];
                key.extend(fields.iter().map(|f| Key::from(*f)));
                problems.push(Problem {
                    file: origin.file.clone(),
                    at: locate(&origin.text, &key),
                    message: format!("{}: {message}", super::key_path(&key)),
                });
            }
            Vec::new()
        }
    };
    let maintenance = validate_windows(&windows, &origins, &mut problems);
    if problems.is_empty() {
        Ok(Loaded { slos, maintenance })
    } else {
        Err(problems)
    }
}

/// Each window on its own, plus: config windows are named, once per
/// service (the name is how a reload tells a changed window from a new one).
fn validate_windows(
    windows: &[(usize, usize, MaintenanceSpec)],
    origins: &[Origin],
    problems: &mut Vec<Problem>,
) -> Vec<Maintenance> {
    let mut out = Vec::new();
    let mut seen: std::collections::BTreeMap<(String, String), String> = Default::default();
    for (origin, index, spec) in windows {
        let o = &origins[*origin];
        let mut found: Vec<(&'static str, String)> = Vec::new();
        match &spec.name {
            None => found.push(("name", "a window in the config needs a name".into())),
            Some(name) => {
                let at = locate(&o.text, &[Key::from("maintenance"), Key::Index(*index)]);
                let here = format!(
                    "{}{}",
                    o.file.display(),
                    at.map_or(String::new(), |(l, _)| format!(":{l}"))
                );
                if let Some(first) = seen.insert((spec.service.clone(), name.clone()), here) {
                    found.push(("name", format!("{}/{name} is already defined at {first}", spec.service)));
                }
            }
        }
        match Maintenance::from_spec(spec.clone()) {
            Ok(m) if found.is_empty() => out.push(m),
            Ok(_) => {}
            Err(list) => found.extend(list),
        }
        for (field, message) in found {
            let key = [Key::from("maintenance"), Key::Index(*index), Key::from(field)];
            problems.push(Problem {
                file: o.file.clone(),
                at: locate(&o.text, &key).or_else(|| locate(&o.text, &key[..2])),
                message: format!("{}: {message}", super::key_path(&key)),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    #[test]
    fn inline_and_file_slos_are_validated_together_with_lines() {
        let dir = tempfile::tempdir().unwrap();
        let slo = |name: &str, objective: &str| {
            format!(
                "  - service: api\n    name: {name}\n    owner: core\n    objective: {objective}\n    window: 28d\n    sli:\n      boolean:\n        metric: up{{job=\"api\"}}\n"
            )
        };
        std::fs::create_dir(dir.path().join("slos")).unwrap();
        std::fs::write(
            dir.path().join("slos/a.yaml"),
            format!("slos:\n{}{}", slo("up", "99"), slo("avail", "100")),
        )
        .unwrap();
        std::fs::write(dir.path().join("slos/notes.txt"), "not yaml: [").unwrap();
        let cfg = dir.path().join("nines.yaml");
        let text = format!("slo_files: [slos]\nslos:\n{}", slo("up", "99.5"));
        let problems = parse(&cfg, &text).unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown.len(), 2, "{shown:#?}");
        assert!(
            shown
                .iter()
                .any(|s| s.contains("a.yaml:13:") && s.contains("slos[1].objective")),
            "{shown:#?}"
        );
        assert!(
            shown.iter().any(|s| s.contains("a.yaml:3:")
                && s.contains("api/up is already defined at")
                && s.contains("nines.yaml:3")),
            "{shown:#?}"
        );
        std::fs::write(dir.path().join("slos/a.yaml"), format!("slos:\n{}", slo("other", "99"))).unwrap();
        let config = parse(&cfg, &text).unwrap();
        let ids: Vec<String> = config.slos_loaded.iter().map(|s| s.id()).collect();
        assert_eq!(ids, ["api/up", "api/other"]);
    }

    #[test]
    fn a_missing_slo_file_is_named_at_its_entry() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("nines.yaml");
        let problems = parse(&cfg, "slo_files:\n  - nowhere.yaml\n").unwrap_err();
        let shown = problems[0].to_string();
        assert!(
            shown.contains("nines.yaml:2:") && shown.contains("nowhere.yaml"),
            "{shown}"
        );
    }
}
