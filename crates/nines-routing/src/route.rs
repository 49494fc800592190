//! The route tree, as Alertmanager's `route:` writes it. An alert enters
//! at the root and goes down: at each node, children are tried in order,
//! and the first whose matchers accept the alert takes it (and, unless
//! that child says `continue: true`, no later sibling is tried). An alert
//! no child takes stays at the node. Children inherit the receiver and
//! the grouping settings they do not set.

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;

use nines_alerting::rulefile::{PathPart, Problem};

use crate::matchers::{matches_all, parse_matchers, Matcher};

/// Alertmanager's defaults.
const DEFAULT_GROUP_WAIT_MS: i64 = 30_000;
const DEFAULT_GROUP_INTERVAL_MS: i64 = 300_000;
const DEFAULT_REPEAT_INTERVAL_MS: i64 = 4 * 3_600_000;

/// A route as written.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Where its alerts go (inherited when absent; the root must set it).
    #[serde(default)]
    pub receiver: Option<String>,
    /// Labels that split its alerts into groups; `['...']` groups by
    /// every label.
    #[serde(default)]
    pub group_by: Option<Vec<String>>,
    /// How long a new group waits for more alerts before its first
    /// notification.
    #[serde(default)]
    pub group_wait: Option<String>,
    /// How long a group waits before notifying about changes.
    #[serde(default)]
    pub group_interval: Option<String>,
    /// How long before a notification is sent again for an unchanged
    /// group.
    #[serde(default)]
    pub repeat_interval: Option<String>,
    /// Matchers an alert must meet (each item one or more, in
    /// Alertmanager's syntax).
    #[serde(default)]
    pub matchers: Vec<String>,
    /// Alertmanager's older equality matchers.
    #[serde(default, rename = "match")]
    pub match_equal: BTreeMap<String, String>,
    /// Alertmanager's older regex matchers.
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    /// Whether later siblings are tried after this route takes an alert.
    #[serde(default, rename = "continue")]
    pub continue_matching: bool,
    /// Child routes.
    #[serde(default)]
    pub routes: Vec<RouteSpec>,
    /// Time intervals in which its notifications are held back.
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    /// Time intervals outside which its notifications are held back.
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
}

/// How a route splits its alerts into groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    /// One group per distinct value of these labels.
    Labels(Vec<String>),
    /// One group per alert (`group_by: ['...']`).
    Everything,
}

/// A validated route.
#[derive(Debug, Clone)]
pub struct Route {
    /// Its position, `0` for the root, `0.2.1` for the second child of
    /// the third child; part of each group's key.
    pub id: String,
    /// Where its alerts go.
    pub receiver: String,
    /// How it groups.
    pub group_by: GroupBy,
    /// ms.
    pub group_wait_ms: i64,
    /// ms.
    pub group_interval_ms: i64,
    /// ms.
    pub repeat_interval_ms: i64,
    /// What an alert must meet.
    pub matchers: Vec<Matcher>,
    /// Whether later siblings are tried too.
    pub continue_matching: bool,
    /// Names of time intervals that mute it.
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which it is muted.
    pub active_time_intervals: Vec<String>,
    /// Children.
    pub routes: Vec<Route>,
}

impl Route {
    /// The routes an alert with `labels` ends at, in tree order.
    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !matches_all(&self.matchers, labels) {
            return Vec::new();
        }
        let mut all = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            let took = !found.is_empty();
            all.extend(found);
            if took && !child.continue_matching {
                break;
            }
        }
        if all.is_empty() {
            all.push(self);
        }
        all
    }

    /// The labels an alert is grouped by at this route.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            GroupBy::Everything => labels.clone(),
            GroupBy::Labels(names) => names
                .iter()
                .filter_map(|n| labels.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }

    /// The key of the group an alert joins at this route: the route and
    /// its group labels (`0.1:{service="checkout"}`).
    pub fn group_key(&self, labels: &BTreeMap<String, String>) -> String {
        let group: Vec<String> = self
            .group_labels(labels)
            .iter()
            .map(|(k, v)| format!("{k}={v:?}"))
            .collect();
        format!("{}:{{{}}}", self.id, group.join(","))
    }

    /// Every route in the tree, the root first.
    pub fn walk(&self) -> Vec<&Route> {
        let mut out = vec![self];
        for child in &self.routes {
            out.extend(child.walk());
        }
        out
    }
}

/// What a route tree may refer to.
pub struct Names<'a> {
    /// Whether a receiver with this name exists.
    pub receiver: &'a dyn Fn(&str) -> bool,
    /// Whether a time interval with this name exists.
    pub time_interval: &'a dyn Fn(&str) -> bool,
}

struct Inherited {
    receiver: Option<String>,
    group_by: GroupBy,
    group_wait_ms: i64,
    group_interval_ms: i64,
    repeat_interval_ms: i64,
}

fn duration(
    text: &Option<String>,
    inherited: i64,
    field: &'static str,
    path: &[PathPart],
    minimum: i64,
    problems: &mut Vec<Problem>,
) -> i64 {
    let Some(text) = text else {
        return inherited;
    };
    match nines_promql::parse_duration_ms(text) {
        Some(ms) if ms >= minimum => ms,
        Some(_) => {
            let mut p = path.to_vec();
            p.push(PathPart::Field(field));
            problems.push((
                p,
                format!("{text:?} is shorter than {}", nines_promql::format_duration_ms(minimum)),
            ));
            inherited
        }
        None => {
            let mut p = path.to_vec();
            p.push(PathPart::Field(field));
            problems.push((p, format!("{text:?} is not a duration like 30s or 5m")));
            inherited
        }
    }
}

impl RouteSpec {
    /// Validates the tree from this (root) route. Problems carry their
    /// path from the root (`routes[1].matchers[0]`).
    pub fn validate(&self, names: &Names<'_>) -> Result<Route, Vec<Problem>> {
        let mut problems = Vec::new();
        if self.receiver.is_none() {
            problems.push((
                vec![],
                "the root route needs a receiver: every alert must end somewhere".into(),
            ));
        }
        if !self.matchers.is_empty() || !self.match_equal.is_empty() || !self.match_re.is_empty() {
            problems.push((
                vec![PathPart::Field("matchers")],
                "the root route takes every alert; it cannot have matchers".into(),
            ));
        }
        if self.continue_matching {
            problems.push((
                vec![PathPart::Field("continue")],
                "the root route has no siblings to continue to".into(),
            ));
        }
        let root = Inherited {
            receiver: None,
            group_by: GroupBy::Labels(Vec::new()),
            group_wait_ms: DEFAULT_GROUP_WAIT_MS,
            group_interval_ms: DEFAULT_GROUP_INTERVAL_MS,
            repeat_interval_ms: DEFAULT_REPEAT_INTERVAL_MS,
        };
        let route = self.build("0".into(), &[], &root, names, &mut problems);
        if problems.is_empty() {
            Ok(route)
        } else {
            Err(problems)
        }
    }

    fn build(
        &self,
        id: String,
        path: &[PathPart],
        parent: &Inherited,
        names: &Names<'_>,
        problems: &mut Vec<Problem>,
    ) -> Route {
        let at = |field: &'static str| {
            let mut p = path.to_vec();
            p.push(PathPart::Field(field));
            p
        };
        let receiver = self.receiver.clone().or_else(|| parent.receiver.clone());
        if let Some(r) = &self.receiver {
            if !(names.receiver)(r) {
                problems.push((at("receiver"), format!("no receiver is named {r:?}")));
            }
        }
        let group_by = match &self.group_by {
            None => parent.group_by.clone(),
            Some(list) if list.iter().any(|l| l == "...") => {
                if list.len() > 1 {
                    problems.push((at("group_by"), "'...' groups by every label and stands alone".into()));
                }
                GroupBy::Everything
            }
            Some(list) => {
                let mut seen = HashSet::new();
                for l in list {
                    if !nines_tsdb::is_valid_label_name(l) {
                        problems.push((at("group_by"), format!("{l:?} is not a label name")));
                    } else if !seen.insert(l) {
                        problems.push((at("group_by"), format!("{l:?} is listed twice")));
                    }
                }
                GroupBy::Labels(list.clone())
            }
        };
        let group_wait_ms = duration(&self.group_wait, parent.group_wait_ms, "group_wait", path, 0, problems);
        let group_interval_ms = duration(
            &self.group_interval,
            parent.group_interval_ms,
            "group_interval",
            path,
            1_000,
            problems,
        );
        let repeat_interval_ms = duration(
            &self.repeat_interval,
            parent.repeat_interval_ms,
            "repeat_interval",
            path,
            1_000,
            problems,
        );
        if repeat_interval_ms < group_interval_ms {
            problems.push((
                at("repeat_interval"),
                "must not be shorter than group_interval (a repeat waits for the group's next flush)".into(),
            ));
        }
        let mut matchers = Vec::new();
        for (i, text) in self.matchers.iter().enumerate() {
            match parse_matchers(text) {
                Ok(ms) => matchers.extend(ms),
                Err(e) => {
                    let mut p = at("matchers");
                    p.push(PathPart::Index(i));
                    problems.push((p, e.to_string()));
                }
            }
        }
        for (name, value) in &self.match_equal {
            matchers.push(Matcher::equal(name.clone(), value.clone()));
        }
        for (name, value) in &self.match_re {
            match Matcher::new(nines_tsdb::MatchOp::Regex, name.clone(), value.clone()) {
                Ok(m) => matchers.push(m),
                Err(e) => {
                    let mut p = at("match_re");
                    p.push(PathPart::Key(name.clone()));
                    problems.push((p, e.to_string()));
                }
            }
        }
        for (field, list) in [
            ("mute_time_intervals", &self.mute_time_intervals),
            ("active_time_intervals", &self.active_time_intervals),
        ] {
            for name in list {
                if !(names.time_interval)(name) {
                    problems.push((at(field), format!("no time interval is named {name:?}")));
                }
            }
        }
        let inherited = Inherited {
            receiver: receiver.clone(),
            group_by: group_by.clone(),
            group_wait_ms,
            group_interval_ms,
            repeat_interval_ms,
        };
        let routes = self
            .routes
            .iter()
            .enumerate()
            .map(|(i, child)| {
                let mut p = at("routes");
                p.push(PathPart::Index(i));
                child.build(format!("{id}.{i}"), &p, &inherited, names, problems)
            })
            .collect();
        Route {
            id,
            receiver: receiver.unwrap_or_default(),
            group_by,
            group_wait_ms,
            group_interval_ms,
            repeat_interval_ms,
            matchers,
            continue_matching: self.continue_matching,
            mute_time_intervals: self.mute_time_intervals.clone(),
            active_time_intervals: self.active_time_intervals.clone(),
            routes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(yaml: &str) -> Result<Route, Vec<Problem>> {
        let spec: RouteSpec = serde_norway::from_str(yaml).unwrap();
        spec.validate(&Names {
            receiver: &|r| ["ops", "db-pager", "checkout", "audit", "slack"].contains(&r),
            time_interval: &|t| t == "offhours",
        })
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    const TREE: &str = "
receiver: ops
group_by: [alertname]
group_wait: 10s
routes:
- matchers: ['service=\"checkout\"']
  receiver: checkout
  group_by: [alertname, service]
  routes:
  - match: {severity: page}
    receiver: db-pager
    group_wait: 0s
- matchers: ['team=~\"db|storage\"']
  receiver: audit
  continue: true
- match_re: {team: 'db.*'}
  receiver: db-pager
  mute_time_intervals: [offhours]
- matchers: ['team=db']
  receiver: slack
";

    #[test]
    fn the_first_match_wins_unless_it_continues() {
        let root = tree(TREE).unwrap();
        let ids = |l: &[(&str, &str)]| {
            root.matching(&labels(l))
                .iter()
                .map(|r| (r.id.clone(), r.receiver.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&[("alertname", "X")]), [("0".to_string(), "ops".to_string())]);
        assert_eq!(ids(&[("service", "checkout")]), [("0.0".into(), "checkout".into())]);
        assert_eq!(
            ids(&[("service", "checkout"), ("severity", "page")]),
            [("0.0.0".into(), "db-pager".into())]
        );
        // continue: audit takes it and the next sibling does too; the one
        // after that is not tried.
        assert_eq!(
            ids(&[("team", "db")]),
            [("0.1".into(), "audit".into()), ("0.2".into(), "db-pager".into())]
        );
    }

    #[test]
    fn children_inherit_what_they_do_not_set() {
        let root = tree(TREE).unwrap();
        let pager = &root.routes[0].routes[0];
        assert_eq!(
            pager.group_by,
            GroupBy::Labels(vec!["alertname".into(), "service".into()])
        );
        assert_eq!(pager.group_wait_ms, 0);
        assert_eq!(pager.group_interval_ms, DEFAULT_GROUP_INTERVAL_MS);
        assert_eq!(root.routes[1].group_wait_ms, 10_000);
        assert_eq!(root.routes[2].mute_time_intervals, ["offhours"]);
        let l = labels(&[("alertname", "Down"), ("service", "checkout"), ("pod", "a")]);
        assert_eq!(
            root.routes[0].group_key(&l),
            r#"0.0:{alertname="Down",service="checkout"}"#
        );
        assert_eq!(root.walk().len(), 6);
    }

    #[test]
    fn problems_name_their_route() {
        let problems = tree(
            "
group_wait: soon
matchers: ['a=b']
routes:
- receiver: nobody
  group_by: ['...', x]
  matchers: ['a=~\"(\"']
  mute_time_intervals: [weekends]
  repeat_interval: 1s
  group_interval: 1m
",
        )
        .unwrap_err();
        let text: Vec<String> = problems.iter().map(|(p, m)| format!("{p:?}: {m}")).collect();
        let has = |s: &str| text.iter().any(|t| t.contains(s));
        assert!(has("needs a receiver"), "{text:#?}");
        assert!(has("cannot have matchers"), "{text:#?}");
        assert!(has("\"soon\" is not a duration"), "{text:#?}");
        assert!(has("no receiver is named \"nobody\""), "{text:#?}");
        assert!(has("stands alone"), "{text:#?}");
        assert!(has("regex"), "{text:#?}");
        assert!(has("no time interval is named \"weekends\""), "{text:#?}");
        assert!(has("shorter than group_interval"), "{text:#?}");
        assert_eq!(problems.len(), 8, "{text:#?}");
    }
}
