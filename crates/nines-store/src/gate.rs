//! [`GateRepository`] over SQLite: release-gate overrides and their audit
//! trail.

use nines_slo::gate::{GateRepository, NewOverride, Override};
use nines_slo::repo::RepoResult;
use rusqlite::params;

use crate::{repo_error, Store};

impl Store {
    fn add_override_inner(&self, o: &NewOverride) -> crate::Result<i64> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO gate_override (service, reason, created_by, created_at, until) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![o.service, o.reason, o.created_by, o.created_at_ms, o.until_ms],
        )
        .map_err(|e| self.sqlite(e))?;
        Ok(conn.last_insert_rowid())
    }

    fn overrides_inner(&self) -> crate::Result<Vec<Override>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, service, reason, created_by, created_at, until, revoked_at, revoked_by \
                 FROM gate_override ORDER BY id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Override {
                    id: r.get(0)?,
                    service: r.get(1)?,
                    reason: r.get(2)?,
                    created_by: r.get(3)?,
                    created_at_ms: r.get(4)?,
                    until_ms: r.get(5)?,
                    revoked_at_ms: r.get(6)?,
                    revoked_by: r.get(7)?,
                })
            })
            .map_err(|e| self.sqlite(e))?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(|e| self.sqlite(e))
    }

    fn revoke_inner(&self, id: i64, by: &str, at_ms: i64) -> crate::Result<bool> {
        let conn = self.conn.lock();
        conn.execute(
            "UPDATE gate_override SET revoked_at = ?2, revoked_by = ?3 WHERE id = ?1 AND revoked_at IS NULL",
            params![id, at_ms, by],
        )
        .map_err(|e| self.sqlite(e))?;
        let exists: i64 = conn
            .query_row("SELECT COUNT(*) FROM gate_override WHERE id = ?1", [id], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?;
        Ok(exists > 0)
    }
}

impl GateRepository for Store {
    fn add_override(&self, o: &NewOverride) -> RepoResult<i64> {
        self.add_override_inner(o).map_err(repo_error)
    }

    fn overrides(&self) -> RepoResult<Vec<Override>> {
        self.overrides_inner().map_err(repo_error)
    }

    fn revoke_override(&self, id: i64, by: &str, at_ms: i64) -> RepoResult<bool> {
        self.revoke_inner(id, by, at_ms).map_err(repo_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_gate_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_slo::gate::contract::run_all(crate::Store::open_in(dir.path()).expect("open"));
    }
}
