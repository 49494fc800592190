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
