//! Pages over SQLite: one row per page (its alerts as JSON), its
//! timeline in `page_event`, and each step's deliveries in the same
//! transaction as the page. The ack-link key is made once and kept in
//! `secret`.

use nines_alerting::repo::RepoResult;
use nines_oncall::page::{Page, PageAlert, PageEvent, PageRepository, PageStatus, Render};
use nines_routing::delivery::Delivery;
use rusqlite::{params, OptionalExtension};

use crate::{alert_repo_error, Store};

const PAGE_COLUMNS: &str = "id, policy, receiver, group_key, summary, alerts, status, level, round, next_at, \
                            created_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, updated_at";

/// A row before its JSON and status are read.
struct Row {
    page: Page,
    alerts: String,
    status: String,
}

impl Store {
    fn page_query(&self, tail: &str, arg: i64) -> crate::Result<Vec<Page>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(&format!("SELECT {PAGE_COLUMNS} FROM page {tail}"))
            .map_err(|e| self.sqlite(e))?;
        let rows = stmt
            .query_map([arg], |r| {
                Ok(Row {
                    page: Page {
                        id: r.get(0)?,
                        policy: r.get(1)?,
                        receiver: r.get(2)?,
                        group_key: r.get(3)?,
                        summary: r.get(4)?,
                        alerts: Vec::new(),
                        status: PageStatus::Triggered,
                        level: r.get::<_, i64>(7)?.try_into().unwrap_or(usize::MAX),
                        round: r.get(8)?,
                        next_at: r.get(9)?,
                        created_at: r.get(10)?,
                        acknowledged_at: r.get(11)?,
                        acknowledged_by: r.get(12)?,
                        resolved_at: r.get(13)?,
                        resolved_by: r.get(14)?,
                        updated_at: r.get(15)?,
                    },
                    alerts: r.get(5)?,
                    status: r.get(6)?,
                })
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|row| {
                let mut page = row.page;
                page.status = PageStatus::parse(&row.status)
                    .ok_or_else(|| self.corrupt("page.status", format!("unknown status {:?}", row.status)))?;
                page.alerts = serde_json::from_str::<Vec<PageAlert>>(&row.alerts)
                    .map_err(|e| self.corrupt("page.alerts", e.to_string()))?;
                Ok(page)
            })
            .collect()
    }

    fn save_page_inner(
        &self,
        page: &Page,
        events: &[PageEvent],
        render: &Render<'_>,
    ) -> crate::Result<(Page, Vec<Delivery>)> {
        let alerts = serde_json::to_string(&page.alerts).map_err(|e| self.corrupt("page.alerts", e.to_string()))?;
        let level = i64::try_from(page.level).unwrap_or(i64::MAX);
        let mut conn = self.conn.lock();
        let tx = conn.transaction().map_err(|e| self.sqlite(e))?;
        let mut saved = page.clone();
        let values = params![
            page.policy,
            page.receiver,
            page.group_key,
            page.summary,
            alerts,
            page.status.name(),
            level,
            page.round,
            page.next_at,
            page.created_at,
            page.acknowledged_at,
            page.acknowledged_by,
            page.resolved_at,
            page.resolved_by,
            page.updated_at,
        ];
        if page.id == 0 {
            tx.execute(
                "INSERT INTO page (policy, receiver, group_key, summary, alerts, status, level, round, next_at,
                 created_at, acknowledged_at, acknowledged_by, resolved_at, resolved_by, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                values,
            )
            .map_err(|e| self.sqlite(e))?;
            saved.id = tx.last_insert_rowid();
        } else {
            let mut with_id = values.to_vec();
            with_id.push(&page.id);
            tx.execute(
                "UPDATE page SET policy = ?1, receiver = ?2, group_key = ?3, summary = ?4, alerts = ?5, status = ?6,
                 level = ?7, round = ?8, next_at = ?9, created_at = ?10, acknowledged_at = ?11, acknowledged_by = ?12,
                 resolved_at = ?13, resolved_by = ?14, updated_at = ?15 WHERE id = ?16",
                with_id.as_slice(),
            )
            .map_err(|e| self.sqlite(e))?;
        }
        for e in events {
            let recipients = serde_json::to_string(&e.recipients)
                .map_err(|err| self.corrupt("page_event.recipients", err.to_string()))?;
            tx.execute(
                "INSERT INTO page_event (page_id, at, kind, detail, recipients) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![saved.id, e.at, e.kind, e.detail, recipients],
            )
            .map_err(|e| self.sqlite(e))?;
        }
        let deliveries = self.insert_deliveries(&tx, &render(&saved))?;
        tx.commit().map_err(|e| self.sqlite(e))?;
        Ok((saved, deliveries))
    }

    /// Events of pages with ids in `[first, last]`, by page then order.
    fn page_events_inner(&self, first: i64, last: i64) -> crate::Result<Vec<PageEvent>> {
        let conn = self.conn.lock();
        let mut stmt = conn
            .prepare(
                "SELECT page_id, at, kind, detail, recipients FROM page_event
                 WHERE page_id BETWEEN ?1 AND ?2 ORDER BY page_id, id",
            )
            .map_err(|e| self.sqlite(e))?;
        let rows: Vec<(PageEvent, String)> = stmt
            .query_map([first, last], |r| {
                Ok((
                    PageEvent {
                        page_id: r.get(0)?,
                        at: r.get(1)?,
                        kind: r.get(2)?,
                        detail: r.get(3)?,
                        recipients: Vec::new(),
                    },
                    r.get(4)?,
                ))
            })
            .map_err(|e| self.sqlite(e))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(|e| self.sqlite(e))?;
        rows.into_iter()
            .map(|(mut e, recipients)| {
                e.recipients = serde_json::from_str(&recipients)
                    .map_err(|err| self.corrupt("page_event.recipients", err.to_string()))?;
                Ok(e)
            })
            .collect()
    }

    fn page_history_inner(&self, from: i64, to: i64) -> crate::Result<Vec<(Page, Vec<PageEvent>)>> {
        let pages = {
            let mut all = self.page_query("WHERE created_at >= ?1 ORDER BY id", from)?;
            all.retain(|p| p.created_at < to);
            all
        };
        let (Some(first), Some(last)) = (pages.first().map(|p| p.id), pages.last().map(|p| p.id)) else {
            return Ok(Vec::new());
        };
        let mut events = self.page_events_inner(first, last)?.into_iter().peekable();
        let mut out = Vec::with_capacity(pages.len());
        for page in pages {
            let mut mine = Vec::new();
            while let Some(e) = events.next_if(|e| e.page_id <= page.id) {
                if e.page_id == page.id {
                    mine.push(e);
                }
            }
            out.push((page, mine));
        }
        Ok(out)
    }

    fn link_key_inner(&self) -> crate::Result<[u8; 32]> {
        let conn = self.conn.lock();
        let stored: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM secret WHERE name = 'link_key'", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.sqlite(e))?;
        if let Some(v) = stored {
            return v
                .try_into()
                .map_err(|_| self.corrupt("secret.link_key", "not 32 bytes".into()));
        }
        let mut key = [0u8; 32];
        getrandom::getrandom(&mut key).map_err(|e| self.corrupt("secret.link_key", format!("no randomness: {e}")))?;
        conn.execute("INSERT INTO secret (name, value) VALUES ('link_key', ?1)", [&key[..]])
            .map_err(|e| self.sqlite(e))?;
        Ok(key)
    }
}

impl PageRepository for Store {
    fn save_page(&self, page: &Page, events: &[PageEvent], render: &Render<'_>) -> RepoResult<(Page, Vec<Delivery>)> {
        self.save_page_inner(page, events, render).map_err(alert_repo_error)
    }

    fn open_pages(&self) -> RepoResult<Vec<Page>> {
        self.page_query("WHERE status != 'resolved' AND ?1 = ?1 ORDER BY id", 0)
            .map_err(alert_repo_error)
    }

    fn recent_pages(&self, limit: usize) -> RepoResult<Vec<Page>> {
        self.page_query("ORDER BY id DESC LIMIT ?1", i64::try_from(limit).unwrap_or(i64::MAX))
            .map_err(alert_repo_error)
    }

    fn page(&self, id: i64) -> RepoResult<Option<Page>> {
        Ok(self.page_query("WHERE id = ?1", id).map_err(alert_repo_error)?.pop())
    }

    fn page_events(&self, id: i64) -> RepoResult<Vec<PageEvent>> {
        self.page_events_inner(id, id).map_err(alert_repo_error)
    }

    fn page_history(&self, from: i64, to: i64) -> RepoResult<Vec<(Page, Vec<PageEvent>)>> {
        self.page_history_inner(from, to).map_err(alert_repo_error)
    }

    fn link_key(&self) -> RepoResult<[u8; 32]> {
        self.link_key_inner().map_err(alert_repo_error)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_keeps_the_page_contract() {
        let dir = tempfile::tempdir().expect("tempdir");
        nines_oncall::page::contract::run_all(&crate::Store::open_in(dir.path()).expect("open"));
    }
}
