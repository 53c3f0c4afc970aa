//! What can go wrong with a database call or with opening the file.

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// A database call or the open-time check failed.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The queue was slow and this request waited more than twice `queue_target`.
    #[error("connection not available and request was dropped from queue after {waited_ms} ms")]
    Dropped { waited_ms: u64 },
    /// `queue: false` and every connection was checked out.
    #[error("connection not available and queuing is disabled")]
    Unavailable,
    /// The call took longer than the pool's `timeout` (queue and query together).
    #[error("the database call timed out")]
    Timeout,
    /// The connection process running the request exited (killed, or its thread failed).
    #[error("the database connection exited while it held the request")]
    ConnectionDied,
    /// The pool process exited while the request was queued.
    #[error("the database pool exited while the request was queued")]
    PoolExited,
    /// No pool process is registered under the pool's name.
    #[error("no database pool is running")]
    NoPool,
    /// The file is damaged (or is not a database at all).
    #[error("the database file {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// Another connection or program holds a lock on the file; nothing was changed.
    #[error("the database file {path} is locked by another connection or program ({detail})")]
    Locked { path: PathBuf, detail: String },
    /// The file was written by a newer version of this program.
    #[error(
        "the database file {path} has schema version {found}; this program knows up to {known}"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: i64,
    },
    /// The pool's processes could not be started.
    #[error("the database pool could not start: {0}")]
    Start(String),
    /// `Pool::reconfigure` was given a setting out of range.
    #[error("invalid pool setting: {0}")]
    Setting(String),
    /// `kill_connection` named a connection that is not running.
    #[error("no running connection {0} in the pool")]
    NoConnection(usize),
    /// The closure given to `run` panicked; the connection lives on.
    #[error("the database closure panicked: {0}")]
    Panicked(String),
    /// A file operation (creating the directory, moving a corrupt file aside) failed.
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Any other SQLite error.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

impl DbError {
    /// Classifies a SQLite error about the file at `path`: busy/locked and corrupt get their
    /// own variants, the rest stays a SQLite error.
    pub(crate) fn from_sqlite(e: rusqlite::Error, path: &Path) -> DbError {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => DbError::Locked {
                path: path.to_path_buf(),
                detail: e.to_string(),
            },
            Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => DbError::Corrupt {
                path: path.to_path_buf(),
                detail: e.to_string(),
            },
            _ => DbError::Sqlite(e),
        }
    }

    /// The same error again, for answering every request of a failed group commit.
    pub(crate) fn duplicate(&self) -> DbError {
        match self {
            DbError::Dropped { waited_ms } => DbError::Dropped {
                waited_ms: *waited_ms,
            },
            DbError::Unavailable => DbError::Unavailable,
            DbError::Timeout => DbError::Timeout,
            DbError::ConnectionDied => DbError::ConnectionDied,
            DbError::PoolExited => DbError::PoolExited,
            DbError::NoPool => DbError::NoPool,
            DbError::Corrupt { path, detail } => DbError::Corrupt {
                path: path.clone(),
                detail: detail.clone(),
            },
            DbError::Locked { path, detail } => DbError::Locked {
                path: path.clone(),
                detail: detail.clone(),
            },
            DbError::TooNew { path, found, known } => DbError::TooNew {
                path: path.clone(),
                found: *found,
                known: *known,
            },
            DbError::Start(s) => DbError::Start(s.clone()),
            DbError::Setting(s) => DbError::Setting(s.clone()),
            DbError::NoConnection(i) => DbError::NoConnection(*i),
            DbError::Panicked(s) => DbError::Panicked(s.clone()),
            DbError::Io { what, path, source } => DbError::Io {
                what,
                path: path.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            DbError::Sqlite(e) => DbError::Sqlite(match e {
                rusqlite::Error::SqliteFailure(code, msg) => {
                    rusqlite::Error::SqliteFailure(*code, msg.clone())
                }
                other => rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                    Some(other.to_string()),
                ),
            }),
        }
    }
}
