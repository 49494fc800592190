//! Prometheus rule files (`groups:` of `record` and `alert` rules), as
//! written and as validated: every problem is reported with the path of
//! the field it is in, so the config loader can name file, line and
//! column.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use crate::template::Template;

/// A rule file as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleFileSpec {
    /// The groups.
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
}

/// A rule group as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    /// Unique within its file.
    #[serde(default)]
    pub name: String,
    /// How often it is evaluated (the global interval if absent).
    #[serde(default)]
    pub interval: Option<String>,
    /// How far back in time it evaluates (for late data).
    #[serde(default)]
    pub query_offset: Option<String>,
    /// At most this many series per recording rule or alerts per alerting
    /// rule (0: no limit); above it the rule fails for that evaluation.
    #[serde(default)]
    pub limit: usize,
    /// Labels added to every rule's result.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// In order: later rules see what earlier ones recorded.
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// One rule as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// A recording rule's series name.
    #[serde(default)]
    pub record: Option<String>,
    /// An alerting rule's name.
    #[serde(default)]
    pub alert: Option<String>,
    /// PromQL.
    #[serde(default)]
    pub expr: String,
    /// How long the condition must hold before the alert fires.
    #[serde(default, rename = "for")]
    pub for_: Option<String>,
    /// How long a firing alert keeps firing after the condition clears.
    #[serde(default)]
    pub keep_firing_for: Option<String>,
    /// Labels (templated for alerts).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Alert annotations (templated).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// A step of the path to a field: what `nines check` turns into a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    /// A field name.
    Field(&'static str),
    /// A list index.
    Index(usize),
    /// A map key.
    Key(String),
}

/// A problem with one field: its path from the file's top and what is wrong.
pub type Problem = (Vec<PathPart>, String);

/// A validated rule group.
#[derive(Debug, Clone)]
pub struct RuleGroup {
    /// The group's name.
    pub name: String,
    /// The file it came from (its identity is file + name).
    pub file: String,
    /// Evaluation interval, ms (None: the global one).
    pub interval_ms: Option<i64>,
    /// Evaluation offset, ms.
    pub query_offset_ms: i64,
    /// Series or alert limit per rule; 0: none.
    pub limit: usize,
    /// The rules, in order.
    pub rules: Vec<Rule>,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// PromQL.
    pub expr: String,
    /// Labels: the group's, then the rule's own (which win).
    pub labels: Vec<(String, Template, String)>,
    /// Recording or alerting.
    pub kind: RuleKind,
}

/// What a rule does with its result.
#[derive(Debug, Clone)]
pub enum RuleKind {
    /// Writes the result as a series.
    Record {
        /// The series name.
        name: String,
    },
    /// Raises alerts.
    Alert {
        /// `alertname`.
        name: String,
        /// Pending for this long before firing, ms.
        for_ms: i64,
        /// Keeps firing this long after the condition clears, ms.
        keep_firing_for_ms: i64,
        /// Annotation name, its template and its text.
        annotations: Vec<(String, Template, String)>,
    },
}

impl RuleKind {
    /// The series or alert name.
    pub fn name(&self) -> &str {
        match self {
            RuleKind::Record { name } | RuleKind::Alert { name, .. } => name,
        }
    }
}

/// What pages must carry, and how strictly that is enforced.
#[derive(Debug, Clone, PartialEq)]
pub struct PagePolicy {
    /// `severity` values that page someone.
    pub severities: Vec<String>,
    /// A problem (true) or only a warning (false).
    pub enforce: bool,
}

impl Default for PagePolicy {
    fn default() -> Self {
        Self {
            severities: vec!["page".into(), "critical".into()],
            enforce: true,
        }
    }
}

/// Validated groups, and warnings (pages missing what they should carry
/// when that is not enforced).
#[derive(Debug, Clone, Default)]
pub struct Validated {
    /// The groups.
    pub groups: Vec<RuleGroup>,
    /// Problems that do not stop loading.
    pub warnings: Vec<Problem>,
}

fn duration(text: &Option<String>, path: Vec<PathPart>, problems: &mut Vec<Problem>) -> i64 {
    match text {
        None => 0,
        Some(t) => match nines_promql::parse_duration_ms(t) {
            Some(ms) if ms >= 0 => ms,
            _ => {
                problems.push((path, format!("{t:?} is not a duration like 30s, 5m or 1h")));
                0
            }
        },
    }
}

fn templates(
    map: &BTreeMap<String, String>,
    base: &[PathPart],
    field: &'static str,
    problems: &mut Vec<Problem>,
) -> Vec<(String, Template, String)> {
    let mut out = Vec::new();
    for (name, text) in map {
        let mut path = base.to_vec();
        path.extend([PathPart::Field(field), PathPart::Key(name.clone())]);
        match Template::parse(text) {
            Ok(t) => out.push((name.clone(), t, text.clone())),
            Err(e) => problems.push((path, format!("template: {e}"))),
        }
    }
    out
}

fn check_label_names(map: &BTreeMap<String, String>, base: &[PathPart], problems: &mut Vec<Problem>) {
    for name in map.keys() {
        if !nines_tsdb::is_valid_label_name(name) || name == "__name__" {
            let mut path = base.to_vec();
            path.extend([PathPart::Field("labels"), PathPart::Key(name.clone())]);
            problems.push((path, format!("{name:?} is not a label name a rule can set")));
        }
    }
}

/// Validates a parsed rule file from `file`.
pub fn validate(spec: &RuleFileSpec, file: &str, pages: &PagePolicy) -> Result<Validated, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut names = HashSet::new();
    let mut groups = Vec::new();
    for (gi, g) in spec.groups.iter().enumerate() {
        let gpath = vec![PathPart::Field("groups"), PathPart::Index(gi)];
        let at = |field: &'static str| {
            let mut p = gpath.clone();
            p.push(PathPart::Field(field));
            p
        };
        if g.name.trim().is_empty() {
            problems.push((at("name"), "a group needs a name".into()));
        } else if !names.insert(g.name.clone()) {
            problems.push((at("name"), format!("group {:?} is defined twice in this file", g.name)));
        }
        let interval_ms = g
            .interval
            .as_ref()
            .map(|_| duration(&g.interval, at("interval"), &mut problems));
        if interval_ms == Some(0) && g.interval.is_some() {
            problems.push((at("interval"), "the interval must be longer than 0s".into()));
        }
        let query_offset_ms = duration(&g.query_offset, at("query_offset"), &mut problems);
        check_label_names(&g.labels, &gpath, &mut problems);
        let group_labels = templates(&g.labels, &gpath, "labels", &mut problems);
        let mut rules = Vec::new();
        for (ri, r) in g.rules.iter().enumerate() {
            let mut rpath = at("rules");
            rpath.push(PathPart::Index(ri));
            let field = |f: &'static str| {
                let mut p = rpath.clone();
                p.push(PathPart::Field(f));
                p
            };
            if r.expr.trim().is_empty() {
                problems.push((field("expr"), "a rule needs an expr".into()));
            } else if let Err(e) = promql_parser::parser::parse(&r.expr) {
                problems.push((field("expr"), format!("not valid PromQL: {e}")));
            }
            check_label_names(&r.labels, &rpath, &mut problems);
            let mut labels = group_labels.clone();
            labels.retain(|(k, _, _)| !r.labels.contains_key(k));
            labels.extend(templates(&r.labels, &rpath, "labels", &mut problems));
            let kind = match (&r.record, &r.alert) {
                (Some(_), Some(_)) => {
                    problems.push((rpath.clone(), "a rule is either record or alert, not both".into()));
                    continue;
                }
                (None, None) => {
                    problems.push((rpath.clone(), "a rule needs record or alert".into()));
                    continue;
                }
                (Some(name), None) => {
                    if !nines_tsdb::is_valid_metric_name(name) {
                        problems.push((field("record"), format!("{name:?} is not a valid metric name")));
                    }
                    for (f, set) in [
                        ("for", r.for_.is_some()),
                        ("keep_firing_for", r.keep_firing_for.is_some()),
                        ("annotations", !r.annotations.is_empty()),
                    ] {
                        if set {
                            problems.push((field(f), format!("{f} is only for alerting rules")));
                        }
                    }
                    RuleKind::Record { name: name.clone() }
                }
                (None, Some(name)) => {
                    if !nines_tsdb::is_valid_metric_name(name) {
                        problems.push((field("alert"), format!("{name:?} is not a valid alert name")));
                    }
                    let for_ms = duration(&r.for_, field("for"), &mut problems);
                    let keep_firing_for_ms = duration(&r.keep_firing_for, field("keep_firing_for"), &mut problems);
                    let annotations = templates(&r.annotations, &rpath, "annotations", &mut problems);
                    if let Some(missing) = page_missing(r, &g.labels, pages) {
                        let p = (field("annotations"), format!("alert {name:?} {missing}"));
                        if pages.enforce {
                            problems.push(p);
                        } else {
                            warnings.push(p);
                        }
                    }
                    RuleKind::Alert {
                        name: name.clone(),
                        for_ms,
                        keep_firing_for_ms,
                        annotations,
                    }
                }
            };
            rules.push(Rule {
                expr: r.expr.clone(),
                labels,
                kind,
            });
        }
        groups.push(RuleGroup {
            name: g.name.clone(),
            file: file.to_string(),
            interval_ms,
            query_offset_ms,
            limit: g.limit,
            rules,
        });
    }
    if problems.is_empty() {
        Ok(Validated { groups, warnings })
    } else {
        Err(problems)
    }
}

/// The annotations a paging alert lacks, said for people; None when it has
/// them all or does not page.
fn page_missing(rule: &RuleSpec, group_labels: &BTreeMap<String, String>, pages: &PagePolicy) -> Option<String> {
    let severity = rule.labels.get("severity").or_else(|| group_labels.get("severity"))?;
    pages.missing(severity, &rule.annotations)
}

impl PagePolicy {
    /// What an alert of `severity` with `annotations` lacks to page, said
    /// for people (`pages (severity "page") but has no impact: ...`); None
    /// when it has it all or does not page.
    pub fn missing(&self, severity: &str, annotations: &BTreeMap<String, String>) -> Option<String> {
        if !self.severities.iter().any(|s| s == severity) {
            return None;
        }
        let has = |k: &str| annotations.get(k).is_some_and(|v| !v.trim().is_empty());
        let mut missing = Vec::new();
        if !has("summary") {
            missing.push("summary");
        }
        if !has("impact") {
            missing.push("impact");
        }
        if !has("runbook_url") && !has("playbook") {
            missing.push("runbook_url or playbook");
        }
        (!missing.is_empty()).then(|| {
            format!(
                "pages (severity {severity:?}) but has no {}: a page must say what is wrong (summary), what \
                 users or the business feel (impact) and what to do (runbook_url, or playbook in Markdown)",
                missing.join(" and no ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<Validated, Vec<Problem>> {
        let spec: RuleFileSpec = serde_norway::from_str(yaml).unwrap();
        validate(&spec, "rules.yaml", &PagePolicy::default())
    }

    #[test]
    fn a_prometheus_rule_file_validates() {
        let v = check(
            r#"
groups:
  - name: api
    interval: 30s
    labels: {team: api}
    rules:
      - record: job:http_requests:rate5m
        expr: sum by (job) (rate(http_requests_total[5m]))
      - alert: HighErrorRate
        expr: job:http_errors:ratio5m > 0.05
        for: 10m
        keep_firing_for: 5m
        labels: {severity: page, team: api-oncall}
        annotations:
          summary: "{{ $labels.job }} fails {{ $value | humanizePercentage }} of requests"
          impact: Checkout is down for users
          runbook_url: https://runbooks/high-error-rate
"#,
        )
        .unwrap();
        let g = &v.groups[0];
        assert_eq!(g.interval_ms, Some(30_000));
        let RuleKind::Alert {
            for_ms,
            keep_firing_for_ms,
            ..
        } = &g.rules[1].kind
        else {
            panic!("an alert")
        };
        assert_eq!((*for_ms, *keep_firing_for_ms), (600_000, 300_000));
        let team: Vec<&str> = g.rules[1]
            .labels
            .iter()
            .filter(|l| l.0 == "team")
            .map(|l| l.2.as_str())
            .collect();
        assert_eq!(team, ["api-oncall"], "the rule's label wins over the group's");
    }

    #[test]
    fn every_problem_is_reported_with_its_field() {
        let problems = check(
            r#"
groups:
  - name: a
    rules:
      - record: "bad name"
        expr: "sum("
        for: 5m
      - alert: Down
        expr: up == 0
        for: soon
        labels: {severity: page}
        annotations: {summary: "{{ range }}"}
      - expr: up
  - name: a
"#,
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(|(p, m)| format!("{p:?}: {m}")).collect();
        let all = text.join("\n");
        for want in [
            "\"bad name\" is not a valid metric name",
            "not valid PromQL",
            "for is only for alerting rules",
            "\"soon\" is not a duration",
            "range is not supported",
            "pages (severity \"page\") but has no impact and no runbook_url or playbook:",
            "a rule needs record or alert",
            "group \"a\" is defined twice",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
        assert!(text.iter().any(|t| t.starts_with(
            "[Field(\"groups\"), Index(0), Field(\"rules\"), Index(0), Field(\"record\")]: \"bad name\""
        )));
    }

    #[test]
    fn unenforced_page_requirements_only_warn() {
        let spec: RuleFileSpec = serde_norway::from_str(
            "groups: [{name: a, rules: [{alert: Down, expr: up == 0, labels: {severity: critical}}]}]",
        )
        .unwrap();
        let lax = PagePolicy {
            enforce: false,
            ..PagePolicy::default()
        };
        let v = validate(&spec, "f", &lax).unwrap();
        assert_eq!(v.warnings.len(), 1);
        assert!(validate(&spec, "f", &PagePolicy::default()).is_err());
    }
}
