//! Receivers, as Alertmanager's config names them, and what each of their
//! integrations is sent. So far: `webhook_configs`, whose body is
//! Alertmanager's webhook payload (version 4), so anything that reads
//! Alertmanager's webhooks reads nines's.

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
    /// An escalation policy: a firing group opens a page that follows
    /// it (a nines extension to Alertmanager's receivers).
    #[serde(default)]
    pub escalation_policy: Option<String>,
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
        for (i, w) in self.webhook_configs.iter().enumerate() {
            let url_ok = (w.url.starts_with("http://") || w.url.starts_with("https://"))
                && w.url.len() > "https://".len()
                && !w.url.contains(char::is_whitespace);
            if !url_ok {
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

/// The deliveries of a notification: one per integration of the receiver
/// that has something to say.
pub fn deliveries(receiver: &ReceiverSpec, n: &Notification, external_url: &str, now: i64) -> Vec<NewDelivery> {
    receiver
        .webhook_configs
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let payload = webhook_payload(n, &receiver.name, w.send_resolved, w.max_alerts, external_url, now)?;
            Some(NewDelivery {
                group_key: n.group_key.clone(),
                receiver: receiver.name.clone(),
                integration: format!("webhook[{i}]"),
                target: w.url.clone(),
                payload: payload.to_string(),
                created_at: now,
            })
        })
        .collect()
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
}
