//! The routing repositories over SQLite: silences, one row each, their
//! matchers kept as Alertmanager's text so a row reads like what was
//! asked for; the notification log and the deliveries, written together.

use nines_alerting::repo::RepoResult;
use std::collections::BTreeSet;

use nines_routing::delivery::{Delivery, DeliveryRepository, DeliveryStatus, NewDelivery, Queued};
use nines_routing::dispatch::LogEntry;
use nines_routing::matchers::{format_matchers, parse_matchers};
use nines_routing::silence::{Silence, SilenceRepository};
use rusqlite::params;

use crate::{alert_repo_error, Store};

type SilenceRow = (String, String, i64, i64, String, String, i64);

impl Store {
    fn silences_inner(&self, ended_since: i64) -> crate::Result<Vec<Silence>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT id, matchers, starts_at, ends_at, created_by, comment, updated_at FROM silence
                 WHERE ends_at >= ?1 ORDER BY starts_at, id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<SilenceRow> = stmt
            .query_map([ended_since], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|(id, matchers, starts_at, ends_at, created_by, comment, updated_at)| {
                let matchers =
                    parse_matchers(&matchers).map_err(|e| self.corrupt("silence.matchers", e.to_string()))?;
                Ok(Silence {
                    id,
                    matchers,
                    starts_at,
                    ends_at,
                    created_by,
                    comment,
                    updated_at,
                })
            })
            .collect()
    }
}

impl SilenceRepository for Store {
    fn put_silence(&self, s: &Silence) -> RepoResult<()> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT OR REPLACE INTO silence (id, matchers, starts_at, ends_at, created_by, comment, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                s.id,
                format_matchers(&s.matchers),
                s.starts_at,
                s.ends_at,
                s.created_by,
                s.comment,
                s.updated_at
            ],
        )
        .map(|_| ())
        .map_err(|e| alert_repo_error(self.sqlite(e)))
    }

    fn silences(&self, ended_since: i64) -> RepoResult<Vec<Silence>> {
        self.silences_inner(ended_since).map_err(alert_repo_error)
    }
}

const DELIVERY_COLUMNS: &str = "id, group_key, receiver, integration, target, payload, created_at, status, \
                                attempts, next_attempt_at, last_error, updated_at";

impl Store {
    fn delivery_query(&self, conn: &rusqlite::Connection, tail: &str, arg: i64) -> crate::Result<Vec<Delivery>> {
        let mut stmt = conn
            .prepare(&format!("SELECT {DELIVERY_COLUMNS} FROM delivery {tail}"))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([arg], |r| {
                Ok((
                    Delivery {
                        id: r.get(0)?,
                        request: NewDelivery {
                            group_key: r.get(1)?,
                            receiver: r.get(2)?,
                            integration: r.get(3)?,
                            target: r.get(4)?,
                            payload: r.get(5)?,
                            created_at: r.get(6)?,
                        },
                        status: DeliveryStatus::Pending,
                        attempts: r.get(8)?,
                        next_attempt_at: r.get(9)?,
                        last_error: r.get(10)?,
                        updated_at: r.get(11)?,
                    },
                    r.get::<_, String>(7)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|(mut d, status)| {
                d.status = DeliveryStatus::parse(&status)
                    .ok_or_else(|| self.corrupt("delivery.status", format!("unknown status {status:?}")))?;
                Ok(d)
            })
            .collect()
    }

    /// Stores `deliveries` as pending, due at their creation, inside the
    /// caller's transaction.
    pub(crate) fn insert_deliveries(
        &self,
        tx: &rusqlite::Transaction<'_>,
        deliveries: &[NewDelivery],
    ) -> crate::Result<Vec<Delivery>> {
        let mut out = Vec::with_capacity(deliveries.len());
        for d in deliveries {
            tx.execute(
                "INSERT INTO delivery (group_key, receiver, integration, target, payload, created_at, status, attempts,
                 next_attempt_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?6, ?6)",
                params![
                    d.group_key,
                    d.receiver,
                    d.integration,
                    d.target,
                    d.payload,
                    d.created_at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
            out.push(Delivery {
                id: tx.last_insert_rowid(),
                request: d.clone(),
                status: DeliveryStatus::Pending,
                attempts: 0,
                next_attempt_at: d.created_at,
                last_error: None,
                updated_at: d.created_at,
            });
        }
        Ok(out)
    }

    fn enqueue_inner(&self, batch: &[Queued]) -> crate::Result<Vec<Delivery>> {
        let set = |s: &BTreeSet<String>| serde_json::to_string(s).unwrap_or_else(|_| "[]".into());
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let mut out = Vec::new();
        for Queued { log, deliveries } in batch {
            tx.execute(
                "INSERT OR REPLACE INTO notify_log (group_key, receiver, firing, resolved, sent_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![log.group_key, log.receiver, set(&log.firing), set(&log.resolved), log.sent_at],
            )
            .map_err(|e| self.sqlite(e))?;
            out.extend(self.insert_deliveries(&tx, deliveries)?);
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(out)
    }

    fn notify_log_inner(&self) -> crate::Result<Vec<LogEntry>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare("SELECT group_key, receiver, firing, resolved, sent_at FROM notify_log")
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<(String, String, String, String, i64)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|(group_key, receiver, firing, resolved, sent_at)| {
                let set = |what: &'static str, text: &str| {
                    serde_json::from_str::<BTreeSet<String>>(text).map_err(|e| self.corrupt(what, e.to_string()))
                };
                Ok(LogEntry {
                    group_key,
                    receiver,
                    firing: set("notify_log.firing", &firing)?,
                    resolved: set("notify_log.resolved", &resolved)?,
                    sent_at,
                })
            })
            .collect()
    }
}

impl DeliveryRepository for Store {
    fn notify_log(&self) -> RepoResult<Vec<LogEntry>> {
        self.notify_log_inner().map_err(alert_repo_error)
    }

    fn enqueue(&self, batch: &[Queued]) -> RepoResult<Vec<Delivery>> {
        self.enqueue_inner(batch).map_err(alert_repo_error)
    }

    fn pending_deliveries(&self) -> RepoResult<Vec<Delivery>> {
        let conn = self.conn.lock();
        self.delivery_query(&conn, "WHERE status = 'pending' AND id > ?1 ORDER BY id", 0)
            .map_err(alert_repo_error)
    }

    fn update_delivery(&self, d: &Delivery) -> RepoResult<()> {
        let conn = self.conn.lock();
        conn.execute(
            "UPDATE delivery SET status = ?2, attempts = ?3, next_attempt_at = ?4, last_error = ?5, updated_at = ?6
             WHERE id = ?1",
            params![
                d.id,
                d.status.name(),
                d.attempts,
                d.next_attempt_at,
                d.last_error,
                d.updated_at
            ],
        )
        .map(|_| ())
        .map_err(|e| alert_repo_error(self.sqlite(e)))
    }

    fn recent_deliveries(&self, limit: usize) -> RepoResult<Vec<Delivery>> {
        let conn = self.conn.lock();
        self.delivery_query(
            &conn,
            "ORDER BY id DESC LIMIT ?1",
            i64::try_from(limit).unwrap_or(i64::MAX),
        )
        .map_err(alert_repo_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_delivery_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_routing::delivery::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }

    #[test]
    fn sqlite_keeps_the_silence_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_routing::silence::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }
}
