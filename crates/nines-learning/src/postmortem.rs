//! Blameless postmortems: a draft made from an incident (impact and
//! timeline filled in from what nines recorded), edited by people,
//! exported as Markdown. The template asks about systems, signals and
//! decisions; it has no place that names a person as a cause.
//!
//! Policy: SEV1 and SEV2 incidents need a postmortem, published within a
//! number of days of their resolution; overdue postmortems and open
//! action items are reported.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::events::NewEvent;
use crate::incident::{Incident, IncidentError};
use crate::metrics::IncidentTimes;
use crate::timeline::Timeline;
use nines_alerting::repo::RepoResult;

/// Error budget an incident burnt on one SLO instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BudgetBurn {
    /// `service/slo`, with the instance's labels when it has any.
    pub slo: String,
    /// Bad events (or bad time slices) during the incident.
    pub bad: f64,
    /// All events (or slices) during the incident.
    pub total: f64,
    /// Share of the SLO window's error budget this spent.
    pub budget_consumed_ratio: f64,
}

/// Where a postmortem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Being written.
    Draft,
    /// Written; being reviewed.
    InReview,
    /// Reviewed and shared.
    Published,
}

impl Status {
    /// As written.
    pub fn name(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::InReview => "in_review",
            Status::Published => "published",
        }
    }

    fn parse(s: &str) -> Result<Self, IncidentError> {
        [Status::Draft, Status::InReview, Status::Published]
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| IncidentError::Invalid(format!("status: {s:?} is not draft, in_review or published")))
    }
}

/// What an action item does about the incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionKind {
    /// Makes the next one smaller or shorter.
    Mitigate,
    /// Keeps it from happening again.
    Prevent,
}

/// Something to do, with an owner and a date.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionItem {
    /// Its number within the postmortem, from 1.
    pub id: u32,
    /// Mitigate or prevent.
    pub kind: ActionKind,
    /// What to do.
    pub summary: String,
    /// Who sees it done.
    pub owner: String,
    /// When by (a date, `YYYY-MM-DD`).
    pub due: Option<String>,
    /// `open` or `done`.
    pub done: bool,
    /// The ticket tracking it.
    pub ticket: Option<String>,
}

/// A postmortem.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Postmortem {
    /// The incident it is about.
    pub incident: i64,
    /// Its title (the incident's, unless changed).
    pub title: String,
    /// Draft, in review or published.
    pub status: Status,
    /// What happened, in a paragraph.
    pub summary: String,
    /// Who and what was affected, for how long, and the budget it cost.
    pub impact: String,
    /// What happened when (filled in from the event log).
    pub timeline: Vec<Line>,
    /// The conditions that together allowed it (never a person).
    pub contributing_factors: String,
    /// How it was noticed, and how it could have been noticed sooner.
    pub detection: String,
    /// How people responded.
    pub response: String,
    /// How service came back.
    pub recovery: String,
    /// What went well.
    pub went_well: String,
    /// What went wrong.
    pub went_wrong: String,
    /// Where we got lucky.
    pub got_lucky: String,
    /// What to do about it.
    pub action_items: Vec<ActionItem>,
    /// What we learned.
    pub lessons_learned: String,
    /// When drafted, ms.
    pub created_at: i64,
    /// When last changed, ms.
    pub updated_at: i64,
    /// When published, ms.
    pub published_at: Option<i64>,
}

/// One timeline line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// When, ms.
    pub at: i64,
    /// What happened.
    pub text: String,
}

/// A duration in hours and minutes: `1 h 05 min`, `12 min`.
pub fn human_duration(ms: i64) -> String {
    let minutes = ms.max(0) / 60_000;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min"),
        (h, m) => format!("{h} h {m:02} min"),
    }
}

/// `2026-11-24 10:04 UTC`.
pub fn human_time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| ms.to_string())
}

fn impact_text(incident: &Incident, times: &IncidentTimes, burns: &[BudgetBurn]) -> String {
    let mut s = String::new();
    let services = if incident.services.is_empty() {
        "none named".to_string()
    } else {
        incident.services.join(", ")
    };
    s.push_str(&format!("- Services affected: {services}\n"));
    s.push_str(&format!("- Severity: {}\n", incident.severity.name()));
    s.push_str(&format!("- Started: {}\n", human_time(times.started_at)));
    match times.time_to_resolve {
        Some(d) => s.push_str(&format!("- Duration: {} (until resolved)\n", human_duration(d))),
        None => s.push_str("- Duration: still open when this draft was made\n"),
    }
    if let Some(m) = times.time_to_mitigate {
        s.push_str(&format!(
            "- Users affected for: {} (until mitigated)\n",
            human_duration(m)
        ));
    }
    if burns.is_empty() {
        s.push_str("- Error budget burnt: no SLO of the affected services measured this period\n");
    }
    for b in burns {
        s.push_str(&format!(
            "- Error budget burnt on {}: {:.1}% of the window's budget ({} bad of {} events)\n",
            b.slo,
            b.budget_consumed_ratio * 100.0,
            b.bad.round(),
            b.total.round()
        ));
    }
    s.push_str("- Users affected: _how many, and how (fill in)_");
    s
}

/// A draft from an incident, its timeline and measurements.
pub fn draft(
    incident: &Incident,
    timeline: &Timeline,
    times: &IncidentTimes,
    burns: &[BudgetBurn],
    now: i64,
) -> Postmortem {
    let lines = timeline
        .entries
        .iter()
        .map(|e| Line {
            at: e.event.event.at,
            text: if e.suspect {
                format!("{} (a change shortly before the start)", e.summary)
            } else {
                e.summary.clone()
            },
        })
        .collect();
    let detection = format!(
        "Detected {} after the start{}. Acknowledged {} after detection.",
        human_duration(times.time_to_detect),
        if times.detected_at < incident.declared_at {
            " by an alert"
        } else {
            ""
        },
        times.time_to_acknowledge.map_or("not yet".into(), human_duration)
    );
    Postmortem {
        incident: incident.id,
        title: incident.title.clone(),
        status: Status::Draft,
        summary: incident.status_update.clone().unwrap_or_default(),
        impact: impact_text(incident, times, burns),
        timeline: lines,
        contributing_factors: String::new(),
        detection,
        response: String::new(),
        recovery: String::new(),
        went_well: String::new(),
        went_wrong: String::new(),
        got_lucky: String::new(),
        action_items: Vec::new(),
        lessons_learned: String::new(),
        created_at: now,
        updated_at: now,
        published_at: None,
    }
}

/// A new action item.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewActionItem {
    /// `mitigate` or `prevent`.
    pub kind: ActionKind,
    /// What to do.
    pub summary: String,
    /// Who sees it done.
    pub owner: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    pub due: Option<String>,
    /// A link to its ticket.
    #[serde(default)]
    pub ticket: Option<String>,
}

/// A change to an action item.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionItemChange {
    /// Which.
    pub id: u32,
    /// Done or not.
    #[serde(default)]
    pub done: Option<bool>,
    /// A new owner.
    #[serde(default)]
    pub owner: Option<String>,
    /// A new date.
    #[serde(default)]
    pub due: Option<String>,
    /// A ticket link.
    #[serde(default)]
    pub ticket: Option<String>,
}

/// An edit: every field optional; text fields replace the section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Edit {
    /// Title.
    #[serde(default)]
    pub title: Option<String>,
    /// Draft, in_review or published.
    #[serde(default)]
    pub status: Option<String>,
    /// Sections.
    #[serde(default)]
    pub summary: Option<String>,
    /// Sections.
    #[serde(default)]
    pub impact: Option<String>,
    /// Sections.
    #[serde(default)]
    pub contributing_factors: Option<String>,
    /// Sections.
    #[serde(default)]
    pub detection: Option<String>,
    /// Sections.
    #[serde(default)]
    pub response: Option<String>,
    /// Sections.
    #[serde(default)]
    pub recovery: Option<String>,
    /// Sections.
    #[serde(default)]
    pub went_well: Option<String>,
    /// Sections.
    #[serde(default)]
    pub went_wrong: Option<String>,
    /// Sections.
    #[serde(default)]
    pub got_lucky: Option<String>,
    /// Sections.
    #[serde(default)]
    pub lessons_learned: Option<String>,
    /// New action items.
    #[serde(default)]
    pub add_action_items: Vec<NewActionItem>,
    /// Changes to action items.
    #[serde(default)]
    pub action_items: Vec<ActionItemChange>,
}

/// Longest section.
pub const MAX_SECTION: usize = 64 * 1024;

fn invalid(m: String) -> IncidentError {
    IncidentError::Invalid(m)
}

fn section(v: &str, what: &str) -> Result<String, IncidentError> {
    if v.len() > MAX_SECTION {
        return Err(invalid(format!("{what}: longer than {MAX_SECTION} bytes")));
    }
    Ok(v.trim().to_string())
}

fn one_line(v: &str, what: &str) -> Result<String, IncidentError> {
    let v = v.trim();
    if v.is_empty() || v.len() > 1024 || v.chars().any(char::is_control) {
        return Err(invalid(format!("{what}: one line of 1 to 1024 bytes")));
    }
    Ok(v.to_string())
}

fn date(v: &str, what: &str) -> Result<String, IncidentError> {
    v.trim()
        .parse::<jiff::civil::Date>()
        .map(|d| d.to_string())
        .map_err(|e| invalid(format!("{what}: {v:?} is not a date (YYYY-MM-DD): {e}")))
}

fn ticket(v: &str, what: &str) -> Result<String, IncidentError> {
    let v = one_line(v, what)?;
    if !(v.starts_with("http://") || v.starts_with("https://")) {
        return Err(invalid(format!("{what}: must be an http:// or https:// link")));
    }
    Ok(v)
}

/// Applies an edit; the events it makes.
pub fn edit(pm: &mut Postmortem, e: &Edit, by: &str, now: i64) -> Result<Vec<NewEvent>, IncidentError> {
    let mut events = Vec::new();
    let mut changed = Vec::new();
    for (name, given, slot) in [
        ("summary", &e.summary, &mut pm.summary),
        ("impact", &e.impact, &mut pm.impact),
        (
            "contributingFactors",
            &e.contributing_factors,
            &mut pm.contributing_factors,
        ),
        ("detection", &e.detection, &mut pm.detection),
        ("response", &e.response, &mut pm.response),
        ("recovery", &e.recovery, &mut pm.recovery),
        ("wentWell", &e.went_well, &mut pm.went_well),
        ("wentWrong", &e.went_wrong, &mut pm.went_wrong),
        ("gotLucky", &e.got_lucky, &mut pm.got_lucky),
        ("lessonsLearned", &e.lessons_learned, &mut pm.lessons_learned),
    ] {
        if let Some(v) = given {
            *slot = section(v, name)?;
            changed.push(name);
        }
    }
    if let Some(t) = &e.title {
        pm.title = one_line(t, "title")?;
        changed.push("title");
    }
    for (n, a) in e.add_action_items.iter().enumerate() {
        let at = format!("addActionItems[{n}]");
        let item = ActionItem {
            id: pm.action_items.iter().map(|a| a.id).max().unwrap_or(0) + 1,
            kind: a.kind,
            summary: one_line(&a.summary, &format!("{at}.summary"))?,
            owner: one_line(&a.owner, &format!("{at}.owner"))?,
            due: a.due.as_deref().map(|d| date(d, &format!("{at}.due"))).transpose()?,
            done: false,
            ticket: a
                .ticket
                .as_deref()
                .map(|t| ticket(t, &format!("{at}.ticket")))
                .transpose()?,
        };
        events.push(event(pm, "action_item.added", by, now, json!({"item": item})));
        pm.action_items.push(item);
    }
    for c in &e.action_items {
        let at = format!("actionItems[id {}]", c.id);
        let item = pm
            .action_items
            .iter_mut()
            .find(|a| a.id == c.id)
            .ok_or_else(|| invalid(format!("{at}: no such action item")))?;
        if let Some(o) = &c.owner {
            item.owner = one_line(o, &format!("{at}.owner"))?;
        }
        if let Some(d) = &c.due {
            item.due = Some(date(d, &format!("{at}.due"))?);
        }
        if let Some(t) = &c.ticket {
            item.ticket = Some(ticket(t, &format!("{at}.ticket"))?);
        }
        if let Some(done) = c.done {
            item.done = done;
        }
        let item = item.clone();
        events.push(event(pm, "action_item.changed", by, now, json!({"item": item})));
    }
    if let Some(s) = &e.status {
        let s = Status::parse(s)?;
        if s != pm.status {
            events.push(event(
                pm,
                "postmortem.status",
                by,
                now,
                json!({"from": pm.status.name(), "to": s.name()}),
            ));
            pm.published_at = (s == Status::Published).then_some(now);
            pm.status = s;
        }
    }
    if !changed.is_empty() {
        events.push(event(pm, "postmortem.edited", by, now, json!({"sections": changed})));
    }
    pm.updated_at = now;
    Ok(events)
}

/// An event about a postmortem.
pub fn event(pm: &Postmortem, kind: &str, by: &str, at: i64, mut payload: serde_json::Value) -> NewEvent {
    payload["incident"] = json!(pm.incident);
    NewEvent {
        at,
        kind: kind.into(),
        service: None,
        actor: Some(by.to_string()),
        payload,
    }
}

fn push_section(md: &mut String, heading: &str, body: &str, prompt: &str) {
    md.push_str(&format!("\n## {heading}\n\n"));
    if body.trim().is_empty() {
        md.push_str(&format!("_{prompt}_\n"));
    } else {
        md.push_str(body.trim_end());
        md.push('\n');
    }
}

/// The postmortem as Markdown.
pub fn markdown(pm: &Postmortem, incident: &Incident) -> String {
    let mut md = format!("# Postmortem: {}\n\n", pm.title);
    md.push_str(&format!(
        "Incident {} · {} · {} · postmortem {}\n\n",
        incident.id,
        incident.severity.name(),
        incident.state.name(),
        pm.status.name().replace('_', " ")
    ));
    md.push_str(
        "This postmortem is blameless: it looks at the systems, signals and decisions that made the \
         incident possible, assuming everyone acted in good faith on what they knew at the time.\n",
    );
    push_section(&mut md, "Summary", &pm.summary, "What happened, in a paragraph.");
    push_section(
        &mut md,
        "Impact",
        &pm.impact,
        "Who was affected, how, and for how long.",
    );
    md.push_str("\n## Timeline\n\n");
    if pm.timeline.is_empty() {
        md.push_str("_Nothing was recorded._\n");
    }
    for l in &pm.timeline {
        md.push_str(&format!("- {}: {}\n", human_time(l.at), l.text));
    }
    push_section(
        &mut md,
        "Contributing factors",
        &pm.contributing_factors,
        "Which conditions in systems and processes together allowed this?",
    );
    push_section(
        &mut md,
        "Detection",
        &pm.detection,
        "How was it noticed? Could it have been sooner?",
    );
    push_section(&mut md, "Response", &pm.response, "How did the response go?");
    push_section(&mut md, "Recovery", &pm.recovery, "How did service come back?");
    push_section(&mut md, "What went well", &pm.went_well, "What should we keep doing?");
    push_section(
        &mut md,
        "What went wrong",
        &pm.went_wrong,
        "What made it worse or longer?",
    );
    push_section(
        &mut md,
        "Where we got lucky",
        &pm.got_lucky,
        "What could have gone worse?",
    );
    md.push_str("\n## Action items\n\n");
    if pm.action_items.is_empty() {
        md.push_str("_None yet._\n");
    } else {
        md.push_str("| # | Kind | Action | Owner | Due | Status | Ticket |\n");
        md.push_str("|---|------|--------|-------|-----|--------|--------|\n");
        for a in &pm.action_items {
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                a.id,
                match a.kind {
                    ActionKind::Mitigate => "mitigate",
                    ActionKind::Prevent => "prevent",
                },
                a.summary.replace('|', "\\|"),
                a.owner.replace('|', "\\|"),
                a.due.as_deref().unwrap_or("–"),
                if a.done { "done" } else { "open" },
                a.ticket.as_deref().unwrap_or("–")
            ));
        }
    }
    push_section(
        &mut md,
        "Lessons learned",
        &pm.lessons_learned,
        "What do we know now that we did not?",
    );
    md
}

/// Where postmortems are kept.
pub trait PostmortemRepository: Send + Sync {
    /// Stores a postmortem with its events, in one durable step.
    fn save_postmortem(&self, pm: &Postmortem, events: &[NewEvent]) -> RepoResult<()>;
    /// One incident's postmortem.
    fn postmortem(&self, incident: i64) -> RepoResult<Option<Postmortem>>;
    /// Every postmortem.
    fn postmortems(&self) -> RepoResult<Vec<Postmortem>>;
}

/// A major incident whose postmortem is late.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Overdue {
    /// The incident.
    pub incident: i64,
    /// Its title.
    pub title: String,
    /// Its severity.
    pub severity: &'static str,
    /// When the postmortem was due, ms.
    pub due_at: i64,
    /// The postmortem's status, `missing` without one.
    pub postmortem: &'static str,
}

/// The major incidents resolved more than `due_ms` before `now` whose
/// postmortem is missing or not yet published.
pub fn overdue(incidents: &[Incident], postmortems: &[Postmortem], due_ms: i64, now: i64) -> Vec<Overdue> {
    incidents
        .iter()
        .filter(|i| i.severity.is_major())
        .filter_map(|i| {
            let resolved = crate::timeline::end_of(i)?;
            let due_at = resolved + due_ms;
            let pm = postmortems.iter().find(|p| p.incident == i.id);
            let status = pm.map_or("missing", |p| p.status.name());
            (now > due_at && pm.is_none_or(|p| p.status != Status::Published)).then(|| Overdue {
                incident: i.id,
                title: i.title.clone(),
                severity: i.severity.name(),
                due_at,
                postmortem: status,
            })
        })
        .collect()
}

/// An open action item, with where it comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenItem {
    /// The incident.
    pub incident: i64,
    /// The item.
    #[serde(flatten)]
    pub item: ActionItem,
    /// Past its due date.
    pub overdue: bool,
}

/// Every action item not done, oldest postmortem first; `today` decides
/// which are overdue.
pub fn open_items(postmortems: &[Postmortem], today: jiff::civil::Date) -> Vec<OpenItem> {
    let mut out: Vec<OpenItem> = postmortems
        .iter()
        .flat_map(|p| {
            p.action_items.iter().filter(|a| !a.done).map(|a| OpenItem {
                incident: p.incident,
                overdue: a
                    .due
                    .as_deref()
                    .and_then(|d| d.parse::<jiff::civil::Date>().ok())
                    .is_some_and(|d| d < today),
                item: a.clone(),
            })
        })
        .collect();
    out.sort_by_key(|o| (o.incident, o.item.id));
    out
}

/// A [`PostmortemRepository`] in memory.
#[derive(Debug, Default)]
pub struct MemPostmortems {
    all: parking_lot::Mutex<Vec<Postmortem>>,
    /// The events saved with them.
    pub log: crate::events::MemEventLog,
}

impl PostmortemRepository for MemPostmortems {
    fn save_postmortem(&self, pm: &Postmortem, events: &[NewEvent]) -> RepoResult<()> {
        use crate::events::EventLog;
        let mut all = self.all.lock();
        match all.iter_mut().find(|p| p.incident == pm.incident) {
            Some(slot) => *slot = pm.clone(),
            None => all.push(pm.clone()),
        }
        self.log.append(events)?;
        Ok(())
    }

    fn postmortem(&self, incident: i64) -> RepoResult<Option<Postmortem>> {
        Ok(self.all.lock().iter().find(|p| p.incident == incident).cloned())
    }

    fn postmortems(&self) -> RepoResult<Vec<Postmortem>> {
        Ok(self.all.lock().clone())
    }
}

/// The contract every [`PostmortemRepository`] keeps.
pub mod contract {
    use super::*;

    /// Runs the checks against a fresh repository.
    pub fn run_all(repo: &dyn PostmortemRepository) {
        assert_eq!(repo.postmortem(1).expect("get"), None);
        let mut pm = Postmortem {
            incident: 1,
            title: "t".into(),
            status: Status::Draft,
            summary: String::new(),
            impact: "x".into(),
            timeline: vec![Line {
                at: 5,
                text: "a".into(),
            }],
            contributing_factors: String::new(),
            detection: String::new(),
            response: String::new(),
            recovery: String::new(),
            went_well: String::new(),
            went_wrong: String::new(),
            got_lucky: String::new(),
            action_items: Vec::new(),
            lessons_learned: String::new(),
            created_at: 1,
            updated_at: 1,
            published_at: None,
        };
        repo.save_postmortem(&pm, &[]).expect("save");
        assert_eq!(repo.postmortem(1).expect("get"), Some(pm.clone()));
        pm.summary = "changed".into();
        repo.save_postmortem(&pm, &[]).expect("save");
        assert_eq!(repo.postmortems().expect("all"), vec![pm]);
    }
}
