//! [`SloRepository`] over SQLite.

use nines_slo::maintenance::MaintenanceSpec;
use nines_slo::repo::{
    Cumulative, GroupLabels, MaintenanceChange, RepoResult, SloCommit, SloRepository, StoredGroup, StoredSlo,
    StoredWindow,
};
use rusqlite::{params, OptionalExtension};

use crate::{repo_error, Error, Store};

impl Store {
    fn slo_inner(&self, service: &str, name: &str, fingerprint: &str) -> crate::Result<StoredSlo> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let existing: Option<(i64, String, Option<i64>)> = tx
            .query_row(
                "SELECT id, fingerprint, evaluated_through FROM slo WHERE service = ?1 AND name = ?2",
                params![service, name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(|e| self.sqlite(e))?;
        let (id, through) = match existing {
            Some((id, fp, through)) if fp == fingerprint => (id, through),
            Some((id, _, _)) => {
                // Groups cascade to their rollups.
                tx.execute("DELETE FROM slo_group WHERE slo_id = ?1", [id])
                    .map_err(|e| self.sqlite(e))?;
                tx.execute(
                    "UPDATE slo SET fingerprint = ?2, evaluated_through = NULL WHERE id = ?1",
                    params![id, fingerprint],
                )
                .map_err(|e| self.sqlite(e))?;
                (id, None)
            }
            None => {
                tx.execute(
                    "INSERT INTO slo (service, name, fingerprint) VALUES (?1, ?2, ?3)",
                    params![service, name, fingerprint],
                )
                .map_err(|e| self.sqlite(e))?;
                (tx.last_insert_rowid(), None)
            }
        };
        let mut groups = Vec::new();
        {
            let mut stmt = tx
                .prepare("SELECT id, labels FROM slo_group WHERE slo_id = ?1 ORDER BY id")
                .map_err(|e| self.sqlite(e))?;
            let rows = stmt
                .query_map([id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                .map_err(|e| self.sqlite(e))?;
            for row in rows {
                let (gid, text) = row.map_err(|e| self.sqlite(e))?;
                let labels: GroupLabels = serde_json::from_str(&text).map_err(|e| Error::Corrupt {
                    path: self.path.clone(),
                    what: "slo_group.labels",
                    detail: e.to_string(),
                })?;
                groups.push(StoredGroup { id: gid, labels });
            }
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(StoredSlo {
            id,
            evaluated_through: through,
            groups,
        })
    }

    fn add_group_inner(&self, slo: i64, labels: &GroupLabels) -> crate::Result<i64> {
        let text = serde_json::to_string(labels).map_err(|e| Error::Corrupt {
            path: self.path.clone(),
            what: "slo_group.labels",
            detail: e.to_string(),
        })?;
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO slo_group (slo_id, labels) VALUES (?1, ?2) ON CONFLICT (slo_id, labels) DO NOTHING",
            params![slo, text],
        )
        .map_err(|e| self.sqlite(e))?;
        conn.query_row(
            "SELECT id FROM slo_group WHERE slo_id = ?1 AND labels = ?2",
            params![slo, text],
            |r| r.get(0),
        )
        .map_err(|e| self.sqlite(e))
    }

    fn commit_inner(&self, commits: &[SloCommit]) -> crate::Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        {
            let mut progress = tx
                .prepare_cached("UPDATE slo SET evaluated_through = ?2 WHERE id = ?1")
                .map_err(|e| self.sqlite(e))?;
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO slo_rollup \
                     (group_id, minute, total, bad, bad_slices, excluded, excluded_bad) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.sqlite(e))?;
            for c in commits {
                let updated = progress
                    .execute(params![c.slo, c.through])
                    .map_err(|e| self.sqlite(e))?;
                if updated == 0 {
                    // Dropping the transaction rolls everything back.
                    return Err(Error::Corrupt {
                        path: self.path.clone(),
                        what: "slo",
                        detail: format!("no SLO with id {}", c.slo),
                    });
                }
                for r in &c.rows {
                    insert
                        .execute(params![
                            r.group,
                            r.minute,
                            r.counts.total,
                            r.counts.bad,
                            i64::try_from(r.counts.bad_slices).unwrap_or(i64::MAX),
                            r.counts.excluded,
                            r.counts.excluded_bad
                        ])
                        .map_err(|e| self.sqlite(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.sqlite(e))
    }

    fn cumulative_inner(&self, group: i64, minute: i64) -> crate::Result<Cumulative> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached(
                "SELECT total, bad, bad_slices, excluded, excluded_bad FROM slo_rollup WHERE group_id = ?1 AND minute <= ?2 \
                 ORDER BY minute DESC LIMIT 1",
            )
            .map_err(|e| self.sqlite(e))?;
        let found = stmt
            .query_row(params![group, minute], |r| {
                Ok(Cumulative {
                    total: r.get(0)?,
                    bad: r.get(1)?,
                    bad_slices: u64::try_from(r.get::<_, i64>(2)?).unwrap_or(0),
                    excluded: r.get(3)?,
                    excluded_bad: r.get(4)?,
                })
            })
            .optional()
            .map_err(|e| self.sqlite(e))?;
        Ok(found.unwrap_or_default())
    }

    fn names_inner(&self) -> crate::Result<Vec<(String, String)>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT service, name FROM slo ORDER BY service, name")
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.sqlite(e))
    }
}

impl Store {
    fn windows_inner(&self) -> crate::Result<Vec<StoredWindow>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, source, spec, created_by, created_at, ended_at, ended_by, withdrawn \
                 FROM maintenance_window ORDER BY id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, bool>(7)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, source, spec, created_by, created_at_ms, ended_at_ms, ended_by, withdrawn) =
                row.map_err(|e| self.sqlite(e))?;
            let spec: MaintenanceSpec = serde_json::from_str(&spec).map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                what: "maintenance_window.spec",
                detail: e.to_string(),
            })?;
            out.push(StoredWindow {
                id,
                source,
                spec,
                created_by,
                created_at_ms,
                ended_at_ms,
                ended_by,
                withdrawn,
            });
        }
        Ok(out)
    }

    fn change_maintenance_inner(&self, change: &MaintenanceChange) -> crate::Result<Vec<i64>> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        for e in &change.end {
            let n = tx
                .execute(
                    "UPDATE maintenance_window SET ended_at = ?2, ended_by = ?3, withdrawn = ?4 WHERE id = ?1",
                    params![e.id, e.at_ms, e.by, e.withdrawn],
                )
                .map_err(|e| self.sqlite(e))?;
            if n == 0 {
                return Err(Error::NotFound(format!("no maintenance window with id {}", e.id)));
            }
        }
        let mut ids = Vec::new();
        for n in &change.add {
            let spec = serde_json::to_string(&n.spec).map_err(|e| Error::Corrupt {
                path: self.path.clone(),
                what: "maintenance_window.spec",
                detail: e.to_string(),
            })?;
            tx.execute(
                "INSERT INTO maintenance_window (service, source, spec, created_by, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![n.spec.service, n.source, spec, n.created_by, n.created_at_ms],
            )
            .map_err(|e| self.sqlite(e))?;
            ids.push(tx.last_insert_rowid());
        }
        for (service, minute) in &change.rewind {
            tx.execute(
                "DELETE FROM slo_rollup WHERE minute > ?2 AND group_id IN \
                 (SELECT g.id FROM slo_group g JOIN slo s ON s.id = g.slo_id WHERE s.service = ?1)",
                params![service, minute],
            )
            .map_err(|e| self.sqlite(e))?;
            tx.execute(
                "UPDATE slo SET evaluated_through = ?2 WHERE service = ?1 AND evaluated_through > ?2",
                params![service, minute],
            )
            .map_err(|e| self.sqlite(e))?;
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(ids)
    }
}

impl SloRepository for Store {
    fn maintenance_windows(&self) -> RepoResult<Vec<StoredWindow>> {
        self.windows_inner().map_err(repo_error)
    }

    fn change_maintenance(&self, change: &MaintenanceChange) -> RepoResult<Vec<i64>> {
        self.change_maintenance_inner(change).map_err(repo_error)
    }

    fn open_slo(&self, service: &str, name: &str, fingerprint: &str) -> RepoResult<StoredSlo> {
        self.slo_inner(service, name, fingerprint).map_err(repo_error)
    }

    fn add_group(&self, slo: i64, labels: &GroupLabels) -> RepoResult<i64> {
        self.add_group_inner(slo, labels).map_err(repo_error)
    }

    fn commit_rollups(&self, commits: &[SloCommit]) -> RepoResult<()> {
        self.commit_inner(commits).map_err(repo_error)
    }

    fn cumulative_at(&self, group: i64, minute: i64) -> RepoResult<Cumulative> {
        self.cumulative_inner(group, minute).map_err(repo_error)
    }

    fn slo_names(&self) -> RepoResult<Vec<(String, String)>> {
        self.names_inner().map_err(repo_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nines_slo::repo::RollupRow;

    #[test]
    fn sqlite_keeps_the_repository_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = std::sync::atomic::AtomicUsize::new(0);
        nines_slo::repo::contract::run_all(|| {
            let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            Store::open(&dir.path().join(format!("{i}.sqlite"))).expect("open")
        });
    }

    #[test]
    fn state_survives_reopening() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (slo, group) = {
            let s = Store::open_in(dir.path()).expect("open");
            let slo = s.open_slo("api", "avail", "fp").expect("slo");
            let g = s.add_group(slo.id, &GroupLabels::new()).expect("group");
            let counts = Cumulative {
                total: 10.0,
                bad: 1.0,
                ..Default::default()
            };
            s.commit_rollups(&[SloCommit {
                slo: slo.id,
                through: 42,
                rows: vec![RollupRow {
                    group: g,
                    minute: 42,
                    counts,
                }],
            }])
            .expect("commit");
            (slo.id, g)
        };
        let s = Store::open_in(dir.path()).expect("reopen");
        assert_eq!(s.schema_version().expect("version"), crate::SCHEMA_VERSION);
        let again = s.open_slo("api", "avail", "fp").expect("slo");
        assert_eq!((again.id, again.evaluated_through), (slo, Some(42)));
        assert_eq!(s.cumulative_at(group, 100).expect("at").total, 10.0);
    }
}
