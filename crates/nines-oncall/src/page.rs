//! Pages: a routed alert group that follows an escalation policy until
//! someone acknowledges it or it resolves. Stored with its timeline
//! (events) and the deliveries each step makes, in one durable step.

use std::collections::BTreeMap;

use nines_alerting::repo::RepoResult;
use nines_routing::delivery::{Delivery, NewDelivery};
use serde::{Deserialize, Serialize};

/// Where a page is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PageStatus {
    /// Escalating: nobody has acknowledged it.
    Triggered,
    /// Someone is on it; escalation has stopped.
    Acknowledged,
    /// Over.
    Resolved,
}

impl PageStatus {
    /// As stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            PageStatus::Triggered => "triggered",
            PageStatus::Acknowledged => "acknowledged",
            PageStatus::Resolved => "resolved",
        }
    }

    /// The inverse of [`PageStatus::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [PageStatus::Triggered, PageStatus::Acknowledged, PageStatus::Resolved]
            .into_iter()
            .find(|x| x.name() == s)
    }
}

/// One alert of a page's group, as it was when last seen firing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageAlert {
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// Its annotations.
    pub annotations: BTreeMap<String, String>,
    /// When it started firing, ms.
    pub starts_at: i64,
    /// Where it came from (`rule`, `slo`, `alertmanager`…).
    pub source: String,
}

/// A page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Its id (0 before it is first stored).
    pub id: i64,
    /// The escalation policy it follows.
    pub policy: String,
    /// The receiver that named the policy.
    pub receiver: String,
    /// The alert group it is about.
    pub group_key: String,
    /// One line: what is wrong.
    pub summary: String,
    /// The group's firing alerts.
    pub alerts: Vec<PageAlert>,
    /// Where it is.
    pub status: PageStatus,
    /// The level last notified, from 0.
    pub level: usize,
    /// Which run through the levels, from 0.
    pub round: u32,
    /// When the next step is due: the next level while triggered, the
    /// ack timeout while acknowledged; none when nothing more will happen.
    pub next_at: Option<i64>,
    /// ms.
    pub created_at: i64,
    /// ms.
    pub acknowledged_at: Option<i64>,
    /// Who.
    pub acknowledged_by: Option<String>,
    /// ms.
    pub resolved_at: Option<i64>,
    /// Who, or `alert resolved`.
    pub resolved_by: Option<String>,
    /// ms.
    pub updated_at: i64,
}

impl Page {
    /// The first alert's annotation `name` (`impact`, `playbook`,
    /// `runbook_url`…).
    pub fn annotation(&self, name: &str) -> Option<String> {
        self.alerts.iter().find_map(|a| a.annotations.get(name).cloned())
    }
}

/// A step in a page's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PageEvent {
    /// The page (0 while the page is new; the id it gets is used).
    pub page_id: i64,
    /// ms.
    pub at: i64,
    /// `triggered`, `notified`, `escalated`, `exhausted`, `acknowledged`,
    /// `ack_timeout`, `resolved`.
    pub kind: String,
    /// What happened, for people.
    pub detail: String,
    /// Who a `notified` event reached (empty for other kinds).
    pub recipients: Vec<Recipient>,
}

/// One person a page notified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    /// The user's name.
    pub user: String,
    /// The schedule that put them there, if one did.
    pub on_call_for: Option<String>,
}

/// Makes a step's deliveries for a page that has its id.
pub type Render<'a> = dyn Fn(&Page) -> Vec<NewDelivery> + 'a;

/// No deliveries.
pub fn nothing(_: &Page) -> Vec<NewDelivery> {
    Vec::new()
}

/// Where pages are kept.
pub trait PageRepository: Send + Sync {
    /// Stores a page (a new one when its id is 0), its new events and the
    /// deliveries the step makes, in one durable step. `render` makes the
    /// deliveries from the page once it has its id (links name it).
    /// Returns the page with its id, and the deliveries as stored.
    fn save_page(&self, page: &Page, events: &[PageEvent], render: &Render<'_>) -> RepoResult<(Page, Vec<Delivery>)>;
    /// Pages not resolved.
    fn open_pages(&self) -> RepoResult<Vec<Page>>;
    /// The newest pages, newest first.
    fn recent_pages(&self, limit: usize) -> RepoResult<Vec<Page>>;
    /// One page.
    fn page(&self, id: i64) -> RepoResult<Option<Page>>;
    /// A page's timeline, oldest first.
    fn page_events(&self, id: i64) -> RepoResult<Vec<PageEvent>>;
    /// Pages opened in `[from, to)` with their timelines, oldest first.
    fn page_history(&self, from: i64, to: i64) -> RepoResult<Vec<(Page, Vec<PageEvent>)>>;
    /// The key that signs ack links: made once, then kept.
    fn link_key(&self) -> RepoResult<[u8; 32]>;
}

/// The contract every [`PageRepository`] keeps.
pub mod contract {
    use super::*;

    fn page(group: &str, at: i64) -> Page {
        Page {
            id: 0,
            policy: "pay".into(),
            receiver: "pager".into(),
            group_key: group.into(),
            summary: "checkout is failing".into(),
            alerts: vec![PageAlert {
                labels: [("alertname".to_string(), "Down".to_string())].into(),
                annotations: [("summary".to_string(), "down".to_string())].into(),
                starts_at: at - 60_000,
                source: "rule".into(),
            }],
            status: PageStatus::Triggered,
            level: 0,
            round: 0,
            next_at: Some(at + 600_000),
            created_at: at,
            acknowledged_at: None,
            acknowledged_by: None,
            resolved_at: None,
            resolved_by: None,
            updated_at: at,
        }
    }

    fn event(kind: &str, at: i64) -> PageEvent {
        PageEvent {
            page_id: 0,
            at,
            kind: kind.into(),
            detail: format!("{kind} at {at}"),
            recipients: if kind == "notified" {
                vec![Recipient {
                    user: "alice".into(),
                    on_call_for: Some("primary".into()),
                }]
            } else {
                Vec::new()
            },
        }
    }

    /// Runs every check against a fresh repository.
    pub fn run_all(repo: &dyn PageRepository) {
        let hook = NewDelivery {
            group_key: "page".into(),
            receiver: "pager".into(),
            integration: "webhook[0] to alice".into(),
            target: "http://127.0.0.1:1/alice".into(),
            payload: "{}".into(),
            created_at: 1_000,
        };
        let (first, ds) = repo
            .save_page(
                &page("g1", 1_000),
                &[event("triggered", 1_000), event("notified", 1_000)],
                &|p: &Page| {
                    vec![NewDelivery {
                        group_key: format!("page:{}", p.id),
                        ..hook.clone()
                    }]
                },
            )
            .expect("save");
        assert!(first.id > 0);
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].request.group_key, format!("page:{}", first.id));
        assert_eq!(ds[0].request.target, hook.target);
        let (second, _) = repo.save_page(&page("g2", 2_000), &[], &nothing).expect("save");
        assert_ne!(first.id, second.id);

        let mut acked = first.clone();
        acked.status = PageStatus::Acknowledged;
        acked.acknowledged_at = Some(3_000);
        acked.acknowledged_by = Some("alice".into());
        acked.next_at = None;
        acked.updated_at = 3_000;
        let (saved, _) = repo
            .save_page(&acked, &[event("acknowledged", 3_000)], &nothing)
            .expect("save");
        assert_eq!(saved, acked);
        assert_eq!(repo.page(first.id).expect("page"), Some(acked.clone()));
        assert_eq!(repo.page(999_999).expect("page"), None);

        let mut resolved = second.clone();
        resolved.status = PageStatus::Resolved;
        resolved.resolved_at = Some(4_000);
        resolved.resolved_by = Some("alert resolved".into());
        repo.save_page(&resolved, &[], &nothing).expect("save");
        assert_eq!(repo.open_pages().expect("open"), vec![acked.clone()]);
        let recent = repo.recent_pages(10).expect("recent");
        assert_eq!(
            recent.iter().map(|p| p.id).collect::<Vec<_>>(),
            vec![second.id, first.id]
        );
        assert_eq!(repo.recent_pages(1).expect("recent").len(), 1);

        let events = repo.page_events(first.id).expect("events");
        let kinds: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, vec!["triggered", "notified", "acknowledged"]);
        assert!(events.iter().all(|e| e.page_id == first.id));
        assert_eq!(events[1].recipients, event("notified", 0).recipients);

        let history = repo.page_history(1_000, 2_000).expect("history");
        assert_eq!(history.len(), 1);
        assert_eq!(history[0].0.id, first.id);
        assert_eq!(history[0].1, events);
        let both = repo.page_history(0, 10_000).expect("history");
        assert_eq!(
            both.iter().map(|(p, _)| p.id).collect::<Vec<_>>(),
            vec![first.id, second.id]
        );

        let key = repo.link_key().expect("key");
        assert_eq!(repo.link_key().expect("key"), key);
        assert_ne!(key, [0u8; 32]);
    }
}

/// A [`PageRepository`] in memory, for tests and simulations.
#[derive(Debug)]
pub struct MemPageRepository {
    state: parking_lot::Mutex<MemState>,
    key: [u8; 32],
}

#[derive(Debug, Default)]
struct MemState {
    pages: BTreeMap<i64, Page>,
    events: Vec<PageEvent>,
    deliveries: Vec<Delivery>,
}

impl Default for MemPageRepository {
    fn default() -> Self {
        let mut key = [0u8; 32];
        // A fixed key would do for tests, but a random one keeps the
        // contract ("made once") honest.
        getrandom::getrandom(&mut key).unwrap_or_else(|_| key[0] = 1);
        Self {
            state: Default::default(),
            key,
        }
    }
}

impl MemPageRepository {
    /// Every delivery saved, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.lock().deliveries.clone()
    }
}

impl PageRepository for MemPageRepository {
    fn save_page(&self, page: &Page, events: &[PageEvent], render: &Render<'_>) -> RepoResult<(Page, Vec<Delivery>)> {
        let mut state = self.state.lock();
        let mut page = page.clone();
        if page.id == 0 {
            page.id = state.pages.keys().next_back().copied().unwrap_or(0) + 1;
        }
        state.pages.insert(page.id, page.clone());
        let id = page.id;
        state.events.extend(events.iter().map(|e| PageEvent {
            page_id: id,
            ..e.clone()
        }));
        let mut out = Vec::new();
        for d in &render(&page) {
            let stored = Delivery {
                id: state.deliveries.len() as i64 + 1,
                request: d.clone(),
                status: nines_routing::delivery::DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: d.created_at,
                last_error: None,
                updated_at: d.created_at,
            };
            state.deliveries.push(stored.clone());
            out.push(stored);
        }
        Ok((page, out))
    }

    fn open_pages(&self) -> RepoResult<Vec<Page>> {
        let state = self.state.lock();
        Ok(state
            .pages
            .values()
            .filter(|p| p.status != PageStatus::Resolved)
            .cloned()
            .collect())
    }

    fn recent_pages(&self, limit: usize) -> RepoResult<Vec<Page>> {
        Ok(self.state.lock().pages.values().rev().take(limit).cloned().collect())
    }

    fn page(&self, id: i64) -> RepoResult<Option<Page>> {
        Ok(self.state.lock().pages.get(&id).cloned())
    }

    fn page_events(&self, id: i64) -> RepoResult<Vec<PageEvent>> {
        Ok(self
            .state
            .lock()
            .events
            .iter()
            .filter(|e| e.page_id == id)
            .cloned()
            .collect())
    }

    fn page_history(&self, from: i64, to: i64) -> RepoResult<Vec<(Page, Vec<PageEvent>)>> {
        let state = self.state.lock();
        Ok(state
            .pages
            .values()
            .filter(|p| from <= p.created_at && p.created_at < to)
            .map(|p| {
                let events = state.events.iter().filter(|e| e.page_id == p.id).cloned().collect();
                (p.clone(), events)
            })
            .collect())
    }

    fn link_key(&self) -> RepoResult<[u8; 32]> {
        Ok(self.key)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn memory_keeps_the_page_contract() {
        super::contract::run_all(&super::MemPageRepository::default());
    }
}
