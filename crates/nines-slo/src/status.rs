//! An SLO's status at one evaluated minute, from cumulative rollups: every
//! window is the difference of two rows.

use serde::Serialize;

use crate::budget::{burn_rate, time_to_exhaustion, BudgetUse, Events, TimeBudget};
use crate::repo::{Cumulative, GroupLabels, RepoResult};
use crate::rollup::MINUTE_MS;
use crate::spec::{Budgeting, Slo};
use crate::window::{Period, Window};

/// The windows burn rates are reported over, as `(name, minutes)`.
pub const BURN_WINDOWS: [(&str, i64); 7] = [
    ("5m", 5),
    ("30m", 30),
    ("1h", 60),
    ("2h", 120),
    ("6h", 360),
    ("1d", 1440),
    ("3d", 4320),
];

/// The window the exhaustion projection takes "the current burn" from.
pub const PROJECTION_WINDOW: &str = "1h";

/// How an SLO instance is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// No events in the window.
    NoData,
    /// Budget left and nothing burning fast.
    Healthy,
    /// Budget below the warning level, or a burn-rate alert firing.
    Warning,
    /// No budget left.
    Exhausted,
}

impl State {
    /// Its JSON word.
    pub fn name(self) -> &'static str {
        match self {
            State::NoData => "no_data",
            State::Healthy => "healthy",
            State::Warning => "warning",
            State::Exhausted => "exhausted",
        }
    }
}

/// Events in a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct EventCounts {
    /// Good events.
    pub good: f64,
    /// Bad events.
    pub bad: f64,
    /// All events.
    pub total: f64,
}

/// Events a maintenance window kept out of the budget.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ExcludedCounts {
    /// All excluded events.
    pub total: f64,
    /// Of those, bad ones.
    pub bad: f64,
}

/// One occurrence of a maintenance window, shown with the SLOs of its
/// service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MaintenanceOccurrence {
    /// The window's id (for `DELETE /api/v1/maintenance/{id}`).
    pub id: i64,
    /// Its name, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Why.
    pub reason: String,
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// Whether the evaluation time is inside it.
    pub active: bool,
}

/// The budget of the window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct BudgetStatus {
    /// What the counts are in: `events`, or `slices` for timeslice SLOs.
    pub unit: &'static str,
    /// Bad events (slices) allowed.
    pub total: f64,
    /// Bad events (slices) so far.
    pub consumed: f64,
    /// Still allowed (negative once overspent).
    pub remaining: f64,
    /// `consumed / total`.
    pub consumed_ratio: f64,
    /// `1 − consumed_ratio`.
    pub remaining_ratio: f64,
    /// Timeslice SLOs: the budget as time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_seconds: Option<f64>,
    /// Timeslice SLOs: time in bad slices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consumed_seconds: Option<f64>,
    /// Timeslice SLOs: bad time still allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<f64>,
}

/// The burn rate over one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BurnRate {
    /// `5m` … `3d`.
    pub window: &'static str,
    /// Error ratio ÷ budget; `null` without traffic.
    pub rate: Option<f64>,
}

/// When the budget runs out at the current burn.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Exhaustion {
    /// RFC 3339.
    pub at: String,
    /// Seconds from the evaluation time.
    pub in_seconds: f64,
    /// The burn-rate window it extrapolates.
    pub burn_window: &'static str,
}

/// One instance of an SLO (one value of its `group_by` labels).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStatus {
    /// The group's label values (`{}` without `group_by`).
    pub labels: GroupLabels,
    /// The verdict.
    pub state: State,
    /// Events over the window.
    pub events: EventCounts,
    /// Events over the window left out for maintenance.
    pub excluded: ExcludedCounts,
    /// Attainment over the window: good ÷ total (good slices ÷ slices for
    /// timeslice SLOs); `null` without events.
    pub sli: Option<f64>,
    /// The budget.
    pub budget: BudgetStatus,
    /// Burn rates over 5m … 3d.
    pub burn_rates: Vec<BurnRate>,
    /// `null` when nothing burns.
    pub exhaustion: Option<Exhaustion>,
    /// Alerts firing for this instance.
    pub alerts: Vec<String>,
}

/// What an SLO is judged over at the evaluation time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodStatus {
    /// RFC 3339, exclusive.
    pub start: String,
    /// RFC 3339, inclusive.
    pub end: String,
}

/// An SLO's status.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SloStatus {
    /// The service.
    pub service: String,
    /// The SLO's name.
    pub slo: String,
    /// For people.
    pub description: String,
    /// The owning team.
    pub owner: String,
    /// Extra labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Percent.
    pub objective: f64,
    /// `rolling 30d`, `calendar month (Europe/Berlin)`.
    pub window: String,
    /// `occurrences` or `timeslices`.
    pub budgeting: &'static str,
    /// The window at the evaluation time.
    pub period: PeriodStatus,
    /// RFC 3339: the end of the last minute evaluated.
    pub evaluated_at: String,
    /// The worst state of its instances.
    pub state: State,
    /// One entry per instance.
    pub groups: Vec<GroupStatus>,
    /// The service's maintenance windows in this period and the next
    /// seven days.
    pub maintenance: Vec<MaintenanceOccurrence>,
    /// What evaluation noticed (e.g. a latency threshold that is no
    /// bucket bound) or could not do.
    pub notes: Vec<String>,
}

/// RFC 3339 for a Unix millisecond.
pub fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

/// The window an SLO is judged over when minute `k` was the last
/// evaluated: as `(start, end]` in ms.
pub fn window_at(window: &Window, k: i64) -> crate::Result<Period> {
    let end = k * MINUTE_MS;
    match window {
        Window::Rolling { length_ms } => Ok(Period {
            start: end - length_ms,
            end,
        }),
        Window::Calendar { .. } => {
            let p = window.period_at(end - 1)?;
            Ok(Period { start: p.start, end })
        }
    }
}

/// The burn rate of the events between two cumulative rows over
/// `minutes`.
fn burn_between(slo: &Slo, now: &Cumulative, then: &Cumulative, minutes: i64) -> Option<f64> {
    let d = now.since(then);
    match slo.budgeting {
        Budgeting::Occurrences => burn_rate(events(d), slo.objective),
        Budgeting::Timeslices { slice_ms, .. } => {
            let slices = minutes * MINUTE_MS / slice_ms;
            (slices > 0).then(|| d.bad_slices as f64 / slices as f64 / slo.objective.budget())
        }
    }
}

/// Good and total from a difference of rows, bad clamped to the total
/// (bad and total counters are scraped at slightly different times).
pub fn events(d: Cumulative) -> Events {
    Events::new(d.total - d.bad.min(d.total), d.total)
}

/// The status of one instance at minute `k`, whose counts are `now`;
/// `at(m)` answers the counts at the end of an earlier minute `m`.
pub fn group_status(
    slo: &Slo,
    labels: GroupLabels,
    k: i64,
    now: Cumulative,
    at: &dyn Fn(i64) -> RepoResult<Cumulative>,
    warn_below: f64,
    alerts: Vec<String>,
) -> crate::Result<GroupStatus> {
    let period = window_at(&slo.window, k)?;
    let start_minute = period.start.div_euclid(MINUTE_MS);
    let base = at(start_minute)?;
    let in_window = now.since(&base);
    let ev = events(in_window);
    let window_len = slo.window.length_at(period.end - 1)?;
    let (sli, budget) = match slo.budgeting {
        Budgeting::Occurrences => {
            let b = BudgetUse::of(ev, slo.objective);
            (ev.ratio(), budget_status("events", &b, None))
        }
        Budgeting::Timeslices { slice_ms, .. } => {
            let elapsed = (period.end - period.start) / slice_ms;
            let bad = in_window.bad_slices;
            let t = TimeBudget::of(window_len, slice_ms, bad, slo.objective);
            let in_slices = BudgetUse {
                allowed: t.allowed_ms / slice_ms as f64,
                consumed: bad as f64,
                consumed_fraction: t.budget.consumed_fraction,
                remaining_fraction: t.budget.remaining_fraction,
            };
            let sli = (ev.total > 0.0 && elapsed > 0).then(|| 1.0 - bad as f64 / elapsed as f64);
            (sli, budget_status("slices", &in_slices, Some(&t)))
        }
    };
    let mut burn_rates = Vec::with_capacity(BURN_WINDOWS.len());
    for (name, minutes) in BURN_WINDOWS {
        let then = at(k - minutes)?;
        burn_rates.push(BurnRate {
            window: name,
            rate: burn_between(slo, &now, &then, minutes),
        });
    }
    let current = burn_rates
        .iter()
        .find(|b| b.window == PROJECTION_WINDOW)
        .and_then(|b| b.rate)
        .unwrap_or(0.0);
    let exhaustion = if ev.total > 0.0 {
        time_to_exhaustion(budget.remaining_ratio, current, window_len).map(|ms| Exhaustion {
            at: rfc3339(period.end.saturating_add(ms)),
            in_seconds: ms as f64 / 1000.0,
            burn_window: PROJECTION_WINDOW,
        })
    } else {
        None
    };
    let state = if ev.total <= 0.0 {
        State::NoData
    } else if budget.remaining_ratio <= 0.0 {
        State::Exhausted
    } else if budget.remaining_ratio < warn_below || !alerts.is_empty() {
        State::Warning
    } else {
        State::Healthy
    };
    Ok(GroupStatus {
        labels,
        state,
        events: EventCounts {
            good: ev.good,
            bad: ev.bad(),
            total: ev.total,
        },
        excluded: ExcludedCounts {
            total: in_window.excluded,
            bad: in_window.excluded_bad.min(in_window.excluded),
        },
        sli,
        budget,
        burn_rates,
        exhaustion,
        alerts,
    })
}

fn budget_status(unit: &'static str, b: &BudgetUse, time: Option<&TimeBudget>) -> BudgetStatus {
    BudgetStatus {
        unit,
        total: b.allowed,
        consumed: b.consumed,
        remaining: b.remaining(),
        consumed_ratio: b.consumed_fraction,
        remaining_ratio: b.remaining_fraction,
        total_seconds: time.map(|t| t.allowed_ms / 1000.0),
        consumed_seconds: time.map(|t| t.consumed_ms / 1000.0),
        remaining_seconds: time.map(|t| (t.allowed_ms - t.consumed_ms) / 1000.0),
    }
}

/// The series an evaluation writes back to the store, so any PromQL
/// client can chart SLOs: `nines_slo_sli_ratio`,
/// `nines_slo_error_budget_remaining_ratio` and
/// `nines_slo_burn_rate{window}`, labelled with `service`, `slo` and the
/// group's labels. Instances without events write nothing (no NaN).
pub fn status_series(statuses: &[SloStatus]) -> Vec<(Vec<(String, String)>, f64)> {
    let mut out = Vec::new();
    for s in statuses {
        for g in &s.groups {
            let labels = |name: &str, extra: Option<(&str, &str)>| {
                let mut l: Vec<(String, String)> = g.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                l.push(("__name__".into(), name.into()));
                l.push(("service".into(), s.service.clone()));
                l.push(("slo".into(), s.slo.clone()));
                if let Some((k, v)) = extra {
                    l.push((k.into(), v.into()));
                }
                l.sort();
                l
            };
            if let Some(sli) = g.sli {
                out.push((labels("nines_slo_sli_ratio", None), sli));
            }
            if g.events.total > 0.0 && g.budget.remaining_ratio.is_finite() {
                out.push((
                    labels("nines_slo_error_budget_remaining_ratio", None),
                    g.budget.remaining_ratio,
                ));
            }
            for b in &g.burn_rates {
                if let Some(rate) = b.rate.filter(|r| r.is_finite()) {
                    out.push((labels("nines_slo_burn_rate", Some(("window", b.window))), rate));
                }
            }
        }
    }
    out
}
