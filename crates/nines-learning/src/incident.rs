//! Incidents: declared by a person (or, later, from a page), with a
//! severity, a state that moves triage → investigating → identified →
//! monitoring → resolved → closed (the time of each step kept as a
//! milestone), roles, the services affected, and linked pages and alerts.
//! The rules of which step may follow which live here; every change is
//! also an event in the log (`incident.*`).

use serde::{Deserialize, Serialize};

/// How bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Severity {
    /// Critical: many users cannot use the product.
    #[serde(rename = "SEV1")]
    Sev1,
    /// Major: a core function is impaired for many.
    #[serde(rename = "SEV2")]
    Sev2,
    /// Minor: some users, or a workaround exists.
    #[serde(rename = "SEV3")]
    Sev3,
    /// Low: cosmetic, or no user impact yet.
    #[serde(rename = "SEV4")]
    Sev4,
}

impl Severity {
    /// `SEV1` … `SEV4`.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Sev1 => "SEV1",
            Severity::Sev2 => "SEV2",
            Severity::Sev3 => "SEV3",
            Severity::Sev4 => "SEV4",
        }
    }

    /// The inverse of [`Severity::name`] (case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        SEVERITIES.into_iter().find(|x| x.name().eq_ignore_ascii_case(s.trim()))
    }

    /// SEV1 and SEV2 need a postmortem and hold releases back.
    pub fn is_major(self) -> bool {
        self <= Severity::Sev2
    }
}

/// What the four severities are called where people read and write them
/// (`incidents.severity_names`): `SEV1` … `SEV4` unless configured. The
/// `SEVn` form is always understood too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityNames([String; 4]);

impl Default for SeverityNames {
    fn default() -> Self {
        Self(SEVERITIES.map(|s| s.name().to_string()))
    }
}

/// Every severity, worst first.
pub const SEVERITIES: [Severity; 4] = [Severity::Sev1, Severity::Sev2, Severity::Sev3, Severity::Sev4];

impl SeverityNames {
    /// Names for SEV1 … SEV4; each non-empty, one line, and unlike the others.
    pub fn new(names: [String; 4]) -> Result<Self, String> {
        for (i, n) in names.iter().enumerate() {
            if n.trim().is_empty() || n.len() > 64 || n.chars().any(char::is_control) {
                return Err(format!("{}: a name of 1 to 64 characters", SEVERITIES[i].name()));
            }
            let clash = names[..i].iter().position(|m| m.eq_ignore_ascii_case(n)).or_else(|| {
                SEVERITIES
                    .iter()
                    .position(|s| s.name().eq_ignore_ascii_case(n) && *s != SEVERITIES[i])
            });
            if let Some(j) = clash {
                return Err(format!(
                    "{}: {n:?} already names {}",
                    SEVERITIES[i].name(),
                    SEVERITIES[j].name()
                ));
            }
        }
        Ok(Self(names))
    }

    /// What `s` is called.
    pub fn label(&self, s: Severity) -> &str {
        &self.0[s as usize]
    }

    /// A severity from its name or its `SEVn` form, any case.
    pub fn parse(&self, s: &str) -> Result<Severity, IncidentError> {
        Severity::parse(s)
            .or_else(|| {
                SEVERITIES
                    .into_iter()
                    .find(|x| self.label(*x).eq_ignore_ascii_case(s.trim()))
            })
            .ok_or_else(|| {
                let known: Vec<String> = SEVERITIES
                    .iter()
                    .map(|x| match self.label(*x) {
                        l if l == x.name() => l.to_string(),
                        l => format!("{} ({l})", x.name()),
                    })
                    .collect();
                IncidentError::Invalid(format!("severity: {s:?} is not one of {}", known.join(", ")))
            })
    }
}

/// Where an incident is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Declared; what it is is not known yet.
    Triage,
    /// People are looking for the cause.
    Investigating,
    /// The cause is known.
    Identified,
    /// A fix is out; watching that it holds (users no longer affected).
    Monitoring,
    /// Over for users.
    Resolved,
    /// Done with, including its follow-up.
    Closed,
}

/// Every state, in order.
pub const STATES: [State; 6] = [
    State::Triage,
    State::Investigating,
    State::Identified,
    State::Monitoring,
    State::Resolved,
    State::Closed,
];

impl State {
    /// As written.
    pub fn name(self) -> &'static str {
        match self {
            State::Triage => "triage",
            State::Investigating => "investigating",
            State::Identified => "identified",
            State::Monitoring => "monitoring",
            State::Resolved => "resolved",
            State::Closed => "closed",
        }
    }

    /// The inverse of [`State::name`].
    pub fn parse(s: &str) -> Option<Self> {
        STATES.into_iter().find(|x| x.name() == s)
    }

    /// Whether an incident may go from this state to `to`. Work moves
    /// freely between triage, investigating, identified and monitoring (a
    /// fix that does not hold goes back); any of them may resolve; a
    /// resolved incident may reopen (to investigating) or close; a closed
    /// one is history.
    pub fn may_become(self, to: State) -> bool {
        use State::*;
        match (self, to) {
            (a, b) if a == b => false,
            (Closed, _) => false,
            (Resolved, Investigating | Closed) => true,
            (Resolved, _) => false,
            (_, Closed) => false,
            _ => true,
        }
    }
}

/// Why a change to an incident is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IncidentError {
    /// The state cannot follow the current one.
    #[error("incident {id} is {from}; it cannot become {to} ({why})")]
    Transition {
        /// The incident.
        id: i64,
        /// Where it is.
        from: &'static str,
        /// Where it was asked to go.
        to: &'static str,
        /// What may follow instead.
        why: String,
    },
    /// A field is wrong.
    #[error("{0}")]
    Invalid(String),
    /// No incident has that id.
    #[error("no incident has id {0}")]
    NotFound(i64),
}

/// What may follow `from`, for error messages.
pub fn next_states(from: State) -> String {
    let next: Vec<&str> = STATES
        .into_iter()
        .filter(|s| from.may_become(*s))
        .map(State::name)
        .collect();
    if next.is_empty() {
        "a closed incident does not change".into()
    } else {
        format!("from {} it may become {}", from.name(), next.join(", "))
    }
}

/// The time an incident reached a state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Milestone {
    /// The state.
    pub state: State,
    /// When, ms.
    pub at: i64,
}

/// An incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Incident {
    /// Its id (0 before it is first stored).
    pub id: i64,
    /// What is wrong, in a line.
    pub title: String,
    /// How bad.
    pub severity: Severity,
    /// Where it is.
    pub state: State,
    /// The services affected.
    pub services: Vec<String>,
    /// Who leads the response.
    pub commander: Option<String>,
    /// Who keeps people informed.
    pub communications: Option<String>,
    /// Who writes things down.
    pub scribe: Option<String>,
    /// Pages linked to it.
    pub pages: Vec<i64>,
    /// When each state was reached, in order (a state reached twice is
    /// listed twice).
    pub milestones: Vec<Milestone>,
    /// The latest status update.
    pub status_update: Option<String>,
    /// When users were first affected, ms, if someone said (else the
    /// incident starts when it was declared).
    #[serde(default)]
    pub started_at: Option<i64>,
    /// The deploys (event ids) that caused it: what change failure rate
    /// and failed deployment recovery time count.
    #[serde(default)]
    pub caused_by: Vec<i64>,
    /// When it was declared, ms.
    pub declared_at: i64,
    /// Who declared it.
    pub declared_by: String,
    /// When it last changed, ms.
    pub updated_at: i64,
}

impl Incident {
    /// Not yet resolved (or closed): still hurting users.
    pub fn is_open(&self) -> bool {
        !matches!(self.state, State::Resolved | State::Closed)
    }

    /// When it first reached `state`.
    pub fn reached(&self, state: State) -> Option<i64> {
        self.milestones.iter().find(|m| m.state == state).map(|m| m.at)
    }
}

/// Where incidents are kept.
pub trait IncidentRepository: Send + Sync {
    /// Stores an incident (a new one when its id is 0) and appends its
    /// events (their `payload.incident` set to its id) in one durable
    /// step.
    fn save_incident(&self, incident: &Incident, events: &[crate::events::NewEvent]) -> RepoResult<Incident>;
    /// One incident.
    fn incident(&self, id: i64) -> RepoResult<Option<Incident>>;
    /// Every incident, newest first.
    fn incidents(&self) -> RepoResult<Vec<Incident>>;
}

use nines_alerting::repo::RepoResult;
use serde_json::json;

/// Longest title or status update.
pub const MAX_TEXT: usize = 4_096;

fn text(value: &str, what: &str, max: usize) -> Result<String, IncidentError> {
    let v = value.trim();
    if v.is_empty() || v.len() > max {
        return Err(IncidentError::Invalid(format!("{what}: 1 to {max} bytes")));
    }
    Ok(v.to_string())
}

fn name(value: &str, what: &str) -> Result<String, IncidentError> {
    let v = text(value, what, 256)?;
    if v.chars().any(char::is_control) {
        return Err(IncidentError::Invalid(format!("{what}: no control characters")));
    }
    Ok(v)
}

/// A declaration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Declare {
    /// What is wrong.
    pub title: String,
    /// `SEV1` … `SEV4`.
    pub severity: String,
    /// The services affected.
    #[serde(default)]
    pub services: Vec<String>,
    /// Who leads.
    #[serde(default)]
    pub commander: Option<String>,
    /// Pages that belong to it.
    #[serde(default)]
    pub pages: Vec<i64>,
    /// Who declares (the API uses the token's name when absent).
    #[serde(default)]
    pub by: Option<String>,
    /// When users were first affected (RFC 3339), if before now.
    #[serde(default)]
    pub started_at: Option<String>,
    /// The deploys (event ids) that caused it.
    #[serde(default)]
    pub caused_by: Vec<i64>,
}

/// A change; every field optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Update {
    /// The next state.
    #[serde(default)]
    pub state: Option<String>,
    /// A new severity.
    #[serde(default)]
    pub severity: Option<String>,
    /// A new title.
    #[serde(default)]
    pub title: Option<String>,
    /// Roles.
    #[serde(default)]
    pub commander: Option<String>,
    /// Roles.
    #[serde(default)]
    pub communications: Option<String>,
    /// Roles.
    #[serde(default)]
    pub scribe: Option<String>,
    /// More services affected.
    #[serde(default)]
    pub add_services: Vec<String>,
    /// More pages linked.
    #[serde(default)]
    pub add_pages: Vec<i64>,
    /// A status update for the people affected.
    #[serde(default)]
    pub message: Option<String>,
    /// When users were first affected (RFC 3339).
    #[serde(default)]
    pub started_at: Option<String>,
    /// More deploys (event ids) that caused it.
    #[serde(default)]
    pub add_caused_by: Vec<i64>,
    /// Who changes it (the API uses the token's name when absent).
    #[serde(default)]
    pub by: Option<String>,
}

fn event(
    incident: &Incident,
    kind: &str,
    by: &str,
    at: i64,
    mut payload: serde_json::Value,
) -> crate::events::NewEvent {
    payload["incident"] = json!(incident.id);
    payload["severity"] = json!(incident.severity.name());
    crate::events::NewEvent {
        at,
        kind: kind.into(),
        service: incident.services.first().cloned(),
        actor: Some(by.to_string()),
        payload,
    }
}

fn past_time(value: &str, what: &str, now: i64) -> Result<i64, IncidentError> {
    let t = value
        .trim()
        .parse::<jiff::Timestamp>()
        .map_err(|e| IncidentError::Invalid(format!("{what}: {value:?} is not an RFC 3339 time: {e}")))?
        .as_millisecond();
    if t > now {
        return Err(IncidentError::Invalid(format!("{what}: {value} is in the future")));
    }
    Ok(t)
}

/// How an incident is changed: by whom, when, and what its severities
/// are called.
#[derive(Debug, Clone, Copy)]
pub struct Act<'a> {
    /// Who acts.
    pub by: &'a str,
    /// When, ms.
    pub now: i64,
    /// The severities' names.
    pub names: &'a SeverityNames,
}

static DEFAULT_NAMES: std::sync::LazyLock<SeverityNames> = std::sync::LazyLock::new(SeverityNames::default);

impl<'a> Act<'a> {
    /// `by` acts at `now`, severities called `SEV1` … `SEV4`.
    pub fn by(by: &'a str, now: i64) -> Self {
        Act {
            by,
            now,
            names: &DEFAULT_NAMES,
        }
    }
}

/// Declares an incident.
pub fn declare(repo: &dyn IncidentRepository, d: &Declare, act: Act<'_>) -> Result<Incident, IncidentError> {
    let Act { by, now, names } = act;
    let severity = names.parse(&d.severity)?;
    let mut services = Vec::new();
    for s in &d.services {
        let s = name(s, "services")?;
        if !services.contains(&s) {
            services.push(s);
        }
    }
    let incident = Incident {
        id: 0,
        title: text(&d.title, "title", MAX_TEXT)?,
        severity,
        state: State::Triage,
        services,
        commander: d.commander.as_deref().map(|c| name(c, "commander")).transpose()?,
        communications: None,
        scribe: None,
        pages: d.pages.clone(),
        milestones: vec![Milestone {
            state: State::Triage,
            at: now,
        }],
        status_update: None,
        started_at: d
            .started_at
            .as_deref()
            .map(|t| past_time(t, "startedAt", now))
            .transpose()?,
        caused_by: d.caused_by.clone(),
        declared_at: now,
        declared_by: name(by, "declared by")?,
        updated_at: now,
    };
    let declared = event(
        &incident,
        "incident.declared",
        by,
        now,
        json!({"title": incident.title, "services": incident.services}),
    );
    repo.save_incident(&incident, &[declared])
        .map_err(|e| IncidentError::Invalid(e.to_string()))
}

/// Changes an incident: one step, one durable save.
pub fn update(repo: &dyn IncidentRepository, id: i64, u: &Update, act: Act<'_>) -> Result<Incident, IncidentError> {
    let Act { by, now, names } = act;
    let mut inc = repo
        .incident(id)
        .map_err(|e| IncidentError::Invalid(e.to_string()))?
        .ok_or(IncidentError::NotFound(id))?;
    let mut events = Vec::new();
    let to = u
        .state
        .as_deref()
        .map(|s| {
            State::parse(s).ok_or_else(|| {
                let all: Vec<&str> = STATES.iter().map(|x| x.name()).collect();
                IncidentError::Invalid(format!("state: {s:?} is not one of {}", all.join(", ")))
            })
        })
        .transpose()?;
    if inc.state == State::Closed {
        return Err(IncidentError::Transition {
            id,
            from: "closed",
            to: to.map_or("changed", State::name),
            why: next_states(State::Closed),
        });
    }
    if let Some(to) = to {
        if !inc.state.may_become(to) {
            return Err(IncidentError::Transition {
                id,
                from: inc.state.name(),
                to: to.name(),
                why: next_states(inc.state),
            });
        }
        events.push(event(
            &inc,
            "incident.state",
            by,
            now,
            json!({"from": inc.state.name(), "to": to.name()}),
        ));
        inc.state = to;
        inc.milestones.push(Milestone { state: to, at: now });
    }
    if let Some(s) = &u.severity {
        let sev = names.parse(s)?;
        if sev != inc.severity {
            events.push(event(
                &inc,
                "incident.severity",
                by,
                now,
                json!({"from": inc.severity.name(), "to": sev.name()}),
            ));
            inc.severity = sev;
        }
    }
    if let Some(t) = &u.title {
        inc.title = text(t, "title", MAX_TEXT)?;
    }
    for (role, given, slot) in [
        ("commander", &u.commander, &mut inc.commander),
        ("communications", &u.communications, &mut inc.communications),
        ("scribe", &u.scribe, &mut inc.scribe),
    ] {
        if let Some(who) = given {
            let who = name(who, role)?;
            *slot = Some(who.clone());
            events.push(crate::events::NewEvent {
                at: now,
                kind: "incident.role".into(),
                service: None,
                actor: Some(by.to_string()),
                payload: json!({"role": role, "user": who}),
            });
        }
    }
    for s in &u.add_services {
        let s = name(s, "addServices")?;
        if !inc.services.contains(&s) {
            inc.services.push(s);
        }
    }
    for p in &u.add_pages {
        if !inc.pages.contains(p) {
            inc.pages.push(*p);
        }
    }
    for d in &u.add_caused_by {
        if !inc.caused_by.contains(d) {
            inc.caused_by.push(*d);
        }
    }
    if let Some(t) = &u.started_at {
        inc.started_at = Some(past_time(t, "startedAt", now)?);
    }
    if let Some(m) = &u.message {
        let m = text(m, "message", MAX_TEXT)?;
        events.push(event(
            &inc,
            "incident.update",
            by,
            now,
            json!({"message": m, "state": inc.state.name()}),
        ));
        inc.status_update = Some(m);
    }
    // Role events name the incident too, now that its services are final.
    for e in events.iter_mut().filter(|e| e.kind == "incident.role") {
        e.service = inc.services.first().cloned();
        e.payload["incident"] = json!(inc.id);
    }
    inc.updated_at = now;
    repo.save_incident(&inc, &events)
        .map_err(|e| IncidentError::Invalid(e.to_string()))
}

/// Adds a note to an incident's timeline.
pub fn note(repo: &dyn IncidentRepository, id: i64, note: &str, act: Act<'_>) -> Result<Incident, IncidentError> {
    let Act { by, now, .. } = act;
    let inc = repo
        .incident(id)
        .map_err(|e| IncidentError::Invalid(e.to_string()))?
        .ok_or(IncidentError::NotFound(id))?;
    let n = event(
        &inc,
        "incident.note",
        by,
        now,
        json!({"note": text(note, "note", MAX_TEXT)?}),
    );
    repo.save_incident(&inc, &[n])
        .map_err(|e| IncidentError::Invalid(e.to_string()))
}

/// An [`IncidentRepository`] (and event log) in memory.
#[derive(Debug, Default)]
pub struct MemIncidents {
    incidents: parking_lot::Mutex<Vec<Incident>>,
    /// The events saved with them.
    pub log: crate::events::MemEventLog,
}

impl IncidentRepository for MemIncidents {
    fn save_incident(&self, incident: &Incident, events: &[crate::events::NewEvent]) -> RepoResult<Incident> {
        use crate::events::EventLog;
        let mut all = self.incidents.lock();
        let mut saved = incident.clone();
        if saved.id == 0 {
            saved.id = all.len() as i64 + 1;
            all.push(saved.clone());
        } else if let Some(slot) = all.iter_mut().find(|i| i.id == saved.id) {
            *slot = saved.clone();
        }
        let events: Vec<_> = events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.payload["incident"] = json!(saved.id);
                e
            })
            .collect();
        self.log.append(&events)?;
        Ok(saved)
    }

    fn incident(&self, id: i64) -> RepoResult<Option<Incident>> {
        Ok(self.incidents.lock().iter().find(|i| i.id == id).cloned())
    }

    fn incidents(&self) -> RepoResult<Vec<Incident>> {
        Ok(self.incidents.lock().iter().rev().cloned().collect())
    }
}

/// The contract every [`IncidentRepository`] keeps (with the event log
/// it appends to).
pub mod contract {
    use super::*;
    use crate::events::{EventLog, EventQuery};

    /// Runs the checks against a fresh repository and its event log.
    pub fn run_all(repo: &dyn IncidentRepository, log: &dyn EventLog) {
        let d = Declare {
            title: "checkout fails".into(),
            severity: "SEV2".into(),
            services: vec!["checkout".into()],
            ..Default::default()
        };
        let first = declare(repo, &d, Act::by("ana", 1_000)).expect("declare");
        assert!(first.id > 0);
        let second = declare(repo, &d, Act::by("ana", 2_000)).expect("declare");
        assert_ne!(first.id, second.id);
        let moved = update(
            repo,
            first.id,
            &Update {
                state: Some("investigating".into()),
                commander: Some("bo".into()),
                ..Default::default()
            },
            Act::by("bo", 3_000),
        )
        .expect("update");
        assert_eq!(repo.incident(first.id).expect("get"), Some(moved.clone()));
        assert_eq!(moved.reached(State::Investigating), Some(3_000));
        let listed = repo.incidents().expect("list");
        assert_eq!(
            listed.iter().map(|i| i.id).collect::<Vec<_>>(),
            vec![second.id, first.id]
        );
        let events = log
            .events(&EventQuery {
                kinds: vec!["incident.".into()],
                limit: 100,
                ..Default::default()
            })
            .expect("events");
        let mine: Vec<&str> = events
            .iter()
            .filter(|e| e.event.payload["incident"] == first.id)
            .map(|e| e.event.kind.as_str())
            .collect();
        assert_eq!(mine, ["incident.declared", "incident.state", "incident.role"]);
        assert_eq!(repo.incident(999_999).expect("get"), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_keeps_the_incident_contract() {
        let m = MemIncidents::default();
        contract::run_all(&m, &m.log);
    }

    #[test]
    fn invalid_transitions_are_refused_with_what_may_follow() {
        let m = MemIncidents::default();
        let d = Declare {
            title: "x".into(),
            severity: "SEV3".into(),
            ..Default::default()
        };
        let i = declare(&m, &d, Act::by("ana", 1)).unwrap();
        let to = |s: &str| Update {
            state: Some(s.into()),
            ..Default::default()
        };
        let e = update(&m, i.id, &to("closed"), Act::by("ana", 2)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "incident 1 is triage; it cannot become closed (from triage it may become investigating, identified, monitoring, resolved)"
        );
        update(&m, i.id, &to("resolved"), Act::by("ana", 3)).unwrap();
        update(&m, i.id, &to("closed"), Act::by("ana", 4)).unwrap();
        let e = update(&m, i.id, &to("investigating"), Act::by("ana", 5)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "incident 1 is closed; it cannot become investigating (a closed incident does not change)"
        );
        assert!(matches!(
            update(&m, 9, &to("resolved"), Act::by("ana", 5)),
            Err(IncidentError::NotFound(9))
        ));
        assert!(matches!(
            update(&m, i.id, &to("sleeping"), Act::by("ana", 5)),
            Err(IncidentError::Invalid(_))
        ));
        let bad = Declare {
            severity: "SEV9".into(),
            ..d.clone()
        };
        assert!(declare(&m, &bad, Act::by("ana", 1)).is_err());
    }

    #[test]
    fn severities_are_read_by_their_configured_names_or_sevn() {
        let names = SeverityNames::new(["Critical".into(), "Major".into(), "Minor".into(), "Low".into()]).unwrap();
        assert_eq!(names.parse("critical").unwrap(), Severity::Sev1);
        assert_eq!(names.parse("SEV3").unwrap(), Severity::Sev3);
        assert_eq!(names.label(Severity::Sev2), "Major");
        assert_eq!(
            names.parse("urgent").unwrap_err().to_string(),
            "severity: \"urgent\" is not one of SEV1 (Critical), SEV2 (Major), SEV3 (Minor), SEV4 (Low)"
        );
        assert!(SeverityNames::new(["A".into(), "a".into(), "C".into(), "D".into()]).is_err());
        assert!(SeverityNames::new(["SEV2".into(), "B".into(), "C".into(), "D".into()]).is_err());
        assert!(SeverityNames::new(["".into(), "B".into(), "C".into(), "D".into()]).is_err());
        let m = MemIncidents::default();
        let d = Declare {
            title: "x".into(),
            severity: "major".into(),
            started_at: Some("2026-11-24T08:00:00Z".into()),
            ..Default::default()
        };
        let act = Act {
            by: "ana",
            now: 1_795_514_400_000,
            names: &names,
        };
        let i = declare(&m, &d, act).unwrap();
        assert_eq!(i.severity, Severity::Sev2);
        assert_eq!(i.started_at, Some(1_795_507_200_000));
        let future = Declare {
            started_at: Some("2027-01-01T00:00:00Z".into()),
            ..d
        };
        assert!(declare(&m, &future, act)
            .unwrap_err()
            .to_string()
            .contains("in the future"));
    }

    #[test]
    fn transitions_follow_the_life_of_an_incident() {
        use State::*;
        assert!(Triage.may_become(Investigating));
        assert!(Monitoring.may_become(Investigating), "a fix that does not hold");
        assert!(Investigating.may_become(Resolved));
        assert!(Resolved.may_become(Investigating), "reopened");
        assert!(Resolved.may_become(Closed));
        assert!(!Monitoring.may_become(Closed), "closing needs resolving first");
        assert!(!Closed.may_become(Investigating));
        assert!(!Resolved.may_become(Monitoring));
        assert!(!Triage.may_become(Triage));
        assert_eq!(next_states(Closed), "a closed incident does not change");
        assert_eq!(
            next_states(Resolved),
            "from resolved it may become investigating, closed"
        );
        assert!(Severity::Sev2.is_major() && !Severity::Sev3.is_major());
        assert_eq!(Severity::parse("sev1"), Some(Severity::Sev1));
    }
}
