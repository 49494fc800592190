//! Running the rule groups of `rule_files`: one task per group, evaluating
//! at multiples of its interval on the clock, results written to the
//! store, alert state saved in the state store by the manager. A reload
//! replaces the groups and their tasks; alerts carry over.

use std::sync::Arc;
use std::time::Duration;

use nines_alerting::alert::External;
use nines_alerting::group::{SeriesLabels, SeriesSink};
use nines_alerting::manager::{ManagedGroup, RuleManager};
use nines_clock::SharedClock;
use nines_tsdb::{Db, SeriesSamples};
use parking_lot::Mutex;
use tokio::task::JoinHandle;

use crate::config::Config;

/// Rule results into the time-series store.
pub struct DbSink(pub Arc<Db>);

impl SeriesSink for DbSink {
    fn append(&self, samples: &[(SeriesLabels, f64)], ts: i64) -> Result<(), String> {
        let labels: Vec<Vec<(&str, &str)>> = samples
            .iter()
            .map(|(l, _)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let values: Vec<[(i64, f64); 1]> = samples.iter().map(|(_, v)| [(ts, *v)]).collect();
        let batch: Vec<SeriesSamples<'_>> = labels
            .iter()
            .zip(&values)
            .map(|(l, s)| SeriesSamples { labels: l, samples: s })
            .collect();
        self.0.append(&batch).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// The manager and the tasks evaluating its groups.
pub struct RulesRunner {
    manager: Arc<RuleManager>,
    clock: SharedClock,
    runtime: tokio::runtime::Handle,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Told when an evaluation changes alert state (the notifier waits on it).
    alerts_changed: std::sync::OnceLock<Arc<tokio::sync::Notify>>,
}

impl RulesRunner {
    /// A runner with no groups; call [`RulesRunner::configure`].
    pub fn new(manager: Arc<RuleManager>, clock: SharedClock, runtime: tokio::runtime::Handle) -> Self {
        Self {
            manager,
            clock,
            runtime,
            tasks: Mutex::new(Vec::new()),
            alerts_changed: std::sync::OnceLock::new(),
        }
    }

    /// Who to tell when alert state changes (set once, before configure).
    pub fn notify_changes_to(&self, changed: Arc<tokio::sync::Notify>) {
        let _ = self.alerts_changed.set(changed);
    }

    /// The manager the API reads.
    pub fn manager(&self) -> Arc<RuleManager> {
        self.manager.clone()
    }

    /// Loads the config's rule groups (blocking: alert state is read and
    /// written) and restarts the evaluation tasks.
    pub fn configure(&self, config: &Config) -> Result<(), String> {
        let external = External {
            labels: config.global.external_labels.clone(),
            url: config.server.external_url(),
        };
        let mut tasks = self.tasks.lock();
        self.manager
            .configure(
                config.rules_loaded.clone(),
                &external,
                config.global.evaluation_interval.0,
            )
            .map_err(|e| format!("loading rule alert state: {e}"))?;
        for task in tasks.drain(..) {
            task.abort();
        }
        for group in self.manager.groups().iter() {
            let task = evaluate_forever(
                self.manager.clone(),
                group.clone(),
                self.clock.clone(),
                self.alerts_changed.get().cloned(),
            );
            tasks.push(self.runtime.spawn(task));
        }
        Ok(())
    }

    /// Stops every evaluation task.
    pub fn stop(&self) {
        for task in self.tasks.lock().drain(..) {
            task.abort();
        }
    }
}

async fn evaluate_forever(
    manager: Arc<RuleManager>,
    group: Arc<ManagedGroup>,
    clock: SharedClock,
    changed: Option<Arc<tokio::sync::Notify>>,
) {
    let interval = group.interval_ms();
    let mut due = group.next_due(clock.now_millis() - 1);
    loop {
        let now = clock.now_millis();
        if due > now {
            tokio::time::sleep(Duration::from_millis(u64::try_from(due - now).unwrap_or(0))).await;
            continue;
        }
        // Evaluations missed (a slow query, a suspended machine) are
        // skipped, not caught up: the latest one due runs.
        let missed = (now - due) / interval;
        if missed > 0 {
            tracing::warn!(missed, "rule group fell behind; skipping evaluations");
            due += missed * interval;
        }
        let ts = due;
        let (m, g) = (manager.clone(), group.clone());
        match tokio::task::spawn_blocking(move || m.evaluate(&g, ts)).await {
            Ok(None) => return,
            Ok(Some(Ok(transitions))) => {
                if let (Some(changed), false) = (&changed, transitions.is_empty()) {
                    changed.notify_one();
                }
                let snapshot = group.snapshot();
                for (rule, t) in transitions {
                    tracing::info!(
                        group = %snapshot.group.name,
                        rule,
                        labels = ?t.labels,
                        from = t.from.map_or("new", |s| s.name()),
                        to = t.to.map_or("forgotten", |s| s.name()),
                        "alert state changed"
                    );
                }
            }
            Ok(Some(Err(e))) => tracing::error!("saving rule alert state failed (kept; retried next time): {e}"),
            Err(_) => tracing::error!("rule group evaluation panicked; retrying at the next interval"),
        }
        due = group.next_due(ts);
    }
}
