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
}

impl Cumulative {
    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &Cumulative) -> Cumulative {
        Cumulative {
            total: (self.total - earlier.total).max(0.0),
            bad: (self.bad - earlier.bad).max(0.0),
            bad_slices: self.bad_slices.saturating_sub(earlier.bad_slices),
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
            counts: Cumulative { total, bad, bad_slices },
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
    }
}
