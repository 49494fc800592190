//! `rule_files:`: Prometheus rule files, listed as files, folders or
//! patterns relative to the config, each validated with the paging policy
//! of `alerting:`; every problem names its file, line and column.

use std::path::{Path, PathBuf};

use nines_alerting::rulefile::{self, PagePolicy, PathPart, RuleFileSpec, RuleGroup};

use super::files::list_files;
use super::{key_path, locate, strip_location, Key, Problem};

/// The groups of every rule file, and the problems and warnings found.
#[derive(Debug, Default)]
pub(super) struct Loaded {
    pub groups: Vec<RuleGroup>,
    pub problems: Vec<Problem>,
    pub warnings: Vec<Problem>,
}

fn keys(path: &[PathPart]) -> Vec<Key> {
    path.iter()
        .map(|p| match p {
            PathPart::Field(f) => Key::from(*f),
            PathPart::Index(i) => Key::Index(*i),
            PathPart::Key(k) => Key::from(k.clone()),
        })
        .collect()
}

fn located(file: &Path, text: &str, (path, message): (Vec<PathPart>, String)) -> Problem {
    let key = keys(&path);
    // A problem in a field that is not written (a missing annotation)
    // points at the nearest written parent.
    let at = (1..=key.len()).rev().find_map(|n| locate(text, &key[..n]));
    Problem {
        file: file.to_path_buf(),
        at,
        message: format!("{}: {message}", key_path(&key)),
    }
}

/// One rule file's groups and warnings, or its problems.
pub(crate) fn load_file(file: &Path, pages: &PagePolicy) -> Result<(Vec<RuleGroup>, Vec<Problem>), Vec<Problem>> {
    let text = std::fs::read_to_string(file).map_err(|e| {
        vec![Problem {
            file: file.to_path_buf(),
            at: None,
            message: format!("cannot read: {e}"),
        }]
    })?;
    let spec: RuleFileSpec = if text.trim().is_empty() {
        RuleFileSpec::default()
    } else {
        serde_norway::from_str(&text).map_err(|e| {
            vec![Problem {
                file: file.to_path_buf(),
                at: e.location().map(|l| (l.line(), l.column())),
                message: strip_location(&e.to_string()),
            }]
        })?
    };
    match rulefile::validate(&spec, &file.display().to_string(), pages) {
        Ok(valid) => Ok((
            valid.groups,
            valid.warnings.into_iter().map(|w| located(file, &text, w)).collect(),
        )),
        Err(found) => Err(found.into_iter().map(|p| located(file, &text, p)).collect()),
    }
}

/// Reads and validates every listed rule file.
pub(super) fn collect(config_path: &Path, config_text: &str, entries: &[PathBuf], pages: &PagePolicy) -> Loaded {
    let mut out = Loaded::default();
    let base = config_path.parent().unwrap_or(Path::new("."));
    for (i, entry) in entries.iter().enumerate() {
        let at = locate(config_text, &[Key::from("rule_files"), Key::Index(i)]);
        let problem = |message: String| Problem {
            file: config_path.to_path_buf(),
            at,
            message: format!("rule_files[{i}]: {message}"),
        };
        let listed = match list_files(&base.join(entry)) {
            Ok(listed) => listed,
            Err(e) => {
                out.problems.push(problem(e));
                continue;
            }
        };
        if listed.is_empty() {
            out.warnings
                .push(problem(format!("{} matches no files", entry.display())));
        }
        for file in listed {
            match load_file(&file, pages) {
                Ok((groups, warnings)) => {
                    out.groups.extend(groups);
                    out.warnings.extend(warnings);
                }
                Err(problems) => out.problems.extend(problems),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;

    const PAGE_WITHOUT_IMPACT: &str = "groups:
  - name: api
    rules:
      - alert: ApiDown
        expr: up{job=\"api\"} == 0
        labels:
          severity: page
        annotations:
          summary: API down
          runbook_url: https://runbooks/api-down
";

    #[test]
    fn rule_file_problems_name_the_rule_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("rules")).unwrap();
        std::fs::write(
            dir.path().join("rules/a.yml"),
            "groups:\n  - name: a\n    rules:\n      - record: job:up\n        expr: sum by (job) (up\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("rules/b.yml"), PAGE_WITHOUT_IMPACT).unwrap();
        let cfg = dir.path().join("nines.yaml");
        let problems = parse(&cfg, "rule_files: [\"rules/*.yml\"]\n").unwrap_err();
        let shown: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(shown.len(), 2, "{shown:#?}");
        assert!(
            shown[0].contains("rules/a.yml:5:9: groups[0].rules[0].expr: not valid PromQL"),
            "{shown:#?}"
        );
        assert!(
            shown[1].contains("rules/b.yml:8:9: groups[0].rules[0].annotations: alert \"ApiDown\" pages")
                && shown[1].contains("impact"),
            "{shown:#?}"
        );
    }

    #[test]
    fn paging_requirements_can_be_warnings_and_severities_configured() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.yml"), PAGE_WITHOUT_IMPACT).unwrap();
        let cfg = dir.path().join("nines.yaml");
        let warn = parse(&cfg, "rule_files: [b.yml]\nalerting:\n  page_annotations: warn\n").unwrap();
        assert_eq!(warn.rules_loaded.len(), 1);
        assert_eq!(warn.warnings.len(), 1, "{:?}", warn.warnings);
        let other = parse(&cfg, "rule_files: [b.yml]\nalerting:\n  page_severities: [sev1]\n").unwrap();
        assert!(other.warnings.is_empty());
        let missing = parse(&cfg, "rule_files:\n  - nothing-*.yml\n  - none.yml\n").unwrap_err();
        assert_eq!(missing.len(), 1);
        assert!(
            missing[0].to_string().contains("nines.yaml:3:3: rule_files[1]:"),
            "{}",
            missing[0]
        );
    }
}
