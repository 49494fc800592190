//! `incidents:`: which pages declare an incident on their own. A rule
//! matches a page when any of its alerts meets all the rule's matchers
//! (Alertmanager's syntax); the first rule that matches declares an
//! incident of its severity, for the services in the alerts' `service`
//! label, linked to the page.

use nines_learning::incident::Severity;
use nines_routing::matchers::{parse_matchers, Matcher};
use serde::Deserialize;

use super::Key;

/// `incidents:`
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IncidentsConfig {
    /// Pages that declare an incident, first match wins.
    pub auto_declare: Vec<AutoDeclareConfig>,
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

impl IncidentsConfig {
    /// The rules, or each problem with its key.
    pub fn rules(&self) -> Result<Vec<AutoDeclare>, Vec<(Vec<Key>, String)>> {
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
            match Severity::parse(&r.severity) {
                Some(severity) => out.push(AutoDeclare { matchers, severity }),
                None => problems.push((
                    at("severity"),
                    format!("{:?} is not SEV1, SEV2, SEV3 or SEV4", r.severity),
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
