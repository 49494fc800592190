//! Incidents over SQLite: one row per incident (its whole state as JSON,
//! with state and severity in columns for filtering), saved in the same
//! transaction as the events that record the change.

use nines_alerting::repo::RepoResult;
use nines_learning::events::NewEvent;
use nines_learning::incident::{Incident, IncidentRepository};
use rusqlite::{params, OptionalExtension};

use crate::{alert_repo_error, Store};

impl Store {
    fn save_incident_inner(&self, incident: &Incident, events: &[NewEvent]) -> crate::Result<Incident> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let mut saved = incident.clone();
        let body = |i: &Incident| serde_json::to_string(i).map_err(|e| self.corrupt("incident.body", e.to_string()));
        if saved.id == 0 {
            tx.execute(
                "INSERT INTO incident (body, state, severity, declared_at, updated_at) VALUES ('{}', ?1, ?2, ?3, ?4)",
                params![
                    saved.state.name(),
                    saved.severity.name(),
                    saved.declared_at,
                    saved.updated_at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
            saved.id = tx.last_insert_rowid();
        }
        tx.execute(
            "UPDATE incident SET body = ?1, state = ?2, severity = ?3, updated_at = ?4 WHERE id = ?5",
            params![
                body(&saved)?,
                saved.state.name(),
                saved.severity.name(),
                saved.updated_at,
                saved.id
            ],
        )
        .map_err(|e| self.sqlite(e))?;
        let events: Vec<NewEvent> = events
            .iter()
            .map(|e| {
                let mut e = e.clone();
                e.payload["incident"] = serde_json::json!(saved.id);
                e
            })
            .collect();
        self.insert_events(&tx, &events)?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(saved)
    }

    fn incidents_newest_first(&self) -> crate::Result<Vec<Incident>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare_cached("SELECT body FROM incident ORDER BY id DESC")
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))?;
        rows.iter()
            .map(|b| serde_json::from_str(b).map_err(|e| self.corrupt("incident.body", e.to_string())))
            .collect()
    }

    fn incident_inner(&self, id: i64) -> crate::Result<Option<Incident>> {
        let conn = self.conn.lock();
        let body: Option<String> = conn
            .query_row("SELECT body FROM incident WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))?;
        body.map(|b| serde_json::from_str(&b).map_err(|e| self.corrupt("incident.body", e.to_string())))
            .transpose()
    }
}

impl IncidentRepository for Store {
    fn save_incident(&self, incident: &Incident, events: &[NewEvent]) -> RepoResult<Incident> {
        self.save_incident_inner(incident, events).map_err(alert_repo_error)
    }

    fn incident(&self, id: i64) -> RepoResult<Option<Incident>> {
        self.incident_inner(id).map_err(alert_repo_error)
    }

    fn incidents(&self) -> RepoResult<Vec<Incident>> {
        self.incidents_newest_first().map_err(alert_repo_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_incident_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::Store::open_in(dir.path()).expect("open");
        nines_learning::incident::contract::run_all(&store, &store);
    }
}
