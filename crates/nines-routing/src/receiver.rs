//! Receivers, as Alertmanager's config names them, and what each of their
//! integrations is sent: `webhook_configs` get Alertmanager's webhook
//! payload (version 4), so anything that reads Alertmanager's webhooks
//! reads nines's; `slack_configs` a Slack incoming-webhook message;
//! `email_configs` an email (sent through the `smtp:` server);
//! `pagerduty_configs` a PagerDuty Events API v2 event. Slack and email
//! text comes from the templates.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{json, Value};

use nines_alerting::rulefile::{PathPart, Problem};

use crate::delivery::NewDelivery;
use crate::dispatch::{Notification, RoutableAlert};

/// `receivers:` entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiverSpec {
    /// How routes name it.
    pub name: String,
    /// Generic webhooks.
    #[serde(default)]
    pub webhook_configs: Vec<WebhookSpec>,
    /// Slack incoming webhooks.
    #[serde(default)]
    pub slack_configs: Vec<SlackSpec>,
    /// Email, through the `smtp:` server.
    #[serde(default)]
    pub email_configs: Vec<EmailSpec>,
    /// PagerDuty Events API v2.
    #[serde(default)]
    pub pagerduty_configs: Vec<PagerdutySpec>,
    /// An escalation policy: a firing group opens a page that follows
    /// it (a nines extension to Alertmanager's receivers).
    #[serde(default)]
    pub escalation_policy: Option<String>,
}

/// `slack_configs:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackSpec {
    /// The incoming webhook URL.
    pub api_url: String,
    /// Overrides the webhook's channel.
    #[serde(default)]
    pub channel: Option<String>,
    /// Overrides the webhook's user name.
    #[serde(default)]
    pub username: Option<String>,
    /// A template for the title (the `notification_title` template when
    /// absent).
    #[serde(default)]
    pub title: Option<String>,
    /// A template for the text (`notification_text` when absent).
    #[serde(default)]
    pub text: Option<String>,
    /// Whether resolved groups are told (Alertmanager's default: no).
    #[serde(default)]
    pub send_resolved: bool,
}

/// `email_configs:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSpec {
    /// Addresses, comma-separated.
    pub to: String,
    /// A template for the subject (`notification_title` when absent).
    #[serde(default)]
    pub subject: Option<String>,
    /// A template for the body (`notification_text` when absent).
    #[serde(default)]
    pub text: Option<String>,
    /// Whether resolved groups are told (Alertmanager's default: no).
    #[serde(default)]
    pub send_resolved: bool,
}

/// `pagerduty_configs:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerdutySpec {
    /// The integration's routing key.
    pub routing_key: String,
    /// The Events API v2 endpoint.
    #[serde(default = "pagerduty_url")]
    pub url: String,
    /// `critical`, `error`, `warning` or `info`.
    #[serde(default = "pagerduty_severity")]
    pub severity: String,
    /// Whether a resolved group resolves the PagerDuty alert.
    #[serde(default = "yes")]
    pub send_resolved: bool,
}

fn pagerduty_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}

fn pagerduty_severity() -> String {
    "error".into()
}

/// A problem at `path` when `source` is a template that does not compile.
fn check_templates(problems: &mut Vec<Problem>, path: Vec<PathPart>, source: &Option<String>) {
    if let Some(Err(e)) = source.as_deref().map(crate::template::check) {
        problems.push((path, e));
    }
}

/// Whether `url` is an absolute http(s) URL.
pub fn is_http_url(url: &str) -> bool {
    (url.starts_with("http://") || url.starts_with("https://"))
        && url.len() > "https://".len()
        && !url.contains(char::is_whitespace)
}

/// Whether `text` is a comma-separated list of plausible addresses.
pub fn is_address_list(text: &str) -> bool {
    let mut any = false;
    for a in text.split(',').map(str::trim) {
        let plausible = a
            .split_once('@')
            .is_some_and(|(user, host)| !user.is_empty() && (host.contains('.') || host == "localhost"));
        if !plausible || a.contains(char::is_whitespace) || a.contains(['<', '>', '\r', '\n']) {
            return false;
        }
        any = true;
    }
    any
}

/// `webhook_configs:` entry.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSpec {
    /// Where to POST.
    pub url: String,
    /// Whether resolved alerts are sent too.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Most alerts in one message (0: all); the rest are counted in
    /// `truncatedAlerts`.
    #[serde(default)]
    pub max_alerts: usize,
}

fn yes() -> bool {
    true
}

impl ReceiverSpec {
    /// Checks its integrations; problems carry their path below it.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push((vec![PathPart::Field("name")], "a receiver needs a name".into()));
        }
        let at = |list: &'static str, i: usize, field: &'static str| {
            vec![PathPart::Field(list), PathPart::Index(i), PathPart::Field(field)]
        };
        for (i, c) in self.slack_configs.iter().enumerate() {
            if !is_http_url(&c.api_url) {
                problems.push((
                    at("slack_configs", i, "api_url"),
                    format!("{:?} is not an http:// or https:// URL", c.api_url),
                ));
            }
            check_templates(&mut problems, at("slack_configs", i, "title"), &c.title);
            check_templates(&mut problems, at("slack_configs", i, "text"), &c.text);
        }
        for (i, c) in self.email_configs.iter().enumerate() {
            if !is_address_list(&c.to) {
                problems.push((
                    at("email_configs", i, "to"),
                    format!("{:?} is not a comma-separated list of addresses", c.to),
                ));
            }
            check_templates(&mut problems, at("email_configs", i, "subject"), &c.subject);
            check_templates(&mut problems, at("email_configs", i, "text"), &c.text);
        }
        for (i, c) in self.pagerduty_configs.iter().enumerate() {
            if c.routing_key.trim().is_empty() || c.routing_key.len() > 255 {
                problems.push((
                    at("pagerduty_configs", i, "routing_key"),
                    "must be 1 to 255 characters".into(),
                ));
            }
            if !is_http_url(&c.url) {
                problems.push((
                    at("pagerduty_configs", i, "url"),
                    format!("{:?} is not an http:// or https:// URL", c.url),
                ));
            }
            if !["critical", "error", "warning", "info"].contains(&c.severity.as_str()) {
                problems.push((
                    at("pagerduty_configs", i, "severity"),
                    format!("{:?} is not critical, error, warning or info", c.severity),
                ));
            }
        }
        for (i, w) in self.webhook_configs.iter().enumerate() {
            if !is_http_url(&w.url) {
                problems.push((
                    vec![
                        PathPart::Field("webhook_configs"),
                        PathPart::Index(i),
                        PathPart::Field("url"),
                    ],
                    format!("{:?} is not an http:// or https:// URL", w.url),
                ));
            }
        }
        problems
    }
}

/// Alertmanager writes the end of a firing alert as Go's zero time.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| GO_ZERO_TIME.to_string(), |t| t.to_string())
}

fn common(
    alerts: &[&RoutableAlert],
    pick: impl Fn(&RoutableAlert) -> &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let Some((first, rest)) = alerts.split_first() else {
        return BTreeMap::new();
    };
    pick(first)
        .iter()
        .filter(|(k, v)| rest.iter().all(|a| pick(a).get(*k) == Some(v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Alertmanager's webhook payload for a notification, with at most
/// `max_alerts` alerts (0: all) and, unless `send_resolved`, only firing
/// ones. `None` when nothing is left to say.
pub fn webhook_payload(
    n: &Notification,
    receiver: &str,
    send_resolved: bool,
    max_alerts: usize,
    external_url: &str,
    now: i64,
) -> Option<Value> {
    let alerts: Vec<&RoutableAlert> = n.alerts.iter().filter(|a| send_resolved || !a.resolved(now)).collect();
    let firing = alerts.iter().any(|a| !a.resolved(now));
    if alerts.is_empty() || (!send_resolved && !firing) {
        return None;
    }
    let shown = if max_alerts == 0 {
        alerts.len()
    } else {
        max_alerts.min(alerts.len())
    };
    let body: Vec<Value> = alerts[..shown]
        .iter()
        .map(|a| {
            json!({
                "status": if a.resolved(now) { "resolved" } else { "firing" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_at),
                "endsAt": a.ends_at.map_or_else(|| GO_ZERO_TIME.to_string(), rfc3339),
                "generatorURL": a.generator_url,
                "fingerprint": a.fingerprint,
                "source": a.source,
            })
        })
        .collect();
    Some(json!({
        "version": "4",
        "groupKey": n.group_key,
        "truncatedAlerts": alerts.len() - shown,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": n.group_labels,
        "commonLabels": common(&alerts, |a| &a.labels),
        "commonAnnotations": common(&alerts, |a| &a.annotations),
        "externalURL": external_url,
        "alerts": body,
    }))
}

/// What a notification's templates see: the webhook payload with every
/// alert, plus `firing` and `resolved`.
fn template_data(n: &Notification, receiver: &str, external_url: &str, now: i64) -> Option<Value> {
    let mut data = webhook_payload(n, receiver, true, 0, external_url, now)?;
    let alerts = data["alerts"].as_array().cloned().unwrap_or_default();
    let (firing, resolved): (Vec<Value>, Vec<Value>) = alerts.into_iter().partition(|a| a["status"] == "firing");
    data["firing"] = Value::Array(firing);
    data["resolved"] = Value::Array(resolved);
    Some(data)
}

/// The email a delivery carries: stored as its payload, read back by the
/// sender.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct EmailMessage {
    /// Recipients.
    pub to: Vec<String>,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub text: String,
}

/// The delivery target of an email: `mailto:` and its recipients.
pub fn mailto(to: &[String]) -> String {
    format!("mailto:{}", to.join(","))
}

/// PagerDuty's `dedup_key` for a group: stable across notifications.
fn dedup_key(receiver: &str, group_key: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{receiver}\u{0}{group_key}").as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The deliveries of a notification: one per integration of the receiver
/// that has something to say.
pub fn deliveries(
    receiver: &ReceiverSpec,
    n: &Notification,
    external_url: &str,
    templates: &crate::template::Templates,
    now: i64,
) -> Vec<NewDelivery> {
    use crate::template::Kind;
    let firing = n.alerts.iter().any(|a| !a.resolved(now));
    let delivery = |integration: String, target: String, payload: String| NewDelivery {
        group_key: n.group_key.clone(),
        receiver: receiver.name.clone(),
        integration,
        target,
        payload,
        created_at: now,
    };
    let mut out = Vec::new();
    for (i, w) in receiver.webhook_configs.iter().enumerate() {
        if let Some(payload) = webhook_payload(n, &receiver.name, w.send_resolved, w.max_alerts, external_url, now) {
            out.push(delivery(format!("webhook[{i}]"), w.url.clone(), payload.to_string()));
        }
    }
    let Some(data) = template_data(n, &receiver.name, external_url, now) else {
        return out;
    };
    for (i, c) in receiver.slack_configs.iter().enumerate() {
        if !firing && !c.send_resolved {
            continue;
        }
        let title = templates.render_own(c.title.as_deref(), Kind::NotificationTitle, &data);
        let text = templates.render_own(c.text.as_deref(), Kind::NotificationText, &data);
        let mut body = json!({"text": format!("*{}*\n{}", title.trim(), text.trim_end())});
        if let Some(ch) = &c.channel {
            body["channel"] = json!(ch);
        }
        if let Some(u) = &c.username {
            body["username"] = json!(u);
        }
        out.push(delivery(format!("slack[{i}]"), c.api_url.clone(), body.to_string()));
    }
    for (i, c) in receiver.email_configs.iter().enumerate() {
        if !firing && !c.send_resolved {
            continue;
        }
        let to: Vec<String> = c.to.split(',').map(|a| a.trim().to_string()).collect();
        let message = EmailMessage {
            subject: templates
                .render_own(c.subject.as_deref(), Kind::NotificationTitle, &data)
                .trim()
                .replace(['\r', '\n'], " "),
            text: templates.render_own(c.text.as_deref(), Kind::NotificationText, &data),
            to: to.clone(),
        };
        let payload = serde_json::to_string(&message).unwrap_or_default();
        out.push(delivery(format!("email[{i}]"), mailto(&to), payload));
    }
    for (i, c) in receiver.pagerduty_configs.iter().enumerate() {
        if !firing && !c.send_resolved {
            continue;
        }
        let summary: String = templates
            .render(Kind::NotificationTitle, &data)
            .trim()
            .chars()
            .take(1024)
            .collect();
        let runbook = data["alerts"].as_array().and_then(|a| {
            a.iter()
                .find_map(|x| x["annotations"]["runbook_url"].as_str().map(String::from))
        });
        let mut event = json!({
            "routing_key": c.routing_key,
            "event_action": if firing { "trigger" } else { "resolve" },
            "dedup_key": dedup_key(&receiver.name, &n.group_key),
            "client": "nines",
            "client_url": external_url,
        });
        if firing {
            event["payload"] = json!({
                "summary": summary,
                "source": if external_url.is_empty() { "nines" } else { external_url },
                "severity": c.severity,
                "custom_details": {
                    "firing": templates.render(Kind::NotificationText, &data),
                    "num_firing": data["firing"].as_array().map_or(0, Vec::len),
                    "num_resolved": data["resolved"].as_array().map_or(0, Vec::len),
                    "group_labels": n.group_labels,
                },
            });
            if let Some(href) = runbook {
                event["links"] = json!([{"href": href, "text": "Runbook"}]);
            }
        }
        out.push(delivery(format!("pagerduty[{i}]"), c.url.clone(), event.to_string()));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::dispatch::LogEntry;

    fn alert(name: &str, ends: Option<i64>) -> RoutableAlert {
        let labels: BTreeMap<String, String> = [("alertname", name), ("service", "checkout")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RoutableAlert {
            fingerprint: nines_alerting::inbound::labels_key(&labels),
            labels,
            annotations: [("summary".to_string(), format!("{name} happened"))].into(),
            starts_at: 1_795_514_400_000,
            ends_at: ends,
            source: "rule".into(),
            generator_url: "http://nines/graph".into(),
        }
    }

    fn notification(alerts: Vec<RoutableAlert>) -> Notification {
        Notification {
            group_key: "0:{service=\"checkout\"}".into(),
            receiver: "ops".into(),
            group_labels: [("service".to_string(), "checkout".to_string())].into(),
            alerts,
            log: LogEntry {
                group_key: String::new(),
                receiver: String::new(),
                firing: BTreeSet::new(),
                resolved: BTreeSet::new(),
                sent_at: 0,
            },
        }
    }

    #[test]
    fn the_payload_is_alertmanagers_version_4() {
        let n = notification(vec![alert("Down", None), alert("Slow", Some(1_795_514_460_000))]);
        let p = webhook_payload(&n, "ops", true, 0, "http://nines:9999", 1_795_514_470_000).unwrap();
        assert_eq!(p["version"], "4");
        assert_eq!(p["status"], "firing");
        assert_eq!(p["groupLabels"]["service"], "checkout");
        assert_eq!(p["commonLabels"], json!({"service": "checkout"}));
        assert_eq!(p["commonAnnotations"], json!({}));
        assert_eq!(p["alerts"][0]["endsAt"], GO_ZERO_TIME);
        assert_eq!(p["alerts"][0]["startsAt"], "2026-11-24T10:00:00Z");
        assert_eq!(p["alerts"][1]["status"], "resolved");
        assert_eq!(p["alerts"][1]["endsAt"], "2026-11-24T10:01:00Z");
        // The payload nines sends, nines's own Alertmanager receiver reads.
        let back = nines_alerting::inbound::decode_alertmanager(p.to_string().as_bytes(), 0).unwrap();
        assert_eq!(back.len(), 2);

        let truncated = webhook_payload(&n, "ops", true, 1, "", 1_795_514_470_000).unwrap();
        assert_eq!(truncated["truncatedAlerts"], 1);
        assert_eq!(truncated["alerts"].as_array().unwrap().len(), 1);
        let firing_only = webhook_payload(&n, "ops", false, 0, "", 1_795_514_470_000).unwrap();
        assert_eq!(firing_only["alerts"].as_array().unwrap().len(), 1);
        let all_resolved = notification(vec![alert("Slow", Some(1))]);
        assert!(webhook_payload(&all_resolved, "ops", false, 0, "", 2).is_none());
        assert_eq!(
            webhook_payload(&all_resolved, "ops", true, 0, "", 2).unwrap()["status"],
            "resolved"
        );
    }

    #[test]
    fn a_webhook_needs_a_url() {
        let spec: ReceiverSpec =
            serde_norway::from_str("name: ops\nwebhook_configs:\n- url: ftp://x\n- url: http://127.0.0.1:1/hook\n")
                .unwrap();
        let problems = spec.validate();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].1.contains("ftp://x"));
    }

    #[test]
    fn slack_email_and_pagerduty_carry_the_templates_and_pagerduty_reads_back() {
        let spec: ReceiverSpec = serde_norway::from_str(
            "name: ops\nslack_configs:\n- {api_url: 'http://127.0.0.1:1/slack', channel: '#ops'}\nemail_configs:\n- {to: 'a@example.com, b@example.com', subject: '{{ status }}: {{ groupLabels.service }}'}\npagerduty_configs:\n- {routing_key: key-1, url: 'http://127.0.0.1:1/v2/enqueue'}\n",
        )
        .unwrap();
        assert!(spec.validate().is_empty());
        let mut firing = alert("Down", None);
        firing.annotations.insert("impact".into(), "nobody can pay".into());
        firing
            .annotations
            .insert("runbook_url".into(), "https://runbooks.example/down".into());
        let n = notification(vec![firing]);
        let t = crate::template::Templates::default();
        let ds = deliveries(&spec, &n, "http://nines:9999", &t, 1_795_514_470_000);
        let kinds: Vec<&str> = ds.iter().map(|d| d.integration.as_str()).collect();
        assert_eq!(kinds, ["slack[0]", "email[0]", "pagerduty[0]"]);

        let slack: Value = serde_json::from_str(&ds[0].payload).unwrap();
        assert_eq!(slack["channel"], "#ops");
        let text = slack["text"].as_str().unwrap();
        assert!(text.starts_with("*[FIRING:1] checkout*\nFIRING: Down happened\nImpact: nobody can pay\nRunbook: https://runbooks.example/down"), "{text}");

        let email: EmailMessage = serde_json::from_str(&ds[1].payload).unwrap();
        assert_eq!(email.to, ["a@example.com", "b@example.com"]);
        assert_eq!(email.subject, "firing: checkout");
        assert!(email.text.contains("Impact: nobody can pay"));
        assert_eq!(ds[1].target, "mailto:a@example.com,b@example.com");

        let pd = &ds[2];
        let event: Value = serde_json::from_str(&pd.payload).unwrap();
        assert_eq!(event["event_action"], "trigger");
        assert_eq!(event["payload"]["severity"], "error");
        assert_eq!(event["links"][0]["href"], "https://runbooks.example/down");
        // nines's own PagerDuty endpoint takes what nines sends.
        let back = nines_alerting::inbound::decode_pagerduty(pd.payload.as_bytes(), 0, |k| {
            (k == "key-1").then(|| "svc".into())
        });
        assert!(back.is_ok(), "{back:?}");

        // Resolved: PagerDuty hears it (send_resolved by default), Slack
        // and email do not (Alertmanager's defaults).
        let resolved = notification(vec![alert("Down", Some(1_795_514_460_000))]);
        let ds = deliveries(&spec, &resolved, "", &t, 1_795_514_470_000);
        assert_eq!(ds.len(), 1);
        let event: Value = serde_json::from_str(&ds[0].payload).unwrap();
        assert_eq!(event["event_action"], "resolve");
        assert_eq!(
            event["dedup_key"],
            serde_json::from_str::<Value>(&pd.payload).unwrap()["dedup_key"]
        );

        let bad: ReceiverSpec = serde_norway::from_str(
            "name: x\nslack_configs:\n- {api_url: nope, text: '{% if %}'}\nemail_configs:\n- {to: 'not an address'}\npagerduty_configs:\n- {routing_key: '', severity: loud}\n",
        )
        .unwrap();
        assert_eq!(bad.validate().len(), 5, "{:?}", bad.validate());
    }
}
