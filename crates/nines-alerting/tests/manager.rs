//! The rule manager over an in-memory store and repository: a restart
//! (a new manager over the same repository) keeps a pending alert's `for`
//! clock and a firing alert firing; a reload carries alerts over and
//! forgets removed groups; a group replaced mid-evaluation writes nothing.

use std::sync::Arc;

use nines_alerting::alert::{AlertState, External};
use nines_alerting::manager::RuleManager;
use nines_alerting::mem::MemSeries;
use nines_alerting::repo::{AlertRepository, MemAlertRepository};
use nines_alerting::rulefile::{validate, PagePolicy, RuleFileSpec, RuleGroup};
use nines_promql::seam::EmbeddedQuery;
use nines_promql::value::Labels;
use nines_promql::Engine;

const MIN: i64 = 60_000;

type Store = MemSeries;

fn groups(yaml: &str) -> Vec<RuleGroup> {
    let spec: RuleFileSpec = serde_norway::from_str(yaml).unwrap();
    validate(&spec, "rules.yaml", &PagePolicy::default()).unwrap().groups
}

const RULES: &str = r#"
groups:
  - name: up
    interval: 1m
    rules:
      - alert: SlowToFire
        expr: up == 0
        for: 10m
      - alert: FiresAtOnce
        expr: up == 0
"#;

fn manager(store: &Arc<Store>, repo: &Arc<MemAlertRepository>) -> RuleManager {
    let query = Arc::new(EmbeddedQuery::new(Engine::default(), store.clone()));
    RuleManager::new(repo.clone(), query, store.clone())
}

fn down_from_minute_zero(store: &Store) {
    let s = &store;
    let labels = Labels::from(vec![
        ("__name__".to_string(), "up".to_string()),
        ("instance".to_string(), "a".to_string()),
    ]);
    for m in 0..=30 {
        s.add(labels.clone(), &[(m * MIN, 0.0)]);
    }
}

fn states(m: &RuleManager) -> Vec<(String, AlertState, i64)> {
    m.snapshot()
        .iter()
        .flat_map(|g| g.alerts())
        .map(|(rule, a)| (rule, a.state, a.active_at))
        .collect()
}

fn eval_all(m: &RuleManager, ts: i64) {
    for g in m.groups().iter() {
        m.evaluate(g, ts).expect("not retired").expect("saved");
    }
}

#[test]
fn a_restart_keeps_the_for_clock_and_firing_alerts() {
    let store = Arc::new(MemSeries::default());
    down_from_minute_zero(&store);
    let repo = Arc::new(MemAlertRepository::default());
    let first = manager(&store, &repo);
    first.configure(groups(RULES), &External::default(), MIN).unwrap();
    for m in 0..=4 {
        eval_all(&first, m * MIN);
    }
    assert_eq!(
        states(&first),
        [
            ("SlowToFire".into(), AlertState::Pending, 0),
            ("FiresAtOnce".into(), AlertState::Firing, 0)
        ]
    );
    drop(first);

    let second = manager(&store, &repo);
    second.configure(groups(RULES), &External::default(), MIN).unwrap();
    assert_eq!(states(&second).len(), 2, "restored before the first evaluation");
    let mut fired_at = None;
    for m in 5..=12 {
        for g in second.groups().iter() {
            for (_, t) in second.evaluate(g, m * MIN).unwrap().unwrap() {
                assert_eq!(
                    t.labels["alertname"], "SlowToFire",
                    "FiresAtOnce fired once, before the restart"
                );
                assert_eq!(t.to, Some(AlertState::Firing));
                fired_at = Some(m);
            }
        }
    }
    assert_eq!(
        fired_at,
        Some(10),
        "10m after it went pending at minute 0, not 10m after the restart"
    );
}

#[test]
fn a_reload_carries_alerts_over_and_forgets_removed_groups() {
    let store = Arc::new(MemSeries::default());
    down_from_minute_zero(&store);
    let repo = Arc::new(MemAlertRepository::default());
    let m = manager(&store, &repo);
    let two = format!("{RULES}  - name: other\n    rules:\n      - alert: Other\n        expr: up == 0\n");
    m.configure(groups(&two), &External::default(), MIN).unwrap();
    eval_all(&m, 0);
    eval_all(&m, 3 * MIN);
    assert_eq!(repo.rule_alerts().unwrap().len(), 3);
    let old_groups = m.groups();

    m.configure(groups(RULES), &External::default(), MIN).unwrap();
    let stored: Vec<String> = repo.rule_alerts().unwrap().into_iter().map(|s| s.rule).collect();
    assert_eq!(stored.len(), 2, "the removed group's alert is gone: {stored:?}");
    assert!(
        m.evaluate(&old_groups[0], 4 * MIN).is_none(),
        "a replaced group does not evaluate"
    );
    eval_all(&m, 4 * MIN);
    assert_eq!(
        states(&m),
        [
            ("SlowToFire".into(), AlertState::Pending, 0),
            ("FiresAtOnce".into(), AlertState::Firing, 0)
        ]
    );
}

#[test]
fn only_state_changes_are_saved() {
    struct Counting(MemAlertRepository, parking_lot::Mutex<usize>);
    impl AlertRepository for Counting {
        fn rule_alerts(&self) -> nines_alerting::repo::RepoResult<Vec<nines_alerting::repo::StoredAlert>> {
            self.0.rule_alerts()
        }
        fn replace_group_alerts(
            &self,
            group: &str,
            alerts: &[(String, nines_alerting::alert::Alert)],
        ) -> nines_alerting::repo::RepoResult<()> {
            *self.1.lock() += 1;
            self.0.replace_group_alerts(group, alerts)
        }
        fn retain_groups(&self, groups: &[String]) -> nines_alerting::repo::RepoResult<()> {
            self.0.retain_groups(groups)
        }
    }
    let store = Arc::new(MemSeries::default());
    down_from_minute_zero(&store);
    let repo = Arc::new(Counting(MemAlertRepository::default(), parking_lot::Mutex::new(0)));
    let query = Arc::new(EmbeddedQuery::new(Engine::default(), store.clone()));
    let m = RuleManager::new(repo.clone(), query, store.clone());
    m.configure(groups(RULES), &External::default(), MIN).unwrap();
    let at_configure = *repo.1.lock();
    for minute in 0..=15 {
        eval_all(&m, minute * MIN);
    }
    // Minute 0: both new; minute 10: SlowToFire fires. Nothing else changed.
    assert_eq!(*repo.1.lock() - at_configure, 2);
}
