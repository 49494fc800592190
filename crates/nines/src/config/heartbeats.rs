//! `heartbeats:`: jobs that must check in every interval. Each is checked
//! as a whole: a name that fits a URL path segment, used once, a positive
//! interval, and, when its alert pages, the annotations a page carries.

use std::collections::BTreeMap;

use nines_alerting::heartbeat::HeartbeatSpec;
use nines_alerting::rulefile::PagePolicy;
use serde::Deserialize;

use super::Key;
use crate::units::Duration;

/// One `heartbeats:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatConfig {
    /// The last segment of `/api/v1/heartbeats/{name}`.
    pub name: String,
    /// How often the job beats.
    pub interval: Duration,
    /// How much later than `interval` a beat may come (default 0).
    #[serde(default)]
    pub grace: Duration,
    /// Labels of the alert a missed beat raises.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl HeartbeatConfig {
    /// The monitor's form.
    pub fn spec(&self) -> HeartbeatSpec {
        HeartbeatSpec {
            name: self.name.clone(),
            interval_ms: self.interval.0,
            grace_ms: self.grace.0,
            labels: self.labels.clone(),
            annotations: self.annotations.clone(),
        }
    }
}

/// A finding with the key it is about.
type Keyed = (Vec<Key>, String);

/// Problems (first) and, when the paging policy only warns, warnings.
pub(super) fn check(entries: &[HeartbeatConfig], pages: &PagePolicy) -> (Vec<Keyed>, Vec<Keyed>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, h) in entries.iter().enumerate() {
        let at = |field: &'static str| vec![Key::from("heartbeats"), Key::Index(i), Key::from(field)];
        let name_fits = !h.name.is_empty()
            && h.name.len() <= 128
            && h.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_fits {
            problems.push((
                at("name"),
                format!("{:?} must be 1 to 128 letters, digits, '-', '_' or '.'", h.name),
            ));
        } else if !seen.insert(h.name.as_str()) {
            problems.push((at("name"), format!("{:?} is used by an earlier heartbeat", h.name)));
        }
        if h.interval.0 < 1000 {
            problems.push((at("interval"), "must be at least 1s".into()));
        }
        for name in h.labels.keys() {
            if !nines_tsdb::is_valid_label_name(name)
                || name.starts_with("__")
                || name == "alertname"
                || name == "heartbeat"
            {
                problems.push((
                    at("labels"),
                    format!("{name:?} is not a label a heartbeat's alert can set"),
                ));
            }
        }
        if let Some(severity) = h.labels.get("severity") {
            // The summary is written for the alert when absent.
            let mut annotations = h.annotations.clone();
            annotations.entry("summary".into()).or_insert_with(|| "written".into());
            if let Some(missing) = pages.missing(severity, &annotations) {
                let message = format!("the alert of heartbeat {:?} {missing}", h.name);
                if pages.enforce {
                    problems.push((at("labels"), message));
                } else {
                    warnings.push((at("labels"), message));
                }
            }
        }
    }
    (problems, warnings)
}
