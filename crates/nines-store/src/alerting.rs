//! The alerting repositories over SQLite: rule alerts (one row per
//! alert, a group replaced in one transaction), inbound alerts and
//! heartbeats.

use std::collections::{BTreeMap, HashMap};

use nines_alerting::alert::{Alert, AlertState};
use nines_alerting::heartbeat::{HeartbeatRecord, HeartbeatRepository};
use nines_alerting::inbound::{merge, InboundAlert, InboundChange, InboundRepository, InboundStatus, Source};
use nines_alerting::repo::{AlertRepository, RepoResult, StoredAlert};
use rusqlite::params;

use crate::{alert_repo_error, Error, Store};

fn state_name(s: AlertState) -> &'static str {
    s.name()
}

fn parse_state(s: &str) -> Option<AlertState> {
    match s {
        "pending" => Some(AlertState::Pending),
        "firing" => Some(AlertState::Firing),
        "inactive" => Some(AlertState::Inactive),
        _ => None,
    }
}

type Row = (
    String,
    String,
    String,
    String,
    String,
    Option<f64>,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

impl Store {
    pub(crate) fn corrupt(&self, what: &'static str, detail: String) -> Error {
        Error::Corrupt {
            path: self.path.clone(),
            what,
            detail,
        }
    }

    fn rule_alerts_inner(&self) -> crate::Result<Vec<StoredAlert>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT group_key, rule, labels, annotations, state, value, active_at, fired_at, resolved_at, \
                 keep_firing_since FROM rule_alert ORDER BY group_key, rule, labels",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<Row> = stmt
            .query_map([], |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                    r.get(8)?,
                    r.get(9)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))?;
        drop(stmt);
        drop(conn);
        rows.into_iter()
            .map(
                |(group, rule, labels, annotations, state, value, active_at, fired_at, resolved_at, keep)| {
                    let labels: BTreeMap<String, String> =
                        serde_json::from_str(&labels).map_err(|e| self.corrupt("rule_alert.labels", e.to_string()))?;
                    let annotations: BTreeMap<String, String> = serde_json::from_str(&annotations)
                        .map_err(|e| self.corrupt("rule_alert.annotations", e.to_string()))?;
                    let state = parse_state(&state)
                        .ok_or_else(|| self.corrupt("rule_alert.state", format!("unknown state {state:?}")))?;
                    Ok(StoredAlert {
                        group,
                        rule,
                        alert: Alert {
                            labels,
                            annotations,
                            state,
                            // SQLite keeps NaN as NULL.
                            value: value.unwrap_or(f64::NAN),
                            active_at,
                            fired_at,
                            resolved_at,
                            keep_firing_since: keep,
                        },
                    })
                },
            )
            .collect()
    }

    fn replace_group_alerts_inner(&self, group: &str, alerts: &[(String, Alert)]) -> crate::Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        tx.execute("DELETE FROM rule_alert WHERE group_key = ?1", [group])
            .map_err(|e| self.sqlite(e))?;
        {
            let mut insert = tx
                .prepare(
                    "INSERT OR REPLACE INTO rule_alert (group_key, rule, labels, annotations, state, value, active_at, \
                     fired_at, resolved_at, keep_firing_since) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| self.sqlite(e))?;
            for (rule, a) in alerts {
                let labels = serde_json::to_string(&a.labels).map_err(|e| self.corrupt("labels", e.to_string()))?;
                let annotations =
                    serde_json::to_string(&a.annotations).map_err(|e| self.corrupt("annotations", e.to_string()))?;
                insert
                    .execute(params![
                        group,
                        rule,
                        labels,
                        annotations,
                        state_name(a.state),
                        (!a.value.is_nan()).then_some(a.value),
                        a.active_at,
                        a.fired_at,
                        a.resolved_at,
                        a.keep_firing_since
                    ])
                    .map_err(|e| self.sqlite(e))?;
            }
        }
        tx.commit().map_err(|e| self.sqlite(e))
    }

    fn retain_groups_inner(&self, groups: &[String]) -> crate::Result<()> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let stored: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT DISTINCT group_key FROM rule_alert")
                .map_err(|e| self.sqlite(e))?;
            let keys = stmt
                .query_map([], |r| r.get(0))
                .map_err(|e| self.sqlite(e))?
                .collect::<rusqlite::Result<_>>()
                .map_err(|e| self.sqlite(e))?;
            keys
        };
        for key in stored.iter().filter(|k| !groups.contains(k)) {
            tx.execute("DELETE FROM rule_alert WHERE group_key = ?1", [key])
                .map_err(|e| self.sqlite(e))?;
        }
        tx.commit().map_err(|e| self.sqlite(e))
    }
}

impl AlertRepository for Store {
    fn rule_alerts(&self) -> RepoResult<Vec<StoredAlert>> {
        self.rule_alerts_inner().map_err(alert_repo_error)
    }

    fn replace_group_alerts(&self, group: &str, alerts: &[(String, Alert)]) -> RepoResult<()> {
        self.replace_group_alerts_inner(group, alerts).map_err(alert_repo_error)
    }

    fn retain_groups(&self, groups: &[String]) -> RepoResult<()> {
        self.retain_groups_inner(groups).map_err(alert_repo_error)
    }
}

type InboundRow = (String, String, String, String, String, i64, Option<i64>, i64);

const INBOUND_COLUMNS: &str = "source, key, labels, annotations, status, starts_at, ends_at, updated_at";

impl Store {
    fn inbound_from_row(&self, row: InboundRow) -> crate::Result<InboundAlert> {
        let (source, key, labels, annotations, status, starts_at, ends_at, updated_at) = row;
        Ok(InboundAlert {
            source: Source::parse(&source)
                .ok_or_else(|| self.corrupt("inbound_alert.source", format!("unknown source {source:?}")))?,
            key,
            labels: serde_json::from_str(&labels).map_err(|e| self.corrupt("inbound_alert.labels", e.to_string()))?,
            annotations: serde_json::from_str(&annotations)
                .map_err(|e| self.corrupt("inbound_alert.annotations", e.to_string()))?,
            status: InboundStatus::parse(&status)
                .ok_or_else(|| self.corrupt("inbound_alert.status", format!("unknown status {status:?}")))?,
            starts_at,
            ends_at,
            updated_at,
        })
    }

    fn inbound_query(
        &self,
        conn: &rusqlite::Connection,
        filter: &str,
        args: impl rusqlite::Params,
    ) -> crate::Result<Vec<InboundAlert>> {
        let mut stmt = conn
            .prepare(&format!("SELECT {INBOUND_COLUMNS} FROM inbound_alert WHERE {filter}"))
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<InboundRow> = stmt
            .query_map(args, |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<_>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter().map(|r| self.inbound_from_row(r)).collect()
    }

    fn apply_inbound_inner(&self, changes: &[InboundChange]) -> crate::Result<Vec<InboundAlert>> {
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            let (source, key) = change.target();
            let existing = self
                .inbound_query(&tx, "source = ?1 AND key = ?2", params![source.name(), key])?
                .pop();
            let Some(a) = merge(existing.as_ref(), change) else {
                continue;
            };
            let labels = serde_json::to_string(&a.labels).map_err(|e| self.corrupt("labels", e.to_string()))?;
            let annotations =
                serde_json::to_string(&a.annotations).map_err(|e| self.corrupt("annotations", e.to_string()))?;
            tx.execute(
                &format!(
                    "INSERT OR REPLACE INTO inbound_alert ({INBOUND_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                ),
                params![
                    a.source.name(),
                    a.key,
                    labels,
                    annotations,
                    a.status.name(),
                    a.starts_at,
                    a.ends_at,
                    a.updated_at
                ],
            )
            .map_err(|e| self.sqlite(e))?;
            out.push(a);
        }
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok(out)
    }
}

impl InboundRepository for Store {
    fn apply_inbound(&self, changes: &[InboundChange]) -> RepoResult<Vec<InboundAlert>> {
        self.apply_inbound_inner(changes).map_err(alert_repo_error)
    }

    fn inbound_alerts(&self, resolved_since: i64) -> RepoResult<Vec<InboundAlert>> {
        let conn = self.conn.lock();
        self.inbound_query(
            &conn,
            "status != 'resolved' OR ends_at >= ?1 ORDER BY starts_at, source, key",
            [resolved_since],
        )
        .map_err(alert_repo_error)
    }
}

impl HeartbeatRepository for Store {
    fn watch(&self, names: &[String], now: i64) -> RepoResult<HashMap<String, HeartbeatRecord>> {
        let run = || -> crate::Result<HashMap<String, HeartbeatRecord>> {
            let mut conn = self.conn.lock();
            let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
            let mut out = HashMap::with_capacity(names.len());
            for name in names {
                tx.execute(
                    "INSERT OR IGNORE INTO heartbeat (name, watched_since) VALUES (?1, ?2)",
                    params![name, now],
                )
                .map_err(|e| self.sqlite(e))?;
                let record = tx
                    .query_row(
                        "SELECT watched_since, last_beat FROM heartbeat WHERE name = ?1",
                        [name],
                        |r| {
                            Ok(HeartbeatRecord {
                                watched_since: r.get(0)?,
                                last_beat: r.get(1)?,
                            })
                        },
                    )
                    .map_err(|e| self.sqlite(e))?;
                out.insert(name.clone(), record);
            }
            tx.commit().map_err(|e| self.sqlite(e))?;
            Ok(out)
        };
        run().map_err(alert_repo_error)
    }

    fn beat(&self, name: &str, at: i64) -> RepoResult<()> {
        let conn = self.conn.lock();
        conn.execute(
            "INSERT INTO heartbeat (name, watched_since, last_beat) VALUES (?1, ?2, ?2)
             ON CONFLICT (name) DO UPDATE SET last_beat = MAX(COALESCE(last_beat, ?2), ?2)",
            params![name, at],
        )
        .map(|_| ())
        .map_err(|e| alert_repo_error(self.sqlite(e)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_inbound_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_alerting::inbound::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }

    #[test]
    fn sqlite_keeps_the_heartbeat_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_alerting::heartbeat::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }

    #[test]
    fn sqlite_keeps_the_alert_contract() {
        let dirs = parking_lot::Mutex::new(Vec::new());
        nines_alerting::repo::contract::run_all(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = crate::Store::open_in(dir.path()).expect("open");
            dirs.lock().push(dir);
            store
        });
    }
}
