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

/// An observer that appends each page step to `log`.
pub fn page_observer(log: Arc<dyn EventLog>) -> Observer {
    Box::new(move |page: &Page, steps: &[PageEvent]| {
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
