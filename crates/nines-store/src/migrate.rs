//! Versioned schema migrations, applied in order when the store opens.
//! A migration, once released, never changes: a new one is appended.

use std::path::Path;

use rusqlite::{params, Connection};

use crate::{Error, Result};

/// One schema step.
pub struct Migration {
    /// Its version: position in [`MIGRATIONS`], from 1.
    pub version: i64,
    /// What it is for.
    pub name: &'static str,
    /// The SQL, run in one transaction with the version bump.
    pub sql: &'static str,
}

/// Every migration, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "slo rollups",
        sql: "
        CREATE TABLE slo (
            id INTEGER PRIMARY KEY,
            service TEXT NOT NULL,
            name TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            evaluated_through INTEGER,
            UNIQUE (service, name)
        );
        CREATE TABLE slo_group (
            id INTEGER PRIMARY KEY,
            slo_id INTEGER NOT NULL REFERENCES slo (id) ON DELETE CASCADE,
            labels TEXT NOT NULL,
            UNIQUE (slo_id, labels)
        );
        CREATE TABLE slo_rollup (
            group_id INTEGER NOT NULL REFERENCES slo_group (id) ON DELETE CASCADE,
            minute INTEGER NOT NULL,
            total REAL NOT NULL,
            bad REAL NOT NULL,
            bad_slices INTEGER NOT NULL,
            PRIMARY KEY (group_id, minute)
        ) WITHOUT ROWID;
    ",
    },
    Migration {
        version: 2,
        name: "maintenance windows and gate overrides",
        sql: "
        ALTER TABLE slo_rollup ADD COLUMN excluded REAL NOT NULL DEFAULT 0;
        ALTER TABLE slo_rollup ADD COLUMN excluded_bad REAL NOT NULL DEFAULT 0;
        CREATE TABLE maintenance_window (
            id INTEGER PRIMARY KEY,
            service TEXT NOT NULL,
            source TEXT NOT NULL,
            spec TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            ended_at INTEGER,
            ended_by TEXT,
            withdrawn INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX maintenance_window_service ON maintenance_window (service);
        CREATE TABLE gate_override (
            id INTEGER PRIMARY KEY,
            service TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            until INTEGER NOT NULL,
            revoked_at INTEGER,
            revoked_by TEXT
        );
    ",
    },
    Migration {
        version: 3,
        name: "rule alerts",
        sql: "
        CREATE TABLE rule_alert (
            group_key TEXT NOT NULL,
            rule TEXT NOT NULL,
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            state TEXT NOT NULL,
            value REAL,
            active_at INTEGER NOT NULL,
            fired_at INTEGER,
            resolved_at INTEGER,
            keep_firing_since INTEGER,
            PRIMARY KEY (group_key, rule, labels)
        ) WITHOUT ROWID;
    ",
    },
    Migration {
        version: 4,
        name: "inbound alerts",
        sql: "
        CREATE TABLE inbound_alert (
            source TEXT NOT NULL,
            key TEXT NOT NULL,
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            status TEXT NOT NULL,
            starts_at INTEGER NOT NULL,
            ends_at INTEGER,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (source, key)
        ) WITHOUT ROWID;
        CREATE INDEX inbound_alert_open ON inbound_alert (status, ends_at);
    ",
    },
    Migration {
        version: 5,
        name: "heartbeats",
        sql: "
        CREATE TABLE heartbeat (
            name TEXT PRIMARY KEY,
            watched_since INTEGER NOT NULL,
            last_beat INTEGER
        ) WITHOUT ROWID;
    ",
    },
    Migration {
        version: 6,
        name: "silences",
        sql: "
        CREATE TABLE silence (
            id TEXT PRIMARY KEY,
            matchers TEXT NOT NULL,
            starts_at INTEGER NOT NULL,
            ends_at INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            comment TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX silence_ends ON silence (ends_at);
    ",
    },
    Migration {
        version: 7,
        name: "notification log and deliveries",
        sql: "
        CREATE TABLE notify_log (
            group_key TEXT NOT NULL,
            receiver TEXT NOT NULL,
            firing TEXT NOT NULL,
            resolved TEXT NOT NULL,
            sent_at INTEGER NOT NULL,
            PRIMARY KEY (group_key, receiver)
        ) WITHOUT ROWID;
        CREATE TABLE delivery (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            group_key TEXT NOT NULL,
            receiver TEXT NOT NULL,
            integration TEXT NOT NULL,
            target TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at INTEGER NOT NULL,
            last_error TEXT,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX delivery_pending ON delivery (status, next_attempt_at);
    ",
    },
    Migration {
        version: 8,
        name: "pages, their timelines, and the link key",
        sql: "
        CREATE TABLE page (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            policy TEXT NOT NULL,
            receiver TEXT NOT NULL,
            group_key TEXT NOT NULL,
            summary TEXT NOT NULL,
            alerts TEXT NOT NULL,
            status TEXT NOT NULL,
            level INTEGER NOT NULL,
            round INTEGER NOT NULL,
            next_at INTEGER,
            created_at INTEGER NOT NULL,
            acknowledged_at INTEGER,
            acknowledged_by TEXT,
            resolved_at INTEGER,
            resolved_by TEXT,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX page_open ON page (status) WHERE status != 'resolved';
        CREATE TABLE page_event (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            page_id INTEGER NOT NULL REFERENCES page (id),
            at INTEGER NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            recipients TEXT NOT NULL
        );
        CREATE INDEX page_event_page ON page_event (page_id, id);
        CREATE INDEX page_created ON page (created_at);
        CREATE TABLE secret (
            name TEXT PRIMARY KEY,
            value BLOB NOT NULL
        ) WITHOUT ROWID;
    ",
    },
    Migration {
        version: 9,
        name: "the event log",
        sql: "
        CREATE TABLE event (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            kind TEXT NOT NULL,
            service TEXT,
            actor TEXT,
            payload TEXT NOT NULL
        );
        CREATE INDEX event_at ON event (at, id);
        CREATE INDEX event_service_at ON event (service, at, id);
        CREATE INDEX event_kind_at ON event (kind, at, id);
    ",
    },
    Migration {
        version: 10,
        name: "incidents",
        sql: "
        CREATE TABLE incident (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            body TEXT NOT NULL,
            state TEXT NOT NULL,
            severity TEXT NOT NULL,
            declared_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
    ",
    },
    Migration {
        version: 11,
        name: "postmortems",
        sql: "
        CREATE TABLE postmortem (
            incident_id INTEGER PRIMARY KEY,
            body TEXT NOT NULL,
            status TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        );
    ",
    },
    Migration {
        version: 12,
        name: "events by service and kind",
        // DORA reads one service's deploys, the timeline one service's
        // alerts and pages: with service and kind both fixed, this index
        // reads only those rows instead of every event of the kind or
        // every event of the service.
        sql: "
        CREATE INDEX event_service_kind_at ON event (service, kind, at, id);
    ",
    },
];

/// The version a fully migrated store is at.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn current_version(conn: &Connection, path: &Path) -> Result<i64> {
    conn.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| {
        r.get(0)
    })
    .map_err(|source| Error::Sqlite {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn run(conn: &mut Connection, path: &Path) -> Result<()> {
    let sqlite = |source| Error::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
            version INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            applied_at_ms INTEGER NOT NULL
        )",
    )
    .map_err(sqlite)?;
    let found = current_version(conn, path)?;
    if found > SCHEMA_VERSION {
        return Err(Error::TooNew {
            path: path.to_path_buf(),
            found,
            known: SCHEMA_VERSION,
        });
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        let tx = conn.transaction().map_err(sqlite)?;
        tx.execute_batch(m.sql).map_err(sqlite)?;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, now_ms],
        )
        .map_err(sqlite)?;
        tx.commit().map_err(sqlite)?;
        tracing::info!(version = m.version, name = m.name, "state store migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
    }

    #[test]
    fn migrating_twice_is_a_no_op_and_a_newer_file_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sqlite");
        let mut conn = Connection::open(&path).expect("open");
        run(&mut conn, &path).expect("first");
        run(&mut conn, &path).expect("second");
        assert_eq!(current_version(&conn, &path).expect("version"), SCHEMA_VERSION);
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at_ms) VALUES (?1, 'future', 0)",
            [SCHEMA_VERSION + 1],
        )
        .expect("insert");
        let err = run(&mut conn, &path).expect_err("newer");
        assert!(err.to_string().contains("newer than this nines knows"), "{err}");
    }

    #[test]
    fn a_version_one_file_keeps_its_rollups_when_migrated() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.sqlite");
        {
            let conn = Connection::open(&path).expect("open");
            conn.execute_batch(
                "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, \
                 applied_at_ms INTEGER NOT NULL); \
                 INSERT INTO schema_migrations VALUES (1, 'slo rollups', 0);",
            )
            .expect("v1 bookkeeping");
            conn.execute_batch(MIGRATIONS[0].sql).expect("v1 schema");
            conn.execute_batch(
                "INSERT INTO slo (id, service, name, fingerprint, evaluated_through) VALUES (1, 'api', 'a', 'fp', 9); \
                 INSERT INTO slo_group (id, slo_id, labels) VALUES (1, 1, '{}'); \
                 INSERT INTO slo_rollup VALUES (1, 9, 100.0, 3.0, 0);",
            )
            .expect("v1 rows");
        }
        let store = crate::Store::open(&path).expect("migrated");
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION);
        use nines_slo::repo::SloRepository;
        let c = store.cumulative_at(1, 10).expect("at");
        assert_eq!((c.total, c.bad, c.excluded), (100.0, 3.0, 0.0));
        assert!(store.maintenance_windows().expect("windows").is_empty());
    }
}
