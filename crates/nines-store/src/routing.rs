//! The routing repositories over SQLite: silences, one row each, their
//! matchers kept as Alertmanager's text so a row reads like what was
//! asked for.

use nines_alerting::repo::RepoResult;
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

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_silence_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_routing::silence::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }
}
