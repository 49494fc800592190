//! The SLO evaluator: each run rolls every SLO's events up to the last
//! complete minute (catching up on minutes missed while nines was down),
//! commits the rollups, and computes statuses and alerts.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nines_clock::SharedClock;

mod maintenance;

use crate::alerts::{alert_labels, Alert, BURN_ALERT, EXHAUSTED_ALERT, LOW_ALERT};
use crate::budget::slice_is_good;
use crate::history::SloHandle;
use crate::query::MetricsQuery;
use crate::repo::{Cumulative, GroupLabels, RollupRow, SloCommit, SloRepository};
use crate::rollup::{SliReader, MINUTE_MS};
use crate::spec::{Budgeting, Slo};
use crate::status::{
    events, group_status, rfc3339, window_at, GroupStatus, MaintenanceOccurrence, PeriodStatus, SloStatus, State,
};

/// How evaluation runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// A minute is evaluated this long after it ends, so that samples
    /// scraped or sent around its end are in.
    pub delay_ms: i64,
    /// How far back a counter's baseline is looked for.
    pub lookback_ms: i64,
    /// Most minutes read per query while catching up.
    pub span_minutes: i64,
    /// Shortest history a new SLO is rolled up from (its window, and at
    /// least the longest burn-rate window).
    pub min_backfill_ms: i64,
    /// Furthest back a maintenance change rolls SLOs back (the raw
    /// samples' retention: older minutes cannot be counted again).
    pub rewind_limit_ms: Option<i64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            delay_ms: 30_000,
            lookback_ms: 300_000,
            span_minutes: 720,
            min_backfill_ms: 3 * 86_400_000,
            rewind_limit_ms: None,
        }
    }
}

struct TrackedGroup {
    id: i64,
    labels: GroupLabels,
    counts: Cumulative,
    /// Counts at the last slice boundary (timeslice SLOs).
    slice_mark: Cumulative,
}

struct Tracked {
    slo: Slo,
    fingerprint: String,
    id: i64,
    through: Option<i64>,
    reader: SliReader,
    groups: Vec<TrackedGroup>,
    by_labels: HashMap<GroupLabels, usize>,
    /// Firing alerts by rule and group id, with when they started.
    firing: HashMap<(String, i64), i64>,
    error: Option<String>,
}

/// What identifies an SLO's events: when it changes, old rollups are void.
pub fn fingerprint(slo: &Slo) -> String {
    format!("{:?}|{:?}|{:?}", slo.sli, slo.group_by, slo.budgeting)
}

/// The evaluator. Not shared: one task owns it and publishes results.
pub struct Evaluator {
    repo: Arc<dyn SloRepository>,
    query: Arc<dyn MetricsQuery>,
    clock: SharedClock,
    settings: Settings,
    slos: Vec<Tracked>,
    /// Rolled up, not yet committed: `(index into slos, commit)`.
    pending: Vec<(usize, SloCommit)>,
    pending_rows: usize,
    /// Maintenance windows in force; `None` until loaded from the store.
    windows: Option<Vec<crate::maintenance::Applied>>,
    /// Stored windows that could not be applied.
    window_notes: Vec<String>,
}

/// Rows held before a commit while catching up, bounding memory.
const FLUSH_ROWS: usize = 200_000;

/// The outcome of one run.
#[derive(Debug, Clone, Default)]
pub struct Evaluation {
    /// Per SLO, in config order.
    pub statuses: Vec<SloStatus>,
    /// Every firing alert.
    pub alerts: Vec<Alert>,
    /// The minute evaluated through (ms), when anything was.
    pub evaluated_at: Option<i64>,
    /// Per SLO, what reading its history needs.
    pub handles: Vec<SloHandle>,
}

impl Evaluator {
    /// An evaluator with no SLOs yet.
    pub fn new(
        repo: Arc<dyn SloRepository>,
        query: Arc<dyn MetricsQuery>,
        clock: SharedClock,
        settings: Settings,
    ) -> Self {
        Self {
            repo,
            query,
            clock,
            settings,
            slos: Vec::new(),
            pending: Vec::new(),
            pending_rows: 0,
            windows: None,
            window_notes: Vec::new(),
        }
    }

    /// Replaces the SLOs evaluated. An SLO whose events are defined as
    /// before keeps its rollups and in-memory state.
    pub fn set_slos(&mut self, slos: Vec<Slo>) {
        let mut old: HashMap<(String, String), Tracked> = self
            .slos
            .drain(..)
            .map(|t| ((t.slo.service.clone(), t.slo.name.clone()), t))
            .collect();
        for slo in slos {
            let fp = fingerprint(&slo);
            let kept = old
                .remove(&(slo.service.clone(), slo.name.clone()))
                .filter(|t| t.fingerprint == fp && t.error.is_none());
            let tracked = match kept {
                Some(mut t) => {
                    t.slo = slo;
                    t
                }
                None => self.open(slo, fp),
            };
            self.slos.push(tracked);
        }
    }

    fn open(&self, slo: Slo, fingerprint: String) -> Tracked {
        let reader = SliReader::new(&slo.sli, &slo.group_by, self.settings.lookback_ms);
        let mut t = Tracked {
            slo,
            fingerprint,
            id: 0,
            through: None,
            reader,
            groups: Vec::new(),
            by_labels: HashMap::new(),
            firing: HashMap::new(),
            error: None,
        };
        if let Err(e) = load(&*self.repo, &mut t) {
            t.error = Some(e.to_string());
        }
        t
    }

    /// The last minute whose end is at least the delay in the past.
    pub fn due_minute(&self) -> i64 {
        (self.clock.now_millis() - self.settings.delay_ms).div_euclid(MINUTE_MS)
    }

    /// Rolls every SLO up to the due minute and evaluates it there.
    pub fn run(&mut self) -> Evaluation {
        let due = self.due_minute();
        let mut out = Evaluation::default();
        if let Err(e) = self.windows() {
            // Without the windows, counting would put maintenance minutes
            // into the budget for good: wait for the store instead.
            for t in &mut self.slos {
                t.error = Some(format!("reading maintenance windows: {e}"));
            }
        }
        for i in 0..self.slos.len() {
            if self.slos[i].error.take().is_some() {
                // Start again from what the store holds: in-memory counts
                // may be ahead of a commit that failed.
                if let Err(e) = self.reload(i) {
                    self.slos[i].error = Some(e.to_string());
                }
            }
            if self.slos[i].error.is_none() {
                if let Err(e) = self.catch_up(i, due) {
                    self.slos[i].error = Some(e);
                }
            }
        }
        self.flush();
        for i in 0..self.slos.len() {
            let (status, alerts) = self.status_of(i);
            out.alerts.extend(alerts);
            out.statuses.push(status);
            let t = &self.slos[i];
            out.handles.push(SloHandle {
                slo: t.slo.clone(),
                groups: t.groups.iter().map(|g| (g.id, g.labels.clone())).collect(),
                through: t.through,
            });
        }
        out.evaluated_at = self.slos.iter().filter_map(|t| t.through).max().map(|k| k * MINUTE_MS);
        out
    }

    fn reload(&mut self, i: usize) -> crate::Result<()> {
        let repo = self.repo.clone();
        let t = &mut self.slos[i];
        t.reader = SliReader::new(&t.slo.sli, &t.slo.group_by, self.settings.lookback_ms);
        load(&*repo, t)
    }

    fn first_minute(&self, slo: &Slo, due: i64) -> crate::Result<i64> {
        let window_start = window_at(&slo.window, due)?.start;
        let backfill_start = window_start.min(due * MINUTE_MS - self.settings.min_backfill_ms);
        Ok(backfill_start.div_euclid(MINUTE_MS) + 1)
    }

    fn catch_up(&mut self, i: usize, due: i64) -> Result<(), String> {
        let mut next = match self.slos[i].through {
            Some(k) => k + 1,
            None => self.first_minute(&self.slos[i].slo, due).map_err(|e| e.to_string())?,
        };
        while next <= due {
            let last = (next + self.settings.span_minutes - 1).min(due);
            let commit = self.roll_span(i, next, last)?;
            self.pending_rows += commit.rows.len();
            self.pending.push((i, commit));
            if self.pending_rows >= FLUSH_ROWS {
                self.flush();
                if self.slos[i].error.is_some() {
                    return Ok(());
                }
            }
            next = last + 1;
        }
        Ok(())
    }

    /// Commits what the cycle rolled up, in one transaction. If that
    /// fails, the SLOs in it are marked failed and reloaded from the
    /// store on the next run (their in-memory counts ran ahead).
    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let pending = std::mem::take(&mut self.pending);
        self.pending_rows = 0;
        let commits: Vec<SloCommit> = pending.iter().map(|(_, c)| c.clone()).collect();
        if let Err(e) = self.repo.commit_rollups(&commits) {
            for (i, _) in &pending {
                self.slos[*i].error = Some(e.to_string());
            }
        }
    }

    fn roll_span(&mut self, i: usize, first: i64, last: i64) -> Result<SloCommit, String> {
        let query = self.query.clone();
        let repo = self.repo.clone();
        let excluded = self.excluded(&self.slos[i].slo.service, first, last);
        let t = &mut self.slos[i];
        let span = t.reader.read(&*query, first, last)?;
        let mut per_group: Vec<Option<Vec<(f64, f64)>>> = vec![None; t.groups.len()];
        for (labels, counts) in span.groups {
            let idx = match t.by_labels.get(&labels) {
                Some(&idx) => idx,
                None => {
                    let id = repo.add_group(t.id, &labels).map_err(|e| e.to_string())?;
                    t.by_labels.insert(labels.clone(), t.groups.len());
                    t.groups.push(TrackedGroup {
                        id,
                        labels,
                        counts: Cumulative::default(),
                        slice_mark: Cumulative::default(),
                    });
                    per_group.push(None);
                    t.groups.len() - 1
                }
            };
            per_group[idx] = Some(counts);
        }
        let mut rows = Vec::new();
        for minute in first..=last {
            let offset = (minute - first) as usize;
            let boundary = match t.slo.budgeting {
                Budgeting::Timeslices { slice_ms, threshold } => {
                    ((minute * MINUTE_MS) % slice_ms == 0).then_some(threshold)
                }
                Budgeting::Occurrences => None,
            };
            for (g, counts) in t.groups.iter_mut().zip(&per_group) {
                let mut changed = false;
                if let Some(&(total, bad)) = counts.as_ref().and_then(|c| c.get(offset)) {
                    if total != 0.0 || bad != 0.0 {
                        if excluded.get(offset).copied().unwrap_or(false) {
                            g.counts.excluded += total;
                            g.counts.excluded_bad += bad;
                        } else {
                            g.counts.total += total;
                            g.counts.bad += bad;
                        }
                        changed = true;
                    }
                }
                if let Some(threshold) = boundary {
                    if !slice_is_good(events(g.counts.since(&g.slice_mark)), threshold) {
                        g.counts.bad_slices += 1;
                        changed = true;
                    }
                    g.slice_mark = g.counts;
                }
                if changed {
                    rows.push(RollupRow {
                        group: g.id,
                        minute,
                        counts: g.counts,
                    });
                }
            }
        }
        t.through = Some(last);
        Ok(SloCommit {
            slo: t.id,
            through: last,
            rows,
        })
    }

    fn status_of(&mut self, i: usize) -> (SloStatus, Vec<Alert>) {
        let repo = self.repo.clone();
        let maintenance = self.maintenance_shown(i);
        let window_notes = self.window_notes.clone();
        let t = &mut self.slos[i];
        let slo = &t.slo;
        let mut notes: Vec<String> = t.reader.notes.clone();
        notes.extend(window_notes);
        if let Some(e) = &t.error {
            notes.push(format!("evaluation failed: {e}"));
        }
        let k = t
            .through
            .unwrap_or_else(|| self.clock.now_millis().div_euclid(MINUTE_MS));
        let period = window_at(&slo.window, k).ok();
        let warn = slo.alerting.budget_remaining_below.unwrap_or(0.0);
        let mut groups = Vec::new();
        let mut alerts = Vec::new();
        let mut still_firing = HashMap::new();
        if t.through.is_some() {
            for g in &t.groups {
                let at = |m: i64| repo.cumulative_at(g.id, m);
                let status = match group_status(slo, g.labels.clone(), k, g.counts, &at, warn, Vec::new()) {
                    Ok(s) => s,
                    Err(e) => {
                        notes.push(format!("{:?}: {e}", g.labels));
                        continue;
                    }
                };
                let mut firing = group_alerts(slo, g, &status, k, &at);
                for a in &mut firing {
                    let since = *t.firing.get(&(a.rule.clone(), g.id)).unwrap_or(&(k * MINUTE_MS));
                    still_firing.insert((a.rule.clone(), g.id), since);
                    a.active_since_ms = since;
                    a.active_at = rfc3339(since);
                }
                let mut status = status;
                status.alerts = firing.iter().map(|a| a.rule.clone()).collect();
                if !status.alerts.is_empty() && status.state == State::Healthy {
                    status.state = State::Warning;
                }
                alerts.extend(firing);
                groups.push(status);
            }
        }
        t.firing = still_firing;
        groups.sort_by(|a, b| a.labels.cmp(&b.labels));
        let state = groups.iter().map(|g| g.state).max().unwrap_or(State::NoData);
        let status = SloStatus {
            service: slo.service.clone(),
            slo: slo.name.clone(),
            description: slo.description.clone(),
            owner: slo.owner.clone(),
            labels: slo.labels.clone(),
            objective: slo.objective.percent(),
            window: slo.window.describe(),
            budgeting: match slo.budgeting {
                Budgeting::Occurrences => "occurrences",
                Budgeting::Timeslices { .. } => "timeslices",
            },
            period: PeriodStatus {
                start: period.map(|p| rfc3339(p.start)).unwrap_or_default(),
                end: period.map(|p| rfc3339(p.end)).unwrap_or_default(),
            },
            evaluated_at: t.through.map(|k| rfc3339(k * MINUTE_MS)).unwrap_or_default(),
            state,
            groups,
            maintenance,
            notes,
        };
        (status, alerts)
    }

    /// The occurrences of the service's windows from the start of the
    /// SLO's current period to a week after its evaluation time.
    fn maintenance_shown(&self, i: usize) -> Vec<MaintenanceOccurrence> {
        /// Enough for a daily window over a quarter.
        const MOST: usize = 100;
        let t = &self.slos[i];
        let now = t
            .through
            .unwrap_or_else(|| self.clock.now_millis().div_euclid(MINUTE_MS))
            * MINUTE_MS;
        let Ok(period) = window_at(&t.slo.window, now / MINUTE_MS) else {
            return Vec::new();
        };
        let mut out: Vec<MaintenanceOccurrence> = self
            .windows
            .iter()
            .flatten()
            .filter(|w| w.service() == t.slo.service)
            .flat_map(|w| {
                w.occurrences(period.start, now + 7 * 86_400_000)
                    .into_iter()
                    .map(move |(start, end)| MaintenanceOccurrence {
                        id: w.id,
                        name: w.maintenance.spec.name.clone(),
                        reason: w.maintenance.spec.reason.clone(),
                        start: rfc3339(start),
                        end: rfc3339(end),
                        active: start <= now && now < end,
                    })
            })
            .collect();
        out.sort_by(|a, b| a.start.cmp(&b.start));
        out.truncate(MOST);
        out
    }
}

fn load(repo: &dyn SloRepository, t: &mut Tracked) -> crate::Result<()> {
    let stored = repo.open_slo(&t.slo.service, &t.slo.name, &t.fingerprint)?;
    t.id = stored.id;
    t.through = stored.evaluated_through;
    t.groups.clear();
    t.by_labels.clear();
    for g in stored.groups {
        let (counts, slice_mark) = match t.through {
            Some(k) => {
                let counts = repo.cumulative_at(g.id, k)?;
                let mark = match t.slo.budgeting {
                    Budgeting::Timeslices { slice_ms, .. } => {
                        let boundary = (k * MINUTE_MS).div_euclid(slice_ms) * slice_ms / MINUTE_MS;
                        repo.cumulative_at(g.id, boundary)?
                    }
                    Budgeting::Occurrences => counts,
                };
                (counts, mark)
            }
            None => Default::default(),
        };
        t.by_labels.insert(g.labels.clone(), t.groups.len());
        t.groups.push(TrackedGroup {
            id: g.id,
            labels: g.labels,
            counts,
            slice_mark,
        });
    }
    Ok(())
}

fn group_alerts(
    slo: &Slo,
    g: &TrackedGroup,
    status: &GroupStatus,
    k: i64,
    at: &dyn Fn(i64) -> crate::repo::RepoResult<Cumulative>,
) -> Vec<Alert> {
    let mut out = Vec::new();
    let alerting = &slo.alerting;
    let window_len = slo.window.length_at(k * MINUTE_MS - 1).unwrap_or(30 * 86_400_000);
    for rule in alerting.tiers.iter().filter(|r| r.enabled) {
        let tier = &rule.tier;
        let (Ok(long_base), Ok(short_base)) = (at(k - tier.long_ms / MINUTE_MS), at(k - tier.short_ms / MINUTE_MS))
        else {
            continue;
        };
        let long = events(g.counts.since(&long_base));
        let short = events(g.counts.since(&short_base));
        if tier.fires(long, short, slo.objective, window_len, alerting.min_events) {
            let burn = long.error_ratio().unwrap_or(0.0) / slo.objective.budget();
            let mut labels = alert_labels(slo, &g.labels, alerting, BURN_ALERT);
            labels.extend(rule.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
            labels.insert("severity".into(), tier.severity.name().into());
            labels.insert("long_window".into(), crate::format_duration(tier.long_ms));
            labels.insert("short_window".into(), crate::format_duration(tier.short_ms));
            let factor = tier.factor(window_len);
            out.push(alert(
                labels,
                rule.name,
                burn,
                format!("{} is burning its error budget {burn:.1}x too fast", slo.id()),
                format!(
                    "Over the last {} the error budget burned at {burn:.2}x (the {} tier fires above {factor:.2}x in both {} and {}); at this rate {:.0}% of the {} budget is gone in {}.",
                    crate::format_duration(tier.long_ms),
                    rule.name,
                    crate::format_duration(tier.long_ms),
                    crate::format_duration(tier.short_ms),
                    tier.budget_share * 100.0,
                    slo.window.describe(),
                    crate::format_duration(tier.long_ms),
                ),
            ));
        }
    }
    let remaining = status.budget.remaining_ratio;
    let budget_alert = if status.events.total <= 0.0 {
        None
    } else if alerting.budget_exhausted && remaining <= 0.0 {
        Some((
            EXHAUSTED_ALERT,
            "budget_exhausted",
            format!("{} has spent its error budget", slo.id()),
            format!(
                "{:.1}% of the error budget of the {} window is spent.",
                status.budget.consumed_ratio * 100.0,
                slo.window.describe()
            ),
        ))
    } else {
        alerting.budget_remaining_below.filter(|b| remaining < *b).map(|below| {
            (
                LOW_ALERT,
                "budget_remaining_below",
                format!("{} has {:.1}% of its error budget left", slo.id(), remaining * 100.0),
                format!(
                    "Less than {:.0}% of the error budget of the {} window remains.",
                    below * 100.0,
                    slo.window.describe()
                ),
            )
        })
    };
    if let Some((alertname, rule, summary, description)) = budget_alert {
        let mut labels = alert_labels(slo, &g.labels, alerting, alertname);
        labels.insert("severity".into(), "ticket".into());
        out.push(alert(labels, rule, remaining, summary, description));
    }
    out
}

fn alert(labels: BTreeMap<String, String>, rule: &str, value: f64, summary: String, description: String) -> Alert {
    Alert {
        labels,
        annotations: BTreeMap::from([
            ("summary".to_string(), summary),
            ("description".to_string(), description),
        ]),
        state: "firing",
        active_at: String::new(),
        value: nines_promql::format_value(value),
        rule: rule.to_string(),
        active_since_ms: 0,
    }
}
