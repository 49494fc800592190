//! Deliveries: each notification rendered for each of its receiver's
//! integrations, stored before it is sent and kept as the delivery log.
//! A failed attempt is retried with exponential backoff (1 s, 2 s, 4 s …
//! at most 5 minutes apart) until it succeeds or ten attempts have
//! failed. Stored together with the notification log entry, in one
//! durable step, so a crash between deciding and sending loses nothing.

use serde::Serialize;

use crate::dispatch::LogEntry;
use nines_alerting::repo::RepoResult;

/// Attempts before a delivery is given up.
pub const MAX_ATTEMPTS: u32 = 10;
/// The longest wait between attempts, ms.
pub const MAX_BACKOFF_MS: i64 = 300_000;

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    /// Not sent yet (or to be retried).
    Pending,
    /// The receiver took it.
    Sent,
    /// Given up after [`MAX_ATTEMPTS`].
    Failed,
}

impl DeliveryStatus {
    /// As stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The inverse of [`DeliveryStatus::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [DeliveryStatus::Pending, DeliveryStatus::Sent, DeliveryStatus::Failed]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// A delivery to store.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewDelivery {
    /// The group it is about.
    pub group_key: String,
    /// The receiver.
    pub receiver: String,
    /// Which of its integrations: `webhook[0]`.
    pub integration: String,
    /// Where it goes (a URL).
    pub target: String,
    /// What is sent, as rendered (not listed: it can be large).
    #[serde(skip)]
    pub payload: String,
    /// When it was made, ms.
    pub created_at: i64,
}

/// A stored delivery.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Its id.
    pub id: i64,
    /// What was asked for.
    #[serde(flatten)]
    pub request: NewDelivery,
    /// Where it is.
    pub status: DeliveryStatus,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due, ms (pending only).
    pub next_attempt_at: i64,
    /// What the last failed attempt got.
    pub last_error: Option<String>,
    /// When it last changed, ms.
    pub updated_at: i64,
}

/// How one attempt went.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Taken.
    Sent,
    /// Refused or unreachable: what happened.
    Failed(String),
}

/// The delivery after an attempt at `now` with `outcome`.
pub fn after_attempt(mut d: Delivery, outcome: Outcome, now: i64) -> Delivery {
    d.attempts += 1;
    d.updated_at = now;
    match outcome {
        Outcome::Sent => {
            d.status = DeliveryStatus::Sent;
            d.last_error = None;
        }
        Outcome::Failed(e) => {
            d.last_error = Some(e);
            if d.attempts >= MAX_ATTEMPTS {
                d.status = DeliveryStatus::Failed;
            } else {
                let backoff = (1_000i64 << (d.attempts - 1).min(20)).min(MAX_BACKOFF_MS);
                d.next_attempt_at = now + backoff;
            }
        }
    }
    d
}

/// A notification log entry with the deliveries it decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Queued {
    /// What the receiver will have heard.
    pub log: LogEntry,
    /// What is sent.
    pub deliveries: Vec<NewDelivery>,
}

/// Where the notification log and deliveries are kept.
pub trait DeliveryRepository: Send + Sync {
    /// The notification log.
    fn notify_log(&self) -> RepoResult<Vec<LogEntry>>;
    /// Records log entries and stores their deliveries (pending, due at
    /// their creation), all in one durable step: a flush of many groups
    /// costs one commit.
    fn enqueue(&self, batch: &[Queued]) -> RepoResult<Vec<Delivery>>;
    /// Every pending delivery, oldest first.
    fn pending_deliveries(&self) -> RepoResult<Vec<Delivery>>;
    /// Stores a delivery's state after an attempt.
    fn update_delivery(&self, delivery: &Delivery) -> RepoResult<()>;
    /// The newest deliveries, newest first.
    fn recent_deliveries(&self, limit: usize) -> RepoResult<Vec<Delivery>>;
}

/// A [`DeliveryRepository`] in memory.
#[derive(Debug, Default)]
pub struct MemDeliveryRepository {
    state: parking_lot::Mutex<(Vec<LogEntry>, Vec<Delivery>)>,
}

impl DeliveryRepository for MemDeliveryRepository {
    fn notify_log(&self) -> RepoResult<Vec<LogEntry>> {
        Ok(self.state.lock().0.clone())
    }

    fn enqueue(&self, batch: &[Queued]) -> RepoResult<Vec<Delivery>> {
        let mut state = self.state.lock();
        let mut out = Vec::new();
        for Queued { log, deliveries } in batch {
            state
                .0
                .retain(|e| !(e.group_key == log.group_key && e.receiver == log.receiver));
            state.0.push(log.clone());
            for d in deliveries {
                let stored = Delivery {
                    id: state.1.len() as i64 + 1,
                    request: d.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    next_attempt_at: d.created_at,
                    last_error: None,
                    updated_at: d.created_at,
                };
                state.1.push(stored.clone());
                out.push(stored);
            }
        }
        Ok(out)
    }

    fn pending_deliveries(&self) -> RepoResult<Vec<Delivery>> {
        Ok(self
            .state
            .lock()
            .1
            .iter()
            .filter(|d| d.status == DeliveryStatus::Pending)
            .cloned()
            .collect())
    }

    fn update_delivery(&self, delivery: &Delivery) -> RepoResult<()> {
        if let Some(d) = self.state.lock().1.iter_mut().find(|d| d.id == delivery.id) {
            *d = delivery.clone();
        }
        Ok(())
    }

    fn recent_deliveries(&self, limit: usize) -> RepoResult<Vec<Delivery>> {
        Ok(self.state.lock().1.iter().rev().take(limit).cloned().collect())
    }
}

/// The contract every [`DeliveryRepository`] keeps.
pub mod contract {
    use std::collections::BTreeSet;

    use super::*;

    fn entry(group: &str, firing: &[&str], at: i64) -> LogEntry {
        LogEntry {
            group_key: group.into(),
            receiver: "ops".into(),
            firing: firing.iter().map(|s| s.to_string()).collect(),
            resolved: BTreeSet::new(),
            sent_at: at,
        }
    }

    fn delivery(group: &str, at: i64) -> NewDelivery {
        NewDelivery {
            group_key: group.into(),
            receiver: "ops".into(),
            integration: "webhook[0]".into(),
            target: "http://127.0.0.1:1/hook".into(),
            payload: r#"{"alerts":[]}"#.into(),
            created_at: at,
        }
    }

    /// Runs every check against a fresh repository.
    pub fn run_all(repo: &dyn DeliveryRepository) {
        let queued = |log: LogEntry, deliveries: Vec<NewDelivery>| Queued { log, deliveries };
        let first = repo
            .enqueue(&[queued(
                entry("g1", &["a"], 1_000),
                vec![delivery("g1", 1_000), delivery("g1", 1_000)],
            )])
            .expect("enqueue");
        assert_eq!(first.len(), 2);
        assert_ne!(first[0].id, first[1].id);
        assert_eq!(first[0].status, DeliveryStatus::Pending);
        assert_eq!(first[0].next_attempt_at, 1_000);
        assert_eq!(first[0].request, delivery("g1", 1_000));
        // A later entry for the same group and receiver replaces it.
        let both = repo
            .enqueue(&[
                queued(entry("g1", &["a", "b"], 2_000), vec![]),
                queued(entry("g2", &["c"], 3_000), vec![delivery("g2", 3_000)]),
            ])
            .expect("enqueue");
        assert_eq!(both.len(), 1);
        let mut log = repo.notify_log().expect("log");
        log.sort_by(|a, b| a.group_key.cmp(&b.group_key));
        assert_eq!(log, vec![entry("g1", &["a", "b"], 2_000), entry("g2", &["c"], 3_000)]);

        let retried = after_attempt(first[0].clone(), Outcome::Failed("HTTP 500".into()), 1_500);
        assert_eq!(retried.next_attempt_at, 2_500);
        repo.update_delivery(&retried).expect("update");
        let sent = after_attempt(first[1].clone(), Outcome::Sent, 1_200);
        repo.update_delivery(&sent).expect("update");
        let pending = repo.pending_deliveries().expect("pending");
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0], retried);
        let recent = repo.recent_deliveries(2).expect("recent");
        assert_eq!(recent.len(), 2);
        assert_eq!(recent[1], sent);
        assert_eq!(recent[0].request.group_key, "g2");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_keeps_the_contract() {
        contract::run_all(&MemDeliveryRepository::default());
    }

    #[test]
    fn backoff_doubles_to_a_cap_then_gives_up() {
        let mut d = Delivery {
            id: 1,
            request: NewDelivery {
                group_key: "g".into(),
                receiver: "r".into(),
                integration: "webhook[0]".into(),
                target: "t".into(),
                payload: "{}".into(),
                created_at: 0,
            },
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: 0,
            last_error: None,
            updated_at: 0,
        };
        let mut waits = Vec::new();
        let mut now = 0;
        while d.status == DeliveryStatus::Pending {
            d = after_attempt(d, Outcome::Failed("HTTP 500".into()), now);
            if d.status == DeliveryStatus::Pending {
                waits.push(d.next_attempt_at - now);
                now = d.next_attempt_at;
            }
        }
        assert_eq!(
            waits,
            [1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 64_000, 128_000, 256_000]
        );
        assert_eq!(d.status, DeliveryStatus::Failed);
        assert_eq!(d.attempts, MAX_ATTEMPTS);
        assert_eq!(d.last_error.as_deref(), Some("HTTP 500"));
    }
}
