//! Relational state for nines: one SQLite file in the data directory,
//! its schema brought up to date by versioned migrations when opened, and
//! the repositories the domain crates define implemented over it.
//!
//! Every write is one transaction committed with `synchronous=FULL` in WAL
//! mode: when a call returns, the change is on disk and survives a crash
//! or a `kill -9`.

use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use rusqlite::Connection;

mod alerting;
mod events;
mod gate;
mod group_commit;
mod incidents;
mod migrate;
mod oncall;
mod postmortems;
mod routing;
mod slo;

pub use migrate::{MIGRATIONS, SCHEMA_VERSION};

/// What can go wrong with the state store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// SQLite refused or failed.
    #[error("{path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// The file was written by a newer nines.
    #[error(
        "{path}: schema version {found} is newer than this nines knows ({known}); upgrade nines or restore a backup"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest this build knows.
        known: i64,
    },
    /// A change named a row that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Stored data that cannot be read back.
    #[error("{path}: corrupt value in {what}: {detail}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// Where.
        what: &'static str,
        /// Why.
        detail: String,
    },
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A store failure as the domain crates' repositories report it.
pub(crate) fn repo_error(e: Error) -> nines_slo::repo::RepoError {
    nines_slo::repo::RepoError(e.to_string())
}

/// A store failure as the alerting repositories report it.
pub(crate) fn alert_repo_error(e: Error) -> nines_alerting::repo::RepoError {
    nines_alerting::repo::RepoError(e.to_string())
}

/// The state store: one SQLite connection, shared behind a lock (SQLite
/// serialises writers anyway, and the calls are short).
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
    appends: group_commit::GroupCommit,
}

/// The file name inside the data directory.
pub const FILE_NAME: &str = "state.sqlite";

impl Store {
    /// Opens (or creates) `state.sqlite` in `dir` and migrates it.
    pub fn open_in(dir: &Path) -> Result<Self> {
        Self::open(&dir.join(FILE_NAME))
    }

    /// Opens (or creates) the database at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Self> {
        let path = path.to_path_buf();
        let sqlite = |source| Error::Sqlite {
            path: path.clone(),
            source,
        };
        let mut conn = Connection::open(&path).map_err(sqlite)?;
        // WAL keeps readers off the writer's back; FULL fsyncs the WAL on
        // every commit, which is what "durable before acknowledged" needs.
        conn.pragma_update(None, "journal_mode", "WAL").map_err(sqlite)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(sqlite)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(sqlite)?;
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(sqlite)?;
        migrate::run(&mut conn, &path)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path,
            appends: group_commit::GroupCommit::default(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version the file is at.
    pub fn schema_version(&self) -> Result<i64> {
        migrate::current_version(&self.conn.lock(), &self.path)
    }

    fn sqlite(&self, source: rusqlite::Error) -> Error {
        Error::Sqlite {
            path: self.path.clone(),
            source,
        }
    }
}
