//! The SLO evaluation task: once a minute (and at once after a reload)
//! the evaluator rolls every SLO up, the statuses and alerts are
//! published to the API, and the status series are written to the store.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nines_clock::SharedClock;
use nines_server::slo_api::SloBoard;
use nines_server::slo_api::SloControl;
use nines_slo::maintenance::Maintenance;
use nines_slo::repo::StoredWindow;
use nines_slo::status::status_series;
use nines_slo::Evaluator;

use crate::config::Config;
use nines_tsdb::{Db, SeriesSamples};
use parking_lot::Mutex;
use tokio::sync::Notify;

/// Owns the evaluator and feeds its results to the API and the store.
pub struct SloRunner {
    evaluator: Mutex<Evaluator>,
    wake: Notify,
    board: Arc<SloBoard>,
    db: Arc<Db>,
    clock: SharedClock,
    delay_ms: i64,
    written_through: AtomicI64,
}

impl SloRunner {
    /// A runner publishing to `board` and writing series to `db`.
    pub fn new(evaluator: Evaluator, board: Arc<SloBoard>, db: Arc<Db>, clock: SharedClock, delay_ms: i64) -> Self {
        Self {
            evaluator: Mutex::new(evaluator),
            wake: Notify::new(),
            board,
            db,
            clock,
            delay_ms,
            written_through: AtomicI64::new(i64::MIN),
        }
    }

    /// Applies the SLO part of a config (SLOs, maintenance windows, budget
    /// policy) and evaluates without waiting for the next minute.
    pub fn configure(&self, config: &Config) -> Result<(), String> {
        self.board.set_policies(config.policies_loaded.clone());
        let mut evaluator = self.evaluator.lock();
        evaluator.set_slos(config.slos_loaded.clone());
        let synced = evaluator
            .set_config_maintenance(config.maintenance_loaded.clone())
            .map_err(|e| format!("recording the config's maintenance windows: {e}"));
        drop(evaluator);
        self.wake.notify_one();
        synced
    }

    fn cycle(&self) {
        let evaluation = self.evaluator.lock().run();
        if let Some(at) = evaluation.evaluated_at {
            if at > self.written_through.swap(at, Ordering::SeqCst) {
                self.write_series(&evaluation.statuses, at);
            }
        }
        self.board.publish(evaluation);
    }

    fn write_series(&self, statuses: &[nines_slo::SloStatus], at: i64) {
        let series = status_series(statuses);
        let labels: Vec<Vec<(&str, &str)>> = series
            .iter()
            .map(|(l, _)| l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect())
            .collect();
        let samples: Vec<[(i64, f64); 1]> = series.iter().map(|(_, v)| [(at, *v)]).collect();
        let batch: Vec<SeriesSamples<'_>> = labels
            .iter()
            .zip(&samples)
            .map(|(l, s)| SeriesSamples { labels: l, samples: s })
            .collect();
        if let Err(e) = self.db.append(&batch) {
            tracing::error!("writing SLO status series failed: {e}");
        }
    }

    fn changed<T>(&self, result: nines_slo::Result<T>) -> nines_slo::Result<T> {
        if result.is_ok() {
            self.wake.notify_one();
        }
        result
    }

    /// Evaluates now, then at every minute boundary plus the delay, or
    /// when woken by a reload.
    pub async fn run_forever(self: Arc<Self>) {
        loop {
            let me = self.clone();
            if tokio::task::spawn_blocking(move || me.cycle()).await.is_err() {
                tracing::error!("SLO evaluation panicked; retrying at the next minute");
            }
            let now = self.clock.now_millis();
            let next_due = ((now - self.delay_ms).div_euclid(60_000) + 1) * 60_000 + self.delay_ms;
            let wait = Duration::from_millis(u64::try_from(next_due - now).unwrap_or(0).max(1));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.wake.notified() => {}
            }
        }
    }
}

impl SloControl for SloRunner {
    fn add_maintenance(&self, maintenance: Maintenance, by: &str) -> nines_slo::Result<StoredWindow> {
        let result = self.evaluator.lock().add_maintenance(maintenance, by);
        self.changed(result)
    }

    fn end_maintenance(&self, id: i64, by: &str, withdraw: bool) -> nines_slo::Result<StoredWindow> {
        let result = self.evaluator.lock().end_maintenance(id, by, withdraw);
        self.changed(result)
    }
}
