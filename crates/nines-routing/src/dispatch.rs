//! Grouping and the decision to notify, as Alertmanager makes it. Every
//! alert that is not held back goes down the route tree and joins, at each
//! route it ends at, the group of its group labels. A new group waits
//! `group_wait` for company, then flushes; later flushes come every
//! `group_interval`. A flush notifies when the notification log says the
//! receiver has not heard of a firing alert, or of a resolved one, or when
//! `repeat_interval` has passed since it last heard; otherwise it stays
//! quiet. The log is durable, so a restart neither repeats nor forgets.
//!
//! The dispatcher holds no clock and does no I/O: [`Dispatcher::tick`]
//! takes the alerts and the time and returns what to send.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use serde::Serialize;

use crate::interval::TimeInterval;
use crate::route::Route;

type Labels = BTreeMap<String, String>;

/// An alert as routing sees it, whatever its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutableAlert {
    /// Stable identity: a hash of the labels.
    pub fingerprint: String,
    /// Its labels.
    pub labels: Labels,
    /// Its annotations.
    pub annotations: Labels,
    /// When it started firing, ms.
    pub starts_at: i64,
    /// When it ended, ms; `None` while firing.
    pub ends_at: Option<i64>,
    /// Where it came from (`rule`, `slo`, `alertmanager`, ...).
    pub source: String,
    /// A link to what produced it.
    pub generator_url: String,
}

impl RoutableAlert {
    /// Whether it has ended by `now`.
    pub fn resolved(&self, now: i64) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }
}

/// What the receiver of a group last heard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// The group's key (route and group labels).
    pub group_key: String,
    /// The receiver.
    pub receiver: String,
    /// Fingerprints of the alerts it was told are firing.
    pub firing: BTreeSet<String>,
    /// Fingerprints of the alerts it was told are resolved.
    pub resolved: BTreeSet<String>,
    /// When, ms.
    pub sent_at: i64,
}

/// One notification to send: a group's alerts for a receiver.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// The group's key.
    pub group_key: String,
    /// Who gets it.
    pub receiver: String,
    /// The labels the group is made of.
    pub group_labels: Labels,
    /// Firing alerts, then resolved ones, each by start.
    pub alerts: Vec<RoutableAlert>,
    /// What the log records once it is queued.
    pub log: LogEntry,
}

impl Notification {
    /// `firing` when any alert fires, else `resolved`.
    pub fn status(&self) -> &'static str {
        if self.log.firing.is_empty() {
            "resolved"
        } else {
            "firing"
        }
    }
}

#[derive(Debug)]
struct Group {
    route: Arc<Route>,
    labels: Labels,
    alerts: BTreeMap<String, RoutableAlert>,
    next_flush: i64,
}

/// The aggregation groups and the notification log.
pub struct Dispatcher {
    root: Arc<Route>,
    /// Route id → route, for groups to find theirs after a reload.
    routes: HashMap<String, Arc<Route>>,
    intervals: HashMap<String, TimeInterval>,
    groups: BTreeMap<String, Group>,
    log: HashMap<(String, String), LogEntry>,
}

fn index(root: &Route) -> HashMap<String, Arc<Route>> {
    root.walk()
        .into_iter()
        .map(|r| (r.id.clone(), Arc::new(r.clone())))
        .collect()
}

impl Dispatcher {
    /// A dispatcher over a route tree, time intervals by name, and the
    /// stored notification log.
    pub fn new(root: Route, intervals: Vec<TimeInterval>, log: Vec<LogEntry>) -> Self {
        Self {
            routes: index(&root),
            root: Arc::new(root),
            intervals: intervals.into_iter().map(|i| (i.name.clone(), i)).collect(),
            groups: BTreeMap::new(),
            log: log
                .into_iter()
                .map(|e| ((e.group_key.clone(), e.receiver.clone()), e))
                .collect(),
        }
    }

    /// Takes a new route tree and time intervals (reload). Groups whose
    /// route still exists with the same settings keep their timers; the
    /// others are formed again at the next tick.
    pub fn reconfigure(&mut self, root: Route, intervals: Vec<TimeInterval>) {
        self.routes = index(&root);
        self.root = Arc::new(root);
        self.intervals = intervals.into_iter().map(|i| (i.name.clone(), i)).collect();
        let routes = &self.routes;
        self.groups.retain(|_, g| {
            routes.get(&g.route.id).is_some_and(|r| {
                r.receiver == g.route.receiver
                    && r.group_by == g.route.group_by
                    && r.group_interval_ms == g.route.group_interval_ms
            })
        });
        for g in self.groups.values_mut() {
            if let Some(r) = self.routes.get(&g.route.id) {
                g.route = r.clone();
            }
        }
    }

    /// The earliest time a group flushes, if any group exists.
    pub fn next_due(&self) -> Option<i64> {
        self.groups.values().map(|g| g.next_flush).min()
    }

    /// How many groups there are.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }

    /// Records that a notification was queued (after the store took it).
    pub fn logged(&mut self, entry: LogEntry) {
        self.log
            .insert((entry.group_key.clone(), entry.receiver.clone()), entry);
    }

    fn muted(&self, route: &Route, now: i64) -> bool {
        let any = |names: &[String]| {
            names
                .iter()
                .any(|n| self.intervals.get(n).is_some_and(|i| i.contains(now)))
        };
        any(&route.mute_time_intervals)
            || (!route.active_time_intervals.is_empty() && !any(&route.active_time_intervals))
    }

    /// Files the current alerts into groups and returns the notifications
    /// due at `now`. `alerts` holds what is firing and what resolved
    /// lately, none of it held back; an alert a group had that is missing
    /// now counts as resolved at `now`. The caller stores each
    /// notification and then calls [`Dispatcher::logged`].
    pub fn tick(&mut self, alerts: &[RoutableAlert], now: i64) -> Vec<Notification> {
        let mut seen: BTreeSet<(String, String)> = BTreeSet::new();
        for alert in alerts {
            let routes: Vec<Arc<Route>> = self
                .root
                .matching(&alert.labels)
                .into_iter()
                .filter_map(|r| self.routes.get(&r.id).cloned())
                .collect();
            for route in routes {
                let key = route.group_key(&alert.labels);
                let resolved = alert.resolved(now);
                let group = match self.groups.get_mut(&key) {
                    Some(g) => g,
                    // A resolved alert never opens a group: nobody heard
                    // of it firing through this route.
                    None if resolved => continue,
                    None => self.groups.entry(key.clone()).or_insert_with(|| Group {
                        labels: route.group_labels(&alert.labels),
                        next_flush: now + route.group_wait_ms,
                        route: route.clone(),
                        alerts: BTreeMap::new(),
                    }),
                };
                group.alerts.insert(alert.fingerprint.clone(), alert.clone());
                seen.insert((key, alert.fingerprint.clone()));
            }
        }
        for (key, group) in self.groups.iter_mut() {
            for (fp, alert) in group.alerts.iter_mut() {
                if alert.ends_at.is_none() && !seen.contains(&(key.clone(), fp.clone())) {
                    alert.ends_at = Some(now);
                }
            }
        }
        let due: Vec<String> = self
            .groups
            .iter()
            .filter(|(_, g)| g.next_flush <= now)
            .map(|(k, _)| k.clone())
            .collect();
        let mut out = Vec::new();
        for key in due {
            let Some(group) = self.groups.get(&key) else {
                continue;
            };
            let route = group.route.clone();
            let notification = if self.muted(&route, now) {
                None
            } else {
                self.flush(&key, group, now)
            };
            let Some(group) = self.groups.get_mut(&key) else {
                continue;
            };
            group.next_flush = now + route.group_interval_ms;
            // Resolved alerts leave once flushed (told or muted); a group
            // with nothing left goes.
            group.alerts.retain(|_, a| !a.resolved(now));
            if group.alerts.is_empty() {
                self.groups.remove(&key);
            }
            out.extend(notification);
        }
        out
    }

    fn flush(&self, key: &str, group: &Group, now: i64) -> Option<Notification> {
        let receiver = group.route.receiver.clone();
        let (mut firing, mut resolved): (Vec<&RoutableAlert>, Vec<&RoutableAlert>) =
            group.alerts.values().partition(|a| !a.resolved(now));
        let firing_set: BTreeSet<String> = firing.iter().map(|a| a.fingerprint.clone()).collect();
        let resolved_set: BTreeSet<String> = resolved.iter().map(|a| a.fingerprint.clone()).collect();
        let previous = self.log.get(&(key.to_string(), receiver.clone()));
        let needed = match previous {
            None => !firing_set.is_empty(),
            Some(prev) => {
                !firing_set.is_subset(&prev.firing)
                    // Resolved alerts the receiver heard firing.
                    || resolved_set.iter().any(|fp| prev.firing.contains(fp) && !prev.resolved.contains(fp))
                    || (!firing_set.is_empty() && now >= prev.sent_at + group.route.repeat_interval_ms)
            }
        };
        if !needed {
            return None;
        }
        // Resolved alerts the receiver never heard firing are not news.
        if let Some(prev) = previous {
            resolved.retain(|a| prev.firing.contains(&a.fingerprint) || prev.resolved.contains(&a.fingerprint));
        } else {
            resolved.clear();
        }
        firing.sort_by(|a, b| {
            a.starts_at
                .cmp(&b.starts_at)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        resolved.sort_by(|a, b| {
            a.starts_at
                .cmp(&b.starts_at)
                .then_with(|| a.fingerprint.cmp(&b.fingerprint))
        });
        Some(Notification {
            group_key: key.to_string(),
            receiver: receiver.clone(),
            group_labels: group.labels.clone(),
            alerts: firing.iter().chain(resolved.iter()).map(|a| (*a).clone()).collect(),
            log: LogEntry {
                group_key: key.to_string(),
                receiver,
                firing: firing_set,
                resolved: resolved.iter().map(|a| a.fingerprint.clone()).collect(),
                sent_at: now,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interval::TimeIntervalSpec;
    use crate::route::{Names, RouteSpec};

    fn route(yaml: &str) -> Route {
        let spec: RouteSpec = serde_norway::from_str(yaml).unwrap();
        spec.validate(&Names {
            receiver: &|_| true,
            time_interval: &|_| true,
        })
        .unwrap()
    }

    fn alert(name: &str, service: &str, starts: i64) -> RoutableAlert {
        let labels: Labels = [("alertname", name), ("service", service)]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RoutableAlert {
            fingerprint: nines_alerting::inbound::labels_key(&labels),
            labels,
            annotations: Labels::new(),
            starts_at: starts,
            ends_at: None,
            source: "rule".into(),
            generator_url: String::new(),
        }
    }

    const TREE: &str = "
receiver: ops
group_by: [service]
group_wait: 30s
group_interval: 5m
repeat_interval: 1h
routes:
- matchers: [service=checkout]
  receiver: pager
  group_wait: 0s
";

    fn sent(d: &mut Dispatcher, alerts: &[RoutableAlert], now: i64) -> Vec<Notification> {
        let out = d.tick(alerts, now);
        for n in &out {
            d.logged(n.log.clone());
        }
        out
    }

    #[test]
    fn a_group_waits_batches_and_flushes_on_its_interval() {
        let mut d = Dispatcher::new(route(TREE), vec![], vec![]);
        let a = alert("Slow", "billing", 0);
        let b = alert("Errors", "billing", 0);
        assert!(
            sent(&mut d, std::slice::from_ref(&a), 0).is_empty(),
            "group_wait holds it"
        );
        assert_eq!(d.next_due(), Some(30_000));
        assert!(sent(&mut d, &[a.clone(), b.clone()], 10_000).is_empty());
        let first = sent(&mut d, &[a.clone(), b.clone()], 30_000);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receiver, "ops");
        assert_eq!(first[0].alerts.len(), 2, "both in one notification");
        assert_eq!(first[0].group_key, r#"0:{service="billing"}"#);
        // Nothing new by the next interval: quiet.
        assert!(sent(&mut d, &[a.clone(), b.clone()], 330_000).is_empty());
        // One resolves: told at the next interval, not before.
        let mut a_done = a.clone();
        a_done.ends_at = Some(400_000);
        assert!(sent(&mut d, &[a_done.clone(), b.clone()], 400_000).is_empty());
        let told = sent(&mut d, &[a_done.clone(), b.clone()], 630_000);
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].status(), "firing");
        assert_eq!(told[0].alerts[1].ends_at, Some(400_000));
        // The repeat after an hour of silence.
        assert!(sent(&mut d, std::slice::from_ref(&b), 930_000).is_empty());
        let repeat = sent(&mut d, std::slice::from_ref(&b), 630_000 + 3_600_000);
        assert_eq!(repeat.len(), 1);
        assert_eq!(repeat[0].alerts, vec![b.clone()]);
    }

    #[test]
    fn group_wait_zero_sends_at_once_and_a_vanished_alert_resolves() {
        let mut d = Dispatcher::new(route(TREE), vec![], vec![]);
        let c = alert("Down", "checkout", 0);
        let first = sent(&mut d, std::slice::from_ref(&c), 5);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].receiver, "pager");
        // The alert is gone from the feed (forgotten by its source).
        assert!(sent(&mut d, &[], 1_000).is_empty());
        let resolved = sent(&mut d, &[], 300_005);
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status(), "resolved");
        assert_eq!(resolved[0].alerts[0].ends_at, Some(1_000));
        assert_eq!(d.group_count(), 0);
    }

    #[test]
    fn the_log_prevents_repeats_after_a_restart() {
        let mut d = Dispatcher::new(route(TREE), vec![], vec![]);
        let c = alert("Down", "checkout", 0);
        let first = sent(&mut d, std::slice::from_ref(&c), 0);
        let log = vec![first[0].log.clone()];
        // A new dispatcher with the stored log: the group forms again
        // but the receiver already knows.
        let mut again = Dispatcher::new(route(TREE), vec![], log);
        assert!(sent(&mut again, std::slice::from_ref(&c), 60_000).is_empty());
        let other = alert("Errors", "checkout", 50_000);
        assert_eq!(sent(&mut again, &[c.clone(), other], 360_000).len(), 1);
    }

    #[test]
    fn groups_are_independent() {
        let mut d = Dispatcher::new(route(TREE), vec![], vec![]);
        let alerts: Vec<RoutableAlert> = (0..100)
            .flat_map(|g| (0..10).map(move |i| alert(&format!("A{i}"), &format!("svc{g}"), 0)))
            .collect();
        let out = sent(&mut d, &alerts, 30_000);
        assert_eq!(out.len(), 0, "the first tick opens the groups");
        let out = sent(&mut d, &alerts, 60_000);
        assert_eq!(out.len(), 100);
        assert!(out.iter().all(|n| n.alerts.len() == 10));
    }

    #[test]
    fn muted_and_inactive_routes_hold_notifications_back() {
        let spec: TimeIntervalSpec = serde_norway::from_str(
            "name: nights\ntime_intervals:\n- times: [{start_time: '00:00', end_time: '06:00'}]\n",
        )
        .unwrap();
        let nights = spec.validate().unwrap();
        let tree = "receiver: ops\ngroup_wait: 0s\nroutes:\n- matchers: [service=batch]\n  mute_time_intervals: [nights]\n- matchers: [service=office]\n  active_time_intervals: [nights]\n";
        let mut d = Dispatcher::new(route(tree), vec![nights], vec![]);
        let hour = 3_600_000;
        let batch = alert("Late", "batch", 0);
        let office = alert("Late", "office", 0);
        let at_night = sent(&mut d, &[batch.clone(), office.clone()], hour);
        assert_eq!(at_night.len(), 1);
        assert_eq!(at_night[0].alerts[0].labels["service"], "office");
        let by_day = sent(&mut d, &[batch.clone(), office.clone()], 7 * hour);
        assert_eq!(by_day.len(), 1);
        assert_eq!(by_day[0].alerts[0].labels["service"], "batch");
    }
}
