//! The append-only event log. Events are never changed or removed; each
//! gets an id in append order, so `after` gives a reader everything new
//! since it last looked.

use nines_alerting::repo::RepoResult;
use serde::Serialize;
use serde_json::Value;

/// Most events one query returns.
pub const MAX_LIMIT: usize = 10_000;

/// An event to append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewEvent {
    /// When it happened, ms.
    pub at: i64,
    /// What happened: `page.triggered`, `page.acknowledged`,
    /// `silence.created`, `alert.firing`…
    pub kind: String,
    /// The service it concerns, when one does.
    pub service: Option<String>,
    /// Who did it: a user, a token's name, or `nines`.
    pub actor: Option<String>,
    /// The details, as JSON.
    pub payload: Value,
}

/// An appended event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Its place in the log, from 1.
    pub id: i64,
    /// What was appended.
    #[serde(flatten)]
    pub event: NewEvent,
}

/// What to read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventQuery {
    /// Only this service's events.
    pub service: Option<String>,
    /// Only these kinds; a kind ending in `.` matches every kind it
    /// starts (`page.` is every page event). Empty: every kind.
    pub kinds: Vec<String>,
    /// From this time, ms (inclusive).
    pub from: Option<i64>,
    /// Until this time, ms (exclusive).
    pub to: Option<i64>,
    /// Only events with a greater id.
    pub after: Option<i64>,
    /// Only these events. Empty: any.
    pub ids: Vec<i64>,
    /// At most this many, oldest first.
    pub limit: usize,
}

impl EventQuery {
    /// Whether `e` is one this query asks for (ignoring the limit).
    pub fn matches(&self, e: &Event) -> bool {
        self.service
            .as_ref()
            .is_none_or(|s| e.event.service.as_ref() == Some(s))
            && (self.kinds.is_empty()
                || self.kinds.iter().any(|k| match k.strip_suffix('.') {
                    Some(prefix) => e.event.kind.starts_with(prefix) && e.event.kind[prefix.len()..].starts_with('.'),
                    None => &e.event.kind == k,
                }))
            && self.from.is_none_or(|f| e.event.at >= f)
            && self.to.is_none_or(|t| e.event.at < t)
            && self.after.is_none_or(|a| e.id > a)
            && (self.ids.is_empty() || self.ids.contains(&e.id))
    }
}

/// Where events are kept.
pub trait EventLog: Send + Sync {
    /// Appends events in order, in one durable step; returns their ids.
    fn append(&self, events: &[NewEvent]) -> RepoResult<Vec<i64>>;
    /// The events a query asks for, by time then id.
    fn events(&self, query: &EventQuery) -> RepoResult<Vec<Event>>;
}

/// An [`EventLog`] in memory.
#[derive(Debug, Default)]
pub struct MemEventLog {
    events: parking_lot::Mutex<Vec<Event>>,
}

impl EventLog for MemEventLog {
    fn append(&self, events: &[NewEvent]) -> RepoResult<Vec<i64>> {
        let mut all = self.events.lock();
        let mut ids = Vec::with_capacity(events.len());
        for e in events {
            let id = all.len() as i64 + 1;
            all.push(Event { id, event: e.clone() });
            ids.push(id);
        }
        Ok(ids)
    }

    fn events(&self, query: &EventQuery) -> RepoResult<Vec<Event>> {
        let mut out: Vec<Event> = self
            .events
            .lock()
            .iter()
            .filter(|e| query.matches(e))
            .cloned()
            .collect();
        out.sort_by_key(|e| (e.event.at, e.id));
        out.truncate(query.limit);
        Ok(out)
    }
}

/// The contract every [`EventLog`] keeps.
pub mod contract {
    use super::*;

    fn event(at: i64, kind: &str, service: Option<&str>) -> NewEvent {
        NewEvent {
            at,
            kind: kind.into(),
            service: service.map(String::from),
            actor: Some("nines".into()),
            payload: serde_json::json!({"n": at}),
        }
    }

    /// Runs every check against a fresh log.
    pub fn run_all(log: &dyn EventLog) {
        let ids = log
            .append(&[
                event(3_000, "page.triggered", Some("checkout")),
                event(1_000, "silence.created", None),
                event(2_000, "page.acknowledged", Some("checkout")),
                event(2_000, "pages.other", Some("search")),
            ])
            .expect("append");
        assert_eq!(ids.len(), 4);
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        let all = |q: EventQuery| log.events(&EventQuery { limit: 100, ..q }).expect("events");
        let every = all(EventQuery::default());
        assert_eq!(
            every.iter().map(|e| e.event.at).collect::<Vec<_>>(),
            [1_000, 2_000, 2_000, 3_000]
        );
        assert_eq!(every[0].event, event(1_000, "silence.created", None));
        let checkout = all(EventQuery {
            service: Some("checkout".into()),
            ..Default::default()
        });
        assert_eq!(checkout.len(), 2);
        let pages = all(EventQuery {
            kinds: vec!["page.".into()],
            ..Default::default()
        });
        assert_eq!(
            pages.iter().map(|e| e.event.kind.as_str()).collect::<Vec<_>>(),
            ["page.acknowledged", "page.triggered"]
        );
        let window = all(EventQuery {
            from: Some(2_000),
            to: Some(3_000),
            ..Default::default()
        });
        assert_eq!(window.len(), 2);
        let newer = all(EventQuery {
            after: Some(ids[1]),
            ..Default::default()
        });
        assert_eq!(newer.len(), 2);
        let picked = all(EventQuery {
            ids: vec![ids[0], ids[3], 999_999],
            ..Default::default()
        });
        assert_eq!(picked.iter().map(|e| e.id).collect::<Vec<_>>(), [ids[3], ids[0]]);
        let one = log
            .events(&EventQuery {
                limit: 1,
                ..Default::default()
            })
            .expect("events");
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].event.at, 1_000);
        // Appending more never changes what was there.
        log.append(&[event(500, "alert.firing", Some("checkout"))])
            .expect("append");
        let again = all(EventQuery::default());
        assert_eq!(again.len(), 5);
        assert_eq!(again[1..], every[..]);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_keeps_the_event_log_contract() {
        super::contract::run_all(&super::MemEventLog::default());
    }
}
