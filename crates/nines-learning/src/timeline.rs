//! An incident's timeline, assembled from the event log: the alerts and
//! pages of the services it affects, acks, its own state changes, notes
//! and status updates, and the deploys and changes to those services in a
//! look-back window before it started. Those last are the suspects:
//! "look at the most recent change first", so they are listed first,
//! newest first, and flagged where they sit in the timeline.

use std::collections::BTreeMap;

use nines_alerting::repo::RepoResult;
use serde::Serialize;

use crate::events::{Event, EventLog, EventQuery, MAX_LIMIT};
use crate::incident::{Incident, State};

/// How far before an incident's start deploys and changes are suspects
/// when nobody says otherwise.
pub const DEFAULT_LOOKBACK_MS: i64 = 2 * 3_600_000;

/// The longest look-back one may ask for.
pub const MAX_LOOKBACK_MS: i64 = 7 * 86_400_000;

/// The event kinds an incident's timeline shows from its services.
const SERVICE_KINDS: [&str; 5] = ["alert.", "page.", "deploy", "change", "gate."];

/// One line of a timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// The event.
    pub event: Event,
    /// A deploy or change in the look-back window before the start.
    pub suspect: bool,
    /// What happened, in words.
    pub summary: String,
}

/// An incident's timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Timeline {
    /// When the incident started (ms): its `startedAt`, else when it was
    /// declared.
    pub start: i64,
    /// When it ended (its last resolution), or now while it is open.
    pub end: i64,
    /// How far before the start suspects were looked for (ms).
    pub lookback_ms: i64,
    /// Deploys and changes to the affected services in the look-back
    /// window, most recent first.
    pub suspects: Vec<Entry>,
    /// Everything, oldest first (suspects included, flagged).
    pub entries: Vec<Entry>,
}

/// When an incident started: when users were first affected if someone
/// said so, else when it was declared.
pub fn start_of(incident: &Incident) -> i64 {
    incident.started_at.unwrap_or(incident.declared_at)
}

/// When an incident ended: its last resolution while it is resolved or
/// closed; `None` while it is open.
pub fn end_of(incident: &Incident) -> Option<i64> {
    (!incident.is_open()).then(|| {
        incident
            .milestones
            .iter()
            .rev()
            .find(|m| m.state == State::Resolved)
            .map_or(incident.updated_at, |m| m.at)
    })
}

fn is_kind(kind: &str, wanted: &str) -> bool {
    match wanted.strip_suffix('.') {
        Some(prefix) => kind.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('.')),
        None => kind == wanted,
    }
}

fn belongs(e: &Event, incident: &Incident, start: i64) -> bool {
    let kind = e.event.kind.as_str();
    let p = &e.event.payload;
    if is_kind(kind, "incident.") {
        return p["incident"] == incident.id;
    }
    if is_kind(kind, "page.") && p["page"].as_i64().is_some_and(|id| incident.pages.contains(&id)) {
        return true;
    }
    let of_service = e.event.service.as_ref().is_some_and(|s| incident.services.contains(s));
    if !of_service {
        return false;
    }
    if e.event.at < start {
        return kind == "deploy" || kind == "change";
    }
    SERVICE_KINDS.iter().any(|k| is_kind(kind, k))
}

/// Builds an incident's timeline from `log` at `now`.
pub fn timeline(log: &dyn EventLog, incident: &Incident, lookback_ms: i64, now: i64) -> RepoResult<Timeline> {
    let start = start_of(incident);
    let end = end_of(incident).unwrap_or(now).max(start);
    let from = start - lookback_ms;
    let window = |service: Option<String>, kinds: Vec<String>, from: i64| EventQuery {
        service,
        kinds,
        from: Some(from),
        to: Some(end + 1),
        after: None,
        ids: Vec::new(),
        limit: MAX_LIMIT,
    };
    let mut found: BTreeMap<i64, Event> = BTreeMap::new();
    let kinds = |list: &[&str]| list.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    for service in &incident.services {
        for e in log.events(&window(Some(service.clone()), kinds(&["deploy", "change"]), from))? {
            found.insert(e.id, e);
        }
        for e in log.events(&window(Some(service.clone()), kinds(&SERVICE_KINDS), start))? {
            found.insert(e.id, e);
        }
    }
    // The incident's own steps, and the pages linked to it, whatever
    // service they name.
    let own = window(None, kinds(&["incident."]), start.min(incident.declared_at));
    for e in log.events(&own)? {
        found.insert(e.id, e);
    }
    if !incident.pages.is_empty() {
        for e in log.events(&window(None, kinds(&["page."]), from))? {
            found.insert(e.id, e);
        }
    }
    let mut entries: Vec<Entry> = found
        .into_values()
        .filter(|e| belongs(e, incident, start))
        .map(|event| Entry {
            suspect: event.event.at < start && (event.event.kind == "deploy" || event.event.kind == "change"),
            summary: summarize(&event),
            event,
        })
        .collect();
    entries.sort_by_key(|e| (e.event.event.at, e.event.id));
    let mut suspects: Vec<Entry> = entries.iter().filter(|e| e.suspect).cloned().collect();
    suspects.reverse();
    Ok(Timeline {
        start,
        end,
        lookback_ms,
        suspects,
        entries,
    })
}

fn text<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// One event in words, for timelines and postmortems.
pub fn summarize(e: &Event) -> String {
    let p = &e.event.payload;
    let service = e.event.service.as_deref().unwrap_or("");
    let actor = e.event.actor.as_deref().unwrap_or("someone");
    let kind = e.event.kind.as_str();
    match kind {
        "deploy" => {
            let mut s = format!(
                "{service} {} deployed to {} ({})",
                text(p, "version"),
                text(p, "environment"),
                text(p, "status")
            );
            if p["rollback"] == true {
                s.push_str(", a rollback");
            }
            if p["hotfix"] == true {
                s.push_str(", a hotfix");
            }
            s
        }
        "change" => format!("{service} {} change: {}", text(p, "kind"), text(p, "summary")),
        "alert.firing" | "alert.resolved" => {
            let name = p["labels"]["alertname"].as_str().unwrap_or("an alert");
            let verb = if kind == "alert.firing" { "fired" } else { "resolved" };
            match p["summary"].as_str() {
                Some(s) if !s.is_empty() => format!("alert {name} {verb}: {s}"),
                _ => format!("alert {name} {verb}"),
            }
        }
        "incident.declared" => format!("{actor} declared the incident: {}", text(p, "title")),
        "incident.state" => format!("{actor} moved it from {} to {}", text(p, "from"), text(p, "to")),
        "incident.severity" => format!("{actor} changed severity from {} to {}", text(p, "from"), text(p, "to")),
        "incident.role" => format!("{} is {}", text(p, "user"), text(p, "role")),
        "incident.note" => format!("{actor}: {}", text(p, "note")),
        "incident.update" => format!("status update by {actor}: {}", text(p, "message")),
        k if k.starts_with("page.") => {
            let step = &k["page.".len()..];
            let page = p["page"].as_i64().unwrap_or(0);
            let who: Vec<&str> = p["recipients"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            match step {
                "acknowledged" => format!("{actor} acknowledged page {page}"),
                "resolved" => format!("{actor} resolved page {page}"),
                "notified" | "escalated" if !who.is_empty() => {
                    format!("page {page} {step} (level {}): {}", p["level"], who.join(", "))
                }
                _ => format!("page {page} {step}: {}", text(p, "summary")),
            }
        }
        "gate.decision" => format!("release gate: {} for {service}", text(p, "decision")),
        other => format!("{other} by {actor}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NewEvent;
    use crate::incident::{declare, update, Act, Declare, MemIncidents, Update};
    use serde_json::json;

    const MIN: i64 = 60_000;

    fn ev(at: i64, kind: &str, service: &str, payload: serde_json::Value) -> NewEvent {
        NewEvent {
            at,
            kind: kind.into(),
            service: Some(service.into()),
            actor: Some("ci".into()),
            payload,
        }
    }

    #[test]
    fn deploys_before_the_start_come_first_and_the_rest_in_order() {
        let m = MemIncidents::default();
        let t0 = 1_000 * MIN;
        m.log
            .append(&[
                ev(
                    t0 - 180 * MIN,
                    "deploy",
                    "checkout",
                    json!({"version": "v1", "environment": "production", "status": "success"}),
                ),
                ev(
                    t0 - 90 * MIN,
                    "deploy",
                    "checkout",
                    json!({"version": "v2", "environment": "production", "status": "success"}),
                ),
                ev(
                    t0 - 20 * MIN,
                    "change",
                    "checkout",
                    json!({"kind": "flag", "summary": "new cart on"}),
                ),
                ev(
                    t0 - 10 * MIN,
                    "deploy",
                    "search",
                    json!({"version": "s9", "environment": "production", "status": "success"}),
                ),
                ev(
                    t0 - 5 * MIN,
                    "alert.firing",
                    "checkout",
                    json!({"labels": {"alertname": "Early"}}),
                ),
                ev(
                    t0 + MIN,
                    "alert.firing",
                    "checkout",
                    json!({"labels": {"alertname": "HighErrors"}, "summary": "5% errors"}),
                ),
                ev(t0 + 3 * MIN, "page.acknowledged", "checkout", json!({"page": 7})),
                ev(
                    t0 + 4 * MIN,
                    "alert.firing",
                    "search",
                    json!({"labels": {"alertname": "Other"}}),
                ),
                ev(
                    t0 + 30 * MIN,
                    "deploy",
                    "checkout",
                    json!({"version": "v1", "environment": "production", "status": "success", "rollback": true}),
                ),
            ])
            .unwrap();
        let i = declare(
            &m,
            &Declare {
                title: "checkout errors".into(),
                severity: "SEV2".into(),
                services: vec!["checkout".into()],
                ..Default::default()
            },
            Act::by("ana", t0 + 2 * MIN),
        )
        .unwrap();
        let i = update(
            &m,
            i.id,
            &Update {
                started_at: Some(jiff::Timestamp::from_millisecond(t0).unwrap().to_string()),
                state: Some("resolved".into()),
                ..Default::default()
            },
            Act::by("ana", t0 + 40 * MIN),
        )
        .unwrap();
        m.log
            .append(&[ev(
                t0 + 50 * MIN,
                "alert.firing",
                "checkout",
                json!({"labels": {"alertname": "After"}}),
            )])
            .unwrap();
        let t = timeline(&m.log, &i, DEFAULT_LOOKBACK_MS, t0 + 60 * MIN).unwrap();
        assert_eq!(t.start, t0);
        assert_eq!(t.end, t0 + 40 * MIN);
        let suspects: Vec<&str> = t.suspects.iter().map(|e| e.summary.as_str()).collect();
        assert_eq!(
            suspects,
            [
                "checkout flag change: new cart on",
                "checkout v2 deployed to production (success)"
            ],
            "newest first; the deploy 3 h before and other services' deploys are not suspects"
        );
        let lines: Vec<(i64, &str, bool)> = t
            .entries
            .iter()
            .map(|e| ((e.event.event.at - t0) / MIN, e.event.event.kind.as_str(), e.suspect))
            .collect();
        assert_eq!(
            lines,
            [
                (-90, "deploy", true),
                (-20, "change", true),
                (1, "alert.firing", false),
                (2, "incident.declared", false),
                (3, "page.acknowledged", false),
                (30, "deploy", false),
                (40, "incident.state", false),
            ]
        );
        assert_eq!(t.entries[2].summary, "alert HighErrors fired: 5% errors");
        assert_eq!(
            t.entries[5].summary,
            "checkout v1 deployed to production (success), a rollback"
        );
    }
}
