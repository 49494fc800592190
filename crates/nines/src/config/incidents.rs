//! `incidents:` and `dora:`. Which pages declare an incident on their
//! own: a rule matches a page when any of its alerts meets all the rule's
//! matchers (Alertmanager's syntax); the first rule that matches declares
//! an incident of its severity, for the services in the alerts' `service`
//! label, linked to the page. Also what severities are called, how far a
//! timeline looks back for changes, when postmortems are due, which
//! environments are production and which DORA bands apply.

use std::collections::BTreeMap;
use std::path::Path;

use nines_learning::incident::{Severity, SeverityNames, SEVERITIES};
use nines_learning::settings::Settings;
use nines_routing::matchers::{parse_matchers, Matcher};
use serde::Deserialize;

use super::Key;

/// `incidents:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// Pages that declare an incident, first match wins.
    pub auto_declare: Vec<AutoDeclareConfig>,
    /// What `SEV1` … `SEV4` are called, e.g. `SEV1: Critical`.
    pub severity_names: BTreeMap<String, String>,
    /// How far before an incident's start its timeline looks for deploys
    /// and changes (2h).
    pub timeline_lookback: Option<String>,
    /// How long after a SEV1 or SEV2 is resolved its postmortem is due (5d).
    pub postmortem_due: Option<String>,
}

/// `dora:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DoraConfig {
    /// The environments that count as production (`production`, `prod`).
    pub production_environments: Vec<String>,
    /// A JSON file of performance bands replacing the shipped ones
    /// (relative to the config file).
    pub bands_file: Option<String>,
}

/// One `auto_declare:` rule.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoDeclareConfig {
    /// What an alert of the page must meet, e.g. `severity="critical"`.
    pub matchers: Vec<String>,
    /// The incident's severity.
    pub severity: String,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct AutoDeclare {
    /// All must match one alert.
    pub matchers: Vec<Matcher>,
    /// The incident's severity.
    pub severity: Severity,
}

fn duration(value: &Option<String>, key: &'static str, default: i64, problems: &mut Vec<(Vec<Key>, String)>) -> i64 {
    match value {
        None => default,
        Some(v) => match nines_promql::parse_duration_ms(v) {
            Some(ms) if ms > 0 && ms <= 366 * 86_400_000 => ms,
            _ => {
                problems.push((
                    vec![Key::from("incidents"), Key::from(key)],
                    format!("{v:?} is not a duration from 1ms to 366d (like 2h or 5d)"),
                ));
                default
            }
        },
    }
}

/// The learning settings from `incidents:` and `dora:`; `base` is the
/// config file's directory.
pub fn settings(
    incidents: &IncidentsConfig,
    dora: &DoraConfig,
    base: &Path,
) -> Result<Settings, Vec<(Vec<Key>, String)>> {
    let mut problems = Vec::new();
    let mut s = Settings::default();
    if !incidents.severity_names.is_empty() {
        let mut names = SEVERITIES.map(|x| x.name().to_string());
        for (k, v) in &incidents.severity_names {
            match Severity::parse(k) {
                Some(sev) => names[sev as usize] = v.clone(),
                None => problems.push((
                    vec![
                        Key::from("incidents"),
                        Key::from("severity_names"),
                        Key::Name(k.clone().into()),
                    ],
                    "the keys are SEV1, SEV2, SEV3 and SEV4".into(),
                )),
            }
        }
        match SeverityNames::new(names) {
            Ok(n) => s.severity_names = n,
            Err(e) => problems.push((vec![Key::from("incidents"), Key::from("severity_names")], e)),
        }
    }
    s.lookback_ms = duration(
        &incidents.timeline_lookback,
        "timeline_lookback",
        s.lookback_ms,
        &mut problems,
    )
    .min(nines_learning::timeline::MAX_LOOKBACK_MS);
    s.postmortem_due_ms = duration(
        &incidents.postmortem_due,
        "postmortem_due",
        s.postmortem_due_ms,
        &mut problems,
    );
    if !dora.production_environments.is_empty() {
        if dora.production_environments.iter().any(|e| e.trim().is_empty()) {
            problems.push((
                vec![Key::from("dora"), Key::from("production_environments")],
                "an environment name cannot be empty".into(),
            ));
        }
        s.production = dora.production_environments.clone();
    }
    if let Some(file) = &dora.bands_file {
        let path = base.join(file);
        let read = std::fs::read_to_string(&path)
            .map_err(|e| format!("reading {}: {e}", path.display()))
            .and_then(|t| nines_learning::dora::Bands::parse(&t));
        match read {
            Ok(b) => s.bands = b,
            Err(e) => problems.push((vec![Key::from("dora"), Key::from("bands_file")], e)),
        }
    }
    if problems.is_empty() {
        Ok(s)
    } else {
        Err(problems)
    }
}

impl IncidentsConfig {
    /// The rules, or each problem with its key.
    pub fn rules(&self, names: &SeverityNames) -> Result<Vec<AutoDeclare>, Vec<(Vec<Key>, String)>> {
        let mut out = Vec::new();
        let mut problems = Vec::new();
        for (i, r) in self.auto_declare.iter().enumerate() {
            let at = |f: &'static str| {
                vec![
                    Key::from("incidents"),
                    Key::from("auto_declare"),
                    Key::Index(i),
                    Key::from(f),
                ]
            };
            let mut matchers = Vec::new();
            for m in &r.matchers {
                match parse_matchers(m) {
                    Ok(ms) => matchers.extend(ms),
                    Err(e) => problems.push((at("matchers"), e.to_string())),
                }
            }
            if r.matchers.is_empty() {
                problems.push((at("matchers"), "a rule needs at least one matcher".into()));
            }
            match names.parse(&r.severity) {
                Ok(severity) => out.push(AutoDeclare { matchers, severity }),
                Err(e) => problems.push((
                    at("severity"),
                    e.to_string().trim_start_matches("severity: ").to_string(),
                )),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}
