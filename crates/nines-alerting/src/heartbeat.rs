//! Heartbeat monitors: a job that should check in every interval (a
//! backup, a batch import, a cron) posts to `/api/v1/heartbeats/{name}`;
//! when a beat is later than its interval plus grace, an alert with source
//! `heartbeat` is raised, and the next beat resolves it. The clock starts
//! when nines first watches a heartbeat, so one that never beats is missed
//! too.

use std::collections::{BTreeMap, HashMap};

use parking_lot::Mutex;
use serde::Serialize;

use crate::inbound::{InboundAlert, InboundChange, InboundRepository, InboundStatus, Source};
use crate::repo::RepoResult;

/// The `alertname` of a missed heartbeat.
pub const ALERT_NAME: &str = "HeartbeatMissed";

/// One configured heartbeat.
#[derive(Debug, Clone, PartialEq)]
pub struct HeartbeatSpec {
    /// Its name, the last path segment of its URL.
    pub name: String,
    /// How often it should beat, ms.
    pub interval_ms: i64,
    /// How much later than the interval a beat may come, ms.
    pub grace_ms: i64,
    /// Labels of its alert (besides `alertname` and `heartbeat`).
    pub labels: BTreeMap<String, String>,
    /// Annotations of its alert; a `summary` is written when absent.
    pub annotations: BTreeMap<String, String>,
}

/// What is stored about one heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct HeartbeatRecord {
    /// When nines started watching it, ms.
    pub watched_since: i64,
    /// Its last beat, ms.
    pub last_beat: Option<i64>,
}

/// Where heartbeats are kept.
pub trait HeartbeatRepository: Send + Sync {
    /// The records of `names`, starting to watch (at `now`) those not
    /// watched yet.
    fn watch(&self, names: &[String], now: i64) -> RepoResult<HashMap<String, HeartbeatRecord>>;
    /// Records a beat of `name` at `at` (a heartbeat not watched yet is
    /// watched from then).
    fn beat(&self, name: &str, at: i64) -> RepoResult<()>;
}

impl HeartbeatSpec {
    /// When the heartbeat counts as missed, ms.
    pub fn deadline(&self, record: &HeartbeatRecord) -> i64 {
        record
            .last_beat
            .unwrap_or(record.watched_since)
            .saturating_add(self.interval_ms)
            .saturating_add(self.grace_ms)
    }

    /// The alert raised when it is missed, starting at the deadline.
    pub fn alert(&self, record: &HeartbeatRecord, now: i64) -> InboundAlert {
        let mut labels = self.labels.clone();
        labels.insert("alertname".into(), ALERT_NAME.into());
        labels.insert("heartbeat".into(), self.name.clone());
        let mut annotations = self.annotations.clone();
        annotations.entry("summary".into()).or_insert_with(|| {
            format!(
                "heartbeat {} missed: no beat for {}",
                self.name,
                nines_promql::format_duration_ms(self.interval_ms.saturating_add(self.grace_ms))
            )
        });
        InboundAlert {
            source: Source::Heartbeat,
            key: self.name.clone(),
            labels,
            annotations,
            status: InboundStatus::Firing,
            starts_at: self.deadline(record),
            ends_at: None,
            updated_at: now,
        }
    }
}

/// A heartbeat's state as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HeartbeatStatus {
    /// Its name.
    pub name: String,
    /// Its interval, ms.
    pub interval_ms: i64,
    /// Its grace, ms.
    pub grace_ms: i64,
    /// Its stored record.
    #[serde(flatten)]
    pub record: HeartbeatRecord,
    /// When it counts as missed, ms.
    pub deadline: i64,
    /// Whether it is missed now.
    pub missed: bool,
}

/// What a beat of an unconfigured name gets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BeatError {
    /// No heartbeat has that name.
    #[error("no heartbeat named {0:?} is configured")]
    Unknown(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::repo::RepoError),
}

/// The configured heartbeats and the stores their beats and alerts go to.
pub struct HeartbeatMonitor {
    specs: Mutex<Vec<HeartbeatSpec>>,
    beats: std::sync::Arc<dyn HeartbeatRepository>,
    alerts: std::sync::Arc<dyn InboundRepository>,
    /// Serialises reconciliations, so two never raise and resolve the
    /// same alert from different readings.
    reconciling: Mutex<()>,
}

impl HeartbeatMonitor {
    /// A monitor with no heartbeats.
    pub fn new(beats: std::sync::Arc<dyn HeartbeatRepository>, alerts: std::sync::Arc<dyn InboundRepository>) -> Self {
        Self {
            specs: Mutex::new(Vec::new()),
            beats,
            alerts,
            reconciling: Mutex::new(()),
        }
    }

    /// Replaces the heartbeats (at start and reload). The alerts of
    /// heartbeats no longer configured are resolved by the next
    /// [`HeartbeatMonitor::reconcile`].
    pub fn configure(&self, specs: Vec<HeartbeatSpec>) {
        *self.specs.lock() = specs;
    }

    /// Records a beat and resolves the heartbeat's alert if it had one.
    pub fn beat(&self, name: &str, now: i64) -> Result<HeartbeatStatus, BeatError> {
        if !self.specs.lock().iter().any(|s| s.name == name) {
            return Err(BeatError::Unknown(name.to_string()));
        }
        self.beats.beat(name, now)?;
        self.reconcile(now)?;
        self.statuses(now)?
            .into_iter()
            .find(|s| s.name == name)
            .ok_or_else(|| BeatError::Unknown(name.to_string()))
    }

    /// Every configured heartbeat's state at `now`.
    pub fn statuses(&self, now: i64) -> RepoResult<Vec<HeartbeatStatus>> {
        let specs = self.specs.lock().clone();
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let records = self.beats.watch(&names, now)?;
        Ok(specs
            .iter()
            .filter_map(|spec| {
                let record = *records.get(&spec.name)?;
                let deadline = spec.deadline(&record);
                Some(HeartbeatStatus {
                    name: spec.name.clone(),
                    interval_ms: spec.interval_ms,
                    grace_ms: spec.grace_ms,
                    record,
                    deadline,
                    missed: now >= deadline,
                })
            })
            .collect())
    }

    /// Raises the alerts of heartbeats missed at `now` and resolves those
    /// of heartbeats that beat again or are no longer configured, in one
    /// durable step. Returns the next deadline, if any heartbeat is not
    /// missed yet.
    pub fn reconcile(&self, now: i64) -> RepoResult<Option<i64>> {
        let _one_at_a_time = self.reconciling.lock();
        let specs = self.specs.lock().clone();
        let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
        let records = self.beats.watch(&names, now)?;
        let open: HashMap<String, InboundAlert> = self
            .alerts
            .inbound_alerts(i64::MAX)?
            .into_iter()
            .filter(|a| a.source == Source::Heartbeat && a.status != InboundStatus::Resolved)
            .map(|a| (a.key.clone(), a))
            .collect();
        let mut changes = Vec::new();
        let mut next = None::<i64>;
        for spec in &specs {
            let Some(record) = records.get(&spec.name) else {
                continue;
            };
            let deadline = spec.deadline(record);
            let missed = now >= deadline;
            match (missed, open.get(&spec.name)) {
                (true, None) => changes.push(InboundChange::Upsert(spec.alert(record, now))),
                // A beat after the alert started ends it, even if the
                // next interval has run out too: a new alert follows.
                (true, Some(a)) if a.starts_at < deadline => {
                    changes.push(resolve(&spec.name, now));
                    changes.push(InboundChange::Upsert(spec.alert(record, now)));
                }
                (false, Some(_)) => changes.push(resolve(&spec.name, now)),
                _ => {}
            }
            if !missed {
                next = Some(next.map_or(deadline, |n| n.min(deadline)));
            }
        }
        for key in open.keys() {
            if !specs.iter().any(|s| &s.name == key) {
                changes.push(resolve(key, now));
            }
        }
        if !changes.is_empty() {
            self.alerts.apply_inbound(&changes)?;
        }
        Ok(next)
    }
}

fn resolve(name: &str, at: i64) -> InboundChange {
    InboundChange::SetStatus {
        source: Source::Heartbeat,
        key: name.to_string(),
        status: InboundStatus::Resolved,
        at,
    }
}

/// A [`HeartbeatRepository`] in memory.
#[derive(Debug, Default)]
pub struct MemHeartbeatRepository {
    records: Mutex<HashMap<String, HeartbeatRecord>>,
}

impl HeartbeatRepository for MemHeartbeatRepository {
    fn watch(&self, names: &[String], now: i64) -> RepoResult<HashMap<String, HeartbeatRecord>> {
        let mut records = self.records.lock();
        Ok(names
            .iter()
            .map(|n| {
                let r = *records.entry(n.clone()).or_insert(HeartbeatRecord {
                    watched_since: now,
                    last_beat: None,
                });
                (n.clone(), r)
            })
            .collect())
    }

    fn beat(&self, name: &str, at: i64) -> RepoResult<()> {
        let mut records = self.records.lock();
        let r = records.entry(name.to_string()).or_insert(HeartbeatRecord {
            watched_since: at,
            last_beat: None,
        });
        r.last_beat = Some(r.last_beat.map_or(at, |b| b.max(at)));
        Ok(())
    }
}

/// The contract every [`HeartbeatRepository`] keeps.
pub mod contract {
    use super::*;

    /// Runs every check against a fresh repository.
    pub fn run_all(repo: &dyn HeartbeatRepository) {
        let names = vec!["backup".to_string(), "import".to_string()];
        let first = repo.watch(&names, 1_000).expect("watch");
        assert_eq!(first.len(), 2);
        assert_eq!(first["backup"].watched_since, 1_000);
        assert_eq!(first["backup"].last_beat, None);
        // Watching again keeps when watching started.
        let again = repo.watch(&names, 5_000).expect("watch");
        assert_eq!(again["import"].watched_since, 1_000);
        repo.beat("backup", 7_000).expect("beat");
        // A late-arriving older beat never moves the last beat back.
        repo.beat("backup", 6_000).expect("beat");
        let after = repo.watch(&names, 8_000).expect("watch");
        assert_eq!(after["backup"].last_beat, Some(7_000));
        assert_eq!(after["import"].last_beat, None);
        repo.beat("new", 9_000).expect("beat");
        let new = repo.watch(&["new".to_string()], 10_000).expect("watch");
        assert_eq!(
            new["new"],
            HeartbeatRecord {
                watched_since: 9_000,
                last_beat: Some(9_000)
            }
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inbound::MemInboundRepository;

    fn spec(name: &str) -> HeartbeatSpec {
        HeartbeatSpec {
            name: name.into(),
            interval_ms: 60_000,
            grace_ms: 10_000,
            labels: BTreeMap::from([("severity".into(), "page".into())]),
            annotations: BTreeMap::new(),
        }
    }

    fn open(alerts: &MemInboundRepository) -> Vec<InboundAlert> {
        alerts
            .inbound_alerts(i64::MAX)
            .unwrap()
            .into_iter()
            .filter(|a| a.status != InboundStatus::Resolved)
            .collect()
    }

    #[test]
    fn memory_keeps_the_contract() {
        contract::run_all(&MemHeartbeatRepository::default());
    }

    #[test]
    fn a_missed_interval_raises_and_a_beat_resolves() {
        let alerts = Arc::new(MemInboundRepository::default());
        let monitor = HeartbeatMonitor::new(Arc::new(MemHeartbeatRepository::default()), alerts.clone());
        monitor.configure(vec![spec("backup")]);
        assert_eq!(monitor.reconcile(0).unwrap(), Some(70_000));
        assert_eq!(monitor.reconcile(69_999).unwrap(), Some(70_000));
        assert!(open(&alerts).is_empty());
        assert_eq!(monitor.reconcile(70_000).unwrap(), None);
        let raised = open(&alerts);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].starts_at, 70_000);
        assert_eq!(raised[0].labels["alertname"], ALERT_NAME);
        assert_eq!(raised[0].labels["heartbeat"], "backup");
        assert_eq!(raised[0].labels["severity"], "page");
        assert!(
            raised[0].annotations["summary"].contains("1m10s"),
            "{:?}",
            raised[0].annotations
        );
        // Reconciling again changes nothing.
        monitor.reconcile(80_000).unwrap();
        assert_eq!(open(&alerts), raised);

        let status = monitor.beat("backup", 90_000).unwrap();
        assert_eq!(status.deadline, 160_000);
        assert!(!status.missed);
        assert!(open(&alerts).is_empty());
        assert!(matches!(monitor.beat("nope", 1), Err(BeatError::Unknown(_))));
    }

    #[test]
    fn a_beat_after_the_alert_then_another_miss_raises_a_new_alert() {
        let alerts = Arc::new(MemInboundRepository::default());
        let beats = Arc::new(MemHeartbeatRepository::default());
        let monitor = HeartbeatMonitor::new(beats.clone(), alerts.clone());
        monitor.configure(vec![spec("backup")]);
        monitor.reconcile(0).unwrap();
        monitor.reconcile(70_000).unwrap();
        // The beat lands without a reconcile (a crash right after it),
        // and by the next look the following interval is missed too.
        beats.beat("backup", 75_000).unwrap();
        monitor.reconcile(200_000).unwrap();
        let raised = open(&alerts);
        assert_eq!(raised.len(), 1);
        assert_eq!(raised[0].starts_at, 145_000);
    }

    #[test]
    fn an_unconfigured_heartbeat_has_its_alert_resolved() {
        let alerts = Arc::new(MemInboundRepository::default());
        let monitor = HeartbeatMonitor::new(Arc::new(MemHeartbeatRepository::default()), alerts.clone());
        monitor.configure(vec![spec("backup"), spec("import")]);
        monitor.reconcile(0).unwrap();
        monitor.reconcile(100_000).unwrap();
        assert_eq!(open(&alerts).len(), 2);
        monitor.configure(vec![spec("import")]);
        monitor.reconcile(100_001).unwrap();
        let left = open(&alerts);
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].key, "import");
    }
}
