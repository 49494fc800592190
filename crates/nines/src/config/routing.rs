//! What happens to alerts after they fire, written as in Alertmanager's
//! config: `inhibit_rules:`. Each entry is validated whole; problems name
//! their key.

use nines_alerting::rulefile::PathPart;
use nines_routing::inhibit::{InhibitRule, InhibitRuleSpec};

use super::Key;

/// A path below a config list entry as config keys.
pub(super) fn keys(top: &'static str, index: usize, path: Vec<PathPart>) -> Vec<Key> {
    let mut out = vec![Key::from(top), Key::Index(index)];
    out.extend(path.into_iter().map(|p| match p {
        PathPart::Field(f) => Key::from(f),
        PathPart::Index(i) => Key::Index(i),
        PathPart::Key(k) => Key::from(k),
    }));
    out
}

/// The inhibition rules, or each problem with its key.
pub(super) fn inhibit_rules(specs: &[InhibitRuleSpec]) -> Result<Vec<InhibitRule>, Vec<(Vec<Key>, String)>> {
    let mut rules = Vec::new();
    let mut problems = Vec::new();
    for (i, spec) in specs.iter().enumerate() {
        match spec.validate() {
            Ok(r) => rules.push(r),
            Err(found) => problems.extend(found.into_iter().map(|(p, m)| (keys("inhibit_rules", i, p), m))),
        }
    }
    if problems.is_empty() {
        Ok(rules)
    } else {
        Err(problems)
    }
}
