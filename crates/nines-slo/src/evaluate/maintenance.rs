//! Maintenance windows in evaluation: recording, ending and syncing them
//! from the config, and rolling affected SLOs back so that minutes already
//! counted are counted again under the new windows.

use std::collections::{BTreeMap, HashMap};

use super::Evaluator;
use crate::maintenance::{excluded_minutes, Applied, Maintenance};
use crate::repo::{MaintenanceChange, NewWindow, StoredWindow, WindowEnd};
use crate::rollup::MINUTE_MS;
use crate::Error;

/// Who config-defined windows are recorded and withdrawn by.
const CONFIG: &str = "config";

impl Evaluator {
    /// The windows in force (loading them on first use).
    pub(super) fn windows(&mut self) -> crate::Result<&[Applied]> {
        if self.windows.is_none() {
            let mut applied = Vec::new();
            self.window_notes.clear();
            for stored in self.repo.maintenance_windows()? {
                match Applied::from_stored(&stored) {
                    Some(Ok(a)) => applied.push(a),
                    Some(Err(note)) => self.window_notes.push(note),
                    None => {}
                }
            }
            self.windows = Some(applied);
        }
        Ok(self.windows.as_deref().unwrap_or_default())
    }

    /// Which of minutes `first..=last` a window of `service` covers.
    pub(super) fn excluded(&self, service: &str, first: i64, last: i64) -> Vec<bool> {
        let from = (first - 1) * MINUTE_MS;
        let to = last * MINUTE_MS;
        let occurrences: Vec<(i64, i64)> = self
            .windows
            .iter()
            .flatten()
            .filter(|w| w.service() == service)
            .flat_map(|w| w.occurrences(from, to))
            .collect();
        excluded_minutes(&occurrences, first, last)
    }

    /// Records a window (durably) and rolls back what it covers.
    pub fn add_maintenance(&mut self, maintenance: Maintenance, by: &str) -> crate::Result<StoredWindow> {
        self.windows()?;
        let change = MaintenanceChange {
            rewind: self.rewinds(&[Applied {
                id: 0,
                maintenance: maintenance.clone(),
                cut_ms: None,
            }]),
            add: vec![NewWindow {
                source: "api".into(),
                spec: maintenance.spec,
                created_by: by.to_string(),
                created_at_ms: self.clock.now_millis(),
            }],
            end: Vec::new(),
        };
        let ids = self.apply(change)?;
        self.stored_window(ids.first().copied().unwrap_or_default())
    }

    /// Ends a window now, or withdraws it so that it never counted (its
    /// events are counted again).
    pub fn end_maintenance(&mut self, id: i64, by: &str, withdraw: bool) -> crate::Result<StoredWindow> {
        self.windows()?;
        let stored = self.stored_window(id)?;
        if stored.source == CONFIG {
            return Err(Error::ConfigWindow(id));
        }
        if stored.withdrawn {
            return Err(Error::WithdrawnWindow(id));
        }
        let now = self.clock.now_millis();
        let at_ms = stored.ended_at_ms.map_or(now, |e| e.min(now));
        let touched: Vec<Applied> = match Applied::from_stored(&stored) {
            Some(Ok(mut a)) if !withdraw => {
                // Only what lay after the new end changes.
                a.maintenance.schedule = crate::maintenance::Schedule::Once {
                    start_ms: at_ms,
                    end_ms: a.cut_ms.unwrap_or(i64::MAX),
                };
                a.cut_ms = None;
                vec![a]
            }
            Some(Ok(a)) => vec![a],
            _ => Vec::new(),
        };
        let change = MaintenanceChange {
            rewind: self.rewinds(&touched),
            add: Vec::new(),
            end: vec![WindowEnd {
                id,
                at_ms,
                by: by.to_string(),
                withdrawn: withdraw,
            }],
        };
        self.apply(change)?;
        self.stored_window(id)
    }

    /// Makes the config's windows the recorded config windows: new ones
    /// are added, changed ones replaced, removed ones withdrawn (each
    /// change kept in the audit trail).
    pub fn set_config_maintenance(&mut self, desired: Vec<Maintenance>) -> crate::Result<()> {
        self.windows()?;
        let stored = self.repo.maintenance_windows()?;
        let mut current: BTreeMap<(String, String), &StoredWindow> = stored
            .iter()
            .filter(|w| w.source == CONFIG && !w.withdrawn)
            .map(|w| ((w.spec.service.clone(), w.spec.name.clone().unwrap_or_default()), w))
            .collect();
        let now = self.clock.now_millis();
        let mut change = MaintenanceChange::default();
        let mut touched = Vec::new();
        let withdraw = |w: &StoredWindow, change: &mut MaintenanceChange, touched: &mut Vec<Applied>| {
            change.end.push(WindowEnd {
                id: w.id,
                at_ms: now,
                by: CONFIG.into(),
                withdrawn: true,
            });
            if let Some(Ok(a)) = Applied::from_stored(w) {
                touched.push(a);
            }
        };
        for m in desired {
            let key = (m.spec.service.clone(), m.spec.name.clone().unwrap_or_default());
            match current.remove(&key) {
                Some(w) if w.spec == m.spec => continue,
                Some(w) => withdraw(w, &mut change, &mut touched),
                None => {}
            }
            change.add.push(NewWindow {
                source: CONFIG.into(),
                spec: m.spec.clone(),
                created_by: CONFIG.into(),
                created_at_ms: now,
            });
            touched.push(Applied {
                id: 0,
                maintenance: m,
                cut_ms: None,
            });
        }
        for w in current.into_values() {
            withdraw(w, &mut change, &mut touched);
        }
        if change.add.is_empty() && change.end.is_empty() {
            return Ok(());
        }
        change.rewind = self.rewinds(&touched);
        self.apply(change).map(|_| ())
    }

    fn stored_window(&self, id: i64) -> crate::Result<StoredWindow> {
        self.repo
            .maintenance_windows()?
            .into_iter()
            .find(|w| w.id == id)
            .ok_or(Error::UnknownWindow(id))
    }

    /// Where each service's SLOs must be rolled back to for `touched`
    /// windows to be applied to minutes already counted: the minute before
    /// the first one a window covers, no earlier than the SLO's current
    /// window (and burn-rate history) and the rewind limit.
    fn rewinds(&self, touched: &[Applied]) -> Vec<(String, i64)> {
        let mut out: HashMap<String, i64> = HashMap::new();
        for t in &self.slos {
            let Some(through) = t.through else { continue };
            let Ok(mut bound) = self.first_minute(&t.slo, through) else {
                continue;
            };
            if let Some(limit) = self.settings.rewind_limit_ms {
                bound = bound.max(through - limit / MINUTE_MS);
            }
            let first_covered = touched
                .iter()
                .filter(|w| w.service() == t.slo.service)
                .flat_map(|w| w.occurrences((bound - 1) * MINUTE_MS, through * MINUTE_MS))
                .map(|(start, _)| start.div_euclid(MINUTE_MS) + 1)
                .min();
            if let Some(first) = first_covered {
                let to = first.max(bound) - 1;
                if to < through {
                    let e = out.entry(t.slo.service.clone()).or_insert(to);
                    *e = (*e).min(to);
                }
            }
        }
        let mut out: Vec<(String, i64)> = out.into_iter().collect();
        out.sort();
        out
    }

    /// Applies a change, then reloads the windows and every SLO rolled back.
    fn apply(&mut self, change: MaintenanceChange) -> crate::Result<Vec<i64>> {
        let ids = self.repo.change_maintenance(&change)?;
        self.windows = None;
        self.windows()?;
        for (service, _) in &change.rewind {
            for i in 0..self.slos.len() {
                if &self.slos[i].slo.service == service {
                    if let Err(e) = self.reload(i) {
                        self.slos[i].error = Some(e.to_string());
                    }
                }
            }
        }
        Ok(ids)
    }
}
