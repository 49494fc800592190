//! Incident metrics: how long each incident took to detect, acknowledge,
//! mitigate and resolve, and the means of those (MTTD, MTTA, MTTM, MTTR)
//! per service, team and period.
//!
//! The moments, all read from the incident and its timeline:
//! - started: when users were first affected (`startedAt`, else declared);
//! - detected: the first alert firing or page triggered for it at or after
//!   the start, or its declaration if that came first;
//! - acknowledged: the first ack of a linked page, a person declaring it,
//!   or its first move out of triage, whichever is first;
//! - mitigated: when it first reached monitoring (a fix is out), else
//!   resolved;
//! - resolved: its last resolution.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::incident::{Incident, Severity, State};
use crate::timeline::{end_of, start_of, Timeline};

/// One incident's moments and durations (ms).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IncidentTimes {
    /// The incident.
    pub incident: i64,
    /// Its severity.
    pub severity: Severity,
    /// The services it affected.
    pub services: Vec<String>,
    /// When users were first affected.
    pub started_at: i64,
    /// When nines or a person noticed.
    pub detected_at: i64,
    /// When someone took it on.
    pub acknowledged_at: Option<i64>,
    /// When users stopped being affected.
    pub mitigated_at: Option<i64>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// Detected − started.
    pub time_to_detect: i64,
    /// Acknowledged − detected.
    pub time_to_acknowledge: Option<i64>,
    /// Mitigated − started.
    pub time_to_mitigate: Option<i64>,
    /// Resolved − started.
    pub time_to_resolve: Option<i64>,
}

/// The moments of `incident`, from its `timeline`.
pub fn times(incident: &Incident, timeline: &Timeline) -> IncidentTimes {
    let start = start_of(incident);
    let first_of = |kinds: &[&str], from: i64| {
        timeline
            .entries
            .iter()
            .filter(|e| e.event.event.at >= from && kinds.contains(&e.event.event.kind.as_str()))
            .map(|e| e.event.event.at)
            .min()
    };
    let detected = first_of(&["alert.firing", "page.triggered"], start)
        .map_or(incident.declared_at, |t| t.min(incident.declared_at));
    let by_person = (incident.declared_by != "nines").then_some(incident.declared_at);
    let out_of_triage = incident
        .milestones
        .iter()
        .find(|m| m.state != State::Triage)
        .map(|m| m.at);
    let acknowledged = [first_of(&["page.acknowledged"], detected), by_person, out_of_triage]
        .into_iter()
        .flatten()
        .min()
        .map(|t| t.max(detected));
    let mitigated = incident
        .reached(State::Monitoring)
        .or_else(|| incident.reached(State::Resolved))
        .map(|t| t.max(start));
    let resolved = end_of(incident).map(|t| t.max(start));
    IncidentTimes {
        incident: incident.id,
        severity: incident.severity,
        services: incident.services.clone(),
        started_at: start,
        detected_at: detected,
        acknowledged_at: acknowledged,
        mitigated_at: mitigated,
        resolved_at: resolved,
        time_to_detect: (detected - start).max(0),
        time_to_acknowledge: acknowledged.map(|a| a - detected),
        time_to_mitigate: mitigated.map(|m| m - start),
        time_to_resolve: resolved.map(|r| r - start),
    }
}

/// Means over a set of incidents (ms); each over the incidents that
/// reached that moment.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MeanTimes {
    /// Incidents counted.
    pub incidents: usize,
    /// Mean time to detect.
    pub mttd: Option<i64>,
    /// Mean time to acknowledge.
    pub mtta: Option<i64>,
    /// Mean time to mitigate.
    pub mttm: Option<i64>,
    /// Mean time to resolve.
    pub mttr: Option<i64>,
}

fn mean(values: impl Iterator<Item = Option<i64>>) -> Option<i64> {
    let (sum, n) = values
        .flatten()
        .fold((0i128, 0i128), |(s, n), v| (s + v as i128, n + 1));
    (n > 0).then(|| (sum / n) as i64)
}

/// The means of `all`.
pub fn means<'a>(all: impl IntoIterator<Item = &'a IncidentTimes> + Clone) -> MeanTimes {
    MeanTimes {
        incidents: all.clone().into_iter().count(),
        mttd: mean(all.clone().into_iter().map(|t| Some(t.time_to_detect))),
        mtta: mean(all.clone().into_iter().map(|t| t.time_to_acknowledge)),
        mttm: mean(all.clone().into_iter().map(|t| t.time_to_mitigate)),
        mttr: mean(all.into_iter().map(|t| t.time_to_resolve)),
    }
}

/// Means overall, per service and per team.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Aggregates {
    /// Every incident given.
    pub overall: MeanTimes,
    /// Per affected service (an incident counts for each it affected).
    pub services: BTreeMap<String, MeanTimes>,
    /// Per team owning an affected service (an incident counts once per team).
    pub teams: BTreeMap<String, MeanTimes>,
}

/// Groups `all` by service and by team; `team_of` names the teams that
/// own a service.
pub fn aggregate(all: &[IncidentTimes], team_of: &dyn Fn(&str) -> Vec<String>) -> Aggregates {
    let mut services: BTreeMap<String, Vec<&IncidentTimes>> = BTreeMap::new();
    let mut teams: BTreeMap<String, Vec<&IncidentTimes>> = BTreeMap::new();
    for t in all {
        let mut mine: Vec<String> = Vec::new();
        for s in &t.services {
            services.entry(s.clone()).or_default().push(t);
            mine.extend(team_of(s));
        }
        mine.sort();
        mine.dedup();
        for team in mine {
            teams.entry(team).or_default().push(t);
        }
    }
    let of = |m: BTreeMap<String, Vec<&IncidentTimes>>| {
        m.into_iter()
            .map(|(k, v)| (k, means(v.iter().copied())))
            .collect::<BTreeMap<_, _>>()
    };
    Aggregates {
        overall: means(all.iter()),
        services: of(services),
        teams: of(teams),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{EventLog, NewEvent};
    use crate::incident::{declare, update, Act, Declare, MemIncidents, Update};
    use crate::timeline::{timeline, DEFAULT_LOOKBACK_MS};
    use serde_json::json;

    const MIN: i64 = 60_000;

    fn rfc(ms: i64) -> String {
        jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
    }

    fn state(m: &MemIncidents, id: i64, s: &str, at: i64) -> Incident {
        let u = Update {
            state: Some(s.into()),
            ..Default::default()
        };
        update(m, id, &u, Act::by("bo", at)).unwrap()
    }

    /// Impact at 10:00, alert at 10:04, page acked 10:09, declared by
    /// nines at 10:05, fix out 10:40, resolved 11:00.
    #[test]
    fn a_scripted_incident_has_the_times_worked_out_by_hand() {
        let m = MemIncidents::default();
        let t0 = 1_795_514_400_000; // 2026-11-24T10:00:00Z
        let page = |at: i64, kind: &str| NewEvent {
            at,
            kind: kind.into(),
            service: Some("checkout".into()),
            actor: Some("bo".into()),
            payload: json!({"page": 3}),
        };
        m.log
            .append(&[
                NewEvent {
                    at: t0 + 4 * MIN,
                    kind: "alert.firing".into(),
                    service: Some("checkout".into()),
                    actor: Some("nines".into()),
                    payload: json!({"labels": {"alertname": "HighErrors"}}),
                },
                page(t0 + 4 * MIN, "page.triggered"),
                page(t0 + 9 * MIN, "page.acknowledged"),
            ])
            .unwrap();
        let d = Declare {
            title: "checkout errors".into(),
            severity: "SEV1".into(),
            services: vec!["checkout".into()],
            pages: vec![3],
            started_at: Some(rfc(t0)),
            ..Default::default()
        };
        let i = declare(&m, &d, Act::by("nines", t0 + 5 * MIN)).unwrap();
        state(&m, i.id, "investigating", t0 + 12 * MIN);
        state(&m, i.id, "monitoring", t0 + 40 * MIN);
        let i = state(&m, i.id, "resolved", t0 + 60 * MIN);
        let tl = timeline(&m.log, &i, DEFAULT_LOOKBACK_MS, t0 + 90 * MIN).unwrap();
        let t = times(&i, &tl);
        assert_eq!(t.started_at, t0);
        assert_eq!(t.detected_at, t0 + 4 * MIN);
        assert_eq!(t.acknowledged_at, Some(t0 + 9 * MIN));
        assert_eq!(t.time_to_detect, 4 * MIN);
        assert_eq!(t.time_to_acknowledge, Some(5 * MIN));
        assert_eq!(t.time_to_mitigate, Some(40 * MIN));
        assert_eq!(t.time_to_resolve, Some(60 * MIN));

        // A second, declared by a person, never paged, still open.
        let d2 = Declare {
            title: "slow search".into(),
            severity: "SEV3".into(),
            services: vec!["search".into(), "checkout".into()],
            ..Default::default()
        };
        let j = declare(&m, &d2, Act::by("ana", t0 + 100 * MIN)).unwrap();
        let tj = times(&j, &timeline(&m.log, &j, DEFAULT_LOOKBACK_MS, t0 + 120 * MIN).unwrap());
        assert_eq!(tj.time_to_detect, 0);
        assert_eq!(tj.time_to_acknowledge, Some(0), "a person declaring it has taken it on");
        assert_eq!(tj.time_to_resolve, None);

        let teams = |s: &str| match s {
            "checkout" => vec!["payments".to_string()],
            _ => vec!["discovery".to_string()],
        };
        let a = aggregate(&[t, tj], &teams);
        assert_eq!(a.overall.incidents, 2);
        assert_eq!(a.overall.mtta, Some(5 * MIN / 2));
        assert_eq!(a.overall.mttr, Some(60 * MIN), "only resolved incidents count");
        assert_eq!(a.services["checkout"].incidents, 2);
        assert_eq!(a.services["search"].incidents, 1);
        assert_eq!(a.teams["payments"].incidents, 2);
        assert_eq!(a.teams["discovery"].mttd, Some(0));
    }
}
