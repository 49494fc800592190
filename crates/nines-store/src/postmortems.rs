//! Postmortems over SQLite: one row per incident's postmortem (its whole
//! body as JSON), saved in the same transaction as the events recording
//! the change.

use nines_alerting::repo::RepoResult;
use nines_learning::events::NewEvent;
use nines_learning::postmortem::{Postmortem, PostmortemRepository};
use rusqlite::{params, OptionalExtension};

use crate::{alert_repo_error, Store};

impl Store {
    fn save_postmortem_inner(&self, pm: &Postmortem, events: &[NewEvent]) -> crate::Result<()> {
        let body = serde_json::to_string(pm).map_err(|e| self.corrupt("postmortem.body", e.to_string()))?;
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        tx.execute(
            "INSERT INTO postmortem (incident_id, body, status, updated_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (incident_id) DO UPDATE SET body = ?2, status = ?3, updated_at = ?4",
            params![pm.incident, body, pm.status.name(), pm.updated_at],
        )
        .map_err(|e| self.sqlite(e))?;
        self.insert_events(&tx, events)?;
        tx.commit().map_err(|e| self.sqlite(e))
    }

    fn postmortem_bodies(&self, one: Option<i64>) -> crate::Result<Vec<Postmortem>> {
        let conn = self.conn.lock();
        let bodies: Vec<String> = match one {
            Some(id) => conn
                .query_row("SELECT body FROM postmortem WHERE incident_id = ?1", [id], |r| r.get(0))
                .optional()
                .map_err(|e| self.sqlite(e))?
                .into_iter()
                .collect(),
            None => {
                let mut stmt = conn
                    .prepare_cached("SELECT body FROM postmortem ORDER BY incident_id")
                    .map_err(|e| self.sqlite(e))?;
                let rows = stmt
                    .query_map([], |r| r.get(0))
                    .map_err(|e| self.sqlite(e))?
                    .collect::<rusqlite::Result<Vec<String>>>()
                    .map_err(|e| self.sqlite(e))?;
                rows
            }
        };
        bodies
            .iter()
            .map(|b| serde_json::from_str(b).map_err(|e| self.corrupt("postmortem.body", e.to_string())))
            .collect()
    }
}

impl PostmortemRepository for Store {
    fn save_postmortem(&self, pm: &Postmortem, events: &[NewEvent]) -> RepoResult<()> {
        self.save_postmortem_inner(pm, events).map_err(alert_repo_error)
    }

    fn postmortem(&self, incident: i64) -> RepoResult<Option<Postmortem>> {
        Ok(self.postmortem_bodies(Some(incident)).map_err(alert_repo_error)?.pop())
    }

    fn postmortems(&self) -> RepoResult<Vec<Postmortem>> {
        self.postmortem_bodies(None).map_err(alert_repo_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_postmortem_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_learning::postmortem::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }
}
