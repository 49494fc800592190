//! Attainment and budget spent per past period (calendar periods, or
//! back-to-back rolling windows ending at the last evaluated minute).

use serde::Serialize;

use crate::budget::BudgetUse;
use crate::repo::{Cumulative, GroupLabels, SloRepository};
use crate::rollup::MINUTE_MS;
use crate::spec::{Budgeting, Slo};
use crate::status::{events, rfc3339, window_at, EventCounts};

/// An SLO as last evaluated: what history needs to read its rollups.
#[derive(Debug, Clone)]
pub struct SloHandle {
    /// The definition.
    pub slo: Slo,
    /// Its instances as `(store id, labels)`.
    pub groups: Vec<(i64, GroupLabels)>,
    /// The last evaluated minute.
    pub through: Option<i64>,
}

/// One instance over one period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodGroup {
    /// The instance.
    pub labels: GroupLabels,
    /// Events in the period.
    pub events: EventCounts,
    /// Attainment; `null` without events.
    pub sli: Option<f64>,
    /// Share of the period's budget spent (bad slices for timeslice SLOs).
    pub budget_consumed_ratio: f64,
    /// Whether the objective was met (`null` without events).
    pub met: Option<bool>,
}

/// One past (or the current) period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeriodReport {
    /// RFC 3339, exclusive.
    pub start: String,
    /// RFC 3339, inclusive.
    pub end: String,
    /// False for the period still running.
    pub complete: bool,
    /// Per instance.
    pub groups: Vec<PeriodGroup>,
}

/// Up to `periods` periods, newest first, stopping before the first with
/// no rollups at all.
pub fn history(repo: &dyn SloRepository, h: &SloHandle, periods: usize) -> crate::Result<Vec<PeriodReport>> {
    let Some(k) = h.through else {
        return Ok(Vec::new());
    };
    let slo = &h.slo;
    let mut out = Vec::new();
    let current = window_at(&slo.window, k)?;
    let mut period = crate::window::Period {
        start: current.start,
        end: match slo.window {
            crate::window::Window::Calendar { .. } => slo.window.period_at(k * MINUTE_MS - 1)?.end,
            crate::window::Window::Rolling { .. } => current.end,
        },
    };
    while out.len() < periods {
        let end = period.end.min(k * MINUTE_MS);
        let mut groups = Vec::new();
        let mut anything = false;
        for (id, labels) in &h.groups {
            let at_end = repo.cumulative_at(*id, end.div_euclid(MINUTE_MS))?;
            let at_start = repo.cumulative_at(*id, period.start.div_euclid(MINUTE_MS))?;
            anything |= at_end != Cumulative::default();
            let d = at_end.since(&at_start);
            let ev = events(d);
            let (sli, consumed) = match slo.budgeting {
                Budgeting::Occurrences => (ev.ratio(), BudgetUse::of(ev, slo.objective).consumed_fraction),
                Budgeting::Timeslices { slice_ms, .. } => {
                    let slices = (period.end - period.start) / slice_ms;
                    let elapsed = (end - period.start) / slice_ms;
                    let sli = (ev.total > 0.0 && elapsed > 0).then(|| 1.0 - d.bad_slices as f64 / elapsed as f64);
                    let allowed = slices as f64 * slo.objective.budget();
                    (
                        sli,
                        if allowed > 0.0 {
                            d.bad_slices as f64 / allowed
                        } else {
                            0.0
                        },
                    )
                }
            };
            groups.push(PeriodGroup {
                labels: labels.clone(),
                events: EventCounts {
                    good: ev.good,
                    bad: ev.bad(),
                    total: ev.total,
                },
                sli,
                budget_consumed_ratio: consumed,
                met: sli.map(|s| s >= slo.objective.target()),
            });
        }
        if !anything {
            break;
        }
        out.push(PeriodReport {
            start: rfc3339(period.start),
            end: rfc3339(period.end),
            complete: period.end <= k * MINUTE_MS,
            groups,
        });
        period = slo.window.previous(period)?;
    }
    Ok(out)
}

/// What one instance spent between two times.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Burn {
    /// The instance.
    pub labels: GroupLabels,
    /// Bad events (bad slices for timeslice SLOs) in the range.
    pub bad: f64,
    /// All events (slices) in the range.
    pub total: f64,
    /// Share of the error budget of the window ending at `end` spent in
    /// the range.
    pub budget_consumed_ratio: f64,
}

/// What each instance spent between `start_ms` and `end_ms` (rounded out
/// to whole minutes, read up to the last evaluated minute): the error
/// budget an incident burnt.
pub fn burnt_between(repo: &dyn SloRepository, h: &SloHandle, start_ms: i64, end_ms: i64) -> crate::Result<Vec<Burn>> {
    let Some(through) = h.through else {
        return Ok(Vec::new());
    };
    let slo = &h.slo;
    let first = start_ms.div_euclid(MINUTE_MS) - 1;
    let last = ((end_ms + MINUTE_MS - 1).div_euclid(MINUTE_MS)).min(through);
    if last <= first {
        return Ok(Vec::new());
    }
    let window = window_at(&slo.window, last)?;
    let window_start = window.start.div_euclid(MINUTE_MS);
    let mut out = Vec::new();
    for (id, labels) in &h.groups {
        let at_end = repo.cumulative_at(*id, last)?;
        let d = at_end.since(&repo.cumulative_at(*id, first)?);
        let in_window = at_end.since(&repo.cumulative_at(*id, window_start)?);
        let (bad, total, allowed) = match slo.budgeting {
            Budgeting::Occurrences => {
                let ev = events(d);
                (ev.bad(), ev.total, events(in_window).total * slo.objective.budget())
            }
            Budgeting::Timeslices { slice_ms, .. } => {
                let slices = ((last - first) * MINUTE_MS / slice_ms) as f64;
                let window_slices = (slo.window.length_at(window.end - 1)? / slice_ms) as f64;
                (d.bad_slices as f64, slices, window_slices * slo.objective.budget())
            }
        };
        out.push(Burn {
            labels: labels.clone(),
            bad,
            total,
            budget_consumed_ratio: if allowed > 0.0 { bad / allowed } else { 0.0 },
        });
    }
    Ok(out)
}
