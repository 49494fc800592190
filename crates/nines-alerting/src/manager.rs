//! The configured rule groups and their durable alert state: loading a
//! config (restoring alerts from the store on the first load, carrying
//! them over from the previous config on a reload), evaluating one group
//! at a time (saving its alerts before anyone can see them), and what the
//! API shows.
//!
//! Scheduling is the caller's: each group is evaluated at multiples of its
//! interval ([`GroupEvaluator::next_due`]) by whoever owns the clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use nines_promql::seam::MetricsQuery;
use parking_lot::{Mutex, RwLock};

use crate::alert::{Alert, AlertState, External};
use crate::group::{GroupEvaluator, SeriesSink, Transitions};
use crate::repo::{AlertRepository, RepoResult};
use crate::rulefile::RuleGroup;

/// One configured group: its evaluator, what was last saved of it, and
/// the copy the API reads (so a slow evaluation never blocks a reader).
pub struct ManagedGroup {
    evaluator: Mutex<GroupEvaluator>,
    /// What the store holds for this group, in [`durable`] form.
    saved: Mutex<Vec<DurableAlert>>,
    published: RwLock<Arc<GroupEvaluator>>,
    /// Set when a reload replaced the group; an evaluation already
    /// scheduled must not write its stale state over the new one's.
    retired: AtomicBool,
    interval_ms: i64,
}

impl ManagedGroup {
    /// The group's evaluation interval, ms.
    pub fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    /// The first evaluation time after `after`, ms.
    pub fn next_due(&self, after: i64) -> i64 {
        (after.div_euclid(self.interval_ms) + 1) * self.interval_ms
    }

    /// The group as last evaluated.
    pub fn snapshot(&self) -> Arc<GroupEvaluator> {
        self.published.read().clone()
    }
}

/// The part of an alert that, when it changes, must be saved: not the
/// value or the annotations that follow it every evaluation.
type DurableAlert = (
    String,
    Vec<(String, String)>,
    AlertState,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn durable(alerts: &[(String, Alert)]) -> Vec<DurableAlert> {
    alerts
        .iter()
        .map(|(rule, a)| {
            (
                rule.clone(),
                a.labels.clone().into_iter().collect(),
                a.state,
                a.active_at,
                a.fired_at,
                a.resolved_at,
                a.keep_firing_since,
            )
        })
        .collect()
}

/// Every rule group, evaluated through the query seam, results written to
/// the sink, alerts kept in the repository.
pub struct RuleManager {
    repo: Arc<dyn AlertRepository>,
    query: Arc<dyn MetricsQuery>,
    sink: Arc<dyn SeriesSink>,
    groups: RwLock<Arc<Vec<Arc<ManagedGroup>>>>,
    /// Until the first configuration, alerts come from the store.
    configured: AtomicBool,
}

impl RuleManager {
    /// A manager with no groups yet.
    pub fn new(repo: Arc<dyn AlertRepository>, query: Arc<dyn MetricsQuery>, sink: Arc<dyn SeriesSink>) -> Self {
        Self {
            repo,
            query,
            sink,
            groups: RwLock::default(),
            configured: AtomicBool::new(false),
        }
    }

    /// Replaces the groups. Alerts continue where they were: from the
    /// store the first time (a restart), from the groups being replaced
    /// afterwards (a reload), matched by group (`file;name`), rule name and
    /// labels. Alerts of groups no longer configured are forgotten.
    pub fn configure(&self, groups: Vec<RuleGroup>, external: &External, global_interval_ms: i64) -> RepoResult<()> {
        let mut previous: HashMap<String, Vec<(String, Alert)>> = HashMap::new();
        if self.configured.swap(true, Ordering::SeqCst) {
            for old in self.groups.read().iter() {
                let evaluator = old.evaluator.lock();
                old.retired.store(true, Ordering::SeqCst);
                previous.entry(evaluator.key()).or_default().extend(evaluator.alerts());
            }
        } else {
            for stored in self.repo.rule_alerts()? {
                previous
                    .entry(stored.group)
                    .or_default()
                    .push((stored.rule, stored.alert));
            }
        }
        let mut managed = Vec::with_capacity(groups.len());
        for group in groups {
            let mut evaluator = GroupEvaluator::new(group, external.clone());
            let interval_ms = evaluator.interval_ms(global_interval_ms);
            if let Some(alerts) = previous.remove(&evaluator.key()) {
                evaluator.restore(alerts);
            }
            let saved = durable(&evaluator.alerts());
            managed.push(Arc::new(ManagedGroup {
                published: RwLock::new(Arc::new(evaluator.clone())),
                evaluator: Mutex::new(evaluator),
                saved: Mutex::new(saved),
                retired: AtomicBool::new(false),
                interval_ms,
            }));
        }
        let keys: Vec<String> = managed.iter().map(|g| g.evaluator.lock().key()).collect();
        // A reload carries alerts over in memory; the store must hold what
        // the new groups hold before the old ones' rows are dropped.
        for group in &managed {
            let evaluator = group.evaluator.lock();
            self.repo.replace_group_alerts(&evaluator.key(), &evaluator.alerts())?;
        }
        self.repo.retain_groups(&keys)?;
        *self.groups.write() = Arc::new(managed);
        Ok(())
    }

    /// The groups, in configuration order.
    pub fn groups(&self) -> Arc<Vec<Arc<ManagedGroup>>> {
        self.groups.read().clone()
    }

    /// Every group as last evaluated.
    pub fn snapshot(&self) -> Vec<Arc<GroupEvaluator>> {
        self.groups.read().iter().map(|g| g.snapshot()).collect()
    }

    /// Evaluates `group` at `ts` and saves its alerts if their state
    /// changed, before the result is published. `None` when the group was
    /// replaced by a reload meanwhile. A failed save is returned; the
    /// state is kept and saving is tried again next evaluation.
    pub fn evaluate(&self, group: &ManagedGroup, ts: i64) -> Option<RepoResult<Transitions>> {
        let mut evaluator = group.evaluator.lock();
        if group.retired.load(Ordering::SeqCst) {
            return None;
        }
        let transitions = evaluator.evaluate(self.query.as_ref(), self.sink.as_ref(), ts);
        let alerts = evaluator.alerts();
        let now = durable(&alerts);
        let mut saved = group.saved.lock();
        let outcome = if *saved == now {
            Ok(transitions)
        } else {
            self.repo.replace_group_alerts(&evaluator.key(), &alerts).map(|()| {
                *saved = now;
                transitions
            })
        };
        *group.published.write() = Arc::new(evaluator.clone());
        Some(outcome)
    }
}
