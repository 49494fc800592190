//! What the running parts append to the event log: every step of a page
//! (`page.triggered`, `page.notified`, `page.escalated`, `page.exhausted`,
//! `page.acknowledged`, `page.ack_timeout`, `page.resolved`) and every
//! delivery's outcome (`notification.sent`, `notification.failed`).
//! Silences are appended by their API handlers.

use std::sync::Arc;

use nines_learning::events::{EventLog, NewEvent};
use nines_oncall::page::{Page, PageEvent};
use nines_oncall::pager::Observer;
use nines_routing::delivery::{Delivery, DeliveryStatus};
use serde_json::json;

/// The service a page is about: its first alert's `service` label.
fn service(page: &Page) -> Option<String> {
    page.alerts.iter().find_map(|a| a.labels.get("service").cloned())
}

/// Who took a step: the responder for acks and resolutions, else nines.
fn actor(page: &Page, e: &PageEvent) -> String {
    match e.kind.as_str() {
        "acknowledged" => page.acknowledged_by.clone(),
        "resolved" => page.resolved_by.clone(),
        _ => None,
    }
    .unwrap_or_else(|| "nines".into())
}

/// Declares incidents for pages that the `incidents.auto_declare` rules
/// pick; the rules are swapped on reload.
pub struct AutoDeclarer {
    repo: Arc<dyn nines_learning::incident::IncidentRepository>,
    rules: parking_lot::RwLock<Vec<crate::config::incidents::AutoDeclare>>,
}

impl AutoDeclarer {
    /// No rules until [`AutoDeclarer::configure`].
    pub fn new(repo: Arc<dyn nines_learning::incident::IncidentRepository>) -> Self {
        Self {
            repo,
            rules: parking_lot::RwLock::new(Vec::new()),
        }
    }

    /// Takes the config's rules.
    pub fn configure(&self, rules: Vec<crate::config::incidents::AutoDeclare>) {
        *self.rules.write() = rules;
    }

    /// Declares an incident for a page that just opened, if a rule picks it.
    fn on_page(&self, page: &Page, steps: &[PageEvent]) {
        if !steps.iter().any(|e| e.kind == "triggered") {
            return;
        }
        let rules = self.rules.read();
        let Some(rule) = rules.iter().find(|r| {
            page.alerts
                .iter()
                .any(|a| nines_routing::matchers::matches_all(&r.matchers, &a.labels))
        }) else {
            return;
        };
        let mut services: Vec<String> = page
            .alerts
            .iter()
            .filter_map(|a| a.labels.get("service").cloned())
            .collect();
        services.dedup();
        let declaration = nines_learning::incident::Declare {
            title: page.summary.clone(),
            severity: rule.severity.name().into(),
            services,
            pages: vec![page.id],
            ..Default::default()
        };
        let at = steps.first().map_or(page.created_at, |e| e.at);
        if let Err(e) = nines_learning::incident::declare(
            self.repo.as_ref(),
            &declaration,
            nines_learning::incident::Act::by("nines", at),
        ) {
            tracing::error!(page = page.id, "declaring an incident for a page failed: {e}");
        }
    }
}

/// An observer that appends each page step to `log`, and declares the
/// incidents `auto` calls for.
pub fn page_observer(log: Arc<dyn EventLog>, auto: Arc<AutoDeclarer>) -> Observer {
    Box::new(move |page: &Page, steps: &[PageEvent]| {
        auto.on_page(page, steps);
        let events: Vec<NewEvent> = steps
            .iter()
            .map(|e| NewEvent {
                at: e.at,
                kind: format!("page.{}", e.kind),
                service: service(page),
                actor: Some(actor(page, e)),
                payload: json!({
                    "page": page.id,
                    "policy": page.policy,
                    "groupKey": page.group_key,
                    "summary": page.summary,
                    "level": page.level + 1,
                    "detail": e.detail,
                    "recipients": e.recipients,
                }),
            })
            .collect();
        if events.is_empty() {
            return;
        }
        if let Err(e) = log.append(&events) {
            tracing::error!("appending page events to the event log failed: {e}");
        }
    })
}

/// The event a delivery attempt makes: sent, or given up; none while it
/// is still being retried.
pub fn delivery_event(d: &Delivery) -> Option<NewEvent> {
    let kind = match d.status {
        DeliveryStatus::Sent => "notification.sent",
        DeliveryStatus::Failed => "notification.failed",
        DeliveryStatus::Pending => return None,
    };
    Some(NewEvent {
        at: d.updated_at,
        kind: kind.into(),
        service: None,
        actor: Some("nines".into()),
        payload: json!({
            "delivery": d.id,
            "groupKey": d.request.group_key,
            "receiver": d.request.receiver,
            "integration": d.request.integration,
            "target": d.request.target,
            "attempts": d.attempts,
            "lastError": d.last_error,
        }),
    })
}

/// How far back a restart looks for the alerts it already logged.
const ALERT_MEMORY_MS: i64 = 15 * 86_400_000;

/// Appends `alert.firing` and `alert.resolved` as alerts from every
/// source (rules, SLOs, integrations, heartbeats) change state. What it
/// logged last survives a restart: it reads it back from the log.
pub struct AlertStates {
    log: Arc<dyn EventLog>,
    /// Fingerprint → firing, as last logged; `None` until read back.
    seen: parking_lot::Mutex<Option<std::collections::HashMap<String, bool>>>,
}

impl AlertStates {
    /// States to be read back from `log` on first use.
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self {
            log,
            seen: parking_lot::Mutex::new(None),
        }
    }

    fn read_back(&self, now: i64) -> Result<std::collections::HashMap<String, bool>, String> {
        // Fingerprint → (id, firing) of the last appended: events come by
        // the time they describe, which is not the order they were logged.
        let mut last: std::collections::HashMap<String, (i64, bool)> = std::collections::HashMap::new();
        let mut after = None;
        loop {
            let query = nines_learning::events::EventQuery {
                kinds: vec!["alert.".into()],
                from: Some(now - ALERT_MEMORY_MS),
                after,
                limit: nines_learning::events::MAX_LIMIT,
                ..Default::default()
            };
            let page = self
                .log
                .events(&query)
                .map_err(|e| format!("reading alert events: {e}"))?;
            for e in &page {
                if let Some(fp) = e.event.payload["fingerprint"].as_str() {
                    let entry = last.entry(fp.to_string()).or_insert((e.id, false));
                    if e.id >= entry.0 {
                        *entry = (e.id, e.event.kind == "alert.firing");
                    }
                }
            }
            match page.iter().map(|e| e.id).max() {
                Some(max) if page.len() == nines_learning::events::MAX_LIMIT => after = Some(max),
                _ => return Ok(last.into_iter().map(|(fp, (_, firing))| (fp, firing)).collect()),
            }
        }
    }

    /// Appends the changes since the last call.
    pub fn observe(&self, alerts: &[nines_routing::dispatch::RoutableAlert], now: i64) -> Result<(), String> {
        let mut guard = self.seen.lock();
        let seen = match guard.as_mut() {
            Some(s) => s,
            None => guard.insert(self.read_back(now)?),
        };
        let mut events = Vec::new();
        for a in alerts {
            let firing = !a.resolved(now);
            let changed = match seen.get(&a.fingerprint) {
                Some(&was) => was != firing,
                // First seen already resolved: nothing it did is news.
                None => firing,
            };
            seen.insert(a.fingerprint.clone(), firing);
            if !changed {
                continue;
            }
            events.push(NewEvent {
                at: if firing { a.starts_at } else { a.ends_at.unwrap_or(now) },
                kind: if firing { "alert.firing" } else { "alert.resolved" }.into(),
                service: a.labels.get("service").cloned(),
                actor: Some("nines".into()),
                payload: json!({
                    "fingerprint": a.fingerprint,
                    "labels": a.labels,
                    "summary": a.annotations.get("summary"),
                    "source": a.source,
                }),
            });
        }
        let present: std::collections::HashSet<&str> = alerts.iter().map(|a| a.fingerprint.as_str()).collect();
        seen.retain(|fp, _| present.contains(fp.as_str()));
        if events.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.log.append(&events) {
            // Read back again next time: what was not logged is news still.
            *guard = None;
            return Err(format!("appending alert events: {e}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nines_learning::events::{EventQuery, MemEventLog};
    use nines_routing::dispatch::RoutableAlert;

    fn alert(starts_at: i64, ends_at: Option<i64>) -> RoutableAlert {
        let labels: std::collections::BTreeMap<String, String> = [
            ("alertname".to_string(), "Down".to_string()),
            ("service".to_string(), "api".to_string()),
        ]
        .into();
        RoutableAlert {
            fingerprint: nines_alerting::inbound::labels_key(&labels),
            labels,
            annotations: Default::default(),
            starts_at,
            ends_at,
            source: "rule".into(),
            generator_url: String::new(),
        }
    }

    fn kinds(log: &MemEventLog) -> Vec<(String, i64)> {
        log.events(&EventQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap()
        .into_iter()
        .map(|e| (e.event.kind, e.event.at))
        .collect()
    }

    #[test]
    fn alert_changes_are_logged_once_even_across_a_restart() {
        let log = Arc::new(MemEventLog::default());
        let states = AlertStates::new(log.clone());
        states.observe(&[alert(1_000, None)], 2_000).unwrap();
        states.observe(&[alert(1_000, None)], 3_000).unwrap();
        // A restart reads back what was logged: still firing, no news.
        let restarted = AlertStates::new(log.clone());
        restarted.observe(&[alert(1_000, None)], 4_000).unwrap();
        restarted.observe(&[alert(1_000, Some(5_000))], 6_000).unwrap();
        restarted.observe(&[alert(1_000, Some(5_000))], 7_000).unwrap();
        // Gone from the feed, then firing again: news.
        restarted.observe(&[], 8_000).unwrap();
        restarted.observe(&[alert(8_500, None)], 9_000).unwrap();
        assert_eq!(
            kinds(&log),
            [
                ("alert.firing".to_string(), 1_000),
                ("alert.resolved".to_string(), 5_000),
                ("alert.firing".to_string(), 8_500)
            ]
        );
        // Logged late about an earlier time (a resolve reported with its
        // past end), the last appended still counts on read back.
        let late = Arc::new(MemEventLog::default());
        let s = AlertStates::new(late.clone());
        s.observe(&[alert(3_000, None)], 3_500).unwrap();
        s.observe(&[alert(3_000, Some(2_000))], 4_000).unwrap();
        let back = AlertStates::new(late.clone());
        back.observe(&[alert(3_000, Some(2_000))], 5_000).unwrap();
        assert_eq!(kinds(&late).len(), 2);
        // An alert first seen resolved is not news.
        let fresh = AlertStates::new(Arc::new(MemEventLog::default()));
        fresh.observe(&[alert(1_000, Some(5_000))], 6_000).unwrap();
        assert!(fresh.seen.lock().as_ref().is_some_and(|s| s.len() == 1));
    }
}
