//! Alerts that arrive from outside: Alertmanager's webhook (payload
//! version 4), PagerDuty's Events API v2, and nines's generic JSON. Each
//! decoder checks the whole payload and either returns the changes it
//! asks for or says what is wrong and where, so a bad payload changes
//! nothing. Alerts are keyed per source (a fingerprint, a `dedup_key`, or
//! a hash of the labels) so a resend updates instead of duplicating.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::repo::RepoResult;

/// Where an alert came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `POST /api/v1/integrations/alertmanager`.
    Alertmanager,
    /// `POST /api/v1/integrations/pagerduty`.
    Pagerduty,
    /// `POST /api/v1/integrations/generic`.
    Generic,
    /// A heartbeat monitor that missed its interval.
    Heartbeat,
}

impl Source {
    /// As stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            Source::Alertmanager => "alertmanager",
            Source::Pagerduty => "pagerduty",
            Source::Generic => "generic",
            Source::Heartbeat => "heartbeat",
        }
    }

    /// The inverse of [`Source::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            Source::Alertmanager,
            Source::Pagerduty,
            Source::Generic,
            Source::Heartbeat,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// Where an inbound alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InboundStatus {
    /// Firing.
    Firing,
    /// Firing, and someone said they are on it (PagerDuty `acknowledge`).
    Acknowledged,
    /// Over.
    Resolved,
}

impl InboundStatus {
    /// As stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            InboundStatus::Firing => "firing",
            InboundStatus::Acknowledged => "acknowledged",
            InboundStatus::Resolved => "resolved",
        }
    }

    /// The inverse of [`InboundStatus::name`].
    pub fn parse(s: &str) -> Option<Self> {
        [
            InboundStatus::Firing,
            InboundStatus::Acknowledged,
            InboundStatus::Resolved,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// An alert from outside.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InboundAlert {
    /// Its integration.
    pub source: Source,
    /// Its identity within the source.
    pub key: String,
    /// Labels, `alertname` always among them.
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    pub annotations: BTreeMap<String, String>,
    /// Where it is.
    pub status: InboundStatus,
    /// When it started, ms.
    pub starts_at: i64,
    /// When it ended, ms.
    pub ends_at: Option<i64>,
    /// When it was last changed, ms.
    pub updated_at: i64,
}

/// What one request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum InboundChange {
    /// Create or replace the alert with this source and key.
    Upsert(InboundAlert),
    /// Mark an existing alert (PagerDuty has no labels on these).
    SetStatus {
        /// Its integration.
        source: Source,
        /// Its key.
        key: String,
        /// The new status.
        status: InboundStatus,
        /// When, ms.
        at: i64,
    },
}

/// Where inbound alerts are kept.
pub trait InboundRepository: Send + Sync {
    /// Applies changes in one durable step; returns the alerts as they
    /// now are (a `SetStatus` on an unknown key changes and returns
    /// nothing for it).
    fn apply_inbound(&self, changes: &[InboundChange]) -> RepoResult<Vec<InboundAlert>>;
    /// Alerts not resolved, and those resolved since `resolved_since` ms.
    fn inbound_alerts(&self, resolved_since: i64) -> RepoResult<Vec<InboundAlert>>;
}

/// The alert a change leaves, given the stored one with its source and
/// key. A resend of an open alert keeps when it started and an
/// acknowledgement; a status change of an unknown alert leaves nothing.
pub fn merge(existing: Option<&InboundAlert>, change: &InboundChange) -> Option<InboundAlert> {
    match change {
        InboundChange::Upsert(new) => {
            let mut out = new.clone();
            if let Some(old) = existing.filter(|o| o.status != InboundStatus::Resolved) {
                out.starts_at = old.starts_at.min(new.starts_at);
                if old.status == InboundStatus::Acknowledged && new.status == InboundStatus::Firing {
                    out.status = InboundStatus::Acknowledged;
                }
            }
            Some(out)
        }
        InboundChange::SetStatus { status, at, .. } => {
            let mut out = existing?.clone();
            if out.status == InboundStatus::Resolved {
                // Acknowledging or resolving what is over changes nothing.
                return Some(out);
            }
            out.status = *status;
            out.updated_at = *at;
            if *status == InboundStatus::Resolved {
                out.ends_at = Some(*at);
            }
            Some(out)
        }
    }
}

impl InboundChange {
    /// The source and key of the alert it changes.
    pub fn target(&self) -> (Source, &str) {
        match self {
            InboundChange::Upsert(a) => (a.source, &a.key),
            InboundChange::SetStatus { source, key, .. } => (*source, key),
        }
    }
}

/// An [`InboundRepository`] in memory.
#[derive(Debug, Default)]
pub struct MemInboundRepository {
    alerts: parking_lot::Mutex<BTreeMap<(Source, String), InboundAlert>>,
}

impl InboundRepository for MemInboundRepository {
    fn apply_inbound(&self, changes: &[InboundChange]) -> RepoResult<Vec<InboundAlert>> {
        let mut alerts = self.alerts.lock();
        let mut out = Vec::new();
        for c in changes {
            let (source, key) = c.target();
            let id = (source, key.to_string());
            if let Some(a) = merge(alerts.get(&id), c) {
                alerts.insert(id, a.clone());
                out.push(a);
            }
        }
        Ok(out)
    }

    fn inbound_alerts(&self, resolved_since: i64) -> RepoResult<Vec<InboundAlert>> {
        Ok(self
            .alerts
            .lock()
            .values()
            .filter(|a| a.status != InboundStatus::Resolved || a.ends_at.is_some_and(|e| e >= resolved_since))
            .cloned()
            .collect())
    }
}

/// The contract every [`InboundRepository`] keeps.
#[doc(hidden)]
pub mod contract {
    use super::*;

    fn alert(source: Source, key: &str, status: InboundStatus, starts_at: i64) -> InboundAlert {
        InboundAlert {
            source,
            key: key.into(),
            labels: [("alertname".to_string(), format!("A{key}"))].into(),
            annotations: [("summary".to_string(), "s".to_string())].into(),
            status,
            starts_at,
            ends_at: (status == InboundStatus::Resolved).then_some(starts_at + 10),
            updated_at: starts_at,
        }
    }

    /// Resends update in place, keys are per source, status changes stick,
    /// and resolved alerts drop out of the list after the cut-off.
    pub fn run_all(repo: &dyn InboundRepository) {
        let up = |a: InboundAlert| InboundChange::Upsert(a);
        repo.apply_inbound(&[
            up(alert(Source::Alertmanager, "1", InboundStatus::Firing, 100)),
            up(alert(Source::Generic, "1", InboundStatus::Firing, 100)),
        ])
        .expect("apply");
        let resent = repo
            .apply_inbound(&[up(alert(Source::Alertmanager, "1", InboundStatus::Firing, 200))])
            .expect("apply");
        assert_eq!(resent[0].starts_at, 100, "a resend keeps the start");
        assert_eq!(repo.inbound_alerts(0).expect("list").len(), 2);
        let set = |status, at| InboundChange::SetStatus {
            source: Source::Generic,
            key: "1".into(),
            status,
            at,
        };
        assert_eq!(
            repo.apply_inbound(&[set(InboundStatus::Acknowledged, 300)])
                .expect("ack")[0]
                .status,
            InboundStatus::Acknowledged
        );
        let again = repo
            .apply_inbound(&[up(alert(Source::Generic, "1", InboundStatus::Firing, 400))])
            .expect("apply");
        assert_eq!(
            again[0].status,
            InboundStatus::Acknowledged,
            "a resend keeps the acknowledgement"
        );
        let resolved = repo
            .apply_inbound(&[set(InboundStatus::Resolved, 500)])
            .expect("resolve");
        assert_eq!(
            (resolved[0].status, resolved[0].ends_at),
            (InboundStatus::Resolved, Some(500))
        );
        let unknown = InboundChange::SetStatus {
            source: Source::Pagerduty,
            key: "nope".into(),
            status: InboundStatus::Resolved,
            at: 1,
        };
        assert!(repo.apply_inbound(&[unknown]).expect("apply").is_empty());
        let mut listed: Vec<(Source, InboundStatus)> = repo
            .inbound_alerts(400)
            .expect("list")
            .into_iter()
            .map(|a| (a.source, a.status))
            .collect();
        listed.sort_by_key(|(s, _)| *s);
        assert_eq!(
            listed,
            [
                (Source::Alertmanager, InboundStatus::Firing),
                (Source::Generic, InboundStatus::Resolved)
            ]
        );
        let open: Vec<Source> = repo
            .inbound_alerts(600)
            .expect("list")
            .into_iter()
            .map(|a| a.source)
            .collect();
        assert_eq!(open, [Source::Alertmanager]);
        let refired = repo
            .apply_inbound(&[up(alert(Source::Generic, "1", InboundStatus::Firing, 700))])
            .expect("apply");
        assert_eq!(
            (refired[0].status, refired[0].starts_at, refired[0].ends_at),
            (InboundStatus::Firing, 700, None)
        );
    }
}

/// A payload nines cannot take, with what and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct DecodeError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, DecodeError> {
    Err(DecodeError(msg.into()))
}

/// Most alerts one request may carry.
pub const MAX_ALERTS_PER_REQUEST: usize = 10_000;

/// A stable key from labels (FNV-1a, 64 bits, over sorted pairs).
pub fn labels_key(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in labels {
        for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xfe]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn check_labels(labels: &BTreeMap<String, String>, at: &str) -> Result<(), DecodeError> {
    for name in labels.keys() {
        if !nines_tsdb::is_valid_label_name(name) {
            return err(format!("{at}.labels: {name:?} is not a valid label name"));
        }
    }
    match labels.get("alertname") {
        Some(n) if !n.trim().is_empty() => Ok(()),
        _ => err(format!("{at}.labels: alertname is required")),
    }
}

fn check_count(n: usize) -> Result<(), DecodeError> {
    if n > MAX_ALERTS_PER_REQUEST {
        return err(format!("alerts: more than {MAX_ALERTS_PER_REQUEST} in one request"));
    }
    Ok(())
}

fn firing_or_resolved(text: &str, at: &str) -> Result<InboundStatus, DecodeError> {
    match text {
        "firing" => Ok(InboundStatus::Firing),
        "resolved" => Ok(InboundStatus::Resolved),
        other => err(format!("{at}.status: {other:?} is not firing or resolved")),
    }
}

/// RFC 3339 to ms; Go's zero time (Alertmanager's "not set") is `None`.
fn timestamp(text: &str, at: &str) -> Result<Option<i64>, DecodeError> {
    if text.is_empty() || text.starts_with("0001-01-01") {
        return Ok(None);
    }
    text.parse::<jiff::Timestamp>()
        .map(|t| Some(t.as_millisecond()))
        .or_else(|e| err(format!("{at}: {text:?} is not an RFC 3339 time: {e}")))
}

fn json<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &str) -> Result<T, DecodeError> {
    serde_json::from_slice(bytes).or_else(|e| err(format!("{what}: {e}")))
}

#[derive(Deserialize)]
struct AmPayload {
    version: String,
    #[serde(default)]
    alerts: Vec<AmAlert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AmAlert {
    status: String,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
    #[serde(default)]
    fingerprint: String,
}

/// Decodes an Alertmanager webhook notification (version 4).
pub fn decode_alertmanager(bytes: &[u8], now: i64) -> Result<Vec<InboundChange>, DecodeError> {
    let payload: AmPayload = json(bytes, "Alertmanager webhook payload")?;
    if payload.version != "4" {
        return err(format!(
            "version: {:?} is not a payload version nines reads (4)",
            payload.version
        ));
    }
    check_count(payload.alerts.len())?;
    let mut out = Vec::with_capacity(payload.alerts.len());
    for (i, a) in payload.alerts.into_iter().enumerate() {
        let at = format!("alerts[{i}]");
        check_labels(&a.labels, &at)?;
        let status = firing_or_resolved(&a.status, &at)?;
        let starts_at = timestamp(&a.starts_at, &format!("{at}.startsAt"))?.unwrap_or(now);
        let ends_at = timestamp(&a.ends_at, &format!("{at}.endsAt"))?;
        let mut annotations = a.annotations;
        if !a.generator_url.is_empty() {
            annotations.entry("generator_url".into()).or_insert(a.generator_url);
        }
        let key = if a.fingerprint.is_empty() {
            labels_key(&a.labels)
        } else {
            a.fingerprint
        };
        out.push(InboundChange::Upsert(InboundAlert {
            source: Source::Alertmanager,
            key,
            labels: a.labels,
            annotations,
            status,
            starts_at,
            ends_at: if status == InboundStatus::Resolved {
                Some(ends_at.unwrap_or(now))
            } else {
                None
            },
            updated_at: now,
        }));
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PdEvent {
    #[serde(default)]
    routing_key: String,
    #[serde(default)]
    event_action: String,
    #[serde(default)]
    dedup_key: Option<String>,
    #[serde(default)]
    payload: Option<PdPayload>,
    #[serde(default)]
    client_url: Option<String>,
    #[serde(default)]
    links: Vec<PdLink>,
}

#[derive(Deserialize)]
struct PdPayload {
    #[serde(default)]
    summary: String,
    #[serde(default)]
    source: String,
    #[serde(default)]
    severity: String,
    #[serde(default)]
    timestamp: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    custom_details: Option<Value>,
}

#[derive(Deserialize)]
struct PdLink {
    #[serde(default)]
    href: String,
    #[serde(default)]
    text: String,
}

/// A decoded PagerDuty event: the change and the `dedup_key` answered.
#[derive(Debug, Clone, PartialEq)]
pub struct PagerdutyEvent {
    /// What it asks for.
    pub change: InboundChange,
    /// The key the sender uses for later `acknowledge`/`resolve`.
    pub dedup_key: String,
}

/// Decodes a PagerDuty Events API v2 event; `service_of` maps its
/// `routing_key` to the service it is for (None: unknown key).
pub fn decode_pagerduty(
    bytes: &[u8],
    now: i64,
    service_of: impl Fn(&str) -> Option<String>,
) -> Result<PagerdutyEvent, DecodeError> {
    let e: PdEvent = json(bytes, "PagerDuty event")?;
    if e.routing_key.is_empty() {
        return err("routing_key: required");
    }
    let Some(service) = service_of(&e.routing_key) else {
        return err("routing_key: not a key configured under integrations.pagerduty.routing_keys");
    };
    let dedup = e.dedup_key.filter(|k| !k.is_empty());
    if dedup.as_ref().is_some_and(|k| k.len() > 255) {
        return err("dedup_key: longer than 255 characters");
    }
    let status = match e.event_action.as_str() {
        "trigger" => None,
        "acknowledge" => Some(InboundStatus::Acknowledged),
        "resolve" => Some(InboundStatus::Resolved),
        other => {
            return err(format!(
                "event_action: {other:?} is not trigger, acknowledge or resolve"
            ))
        }
    };
    if let Some(status) = status {
        let Some(key) = dedup else {
            return err(format!("dedup_key: required to {}", e.event_action));
        };
        return Ok(PagerdutyEvent {
            change: InboundChange::SetStatus {
                source: Source::Pagerduty,
                key: key.clone(),
                status,
                at: now,
            },
            dedup_key: key,
        });
    }
    let Some(p) = e.payload else {
        return err("payload: required to trigger");
    };
    if p.summary.trim().is_empty() || p.summary.len() > 1024 {
        return err("payload.summary: required, at most 1024 characters");
    }
    if p.source.trim().is_empty() {
        return err("payload.source: required");
    }
    if !["critical", "error", "warning", "info"].contains(&p.severity.as_str()) {
        return err(format!(
            "payload.severity: {:?} is not critical, error, warning or info",
            p.severity
        ));
    }
    let starts_at = match &p.timestamp {
        Some(t) => timestamp(t, "payload.timestamp")?.unwrap_or(now),
        None => now,
    };
    let mut labels = BTreeMap::new();
    labels.insert(
        "alertname".to_string(),
        p.class
            .clone()
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "PagerDutyEvent".into()),
    );
    labels.insert("service".into(), service);
    labels.insert("severity".into(), p.severity);
    labels.insert("source".into(), p.source);
    for (name, v) in [("component", p.component), ("group", p.group)] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            labels.insert(name.into(), v);
        }
    }
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".to_string(), p.summary);
    if let Some(d) = p.custom_details {
        annotations.insert("details".into(), d.to_string());
    }
    if let Some(u) = e.client_url.filter(|u| !u.is_empty()) {
        annotations.insert("client_url".into(), u);
    }
    for link in e.links {
        let text = link.text.to_ascii_lowercase();
        if text.contains("runbook") || text.contains("playbook") {
            annotations.entry("runbook_url".into()).or_insert(link.href);
        }
    }
    let key = dedup.unwrap_or_else(|| {
        // PagerDuty makes one up for an event without a key; so does nines,
        // unique per event and returned to the sender.
        format!("{}-{now:x}", labels_key(&labels))
    });
    Ok(PagerdutyEvent {
        change: InboundChange::Upsert(InboundAlert {
            source: Source::Pagerduty,
            key: key.clone(),
            labels,
            annotations,
            status: InboundStatus::Firing,
            starts_at,
            ends_at: None,
            updated_at: now,
        }),
        dedup_key: key,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericPayload {
    alerts: Vec<GenericAlert>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GenericAlert {
    #[serde(default)]
    key: Option<String>,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    starts_at: Option<String>,
}

/// Decodes nines's generic JSON: `{"alerts": [{"labels": {...},
/// "annotations": {...}, "status": "firing"|"resolved", "key": "...",
/// "starts_at": "RFC 3339"}]}`.
pub fn decode_generic(bytes: &[u8], now: i64) -> Result<Vec<InboundChange>, DecodeError> {
    let payload: GenericPayload = json(bytes, "generic alert payload")?;
    check_count(payload.alerts.len())?;
    let mut out = Vec::with_capacity(payload.alerts.len());
    for (i, a) in payload.alerts.into_iter().enumerate() {
        let at = format!("alerts[{i}]");
        check_labels(&a.labels, &at)?;
        let status = firing_or_resolved(a.status.as_deref().unwrap_or("firing"), &at)?;
        let starts_at = match &a.starts_at {
            Some(t) => timestamp(t, &format!("{at}.starts_at"))?.unwrap_or(now),
            None => now,
        };
        let key = match a.key.filter(|k| !k.is_empty()) {
            Some(k) if k.len() > 255 => return err(format!("{at}.key: longer than 255 characters")),
            Some(k) => k,
            None => labels_key(&a.labels),
        };
        out.push(InboundChange::Upsert(InboundAlert {
            source: Source::Generic,
            key,
            labels: a.labels,
            annotations: a.annotations,
            status,
            starts_at,
            ends_at: (status == InboundStatus::Resolved).then_some(now),
            updated_at: now,
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_000_000_000;

    fn upserts(changes: Vec<InboundChange>) -> Vec<InboundAlert> {
        changes
            .into_iter()
            .map(|c| match c {
                InboundChange::Upsert(a) => a,
                other => panic!("not an upsert: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn an_alertmanager_notification_decodes() {
        let body = br#"{"version":"4","groupKey":"{}:{alertname=\"ApiDown\"}","truncatedAlerts":0,
            "status":"firing","receiver":"nines","groupLabels":{"alertname":"ApiDown"},
            "commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
            "alerts":[{"status":"firing","labels":{"alertname":"ApiDown","job":"api"},
              "annotations":{"summary":"down"},"startsAt":"2026-11-24T10:00:00Z",
              "endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prom/graph","fingerprint":"abc123"},
             {"status":"resolved","labels":{"alertname":"Old"},"annotations":{},
              "startsAt":"2026-11-24T09:00:00.5Z","endsAt":"2026-11-24T09:30:00Z"}]}"#;
        let alerts = upserts(decode_alertmanager(body, NOW).unwrap());
        assert_eq!(alerts[0].key, "abc123");
        assert_eq!(alerts[0].status, InboundStatus::Firing);
        assert_eq!(alerts[0].starts_at, 1_795_514_400_000);
        assert_eq!(alerts[0].ends_at, None);
        assert_eq!(alerts[0].annotations["generator_url"], "http://prom/graph");
        assert_eq!(alerts[1].status, InboundStatus::Resolved);
        assert_eq!(alerts[1].ends_at, Some(1_795_512_600_000));
        assert_eq!(alerts[1].key, labels_key(&alerts[1].labels));
    }

    #[test]
    fn bad_alertmanager_payloads_say_what_and_where() {
        for (body, want) in [
            (&br#"{"version":"3","alerts":[]}"#[..], "version: \"3\""),
            (
                br#"{"version":"4","alerts":[{"status":"firing","labels":{"job":"x"}}]}"#,
                "alerts[0].labels: alertname is required",
            ),
            (
                br#"{"version":"4","alerts":[{"status":"on","labels":{"alertname":"x"}}]}"#,
                "alerts[0].status",
            ),
            (
                br#"{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"x","bad-name":"y"}}]}"#,
                "not a valid label name",
            ),
            (
                br#"{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"x"},"startsAt":"yesterday"}]}"#,
                "alerts[0].startsAt",
            ),
            (b"{not json", "Alertmanager webhook payload"),
        ] {
            let e = decode_alertmanager(body, NOW).unwrap_err().0;
            assert!(e.contains(want), "{e}");
        }
    }

    fn services(key: &str) -> Option<String> {
        (key == "k1").then(|| "checkout".to_string())
    }

    #[test]
    fn pagerduty_events_trigger_acknowledge_and_resolve() {
        let trigger = br#"{"routing_key":"k1","event_action":"trigger","dedup_key":"disk-1",
            "payload":{"summary":"Disk full on db-1","source":"db-1","severity":"critical","class":"DiskFull",
            "component":"postgres","custom_details":{"free":"0%"}},
            "links":[{"href":"https://runbooks/disk","text":"Runbook"}]}"#;
        let e = decode_pagerduty(trigger, NOW, services).unwrap();
        assert_eq!(e.dedup_key, "disk-1");
        let InboundChange::Upsert(a) = e.change else { panic!() };
        assert_eq!(a.labels["alertname"], "DiskFull");
        assert_eq!(a.labels["service"], "checkout");
        assert_eq!(a.labels["severity"], "critical");
        assert_eq!(a.labels["component"], "postgres");
        assert_eq!(a.annotations["summary"], "Disk full on db-1");
        assert_eq!(a.annotations["runbook_url"], "https://runbooks/disk");
        assert_eq!(a.annotations["details"], r#"{"free":"0%"}"#);
        let ack = decode_pagerduty(
            br#"{"routing_key":"k1","event_action":"acknowledge","dedup_key":"disk-1"}"#,
            NOW,
            services,
        )
        .unwrap();
        assert_eq!(
            ack.change,
            InboundChange::SetStatus {
                source: Source::Pagerduty,
                key: "disk-1".into(),
                status: InboundStatus::Acknowledged,
                at: NOW
            }
        );
        let keyless = br#"{"routing_key":"k1","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"info"}}"#;
        assert!(!decode_pagerduty(keyless, NOW, services).unwrap().dedup_key.is_empty());
    }

    #[test]
    fn bad_pagerduty_events_say_what_and_where() {
        for (body, want) in [
            (&br#"{"event_action":"trigger"}"#[..], "routing_key: required"),
            (br#"{"routing_key":"nope","event_action":"trigger"}"#, "routing_key: not a key"),
            (br#"{"routing_key":"k1","event_action":"snooze"}"#, "event_action"),
            (br#"{"routing_key":"k1","event_action":"resolve"}"#, "dedup_key: required"),
            (br#"{"routing_key":"k1","event_action":"trigger"}"#, "payload: required"),
            (br#"{"routing_key":"k1","event_action":"trigger","payload":{"summary":"s","source":"x","severity":"high"}}"#, "payload.severity"),
            (br#"{"routing_key":"k1","event_action":"trigger","payload":{"summary":"","source":"x","severity":"info"}}"#, "payload.summary"),
        ] {
            let e = decode_pagerduty(body, NOW, services).unwrap_err().0;
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn generic_alerts_decode_and_refuse_unknown_fields() {
        let body = br#"{"alerts":[{"labels":{"alertname":"QueueStuck","service":"billing"},
            "annotations":{"summary":"jobs wait"}},{"key":"k","labels":{"alertname":"B"},"status":"resolved"}]}"#;
        let alerts = upserts(decode_generic(body, NOW).unwrap());
        assert_eq!(alerts[0].status, InboundStatus::Firing);
        assert_eq!(alerts[0].starts_at, NOW);
        assert_eq!(alerts[1].key, "k");
        assert_eq!(alerts[1].ends_at, Some(NOW));
        let e = decode_generic(br#"{"alerts":[{"labels":{"alertname":"x"},"lables":{}}]}"#, NOW).unwrap_err();
        assert!(e.0.contains("lables"), "{e}");
    }

    #[test]
    fn memory_repository_keeps_the_contract() {
        contract::run_all(&MemInboundRepository::default());
    }

    #[test]
    fn labels_keys_are_stable_and_order_free() {
        let a: BTreeMap<String, String> = [("a".into(), "1".into()), ("b".into(), "2".into())].into();
        let b: BTreeMap<String, String> = [("b".into(), "2".into()), ("a".into(), "1".into())].into();
        assert_eq!(labels_key(&a), labels_key(&b));
        let c: BTreeMap<String, String> = [("a".into(), "12".into())].into();
        let d: BTreeMap<String, String> = [("a1".into(), "2".into())].into();
        assert_ne!(labels_key(&c), labels_key(&d));
    }
}
