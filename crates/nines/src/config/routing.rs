//! What happens to alerts after they fire, written as in Alertmanager's
//! config: `inhibit_rules:`. Each entry is validated whole; problems name
//! their key.

use nines_alerting::rulefile::PathPart;
use nines_routing::inhibit::{InhibitRule, InhibitRuleSpec};

use super::Key;

/// A path below `prefix` as config keys.
pub(super) fn below(mut prefix: Vec<Key>, path: Vec<PathPart>) -> Vec<Key> {
    prefix.extend(path.into_iter().map(|p| match p {
        PathPart::Field(f) => Key::from(f),
        PathPart::Index(i) => Key::Index(i),
        PathPart::Key(k) => Key::from(k),
    }));
    prefix
}

/// A path below a config list entry as config keys.
fn keys(top: &'static str, index: usize, path: Vec<PathPart>) -> Vec<Key> {
    below(vec![Key::from(top), Key::Index(index)], path)
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

/// The route tree with what it refers to, validated.
#[derive(Debug, Clone)]
pub struct RoutingLoaded {
    /// The root route.
    pub root: nines_routing::route::Route,
    /// Receivers by name.
    pub receivers: std::collections::HashMap<String, nines_routing::receiver::ReceiverSpec>,
    /// Named time intervals.
    pub intervals: Vec<nines_routing::interval::TimeInterval>,
}

/// `route:`, `receivers:` and `time_intervals:` checked together: names
/// unique, every name a route uses defined.
pub(super) fn route_tree(c: &super::Config) -> Result<Option<RoutingLoaded>, Vec<(Vec<Key>, String)>> {
    let mut problems = Vec::new();
    let mut receivers = std::collections::HashMap::new();
    for (i, r) in c.receivers.iter().enumerate() {
        problems.extend(r.validate().into_iter().map(|(p, m)| (keys("receivers", i, p), m)));
        if let Some(policy) = &r.escalation_policy {
            if !c.escalation_policies.iter().any(|p| &p.name == policy) {
                problems.push((
                    keys("receivers", i, vec![PathPart::Field("escalation_policy")]),
                    format!("no escalation policy is named {policy:?}"),
                ));
            }
        }
        if receivers.insert(r.name.clone(), r.clone()).is_some() {
            problems.push((
                keys("receivers", i, vec![PathPart::Field("name")]),
                format!("{:?} is used by an earlier receiver", r.name),
            ));
        }
    }
    let mut intervals = Vec::new();
    for (i, t) in c.time_intervals.iter().enumerate() {
        match t.validate() {
            Ok(v) => {
                if intervals
                    .iter()
                    .any(|x: &nines_routing::interval::TimeInterval| x.name == v.name)
                {
                    problems.push((
                        keys("time_intervals", i, vec![PathPart::Field("name")]),
                        format!("{:?} is used by an earlier time interval", v.name),
                    ));
                }
                intervals.push(v);
            }
            Err(found) => problems.extend(found.into_iter().map(|(p, m)| (keys("time_intervals", i, p), m))),
        }
    }
    let root = match &c.route {
        None => {
            if !c.receivers.is_empty() {
                problems.push((
                    vec![Key::from("receivers")],
                    "receivers need a route: add route: {receiver: NAME}".into(),
                ));
            }
            None
        }
        Some(spec) => {
            let names = nines_routing::route::Names {
                receiver: &|r| c.receivers.iter().any(|x| x.name == r),
                time_interval: &|t| c.time_intervals.iter().any(|x| x.name == t),
            };
            match spec.validate(&names) {
                Ok(root) => Some(root),
                Err(found) => {
                    problems.extend(found.into_iter().map(|(p, m)| (below(vec![Key::from("route")], p), m)));
                    None
                }
            }
        }
    };
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(root.map(|root| RoutingLoaded {
        root,
        receivers,
        intervals,
    }))
}
