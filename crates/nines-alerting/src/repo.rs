//! What rule evaluation keeps between runs: every rule alert that is
//! pending, firing, or resolved but still remembered, so that a restart
//! neither restarts a `for` clock nor forgets an alert receivers were told
//! about. Behind a trait so SQLite and any later store keep one contract
//! (see [`contract`]).

use std::collections::BTreeMap;

use parking_lot::Mutex;

use crate::alert::Alert;

/// A failure of the state store, worded by the implementation.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("state store: {0}")]
pub struct RepoError(pub String);

/// Results of repository calls.
pub type RepoResult<T> = std::result::Result<T, RepoError>;

/// One rule alert as stored: its group, its rule, and the alert.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    /// The group's key, `file;name` (as Prometheus names groups).
    pub group: String,
    /// The alerting rule's name (`alertname`).
    pub rule: String,
    /// The alert.
    pub alert: Alert,
}

/// Where rule alerts are kept.
pub trait AlertRepository: Send + Sync {
    /// Every stored rule alert.
    fn rule_alerts(&self) -> RepoResult<Vec<StoredAlert>>;
    /// Replaces the alerts of `group` with `alerts` (rule name, alert) in
    /// one durable step.
    fn replace_group_alerts(&self, group: &str, alerts: &[(String, Alert)]) -> RepoResult<()>;
    /// Forgets the alerts of every group not named in `groups`.
    fn retain_groups(&self, groups: &[String]) -> RepoResult<()>;
}

/// An [`AlertRepository`] in memory, for tests and tools.
#[derive(Debug, Default)]
pub struct MemAlertRepository {
    groups: Mutex<BTreeMap<String, Vec<(String, Alert)>>>,
}

impl AlertRepository for MemAlertRepository {
    fn rule_alerts(&self) -> RepoResult<Vec<StoredAlert>> {
        Ok(self
            .groups
            .lock()
            .iter()
            .flat_map(|(group, alerts)| {
                alerts.iter().map(|(rule, alert)| StoredAlert {
                    group: group.clone(),
                    rule: rule.clone(),
                    alert: alert.clone(),
                })
            })
            .collect())
    }

    fn replace_group_alerts(&self, group: &str, alerts: &[(String, Alert)]) -> RepoResult<()> {
        let mut groups = self.groups.lock();
        if alerts.is_empty() {
            groups.remove(group);
        } else {
            groups.insert(group.to_string(), alerts.to_vec());
        }
        Ok(())
    }

    fn retain_groups(&self, groups: &[String]) -> RepoResult<()> {
        self.groups.lock().retain(|g, _| groups.contains(g));
        Ok(())
    }
}

/// The contract every [`AlertRepository`] keeps, as one suite each
/// implementation runs against itself.
#[doc(hidden)]
pub mod contract {
    use super::*;
    use crate::alert::AlertState;

    fn alert(instance: &str, state: AlertState, value: f64) -> Alert {
        Alert {
            labels: [("alertname", "Down"), ("instance", instance)]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            annotations: [("summary".to_string(), format!("{instance} is down"))].into(),
            state,
            value,
            active_at: 1_000,
            fired_at: (state != AlertState::Pending).then_some(61_000),
            resolved_at: (state == AlertState::Inactive).then_some(121_000),
            keep_firing_since: None,
        }
    }

    fn sorted(repo: &dyn AlertRepository) -> Vec<StoredAlert> {
        let mut all = repo.rule_alerts().expect("load");
        all.sort_by(|a, b| (&a.group, &a.rule, &a.alert.labels).cmp(&(&b.group, &b.rule, &b.alert.labels)));
        all
    }

    /// Alerts come back as saved, every field (a NaN value too).
    pub fn round_trip(repo: &dyn AlertRepository) {
        let mut kept = alert("b:1", AlertState::Firing, 0.25);
        kept.keep_firing_since = Some(90_000);
        let saved = vec![
            ("Down".to_string(), alert("a:1", AlertState::Pending, 3.5)),
            ("Down".to_string(), kept),
            ("Down".to_string(), alert("c:1", AlertState::Inactive, f64::NAN)),
        ];
        repo.replace_group_alerts("r.yaml;g", &saved).expect("save");
        let back = sorted(repo);
        assert_eq!(back.len(), 3);
        for (stored, (rule, original)) in back.iter().zip(&saved) {
            assert_eq!(stored.group, "r.yaml;g");
            assert_eq!(&stored.rule, rule);
            let mut a = stored.alert.clone();
            let mut o = original.clone();
            if o.value.is_nan() {
                assert!(a.value.is_nan(), "NaN came back as {}", a.value);
                a.value = 0.0;
                o.value = 0.0;
            }
            assert_eq!(a, o);
        }
    }

    /// Replacing a group's alerts drops the ones not given again and
    /// leaves other groups alone.
    pub fn replace_is_per_group(repo: &dyn AlertRepository) {
        let down = |i: &str| ("Down".to_string(), alert(i, AlertState::Firing, 1.0));
        repo.replace_group_alerts("a;g", &[down("x"), down("y")]).expect("save");
        repo.replace_group_alerts("b;g", &[down("z")]).expect("save");
        repo.replace_group_alerts("a;g", &[down("y")]).expect("save");
        let back: Vec<(String, String)> = sorted(repo)
            .into_iter()
            .map(|s| (s.group, s.alert.labels["instance"].clone()))
            .collect();
        assert_eq!(back, [("a;g".into(), "y".into()), ("b;g".into(), "z".into())]);
        repo.replace_group_alerts("a;g", &[]).expect("clear");
        assert_eq!(sorted(repo).len(), 1);
    }

    /// Groups no longer configured are forgotten.
    pub fn retain_forgets_other_groups(repo: &dyn AlertRepository) {
        let down = ("Down".to_string(), alert("x", AlertState::Pending, 1.0));
        for g in ["a;1", "a;2", "b;1"] {
            repo.replace_group_alerts(g, std::slice::from_ref(&down)).expect("save");
        }
        repo.retain_groups(&["a;2".to_string(), "c;9".to_string()])
            .expect("retain");
        let groups: Vec<String> = sorted(repo).into_iter().map(|s| s.group).collect();
        assert_eq!(groups, ["a;2"]);
    }

    /// The whole suite, each case on a fresh repository.
    pub fn run_all<R: AlertRepository>(fresh: impl Fn() -> R) {
        round_trip(&fresh());
        replace_is_per_group(&fresh());
        retain_forgets_other_groups(&fresh());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_repository_keeps_the_contract() {
        super::contract::run_all(super::MemAlertRepository::default);
    }
}
