//! Watching heartbeats: one task that wakes at the next deadline (or when
//! the heartbeats are reconfigured) and raises or resolves their alerts.

use std::sync::Arc;
use std::time::Duration;

use nines_alerting::heartbeat::HeartbeatMonitor;
use nines_clock::SharedClock;
use tokio::sync::Notify;

use crate::config::Config;

/// Longest the watcher sleeps without looking, so a clock that jumps (a
/// suspended machine) is noticed.
const MAX_NAP_MS: i64 = 60_000;

/// The monitor and what wakes its watcher.
pub struct HeartbeatRunner {
    monitor: Arc<HeartbeatMonitor>,
    clock: SharedClock,
    changed: Notify,
}

impl HeartbeatRunner {
    /// A runner over `monitor`; call [`HeartbeatRunner::configure`] and
    /// spawn [`HeartbeatRunner::watch_forever`].
    pub fn new(monitor: Arc<HeartbeatMonitor>, clock: SharedClock) -> Self {
        Self {
            monitor,
            clock,
            changed: Notify::new(),
        }
    }

    /// The monitor the API beats.
    pub fn monitor(&self) -> Arc<HeartbeatMonitor> {
        self.monitor.clone()
    }

    /// Takes the config's heartbeats and has the watcher look again.
    pub fn configure(&self, config: &Config) {
        self.monitor
            .configure(config.heartbeats.iter().map(|h| h.spec()).collect());
        self.changed.notify_one();
    }

    /// Reconciles at every deadline until the task is dropped.
    pub async fn watch_forever(self: Arc<Self>) {
        loop {
            let now = self.clock.now_millis();
            let monitor = self.monitor.clone();
            let next = match tokio::task::spawn_blocking(move || monitor.reconcile(now)).await {
                Ok(Ok(next)) => next,
                Ok(Err(e)) => {
                    tracing::error!("heartbeat check failed (retried in a second): {e}");
                    Some(now + 1000)
                }
                Err(_) => Some(now + 1000),
            };
            let nap = next.map_or(MAX_NAP_MS, |n| (n - now).clamp(1, MAX_NAP_MS));
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(nap as u64)) => {}
                _ = self.changed.notified() => {}
            }
        }
    }
}
