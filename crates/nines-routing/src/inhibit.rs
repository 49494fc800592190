//! Inhibition rules, as Alertmanager writes them: while an alert matching
//! the source matchers fires, alerts matching the target matchers that
//! have the same values for every `equal` label are held back (a cluster
//! down inhibits the warnings of its services). An alert matching both
//! sides never inhibits itself.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use nines_alerting::rulefile::{PathPart, Problem};

use crate::matchers::{matches_all, parse_matchers, MatchOp, Matcher};

/// `inhibit_rules:` entry as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InhibitRuleSpec {
    /// What the inhibiting alert matches.
    #[serde(default)]
    pub source_matchers: Vec<String>,
    /// What the inhibited alert matches.
    #[serde(default)]
    pub target_matchers: Vec<String>,
    /// Alertmanager's older forms.
    #[serde(default)]
    pub source_match: BTreeMap<String, String>,
    /// Alertmanager's older forms.
    #[serde(default)]
    pub source_match_re: BTreeMap<String, String>,
    /// Alertmanager's older forms.
    #[serde(default)]
    pub target_match: BTreeMap<String, String>,
    /// Alertmanager's older forms.
    #[serde(default)]
    pub target_match_re: BTreeMap<String, String>,
    /// Labels whose values must be the same on both.
    #[serde(default)]
    pub equal: Vec<String>,
}

/// A validated inhibition rule.
#[derive(Debug, Clone)]
pub struct InhibitRule {
    /// What the inhibiting alert matches.
    pub source: Vec<Matcher>,
    /// What the inhibited alert matches.
    pub target: Vec<Matcher>,
    /// Labels whose values must be the same on both.
    pub equal: Vec<String>,
}

fn side(
    list: &[String],
    equal: &BTreeMap<String, String>,
    regex: &BTreeMap<String, String>,
    fields: [&'static str; 3],
    problems: &mut Vec<Problem>,
) -> Vec<Matcher> {
    let mut out = Vec::new();
    for (i, text) in list.iter().enumerate() {
        match parse_matchers(text) {
            Ok(ms) => out.extend(ms),
            Err(e) => problems.push((vec![PathPart::Field(fields[0]), PathPart::Index(i)], e.to_string())),
        }
    }
    out.extend(equal.iter().map(|(k, v)| Matcher::equal(k.clone(), v.clone())));
    for (k, v) in regex {
        match Matcher::new(MatchOp::Regex, k.clone(), v.clone()) {
            Ok(m) => out.push(m),
            Err(e) => problems.push((
                vec![PathPart::Field(fields[2]), PathPart::Key(k.clone())],
                e.to_string(),
            )),
        }
    }
    if out.is_empty() {
        problems.push((
            vec![PathPart::Field(fields[0])],
            format!("needs at least one matcher ({} or {})", fields[0], fields[1]),
        ));
    }
    out
}

impl InhibitRuleSpec {
    /// Checks the matchers; problems carry their path below the entry.
    pub fn validate(&self) -> Result<InhibitRule, Vec<Problem>> {
        let mut problems = Vec::new();
        let source = side(
            &self.source_matchers,
            &self.source_match,
            &self.source_match_re,
            ["source_matchers", "source_match", "source_match_re"],
            &mut problems,
        );
        let target = side(
            &self.target_matchers,
            &self.target_match,
            &self.target_match_re,
            ["target_matchers", "target_match", "target_match_re"],
            &mut problems,
        );
        for l in &self.equal {
            if !nines_tsdb::is_valid_label_name(l) {
                problems.push((vec![PathPart::Field("equal")], format!("{l:?} is not a label name")));
            }
        }
        if problems.is_empty() {
            Ok(InhibitRule {
                source,
                target,
                equal: self.equal.clone(),
            })
        } else {
            Err(problems)
        }
    }
}

type Labels = BTreeMap<String, String>;

/// The rules applied to one set of firing alerts.
pub struct Inhibitor<'a> {
    rules: &'a [InhibitRule],
    /// Per rule: the `equal` values of its firing sources → how many.
    sources: Vec<HashMap<Vec<String>, usize>>,
}

fn equal_values(rule: &InhibitRule, labels: &Labels) -> Vec<String> {
    rule.equal
        .iter()
        .map(|l| labels.get(l).cloned().unwrap_or_default())
        .collect()
}

impl<'a> Inhibitor<'a> {
    /// Indexes the firing alerts that can inhibit.
    pub fn new<'l>(rules: &'a [InhibitRule], firing: impl IntoIterator<Item = &'l Labels> + Clone) -> Self {
        let sources = rules
            .iter()
            .map(|rule| {
                let mut by_key: HashMap<Vec<String>, usize> = HashMap::new();
                for labels in firing.clone() {
                    if matches_all(&rule.source, labels) {
                        *by_key.entry(equal_values(rule, labels)).or_default() += 1;
                    }
                }
                by_key
            })
            .collect();
        Self { rules, sources }
    }

    /// The index of the first rule that inhibits an alert with `labels`
    /// (itself among the firing alerts or not).
    pub fn inhibited_by(&self, labels: &Labels) -> Option<usize> {
        self.rules.iter().zip(&self.sources).position(|(rule, sources)| {
            if !matches_all(&rule.target, labels) {
                return false;
            }
            let count = sources.get(&equal_values(rule, labels)).copied().unwrap_or(0);
            // An alert that is itself a source needs another one.
            let needed = if matches_all(&rule.source, labels) { 2 } else { 1 };
            count >= needed
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn rules(yaml: &str) -> Vec<InhibitRule> {
        let specs: Vec<InhibitRuleSpec> = serde_norway::from_str(yaml).unwrap();
        specs.iter().map(|s| s.validate().unwrap()).collect()
    }

    #[test]
    fn a_critical_alert_holds_back_the_warnings_of_its_cluster() {
        let rules = rules(
            "- source_matchers: ['severity=critical']\n  target_matchers: ['severity=warning']\n  equal: [cluster]\n",
        );
        let down = labels(&[
            ("alertname", "ClusterDown"),
            ("severity", "critical"),
            ("cluster", "eu"),
        ]);
        let warn_eu = labels(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "eu")]);
        let warn_us = labels(&[("alertname", "Slow"), ("severity", "warning"), ("cluster", "us")]);
        let firing = [down.clone(), warn_eu.clone(), warn_us.clone()];
        let inhibitor = Inhibitor::new(&rules, firing.iter());
        assert_eq!(inhibitor.inhibited_by(&warn_eu), Some(0));
        assert_eq!(inhibitor.inhibited_by(&warn_us), None);
        assert_eq!(inhibitor.inhibited_by(&down), None);
        // Without the source firing, nothing is held back.
        let calm = Inhibitor::new(&rules, [warn_eu.clone()].iter());
        assert_eq!(calm.inhibited_by(&warn_eu), None);
    }

    #[test]
    fn an_alert_on_both_sides_does_not_inhibit_itself() {
        let rules =
            rules("- source_match: {alertname: Down}\n  target_match_re: {alertname: 'Down|Slow'}\n  equal: [job]\n");
        let a = labels(&[("alertname", "Down"), ("job", "api"), ("instance", "1")]);
        let b = labels(&[("alertname", "Down"), ("job", "api"), ("instance", "2")]);
        assert_eq!(Inhibitor::new(&rules, [a.clone()].iter()).inhibited_by(&a), None);
        assert_eq!(
            Inhibitor::new(&rules, [a.clone(), b.clone()].iter()).inhibited_by(&a),
            Some(0)
        );
    }

    #[test]
    fn a_rule_needs_matchers_on_both_sides() {
        let spec: InhibitRuleSpec =
            serde_norway::from_str("equal: ['not a label']\nsource_matchers: ['x=~\"(\"']\n").unwrap();
        let problems = spec.validate().unwrap_err();
        let text: Vec<String> = problems.iter().map(|(p, m)| format!("{p:?}: {m}")).collect();
        assert_eq!(problems.len(), 4, "{text:#?}");
    }
}
