//! The pager: opens a page when a routed alert group reaches a receiver
//! that names an escalation policy, notifies each level's people in turn
//! until someone acknowledges, re-triggers after an ack timeout, and
//! closes the page when the group resolves or someone resolves it.
//!
//! Every step is stored (page, timeline event, deliveries) before it
//! counts, and the next step's time is part of the page, so escalation
//! picks up where it was after a restart.

use std::collections::BTreeMap;
use std::sync::Arc;

use nines_alerting::repo::RepoError;
use nines_routing::delivery::NewDelivery;
use parking_lot::Mutex;

use crate::directory::User;
use crate::escalation::Target;
use crate::link::LinkSigner;
use crate::message::Message;
use crate::page::{nothing, Page, PageAlert, PageEvent, PageRepository, PageStatus, Recipient, Render};
use crate::Directory;
use nines_routing::template::Templates;

/// Why a page operation failed.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// No page has that id.
    #[error("no page has id {0}")]
    NotFound(i64),
    /// The page is over.
    #[error("page {0} is already resolved")]
    Resolved(i64),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] RepoError),
}

/// An alert group as the dispatcher hands it over.
pub struct GroupNotice<'a> {
    /// The receiver that names the policy.
    pub receiver: &'a str,
    /// The policy.
    pub policy: &'a str,
    /// The group.
    pub group_key: &'a str,
    /// Its firing alerts (empty when it resolved).
    pub firing: Vec<PageAlert>,
}

struct State {
    dir: Arc<Directory>,
    external_url: String,
    templates: Arc<Templates>,
    open: BTreeMap<i64, Page>,
}

/// What rendering a message needs, taken from the state so the state
/// can be borrowed mutably while saving.
struct Rendering {
    external_url: String,
    templates: Arc<Templates>,
}

impl Rendering {
    fn of(st: &State) -> Self {
        Self {
            external_url: st.external_url.clone(),
            templates: st.templates.clone(),
        }
    }
}

/// Pages and their escalation.
pub struct Pager {
    repo: Arc<dyn PageRepository>,
    signer: LinkSigner,
    state: Mutex<State>,
    queued: Box<dyn Fn() + Send + Sync>,
    observer: Mutex<Option<Observer>>,
}

/// Told every step once it is stored: the page and its new events.
pub type Observer = Box<dyn Fn(&Page, &[PageEvent]) + Send + Sync>;

fn event(page_id: i64, at: i64, kind: &str, detail: String) -> PageEvent {
    PageEvent {
        page_id,
        at,
        kind: kind.into(),
        detail,
        recipients: Vec::new(),
    }
}

/// The line a page is known by: the first alert's `summary`, else its
/// name and labels.
fn summary(alerts: &[PageAlert]) -> String {
    let Some(first) = alerts.first() else {
        return "alerts resolved".into();
    };
    if let Some(s) = first.annotations.get("summary") {
        return s.clone();
    }
    let name = first.labels.get("alertname").cloned().unwrap_or_else(|| "alert".into());
    let rest: Vec<String> = first
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if rest.is_empty() {
        name
    } else {
        format!("{name} ({})", rest.join(", "))
    }
}

impl Pager {
    /// A pager over `repo`'s open pages; `queued` is called after
    /// deliveries are stored, to wake the sender.
    pub fn load(repo: Arc<dyn PageRepository>, queued: Box<dyn Fn() + Send + Sync>) -> Result<Self, PageError> {
        let signer = LinkSigner::new(repo.link_key()?);
        let open = repo.open_pages()?.into_iter().map(|p| (p.id, p)).collect();
        Ok(Self {
            repo,
            signer,
            state: Mutex::new(State {
                dir: Arc::default(),
                external_url: String::new(),
                templates: Arc::default(),
                open,
            }),
            queued,
            observer: Mutex::new(None),
        })
    }

    /// Tells `observer` about every step from now on (the event log).
    pub fn observe(&self, observer: Observer) {
        *self.observer.lock() = Some(observer);
    }

    /// Takes the users, schedules and policies in force, the URL links
    /// start with, and the message templates.
    pub fn configure(&self, dir: Arc<Directory>, external_url: String, templates: Arc<Templates>) {
        let mut st = self.state.lock();
        st.dir = dir;
        st.external_url = external_url.trim_end_matches('/').to_string();
        st.templates = templates;
    }

    /// The query string of the link that acknowledges page `id` on
    /// behalf of `user` (a user name: URL-safe by validation).
    pub fn ack_query(&self, id: i64, user: &str, now: i64) -> String {
        format!("user={user}&{}", self.signer.sign(&format!("ack:{user}"), id, now))
    }

    /// The URL of schedule `name`'s calendar feed that needs no token,
    /// made at `now`; it works for [`crate::link::CALENDAR_LINK_TTL_MS`].
    pub fn calendar_url(&self, name: &str, now: i64) -> String {
        let base = self.state.lock().external_url.clone();
        let query = self
            .signer
            .sign_for(&format!("calendar:{name}"), 0, now, crate::link::CALENDAR_LINK_TTL_MS);
        format!("{base}/p/schedules/{name}/calendar.ics?{query}")
    }

    /// Whether `expires` and `sig` open schedule `name`'s calendar feed at
    /// `now`.
    pub fn verify_calendar(&self, name: &str, expires: &str, sig: &str, now: i64) -> bool {
        self.signer.verify(&format!("calendar:{name}"), 0, expires, sig, now)
    }

    /// Whether an ack link's `user`, `expires` and `sig` are genuine for
    /// page `id` and not past.
    pub fn verify_ack_link(&self, id: i64, user: &str, expires: &str, sig: &str, now: i64) -> bool {
        self.signer.verify(&format!("ack:{user}"), id, expires, sig, now)
    }

    fn save(&self, st: &mut State, page: &Page, events: &[PageEvent], render: &Render<'_>) -> Result<Page, PageError> {
        let (saved, stored) = self.repo.save_page(page, events, render)?;
        if saved.status == PageStatus::Resolved {
            st.open.remove(&saved.id);
        } else {
            st.open.insert(saved.id, saved.clone());
        }
        if !stored.is_empty() {
            (self.queued)();
        }
        if let Some(observe) = self.observer.lock().as_ref() {
            let events: Vec<PageEvent> = events
                .iter()
                .map(|e| PageEvent {
                    page_id: saved.id,
                    ..e.clone()
                })
                .collect();
            observe(&saved, &events);
        }
        Ok(saved)
    }

    /// The people of the page's current level (each with the schedule
    /// that put them there, if one did), and the timeline event that
    /// says who they are.
    fn recipients(st: &State, page: &Page, now: i64) -> (Vec<(User, Option<String>)>, PageEvent) {
        let Some(level) = st.dir.policies.get(&page.policy).and_then(|p| p.levels.get(page.level)) else {
            let detail = format!(
                "policy {:?} has no level {}: nobody notified",
                page.policy,
                page.level + 1
            );
            return (Vec::new(), event(page.id, now, "notified", detail));
        };
        let mut names: Vec<(String, Option<String>)> = Vec::new();
        let mut notes = Vec::new();
        for t in &level.targets {
            match t {
                Target::User(u) => names.push((u.clone(), None)),
                Target::Schedule(s) => match st.dir.schedules.get(s).map(|x| x.at(now, &[])) {
                    Some(Ok(Some(shift))) => names.push((shift.user, Some(s.clone()))),
                    _ => notes.push(format!("nobody is on call for {s}")),
                },
            }
        }
        let mut seen = std::collections::HashSet::new();
        names.retain(|(u, _)| seen.insert(u.clone()));
        let mut people = Vec::new();
        for (name, on_call_for) in names {
            let Some(user) = st.dir.users.get(&name) else {
                notes.push(format!("{name} is no longer a user"));
                continue;
            };
            notes.push(match &on_call_for {
                Some(s) => format!("{name} (on call for {s})"),
                None => name.clone(),
            });
            if user.contact_methods.is_empty() {
                notes.push(format!("{name} has no contact methods"));
            }
            people.push((user.clone(), on_call_for));
        }
        let detail = format!("level {}: {}", page.level + 1, notes.join(", "));
        let mut notified = event(page.id, now, "notified", detail);
        notified.recipients = people
            .iter()
            .map(|(u, on_call_for)| Recipient {
                user: u.name.clone(),
                on_call_for: on_call_for.clone(),
            })
            .collect();
        (people, notified)
    }

    /// What reaches `people` about `page`.
    fn render(
        &self,
        st: &Rendering,
        page: &Page,
        kind: &str,
        people: &[(User, Option<String>)],
        now: i64,
    ) -> Vec<NewDelivery> {
        let external_url = &st.external_url;
        let mut out = Vec::new();
        for (user, on_call_for) in people {
            let message = Message {
                page,
                event: kind,
                user,
                on_call_for: on_call_for.as_deref(),
                ack_url: format!(
                    "{external_url}/p/{}/ack?{}",
                    page.id,
                    self.ack_query(page.id, &user.name, now)
                ),
                page_url: format!("{external_url}/api/v1/pages/{}", page.id),
                templates: &st.templates,
            };
            out.extend(message.deliveries(now));
        }
        out
    }

    fn delay(st: &State, page: &Page) -> Option<i64> {
        st.dir
            .policies
            .get(&page.policy)
            .and_then(|p| p.levels.get(page.level))
            .map(|l| l.delay_ms)
    }

    /// Opens, updates or closes the page of an alert group.
    pub fn on_group(&self, notice: GroupNotice<'_>, now: i64) -> Result<Option<Page>, PageError> {
        let mut st = self.state.lock();
        let existing = st
            .open
            .values()
            .find(|p| p.group_key == notice.group_key && p.receiver == notice.receiver)
            .cloned();
        match (existing, notice.firing.is_empty()) {
            (None, true) => Ok(None),
            (Some(mut page), true) => {
                page.status = PageStatus::Resolved;
                page.resolved_at = Some(now);
                page.resolved_by = Some("alert resolved".into());
                page.next_at = None;
                page.updated_at = now;
                let ev = event(page.id, now, "resolved", "every alert of the group resolved".into());
                self.save(&mut st, &page, &[ev], &nothing).map(Some)
            }
            (Some(mut page), false) => {
                if page.alerts != notice.firing {
                    page.alerts = notice.firing;
                    page.summary = summary(&page.alerts);
                    page.updated_at = now;
                    return self.save(&mut st, &page, &[], &nothing).map(Some);
                }
                Ok(Some(page))
            }
            (None, false) => {
                let mut page = Page {
                    id: 0,
                    policy: notice.policy.to_string(),
                    receiver: notice.receiver.to_string(),
                    group_key: notice.group_key.to_string(),
                    summary: summary(&notice.firing),
                    alerts: notice.firing,
                    status: PageStatus::Triggered,
                    level: 0,
                    round: 0,
                    next_at: None,
                    created_at: now,
                    acknowledged_at: None,
                    acknowledged_by: None,
                    resolved_at: None,
                    resolved_by: None,
                    updated_at: now,
                };
                page.next_at = Self::delay(&st, &page).map(|d| now + d);
                let opened = event(
                    0,
                    now,
                    "triggered",
                    format!("opened by {} for {}", page.receiver, page.group_key),
                );
                let (people, notified) = Self::recipients(&st, &page, now);
                let rendering = Rendering::of(&st);
                let render = |p: &Page| self.render(&rendering, p, "triggered", &people, now);
                self.save(&mut st, &page, &[opened, notified], &render).map(Some)
            }
        }
    }

    /// Takes every step that is due: the next level of triggered pages,
    /// and the ack timeout of acknowledged ones. Returns when the next
    /// step is due.
    pub fn tick(&self, now: i64) -> Result<Option<i64>, PageError> {
        let mut st = self.state.lock();
        let due: Vec<Page> = st
            .open
            .values()
            .filter(|p| p.next_at.is_some_and(|t| t <= now))
            .cloned()
            .collect();
        for mut page in due {
            let mut events = Vec::new();
            let kind = if page.status == PageStatus::Acknowledged {
                page.status = PageStatus::Triggered;
                page.level = 0;
                page.round = 0;
                events.push(event(
                    page.id,
                    now,
                    "ack_timeout",
                    "not resolved in time: escalating again".into(),
                ));
                "retriggered"
            } else {
                let levels = st.dir.policies.get(&page.policy).map_or(0, |p| p.levels.len());
                let repeat = st.dir.policies.get(&page.policy).map_or(0, |p| p.repeat);
                if page.level + 1 < levels {
                    page.level += 1;
                } else if page.round < repeat {
                    page.level = 0;
                    page.round += 1;
                } else {
                    page.next_at = None;
                    page.updated_at = now;
                    let ev = event(
                        page.id,
                        now,
                        "exhausted",
                        "every level was notified; nobody acknowledged".into(),
                    );
                    self.save(&mut st, &page, &[ev], &nothing)?;
                    continue;
                }
                events.push(event(
                    page.id,
                    now,
                    "escalated",
                    format!("to level {} (round {})", page.level + 1, page.round + 1),
                ));
                "escalated"
            };
            page.next_at = Self::delay(&st, &page).map(|d| now + d);
            page.updated_at = now;
            let (people, notified) = Self::recipients(&st, &page, now);
            events.push(notified);
            let rendering = Rendering::of(&st);
            let render = |p: &Page| self.render(&rendering, p, kind, &people, now);
            self.save(&mut st, &page, &events, &render)?;
        }
        Ok(st.open.values().filter_map(|p| p.next_at).min())
    }

    fn open_page(&self, st: &State, id: i64) -> Result<Page, PageError> {
        if let Some(p) = st.open.get(&id) {
            return Ok(p.clone());
        }
        match self.repo.page(id)? {
            Some(_) => Err(PageError::Resolved(id)),
            None => Err(PageError::NotFound(id)),
        }
    }

    /// Stops escalation: someone is on it. Acknowledging again restarts
    /// the ack timeout.
    pub fn acknowledge(&self, id: i64, by: &str, now: i64) -> Result<Page, PageError> {
        let mut st = self.state.lock();
        let mut page = self.open_page(&st, id)?;
        page.status = PageStatus::Acknowledged;
        page.acknowledged_at = Some(now);
        page.acknowledged_by = Some(by.to_string());
        let timeout = st.dir.policies.get(&page.policy).and_then(|p| p.ack_timeout_ms);
        page.next_at = timeout.map(|t| now + t);
        page.updated_at = now;
        let ev = event(id, now, "acknowledged", format!("by {by}"));
        self.save(&mut st, &page, &[ev], &nothing)
    }

    /// Closes the page by hand.
    pub fn resolve(&self, id: i64, by: &str, now: i64) -> Result<Page, PageError> {
        let mut st = self.state.lock();
        let mut page = self.open_page(&st, id)?;
        page.status = PageStatus::Resolved;
        page.resolved_at = Some(now);
        page.resolved_by = Some(by.to_string());
        page.next_at = None;
        page.updated_at = now;
        let ev = event(id, now, "resolved", format!("by {by}"));
        self.save(&mut st, &page, &[ev], &nothing)
    }

    /// The newest pages.
    pub fn recent(&self, limit: usize) -> Result<Vec<Page>, PageError> {
        Ok(self.repo.recent_pages(limit)?)
    }

    /// One page and its timeline.
    pub fn get(&self, id: i64) -> Result<(Page, Vec<PageEvent>), PageError> {
        let page = self.repo.page(id)?.ok_or(PageError::NotFound(id))?;
        Ok((page, self.repo.page_events(id)?))
    }

    /// Pages opened in `[from, to)` with their timelines.
    pub fn history(&self, from: i64, to: i64) -> Result<Vec<(Page, Vec<PageEvent>)>, PageError> {
        Ok(self.repo.page_history(from, to)?)
    }

    /// When the next step is due.
    pub fn next_due(&self) -> Option<i64> {
        self.state.lock().open.values().filter_map(|p| p.next_at).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::page::MemPageRepository;
    use std::sync::atomic::{AtomicUsize, Ordering};

    const T0: i64 = 1_795_514_400_000; // 2026-11-24T10:00:00Z
    const MIN: i64 = 60_000;

    fn directory() -> Arc<Directory> {
        crate::fixtures::directory(
            "users:\n- {name: alice, contact_methods: [{type: webhook, url: 'http://127.0.0.1:9/alice'}, {type: slack, url: 'http://127.0.0.1:9/slack'}]}\n- {name: bob, contact_methods: [{type: webhook, url: 'http://127.0.0.1:9/bob'}]}\n- {name: lead, contact_methods: [{type: webhook, url: 'http://127.0.0.1:9/lead'}]}\nschedules:\n- name: primary\n  layers:\n  - {participants: [bob, alice], shift_length: 1d, start: '2026-11-23T00:00'}\nescalation_policies:\n- name: pay\n  ack_timeout: 30m\n  levels:\n  - {targets: [{schedule: primary}], delay: 10m}\n  - {targets: [{user: lead}, {schedule: primary}]}\n",
        )
    }

    fn alert() -> PageAlert {
        PageAlert {
            labels: [("alertname".to_string(), "CheckoutErrors".to_string())].into(),
            annotations: [
                ("summary".to_string(), "checkout fails 5% of requests".to_string()),
                ("impact".to_string(), "customers cannot pay".to_string()),
                ("playbook".to_string(), "1. roll back <the> deploy".to_string()),
            ]
            .into(),
            starts_at: T0 - MIN,
            source: "rule".into(),
        }
    }

    fn notice(firing: Vec<PageAlert>) -> GroupNotice<'static> {
        GroupNotice {
            receiver: "pager",
            policy: "pay",
            group_key: "0:{}",
            firing,
        }
    }

    fn new_pager(repo: Arc<MemPageRepository>, woken: Arc<AtomicUsize>) -> Pager {
        let p = Pager::load(
            repo,
            Box::new(move || {
                woken.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
        p.configure(directory(), "http://nines.example/".into(), Arc::default());
        p
    }

    fn targets(repo: &MemPageRepository) -> Vec<String> {
        repo.deliveries()
            .iter()
            .map(|d| d.request.target.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_page_escalates_until_acknowledged_and_closes_when_its_alerts_resolve() {
        let repo = Arc::new(MemPageRepository::default());
        let woken = Arc::new(AtomicUsize::new(0));
        let pager = new_pager(repo.clone(), woken.clone());

        let page = pager.on_group(notice(vec![alert()]), T0).unwrap().unwrap();
        assert_eq!((page.id, page.status, page.level), (1, PageStatus::Triggered, 0));
        assert_eq!(page.next_at, Some(T0 + 10 * MIN));
        // 2026-11-24 is the second day of the rotation: alice.
        assert_eq!(targets(&repo), vec!["alice", "slack"]);
        assert_eq!(woken.load(Ordering::SeqCst), 1);
        let body: serde_json::Value = serde_json::from_str(&repo.deliveries()[0].request.payload).unwrap();
        assert_eq!(body["page"]["summary"], "checkout fails 5% of requests");
        assert_eq!(body["page"]["impact"], "customers cannot pay");
        assert_eq!(body["page"]["playbook"], "1. roll back <the> deploy");
        assert_eq!(body["recipient"]["onCallFor"], "primary");
        let ack = body["ackUrl"].as_str().unwrap();
        assert!(
            ack.starts_with("http://nines.example/p/1/ack?user=alice&expires="),
            "{ack}"
        );
        let query = ack.split_once("&expires=").unwrap().1;
        let (expires, sig) = query.split_once("&sig=").unwrap();
        assert!(pager.verify_ack_link(1, "alice", expires, sig, T0 + MIN));
        assert!(!pager.verify_ack_link(1, "bob", expires, sig, T0 + MIN));
        let slack: serde_json::Value = serde_json::from_str(&repo.deliveries()[1].request.payload).unwrap();
        assert!(
            slack["text"]
                .as_str()
                .unwrap()
                .contains("Playbook:\n1. roll back <the> deploy"),
            "{slack}"
        );

        // The same group firing again changes nothing.
        pager.on_group(notice(vec![alert()]), T0 + MIN).unwrap();
        assert_eq!(pager.tick(T0 + 9 * MIN).unwrap(), Some(T0 + 10 * MIN));
        assert_eq!(repo.deliveries().len(), 2);

        // Nobody acks: level 2 (the lead, and alice once only).
        pager.tick(T0 + 10 * MIN).unwrap();
        assert_eq!(targets(&repo)[2..], ["lead", "alice", "slack"]);
        // After the last level's delay, nothing more is sent.
        assert_eq!(pager.tick(T0 + 20 * MIN).unwrap(), None);
        assert_eq!(repo.deliveries().len(), 5);

        // An ack stops it; the ack timeout starts it again from level 1.
        let acked = pager.acknowledge(1, "alice", T0 + 21 * MIN).unwrap();
        assert_eq!(
            (acked.status, acked.next_at),
            (PageStatus::Acknowledged, Some(T0 + 51 * MIN))
        );
        pager.tick(T0 + 51 * MIN).unwrap();
        assert_eq!(targets(&repo)[5..], ["alice", "slack"]);
        let again: serde_json::Value = serde_json::from_str(&repo.deliveries()[5].request.payload).unwrap();
        assert_eq!(again["event"], "retriggered");

        // A restart picks up the open page and its timer.
        let restarted = new_pager(repo.clone(), Arc::new(AtomicUsize::new(0)));
        assert_eq!(restarted.next_due(), Some(T0 + 61 * MIN));
        restarted.tick(T0 + 61 * MIN).unwrap();
        assert_eq!(targets(&repo)[7..], ["lead", "alice", "slack"]);

        let closed = restarted.on_group(notice(vec![]), T0 + 70 * MIN).unwrap().unwrap();
        assert_eq!(closed.status, PageStatus::Resolved);
        assert_eq!(closed.resolved_by.as_deref(), Some("alert resolved"));
        assert!(matches!(
            restarted.acknowledge(1, "bob", T0 + 71 * MIN),
            Err(PageError::Resolved(1))
        ));
        assert!(matches!(restarted.resolve(9, "bob", T0), Err(PageError::NotFound(9))));
        let (_, events) = restarted.get(1).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "triggered",
                "notified",
                "escalated",
                "notified",
                "exhausted",
                "acknowledged",
                "ack_timeout",
                "notified",
                "escalated",
                "notified",
                "resolved"
            ]
        );
        assert_eq!(events[1].detail, "level 1: alice (on call for primary)");
    }

    #[test]
    fn a_resolved_group_without_a_page_opens_none_and_a_manual_resolve_closes() {
        let repo = Arc::new(MemPageRepository::default());
        let pager = new_pager(repo.clone(), Arc::new(AtomicUsize::new(0)));
        assert_eq!(pager.on_group(notice(vec![]), T0).unwrap(), None);
        pager.on_group(notice(vec![alert()]), T0).unwrap();
        let page = pager.resolve(1, "bob", T0 + MIN).unwrap();
        assert_eq!(page.resolved_by.as_deref(), Some("bob"));
        assert_eq!(pager.next_due(), None);
        // The group firing on opens a new page.
        assert_eq!(
            pager.on_group(notice(vec![alert()]), T0 + 2 * MIN).unwrap().unwrap().id,
            2
        );
    }
}
