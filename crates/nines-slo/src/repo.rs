//! What SLO evaluation keeps between runs, behind a trait so the embedded
//! SQLite store and a future PostgreSQL store are two implementations of
//! one contract (see [`contract`], the suite both must pass).
//!
//! Rollups are cumulative: the row of minute `k` holds every event from
//! the SLO's first evaluated minute through the end of minute `k`. Any
//! window is then the difference of two rows, so a 30-day window costs two
//! indexed lookups instead of a sum over 43,200 minutes, and a row is only
//! written for minutes in which something changed.

use std::collections::BTreeMap;

use crate::maintenance::MaintenanceSpec;

/// A failure of the state store, worded by the implementation.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("state store: {0}")]
pub struct RepoError(pub String);

/// Results of repository calls.
pub type RepoResult<T> = std::result::Result<T, RepoError>;

/// Label values that pick one instance of a grouped SLO (`{}` when the
/// SLO has no `group_by`).
pub type GroupLabels = BTreeMap<String, String>;

/// Events counted from an SLO's first evaluated minute through the end of
/// some minute.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Cumulative {
    /// All events.
    pub total: f64,
    /// Bad events.
    pub bad: f64,
    /// Completed timeslices that were bad (timeslice SLOs only).
    pub bad_slices: u64,
    /// Events left out because a maintenance window covered them.
    pub excluded: f64,
    /// Of those, the bad ones.
    pub excluded_bad: f64,
}

impl Cumulative {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Cumulative) -> Cumulative {
        Cumulative {
            total: (self.total - earlier.total).max(0.0),
            bad: (self.bad - earlier.bad).max(0.0),
            bad_slices: self.bad_slices.saturating_sub(earlier.bad_slices),
            excluded: (self.excluded - earlier.excluded).max(0.0),
            excluded_bad: (self.excluded_bad - earlier.excluded_bad).max(0.0),
        }
    }
}

/// One SLO instance (a group) as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGroup {
    /// The store's id.
    pub id: i64,
    /// Its label values.
    pub labels: GroupLabels,
}

/// What the store holds about one SLO.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSlo {
    /// The store's id.
    pub id: i64,
    /// The last minute whose events are in the rollups (`None`: none yet).
    pub evaluated_through: Option<i64>,
    /// The instances seen so far.
    pub groups: Vec<StoredGroup>,
}

/// One rollup row: a group's cumulative counts at the end of a minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RollupRow {
    /// The group's id.
    pub group: i64,
    /// Minute index: the row covers events up to `minute × 60 s`.
    pub minute: i64,
    /// The counts.
    pub counts: Cumulative,
}

/// One SLO's share of a commit: its new rows and how far it is evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct SloCommit {
    /// The SLO's id.
    pub slo: i64,
    /// Its last evaluated minute after this commit.
    pub through: i64,
    /// New rows.
    pub rows: Vec<RollupRow>,
}

/// A maintenance window as stored, with its audit trail.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StoredWindow {
    /// The store's id.
    pub id: i64,
    /// `config` (kept in step with the config) or `api`.
    pub source: String,
    /// The window as written.
    pub spec: MaintenanceSpec,
    /// Who recorded it.
    pub created_by: String,
    /// When (ms).
    pub created_at_ms: i64,
    /// When it was ended early (ms): nothing after counts as maintenance.
    pub ended_at_ms: Option<i64>,
    /// Who ended or withdrew it.
    pub ended_by: Option<String>,
    /// Withdrawn: it never counted (its events are back in the budget).
    pub withdrawn: bool,
}

/// A window to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewWindow {
    /// `config` or `api`.
    pub source: String,
    /// The window as written.
    pub spec: MaintenanceSpec,
    /// Who records it.
    pub created_by: String,
    /// When (ms).
    pub created_at_ms: i64,
}

/// Ending (or withdrawing) a recorded window.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEnd {
    /// The window.
    pub id: i64,
    /// From when it no longer counts (ms).
    pub at_ms: i64,
    /// Who.
    pub by: String,
    /// Withdrawn altogether rather than ended at `at_ms`.
    pub withdrawn: bool,
}

/// One change to the maintenance windows, applied all or nothing with the
/// rollups it invalidates: the rollups of every SLO of `service` after
/// `minute` are removed and its evaluation moved back to `minute`, so the
/// evaluator counts those minutes again under the new windows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MaintenanceChange {
    /// Windows to record.
    pub add: Vec<NewWindow>,
    /// Windows to end or withdraw.
    pub end: Vec<WindowEnd>,
    /// `(service, minute)` to roll back to.
    pub rewind: Vec<(String, i64)>,
}

/// The state SLO evaluation keeps.
pub trait SloRepository: Send + Sync {
    /// The SLO `service/name`, created when new. `fingerprint` names what
    /// decides its events (the SLI, the grouping, the slices): when it
    /// differs from the stored one, the old rollups no longer describe the
    /// SLO and are removed, and evaluation starts over.
    fn open_slo(&self, service: &str, name: &str, fingerprint: &str) -> RepoResult<StoredSlo>;

    /// The id of a new instance of `slo`.
    fn add_group(&self, slo: i64, labels: &GroupLabels) -> RepoResult<i64>;

    /// Stores every commit's rows and moves each SLO's evaluated minute to
    /// its `through` (in order), all or nothing, durably before returning.
    /// One call per evaluation cycle: one disk sync for all SLOs.
    fn commit_rollups(&self, commits: &[SloCommit]) -> RepoResult<()>;

    /// `group`'s counts at the end of `minute`: the newest row at or
    /// before it, zero when there is none.
    fn cumulative_at(&self, group: i64, minute: i64) -> RepoResult<Cumulative>;

    /// The SLOs stored, as `(service, name)`.
    fn slo_names(&self) -> RepoResult<Vec<(String, String)>>;

    /// Every maintenance window recorded, ended and withdrawn ones too,
    /// oldest first.
    fn maintenance_windows(&self) -> RepoResult<Vec<StoredWindow>>;

    /// Applies `change` in one durable transaction; the ids of the added
    /// windows, in order. Ending an unknown window fails the whole change.
    fn change_maintenance(&self, change: &MaintenanceChange) -> RepoResult<Vec<i64>>;
}

/// A repository in memory, for tests and for running without a data
/// directory. Nothing survives the process.
#[derive(Debug, Default)]
pub struct MemRepository {
    inner: std::sync::Mutex<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    slos: BTreeMap<(String, String), (i64, String, Option<i64>)>,
    groups: BTreeMap<i64, (i64, GroupLabels)>,
    rollups: BTreeMap<(i64, i64), Cumulative>,
    windows: Vec<StoredWindow>,
    overrides: Vec<crate::gate::Override>,
    next_id: i64,
}

impl MemRepository {
    fn lock(&self) -> RepoResult<std::sync::MutexGuard<'_, MemInner>> {
        self.inner
            .lock()
            .map_err(|_| RepoError("a thread panicked while holding the state".into()))
    }
}

impl SloRepository for MemRepository {
    fn open_slo(&self, service: &str, name: &str, fingerprint: &str) -> RepoResult<StoredSlo> {
        let mut st = self.lock()?;
        let key = (service.to_string(), name.to_string());
        let existing = st.slos.get(&key).cloned();
        let (id, through) = match existing {
            Some((id, fp, through)) if fp == fingerprint => (id, through),
            Some((id, _, _)) => {
                let gone: Vec<i64> = st
                    .groups
                    .iter()
                    .filter(|(_, (s, _))| *s == id)
                    .map(|(g, _)| *g)
                    .collect();
                for g in gone {
                    st.groups.remove(&g);
                    st.rollups.retain(|(group, _), _| *group != g);
                }
                st.slos.insert(key, (id, fingerprint.to_string(), None));
                (id, None)
            }
            None => {
                st.next_id += 1;
                let id = st.next_id;
                st.slos.insert(key, (id, fingerprint.to_string(), None));
                (id, None)
            }
        };
        let groups = st
            .groups
            .iter()
            .filter(|(_, (s, _))| *s == id)
            .map(|(g, (_, labels))| StoredGroup {
                id: *g,
                labels: labels.clone(),
            })
            .collect();
        Ok(StoredSlo {
            id,
            evaluated_through: through,
            groups,
        })
    }

    fn add_group(&self, slo: i64, labels: &GroupLabels) -> RepoResult<i64> {
        let mut st = self.lock()?;
        if let Some((id, _)) = st.groups.iter().find(|(_, (s, l))| *s == slo && l == labels) {
            return Ok(*id);
        }
        st.next_id += 1;
        let id = st.next_id;
        st.groups.insert(id, (slo, labels.clone()));
        Ok(id)
    }

    fn commit_rollups(&self, commits: &[SloCommit]) -> RepoResult<()> {
        let mut st = self.lock()?;
        for c in commits {
            if !st.slos.values().any(|(id, _, _)| *id == c.slo) {
                return Err(RepoError(format!("no SLO with id {}", c.slo)));
            }
        }
        for c in commits {
            if let Some(entry) = st.slos.values_mut().find(|(id, _, _)| *id == c.slo) {
                entry.2 = Some(c.through);
            }
            for r in &c.rows {
                st.rollups.insert((r.group, r.minute), r.counts);
            }
        }
        Ok(())
    }

    fn cumulative_at(&self, group: i64, minute: i64) -> RepoResult<Cumulative> {
        let st = self.lock()?;
        Ok(st
            .rollups
            .range((group, i64::MIN)..=(group, minute))
            .next_back()
            .map(|(_, c)| *c)
            .unwrap_or_default())
    }

    fn slo_names(&self) -> RepoResult<Vec<(String, String)>> {
        Ok(self.lock()?.slos.keys().cloned().collect())
    }

    fn maintenance_windows(&self) -> RepoResult<Vec<StoredWindow>> {
        Ok(self.lock()?.windows.clone())
    }

    fn change_maintenance(&self, change: &MaintenanceChange) -> RepoResult<Vec<i64>> {
        let mut st = self.lock()?;
        if let Some(e) = change.end.iter().find(|e| !st.windows.iter().any(|w| w.id == e.id)) {
            return Err(RepoError(format!("no maintenance window with id {}", e.id)));
        }
        for e in &change.end {
            if let Some(w) = st.windows.iter_mut().find(|w| w.id == e.id) {
                w.ended_at_ms = Some(e.at_ms);
                w.ended_by = Some(e.by.clone());
                w.withdrawn = e.withdrawn;
            }
        }
        let mut ids = Vec::new();
        for n in &change.add {
            st.next_id += 1;
            let id = st.next_id;
            ids.push(id);
            st.windows.push(StoredWindow {
                id,
                source: n.source.clone(),
                spec: n.spec.clone(),
                created_by: n.created_by.clone(),
                created_at_ms: n.created_at_ms,
                ended_at_ms: None,
                ended_by: None,
                withdrawn: false,
            });
        }
        for (service, minute) in &change.rewind {
            let slos: Vec<i64> = st
                .slos
                .iter()
                .filter(|((s, _), _)| s == service)
                .map(|(_, (id, _, _))| *id)
                .collect();
            for slo in slos {
                let groups: Vec<i64> = st
                    .groups
                    .iter()
                    .filter(|(_, (s, _))| *s == slo)
                    .map(|(g, _)| *g)
                    .collect();
                st.rollups.retain(|(g, m), _| !(groups.contains(g) && m > minute));
                if let Some(entry) = st.slos.values_mut().find(|(id, _, _)| *id == slo) {
                    entry.2 = entry.2.map(|t| t.min(*minute));
                }
            }
        }
        Ok(ids)
    }
}

impl crate::gate::GateRepository for MemRepository {
    fn add_override(&self, o: &crate::gate::NewOverride) -> RepoResult<i64> {
        let mut st = self.lock()?;
        st.next_id += 1;
        let id = st.next_id;
        st.overrides.push(crate::gate::Override {
            id,
            service: o.service.clone(),
            reason: o.reason.clone(),
            created_by: o.created_by.clone(),
            created_at_ms: o.created_at_ms,
            until_ms: o.until_ms,
            revoked_at_ms: None,
            revoked_by: None,
        });
        Ok(id)
    }

    fn overrides(&self) -> RepoResult<Vec<crate::gate::Override>> {
        Ok(self.lock()?.overrides.clone())
    }

    fn revoke_override(&self, id: i64, by: &str, at_ms: i64) -> RepoResult<bool> {
        let mut st = self.lock()?;
        let Some(o) = st.overrides.iter_mut().find(|o| o.id == id) else {
            return Ok(false);
        };
        if o.revoked_at_ms.is_none() {
            o.revoked_at_ms = Some(at_ms);
            o.revoked_by = Some(by.to_string());
        }
        Ok(true)
    }
}

/// The contract every [`SloRepository`] keeps, as one suite each
/// implementation runs against itself.
#[doc(hidden)]
pub mod contract {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> GroupLabels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn row(group: i64, minute: i64, total: f64, bad: f64, bad_slices: u64) -> RollupRow {
        RollupRow {
            group,
            minute,
            counts: Cumulative {
                total,
                bad,
                bad_slices,
                ..Default::default()
            },
        }
    }

    fn commit(slo: i64, through: i64, rows: Vec<RollupRow>) -> SloCommit {
        SloCommit { slo, through, rows }
    }

    /// Runs every check on fresh repositories from `fresh`.
    pub fn run_all<R: SloRepository>(fresh: impl Fn() -> R) {
        a_new_slo_starts_empty(&fresh());
        rollups_answer_the_newest_row_at_or_before(&fresh());
        reopening_keeps_state_and_a_new_fingerprint_clears_it(&fresh());
        groups_are_per_slo_and_reused(&fresh());
        maintenance_windows_are_recorded_ended_and_rewind_rollups(&fresh());
    }

    fn window(service: &str) -> NewWindow {
        NewWindow {
            source: "api".into(),
            spec: MaintenanceSpec {
                service: service.into(),
                name: None,
                reason: "db upgrade".into(),
                start: Some("2026-12-01T02:00:00Z".into()),
                end: None,
                duration: Some("30m".into()),
                recurring: None,
            },
            created_by: "alice".into(),
            created_at_ms: 1_000,
        }
    }

    fn maintenance_windows_are_recorded_ended_and_rewind_rollups(r: &impl SloRepository) {
        let s = r.open_slo("api", "availability", "fp1").expect("open");
        let other = r.open_slo("web", "availability", "fp1").expect("open");
        let g = r.add_group(s.id, &labels(&[])).expect("group");
        let og = r.add_group(other.id, &labels(&[])).expect("group");
        r.commit_rollups(&[
            commit(s.id, 30, vec![row(g, 10, 1.0, 0.0, 0), row(g, 20, 2.0, 0.0, 0)]),
            commit(other.id, 30, vec![row(og, 20, 5.0, 0.0, 0)]),
        ])
        .expect("commit");
        let ids = r
            .change_maintenance(&MaintenanceChange {
                add: vec![window("api"), window("web")],
                end: vec![],
                rewind: vec![("api".into(), 15)],
            })
            .expect("add");
        assert_eq!(ids.len(), 2);
        let all = r.maintenance_windows().expect("list");
        assert_eq!(all.iter().map(|w| w.id).collect::<Vec<_>>(), ids);
        assert_eq!(all[0].spec, window("api").spec);
        assert_eq!((all[0].created_by.as_str(), all[0].ended_at_ms), ("alice", None));
        assert_eq!(r.cumulative_at(g, 30).expect("at").total, 1.0, "rows after 15 are gone");
        assert_eq!(
            r.open_slo("api", "availability", "fp1")
                .expect("open")
                .evaluated_through,
            Some(15)
        );
        assert_eq!(
            r.cumulative_at(og, 30).expect("at").total,
            5.0,
            "other services untouched"
        );
        assert_eq!(
            r.open_slo("web", "availability", "fp1")
                .expect("open")
                .evaluated_through,
            Some(30)
        );

        let refused = r.change_maintenance(&MaintenanceChange {
            add: vec![window("api")],
            end: vec![WindowEnd {
                id: ids[1] + 100,
                at_ms: 5,
                by: "bob".into(),
                withdrawn: false,
            }],
            rewind: vec![("web".into(), 0)],
        });
        assert!(refused.is_err(), "an unknown window is an error");
        assert_eq!(r.maintenance_windows().expect("list").len(), 2, "and nothing was added");
        assert_eq!(
            r.open_slo("web", "availability", "fp1")
                .expect("open")
                .evaluated_through,
            Some(30)
        );

        r.change_maintenance(&MaintenanceChange {
            add: vec![],
            end: vec![WindowEnd {
                id: ids[1],
                at_ms: 7_000,
                by: "bob".into(),
                withdrawn: true,
            }],
            rewind: vec![],
        })
        .expect("end");
        let w = &r.maintenance_windows().expect("list")[1];
        assert_eq!(
            (w.ended_at_ms, w.ended_by.as_deref(), w.withdrawn),
            (Some(7_000), Some("bob"), true)
        );
    }

    fn a_new_slo_starts_empty(r: &impl SloRepository) {
        let s = r.open_slo("api", "availability", "fp1").expect("open");
        assert_eq!(s.evaluated_through, None);
        assert!(s.groups.is_empty());
        assert_eq!(
            r.slo_names().expect("names"),
            vec![("api".into(), "availability".into())]
        );
    }

    fn rollups_answer_the_newest_row_at_or_before(r: &impl SloRepository) {
        let s = r.open_slo("api", "availability", "fp1").expect("open");
        let g = r.add_group(s.id, &labels(&[])).expect("group");
        r.commit_rollups(&[commit(s.id, 10, vec![row(g, 3, 5.0, 1.0, 0), row(g, 7, 9.5, 2.0, 1)])])
            .expect("commit");
        assert_eq!(r.cumulative_at(g, 2).expect("at"), Cumulative::default());
        assert_eq!(r.cumulative_at(g, 3).expect("at").total, 5.0);
        assert_eq!(r.cumulative_at(g, 6).expect("at").bad, 1.0);
        let last = r.cumulative_at(g, 1_000_000).expect("at");
        assert_eq!((last.total, last.bad, last.bad_slices), (9.5, 2.0, 1));
        assert_eq!(
            r.cumulative_at(g + 1000, 7).expect("unknown group"),
            Cumulative::default()
        );
        assert_eq!(
            r.open_slo("api", "availability", "fp1")
                .expect("open")
                .evaluated_through,
            Some(10)
        );
        r.commit_rollups(&[commit(s.id, 11, vec![])]).expect("commit nothing");
        assert_eq!(
            r.open_slo("api", "availability", "fp1")
                .expect("open")
                .evaluated_through,
            Some(11)
        );
        let other = r.open_slo("api", "latency", "fp1").expect("open");
        let g2 = r.add_group(other.id, &labels(&[])).expect("group");
        assert!(
            r.commit_rollups(&[
                commit(other.id, 20, vec![row(g2, 20, 1.0, 0.0, 0)]),
                commit(s.id + 1000, 11, vec![])
            ])
            .is_err(),
            "an unknown SLO is an error"
        );
        assert_eq!(
            r.cumulative_at(g2, 20).expect("at"),
            Cumulative::default(),
            "a failed commit leaves nothing behind"
        );
        assert_eq!(
            r.open_slo("api", "latency", "fp1").expect("open").evaluated_through,
            None
        );
    }

    fn reopening_keeps_state_and_a_new_fingerprint_clears_it(r: &impl SloRepository) {
        let s = r.open_slo("web", "latency", "fp1").expect("open");
        let g = r.add_group(s.id, &labels(&[("route", "/a")])).expect("group");
        r.commit_rollups(&[commit(s.id, 5, vec![row(g, 5, 1.0, 0.0, 0)])])
            .expect("commit");
        let again = r.open_slo("web", "latency", "fp1").expect("reopen");
        assert_eq!(again.id, s.id);
        assert_eq!(again.evaluated_through, Some(5));
        assert_eq!(again.groups.len(), 1);
        assert_eq!(again.groups[0].labels, labels(&[("route", "/a")]));
        let changed = r.open_slo("web", "latency", "fp2").expect("changed");
        assert_eq!(changed.evaluated_through, None);
        assert!(changed.groups.is_empty());
        assert_eq!(r.cumulative_at(g, 5).expect("at"), Cumulative::default());
    }

    fn groups_are_per_slo_and_reused(r: &impl SloRepository) {
        let a = r.open_slo("svc", "a", "x").expect("open");
        let b = r.open_slo("svc", "b", "x").expect("open");
        let l = labels(&[("route", "/")]);
        let ga = r.add_group(a.id, &l).expect("group");
        assert_eq!(r.add_group(a.id, &l).expect("same group"), ga);
        let gb = r.add_group(b.id, &l).expect("group");
        assert_ne!(ga, gb);
        r.commit_rollups(&[commit(a.id, 1, vec![row(ga, 1, 3.0, 0.0, 0)])])
            .expect("commit");
        assert_eq!(r.cumulative_at(gb, 1).expect("at"), Cumulative::default());
    }

    #[cfg(test)]
    #[test]
    fn memory_repository_keeps_the_contract() {
        run_all(MemRepository::default);
        crate::gate::contract::run_all(MemRepository::default());
    }
}
