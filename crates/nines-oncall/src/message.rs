//! What a page sends to a person: one delivery per contact method. The
//! generic webhook gets a documented JSON object (page, recipient, ack
//! link, alerts); a Slack-style incoming webhook gets the `page_title` and
//! `page_text` templates as `text`; email gets them as subject and body.
//! The templates see the webhook's JSON, so every channel can carry the
//! summary, the business impact and the playbook (the defaults do).

use serde_json::{json, Value};

use crate::directory::{ContactMethod, User};
use crate::page::Page;
use nines_routing::delivery::NewDelivery;
use nines_routing::receiver::{mailto, EmailMessage};
use nines_routing::template::{Kind, Templates};

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
    /// The templates in force.
    pub templates: &'a Templates,
}

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

impl Message<'_> {
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
                "impact": p.annotation("impact"),
                "playbook": p.annotation("playbook"),
                "runbookUrl": p.annotation("runbook_url"),
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

    /// The title and text from the templates.
    fn title_and_text(&self) -> (String, String) {
        let data = self.webhook_body();
        let title = self.templates.render(Kind::PageTitle, &data);
        (
            title.trim().replace(['\r', '\n'], " "),
            self.templates.render(Kind::PageText, &data),
        )
    }

    /// The Slack incoming-webhook body.
    pub fn slack_body(&self) -> Value {
        let (title, text) = self.title_and_text();
        json!({"text": format!("*{title}*\n{}", text.trim_end())})
    }

    /// The email.
    pub fn email(&self, address: &str) -> EmailMessage {
        let (subject, text) = self.title_and_text();
        EmailMessage {
            to: vec![address.to_string()],
            subject,
            text,
        }
    }

    /// One delivery per contact method of the recipient.
    pub fn deliveries(&self, now: i64) -> Vec<NewDelivery> {
        let mut out = Vec::new();
        for (i, method) in self.user.contact_methods.iter().enumerate() {
            let (kind, target, body) = match method {
                ContactMethod::Webhook { url } => ("webhook", url.clone(), self.webhook_body().to_string()),
                ContactMethod::Slack { url } => ("slack", url.clone(), self.slack_body().to_string()),
                ContactMethod::Email { address } => {
                    let message = self.email(address);
                    (
                        "email",
                        mailto(&message.to),
                        serde_json::to_string(&message).unwrap_or_default(),
                    )
                }
            };
            out.push(NewDelivery {
                group_key: format!("page:{}", self.page.id),
                receiver: self.page.receiver.clone(),
                integration: format!("{kind}[{i}] to {}", self.user.name),
                target,
                payload: body,
                created_at: now,
            });
        }
        out
    }
}
