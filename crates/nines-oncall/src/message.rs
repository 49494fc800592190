//! What a page sends to a person: one delivery per contact method. The
//! generic webhook gets a documented JSON object (page, recipient, ack
//! link, alerts); a Slack-style incoming webhook gets `text` in Slack's
//! markup. Both carry the summary, the business impact and the playbook.

use serde_json::{json, Value};

use crate::directory::{ContactMethod, User};
use crate::page::Page;
use nines_routing::delivery::NewDelivery;

/// The version of the webhook body; bumped when a field changes meaning.
pub const PAGE_WEBHOOK_VERSION: &str = "1";

/// A page's notification, for one person.
pub struct Message<'a> {
    /// The page.
    pub page: &'a Page,
    /// `triggered`, `escalated` or `retriggered`.
    pub event: &'a str,
    /// Who it is for.
    pub user: &'a User,
    /// The schedule that put them there, if one did.
    pub on_call_for: Option<&'a str>,
    /// A link that acknowledges the page.
    pub ack_url: String,
    /// The page in the API.
    pub page_url: String,
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl Message<'_> {
    /// The first firing alert's annotation `name`.
    fn annotation(&self, name: &str) -> Option<&str> {
        self.page
            .alerts
            .iter()
            .find_map(|a| a.annotations.get(name).map(String::as_str))
    }

    /// The generic webhook body.
    pub fn webhook_body(&self) -> Value {
        let p = self.page;
        json!({
            "version": PAGE_WEBHOOK_VERSION,
            "kind": "page",
            "event": self.event,
            "page": {
                "id": p.id,
                "status": p.status.name(),
                "policy": p.policy,
                "receiver": p.receiver,
                "level": p.level + 1,
                "round": p.round + 1,
                "groupKey": p.group_key,
                "summary": p.summary,
                "impact": self.annotation("impact"),
                "playbook": self.annotation("playbook"),
                "runbookUrl": self.annotation("runbook_url"),
                "createdAt": rfc3339(p.created_at),
                "url": self.page_url,
            },
            "recipient": {
                "name": self.user.name,
                "fullName": self.user.full_name,
                "email": self.user.email,
                "timeZone": self.user.time_zone,
                "onCallFor": self.on_call_for,
            },
            "ackUrl": self.ack_url,
            "alerts": p.alerts.iter().map(|a| json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "source": a.source,
            })).collect::<Vec<_>>(),
        })
    }

    /// The Slack incoming-webhook body.
    pub fn slack_body(&self) -> Value {
        let p = self.page;
        let mut text = format!(
            "*[{}] Page #{}: {}*\nFor {}{} (level {} of policy {})",
            self.event.to_uppercase(),
            p.id,
            slack_escape(&p.summary),
            slack_escape(self.user.display_name()),
            self.on_call_for
                .map(|s| format!(", on call for {}", slack_escape(s)))
                .unwrap_or_default(),
            p.level + 1,
            slack_escape(&p.policy),
        );
        if let Some(impact) = self.annotation("impact") {
            text.push_str(&format!("\n*Impact:* {}", slack_escape(impact)));
        }
        if let Some(url) = self.annotation("runbook_url") {
            text.push_str(&format!("\n*Runbook:* <{url}>"));
        }
        if let Some(playbook) = self.annotation("playbook") {
            text.push_str(&format!("\n*Playbook:*\n{}", slack_escape(playbook)));
        }
        text.push_str(&format!("\n<{}|Acknowledge>", self.ack_url));
        json!({"text": text})
    }

    /// One delivery per contact method of the recipient.
    pub fn deliveries(&self, now: i64) -> Vec<NewDelivery> {
        let mut out = Vec::new();
        for (i, method) in self.user.contact_methods.iter().enumerate() {
            let (kind, target, body) = match method {
                ContactMethod::Webhook { url } => ("webhook", url, self.webhook_body()),
                ContactMethod::Slack { url } => ("slack", url, self.slack_body()),
            };
            out.push(NewDelivery {
                group_key: format!("page:{}", self.page.id),
                receiver: self.page.receiver.clone(),
                integration: format!("{kind}[{i}] to {}", self.user.name),
                target: target.clone(),
                payload: body.to_string(),
                created_at: now,
            });
        }
        out
    }
}

/// Slack's markup gives `&`, `<` and `>` meaning.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}
