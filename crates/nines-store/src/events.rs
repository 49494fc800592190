//! The event log over SQLite: one row per event, appended in batches of
//! one transaction; read by time through the index that fits the query
//! (service, kind, or time alone).

use nines_alerting::repo::RepoResult;
use nines_learning::events::{Event, EventLog, EventQuery, NewEvent};
use rusqlite::params;
use rusqlite::types::Value as SqlValue;

use crate::{alert_repo_error, Store};

impl Store {
    /// Appends `events` inside the caller's transaction.
    pub(crate) fn insert_events(&self, tx: &rusqlite::Transaction<'_>, events: &[NewEvent]) -> crate::Result<Vec<i64>> {
        let mut ids = Vec::with_capacity(events.len());
        let mut stmt = tx
            .prepare_cached("INSERT INTO event (at, kind, service, actor, payload) VALUES (?1, ?2, ?3, ?4, ?5)")
            .map_err(|e| self.sqlite(e))?;
        for e in events {
            stmt.execute(params![e.at, e.kind, e.service, e.actor, e.payload.to_string()])
                .map_err(|e| self.sqlite(e))?;
            ids.push(tx.last_insert_rowid());
        }
        Ok(ids)
    }

    fn commit_events(&self, events: &[NewEvent]) -> crate::Result<Vec<i64>> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let ids = self.insert_events(&tx, events)?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(ids)
    }

    fn events_inner(&self, q: &EventQuery) -> crate::Result<Vec<Event>> {
        let mut clauses = Vec::new();
        let mut args: Vec<SqlValue> = Vec::new();
        if let Some(s) = &q.service {
            args.push(SqlValue::Text(s.clone()));
            clauses.push(format!("service = ?{}", args.len()));
        }
        if !q.kinds.is_empty() {
            let mut any = Vec::new();
            for k in &q.kinds {
                match k.strip_suffix('.') {
                    Some(prefix) => {
                        // `page.` is every kind from "page." up to "page/"
                        // ('/' follows '.'), which the kind index serves.
                        args.push(SqlValue::Text(format!("{prefix}.")));
                        args.push(SqlValue::Text(format!("{prefix}/")));
                        any.push(format!("(kind >= ?{} AND kind < ?{})", args.len() - 1, args.len()));
                    }
                    None => {
                        args.push(SqlValue::Text(k.clone()));
                        any.push(format!("kind = ?{}", args.len()));
                    }
                }
            }
            clauses.push(format!("({})", any.join(" OR ")));
        }
        for (bound, op) in [(q.from, ">="), (q.to, "<")] {
            if let Some(t) = bound {
                args.push(SqlValue::Integer(t));
                clauses.push(format!("at {op} ?{}", args.len()));
            }
        }
        if let Some(a) = q.after {
            args.push(SqlValue::Integer(a));
            clauses.push(format!("id > ?{}", args.len()));
        }
        if !q.ids.is_empty() {
            let mut any = Vec::new();
            for id in &q.ids {
                args.push(SqlValue::Integer(*id));
                any.push(format!("?{}", args.len()));
            }
            clauses.push(format!("id IN ({})", any.join(", ")));
        }
        args.push(SqlValue::Integer(i64::try_from(q.limit).unwrap_or(i64::MAX)));
        let filter = if clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", clauses.join(" AND "))
        };
        let sql = format!(
            "SELECT id, at, kind, service, actor, payload FROM event {filter} ORDER BY at, id LIMIT ?{}",
            args.len()
        );
        let conn = self.conn.lock();
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(args.iter()), |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|(id, at, kind, service, actor, payload)| {
                let payload =
                    serde_json::from_str(&payload).map_err(|e| self.corrupt("event.payload", e.to_string()))?;
                Ok(Event {
                    id,
                    event: NewEvent {
                        at,
                        kind,
                        service,
                        actor,
                        payload,
                    },
                })
            })
            .collect()
    }
}

impl EventLog for Store {
    fn append(&self, events: &[NewEvent]) -> RepoResult<Vec<i64>> {
        self.appends
            .append(events.to_vec(), |batch| {
                self.commit_events(batch).map_err(|e| e.to_string())
            })
            .map_err(nines_alerting::repo::RepoError)
    }

    fn events(&self, query: &EventQuery) -> RepoResult<Vec<Event>> {
        self.events_inner(query).map_err(alert_repo_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_event_log_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_learning::events::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }
}
