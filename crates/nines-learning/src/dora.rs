//! DORA's software delivery metrics, computed from the deploys in the
//! event log and the incidents linked to them:
//!
//! - deployment frequency: successful production deploys per day;
//! - lead time for changes: the median, over the commits production
//!   deploys shipped, of commit time → that deploy (a commit counts once,
//!   at the first deploy that shipped it);
//! - change failure rate: production deploys that failed in production
//!   (rolled back, followed by a rollback or hotfix of the same service,
//!   or named as the cause of an incident) over all production deploys;
//! - failed deployment recovery time: the median, over failed deploys,
//!   of the time to recover: an incident they caused from its start to
//!   its resolution, else the deploy until the rollback or hotfix after it;
//! - rework rate: hotfix deploys (unplanned, to fix what users saw) over
//!   all production deploys.
//!
//! A deploy whose status is `failed` never reached production: it is in
//! none of them. Each metric carries its band from the bands data
//! (`data/dora-bands.json`, replaceable in the config).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::events::Event;
use crate::incident::Incident;
use crate::timeline::{end_of, start_of};

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: f64 = 3_600_000.0;

/// The bands of DORA's latest report that publishes them, as shipped.
pub const DEFAULT_BANDS: &str = include_str!("../data/dora-bands.json");

/// Performance bands, as data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bands {
    /// Where the bands come from.
    pub source: String,
    /// How a value is put in a band, in words.
    #[serde(default)]
    pub rule: String,
    /// Per metric.
    pub metrics: BTreeMap<String, MetricBands>,
}

/// The bands of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricBands {
    /// What the limits measure.
    pub unit: String,
    /// `higher` or `lower`.
    pub better: String,
    /// Best first.
    pub bands: Vec<Band>,
}

/// One band.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    /// `elite`, `high`…
    pub band: String,
    /// The value a metric must meet, in the metric's unit.
    pub limit: f64,
    /// The report's words.
    #[serde(default)]
    pub says: String,
}

/// The metrics a bands file must cover.
pub const BANDED: [&str; 4] = ["deploymentFrequency", "leadTime", "changeFailureRate", "recoveryTime"];

impl Bands {
    /// Reads and checks bands data.
    pub fn parse(text: &str) -> Result<Self, String> {
        let b: Bands = serde_json::from_str(text).map_err(|e| format!("DORA bands: {e}"))?;
        for name in BANDED {
            let m = b
                .metrics
                .get(name)
                .ok_or_else(|| format!("DORA bands: metrics.{name} is missing"))?;
            if m.better != "higher" && m.better != "lower" {
                return Err(format!("DORA bands: metrics.{name}.better must be higher or lower"));
            }
            if m.bands.is_empty() || m.bands.iter().any(|b| !b.limit.is_finite()) {
                return Err(format!(
                    "DORA bands: metrics.{name}.bands must list bands with numeric limits"
                ));
            }
        }
        Ok(b)
    }

    /// The shipped bands.
    pub fn shipped() -> Self {
        Self::parse(DEFAULT_BANDS).unwrap_or_else(|e| unreachable!("the shipped bands are valid: {e}"))
    }

    /// The band `value` (in the metric's unit) falls in.
    pub fn band(&self, metric: &str, value: f64) -> Option<String> {
        let m = self.metrics.get(metric)?;
        let meets = |b: &Band| {
            if m.better == "higher" {
                value >= b.limit
            } else {
                value <= b.limit
            }
        };
        m.bands
            .iter()
            .find(|b| meets(b))
            .or(m.bands.last())
            .map(|b| b.band.clone())
    }
}

/// A deploy as the log holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedDeploy {
    /// Its event id.
    pub id: i64,
    /// The service.
    pub service: String,
    /// Where.
    pub environment: String,
    /// When it finished, ms.
    pub at: i64,
    /// `success`, `failed` or `rolled_back`.
    pub status: String,
    /// It takes a version back out.
    pub rollback: bool,
    /// An unplanned fix.
    pub hotfix: bool,
    /// The commits it shipped: sha and commit time, ms.
    pub commits: Vec<(String, Option<i64>)>,
}

impl LoggedDeploy {
    /// Reads a `deploy` event back; `None` for any other event.
    pub fn from_event(e: &Event) -> Option<Self> {
        if e.event.kind != "deploy" {
            return None;
        }
        let p = &e.event.payload;
        let time = |v: &serde_json::Value| {
            v.as_str()
                .and_then(|s| s.parse::<jiff::Timestamp>().ok())
                .map(|t| t.as_millisecond())
        };
        Some(LoggedDeploy {
            id: e.id,
            service: e.event.service.clone()?,
            environment: p["environment"].as_str()?.to_string(),
            at: e.event.at,
            status: p["status"].as_str().unwrap_or("success").to_string(),
            rollback: p["rollback"] == true,
            hotfix: p["hotfix"] == true,
            commits: p["commits"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| Some((c["sha"].as_str()?.to_string(), time(&c["committedAt"]))))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// One metric with its band.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// The value, in `unit`; `null` when nothing was there to measure.
    pub value: Option<f64>,
    /// What `value` measures.
    pub unit: &'static str,
    /// Its performance band.
    pub band: Option<String>,
    /// What it was computed over, in words.
    pub basis: String,
}

/// One week of the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Week {
    /// Its Monday, 00:00 UTC, ms.
    pub start: i64,
    /// Production deploys that reached production.
    pub deploys: usize,
    /// Of them, failed in production.
    pub failed: usize,
    /// Median lead time, hours.
    pub lead_time_hours: Option<f64>,
}

/// The DORA metrics over a period.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dora {
    /// From, ms (inclusive).
    pub from: i64,
    /// To, ms (exclusive).
    pub to: i64,
    /// Deploys per day.
    pub deployment_frequency: Metric,
    /// Median hours from commit to production.
    pub lead_time: Metric,
    /// Failed over all production deploys.
    pub change_failure_rate: Metric,
    /// Median hours to recover from a failed deploy.
    pub recovery_time: Metric,
    /// Hotfixes over all production deploys.
    pub rework_rate: Metric,
    /// Per week, oldest first.
    pub weekly: Vec<Week>,
    /// Where the bands come from.
    pub bands_source: String,
}

/// What DORA metrics are computed from.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// The deploys of the services asked about, from `from` on (the ones
    /// after `to` tell which deploys were followed by a fix).
    pub deploys: &'a [LoggedDeploy],
    /// Incidents (those naming deploys as a cause matter).
    pub incidents: &'a [Incident],
    /// Which environments are production.
    pub production: &'a [String],
    /// From, ms.
    pub from: i64,
    /// To, ms.
    pub to: i64,
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// What happened to one production deploy.
struct Outcome<'a> {
    deploy: &'a LoggedDeploy,
    failed: bool,
    /// Hours to recover, when known.
    recovery_hours: Option<f64>,
    /// Hours from commit, one per commit it first shipped.
    lead_hours: Vec<f64>,
}

fn outcomes<'a>(i: &Inputs<'a>) -> Vec<Outcome<'a>> {
    let mut prod: Vec<&LoggedDeploy> = i
        .deploys
        .iter()
        .filter(|d| i.production.contains(&d.environment) && d.status != "failed")
        .collect();
    prod.sort_by_key(|d| (d.at, d.id));
    let mut caused: HashMap<i64, Vec<&Incident>> = HashMap::new();
    for inc in i.incidents {
        for d in &inc.caused_by {
            caused.entry(*d).or_default().push(inc);
        }
    }
    let mut shipped: HashSet<&str> = HashSet::new();
    let mut out = Vec::new();
    for (n, d) in prod.iter().enumerate() {
        let lead_hours: Vec<f64> = d
            .commits
            .iter()
            .filter(|(sha, _)| shipped.insert(sha.as_str()))
            .filter_map(|(_, t)| t.map(|t| (d.at - t).max(0) as f64 / HOUR_MS))
            .collect();
        if d.at < i.from || d.at >= i.to {
            continue;
        }
        let next = prod[n + 1..].iter().find(|x| x.service == d.service);
        let fixed_by = next.filter(|x| x.rollback || x.hotfix);
        let incidents = caused.get(&d.id).map(Vec::as_slice).unwrap_or(&[]);
        let failed = d.status == "rolled_back" || fixed_by.is_some() || !incidents.is_empty();
        let from_incident = incidents
            .iter()
            .filter_map(|inc| end_of(inc).map(|end| (end - start_of(inc)).max(0)))
            .max();
        let recovery_ms = from_incident.or_else(|| fixed_by.map(|x| x.at - d.at));
        out.push(Outcome {
            deploy: d,
            failed,
            recovery_hours: if failed {
                recovery_ms.map(|ms| ms as f64 / HOUR_MS)
            } else {
                None
            },
            lead_hours,
        });
    }
    out
}

/// How long after a period deploys are read, to see whether its last
/// deploys were rolled back or hotfixed.
pub const FOLLOW_UP_MS: i64 = 7 * DAY_MS;

/// The metrics of `services` (all when `None`) over `[from, to)`, read
/// from the event log and the incidents: deploys from one period before
/// `from` (to know which commits already shipped) to [`FOLLOW_UP_MS`]
/// after `to`.
pub fn from_log(
    log: &dyn crate::events::EventLog,
    incidents: &dyn crate::incident::IncidentRepository,
    services: Option<&[String]>,
    (from, to): (i64, i64),
    settings: &crate::settings::Settings,
) -> nines_alerting::repo::RepoResult<Dora> {
    let targets: Vec<Option<String>> = match services {
        Some(list) => list.iter().cloned().map(Some).collect(),
        None => vec![None],
    };
    let mut deploys = Vec::new();
    for service in targets {
        let query = crate::events::EventQuery {
            service,
            kinds: vec!["deploy".into()],
            from: Some(from - (to - from)),
            to: Some(to + FOLLOW_UP_MS),
            // Bounded by the period: every deploy in it counts.
            limit: usize::MAX,
            ..Default::default()
        };
        deploys.extend(log.events(&query)?.iter().filter_map(LoggedDeploy::from_event));
    }
    let caused: Vec<Incident> = incidents
        .incidents()?
        .into_iter()
        .filter(|i| !i.caused_by.is_empty())
        .collect();
    Ok(compute(
        &Inputs {
            deploys: &deploys,
            incidents: &caused,
            production: &settings.production,
            from,
            to,
        },
        &settings.bands,
    ))
}

/// Monday 00:00 UTC of the week holding `ms`.
fn week_of(ms: i64) -> i64 {
    // 1970-01-01 was a Thursday: Mondays fall 4 days later modulo 7.
    let monday0 = 4 * DAY_MS;
    ms - (ms - monday0).rem_euclid(7 * DAY_MS)
}

/// Computes the metrics over `[from, to)`.
pub fn compute(i: &Inputs<'_>, bands: &Bands) -> Dora {
    let all = outcomes(i);
    let days = ((i.to - i.from) as f64 / DAY_MS as f64).max(1.0 / 24.0);
    let n = all.len();
    let failed: Vec<&Outcome> = all.iter().filter(|o| o.failed).collect();
    let hotfixes = all.iter().filter(|o| o.deploy.hotfix).count();
    let leads: Vec<f64> = all.iter().flat_map(|o| o.lead_hours.iter().copied()).collect();
    let recoveries: Vec<f64> = failed.iter().filter_map(|o| o.recovery_hours).collect();
    let ratio = |k: usize| (n > 0).then(|| k as f64 / n as f64);
    let metric = |name: &str, value: Option<f64>, unit: &'static str, basis: String| Metric {
        band: value.and_then(|v| bands.band(name, v)),
        value,
        unit,
        basis,
    };
    let lead_count = leads.len();
    let recovery_count = recoveries.len();
    let mut weekly = Vec::new();
    let mut w = week_of(i.from);
    while w < i.to {
        let in_week: Vec<&Outcome> = all.iter().filter(|o| week_of(o.deploy.at) == w).collect();
        weekly.push(Week {
            start: w,
            deploys: in_week.len(),
            failed: in_week.iter().filter(|o| o.failed).count(),
            lead_time_hours: median(in_week.iter().flat_map(|o| o.lead_hours.iter().copied()).collect()),
        });
        w += 7 * DAY_MS;
    }
    Dora {
        from: i.from,
        to: i.to,
        deployment_frequency: metric(
            "deploymentFrequency",
            Some(n as f64 / days),
            "deploys per day",
            format!("{n} production deploys over {days:.1} days"),
        ),
        lead_time: metric(
            "leadTime",
            median(leads),
            "hours",
            format!("median over {lead_count} commits"),
        ),
        change_failure_rate: metric(
            "changeFailureRate",
            ratio(failed.len()),
            "ratio",
            format!("{} of {n} production deploys failed", failed.len()),
        ),
        recovery_time: metric(
            "recoveryTime",
            median(recoveries),
            "hours",
            format!("median over {recovery_count} failed deploys with a recovery"),
        ),
        rework_rate: Metric {
            value: ratio(hotfixes),
            unit: "ratio",
            band: None,
            basis: format!("{hotfixes} of {n} production deploys were hotfixes (the report publishes no bands for it)"),
        },
        weekly,
        bands_source: bands.source.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::NewEvent;
    use crate::incident::{Milestone, Severity, State};
    use serde_json::json;

    const H: i64 = 3_600_000;
    /// Monday 2026-11-02 00:00 UTC.
    const MON: i64 = 1_793_577_600_000;

    fn rfc(ms: i64) -> String {
        jiff::Timestamp::from_millisecond(ms).unwrap().to_string()
    }

    fn deploy(id: i64, at: i64, env: &str, status: &str, flags: (bool, bool), commits: &[(&str, i64)]) -> LoggedDeploy {
        let e = Event {
            id,
            event: NewEvent {
                at,
                kind: "deploy".into(),
                service: Some("checkout".into()),
                actor: None,
                payload: json!({
                    "environment": env,
                    "status": status,
                    "rollback": flags.0,
                    "hotfix": flags.1,
                    "commits": commits.iter().map(|(s, t)| json!({"sha": s, "committedAt": rfc(*t)})).collect::<Vec<_>>(),
                }),
            },
        };
        LoggedDeploy::from_event(&e).unwrap()
    }

    /// Two weeks from Monday 2 November 2026. Worked out by hand:
    ///
    /// | id | when            | env     | status      | commits (committed)          |
    /// |----|-----------------|---------|-------------|------------------------------|
    /// | 1  | Mon 10:00       | prod    | success     | a (Sun 10:00), b (Mon 08:00) |
    /// | 2  | Mon 12:00       | staging | success     | c                            |
    /// | 3  | Tue 10:00       | prod    | success     | c (Mon 22:00), a (again)     |
    /// | 4  | Tue 11:00       | prod    | success, rollback            |             |
    /// | 5  | Wed 10:00       | prod    | failed      | d                            |
    /// | 6  | Thu 10:00       | prod    | success     | e (Wed 10:00)                |
    /// | 7  | Mon+7 10:00     | prod    | rolled_back | f (Mon+7 04:00)              |
    /// | 8  | Tue+7 10:00     | prod    | success     | g (Mon+7 10:00)              |
    /// | 9  | Tue+7 16:00     | prod    | success, hotfix | h (Tue+7 14:00)          |
    ///
    /// An incident caused by deploy 6 ran Thu 10:30 to Thu 13:30.
    ///
    /// Production deploys that reached production: 1, 3, 4, 6, 7, 8, 9 (7).
    /// Failed: 3 (rolled back by 4), 6 (caused the incident), 7 (rolled
    /// back), 8 (hotfixed by 9): 4 of 7.
    /// Lead times: a 24 h, b 2 h, c 12 h, e 24 h, f 6 h, g 24 h, h 2 h;
    /// sorted 2 2 6 12 24 24 24: median 12 h.
    /// Recovery: 3 → 4 is 1 h; 6 → incident 3 h; 7 none known; 8 → 9 is 6 h:
    /// median of 1, 3, 6 = 3 h.
    /// Frequency: 7 deploys / 14 days = 0.5 a day (high).
    /// Rework: 1 hotfix of 7.
    #[test]
    fn dora_over_a_fixed_log_matches_the_hand_worked_answers() {
        let deploys = vec![
            deploy(
                1,
                MON + 10 * H,
                "production",
                "success",
                (false, false),
                &[("a", MON - 14 * H), ("b", MON + 8 * H)],
            ),
            deploy(
                2,
                MON + 12 * H,
                "staging",
                "success",
                (false, false),
                &[("c", MON + 22 * H)],
            ),
            deploy(
                3,
                MON + 34 * H,
                "production",
                "success",
                (false, false),
                &[("c", MON + 22 * H), ("a", MON - 14 * H)],
            ),
            deploy(4, MON + 35 * H, "production", "success", (true, false), &[]),
            deploy(
                5,
                MON + 58 * H,
                "production",
                "failed",
                (false, false),
                &[("d", MON + 50 * H)],
            ),
            deploy(
                6,
                MON + 82 * H,
                "production",
                "success",
                (false, false),
                &[("e", MON + 58 * H)],
            ),
            deploy(
                7,
                MON + 178 * H,
                "production",
                "rolled_back",
                (false, false),
                &[("f", MON + 172 * H)],
            ),
            deploy(
                8,
                MON + 202 * H,
                "production",
                "success",
                (false, false),
                &[("g", MON + 178 * H)],
            ),
            deploy(
                9,
                MON + 208 * H,
                "production",
                "success",
                (false, true),
                &[("h", MON + 206 * H)],
            ),
        ];
        let incident = Incident {
            id: 1,
            title: "checkout down".into(),
            severity: Severity::Sev2,
            state: State::Resolved,
            services: vec!["checkout".into()],
            commander: None,
            communications: None,
            scribe: None,
            pages: vec![],
            milestones: vec![
                Milestone {
                    state: State::Triage,
                    at: MON + 82 * H + H / 2,
                },
                Milestone {
                    state: State::Resolved,
                    at: MON + 85 * H + H / 2,
                },
            ],
            status_update: None,
            started_at: None,
            caused_by: vec![6],
            declared_at: MON + 82 * H + H / 2,
            declared_by: "ana".into(),
            updated_at: MON + 85 * H + H / 2,
        };
        let production = vec!["production".to_string()];
        let d = compute(
            &Inputs {
                deploys: &deploys,
                incidents: &[incident],
                production: &production,
                from: MON,
                to: MON + 14 * 24 * H,
            },
            &Bands::shipped(),
        );
        assert_eq!(d.deployment_frequency.value, Some(0.5));
        assert_eq!(d.deployment_frequency.band.as_deref(), Some("high"));
        assert_eq!(d.lead_time.value, Some(12.0));
        assert_eq!(d.lead_time.band.as_deref(), Some("elite"));
        assert_eq!(d.change_failure_rate.value, Some(4.0 / 7.0));
        assert_eq!(d.change_failure_rate.band.as_deref(), Some("low"));
        assert_eq!(d.recovery_time.value, Some(3.0));
        assert_eq!(d.recovery_time.band.as_deref(), Some("high"));
        assert_eq!(d.rework_rate.value, Some(1.0 / 7.0));
        assert_eq!(
            d.weekly
                .iter()
                .map(|w| (w.deploys, w.failed, w.lead_time_hours))
                .collect::<Vec<_>>(),
            [(4, 2, Some(18.0)), (3, 2, Some(6.0))]
        );
    }

    #[test]
    fn bands_are_data_and_checked() {
        let b = Bands::shipped();
        assert_eq!(b.band("deploymentFrequency", 3.0).as_deref(), Some("elite"));
        assert_eq!(b.band("deploymentFrequency", 0.01).as_deref(), Some("low"));
        assert_eq!(b.band("leadTime", 100.0).as_deref(), Some("high"));
        assert_eq!(b.band("changeFailureRate", 0.04).as_deref(), Some("elite"));
        assert!(Bands::parse(r#"{"source":"x","metrics":{}}"#)
            .unwrap_err()
            .contains("deploymentFrequency is missing"));
    }
}
